"""The PMO's KPIs (``kind: kpis``, compiled in engine/compile/kpis.py), evaluated period by period over a history.

    History (status reports + decision log entries + a selection result, read-only)
        --prepare(days)--> a Standing per period end: each project rated there, in one pass over the reports
        --records(population, window)--> the records of one population in one period, each with its reference
        --where: / by:--> the records a figure counts, in groups
        --aggregates--> numbers (exact fractions, rounded once) --formula--> the figure, with its trace

A :class:`History` is a small read-only view: it works from status files and a decision log
(``pmo kpi --status FILES --log DB``) and from the history store a group of projects at a time
(``History(StoredStatus(log), ...)``: :class:`StatusGroups`), keeping of each project at each period end only
the fields the KPIs read, so memory follows projects x periods, not the reports. Populations are *stocks* or
*flows*: ``projects`` and ``closed`` are each project as it stood at the period's end (its latest report on or
before it, as ``pmo health --as-of``);
``intake`` and ``gates`` are the decisions made within the period. Every figure carries its trace: the records it
came from (project and status date, with the file and row; or the decision's id in the log) and what each
aggregate read from them, so ``pmo kpi --explain ID`` can show the records behind a figure.
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

from engine.backends import Backend
from engine.compile.health import CompiledHealth
from engine.compile.kpis import Aggregate, CompiledKpi, CompiledKpis
from engine.errors import InputError
from engine.expr.evaluate import evaluate
from engine.expr.nodes import fields_of
from engine.gcpause import no_gc_pauses
from engine.health.assess import HealthReport, ProjectHealth, Rollup, SeriesSchedule, _evm, _plain, _rated, _rollup
from engine.health.evm import Inputs, exact_sum, percent_complete, rounded
from engine.health.status import Report, StatusData, StatusGroups
from engine.health.trend import Kpi

_PERIOD = re.compile(r"^(\d{4})-(?:Q([1-4])|(0[1-9]|1[0-2]))$")
SUBMITTED = ("submitted", "submitted_on", "submission_date", "date_submitted", "received")  # intake rows' columns


# ---------------------------------------------------------------------------------------------------- periods
@dataclass(frozen=True)
class Period:
    """A month (2027-03) or a quarter (2027-Q1): its first and last day."""

    label: str
    start: dt.date
    end: dt.date

    @property
    def quarterly(self) -> bool:
        return "Q" in self.label

    def before(self) -> Period:
        return period_of(self.start - dt.timedelta(days=1), self.quarterly)


def parse_period(text: str) -> Period:
    """``2027-Q1`` or ``2027-03``; raises ValueError with the spelling."""
    m = _PERIOD.match(text.strip())
    if m is None:
        raise ValueError(f"'{text}' is not a period: write a quarter (2027-Q1) or a month (2027-03)")
    year = int(m[1])
    if m[2]:
        first = dt.date(year, 3 * int(m[2]) - 2, 1)
        return period_of(first, True)
    return period_of(dt.date(year, int(m[3]), 1), False)


def period_of(day: dt.date, quarterly: bool) -> Period:
    """The quarter (or month) ``day`` falls in."""
    month = 3 * ((day.month - 1) // 3) + 1 if quarterly else day.month
    start = dt.date(day.year, month, 1)
    months = 3 if quarterly else 1
    after = dt.date(start.year + (start.month + months - 1) // 12, (start.month + months - 1) % 12 + 1, 1)
    label = f"{day.year}-Q{(day.month - 1) // 3 + 1}" if quarterly else f"{day.year}-{day.month:02d}"
    return Period(label, start, after - dt.timedelta(days=1))


def periods_until(last: Period, count: int) -> list[Period]:
    """``count`` periods ending with ``last``, oldest first."""
    out = [last]
    while len(out) < count:
        out.append(out[-1].before())
    return out[::-1]


# ---------------------------------------------------------------------------------------------------- history
@dataclass
class History:
    """What KPIs are computed from, read-only: status reports (rated by the health policy on ``backend``),
    decision log entries (as ``DecisionLog.query()`` gives them) and, optionally, a ``pmo select`` result.
    ``status``: the reports in memory (StatusData) or a group of projects at a time (:class:`StatusGroups`)."""

    status: StatusData | StatusGroups
    health: CompiledHealth
    backend: Backend
    entries: Sequence[dict[str, Any]] = ()
    selection: dict[str, Any] | None = None
    selection_source: str = "selection"
    _standings: dict[dt.date, Standing] = field(default_factory=dict, repr=False)

    def prepare(self, days: Iterable[dt.date], fields: frozenset[str] | None = None) -> None:
        """The portfolio's :class:`Standing` at each of ``days``, in one pass over the reports (a group of
        projects at a time), keeping of each project's record only ``fields`` (None: all of it)."""
        wanted = sorted({d for d in days if not self._has(d, fields)})
        if not wanted:
            return
        tallies = [_Tally(day, fields) for day in wanted]
        broken: set[str] = set()
        measure = functools.partial(group_tallies, days=wanted, fields=fields, health=self.health,
                                    backend=self.backend)
        for in_error, parts in ([measure(self.status)] if isinstance(self.status, StatusData) else
                                self.status.each(measure)):
            broken |= in_error
            for tally, part in zip(tallies, parts):
                tally.extend(part)
        for tally in tallies:
            self._standings[tally.day] = tally.standing(self.health.eac, sorted(broken))

    def adopt(self, reports: dict[dt.date, HealthReport]) -> None:
        """Standings from health reports already rated from ``status`` (a HealthSeries'), not rated again."""
        assert isinstance(self.status, StatusData)
        for day, report in reports.items():
            tally = _Tally(day, None)
            for p in report.projects:
                series = self.status.reports[p.project]
                known = bisect.bisect_right([r.status_date for r in series], day)
                tally.add(p, _Halfway(series, self.health.eac), known)
            self._standings[day] = tally.standing(self.health.eac, [], report.portfolio)

    def standing(self, day: dt.date, fields: frozenset[str] | None = None) -> Standing:
        """Every project at its latest report on or before ``day`` (as ``pmo health --as-of DAY`` rates it), as
        the KPIs read it: computed once for every KPI that reads no more than the fields it kept."""
        self.prepare([day], fields)
        return self._standings[day]

    def _has(self, day: dt.date, fields: frozenset[str] | None) -> bool:
        found = self._standings.get(day)
        return found is not None and (found.fields is None or (fields is not None and fields <= found.fields))

    def latest(self) -> dt.date | None:
        """The latest date anything in the history happened: a status report or a decision."""
        if isinstance(self.status, StatusData):
            reported = max((r.status_date for series in self.status.reports.values() for r in series), default=None)
        else:
            reported = self.status.latest()
        dates = [d for d in (decided_on(e) for e in self.entries) if d is not None]
        return max(dates + ([reported] if reported is not None else []), default=None)

    def decisions(self, kind: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("kind") == kind and (d := decided_on(e)) is not None
                and start <= d <= end]


def group_tallies(group: StatusData, days: list[dt.date], fields: frozenset[str] | None, health: CompiledHealth,
                  backend: Backend) -> tuple[set[str], list[_Tally]]:
    """One group's part of the standings at ``days`` (in order): the projects with error rows, and a tally per
    day of the others. Parts of groups in order, joined, are the standings of the whole (History.prepare); a
    StatusGroups may compute them elsewhere (worker processes: engine/tasks/forked_status.py)."""
    tallies = [_Tally(day, fields) for day in days]
    in_error = group.projects_in_error
    for project, series in group.reports.items():
        if project not in in_error:
            _rate_at(project, series, tallies, health, backend)
    return in_error, tallies


def _rate_at(project: str, series: list[Report], tallies: list[_Tally], health: CompiledHealth,
             backend: Backend) -> None:
    """The project rated at each tally's day (days in order) on its reports up to the day, as assess() rates it:
    the PV curve built once, the report age as of the day."""
    dates = [r.status_date for r in series]
    schedule = SeriesSchedule(series)
    halfway = _Halfway(series, health.eac)
    for tally in tallies:
        known = bisect.bisect_right(dates, tally.day)
        if known:
            tally.add(_rated(project, series[:known], health, backend, tally.day, schedule.at(known - 1)),
                      halfway, known)


class _Halfway:
    """A project's report nearest 50% complete among its first reports (the earlier one of two as near), found
    as the reports known grow, and that report's EAC (the health policy's variant, as assess computes it)."""

    def __init__(self, series: list[Report], variant: str):
        self.series, self.variant = series, variant
        self.seen = 0
        self.best: Report | None = None
        self.percent: Decimal | None = None
        self._key: tuple[Decimal, dt.date] | None = None
        self._eac: tuple[Report, Decimal | None] | None = None

    def upto(self, known: int) -> Report | None:
        while self.seen < known:
            report = self.series[self.seen]
            percent = percent_complete(report.values["ev"], report.values["bac"])
            if percent is not None and (self._key is None or (abs(percent - _HALF), report.status_date) < self._key):
                self.best, self.percent, self._key = report, percent, (abs(percent - _HALF), report.status_date)
            self.seen += 1
        return self.best

    def eac(self) -> Decimal | None:
        assert self.best is not None
        if self._eac is None or self._eac[0] is not self.best:
            self._eac = (self.best, _evm(self.best.values, self.variant)[0].get("eac"))
        return self._eac[1]


_HALF = Decimal("0.5")


class _Tally:
    """One day's standing as it is built, a project at a time: each project's record (only ``fields``), and for
    the closed ones the forecast at their report nearest 50% complete."""

    def __init__(self, day: dt.date, fields: frozenset[str] | None):
        self.day, self.fields = day, fields
        self.projects: list[Record] = []
        self.closed: list[Record] = []
        self.members: list[_Member] = []
        self.read: list[dict[str, Any]] = []  # each project's inputs, for the named measures' trace

    def add(self, p: ProjectHealth, halfway: _Halfway, known: int) -> None:
        """``halfway``: the project's reports, of which the first ``known`` are the ones up to the day."""
        r = p.record
        values = {**r, "rating": p.rating} if self.fields is None else \
            {name: p.rating if name == "rating" else r.get(name) for name in self.fields}
        source, row = p.sources[0] if p.sources else (None, None)
        ref = {"project": p.project, "status_date": p.status_date.isoformat(), "source": source, "row": row}
        self.projects.append(Record(values, ref))
        self.members.append(_Member(p.project, p.rating, p.inputs))
        self.read.append({k: _plain(r.get(k)) for k in ("bac", "pv", "ev", "ac")})
        if (r.get("state") or "").lower() == "closed":
            self.closed.append(_closed_record(p, halfway, known, ref))

    def extend(self, part: _Tally) -> None:
        """The projects of a later group's tally of the same day, after these."""
        self.projects += part.projects
        self.closed += part.closed
        self.members += part.members
        self.read += part.read

    def standing(self, variant: str, excluded: list[str], portfolio: Rollup | None = None) -> Standing:
        return Standing(self.day, self.fields, self.projects, self.closed,
                        portfolio or _rollup("portfolio", "portfolio", self.members, variant, excluded), self.read)


class _Member(NamedTuple):
    """What the portfolio's roll-up reads of a project."""

    project: str
    rating: str | None
    inputs: Inputs


@dataclass
class Standing:
    """The portfolio at the end of a day as the KPIs read it: the projects population's records (each project at
    its latest report on or before the day), the closed projects' records and the portfolio's roll-up."""

    day: dt.date
    fields: frozenset[str] | None  # the fields each project's record kept (None: all)
    projects: list[Record]
    closed: list[Record]
    portfolio: Rollup
    read: list[dict[str, Any]]  # each project's bac, pv, ev and ac as the roll-up summed them
    _trace: list[dict[str, Any]] | None = field(default=None, repr=False)

    def inputs_trace(self) -> list[dict[str, Any]]:
        """Each project in the roll-up with the inputs every roll-up figure is summed from (sums, then ratios)."""
        if self._trace is None:
            self._trace = [{**r.ref, "read": read} for r, read in zip(self.projects, self.read)]
        return self._trace


def decided_on(entry: dict[str, Any]) -> dt.date | None:
    """The date a logged decision was made for: the date today() meant, else the day it was logged (UTC)."""
    for text in (entry.get("as_of"), (entry.get("time") or "")[:10]):
        if not text:
            continue
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            continue
    return None


# ---------------------------------------------------------------------------------------------------- records
@dataclass
class Record:
    values: dict[str, Any]
    ref: dict[str, Any]  # what it is and where it came from: project + status date + file:row, or decision id


def records(history: History, over: str, start: dt.date, end: dt.date,
            fields: frozenset[str] | None = None) -> list[Record]:
    """The records of one population in the window [start, end]: stocks at ``end``, flows within it.
    ``fields``: the projects' fields the caller reads (None: all)."""
    if over == "projects":
        return history.standing(end, fields).projects
    if over == "closed":
        return history.standing(end, fields).closed
    if over in ("intake", "gates"):
        return [_decision_record(e) for e in history.decisions("intake" if over == "intake" else "gate", start, end)]
    return []


def read_fields(kpis: Iterable[CompiledKpi]) -> frozenset[str]:
    """The fields of a project's record the KPIs read: in where:, by: and their aggregates."""
    out: set[str] = set()
    for kpi in kpis:
        if kpi.condition is not None:
            out |= fields_of(kpi.condition)
        if kpi.by is not None:
            out.add(kpi.by)
        for aggregate in kpi.aggregates:
            if aggregate.argument is not None:
                out |= fields_of(aggregate.argument)
    return frozenset(out)


def _closed_record(p: ProjectHealth, halfway: _Halfway, known: int, ref: dict[str, Any]) -> Record:
    """A closed project: its final cost (AC of the closing report) and the EAC of its report nearest 50% complete
    among the ``known`` reports up to the day (its own report only: no need to rate the portfolio at its date)."""
    half = halfway.upto(known)
    r = p.record
    values = {"project": p.project, "title": r.get("title"), "objective": r.get("objective"),
              "state": r.get("state"), "closed_on": p.status_date, "bac": r.get("bac"), "final_cost": r.get("ac"),
              "cpi": r.get("cpi"), "benefits_planned": r.get("benefits_planned"),
              "benefits_realised": r.get("benefits_realised"),
              "eac_at_half": halfway.eac() if half else None,
              "percent_at_half": halfway.percent if half else None,
              "half_date": half.status_date if half else None}
    ref = dict(ref)
    if half is not None:
        half_source, half_row = half.rows[0] if half.rows else (None, None)
        ref["half"] = {"status_date": half.status_date.isoformat(), "source": half_source, "row": half_row}
    return Record(values, ref)


def _decision_record(entry: dict[str, Any]) -> Record:
    row = (entry.get("input") or {}).get("row") if isinstance(entry.get("input"), dict) else None
    decided = decided_on(entry)
    values = {"project": entry.get("project"), "decision": entry.get("outcome"), "decided": decided,
              "submitted": _submitted(row), "override": entry.get("override") is not None,
              "gate": entry.get("gate")}
    ref = {"decision_id": entry.get("key"), "kind": entry.get("kind"), "project": entry.get("project"),
           "decided": decided.isoformat() if decided else None}
    if entry.get("gate"):
        ref["gate"] = entry["gate"]
    return Record(values, ref)


def _submitted(row: Any) -> dt.date | None:
    """The submission date in an intake row: a column named submitted (or submitted_on, submission_date, ...)
    holding an ISO date; None when there is none."""
    if not isinstance(row, dict):
        return None
    for name, value in row.items():
        if str(name).strip().lower().replace(" ", "_") in SUBMITTED and isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip()[:10])
            except ValueError:
                return None
    return None


# ---------------------------------------------------------------------------------------------------- figures
@dataclass
class Figure:
    """One KPI (one group of it) in one period."""

    period: str
    start: dt.date
    end: dt.date
    value: Decimal | None
    why: str | None = None  # why the value is missing
    parts: dict[str, Any] = field(default_factory=dict)  # aggregate or named measure as written -> its value
    trace: list[dict[str, Any]] = field(default_factory=list)  # the records: ref + what each aggregate read

    def to_json(self, trace: bool = True) -> dict[str, Any]:
        data = {"period": self.period, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "value": _plain(self.value), "why": self.why, "parts": {k: _plain(v) for k, v in self.parts.items()}}
        if trace:
            data["trace"] = self.trace
        return data


@dataclass
class KpiResult:
    """A KPI (or one group of a KPI with by:) over the periods, oldest first."""

    kpi: CompiledKpi
    group: str | None
    figures: list[Figure]

    @property
    def key(self) -> str:
        return self.kpi.id if self.group is None else f"{self.kpi.id}[{self.group}]"

    @property
    def current(self) -> Figure:
        return self.figures[-1]

    @property
    def met(self) -> bool | None:
        return self.kpi.met(self.current.value)

    def to_json(self, trace: bool = True) -> dict[str, Any]:
        k = self.kpi
        return {"id": k.id, "group": self.group, "by": k.by, "title": k.title, "over": k.over, "measure": k.measure,
                "where": k.condition_text, "at": k.at, "unit": k.unit, "target": _plain(k.target), "direction": k.direction,
                "value": _plain(self.current.value), "met": self.met, "period": self.current.period,
                "trend": trend_arrow(self), "periods": [f.to_json(trace) for f in self.figures]}


@dataclass
class KpiReport:
    periods: list[Period]
    results: list[KpiResult]

    def to_json(self, trace: bool = True) -> dict[str, Any]:
        return {"period": self.periods[-1].label if self.periods else None,
                "periods": [p.label for p in self.periods], "kpis": [r.to_json(trace) for r in self.results]}


def evaluate_kpis(kpis: CompiledKpis, history: History, periods: Sequence[Period]) -> KpiReport:
    """Every KPI at every period (oldest first); a KPI with by: gives one result per group seen in any period."""
    # The collector paused (the group workers fork with it paused too): the standings and every figure's trace
    # are many objects that live to the end, which each of its passes walked again.
    with no_gc_pauses():
        _prepare(history, kpis.kpis, [p.end for p in periods])
        results = []
        for kpi in kpis.kpis:
            windows = [(p.label, p.start, p.end) for p in periods]
            results.extend(kpi_results(kpi, history, windows))
        return KpiReport(list(periods), results)


def _prepare(history: History, kpis: Iterable[CompiledKpi], days: Sequence[dt.date]) -> None:
    """The standings the KPIs over status reports read, at every day, in one pass over the reports."""
    over_status = [k for k in kpis if k.over in ("projects", "closed") or k.named and k.over != "selection"]
    if over_status:
        history.prepare(days, read_fields(k for k in over_status if k.over == "projects"))


def kpi_results(kpi: CompiledKpi, history: History,
                windows: Sequence[tuple[str, dt.date, dt.date]]) -> list[KpiResult]:
    """The KPI at each window (label, first day, last day)."""
    per_window = [_figures(kpi, history, label, start, end, k == len(windows) - 1)
                  for k, (label, start, end) in enumerate(windows)]
    groups: list[str | None] = list(sorted({g for found in per_window for g in found if g is not None}))
    if kpi.by is None or not groups:  # without by:, or no record to group in any period: one line that says so
        groups = [None]
    out = []
    for group in groups:
        figures = []
        for (label, start, end), found in zip(windows, per_window):
            figure = found.get(group)
            if figure is None and group is None:
                figure = Figure(label, start, end, None, f"no {kpi.over} records in {label}")
            elif figure is None:
                figure = Figure(label, start, end, None, f"no {kpi.over} record with {kpi.by} {group} in {label}")
            figures.append(figure)
        out.append(KpiResult(kpi, group, figures))
    return out


def _figures(kpi: CompiledKpi, history: History, label: str, start: dt.date, end: dt.date,
             last: bool) -> dict[str | None, Figure]:
    """The KPI's figure per group (None: no by:) in one window (``last``: the latest of the windows)."""
    if kpi.over == "selection":
        if not last:
            return {None: Figure(label, start, end, None, "a selection result is not dated: its figure is the "
                                 "latest period's")}
        return {None: _selection_figure(kpi, history, label, start, end)}
    fields = read_fields([kpi]) if kpi.over == "projects" else frozenset()  # closed records are fixed
    chosen = [r for r in records(history, kpi.over, start, end, fields)
              if kpi.condition is None or evaluate(kpi.condition, r.values) is True]
    groups: dict[str | None, list[Record]] = {}
    if kpi.by is None:
        groups[None] = chosen
    else:
        for r in chosen:
            groups.setdefault(r.values.get(kpi.by) or "(none)", []).append(r)
    named = _named(kpi, history, end)
    out = {}
    for group, members in groups.items():
        out[group] = _figure(kpi, members, chosen, named, label, start, end)
    return out


_Named = tuple[Decimal | None, str | None, list[dict[str, Any]]]  # a named measure: value, why missing, trace


def _named(kpi: CompiledKpi, history: History, end: dt.date) -> dict[str, _Named]:
    """Named measures of the projects population: slot -> (value, why missing, trace)."""
    out: dict[str, _Named] = {}
    if not kpi.named:
        return out
    standing = history.standing(end, frozenset())  # the roll-up: whichever fields the records kept
    portfolio = standing.portfolio
    for slot, dotted in kpi.named:
        name = dotted.split(".", 1)[1]
        value = portfolio.figures.get(name)
        why = portfolio.why.get(name, "no project has reported by then") if value is None else None
        out[slot] = (value, why, standing.inputs_trace())
    return out


def _figure(kpi: CompiledKpi, members: list[Record], population: list[Record], named: dict[str, _Named], label: str,
            start: dt.date, end: dt.date) -> Figure:
    slots: dict[str, Any] = {}
    parts: dict[str, Any] = {}
    missing: list[str] = []
    read: list[dict[str, Any]] = [{} for _ in members]
    for aggregate in kpi.aggregates:
        value, why = _aggregate(aggregate, members, population, read)
        slots[aggregate.slot] = value
        parts[aggregate.text] = value
        if value is None:
            missing.append(f"{aggregate.text}: {why}")
    trace = [{**r.ref, "read": seen} for r, seen in zip(members, read)]
    for slot, dotted in kpi.named:
        value, why, refs = named[slot]
        slots[slot] = value
        parts[dotted] = value
        if value is None:
            missing.append(f"{dotted}: {why}")
        if not kpi.aggregates:
            trace = refs
    value = evaluate(kpi.formula, slots)
    why = None
    if value is None:
        why = "; ".join(missing) or "the formula has no value (a division by zero?)"
    return Figure(label, start, end, value, why, parts, trace)


def _aggregate(aggregate: Aggregate, members: list[Record], population: list[Record],
               read: list[dict[str, Any]]) -> tuple[Decimal | None, str | None]:
    """An aggregate's value over the group's records (and, for share_of, the whole population), and why it is
    missing. Records the value is unknown for are named in the trace (read: null) and left out."""
    name, argument = aggregate.function, aggregate.argument
    if argument is None:  # count()
        for seen in read:
            seen["count()"] = True
        return Decimal(len(members)), None
    values = []
    label = aggregate.text[len(name) + 1:-1].strip()  # what it reads: share(rating == "green") -> rating == "green"
    inputs = sorted(fields_of(argument) - {label})  # the fields behind a computed value, so the trace shows them
    for r, seen in zip(members, read):
        v = evaluate(argument, r.values)
        for input_name in inputs:
            seen[input_name] = _plain(r.values.get(input_name))
        seen[label] = _plain(v)
        values.append(v)
    known = [v for v in values if v is not None]
    if name == "count":
        return Decimal(sum(v is True for v in values)), None
    if not known:
        return None, "no record has a value for it" if members else "no records"
    if name == "share":
        return rounded(Fraction(sum(v is True for v in known), len(known))), None
    numbers = [Fraction(v) for v in known]
    if name == "total":
        return rounded(exact_sum(numbers)), None
    if name == "mean":
        return rounded(exact_sum(numbers) / len(numbers)), None
    if name == "median":
        ordered = sorted(numbers)
        middle = len(ordered) // 2
        return rounded(ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2), None
    # share_of: the group's total over the whole population's total
    whole = [evaluate(argument, r.values) for r in population]
    total = exact_sum(Fraction(v) for v in whole if v is not None)
    if not total:
        return None, "the total over every group is 0"
    return rounded(exact_sum(numbers) / total), None


def _selection_figure(kpi: CompiledKpi, history: History, label: str, start: dt.date, end: dt.date) -> Figure:
    """A selection KPI has one figure, in the latest period: the result of pmo select is not dated."""
    data = history.selection
    if data is None:
        return Figure(label, start, end, None, "no selection result given (pmo kpi --selection FILE)")
    measures = selection_measures(data)
    slots = {slot: measures.get(dotted.split(".", 1)[1]) for slot, dotted in kpi.named}
    value = evaluate(kpi.formula, slots)
    parts = {dotted: slots[slot] for slot, dotted in kpi.named}
    missing = [d for d, v in parts.items() if v is None]
    return Figure(label, start, end, value, (f"the selection result has no {', '.join(missing)}" if missing else
                                             "the formula has no value (a division by zero?)") if value is None else None,
                  parts, [{"selection": history.selection_source, "selected": list(data.get("selected") or []),
                           "read": {k: _plain(v) for k, v in parts.items()}}])


def selection_measures(data: dict[str, Any]) -> dict[str, Decimal | None]:
    """selection.value, .cost, .greedy (the better greedy baseline), .greedy_value, .greedy_value_per_cost from a
    ``pmo select --format json`` result."""
    def number(v: Any) -> Decimal | None:
        return rounded(Fraction(str(v))) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    baselines = data.get("baselines") or {}
    by_value = number((baselines.get("greedy by value") or {}).get("value"))
    per_cost = number((baselines.get("greedy by value per cost") or {}).get("value"))
    known = [v for v in (by_value, per_cost) if v is not None]
    return {"value": number(data.get("value")), "cost": number(data.get("cost")),
            "greedy": max(known) if known else None, "greedy_value": by_value, "greedy_value_per_cost": per_cost}


def read_selection(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``pmo select --format json`` result; raises InputError naming the file."""
    import json
    from pathlib import Path

    from engine.errors import Diagnostic
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError([Diagnostic("bad_selection", f"cannot read the selection result {path}: {exc}",
                                     hint="give the JSON output of pmo select --format json")]) from None
    if not isinstance(data, dict) or "value" not in data or "baselines" not in data:
        raise InputError([Diagnostic("bad_selection", f"{path} is not a pmo select result (no value and baselines)",
                                     hint="give the JSON output of pmo select --format json")])
    return data


# ---------------------------------------------------------------------------------------------------- trends, tiles
SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Iterable[Decimal | None]) -> str:
    """The values as block characters, lowest to highest ('·' where a value is missing)."""
    values = list(values)
    known = [v for v in values if v is not None]
    if not known:
        return "·" * len(values)
    low, high = min(known), max(known)
    span = high - low
    return "".join("·" if v is None else SPARKS[0 if not span else int((v - low) / span * (len(SPARKS) - 1))]
                   for v in values)


def trend_arrow(result: KpiResult) -> str | None:
    """up, down or flat from the previous period with a value to this one; None without two values."""
    known = [f.value for f in result.figures if f.value is not None]
    if result.current.value is None or len(known) < 2:
        return None
    before, now = known[-2], known[-1]
    return "flat" if now == before else "up" if now > before else "down"


def tiles(kpis: CompiledKpis, history: History, dates: Sequence[dt.date], *, decisions: bool = False) -> list[Kpi]:
    """The board report's KPI tiles: each declared KPI at each status date, with its target and direction (a KPI
    with by: gives a tile per group). Those over the status reports (projects, closed) always; with ``decisions``
    (the history has a decision log, empty or not) those over its intake and gate decisions; with the history's
    selection those over it. A date's window runs from the day after the status date before it (the first from
    the first day of its month) to the date itself: stocks are as they stood on the date, flows are the decisions
    within the window, so monthly status reports give ``pmo kpi --period YYYY-MM``'s figures month by month."""
    windows = [(d.isoformat(), (dates[k - 1] + dt.timedelta(days=1)) if k else d.replace(day=1), d)
               for k, d in enumerate(dates)]
    shown = {"projects", "closed"} | ({"intake", "gates"} if decisions else set()) \
        | ({"selection"} if history.selection is not None else set())
    _prepare(history, [k for k in kpis.kpis if k.over in shown], dates)
    out = []
    for kpi in kpis.kpis:
        if kpi.over not in shown:
            continue
        for result in kpi_results(kpi, history, windows):
            tile = Kpi(result.key, kpi.title + (f": {result.group}" if result.group else ""), kpi.unit,
                       [(f.end, f.value) for f in result.figures], kpi.target,
                       "up" if kpi.direction == "higher" else "down",
                       source=f"{kpi.measure} over {kpi.over}" + (f" where {kpi.condition_text}" if kpi.condition_text else "")
                       + f" ({kpi.at})")
            tile.why = {f.end.isoformat(): f.why for f in result.figures if f.why}
            out.append(tile)
    return out
