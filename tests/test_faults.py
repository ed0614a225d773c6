"""Faults while writing: a full disk under the output or under the decision log. In each case the user
is told what happened, the run stops with exit 2, and --resume afterwards completes the output with every
row exactly once, in order, and the log with every decision exactly once."""
import errno
import pathlib
import sqlite3

import pytest

from engine import audit
from engine.cli import main

from tests.conftest import ROWS


def evaluate(big_round, out, log, *extra):
    return main(["evaluate", str(big_round), "--format", out.suffix[1:], "--out", str(out), "--log", str(log),
                 "--today", "2026-12-01", "--workers", "1", *extra])


class FullDisk:
    """A file that takes ``room`` bytes, then fails like a full disk (part of the last write lands)."""

    def __init__(self, real, room: int):
        self.real, self.room = real, room

    def write(self, text: str) -> int:
        if len(text) > self.room:
            self.real.write(text[:self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device", self.real.name)
        self.room -= len(text)
        return self.real.write(text)

    def __getattr__(self, name):
        return getattr(self.real, name)


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
    real_init = audit.DecisionLog.__init__

    def small_disk(self, path=audit.DEFAULT_PATH):
        real_init(self, path)
        self._db.execute("PRAGMA max_page_count = 400")  # about 1.6 MB: the log fills up part-way

    monkeypatch.setattr(audit.DecisionLog, "__init__", small_disk)
    assert evaluate(big_round, out, log) == 2
    err = capsys.readouterr().err
    assert "full" in err and str(log) in err and "--resume" in err
    before = logged(log)[0]
    assert 0 < before < ROWS
    monkeypatch.setattr(audit.DecisionLog, "__init__", real_init)
    assert evaluate(big_round, out, log, "--resume") == 1
    assert out.read_bytes() == whole.read_bytes()
    assert logged(log) == (ROWS, ROWS)
