"""Every conflict a PMO must resolve before it commits to a portfolio.

Each conflict has a kind, the projects and periods involved, and a message a PMO can act on.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.compile.portfolio import Budget, Limits
from engine.errors import Diagnostic, InputError, Location, did_you_mean
from engine.portfolio import graph as g
from engine.portfolio.model import TOTAL, Portfolio, Project
from engine.portfolio.names import Names, check_policy_names
from engine.portfolio.problem import cost_by_period
from engine.portfolio.timing import finish_of, timing_problems, unit_days

KINDS = ("cycle", "unknown_reference", "broken_prerequisite", "priority_inversion", "schedule_violation",
         "exclusion_violation", "inclusion_violation", "over_allocation", "budget_overrun")


@dataclass
class Conflict:
    kind: str
    projects: list[str]
    periods: list[str]
    message: str
    location: str | None = None  # where the file says it, when one place does (an unknown reference)


@dataclass
class ConflictReport:
    conflicts: list[Conflict]
    cycles: list[list[str]]
    cycles_found: int = 0
    cycles_complete: bool = True
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"conflicts": [asdict(c) for c in self.conflicts], "cycles": self.cycles,
                "cycles_found": self.cycles_found, "cycles_complete": self.cycles_complete, "counts": self.counts}


def find_conflicts(portfolio: Portfolio, limits: Limits) -> ConflictReport:
    """Raises InputError, located, for a period or role the portfolio policy does not know: a budget or a
    demand there could be neither checked nor ignored."""
    # A selection file's own budget (by period or in total) and its projects' cost (pmo select reads them) are
    # checked as pmo select checks them: `conflicts FILE --funded selection.json` said "no conflicts" of a funded
    # set over both. Its periods, and those of every budget and cost, are resolved as select resolves them.
    budget = limits.budget_for(portfolio.budget)
    problems = check_policy_names(portfolio, limits, budget) + timing_problems(portfolio, limits)
    if problems:
        raise InputError(problems)
    graph = g.build(portfolio)
    found = g.cycles(graph, limit=limits.max_cycles)
    conflicts: list[Conflict] = []
    for cycle in found.listed:
        conflicts.append(Conflict("cycle", cycle, [], "dependency cycle " + " -> ".join(cycle + cycle[:1])
                                  + " (each is a prerequisite of the next): no order can deliver them"))
    if not found.complete or found.found > len(found.listed):
        more = f"at least {found.found}" if not found.complete else str(found.found)
        conflicts.append(Conflict("cycle", [], [], f"{more} dependency cycles in all ({found.tangled} projects "
                                  f"caught in them); {len(found.listed)} are listed: break those first"))
    conflicts += _references(portfolio)
    conflicts += _prerequisites(portfolio, budget)
    conflicts += _schedule(portfolio, limits)
    conflicts += _pairs(portfolio)
    conflicts += _resources(portfolio, limits)
    conflicts += _budget(portfolio, limits, budget)
    counts = {kind: sum(1 for c in conflicts if c.kind == kind) for kind in KINDS}
    counts["cycle"] = found.found  # every cycle found, not only those listed
    return ConflictReport(conflicts, found.listed, found.found, found.complete, counts)


def _references(portfolio: Portfolio) -> list[Conflict]:
    return [Conflict("unknown_reference", [p.id, ident], [], message + (f"; {close}" if close else ""), str(where))
            for p, ident, message, close, where in unknown_references(portfolio)]


RELATIONS = (("depends_on", "depends on"), ("excludes", "excludes"), ("requires_together", "goes together with"))


def unknown_references(portfolio: Portfolio, relations: tuple[tuple[str, str], ...] = RELATIONS,
                       ) -> Iterator[tuple[Project, str, str, str | None, Location]]:
    """(project, the id it names, a message, a did-you-mean or None, where it is written) for every relation to
    a project that is not in the portfolio."""
    for p in portfolio:
        for name, relation in relations:
            for k, item in enumerate(getattr(p, name)):
                ident = item.id if name == "depends_on" else item
                if ident not in portfolio.projects:
                    yield (p, ident, f"{p.id} {relation} '{ident}', which is not in the portfolio",
                           did_you_mean(ident, portfolio.projects), portfolio.where_in(p, name, k, "id"))


def _funding_line(portfolio: Portfolio, budget: Budget) -> set[str]:
    """Ranked projects that would not be funded: walking down the ranking, those past the total budget."""
    total = budget.total
    if not total:
        return set()
    ranked = sorted((p for p in portfolio if p.rank is not None and not p.out), key=lambda p: (p.rank, p.id))
    below: set[str] = set()
    spent = 0.0
    for p in ranked:
        spent += sum(_spend(p, total=True).values())
        if spent > total * (1 + budget.tolerance) + 1e-9:
            below.add(p.id)
    return below


def _prerequisites(portfolio: Portfolio, budget: Budget) -> list[Conflict]:
    out = []
    below = _funding_line(portfolio, budget)
    for p in portfolio:
        for dep in p.depends_on:
            q = portfolio.projects.get(dep.id)
            if q is None or q.id == p.id:
                continue
            if p.selected and q.out:
                state = q.status or "unfunded"
                out.append(Conflict("broken_prerequisite", [p.id, q.id], [],
                                    f"{p.id} is {p.status or 'going ahead'} but depends on {q.id}, which is {state}"))
            elif (p.rank is not None and not p.out and q.id in below and p.id not in below
                  and (q.rank is None or p.rank < q.rank)):
                out.append(Conflict("priority_inversion", [p.id, q.id], [],
                                    f"{p.id} (rank {p.rank}) is funded but its prerequisite {q.id} (rank {q.rank}) "
                                    "falls below the funding line; fund both or neither"))
    return out


def _schedule(portfolio: Portfolio, limits: Limits) -> list[Conflict]:
    out = []
    unit, calendar = limits.duration_unit, limits.calendar
    per_unit = unit_days(unit, calendar)
    days = "day(s)" if calendar.week == 7 and not calendar.holidays else "working day(s)"
    for p in portfolio:
        if p.out or p.start is None:
            continue
        for dep in p.depends_on:
            q = portfolio.projects.get(dep.id)
            if q is None or q.out or q.id == p.id:
                continue
            finish = finish_of(q, unit, calendar)  # as pmo schedule counts it
            early: float
            if isinstance(finish, dt.date) and isinstance(p.start, dt.date):
                # As pmo schedule counts: a finish date is the last day of work, the next project may start on the
                # working day after it, and a lag is in the duration unit, counted in the calendar's working days
                # (its start date: the working day the lag ends in, as Schedule.start_date rounds it)
                free = finish + dt.timedelta(days=1)
                since = min(free, p.start)
                allowed = math.floor(calendar.count(since, free) + dep.lag * per_unit + 1e-9)
                early = allowed - calendar.count(since, p.start)
                short = f"{early} {days}"
            elif isinstance(finish, (int, float)) and isinstance(p.start, (int, float)):
                early = finish + dep.lag - p.start
                short = f"{early:g} {unit}"
            else:  # no finish, or a date against network time: nothing to compare
                continue
            if early > 0:
                lag = f" plus a lag of {dep.lag:g} {unit}" if dep.lag else ""
                out.append(Conflict("schedule_violation", [p.id, q.id], [],
                                    f"{p.id} starts {p.start} but {q.id} finishes {finish}{lag}: {short} too early"))
    return out


def _pairs(portfolio: Portfolio) -> list[Conflict]:
    out = []
    seen: set[tuple[str, str, str]] = set()
    for p in portfolio:
        for kind, ids in (("exclusion_violation", p.excludes), ("inclusion_violation", p.requires_together)):
            for ident in ids:
                q = portfolio.projects.get(ident)
                first, second = sorted((p.id, ident))
                key = (kind, first, second)
                if q is None or q.id == p.id or key in seen:
                    continue
                seen.add(key)
                if kind == "exclusion_violation" and p.selected and q.selected:
                    out.append(Conflict(kind, sorted([p.id, q.id]), [],
                                        f"{p.id} and {q.id} exclude each other but both are selected; drop one"))
                elif kind == "inclusion_violation" and p.selected != q.selected:
                    yes, no = (p, q) if p.selected else (q, p)
                    out.append(Conflict(kind, [yes.id, no.id], [],
                                        f"{yes.id} and {no.id} go together, but only {yes.id} is selected "
                                        f"({no.id} is {no.status or 'not selected'})"))
    return out


def _resources(portfolio: Portfolio, limits: Limits) -> list[Conflict]:
    load: dict[tuple[str, str], dict[str, float]] = {}
    for p in portfolio:
        if not p.selected:
            continue
        for role, periods in p.demand.items():
            if role not in limits.capacity:
                continue
            for period, amount in periods.items():
                if amount:
                    load.setdefault((role, period), {})[p.id] = amount
    out = []
    for (role, period), parts in sorted(load.items(), key=lambda kv: (_order(limits, kv[0][1]), kv[0][0])):
        capacity, ceiling = limits.capacity_of(role, period), limits.capacity_ceiling(role, period)
        total = sum(parts.values())
        if capacity is None or ceiling is None or total <= ceiling + 1e-9:
            continue
        top = sorted(parts.items(), key=lambda kv: (-kv[1], kv[0]))
        names = ", ".join(f"{pid} {amount:g}" for pid, amount in top[:5]) + (" ..." if len(top) > 5 else "")
        out.append(Conflict("over_allocation", [pid for pid, _ in top], [period],
                            f"{role} in {period}: {total:g} needed, capacity {capacity:g}"
                            f"{f' (+{limits.resource_tolerance:.0%} tolerance)' if limits.resource_tolerance else ''}"
                            f"; from {names}"))
    return out


def _budget(portfolio: Portfolio, limits: Limits, budget: Budget) -> list[Conflict]:
    spend: dict[str, dict[str, float]] = {}
    whole = TOTAL in budget.amounts  # one budget for everything: every project's spend counts against it
    # and, beside it, amounts by period: each period's spend against its own, as pmo select holds a set to both
    periods = Names(k for k in budget.amounts if k != TOTAL)
    problems: list[Diagnostic] = []
    for p in portfolio:
        if p.selected:
            # by the budget's periods as select reads them: a total spread as the file says, or refused (it was
            # left out of the check without a word), a period matched with case and spacing forgiven
            costs = cost_by_period(portfolio, p, periods, problems) if periods else _spend(p, total=whole)
            for period, amount in costs.items():
                for key in ((period,) if period != TOTAL else ()) + ((TOTAL,) if whole else ()):
                    if amount:
                        parts = spend.setdefault(key, {})
                        parts[p.id] = parts.get(p.id, 0.0) + amount
    if problems:
        raise InputError(problems)
    out = []
    tolerance = f" (+{budget.tolerance:.0%} tolerance)" if budget.tolerance else ""
    for period, parts in sorted(spend.items(), key=lambda kv: _order(limits, kv[0])):
        available, ceiling = budget.amounts.get(period), budget.ceiling(period)
        total = sum(parts.values())
        if available is None or ceiling is None or total <= ceiling + 1e-9:
            continue
        top = sorted(parts.items(), key=lambda kv: (-kv[1], kv[0]))
        what = "the total budget" if period == TOTAL else f"budget in {period}"
        out.append(Conflict("budget_overrun", [pid for pid, _ in top], [period],
                            f"{what}: {total:,.0f} planned, {available:,.0f} available{tolerance}; largest: "
                            + ", ".join(f"{pid} {amount:,.0f}" for pid, amount in top[:3])))
    return out


def _spend(p: Project, total: bool = False) -> dict[str, float]:
    """What a project spends by period: its budget, else its cost (a selection file's) when that is by period;
    with ``total``, also a cost given as one total."""
    return p.budget or {period: amount for period, amount in p.cost.items() if total or period != TOTAL}


def _order(limits: Limits, period: str) -> tuple[int, str]:
    return (limits.periods.index(period), period) if period in limits.periods else (len(limits.periods), period)
