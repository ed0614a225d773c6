"""The decision log (engine/store/) on both databases: the same tests on a SQLite file and on a real PostgreSQL
server (tests/conftest.py: log_target; CI starts the server with .ci/postgres.sh). No mocks: concurrency and
crashes are real processes, killed for real."""
import datetime as dt
import io
import json
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from engine.cli import main
from engine.store import MAX_PAGE, SCHEMA_VERSION, DecisionLog, Entry, LogError
from engine.store.schema import MIGRATIONS
from tests.conftest import ROOT, ROWS

PROPOSALS = str(ROOT / "examples" / "proposals.csv")
PROPOSALS_DECIDED = 53  # rows in examples/proposals.csv

WRITER = """
import sys
from engine.store import DecisionLog, Entry
target, first, last, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
step = 1 if last >= first else -1
numbers = list(range(first, last + step, step))
added = 0
with DecisionLog(target) as log:
    for start in range(0, len(numbers), batch):
        added += log.append([Entry("intake", f"P{i}", None, {"i": i}, "policy", "accept", [{"rule": "r"}],
                                   ["pmo-lead"], as_of="2026-12-01", backend="rete")
                             for i in numbers[start:start + batch]])
print(added)
"""


def writer(target, first: int, last: int, batch: int = 500) -> subprocess.Popen:
    """A process appending the entries P<first>..P<last> (in that order), ``batch`` per transaction."""
    return subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(first), str(last), str(batch)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> int:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return int(out)


def entry(project="P1", **changes) -> Entry:
    fields = dict(kind="gate", project=project, gate="business-case", input={"x": 1}, policy_hash="h", outcome="go",
                  findings=[{"criterion": "c", "passed": True}], approvers=["pmo-lead"], as_of="2026-12-01",
                  backend="rete")
    return Entry(**{**fields, **changes})


def test_a_repeated_decision_is_logged_once(log_target):
    with DecisionLog(log_target) as log:
        assert log.append([entry()]) == 1
        assert log.append([entry()]) == 0
        assert log.append([entry(input={"x": 2}), entry(input={"x": 2}), entry()]) == 1  # repeats within a batch too
        assert log.count() == 2
    with DecisionLog(log_target) as log:  # opened again: the same log, nothing migrated twice
        assert log.append([entry()]) == 0 and log.count() == 2


def test_a_batch_longer_than_one_statement_is_logged_whole_in_its_order(tmp_path, monkeypatch):
    """SQLite takes a batch in statements of many rows: a batch of several statements (a database that takes
    few parameters) keeps every entry once, in the batch's order, repeats skipped across the statements."""
    from engine.store import sqlite as store_sqlite
    monkeypatch.setattr(store_sqlite, "INSERT_ROWS", 7)
    projects = [f"P{k}" for k in range(40)]
    with DecisionLog(tmp_path / "log.sqlite") as log:
        log._db._variables = 14 * 5  # five rows of the table's 14 columns a statement, fewer than INSERT_ROWS
        assert log.append([entry(p) for p in projects[:20]] + [entry("P3")]) == 20
        assert log.append([entry(p) for p in projects]) == 20  # the first 20 are logged already
        assert [e["project"] for e in log.query()] == projects


def test_entries_come_back_exactly_and_by_key(log_target):
    hostile = "\ud800PRJ\udfff-\x00-\ud83d\ude00-é"
    written = [entry(time="2026-11-29T08:00:00+00:00"), entry(hostile, input={"id": hostile, "n": 1.5}, findings=[{"reason": hostile}],
                              override={"role": "steering-committee", "justification": "why"}, time="2026-11-30T10:00:00+00:00"),
               entry("P2", kind="intake", gate=None, outcome="reject", approvers=[], time="2026-12-02T09:00:00+00:00")]
    with DecisionLog(log_target) as log:
        assert log.append(written) == 3
        entries = log.query()
        assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
        odd = entries[1]
        assert odd["project"] == "\\ud800PRJ\\udfff-\\u0000-\\ud83d\\ude00-é"  # one documented way: the \uXXXX escape
        assert odd["input"] == {"id": "\ud800PRJ\udfff-\x00-😀-é", "n": 1.5}  # JSON: the same data back
        assert odd["override"] == {"role": "steering-committee", "justification": "why"}
        assert (odd["key"], odd["input_hash"], odd["as_of"], odd["backend"]) == (
            written[1].key, written[1].input_hash, "2026-12-01", "rete")
        assert log.get(written[2].key)["outcome"] == "reject" and log.get("no-such-key") is None
        assert [e["project"] for e in log.query(project=hostile)] == [odd["project"]]
        assert [e["project"] for e in log.query(kind="intake")] == ["P2"]
        assert [e["project"] for e in log.query(until=dt.date(2026, 11, 30))] == ["P1", odd["project"]]
        assert [e["project"] for e in log.query(since=dt.date(2026, 11, 30), until=dt.date(2026, 11, 30))] == [
            odd["project"]]
        assert [e["project"] for e in log.query(since=dt.date(2026, 12, 2))] == ["P2"]


def test_one_log_serves_several_threads(log_target):
    """As a server's worker threads would share it: every entry once, none lost (a transaction of one thread
    never takes in another thread's statements)."""
    errors = []
    with DecisionLog(log_target) as log:
        def write(first):
            try:
                for i in range(first, first + 200, 20):
                    log.append([entry(f"P{j}") for j in range(i, i + 20)] + [entry("shared")])
                    log.append([entry(f"Q{first}-{i}")])
                    log.query(project="shared")
            except Exception as exc:  # noqa: BLE001 (the assertion below shows it)
                errors.append(exc)
        threads = [threading.Thread(target=write, args=(n * 200,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert errors == [] and log.count() == 8 * 200 + 1 + 8 * 10


def test_postgresql_and_sqlite_hold_the_same_log(postgres_log, tmp_path):
    written = [entry(f"P{i}", input={"i": i}, time=f"2026-12-01T00:00:{i:02d}+00:00") for i in range(20)]
    logs = {}
    for target in (tmp_path / "log.sqlite", postgres_log):
        with DecisionLog(target) as log:
            assert log.append(written) == 20
            logs[str(target)] = log.query()
    sqlite_entries, postgres_entries = logs.values()
    assert postgres_entries == sqlite_entries  # seq included


def test_the_log_records_its_migrations(log_target):
    DecisionLog(log_target).close()
    with DecisionLog(log_target) as log:
        steps = log._db.execute("SELECT version, description, applied FROM pmo_schema ORDER BY version")
    assert [(v, d) for v, d, _ in steps] == [(m.version, m.description) for m in MIGRATIONS]
    assert steps[-1][0] == SCHEMA_VERSION and all(applied for _, _, applied in steps)


def test_a_log_written_by_a_newer_pmo_is_refused(log_target, capsys):
    with DecisionLog(log_target) as log:
        log.append([entry()])
        log._db.execute("INSERT INTO pmo_schema (version, description, applied) VALUES (?, ?, ?)",
                        (SCHEMA_VERSION + 1, "from the future", "2030-01-01"))
    with pytest.raises(LogError, match=f"written by a newer pmo \\(log version {SCHEMA_VERSION + 1}"):
        DecisionLog(log_target)
    assert main(["log", "--log", str(log_target)]) == 2
    err = capsys.readouterr().err
    assert "error[log_unusable]: cannot open the decision log" in err and "Traceback" not in err


# The log as pmo wrote it before the migrations table: the schema version in PRAGMA user_version (1).
VERSION_1 = """
CREATE TABLE decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, time TEXT NOT NULL, kind TEXT NOT NULL,
    project TEXT, gate TEXT, input_hash TEXT NOT NULL, policy_hash TEXT NOT NULL, outcome TEXT NOT NULL,
    findings TEXT NOT NULL, approvers TEXT NOT NULL, override TEXT, input TEXT NOT NULL, as_of TEXT, backend TEXT);
CREATE INDEX decisions_project ON decisions(project);
CREATE INDEX decisions_time ON decisions(time);
PRAGMA user_version = 1;
"""


def test_a_sqlite_log_at_user_version_1_opens_and_migrates(tmp_path):
    path = tmp_path / "v1.sqlite"
    old = entry("P1")
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1)
        db.execute("INSERT INTO decisions (key, time, kind, project, gate, input_hash, policy_hash, outcome, findings, "
                   "approvers, override, input, as_of, backend) VALUES (?, '2026-01-01T00:00:00+00:00', 'gate', 'P1', "
                   "'business-case', ?, 'h', 'go', '[]', '[\"pmo-lead\"]', NULL, '{\"x\":1}', '2026-12-01', 'rete')",
                   (old.key, old.input_hash))
    db.close()
    with DecisionLog(path) as log:
        assert [(e["project"], e["outcome"], e["time"]) for e in log.query()] == [
            ("P1", "go", "2026-01-01T00:00:00+00:00")]
        assert log.append([old]) == 0  # its key is the key this pmo computes: still idempotent
        assert log.append([entry("P2")]) == 1
    with sqlite3.connect(path) as db:
        steps = db.execute("SELECT version, applied FROM pmo_schema ORDER BY version").fetchall()
        user_version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    assert steps[:2] == [(0, None), (1, None)]  # applied before the log recorded its steps
    assert [v for v, _ in steps[2:]] == list(range(2, SCHEMA_VERSION + 1)) and all(a for _, a in steps[2:])
    assert user_version == SCHEMA_VERSION  # an older pmo, which reads user_version, still opens it


def test_a_foreign_decisions_table_is_not_taken_for_a_log(postgres_log):
    import psycopg
    with psycopg.connect(postgres_log, autocommit=True) as db:
        db.execute("CREATE TABLE decisions (id int)")
    with pytest.raises(LogError, match="a table 'decisions' that is not a pmo decision log"):
        DecisionLog(postgres_log)


def test_processes_opening_a_new_log_at_once_create_it_once(log_target):
    writers = [writer(log_target, i * 10, i * 10 + 9, batch=1) for i in range(4)]
    assert [finished(w) for w in writers] == [10, 10, 10, 10]
    with DecisionLog(log_target) as log:
        assert log.count() == 40
        assert [v for v, in log._db.execute("SELECT version FROM pmo_schema ORDER BY version")] == [
            m.version for m in MIGRATIONS]


def test_a_writer_killed_mid_batch_leaves_whole_batches_and_a_rerun_adds_only_the_rest(log_target):
    killed = writer(log_target, 0, 9_999, batch=500)
    count, deadline = 0, time.monotonic() + 120  # a hang guard, not a timing assertion
    while count < 1_500 and time.monotonic() < deadline and killed.poll() is None:
        time.sleep(0.01)
        try:
            with DecisionLog(log_target) as peek:
                count = peek.count()
        except LogError:
            count = 0  # the log is being created
    killed.kill()  # SIGKILL: no cleanup, no flush, a transaction left open
    killed.communicate(timeout=60)  # reaps it and closes its pipes
    assert killed.returncode == -9, "the writer finished before it was killed"
    with DecisionLog(log_target) as log:
        entries = log.query()
    assert 0 < len(entries) < 10_000 and len(entries) % 500 == 0  # whole transactions only
    assert all(e["findings"] and e["approvers"] and e["input"] for e in entries)  # every entry whole
    assert finished(writer(log_target, 0, 9_999)) == 10_000 - len(entries)  # the re-run adds only the rest
    assert finished(writer(log_target, 0, 9_999)) == 0  # and once more: nothing
    with DecisionLog(log_target) as log:
        entries = log.query()
    assert len(entries) == 10_000 and len({e["key"] for e in entries}) == 10_000
    if isinstance(log_target, str):
        return
    with sqlite3.connect(log_target) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def test_two_writers_and_a_cli_run_share_one_postgresql_log(postgres_log):
    """Three processes start on an empty log at once (each migrates it, or finds it migrated); the writers'
    entries overlap by 3,000 and meet in the middle, one ascending, one descending."""
    cli = [sys.executable, "-m", "engine.cli", "evaluate", PROPOSALS, "--today", "2026-12-01", "--log", postgres_log]
    runs = [writer(postgres_log, 0, 5_999, batch=250), writer(postgres_log, 8_999, 3_000, batch=250),
            subprocess.Popen(cli, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)]
    first, second = finished(runs[0]), finished(runs[1])
    _, err = runs[2].communicate(timeout=300)  # reads and closes the pipe (wait() could fill it and hang)
    assert runs[2].returncode == 0, err
    assert first + second == 9_000  # every overlapping entry was added by exactly one of them
    assert subprocess.run(cli, cwd=ROOT, capture_output=True, timeout=300).returncode == 0  # again: nothing new
    with DecisionLog(postgres_log) as log:
        entries = log.query()
    projects = [e["project"] for e in entries]
    assert len(entries) == 9_000 + PROPOSALS_DECIDED == len({e["key"] for e in entries})
    assert sorted(p for p in projects if p.startswith("P") and p[1:].isdigit()) == sorted(f"P{i}" for i in range(9_000))
    assert sum(str(e["input"].get("source")).endswith("proposals.csv") for e in entries) == PROPOSALS_DECIDED


def test_a_server_lost_mid_run_stops_the_run_and_resume_logs_the_rest_once(big_round, postgres_log, tmp_path):
    """The server ends the CLI's connection part-way (as a restart or a failover would): exit 2, said, and
    --resume completes the output and the log, every decision once."""
    import uuid

    import psycopg
    name = f"victim-{uuid.uuid4().hex[:8]}"
    target = f"{postgres_log}&application_name={name}"
    out = tmp_path / "out.csv"
    argv = ["evaluate", str(big_round), "--format", "csv", "--out", str(out), "--log", target, "--today", "2026-12-01",
            "--workers", "1"]

    def cut_the_connection():
        with psycopg.connect(postgres_log, autocommit=True) as db:
            deadline = time.monotonic() + 120  # a hang guard
            while time.monotonic() < deadline:
                count = db.execute("SELECT count(*) FROM decisions").fetchone()[0] \
                    if db.execute("SELECT to_regclass('decisions')").fetchone()[0] else 0
                if count >= 1_000:
                    db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                               (name,))
                    return
                time.sleep(0.005)

    cutter = threading.Thread(target=cut_the_connection)
    cutter.start()
    err = io.StringIO()
    code = main(argv, io.StringIO(), err)
    cutter.join()
    assert code == 2, err.getvalue()
    assert "cannot write" in err.getvalue() and "postgresql://" in err.getvalue() and "--resume" in err.getvalue()
    assert "Traceback" not in err.getvalue()
    with DecisionLog(postgres_log) as log:
        assert 0 < log.count() < ROWS
    err = io.StringIO()
    assert main(argv + ["--resume"], io.StringIO(), err) == 1, err.getvalue()  # 1: the round has error rows
    with DecisionLog(postgres_log) as log:
        entries = log.query()
    assert len(entries) == ROWS == len({e["input_hash"] for e in entries})
    assert len(out.read_text(encoding="utf-8").splitlines()) > ROWS  # header + rows (some span lines)


BAD_ADDRESSES = [
    ("postgresql://pmo:secret@127.0.0.1:1/pmo", "Connection refused"),  # nothing listens on port 1
    ("postgresql://pmo:secret@127.0.0.1:notaport/pmo", 'invalid integer value "notaport"'),
    ("postgresql://pmo:secret@127.0.0.1/pmo?sslmode=sometimes", "invalid sslmode value"),
    ("postgres://pmo:secret@[::1/pmo", "end of string reached when looking for matching \"]\""),
]


@pytest.mark.parametrize("address, says", BAD_ADDRESSES)
def test_a_bad_or_unreachable_address_is_a_clear_error(address, says, capsys):
    shown = address.replace(":secret@", ":***@")
    project = str(ROOT / "examples" / "projects" / "go.yaml")
    for argv in (["evaluate", PROPOSALS, "--log", address], ["gate", project, "--gate", "business-case", "--log",
                                                             address],
                 ["log", "--log", address], ["replay", "--log", address]):
        assert main(argv) == 2, argv  # README: 2, usage error, nothing decided
        captured = capsys.readouterr()
        assert captured.out == "" and "secret" not in captured.err
        (line,) = captured.err.splitlines()
        assert line.startswith(f"error[log_unusable]: cannot open the decision log {shown}: "), line
        # --no-log is suggested to the commands that have it (evaluate, gate), not to those that read the log
        assert says in line and line.endswith("; name another log with --log (a SQLite file or a postgresql:// "
                                              "address)" + (", or --no-log" if argv[0] in ("evaluate", "gate") else ""))


def test_the_command_line_says_an_unreachable_server_in_one_line():
    address, says = BAD_ADDRESSES[0]
    result = subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", PROPOSALS, "--log", address], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr and "Traceback" not in result.stderr


def test_a_missing_database_on_a_running_server_is_a_clear_error(postgres_server, capsys):
    address = postgres_server.rsplit("/", 1)[0] + "/no_such_database"
    assert main(["evaluate", PROPOSALS, "--log", address]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and 'database "no_such_database" does not exist' in captured.err


def test_the_log_command_reads_a_postgresql_log(postgres_log, capsys):
    assert main(["evaluate", PROPOSALS, "--log", postgres_log, "--today", "2026-12-01"]) == 0
    capsys.readouterr()
    assert main(["log", "--log", postgres_log, "--project", "PRJ-1006", "--format", "json"]) == 0
    (logged,) = json.loads(capsys.readouterr().out)
    assert logged["project"] == "PRJ-1006" and logged["kind"] == "intake" and logged["as_of"] == "2026-12-01"


def test_a_query_is_read_a_page_at_a_time_with_a_cursor(log_target):
    written = [entry(f"P{i % 3}", input={"i": i}, time=f"2026-12-{1 + i // 10:02d}T00:00:{i % 60:02d}+00:00")
               for i in range(25)]
    with DecisionLog(log_target) as log:
        log.append(written)
        everything = log.query()
        pages, after = [], None
        while True:
            page = log.page(after=after, limit=10)
            pages.append(page.entries)
            if page.next is None:
                break
            after = page.next
        assert [len(p) for p in pages] == [10, 10, 5] and sum(pages, []) == everything
        first = log.page(project="P1", since=dt.date(2026, 12, 2), until=dt.date(2026, 12, 3), limit=3)
        matching = [e for e in everything if e["project"] == "P1" and "2026-12-02" <= e["time"][:10] <= "2026-12-03"]
        assert first.entries == matching[:3] and first.next == matching[2]["seq"]
        assert log.page(project="P1", since=dt.date(2026, 12, 2), until=dt.date(2026, 12, 3), limit=3,
                        after=first.next).entries == matching[3:]
        assert log.page(limit=25).next is None and len(log.page(limit=25).entries) == 25
        for bad in (0, MAX_PAGE + 1):
            with pytest.raises(ValueError, match="limit"):
                log.page(limit=bad)
        assert len(log.query(limit=4)) == 4 and log.query(after=everything[-2]["seq"]) == everything[-1:]


def test_paging_while_writers_commit_misses_and_repeats_nothing(log_target):
    """Entries are numbered in commit order (on PostgreSQL too), so a cursor never passes over an entry that a
    slower transaction commits later: a reader paging along with three writers sees every entry exactly once."""
    with DecisionLog(log_target):
        pass  # created before the writers start
    writers = [writer(log_target, n * 10_000, n * 10_000 + 1_499, batch) for n, batch in enumerate((1, 7, 150))]
    seen: list[int] = []
    with DecisionLog(log_target) as log:
        after = None
        while True:
            running = any(w.poll() is None for w in writers)
            page = log.page(after=after, limit=97)
            seen.extend(e["seq"] for e in page.entries)
            after = page.entries[-1]["seq"] if page.entries else after
            if page.next is None and not running:
                break
            if page.next is None:
                time.sleep(0.01)
        assert sum(finished(w) for w in writers) == 4_500
        assert len(seen) == len(set(seen)) == log.count() == 4_500


def _read_only_run(locked, args: list[str]) -> subprocess.CompletedProcess:
    """``pmo ARGS`` in a process for which ``locked`` (a folder or a file) cannot be written: a read-only bind mount
    in a mount namespace of its own for root (whom permissions do not stop), the permission bits for anyone else."""
    import os
    import shlex
    command = [sys.executable, "-m", "engine.cli", *args]
    if os.geteuid() == 0:
        if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
            pytest.skip("root without mount namespaces: no way to make a folder read-only for this process")
        where = shlex.quote(str(locked))
        script = f"mount --bind {where} {where} && mount -o remount,bind,ro {where} && exec {shlex.join(command)}"
        return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    mode = locked.stat().st_mode
    locked.chmod(0o555 if locked.is_dir() else 0o444)
    try:
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        locked.chmod(mode)


@pytest.fixture()
def logged(tmp_path):
    """A SQLite log holding a gate decision and an intake round, closed (its WAL moved into the file)."""
    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "log.sqlite"
    assert main(["gate", str(ROOT / "examples" / "projects" / "go.yaml"), "--gate", "business-case",
                 "--log", str(db)], stdout=io.StringIO(), stderr=io.StringIO()) == 0
    assert main(["evaluate", PROPOSALS, "--log", str(db)], stdout=io.StringIO(), stderr=io.StringIO()) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["log.sqlite"]
    return db


@pytest.mark.parametrize("locked", ["folder", "file"])
def test_a_log_that_cannot_be_written_is_read_by_every_reading_command(logged, locked):
    """WAL needs the -shm file beside the log: a log in a read-only folder (or a read-only log file) is still read
    by pmo log, replay, kpi --log and status history, and left as it was."""
    target = logged.parent if locked == "folder" else logged
    before = logged.read_bytes()
    done = _read_only_run(target, ["log", "--log", str(logged), "--format", "json"])
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 1 + PROPOSALS_DECIDED
    done = _read_only_run(target, ["replay", "--log", str(logged), "--format", "json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["replayed"] == 1 + PROPOSALS_DECIDED
    done = _read_only_run(target, ["kpi", "--log", str(logged)])
    assert done.returncode == 0, done.stderr
    done = _read_only_run(target, ["status", "history", "PRJ-1001", "--log", str(logged)])
    assert "Traceback" not in done.stderr
    assert logged.read_bytes() == before
    if locked == "folder":
        assert sorted(p.name for p in logged.parent.iterdir()) == ["log.sqlite"]
    else:  # read-only mode makes the -wal (empty) and -shm files beside the file, and cannot remove them
        assert (logged.parent / "log.sqlite-wal").stat().st_size == 0


@pytest.mark.parametrize("locked", ["folder", "file"])
def test_writing_to_a_log_that_cannot_be_written_is_a_located_error(logged, locked):
    target = logged.parent if locked == "folder" else logged
    done = _read_only_run(target, ["gate", str(ROOT / "examples" / "projects" / "hold.yaml"), "--gate",
                                   "business-case", "--log", str(logged)])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    action = "open" if locked == "folder" else "write to"  # SQLite opens a read-only file, and refuses the write
    assert f"error[log_unusable]: cannot {action} the decision log {logged}: " in done.stderr
    assert ("its folder" if locked == "folder" else "the file is read-only") in done.stderr
    assert "name a log you can write with --log" in done.stderr and "or --no-log" in done.stderr
    assert "'pmo log', 'pmo replay' and 'pmo kpi --log' read this one as it is" in done.stderr


def test_a_log_whose_wal_holds_transactions_is_not_read_without_them(tmp_path):
    """Without a -shm file a read-only folder's log is read as an immutable file, which ignores the WAL: so a
    -wal holding transactions (a writer killed before its checkpoint) is refused, never read stale."""
    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "log.sqlite"
    with DecisionLog(db) as log:
        log.append([entry("P1")])
    crashed = subprocess.run([sys.executable, "-c", "import os, sys\nfrom engine.store import DecisionLog, Entry\n"
                              "log = DecisionLog(sys.argv[1])\nlog.append([Entry('gate', 'P2', 'g', {}, 'h', 'go', [], "
                              "[], as_of='2026-12-01', backend='rete')])\nos._exit(0)", str(db)], cwd=ROOT)
    assert crashed.returncode == 0
    (folder / "log.sqlite-shm").unlink()
    assert (folder / "log.sqlite-wal").stat().st_size > 0
    done = _read_only_run(folder, ["log", "--log", str(db)])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "log.sqlite-wal holds transactions that are not in the log file yet" in done.stderr
    with DecisionLog(db) as log:  # where it can be written, both entries are there
        assert [e["project"] for e in log.query()] == ["P1", "P2"]
