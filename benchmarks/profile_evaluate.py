"""Where the time of one `pmo evaluate --format csv --out` goes, by stage (cProfile, 1 worker, in-process).

    python benchmarks/profile_evaluate.py              # 20,000 proposals, the file of batch_throughput.py
    python benchmarks/profile_evaluate.py --n 20000 --log

The run is profiled as a whole; each stage is the cumulative time of the function that does it (a stage
inside another is subtracted from it), in microseconds per row. cProfile adds its own cost to every Python
call, so the figures are larger than an unprofiled run's, most for the stages with many small calls: read
the shares. With --log the decision log is written too, and its cost is the difference to the run without.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_throughput import TODAY, write_input  # noqa: E402

from engine.cli import main as pmo  # noqa: E402


def profile(source: Path, out: Path, log: Path | None) -> tuple[pstats.Stats, float]:
    args = ["evaluate", str(source), "--format", "csv", "--out", str(out), "--today", TODAY, "--workers", "1",
            *(["--log", str(log)] if log else ["--no-log"])]
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
    from engine.backends.rete import driver
    fire = c("rete/backend.py", "fire")
    core = cumulative(stats, "rete/driver.py", "match", driver.Ruleset.match.__code__.co_firstlineno)
    c_core = c("rete/driver.py", "_match")  # the C calls: assert, the actions, retract
    decide = c("intake/decide.py", "decide_plain") or c("intake/decide.py", "decide_record")
    # a finding is made by Intake._finding (the API path) or by the rule's finder closure (find, find_many)
    reasons = c("intake/decide.py", "_finding") + c("intake/decide.py", "find") + c("intake/decide.py", "find_many")
    writing = c("io/writers.py", "decision_cells") + c("io/writers.py", "inert") + c("io/writers.py", "inert_cells") \
        + c("~", "<method 'writerow' of '_csv.writer' objects>") + c("~", "<method 'writerows' of '_csv.writer' objects>")
    log = c("store/log.py", "append")
    rows = [("CSV reading (csv_rows)", reading), ("typing values (RecordReader.read_many less _derive)", typing),
            ("derived values (RecordReader._derive, or Intake.record less typing)", derived),
            ("rules: facts and computed slots (ReteBackend.fire less Ruleset.match)", fire - core),
            ("rules: classes and memo lookups (Ruleset.match less the C core)", core - c_core),
            ("rules: JSON and the C core, memo misses (driver._match)", c_core),
            ("findings and the decision record (decide_plain less the rest)",
             decide - (0 if chunks else record) - fire - reasons),
            ("reason formatting (Intake._finding)", reasons),
            ("CSV writing (decision_cells, inert, writerow)", writing)]
    if log:
        rows.append(("decision log: DecisionLog.append (SQLite, JSON)", log))
    counted = reading + chunks + decide + writing + log  # decide_plain holds the rules (and a row's typing)
    rows.append(("the rest (start-up, policy load, generators, Entry building, ...)", total - counted))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--log", action="store_true", help="profile with the decision log as well")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pmo-profile-"))
    source = folder / "proposals.csv"
    write_input(source, args.n)
    runs = [("no log", None)] + ([("with log", folder / "log.sqlite")] if args.log else [])
    results = [(label, *profile(source, folder / "out.csv", log)) for label, log in runs]
    print(f"\n`pmo evaluate --format csv --out`, 1 worker, {args.n:,} proposals, reference policy, cProfile "
          f"(process time), python {sys.version.split()[0]}; microseconds per row")
    for label, stats, total in results:
        print(f"\n{label}: {total:.2f} CPU s in all, {total / args.n * 1e6:,.0f} us per row")
        for name, seconds in stages(stats, total):
            print(f"  {name:<70} {seconds / args.n * 1e6:>6,.0f}  {seconds / total:>5.1%}")
    if len(results) == 2:
        print(f"\nthe log adds {(results[1][2] - results[0][2]) / args.n * 1e6:,.0f} us per row "
              f"({results[1][2] / results[0][2] - 1:+.1%}) under the profiler")


if __name__ == "__main__":
    main()
