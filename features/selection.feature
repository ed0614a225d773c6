Feature: Choosing the portfolio to fund
  As the portfolio board, we fund the set of projects worth most within the budget,
  keeping prerequisites, exclusions, forced decisions and our balance rules.

  Scenario: The most valuable set that fits the budget, not the top of the list
    Given candidate projects
      | id | cost | value |
      | A  | 60   | 10    |
      | B  | 50   | 7     |
      | C  | 50   | 7     |
    And a budget of 100
    When the portfolio is selected
    Then the selection is "B, C"

  Scenario: A project comes with its prerequisites
    Given candidate projects
      | id | cost | value | depends_on |
      | A  | 40   | 10    | B          |
      | B  | 40   | 1     |            |
      | C  | 50   | 9     |            |
    And a budget of 90
    When the portfolio is selected
    Then the selection is "A, B"

  Scenario: Projects that exclude each other are never chosen together
    Given candidate projects
      | id         | cost | value | excludes |
      | DATACENTRE | 50   | 10    | CLOUD    |
      | CLOUD      | 40   | 9     |          |
    And a budget of 100
    When the portfolio is selected
    Then the selection is "DATACENTRE"

  Scenario: Forced decisions are respected
    Given candidate projects
      | id | cost | value | force |
      | A  | 50   | 1     | in    |
      | B  | 50   | 10    | out   |
      | C  | 50   | 5     |       |
    And a budget of 100
    When the portfolio is selected
    Then the selection is "A, C"

  Scenario: A balance rule changes the choice
    Given candidate projects
      | id | cost | value | category   |
      | G1 | 50   | 50    | growth     |
      | G2 | 45   | 49    | growth     |
      | C1 | 40   | 5     | compliance |
    And a budget of 100
    And at least 30% of the cost goes to category "compliance"
    When the portfolio is selected
    Then the selection is "G1, C1"

  Scenario: An impossible plan is explained, not just refused
    Given candidate projects
      | id | cost | value | force |
      | A  | 80   | 1     | in    |
      | B  | 70   | 1     | in    |
    And a budget of 100
    When the portfolio is selected
    Then no selection is possible, because "the forced-in projects (A, B) need 150 in total against a budget of 100"
