Feature: Sponsorship and approval routing
  A policy author's own scenarios, run with `pmo test examples/author-tests/`. One example row of the
  outline is wrong on purpose, to show what a failure looks like: the Portfolio Board's band
  includes 1,000,000, so that proposal is not routed to the Investment Committee.

  Background:
    Given today is 2026-12-01

  Scenario: A large proposal without a sponsor is rejected
    Given a proposal
      | field     | value                      |
      | id        | T-1                        |
      | title     | Speech analytics           |
      | alignment | customer-experience:strong |
      | budget    | 400000                     |
    When it is evaluated
    Then it is rejected by rule "sponsor-required"

  Scenario Outline: The budget decides who approves
    Given a proposal
      | field         | value                  |
      | id            | T-2                    |
      | title         | Network upgrade        |
      | sponsor       | Ahmed Khan             |
      | sponsor_level | executive              |
      | alignment     | grid-resilience:strong |
      | budget        | <budget>               |
      | benefit       | 90000000               |
    When it is evaluated
    Then it is routed to "<approver>"

    Examples:
      | budget  | approver             |
      | 600000  | Portfolio Board      |
      | 1000000 | Investment Committee |
      | 3000000 | Investment Committee |
