"""What every pmo subcommand shares: exit codes, warnings, the decision log, wording."""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sqlite3
import sys
import textwrap
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from engine.audit import DecisionLog
from engine.errors import Diagnostic, PmoError
from engine.io.safe_text import raw_stream

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


def note_example_policies(args: argparse.Namespace, stderr: IO[str]) -> None:
    """One line when the built-in example policies (an example utility's) decide a file of the user's own: its
    decisions are someone else's governance, which a newcomer might otherwise take for the engine's verdict."""
    if getattr(args, "policies", None) is not None:
        return
    from engine.policy.resources import reference_policies
    examples = reference_policies().resolve().parent / "examples"
    files = getattr(args, "files", None) or [f for f in [getattr(args, "file", None)] if f is not None]
    if all(examples in Path(f).resolve().parents for f in files):
        return  # the shipped examples are meant for the example policies
    print("pmo: note: decided by the built-in example policies of an example utility (Northwind Utilities); "
          "`pmo init DIR` starts your own set, then give --policies DIR/policies", file=stderr)


def dump_json(data, out: IO[str], indent: int | None = 1) -> None:
    json.dump(data, out, indent=indent)
    out.write("\n")


def plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


class Progress:
    """A one-line progress report on a terminal (rows, rate, and the ETA when the total is known); silent
    when the output is not a terminal (piped, redirected, CI)."""

    def __init__(self, stream: IO[str], total: int | None = None, done: int = 0, every: float = 0.2):
        # Our own cursor control (the "\r" that redraws the line) goes under the terminal escaping.
        self.stream, self.total, self.done, self.every = raw_stream(stream), total, done, every
        self.enabled = hasattr(stream, "isatty") and stream.isatty()

    def wrap(self, items):
        count, start, shown = self.done, time.perf_counter(), 0.0
        try:
            for item in items:
                count += 1
                now = time.perf_counter()
                if self.enabled and now - shown >= self.every:
                    shown = now
                    self._draw(count, now - start)
                yield item
        finally:
            if self.enabled:
                self.stream.write("\r" + " " * 78 + "\r")
                self.stream.flush()

    def _draw(self, count: int, elapsed: float) -> None:
        rate = (count - self.done) / elapsed if elapsed > 0 else 0.0
        text = f"  {count:,}" + (f" of {self.total:,}" if self.total else "") + f" rows  {rate:,.0f} rows/s"
        if self.total and rate:
            left = max(self.total - count, 0) / rate
            text += f"  ETA {int(left // 60)}:{int(left % 60):02d}"
        self.stream.write("\r" + text[:78].ljust(78))
        self.stream.flush()


def count_rows(paths) -> int | None:
    """A quick estimate of the input rows (lines after each header) for CSV, TSV and JSONL; None otherwise."""
    total = 0
    for path in paths:
        suffix = Path(path).suffix.lower()
        if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson"):
            return None
        try:
            with open(path, "rb") as f:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except OSError:
            return None
        total += max(lines - (1 if suffix in (".csv", ".tsv") else 0), 0)
    return total


def wrap(text: str) -> str:
    """A help paragraph, wrapped for a terminal."""
    return textwrap.fill(text, 100)


def date_arg(text: str) -> dt.date:
    """argparse type for YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write YYYY-MM-DD") from None


@contextlib.contextmanager
def solver_output_hidden():
    """HiGHS writes some debug lines straight to file descriptor 1 even with its output off
    ("HighsMipSolverData::transformNewIntegerFeasibleSolution ..."): they would corrupt --format json.
    Only the command line hides them, for the whole process while it solves; a library caller's threads
    keep their standard output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def missing_files(paths, stderr: IO[str]) -> bool:
    """Say which input files do not exist (every command checks before loading anything)."""
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        print(f"pmo: error: no such file: {', '.join(missing)}", file=stderr)
    return bool(missing)
