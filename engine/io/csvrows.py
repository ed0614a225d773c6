"""CSV rows, read once from start to end: a broken row is one error row, and reading goes on after it.

Python's csv module reads each row; when it cannot (a character after a closing quote, a cell over the
size limit, a quote that never closes), a small scanner works out where that record really ends, as a
lenient CSV reader would, so the lines inside a quoted cell are never read again as rows (they once
gave phantom proposals) and the file is never reopened per bad row (that was quadratic). Only a quote
that runs to the end of the file is different: nothing after it could be read, so the lines after the
line it starts on are read again as rows, once.
"""
from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable, Iterator

from engine.decision import RowError
from engine.io.rows import MAX_CELL, EmptyRows, Row

KEPT_CHARS = 4 * MAX_CELL  # text of the record being read, kept in case it must be scanned again
_QUOTED_BODY = re.compile(r'[^"]*(?:""[^"]*)*')  # inside quotes: anything but a lone quote


class _Lines:
    """The lines of a text file as the csv reader takes them; keeps the current record's lines, and counts."""

    def __init__(self, lines: Iterator[str], consumed: int, reopen: Callable[[int], Iterator[str]]):
        self.rest = lines
        self._reopen = reopen  # lines after line n, from the file opened again
        self.base = consumed  # lines before the current record
        self.kept: list[str] = []  # the current record's lines
        self.complete = True  # kept holds all of them (a scan past KEPT_CHARS stops keeping)
        self.chars: int | None = None  # characters of the broken record scanned so far
        self.feed = self._feed()

    def _feed(self) -> Iterator[str]:
        kept = self.kept
        for line in self.rest:  # a generator: the cheapest way to keep each line on the way to the csv reader
            kept.append(line)
            yield line

    @property
    def number(self) -> int:
        """Lines handed out so far."""
        return self.base + len(self.kept)

    def new_record(self) -> None:
        self.base += len(self.kept)
        self.kept.clear()
        self.complete, self.chars = True, None

    def scan_on(self) -> str | None:
        """One more line of a broken record, kept while the record is under KEPT_CHARS."""
        line = next(self.rest, None)
        if line is not None:
            if self.chars is None:
                self.chars = sum(map(len, self.kept))
            self.chars += len(line)
            if self.complete and self.chars <= KEPT_CHARS:
                self.kept.append(line)
            else:
                self.complete = False
                self.base += 1
        return line

    def again_after(self, line: int) -> None:
        """Hand out the lines after ``line`` (the record's first) again."""
        if self.complete:
            self.rest = itertools.chain(self.kept[1:], self.rest)
        else:
            self.rest = self._reopen(line)
        self.base = line
        self.kept.clear()
        self.complete, self.chars = True, None
        self.feed = self._feed()


class _RecordEnd:
    """Follows one record line by line as a lenient reader would: a quote opens a cell only at its start,
    two quotes inside it are one, and text after a closing quote belongs to the cell."""

    def __init__(self, delimiter: str):
        self.delimiter = delimiter
        self.quoted = False
        self.field = 0
        self.length = 0  # characters of the cell being read
        self.too_long: int | None = None  # index of the first cell over MAX_CELL

    def ends_with(self, line: str) -> bool:
        """Read one more line of the record; True when the record ends with it."""
        i, at_start, n = 0, not self.quoted, len(line)
        while True:
            if self.quoted:
                end = _QUOTED_BODY.match(line, i).end()
                self._grow(end - i)
                if end >= n:
                    return False  # the quoted cell goes on past this line
                self.quoted, i, at_start = False, end + 1, False
            elif at_start and line.startswith('"', i):
                self.quoted, i = True, i + 1
                continue
            j = line.find(self.delimiter, i)
            self._grow((n if j < 0 else j) - i)
            if j < 0:
                return True
            self.field, self.length, i, at_start = self.field + 1, 0, j + 1, True

    def _grow(self, chars: int) -> None:
        self.length += chars
        if self.length > MAX_CELL and self.too_long is None:
            self.too_long = self.field


def csv_rows(lines: Iterator[str], reopen: Callable[[int], Iterator[str]], header: list[str], delimiter: str,
             name: str, empty: EmptyRows) -> Iterator[Row]:
    """The rows after the header line (``lines`` starts at line 2)."""
    source = _Lines(lines, 1, reopen)
    reader = csv.reader(source.feed, delimiter=delimiter, strict=True)
    width = len(header)
    while True:
        source.new_record()
        line = source.number + 1  # the file line where the next row begins
        previous = csv.field_size_limit(MAX_CELL)  # for this record only (engine.io.rows.csv_cell_limit says why)
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            broken = exc
        else:
            broken = None
        finally:
            csv.field_size_limit(previous)
        if broken is not None:
            yield _broken(source, line, broken, header, delimiter, name)
            reader = csv.reader(source.feed, delimiter=delimiter, strict=True)
            continue
        if not cells:
            continue  # a blank line is not a row
        if not any(c.strip() for c in cells):
            empty.add(line)
            continue
        data = dict(zip(header, cells))
        if len(cells) > width:
            yield Row(data, line, name, RowError(
                row=line, code="extra_cells", message=f"row has {len(cells)} cells but the header names {width} columns"))
            continue
        nul = next((i for i, c in enumerate(cells) if "\x00" in c), None)
        if nul is not None:
            column = header[nul]
            yield Row({k: v for k, v in data.items() if k != column}, line, name, RowError(
                row=line, column=column, code="bad_text",
                message=f"column '{column}': text holds a NUL character (binary data in a text file)"))
            continue
        yield Row(data, line, name)


def _broken(source: _Lines, line: int, exc: csv.Error, header: list[str], delimiter: str, name: str) -> Row:
    """The error row for a record the csv module could not read; reading goes on after the record's end."""
    record = _RecordEnd(delimiter)
    ended = False
    for text in list(source.kept):
        ended = record.ends_with(text)
        if ended:
            break
    while not ended:
        text = source.scan_on()
        if text is None:
            break
        ended = record.ends_with(text)
    if not ended:
        source.again_after(line)
        return Row(None, line, name, RowError(row=line, code="bad_csv", message=(
            f"row cannot be read: the quote opened on line {line} is never closed; the lines after it are "
            "read as rows")))
    last = source.number
    lines = f"line {line}" if last == line else f"lines {line}-{last}"
    if record.too_long is not None:
        column = header[record.too_long] if record.too_long < len(header) else None
        return Row(None, line, name, RowError(row=line, column=column, code="too_large", message=(
            f"{f'column {column!r}: ' if column else ''}a cell ({lines}) holds more than {MAX_CELL:,} characters")))
    return Row(None, line, name, RowError(row=line, code="bad_csv", message=f"row cannot be read ({lines}): {exc}"))
