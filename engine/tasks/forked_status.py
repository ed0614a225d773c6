"""A large portfolio history measured a group of projects per worker process (pmo health --log, pmo kpi --log).

    StoredStatus.chunks() --each group's projects--> a worker (forked from this process: the engine as it is)
        reads the group from the history itself, on its own connection, and measures it (engine.health.assess
        _group_rated: each project at its latest report; engine.health.kpis group_tallies: each project rated at
        each period's end, only the fields the KPIs read)
        --the group's part, in group order--> assess / History.prepare joins the parts

The parent reads nothing of the reports: it holds the parts only (bounded by projects x periods, not by the
reports). A worker that dies (a crash in the rules engine's C core, a kill) loses nothing: its group and every
one after it are measured here; a group whose measuring raised in a worker is measured here again, so the error
raised (or not) is this process's.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from engine.health.status import StatusData
from engine.store.history import CHUNK, StoredStatus, history_state
from engine.store.log import DecisionLog
from engine.tasks.processes import can_fork, cores, die_with

T = TypeVar("T")
MEASURE_IN_PARALLEL_FROM = 20_000  # reports in the history: below this, starting workers costs more than it saves


class ForkedStatus(StoredStatus):
    """StoredStatus whose ``each`` measures the groups in worker processes (``workers``: None, one per core this
    process may use for a history of MEASURE_IN_PARALLEL_FROM reports or more; 1: none). The parts come back in
    group order, so the KPIs are what one process computes."""

    def __init__(self, log: DecisionLog, as_of: dt.date | None = None, size: int = CHUNK, workers: int | None = None):
        super().__init__(log, as_of, size)
        self.workers = workers

    def worker_count(self, groups: int) -> int:
        if not can_fork():
            return 1
        workers = self.workers
        if workers is None:
            if history_state(self.log)[0] < MEASURE_IN_PARALLEL_FROM:
                return 1
            workers = cores()
        return max(1, min(workers, groups))

    def each(self, measure: Callable[[StatusData], T]) -> Iterator[T]:
        chunks = self.chunks()
        workers = self.worker_count(len(chunks))
        if workers <= 1:
            yield from (measure(self.read(chunk)) for chunk in chunks)
            return
        import multiprocessing  # loaded only for a large history: pmo kpi on a month's reports needs none
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool
        try:
            pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
                workers, multiprocessing.get_context("fork"), _start_worker, (self, measure, os.getpid()))
        except (OSError, ValueError):  # no semaphores, no fork: measured here
            yield from (measure(self.read(chunk)) for chunk in chunks)
            return
        pending: deque[tuple[Future[Any], list[str]]] = deque()
        waiting = deque(chunks)
        try:
            while waiting or pending:
                while pool is not None and waiting and len(pending) <= workers:  # a bounded number in flight
                    try:
                        pending.append((pool.submit(_measure_in_worker, waiting[0]), waiting[0]))
                    except (BrokenProcessPool, OSError):  # a worker died, or none could be forked
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = None
                        break
                    waiting.popleft()
                if pool is None:  # no more workers: what is left is measured here, in order
                    yield from (measure(self.read(chunk)) for chunk in [c for _, c in pending] + list(waiting))
                    return
                future, chunk = pending.popleft()
                try:
                    part = future.result()
                except BrokenProcessPool:
                    pending.appendleft((future, chunk))
                    if pool is not None:
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = None
                    continue
                except Exception:  # noqa: BLE001 - what the worker raised: measured here again, to raise (or not) as here
                    part = measure(self.read(chunk))
                yield part
        finally:
            if pool is not None:
                pool.shutdown(wait=not pending, cancel_futures=True)


_worker: tuple[StoredStatus, Callable[[StatusData], Any], DecisionLog] | None = None  # in a KPI worker


def _start_worker(status: StoredStatus, measure: Callable[[StatusData], Any], parent: int) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the parent's to handle: it stops the workers
    die_with(parent)
    # the parent's connection was copied by the fork: a worker reads on its own, never on that one
    _worker = (status, measure, DecisionLog(status.log.target, reading=True))


def _measure_in_worker(projects: list[str]) -> Any:
    assert _worker is not None
    status, measure, log = _worker
    return measure(status.read(projects, log))
