"""Generic steps for policy scenarios, so a policy author writes new ones without Python.

    Given today is 2026-12-01                      (optional; fixes today())
    Given the policies in "examples/my-policies"   (optional; default: the reference policies)
    Given a proposal                               followed by a | field | value | table
    When it is evaluated
    Then it is accepted | it is rejected | it is sent to review | it is an error row
    Then it is rejected by rule "ID" | it is sent to review by rule "ID" | rule "ID" flags it
    Then rule "ID" does not fire | it is routed to "APPROVER" | the reason of rule "ID" says "TEXT"
    Then the error names column "COLUMN"

    Given proposals                                followed by a table: a header of field names, a row each
    When they are ranked
    Then the ranking is "A, B, C"                  (the ranked ids, best first)
    Then "A" is ranked 1 | "A" is not ranked, as it is rejected | "A" is not ranked, as it is an error row
    Then the score of "A" is 61.25 | "A" gets 20.5 from "criterion" | the alignment of "A" is 0.2234

    Given the portfolio "examples/portfolio.yaml"
    When its conflicts are checked
    Then there is a "cycle" conflict between "PLAN-A, PLAN-B, PLAN-C" | there are no conflicts
    Then there is a "over_allocation" conflict in "2027-Q2"

    Given candidate projects                       a table: id, cost, value and optionally depends_on, excludes,
                                                   requires_together, force (in/out), category
    Given a budget of 100
    Given at least 30% of the cost goes to category "compliance"   (or: at most ...)
    When the portfolio is selected
    Then the selection is "A, C" | no selection is possible, because "the forced-in projects"

    Given the project record "examples/projects/go.yaml"
    When it is reviewed at gate "business-case"    (or: ... by "ROLE" overriding, because "JUSTIFICATION")
    Then the gate decision is "go" | the reasons mention "strategic-fit" | "ROLE" decides
    Then the override is refused, because "may not override"

Every scenario runs on both back ends (durable_rules and the plain-Python reference).
"""
import datetime as dt
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, then, when

from engine import Engine, PmoError

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


@given("proposals")
def given_proposals(context, datatable):
    header, *rows = datatable
    context["proposals"] = [{h.strip(): v for h, v in zip(header, row)} for row in rows]


@when("they are ranked")
def ranked(context, backend):
    context["engine"] = _engine(context, backend)
    context["ranking"] = context["engine"].rank(context["proposals"])


def _engine(context, backend) -> Engine:
    return Engine.load(context["policies"], today=context["today"], backend=backend)


def _entry(context, ident):
    found = [e for e in context["ranking"].entries if e.id == ident]
    assert found, f"{ident!r} is not in the ranking"
    return found[0]


@then(parsers.parse('the ranking is "{ids}"'))
def ranking_is(context, ids):
    assert [e.id for e in context["ranking"].entries if e.rank is not None] == [i.strip() for i in ids.split(",")]


@then(parsers.parse('"{ident}" is ranked {rank:d}'))
def ranked_at(context, ident, rank):
    assert _entry(context, ident).rank == rank


@then(parsers.re(r'"(?P<ident>[^"]+)" is not ranked, as it is (?P<what>rejected|an error row)$'))
def not_ranked(context, ident, what):
    entry = _entry(context, ident)
    assert entry.rank is None and entry.reason
    assert entry.decision == ("reject" if what == "rejected" else "error")
    ranked_positions = [i for i, e in enumerate(context["ranking"].entries) if e.rank is not None]
    assert context["ranking"].entries.index(entry) > max(ranked_positions, default=-1)


@then(parsers.parse('the score of "{ident}" is {value:g}'))
def score_is(context, ident, value):
    assert round(_entry(context, ident).score, 2) == value


@then(parsers.parse('"{ident}" gets {value:g} from "{criterion}"'))
def contribution_is(context, ident, value, criterion):
    parts = {c.criterion: c.contribution for c in _entry(context, ident).breakdown}
    assert round(parts[criterion], 2) == value, parts


@then(parsers.parse('the alignment of "{ident}" is {value:g}'))
def alignment_is(context, ident, value):
    proposal = next(p for p in context["proposals"] if p.get("id") == ident)
    record = context["engine"]._intake.decide_record(proposal)[1]
    assert round(float(record["alignment"]), 4) == value


@given(parsers.parse('the portfolio "{path}"'))
def given_portfolio(context, path):
    context["portfolio"] = ROOT / path


@when("its conflicts are checked")
def conflicts_checked(context, backend):
    context["report"] = _engine(context, backend).conflicts(context["portfolio"])


def _conflicts_of(context, kind):
    found = [c for c in context["report"].conflicts if c.kind == kind]
    assert found, f"no {kind} conflict; found: {[c.kind for c in context['report'].conflicts]}"
    return found


@then(parsers.parse('there is a "{kind}" conflict between "{ids}"'))
def conflict_between(context, kind, ids):
    wanted = sorted(i.strip() for i in ids.split(","))
    assert any(sorted(c.projects) == wanted for c in _conflicts_of(context, kind)), _conflicts_of(context, kind)


@then(parsers.parse('there is a "{kind}" conflict in "{period}"'))
def conflict_in(context, kind, period):
    assert any(period in c.periods for c in _conflicts_of(context, kind))


@then("there are no conflicts")
def no_conflicts(context):
    assert context["report"].conflicts == [], [c.message for c in context["report"].conflicts]


@given("candidate projects")
def candidates(context, datatable):
    header, *rows = datatable
    projects = []
    for row in rows:
        item = {h.strip(): v.strip() for h, v in zip(header, row) if v.strip()}
        for key in ("depends_on", "excludes", "requires_together"):
            if key in item:
                item[key] = [x.strip() for x in item[key].split(",")]
        projects.append(item)
    context["selection_input"] = {"projects": projects, "balance": []}


@given(parsers.parse("a budget of {amount:g}"))
def a_budget(context, amount):
    context["selection_input"]["budget"] = amount


@given(parsers.re(r'(?P<bound>at least|at most) (?P<share>\d+)% of the cost goes to (?P<by>category|objective) '
                  r'"(?P<value>[^"]+)"'))
def balance_rule(context, bound, share, by, value):
    key = "min_share" if bound == "at least" else "max_share"
    context["selection_input"]["balance"].append({"by": by, "value": value, key: int(share) / 100})


@when("the portfolio is selected")
def selected(context, backend):
    context["selection"] = _engine(context, backend).select(context["selection_input"]).best


@then(parsers.parse('the selection is "{ids}"'))
def selection_is(context, ids):
    assert context["selection"].selected == [i.strip() for i in ids.split(",")], context["selection"]


@then(parsers.parse('no selection is possible, because "{text}"'))
def infeasible(context, text):
    selection = context["selection"]
    assert selection.status == "infeasible" and any(text in r for r in selection.reasons), selection.reasons


@given(parsers.parse('the project record "{path}"'))
def given_project(context, path):
    context["project"] = ROOT / path


@when(parsers.parse('it is reviewed at gate "{gate}"'))
def reviewed(context, backend, gate):
    context["gate_decision"] = _engine(context, backend).review_gate(context["project"], gate)


@when(parsers.parse('it is reviewed at gate "{gate}" by "{role}" overriding, because "{why}"'))
def reviewed_with_override(context, backend, gate, role, why):
    try:
        context["gate_decision"] = _engine(context, backend).review_gate(
            context["project"], gate, override={"role": role, "justification": why})
        context["refusal"] = None
    except PmoError as exc:
        context["refusal"] = str(exc)


@then(parsers.parse('the gate decision is "{decision}"'))
def gate_decision_is(context, decision):
    assert context["gate_decision"].decision == decision, context["gate_decision"].reasons


@then(parsers.parse('the reasons mention "{text}"'))
def reasons_mention(context, text):
    assert any(text in r for r in context["gate_decision"].reasons), context["gate_decision"].reasons


@then(parsers.parse('"{role}" decides'))
def role_decides(context, role):
    assert role in context["gate_decision"].approvers


@then(parsers.parse('the override is refused, because "{text}"'))
def override_refused(context, text):
    assert context.get("refusal") and text in context["refusal"], context.get("refusal")


@when("it is evaluated")
def evaluated(context, backend):
    context["decision"] = _engine(context, backend).evaluate(context["proposal"])


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
