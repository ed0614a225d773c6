"""Names a portfolio file uses for things the policy (or the file itself) defines: periods and roles.

A name is matched like a proposal's field: exactly, else with case and spacing forgiven ("Engineer",
" engineer ", "2027 q1"); anything else is an error with a did-you-mean, never a silent miss. (Project
ids are matched exactly: see unknown_references in conflicts.py.)
Periods that read as calendar spans (2027, 2027-Q1, 2027-H2, 2027-03) also get a hint saying where they fall.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING

from engine.errors import Diagnostic, Location, did_you_mean
from engine.io.profile import field_key as _normal  # the forgiving match that proposal fields get
from engine.portfolio.model import TOTAL

if TYPE_CHECKING:
    from engine.compile.portfolio import Budget, Limits
    from engine.portfolio.model import Portfolio, Project


class Names:
    """The known spellings of one kind of name, and how a written one maps onto them."""

    def __init__(self, known: Iterable[str]):
        self.known = list(dict.fromkeys(known))
        self._exact = set(self.known)
        normal: dict[str, list[str]] = {}
        for name in self.known:
            normal.setdefault(_normal(name), []).append(name)
        # A forgiving match that could mean two known names is no match: only the exact spelling is then safe.
        self._normal = {k: v[0] for k, v in normal.items() if len(v) == 1}

    def __bool__(self) -> bool:
        return bool(self.known)

    def match(self, name: str) -> str | None:
        if name in self._exact:
            return name
        return self._normal.get(_normal(name))

    def listed(self, limit: int = 12) -> str:
        shown = ", ".join(self.known[:limit])
        return shown + (f" ... ({len(self.known)} in all)" if len(self.known) > limit else "")

    def hint(self, name: str, what: str) -> str:
        """Did you mean, else the known names."""
        return did_you_mean(name, self.known) or f"{what}: {self.listed()}"


_YEAR = re.compile(r"^\s*(?:FY)?(\d{4})\s*$", re.I)
_QUARTER = re.compile(r"^\s*(\d{4})\s*[-_ ]?\s*Q([1-4])\s*$", re.I)
_HALF = re.compile(r"^\s*(\d{4})\s*[-_ ]?\s*H([12])\s*$", re.I)
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


def span(label: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day a period label stands for (2027, 2027-Q1, 2027-H2, 2027-03), or None."""
    def months(year: int, first: int, count: int) -> tuple[dt.date, dt.date]:
        end_year, end_month = divmod(first - 1 + count, 12)
        return dt.date(year, first, 1), dt.date(year + end_year, end_month + 1, 1) - dt.timedelta(days=1)
    text = str(label)
    if m := _YEAR.match(text):
        return months(int(m[1]), 1, 12)
    if m := _QUARTER.match(text):
        return months(int(m[1]), 3 * int(m[2]) - 2, 3)
    if m := _HALF.match(text):
        return months(int(m[1]), 6 * int(m[2]) - 5, 6)
    if (m := _MONTH.match(text)) and 1 <= int(m[2]) <= 12:
        return months(int(m[1]), int(m[2]), 1)
    return None


def period_hint(name: str, periods: Names, what: str = "periods") -> str:
    """Where an unknown period falls among the known ones (when both read as calendar spans), else did you mean."""
    mine = span(name)
    spans = [(label, found) for label in periods.known if (found := span(label)) is not None]
    if mine and spans and len(spans) == len(periods.known):  # every known period is a calendar span
        inside = [label for label, s in spans if s[0] <= mine[0] and mine[1] <= s[1]]
        if inside:
            return f"{name.strip()} falls in {inside[0]}: give amounts by the {what} ({periods.listed()})"
        return f"{name.strip()} is outside the {what} ({periods.listed()})"
    return periods.hint(name, what)


def days_by_period(first: dt.date, last: dt.date, periods: list[str]) -> dict[str | None, int] | None:
    """How many days of ``first``..``last`` (both included) fall in each period; None if a label is not a
    calendar span. Days outside every period are under the key None."""
    spans: dict[str, tuple[dt.date, dt.date]] = {}
    for label in periods:
        found = span(label)
        if found is None:
            return None
        spans[label] = found
    out: dict[str | None, int] = {}
    for label, (a, b) in spans.items():
        days = (min(b, last) - max(a, first)).days + 1
        if days > 0:
            out[label] = days
    outside = (last - first).days + 1 - sum(out.values())
    if outside > 0:
        out[None] = outside
    return out


def check_policy_names(portfolio: Portfolio, limits: Limits, budget: Budget) -> list[Diagnostic]:
    """The periods of every project's budget and cost (against ``budget``, the budget in force: see
    check_money_names) and the roles and periods of its demand (against the portfolio policy). Names written
    another way ("Engineer", "2027 q1") are rewritten to the known spelling in place; names nobody knows are
    returned as located diagnostics. pmo conflicts and pmo select both read every name here."""
    problems: list[Diagnostic] = []
    periods = Names(limits.periods or limits.budget)
    roles = Names(sorted(limits.capacity))
    by_role = {role: Names(amounts) for role, amounts in limits.capacity.items()}
    # The common case, every name as the policy writes it, is settled by set inclusion alone.
    role_ok = {role: (periods._exact or names._exact) & names._exact for role, names in by_role.items()}
    for p in portfolio:
        if p.demand and roles and not (roles._exact.issuperset(p.demand) and all(
                role_ok[role].issuperset(amounts) for role, amounts in p.demand.items())):
            p.demand = _demand(portfolio, p, roles, periods, by_role, problems)
    return check_money_names(portfolio, limits, budget) + problems


def check_money_names(portfolio: Portfolio, limits: Limits, budget: Budget) -> list[Diagnostic]:
    """The periods of every project's budget and cost against the budget in force: the policy's (its periods,
    and only those it gives a budget for), or the one given with the portfolio (its own periods). A total
    budget takes money in any period. A project whose budget and cost (once resolved) say two things is refused:
    one of them would silently win."""
    problems: list[Diagnostic] = []
    own = budget.source != "the portfolio policy"
    if TOTAL in budget.amounts:
        periods, limited = Names(()), None
    elif own:
        periods, limited = Names(budget.amounts), None
    else:
        periods, limited = Names(limits.periods or budget.amounts), Names(budget.amounts) or None
    ok = periods._exact & limited._exact if limited else periods._exact
    for p in portfolio:
        for name in ("budget", "cost"):
            mapping: dict[str, float] = getattr(p, name)
            dated = {k: v for k, v in mapping.items() if k != TOTAL}
            if periods and not ok.issuperset(dated):
                resolved = _resolved(dated, periods, problems, partial(portfolio.where_in, p, name, key=True),
                                     f"{name} of {p.id} in", limited, "budget", budget.source,
                                     "policy's periods" if not own else "budget's periods")
                setattr(p, name, {**resolved, **({TOTAL: mapping[TOTAL]} if TOTAL in mapping else {})})
        if p.budget and p.cost and p.budget != p.cost and not (
                set(p.cost) == {TOTAL} and abs(sum(p.budget.values()) - p.cost[TOTAL]) <= 1e-9 * p.cost[TOTAL]):
            problems.append(Diagnostic(
                "bad_project", f"{p.id}: its budget ({_amounts(p.budget)}) and its cost ({_amounts(p.cost)}) disagree: "
                "pmo conflicts would read one and pmo select the other", portfolio.where_in(p, "cost"),
                "give one of them (both mean the money it spends), or the same amounts in both"))
    return problems


def _amounts(money: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:,.0f}" for k, v in money.items())


def _demand(portfolio: Portfolio, p: Project, roles: Names, periods: Names, by_role: dict[str, Names],
            problems: list[Diagnostic]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for written, amounts in p.demand.items():
        role = roles.match(written)
        if role is None:
            problems.append(Diagnostic("unknown_role", f"demand of {p.id} for '{written}': the portfolio policy has "
                                       "no capacity for this role", portfolio.where_in(p, "demand", written, key=True),
                                       roles.hint(written, "roles")))
            continue
        if role in out:
            problems.append(Diagnostic("duplicate_name", f"demand of {p.id} for '{written}': '{role}' is written "
                                       "twice", portfolio.where_in(p, "demand", written, key=True), "write it once"))
            continue
        out[role] = _resolved(amounts, periods or by_role[role], problems,
                              partial(portfolio.where_in, p, "demand", written, key=True),
                              f"demand of {p.id} for {role} in", by_role[role], f"{role} capacity")
    return out


def _resolved(mapping: dict[str, float], names: Names, problems: list[Diagnostic], where: Callable[[str], Location],
              what: str, limited: Names | None, limit: str, whose: str = "the portfolio policy",
              known_as: str = "policy's periods") -> dict[str, float]:
    """``mapping`` with its keys in the known spelling; a key not known (or known but without a limit in
    ``limited``) adds a diagnostic."""
    if all(k in names._exact and (limited is None or k in limited._exact) for k in mapping):
        return mapping  # the common case: every name as the policy writes it
    out: dict[str, float] = {}
    for key, value in mapping.items():
        known = names.match(key)
        if known is None:
            problems.append(Diagnostic("unknown_period", f"{what} '{key}': {whose} has no such period",
                                       where(key), period_hint(key, names, known_as)))
            continue
        if limited is not None and limited.match(known) is None:
            problems.append(Diagnostic("unknown_period", f"{what} '{key}': {whose} gives no {limit} "
                                       "in this period", where(key), f"{limit} is given for {limited.listed()}"))
            continue
        if known in out:
            problems.append(Diagnostic("duplicate_name", f"{what} '{key}': '{known}' is written twice",
                                       where(key), "write each once"))
            continue
        out[known] = value
    return out
