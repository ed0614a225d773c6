"""Table analysis, as DMN tools do it: gaps, overlaps the hit policy forbids, rows that can never fire.

Why not an SMT solver (z3): every cell is a unary test of one input against constants, so a row is a box
(one set of values per input column) and a table is a union of boxes. Boxes are exactly what the interval
analysis of ``engine/expr/domains.py`` computes with (:class:`Values`: maybe null, plus intervals or a
finite or co-finite set of constants), so gaps, overlaps and covered rows are found exactly by splitting
each column into the pieces its cells cut it into, with no solver and no new dependency. What boxes cannot
see is a relation between two input columns (``budget`` and ``benefit / budget``): there each column is
taken as free, so a gap or overlap may be one no proposal can reach. That is why every finding comes with an
example proposal that the engine has decided again (through the field schema and the derived values, by the
reference evaluator) and found to be in the gap or in both rows; when no such proposal is found, the finding
is a warning saying so, never an error.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from bisect import bisect_right, insort
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from itertools import chain
from typing import Any

from engine.errors import Diagnostic, Location
from engine.expr.domains import Choice, Domain, Line, Span, Values, domain_of
from engine.expr.evaluate import evaluate
from engine.expr.nodes import BOOL, DATE, NUMBER, STRING, Node, fields_of
from engine.policy.models import FieldSpec
from engine.tables.build import CompiledTable, Input
from engine.tables.cells import cell_values, show_values
from engine.tables.hits import SINGLE

MAX_STEPS = 50_000  # pieces visited per table: a table too large for that is reported, never a hang
MAX_FOUND = 5  # gaps or overlaps reported per table
SEARCH_TRIES = 2_000  # proposals tried to reach a gap through inputs that are expressions

Recorder = Callable[[Mapping[str, Any]], dict[str, Any] | None]  # raw proposal -> typed record with derived values
Box = tuple[Values, ...]  # per input of a table: the values a row (or a region) takes


class TableAnalysis:
    def __init__(self, table: CompiledTable, fields: Mapping[str, FieldSpec], id_field: str,
                 derived: Mapping[str, Node], recorder: Recorder, today: dt.date):
        self.table, self.fields, self.id_field, self.derived = table, fields, id_field, derived
        self.recorder, self.today = recorder, today
        self.ordered = [i.type in (NUMBER, DATE) for i in table.inputs]
        self.domains = [self._domain(i) for i in table.inputs]
        self.boxes = [tuple(self.domains[k].fit(cell_values(cell, self.ordered[k])) for k, cell in enumerate(row.cells))
                      for row in table.rows]
        self.steps = 0
        self._cut: dict[int, list[tuple[Values, tuple[int, ...]]]] = {}  # each column cut by all its cells

    # ------------------------------------------------------------------ domains and boxes

    def _domain(self, item: Input) -> Domain:
        spec = self.fields.get(item.field) if item.field else None
        if spec is None:
            return domain_of(item.type if item.type in (NUMBER, DATE, BOOL) else STRING)
        return domain_of(item.type if item.type in (NUMBER, DATE, BOOL) else STRING,
                         null=not (spec.required or spec.default is not None), low=spec.min, high=spec.max,
                         choices=spec.values if spec.type == "enum" else None, integer=spec.type == "integer")

    def _empty(self, box: Box) -> bool:
        return any(v.empty for v in box)

    # ------------------------------------------------------------------ findings

    def diagnostics(self) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        table = self.table
        for i, box in enumerate(self.boxes):
            if self._empty(box):
                k = next(k for k, v in enumerate(box) if v.empty)
                out.append(_warning("table_row_never", f"table '{table.name}': row {table.rows[i].label} can never "
                                    f"match: no value of {table.inputs[k].text} passes "
                                    f"{table.rows[i].cells[k].text!r}", table.rows[i].cell_places[k],
                                    "check the cell against the field's values, min and max"))
        out += self._overlaps()
        if table.hit_policy in SINGLE:
            out += self._gaps()
        if table.hit_policy in ("first", "priority"):
            out += self._covered()
        if self.steps > MAX_STEPS:
            out.append(_warning("table_too_large", f"table '{table.name}' is too large to analyse completely "
                                f"(stopped after {MAX_STEPS:,} steps); gaps and overlaps may be missing",
                                self._header()))
        return out

    def _header(self) -> Location:
        first = self.table.rows[0].where
        return Location(first.file, self.table.inputs[0].where.line if self.table.inputs else 1, 1, sheet=first.sheet)

    def _overlaps(self) -> list[Diagnostic]:
        table = self.table
        if table.hit_policy not in ("unique", "any"):
            return []
        out: list[Diagnostic] = []
        partners = self._partners()
        for j in range(len(self.boxes)):
            for i in partners(j):
                if len(out) >= MAX_FOUND:
                    return out
                if table.hit_policy == "any" and table.rows[i].outputs == table.rows[j].outputs:
                    continue
                both = self._meet(i, j)
                if self._empty(both):
                    continue
                example = self.example(both, _with_both(i, j))
                first, second = table.rows[i], table.rows[j]
                why = "a unique table allows one matching row" if table.hit_policy == "unique" else \
                    "they give different outputs, and a table with hit policy any needs them to agree"
                message = (f"table '{table.name}': rows {first.label} and {second.label} overlap on "
                           f"{self._shown(both)}; {why}")
                if example is not None:
                    out.append(Diagnostic("table_overlap", f"{message}; example proposal: {_json(example)}",
                                          second.where, "narrow one of the rows, or choose hit_policy first or "
                                          "priority if the overlap is meant"))
                else:
                    out.append(_warning("table_overlap", f"{message}, if a proposal can have these values (none "
                                        "was found: the inputs may depend on each other)", second.where,
                                        "check the two rows"))
        return out

    def _gaps(self) -> list[Diagnostic]:
        table = self.table
        gaps = self.uncovered(list(range(len(self.boxes))), tuple(d.values for d in self.domains))
        out: list[Diagnostic] = []
        for gap in gaps[:MAX_FOUND]:
            example = self.example(gap, lambda rows: not rows)
            message = f"table '{table.name}' has a gap: no row matches {self._shown(gap)}"
            if example is not None:
                out.append(_warning("table_gap", f"{message}; example proposal: {_json(example)}", self._header(),
                                    "add a row for these values (with - in the outputs if they need no outcome)"))
            else:
                out.append(_warning("table_gap", f"{message}, if a proposal can have these values (none was found: "
                                    "the inputs may depend on each other)", self._header(), "add a row for them"))
        return out

    def _covered(self) -> list[Diagnostic]:
        table = self.table
        out: list[Diagnostic] = []
        partners = self._partners(every=True)
        for j, row in enumerate(table.rows):
            if self._empty(self.boxes[j]):
                continue
            if table.hit_policy == "first":
                better = list(range(j))
            else:
                better = [i for i in range(len(table.rows)) if table.ranks[i] < table.ranks[j]
                          or (table.ranks[i] == table.ranks[j] and i < j)]
            meeting = set(partners(j)) if better else set()  # only a row that meets this one covers any of it
            better = [i for i in better if i in meeting and not self._empty(self._meet(i, j))]
            if self.steps > MAX_STEPS:
                break  # uncovered() would find nothing, and the row be called covered: table_too_large says so
            if not self.uncovered(better, self.boxes[j], stop_at_first=True):
                why = "earlier rows match every proposal it matches" if table.hit_policy == "first" else \
                    "rows with outputs of higher priority match every proposal it matches"
                out.append(_warning("table_row_never", f"table '{table.name}': row {row.label} can never be the "
                                    f"result: {why}", row.where, "remove the row, or move it up"
                                    if table.hit_policy == "first" else "remove the row, or narrow the others"))
        return out

    def _shown(self, box: Box) -> str:
        parts = [f"{item.text} {show_values(v, self.ordered[k])}" for k, (item, v) in enumerate(zip(self.table.inputs, box))
                 if not _whole(v, self.domains[k])]
        return "; ".join(parts) or "any input"

    # ------------------------------------------------------------------ the splitting

    def uncovered(self, rows: list[int], within: Box, stop_at_first: bool = False) -> list[Box]:
        """Boxes (inside ``within``) that none of ``rows`` matches, merged where they differ in one column."""
        found: list[Box] = []
        limit = 1 if stop_at_first else 50

        def walk(k: int, candidates: list[int], prefix: Box) -> None:
            if len(found) >= limit or self.steps > MAX_STEPS:
                return
            self.steps += 1
            if not candidates:
                found.append(prefix + within[k:])
                return
            if k == len(within):
                return
            cells = list(dict.fromkeys(self.boxes[i][k] for i in candidates))
            place = {cell: n for n, cell in enumerate(cells)}
            rows_of: list[list[int]] = [[] for _ in cells]  # each cell's candidates, in their order
            for i in candidates:
                rows_of[place[self.boxes[i][k]]].append(i)
            order = {i: n for n, i in enumerate(candidates)}
            for atom, within_cells in self._atoms(k, within[k], cells):
                # the candidates whose cell holds the whole atom (an atom lies in a cell or outside it)
                inside = rows_of[within_cells[0]] if len(within_cells) == 1 else \
                    sorted(chain.from_iterable(rows_of[c] for c in within_cells), key=order.__getitem__)
                walk(k + 1, inside, prefix + (atom,))

        walk(0, [i for i in rows if not self._empty(self.boxes[i])], ())
        return _merged(found)

    def _atoms(self, k: int, whole: Values, cells: list[Values]) -> list[tuple[Values, tuple[int, ...]]]:
        """``whole`` cut by each of ``cells`` in turn (each piece into its part inside the cell and its part
        outside), in that order: the pieces, each with the positions in ``cells`` of the cells it lies in.

        A piece that does not meet a cell would be cut into nothing and itself (``fit(piece & ~cell)`` is the
        piece, value for value), so only the pieces that meet a cell are cut: an index of the pieces' values
        (intervals by their lower end, constants, null) finds them. Bands of a 5,000-row table meet one or two
        pieces each, so cutting is linear in the cells, where cutting every piece by every cell was quadratic."""
        fit = self.domains[k].fit
        start = fit(whole)
        if start.empty:
            return []
        pieces = _Pieces(_Piece(start, ()))
        for n, cell in enumerate(cells):
            outside = ~cell
            for piece in pieces.meeting(cell):
                inner, outer = fit(piece.values & cell), fit(piece.values & outside)
                parts = ([_Piece(inner, piece.inside + (n,))] if not inner.empty else []) + \
                    ([_Piece(outer, piece.inside)] if not outer.empty else [])
                pieces.replace(piece, parts)
        return [(p.values, p.inside) for p in pieces]

    def _column_pieces(self, k: int) -> list[tuple[Values, tuple[int, ...]]]:
        """Column k's domain cut by every row's cell (the rows that can match), with each piece's cells."""
        if k not in self._cut:
            self._cut[k] = self._atoms(k, self.domains[k].values, self._cells(k))
        return self._cut[k]

    def _cells(self, k: int) -> list[Values]:
        return list(dict.fromkeys(box[k] for box in self.boxes if not self._empty(box)))

    def _meet(self, i: int, j: int) -> Box:
        return tuple(self.domains[k].fit(a & b) for k, (a, b) in enumerate(zip(self.boxes[i], self.boxes[j])))

    def _partners(self, every: bool = False) -> Callable[[int], list[int]]:
        """For row j, the rows (before it; ``every``: all but it) that may meet it in every column, ascending: the
        rows that share a piece of one column (the column where that leaves the fewest pairs) with it. Two boxes
        meet in a column exactly when a piece of its cut lies in both cells, so no meeting pair is left out."""
        n = len(self.boxes)
        live = [i for i in range(n) if not self._empty(self.boxes[i])]
        if not self.table.inputs or len(live) < 2:
            return lambda j: [i for i in live if i != j and (every or i < j)]
        best: tuple[int, int, list[list[int]]] | None = None  # (pairs, column, each cell's rows)
        for k in range(len(self.table.inputs)):
            cells = self._cells(k)
            place = {cell: c for c, cell in enumerate(cells)}
            rows_of: list[list[int]] = [[] for _ in cells]
            for i in live:
                rows_of[place[self.boxes[i][k]]].append(i)
            pairs = sum(sum(len(rows_of[c]) for c in inside) ** 2 for _, inside in self._column_pieces(k))
            if best is None or pairs < best[0]:
                best = (pairs, k, rows_of)
        assert best is not None
        _, column, rows_of = best
        groups = [list(chain.from_iterable(rows_of[c] for c in inside)) for _, inside in self._column_pieces(column)]
        where: dict[int, list[int]] = {}
        for g, group in enumerate(groups):
            for i in group:
                where.setdefault(i, []).append(g)

        def partners(j: int) -> list[int]:
            found = {i for g in where.get(j, ()) for i in groups[g]}
            return sorted(i for i in found if i != j and (every or i < j))
        return partners

    # ------------------------------------------------------------------ examples, decided again

    def example(self, box: Box, wanted: Callable[[list[int]], bool]) -> dict[str, Any] | None:
        """A proposal whose inputs fall in ``box`` and whose matching rows satisfy ``wanted``, checked by
        reading it through the field schema and evaluating the table's rows on it; None if none is found."""
        raw = self._base()
        direct = True
        for k, (item, values) in enumerate(zip(self.table.inputs, box)):
            if item.field is not None:
                if values.null and _whole(values, self.domains[k]):
                    continue  # any value: the example leaves the field out
                value = _pick(values, self.today)
                if value is _NONE:
                    return None
                raw[item.field] = _raw(value)
            else:
                direct = False
        if direct:
            return {k: v for k, v in raw.items() if v is not None} if self._proves(raw, box, wanted) else None
        fixed = {i.field for i in self.table.inputs if i.field is not None}
        reads = sorted(self._fields_read() - fixed)
        rng = random.Random(2026)
        pools = {name: self._pool(name) for name in reads}
        for _ in range(SEARCH_TRIES):
            trial = dict(raw)
            for name in reads:
                trial[name] = rng.choice(pools[name])
            if self._proves(trial, box, wanted):
                return {k: v for k, v in trial.items() if v is not None}
        return None

    def _proves(self, raw: dict[str, Any], box: Box, wanted: Callable[[list[int]], bool]) -> bool:
        record = self.recorder({k: v for k, v in raw.items() if v is not None})
        if record is None:
            return False
        for item, values in zip(self.table.inputs, box):
            if not _contains(values, evaluate(item.node, record)):
                return False
        return wanted(self.table.matches(record))

    def _base(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if spec.required:
                out[name] = "EXAMPLE-1" if name == self.id_field else _raw(_pick(self._domain_of(name).values,
                                                                                  self.today, "Example"))
        return out

    def _domain_of(self, name: str) -> Domain:
        spec = self.fields[name]
        kind = {"number": NUMBER, "money": NUMBER, "integer": NUMBER, "alignment": NUMBER, "date": DATE,
                "bool": BOOL}.get(spec.type, STRING)
        return domain_of(kind, null=False, low=spec.min, high=spec.max,
                         choices=spec.values if spec.type == "enum" else None, integer=spec.type == "integer")

    def _fields_read(self) -> set[str]:
        names: set[str] = set()
        todo = [n for item in self.table.inputs for n in fields_of(item.node)]
        while todo:
            name = todo.pop()
            if name in names:
                continue
            if name in self.fields:
                names.add(name)
            elif name in self.derived:
                todo += list(fields_of(self.derived[name]))
        return names

    def _pool(self, name: str) -> list[Any]:
        spec = self.fields[name]
        constants = {t.value for row in self.table.rows for c in row.cells for t in c.all_tests
                     if isinstance(t.value, Decimal)} | {t.high for row in self.table.rows for c in row.cells
                                                         for t in c.all_tests if isinstance(t.high, Decimal)}
        nulls = [] if spec.required else [None]
        if spec.type in ("number", "money", "integer"):
            base = {Decimal(v) for v in (0, 1, -1, 2, 3, 5, 10, 100, 1000, 100_000, 1_000_000, 10_000_000)}
            base |= {c + d for c in constants for d in (Decimal(0), Decimal(1), Decimal(-1))} | {c * 2 for c in constants}
            return nulls + [str(v) for v in sorted(base)]
        if spec.type == "date":
            return nulls + [(self.today + dt.timedelta(days=d)).isoformat() for d in (-400, -10, 0, 10, 29, 30, 400, 2000)]
        if spec.type == "bool":
            return nulls + [True, False]
        if spec.type == "enum":
            return nulls + list(spec.values or [])
        if spec.type == "list":
            return nulls + ["-1000;200;300", "-1000;600;600", "-1000;100", "1000;-2000"]
        return nulls + ["Example", "Example Ltd"]


class _Piece:
    """A piece of a column's values, with the positions of the cells it lies in (the cells it was cut inside)."""

    __slots__ = ("values", "inside", "before", "after")

    def __init__(self, values: Values, inside: tuple[int, ...]):
        self.values, self.inside = values, inside
        self.before: _Piece | None = None
        self.after: _Piece | None = None


def _low(span: Span) -> tuple[Any, ...]:
    """An interval's lower end as a sort key: unbounded first, then by value, a closed end before an open one."""
    return (0,) if span.low is None else (1, span.low, 0 if span.low_in else 1)


def _components(line: Line) -> list[Span]:
    """The set of a union of intervals as disjoint, non-touching intervals (for the index only: the pieces keep
    the spans their cutting made, which is how gaps and overlaps read)."""
    out: list[Span] = []
    for s in sorted((s for s in line.spans if not s.empty), key=_low):
        if out:
            last = out[-1]
            if last.high is None:
                continue
            if s.low is None or s.low < last.high or (s.low == last.high and (s.low_in or last.high_in)):
                if s.high is None or s.high > last.high or (s.high == last.high and s.high_in):
                    out[-1] = Span(last.low, s.high, last.low_in, s.high_in)
                continue
        out.append(s)
    return out


class _Pieces:
    """A column's pieces in their order (a linked list: cutting one puts its parts in its place), indexed by value:
    intervals by their lower end (the pieces are disjoint, so their intervals sorted by lower end are sorted by
    upper end too), constants of finite sets, the one co-finite set, and the one piece that holds null."""

    def __init__(self, first: _Piece):
        self.head: _Piece | None = None
        self.lows: list[tuple[Any, ...]] = []  # sorted lower ends of every piece's intervals
        self.spans: dict[tuple[Any, ...], tuple[Span, _Piece]] = {}
        self.constants: dict[object, _Piece] = {}
        self.cofinite: _Piece | None = None
        self.null: _Piece | None = None
        self.head = first
        self._index(first)

    def __iter__(self) -> Iterator[_Piece]:
        piece = self.head
        while piece is not None:
            yield piece
            piece = piece.after

    def meeting(self, cell: Values) -> list[_Piece]:
        """The pieces that may meet the cell (every piece that does, maybe a few that only touch it)."""
        found: dict[int, _Piece] = {}
        if cell.null and self.null is not None:
            found[id(self.null)] = self.null
        part = cell.part
        if isinstance(part, Line):
            for span in part.spans:
                if span.empty:
                    continue
                end = len(self.lows) if span.high is None else bisect_right(self.lows, (1, span.high, 2))
                for n in range(end - 1, -1, -1):
                    have, holder = self.spans[self.lows[n]]
                    if span.low is not None and have.high is not None and have.high < span.low:
                        break  # below the cell, and so is every interval before it
                    found[id(holder)] = holder
        elif part.cofinite:  # not(...): it meets nearly every piece
            return list(self)
        else:
            for value in part.values:
                if (piece := self.constants.get(value)) is not None:
                    found[id(piece)] = piece
            if self.cofinite is not None:
                found[id(self.cofinite)] = self.cofinite
        return list(found.values())

    def replace(self, piece: _Piece, parts: list[_Piece]) -> None:
        if len(parts) == 1 and parts[0].values == piece.values and parts[0].inside == piece.inside:
            return  # cut into itself: the cell only touched it
        self._unindex(piece)
        before, after = piece.before, piece.after
        for part in parts:
            part.before = before
            if before is None:
                self.head = part
            else:
                before.after = part
            before = part
            self._index(part)
        if before is None:
            self.head = after
        else:
            before.after = after
        if after is not None:
            after.before = before

    def _index(self, piece: _Piece) -> None:
        values = piece.values
        if values.null:
            self.null = piece
        part = values.part
        if isinstance(part, Line):
            for span in _components(part):
                key = _low(span)
                insort(self.lows, key)
                self.spans[key] = (span, piece)
        elif part.cofinite:
            self.cofinite = piece
        else:
            for value in part.values:
                self.constants[value] = piece

    def _unindex(self, piece: _Piece) -> None:
        values = piece.values
        if self.null is piece:
            self.null = None
        part = values.part
        if isinstance(part, Line):
            for span in _components(part):
                key = _low(span)
                del self.lows[bisect_right(self.lows, key) - 1]
                del self.spans[key]
        elif part.cofinite:
            if self.cofinite is piece:
                self.cofinite = None
        else:
            for value in part.values:
                if self.constants.get(value) is piece:
                    del self.constants[value]


_NONE = object()


def _pick(values: Values, today: dt.date, text: str = "example") -> Any:
    part = values.part
    if isinstance(part, Line) and part.spans:
        s = part.spans[0]
        if s.low is not None and s.high is not None and s.low != s.high:  # the middle reads best
            if isinstance(s.low, dt.date):
                return s.low + (s.high - s.low) / 2
            middle = (s.low + s.high) / 2
            whole = middle.to_integral_value()
            return whole if s.low < whole < s.high or (s.low_in and whole == s.low) else middle
        if s.low is not None and s.low_in:
            return s.low
        if s.high is not None and s.high_in:
            return s.high
        if s.low is not None and s.high is not None:
            if isinstance(s.low, dt.date):
                return s.low + (s.high - s.low) / 2
            return (s.low + s.high) / 2
        if s.low is not None:
            return s.low + (dt.timedelta(days=1) if isinstance(s.low, dt.date) else 1)
        if s.high is not None:
            return s.high - (dt.timedelta(days=1) if isinstance(s.high, dt.date) else 1)
        return Decimal(0)
    if isinstance(part, Choice) and not part.empty:
        if not part.cofinite:
            return sorted(part.values, key=str)[0]
        candidate = text
        while candidate in part.values:
            candidate += "x"
        return candidate
    if values.null:
        return None
    return _NONE


def _contains(values: Values, value: Any) -> bool:
    if value is None:
        return values.null
    part = values.part
    if isinstance(part, Line):
        return any(s.contains(value) for s in part.spans)
    return (value in part.values) != part.cofinite


def _raw(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _whole(values: Values, domain: Domain) -> bool:
    return domain.fit(domain.values & ~values).empty


def _merged(boxes: list[Box]) -> list[Box]:
    """Join boxes that differ in one column, so a gap reads as one range instead of its pieces."""
    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                differ = [k for k, (a, b) in enumerate(zip(boxes[i], boxes[j])) if a != b]
                if len(differ) <= 1:
                    k = differ[0] if differ else 0
                    boxes[i] = boxes[i][:k] + (boxes[i][k] | boxes[j][k],) + boxes[i][k + 1:]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def _with_both(i: int, j: int) -> Callable[[list[int]], bool]:
    """Whether matched rows include both ``i`` and ``j``."""
    return lambda rows: i in rows and j in rows


def _json(example: dict[str, Any]) -> str:
    return json.dumps(example, ensure_ascii=False, default=str)


def _warning(code: str, message: str, where: Location, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, where, hint, severity="warning")
