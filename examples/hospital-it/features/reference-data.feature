Feature: Reference data, one objective's alignment and formatted reasons
  Run from examples/hospital-it: pmo test features --policies policies --coverage
  The vendor list is approved-vendors.csv and the department limits are department-limits.yaml, beside the policy.

  Background:
    Given today is 2026-12-01

  # key in table: a vendor the CSV file does not list goes to Procurement
  Scenario: A vendor that is not on the approved list is reviewed by Procurement
    Given a proposal
      | field     | value                     |
      | id        | R-1                       |
      | title     | Bedside tablets           |
      | sponsor   | Lee Chen                  |
      | alignment | clinical-efficiency:strong |
      | category  | infrastructure            |
      | budget    | 45000                     |
      | benefit   | 90000                     |
      | vendor    | TabletCo                  |
    When it is evaluated
    Then it is sent to review by rule "unapproved-vendor"
    And it is routed to "Procurement"
    And the reason of rule "unapproved-vendor" says "Vendor TabletCo is not on the approved vendor list"

  Scenario: An approved vendor passes
    Given a proposal
      | field     | value                     |
      | id        | R-2                       |
      | title     | Infusion pump interface   |
      | sponsor   | Lee Chen                  |
      | alignment | clinical-efficiency:strong |
      | category  | infrastructure            |
      | budget    | 45000                     |
      | benefit   | 90000                     |
      | vendor    | Omnicell                  |
    When it is evaluated
    Then it is accepted
    And rule "unapproved-vendor" does not fire

  # lookup(table, key, column): a yes/no column of the CSV file
  Scenario: A vendor without a Business Associate Agreement may not handle PHI
    Given a proposal
      | field        | value                  |
      | id           | R-3                    |
      | title        | Ambient clinical notes |
      | sponsor      | Dana Ruiz              |
      | alignment    | clinical-efficiency:extreme |
      | category     | infrastructure         |
      | budget       | 90000                  |
      | benefit      | 400000                 |
      | phi          | yes                    |
      | hipaa_review | yes                    |
      | vendor       | CloudScribe            |
    When it is evaluated
    Then it is rejected by rule "vendor-without-baa"
    And the reason of rule "vendor-without-baa" says "CloudScribe handles PHI without a signed Business Associate Agreement"

  # a table of thresholds by department, and {budget:,.0f} in the reason
  Scenario Outline: Budgets above the department's limit go to the department head
    Given a proposal
      | field      | value                      |
      | id         | R-4                        |
      | title      | Department system          |
      | department | <department>               |
      | sponsor    | Lee Chen                   |
      | alignment  | clinical-efficiency:strong |
      | category   | infrastructure             |
      | budget     | <budget>                   |
      | benefit    | 2000000                    |
    When it is evaluated
    Then <then>

    Examples:
      | department | budget | then                                                      |
      | radiology  | 300000 | rule "department-head-review" does not fire               |
      | radiology  | 310000 | the reason of rule "department-head-review" says "Budget 310,000 is above the radiology review limit of 300,000" |
      | pharmacy   | 260000 | it is routed to "Department Head"                         |
      | emergency  | 260000 | rule "department-head-review" does not fire               |

  # a route built from a field: "{site} site manager"
  Scenario: Downtime at a satellite clinic goes to that site's manager
    Given a proposal
      | field          | value                      |
      | id             | R-5                        |
      | title          | Clinic network refresh     |
      | sponsor        | Lee Chen                   |
      | alignment      | clinical-efficiency:strong |
      | category       | infrastructure             |
      | budget         | 60000                      |
      | benefit        | 150000                     |
      | site           | north-clinic               |
      | downtime_hours | 2                          |
    When it is evaluated
    Then it is sent to review by rule "satellite-downtime"
    And it is routed to "north-clinic site manager"

  # serves("hipaa-compliance") and alignment["hipaa-compliance"] formatted as a percentage
  Scenario: Serving hipaa-compliance without handling PHI is flagged
    Given a proposal
      | field     | value                  |
      | id        | R-6                    |
      | title     | Policy portal          |
      | sponsor   | Lee Chen               |
      | alignment | hipaa-compliance:moderate |
      | category  | compliance             |
      | budget    | 30000                  |
      | benefit   | 60000                  |
    When it is evaluated
    Then rule "hipaa-without-phi" flags it
    And the reason of rule "hipaa-without-phi" says "level 50%"

  # {contingency:.0%}: 0.05 reads 5%
  Scenario: A thin contingency is shown as a percentage
    Given a proposal
      | field       | value                      |
      | id          | R-7                        |
      | title       | Lab analyser link          |
      | sponsor     | Lee Chen                   |
      | alignment   | clinical-efficiency:strong |
      | category    | infrastructure             |
      | budget      | 150000                     |
      | benefit     | 400000                     |
      | contingency | 0.05                       |
    When it is evaluated
    Then it is sent to review by rule "thin-contingency"
    And the reason of rule "thin-contingency" says "A contingency of 5% is below 10% of the budget"
