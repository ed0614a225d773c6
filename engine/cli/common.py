"""What every pmo subcommand shares: exit codes, warnings, wording, the top-level help."""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

from engine.io.safe_text import raw_stream

if TYPE_CHECKING:  # annotations only: every command imports this module; the Engine (pydantic) loads when one runs
    from engine.api import Engine

EXIT_OK, EXIT_BAD_ROWS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3  # and 130 for Ctrl-C (engine/cli/__init__.py)

EPILOG = """\
exit codes:
  0  ran; every row decided        1  ran; some rows were bad (error rows in the output)
  2  usage or policy error         3  internal error (please report)

examples:
  pmo evaluate examples/proposals.csv                 decide with the built-in reference policies
  pmo evaluate intake.csv --policies my-policies/ --format json --out decisions.json
  pmo rank examples/proposals.csv --sensitivity       score and rank; how stable is the top 10?
  pmo rank examples/proposals.csv --report board.html the board report: KPIs, charts, every decision explained
  pmo evaluate big.csv --format csv --out d.csv --resume   carry on after an interruption
  pmo conflicts examples/portfolio.yaml               cycles, broken prerequisites, over-allocation, ...
  pmo schedule examples/portfolio-clean.yaml          critical path, floats, delivery order
  pmo gate examples/projects/go.yaml --gate business-case   go, kill, hold or recycle at a stage gate
  pmo health examples/status/*.csv                    earned value and RAG health from monthly status reports
  pmo log --project PRJ-1001                          the decision log (./pmo-decisions.sqlite or PostgreSQL)
  pmo explain examples/proposals.csv --id PRJ-1006    why this decision, and what would change it
  pmo validate my-policies/                           check policy files, print file:line:col errors
  pmo expr "npv(0.1, [-1000, 500, 700])"              try an expression
  pmo schema --out policy.schema.json                 JSON Schema for editor completion
  pmo serve --port 8181 --log decisions.sqlite        the HTTP decision service (docs/deploy.md)
"""


def warn(engine: Engine, stderr: IO[str]) -> None:
    for warning in engine.warnings:
        print(warning, file=stderr)


def note_example_policies(args: argparse.Namespace, stderr: IO[str]) -> None:
    """One line when the built-in example policies (an example utility's) decide a file of the user's own: its
    decisions are someone else's governance, which a newcomer might otherwise take for the engine's verdict."""
    if getattr(args, "policies", None) is not None:
        return
    files = getattr(args, "files", None) or [f for f in [getattr(args, "file", None)] if f is not None]
    if all(_shipped_example(Path(f)) for f in files):
        return  # the project's own examples are meant for the example policies
    print("pmo: note: decided by the built-in example policies of an example utility (Northwind Utilities); "
          "`pmo init DIR` starts your own set, then give --policies DIR/policies", file=stderr)


def _shipped_example(path: Path) -> bool:
    """A file in the examples/ folder of a pmo source tree (whether pmo was installed from it or not): one whose
    policies/intake.yaml is the built-in reference policy."""
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.policy.resources import reference_policies
    for folder in path.resolve().parents:
        if folder.name == "examples":
            try:
                return (folder.parent / "policies" / "intake.yaml").read_bytes() == \
                    (reference_policies() / "intake.yaml").read_bytes()
            except OSError:
                return False
    return False


def dump_json(data: object, out: IO[str], indent: int | None = 1) -> None:
    json.dump(data, out, indent=indent)
    out.write("\n")


_Item = TypeVar("_Item")


class Progress:
    """A one-line progress report on a terminal (rows, rate, and the ETA when the total is known); silent
    when the output is not a terminal (piped, redirected, CI)."""

    def __init__(self, stream: IO[str], total: int | None = None, done: int = 0, every: float = 0.2):
        # Our own cursor control (the "\r" that redraws the line) goes under the terminal escaping.
        self.stream, self.total, self.done, self.every = raw_stream(stream), total, done, every
        self.enabled = hasattr(stream, "isatty") and stream.isatty()

    def wrap(self, items: Iterable[_Item]) -> Iterator[_Item]:
        """The items, drawing the line as they pass (silent: the items themselves, no layer per item)."""
        return self._drawn(items) if self.enabled else iter(items)

    def _drawn(self, items: Iterable[_Item]) -> Iterator[_Item]:
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


def wrap(text: str) -> str:
    """A help paragraph, wrapped for a terminal."""
    return textwrap.fill(text, 100)


def date_arg(text: str) -> dt.date:
    """argparse type for YYYY-MM-DD, only (Python reads 2027-W03 and 20270115 as dates too: a week is no day)."""
    try:
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write YYYY-MM-DD") from None


@contextlib.contextmanager
def solver_output_hidden() -> Iterator[None]:
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


def missing_files(paths: Iterable[str | os.PathLike[str]], stderr: IO[str]) -> bool:
    """Say which input files do not exist (every command checks before loading anything)."""
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        print(f"pmo: error[no_file]: no such file: {', '.join(missing)}", file=stderr)
    return bool(missing)
