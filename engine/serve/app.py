"""The HTTP API of ``pmo serve`` (FastAPI), versioned under /v1.

Bodies are read here, not by FastAPI: within ``--max-body`` (413 beyond), within ``--timeout`` (408), and
decoded by the engine's own JSON decoder (engine/io/jsonstream.py: exact decimals, bounded number literals,
repeated keys marked), so a proposal posted here is read exactly as the same proposal in a ``.jsonl`` file.
Options are then checked by pydantic models, whose errors become located field errors. Every error is
``{"error": {status, code, message, hint, errors: [{loc, code, message}]}}``; a 500 is only ever a bug.

Each decision is written to the decision log before it is answered, and its answer names ``decision_id``
(the log's key) and ``policy_hash``: a client that holds an answer can find it in the log.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import itertools
import json
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar, TypeVarTuple, cast

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from engine import __version__
from engine.api import Engine
from engine.decision import Decision, Finding, RowError
from engine.errors import Diagnostic, InputError, PmoError
from engine.health.assess import health_entries
from engine.io.jsonstream import DECODER
from engine.io.rows import MAX_DIGITS, Duplicated, Row, bounded_row
from engine.portfolio.model import portfolio_from, read_portfolio
from engine.serve.access import OPEN, AccessLog, Caller, Tokens, masked
from engine.serve.board import BoardState, HistorySource, PortfolioSource, StatusSource, page
from engine.serve.config import SUPERVISOR_ENV, ServeConfig
from engine.serve.policy import PolicyHolder, Served, diagnostic_json
from engine.serve.schemas import example_proposal, policy_components
from engine.store import MAX_PAGE, Entry, open_log
from engine.store.log import gate_entry, proposal_entry
from engine.text import plural

if TYPE_CHECKING:  # annotations only (engine.store loads DecisionLog lazily)
    from engine.gates.review import GateDecision
    from engine.portfolio.conflicts import ConflictReport
    from engine.serve.policy import Failure
    from engine.store import DecisionLog

SOURCE = "request"
CHUNK = 500  # NDJSON rows decided and logged per transaction, then sent
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines")
SPOOL_IN_MEMORY = 8 << 20  # an NDJSON body is spooled to a temporary file beyond this many bytes
INLINE = 64 << 10  # a proposal this small is decided on the event loop (well under a millisecond); larger in a thread
NOT_FOUND = {"unknown_gate", "no_gates", "no_scoring"}

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
Endpoint: TypeAlias = "Callable[[Request], Awaitable[Response]]"  # a route answered before the router (DecisionApp.fast)


# ---------------------------------------------------------------------------- errors

class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, errors: Iterable[dict[str, Any]] = (), hint: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint
        self.errors, self.headers = list(errors), headers

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"status": self.status, "code": self.code, "message": self.message,
                                       "hint": self.hint, "errors": self.errors}}, self.status, headers=self.headers)


def _from_pmo(exc: PmoError) -> ApiError:
    """A PmoError as an API error: unknown things 404, anything else the caller sent 422."""
    first = exc.diagnostics[0]
    status = 404 if first.code in NOT_FOUND else 422
    errors = [{"loc": ["body"], **diagnostic_json(d)} for d in exc.diagnostics]
    return ApiError(status, first.code, first.message, errors=errors, hint=first.hint)


def _from_validation(errors: Iterable[Mapping[str, Any]], prefix: tuple[str, ...] = ("body",)) -> ApiError:
    located = [{"loc": [*prefix, *e["loc"]], "code": e["type"], "message": e["msg"]} for e in errors]
    where = ".".join(str(p) for p in located[0]["loc"]) if located else "body"
    return ApiError(422, "invalid_request", f"{where}: {located[0]['message']}" if located else "invalid request",
                    errors=located)


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="where: ['body', field, ...], ['query', name] or ['path', name]")
    code: str
    message: str


class ErrorBody(BaseModel):
    status: int
    code: str = Field(description="stable: bad_json, body_too_large, batch_too_large, invalid_request, "
                      "invalid_proposal, unauthorized, forbidden, timeout, not_found, policy_invalid, ...")
    message: str
    hint: str | None = None
    errors: list[ErrorItem] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


# ---------------------------------------------------------------------------- request and response models

class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RankRequest(Strict):
    proposals: list[Any] = Field(description="proposals, as for /v1/evaluate/batch")
    # strict: true is no 1, "yes" no true, 1e308 no 309-digit count (JSON's own integers and booleans only)
    top: StrictInt | None = Field(None, ge=1, description="how many count as the top (default: the scoring policy's)")
    sensitivity: StrictBool = Field(False, description="add top-N shares under random weights and the smallest "
                              "single-weight change that drops each top proposal")


class OverrideRequest(Strict):
    role: str = Field(min_length=1, description="a role the gate allows to override")
    justification: str = Field(min_length=1)


class GateRequest(Strict):
    project: dict[str, Any] = Field(description="the project record: id, stage, fields, metrics, evidence, approvals")
    override: OverrideRequest | None = Field(None, description="override failed must-meet criteria "
                                             "(needs a token with the admin role)")


class PortfolioRequest(Strict):
    portfolio: dict[str, Any] | list[Any] = Field(description="{projects: [...], budget, ...} as in a portfolio file")


class ConflictsRequest(PortfolioRequest):
    funded: list[str] | None = Field(None, description="the funded projects (e.g. a selection); the others unfunded")


class Delay(Strict):
    project: str = Field(min_length=1)
    by: float = Field(ge=0, allow_inf_nan=False, description="duration units (the portfolio policy's)")


class ImpactRequest(PortfolioRequest):
    cancel: str | None = Field(None, min_length=1, description="cancel this project: who depends on it")
    delay: Delay | None = Field(None, description="delay this project's finish: how far each dependent slips")

    @model_validator(mode="after")
    def _one(self) -> ImpactRequest:
        if (self.cancel is None) == (self.delay is None):
            raise ValueError("give either cancel or delay")
        return self


class SelectRequest(PortfolioRequest):
    budget: float | dict[str, float] | None = Field(None, description="one total, or a budget by period")
    frontier: int = Field(0, ge=0, le=100, description="best value at this many budget levels")
    scenarios: list[Any] | dict[str, Any] | None = Field(None, description="what-ifs: [{name, budget_factor, "
                                                         "force_in, force_out, extra_capacity}]")
    time_limit: float = Field(10.0, gt=0, description="seconds per solve (capped by the server's --timeout)")


class EvaluateResponse(Decision):
    decision_id: str = Field(description="the decision log's key of this decision: GET /v1/decisions/{id}")
    warnings: list[str] = Field(default_factory=list, description="POST /v1/evaluate only, and only when there are "
                                "some: fields of the proposal the policy does not know that are spelt like one it "
                                "does (ignored, so the decision was made without them)")


class LoggedDecision(BaseModel):
    decision_id: str = Field(description="the log's key")
    seq: int = Field(description="the entry's number: entries are numbered in the order they were logged")
    time: str
    kind: Literal["intake", "gate"]
    project: str | None
    gate: str | None
    input_hash: str
    policy_hash: str = Field(description="the policy version it was decided under")
    outcome: str
    findings: list[Any]
    approvers: list[str]
    override: dict[str, Any] | None
    input: Any = Field(description="what was decided: {row: the proposal} or the project record")
    as_of: str | None = Field(description="the date today() meant")
    backend: str | None


class DecisionsPage(BaseModel):
    count: int = Field(description="decisions in this page")
    truncated: bool = Field(description="there are more: follow next")
    cursor: int | None = Field(description="where the next page starts (null: this is the last)")
    next: str | None = Field(description="the link to the next page (null: this is the last)")
    decisions: list[LoggedDecision]


class BatchResponse(BaseModel):
    policy_hash: str
    as_of: str
    counts: dict[str, int]
    decisions: list[EvaluateResponse]
    warnings: list[str] = Field(default_factory=list, description="only when there are some: the proposals' fields "
                                "the policy does not know that are spelt like one it does (ignored), once for the "
                                "batch (JSON batches; an NDJSON answer has no place for them)")


class ContributionResponse(BaseModel):
    criterion: str
    raw: float | None = Field(description="the value the criterion read (null: missing)")
    normalised: float | None = Field(description="0 to 1 after normalisation and direction")
    weight: float | None = Field(description="the criterion's weight (the weights add up to 1)")
    contribution: float | None = Field(description="its share of the score; the shares add up to the score")
    detail: dict[str, float] | None = Field(description="for alignment: each objective's part")


class WeightChangeResponse(BaseModel):
    criterion: str
    weight: float
    new_weight: float


class RankEntryResponse(BaseModel):
    rank: int | None = Field(description="1 is best; null for a proposal that is not ranked")
    id: str | None
    decision: Literal["accept", "review", "reject", "error"] = Field(description="the intake decision")
    model: str | None = Field(None, description="the scoring model that scored it (a policy set with several)")
    score: float | None
    breakdown: list[ContributionResponse]
    routes: list[str]
    findings: list[Finding]
    errors: list[RowError]
    reason: str | None = Field(description="why it is not ranked")
    top_probability: float | None = Field(description="with sensitivity: the share of weight perturbations that "
                                          "keep it in the top")
    weight_change: WeightChangeResponse | None = Field(description="with sensitivity, the top only: the smallest "
                                                       "single-weight change that drops it")
    source: str | None
    row: int | None
    panel: list[dict[str, Any]] = Field(default_factory=list, description="rater panels' results, when scored by one")


class RankResponse(BaseModel):
    policy_hash: str
    method: str
    weights: dict[str, float]
    top: int
    as_of: str | None
    sensitivity: dict[str, Any] | None = Field(description="the perturbation, samples and seed, when asked")
    warnings: list[str]
    models: list[dict[str, Any]] = Field(default_factory=list, description="several scoring models: each one")
    assessment_errors: list[dict[str, Any]] = Field(default_factory=list)
    entries: list[RankEntryResponse] = Field(description="the ranked first, then the rejected and the bad rows")


class ConditionPart(BaseModel):
    text: str = Field(description="the condition, or one part of it, with the proposal's values")
    value: Literal["true", "false", "unknown"]
    parts: list[ConditionPart] = Field(description="the items of an and / or, the operand of a not")


class RuleTraceResponse(BaseModel):
    rule: str
    effect: str
    source: str = Field(description="file:line")
    origin: str | None = Field(description="LIBRARY/RULE for an included library rule")
    route: str | None
    fired: bool
    value: Literal["true", "false", "unknown"]
    condition: ConditionPart


class ScoreExplanationResponse(BaseModel):
    method: str
    score: float | None
    partial_score: float | None
    breakdown: list[ContributionResponse]
    left_out: list[str]
    note: str | None
    panel: list[dict[str, Any]] = Field(default_factory=list)


class ChangeResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    field: str
    from_: Any = Field(alias="from", description="the proposal's value (null: missing)")
    to: Any
    example: bool = Field(False, description="the field only needed a value: this one is an example")


class CounterfactualResponse(BaseModel):
    decision: str
    changes: list[ChangeResponse]
    fires: list[str]
    sentence: str


class ExplainResponse(BaseModel):
    id: str | None
    decision: Literal["accept", "review", "reject", "error"]
    routes: list[str]
    findings: list[Finding]
    errors: list[RowError]
    rules: list[RuleTraceResponse] = Field(description="every rule, in policy order")
    derived: dict[str, Any]
    score: ScoreExplanationResponse | None
    counterfactuals: list[CounterfactualResponse] = Field(description="changes verified by deciding again")
    notes: list[str]
    policy_hash: str
    as_of: str | None
    source: str | None
    row: int | None


_SCHEMAS: dict[str, Any] = {}


PROPOSAL = {"$ref": "#/components/schemas/Proposal"}  # made from the served policy (engine/serve/schemas.py)


def _body(model: type[BaseModel] | None = None, *, example: Any = None, ndjson: bool = False,
          batch: bool = False) -> dict[str, Any]:
    """openapi_extra for a body this module reads itself (so FastAPI does not parse it); no model: a proposal
    (``batch``: a list of them, or {"proposals": [...]})."""
    if model is None and batch:
        schema: dict[str, Any] = {"oneOf": [{"type": "array", "items": PROPOSAL},
                                  {"type": "object", "properties": {"proposals": {"type": "array", "items": PROPOSAL}},
                                   "required": ["proposals"], "additionalProperties": False}]}
    elif model is None:
        schema = dict(PROPOSAL)
    else:
        described = model.model_json_schema(ref_template="#/components/schemas/{model}")
        _SCHEMAS.update(described.pop("$defs", {}))
        _SCHEMAS[model.__name__] = described  # a component, so the served policy's schemas can refine it
        schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    content = {"application/json": {"schema": schema, **({"example": example} if example is not None else {})}}
    if ndjson:
        content["application/x-ndjson"] = {"schema": {"type": "string", "description": "one proposal per line"}}
    return {"requestBody": {"required": True, "content": content}}


ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorResponse} for status in (400, 401, 403, 413, 422, 503)}


# ---------------------------------------------------------------------------- the service

class LogPool:
    """One decision-log connection per thread (an SQLite connection belongs to the thread that opened it)."""

    def __init__(self, target: str):
        self.target = target
        self._local = threading.local()
        self.get()  # fail at start-up, not at the first decision

    def get(self) -> DecisionLog:
        log: DecisionLog | None = getattr(self._local, "log", None)
        if log is None:
            log = self._local.log = open_log(self.target)
        return log


class LogUnavailable(Exception):
    """The decision log could not take an entry: nothing of the request was logged, and it is answered 503."""


class LogWriter:
    """The one thread that writes the decision log, in group commits, each request answered only once its own
    entries are committed (durable: a decision is never answered and then lost).

    Requests on the event loop hand their entries over together: the entries of every request that reaches the
    log in one turn of the loop go to the writer as one item, and the writer tells the loop once for the whole
    item (one thread wake-up and one wake of the loop per group, not per request). Items that arrive while a
    transaction is being committed are committed together in the next one, up to GROUP entries."""

    GROUP = 2_000  # entries per transaction at most

    def __init__(self, target: str):
        self._queue: queue.SimpleQueue[tuple[list[Entry], _Done]] = queue.SimpleQueue()
        self.commits = 0
        self._gathering: dict[asyncio.AbstractEventLoop, list[tuple[list[Entry], asyncio.Future[BaseException | None]]]] = {}
        opened: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, args=(target, opened), name="pmo-log-writer", daemon=True).start()
        failure = opened.get()
        if failure is not None:
            raise failure

    def append(self, entries: list[Entry]) -> None:
        """Write the entries; returns when they are committed. Raises LogUnavailable if they could not be."""
        done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._queue.put((entries, done))
        failure = done.get()
        if failure is not None:
            raise LogUnavailable(f"the decision log did not take the entries: {failure}")

    async def append_async(self, entries: list[Entry]) -> None:
        """append() for the event loop: no thread waits, the loop is told when the entries are committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BaseException | None] = loop.create_future()
        gathering = self._gathering.get(loop)
        if gathering is None:
            gathering = self._gathering[loop] = []
            loop.call_soon(self._hand_over, loop)  # after every request that is ready in this turn has added its own
        gathering.append((entries, future))
        failure = await future
        if failure is not None:
            raise LogUnavailable(f"the decision log did not take the entries: {failure}")

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        gathered = self._gathering.pop(loop)
        self._queue.put(([entry for entries, _ in gathered for entry in entries],
                         _Answer(loop, [future for _, future in gathered])))

    def _run(self, target: str, opened: queue.SimpleQueue[BaseException | None]) -> None:
        try:
            log = open_log(target)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that started us
            opened.put(exc)
            return
        opened.put(None)
        while True:
            group = [self._queue.get()]
            size = len(group[0][0])
            while size < self.GROUP:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                size += len(group[-1][0])
            failure: Exception | None
            try:
                log.append([entry for entries, _ in group for entry in entries])
                failure = None
                self.commits += 1  # the board of this process is stale from now
            except Exception as exc:  # noqa: BLE001 - every waiting request is told, none is left hanging
                failure = exc
            for _, done in group:
                done.put(failure)


class _Answer:
    """The writer's "committed" (or its failure) for the requests of one hand-over, waiting on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, futures: list[asyncio.Future[BaseException | None]]):
        self.loop, self.futures = loop, futures

    def put(self, failure: BaseException | None) -> None:  # called by the writer thread
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            self.loop.call_soon_threadsafe(self._settle, failure)

    def _settle(self, failure: BaseException | None) -> None:
        for future in self.futures:
            if not future.done():  # a request cancelled meanwhile (the client went away) is simply not told
                future.set_result(failure)


_Done: TypeAlias = "queue.SimpleQueue[BaseException | None] | _Answer"  # told the writer's outcome of an item


class Service:
    """What the routes share: the options, the served policy, the tokens and the decision log."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.tokens = Tokens.load(config.tokens)
        self.holder = PolicyHolder(config)
        self.logs = LogPool(config.log)  # reads
        self.writer = LogWriter(config.log)
        self.access = AccessLog(config.access_log)
        self.portfolio = None
        if config.portfolio is not None:
            read_portfolio(config.portfolio)  # a file that does not read stops the server here (exit 2)
            self.portfolio = PortfolioSource(config.portfolio, config.frontier,
                                             time_limit=min(2.0, config.timeout / (2 + config.frontier)))
        self.status: StatusSource | None = None
        if config.status:
            self.status = StatusSource(config.status, config.status_columns, config.status_sheet)
            self.status.check(self.holder.current.engine)  # files that do not read stop the server here (exit 2)
        elif config.history:
            self.status = HistorySource(self.logs.get)


@dataclass(frozen=True)
class _Unread(Row):
    """An item of a batch that is no proposal, with what was sent (for its log entry)."""

    sent: Any = None


def _row(item: Any, number: int) -> Row:
    if isinstance(item, dict):
        return bounded_row(item, number, SOURCE)
    return _Unread(None, number, SOURCE, RowError(row=number, code="not_an_object",
                                                  message=f"expected an object of fields, got {_json_type(item)}"),
                   sent=item)


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _ndjson_rows(lines: Iterable[bytes]) -> Iterator[Row]:
    """One Row per non-blank line (numbered from 1); a line that is not UTF-8 or not JSON is an error row."""
    for number, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _Unread(None, number, SOURCE, RowError(row=number, code="bad_encoding",
                                                         message=f"line is not UTF-8 (byte {exc.start + 1})"),
                          sent=raw.decode("utf-8", "backslashreplace"))
            continue
        if not line.strip():
            continue
        try:
            data = DECODER.decode(line)
        except (ValueError, RecursionError) as exc:
            yield _Unread(None, number, SOURCE, RowError(
                row=number, code="bad_json",
                message=f"line is not JSON: {exc if isinstance(exc, ValueError) else 'nested too deeply'}"),
                sent=line.rstrip("\r\n"))
            continue
        yield _row(data, number)


def field_warnings(engine: Engine, rows: Iterable[Row]) -> list[str]:
    """What ``pmo evaluate`` warns of a file's columns, for the proposals' fields: a field the policy does not
    know that is spelt like one it does (a misspelt 'budjet' is ignored, and the decision is made without it).
    Other fields a tool sends beside the policy's (its own ids, timestamps) are ignored without a word, as the
    schema allows. Once for each set of keys."""
    said: dict[str, None] = {}
    for keys in dict.fromkeys(tuple(row.data) for row in rows if row.data is not None):
        for key, hint in engine.misspelt(keys).items():
            said.setdefault(f"field '{key}' is not a field of the policy and is ignored; {hint}")
    return list(said)


def decided_and_logged(service: Service, engine: Engine, rows: list[Row]) -> list[dict[str, Any]]:
    """Decide rows, log them in one transaction, and return their answers (each with its decision_id)."""
    decided, entries = [], []
    for row, (decision, record) in zip(rows, engine.decide_plain(rows)):
        entries.append(proposal_entry(engine, decision, row.data, getattr(row, "sent", None), record))
        decided.append(decision)
    service.writer.append(entries)
    return [{**decision.to_json(), "decision_id": logged_key(entry)} for decision, entry in zip(decided, entries)]


def logged_key(entry: Entry) -> str:
    """The key of the entry the log holds for a decision, once appended: its own, or the legacy key an earlier pmo
    logged it under (DecisionLog.append sets it), so a decision_id always names an entry GET /v1/decisions finds."""
    return entry.logged_as or entry.key


def _settled() -> None:
    """Freeze what the server has built (the compiled policy, the app, the libraries): the collector then never
    walks it again, so a full collection costs what the requests in flight hold, not the whole process (it was
    the slowest percentile of single evaluations). Called at start-up and after a reload (which first lets the
    previous version's objects be collected)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def create_app(config: ServeConfig, service: Service | None = None) -> FastAPI:
    service = service or Service(config)
    holder = service.holder

    async def reload(reason: str) -> Failure | None:
        before = holder.current
        failed_before = holder.failure is not None
        failure = await anyio.to_thread.run_sync(holder.reload, reason)
        if failure is None:
            await anyio.to_thread.run_sync(_settled)  # the new version's objects frozen too, the old one's freed
        said(reload_line(reason, before, holder.current, failure, failed_before))
        return failure

    def said(line: str) -> None:
        """One line on standard error for the operator (the journal), beside the start-up lines."""
        worker = f" (worker {os.getpid()})" if config.workers > 1 else ""
        with contextlib.suppress(OSError, ValueError):
            print(f"pmo serve: {line}{worker}", file=sys.stderr, flush=True)

    async def watch() -> None:
        while True:
            await asyncio.sleep(config.watch)
            with contextlib.suppress(Exception):  # a file vanishing mid-look is looked at again next time
                if await anyio.to_thread.run_sync(holder.changed):
                    await reload("policy files changed")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        hup = False
        running: set[asyncio.Task[Failure | None]] = set()

        def on_hup() -> None:
            task = loop.create_task(reload("SIGHUP"))
            running.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(running.discard)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread, not Unix
            loop.add_signal_handler(signal.SIGHUP, on_hup)
            hup = True
        watcher = loop.create_task(watch()) if config.watch > 0 else None
        _settled()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            if hup:
                loop.remove_signal_handler(signal.SIGHUP)
            service.access.flush()

    app = DecisionApp(service, title="pmo decision service", version=__version__, lifespan=lifespan,
                  description="Screen, rank and review project proposals against the served policy set. Every "
                  "decision names `policy_hash` and `decision_id` (the decision log's key). Send "
                  "`Authorization: Bearer TOKEN` when the server has tokens.")

    # ------------------------------------------------------------------ plumbing
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _from_validation(list(exc.errors()), prefix=()).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return ApiError(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)).response()

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        return ApiError(500, "internal_error", f"internal error ({type(exc).__name__}); please report it").response()


    def caller_of(request: Request, role: str = "evaluate", *, query_token: bool = False) -> Caller:
        if not service.tokens.required:
            caller = OPEN
        else:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if query_token and not token and request.query_params.get("token"):  # a browser showing the board
                scheme, token = "bearer", request.query_params["token"]
            found = service.tokens.caller(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if found is None:
                raise ApiError(401, "unauthorized", "a valid bearer token is required",
                               hint="send 'Authorization: Bearer TOKEN'", headers={"WWW-Authenticate": "Bearer"})
            caller = found
        request.state.pmo_caller = caller.name
        if not caller.may(role):
            raise ApiError(403, "forbidden", f"token '{caller.name}' (role {caller.role}) may not do this; it needs "
                           f"the {role} role")
        return caller

    async def body_of(request: Request) -> bytes:
        limit = config.max_body
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise _too_large(int(length), limit)
        chunks, size = [], 0
        try:
            async with asyncio.timeout(config.timeout):  # asyncio's: a tenth of anyio's cost, on every request
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise _too_large(size, limit)
                    chunks.append(chunk)
        except TimeoutError:
            raise ApiError(408, "timeout", f"the request body did not arrive within {config.timeout:g} s") from None
        return b"".join(chunks)

    async def json_of(request: Request, decoder: json.JSONDecoder = DECODER) -> Any:
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if kind not in ("application/json", "") and not kind.endswith("+json"):
            raise ApiError(415, "unsupported_media_type", f"expected application/json, got {kind}",
                           hint="send 'Content-Type: application/json' (or application/x-ndjson to the batch)")
        body = await body_of(request)
        request.state.pmo_size = len(body)
        return parse_json(body, decoder)

    def inputs(request: Request, data: Any) -> None:
        if config.log_inputs:
            request.state.pmo_inputs = masked(data, holder.current.masked)

    turns = threading.BoundedSemaphore(max(1, config.heavy))  # heavy computations running (threads release them)

    async def compute(fn: Callable[[*Ts], T], *args: *Ts, heavy: bool = False) -> T:
        """``fn(*args)`` in a thread, within the timeout. ``heavy`` (a batch, a ranking, an explanation, a portfolio
        answer): at most config.heavy at once; the rest wait for a turn. A computation past the timeout runs on
        (a thread cannot be stopped) and keeps its turn until it ends, so retries queue instead of piling up in
        memory: the thread gives the turn back, not the request."""
        started = False
        turn = [0]  # 0: not started, 1: the thread runs it (and gives the turn back), 2: given back unrun
        lock = threading.Lock()

        def run() -> T:
            with lock:
                if turn[0] == 2:  # the request gave up before a thread took it: nothing to compute
                    # never received: turn 2 is set only once run_sync has raised (cancelled) without a thread
                    # having taken this, so the result is abandoned unread
                    return cast(T, None)
                turn[0] = 1
            try:
                return fn(*args)
            finally:
                if heavy:
                    turns.release()
        try:
            with anyio.fail_after(config.timeout):
                while heavy and not turns.acquire(blocking=False):
                    await anyio.sleep(0.02)  # (a thread that blocked on the semaphore would hold a worker thread)
                started = True
                try:
                    return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
                finally:
                    with lock:  # cancelled before a thread took it (anyio may never start it): the turn back
                        if heavy and turn[0] == 0:
                            turn[0] = 2
                            turns.release()
        except TimeoutError:
            if heavy and not started:
                raise ApiError(503, "busy", f"{config.heavy} heavy answers (batches, rankings, explanations, portfolio "
                               f"answers) were being computed for {config.timeout:g} s", headers={"Retry-After": "5"},
                               hint="try again later, send less at a time, or start the server with more "
                               "--max-heavy (memory) or --workers") from None
            raise ApiError(503, "timeout", f"no answer within {config.timeout:g} s",
                           hint="send less at a time, or start the server with a longer --timeout") from None
        except PmoError as exc:
            raise _from_pmo(exc) from None
        except LogUnavailable as exc:
            raise _log_unavailable(exc) from None

    def noted(request: Request, served: Served, ids: list[str]) -> None:
        request.state.pmo_policy = served.engine.policy_hash
        request.state.pmo_decisions = ids

    def envelope(data: Any) -> None:
        """A body's own keys ("proposals", "top"), each once: JSON would keep the last one silently. (A proposal's
        repeated key is its own error, named at its column.)"""
        if isinstance(data, Duplicated):
            raise ApiError(400, "bad_json", f"the body is not usable JSON: key {data.duplicate!r} appears twice",
                           errors=[{"loc": ["body", str(data.duplicate)], "code": "duplicate_key",
                                    "message": "appears twice"}])

    def proposal_of(data: Any) -> Row:
        if not isinstance(data, dict):
            raise ApiError(422, "not_an_object", f"a proposal is a JSON object of fields, got {_json_type(data)}",
                           errors=[{"loc": ["body"], "code": "not_an_object", "message": "expected an object"}])
        row = bounded_row(data, 1, SOURCE)
        if row.error is not None:
            raise _refused([row.error])
        return row

    def options(model: type[BaseModel], data: Any) -> Any:
        envelope(data)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise _from_validation(list(exc.errors())) from None

    # ------------------------------------------------------------------ decisions
    @app.post("/v1/evaluate", tags=["decisions"], response_model=EvaluateResponse, responses=ERRORS,
              openapi_extra=_body(), summary="decide one proposal")
    async def evaluate(request: Request) -> Response:
        """Accept, review (with the approvers to route to) or reject one proposal, logged. A proposal that cannot
        be decided (a missing required field, a value of the wrong type) is a 422 naming the fields, not logged."""
        caller_of(request)
        served = holder.current
        data = await json_of(request)
        row = proposal_of(data)
        proposal = row.data
        assert proposal is not None  # bounded_row keeps an object's data (less any bad values) in every Row
        inputs(request, data)
        engine = served.engine
        if request.state.pmo_size <= INLINE:
            decision, record = engine.evaluate_read(proposal)
        else:
            decision, record = await compute(engine.evaluate_read, proposal)
        if decision.decision == "error":
            raise _refused(decision.errors)
        entry = proposal_entry(engine, decision, row.data, record=record)
        try:
            async with asyncio.timeout(config.timeout):
                await service.writer.append_async([entry])
        except TimeoutError:
            raise ApiError(503, "timeout", f"the decision log did not answer within {config.timeout:g} s") from None
        except LogUnavailable as exc:
            raise _log_unavailable(exc) from None
        key = logged_key(entry)
        noted(request, served, [key])
        said = field_warnings(engine, [row])
        return JSONResponse({**decision.to_json(), "decision_id": key, **({"warnings": said} if said else {})})
    app.fast["POST", "/v1/evaluate"] = evaluate

    @app.post("/v1/evaluate/batch", tags=["decisions"], response_model=BatchResponse, responses=ERRORS,
              openapi_extra=_body(ndjson=True, batch=True), summary="decide many proposals (JSON or NDJSON)")
    async def evaluate_batch(request: Request) -> Response:
        """A JSON array of proposals (or {"proposals": [...]}): one answer per proposal, in order; a bad one is
        an error row (decision "error", logged like the others), the batch goes on. With Content-Type
        application/x-ndjson: one proposal a line in, one answer a line out, decided and logged 500 lines at a
        time, in bounded memory (the body is spooled to a temporary file first, so a client that sends the
        whole body before reading, as most do, never blocks the server)."""
        caller_of(request)
        served = holder.current
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in NDJSON_TYPES:
            return await ndjson_batch(request, served)
        data = await json_of(request)
        envelope(data)
        items = data.get("proposals") if isinstance(data, dict) and set(data) == {"proposals"} else data
        if not isinstance(items, list):
            raise ApiError(422, "not_a_list", "a batch is a JSON array of proposals (or {\"proposals\": [...]})",
                           errors=[{"loc": ["body"], "code": "not_a_list", "message": "expected an array"}])
        _check_batch(len(items), config.max_batch)
        inputs(request, items)
        rows = [_row(item, number) for number, item in enumerate(items, 1)]
        answers = await compute(decided_and_logged, service, served.engine, rows, heavy=True)
        noted(request, served, [a["decision_id"] for a in answers])
        said = field_warnings(served.engine, rows)
        return JSONResponse({"policy_hash": served.engine.policy_hash, "as_of": served.engine.today.isoformat(),
                             "counts": dict(Counter(a["decision"] for a in answers)), "decisions": answers,
                             **({"warnings": said} if said else {})})

    async def ndjson_batch(request: Request, served: Served) -> StreamingResponse:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        try:
            await _spool(request, spool, config)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        rows = _ndjson_rows(spool)
        ids: list[str] = []
        noted(request, served, ids)

        def next_chunk() -> bytes:
            chunk = list(itertools.islice(rows, CHUNK))
            if not chunk:
                return b""
            answers = decided_and_logged(service, served.engine, chunk)
            ids.extend(a["decision_id"] for a in answers)
            return "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers).encode()

        try:  # the first chunk before the answer starts: a log that fails at once is a plain 503
            first = await compute(next_chunk, heavy=True)
        except BaseException:
            spool.close()
            raise

        async def lines() -> AsyncIterator[bytes]:
            """The answers; once they have started, a failure can only be said in the stream: it ends with one
            line {"error": {...}} instead of the remaining answers (those sent are logged)."""
            try:
                text = first
                while text:
                    yield text
                    text = await compute(next_chunk, heavy=True)
            except ApiError as exc:
                yield json.dumps(json.loads(bytes(exc.response().body))).encode() + b"\n"
            finally:
                spool.close()
        return StreamingResponse(lines(), media_type="application/x-ndjson",
                                 headers={"X-Policy-Hash": served.engine.policy_hash})

    @app.post("/v1/rank", tags=["decisions"], response_model=RankResponse, responses=ERRORS,
              summary="screen, score and rank proposals",
              openapi_extra=_body(RankRequest))
    async def rank(request: Request) -> Response:
        """Intake, then the ranking of the proposals that pass, with each one's breakdown; the rejected and the
        bad rows follow with their reasons. Not logged (rank decides nothing new); ``policy_hash`` names the
        version."""
        caller_of(request)
        served = holder.current
        data = await json_of(request)
        asked = options(RankRequest, {"proposals": data} if isinstance(data, list) else data)
        _check_batch(len(asked.proposals), config.max_batch)
        inputs(request, asked.proposals)
        rows = [_row(item, number) for number, item in enumerate(asked.proposals, 1)]
        ranking = await compute(lambda: served.engine.rank(rows, top=asked.top, sensitivity=asked.sensitivity),
                                heavy=True)
        noted(request, served, [])
        return JSONResponse({"policy_hash": served.engine.policy_hash, **ranking.to_json()})

    @app.post("/v1/explain", tags=["decisions"], response_model=ExplainResponse, responses=ERRORS,
              openapi_extra=_body(),
              summary="why this decision, and what would change it")
    async def explain(request: Request) -> Response:
        """Every rule's condition evaluated on the proposal (fired or not, with its file:line), the derived values,
        the score breakdown, and counterfactuals: changes verified by deciding the changed proposal again."""
        caller_of(request)
        served = holder.current
        data = await json_of(request)
        row = proposal_of(data)
        inputs(request, data)
        explanation = await compute(served.engine.explain, row, heavy=True)
        if explanation.decision.decision == "error":
            raise _refused(explanation.decision.errors)
        noted(request, served, [])
        return JSONResponse(explanation.to_json())

    @app.post("/v1/gates/{gate}/review", tags=["decisions"], responses={**ERRORS, 404: {"model": ErrorResponse}},
              openapi_extra=_body(GateRequest), summary="decide a project at a stage gate")
    async def review_gate(gate: str, request: Request) -> Response:
        """go, kill, hold or recycle, with the criteria that decided it and who decides; logged. An override of
        failed must-meet criteria needs a token with the admin role, and a role the gate allows."""
        caller_of(request)
        served = holder.current
        asked = options(GateRequest, await json_of(request))
        if asked.override is not None:
            caller_of(request, "admin")
        inputs(request, asked.project)
        override = asked.override.model_dump() if asked.override else None

        def review() -> tuple[GateDecision, str]:
            engine = served.engine
            decision = engine.review_gate(asked.project, gate, override=override)
            entry = gate_entry(engine, asked.project, decision)
            service.writer.append([entry])
            return decision, logged_key(entry)
        decision, key = await compute(review)
        noted(request, served, [key])
        return JSONResponse({**decision.to_json(), "decision_id": key})

    # ------------------------------------------------------------------ the portfolio
    @app.post("/v1/conflicts", tags=["portfolio"], responses=ERRORS, openapi_extra=_body(ConflictsRequest),
              summary="every conflict in a portfolio")
    async def conflicts(request: Request) -> Response:
        caller_of(request)
        served = holder.current
        asked = options(ConflictsRequest, await json_of(request, PLAIN))

        def find() -> ConflictReport:
            projects = portfolio_from(asked.portfolio, SOURCE)
            if asked.funded is not None:
                unknown = sorted(set(asked.funded) - set(projects.projects))
                if unknown:
                    raise InputError([_unknown_projects(unknown)])
                for project in projects:
                    project.funded = project.id in asked.funded
            return served.engine.conflicts(projects)
        report = await compute(find, heavy=True)
        noted(request, served, [])
        return JSONResponse({"policy_hash": served.engine.policy_hash, **report.to_json()})

    @app.post("/v1/schedule", tags=["portfolio"], responses=ERRORS, openapi_extra=_body(PortfolioRequest),
              summary="critical path, floats and delivery order")
    async def schedule(request: Request) -> Response:
        caller_of(request)
        served = holder.current
        asked = options(PortfolioRequest, await json_of(request, PLAIN))
        found = await compute(served.engine.schedule, asked.portfolio)
        noted(request, served, [])
        return JSONResponse({"policy_hash": served.engine.policy_hash, **found.to_json()})

    @app.post("/v1/impact", tags=["portfolio"], responses=ERRORS, openapi_extra=_body(ImpactRequest),
              summary="what cancelling or delaying a project does")
    async def impact(request: Request) -> Response:
        caller_of(request)
        served = holder.current
        asked = options(ImpactRequest, await json_of(request, PLAIN))
        delay = (asked.delay.project, asked.delay.by) if asked.delay else None
        found = await compute(lambda: served.engine.impact(asked.portfolio, cancel=asked.cancel, delay=delay))
        noted(request, served, [])
        return JSONResponse({"policy_hash": served.engine.policy_hash, **found.to_json()})

    @app.post("/v1/select", tags=["portfolio"], responses=ERRORS, openapi_extra=_body(SelectRequest),
              summary="the most valuable fundable set of projects, with a frontier and scenarios")
    async def select(request: Request) -> Response:
        caller_of(request)
        served = holder.current
        asked = options(SelectRequest, await json_of(request, PLAIN))
        limit = min(asked.time_limit, config.timeout / max(2 + asked.frontier, 2))  # every solve within --timeout
        report = await compute(lambda: served.engine.select(asked.portfolio, budget=asked.budget,
                                                            frontier=asked.frontier, scenarios=asked.scenarios,
                                                            time_limit=limit), heavy=True)
        noted(request, served, [])
        return JSONResponse({"policy_hash": served.engine.policy_hash, **report.to_json()})

    # ------------------------------------------------------------------ the log
    @app.get("/v1/decisions/{decision_id}", tags=["log"], responses={**ERRORS, 404: {"model": ErrorResponse}},
             response_model=LoggedDecision,
             summary="a logged decision, by the id its answer gave")
    async def decision(decision_id: str, request: Request) -> Response:
        caller_of(request)
        found = await compute(lambda: service.logs.get().get(decision_id))
        if found is None:
            raise ApiError(404, "not_found", f"no decision {decision_id!r} in the log")
        return JSONResponse(_logged(found))

    @app.get("/v1/decisions", tags=["log"], responses=ERRORS, response_model=DecisionsPage,
             summary="logged decisions by project and date, a page at a time")
    async def decisions(request: Request,
                        project: Annotated[str | None, Query(description="the project's id")] = None,
                        from_: Annotated[dt.date | None, Query(alias="from", description="decided on or after this "
                                                               "date (YYYY-MM-DD, UTC)")] = None,
                        to: Annotated[dt.date | None, Query(description="decided on or before this date (YYYY-MM-DD, "
                                                            "UTC)")] = None,
                        since: Annotated[dt.date | None, Query(description="the same as from", deprecated=True)]
                        = None,
                        kind: Annotated[Literal["intake", "gate"] | None, Query()] = None,
                        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"at most this many in a page, "
                                                    f"oldest first (1 to {MAX_PAGE:,})")] = 100,
                        cursor: Annotated[int | None, Query(ge=0, description="where the page starts: the `cursor` "
                                                            "of the previous page (its `next` link has it)")] = None
                        ) -> JSONResponse:
        """One page of the matching decisions, oldest first. When there are more, ``next`` is the link to the
        following page (the same query, with ``cursor``); it is null on the last page. Paging while decisions
        are being logged misses none and repeats none."""
        caller_of(request)
        if from_ is not None and since is not None and from_ != since:
            raise ApiError(422, "invalid_request", "give from or since (the same), not both",
                           errors=[{"loc": ["query", "since"], "code": "conflict", "message": "from is given"}])
        start = from_ or since
        if start is not None and to is not None and start > to:
            raise ApiError(422, "invalid_request", f"from ({start}) is after to ({to})",
                           errors=[{"loc": ["query", "to"], "code": "before_from", "message": "to is before from"}])
        found = await compute(lambda: service.logs.get().page(project=project, since=start, until=to, kind=kind,
                                                              after=cursor, limit=limit))
        link = None
        if found.next is not None:
            url = request.url.include_query_params(cursor=found.next).remove_query_params("token")
            link = f"{url.path}?{url.query}"  # relative: right behind a proxy too
        return JSONResponse({"count": len(found.entries), "truncated": found.next is not None,
                             "cursor": found.next, "next": link, "decisions": [_logged(e) for e in found.entries]})

    # ------------------------------------------------------------------ the live board
    board = BoardState(service.logs, holder, lambda: service.writer.commits, service.portfolio, service.status)

    @app.get("/", include_in_schema=False)
    async def board_page(request: Request) -> HTMLResponse:
        """The board report of the log's latest intake decisions; it reloads itself when a decision arrives.
        With tokens, open it as /?token=TOKEN (an evaluate token: the page shows proposals)."""
        caller_of(request, query_token=True)
        found = await compute(board.current)
        return HTMLResponse(page(found, request.query_params.get("token")),
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    @app.get("/v1/board", tags=["board"], responses=ERRORS, summary="the board's figures, as the page shows them")
    async def board_figures(request: Request) -> Response:
        caller_of(request, query_token=True)
        found = await compute(board.current)
        return JSONResponse(found.to_json())

    @app.get("/v1/board/version", tags=["board"], responses=ERRORS, summary="changes when a decision is logged")
    async def board_version(request: Request) -> Response:
        caller_of(request, query_token=True)
        found = await compute(board.current)
        return JSONResponse({"version": found.version})

    @app.get("/v1/health", tags=["board"], responses={**ERRORS, 404: {"model": ErrorResponse}},
             summary="earned value and RAG health of the status reports (pmo serve --status FILES)")
    async def health_view(request: Request,
                          as_of: Annotated[dt.date | None, Query(description="each project at its latest report on "
                                                                 "or before this date (YYYY-MM-DD)")] = None,
                          by: Annotated[Literal["project", "objective", "portfolio"], Query(
                              description="one entry per project (error rows last), per objective, or the "
                              "portfolio")] = "project") -> JSONResponse:
        """What ``pmo health FILES --format json [--as-of DATE] [--by ...]`` prints for the server's status report
        files, read again when they change. 404 when the server was started without ``--status``."""
        caller_of(request)
        status = service.status
        if status is None:
            raise ApiError(404, "no_status", "this server has no status reports, so no health view",
                           hint="start it with pmo serve --status FILE... (the monthly status reports, as pmo health "
                           "reads them), or --history (those pmo status ingest stored in --log); the board then has "
                           "the portfolio health page too")
        engine = holder.current.engine

        def view() -> tuple[list[dict[str, Any]] | None, list[str]]:
            data, errors = status.data(engine)
            if data is None:
                return None, errors
            return health_entries(engine.health(data, as_of=as_of), by), []
        entries, errors = await compute(view)
        if entries is None:
            raise ApiError(503, "status_unreadable", f"the status reports do not read ({plural(len(errors), 'problem')})",
                           errors=[{"loc": ["status"], "code": "status_unreadable", "message": e} for e in errors],
                           hint="fix the files named; the view comes back when they read")
        noted(request, holder.current, [])
        return JSONResponse(entries)

    # ------------------------------------------------------------------ the policy and the server
    @app.get("/v1/policy", tags=["policy"], responses=ERRORS, summary="the served policy: hash, files, warnings")
    async def policy(request: Request) -> Response:
        caller_of(request)
        return JSONResponse({**holder.current.describe(), "reloads": holder.reloads,
                             "last_failure": _failure(holder)})

    @app.post("/v1/policy/reload", tags=["policy"], responses=ERRORS, summary="load the policy files again")
    async def policy_reload(request: Request) -> Response:
        """The new version is checked and compiled aside and swapped in between requests; a broken one is a 422
        with its diagnostics (file:line:col), and the working version goes on serving. Needs the admin role.
        With --workers N: the worker that answers loads it (a broken one is the same 422), then every worker is
        asked to load it (SIGHUP to the supervisor), and the answer is 202 with ``reloaded: false, signalled:
        true``: the others reload on their own, each /health says which version it serves."""
        caller_of(request, "admin")
        failure = await reload("POST /v1/policy/reload")
        if failure is not None:
            raise ApiError(422, "policy_invalid", f"the new policy version does not load ({plural(len(failure.diagnostics), 'problem')}"
                           f"); still serving {holder.current.engine.policy_hash}",
                           errors=[{"loc": ["policy"], **d} for d in failure.diagnostics])
        if config.workers > 1:
            # this worker has loaded it; each of the others loads it itself, when the supervisor passes SIGHUP on
            # (engine/serve/run.py). This answer cannot know that they have: it says they were asked.
            supervisor = os.environ.get(SUPERVISOR_ENV, "")
            if not supervisor.isdigit() or int(supervisor) != os.getppid():
                raise ApiError(503, "no_supervisor", "this worker loaded the new version, but its supervisor is gone, "
                               "so the other workers cannot be asked to", hint="restart the service")
            os.kill(int(supervisor), signal.SIGHUP)
            return JSONResponse({"reloaded": False, "signalled": True, "workers": config.workers,
                                 **holder.current.describe(),
                                 "message": f"the worker that answers serves {holder.current.engine.policy_hash}; "
                                 f"every one of the {config.workers} workers was asked to load the files again (SIGHUP "
                                 "to the supervisor) and does so within moments; each /health answer names its "
                                 "worker's policy_hash, and a worker that cannot load them keeps its version and says "
                                 "degraded"}, 202)
        return JSONResponse({"reloaded": True, **holder.current.describe()})

    async def health() -> JSONResponse:
        failure = _failure(holder)
        return JSONResponse({"status": "degraded" if failure else "ok", "policy_hash":
                             holder.current.engine.policy_hash, "last_failure": failure})

    async def ready() -> JSONResponse:
        try:
            await compute(lambda: service.logs.get().get(""))
        except Exception as exc:  # noqa: BLE001 - a log that does not answer is "not ready", with why
            return ApiError(503, "not_ready", f"the decision log does not answer: {exc}").response()
        return JSONResponse({"ready": True, "policy_hash": holder.current.engine.policy_hash})

    for path, endpoint, summary in (
            ("/health", health, "alive, the served policy, and a failed reload's diagnostics"),
            ("/ready", ready, "ready to decide: a policy is served and the log answers")):
        for method in ("GET", "HEAD"):  # one route each: an operationId is the operation's alone (OpenAPI)
            app.add_api_route(path, endpoint, methods=[method], tags=["server"], operation_id=
                              f"{endpoint.__name__}_{method.lower()}", summary=summary + (
                                  " (the status only, no body: a load balancer's probe)" if method == "HEAD" else ""))

    described: dict[str, Any] = {}  # the policy hash the document was made for, and the document

    def openapi() -> dict[str, Any]:
        """The API description, with the served policy's Proposal (made again when the policy changes)."""
        engine = holder.current.engine
        if described.get("hash") != engine.policy_hash:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {})
            components["schemas"] = policy_components(engine, {**components.get("schemas", {}), **_SCHEMAS})
            schema["info"]["x-policy-hash"] = engine.policy_hash
            example = example_proposal(engine)  # the served policy's, or none
            for path, value in (("/v1/evaluate", example), ("/v1/explain", example),
                                ("/v1/evaluate/batch", None if example is None else [example])):
                content = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
                if value is None:
                    content.pop("example", None)
                else:
                    content["example"] = value
            described.update(hash=engine.policy_hash, schema=schema)
            app.openapi_schema = schema
        made: dict[str, Any] = described["schema"]
        return made
    app.openapi = openapi  # type: ignore[method-assign]
    return app


def reload_line(reason: str, before: Served, after: Served, failure: Any, failed_before: bool) -> str:
    """What a reload did, in one line: reloaded (from which version to which), the same version kept, or a
    version refused (with its first problem, at file:line:col)."""
    was = before.engine.policy_hash
    if failure is not None:
        problems = failure.diagnostics
        first = problems[0]["text"] if problems else "no diagnostics"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return f"policy reload refused ({reason}), still serving {was}: {first}{more}"
    if after.engine is before.engine:
        return (f"policy files are back as served ({reason}): {was}, healthy again" if failed_before else
                f"policy reloaded ({reason}): unchanged, {was}")
    return f"policy reloaded ({reason}): {after.engine.policy_hash}, was {was}"


def _plain_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # the first key that comes again
            if key in seen:
                raise ValueError(f"key {key!r} appears twice")
            seen.add(key)
    return data


def _bounded_float_int(text: str) -> int:
    if len(text) > MAX_DIGITS:
        raise ValueError(f"a number of {len(text):,} characters")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_DIGITS:
        raise ValueError(f"a number of {len(text):,} characters")
    return float(text)


# Portfolios and selections are read as their YAML files are (floats), not with proposals' exact decimals.
PLAIN = json.JSONDecoder(object_pairs_hook=_plain_pairs, parse_float=_bounded_float, parse_int=_bounded_float_int)


def parse_json(body: bytes, decoder: json.JSONDecoder = DECODER) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "bad_encoding", f"the body is not UTF-8 (byte {exc.start + 1})") from None
    if not text.strip():
        raise ApiError(400, "empty_body", "the body is empty; send a JSON document")
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "bad_json", f"the body is not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}",
                       errors=[{"loc": ["body"], "code": "bad_json", "message": exc.msg, "line": exc.lineno,
                                "column": exc.colno}]) from None
    except ValueError as exc:  # an integer of over 4,300 digits, a repeated key
        raise ApiError(400, "bad_json", f"the body is not usable JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "bad_json", "the body is nested too deeply") from None


def _refused(errors: list[RowError]) -> ApiError:
    located = [{"loc": ["body", e.column] if e.column else ["body"], "code": e.code, "message": e.message}
               for e in errors]
    first = errors[0] if errors else None
    return ApiError(422, "invalid_proposal", first.message if first else "the proposal cannot be decided",
                    errors=located)


def _log_unavailable(exc: LogUnavailable) -> ApiError:
    return ApiError(503, "log_unavailable", str(exc), hint="nothing of this request was logged; send it again "
                    "when the log is back (a decision is logged once, however often it is sent)")


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the body has {size:,} bytes or more; this server takes at most "
                    f"{limit:,}", hint="send it in parts, or as an NDJSON batch")


def _check_batch(count: int, limit: int, *, counted: bool = True) -> None:
    """``counted``: ``count`` is the whole batch (a JSON array); else the reading stopped there (NDJSON, which is
    not read past the limit), so the answer says "more than" the limit, not a count it did not make."""
    if count > limit:
        size = f"{count:,}" if counted else f"more than {limit:,}"
        raise ApiError(413, "batch_too_large", f"the batch has {size} proposals; this server takes at most "
                       f"{limit:,} at a time", hint="send it in parts")


def _unknown_projects(unknown: list[str]) -> Diagnostic:
    return Diagnostic("unknown_project", f"funded names projects not in the portfolio: {', '.join(unknown)}")


async def _spool(request: Request, spool: IO[bytes], config: ServeConfig) -> None:
    """Copy an NDJSON body to ``spool``, refusing (413) more than --max-batch lines or a line over --max-body."""
    lines, line_bytes = 0, 0
    stream = request.stream().__aiter__()
    while True:
        try:
            with anyio.fail_after(config.timeout):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise ApiError(408, "timeout", f"no part of the body arrived for {config.timeout:g} s") from None
        spool.write(chunk)
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            _check_line(lines + 1, line_bytes + end - start, config.max_body)
            lines, line_bytes, start = lines + 1, 0, end + 1
            _check_batch(lines, config.max_batch, counted=False)
        line_bytes += len(chunk) - start
        _check_line(lines + 1, line_bytes, config.max_body)
    if line_bytes:  # a last line without its newline is a line too (10,001 lines passed a limit of 10,000)
        _check_batch(lines + 1, config.max_batch, counted=False)


def _check_line(number: int, size: int, limit: int) -> None:
    if size > limit:
        raise ApiError(413, "line_too_large", f"line {number} has over {limit:,} bytes; this server takes at most "
                       f"{limit:,} in one line", hint="a proposal that large is not one; is the body NDJSON?")


def _logged(entry: dict[str, Any]) -> dict[str, Any]:
    return {"decision_id": entry["key"], **{k: v for k, v in entry.items() if k != "key"}}


def _failure(holder: PolicyHolder) -> dict[str, Any] | None:
    failure = holder.failure
    if failure is None:
        return None
    return {"at": failure.at, "reason": failure.reason, "diagnostics": failure.diagnostics,
            "serving": holder.current.engine.policy_hash}


async def _answer_fast(endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    """An endpoint answered as the router would: its result sent, an ApiError as its JSON, anything else a 500."""
    try:
        response = await endpoint(Request(scope, receive))
    except ApiError as exc:
        response = exc.response()
    except Exception as exc:  # noqa: BLE001 - as the app's handler of bugs: a 500 naming the type only
        response = ApiError(500, "internal_error", f"internal error ({type(exc).__name__}); please report it").response()
    await response(scope, receive, send)


class DecisionApp(FastAPI):
    """The FastAPI app with the access log around every request (one JSON line each, written after the answer:
    engine/serve/access.py), and the hottest routes (POST /v1/evaluate) answered before FastAPI's middleware
    stack, router and dependency solving: ``fast`` maps (method, path) to the same endpoint function the router
    would call, given a Request, its ApiError answered as the exception handlers answer it (docs/benchmarks.md
    measures what that saves)."""

    def __init__(self, service: Service, **options: Any):
        super().__init__(**options)
        self.pmo_service = service
        self.fast: dict[tuple[str, str], Endpoint] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        start, seen = time.perf_counter(), {"status": 500, "sent": 0, "received": 0}
        state = scope.setdefault("state", {})

        async def counted_receive() -> Message:
            message = await receive()
            seen["received"] += len(message.get("body", b""))
            return message

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["sent"] += len(message.get("body", b""))
            await send(message)
        try:
            endpoint = self.fast.get((scope["method"], scope["path"]))  # an http scope has both (ASGI)
            if endpoint is None:
                await super().__call__(scope, counted_receive, counted_send)
            else:
                await _answer_fast(endpoint, scope, counted_receive, counted_send)
        finally:
            ids = state.get("pmo_decisions") or []
            record = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                      "method": scope.get("method"), "path": scope.get("path"), "status": seen["status"],
                      "ms": round((time.perf_counter() - start) * 1000, 2), "bytes_in": seen["received"],
                      "bytes_out": seen["sent"], "caller": state.get("pmo_caller"),
                      "client": (scope.get("client") or ("?",))[0], "policy_hash": state.get("pmo_policy"),
                      "decisions": len(ids), "decision_ids": ids[:20]}
            if "pmo_inputs" in state:
                record["inputs"] = state["pmo_inputs"]
            self.pmo_service.access.line(record)
