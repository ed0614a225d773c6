"""Batches with worker processes: same output for any number of workers, nothing lost when a worker dies."""
import pytest

from engine.batch import FAULT_ENV, FAULT_ONCE_ENV
from engine.cli import main
from tests.conftest import write_round


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return write_round(tmp_path_factory.mktemp("batch") / "many.csv", 3000, seed=3)


def run(batch, tmp_path, workers, name):
    out = tmp_path / name
    code = main(["evaluate", str(batch), "--format", "jsonl", "--no-log", "--today", "2026-12-01",
                 "--workers", str(workers), "--out", str(out)])
    assert code in (0, 1)
    return out.read_bytes()


def test_two_workers_give_byte_identical_output(batch, tmp_path):
    one = run(batch, tmp_path, 1, "one.jsonl")
    assert one.count(b"\n") == 3000
    assert run(batch, tmp_path, 2, "two.jsonl") == one


def test_a_killed_worker_loses_no_row(batch, tmp_path, monkeypatch):
    one = run(batch, tmp_path, 1, "one.jsonl")
    monkeypatch.setenv(FAULT_ENV, "P1500")
    monkeypatch.setenv(FAULT_ONCE_ENV, str(tmp_path / "killed-once"))
    assert run(batch, tmp_path, 2, "after-kill.jsonl") == one  # the dead worker's rows were decided again
    assert (tmp_path / "killed-once").exists()


def test_a_row_that_always_kills_becomes_an_engine_error_row(batch, tmp_path, monkeypatch):
    one = run(batch, tmp_path, 1, "one.jsonl").splitlines()
    monkeypatch.setenv(FAULT_ENV, "P1500")
    out = run(batch, tmp_path, 2, "always.jsonl").splitlines()
    assert len(out) == len(one)
    changed = [k for k, (a, b) in enumerate(zip(one, out)) if a != b]
    assert changed == [1500] and b'"engine_error"' in out[1500]
