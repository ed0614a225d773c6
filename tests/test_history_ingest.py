"""How pmo status ingest works through a file (issue #16): row by row into a temporary stage, then a group of
projects at a time. What it stores must not depend on the group size, must be what the whole-file status reader
gives, and memory must not grow with the file."""
import csv
import datetime as dt
import random
import sys
import tracemalloc
from fractions import Fraction
from pathlib import Path

import pytest

from engine.health.status import read_status
from engine.io.profile import InputProfile
from engine.store import DecisionLog
from engine.store.history import status_data
from engine.tasks.history import ingest, rerate
from tests.conftest import ROOT

STATUS = sorted(str(p) for p in (ROOT / "examples" / "status").glob("status-*.csv"))
HEADER = ["project", "task", "title", "status_date", "planned_start", "planned_finish", "bac", "pv", "ev",
          "percent_complete", "ac", "risks", "note"]


def write_tricky(path: Path, seed: int, projects: int = 40, months: int = 8) -> None:
    """Projects reported as one row or as task rows, month by month (rows of a project far apart, as monthly
    exports concatenated), with the awkward rows: a second row for a project and date, a second row for a task,
    rows with and without a task at one date, an unreadable figure, a missing required value, EV above BAC,
    a row with no project, non-ASCII texts."""
    rng = random.Random(seed)
    rows = []
    for m in range(months):
        day = dt.date(2027 + (m + 1) // 12, (m + 1) % 12 + 1, 1) - dt.timedelta(days=1)
        for i in range(projects):
            bac = 10_000 * (1 + i % 7)
            tasks = ["design", "build"] if i % 5 == 0 else [""]
            for task in tasks:
                done = min(100, (m + 1) * rng.randint(5, 20))
                rows.append([f"P{i:03d}", task, f"Projekt {i} — ü" if i % 3 else "", day.isoformat(), "2027-01-04",
                             "2028-03-31", bac, "", "", f"{done}%", bac * done // rng.choice([90, 100, 120]),
                             rng.randint(0, 4), "note" if rng.random() < 0.3 else ""])
            odd = rng.random()
            if odd < 0.02:
                rows.append(list(rows[-1]))  # the same row twice
            elif odd < 0.03:
                rows.append([f"P{i:03d}", "extra", "", day.isoformat(), "", "", bac, 10, 5, "", 6, "", ""])
            elif odd < 0.04:
                rows[-1][10] = "12O0"  # letter O for zero
            elif odd < 0.05:
                rows[-1][10] = ""  # AC missing
            elif odd < 0.055:
                rows.append(["", "", "", day.isoformat(), "", "", 100, 10, 10, "", 10, "", ""])
            elif odd < 0.06:
                rows.append([f"P{i:03d}", "", "", day.isoformat(), "", "", 100, 10, 200, "", 10, "", ""])
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        out.writerows(rows)


def stored(target: Path) -> dict[str, list[tuple]]:
    """Every row of the history's tables, without the times they were written (those differ run to run)."""
    import sqlite3
    db = sqlite3.connect(target)
    try:
        out = {}
        for table, skip in (("status_reports", {"seq", "ingested"}), ("health_ratings", {"seq", "rated"}),
                            ("escalations", {"seq"})):
            columns = [c[1] for c in db.execute(f"PRAGMA table_info({table})") if c[1] not in skip]
            out[table] = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY seq").fetchall()
        return out
    finally:
        db.close()


def outcome(result) -> list:
    return [(f.new, f.corrected, f.unchanged, f.ratings, f.escalations, f.rated, f.held, f.errors, f.empty_rows)
            for f in result.files]


def test_what_is_stored_does_not_depend_on_how_many_projects_are_taken_at_a_time(tmp_path, engines):
    engine = engines["rete"]
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_tricky(first, 1)
    write_tricky(second, 2)  # the same projects and dates with other figures: corrections
    runs = {}
    for group in (1, 7, 10_000):
        target = tmp_path / f"h{group}.sqlite"
        with DecisionLog(target) as log:
            results = [ingest(engine, log, [first], group=group), ingest(engine, log, [second], group=group),
                       ingest(engine, log, [first, *STATUS], group=group)]  # corrected back; new projects
        runs[group] = ([outcome(r) for r in results], stored(target))
    assert runs[1] == runs[7] == runs[10_000]
    results, tables = runs[1]
    assert results[1][0][1] > 0 and results[2][0][1] > 0  # corrections were made
    assert results[0][0][6] and results[0][0][7]  # error rows, and projects held back for them
    assert tables["escalations"] and len(tables["health_ratings"]) > len(tables["status_reports"]) // 2


def _three_ingests_and_a_rerate(engine, tmp_path, name, **options):
    """New reports with error rows, corrections, corrections back beside new projects, then rating again."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_tricky(first, 1)
    write_tricky(second, 2)
    target = tmp_path / f"{name}.sqlite"
    with DecisionLog(target) as log:
        results = [ingest(engine, log, [first], **options), ingest(engine, log, [second], **options),
                   ingest(engine, log, [first, *STATUS], **options)]
        again = rerate(engine, log, group=options.get("group"))
    return [outcome(r) for r in results], (again.projects, again.rated, again.ratings), stored(target)


def test_rating_in_worker_processes_stores_what_one_process_stores(tmp_path, engines, monkeypatch):
    """Groups rated by 2 or 3 forked workers while the parent reads and compares the next: the same counts, error
    rows and stored rows, in the same order, as rating in the parent (and the workers did rate: each marks it)."""
    import os

    from engine.tasks import history
    engine = engines["rete"]
    alone = _three_ingests_and_a_rerate(engine, tmp_path, "one", group=7, workers=1)
    assert alone[0][1][0][1] > 0 and alone[2]["escalations"]  # corrections, escalations
    rating_rows = history._rating_rows
    marks = tmp_path / "rated-in"
    marks.mkdir()

    def marked(*args):
        if history._worker_engine is not None:  # in a worker
            (marks / str(os.getpid())).touch()
        return rating_rows(*args)

    monkeypatch.setattr(history, "_rating_rows", marked)
    assert _three_ingests_and_a_rerate(engine, tmp_path, "two", group=7, workers=2) == alone
    assert _three_ingests_and_a_rerate(engine, tmp_path, "three", group=3, workers=3) == alone
    assert len(list(marks.iterdir())) >= 2


def test_an_error_in_a_rating_worker_is_the_error_one_process_raises(tmp_path, engines, monkeypatch):
    """What a worker raises is not what the ingest reports: the group is rated again in the parent, which raises
    its own error (here: none, so the file is stored as one process stores it)."""
    from engine.tasks import history
    engine = engines["rete"]
    alone = _three_ingests_and_a_rerate(engine, tmp_path, "one", group=5, workers=1)
    rating_rows = history._rating_rows

    def fails_in_workers(*args):
        if history._worker_engine is not None:
            raise MemoryError("a worker's own trouble")
        return rating_rows(*args)

    monkeypatch.setattr(history, "_rating_rows", fails_in_workers)
    assert _three_ingests_and_a_rerate(engine, tmp_path, "two", group=5, workers=2) == alone


def test_no_worker_is_forked_from_a_process_with_other_threads(tmp_path, engines):
    """A fork copies only the thread that calls it: a lock another thread holds would stay held in the child. With
    a second thread running, the ingest rates in its own process (the same history)."""
    import threading

    from engine.tasks import processes
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert not processes.can_fork()
        alone = _three_ingests_and_a_rerate(engines["rete"], tmp_path, "threads", group=5, workers=2)
    finally:
        stop.set()
        other.join()
    assert processes.can_fork() == sys.platform.startswith("linux")
    assert alone == _three_ingests_and_a_rerate(engines["rete"], tmp_path, "one", group=5, workers=1)


def test_a_rating_worker_that_dies_loses_nothing(tmp_path, engines, monkeypatch):
    """A worker killed while it rates a group (as a crash in the rules engine's C core would end it): that group
    and the rest are rated in the parent; the history is what one process stores."""
    import os

    from engine.tasks import history
    engine = engines["rete"]
    alone = _three_ingests_and_a_rerate(engine, tmp_path, "one", group=5, workers=1)
    marker = tmp_path / "died"
    rating_rows = history._rating_rows

    def dies_once(*args):
        if history._worker_engine is not None and not marker.exists():  # in a worker, the first time
            marker.write_text("x")
            os._exit(1)
        return rating_rows(*args)

    monkeypatch.setattr(history, "_rating_rows", dies_once)
    assert _three_ingests_and_a_rerate(engine, tmp_path, "two", group=5, workers=2) == alone
    assert marker.exists()


def test_a_file_ingested_gives_what_the_whole_file_reader_gives(tmp_path, engines):
    """The staged ingest against the whole-file status reader (read_status: every row in memory, grouped at
    once), which the ingest used before: the same error rows in the same order, the same projects held back,
    the same reports stored, each rated as Engine.rate_series rates the reports the reader gives."""
    engine = engines["rete"]
    path = tmp_path / "a.csv"
    write_tricky(path, 3)
    whole = read_status([path])
    target = tmp_path / "h.sqlite"
    with DecisionLog(target) as log:
        result = ingest(engine, log, [path], group=3)
        got = status_data(log)
    [file] = result.files
    assert file.errors == whole.errors and len(file.errors) > 3
    from engine.health.status import StatusData, group_reports, typed_rows
    from engine.io.readers import read_proposals
    unheld = StatusData()  # the reports before the reader holds back those of projects with error rows
    group_reports(list(typed_rows([read_proposals(path)], unheld)), unheld)
    held = whole.projects_with_errors
    assert file.held == sorted(p for p in unheld.reports if p in held) and file.held
    expected = {p: s for p, s in unheld.reports.items() if p not in held}
    assert whole.reports == expected  # one file: a project with an error row in it is rated from nothing
    assert got.reports == expected and list(got.reports) == list(expected)
    assert any(r.tasks for s in expected.values() for r in s)  # task rows were summed
    ratings = [(p, h.status_date.isoformat(), h.rating, h.reason) for p, s in expected.items()
               for h in engine.rate_series(p, s)]
    recorded = [(p, d, rating, reason) for p, d, _, _, _, rating, _, _, reason, *_ in stored(target)["health_ratings"]]
    assert recorded == ratings


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("swapped", [False, True])
def test_rows_typed_by_group_give_the_whole_file_readers_error_rows_and_held_projects(tmp_path, engines, workers,
                                                                                      swapped):
    """Each group's rows are typed where the group is prepared (a worker process, or here): the error rows are
    merged back in input order, and the projects held back are those the whole-file reader holds back. With a
    profile that maps one project's cell to another's id (and back), an error row names its cell's text, the id
    of a project in another group: the file is typed once for its error rows before any group is stored."""
    engine = engines["rete"]
    path = tmp_path / "a.csv"
    write_tricky(path, 3)
    profile = InputProfile()
    if swapped:
        plain = read_status([path])
        misread = next(e.project for e in plain.errors if e.project and e.errors[0].code != "missing_value"
                       and e.errors[0].code != "duplicate_row")
        other = next(p for p in plain.reports if p != misread)
        profile = InputProfile(values={"project": {misread.casefold(): other, other.casefold(): misread}})
    whole = read_status([path], profile)
    with DecisionLog(tmp_path / "h.sqlite") as log:
        result = ingest(engine, log, [path], profile, group=1, workers=workers)
        got = status_data(log)
    [file] = result.files
    assert file.errors == whole.errors and len(file.errors) > 3
    held = whole.projects_with_errors
    assert set(file.held) <= held and got.reports == whole.reports and list(got.reports) == list(whole.reports)
    if swapped:
        assert misread in file.held and misread in whole.projects_with_errors


def test_a_report_in_two_files_of_one_run_is_an_error_row_whatever_the_group(tmp_path, engines):
    engine = engines["rete"]
    path, other = tmp_path / "a.csv", tmp_path / "b.csv"
    write_tricky(path, 4, projects=12, months=2)
    with path.open(encoding="utf-8", newline="") as f:  # the same rows, every actual cost a unit higher
        rows = list(csv.reader(f))
    ac = HEADER.index("ac")
    for row in rows[1:]:
        row[ac] = str(int(row[ac]) + 1) if row[ac].isdigit() else row[ac]
    with other.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    found = {}
    for group in (1, 5, 100):
        with DecisionLog(tmp_path / f"h{group}.sqlite") as log:
            found[group] = outcome(ingest(engine, log, [path, other], group=group))
    assert found[1] == found[5] == found[100]
    second = found[1][1]
    assert second[0] == 0 and second[6] == sorted({e.project for e in second[7] if e.project})
    assert sum(e.errors[0].code == "duplicate_row" for e in second[7]) >= 12 * 2
    with DecisionLog(tmp_path / "same.sqlite") as log:  # the same file again: the same reports, no error row
        twice = outcome(ingest(engine, log, [path, path], group=5))
    assert twice[1][0] == 0 and twice[1][2] == twice[0][0] and twice[1][7] == twice[0][7]


def write_plain(path: Path, projects: int, months: int) -> int:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["project", "title", "status_date", "planned_start", "planned_finish", "bac", "percent_complete",
                      "ac"])
        for m in range(months):
            day = dt.date(2027 + (m + 1) // 12, (m + 1) % 12 + 1, 1) - dt.timedelta(days=1)
            for i in range(projects):
                done = min(100, (m + 1) * 100 // months)
                out.writerow([f"P{i}", f"Project {i}", day.isoformat(), "2027-01-01", "2028-06-30", 100_000 + i,
                              f"{done}%", (100_000 + i) * done // 95])
    return projects * months


def test_memory_does_not_grow_with_the_file(tmp_path, engines, monkeypatch):
    """Python memory at its peak while ingesting, a group of 100 projects at a time and 400 typed rows held before
    they go to the stage: bounded by those, not by the file. A file four times as long (4,800 rows against 1,200)
    peaks within 3 MB of the short one; holding every typed row to group them (about 3 KB a row) would add over
    10 MB."""
    from engine.tasks import history
    monkeypatch.setattr(history, "STAGE_ROWS", 400)
    engine = engines["rete"]
    peaks = []
    for projects in (200, 800):
        path = tmp_path / f"big{projects}.csv"
        rows = write_plain(path, projects, 6)
        with DecisionLog(tmp_path / f"h{projects}.sqlite") as log:
            ingest(engine, log, [STATUS[0]])  # start-up costs (readers, rules) before measuring
            tracemalloc.start()
            try:
                result = ingest(engine, log, [path], group=100)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
        assert result.new == rows and result.rated == rows
    assert peaks[1] - peaks[0] < 3_000_000, f"{peaks[0] / 1e6:.1f} MB for 1,200 rows, {peaks[1] / 1e6:.1f} MB for 4,800"


def test_the_stage_holds_a_bounded_number_of_rows_and_gives_each_group_back_in_order(monkeypatch):
    """The rows as read (their cells) wait in memory until STAGE_ROWS, then go to the stage table, a pickle per
    group; each group comes back whole and in input order, whatever the rows' order in the file."""
    from engine.io.rows import Row
    from engine.tasks import history
    monkeypatch.setattr(history, "STAGE_ROWS", 50)

    class Table:  # the stage table's part of a connection
        name = "sqlite"

        def __init__(self):
            self.pieces = []

        def execute(self, sql, params=()):
            if sql.startswith("SELECT"):
                return [(blob,) for grp, _, blob in sorted(self.pieces, key=lambda p: p[1]) if grp == params[0]]
            return []

        def executemany(self, sql, rows):
            self.pieces += rows

    rng = random.Random(16)
    stage = history._Stage(Table(), 7)
    sent = []
    most = 0
    for seq in range(1_000):
        project = f"P{rng.randint(0, 40)}"
        cells = {"project": f" {project}", "bac": str(rng.randint(1, 10**6)), "ac": ""}
        stage.add(seq, Row(cells, seq + 2, "s.csv"), project)
        sent.append((seq, project, cells))
        most = max(most, stage.count)
    stage.flush()
    assert most < 50 and stage.count == 0
    order = list(stage.group_of)  # projects in the order first reported, 7 to a group
    back = [pair for g in range(stage.groups) for pair in history._staged(stage.blobs(g))]
    assert stage.groups == 6 and len(back) == 1_000
    for g in range(stage.groups):
        members = set(order[7 * g:7 * g + 7])
        got = [(seq, row.row, row.source, row.data) for seq, row in history._staged(stage.blobs(g))]
        assert got == [(seq, seq + 2, "s.csv", cells) for seq, project, cells in sent if project in members]


@pytest.mark.parametrize("group", [1, 3])
def test_the_examples_ingest_the_same_in_groups(tmp_path, engines, group):
    engine = engines["rete"]
    tables = []
    for size in (group, 1_000):
        target = tmp_path / f"h{size}.sqlite"
        with DecisionLog(target) as log:
            ingest(engine, log, STATUS, group=size)
        tables.append(stored(target))
    assert tables[0] == tables[1] and tables[0]["status_reports"]


@pytest.mark.parametrize("variant", ["cpi", "remaining", "cpi_spi", "bottom_up"])
def test_earned_value_on_integers_is_earned_value(variant):
    """evm.earned_value_rounded (the ratings' and the KPIs' fast path) gives what earned_value(...).decimals()
    gives, and the same reasons for the figures it leaves out, on random exact inputs."""
    from fractions import Fraction

    from engine.health.evm import earned_value, earned_value_rounded
    rng = random.Random(19)
    checked = 0
    for _ in range(3_000):
        def money(low: int = 0) -> Fraction:
            return Fraction(rng.randint(low, 2_000_000), rng.choice([1, 1, 3, 7, 100, 39]))
        bac, pv, ev, ac = money(), money(), money(), money()
        etc = money() if rng.random() < 0.6 else None
        if rng.random() < 0.1:
            ac = bac + money()  # over budget
        fast = earned_value_rounded(bac, pv, ev, ac, etc, variant)
        if fast is None:
            continue
        slow = earned_value(bac, pv, ev, ac, etc, variant)
        assert fast == (slow.decimals(), slow.why), (bac, pv, ev, ac, etc)
        checked += 1
    assert checked > 1_500


def test_a_changed_health_policy_rates_the_history_again_with_status_rerate(tmp_path, log_target):
    """Ingesting the same reports under a changed policy records nothing (no report changed); pmo status rerate
    rates every project again under it: new ratings in force under the new policy hash, the earlier kept out of
    force, and a second rerate records nothing new."""
    import io
    import shutil
    import sqlite3

    from engine.cli import main

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        return main([str(a) for a in argv], stdout=out, stderr=err), out.getvalue(), err.getvalue()

    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    health = policies / "health.yaml"
    text = health.read_text(encoding="utf-8")
    red = 'when: cpi < 0.9 and coalesce(state, "active") == "active"\n'
    assert red in text
    health.write_text(text.replace(red, red.replace("0.9", "0.97")), encoding="utf-8")  # stricter red
    assert run("status", "ingest", *STATUS, "--log", log_target)[0] == 0
    code, out, err = run("status", "ingest", *STATUS, "--log", log_target, "--policies", policies)
    assert (code, out) == (0, "pmo: 0 new, 66 unchanged\n"), err

    def ratings():
        with DecisionLog(log_target) as log, log.transaction("read") as db:
            return db.execute("SELECT project, status_date, policy_hash, rating, in_force FROM health_ratings "
                              "ORDER BY project, status_date, policy_hash")
    before = ratings()
    code, out, err = run("status", "rerate", "--log", log_target, "--policies", policies)
    assert code == 0, err
    assert out.startswith("pmo: 9 projects rated again at 66 status dates under policy ") \
        and "66 new ratings" in out, out
    after = ratings()
    old_hashes = {h for _, _, h, _, _ in before}
    assert len(after) == 2 * len(before) == 2 * 66
    assert all(not in_force for _, _, h, _, in_force in after if h in old_hashes)
    in_force = [(p, d, rating) for p, d, h, rating, force in after if force]
    assert len(in_force) == 66 and all(h not in old_hashes for _, _, h, _, force in after if force)
    assert {(p, d) for p, d, _ in in_force} == {(p, d) for p, d, *_ in before}
    assert sum(r == "red" for *_, r in in_force) > sum(r == "red" for _, _, _, r, _ in before)  # the stricter rule
    code, out, _ = run("status", "rerate", "--log", log_target, "--policies", policies)
    assert code == 0 and "0 new ratings, 0 new escalations" in out
    assert ratings() == after
    if not str(log_target).startswith("postgresql"):
        db = sqlite3.connect(log_target)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            db.close()


def test_status_ingest_takes_a_number_of_workers_and_refuses_none(tmp_path, capsys):
    """The option's parsing (the examples are one group of projects: no worker is started for them)."""
    from engine.cli import main
    target = tmp_path / "h.sqlite"
    assert main(["status", "ingest", *map(str, STATUS), "--log", str(target), "--workers", "2"]) == 0
    assert "new" in capsys.readouterr().out
    for bad in ("0", "-1", "two"):
        assert main(["status", "ingest", *map(str, STATUS), "--log", str(target), "--workers", bad]) == 2
        assert "worker processes" in capsys.readouterr().err


def test_a_stored_money_text_reads_back_as_fraction_reads_it():
    """The history's reader of money texts ("1500000", "4500000/7") against Fraction's own parser, on the texts
    it writes and on others (signs, decimals, spaces, other digits, a zero denominator): the same value or the
    same exception."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from engine.store.history import _rational
    written = st.fractions(max_denominator=10 ** 9).map(str)
    others = st.text(alphabet="0123456789-+/. e٣²x", max_size=8)

    def read(parse, text):
        try:
            return parse(text)
        except (ValueError, ZeroDivisionError) as exc:
            return type(exc)

    @settings(max_examples=500, deadline=None)
    @given(st.one_of(written, others, st.sampled_from(["3/0", "--5", "-", "/7", "7/", " 7", "٣", "²"])))
    def check(text):
        assert read(_rational, text) == read(Fraction, text)

    check()
