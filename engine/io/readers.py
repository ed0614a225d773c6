"""Read proposals from CSV, JSON, JSONL and YAML files, one :class:`Row` at a time.

A row that cannot be read (a broken JSON line, a CSV row with extra cells) becomes a Row
with an ``error``, so the batch goes on and the output has one row per input row.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from engine.decision import RowError
from engine.errors import Diagnostic, InputError, Location

SUFFIXES = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".yaml": "yaml", ".yml": "yaml"}
csv.field_size_limit(1_000_000)


@dataclass(frozen=True)
class Row:
    data: Mapping[str, Any] | None
    row: int | None = None  # CSV: line number in the file (header is 1); lists: 1-based position
    source: str | None = None
    error: RowError | None = None


def read_proposals(path: str | Path) -> Iterator[Row]:
    """Rows of one input file, chosen by its suffix. Raises InputError if the file as a whole is unusable."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError([Diagnostic("unknown_format", f"cannot read '{path.suffix}' files",
                                     Location(str(path)), f"use one of: {', '.join(sorted(SUFFIXES))}")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([Diagnostic("unreadable", f"cannot read file: {exc.strerror or exc}", Location(str(path)))]) from None
    name = str(path)
    if b"\x00" in raw[:65536]:
        raise InputError([Diagnostic("binary_file", f"this is not a {kind.upper()} text file (it holds binary data)",
                                     Location(name), "an .xlsx workbook must be saved as CSV first")])
    text = _decode(raw)
    if not text.strip():
        raise InputError([Diagnostic("empty_file", "the file is empty", Location(name))])
    if kind == "csv":
        return _csv(text, name)
    if kind == "jsonl":
        return _jsonl(text, name)
    return _document(text, name, kind)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")  # spreadsheet exports on Windows


def _csv(text: str, name: str) -> Iterator[Row]:
    """Check the header now (a bad header rejects the file); read the rows lazily."""
    lines = text.splitlines(keepends=True)
    try:
        header = [h.strip() for h in next(csv.reader(lines[:1], strict=True), [])]
    except csv.Error as exc:
        raise InputError([Diagnostic("bad_csv", f"header cannot be read: {exc}", Location(name, 1))]) from None
    repeated = [h for h, n in Counter(h for h in header if h).items() if n > 1]
    if repeated:
        raise InputError([Diagnostic("duplicate_column", f"column '{repeated[0]}' appears twice in the header",
                                     Location(name, 1), "rename or remove one of them")])
    return _csv_rows(lines, header, name)


def _csv_rows(lines: list[str], header: list[str], name: str) -> Iterator[Row]:
    start = 1  # index into lines of the next row to read (line 0 is the header)
    while start < len(lines):
        reader = csv.reader(io.StringIO("".join(lines[start:]), newline=""), strict=True)
        while True:
            line = start + reader.line_num + 1  # the file line where the next row begins
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # An unterminated quote would swallow the rest of the file: report this row and
                # read on from the next line, so no other row is lost.
                yield Row(None, line, name, RowError(row=line, code="bad_csv", message=f"row cannot be read: {exc}"))
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


def _jsonl(text: str, name: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            yield Row(None, number, name, RowError(row=number, code="bad_json", message=f"line is not JSON: {exc}"))
            continue
        yield _mapping_row(data, number, name)


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
