"""Scoring, ranking and sensitivity on the reference policies, side by side with plain anchors.

    python benchmarks/scoring_throughput.py                  # 100,000 ranked, sensitivity over 1,000
    python benchmarks/scoring_throughput.py --n 20000 --repeat 1

Measured (proposals that have already passed intake, so intake is not timed):
    rank            Engine ranking: criterion values, normalisation, contributions, tie-breaks, RankEntry objects
                    (each entry's breakdown list is made when first read)
    rank+breakdown  the same, then every entry's breakdown read (700,000 Contribution objects at 100,000)
    anchor-numpy    the bare arithmetic: a weighted sum of ready-made columns and one argsort (a floor)
    sensitivity     ranking with sensitivity: 1,000 weight samples and single-weight changes for the top 10
    anchor-loop     the same Monte Carlo written as a Python loop over samples (what vectorising saves)
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import timed  # noqa: E402

from engine import Engine  # noqa: E402
from engine.scoring.ranking import build_ranking  # noqa: E402
from engine.scoring.score import score  # noqa: E402

OBJECTIVES = ["customer-experience", "grid-resilience", "net-zero", "operational-efficiency", "regulatory-compliance"]
LEVELS = ["low", "moderate", "strong", "extreme"]


def passing_proposals(engine: Engine, n: int, seed: int = 11):
    """n (decision, record) pairs that passed intake (accept or review)."""
    rng = random.Random(seed)
    out = []
    i = 0
    while len(out) < n:
        budget = rng.randint(20_000, 4_000_000)
        flows = [-budget] + [rng.randint(budget // 10, budget // 2) for _ in range(rng.randint(2, 6))]
        proposal = {
            "id": f"PRJ-{i:06d}", "title": f"Proposal {i}", "sponsor": "Ann", "sponsor_level": "executive",
            "alignment": ";".join(f"{o}:{rng.choice(LEVELS)}" for o in rng.sample(OBJECTIVES, rng.randint(1, 3))),
            "category": rng.choice(["growth", "compliance", "efficiency", "innovation", "maintenance"]),
            "budget": budget, "benefit": budget * rng.uniform(1.2, 6), "cash_flows": ";".join(map(str, flows)),
            "risk": rng.randint(1, 4), "complexity": rng.randint(1, 4), "start_date": "2027-03-01",
            "end_date": "2027-12-31", "headcount": rng.randint(1, 30),
        }
        i += 1
        decision, record = engine._intake.decide_record(proposal)
        if record is not None and decision.decision in ("accept", "review"):
            out.append((decision, record))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="proposals to rank (default 100,000)")
    parser.add_argument("--sensitivity-n", type=int, default=1_000, help="proposals for sensitivity (default 1,000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    engine = Engine.load(today=dt.date(2026, 12, 1))
    scoring = engine.policy.scoring
    decided = passing_proposals(engine, args.n)
    small = decided[: args.sensitivity_n]
    records = [r for _, r in decided]
    scores = score(scoring, records)
    columns, weights = scores.normalised.copy(), np.array([c.weight for c in scoring.criteria])

    def rank_all():
        return build_ranking(scoring, decided, engine.policy_hash, "2026-12-01")

    def rank_and_read():
        for entry in rank_all().entries:
            _ = entry.breakdown

    def anchor_numpy():
        return np.argsort(-(columns @ weights), kind="stable")

    def with_sensitivity():
        return build_ranking(scoring, small, engine.policy_hash, "2026-12-01", top=10, sensitivity=True)

    x_small = score(scoring, [r for _, r in small]).normalised
    samples = scoring.sensitivity.samples

    def anchor_loop():
        rng = np.random.default_rng(0)
        counts = np.zeros(len(x_small))
        for _ in range(samples):
            w = weights * rng.uniform(0.8, 1.2, len(weights))
            s = x_small @ (w / w.sum())
            counts[np.argsort(-s)[:10]] += 1
        return counts / samples

    ranking = rank_all()
    assert sum(1 for e in ranking.entries if e.rank is not None) == args.n
    rows = [
        ("rank", args.n, timed(rank_all, args.repeat)),
        ("rank+breakdown", args.n, timed(rank_and_read, args.repeat)),
        ("anchor-numpy", args.n, timed(anchor_numpy, args.repeat)),
        ("sensitivity", len(small), timed(with_sensitivity, args.repeat)),
        ("anchor-loop", len(small), timed(anchor_loop, args.repeat)),
    ]
    print(f"reference scoring policy ({len(scoring.criteria)} criteria), median of {args.repeat} run(s), "
          f"python {sys.version.split()[0]}, numpy {np.__version__}")
    print(f"{'mode':<14} {'proposals':>10} {'seconds':>9} {'proposals/s':>12}  ratio")
    seconds_of = {name: seconds for name, _, seconds in rows}
    for name, n, seconds in rows:
        anchor = "anchor-loop" if name in ("sensitivity", "anchor-loop") else "anchor-numpy"
        print(f"{name:<14} {n:>10,} {seconds:>9.3f} {n / seconds:>12,.0f}  {seconds / seconds_of[anchor]:.2f}x {anchor}")


if __name__ == "__main__":
    main()
