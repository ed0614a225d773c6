"""The decision log's own cost per entry: DecisionLog.append on intake entries shaped as `pmo evaluate` makes
them (the row's 14 cells, 5 findings), against the log as it was before issue #19 (each input encoded as JSON
three times: for the key, the hash and the column).

    python benchmarks/log_append.py                      # 20,000 entries, 3 interleaved repeats
    python benchmarks/log_append.py --before OLD_AUDIT.py   # e.g. `git show f23b949:engine/audit.py > old.py`

CPU seconds (process time) per entry, medians; each run writes a new log in a temporary folder.
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


def run(module, n: int, batch: int = 500) -> float:
    items = entries(module, n)
    with tempfile.TemporaryDirectory() as folder:
        with module.DecisionLog(Path(folder) / "log.sqlite") as log:
            start = time.process_time()
            for k in range(0, n, batch):
                log.append(items[k:k + batch])
            return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, help="an older engine/audit.py to compare with")
    args = parser.parse_args()
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
            times[name].append(run(module, args.n))
    print(f"DecisionLog.append, {args.n:,} intake entries in batches of 500, median of {args.repeat}, "
          f"python {sys.version.split()[0]}")
    for name, spent in times.items():
        print(f"{name:<8} {statistics.median(spent) / args.n * 1e6:>7.1f} us per entry")
    if "before" in times:
        print(f"now vs before: {statistics.median(times['before']) / statistics.median(times['now']):.2f}x faster")


if __name__ == "__main__":
    main()
