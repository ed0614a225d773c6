"""Generic steps for policy scenarios, so a policy author writes new ones without Python.

    Given today is 2026-12-01                      (optional; fixes today())
    Given the policies in "examples/my-policies"   (optional; default: pmo test --policies, else the reference set)
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
    Then model "compliance" ranks "A, C" | "A" is scored by model "compliance"   (several scoring models)
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

    Given status reports                           a table: project, status_date, bac, pv, ev, ac, ... a row each
    When their health is rated                     (or: ... rated as of 2027-06-30)
    Then "A" is rated "red" | "A" is rated "red" by health rule "cost-overrun" | "A" is rated "unrated"
    Then health rule "RULE" does not fire for "A" | "A" is escalated to "Portfolio Board"
    Then the "cpi" of "A" is 0.875                 (compared to the places written)

Relative paths are read from ``Defaults.base`` (the current folder unless a conftest says otherwise).
A conftest takes every step and fixture with ``globals().update(conftest_fixtures())``; override
``scenario_defaults`` to change what a scenario assumes, and ``backend`` (a parametrized fixture) to run
the scenarios on more than one back end.

A Then step that does not hold raises :class:`StepFailed` with what was expected and what happened, so
``pmo test`` can report it in one or two lines.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pytest
from pytest_bdd import given, parsers, then, when
from pytest_bdd.parsers import StepParser

from engine import Engine, PmoError
from engine.compile.health import DEFAULT_HEALTH
from engine.decision import Decision, Finding
from engine.errors import did_you_mean
from engine.gates.review import GateDecision
from engine.health.assess import HealthReport, ProjectHealth, assess
from engine.health.rules import health_backend
from engine.health.status import status_from_rows
from engine.io.rows import Row

if TYPE_CHECKING:  # as engine.api: the portfolio and scoring stages load with the first call that needs them
    from engine.portfolio.conflicts import Conflict, ConflictReport
    from engine.scoring.ranking import RankEntry, Ranking

P = ParamSpec("P")
T = TypeVar("T")
# the engines a run has loaded, by (policies, rules, today, back end)
Engines = dict[tuple[Path | None, tuple[Path, ...], dt.date, str], Engine]


@dataclass(frozen=True)
class Defaults:
    """What a scenario assumes until its Given steps say otherwise."""

    policies: Path | None = None  # None: the reference policies shipped with pmo
    rules: tuple[Path, ...] = ()  # extra rule-library folders
    today: dt.date | None = None  # None: the current date
    base: Path | None = None  # relative paths in steps are read from here (None: the current folder)


DEFAULTS = pytest.StashKey[Defaults]()  # set by `pmo test` on the pytest config
OBSERVER = pytest.StashKey[Any]()  # an engine.authoring.coverage.CoverageByPolicy, when `pmo test --coverage` records


class StepFailed(AssertionError):
    """A Then step that does not hold: what the scenario expected and what happened instead."""

    def __init__(self, expected: str, actual: str):
        super().__init__(f"expected {expected}, got {actual}")
        self.expected, self.actual = expected, actual


def expect(holds: bool, expected: str, actual: Callable[[], str] | str) -> None:
    if not holds:
        raise StepFailed(expected, actual() if callable(actual) else actual)


@dataclass(frozen=True)
class KnownStep:
    kind: str  # given, when or then
    text: str  # how the step reads in a feature file, e.g. 'it is rejected by rule "ID"'
    parser: Any  # the pytest-bdd parser that matches it

    def __str__(self) -> str:
        return f"{self.kind.capitalize()} {self.text}"


KNOWN_STEPS: list[KnownStep] = []
_DECORATORS = {"given": given, "when": when, "then": then}


def _step(kind: str, text: str, parser: str | StepParser | None = None) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Register a generic step; ``text`` is how it reads, listed when a feature's step matches none."""
    parser = parser or text
    KNOWN_STEPS.append(KnownStep(kind, text, parsers.string(parser) if isinstance(parser, str) else parser))
    return _DECORATORS[kind](parser)


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture
def scenario_defaults(request: pytest.FixtureRequest) -> Defaults:
    return request.config.stash.get(DEFAULTS, Defaults())


@pytest.fixture(autouse=True)
def backend(request: pytest.FixtureRequest) -> str:
    # autouse: steps ask for it at run time, which is too late for pytest to parametrize on it
    name: str = getattr(request, "param", "rete")  # a parametrized conftest's values are back-end names
    return name


@pytest.fixture
def observer(request: pytest.FixtureRequest) -> Any:
    """Where decisions are recorded for coverage (None: not recording)."""
    return request.config.stash.get(OBSERVER, None)


@pytest.fixture(scope="session")
def policy_engines() -> Engines:
    """Engines loaded in this run, by (policies, rules, today, back end): scenarios share them."""
    return {}


@pytest.fixture
def context(scenario_defaults: Defaults) -> dict[str, Any]:
    return {"today": scenario_defaults.today or dt.date.today(), "policies": scenario_defaults.policies,
            "proposal": {}, "defaults": scenario_defaults}


def _path(context: dict[str, Any], text: str) -> Path:
    base = context["defaults"].base
    path = Path(text)
    return path if path.is_absolute() or base is None else base / path


def _engine(context: dict[str, Any], backend: str, engines: Engines) -> Engine:
    defaults: Defaults = context["defaults"]
    key = (context["policies"], defaults.rules, context["today"], backend)
    if key not in engines:
        engines[key] = Engine.load(context["policies"], rules=defaults.rules, today=context["today"],
                                   backend=backend)
    return engines[key]


def _needs(context: dict[str, Any], key: str, step: str) -> Any:
    """A value an earlier step makes; a clear failure when the scenario lacks that step.

    Any: ``context`` holds a value of a different type under each key. The helpers below that read one
    declare its type, the type of what the step that makes it (named in ``step``) stores there."""
    if key not in context:
        raise StepFailed(f'a "{step}" step before this one', "none")
    return context[key]


# ---------------------------------------------------------------------------- intake

@_step("given", "today is YYYY-MM-DD", parsers.parse("today is {day}"))
def given_today(context: dict[str, Any], day: str) -> None:
    try:
        context["today"] = dt.date.fromisoformat(day)
    except ValueError:
        raise StepFailed("a date written YYYY-MM-DD", repr(day)) from None


@_step("given", 'the policies in "FOLDER"', parsers.parse('the policies in "{folder}"'))
def given_policies(context: dict[str, Any], folder: str) -> None:
    context["policies"] = _path(context, folder)


@_step("given", "a proposal")
def given_proposal(context: dict[str, Any], datatable: list[list[str]]) -> None:
    header, *rows = datatable
    expect([h.strip().lower() for h in header] == ["field", "value"], "a table with columns | field | value |",
           f"columns | {' | '.join(header)} |")
    twice = sorted({field for i, (field, _) in enumerate(rows) if field in [f for f, _ in rows[:i]]})
    expect(not twice, "each field once in the table", f"{', '.join(twice)} given twice (the last would win)")
    # a second proposal would replace the first, and the scenario would test only the last
    expect(not context["proposal"], "one 'Given a proposal' a scenario", "a second one")
    context["proposal"] = {field: value for field, value in rows}


@_step("when", "it is evaluated")
def evaluated(context: dict[str, Any], backend: str, policy_engines: Engines, observer: Any) -> None:
    engine = context["engine"] = _engine(context, backend, policy_engines)
    _known_fields(engine, context["proposal"])
    context["decision"] = engine.evaluate(context["proposal"])
    if observer is not None:  # with the record, the scoring bands it falls in count too
        observer.decision(engine, context["decision"], engine.record_of(context["proposal"]))


def _known_fields(engine: Engine, proposal: dict[str, Any]) -> None:
    """A misspelt field in a scenario's table would be ignored, and the scenario would test something else."""
    problems = engine.header_problems(proposal, required=False)
    expect(not problems, "fields the policy declares", "; ".join(problems))


def _known_rule(context: dict[str, Any], rule: str) -> None:
    """A rule id the policy does not have would make 'does not fire' pass for nothing."""
    engine = context.get("engine")
    if engine is not None and rule not in engine.rule_ids:
        hint = did_you_mean(rule, engine.rule_ids)
        expect(False, f"a rule of the policy named {rule}", "no such rule" + (f"; {hint}" if hint else ""))


def _decision(context: dict[str, Any]) -> Decision:
    decision: Decision = _needs(context, "decision", "When it is evaluated")
    return decision


def _outcome(decision: Decision) -> str:
    """'reject (rules fired: a, b)' or 'error (budget: not a number)'."""
    if decision.decision == "error":
        return "error (" + "; ".join(f"{e.column + ': ' if e.column else ''}{e.message}" for e in decision.errors) + ")"
    return f"{decision.decision} (rules fired: {', '.join(f.rule for f in decision.findings) or 'none'})"


def _finding(context: dict[str, Any], rule: str) -> Finding:
    decision = _decision(context)
    _known_rule(context, rule)
    found = [f for f in decision.findings if f.rule == rule]
    expect(bool(found), f"rule {rule} to fire", lambda: _outcome(decision))
    return found[0]


_OUTCOMES = {"accepted": "accept", "rejected": "reject", "sent to review": "review", "an error row": "error"}


@_step("then", "it is accepted | it is rejected | it is sent to review | it is an error row",
       parsers.re(r"it is (?P<outcome>accepted|rejected|sent to review|an error row)$"))
def outcome_is(context: dict[str, Any], outcome: str) -> None:
    decision = _decision(context)
    expect(decision.decision == _OUTCOMES[outcome], _OUTCOMES[outcome], lambda: _outcome(decision))


@_step("then", 'it is rejected by rule "ID"', parsers.parse('it is rejected by rule "{rule}"'))
def rejected_by(context: dict[str, Any], rule: str) -> None:
    decision = _decision(context)
    expect(decision.decision == "reject", f"reject by rule {rule}", lambda: _outcome(decision))
    finding = _finding(context, rule)
    expect(finding.effect == "reject", f"rule {rule} to reject", f"rule {rule} with effect {finding.effect}")


@_step("then", 'it is sent to review by rule "ID"', parsers.parse('it is sent to review by rule "{rule}"'))
def reviewed_by(context: dict[str, Any], rule: str) -> None:
    # The whole decision: a proposal another rule rejects is not "sent to review", whatever this rule says.
    decision = _decision(context)
    expect(decision.decision == "review", f"review by rule {rule}", lambda: _outcome(decision))
    finding = _finding(context, rule)
    expect(finding.effect == "review", f"rule {rule} to send to review", f"rule {rule} with effect {finding.effect}")


@_step("then", 'rule "ID" flags it', parsers.parse('rule "{rule}" flags it'))
def flagged_by(context: dict[str, Any], rule: str) -> None:
    finding = _finding(context, rule)
    expect(finding.effect == "flag", f"rule {rule} to flag", f"rule {rule} with effect {finding.effect}")


@_step("then", 'rule "ID" does not fire', parsers.parse('rule "{rule}" does not fire'))
def does_not_fire(context: dict[str, Any], rule: str) -> None:
    decision = _decision(context)
    _known_rule(context, rule)
    expect(rule not in [f.rule for f in decision.findings], f"rule {rule} not to fire", lambda: _outcome(decision))


@_step("then", 'it is routed to "APPROVER"', parsers.parse('it is routed to "{approver}"'))
def routed_to(context: dict[str, Any], approver: str) -> None:
    # A route means someone must approve: only a proposal sent to review goes to an approver.
    decision = _decision(context)
    expect(decision.decision == "review" and approver in decision.routes, f"review, routed to {approver}",
           lambda: _outcome(decision) + f"; routes: {', '.join(decision.routes) or 'none'}")


@_step("then", 'the reason of rule "ID" says "TEXT"', parsers.parse('the reason of rule "{rule}" says "{text}"'))
def reason_says(context: dict[str, Any], rule: str, text: str) -> None:
    reason = _finding(context, rule).reason
    expect(text in reason, f'the reason of {rule} to say "{text}"', f'"{reason}"')


@_step("then", 'the error names column "COLUMN"', parsers.parse('the error names column "{column}"'))
def error_names_column(context: dict[str, Any], column: str) -> None:
    decision = _decision(context)
    expect(column in [e.column for e in decision.errors], f"an error in column {column}", lambda: _outcome(decision))


# ---------------------------------------------------------------------------- ranking

@_step("given", "proposals")
def given_proposals(context: dict[str, Any], datatable: list[list[str]]) -> None:
    header, *rows = datatable
    context["proposals"] = [{h.strip(): v for h, v in zip(header, row)} for row in rows]


@_step("when", "they are ranked")
def ranked(context: dict[str, Any], backend: str, policy_engines: Engines, observer: Any) -> None:
    engine = context["engine"] = _engine(context, backend, policy_engines)
    proposals = _needs(context, "proposals", "Given proposals")
    if proposals:
        _known_fields(engine, proposals[0])
    context["ranking"] = engine.rank(proposals)
    if observer is not None:
        observer.proposals(engine, proposals)  # rules, and the bands of the scored ones


def _ranking(context: dict[str, Any]) -> Ranking:
    ranking: Ranking = _needs(context, "ranking", "When they are ranked")
    return ranking


def _ranked_ids(context: dict[str, Any]) -> list[str | None]:
    return [e.id for e in _ranking(context).entries if e.rank is not None]


def _entry(context: dict[str, Any], ident: str) -> RankEntry:
    found = [e for e in _ranking(context).entries if e.id == ident]
    expect(bool(found), f"{ident} in the ranking",
           lambda: f"ids {', '.join(str(e.id) for e in _ranking(context).entries)}")
    return found[0]


def _ids(text: str) -> list[str]:
    return [i.strip() for i in text.split(",")]


@_step("then", 'the ranking is "A, B, C"', parsers.parse('the ranking is "{ids}"'))
def ranking_is(context: dict[str, Any], ids: str) -> None:
    actual = _ranked_ids(context)
    expect(actual == _ids(ids), f'the ranking "{", ".join(_ids(ids))}"', f'"{", ".join(map(str, actual))}"')


@_step("then", 'model "MODEL" ranks "A, B"', parsers.parse('model "{model}" ranks "{ids}"'))
def model_ranks(context: dict[str, Any], model: str, ids: str) -> None:
    ranking = _ranking(context)
    known = [m["id"] for m in ranking.models]
    expect(model in known, "a scoring model of the policy set",
           f"'{model}'; models: {', '.join(known) or 'one, without an id (this step is for several models)'}")
    actual = [e.id for e in ranking.entries if e.rank is not None and e.model == model]
    expect(actual == _ids(ids), f'model {model} ranking "{", ".join(_ids(ids))}"', f'"{", ".join(map(str, actual))}"')


@_step("then", '"ID" is scored by model "MODEL"', parsers.parse('"{ident}" is scored by model "{model}"'))
def scored_by(context: dict[str, Any], ident: str, model: str) -> None:
    entry = _entry(context, ident)
    expect(entry.model == model and entry.rank is not None, f"{ident} scored by model {model}",
           f"model {entry.model}, rank {entry.rank}" if entry.rank is not None else f"not ranked ({entry.reason})")


@_step("then", '"ID" is ranked N', parsers.parse('"{ident}" is ranked {rank:d}'))
def ranked_at(context: dict[str, Any], ident: str, rank: int) -> None:
    entry = _entry(context, ident)
    expect(entry.rank == rank, f"{ident} ranked {rank}",
           f"rank {entry.rank}" if entry.rank is not None else f"not ranked ({entry.reason})")


@_step("then", '"ID" is not ranked, as it is rejected | "ID" is not ranked, as it is an error row',
       parsers.re(r'"(?P<ident>[^"]+)" is not ranked, as it is (?P<what>rejected|an error row)$'))
def not_ranked(context: dict[str, Any], ident: str, what: str) -> None:
    entry = _entry(context, ident)
    wanted = "reject" if what == "rejected" else "error"
    expect(entry.rank is None and entry.decision == wanted, f"{ident} not ranked ({wanted})",
           f"rank {entry.rank}, decision {entry.decision}")
    entries = _ranking(context).entries
    ranked_positions = [i for i, e in enumerate(entries) if e.rank is not None]
    expect(bool(entry.reason) and entries.index(entry) > max(ranked_positions, default=-1),
           f"{ident} listed after the ranked ones, with a reason", f"position {entries.index(entry) + 1}")


@_step("then", 'the score of "ID" is 61.25', parsers.parse('the score of "{ident}" is {value:g}'))
def score_is(context: dict[str, Any], ident: str, value: float) -> None:
    score = _entry(context, ident).score
    expect(score is not None and round(score, 2) == value, f"score {value:g} for {ident}",
           "no score" if score is None else f"{round(score, 2):g}")


@_step("then", '"ID" gets 20.5 from "CRITERION"', parsers.parse('"{ident}" gets {value:g} from "{criterion}"'))
def contribution_is(context: dict[str, Any], ident: str, value: float, criterion: str) -> None:
    parts = {c.criterion: c.contribution for c in _entry(context, ident).breakdown}
    expect(criterion in parts, f"a criterion {criterion}", f"criteria {', '.join(parts) or 'none'}")
    got = parts[criterion]
    expect(got is not None and round(got, 2) == value, f"{value:g} from {criterion} for {ident}",
           "nothing" if got is None else f"{round(got, 2):g}")


@_step("then", 'the alignment of "ID" is 0.2234', parsers.parse('the alignment of "{ident}" is {value:g}'))
def alignment_is(context: dict[str, Any], ident: str, value: float) -> None:
    proposal = next((p for p in _needs(context, "proposals", "Given proposals") if p.get("id") == ident), None)
    expect(proposal is not None, f"a proposal {ident}", "no such id")
    record = context["engine"].record_of(proposal)
    expect(record is not None, f"alignment {value:g} for {ident}", "an error row")
    got = record.get("alignment")
    expect(got is not None and round(float(got), 4) == value, f"alignment {value:g} for {ident}",
           "none" if got is None else f"{round(float(got), 4):g}")


# ---------------------------------------------------------------------------- portfolio

@_step("given", 'the portfolio "FILE"', parsers.parse('the portfolio "{path}"'))
def given_portfolio(context: dict[str, Any], path: str) -> None:
    context["portfolio"] = _path(context, path)


@_step("when", "its conflicts are checked")
def conflicts_checked(context: dict[str, Any], backend: str, policy_engines: Engines) -> None:
    portfolio = _needs(context, "portfolio", 'Given the portfolio "FILE"')
    context["report"] = _engine(context, backend, policy_engines).conflicts(portfolio)


def _conflicts_of(context: dict[str, Any], kind: str) -> list[Conflict]:
    report: ConflictReport = _needs(context, "report", "When its conflicts are checked")
    conflicts = report.conflicts
    found = [c for c in conflicts if c.kind == kind]
    expect(bool(found), f"a {kind} conflict", f"conflicts: {', '.join(c.kind for c in conflicts) or 'none'}")
    return found


@_step("then", 'there is a "KIND" conflict between "A, B"',
       parsers.parse('there is a "{kind}" conflict between "{ids}"'))
def conflict_between(context: dict[str, Any], kind: str, ids: str) -> None:
    wanted = sorted(_ids(ids))
    found = _conflicts_of(context, kind)
    expect(any(sorted(c.projects) == wanted for c in found), f"a {kind} conflict between {', '.join(wanted)}",
           lambda: "; ".join(", ".join(c.projects) for c in found))


@_step("then", 'there is a "KIND" conflict in "PERIOD"', parsers.parse('there is a "{kind}" conflict in "{period}"'))
def conflict_in(context: dict[str, Any], kind: str, period: str) -> None:
    found = _conflicts_of(context, kind)
    expect(any(period in c.periods for c in found), f"a {kind} conflict in {period}",
           lambda: f"periods {', '.join(sorted({p for c in found for p in c.periods}))}")


@_step("then", "there are no conflicts")
def no_conflicts(context: dict[str, Any]) -> None:
    report: ConflictReport = _needs(context, "report", "When its conflicts are checked")
    conflicts = report.conflicts
    expect(conflicts == [], "no conflicts", lambda: "; ".join(c.message for c in conflicts))


# ---------------------------------------------------------------------------- selection

@_step("given", "candidate projects")
def candidates(context: dict[str, Any], datatable: list[list[str]]) -> None:
    header, *rows = datatable
    projects: list[dict[str, str | list[str]]] = []
    for row in rows:
        cells = {h.strip(): v.strip() for h, v in zip(header, row) if v.strip()}
        lists = ("depends_on", "excludes", "requires_together")
        projects.append({key: _ids(cell) if key in lists else cell for key, cell in cells.items()})
    context["selection_input"] = {"projects": projects, "balance": []}


def _selection_input(context: dict[str, Any]) -> dict[str, Any]:
    selection_input: dict[str, Any] = _needs(context, "selection_input", "Given candidate projects")
    return selection_input


@_step("given", "a budget of 100", parsers.parse("a budget of {amount:g}"))
def a_budget(context: dict[str, Any], amount: float) -> None:
    _selection_input(context)["budget"] = amount


@_step("given", 'at least 30% of the cost goes to category "VALUE" | at most ... objective "VALUE"',
       parsers.re(r'(?P<bound>at least|at most) (?P<share>\d+)% of the cost goes to (?P<by>category|objective) '
                  r'"(?P<value>[^"]+)"'))
def balance_rule(context: dict[str, Any], bound: str, share: str, by: str, value: str) -> None:
    key = "min_share" if bound == "at least" else "max_share"
    _selection_input(context)["balance"].append({"by": by, "value": value, key: int(share) / 100})


@_step("when", "the portfolio is selected")
def selected(context: dict[str, Any], backend: str, policy_engines: Engines) -> None:
    context["selection"] = _engine(context, backend, policy_engines).select(_selection_input(context)).best


@_step("then", 'the selection is "A, C"', parsers.parse('the selection is "{ids}"'))
def selection_is(context: dict[str, Any], ids: str) -> None:
    selection = _needs(context, "selection", "When the portfolio is selected")
    expect(selection.selected == _ids(ids), f'the selection "{", ".join(_ids(ids))}"',
           lambda: f'"{", ".join(selection.selected)}" ({selection.status})')


@_step("then", 'no selection is possible, because "TEXT"', parsers.parse('no selection is possible, because "{text}"'))
def infeasible(context: dict[str, Any], text: str) -> None:
    selection = _needs(context, "selection", "When the portfolio is selected")
    expect(selection.status == "infeasible" and any(text in r for r in selection.reasons),
           f'no selection, because "{text}"', lambda: f"{selection.status}: {'; '.join(selection.reasons) or '-'}")


# ---------------------------------------------------------------------------- gates

@_step("given", 'the project record "FILE"', parsers.parse('the project record "{path}"'))
def given_project(context: dict[str, Any], path: str) -> None:
    context["project"] = _path(context, path)


@_step("when", 'it is reviewed at gate "GATE"', parsers.parse('it is reviewed at gate "{gate}"'))
def reviewed(context: dict[str, Any], backend: str, policy_engines: Engines, observer: Any, gate: str) -> None:
    project = _needs(context, "project", 'Given the project record "FILE"')
    engine = _engine(context, backend, policy_engines)
    context["gate_decision"] = engine.review_gate(project, gate)
    if observer is not None:
        observer.gate(engine, context["gate_decision"])


@_step("when", 'it is reviewed at gate "GATE" by "ROLE" overriding, because "JUSTIFICATION"',
       parsers.parse('it is reviewed at gate "{gate}" by "{role}" overriding, because "{why}"'))
def reviewed_with_override(context: dict[str, Any], backend: str, policy_engines: Engines, observer: Any, gate: str, role: str, why: str) -> None:
    project = _needs(context, "project", 'Given the project record "FILE"')
    engine = _engine(context, backend, policy_engines)
    try:
        context["gate_decision"] = engine.review_gate(project, gate, override={"role": role, "justification": why})
        context["refusal"] = None
    except PmoError as exc:
        if any(d.code != "override_refused" for d in exc.diagnostics):
            raise  # a missing file or a bad record is the scenario's error, not a refused override
        context["refusal"] = str(exc)
        return
    if observer is not None:
        observer.gate(engine, context["gate_decision"])


def _gate_decision(context: dict[str, Any]) -> GateDecision:
    decision: GateDecision = _needs(context, "gate_decision", 'When it is reviewed at gate "GATE"')
    return decision


@_step("then", 'the gate decision is "DECISION"', parsers.parse('the gate decision is "{decision}"'))
def gate_decision_is(context: dict[str, Any], decision: str) -> None:
    got = _gate_decision(context)
    expect(got.decision == decision, decision, lambda: f"{got.decision} ({'; '.join(got.reasons)})")


@_step("then", 'the reasons mention "TEXT"', parsers.parse('the reasons mention "{text}"'))
def reasons_mention(context: dict[str, Any], text: str) -> None:
    got = _gate_decision(context)
    expect(any(text in r for r in got.reasons), f'a reason mentioning "{text}"', lambda: "; ".join(got.reasons))


@_step("then", '"ROLE" decides', parsers.parse('"{role}" decides'))
def role_decides(context: dict[str, Any], role: str) -> None:
    got = _gate_decision(context)
    expect(role in got.approvers, f"{role} among the approvers", f"approvers {', '.join(got.approvers) or 'none'}")


@_step("then", 'the override is refused, because "TEXT"', parsers.parse('the override is refused, because "{text}"'))
def override_refused(context: dict[str, Any], text: str) -> None:
    refusal: str | None = context.get("refusal")
    expect(bool(refusal and text in refusal), f'the override refused, because "{text}"',
           refusal or "the override was accepted")


# ---------------------------------------------------------------------------- project health

@_step("given", "status reports")
def given_status_reports(context: dict[str, Any], datatable: list[list[str]]) -> None:
    header, *rows = datatable
    context["status"] = [{h.strip(): v for h, v in zip(header, row)} for row in rows]


@_step("when", "their health is rated | their health is rated as of YYYY-MM-DD",
       parsers.re(r"their health is rated(?: as of (?P<day>\d{4}-\d{2}-\d{2}))?$"))
def health_rated(context: dict[str, Any], backend: str, policy_engines: Engines, day: str | None = None) -> None:
    rows = _needs(context, "status", "Given status reports")
    health = _engine(context, backend, policy_engines).policy.health or DEFAULT_HEALTH
    data = status_from_rows([[Row(row, line, "<scenario>") for line, row in enumerate(rows, 2)]],
                            calendar=health.calendar)
    context["health"] = assess(data, health, health_backend(health, backend),
                               dt.date.fromisoformat(day) if day else None)
    context["health_rules"] = [rule.id for rule in health.rules]


def _health_of(context: dict[str, Any], ident: str) -> ProjectHealth:
    report: HealthReport = _needs(context, "health", "When their health is rated")
    found = next((p for p in report.projects if p.project == ident), None)
    if found is None:
        errors = [x.message for e in report.errors if e.project == ident for x in e.errors]
        raise StepFailed(f"a rated project {ident}", "an error row: " + "; ".join(errors) if errors else "no such project")
    return found


def _rating(project: ProjectHealth) -> str:
    fired = ", ".join(f"{r.id} ({r.rating})" for r in project.rules) or "no rule fired"
    return f"{project.rating or 'unrated'} ({fired})"


@_step("then", '"ID" is rated "red" | "ID" is rated "red" by health rule "RULE"',
       parsers.re(r'"(?P<ident>[^"]+)" is rated "(?P<rating>red|amber|green|unrated)"'
                  r'(?: by health rule "(?P<rule>[^"]+)")?$'))
def rated(context: dict[str, Any], ident: str, rating: str, rule: str | None = None) -> None:
    project = _health_of(context, ident)
    expect((project.rating or "unrated") == rating, rating, lambda: _rating(project))
    if rule is not None:
        _known_health_rule(context, rule)
        expect(any(r.id == rule and r.rating == rating for r in project.rules), f"{rating} by {rule}",
               lambda: _rating(project))


@_step("then", 'health rule "RULE" does not fire for "ID"', parsers.parse('health rule "{rule}" does not fire for "{ident}"'))
def health_rule_silent(context: dict[str, Any], rule: str, ident: str) -> None:
    _known_health_rule(context, rule)
    project = _health_of(context, ident)
    expect(all(r.id != rule for r in project.rules), f"{rule} not firing", lambda: _rating(project))


@_step("then", '"ID" is escalated to "WHO"', parsers.parse('"{ident}" is escalated to "{who}"'))
def escalated(context: dict[str, Any], ident: str, who: str) -> None:
    project = _health_of(context, ident)
    expect(who in project.escalate_to, f"escalated to {who}", f"escalated to {', '.join(project.escalate_to) or 'nobody'}")


@_step("then", 'the "FIGURE" of "ID" is 0.875', parsers.parse('the "{figure}" of "{ident}" is {value}'))
def figure_is(context: dict[str, Any], figure: str, ident: str, value: str) -> None:
    project = _health_of(context, ident)
    expect(figure in project.record, f"a health figure named {figure}", did_you_mean(figure, project.record) or "none")
    got = project.record[figure]
    try:
        wanted = Decimal(value)
    except InvalidOperation:
        raise StepFailed("a number such as 0.875", repr(value)) from None
    exponent = wanted.as_tuple().exponent  # "n", "N" or "F" for NaN and infinity
    places = -exponent if isinstance(exponent, int) else 0
    shown = None if got is None else round(Decimal(got), max(places, 0))
    expect(shown == wanted, f"{figure} {value} (to {max(places, 0)} places)",
           f"{got} ({project.why.get(figure, '')})" if got is None else str(got))


def _known_health_rule(context: dict[str, Any], rule: str) -> None:
    known = context.get("health_rules", [])
    if rule not in known:
        hint = did_you_mean(rule, known)
        expect(False, f"a health rule named {rule}", "no such rule" + (f"; {hint}" if hint else ""))


# ---------------------------------------------------------------------------- for conftests

_FIXTURES = ("scenario_defaults", "backend", "observer", "policy_engines", "context")


def conftest_fixtures() -> dict[str, Any]:
    """Every generic step and fixture, for a conftest: ``globals().update(conftest_fixtures())``."""
    return {name: value for name, value in globals().items() if name in _FIXTURES or name.startswith("pytestbdd_")}
