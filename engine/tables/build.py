"""Compile decision tables into the expression trees the rest of the engine runs.

A table's header names its columns: each output name of its target (intake: ``effect``, ``route``,
``reason``; scoring: ``points``; both: ``rule``, the row's rule id), annotation columns (``note``,
``comment``, ``description``: read by people only), and otherwise an input, which is a field or an
expression (``benefit / budget``; put a field that is named like an output in brackets: ``(reason)``).
Each row below it is a rule: its input cells (:mod:`engine.tables.cells`) joined by ``and``, type-checked
by the same checker as the YAML rules, so both back ends run it.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import DiagnosticSink, Location, cell_name, did_you_mean
from engine.expr.check import BROKEN, check
from engine.expr.evaluate import evaluate
from engine.expr.nodes import BOOL, Field, Node
from engine.expr.parse import ExprError, Namespaces, parse
from engine.policy.models import RULE_ID, Effect, FieldSpec, TableSpec, TablesPolicy
from engine.tables.cells import Cell, CellError, cell_condition, check_cell, parse_cell
from engine.tables.hits import HitGroup, Overlap, choose
from engine.tables.sheet import Formula, Grid, SheetError, Workbooks

if TYPE_CHECKING:
    import numpy as np

OUTPUTS = {"intake": ("effect", "route", "reason", "rule"), "scoring": ("points", "rule")}
NOTES = ("note", "notes", "comment", "comments", "description")
EFFECTS = ("reject", "review", "flag")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Input:
    text: str
    node: Node
    type: str
    where: Location
    field: str | None  # the proposal field it reads, when it is one


@dataclass(frozen=True)
class Row:
    number: int  # the sheet's row
    where: Location  # its first cell, for diagnostics
    label: str  # Book.xlsx!Sheet!A7: how findings and coverage name it
    cells: tuple[Cell, ...]
    cell_places: tuple[Location, ...]
    condition: Node
    rule_id: str
    effect: Effect | None = None
    route: str | None = None
    reason: str | None = None
    points: Decimal | None = None

    @property
    def outputs(self) -> tuple[Effect | None, str | None, str | None, Decimal | None]:
        return (self.effect, self.route, self.reason, self.points)


@dataclass(frozen=True)
class CompiledTable:
    name: str
    hit_policy: str
    applies_to: str
    where: Location  # the table's entry in the tables file
    file: str  # the workbook as diagnostics name it
    sheet: str | None
    inputs: tuple[Input, ...]
    rows: tuple[Row, ...]
    ranks: tuple[tuple[float, ...], ...]  # per row, for priority
    aggregate: str | None = None

    def group(self, positions: list[int]) -> HitGroup:
        """The hit group of this table's rows at ``positions`` (of a rule list, or 0..n-1 for its rows)."""
        return HitGroup(self.name, self.hit_policy, tuple(positions),
                        {p: self.ranks[i] for i, p in enumerate(positions)},
                        {p: self.rows[i].outputs for i, p in enumerate(positions)},
                        {p: self.rows[i].label for i, p in enumerate(positions)})

    @functools.cached_property
    def whole(self) -> HitGroup:
        """The hit group of all its rows, built once: a scoring table's column and its overlap check use it."""
        return self.group(list(range(len(self.rows))))

    def matches(self, record: Mapping[str, Any]) -> list[int]:
        """Rows (indexes) whose conditions are true for a typed record, by the reference evaluator."""
        return [i for i, row in enumerate(self.rows) if evaluate(row.condition, record) is True]

    @property
    def points_range(self) -> tuple[float, float]:
        points = [float(r.points) for r in self.rows if r.points is not None] or [0.0]
        if self.hit_policy == "collect" and (self.aggregate or "sum") == "sum":
            return min(0.0, sum(p for p in points if p < 0)), max(0.0, sum(p for p in points if p > 0))
        if self.hit_policy == "collect" and self.aggregate == "count":
            return 0.0, float(len(self.rows))
        return min(points), max(points)

    def overlap(self, record: Mapping[str, Any]) -> tuple[str, str] | None:
        """Scoring: ('table_overlap', message) when rows the hit policy forbids to match together match this
        record (the analysis could not rule it out: rows over expressions), else None. ``column`` gives such a
        record NaN; the ranking makes it an error row, never a missing value."""
        try:
            choose(self.whole, self.matches(record))
        except Overlap as exc:
            return "table_overlap", str(exc)
        return None

    def column(self) -> Callable[[list[Mapping[str, Any]], dict[str, np.ndarray]], np.ndarray]:
        """Scoring: the table's points for each record (NaN: no row matches, or rows overlap at run time: see
        ``overlap``)."""
        group = self.whole
        aggregate = self.aggregate or "sum"

        def points(record: Mapping[str, Any]) -> float:
            try:
                chosen = choose(group, self.matches(record))
            except Overlap:
                return float("nan")
            values = [float(p) for p in (self.rows[i].points for i in chosen) if p is not None]
            if self.hit_policy == "collect" and aggregate == "count":
                return float(len(chosen)) if chosen else float("nan")
            if not values:
                return float("nan")
            return _AGGREGATES.get(aggregate, _sum)(values) if len(values) > 1 else values[0]

        def column(records: list[Mapping[str, Any]], cache: dict[str, np.ndarray]) -> np.ndarray:
            import numpy as np  # lazy: compiling a policy needs no numpy, ranking does
            return np.fromiter((points(r) for r in records), float, len(records))
        return column


def _sum(values: list[float]) -> float:
    return sum(values)


_AGGREGATES: dict[str, Callable[[list[float]], float]] = {"sum": _sum, "min": min, "max": max}


@dataclass
class CompiledTables:
    tables: list[CompiledTable] = field(default_factory=list)

    def named(self, applies_to: str) -> dict[str, CompiledTable]:
        return {t.name: t for t in self.tables if t.applies_to == applies_to}


def compile_tables(documents: list[TablesPolicy], sheets: dict[str, bytes], stable_root: Path, types: dict[str, str],
                   fields: Mapping[str, FieldSpec], namespaces: Namespaces, today: dt.date,
                   sink: DiagnosticSink) -> CompiledTables:
    """Every table of every tables file; errors go to ``sink``. ``sheets`` receives each file's bytes (hash)."""
    out = CompiledTables()
    books = Workbooks()
    names: dict[str, Location] = {}
    for document in documents:
        for spec in document.tables:
            where = spec.loc("name")
            if spec.name in names:
                sink.add("duplicate_table", f"table '{spec.name}' is already defined at {names[spec.name]}", where)
                continue
            names[spec.name] = where
            table = _compile_table(document, spec, books, sheets, stable_root, types, fields, namespaces, today, sink)
            if table is not None:
                out.tables.append(table)
    return out


def _compile_table(document: TablesPolicy, spec: TableSpec, books: Workbooks, sheets: dict[str, bytes],
                   stable_root: Path, types: dict[str, str], fields: Mapping[str, FieldSpec], namespaces: Namespaces,
                   today: dt.date, sink: DiagnosticSink) -> CompiledTable | None:
    relative = spec.file or document.workbook
    if relative is None:
        sink.add("missing_key", f"table '{spec.name}' names no file", spec.loc("name"),
                 "add 'file:' to the table, or 'workbook:' to the tables file")
        return None
    base = Path(document.loc().file).parent
    path = base / relative
    display = os.path.normpath(str(path))
    try:
        grid = books.grid(path, spec.sheet)
    except SheetError as exc:
        if exc.at is not None:  # at a cell of the sheet, as a spreadsheet names it
            where = Location(display, *exc.at, sheet=spec.sheet or "")
        else:
            where = spec.loc("file") if spec.file else document.loc("workbook") if exc.code != "unknown_sheet" \
                else spec.loc("sheet")
        sink.add(exc.code, exc.message, where, exc.hint)
        return None
    stable_file = _stable(path, stable_root)
    sheets[stable_file] = grid.content
    sheet = spec.sheet if spec.sheet is not None else ""
    before = len(sink.errors)
    table = _Reader(spec, grid, display, Path(stable_file).name, sheet, types, fields, namespaces, today, sink).read()
    if table is None or len(sink.errors) > before:
        return None
    return table


def _stable(path: Path, root: Path) -> str:
    """The workbook's machine-independent name: relative to the folder above the policy folder."""
    try:
        return path.resolve().relative_to(root.resolve().parent).as_posix()
    except ValueError:
        return path.name


class _Reader:
    def __init__(self, spec: TableSpec, grid: Grid, display: str, short: str, sheet: str, types: dict[str, str],
                 fields: Mapping[str, FieldSpec], namespaces: Namespaces, today: dt.date, sink: DiagnosticSink):
        self.spec, self.grid, self.display, self.short, self.sheet = spec, grid, display, short, sheet
        self.types, self.fields, self.namespaces, self.today, self.sink = types, fields, namespaces, today, sink

    def at(self, row: int, column: int) -> Location:
        return Location(self.display, row, column, sheet=self.sheet)

    def error(self, code: str, message: str, where: Location, hint: str | None = None) -> None:
        self.sink.add(code, message, where, hint)

    def read(self) -> CompiledTable | None:
        spec = self.spec
        rows = self.grid.rows()
        if not rows:
            self.error("empty_table", f"table '{spec.name}' is empty", self.at(0, 0),
                       "write a header row (inputs, then outputs) and a row per rule")
            return None
        header_row = rows[0]
        by_row: dict[int, dict[int, Any]] = {}  # the cells of each row, grouped once (not the grid scanned per row)
        for (r, c), v in self.grid.cells.items():
            by_row.setdefault(r, {})[c] = v
        header = by_row.get(header_row, {})
        outputs, inputs, notes = self.header(header_row, header)
        if inputs is None:
            return None
        wanted = "effect" if spec.applies_to == "intake" else "points"
        if wanted not in outputs.values():
            self.error("missing_column", f"table '{spec.name}' has no '{wanted}' column",
                       self.at(header_row, max(header) + 1),
                       f"a table that applies to {spec.applies_to} sets {', '.join(OUTPUTS[spec.applies_to][:-1])}")
            return None
        width = max(header)
        compiled: list[Row] = []
        ids: dict[str, Row] = {}
        for number in rows[1:]:
            values = by_row.get(number, {})
            beyond = [c for c in values if c > width or (c not in header)]
            if beyond:
                self.error("extra_cells", "a cell outside the table's columns (its header cell is empty)",
                           self.at(number, min(beyond)), "give the column a header, or clear the cell")
                continue
            row = self.row(number, values, inputs, outputs, notes)
            if row is None:
                continue
            if row.rule_id in ids:
                first = ids[row.rule_id]
                if spec.hit_policy != "collect" or first.outputs != row.outputs:
                    self.error("duplicate_rule", f"rule id '{row.rule_id}' is already used at {first.label}",
                               row.where, "rows share an id only in a collect table, as one rule with the same "
                               "outputs (it fires when any of its rows matches)" if spec.hit_policy == "collect"
                               else "give each row its own id, or leave the rule column empty")
                    continue
            ids.setdefault(row.rule_id, row)
            compiled.append(row)
        if not compiled:
            if not self.sink.errors:
                self.error("empty_table", f"table '{spec.name}' has a header but no rows", self.at(header_row, 1))
            return None
        ranks = self.ranks(compiled)
        if ranks is None:
            return None
        if spec.aggregate is not None and not (spec.hit_policy == "collect" and spec.applies_to == "scoring"):
            self.error("bad_value", "aggregate applies to scoring tables with hit_policy: collect",
                       spec.loc("aggregate"))
            return None
        return CompiledTable(spec.name, spec.hit_policy, spec.applies_to, spec.loc("name"), self.display,
                             spec.sheet, tuple(i for _, i in inputs), tuple(compiled), tuple(ranks), spec.aggregate)

    # ------------------------------------------------------------------ header

    def header(self, number: int, header: dict[int, Any]
               ) -> tuple[dict[int, str], list[tuple[int, Input]] | None, set[int]]:
        outputs: dict[int, str] = {}
        notes: set[int] = set()
        inputs: list[tuple[int, Input]] = []
        allowed = OUTPUTS[self.spec.applies_to]
        ok = True
        for column in range(1, max(header) + 1):
            if column not in header:
                continue
            raw = header[column]
            where = self.at(number, column)
            if not isinstance(raw, str):
                self.error("bad_header", f"a header cell names an input or an output; this one holds {raw!r}",
                           where, "write a field name, an expression, or one of: " + ", ".join(allowed))
                ok = False
                continue
            text = raw.strip()
            name = text.lower()
            if name in allowed:
                if name in outputs.values():
                    self.error("duplicate_column", f"column '{name}' appears twice in the header", where)
                    ok = False
                outputs[column] = name
                continue
            if name in NOTES:
                notes.add(column)
                continue
            if name in OUTPUTS["intake"] + OUTPUTS["scoring"]:
                self.error("bad_header", f"a table that applies to {self.spec.applies_to} has no output "
                           f"'{name}'", where, f"its outputs: {', '.join(allowed)}")
                ok = False
                continue
            found = self.input(text, where)
            if found is None:
                ok = False
                continue
            if outputs:
                self.error("bad_header", f"input '{text}' comes after an output column", where,
                           "put the inputs on the left and the outputs on the right, as DMN tables do")
                ok = False
                continue
            inputs.append((column, found))
        if not ok:
            return outputs, None, notes
        return outputs, inputs, notes

    def input(self, text: str, where: Location) -> Input | None:
        try:
            node = check(parse(text, self.namespaces), self.types, self.today)
        except ExprError as exc:
            close = did_you_mean(text.lower(), OUTPUTS[self.spec.applies_to] + NOTES)
            self.error(exc.code, f"input '{text}': {exc.message}", where, close or exc.hint)
            return None
        if node.type == BROKEN:
            return None
        field_name = node.name if isinstance(node, Field) and node.name in self.fields else None
        return Input(text, node, node.type, where, field_name)

    # ------------------------------------------------------------------ rows

    def row(self, number: int, values: dict[int, Any], inputs: list[tuple[int, Input]], outputs: dict[int, str],
            notes: set[int]) -> Row | None:
        if all(c in notes for c in values):
            return None  # an empty row, or a row of notes only
        first = min([c for c, _ in inputs] + list(outputs))
        where = self.at(number, first)
        label = cell_name(self.short, self.sheet, number, first)
        ok = True
        cells: list[Cell] = []
        places: list[Location] = []
        conditions: list[str] = []
        for column, item in inputs:
            place = self.at(number, column)
            raw = values.get(column)
            try:
                if isinstance(raw, Formula):
                    raise CellError("cell_formula", f"the cell holds the formula {raw.text[:40]!r}; a table's cells "
                                    "hold conditions", "type the condition itself, e.g. > 250,000 (start with an "
                                    "apostrophe for Excel to keep = 5 as text)")
                cell = parse_cell(raw)
                spec = self.fields.get(item.field) if item.field else None
                check_cell(cell, item.type, spec.values if spec is not None and spec.type == "enum" else None)
            except CellError as exc:
                self.error(exc.code, exc.message, place, exc.hint)
                ok = False
                continue
            cells.append(cell)
            places.append(place)
            text = cell_condition(cell, f"({item.text})")
            if text is not None:
                conditions.append(f"({text})")
        found = {name: self.output(name, values.get(column), self.at(number, column))
                 for column, name in outputs.items()}
        if any(v is _BAD for v in found.values()) or not ok:
            return None
        effect, route, reason = found.get("effect"), found.get("route"), found.get("reason")
        if self.spec.applies_to == "intake":
            if effect is None and (route or reason):
                self.error("missing_effect", "the row names a route or a reason but no effect", where,
                           "write reject, review or flag in the effect column")
                return None
            if effect is None and self.spec.hit_policy == "collect":
                self.error("missing_effect", "a row of a collect table must set an effect", where,
                           "write reject, review or flag, or remove the row")
                return None
            if effect == "review" and not route:
                self.error("missing_route", "the row sends proposals to review but names no route",
                           self.at(number, _column_of(outputs, "route") or first),
                           "write who must approve in the route column, e.g. Portfolio Board")
                return None
            if effect is not None and not reason:
                self.error("missing_reason", "the row sets an effect but gives no reason",
                           self.at(number, _column_of(outputs, "reason") or first),
                           "write why, in the words a proposer understands")
                return None
            for name in PLACEHOLDER.findall(reason or ""):
                if name not in self.types:
                    self.error("unknown_field", f"reason mentions '{{{name}}}', which is not a field",
                               self.at(number, _column_of(outputs, "reason") or first),
                               did_you_mean(name, self.types))
                    return None
        text = " and ".join(conditions) if conditions else "true"
        try:
            condition = check(parse(text, self.namespaces), self.types, self.today, want=BOOL)
        except ExprError as exc:
            self.error(exc.code, f"the row's condition cannot be built: {exc.message}", where, exc.hint)
            return None
        rule_id = found.get("rule") or f"{self.spec.name}.{number}"
        return Row(number, where, label, tuple(cells), tuple(places), condition, rule_id, effect, route, reason,
                   found.get("points"))

    def output(self, name: str, raw: Any, where: Location) -> Any:
        if isinstance(raw, Formula):
            self.error("cell_formula", f"the cell holds the formula {raw.text[:40]!r}", where,
                       "type the value itself")
            return _BAD
        text = "" if raw is None else str(raw).strip()
        if name == "points":
            if raw is None or text == "-":
                return None
            if isinstance(raw, bool):
                self.error("cell_type", "points are a number, not yes/no", where)
                return _BAD
            try:
                number = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(text.replace(",", "").replace("_", ""))
            except InvalidOperation:
                self.error("cell_type", f"points are a number, not {text[:40]!r}", where, "e.g. 7 or 2.5")
                return _BAD
            if not number.is_finite():
                self.error("cell_type", f"points are a finite number, not {text}", where)
                return _BAD
            return number
        if text in ("", "-"):
            return None
        if name == "effect":
            if text.lower() not in EFFECTS:
                self.error("cell_value", f"effect {text!r} is not one of: {', '.join(EFFECTS)}", where,
                           did_you_mean(text.lower(), EFFECTS) or "or - for no outcome")
                return _BAD
            return text.lower()
        if name == "rule":
            if not re.match(RULE_ID, text):
                self.error("cell_value", f"rule id {text!r} is not a valid id", where,
                           "use letters, digits, '-', '_' and '.', starting with a letter or digit")
                return _BAD
        if name == "route":  # 'Comité de\xa0Cartera' (a non-breaking space) was an approver of its own
            return " ".join(text.split())
        return text

    def ranks(self, rows: list[Row]) -> list[tuple[float, ...]] | None:
        spec = self.spec
        declared: dict[str, Any] = dict(spec.priority)
        if spec.hit_policy != "priority":
            if declared:
                self.error("bad_value", "priority applies to hit_policy: priority", spec.loc("priority"))
                return None
            return [() for _ in rows]
        if not declared:
            declared = {"effect": list(EFFECTS)} if spec.applies_to == "intake" else {"points": "highest"}
        order = []
        for name, values in declared.items():
            if name not in OUTPUTS[spec.applies_to] or name == "rule":
                self.error("bad_value", f"priority names '{name}', which is not an output of this table",
                           spec.key_loc("priority", name), f"outputs: {', '.join(OUTPUTS[spec.applies_to][:-1])}")
                return None
            order.append((name, values))
        out: list[tuple[float, ...]] = []
        for row in rows:
            key: list[float] = []
            for name, values in order:
                value = getattr(row, name)
                if values in ("highest", "lowest"):
                    if name != "points":
                        self.error("bad_value", "highest and lowest order points", spec.loc("priority", name))
                        return None
                    number = float(value) if value is not None else float("inf")
                    key.append(-number if values == "highest" and value is not None else number)
                    continue
                listed = [str(v).lower() if name == "effect" else v for v in values]
                shown = value if name != "points" else value
                if shown is None:
                    key.append(len(listed))
                elif shown in listed or (name == "points" and any(Decimal(str(v)) == shown for v in listed)):
                    key.append(next(i for i, v in enumerate(listed) if v == shown or (
                        name == "points" and Decimal(str(v)) == shown)))
                else:
                    self.error("priority_value", f"output {name} {shown!r} is not in the table's priority list",
                               row.where, f"list every value of {name} under priority, highest first")
                    return None
            out.append(tuple(key))
        return out


_BAD = object()


def _column_of(outputs: dict[int, str], name: str) -> int | None:
    return next((c for c, n in outputs.items() if n == name), None)
