"""--resume after an interruption, column maps and aliases, the Conflicts sheet."""
import csv
import io
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from engine.cli import main
from engine.io.resume import record_path, resume_point
from tests.conftest import ROOT, ROWS


def evaluate(*argv):
    return main(["evaluate", *map(str, argv), "--today", "2026-12-01", "--workers", "1"])


def test_resume_point_counts_complete_rows_and_cuts_a_partial_one(tmp_path):
    out = tmp_path / "o.csv"
    out.write_text('id,decision,reasons\nA,accept,"x"\nB,reject,"two\nlines"\nC,review,"cut in a quo', encoding="utf-8")
    point = resume_point(out, "csv")
    assert (point.rows, dict(point.counts), point.cut) == (2, {"accept": 1, "reject": 1}, True)
    assert out.read_bytes()[:point.keep].endswith(b'lines"\n')
    lines = tmp_path / "o.jsonl"
    lines.write_text('{"decision": "accept"}\n{"decision": "error"}\n{"decis', encoding="utf-8")
    point = resume_point(lines, "jsonl")
    assert (point.rows, dict(point.counts), point.cut) == (2, {"accept": 1, "error": 1}, True)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_after_a_kill_loses_and_duplicates_nothing(big_round, tmp_path, fmt):
    whole = tmp_path / f"whole.{fmt}"
    assert evaluate(big_round, "--format", fmt, "--out", whole, "--no-log") == 1  # the 'x' risks are error rows
    out, log = tmp_path / f"resumed.{fmt}", tmp_path / "log.sqlite"
    command = [sys.executable, "-m", "engine.cli", "evaluate", str(big_round), "--format", fmt, "--out", str(out),
               "--log", str(log), "--today", "2026-12-01", "--workers", "1"]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 60
    while (not out.exists() or out.stat().st_size < 200_000) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = out.read_bytes()
    assert 0 < len(partial) < len(whole.read_bytes())  # it really was interrupted half-way
    result = subprocess.run(command + ["--resume"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    assert "resuming" in result.stderr and f"{ROWS:,} rows in" in result.stderr
    assert out.read_bytes() == whole.read_bytes()  # every row once, in order
    with sqlite3.connect(log) as db:
        assert db.execute("select count(*) from decisions").fetchone()[0] == ROWS  # none lost, none twice


def test_resume_refuses_formats_that_cannot_be_appended(tmp_path):
    assert evaluate(ROOT / "examples" / "proposals.csv", "--format", "json", "--out", tmp_path / "x.json",
                    "--resume", "--no-log") == 2


def test_resume_refuses_a_file_that_is_not_a_pmo_output(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("name,amount\nx,1\n", encoding="utf-8")
    assert evaluate(ROOT / "examples" / "proposals.csv", "--format", "csv", "--out", other, "--resume",
                    "--no-log") == 2
    assert other.read_text(encoding="utf-8") == "name,amount\nx,1\n"  # untouched


EXPORT = ("Project ID,Project Name,Total Cost (EUR),Strategic Fit,Exec Sponsor,Expected Benefit,Risk Rating\n"
          "X-1,Grid sensors,180000,grid-resilience:strong,Ann Lee,900000,2\n"
          "X-2,Data lake,,net-zero:low,,100000,3\n")


def test_a_column_map_lets_a_ppm_export_work_as_it_is(tmp_path, capsys):
    export = tmp_path / "export.csv"
    export.write_text(EXPORT, encoding="utf-8")
    mapping = tmp_path / "columns.yaml"
    mapping.write_text("Project ID: id\nproject name: title\nTotal Cost (EUR): budget\nStrategic Fit: alignment\n"
                       "Exec Sponsor: sponsor\nExpected Benefit: benefit\nRisk Rating: risk\n", encoding="utf-8")
    assert evaluate(export, "--columns", mapping, "--format", "csv", "--no-log") == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["id"] for r in rows] == ["X-1", "X-2"]
    assert "budget-missing" in rows[1]["rules"]  # the mapped budget column was read: X-1 has one, X-2 none
    assert "budget-missing" not in rows[0]["rules"]


def test_a_column_map_naming_an_unknown_field_is_refused(tmp_path, capsys):
    mapping = tmp_path / "columns.yaml"
    mapping.write_text("Total Cost: budjet\n", encoding="utf-8")
    assert evaluate(ROOT / "examples" / "proposals.csv", "--columns", mapping, "--no-log") == 2
    assert "did you mean 'budget'" in capsys.readouterr().err


def test_field_aliases_in_the_policy(tmp_path, capsys):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "intake.yaml").write_text(
        "kind: intake\nfields:\n  id: string\n  budget: {type: money, aliases: ['Total Cost (EUR)', 'capex']}\n"
        "rules:\n  - {id: big, when: budget > 100_000, effect: reject, reason: too big}\n", encoding="utf-8")
    data = tmp_path / "in.csv"
    data.write_text("id,total cost (eur)\nA,500000\nB,5\n", encoding="utf-8")
    assert evaluate(data, "--policies", policies, "--format", "csv", "--no-log") == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [(r["id"], r["decision"]) for r in rows] == [("A", "reject"), ("B", "accept")]


def test_xlsx_has_a_conflicts_sheet(tmp_path):
    from openpyxl import load_workbook
    book = tmp_path / "round.xlsx"
    assert main(["rank", str(ROOT / "examples" / "proposals.csv"), "--format", "xlsx", "--out", str(book),
                 "--portfolio", str(ROOT / "examples" / "portfolio.yaml"), "--today", "2026-12-01"]) == 0
    sheets = load_workbook(book, read_only=True)
    assert sheets.sheetnames == ["Ranking", "Decisions", "Findings", "Conflicts"]
    kinds = {row[0] for row in sheets["Conflicts"].iter_rows(min_row=2, values_only=True)}
    sheets.close()  # read-only: the file stays open until closed
    assert {"cycle", "over_allocation", "budget_overrun"} <= kinds


def test_rank_with_two_workers_equals_one(tmp_path, big_round, capsys):
    outputs = []
    for workers in ("1", "2"):
        assert main(["rank", str(big_round), "--format", "csv", "--today", "2026-12-01", "--workers", workers]) == 1
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == ROWS + 1



def test_resume_refuses_another_policy_or_another_input(tmp_path, write_policy, capsys):
    proposals = ROOT / "examples" / "proposals.csv"
    out = tmp_path / "d.csv"
    assert evaluate(proposals, "--format", "csv", "--out", out, "--no-log") == 0
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:20]), encoding="utf-8")  # interrupted after 19 rows
    before = out.read_bytes()
    other = write_policy({"intake.yaml": "kind: intake\nfields: {id: string}\n"})
    assert evaluate(proposals, "--policies", other, "--format", "csv", "--out", out, "--resume", "--no-log") == 2
    assert "mix two policy versions" in capsys.readouterr().err
    shorter = tmp_path / "short.csv"
    shorter.write_text("".join(proposals.read_text(encoding="utf-8").splitlines(keepends=True)[:6]), encoding="utf-8")
    assert evaluate(shorter, "--format", "csv", "--out", out, "--resume", "--no-log") == 2
    assert "more than the input has" in capsys.readouterr().err
    assert out.read_bytes() == before  # nothing was changed
    assert evaluate(proposals, "--format", "csv", "--out", out, "--resume", "--no-log") == 0
    assert out.read_text(encoding="utf-8").splitlines(keepends=True) == lines


def test_resume_with_a_report_is_refused(tmp_path, capsys):
    assert evaluate(ROOT / "examples" / "proposals.csv", "--format", "csv", "--out", tmp_path / "d.csv", "--resume",
                    "--report", tmp_path / "r.html", "--no-log") == 2
    assert "a report needs every row" in capsys.readouterr().err


def test_csv_columns_come_from_the_policy_even_when_the_first_row_is_an_error(tmp_path):
    """Found in review: the header was taken from the first decision, and an error row has no derived values."""
    data = tmp_path / "in.csv"
    lines = (ROOT / "examples" / "proposals.csv").read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join([lines[0], "X-1,,,,,,,,,,,,,,not-a-number"] + lines[1:]) + "\n", encoding="utf-8")
    out = tmp_path / "d.csv"
    assert evaluate(data, "--format", "csv", "--out", out, "--no-log") == 1
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert rows[0][-6:] == ["benefit_cost_ratio", "npv_8", "payback_years", "duration_days", "lead_time_days",
                            "five_year_cost"]
    assert {len(r) for r in rows} == {len(rows[0])}
    assert rows[1][1] == "error" and rows[0][9] == "as_of" and rows[2][9] == "2026-12-01"


def test_resume_keeps_the_date_of_the_interrupted_run(tmp_path, capsys):
    proposals = ROOT / "examples" / "proposals.csv"
    whole, out = tmp_path / "whole.jsonl", tmp_path / "d.jsonl"
    assert main(["evaluate", str(proposals), "--format", "jsonl", "--out", str(whole), "--no-log", "--today",
                 "2025-01-01"]) == 0
    out.write_bytes(b"".join(whole.read_bytes().splitlines(keepends=True)[:10]))
    record_path(out).write_bytes(record_path(whole).read_bytes())  # an output travels with its record
    assert main(["evaluate", str(proposals), "--format", "jsonl", "--out", str(out), "--no-log", "--resume"]) == 0
    assert "today() = 2025-01-01" in capsys.readouterr().err
    assert out.read_bytes() == whole.read_bytes()
    out.write_bytes(b"".join(whole.read_bytes().splitlines(keepends=True)[:10]))
    assert main(["evaluate", str(proposals), "--format", "jsonl", "--out", str(out), "--no-log", "--resume",
                 "--today", "2027-06-01"]) == 2
    assert "mix two dates" in capsys.readouterr().err


def test_an_unreadable_output_is_a_usage_error_not_a_crash(tmp_path, capsys):
    folder = tmp_path / "adir"
    folder.mkdir()
    assert evaluate(ROOT / "examples" / "proposals.csv", "--format", "csv", "--out", folder, "--resume",
                    "--no-log") == 2
    assert "cannot read the earlier output" in capsys.readouterr().err


def test_resume_point_splits_lines_only_on_newline_and_streams(tmp_path):
    import tracemalloc
    out = tmp_path / "o.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        f.write("id,decision,source,row,policy_hash,as_of\n")
        for i in range(200_000):
            f.write(f"P{i}\u2028x\x0c,accept,in.csv,{i + 2},h,2026-12-01\n")
    tracemalloc.start()
    point = resume_point(out, "csv")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert point.rows == 200_000 and not point.cut and point.last["row"] == "200001"
    assert peak < 5_000_000, f"{peak:,} bytes"


def test_a_column_map_that_would_merge_two_columns_is_refused(tmp_path, capsys):
    """Found in review: the column listed last silently won."""
    data = tmp_path / "clash.csv"
    data.write_text("id,title,budget,Total Cost (EUR)\nA,t,100,900000\n", encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("Total Cost (EUR): budget\n", encoding="utf-8")
    assert evaluate(data, "--columns", mapping, "--no-log") == 2
    captured = capsys.readouterr()
    assert "columns 'budget' and 'Total Cost (EUR)' would both give field 'budget'" in captured.err
    assert captured.out == ""  # refused before anything was written


def _interrupted(out, rows: int) -> bytes:
    """Cut an output after its header and ``rows`` rows, as a kill would; return what is left."""
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:rows + 1]))
    return out.read_bytes()


def test_resume_refuses_another_sheet_of_the_same_workbook(tmp_path, capsys):
    from openpyxl import Workbook
    lines = list(csv.reader((ROOT / "examples" / "proposals.csv").read_text(encoding="utf-8").splitlines()))
    book = Workbook()
    first = book.active
    first.title = "Round 1"
    second = book.create_sheet("Round 2")
    for k, row in enumerate(lines):  # the same shape and line numbers, other proposals
        first.append(row)
        second.append(row if k == 0 else [f"B-{k}"] + row[1:])
    workbook = tmp_path / "rounds.xlsx"
    book.save(workbook)
    whole, out = tmp_path / "whole.csv", tmp_path / "d.csv"
    assert evaluate(workbook, "--sheet", "Round 1", "--format", "csv", "--out", whole, "--no-log") == 0
    assert evaluate(workbook, "--sheet", "Round 1", "--format", "csv", "--out", out, "--no-log") == 0
    before = _interrupted(out, 5)
    capsys.readouterr()
    assert evaluate(workbook, "--sheet", "Round 2", "--format", "csv", "--out", out, "--resume", "--no-log") == 2
    assert "--sheet" in capsys.readouterr().err
    assert out.read_bytes() == before  # nothing was changed
    assert evaluate(workbook, "--sheet", "Round 1", "--format", "csv", "--out", out, "--resume", "--no-log") == 0
    assert out.read_bytes() == whole.read_bytes()


def test_resume_refuses_another_column_map_or_an_edited_input(tmp_path, capsys):
    export = tmp_path / "export.csv"
    export.write_text(EXPORT + "".join(f"X-{k},P {k},{k}000,net-zero:low,Bo,5000,2\n" for k in range(3, 12)),
                      encoding="utf-8")
    mapping, other = tmp_path / "columns.yaml", tmp_path / "other.yaml"
    text = ("Project ID: id\nProject Name: title\nTotal Cost (EUR): budget\nStrategic Fit: alignment\n"
            "Exec Sponsor: sponsor\nExpected Benefit: benefit\nRisk Rating: risk\n")
    mapping.write_text(text, encoding="utf-8")
    other.write_text(text.replace("Exec Sponsor: sponsor\n", ""), encoding="utf-8")  # the sponsor column unread
    out = tmp_path / "d.jsonl"
    assert evaluate(export, "--columns", mapping, "--format", "jsonl", "--out", out, "--no-log") == 0
    before = _interrupted(out, 4)
    capsys.readouterr()
    assert evaluate(export, "--columns", other, "--format", "jsonl", "--out", out, "--resume", "--no-log") == 2
    assert "--columns" in capsys.readouterr().err
    export.write_text(export.read_text(encoding="utf-8").replace("X-7,P 7,7000", "X-7,P 7,7500"), encoding="utf-8")
    assert evaluate(export, "--columns", mapping, "--format", "jsonl", "--out", out, "--resume", "--no-log") == 2
    assert "changed" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_resume_refuses_an_output_with_no_record_of_its_inputs(tmp_path, capsys):
    proposals = ROOT / "examples" / "proposals.csv"
    out = tmp_path / "d.csv"
    assert evaluate(proposals, "--format", "csv", "--out", out, "--no-log") == 0
    _interrupted(out, 5)
    for record in tmp_path.glob(".d.csv.*"):
        record.unlink()
    capsys.readouterr()
    assert evaluate(proposals, "--format", "csv", "--out", out, "--resume", "--no-log") == 2
    assert "no record of the inputs" in capsys.readouterr().err
