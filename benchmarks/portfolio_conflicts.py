"""Portfolio analysis at scale: 10,000 projects, 30,000 dependencies, 24 periods, 20 roles.

    python benchmarks/portfolio_conflicts.py               # 3 repeats, medians
    python benchmarks/portfolio_conflicts.py --repeat 1

Measured, side by side on the same portfolio:
    conflicts       every conflict check (cycles, references, prerequisites, funding line, schedule,
                    exclusions, inclusions, resources by role and period, budget by period)
    schedule        critical path method, critical paths and a delivery order
    impact          delaying one early project: the slip through all its dependents
    total           the three together (issue #5 asks for under 3 s)
    anchor-nx       networkx alone: topological sort + dag_longest_path on the same graph (a floor)
    cycles-dense    conflicts on a portfolio whose 16-project core depends all on all (over 10^11 cycles)
    read-json       reading the portfolio from a JSON file (not part of the total)
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import networkx as nx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import timed  # noqa: E402

from engine.compile.portfolio import limits_from  # noqa: E402
from engine.policy.models import PortfolioPolicy  # noqa: E402
from engine.portfolio import graph as g  # noqa: E402
from engine.portfolio.conflicts import find_conflicts  # noqa: E402
from engine.portfolio.model import portfolio_from, read_portfolio  # noqa: E402
from engine.portfolio.schedule import impact, schedule  # noqa: E402

PERIODS = [f"P{k:02d}" for k in range(24)]
ROLES = [f"role{k:02d}" for k in range(20)]


def synthetic(n: int = 10_000, edges: int = 30_000, seed: int = 5, dense_core: int = 0) -> dict:
    rng = random.Random(seed)
    ranks = list(range(1, n + 1))
    rng.shuffle(ranks)
    projects = []
    for i in range(n):
        first = rng.randrange(0, 20)
        periods = PERIODS[first:first + rng.randint(1, 4)]
        projects.append({
            "id": f"X{i:05d}", "status": rng.choice(["approved"] * 6 + ["proposed", "rejected", "cancelled"]),
            "rank": ranks[i], "duration": rng.randint(5, 120), "start": rng.randint(0, 300),
            "budget": {p: rng.randint(10_000, 200_000) for p in periods},
            "demand": {r: {p: rng.randint(1, 3) for p in periods} for r in rng.sample(ROLES, rng.randint(1, 3))},
            "depends_on": [], "excludes": [], "requires_together": [],
        })
    pairs = set()
    while len(pairs) < edges:  # prerequisites always have a smaller index: acyclic
        a, b = sorted(rng.sample(range(n), 2))
        if b - a < 500:
            pairs.add((a, b))
    for a, b in pairs:
        projects[b]["depends_on"].append({"id": projects[a]["id"], "lag": rng.choice([0, 0, 0, 5])})
    for _ in range(200):
        a, b = rng.sample(range(n), 2)
        projects[a]["excludes"].append(projects[b]["id"])
        c, d = rng.sample(range(n), 2)
        projects[c]["requires_together"].append(projects[d]["id"])
    for i in range(dense_core):  # every core project depends on every other one
        projects[i]["depends_on"] += [{"id": projects[j]["id"]} for j in range(dense_core) if j != i]
    return {"projects": projects}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    limits = limits_from(PortfolioPolicy.model_validate({
        "kind": "portfolio", "periods": PERIODS, "capacity": {r: 60 for r in ROLES}, "budget": 25_000_000,
        "tolerance": {"resources": 0.1, "budget": 0.05}}))
    data = synthetic()
    portfolio = portfolio_from(data)
    dense = portfolio_from(synthetic(dense_core=16))
    early = "X00010"

    report = find_conflicts(portfolio, limits)
    plan = schedule(portfolio, limits)
    slipped = impact(portfolio, limits, delay=(early, 10))
    graph = g.build(portfolio)
    durations = {p.id: p.duration for p in portfolio}
    nx.set_edge_attributes(graph, {e: durations[e[0]] for e in graph.edges}, "weight")
    path = Path(tempfile.mkdtemp()) / "portfolio.json"
    path.write_text(json.dumps(data))

    rows = [
        ("conflicts", timed(lambda: find_conflicts(portfolio, limits), args.repeat)),
        ("schedule", timed(lambda: schedule(portfolio, limits), args.repeat)),
        ("impact", timed(lambda: impact(portfolio, limits, delay=(early, 10)), args.repeat)),
    ]
    rows.append(("total", sum(seconds for _, seconds in rows)))
    rows.append(("anchor-nx", timed(lambda: (list(nx.topological_sort(graph)), nx.dag_longest_path(graph)),
                                    args.repeat)))
    rows.append(("cycles-dense", timed(lambda: find_conflicts(dense, limits), args.repeat)))
    rows.append(("read-json", timed(lambda: read_portfolio(path), args.repeat)))
    dense_report = find_conflicts(dense, limits)
    edges = sum(len(p.depends_on) for p in portfolio)
    print(f"{len(portfolio.projects):,} projects, {edges:,} dependencies, {len(PERIODS)} periods, {len(ROLES)} roles; "
          f"median of {args.repeat}, python {sys.version.split()[0]}, networkx {nx.__version__}")
    print(f"found: {len(report.conflicts):,} conflicts {dict((k, v) for k, v in report.counts.items() if v)}; "
          f"schedule {plan.duration:g} days, {len(plan.critical_path)} on the critical path; "
          f"delay of {early} moves {len(slipped.affected):,} projects")
    print(f"dense core: {len(dense_report.cycles)} cycles listed of at least {dense_report.cycles_found:,} "
          f"(complete: {dense_report.cycles_complete})")
    anchor = dict(rows)["anchor-nx"]
    print(f"{'step':<14} {'seconds':>9}  vs anchor-nx")
    for name, seconds in rows:
        print(f"{name:<14} {seconds:>9.3f}  {seconds / anchor:>8.1f}x")


if __name__ == "__main__":
    main()
