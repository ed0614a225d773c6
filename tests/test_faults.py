"""Faults while writing: a full disk under the output or under the decision log. In each case the user
is told what happened, the run stops with exit 2, and --resume afterwards completes the output with every
row exactly once, in order, and the log with every decision exactly once."""
import errno
import os
import pathlib
import sqlite3
import subprocess
import sys

import pytest

from engine.cli import main
from engine.store import log as store_log
from engine.tasks.evaluate import LOG_BATCH
from tests.conftest import ROOT, ROWS


def evaluate(big_round, out, log, *extra):
    return main(["evaluate", str(big_round), "--format", out.suffix[1:], "--out", str(out), "--log", str(log),
                 "--today", "2026-12-01", "--workers", "1", *extra])


class FullDisk:
    """A file that takes ``room`` bytes, then fails like a full disk (part of the last write lands)."""

    def __init__(self, real, room: int, named: bool = True):
        self.real, self.room, self.named = real, room, named

    def write(self, text: str) -> int:
        if len(text) > self.room:
            self.real.write(text[:self.room])
            self.room = 0
            # As write(2) fails: no file name (the existing tests name it, as a wrapper might)
            raise OSError(errno.ENOSPC, "No space left on device", *([self.real.name] if self.named else []))
        self.room -= len(text)
        return self.real.write(text)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def logged(log) -> tuple[int, int]:
    with sqlite3.connect(log) as db:
        return db.execute("select count(*), count(distinct input_hash) from decisions").fetchone()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_full_disk_under_the_output_loses_nothing(big_round, tmp_path, monkeypatch, capsys, fmt):
    whole = tmp_path / f"whole.{fmt}"
    assert evaluate(big_round, whole, tmp_path / "whole.sqlite") == 1
    out, log = tmp_path / f"out.{fmt}", tmp_path / "log.sqlite"
    real_open = pathlib.Path.open

    def open_on_a_small_disk(self, mode="r", *args, **kwargs):
        f = real_open(self, mode, *args, **kwargs)
        return FullDisk(f, 300_000) if self == out and mode[0] in "wa" else f

    monkeypatch.setattr(pathlib.Path, "open", open_on_a_small_disk)
    assert evaluate(big_round, out, log) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "--resume" in err
    monkeypatch.setattr(pathlib.Path, "open", real_open)  # space freed
    assert evaluate(big_round, out, log, "--resume") == 1
    assert "resuming" in capsys.readouterr().err
    assert out.read_bytes() == whole.read_bytes()
    assert logged(log) == (ROWS, ROWS)


def test_a_full_disk_under_the_log_loses_nothing(big_round, tmp_path, monkeypatch, capsys):
    whole = tmp_path / "whole.csv"
    assert evaluate(big_round, whole, tmp_path / "whole.sqlite") == 1
    out, log = tmp_path / "out.csv", tmp_path / "log.sqlite"
    real_init = store_log.DecisionLog.__init__

    def small_disk(self, path=store_log.DEFAULT_PATH):
        real_init(self, path)
        # 4 kB pages, 0.8 a decision of one transaction: room for about two transactions of entries of ~1.4 kB,
        # so the log fills up part-way
        self._db.execute(f"PRAGMA max_page_count = {LOG_BATCH * 4 // 5}")

    monkeypatch.setattr(store_log.DecisionLog, "__init__", small_disk)
    assert evaluate(big_round, out, log) == 2
    err = capsys.readouterr().err
    assert "full" in err and str(log) in err and "--resume" in err
    before = logged(log)[0]
    assert 0 < before < ROWS
    monkeypatch.setattr(store_log.DecisionLog, "__init__", real_init)
    assert evaluate(big_round, out, log, "--resume") == 1
    assert out.read_bytes() == whole.read_bytes()
    assert logged(log) == (ROWS, ROWS)


def _a_small_disk_under(folder, monkeypatch, room=4_000):
    """Every file opened for writing in ``folder`` (by open, io.open, Path.open or zipfile) is a FullDisk."""
    import builtins
    import io
    real_open = io.open

    def small_disk_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        inside = isinstance(file, (str, pathlib.Path)) and pathlib.Path(file).parent == folder
        return FullDisk(f, room, named=False) if inside and mode[0] in "wax" else f

    monkeypatch.setattr(io, "open", small_disk_open)
    monkeypatch.setattr(builtins, "open", small_disk_open)


OUTPUTS = {  # a workbook or a report, written by evaluate or rank
    "evaluate xlsx": ("evaluate", "d.xlsx", ["--format", "xlsx", "--out"]),
    "evaluate report": ("evaluate", "r.html", ["--report"]),
    "rank xlsx": ("rank", "d.xlsx", ["--format", "xlsx", "--out"]),
    "rank report": ("rank", "r.html", ["--report"]),
}


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # a traceback at exit
@pytest.mark.parametrize("case", OUTPUTS)
def test_a_full_disk_under_a_workbook_or_a_report_leaves_nothing_half_written(case, tmp_path, monkeypatch, capsys):
    from tests.conftest import ROOT
    command, name, flags = OUTPUTS[case]
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / name
    target.write_bytes(b"the earlier file")
    _a_small_disk_under(folder, monkeypatch)
    code = main([command, str(ROOT / "examples" / "proposals.csv"), "--today", "2026-12-01", "--no-log"
                 if command == "evaluate" else "--workers=1", *flags, str(target)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"cannot write {target}" in err and "No space left on device" in err and "Traceback" not in err
    assert target.read_bytes() == b"the earlier file"  # the earlier file is whole, and no temporary file is left
    assert [p.name for p in folder.iterdir()] == [name]


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # a traceback at exit
@pytest.mark.parametrize("case", OUTPUTS)
def test_an_output_folder_that_cannot_be_written_is_named(case, tmp_path, capsys):
    from tests.conftest import ROOT
    command, name, flags = OUTPUTS[case]
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    target = not_a_folder / name  # its folder is a file: like a read-only folder, even for root
    code = main([command, str(ROOT / "examples" / "proposals.csv"), "--today", "2026-12-01", "--no-log"
                 if command == "evaluate" else "--workers=1", *flags, str(target)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"cannot write {target}" in err and "None" not in err and "Traceback" not in err


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_an_output_that_fails_only_when_closed_is_an_error_not_a_success(tmp_path, fmt):
    """Was: a small output stays in the file's buffer, the full disk shows only at close(), the error was
    suppressed there, and pmo said 'written to d.csv' with exit 0 over a truncated file. A real file-size
    limit (RLIMIT_FSIZE, as `prlimit --fsize` sets) stands in for the full disk."""
    import resource
    out = tmp_path / f"d.{fmt}"
    small = tmp_path / "in.csv"  # three proposals: the whole output fits in the file's buffer
    small.write_text("".join((ROOT / "examples" / "proposals.csv").read_text(encoding="utf-8").splitlines(True)[:4]),
                     encoding="utf-8")

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
    # No bytecode written under the limit: CPython's writer ignores the short write and leaves a cut .pyc
    # that the suite's next process then fails to read ("marshal data too short").
    result = subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", "--no-log", "--format", fmt,
                             "--out", str(out), str(small)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, preexec_fn=small_disk,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 2, result.stderr
    assert f"cannot write {out}" in result.stderr and "written to" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_refused_run_gives_its_code_and_names_the_output_the_user_gave(tmp_path, capsys, monkeypatch):
    # Was: "pmo: error: cannot write out/.decisions.csv.pmo-run: No such file or directory" (no code; the run's
    # own record beside the output, not the output; and "the rows already in out/decisions.csv are kept": none were)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.csv").write_text("id,title\nPRJ-0001,Invoice OCR\n", encoding="utf-8")
    assert main(["evaluate", "p.csv", "--no-log", "--format", "xlsx"]) == 2
    assert "pmo: error[usage]: --format xlsx needs --out FILE.xlsx" in capsys.readouterr().err
    assert main(["evaluate", "p.csv", "--no-log", "--format", "csv", "--out", "out/decisions.csv"]) == 2
    err = capsys.readouterr().err
    assert "pmo: error[cannot_write]: cannot write out/decisions.csv: No such file or directory" in err, err
    assert "pmo: the folder out does not exist: create it, or give another path" in err
    assert ".pmo-run" not in err and "are kept" not in err


@pytest.mark.parametrize("argv, line", [
    (["rank", "p.csv", "--top", "0"], "pmo: error[usage]: --top must be at least 1"),
    (["evaluate", "missing.csv", "--no-log"], "pmo: error[no_file]: no such file: missing.csv"),
    (["kpi"], "pmo: error[usage]: give --status FILES, --log DB or --selection JSON"),
    (["impact", "p.yaml", "--delay", "CRM"], "pmo: error[usage]: --delay needs ID=N, got 'CRM'"),
])
def test_a_command_line_error_gives_its_code(argv, line, tmp_path, capsys, monkeypatch):
    # they printed "pmo: error: ...", the one kind of error without a code to look up in docs/errors.md
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.csv").write_text("id,title\nPRJ-0001,Invoice OCR\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text("projects:\n- {id: CRM, name: CRM replacement}\n", encoding="utf-8")
    assert main(argv) == 2
    assert line in capsys.readouterr().err


@pytest.mark.parametrize("target", ["postgresql://pmo@db.example:5432/pmo", "postgres://pmo@db.example/pmo"])
def test_a_log_server_that_fails_mid_run_says_resume_not_a_missing_folder(tmp_path, target):
    """A decision log on a server is an address, not a path: its failure part-way (a lost server) says the rows
    written are kept and --resume decides the rest. It said "the folder postgresql:/pmo@db.example:5432 does not
    exist", reading the address as a file's path (seen in CI, on PostgreSQL)."""
    from engine.tasks.evaluate import Output, _cannot_write
    output = Output(format="csv", out=tmp_path / "out.csv", log=target)
    error = _cannot_write(OSError(0, "server closed the connection unexpectedly", target), output)
    text = str(error) + " " + (error.hint or "")
    assert f"cannot write {target}" in text and "--resume" in text and "does not exist" not in text, text
