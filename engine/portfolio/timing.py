"""A project's timing as the schedule counts it: its duration from a duration or from start and finish (working
days of the policy's calendar), its finish from start and duration, and a finish and a duration that disagree
refused, located, with both readings. pmo schedule, pmo impact and pmo conflicts all read timing here."""
from __future__ import annotations

import datetime as dt
import math

from engine.compile.portfolio import Calendar, Limits
from engine.errors import Diagnostic
from engine.portfolio.model import UNIT_DAYS, Portfolio, Project, dates_of, shown, times_of


def unit_days(unit: str, calendar: Calendar) -> float:
    """Working days in one duration unit: a week is the calendar's working week, a month 52/12 of them."""
    if calendar.week == 7:
        return float(UNIT_DAYS[unit])
    return {"days": 1.0, "weeks": float(calendar.week), "months": calendar.week * 52 / 12}[unit]


def duration_of(p: Project, unit: str, calendar: Calendar) -> float | None:
    """Its duration in ``unit``: given, else from its start to its finish (the last day of work, included)."""
    if p.duration is not None:
        return p.duration
    dates, times = dates_of(p), times_of(p)
    if dates is not None:
        return _working_days(dates[0], dates[1], calendar) / unit_days(unit, calendar)
    if times is not None:
        return times[1] - times[0]
    return None


def _working_days(first: dt.date, last: dt.date, calendar: Calendar) -> int:
    return calendar.count(first, last + dt.timedelta(days=1))


def _last_day(start: dt.date, duration: float, unit: str, calendar: Calendar) -> dt.date:
    """The last day of work of ``duration`` from ``start``, as pmo schedule counts it (a zero duration: the start)."""
    days = math.ceil(duration * unit_days(unit, calendar) - 1e-9)
    return start if days <= 0 else calendar.day(start, days - 1)


def finish_of(p: Project, unit: str, calendar: Calendar) -> float | dt.date | None:
    """Its finish: given, else from its start and duration (a date: the last day of work)."""
    if p.finish is not None:
        return p.finish
    if p.start is None or p.duration is None:
        return None
    if isinstance(p.start, dt.date):
        return _last_day(p.start, p.duration, unit, calendar)
    return p.start + p.duration


def timing_problems(portfolio: Portfolio, limits: Limits) -> list[Diagnostic]:
    """A project with a start, a finish and a duration that disagree, counted as the schedule counts (one of
    them would silently win: schedule took the duration, conflicts the finish)."""
    unit, calendar = limits.duration_unit, limits.calendar
    every_day = calendar.week == 7 and not calendar.holidays
    words = unit if unit != "days" or every_day else "working days"
    problems = []
    for p in portfolio:
        if p.duration is None or p.finish is None or p.start is None:
            continue
        dates, times = dates_of(p), times_of(p)
        if dates is not None:
            expected: float | dt.date = _last_day(dates[0], p.duration, unit, calendar)
            worked, needed = _working_days(*dates, calendar), math.ceil(p.duration * unit_days(unit, calendar) - 1e-9)
            if (worked == needed) if needed > 0 else dates[1] == dates[0]:  # a finish on a day off after it agrees
                continue
            span = worked / unit_days(unit, calendar)
            ends = f"end on {expected}"
        elif times is not None:
            expected, span = times[0] + p.duration, times[1] - times[0]
            if abs(span - p.duration) <= 1e-9:
                continue
            ends = f"end at {expected:g}"
        else:
            continue
        problems.append(Diagnostic(
            "bad_project", f"{p.id}: finish {shown(p.finish)} and duration {p.duration:g} disagree: {p.duration:g} "
            f"{words} from its start {shown(p.start)} {ends}, but {shown(p.start)} to {shown(p.finish)} is {span:g} "
            f"{words}", portfolio.where_in(p, "duration"),
            f"give one of them, or make them agree: duration: {span:g}, or finish: {shown(expected)}"))
    return problems
