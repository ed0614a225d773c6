"""Counterfactuals: small changes to a proposal that would change its decision, each verified.

A rule fires when its condition is *true*. To stop a fired rule, the search makes the condition's
negation true: the negation is put in negation normal form (exact under three-valued logic, as in
``engine.backends.rete.lower``), and then

- a leaf comparing an input field with a value (``budget > 250_000``, ``end_date < start_date``)
  gives the exact boundary: a :class:`Need` such as ``budget <= 250,000``; ``x == null`` negated
  is "give x a value";
- a leaf over derived values or arithmetic (``benefit / budget < 1``) is searched numerically:
  each number or date field it reads is moved up and down until the leaf flips (exponential steps,
  then bisection to the field's granularity);
- an ``and`` needs all its parts (their needs are merged per field); an ``or`` needs any one.

For a reject, every fired reject rule must stop; for a review, every fired review and reject rule
(the goal is accept); for an accept, any one reject or review rule that would start firing. The
needs of several rules are merged per field, concrete values are picked as close as possible to the
proposal's own (respecting ``>`` against ``>=``, whole numbers, cents for money, days for dates),
and **every candidate is decided again by the engine**: only candidates whose decision really
changes are kept. When a change makes another rule fire (lowering a budget into another approval
band), the search extends that candidate with what stops the new rule, up to three rounds.

Out of reach: alignment and list fields (their values are structured), text patterns
(``matches``), and values that only an erased field would change (the search never removes a value).
"""
from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from engine.decision import Decision, RowError
from engine.expr.domains import Span
from engine.expr.evaluate import evaluate
from engine.expr.nodes import BOOL, NEGATE, SWAP, Compare, Const, Field, In, Logic, Node, Unary, fields_of, walk
from engine.expr.values import display, plain
from engine.intake.decide import Intake

if TYPE_CHECKING:
    from engine.compile.policy import CompiledRule

ChangeSet = dict[str, "Need"]  # field -> what it must satisfy
# (counterfactual, None, None) when a change reaches the goal, (None, decision, typed record) when it does not
Verified = tuple["Counterfactual | None", Decision | None, dict[str, Any] | None]

_SEVERITY = {"accept": 0, "review": 1, "reject": 2, "error": 3}
_ORDERED = {"number": "number", "money": "money", "integer": "integer", "date": "date"}
_DISCRETE = {"bool", "enum", "string"}
ANY_TEXT = "(any text)"  # the example value given to a text field that only needs a value

MAX_ALTERNATIVES = 24  # per condition, the cheapest ways to make it true
MAX_VALUE_COMBINATIONS = 12  # per candidate, when fields that were missing have several possible values
ROUNDS = 3  # a candidate can be extended twice when its change makes another rule fire
MAX_SEARCH_STEPS = 50  # exponential search: up to 2**50 units away
LARGEST = Decimal("1e15")


# ---------------------------------------------------------------------------- what a field must satisfy

@dataclass(frozen=True)
class Need:
    """What a field must satisfy: have a value (or stay missing), lie within bounds, be among or outside values.

    The bounds are a :class:`~engine.expr.domains.Span`, the one interval of the analyses (lint, tables,
    counterfactuals): merging two needs is intersecting their spans."""

    present: bool = True
    span: Span = Span()
    among: frozenset[Any] | None = None
    outside: frozenset[Any] = frozenset()

    @property
    def low(self) -> Any:
        return self.span.low

    @property
    def high(self) -> Any:
        return self.span.high

    @property
    def low_open(self) -> bool:
        return self.span.low is not None and not self.span.low_in

    @property
    def high_open(self) -> bool:
        return self.span.high is not None and not self.span.high_in

    def admits(self, value: Any) -> bool:
        if value is None or not self.present:
            return value is None and not self.present
        try:
            if not self.span.contains(value):
                return False
        except TypeError:  # a value of another type than the bound: cannot satisfy it
            return False
        return (self.among is None or value in self.among) and value not in self.outside

    def merge(self, other: Need) -> Need | None:
        """Both needs at once, or None when no value satisfies both."""
        if self.present != other.present:
            return None
        try:
            span = self.span & other.span
            if span.empty:
                return None
        except TypeError:
            return None
        among = self.among if other.among is None else other.among if self.among is None else self.among & other.among
        merged = Need(self.present, span, among, self.outside | other.outside)
        if among is not None and not any(merged.admits(v) for v in among):
            return None
        return merged


def _need(op: str, value: Any) -> Need:
    """The need on a field so that ``field op value`` is true."""
    if op == "==":
        return Need(among=frozenset([value]))
    if op == "!=":
        return Need(outside=frozenset([value]))
    if op in ("<", "<="):
        return Need(span=Span(high=value, high_in=op == "<="))
    return Need(span=Span(low=value, low_in=op == ">="))


def _merge_sets(a: ChangeSet, b: ChangeSet) -> ChangeSet | None:
    out = dict(a)
    for name, need in b.items():
        if name in out:
            merged = out[name].merge(need)
            if merged is None:
                return None
            out[name] = merged
        else:
            out[name] = need
    return out


# ---------------------------------------------------------------------------- the result

@dataclass(frozen=True)
class Change:
    field: str
    before: Any  # the proposal's typed value (None: missing)
    after: Any
    example: bool = False  # the field only needed a value: this one is an example

    def phrase(self) -> str:
        if self.before is None:
            return f"{self.field} were given" + ("" if self.after == ANY_TEXT else f" (e.g. {exact(self.after)})")
        if isinstance(self.after, (Decimal, dt.date)):
            verb = "raised" if self.after > self.before else "lowered"
            if isinstance(self.after, dt.date):
                verb = "moved later" if self.after > self.before else "moved earlier"
            return f"{self.field} were {verb} from {exact(self.before)} to {exact(self.after)}"
        return f"{self.field} were {exact(self.after)} instead of {exact(self.before)}"

    def to_json(self) -> dict[str, Any]:
        out = {"field": self.field, "from": plain(self.before), "to": plain(self.after)}
        if self.example:
            out["example"] = True
        return out


@dataclass(frozen=True)
class Counterfactual:
    """Changes that, applied together, make the engine decide ``decision`` instead."""

    changes: tuple[Change, ...]
    decision: str
    fires: tuple[str, ...] = ()  # the reject and review rules that fire after the change

    @property
    def sentence(self) -> str:
        because = f" ({', '.join(self.fires)})" if self.fires else ""
        return f"{self.decision}{because} if " + " and ".join(c.phrase() for c in self.changes)

    def apply(self, proposal: Mapping[str, Any]) -> dict[str, Any]:
        """The proposal with these changes (typed values, which every reader accepts)."""
        return {**proposal, **{c.field: c.after for c in self.changes}}

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "changes": [c.to_json() for c in self.changes], "fires": list(self.fires),
                "sentence": self.sentence}


# ---------------------------------------------------------------------------- negation normal form

def negated(node: Node) -> Node:
    """``not node`` in negation normal form (``not`` only on leaves that have no negated comparison)."""
    if isinstance(node, Logic):
        return _typed(Logic(node.offset, "or" if node.op == "and" else "and", [negated(i) for i in node.items]))
    if isinstance(node, Unary) and node.op == "not":
        return normal_form(node.operand)
    if isinstance(node, Compare):
        return _typed(Compare(node.offset, NEGATE[node.op], node.left, node.right))
    if isinstance(node, In):
        return _typed(In(node.offset, node.item, node.container, not node.negated))
    if isinstance(node, Const) and isinstance(node.value, bool):
        return _typed(Const(node.offset, not node.value))
    return _typed(Unary(node.offset, "not", node))


def normal_form(node: Node) -> Node:
    if isinstance(node, Logic):
        return _typed(Logic(node.offset, node.op, [normal_form(i) for i in node.items]))
    if isinstance(node, Unary) and node.op == "not":
        return negated(node.operand)
    return node


def _typed(node: Node) -> Node:
    node.type = BOOL
    return node


# ---------------------------------------------------------------------------- the search

class Search:
    """Counterfactuals for one decided proposal."""

    def __init__(self, intake: Intake, raw: Mapping[str, Any], decision: Decision, record: Mapping[str, Any]):
        self.intake = intake
        self.policy = intake.policy
        self.raw = dict(raw)
        self.decision = decision
        self.record = record
        self.kinds = {name: spec.type for name, spec in self.policy.fields.items()}
        self.derived = dict(self.policy.derived)
        self._inputs: dict[str, frozenset[str]] = {}
        self._thresholds = _thresholds(self.policy.rules, self.kinds)
        self._decided: dict[tuple[tuple[str, str], ...], tuple[Decision, dict[str, Any] | None]] = {}
        self.unreachable: list[str] = []  # rules that no change within reach stops
        self.more = 0  # verified counterfactuals found beyond the ones shown

    # -- goals

    def goal(self, outcome: str) -> bool:
        if self.decision.decision == "accept":
            return outcome in ("review", "reject")
        if self.decision.decision == "review":
            return outcome == "accept"
        return outcome in ("accept", "review")

    def blocking(self, decision: Decision) -> list[str]:
        """The fired rules that keep the decision from the goal."""
        effects = ("reject",) if self.decision.decision == "reject" else ("reject", "review")
        return list(dict.fromkeys(f.rule for f in decision.findings if f.effect in effects))

    # -- the walk

    def run(self, limit: int = 8) -> list[Counterfactual]:
        if self.decision.decision == "error":
            return []
        rules = {rule.id: rule for rule in self.policy.rules}
        if self.decision.decision == "accept":
            candidates: list[ChangeSet] = []
            for rule in self.policy.rules:
                if rule.effect in ("reject", "review"):
                    candidates += self.make_true(rule.condition, self.record)
        else:
            candidates = self._stop_all(self.blocking(self.decision), self.record, rules)
        found: dict[tuple[tuple[str, str], ...], Counterfactual] = {}
        for _ in range(ROUNDS):
            extended: list[ChangeSet] = []
            for changes in self._cheapest(candidates, self.record, 4 * MAX_ALTERNATIVES):
                result = self._verify(changes)
                if result is None:
                    continue
                counterfactual, decision, record = result
                if counterfactual is not None:
                    found.setdefault(tuple(sorted((c.field, repr(c.after)) for c in counterfactual.changes)),
                                     counterfactual)
                elif decision is not None and record is not None and decision.decision != "error":
                    for more in self._stop_all(self.blocking(decision), record, rules):
                        merged = _merge_sets(changes, more)
                        if merged is not None:
                            extended.append(merged)
            candidates = extended
            if not candidates:
                break
        kept = _smallest(list(found.values()), self.record)
        self.more = max(0, len(kept) - limit)
        return kept[:limit]

    def _stop_all(self, rule_ids: list[str], record: Mapping[str, Any],
                  rules: Mapping[str, CompiledRule]) -> list[ChangeSet]:
        combined: list[ChangeSet] = [{}]
        for rule_id in rule_ids:
            ways = self.make_true(negated(rules[rule_id].condition), record, lenient=True)
            if not ways:
                if record is self.record and rule_id not in self.unreachable:
                    self.unreachable.append(rule_id)
                return []
            combined = self._cheapest(_product(combined, ways), record)
        return combined

    def make_true(self, node: Node, record: Mapping[str, Any], lenient: bool = False) -> list[ChangeSet]:
        """The ways (cheapest first) to make a condition in negation normal form true.

        ``lenient``: unknown will do. To stop a rule, its condition need not become false, only not true; the
        negation of a part that is unknown (``risk`` missing in ``not (1 <= risk <= 5) or ...``) is unknown
        too, and needs no change."""
        if lenient and evaluate(node, record) is None:
            return [{}]
        if isinstance(node, Logic):
            if node.op == "and":
                combined: list[ChangeSet] = [{}]
                for item in node.items:
                    ways = self.make_true(item, record, lenient)
                    if not ways:
                        return []
                    combined = self._cheapest(_product(combined, ways), record)
                return combined
            return self._cheapest([w for item in node.items for w in self.make_true(item, record, lenient)], record)
        return self._leaf(node, record)

    def _leaf(self, node: Node, record: Mapping[str, Any]) -> list[ChangeSet]:
        holds = evaluate(node, record) is True
        if isinstance(node, Const):
            return [{}] if node.value is True else []
        if isinstance(node, Field) and self._settable(node.name) and self.kinds[node.name] == "bool":
            return [{node.name: Need(among=frozenset([True]))}]
        if isinstance(node, Unary) and isinstance(node.operand, Field) and self._settable(node.operand.name) \
                and self.kinds[node.operand.name] == "bool":
            return [{node.operand.name: Need(among=frozenset([False]))}]
        if isinstance(node, Compare):
            ways = self._comparison(node, record)
            if ways:
                return ways[:1] if holds else ways
        if isinstance(node, In) and isinstance(node.item, Field) and self._settable(node.item.name) \
                and isinstance(node.container, Const) and node.container.value is not None:
            values = frozenset(node.container.value)
            return [{node.item.name: Need(outside=values) if node.negated else Need(among=values)}]
        if holds:
            return [{}]
        return self._search(node, record)

    def _comparison(self, node: Compare, record: Mapping[str, Any]) -> list[ChangeSet]:
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(other, Const) and other.type == "null":  # x == null, x != null
                if isinstance(side, Field) and self._settable(side.name):
                    return [{side.name: Need(present=node.op != "==")}]
                return []
        ways = []
        for side, other, op in ((node.left, node.right, node.op), (node.right, node.left, SWAP[node.op])):
            if isinstance(side, Field) and self._settable(side.name) and side.name not in self._reads(other):
                value = evaluate(other, record)
                if value is not None:
                    ways.append({side.name: _need(op, value)})
        return ways

    def _search(self, node: Node, record: Mapping[str, Any]) -> list[ChangeSet]:
        """Move each number or date field the leaf reads up and down until the leaf holds."""
        ways = []
        for name in sorted(self._reads(node)):
            if not self._settable(name) or self.kinds[name] not in _ORDERED or record.get(name) is None:
                continue
            for direction in (1, -1):
                bound = self._boundary(node, record, name, direction)
                if bound is not None:
                    ways.append({name: Need(span=Span(low=bound, low_in=True)) if direction > 0
                                 else Need(span=Span(high=bound, high_in=True))})
        return ways

    def _boundary(self, node: Node, record: Mapping[str, Any], name: str, direction: int) -> Any:
        start, unit = record[name], _unit(self.kinds[name])

        def value_at(n: int) -> Any:
            return _shift(start, direction * n, unit)

        def holds(n: int) -> bool:
            value = value_at(n)
            return value is not None and evaluate(node, self._with(record, name, value)) is True

        below, n = 0, 1
        for _ in range(MAX_SEARCH_STEPS):
            if value_at(n) is None:
                return None
            if holds(n):
                break
            below, n = n, n * 2
        else:
            return None
        while n - below > 1:  # the leaf is false at `below` steps and true at `n`: bisect to one unit
            middle = (n + below) // 2
            below, n = (below, middle) if holds(middle) else (middle, n)
        return value_at(n)

    def _with(self, record: Mapping[str, Any], name: str, value: Any) -> dict[str, Any]:
        changed = dict(record)
        changed[name] = value
        for derived, node in self.policy.derived:
            if name in self._reads(node):
                changed[derived] = evaluate(node, changed)
        return changed

    def _reads(self, node: Node) -> frozenset[str]:
        """The input fields a node reads, through derived values."""
        out: set[str] = set()
        for name in fields_of(node):
            if name in self.derived:
                if name not in self._inputs:
                    self._inputs[name] = self._reads(self.derived[name])
                out |= self._inputs[name]
            else:
                out.add(name)
        return frozenset(out)

    def _settable(self, name: str) -> bool:
        kind = self.kinds.get(name)
        return name != self.policy.id_field and (kind in _ORDERED or kind in _DISCRETE)

    def _cheapest(self, ways: Iterable[ChangeSet], record: Mapping[str, Any],
                  keep: int = MAX_ALTERNATIVES) -> list[ChangeSet]:
        unique = {_key(w): w for w in ways}
        return sorted(unique.values(), key=lambda w: sum(not n.admits(record.get(f)) for f, n in w.items()))[:keep]

    # -- concrete values, verified

    def _verify(self, changes: ChangeSet) -> Verified | None:
        """(counterfactual, None, None) when the change reaches the goal; (None, decision, record) when it does not;
        None when no value satisfies the needs or nothing would change."""
        options = []
        for name, need in changes.items():
            values = self._values(name, need)
            if not values:
                return None
            options.append([(name, v) for v in values])
        tried = []
        for combination in itertools.islice(itertools.product(*options), MAX_VALUE_COMBINATIONS):
            assignment = [(n, v) for n, v in combination if not _same(v, self.record.get(n))]
            if not assignment:
                return None
            decision, record = self._decide(assignment)
            tried.append((assignment, decision, record))
        reaching = [t for t in tried if self.goal(t[1].decision)]
        if not reaching:
            return None, tried[0][1], tried[0][2]
        assignment, decision, _ = min(reaching, key=lambda t: _SEVERITY[t[1].decision]
                                      if self.decision.decision != "accept" else -_SEVERITY[t[1].decision])
        made = tuple(Change(n, self.record.get(n), v, self.record.get(n) is None and changes[n].among is None
                            and changes[n].low is None and changes[n].high is None) for n, v in assignment)
        fires = tuple(dict.fromkeys(f.rule for f in decision.findings if f.effect in ("reject", "review")))
        return Counterfactual(made, decision.decision, fires), None, None

    def _decide(self, assignment: list[tuple[str, Any]]) -> tuple[Decision, dict[str, Any] | None]:
        key = tuple((n, repr(v)) for n, v in assignment)
        if key not in self._decided:
            changed = dict(self.raw)
            changed.update(assignment)
            self._decided[key] = decide_safely(self.intake, changed, self.decision.row, self.decision.source)
        return self._decided[key]

    def _values(self, name: str, need: Need) -> list[Any]:
        """Values that satisfy the need, the proposal's own first, then the nearest."""
        current, kind = self.record.get(name), self.kinds[name]
        if need.admits(current):
            return [current]
        if not need.present:
            return []  # the search never erases a value
        if need.among is not None:
            return sorted((v for v in need.among if need.admits(v)), key=lambda v: _distance(v, current))
        if kind in _ORDERED:
            return self._nearest(name, kind, need, current)
        if kind == "bool":
            options: list[Any] = [True, False]
        elif kind == "enum":
            options = list(self.policy.fields[name].values or [])
        else:
            options = [ANY_TEXT]
        return [v for v in options if need.admits(v)]

    def _nearest(self, name: str, kind: str, need: Need, current: Any) -> list[Any]:
        step = _step(kind, current, need.low, need.high)
        up = _up(need.low, need.low_open, step) if need.low is not None else None
        down = _down(need.high, need.high_open, step) if need.high is not None else None
        if current is not None:
            if up is not None and (current < need.low or (current == need.low and need.low_open)):
                options = [up, _shift(up, 1, step), _shift(up, 2, step)]
            elif down is not None and (current > need.high or (current == need.high and need.high_open)):
                options = [down, _shift(down, -1, step), _shift(down, -2, step)]
            else:  # only an excluded value is in the way
                options = [_shift(current, 1, step), _shift(current, -1, step)]
            return [v for v in options if v is not None and need.admits(v)][:1]
        # A missing value: the policy's own thresholds for this field are natural values to try.
        thresholds = self._thresholds.get(name, [])
        options = [up, down] + thresholds + [_shift(t, d, step) for t in thresholds for d in (1, -1)]
        options += [self.policy.today] if kind == "date" else [Decimal(1)]
        admitted = [v for v in options if v is not None and need.admits(v)]
        return list(dict.fromkeys(admitted))[:MAX_VALUE_COMBINATIONS]


def decide_safely(intake: Intake, raw: Mapping[str, Any], row: int | None = None,
                  source: str | None = None) -> tuple[Decision, dict[str, Any] | None]:
    """The engine's decision and typed record; an internal error becomes an error decision, as in a batch."""
    try:
        return intake.decide_record(raw, row, source)
    except Exception as exc:  # noqa: BLE001 - one proposal the back end cannot decide must not stop the explanation
        error = RowError(row=row, code="internal_error",
                         message=f"internal error ({type(exc).__name__}: {exc}); please report it")
        return intake.error([error], raw, row, source), None


def find_counterfactuals(intake: Intake, raw: Mapping[str, Any], decision: Decision,
                         record: Mapping[str, Any] | None, limit: int = 8) -> tuple[list[Counterfactual], list[str]]:
    """Verified counterfactuals for a decided proposal, fewest fields first; and notes on what is out of reach."""
    if record is None or decision.decision == "error":
        return [], []
    search = Search(intake, raw, decision, record)
    found = search.run(limit)
    notes = []
    if search.unreachable:
        notes.append(f"out of reach of the search: {', '.join(search.unreachable)} (it depends on values that "
                     "are lists, alignment, text patterns, or would have to be erased)")
    if search.more:
        notes.append(f"{search.more} more verified counterfactual(s) not shown: the {limit} with the fewest and "
                     "smallest changes are listed")
    if not found:
        notes.append("no change was found that the engine confirms would change the decision (the search tries "
                     "single fields first, then up to three rounds of combined changes)")
    return found, notes


# ---------------------------------------------------------------------------- helpers

def _product(left: list[ChangeSet], right: list[ChangeSet]) -> list[ChangeSet]:
    out = []
    for a, b in itertools.product(left, right):
        merged = _merge_sets(a, b)
        if merged is not None:
            out.append(merged)
    return out


def _key(changes: ChangeSet) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, repr(need)) for name, need in changes.items()))


def _smallest(found: list[Counterfactual], record: Mapping[str, Any]) -> list[Counterfactual]:
    """Drop a counterfactual when another changes a strict subset of its fields; fewest fields, then smallest change."""
    fields = [frozenset(c.field for c in cf.changes) for cf in found]
    minimal = [cf for cf, f in zip(found, fields) if not any(other < f for other in fields)]
    return sorted(minimal, key=lambda cf: (len(cf.changes), _SEVERITY[cf.decision],
                                           sum(_relative(c.before, c.after) for c in cf.changes)))


def exact(value: Any) -> str:
    """A value as people read it, without rounding a number: 2,300,000; 249,999.99; 0.125; 2027-03-01; yes."""
    if isinstance(value, Decimal) and value.is_finite():
        value = value.normalize() if value == value.to_integral_value() else value  # 2,128,352 not 2,128,352.00
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -6 and abs(value) < LARGEST:
            return f"{value:,f}"
    return display(value)


def _relative(before: Any, after: Any) -> float:
    if isinstance(before, Decimal) and isinstance(after, Decimal):
        return float(abs(after - before) / max(abs(before), Decimal(1)))
    if isinstance(before, dt.date) and isinstance(after, dt.date):
        return abs((after - before).days) / 365
    return 1.0


def _same(a: Any, b: Any) -> bool:
    return a is b or (a is not None and b is not None and type(a) is type(b) and a == b)


def _distance(value: Any, current: Any) -> Any:
    if current is None:
        return 0
    try:
        gap = value - current
        return abs(gap.days) if isinstance(gap, dt.timedelta) else abs(gap)
    except TypeError:
        return 0


def _unit(kind: str) -> Any:
    return {"integer": Decimal(1), "money": Decimal("0.01"), "number": Decimal("0.01"),
            "date": dt.timedelta(days=1)}[kind]


def _step(kind: str, *values: Any) -> Any:
    """The granularity of changes to a field: days, whole numbers, cents, or the finest decimal in play."""
    if kind == "date":
        return dt.timedelta(days=1)
    if kind == "integer":
        return Decimal(1)
    if kind == "money":
        return Decimal("0.01")
    exponents = [v.as_tuple().exponent for v in values if isinstance(v, Decimal) and v.is_finite()]
    return Decimal(1).scaleb(min([-2] + [e for e in exponents if isinstance(e, int)]))


def _shift(value: Any, steps: int, unit: Any) -> Any:
    """value + steps * unit, or None outside the range of the value model."""
    if value is None:
        return None
    try:
        if isinstance(value, dt.date):
            return value + steps * unit
        shifted = value + steps * unit
    except OverflowError:
        return None
    return shifted if abs(shifted) <= LARGEST else None


def _up(bound: Any, is_open: bool, step: Any) -> Any:
    """The smallest value on the step grid above (or at, when closed) the bound."""
    if isinstance(bound, dt.date):
        return _shift(bound, 1, step) if is_open else bound
    value = (bound / step).to_integral_value(ROUND_CEILING) * step
    return value + step if is_open and value == bound else value


def _down(bound: Any, is_open: bool, step: Any) -> Any:
    if isinstance(bound, dt.date):
        return _shift(bound, -1, step) if is_open else bound
    value = (bound / step).to_integral_value(ROUND_FLOOR) * step
    return value - step if is_open and value == bound else value


def _thresholds(rules: Iterable[CompiledRule], kinds: Mapping[str, str]) -> dict[str, list[Any]]:
    """Per number or date field, the constants the rules compare it with (ascending)."""
    out: dict[str, set[Any]] = {}
    for rule in rules:
        for node in walk(rule.condition):
            if isinstance(node, Compare):
                for side, other in ((node.left, node.right), (node.right, node.left)):
                    if isinstance(side, Field) and kinds.get(side.name) in _ORDERED and isinstance(other, Const) \
                            and isinstance(other.value, (Decimal, dt.date)):
                        out.setdefault(side.name, set()).add(other.value)
    return {name: sorted(values) for name, values in out.items()}

