Feature: Our stage gates
  Run from this folder: pmo test features --policies policies

  Scenario: A sound, sponsored business case goes on to delivery
    Given the project record "projects/billing-portal.yaml"
    When it is reviewed at gate "business-case"
    Then the gate decision is "go"
    And "portfolio-board" decides

  Scenario: No sponsor and no business case document: the project waits
    Given the project record "projects/scanner-refresh.yaml"
    When it is reviewed at gate "business-case"
    Then the gate decision is "hold"
    And the reasons mention "has-sponsor"
    And the reasons mention "missing evidence: business-case-document"

  Scenario: Over budget at closure: back into delivery
    Given the project record "projects/data-platform.yaml"
    When it is reviewed at gate "closure"
    Then the gate decision is "recycle"
    And the reasons mention "on-budget"

  Scenario: On budget and on time: the project closes
    Given the project record "projects/invoice-automation.yaml"
    When it is reviewed at gate "closure"
    Then the gate decision is "go"
