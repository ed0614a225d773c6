"""The portfolio history (issue #16): status reports ingested into the decision log, rated as they arrive, read
back as the same StatusData the files give. On SQLite always, on PostgreSQL where PMO_TEST_POSTGRES is set
(required when PMO_REQUIRE_POSTGRES=1; tests/conftest.py: log_target). Kills are real processes, killed for real."""
import csv
import datetime as dt
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.health.assess import assess
from engine.health.status import read_status
from engine.store import SCHEMA_VERSION, DecisionLog
from engine.store.history import in_force, status_data
from engine.store.schema import MIGRATIONS
from tests.conftest import ROOT

STATUS = sorted(str(p) for p in (ROOT / "examples" / "status").glob("status-*.csv"))
REPORTS = 66  # rows in examples/status/*.csv


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def counts(target) -> dict[str, int]:
    with DecisionLog(target) as log, log.transaction("read") as db:
        return {table: db.execute(f"SELECT count(*) FROM {table}")[0][0]
                for table in ("status_reports", "health_ratings", "escalations")}


def test_ingesting_the_same_reports_again_changes_nothing(log_target):
    code, out, err = run("status", "ingest", *STATUS, "--log", log_target)
    assert code == 0, err
    assert out.startswith(f"pmo: {REPORTS} new, 0 unchanged; {REPORTS} rated")
    first = counts(log_target)
    assert first["status_reports"] == REPORTS and first["health_ratings"] == REPORTS and first["escalations"] > 0
    code, out, err = run("status", "ingest", *STATUS, "--log", log_target)
    assert (code, out) == (0, f"pmo: 0 new, {REPORTS} unchanged\n"), err
    assert counts(log_target) == first


def test_health_from_the_history_is_health_from_the_files(log_target):
    assert run("status", "ingest", *STATUS, "--log", log_target)[0] == 0
    for as_of in ([], ["--as-of", "2027-06-30"], ["--as-of", "2027-01-15"], ["--as-of", "2026-01-01"]):
        for fmt in ("json", "table", "csv"):
            files = run("health", *STATUS, "--format", fmt, *as_of)
            logged = run("health", "--log", log_target, "--format", fmt, *as_of)
            assert logged == files, (as_of, fmt)
    by = run("health", "--log", log_target, "--by", "objective", "--format", "json")
    assert by == run("health", *STATUS, "--by", "objective", "--format", "json")


def test_status_data_is_the_status_data_of_the_files(tmp_path):
    target = tmp_path / "h.sqlite"
    tasks = tmp_path / "tasks.csv"
    tasks.write_text("project,task,status_date,bac,pv,ev,ac,planned_start,planned_finish,title\n"
                     "T1,design,2027-01-31,100,,50,60,2027-01-04,2027-03-31,Tasks\n"
                     "T1,build,2027-01-31,200.50,30,20,25,,,\n"
                     "T1,design,2027-02-28,100,,90,95,2027-01-04,2027-03-31,\n"
                     "T1,build,2027-02-28,200.50,80,70,66,,,\n", encoding="utf-8")
    files = [*STATUS, str(tasks)]
    assert run("status", "ingest", *files, "--log", target)[0] == 0
    expected = read_status(files)
    with DecisionLog(target) as log:
        got = status_data(log)
        assert list(got.reports) == list(expected.reports)  # projects in the order they were first reported
        assert got.reports == expected.reports  # values exact (PV spread over working days: a fraction), rows, tasks
        assert got.reports["T1"][0].tasks == 2
        for day in (dt.date(2027, 1, 31), dt.date(2027, 6, 30)):
            at = status_data(log, day)
            assert at.reports == {p: [r for r in s if r.status_date <= day] for p, s in expected.reports.items()
                                  if any(r.status_date <= day for r in s)}


@pytest.mark.parametrize("size", [1, 4, 500])
def test_the_history_read_a_group_of_projects_at_a_time_is_status_data_and_rates_the_same(tmp_path, engines, size):
    """StoredStatus (pmo health --log and pmo kpi --log read the history so: one group's reports in memory at a
    time) gives status_data's reports, group by group, and assess() over the groups is assess() over the whole."""
    from engine.health.assess import health_entries
    from engine.store.history import StoredStatus
    target = tmp_path / "h.sqlite"
    assert run("status", "ingest", *STATUS, "--log", target)[0] == 0
    engine = engines["rete"]
    with DecisionLog(target) as log:
        for as_of in (None, dt.date(2027, 3, 31), dt.date(2026, 1, 1)):
            whole, grouped = status_data(log, as_of), StoredStatus(log, as_of, size=size)
            groups = list(grouped.groups())
            assert all(len(g.reports) <= size for g in groups)
            assert [p for g in groups for p in g.reports] == list(whole.reports)
            assert {p: s for g in groups for p, s in g.reports.items()} == whole.reports
            assert grouped.latest() == max((r.status_date for s in whole.reports.values() for r in s), default=None)
            for by in ("project", "objective", "portfolio"):
                assert health_entries(engine.health(grouped, as_of=as_of), by) == \
                    health_entries(engine.health(whole, as_of=as_of), by)
        with pytest.raises(ValueError):
            StoredStatus(log, size=0)


@pytest.mark.parametrize("workers, size", [(2, 1), (3, 4)])
def test_health_rated_in_worker_processes_is_health_rated_here(tmp_path, engines, workers, size):
    """pmo health --log --workers N: each group read and rated in a worker process (engine/tasks/forked_status.py),
    the projects joined in group order: every figure, rating, rule and roll-up as one process gives them."""
    from engine.health.assess import health_entries
    from engine.store.history import StoredStatus
    from engine.tasks.forked_status import ForkedStatus
    target = tmp_path / "h.sqlite"
    assert run("status", "ingest", *STATUS, "--log", target)[0] == 0
    engine = engines["rete"]
    with DecisionLog(target) as log:
        for as_of in (None, dt.date(2027, 3, 31)):
            here = engine.health(StoredStatus(log, as_of, size=size), as_of=as_of)
            forked = engine.health(ForkedStatus(log, as_of, size=size, workers=workers), as_of=as_of)
            assert forked.not_reported == here.not_reported
            for by in ("project", "objective", "portfolio"):
                assert health_entries(forked, by) == health_entries(here, by)
    one = run("health", "--log", target, "--format", "json", "--workers", "1")
    assert one[0] == 0 and run("health", "--log", target, "--format", "json", "--workers", "2") == one


def test_each_rating_is_the_rating_at_that_date(tmp_path, engines):
    """The ratings recorded as reports arrive are pmo health --as-of DATE's, date by date, project by project."""
    target = tmp_path / "h.sqlite"
    assert run("status", "ingest", *STATUS, "--log", target)[0] == 0
    engine = engines["rete"]
    data = read_status(STATUS)
    health = engine.policy.health
    with DecisionLog(target) as log, log.transaction("read") as db:
        recorded = {(p, d): (rating, rule, json.loads(figures)) for p, d, rating, rule, figures in db.execute(
            "SELECT project, status_date, rating, rule_id, figures FROM health_ratings WHERE in_force = 1")}
    assert len(recorded) == REPORTS
    for day in sorted({r.status_date for s in data.reports.values() for r in s}):
        report = assess(data, health, engine._health, day)
        for p in report.projects:
            if p.status_date == day:  # rated on a report of that day (at its own date the report is 0 days old)
                rating, rule, figures = recorded[(p.project, day.isoformat())]
                assert rating == p.rating and rule == (p.rules[0].id if p.rules else None)
                assert figures["cpi"] == str(p.record["cpi"]) and figures.get("spi_t") == (
                    str(p.record["spi_t"]) if p.record["spi_t"] is not None else None)


def _corrected_march(tmp_path) -> Path:
    """examples' March report with CRM's actual cost corrected from 715034 to 720000."""
    march = Path(STATUS[2]).read_text(encoding="utf-8")
    assert ",715034," in march
    path = tmp_path / "status-2027-03-corrected.csv"
    path.write_text(march.replace(",715034,", ",720000,"), encoding="utf-8")
    return path


def test_a_changed_figure_is_a_correction_and_the_earlier_one_is_kept(log_target, tmp_path):
    assert run("status", "ingest", *STATUS, "--log", log_target)[0] == 0
    before = counts(log_target)
    code, out, err = run("status", "ingest", _corrected_march(tmp_path), "--log", log_target)
    assert code == 0, err
    assert out.startswith("pmo: 0 new, 3 unchanged, 1 corrected; 6 rated")  # CRM again from March to August
    after = counts(log_target)
    assert after["status_reports"] == before["status_reports"] + 1  # the earlier revision is kept
    with DecisionLog(log_target) as log:
        crm = in_force(log, ["CRM"])["CRM"]
        march = next(k for k in crm if k.report.status_date == dt.date(2027, 3, 31))
        assert march.revision == 2 and march.report.values["ac"] == 720000
        assert status_data(log).reports["CRM"][2].values["ac"] == 720000
    code, out, _ = run("history", "CRM", "--log", log_target)
    assert code == 0 and "corrected on " in out and "ac from 715034 to 720000" in out
    code, out, _ = run("history", "CRM", "--log", log_target, "--format", "json")
    found = json.loads(out)
    march = next(r for r in found["reports"] if r["status_date"] == "2027-03-31")
    assert march["revision"] == 2 and march["values"]["ac"] == "720000"
    assert march["corrections"][0]["changed"] == {"ac": {"from": "715034", "to": "720000"}}
    # the ratings from March on rest on the corrected report: pmo health from the history sees it
    files = [p for p in STATUS if "2027-03" not in p] + [str(_corrected_march(tmp_path))]
    def figures(argv):  # unchanged reports keep the source they were first ingested from
        return {p["project"]: {k: v for k, v in p.items() if k not in ("source", "row")}
                for p in json.loads(run("health", *argv, "--format", "json", "--as-of", "2027-03-31")[1])}
    assert figures(["--log", log_target]) == figures(files)
    assert figures(["--log", log_target]) != figures(STATUS)
    assert run("status", "ingest", _corrected_march(tmp_path), "--log", log_target)[1] == "pmo: 0 new, 4 unchanged\n"


def test_a_correction_back_to_the_first_figure_is_a_correction_too(tmp_path):
    target = tmp_path / "h.sqlite"
    run("status", "ingest", *STATUS, "--log", target)
    run("status", "ingest", _corrected_march(tmp_path), "--log", target)
    code, out, _ = run("status", "ingest", STATUS[2], "--log", target)
    assert out.startswith("pmo: 0 new, 3 unchanged, 1 corrected")  # the latest report ingested is in force
    with DecisionLog(target) as log:
        crm = in_force(log, ["CRM"])["CRM"]
        assert [k.revision for k in crm if k.report.status_date == dt.date(2027, 3, 31)] == [3]
        with log.transaction("read") as db:  # ratings of the first basis are in force again, none recorded twice
            ratings = db.execute("SELECT count(*), sum(in_force) FROM health_ratings WHERE project = 'CRM'")[0]
    assert tuple(ratings) == (8 + 6, 8)


def test_error_rows_are_reported_and_nothing_is_lost(tmp_path):
    target = tmp_path / "h.sqlite"
    bad = tmp_path / "bad.csv"
    bad.write_text("project,status_date,bac,pv,ev,ac\n"
                   "A,2027-01-31,1000,100,90,95\n"
                   "B,2027-01-31,1000,1OO,90,95\n"  # letter O for zero
                   "B,2027-02-28,1000,200,190,195\n"
                   "C,2027-01-31,1000,100,90,95\n"
                   "C,2027-01-31,1000,100,90,96\n", encoding="utf-8")  # a second row for C at that date
    code, out, err = run("status", "ingest", bad, "--log", target)
    assert code == 1
    assert f"{bad}:3: error[" in err and "pv" in err and "(B)" in err
    assert f"{bad}:6: error[duplicate_row]" in err and "(C)" in err
    assert out.startswith("pmo: 1 new, 0 unchanged; 1 rated") and "error rows (B, C: nothing stored from the file with the error rows)" in out
    with DecisionLog(target) as log:
        assert list(status_data(log).reports) == ["A"]  # B and C are not rated from half their rows
    bad.write_text("project,status_date,bac,pv,ev,ac\n"
                   "A,2027-01-31,1000,100,90,95\n"
                   "B,2027-01-31,1000,100,90,95\n"
                   "B,2027-02-28,1000,200,190,195\n"
                   "C,2027-01-31,1000,100,90,95\n", encoding="utf-8")
    code, out, err = run("status", "ingest", bad, "--log", target)
    assert (code, out.split(";")[0]) == (0, "pmo: 3 new, 1 unchanged"), err
    with DecisionLog(target) as log:
        assert list(status_data(log).reports) == ["A", "B", "C"]


def test_a_report_given_twice_in_one_run_is_that_report_not_a_correction(tmp_path):
    target = tmp_path / "h.sqlite"
    code, out, err = run("status", "ingest", STATUS[0], STATUS[0], "--log", target)
    assert code == 0 and "error" not in err, err
    assert counts(target)["status_reports"] == 1 and "corrected" not in out


INGEST = "import sys; from engine.cli import main; sys.exit(main(sys.argv[1:]))"


def write_big(path: Path, projects: int, months: int) -> int:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["project", "title", "status_date", "planned_start", "planned_finish", "bac", "percent_complete",
                      "ac", "note"])
        for m in range(months):
            day = dt.date(2027 + (m + 1) // 12, (m + 1) % 12 + 1, 1) - dt.timedelta(days=1)
            for i in range(projects):
                done = min(100, (m + 1) * 100 // months)
                out.writerow([f"P{i}", f"Project {i}", day.isoformat(), "2027-01-01", "2028-06-30", 100_000 + i,
                              f"{done}%", (100_000 + i) * done // 95, "x" * 200])
    return projects * months


def test_a_process_killed_mid_ingest_leaves_nothing_of_the_file_and_a_rerun_stores_it_once(tmp_path):
    target = tmp_path / "h.sqlite"
    big = tmp_path / "big.csv"
    rows = write_big(big, 1_000, 12)  # 12,000 rows: the transaction spills pages past the 2 MB below long before it ends
    assert run("status", "ingest", STATUS[0], "--log", target)[0] == 0  # a file committed before
    wal = Path(f"{target}-wal")
    base = wal.stat().st_size if wal.exists() else 0
    process = subprocess.Popen([sys.executable, "-c", INGEST, "status", "ingest", str(big), "--log", str(target)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300  # a hang guard, not a timing assertion
        while process.poll() is None and time.monotonic() < deadline:
            if wal.exists() and wal.stat().st_size > base + 2_000_000:  # the transaction is writing pages
                break
            time.sleep(0.005)
        assert process.poll() is None, "the ingest finished before it could be killed: make the file bigger"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    db = sqlite3.connect(target)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM status_reports").fetchone() == (1,)  # nothing of the big file
        assert db.execute("SELECT count(*) FROM health_ratings").fetchone() == (1,)
    finally:
        db.close()
    code, out, err = run("status", "ingest", big, "--log", target)
    assert code == 0, err
    assert out.startswith(f"pmo: {rows:,} new, 0 unchanged; {rows:,} rated")
    db = sqlite3.connect(target)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*), count(DISTINCT project || status_date) FROM status_reports").fetchone() \
            == (rows + 1, rows + 1)
        assert db.execute("SELECT count(*), count(DISTINCT project || status_date) FROM health_ratings").fetchone() \
            == (rows + 1, rows + 1)
    finally:
        db.close()


# The log as pmo wrote it before the history: schema version 1, recorded in pmo_schema.
def test_a_version_1_log_migrates_and_keeps_its_decisions(tmp_path):
    target = tmp_path / "v1.sqlite"
    db = sqlite3.connect(target)
    try:
        db.executescript("CREATE TABLE pmo_schema (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied TEXT);"
                         "PRAGMA user_version = 1;")
        for step in MIGRATIONS[:2]:
            for statement in step.statements:
                db.execute(statement.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT"))
            db.execute("INSERT INTO pmo_schema VALUES (?, ?, '2026-11-01T00:00:00+00:00')", (step.version, step.description))
        db.execute("INSERT INTO decisions (key, time, kind, project, gate, input_hash, policy_hash, outcome, findings, "
                   "approvers, override, input, as_of, backend) VALUES ('k1', '2026-11-02T00:00:00+00:00', 'intake', "
                   "'PRJ-1023', NULL, 'ih', 'ph', 'accept', '[]', '[]', NULL, '{\"row\": {\"title\": \"CRM\"}}', "
                   "'2026-11-02', 'rete')")
        db.commit()
    finally:
        db.close()
    code, out, err = run("status", "ingest", *STATUS, "--log", target)
    assert code == 0, err
    db = sqlite3.connect(target)
    try:
        assert [v for v, in db.execute("SELECT version FROM pmo_schema ORDER BY version")] == list(range(SCHEMA_VERSION + 1))
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT key, project FROM decisions").fetchall() == [("k1", "PRJ-1023")]
    finally:
        db.close()
    found = json.loads(run("history", "CRM", "--log", target, "--format", "json")[1])
    assert [d["key"] for d in found["decisions"]] == ["k1"]  # matched by the proposal CRM came from


def test_history_shows_reports_ratings_escalations_and_decisions(tmp_path):
    target = tmp_path / "h.sqlite"
    assert run("evaluate", ROOT / "examples" / "proposals.csv", "--log", target, "--today", "2026-12-01")[0] in (0, 1)
    assert run("gate", ROOT / "examples" / "projects" / "billing-kill.yaml", "--gate", "delivery-review",
               "--log", target, "--today", "2027-06-30")[0] == 0
    assert run("status", "ingest", *STATUS, "--log", target)[0] == 0
    code, out, err = run("history", "BILLING", "--log", target)
    assert code == 0, err
    assert out.startswith("BILLING  Billing modernisation  (proposal PRJ-1015; objective operational-efficiency)")
    assert "2027-06-30  killed" in out and "killed-at-gate" in out and "policies/health.yaml:" in out
    assert "escalated to PMO lead" in out
    assert "intake" in out and "gate delivery-review     kill" in out
    found = json.loads(run("history", "BILLING", "--log", target, "--format", "json")[1])
    assert [r["status_date"] for r in found["reports"]] == [f"2027-0{m}-{d}" for m, d in
                                                            ((2, 28), (3, 31), (4, 30), (5, 31), (6, 30))]
    june = found["reports"][-1]
    # killed at the gate: closed out by the PMO lead, not escalated to the board that killed it
    assert june["rating"]["rating"] == "amber" and june["rating"]["where"].startswith("policies/health.yaml:")
    assert {e["route"] for e in june["escalations"]} == {"PMO lead"}
    assert [(d["kind"], d["outcome"]) for d in found["decisions"]] == [("intake", "review"), ("gate", "kill")]
    assert run("history", "NOPE", "--log", target)[0] == 2


def test_health_from_the_log_needs_files_or_a_log_not_both(tmp_path):
    assert run("health")[0] == 2
    assert run("health", STATUS[0], "--log", tmp_path / "h.sqlite")[0] == 2
    code, _, err = run("health", "--log", tmp_path / "missing.sqlite")
    assert code == 2 and "no decision log at" in err
    DecisionLog(tmp_path / "empty.sqlite").close()
    code, _, err = run("health", "--log", tmp_path / "empty.sqlite")
    assert code == 0 and "holds no status reports: 'pmo status ingest" in err


@pytest.mark.parametrize("fmt", ["json", "jsonl", "yaml"])
def test_every_format_goes_into_the_history(tmp_path, fmt):
    target = tmp_path / "h.sqlite"
    rows = [{"project": "J1", "status_date": "2027-01-31", "bac": 1000, "pv": 100, "ev": 80, "ac": 120},
            {"project": "J1", "status_date": "2027-02-28", "bac": 1000, "pv": 200, "ev": 150, "ac": 200}]
    path = tmp_path / f"s.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        import yaml
        path.write_text(yaml.safe_dump(rows), encoding="utf-8")
    assert run("status", "ingest", path, "--log", target)[1].startswith("pmo: 2 new")
    assert run("health", "--log", target, "--format", "json") == run("health", path, "--format", "json")


def _random_series(rng, project: str):
    """A project's reports with the awkward cases: no planned start or finish, PV 0 at first, PV falling, EV
    beyond the plan, BAC changing, AC above BAC, a planned finish before the first day, no ETC."""
    from fractions import Fraction

    from engine.health.status import STATUS_FIELDS as FIELDS
    from engine.health.status import Report
    reports = []
    day = dt.date(2027, 1, 31) + dt.timedelta(days=rng.randint(0, 40))
    start = day - dt.timedelta(days=rng.randint(-60, 90)) if rng.random() < 0.7 else None
    finish = day + dt.timedelta(days=rng.randint(-30, 400)) if rng.random() < 0.7 else None
    bac = Fraction(rng.randint(1, 10) * 10_000)
    pv = Fraction(0)
    for _ in range(rng.randint(1, 14)):
        values = dict.fromkeys(set(FIELDS) - {"project", "status_date", "task"})
        if rng.random() < 0.1:
            bac = Fraction(rng.randint(1, 10) * 10_000)
        pv = min(bac, max(Fraction(0), pv + Fraction(rng.randint(-500, 9_000), rng.choice([1, 3, 7]))))
        if rng.random() < 0.15:
            pv = Fraction(0)
        ev = min(bac, Fraction(rng.randint(0, int(pv * 13 // 10) + 1)))
        ac = Fraction(rng.randint(0, int(bac * 12 // 10)), rng.choice([1, 100]))
        values.update(bac=bac, pv=pv, ev=ev, ac=ac,  # the status reader requires these four
                      etc=Fraction(rng.randint(0, 50_000)) if rng.random() < 0.3 else None,
                      planned_start=start if rng.random() < 0.95 else None, planned_finish=finish)
        reports.append(Report(project, day, values))
        day += dt.timedelta(days=rng.choice([28, 30, 31, 7, 14]))
    return reports


@pytest.mark.parametrize("variant", ["cpi", "remaining", "cpi_spi", "bottom_up"])
def test_the_fast_series_rating_is_the_rating_of_each_prefix(engines, variant):
    """rate_series (earned value on integers, earned schedule along one curve) gives what rating each prefix of
    the series on its own gives (the Fraction path of engine/health/evm.py), figure for figure and why for why."""
    import dataclasses
    import random

    from engine.health.assess import _rated, rate_series
    engine = engines["reference"]
    health = dataclasses.replace(engine.policy.health, eac=variant)
    rng = random.Random(16)
    for n in range(400):
        series = _random_series(rng, f"R{n}")
        fast = list(rate_series(f"R{n}", series, health, engine._health))
        slow = [_rated(f"R{n}", series[:i + 1], health, engine._health, series[i].status_date)
                for i in range(len(series))]
        for f, s in zip(fast, slow, strict=True):
            assert f.record == s.record and f.why == s.why and f.rating == s.rating and f.rules == s.rules, (n, series)



def test_the_same_report_given_twice_is_one_report_and_other_figures_are_an_error_row(tmp_path):
    """A file ingested twice in one run (or two exports repeating a month) said 'error rows (not stored: A-1, B-1)'
    although both were stored from the first, and pmo health on the two files rated no project: the same report
    again is that report; a second report with other figures is still an error row."""
    first = tmp_path / "jan.csv"
    first.write_text("project,status_date,bac,pv,ev,ac\nA-1,2027-01-31,1000,100,90,95\n"
                     "B-1,2027-01-31,1000,100,100,100\n", encoding="utf-8")
    again = tmp_path / "jan-again.csv"
    again.write_bytes(first.read_bytes())
    other = tmp_path / "jan-other.csv"
    other.write_text("project,status_date,bac,pv,ev,ac\nA-1,2027-01-31,1000,100,90,99\n", encoding="utf-8")
    code, out, err = run("health", first, again, "--format", "json")
    assert code == 0, err
    assert sorted(e["project"] for e in json.loads(out) if e["rating"] != "error") == ["A-1", "B-1"]
    data = read_status([first, again])
    assert [len(r.rows) for series in data.reports.values() for r in series] == [2, 2]  # both rows, one report
    code, out, err = run("health", first, other, "--format", "json")
    assert code == 1
    errors = [e for e in json.loads(out) if e["rating"] == "error"]
    assert [(e["project"], e["errors"][0]["code"]) for e in errors] == [("A-1", "duplicate_row")]
    assert "other figures" in errors[0]["reason"]
    target = tmp_path / "h.sqlite"
    code, out, err = run("status", "ingest", first, again, "--log", target)
    assert code == 0, err
    assert out.startswith("pmo: 2 new, 2 unchanged"), out
    code, out, err = run("status", "ingest", first, other, "--log", tmp_path / "h2.sqlite")
    assert code == 1 and "other figures" in err and "A-1: nothing stored from the file with the error rows" in out


def test_health_of_files_rates_a_project_from_its_other_files_as_the_history_does(tmp_path):
    """One blank EV in March left a project out of `pmo health FILES` altogether, although its April report was
    complete, while `pmo health --log` after ingesting the same files rated it at April: a project's reports
    from the file with its error row are held back (in both), its other files' reports rated."""
    files = []
    for month, ev in (("2027-01-31", "90"), ("2027-02-28", "180"), ("2027-03-31", ""), ("2027-04-30", "360")):
        path = tmp_path / f"status-{month}.csv"
        path.write_text(f"project,status_date,bac,pv,ev,ac\nSM,{month},1000,{int(month[5:7]) * 100},{ev},"
                        f"{int(month[5:7]) * 100}\nOK,{month},1000,100,100,100\n", encoding="utf-8")
        files.append(path)
    code, out, err = run("health", *files, "--format", "json")
    assert code == 1, err
    entries = json.loads(out)
    rated = {e["project"]: e for e in entries if e["rating"] != "error"}
    assert rated["SM"]["status_date"] == "2027-04-30" and rated["SM"]["spi"] == 0.9
    assert [(e["project"], e["errors"][0]["column"]) for e in entries if e["rating"] == "error"] == [("SM", "ev")]
    target = tmp_path / "h.sqlite"
    assert run("status", "ingest", *files, "--log", target)[0] == 1
    code, logged, err = run("health", "--log", target, "--format", "json")
    assert code == 0, err
    from_log = {e["project"]: e for e in json.loads(logged)}
    assert from_log["SM"] == rated["SM"] and from_log["OK"] == rated["OK"]


def test_a_log_that_cannot_be_opened_suggests_no_log_only_to_a_command_that_has_it(tmp_path):
    bad = tmp_path / "no-such-folder" / "h.sqlite"
    code, out, err = run("status", "ingest", STATUS[0], "--log", bad)
    assert code == 2 and "error[log_unusable]" in err and "--no-log" not in err, err
    code, out, err = run("gate", ROOT / "examples" / "projects" / "go.yaml", "--gate", "business-case", "--log", bad)
    assert code == 2 and "or --no-log" in err, err
    code, out, err = run("health", "--log", tmp_path / "missing.sqlite")
    assert code == 2 and "status reports by 'pmo status ingest'" in err, err
