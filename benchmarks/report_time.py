"""The time to write the HTML board report for an intake round, beside the JSON ranking of the same round.

    python benchmarks/report_time.py              # 10,000 proposals, median of 3
    python benchmarks/report_time.py --n 50000

Steps, each on the same decided proposals (intake done once, outside the timings but reported):
    json     rank them and write the ranking as JSON (the baseline: what `pmo rank --format json` writes)
    report   rank them, build the report and render the HTML (what `pmo rank --report` adds)
    cli      `pmo rank FILE --report R --format json --out J` end to end in a fresh process (one run)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.batch_throughput import write_input  # noqa: E402
from benchmarks.common import timed  # noqa: E402
from engine import Engine  # noqa: E402
from engine.io.readers import read_proposals  # noqa: E402
from engine.report.build import render  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pmo-report-"))
    source = folder / "proposals.csv"
    write_input(source, args.n)
    engine = Engine.load(today=__import__("datetime").date(2026, 12, 1))
    start = time.perf_counter()
    decided = list(engine.decide_all(read_proposals(source)))
    intake = time.perf_counter() - start
    sizes = {}

    def as_json():
        sizes["json"] = len(json.dumps(engine.rank_of(decided).to_json()))

    def as_report():
        sizes["report"] = len(render(engine.report_of(decided)).encode("utf-8"))

    results = {"json": timed(as_json, args.repeat), "report": timed(as_report, args.repeat)}
    command = [sys.executable, "-m", "engine.cli", "rank", str(source), "--report", str(folder / "r.html"),
               "--format", "json", "--out", str(folder / "r.json"), "--today", "2026-12-01", "--workers", "1"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=False, stderr=subprocess.DEVNULL)
    results["cli"] = time.perf_counter() - start
    print(f"{args.n:,} proposals, median of {args.repeat}, python {sys.version.split()[0]}, {os.cpu_count()} cores; "
          f"intake beforehand {intake:.2f} s")
    print(f"{'step':<8} {'seconds':>8} {'MB':>6} {'vs json':>8}")
    for step in ("json", "report"):
        print(f"{step:<8} {results[step]:>8.2f} {sizes[step] / 1e6:>6.1f} {results[step] / results['json']:>7.2f}x")
    print(f"{'cli':<8} {results['cli']:>8.2f} {'':>6} {'':>8}  (pmo rank --report --format json, whole process)")


if __name__ == "__main__":
    main()
