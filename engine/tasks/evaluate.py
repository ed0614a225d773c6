"""An evaluate run: read an intake round, decide every row, write the decisions (and the decision log, and
the board report), resuming an interrupted run when asked. ``pmo evaluate`` and the HTTP service both call
:func:`evaluate`; ``pmo rank`` and ``pmo explain`` read and decide a round with the same :class:`IntakeRound`.

What the run has to tell people (warnings about the input, resuming) goes to ``say``, one line a call; a
run that cannot start or go on raises :class:`RunError` (nothing more is decided), whose message says why
and whose hint says how to carry on.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.api import Engine
from engine.compile.records import converter
from engine.decision import Decision, Verdict
from engine.errors import Diagnostic, InputError, PmoError
from engine.io.carry import Carrier
from engine.io.profile import ambiguity_survey, check_profile, load_profile
from engine.io.readers import ProposalRows, Row, one_currency_per_column, read_proposals, renamed
from engine.io.resume import RESUMABLE, ResumePoint, resume_point, run_record, save_record, saved_record, truncate
from engine.io.writers import CHUNK_FORMATS, csv_header, csv_writer, write_decisions, write_xlsx
from engine.report.roles import field_roles
from engine.store import DecisionLog, Entry, LogError
from engine.store.log import intake_entry

LOG_BATCH = 500  # decisions per log transaction
PARALLEL_FROM = 5_000  # below this many rows, starting worker processes costs more than it saves
BYTES_PER_ROW = 200  # a rough size of one proposal, to estimate rows from a file's size
SURVEY_ROWS = 200  # the first rows of a file that are looked at for amounts that read two ways
NOT_TYPED = object()  # a decision made in a worker process, whose typed record did not come back

Say = Callable[[str], None]
Progress = Callable[[Iterator[Decision], "int | None", int], Iterator[Decision]]  # (decisions, total, done)


class RunError(PmoError):
    """The run was refused before it started, or stopped: its first diagnostic says why, and its hint
    (when there is one) how to carry on."""

    def __init__(self, message: str, hint: str | None = None, code: str = "usage"):
        super().__init__([Diagnostic(code, message, hint=hint)])

    @property
    def message(self) -> str:
        return self.diagnostics[0].message

    @property
    def hint(self) -> str | None:
        return self.diagnostics[0].hint


def _silent(_: str) -> None:
    pass


@dataclass(frozen=True)
class IntakeRound:
    """The proposal files of an intake round, how to read them, and the policies that decide them."""
    files: Sequence[Path]
    sheet: str | None = None  # worksheet of an .xlsx input (None: the first)
    columns: Path | None = None  # input profile, or a plain column map
    workers: int | None = None  # None: one per core for a large round, else 1
    policies: Path | None = None  # None: the reference policies
    rules: Sequence[Path] = ()
    today: dt.date | None = None
    backend: str = "rete"

    def missing_files(self) -> list[str]:
        return [str(p) for p in self.files if not Path(p).is_file()]

    def load(self) -> Engine:
        """The engine for this round, reading cells as its input profile declares."""
        return profiled(Engine.load(self.policies, rules=self.rules, today=self.today, backend=self.backend),
                        self.columns)

    def rows(self, engine: Engine, say: Say | None = None, opened: list[ProposalRows] | None = None) -> Iterator[Row]:
        """The rows of every input file, renamed by the profile's header map. Opens each file now, so an
        unreadable file stops the run before anything is decided (InputError). With ``say``: warns once per
        file about columns that look wrong, and about amounts that mostly read two ways. ``opened`` receives
        each file's rows (for the count of empty rows)."""
        inputs = [read_proposals(path, self.sheet) for path in self.files]
        if opened is not None:
            opened.extend(inputs)
        profile = engine.profile
        if self.columns:
            # Rename each file's first row now: a header the map cannot apply is refused before anything is decided.
            inputs = [_started(renamed(rows, profile.columns)) for rows in inputs]
        money = [name for name, spec in engine.policy.fields.items()
                 if spec.type == "money" or spec.type == "list" and spec.items == "money"]
        inputs = [one_currency_per_column(rows, money, engine.raw_value, profile) for rows in inputs]
        if say is not None:
            inputs = [_surveyed(rows, engine, say) for rows in inputs]
        rows = (row for rows in inputs for row in rows)
        return _checked_headers(rows, engine, say) if say is not None else rows

    def decide(self, engine: Engine, rows: Iterable[Row], estimate: int | None,
               plain: bool = False) -> Iterator[tuple[Row, Any, Any]]:
        """(row, decision, typed record) in input order, with worker processes for large batches. Worker
        processes send decisions only: their record is NOT_TYPED, typed again when it is needed. ``plain``:
        decisions as plain records (engine.decision.Verdict), as the batch path formats and logs them."""
        workers = self.worker_count(estimate)
        if workers > 1:
            from engine.tasks.batch import decide_in_parallel  # lazy: multiprocessing, for large batches only
            pairs = decide_in_parallel(rows, workers=workers, policies=self.policies, rules=self.rules,
                                       today=engine.today, backend=self.backend, policy_hash=engine.policy_hash,
                                       profile=engine.profile if self.columns else None)
            if plain:
                return ((row, decision, NOT_TYPED) for row, decision in pairs)
            return ((row, decision.model(), NOT_TYPED) for row, decision in pairs)
        shown, decided = itertools.tee(rows)  # in lockstep: tee holds one row at a time
        if plain:
            return ((row, decision, record) for row, (decision, record) in zip(shown, engine.decide_plain(decided)))
        return ((row, decision, record) for row, (decision, record) in zip(shown, engine.decide_all(decided)))

    def worker_count(self, estimate: int | None) -> int:
        """``workers``, else one per core for a large batch. Without a row estimate (JSON, YAML, XLSX), the
        files' size decides."""
        if self.workers:
            return self.workers
        if estimate is None:
            estimate = sum(Path(path).stat().st_size for path in self.files) // BYTES_PER_ROW
        return 1 if estimate < PARALLEL_FROM else os.cpu_count() or 1


@dataclass(frozen=True)
class Output:
    """Where an evaluate run writes: the decisions (standard output, or ``out``), the report, the log."""
    format: str = "table"  # table, json, jsonl, csv or xlsx
    out: Path | None = None
    resume: bool = False  # continue an interrupted run into ``out``
    report: Path | None = None  # the board report (HTML)
    title: str | None = None
    log: str | Path | None = None  # the decision log (a SQLite path or a postgresql:// address); None: not logged
    status: tuple[Path, ...] = ()  # status reports: the report's health page (engine/report/health.py)


@dataclass
class Outcome:
    """What a run decided: the count of each outcome (rows an interrupted run decided included), and each
    input file's rows (for the empty rows skipped)."""
    counts: Counter
    inputs: list[ProposalRows] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def check(intake: IntakeRound, output: Output) -> None:
    """Refuse a run that cannot work, before anything is read."""
    missing = intake.missing_files()
    if missing:
        raise RunError(f"no such file: {', '.join(missing)}", code="no_file")
    if output.format == "xlsx" and not output.out:
        raise RunError("--format xlsx needs --out FILE.xlsx")
    if output.resume and (not output.out or output.format not in RESUMABLE or output.report):
        raise RunError("--resume needs --out FILE and --format csv or jsonl (formats that can be appended to), "
                       "and no --report (a report needs every row: make it afterwards with pmo rank --report)")


def evaluate(intake: IntakeRound, output: Output, stdout: IO[str], say: Say = _silent,
             progress: Progress | None = None, engine: Engine | None = None) -> Outcome:
    """Decide every row of ``intake`` and write the decisions as ``output`` says (to ``stdout`` without an
    ``out`` file). ``engine``: one already loaded (a service's), instead of loading ``intake``'s policies.
    ``progress`` wraps the stream of decisions (a terminal's progress line)."""
    opened: list[ProposalRows] = []
    try:
        return _evaluate(intake, output, stdout, say, progress, engine, opened)
    finally:
        for rows in opened:  # each input closed now, read to its end or not (a refused resume, an error)
            rows.close()


def _evaluate(intake: IntakeRound, output: Output, stdout: IO[str], say: Say, progress: Progress | None,
              engine: Engine | None, opened: list[ProposalRows]) -> Outcome:
    check(intake, output)
    point = resume_point(output.out, output.format) if output.resume else None
    if point is not None and point.as_of and intake.today is None:
        intake = dataclasses.replace(intake, today=dt.date.fromisoformat(point.as_of))
        say(f"pmo: resuming with today() = {point.as_of}, as the interrupted run")  # the date it started with
    if engine is None:
        engine = intake.load()
    for warning in engine.warnings:
        say(str(warning))
    derived = [name for name, _ in engine.policy.derived]
    carrier = Carrier(engine.profile, field_roles(engine.policy)["title"])
    carried = carrier.names
    # Open every input first: an unreadable file means nothing is decided (exit 2), not half a report.
    rows = intake.rows(engine, say, opened)
    record = run_record(intake.files, intake.sheet, intake.columns, engine.policy_hash) \
        if output.out and output.format in RESUMABLE and (output.out.is_file() or not output.out.exists()) else None
    if point is not None:
        problem = point.mismatch(engine.policy_hash, engine.today.isoformat(), intake.rows(engine, opened=opened),
                                 csv_header(derived, carried) if output.format == "csv" else None)
        if not problem and point.rows and record is not None:  # the rows line up; are they the same inputs?
            problem = record.mismatch(saved_record(output.out), output.out)
        if problem:
            raise RunError(f"cannot resume {output.out}: {problem}; write to a new --out file instead "
                           "(nothing was changed)")
    # The health page first: an unusable status file stops the run before anything is decided.
    health = engine.health_page(list(output.status)) if output.status and output.report else None
    log = None if output.log is None else DecisionLog(output.log)  # a LogError (exit 2) when it cannot open
    out = None
    try:
        if record is not None and not (point and point.rows):
            save_record(output.out, record)  # what this output is made from, for a resume
        relog = 0
        if point is not None:
            truncate(output.out, point)
            # The log commits every LOG_BATCH rows, so up to that many rows in the output may not be logged
            # yet: decide them again for the log (entries are idempotent) but do not write them again.
            relog = 0 if log is None else min(point.rows, LOG_BATCH)
            rows = itertools.islice(rows, point.rows - relog, None)
            _say_resuming(output.out, point, say)
        out = (output.out.open("a" if point else "w", encoding="utf-8", newline="")
               if output.format != "xlsx" else None) if output.out else stdout
        estimate = count_rows(intake.files)
        done = point.rows if point else 0
        left = None if estimate is None else max(estimate - done, 0)
        report: list | None = [] if output.report else None
        workers = intake.worker_count(left)
        if workers > 1 and output.format in CHUNK_FORMATS and report is None and not relog:
            # The workers decide, label, write and encode the log entries; here their chunks are only joined.
            from engine.tasks.batch import Writing, decide_in_parallel
            chunks = decide_in_parallel(rows, workers=workers, policies=intake.policies, rules=intake.rules,
                                        today=engine.today, backend=intake.backend, policy_hash=engine.policy_hash,
                                        profile=engine.profile if intake.columns else None,
                                        writing=Writing(output.format, tuple(derived), log is not None),
                                        engine=engine)
            counts = Counter()
            header = csv_header(derived, carried) if point is None or point.keep == 0 else None
            written = _written_by_workers(chunks, out, output.format, header, log, counts)
            for _ in (progress(written, estimate, done) if progress is not None else written):
                pass
        else:
            counts = _decided_here(engine, intake, output, out, rows, left, log, relog, report, carrier,
                                   (estimate, done), progress, point)
        if output.out and out is not None:
            out.close()  # a small output is still in the buffer: a full disk shows here, not in write()
        if report is not None:
            # lazy: the report (and the ranking) load only for --report (issue #15)
            from engine.report.build import write_report
            write_report(engine.report_of(report, title=output.title, health=health), output.report)
    except BrokenPipeError:
        raise  # a reader such as `head` stopped reading: not an error for the caller to report
    except OSError as exc:
        raise _cannot_write(exc, output) from None
    except LogError as exc:  # the database failed part-way (a full disk, a lost server)
        raise _cannot_write(OSError(0, exc.detail, exc.target), output) from None
    finally:
        if output.out and out is not None:
            with contextlib.suppress(OSError):  # after a full disk, closing fails too; the error is raised above
                out.close()
        if log is not None:
            log.close()
    if point is not None:
        counts.update(point.counts)
    return Outcome(counts, opened)


def _decided_here(engine: Engine, intake: IntakeRound, output: Output, out: IO[str] | None, rows: Iterator[Row],
                  left: int | None, log: DecisionLog | None, relog: int, report: list | None, carrier: Carrier,
                  progressed: tuple[int | None, int], progress: Progress | None, point: ResumePoint | None) -> Counter:
    """Decide in this process (or read the workers' decisions), label, log and write every decision."""
    derived, carried = [name for name, _ in engine.policy.derived], carrier.names
    triples = carrier.labelled(intake.decide(engine, rows, left, plain=True))
    logged = _logged(engine, triples, log)
    if relog:
        logged = _skip(logged, relog)
    decided = _kept(engine, logged, report) if report is not None else (d for _, d, _ in logged)
    if progress is not None:
        decided = progress(decided, *progressed)
    if output.format == "xlsx":
        return write_xlsx(decided, output.out, derived=derived, carried=carried)
    return write_decisions(decided, out, output.format, policy_hash=engine.policy_hash,
                           header=point is None or point.keep == 0, derived=derived, carried=carried,
                           titled=carrier.shows_title)


def profiled(engine: Engine, columns: Path | None) -> Engine:
    """The engine reading cells as the ``columns`` input profile declares (an old-style column map declares
    only headers). A profile that does not fit the policy is refused with located diagnostics."""
    if not columns:
        return engine
    profile = load_profile(columns)
    problems = check_profile(profile, engine.policy.fields, converter, engine.policy.strategy)
    if problems:
        raise InputError(problems)
    return engine.with_profile(profile)


def typed(engine: Engine, row: Row, decision: Decision, record: Any) -> Any:
    """The record a decision was made on, typing the row again if a worker process decided it."""
    if record is not NOT_TYPED:
        return record
    return engine.record_of(row) if decision.decision != "error" else None


def count_rows(paths: Iterable[Path]) -> int | None:
    """A quick estimate of the input rows (lines after each header) for CSV, TSV and JSONL; None otherwise."""
    total = 0
    for path in paths:
        suffix = Path(path).suffix.lower()
        if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson"):
            return None
        try:
            with open(path, "rb") as f:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda f=f: f.read(1 << 20), b""))
        except OSError:
            return None
        total += max(lines - (1 if suffix in (".csv", ".tsv") else 0), 0)
    return total


def _surveyed(rows: Iterator[Row], engine: Engine, say: Say) -> Iterator[Row]:
    """Say once, before the file's first decision, when most of its amounts read two ways (and how to fix it)."""
    first = list(itertools.islice(rows, SURVEY_ROWS))
    numeric = [name for name, spec in engine.policy.fields.items() if spec.type in ("money", "number")]
    said = ambiguity_survey(first, numeric, engine.raw_value, engine.profile)
    if said and first:
        say(f"pmo: warning: {first[0].source}: {said}")
    yield from first
    yield from rows


def _started(rows: Iterator[Row]) -> Iterator[Row]:
    first = next(rows, None)
    return itertools.chain([first], rows) if first is not None else rows


def _checked_headers(rows: Iterator[Row], engine: Engine, say: Say) -> Iterator[Row]:
    checked: set = set()
    for row in rows:
        # a row the reader refused may lack a column it dropped (a bad value): judge the header by a clean row
        if row.data is not None and row.error is None and row.source not in checked:
            checked.add(row.source)
            for problem in engine.header_problems(row.data.keys()):
                say(f"pmo: warning: {row.source}: {problem}")
            for name in Carrier(engine.profile, None).missing(row.data.keys()):
                say(f"pmo: warning: {row.source}: carried column '{name}' is not in the file; its cells are "
                    "empty in every output")
        yield row


def _say_resuming(path: Path, point: ResumePoint, say: Say) -> None:
    cut = "; a partial last row was cut off" if point.cut else ""
    rows = f"{point.rows:g} row" + ("" if point.rows == 1 else "s")
    say(f"pmo: resuming {path}: {rows} already decided{cut}; deciding the rest")


def _skip(items: Iterator, n: int) -> Iterator:
    for _ in itertools.islice(items, n):
        pass
    yield from items


def _kept(engine: Engine, triples: Iterable[tuple[Row, Decision, Any]], into: list) -> Iterator[Decision]:
    """Pass decisions on, keeping each with its typed record for the report."""
    for row, decision, record in triples:
        into.append((decision.model() if isinstance(decision, Verdict) else decision,
                     typed(engine, row, decision, record)))
        yield decision


def _cannot_write(exc: OSError, output: Output) -> RunError:
    """A full disk, a lost share, a read-only folder: say what stopped, and how to carry on without losing
    or repeating a row."""
    target = exc.filename or output.out or output.report or "the output"
    hint = None
    if output.out and output.format in RESUMABLE and str(target) != str(output.report):
        hint = (f"the rows already in {output.out} are kept; when the problem is fixed, run the same command "
                "with --resume to decide the rest")
    return RunError(f"cannot write {target}: {exc.strerror or exc}", hint, code="cannot_write")




def _logged(engine: Engine, triples, log: DecisionLog | None, batch: int = LOG_BATCH):
    """Pass each (row, decision, record) on; append the decision to the log, a batch per transaction."""
    pending: list[Entry] = []
    for row, decision, record in triples:
        if log is not None:
            pending.append(intake_entry(engine, row, decision))
            if len(pending) >= batch:
                log.append(pending)
                pending = []
        yield row, decision, record
    if log is not None:
        log.append(pending)


def _written_by_workers(chunks: Iterator, out: IO[str], fmt: str, header: list[str] | None,
                        log: DecisionLog | None, counts: Counter) -> Iterator[None]:
    """Write the workers' Formatted chunks in order (the CSV header before the first row), append their log
    entries (a transaction per LOG_BATCH rows, or more: whole chunks), count outcomes; one None per row, for
    the progress line."""
    pending: list[tuple] = []
    for chunk in chunks:
        if header is not None and chunk.rows:
            if fmt == "csv":
                csv_writer(out).writerow(header)
            header = None
        out.write(chunk.text)
        counts.update(chunk.counts)
        if log is not None and chunk.entries:
            pending += chunk.entries
            if len(pending) >= LOG_BATCH:
                log.append_encoded(pending)
                pending = []
        yield from itertools.repeat(None, chunk.rows)
    if log is not None:
        log.append_encoded(pending)
