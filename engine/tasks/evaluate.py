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
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from engine.api import Engine
from engine.compile.records import converter
from engine.decision import Decision, Verdict
from engine.errors import Diagnostic, InputError, PmoError
from engine.io.carry import Carrier
from engine.io.csvrows import RawChunk, chunk_encoding, line_offset, raw_chunks, rows_from
from engine.io.profile import ambiguity_survey, check_profile, load_profile
from engine.io.readers import ProposalRows, Row, csv_layout, one_currency_per_column, read_proposals, renamed
from engine.io.resume import RESUMABLE, ResumePoint, resume_point, run_record, save_record, saved_record, truncate
from engine.io.rows import EmptyRows, column_key
from engine.io.writers import CHUNK_FORMATS, csv_header, csv_writer, write_decisions, write_xlsx
from engine.report.roles import field_roles
from engine.store import DecisionLog, LogError
from engine.store.address import is_address
from engine.store.log import IntakeEncoder
from engine.tasks.repeats import RepeatedIds

if TYPE_CHECKING:
    from engine.tasks.logwriter import LogProcess

LOG_BATCH = 2_000  # decisions per log transaction (fewer, larger commits: each rewrites the key index's pages)
LOG_PROCESS = True  # the log written by a process of its own when this one can fork (engine/tasks/logwriter.py)
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
        inputs = opened_here = [read_proposals(path, self.sheet) for path in self.files]
        if opened is not None:
            opened.extend(inputs)
        profile = engine.profile
        if self.columns:
            # Rename each file's first row now: a header the map cannot apply is refused before anything is decided.
            inputs = [_started(renamed(rows, profile.columns)) for rows in inputs]
        money = money_fields(engine)
        inputs = [one_currency_per_column(rows, money, engine.raw_value, profile) for rows in inputs]
        if say is not None:
            inputs = [_judged_if_empty(_surveyed(rows, engine, say), self._judge(reader, engine, say))
                      for rows, reader in zip(inputs, opened_here)]
        rows = itertools.chain.from_iterable(inputs)
        return _checked_headers(rows, engine, say) if say is not None else rows

    def _judge(self, reader: ProposalRows, engine: Engine, say: Say) -> Callable[[], None] | None:
        """What warns about a file's header (its titles renamed by the profile's header map) when it has no rows."""
        header = reader.header
        if header is None:
            return None
        columns = engine.profile.columns if self.columns else {}
        titles = [columns.get(column_key(title), title) for title in header]
        return lambda: _header_warnings(engine, reader.source, titles, say)

    def work(self, engine: Engine, say: Say, opened: list[ProposalRows], skip: int = 0,
             chunk: int = 256) -> tuple[Iterator[Any], Any]:
        """The round as chunks for a batch's workers (engine.tasks.batch.Work), and the Ledger that takes what
        they find, in order. Each file's first rows (SURVEY_ROWS, or the ``skip`` rows a resumed run already
        decided, which are dropped) are read here as :meth:`rows` reads them, warnings included; the rest of a
        CSV file goes as raw bytes cut where records end, which the workers read; other files as rows read
        here, checked by the workers. Opens every file now (InputError, as :meth:`rows`)."""
        from engine.tasks.batch import Ledger  # lazy: multiprocessing, for large batches only

        readers = [read_proposals(path, self.sheet) for path in self.files]
        opened.extend(readers)
        streams: list[Iterator[Row]] = [iter(rows) for rows in readers]
        if self.columns:
            streams = [_started(renamed(rows, engine.profile.columns)) for rows in streams]
        ledger = Ledger(len(readers), lambda source, keys: _header_warnings(engine, source, keys, say))
        return self._work(engine, say, opened, readers, streams, ledger, skip, chunk), ledger

    def _work(self, engine: Engine, say: Say, opened: list[ProposalRows], readers: list[ProposalRows],
              streams: list[Iterator[Row]], ledger: Any, skip: int, chunk: int) -> Iterator[Any]:
        from engine.tasks.batch import Work

        money = tuple(money_fields(engine))
        for index, (path, reader, stream) in enumerate(zip(self.files, readers, streams)):
            def piece(rows: list[Row], check: bool = False, empty: EmptyRows | None = None,
                      index: int = index, reader: ProposalRows = reader) -> Work:
                return Work(rows=rows, file=index, source=reader.source, check=check, money=money, empty=empty)

            # The first rows, here: the same warnings as a run in one process, the same currency firsts
            first = one_currency_per_column(stream, money, engine.raw_value, engine.profile, ledger.firsts[index])
            read_here = _checked_headers(_judged_if_empty(_surveyed(first, engine, say),
                                                          self._judge(reader, engine, say)), engine, say, ledger.checked)
            batch: list[Row] = []
            for row in itertools.islice(read_here, max(SURVEY_ROWS, skip)):
                if skip:
                    skip -= 1
                    continue
                batch.append(row)
                if len(batch) == chunk:
                    yield piece(batch)
                    batch = []
            if batch:
                yield piece(batch)
            layout = _raw_layout(Path(path))
            rest: Iterator[Row] = stream
            if layout is not None:
                peek = next(stream, None)
                if peek is None:
                    continue
                offset = line_offset(Path(path), peek.row) if peek.row else None
                if offset is not None:
                    empty = EmptyRows(reader.empty_count, reader.empty_rows)  # the raw chunks' are counted on
                    ledger.empties[index] = empty
                    reader.close()
                    opened[opened.index(reader)] = ProposalRows(iter(()), reader.source, empty)
                    yield from self._raw_work(engine, Path(path), index, reader.source, layout, offset, peek.row,
                                              money, piece)
                    continue
                rest = itertools.chain([peek], stream)
            for rows in _batches(rest, chunk):
                yield piece(rows, check=True)

    def _raw_work(self, engine: Engine, path: Path, index: int, name: str | None, layout: tuple[str, str, list[str]],
                  offset: int, line: int, money: tuple[str, ...], piece: Callable[..., Any]) -> Iterator[Any]:
        from engine.tasks.batch import Work

        encoding, delimiter, header = layout
        for item in raw_chunks(path, offset, line, str(name), encoding, delimiter, header):
            if isinstance(item, RawChunk):
                yield Work(raw=item, file=index, source=name, check=True, money=money, rename=bool(self.columns))
                continue
            # a record too long for a chunk: the rest of the file is read here, as rows
            empty = EmptyRows()
            tail: Iterator[Row] = rows_from(path, item, encoding, header, delimiter, str(name), empty)
            if self.columns:
                tail = renamed(tail, engine.profile.columns)
            counted, kept = 0, 0
            for rows in _batches(tail, 256):
                found = EmptyRows(empty.count - counted, empty.lines[kept:])
                counted, kept = empty.count, len(empty.lines)
                yield piece(rows, check=True, empty=found)

    def decide(self, engine: Engine, rows: Iterable[Row], estimate: int | None,
               plain: bool = False, logged: bool = False) -> Iterator[tuple[Row, Any, Any]]:
        """(row, decision, typed record) in input order, with worker processes for large batches. Worker
        processes send decisions only: their record is NOT_TYPED, typed again when it is needed. ``plain``:
        decisions as plain records (engine.decision.Verdict), as the batch path formats and logs them.
        ``logged``: the decisions go to the decision log, so a worker's carry the digest of their record (the
        log's key; the record itself does not come back)."""
        workers = self.worker_count(estimate)
        if workers > 1:
            from engine.tasks.batch import decide_in_parallel  # lazy: multiprocessing, for large batches only
            pairs = decide_in_parallel(rows, workers=workers, policies=self.policies, rules=self.rules,
                                       today=engine.today, backend=self.backend, policy_hash=engine.policy_hash,
                                       profile=engine.profile if self.columns else None, logged=logged)
            if plain:
                return ((row, decision, NOT_TYPED) for row, decision in pairs)
            return ((row, decision.model(), NOT_TYPED) for row, decision in pairs)
        if plain:
            return _decided_plain(engine, rows)
        shown, decided = itertools.tee(rows)  # in lockstep: tee holds one row at a time
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
    estimate = count_rows(intake.files)
    done = point.rows if point else 0
    left = None if estimate is None else max(estimate - done, 0)
    # The log commits every LOG_BATCH rows, so up to that many rows in the output may not be logged yet: decide
    # them again for the log (entries are idempotent) but do not write them again. That is done in this process.
    relog = min(point.rows, LOG_BATCH) if point is not None and output.log is not None else 0
    workers = intake.worker_count(left)
    parallel = workers > 1 and output.format in CHUNK_FORMATS and not output.report and not relog
    # Open every input first: an unreadable file means nothing is decided (exit 2), not half a report.
    if parallel:
        work, ledger = intake.work(engine, say, opened, skip=done)
    else:
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
    sink: LogSink | LogProcess | None = None
    chunks: Any = None
    repeats = RepeatedIds()  # the ids of the rows decided in this run (a resumed run: of the rows after the resume)
    try:
        if record is not None and not (point and point.rows):
            save_record(output.out, record)  # what this output is made from, for a resume
        if point is not None:
            truncate(output.out, point)
            if not parallel:  # the workers' chunks start after the rows done (intake.work)
                rows = itertools.islice(rows, point.rows - relog, None)
            _say_resuming(output.out, point, say)
        out = (output.out.open("a" if point else "w", encoding="utf-8", newline="")
               if output.format != "xlsx" else None) if output.out else stdout
        report: list | None = [] if output.report else None
        if log is not None:
            sink = log_sink(log, out if output.format in ("csv", "jsonl", "json") else None, engine)
        if parallel:
            # The workers read, decide, label, write and encode the log entries; here their chunks are joined.
            from engine.tasks.batch import Writing, decide_in_parallel
            chunks = decide_in_parallel(workers=workers, policies=intake.policies, rules=intake.rules,
                                        today=engine.today, backend=intake.backend, policy_hash=engine.policy_hash,
                                        profile=engine.profile if intake.columns else None,
                                        writing=Writing(output.format, tuple(derived), log is not None),
                                        engine=engine, work=work, ledger=ledger)
            counts = Counter()
            header = csv_header(derived, carried) if point is None or point.keep == 0 else None
            written = _written_by_workers(chunks, out, output.format, header, sink, counts, repeats)
            for _ in (progress(written, estimate, done) if progress is not None else written):
                pass
        else:
            counts = _decided_here(engine, intake, output, out, rows, left, sink, relog, report, carrier,
                                   (estimate, done), progress, point, repeats)
        if sink is not None:
            sink.close()  # the log's last batch, then the output's last rows
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
        if chunks is not None:  # the workers' pool shut down now, also when the run stopped part-way
            chunks.close()
        if sink is not None:
            sink.stop()
        if output.out and out is not None:
            with contextlib.suppress(OSError):  # after a full disk, closing fails too; the error is raised above
                out.close()
        if log is not None:
            log.close()
    for line in repeats.warnings():  # as pmo rank and explain say them
        say(line)
    if point is not None:
        counts.update(point.counts)
    return Outcome(counts, opened)


def _decided_here(engine: Engine, intake: IntakeRound, output: Output, out: IO[str] | None, rows: Iterator[Row],
                  left: int | None, sink: LogSink | LogProcess | None, relog: int, report: list | None,
                  carrier: Carrier, progressed: tuple[int | None, int], progress: Progress | None,
                  point: ResumePoint | None, repeats: RepeatedIds) -> Counter:
    """Decide in this process (or read the workers' decisions), label, log and write every decision (through
    ``sink`` when it writes the output: after the log)."""
    derived, carried = [name for name, _ in engine.policy.derived], carrier.names
    if output.format != "table" and report is None:  # the title is shown in a table and a report only
        carrier = Carrier(engine.profile, None)
    triples = intake.decide(engine, rows, left, plain=True, logged=sink is not None)
    if carrier.names or carrier.shows_title:
        triples = carrier.labelled(triples)
    logged = _logged(engine, triples, sink) if sink is not None else triples
    if sink is not None and sink.out is not None:
        out = sink  # type: ignore[assignment]
    if relog:
        logged = _skip(logged, relog)
    decided = _kept(engine, logged, report) if report is not None else (d for _, d, _ in logged)
    decided = _ids_seen(decided, repeats)
    if progress is not None:
        decided = progress(decided, *progressed)
    if output.format == "xlsx":
        return write_xlsx(decided, output.out, derived=derived, carried=carried)
    return write_decisions(decided, out, output.format, policy_hash=engine.policy_hash,
                           header=point is None or point.keep == 0, derived=derived, carried=carried,
                           titled=carrier.shows_title)


def _decided_plain(engine: Engine, rows: Iterable[Row]) -> Iterator[tuple[Row, Verdict, Any]]:
    """(row, decision, typed record) of each row, decided here as plain records: ``Engine.decide_plain`` without
    a tee around it, in one generator (the batch path's layers per row)."""
    return engine._plain_rows(rows)


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


def _judged_if_empty(rows: Iterator[Row], judge: Callable[[], None] | None) -> Iterator[Row]:
    """Rows as they come; a file that has none has its header judged all the same (``judge``): a header-only
    file whose columns name no field would otherwise say '0 rows in' and nothing more."""
    empty = True
    for row in rows:
        empty = False
        yield row
    if empty and judge is not None:
        judge()


def _checked_headers(rows: Iterator[Row], engine: Engine, say: Say, checked: set | None = None) -> Iterator[Row]:
    """Rows as they come; warns about each file's columns at its first clean row (``checked``: the files done)."""
    checked = set() if checked is None else checked
    for row in rows:
        # a row the reader refused may lack a column it dropped (a bad value): judge the header by a clean row,
        # or by one with cells beyond the header (it has every column: a title row taken for the header)
        if row.data is not None and (row.error is None or row.error.code == "extra_cells") \
                and row.source not in checked:
            checked.add(row.source)
            _header_warnings(engine, str(row.source), row.data.keys(), say)
        yield row


def _header_warnings(engine: Engine, source: str, keys: Iterable[Any], say: Say) -> None:
    keys = list(keys)
    for problem in engine.header_problems(keys):
        say(f"pmo: warning: {source}: {problem}")
    for name in Carrier(engine.profile, None).missing(keys):
        say(f"pmo: warning: {source}: carried column '{name}' is not in the file; its cells are "
            "empty in every output")


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def money_fields(engine: Engine) -> list[str]:
    """The policy's fields that hold amounts (one currency per column)."""
    return [name for name, spec in engine.policy.fields.items()
            if spec.type == "money" or spec.type == "list" and spec.items == "money"]


def _raw_layout(path: Path) -> tuple[str, str, list[str]] | None:
    """A CSV file's (codec, delimiter, header) when its bytes can be cut into raw chunks, else None."""
    if path.suffix.lower() not in (".csv", ".tsv"):
        return None
    encoding, delimiter, header = csv_layout(path)
    codec = chunk_encoding(encoding)
    return None if codec is None else (codec, delimiter, header)


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
    if output.out and exc.filename and Path(str(exc.filename)).name == f".{Path(output.out).name}.pmo-run":
        target = output.out  # the run's record beside the output: the user named the output, not it
    hint = None
    folder = None if is_address(target) else Path(str(target)).parent  # a log's server has no folder
    if folder is not None and not folder.is_dir():  # nothing was written: there is no folder to write in
        hint = f"the folder {folder} does not exist: create it, or give another path"
    elif output.out and output.format in RESUMABLE and str(target) != str(output.report):
        hint = (f"the rows already in {output.out} are kept; when the problem is fixed, run the same command "
                "with --resume to decide the rest")
    return RunError(f"cannot write {target}: {exc.strerror or exc}", hint, code="cannot_write")


class LogSink:
    """The decision log, and the output written after it, from a thread of their own: ``add`` takes a decision's
    encoded entry, ``write`` the output's text. Every LOG_BATCH entries (a transaction), the thread commits them
    and then writes the text written so far, so the output never holds a row whose decision the log lacks (a
    kill or a failure leaves the log ahead, and a resume's repeat of a logged decision adds nothing). SQLite's
    and a file's writes release the GIL: deciding goes on meanwhile. ``out`` None: the log only (the output is
    written elsewhere: a workbook, a table). A failure of either is raised here, at the next batch or at close."""

    def __init__(self, log: DecisionLog, out: IO[str] | None, batch: int = LOG_BATCH):
        self.log, self.out, self.batch = log, out, batch
        self._entries: list[tuple] = []
        self._texts: list[str] = []
        self._queue: queue.Queue = queue.Queue(maxsize=2)  # batches waiting: memory bounded
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pmo-log", daemon=True)
        self._thread.start()

    def add(self, entry: tuple) -> None:
        self._entries.append(entry)
        if len(self._entries) >= self.batch:
            self._send()

    def extend(self, entries: bytes | list[tuple], count: int | None = None) -> None:
        """Entries encoded elsewhere: a list, or a list pickled (as a batch's workers send theirs)."""
        if isinstance(entries, bytes):  # pickled by a batch's worker
            import pickle

            entries = pickle.loads(entries)
        self._entries += entries
        if len(self._entries) >= self.batch:
            self._send()

    def write(self, text: str) -> int:
        self._texts.append(text)
        return len(text)

    def close(self) -> None:
        """Commit and write the rest, and wait for it; raises what failed."""
        self._send()
        self.stop()
        if self._failed is not None:
            raise self._failed

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _send(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._entries or self._texts:
            self._queue.put((self._entries, "".join(self._texts)))
            self._entries, self._texts = [], []

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._failed is not None:
                continue  # drained, not written: the main thread raises the failure
            entries, text = item
            try:
                if entries:
                    self.log.append_encoded(entries)
                if text and self.out is not None:
                    self.out.write(text)
            except BaseException as exc:  # noqa: BLE001 (raised again in the main thread)
                self._failed = exc


def log_sink(log: DecisionLog, out: IO[str] | None, engine: Engine) -> LogSink | LogProcess:
    """The log's writer for a run: a process of its own when this process can fork (LOG_PROCESS), else a thread."""
    from engine.tasks.processes import can_fork  # lazy: ctypes, for a logged batch only

    if LOG_PROCESS and can_fork():
        from engine.tasks.logwriter import LogProcess

        return LogProcess(log, out, engine, LOG_BATCH)
    return LogSink(log, out)


def _logged(engine: Engine, triples, sink: LogSink | LogProcess | None):
    """Pass each (row, decision, record) on; add the decision to the log (encoded here for the thread, by the
    writer process for a LogProcess)."""
    if sink is None:
        yield from triples
        return
    decided = getattr(sink, "decided", None)  # a LogProcess
    if decided is not None:
        for row, decision, record in triples:
            decided(row, decision)
            yield row, decision, record
        return
    encoder = IntakeEncoder(engine)
    for row, decision, record in triples:
        sink.add(encoder.row(row, decision, record))
        yield row, decision, record


def _ids_seen(decisions: Iterable[Any], repeats: RepeatedIds, batch: int = 256) -> Iterator[Any]:
    """The decisions as they come, their ids given to ``repeats`` a batch at a time (one source a call)."""
    ids: list[str | None] = []
    rows: list[int | None] = []
    source: str | None = None
    for decision in decisions:
        if decision.source != source or len(ids) >= batch:
            repeats.add_many(ids, source, rows)
            ids, rows, source = [], [], decision.source
        ids.append(decision.id)
        rows.append(decision.row)
        yield decision
    repeats.add_many(ids, source, rows)


def _written_by_workers(chunks: Iterator, out: IO[str], fmt: str, header: list[str] | None,
                        sink: LogSink | LogProcess | None, counts: Counter, repeats: RepeatedIds) -> Iterator[None]:
    """Write the workers' Formatted chunks in order (the CSV header before the first row) and their log entries
    (through ``sink``, which writes the text after the log's transaction), count outcomes; one None per row, for
    the progress line."""
    target = out if sink is None else sink
    for chunk in chunks:
        if header is not None and chunk.rows:
            if fmt == "csv":
                csv_writer(target).writerow(header)
            header = None
        if sink is not None and chunk.entries:
            sink.extend(chunk.entries, chunk.rows)
        target.write(chunk.text)
        counts.update(chunk.counts)
        if chunk.ids:
            repeats.add_many(*chunk.ids)
        yield from itertools.repeat(None, chunk.rows)
