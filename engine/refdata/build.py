"""Build typed lookup tables from ``kind: lookup`` files (rows in YAML, or a CSV file beside them).

Every cell is converted when the policy loads: a column's type is declared under ``columns:`` or shown by
its values (all numbers, all dates, all yes/no, else text; a CSV cell such as 250.000 that reads two ways
is refused, never guessed). Empty cells are null. Each key is in one row: a second row with the same key
is an error naming both places. Problems are located diagnostics; a table with any is left out (its
name is still known, so expressions that read it get no follow-on "not a field").
"""
from __future__ import annotations

import collections
import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from engine.errors import DiagnosticSink, Location, did_you_mean
from engine.expr.lookup import LookupTable
from engine.expr.nodes import BOOL, DATE, NUMBER, STRING
from engine.expr.values import ValueProblem, data_number, to_bool, to_date, to_number, to_text
from engine.io.rows import csv_cell_limit
from engine.policy.loader import DataFile, PolicySet
from engine.policy.models import LookupPolicy

MAX_ROWS = 100_000
MAX_BYTES = 20_000_000
EXPR_TYPES = {"string": STRING, "number": NUMBER, "money": NUMBER, "integer": NUMBER, "bool": BOOL, "date": DATE}
_CSV_NUMBER = re.compile(r"[+-]?\d[\d_]*(\.\d+)?")
_CSV_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BOOL_WORDS = {"true", "false", "yes", "no"}

Cell = tuple[Any, Location]  # a raw value and where it is written


def build_tables(policy_set: PolicySet, taken: Iterable[str], sink: DiagnosticSink) -> tuple[dict[str, LookupTable], set[str]]:
    """(usable tables by name, names of tables with errors of their own). ``taken``: field and derived names."""
    taken = set(taken)
    tables: dict[str, LookupTable] = {}
    broken: set[str] = set(policy_set.unusable_lookups) - taken
    for spec in policy_set.lookups:
        if spec.name in taken:
            sink.add("duplicate_name", f"lookup table '{spec.name}' has the name of a field or derived value",
                     spec.loc("name"), "give the table a name of its own, e.g. " + spec.name + "_table")
            continue
        table = _build(spec, policy_set.data_files.get(spec.name), sink)
        if table is None:
            broken.add(spec.name)
        else:
            tables[spec.name] = table
    return tables, broken


def _build(spec: LookupPolicy, data: DataFile | None, sink: DiagnosticSink) -> LookupTable | None:
    read = _csv_rows(spec, data, sink) if spec.csv is not None else _yaml_rows(spec, sink)
    if read is None:
        return None
    columns, rows = read
    ok = True
    for name in spec.columns:
        if name not in columns:
            sink.add("unknown_column", f"columns: '{name}' is not a column of table '{spec.name}'",
                     spec.key_loc("columns", name), did_you_mean(name, columns) or f"columns: {', '.join(columns)}")
            ok = False
    if spec.key not in columns:
        sink.add("unknown_column", f"key '{spec.key}' is not a column of table '{spec.name}'", spec.loc("key"),
                 did_you_mean(spec.key, columns) or f"columns: {', '.join(columns)}")
        return None
    if not ok:
        return None
    types: dict[str, str] = {}
    typed_columns: list[list[Any]] = []
    for index, column in enumerate(columns):
        cells = [row[index] for row in rows]
        declared = spec.columns.get(column)
        kind = declared or _inferred(column, cells, spec, sink)
        if kind is None:
            return None
        values = _converted(column, kind, cells, sink)
        if values is None:
            ok = False
            continue
        types[column] = EXPR_TYPES[kind]
        typed_columns.append(values)
    if not ok:
        return None
    key_index = list(columns).index(spec.key)
    by_key: dict[Any, tuple[Any, ...]] = {}
    first: dict[Any, Location] = {}
    for i, row in enumerate(zip(*typed_columns)):
        key, where = row[key_index], rows[i][key_index][1]
        if key is None:
            sink.add("bad_row", f"row {i + 1} of table '{spec.name}' has no '{spec.key}'", where,
                     "every row needs a key")
            ok = False
        elif key in by_key:
            sink.add("duplicate_row", f"'{key}' is the key of two rows of table '{spec.name}': here and at "
                     f"{first[key]}", where, "keep one row per key (merge or remove the other)")
            ok = False
        else:
            by_key[key], first[key] = row, where
    if not ok:
        return None
    digest = hashlib.sha256(repr((spec.key, list(types.items()), sorted(by_key.items(), key=repr))).encode()).hexdigest()
    return LookupTable(spec.name, spec.key, types, by_key, digest[:12])


def _yaml_rows(spec: LookupPolicy, sink: DiagnosticSink) -> tuple[list[str], list[list[Cell]]] | None:
    rows = spec.rows or []
    if len(rows) > MAX_ROWS:
        sink.add("too_large", f"table '{spec.name}' has {len(rows)} rows; at most {MAX_ROWS}", spec.loc("rows"))
        return None
    columns = list(spec.columns) if spec.columns else []
    for row in rows:
        columns += [c for c in row if c not in columns]
    out = [[(row.get(c), spec.loc("rows", i, c) if c in row else spec.loc("rows", i)) for c in columns]
           for i, row in enumerate(rows)]
    return [str(c) for c in columns], out


@csv_cell_limit()
def _csv_rows(spec: LookupPolicy, data: DataFile | None, sink: DiagnosticSink) -> tuple[list[str], list[list[Cell]]] | None:
    if data is None:
        return None  # the loader said why
    if len(data.text) > MAX_BYTES:
        sink.add("too_large", f"'{data.display}' is over {MAX_BYTES // 1_000_000} MB", Location(data.display))
        return None
    try:
        text = data.text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        sink.add("bad_encoding", f"'{data.display}' is not UTF-8 (byte {exc.start})", Location(data.display),
                 "save the file as UTF-8 (CSV UTF-8 in Excel)")
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            sink.add("missing_header", f"'{data.display}' has no header row", Location(data.display, 1, 1),
                     f"the first line names the columns, e.g. {spec.key},...")
            return None
        columns = [h.strip() for h in header]
        repeated = sorted(c for c, times in collections.Counter(columns).items() if times > 1)
        if repeated:
            sink.add("duplicate_column", f"column '{repeated[0]}' is named twice", Location(data.display, 1, 1))
            return None
        rows: list[list[Cell]] = []
        line = reader.line_num
        for record in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                sink.add("bad_row", f"line {start} has {len(record)} cells; the header has {len(columns)}",
                         Location(data.display, start, 1), "quote a cell that contains a comma")
                return None
            if len(rows) >= MAX_ROWS:
                sink.add("too_large", f"'{data.display}' has more than {MAX_ROWS} rows", Location(data.display))
                return None
            rows.append([(cell.strip() or None, Location(data.display, start, _column_of(record, j)))
                         for j, cell in enumerate(record)])
    except csv.Error as exc:
        sink.add("bad_row", f"'{data.display}': {exc}", Location(data.display, reader.line_num))
        return None
    return columns, rows


def _column_of(record: list[str], index: int) -> int:
    """The 1-based character column where cell ``index`` starts (unquoted cells; near enough for quoted ones)."""
    return 1 + sum(len(cell) + 1 for cell in record[:index])


def _inferred(column: str, cells: list[Cell], spec: LookupPolicy, sink: DiagnosticSink) -> str | None:
    """The type the values show: numbers, dates, yes/no or text. Mixed YAML values are an error, not text."""
    values = [(v, at) for v, at in cells if v is not None]
    if spec.csv is not None:
        texts = [str(v) for v, _ in values]
        if texts and all(_CSV_NUMBER.fullmatch(t) for t in texts):
            return "number"
        if texts and all(_CSV_DATE.fullmatch(t) for t in texts):
            return "date"
        if texts and all(t.lower() in _BOOL_WORDS for t in texts):
            return "bool"
        return "string"
    kinds = {_yaml_kind(v) for v, _ in values}
    if len(kinds) > 1:
        shown = " and ".join(sorted(kinds))
        sink.add("type_mismatch", f"column '{column}' of table '{spec.name}' holds {shown} values", values[0][1],
                 f"declare its type, e.g. columns: {{{column}: string}}, or make the values agree")
        return None
    return kinds.pop() if kinds else "string"


def _yaml_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if hasattr(value, "isoformat"):
        return "date"
    return "string"


def _integer(value: Any) -> Decimal:
    number = _number(value)
    if number != number.to_integral_value():
        raise ValueProblem(f"{number} is not a whole number")
    return number


def _number(value: Any) -> Decimal:
    return data_number(value) if isinstance(value, str) else to_number(value)


def _text(value: Any) -> str:
    return to_text(value) if not hasattr(value, "isoformat") else value.isoformat()


_CONVERT: dict[str, Callable[[Any], Any]] = {"string": _text, "number": _number, "money": _number, "integer": _integer,
                                             "bool": to_bool, "date": to_date}


def _converted(column: str, kind: str, cells: list[Cell], sink: DiagnosticSink) -> list[Any] | None:
    convert, ok = _CONVERT[kind], True
    out: list[Any] = []
    for value, at in cells:
        if value is None:
            out.append(None)
            continue
        try:
            out.append(convert(value))
        except ValueProblem as exc:
            sink.add(getattr(exc, "code", "bad_value"), f"column '{column}' ({kind}): {exc}", at)
            ok = False
    return out if ok else None
