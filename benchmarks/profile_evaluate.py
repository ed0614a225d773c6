"""Where the time of one `pmo evaluate --format csv --out` goes, by stage (cProfile, 1 worker, in-process).

    python benchmarks/profile_evaluate.py              # 20,000 proposals, the file of batch_throughput.py
    python benchmarks/profile_evaluate.py --n 20000 --log
    python benchmarks/profile_evaluate.py --n 20000 --backend both   # rete, then reference, in one run

The run is profiled as a whole; each stage is the cumulative time of the function that does it (a stage
inside another is subtracted from it), in microseconds per row. cProfile adds its own cost to every Python
call, so the figures are larger than an unprofiled run's, most for the stages with many small calls: read
the shares. With --log the decision log is written too, and its cost is the difference to the run without.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_throughput import TODAY, write_input  # noqa: E402

from engine.cli import main as pmo  # noqa: E402


def profile(source: Path, out: Path, log: Path | None, backend: str = "rete") -> tuple[pstats.Stats, float]:
    args = ["evaluate", str(source), "--format", "csv", "--out", str(out), "--today", TODAY, "--workers", "1",
            "--backend", backend, *(["--log", str(log)] if log else ["--no-log"])]
    profiler = cProfile.Profile(time.process_time)
    start = time.process_time()
    profiler.runcall(pmo, args)
    return pstats.Stats(profiler, stream=io.StringIO()), time.process_time() - start


def cumulative(stats: pstats.Stats, file_end: str, name: str, line: int | None = None) -> float:
    """Cumulative seconds of the functions called ``name`` in files ending ``file_end`` (at ``line``: one of them,
    when two share a name, as Ruleset.match and _Group.match do: summing both would count the inner one twice)."""
    return sum(v[3] for (file, at, func), v in stats.stats.items()
               if file.endswith(file_end) and func == name and (line is None or at == line))


def stages(stats: pstats.Stats, total: float) -> list[tuple[str, float]]:
    c = lambda f, n: cumulative(stats, f, n)  # noqa: E731
    reading = c("io/csvrows.py", "csv_rows")
    # the batch path types a chunk of rows at a time (RecordReader.read_many, called before decide_plain, its
    # derived values in _derive); an API call one row at a time (Intake.record: read, then derived values)
    chunks, derive = c("compile/records.py", "read_many"), c("compile/records.py", "_derive")
    record = c("intake/decide.py", "record")
    typing = chunks - derive if chunks else c("compile/records.py", "read")
    derived = derive if chunks else record - typing
    # the rete back end's fire holds its class keys and memo lookups; a memo miss builds the fact (_fact_of) and
    # asks the core (_ask, whose C calls are driver._match); the reference back end's fire is its whole rules stage
    # (inside rete's fire only for the rare row the core cannot decide, then counted there)
    fire = c("rete/backend.py", "fire") or c("backends/reference.py", "fire")
    misses = c("rete/backend.py", "_fact_of") + c("rete/backend.py", "_ask")
    c_core = c("rete/driver.py", "_match")  # the C calls: assert, the actions, retract
    decide = c("intake/decide.py", "decide_plain") or c("intake/decide.py", "decide_record")
    # a row's reasons are rendered by its plan (Plan.texts) and its templated Findings made when read
    # (Plan.findings_of); earlier versions made a Finding per rule and row (_finding, find, find_many)
    reasons = c("intake/decide.py", "_finding") + c("intake/decide.py", "find") + c("intake/decide.py", "find_many") \
        + c("intake/decide.py", "texts") + c("intake/decide.py", "findings_of")
    # the rows are made by csv_line since 2026-12-08 (before: inert_cells and csv's writerow)
    writing = c("io/writers.py", "decision_cells") + c("io/writers.py", "inert") + c("io/writers.py", "inert_cells") \
        + c("~", "<method 'writerow' of '_csv.writer' objects>") + c("~", "<method 'writerows' of '_csv.writer' objects>") \
        + c("io/writers.py", "csv_line")
    log = c("store/log.py", "append")
    rows = [("CSV reading (csv_rows)", reading), ("typing values (RecordReader.read_many less _derive)", typing),
            ("derived values (RecordReader._derive, or Intake.record less typing)", derived),
            *([("rules: values, class keys, memo lookups (ReteBackend.fire less misses)", fire - misses),
               ("rules: memo misses: facts, JSON (_fact_of, _ask less the C core)", misses - c_core),
               ("rules: the C core, memo misses (driver._match)", c_core)] if c("rete/backend.py", "fire") else
              [("rules: the reference back end (ReferenceBackend.fire)", fire)]),
            ("findings and the decision record (decide_plain less the rest)",
             decide - (0 if chunks else record) - fire - reasons),
            ("reason formatting (Plan.texts, Plan.findings_of)", reasons),
            ("CSV writing (decision_cells, csv_line)", writing)]
    if log:
        rows.append(("decision log: DecisionLog.append (SQLite, JSON)", log))
    counted = reading + chunks + decide + writing + log  # decide_plain holds the rules (and a row's typing)
    rows.append(("the rest (start-up, policy load, generators, Entry building, ...)", total - counted))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--log", action="store_true", help="profile with the decision log as well")
    parser.add_argument("--backend", choices=("rete", "reference", "both"), default="rete",
                        help="the rules back end (both: one after the other, in this run)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pmo-profile-"))
    source = folder / "proposals.csv"
    write_input(source, args.n)
    backends = ("rete", "reference") if args.backend == "both" else (args.backend,)
    runs = [(f"{backend}, no log", None, backend) for backend in backends] \
        + ([("rete, with log", folder / "log.sqlite", "rete")] if args.log else [])
    results = [(label, *profile(source, folder / "out.csv", log, backend)) for label, log, backend in runs]
    print(f"\n`pmo evaluate --format csv --out`, 1 worker, {args.n:,} proposals, reference policy, cProfile "
          f"(process time), python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}; "
          f"microseconds per row")
    for label, stats, total in results:
        print(f"\n{label}: {total:.2f} CPU s in all, {total / args.n * 1e6:,.0f} us per row")
        for name, seconds in stages(stats, total):
            print(f"  {name:<70} {seconds / args.n * 1e6:>6,.0f}  {seconds / total:>5.1%}")
    if args.log:
        plain, logged = results[0][2], results[-1][2]  # rete without and with the log
        print(f"\nthe log adds {(logged - plain) / args.n * 1e6:,.0f} us per row "
              f"({logged / plain - 1:+.1%}) under the profiler")


if __name__ == "__main__":
    main()
