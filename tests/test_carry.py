"""Carried columns (``carry:`` in an input profile) and titles in every output: issue #13."""
import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from engine.cli import main
from tests.conftest import ROOT, write_round

PROPOSALS = ROOT / "examples" / "proposals.csv"
TODAY = "2026-12-01"
PROFILE = "columns: {Short description: title}\ncarry: [Short description, Business Unit, \"Cost Centre\"]\n"
CARRIED = ["Short description", "Business Unit", "Cost Centre"]


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv] + ["--today", TODAY, "--no-log", "--workers", "1"], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def export(tmp_path) -> tuple[Path, Path]:
    """examples/proposals.csv as an export: 'title' is 'Short description', a 'Cost Centre' column at the
    end; row 3 has a budget that is no number (an error row), row 4 a formula-like cost centre, row 5 a
    title with a terminal escape sequence."""
    rows = list(csv.reader(io.StringIO(PROPOSALS.read_text(encoding="utf-8"), newline="")))
    header = ["Short description" if h == "title" else h for h in rows[0]] + ["Cost Centre"]
    body = [r + [f"CC-{i:03d}"] for i, r in enumerate(rows[1:], start=2)]
    budget = header.index("budget")
    body[1][budget] = "lots"  # line 3
    body[2][-1] = '=HYPERLINK("http://x","y")'  # line 4
    body[3][1] = "Evil \x1b[31mred\x1b[0m title"  # line 5
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header] + body)
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    return path, profile


def expected(row: list[str]) -> dict:
    return dict(zip(CARRIED, row))


def test_carried_columns_reach_csv_and_json_outputs_as_read(export, tmp_path):
    path, profile = export
    code, out, _ = run("evaluate", path, "--columns", profile, "--format", "csv")
    assert code == 1  # the error row
    table = list(csv.reader(io.StringIO(out)))
    assert table[0][-3:] == CARRIED
    by_id = {r[0]: dict(zip(table[0], r)) for r in table[1:]}
    assert len(by_id) == 53
    assert [by_id["PRJ-1001"][c] for c in CARRIED] == ["Smart meter data lake", "IT", "CC-002"]
    error = by_id["PRJ-1002"]
    assert error["decision"] == "error" and error["row"] == "3"
    assert [error[c] for c in CARRIED] == ["Customer self-service portal redesign", "Customer", "CC-003"]
    assert by_id["PRJ-1003"]["Cost Centre"] == "'=HYPERLINK(\"http://x\",\"y\")"  # neutralised like any cell
    for fmt in ("jsonl", "json"):
        code, out, _ = run("evaluate", path, "--columns", profile, "--format", fmt)
        decided = json.loads(out) if fmt == "json" else [json.loads(line) for line in out.splitlines()]
        assert decided[0]["carried"] == {"Short description": "Smart meter data lake", "Business Unit": "IT",
                                         "Cost Centre": "CC-002"}
        assert decided[1]["decision"] == "error" and decided[1]["carried"]["Cost Centre"] == "CC-003"
        assert decided[2]["carried"]["Cost Centre"] == '=HYPERLINK("http://x","y")'  # JSON: as read
        assert all(list(d["carried"]) == CARRIED for d in decided)


def test_carried_columns_reach_the_table_escaped_and_the_workbook_as_text(export, tmp_path):
    path, profile = export
    code, out, _ = run("evaluate", path, "--columns", profile)
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["PROPOSAL", "SHORT", "DESCRIPTI…", "BUSINESS", "UNIT"]
    assert "TITLE " not in lines[0]  # the title is carried: not shown twice
    error = next(line for line in lines if line.startswith("PRJ-1002"))
    assert "Customer self-s…" in error and "Customer" in error and "CC-003" in error and "ERROR" in error
    assert "\x1b" not in out and "Evil" in next(line for line in lines if line.startswith("PRJ-1004"))
    book = tmp_path / "d.xlsx"
    assert run("evaluate", path, "--columns", profile, "--format", "xlsx", "--out", book)[0] == 1
    read_only = load_workbook(book, read_only=True)  # keeps the file open until closed
    sheet = list(read_only["Decisions"].iter_rows(values_only=True))
    read_only.close()
    assert list(sheet[0][-3:]) == CARRIED
    assert sheet[2][1] == "error" and list(sheet[2][-3:]) == ["Customer self-service portal redesign", "Customer",
                                                               "CC-003"]
    cell = load_workbook(book)["Decisions"].cell(row=4, column=len(sheet[0]))
    assert cell.value == '=HYPERLINK("http://x","y")' and cell.data_type == "s"  # text, never a formula


def test_carried_columns_and_titles_reach_the_report_and_its_error_rows(export, tmp_path):
    path, profile = export
    report = tmp_path / "r.html"
    run("evaluate", path, "--columns", profile, "--format", "csv", "--out", tmp_path / "d.csv", "--report", report)
    page = report.read_text(encoding="utf-8")
    head = page[page.index('<table id="proposals">'):]
    head = head[:head.index("</thead>")]
    assert all(f"<th>{c}</th>" in head for c in CARRIED)
    error_row = next(r for r in page.split("<tr") if 'class="error"' in r and "PRJ-1002" in r)
    assert "Customer self-service portal redesign" in error_row and "<td>CC-003</td>" in error_row
    explained = page[page.index("Each decision explained"):]
    assert "PRJ-1002 · Customer self-service portal redesign" in explained and "Cost Centre: CC-003" in explained


def test_titles_are_shown_without_a_carry(tmp_path):
    """The policy's title field names each proposal in the table and on error rows, with no profile at all."""
    rows = PROPOSALS.read_text(encoding="utf-8").splitlines(keepends=True)
    broken = rows[2].replace(",750000,", ",lots,")
    assert broken != rows[2]
    path = tmp_path / "p.csv"
    path.write_text(rows[0] + rows[1] + broken, encoding="utf-8")
    code, out, _ = run("evaluate", path)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["PROPOSAL", "TITLE", "DECISION"]
    assert "Smart meter data lake" in lines[2]
    error = lines[3]
    assert error.startswith("PRJ-1002") and "Customer self-service portal …" in error and "ERROR" in error
    report = tmp_path / "r.html"
    run("evaluate", path, "--format", "csv", "--out", tmp_path / "d.csv", "--report", report)
    error_row = next(r for r in report.read_text(encoding="utf-8").split("<tr") if 'class="error"' in r)
    assert "Customer self-service portal redesign" in error_row
    code, out, _ = run("evaluate", path, "--format", "jsonl")  # machine outputs are unchanged without a carry
    assert all("carried" not in json.loads(line) and "title" not in json.loads(line) for line in out.splitlines())


def test_the_csv_header_is_the_profiles_even_when_the_first_row_is_an_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,title,budget,Dept\nP1,First,nope,Ops\nP2,Second,1000,IT\n", encoding="utf-8")
    profile = tmp_path / "c.yaml"
    profile.write_text("carry: [title, Dept, Missing]\n", encoding="utf-8")
    code, out, err = run("evaluate", path, "--columns", profile, "--format", "csv")
    table = list(csv.reader(io.StringIO(out)))
    assert table[0][-3:] == ["title", "Dept", "Missing"]
    assert table[1][1] == "error" and table[1][-3:] == ["First", "Ops", ""]
    assert table[2][-3:] == ["Second", "IT", ""]
    assert "carried column 'Missing' is not in the file" in err  # said, not silently empty


def test_carried_outputs_are_byte_identical_for_any_number_of_workers(tmp_path):
    batch = write_round(tmp_path / "many.csv", 3000, seed=3, line_breaks=True)
    profile = tmp_path / "c.yaml"
    profile.write_text("carry: [title, sponsor, risk]\n", encoding="utf-8")
    outputs = {}
    for fmt in ("csv", "jsonl"):
        for workers in ("1", "2"):
            out = tmp_path / f"{workers}.{fmt}"
            code = main(["evaluate", str(batch), "--columns", str(profile), "--format", fmt, "--no-log",
                         "--today", TODAY, "--workers", workers, "--out", str(out)])
            assert code == 1  # risk 'x' rows
            outputs[fmt, workers] = out.read_bytes()
        assert outputs[fmt, "1"] == outputs[fmt, "2"]
    first = [json.loads(line) for line in outputs["jsonl", "1"].splitlines()]
    assert len(first) == 3000 and first[0]["carried"]["title"].startswith("Proposal 0,\n")
    assert any(d["decision"] == "error" and d["carried"]["risk"] == "x" for d in first)


def test_resume_keeps_carried_columns_and_refuses_other_ones(export, tmp_path):
    path, profile = export
    out = tmp_path / "d.csv"
    argv = ("evaluate", path, "--columns", profile, "--format", "csv", "--out", out)
    assert run(*argv)[0] == 1
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:20]), encoding="utf-8")  # interrupted after 19 rows
    before = out.read_bytes()
    other = tmp_path / "other.yaml"
    other.write_text(PROFILE.replace('"Cost Centre"', "sponsor"), encoding="utf-8")
    code, _, err = run(*argv[:3], other, *argv[4:], "--resume")
    assert code == 2 and "cannot resume" in err and out.read_bytes() == before
    code, _, err = run(*argv, "--resume")
    assert code == 1, err
    assert out.read_text(encoding="utf-8").splitlines(keepends=True) == lines


@pytest.mark.parametrize("text, where, words", [
    ("carry: 5\n", ":1:8:", "carry is a list of column titles"),
    ("carry: [Dept, dept]\n", ":1:15:", "carried twice"),
    ("carry: [id]\n", ":1:9:", "already an output column"),
    ("carry: [[a]]\n", ":1:9:", "is not a column title"),
])
def test_carry_errors_are_located(tmp_path, text, where, words):
    profile = tmp_path / "c.yaml"
    profile.write_text(text, encoding="utf-8")
    code, _, err = run("evaluate", PROPOSALS, "--columns", profile)
    assert code == 2 and f"{profile}{where} error[bad_profile]: " in err and words in err, err


def test_rank_carries_the_profiles_columns_and_titles_as_evaluate_does(export, tmp_path):
    """Was: pmo rank --report dropped the carried columns and the error rows' titles (pmo evaluate --report had
    them), and pmo rank's CSV, JSON and workbook carried no column at all."""
    path, profile = export
    report = tmp_path / "r.html"
    code, out, _ = run("rank", path, "--columns", profile, "--format", "csv", "--report", report)
    assert code == 1  # the error row
    page = report.read_text(encoding="utf-8")
    head = page[page.index('<table id="proposals">'):]
    assert all(f"<th>{c}</th>" in head[:head.index("</thead>")] for c in CARRIED)
    error_row = next(r for r in page.split("<tr") if 'class="error"' in r and "PRJ-1002" in r)
    assert "Customer self-service portal redesign" in error_row and "<td>CC-003</td>" in error_row
    table = list(csv.reader(io.StringIO(out)))
    assert table[0][-3:] == CARRIED  # after the ranking's own columns, as evaluate puts them after its own
    by_id = {r[1]: dict(zip(table[0], r)) for r in table[1:]}
    assert [by_id["PRJ-1001"][c] for c in CARRIED] == ["Smart meter data lake", "IT", "CC-002"]
    assert by_id["PRJ-1002"]["decision"] == "error" and by_id["PRJ-1002"]["Cost Centre"] == "CC-003"
    assert by_id["PRJ-1003"]["Cost Centre"] == "'=HYPERLINK(\"http://x\",\"y\")"  # neutralised like any cell
    code, out, _ = run("rank", path, "--columns", profile, "--format", "json")
    entries = {e["id"]: e for e in json.loads(out)["entries"]}
    assert entries["PRJ-1001"]["carried"] == {"Short description": "Smart meter data lake", "Business Unit": "IT",
                                              "Cost Centre": "CC-002"}
    assert entries["PRJ-1002"]["carried"]["Cost Centre"] == "CC-003"
    book = tmp_path / "r.xlsx"
    run("rank", path, "--columns", profile, "--format", "xlsx", "--out", book)
    sheet = load_workbook(book)["Ranking"]
    header = [c.value for c in sheet[1]]
    assert all(c in header for c in CARRIED)
    code, out, _ = run("rank", path, "--columns", profile)  # the table: as pmo evaluate's names each proposal
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["RANK", "PROPOSAL", "SHORT", "DESCRIPTI…", "BUSINESS", "UNIT"]
    error = next(line for line in lines if line.split()[:1] == ["PRJ-1002"])
    assert "Customer self-s…" in error and "CC-003" in error and "ERROR" in error
    assert "\x1b" not in out
    code, out, _ = run("rank", PROPOSALS)  # without a carry: the policy's title, as pmo evaluate's table
    assert out.splitlines()[0].split()[:3] == ["RANK", "PROPOSAL", "TITLE"]
    code, out, _ = run("rank", PROPOSALS, "--format", "json")  # without a carry, as before
    assert all("carried" not in e for e in json.loads(out)["entries"])
