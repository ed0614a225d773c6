"""pmo evaluate: decide an intake round. A few lines over the evaluate task (engine/tasks/evaluate.py).

Command modules import their stage only when the command runs, so ``pmo --help`` pays for none of them.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from engine.cli.common import (
    EPILOG,
    EXIT_BAD_ROWS,
    EXIT_OK,
    EXIT_USAGE,
    Progress,
    missing_files,
    note_example_policies,
)
from engine.cli.options import (
    FILES_HELP,
    Subparsers,
    backend_option,
    batch_options,
    command,
    log_options,
    out_option,
    policy_options,
    sheet_option,
    workers_arg,
)
from engine.io.writers import FORMATS
from engine.text import plural

if TYPE_CHECKING:  # annotations only: a command loads its stage when it runs (tests/test_startup.py)
    from engine.io.rows import ProposalRows
    from engine.tasks.evaluate import IntakeRound, RunError


def register(sub: Subparsers) -> None:
    ev = command(sub, "evaluate", evaluate, "decide proposals from CSV, TSV, XLSX, JSON, JSONL or YAML files",
                 "Screen each proposal against the intake policy: accept, review (with the approvers to route to), "
                 "reject, or error (a bad input row, named by row and column).", EPILOG)
    policy_options(ev)
    ev.add_argument("files", nargs="+", metavar="FILE", type=Path, help=FILES_HELP)
    ev.add_argument("--format", choices=FORMATS, default="table",
                    help="table (for people, default), json (one list), jsonl (one object a line), csv, or xlsx "
                    "(with --out: Decisions and Findings sheets)")
    out_option(ev)
    sheet_option(ev)
    ev.add_argument("--workers", type=workers_arg, metavar="N", help="worker processes (default: one per core for "
                    "5,000 rows or more, else 1); the output is the same for any N")
    backend_option(ev)
    ev.add_argument("--resume", action="store_true", help="continue an interrupted run: keep the complete rows "
                    "already in --out (csv or jsonl), cut a partial last row, and decide only the rest")
    batch_options(ev)
    log_options(ev)


def intake_round(args: argparse.Namespace) -> IntakeRound:
    """The intake round the command line describes (pmo evaluate, rank and explain)."""
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.tasks.evaluate import IntakeRound
    files = getattr(args, "files", None) or [args.file]
    return IntakeRound(files, sheet=args.sheet, columns=getattr(args, "columns", None),
                       workers=getattr(args, "workers", None), policies=args.policies, rules=args.rules,
                       today=args.today, backend=getattr(args, "backend", "rete"))


def evaluate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.tasks.evaluate import Output, RunError
    from engine.tasks.evaluate import evaluate as run
    if args.status and not args.report:
        print("pmo: error[usage]: --status goes with --report (the health page is a page of the board report)", file=stderr)
        return EXIT_USAGE
    if args.status and missing_files(args.status, stderr):
        return EXIT_USAGE
    output = Output(args.format, args.out, args.resume, args.report, args.title, None if args.no_log else args.log,
                    tuple(args.status or ()))
    intake = intake_round(args)
    if not intake.missing_files():
        note_example_policies(args, stderr)
    try:
        outcome = run(intake, output, stdout, say=lambda line: print(line, file=stderr),
                      progress=lambda decided, total, done: Progress(stderr, total, done).wrap(decided))
    except RunError as exc:
        say_refused(exc, stderr)
        return EXIT_USAGE
    counts, total = outcome.counts, outcome.rows
    outcomes = ", ".join(f"{counts[k]:,} {k}" for k in ("accept", "review", "reject") if counts[k])
    print(f"pmo: {plural(total, 'row')} in: {total - counts['error']:,} decided" + (f" ({outcomes})" if outcomes else "")
          + f", {plural(counts['error'], 'error row')}" + (f"; written to {args.out}" if args.out else "")
          + (f"; report {args.report}" if args.report else ""), file=stderr)
    _say_empty_rows(outcome.inputs, stderr)
    return EXIT_BAD_ROWS if counts["error"] else EXIT_OK


def say_refused(exc: RunError, stderr: IO[str]) -> None:
    """A task's RunError: why, and how to carry on."""
    print(f"pmo: error[{exc.diagnostics[0].code}]: {exc.message}", file=stderr)  # the code, as every error has
    if exc.hint:
        print(f"pmo: {exc.hint}", file=stderr)


def _say_empty_rows(opened: Sequence[ProposalRows], stderr: IO[str], shown: int = 10) -> None:
    """Rows of empty cells are not data rows: they are skipped, but never silently."""
    for rows in opened:
        if rows.empty_count:
            lines = rows.empty_rows[:shown]
            more = ", ..." if rows.empty_count > len(lines) else ""
            where = f"{'line' if len(lines) == 1 and not more else 'lines'} {', '.join(map(str, lines))}{more}"
            prefix = f"{rows.source}: " if len(opened) > 1 else ""
            print(f"pmo: {prefix}{plural(rows.empty_count, 'empty row')} skipped: {where}", file=stderr)
