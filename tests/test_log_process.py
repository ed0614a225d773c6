"""The decision log written by a process of its own (engine/tasks/logwriter.py): the same stored entries as the
thread (and as ``encoded(intake_entry(...))``), the output written only after its entries are committed, a writer
that dies mid-run raised as the log's located error with nothing lost, and a resume after it that adds nothing
twice; with one worker and with two, on SQLite and PostgreSQL. No timing here (docs/benchmarks.md)."""
import csv
import datetime as dt
import gc
import json
import pickle
import sqlite3
import threading

import pytest

from engine import Engine
from engine.cli import main
from engine.store import DecisionLog
from engine.store.log import IntakeEncoder, expanded
from engine.tasks import evaluate as evaluate_module
from engine.tasks import logwriter
from engine.tasks.evaluate import IntakeRound
from engine.tasks.logwriter import LogProcess, PlanCopy, _entries, _packed, _unpacked
from tests.conftest import write_round
from tests.test_log_sink import reference_rows

STORED = ("key", "kind", "project", "gate", "input_hash", "policy_hash", "outcome", "findings", "approvers",
          "override", "input", "as_of", "backend", "plan")


@pytest.fixture(scope="module")
def engine():
    return Engine.load(today=dt.date(2026, 12, 1))


@pytest.fixture
def used(monkeypatch):
    """How many LogProcess writers the test's runs started. A writer is forked only by a process of one thread:
    an earlier test's worker pool may still be winding down its threads, so they are waited for first."""
    gc.collect()
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(timeout=30)
    started = []
    real = LogProcess.__init__

    def counted(self, *args, **kwargs):
        started.append(self)
        real(self, *args, **kwargs)

    monkeypatch.setattr(LogProcess, "__init__", counted)
    return started


def sent_and_encoded(engine, pairs, batch=97):
    """What the writer encodes from what LogProcess.decided sends (pickled, as over the pipe), in batches."""
    sender = LogProcess.__new__(LogProcess)  # the sending half only: no writer started
    sender._plans, sender._new_plans, sender._restart, sender._next_plan = {}, [], False, 0
    sender._items, sender._others, sender._count, sender.batch = [], [], 0, 10**9
    encoder, plans, rows = IntakeEncoder(engine), {}, []
    for start in range(0, len(pairs), batch):
        for row, decision in pairs[start:start + batch]:
            sender.decided(row, decision)
        message = _unpacked(_packed(sender._items, (sender._restart, sender._new_plans, sender._others, [])))
        rows += _entries(message, encoder, plans, logwriter.typer(engine))
        sender._items, sender._others, sender._new_plans, sender._restart = [], [], [], False
        if len(sender._plans) >= logwriter.PLANS_SENT:  # as LogProcess._send does
            sender._plans.clear()
            sender._restart = True
    return rows


def test_the_writer_encodes_what_this_process_encodes(tmp_path, monkeypatch, engine):
    path = write_round(tmp_path / "round.csv", 400, seed=21, line_breaks=True)
    intake = IntakeRound([path], today=dt.date(2026, 12, 1), workers=1)
    triples = list(intake.decide(engine, intake.rows(engine), 400, plain=True))
    pairs, records = [(row, d) for row, d, _ in triples], [record for _, _, record in triples]
    here = IntakeEncoder(engine)
    sent = sent_and_encoded(engine, pairs)
    # byte for byte, the finding plans included, and keyed by the record as read (typed again in the writer)
    assert sent == [here.row(row, d, record) for (row, d), record in zip(pairs, records)]
    assert [expanded(r) for r in sent] == reference_rows(monkeypatch, engine, pairs, records)
    assert any(r[15] is not None for r in sent) and any(r[15] is None for r in sent)  # planned rows and error rows


def test_digests_by_columns_are_the_digests_one_at_a_time(tmp_path, engine):
    """RecordDigest.many (the writer's keys, by columns, each repeated object's form made once) gives what
    RecordDigest gives each record; and typing without the derived values (the writer's ``typer``) gives the
    digest of the record the decision was made on (with them)."""
    from engine.store.log import record_digest

    digest = record_digest(engine)
    path = write_round(tmp_path / "round.csv", 600, seed=24, line_breaks=True)
    with path.open(newline="") as f:
        raws = list(csv.DictReader(f))
    raws[3]["budget"], raws[4]["budget"] = "180000.0", "180000"  # one number written two ways: one form
    raws[5]["alignment"] = raws[6]["alignment"] = "net-zero:strong"
    decided = engine._intake.records(raws)  # with the derived values, as decided
    typed = logwriter.typer(engine)(raws)
    assert any(not isinstance(r, dict) for r in typed) and any(isinstance(r, dict) for r in typed)  # risk 'x'
    one_by_one = [digest(r) if isinstance(r, dict) else None for r in decided]
    assert digest.many(typed) == one_by_one == digest.many(decided)
    # records of other shapes, values of other classes, one object in several rows
    shared = decided[0]["alignment"]
    mixed = [dict(r, alignment=shared) for r in decided if isinstance(r, dict)][:50]
    mixed[1] = {k: v for k, v in mixed[1].items() if k != "title"}  # another shape: one at a time
    mixed[2] = dict(mixed[2], budget=1.5, title=("a", dt.date(2027, 1, 2)), risk=None, sponsor={"b": [2, 3.25]})
    assert digest.many(mixed) == [digest(r) for r in mixed]
    same = [dict(r, alignment=shared) for r in decided if isinstance(r, dict)][:40]
    assert digest.many(same) == [digest(r) for r in same]
    assert digest.many([]) == [] and digest.many([ValueError("x")]) == [None]


def test_plans_numbered_again_after_many_are_still_the_same_entries(tmp_path, monkeypatch, engine):
    monkeypatch.setattr(logwriter, "PLANS_SENT", 2)
    path = write_round(tmp_path / "round.csv", 300, seed=22)
    intake = IntakeRound([path], today=dt.date(2026, 12, 1), workers=1)
    triples = list(intake.decide(engine, intake.rows(engine), 300, plain=True))
    pairs, records = [(row, d) for row, d, _ in triples], [record for _, _, record in triples]
    here = IntakeEncoder(engine)
    assert sent_and_encoded(engine, pairs, batch=13) == [here.row(row, d, record)
                                                         for (row, d), record in zip(pairs, records)]


def test_a_plan_copy_has_what_the_encoder_reads(tmp_path, engine):
    path = write_round(tmp_path / "round.csv", 50, seed=23)
    intake = IntakeRound([path], today=dt.date(2026, 12, 1), workers=1)
    plan = next(d._plan for _, d, _ in intake.decide(engine, intake.rows(engine), 50, plain=True) if d._plan)
    copy = pickle.loads(pickle.dumps(PlanCopy.of(plan)))
    assert copy.findings == plan.findings and copy.reason_list == plan.reason_list and copy.routes == plan.routes
    assert [i for i, r, _ in copy.rendered if r] == [i for i, r, _ in plan.rendered if r is not None]


def stored(target):
    with DecisionLog(target) as log:
        _, rows = log._db.select(f"SELECT {', '.join(STORED)} FROM decisions ORDER BY seq", [])
        _, plans = log._db.select("SELECT id, findings, slots FROM finding_plans ORDER BY id", [])
    return [tuple(r) for r in rows], [tuple(p) for p in plans]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_process_stores_what_the_thread_stores(tmp_path, monkeypatch, log_target, used, workers):
    """``pmo evaluate`` logging from a writer process and from the thread: the same entries, byte for byte, and
    the same output."""
    path = write_round(tmp_path / "round.csv", 6000, seed=24, line_breaks=True)
    monkeypatch.setattr(evaluate_module, "LOG_BATCH", 700)  # several batches in flight
    args = ["evaluate", str(path), "--format", "csv", "--today", "2026-12-01", "--workers", str(workers)]
    by_thread = tmp_path / "thread.sqlite"
    monkeypatch.setattr(evaluate_module, "LOG_PROCESS", False)
    assert main([*args, "--out", str(tmp_path / "thread.csv"), "--log", str(by_thread)]) == 1
    assert not used
    monkeypatch.setattr(evaluate_module, "LOG_PROCESS", True)
    assert main([*args, "--out", str(tmp_path / "process.csv"), "--log", str(log_target)]) == 1
    assert len(used) == 1
    assert (tmp_path / "process.csv").read_bytes() == (tmp_path / "thread.csv").read_bytes()
    rows, plans = stored(log_target)
    assert (rows, plans) == stored(by_thread)
    assert len(rows) == 6000 and plans


def rows_out(path):
    """The row numbers of a CSV output that may stop part-way: its last record (perhaps cut short) is left out."""
    with path.open(newline="", encoding="utf-8") as f:
        return [int(r["row"]) for r in list(csv.DictReader(f))[:-1]]


def lines_logged(log):
    with sqlite3.connect(log) as db:
        return [json.loads(text)["line"] for (text,) in db.execute("select input from decisions")]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_writer_killed_mid_run_is_the_logs_error_and_a_resume_loses_and_repeats_nothing(
        tmp_path, monkeypatch, capsys, used, workers):
    path = write_round(tmp_path / "round.csv", 6000, seed=25, line_breaks=True)
    out, log, whole = tmp_path / "out.csv", tmp_path / "log.sqlite", tmp_path / "whole.csv"
    args = ["evaluate", str(path), "--format", "csv", "--today", "2026-12-01", "--workers", str(workers)]
    assert main([*args, "--out", str(whole), "--no-log"]) == 1
    monkeypatch.setattr(evaluate_module, "LOG_BATCH", 500)
    monkeypatch.setattr(logwriter, "KILL_AT", 4)  # the writer dies (SIGKILL) on receiving its fourth batch
    assert main([*args, "--out", str(out), "--log", str(log)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {log}" in err and "writer process was killed (signal 9)" in err and "--resume" in err
    assert used
    written, logged = rows_out(out), lines_logged(log)
    # the batches before the fourth committed, none of it nor of those received with it (the writer commits the
    # batches it has received together: logwriter.GROUPED); the workers' chunks make a batch of whole chunks
    assert len(logged) in (500, 1000, 1500) if workers == 1 else 0 < len(logged) < 6000
    assert 0 < len(written) and set(written) <= set(logged)  # nothing in the output that the log lacks
    monkeypatch.setattr(logwriter, "KILL_AT", None)
    assert main([*args, "--out", str(out), "--log", str(log), "--resume"]) == 1
    assert "resuming" in capsys.readouterr().err
    assert out.read_bytes() == whole.read_bytes()
    logged = lines_logged(log)
    assert len(logged) == len(set(logged)) == 6000  # every decision once


def test_a_writer_that_cannot_write_the_log_is_the_logs_error(tmp_path, monkeypatch, capsys, used):
    """A failure inside the writer (here the database refusing a batch) comes back as the log's own LogError,
    located, and the batches not committed are not in the output."""
    from engine.store import log as store_log

    path = write_round(tmp_path / "round.csv", 6000, seed=26)  # 12 batches: more than two transactions hold
    out, log = tmp_path / "out.csv", tmp_path / "log.sqlite"
    monkeypatch.setattr(evaluate_module, "LOG_BATCH", 500)
    real = store_log.DecisionLog.append_encoded
    calls = []
    committed = tmp_path / "committed.txt"  # what the writer (a forked process) committed: a line a transaction

    def refusing(self, rows):
        calls.append(1)
        if len(calls) == 3:
            raise self._failed("write to", sqlite3.OperationalError("database or disk is full"))
        answer = real(self, rows)
        with committed.open("a") as f:
            f.write(f"{len(rows)}\n")
        return answer

    monkeypatch.setattr(store_log.DecisionLog, "append_encoded", refusing)  # in the writer too: a fork's copy
    assert main(["evaluate", str(path), "--format", "csv", "--out", str(out), "--log", str(log),
                 "--today", "2026-12-01", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {log}: database or disk is full" in err and "--resume" in err
    assert used and not calls  # the writer wrote, not this process
    written, logged = rows_out(out), lines_logged(log)
    # exactly the two transactions before the refused one, each of whole batches (the writer commits the batches
    # it has received together: one to GROUPED of them)
    sizes = [int(n) for n in committed.read_text().split()]
    assert len(sizes) == 2 and all(n % 500 == 0 and 500 <= n <= 500 * logwriter.GROUPED for n in sizes), sizes
    assert len(logged) == sum(sizes)
    assert 0 < len(written) and set(written) <= set(logged)


def test_a_batch_with_cells_marshal_cannot_write_goes_pickled():
    """Rows are marshalled; a cell of another type (a date read from a workbook) has the batch pickled instead."""
    items = [({"id": "P1", "start": dt.date(2027, 3, 1)}, 2, "in.xlsx", "P1", "accept", 0, None, None), None]
    rest = (False, [], [({"id": "P2"}, 3, "in.xlsx", "P2", "error", None, None, [], [], [])], [])
    assert _packed(items, rest)[:1] == b"p" and _unpacked(_packed(items, rest)) == (items, rest)
    items[0][0]["start"] = "2027-03-01"
    assert _packed(items, rest)[:1] == b"m" and _unpacked(_packed(items, rest)) == (items, rest)
