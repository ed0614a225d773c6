"""What every pmo subcommand shares: exit codes, warnings, the decision log, wording."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import IO, TYPE_CHECKING

from engine.audit import DecisionLog
from engine.errors import Diagnostic, PmoError

if TYPE_CHECKING:
    from engine.api import Engine

EXIT_OK, EXIT_BAD_ROWS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def open_log(path: Path) -> DecisionLog:
    try:
        return DecisionLog(path)
    except sqlite3.Error as exc:
        raise PmoError([Diagnostic("log_unusable", f"cannot open the decision log {path}: {exc}",
                                   hint="give another path with --log, or --no-log")]) from None


def warn(engine: Engine, stderr: IO[str]) -> None:
    for warning in engine.warnings:
        print(warning, file=stderr)


def plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")
