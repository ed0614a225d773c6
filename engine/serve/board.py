"""The live board (GET /): the board report (engine/report) of what the decision log holds now.

The intake round is the latest logged intake decision of each project, decided again under the served policy
(its typed record gives the budget, objectives and score; under an unchanged policy the outcome is the logged
one, the log's key covers the policy). The page asks GET /v1/board/version every few seconds and reloads when
the version changes: the version is made from the log (its intake entries and last sequence number) and the
policy hash, so every worker of a server, and every replica sharing the log, gives the same one.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.report.build import Report, render

POLL_SECONDS = 3
FRESH_SECONDS = 1.0  # the log is read at most this often per process, however many screens poll


@dataclass(frozen=True)
class Board:
    version: str
    report: Report


class BoardState:
    def __init__(self, logs, holder, commits: Callable[[], int]):
        """``commits``: how many times this process has written the log (its own writes show at once; those of
        other processes within FRESH_SECONDS)."""
        self._logs, self._holder, self._commits = logs, holder, commits
        self._lock = threading.Lock()
        self._cached: tuple[float, tuple, Board] | None = None

    def current(self) -> Board:
        """The board of the log as it is (read again after FRESH_SECONDS). Call from a worker thread."""
        with self._lock:
            engine = self._holder.current.engine
            now, state = time.monotonic(), (engine.policy_hash, self._commits())
            if self._cached and now - self._cached[0] < FRESH_SECONDS and self._cached[1] == state:
                return self._cached[2]
            entries = self._logs.get().query(kind="intake")
            latest: dict[Any, dict] = {}
            for entry in entries:  # oldest first: a later decision on a project replaces an earlier one
                latest[entry["project"] or ("#", entry["seq"])] = entry
            rows = [e["input"]["row"] for e in latest.values()
                    if isinstance(e.get("input"), dict) and isinstance(e["input"].get("row"), dict)]
            version = f"{engine.policy_hash}.{len(entries)}.{entries[-1]['seq'] if entries else 0}"
            board = Board(version, engine.report(rows, title="Intake board"))
            self._cached = (now, state, board)
            return board


def page(board: Board, token: str | None) -> str:
    """The report's page, allowed to ask this server (and nothing else) for the board's version."""
    text = render(board.report)
    text = text.replace("default-src 'none';", "default-src 'none'; connect-src 'self';", 1)
    url = "/v1/board/version" + (f"?token={urllib.parse.quote(token, safe='')}" if token else "")
    script = (f'<script>(function () {{ var shown = {_js(board.version)};'
              f' document.documentElement.setAttribute("data-board-version", shown);'
              f' setInterval(function () {{ fetch({_js(url)}, {{cache: "no-store"}})'
              f'.then(function (r) {{ return r.ok ? r.json() : null; }})'
              f'.then(function (v) {{ if (v && v.version !== shown) location.reload(); }})'
              f'.catch(function () {{}}); }}, {POLL_SECONDS * 1000}); }})();</script>')
    return text.replace("</body></html>", script + "</body></html>", 1)


def _js(text: str) -> str:
    """A JavaScript string literal that cannot end the script element."""
    return json.dumps(text).replace("<", "\\u003c")
