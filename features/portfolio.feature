Feature: Conflicts in the delivery portfolio
  As the PMO, before we commit to a portfolio we find every conflict between projects:
  dependencies that cannot be met, people and money we do not have, projects that exclude
  or need each other.

  Background:
    Given the portfolio "examples/portfolio.yaml"
    When its conflicts are checked

  Scenario: Projects that wait on each other in a circle
    Then there is a "cycle" conflict between "PLAN-A, PLAN-B, PLAN-C"

  Scenario: A dependency on a project that is not in the portfolio
    Then there is a "unknown_reference" conflict between "BILLING, LEDGER"

  Scenario: An approved project whose prerequisite was rejected
    Then there is a "broken_prerequisite" conflict between "OUTAGE, SENSORS"

  Scenario: A high-priority project whose prerequisite falls below the funding line
    Then there is a "priority_inversion" conflict between "TWIN, GIS"

  Scenario: A project planned to start before its prerequisite finishes
    Then there is a "schedule_violation" conflict between "MOBILE, CRM"

  Scenario: Two projects that exclude each other are both approved
    Then there is a "exclusion_violation" conflict between "DATACENTRE, CLOUD"

  Scenario: A project approved without the project it needs
    Then there is a "inclusion_violation" conflict between "METERS, METERDATA"

  Scenario: More engineers needed than we have
    Then there is a "over_allocation" conflict in "2027-Q2"

  Scenario: More money planned than the quarter's budget
    Then there is a "budget_overrun" conflict in "2027-Q3"

  Scenario: The resolved portfolio has no conflicts
    Given the portfolio "examples/portfolio-clean.yaml"
    When its conflicts are checked
    Then there are no conflicts
