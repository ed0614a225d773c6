"""What every reader hands on: a :class:`Row` per record, with the record's values bounded first.

Bounds hold before a value reaches a parser's number conversion, the error row's formatting or the
rules: a number literal of more than MAX_DIGITS characters, text of more than MAX_CELL characters,
text that is not valid Unicode (a lone surrogate from a ``\\ud800`` escape), a NUL character, a nested
value of more than MAX_NODES items (YAML aliases expanded) or MAX_DEPTH levels, or a key given twice.
Each makes an error row that names the column; the offending value is left out of the row's data, so
nothing downstream formats it.
"""
from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.decision import RowError
from engine.errors import Diagnostic, InputError, Location

# The error handler of every text reader: a byte the file's encoding cannot read (one after the first MB,
# which chose the encoding) becomes U+DC80..U+DCFF, which text_problem reports with the byte. U+FFFD, the
# "replace" handler's mark, would pass unseen: 'Caf\ufffd' no longer matches its lookup.
UNREAD_BYTES = "surrogateescape"
MAX_CELL = 1_000_000  # characters in one cell (the CSV field limit too)
MAX_DIGITS = 1_000  # characters in one number literal; Python refuses to convert ints of over 4,300 digits
MAX_BITS = 3_322  # about MAX_DIGITS decimal digits (a YAML 0x... integer is converted without Python's limit)
MAX_NODES = 10_000  # items in one value, counting each use of a YAML alias
MAX_DEPTH = 64  # a proposal is flat; deeper input is refused
EMPTY_ROWS_KEPT = 1_000  # line numbers of empty rows kept for the summary (all are counted)


class csv_cell_limit(contextlib.ContextDecorator):  # noqa: N801 (used as a decorator and a with-block, as contextmanagers are)
    """csv.field_size_limit(MAX_CELL) while the body (or the decorated function) reads, the caller's limit restored
    after: the csv module has one limit for the process, and reading a file must not change it for the program
    around the engine (importing engine changed it once). A generator sets it around each record instead
    (engine/io/csvrows.py), since its caller runs between records."""

    def __enter__(self) -> None:
        self._previous = csv.field_size_limit(MAX_CELL)

    def __exit__(self, *exc: object) -> None:
        csv.field_size_limit(self._previous)



@dataclass(frozen=True)
class Row:
    data: Mapping[str, Any] | None
    row: int | None = None  # CSV: line number in the file (header is 1); lists: 1-based position
    source: str | None = None
    error: RowError | None = None


class TooLong:
    """A number literal too long to convert: stands in for it until the row is bounded."""

    __slots__ = ("length",)

    def __init__(self, text: str):
        self.length = len(text)


class Duplicated(dict[Any, Any]):  # a YAML mapping's keys need not be strings
    """A mapping in which a key appeared twice (JSON and YAML parsers keep the last value silently)."""

    def __init__(self, key: Any):
        super().__init__()
        self.duplicate = key


def parse_int(text: str) -> int | TooLong:
    return int(text) if len(text) <= MAX_DIGITS else TooLong(text)


def parse_decimal(text: str) -> Decimal | TooLong:
    return Decimal(text) if len(text) <= MAX_DIGITS else TooLong(text)


def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for json: a dict, or a Duplicated one when a key repeats."""
    data = dict(pairs)
    if len(data) == len(pairs):
        return data
    seen: set[str] = set()
    for repeated, _ in pairs:  # a key repeats (the lengths differ): the loop stops at its second time
        if repeated in seen:
            break
        seen.add(repeated)
    marked = Duplicated(repeated)
    marked.update(data)
    return marked


class _Bad(Exception):
    def __init__(self, code: str, message: str):
        self.code, self.message = code, message


def text_problem(text: str) -> tuple[str, str] | None:
    if len(text) > MAX_CELL:
        return "too_large", f"text is {len(text):,} characters long; the limit for a cell is {MAX_CELL:,}"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            if "\udc80" <= text[exc.start] <= "\udcff":
                return "mixed_encoding", (
                    f"text holds the byte 0x{ord(text[exc.start]) - 0xDC00:02X}, which does not read in the encoding of "
                    "the file's first MB (UTF-8 or Windows-1252): the file mixes encodings; save it again in one, "
                    "UTF-8 ('CSV UTF-8' in Excel)")
            return "bad_text", "text is not valid Unicode (it holds a lone surrogate, e.g. from a \\ud800 escape)"
    if "\x00" in text:
        return "bad_text", "text holds a NUL character (binary data in a text file)"
    return None


def value_problem(value: Any) -> tuple[str, str] | None:
    """Why one value cannot be passed on, or None."""
    try:
        _check(value, 0, {})
    except _Bad as bad:
        return bad.code, bad.message
    return None


def _check(value: Any, depth: int, sizes: dict[int, int]) -> int:
    """The value's size with aliases expanded (each shared object is measured once, so a billion-laughs
    value costs its distinct objects, not its expansion); raises _Bad."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise _Bad(*problem)
        return 1
    if isinstance(value, TooLong):
        raise _Bad("too_large", f"number has {value.length:,} digits; the limit is {MAX_DIGITS:,}")
    if type(value) is int and value.bit_length() > MAX_BITS:
        raise _Bad("too_large", f"number has over {MAX_DIGITS:,} digits")
    if not isinstance(value, (list, tuple, dict)):
        return 1
    known = sizes.get(id(value))
    if known is not None:
        return known
    if depth >= MAX_DEPTH:
        raise _Bad("too_large", f"value is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, Duplicated):
        raise _Bad("duplicate_key", f"key {_shown(value.duplicate)!r} appears twice")
    total = 1
    for item in (value if not isinstance(value, dict) else (x for pair in value.items() for x in pair)):
        total += _check(item, depth + 1, sizes)
        if total > MAX_NODES:
            raise _Bad("too_large", f"value holds more than {MAX_NODES:,} items (aliases expanded)")
    sizes[id(value)] = total
    return total


def _shown(key: Any) -> str:
    """A key as text that can always be written (a lone surrogate becomes ``\\udfff``)."""
    text = key if isinstance(key, str) else str(key)
    return text[:200].encode("utf-8", "backslashreplace").decode("utf-8")


_PLAIN = (float, bool, type(None), Decimal)


def _plain_text(text: str) -> bool:
    return len(text) <= MAX_CELL and "\x00" not in text and (text.isascii() or text_problem(text) is None)


def bounded_row(data: Mapping[str, Any], number: int, source: str) -> Row:
    """The Row of one record, or an error row naming the first column whose key or value is out of bounds
    (that value, and any other bad one, is left out of the data)."""
    if type(data) is dict:  # the usual flat record of text and numbers: checked without the general walk
        for key, value in data.items():
            kind = type(value)
            if not (type(key) is str and _plain_text(key)) or not (
                    kind is str and _plain_text(value) or kind in _PLAIN or kind is int and value.bit_length() <= MAX_BITS):
                break
        else:
            return Row(data, number, source)
    return _bounded_row(data, number, source)


def _bounded_row(data: Mapping[str, Any], number: int, source: str) -> Row:
    first: tuple[str, str, str] | None = None
    bad: list[Any] = []  # keys: a YAML mapping's need not be strings
    if isinstance(data, Duplicated):
        first = (_shown(data.duplicate), "duplicate_key", f"column {_shown(data.duplicate)!r} appears twice")
    for key, value in data.items():
        problem = (text_problem(key) if isinstance(key, str) else None) or value_problem(value)
        if problem:
            bad.append(key)
            if first is None:
                first = (_shown(key), *problem)
    if first is None:
        return Row(data, number, source)
    column, code, message = first
    clean = {k: v for k, v in data.items() if k not in bad} if bad else data
    return Row(clean, number, source, RowError(row=number, column=column, code=code,
                                               message=f"column '{column}': {message}"))


@dataclass
class EmptyRows:
    """Rows with only empty cells (``,,,,``): skipped, but counted and named in the run's summary."""

    count: int = 0
    lines: list[int] = field(default_factory=list)

    def add(self, line: int) -> None:
        self.count += 1
        if len(self.lines) < EMPTY_ROWS_KEPT:
            self.lines.append(line)


class ProposalRows:
    """The rows of one input file, read as they are needed. Data rows only: ``empty_count`` rows of empty
    cells were skipped (``empty_rows``: their line numbers, the first 1,000), so rows in = rows out
    counts data rows."""

    def __init__(self, rows: Iterator[Row], source: str, empty: EmptyRows | None = None,
                 header: list[str] | None = None):
        self._rows = rows
        self.source = source
        self._empty = empty or EmptyRows()
        self.header = header  # the column titles of a CSV or XLSX file (None for JSON and YAML)

    def __iter__(self) -> ProposalRows:
        return self

    def __next__(self) -> Row:
        return next(self._rows)

    def close(self) -> None:
        """Close the file now, even when its rows were not read to the end (a resume check, a header probe):
        left to the collector, a generator in a reference cycle may lose its file before it can close it."""
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ProposalRows:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def empty_count(self) -> int:
        return self._empty.count

    @property
    def empty_rows(self) -> list[int]:
        return list(self._empty.lines)


def column_key(title: str) -> str:
    """A column title as maps compare them: without case, dashes, underscores or extra spaces."""
    return " ".join(str(title).replace("-", " ").replace("_", " ").lower().split())


def refuse_repeated_columns(header: list[str], name: str) -> None:
    """A header naming one column twice, or two columns that differ only in case, spacing, dashes or underscores
    ('Budget' and 'BUDGET', 'Start Date' and 'start_date'): both would feed the same field, and which one is meant
    cannot be known (the last would win without a word)."""
    seen: dict[str, str] = {}
    for title in header:
        if not title:
            continue
        first = seen.setdefault(column_key(title), title)
        if first is title:
            continue
        said = (f"column '{title}' appears twice in the header" if first == title else
                f"columns '{first}' and '{title}' differ only in case or spacing, so both would read as one field")
        raise InputError([Diagnostic("duplicate_column", said, Location(name, 1), "rename or remove one of them")])
