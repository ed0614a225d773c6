"""Rate each project's health at a status date: earned value, earned schedule, then the health rules.

    StatusData (engine/health/status.py) --figures--> a health record per project (HEALTH_TYPES)
        --rules back end--> fired rules --worst rating wins--> ProjectHealth
    projects' inputs --rollup (sums, then ratios)--> one row per strategic objective and one for the portfolio

Time for earned schedule is in calendar days from the plan's first day: ``planned_start`` when the report
gives one; else the day after the last report whose PV is 0, when one comes before the first with PV above 0;
else the day after the status date one reporting period before the first report with PV above 0 (a calendar
month for monthly reports, else the gap to the next report): that report closes the first period, as in
Lipke's monthly tables. The status date counts as a whole day: at the end of the status date d,
AT = d - first day + 1.
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

from engine.backends import Backend
from engine.compile.health import HEALTH_TYPES, PLACEHOLDER, RATINGS, CompiledHealth
from engine.expr.values import display
from engine.gcpause import no_gc_pauses
from engine.health.evm import (
    Figures,
    Inputs,
    _quotient,
    earned_schedule,
    earned_value,
    earned_value_rounded,
    percent_complete,
    rollup,
    rounded,
)
from engine.health.status import ErrorRow, Report, StatusData, StatusGroups

COLUMNS = ("bac", "pv", "ev", "ac", "sv", "cv", "spi", "cpi", "eac", "etc", "vac", "tcpi", "tcpi_eac",
           "eac_cpi", "eac_remaining", "eac_cpi_spi", "eac_bottom_up", "percent_complete",
           "es", "at", "pd", "sv_t", "spi_t", "ieac_t")


@dataclass(frozen=True)
class FiredRule:
    id: str
    rating: str
    reason: str
    where: str
    escalate_to: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "rating": self.rating, "reason": self.reason, "where": self.where,
                "escalate_to": self.escalate_to}


@dataclass
class ProjectHealth:
    project: str
    status_date: dt.date
    record: dict[str, Any]  # the values the rules saw (HEALTH_TYPES), numbers at 15 significant digits
    why: dict[str, str]  # figure -> why it is missing
    rating: str | None  # red | amber | green, or None: no rule rates it and the policy declares no default
    rules: list[FiredRule]  # every rule that fired, worst first
    reason: str
    escalate_to: list[str]
    eac_variant: str
    inputs: Inputs  # exact, for the roll-ups
    sources: tuple[tuple[str, int | None], ...] = ()

    def to_json(self) -> dict[str, Any]:
        r = self.record
        data: dict[str, Any] = {"project": self.project, "title": r.get("title"), "objective": r.get("objective"),
                                "state": r.get("state"), "status_date": self.status_date.isoformat(),
                                "reports": _plain(r.get("reports"))}
        data.update({name: _plain(r.get(name)) for name in COLUMNS})
        data["forecast_finish"] = _plain(r.get("forecast_finish"))
        data["planned_finish"] = _plain(r.get("planned_finish"))
        for name in ("benefits_planned", "benefits_realised", "benefits_ratio"):
            data[name] = _plain(r.get(name))
        data.update({"eac_variant": self.eac_variant, "rating": self.rating,
                     "rules": [f.to_json() for f in self.rules], "reason": self.reason,
                     "escalate_to": self.escalate_to,
                     "missing": {k: v for k, v in self.why.items() if k in COLUMNS},
                     "source": self.sources[0][0] if self.sources else None,
                     "row": self.sources[0][1] if self.sources else None})
        return data


@dataclass
class Rollup:
    """Sums and ratios of sums for a group of projects (a strategic objective, or the whole portfolio)."""

    level: str  # objective | portfolio
    key: str
    projects: list[str]
    figures: dict[str, Decimal | None]
    why: dict[str, str]
    ratings: dict[str, int]
    excluded: list[str] = field(default_factory=list)  # projects in error: not in the sums

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"level": self.level, self.level: self.key, "projects": len(self.projects)}
        data.update({name: _plain(self.figures.get(name)) for name in COLUMNS[:17]})
        data.update({"ratings": self.ratings, "excluded": self.excluded,
                     "missing": {k: v for k, v in self.why.items() if k in COLUMNS}})
        return data


@dataclass
class HealthReport:
    as_of: dt.date | None
    projects: list[ProjectHealth]
    errors: list[ErrorRow]
    objectives: list[Rollup]
    portfolio: Rollup
    not_reported: list[str]  # projects with no report on or before --as-of
    empty_rows: int = 0  # rows of empty cells skipped in the input


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def assess(data: StatusData | StatusGroups, health: CompiledHealth, backend: Backend, as_of: dt.date | None = None,
           schedules: dict[str, SeriesSchedule] | None = None) -> HealthReport:
    """Each project at its latest status date (on or before ``as_of`` when given), rated by ``backend``
    (health_backend(health, "rete") or "reference"). Projects with an error row are listed as errors only.
    ``data``: the reports in memory, or a group of projects at a time (the history store's, which holds one
    group's reports at once). ``schedules``: a cache of each project's :class:`SeriesSchedule`, for a caller that
    assesses the same data at many dates (the health page, date by date): the same figures, each project's PV
    curve built once."""
    with no_gc_pauses():  # (the group workers fork with it paused: see ingest in engine/tasks/history.py)
        return _assess(data, health, backend, as_of, schedules)


def _assess(data: StatusData | StatusGroups, health: CompiledHealth, backend: Backend, as_of: dt.date | None,
            schedules: dict[str, SeriesSchedule] | None) -> HealthReport:
    if isinstance(data, StatusData):
        latest_date = max((r.status_date for series in data.reports.values() for r in series), default=None)
    else:
        latest_date = data.latest()
    today = as_of or latest_date
    measure = functools.partial(_group_rated, health=health, backend=backend, as_of=as_of, today=today,
                                schedules=schedules)
    projects: list[ProjectHealth] = []
    not_reported: list[str] = []
    broken: set[str] = set()
    errors: list[ErrorRow] = []
    empty_rows = 0
    for part in [measure(data)] if isinstance(data, StatusData) else data.each(measure):
        broken |= part.broken
        errors += part.errors
        empty_rows += part.empty_rows
        projects += part.projects
        not_reported += part.not_reported
    rated = {p.project: p for p in projects}
    objectives: dict[str, list[ProjectHealth]] = {}
    for p in projects:
        objectives.setdefault(p.record.get("objective") or "(none)", []).append(p)
    excluded = sorted(broken)
    return HealthReport(as_of, projects, errors,
                        [_rollup("objective", key, members, health.eac, []) for key, members in sorted(objectives.items())],
                        _rollup("portfolio", "portfolio", list(rated.values()), health.eac, excluded), not_reported,
                        empty_rows)


@dataclass
class _Part:
    """One group's part of a HealthReport (assess joins the parts of the groups, in order)."""

    broken: set[str]
    errors: list[ErrorRow]
    empty_rows: int
    projects: list[ProjectHealth]
    not_reported: list[str]


def _group_rated(group: StatusData, health: CompiledHealth, backend: Backend, as_of: dt.date | None,
                 today: dt.date | None, schedules: dict[str, SeriesSchedule] | None) -> _Part:
    """Each project of one group rated at its latest report on or before ``as_of`` (here, or in a worker process
    that read the group: engine/tasks/forked_status.py)."""
    in_error = group.projects_in_error
    part = _Part(in_error, list(group.errors), group.empty_rows, [], [])
    for project, series in group.reports.items():
        if project in in_error:
            continue
        known = [r for r in series if as_of is None or r.status_date <= as_of]
        if not known:
            part.not_reported.append(project)
            continue
        timed = None
        if schedules is not None:
            schedule = schedules.get(project)
            if schedule is None or schedule.series is not series:
                schedule = schedules[project] = SeriesSchedule(series)
            timed = schedule.at(len(known) - 1)  # known is the first reports of the series (in date order)
        part.projects.append(_rated(project, known, health, backend, today, timed))
    return part


def _time(first_day: dt.date, day: dt.date) -> Fraction:
    """Days of plan from its first day to the end of ``day`` (the day itself counted whole)."""
    return Fraction((day - first_day).days + 1)


def _schedule(known: list[Report]) -> tuple[Figures, dt.date | None]:
    latest = known[-1]
    v = latest.values
    start, finish, bac = v["planned_start"], v["planned_finish"], v["bac"]
    planning = next((k for k, r in enumerate(known) if r.values["pv"]), None)  # the first report with PV > 0
    if start is not None:
        first_day = start
    elif planning is not None and planning > 0:  # the plan starts after the last report that planned nothing
        first_day = known[planning - 1].status_date + dt.timedelta(days=1)
    elif planning is not None and len(known) > planning + 1:
        first_day = _period_before(known[planning].status_date, known[planning + 1].status_date) + \
            dt.timedelta(days=1)
    else:
        why = "earned schedule needs planned_start, or two status reports once PV is above 0" \
            if planning is not None else "nothing is planned yet (PV is 0 in every report) and planned_start is not given"
        out = Figures()
        for name in ("es", "at", "pd", "sv_t", "spi_t", "ieac_t"):
            out.put(name, None, why)
        return out, None
    curve = [(_time(first_day, r.status_date), r.values["pv"]) for r in known]
    curve = [(t, pv) for t, pv in curve if t > 0]  # a report before the plan starts plans nothing
    pd = _time(first_day, finish) if finish is not None else next((t for t, pv in curve if pv == bac), None)
    if pd is not None and pd <= 0:  # a planned finish before the plan's first day: no duration to forecast from
        pd = None
    # the planned finish ends the curve at BAC (not one before the plan's first day: pd is then unknown)
    if finish is not None and bac is not None and pd is not None and (not curve or pd > curve[-1][0]):
        curve.append((pd, bac))
    return earned_schedule(curve, v["ev"], _time(first_day, latest.status_date), pd), first_day


def _month_end(day: dt.date) -> bool:
    return (day + dt.timedelta(days=1)).day == 1


def _period_before(first: dt.date, second: dt.date) -> dt.date:
    """The status date one reporting period before ``first``: a calendar month earlier for monthly reports
    (month ends, or the same day of each month), else as many days earlier as ``second`` is after it."""
    months = (second.year - first.year) * 12 + second.month - first.month
    back = first.replace(day=1) - dt.timedelta(days=1)  # the end of the month before
    if months == 1 and _month_end(first) and _month_end(second):
        return back
    if months == 1 and first.day == second.day and first.day <= back.day:
        return back.replace(day=first.day)
    return first - (second - first)


Rounded = tuple[dict[str, Decimal | None], dict[str, str]]  # figures rounded once, and why each missing one is
Timed = tuple[dict[str, Decimal | None], dict[str, str], dt.date | None, Fraction | None]  # + first day, IEAC(t)


def _evm(v: Any, variant: str) -> Rounded:
    fast = earned_value_rounded(v["bac"], v["pv"], v["ev"], v["ac"], v["etc"], variant)
    if fast is not None:
        return fast
    figures = earned_value(v["bac"], v["pv"], v["ev"], v["ac"], v["etc"], variant)
    return figures.decimals(), figures.why


def _timed(known: list[Report]) -> Timed:
    schedule, first_day = _schedule(known)
    return schedule.decimals(), schedule.why, first_day, schedule.get("ieac_t")


def _rated(project: str, known: list[Report], health: CompiledHealth, backend: Backend,
           today: dt.date | None, timed: Timed | None = None) -> ProjectHealth:
    """``timed``: the earned schedule figures of ``known`` when the caller has them (:class:`SeriesSchedule`)."""
    latest = known[-1]
    v = latest.values
    values, figures_why = _evm(v, health.eac)
    schedule_values, schedule_why, first_day, ieac = timed if timed is not None else _timed(known)
    why = {**figures_why, **schedule_why}
    record: dict[str, Any] = dict.fromkeys(HEALTH_TYPES)
    record.update(values)
    record.update(schedule_values)
    bac, ev = v["bac"], v["ev"]
    record["percent_complete"] = percent_complete(ev, bac)
    if not bac:
        why["percent_complete"] = "BAC is 0"
    record["forecast_finish"] = first_day + dt.timedelta(days=math.ceil(ieac) - 1) \
        if ieac is not None and first_day is not None and ieac < 1_000_000 else None
    for name in ("title", "objective", "state", "note", "planned_start", "planned_finish"):
        record[name] = v[name]
    for name in ("milestones_planned", "milestones_reached", "risks", "issues"):
        record[name] = v[name]
    for name in ("benefits_planned", "benefits_realised"):
        record[name] = rounded(v[name])
    if v["milestones_planned"] is not None and v["milestones_reached"] is not None:
        record["milestones_missed"] = max(v["milestones_planned"] - v["milestones_reached"], Decimal(0))
    if v["benefits_planned"] and v["benefits_realised"] is not None:
        record["benefits_ratio"] = rounded(v["benefits_realised"] / v["benefits_planned"])
    record.update(project=project, status_date=latest.status_date, reports=Decimal(len(known)),
                  tasks=Decimal(latest.tasks),
                  report_age_days=Decimal((today - latest.status_date).days) if today else None)
    fired = [health.rules[i] for i in backend.fire(record)]
    rules = sorted((FiredRule(r.id, r.rating, _reason(r.reason, record), r.where, r.escalate_to) for r in fired),
                   key=lambda f: -RATINGS.index(f.rating))  # stable: policy order within a rating
    if rules:
        rating: str | None = rules[0].rating
        reason = "; ".join(f.reason for f in rules if f.rating == rating)
    elif health.default is not None:
        rating, reason = health.default, f"no rule rates it; the policy's default is {health.default}"
    else:
        rating, reason = None, "no rule rates it, and the health policy declares no default (unrated)"
    escalate = list(dict.fromkeys(f.escalate_to for f in rules if f.escalate_to))
    return ProjectHealth(project, latest.status_date, record, why, rating, rules, reason, escalate, health.eac,
                         Inputs(v["bac"], v["pv"], v["ev"], v["ac"], v["etc"]), latest.rows)


def rate_series(project: str, series: list[Report], health: CompiledHealth, backend: Backend,
                start: int = 0) -> Iterator[ProjectHealth]:
    """The project rated at each of its own status dates from ``series[start]`` on (``series``: its reports in
    date order), each on the reports up to that date, as ``assess(as_of=that date)`` rates it (so the report is
    0 days old). The portfolio history (engine/tasks/history.py) records these ratings as reports arrive."""
    schedule = SeriesSchedule(series)
    for i in range(start, len(series)):
        yield _rated(project, series[:i + 1], health, backend, series[i].status_date, schedule.at(i))


class SeriesSchedule:
    """Earned schedule of one project at each of its status dates, without building the PV curve again for each
    date: the curve at date i is the first points of one curve (the reports from the plan's first day on), so
    its points, and whether PV ever fell along it, are computed once per first day, and ES is found by bisection.
    Gives what ``_schedule(series[:i + 1])`` gives (tests/test_history.py compares them on random series);
    the unusual cases (no plan start known, PV falling, EV beyond the plan, no time passed) go to ``_schedule``
    itself, which says why a figure is missing."""

    def __init__(self, series: list[Report]):
        self.series = series
        self.planning = next((k for k, r in enumerate(series) if r.values["pv"]), None)  # the first with PV > 0
        self.curves: dict[dt.date, tuple[int, list[int], list[Fraction], list[int], list[float] | None]] = {}

    def _first_day(self, i: int) -> dt.date | None:
        series, planning = self.series, self.planning
        start: dt.date | None = series[i].values["planned_start"]  # a date column: a date or missing
        if start is not None:
            return start
        if planning is None or planning > i:
            return None
        if planning > 0:
            return series[planning - 1].status_date + dt.timedelta(days=1)
        if i > planning:
            return _period_before(series[planning].status_date, series[planning + 1].status_date) + \
                dt.timedelta(days=1)
        return None

    def _curve(self, first_day: dt.date) -> tuple[int, list[int], list[Fraction], list[int], list[float] | None]:
        """(index of the first report on the curve, its times in days, its PVs, for each point the number of
        places up to it where PV fell, its PVs as floats: to find EV's place among them quickly, then exactly)."""
        found = self.curves.get(first_day)
        if found is None:
            first = next((j for j, r in enumerate(self.series) if r.status_date >= first_day), len(self.series))
            times = [(r.status_date - first_day).days + 1 for r in self.series[first:]]
            values = [r.values["pv"] for r in self.series[first:]]
            falls, fell = [], 0
            for k, value in enumerate(values):
                fell += not isinstance(value, Fraction) or (k > 0 and value < values[k - 1])  # not a Fraction:
                falls.append(fell)  # an application's Decimal goes to _schedule too
            try:
                near: list[float] | None = [v.numerator / v.denominator if isinstance(v, Fraction) else 0.0
                                            for v in values]
            except OverflowError:  # beyond a float's range: found exactly
                near = None
            found = self.curves[first_day] = (first, times, values, falls, near)
        return found

    def at(self, i: int) -> Timed:
        fast = self._fast(i)
        return fast if fast is not None else _timed(self.series[:i + 1])

    def _fast(self, i: int) -> Timed | None:
        """Times are whole days (ints) here and every figure one exact fraction of integers, rounded once."""
        first_day = self._first_day(i)
        if first_day is None:
            return None
        latest = self.series[i]
        v = latest.values
        finish, bac, ev = v["planned_finish"], v["bac"], v["ev"]
        if not isinstance(ev, Fraction) or not isinstance(bac, Fraction):
            return None
        first, times, values, falls, near = self._curve(first_day)
        count = i + 1 - first  # points of the curve known at date i
        if count > 0 and falls[count - 1]:
            return None  # PV falls between reports: _schedule says so
        if finish is not None:
            pd = (finish - first_day).days + 1
        else:
            pd = next((times[k] for k in range(count) if values[k] == bac), None)
        if pd is None or pd <= 0:
            return None
        extra = finish is not None and (count <= 0 or pd > times[count - 1])
        if extra and count > 0 and _below(bac, values[count - 1]):
            return None  # PV falls to the last point
        last = bac if extra else (values[count - 1] if count > 0 else None)
        if last is None or _below(last, ev):
            return None
        m = _place(values, near, ev, count)
        t1, p1 = (times[m], values[m]) if m < count else (pd, bac)
        t0, p0 = (times[m - 1], values[m - 1]) if m > 0 else (0, Fraction(0))
        at = (latest.status_date - first_day).days + 1
        if not _below(p0, ev):
            es_n, es_d = t0, 1
        else:  # t0 + (t1 - t0) (EV - P0) / (P1 - P0), as one fraction
            en, ed, an, ad, bn, bd = ev.numerator, ev.denominator, p0.numerator, p0.denominator, p1.numerator, \
                p1.denominator
            es_d = ed * (bn * ad - an * bd)
            es_n = t0 * es_d + (t1 - t0) * (en * ad - an * ed) * bd
        if es_n == 0 or at <= 0:
            return None
        q = _quotient
        figures: dict[str, Decimal | None] = {
            "at": q(at, 1), "pd": q(pd, 1), "es": q(es_n, es_d), "sv_t": q(es_n - at * es_d, es_d),
            "spi_t": q(es_n, es_d * at), "ieac_t": q(pd * at * es_d, es_n)}
        return figures, {}, first_day, Fraction(pd * at * es_d, es_n)


def _below(a: Fraction, b: Fraction) -> bool:
    """a < b, on their integers (Fraction's own comparison is several Python calls)."""
    return a.numerator * b.denominator < b.numerator * a.denominator


def _place(values: list[Fraction], near: list[float] | None, ev: Fraction, count: int) -> int:
    """bisect.bisect_left(values, ev, 0, count) (values never fall): found among their floats, then moved right
    to the exact place. Correctly rounded division is monotone, so the floats' place is never right of the exact
    one; it is left of it where values tie as floats (closer than a float's precision): one exact comparison each."""
    if count <= 0:
        return 0
    if near is None:
        return bisect.bisect_left(values, ev, 0, count)
    try:
        m = bisect.bisect_left(near, ev.numerator / ev.denominator, 0, count)
    except OverflowError:  # EV beyond a float's range
        return bisect.bisect_left(values, ev, 0, count)
    while m < count and values[m] < ev:
        m += 1
    return m


def _reason(text: str, record: dict[str, Any]) -> str:
    pieces = _TEMPLATES.get(text)
    if pieces is None:
        if len(_TEMPLATES) >= 1_024:  # a policy's reasons are few; texts of many policies in one process are not
            _TEMPLATES.clear()
        pieces = _TEMPLATES[text] = PLACEHOLDER.split(text)  # text, name, text, ..., text
    out = [pieces[0]]
    for k in range(1, len(pieces), 2):
        out.append(display(record.get(pieces[k])))
        out.append(pieces[k + 1])
    return "".join(out)


_TEMPLATES: dict[str, list[str]] = {}  # a reason's text cut at its placeholders, once per text


class Summed(Protocol):
    """What a roll-up reads of a project: a ProjectHealth, or the KPIs' leaner note of one (engine/health/kpis.py)."""

    @property
    def project(self) -> str: ...

    @property
    def rating(self) -> str | None: ...

    @property
    def inputs(self) -> Inputs: ...


def _rollup(level: str, key: str, members: Iterable[Summed], variant: str, excluded: list[str]) -> Rollup:
    members = list(members)
    figures = rollup((p.inputs for p in members), variant)
    if excluded:
        note = f"{len(excluded)} project(s) with error rows are not in the sums: {', '.join(excluded)}"
        figures.why["excluded"] = note
    ratings = {r: sum(p.rating == r for p in members) for r in reversed(RATINGS)}
    ratings["unrated"] = sum(p.rating is None for p in members)
    return Rollup(level, key, [p.project for p in members], figures.decimals(), figures.why, ratings, excluded)


def health_entries(report: HealthReport, by: str) -> list[dict[str, Any]]:
    """The rows of ``--format json`` (and csv): by project (error rows last), by objective, or the portfolio;
    pmo serve's GET /v1/health answers the same."""
    if by == "portfolio":
        return [report.portfolio.to_json()]
    if by == "objective":
        return [r.to_json() for r in report.objectives]
    return [p.to_json() for p in report.projects] + [
        {**e.to_json(), "rating": "error", "reason": "; ".join(x.message for x in e.errors)} for e in report.errors]
