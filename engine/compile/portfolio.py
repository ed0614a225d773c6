"""The portfolio policy, resolved: capacity by role and period, budget by period, tolerances, the working
calendar."""
from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.policy.models import WEEKDAYS, PortfolioPolicy


@dataclass(frozen=True)
class Calendar:
    """Working days (0 is Monday) and holidays. Counting is arithmetic by whole weeks, not a walk over the days,
    so a schedule of thousands of dated projects over years stays cheap."""

    working_days: frozenset[int] = frozenset(range(7))
    holidays: tuple[dt.date, ...] = ()  # sorted, and only those that fall on a working day

    @classmethod
    def of(cls, working_days: frozenset[int], holidays: Iterable[dt.date]) -> Calendar:
        return cls(frozenset(working_days), tuple(sorted({d for d in holidays if d.weekday() in working_days})))

    def works(self, day: dt.date) -> bool:
        return day.weekday() in self.working_days and not self._holiday(day)

    def _holiday(self, day: dt.date) -> bool:
        k = bisect_left(self.holidays, day)
        return k < len(self.holidays) and self.holidays[k] == day

    def count(self, first: dt.date, end: dt.date) -> int:
        """Working days from ``first`` up to, not including, ``end``."""
        n = (end - first).days
        if n <= 0:
            return 0
        weeks, rest = divmod(n, 7)
        start = first.weekday()
        total = weeks * len(self.working_days) + sum((start + i) % 7 in self.working_days for i in range(rest))
        return total - (bisect_left(self.holidays, end) - bisect_left(self.holidays, first))

    def day(self, first: dt.date, n: int) -> dt.date:
        """The working day that has ``n`` working days before it, counting from ``first``."""
        span = 7
        while self.count(first, first + dt.timedelta(days=span)) <= n:
            span *= 2
        low, high = 0, span  # the smallest offset whose day has n + 1 working days up to and including it
        while low < high:
            mid = (low + high) // 2
            if self.count(first, first + dt.timedelta(days=mid + 1)) > n:
                high = mid
            else:
                low = mid + 1
        return first + dt.timedelta(days=low)

    def next_working(self, day: dt.date) -> dt.date:
        return self.day(day, 0)

    @property
    def week(self) -> int:
        return len(self.working_days)


@dataclass(frozen=True)
class Limits:
    periods: list[str] = field(default_factory=list)
    capacity: dict[str, dict[str, float]] = field(default_factory=dict)  # role -> period -> capacity
    budget: dict[str, float] = field(default_factory=dict)  # period -> money
    resource_tolerance: float = 0.0
    budget_tolerance: float = 0.0
    duration_unit: str = "days"
    max_cycles: int = 20
    balance: list[dict[str, Any]] = field(default_factory=list)  # {by, value, min_share, max_share}
    calendar: Calendar = field(default_factory=Calendar)  # none declared: every day is a working day

    def capacity_of(self, role: str, period: str) -> float | None:
        return self.capacity.get(role, {}).get(period)

    def capacity_ceiling(self, role: str, period: str) -> float | None:
        """The most of a role a period may be given: its capacity plus the resource tolerance (None: no capacity)."""
        capacity = self.capacity_of(role, period)
        return None if capacity is None else capacity * (1 + self.resource_tolerance)

    def budget_for(self, own: dict[str, float] | None = None, given: str = "the portfolio file's budget") -> Budget:
        """The budget a portfolio is held to: ``own`` (given with the portfolio: its file's, or the call's, which
        ``given`` names) exactly, else the policy's with the policy's tolerance. pmo conflicts and pmo select both
        read it here, so they agree on whether a set fits."""
        if own is not None:
            return Budget(dict(own), 0.0, given)
        return Budget(dict(self.budget), self.budget_tolerance, "the portfolio policy")


@dataclass(frozen=True)
class Budget:
    """Money by period (or one 'total'), and the share above it that is still fine."""

    amounts: dict[str, float]
    tolerance: float = 0.0
    source: str = "the portfolio policy"  # or the portfolio file's budget, the budget given (--budget)

    def ceiling(self, key: str) -> float | None:
        amount = self.amounts.get(key)
        return None if amount is None else amount * (1 + self.tolerance)

    def ceilings(self) -> dict[str, float]:
        return {key: amount * (1 + self.tolerance) for key, amount in self.amounts.items()}

    @property
    def total(self) -> float:
        return sum(self.amounts.values())


def limits_from(policy: PortfolioPolicy | None) -> Limits:
    if policy is None:
        return Limits()
    periods = list(policy.periods)

    def spread(value: Decimal | dict[str, Decimal] | None) -> dict[str, float]:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items()}
        return {p: float(value) for p in periods}

    return Limits(periods, {role: spread(v) for role, v in policy.capacity.items()}, spread(policy.budget),
                  float(policy.tolerance.resources), float(policy.tolerance.budget), policy.duration_unit,
                  policy.max_cycles, [b.model_dump(mode="json") for b in policy.balance], _calendar(policy))


def _calendar(policy: PortfolioPolicy) -> Calendar:
    if policy.calendar is None:
        return Calendar()
    return Calendar.of(frozenset(WEEKDAYS.index(d) for d in policy.calendar.working_days), policy.calendar.holidays)
