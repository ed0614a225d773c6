"""Compiling a scoring policy: criteria, their weights, normalisation and tie-breaks (scored in
engine/scoring/score.py).

Methods:
- ``weighted-sum``: each criterion's raw value is normalised to 0..1 (fixed scale, min-max over
  the proposals ranked together, or none), turned round when lower is better, and weighted; the
  score is the sum of the contributions, on a 0-100 scale.
- ``wsjf``: SAFe's weighted shortest job first, (business value + time criticality + risk
  reduction) / job size; the breakdown is each component over the job size.
- ``rice``: Intercom's reach x impact x confidence / effort.
- ``formula``: any expression.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from engine.errors import Diagnostic, DiagnosticSink, Location, did_you_mean
from engine.expr.check import check
from engine.expr.evaluate import evaluate
from engine.expr.nodes import BOOL, DATE, NUMBER, STRING, Field, Node
from engine.expr.parse import ExprError, parse
from engine.expr.values import display
from engine.expr.vector import column as vector_column
from engine.expr.vector import field_column, vectorisable
from engine.policy import weights as weighting
from engine.policy.ahp import AhpResult
from engine.policy.loader import scoring_id
from engine.policy.models import BandRange, Bands, Criterion, Lookup, ScoringPolicy, Sensitivity

if TYPE_CHECKING:  # numpy loads when a ranking first computes a column (engine/scoring), not at compile time
    import numpy as np

Extract = Callable[[Mapping[str, Any]], Any]  # one typed record -> a value
MISSING = float("nan")
ColumnCache = dict[str, "np.ndarray"]  # numeric fields as floats, converted once per ranking
Column = Callable[[list[Mapping[str, Any]], ColumnCache], "np.ndarray"]  # (records, cache) -> floats, NaN: missing
Scale = tuple[Column, float, float]  # a criterion's raw values, and the lowest and highest it can take
# a record whose raw value is NaN -> the error that made it so, as (code, message), or None: simply missing
ErrorOf = Callable[[Mapping[str, Any]], "tuple[str, str] | None"]
TableScale = tuple[Column, float, float, ErrorOf]  # a scoring decision table: its Scale, and its run-time overlaps


@dataclass
class ScoredCriterion:
    id: str
    name: str
    weight: float
    column: Column  # typed records -> raw values (NaN if missing)
    normalise: str
    direction: str
    low: float | None
    high: float | None
    missing: float
    where: str
    alignment_field: str | None = None  # its breakdown shows the objectives
    panel: PanelSpec | None = None  # rated by several people: how the ratings combine (engine/scoring/panel.py)
    error: ErrorOf | None = None  # a decision table's: a NaN that is an error (rows overlap), not a missing value


PANEL_KEY = "__panel__"  # a record's combined panel scores, by criterion id (set by the ranking from assessments)


@dataclass(frozen=True)
class PanelSpec:
    """A panel criterion, compiled: exact numbers, so combined scores and disagreement are exact."""

    combine: str
    trim: Fraction
    roles: dict[str, Fraction]
    min_raters: int
    spread: Fraction | None
    outlier: Fraction | None
    low: Fraction  # the raters' scale
    high: Fraction


@dataclass(frozen=True)
class CompiledScoring:
    method: str
    criteria: list[ScoredCriterion]
    components: list[tuple[str, Column]]  # wsjf, rice, formula
    tie_breaks: list[tuple[str, Column | int, bool]]  # (label, column or criterion index, descending)
    top: int
    sensitivity: Sensitivity
    ahp: AhpResult | None = None
    missing: dict[str, float] = field(default_factory=dict)  # wsjf, rice: a missing component's value

    @property
    def weights(self) -> dict[str, float]:
        return {c.id: c.weight for c in self.criteria}


@dataclass(frozen=True)
class ScoringModel:
    """One of a policy set's scoring models: which proposals it scores (``condition``; None: the ones no other
    model takes) and how."""

    id: str
    name: str
    condition: Node | None
    scoring: CompiledScoring
    where: str  # file:line of its 'when' (or of its kind), for reasons and reports


# ---------------------------------------------------------------------------- compile

def compile_scoring(policy: ScoringPolicy, types: Mapping[str, str], today: dt.date, alignment_fields: set[str],
                    sink: DiagnosticSink, tables: Mapping[str, TableScale] | None = None
                    ) -> CompiledScoring | None:
    """``tables``: the scoring decision tables by name, as (points column, lowest, highest points, the error of a
    record its rows cannot score)."""
    before = len(sink.errors)
    expr = _Expressions(types, today, sink)
    criteria: list[ScoredCriterion] = []
    components: list[tuple[str, Column]] = []
    resolved = None
    set_aside = {str(raw["id"]) for raw in policy.set_aside("criteria").values() if isinstance(raw, dict) and "id" in raw}
    missing: dict[str, float] = {}
    if policy.method == "weighted-sum":
        if not policy.criteria:
            sink.add("missing_key", "a weighted-sum scoring policy needs 'criteria'", policy.loc("kind"))
        ids = [c.id for c in policy.criteria]
        for crit in policy.criteria:
            if ids.count(crit.id) > 1:
                sink.add("duplicate_criterion", f"criterion '{crit.id}' is listed twice", crit.loc("id"))
        if not set_aside:  # with a criterion set aside (its own error reported), the others' sum means nothing
            resolved = weighting.resolve([weighting.Weighted(c.id, c.weight, c.loc("weight"))
                                          for c in policy.criteria], policy.comparisons, "criterion",
                                         policy.loc("criteria"), sink, strict=policy.weights == "strict")
        for crit in policy.criteria:
            scored = _criterion(crit, expr, alignment_fields, sink, tables or {})
            if scored is not None and resolved is not None:
                scored.weight = resolved.values[crit.id]
                criteria.append(scored)
    else:
        spec = {"wsjf": policy.wsjf, "rice": policy.rice, "formula": policy.formula}[policy.method]
        if spec is None:
            sink.add("missing_key", f"method {policy.method} needs a '{policy.method}' section", policy.loc("method"))
        elif isinstance(spec, str):
            components.append(("formula", expr.column(spec, policy.loc("formula"), NUMBER)))
        else:
            names = [name for name in type(spec).model_fields if name != "missing"]
            for name in names:
                components.append((name, expr.column(getattr(spec, name), spec.loc(name), NUMBER)))
            missing = {name: float(v) for name, v in spec.missing.items()}
        if policy.criteria:
            sink.extend([Diagnostic("unused_criteria", f"criteria are not used by method {policy.method}",
                                    policy.loc("criteria"), severity="warning")])
    tie_breaks = _tie_breaks(policy, criteria, {c.id for c in policy.criteria} | set_aside, expr, sink)
    if len(sink.errors) > before:
        return None
    return CompiledScoring(policy.method, criteria, components, tie_breaks, policy.top, policy.sensitivity,
                           resolved.ahp if resolved else None, missing)


def compile_models(policies: list[ScoringPolicy], types: Mapping[str, str], today: dt.date,
                   alignment_fields: set[str], sink: DiagnosticSink, name: Callable[[str], str] = str,
                   tables: Mapping[str, TableScale] | None = None) -> list[ScoringModel] | None:
    """Every scoring model with its condition (a bool expression over the fields and derived values).
    ``tables``: the scoring decision tables by name (see compile_scoring)."""
    before = len(sink.errors)
    expr = _Expressions(types, today, sink)
    models = []
    for policy in policies:
        compiled = compile_scoring(policy, types, today, alignment_fields, sink, tables)
        condition = expr.node(policy.when, policy.loc("when"), BOOL) if policy.when is not None else None
        at = policy.loc("when") if policy.when is not None else policy.loc("kind")
        if compiled is not None:
            models.append(ScoringModel(scoring_id(policy), policy.name, condition, compiled, f"{name(at.file)}:{at.line}"))
    return models if len(sink.errors) == before else None


class _Expressions:
    def __init__(self, types: Mapping[str, str], today: dt.date, sink: DiagnosticSink):
        self.types, self.today, self.sink = types, today, sink

    def node(self, text: str, at: Location, want: str | tuple[str, ...]) -> Node | None:
        try:
            node = check(parse(text), self.types, self.today)
        except ExprError as exc:
            self.sink.add(exc.code, exc.message, at.shifted(exc.offset), exc.hint)
            return None
        allowed = (want,) if isinstance(want, str) else want
        if node.type not in allowed + ("null",):
            self.sink.add("type_mismatch", f"expected {' or '.join(allowed)}, but this is a {node.type}", at)
            return None
        return node

    def column(self, text: str, at: Location, want: str) -> Column:
        return _column_of(self.node(text, at, want))


def _column_of(node: Node | None) -> Column:
    """Raw values of an expression for a list of records, as floats (NaN: null)."""
    if node is None:
        return lambda records, cache: _floats((), len(records), missing=True)
    if vectorisable(node):
        return lambda records, cache: vector_column(node, records, cache)
    return lambda records, cache: _floats(map(lambda r: evaluate(node, r), records), len(records))


def _floats(values: Iterable[Any], n: int, missing: bool = False) -> np.ndarray:
    import numpy as np
    if missing:
        return np.full(n, MISSING)
    return np.fromiter((MISSING if v is None else float(v) for v in values), float, n)


def _criterion(crit: Criterion, expr: _Expressions, alignment_fields: set[str],
               sink: DiagnosticSink, tables: Mapping[str, TableScale]) -> ScoredCriterion | None:
    sources = [name for name in ("field", "formula", "bands", "lookup", "table", "panel")
               if getattr(crit, name) is not None]
    if len(sources) != 1:
        sink.add("criterion_source", f"criterion '{crit.id}' needs exactly one source (field, formula, bands, "
                 f"lookup, table or panel), it has {len(sources) or 'none'}", crit.loc("id"))
        return None
    low = high = None
    panel = None
    error = None
    if crit.panel is not None:
        panel = _panel(crit, sink)
        if panel is None:
            return None
        column = _panel_column(crit.id)
    elif crit.field is not None:
        if crit.field not in expr.types:
            sink.add("unknown_field", f"'{crit.field}' is not a field", crit.loc("field"),
                     did_you_mean(crit.field, expr.types))
            return None
        if expr.types[crit.field] != NUMBER:
            sink.add("type_mismatch", f"'{crit.field}' is {expr.types[crit.field]}; a criterion needs a number",
                     crit.loc("field"), "use a lookup for text values")
            return None
        column = expr.column(crit.field, crit.loc("field"), NUMBER)
        if crit.field in alignment_fields:
            low, high = 0.0, 1.0
    elif crit.formula is not None:
        column = expr.column(crit.formula, crit.loc("formula"), NUMBER)
    elif crit.bands is not None:
        found = _bands(crit.bands, expr, sink)
        if found is None:
            return None
        column, low, high = found
    elif crit.table is not None:
        if crit.table not in tables:
            sink.add("unknown_table", f"no scoring table named '{crit.table}'", crit.loc("table"),
                     did_you_mean(crit.table, tables) or "declare it in a tables file with applies_to: scoring")
            return None
        column, low, high, error = tables[crit.table]
    else:
        assert crit.lookup is not None
        found = _lookup(crit.lookup, expr)
        if found is None:
            return None
        column, low, high = found
    if crit.scale is not None:
        low, high = float(crit.scale.min), float(crit.scale.max)
        if low >= high:
            sink.add("bad_scale", f"scale min {crit.scale.min} must be below max {crit.scale.max}", crit.loc("scale"))
            return None
    if crit.normalise == "fixed" and low is None:
        sink.add("missing_key", f"criterion '{crit.id}' needs a 'scale' (min, max) to normalise it", crit.loc("id"),
                 "or use normalise: minmax to scale over the proposals ranked together")
        return None
    if crit.normalise == "none" and crit.direction == "lower":
        sink.add("bad_value", "direction: lower needs a normalisation (fixed or minmax)", crit.loc("direction"))
        return None
    where = crit.loc("id")
    return ScoredCriterion(crit.id, crit.name or crit.id, 0.0, column, crit.normalise, crit.direction, low, high,
                           float(crit.missing), f"{where.file}:{where.line}",
                           crit.field if crit.field in alignment_fields else None, panel, error)


def _panel(crit: Criterion, sink: DiagnosticSink) -> PanelSpec | None:
    spec = crit.panel
    assert spec is not None
    if crit.scale is None:
        sink.add("missing_key", f"panel criterion '{crit.id}' needs a 'scale': the range raters score in",
                 crit.loc("panel"), "e.g. scale: {min: 1, max: 5}")
        return None
    if spec.combine == "weighted" and not spec.roles:
        sink.add("missing_key", f"panel criterion '{crit.id}' combines by weight and needs 'roles'",
                 spec.loc("combine"), "e.g. roles: {finance: 2, pmo: 1}")
        return None
    if spec.roles and spec.combine != "weighted":
        sink.extend([Diagnostic("unused_roles", f"the roles' weights are used only with combine: weighted, not "
                                f"{spec.combine}", spec.loc("roles"), "remove 'roles', or combine: weighted",
                                severity="warning")])
    return PanelSpec(spec.combine, Fraction(spec.trim), {r: Fraction(w) for r, w in spec.roles.items()},
                     spec.min_raters, None if spec.spread is None else Fraction(spec.spread),
                     None if spec.outlier is None else Fraction(spec.outlier), Fraction(crit.scale.min),
                     Fraction(crit.scale.max))


def _panel_column(criterion: str) -> Column:
    """A panel criterion's raw values: each record's combined score (put there by the ranking), NaN if none."""
    def column(records: list[Mapping[str, Any]], cache: ColumnCache) -> np.ndarray:
        return _floats(((r.get(PANEL_KEY) or {}).get(criterion) for r in records), len(records))
    return column


def _bands(bands: Bands, expr: _Expressions, sink: DiagnosticSink) -> Scale | None:
    node = expr.node(bands.of, bands.loc("of"), NUMBER)
    if node is None:
        return None
    ranges = sorted(bands.ranges, key=lambda r: (r.from_ is not None, r.from_ or 0))
    ok = True
    empty = [r for r in ranges if r.from_ is not None and r.below is not None and r.from_ >= r.below]
    for r in empty:
        sink.add("bad_band", f"range from {display(r.from_)} below {display(r.below)} is empty", r.loc(),
                 "'from' is included and 'below' excluded, so 'from' must be the smaller")
        ok = False
    ranges_left = [r for r in ranges if r not in empty]  # an empty range would only add knock-on gaps
    for prev, nxt in zip(ranges_left, ranges_left[1:]):
        if prev.below is None or (nxt.from_ is not None and prev.below > nxt.from_):
            sink.add("band_overlap", f"ranges overlap: {_span(prev)} and {_span(nxt)}", nxt.loc(),
                     "each value must fall in exactly one range")
            ok = False
        elif nxt.from_ is not None and prev.below < nxt.from_:
            sink.add("band_gap", f"values from {display(prev.below)} below {display(nxt.from_)} fall in no range",
                     nxt.loc(), f"start this range at {display(prev.below)}, or add a range for the gap")
            ok = False
    if not ok:
        return None
    if ranges[0].from_ is not None or ranges[-1].below is not None:
        edges = ([f"below {display(ranges[0].from_)}"] if ranges[0].from_ is not None else []) + (
            [f"from {display(ranges[-1].below)}"] if ranges[-1].below is not None else [])
        sink.extend([Diagnostic("band_open_end", f"values {' and '.join(edges)} fall in no range and score as "
                                "missing", bands.loc("ranges"), "leave out 'from' in the first range or 'below' in "
                                "the last to cover every value", severity="warning")])
    bounds = ([float(r.from_) if r.from_ is not None else -math.inf for r in ranges],
             [float(r.below) if r.below is not None else math.inf for r in ranges])
    points = [float(r.points) for r in ranges]
    values_of = _column_of(node)

    def column(records: list[Mapping[str, Any]], cache: ColumnCache) -> np.ndarray:
        import numpy as np
        starts, ends, scores = np.array(bounds[0]), np.array(bounds[1]), np.array(points)
        values = values_of(records, cache)
        k = np.clip(np.searchsorted(starts, values, side="right") - 1, 0, len(ranges) - 1)
        inside = (values >= starts[k]) & (values < ends[k])  # NaN (missing) is inside nothing
        return np.where(inside, scores[k], MISSING)

    return column, min(points), max(points)


def _span(r: BandRange) -> str:
    return f"[{'-inf' if r.from_ is None else display(r.from_)}, {'inf' if r.below is None else display(r.below)})"


def _lookup(lookup: Lookup, expr: _Expressions) -> Scale | None:
    node = expr.node(lookup.of, lookup.loc("of"), STRING)
    if node is None:
        return None
    table = {k.lower(): float(v) for k, v in lookup.table.items()}
    default = MISSING if lookup.default is None else float(lookup.default)
    text_of = _extractor(node)

    def column(records: list[Mapping[str, Any]], cache: ColumnCache) -> np.ndarray:
        return _floats((None if (t := text_of(r)) is None else table.get(t.lower(), default) for r in records),
                       len(records))

    values = list(table.values()) + ([default] if lookup.default is not None else [])
    return column, min(values), max(values)


def _tie_column(name: str, kind: str) -> Column:
    if kind == NUMBER:
        return lambda records, cache: field_column(name, records, cache)
    get = operator.itemgetter(name)

    def column(records: list[Mapping[str, Any]], cache: ColumnCache) -> np.ndarray:
        import numpy as np
        return np.array([_number(get(r)) for r in records], dtype=float)
    return column


def _extractor(node: Node) -> Extract:
    if isinstance(node, Field):  # the common case, without the evaluator's dispatch
        return operator.itemgetter(node.name)
    return lambda record: evaluate(node, record)


def _tie_breaks(policy: ScoringPolicy, criteria: list[ScoredCriterion], declared: set[str], expr: _Expressions,
                sink: DiagnosticSink) -> list[tuple[str, Column | int, bool]]:
    out: list[tuple[str, Column | int, bool]] = []
    index = {c.id: i for i, c in enumerate(criteria)}
    for tie in policy.tie_breaks:
        descending = tie.order == "desc"
        if tie.by in index:
            out.append((tie.by, index[tie.by], descending))
        elif tie.by in declared:
            continue  # the criterion has errors of its own, already reported
        elif tie.by in expr.types and expr.types[tie.by] in (NUMBER, DATE):
            out.append((tie.by, _tie_column(tie.by, expr.types[tie.by]), descending))
        else:
            hint = did_you_mean(tie.by, list(declared) + list(expr.types))
            what = "text cannot break ties" if tie.by in expr.types else "not a criterion or a field"
            sink.add("bad_tie_break", f"tie-break '{tie.by}': {what}", tie.loc("by"), hint or
                     "use a criterion id, or a number or date field")
    return out


def _number(value: Any) -> float:
    if value is None:
        return MISSING
    if isinstance(value, dt.date):
        return float(value.toordinal())
    return float(value)


def reweighted(scoring: CompiledScoring, weights: Mapping[str, float]) -> CompiledScoring:
    """The same scoring with some criteria weighted differently (all weights then rescaled to sum to 1)."""
    unknown = sorted(set(weights) - {c.id for c in scoring.criteria})
    if unknown:
        raise ValueError(f"unknown scoring criterion '{unknown[0]}' (criteria: "
                         f"{', '.join(c.id for c in scoring.criteria)})")
    raw = {c.id: float(weights.get(c.id, c.weight)) for c in scoring.criteria}
    total = sum(raw.values())
    if not total:
        raise ValueError("the new weights add up to 0")
    criteria = [dataclasses.replace(c, weight=raw[c.id] / total) for c in scoring.criteria]
    return dataclasses.replace(scoring, criteria=criteria)
