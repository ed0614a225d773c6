"""A whole intake round through `pmo evaluate`, CSV in and CSV out: peak memory and 1 vs 2 workers.

    python benchmarks/batch_throughput.py                # 1,000,000 proposals
    python benchmarks/batch_throughput.py --n 100000

Each run is a separate `pmo evaluate` process; peak memory is the largest total resident memory of the
process and its workers, sampled every 50 ms from /proc. The outputs of the 1- and 2-worker runs are
compared byte for byte.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_input(path: Path, n: int) -> None:
    rng = random.Random(9)
    objectives = ["net-zero", "grid-resilience", "customer-experience", "operational-efficiency"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "sponsor", "alignment", "category", "budget", "benefit", "risk", "complexity",
                    "start_date", "end_date", "regulatory", "personal_data", "headcount"])
        for i in range(n):
            budget = rng.randint(20_000, 6_000_000)
            w.writerow([f"PRJ-{i:07d}", f"Proposal {i}", rng.choice(["Ann Lee", "Bo Chen", ""]),
                        f"{rng.choice(objectives)}:{rng.choice(['low', 'moderate', 'strong'])}",
                        rng.choice(["growth", "efficiency", "compliance", "innovation", "maintenance"]), budget,
                        int(budget * rng.uniform(0.5, 4)), rng.randint(1, 5), rng.randint(1, 5), "2027-03-01",
                        "2027-12-17", rng.choice(["yes", "no", "no", "no"]), rng.choice(["yes", "no"]),
                        rng.randint(1, 60)])


def tree_rss(pid: int) -> int:
    """Resident memory (bytes) of a process and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total


def run(source: Path, out: Path, workers: int) -> tuple[float, int]:
    command = [sys.executable, "-m", "engine.cli", "evaluate", str(source), "--format", "csv", "--out", str(out),
               "--no-log", "--today", "2026-12-01", "--workers", str(workers)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pmo evaluate failed with exit {proc.returncode}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pmo-batch-"))
    source = folder / "proposals.csv"
    write_input(source, args.n)
    results = {}
    for workers in (1, 2):
        out = folder / f"decisions-{workers}.csv"
        seconds, peak = run(source, out, workers)
        results[workers] = (seconds, peak, hashlib.sha256(out.read_bytes()).hexdigest())
    size = source.stat().st_size
    print(f"{args.n:,} proposals ({size / 1e6:,.0f} MB CSV) through `pmo evaluate --format csv`, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"{'workers':>8} {'seconds':>9} {'rows/s':>9} {'peak MB':>8}")
    for workers, (seconds, peak, _) in results.items():
        print(f"{workers:>8} {seconds:>9.1f} {args.n / seconds:>9,.0f} {peak / 1e6:>8.0f}")
    print(f"2 workers vs 1: {results[1][0] / results[2][0]:.2f}x; outputs byte-identical: "
          f"{results[1][2] == results[2][2]}")


if __name__ == "__main__":
    main()
