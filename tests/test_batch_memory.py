"""Memory stays bounded in a batch with workers (issue #19: under 200 MB per process for 1,000,000 rows). The
parent holds a bounded number of chunks in flight and the workers return formatted text, so memory does not
grow with the rows: bounded here on 20,000 rows, sampling each process of the batch (/proc, every 50 ms)."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

LIMIT = 200 * 1024 * 1024


def _largest(pid: int) -> int:
    """The largest resident size (bytes) among a process and its descendants, now."""
    largest, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            largest = max(largest, next(int(line.split()[1]) * 1024 for line in status.splitlines()
                                        if line.startswith("VmRSS:")))
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return largest


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_two_worker_batch_stays_under_200_mb_per_process(tmp_path):
    from batch_throughput import write_input
    source, out = tmp_path / "round.csv", tmp_path / "out.csv"
    write_input(source, 20_000)
    command = [sys.executable, "-m", "engine.cli", "evaluate", str(source), "--format", "csv", "--out", str(out),
               "--no-log", "--today", "2026-12-01", "--workers", "2"]
    errors = open(tmp_path / "stderr.txt", "w+b")  # a file, not a pipe: the batch's progress never fills one
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
    peak, deadline = 0, time.monotonic() + 600  # a hang guard, not a timing
    while process.poll() is None and time.monotonic() < deadline:
        peak = max(peak, _largest(process.pid))
        time.sleep(0.05)
    code = process.wait(timeout=5)
    errors.seek(0)
    said = errors.read().decode("utf-8", "replace")
    errors.close()
    assert code == 0, said
    assert 0 < peak < LIMIT, f"a process of the batch reached {peak / 1e6:.0f} MB"
    assert out.read_text(encoding="utf-8").count("\n") == 20_001
