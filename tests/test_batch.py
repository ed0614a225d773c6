"""Batches with worker processes: same output for any number of workers, nothing lost when a worker dies."""
import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from engine.cli import main
from engine.tasks import batch as batch_module
from engine.tasks.batch import Fault
from tests.conftest import ROOT, write_round


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
    monkeypatch.setattr(batch_module, "FAULT", Fault("P1500", once_file=str(tmp_path / "killed-once")))
    assert run(batch, tmp_path, 2, "after-kill.jsonl") == one  # the dead worker's rows were decided again
    assert (tmp_path / "killed-once").exists()


def test_a_row_that_always_kills_becomes_an_engine_error_row(batch, tmp_path, monkeypatch):
    one = run(batch, tmp_path, 1, "one.jsonl").splitlines()
    monkeypatch.setattr(batch_module, "FAULT", Fault("P1500"))
    out = run(batch, tmp_path, 2, "always.jsonl").splitlines()
    assert len(out) == len(one)
    changed = [k for k, (a, b) in enumerate(zip(one, out)) if a != b]
    assert changed == [1500] and b'"engine_error"' in out[1500]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in pathlib.Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited; only its parent's wait is missing)."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not pathlib.Path("/proc/self/task").is_dir(), reason="needs /proc to find the workers")
def test_workers_die_with_a_killed_parent(tmp_path):
    data = write_round(tmp_path / "many.csv", 60_000, seed=4)
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "evaluate", str(data), "--workers", "2",
                                "--format", "jsonl", "--out", str(out), "--no-log", "--today", "2026-12-01"],
                               stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 60  # a hang guard, not a measurement
    workers: set[int] = set()
    while time.monotonic() < deadline and process.poll() is None:
        workers = {w for w in _children(process.pid) if _running(w)}
        if len(workers) >= 2:  # both started: kill now, whether or not they have written (a loaded machine
            break              # can finish 60,000 rows between two looks if we wait for output too)
        time.sleep(0.02)
    assert process.poll() is None and len(workers) >= 2, "the batch ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(w) for w in workers):
        time.sleep(0.05)
    left = [w for w in workers if _running(w)]
    for w in left:  # do not leave them behind, whatever the result
        os.kill(w, signal.SIGKILL)
    assert left == [], "worker processes outlived the killed parent"


WATCHED = """
import os, sys, time
from engine.tasks import processes
parent = os.getpid()
child = os.fork()
if child == 0:  # no prctl here: only the watch can end this process
    processes._watch(parent, os.getppid())
    time.sleep(120)  # the watch must end the process itself
print(child, flush=True)
time.sleep(120)
"""


def test_the_parent_watch_ends_a_worker_without_prctl():
    with subprocess.Popen([sys.executable, "-c", WATCHED], stdout=subprocess.PIPE, text=True, cwd=ROOT) as process:
        child = int(process.stdout.readline())  # the with block closes the pipe (filterwarnings = error)
        assert _running(child)
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 30  # a hang guard
    while time.monotonic() < deadline and _running(child):
        time.sleep(0.05)
    alive = _running(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive
