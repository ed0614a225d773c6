"""The decision log's own cost per entry: DecisionLog.append on intake entries shaped as `pmo evaluate` makes
them (the row's 14 cells, 5 findings), against the log as it was before issue #19 (each input encoded as JSON
three times: for the key, the hash and the column).

    python benchmarks/log_append.py                      # 20,000 entries, 3 interleaved repeats
    python benchmarks/log_append.py --before OLD_AUDIT.py   # e.g. `git show f23b949:engine/audit.py > old.py`
    python benchmarks/log_append.py --held 0,300000,1000000 --repeat 1   # as the log grows

``--held``: the database's cost (the entries encoded first, not timed) of appending ``--n`` entries to a log that
already holds that many (filled first, not timed):
each entry's key is a digest, so its place in the key index is at random, and a larger index means more of its
pages changed by each transaction.

CPU seconds (the thread's, the kernel's writes included) per entry, medians; each run writes a new log in a temporary folder.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine.store.log as audit  # noqa: E402


def entries(module, n: int) -> list:
    findings = [{"rule": f"rule-{k}", "effect": "review", "reason": f"Budget {k * 1000:,} is above 250,000 and up "
                 "to 1,000,000: Portfolio Board approves it", "route": "Portfolio Board",
                 "source": {"file": "policies/intake.yaml", "line": 40 + k, "column": 5}, "origin": None}
                for k in range(5)]
    return [module.Entry("intake", f"PRJ-{i:07d}", None, {"row": {
        "id": f"PRJ-{i:07d}", "title": f"Proposal {i}", "sponsor": "Ann Lee", "alignment": "net-zero:strong",
        "category": "growth", "budget": str(100_000 + i), "benefit": str(300_000 + i), "risk": "3", "complexity": "2",
        "start_date": "2027-03-01", "end_date": "2027-12-17", "regulatory": "no", "personal_data": "yes",
        "headcount": "12"}, "source": "proposals.csv", "line": i + 2}, "a825e4dcb84e2f84", "review", findings,
        ["Portfolio Board"], as_of="2026-12-01", backend="rete") for i in range(n)]


BATCH = 2_000  # entries a transaction, as engine/tasks/evaluate.py's LOG_BATCH


def run(module, n: int, batch: int = BATCH, held: int = 0, stored_only: bool = False) -> float:
    """CPU seconds to append ``n`` entries; ``stored_only``: the entries encoded first (not timed), so only the
    database's part is (its thread's CPU, the kernel's writes included)."""
    items = entries(module, n)
    rows = module.encoded(items) if stored_only else None
    with tempfile.TemporaryDirectory() as folder:
        with module.DecisionLog(Path(folder) / "log.sqlite") as log:
            for k in range(0, held, batch):  # other decisions (other days), already logged
                log.append_encoded(module.encoded(module.Entry(**{**vars(e), "as_of": f"held-{k + i}"})
                                                  for i, e in enumerate(entries(module, min(batch, held - k)))))
            start = time.thread_time()
            for k in range(0, n, batch):
                if rows is None:
                    log.append(items[k:k + batch])
                else:
                    log.append_encoded(rows[k:k + batch])
            return time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, help="an older engine/audit.py to compare with")
    parser.add_argument("--batch", type=int, default=BATCH, help="entries a transaction (before issue #19: 500)")
    parser.add_argument("--held", help="comma-separated: entries the log holds before the timed ones")
    args = parser.parse_args()
    if args.held is not None:
        sizes = [int(size) for size in args.held.split(",")]
        print(f"DecisionLog.append, {args.n:,} entries in batches of {args.batch:,} to a log already holding N, "
              f"median of {args.repeat}, python {sys.version.split()[0]}")
        for size in sizes:
            spent = statistics.median(run(audit, args.n, args.batch, size, True) for _ in range(args.repeat))
            print(f"N = {size:>10,}  {spent / args.n * 1e6:>7.1f} us per entry", flush=True)
        return
    modules = {"now": audit}
    if args.before:
        spec = importlib.util.spec_from_file_location("audit_before", args.before)
        before = importlib.util.module_from_spec(spec)
        sys.modules["audit_before"] = before  # dataclasses look their module up
        spec.loader.exec_module(before)
        modules["before"] = before
    times: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(args.repeat):
        for name, module in modules.items():
            times[name].append(run(module, args.n, args.batch))
    print(f"DecisionLog.append, {args.n:,} intake entries in batches of {args.batch:,}, median of {args.repeat}, "
          f"python {sys.version.split()[0]}")
    for name, spent in times.items():
        print(f"{name:<8} {statistics.median(spent) / args.n * 1e6:>7.1f} us per entry")
    if "before" in times:
        print(f"now vs before: {statistics.median(times['before']) / statistics.median(times['now']):.2f}x faster")


if __name__ == "__main__":
    main()
