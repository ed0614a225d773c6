"""Status reports: what each project reports at each status date, read as typed records.

A status file is read by the same readers as proposals (CSV, TSV, XLSX, JSON, JSONL, YAML; engine/io/readers.py)
and typed by the same record reader against a fixed schema (:data:`STATUS_FIELDS`), so an input profile
(``--columns``) maps an export's headers, number and date formats exactly as it does for proposals.

One row is one project (or one task of a project) at one status date. The minimum is
``project, status_date, bac, pv, ev, ac``; PV may instead come from ``planned_start`` and ``planned_finish``
(BAC spread evenly over the working days between them, the status date counted as a whole day of work),
and EV from ``percent_complete`` (EV = BAC x percent complete). Rows with a ``task`` are summed into their
project (money and counts added, planned dates widened to the earliest start and latest finish, texts taken
from the first row that has them).

Nothing is lost: a row that cannot be used is an error row naming its row, column and reason, and a second
row for the same (project, status date[, task]) with other figures is an error row, never a silent last-wins
(the same row again, as from a file given twice, is the same report). A project with an error row in a file
has none of its reports from that file rated (as the history stores none of them): never rated from the rows
of a file that happened to be good; its reports in other files are rated.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from engine.compile.health import STATES, WEEKDAYS
from engine.compile.portfolio import Calendar
from engine.compile.records import RecordError, RecordReader
from engine.decision import RowError
from engine.expr.values import fixed
from engine.health.evm import rounded
from engine.io.profile import UNDECLARED, InputProfile
from engine.io.readers import Row, read_proposals, renamed
from engine.policy.models import FieldSpec, FieldType

MONEY = ("bac", "pv", "ev", "ac", "etc", "benefits_planned", "benefits_realised")
COUNTS = ("milestones_planned", "milestones_reached", "risks", "issues")
TEXTS = ("proposal", "title", "objective", "state", "note")


def _spec(kind: FieldType, **extra: Any) -> FieldSpec:
    return FieldSpec(type=kind, **extra)


STATUS_FIELDS: dict[str, FieldSpec] = {
    "project": _spec("string", required=True, description="the project's id, as in the portfolio"),
    "status_date": _spec("date", required=True, aliases=["as_of", "date"], description="the date the figures are at"),
    "task": _spec("string", description="a task (or work package) of the project; its rows are summed"),
    "proposal": _spec("string", aliases=["proposal_id"], description="the intake proposal the project came from "
                      "(its id in the intake round), for pmo lessons"),
    "title": _spec("string", aliases=["name"], description="the project's title, for tables"),
    "objective": _spec("string", description="the strategic objective the project serves, for the roll-up"),
    # an enum, so that a state no rule knows ('actve', 'aktiv') is an error row, never a project no rule rates
    "state": _spec("enum", values=list(STATES), description="active, on-hold, closed or killed (any case; a "
                   "profile's values: map reads other words)"),
    "bac": _spec("money", min=Decimal(0), aliases=["budget"], description="budget at completion"),
    "pv": _spec("money", min=Decimal(0), aliases=["planned_value"], description="planned value, cumulative"),
    "ev": _spec("money", min=Decimal(0), aliases=["earned_value"], description="earned value, cumulative"),
    "ac": _spec("money", min=Decimal(0), aliases=["actual_cost"], description="actual cost, cumulative"),
    "etc": _spec("money", min=Decimal(0), description="the team's bottom-up estimate to complete"),
    "percent_complete": _spec("number", min=Decimal(0), max=Decimal(1), aliases=["complete"],
                              description="physical percent complete (35% or 0.35); EV = BAC x it"),
    "planned_start": _spec("date", description="baseline start: PV spread over working days from here"),
    "planned_finish": _spec("date", description="baseline finish (the last day of work)"),
    "milestones_planned": _spec("integer", min=Decimal(0), description="milestones due by the status date"),
    "milestones_reached": _spec("integer", min=Decimal(0), description="milestones reached by the status date"),
    "benefits_planned": _spec("money", min=Decimal(0), description="benefits planned by the status date"),
    "benefits_realised": _spec("money", min=Decimal(0), aliases=["benefits_realized"],
                               description="benefits realised by the status date"),
    "risks": _spec("integer", min=Decimal(0), description="open risks"),
    "issues": _spec("integer", min=Decimal(0), description="open issues"),
    "note": _spec("string", description="the project manager's note"),
}


@dataclass(frozen=True)
class Report:
    """One project at one status date (its task rows summed). Money as exact rationals, None = missing."""

    project: str
    status_date: dt.date
    values: Mapping[str, Any]  # every STATUS_FIELDS name except project, status_date and task
    tasks: int = 0  # how many task rows were summed (0: the project reported as one row)
    rows: tuple[tuple[str, int | None], ...] = ()  # (file, row) it came from


@dataclass(frozen=True)
class ErrorRow:
    """A status row that could not be used, and why (each problem names its column)."""

    source: str
    row: int | None
    project: str | None
    status_date: dt.date | None
    errors: tuple[RowError, ...]

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "status_date": self.status_date.isoformat() if self.status_date else None,
                "source": self.source, "row": self.row, "errors": [e.model_dump(mode="json") for e in self.errors]}


@dataclass
class StatusData:
    """Every report by project (status dates in order), and every error row, in input order."""

    reports: dict[str, list[Report]] = field(default_factory=dict)
    errors: list[ErrorRow] = field(default_factory=list)
    empty_rows: int = 0
    held: list[Report] = field(default_factory=list)  # reports from a file with an error row of their project
    warnings: list[str] = field(default_factory=list)  # about a file's columns, once per file ("file: ...")

    @property
    def projects_with_errors(self) -> set[str]:
        """The projects of the error rows."""
        return {e.project for e in self.errors if e.project is not None}

    @property
    def projects_in_error(self) -> set[str]:
        """The projects with error rows and no report left to rate: shown as their error rows, not in the sums."""
        return self.projects_with_errors - self.reports.keys()


T = TypeVar("T")


@runtime_checkable
class StatusGroups(Protocol):
    """Status reports a group of projects at a time, for a history too large to hold whole (the history store's:
    engine.store.history.StoredStatus): assess and the KPIs keep of each group only what they read."""

    def groups(self) -> Iterable[StatusData]:
        """Every project's reports, in groups of projects (a project's reports all in one group), in order."""
        ...

    def each(self, measure: Callable[[StatusData], T]) -> Iterator[T]:
        """``measure`` of each group, in group order (here, or in worker processes that read the groups
        themselves: the caller holds only what ``measure`` returns)."""
        ...

    def latest(self) -> dt.date | None:
        """The latest status date of any report."""
        ...

    @property
    def errors(self) -> list[ErrorRow]:
        """The error rows of every group."""
        ...


def status_profile(path: str | Path | None) -> InputProfile | None:
    """The input profile (--columns) for status reports, checked against the status fields (raises InputError)."""
    if path is None:
        return None
    from engine.compile.records import converter
    from engine.errors import InputError
    from engine.io.profile import check_profile, load_profile
    profile = load_profile(path)
    problems = check_profile(profile, STATUS_FIELDS, converter, subject="a status report")
    if problems:
        raise InputError(problems)
    return profile


def status_reader(profile: InputProfile = UNDECLARED) -> RecordReader:
    return RecordReader(STATUS_FIELDS, None, profile)


def read_status(paths: Iterable[str | Path], profile: InputProfile = UNDECLARED, sheet: str | None = None,
                calendar: Calendar = WEEKDAYS) -> StatusData:
    """Read status files into reports and error rows. Raises InputError when a file as a whole is unusable
    (before anything is computed)."""
    opened = [read_proposals(path, sheet) for path in paths]
    data = status_from_rows(opened, profile, calendar)
    data.empty_rows = sum(rows.empty_count for rows in opened)
    return data


def status_from_rows(inputs: Iterable[Iterable[Row]], profile: InputProfile = UNDECLARED,
                     calendar: Calendar = WEEKDAYS) -> StatusData:
    """Reports and error rows from rows already read (each iterable one file's rows, in order)."""
    data = StatusData()
    group_reports(list(typed_rows(inputs, data, profile, calendar)), data)
    _held_by_file(data)
    for project, series in data.reports.items():
        data.warnings += falls(project, series)
    data.warnings += same_titles({p: series[-1].values.get("title") for p, series in data.reports.items()})
    return data


def same_titles(titles: Mapping[str, str | None], known: Mapping[str, str | None] | None = None) -> list[str]:
    """Two project ids, alike, with one title ('UW-2027-O1' and 'UW-2027-01', 'Umspannwerk Nord'): a typo in an
    id starts a new project, whose figures then count twice in the sums. A warning each, for the projects of
    ``titles`` (project -> title) against each other and against ``known`` (those already in a history)."""
    by_title: dict[str, list[str]] = {}
    for source in (known or {}, titles):
        for project, title in source.items():
            if title and title.strip():
                ids = by_title.setdefault(" ".join(title.casefold().split()), [])
                if project not in ids:
                    ids.append(project)
    out = []
    for ids in by_title.values():
        if len(ids) > ALIKE_AT_MOST:  # a title many projects share ('Office refresh' in every region): no typo
            continue
        for i, one in enumerate(ids):
            for other in ids[i + 1:]:
                if (one in titles or other in titles) and SequenceMatcher(None, one, other).ratio() >= 0.8:
                    out.append(f"projects {one} and {other} have the same title '{titles.get(other) or titles.get(one)}'"
                               f" and ids that differ by a little: one project under two ids? (a typo in an id makes a "
                               f"new project, counted twice in the sums)")
    return out


ALIKE_AT_MOST = 20  # projects with one title compared pairwise by id (bounded: the pairs grow as its square)
CUMULATIVE = ("ac", "ev", "benefits_realised", "milestones_reached")  # what happened to date: never less later


def falls(project: str, series: list[Report], start: int = 0) -> list[str]:
    """A figure that is cumulative to date and smaller at a later status date (a dropped digit: AC 200,000 then
    30,000 gives a CPI of 9): a warning each, from the report at ``start`` on (the earlier ones were said)."""
    out = []
    for before, after in zip(series[max(start - 1, 0):], series[max(start, 1):]):
        for name in CUMULATIVE:
            was, now = before.values.get(name), after.values.get(name)
            if was is not None and now is not None and now < was:
                out.append(f"project {project}: {name} falls from {fixed(was, 0, grouped=True)} at "
                           f"{before.status_date} to {fixed(now, 0, grouped=True)} at {after.status_date}, though it "
                           f"is cumulative (to date): check the later report")
    return out


def _held_by_file(data: StatusData) -> None:
    """A project's reports from a file in which it has an error row are held back, as ``pmo status ingest`` stores
    none of them: it is rated from its reports in the other files, if it has any, so that ``pmo health FILES``
    and ``pmo health --log`` (after the files were ingested) give the same answer. One file with an error row for
    a project therefore rates it from nothing: never from the rows that happened to be readable."""
    bad = {(e.project, e.source) for e in data.errors if e.project is not None}
    for project in {project for project, _ in bad}:
        series = data.reports.get(project)
        if series is None:
            continue
        kept: list[Report] = []
        for r in series:  # each report to the kept or the held, by the files of its rows
            (data.held if any((project, source) in bad for source, _ in r.rows) else kept).append(r)
        if kept:
            data.reports[project] = kept
        else:
            del data.reports[project]


def typed_rows(inputs: Iterable[Iterable[Row]], data: StatusData, profile: InputProfile = UNDECLARED,
               calendar: Calendar = WEEKDAYS) -> Iterator[tuple[Row, dict[str, Any]]]:
    """Each usable row typed (PV and EV completed), as it is read: (the row without its raw cells, its typed
    record); an unusable row is added to ``data.errors`` instead. Not yet grouped (:func:`group_reports`)."""
    reader = status_reader(profile)
    for rows in inputs:
        source_rows: Iterator[Row] = iter(rows)
        if profile.columns:
            source_rows = renamed(source_rows, profile.columns)
        headed, seen = False, False
        while chunk := list(itertools.islice(source_rows, CHUNK)):
            seen = True
            readable = [row for row in chunk if row.error is None and row.data is not None]
            if readable and not headed:  # the file's columns, said once (as pmo evaluate says them)
                headed, first = True, readable[0]
                data.warnings += [f"{first.source or '<input>'}: {problem}"
                                  for problem in header_problems(reader, (first.data or {}).keys())]
            for row, record in zip(chunk, typed_chunk(reader, chunk, calendar, data, readable)):
                if record is not None:
                    yield Row(None, row.row, row.source), record  # the raw cells are no longer needed
        source, header = getattr(rows, "source", None), getattr(rows, "header", None)  # a file's (ProposalRows)
        if not seen and source:  # columns and no row: a wrong export, or the wrong file?
            data.warnings.append(f"{source}: the file has no status rows"
                                 + (f" (only its header: {', '.join(map(repr, header[:8]))})" if header else ""))


CHUNK = 256  # rows typed together


def typed_chunk(reader: RecordReader, chunk: list[Row], calendar: Calendar, data: StatusData,
                readable: list[Row] | None = None) -> list[dict[str, Any] | None]:
    """Each row of ``chunk`` typed (PV and EV completed), or None for an error row, which is added to
    ``data.errors`` (one each, in order). ``readable``: the rows of the chunk with cells and no read error, when
    the caller has them already."""
    if readable is None:
        readable = [row for row in chunk if row.error is None and row.data is not None]
    typed = iter(reader.read_many([row.data for row in readable]))  # by columns, each field's cells at once
    out = []
    for row in chunk:
        read = next(typed) if row.error is None and row.data is not None else None
        if read.__class__ is dict and read["percent_complete"] == 1 and _one_reads_two_ways(reader, row):
            read = RecordError([("percent_complete", "ambiguous_value", _ONE_PERCENT)])
        out.append(_typed(row, read, calendar, data))
    return out
_ONE_PERCENT = ("column 'percent_complete': '1' reads two ways: 100% (1 as a fraction, as 0.35 is 35%) or 1% (as an "
                "export of whole percents writes it); write 100% or 1%")


def _one_reads_two_ways(reader: RecordReader, row: Row) -> bool:
    """A percent complete written as the bare text 1: whole (a fraction) or one percent? (45 is refused as above
    the maximum 1, so a file of whole percents would have its 1% rows read as finished.) A number cell of a
    workbook (1.0 from a cell formatted 100%) reads one way."""
    raw = reader.raw(row.data or {}, "percent_complete")
    return isinstance(raw, str) and raw.strip() in ("1", "1.0", "1,0")


def header_problems(reader: RecordReader, keys: Iterable[Any]) -> list[str]:
    """A status file's columns: a misspelt one (it would be ignored), and a figure every report needs with no
    column for it (each row would be an error row), naming the columns the file has."""
    keys = list(keys)
    # the misspellings; the columns nothing reads are named below when a needed one is missing
    problems = [f"column '{key}' is not a field of a status report and is ignored; {hint} (rename it, or map it "
                "with --columns)" for key, hint in reader.misspelt(keys).items()]
    found = {name for name, column in zip(STATUS_FIELDS, reader.columns_of(keys)) if column is not None}
    needed = [" or ".join(f"'{n}'" for n in names) for names in _NEEDED if not found & set(names)]
    if needed:
        shown = ", ".join(f"'{k}'" for k in keys[:12]) + (f" and {len(keys) - 12} more" if len(keys) > 12 else "")
        problems.append(f"there is no column for {', '.join(needed)}, so every row is an error row; the file's "
                        f"columns: {shown} (rename a column, or map it with --columns)")
    return problems


# the columns every report needs: one of each tuple (PV from the planned dates needs both; see read_status)
_NEEDED = (("project",), ("status_date",), ("bac",), ("ac",), ("pv", "planned_finish"), ("ev", "percent_complete"))


def _error(row: Row, data: StatusData, errors: list[RowError], raw: Mapping[str, Any] | None = None,
           record: Mapping[str, Any] | None = None) -> None:
    project = (record or {}).get("project")
    if project is None and raw is not None:
        value = raw.get("project")
        project = value.strip() or None if isinstance(value, str) else None
    data.errors.append(ErrorRow(row.source or "<input>", row.row, project, (record or {}).get("status_date"),
                                tuple(errors)))


def _typed(row: Row, read: dict[str, Any] | Exception | None, calendar: Calendar,
           data: StatusData) -> dict[str, Any] | None:
    """The row's typed values (``read``: as the record reader typed them) with PV and EV completed from dates
    and percent complete, or None (an error row is added)."""
    if row.error is not None or row.data is None:
        error = row.error or RowError(row=row.row, code="bad_row", message="the row cannot be read")
        _error(row, data, [error], row.data)
        return None
    if isinstance(read, RecordError):
        _error(row, data, [RowError(row=row.row, column=c, code=code, message=m) for c, code, m in read.problems],
               row.data)
        return None
    if isinstance(read, Exception):
        raise read
    assert read is not None
    record = read
    problems = _complete(record, calendar)
    if problems:
        _error(row, data, [RowError(row=row.row, column=c, code=code, message=m) for c, code, m in problems],
               row.data, record)
        return None
    return record


def _complete(record: dict[str, Any], calendar: Calendar) -> list[tuple[str, str, str]]:
    """Fill PV from the planned dates and EV from percent complete; check what must hold between columns."""
    problems: list[tuple[str, str, str]] = []
    bac, start, finish = record["bac"], record["planned_start"], record["planned_finish"]
    if bac is None:
        problems.append(("bac", "missing_value", "column 'bac': a value is required (budget at completion)"))
    if record["ac"] is None:
        problems.append(("ac", "missing_value", "column 'ac': a value is required (actual cost to date)"))
    if start is not None and finish is not None and start > finish:
        problems.append(("planned_finish", "bad_value", f"planned_finish {finish} is before planned_start {start}"))
        start = finish = None
    if record["pv"] is None and bac is not None:
        if start is None or finish is None:
            problems.append(("pv", "missing_value", "column 'pv': give the planned value, or planned_start and "
                             "planned_finish to spread BAC over the working days between them"))
        else:
            record["pv"] = linear_pv(bac, start, finish, record["status_date"], calendar)
    share = record["percent_complete"]
    if share is not None and bac is not None:
        bn, bd = bac.as_integer_ratio()
        sn, sd = share.as_integer_ratio()
        earned = Fraction(bn * sn, bd * sd)  # BAC x percent complete, exactly
        if record["ev"] is None:
            record["ev"] = earned
        elif Fraction(record["ev"]) != earned:
            problems.append(("ev", "inconsistent", f"ev {record['ev']} is not bac x percent_complete ({bac} x "
                             f"{share} = {_text(earned)}); give one of them"))
    elif record["ev"] is None:
        problems.append(("ev", "missing_value", "column 'ev': give the earned value, or percent_complete"))
    if bac is not None:
        bn, bd = bac.as_integer_ratio()
        for name in ("pv", "ev"):
            value = record[name]
            if value is not None:
                n, d = value.as_integer_ratio()  # Decimal or Fraction: exact
                if n * bd > bn * d:
                    problems.append((name, "out_of_range", f"{name} {_text(Fraction(n, d))} is above bac {bac}"))
    for name in MONEY:
        value = record[name]
        if value is not None and value.__class__ is not Fraction:  # (PV and EV made here are already)
            record[name] = Fraction(*value.as_integer_ratio())  # two ints: Fraction's quick way in
    return problems


def _text(value: Fraction) -> str:
    return str(rounded(value))


def linear_pv(bac: Decimal | Fraction, start: dt.date, finish: dt.date, status_date: dt.date,
              calendar: Calendar) -> Fraction:
    """BAC spread evenly over the working days from ``start`` to ``finish`` (both included), as planned by the
    end of ``status_date`` (the status date counts as a whole day of work). A plan with no working day in it
    is all planned on its finish."""
    if status_date >= finish:
        return Fraction(bac)
    if status_date < start:
        return Fraction(0)
    total = _working_days(calendar, start, finish)
    if not total:
        return Fraction(0)
    done = calendar.count(start, status_date + dt.timedelta(days=1))
    bn, bd = bac.as_integer_ratio()
    return Fraction(bn * done, bd * total)


def _working_days(calendar: Calendar, start: dt.date, finish: dt.date) -> int:
    """Working days from ``start`` to ``finish``, both included; remembered (every report of a project asks)."""
    key = (calendar, start, finish)
    days = _PLAN_DAYS.get(key)
    if days is None:
        if len(_PLAN_DAYS) >= 65_536:
            _PLAN_DAYS.clear()
        days = _PLAN_DAYS[key] = calendar.count(start, finish + dt.timedelta(days=1))
    return days


_PLAN_DAYS: dict[tuple[Calendar, dt.date, dt.date], int] = {}


def group_reports(typed: list[tuple[Row, dict[str, Any]]], data: StatusData) -> list[int]:
    """Reports by project and status date, task rows summed, into ``data``; a second row for the same key is an
    error row. Every decision is within one project, so typed rows given project by project (each project's
    rows in input order) give the same reports and error rows. Returns the indices (in ``typed``) of the rows
    that became error rows, in order."""
    rejected: list[int] = []
    seen: dict[tuple[str, dt.date, str | None], tuple[Row, dict[str, Any]]] = {}
    whole: dict[tuple[str, dt.date], bool] = {}  # (project, date) -> reported as one row (no task)?
    groups: dict[tuple[str, dt.date], list[tuple[Row, dict[str, Any]]]] = {}
    repeats: dict[tuple[str, dt.date], list[Row]] = {}  # rows that said again what an earlier row said
    for index, (row, record) in enumerate(typed):
        key = (record["project"], record["status_date"], record["task"])
        first = seen.get(key)
        pair = key[:2]
        if first is not None and first[1] == record:  # the same report again (a file given twice, a line
            repeats.setdefault(pair, []).append(row)  # exported twice): one report, from both rows, never summed
            continue
        if first is not None or whole.get(pair, record["task"] is None) != (record["task"] is None):
            what = (f"project {key[0]} at {key[1]}" + (f", task {key[2]}" if key[2] else ""))
            if first is not None:
                message = (f"a second row for {what} (first at {first[0].source} row {first[0].row}) with other "
                           f"figures; one row each")
            else:
                message = f"{what}: rows with and without a task for the same project and date; use one or the other"
            _error(row, data, [RowError(row=row.row, column="task" if first is None else "status_date",
                                        code="duplicate_row", message=message)], None, record)
            rejected.append(index)
            continue
        seen[key] = (row, record)  # (compared before _summed, below, takes records apart)
        whole[pair] = record["task"] is None
        groups.setdefault(pair, []).append((row, record))
    for (project, date), members in groups.items():
        report = _summed(project, date, members)
        again = repeats.get((project, date))
        if again:
            report = dataclasses.replace(report, rows=report.rows + tuple((r.source or "<input>", r.row) for r in again))
        data.reports.setdefault(project, []).append(report)
    for reports in data.reports.values():
        reports.sort(key=lambda r: r.status_date)
    return rejected


def _summed(project: str, date: dt.date, members: list[tuple[Row, dict[str, Any]]]) -> Report:
    if len(members) == 1 and members[0][1]["task"] is None:  # a project reported as one row: nothing to sum
        row, typed = members[0]  # the typed record becomes the report's values (nothing else holds it)
        for key in ("project", "status_date", "task"):
            del typed[key]
        return Report(project, date, typed, 0, ((row.source or "<input>", row.row),))
    records = [record for _, record in members]
    values: dict[str, Any] = {}
    for name in MONEY + COUNTS:
        given = [r[name] for r in records if r[name] is not None]
        # a sum over tasks is missing when any task lacks it (never a partial sum)
        values[name] = sum(given, Fraction(0) if name in MONEY else Decimal(0)) \
            if len(given) == len(records) else None
    share = [r["percent_complete"] for r in records]
    values["percent_complete"] = share[0] if len(records) == 1 else None  # recomputed from EV / BAC
    starts = [r["planned_start"] for r in records if r["planned_start"] is not None]
    finishes = [r["planned_finish"] for r in records if r["planned_finish"] is not None]
    values["planned_start"] = min(starts) if starts else None
    values["planned_finish"] = max(finishes) if finishes else None
    for name in TEXTS:
        values[name] = next((r[name] for r in records if r[name]), None)
    tasks = len(records) if records[0]["task"] is not None else 0
    return Report(project, date, values, tasks, tuple((row.source or "<input>", row.row) for row, _ in members))
