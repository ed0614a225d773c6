"""The selection problem: candidates, their options (start periods), costs, demands and the rules they
must keep, as arrays; and what a selection is. Built once from a portfolio and the portfolio policy;
solved by engine/portfolio/select.py, and by engine/portfolio/greedy.py for the baselines."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.compile.portfolio import Limits
from engine.errors import Diagnostic, InputError, did_you_mean
from engine.portfolio import graph as g
from engine.portfolio.model import TOTAL, Portfolio, Project
from engine.portfolio.names import Names, check_policy_names, days_by_period, period_hint


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
    left_out: list[dict[str, str]] = field(default_factory=list)  # every project not selected: id, reason, detail

    @property
    def total_cost(self) -> float:
        return self.cost[TOTAL] if TOTAL in self.cost else sum(self.cost.values())

    def to_json(self) -> dict[str, Any]:
        return {"selected": self.selected, "value": self.value, "cost": self.total_cost,
                "cost_by_period": self.cost, "optimal": self.optimal, "gap": self.gap, "status": self.status,
                "binding": self.binding, "reasons": self.reasons, "notes": self.notes, "starts": self.starts,
                "left_out": self.left_out}


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
    why_out: dict[int, tuple[str, str]] = field(default_factory=dict)  # forced out: (reason, detail)

    def options_of(self, project: int) -> np.ndarray:
        return np.nonzero(self.owner == project)[0]


def _listed(periods: Any) -> str:
    """The budget's periods as a message names them: 'the budget (2027-Q1, 2027-Q2)', not a Python list."""
    names = [str(period) for period in periods or ()]
    return f"the budget ({', '.join(names)})" if names else "the budget"


def problem(portfolio: Portfolio, limits: Limits, balance: list[Rule] | None = None,
            budget: dict[str, float] | None = None) -> Problem:
    projects = list(portfolio)
    index = {p.id: k for k, p in enumerate(projects)}
    notes: list[str] = []
    own = budget if budget is not None else portfolio.budget
    given = "the budget given" if budget is not None else "the portfolio file's budget"
    held = limits.budget_for(own, given)  # as pmo conflicts reads it: the policy's, with its tolerance, else own
    budget = held.ceilings()
    # Periods in order: those of the budget given by the call, else by the portfolio file (also when the call
    # gives one total), else the policy's.
    def labels(money: dict[str, float] | None) -> list[str]:
        return [k for k in money or {} if k != TOTAL]
    periods = labels(own) or labels(portfolio.budget) or list(limits.periods) or labels(budget)
    position = {label: t for t, label in enumerate(periods)}
    # Options: (project, start index or None, cost by key, demand by (role, period)).
    options: list[tuple[int, int | None, dict[str, float], dict[tuple[str, str], float]]] = []
    length = []
    problems = check_policy_names(portfolio, limits, held)  # every period and role, as pmo conflicts reads them
    by_period = Names(k for k in budget if k != TOTAL)
    window_names = Names(periods)
    for k, p in enumerate(projects):
        if p.window is None:
            needs = {(role, period): amount for role, by in p.demand.items() for period, amount in by.items()}
            options.append((k, None, cost_by_period(portfolio, p, by_period, problems), needs))
            length.append(0)
            continue
        first, last = (position.get(window_names.match(label) or "") for label in p.window)
        if first is None or last is None or first > last:
            problems.append(Diagnostic("bad_window", f"{p.id}: window [{', '.join(map(str, p.window))}] must name two "
                                       f"periods of {_listed(periods)}, the earliest first", portfolio.where_in(p, "window"),
                                       next((period_hint(label, window_names, "periods") for label in p.window
                                             if window_names.match(label) is None), None)))
            length.append(0)
            continue
        span = max(len(p.cost_profile), *(len(v) for v in p.demand_profile.values())) if p.demand_profile else \
            len(p.cost_profile)
        length.append(span)
        for t in range(first, last + 1):
            if t + span > len(periods):
                break  # it would run past the last period
            costs = {periods[t + j]: amount for j, amount in enumerate(p.cost_profile)}
            needs = {(role, periods[t + j]): amount for role, by in p.demand_profile.items()
                     for j, amount in enumerate(by)}
            options.append((k, t, costs, needs))
        if not any(o[0] == k for o in options):
            problems.append(Diagnostic("bad_window", f"{p.id}: no start in its window leaves room for its {span} "
                                       "periods", portfolio.where_in(p, "window"),
                                       f"the last period is {periods[-1]}" if periods else None))
    owner = np.array([o[0] for o in options], dtype=int)
    starts = [o[1] for o in options]
    keys = sorted({key for o in options for key in o[2]} | set(budget), key=lambda key: (key != TOTAL, key))
    # Each cost is now by the budget's periods (totals spread, or refused above), or the budget is one total.
    cost = {key: np.array([o[2].get(key, 0.0) for o in options]) for key in keys if key != TOTAL and key in budget}
    if TOTAL in budget:  # one budget for everything (also when it stands beside budgets by period)
        cost[TOTAL] = np.array([sum(o[2].values()) for o in options])
    value = np.array([p.value if p.value is not None else 1.0 for p in projects], dtype=float)
    if any(p.value is None for p in projects):
        notes.append("projects without a value (or score) count 1 each")
    free = [p.id for p in projects if not (p.cost or p.budget or p.cost_profile or p.out or p.force == "out")]
    if free:  # chosen at no cost against every budget: said, so that a blank cost cell is not funded unseen
        notes.append(f"projects without a cost ({', '.join(free)}) cost nothing against the budget; give each its "
                     "cost (0 if it is free)")
    demand: dict[tuple[str, str], np.ndarray] = {}
    capacity: dict[tuple[str, str], float] = {}  # with the tolerance, for each key of demand (in its order)
    for j, (k, placed, _c, needs) in enumerate(options):
        for key, amount in needs.items():
            if not amount:
                continue
            limit = limits.capacity_ceiling(*key)
            if limit is None:  # a window placed demand where the policy has no capacity
                if limits.capacity and placed is not None:
                    problems.append(Diagnostic(
                        "unknown_period", f"demand of {projects[k].id} for {key[0]} in '{key[1]}' (its window): the "
                        "portfolio policy gives no capacity there", portfolio.where_in(projects[k], "demand"),
                        f"{key[0]} capacity is given for {', '.join(limits.capacity.get(key[0], {})) or 'no period'}"))
                continue
            demand.setdefault(key, np.zeros(len(options)))[j] = amount
            capacity.setdefault(key, limit)
    if problems:
        raise InputError(problems)
    allowed = [f"budget +{held.tolerance:.0%}" if held.tolerance and budget else "",
               f"capacity +{limits.resource_tolerance:.0%}" if limits.resource_tolerance and demand else ""]
    if any(allowed):  # the limits below (binding, no room, against a budget of) are the amounts plus the tolerance
        notes.append("the portfolio policy's tolerance is allowed (" + ", ".join(a for a in allowed if a)
                     + "): the limits shown include it")
    forced_in, forced_out = set(), set()
    depends, excludes, together = [], [], []
    why_out: dict[int, tuple[str, str]] = {}
    for k, p in enumerate(projects):
        if p.force == "in":
            forced_in.add(k)
        if p.force == "out" or p.out:
            forced_out.add(k)
            why_out[k] = _why_out(p)
        for dep in p.depends_on:
            if dep.id in index:
                depends.append((k, index[dep.id]))
            else:  # it cannot be chosen without its prerequisite: said in the left-out list, with a did-you-mean
                forced_out.add(k)
                why_out.setdefault(k, ("infeasible alone", _unknown(p.id, "depends on", dep.id, index)))
        for other in p.requires_together:
            if other not in index:
                forced_out.add(k)
                why_out.setdefault(k, ("infeasible alone", _unknown(p.id, "goes together with", other, index)))
        notes += [_unknown(p.id, "excludes", o, index) + ": nothing to exclude" for o in p.excludes if o not in index]
        excludes += [(k, index[o]) for o in p.excludes if o in index and index[o] != k]
        together += [(k, index[o]) for o in p.requires_together if o in index and index[o] != k]
    # Projects on a dependency cycle: each needs another finished first, so no order delivers them (the MILP's
    # constraints would let them all in together, as "optimal")
    for ident, members in g.on_cycles(g.build(portfolio)).items():
        k = index[ident]
        forced_out.add(k)
        why_out.setdefault(k, ("infeasible alone", f"on the dependency cycle {' -> '.join(members + members[:1])}, which "
                               "no order can deliver; break it (pmo conflicts lists the cycles)"))
    for rule in balance or []:  # a value no project has: a typo (Safety for safety) or a floor nothing can meet
        present = sorted({str(v) for p in projects if (v := getattr(p, rule.by, None)) is not None})
        if rule.value not in present:
            hint = next((v for v in present if v.casefold() == rule.value.casefold()), None)
            close = f"did you mean '{hint}'?" if hint else did_you_mean(rule.value, present)
            if close or rule.min_share:
                problems.append(Diagnostic(
                    "bad_selection_input", f"balance rule on {rule.by} '{rule.value}': no project has that {rule.by}"
                    + ("" if close else f", so its minimum share ({rule.min_share:g}) leaves only an empty selection"),
                    None, close or f"the {rule.by} values of the projects: {', '.join(present) or 'none'}"))
    if problems:
        raise InputError(problems)
    rules = [(rule, np.array([1.0 if getattr(p, rule.by, None) == rule.value else 0.0 for p in projects]))
             for rule in balance or []]
    total = np.array([sum(o[2].values()) for o in options], dtype=float)
    return Problem([p.id for p in projects], value, owner, starts, length, periods, cost,
                   total, budget, demand, capacity, depends, excludes, together, forced_in,
                   forced_out, rules, notes, why_out)


def _why_out(p: Project) -> tuple[str, str]:
    if p.rejected_at_intake:
        return "rejected at intake", p.rejected_at_intake
    if p.force == "out":
        return "forced out", "force: out"
    return "forced out", f"status: {p.status}" if p.status else "funded: no"


def _unknown(pid: str, relation: str, other: str, index: dict[str, int]) -> str:
    close = did_you_mean(other, index)
    return f"{relation} '{other}', which is not in the portfolio" + (f"; {close}" if close else "")


def cost_by_period(portfolio: Portfolio, p: Project, periods: Names, problems: list[Diagnostic]) -> dict[str, float]:
    """A project's cost (else its budget) by the budget's ``periods`` (its keys but 'total'), or as written when the
    budget is one total (no periods). A total against a budget by period is spread as the file says, or refused; a
    period the budget does not have is refused (``problems``, located). pmo select and pmo conflicts both read a
    project's money here."""
    written, name = (p.cost, "cost") if p.cost else (p.budget, "budget")
    if not periods or not written:
        return dict(written)
    out: dict[str, float] = {}
    seen: dict[str, str] = {}  # a period of the budget -> the key it was written as
    for key, amount in written.items():
        if key == TOTAL:
            for period, part in spread_total(portfolio, p, amount, periods, name, problems).items():
                out[period] = out.get(period, 0.0) + part
            continue
        known = periods.match(key)
        if known is None:
            problems.append(Diagnostic("unknown_period", f"{name} of {p.id} in '{key}': the budget has no such period",
                                       portfolio.where_in(p, name, key, key=True),
                                       period_hint(key, periods, "budget's periods")))
            continue
        if known in out and known in seen:  # 2027-Q1 and '2027 q1': one period written twice (conflicts refuses it)
            problems.append(Diagnostic("duplicate_name", f"{name} of {p.id} in '{key}': '{seen[known]}' is written "
                                       "twice", portfolio.where_in(p, name, key, key=True), "keep one"))
            continue
        seen[known] = key
        out[known] = out.get(known, 0.0) + amount
    return out


def spread_total(portfolio: Portfolio, p: Project, total: float, periods: Names, name: str,
                 problems: list[Diagnostic]) -> dict[str, float]:
    """A project's ``name`` (cost or budget) given as one ``total`` against a budget by ``periods``: spread as the
    project or the file says (spread: even or window), else a located total_cost error in ``problems`` (and {}).
    pmo select and pmo conflicts both spread totals here."""
    how = p.spread or portfolio.spread
    where = portfolio.where_in(p, name)
    if how is None:
        problems.append(Diagnostic(
            "total_cost", f"{p.id}: {name} {total:,.0f} is a total, but the budget is by period ({periods.listed()})",
            where, f"give it by period ({{{periods.known[0]}: ..., ...}}), or say how to spread it: 'spread: even' "
            "(evenly over the budget's periods) or 'spread: window' (by its days in each period, from its start to its "
            "finish), on the project or for the whole file"))
        return {}
    if how == "even":
        return {period: total / len(periods.known) for period in periods.known}
    if not (isinstance(p.start, dt.date) and isinstance(p.finish, dt.date)):
        problems.append(Diagnostic("bad_spread", f"{p.id}: spread: window needs its start and finish dates", where,
                                   "give start and finish as dates (2027-07-01), or use spread: even"))
        return {}
    found = days_by_period(p.start, p.finish, periods.known)
    days = {period: n for period, n in (found or {}).items() if period is not None}
    if found is None or None in found:
        problems.append(Diagnostic(
            "bad_spread", f"{p.id}: spread: window, but {p.start} to {p.finish} "
            + ("runs outside the budget's periods" if found else "cannot be placed on periods that are not dates")
            + f" ({periods.listed()})", where, "give the cost by period"))
        return {}
    whole = sum(days.values())
    return {period: total * n / whole for period, n in days.items()}


def rules_from(items: list[dict[str, Any]]) -> list[Rule]:
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
    starts = {prob.ids[int(prob.owner[j])]: prob.periods[start] for j in np.nonzero(y)[0]
              if (start := prob.start[j]) is not None}
    return Selection([prob.ids[k] for k in picked], float(prob.value[picked].sum()), cost, optimal, gap, status,
                     notes=list(prob.notes), starts=starts)


def infeasible(prob: Problem, reasons: list[str]) -> Selection:
    return Selection([], 0.0, {}, False, None, "infeasible", reasons=reasons, notes=list(prob.notes))


def needs_of(prob: Problem) -> dict[int, set[int]]:
    """Each project's prerequisites and 'goes together' partners (one step)."""
    needs: dict[int, set[int]] = {}
    for i, j in prob.depends:
        needs.setdefault(i, set()).add(j)
    for i, j in prob.together:
        needs.setdefault(i, set()).add(j)
        needs.setdefault(j, set()).add(i)
    return needs


def closure(prob: Problem, start: set[int], needs: dict[int, set[int]] | None = None) -> set[int]:
    """The projects, plus every prerequisite and every 'goes together' partner, transitively (``needs``:
    needs_of(prob), when the caller asks many times)."""
    needs = needs_of(prob) if needs is None else needs
    out, todo = set(start), list(start)
    while todo:
        for j in needs.get(todo.pop(), ()):
            if j not in out:
                out.add(j)
                todo.append(j)
    return out


def cheapest(prob: Problem, k: int, array: np.ndarray) -> float:
    return float(min(array[o] for o in prob.options_of(k)))
