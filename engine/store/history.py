"""The portfolio history, kept in the decision log (schema version 2): status reports, health ratings, escalations.

    engine/tasks/history.py (pmo status ingest) --write_file--> status_reports, health_ratings, escalations
    status_data(log, as_of) --> the StatusData engine/health/status.py reads from files, rebuilt from the store
    StoredStatus(log, as_of) --> the same, a group of projects at a time (the KPIs read it so: bounded memory)
    project_history(log, project) --> reports, corrections, ratings, escalations and decisions of one project

A report is kept exactly: money as the text of a rational (``1500000``, ``4500000/7`` for a PV spread over the
working days), the other numbers as decimals, dates in ISO 8601, every row it was summed from. Its ``digest``
covers what was reported (project, date, tasks, every value), not where it came from, so a file ingested again
(or renamed) adds nothing. A changed report for the same project and status date is a *correction*: it is
stored as the next revision and is in force from then on; the earlier revision is kept, no longer in force.

Ratings and escalations are keyed by the project, the status date, the policy hash and the *basis* (a digest of
the digests of the reports the rating was computed from), so the same reports rated by the same policy are
recorded once, and a correction (a new basis) records new ratings in force beside the earlier ones.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

from engine.health.status import COUNTS, MONEY, TEXTS, ErrorRow, Report, StatusData
from engine.store.log import DecisionLog, _storable, canonical, digest

DATES = ("planned_start", "planned_finish")
NUMBERS = ("percent_complete",) + COUNTS
VALUES = TEXTS + MONEY + NUMBERS + DATES  # every value of a Report, in the table's column order
_NUMBERED = MONEY + NUMBERS
REPORT_COLUMNS = ("project", "status_date", "revision", "in_force", "digest", "ingested", "source", "source_row",
                  "sources", "tasks") + VALUES
RATING_COLUMNS = ("project", "status_date", "policy_hash", "basis", "in_force", "rated", "rating", "rule_id",
                  "rule_where", "reason", "rules", "figures")
ESCALATION_COLUMNS = ("project", "status_date", "policy_hash", "basis", "in_force", "route", "rule_id", "reason")
BATCH = 2_000  # rows per executemany call: bounded memory between the rows made and the rows written
CHUNK = 500  # projects per "project IN (...)" query (SQLite allows 999 parameters)
T = TypeVar("T")


# ------------------------------------------------------------------------------------------ encoding

def encoded_values(report: Report) -> tuple[Any, ...]:
    """The report's values as the table stores them (VALUES order)."""
    return encoded(report.values)


def encoded(v: Mapping[str, Any]) -> tuple[Any, ...]:
    """Values (a report's, or a typed status row's) as the table stores them (VALUES order): texts storable,
    money as the text of its rational ("1500000", or "4500000/7": exact, and read back by Fraction()), other
    numbers as decimals, dates in ISO 8601."""
    get = v.get
    out = [_storable_text(t) if (t := get(name)).__class__ is str else _storable(t) for name in TEXTS]
    out += [None if (x := get(name)) is None else str(x) for name in _NUMBERED]
    out += [None if (d := get(name)) is None else d.isoformat() for name in DATES]
    return tuple(out)


def _storable_text(text: str) -> str:
    """_storable of a str: an ASCII text without NUL is stored as it is (most are)."""
    return text if text.isascii() and "\x00" not in text else _storable(text)  # type: ignore[return-value]


def report_digest(report: Report, values: tuple[Any, ...] | None = None) -> str:
    """What was reported (not where from): equal digests, equal reports."""
    return digest([report.project, report.status_date.isoformat(), report.tasks,
                   list(encoded_values(report) if values is None else values)])


def decoded_values(row: Sequence[Any]) -> dict[str, Any]:
    """The values of a Report from the table's VALUES columns, typed as the status reader types them."""
    return {name: None if text is None else read(text) for name, read, text in zip(VALUES, _READERS, row)}


def _rational(text: str) -> Fraction:
    """Fraction(text) of a stored money text ("1500000", "4500000/7"), without Fraction's general parser; any
    other text (a history written otherwise) by that parser."""
    numerator, slash, denominator = text.partition("/")
    digits = numerator[1:] if numerator[:1] == "-" else numerator
    if text.isascii() and digits.isdigit() and (not slash or denominator.isdigit()):
        return Fraction(int(numerator), int(denominator) if slash else 1)
    return Fraction(text)


def _text_as_is(text: str) -> str:
    return text


_READERS = tuple(_rational if name in MONEY else Decimal if name in NUMBERS else dt.date.fromisoformat
                 if name in DATES else _text_as_is for name in VALUES)  # each VALUES column's text, typed


def chained(basis: str, report_digest_: str) -> str:
    """The basis of a rating on one more report: a digest of the basis so far and that report's digest."""
    return hashlib.sha256(f"{basis}:{report_digest_}".encode()).hexdigest()[:32]


# ------------------------------------------------------------------------------------------ reading

@dataclass
class Kept:
    """A report as the history keeps it: the report, its revision, digest and when it was ingested."""

    report: Report
    revision: int
    digest: str
    ingested: str
    values: tuple[Any, ...] | None = None  # encoded_values(report), when they were computed already


_SELECT = f"SELECT {', '.join(REPORT_COLUMNS)} FROM status_reports"


def _kept(row: Sequence[Any]) -> Kept:
    project, day, revision, _, digest_, ingested, _, _, sources, tasks = row[:10]
    rows = tuple((source, line) for source, line in json.loads(sources))
    report = Report(project, dt.date.fromisoformat(day), decoded_values(row[10:]), tasks, rows)
    return Kept(report, revision, digest_, ingested)


def in_force(log: DecisionLog, projects: Iterable[str] | None = None,
             until: dt.date | None = None) -> dict[str, list[Kept]]:
    """The reports in force, by project and status date; only ``projects`` when given, only status dates on or
    before ``until`` when given."""
    with log._using("read") as db:
        return reports_in_force(db, projects, until)


def reports_in_force(db: Any, projects: Iterable[str] | None = None,
                     until: dt.date | None = None) -> dict[str, list[Kept]]:
    """:func:`in_force` on the database itself (inside a ``DecisionLog.transaction``)."""
    where, args = "in_force = 1", []
    if until is not None:
        where += " AND status_date <= ?"
        args.append(until.isoformat())
    order = " ORDER BY seq"
    found: dict[str, list[Kept]] = {}
    if projects is None:
        _collect(db.execute(f"{_SELECT} WHERE {where}{order}", args), found)
    else:
        wanted = [_storable(p) for p in dict.fromkeys(projects)]
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start:start + CHUNK]
            marks = ", ".join("?" for _ in chunk)
            _collect(db.execute(f"{_SELECT} WHERE {where} AND project IN ({marks}){order}", args + chunk), found)
    for series in found.values():
        series.sort(key=lambda k: k.report.status_date)
    return found


def _collect(rows: Iterable[Sequence[Any]], found: dict[str, list[Kept]]) -> None:
    for row in rows:
        kept = _kept(row)
        found.setdefault(kept.report.project, []).append(kept)


def history_state(log: DecisionLog) -> tuple[int, int]:
    """(reports stored, the last report's number): changes with every ingest that stores something."""
    with log._using("read") as db:
        [(count, last)] = list(db.execute("SELECT count(*), coalesce(max(seq), 0) FROM status_reports"))
    return int(count), int(last)


def first_seen(log: DecisionLog) -> list[str]:
    """Every project of the history, in the order the history first heard of it (its first report's number)."""
    with log._using("read") as db:
        rows = db.execute("SELECT project, min(seq) AS first FROM status_reports GROUP BY project ORDER BY first")
    return [project for project, _ in rows]


def status_data(log: DecisionLog, as_of: dt.date | None = None) -> StatusData:
    """The status reports in force on or before ``as_of`` (all when None), as the StatusData
    ``engine.health.status.read_status`` gives for the files they were ingested from: the same reports, values,
    tasks and source rows, projects in the order they were first reported. Error rows are not kept in the
    history (``pmo status ingest`` reports them and stores none of that project's rows of the file), so
    ``errors`` is empty."""
    order = first_seen(log)
    found = in_force(log, until=as_of)
    data = StatusData()
    for project in order:
        if project in found:
            data.reports[project] = [k.report for k in found[project]]
    return data


class StoredStatus:
    """The status reports in force on or before ``as_of`` (all when None), as :func:`status_data` gives them but
    ``size`` projects at a time (engine.health.kpis.StatusGroups): a reader of the whole history holds one group's
    reports at once. Each group is read when it is reached, each in its own read, so an ingest that commits while
    the groups are read shows in the groups read after it."""

    def __init__(self, log: DecisionLog, as_of: dt.date | None = None, size: int = CHUNK):
        if size < 1:
            raise ValueError("a group holds one project or more")
        self.log, self.as_of, self.size = log, as_of, size

    @property
    def errors(self) -> list[ErrorRow]:
        """None: the history keeps no error rows (status_data's are empty too)."""
        return []

    def chunks(self) -> list[list[str]]:
        """The groups' projects, in the order the history first heard of them."""
        order = first_seen(self.log)
        return [order[start:start + self.size] for start in range(0, len(order), self.size)]

    def read(self, projects: list[str], log: DecisionLog | None = None) -> StatusData:
        """One group's reports (from ``log``: another connection to the same history, e.g. a worker's own)."""
        with (log or self.log)._using("read") as db:
            found = reports_in_force(db, projects, self.as_of)
        data = StatusData()
        for project in projects:
            if project in found:
                data.reports[project] = [k.report for k in found[project]]
        return data

    def groups(self) -> Iterator[StatusData]:
        return (self.read(chunk) for chunk in self.chunks())

    def each(self, measure: Callable[[StatusData], T]) -> Iterator[T]:
        return (measure(group) for group in self.groups())

    def latest(self) -> dt.date | None:
        where, args = "in_force = 1", []
        if self.as_of is not None:
            where += " AND status_date <= ?"
            args.append(self.as_of.isoformat())
        with self.log._using("read") as db:
            [(day,)] = list(db.execute(f"SELECT max(status_date) FROM status_reports WHERE {where}", args))
        return dt.date.fromisoformat(day) if day else None


def unreported(log: DecisionLog, as_of: dt.date) -> list[str]:
    """Projects of the history with no report in force on or before ``as_of`` (in first-seen order)."""
    with log._using("read") as db:
        early = {p for p, in db.execute("SELECT DISTINCT project FROM status_reports WHERE in_force = 1 AND "
                                        "status_date <= ?", (as_of.isoformat(),))}
    return [p for p in first_seen(log) if p not in early]


# ------------------------------------------------------------------------------------------ writing

@dataclass
class Rated:
    """One rating to record: the project at a status date, from a basis, and its escalations (route, rules,
    reason)."""

    project: str
    status_date: dt.date
    basis: str
    rating: str | None
    rule_id: str | None
    rule_where: str | None
    reason: str
    rules: list[dict[str, Any]]
    figures: dict[str, Any]
    escalations: list[tuple[str, str, str]] = field(default_factory=list)


def write_reports(db: Any, reports: list[tuple[Kept, Kept | None]], now: str) -> None:
    """Add new reports and corrections (each with the revision it corrects, or None) inside the caller's
    transaction (``DecisionLog.transaction``): a corrected revision is taken out of force."""
    corrected = [(_storable(old.report.project), old.report.status_date.isoformat(), old.revision)
                 for _, old in reports if old is not None]
    for start in range(0, len(corrected), BATCH):
        db.executemany("UPDATE status_reports SET in_force = 0 WHERE project = ? AND status_date = ? AND revision = ?",
                       corrected[start:start + BATCH])
    insert_report_rows(db, report_rows(reports, now))


_REPORT_SQL = f"INSERT INTO status_reports ({', '.join(REPORT_COLUMNS)}) VALUES ({', '.join('?' for _ in REPORT_COLUMNS)})"


def insert_report_rows(db: Any, rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert reports as rows made by :func:`report_rows` (by the ingest's worker processes, or in this one)."""
    for batch in _batches(iter(rows)):
        db.executemany(_REPORT_SQL, batch)


def write_rating_rows(db: Any, ratings: list[tuple[Any, ...]], escalations: list[tuple[Any, ...]],
                      rerated: Iterable[tuple[str, dt.date]] = ()) -> tuple[int, int]:
    """Record ratings and their escalations, as rows made by :func:`rating_row` and :func:`escalation_rows`
    (by the ingest's worker processes, or in this one), inside the caller's transaction. ``rerated``: (project,
    first date) of projects rated again from that date on: their earlier ratings and escalations from then are
    taken out of force first. Returns how many ratings and escalations were recorded."""
    _out_of_force(db, rerated)
    counts = [0, 0]
    for start in range(0, max(len(ratings), len(escalations)), BATCH):
        made, escalated = _insert_ratings(db, ratings[start:start + BATCH], escalations[start:start + BATCH])
        counts[0] += made
        counts[1] += escalated
    return counts[0], counts[1]


def _out_of_force(db: Any, rerated: Iterable[tuple[str, dt.date]]) -> None:
    stale = [(_storable(project), day.isoformat()) for project, day in rerated]
    for start in range(0, len(stale), BATCH):
        chunk = stale[start:start + BATCH]
        for table in ("health_ratings", "escalations"):
            db.executemany(f"UPDATE {table} SET in_force = 0 WHERE project = ? AND status_date >= ? AND in_force = 1",
                           chunk)


_RATING_SQL = (f"INSERT INTO health_ratings ({', '.join(RATING_COLUMNS)}) VALUES "
               f"({', '.join('?' for _ in RATING_COLUMNS)}) ON CONFLICT (project, status_date, policy_hash, basis) "
               "DO UPDATE SET in_force = 1")
_ESCALATION_SQL = (f"INSERT INTO escalations ({', '.join(ESCALATION_COLUMNS)}) VALUES "
                   f"({', '.join('?' for _ in ESCALATION_COLUMNS)}) ON CONFLICT "
                   "(project, status_date, policy_hash, basis, route) DO UPDATE SET in_force = 1")


def _insert_ratings(db: Any, ratings: list[tuple[Any, ...]], escalations: list[tuple[Any, ...]]) -> tuple[int, int]:
    made = db.executemany(_RATING_SQL, ratings) if ratings else 0
    escalated = db.executemany(_ESCALATION_SQL, escalations) if escalations else 0
    return made, escalated


def _batches(rows: Iterator[Any], size: int = BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def report_rows(reports: Sequence[tuple[Kept, Kept | None]], now: str) -> Iterator[tuple[Any, ...]]:
    """The status_reports rows of new reports and corrections (each with the revision it corrects, or None)."""
    for new, _ in reports:
        r = new.report
        source, line = r.rows[0] if r.rows else ("<input>", None)
        yield (_storable(r.project), r.status_date.isoformat(), new.revision, 1, new.digest, now, _storable(source),
               line, canonical([list(pair) for pair in r.rows]), r.tasks,
               *(new.values if new.values is not None else encoded_values(r)))


def rating_row(r: Rated, policy_hash: str, now: str) -> tuple[Any, ...]:
    return (_storable(r.project), r.status_date.isoformat(), policy_hash, r.basis, 1, now, r.rating, r.rule_id,
            r.rule_where, _storable(r.reason), canonical(r.rules), canonical(r.figures))


def escalation_rows(r: Rated, policy_hash: str) -> Iterator[tuple[Any, ...]]:
    for route, rules, reason in r.escalations:
        yield (_storable(r.project), r.status_date.isoformat(), policy_hash, r.basis, 1, _storable(route), rules,
               _storable(reason))


# ------------------------------------------------------------------------------------------ one project

def project_history(log: DecisionLog, project: str) -> dict[str, Any]:
    """Everything the history and the decision log know of one project, by date: each status report in force
    (its figures and source), its corrections (what changed, when, from what to what), the ratings in force
    (the rule that set each, file:line), escalations, and the intake and gate decisions logged for the project
    or for the proposal it came from."""
    name = _storable(project)
    with log._using("read") as db:
        columns, rows = db.select(f"{_SELECT} WHERE project = ? ORDER BY status_date, revision", [name])
        _, ratings = db.select("SELECT status_date, rating, rule_id, rule_where, reason, rules, figures, policy_hash, "
                               "rated FROM health_ratings WHERE project = ? AND in_force = 1 ORDER BY status_date, seq",
                               [name])
        _, escalations = db.select("SELECT status_date, route, rule_id, reason FROM escalations WHERE project = ? AND "
                                   "in_force = 1 ORDER BY status_date, seq", [name])
    revisions: dict[str, list[Kept]] = {}
    for row in rows:
        kept = _kept(row)
        revisions.setdefault(kept.report.status_date.isoformat(), []).append(kept)
    rating_of = {day: {"rating": rating, "rule": rule, "where": where, "reason": reason, "rules": json.loads(rules),
                       "figures": json.loads(figures), "policy_hash": policy, "rated": rated}
                 for day, rating, rule, where, reason, rules, figures, policy, rated in ratings}
    escalated: dict[str, list[dict[str, str]]] = {}
    for day, route, rule, reason in escalations:
        escalated.setdefault(day, []).append({"route": route, "rules": rule, "reason": reason})
    reports = []
    title = proposal = objective = None
    for day, revised in sorted(revisions.items()):
        current = revised[-1]
        values = current.report.values
        title, proposal, objective = values["title"] or title, values["proposal"] or proposal, \
            values["objective"] or objective
        source, line = current.report.rows[0] if current.report.rows else (None, None)
        reports.append({"status_date": day, "revision": current.revision, "ingested": current.ingested,
                        "source": source, "row": line, "tasks": current.report.tasks,
                        "values": {name: _shown(values[name]) for name in VALUES},
                        "corrections": _corrections(revised), "rating": rating_of.get(day),
                        "escalations": escalated.get(day, [])})
    ids = [name] + ([proposal] if proposal and proposal != name else [])
    decisions = []
    for ident in ids:
        decisions.extend(log.query(project=ident))
    decisions.sort(key=lambda e: e["seq"])
    if title is None:
        title = next((_title_of(e) for e in decisions if _title_of(e)), None)
    return {"project": project, "title": title, "proposal": proposal, "objective": objective, "reports": reports,
            "decisions": [_decision(e) for e in decisions]}


def _shown(value: Any) -> Any:
    if isinstance(value, Fraction):
        from engine.health.evm import rounded
        return str(rounded(value))
    if isinstance(value, (Decimal, dt.date)):
        return str(value)
    return value


def _corrections(revisions: list[Kept]) -> list[dict[str, Any]]:
    """Each revision after the first against the one before it: what changed, from what to what."""
    out = []
    for before, after in zip(revisions, revisions[1:]):
        changed = {name: {"from": _shown(before.report.values[name]), "to": _shown(after.report.values[name])}
                   for name in VALUES if before.report.values[name] != after.report.values[name]}
        if before.report.tasks != after.report.tasks:
            changed["tasks"] = {"from": before.report.tasks, "to": after.report.tasks}
        source, line = after.report.rows[0] if after.report.rows else (None, None)
        out.append({"revision": after.revision, "on": after.ingested, "source": source, "row": line,
                    "changed": changed})
    return out


def _title_of(entry: dict[str, Any]) -> str | None:
    data: dict[str, Any] = entry.get("input") or {}
    row: dict[str, Any] = data["row"] if isinstance(data.get("row"), dict) else data
    fields: dict[str, Any] = row["fields"] if isinstance(row.get("fields"), dict) else {}
    title = row.get("title") or fields.get("title")
    return title if isinstance(title, str) else None


def _decision(entry: dict[str, Any]) -> dict[str, Any]:
    return {"time": entry["time"], "kind": entry["kind"], "project": entry["project"], "gate": entry["gate"],
            "outcome": entry["outcome"], "title": _title_of(entry), "key": entry["key"],
            "override": entry["override"],
            "rules": [f["rule"] for f in entry["findings"] if isinstance(f, dict) and f.get("rule")],
            "failed": [f["criterion"] for f in entry["findings"]
                       if isinstance(f, dict) and f.get("criterion") and f.get("passed") is False]}
