"""Portfolio selection: the set of projects worth most within budget, capacity and the rules.

A 0-1 integer programme solved exactly with HiGHS (``scipy.optimize.milp``):

    maximise   sum value_i x_i
    subject to cost by period (or in total)        <= budget
               demand by role and period           <= capacity
               x_i <= x_j                          (i depends on j)
               x_i + x_j <= 1                      (i excludes j)
               x_i == x_j                          (i and j go together)
               x_i = 1 / x_i = 0                   (forced in / out; rejected and cancelled are out)
               share of cost by category/objective within [min, max]

Infeasible problems are explained (forced-in projects over budget, contradictory forcing, a balance
rule that cannot be met); greedy baselines (engine/portfolio/greedy.py) show what the optimiser adds.
The problem itself is built by engine/portfolio/problem.py.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from engine.compile.portfolio import Limits
from engine.errors import did_you_mean
from engine.portfolio.greedy import greedy
from engine.portfolio.model import Portfolio
from engine.portfolio.names import Names
from engine.portfolio.problem import (
    TOTAL,
    Problem,
    Selection,
    cheapest,
    closure,
    infeasible,
    problem,
    rules_from,
    selection_from,
)


def solve(prob: Problem, time_limit: float = 30.0, gap: float = 1e-4, explain_infeasible: bool = True,
          reasons: bool = True) -> Selection:
    """The best selection; with ``reasons``, every project left out says why (see left_out)."""
    selection = _solve(prob, time_limit, gap, explain_infeasible)
    if reasons:
        selection.left_out = left_out(prob, selection)
    return selection


def _solve(prob: Problem, time_limit: float, gap: float, explain_infeasible: bool) -> Selection:
    n, m = len(prob.ids), len(prob.owner)
    if n == 0:
        return Selection([], 0.0, {}, True, 0.0, "optimal", notes=prob.notes)
    rows, cols, vals, lower, upper = [], [], [], [], []
    chosen_rows = {k: prob.options_of(k) for k in range(n)}  # x_k = the sum of project k's options

    def add(coefficients: dict[int, float], lo: float, hi: float) -> None:
        r = len(lower)
        for j, v in coefficients.items():
            if v:
                rows.append(r)
                cols.append(j)
                vals.append(float(v))
        lower.append(lo)
        upper.append(hi)

    def x(k: int, sign: float = 1.0) -> dict[int, float]:
        return {int(j): sign for j in chosen_rows[k]}

    def dense(array: np.ndarray) -> dict[int, float]:
        return {int(j): float(v) for j, v in enumerate(array) if v}

    for key, c in prob.cost.items():
        add(dense(c), -np.inf, prob.budget[key])
    for key, d in prob.demand.items():
        add(dense(d), -np.inf, prob.capacity[key])
    for k in range(n):
        if len(chosen_rows[k]) > 1:
            add(x(k), -np.inf, 1.0)  # one start at most
        if k in prob.forced_in:
            add(x(k), 1.0, 1.0)
    for i, j in prob.depends:
        add({**x(i), **x(j, -1.0)}, -np.inf, 0.0)
        if any(prob.start[o] is not None for o in chosen_rows[i]) and \
                any(prob.start[o] is not None for o in chosen_rows[j]):
            # start_i >= start_j + length_j whenever i is chosen:
            #   sum (s - M) y_i - sum (s + length_j) y_j >= -M   (with i not chosen it only says s_j < M)
            big = len(prob.periods) + max(prob.length, default=0) + 1
            timing = {int(o): float(prob.start[o] - big) for o in chosen_rows[i]}
            for o in chosen_rows[j]:
                timing[int(o)] = timing.get(int(o), 0.0) - float(prob.start[o] + prob.length[j])
            add(timing, -big, np.inf)
    for i, j in prob.excludes:
        add({**x(i), **x(j)}, -np.inf, 1.0)
    for i, j in prob.together:
        add({**x(i), **x(j, -1.0)}, 0.0, 0.0)
    member = {id(rule): m_[prob.owner] for rule, m_ in prob.rules}
    for rule, _m in prob.rules:
        if rule.min_share is not None:
            add(dense((member[id(rule)] - rule.min_share) * prob.total_cost), 0.0, np.inf)
        if rule.max_share is not None:
            add(dense((member[id(rule)] - rule.max_share) * prob.total_cost), -np.inf, 0.0)
    ub = np.ones(m)
    ub[np.isin(prob.owner, list(prob.forced_out))] = 0
    both = sorted(prob.forced_in & prob.forced_out)
    if both:
        return infeasible(prob, [f"{', '.join(prob.ids[k] for k in both)} must be in (forced) and out (forced out, "
                                  "rejected, cancelled or depending on an unknown project) at the same time"])
    constraints = []
    if lower:
        matrix = coo_matrix((vals, (rows, cols)), shape=(len(lower), m)).tocsr()
        constraints.append(LinearConstraint(matrix, np.array(lower), np.array(upper)))
    result = milp(-prob.value[prob.owner], integrality=np.ones(m), bounds=Bounds(np.zeros(m), ub),
                  constraints=constraints, options={"time_limit": time_limit, "mip_rel_gap": gap, "disp": False})
    if result.x is None:
        if result.status != 2:
            return infeasible(prob, [f"solver stopped: {result.message}"])
        return infeasible(prob, explain(prob) if explain_infeasible else [])
    y = np.round(result.x).astype(bool)
    selection = selection_from(prob, y, optimal=result.status == 0,
                           gap=float(getattr(result, "mip_gap", 0.0) or 0.0),
                           status="optimal" if result.status == 0 else "time limit")
    selection.binding = binding(prob, y)
    return selection


def left_out(prob: Problem, selection: Selection) -> list[dict[str, str]]:
    """Every project not selected, with its reason: rejected at intake, forced out (by force: out or its
    status), infeasible alone (with what it needs it breaks a limit, or needs a project that cannot be
    chosen), not worth it (it would fit, but the selection is worth more without it), or no selection.
    Needs are summed once for all of them, as one sparse product, so a thousand candidates stay cheap."""
    chosen = {prob.ids.index(pid) for pid in selection.selected} if selection.selected else set()
    left = [k for k in range(len(prob.ids)) if k not in chosen]
    if not left:
        return []
    n = len(prob.ids)
    keys = [("budget", key) for key in prob.cost] + [("capacity", key) for key in prob.demand]
    arrays = [prob.cost[key] for key in prob.cost] + [prob.demand[key] for key in prob.demand]
    limits = np.array([prob.budget[key] for key in prob.cost] + [prob.capacity[key] for key in prob.demand])
    least = np.full((n, len(arrays)), np.inf)  # each project's cheapest option, per limit
    for column, array in enumerate(arrays):
        np.minimum.at(least[:, column], prob.owner, array)
    least[~np.isfinite(least)] = 0.0
    used = np.zeros(len(arrays))
    if chosen:
        y = np.isin(prob.owner, list(chosen)) & _chosen_options(prob, selection)
        used = np.array([float(a[y].sum()) for a in arrays])
    groups = {k: closure(prob, {k}) for k in left}
    alone = _sums(groups, least, n)
    extra = _sums({k: g - chosen for k, g in groups.items()}, least, n)
    out = []
    for row, k in enumerate(left):
        reason, detail = _left_out_reason(prob, k, groups[k], chosen, keys, limits, alone[row], used, extra[row],
                                          selection.status)
        out.append({"id": prob.ids[k], "reason": reason, "detail": detail})
    return out


def _chosen_options(prob: Problem, selection: Selection) -> np.ndarray:
    """Which options the selection took: a project's only option, or the one at its chosen start."""
    starts = {pid: prob.periods.index(label) for pid, label in selection.starts.items()}
    return np.array([prob.start[j] is None or starts.get(prob.ids[int(prob.owner[j])]) == prob.start[j]
                     for j in range(len(prob.owner))], dtype=bool)


def _sums(groups: dict[int, set[int]], least: np.ndarray, n: int) -> np.ndarray:
    rows = [r for r, g in enumerate(groups.values()) for _ in g]
    cols = [j for g in groups.values() for j in g]
    matrix = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(groups), n)).tocsr()
    return np.asarray(matrix @ least)


def _left_out_reason(prob: Problem, k: int, group: set[int], chosen: set[int], keys: list, limits: np.ndarray,
                     alone: np.ndarray, used: np.ndarray, extra: np.ndarray, status: str) -> tuple[str, str]:
    if k in prob.why_out:
        return prob.why_out[k]
    blocked = sorted(j for j in group - {k} if j in prob.forced_out)
    if blocked:
        return "infeasible alone", "needs " + ", ".join(
            f"{prob.ids[j]} ({prob.why_out[j][0]}" + (f": {prob.why_out[j][1]})" if j in prob.why_out else ")")
            for j in blocked)
    clash = [(i, j) for i, j in prob.excludes if i in group and j in group]
    if clash:
        i, j = clash[0]
        return "infeasible alone", f"needs {prob.ids[i]} and {prob.ids[j]}, which exclude each other"
    helpers = f" with {', '.join(prob.ids[j] for j in sorted(group - {k}))}" if len(group) > 1 else ""
    for column in np.nonzero(alone > limits + 1e-9)[0]:
        return "infeasible alone", _need(keys[column], alone[column], limits[column]) + helpers
    if status == "infeasible":
        return "no selection", "no selection meets every constraint (see the reasons)"
    parts = [f"excludes {prob.ids[j if i == k else i]}, which is selected" for i, j in prob.excludes
             if k in (i, j) and (j if i == k else i) in chosen]
    for column in np.nonzero(used + extra > limits + 1e-9)[0][:2]:
        kind, key = keys[column]
        what = ("the budget" if key == TOTAL else f"the {key} budget") if kind == "budget" else f"{key[0]} in {key[1]}"
        amount = (lambda v: f"{v:,.0f}") if kind == "budget" else (lambda v: f"{v:g}")
        parts.append(f"no room in {what}, {amount(used[column])} of {amount(limits[column])} used and it needs "
                     f"{amount(extra[column])}{helpers}")
    if not parts:
        parts.append("it fits, but the balance rules or the timing make the selection worth more without it")
    return "not worth it", f"value {prob.value[k]:,.4g}: " + "; ".join(parts)


def _need(key: tuple, need: float, limit: float) -> str:
    kind, name = key
    if kind == "budget":
        return f"needs {need:,.0f} in {name} against a budget of {limit:,.0f}"
    return f"needs {need:g} {name[0]} in {name[1]} against a capacity of {limit:g}"


def binding(prob: Problem, y: np.ndarray) -> list[str]:
    """Budget and capacity limits that leave no room for any option of a project not chosen."""
    chosen = set(int(prob.owner[j]) for j in np.nonzero(y)[0])
    waiting = [j for j in range(len(prob.owner)) if int(prob.owner[j]) not in chosen | prob.forced_out]
    out = []
    for key, c in prob.cost.items():
        used, limit = float(c[y].sum()), prob.budget[key]
        blocked = [j for j in waiting if c[j] > 0]
        if blocked and all(used + c[j] > limit + 1e-9 for j in blocked):
            out.append(f"budget {key}: {used:,.0f} of {limit:,.0f} used")
    for (role, period), d in prob.demand.items():
        used, limit = float(d[y].sum()), prob.capacity[(role, period)]
        blocked = [j for j in waiting if d[j] > 0]
        if blocked and all(used + d[j] > limit + 1e-9 for j in blocked):
            out.append(f"{role} in {period}: {used:g} of {limit:g} used")
    total = float(prob.total_cost[y].sum())
    for rule, member in prob.rules:
        share = float((member[prob.owner] * prob.total_cost)[y].sum()) / total if total else 0.0
        for bound in (rule.min_share, rule.max_share):
            if bound is not None and abs(share - bound) < 1e-6:
                out.append(f"{rule.label} (now {share:.1%})")
    return out


def explain(prob: Problem) -> list[str]:
    """Why no selection satisfies everything: checks that name the constraints at fault."""
    reasons = []
    must = closure(prob, prob.forced_in)
    names = ", ".join(prob.ids[k] for k in sorted(must))
    blocked = must & prob.forced_out
    if blocked:
        reasons.append(f"the forced-in projects need {', '.join(prob.ids[k] for k in sorted(blocked))}, which "
                       "is forced out, rejected or cancelled")
    for i, j in prob.excludes:
        if i in must and j in must:
            reasons.append(f"{prob.ids[i]} and {prob.ids[j]} exclude each other, but both are needed by the "
                           "forced-in projects")
    for key, c in prob.cost.items():
        need = sum(cheapest(prob, k, c) for k in must)
        if need > prob.budget[key] + 1e-9:
            reasons.append(f"the forced-in projects ({names}) need {need:,.0f} in {key} against a budget of "
                           f"{prob.budget[key]:,.0f}")
    for (role, period), d in prob.demand.items():
        need = sum(cheapest(prob, k, d) for k in must)
        if need > prob.capacity[(role, period)] + 1e-9:
            reasons.append(f"the forced-in projects ({names}) need {need:g} {role} in {period} against a capacity "
                           f"of {prob.capacity[(role, period)]:g}")
    allowed = np.array([k not in prob.forced_out for k in range(len(prob.ids))])
    for rule, member in prob.rules:
        if rule.min_share and not (member * allowed).any():
            reasons.append(f"{rule.label}: no project that may be chosen has {rule.by} {rule.value}")
    if not reasons:
        reasons.append("no choice meets every constraint together; " + relaxations(prob))
    return reasons


def relaxations(prob: Problem) -> str:
    """Which single group of constraints, dropped, would make the problem feasible."""
    groups = {"the budget": dict(prob.__dict__, cost={}, budget={}),
              "capacity": dict(prob.__dict__, demand={}, capacity={}),
              "the balance rules": dict(prob.__dict__, rules=[]),
              "forcing projects in": dict(prob.__dict__, forced_in=set()),
              "the start windows and timing": dict(prob.__dict__, start=[None] * len(prob.start))}
    fixes = [name for name, fields in groups.items()
             if solve(Problem(**fields), time_limit=5, explain_infeasible=False, reasons=False).status != "infeasible"]
    return ("it becomes feasible without " + " or without ".join(fixes)) if fixes else \
        "dropping any one group of constraints (budget, capacity, balance, forcing, timing) is not enough"


def scaled(prob: Problem, factor: float) -> Problem:
    return Problem(**dict(prob.__dict__, budget={k: v * factor for k, v in prob.budget.items()}))


def frontier(prob: Problem, points: int, time_limit: float = 30.0, gap: float = 0.01) -> list[dict[str, Any]]:
    """The best value at ``points`` budget levels (every period scaled alike), from a little to enough for
    every project, with both greedy baselines at each level. Each point is solved to within ``gap``
    (1%) or its share of ``time_limit``; ``optimal`` and ``gap`` say how close each got."""
    full = max((prob.cost[k].sum() / prob.budget[k] for k in prob.cost if prob.budget.get(k)), default=1.0)
    top = max(full, 1.0)
    out = []
    deadline = time.perf_counter() + time_limit
    for step in range(1, points + 1):
        factor = top * step / points
        level = scaled(prob, factor)
        share = max(0.05, (deadline - time.perf_counter()) / (points - step + 1) - 0.02)  # leave room for greedy
        best = solve(level, time_limit=share, gap=gap, reasons=False)
        out.append({"budget": sum(level.budget.values()), "factor": factor, "value": best.value,
                    "selected": best.selected, "optimal": best.optimal, "gap": best.gap,
                    "greedy_value": greedy(level, "value").value,
                    "greedy_value_per_cost": greedy(level, "value per cost").value})
    return out



@dataclass
class Scenario:
    name: str
    budget_factor: float = 1.0
    force_in: list[str] = field(default_factory=list)
    force_out: list[str] = field(default_factory=list)
    extra_capacity: dict[str, float] = field(default_factory=dict)  # role -> added in every period
    weights: dict[str, float] = field(default_factory=dict)  # scoring criterion -> new weight (values re-scored)


Revalue = Callable[[dict[str, float]], dict[str, float]]  # criterion weights -> project id -> new value


def scenario_problem(prob: Problem, scenario: Scenario, revalue: Revalue | None = None,
                     roles_known: tuple[str, ...] = ()) -> Problem:
    """``roles_known``: the policy's roles (extra capacity for a role no project needs is no error)."""
    index = {pid: k for k, pid in enumerate(prob.ids)}
    unknown = [pid for pid in scenario.force_in + scenario.force_out if pid not in index]
    if unknown:
        close = did_you_mean(unknown[0], index)
        raise ValueError(f"scenario '{scenario.name}': unknown project {', '.join(unknown)}"
                         + (f"; {close}" if close else ""))
    roles = Names(sorted({role for role, _period in prob.capacity} | set(roles_known)))
    extra: dict[str, float] = {}
    for written, amount in scenario.extra_capacity.items():
        role = roles.match(written)
        if role is None:
            raise ValueError(f"scenario '{scenario.name}': extra_capacity for '{written}', a role the portfolio "
                             f"policy has no capacity for; {roles.hint(written, 'roles')}")
        extra[role] = extra.get(role, 0.0) + amount
    capacity = {key: limit + extra.get(key[0], 0.0) for key, limit in prob.capacity.items()}
    value = prob.value
    if scenario.weights:
        if revalue is None:
            raise ValueError(f"scenario '{scenario.name}': changing weights needs projects with a 'proposal' "
                             "and a scoring policy, so their values can be scored again")
        fresh = revalue(scenario.weights)
        value = np.array([fresh.get(pid, v) for pid, v in zip(prob.ids, prob.value)], dtype=float)
    return Problem(**dict(prob.__dict__, value=value,
                          budget={k: v * scenario.budget_factor for k, v in prob.budget.items()},
                          capacity=capacity, forced_in=prob.forced_in | {index[p] for p in scenario.force_in},
                          forced_out=prob.forced_out | {index[p] for p in scenario.force_out}))


def compare(base: Selection, other: Selection) -> dict[str, Any]:
    return {"entered": sorted(set(other.selected) - set(base.selected)),
            "left": sorted(set(base.selected) - set(other.selected)),
            "value_change": other.value - base.value, "cost_change": other.total_cost - base.total_cost}


@dataclass
class SelectionReport:
    best: Selection
    baselines: dict[str, Selection]
    frontier: list[dict[str, Any]] = field(default_factory=list)
    scenarios: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.best.to_json(),
                "baselines": {name: {"selected": b.selected, "value": b.value, "cost": b.total_cost,
                                     "status": b.status} for name, b in self.baselines.items()},
                "frontier": self.frontier, "scenarios": self.scenarios}


def scenarios_from(items: Any) -> list[Scenario]:
    if isinstance(items, dict):
        items = items.get("scenarios")
    if not isinstance(items, list):
        raise ValueError('a scenario file holds {"scenarios": [{"name": ..., ...}]}')
    out = []
    allowed = {"name", "budget_factor", "force_in", "force_out", "extra_capacity", "weights"}
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not item.get("name"):
            raise ValueError(f"scenario {n} needs a name")
        unknown = set(item) - allowed
        if unknown:
            raise ValueError(f"scenario '{item['name']}': unknown key '{sorted(unknown)[0]}' "
                             f"(keys: {', '.join(sorted(allowed))})")
        factor = item.get("budget_factor", 1.0)
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor < 0:
            raise ValueError(f"scenario '{item['name']}': budget_factor must be a number from 0 up")
        extra = item.get("extra_capacity") or {}
        if not isinstance(extra, dict) or not all(isinstance(v, (int, float)) for v in extra.values()):
            raise ValueError(f"scenario '{item['name']}': extra_capacity maps roles to numbers")
        weights = item.get("weights") or {}
        if not isinstance(weights, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in weights.values()):
            raise ValueError(f"scenario '{item['name']}': weights map scoring criteria to numbers from 0 up")
        out.append(Scenario(str(item["name"]), float(factor), [str(x) for x in item.get("force_in") or []],
                            [str(x) for x in item.get("force_out") or []], {k: float(v) for k, v in extra.items()},
                            {k: float(v) for k, v in weights.items()}))
    return out


def select(portfolio: Portfolio, limits: Limits, *, budget: dict[str, float] | None = None, frontier_points: int = 0,
           scenarios: list[Scenario] | None = None, time_limit: float = 30.0,
           revalue: Revalue | None = None) -> SelectionReport:
    rules = rules_from(list(limits.balance) + list(portfolio.balance))
    prob = problem(portfolio, limits, rules, budget)
    best = solve(prob, time_limit=time_limit)
    report = SelectionReport(best, {"greedy by value": greedy(prob, "value"),
                                    "greedy by value per cost": greedy(prob, "value per cost")})
    if frontier_points:
        report.frontier = frontier(prob, frontier_points, time_limit=time_limit)
    for scenario in scenarios or []:
        outcome = solve(scenario_problem(prob, scenario, revalue, tuple(limits.capacity)), time_limit=time_limit)
        report.scenarios.append({"name": scenario.name, **compare(best, outcome), "value": outcome.value,
                                 "cost": outcome.total_cost, "status": outcome.status, "reasons": outcome.reasons,
                                 "selected": outcome.selected})
    return report
