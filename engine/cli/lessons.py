"""The lessons subcommand: how well intake scores and gate decisions predicted what finished projects delivered."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO

from engine.cli.common import EXIT_OK, EXIT_USAGE, date_arg, dump_json, missing_files, warn
from engine.cli.options import Subparsers, command, log_arg, policy_options

LESSONS_EXAMPLES = """\
examples:
  pmo lessons examples/status/*.csv --proposals examples/proposals.csv
  pmo lessons examples/status/*.csv --proposals examples/proposals.csv --log pmo-decisions.sqlite --chart lessons.svg
  pmo lessons examples/status/*.csv --proposals examples/proposals.csv --format json

A finished project is one whose latest status report says closed or killed; its status rows name the intake
proposal it came from (column proposal). The intake score comes from ranking --proposals with the scoring
policy; gate decisions and overrides from the decision log (--log), matched by the proposal's id.
Spearman's rho: ties by average rank; an exact permutation p-value up to 8 projects; a caveat below 10.
"""


def register(sub: Subparsers) -> None:
    ls = command(sub, "lessons", lessons, "did intake scores and gate decisions predict delivery?",
                 "For the projects that finished (closed or killed, by their latest status report): the intake "
                 "score and rank they were funded on, their gate decisions and overrides, and what they delivered "
                 "(final cost, CPI, benefits realised); then Spearman's rank correlation of the score against "
                 "realised benefit / final cost and against CPI, with n and a caveat when n is small.",
                 LESSONS_EXAMPLES)
    policy_options(ls)
    ls.add_argument("files", nargs="+", metavar="FILE", type=Path, help="status report files (as for pmo health)")
    ls.add_argument("--proposals", nargs="+", action="extend", type=Path, metavar="FILE",
                    help="the intake proposals the projects came from: ranked here for their scores")
    ls.add_argument("--log", dest="db", type=log_arg, default=None, metavar="DB",
                    help="a decision log (SQLite file or postgresql://...) with the projects' gate decisions")
    ls.add_argument("--as-of", type=date_arg, metavar="YYYY-MM-DD", help="what had finished by this date")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.add_argument("--chart", type=Path, metavar="SVG", help="also write the two scatter plots as an SVG file")
    ls.add_argument("--out", metavar="PATH", type=Path, help="write here instead of standard output")


def lessons(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.api import Engine
    from engine.health.lessons import chart, table
    from engine.io.safe_text import replacing
    from engine.store import open_log
    if missing_files(args.files + (args.proposals or []), stderr):
        return EXIT_USAGE
    gates = []
    if args.db is not None:
        with open_log(args.db, existing=True, reading=True) as log:
            gates = log.query(kind="gate")
    engine = Engine.load(args.policies, rules=args.rules, today=args.today)
    warn(engine, stderr)
    found = engine.lessons(args.files, proposals=args.proposals, gates=gates, as_of=args.as_of)
    try:
        if args.format == "json":
            if args.out:
                with replacing(args.out) as out:
                    dump_json(found.to_json(), out)
            else:
                dump_json(found.to_json(), stdout)
        else:
            text = table(found)
            if args.out:
                with replacing(args.out) as out:
                    out.write(text)
            else:
                stdout.write(text)
        if args.chart:
            with replacing(args.chart) as out:
                out.write(chart(found))
    except OSError as exc:
        print(f"pmo: error[cannot_write]: cannot write {exc.filename or args.out}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    scored = max((c.n for c in found.correlations), default=0)
    print(f"pmo: {len(found.outcomes)} finished project(s), {scored} with an intake score and an outcome"
          + ("" if args.proposals else "; give --proposals for the intake scores")
          + (f"; chart written to {args.chart}" if args.chart else ""), file=stderr)
    return EXIT_OK
