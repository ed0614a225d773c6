"""The decision log of a batch written by a process of its own (issue #19: the log's cost on the deciding thread).

:class:`LogProcess` is :class:`engine.tasks.evaluate.LogSink` moved out of the deciding process: a forked writer
process encodes each decided row's entry (``IntakeEncoder.row``, the same bytes as in this process: tested) and
commits them LOG_BATCH at a time, and this process writes the output's text of a batch only once the writer says
it committed that batch's entries, so the output never holds a row whose decision the log lacks (a kill or a
failure leaves the log ahead, and a resume's repeat of a logged decision adds nothing).

What the deciding process does per row is small: a tuple of what it already has (the row's cells, line and source;
the decision's id, outcome and, for a decision made from its fired rules' plan, the plan's number and the row's
rendered reasons). The writer types the rows' cells again (the same engine, forked) for the entries' keys, which are
made from the record as read; typing twice costs the writer's core, not this one. A plan is sent once, as the
writer needs it (:class:`PlanCopy`); a batch is marshalled once
(a decision not made from a plan, with its findings and errors as models, pickled) and sent over a pipe. With worker
processes, the workers encode the entries and send them pickled (``Formatted.entries``): this process passes the
bytes on unread.

Memory is bounded: at most ``IN_FLIGHT`` batches sent and not yet committed (their output's text held here), and
``GROUPED`` read by the writer, which commits the batches it has received in one transaction (up to ``GROUPED``,
each confirmed after that commit). A failure of the log (a full disk, a read-only file, a lost server) is sent back and
raised here as the same LogError as from the thread; a writer that dies (a kill) is a LogError that says so; in
either case the batches it did not confirm are not written to the output. Used when this process can fork
(``engine.tasks.processes.can_fork``: Linux, one thread), else the thread (LogSink).
"""
from __future__ import annotations

import marshal
import os
import pickle
import signal
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, Any

from engine.io.rows import Row
from engine.store import DecisionLog, LogError
from engine.store.log import IntakeEncoder
from engine.tasks.processes import die_with

IN_FLIGHT = 4  # batches sent to the writer and not yet confirmed
GROUPED = 4  # batches committed in one transaction at most, when the writer is behind (those already received):
# each commit writes the key index's pages it changed (random keys: most of them), so fewer commits write less
PLANS_SENT = 4096  # plans numbered for the writer before the numbering starts again
KILL_AT: int | None = None  # tests only: the writer kills itself on receiving this batch (1-based), not committing it
_OK = b""


class PlanCopy:
    """What the writer needs of a decision's finding plan (engine.intake.decide.Plan) to encode its entries as
    ``IntakeEncoder`` does in the deciding process: the findings, their reasons, the positions of the reasons a row
    renders, the routes."""

    __slots__ = ("findings", "reason_list", "rendered", "routes")

    def __init__(self, findings: list[Any], reason_list: list[Any], rendered: list[tuple[int, Any, Any]],
                 routes: list[str]):
        self.findings, self.reason_list, self.rendered, self.routes = findings, reason_list, rendered, routes

    @classmethod
    def of(cls, plan: Any) -> PlanCopy:
        return cls(list(plan.findings), list(plan.reason_list),
                   [(i, True if reason is not None else None, None) for i, reason, _ in plan.rendered],
                   list(plan.routes))


class _Sent:
    """A decision as the writer gets it: the fields IntakeEncoder.row reads (``findings`` made from the plan, as
    a Verdict makes them, when the encoder asks: a finding of a shape it does not write from the plan)."""

    __slots__ = ("id", "decision", "routes", "_findings", "errors", "_plan", "_texts", "read_digest")

    def __init__(self, ident: Any, outcome: Any, routes: Any, findings: Any, errors: Any, plan: Any, texts: Any,
                 read_digest: str | None = None):
        self.id, self.decision, self.routes, self._findings, self.errors = ident, outcome, routes, findings, errors
        self._plan, self._texts, self.read_digest = plan, texts, read_digest

    @property
    def findings(self) -> Any:
        if self._findings is None:
            from engine.intake.decide import Plan

            self._findings = Plan.findings_of(self._plan, self._texts)
        return self._findings


class LogProcess:
    """The decision log, and the output written after it, with the log's work in a writer process: ``decided``
    takes a decided row, ``extend`` entries encoded by a batch's workers, ``write`` the output's text. A failure
    of the log is raised here at the next batch or at close; of the output, where it is written (here)."""

    def __init__(self, log: DecisionLog, out: IO[str] | None, engine: Any, batch: int):
        self.log, self.out, self.batch = log, out, batch
        self._items: list[tuple[Any, ...] | None] = []  # a planned decision's tuple, or None: the next of _others
        self._others: list[tuple[Any, ...]] = []
        self._encoded: list[Any] = []  # workers' pickled entries (bytes) or lists of entries
        self._count = 0  # entries in this batch
        self._texts: list[str] = []
        self._plans: dict[Any, int] = {}  # Plan -> its number for the writer (the plan kept alive here)
        self._new_plans: list[tuple[int, PlanCopy]] = []
        self._restart = False  # the writer forgets the plans it was sent (numbers are never reused)
        self._next_plan = 0
        self._waiting: deque[str] = deque()  # the output's text of each batch sent and not confirmed
        self._failed: LogError | None = None
        self._stopped = False
        data_in, data_out = _pipe()
        acks_in, acks_out = _pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the writer
            code = 1
            try:
                os.close(data_out)
                os.close(acks_in)
                _writer(log.target, engine, data_in, acks_out)
                code = 0
            finally:
                os._exit(code)  # no clean-up of this copy of the parent (its buffers, its log's connection)
        os.close(data_in)
        os.close(acks_out)
        self._data, self._acks = data_out, acks_in

    # --- what the deciding process calls

    def decided(self, row: Row, decision: Any) -> None:
        """Log a decided row (``row`` an engine.io.rows.Row, ``decision`` a Verdict or Decision)."""
        plan = getattr(decision, "_plan", None)
        if plan is not None:
            texts = decision._texts
            if texts is None or texts[1] is None:  # the routes are the plan's: the plan's number and the reasons
                number = self._plans.get(plan)
                if number is None:
                    number = self._plan_number(plan)
                routes = decision.routes
                self._items.append((row.data, row.row, row.source, decision.id, decision.decision, number,
                                    None if texts is None else texts[0], None if routes == plan.routes else routes))
                self._count += 1
                if self._count >= self.batch:
                    self._send()
                return
        # another decision: its findings and errors whole (models: pickled, apart from the marshalled rows)
        self._others.append((row.data, row.row, row.source, decision.id, decision.decision, None, None,
                             decision.routes, decision.findings, decision.errors))
        self._items.append(None)
        self._count += 1
        if self._count >= self.batch:
            self._send()

    def add(self, entry: tuple[Any, ...]) -> None:
        """An entry encoded here (``IntakeEncoder.row``)."""
        self.extend([entry], 1)

    def extend(self, entries: bytes | list[tuple[Any, ...]], count: int | None = None) -> None:
        """Entries encoded elsewhere: a list, or a list pickled (a batch's workers send theirs so)."""
        self._encoded.append(entries)
        self._count += len(entries) if count is None else count
        if self._count >= self.batch:
            self._send()

    def write(self, text: str) -> int:
        self._texts.append(text)
        return len(text)

    def close(self) -> None:
        """Commit and write the rest, and wait for it; raises what failed."""
        self._send()
        while self._waiting:
            self._confirmed()
        self.stop()

    def stop(self) -> None:
        """End the writer (after it has committed what it was sent) and wait for it."""
        if self._stopped:
            return
        self._stopped = True
        try:  # the end, said (worker processes forked after the writer hold this pipe too: no end of file)
            _send_bytes(self._data, b"")
        except OSError:
            pass  # the writer is gone
        os.close(self._data)
        try:
            os.waitpid(self._pid, 0)
        except ChildProcessError:
            pass
        os.close(self._acks)

    # --- inside

    def _plan_number(self, plan: Any) -> int:
        number = self._plans[plan] = self._next_plan
        self._next_plan += 1
        self._new_plans.append((number, PlanCopy.of(plan)))
        return number

    def _send(self) -> None:
        if self._failed is not None:
            raise self._failed
        while self._waiting and _readable(self._acks):  # confirmations already in: their text out first
            self._confirmed()
        if not (self._items or self._encoded or self._texts):
            return
        blob = _packed(self._items, (self._restart, self._new_plans, self._others, self._encoded))
        while len(self._waiting) >= IN_FLIGHT:
            self._confirmed()
        try:
            _send_bytes(self._data, blob)
        except OSError:  # the writer is gone (EPIPE)
            raise self._gone() from None
        self._waiting.append("".join(self._texts))
        self._items, self._others, self._encoded, self._texts, self._new_plans = [], [], [], [], []
        self._count, self._restart = 0, False
        if len(self._plans) >= PLANS_SENT:  # the next batch numbers its plans afresh (the writer forgets these)
            self._plans.clear()
            self._restart = True

    def _confirmed(self) -> None:
        """Wait for the writer's answer about the oldest batch sent; write that batch's text when it committed."""
        try:
            answer = _recv_bytes(self._acks)
        except (EOFError, OSError):
            raise self._gone() from None
        if answer != _OK:
            action, target, detail, read_only = pickle.loads(answer)
            self._failed = LogError(action, target, detail, read_only=read_only)
            raise self._failed
        text = self._waiting.popleft()
        if text and self.out is not None:
            self.out.write(text)

    def _gone(self) -> LogError:
        how = "ended"
        try:
            pid, status = os.waitpid(self._pid, 0)
            self._stopped = True
            os.close(self._data)
            os.close(self._acks)
            if os.WIFSIGNALED(status):
                how = f"was killed (signal {os.WTERMSIG(status)})"
            elif os.WIFEXITED(status):
                how = f"ended (exit status {os.WEXITSTATUS(status)})"
        except (ChildProcessError, OSError):
            pass
        self._failed = LogError("write to", self.log.shown, f"its writer process {how} before confirming "
                                f"{len(self._waiting) or 'the last'} batch(es) of entries; the output holds only "
                                "rows whose entries were committed")
        return self._failed


def _writer(target: Any, engine: Any, data: int, acks: int) -> None:
    """The writer process: read batches, encode and commit their entries, confirm each (or send what failed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the deciding process, which then ends this one
    die_with(os.getppid())
    import queue

    batches: queue.Queue[bytes | bytearray | None] = queue.Queue(maxsize=GROUPED - 1)  # read ahead while committing:
    # memory bounded

    def read() -> None:
        try:
            while blob := _recv_bytes(data):  # empty: the end
                batches.put(blob)
        except (EOFError, OSError):
            pass
        batches.put(None)

    threading.Thread(target=read, name="pmo-log-read", daemon=True).start()
    log: DecisionLog | None = None
    encoder = IntakeEncoder(engine)
    plans: dict[int, PlanCopy] = {}
    failed = ended = False
    received = 0
    typed = typer(engine)
    while not ended and (blob := batches.get()) is not None:
        group = [blob]  # and the batches that arrived meanwhile: one transaction (fewer, larger commits)
        while len(group) < GROUPED:
            try:
                more = batches.get_nowait()
            except queue.Empty:
                break
            if more is None:
                ended = True
                break
            group.append(more)
        received += len(group)
        if failed:
            continue  # drained, not written: the deciding process raises the failure
        if KILL_AT is not None and received >= KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            if log is None:
                log = DecisionLog(target)  # its own connection: the parent's is not used across the fork
            rows = []
            for blob in group:
                rows += _entries(_unpacked(blob), encoder, plans, typed)
            if rows:
                log.append_encoded(rows)
            answer = _OK
        except LogError as exc:
            answer = pickle.dumps((exc.action, exc.target, exc.detail, exc.read_only))
            failed = True
        except Exception as exc:  # noqa: BLE001 (a fault of this process, said as the log's)
            answer = pickle.dumps(("write to", str(target), f"its writer process failed: {type(exc).__name__}: "
                                   f"{exc}", False))
            failed = True
        for _ in group:  # one answer a batch
            _send_bytes(acks, answer)
    if log is not None:
        log.close()


def typer(engine: Any) -> Callable[[list[Any]], list[Any]]:
    """How the writer types a batch's rows again for their keys: as the deciding process typed them, without the
    derived values (the record's digest leaves them out; a row whose derived value raised was an error row, never
    typed here)."""
    reader = engine._intake.reader
    return lambda raws: reader.read_many(raws)


def _entries(message: tuple[Any, ...], encoder: IntakeEncoder, plans: dict[int, PlanCopy],
             typed: Callable[[list[Any]], list[Any]]) -> list[tuple[Any, ...]]:
    """The encoded entries of a batch as sent by LogProcess._send. An entry's key is made from the record as read
    (engine.store.log.intake_read_as): the decided rows' cells are typed again here (``typed``: :func:`typer`), by
    the same engine (forked), and their digests made by columns (``RecordDigest.many``), so that the deciding
    process sends only what it has and the typing's cost is this process's."""
    items, (restart, new_plans, others, encoded) = message
    if restart:
        plans.clear()
    plans.update(new_plans)
    row = encoder.row
    rows = []
    other = iter(others)
    sent = [next(other) if item is None else item for item in items]
    read = [i for i, item in enumerate(sent) if item[4] != "error" and isinstance(item[0], dict)]
    digests: list[str | None] = [None] * len(sent)
    for i, made in zip(read, encoder.digest.many(typed([sent[i][0] for i in read])) if read else ()):
        digests[i] = made  # None: typing raised (typed the same way it was decided)
    for item, made in zip(sent, digests):
        if len(item) == 8:
            data, line, source, ident, outcome, number, reasons, routes = item
            plan = plans[number]
            decision = _Sent(ident, outcome, plan.routes if routes is None else routes, None, [], plan,
                             None if reasons is None else (reasons, None), made)
        else:
            data, line, source, ident, outcome, _, _, routes, findings, errors = item
            decision = _Sent(ident, outcome, routes, findings, errors, None, None, made)
        rows.append(row(Row(data, line, source), decision))
    for part in encoded:
        rows += pickle.loads(part) if isinstance(part, bytes) else part
    return rows


def _packed(items: list[Any], rest: tuple[Any, ...]) -> bytes:
    """A batch as bytes: the planned rows' tuples marshalled (text, numbers, None, lists, dicts: ~2x faster than
    pickle, measured), the rest pickled; all pickled when a cell is of another type (a date read from a
    workbook)."""
    head = pickle.dumps(rest, pickle.HIGHEST_PROTOCOL)
    try:
        body, kind = marshal.dumps(items), b"m"
    except ValueError:
        body, kind = pickle.dumps(items, pickle.HIGHEST_PROTOCOL), b"p"
    return b"".join((kind, len(head).to_bytes(8, "little"), head, body))


def _unpacked(blob: bytes | bytearray) -> tuple[list[Any], tuple[Any, ...]]:
    view = memoryview(blob)
    size = int.from_bytes(view[1:9], "little")
    rest = pickle.loads(view[9:9 + size])
    body = view[9 + size:]
    return (marshal.loads(body) if view[0] == ord("m") else pickle.loads(body)), rest


# --- length-prefixed messages over a pipe


def _pipe() -> tuple[int, int]:
    read, write = os.pipe()
    try:  # a larger pipe: a batch crosses in fewer reads and writes (Linux; best effort)
        import fcntl
        fcntl.fcntl(write, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ImportError):
        pass
    return read, write


def _send_bytes(fd: int, blob: bytes) -> None:
    view = memoryview(len(blob).to_bytes(8, "little") + blob) if len(blob) < 65536 else None
    if view is None:
        _write_all(fd, memoryview(len(blob).to_bytes(8, "little")))
        view = memoryview(blob)
    _write_all(fd, view)


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view):]


def _recv_bytes(fd: int) -> bytes | bytearray:
    size = int.from_bytes(_read_exactly(fd, 8), "little")
    return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int) -> bytes | bytearray:
    if size == 0:
        return b""
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise EOFError
        got += n
    return buffer


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0)[0])

