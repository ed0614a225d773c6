"""Read a decision table's grid of cells: a sheet of an .xlsx workbook (openpyxl) or a CSV file.

A grid is {(row, column): value}, 1-based as a spreadsheet numbers them. Policy workbooks are small and
written by the policy's authors, so the whole sheet is read at once (with limits on size, so a wrong file
is refused rather than read for minutes).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import display_path
from engine.io.rows import csv_cell_limit

MAX_BYTES = 20 << 20
MAX_CELLS = 200_000
# What a workbook's parts may unzip to, all told, before openpyxl reads them (it holds the whole workbook, many
# times its XML): MAX_CELLS cells of a few hundred characters each are far below it, and a zip bomb (3 GB of XML
# in 3 MB) is refused by its zip directory's sizes, which Python's zipfile never reads past.
MAX_UNZIPPED = 64 << 20


class SheetError(Exception):
    """``at``: the (row, column) of the sheet the problem is at, when it is at a cell."""

    def __init__(self, code: str, message: str, hint: str | None = None, at: tuple[int, int] | None = None):
        super().__init__(message)
        self.code, self.message, self.hint, self.at = code, message, hint, at


@dataclass(frozen=True)
class Formula:
    """A cell that holds an Excel formula (a table's cells are values and conditions; this is an error)."""

    text: str


@dataclass(frozen=True)
class Grid:
    cells: dict[tuple[int, int], Any]
    content: bytes  # the file's bytes, for the policy hash

    def rows(self) -> list[int]:
        return sorted({r for r, _ in self.cells})


class Workbooks:
    """Reads each file once, however many of its sheets are tables."""

    def __init__(self) -> None:
        self._books: dict[Path, _Book | SheetError] = {}

    def grid(self, path: Path, sheet: str | None) -> Grid:
        key = path.resolve()
        if key not in self._books:
            try:
                self._books[key] = _Book(path)
            except SheetError as exc:
                self._books[key] = exc
        book = self._books[key]
        if isinstance(book, SheetError):
            raise book
        return book.grid(sheet)


class _Book:
    def __init__(self, path: Path):
        self.path = path
        self.content = _content(path)
        self.csv = path.suffix.lower() == ".csv"
        if not self.csv and path.suffix.lower() not in (".xlsx", ".xlsm"):
            raise SheetError("bad_table", f"a table is a sheet of an .xlsx workbook or a .csv file, not "
                             f"{path.suffix or path.name!r}")
        self.book = None if self.csv else _open_xlsx(self.content)

    def grid(self, sheet: str | None) -> Grid:
        if self.csv:
            if sheet is not None:
                raise SheetError("bad_table", "a CSV file has no sheets", "leave out 'sheet:' for a .csv file")
            return Grid(_csv_cells(self.content), self.content)
        if sheet is None:
            raise SheetError("bad_table", "name the workbook's sheet that holds the table", "add sheet: NAME")
        return Grid(_xlsx_cells(self.book, sheet), self.content)


def _content(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SheetError("bad_table", f"the file is {size:,} bytes; a policy workbook is at most {MAX_BYTES:,}")
        return path.read_bytes()
    except OSError as exc:
        raise SheetError("no_table", f"cannot read the table's file {display_path(path)}: {exc.strerror or exc}",
                         "the path is relative to the tables file") from None


@csv_cell_limit()
def _csv_cells(content: bytes) -> dict[tuple[int, int], Any]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetError("bad_table", f"the CSV file is not UTF-8 (byte {exc.start + 1})",
                         "save it as CSV UTF-8") from None
    cells: dict[tuple[int, int], Any] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for r, row in enumerate(reader, 1):
            for c, value in enumerate(row, 1):
                if value.strip():
                    cells[(r, c)] = value
                    if len(cells) > MAX_CELLS:
                        raise SheetError("bad_table", f"more than {MAX_CELLS:,} cells")
    except csv.Error as exc:
        raise SheetError("bad_table", f"the CSV file cannot be read: {exc}") from None
    return cells


def unzipped_size(source: bytes | str | Path) -> int | None:
    """What a workbook's parts unzip to, as its zip directory says (None: not a zip; openpyxl says why)."""
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as book:
            return sum(info.file_size for info in book.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def too_unzipped(source: bytes | str | Path) -> str | None:
    """Why a workbook is not opened for its unzipped size, or None."""
    size = unzipped_size(source)
    if size is not None and size > MAX_UNZIPPED:
        return f"the workbook unzips to {size:,} bytes; the limit is {MAX_UNZIPPED:,} (is it the file you meant?)"
    return None


def _open_xlsx(content: bytes) -> Any:
    import openpyxl  # only when a policy has workbook tables
    problem = too_unzipped(content)
    if problem:
        raise SheetError("bad_table", problem, "a decision table's workbook holds tables, not data exports")
    try:
        return openpyxl.load_workbook(io.BytesIO(content))  # formulas as written: a table holds no formulas
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError, EOFError) as exc:
        raise SheetError("bad_table", f"not a readable .xlsx workbook ({type(exc).__name__})",
                         "open it in Excel and save it again as .xlsx") from None


def _xlsx_cells(book: Any, sheet: str) -> dict[tuple[int, int], Any]:
    if sheet not in book.sheetnames:
        raise SheetError("unknown_sheet", f"the workbook has no sheet '{sheet}'",
                         f"its sheets: {', '.join(book.sheetnames)}")
    ws = book[sheet]
    merged = [str(r) for r in ws.merged_cells.ranges if r.min_row != r.max_row or r.min_col != r.max_col]
    if merged:  # Excel keeps the value in the first cell only: the others would read as empty, i.e. any value
        raise SheetError("bad_table", f"sheet '{sheet}': merged cells {', '.join(merged[:5])}{' ...' if len(merged) > 5 else ''}: "
                         f"only the first cell of each holds its value, the others would read as '-' (any value)",
                         "unmerge them and write the value in every cell (Home > Merge & Center, then fill down)")
    cells: dict[tuple[int, int], Any] = {}
    for row in ws.iter_rows():
        for cell in row:
            value = cell.value
            if cell.data_type == "f":
                value = Formula(str(value))
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if isinstance(value, dt.time) or isinstance(value, dt.timedelta):
                value = str(value)
            cells[(cell.row, cell.column)] = value
            if len(cells) > MAX_CELLS:
                raise SheetError("bad_table", f"the sheet has more than {MAX_CELLS:,} cells")
    _refuse_hidden(ws, sheet, cells)
    return cells


UNHIDE = ("unhide it and review what it holds (Excel: select the rows or columns around it, right-click > Unhide; "
          "a sheet: right-click a sheet tab > Unhide), or delete it")


def _refuse_hidden(ws: Any, sheet: str, cells: dict[tuple[int, int], Any]) -> None:
    problem = hidden_cells(ws, sheet, cells)
    if problem is not None:
        raise problem


def hidden_cells(ws: Any, sheet: str, cells: Iterable[tuple[int, int]],
                 what: str = "the table it holds") -> SheetError | None:
    """A hidden sheet (openpyxl's worksheet ``ws``), or a hidden row or column of it that holds one of ``cells``
    ((row, column) of the cells with something in them), as the error to report (code hidden_cells; ``at`` its
    first cell for a row or column): every row of a table is a rule, and whoever reviews the sheet in Excel does
    not see it (a filter, a collapsed group and Hide all hide rows). A hidden row or column with nothing in it hides
    nothing. The policy workbook's import (engine/workbook/reader.py) checks its sheets the same way; ``what``: what
    a hidden sheet holds, as the message says it."""
    if ws.sheet_state != "visible":
        return SheetError("hidden_cells", f"sheet '{sheet}' is hidden ({ws.sheet_state}), so whoever reviews the "
                          f"workbook does not see {what}", UNHIDE)
    held = set(cells)
    rows = sorted({r for r, dim in ws.row_dimensions.items() if dim.hidden} & {r for r, _ in held})
    if rows:
        first = min(c for r, c in held if r == rows[0])
        shown = ", ".join(map(str, rows[:5])) + (" ..." if len(rows) > 5 else "")
        return SheetError("hidden_cells", f"sheet '{sheet}': row{'s' if len(rows) > 1 else ''} {shown} "
                          f"{'are' if len(rows) > 1 else 'is'} hidden, so whoever reviews the sheet does not see the rules "
                          "it holds",
                          UNHIDE, (rows[0], first))
    hidden: set[int] = set()
    for dim in ws.column_dimensions.values():
        if dim.hidden and dim.min is not None:
            hidden.update(range(dim.min, (dim.max or dim.min) + 1))
    columns = sorted(hidden & {c for _, c in held})
    if columns:
        from openpyxl.utils import get_column_letter
        first = min(r for r, c in held if c == columns[0])
        shown = ", ".join(map(get_column_letter, columns[:5])) + (" ..." if len(columns) > 5 else "")
        return SheetError("hidden_cells", f"sheet '{sheet}': column{'s' if len(columns) > 1 else ''} {shown} "
                          f"{'are' if len(columns) > 1 else 'is'} hidden, so whoever reviews the sheet does not see the "
                          "cells it holds", UNHIDE, (first, columns[0]))
    return None
