"""The rules stage alone: which rules fire on already typed records, per back end, in one process (issue #19).

    python benchmarks/rules_stage.py                 # 20,000 records of batch_throughput's file, reference policy
    python benchmarks/rules_stage.py --n 50000 --repeat 7

The records are read and typed once (derived values included), before any timing; then each way of firing the
rules runs over all of them, interleaved, ``--repeat`` times, and the median process time per record is shown:

- ``rete``: ReteBackend.fire, each group's answer remembered by the classes of the record's own values
  (engine/backends/rete/recordkeys.py);
- ``rete, fact first``: the same back end the way before: the whole fact built (numbers as keys), then the
  driver's classes of it and its memo (ReteBackend._fire_slow, still used for a value the record's classes do
  not take);
- ``reference``: ReferenceBackend.fire, every rule's compiled expression evaluated.

Each way's fired rules are compared with the reference's on every record. No profiler: cProfile charges every
call, which inflates the written-out path's many small C calls (see profile_evaluate.py for the shares).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_throughput import TODAY, write_input  # noqa: E402

from engine import Engine  # noqa: E402
from engine.backends.reference import ReferenceBackend  # noqa: E402
from engine.backends.rete import ReteBackend  # noqa: E402


def typed(engine: Engine, source: Path, n: int) -> list[dict[str, Any]]:
    intake = engine._intake
    records: list[dict[str, Any]] = []
    while len(records) < n:
        with source.open(newline="", encoding="utf-8") as f:
            for raw in csv.DictReader(f):
                try:
                    records.append(intake.record(raw))
                except Exception:  # an error row: no rules run on it
                    continue
                if len(records) == n:
                    break
    return records


def measure(label: str, engine: Engine, records: list[dict[str, Any]], repeat: int) -> None:
    policy = engine.policy
    rete, reference = ReteBackend(policy), ReferenceBackend(policy)
    ways: dict[str, Callable[[Any], list[int]]] = {"rete": rete.fire, "rete, fact first": rete._fire_slow,
                                                   "reference": reference.fire}
    expected = [reference.fire(r) for r in records]
    agree = {name: all(fire(r) == e for r, e in zip(records, expected)) for name, fire in ways.items()}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeat):
        for name, fire in ways.items():
            start = time.process_time()
            for record in records:
                fire(record)
            times[name].append(time.process_time() - start)
    print(f"\n{label}: {len(policy.rules)} rules, {len(records):,} typed records, median of {repeat}, "
          f"load average {os.getloadavg()[0]:.1f}")
    base = statistics.median(times["reference"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<18} {median / len(records) * 1e6:>7.1f} us per record  {base / median:>5.2f}x the reference"
              f"  same rules as the reference: {agree[name]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    today = dt.date.fromisoformat(TODAY)
    source = Path(tempfile.mkdtemp(prefix="pmo-rules-")) / "proposals.csv"
    write_input(source, args.n)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    engine = Engine.load(today=today)
    measure("reference policy (batch_throughput's file)", engine, typed(engine, source, args.n), args.repeat)


if __name__ == "__main__":
    main()
