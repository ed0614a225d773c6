"""Portfolio selection: the set of projects worth most within budget, capacity and the rules.

A 0-1 integer programme solved exactly with HiGHS (``highspy``, which takes a starting choice):

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

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix

from engine.compile.portfolio import Limits
from engine.errors import did_you_mean
from engine.portfolio.greedy import greedy, repair
from engine.portfolio.model import TOTAL, Portfolio
from engine.portfolio.names import Names
from engine.portfolio.problem import (
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
    if not prob.ids:
        return Selection([], 0.0, {}, True, 0.0, "optimal", notes=prob.notes)
    model = _model(prob)
    if isinstance(model, Selection):
        return model
    result = _milp(model, model.upper, time_limit, gap)
    if result.y is None:
        if result.status != "infeasible":
            return infeasible(prob, [f"solver stopped: {result.status}"])
        return infeasible(prob, explain(prob) if explain_infeasible else [])
    selection = selection_from(prob, result.y, optimal=result.status == "optimal", gap=result.gap,
                               status=result.status)
    selection.binding = binding(prob, result.y)
    return selection


@dataclass
class Model:
    """The 0-1 programme as arrays: maximise value @ y subject to lower <= matrix @ y <= upper, 0 <= y <= col_upper.
    ``budget_rows`` are the rows of the budget (one per budget key, in ``prob.cost``'s order), the only rows
    a frontier changes."""

    value: np.ndarray  # per option
    matrix: Any  # scipy.sparse CSR, rows x options
    lower: np.ndarray
    upper: np.ndarray
    col_upper: np.ndarray
    budget_rows: np.ndarray

    def fits(self, y: np.ndarray, upper: np.ndarray) -> bool:
        """Whether a 0-1 choice of options keeps every row (a start offered to the solver must)."""
        if not len(self.lower):
            return bool((y <= self.col_upper).all())
        rows = self.matrix @ y.astype(float)
        return bool((rows >= self.lower - 1e-6).all() and (rows <= upper + 1e-6).all()
                    and (y <= self.col_upper).all())


def _model(prob: Problem) -> Model | Selection:
    """The programme of the module docstring, or an infeasible selection when forcing contradicts itself."""
    n, m = len(prob.ids), len(prob.owner)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    upper: list[float] = []
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

    for budget_key, c in prob.cost.items():
        add(dense(c), -np.inf, prob.budget[budget_key])
    for capacity_key, d in prob.demand.items():
        add(dense(d), -np.inf, prob.capacity[capacity_key])
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
    col_upper = np.ones(m)
    col_upper[np.isin(prob.owner, list(prob.forced_out))] = 0
    both = sorted(prob.forced_in & prob.forced_out)
    if both:
        return infeasible(prob, [f"{', '.join(prob.ids[k] for k in both)} must be in (forced) and out (forced out, "
                                  "rejected, cancelled or depending on an unknown project) at the same time"])
    matrix = coo_matrix((np.asarray(vals, dtype=float), (np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp))),
                        shape=(len(lower), m)).tocsr()
    return Model(prob.value[prob.owner].astype(float), matrix, np.array(lower, dtype=float),
                 np.array(upper, dtype=float), col_upper, np.arange(len(prob.cost)))


@dataclass
class Solved:
    y: np.ndarray | None  # the options chosen (None: no feasible choice found)
    status: str  # optimal (within the gap asked for) | time limit | infeasible | the solver's own word
    value: float
    bound: float  # no choice is worth more (the solver's dual bound); inf when unknown
    gap: float | None  # (bound - value) / value


def _milp(model: Model, upper: np.ndarray, time_limit: float, gap: float, start: np.ndarray | None = None) -> Solved:
    """Solve the programme with the rows' upper limits ``upper`` by HiGHS (highspy); ``start``, a choice that
    keeps every row, is handed to the solver as its first incumbent, so the answer is never worth less.
    highspy rather than scipy's milp (the same solver): milp takes no start, and on the frontier benchmark
    highspy (HiGHS 1.16 against scipy's 1.12) left smaller gaps in the same time (docs/benchmarks.md)."""
    h = _highs()
    h.passModel(_lp(model, upper, integer=True))
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(gap))
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = start.astype(float).tolist()
        solution.value_valid = True
        h.setSolution(solution)
    h.run()
    status, info = h.getModelStatus(), h.getInfo()
    bound = -float(info.mip_dual_bound)
    if status == highspy.HighsModelStatus.kInfeasible:
        return Solved(None, "infeasible", 0.0, -np.inf, None)
    if info.primal_solution_status != 2:  # no feasible point
        if start is not None:
            return _solved(start, model, "time limit", bound)
        return Solved(None, h.modelStatusToString(status), 0.0, bound, None)
    y = np.round(np.asarray(h.getSolution().col_value)).astype(bool)
    if start is not None and model.value @ start > model.value @ y:
        y = start
    return _solved(y, model, "optimal" if status == highspy.HighsModelStatus.kOptimal else "time limit", bound)


def _relaxation(model: Model, upper: np.ndarray) -> float | None:
    """The LP relaxation's value with the rows' upper limits ``upper`` (no choice is worth more): inf when the
    LP is not solved, None when it is infeasible (so is the 0-1 programme)."""
    h = _highs()
    h.passModel(_lp(model, upper, integer=False))
    h.setOptionValue("time_limit", 5.0)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None
    if status != highspy.HighsModelStatus.kOptimal:
        return np.inf
    return -float(h.getInfo().objective_function_value) * (1 + 1e-9) + 1e-9


def _lp(model: Model, upper: np.ndarray, integer: bool) -> highspy.HighsLp:
    csc = model.matrix.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(model.value), len(model.lower)
    lp.col_cost_ = -model.value
    lp.col_lower_, lp.col_upper_ = np.zeros(len(model.value)), model.col_upper
    lp.row_lower_, lp.row_upper_ = model.lower, upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.indptr, csc.indices, csc.data
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * len(model.value)
    return lp


# A limit of the programme: ("budget", period or total) or ("capacity", (role, period)).
_Limit = tuple[str, str | tuple[str, str]]

_silenced = False


def _highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing. The first one in a process writes a banner to file descriptor 1
    before any option can be set, which would land in a user's JSON on stdout: it is made with descriptor 1
    pointed at the null device, once (later instances print no banner)."""
    global _silenced
    if _silenced:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _silenced = True
    h.setOptionValue("output_flag", False)
    return h


def _solved(y: np.ndarray, model: Model, status: str, bound: float) -> Solved:
    value = float(model.value @ y)
    if not np.isfinite(bound) or bound < value:
        bound = value if status == "optimal" else (bound if np.isfinite(bound) else np.inf)
    return Solved(y.astype(bool), status, value, bound, _gap(value, bound))


def _gap(value: float, bound: float) -> float | None:
    if not np.isfinite(bound):
        return None
    return max(0.0, bound - value) / max(abs(value), 1e-9) if bound - value > 1e-9 else 0.0




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
    keys: list[_Limit] = [("budget", key) for key in prob.cost]
    keys += [("capacity", key) for key in prob.demand]
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


def _chosen_options(prob: Problem, selection: Selection) -> npt.NDArray[np.bool_]:
    """Which options the selection took: a project's only option, or the one at its chosen start."""
    starts = {pid: prob.periods.index(label) for pid, label in selection.starts.items()}
    return np.array([prob.start[j] is None or starts.get(prob.ids[int(prob.owner[j])]) == prob.start[j]
                     for j in range(len(prob.owner))], dtype=bool)


def _sums(groups: dict[int, set[int]], least: np.ndarray, n: int) -> np.ndarray:
    rows = [r for r, g in enumerate(groups.values()) for _ in g]
    cols = [j for g in groups.values() for j in g]
    matrix = coo_matrix((np.ones(len(rows)), (np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp))),
                        shape=(len(groups), n)).tocsr()
    return np.asarray(matrix @ least)


def _left_out_reason(prob: Problem, k: int, group: set[int], chosen: set[int], keys: list[_Limit], limits: np.ndarray,
                     alone: np.ndarray, used: np.ndarray, extra: np.ndarray, status: str) -> tuple[str, str]:
    if k in prob.why_out:
        return prob.why_out[k]
    if k in prob.forced_out:
        return "forced out", "left out by the scenario"
    blocked = sorted(j for j in group - {k} if j in prob.forced_out)
    if blocked:
        return "infeasible alone", "needs " + ", ".join(
            f"{prob.ids[j]} ({': '.join(prob.why_out[j]) if j in prob.why_out else 'left out by the scenario'})"
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
        amount: Callable[[float], str] = (lambda v: f"{v:,.0f}") if kind == "budget" else (lambda v: f"{v:g}")
        parts.append(f"no room in {what}, {amount(used[column])} of {amount(limits[column])} used and it needs "
                     f"{amount(extra[column])}{helpers}")
    if not parts:
        parts.append("it fits, but the balance rules or the timing make the selection worth more without it")
    return "not worth it", f"value {prob.value[k]:,.4g}: " + "; ".join(parts)


def _need(key: _Limit, need: float, limit: float) -> str:
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
    every project, with both greedy baselines at each level, all within ``time_limit`` seconds.

    The levels are one family of problems that differ only in the budget rows, so what one level learns
    holds for others: a choice that fits a level fits every larger one (so each level starts from the best
    known choice that fits it, the greedy baselines among them, and the frontier never falls as the budget
    grows), and no choice at a level is worth more than the bound of any larger level (so bounds flow down).
    The largest level is solved first: its budget covers every project, so its optimum is the best without
    a budget, and every level whose budget fits that choice has the same optimum and the same bound. Those
    levels are a plateau (capacity or the rules bind, not money) and are never solved. (A level whose best
    choice merely leaves money unused proves nothing about larger budgets: one more project may fit.)
    The time goes to the other levels, each solved once in budget order, then again, largest gap first,
    until each is within ``gap`` (by its own bound or a larger level's) or the time is spent.

    Each point says ``gap`` (value against ``bound``, the most any choice at that level can be worth),
    ``optimal`` (within ``gap``), ``binds`` (False on the plateau), ``solves`` (solver runs spent on it)."""
    deadline = time.perf_counter() + time_limit
    full = max((prob.cost[k].sum() / prob.budget[k] for k in prob.cost if prob.budget.get(k)), default=1.0)
    factors = [float(max(full, 1.0) * step / points) for step in range(1, points + 1)]
    levels = [scaled(prob, factor) for factor in factors]
    baselines = [(greedy(level, "value"), greedy(level, "value per cost")) for level in levels]
    model = _model(prob) if prob.ids else None
    if not isinstance(model, Model):
        budgets = [sum(level.budget.values()) for level in levels]
        return [_point(level, factor, None, base, budgets) for level, factor, base in zip(levels, factors, baselines)]
    search = _Frontier(model, factors, gap)
    for s in reversed(range(len(levels))):  # each level's LP relaxation: a bound in milliseconds, before any solve
        search.relax(s)
    for level, base in zip(levels, baselines):
        for selection in base:
            search.offer(_options_of(level, selection))
    top = len(levels) - 1
    while True:
        todo = search.open()
        remaining = deadline - time.perf_counter()
        if not todo or remaining < _MIN_SLICE:
            break
        unsolved = [s for s in todo if not search.solves[s]]
        if unsolved:  # the first pass: the largest level, then upwards from the least money
            s = top if top in unsolved else unsolved[0]
            # A solve cut short by its limit starts afresh next time (HiGHS keeps no tree), so a fair share
            # too small to close a level is spent for nothing: each level gets half of what is left and its
            # share of the other half, and a level that closes early leaves its time to the next. The largest
            # level's time is seldom lost: its bound serves every plateau point.
            others = len(unsolved) - 1
            seconds = max(_MIN_SLICE, remaining - others * remaining / (2 * len(unsolved)))
        else:  # again, largest gap first; a solve starts afresh, so it needs more time than the last one had
            again = [s for s in todo if 2 * search.seconds[s] <= remaining] or \
                [s for s in todo if search.seconds[s] < remaining]
            if not again:
                break
            s = max(again, key=search.gap)
            seconds = max(2 * search.seconds[s], remaining / len(todo))
        search.solve(s, min(seconds, remaining))
        _flow_down(search, levels, s)
    budgets = [sum(level.budget.values()) for level in levels]
    return [_point(level, factor, search.result(s), base, budgets)
            for s, (level, factor, base) in enumerate(zip(levels, factors, baselines))]


def _flow_down(search: _Frontier, levels: list[Problem], s: int) -> None:
    """A level's best choice, repaired to fit each smaller budget in turn (projects leave, the rest is refilled
    greedily): a start for levels the time may not reach, better than what fits of the smaller levels' own.
    Offered like any choice, so it counts only where it keeps every row."""
    for t in range(s - 1, -1, -1):
        y = search.incumbent(t + 1)
        if y is None or search.infeasible[t] or search.model.fits(y, search.upper[t]):
            continue
        fixed = repair(levels[t], y)
        if fixed is None:
            break
        search.offer(fixed)


_MIN_SLICE = 0.2  # seconds: less than this and HiGHS hardly gets past its presolve


class _Frontier:
    """The levels of a frontier and what is known about each: the choices found (any of them serves every
    level it fits), each level's own bound, the levels proven infeasible."""

    def __init__(self, model: Model, factors: list[float], gap: float):
        self.model, self.gap_wanted = model, gap
        self.upper = []
        for factor in factors:
            upper = model.upper.copy()
            upper[model.budget_rows] *= factor
            self.upper.append(upper)
        self.found: list[np.ndarray] = []
        self.own_bound = [np.inf] * len(factors)
        self.bound_by = [""] * len(factors)  # what gave each level's own bound
        self.solves = [0] * len(factors)
        self.seconds = [0.0] * len(factors)  # the time the last solve of each level was given
        self.infeasible = [False] * len(factors)
        self.last_status = [""] * len(factors)

    def offer(self, y: np.ndarray | None) -> None:
        if y is not None and any(self.model.fits(y, upper) for upper in self.upper):
            self.found.append(y.astype(bool))

    def incumbent(self, s: int) -> np.ndarray | None:
        fitting = [y for y in self.found if self.model.fits(y, self.upper[s])]
        return max(fitting, key=lambda y: float(self.model.value @ y)) if fitting else None

    def bound(self, s: int) -> float:
        return min(self.own_bound[s:])

    def bound_from(self, s: int) -> int:
        """The level whose own bound is this level's: itself or a larger one (the first of equals)."""
        return s + int(np.argmin(self.own_bound[s:]))

    def gap(self, s: int) -> float:
        y = self.incumbent(s)
        found = _gap(float(self.model.value @ y), self.bound(s)) if y is not None else None
        return np.inf if found is None else found

    def plateau(self, s: int) -> bool:
        """Whether the best choice of the largest level (where money does not bind) fits here too, so this level
        has its value and its bound (the largest level itself is on the plateau)."""
        top = len(self.upper) - 1
        best = self.incumbent(top)
        return s == top or best is not None and self.model.fits(best, self.upper[s])

    def open(self) -> list[int]:
        """The levels worth a solve: not proven infeasible, not on the plateau (but the largest), not yet
        within the gap."""
        top = len(self.upper) - 1
        return [s for s in range(len(self.upper)) if not self.infeasible[s] and (s == top or not self.plateau(s))
                and self.gap(s) > self.gap_wanted]

    def relax(self, s: int) -> None:
        """The level's LP relaxation as its first bound (a level whose relaxation is infeasible is infeasible,
        and so is every smaller one), so a level the time never reaches still has a bound of its own."""
        if self.infeasible[s]:
            return
        bound = _relaxation(self.model, self.upper[s])
        if bound is None:
            for t in range(s + 1):
                self.infeasible[t] = True
        elif bound < self.own_bound[s]:
            self.own_bound[s], self.bound_by[s] = bound, "the LP relaxation"

    def solve(self, s: int, seconds: float) -> None:
        self.solves[s] += 1
        self.seconds[s] = seconds
        result = _milp(self.model, self.upper[s], seconds, self.gap_wanted, self.incumbent(s))
        self.last_status[s] = result.status
        if result.status == "infeasible":
            for t in range(s + 1):  # less money cannot help
                self.infeasible[t] = True
            return
        if result.bound < self.own_bound[s]:
            self.own_bound[s], self.bound_by[s] = result.bound, "HiGHS's dual bound"
        self.offer(result.y)

    def result(self, s: int) -> dict[str, Any] | None:
        y = self.incumbent(s)
        if self.infeasible[s] or y is None:
            return None
        gap = self.gap(s)
        t = self.bound_from(s)
        return {"y": y, "bound": self.bound(s), "gap": None if not np.isfinite(gap) else gap,
                "optimal": gap <= self.gap_wanted, "binds": not self.plateau(s), "solves": self.solves[s],
                "bound_level": t, "bound_by": self.bound_by[t] or "none", "status": self.last_status[s]}


def _options_of(prob: Problem, selection: Selection) -> np.ndarray | None:
    """The options a selection took, as the solver's 0-1 vector (None for an empty or failed selection)."""
    if not selection.selected:
        return None
    chosen = np.isin(prob.owner, [prob.ids.index(pid) for pid in selection.selected])
    return chosen & _chosen_options(prob, selection)


def _point(level: Problem, factor: float, found: dict[str, Any] | None, base: tuple[Selection, Selection],
           budgets: list[float]) -> dict[str, Any]:
    """A frontier point. ``budgets``: every level's budget, to say which level's bound a point has. A point not
    within the gap says why in ``explain``: its value, the bound and where it comes from (the solver's dual
    bound or the LP relaxation, at this budget or a larger one), its solver runs and what binds its choice."""
    point: dict[str, Any] = {"budget": sum(level.budget.values()), "factor": factor}
    if found is None:
        point.update(value=0.0, selected=[], optimal=False, gap=None, bound=None, binds=True, solves=0,
                     status="infeasible", bound_budget=None, bound_by=None, binding=[], explain=None)
    else:
        picked = selection_from(level, found["y"], optimal=found["optimal"], gap=found["gap"], status="")
        limits = binding(level, found["y"])
        point.update(value=picked.value, selected=picked.selected, optimal=found["optimal"], gap=found["gap"],
                     bound=found["bound"], binds=found["binds"], solves=found["solves"],
                     status=("within the gap" if found["optimal"] else "time limit")
                     + ("" if found["binds"] else " (plateau: the optimum without a budget fits)"),
                     bound_budget=budgets[found["bound_level"]], bound_by=found["bound_by"], binding=limits,
                     explain=None if found["optimal"] else _explain(point["budget"], picked.value, found, budgets,
                                                                     limits))
    point.update(greedy_value=base[0].value, greedy_value_per_cost=base[1].value)
    return point


def _explain(budget: float, value: float, found: dict[str, Any], budgets: list[float], limits: list[str]) -> str:
    where = "at this budget" if budgets[found["bound_level"]] == budget else \
        f"at the budget {budgets[found['bound_level']]:,.0f}, valid for every smaller one"
    gap = "unknown" if found["gap"] is None else f"{found['gap']:.2%}"
    runs = "no solver run (the time went to other budgets)" if not found["solves"] else \
        f"{found['solves']} solver run{'s' if found['solves'] > 1 else ''} (the last: {found['status']})"
    return (f"gap {gap}: the best choice found is worth {value:,.1f} and none is worth more than "
            f"{found['bound']:,.1f} ({found['bound_by']} {where}); {runs}; "
            + (f"binding ({len(limits)}): " + "; ".join(limits[:_SAID]) + (f"; {len(limits) - _SAID} more in 'binding'"
                                                                           if len(limits) > _SAID else "")
               if limits else "no single limit leaves no room (the rules and the mix of limits bind)"))


_SAID = 4  # binding limits named in a point's explanation (all of them are in its 'binding')


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
