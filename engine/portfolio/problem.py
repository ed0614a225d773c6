"""The selection problem: candidates, their options (start periods), costs, demands and the rules they
must keep, as arrays; and what a selection is. Built once from a portfolio and the portfolio policy;
solved by engine/portfolio/select.py, and by engine/portfolio/greedy.py for the baselines."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.portfolio.model import Portfolio, Project
from engine.portfolio.policy import Limits

TOTAL = "total"


@dataclass(frozen=True)
class Rule:
    """A balance rule: the share of selected cost whose ``by`` (category or objective) is ``value``."""

    by: str
    value: str
    min_share: float | None = None
    max_share: float | None = None

    @property
    def label(self) -> str:
        bounds = [f"at least {self.min_share:.0%}" if self.min_share is not None else "",
                  f"at most {self.max_share:.0%}" if self.max_share is not None else ""]
        return f"{self.by} {self.value}: {' and '.join(b for b in bounds if b)} of the cost"


@dataclass
class Selection:
    selected: list[str]
    value: float
    cost: dict[str, float]
    optimal: bool
    gap: float | None
    status: str  # optimal | time limit | infeasible
    binding: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why it is infeasible, when it is
    notes: list[str] = field(default_factory=list)
    starts: dict[str, str] = field(default_factory=dict)  # project -> start period chosen in its window

    @property
    def total_cost(self) -> float:
        return sum(self.cost.values())

    def to_json(self) -> dict[str, Any]:
        return {"selected": self.selected, "value": self.value, "cost": self.total_cost,
                "cost_by_period": self.cost, "optimal": self.optimal, "gap": self.gap, "status": self.status,
                "binding": self.binding, "reasons": self.reasons, "notes": self.notes, "starts": self.starts}


@dataclass
class Problem:
    """The candidates and their options. A project without a start window has one option; a project with
    a window has one option per allowed start period, its cost and demand profile placed from there."""

    ids: list[str]  # projects
    value: np.ndarray  # per project
    owner: np.ndarray  # per option: its project
    start: list[int | None]  # per option: start period index (None: fixed timing)
    length: list[int]  # per project: periods its profile spans (for timing dependencies)
    periods: list[str]
    cost: dict[str, np.ndarray]  # budget key (period or "total") -> cost per option
    total_cost: np.ndarray  # per option
    budget: dict[str, float]
    demand: dict[tuple[str, str], np.ndarray]  # (role, period) -> demand per option
    capacity: dict[tuple[str, str], float]
    depends: list[tuple[int, int]]  # projects: (dependent, prerequisite)
    excludes: list[tuple[int, int]]
    together: list[tuple[int, int]]
    forced_in: set[int]
    forced_out: set[int]
    rules: list[tuple[Rule, np.ndarray]]  # rule, membership (0/1) per project
    notes: list[str] = field(default_factory=list)

    def options_of(self, project: int) -> np.ndarray:
        return np.nonzero(self.owner == project)[0]


def problem(portfolio: Portfolio, limits: Limits, balance: list[Rule] | None = None,
            budget: dict[str, float] | None = None) -> Problem:
    projects = list(portfolio)
    index = {p.id: k for k, p in enumerate(projects)}
    notes: list[str] = []
    own = budget if budget is not None else portfolio.budget
    budget = dict(own if own is not None else limits.budget)
    # Periods in order: those of the budget given by the call, else by the portfolio file (also when the call
    # gives one total), else the policy's.
    def labels(money: dict | None) -> list[str]:
        return [k for k in money or {} if k != TOTAL]
    periods = labels(own) or labels(portfolio.budget) or list(limits.periods) or labels(budget)
    position = {label: t for t, label in enumerate(periods)}
    # Options: (project, start index or None, cost by key, demand by (role, period)).
    options: list[tuple[int, int | None, dict[str, float], dict[tuple[str, str], float]]] = []
    length = []
    for k, p in enumerate(projects):
        if p.window is None:
            demand = {(role, period): amount for role, by in p.demand.items() for period, amount in by.items()}
            options.append((k, None, _cost(p), demand))
            length.append(0)
            continue
        first, last = (position.get(label) for label in p.window)
        if first is None or last is None or first > last:
            raise ValueError(f"{p.id}: window {list(p.window)} must name two periods of {periods or 'the budget'}, "
                             "the earliest first")
        span = max(len(p.cost_profile), *(len(v) for v in p.demand_profile.values())) if p.demand_profile else \
            len(p.cost_profile)
        length.append(span)
        for t in range(first, last + 1):
            if t + span > len(periods):
                break  # it would run past the last period
            cost = {periods[t + j]: amount for j, amount in enumerate(p.cost_profile)}
            demand = {(role, periods[t + j]): amount for role, by in p.demand_profile.items()
                      for j, amount in enumerate(by)}
            options.append((k, t, cost, demand))
        if not any(o[0] == k for o in options):
            raise ValueError(f"{p.id}: no start in its window leaves room for its {span} periods")
    owner = np.array([o[0] for o in options], dtype=int)
    starts = [o[1] for o in options]
    keys = sorted({key for o in options for key in o[2]} | set(budget), key=lambda key: (key != TOTAL, key))
    if TOTAL in budget and len(budget) == 1:  # one budget for everything: compare total costs
        cost = {TOTAL: np.array([sum(o[2].values()) for o in options])}
    else:
        if any(TOTAL in o[2] for o in options):
            notes.append("some costs are totals while the budget is by period: those costs count in no period")
        cost = {key: np.array([o[2].get(key, 0.0) for o in options]) for key in keys if key != TOTAL and key in budget}
    value = np.array([p.value if p.value is not None else 1.0 for p in projects], dtype=float)
    if any(p.value is None for p in projects):
        notes.append("projects without a value (or score) count 1 each")
    demand: dict[tuple[str, str], np.ndarray] = {}
    for j, (_k, _t, _c, needs) in enumerate(options):
        for key, amount in needs.items():
            if limits.capacity_of(*key) is not None and amount:
                demand.setdefault(key, np.zeros(len(options)))[j] = amount
    capacity = {key: limits.capacity_of(*key) * (1 + limits.resource_tolerance) for key in demand}  # type: ignore
    forced_in, forced_out = set(), set()
    depends, excludes, together = [], [], []
    for k, p in enumerate(projects):
        if p.force == "in":
            forced_in.add(k)
        if p.force == "out" or p.out:
            forced_out.add(k)
        for dep in p.depends_on:
            if dep.id in index:
                depends.append((k, index[dep.id]))
            else:
                forced_out.add(k)
                notes.append(f"{p.id} depends on unknown '{dep.id}', so it cannot be chosen")
        excludes += [(k, index[o]) for o in p.excludes if o in index and index[o] != k]
        together += [(k, index[o]) for o in p.requires_together if o in index and index[o] != k]
    rules = [(rule, np.array([1.0 if getattr(p, rule.by, None) == rule.value else 0.0 for p in projects]))
             for rule in balance or []]
    total = sum(cost.values()) if cost else np.zeros(len(options))
    return Problem([p.id for p in projects], value, owner, starts, length, periods, cost,
                   np.asarray(total, dtype=float), budget, demand, capacity, depends, excludes, together, forced_in,
                   forced_out, rules, notes)


def _cost(p: Project) -> dict[str, float]:
    return dict(p.cost) if p.cost else dict(p.budget)


def rules_from(items: list[dict]) -> list[Rule]:
    rules = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or item.get("by") not in ("category", "objective") or not item.get("value"):
            raise ValueError(f"balance rule {n}: write {{by: category|objective, value: X, min_share: 0.2}}")
        low, high = item.get("min_share"), item.get("max_share")
        for share in (low, high):
            if share is not None and not (isinstance(share, (int, float)) and 0 <= float(share) <= 1):
                raise ValueError(f"balance rule {n}: shares run from 0 to 1, got {share!r}")
        rules.append(Rule(item["by"], str(item["value"]), None if low is None else float(low),
                          None if high is None else float(high)))
    return rules


def selection_from(prob: Problem, y: np.ndarray, optimal: bool, gap: float | None, status: str) -> Selection:
    """A selection from chosen options."""
    cost = {key: float(c[y].sum()) for key, c in prob.cost.items()}
    picked = sorted(int(prob.owner[j]) for j in np.nonzero(y)[0])
    starts = {prob.ids[int(prob.owner[j])]: prob.periods[prob.start[j]] for j in np.nonzero(y)[0]
              if prob.start[j] is not None}
    return Selection([prob.ids[k] for k in picked], float(prob.value[picked].sum()), cost, optimal, gap, status,
                     notes=list(prob.notes), starts=starts)


def infeasible(prob: Problem, reasons: list[str]) -> Selection:
    return Selection([], 0.0, {}, False, None, "infeasible", reasons=reasons, notes=list(prob.notes))


def closure(prob: Problem, start: set[int]) -> set[int]:
    """The projects, plus every prerequisite and every 'goes together' partner, transitively."""
    needs: dict[int, set[int]] = {}
    for i, j in prob.depends:
        needs.setdefault(i, set()).add(j)
    for i, j in prob.together:
        needs.setdefault(i, set()).add(j)
        needs.setdefault(j, set()).add(i)
    out, todo = set(start), list(start)
    while todo:
        for j in needs.get(todo.pop(), ()):
            if j not in out:
                out.add(j)
                todo.append(j)
    return out


def cheapest(prob: Problem, k: int, array: np.ndarray) -> float:
    return float(min(array[o] for o in prob.options_of(k)))
