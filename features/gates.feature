Feature: Stage gates
  As the governance board, we decide at each gate whether a project goes on, is killed,
  waits for evidence, or goes back to rework its case, and every decision names its reasons.

  Scenario: A sound business case goes on to planning
    Given the project record "examples/projects/go.yaml"
    When it is reviewed at gate "business-case"
    Then the gate decision is "go"
    And "pmo-lead" decides

  Scenario: A project that serves no strategic objective is killed
    Given the project record "examples/projects/kill.yaml"
    When it is reviewed at gate "business-case"
    Then the gate decision is "kill"
    And the reasons mention "strategic-fit"

  Scenario: Missing evidence puts a project on hold
    Given the project record "examples/projects/hold.yaml"
    When it is reviewed at gate "business-case"
    Then the gate decision is "hold"
    And the reasons mention "missing evidence: risk-register"
    And the reasons mention "missing approval: finance-review"

  Scenario: A case whose benefit does not cover its cost is recycled
    Given the project record "examples/projects/recycle.yaml"
    When it is reviewed at gate "business-case"
    Then the gate decision is "recycle"
    And the reasons mention "benefit-exceeds-cost"

  Scenario: Large projects are decided by the steering committee, which may override
    Given the project record "examples/projects/override.yaml"
    When it is reviewed at gate "business-case" by "steering-committee" overriding, because "Enables the 2028 grid plan"
    Then the gate decision is "go"
    And "steering-committee" decides
    And the reasons mention "overridden by steering-committee"

  Scenario: The PMO lead may not override a failed must-meet criterion
    Given the project record "examples/projects/override.yaml"
    When it is reviewed at gate "business-case" by "pmo-lead" overriding, because "We really want this one"
    Then the override is refused, because "may not override"

  Scenario: A healthy delivery goes on to closure
    Given the project record "examples/projects/delivery.yaml"
    When it is reviewed at gate "delivery-review"
    Then the gate decision is "go"
