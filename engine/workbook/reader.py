"""``pmo import-policies policies.xlsx --out DIR``: an edited policy workbook back to a policy folder.

The cover sheet says which sheet becomes which file. A policy sheet's sections (:mod:`engine.workbook.layout`)
are put together into the YAML document again and written with its comments; a sheet of reference data becomes
its CSV file, the decision tables their workbook (or CSV) in DIR, which the tables file then names. Nothing is
written until all of it reads and the result loads as a policy set: every cell that cannot be read, and every
problem the policy loader finds in what was read, is reported at its cell (``policies.xlsx!intake!D12:
error[...]``), and DIR is left as it was.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from engine.authoring.check import check_policies
from engine.errors import Diagnostic, DiagnosticSink, Location, PmoError, PolicyError, column_letters, display_path
from engine.policy.source import _Builder
from engine.tables.sheet import hidden_cells, too_unzipped
from engine.workbook.export import _deterministic
from engine.workbook.layout import (
    COMMENT,
    COVER,
    EMPTY_TEXT,
    KEY,
    NULL_TEXT,
    ROOT,
    SETTING,
    SOURCE,
    TITLE,
    VALUE,
    Item,
    PathError,
    flow_text,
    is_flat,
    is_items,
    looks_special,
    parse_dotted,
    parse_path,
    path_text,
    scalar_text,
    typed_value,
)

KIND_DATA, KIND_TABLE = "data", "decision table"
POLICY_SUFFIXES = (".yaml", ".yml")


@dataclass
class Imported:
    folder: Path
    files: list[str]  # written, relative to the folder
    policy_hash: str
    warnings: list[Diagnostic] = field(default_factory=list)


class _Cells:
    """Reads cells by the layout's rules; problems go to the sink at the cell."""

    def __init__(self, book_name: str, sink: DiagnosticSink):
        self.book = book_name
        self.sink = sink

    def where(self, ws, row: int, column: int) -> Location:
        return Location(self.book, row, column, sheet=ws.title)

    def error(self, ws, row: int, column: int, code: str, message: str, hint: str | None = None) -> None:
        self.sink.add(code, message, self.where(ws, row, column), hint)

    def value(self, ws, cell) -> tuple[bool, Any]:
        """(present, value) of a cell; (False, None) for an empty cell or one that cannot be read (reported)."""
        raw = cell.value
        if raw is None:
            return False, None
        if cell.data_type == "f" or (isinstance(raw, str) and raw.startswith("=") and not cell.quotePrefix):
            self.error(ws, cell.row, cell.column, "cell_formula", f"a formula ({raw}) where a value belongs",
                       "type the value itself; the policy keeps values, not formulas")
            return False, None
        if isinstance(raw, bool):
            return True, raw
        if isinstance(raw, int):
            return True, raw
        if isinstance(raw, float):
            if raw != raw or raw in (float("inf"), float("-inf")):
                self.error(ws, cell.row, cell.column, "cell_value", "not a finite number")
                return False, None
            return True, Decimal(repr(raw))
        if isinstance(raw, dt.datetime):
            return True, raw.date() if raw.time() == dt.time() else raw
        if isinstance(raw, dt.date):
            return True, raw
        if not isinstance(raw, str):
            self.error(ws, cell.row, cell.column, "cell_value", f"a {type(raw).__name__} cell cannot be read",
                       "write a number, a date, TRUE/FALSE or text")
            return False, None
        if cell.quotePrefix:
            return True, raw
        stripped = raw.strip()
        if stripped == NULL_TEXT:
            return True, None
        if stripped == EMPTY_TEXT:
            return True, ""
        typed, value = typed_value(raw)
        if typed:  # 0.2 or FALSE in a cell formatted as text is still the number or the boolean it says
            return True, value
        if looks_special(raw):
            return self.flow(ws, cell, raw)
        return True, raw

    def flow(self, ws, cell, text: str) -> tuple[bool, Any]:
        """A list or mapping in YAML's flow style, read with the policy loader's own rules (exact decimals)."""

        where = self.where(ws, cell.row, cell.column)
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            mark = getattr(exc, "problem_mark", None)
            at = f" at character {mark.column + 1}" if mark is not None else ""
            self.sink.add("cell_syntax", f"cannot read {text!r} as a list or mapping{at}: {problem}", where,
                          "write a list as [a, b, c] and a mapping as {key: value}; put text with a comma or a colon "
                          "in quotes: [\"Smith, Jones\"]; to mean the text itself, start the cell with an apostrophe")
            return False, None
        inner = DiagnosticSink()
        value = _Builder(str(where), inner).build(node, ())
        if inner.items:
            for d in inner.items:
                self.sink.add(d.code, d.message, where, d.hint)
            return False, None
        return True, value


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip()
    return None


@dataclass
class _Manifest:
    sheet: str
    file: str
    kind: str
    name: str
    table_sheet: str
    row: int


def _manifest(book, cells: _Cells) -> list[_Manifest]:
    if COVER not in book.sheetnames:
        cells.sink.add("no_cover", f"the workbook has no '{COVER}' sheet", Location(cells.book),
                       "import a workbook written by 'pmo export-policies'; its cover sheet lists the files")
        return []
    ws = book[COVER]
    header_row = None
    for row in ws.iter_rows():
        names = [_text(c.value) for c in row[:3]]
        if names == ["sheet", "file", "kind"]:
            header_row = row[0].row
            break
    if header_row is None:
        cells.sink.add("no_cover", "the cover sheet has no table of sheets (sheet | file | kind | ...)",
                       Location(cells.book, 1, 1, sheet=COVER), "export the policy again, or restore that table")
        return []
    out: list[_Manifest] = []
    skipped: set[str] = set()  # sheets named by a row with an error (already reported)
    seen_files: dict[str, int] = {}
    for row in ws.iter_rows(min_row=header_row + 1):
        values = [c.value for c in row[:6]] + [None] * 6
        sheet, file, kind, name, table_sheet = (str(v).strip() if v is not None else "" for v in values[:5])
        if not any(v is not None for v in values[1:6]) and sheet not in book.sheetnames:
            continue  # a blank row (Excel's user inserts them freely), or the cover's notes under the table
        r = row[0].row
        if sheet not in book.sheetnames:
            cells.error(ws, r, 1, "unknown_sheet", f"the workbook has no sheet '{sheet}'",
                        f"its sheets: {', '.join(book.sheetnames)}")
            continue
        problem = _unsafe(file, kind)
        skipped.add(sheet)
        if problem:
            cells.error(ws, r, 2, "bad_file", problem, "a file is named relative to the policy folder, e.g. intake.yaml")
            continue
        key = (file if kind != KIND_TABLE else f"{file}!{table_sheet}").lower()
        if key in seen_files:
            cells.error(ws, r, 2, "duplicate_file", f"'{file}' is also the file of row {seen_files[key]}")
            continue
        seen_files[key] = r
        out.append(_Manifest(sheet, file, kind, name, table_sheet, r))
    _unlisted(book, {m.sheet for m in out} | skipped, cells)
    return out


def _unlisted(book, listed: set[str], cells: _Cells) -> None:
    """A sheet the cover's table does not name would be left out of the import without a word: say so."""
    for title in book.sheetnames:
        if title != COVER and title not in listed:
            cells.sink.add("unlisted_sheet", f"the cover's table of sheets does not name sheet '{title}', so it "
                           "would not be imported", Location(cells.book, sheet=title),
                           "restore its row on the cover sheet (sheet | file | kind | ...), or delete the sheet")


def _unsafe(file: str, kind: str) -> str | None:
    if not file:
        return "no file named"
    path = PurePosixPath(file.replace("\\", "/"))
    suffix = path.suffix.lower()
    if kind == KIND_TABLE:
        return None if suffix in (".xlsx", ".csv") else f"a decision table is in an .xlsx or .csv file, not '{file}'"
    if path.is_absolute() or ".." in path.parts:
        return f"'{file}' is outside the policy folder"
    if kind == KIND_DATA:
        return None if suffix == ".csv" and len(path.parts) == 1 else f"reference data is a .csv file beside the policies, not '{file}'"
    if suffix not in POLICY_SUFFIXES:
        return f"a policy file ends in .yaml, not '{file}'"
    if len(path.parts) > 2 or (len(path.parts) == 2 and path.parts[0] != "rules"):
        return f"'{file}' is not in the policy folder (or its rules/ folder)"
    return None


# ---------------------------------------------------------------------------- a policy sheet -> a document

@dataclass
class _Section:
    title_row: int
    path: tuple
    header: list[tuple[int, str]]  # (column, name)
    header_row: int
    rows: list[Any]  # openpyxl rows


class _Document:
    """One YAML document being put together: its data, where each value came from, and comments by path."""

    def __init__(self):
        self.data: dict = {}
        self.cells: dict[tuple, Location] = {}  # data path -> the cell it came from
        self.comments: dict[tuple, str] = {}


def _sections(ws, cells: _Cells) -> list[_Section]:
    out: list[_Section] = []
    current: _Section | None = None
    title_rows = 0  # the rows above the first section: the sheet's file and kind, how to edit
    for row in ws.iter_rows():
        first = row[0].value if row else None
        if isinstance(first, str) and first.startswith(TITLE.strip()):
            text = first[len(TITLE.strip()):].strip()
            try:
                path = parse_path(text)
            except PathError as exc:
                cells.error(ws, row[0].row, 1, "bad_section", f"section title '{first}': {exc}",
                            "keep the section titles as exported (§ rules, § criteria[size].bands.ranges)")
                current = None
                continue
            current = _Section(row[0].row, path, [], 0, [])
            out.append(current)
            continue
        blank = not any(c.value is not None and not (isinstance(c.value, str) and not c.value.strip()) for c in row)
        if current is None and not blank and not out:
            title_rows += 1
            if title_rows > 2:  # what the export writes there is notes; anything more would be lost
                _extra_cells(row, {}, ws, cells, "a value above the sheet's first section")
            continue
        if current is None or blank:
            continue  # the rows of a section whose title does not read (reported)
        if not current.header:
            current.header = [(c.column, str(c.value).strip()) for c in row if c.value is not None]
            current.header_row = row[0].row
            continue
        current.rows.append(row)
    return out


def _assign(doc: _Document, path: tuple, value: Any, where: Location, cells: _Cells, ws) -> None:
    target = doc.data
    for i, part in enumerate(path[:-1]):
        nxt = target.get(part) if isinstance(target, dict) else None
        if nxt is None:
            nxt = {}
            target[part] = nxt
        elif not isinstance(nxt, dict):
            cells.sink.add("duplicate_value", f"'{'.'.join(map(str, path[:i + 1]))}' is given twice: as a value and "
                           "as a mapping", where, "keep one of them")
            return
        target = nxt
    key = path[-1]
    if key in target:
        cells.sink.add("duplicate_value", f"'{path_text(path)}' is given twice", where, "keep one of them")
        return
    target[key] = value


def _resolve(doc: _Document, path: tuple, cells: _Cells, ws, title_row: int) -> tuple[Any, tuple] | None:
    """The container a section's path names, and its data path (list items by index); None if it is not there."""
    node: Any = doc.data
    data_path: tuple = ()
    for part in path:
        if isinstance(part, Item):
            if not isinstance(node, list):
                cells.error(ws, title_row, 1, "bad_section", f"'{path_text(path)}': {path_text(data_path) or ROOT} "
                            "is not a list of items", "keep the section titles as exported")
                return None
            if part.id is not None:
                index = next((i for i, item in enumerate(node) if isinstance(item, dict) and item.get("id") == part.id),
                             None)
            else:
                index = part.position - 1 if part.position <= len(node) else None
            if index is None:
                ids = [str(item.get("id")) for item in node if isinstance(item, dict) and item.get("id") is not None]
                cells.error(ws, title_row, 1, "bad_section", f"section '{path_text(path)}' names no item of "
                            f"'{path_text(data_path)}'" + (f" (its ids: {', '.join(ids)})" if ids else ""),
                            "a section inside an item names it by its id: rename the section with the item")
                return None
            node, data_path = node[index], data_path + (index,)
        else:
            if not isinstance(node, dict):
                return None
            node, data_path = node.setdefault(part, {}), data_path + (part,)
    return node, data_path


def _read_sheet(ws, cells: _Cells) -> _Document:
    doc = _Document()
    sections = _sections(ws, cells)
    seen: set[tuple] = set()
    for section in sections:  # the same title twice: which one holds would be a guess
        if section.path in seen:
            cells.error(ws, section.title_row, 1, "duplicate_section", f"section '{path_text(section.path)}' is given "
                        "twice", "merge the two sections")
        seen.add(section.path)
    sections = [s for i, s in enumerate(sections) if s.path not in {t.path for t in sections[:i]}]
    # parents first: a section inside an item needs the item's list to be read already
    for section in sorted(sections, key=lambda s: sum(isinstance(p, Item) for p in s.path)):
        _read_section(doc, section, ws, cells)
    return doc


def _read_section(doc: _Document, section: _Section, ws, cells: _Cells) -> None:
    if not section.header:
        cells.error(ws, section.title_row, 1, "bad_section", f"section '{path_text(section.path)}' has no header row",
                    "the row under a § title names the columns")
        return
    names = dict(section.header)
    first = section.header[0][1]
    mode = "settings" if first == SETTING else "map" if first == KEY else "list"
    columns: dict[int, tuple] = {}
    seen: dict[str, int] = {}
    for column, name in section.header:
        if name in seen:  # each row's value in the second would overwrite the first's
            cells.error(ws, section.header_row, column, "bad_header", f"column '{name}' is given twice (also "
                        f"column {column_letters(seen[name])})", "rename one of them, or merge their values")
            continue
        seen[name] = column
        if name in (SETTING, KEY, VALUE, COMMENT, SOURCE) or (name.startswith("(") and name.endswith(")")):
            continue
        try:
            parts = parse_dotted(name)
            if parts in columns.values():
                cells.error(ws, section.header_row, column, "bad_header", f"column '{name}' names the key of another "
                            "column", "rename one of them, or merge their values")
                continue
            columns[column] = parts
        except PathError as exc:
            cells.error(ws, section.header_row, column, "bad_header",
                        f"column '{name}': {exc}", "a column names a key, or keys joined by dots: with.threshold")
    value_column = next((c for c, n in section.header if n == VALUE), None)
    key_column = section.header[0][0]
    comment_column = next((c for c, n in section.header if n == COMMENT), None)
    if not section.path and mode != "settings":
        cells.error(ws, section.title_row, 1, "bad_section", f"section '{ROOT}' has a '{first}' header, but its rows "
                    "are settings", "keep the header row as exported: setting | value | ...")
        return
    if mode == "settings":
        for row in section.rows:
            _extra_cells(row, names, ws, cells)
            _setting(doc, row, key_column, value_column, comment_column, section, ws, cells)
        return
    located = _resolve(doc, section.path[:-1], cells, ws, section.title_row) if len(section.path) > 1 else (doc.data, ())
    if located is None:
        return
    parent, parent_path = located
    if not isinstance(parent, dict):
        cells.error(ws, section.title_row, 1, "bad_section", f"'{path_text(section.path)}' is not inside a mapping")
        return
    key = section.path[-1]
    if key in parent and parent[key] not in ({}, []):
        cells.error(ws, section.title_row, 1, "duplicate_section", f"section '{path_text(section.path)}' is given twice",
                    "merge the two sections")
        return
    here = parent_path + (key,)
    container: Any = [] if mode == "list" else {}
    parent[key] = container
    doc.cells[here] = cells.where(ws, section.title_row, 1)
    for row in section.rows:
        by_column = {c.column: c for c in row}
        _extra_cells(row, names, ws, cells)
        entry: dict = {}
        where_row = cells.where(ws, row[0].row, 1)
        item_path: tuple
        if mode == "map":
            key_cell = by_column.get(key_column)
            present, entry_key = cells.value(ws, key_cell) if key_cell is not None else (False, None)
            if not present:
                if any(by_column[c].value is not None for c in columns if c in by_column) or (
                        value_column in by_column and by_column[value_column].value is not None):
                    cells.error(ws, row[0].row, key_column, "missing_key", "a row without a key",
                                f"write the entry's name in the '{KEY}' column")
                continue
            entry_key = scalar_text(entry_key) if not isinstance(entry_key, str) else entry_key
            if entry_key in container:
                cells.error(ws, row[0].row, key_column, "duplicate_key", f"key '{entry_key}' is given twice",
                            "each key may appear once")
                continue
            item_path = here + (entry_key,)
        else:
            item_path = here + (len(container),)
        filled = False
        for column, parts in columns.items():
            cell = by_column.get(column)
            if cell is None:
                continue
            present, value = cells.value(ws, cell)
            if not present:
                continue
            filled = True
            _put(entry, parts, value, cells.where(ws, cell.row, column), cells)
            doc.cells[item_path + parts] = cells.where(ws, cell.row, column)
        if mode == "map" and value_column is not None and value_column in by_column:
            present, value = cells.value(ws, by_column[value_column])
            if present:
                if filled:
                    cells.error(ws, row[0].row, value_column, "cell_value", f"'{entry_key}' has both a value and "
                                "values in other columns", "keep one: a single value, or its parts by column")
                    continue
                container[entry_key] = value
                doc.cells[item_path] = cells.where(ws, row[0].row, value_column)
                _comment(doc, item_path, by_column, comment_column, ws, cells)
                continue
        if not filled:
            if mode == "map":
                cells.error(ws, row[0].row, key_column, "cell_empty", f"'{entry_key}' has no value",
                            "give it a value, or delete the row")
            continue  # a list row left empty (or with a comment only): no item
        doc.cells.setdefault(item_path, where_row)
        if mode == "map":
            container[entry_key] = entry
        else:
            container.append(entry)
        _comment(doc, item_path, by_column, comment_column, ws, cells)


def _put(entry: dict, parts: tuple, value: Any, where: Location, cells: _Cells) -> None:
    target = entry
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            cells.sink.add("duplicate_value", f"'{'.'.join(parts)}' is inside a value", where)
            return
    target[parts[-1]] = value


def _comment(doc: _Document, path: tuple, by_column: dict, comment_column: int | None, ws, cells: _Cells) -> None:
    if comment_column is None or comment_column not in by_column:
        return
    raw = by_column[comment_column].value
    if isinstance(raw, str) and raw.strip():
        doc.comments[path] = raw.strip()
    elif raw is not None and not isinstance(raw, str):
        doc.comments[path] = str(raw)


def _extra_cells(row, names: dict[int, str], ws, cells: _Cells, what: str = "a value in a column without a header"
                 ) -> None:
    for c in row:
        if c.value is not None and c.column not in names:
            cells.error(ws, c.row, c.column, "extra_cells", what, "give the column a header, or delete the value"
                        if names else "move it into a section, or delete it")


def _setting(doc: _Document, row, key_column: int, value_column: int | None, comment_column: int | None,
             section: _Section, ws, cells: _Cells) -> None:
    by_column = {c.column: c for c in row}
    key_cell = by_column.get(key_column)
    name = _text(key_cell.value) if key_cell is not None else None
    value_cell = by_column.get(value_column) if value_column is not None else None
    if not name:
        if value_cell is not None and value_cell.value is not None:
            cells.error(ws, row[0].row, key_column, "missing_key", "a value without a setting",
                        "write the setting's name (e.g. name, or tolerance.budget)")
        return
    try:
        parts = parse_dotted(name)
    except PathError as exc:
        cells.error(ws, row[0].row, key_column, "bad_setting", f"setting '{name}': {exc}")
        return
    parts = section.path + parts
    present, value = cells.value(ws, value_cell) if value_cell is not None else (False, None)
    if not present:  # a cleared value is not a deleted setting: say so, as a section row does
        if value_cell is None or value_cell.value is None:
            cells.error(ws, row[0].row, value_column or key_column, "cell_empty", f"'{name}' has no value",
                        "give it a value, or delete the row")
        return
    where = cells.where(ws, value_cell.row, value_cell.column)
    new = parts  # a comment on the first value of a mapping (levels.none) belongs above the mapping (levels)
    node: Any = doc.data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            new = parts[:i + 1]
            break
        node = node[part]
    _assign(doc, parts, value, where, cells, ws)
    doc.cells[parts] = where
    _comment(doc, new, by_column, comment_column, ws, cells)


# ---------------------------------------------------------------------------- a document -> YAML text

class _Emitter:
    """Block-style YAML with flow lists and small flow mappings, comments above their entries, and for each line
    the cells its values came from (to name a cell in the loader's diagnostics)."""

    def __init__(self, doc: _Document):
        self.doc = doc
        self.lines: list[str] = []
        self.cells: dict[int, list[tuple[int, Location]]] = {}

    def text(self) -> str:
        self.mapping(self.doc.data, (), 0)
        return "\n".join(self.lines) + "\n"

    def note(self, path: tuple, column: int) -> None:
        where = self.doc.cells.get(path)
        if where is None:
            probe = path
            while probe and probe not in self.doc.cells:
                probe = probe[:-1]
            where = self.doc.cells.get(probe)
        if where is not None:
            self.cells.setdefault(len(self.lines), []).append((column, where))

    def comment(self, path: tuple, indent: int) -> None:
        text = self.doc.comments.get(path)
        if text:
            for line in text.split("\n"):
                self.lines.append(" " * indent + ("# " + line.strip() if line.strip() else "#"))

    def inline(self, value: Any, path: tuple) -> str | None:
        """A value written on its key's line, or None if it needs lines of its own."""
        if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            return "[" + ", ".join(scalar_text(v) for v in value) + "]"
        if value == {} or value == []:
            return "{}" if value == {} else "[]"
        if isinstance(value, dict) and is_flat(value) and len(value) <= 6:
            text = flow_text(value)
            return text if len(text) <= 100 else None
        if isinstance(value, (dict, list)):
            if isinstance(value, list) and not is_items(value):
                return flow_text(value)
            return None
        return scalar_text(value)

    def mapping(self, mapping: dict, path: tuple, indent: int, first_prefix: str | None = None) -> None:
        for i, (key, value) in enumerate(mapping.items()):
            here = path + (key,)
            prefix = first_prefix if (i == 0 and first_prefix is not None) else " " * indent
            if not (i == 0 and first_prefix is not None):
                self.comment(here, indent)
            self.entry(prefix, key, value, here, indent)

    def entry(self, prefix: str, key: str, value: Any, here: tuple, indent: int) -> None:
        head = f"{prefix}{scalar_text(str(key))}:"
        inline = self.inline(value, here)
        if inline is not None:
            self.note(here, len(head) + 2)
            self.lines.append(f"{head} {inline}")
            return
        self.note(here, 1)
        self.lines.append(head)
        if isinstance(value, dict):
            self.mapping(value, here, indent + 2)
        else:
            self.items(value, here, indent + 2)

    def items(self, items: list, path: tuple, indent: int) -> None:
        for index, item in enumerate(items):
            here = path + (index,)
            self.comment(here, indent)
            inline = self.inline(item, here) if isinstance(item, dict) and item else None
            if inline is not None and len(inline) + indent <= 110:  # a short item on one line: - {by: budget, order: asc}
                column = indent + 3
                for key, value in item.items():
                    self.note(here + (key,), column)
                    column += len(scalar_text(str(key))) + 2 + len(flow_text(value)) + 2
                self.lines.append(" " * indent + "- " + inline)
            elif isinstance(item, dict) and item:
                self.mapping(item, here, indent + 2, first_prefix=" " * indent + "- ")
            else:
                self.note(here, indent + 3)
                self.lines.append(" " * indent + "- " + (self.inline(item, here) or scalar_text(item)))


# ---------------------------------------------------------------------------- the whole import

def read_workbook(path: Path, book_name: str, sink: DiagnosticSink) -> tuple[dict[str, bytes], dict[str, dict]]:
    """The files a workbook holds: relative name -> bytes; and per YAML file its line -> cells map. Problems go to
    ``sink`` (nothing is written here)."""

    # lazy: openpyxl loads only when a workbook is read or written
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException
    cells = _Cells(book_name, sink)
    problem = too_unzipped(path)
    if problem:  # before openpyxl, which would hold it all
        sink.add("bad_workbook", problem, Location(book_name), "give the workbook pmo export-policies wrote")
        return {}, {}
    try:
        book = openpyxl.load_workbook(path)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError, EOFError, InvalidFileException) as exc:
        sink.add("bad_workbook", f"cannot read the workbook ({type(exc).__name__}: {exc})", Location(book_name),
                 "save it from Excel as .xlsx (Excel Workbook)")
        return {}, {}
    files: dict[str, bytes] = {}
    line_cells: dict[str, dict] = {}
    sheets: dict[str, dict[str | None, str]] = {}  # file -> (its sheet in the source workbook, None) -> sheet title
    line_cells[""] = sheets
    docs: dict[str, _Document] = {}
    tables: dict[str, list[tuple[_Manifest, Any]]] = {}
    for entry in _manifest(book, cells):
        ws = book[entry.sheet]
        _refuse_hidden(ws, entry, cells)
        name = PurePosixPath(entry.file.replace("\\", "/")).name if entry.kind == KIND_TABLE else entry.file
        sheets.setdefault(name, {})[entry.table_sheet or None] = entry.sheet
        if entry.kind == KIND_DATA:
            files[entry.file] = _csv_sheet(ws, cells)
        elif entry.kind == KIND_TABLE:
            tables.setdefault(PurePosixPath(entry.file.replace("\\", "/")).name, []).append((entry, ws))
        else:
            doc = _read_sheet(ws, cells)
            if doc.data.get("kind") != entry.kind and entry.kind:
                where = doc.cells.get(("kind",), cells.where(ws, 1, 1))
                if "kind" not in doc.data:
                    sink.add("missing_key", f"sheet '{entry.sheet}' has no setting 'kind'", where,
                             f"add the row: kind | {entry.kind}")
            docs[entry.file] = doc
    for doc in docs.values():  # decision tables are written into the policy folder: the tables file names them there
        if doc.data.get("kind") == "tables":
            if isinstance(doc.data.get("workbook"), str):
                doc.data["workbook"] = PurePosixPath(doc.data["workbook"].replace("\\", "/")).name
            for table in doc.data.get("tables") or []:
                if isinstance(table, dict) and isinstance(table.get("file"), str):
                    table["file"] = PurePosixPath(table["file"].replace("\\", "/")).name
    for name, grids in tables.items():
        files[name] = _table_file(name, grids, cells)
    for name, doc in docs.items():
        emitter = _Emitter(doc)
        files[name] = emitter.text().encode("utf-8")
        line_cells[name] = emitter.cells
    return files, line_cells


def _refuse_hidden(ws, entry: _Manifest, cells: _Cells) -> None:
    """A sheet the cover names, hidden, or a hidden row or column of it that holds something: an error at the sheet
    or at the first cell it hides. Whoever reviews the workbook in Excel does not see what it holds, yet it would
    be imported (as decision tables refuse it: engine/tables/sheet.py)."""
    if ws.sheet_state == "visible" and not any(d.hidden for d in ws.row_dimensions.values()) \
            and not any(d.hidden for d in ws.column_dimensions.values()):
        return  # nothing is hidden: the sheet's cells are not walked a second time
    held = [(c.row, c.column) for row in ws.iter_rows() for c in row if c.value is not None]
    what = {KIND_DATA: "the data it holds", KIND_TABLE: "the table it holds"}.get(entry.kind, "the policy it holds")
    problem = hidden_cells(ws, entry.sheet, held, what)
    if problem is not None:
        where = cells.where(ws, *problem.at) if problem.at else Location(cells.book, sheet=entry.sheet)
        cells.sink.add(problem.code, problem.message, where, problem.hint)


def _strip_source(values: list[list[Any]], ws=None, cells: _Cells | None = None) -> list[list[Any]]:
    """Drop the exported 'source' column (the last column of the header row); a value right of it would be
    dropped with it, so it is an error."""
    header = next((r for r in values if any(v is not None for v in r)), None)
    if header is None:
        return values
    last = max((i for i, v in enumerate(header) if v is not None), default=-1)
    if last >= 0 and isinstance(header[last], str) and header[last].strip() == SOURCE:
        for r, row in enumerate(values, 1):
            for c, value in enumerate(row[last + 1:], last + 2):
                if value is not None and cells is not None:
                    cells.error(ws, r, c, "extra_cells", "a value right of the 'source' column, which import drops",
                                "move it into the table, or delete it")
        return [r[:last] for r in values]
    return values


def _csv_sheet(ws, cells: _Cells) -> bytes:
    grid = [[c.value for c in row] for row in ws.iter_rows()]
    grid = _strip_source(grid, ws, cells)
    while grid and not any(v is not None for v in grid[-1]):
        grid.pop()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for r, row in enumerate(grid, 1):
        while row and row[-1] is None:
            row = row[:-1]
        writer.writerow([_csv_text(v, ws, r, c, cells) for c, v in enumerate(row, 1)])
    return out.getvalue().encode("utf-8")


def _csv_text(value: Any, ws, row: int, column: int, cells: _Cells) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith("="):
        cells.error(ws, row, column, "cell_formula", f"a formula ({value}) where a value belongs",
                    "type the value itself")
    return str(value)


def _table_file(name: str, sheets: list, cells: _Cells) -> bytes:
    """The decision tables' grids back into their workbook (or CSV file), cell for cell, without 'source'."""
    for _entry, ws in sheets:  # a merge keeps its value in the first cell only: the others would be '-' (any value)
        for merged in ws.merged_cells.ranges:
            if merged.min_row != merged.max_row or merged.min_col != merged.max_col:
                cells.error(ws, merged.min_row, merged.min_col, "cell_value", f"merged cells {merged} in a decision "
                            "table: only the first cell holds its value, the others would read as '-' (any value)",
                            "unmerge them and write the value in every cell")
    if name.lower().endswith(".csv"):
        (entry, ws), *_ = sheets
        return _csv_sheet(ws, cells)
    # lazy: openpyxl loads only when a workbook is read or written
    import openpyxl
    book = openpyxl.Workbook()
    book.remove(book.active)
    for entry, ws in sheets:
        target = book.create_sheet(entry.table_sheet or entry.sheet)
        rows = [[c for c in row] for row in ws.iter_rows()]
        values = _strip_source([[c.value for c in row] for row in rows], ws, cells)
        for row_cells, row_values in zip(rows, values):
            for c, value in zip(row_cells, row_values):
                if value is None:
                    continue
                if c.data_type == "f" or (isinstance(value, str) and value.startswith("=") and not c.quotePrefix):
                    cells.error(ws, c.row, c.column, "cell_formula", f"a formula ({value}) in a decision table",
                                "type the value or condition itself")
                    continue
                out = target.cell(row=c.row, column=c.column, value=value)
                if c.is_date:
                    out.number_format = "yyyy-mm-dd"
    return _deterministic(book, dt.date(2000, 1, 1))


def import_policies(workbook: Path, out: Path, *, rules=(), today: dt.date | None = None) -> Imported:
    """Read ``workbook`` into policy files in ``out`` (a new or empty folder). Raises PmoError with every problem,
    each at its cell, and then writes nothing."""
    book_name = display_path(workbook)
    sink = DiagnosticSink()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PmoError([Diagnostic("out_exists", f"'{out}' exists and is not an empty folder", Location(str(out)),
                                   "import into a new folder; remove the old one first to replace it")])
    files, line_cells = read_workbook(workbook, book_name, sink)
    if sink.errors:
        raise PolicyError(sink.items)
    if not any(n.endswith(POLICY_SUFFIXES) for n in files):
        raise PolicyError([Diagnostic("no_policies", "the workbook holds no policy files", Location(book_name))])
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-import-", dir=parent))
    try:
        for name, content in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        # what `pmo validate` checks (lint, the assurances' proofs): an import it would refuse is no import
        checked = check_policies(staging, rules=rules, today=today, lint=True)
        problems = [_at_cell(d, staging, line_cells, out, book_name) for d in checked.diagnostics]
        errors = [d for d in problems if d.severity == "error"]
        if errors or checked.policy is None:
            raise PolicyError(errors or problems)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    compiled = checked.policy  # checked in the staging folder: its hash as the folder it now is (not compiled again)
    policy_hash = compiled.source.hash(compiled.used_libraries, folder=out.name) if compiled.source else ""
    return Imported(out, sorted(files), policy_hash, [d for d in problems if d.severity != "error"])




def _at_cell(diagnostic: Diagnostic, staging: Path, line_cells: dict[str, dict], out: Path, book: str) -> Diagnostic:
    """A diagnostic about a written file, named by the cell its value came from (else by the file in DIR)."""
    where = diagnostic.location
    if where is None:
        return diagnostic
    try:
        relative = Path(where.file).resolve().relative_to(staging.resolve()).as_posix()
    except ValueError:
        return diagnostic
    if relative == ".":  # about the policy set as a whole: the workbook is what holds it
        return dataclasses.replace(diagnostic, location=Location(book))
    spots = line_cells.get(relative, {}).get(where.line - 1) if where.line and not where.sheet else None
    sheet = line_cells.get("", {}).get(relative, {})
    if where.sheet is not None and where.sheet in sheet:  # a decision table's cell: the same cell of its sheet here
        return dataclasses.replace(diagnostic, location=Location(book, where.line, where.column, sheet=sheet[where.sheet]))
    if not spots and None in sheet:  # reference data (its rows are the sheet's rows), or a line no cell gave
        line = where.line if relative.endswith(".csv") else 0
        return dataclasses.replace(diagnostic, location=Location(book, line, 1 if line else 0, sheet=sheet[None]))
    if spots:
        column = where.column or 1
        chosen = spots[0][1]
        for start, cell in spots:
            if start <= column:
                chosen = cell
        return dataclasses.replace(diagnostic, location=chosen)
    return dataclasses.replace(diagnostic, location=dataclasses.replace(where, file=str(out / relative)))
