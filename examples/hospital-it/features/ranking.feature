Feature: Two scoring models: clinical work is ranked on its own terms
  Scenario: Clinical changes and operations work are ranked in separate pools
    Given today is 2026-12-01
    Given proposals
      | id | title      | sponsor | clinical_sponsor | alignment                  | category       | budget | benefit | risk | downtime_hours |
      | A  | Sepsis     | Dana    | Dr. Patel        | patient-safety:extreme     | clinical       | 90000  | 300000  | 3    | 0              |
      | B  | Nurse call | Omar    | RN Lowe          | clinical-efficiency:strong | clinical       | 90000  | 300000  | 1    | 2              |
      | C  | Storage    | Lee     |                  | cost-containment:moderate  | infrastructure | 90000  | 300000  | 2    | 0              |
      | D  | Audit log  | Lee     |                  | hipaa-compliance:extreme   | compliance     | 75000  | 90000   | 1    | 0              |
      | E  | PACS viewer| Lee     | Dr. Roy          | clinical-efficiency:low    | clinical       | 90000  | 300000  | 4    | 4              |
    When they are ranked
    Then model "clinical" ranks "A, B, E"
    And model "operations" ranks "C, D"
    And "C" is scored by model "operations"
