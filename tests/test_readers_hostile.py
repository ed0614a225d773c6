"""Hostile and broken proposal files (issues #13, #20, #21): every reader reads right or refuses, row by row.

Each case was reproduced by a tester; each ends in error rows naming the column, or a located refusal of
the whole file, never a crash, a hang, a silently dropped row or a phantom row."""
import codecs
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine import InputError, read_proposals
from engine.io import jsonstream
from engine.io import rows as rows_module
from tests.conftest import ROOT

HANG_GUARD = 120  # seconds: only so that a hang fails the test instead of stopping the suite


def pmo(*args, cwd=None):
    """`pmo evaluate` in a subprocess: a crash shows as an exit status, not as a failed test runner."""
    return subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", "--no-log", "--format", "jsonl",
                           *map(str, args)], capture_output=True, text=True, timeout=HANG_GUARD, cwd=cwd or ROOT)


def rows_out(result):
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def errors(rows):
    return [(r.row, r.error.column if r.error else None, r.error.code if r.error else None) for r in rows]


def _encoded(text, kind):
    """UTF-8, or for "cp1252.json" Windows-1252 with a byte that is not UTF-8 (so that reader is the one used)."""
    return text.replace('"C"', '"C\u00e9"').encode("cp1252") if kind == "cp1252.json" else text.encode("utf-8")


# --- numbers and text bounded before any parser -------------------------------------------------------

def test_a_4301_digit_number_then_a_decimal_is_an_error_row_not_a_segfault(tmp_path):
    """Was: SIGSEGV (exit 139, no output) inside ijson's C backend."""
    path = tmp_path / "big.json"
    path.write_text('[{"id": "A", "title": "t", "budget": %s}, {"id": "B", "title": "t", "budget": 1.5}]'
                    % ("1" * 4301), encoding="utf-8")
    result = pmo(path)
    assert result.returncode == 1, result.stderr  # bad rows, not a crash (139) or an internal error (3)
    first, second = rows_out(result)
    assert first["decision"] == "error" and first["errors"][0]["column"] == "budget"
    assert "digits" in first["errors"][0]["message"] and second["id"] == "B" and second["decision"] != "error"


@pytest.mark.parametrize("kind", ["json", "jsonl", "yaml", "cp1252.json"])
def test_a_5000_digit_number_is_an_error_row_naming_the_column_in_every_reader(tmp_path, kind):
    number = "9" * 5000
    items = [f'{{"id": "A", "budget": {number}}}', f'{{"id": "B", "budget": -{number}.5e+3}}', '{"id": "C", "budget": 7}']
    text = "\n".join(items) + "\n" if kind == "jsonl" else "[" + ", ".join(items) + "]"
    path = tmp_path / f"in.{kind.split('.')[-1]}"
    path.write_bytes(_encoded(text, kind))
    rows = list(read_proposals(path))
    assert errors(rows) == [(1, "budget", "too_large"), (2, "budget", "too_large"), (3, None, None)]
    assert rows[0].data["id"] == "A" and "budget" not in rows[0].data  # the huge value is not passed on


def test_a_huge_cell_is_an_error_row_naming_the_column(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("id,title,budget\nA," + "x" * (rows_module.MAX_CELL + 10) + ",1\nB,t,2\n", encoding="utf-8")
    rows = list(read_proposals(path))
    assert errors(rows) == [(2, "title", "too_large"), (3, None, None)]


@pytest.mark.parametrize("kind", ["json", "jsonl", "yaml", "cp1252.json"])
def test_a_lone_surrogate_is_an_error_row_naming_the_column_in_every_reader(tmp_path, kind):
    items = ['{"id": "A\\ud800", "title": "t"}', '{"id": "B", "title": "ok", "x\\udfff": 1}', '{"id": "C", "title": "t"}']
    text = "\n".join(items) + "\n" if kind == "jsonl" else "[" + ", ".join(items) + "]"
    path = tmp_path / f"in.{kind.split('.')[-1]}"
    path.write_bytes(_encoded(text, kind))
    rows = list(read_proposals(path))
    assert [(r.row, r.error and r.error.code) for r in rows] == [(1, "bad_text"), (2, "bad_text"), (3, None)]
    assert rows[0].error.column == "id" and "id" not in rows[0].data
    assert rows[1].error.column == "x\\udfff" and rows[1].data["id"] == "B"


def test_a_lone_surrogate_in_a_jsonl_id_gives_rows_not_exit_3(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "A\\ud800", "title": "t"}\n{"id": "B", "title": "t"}\n', encoding="utf-8")
    result = pmo(path)
    assert result.returncode == 1, result.stderr
    first, second = rows_out(result)
    assert first["decision"] == "error" and first["errors"][0]["column"] == "id" and second["id"] == "B"
    # the id column is there: the reader dropped one bad value, so no warning says every row lacks it
    assert "no column for the required field 'id'" not in result.stderr, result.stderr


def test_a_yaml_alias_bomb_as_an_id_is_an_error_row_not_a_hang(tmp_path):
    """Was: the error row formatted str(id) first and expanded 10^9 items."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("defs:\n" + "".join(f"  {line}\n" for line in lines)
                    + "proposals:\n  - {id: *a8, title: t}\n  - {id: B, title: t}\n", encoding="utf-8")
    assert path.stat().st_size < 1000
    result = pmo(path)
    assert result.returncode == 1, result.stderr
    first, second = rows_out(result)
    assert first["errors"][0]["column"] == "id" and first["errors"][0]["code"] == "too_large"
    assert second["id"] == "B"


def test_a_yaml_5000_digit_integer_is_an_error_row(tmp_path):
    path = tmp_path / "n.yaml"
    path.write_text(f"- {{id: A, budget: {'7' * 5000}}}\n- {{id: B, budget: 0x{'f' * 5000}}}\n- {{id: C, budget: 3}}\n")
    assert errors(read_proposals(path)) == [(1, "budget", "too_large"), (2, "budget", "too_large"), (3, None, None)]


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_a_duplicate_proposals_key_is_refused_in_any_encoding(tmp_path, encoding):
    """Was: both lists decided as UTF-8, only the last as Windows-1252."""
    path = tmp_path / "dup.json"
    path.write_bytes('{"proposals": [{"id": "A"}], "note": "caf\u00e9", "proposals": [{"id": "B"}]}'.encode(encoding))
    with pytest.raises(InputError) as info:
        read_proposals(path)
    assert info.value.diagnostics[0].code == "duplicate_key" and "'proposals'" in info.value.diagnostics[0].message


@pytest.mark.parametrize("kind", ["json", "jsonl", "yaml"])
def test_a_duplicate_key_in_a_proposal_is_an_error_row(tmp_path, kind):
    items = ['{"id": "A", "budget": 1, "budget": 2}', '{"id": "B"}']
    path = tmp_path / f"d.{kind}"
    path.write_text("\n".join(items) + "\n" if kind == "jsonl" else "[" + ", ".join(items) + "]", encoding="utf-8")
    assert errors(read_proposals(path)) == [(1, "budget", "duplicate_key"), (2, None, None)]


def test_deep_nesting_below_the_recursion_limit_is_still_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('[{"id": "a", "x": ' + "[" * 100 + "]" * 100 + "}]", encoding="utf-8")
    with pytest.raises(InputError, match="nested more than 64 levels"):
        read_proposals(path)


def test_a_json_refusal_without_a_line_names_the_whole_file(tmp_path):
    """Location's line 0 means the whole file; the JSON reader gave None, which sorts against no int."""
    path = tmp_path / "deep.json"
    path.write_text('[{"id": "a", "x": ' + "[" * 100 + "]" * 100 + "}]", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_proposals(path)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.location is not None and diagnostic.location.line == 0 and str(diagnostic.location) == str(path)


def test_json_items_split_across_read_chunks_are_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonstream, "JSON_CHUNK", 7)  # every number and string crosses a chunk boundary
    path = tmp_path / "c.json"
    items = [{"id": f"P{i}", "budget": 12345678901 + i, "rate": "0.125", "x": [1.25, None, True]} for i in range(50)]
    path.write_text(json.dumps({"round": {"a": [1, 2]}, "proposals": items}), encoding="utf-8")
    rows = list(read_proposals(path))
    assert [r.data["budget"] for r in rows] == [12345678901 + i for i in range(50)] and rows[3].data["rate"] == "0.125"


# --- CSV: never re-read the inside of a cell, recover in linear time -----------------------------------

def test_a_malformed_multi_line_cell_is_one_error_row_and_no_phantom(tmp_path):
    """Was: 2 records in, 4 rows out, a phantom FAKE-1 accepted."""
    path = tmp_path / "m.csv"
    path.write_text('id,title,budget\nA,"first line\nFAKE-1,Fake,1\nlast"oops,10\nB,Two,10\n', encoding="utf-8")
    rows = list(read_proposals(path))
    assert [(r.row, r.data and r.data.get("id"), r.error and r.error.code) for r in rows] == [
        (2, "A", "bad_csv"), (5, "B", None)]
    assert rows[0].data == {"id": "A"}  # the cells before the one the csv module could not read


def test_a_10_mb_cell_gives_one_error_row_and_no_phantoms(tmp_path):
    path = tmp_path / "big.csv"
    inner = "".join(f"FAKE-{i},Fake,1\n" for i in range(200_000))  # about 3 MB, over the cell limit
    path.write_text(f'id,title,budget\nA,"{inner}",10\nB,Two,10\n', encoding="utf-8")
    rows = list(read_proposals(path))
    assert [(r.row, r.data and r.data.get("id"), r.error and r.error.code) for r in rows] == [
        (2, "A", "too_large"), (200_003, "B", None)]
    assert rows[0].error.column == "title" and rows[0].data == {"id": "A", "budget": "10"}


def test_an_unterminated_quote_loses_no_other_row(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('id,title,budget\nA,"unterminated,10\nB,Two,10\nC,Three,5\n', encoding="utf-8")
    rows = list(read_proposals(path))
    assert [(r.row, r.data and r.data.get("id"), r.error and r.error.code) for r in rows] == [
        (2, "A", "bad_csv"), (3, "B", None), (4, "C", None)]
    assert "quote" in rows[0].error.message and rows[0].data == {"id": "A"}


def test_broken_rows_are_recovered_without_reopening_the_file(tmp_path, monkeypatch):
    """Was: each unreadable row reopened the file and skipped to it again (quadratic: 32,000 bad rows 74 s)."""
    path = tmp_path / "bad.csv"
    path.write_text("id,title,budget\n" + "".join(f'P{i},"x"y,1\nQ{i},ok,2\n' for i in range(2_000)), encoding="utf-8")
    opened = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self) or real_open(self, *a, **k))
    rows = list(read_proposals(path))
    assert len(rows) == 4_000 and sum(1 for r in rows if r.error) == 2_000
    assert rows[1].data["id"] == "Q0" and rows[1].row == 3
    assert len(opened) <= 3  # the head, the header, the rows: not once per bad row


def test_32000_bad_rows_finish(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,title,budget\n" + "".join(f'P{i},"x"y,1\n' for i in range(32_000)), encoding="utf-8")
    code = ("import sys; from engine import read_proposals; "
            "rows = list(read_proposals(sys.argv[1])); print(len(rows), sum(1 for r in rows if r.error))")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                            timeout=HANG_GUARD, cwd=ROOT)
    assert result.stdout.split() == ["32000", "32000"], result.stderr


# --- binary files, UTF-16, NUL and empty rows (issue #13) ---------------------------------------------

@pytest.mark.parametrize("content, says", [
    (b"PK\x03\x04" + b"\x00" * 100, "zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003 .xls"),
    (b"%PDF-1.7\n" + bytes(range(256)) * 4, "PDF"),
    (b"id,title\n" + b"\x00\x01\x02\x03" * 500, "binary"),
])
def test_binary_files_are_refused_saying_what_they_are(tmp_path, content, says):
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_proposals(path)
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.code == "binary_file" and says in diagnostic.message and diagnostic.hint


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_bom_is_read(tmp_path, codec):
    """Excel's "Unicode text" export: tab-separated UTF-16LE with a byte-order mark."""
    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    path = tmp_path / "unicode.txt.csv"
    path.write_bytes(bom + "id\ttitle\tbudget\nPRJ-1\tCaf\u00e9 \u20ac\t10\nPRJ-2\tTwo\t20\n".encode(codec))
    rows = list(read_proposals(path))
    assert [r.data for r in rows] == [{"id": "PRJ-1", "title": "Caf\u00e9 \u20ac", "budget": "10"},
                                     {"id": "PRJ-2", "title": "Two", "budget": "20"}]
    jsonl = tmp_path / "u.jsonl"
    jsonl.write_bytes(bom + '{"id": "J\u00e9"}\n'.encode(codec))
    assert [r.data for r in read_proposals(jsonl)] == [{"id": "J\u00e9"}]


def test_a_stray_nul_makes_one_error_row_not_a_refused_file(tmp_path):
    """Was: one NUL in the first 64 KB refused the whole CSV; 2 bad rows of 20,000 stopped the batch."""
    path = tmp_path / "nul.csv"
    lines = [f"P{i},Title {i},{i}" for i in range(20_000)]
    lines[5] = "P5,Ti\x00tle,5"
    lines[9_000] = "P9000,x,9\x00"
    path.write_text("id,title,budget\n" + "\n".join(lines) + "\n", encoding="utf-8")
    rows = list(read_proposals(path))
    assert len(rows) == 20_000
    assert [(r.row, r.error.column, r.error.code) for r in rows if r.error] == [(7, "title", "bad_text"),
                                                                              (9_002, "budget", "bad_text")]


def test_rows_of_empty_cells_are_counted_not_silently_dropped(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("id,title,budget\nA,One,1\n,,\n\nB,Two,2\n , ,\n", encoding="utf-8")
    rows = read_proposals(path)
    assert [r.data["id"] for r in rows] == ["A", "B"]
    assert rows.empty_rows == [3, 6] and rows.empty_count == 2


def test_the_run_summary_names_the_empty_rows(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("id,title,budget\nA,One,1\n,,\nB,Two,2\n", encoding="utf-8")
    result = pmo(path)
    assert "1 empty row skipped: line 3" in result.stderr, result.stderr
    assert len(rows_out(result)) == 2


# --- XLSX: cells placed by reference, a bad cell is an error row, a bad workbook is bad_xlsx --------------

def _workbook(tmp_path, rows, name="in.xlsx"):
    from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    path = tmp_path / name
    book.save(path)
    return path


def _edit(path, part, change):
    """Rewrite one part of the zip (the workbook's XML) with ``change(text) -> text`` (None: leave it out;
    a part not in the zip is added with ``change("")``)."""
    with zipfile.ZipFile(path) as z:
        items = {info.filename: z.read(info).decode("utf-8") for info in z.infolist()}
    items[part] = change(items.get(part, ""))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for filename, text in items.items():
            if text is not None:
                z.writestr(filename, text)


def _shared(path):
    """Store B2's text ("One") as shared string 0, as Excel does (openpyxl writes inline strings)."""
    _edit(path, SHEET, lambda xml: xml.replace('<c r="B2" t="inlineStr"><is><t>One</t></is></c>',
                                               '<c r="B2" t="s"><v>0</v></c>'))
    _edit(path, "xl/sharedStrings.xml", lambda _: '<?xml version="1.0" encoding="UTF-8"?>\n<sst xmlns='
          '"http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
          '<si><t>One</t></si></sst>')


def _with_dtd(dtd, entity=None):
    def change(xml):
        xml = dtd + xml.split("?>", 1)[-1] if xml.startswith("<?xml") else dtd + xml
        return xml.replace("<t>One</t>", f"<t>{entity}</t>") if entity else xml
    return change


SHEET = "xl/worksheets/sheet1.xml"


def test_xlsx_rows_stored_out_of_order_are_all_read_by_their_row_number(tmp_path):
    """Was: 2 of 4 data rows silently dropped, exit 0."""
    path = _workbook(tmp_path, [["id", "title", "budget"]] + [[f"P{i}", f"T{i}", i] for i in range(2, 6)])

    def shuffle(xml):
        rows = re.findall(r"<row [^>]*>.*?</row>", xml, re.S)
        return xml.replace("".join(rows), "".join([rows[0], rows[3], rows[4], rows[1], rows[2]]))
    _edit(path, SHEET, shuffle)
    rows = list(read_proposals(path))
    assert sorted((r.row, r.data["id"], r.data["budget"]) for r in rows) == [
        (2, "P2", 2), (3, "P3", 3), (4, "P4", 4), (5, "P5", 5)]
    assert all(r.error is None for r in rows)


def test_xlsx_header_stored_after_data_rows_is_still_the_header(tmp_path):
    path = _workbook(tmp_path, [["id", "title"], ["A", "One"], ["B", "Two"]])

    def header_last(xml):
        rows = re.findall(r"<row [^>]*>.*?</row>", xml, re.S)
        return xml.replace("".join(rows), "".join(rows[1:] + rows[:1]))
    _edit(path, SHEET, header_last)
    assert sorted((r.row, r.data["id"]) for r in read_proposals(path)) == [(2, "A"), (3, "B")]


def _numeric_cell(value):
    """A sheet whose C2 (budget) is a number cell holding ``value``."""
    return lambda xml: re.sub(r'(<c r="C2"[^>]*>)<v>[^<]*</v>', lambda m: m[1].replace(' t="s"', "")
                              + f"<v>{value}</v>", xml)


@pytest.mark.parametrize("value, code", [("lots", "bad_value"), ("NaN", "bad_value"), ("Infinity", "bad_value"),
                                         ("-Infinity", "bad_value"), ("+Infinity", "bad_value"),
                                         ("#DIV/0!", "bad_value"), ("9" * 5000, "too_large")])
def test_a_bad_number_cell_is_an_error_row_naming_the_column(tmp_path, value, code):
    path = _workbook(tmp_path, [["id", "title", "budget"], ["A", "One", 10], ["B", "Two", 20]])
    _edit(path, SHEET, _numeric_cell(value))
    rows = list(read_proposals(path))
    assert errors(rows) == [(2, "budget", code), (3, None, None)]
    assert rows[0].data["id"] == "A"


def test_an_excel_error_cell_is_an_error_row(tmp_path):
    path = _workbook(tmp_path, [["id", "title", "budget"], ["A", "One", 10]])
    _edit(path, SHEET, lambda xml: re.sub(r'<c r="C2"[^>]*>', '<c r="C2" t="e">', xml).replace(
        '<c r="C2" t="e"><v>10</v>', '<c r="C2" t="e"><v>#DIV/0!</v>'))
    [row] = read_proposals(path)
    assert (row.error.column, row.error.code) == ("budget", "bad_value") and "#DIV/0!" in row.error.message


def test_a_shared_string_index_out_of_range_is_an_error_row(tmp_path):
    path = _workbook(tmp_path, [["id", "title"], ["A", "One"], ["B", "Two"]])
    _shared(path)
    assert [r.data["title"] for r in read_proposals(path)] == ["One", "Two"]
    _edit(path, SHEET, lambda xml: xml.replace('<c r="B2" t="s"><v>0</v>', '<c r="B2" t="s"><v>99999</v>'))
    assert errors(read_proposals(path)) == [(2, "title", "bad_value"), (3, None, None)]


XXE = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
BOMB = ('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>')


@pytest.mark.parametrize("part, change", [
    ("xl/sharedStrings.xml", _with_dtd(XXE, "&e;")),
    ("xl/sharedStrings.xml", _with_dtd(BOMB, "&d;")),
    (SHEET, _with_dtd(XXE, "&e;")),
    (SHEET, _with_dtd(BOMB, "&d;")),
    ("xl/workbook.xml", _with_dtd(BOMB)),
    (SHEET, lambda xml: xml[:len(xml) // 2]),  # truncated
    (SHEET, lambda xml: None),  # the sheet the workbook names is missing
    ("xl/workbook.xml", lambda xml: None),
], ids=["xxe-strings", "entity-bomb-strings", "xxe-sheet", "entity-bomb-sheet", "entity-bomb-workbook",
        "truncated-sheet", "missing-sheet", "missing-workbook-part"])
def test_a_broken_workbook_is_refused_as_bad_xlsx(tmp_path, part, change):
    path = _workbook(tmp_path, [["id", "title"], ["A", "One"], ["B", "Two"]])
    _shared(path)
    _edit(path, part, change)
    with pytest.raises(InputError) as info:
        list(read_proposals(path))
    assert info.value.diagnostics[0].code == "bad_xlsx" and info.value.diagnostics[0].hint


def test_a_broken_workbook_ends_the_run_with_exit_2_not_3(tmp_path):
    path = _workbook(tmp_path, [["id", "title"], ["A", "One"]])
    _edit(path, SHEET, lambda xml: xml[:len(xml) // 2])
    result = pmo(path)
    assert result.returncode == 2 and "bad_xlsx" in result.stderr, result.stderr


def test_xlsx_empty_rows_are_counted(tmp_path):
    path = _workbook(tmp_path, [["id", "title"], ["A", "One"], [" ", None], ["B", "Two"]])
    rows = read_proposals(path)
    assert [(r.row, r.data["id"]) for r in rows] == [(2, "A"), (4, "B")] and rows.empty_rows == [3]


def _shared_strings_workbook(path, rows):
    """A workbook as Excel writes it: every text a shared string (openpyxl writes inline strings)."""
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    strings = [f"<si><t>{t}</t></si>" for row in rows for t in row]
    cells, index = [], 0
    for r, row in enumerate(rows, 1):
        cells.append(f'<row r="{r}">' + "".join(f'<c r="{chr(65 + c)}{r}" t="s"><v>{index + c}</v></c>'
                                                for c in range(len(row))) + "</row>")
        index += len(row)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", f'<workbook {main} xmlns:r="{rel}"><sheets><sheet name="S" sheetId="1" '
                   'r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<Relationships><Relationship Id="rId1" '
                   'Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/sharedStrings.xml", f'<sst {main} count="{len(strings)}">' + "".join(strings) + "</sst>")
        z.writestr("xl/worksheets/sheet1.xml", f"<worksheet {main}><sheetData>" + "".join(cells)
                   + "</sheetData></worksheet>")


def test_many_shared_strings_are_read_in_bounded_memory(tmp_path):
    """Was: openpyxl keeps every shared string in large objects (slow, large in memory).

    The bound is about 133 bytes a shared string (10 MB for 75,003): the reader peaks near 6.2 MB here (83 bytes a
    string, 22.5 MB for 300,003); parsing the shared strings as one ElementTree instead peaks at 25.6 MB (341 bytes
    a string). A quarter of the 100,000 rows this test once read, with the same bound a string: it fails the same
    readers, in a quarter of the time (tracemalloc slows every allocation)."""
    import tracemalloc
    path = tmp_path / "many.xlsx"
    _shared_strings_workbook(path, [["id", "title", "sponsor"]] + [[f"P{i}", f"Title number {i}", f"Sponsor {i}"]
                                                                   for i in range(25_000)])
    tracemalloc.start()
    rows = read_proposals(path)
    count = sum(1 for _ in rows)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 25_000
    assert peak < 10_000_000, f"peak {peak:,} bytes for 75,003 shared strings"


def test_a_formula_cell_without_a_computed_value_is_an_error_row_not_a_missing_value(tmp_path):
    # openpyxl and many report generators write formulas without the value Excel would cache; read as an empty
    # cell, '=200000*5' made the budget missing and the proposal was rejected for having none.
    path = _workbook(tmp_path, [["id", "title", "budget"], ["A", "One", "=200000*5"], ["B", "Two", 300]])
    rows = list(read_proposals(path))
    assert [(r.row, r.error and r.error.code, r.error and r.error.column) for r in rows] == [
        (2, "formula_without_value", "budget"), (3, None, None)]
    assert "=200000*5" in rows[0].error.message and "budget" not in rows[0].data


def _sheet_with_budget_cell(path, cell: str):
    """A workbook written by hand (as report generators write them): header id, budget; one row, A and ``cell``."""
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", f'<workbook {main} xmlns:r="{rel}"><sheets><sheet name="S" sheetId="1" '
                   'r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<Relationships><Relationship Id="rId1" '
                   'Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", f'<worksheet {main}><sheetData>'
                   '<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c><c r="B1" t="inlineStr"><is><t>budget'
                   '</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>A</t></is></c>'
                   f'{cell}</row></sheetData></worksheet>')
    return path


def test_a_formula_cell_with_its_computed_value_reads_the_value(tmp_path):
    path = _sheet_with_budget_cell(tmp_path / "cached.xlsx", '<c r="B2"><f>200000*5</f><v>1000000</v></c>')
    assert [(r.data, r.error) for r in read_proposals(path)] == [({"id": "A", "budget": 1000000}, None)]


def test_a_formula_whose_computed_value_is_empty_text_is_an_empty_cell(tmp_path):
    path = _sheet_with_budget_cell(tmp_path / "empty.xlsx", '<c r="B2" t="str"><f>IF(1&gt;2,1,"")</f><v></v></c>')
    assert [(r.data, r.error) for r in read_proposals(path)] == [({"id": "A", "budget": ""}, None)]


# --- a new user's German export (2026-12-03): mixed encodings, random bytes, a cover sheet ----------------

def test_random_bytes_named_csv_are_refused_as_binary(tmp_path):
    """Was: 4 KB of random bytes named .csv became 136 error rows with garbage column names (exit 1)."""
    import random
    for name in ("in.csv", "in.jsonl", "in.json"):
        path = tmp_path / name
        path.write_bytes(random.Random(7).randbytes(4096).replace(b"\x00", b"\x01"))  # no NUL: not the NUL check
        with pytest.raises(InputError) as info:
            read_proposals(path)
        diagnostic = info.value.diagnostics[0]
        assert diagnostic.code == "binary_file" and "control characters" in diagnostic.message, name


def test_a_few_control_characters_in_text_are_still_rows(tmp_path):
    path = tmp_path / "ctl.csv"
    path.write_text("id,title,budget\n" + "".join(f"P{i},Title {i}\x07,{i}\n" for i in range(3)) +
                    "".join(f"Q{i},Plain title {i},{i}\n" for i in range(200)), encoding="utf-8")
    assert len(list(read_proposals(path))) == 203


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8], ids=["no-bom", "bom"])
def test_a_utf8_file_with_a_windows_1252_byte_is_refused_where_the_byte_is(tmp_path, bom):
    """Was: one stray cp1252 byte (0xFC, 'ü') in a UTF-8 export made the whole file read as Windows-1252: every
    umlaut turned into mojibake ('WÃ¤rmepumpen'), the mapped column 'Komplexität' stopped matching and a
    rejection became a review, with no word; with a byte-order mark every row was an error row."""
    text = ("Projekt-Nr.;Titel;Budget\nDE-001;Wärmepumpen;100\n".encode()
            + "DE-002;Büroflächen;200\n".encode("cp1252") + "DE-003;Straße;300\n".encode())
    path = tmp_path / "mixed.csv"
    path.write_bytes(bom + text)
    for workers in (None, 2):
        with pytest.raises(InputError) as info:
            if workers is None:
                read_proposals(path)
            else:
                from engine.io.readers import csv_layout
                csv_layout(path)
        diagnostic = info.value.diagnostics[0]
        assert diagnostic.code == "mixed_encoding", diagnostic
        assert diagnostic.location.line == 3 and "0xFC" in diagnostic.message and "line 2" in diagnostic.message
        assert "UTF-8" in diagnostic.hint


def _late_byte_file(tmp_path, kind):
    """Over a MB of clean UTF-8 rows (so the encoding check of the file's start passes), then a row whose title
    holds a Windows-1252 byte (0xE9, 'é'), then a clean row."""
    rows = [{"id": f"P-{i:05d}", "title": f"Réseau {i} " + "x" * 400, "budget": 100_000 + i} for i in range(3_000)]
    if kind == "csv":
        body = "id,title,budget\n" + "".join(f"{r['id']},{r['title']},{r['budget']}\n" for r in rows)
        late = b"P-LATE,Caf\xe9 Noir,5000\nP-AFTER,After,6000\n"
    else:
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        late = b'{"id": "P-LATE", "title": "Caf\xe9 Noir", "budget": 5000}\n{"id": "P-AFTER", "title": "After", "budget": 6000}\n'
    path = tmp_path / f"late.{kind}"
    path.write_bytes(body.encode("utf-8") + late)
    assert len(body.encode("utf-8")) > 1 << 20
    return path


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_byte_that_is_not_utf8_after_the_first_mb_is_an_error_row_not_a_replacement_character(tmp_path, kind):
    """Was: the encoding is chosen from the file's first MB; a Windows-1252 byte after it became U+FFFD without
    a word ('Caf\ufffd Noir'), so a vendor or a category no longer matched its lookup and the decision changed.
    Now that row is an error row naming the column and the byte; the rows around it are read as they are."""
    path = _late_byte_file(tmp_path, kind)
    rows = list(read_proposals(path))
    late = rows[-2]
    assert late.error is not None and (late.error.code, late.error.column) == ("mixed_encoding", "title"), late.error
    assert "0xE9" in late.error.message and "UTF-8" in late.error.message
    assert rows[-1].error is None and rows[-1].data["title"] == "After"
    assert all(r.error is None for r in rows[:-2]) and rows[0].data["title"].startswith("Réseau 0 ")
    assert not any("\ufffd" in str(r.data) for r in rows)
    for workers in ("1", "2"):
        result = pmo(path, "--workers", workers)
        assert result.returncode == 1, result.stderr
        out = rows_out(result)
        assert len(out) == 3_002 and out[-1]["id"] == "P-AFTER" and out[-1]["decision"] != "error"
        bad = out[-2]
        assert bad["decision"] == "error" and bad["errors"][0]["code"] == "mixed_encoding", bad
        assert "\ufffd" not in result.stdout


def test_a_whole_windows_1252_file_and_a_whole_utf8_file_are_read(tmp_path):
    rows = "id;title;budget\nDE-001;Wärmepumpen;100\nDE-002;Büroflächen;200\n"
    for codec in ("cp1252", "utf-8", "utf-8-sig"):
        path = tmp_path / f"{codec}.csv"
        path.write_bytes(rows.encode(codec))
        assert [r.data["title"] for r in read_proposals(path)] == ["Wärmepumpen", "Büroflächen"], codec


def test_a_workbook_whose_first_sheet_has_no_rows_names_its_other_sheets(tmp_path):
    """Was: a German workbook with a cover sheet first read the cover, said '0 rows in: 0 decided' and exited 0,
    with no word of the sheet 'Anträge' that held the proposals."""
    import openpyxl
    book = openpyxl.Workbook()
    book.active.title = "Deckblatt"
    book.active.append(["Anträge 2027, Stand 1. Dezember"])
    sheet = book.create_sheet("Anträge")
    sheet.append(["id", "title", "budget"])
    sheet.append(["DE-001", "Wärmepumpen", 100])
    path = tmp_path / "two.xlsx"
    book.save(path)
    with pytest.raises(InputError) as info:
        list(read_proposals(path))
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.code == "empty_sheet" and "'Deckblatt'" in diagnostic.message
    assert "Anträge" in diagnostic.hint and "--sheet" in diagnostic.hint
    assert [r.data["id"] for r in read_proposals(path, "Anträge")] == ["DE-001"]
    book.remove(sheet)
    book.save(path)
    assert list(read_proposals(path)) == []  # one sheet: its rows, none (the run says 0 rows in)


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_columns_that_differ_only_in_case_or_spacing_are_refused(tmp_path, suffix):
    """Was: with columns 'Budget' and 'BUDGET' the last was read as the budget without a word, and the warning
    said 'Budget' matches no field. Both read as the one field 'budget': which is meant cannot be known."""
    rows = [["id", "title", "Budget", "BUDGET"], ["P1", "One", "100", "900000"]]
    path = tmp_path / f"case.{suffix}"
    if suffix == "csv":
        path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    else:
        import openpyxl
        book = openpyxl.Workbook()
        for r in rows:
            book.active.append(r)
        book.save(path)
    with pytest.raises(InputError) as info:
        list(read_proposals(path))
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.code == "duplicate_column" and "'Budget' and 'BUDGET'" in diagnostic.message
    assert diagnostic.hint
    path.write_text("id,title,Start Date,start_date\nP1,x,2027-01-01,2027-02-01\n", encoding="utf-8") \
        if suffix == "csv" else None
    if suffix == "csv":
        with pytest.raises(InputError, match="'Start Date' and 'start_date'"):
            read_proposals(path)


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_a_file_with_a_header_and_no_rows_still_has_its_header_judged(tmp_path, suffix, workers):
    """Was: a file of only a header that names no field of the policy ('Foo;Bar') said '0 rows in: 0 decided',
    exit 0, and not a word that it has no id or title column; its header is judged as a file with rows is."""
    import io as _io

    from engine.cli import main
    path = tmp_path / f"only-header.{suffix}"
    if suffix == "csv":
        path.write_text("Foo;Bar\n", encoding="utf-8")
    else:
        import openpyxl
        book = openpyxl.Workbook()
        book.active.append(["Foo", "Bar"])
        book.save(path)
    out, err = _io.StringIO(), _io.StringIO()
    code = main(["evaluate", str(path), "--no-log", "--workers", workers], stdout=out, stderr=err)
    assert code == 0 and "0 rows in" in err.getvalue()
    assert "there is no column for the required field 'id'" in err.getvalue(), err.getvalue()
    good = tmp_path / "good.csv"
    good.write_text("id,title,budget\n", encoding="utf-8")
    err = _io.StringIO()
    assert main(["evaluate", str(good), "--no-log"], stdout=_io.StringIO(), stderr=err) == 0
    assert "warning" not in err.getvalue()


def test_two_keys_that_name_one_field_make_an_error_row_not_a_silent_choice(tmp_path, write_policy):
    """Was: a JSON proposal with both "budget": 100 and "Budget": 5000000 was decided on 100 without a word
    (the exact name won; a CSV header with both is refused as duplicate_column). Keys that differ only in
    case or spacing, or a field's name beside one of its aliases, feed one field: which is meant cannot be
    known, so the proposal is an error row naming both keys. The other proposals are decided."""
    from engine import Engine
    root = write_policy({"intake.yaml": "kind: intake\nfields:\n  id: string\n  budget: {type: money, aliases: [capex]}\n"
                         "rules:\n  - {id: big, when: budget > 1000, effect: reject, reason: too big}\n"})
    for backend in ("rete", "reference"):
        _one_field_twice(Engine.load(root, backend=backend))
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"id": "A", "budget": 100, "Budget": 5_000_000}, {"id": "B", "budget": 100}]))
    result = pmo(path, "--policies", root)
    assert result.returncode == 1, result.stderr
    assert [(r["id"], r["decision"]) for r in rows_out(result)] == [("A", "error"), ("B", "accept")]


def _one_field_twice(engine):
    for clash in ({"budget": 100, "Budget": 5_000_000}, {"budget": 100, "capex": 5_000_000},
                  {"Budget": 100, "BUDGET ": 5_000_000}):
        decision = engine.evaluate({"id": "A", **clash})
        assert decision.decision == "error", (clash, decision)
        (error,) = decision.errors
        assert error.code == "duplicate_key" and error.column == "budget", error
        assert all(repr(key) in error.message for key in clash), error.message
    assert engine.evaluate({"id": "B", "Budget": 5_000_000}).decision == "reject"


# --- a new user's hostile files (2026-12-07): a zip bomb of one cell --------------------------------------

def _one_huge_cell_workbook(path, chars, shared):
    """A workbook whose row 2 holds a title of ``chars`` characters (an inline string, or a shared string), written
    a MB at a time: it zips to about a thousandth of its size, as /tmp/trial4/hostile/bomb.xlsx did (3 GB in 3 MB)."""
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    block = "x" * (1 << 20)

    def huge(z, part, before, after):
        with z.open(part, "w", force_zip64=True) as f:
            f.write(before.encode())
            for _ in range(chars // len(block)):
                f.write(block.encode())
            f.write(after.encode())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", f'<workbook {main} xmlns:r="{rel}"><sheets><sheet name="S" sheetId="1" '
                   'r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<Relationships><Relationship Id="rId1" '
                   'Target="worksheets/sheet1.xml"/></Relationships>')
        start = (f'<worksheet {main}><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c>'
                 '<c r="B1" t="inlineStr"><is><t>title</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>L1'
                 '</t></is></c>')
        end = ('</row><row r="3"><c r="A3" t="inlineStr"><is><t>L2</t></is></c><c r="B3" t="inlineStr"><is><t>Two'
               '</t></is></c></row></sheetData></worksheet>')
        if shared:
            huge(z, "xl/sharedStrings.xml", f'<sst {main} count="1"><si><t>', "</t></si></sst>")
            z.writestr("xl/worksheets/sheet1.xml", start + '<c r="B2" t="s"><v>0</v></c>' + end)
        else:
            huge(z, "xl/worksheets/sheet1.xml", start + '<c r="B2" t="inlineStr"><is><t>', "</t></is></c>" + end)


@pytest.mark.parametrize("shared", [False, True], ids=["inline", "shared"])
def test_a_cell_of_64_mb_of_text_is_refused_in_bounded_memory(tmp_path, shared):
    """Was: bomb.xlsx (one inline cell of 3 GB, zipped to 3 MB) peaked at 6.3 GB before its cell was refused: the
    cell's text was gathered whole, then joined (twice its size), and only then measured. A shared string as large
    was held whole too. Now the text is measured as it is read and kept only up to the cell limit (1 MB): the
    reader's peak is bounded by that limit, not by the cell (64 MB here; before, a peak over 128 MB)."""
    import tracemalloc
    path = tmp_path / "bomb.xlsx"
    _one_huge_cell_workbook(path, 64 << 20, shared)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        rows = list(read_proposals(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert errors(rows) == [(2, "title", "too_large"), (3, None, None)]
    assert rows[0].data == {"id": "L1"} and "67,108,864 characters" in rows[0].error.message
    assert rows[1].data == {"id": "L2", "title": "Two"}
    assert peak < 16 << 20, f"peak {peak:,} bytes for a cell of 64 MB"


def test_a_column_map_over_a_wide_file_compares_each_column_a_bounded_number_of_times():
    """Was: wide.csv (100,000 columns, one row) took 190 s with a --columns profile and 3.5 s without: renaming
    looked for columns that would give one field twice by counting each new name in the whole list (n^2
    comparisons). The titles here count their comparisons; there are at most a few per column now (4,000,000
    for these 2,000 columns before)."""
    from engine.io.readers import renamed
    compared = [0]

    class Title(str):
        __hash__ = str.__hash__

        def __eq__(self, other):
            compared[0] += 1
            return str.__eq__(self, other)
    keys = [Title(f"c{i}") for i in range(2_000)]
    rows = [rows_module.Row(dict.fromkeys(keys, "x"), 2, "wide.csv")]
    out = list(renamed(iter(rows), {"c0": "id"}))
    assert list(out[0].data)[:2] == ["id", "c1"] and len(out[0].data) == 2_000
    assert compared[0] <= 5 * len(keys), f"{compared[0]:,} comparisons for {len(keys):,} columns"


def test_an_error_row_for_a_huge_cell_keeps_the_proposals_id_and_title(tmp_path):
    """Was: longline.csv (a title of 5,000,000 characters on line 2) gave an error row with an empty id although
    L1 was readable: a record the csv module could not read lost all its cells. Now the cells it would have read
    as they are stay on the error row (not the one over the limit, nor any from a cell it could not read on)."""
    path = tmp_path / "longline.csv"
    path.write_text("id;title;budget\nL1;" + "A" * 5_000_000 + ';10\n"L""2";"Two; ""quoted""\r\nlines";7\n'
                    'L3;"x"y;9\nL4;ok;5\n', encoding="utf-8")
    rows = list(read_proposals(path))
    assert [(r.row, r.data, r.error and (r.error.code, r.error.column)) for r in rows] == [
        (2, {"id": "L1", "budget": "10"}, ("too_large", "title")),
        (3, {"id": 'L"2', "title": 'Two; "quoted"\r\nlines', "budget": "7"}, None),
        (5, {"id": "L3"}, ("bad_csv", None)),
        (6, {"id": "L4", "title": "ok", "budget": "5"}, None)]
    out = rows_out(pmo(path))
    assert [(r["id"], r["decision"]) for r in out][:1] == [("L1", "error")]


def test_an_xlsx_row_stored_twice_keeps_its_id_on_the_error_row(tmp_path):
    path = _workbook(tmp_path, [["id", "title"], ["A", "One"], ["B", "Two"]])
    _edit(path, SHEET, lambda xml: xml.replace('<row r="3"', '<row r="2"'))
    rows = list(read_proposals(path))
    assert [(r.row, r.data, r.error and r.error.code) for r in rows] == [
        (2, {"id": "A", "title": "One"}, None), (2, {"id": "B", "title": "Two"}, "bad_xlsx")]


def test_the_cells_an_error_row_keeps_are_those_the_csv_module_reads():
    """The record-end scanner's cells (kept on an error row) against the csv module's own reading, for every record
    the csv module reads: the same cells, quotes, doubled quotes and line ends inside quotes included."""
    import csv as csv_module
    import io

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from engine.io.csvrows import _RecordEnd

    @settings(max_examples=600, deadline=None)
    @given(st.text(alphabet='ab;"\n\r', min_size=1, max_size=16))
    def agree(text):
        text = text if text.endswith("\n") else text + "\n"
        lines = io.StringIO(text, newline="").readlines()
        try:
            rows = list(csv_module.reader(iter(lines), delimiter=";", strict=True))
        except csv_module.Error:
            return
        if len(rows) != 1:
            return
        record, ended = _RecordEnd(";"), False
        for line in lines:
            ended = record.ends_with(line)
            if ended:
                break
        assert ended and record.unread is None
        assert [record.cells.get(k) for k in range(len(rows[0]))] == rows[0], text
    agree()
