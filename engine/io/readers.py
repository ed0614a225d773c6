"""Read proposals from CSV, TSV, XLSX, JSON, JSONL and YAML files, one :class:`Row` at a time.

A row that cannot be read (a broken JSON line, a CSV row with extra cells, a bad cell) becomes a Row
with an ``error`` naming the row and, where there is one, the column, so the batch goes on and the
output has one row per input data row. A file that cannot be read as a whole (binary, a broken
workbook, JSON that does not parse) is refused with an InputError before any row is decided.
The formats are read in engine/io/csvrows.py, jsonstream.py and xlsx.py; the bounds every reader
applies to values are in engine/io/rows.py.
"""
from __future__ import annotations

import codecs
import collections
import csv
import itertools
import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from engine.decision import RowError
from engine.errors import Diagnostic, InputError, Location
from engine.io.csvrows import csv_rows
from engine.io.jsonstream import json_rows, jsonl_rows
from engine.io.profile import InputProfile, currency_mark, same_currency
from engine.io.rows import (
    MAX_DIGITS,
    UNREAD_BYTES,
    Duplicated,
    EmptyRows,
    ProposalRows,
    Row,
    TooLong,
    bounded_row,
    column_key,
    csv_cell_limit,
    refuse_repeated_columns,
)
from engine.io.xlsx import xlsx_rows

SUFFIXES = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".yaml": "yaml",
            ".yml": "yaml", ".xlsx": "xlsx", ".xlsm": "xlsx"}
# Control characters other than tab, line feed, form feed and carriage return (and NUL, counted apart): a text
# file has none or a stray few (each its row's error), random or binary data about one byte in ten.
_CONTROLS = bytes([*range(1, 9), 0x0B, *range(0x0E, 0x20), 0x7F])
CONTROL_SHARE = 0.02
NUL_SHARE = 0.1  # text files hold no NUL bytes, UTF-16 without a byte-order mark about 50%: over 10% is binary
__all__ = ["Row", "ProposalRows", "read_proposals", "renamed", "TextDatesLoader", "load_text_dates"]

# What a file that is not text is, by its first bytes, and what to do instead.
_SIGNATURES = [
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook or another Office file?)",
     "give an .xlsx workbook a name ending in .xlsx, or save the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 .xls workbook (or another old Office file)",
     "open it in Excel and save it as .xlsx or CSV"),
    (b"%PDF", "a PDF document", "export the table from the program that made it as CSV or .xlsx"),
    (b"\x1f\x8b", "a gzip-compressed file", "decompress it first"),
]


def read_proposals(path: str | Path, sheet: str | None = None) -> ProposalRows:
    """Rows of one input file, chosen by its suffix, read as they are needed (CSV, JSON, JSONL and XLSX
    stream: memory does not grow with the number of rows). Raises InputError if the file as a whole is
    unusable. Rows of empty cells are skipped and counted (``empty_count``, ``empty_rows``)."""
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
    empty = EmptyRows()
    header: list[str] | None
    if kind == "xlsx":
        header, rows = xlsx_rows(path, name, sheet, empty)
        return ProposalRows(rows, name, empty, header)
    _refuse_binary(head, kind, name)
    if not head.strip() and size <= len(head):
        raise InputError([Diagnostic("empty_file", "the file is empty", Location(name))])
    encoding = _encoding(head, name)
    header = None
    if kind == "csv":
        header, rows = _csv(path, name, encoding, empty)
    elif kind == "jsonl":
        rows = _jsonl(path, name, encoding)
    elif kind == "json":
        rows = json_rows(path, name, encoding)
    else:
        rows = _yaml(path.read_text(encoding=encoding, errors=UNREAD_BYTES), name)
    return ProposalRows(rows, name, empty, header)


def _refuse_binary(head: bytes, kind: str, name: str) -> None:
    """Refuse a file that is not text, saying what it is. A stray NUL in a text file is left to its row."""
    for signature, what, hint in _SIGNATURES:
        if head.startswith(signature):
            raise InputError([Diagnostic("binary_file", f"this is {what}, not a {kind.upper()} text file",
                                         Location(name), hint)])
    sample = head[:65536]
    if _utf16_bom(sample) or not sample:
        return
    share = sample.count(0) / len(sample)
    controls = len(sample) - len(sample.translate(None, _CONTROLS))
    if share <= NUL_SHARE and controls >= 16 and controls > CONTROL_SHARE * len(sample):
        raise InputError([Diagnostic("binary_file", f"this is not a {kind.upper()} text file: {controls} of its first "
                                     f"{len(sample):,} bytes are control characters, which text does not hold",
                                     Location(name), "save the sheet as CSV (UTF-8), or give the .xlsx workbook itself")])
    if share > NUL_SHARE:
        raise InputError([Diagnostic("binary_file", f"this is not a {kind.upper()} text file: it holds binary data "
                                     f"({share:.0%} of its first bytes are zero)", Location(name),
                                     "save the sheet as CSV (UTF-8, or UTF-16 with a byte-order mark), or give "
                                     "the .xlsx workbook itself")])


def _utf16_bom(head: bytes) -> bool:
    return head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not head.startswith(codecs.BOM_UTF32_LE)


# A UTF-8 sequence for a character of Latin-1, Latin Extended-A/B or general punctuation and the euro sign: what
# European text holds. Windows-1252 text forms one only by accident (an 'ß' before a closing quote is U+07D3).
_NEWLINE = b"\n"
_UTF8_LATIN = re.compile(rb"[\xc2-\xc9][\x80-\xbf]|\xe2[\x80-\x82][\x80-\xbf]")


def _encoding(head: bytes, name: str) -> str:
    """UTF-16 with a byte-order mark (Excel's "Unicode text"), UTF-8 (with or without a byte-order mark) if
    the start of the file reads as UTF-8, else Windows-1252 (spreadsheet exports on Windows). A file with a
    UTF-8 byte-order mark or UTF-8 text that also holds a byte that is not UTF-8 mixes the two: read either way,
    part of it would be silently wrong (mojibake titles, column names that no longer match), so it is refused
    with the line of the byte."""
    if _utf16_bom(head):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        bad = exc.start
    bom = head.startswith(codecs.BOM_UTF8)
    utf8 = _UTF8_LATIN.search(head, 3 if bom else 0)
    if not bom and utf8 is None:
        return "cp1252"
    line = head.count(_NEWLINE, 0, bad) + 1
    start = head.rfind(_NEWLINE, 0, bad) + 1
    end = head.find(_NEWLINE, bad)
    shown = head[start:end if end >= 0 else bad + 40][:80].decode("cp1252", errors="replace").strip()
    if utf8 is not None:
        why = f"line {head.count(_NEWLINE, 0, utf8.start()) + 1} is UTF-8 ('{utf8.group().decode()}')"
    else:
        why = "the file starts with UTF-8's byte-order mark"
    raise InputError([Diagnostic(
        "mixed_encoding", f"the file mixes encodings: line {line} has the byte 0x{head[bad]:02X}, which is not UTF-8, "
        f"though {why}", Location(name, line),
        f"save the file again as UTF-8 ('CSV UTF-8' in Excel), or in one encoding throughout; read as "
        f"Windows-1252, line {line} says '{shown}'")])


def _open(path: Path, encoding: str) -> TextIO:
    return path.open(encoding=encoding, errors=UNREAD_BYTES, newline="")


@csv_cell_limit()
def _csv(path: Path, name: str, encoding: str, empty: EmptyRows) -> tuple[list[str], Iterator[Row]]:
    """Check the header now (a bad header rejects the file); read the rows lazily."""
    header, delimiter = _csv_header(path, name, encoding)
    return header, _csv_file(path, encoding, header, delimiter, name, empty)


def csv_layout(path: str | Path) -> tuple[str, str, list[str]]:
    """How read_proposals reads a CSV or TSV file: its encoding, its delimiter and its header (before any column
    map), for a reader of its raw bytes (engine/tasks/batch.py). InputError as read_proposals."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(1 << 20)
    except OSError as exc:
        raise InputError([Diagnostic("unreadable", f"cannot read file: {exc.strerror or exc}", Location(str(path)))]) from None
    encoding = _encoding(head, str(path))
    with csv_cell_limit():
        return (encoding, *reversed(_csv_header(path, str(path), encoding)))  # type: ignore[return-value]


def _csv_header(path: Path, name: str, encoding: str) -> tuple[list[str], str]:
    with _open(path, encoding) as f:
        first = f.readline()
    delimiter = max(",;\t|", key=lambda d: (first.count(d), d == ","))  # the header's most frequent separator
    try:
        header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter, strict=True), [])]
    except csv.Error as exc:
        raise InputError([Diagnostic("bad_csv", f"header cannot be read: {exc}", Location(name, 1))]) from None
    refuse_repeated_columns(header, name)
    return header, delimiter


def _csv_file(path: Path, encoding: str, header: list[str], delimiter: str, name: str,
              empty: EmptyRows) -> Iterator[Row]:
    with _open(path, encoding) as f:
        f.readline()
        yield from csv_rows(f, lambda line: _lines_after(path, encoding, line), header, delimiter, name, empty)


def _lines_after(path: Path, encoding: str, line: int) -> Iterator[str]:
    """The file's lines after line ``line`` (1-based), from the file opened again."""
    with _open(path, encoding) as f:
        yield from itertools.islice(f, line, None)


def _jsonl(path: Path, name: str, encoding: str) -> Iterator[Row]:
    with _open(path, encoding) as f:
        yield from jsonl_rows(f, name)


def _yaml(text: str, name: str) -> Iterator[Row]:
    try:
        data = load_text_dates(text, (CProposalsLoader, ProposalsLoader))
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        raise InputError([unparsable(exc, name)]) from None
    if isinstance(data, Duplicated):
        raise InputError([Diagnostic("duplicate_key", f"key {data.duplicate!r} appears twice in the file's mapping",
                                     Location(name), "keep one list of proposals")])
    if isinstance(data, dict) and isinstance(data.get("proposals"), list):
        data = data["proposals"]
    if not isinstance(data, list):
        raise InputError([Diagnostic("bad_file", "expected a list of proposals (or {\"proposals\": [...]})",
                                     Location(name))])
    return (_mapping_row(item, number, name) for number, item in enumerate(data, 1))


def unparsable(exc: Exception, name: str, what: str = "file cannot be parsed") -> Diagnostic:
    """A YAML or JSON file that cannot be read, as one diagnostic at the place the parser stopped."""
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.MarkedYAMLError) and mark is not None:
        problem = exc.problem or str(exc).splitlines()[0]
        context = f" ({exc.context})" if exc.context and exc.context != problem else ""
        return Diagnostic("bad_file", f"{what}: {problem}{context}", Location(name, mark.line + 1, mark.column + 1))
    if isinstance(exc, json.JSONDecodeError):
        return Diagnostic("bad_file", f"{what}: {exc.msg}", Location(name, exc.lineno, exc.colno))
    return Diagnostic("bad_file", f"{what}: {str(exc).splitlines()[0]}", Location(name))


# YAML 1.1 reads these numbers its own way where people mean another: 0123 and 010 as octal (83, 8), 1:30 as
# sexagesimal (90), 900.000 as 900 (a European 900,000). Data files keep them as the text written, so the reader
# of the value applies the engine's rule for data (what reads two ways is refused, with both readings).
_TWO_WAY_INT = re.compile(r"[-+]?0[0-9_]+|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+")
_TWO_WAY_FLOAT = re.compile(r"[-+]?[1-9][0-9]{0,2}(\.[0-9]{3})+|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*")


if TYPE_CHECKING:  # the constructors below are mixed into PyYAML's safe loaders (Python or libyaml)
    _SafeLoader = yaml.SafeLoader
    _CSafeLoader = yaml.SafeLoader
else:
    _SafeLoader = object
    _CSafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DataConstructors(_SafeLoader):
    """For data files (portfolios, project records, proposals): a number written as YAML 1.1 alone reads it is
    the text written (``_TWO_WAY_INT``, ``_TWO_WAY_FLOAT``), and a key given twice in one mapping is refused at
    the second (the later value would silently win; proposal files make it an error row instead)."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:  # the number, or the text written
        if _TWO_WAY_INT.fullmatch(node.value or ""):
            return node.value
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> Any:  # the number, or the text written
        if _TWO_WAY_FLOAT.fullmatch(node.value or ""):
            return node.value
        return super().construct_yaml_float(node)

    def construct_yaml_map(self, node: yaml.MappingNode) -> Generator[dict[Any, Any], None, None]:
        seen = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key.value}': the later value would silently win; keep one",
                        key.start_mark)
                seen.add(key.value)
        return super().construct_yaml_map(node)


class TextDatesLoader(_DataConstructors, yaml.SafeLoader):
    """Safe YAML that leaves dates as text: the policy's field types decide, and a bad date is one bad cell.
    PyYAML's Python parser: see :func:`load_text_dates` for the faster libyaml one, tried first."""


class CTextDatesLoader(_DataConstructors, _CSafeLoader):
    """TextDatesLoader on libyaml (C) where PyYAML was built with it: the same constructors and resolvers."""


for _loader in (TextDatesLoader, CTextDatesLoader):
    _loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _loader.add_constructor("tag:yaml.org,2002:map", _loader.construct_yaml_map)
    _loader.add_constructor("tag:yaml.org,2002:int", _loader.construct_yaml_int)
    _loader.add_constructor("tag:yaml.org,2002:float", _loader.construct_yaml_float)


def json_data(text: str) -> Any:
    """A JSON data file (a portfolio, a project record): a key given twice in one object is a ValueError (the later
    value would silently win)."""
    return json.loads(text, object_pairs_hook=_once)


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        keys = [k for k, _ in pairs]
        repeated = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise ValueError(f"duplicate key '{repeated}': the later value would silently win; keep one")
    return data

# libyaml parses about five times faster. When it finds an error we parse again in Python (as
# engine/policy/source.py does), for PyYAML's wording and for escapes libyaml refuses but a file may use (a
# surrogate pair written "\ud83d\ude00"), as long as that second pass stays short. libyaml refuses nesting
# deeper than 1,000 levels itself; the Python parser's RecursionError is caught by the callers.
PYTHON_PARSE_LIMIT = 256_000  # characters


def load_text_dates(text: str, loaders: tuple[type, type] = (CTextDatesLoader, TextDatesLoader)) -> Any:
    """One YAML document, dates as text: libyaml first, PyYAML again on an error (when the text is short)."""
    fast, python = loaders
    try:
        return yaml.load(text, Loader=fast)
    except yaml.YAMLError:
        if fast is python or len(text) > PYTHON_PARSE_LIMIT:
            raise
    return yaml.load(text, Loader=python)


class _ProposalConstructors(_SafeLoader):
    """For proposal files: a repeated key marks its mapping (Duplicated) and an integer of more than
    MAX_DIGITS characters (or such a float) is not converted (TooLong), so each is an error row, not a refusal."""

    def construct_yaml_map(self, node: yaml.MappingNode) -> Generator[dict[Any, Any], None, None]:
        keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge"]
        repeated = next((k for i, k in enumerate(keys) if k in keys[:i]), None) if len(set(keys)) < len(keys) else None
        data = Duplicated(repeated) if repeated is not None else {}
        yield data
        data.update(self.construct_mapping(node))

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:  # the number, or TooLong
        text = self.construct_scalar(node)
        return TooLong(text) if len(text) > MAX_DIGITS else super().construct_yaml_int(node)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> Any:  # the number, or TooLong
        text = self.construct_scalar(node)
        return TooLong(text) if len(text) > MAX_DIGITS else super().construct_yaml_float(node)


class ProposalsLoader(_ProposalConstructors, TextDatesLoader):
    """TextDatesLoader for proposal files (see _ProposalConstructors)."""


class CProposalsLoader(_ProposalConstructors, CTextDatesLoader):
    """ProposalsLoader on libyaml."""


for _loader in (ProposalsLoader, CProposalsLoader):
    _loader.add_constructor("tag:yaml.org,2002:map", _loader.construct_yaml_map)
    _loader.add_constructor("tag:yaml.org,2002:int", _loader.construct_yaml_int)
    _loader.add_constructor("tag:yaml.org,2002:float", _loader.construct_yaml_float)

# A value its explicit tag does not fit (`!!bool maybe`, `!!int x`, `!!timestamp 2027-02-30`) makes PyYAML's
# constructors raise KeyError or ValueError, which no caller expects: make it a YAMLError at the value, so the
# file is refused with its position like any other YAML mistake.
_TAG_MEANS = {"int": "a whole number", "float": "a number", "bool": "true or false",
              "timestamp": "a day of the calendar (YYYY-MM-DD)"}


Constructor = Callable[[Any, yaml.ScalarNode], Any]  # (loader, node) -> value


def _strict(construct: Constructor, means: str) -> Constructor:
    def construct_checked(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, KeyError, TypeError):
            # types-PyYAML leaves BaseResolver.resolve unannotated
            implicit = loader.resolve(yaml.ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
            if implicit == node.tag:
                raise  # no tag written: the callers handle an implicit value's limits (too many digits)
            raise yaml.constructor.ConstructorError(
                None, None, f"'{node.value}' is not {means}: write the value its tag names, or drop the tag",
                node.start_mark) from None
    return construct_checked


for _loader in (TextDatesLoader, CTextDatesLoader, ProposalsLoader, CProposalsLoader):
    for _name, _means in _TAG_MEANS.items():
        _tag = f"tag:yaml.org,2002:{_name}"
        _loader.add_constructor(_tag, _strict(_loader.yaml_constructors[_tag], _means))


def _mapping_row(data: Any, number: int, name: str) -> Row:
    if not isinstance(data, dict):
        return Row(None, number, name, RowError(row=number, code="not_an_object",
                                                message=f"expected an object of fields, got {type(data).__name__}"))
    return bounded_row(data, number, name)


def renamed(rows: Iterator[Row], column_map: Mapping[str, str]) -> Iterator[Row]:
    """Rows whose columns are renamed by a column map (titles compared without case, spaces or dashes).
    The new names are worked out once per set of columns (a file's rows all have the same ones)."""
    names: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        if row.data is not None:
            keys = tuple(row.data)
            new = names.get(keys)
            if new is None:
                new = [column_map.get(column_key(k), k) if isinstance(k, str) else k for k in keys]
                twice = sorted((n for n, times in collections.Counter(new).items() if times > 1), key=str)  # linear: 100,000 columns
                if twice:  # one column would silently win over the other
                    both = [k for k, n in zip(keys, new) if n == twice[0]]
                    raise InputError([Diagnostic("column_clash", f"columns {' and '.join(map(repr, both))} would both "
                                                 f"give field '{twice[0]}'", Location(row.source or "<input>", 1),
                                                 "map only one of them in the column map")])
                if len(names) < 256:
                    names[keys] = new
            row = Row(dict(zip(new, row.data.values())), row.row, row.source, row.error)
        yield row


def one_currency_per_column(rows: Iterable[Any], money: Iterable[str], value_of: Callable[[Any, str], Any],
                            profile: InputProfile,
                            seen: dict[tuple[str | None, str], tuple[str, int | None]] | None = None) -> Iterator[Any]:
    """Rows as they come, except that an amount in another currency than the first one seen in its column
    (in the same file) makes its row an error row: a mixed-currency column is an error, not a sum. (With a
    declared currency every value is checked against it while it is typed; this catches the rest.) The rows
    come in input order; ``seen`` holds each (file, column)'s first currency and its row found by the rows before
    them (a batch's worker checks its chunk with what the chunks before it found, engine/tasks/batch.py), and
    gains the ones these rows find first, so the result does not depend on --workers."""
    money = list(money) if profile.currency is None else []  # a declared currency is checked cell by cell
    seen = {} if seen is None else seen
    keys_of: dict[tuple[Any, ...], list[tuple[str, Any]]] = {}  # a file's rows share their keys: which key holds each money field
    for row in rows:
        if money and row.data is not None and row.error is None:
            keys = keys_of.get(tuple(row.data))
            if keys is None:
                probe = {k: k for k in row.data}  # value_of on it gives the key, found as the reader finds it
                keys = [(name, value_of(probe, name)) for name in money]
                keys = [(name, key) for name, key in keys if key is not None]
                if len(keys_of) < 256:
                    keys_of[tuple(row.data)] = keys
            for name, key in keys:
                mark = currency_mark(row.data[key])
                if mark is None:
                    continue
                first = seen.setdefault((row.source, name), (mark, row.row))
                if not same_currency(mark, first[0], profile.numbers.locale) \
                        and not same_currency(first[0], mark, profile.numbers.locale):
                    row = Row(row.data, row.row, row.source, RowError(
                        row=row.row, column=name, code="mixed_currency",
                        message=f"column '{name}': {value_of(row.data, name)!s} is in {mark}, but row {first[1]} "
                        f"is in {first[0]}; amounts in one column must share a currency (declare it with "
                        "'currency:' in the input profile, and convert the others)"))
                    break
        yield row
