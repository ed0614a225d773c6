Feature: St. Ann's Health IT intake
  Run from examples/hospital-it: pmo test features --policies policies --coverage

  Background:
    Given today is 2026-12-01

  Scenario: A sponsored clinical change with PHI reviewed is accepted
    Given a proposal
      | field            | value                        |
      | id               | T-1                          |
      | title            | Sepsis alerts                |
      | department       | emergency                    |
      | sponsor          | Dana Ruiz                    |
      | clinical_sponsor | Dr. Amir Patel               |
      | alignment        | patient-safety:extreme       |
      | category         | clinical                     |
      | budget           | 420000                       |
      | benefit          | 1400000                      |
      | contingency      | 0.15                         |
      | go_live          | 2027-03-09                   |
      | downtime_hours   | 0                            |
      | phi              | yes                          |
      | hipaa_review     | yes                          |
    When it is evaluated
    Then it is accepted

  Scenario: Clinical work needs a clinical sponsor
    Given a proposal
      | field      | value                |
      | id         | T-2                  |
      | title      | Chemo order sets     |
      | sponsor    | Dana Ruiz            |
      | category   | clinical             |
      | alignment  | patient-safety:strong |
      | budget     | 180000               |
      | benefit    | 520000               |
    When it is evaluated
    Then it is rejected by rule "clinical-sponsor"

  Scenario: PHI without the Privacy Office's review is rejected
    Given a proposal
      | field      | value                     |
      | id         | T-3                       |
      | title      | Portal messaging          |
      | sponsor    | Omar Haddad               |
      | alignment  | hipaa-compliance:moderate |
      | category   | infrastructure            |
      | budget     | 95000                     |
      | benefit    | 240000                    |
      | phi        | yes                       |
    When it is evaluated
    Then it is rejected by rule "phi-needs-hipaa-review"

  # if(): emergency systems may not go down at all, other departments up to four hours
  Scenario Outline: Downtime allowed depends on the department
    Given a proposal
      | field          | value            |
      | id             | T-4              |
      | title          | Tracking board   |
      | department     | <department>     |
      | sponsor        | Dana Ruiz        |
      | alignment      | clinical-efficiency:strong |
      | category       | infrastructure   |
      | budget         | 40000            |
      | benefit        | 90000            |
      | downtime_hours | <hours>          |
    When it is evaluated
    Then it is <outcome>

    Examples:
      | department | hours | outcome                             |
      | emergency  | 0     | accepted                            |
      | emergency  | 1     | rejected by rule "downtime-limit"   |
      | radiology  | 4     | accepted                            |
      | radiology  | 5     | rejected by rule "downtime-limit"   |

  # month() and day(): the freeze runs 15 December to 5 January in every year
  Scenario Outline: The year-end change freeze
    Given a proposal
      | field      | value            |
      | id         | T-5              |
      | title      | Audit log        |
      | sponsor    | Lee Chen         |
      | alignment  | hipaa-compliance:extreme |
      | category   | compliance       |
      | budget     | 75000            |
      | benefit    | 90000            |
      | go_live    | <go_live>        |
    When it is evaluated
    Then <then>

    Examples:
      | go_live    | then                                                  |
      | 2027-12-14 | rule "change-freeze" does not fire                    |
      | 2027-12-15 | it is sent to review by rule "change-freeze"          |
      | 2028-01-05 | it is sent to review by rule "change-freeze"          |
      | 2028-01-06 | rule "change-freeze" does not fire                    |

  # weekday(): ISO weekdays, Monday 1 to Sunday 7; date(y, m, d) and year(): June of next year
  Scenario: A weekend go-live in June is flagged twice
    Given a proposal
      | field            | value                      |
      | id               | T-6                        |
      | title            | Nurse call                 |
      | sponsor          | Omar Haddad                |
      | clinical_sponsor | RN Kim Lowe                |
      | alignment        | clinical-efficiency:strong |
      | category         | clinical                   |
      | budget           | 140000                     |
      | benefit          | 460000                     |
      | contingency      | 0.12                       |
      | go_live          | 2027-06-12                 |
    When it is evaluated
    Then it is accepted
    And rule "weekend-go-live" flags it
    And rule "fiscal-year-end" flags it

  # 10%: a percentage literal
  Scenario: A thin contingency goes to Finance
    Given a proposal
      | field       | value               |
      | id          | T-7                 |
      | title       | Pharmacy robot      |
      | sponsor     | Lee Chen            |
      | clinical_sponsor | Dr. Ines Vogt  |
      | alignment   | patient-safety:strong |
      | category    | clinical            |
      | budget      | 310000              |
      | benefit     | 820000              |
      | contingency | 0.05                |
    When it is evaluated
    Then it is sent to review by rule "thin-contingency"
    And it is routed to "Finance"
    And the reason of rule "thin-contingency" says "below 10%"

  Scenario: Big, unsponsored, over the cap, and not worth it
    Given a proposal
      | field      | value               |
      | id         | T-8                 |
      | title      | Everything          |
      | alignment  | cost-containment:low |
      | category   | infrastructure      |
      | budget     | 6000000             |
      | benefit    | 1000000             |
    When it is evaluated
    Then it is rejected by rule "sponsor-required"
    And it is rejected by rule "budget-cap"
    And it is rejected by rule "benefit-cost-minimum"

  Scenario: Above half a million the Capital Committee approves
    Given a proposal
      | field      | value               |
      | id         | T-9                 |
      | title      | UPS replacement     |
      | sponsor    | Lee Chen            |
      | alignment  | patient-safety:low  |
      | category   | infrastructure      |
      | budget     | 1200000             |
      | benefit    | 1500000             |
    When it is evaluated
    Then it is sent to review by rule "route-capital-committee"
    And it is routed to "Capital Committee"
