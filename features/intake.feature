Feature: Intake screening of project proposals
  As the PMO, we screen every proposal against the intake policy before it is scored,
  so that only sponsored, strategic and sound proposals go on, and big ones reach the right approvers.

  Background:
    Given today is 2026-12-01

  Scenario: A small, sound proposal is accepted
    Given a proposal
      | field      | value                   |
      | id         | PRJ-0100                |
      | title      | Invoice OCR automation  |
      | sponsor    | Grace Liu               |
      | alignment  | operational-efficiency:strong |
      | budget     | 130000                  |
      | benefit    | 410000                  |
      | cash_flows | -130000;90000;110000;110000 |
      | start_date | 2027-03-01              |
      | end_date   | 2027-09-30              |
      | risk       | 2                       |
      | complexity | 2                       |
    When it is evaluated
    Then it is accepted

  Scenario: A large proposal without a sponsor is rejected
    Given a proposal
      | field     | value               |
      | id        | PRJ-0101            |
      | title     | Speech analytics    |
      | alignment | customer-experience:strong |
      | budget    | 400000              |
      | benefit   | 1300000             |
    When it is evaluated
    Then it is rejected by rule "sponsor-required"
    And the reason of rule "sponsor-required" says "above 250,000 need a named sponsor"

  Scenario Outline: The budget decides who approves
    Given a proposal
      | field         | value          |
      | id            | PRJ-0102       |
      | title         | Network upgrade |
      | sponsor       | Ahmed Khan     |
      | sponsor_level | executive      |
      | alignment     | grid-resilience:strong |
      | budget        | <budget>       |
      | benefit       | 90000000       |
    When it is evaluated
    Then it is sent to review by rule "<rule>"
    And it is routed to "<approver>"

    Examples:
      | budget   | rule                       | approver             |
      | 250001   | route-portfolio-board      | Portfolio Board      |
      | 1000000  | route-portfolio-board      | Portfolio Board      |
      | 1000001  | route-investment-committee | Investment Committee |
      | 20000000 | route-board                | Board of Directors   |

  Scenario: Exactly at the sponsor threshold no sponsor is required
    Given a proposal
      | field     | value     |
      | id        | PRJ-0103  |
      | title     | Pilot     |
      | alignment | net-zero:strong |
      | budget    | 250000    |
      | benefit   | 600000    |
    When it is evaluated
    Then rule "sponsor-required" does not fire
    And rule "sponsor-missing-small" flags it

  Scenario: A proposal that serves no strategic objective is rejected, unless it is regulatory
    Given a proposal
      | field      | value       |
      | id         | PRJ-0104    |
      | title      | Drone pilot |
      | sponsor    | Tom Okafor  |
      | budget     | 200000      |
      | benefit    | 600000      |
      | regulatory | no          |
    When it is evaluated
    Then it is rejected by rule "strategic-link-missing"

  Scenario: Personal data without a privacy impact assessment is rejected
    Given a proposal
      | field         | value               |
      | id            | PRJ-0105            |
      | title         | Consent management  |
      | sponsor       | Maria Jensen        |
      | alignment     | customer-experience:strong |
      | budget        | 180000              |
      | benefit       | 520000              |
      | personal_data | yes                 |
    When it is evaluated
    Then it is rejected by rule "privacy-impact-assessment"

  Scenario: Benefit below cost is rejected, and the negative NPV is reported too
    Given a proposal
      | field      | value                       |
      | id         | PRJ-0106                    |
      | title      | Merchandise store           |
      | sponsor    | Maria Jensen                |
      | alignment  | customer-experience:strong  |
      | budget     | 160000                      |
      | benefit    | 90000                       |
      | cash_flows | -160000;20000;30000;40000   |
    When it is evaluated
    Then it is rejected by rule "benefit-below-cost"
    And the reason of rule "negative-npv" says "Net present value at 0.08 is negative"

  Scenario: A negative NPV alone goes to Finance for review
    Given a proposal
      | field      | value                       |
      | id         | PRJ-0107                    |
      | title      | Merchandise store, phase 2  |
      | sponsor    | Maria Jensen                |
      | alignment  | customer-experience:strong  |
      | budget     | 160000                      |
      | benefit    | 200000                      |
      | cash_flows | -160000;20000;30000;40000   |
    When it is evaluated
    Then it is sent to review by rule "negative-npv"
    And it is routed to "Finance"

  Scenario: A project that ends before it starts is rejected
    Given a proposal
      | field      | value      |
      | id         | PRJ-0107   |
      | title      | Tariff simulator |
      | sponsor    | Maria Jensen |
      | alignment  | customer-experience:strong |
      | budget     | 100000     |
      | benefit    | 300000     |
      | start_date | 2027-09-01 |
      | end_date   | 2027-06-30 |
    When it is evaluated
    Then it is rejected by rule "end-before-start"

  Scenario: Text where a number belongs is an error row, not a decision
    Given a proposal
      | field  | value        |
      | id     | PRJ-0108     |
      | title  | Pricing      |
      | budget | about 200k   |
    When it is evaluated
    Then it is an error row
    And the error names column "budget"
