"""The options of ``pmo serve``, in one frozen value that worker processes receive as JSON."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass

from engine.store.address import DEFAULT_PATH as DEFAULT_LOG

CONFIG_ENV = "PMO_SERVE_CONFIG"  # how the supervisor hands the options to each uvicorn worker
SUPERVISOR_ENV = "PMO_SERVE_SUPERVISOR"  # the supervisor's pid, which a worker signals to have every worker reload


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8181
    log: str = DEFAULT_LOG  # the decision log: a SQLite path (or whatever engine.store.open_log opens)
    policies: str | None = None  # None: the reference policies
    rules: tuple[str, ...] = ()
    today: str | None = None  # YYYY-MM-DD; None: the current date, the policy recompiled when it changes
    backend: str = "rete"
    workers: int = 1
    tokens: str | None = None  # a tokens file; PMO_TOKENS adds tokens from the environment
    max_body: int = 16 << 20  # bytes in one request body (one NDJSON line)
    max_batch: int = 10_000  # proposals in one batch or ranking
    timeout: float = 30.0  # seconds to receive a head, a body, and to compute one answer (one NDJSON chunk)
    heavy: int = 2  # batches, rankings, explanations and portfolio answers computed at once in a worker; more
    # wait for a turn (within timeout, then 503 busy): one answer's memory times this bounds a worker's
    watch: float = 2.0  # seconds between looks at the policy files for a change; 0: only SIGHUP and reload
    mask: tuple[str, ...] = ()  # fields whose values the access log never shows (beside the policy's mask: true)
    log_inputs: bool = False  # the access log also shows the proposals (masked)
    access_log: str | None = None  # a file for the access log (JSON lines); None: standard error
    portfolio: str | None = None  # a portfolio file whose conflicts, graph and frontier the board shows
    frontier: int = 5  # budget levels of the board's efficient frontier (with a portfolio; 0: none)
    status: tuple[str, ...] = ()  # status report files: the board's health page and GET /v1/health (none: neither)
    status_columns: str | None = None  # the status files' input profile (pmo health --columns); None: none
    status_sheet: str | None = None  # the worksheet of .xlsx status files (pmo health --sheet); None: the first
    history: bool = False  # ... from the status reports `pmo status ingest` stored in the log instead of files

    @property
    def today_date(self) -> dt.date | None:
        return dt.date.fromisoformat(self.today) if self.today else None

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> ServeConfig:
        data = json.loads(os.environ[CONFIG_ENV])
        data["rules"], data["mask"], data["status"] = tuple(data["rules"]), tuple(data["mask"]), tuple(data["status"])
        return cls(**data)
