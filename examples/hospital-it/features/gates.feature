Feature: St. Ann's Health IT gates
  Scenario: A sound clinical business case goes to build
    Given the project record "projects/sepsis-alerts.yaml"
    When it is reviewed at gate "business-case"
    Then the gate decision is "go"
    And "it-portfolio-board" decides

  Scenario: PHI not yet reviewed: the project waits
    Given the project record "projects/portal-messaging.yaml"
    When it is reviewed at gate "business-case"
    Then the gate decision is "hold"
    And the reasons mention "privacy-reviewed"

  Scenario: Built, on budget, no safety issues: it goes live
    Given the project record "projects/nurse-call.yaml"
    When it is reviewed at gate "go-live"
    Then the gate decision is "go"

  Scenario: An open safety issue holds the go-live
    Given the project record "projects/pharmacy-robot.yaml"
    When it is reviewed at gate "go-live"
    Then the gate decision is "hold"
    And the reasons mention "no-open-safety-issues"
