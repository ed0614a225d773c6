"""The roadmap: critical path method on the project-level network, delivery order, and impact.

Time runs in the policy's duration unit from day 0. A project's given ``start`` is a constraint: it starts
no earlier. When the projects start on dates, day 0 is the earliest of them and the schedule is also given
in calendar dates, counting only the working days of the policy's calendar (every day, when it declares
none); a finish date is the last day of work.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from engine.compile.portfolio import Calendar, Limits
from engine.errors import Diagnostic, InputError, Location, did_you_mean
from engine.portfolio import graph as g
from engine.portfolio.conflicts import unknown_references
from engine.portfolio.model import Portfolio
from engine.portfolio.timing import duration_of, timing_problems, unit_days


@dataclass
class Schedule:
    duration: float
    unit: str
    critical_paths: list[list[str]]
    activities: dict[str, g.Activity]
    order: list[str]  # a delivery order that respects every dependency
    notes: list[str] = field(default_factory=list)
    day_zero: dt.date | None = None  # the portfolio's first working day, when its projects start on dates
    calendar: Calendar = field(default_factory=Calendar)
    unit_days: float = 1.0  # working days in one duration unit

    @property
    def critical_path(self) -> list[str]:
        return self.critical_paths[0] if self.critical_paths else []

    def start_date(self, time: float) -> dt.date | None:
        """The working day on which something starting at ``time`` starts."""
        if self.day_zero is None:
            return None
        return self.calendar.day(self.day_zero, math.floor(time * self.unit_days + 1e-9))

    def finish_date(self, start: float, finish: float) -> dt.date | None:
        """The last working day of work that runs from ``start`` to ``finish``."""
        if self.day_zero is None:
            return None
        if finish - start <= 1e-9:
            return self.start_date(start)
        return self.calendar.day(self.day_zero, max(0, math.ceil(finish * self.unit_days - 1e-9) - 1))

    def dates(self, a: g.Activity) -> dict[str, str]:
        if self.day_zero is None:
            return {}
        return {"start": str(self.start_date(a.es)), "finish": str(self.finish_date(a.es, a.ef)),
                "late_start": str(self.start_date(a.ls)), "late_finish": str(self.finish_date(a.ls, a.lf))}

    def to_json(self) -> dict[str, Any]:
        finish = self.finish_date(0.0, self.duration) if self.activities else None
        return {"duration": self.duration, "unit": self.unit, "critical_path": self.critical_path,
                "critical_paths": self.critical_paths, "order": self.order, "notes": self.notes,
                "day_zero": str(self.day_zero) if self.day_zero else None, "finish": str(finish) if finish else None,
                "activities": {n: {"es": a.es, "ef": a.ef, "ls": a.ls, "lf": a.lf, "float": a.float,
                                   "free_float": a.free_float, **self.dates(a)}
                               for n, a in self.activities.items()}}


@dataclass
class Impact:
    project: str
    action: str  # cancel | delay
    delay: float = 0.0
    affected: dict[str, float] = field(default_factory=dict)  # dependent -> slip of its finish (cancel: 0)
    duration_before: float | None = None
    duration_after: float | None = None
    unit: str = "days"
    reasons: dict[str, str] = field(default_factory=dict)  # cancel: project -> why it goes too ("depends on X")

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "action": self.action, "delay": self.delay, "unit": self.unit,
                "affected": [{"id": k, "slip": v, **({"why": self.reasons[k]} if k in self.reasons else {})}
                             for k, v in self.affected.items()],
                "duration_before": self.duration_before, "duration_after": self.duration_after}


def _starts(portfolio: Portfolio, live: Portfolio, limits: Limits) -> tuple[dict[str, float], dt.date | None]:
    """Each given start as network time (starts no earlier than), and day 0 when the starts are dates."""
    dated = {p.id: p.start for p in live if isinstance(p.start, dt.date)}
    numbers = {p.id: float(p.start) for p in live if p.start is not None and not isinstance(p.start, dt.date)}
    if dated and numbers:
        first = next(iter(numbers))
        raise InputError([Diagnostic("mixed_starts", f"{first} starts at {numbers[first]:g} (network time) but "
                                     f"{next(iter(dated))} starts on a date",
                                     portfolio.where_in(live.projects[first], "start"),
                                     "give every start as a date, or every start as a number")])
    if not dated:
        return numbers, None
    calendar = limits.calendar
    day_zero = calendar.next_working(min(dated.values()))
    per_unit = unit_days(limits.duration_unit, calendar)
    return {k: calendar.count(day_zero, d) / per_unit for k, d in dated.items()}, day_zero


def _unknown_prerequisites(portfolio: Portfolio, live: Portfolio) -> None:
    problems = [Diagnostic("unknown_project", message, where,
                           close or "a schedule cannot leave a prerequisite out: add it, or correct the id")
                for p, _ident, message, close, where in unknown_references(portfolio, (("depends_on", "depends on"),))
                if p.id in live.projects]
    if problems:
        raise InputError(problems)


def _network(portfolio: Portfolio,
             limits: Limits) -> tuple[Portfolio, dict[str, float], g.Graph, dict[str, float], dt.date | None]:
    """The projects that go ahead (not rejected, cancelled or unfunded), their durations, graph, given
    starts (as network time) and day 0."""
    live = Portfolio({k: p for k, p in portfolio.projects.items() if not p.out}, portfolio.source)
    _unknown_prerequisites(portfolio, live)
    problems = timing_problems(portfolio, limits)
    if problems:
        raise InputError(problems)
    given = {p.id: duration_of(p, limits.duration_unit, limits.calendar) for p in live}
    missing = sorted(k for k, d in given.items() if d is None)
    if missing:
        raise InputError([Diagnostic("missing_duration", f"no duration for {', '.join(missing[:10])}"
                                     + (" ..." if len(missing) > 10 else ""), Location(portfolio.source),
                                     "give each project a duration, or a start and a finish")])
    durations = {k: d for k, d in given.items() if d is not None}  # every one: none is missing
    graph = g.build(live)
    if not g.is_acyclic(graph):
        cycles = g.cycles(graph, limit=3)
        shown = "; ".join(" -> ".join(c + c[:1]) for c in cycles.listed)
        raise InputError([Diagnostic("cycle", f"cannot schedule: dependency cycles ({shown})",
                                     Location(portfolio.source), "run 'pmo conflicts' and break the cycles")])
    earliest, day_zero = _starts(portfolio, live, limits)
    return live, durations, graph, earliest, day_zero


def schedule(portfolio: Portfolio, limits: Limits) -> Schedule:
    live, durations, graph, earliest, day_zero = _network(portfolio, limits)
    total, activities = g.critical_path_method(graph, durations, earliest)
    paths = g.critical_paths(graph, activities)
    order = g.delivery_order(graph, {p.id: p.rank for p in live})
    notes = [f"{p.id} depends on {d.id}, which is {portfolio.projects[d.id].status or 'not going ahead'}: "
             "scheduled without it" for p in live for d in p.depends_on
             if d.id in portfolio.projects and d.id not in live.projects]
    return Schedule(total, limits.duration_unit, paths, activities, order, notes, day_zero, limits.calendar,
                    unit_days(limits.duration_unit, limits.calendar))


def impact(portfolio: Portfolio, limits: Limits, cancel: str | None = None,
           delay: tuple[str, float] | None = None) -> Impact:
    target = cancel if cancel is not None else delay[0] if delay else None
    if target is None or target not in portfolio.projects:
        raise InputError([Diagnostic("unknown_project", f"'{target}' is not a project in this portfolio",
                                     Location(portfolio.source), did_you_mean(str(target), portfolio.projects))])
    if cancel is not None:
        # as pmo select has it: its dependents and its 'requires together' partners go too, and theirs
        reasons = g.cancelled_with(g.build(portfolio), portfolio, cancel)
        return Impact(cancel, "cancel", affected={k: 0.0 for k in sorted(reasons)},
                      reasons={k: reasons[k] for k in sorted(reasons)}, unit=limits.duration_unit)
    assert delay is not None
    if not (0 <= delay[1] < float("inf")):
        raise InputError([Diagnostic("bad_delay", f"a delay must be a finite number of {limits.duration_unit} "
                                     f"from 0 up, not {delay[1]:g}", Location(portfolio.source))])
    live, durations, graph, earliest, _day_zero = _network(portfolio, limits)
    if target not in live.projects:
        raise InputError([Diagnostic("unknown_project", f"'{target}' does not go ahead, so it cannot be delayed",
                                     Location(portfolio.source))])
    total, activities = g.critical_path_method(graph, durations, earliest)
    slips = g.slip(graph, activities, durations, target, delay[1])
    after = max((activities[n].ef + slips.get(n, 0.0) for n in activities), default=0.0)
    ordered = dict(sorted(slips.items(), key=lambda kv: (-kv[1], kv[0])))
    return Impact(target, "delay", delay[1], ordered, total, after, limits.duration_unit)
