"""Subcommands for scoring: rank, weights."""
from __future__ import annotations

import argparse
from contextlib import nullcontext
from typing import IO

import yaml

from engine.api import Engine
from engine.cli.common import (
    EXIT_BAD_ROWS,
    EXIT_OK,
    EXIT_USAGE,
    Progress,
    count_rows,
    dump_json,
    missing_files,
    note_example_policies,
    solver_output_hidden,
    warn,
)
from engine.cli.intake import decide, input_rows, profiled, typed
from engine.io.writers import write_ranking, write_xlsx
from engine.portfolio.model import read_portfolio
from engine.report.build import write_report


def rank(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    if missing_files(args.files + ([args.portfolio] if args.portfolio else []), stderr):
        return EXIT_USAGE
    if args.top is not None and args.top < 1:
        print("pmo: error: --top must be at least 1", file=stderr)
        return EXIT_USAGE
    if args.format == "xlsx" and not args.out:
        print("pmo: error: --format xlsx needs --out FILE.xlsx", file=stderr)
        return EXIT_USAGE
    if args.portfolio and not (args.report or args.format == "xlsx") or args.frontier and not args.portfolio \
            or args.frontier < 0:
        print("pmo: error: --portfolio goes with --report or --format xlsx, and --frontier (0 or more) with --portfolio",
              file=stderr)
        return EXIT_USAGE
    engine = profiled(Engine.load(args.policies, rules=args.rules, today=args.today), args)
    warn(engine, stderr)
    note_example_policies(args, stderr)
    rows = input_rows(args, engine, stderr)
    estimate = count_rows(args.files)
    decided = [(decision, typed(engine, row, decision, record))
               for row, decision, record in Progress(stderr, estimate).wrap(decide(engine, args, rows, estimate))]
    _warn_repeated_ids(decided, stderr)
    ranking = engine.rank_of(decided, top=args.top, sensitivity=args.sensitivity)
    projects = read_portfolio(args.portfolio) if args.portfolio else None  # read and checked once, for both outputs
    found = engine.conflicts(projects) if projects is not None else None
    conflicts = found.to_json()["conflicts"] if found is not None else None
    try:
        if args.format == "xlsx":
            write_xlsx([], args.out, ranking, conflicts)
        else:
            with (args.out.open("w", encoding="utf-8", newline="") if args.out else nullcontext(stdout)) as out:
                write_ranking(ranking, out, args.format)
        if args.report:
            with solver_output_hidden():  # the frontier solves
                report = engine.report_of(decided, ranking=ranking, title=args.title, portfolio=projects,
                                          frontier=args.frontier, conflicts=found)
            write_report(report, args.report)
    except BrokenPipeError:
        raise  # a reader such as `head` stopped reading: not an error (main exits 0)
    except OSError as exc:
        print(f"pmo: error: cannot write {exc.filename or args.out}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    if args.sensitivity and not ranking.sensitivity.get("available"):
        print(f"pmo: note: sensitivity needs a weighted-sum scoring policy; method {ranking.method} has no weights",
              file=stderr)
    if args.report:
        print(f"pmo: report written to {args.report}", file=stderr)
    bad = sum(1 for e in ranking.entries if e.decision == "error")
    if bad:
        print(f"pmo: {bad} input row(s) could not be decided; see the end of the list", file=stderr)
        return EXIT_BAD_ROWS
    return EXIT_OK


def _warn_repeated_ids(decided, stderr: IO[str], shown: int = 5) -> None:
    """The same id twice is usually a copy-paste slip in the export: both are ranked; say so."""
    rows: dict[str, list] = {}
    for decision, _ in decided:
        if decision.id is not None:
            rows.setdefault(decision.id, []).append(decision.row)
    repeated = [(ident, where) for ident, where in rows.items() if len(where) > 1]
    for ident, where in repeated[:shown]:
        print(f"pmo: warning: id '{ident}' appears {len(where)} times (rows {', '.join(map(str, where))}); "
              "each is decided and ranked on its own", file=stderr)
    if len(repeated) > shown:
        print(f"pmo: warning: {len(repeated) - shown} more ids appear more than once", file=stderr)


def weights(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.policy import ahp
    try:
        data = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        print(f"pmo: error: cannot read {args.file}: {exc}", file=stderr)
        return EXIT_USAGE
    from engine.policy.weights import WeightsFileError, weights_in_file
    try:
        found = weights_in_file(data, args.method)
    except WeightsFileError as exc:
        print(f"pmo: error: {args.file}: {exc}", file=stderr)
        return EXIT_USAGE
    if args.format == "json":
        dump_json(found.as_dict(), stdout, 2)
        return EXIT_OK
    if found.ahp is None:
        stdout.write(f"stated weights, normalised to add up to 1 (from {found.total:g})\n")
    for item, weight in found.values.items():
        stdout.write(f"{item:<30} {weight:8.4f}\n")
    result = found.ahp
    if result is not None:
        verdict = "consistent" if result.consistent else "INCONSISTENT (CR > 0.10): revisit the judgements"
        stdout.write(f"lambda_max {result.lambda_max:.4f}   CI {result.ci:.4f}   CR {result.cr:.4f}   {verdict}\n")
        if not result.consistent:
            for j in found.worst:
                stdout.write(f"  {j.first} vs {j.second} = {ahp.shown(j.given)}: about {ahp.shown(j.consistent)} "
                             "would fit the other judgements\n")
    return EXIT_OK
