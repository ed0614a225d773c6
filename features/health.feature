Feature: Project health
  As the PMO, we rate every project's monthly status report red, amber or green by declared rules,
  computed from earned value, and every colour names the rule that set it.

  Scenario: A project spending more than it earns is red and goes to the Portfolio Board
    Given status reports
      | project | status_date | bac     | pv     | ev     | ac     |
      | CRM     | 2027-03-31  | 1000000 | 400000 | 400000 | 500000 |
    When their health is rated
    Then "CRM" is rated "red" by health rule "cost-overrun"
    And "CRM" is escalated to "Portfolio Board"
    And the "cpi" of "CRM" is 0.8
    And the "eac" of "CRM" is 1250000

  Scenario: A CPI of exactly 0.9 is not below 0.9, so only the watch rule fires
    Given status reports
      | project | status_date | bac  | pv  | ev  | ac   |
      | A       | 2027-03-31  | 1000 | 900 | 900 | 1000 |
    When their health is rated
    Then "A" is rated "amber" by health rule "cost-watch"
    And health rule "cost-overrun" does not fire for "A"

  Scenario: A project on plan is green by the policy's default
    Given status reports
      | project | status_date | bac  | pv  | ev  | ac  |
      | A       | 2027-03-31  | 1000 | 500 | 500 | 480 |
    When their health is rated
    Then "A" is rated "green"

  Scenario: Late after its planned finish: SPI is back to 1, earned schedule still says late
    Given status reports
      | project | status_date | bac | pv  | ev  | ac  | planned_start | planned_finish |
      | A       | 2027-01-31  | 300 | 100 | 80  | 80  | 2027-01-01    | 2027-03-31     |
      | A       | 2027-02-28  | 300 | 200 | 160 | 160 | 2027-01-01    | 2027-03-31     |
      | A       | 2027-03-31  | 300 | 300 | 240 | 240 | 2027-01-01    | 2027-03-31     |
      | A       | 2027-04-30  | 300 | 300 | 300 | 300 | 2027-01-01    | 2027-03-31     |
    When their health is rated
    Then the "spi" of "A" is 1
    And the "sv_t" of "A" is -30
    And "A" is rated "red" by health rule "schedule-slip"

  Scenario: Benefits that arrive late make a project amber
    Given status reports
      | project | status_date | bac  | pv  | ev  | ac  | benefits_planned | benefits_realised |
      | OUTAGE  | 2027-11-30  | 1000 | 900 | 900 | 900 | 60000            | 8000              |
    When their health is rated
    Then "OUTAGE" is rated "amber" by health rule "benefits-late"

  Scenario: A killed project is closed out by the PMO lead, not escalated for its overrun
    Given status reports
      | project | status_date | bac     | pv     | ev     | ac     | state  |
      | BILLING | 2027-06-30  | 1000000 | 500000 | 360000 | 450000 | killed |
    When their health is rated
    Then "BILLING" is rated "amber" by health rule "killed-at-gate"
    And "BILLING" is escalated to "PMO lead"
    And health rule "cost-overrun" does not fire for "BILLING"
    And health rule "schedule-slip" does not fire for "BILLING"

  Scenario: A project that closed over budget is amber with its lesson and no escalation
    Given status reports
      | project | status_date | bac     | pv      | ev      | ac      | state  |
      | CRM     | 2027-08-31  | 1000000 | 1000000 | 1000000 | 1200000 | closed |
    When their health is rated
    Then "CRM" is rated "amber" by health rule "closed-over-plan"
    And health rule "cost-overrun" does not fire for "CRM"
