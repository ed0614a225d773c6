"""How stable is a weighted-sum ranking? Two views, both on the normalised criterion scores.

- ``weight_changes``: for each proposal in the top N, the smallest change of one weight (the
  others rescaled so the weights still sum to 1) that pushes it out of the top N.
- ``top_probability``: perturb every weight at random (uniformly by up to +-p, then rescale),
  many times; how often each proposal is in the top N.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WeightChange:
    criterion: int  # index into the weights
    weight: float
    new_weight: float


def weight_changes(x: np.ndarray, w: np.ndarray, order: np.ndarray, top: int) -> list[WeightChange | None]:
    """For each of the first ``top`` proposals in ``order``: the smallest single-weight change that moves
    it out of the top, or None when no change of one weight can. ``x``: n x k normalised scores."""
    n, k = x.shape
    s = x @ w
    out: list[WeightChange | None] = []
    for p in order[:top]:
        best: WeightChange | None = None
        others = np.arange(n) != p
        a = (s - s[p])[others]  # > 0: scores above p now
        above_now = int(np.count_nonzero(a > 0))
        for i in range(k):
            b = (x[:, i] - x[p, i])[others]
            for sign in (1.0, -1.0):
                t = _first_crossing(a, sign * b, above_now, top)
                if t is None:
                    continue
                delta = sign * t
                if delta <= -w[i]:
                    continue  # the weight would have to fall below zero
                new = (w[i] + delta) / (1 + delta)  # after rescaling all weights to sum to 1
                if best is None or abs(new - w[i]) < abs(best.new_weight - best.weight):
                    best = WeightChange(i, float(w[i]), float(new))
        out.append(best)
    return out


def _first_crossing(a: np.ndarray, d: np.ndarray, above_now: int, top: int) -> float | None:
    """Smallest t > 0 after which at least ``top`` of the values a + t*d are positive."""
    enter = (d > 0) & (a <= 0)
    leave = (d < 0) & (a > 0)
    times = np.concatenate([-a[enter] / d[enter], -a[leave] / d[leave]])
    steps = np.concatenate([np.ones(int(enter.sum())), -np.ones(int(leave.sum()))])
    if not len(times):
        return None
    order = np.lexsort((steps, times))  # at equal times, leaving comes first (the cautious count)
    counts = above_now + np.cumsum(steps[order])
    hit = np.nonzero(counts >= top)[0]
    return float(times[order][hit[0]]) if len(hit) else None


def top_probability(x: np.ndarray, w: np.ndarray, top: int, perturbation: float, samples: int,
                    seed: int) -> np.ndarray:
    """Share of random weight perturbations under which each proposal is in the top ``top``."""
    n, k = x.shape
    if n <= top:
        return np.ones(n)
    rng = np.random.default_rng(seed)
    counts = np.zeros(n, dtype=np.int64)
    chunk = max(1, min(samples, 20_000_000 // max(n, 1)))  # bound memory: n x chunk scores at a time
    done = 0
    while done < samples:
        m = min(chunk, samples - done)
        weights = w * rng.uniform(1 - perturbation, 1 + perturbation, size=(m, k))
        weights /= weights.sum(axis=1, keepdims=True)
        scores = x @ weights.T  # n x m
        best = np.argpartition(-scores, top - 1, axis=0)[:top]
        counts += np.bincount(best.ravel(), minlength=n)
        done += m
    return counts / samples
