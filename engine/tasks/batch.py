"""Deciding a batch with worker processes, in input order, losing no row when a worker dies.

Rows go to the workers in chunks (a bounded number in flight, so memory does not grow with the batch);
results come back in input order, so the output is identical to a one-worker run. When a worker dies
(a crash in the C engine, a kill), its chunks are retried in a fresh pool; a chunk that fails twice is
retried row by row; a row that kills a worker twice becomes an ``engine_error`` row. The batch finishes.

Workers die with the batch, however it ends (a kill -9 included): on Linux the kernel sends them SIGKILL
when the parent dies (PR_SET_PDEATHSIG), and everywhere a thread in each worker watches the parent and
exits when it is gone.
"""
from __future__ import annotations

import ctypes
import datetime as dt
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from engine.api import Engine
from engine.decision import RowError, Verdict
from engine.expr.values import id_text
from engine.io.carry import Carrier
from engine.io.readers import Row
from engine.io.writers import format_rows
from engine.store.log import encoded, intake_entry


@dataclass(frozen=True)
class Fault:
    """Fault injection for the crash tests (docs/reliability.md): a worker deciding the proposal ``kill_on_id``
    exits at once (``os._exit``: no cleanup, no exception, as a crash would); with ``once_file``, only the first
    time (the file marks that it happened)."""

    kill_on_id: str
    once_file: str | None = None


FAULT: Fault | None = None  # set by tests only (tests/test_batch.py); each pool hands it to its workers at start

_engine = None
_fault: Fault | None = None  # in a worker: FAULT as the parent had it when the pool started
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_WATCH_SECONDS = 0.5


def _start(policies, rules, today: dt.date, backend: str, profile=None, parent: int | None = None,
           fault: Fault | None = None) -> None:
    global _engine, _fault
    _fault = fault
    if parent is not None:
        _die_with(parent)
    _engine = Engine.load(policies, rules=rules, today=today, backend=backend)
    if profile is not None:
        _engine = _engine.with_profile(profile)


def _die_with(parent: int) -> None:
    """Make this worker end when the process that started the batch ends."""
    if sys.platform.startswith("linux"):
        # The signal comes when the thread that started this worker ends: the batch's own thread, which
        # outlives the pool (decide_in_parallel shuts it down before returning).
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watch below still ends this worker
    if not _alive(parent):  # it died before the signal was armed
        os._exit(0)
    threading.Thread(target=_watch, args=(parent, os.getppid()), name="pmo-parent-watch", daemon=True).start()


def _watch(parent: int, first_parent: int) -> None:
    """The portable fallback: exit once the parent is gone (reparented, or no such process)."""
    while True:
        time.sleep(PARENT_WATCH_SECONDS)
        if os.getppid() != first_parent or not _alive(parent):
            os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the pid now belongs to another user's process: ours is gone
        return False
    return True


def _decide(rows: list[Row]) -> list[Verdict]:
    out = []
    for row in rows:
        if _fault is not None and row.data and str(row.data.get("id")) == _fault.kill_on_id:
            once = _fault.once_file
            if not once or not os.path.exists(once):
                if once:
                    open(once, "w").close()
                os._exit(70)  # die like a crash: no cleanup, no exception
        out.append(next(_engine.decide_plain([row]))[0])  # type: ignore[union-attr]
    return out


@dataclass
class Formatted:
    """A chunk of rows decided and written by a worker: the output's text for them (``format_rows``), how many
    of each outcome, and their decision log entries encoded (``engine.store.log.encoded``; None: not logged)."""
    text: str
    counts: Counter
    rows: int
    entries: list[tuple] | None = None


@dataclass(frozen=True)
class Writing:
    """What workers write for each chunk: the output format (csv or jsonl), the derived values' columns, whether
    the decision log is written."""
    fmt: str
    derived: tuple[str, ...]
    log: bool = False


def formatted(rows: list[Row], decisions: list[Verdict], writing: Writing, engine) -> Formatted:
    """Decided rows as a Formatted chunk: labelled with the profile's carried columns, written, logged."""
    carrier = Carrier(engine.profile, None)  # csv and jsonl carry the profile's columns; the title is not in them
    labelled = [carrier.label(decision, row.data) for row, decision in zip(rows, decisions)]
    counts = Counter(d.decision for d in labelled)
    text = format_rows(labelled, writing.fmt, list(writing.derived), carrier.names)
    entries = None
    if writing.log:
        entries = encoded(intake_entry(engine, row, d) for row, d in zip(rows, labelled))
    return Formatted(text, counts, len(rows), entries)


def _decide_and_write(rows: list[Row], writing: Writing) -> Formatted:
    return formatted(rows, _decide(rows), writing, _engine)


def decide_in_parallel(rows: Iterable[Row], *, workers: int, policies=None, rules=(), today: dt.date,
                       backend: str = "rete", chunk: int = 256, policy_hash: str = "",
                       profile=None, writing: Writing | None = None, engine=None) -> Iterator:
    """(row, decision) pairs in input order, each decision a plain record (``.model()``: the Decision).
    ``profile``: the input profile the workers read cells with. With ``writing``: Formatted chunks in input
    order instead (the workers decide, write and encode the log entries; ``engine``, the parent's, writes
    the engine_error rows of rows that stopped a worker twice)."""
    setup = (policies, list(rules), today, backend, profile, os.getpid(), FAULT)  # FAULT: None but in tests
    source = iter(rows)
    pending: deque = deque()  # entries [rows, future or None, failures]
    careful = 0  # after a crash, run this many chunks one at a time, so a crash names its chunk
    pool = ProcessPoolExecutor(workers, initializer=_start, initargs=setup)
    try:
        while True:
            while len(pending) < workers * 4:
                batch = [row for _, row in zip(range(chunk), source)]
                if not batch:
                    break
                pending.append([batch, None, 0])
            if not pending:
                return
            head = pending[0]
            try:
                for entry in list(pending)[: 1 if careful else len(pending)]:
                    if entry[1] is None:
                        entry[1] = pool.submit(_decide, entry[0]) if writing is None else \
                            pool.submit(_decide_and_write, entry[0], writing)
                decisions = head[1].result()
            except BrokenProcessPool:  # a worker died: on submitting, or while we waited
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(workers, initializer=_start, initargs=setup)
                _after_crash(pending, policy_hash, today.isoformat())
                careful = len(pending)
                continue
            pending.popleft()
            careful = max(careful - 1, 0)
            if writing is None:
                yield from zip(head[0], decisions)
            elif isinstance(decisions, Formatted):
                yield decisions
            else:  # an engine_error row made here
                yield formatted(head[0], decisions, writing, engine)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _after_crash(pending: deque, policy_hash: str, as_of: str) -> None:
    """Every unfinished chunk is sent again. The head failed once more: after two failures a chunk is tried
    row by row, and a single row that fails twice is reported as an engine error."""
    for entry in pending:
        entry[1] = None
    head = pending[0]
    head[2] += 1
    if head[2] < 2:
        return
    pending.popleft()
    if len(head[0]) > 1:
        for row in reversed(head[0]):
            pending.appendleft([[row], None, 0])
    else:
        pending.appendleft([head[0], _Done([_engine_error(head[0][0], policy_hash, as_of)]), 2])


class _Done:
    """A finished 'future' holding a result made here."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _engine_error(row: Row, policy_hash: str, as_of: str | None = None) -> Verdict:
    ident = row.data.get("id") if row.data else None
    return Verdict(id_text(ident), "error", [], [], {},
                   [RowError(row=row.row, code="engine_error",
                             message="deciding this row stopped the rules engine twice; it was skipped")],
                   policy_hash, as_of, row.source, row.row)
