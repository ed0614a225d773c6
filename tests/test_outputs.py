"""What leaves the engine: CSV and XLSX cells a spreadsheet will not run, a terminal that receives no control
characters, writers that take any Python str, the decision log's key, numbers in reasons."""
import csv
import io
import json
import re
import sqlite3
from decimal import Decimal

import openpyxl
import pytest

from engine.cli import main
from engine.decision import Decision, Finding, RowError
from engine.expr.values import display
from engine.io.writers import inert, write_decisions, write_xlsx
from engine.store import SCHEMA_VERSION, DecisionLog, Entry
from tests.conftest import ROOT

FORMULA = re.compile('^"?[=+\\-@\t\r]')  # a physical line a naive splitter would hand to a spreadsheet


def decision(ident, reason="why", error=None):
    return Decision(id=ident, decision="error" if error else "reject", policy_hash="h", as_of="2026-12-01",
                    source="in.csv", row=2, findings=[] if error else [
                        Finding(rule="r", effect="reject", reason=reason, source="intake.yaml:3")],
                    errors=[RowError(row=2, code="bad", message=error)] if error else [])


def csv_text(*decisions):
    out = io.StringIO()
    write_decisions(list(decisions), out, "csv")
    return out.getvalue()


@pytest.mark.parametrize("ident", ["PRJ-1\r=cmd|' /C calc'!A0", "PRJ-1\n=cmd|' /C calc'!A0",
                                   "PRJ-1\r\n@SUM(1)", "\r=1+1", "a\n \u00a0+1"])
def test_a_line_break_in_a_csv_cell_never_starts_a_row(ident):
    text = csv_text(decision(ident, reason=f"because\r{ident}"), decision("PRJ-2"))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert [r[0] for r in rows[1:]] == [inert(ident), "PRJ-2"]  # one cell, not a new row
    assert rows[1][0].replace("'", "") == ident.replace("'", "")  # only the neutralising quotes are added
    for line in re.split("\r\n|\r|\n", text):  # a tool that splits on any line break sees no formula either
        assert not FORMULA.match(line.lstrip(" \u00a0")), line


@pytest.mark.parametrize("text", ["=1+1", " =1+1", "\u00a0=1+1", "\uff1d1+1", "\u200b=1+1", "\u3000@SUM(1)",
                                  " +cmd", "\ufeff-1+1", "\t=1", "\uff0b1", "\uff20SUM(1)", "\uff0d1"])
def test_near_formula_cells_are_neutralised(text):
    assert inert(text) == "'" + text
    assert csv_text(decision(text)).splitlines()[1].startswith("'")


@pytest.mark.parametrize("text", ["PRJ-1", " leading space", "a=b", "x\ny", "\u00a0note", "", "1e5"])
def test_plain_text_is_left_alone(text):
    assert inert(text) == text
    assert inert(-5) == -5 and inert(None) is None


HOSTILE = "\ud800PRJ\udfff-\ud83d\ude00"  # lone surrogates, and a pair never joined


def _strict_stream():
    raw = io.BytesIO()
    return raw, io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "table"])
def test_no_writer_fails_on_a_surrogate(fmt):
    raw, out = _strict_stream()
    write_decisions([decision(HOSTILE, reason=f"r {HOSTILE}"), decision("X", error=f"bad {HOSTILE}")], out, fmt)
    out.flush()
    text = raw.getvalue().decode("utf-8")  # valid UTF-8
    if fmt == "json":
        assert json.loads(text)[0]["id"] == HOSTILE.replace("\ud83d\ude00", "😀")  # exact: escapes of the same text
    elif fmt == "jsonl":
        assert json.loads(text.splitlines()[1])["errors"][0]["message"] == "bad " + HOSTILE.replace("\ud83d\ude00", "😀")
    else:
        assert "\\ud800PRJ\\udfff-\\ud83d\\ude00" in text  # one documented way: the code point as \udXXX


def test_the_xlsx_and_the_log_take_surrogates(tmp_path, log_target):
    path = tmp_path / "d.xlsx"
    write_xlsx([decision(HOSTILE, reason=HOSTILE)], path)
    sheet = openpyxl.load_workbook(path)["Decisions"]
    assert sheet.cell(2, 1).value == "\\ud800PRJ\\udfff-\\ud83d\\ude00"
    with DecisionLog(log_target) as log:
        assert log.append([Entry("intake", HOSTILE, None, {"id": HOSTILE}, "h", "reject", [{"reason": HOSTILE}], [],
                                 as_of="2026-12-01")]) == 1
        entry = log.query()[0]
    assert entry["input"]["id"] == HOSTILE.replace("\ud83d\ude00", "😀") and entry["project"].startswith("\\ud800")


ESCAPES = "\x1b[2K\x1b[1A\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07\x9b31m\x08\r\u202e"


def _raw_controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c != "\n") or 0x7f <= ord(c) < 0xa0 or c == "\u202e"]


def test_the_table_writer_shows_control_characters_instead_of_sending_them():
    out = io.StringIO()
    write_decisions([decision("PRJ" + ESCAPES, reason=ESCAPES), decision("E", error=ESCAPES)], out, "table")
    assert _raw_controls(out.getvalue()) == []
    assert "PRJ\\x1b[2K" in out.getvalue()


@pytest.fixture
def hostile_round(tmp_path):
    lines = (ROOT / "examples" / "proposals.csv").read_text(encoding="utf-8").splitlines()
    first = next(csv.reader([lines[1]]))
    first[0] = "PRJ" + ESCAPES
    body = io.StringIO()
    csv.writer(body, lineterminator="\n").writerow(first)
    path = tmp_path / "hostile.csv"
    path.write_text("\n".join([lines[0], body.getvalue().rstrip("\n")] + lines[2:5]) + "\n", encoding="utf-8")
    return path


def test_no_command_sends_control_characters_to_the_terminal(hostile_round, tmp_path):
    log = tmp_path / "log.sqlite"
    outputs = []
    for argv in (["evaluate", hostile_round, "--log", log, "--today", "2026-12-01"],
                 ["explain", hostile_round, "--id", "PRJ" + ESCAPES, "--today", "2026-12-01"],
                 ["explain", hostile_round, "--id", "none" + ESCAPES, "--today", "2026-12-01"],
                 ["log", "--db", log],
                 ["rank", hostile_round, "--today", "2026-12-01"]):
        out, err = io.StringIO(), io.StringIO()
        code = main(list(map(str, argv)), out, err)
        assert code in (0, 1, 2), err.getvalue()
        outputs.append(out.getvalue() + err.getvalue())
        assert _raw_controls(out.getvalue()) == [] and _raw_controls(err.getvalue()) == [], argv
    assert any("\\x1b[2K" in text for text in outputs)


def test_json_output_stays_exact_json(hostile_round, tmp_path):
    for fmt in ("json", "jsonl"):
        out, err = io.StringIO(), io.StringIO()
        assert main(["evaluate", str(hostile_round), "--format", fmt, "--no-log", "--today", "2026-12-01"],
                    out, err) in (0, 1)
        assert _raw_controls(out.getvalue()) == []
        data = json.loads(out.getvalue()) if fmt == "json" else [json.loads(x) for x in out.getvalue().splitlines()]
        assert data[0]["id"].startswith("PRJ\x1b[2K\x1b[1A\x1b]8;;")  # the same text, exact in JSON


@pytest.mark.parametrize("value, shown", [(Decimal("1e300"), "1e+300"), (10 ** 300, "1e+300"),
                                          (1e300, "1e+300"), (Decimal("123456789012345678"), "1.23456789012346e+17"),
                                          (Decimal("-2.5e20"), "-2.5e+20"), (Decimal("999999999999999"),
                                                                              "999,999,999,999,999"),
                                          (Decimal("1250000"), "1,250,000"), (Decimal("0.25"), "0.25"),
                                          # found by a new user: a reason said 1,250,000 of 1,250,000.50
                                          (Decimal("1250000.50"), "1,250,000.50"), (1250000.5, "1,250,000.50"),
                                          (Decimal("1234.5"), "1,234.50"), (1250000.0, "1,250,000")])
def test_numbers_beyond_15_significant_digits_are_shown_in_scientific_notation(value, shown):
    assert display(value) == shown


def test_a_reason_shows_1e300_in_scientific_notation(write_policy):
    from engine import Engine
    folder = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, budget: number}\nrules:\n"
                           "  - id: big\n    when: budget > 0\n    effect: flag\n    reason: 'budget {budget}'\n"})
    found = Engine.load(folder, backend="reference").evaluate({"id": "A", "budget": "1e300"})
    assert [f.reason for f in found.findings] == ["budget 1e+300"]


DATED = ("kind: intake\nfields: {id: string, end: date}\nrules:\n  - id: ended\n    when: end < today()\n"
         "    effect: reject\n    reason: 'ended'\n")


def test_the_log_keeps_one_decision_per_date_and_back_end(write_policy, tmp_path, log_target):
    folder = write_policy({"intake.yaml": DATED})
    data = tmp_path / "p.csv"
    data.write_text("id,end\nA,2027-06-01\n", encoding="utf-8")
    log = log_target  # a SQLite file, then a PostgreSQL log

    def run(today, backend="rete"):
        assert main(["evaluate", str(data), "--policies", str(folder), "--log", str(log), "--today", today,
                     "--backend", backend], io.StringIO(), io.StringIO()) == 0

    run("2026-12-01")
    run("2028-01-01")
    run("2026-12-01")  # the same run again: nothing new
    run("2028-01-01")
    with DecisionLog(log) as opened:
        entries = opened.query()
    assert [(e["outcome"], e["as_of"], e["backend"]) for e in entries] == [
        ("accept", "2026-12-01", "rete"), ("reject", "2028-01-01", "rete")]
    run("2028-01-01", "reference")
    with DecisionLog(log) as opened:
        assert len(opened.query()) == 3


OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, time TEXT NOT NULL, kind TEXT NOT NULL,
    project TEXT, gate TEXT, input_hash TEXT NOT NULL, policy_hash TEXT NOT NULL, outcome TEXT NOT NULL,
    findings TEXT NOT NULL, approvers TEXT NOT NULL, override TEXT, input TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_project ON decisions(project);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions(time);
"""  # the log as pmo wrote it before the key covered the date and the back end (user_version 0)


def test_a_log_written_by_the_old_schema_opens_and_keeps_its_entries(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO decisions (key, time, kind, project, gate, input_hash, policy_hash, outcome, findings, "
                   "approvers, override, input) VALUES ('k1', '2026-01-01T00:00:00+00:00', 'intake', 'P1', NULL, 'ih', "
                   "'ph', 'accept', '[]', '[]', NULL, '{\"row\": {\"id\": \"P1\"}}')")
    db.close()
    with DecisionLog(path) as log:
        old = log.query()
        assert [(e["project"], e["outcome"], e["as_of"], e["backend"]) for e in old] == [("P1", "accept", None, None)]
        assert log.append([Entry("intake", "P1", None, {"row": {"id": "P1"}}, "ph", "reject", [], [],
                                 as_of="2028-01-01", backend="rete")]) == 1
    with DecisionLog(path) as log:  # opening again migrates nothing twice
        assert [e["outcome"] for e in log.query(project="P1")] == ["accept", "reject"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT version, applied IS NULL FROM pmo_schema ORDER BY version").fetchall() == [
            (0, 1)] + [(v, 0) for v in range(1, SCHEMA_VERSION + 1)]  # version 0 was there before pmo_schema;
        # the later ones applied on opening
    db.close()


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_a_surrogate_in_the_input_never_makes_a_command_crash(tmp_path, fmt):
    import subprocess
    import sys
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "P\\ud800", "title": "lone \\udfff", "budget": 5}\n'
                    '{"id": "Q", "title": "pair \\ud83d\\ude00", "budget": 5}\n', encoding="utf-8")
    base = [sys.executable, "-m", "engine.cli", "evaluate", str(data), "--today", "2026-12-01", "--format", fmt,
            "--log", str(tmp_path / "log.sqlite")]
    env = {"PYTHONIOENCODING": "utf-8:strict", "PATH": "/usr/bin:/bin"}
    for argv in (base, base + ["--out", str(tmp_path / f"d.{fmt}")] if fmt != "table" else base,
                 [sys.executable, "-m", "engine.cli", "rank", str(data), "--today", "2026-12-01",
                  "--report", str(tmp_path / "r.html")]):
        result = subprocess.run(argv, capture_output=True, cwd=ROOT, env=env, timeout=120)
        assert result.returncode in (0, 1, 2), result.stderr.decode("utf-8", "replace")
        result.stdout.decode("utf-8"), result.stderr.decode("utf-8")  # valid UTF-8 out
    subprocess.run([sys.executable, "-m", "engine.cli", "log", "--db", str(tmp_path / "log.sqlite")], check=True,
                   capture_output=True, cwd=ROOT, env=env, timeout=120)
