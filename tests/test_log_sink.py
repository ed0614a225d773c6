"""The decision log of a batch: each entry encoded once (IntakeEncoder writes what Entry and append write, byte for
byte, once its findings are put back together from the finding plan it names), written from a thread with the
output after it, so an output that stops part-way holds no row the log lacks; with one worker and with two."""
import csv
import datetime as dt
import json
import pathlib
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Engine
from engine.cli import main
from engine.decision import Finding, RowError, Verdict
from engine.io.rows import Row
from engine.store import log as store_log
from engine.store.log import DecisionLog, IntakeEncoder, LogError, encoded, expanded, intake_entry
from engine.tasks.evaluate import IntakeRound
from tests.conftest import write_round
from tests.test_faults import FullDisk

REFERENCE = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")).encode


@pytest.fixture(scope="module")
def engine():
    return Engine.load(today=dt.date(2026, 12, 1))


def reference_rows(monkeypatch, engine, pairs, records=None):
    """The rows append() writes, with the json module's own encoder (not the log's faster one)."""
    with monkeypatch.context() as m:
        m.setattr(store_log, "_encode", REFERENCE)
        return encoded(intake_entry(engine, row, d, records[k] if records else None)
                       for k, (row, d) in enumerate(pairs))


def test_the_encoder_writes_what_append_writes_for_a_round(tmp_path, monkeypatch, engine):
    path = write_round(tmp_path / "round.csv", 400, seed=12, line_breaks=True)
    intake = IntakeRound([path], today=dt.date(2026, 12, 1), workers=1)
    triples = list(intake.decide(engine, intake.rows(engine), 400, plain=True))
    pairs, records = [(row, d) for row, d, _ in triples], [record for _, _, record in triples]
    encoder = IntakeEncoder(engine)
    rows = [encoder.row(row, d, record) for (row, d), record in zip(pairs, records)]
    assert [expanded(r) for r in rows] == reference_rows(monkeypatch, engine, pairs, records)
    assert [expanded(encoder.row(row, d, record)) for (row, d), record in zip(pairs, records)] == \
        reference_rows(monkeypatch, engine, pairs, records)  # kept
    # keyed by the record as read (the error rows by their cells), with the key of the cells as written kept as the
    # legacy key: the key an earlier pmo gave the entry
    assert all((r[16] is None) == (d.decision == "error") for r, (_, d) in zip(rows, pairs))
    assert [r[16] for r in rows if r[16] is not None] == [r[0] for r, (_, d) in
                                                           zip(map(expanded, (encoder.row(row, d) for row, d in pairs)),
                                                               pairs) if d.decision != "error"]
    # the findings of a set of fired rules are stored once: an entry holds only the reasons its row renders
    planned = [r for r in rows if r[15] is not None]
    assert len(planned) == sum(d.decision != "error" for _, d in pairs) > 300
    assert all('"rule"' not in r[8] and r[14] == r[15][0] for r in planned)
    assert len({r[14] for r in planned}) == len({tuple(f.rule for f in d.findings) for _, d in pairs
                                                  if d.decision != "error"})


@pytest.mark.parametrize("workers", [1, 2])
def test_a_logged_round_reads_back_with_its_findings_whole(tmp_path, log_target, workers):
    """What `pmo evaluate` logs (the findings of each set of fired rules stored once) reads back as each decision's
    findings, on SQLite and PostgreSQL, from one worker and from two (whose entries the parent writes)."""
    path = write_round(tmp_path / "round.csv", 600, seed=14, line_breaks=True)
    out = tmp_path / "out.jsonl"
    assert main(["evaluate", str(path), "--format", "jsonl", "--out", str(out), "--log", str(log_target), "--today",
                 "2026-12-01", "--workers", str(workers)]) in (0, 1)
    decided = {d["row"]: d for d in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    with DecisionLog(log_target) as log:
        entries = log.query()
        (plans,), = log._db.execute("SELECT count(*) FROM finding_plans")
        (whole,), = log._db.execute("SELECT count(*) FROM decisions WHERE plan IS NULL")
    assert len(entries) == len(decided) == 600
    for entry in entries:
        want = decided[entry["input"]["line"]]
        assert entry["findings"] == (want["findings"] or want["errors"]), entry["input"]["line"]
        assert "plan" not in entry
    assert 0 < plans < 100 and whole == sum(d["decision"] == "error" for d in decided.values())


def test_an_entry_whose_finding_plan_is_missing_is_a_log_error_not_a_guess(tmp_path):
    path = write_round(tmp_path / "round.csv", 50, seed=15)
    log = tmp_path / "log.sqlite"
    assert main(["evaluate", str(path), "--format", "csv", "--out", str(tmp_path / "o.csv"), "--log", str(log),
                 "--today", "2026-12-01"]) in (0, 1)
    with sqlite3.connect(log) as db:
        db.execute("DELETE FROM finding_plans WHERE id = (SELECT plan FROM decisions WHERE plan IS NOT NULL LIMIT 1)")
    with DecisionLog(log) as opened, pytest.raises(LogError, match="names the finding plan .* which does not fit it"):
        opened.query()


TEXT = st.text(alphabet=st.sampled_from(["a", "é", "\ud800", "\x00", '"', "\\", "😀", "\u2028", " "]), max_size=5)


@settings(max_examples=200, deadline=None)
@given(data=st.one_of(st.none(), st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.none()), max_size=4)),
       ident=st.one_of(st.none(), TEXT), line=st.one_of(st.none(), st.integers(0, 10**6)),
       reasons=st.lists(TEXT, max_size=3), routes=st.lists(TEXT, max_size=2), source=st.one_of(st.none(), TEXT),
       read_digest=st.one_of(st.none(), TEXT))
def test_the_encoder_writes_what_append_writes_for_any_text(engine, data, ident, line, reasons, routes, source,
                                                            read_digest):
    findings = [Finding(rule=f"r{k}", effect="review", reason=r, route=None, source="x.yaml:1") for k, r in
                enumerate(reasons)]
    errors = [] if findings else [RowError(row=line, code="bad_value", message="".join(reasons) or "bad")]
    decision = Verdict(ident, "review" if findings else "error", findings, routes, {}, errors, engine.policy_hash,
                       "2026-12-01", source, line, read_digest=read_digest)  # keyed by it (a worker's) when given
    row = Row(data, line, source)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(store_log, "_encode", REFERENCE)
        expected = encoded([intake_entry(engine, row, decision)])
    assert [expanded(IntakeEncoder(engine).row(row, decision))] == expected


@pytest.fixture(scope="module")
def shared(engine):
    return IntakeEncoder(engine)  # one encoder for every example: its templates and rule texts are kept between them


CELLS = st.text(alphabet=st.sampled_from(["a", "%", "s", "é", "\ud800", "\x00", "\x1f", '"', "\\", "\u2028", " "]),
                max_size=4)


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.dictionaries(st.sampled_from(["id", "b%s", "a\"", "é", "z"]), CELLS, min_size=1, max_size=5),
                      st.dictionaries(st.sampled_from(["id", "b%s"]), st.one_of(CELLS, st.none(), st.integers()),
                                      max_size=2)),
       reasons=st.lists(CELLS, max_size=3), effects=st.sampled_from(["review", "reject"]),
       route=st.one_of(st.none(), CELLS), origin=st.one_of(st.none(), CELLS))
def test_one_encoder_writes_what_append_writes_row_after_row(engine, shared, data, reasons, effects, route, origin):
    """The templates of columns and the texts of rules, kept from one row to the next, give the reference bytes
    for rows of any columns, cells that need escaping or are not text, and rules of any fields."""
    findings = [Finding(rule=f"r{k % 2}", effect=effects, reason=r, route=route, source="x.yaml:1", origin=origin)
                for k, r in enumerate(reasons)]
    errors = [] if findings else [RowError(row=2, code="bad_value", message="bad")]
    decision = Verdict(data.get("id") if isinstance(data.get("id"), str) else None, "review" if findings else "error",
                       findings, [route] if route else [], {}, errors, engine.policy_hash, "2026-12-01", "in.csv", 2)
    row = Row(data, 2, "in.csv")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(store_log, "_encode", REFERENCE)
        expected = encoded([intake_entry(engine, row, decision)])
    assert [expanded(shared.row(row, decision))] == expected


def rows_out(path):
    """The row numbers of a CSV output that may stop part-way: its last record (perhaps cut short) is left out."""
    with path.open(newline="", encoding="utf-8") as f:
        return [int(r["row"]) for r in list(csv.DictReader(f))[:-1]]


def lines_logged(log):
    with sqlite3.connect(log) as db:
        return {json.loads(text)["line"] for (text,) in db.execute("select input from decisions")}


@pytest.mark.parametrize("workers", [1, 2])
def test_an_output_that_stops_part_way_holds_no_row_the_log_lacks(tmp_path, monkeypatch, capsys, workers):
    path = write_round(tmp_path / "round.csv", 3000, seed=13, line_breaks=True)
    out, log = tmp_path / "out.csv", tmp_path / "log.sqlite"
    real_open = pathlib.Path.open

    def open_on_a_small_disk(self, mode="r", *args, **kwargs):
        f = real_open(self, mode, *args, **kwargs)
        return FullDisk(f, 150_000) if self == out and mode[0] in "wa" else f

    monkeypatch.setattr(pathlib.Path, "open", open_on_a_small_disk)
    assert main(["evaluate", str(path), "--format", "csv", "--out", str(out), "--log", str(log), "--today",
                 "2026-12-01", "--workers", str(workers)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    monkeypatch.setattr(pathlib.Path, "open", real_open)
    written = rows_out(out)
    assert len(written) > 100
    assert set(written) <= lines_logged(log)


HEADER = "id,title,business_unit,sponsor,sponsor_level,alignment,category,budget,opex_per_year,benefit,cash_flows," \
         "start_date,end_date,risk,complexity,regulatory,personal_data,privacy_assessment,vendor,vendor_approved,headcount"
FILLER = 230  # rows before the one that changes: past the rows the parent reads itself, so with two workers a worker
# decides it and makes its record's digest (the record itself does not come back)


def proposal_line(ident="PRJ-1001", budget="180000", title="Smart meter data lake"):
    return (f"{ident},{title},IT,Maria Jensen,director,operational-efficiency:strong;customer-experience:low,"
            f"efficiency,{budget},20000,520000,-180000;90000;120000;140000;150000,2027-03-01,2027-11-30,2,2,no,no,,,,5")


def round_with(path, last):
    """A file of FILLER proposals, then ``last`` (at line FILLER + 2)."""
    lines = [proposal_line(f"PRJ-{2000 + k}", str(100_000 + k)) for k in range(FILLER)]
    path.write_text("\n".join([HEADER, *lines, last]) + "\n", encoding="utf-8")


def evaluated(path, log, workers=1):
    assert main(["evaluate", str(path), "--format", "csv", "--out", str(path.with_suffix(".out.csv")), "--log",
                 str(log), "--today", "2026-12-01", "--workers", str(workers)]) == 0
    with DecisionLog(log) as opened:
        return opened.query(kind="intake")


@pytest.mark.parametrize("workers", [1, 2])
def test_an_intake_row_written_another_way_that_reads_the_same_is_one_entry(tmp_path, workers):
    """The key of an intake entry comes from the row as read (its typed values, with its file and line), not its
    cells as written: an id in blanks and 180000.0 for 180000 is the same decision, logged once; a row that reads
    differently is a new entry. The entry keeps the row as first given."""
    path, log = tmp_path / "p.csv", tmp_path / "log.sqlite"
    round_with(path, proposal_line())
    assert len(evaluated(path, log, workers)) == FILLER + 1
    round_with(path, proposal_line("PRJ-1001  ", "180000.0"))
    entries = evaluated(path, log, workers)
    assert len(entries) == FILLER + 1 and entries[-1]["input"]["row"]["id"] == "PRJ-1001"
    round_with(path, proposal_line(budget="180001"))
    entries = evaluated(path, log, workers)
    assert len(entries) == FILLER + 2 and entries[-1]["input"]["row"]["budget"] == "180001"


@pytest.mark.parametrize("workers", [1, 2])
def test_an_intake_entry_logged_by_an_earlier_pmo_is_still_recognised(tmp_path, engine, workers):
    """An entry an earlier pmo keyed by the row as written (its legacy key) is the same decision: not logged again,
    whether the parent or a worker encodes the row."""
    path, log = tmp_path / "p.csv", tmp_path / "log.sqlite"
    round_with(path, proposal_line())
    with path.open(newline="", encoding="utf-8") as f:
        raw = list(csv.DictReader(f))[-1]
    earlier = store_log.Entry("intake", "PRJ-1001", None, {"row": raw, "source": str(path), "line": FILLER + 2},
                              engine.policy_hash, "accept", [], [], as_of="2026-12-01", backend=engine.backend)
    with DecisionLog(log) as opened:
        assert opened.append([earlier]) == 1
    entries = evaluated(path, log, workers)
    assert len(entries) == FILLER + 1
    assert [e["key"] for e in entries if e["project"] == "PRJ-1001"] == [earlier.key]
