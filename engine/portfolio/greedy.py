"""Greedy baselines for portfolio selection: take projects best first (by value, or by value per cost),
each with what it needs and at its earliest start that fits. The optimiser must beat them."""
from __future__ import annotations

import numpy as np

from engine.portfolio.problem import Problem, Selection, cheapest, closure, needs_of, selection_from


def greedy(prob: Problem, key: str) -> Selection:
    """A baseline: take projects best first ('value' or 'value per cost'), each with what it needs and at its
    earliest start that fits, while everything still fits. Min-share balance rules are checked at the end."""
    def ratio(k: int) -> float:
        return float(prob.value[k] / max(cheapest(prob, k, prob.total_cost), 1e-12))
    order = sorted(range(len(prob.ids)), key=lambda k: (-(prob.value[k] if key == "value" else ratio(k)),
                                                        prob.ids[k]))
    y = np.zeros(len(prob.owner), dtype=bool)
    feasible = True
    placed: dict[int, int] = {}  # project -> chosen option
    limits, needs = _Limits(prob), needs_of(prob)
    if not _place(prob, y, placed, closure(prob, prob.forced_in, needs), limits):
        feasible = False
    for k in order:
        if k not in placed:
            _place(prob, y, placed, closure(prob, {k}, needs) - set(placed), limits)
    total = float(prob.total_cost[y].sum())
    for rule, member in prob.rules:
        share = float((member[prob.owner] * prob.total_cost)[y].sum()) / total if total else 0.0
        if rule.min_share is not None and share < rule.min_share - 1e-9:
            feasible = False
    return selection_from(prob, y, optimal=False, gap=None, status="greedy" if feasible else "greedy (infeasible)")


def _place(prob: Problem, y: np.ndarray, placed: dict[int, int], group: set[int], limits: _Limits) -> bool:
    """Add a group of projects (prerequisites first, each at its earliest fitting option), or nothing."""
    if group & prob.forced_out:
        return False
    for i, j in prob.excludes:
        if (i in group or i in placed) and (j in group or j in placed):
            return False
    trial, chosen = y.copy(), dict(placed)
    for k in _prerequisites_first(group, limits.prerequisites):
        ready = max((start + prob.length[j] for j in limits.prerequisites.get(k, ())
                     if j in chosen and (start := prob.start[chosen[j]]) is not None), default=0)
        for o in prob.options_of(k):
            if prob.start[o] is not None and prob.start[o] < ready:
                continue
            trial[o] = True
            if limits.kept(trial):
                chosen[k] = int(o)
                break
            trial[o] = False
        else:
            return False
    y[:] = trial
    placed.update(chosen)
    return True


def _prerequisites_first(group: set[int], prerequisites: dict[int, list[int]]) -> list[int]:
    order: list[int] = []
    seen: set[int] = set()

    def visit(k: int) -> None:
        if k in seen:
            return
        seen.add(k)
        for j in prerequisites.get(k, ()):
            if j in group:
                visit(j)
        order.append(k)

    for k in sorted(group):
        visit(k)
    return order


class _Limits:
    """What a trial must keep: budget and capacity as one matrix (a row per limit, a column per option), checked
    with one product instead of a sum per limit, and the max-share balance rules; with the prerequisites of
    each project, looked up once."""

    def __init__(self, prob: Problem):
        arrays = list(prob.cost.values()) + list(prob.demand.values())
        self.prob = prob
        self.prerequisites: dict[int, list[int]] = {}  # project -> the projects it depends on
        for i, j in prob.depends:
            self.prerequisites.setdefault(i, []).append(j)
        self.matrix = np.array(arrays, dtype=float).reshape(len(arrays), len(prob.owner))
        self.limit = np.array([prob.budget[k] for k in prob.cost] + [prob.capacity[k] for k in prob.demand]) + 1e-9

    def kept(self, y: np.ndarray) -> bool:
        if not (self.matrix @ y <= self.limit).all():
            return False
        prob = self.prob
        total = float(prob.total_cost[y].sum())
        for rule, member in prob.rules:
            if rule.max_share is not None and total and \
                    float((member[prob.owner] * prob.total_cost)[y].sum()) / total > rule.max_share + 1e-9:
                return False
        return True


def repair(prob: Problem, y: np.ndarray) -> np.ndarray | None:
    """A choice of options that fits ``prob``, from one that may not (a larger budget's best): projects leave,
    the least value for the money they use in the limits broken first, each with the projects that need it;
    then the rest is filled greedily by value per cost, each with what it needs. None when a forced-in
    project would have to go. The caller checks the result against every row (balance rules included)."""
    limits, needs = _Limits(prob), needs_of(prob)
    needed_by: dict[int, set[int]] = {}  # project -> those that cannot be chosen without it
    for k, required in needs.items():
        for j in required:
            needed_by.setdefault(j, set()).add(k)
    y = y.astype(bool).copy()
    placed = {int(prob.owner[j]): int(j) for j in np.nonzero(y)[0]}
    while not limits.kept(y):
        over = limits.matrix @ y > limits.limit
        excess = np.maximum(limits.matrix @ y - limits.limit, 0.0)[over] + 1e-9
        weight = (limits.matrix[over] / excess[:, None]).sum(axis=0)  # an option's share of what is broken
        movable = [k for k in placed if k not in prob.forced_in and weight[placed[k]] > 0]
        if not movable:
            return None
        worst = min(movable, key=lambda k: (prob.value[k] / weight[placed[k]], prob.ids[k]))
        gone = _dependents(worst, needed_by)
        if gone & prob.forced_in:
            return None
        for k in gone & set(placed):
            y[placed.pop(k)] = False
    def ratio(k: int) -> float:
        return float(prob.value[k] / max(cheapest(prob, k, prob.total_cost), 1e-12))
    for k in sorted(range(len(prob.ids)), key=lambda k: (-ratio(k), prob.ids[k])):
        if k not in placed:
            _place(prob, y, placed, closure(prob, {k}, needs) - set(placed), limits)
    return y


def _dependents(k: int, needed_by: dict[int, set[int]]) -> set[int]:
    out, todo = {k}, [k]
    while todo:
        for j in needed_by.get(todo.pop(), ()):
            if j not in out:
                out.add(j)
                todo.append(j)
    return out
