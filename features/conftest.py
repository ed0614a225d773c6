"""Generic steps for policy scenarios, so a policy author writes new ones without Python.

    Given today is 2026-12-01                      (optional; fixes today())
    Given the policies in "examples/my-policies"   (optional; default: the reference policies)
    Given a proposal                               followed by a | field | value | table
    When it is evaluated
    Then it is accepted | it is rejected | it is sent to review | it is an error row
    Then it is rejected by rule "ID" | it is sent to review by rule "ID" | rule "ID" flags it
    Then rule "ID" does not fire | it is routed to "APPROVER" | the reason of rule "ID" says "TEXT"
    Then the error names column "COLUMN"

Every scenario runs on both back ends (durable_rules and the plain-Python reference).
"""
import datetime as dt
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, then, when

from engine import Engine

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["rete", "reference"], autouse=True)
def backend(request):
    # autouse: steps ask for it at run time, which is too late for pytest to parametrize on it
    return request.param


@pytest.fixture
def context():
    return {"today": dt.date(2026, 12, 1), "policies": None, "proposal": {}}


@given(parsers.parse("today is {day}"))
def given_today(context, day):
    context["today"] = dt.date.fromisoformat(day)


@given(parsers.parse('the policies in "{folder}"'))
def given_policies(context, folder):
    context["policies"] = ROOT / folder


@given("a proposal")
def given_proposal(context, datatable):
    header, *rows = datatable
    assert [h.strip().lower() for h in header] == ["field", "value"], "the table needs columns | field | value |"
    context["proposal"] = {field: value for field, value in rows}


@when("it is evaluated")
def evaluated(context, backend):
    engine = Engine.load(context["policies"], today=context["today"], backend=backend)
    context["decision"] = engine.evaluate(context["proposal"])


def _finding(context, rule):
    found = [f for f in context["decision"].findings if f.rule == rule]
    fired = [f.rule for f in context["decision"].findings] or "no rule"
    assert found, f"rule {rule!r} did not fire; fired: {fired}; errors: {context['decision'].errors}"
    return found[0]


@then(parsers.re(r"it is (?P<outcome>accepted|rejected|sent to review|an error row)$"))
def outcome_is(context, outcome):
    expected = {"accepted": "accept", "rejected": "reject", "sent to review": "review", "an error row": "error"}
    decision = context["decision"]
    assert decision.decision == expected[outcome], (decision.decision, [f.rule for f in decision.findings],
                                                    decision.errors)


@then(parsers.parse('it is rejected by rule "{rule}"'))
def rejected_by(context, rule):
    assert context["decision"].decision == "reject"
    assert _finding(context, rule).effect == "reject"


@then(parsers.parse('it is sent to review by rule "{rule}"'))
def reviewed_by(context, rule):
    assert context["decision"].decision in ("review", "reject")
    assert _finding(context, rule).effect == "review"


@then(parsers.parse('rule "{rule}" flags it'))
def flagged_by(context, rule):
    assert _finding(context, rule).effect == "flag"


@then(parsers.parse('rule "{rule}" does not fire'))
def does_not_fire(context, rule):
    assert rule not in [f.rule for f in context["decision"].findings]


@then(parsers.parse('it is routed to "{approver}"'))
def routed_to(context, approver):
    assert approver in context["decision"].routes, context["decision"].routes


@then(parsers.parse('the reason of rule "{rule}" says "{text}"'))
def reason_says(context, rule, text):
    assert text in _finding(context, rule).reason


@then(parsers.parse('the error names column "{column}"'))
def error_names_column(context, column):
    assert column in [e.column for e in context["decision"].errors], context["decision"].errors
