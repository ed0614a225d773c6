"""Read proposals from CSV, JSON, JSONL and YAML files, one :class:`Row` at a time.

A row that cannot be read (a broken JSON line, a CSV row with extra cells) becomes a Row
with an ``error``, so the batch goes on and the output has one row per input row.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from engine.decision import RowError
from engine.errors import Diagnostic, InputError, Location

SUFFIXES = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".yaml": "yaml",
            ".yml": "yaml", ".xlsx": "xlsx", ".xlsm": "xlsx"}
csv.field_size_limit(1_000_000)
MAX_JSON_DEPTH = 64  # a proposal is flat; deeper input is refused before it is parsed into objects


@dataclass(frozen=True)
class Row:
    data: Mapping[str, Any] | None
    row: int | None = None  # CSV: line number in the file (header is 1); lists: 1-based position
    source: str | None = None
    error: RowError | None = None


def read_proposals(path: str | Path, sheet: str | None = None) -> Iterator[Row]:
    """Rows of one input file, chosen by its suffix, read as they are needed (CSV, JSONL and XLSX stream: memory
    does not grow with the number of rows). Raises InputError if the file as a whole is unusable."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    name = str(path)
    if kind is None:
        raise InputError([Diagnostic("unknown_format", f"cannot read '{path.suffix}' files",
                                     Location(name), f"use one of: {', '.join(sorted(SUFFIXES))}")])
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(1 << 20)
    except OSError as exc:
        raise InputError([Diagnostic("unreadable", f"cannot read file: {exc.strerror or exc}", Location(name))]) from None
    if kind == "xlsx":
        return _xlsx(path, name, sheet)
    if b"\x00" in head[:65536]:
        raise InputError([Diagnostic("binary_file", f"this is not a {kind.upper()} text file (it holds binary data)",
                                     Location(name), "save the sheet as CSV, or give the .xlsx workbook itself")])
    if not head.strip() and size <= len(head):
        raise InputError([Diagnostic("empty_file", "the file is empty", Location(name))])
    encoding = _encoding(head)
    if kind == "csv":
        return _csv(path, name, encoding)
    if kind == "jsonl":
        return _jsonl(path, name, encoding)
    if kind == "json" and encoding == "utf-8-sig":
        return _json_stream(path, name)
    return _document(path.read_text(encoding=encoding, errors="replace"), name, kind)


def _encoding(head: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) if the start of the file reads as UTF-8, else Windows-1252
    (spreadsheet exports on Windows)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "cp1252"


def _open(path: Path, encoding: str):
    return path.open(encoding=encoding, errors="replace", newline="")


def _csv(path: Path, name: str, encoding: str) -> Iterator[Row]:
    """Check the header now (a bad header rejects the file); read the rows lazily."""
    with _open(path, encoding) as f:
        first = f.readline()
    delimiter = max(",;\t|", key=lambda d: (first.count(d), d == ","))  # the header's most frequent separator
    try:
        header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter, strict=True), [])]
    except csv.Error as exc:
        raise InputError([Diagnostic("bad_csv", f"header cannot be read: {exc}", Location(name, 1))]) from None
    repeated = [h for h, n in Counter(h for h in header if h).items() if n > 1]
    if repeated:
        raise InputError([Diagnostic("duplicate_column", f"column '{repeated[0]}' appears twice in the header",
                                     Location(name, 1), "rename or remove one of them")])
    return _csv_rows(path, encoding, header, delimiter, name)


def _csv_rows(path: Path, encoding: str, header: list[str], delimiter: str, name: str) -> Iterator[Row]:
    start = 1  # lines already consumed (the header)
    while True:
        with _open(path, encoding) as f:
            for _ in range(start):
                f.readline()
            reader = csv.reader(f, delimiter=delimiter, strict=True)
            while True:
                line = start + reader.line_num + 1  # the file line where the next row begins
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    # An unterminated quote would swallow the rest of the file: report this row and read on
                    # from the line after it begins (the file is opened again there), so no other row is lost.
                    yield Row(None, line, name, RowError(row=line, code="bad_csv",
                                                         message=f"row cannot be read: {exc}"))
                    start = line
                    break
                if not any(c.strip() for c in cells):
                    continue  # blank line
                if len(cells) > len(header):
                    yield Row(dict(zip(header, cells)), line, name, RowError(
                        row=line, code="extra_cells",
                        message=f"row has {len(cells)} cells but the header names {len(header)} columns"))
                    continue
                yield Row(dict(zip(header, cells)), line, name)


def _xlsx(path: Path, name: str, sheet: str | None) -> Iterator[Row]:
    """Rows of one worksheet (the first, or ``sheet``), read in streaming mode; the header is row 1."""
    import openpyxl  # only for workbooks
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors all mean "not a readable workbook"
        raise InputError([Diagnostic("bad_xlsx", f"not a readable .xlsx workbook ({type(exc).__name__})",
                                     Location(name))]) from None
    if sheet is not None and sheet not in book.sheetnames:
        raise InputError([Diagnostic("unknown_sheet", f"no sheet named '{sheet}'", Location(name),
                                     f"sheets: {', '.join(book.sheetnames)}")])
    rows = book[sheet or book.sheetnames[0]].iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    repeated = [h for h, n in Counter(h for h in header if h).items() if n > 1]
    if repeated:
        raise InputError([Diagnostic("duplicate_column", f"column '{repeated[0]}' appears twice in the header",
                                     Location(name, 1))])
    return _xlsx_rows(book, rows, header, name)


def _xlsx_rows(book, rows, header: list[str], name: str) -> Iterator[Row]:
    try:
        for number, values in enumerate(rows, 2):
            cells = ["" if v is None else v.date() if isinstance(v, dt.datetime) else v for v in values]
            if not any(str(c).strip() for c in cells):
                continue
            data = {h: c for h, c in zip(header, cells) if h}
            if len([c for c in cells[len(header):] if str(c).strip()]):
                yield Row(data, number, name, RowError(row=number, code="extra_cells",
                                                       message="row has cells beyond the header's columns"))
                continue
            yield Row(data, number, name)
    finally:
        book.close()


def _jsonl(path: Path, name: str, encoding: str) -> Iterator[Row]:
    with _open(path, encoding) as f:
        yield from _jsonl_lines(f, name)


def _jsonl_lines(lines, name: str) -> Iterator[Row]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            yield Row(None, number, name, RowError(row=number, code="bad_json", message=f"line is not JSON: {exc}"))
            continue
        yield _mapping_row(data, number, name)


def _json_stream(path: Path, name: str) -> Iterator[Row]:
    """A JSON list of proposals (or {"proposals": [...]}) read one proposal at a time with ijson. The whole
    file is checked first (a syntax pass that builds nothing), so a broken file is refused before any row
    is decided, as for the other formats."""
    import ijson  # C parser (yajl2); only for JSON inputs

    def opened():
        f = path.open("rb")
        if f.read(3) != codecs.BOM_UTF8:
            f.seek(0)
        return f

    shape, listed, depth, key = None, False, 0, None
    with opened() as f:
        try:  # basic_parse builds nothing (ijson.parse would build a prefix per level: quadratic in the depth)
            for event, value in ijson.basic_parse(f, use_float=False):
                shape = shape or event
                if event in ("start_map", "start_array"):
                    listed = listed or (depth == 1 and key == "proposals" and event == "start_array")
                    depth += 1
                    if depth > MAX_JSON_DEPTH:
                        raise InputError([Diagnostic("bad_file", f"JSON nested more than {MAX_JSON_DEPTH} levels deep",
                                                     Location(name), "a proposal is a flat object of fields")])
                elif event in ("end_map", "end_array"):
                    depth -= 1
                key = value if event == "map_key" and depth == 1 else None if depth <= 1 else key
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise InputError([Diagnostic("bad_file", f"file cannot be parsed: {str(exc).splitlines()[0][:200]}",
                                         Location(name))]) from None
    if shape != "start_array" and not (shape == "start_map" and listed):
        raise InputError([Diagnostic("bad_file", "expected a list of proposals (or {\"proposals\": [...]})",
                                     Location(name))])
    return _json_items(opened, "item" if shape == "start_array" else "proposals.item", name)


def _json_items(opened, prefix: str, name: str) -> Iterator[Row]:
    import ijson
    with opened() as f:
        for number, item in enumerate(ijson.items(f, prefix, use_float=False), 1):
            yield _mapping_row(item, number, name)


def _document(text: str, name: str, kind: str) -> Iterator[Row]:
    try:
        data = json.loads(text, parse_float=Decimal) if kind == "json" else yaml.load(text, Loader=TextDatesLoader)
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        raise InputError([Diagnostic("bad_file", f"file cannot be parsed: {str(exc).splitlines()[0]}",
                                     Location(name))]) from None
    if isinstance(data, dict) and isinstance(data.get("proposals"), list):
        data = data["proposals"]
    if not isinstance(data, list):
        raise InputError([Diagnostic("bad_file", "expected a list of proposals (or {\"proposals\": [...]})",
                                     Location(name))])
    return (_mapping_row(item, number, name) for number, item in enumerate(data, 1))


class TextDatesLoader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text: the policy's field types decide, and a bad date is one bad cell."""


TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping_row(data: Any, number: int, name: str) -> Row:
    if not isinstance(data, dict):
        return Row(None, number, name, RowError(row=number, code="not_an_object",
                                                message=f"expected an object of fields, got {type(data).__name__}"))
    return Row(data, number, name)


def read_column_map(path: str | Path) -> dict[str, str]:
    """A mapping file: YAML or JSON ``{column title in the file: policy field}``, e.g. an export's
    ``Total Cost (EUR): budget``. Raises InputError when it is not such a mapping."""
    name = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError([Diagnostic("bad_column_map", f"cannot read the column map: {exc}", Location(name))]) from None
    if isinstance(data, dict) and isinstance(data.get("columns"), dict):
        data = data["columns"]
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise InputError([Diagnostic("bad_column_map", "expected a mapping of column titles to field names",
                                     Location(name), "write one line per column, e.g. 'Total Cost (EUR): budget'")])
    return {_key(k): v.strip() for k, v in data.items()}


def renamed(rows: Iterator[Row], column_map: Mapping[str, str]) -> Iterator[Row]:
    """Rows whose columns are renamed by a column map (titles compared without case, spaces or dashes).
    The new names are worked out once per set of columns (a file's rows all have the same ones)."""
    names: dict[tuple, list] = {}
    for row in rows:
        if row.data is not None:
            keys = tuple(row.data)
            new = names.get(keys)
            if new is None:
                new = [column_map.get(_key(k), k) if isinstance(k, str) else k for k in keys]
                twice = sorted({n for n in new if new.count(n) > 1}, key=str)
                if twice:  # one column would silently win over the other
                    both = [k for k, n in zip(keys, new) if n == twice[0]]
                    raise InputError([Diagnostic("column_clash", f"columns {' and '.join(map(repr, both))} would both "
                                                 f"give field '{twice[0]}'", Location(row.source or "<input>", 1),
                                                 "map only one of them in the column map")])
                if len(names) < 256:
                    names[keys] = new
            row = Row(dict(zip(new, row.data.values())), row.row, row.source, row.error)
        yield row


def _key(title: str) -> str:
    return " ".join(title.replace("-", " ").replace("_", " ").lower().split())
