"""Rows of one worksheet of an .xlsx workbook, read from the sheet's XML as a stream.

Why not openpyxl's read-only mode: it assumed rows are stored in order (rows stored out of order were
silently dropped), ended the run on a bad cell (text, NaN or a 5,000-digit value in a numeric cell, a
shared-string index out of range), and kept every shared string in large objects. Here each cell is
placed by its reference (``C7``), a bad cell is an error row naming its column, and a bad workbook (not a
zip, a sheet part missing, XML that is truncated or declares a DTD) is refused as ``bad_xlsx``.
The XML is read by expat with any DOCTYPE refused, so no entity is ever defined, expanded or fetched.
"""
from __future__ import annotations

import datetime as dt
import os
import posixpath
import re
import zipfile
from collections.abc import Callable, Generator, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn
from xml.parsers import expat

from engine.decision import RowError
from engine.errors import Diagnostic, InputError, Location
from engine.io.rows import MAX_CELL, MAX_DIGITS, EmptyRows, Row, refuse_repeated_columns, text_problem

CHUNK = 1 << 16
MAX_SHARED_CHARS = 256 << 20  # characters in the shared-strings table
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_REF = re.compile(r"([A-Z]{1,3})(\d+)$")
_DATE_FORMATS = {14, 15, 16, 17, 18, 19, 20, 21, 22, 27, 30, 36, 45, 46, 47, 50, 57}
_NOT_DATE_PARTS = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.|_.|\*.')
_MAX_ROW = 1_048_576  # rows in an Excel sheet
# expat's handlers (namespace_separator set, attributes as a dict): an element's start, its end, character data
_Start = Callable[[str, dict[str, str]], None]
_End = Callable[[str], None]
_Chars = Callable[[str], None]
_SheetRow = tuple[int, dict[int, Any]]  # (row number, {0-based column: value})


class _Refused(Exception):
    """Why the workbook cannot be read (becomes bad_xlsx)."""


def xlsx_rows(path: str | os.PathLike[str], name: str, sheet: str | None,
              empty: EmptyRows) -> tuple[list[str], Iterator[Row]]:
    """Check the workbook and the header now (a bad one is refused before any row); the header, and the rows read
    lazily."""
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _bad(name, f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        sheets, date1904 = _sheets(book)
        if not sheets:
            raise _Refused("the workbook has no sheets")
        if sheet is not None and sheet not in sheets:
            raise InputError([Diagnostic("unknown_sheet", f"no sheet named '{sheet}'", Location(name),
                                         f"sheets: {', '.join(sheets)}")])
        part = sheets[sheet or next(iter(sheets))]
        if part not in book.namelist():
            raise _Refused(f"the sheet's part {part} is missing from the workbook")
        shared = _shared_strings(book)
        dates = _date_styles(book)
        first, count = _check_sheet(book, part)  # the whole sheet parses (not truncated), where its header is
        if sheet is None and count <= 1 and len(sheets) > 1:  # a cover or notes sheet first: say where rows are
            chosen, *others = sheets
            raise InputError([Diagnostic(
                "empty_sheet", f"the first sheet, '{chosen}', has {'no rows' if not count else 'only one row'}, and "
                f"the workbook has {len(sheets)} sheets", Location(name),
                f"give the sheet of the rows: --sheet '{others[0]}' (its sheets: {', '.join(sheets)})")])
        rows = _sheet_rows(book, part, _Cells(shared, dates, date1904))
        header, before = _header(rows, first)
    except InputError:
        book.close()
        raise
    except (_Refused, expat.ExpatError, zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError,
            RuntimeError, NotImplementedError) as exc:  # zlib, CRC and unsupported-compression errors too
        book.close()
        message = str(exc) if isinstance(exc, (_Refused, expat.ExpatError)) else type(exc).__name__
        raise _bad(name, f"not a readable .xlsx workbook: {message}") from None
    try:
        refuse_repeated_columns(header, name)
    except InputError:
        rows.close()  # its sheet part is open
        book.close()
        raise
    return header, _data_rows(book, before, rows, header, name, empty)


def _bad(name: str, message: str) -> InputError:
    return InputError([Diagnostic("bad_xlsx", message, Location(name),
                                  "open it in Excel and save it again as .xlsx, or save the sheet as CSV")])


def _parser(start: _Start | None = None, end: _End | None = None, text: _Chars | None = None) -> expat.XMLParserType:
    """An expat parser that refuses a DOCTYPE (so no entity can be defined: no XXE, no entity bomb)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True

    def refuse(*_: object) -> NoReturn:
        raise _Refused("the XML declares a DTD, which a workbook never does")
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    if start:
        parser.StartElementHandler = start
    if end:
        parser.EndElementHandler = end
    if text:
        parser.CharacterDataHandler = text
    return parser


def _parse(book: zipfile.ZipFile, part: str, parser: expat.XMLParserType) -> Iterator[None]:
    """Feed a part to the parser a chunk at a time, pausing after each chunk."""
    with book.open(part) as f:
        while True:
            chunk = f.read(CHUNK)
            parser.Parse(chunk, not chunk)
            yield
            if not chunk:
                return


class _LocalNames(dict[str, str]):
    """Element names without their namespace ("<namespace> row" -> "row"), worked out once per name."""

    def __missing__(self, tag: str) -> str:
        local = tag.rpartition(" ")[2]
        if len(self) < 1_000:  # a hostile file may use millions of names
            self[tag] = local
        return local


_local = _LocalNames().__getitem__


def _read_all(book: zipfile.ZipFile, part: str, start: _Start | None = None, end: _End | None = None,
              text: _Chars | None = None) -> None:
    for _ in _parse(book, part, _parser(start, end, text)):
        pass


def _sheets(book: zipfile.ZipFile) -> tuple[dict[str, str], bool]:
    """Sheet names (in workbook order) -> their parts; and whether dates count from 1904."""
    targets: dict[str, str] = {}
    names: list[tuple[str, str]] = []
    flags = {"date1904": False}

    def rel(tag: str, attrs: dict[str, str]) -> None:
        if _local(tag) == "Relationship":
            target = attrs.get("Target", "")
            targets[attrs.get("Id", "")] = target.lstrip("/") if target.startswith("/") else \
                posixpath.normpath(posixpath.join("xl", target))

    def workbook(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "sheet":
            names.append((attrs.get("name", ""), attrs.get(f"{_REL} id", "")))
        elif local == "workbookPr":
            flags["date1904"] = attrs.get("date1904") in ("1", "true")
    rels = "xl/_rels/workbook.xml.rels"
    if rels in book.namelist():
        _read_all(book, rels, rel)
    _read_all(book, "xl/workbook.xml", workbook)
    return {n: targets.get(r, f"xl/worksheets/sheet{i}.xml") for i, (n, r) in enumerate(names, 1)}, flags["date1904"]


def _shared_strings(book: zipfile.ZipFile) -> list[str | _BadCell]:
    part = "xl/sharedStrings.xml"
    if part not in book.namelist():
        return []
    strings: list[str | _BadCell] = []
    parts = _Text()
    state = {"in_t": False, "phonetic": 0, "chars": 0}

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "t" and not state["phonetic"]:
            state["in_t"] = True
        elif local == "rPh":
            state["phonetic"] += 1

    def end(tag: str) -> None:
        local = _local(tag)
        if local == "t":
            state["in_t"] = False
        elif local == "rPh":
            state["phonetic"] -= 1
        elif local == "si":
            strings.append(parts.value())
            parts.clear()

    def text(data: str) -> None:
        if state["in_t"]:
            state["chars"] += len(data)
            if state["chars"] > MAX_SHARED_CHARS:  # counted as read, so a huge string is never held whole
                raise _Refused(f"the shared strings hold over {MAX_SHARED_CHARS:,} characters")
            parts.append(data)
    _read_all(book, part, start, end, text)
    return strings


def _date_styles(book: zipfile.ZipFile) -> list[bool]:
    """For each cell style (the ``s`` of a cell), whether its number format shows a date."""
    part = "xl/styles.xml"
    if part not in book.namelist():
        return []
    custom: dict[int, bool] = {}
    styles: list[bool] = []
    depth = {"xfs": False}

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "numFmt":
            code = _NOT_DATE_PARTS.sub("", attrs.get("formatCode", ""))
            custom[_int(attrs.get("numFmtId"))] = bool(re.search(r"[dmyhs]", code, re.I)) and "general" not in code.lower()
        elif local == "cellXfs":
            depth["xfs"] = True
        elif local == "xf" and depth["xfs"]:
            number = _int(attrs.get("numFmtId"))
            styles.append(custom.get(number, number in _DATE_FORMATS))

    def end(tag: str) -> None:
        if _local(tag) == "cellXfs":
            depth["xfs"] = False
    _read_all(book, part, start, end)
    return styles


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 10 else -1


def _check_sheet(book: zipfile.ZipFile, part: str) -> tuple[int | None, int]:
    """Parse the whole sheet once (a truncated or broken sheet is refused before any row is read): the
    lowest row number, which is the header's, and how many rows hold a value (formatted empty rows do not)."""
    lowest: int | None = None
    last = count = 0
    counted = True

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal lowest, last, count, counted
        local = _local(tag)
        if local == "row":
            counted = False
            number = _int(attrs.get("r"))
            number = last = number if number > 0 else last + 1  # as _sheet_rows numbers them
            if lowest is None or number < lowest:
                lowest = number
        elif not counted and local in ("v", "is"):  # a cell's value, or its inline string
            counted = True
            count += 1
    _read_all(book, part, start)
    return lowest, count


class _Cells:
    """Turns a cell's XML (type, style, value text) into a value; a bad cell is a _BadCell."""

    def __init__(self, shared: list[str | _BadCell], dates: list[bool], date1904: bool):
        self.shared, self.dates = shared, dates
        self.epoch = dt.date(1904, 1, 1) if date1904 else dt.date(1899, 12, 30)

    def value(self, kind: str, style: int, text: str) -> Any:
        if kind == "s":
            index = _int(text.strip())
            if not 0 <= index < len(self.shared):
                return _BadCell("bad_value", f"the cell refers to shared string {text.strip()[:20]!r}, which the "
                                f"workbook does not have ({len(self.shared):,} strings)")
            return self.shared[index]
        if kind in ("str", "inlineStr"):
            return text
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "e":
            return _BadCell("bad_value", f"the cell holds the Excel error {text.strip()[:20]}")
        if kind == "d":
            return text.strip()[:10]
        return self.number(text.strip(), style)

    def number(self, text: str, style: int) -> Any:
        if text == "":
            return None
        if len(text) > MAX_DIGITS:
            return _BadCell("too_large", f"number has {len(text):,} digits; the limit is {MAX_DIGITS:,}")
        if not _NUMBER.fullmatch(text):
            return _BadCell("bad_value", f"a number cell holds {text[:40]!r}, which is not a number")
        number: Any = int(text) if text.lstrip("-").isdigit() else float(text)
        if number != number or number in (float("inf"), float("-inf")):
            return _BadCell("bad_value", f"a number cell holds {text[:40]!r}, which is not a finite number")
        if 0 <= style < len(self.dates) and self.dates[style]:
            try:
                return self.epoch + dt.timedelta(days=int(Decimal(text)) - (1 if 0 < Decimal(text) < 60 else 0))
            except (OverflowError, InvalidOperation, ValueError):
                return _BadCell("bad_value", f"a date cell holds {text[:40]!r}, which is not a date")
        return number


class _BadCell:
    __slots__ = ("code", "message")

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message


class _Text:
    """A cell's text as expat hands it over in pieces, kept up to MAX_CELL characters and counted beyond: a cell
    of 3 GB of text (a few MB zipped) is measured as it streams past, never held (it was held twice, 6 GB)."""

    __slots__ = ("parts", "length")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0

    def append(self, data: str) -> None:
        self.length += len(data)
        if self.length <= MAX_CELL:
            self.parts.append(data)

    def clear(self) -> None:
        self.parts.clear()
        self.length = 0

    def __bool__(self) -> bool:
        return self.length > 0

    def value(self) -> str | _BadCell:
        if self.length > MAX_CELL:
            return _BadCell("too_large", f"text is {self.length:,} characters long; the limit for a cell is {MAX_CELL:,}")
        return "".join(self.parts)


def _column(ref: str | None, previous: int) -> int:
    """0-based column of a cell reference such as ``C7``; the next column when there is none."""
    match = _REF.match(ref or "")
    if not match:
        return previous + 1
    index = 0
    for letter in match[1]:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _sheet_rows(book: zipfile.ZipFile, part: str, cells: _Cells) -> Generator[_SheetRow, None, None]:
    """(row number, {0-based column: value}) for each <row> in the order stored, cells placed by reference."""
    done: list[_SheetRow] = []
    state: dict[str, Any] = {"row": 0, "cells": None, "col": -1, "kind": "", "style": -1, "text": None,
                             "formula": None}
    texts = _Text()

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "row":
            number = _int(attrs.get("r"))
            state["row"] = number if number > 0 else state["row"] + 1
            state["cells"], state["col"] = {}, -1
        elif local == "c" and state["cells"] is not None:
            state["col"] = _column(attrs.get("r"), state["col"])
            state["kind"], state["style"] = attrs.get("t", "n"), _int(attrs.get("s") or "0")
            texts.clear()
            state["text"], state["formula"] = None, None
        elif local in ("v", "t") and state["cells"] is not None:
            state["text"] = texts  # collect character data (a <t> of an inline string, or the <v>)
        elif local == "f" and state["cells"] is not None:
            state["text"] = state["formula"] = _Text()  # its text, for the message when no value was computed
        elif local == "rPh":
            state["text"] = None

    def end(tag: str) -> None:
        local = _local(tag)
        if local in ("v", "t", "f"):
            state["text"] = None
        elif local == "c" and state["cells"] is not None:
            if texts:
                text = texts.value()
                value: Any = text if isinstance(text, _BadCell) else cells.value(state["kind"], state["style"], text)
            elif state["formula"] is not None and state["kind"] != "str":
                # a formula without a value (no <v>, or openpyxl's empty <v/>) was never computed; only a text result
                # (t="str") can be empty: Excel's ="" is an empty cell
                shown = "".join(state["formula"].parts).strip()
                value = _BadCell("formula_without_value", "the cell holds a formula"
                                 + (f" (={shown[:60]})" if shown else "") + " but no computed value (the workbook was "
                                 "written by a program that does not calculate); open and save it in Excel or "
                                 "LibreOffice, or write the values")
            else:
                value = None
            if value is not None:
                state["cells"][state["col"]] = value
        elif local == "row" and state["cells"] is not None:
            done.append((state["row"], state["cells"]))
            state["cells"] = None

    def text(data: str) -> None:
        if state["text"] is not None:
            state["text"].append(data)  # texts (a <v> or <t>) or the formula being read
    for _ in _parse(book, part, _parser(start, end, text)):
        yield from done
        done.clear()


def _header(rows: Iterator[_SheetRow], first: int | None) -> tuple[list[str], list[_SheetRow]]:
    """The header (the row with the lowest number) and the rows stored before it (rows out of order)."""
    before: list[_SheetRow] = []
    for number, values in rows:
        if number == first:
            width = max(values, default=-1) + 1
            return [_title(values.get(i)) for i in range(width)], before
        before.append((number, values))
    return [], before


def _title(value: Any) -> str:
    if value is None or isinstance(value, _BadCell):
        return ""
    return str(value).strip()


def _data_rows(book: zipfile.ZipFile, before: list[_SheetRow], rows: Iterator[_SheetRow], header: list[str], name: str,
               empty: EmptyRows) -> Iterator[Row]:
    seen = bytearray(_MAX_ROW // 8 + 2)
    try:
        for number, values in [*before, *rows] if before else rows:
            yield from _data_row(number, values, header, name, empty, seen)
    finally:
        book.close()


def _data_row(number: int, values: dict[int, Any], header: list[str], name: str, empty: EmptyRows,
              seen: bytearray) -> Iterator[Row]:
    if not any(not isinstance(v, str) or v.strip() for v in values.values()):
        empty.add(number)
        return
    data = {h: _plain(values.get(i)) for i, h in enumerate(header) if h}
    if 0 < number <= _MAX_ROW:
        if seen[number >> 3] & (1 << (number & 7)):  # (its cells stay on the error row: they name the proposal)
            kept = {k: v for k, v in data.items() if not (isinstance(v, str) and text_problem(v))}
            yield Row(kept, number, name, RowError(row=number, code="bad_xlsx",
                                                   message=f"row {number} is stored twice in the sheet"))
            return
        seen[number >> 3] |= 1 << (number & 7)
    if any(i >= len(header) for i, v in values.items() if not isinstance(v, str) or v.strip()):
        yield Row(data, number, name, RowError(row=number, code="extra_cells",
                                               message="row has cells beyond the header's columns"))
        return
    for i, value in sorted(values.items()):
        if not header[i]:
            continue  # a cell under an empty title is not read (as in CSV)
        problem = (value.code, value.message) if isinstance(value, _BadCell) else \
            text_problem(value) if isinstance(value, str) else None
        if problem:
            column = header[i]
            yield Row({k: v for k, v in data.items() if k != column}, number, name, RowError(
                row=number, column=column, code=problem[0], message=f"column '{column}': {problem[1]}"))
            return
    yield Row(data, number, name)


def _plain(value: Any) -> Any:
    return "" if value is None or isinstance(value, _BadCell) else value
