"""Subcommands for scoring: rank, weights."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from engine.cli.common import (
    EPILOG,
    EXIT_BAD_ROWS,
    EXIT_OK,
    EXIT_USAGE,
    Progress,
    dump_json,
    missing_files,
    note_example_policies,
    solver_output_hidden,
    warn,
)
from engine.cli.intake import intake_round
from engine.cli.options import FILES_HELP, Subparsers, batch_options, command, out_option, policy_options, sheet_option
from engine.scoring.output import RANKING_FORMATS

if TYPE_CHECKING:  # annotations only: a command loads its stage when it runs (tests/test_startup.py)
    from engine.decision import Decision
    from engine.scoring.ranking import Ranking


def register(sub: Subparsers) -> None:
    rk = command(sub, "rank", rank, "screen, score and rank proposals",
                 "Run intake, then score the proposals that pass (accept or review) with the scoring policy and "
                 "rank them. Rejected proposals and bad rows are listed after the ranked ones with their reasons. "
                 "Each ranked proposal has a breakdown: per criterion the raw value, the normalised score, the "
                 "weight and the contribution.", EPILOG)
    policy_options(rk)
    rk.add_argument("files", nargs="+", metavar="FILE", type=Path, help=FILES_HELP)
    rk.add_argument("--top", type=int, metavar="N", help="how many count as the top (default: the scoring policy's)")
    rk.add_argument("--sensitivity", action="store_true",
                    help="how stable the ranking is: per proposal the chance of staying in the top N when all "
                    "weights vary at random, and for the top N the smallest single-weight change that drops them")
    rk.add_argument("--format", choices=RANKING_FORMATS, default="table")
    out_option(rk)
    sheet_option(rk)
    rk.add_argument("--workers", type=int, metavar="N", help="worker processes for intake (default: one per core for "
                    "5,000 rows or more, else 1); the ranking is the same for any N")
    batch_options(rk)
    rk.add_argument("--no-log", action="store_true", help="accepted, and changes nothing: pmo rank logs no "
                    "decisions (pmo evaluate logs an intake round), so a command line written for evaluate runs")
    rk.add_argument("--portfolio", type=Path, metavar="FILE", help="with --report or --format xlsx: add this "
                    "portfolio's conflicts (and, in the report, its dependency graph)")
    rk.add_argument("--frontier", type=int, default=0, metavar="K", help="with --report and --portfolio: the "
                    "efficient frontier at K budget levels")
    rk.add_argument("--assessments", type=Path, action="append", default=[], metavar="FILE",
                    help="raters' scores for the panel criteria (columns proposal, rater, role, criterion, score, "
                    "comment; CSV, XLSX, JSON, YAML): the ranking shows each combined score, its spread and who "
                    "disagreed (repeatable)")

    wt = command(sub, "weights", weights, "weights and consistency from a pairwise comparison matrix (AHP)",
                 "Read {criteria: [...], matrix: [[...]]} from YAML or JSON (entries are numbers or text such as "
                 "\"1/3\"), or a strategy or scoring policy file (its comparisons, or its stated weights), and print "
                 "the weights, lambda_max, the consistency index CI and the consistency ratio CR (Saaty's random "
                 "index; consistent means CR <= 0.10), and when the judgements are inconsistent, the ones that "
                 "break consistency most.", wrapped=False)
    wt.add_argument("file", type=Path, metavar="FILE")
    wt.add_argument("--method", choices=("eigen", "geometric"), default=None,
                    help="principal eigenvector (default, or the policy's method) or row geometric mean")
    wt.add_argument("--format", choices=("json", "table"), default="json")


def rank(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.io.carry import Carrier
    from engine.portfolio.model import read_portfolio
    from engine.report.build import write_report
    from engine.report.roles import field_roles
    from engine.scoring.output import write_ranking, write_ranking_xlsx
    from engine.tasks.evaluate import count_rows, typed
    if missing_files(args.files + ([args.portfolio] if args.portfolio else []) + args.assessments
                     + (args.status or []), stderr):
        return EXIT_USAGE
    if args.status and not args.report:
        print("pmo: error[usage]: --status goes with --report (the health page is a page of the board report)", file=stderr)
        return EXIT_USAGE
    if args.top is not None and args.top < 1:
        print("pmo: error[usage]: --top must be at least 1", file=stderr)
        return EXIT_USAGE
    if args.format == "xlsx" and not args.out:
        print("pmo: error[usage]: --format xlsx needs --out FILE.xlsx", file=stderr)
        return EXIT_USAGE
    if args.portfolio and not (args.report or args.format == "xlsx") or args.frontier and not args.portfolio \
            or args.frontier < 0:
        print("pmo: error[usage]: --portfolio goes with --report or --format xlsx, and --frontier (0 or more) with --portfolio",
              file=stderr)
        return EXIT_USAGE
    intake = intake_round(args)
    engine = intake.load()
    warn(engine, stderr)
    note_example_policies(args, stderr)
    rows = intake.rows(engine, lambda line: print(line, file=stderr))
    estimate = count_rows(args.files)
    triples = intake.decide(engine, rows, estimate)
    carrier = Carrier(engine.profile, field_roles(engine.policy)["title"])
    if carrier.names or carrier.shows_title:  # titles and carried columns, as pmo evaluate labels its decisions
        triples = carrier.labelled(triples)
    decided = [(decision, typed(engine, row, decision, record))
               for row, decision, record in Progress(stderr, estimate).wrap(triples)]
    _warn_repeated_ids(decided, stderr)
    assessments = None
    if args.assessments:
        # lazy: a command loads its stage when it runs (tests/test_startup.py)
        from engine.scoring.panel import read_assessments
        assessments = read_assessments(args.assessments, args.sheet)
    ranking = engine.rank_of(decided, top=args.top, sensitivity=args.sensitivity, assessments=assessments)
    ranking.titled = carrier.shows_title  # the table names each proposal as pmo evaluate's does
    for error in ranking.assessment_errors or []:
        for line in error.lines():
            print(f"pmo: {line}", file=stderr)
    projects = read_portfolio(args.portfolio) if args.portfolio else None  # read and checked once, for both outputs
    found = engine.conflicts(projects) if projects is not None else None
    conflicts = found.to_json()["conflicts"] if found is not None else None
    try:
        if args.format == "xlsx":
            write_ranking_xlsx(ranking, args.out, conflicts)
        else:
            with (args.out.open("w", encoding="utf-8", newline="") if args.out else nullcontext(stdout)) as out:
                write_ranking(ranking, out, args.format)
        if args.report:
            page = engine.health_page(args.status, portfolio=projects) if args.status else None
            with solver_output_hidden():  # the frontier solves
                report = engine.report_of(decided, ranking=ranking, title=args.title, portfolio=projects,
                                          frontier=args.frontier, conflicts=found, health=page)
            write_report(report, args.report)
    except BrokenPipeError:
        raise  # a reader such as `head` stopped reading: not an error (main exits 0)
    except OSError as exc:
        print(f"pmo: error[cannot_write]: cannot write {exc.filename or args.out}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    if args.sensitivity:
        _sensitivity_note(ranking, stderr)
    if args.report:
        print(f"pmo: report written to {args.report}", file=stderr)
    bad = sum(1 for e in ranking.entries if e.decision == "error")
    if bad:
        print(f"pmo: {bad} input row(s) could not be decided or scored; see the end of the list", file=stderr)
    if ranking.assessment_errors:
        print(f"pmo: {len(ranking.assessment_errors)} assessment row(s) could not be used; they are not combined",
              file=stderr)
    return EXIT_BAD_ROWS if bad or ranking.assessment_errors else EXIT_OK


def _sensitivity_note(ranking: Ranking, stderr: IO[str]) -> None:
    """Which scoring models have no weights to perturb (several models: each is said by name)."""
    by_model = (ranking.sensitivity or {}).get("models")
    if by_model is None:
        if not (ranking.sensitivity or {}).get("available"):
            print(f"pmo: note: sensitivity needs a weighted-sum scoring policy; method {ranking.method} has no "
                  "weights", file=stderr)
        return
    methods = {m["id"]: m["method"] for m in ranking.models}
    for model, settings in by_model.items():
        if not settings.get("available"):
            print(f"pmo: note: no sensitivity for model {model}: method {methods.get(model)} has no weights "
                  "(it needs weighted-sum)", file=stderr)


def _warn_repeated_ids(decided: Sequence[tuple[Decision, object]], stderr: IO[str], shown: int = 5) -> None:
    """The same id twice is usually a copy-paste slip in the export: both are ranked; say so (as pmo evaluate does)."""
    from engine.tasks.repeats import repeated_in
    for line in repeated_in(((d.id, d.source, d.row) for d, _ in decided), "decided and ranked", shown):
        print(line, file=stderr)


def _bad_weights(path: Any, message: str) -> Any:
    from engine.errors import Diagnostic, Location  # lazy: not for --help (tests/test_startup.py)
    return Diagnostic("bad_weights", message, Location(str(path)),
                      "a file of 'criteria: [...]' and 'matrix: [[...]]' (or 'judgements'), or a strategy or scoring "
                      "policy (pmo weights --help)")


def weights(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    import yaml

    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.policy import ahp
    try:
        data = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc).splitlines() or [""])[0]
        print(f"pmo: {_bad_weights(args.file, f'cannot read the file: {first}')}", file=stderr)
        return EXIT_USAGE
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.policy.weights import WeightsFileError, weights_in_file
    try:
        found = weights_in_file(data, args.method)
    except WeightsFileError as exc:
        print(f"pmo: {_bad_weights(args.file, str(exc))}", file=stderr)
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
