"""The live board (GET /): the board report (engine/report) of what the decision log holds now.

The intake round is the latest logged intake decision of each project, decided again under the served policy
(its typed record gives the budget, objectives and score; under an unchanged policy the outcome is the logged
one, the log's key covers the policy). With ``--portfolio FILE`` the board also has the report's portfolio
pages: the file's conflicts, its dependency graph and the efficient frontier at ``--frontier`` budget levels,
computed once per version of the file and of the policy (not per decision), and read again when the file
changes; a file that stops reading keeps no stale pages: the board says what is wrong with it instead.
The portfolio health page is shown where the log holds a status history (see ``health_section``).

The page asks GET /v1/board/version every few seconds and reloads when the version changes: the version is
made from the log (its intake entries and last sequence number), the policy hash and the portfolio file, so
every worker of a server, and every replica sharing the log and the file, gives the same one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import PmoError
from engine.report.build import Report, render

POLL_SECONDS = 3
FRESH_SECONDS = 1.0  # the log is read at most this often per process, however many screens poll


@dataclass(frozen=True)
class PortfolioPages:
    """What the board shows of the portfolio file: its conflicts, graph and frontier, or why it cannot."""

    file: str
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    frontier: list[dict[str, Any]] = field(default_factory=list)
    graph_svg: str | None = None
    errors: list[str] = field(default_factory=list)  # file:line:col: message, when the file does not read

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "conflicts": self.conflicts, "frontier": self.frontier, "errors": self.errors}


@dataclass(frozen=True)
class Board:
    version: str
    report: Report
    portfolio: PortfolioPages | None = None
    health: str | None = None  # the health section's HTML, where the log holds a status history

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, **self.report.to_json(),
                "portfolio": self.portfolio.to_json() if self.portfolio else None, "health": self.health is not None}


class PortfolioSource:
    """The served portfolio file, its pages made once per (policy version, file state)."""

    def __init__(self, path: str, frontier: int, time_limit: float):
        self.path, self.frontier, self.time_limit = Path(path), frontier, time_limit
        self._made: tuple[tuple, PortfolioPages] | None = None

    def state(self) -> tuple:
        try:
            stat = self.path.stat()
        except OSError as exc:
            return ("missing", exc.strerror)
        return (stat.st_size, stat.st_mtime_ns)

    def pages(self, engine, state: tuple) -> PortfolioPages:
        key = (engine.policy_hash, state)
        if self._made is not None and self._made[0] == key:
            return self._made[1]
        made = self._make(engine)
        self._made = (key, made)
        return made

    def _make(self, engine) -> PortfolioPages:
        # lazy: networkx loads only when a portfolio is shown
        from engine.portfolio.export import svg_text
        from engine.portfolio.model import read_portfolio
        try:
            projects = read_portfolio(self.path)
            found = engine.conflicts(projects)
            points = []
            if self.frontier:
                points = engine.select(projects, frontier=self.frontier, time_limit=self.time_limit).frontier
            return PortfolioPages(str(self.path), found.to_json()["conflicts"], _plain(points), svg_text(projects, found))
        except PmoError as exc:
            return PortfolioPages(str(self.path), errors=[str(d) for d in exc.diagnostics])


def health_section(logs, engine) -> str | None:
    """HOOK(history): the portfolio health page, where the decision log holds a status history.

    The status history (issue #16) is being added to engine/store beside this; until the log can hold one, there
    is none to show and the board has no health page. Once it exists, this returns the health report's section
    (the latest rating of each project) made from it, and the board's version must cover the history's state."""
    return None


class BoardState:
    def __init__(self, logs, holder, commits: Callable[[], int], portfolio: PortfolioSource | None = None):
        """``commits``: how many times this process has written the log (its own writes show at once; those of
        other processes within FRESH_SECONDS)."""
        self._logs, self._holder, self._commits, self._portfolio = logs, holder, commits, portfolio
        self._lock = threading.Lock()
        self._cached: tuple[float, tuple, Board] | None = None

    def current(self) -> Board:
        """The board of the log as it is (read again after FRESH_SECONDS). Call from a worker thread."""
        with self._lock:
            engine = self._holder.current.engine
            file_state = self._portfolio.state() if self._portfolio is not None else None
            now, state = time.monotonic(), (engine.policy_hash, self._commits(), file_state)
            if self._cached and now - self._cached[0] < FRESH_SECONDS and self._cached[1] == state:
                return self._cached[2]
            entries = self._logs.get().query(kind="intake")
            latest: dict[Any, dict] = {}
            for entry in entries:  # oldest first: a later decision on a project replaces an earlier one
                latest[entry["project"] or ("#", entry["seq"])] = entry
            rows = [e["input"]["row"] for e in latest.values()
                    if isinstance(e.get("input"), dict) and isinstance(e["input"].get("row"), dict)]
            version = f"{engine.policy_hash}.{len(entries)}.{entries[-1]['seq'] if entries else 0}"
            report = engine.report(rows, title="Intake board")
            pages = None
            if self._portfolio is not None:
                pages = self._portfolio.pages(engine, file_state)
                report = dataclasses.replace(report, conflicts=pages.conflicts, frontier=pages.frontier,
                                             graph_svg=pages.graph_svg)
                version += "." + hashlib.sha256(repr(file_state).encode()).hexdigest()[:8]
            board = Board(version, report, pages, health_section(self._logs, engine))
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
    if board.health is not None:
        notes.append(board.health)
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


def _plain(points: list) -> list:
    """Frontier points as JSON data (what /v1/board answers and the page draws)."""
    return json.loads(json.dumps(points, default=str))


def _js(text: str) -> str:
    """A JavaScript string literal that cannot end the script element."""
    return json.dumps(text).replace("<", "\\u003c")
