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

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

from engine.backends import Backend, make_backend
from engine.compile.health import HEALTH_TYPES, PLACEHOLDER, RATINGS, CompiledHealth
from engine.expr.values import display
from engine.health.evm import Figures, Inputs, earned_schedule, earned_value, rollup, rounded
from engine.health.status import ErrorRow, Report, StatusData

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


def health_backend(health: CompiledHealth, name: str) -> Backend:
    """The health rules built for a back end (rete or reference). The caller owns it: the compiled policy is
    shared, as the gates' must-meet back ends are (engine/gates/review.py)."""
    return make_backend(name, SimpleNamespace(  # type: ignore[arg-type]
        rules=health.rules, field_types=HEALTH_TYPES, intake_file=health.file))


def assess(data: StatusData, health: CompiledHealth, backend: Backend, as_of: dt.date | None = None) -> HealthReport:
    """Each project at its latest status date (on or before ``as_of`` when given), rated by ``backend``
    (health_backend(health, "rete") or "reference"). Projects with an error row are listed as errors only."""
    broken = data.projects_in_error
    latest_date = max((r.status_date for series in data.reports.values() for r in series), default=None)
    today = as_of or latest_date
    projects: list[ProjectHealth] = []
    not_reported: list[str] = []
    for project, series in data.reports.items():
        if project in broken:
            continue
        known = [r for r in series if as_of is None or r.status_date <= as_of]
        if not known:
            not_reported.append(project)
            continue
        projects.append(_rated(project, known, health, backend, today))
    rated = {p.project: p for p in projects}
    objectives: dict[str, list[ProjectHealth]] = {}
    for p in projects:
        objectives.setdefault(p.record.get("objective") or "(none)", []).append(p)
    excluded = sorted(broken)
    return HealthReport(as_of, projects, list(data.errors),
                        [_rollup("objective", key, members, health.eac, []) for key, members in sorted(objectives.items())],
                        _rollup("portfolio", "portfolio", list(rated.values()), health.eac, excluded), not_reported,
                        data.empty_rows)


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
    if finish is not None and bac is not None and (not curve or pd > curve[-1][0]):
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


def _rated(project: str, known: list[Report], health: CompiledHealth, backend: Backend,
           today: dt.date | None) -> ProjectHealth:
    latest = known[-1]
    v = latest.values
    figures = earned_value(v["bac"], v["pv"], v["ev"], v["ac"], v["etc"], health.eac)
    schedule, first_day = _schedule(known)
    why = {**figures.why, **schedule.why}
    record: dict[str, Any] = dict.fromkeys(HEALTH_TYPES)
    record.update(figures.decimals())
    record.update(schedule.decimals())
    bac, ev = v["bac"], v["ev"]
    record["percent_complete"] = rounded(ev / bac) if bac else None
    if not bac:
        why["percent_complete"] = "BAC is 0"
    ieac = schedule.get("ieac_t")
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


def _reason(text: str, record: dict[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda m: display(record.get(m[1])), text)


def _rollup(level: str, key: str, members: Iterable[ProjectHealth], variant: str, excluded: list[str]) -> Rollup:
    members = list(members)
    figures = rollup((p.inputs for p in members), variant)
    if excluded:
        note = f"{len(excluded)} project(s) with error rows are not in the sums: {', '.join(excluded)}"
        figures.why["excluded"] = note
    ratings = {r: sum(p.rating == r for p in members) for r in reversed(RATINGS)}
    ratings["unrated"] = sum(p.rating is None for p in members)
    return Rollup(level, key, [p.project for p in members], figures.decimals(), figures.why, ratings, excluded)
