Feature: Ranking proposals against the strategy
  As the PMO, we rank the proposals that pass intake by how well they serve the strategy,
  so the portfolio board sees the best candidates first and knows why each scored as it did.

  Background:
    Given today is 2026-12-01
    And proposals
      | id | title     | sponsor | alignment                                     | category   | budget | benefit | risk | complexity | cash_flows                          |
      | A  | Storm app | Ann     | grid-resilience:strong                        | efficiency | 200000 | 800000  | 2    | 2          | -200000;100000;150000;200000        |
      | B  | Portal    | Bo      | customer-experience:moderate                  | growth     | 600000 | 1500000 | 3    | 2          | -600000;200000;300000;300000        |
      | C  | Nothing   | Cy      | net-zero:none                                 | growth     | 100000 | 300000  | 2    |            |                                     |
      | D  | Solar     | Di      | net-zero:extreme;operational-efficiency:low   | innovation | 300000 | 700000  | 4    |            | -300000;50000;80000;100000;120000   |
      | E  | Bad       |         | growth-hacking:strong                         |            | 1      |         |      |            |                                     |

  Scenario: Proposals that pass intake are ranked by score, best first
    When they are ranked
    Then the ranking is "A, B, D"
    And "A" is ranked 1
    And the score of "A" is 70.22

  Scenario: Nothing is silently dropped
    When they are ranked
    Then "C" is not ranked, as it is rejected
    And "E" is not ranked, as it is an error row

  Scenario: The breakdown explains the score
    When they are ranked
    Then "A" gets 15.64 from "strategic-alignment"
    And "A" gets 11.25 from "delivery-risk"
    And "D" gets 3.75 from "delivery-risk"

  Scenario: Alignment is the weighted sum of how strongly each objective is served
    When they are ranked
    Then the alignment of "A" is 0.2234
    And the alignment of "D" is 0.1972
