"""The decision log's write rate on SQLite and on PostgreSQL: batches (as `pmo evaluate` writes them) and single
entries (as a server answering one request at a time would), in one process and in two at once.

    . .ci/postgres.sh && pmo_postgres_start        # a throw-away server: sets PMO_TEST_POSTGRES
    python benchmarks/log_throughput.py             # 20,000 entries per case
    python benchmarks/log_throughput.py --n 5000 --postgres postgresql://pmo@db/pmo

Each case writes to a new log (a new file, or a new schema on the server), counts the entries afterwards,
and checks that there are exactly as many as were written (the two-process cases write the same keys:
every key once).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.store import DecisionLog  # noqa: E402

WRITE = """
import sys, time
from engine.store import DecisionLog, Entry
target, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with DecisionLog(target) as log:
    began = time.time()
    for start in range(0, n, batch):
        log.append([Entry("intake", f"P{i}", None, {"row": {"id": f"P{i}", "budget": i}}, "policy", "accept",
                          [{"rule": "r", "effect": "flag", "reason": "a reason of some length"}], ["pmo-lead"],
                          as_of="2026-12-01", backend="rete") for i in range(start, min(start + batch, n))])
    print(began, time.time())
"""


def new_log(kind: str, postgres: str | None, folder: Path) -> str:
    if kind == "sqlite":
        return str(folder / f"{uuid.uuid4().hex}.sqlite")
    import psycopg
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    return postgres + ("&" if "?" in postgres else "?") + f"options=-csearch_path%3D{schema}"


def run(target: str, n: int, batch: int, processes: int) -> float:
    """Seconds from the first writer's first append to the last writer's last (process start-up excluded)."""
    DecisionLog(target).close()  # created before the clock starts
    writers = [subprocess.Popen([sys.executable, "-c", WRITE, target, str(n), str(batch)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    spans = [tuple(map(float, w.communicate()[0].split())) for w in writers]
    assert all(w.returncode == 0 for w in writers)
    elapsed = max(end for _, end in spans) - min(began for began, _ in spans)
    with DecisionLog(target) as log:
        assert log.count() == n, (log.count(), n)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="entries per case")
    parser.add_argument("--postgres", default=os.environ.get("PMO_TEST_POSTGRES"), help="a server's address")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    print(f"{args.n:,} entries per case (batches of 500), a tenth of that one at a time; with 2 processes both "
          "write the same entries, each logged once; rate = entries logged / seconds")
    print(f"{'log':<11} {'batch':>6} {'processes':>9} {'seconds':>8} {'entries/s':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            for batch, n in ((500, args.n), (1, args.n // 10)):
                for processes in (1, 2):
                    elapsed = run(new_log(kind, args.postgres, Path(folder)), n, batch, processes)
                    print(f"{kind:<11} {batch:>6} {processes:>9} {elapsed:>8.2f} {n / elapsed:>10,.0f}")


if __name__ == "__main__":
    main()
