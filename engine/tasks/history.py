"""Ingest status report files into the portfolio history (``pmo status ingest``; the library and the HTTP service
call :func:`ingest` too).

Each file is read by the status readers (engine/health/status.py: every format, input profiles), then, in one
transaction of the log (engine/store/history.py), compared with the reports in force: a report whose digest is
the one in force is unchanged; a report for a new project and date is new; a changed report for a known project
and date is a correction (the next revision, in force from now; the earlier one kept). Every project with a new
or corrected report is rated again at each of its own status dates from the earliest that changed (later
ratings rest on the earlier reports: earned schedule reads the whole PV curve), and the ratings and escalations
recorded. A process killed mid-file leaves nothing of that file: the transaction is never committed.

Error rows are reported (row, column, what to do) and none of that project's rows of that file are stored: a
project is never rated from the rows that happened to be readable. Fix the rows and ingest the file again:
the rest is unchanged, the held-back reports are new.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.decision import RowError
from engine.health.status import ErrorRow, Report, read_status
from engine.io.profile import InputProfile
from engine.store.history import (
    Kept,
    Rated,
    chained,
    encoded_values,
    report_digest,
    reports_in_force,
    write_ratings,
    write_reports,
)
from engine.store.log import DecisionLog

if TYPE_CHECKING:
    from engine.api import Engine
    from engine.health.assess import ProjectHealth

FIGURES = ("spi", "cpi", "sv", "cv", "eac", "etc", "vac", "tcpi", "percent_complete", "es", "sv_t", "spi_t",
           "ieac_t", "forecast_finish")  # recorded with each rating, for pmo history
ORIGIN = "0" * 32  # the basis before any report


@dataclass
class FileResult:
    """What one file added to the history."""

    path: str
    new: int = 0
    corrected: int = 0
    unchanged: int = 0
    ratings: int = 0  # ratings recorded (a project rated again at a date with the same basis adds none)
    escalations: int = 0
    rated: int = 0  # (project, status date) pairs rated
    errors: list[ErrorRow] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # projects with error rows: none of their rows stored
    empty_rows: int = 0


@dataclass
class IngestResult:
    files: list[FileResult]

    def _sum(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    @property
    def new(self) -> int:
        return self._sum("new")

    @property
    def corrected(self) -> int:
        return self._sum("corrected")

    @property
    def unchanged(self) -> int:
        return self._sum("unchanged")

    @property
    def rated(self) -> int:
        return self._sum("rated")

    @property
    def errors(self) -> list[ErrorRow]:
        return [e for f in self.files for e in f.errors]

    def summary(self) -> str:
        """e.g. '48 new, 0 unchanged' or '0 new, 48 unchanged, 1 corrected; 1 error row'."""
        text = f"{self.new:,} new, {self.unchanged:,} unchanged"
        if self.corrected:
            text += f", {self.corrected:,} corrected"
        if self.rated:
            text += f"; {self.rated:,} rated ({self._sum('escalations'):,} escalations)"
        errors = self.errors
        if errors:
            held = sorted({p for f in self.files for p in f.held})
            text += (f"; {len(errors):,} error row{'s' if len(errors) != 1 else ''}"
                     + (f" (not stored: {', '.join(held)})" if held else ""))
        return text


def ingest(engine: Engine, log: DecisionLog, paths: Iterable[str | Path], profile: InputProfile | None = None,
           sheet: str | None = None) -> IngestResult:
    """Ingest ``paths`` in order, each file in one transaction. Raises InputError (before anything of that file
    is written) when a file as a whole is unusable; LogError when the log is."""
    from engine.compile.health import DEFAULT_HEALTH
    calendar = (engine.policy.health or DEFAULT_HEALTH).calendar
    seen: dict[tuple[str, dt.date], tuple[str, int | None]] = {}  # across the files of one run, as pmo health
    results = []
    for path in paths:
        data = read_status([path], profile or InputProfile(), sheet, calendar)
        result = FileResult(str(path), errors=list(data.errors), empty_rows=data.empty_rows)
        _duplicates_across_files(data.reports, seen, result)
        held = {e.project for e in result.errors if e.project is not None}
        result.held = sorted(p for p in held if p in data.reports)
        reports = {p: series for p, series in data.reports.items() if p not in held}
        with log.transaction() as db:
            _store(engine, db, reports, result)
        results.append(result)
    return IngestResult(results)


def _duplicates_across_files(reports: dict[str, list[Report]], seen: dict[tuple[str, dt.date], tuple[str, int | None]],
                             result: FileResult) -> None:
    """A report for a project and date an earlier file of this run gave too is an error row (as pmo health
    reads several files together), never a correction of one file by the next."""
    for project, series in reports.items():
        for r in series:
            key = (project, r.status_date)
            first = seen.get(key)
            source, line = r.rows[0] if r.rows else ("<input>", None)
            if first is None:
                seen[key] = (source, line)
                continue
            message = (f"a second row for project {project} at {r.status_date} (first at {first[0]} row {first[1]}); "
                       "one row each, or ingest the corrected file on its own to record a correction")
            result.errors.append(ErrorRow(source, line, project, r.status_date,
                                          (RowError(row=line, column="status_date", code="duplicate_row",
                                                    message=message),)))


def _store(engine: Engine, db: Any, reports: dict[str, list[Report]], result: FileResult) -> None:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stored = reports_in_force(db, reports) if _has_history(db) else {}
    changed: list[tuple[Kept, Kept | None]] = []
    to_rate: list[tuple[str, list[Kept], int]] = []  # (project, its series in force after this file, first changed)
    for project, series in reports.items():
        before = {k.report.status_date: k for k in stored.get(project, ())}
        merged = dict(before)
        first: dt.date | None = None
        for r in series:
            old = before.get(r.status_date)
            values = encoded_values(r)
            digest = report_digest(r, values)
            if old is not None and old.digest == digest:
                result.unchanged += 1
                continue
            kept = Kept(r, old.revision + 1 if old else 1, digest, now, values)
            changed.append((kept, old))
            if old is None:
                result.new += 1
            else:
                result.corrected += 1
            merged[r.status_date] = kept
            first = r.status_date if first is None or r.status_date < first else first
        if first is not None:
            ordered = sorted(merged.values(), key=lambda k: k.report.status_date)
            to_rate.append((project, ordered, next(i for i, k in enumerate(ordered) if k.report.status_date == first)))
    write_reports(db, changed, now)
    rerated = [(project, series[start].report.status_date) for project, series, start in to_rate if project in stored]
    ratings = _ratings(engine, to_rate, result)
    result.ratings, result.escalations = write_ratings(db, ratings, engine.policy_hash, now, rerated)


def _has_history(db: Any) -> bool:
    return bool(db.execute("SELECT 1 FROM status_reports LIMIT 1"))


def _ratings(engine: Engine, to_rate: list[tuple[str, list[Kept], int]], result: FileResult) -> Iterator[Rated]:
    """Each project rated at its own dates from the first that changed; a generator, so the ratings are written
    in batches as they are made (bounded memory)."""
    for project, series, start in to_rate:
        bases = []
        basis = ORIGIN
        for kept in series:
            basis = chained(basis, kept.digest)
            bases.append(basis)
        for i, health in enumerate(engine.rate_series(project, [k.report for k in series], start=start), start):
            result.rated += 1
            yield rated(health, bases[i])


def rated(health: ProjectHealth, basis: str) -> Rated:
    """A rating as the history records it: the rule that set it (the worst that fired), every rule that fired,
    the figures the rules saw, and one escalation per route."""
    rules = health.rules
    top = rules[0] if rules else None
    record = health.record
    figures = {name: _text(record.get(name)) for name in FIGURES if record.get(name) is not None}
    escalations = []
    for route in health.escalate_to:
        by = [f for f in rules if f.escalate_to == route]
        escalations.append((route, ",".join(f.id for f in by), "; ".join(f.reason for f in by)))
    return Rated(health.project, health.status_date, basis, health.rating, top.id if top else None,
                 top.where if top else None, health.reason, [f.to_json() for f in rules], figures, escalations)


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)
