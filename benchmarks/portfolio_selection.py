"""Portfolio selection at scale: the exact optimiser against the greedy baselines.

    python benchmarks/portfolio_selection.py               # 3 repeats, medians
    python benchmarks/portfolio_selection.py --repeat 1

    select-1000     1,000 candidates, 12 periods, 10 roles, dependencies and exclusions: HiGHS MILP
    greedy-value    the same instance, greedy by value (with prerequisites), a baseline
    greedy-ratio    greedy by value per cost, a baseline
    frontier-200    a 20-point efficient frontier on 200 candidates, 30 s in all (greedy baselines included)
Issue #6 asks for optimal (or within 1%) in 30 s; issue #19 for every frontier point within 1% in 30 s in all,
or the remaining gaps explained with the solver's bounds: the table after the timings lists each point's
value, bound and gap, whether the budget binds there (a plateau point is not solved) and its solver runs.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import timed  # noqa: E402

from engine.compile.portfolio import Limits  # noqa: E402
from engine.portfolio.greedy import greedy  # noqa: E402
from engine.portfolio.model import portfolio_from  # noqa: E402
from engine.portfolio.problem import problem  # noqa: E402
from engine.portfolio.select import frontier, solve  # noqa: E402

PERIODS = [f"M{k:02d}" for k in range(12)]
ROLES = [f"role{k}" for k in range(10)]


def instance(n: int, seed: int = 3) -> tuple[dict, Limits]:
    rng = random.Random(seed)
    projects = []
    for i in range(n):
        first = rng.randrange(0, 10)
        months = PERIODS[first:first + rng.randint(2, 6)]
        projects.append({
            "id": f"C{i:04d}", "value": round(rng.uniform(5, 100), 1),
            "cost": {m: rng.randint(20, 200) * 1000 for m in months},
            "demand": {r: {m: rng.randint(1, 3) for m in months} for r in rng.sample(ROLES, rng.randint(1, 3))},
            "category": rng.choice(["growth", "compliance", "efficiency", "innovation"]),
        })
    for i in range(n):
        if rng.random() < 0.3 and i > 5:
            projects[i]["depends_on"] = [projects[rng.randrange(max(0, i - 50), i)]["id"]]
        if rng.random() < 0.05:
            other = rng.choice([k for k in range(n) if k != i])
            projects[i]["excludes"] = [projects[other]["id"]]
    budget = {m: n * 12_000 for m in PERIODS}  # roughly a third of the demand for money
    capacity = {r: {m: n * 0.06 for m in PERIODS} for r in ROLES}
    return {"budget": budget, "projects": projects}, Limits(periods=PERIODS, capacity=capacity)


def print_frontier(small, seconds: float) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    points = frontier(small, 20, time_limit=seconds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    worst = min(p["value"] - max(p["greedy_value"], p["greedy_value_per_cost"]) for p in points)
    closed = sum(p["optimal"] for p in points)
    print(f"frontier on 200 candidates, 20 points in {seconds:g} s ({wall:.1f} s wall, {cpu:.1f} CPU s): within "
          f"the 1% gap {closed} of 20, largest gap {max(p['gap'] or 0 for p in points):.3%}; plateau (budget does not bind, not solved) "
          f"{sum(not p['binds'] for p in points) - 1} points; solver runs {sum(p['solves'] for p in points)}; "
          f"optimiser minus best greedy at each point >= {worst:,.1f}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'factor':>7} {'value':>9} {'bound':>9} {'gap':>7} {'binds':>6} {'solves':>6} {'best greedy':>11}  bound from")
    for p in points:
        print(f"{p['factor']:>7.2f} {p['value']:>9,.1f} {p['bound']:>9,.1f} {p['gap']:>7.2%} "
              f"{'yes' if p['binds'] else 'no':>6} {p['solves']:>6} "
              f"{max(p['greedy_value'], p['greedy_value_per_cost']):>11,.1f}  {_source(p)}")
    for p in points:
        if p["explain"]:
            print(f"  {p['factor']:.2f}: {p['explain']}")


def _source(point: dict) -> str:
    """Where a point's bound comes from: the solver or the LP relaxation, at its own budget or a larger one."""
    by = {"HiGHS's dual bound": "solver", "the LP relaxation": "LP"}.get(point["bound_by"], point["bound_by"])
    return by + ("" if point["bound_budget"] == point["budget"] else f" at {point['bound_budget']:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frontier-seconds", type=float, default=30.0, help="the frontier's time in all (30)")
    parser.add_argument("--frontier-only", action="store_true", help="the frontier's table alone, one run")
    args = parser.parse_args()
    data, limits = instance(1000)
    big = problem(portfolio_from(data), limits)
    small_data, small_limits = instance(200, seed=4)
    small = problem(portfolio_from(small_data), small_limits)

    if args.frontier_only:
        return print_frontier(small, args.frontier_seconds)
    best = solve(big, time_limit=30, gap=0.01)
    by_value, by_ratio = greedy(big, "value"), greedy(big, "value per cost")
    rows = [("select-1000", timed(lambda: solve(big, time_limit=30, gap=0.01), args.repeat)),
            ("greedy-value", timed(lambda: greedy(big, "value"), args.repeat)),
            ("greedy-ratio", timed(lambda: greedy(big, "value per cost"), args.repeat)),
            ("frontier-200", timed(lambda: frontier(small, 20, time_limit=args.frontier_seconds), args.repeat))]
    edges = sum(len(p.get("depends_on", [])) for p in data["projects"])
    excl = sum(len(p.get("excludes", [])) for p in data["projects"])
    print(f"1,000 candidates, {len(PERIODS)} periods, {len(ROLES)} roles, {edges} dependencies, {excl} exclusions; "
          f"median of {args.repeat}, python {sys.version.split()[0]}")
    print(f"optimiser: value {best.value:,.1f} ({best.status}, gap {best.gap:.4%}), {len(best.selected)} chosen; "
          f"greedy by value {by_value.value:,.1f} ({by_value.value / best.value:.1%} of it), "
          f"greedy by value per cost {by_ratio.value:,.1f} ({by_ratio.value / best.value:.1%})")
    print_frontier(small, args.frontier_seconds)
    print(f"{'step':<14} {'seconds':>9}")
    for name, seconds in rows:
        print(f"{name:<14} {seconds:>9.3f}")


if __name__ == "__main__":
    main()
