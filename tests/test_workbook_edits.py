"""A board secretary (and a hostile tester) editing the exported policy workbook (issue #18): whatever the edit,
`pmo import-policies` never fails with an internal error and never loses a value without a word.

Each edit is made with openpyxl to a workbook `pmo export-policies` wrote (policies/, the hospital's, the decision
tables'), then imported in-process. What must hold:

- the exit is 0 or 2, never 3 (an internal error) or a Python exception;
- on exit 2 every diagnostic names a cell (``Book.xlsx!Sheet!C7: error[code]: ...``) or the workbook, and nothing
  is written (no DIR, no staging folder);
- on exit 0 the folder loads (`pmo validate`), and an edit that means nothing (a blank row inserted between rows,
  a hidden empty row, what Excel does when it saves) gives the same decisions on examples/proposals.csv.

A fixed list of edits runs always; hypothesis draws random ones (marked slow).
"""
from __future__ import annotations

import datetime as dt
import io
import os
import random
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Engine
from engine.cli import main
from engine.workbook.export import export_policies
from tests.conftest import ROOT, TODAY
from tests.test_tables import meaning
from tests.test_workbook import rows_of

FOLDERS = {"reference": ROOT / "policies", "hospital": ROOT / "examples" / "hospital-it" / "policies",
           "tables": ROOT / "examples" / "tables" / "policies"}
PROPOSALS = {"reference": ROOT / "examples" / "proposals.csv", "hospital": ROOT / "examples" / "hospital-it" /
             "proposals.csv", "tables": ROOT / "examples" / "proposals.csv"}
BOOK = "policies.xlsx"
# a diagnostic names a cell of the workbook (policies.xlsx!intake!C7), a sheet, or the workbook itself
DIAGNOSTIC = re.compile(r"^(\S.*?: )?(error|warning)\[[a-z_]+\]: |^pmo: ")
LOCATED = re.compile(rf"^{re.escape(BOOK)}(![^!]+(![A-Z]+[0-9]+)?)?: (error|warning)\[[a-z_]+\]: ")


@dataclass(frozen=True)
class Edit:
    name: str
    apply: Callable[[openpyxl.Workbook, random.Random], None]
    noop: bool = False  # the edit means nothing: the import must give the same decisions
    raw: Callable[[bytes], bytes] | None = None  # an edit of the saved file's XML (what openpyxl cannot write)


_EXPORTED: dict[str, bytes] = {}
_DECISIONS: dict[str, list] = {}
_FILES: dict[str, list[str]] = {}


def exported(folder: str) -> bytes:
    if folder not in _EXPORTED:
        _EXPORTED[folder] = export_policies(FOLDERS[folder], today=TODAY)
    return _EXPORTED[folder]


def original_files(folder: str) -> list[str]:
    """The files the unedited workbook imports to (the policy folder's policies, data and decision tables)."""
    if folder not in _FILES:
        from engine.errors import DiagnosticSink
        from engine.workbook.reader import read_workbook
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"pmo-edits-{os.getpid()}-{folder}.xlsx"
        path.write_bytes(exported(folder))
        files, _ = read_workbook(path, BOOK, DiagnosticSink())
        path.unlink()
        _FILES[folder] = sorted(files)
    return _FILES[folder]


def decisions(folder: str, policies: Path) -> list:
    engine = Engine.load(policies, today=TODAY)
    rows = rows_of(PROPOSALS[folder])
    return [meaning(engine.evaluate(row)) for row in rows] + [
        [(e.id, e.rank, e.decision) for e in engine.rank(rows).entries]]


def import_edited(tmp_path: Path, folder: str, edit: Edit, seed: int = 0) -> tuple[int, str, str]:
    """The exported workbook of ``folder`` with ``edit`` made, imported into tmp_path/new: (exit, stdout, stderr)."""
    book = openpyxl.load_workbook(io.BytesIO(exported(folder)))
    edit.apply(book, random.Random(seed))
    saved = io.BytesIO()
    book.save(saved)
    content = saved.getvalue()
    if edit.raw is not None:
        content = edit.raw(content)
    (tmp_path / BOOK).write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(tmp_path)  # the workbook is named as the user gave it: policies.xlsx!intake!C7
    try:
        code = main(["import-policies", BOOK, "--out", "new", "--today", TODAY.isoformat()], stdout=out, stderr=err)
    finally:
        os.chdir(before)
    return code, out.getvalue(), err.getvalue()


def check_edit(tmp_path: Path, folder: str, edit: Edit, seed: int = 0) -> int:
    code, out, err = import_edited(tmp_path, folder, edit, seed)
    context = f"{folder}: {edit.name} (seed {seed})\n{out}{err}"
    assert code in (0, 2), context
    assert "internal error" not in err and "Traceback" not in err, context
    if code == 2:
        starts = [line for line in err.splitlines() if DIAGNOSTIC.match(line)]  # a message may quote a newline
        assert starts, context
        for line in starts:
            assert LOCATED.match(line), f"not located at a cell or the workbook: {line}\n{context}"
        assert not (tmp_path / "new").exists(), context
        assert not list(tmp_path.glob(".new-import-*")), context
        assert not edit.noop, f"an edit that means nothing was refused\n{context}"
        return code
    written = sorted(p.relative_to(tmp_path / "new").as_posix() for p in (tmp_path / "new").rglob("*") if p.is_file())
    assert written == original_files(folder), f"files lost or added without a word\n{context}"
    validated = io.StringIO()
    assert main(["validate", str(tmp_path / "new"), "--today", TODAY.isoformat()], stdout=validated,
                stderr=validated) == 0, f"{context}\n{validated.getvalue()}"
    if edit.noop:
        if folder not in _DECISIONS:
            _DECISIONS[folder] = decisions(folder, FOLDERS[folder])
        assert decisions(folder, tmp_path / "new") == _DECISIONS[folder], context
    return code


# ---------------------------------------------------------------------------- where to edit

def policy_sheets(book) -> list:
    """The sheets the cover names as policy files (not reference data, not decision tables)."""
    if "Cover" not in book.sheetnames:  # deleted by an earlier edit
        return book.worksheets
    rows = list(book["Cover"].iter_rows(values_only=True))
    start = next((i for i, r in enumerate(rows) if r[:3] == ("sheet", "file", "kind")), None)
    if start is None:  # the cover's table moved by an earlier edit: any sheet will do
        return book.worksheets[1:] or book.worksheets
    names = [r[0] for r in rows[start + 1:] if r[0] and r[1] and r[2] not in ("data", "decision table")]
    return [book[n] for n in names if n in book.sheetnames]


def filled(ws, rng: random.Random, want=lambda v: True, min_row: int = 3):
    """A random cell with a value (that ``want`` accepts), else None."""
    cells = [c for row in ws.iter_rows(min_row=min_row) for c in row if c.value is not None and want(c.value)]
    return rng.choice(cells) if cells else None


def any_filled(book, rng: random.Random, want=lambda v: True, sheets=None):
    for _ in range(20):
        ws = rng.choice(sheets(book) if sheets else book.worksheets[1:])
        cell = filled(ws, rng, want)
        if cell is not None:
            return cell
    return None


def section_rows(ws) -> list[tuple[int, int, list[int]]]:
    """(title row, header row, data rows) of each section of a policy sheet."""
    out, current = [], None
    for row in ws.iter_rows():
        first = row[0].value
        if isinstance(first, str) and first.startswith("§"):
            current = [row[0].row, 0, []]
            out.append(current)
        elif current is not None and any(c.value is not None for c in row):
            if not current[1]:
                current[1] = row[0].row
            else:
                current[2].append(row[0].row)
    return [tuple(s) for s in out]


def a_section(book, rng: random.Random, rows: int = 1):
    candidates = [(ws, s) for ws in policy_sheets(book) for s in section_rows(ws) if len(s[2]) >= rows]
    return rng.choice(candidates) if candidates else (None, (0, 0, []))


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_text(value) -> bool:
    return isinstance(value, str) and not value.startswith("§")


def copy_row(ws, source: int, target: int) -> None:
    for column in range(1, ws.max_column + 1):
        old, new = ws.cell(source, column), ws.cell(target, column)
        new.value = old.value
        new.quotePrefix = old.quotePrefix
        new.number_format = old.number_format


# ---------------------------------------------------------------------------- the edits

def set_value(value, want=lambda v: True, sheets=None, quote: bool | None = None):
    def apply(book, rng):
        cell = any_filled(book, rng, want, sheets)
        if cell is not None:
            cell.value = value(rng, cell.value) if callable(value) else value
            if quote is not None:
                cell.quotePrefix = quote
    return apply


def stray_value(book, rng):
    ws, (title, header, rows) = a_section(book, rng)
    if ws is None:
        return
    width = max(c.column for c in ws[header] if c.value is not None)
    ws.cell(rng.choice(rows), width + rng.randint(1, 3), "a note")


def stray_value_beside_data(book, rng):
    """A note right of a reference-data or decision-table sheet's last column (its 'source')."""
    listed = {ws.title for ws in policy_sheets(book)}
    sheets = [ws for ws in book.worksheets[1:] if ws.title not in listed]
    if sheets:
        ws = rng.choice(sheets)
        ws.cell(rng.randint(1, ws.max_row), ws.max_column + rng.randint(1, 2), "a note")


def delete_row(book, rng):
    ws, (title, header, rows) = a_section(book, rng)
    if ws is None:
        return
    ws.delete_rows(rng.choice([title, header] + rows))


def duplicate_row(book, rng):
    ws, (title, header, rows) = a_section(book, rng)
    if ws is None:
        return
    row = rng.choice(rows)
    ws.insert_rows(row + 1)
    copy_row(ws, row, row + 1)


def swap_rows(book, rng):
    ws, (title, header, rows) = a_section(book, rng, rows=2)
    if ws is None:
        return
    a, b = rng.sample(rows, 2)
    values = {c: (ws.cell(a, c).value, ws.cell(b, c).value) for c in range(1, ws.max_column + 1)}
    for c, (first, second) in values.items():
        ws.cell(a, c).value, ws.cell(b, c).value = second, first


def blank_row_between(book, rng):
    ws, (title, header, rows) = a_section(book, rng, rows=2)
    if ws is None:
        return
    ws.insert_rows(rng.choice(rows[1:]))


def blank_row_anywhere(book, rng):
    ws = rng.choice(book.worksheets)
    ws.insert_rows(rng.randint(1, ws.max_row + 1))


def blank_column(book, rng):
    ws = rng.choice(book.worksheets)
    ws.insert_cols(rng.randint(1, ws.max_column + 1))


def blank_column_inside(book, rng):
    """A blank column after column A of a policy sheet: its sections' columns move right together."""
    ws = rng.choice(policy_sheets(book))
    ws.insert_cols(rng.randint(2, ws.max_column + 1))


def rename_sheet(book, rng):
    ws = rng.choice(book.worksheets[1:])
    ws.title = ws.title + " (edited)"


def delete_sheet(book, rng):
    del book[rng.choice(book.sheetnames)]


def hide_sheet(book, rng):
    rng.choice(book.worksheets[1:]).sheet_state = rng.choice(["hidden", "veryHidden"])


def hide_row(book, rng):
    """A row of a sheet hidden (a filter, a collapsed group or Hide do it): refused when it holds something."""
    ws = rng.choice(book.worksheets[1:])
    ws.row_dimensions[rng.randint(1, ws.max_row + 1)].hidden = True


def hide_column(book, rng):
    ws = rng.choice(book.worksheets[1:])
    ws.column_dimensions[openpyxl.utils.get_column_letter(rng.randint(1, ws.max_column + 1))].hidden = True


def hide_empty_row(book, rng):
    """A row below everything hidden: it hides nothing."""
    ws = rng.choice(book.worksheets[1:])
    ws.row_dimensions[ws.max_row + rng.randint(2, 5)].hidden = True


def rename_title(book, rng):
    ws, (title, header, rows) = a_section(book, rng)
    if ws is None:
        return
    ws.cell(title, 1).value = rng.choice(["§ rulez", "§ ", "§", "§ [x]", "§ a..b", "rules", "§ settings",
                                          "§ criteria[nothere].bands.ranges", "§ rules[#99].x", "§ fields.extra",
                                          ws.cell(title, 1).value + " ", "§ " + ws.cell(title, 1).value])


def rename_header(book, rng):
    ws, (title, header, rows) = a_section(book, rng)
    if ws is None:
        return
    cells = [c for c in ws[header] if c.value is not None]
    cell = rng.choice(cells)
    cell.value = rng.choice(["", " ", "Key", "value", "key", "setting", "comment", "source", "(note)", "x..y",
                             "when", "id", "with.threshold", cell.value + " ", "renamed", 7, "[a]"])


def merge_cells(book, rng):
    ws = rng.choice(book.worksheets)
    row, column = rng.randint(1, ws.max_row), rng.randint(1, max(1, ws.max_column - 1))
    ws.merge_cells(start_row=row, start_column=column, end_row=row + rng.randint(0, 2),
                   end_column=column + rng.randint(1, 2))


def clear_cover_row(book, rng):
    if "Cover" not in book.sheetnames:
        return
    rows = [r for r in book["Cover"].iter_rows() if r[0].value in book.sheetnames and r[0].value != "Cover"]
    for cell in rng.choice(rows) if rows else ():
        cell.value = None


def excel_save(book, rng):
    """What Excel does to a workbook it opens and saves: dates as datetimes, the files' text kept."""
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, dt.date) and not isinstance(cell.value, dt.datetime):
                    cell.value = dt.datetime(cell.value.year, cell.value.month, cell.value.day)


def numbers_as_text(book, rng):
    """A number typed with Excel's leading apostrophe: '250000 (text that Excel flags 'number stored as text')."""
    cell = any_filled(book, rng, is_number, policy_sheets)
    if cell is not None:
        cell.value, cell.quotePrefix = str(cell.value), True


def rewrite(content: bytes, change: Callable[[str, bytes], bytes], extra: dict[str, bytes] | None = None) -> bytes:
    """The saved workbook with each part's bytes changed (and parts added)."""
    zin = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, change(info.filename, zin.read(info.filename)))
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return out.getvalue()


def shared_strings(content: bytes) -> bytes:
    """Every text cell as a shared string (t="s"), as Excel writes them (openpyxl writes inline strings)."""
    strings: list[bytes] = []

    def share(match):
        strings.append(match.group(2))
        return match.group(1) + b' t="s"><v>' + str(len(strings) - 1).encode() + b"</v></c>"

    def change(name, data):
        if name.startswith("xl/worksheets/sheet"):
            return re.sub(rb'(<c r="[A-Z]+[0-9]+"(?: s="[0-9]+")?) t="inlineStr"><is>(.*?)</is></c>', share, data)
        if name == "[Content_Types].xml":
            return data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(b"</Relationships>", b'<Relationship Id="rIdShared" Type="http://schemas.'
                                b'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
                                b'Target="sharedStrings.xml"/></Relationships>')
        return data
    sheets = rewrite(content, change)
    table = (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
             b'2006/main" count="%d" uniqueCount="%d">' % (len(strings), len(strings))
             + b"".join(b"<si>" + s + b"</si>" for s in strings) + b"</sst>")
    return rewrite(sheets, lambda name, data: data, {"xl/sharedStrings.xml": table})


def control_characters(content: bytes) -> bytes:
    """A control character in a text cell, as Excel escapes it in the file (_x0007_)."""
    def change(name, data):
        if name.startswith("xl/worksheets/sheet"):
            return re.sub(rb"(<t[^>]*>)([A-Za-z])", rb"\1_x0007_\2", data, count=3)
        return data
    return rewrite(content, change)


EDITS: dict[str, Edit] = {e.name: e for e in [
    Edit("clear a cell", set_value(None)),
    Edit("clear a policy cell", set_value(None, sheets=policy_sheets)),
    Edit("text into a number cell", set_value("twelve", is_number)),
    Edit("a decimal comma into a number cell", set_value("0,35", is_number)),
    Edit("a number into a text cell", set_value(lambda rng, v: rng.choice([0, 7, -1, 2.5, 10**20]), is_text)),
    Edit("a date into a cell", set_value(dt.date(2027, 3, 31))),
    Edit("a datetime into a cell", set_value(dt.datetime(2027, 3, 31, 12, 30))),
    Edit("a boolean into a cell", set_value(lambda rng, v: rng.choice([True, False]))),
    Edit("TRUE as text into a boolean cell", set_value(lambda rng, v: "TRUE" if v else "FALSE",
                                                       lambda v: isinstance(v, bool))),
    Edit("a formula into a cell", set_value("=SUM(B1:B3)")),
    Edit("a formula into a policy cell", set_value("=1+1", sheets=policy_sheets)),
    Edit("very long text", set_value("x" * 40_000)),
    Edit("emoji", set_value(lambda rng, v: f"{v} 🚀", is_text)),
    Edit("tabs and newlines", set_value(lambda rng, v: f"{v}\t\n", is_text)),
    Edit("trailing spaces", set_value(lambda rng, v: f"{v}  ", is_text)),
    Edit("leading spaces", set_value(lambda rng, v: f"  {v}", is_text)),
    Edit("a flow list broken", set_value("[a, {b"), ),
    Edit("a flow mapping", set_value("{a: 1, b: [2, 3]}")),
    Edit("a null", set_value("~")),
    Edit("the empty text", set_value('""')),
    Edit("a number stored as text (apostrophe)", numbers_as_text),
    Edit("a stray value beside a table", stray_value),
    Edit("a stray value beside a data or decision table", stray_value_beside_data),
    Edit("delete a row", delete_row),
    Edit("duplicate a row", duplicate_row),
    Edit("swap two rows", swap_rows),
    Edit("a blank row between rows", blank_row_between, noop=True),
    Edit("a blank row anywhere", blank_row_anywhere),
    Edit("a blank column", blank_column),
    Edit("a blank column inside a policy sheet", blank_column_inside, noop=True),
    Edit("rename a sheet", rename_sheet),
    Edit("delete a sheet", delete_sheet),
    Edit("hide a sheet", hide_sheet),
    Edit("hide a row", hide_row),
    Edit("hide a column", hide_column),
    Edit("hide an empty row", hide_empty_row, noop=True),
    Edit("rename a section title", rename_title),
    Edit("rename a header cell", rename_header),
    Edit("merge cells", merge_cells),
    Edit("clear a row of the cover", clear_cover_row),
    Edit("Excel saves: dates as datetimes", excel_save, noop=True),
    Edit("Excel saves: shared strings", lambda book, rng: None, noop=True, raw=shared_strings),
    Edit("a control character (as Excel writes it)", lambda book, rng: None, raw=control_characters),
]}


# ---------------------------------------------------------------------------- a fixed list, always

# every edit on the reference policies; on the hospital's (reference data, lookups) and the decision tables' those
# that meet what the reference policies do not have
OTHERS = ["a stray value beside a data or decision table", "clear a cell", "a formula into a cell",
          "a number into a text cell", "delete a row", "a blank row anywhere", "a blank column",
          "a blank column inside a policy sheet", "hide a sheet", "merge cells", "clear a row of the cover",
          "Excel saves: dates as datetimes", "Excel saves: shared strings"]
FIXED = [("reference", name, 0) for name in EDITS] + [(folder, name, 0) for folder in ("hospital", "tables")
                                                      for name in OTHERS]


@pytest.mark.parametrize("folder, name, seed", FIXED, ids=[f"{f}-{n}-{s}" for f, n, s in FIXED])
def test_an_edit_is_imported_or_refused_at_its_cell(tmp_path, folder, name, seed):
    check_edit(tmp_path, folder, EDITS[name], seed)


@pytest.mark.parametrize("hide, at", [
    (lambda book: setattr(book["intake"], "sheet_state", "hidden"), "policies.xlsx!intake: error[hidden_cells]"),
    (lambda book: setattr(book["intake"], "sheet_state", "veryHidden"), "policies.xlsx!intake: error[hidden_cells]"),
    (lambda book: setattr(book["intake"].row_dimensions[5], "hidden", True), "policies.xlsx!intake!A5: error[hidden_cells]"),
    (lambda book: setattr(book["intake"].column_dimensions["B"], "hidden", True),
     "policies.xlsx!intake!B1: error[hidden_cells]")])
def test_what_a_reviewer_cannot_see_is_refused_at_its_place(tmp_path, hide, at):
    """A hidden sheet, row or column of the policy workbook holds rules whoever reviews it in Excel does not see: it
    is refused where it is, as in decision tables (it was imported as if it were shown)."""
    code, _, err = import_edited(tmp_path, "reference", Edit("hide", lambda book, rng: hide(book)))
    assert code == 2 and at in err and "unhide it" in err, err
    assert not (tmp_path / "new").exists()


def flow_in_a_key_cell(value):
    """A flow list or mapping typed into the key cell of a ``key | value`` section (a mapping's entry)."""
    def apply(book, rng):
        keyed = [(ws, rows) for ws in policy_sheets(book) for _, header, rows in section_rows(ws)
                 if rows and ws.cell(header, 1).value == "key"]
        ws, rows = rng.choice(keyed)
        ws.cell(rng.choice(rows), 1).value = value
    return apply


@pytest.mark.parametrize("value", ["{a: 1, b: [2, 3]}", "[x, [y]]", "[{a: 1}]"])
def test_a_list_or_mapping_in_a_key_cell_is_imported_or_refused_at_its_cell(tmp_path, value):
    """The key is the flow text itself: a mapping or a list there must never be an internal error (as it was
    when scalar_text cached its answers by value: a dict is no cache key)."""
    check_edit(tmp_path, "reference", Edit(f"{value} in a key cell", flow_in_a_key_cell(value)))


# ---------------------------------------------------------------------------- random edits (slow)

@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(folder=st.sampled_from(sorted(FOLDERS)), names=st.lists(st.sampled_from(sorted(EDITS)), min_size=1, unique=True,
                                                                max_size=3), seed=st.integers(0, 10**6))
def test_random_edits_are_imported_or_refused_at_their_cells(tmp_path_factory, folder, names, seed):
    # Cells are merged last: no one types into a cell a merge covers (Excel refuses; openpyxl raises), and a
    # value typed before the merge is dropped by it, as Excel drops it.
    edits = [EDITS[n] for n in sorted(names, key=lambda n: n == "merge cells")]

    def apply(book, rng):
        for e in edits:
            e.apply(book, rng)

    def raw(content):
        for e in edits:
            content = e.raw(content) if e.raw else content
        return content
    combined = Edit(" + ".join(names), apply, noop=all(e.noop for e in edits), raw=raw)
    check_edit(tmp_path_factory.mktemp("edit"), folder, combined, seed)




def test_a_policy_workbook_that_unzips_to_too_much_is_refused_before_openpyxl_reads_it(tmp_path):
    """The zip bomb of a proposals file (bomb.xlsx: 3 GB of XML in 3 MB), given to pmo import-policies: refused by
    the sizes in its zip directory (openpyxl would hold the whole workbook)."""
    from engine.errors import DiagnosticSink
    from engine.workbook.reader import read_workbook
    path = tmp_path / "policies.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            for _ in range(70):
                f.write(b" " * (1 << 20))
    sink = DiagnosticSink()
    assert read_workbook(path, "policies.xlsx", sink) == ({}, {})
    [problem] = sink.items
    assert problem.code == "bad_workbook" and "unzips to 73,400,328 bytes" in problem.message, problem
