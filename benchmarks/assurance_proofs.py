"""Assurances on the reference policy set: z3 (engine/authoring/proofs.py) against a search without a solver.

The search is what the interval analysis of the tables does when its boxes cannot decide: proposals drawn
from per-field pools (the rules' constants and their neighbours, null, enum values, sample lists and
dates), each decided by the engine, until one breaks the assurance (10,000 tries at most). It can refute,
never prove. Run: python benchmarks/assurance_proofs.py
"""
from __future__ import annotations

import datetime as dt
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import timed  # noqa: E402
from engine.authoring.check import check_policies  # noqa: E402
from engine.authoring.proofs import _check, prove  # noqa: E402
from engine.compile.assurances import CompiledAssurance  # noqa: E402
from engine.expr.check import check  # noqa: E402
from engine.expr.nodes import BOOL, Const, walk  # noqa: E402
from engine.expr.parse import parse  # noqa: E402

TODAY = dt.date(2026, 12, 1)
EXTRA = {  # properties that fail on the reference set, besides its own three that hold
    "every-pass-has-approver": ('decision != "reject"', "len(routes) > 0"),
    "benefit-covers-budget": ('decision == "accept" and budget > 100_000', "benefit >= budget"),
    "risky-large-to-risk-committee": ('risk >= 4 and budget > 1_000_000 and decision != "reject"',
                                      '"Risk Committee" in routes'),
    "long-projects-reviewed": ('duration_days > 730 and decision == "accept"', "false"),
}


def search(policy, intake, assurance, tries: int = 10_000) -> int | None:
    constants = {n.value for r in policy.rules for n in walk(r.condition) if isinstance(n, Const)
                 and isinstance(n.value, Decimal)}
    numbers = sorted({c + d for c in constants for d in (Decimal(-1), Decimal(0), Decimal(1))} | {Decimal(0)})
    pools = {}
    for name, spec in policy.fields.items():
        nulls = [] if spec.required else [None]
        if spec.type in ("number", "money", "integer"):
            pools[name] = nulls + [str(v) for v in numbers]
        elif spec.type == "enum":
            pools[name] = nulls + list(spec.values)
        elif spec.type == "bool":
            pools[name] = nulls + [True, False]
        elif spec.type == "date":
            pools[name] = nulls + [(TODAY + dt.timedelta(days=d)).isoformat() for d in (-10, 0, 10, 40, 400, 1200)]
        elif spec.type == "list":
            pools[name] = nulls + ["-1000;600;600", "-1000;200;300", "-1000;100"]
        elif spec.type == "alignment":
            pools[name] = nulls + ["net-zero:strong", "net-zero:low", "net-zero:0"]
        else:
            pools[name] = (["PRJ-0001"] if name == policy.id_field else nulls + ["Example", "Example Ltd"])
    rng = random.Random(2026)
    for i in range(1, tries + 1):
        raw = {n: v for n, pool in pools.items() if (v := rng.choice(pool)) is not None}
        if _check(raw, intake, assurance, policy) is not None:
            return i
    return None


def main() -> None:
    checked = check_policies(None, today=TODAY, lint=False)
    policy = checked.policy
    names = dict(policy.field_types) | {"decision": "string", "routes": "list[string]", "fired": "list[string]"}
    extra = tuple(CompiledAssurance(name, None, policy.assurances[0].where, check(parse(f, {}), names, TODAY, BOOL),
                                    check(parse(m, {}), names, TODAY, BOOL), f, m) for name, (f, m) in EXTRA.items())
    from engine.backends import make_backend
    from engine.intake.decide import Intake
    intake = Intake(policy, make_backend("reference", policy))
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'assurance':<32} {'z3':>8} {'z3 s':>7} {'search':>14} {'search s':>9}")
    for assurance in policy.assurances + extra:
        result = prove(policy, (assurance,))[0]
        seconds = timed(lambda a=assurance: prove(policy, (a,)), 5)
        start = time.perf_counter()
        found = search(policy, intake, assurance)
        searched = time.perf_counter() - start
        outcome = f"found at {found}" if found else "none in 10,000"
        print(f"{assurance.name:<32} {result.status:>8} {seconds:>7.3f} {outcome:>14} {searched:>9.2f}")


if __name__ == "__main__":
    main()
