"""``pmo export-policies DIR --out policies.xlsx``: a policy set as a workbook a board can review.

One sheet per policy file (its settings, then a table per list or mapping: rules, includes, fields,
criteria, bands, lookups, gates and their criteria...; :mod:`engine.workbook.layout`), one per CSV of reference
data, one per decision table (its grid as the policy reads it), each row with the ``file:line`` (or cell) it came
from; a cover sheet with the policy hash, the date and the list of sheets and files. The same policy and date give
the same bytes: the zip's timestamps and the document properties are fixed.
"""
from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from engine import __version__
from engine.authoring.explain import expression_text
from engine.compile.policy import compile_policy, load_folder
from engine.errors import Diagnostic, DiagnosticSink, PolicyError, cell_name, display_path
from engine.io.rows import csv_cell_limit
from engine.policy.loader import scoring_id
from engine.policy.resources import reference_policies
from engine.tables.sheet import _csv_cells, _open_xlsx, _xlsx_cells
from engine.workbook.layout import (
    COMMENT,
    COVER,
    FLOW_LIMIT,
    KEY,
    SETTING,
    SOURCE,
    TITLE,
    VALUE,
    Item,
    comment_lines,
    dotted,
    flow_text,
    is_flat,
    is_items,
    is_leaf,
    looks_special,
    path_text,
)

if TYPE_CHECKING:  # annotations only: openpyxl loads only when a workbook is read or written
    from openpyxl import Workbook
    from openpyxl.cell.cell import Cell, MergedCell
    from openpyxl.styles import Alignment, Border, Font, PatternFill
    from openpyxl.worksheet.worksheet import Worksheet

    from engine.compile.policy import CompiledPolicy, CompiledRule
    from engine.policy.loader import LoadedFile, PolicySet
    from engine.policy.source import SourceMap

MAX_WIDTH, MIN_WIDTH = 60, 8
DataPath = tuple[str | int, ...]  # a path into a document's data (keys and list indexes), as its source map has them
SheetPath = tuple[str | Item, ...]  # a section's path as the sheet shows it (criteria[size].bands)
Annotate = Callable[[DataPath, Any], dict[str, str]]  # (path, value) -> the row's notes
KIND_DATA, KIND_TABLE = "data", "decision table"


# ---------------------------------------------------------------------------- cutting a document into sections

@dataclass
class Row:
    values: dict[str, Any]
    line: int  # where the row starts in its file (0: unknown)
    notes: dict[str, str] = field(default_factory=dict)
    comment: str = ""


@dataclass
class Section:
    path: SheetPath
    mode: str  # "settings", "map" or "list"
    rows: list[Row] = field(default_factory=list)

    def columns(self) -> list[str]:
        out: dict[str, None] = {}
        if self.mode == "settings":
            return [SETTING, VALUE]
        if self.mode == "map":
            out[KEY] = None
            if any(VALUE in r.values for r in self.rows):
                out[VALUE] = None
        order = list(out)
        for row in self.rows:  # each item's keys in its own order: a key new here goes before the next one known
            keys = list(row.values)
            for i, key in enumerate(keys):
                if key in order:
                    continue
                after = next((k for k in keys[i + 1:] if k in order), None)
                order.insert(order.index(after) if after is not None else len(order), key)
        if self.mode == "list" and len(order) > 1 and order[0] in (KEY, SETTING):
            order[0], order[1] = order[1], order[0]  # a first column named so would read as another kind of section
        return order

    def note_columns(self) -> list[str]:
        out: dict[str, None] = {}
        for row in self.rows:
            out.update(dict.fromkeys(row.notes))
        return list(out)


def _selector(items: list[dict[str, Any]], index: int, ids: Counter[Any]) -> Item:
    """An item by its id when no other item of the list has it (``ids``: how many items have each id), else by its
    position."""
    ident = items[index].get("id")
    if isinstance(ident, str) and ident and ids[ident] == 1 and not ident.startswith("#"):
        return Item(id=ident)
    return Item(position=index + 1)


def _row_dict(value: object) -> bool:
    """An entry of a mapping table: its values fit a row (single values, or lists of items of their own)."""
    return isinstance(value, dict) and all(is_leaf(v) or is_items(v) for v in value.values())


def _table_like(value: dict[str, Any]) -> bool:
    """A mapping shown one row per entry (fields, derived, capacity): some entries are mappings, all fit a row,
    and none has a key 'value' (the column of the entries that are single values)."""
    entries = list(value.values())
    return (any(isinstance(v, dict) for v in entries) and all(is_leaf(v) or _row_dict(v) for v in entries)
            and not any(isinstance(v, dict) and VALUE in v for v in entries))


class Cutter:
    """Cuts one YAML document (plain data and its source map) into sections."""

    def __init__(self, data: dict[str, Any], source: SourceMap, annotate: Annotate | None = None):
        self.source = source
        self.annotate: Annotate = annotate or (lambda path, value: {})
        self.settings = Section((), "settings")
        self.sections = [self.settings]
        self.rows: list[Row] = []
        self.record(data, (), ())

    def line(self, path: DataPath, key: bool = False) -> int:
        loc = self.source.key(path) if key else self.source.value(path)
        return loc.line if loc is not None else 0

    def add(self, section: Section, row: Row) -> None:
        section.rows.append(row)
        self.rows.append(row)

    def record(self, mapping: dict[str, Any], data_path: DataPath, path: tuple[str, ...]) -> None:
        """A mapping cut by key: single values are settings, lists of items and table-like mappings sections."""
        for key, value in mapping.items():
            here, at = path + (key,), data_path + (key,)
            if is_items(value):
                self.items(value, at, here)
            elif isinstance(value, dict) and value and _table_like(value):
                self.table(value, at, here)
            elif isinstance(value, dict) and value:
                self.record(value, at, here)
            else:
                self.add(self.settings, Row({SETTING: dotted(here), VALUE: value}, self.line(at, key=True)))

    def items(self, items: list[dict[str, Any]], data_path: DataPath, path: SheetPath) -> None:
        section = Section(path, "list")
        self.sections.append(section)
        ids = Counter(i.get("id") for i in items)  # once per list: counted per item, a list of n items cost n^2
        for i, item in enumerate(items):
            row = Row({}, self.line(data_path + (i,)), self.annotate(data_path + (i,), item))
            self.add(section, row)
            self.cells(row, item, data_path + (i,), path + (_selector(items, i, ids),), ())

    def table(self, mapping: dict[str, Any], data_path: DataPath, path: SheetPath) -> None:
        section = Section(path, "map")
        self.sections.append(section)
        for key, value in mapping.items():
            row = Row({KEY: key}, self.line(data_path + (key,), key=True), self.annotate(data_path + (key,), value))
            self.add(section, row)
            if isinstance(value, dict):
                self.cells(row, value, data_path + (key,), path + (key,), ())
            else:
                row.values[VALUE] = value

    def cells(self, row: Row, mapping: dict[str, Any], data_path: DataPath, owner: SheetPath,
              prefix: tuple[str, ...]) -> None:
        """An item's (or entry's) values into the row's columns; lists of items in it become sections."""
        for key, value in mapping.items():
            column, at = prefix + (key,), data_path + (key,)
            if is_leaf(value):
                row.values[dotted(column)] = value
            elif is_items(value):
                self.items(value, at, owner + column)
            elif is_flat(value) and len(value) <= FLOW_LIMIT:
                for sub, item in value.items():
                    row.values[dotted(column + (sub,))] = item
            elif isinstance(value, dict) and (is_flat(value) or (_table_like(value) and not any(
                    is_leaf(v) for v in value.values()))):
                self.table(value, at, owner + column)
            elif isinstance(value, dict):
                self.cells(row, value, at, owner, column)
            else:  # a list of lists, a list mixing values and items: one cell, in YAML's flow style
                row.values[dotted(column)] = value

    def attach_comments(self, text: str) -> None:
        """Each YAML comment to a row: a comment line to the next row, a comment after a value to its row."""
        whole, after = comment_lines(text)
        rows = sorted((r for r in self.rows if r.line), key=lambda r: r.line)
        if not rows:
            return
        starts = [r.line for r in rows]
        found: dict[int, list[str]] = {}
        for number, text_ in sorted(whole.items()):
            at = bisect.bisect_right(starts, number)
            found.setdefault(at if at < len(rows) else len(rows) - 1, []).append(text_)
        for number, text_ in sorted(after.items()):
            at = bisect.bisect_right(starts, number) - 1
            found.setdefault(max(at, 0), []).append(text_)
        for index, texts in found.items():
            rows[index].comment = "\n".join(t for t in texts if t)


# ---------------------------------------------------------------------------- the workbook

@dataclass
class SheetSpec:
    title: str  # the sheet's name
    file: str  # the file it holds, relative to the policy folder (a decision table: its workbook or CSV)
    kind: str  # the policy kind, "data" (a CSV of reference data) or "decision table"
    name: str  # the policy's name, the lookup's name, or the decision table's name
    table_sheet: str = ""  # a decision table's sheet in its workbook
    digest: str = ""


def sheet_title(wanted: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (31 characters, none of []:*?/\\, not Cover), unique ignoring case."""
    base = re.sub(r"[\[\]:*?/\\]", "-", wanted).strip("'") or "sheet"
    base = base[:31]
    title, n = base, 1
    while title.lower() in taken or title.lower() == COVER.lower():
        n += 1
        suffix = f" ({n})"
        title = base[:31 - len(suffix)] + suffix
    taken.add(title.lower())
    return title


def export_policies(folder: Path | None, *, rules: Sequence[Path] = (), today: dt.date | None = None) -> bytes:
    """The workbook's bytes. Raises PolicyError if the policy set has errors (a broken policy is not reviewed)."""
    today = today or dt.date.today()
    sink = DiagnosticSink()
    policy_set = load_folder(folder, rules, sink)
    policy = compile_policy(policy_set, today, sink)
    if policy is None or sink.errors:
        raise PolicyError(sink.items or [Diagnostic("no_policies", "the policy set cannot be used")])
    root = policy_set.root
    # lazy: openpyxl loads only when a workbook is read or written
    import openpyxl
    from openpyxl.worksheet.worksheet import Worksheet
    book = openpyxl.Workbook()
    cover = book.active
    assert isinstance(cover, Worksheet)  # a new workbook's one sheet
    cover.title = COVER
    taken: set[str] = set()
    specs: list[SheetSpec] = []
    grids: dict[str, tuple[Path, str | None]] = {}  # the decision tables to copy: sheet title -> (file, sheet)
    annotate = _Annotations(policy, policy_set)
    own = (root / "rules").resolve()  # the policy folder's own rule library is part of the policy
    libraries = [f for f in policy_set.library_files.values() if Path(f.display).resolve().parent == own]
    for loaded in list(policy_set.files) + sorted(libraries, key=lambda f: f.name):
        relative = Path(loaded.display).resolve().relative_to(root.resolve()).as_posix()
        data = loaded.document.data
        kind = data.get("kind", "")
        wanted = Path(relative).stem if "/" not in relative else "rules-" + Path(relative).stem
        spec = SheetSpec(sheet_title(wanted, taken), relative, kind, str(data.get("name") or ""),
                         digest=hashlib.sha256(loaded.document.text).hexdigest()[:16])
        specs.append(spec)
        cutter = Cutter(data, loaded.document.source, annotate.for_file(loaded, kind))
        cutter.attach_comments(loaded.document.text.decode("utf-8"))
        _write_policy_sheet(book.create_sheet(spec.title), spec, loaded.name, cutter.sections)
        if kind == "lookup" and isinstance(data.get("csv"), str):
            data_file = policy_set.data_files.get(str(data.get("name")))
            if data_file is not None:
                csv_spec = SheetSpec(sheet_title(Path(data["csv"]).name, taken), data["csv"], KIND_DATA,
                                     str(data.get("name")), digest=hashlib.sha256(data_file.text).hexdigest()[:16])
                specs.append(csv_spec)
                _write_csv_sheet(book.create_sheet(csv_spec.title), data_file.text, data_file.name)
        if kind == "tables":
            base = Path(loaded.display).parent
            for table in data.get("tables") or []:
                target = table.get("file") or data.get("workbook")
                path = base / str(target)
                content = path.read_bytes()
                spec_t = SheetSpec(sheet_title(str(table.get("sheet") or Path(str(target)).stem), taken),
                                   str(target), KIND_TABLE, str(table.get("name")), str(table.get("sheet") or ""),
                                   hashlib.sha256(content).hexdigest()[:16])
                specs.append(spec_t)
                grids[spec_t.title] = (path, table.get("sheet"))
                _write_table_sheet(book.create_sheet(spec_t.title), path, content, table.get("sheet"))
    shown = folder if folder is not None else reference_policies()
    _write_cover(cover, specs, policy.policy_hash, display_path(shown), today, __version__, policy)
    return _deterministic(book, today)




class _Annotations:
    """Notes for the reviewer that the YAML does not hold: an included library rule as it applies, the weights
    the engine uses (normalised, or from pairwise comparisons)."""

    def __init__(self, policy: CompiledPolicy, policy_set: PolicySet):
        self.policy = policy
        self.policy_set = policy_set

    def for_file(self, loaded: LoadedFile, kind: str) -> Annotate | None:
        name = loaded.name
        if kind == "intake":
            by_line: dict[int, list[CompiledRule]] = {}
            for rule in self.policy.rules:
                if rule.origin and rule.where.startswith(name + ":"):
                    by_line.setdefault(int(rule.where.rsplit(":", 1)[1]), []).append(rule)

            def intake(path: DataPath, value: Any) -> dict[str, str]:
                if len(path) == 2 and path[0] == "include":
                    line = loaded.document.source.value(path).line
                    rules = by_line.get(line, [])
                    if rules:
                        return {"(as included)": "\n".join(
                            f"{r.id}: {r.effect}{' to ' + r.route if r.route else ''} when "
                            f"{expression_text(r.condition)}: {r.reason}" for r in rules)}
                return {}
            return intake
        if kind == "strategy" and self.policy.strategy is not None:
            weights = self.policy.strategy.weights.values

            def strategy(path: DataPath, value: Any) -> dict[str, str]:
                if len(path) == 2 and path[0] == "objectives" and isinstance(value, dict) and value.get("id") in weights:
                    return {"(weight used)": f"{weights[value['id']]:.4f}"}
                return {}
            return strategy
        if kind == "scoring":
            model_id = next((scoring_id(m) for m in self.policy_set.scorings if m.loc().file == loaded.display), None)
            model = next((m for m in self.policy.scoring_models if m.id == model_id), None)
            if model is not None:
                used = model.scoring.weights

                def scoring(path: DataPath, value: Any) -> dict[str, str]:
                    if len(path) == 2 and path[0] == "criteria" and isinstance(value, dict) and value.get("id") in used:
                        return {"(weight used)": f"{used[value['id']]:.4f}"}
                    return {}
                return scoring
        return None


# ---------------------------------------------------------------------------- writing sheets

class _Styles(TypedDict):
    title: Font
    section: Font
    header: Font
    fill: PatternFill
    note_fill: PatternFill
    line: Border
    wrap: Alignment
    top: Alignment
    source: Font


def _styles() -> _Styles:
    # lazy: openpyxl loads only when a workbook is read or written
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    return {
        "title": Font(bold=True, size=13),
        "section": Font(bold=True, size=11, color="1F3864"),
        "header": Font(bold=True, color="FFFFFF"),
        "fill": PatternFill("solid", fgColor="1F4E78"),
        "note_fill": PatternFill("solid", fgColor="7F7F7F"),
        "line": Border(bottom=Side(style="thin", color="1F4E78")),
        "wrap": Alignment(wrap_text=True, vertical="top"),
        "top": Alignment(vertical="top"),
        "source": Font(color="7F7F7F"),
    }


def put(ws: Worksheet, row: int, column: int, value: Any, styles: _Styles | None = None) -> Cell | MergedCell:
    """A value in a cell by the layout's rules: lists and mappings as YAML flow text, null as ~, text that would
    read as one of those with Excel's quote prefix."""
    cell = ws.cell(row=row, column=column)
    if value is None:
        cell.value = "~"
    elif isinstance(value, (list, dict)):
        cell.value = flow_text(value)
    elif isinstance(value, str):
        cell.value = value if value != "" else '""'
        if value and (looks_special(value) or value.startswith("=")):
            cell.quotePrefix = True
        if "\n" in value or len(value) > MAX_WIDTH:
            cell.alignment = (styles or _styles())["wrap"]
    elif isinstance(value, dt.datetime):
        cell.value = value
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    elif isinstance(value, dt.date):
        cell.value = value
        cell.number_format = "yyyy-mm-dd"
    else:
        cell.value = value
    return cell


def _header(ws: Worksheet, row: int, names: list[str], styles: _Styles) -> None:
    for column, name in enumerate(names, 1):
        cell = ws.cell(row=row, column=column, value=name)
        cell.font = styles["header"]
        cell.fill = styles["note_fill"] if name.startswith("(") or name in (SOURCE, COMMENT) else styles["fill"]


def _write_policy_sheet(ws: Worksheet, spec: SheetSpec, stable: str, sections: list[Section]) -> None:
    styles = _styles()
    ws.cell(row=1, column=1, value=stable).font = styles["title"]
    ws.cell(row=1, column=2, value=f"kind: {spec.kind}" + (f"; {spec.name}" if spec.name else "")).font = styles["title"]
    ws.cell(row=2, column=1, value="Edit values in place; add or delete rows inside a section. Keep the § titles "
            "and header rows. 'source' says where each row is in the YAML; columns in (brackets) are notes.")
    at = 4
    for section in sections:
        if not section.rows:
            continue
        ws.cell(row=at, column=1, value=TITLE + path_text(section.path)).font = styles["section"]
        at += 1
        columns = section.columns()
        notes = section.note_columns()
        comments = any(r.comment for r in section.rows)
        names = columns + notes + ([COMMENT] if comments else []) + [SOURCE]
        _header(ws, at, names, styles)
        at += 1
        for row in section.rows:
            for column, name in enumerate(columns, 1):
                if name in row.values:
                    put(ws, at, column, row.values[name], styles)
            for offset, name in enumerate(notes):
                if name in row.notes:
                    put(ws, at, len(columns) + 1 + offset, row.notes[name], styles).font = styles["source"]
            if row.comment:
                put(ws, at, len(columns) + len(notes) + 1, row.comment, styles)
            if row.line:
                ws.cell(row=at, column=len(names), value=f"{stable}:{row.line}").font = styles["source"]
            at += 1
        at += 1
    ws.freeze_panes = "B3"
    _widths(ws)


@csv_cell_limit()
def _write_csv_sheet(ws: Worksheet, content: bytes, stable: str) -> None:
    styles = _styles()
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    width = max((len(r) for r in rows), default=0)
    for r, values in enumerate(rows, 1):
        for c, value in enumerate(values, 1):
            cell = ws.cell(row=r, column=c, value=value if value != "" else None)
            if r == 1:
                cell.font, cell.fill = styles["header"], styles["fill"]
            elif value:
                cell.data_type = "s"
        if r == 1:
            header = ws.cell(row=1, column=width + 1, value=SOURCE)
            header.font, header.fill = styles["header"], styles["note_fill"]
        else:
            ws.cell(row=r, column=width + 1, value=f"{stable}:{r}").font = styles["source"]
    ws.freeze_panes = "A2"
    _widths(ws)


def _write_table_sheet(ws: Worksheet, path: Path, content: bytes, sheet: str | None) -> None:
    """A decision table's grid, cell for cell, with a source column after it."""
    styles = _styles()
    cells = _csv_cells(content) if sheet is None else _xlsx_cells(_open_xlsx(content), sheet)
    if not cells:
        return
    header_row = min(r for r, _ in cells)
    last = max(c for _, c in cells)
    for (r, c), value in sorted(cells.items()):
        cell = put(ws, r, c, value, styles) if not isinstance(value, str) else ws.cell(row=r, column=c, value=value)
        if isinstance(value, str) and value.startswith("="):
            cell.quotePrefix = True
        if r == header_row:
            cell.font, cell.fill = styles["header"], styles["fill"]
    head = ws.cell(row=header_row, column=last + 1, value=SOURCE)
    head.font, head.fill = styles["header"], styles["note_fill"]
    book = path.name
    for r in sorted({r for r, _ in cells if r > header_row}):
        ws.cell(row=r, column=last + 1, value=cell_name(book, sheet or "", r, 1)).font = styles["source"]
    ws.freeze_panes = f"A{header_row + 1}"
    _widths(ws)


def _write_cover(ws: Worksheet, specs: list[SheetSpec], policy_hash: str, folder: str, today: dt.date, version: str,
                 policy: CompiledPolicy) -> None:
    styles = _styles()
    ws.cell(row=1, column=1, value="Policy workbook").font = styles["title"]
    facts = [("policy hash", policy_hash), ("policy folder", folder), ("exported", today),
             ("exported by", f"pmo-engine {version}"), ("files", len(specs))]
    for r, (name, value) in enumerate(facts, 3):
        ws.cell(row=r, column=1, value=name).font = Font_bold()
        put(ws, r, 2, value, styles)
    at = 3 + len(facts) + 1
    _header(ws, at, ["sheet", "file", "kind", "name", "table sheet", "sha256"], styles)
    for spec in specs:
        at += 1
        for c, value in enumerate([spec.title, spec.file, spec.kind, spec.name, spec.table_sheet, spec.digest], 1):
            if value != "":
                ws.cell(row=at, column=c, value=value)
    at += 2
    for line in ("How to use it: review each sheet; each row names the file:line (or the cell) it came from.",
                 "To change the policy, edit values in place and run: pmo import-policies THIS.xlsx --out NEW-FOLDER",
                 "then: pmo diff OLD-FOLDER NEW-FOLDER proposals.csv  (which decisions and ranks the edit changes).",
                 "Keep the sheet names, the § section titles and the header rows; the table above says which file each "
                 "sheet becomes."):
        ws.cell(row=at, column=1, value=line)
        at += 1
    ws.freeze_panes = "A2"
    _widths(ws, cap=70)


def Font_bold() -> Font:  # noqa: N802 - a style, like openpyxl's own constructors
    # lazy: openpyxl loads only when a workbook is read or written
    from openpyxl.styles import Font
    return Font(bold=True)


def _widths(ws: Worksheet, cap: int = MAX_WIDTH) -> None:
    # lazy: openpyxl loads only when a workbook is read or written
    from openpyxl.utils import get_column_letter
    widths: dict[int, int] = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            text = cell.value.isoformat() if isinstance(cell.value, (dt.date, dt.datetime)) else str(cell.value)
            if isinstance(cell.value, str) and cell.value.startswith(TITLE):
                continue  # a section title may run over the next columns
            longest = max((len(part) for part in text.split("\n")), default=0)
            widths[cell.column] = max(widths.get(cell.column, 0), longest)
    for column, width in sorted(widths.items()):
        ws.column_dimensions[get_column_letter(column)].width = max(MIN_WIDTH, min(cap, width + 2))


def _deterministic(book: Workbook, today: dt.date) -> bytes:
    """The workbook's bytes with what openpyxl stamps with the clock fixed: the document's created and modified
    times (the export date) and every zip entry's time."""
    stamp = dt.datetime(today.year, today.month, today.day)
    book.properties.creator = "pmo export-policies"
    book.properties.created = stamp
    book.properties.lastModifiedBy = None
    raw = io.BytesIO()
    book.save(raw)
    out = io.BytesIO()
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + iso.encode() + rb"\g<2>", data)
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            zout.writestr(entry, data)
    return out.getvalue()

