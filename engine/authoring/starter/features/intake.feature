Feature: Our intake policy
  Each scenario is one proposal and what the policy must decide for it. Run them with
    pmo test features --policies policies
  A scenario fails if the decision differs in any way its steps imply: "sent to review by rule X"
  also means nothing rejected it. `pmo test features --policies policies --coverage` lists the rules
  no scenario reaches.

  Background:
    Given today is 2026-12-01

  Scenario: A small, sponsored, strategic proposal is accepted
    Given a proposal
      | field      | value                  |
      | id         | T-1                    |
      | title      | Invoice automation     |
      | sponsor    | Ana Costa              |
      | alignment  | reduce-cost:strong     |
      | category   | efficiency             |
      | budget     | 80000                  |
      | benefit    | 200000                 |
      | start_date | 2027-02-01             |
      | end_date   | 2027-06-30             |
      | risk       | 2                      |
    When it is evaluated
    Then it is accepted

  Scenario: A mid-sized proposal goes to the Portfolio Board
    Given a proposal
      | field      | value                  |
      | id         | T-2                    |
      | title      | Billing portal         |
      | sponsor    | Ana Costa              |
      | alignment  | grow-revenue:strong    |
      | category   | growth                 |
      | budget     | 450000                 |
      | benefit    | 1300000                |
      | start_date | 2027-03-01             |
      | end_date   | 2027-11-30             |
      | risk       | 3                      |
    When it is evaluated
    Then it is sent to review by rule "route-portfolio-board"
    And it is routed to "Portfolio Board"

  Scenario: A large proposal without a sponsor is rejected
    Given a proposal
      | field      | value                  |
      | id         | T-3                    |
      | title      | Scanner refresh        |
      | alignment  | reduce-cost:moderate   |
      | category   | efficiency             |
      | budget     | 180000                 |
      | benefit    | 210000                 |
    When it is evaluated
    Then it is rejected by rule "sponsor-required"

  Scenario: Work that serves no objective is rejected, unless it is compliance work
    Given a proposal
      | field      | value                  |
      | id         | T-4                    |
      | title      | Plant watering app     |
      | sponsor    | Sam Lee                |
      | category   | efficiency             |
      | alignment  | reduce-cost:none       |
      | budget     | 40000                  |
      | benefit    | 55000                  |
    When it is evaluated
    Then it is rejected by rule "no-strategic-fit"

  Scenario: A proposal that names no objective at all is rejected too
    Given a proposal
      | field      | value                  |
      | id         | T-4b                   |
      | title      | Plant watering app     |
      | sponsor    | Sam Lee                |
      | category   | efficiency             |
      | budget     | 40000                  |
      | benefit    | 55000                  |
    When it is evaluated
    Then it is rejected by rule "no-strategic-fit"

  Scenario: Compliance work needs no strategic objective
    Given a proposal
      | field      | value                  |
      | id         | T-4c                   |
      | title      | Regulatory reporting   |
      | sponsor    | Jon Berg               |
      | category   | compliance             |
      | budget     | 95000                  |
      | benefit    | 120000                 |
    When it is evaluated
    Then it is accepted

  Scenario: Above a million, the sponsor must be an executive
    Given a proposal
      | field         | value               |
      | id            | T-7                 |
      | title         | Customer platform   |
      | sponsor       | Mia Wong            |
      | sponsor_level | director            |
      | alignment     | grow-revenue:strong |
      | category      | growth              |
      | budget        | 2400000             |
      | benefit       | 6000000             |
      | risk          | 3                   |
    When it is evaluated
    Then it is sent to review by rule "executive-sponsor"
    And it is routed to "Executive Committee"

  Scenario: High risk goes to the Risk Committee, and a long project is flagged
    Given a proposal
      | field      | value                  |
      | id         | T-5                    |
      | title      | Data platform          |
      | sponsor    | Mia Wong               |
      | alignment  | grow-revenue:strong    |
      | category   | growth                 |
      | budget     | 90000                  |
      | benefit    | 400000                 |
      | start_date | 2027-04-01             |
      | end_date   | 2028-12-31             |
      | risk       | 5                      |
    When it is evaluated
    Then it is sent to review by rule "high-risk-review"
    And it is routed to "Risk Committee"
    And rule "long-project" flags it

  Scenario: Personal data without a privacy assessment, and a benefit below the cost
    Given a proposal
      | field         | value               |
      | id            | T-6                 |
      | title         | Customer profiles   |
      | sponsor       | Mia Wong            |
      | alignment     | grow-revenue:low    |
      | category      | growth              |
      | budget        | 60000               |
      | benefit       | 30000               |
      | personal_data | true                |
    When it is evaluated
    Then it is rejected by rule "privacy-impact-assessment"
    And it is rejected by rule "benefit-cost-minimum"

  Scenario: Over the single-project cap, and dates the wrong way round
    Given a proposal
      | field      | value                  |
      | id         | T-8                    |
      | title      | Everything at once     |
      | sponsor    | Mia Wong               |
      | sponsor_level | executive           |
      | alignment  | grow-revenue:strong    |
      | category   | growth                 |
      | budget     | 12000000               |
      | benefit    | 40000000               |
      | start_date | 2027-06-01             |
      | end_date   | 2027-01-31             |
    When it is evaluated
    Then it is rejected by rule "budget-cap"
    And it is rejected by rule "end-before-start"
