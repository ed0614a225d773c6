"""Deciding a batch with worker processes, in input order, losing no row when a worker dies.

Work goes to the workers in chunks (a bounded number in flight, so memory does not grow with the batch): a
CSV file's raw bytes cut where records end (``Work.raw``; the worker reads, renames and checks the rows), or
rows read here (other formats, a file's first rows). Results come back in input order, so the output is
identical to a one-worker run; what a chunk found that later chunks depend on (the first currency of each
money column, its empty rows, its first clean row for the header check) is taken in that order too
(:class:`Ledger`). When a worker dies
(a crash in the C engine, a kill), its chunks are retried in a fresh pool; a chunk that fails twice is
retried row by row; a row that kills a worker twice becomes an ``engine_error`` row. The batch finishes.

Workers die with the batch, however it ends (a kill -9 included): engine/tasks/processes.py.
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import pickle
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from engine.api import Engine
from engine.decision import RowError, Verdict
from engine.expr.values import id_text
from engine.io.carry import Carrier
from engine.io.csvrows import RawChunk, chunk_rows
from engine.io.readers import Row, one_currency_per_column, renamed
from engine.io.rows import EmptyRows
from engine.io.writers import format_rows
from engine.store.log import IntakeEncoder
from engine.tasks.processes import die_with


@dataclass(frozen=True)
class Fault:
    """Fault injection for the crash tests (docs/reliability.md): a worker deciding the proposal ``kill_on_id``
    exits at once (``os._exit``: no cleanup, no exception, as a crash would); with ``once_file``, only the first
    time (the file marks that it happened)."""

    kill_on_id: str
    once_file: str | None = None


FAULT: Fault | None = None  # set by tests only (tests/test_batch.py); each pool hands it to its workers at start

_engine: Engine | None = None  # in a worker: the engine it decides with (set by _start)
_fault: Fault | None = None  # in a worker: FAULT as the parent had it when the pool started


def _start(policies: Any, rules: list[Any], today: dt.date, backend: str, profile: Any = None,
           parent: int | None = None, fault: Fault | None = None, inherited: Engine | None = None) -> None:
    global _engine, _fault
    _fault = fault
    if parent is not None:
        die_with(parent)
    if inherited is not None:  # the parent's engine, in a forked worker's copy of its memory: no second start-up
        _engine = inherited
        return
    _engine = Engine.load(policies, rules=rules, today=today, backend=backend)
    if profile is not None:
        _engine = _engine.with_profile(profile)


def _decide(rows: list[Row], logged: bool = True) -> list[Verdict]:
    if _fault is not None:  # tests: die like a crash at the row the fault names, before the chunk is answered
        for row in rows:
            if row.data and str(row.data.get("id")) == _fault.kill_on_id:
                once = _fault.once_file
                if not once or not os.path.exists(once):
                    if once:
                        open(once, "w").close()
                    os._exit(70)  # die like a crash: no cleanup, no exception
    engine = _worker_engine()
    if not logged:  # (the digest is ~19 us a row: only for a run that logs)
        return [verdict for verdict, _ in engine.decide_plain(rows)]
    decided = []
    digest = _encoder_of(engine).digest
    for verdict, record in engine.decide_plain(rows):
        if record is not None:  # the decision log's key is made from the record, which does not go back
            verdict.read_digest = digest(record)
        decided.append(verdict)
    return decided


@dataclass
class Work:
    """One chunk of a batch: rows read in the parent (``rows``), or whole records of a CSV file (``raw``) that
    the worker reads, and renames by the profile's header map (``rename``). ``check``: the worker checks one
    currency per money column (``money``) of the rows, knowing ``known``: what the chunks before it found in its
    file (``file``, the input's index), set when the chunk is sent. ``empty``: empty rows the parent skipped
    while reading ``rows``, to count in order."""
    rows: list[Row] | None = None
    raw: RawChunk | None = None
    file: int = 0
    source: str | None = None
    check: bool = False
    money: tuple[str, ...] = ()
    rename: bool = False
    known: dict[Any, Any] | None = None
    empty: EmptyRows | None = None


@dataclass
class Formatted:
    """A chunk of rows decided and written by a worker: the output's text for them (``format_rows``), how many
    of each outcome, and their decision log entries encoded (``engine.store.log.encoded``, a pickled list; None: not
    logged).
    What the chunk's rows found, for the Ledger: ``learned``, the first currency of money columns ``known`` did
    not have; ``empty``, the empty rows skipped reading raw records; ``keys``, the columns of its first clean row."""
    text: str
    counts: Counter[str]
    rows: int
    entries: bytes | None = None  # a pickled list
    learned: dict[Any, Any] = field(default_factory=dict)
    empty: EmptyRows | None = None
    keys: tuple[str, ...] | None = None
    ids: tuple[Any, ...] | None = None  # (ids, source, rows) of the chunk's rows: the parent looks for repeated ids


class Ledger:
    """What the parent takes from the chunks, in input order: each file's first currency per money column
    (``firsts[file]``, which the chunks after are checked with), empty rows (counted into ``empties[file]``),
    and the header check of a file whose first rows had no clean row (``header(source, keys)``, once per
    source in ``checked``)."""

    def __init__(self, files: int, header: Callable[[str, tuple[str, ...]], None]):
        self.firsts: list[dict[Any, Any]] = [{} for _ in range(files)]
        self.empties: dict[int, EmptyRows] = {}
        self.checked: set[str | None] = set()
        self._header = header

    def known(self, work: Work) -> dict[Any, Any]:
        return dict(self.firsts[work.file])

    def take(self, work: Work, result: Formatted) -> bool:
        """Take a chunk's findings; False when it must be decided again: a chunk before it (still being
        decided when it was sent) found a first currency in a column that this one found one in too."""
        firsts = self.firsts[work.file]
        if any(key in firsts for key in result.learned):
            return False
        firsts.update(result.learned)
        for found in (work.empty, result.empty):
            if found is not None and found.count:
                into = self.empties.setdefault(work.file, EmptyRows())
                for line in found.lines:
                    into.add(line)
                into.count += found.count - len(found.lines)
        if result.keys is not None and work.source not in self.checked:
            self.checked.add(work.source)
            self._header(str(work.source), result.keys)
        return True


@dataclass(frozen=True)
class Writing:
    """What workers write for each chunk: the output format (csv or jsonl), the derived values' columns, whether
    the decision log is written."""
    fmt: str
    derived: tuple[str, ...]
    log: bool = False


def formatted(rows: list[Row], decisions: list[Verdict], writing: Writing, engine: Any) -> Formatted:
    """Decided rows as a Formatted chunk: labelled with the profile's carried columns, written, logged."""
    carrier = Carrier(engine.profile, None)  # csv and jsonl carry the profile's columns; the title is not in them
    labelled = [carrier.label(decision, row.data) for row, decision in zip(rows, decisions)] if carrier.names \
        else decisions
    counts = Counter(d.decision for d in labelled)
    text = format_rows(labelled, writing.fmt, list(writing.derived), carrier.names)
    entries = None
    if writing.log:
        encoder = _encoder_of(engine)
        # pickled here, once: the parent passes the bytes on to the log's writer process unread
        entries = pickle.dumps([encoder.row(row, d) for row, d in zip(rows, labelled)], pickle.HIGHEST_PROTOCOL)
    ids = ([d.id for d in labelled], labelled[0].source, [d.row for d in labelled]) if labelled else None
    return Formatted(text, counts, len(rows), entries, ids=ids)


_encoders: dict[int, tuple[Any, IntakeEncoder]] = {}


def _encoder_of(engine: Any) -> IntakeEncoder:
    """One IntakeEncoder per engine (a worker's, or the parent's for its engine_error rows)."""
    kept = _encoders.get(id(engine))
    if kept is None or kept[0] is not engine:
        if len(_encoders) >= 8:  # a service that reloads its policies: do not keep the old engines alive
            _encoders.clear()
        kept = _encoders[id(engine)] = (engine, IntakeEncoder(engine))
    return kept[1]


def read_work(work: Work, engine: Any) -> tuple[list[Row], EmptyRows | None]:
    """A chunk's rows (a raw chunk read and renamed here) and the empty rows skipped reading them."""
    if work.raw is None:
        return work.rows or [], None
    empty = EmptyRows()
    rows: Iterable[Row] = chunk_rows(work.raw, empty)
    if work.rename:
        rows = renamed(iter(rows), engine.profile.columns)
    return list(rows), empty


def checked_work(work: Work, rows: list[Row], engine: Any) -> tuple[list[Row], dict[Any, Any]]:
    """The rows with one currency per money column checked (``work.check``), and the firsts they found."""
    if not work.check:
        return rows, {}
    known = work.known or {}
    seen = dict(known)
    rows = list(one_currency_per_column(rows, work.money, engine.raw_value, engine.profile, seen))
    return rows, {key: first for key, first in seen.items() if key not in known}


def _clean_keys(rows: list[Row]) -> tuple[str, ...] | None:
    return next((tuple(row.data) for row in rows if row.data is not None and row.error is None), None)


def _worker_engine() -> Engine:
    if _engine is None:
        raise RuntimeError("a batch worker decides only after _start")
    return _engine


def _work_and_write(work: Work, writing: Writing) -> Formatted:
    engine = _worker_engine()
    rows, empty = read_work(work, engine)
    rows, learned = checked_work(work, rows, engine)
    result = formatted(rows, _decide(rows, writing.log), writing, engine)
    result.learned, result.empty, result.keys = learned, empty, _clean_keys(rows)
    return result


def decide_in_parallel(rows: Iterable[Row] = (), *, workers: int, policies: Any = None, rules: Iterable[Any] = (),
                       today: dt.date, backend: str = "rete", chunk: int = 256, policy_hash: str = "",
                       profile: Any = None, writing: Writing | None = None, engine: Any = None,
                       work: Iterable[Work] | None = None, ledger: Ledger | None = None,
                       logged: bool = True) -> Iterator[Any]:
    """(row, decision) pairs in input order, each decision a plain record (``.model()``: the Decision).
    ``profile``: the input profile the workers read cells with. With ``writing``: Formatted chunks in input
    order instead (the workers decide, write and encode the log entries; ``engine``, the parent's, writes
    the engine_error rows of rows that stopped a worker twice), of ``work`` (chunks, whose findings go to
    ``ledger``) instead of ``rows``."""
    context = multiprocessing.get_context()
    # A forked worker gets the parent's engine as it is (a process's arguments are not pickled when it forks);
    # a spawned one loads the policies.
    inherited = engine if context.get_start_method() == "fork" else None
    setup = (policies, list(rules), today, backend, profile, os.getpid(), FAULT, inherited)  # FAULT: tests only
    if work is None:
        source = iter(rows)
        work = (Work(rows=batch) for batch in iter(lambda: [row for _, row in zip(range(chunk), source)], []))
    items = iter(work)
    pending: deque[list[Any]] = deque()  # entries [work, future or None, failures]
    careful = 0  # after a crash, run this many chunks one at a time, so a crash names its chunk
    pool = ProcessPoolExecutor(workers, context, _start, setup)
    try:
        while True:
            while len(pending) < workers * 4:
                item = next(items, None)
                if item is None:
                    break
                pending.append([item, None, 0])
            if not pending:
                return
            head = pending[0]
            try:
                for entry in list(pending)[: 1 if careful else len(pending)]:
                    if entry[1] is None:
                        if ledger is not None and entry[0].check:
                            entry[0].known = ledger.known(entry[0])
                        entry[1] = pool.submit(_decide, entry[0].rows, logged) if writing is None else \
                            pool.submit(_work_and_write, entry[0], writing)
                decisions = head[1].result()
            except BrokenProcessPool:  # a worker died: on submitting, or while we waited
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(workers, context, _start, setup)
                _after_crash(pending, policy_hash, today.isoformat(), engine, ledger)
                careful = len(pending)
                continue
            if writing is None:
                pending.popleft()
                careful = max(careful - 1, 0)
                yield from zip(head[0].rows, decisions)
                continue
            if not isinstance(decisions, Formatted):  # an engine_error row made here
                if ledger is not None and head[0].check:
                    head[0].known = ledger.known(head[0])
                rows, learned = checked_work(head[0], head[0].rows, engine)
                decisions = formatted(rows, decisions, writing, engine)
                decisions.learned, decisions.keys = learned, _clean_keys(rows)
            if ledger is not None and not ledger.take(head[0], decisions):
                head[1] = None  # decided with an outdated currency: again, with what the chunks before found
                continue
            pending.popleft()
            careful = max(careful - 1, 0)
            yield decisions
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _after_crash(pending: deque[list[Any]], policy_hash: str, as_of: str, engine: Any = None, ledger: Ledger | None = None) -> None:
    """Every unfinished chunk is sent again. The head failed once more: after two failures a chunk is tried
    row by row (a raw chunk is read here first), and a single row that fails twice is reported as an engine
    error."""
    for entry in pending:
        entry[1] = None
    head = pending[0]
    head[2] += 1
    if head[2] < 2:
        return
    pending.popleft()
    work: Work = head[0]
    if work.raw is not None:
        rows, empty = read_work(work, engine)
        if ledger is not None and empty is not None:
            ledger.take(Work(file=work.file, source=work.source, empty=empty), Formatted("", Counter(), 0))
        work = Work(rows=rows, file=work.file, source=work.source, check=work.check, money=work.money)
    rows = work.rows or []
    if len(rows) > 1 or work.raw is not None or not rows:
        for row in reversed(rows):
            pending.appendleft([Work(rows=[row], file=work.file, source=work.source, check=work.check,
                                     money=work.money, empty=None), None, 0])
        if work.empty is not None and ledger is not None:  # the parent's count of empty rows, taken now, in order
            ledger.take(Work(file=work.file, source=work.source, empty=work.empty), Formatted("", Counter(), 0))
    else:
        pending.appendleft([work, _Done([_engine_error(rows[0], policy_hash, as_of)]), 2])


class _Done:
    """A finished 'future' holding a result made here."""

    def __init__(self, value: Any):
        self.value = value

    def result(self) -> Any:
        return self.value


def _engine_error(row: Row, policy_hash: str, as_of: str | None = None) -> Verdict:
    ident = row.data.get("id") if row.data else None
    return Verdict(id_text(ident), "error", [], [], {},
                   [RowError(row=row.row, code="engine_error",
                             message="deciding this row stopped the rules engine twice; it was skipped")],
                   policy_hash, as_of, row.source, row.row)
