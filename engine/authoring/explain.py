"""Explain one decision: every rule's condition evaluated on the proposal, the score, and what would change it.

    explanation = engine.explain({"id": "PRJ-0042", "budget": 400_000, ...})
    print(explanation.to_text())       # for people
    explanation.to_json()              # plain data

The decision is the engine's own (its back end, its derived values). The conditions are shown
with the reference evaluator's three-valued logic: each comparison with the proposal's values,
``budget (400,000) > 250,000: true``, ``sponsor (missing) == null: true``, and each ``and`` /
``or`` / ``not`` with its parts. Conditions are printed from the compiled tree, so a library
rule's parameters and ``today()`` appear as the values they stand for.

**Score of one proposal.** A criterion normalised ``minmax`` is scaled over the proposals ranked
together; alone, a proposal would be both the minimum and the maximum. Such criteria are left out
(their raw value is shown, without a normalised value or contribution) and the score is the
*partial* score of the other criteria; ``pmo rank`` gives the full score within a round.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeGuard

from engine.authoring.counterfactuals import Counterfactual, decide_safely, exact, find_counterfactuals
from engine.backends import make_backend
from engine.compile.policy import CompiledPolicy
from engine.decision import Decision, RowError
from engine.expr.evaluate import evaluate
from engine.expr.lookup import LookupTable
from engine.expr.nodes import Arith, Call, Compare, Const, Field, In, ListOf, Logic, Node, Unary
from engine.expr.values import display
from engine.intake.decide import Intake
from engine.io.readers import Row
from engine.scoring.ranking import Contribution, build_ranking, model_for

if TYPE_CHECKING:
    from engine.scoring.panel import PanelResult, Rating

_MARK = {"reject": "✗", "review": "?", "flag": "!"}


@dataclass
class Part:
    """A condition, or one part of it, with its value on the proposal: true, false or unknown."""

    text: str  # leaves show the proposal's values: "budget (400,000) > 250,000"
    value: str
    parts: list[Part] = field(default_factory=list)  # the items of an and / or, the operand of a not

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "value": self.value, "parts": [p.to_json() for p in self.parts]}

    def lines(self, indent: int) -> list[str]:
        head = " " * indent + f"{self.text}: {self.value}"
        return [head] + [line for p in self.parts for line in p.lines(indent + 2)]


@dataclass
class RuleTrace:
    """One intake rule on one proposal."""

    rule: str
    effect: str
    source: str  # file:line
    origin: str | None  # LIBRARY/RULE for an included library rule
    route: str | None
    fired: bool  # from the engine's decision
    condition: Part

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "effect": self.effect, "source": self.source, "origin": self.origin,
                "route": self.route, "fired": self.fired, "value": self.condition.value,
                "condition": self.condition.to_json()}


@dataclass
class ScoreExplanation:
    method: str
    score: float | None  # None when a criterion could not be computed for one proposal alone
    partial_score: float | None  # the sum of the contributions that could be computed
    breakdown: list[Contribution]
    left_out: list[str] = field(default_factory=list)  # minmax criteria: relative to a round
    note: str | None = None
    panel: list[PanelResult] = field(default_factory=list)  # one per panel criterion (with ratings)

    def to_json(self) -> dict[str, Any]:
        rated = {"panel": [p.to_json() for p in self.panel]} if self.panel else {}
        return {"method": self.method, "score": self.score, "partial_score": self.partial_score,
                "breakdown": [asdict(c) for c in self.breakdown], "left_out": self.left_out, "note": self.note,
                **rated}


@dataclass
class Explanation:
    decision: Decision
    rules: list[RuleTrace]
    score: ScoreExplanation | None
    counterfactuals: list[Counterfactual]
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str | None:
        return self.decision.id

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {"id": d.id, "decision": d.decision, "routes": d.routes,
                "findings": [f.model_dump(mode="json") for f in d.findings],
                "errors": [e.model_dump(mode="json") for e in d.errors],
                "rules": [r.to_json() for r in self.rules], "derived": d.derived,
                "score": self.score.to_json() if self.score else None,
                "counterfactuals": [c.to_json() for c in self.counterfactuals], "notes": self.notes,
                "policy_hash": d.policy_hash, "as_of": d.as_of, "source": d.source, "row": d.row}

    def to_text(self) -> str:
        d = self.decision
        where = f"{d.source}, row {d.row}" if d.source and d.row else d.source or (f"row {d.row}" if d.row else None)
        lines = [f"{d.id or '(no id)'}: {d.decision.upper()}" + (f"  routes: {', '.join(d.routes)}" if d.routes and d.decision == "review" else "")
                 + f"   (policy {d.policy_hash}, as of {d.as_of}" + (f", {where})" if where else ")")]
        lines += [f"  {e.column + ': ' if e.column else ''}{e.message}" for e in d.errors]
        lines += [f"  {_MARK[f.effect]} {f.rule}: {f.reason}" for f in d.findings]
        if self.rules:
            lines += ["", "Rules, in policy order (* fired):"]
            for r in self.rules:
                origin = f"  ({r.origin})" if r.origin else ""
                lines.append(f"{'*' if r.fired else ' '} {r.rule}  {r.effect}  {r.source}{origin}")
                lines += r.condition.lines(4)
        if d.derived:
            lines += ["", "Derived values:"]
            width = max(map(len, d.derived))
            lines += [f"  {name:<{width}}  {display(value)}" for name, value in d.derived.items()]
        if d.decision != "error":
            lines += ["", _score_text(self.score)]
            if self.score is not None:
                lines += [f"  {c.criterion:<22} raw {_number(c.raw):>12}  normalised {_number(c.normalised):>6}  "
                          f"weight {_number(c.weight):>6}  contribution {_number(c.contribution)}"
                          for c in self.score.breakdown]
                for p in self.score.panel:  # each rater's score of a panel criterion
                    lines += ["", f"Panel {p.summary()}:"]
                    lines += [f"  {'!' if r.rater in p.disagreed else ' '} {r.rater:<16} {r.role or '-':<12} "
                              f"{_number(float(r.score)):>6}" + (f"  {r.comment}" if r.comment else "")
                              for r in p.ratings] or ["    (no ratings)"]
            lines += ["", "What would change the decision:"]
            lines += [f"  {c.sentence}" for c in self.counterfactuals] or ["  (nothing found)"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def explain(target: CompiledPolicy | Intake, proposal: Mapping[str, Any] | Row, *,
            row: int | None = None, source: str | None = None,
            ratings: Mapping[str, list[Rating]] | None = None) -> Explanation:
    """Explain the decision on one proposal (a mapping of fields, or a Row from a reader).

    ``target``: an Intake (its own back end decides; ``Engine.explain`` passes its own) or a CompiledPolicy
    (decided with the reference back end). An unreadable proposal gives an error decision with its errors. ``ratings``: this
    proposal's checked ratings by panel criterion (engine/scoring/panel.py), combined and listed rater by rater.
    """
    intake = _intake_of(target)
    if isinstance(proposal, Row):
        row, source = proposal.row, proposal.source
        if proposal.error is not None:
            return Explanation(intake.error([proposal.error], proposal.data, row, source), [], None, [])
        proposal = proposal.data or {}
    given: object = proposal  # an application may pass anything: not a mapping is an error decision
    if not isinstance(given, Mapping):
        error = RowError(row=row, code="not_an_object", message=f"expected a mapping of fields, got "
                         f"{type(given).__name__}")
        return Explanation(intake.error([error], row=row, source=source), [], None, [])
    decision, record = decide_safely(intake, proposal, row, source)
    if record is None:
        return Explanation(decision, [], None, [])
    fired = {f.rule for f in decision.findings}
    rules = [RuleTrace(r.id, r.effect, r.where, r.origin, r.route, r.id in fired, trace(r.condition, record))
             for r in intake.policy.rules]
    counterfactuals, notes = find_counterfactuals(intake, proposal, decision, record)
    return Explanation(decision, rules, _score(intake.policy, decision, record, ratings), counterfactuals, notes)


def _intake_of(target: Any) -> Intake:
    if isinstance(target, Intake):
        return target
    if isinstance(target, CompiledPolicy):
        return Intake(target, make_backend("reference", target))
    raise TypeError(f"explain() needs a CompiledPolicy or an Intake, not {type(target).__name__}")


# ---------------------------------------------------------------------------- conditions

def trace(node: Node, record: Mapping[str, Any]) -> Part:
    """A condition with each part's value on the record; leaves show the values they compare."""
    value = _truth(evaluate(node, record))
    if isinstance(node, Logic):
        return Part(expression_text(node), value, [trace(item, record) for item in node.items])
    if isinstance(node, Unary) and node.op == "not" and isinstance(node.operand, Logic):
        return Part(expression_text(node), value, [trace(node.operand, record)])
    return Part(_leaf_text(node, record), value)


def _truth(value: Any) -> str:
    return "unknown" if value is None else "true" if value else "false"


def _leaf_text(node: Node, record: Mapping[str, Any]) -> str:
    if isinstance(node, Compare):
        return f"{_side(node.left, record)} {node.op} {_side(node.right, record)}"
    if isinstance(node, In):
        return f"{_side(node.item, record)} {'not in' if node.negated else 'in'} {_side(node.container, record)}"
    if isinstance(node, Unary) and node.op == "not":
        if _is_call(node.operand, "in_table"):
            return f"{_side(node.operand.args[1], record)} not in {_table(node.operand)}"
        inner = _leaf_text(node.operand, record)
        return f"not {inner}" if isinstance(node.operand, (Call, Field, Const)) else f"not ({inner})"
    if _is_call(node, "in_table"):
        return f"{_side(node.args[1], record)} in {_table(node)}"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(_side(a, record) if isinstance(a, Field) else expression_text(a) for a in node.args)})"
    return _side(node, record)


def _side(node: Node, record: Mapping[str, Any]) -> str:
    """An operand as text with its value: ``budget (400,000)``, ``benefit / budget (= 0.3913)``."""
    if isinstance(node, Const):
        return expression_text(node)
    if isinstance(node, Field):
        return f"{node.name} ({_value_text(record.get(node.name))})"
    text = expression_text(node)
    return f"{text} (= {_value_text(evaluate(node, record))})" if isinstance(node, (Arith, Call, Unary)) else text


def _value_text(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, tuple):
        text = "[" + ", ".join(_value_text(v) for v in value) + "]"
    else:
        text = _decimal_text(value) if isinstance(value, Decimal) else display(value)
    return text if len(text) <= 48 else text[:47] + "…"


def _decimal_text(value: Decimal) -> str:
    """Exact while short (2,300,000; 0.125; 249,999.99); long fractions rounded as reasons show them (0.3913)."""
    exponent = value.as_tuple().exponent
    return exact(value) if isinstance(exponent, int) and exponent >= -4 else display(value)


_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}


def expression_text(node: Node) -> str:
    """A typed expression tree as text, in the policy language (constants folded, parameters filled in)."""
    if isinstance(node, Const):
        return _const_text(node.value)
    if isinstance(node, Field):
        return node.name
    if isinstance(node, Logic):
        # Nested and / or always get parentheses: people misread "a or b and c".
        return f" {node.op} ".join(f"({expression_text(i)})" if isinstance(i, Logic) else
                                   _wrapped(i, _PRECEDENCE[node.op]) for i in node.items)
    if isinstance(node, Unary):
        if node.op == "not":  # "not (risk > 1)": the parentheses Python does not need, people do
            operand = node.operand
            if _is_call(operand, "in_table"):
                return f"{_wrapped(operand.args[1], _PRECEDENCE['compare'], strict=True)} not in {_table(operand)}"
            return "not " + (f"({expression_text(operand)})" if isinstance(operand, (Logic, Compare, In))
                             else _wrapped(operand, _PRECEDENCE["not"]))
        return "-" + _wrapped(node.operand, _PRECEDENCE["neg"])
    if isinstance(node, Compare):
        level = _PRECEDENCE["compare"]
        return f"{_wrapped(node.left, level, strict=True)} {node.op} {_wrapped(node.right, level, strict=True)}"
    if isinstance(node, In):
        level = _PRECEDENCE["compare"]
        op = "not in" if node.negated else "in"
        return f"{_wrapped(node.item, level, strict=True)} {op} {_wrapped(node.container, level, strict=True)}"
    if isinstance(node, Arith):
        level = _PRECEDENCE[node.op]
        right_strict = node.op in "-/"
        return f"{_wrapped(node.left, level)} {node.op} {_wrapped(node.right, level, strict=right_strict)}"
    if isinstance(node, ListOf):
        return "[" + ", ".join(expression_text(i) for i in node.items) + "]"
    if _is_call(node, "in_table"):  # written "key in table"
        return f"{_wrapped(node.args[1], _PRECEDENCE['compare'], strict=True)} in {_table(node)}"
    if _is_call(node, "level") and isinstance(node.args[0], Field):  # written alignment["objective"]
        return f"{node.args[0].name}[{expression_text(node.args[1])}]"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(expression_text(a) for a in node.args)})"
    return type(node).__name__


def _is_call(node: Node, name: str) -> TypeGuard[Call]:
    return isinstance(node, Call) and node.name == name


def _table(call: Call) -> LookupTable:
    """The table of ``key in table``, compiled to ``in_table(table, key)`` with the table a constant (expr.check)."""
    table = call.args[0]
    assert isinstance(table, Const) and isinstance(table.value, LookupTable)
    return table.value


def _level(node: Node) -> int:
    if isinstance(node, Logic):
        return _PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return _PRECEDENCE["not" if node.op == "not" else "neg"]
    if isinstance(node, (Compare, In)) or _is_call(node, "in_table"):
        return _PRECEDENCE["compare"]
    if isinstance(node, Arith):
        return _PRECEDENCE[node.op]
    return 99


def _wrapped(node: Node, parent: int, strict: bool = False) -> str:
    """Parenthesise a child that binds looser than its parent (or as loosely, where order matters)."""
    text = expression_text(node)
    level = _level(node)
    return f"({text})" if level < parent or (strict and level == parent and level < 99) else text


def _const_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return "[" + ", ".join(_const_text(v) for v in value) + "]"
    return str(value)


# ---------------------------------------------------------------------------- score

def _score(policy: CompiledPolicy, decision: Decision, record: Mapping[str, Any],
           ratings: Mapping[str, list[Rating]] | None = None) -> ScoreExplanation | None:
    scoring = policy.scoring
    if scoring is None:
        return None
    if decision.decision not in ("accept", "review"):
        return ScoreExplanation(scoring.method, None, None, [], note=f"not scored: {decision.decision}ed at intake; only "
                                "proposals that pass (accept or review) are scored")
    models, model_note = policy.scoring_models, None
    if len(models) > 1 or (models and models[0].condition is not None):  # the model that scores this proposal
        model, why = model_for(models, record)
        if model is None:
            return ScoreExplanation(scoring.method, None, None, [], note=f"not scored: {why}")
        scoring, model_note = model.scoring, f"scored by model {model.id} ({model.where})"
    ranking = build_ranking(scoring, [(decision, record)], policy.policy_hash, policy.today.isoformat(),
                            ratings={decision.id or "": ratings} if ratings is not None else None)
    entry = ranking.entries[0]
    if entry.rank is None:
        return ScoreExplanation(scoring.method, None, None, [], note=entry.reason, panel=entry.panel)
    relative = {c.id for c in scoring.criteria if c.normalise == "minmax"}
    if not relative:
        return ScoreExplanation(scoring.method, entry.score, entry.score, entry.breakdown, note=model_note,
                                panel=entry.panel)
    breakdown = [Contribution(c.criterion, c.raw, None, c.weight, None, c.detail) if c.criterion in relative else c
                 for c in entry.breakdown]
    partial = sum(c.contribution for c in breakdown if c.contribution is not None)
    left_out = [c.criterion for c in breakdown if c.criterion in relative]
    missing_weight = sum(c.weight or 0 for c in breakdown if c.criterion in relative) * 100
    note = (f"{', '.join(left_out)} {'is' if len(left_out) == 1 else 'are'} normalised min-max over the proposals "
            f"ranked together, so {'it has' if len(left_out) == 1 else 'they have'} no value for one proposal alone: "
            f"the partial score is out of {100 - missing_weight:g}; rank it with others (pmo rank) for the full score")
    note = f"{model_note}; {note}" if model_note else note
    return ScoreExplanation(scoring.method, None, partial, breakdown, left_out, note, entry.panel)


def _score_text(score: ScoreExplanation | None) -> str:
    if score is None:
        return "Score: none (the policy set has no scoring policy)"
    if score.score is not None:
        return f"Score ({score.method}): {score.score:.2f}"
    if score.partial_score is not None:
        return f"Partial score ({score.method}): {score.partial_score:.2f}; {score.note}"
    return f"Score: none; {score.note}"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
