"""Health over time: every project rated at every status date, and the portfolio KPIs the status reports give.

    StatusData --assess at each status date--> HealthSeries (one HealthReport per date, as ``pmo health --as-of``)
        --status_kpis--> portfolio SPI, CPI, share of projects green, benefits realised against plan, by date

At a status date each project is rated on its latest report on or before it (``assess(as_of=date)``), so a
project that stopped reporting (closed, killed) stays in the portfolio's sums at its last figures, exactly as
``pmo health --as-of DATE --by portfolio`` gives them. The grid marks a cell *reported* only where the project
sent a report dated that day.

:func:`status_kpis` computes the KPI tiles of the board report's health page from the status reports alone, for a
policy set without a KPI policy. The declared KPIs (``kind: kpis``, engine/health/kpis.py) replace it where one
is declared: the page takes any list of :class:`Kpi`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from engine.backends import Backend
from engine.compile.health import CompiledHealth
from engine.health.assess import HealthReport, ProjectHealth, SeriesSchedule, _plain, assess
from engine.health.evm import rounded
from engine.health.status import ErrorRow, StatusData


@dataclass
class HealthSeries:
    """One health report per status date (every date any project reported on), oldest first."""

    dates: list[dt.date]
    reports: dict[dt.date, HealthReport]
    projects: list[str]  # every project rated at some date, in the order of their first report
    errors: list[ErrorRow] = field(default_factory=list)  # the input's error rows: their projects are not rated

    @property
    def latest(self) -> HealthReport | None:
        return self.reports[self.dates[-1]] if self.dates else None

    def at(self, project: str, date: dt.date) -> ProjectHealth | None:
        """The project as rated at ``date`` (on its latest report on or before it), or None."""
        report = self.reports.get(date)
        return next((p for p in report.projects if p.project == project), None) if report else None

    def reported(self, project: str, date: dt.date) -> ProjectHealth | None:
        """The project's rating on a report dated ``date`` itself, or None (it sent none that day)."""
        found = self.at(project, date)
        return found if found is not None and found.status_date == date else None


def health_series(data: StatusData, health: CompiledHealth, backend: Backend,
                  until: dt.date | None = None) -> HealthSeries:
    """Every project rated at every status date (up to ``until`` when given)."""
    dates = sorted({r.status_date for series in data.reports.values() for r in series
                    if until is None or r.status_date <= until})
    schedules: dict[str, SeriesSchedule] = {}  # each project's PV curve, built once for every date
    reports = {day: assess(data, health, backend, day, schedules) for day in dates}
    projects: list[str] = []
    for day in dates:
        for p in reports[day].projects:
            if p.project not in projects:
                projects.append(p.project)
    return HealthSeries(dates, reports, projects, list(data.errors))


@dataclass
class Kpi:
    """A KPI tile: its value at each date (None where it cannot be computed, with why), a target and a direction."""

    id: str
    label: str
    unit: str  # index (SPI, CPI) | share (0 to 1)
    values: list[tuple[dt.date, Decimal | None]]
    target: Decimal | None = None
    direction: str = "up"  # up: higher is better (the target is a floor); down: lower is better
    source: str = ""  # where the figure comes from, said on the tile
    why: dict[str, str] = field(default_factory=dict)  # date -> why the value is missing

    @property
    def latest(self) -> Decimal | None:
        return self.values[-1][1] if self.values else None

    def met(self, value: Decimal | None) -> bool | None:
        if value is None or self.target is None:
            return None
        return value >= self.target if self.direction == "up" else value <= self.target

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "unit": self.unit, "target": _plain(self.target),
                "direction": self.direction, "source": self.source, "latest": _plain(self.latest),
                "met": self.met(self.latest),
                "values": [{"date": d.isoformat(), "value": _plain(v)} for d, v in self.values], "why": self.why}


# For a policy set without a KPI policy (kind: kpis): the amber lines of the reference health policy (cost-watch and
# schedule-watch at 0.95, benefits-late at 80% of plan) and two projects in three green.
STATUS_TARGETS = {"spi": Decimal("0.95"), "cpi": Decimal("0.95"), "share_green": Decimal("0.7"),
                  "benefits": Decimal("0.8")}


def status_kpis(series: HealthSeries, targets: dict[str, Decimal] | None = None) -> list[Kpi]:
    """Portfolio SPI and CPI (sums, then ratios), the share of rated projects that are green and benefits
    realised against plan (sums over the projects that plan benefits by then), at each status date."""
    targets = STATUS_TARGETS if targets is None else targets
    spi = Kpi("spi", "Portfolio SPI", "index", [], targets.get("spi"),
              source="EV / PV summed over the portfolio (pmo health --by portfolio)")
    cpi = Kpi("cpi", "Portfolio CPI", "index", [], targets.get("cpi"),
              source="EV / AC summed over the portfolio (pmo health --by portfolio)")
    green = Kpi("share_green", "Projects green", "share", [], targets.get("share_green"),
                source="green projects / rated projects, each at its latest report")
    benefits = Kpi("benefits", "Benefits realised vs plan", "share", [], targets.get("benefits"),
                   source="benefits realised / benefits planned, summed over the projects that plan benefits")
    for day in series.dates:
        report = series.reports[day]
        figures = report.portfolio.figures
        for kpi, name in ((spi, "spi"), (cpi, "cpi")):
            kpi.values.append((day, figures.get(name)))
            if figures.get(name) is None:
                kpi.why[day.isoformat()] = report.portfolio.why.get(name, "not computed")
        rated = [p for p in report.projects if p.rating is not None]
        green.values.append((day, rounded(Fraction(sum(p.rating == "green" for p in rated), len(rated)))
                             if rated else None))
        if not rated:
            green.why[day.isoformat()] = "no project is rated"
        share, why = benefits_share(report.projects)
        benefits.values.append((day, share))
        if why:
            benefits.why[day.isoformat()] = why
    return [spi, cpi, green, benefits]


def benefits_share(projects: Iterable[ProjectHealth]) -> tuple[Decimal | None, str | None]:
    """Benefits realised over benefits planned, summed over the projects that plan any by their status date."""
    planned = realised = Fraction(0)
    for p in projects:
        plan, got = p.record.get("benefits_planned"), p.record.get("benefits_realised")
        if plan:
            planned += Fraction(plan)
            realised += Fraction(got or 0)
    if not planned:
        return None, "no project plans benefits by then"
    return rounded(realised / planned), None
