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
import itertools
import os
import pickle
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.compile.records import RecordReader
from engine.decision import RowError
from engine.gcpause import no_gc_pauses
from engine.health.status import (
    CHUNK,
    STATUS_FIELDS,
    ErrorRow,
    Report,
    StatusData,
    falls,
    group_reports,
    header_problems,
    same_titles,
    status_reader,
    typed_chunk,
)
from engine.io.profile import InputProfile
from engine.io.readers import read_proposals, renamed
from engine.io.rows import Row
from engine.store.history import (
    Kept,
    Rated,
    _batches,
    chained,
    encoded_values,
    escalation_rows,
    insert_report_rows,
    rating_row,
    report_digest,
    report_rows,
    reports_in_force,
    write_rating_rows,
    write_reports,
)
from engine.store.log import DecisionLog, _storable
from engine.tasks.processes import can_fork, cores, die_with

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

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
    warnings: list[str] = field(default_factory=list)  # about the file's columns and figures
    new_projects: list[str] = field(default_factory=list)  # projects the history had no report of
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
                     + (f" ({', '.join(held)}: nothing stored from the file with the error rows)" if held else ""))
        return text


def ingest(engine: Engine, log: DecisionLog, paths: Iterable[str | Path], profile: InputProfile | None = None,
           sheet: str | None = None, *, group: int | None = None, workers: int | None = None) -> IngestResult:
    """Ingest ``paths`` in order, each file in one transaction. Raises InputError (nothing of that file is
    written) when a file as a whole is unusable; LogError when the log is.

    Memory is bounded by ``group`` projects (GROUP), not by the file: each row is staged as it is read (its
    cells, by the group of its project's id) in a temporary table inside the file's transaction; then the
    projects are taken ``group`` at a time (in the order they were first reported), their rows typed, grouped
    into reports (duplicates found, task rows summed), compared with the reports in force, rated and written.
    Every decision about a report is within its project, so this gives what reading the whole file at once
    gives (tests/test_history_ingest.py compares them); the error rows are merged back in input order.

    ``workers``: processes (forked from this one, so they type and rate with ``engine`` as it is) that type,
    group and digest the groups, and rate them, while this one reads, compares and writes; into a history with
    no report yet (one file), a group is rated where it was typed. Everything is written here, in group order,
    so the history is byte for byte what one process writes. None: one per core for a file of
    RATE_IN_PARALLEL_FROM rows or more where processes fork (Linux), else 1."""
    # The collector paused (the rating workers fork with it paused too): a file's rows, reports and ratings are
    # millions of short-lived objects with no cycle among them, and each of its passes walked the engine's
    # long-lived heap (a third of the ingest's CPU at 36,000 rows).
    with no_gc_pauses():
        return _ingest(engine, log, list(paths), profile, sheet, group, workers)


def _ingest(engine: Engine, log: DecisionLog, paths: list[str | Path], profile: InputProfile | None,
            sheet: str | None, group: int | None, workers: int | None) -> IngestResult:
    from engine.compile.health import DEFAULT_HEALTH
    calendar = (engine.policy.health or DEFAULT_HEALTH).calendar
    across = len(paths) > 1  # a report a file gives that an earlier file of this run gave is an error row
    results = []
    if across:
        with log._using("write to") as db:
            _create(db, SEEN, SEEN_COLUMNS)
    for path in paths:
        rows = read_proposals(path, sheet)
        with log.transaction() as db:
            results.append(_ingest_file(engine, db, rows, str(path), profile or InputProfile(), calendar, across,
                                        group or GROUP, workers))
    if across:
        with log._using("write to") as db:
            db.execute(f"DROP TABLE {SEEN}")
    return IngestResult(results)


GROUP = 100  # projects grouped, rated and written at a time (small: the workers take groups in turn)
STAGE_ROWS = 20_000  # rows held before they go to the stage (bounded memory, few large pickles)
STAGE = "pmo_ingest_rows"  # temporary: the rows of the file being ingested, as read, by group of projects
SEEN = "pmo_ingest_seen"  # temporary: the (project, status date) pairs earlier files of this run gave
STAGE_COLUMNS = ("grp {int} NOT NULL", "seq {int} NOT NULL", "cells {blob} NOT NULL")
SEEN_COLUMNS = ("project TEXT NOT NULL", "typed {blob} NOT NULL")
_PROJECT = {"project": STATUS_FIELDS["project"]}  # a reader of the project's id alone: each row's group


def _create(db: Any, table: str, columns: tuple[str, ...]) -> None:
    """A temporary table (gone with the connection; one left by a run that failed is replaced)."""
    kinds = {"int": "BIGINT", "blob": "BYTEA"} if db.name == "postgresql" else {"int": "INTEGER", "blob": "BLOB"}
    db.execute(f"DROP TABLE IF EXISTS {table}")
    db.execute(f"CREATE TEMPORARY TABLE {table} ({', '.join(c.format(**kinds) for c in columns)})")


StagedRow = tuple[int, int | None, str | None, Any]  # (seq: the row's place in the file, its line, file, raw cells)


class _Stage:
    """The rows of a file as read (their cells, texts from a CSV file: they pickle fast), kept by group of
    projects (``group`` projects a group, in the order they were first reported) in the stage table: rows are
    held until STAGE_ROWS, then each group's go in as one pickle, so memory stays bounded and a group is read
    back in a few large pieces, in input order. Each group is typed where it is prepared (a worker process)."""

    def __init__(self, db: Any, group: int):
        self.db, self.group = db, group
        self.group_of: dict[str, int] = {}  # project -> its group
        self.held: dict[int, list[StagedRow]] = {}
        self.count = 0  # rows held
        self.rows_in = 0  # rows staged in all
        _create(db, STAGE, STAGE_COLUMNS)

    def add(self, seq: int, row: Row, project: str) -> None:
        group = self.group_of.get(project)
        if group is None:
            group = self.group_of[project] = len(self.group_of) // self.group
        self.held.setdefault(group, []).append((seq, row.row, row.source, row.data))
        self.count += 1
        self.rows_in += 1
        if self.count >= STAGE_ROWS:
            self.flush()

    def flush(self) -> None:
        pieces = [(group, rows[0][0], pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)) for group, rows in self.held.items()]
        if pieces:
            self.db.executemany(f"INSERT INTO {STAGE} (grp, seq, cells) VALUES (?, ?, ?)", pieces)
        self.held, self.count = {}, 0

    @property
    def groups(self) -> int:
        return -(-len(self.group_of) // self.group)

    def blobs(self, group: int) -> list[bytes]:
        """One group's pickles, in input order (each a list of StagedRow)."""
        return [bytes(blob) for blob, in self.db.execute(f"SELECT cells FROM {STAGE} WHERE grp = ? ORDER BY seq",
                                                          [group])]


def _staged(blobs: list[bytes]) -> list[tuple[int, Row]]:
    """(seq, row with its cells) of a group's pickles, in input order."""
    return [(seq, Row(cells, line, source)) for blob in blobs
            for seq, line, source, cells in pickle.loads(blob)]  # noqa: S301 - our own, this transaction's


def _read_file(rows: Iterable[Row], profile: InputProfile, calendar: Any, stage: _Stage,
               data: StatusData) -> tuple[list[tuple[int, ErrorRow]], bool]:
    """Each row of the file staged by the group of its project's id (only that cell typed here); a row with no
    usable id (or no cells) is typed here, as the error row it is. Returns those error rows with their seq, and
    whether every row's project cell names its typed id (what an error row names: then every error row of a
    group names a project of that group or none, so a group's projects held by the typing are known from that
    group's rows and the error rows typed here). The file's column warnings go to ``data.warnings``."""
    reader = status_reader(profile)
    ids = RecordReader(_PROJECT, None, profile)
    source_rows: Iterator[Row] = iter(rows)
    if profile.columns:
        source_rows = renamed(source_rows, profile.columns)
    early: list[tuple[int, ErrorRow]] = []
    named = True
    headed, seen, seq = False, False, 0
    while chunk := list(itertools.islice(source_rows, CHUNK)):
        seen = True
        readable = [row for row in chunk if row.error is None and row.data is not None]
        if readable and not headed:  # the file's columns, said once (as typed_rows says them)
            headed, first = True, readable[0]
            data.warnings += [f"{first.source or '<input>'}: {problem}"
                              for problem in header_problems(reader, (first.data or {}).keys())]
        projects = iter(ids.read_many([row.data for row in readable]))
        for row in chunk:
            project = None
            if row.error is None and row.data is not None:
                read = next(projects)
                project = read["project"] if read.__class__ is dict else None
            if project is None:  # an error row whatever its other cells: typed here, as typed_rows types it
                before = len(data.errors)
                [record] = typed_chunk(reader, [row], calendar, data)
                if record is not None or len(data.errors) != before + 1:
                    raise AssertionError(f"row {row.row}: a status row without a project id was typed")
                early.append((seq, data.errors.pop()))
            else:
                cell = row.data.get("project")  # type: ignore[union-attr]
                said = cell.strip() or None if isinstance(cell, str) else None  # as an error row names it
                if said is not None and said != project:
                    named = False
                stage.add(seq, row, project)
            seq += 1
    source, header = getattr(rows, "source", None), getattr(rows, "header", None)
    if not seen and source:  # columns and no row: a wrong export, or the wrong file?
        data.warnings.append(f"{source}: the file has no status rows"
                             + (f" (only its header: {', '.join(map(repr, header[:8]))})" if header else ""))
    return early, named


def _ingest_file(engine: Engine, db: Any, rows: Any, path: str, profile: InputProfile, calendar: Any,
                 across: bool, group: int, workers: int | None) -> FileResult:
    data = StatusData()  # its warnings about the file's columns
    had_history = _has_history(db)
    stage = _Stage(db, group)
    early, named = _read_file(rows, profile, calendar, stage, data)
    stage.flush()
    db.execute(f"CREATE INDEX {STAGE}_group ON {STAGE} (grp, seq)")  # each group read without a scan of all
    result = FileResult(path, empty_rows=rows.empty_count)
    typing: list[tuple[int, ErrorRow]] = list(early)  # the typing's error rows, with their seq
    held_by_typing = frozenset(e.project for _, e in early if e.project is not None)
    duplicates: list[tuple[int, ErrorRow]] = []
    repeated: list[ErrorRow] = []
    held: list[str] = []
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    titles: dict[str, str | None] = {}  # each stored project's title, for ids alike with one title
    rater = _Rater(engine, db, now, _worker_count(workers, stage), status_reader(profile), calendar)
    fresh = not had_history and not across  # every report new: each group rated where it is prepared
    try:
        if not named:  # an error row may name a project of another group: the whole file typed first for them
            held_by_typing |= {e.project for part in rater.prepared(
                (stage.blobs(number), frozenset(), False) for number in range(stage.groups))
                for _, e in part.failed if e.project is not None}
        jobs = ((stage.blobs(number), held_by_typing, fresh) for number in range(stage.groups))
        for part in rater.prepared(jobs):
            typing += part.failed
            duplicates += part.duplicates
            if part.stored is not None:  # rated already: written as it is
                _write_prepared(db, part.stored, result, rater)
                held += part.stored.held
                titles.update(part.stored.titles)
                continue
            found = part.projects()
            if across:  # (every report of the group read)
                repeated += _repeated(db, {p: part.series(p) for p in found}, [_storable(p) for p in found])
            in_error = (held_by_typing | {e.project for _, e in part.failed} | {e.project for _, e in part.duplicates}
                        | {e.project for e in repeated})
            held += [p for p in found if p in in_error]
            kept = [p for p in found if p not in in_error]
            titles.update((p, part.title(p)) for p in kept)
            _store(db, kept, part, result, now, had_history, rater)
        rater.finish()
    finally:
        rater.close()  # (after an error or a Ctrl-C, without waiting for the groups still being rated)
    db.execute(f"DROP TABLE {STAGE}")
    typing.sort(key=lambda pair: pair[0])
    duplicates.sort(key=lambda pair: pair[0])
    result.errors = [error for _, error in typing] + [error for _, error in duplicates] + repeated
    result.held = sorted(held)
    result.warnings = data.warnings + result.warnings + same_titles(titles, _titled_like(db, result.new_projects,
                                                                                         titles, had_history))
    return result


@dataclass
class _Fresh:
    """A group of a file ingested into a history with no report yet, prepared to the rows it writes: every
    report of a project not held is new (revision 1), and each such project is rated at all of its dates."""

    reports: list[TableRow]
    ratings: list[TableRow]
    escalations: list[TableRow]
    rated: int
    held: list[str]
    titles: list[tuple[str, str | None]]
    new_projects: list[str]
    warnings: list[str]


@dataclass
class _Prepared:
    """A group's rows typed, grouped into reports and encoded (their digests): its typing's error rows and its
    duplicate rows (each with its seq); its reports and their (encoded values, digest) by project; or, when the
    history had no report (``stored``), what the group writes."""

    failed: list[tuple[int, ErrorRow]]
    duplicates: list[tuple[int, ErrorRow]]
    reports: dict[str, list[Report]] = field(default_factory=dict)
    encoded: dict[str, list[tuple[tuple[Any, ...], str]]] = field(default_factory=dict)
    stored: _Fresh | None = None
    pickled: dict[str, bytes] | None = None  # from a worker: each project's reports, unpickled when they are needed
    dates: dict[str, list[dt.date]] = field(default_factory=dict)  # (then) each project's status dates
    titles: dict[str, str | None] = field(default_factory=dict)  # and its latest report's title

    def series(self, project: str) -> list[Report]:
        if self.pickled is None:
            return self.reports[project]
        return pickle.loads(self.pickled[project])  # type: ignore[no-any-return]  # noqa: S301 - our worker's

    def projects(self) -> list[str]:
        return list(self.reports if self.pickled is None else self.pickled)

    def status_dates(self, project: str) -> list[dt.date]:
        if self.pickled is None:
            return [r.status_date for r in self.reports[project]]
        return self.dates[project]

    def title(self, project: str) -> str | None:
        if self.pickled is None:
            return self.reports[project][-1].values.get("title")
        return self.titles[project]

    def sent(self) -> _Prepared:
        """As a worker sends it back: the reports pickled by project, so that the unchanged are never unpickled."""
        if self.stored is not None or self.pickled is not None:
            return self
        self.pickled = {p: pickle.dumps(series, pickle.HIGHEST_PROTOCOL) for p, series in self.reports.items()}
        self.dates = {p: [r.status_date for r in series] for p, series in self.reports.items()}
        self.titles = {p: series[-1].values.get("title") for p, series in self.reports.items()}
        self.reports = {}
        return self


def _prepare(engine: Engine, reader: RecordReader, calendar: Any, now: str, blobs: list[bytes],
             held: frozenset[str], fresh: bool) -> _Prepared:
    """A group prepared (in a worker process, or here): its rows typed as typed_rows types them, grouped into
    reports, each report encoded and digested; when ``fresh`` (no report in the history, one file), the
    projects with no error row (none in ``held``, the projects of error rows typed elsewhere) are rated too."""
    rows = _staged(blobs)
    data = StatusData()
    typed: list[tuple[Row, dict[str, Any]]] = []
    seqs: list[int] = []
    failed: list[tuple[int, ErrorRow]] = []
    for start in range(0, len(rows), CHUNK):
        part = rows[start:start + CHUNK]
        records = typed_chunk(reader, [row for _, row in part], calendar, data)
        errors = iter(data.errors)
        for (seq, row), record in zip(part, records):
            if record is None:  # one error row each, in order
                failed.append((seq, next(errors)))
            else:
                typed.append((Row(None, row.row, row.source), record))  # the raw cells are no longer needed
                seqs.append(seq)
        data.errors.clear()
    del rows
    found = StatusData()
    rejected = group_reports(typed, found)
    duplicates = [(seqs[i], error) for i, error in zip(rejected, found.errors)]
    del typed
    encoded: dict[str, list[tuple[tuple[Any, ...], str]]] = {}
    for project, series in found.reports.items():
        pairs = encoded[project] = []
        for r in series:
            values = encoded_values(r)
            pairs.append((values, report_digest(r, values)))
    if not fresh:
        return _Prepared(failed, duplicates, found.reports, encoded)
    in_error = held | {e.project for _, e in failed} | {e.project for e in found.errors}
    reports = {p: series for p, series in found.reports.items() if p not in in_error}
    made = [(Kept(r, 1, digest, now, values), None) for p, series in reports.items()
            for r, (values, digest) in zip(series, encoded[p])]
    warnings = [w for p, series in reports.items() for w in falls(p, series, 0)]
    ratings, escalations, rated = _rating_rows(engine, [(p, series, [d for _, d in encoded[p]], 0)
                                                        for p, series in reports.items()], now)
    return _Prepared(failed, duplicates, stored=_Fresh(
        list(report_rows(made, now)), ratings, escalations, rated, [p for p in found.reports if p in in_error],
        [(p, series[-1].values.get("title")) for p, series in reports.items()], list(reports), warnings))


def _write_prepared(db: Any, fresh: _Fresh, result: FileResult, rater: _Rater) -> None:
    """A fresh group's reports and ratings written, as _store and the rater write them."""
    insert_report_rows(db, fresh.reports)
    result.new += len(fresh.reports)
    result.new_projects += fresh.new_projects
    result.warnings += fresh.warnings
    rater._write((fresh.ratings, fresh.escalations, fresh.rated), [], result)


def _titled_like(db: Any, projects: list[str], titles: dict[str, str | None], had_history: bool) -> dict[str, Any]:
    """The titles of the history's projects (other than this file's), when it has some and this file brings
    projects new to it (``projects``): titles are compared without case and extra spaces, so all are read."""
    if not had_history or not any(titles.get(p) for p in projects):
        return {}
    found: dict[str, Any] = {}
    for project, title in db.execute("SELECT DISTINCT project, title FROM status_reports WHERE in_force = 1 AND "
                                     "title IS NOT NULL"):
        if project not in titles:
            found.setdefault(project, title)
    return found


def _repeated(db: Any, reports: dict[str, list[Report]], keys: list[str | None]) -> list[ErrorRow]:
    """The reports of these projects an earlier file of this run gave too, as error rows; the others are
    remembered for the files after this one (in the run's temporary table, so memory does not grow with it)."""
    marks = ", ".join("?" for _ in keys)
    seen: dict[tuple[str, dt.date], tuple[str, int | None, str]] = {}
    for blob, in db.execute(f"SELECT typed FROM {SEEN} WHERE project IN ({marks})", keys):
        project, day, source, line, digest = pickle.loads(blob)  # noqa: S301 - our own, this run's
        seen[(project, day)] = (source, line, digest)
    before = set(seen)
    errors = FileResult("")
    _duplicates_across_files(reports, seen, errors)
    added = [(_storable(project), pickle.dumps((project, day, *first), pickle.HIGHEST_PROTOCOL))
             for (project, day), first in seen.items() if (project, day) not in before]
    for batch in _batches(iter(added)):
        db.executemany(f"INSERT INTO {SEEN} (project, typed) VALUES (?, ?)", batch)
    return errors.errors


def _duplicates_across_files(reports: dict[str, list[Report]],
                             seen: dict[tuple[str, dt.date], tuple[str, int | None, str]], result: FileResult) -> None:
    """A report for a project and date an earlier file of this run gave with other figures is an error row (as
    pmo health reads several files together), never a correction of one file by the next; the same report again
    (a file given twice) is that report, unchanged."""
    for project, series in reports.items():
        for r in series:
            key = (project, r.status_date)
            first = seen.get(key)
            source, line = r.rows[0] if r.rows else ("<input>", None)
            digest = report_digest(r)
            if first is None:
                seen[key] = (source, line, digest)
                continue
            if first[2] == digest:
                continue
            message = (f"a second row for project {project} at {r.status_date} (first at {first[0]} row {first[1]}) "
                       "with other figures; one row each, or ingest the corrected file on its own to record a "
                       "correction")
            result.errors.append(ErrorRow(source, line, project, r.status_date,
                                          (RowError(row=line, column="status_date", code="duplicate_row",
                                                    message=message),)))



def _store(db: Any, reports: list[str], part: _Prepared, result: FileResult, now: str, had_history: bool,
           rater: _Rater) -> None:
    """Compare a group's reports of the projects ``reports`` (``part``: their status dates, (values, digest) of
    each report, and the reports themselves, read only for a project with a change) with those in force, write
    the new and corrected ones, rate the projects that changed from their first changed date and write the
    ratings."""
    encoded = part.encoded
    dates = {p: part.status_dates(p) for p in reports}
    stored: dict[str, list[Kept]] = {}
    in_force: dict[tuple[str | None, str], str] = {}
    if had_history and reports:  # the digests in force first: only a project with a change is read in full
        marks = ", ".join("?" for _ in reports)
        in_force = {(project, day): digest for project, day, digest in db.execute(
            f"SELECT project, status_date, digest FROM status_reports WHERE in_force = 1 AND project IN ({marks})",
            [_storable(p) for p in reports])}
        touched = [p for p in reports
                   if any(in_force.get((_storable(p), day.isoformat())) != digest
                          for day, (_, digest) in zip(dates[p], encoded[p]))]
        stored = reports_in_force(db, touched) if touched else {}
    changed: list[tuple[Kept, Kept | None]] = []
    to_rate: list[tuple[str, list[Kept], int]] = []  # (project, its series in force after this file, first changed)
    known = {project for project, _ in in_force}
    result.new_projects += [p for p in reports if _storable(p) not in known]
    for project in reports:
        before = {k.report.status_date: k for k in stored.get(project, ())}
        merged = dict(before)
        first: dt.date | None = None
        series: list[Report] | None = None  # read when a report of the project is new or corrected
        for i, (day, (values, digest)) in enumerate(zip(dates[project], encoded[project])):
            old = before.get(day)
            if old is None and had_history and project not in stored and in_force.get(
                    (_storable(project), day.isoformat())) == digest:
                result.unchanged += 1  # a project with no change is not read in full
                continue
            if old is not None and old.digest == digest:
                result.unchanged += 1
                continue
            if series is None:
                series = part.series(project)
            r = series[i]
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
    for project, ordered, start in to_rate:  # a cumulative figure smaller than the report before (a dropped digit)
        result.warnings += falls(project, [k.report for k in ordered], start)
    rerated = [(project, series[start].report.status_date) for project, series, start in to_rate if project in stored]
    rater.rate([(project, [k.report for k in series], [k.digest for k in series], start)
                for project, series, start in to_rate], rerated, result)


RATE_IN_PARALLEL_FROM = 20_000  # rows: below this, starting worker processes costs more than it saves
TableRow = tuple[Any, ...]  # a row of a table, as written
ToRate = list[tuple[str, list[Report], list[str], int]]  # (project, its reports in force, their digests, first changed)


def _worker_count(workers: int | None, stage: _Stage) -> int:
    """``workers`` (None: one per core this process may use, for RATE_IN_PARALLEL_FROM rows or more), at most
    one per group, and 1 where this process cannot fork safely (the history is the same either way)."""
    if not can_fork():
        return 1
    if workers is None:
        if stage.rows_in < RATE_IN_PARALLEL_FROM:
            return 1
        workers = cores()
    return max(1, min(workers, stage.groups))


class _Rater:
    """Rates each group's changed projects and writes the ratings, group after group. With workers (processes
    forked from this one: they rate with its engine as it is, nothing is loaded again), a group is rated there
    while this process reads, compares and stores the next ones; the ratings are written here, in group order, so
    the history is what one process writes. A worker that dies (a crash in the rules engine's C core, a kill)
    loses nothing: its group and every one after it are rated here."""

    def __init__(self, engine: Engine, db: Any, now: str, workers: int, reader: RecordReader, calendar: Any):
        self.engine, self.db, self.now, self.workers = engine, db, now, workers
        self.reader, self.calendar = reader, calendar  # the status rows' typing, for the groups prepared here
        self.pending: deque[tuple[Future[Any], ToRate, list[tuple[str, dt.date]], FileResult]] = deque()
        self.pool: ProcessPoolExecutor | None = None

    def _start(self) -> None:
        """The workers, forked when the first group is prepared."""
        # (multiprocessing loaded only then: pmo status ingest of a month's reports needs none)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        try:
            self.pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("fork"), _start_worker,
                                            (self.engine, os.getpid(), self.reader, self.calendar))
        except (OSError, ValueError):  # no semaphores, no fork: rated here
            self.workers = 1

    def prepared(self, jobs: Iterable[tuple[list[bytes], frozenset[str], bool]]) -> Iterator[_Prepared]:
        """Each group's job (its staged pickles, the projects held already, fresh) prepared (_prepare), in order:
        with workers, up to one a worker ahead of the group being stored; a worker that dies or raises loses
        nothing: the group is prepared here (to raise, or not, as here)."""
        ahead: deque[tuple[Future[Any] | None, tuple[list[bytes], frozenset[str], bool]]] = deque()
        for job in jobs:
            if self.pool is None and self.workers > 1:
                self._start()
            future = None
            if self.pool is not None:
                from concurrent.futures.process import BrokenProcessPool  # (multiprocessing: only with workers)
                try:
                    future = self.pool.submit(_prepare_in_worker, self.now, *job)
                except (BrokenProcessPool, OSError):
                    self._broken()
            ahead.append((future, job))
            while len(ahead) > self.workers:
                yield self._prepared(*ahead.popleft())
        while ahead:
            yield self._prepared(*ahead.popleft())

    def _prepared(self, future: Future[Any] | None, job: tuple[list[bytes], frozenset[str], bool]) -> _Prepared:
        if future is not None:
            from concurrent.futures.process import BrokenProcessPool
            try:
                return future.result()  # type: ignore[no-any-return]
            except BrokenProcessPool:
                self._broken()
            except Exception:  # noqa: BLE001,S110 - what the worker raised: prepared here again, to raise (or not)
                pass
        return _prepare(self.engine, self.reader, self.calendar, self.now, *job)

    def rate(self, to_rate: ToRate, rerated: list[tuple[str, dt.date]], result: FileResult) -> None:
        if not to_rate and not rerated:
            return
        if self.pool is None and self.workers > 1:
            self._start()
        if self.pool is None:
            self._write(_rating_rows(self.engine, to_rate, self.now), rerated, result)
            return
        from concurrent.futures.process import BrokenProcessPool
        try:
            future = self.pool.submit(_rate_in_worker, to_rate, self.now)
        except (BrokenProcessPool, OSError):  # a worker died, or none could be forked (memory, process limit)
            self._broken()
            return self.rate(to_rate, rerated, result)
        self.pending.append((future, to_rate, rerated, result))
        while len(self.pending) > self.workers:  # a bounded number of groups in flight
            self._write_next()

    def finish(self) -> None:
        while self.pending:
            self._write_next()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=not self.pending, cancel_futures=True)  # pending: an error stopped the file
            self.pool = None

    def _write_next(self) -> None:
        from concurrent.futures.process import BrokenProcessPool
        future, to_rate, rerated, result = self.pending[0]
        try:
            rows = future.result()
        except BrokenProcessPool:
            self._broken()
            return
        except Exception:  # noqa: BLE001 - what the worker raised: rated here again, to raise (or not) as here
            rows = _rating_rows(self.engine, to_rate, self.now)
        self.pending.popleft()
        self._write(rows, rerated, result)

    def _broken(self) -> None:
        """A worker died: no more workers; the groups not written yet are rated here, in order."""
        self.workers = 1
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        waiting, self.pending = list(self.pending), deque()
        for _, to_rate, rerated, result in waiting:
            self._write(_rating_rows(self.engine, to_rate, self.now), rerated, result)

    def _write(self, rows: tuple[list[TableRow], list[TableRow], int], rerated: list[tuple[str, dt.date]],
               result: FileResult) -> None:
        ratings, escalations, rated = rows
        made, escalated = write_rating_rows(self.db, ratings, escalations, rerated)
        result.rated += rated
        result.ratings += made
        result.escalations += escalated


_worker_engine: Engine | None = None  # in a rating worker: the parent's engine, as it was when the worker forked
_worker_typing: tuple[RecordReader, Any] | None = None  # and the file's status reader and calendar


def _start_worker(engine: Engine, parent: int, reader: RecordReader | None = None, calendar: Any = None) -> None:
    global _worker_engine, _worker_typing
    _worker_engine = engine
    _worker_typing = (reader, calendar) if reader is not None else None
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the parent's to handle: it stops the workers
    die_with(parent)


def _prepare_in_worker(now: str, blobs: list[bytes], held: frozenset[str], fresh: bool) -> _Prepared:
    assert _worker_engine is not None and _worker_typing is not None
    return _prepare(_worker_engine, *_worker_typing, now, blobs, held, fresh).sent()


def _rate_in_worker(to_rate: ToRate, now: str) -> tuple[list[TableRow], list[TableRow], int]:
    assert _worker_engine is not None
    return _rating_rows(_worker_engine, to_rate, now)


def _rating_rows(engine: Engine, to_rate: ToRate, now: str) -> tuple[list[TableRow], list[TableRow], int]:
    """The rows of the ratings and escalations of each project at its own dates from the first that changed,
    and how many (project, status date) pairs were rated."""
    ratings: list[TableRow] = []
    escalations: list[TableRow] = []
    policy_hash = engine.policy_hash
    for project, reports, digests, start in to_rate:
        bases = []
        basis = ORIGIN
        for digest_ in digests:
            basis = chained(basis, digest_)
            bases.append(basis)
        for i, health in enumerate(engine.rate_series(project, reports, start=start), start):
            made = rated(health, bases[i])
            ratings.append(rating_row(made, policy_hash, now))
            escalations += escalation_rows(made, policy_hash)
    return ratings, escalations, len(ratings)


def _has_history(db: Any) -> bool:
    return bool(db.execute("SELECT 1 FROM status_reports LIMIT 1"))


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


@dataclass
class RerateResult:
    """What rating the whole history again under one policy recorded."""

    policy_hash: str
    projects: int = 0
    rated: int = 0  # (project, status date) pairs rated
    ratings: int = 0  # ratings new to the history (one already recorded under this policy is brought back into force)
    escalations: int = 0

    def summary(self) -> str:
        return (f"{self.projects:,} projects rated again at {self.rated:,} status dates under policy "
                f"{self.policy_hash[:16]}: {self.ratings:,} new ratings, {self.escalations:,} new escalations")


def rerate(engine: Engine, log: DecisionLog, *, group: int | None = None) -> RerateResult:
    """Rate every project of the history again at each of its status dates under ``engine``'s policy (``pmo status
    rerate``), on the reports in force, in one transaction, ``group`` projects at a time. Ingesting files does not
    do it: a report already stored is unchanged, whatever the policy. The ratings and escalations recorded under
    other policies are kept, out of force; those under this policy are in force. Rating again under the same
    policy records nothing new."""
    result = RerateResult(engine.policy_hash)
    size = group or GROUP
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with log.transaction() as db:
        counted = "SELECT (SELECT count(*) FROM health_ratings), (SELECT count(*) FROM escalations)"
        [(ratings, escalations)] = db.execute(counted)
        projects = [p for p, _ in db.execute("SELECT project, min(seq) AS first FROM status_reports GROUP BY project "
                                             "ORDER BY first")]
        for start in range(0, len(projects), size):
            chunk = projects[start:start + size]
            stored = reports_in_force(db, chunk)
            to_rate = [(p, [k.report for k in stored[p]], [k.digest for k in stored[p]], 0) for p in chunk if p in stored]
            rating_rows, escalation_rows_, count = _rating_rows(engine, to_rate, now)
            write_rating_rows(db, rating_rows, escalation_rows_, [(p, reports[0].status_date)
                                                                  for p, reports, _, _ in to_rate])
            result.projects += len(to_rate)
            result.rated += count
        [(after_ratings, after_escalations)] = db.execute(counted)
    result.ratings, result.escalations = int(after_ratings - ratings), int(after_escalations - escalations)
    return result
