"""The portfolio history (issue #16): ingest and rate N projects x 36 monthly status reports, then rate the
portfolio at the last date from the history.

    python benchmarks/history_throughput.py              # 10,000 projects x 36 months = 360,000 rows
    python benchmarks/history_throughput.py --n 1000     # scaled down
    python benchmarks/history_throughput.py --n 1000 --profile   # where the time goes (cProfile, top 25)

The steps, each timed (wall and CPU) with the peak memory of the process so far:
  generate   the CSV (not part of the figure the goal is about)
  ingest     `engine.tasks.history.ingest`: read and type the rows (the status readers), store them, and rate
             every project at each of its own status dates (the reference policies' health rules on the rete
             back end), storing ratings and escalations, in one transaction; the ratings by one forked worker
             process per core (``--workers``; their CPU and peak memory are printed beside the parent's)
  rate       `Engine.health(ForkedStatus(log))`, as `pmo health --log`: every project at its latest report, each
             group of 500 projects read and rated by a worker process (``--workers``)
  kpi        `Engine.kpis(ForkedStatus(log), entries=log.query())`, as `pmo kpi --log`: every KPI of the reference
             policies (policies/kpis.yaml) for each of the 12 quarters the 36 months cover (``--periods``), each
             group of 500 projects read and measured by a worker process (``--workers``, as for the ingest)
  again      the same file ingested again: every report unchanged, nothing rated
Peak memory is the process's (ru_maxrss) so far. ``rate`` and ``kpi`` hold one group's reports at a time (two at
most), not the history; what they keep grows with projects x periods: each project's rating (rate), and each
period's records of the fields the KPIs read and every figure's trace (kpi: one entry per record a figure
counts, as ``pmo kpi --format json`` writes them).
The checks: as many reports and ratings as rows, and a second ingest of the same file finds 0 new.
"""
from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import pstats
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MONTHS = 36
OBJECTIVES = ("customer-experience", "operational-efficiency", "grid-resilience", "net-zero")


def month_ends(first: dt.date, count: int) -> list[dt.date]:
    days, year, month = [], first.year, first.month
    for _ in range(count):
        following = dt.date(year + month // 12, month % 12 + 1, 1)
        days.append(following - dt.timedelta(days=1))
        year, month = following.year, following.month
    return days


def write_status(path: Path, n: int, seed: int = 16) -> int:
    """n projects, each reporting at the end of every month for 36 months: planned dates (PV is spread over
    the working days), percent complete (EV = BAC x it), actual cost; some run late, some overspend."""
    rng = random.Random(seed)
    dates = month_ends(dt.date(2025, 1, 1), MONTHS)
    projects = []
    for i in range(n):
        start = dates[0] - dt.timedelta(days=rng.randint(0, 200))
        finish = start + dt.timedelta(days=rng.randint(400, 1200))
        projects.append((f"P{i:05d}", f"Project {i}", rng.choice(OBJECTIVES), start, finish,
                         rng.randint(10, 500) * 10_000, rng.uniform(0.8, 1.15), rng.uniform(0.85, 1.2)))
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["project", "title", "objective", "status_date", "state", "planned_start", "planned_finish",
                      "bac", "percent_complete", "ac", "risks", "issues"])
        for day in dates:  # month by month, as the monthly exports would be concatenated
            for project, title, objective, start, finish, bac, pace, burn in projects:
                elapsed = max(0, (day - start).days) / max(1, (finish - start).days)
                done = min(1.0, elapsed * pace)
                state = "closed" if done >= 1.0 else "active"
                out.writerow([project, title, objective, day.isoformat(), state, start.isoformat(),
                              finish.isoformat(), bac, f"{done * 100:.2f}%", round(bac * done * burn),
                              rng.randint(0, 6), rng.randint(0, 3)])
                rows += 1
    return rows


class Step:
    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> Step:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.children = children.ru_utime + children.ru_stime
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers = children.ru_utime + children.ru_stime - self.children
        line = f"{self.name:<10} wall {wall:8.2f} s   cpu {cpu:8.2f} s   peak memory {peak:8.0f} MB"
        if workers > 0:  # the ingest's rating workers (forked): their CPU, and the largest one's peak
            line += f"   workers' cpu {workers:7.2f} s, peak {children.ru_maxrss / 1024:5.0f} MB each"
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="projects (each with 36 monthly reports)")
    parser.add_argument("--periods", type=int, default=12, help="quarters the KPIs are computed for (12: all 36 months)")
    parser.add_argument("--profile", action="store_true", help="profile the ingest (cProfile) and print the top 25")
    parser.add_argument("--workers", type=int, default=None, help="the worker processes of the ingest, the rating and the KPIs "
                        "(default: one per core for a history this size; 1: none)")
    args = parser.parse_args()
    from engine.api import Engine
    from engine.store import DecisionLog
    from engine.tasks.forked_status import ForkedStatus
    from engine.tasks.history import ingest
    engine = Engine.load(today=dt.date(2027, 12, 31))
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "status.csv"
        with Step("generate"):
            rows = write_status(source, args.n)
        print(f"{rows:,} rows ({args.n:,} projects x {MONTHS} months), {source.stat().st_size / 1e6:.0f} MB")
        with DecisionLog(Path(folder) / "history.sqlite") as log:
            profiler = cProfile.Profile() if args.profile else None
            with Step("ingest"):
                if profiler:
                    profiler.enable()
                result = ingest(engine, log, [source], workers=args.workers)
                if profiler:
                    profiler.disable()
            print(f"  {result.summary()}")
            assert result.new == rows and result.rated == rows, (result.new, result.rated, rows)
            with Step("rate"):
                report = engine.health(ForkedStatus(log, workers=args.workers))
            print(f"  {len(report.projects):,} projects rated at {max(p.status_date for p in report.projects)}: "
                  + ", ".join(f"{sum(p.rating == r for p in report.projects):,} {r}" for r in ("red", "amber", "green")))
            with Step("kpi"):  # as `pmo kpi --log`: the reports from the history, the decisions from the log
                kpis = engine.kpis(ForkedStatus(log, workers=args.workers), entries=log.query(), periods=args.periods)
            figures = [f for r in kpis.results for f in r.figures]
            print(f"  {len(kpis.results)} KPI results x {len(kpis.periods)} quarters "
                  f"({kpis.periods[0].label} to {kpis.periods[-1].label}): {len(figures)} figures, "
                  f"{sum(f.value is not None for f in figures)} with a value, "
                  f"{sum(len(f.trace) for f in figures):,} trace entries")
            assert kpis.results and any(f.value is not None for f in figures)
            with Step("again"):
                again = ingest(engine, log, [source])
            print(f"  {again.summary()}")
            assert again.new == 0 and again.unchanged == rows
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
