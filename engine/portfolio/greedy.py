"""Greedy baselines for portfolio selection: take projects best first (by value, or by value per cost),
each with what it needs and at its earliest start that fits. The optimiser must beat them."""
from __future__ import annotations

import numpy as np

from engine.portfolio.problem import Problem, Selection, cheapest, closure, selection_from


def greedy(prob: Problem, key: str) -> Selection:
    """A baseline: take projects best first ('value' or 'value per cost'), each with what it needs and at its
    earliest start that fits, while everything still fits. Min-share balance rules are checked at the end."""
    def ratio(k: int) -> float:
        return prob.value[k] / max(cheapest(prob, k, prob.total_cost), 1e-12)
    order = sorted(range(len(prob.ids)), key=lambda k: (-(prob.value[k] if key == "value" else ratio(k)),
                                                        prob.ids[k]))
    y = np.zeros(len(prob.owner), dtype=bool)
    feasible = True
    placed: dict[int, int] = {}  # project -> chosen option
    if not _place(prob, y, placed, closure(prob, prob.forced_in)):
        feasible = False
    for k in order:
        if k not in placed:
            _place(prob, y, placed, closure(prob, {k}) - set(placed))
    total = float(prob.total_cost[y].sum())
    for rule, member in prob.rules:
        share = float((member[prob.owner] * prob.total_cost)[y].sum()) / total if total else 0.0
        if rule.min_share is not None and share < rule.min_share - 1e-9:
            feasible = False
    return selection_from(prob, y, optimal=False, gap=None, status="greedy" if feasible else "greedy (infeasible)")


def _place(prob: Problem, y: np.ndarray, placed: dict[int, int], group: set[int]) -> bool:
    """Add a group of projects (prerequisites first, each at its earliest fitting option), or nothing."""
    if group & prob.forced_out:
        return False
    for i, j in prob.excludes:
        if (i in group or i in placed) and (j in group or j in placed):
            return False
    trial, chosen = y.copy(), dict(placed)
    for k in _prerequisites_first(prob, group):
        ready = max((prob.start[chosen[j]] + prob.length[j] for i, j in prob.depends
                     if i == k and j in chosen and prob.start[chosen[j]] is not None), default=0)
        for o in prob.options_of(k):
            if prob.start[o] is not None and prob.start[o] < ready:
                continue
            trial[o] = True
            if _within_limits(prob, trial):
                chosen[k] = int(o)
                break
            trial[o] = False
        else:
            return False
    y[:] = trial
    placed.update(chosen)
    return True


def _prerequisites_first(prob: Problem, group: set[int]) -> list[int]:
    order: list[int] = []
    seen: set[int] = set()

    def visit(k: int) -> None:
        if k in seen:
            return
        seen.add(k)
        for i, j in prob.depends:
            if i == k and j in group:
                visit(j)
        order.append(k)

    for k in sorted(group):
        visit(k)
    return order


def _within_limits(prob: Problem, y: np.ndarray) -> bool:
    for key, c in prob.cost.items():
        if c[y].sum() > prob.budget[key] + 1e-9:
            return False
    for key, d in prob.demand.items():
        if d[y].sum() > prob.capacity[key] + 1e-9:
            return False
    total = float(prob.total_cost[y].sum())
    for rule, member in prob.rules:
        if rule.max_share is not None and total and float((member[prob.owner] * prob.total_cost)[y].sum()) / total \
                > rule.max_share + 1e-9:
            return False
    return True
