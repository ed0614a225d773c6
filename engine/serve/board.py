"""The live board (GET /): the board report (engine/report) of what the decision log holds now.

The intake round is the latest logged intake decision of each project, decided again under the served policy
(its typed record gives the budget, objectives and score; under an unchanged policy the outcome is the logged
one, the log's key covers the policy). With ``--portfolio FILE`` the board also has the report's portfolio
pages: the file's conflicts, its dependency graph and the efficient frontier at ``--frontier`` budget levels,
computed once per version of the file and of the policy (not per decision), and read again when the file
changes; a file that stops reading keeps no stale pages: the board says what is wrong with it instead.
With ``--status FILES`` (the monthly status reports, as ``pmo health`` reads them, ``--columns`` and ``--sheet``
too; or ``--history``: the reports ``pmo status ingest`` stored in the log) the board also has the portfolio health
page (RAG grid, S-curves, KPI tiles; with ``--portfolio`` the capacity heat map and the Gantt chart), made by
``health_section`` from the reports' StatusData, the reports rated once per version of the files and of the
policy, the page once per version of the log's decisions too; GET /v1/health answers ``pmo health --format
json``'s view of them. Its KPI tiles are every KPI the policy declares, over the status reports, the log's intake
and gate decisions and, with ``--portfolio``, the portfolio's selection (engine.select, as ``pmo select`` gives
it): the figures of ``pmo kpi --status FILES --log DB --selection JSON`` at each status date.

The page asks GET /v1/board/version every few seconds and reloads when the version changes: the version is
made from the log (its intake entries and last sequence number; with status reports, its gate entries too), the
policy hash, the portfolio file and the status files, so every worker of a server, and every replica sharing the
log and the file, gives the same one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from engine.errors import PmoError
from engine.health.status import StatusData
from engine.report.build import Report, render

if TYPE_CHECKING:  # annotations only: the stages load when the board first needs them
    from engine.api import Engine
    from engine.health.trend import HealthSeries
    from engine.report.health import HealthPage
    from engine.serve.policy import PolicyHolder
    from engine.store import DecisionLog

POLL_SECONDS = 3
FRESH_SECONDS = 1.0  # the log is read at most this often per process, however many screens poll
FileState = tuple[object, ...]  # what a file's state is compared by: (size, mtime) or ("missing", why)
_Data = TypeVar("_Data")


class Logs(Protocol):
    """This thread's connection to the decision log (engine.serve.app.LogPool)."""

    def get(self) -> DecisionLog: ...


@dataclass(frozen=True)
class PortfolioPages:
    """What the board shows of the portfolio file: its conflicts, graph and frontier, or why it cannot."""

    file: str
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    frontier: list[dict[str, Any]] = field(default_factory=list)
    graph_svg: str | None = None
    errors: list[str] = field(default_factory=list)  # file:line:col: message, when the file does not read
    projects: Any = None  # the Portfolio read (for the health page's heat map and Gantt chart); None: it did not read
    selection: dict[str, Any] | None = None  # engine.select's result as pmo select --format json gives it (the KPIs
    #                                          over selection); None when it was not asked for or the file did not read

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "conflicts": self.conflicts, "frontier": self.frontier, "errors": self.errors}


@dataclass(frozen=True)
class Board:
    version: str
    report: Report  # with the health page (report.health) when the server has status reports that read
    portfolio: PortfolioPages | None = None
    status_errors: list[str] | None = None  # None: no --status; else why the status files do not read (or [])

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, **self.report.to_json(), "health": _plain(self.report.health.to_json())
                if self.report.health is not None else None,
                "portfolio": self.portfolio.to_json() if self.portfolio else None, "status_errors": self.status_errors}


class PortfolioSource:
    """The served portfolio file, its pages made once per (policy version, file state)."""

    def __init__(self, path: str, frontier: int, time_limit: float):
        self.path, self.frontier, self.time_limit = Path(path), frontier, time_limit
        self._made: tuple[tuple[str, FileState], PortfolioPages] | None = None

    def state(self) -> FileState:
        return _file_state(self.path)

    def pages(self, engine: Engine, state: FileState) -> PortfolioPages:
        key = (engine.policy_hash, state)
        if self._made is not None and self._made[0] == key:
            return self._made[1]
        made = self._make(engine)
        self._made = (key, made)
        return made

    def _make(self, engine: Engine) -> PortfolioPages:
        # lazy: networkx loads only when a portfolio is shown
        from engine.portfolio.export import svg_text
        from engine.portfolio.model import read_portfolio
        try:
            projects = read_portfolio(self.path)
            found = engine.conflicts(projects)
            points, selection = [], None
            if self.frontier or _selection_kpis(engine):  # the selection's KPI reads what pmo select gives
                chosen = engine.select(projects, frontier=self.frontier, time_limit=self.time_limit)
                points, selection = chosen.frontier, _plain_data(chosen.to_json())
            return PortfolioPages(str(self.path), found.to_json()["conflicts"], _plain(points), svg_text(projects, found),
                                  projects=projects, selection=selection)
        except PmoError as exc:
            return PortfolioPages(str(self.path), errors=[str(d) for d in exc.diagnostics])


class StatusSource:
    """The status reports of ``pmo serve --status FILES [--columns MAP] [--sheet NAME]``, read as ``pmo health``
    reads them (through the input profile, when one is given) and again when one of them, or the profile, changes;
    a file that stops reading is said, with its file:line:col, not shown stale."""

    def __init__(self, paths: Sequence[str], columns: str | None = None, sheet: str | None = None):
        self.paths = [Path(p) for p in paths]
        self.columns, self.sheet = (Path(columns) if columns else None), sheet
        self._read: tuple[tuple[str, FileState], StatusData | None, list[str]] | None = None
        self._series: tuple[tuple[str, FileState], HealthSeries] | None = None  # every project rated at every date, per (policy, reports)
        self._page: tuple[tuple[object, ...], HealthPage | None] | None = None
        self._lock = threading.Lock()  # the board and /v1/health ask from worker threads

    def state(self) -> FileState:
        return tuple(_file_state(path) for path in [*self.paths, *([self.columns] if self.columns else [])])

    def check(self, engine: Engine) -> None:
        """Raise the PmoError (InputError: file:line diagnostics) of files, or a profile, that do not read."""
        self._read_status(engine)

    def _read_status(self, engine: Engine) -> StatusData:
        from engine.compile.health import DEFAULT_HEALTH
        from engine.health.status import read_status, status_profile
        from engine.io.profile import InputProfile
        profile = status_profile(self.columns) or InputProfile()
        return read_status(self.paths, profile, self.sheet, (engine.policy.health or DEFAULT_HEALTH).calendar)

    def data(self, engine: Engine, state: FileState | None = None) -> tuple[StatusData | None, list[str]]:
        """The reports (None when a file does not read) and why not, as of ``state`` (default: now)."""
        state = self.state() if state is None else state
        key = (engine.policy_hash, state)
        with self._lock:
            if self._read is None or self._read[0] != key:
                try:
                    self._read = (key, self._read_status(engine), [])
                except PmoError as exc:
                    self._read = (key, None, [str(d) for d in exc.diagnostics])
            return self._read[1], self._read[2]

    def page(self, engine: Engine, state: FileState, portfolio: PortfolioPages | None,
             portfolio_state: FileState | None, entries: Sequence[dict[str, Any]] = ()) -> HealthPage | None:
        """The health page (made once per policy version, state of the status files, of the portfolio file and of
        the log's decisions), or None when the status files do not read. ``entries``: the log's intake and gate
        decisions, for the KPIs over them; the served portfolio's selection for those over selection."""
        data, _ = self.data(engine, state)
        if data is None:
            return None
        key = (engine.policy_hash, state, portfolio_state, len(entries), entries[-1]["seq"] if entries else None)
        with self._lock:
            if self._page is None or self._page[0] != key:
                if self._series is None or self._series[0] != key[:2]:  # a new decision rates nothing again
                    self._series = (key[:2], engine.health_series(data))
                self._page = (key, health_section(data, engine, portfolio, entries, self._series[1]))
            return self._page[1]


class HistorySource(StatusSource):
    """The status reports ``pmo status ingest`` stored in the served log (``pmo serve --history``): the same
    StatusData the files give (engine.store.history.status_data), read again when an ingest adds a report."""

    def __init__(self, log: Callable[[], DecisionLog]):
        super().__init__(())
        self._log = log  # this thread's connection to the decision log

    def state(self) -> FileState:
        from engine.store.history import history_state
        return ("history", *history_state(self._log()))

    def check(self, engine: Engine) -> None:
        return None  # reports were checked when they were ingested

    def data(self, engine: Engine, state: FileState | None = None) -> tuple[StatusData | None, list[str]]:
        from engine.store.history import status_data
        state = self.state() if state is None else state
        key = (engine.policy_hash, state)
        with self._lock:
            if self._read is None or self._read[0] != key:
                self._read = (key, status_data(self._log()), [])
            return self._read[1], self._read[2]


def health_section(status: StatusData, engine: Engine, portfolio: PortfolioPages | None = None,
                   entries: Sequence[dict[str, Any]] = (), series: HealthSeries | None = None) -> HealthPage:
    """The portfolio health page (engine/report/health.py's HealthPage, as ``pmo health FILES --report`` builds it)
    of the served status reports (``--status`` files, or ``--history``: those stored in the log, the same
    StatusData), its KPI tiles the declared KPIs over them, over the log's decisions (``entries``) and over the
    served portfolio's selection: the figures ``pmo kpi --status FILES --log DB --selection SELECT.json`` gives.
    ``portfolio``: the served portfolio's pages (its heat map, Gantt chart and selection); ``series``: the reports
    rated at every date already (engine.health_series(status)), else they are rated here."""
    projects = portfolio.projects if portfolio is not None else None
    selection = portfolio.selection if portfolio is not None else None
    series = engine.health_series(status) if series is None else series
    tiles = engine.health_tiles(series, status, entries=list(entries), selection=selection,
                                selection_source=portfolio.file if portfolio is not None else "selection")
    return engine.health_page(series, portfolio=projects, kpis=tiles)


def _selection_kpis(engine: Engine) -> bool:
    """Whether the served policy declares a KPI over the selection (so the board runs pmo select's solve)."""
    kpis = engine.policy.kpis
    return kpis is not None and any(k.over == "selection" for k in kpis.kpis)


def _file_state(path: Path) -> FileState:
    try:
        stat = path.stat()
    except OSError as exc:
        return ("missing", exc.strerror)
    return (stat.st_size, stat.st_mtime_ns)


class BoardState:
    def __init__(self, logs: Logs, holder: PolicyHolder, commits: Callable[[], int], portfolio: PortfolioSource | None = None,
                 status: StatusSource | None = None):
        """``commits``: how many times this process has written the log (its own writes show at once; those of
        other processes within FRESH_SECONDS)."""
        self._logs, self._holder, self._commits, self._portfolio = logs, holder, commits, portfolio
        self._status = status
        self._lock = threading.Lock()
        self._cached: tuple[float, tuple[object, ...], Board] | None = None

    def current(self) -> Board:
        """The board of the log as it is (read again after FRESH_SECONDS). Call from a worker thread."""
        with self._lock:
            engine = self._holder.current.engine
            file_state = self._portfolio.state() if self._portfolio is not None else None
            status_state = self._status.state() if self._status is not None else None
            now, state = time.monotonic(), (engine.policy_hash, self._commits(), file_state, status_state)
            if self._cached and now - self._cached[0] < FRESH_SECONDS and self._cached[1] == state:
                return self._cached[2]
            entries = self._logs.get().query(kind="intake")
            latest: dict[object, dict[str, Any]] = {}  # project (or ("#", seq) without one) -> entry
            for entry in entries:  # oldest first: a later decision on a project replaces an earlier one
                latest[entry["project"] or ("#", entry["seq"])] = entry
            rows = [e["input"]["row"] for e in latest.values()
                    if isinstance(e.get("input"), dict) and isinstance(e["input"].get("row"), dict)]
            version = f"{engine.policy_hash}.{len(entries)}.{entries[-1]['seq'] if entries else 0}"
            report = engine.report(rows, title="Intake board")
            pages = None
            if self._portfolio is not None and file_state is not None:  # a state whenever there is a file
                pages = self._portfolio.pages(engine, file_state)
                report = dataclasses.replace(report, conflicts=pages.conflicts, frontier=pages.frontier,
                                             graph_svg=pages.graph_svg)
                version += "." + hashlib.sha256(repr(file_state).encode()).hexdigest()[:8]
            status_errors = None
            if self._status is not None and status_state is not None:
                # the KPIs over intake and gate decisions read them all (pmo kpi --log reads the whole log)
                gates = self._logs.get().query(kind="gate")
                decisions = sorted([*entries, *gates], key=lambda e: e["seq"])
                version += f".{len(gates)}.{gates[-1]['seq'] if gates else 0}"
                health = self._status.page(engine, status_state, pages, file_state, decisions)
                status_errors = self._status.data(engine, status_state)[1]
                report = dataclasses.replace(report, health=health)
                version += "." + hashlib.sha256(repr(status_state).encode()).hexdigest()[:8]
            board = Board(version, report, pages, status_errors)
            self._cached = (now, state, board)
            return board


def page(board: Board, token: str | None) -> str:
    """The report's page, allowed to ask this server (and nothing else) for the board's version."""
    text = render(board.report)
    text = text.replace("default-src 'none';", "default-src 'none'; connect-src 'self';", 1)
    notes = []
    if board.portfolio is not None and board.portfolio.errors:
        items = "".join(f"<li>{html.escape(e)}</li>" for e in board.portfolio.errors[:20])
        notes.append(f'<section id="portfolio-errors"><h2>The portfolio file does not read</h2><p>'
                     f'{html.escape(board.portfolio.file)}: fix it and the conflicts and frontier come back.</p>'
                     f"<ul>{items}</ul></section>")
    if board.status_errors:
        items = "".join(f"<li>{html.escape(e)}</li>" for e in board.status_errors[:20])
        notes.append(f'<section id="status-errors"><h2>The status reports do not read</h2><p>Fix them and the '
                     f"health page comes back.</p><ul>{items}</ul></section>")
    if notes:
        text = text.replace("</main>", "".join(notes) + "</main>", 1)
    url = "/v1/board/version" + (f"?token={urllib.parse.quote(token, safe='')}" if token else "")
    script = (f'<script>(function () {{ var shown = {_js(board.version)};'
              f' document.documentElement.setAttribute("data-board-version", shown);'
              f' setInterval(function () {{ fetch({_js(url)}, {{cache: "no-store"}})'
              f'.then(function (r) {{ return r.ok ? r.json() : null; }})'
              f'.then(function (v) {{ if (v && v.version !== shown) location.reload(); }})'
              f'.catch(function () {{}}); }}, {POLL_SECONDS * 1000}); }})();</script>')
    return text.replace("</body></html>", script + "</body></html>", 1)


def _plain(data: _Data) -> _Data:
    """Frontier points (or a page's data) as JSON data (what /v1/board answers and the page draws): the same
    shape, a list as a list and a mapping as a dict, with dates and numbers as JSON has them."""
    plain: _Data = json.loads(json.dumps(data, default=str))
    return plain


def _plain_data(data: dict[str, Any]) -> dict[str, Any]:
    """A result as JSON data (a pmo select result as its --format json prints it)."""
    plain: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return plain


def _js(text: str) -> str:
    """A JavaScript string literal that cannot end the script element."""
    return json.dumps(text).replace("<", "\\u003c")
