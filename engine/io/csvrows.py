"""CSV rows, read once from start to end: a broken row is one error row, and reading goes on after it.

Python's csv module reads each row; when it cannot (a character after a closing quote, a cell over the
size limit, a quote that never closes), a small scanner works out where that record really ends, as a
lenient CSV reader would, so the lines inside a quoted cell are never read again as rows (they once
gave phantom proposals) and the file is never reopened per bad row (that was quadratic). Only a quote
that runs to the end of the file is different: nothing after it could be read, so the lines after the
line it starts on are read again as rows, once.

A batch's parent does not read the rows: it cuts the file's bytes into chunks that end where a record ends
(``raw_chunks``: a line end outside a quoted cell, found as the scanner below finds record ends), and each
worker reads its chunk's rows (``chunk_rows``) as this reader reads them from the whole file: the same rows,
the same line numbers.
"""
from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.decision import RowError
from engine.io.rows import MAX_CELL, UNREAD_BYTES, EmptyRows, Row, text_problem

KEPT_CHARS = 4 * MAX_CELL  # text of the record being read, kept in case it must be scanned again
_UNREAD = re.compile("[\udc80-\udcff]")  # a byte the file's encoding could not read (rows.UNREAD_BYTES)
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
    two quotes inside it are one, and text after a closing quote belongs to the cell.

    On the way it keeps the cells the csv module would have read as they are (``cells``, by position): every cell
    but one over MAX_CELL, up to the first cell the csv module could not read (text after a closing quote, a quote
    that never closes), so an error row still names its proposal (its id and title) when they can be read."""

    def __init__(self, delimiter: str):
        self.delimiter = delimiter
        self.quoted = False
        self.field = 0
        self.length = 0  # characters of the cell being read
        self.too_long: int | None = None  # index of the first cell over MAX_CELL
        self.cells: dict[int, str] = {}  # the cells read as they are, by position
        self.unread: int | None = None  # the first cell that cannot be read as it is (none after it are kept)
        self._text: list[str] | None = []  # the cell being read (None: over MAX_CELL, or not kept)
        self._kept = 0  # characters kept in cells, at most KEPT_CHARS
        self._full = False  # KEPT_CHARS reached: no more cells are kept

    def ends_with(self, line: str) -> bool:
        """Read one more line of the record; True when the record ends with it."""
        i, at_start, n = 0, not self.quoted, len(line)
        while True:
            if self.quoted:
                end = _QUOTED_BODY.match(line, i).end()  # type: ignore[union-attr]
                self._grow(end - i, line, i, end, quoted=True)
                if end >= n:
                    return False  # the quoted cell goes on past this line
                self.quoted, i, at_start = False, end + 1, False
                j = line.find(self.delimiter, i)
                after = line[i:n if j < 0 else j]
                if after and after not in ("\n", "\r\n", "\r") and self.unread is None:
                    self.unread = self.field  # text after the closing quote: the csv module refused the record here
                self._grow((n if j < 0 else j) - i, line, i, i)
                if j < 0:
                    self._end_cell()
                    return True
                self._end_cell()
                self.field, self.length, i, at_start = self.field + 1, 0, j + 1, True
                continue
            elif at_start and line.startswith('"', i):
                self.quoted, i = True, i + 1
                continue
            j = line.find(self.delimiter, i)
            stop = n if j < 0 else j
            if j < 0:  # the record's last cell: its line end is not its text
                stop_text = stop - (2 if line.endswith("\r\n") else 1 if line.endswith(("\n", "\r")) else 0)
            else:
                stop_text = stop
            self._grow(stop - i, line, i, max(i, stop_text))
            self._end_cell()
            if j < 0:
                return True
            self.field, self.length, i, at_start = self.field + 1, 0, j + 1, True

    def _grow(self, chars: int, line: str, start: int, stop: int, quoted: bool = False) -> None:
        self.length += chars
        if self.length > MAX_CELL and self.too_long is None:
            self.too_long = self.field
        if self._text is None:
            return
        if self.length > MAX_CELL or self.unread is not None:
            self._kept -= sum(map(len, self._text))  # dropped
            self._text = None
        elif stop > start:
            piece = line[start:stop]
            piece = piece.replace('""', '"') if quoted else piece
            self._kept += len(piece)
            if self._kept > KEPT_CHARS:  # this cell and the ones after it are not kept
                self._full, self._text = True, None
            else:
                self._text.append(piece)

    def _end_cell(self) -> None:
        if self._text is not None and self.unread is None:
            self.cells[self.field] = "".join(self._text)
        self._text = None if self._full or self.unread is not None else []

    def readable(self, header: list[str]) -> dict[str, str] | None:
        """The cells kept, under their columns' titles (None: none)."""
        stop = self.unread  # (a cell whose quote never closes never ends, so it is not kept either)
        data = {header[k]: v for k, v in self.cells.items() if k < len(header) and (stop is None or k < stop)}
        return data or None


def csv_rows(lines: Iterator[str], reopen: Callable[[int], Iterator[str]], header: list[str], delimiter: str,
             name: str, empty: EmptyRows, first_line: int = 2) -> Iterator[Row]:
    """The rows after the header line (``lines`` starts at line 2, or at ``first_line``, where a record starts)."""
    source = _Lines(lines, first_line - 1, reopen)
    reader = csv.reader(source.feed, delimiter=delimiter, strict=True)
    width = len(header)
    kept, limit = source.kept, csv.field_size_limit  # (kept: the same list for the whole read)
    while True:
        # source.new_record(), inlined: the lines before this record counted, none of its lines kept yet
        source.base += len(kept)
        kept.clear()
        if source.chars is not None or not source.complete:
            source.complete, source.chars = True, None
        line = source.base + 1  # the file line where the next row begins
        previous = limit(MAX_CELL)  # for this record only (engine.io.rows.csv_cell_limit says why)
        broken: csv.Error | None
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            broken = exc
        else:
            broken = None
        finally:
            limit(previous)
        if broken is not None:
            yield _broken(source, line, broken, header, delimiter, name)
            reader = csv.reader(source.feed, delimiter=delimiter, strict=True)
            continue
        if not cells:
            continue  # a blank line is not a row
        text = "".join(cells)  # blank (and free of NUL) exactly when every cell is
        if not text.strip():
            empty.add(line)
            continue
        data = dict(zip(header, cells))
        if len(cells) > width:
            yield Row(data, line, name, RowError(
                row=line, code="extra_cells", message=f"row has {len(cells)} cells but the header names {width} columns"))
            continue
        if len(cells) < width:
            yield Row(data, line, name, _missing_cells(cells, header, delimiter, line))
            continue
        nul = next((i for i, c in enumerate(cells) if "\x00" in c), None) if "\x00" in text else None
        if nul is not None:
            column = header[nul]
            yield Row({k: v for k, v in data.items() if k != column}, line, name, RowError(
                row=line, column=column, code="bad_text",
                message=f"column '{column}': text holds a NUL character (binary data in a text file)"))
            continue
        if not text.isascii() and _UNREAD.search(text):
            column, (code, message) = next((c, p) for c, cell in zip(header, cells) if (p := text_problem(cell)))
            yield Row({k: v for k, v in data.items() if k != column}, line, name, RowError(
                row=line, column=column, code=code, message=f"column '{column}': {message}"))
            continue
        yield Row(data, line, name)


def _missing_cells(cells: list[str], header: list[str], delimiter: str, line: int) -> RowError:
    # Not read as empty cells: a lost delimiter would put every later value in the wrong column.
    missing = header[len(cells):]
    named = ", ".join(repr(column) for column in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return RowError(row=line, code="missing_cells", message=(
        f"row has {len(cells)} cells but the header names {len(header)} columns (no cell for {named}): a delimiter "
        f"may be missing, which puts values in the wrong columns; if those cells are empty, end the row with "
        f"{len(missing)} more {delimiter!r}"))


def _broken(source: _Lines, line: int, exc: csv.Error, header: list[str], delimiter: str, name: str) -> Row:
    """The error row for a record the csv module could not read; reading goes on after the record's end."""
    record = _RecordEnd(delimiter)
    ended = False
    text: str | None
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
        return Row(record.readable(header), line, name, RowError(row=line, code="bad_csv", message=(
            f"row cannot be read: the quote opened on line {line} is never closed; the lines after it are "
            "read as rows")))
    last = source.number
    lines = f"line {line}" if last == line else f"lines {line}-{last}"
    if record.too_long is not None:
        column = header[record.too_long] if record.too_long < len(header) else None
        return Row(record.readable(header), line, name, RowError(row=line, column=column, code="too_large", message=(
            f"{f'column {column!r}: ' if column else ''}a cell ({lines}) holds more than {MAX_CELL:,} characters")))
    return Row(record.readable(header), line, name, RowError(row=line, code="bad_csv",
                                                            message=f"row cannot be read ({lines}): {exc}"))


CHUNK_BYTES = 1 << 16  # bytes a batch's parent reads at a time; a chunk is what of them ends with whole records
MAX_CHUNK_BYTES = 1 << 24  # a record (a quoted cell) longer than this: the rest of the file is read as rows
_QUOTED_BYTES = re.compile(rb'[^"]*(?:""[^"]*)*')


@dataclass(frozen=True)
class RawChunk:
    """Whole records of a CSV file, as bytes: ``line`` is the file line the first starts on. Read by a worker."""
    data: bytes
    line: int
    name: str
    encoding: str  # as read_proposals reads the file (a byte-order mark is in the header line, not here)
    delimiter: str
    header: tuple[str, ...]


@dataclass(frozen=True)
class Tail:
    """The rest of a file from ``offset`` (line ``line``) is to be read as rows: a record longer than
    MAX_CHUNK_BYTES, or no line end that the chunks can use (lines ended by a bare carriage return)."""
    offset: int
    line: int


def chunk_encoding(encoding: str) -> str | None:
    """The codec for a file's raw chunks, or None when its bytes cannot be cut at b"\\n" (UTF-16)."""
    return {"utf-8-sig": "utf-8", "utf-8": "utf-8", "cp1252": "cp1252"}.get(encoding)


def chunk_rows(chunk: RawChunk, empty: EmptyRows) -> Iterator[Row]:
    """The rows of a chunk, as csv_rows reads them from the whole file."""
    text = chunk.data.decode(chunk.encoding, errors=UNREAD_BYTES)
    before = chunk.line - 1

    def reopen(line: int) -> Iterator[str]:
        return itertools.islice(io.StringIO(text, newline=""), line - before, None)

    return csv_rows(iter(io.StringIO(text, newline="")), reopen, list(chunk.header), chunk.delimiter, chunk.name,
                    empty, first_line=chunk.line)


def lines_in(data: bytes) -> int:
    """Lines in whole records' bytes as the text reader counts them: ended by \\n, \\r\\n or a bare \\r."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def line_offset(path: Path, line: int) -> int | None:
    """The byte offset where line ``line`` (1-based) of a file starts; None when the file ends before it or a
    bare carriage return ends a line before it (the text reader's lines would not be b"\\n"-lines)."""
    offset = 0
    with path.open("rb") as f:
        for _ in range(line - 1):
            piece = f.readline()
            if not piece.endswith(b"\n") or piece.count(b"\r") > piece.endswith(b"\r\n"):
                return None
            offset += len(piece)
    return offset


class _Cutter:
    """Where whole records end in a file's bytes, read piece by piece: the scan of _RecordEnd (a quote opens a
    cell only at its start, two quotes inside it are one), over bytes, kept between pieces."""

    def __init__(self, delimiter: str):
        self._starts = delimiter.encode() + b"\r\n"  # a quote after one of these (or first) opens a cell
        self.quoted = False
        self.pos = 0  # scanned so far
        self.last = -1  # the last b"\n" outside a quoted cell

    def scan(self, data: bytes, final: bool) -> None:
        pos, n = self.pos, len(data)
        while pos < n:
            if self.quoted:
                end = _QUOTED_BYTES.match(data, pos).end()  # type: ignore[union-attr]
                if end >= n or end == n - 1 and not final:  # the cell goes on (or a quote whose next byte is unread)
                    pos = end
                    break
                self.quoted, pos = False, end + 1
                continue
            found = data.find(b'"', pos)
            while found > 0 and data[found - 1] not in self._starts:  # a quote inside a cell is text
                found = data.find(b'"', found + 1)
            stop = n if found < 0 else found
            newline = data.rfind(b"\n", pos, stop)
            if newline >= 0:
                self.last = newline
            if found < 0:
                pos = n
                break
            self.quoted, pos = True, found + 1
        self.pos = pos

    def cut(self) -> int:
        """Bytes of whole records scanned (0: none yet); the scan goes on after them."""
        cut = self.last + 1
        if cut:
            self.pos -= cut
            self.last = -1
        return cut


def raw_chunks(path: Path, offset: int, line: int, name: str, encoding: str, delimiter: str,
               header: list[str], size: int | None = None) -> Iterator[RawChunk | Tail]:
    """A CSV file's records from byte ``offset`` (where line ``line``, a record, starts) as RawChunks of about
    ``size`` bytes (CHUNK_BYTES), and a Tail when the rest must be read as rows (MAX_CHUNK_BYTES)."""
    cutter, data, names, size = _Cutter(delimiter), b"", tuple(header), size or CHUNK_BYTES
    with path.open("rb") as f:
        f.seek(offset)
        while True:
            piece = f.read(size)
            data += piece
            cutter.scan(data, final=not piece)
            cut = len(data) if not piece else cutter.cut()
            if cut:
                chunk, data = data[:cut], data[cut:]
                yield RawChunk(chunk, line, name, encoding, delimiter, names)
                offset, line = offset + cut, line + lines_in(chunk)
            if not piece:
                return
            if len(data) > MAX_CHUNK_BYTES:
                yield Tail(offset, line)
                return


def rows_from(path: Path, tail: Tail, encoding: str, header: list[str], delimiter: str, name: str,
              empty: EmptyRows) -> Iterator[Row]:
    """The rows of a file from a Tail on, read as text (as csv_rows reads the whole file)."""
    def lines(after: int = 0) -> Iterator[str]:
        with path.open("rb") as raw:
            raw.seek(tail.offset)
            with io.TextIOWrapper(raw, encoding=encoding, errors=UNREAD_BYTES, newline="") as f:
                yield from itertools.islice(f, after, None)

    return csv_rows(lines(), lambda line: lines(line - (tail.line - 1)), header, delimiter, name, empty,
                    first_line=tail.line)
