"""A whole intake round through `pmo evaluate`, CSV in and CSV out, against two baselines on the same file.

    python benchmarks/batch_throughput.py                # 1,000,000 proposals
    python benchmarks/batch_throughput.py --n 100000
    pip install -e ".[bench]"                            # polars, for the polars baseline (skipped without it)

Each run is a separate process: `pmo evaluate --format csv --out` with 1 and 2 workers (and 1 worker with
`--backend reference`, mode 'pmo 1w ref'), the plain-Python
loop (csv.DictReader, the reference policy's 33 rules as lambdas, csv.writer; benchmarks/baselines.py; mode
'loop csv_line': the same loop writing its rows with pmo's csv_line, the same bytes) and
polars (the same rules as column expressions). CPU seconds are the user + system time of the process and its
workers (getrusage of the children); rows per CPU-second is the figure that holds on a shared machine, where
wall time depends on the neighbours. Peak memory is the largest total resident memory of the process and its
workers, sampled every 50 ms from /proc. The loop's output is compared with pmo's by sha256 (it must be the
same bytes); the 1- and 2-worker outputs too; polars writes decisions, routes and rule ids only (no
reasons), compared with pmo's columns of the same name.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import random
import resource
import statistics
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


def pmo_command(source: Path, out: Path, workers: int, log: Path | None = None, backend: str = "rete") -> list[str]:
    """``log``: a decision log to write (a new file each run: a log that has the decisions skips them)."""
    return [sys.executable, "-m", "engine.cli", "evaluate", str(source), "--format", "csv", "--out", str(out),
            *(["--log", str(log)] if log else ["--no-log"]), "--today", TODAY, "--workers", str(workers),
            "--backend", backend]


def baseline_command(kind: str, source: Path, out: Path, facts: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--baseline", kind, str(source), str(out), str(facts)]


def run(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (the process and its workers) and peak resident bytes of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command[2:4])} failed with exit {proc.returncode}: {proc.stderr.read()!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, peak


TODAY = "2026-12-01"


def policy_facts() -> dict:
    """What the baselines take from the policy, once, before any timing: its hash and the strategy's weights
    and levels (for the alignment scores)."""
    import datetime as dt

    from engine import Engine

    engine = Engine.load(today=dt.date.fromisoformat(TODAY))
    strategy = engine.policy.strategy
    return {"policy_hash": engine.policy_hash, "weights": dict(strategy.weights.values),
            "levels": {k: str(v) for k, v in strategy.levels.items()}}


def baseline(kind: str, source: Path, out: Path, facts: dict) -> None:
    """Run one baseline in this process (the benchmark starts it as a child, to time it alone)."""
    import datetime as dt
    from decimal import Decimal

    from baselines import plain_loop, polars_rules

    today, levels = dt.date.fromisoformat(TODAY), {k: Decimal(v) for k, v in facts["levels"].items()}
    if kind == "loop":
        plain_loop(source, out, str(source), facts["policy_hash"], today, facts["weights"], levels)
    elif kind == "loop-line":  # the loop writing its rows as pmo does (csv_line), to tell the writer's share
        from engine.io.writers import csv_line
        plain_loop(source, out, str(source), facts["policy_hash"], today, facts["weights"], levels, csv_line)
    else:
        polars_rules(source, out, today, facts["weights"], levels)


def same_columns(ours: Path, theirs: Path, columns: tuple[str, ...]) -> bool:
    with ours.open(newline="") as f, theirs.open(newline="") as g:
        pairs = itertools.zip_longest(csv.DictReader(f), csv.DictReader(g))
        return all(a is not None and b is not None and all(a[c] == b[c] for c in columns) for a, b in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each mode, interleaved; medians shown")
    parser.add_argument("--with-log", action="store_true", help="also pmo with 1 and 2 workers writing the decision log")
    parser.add_argument("--modes", help="comma-separated mode names to run (default: all), e.g. "
                        "'pmo 1 worker,pmo 1w + log' for the log's overhead alone")
    parser.add_argument("--baseline", nargs=4, metavar=("KIND", "SOURCE", "OUT", "FACTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        kind, source, out, facts = args.baseline
        return baseline(kind, Path(source), Path(out), json.loads(Path(facts).read_text()))
    folder = Path(tempfile.mkdtemp(prefix="pmo-batch-"))
    source, facts = folder / "proposals.csv", folder / "policy-facts.json"
    write_input(source, args.n)
    facts.write_text(json.dumps(policy_facts()))
    try:
        import polars  # noqa: F401
        has_polars = True
    except ImportError:
        has_polars = False
    modes = {"pmo 1 worker": lambda out: pmo_command(source, out, 1),
             "pmo 2 workers": lambda out: pmo_command(source, out, 2),
             "plain loop": lambda out: baseline_command("loop", source, out, facts),
             "loop csv_line": lambda out: baseline_command("loop-line", source, out, facts),
             "pmo 1w ref": lambda out: pmo_command(source, out, 1, backend="reference")}
    if args.with_log:
        logs = (folder / f"log-{k}.sqlite" for k in itertools.count())
        modes["pmo 1w + log"] = lambda out: pmo_command(source, out, 1, next(logs))
        modes["pmo 2w + log"] = lambda out: pmo_command(source, out, 2, next(logs))
    if has_polars:
        modes["polars"] = lambda out: baseline_command("polars", source, out, facts)
    if args.modes:
        wanted = [m.strip() for m in args.modes.split(",")]
        unknown = [m for m in wanted if m not in modes]
        if unknown:
            raise SystemExit(f"unknown mode {unknown[0]!r}; modes: {', '.join(modes)}")
        modes = {name: modes[name] for name in wanted}
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in modes}
    outputs = {name: folder / f"{name.replace(' ', '-')}.csv" for name in modes}
    for _ in range(args.repeat):
        for name, command in modes.items():
            runs[name].append(run(command(outputs[name])))
    digest = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in outputs.items()}
    size = source.stat().st_size
    print(f"{args.n:,} proposals ({size / 1e6:,.0f} MB CSV), reference policy (33 rules), CSV in and out; "
          f"median of {args.repeat}, python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'mode':<15} {'wall s':>8} {'CPU s':>8} {'rows/CPU-s':>11} {'vs loop':>8} {'peak MB':>8}")
    rate = {name: args.n / statistics.median(r[1] for r in rs) for name, rs in runs.items()}
    for name, rs in runs.items():
        ratio = f"{rate[name] / rate['plain loop']:>7.2f}x" if "plain loop" in rate else f"{'':>8}"
        print(f"{name:<15} {statistics.median(r[0] for r in rs):>8.1f} {statistics.median(r[1] for r in rs):>8.1f} "
              f"{rate[name]:>11,.0f} {ratio} {max(r[2] for r in rs) / 1e6:>8.0f}")
    for logged, plain in (("pmo 1w + log", "pmo 1 worker"), ("pmo 2w + log", "pmo 2 workers")):
        if logged in runs and plain in runs:
            walls_log = [r[0] for r in runs[logged]]
            print(f"{logged}: the decision log adds {rate[plain] / rate[logged] - 1:+.1%} CPU per row "
                  f"and {statistics.median(walls_log) / statistics.median(r[0] for r in runs[plain]) - 1:+.1%} "
                  f"wall (same output: {digest[logged] == digest[plain]})")
    if {"loop csv_line", "plain loop"} <= set(runs):
        print(f"loop csv_line: the plain loop with its rows made by pmo's csv_line, not csv.writer (byte-identical: "
              f"{digest['loop csv_line'] == digest['plain loop']}): the writer's share of the loop's CPU is "
              f"{1 - rate['plain loop'] / rate['loop csv_line']:.1%}")
    if not {"pmo 1 worker", "pmo 2 workers", "plain loop"} <= set(runs):
        return
    has_polars = "polars" in runs
    walls = {name: statistics.median(r[0] for r in rs) for name, rs in runs.items()}
    print(f"2 workers vs 1 (wall): {walls['pmo 1 worker'] / walls['pmo 2 workers']:.2f}x; "
          f"1 and 2 workers byte-identical: {digest['pmo 1 worker'] == digest['pmo 2 workers']}; "
          f"plain loop byte-identical to pmo (sha256): {digest['plain loop'] == digest['pmo 1 worker']}"
          + (f"; reference back end byte-identical to rete: {digest['pmo 1w ref'] == digest['pmo 1 worker']}"
             if "pmo 1w ref" in digest else "")
          + (f"; polars decisions, routes and rules as pmo's: "
             f"{same_columns(outputs['polars'], outputs['pmo 1 worker'], ('id', 'decision', 'routes', 'rules'))}"
             if has_polars else "; polars not installed (pip install -e '.[bench]')"))


if __name__ == "__main__":
    main()
