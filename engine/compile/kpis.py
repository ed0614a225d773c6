"""The PMO's KPIs (``kind: kpis``): each measure compiled into aggregates over one population of records and a
formula that combines them.

A measure is an expression of the expression language (engine/expr) in which a record's fields appear only inside
an *aggregate*, the named measures of the population (``portfolio.cpi``, ``selection.value``) stand for numbers,
and everything else is the language's arithmetic and functions::

    total(benefits_realised) / total(benefits_planned)      -> _a0 / _a1, with two aggregates over projects
    share(rating == "green")                                -> _a0
    portfolio.cpi                                           -> _n0, the portfolio roll-up's CPI

Each aggregate's argument is type-checked against the fields of the KPI's population (:data:`POPULATIONS`); the
formula is then checked over the slots. So an unknown field, a field outside an aggregate, an unknown aggregate or
named measure, a grouping the population does not have, are located diagnostics at load, with a did-you-mean.
engine/health/kpis.py evaluates the compiled KPIs over a history of status reports and decisions.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from difflib import get_close_matches

from engine.compile.health import HEALTH_TYPES
from engine.errors import DiagnosticSink, Location, did_you_mean
from engine.expr.check import check
from engine.expr.functions import FUNCTIONS
from engine.expr.nodes import (
    BOOL,
    DATE,
    NULL,
    NUMBER,
    STRING,
    Call,
    Field,
    ListOf,
    Logic,
    Node,
    walk,
)
from engine.expr.parse import ExprError, parse
from engine.expr.values import fixed
from engine.policy.models import KpiSpec, KpisPolicy

# The records a KPI can aggregate, and the fields each record has. Dates are dates, money and ratios numbers.
ROLLUP = ("bac", "pv", "ev", "ac", "sv", "cv", "spi", "cpi", "eac", "etc", "vac", "tcpi", "tcpi_eac", "eac_cpi",
          "eac_remaining", "eac_cpi_spi", "eac_bottom_up")  # the roll-up's figures (engine/health/assess.Rollup)
POPULATIONS: dict[str, dict[str, str]] = {
    # each project at its latest status report on or before the period's end: the health record and its rating
    "projects": {**HEALTH_TYPES, "rating": STRING},
    # each project whose latest report by the period's end says closed: what it cost, and what it was forecast to
    "closed": {"project": STRING, "title": STRING, "objective": STRING, "state": STRING, "closed_on": DATE,
               "bac": NUMBER, "final_cost": NUMBER, "cpi": NUMBER, "eac_at_half": NUMBER, "percent_at_half": NUMBER,
               "half_date": DATE, "benefits_planned": NUMBER, "benefits_realised": NUMBER},
    # the decision log's intake decisions made in the period (decided: the date today() meant)
    "intake": {"project": STRING, "decision": STRING, "decided": DATE, "submitted": DATE, "override": BOOL},
    # the decision log's gate decisions made in the period
    "gates": {"project": STRING, "gate": STRING, "decision": STRING, "decided": DATE, "override": BOOL},
    "selection": {},  # no records: only its named measures
}
# Named measures: numbers of the population as a whole, written NAMESPACE.NAME.
NAMED: dict[str, tuple[str, tuple[str, ...]]] = {
    "projects": ("portfolio", ROLLUP),
    "selection": ("selection", ("value", "cost", "greedy", "greedy_value", "greedy_value_per_cost")),
}
GROUPS = {"projects": ("objective",), "closed": ("objective",), "gates": ("gate",)}

# aggregate -> (what its argument is, what it does), as docs/health.md lists them
AGGREGATES: dict[str, tuple[str | None, str]] = {
    "count": (BOOL, "count() the records, count(condition) those it is true of"),
    "share": (BOOL, "share(condition): the records it is true of over the records it is known for"),
    "total": (NUMBER, "total(value): the sum of the known values"),
    "mean": (NUMBER, "mean(value): the mean of the known values"),
    "median": (NUMBER, "median(value): the median of the known values (the mean of the middle two when even)"),
    "share_of": (NUMBER, "share_of(value): the group's total over the total of every group (1 without by:)"),
}
_DOTTED = re.compile(r"\b(portfolio|selection)\.([A-Za-z_][A-Za-z0-9_]*)")
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


@dataclass(frozen=True)
class Aggregate:
    slot: str  # the formula's name for its value: _a0, _a1, ...
    function: str  # count | share | total | mean | median | share_of
    argument: Node | None  # typed over the population's fields (None: count())
    text: str  # as written, for explanations: share(rating == "green")


@dataclass(frozen=True)
class CompiledKpi:
    id: str
    title: str
    over: str
    measure: str
    formula: Node  # over the slots of ``aggregates`` and ``named``
    aggregates: tuple[Aggregate, ...]
    named: tuple[tuple[str, str], ...]  # (slot, "portfolio.cpi")
    condition: Node | None  # where:, compiled
    condition_text: str | None  # where:, as written
    by: str | None
    unit: str
    target: Decimal | None
    direction: str  # higher | lower
    at: str  # 'policies/kpis.yaml:12', as figures cite it
    description: str | None = None

    def met(self, value: Decimal | None) -> bool | None:
        if value is None or self.target is None:
            return None
        return value >= self.target if self.direction == "higher" else value <= self.target


def kpi_text(value: Decimal | float | None, unit: str, decimals: int = 1,
             apart_from: Decimal | float | None = None) -> str:
    """A KPI's figure as its unit shows it, the one owner of that for ``pmo kpi`` (``decimals`` 1) and the health
    page's tiles (0): a share in percent and days to ``decimals`` places (whole days without decimals), an index
    to 2, money and counts whole with thousands separators, any other number to 4 significant digits; each
    rounded half up from the exact figure. ``apart_from`` (the target): a figure that is not the target is shown
    with as many more places as it takes not to read as the target (0.947 against 0.95, not 0.95 "not met")."""
    text = _kpi_text(value, unit, decimals, 0, value)
    if value is None or apart_from is None or value == apart_from:
        return text
    for extra in range(1, 7):  # the target at the figure's places (of a whole number of days too)
        if text != _kpi_text(apart_from, unit, decimals, extra - 1, value):
            break
        text = _kpi_text(value, unit, decimals, extra, value)
    return text


def _kpi_text(value: Decimal | float | None, unit: str, decimals: int, extra: int,
              figure: Decimal | float | None) -> str:
    if value is None or figure is None:
        return "–"
    if unit == "share":
        return f"{fixed(value * 100, decimals + extra)}%"
    if unit == "index":
        return fixed(value, 2 + extra)
    if unit == "days":
        return f"{fixed(value, (0 if figure == int(figure) and not extra else decimals + extra))} d"
    if unit in ("money", "count"):
        return fixed(value, extra, grouped=True)
    return f"{value:.{4 + extra}g}"


@dataclass(frozen=True)
class CompiledKpis:
    kpis: tuple[CompiledKpi, ...]
    file: str = "<memory>"
    name: str = "kpis"

    def get(self, kpi_id: str) -> CompiledKpi | None:
        return next((k for k in self.kpis if k.id == kpi_id), None)


def compile_kpis(policy: KpisPolicy, today: dt.date, sink: DiagnosticSink,
                 name: Callable[[str], str] = str) -> CompiledKpis | None:
    """``name``: a file's machine-independent name, as figures cite it."""
    before = len(sink.errors)
    seen: dict[str, Location] = {}
    kpis: list[CompiledKpi] = []
    for spec in policy.kpis:
        at = spec.loc("id")
        if spec.id in seen:
            sink.add("duplicate_kpi", f"KPI id '{spec.id}' is already used at {seen[spec.id]}", at,
                     "give each KPI its own id")
            continue
        seen[spec.id] = at
        compiled = _compile_one(spec, today, sink, f"{name(at.file)}:{at.line}")
        if compiled is not None:
            kpis.append(compiled)
    if len(sink.errors) > before:
        return None
    return CompiledKpis(tuple(kpis), policy.loc().file, policy.name)


def _compile_one(spec: KpiSpec, today: dt.date, sink: DiagnosticSink, at: str) -> CompiledKpi | None:
    fields = POPULATIONS[spec.over]
    ok = True
    if spec.by is not None and spec.by not in GROUPS.get(spec.over, ()):
        allowed = GROUPS.get(spec.over, ())
        sink.add("bad_grouping", f"'{spec.over}' records have no {spec.by} to group by", spec.loc("by"),
                 f"over {spec.over}: by {' or '.join(allowed)}" if allowed else f"over {spec.over}: leave 'by' out")
        ok = False
    condition = None
    if spec.where is not None:
        try:
            condition = check(parse(spec.where), fields, today, want=BOOL)
        except ExprError as exc:
            sink.add(exc.code, exc.message, spec.loc("where").shifted(exc.offset), exc.hint or _fields_hint(exc, spec.over))
            ok = False
    try:
        formula, aggregates, named = _measure(spec.measure, spec.over, today)
    except ExprError as exc:
        sink.add(exc.code, exc.message, spec.loc("measure").shifted(exc.offset), exc.hint or _fields_hint(exc, spec.over))
        return None
    if not ok:
        return None
    return CompiledKpi(spec.id, spec.title, spec.over, spec.measure, formula, aggregates, named, condition, spec.where,
                       spec.by, spec.unit, spec.target, spec.direction, at, spec.description)


def _measure(text: str, over: str, today: dt.date) -> tuple[Node, tuple[Aggregate, ...], tuple[tuple[str, str], ...]]:
    """The formula over slots, its aggregates and its named measures. Raises ExprError."""
    rewritten, dotted = _undot(text)
    tree = parse(rewritten)
    lifter = _Lifter(text, over, today, dotted)
    formula = lifter.lift(tree)
    types = {a.slot: NUMBER for a in lifter.aggregates} | {slot: NUMBER for slot, _ in lifter.named}
    formula = check(formula, types, today)
    if formula.type not in (NUMBER, NULL):
        raise ExprError("type_mismatch", f"a KPI's measure is a number, but this is a {formula.type}", formula.offset,
                        "for the share of records a condition is true of, write share(condition)")
    return formula, tuple(lifter.aggregates), tuple(lifter.named)


def _undot(text: str) -> tuple[str, dict[int, str]]:
    """``portfolio.cpi`` as one name of the same length (``portfolio_cpi``), so positions stay those of the text;
    returns the text and, by position, the dotted names (outside string literals)."""
    strings = [m.span() for m in _STRING.finditer(text)]
    dotted: dict[int, str] = {}
    chars = list(text)
    for m in _DOTTED.finditer(text):
        if any(a <= m.start() < b for a, b in strings):
            continue
        dotted[m.start()] = m.group(0)
        chars[m.start() + len(m.group(1))] = "_"
    return "".join(chars), dotted


class _Lifter:
    """Replaces each aggregate and named measure by a slot, checking what it reads."""

    def __init__(self, text: str, over: str, today: dt.date, dotted: dict[int, str]):
        self.text, self.over, self.today, self.dotted = text, over, today, dotted
        self.fields = POPULATIONS[over]
        self.aggregates: list[Aggregate] = []
        self.named: list[tuple[str, str]] = []
        self.lead = len(text) - len(text.lstrip())

    def lift(self, node: Node) -> Node:
        if isinstance(node, Call) and node.name in AGGREGATES:
            return self.aggregate(node)
        if isinstance(node, Call) and node.name not in FUNCTIONS:
            raise ExprError("unknown_measure", f"'{node.name}' is neither an aggregate nor a function", node.offset,
                            did_you_mean(node.name, list(AGGREGATES) + list(FUNCTIONS))
                            or "aggregates: " + ", ".join(AGGREGATES))
        if isinstance(node, Field):
            return self.name(node)
        for attribute in ("operand", "left", "right", "item", "container"):
            if hasattr(node, attribute):
                setattr(node, attribute, self.lift(getattr(node, attribute)))
        if isinstance(node, (Logic, ListOf)):
            node.items = [self.lift(i) for i in node.items]
        if isinstance(node, Call):
            node.args = [self.lift(a) for a in node.args]
        return node

    def name(self, node: Field) -> Node:
        dotted = self.dotted.get(node.offset)
        if dotted is not None:
            space, _, measure = dotted.partition(".")
            own_space, names = NAMED.get(self.over, ("", ()))
            if space != own_space:
                raise ExprError("unknown_measure", f"'{dotted}': {space}.NAME measures are for KPIs over "
                                f"{'projects' if space == 'portfolio' else 'selection'}", node.offset,
                                f"over {self.over}: " + (", ".join(f"{own_space}.{n}" for n in names)
                                                         or "aggregates of the records, e.g. share(...)"))
            if measure not in names:
                raise ExprError("unknown_measure", f"'{dotted}' is not a measure", node.offset,
                                did_you_mean(measure, names) and f"did you mean '{space}.{get_close(measure, names)}'?"
                                or f"{space}.NAME: {', '.join(names)}")
            slot = f"_n{len(self.named)}"
            self.named.append((slot, dotted))
            return Field(node.offset, slot)
        if node.name in self.fields:
            raise ExprError("kpi_not_aggregated", f"'{node.name}' is a value of each record; a KPI's measure "
                            "aggregates the records", node.offset,
                            f"for example total({node.name}) or mean({node.name}); a condition: share(...)")
        own_space, names = NAMED.get(self.over, ("", ()))
        known = list(self.fields) + [f"{own_space}.{n}" for n in names]
        raise ExprError("unknown_field", f"'{node.name}' is not a field of {self.over} records", node.offset,
                        did_you_mean(node.name, known) or _fields_list(self.over))

    def aggregate(self, node: Call) -> Node:
        want, usage = AGGREGATES[node.name]
        if not self.fields:
            raise ExprError("bad_aggregate", f"{node.name}(): {self.over} has no records to aggregate", node.offset,
                            f"use its measures: {', '.join(f'{NAMED[self.over][0]}.{n}' for n in NAMED[self.over][1])}")
        for inner in node.args:
            for n in walk(inner):
                if isinstance(n, Call) and n.name in AGGREGATES:
                    raise ExprError("bad_aggregate", f"{n.name}() inside {node.name}(): aggregates do not nest",
                                    n.offset, "aggregate each value once, then combine: total(a) / total(b)")
        allowed = (0, 1) if node.name == "count" else (1,)
        if len(node.args) not in allowed:
            raise ExprError("bad_aggregate", f"{node.name}() takes {' or '.join(map(str, allowed))} argument"
                            f"{'s' if allowed != (1,) else ''}, got {len(node.args)}", node.offset, usage)
        argument = None
        if node.args:
            for n in walk(node.args[0]):
                if isinstance(n, Field) and n.offset in self.dotted:
                    raise ExprError("bad_aggregate", f"'{self.dotted[n.offset]}' is already a figure of the whole "
                                    f"{self.dotted[n.offset].split('.')[0]}; inside {node.name}() go the records' fields", n.offset, usage)
            argument = check(node.args[0], self.fields, self.today, want=BOOL if want == BOOL else None)
            if want == NUMBER and argument.type not in (NUMBER, NULL):
                raise ExprError("type_mismatch", f"{node.name}() needs a number, but this is a {argument.type}",
                                argument.offset, "for a condition use share(...) or count(...)" if argument.type == BOOL
                                else usage)
        slot = f"_a{len(self.aggregates)}"
        self.aggregates.append(Aggregate(slot, node.name, argument, self._text(node)))
        return Field(node.offset, slot)

    def _text(self, node: Call) -> str:
        """The call as written: from its name to its closing bracket (strings skipped)."""
        start = node.offset
        depth, k, quote = 0, start, None
        while k < len(self.text):
            c = self.text[k]
            if quote:
                if c == "\\":
                    k += 1
                elif c == quote:
                    quote = None
            elif c in "\"'":
                quote = c
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return self.text[start:k + 1]
            k += 1
        return self.text[start:]


def get_close(word: str, names: tuple[str, ...]) -> str:
    return get_close_matches(word, list(names), n=1, cutoff=0.6)[0]


def _fields_list(over: str) -> str:
    fields = POPULATIONS[over]
    return f"{over} fields: " + ", ".join(sorted(fields)) if fields else f"{over} has no records"


def _fields_hint(exc: ExprError, over: str) -> str | None:
    return _fields_list(over) if exc.code == "unknown_field" else None

