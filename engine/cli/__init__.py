"""The ``pmo`` command: a thin layer over :class:`engine.Engine`.

Exit codes (documented in the README; one code never means two things):
    0  ran; every input row was decided (whatever the decisions were)
    1  ran, but some input rows were bad: they are error rows in the output, the rest were decided
    2  usage or policy error: nothing was decided
    3  internal error (a bug): please report it
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from engine import __version__
from engine.audit import DEFAULT_PATH as DEFAULT_LOG
from engine.cli import authoring, governance, intake, portfolio, ranking
from engine.cli import health as health_cli
from engine.cli.common import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from engine.cli.common import date_arg as _date
from engine.cli.common import wrap as _wrap
from engine.errors import PmoError
from engine.gcpause import no_gc_pauses
from engine.io.safe_text import TerminalText
from engine.io.writers import FORMATS, RANKING_FORMATS

COMMANDS = {"evaluate": intake.evaluate, "validate": intake.validate, "expr": intake.expr, "schema": intake.schema,
            "rank": ranking.rank, "weights": ranking.weights, "conflicts": portfolio.conflicts,
            "schedule": portfolio.schedule, "impact": portfolio.impact, "graph": portfolio.graph,
            "select": portfolio.select, "gate": governance.gate, "log": governance.log, "replay": governance.replay,
            "test": authoring.test, "init": authoring.init, "coverage": authoring.coverage, "diff": authoring.diff,
            "explain": authoring.explain, "health": health_cli.health}


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
  pmo log --project PRJ-1001                          the decision log (SQLite, ./pmo-decisions.sqlite)
  pmo explain examples/proposals.csv --id PRJ-1006    why this decision, and what would change it
  pmo validate my-policies/                           check policy files, print file:line:col errors
  pmo expr "npv(0.1, [-1000, 500, 700])"              try an expression
  pmo schema --out policy.schema.json                 JSON Schema for editor completion
"""


VALIDATE_EXAMPLES = """\
examples:
  pmo validate my-policies/                    errors and warnings; exit 2 only on errors
  pmo validate my-policies/ --strict           warnings count as errors (exit 2): for CI
  pmo validate examples/lint-policies          one warning of each lint kind
  pmo validate my-policies/ --format json      the same, with codes, for tools
  pmo validate my-policies/ --format sarif > pmo.sarif   for code scanning (GitHub shows each inline)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors too; keep its wording
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pmo", description="Rules-based governance for a Project Management Office: "
                     "screen project proposals against declarative policy files and explain every decision.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pmo-engine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    policy_args = argparse.ArgumentParser(add_help=False)
    policy_args.add_argument("--policies", metavar="DIR", type=Path,
                             help="policy folder (default: the reference policies shipped with pmo)")
    policy_args.add_argument("--rules", metavar="DIR", type=Path, action="append", default=[],
                             help="extra rule-library folder (repeatable), searched before the built-in rules/")
    policy_args.add_argument("--today", metavar="YYYY-MM-DD", type=_date,
                             help="the date today() means in policies (default: the current date)")

    ev = sub.add_parser("evaluate", parents=[policy_args], help="decide proposals from CSV, TSV, XLSX, JSON, JSONL or "
                        "YAML files",
                        description=_wrap("Screen each proposal against the intake policy: accept, review (with the "
                                          "approvers to route to), reject, or error (a bad input row, named by row "
                                          "and column)."),
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("files", nargs="+", metavar="FILE", type=Path,
                    help="proposal files (.csv .tsv .xlsx .json .jsonl .yaml)")
    ev.add_argument("--format", choices=FORMATS, default="table",
                    help="table (for people, default), json (one list), jsonl (one object a line), csv, or xlsx "
                    "(with --out: Decisions and Findings sheets)")
    ev.add_argument("--out", metavar="PATH", type=Path, help="write here instead of standard output")
    ev.add_argument("--sheet", metavar="NAME", help="worksheet of an .xlsx input (default: the first)")
    ev.add_argument("--workers", type=int, metavar="N", help="worker processes (default: one per core for "
                    "5,000 rows or more, else 1); the output is the same for any N")
    ev.add_argument("--backend", choices=("rete", "reference"), default="rete",
                    help="rule back end: rete (durable_rules, default) or reference (plain Python)")
    ev.add_argument("--resume", action="store_true", help="continue an interrupted run: keep the complete rows "
                    "already in --out (csv or jsonl), cut a partial last row, and decide only the rest")
    batch_args = argparse.ArgumentParser(add_help=False)
    batch_args.add_argument("--columns", metavar="MAP", type=Path, help="YAML file mapping the input's column titles "
                            "to policy fields, e.g. 'Total Cost (EUR): budget' (fields' aliases in the policy work "
                            "too); as an input profile it also declares the export's locale (de-DE), currency, "
                            "dates ([DD.MM.YYYY]) and value maps (README: Input profiles)")
    batch_args.add_argument("--report", metavar="HTML", type=Path, help="also write the board report: one "
                            "self-contained HTML file (KPIs, charts, the ranked table, each decision explained)")
    batch_args.add_argument("--title", default=None, help="the report's title (default: Intake round report)")
    for action in batch_args._actions:
        ev._add_action(action)
    log_args = argparse.ArgumentParser(add_help=False)
    log_args.add_argument("--log", metavar="DB", type=Path, default=Path(os.environ.get("PMO_LOG", DEFAULT_LOG)),
                          help=f"decision log (SQLite) to append to (default: $PMO_LOG or ./{DEFAULT_LOG})")
    log_args.add_argument("--no-log", action="store_true", help="do not record the decisions")
    for action in (log_args._actions[0], log_args._actions[1]):
        ev._add_action(action)

    rk = sub.add_parser("rank", parents=[policy_args], help="screen, score and rank proposals",
                        description=_wrap("Run intake, then score the proposals that pass (accept or review) with "
                                          "the scoring policy and rank them. Rejected proposals and bad rows are "
                                          "listed after the ranked ones with their reasons. Each ranked proposal has "
                                          "a breakdown: per criterion the raw value, the normalised score, the weight "
                                          "and the contribution."),
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rk.add_argument("files", nargs="+", metavar="FILE", type=Path,
                    help="proposal files (.csv .tsv .xlsx .json .jsonl .yaml)")
    rk.add_argument("--top", type=int, metavar="N", help="how many count as the top (default: the scoring policy's)")
    rk.add_argument("--sensitivity", action="store_true",
                    help="how stable the ranking is: per proposal the chance of staying in the top N when all "
                    "weights vary at random, and for the top N the smallest single-weight change that drops them")
    rk.add_argument("--format", choices=RANKING_FORMATS, default="table")
    rk.add_argument("--out", metavar="PATH", type=Path, help="write here instead of standard output")
    rk.add_argument("--sheet", metavar="NAME", help="worksheet of an .xlsx input (default: the first)")
    rk.add_argument("--workers", type=int, metavar="N", help="worker processes for intake (default: one per core for "
                    "5,000 rows or more, else 1); the ranking is the same for any N")
    for action in batch_args._actions:
        rk._add_action(action)
    rk.add_argument("--portfolio", type=Path, metavar="FILE", help="with --report or --format xlsx: add this "
                    "portfolio's conflicts (and, in the report, its dependency graph)")
    rk.add_argument("--frontier", type=int, default=0, metavar="K", help="with --report and --portfolio: the "
                    "efficient frontier at K budget levels")

    wt = sub.add_parser("weights", help="weights and consistency from a pairwise comparison matrix (AHP)",
                        description="Read {criteria: [...], matrix: [[...]]} from YAML or JSON (entries are numbers "
                        "or text such as \"1/3\"), or a strategy or scoring policy file (its comparisons, or its "
                        "stated weights), and print the weights, lambda_max, the consistency index CI and the "
                        "consistency ratio CR (Saaty's random index; consistent means CR <= 0.10), and when the "
                        "judgements are inconsistent, the ones that break consistency most.")
    wt.add_argument("file", type=Path, metavar="FILE")
    wt.add_argument("--method", choices=("eigen", "geometric"), default=None,
                    help="principal eigenvector (default, or the policy's method) or row geometric mean")
    wt.add_argument("--format", choices=("json", "table"), default="json")

    def portfolio_command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, parents=[policy_args], help=summary, description=_wrap(description), epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("portfolio", type=Path, metavar="PORTFOLIO", help="portfolio file (.yaml, .json or "
                             ".csv): projects with durations, dates, budget, demand and relations")
        return command

    cf = portfolio_command("conflicts", "find every conflict in a portfolio", "Dependency cycles, references to "
                           "unknown projects, approved projects whose prerequisite is rejected or unfunded, priority "
                           "inversions, schedule violations, exclusions and inclusions broken, resources over capacity "
                           "and budget over-runs by period. Capacity, budget and tolerances come from the portfolio "
                           "policy (kind: portfolio).")
    cf.add_argument("--format", choices=("table", "json"), default="table")
    cf.add_argument("--funded", type=Path, metavar="SELECTION", help="a 'pmo select --format json' result: its "
                    "selected projects are the funded set, every other project is unfunded")
    se = portfolio_command("select", "choose the most valuable fundable set of projects (exact MILP)",
                           "Choose the projects that give the most value within the budget (by period or in total) "
                           "and the capacity by role and period, with every prerequisite, no excluded pair, every "
                           "'requires together' partner, the forced choices (force: in / out) and the balance "
                           "rules (share of cost by category or objective). Solved exactly with HiGHS; the answer "
                           "says whether it is optimal and the gap. Beside it: greedy by value and greedy by value "
                           "per cost. When nothing fits, the reasons name the constraints at fault.")
    se.add_argument("--budget", type=float, metavar="N", help="one budget for the total cost (overrides the file "
                    "and the policy)")
    se.add_argument("--frontier", type=int, default=0, metavar="K", help="best value at K budget levels")
    se.add_argument("--scenarios", type=Path, metavar="FILE", help="what-ifs: {scenarios: [{name, budget_factor, "
                    "force_in, force_out, extra_capacity}]}")
    se.add_argument("--time-limit", type=float, default=30.0, metavar="S", help="seconds per solve (default 30)")
    se.add_argument("--format", choices=("table", "json"), default="table")
    sd = portfolio_command("schedule", "critical path, floats and delivery order", "Critical path method on the "
                           "projects that go ahead: earliest and latest start and finish, total float, the critical "
                           "path(s), the portfolio duration and a delivery order.")
    sd.add_argument("--format", choices=("table", "json"), default="table")
    im = portfolio_command("impact", "what cancelling or delaying a project does", "--cancel ID: every project that "
                           "depends on it, directly or not. --delay ID=N: how far each dependent's finish slips (float "
                           "absorbs some) and the new portfolio duration.")
    what = im.add_mutually_exclusive_group(required=True)
    what.add_argument("--cancel", metavar="ID")
    what.add_argument("--delay", metavar="ID=N", help="delay the project's finish by N duration units")
    im.add_argument("--format", choices=("table", "json"), default="table")
    gr = portfolio_command("graph", "draw the dependency graph (DOT, GraphML or SVG)", "Write the portfolio's "
                           "dependency graph; projects in conflict are highlighted. The format follows the suffix: "
                           ".dot, .graphml or .svg.")
    gr.add_argument("--out", type=Path, required=True, metavar="FILE")

    gt = sub.add_parser("gate", parents=[policy_args, log_args], help="decide a project at a stage gate",
                        description=_wrap("Review a project record at a gate: go, kill, hold or recycle, with the "
                                          "must-meet and should-meet criteria that decided it, the missing evidence "
                                          "and approvals, and who decides. A failed must-meet criterion can be "
                                          "overridden by a role the gate names, with a written justification; the "
                                          "decision then records the override."),
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    gt.add_argument("project", type=Path, metavar="PROJECT_FILE", help="project record (.yaml or .json)")
    gt.add_argument("--gate", required=True, metavar="ID")
    gt.add_argument("--override-role", metavar="ROLE", help="override the failed must-meet criteria as ROLE")
    gt.add_argument("--justification", metavar="TEXT", help="why the override is accepted (required with it)")
    gt.add_argument("--format", choices=("table", "json"), default="table")
    lg = sub.add_parser("log", help="query the decision log",
                        description="List logged intake and gate decisions, oldest first.")
    lg.add_argument("--log", "--db", dest="db", type=Path, default=Path(os.environ.get("PMO_LOG", DEFAULT_LOG)),
                    metavar="DB", help=f"the decision log (default: $PMO_LOG or ./{DEFAULT_LOG})")
    lg.add_argument("--project", metavar="ID")
    lg.add_argument("--since", type=_date, metavar="YYYY-MM-DD")
    lg.add_argument("--format", choices=("table", "json"), default="table")
    rp = sub.add_parser("replay", parents=[policy_args], help="re-decide logged decisions under the current policy",
                        description="Re-evaluate every logged decision with the current policies and list those "
                        "whose outcome would now differ.")
    rp.add_argument("--log", "--db", dest="db", type=Path, default=Path(os.environ.get("PMO_LOG", DEFAULT_LOG)),
                    metavar="DB", help=f"the decision log (default: $PMO_LOG or ./{DEFAULT_LOG})")
    rp.add_argument("--format", choices=("table", "json"), default="table")

    va = sub.add_parser("validate", parents=[policy_args], help="check a policy folder; print every problem",
                        description=_wrap("Load and check every policy file; print each problem as "
                                          "file:line:col: severity[code]: message; hint. Errors make the set "
                                          "unusable. Warnings (lint) point at what loads but is probably wrong: "
                                          "rules that can never fire or always fire, duplicate or shadowed rules, "
                                          "fields and library rules nothing uses (codes: docs/lint.md). Exit 0 if "
                                          "usable, 2 if not."),
                        epilog=VALIDATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    va.add_argument("folder", nargs="?", type=Path, metavar="DIR", help="policy folder (default: the reference policies)")
    va.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                    help="text (default), json (a list: code, severity, message, hint, file, line, column) or "
                    "sarif (SARIF 2.1.0, for code scanning to show each problem inline in a pull request)")
    va.add_argument("--strict", action="store_true", help="count warnings as errors (exit 2), e.g. in CI")

    ex = sub.add_parser("expr", help="evaluate one expression and print its value as JSON",
                        description=_wrap("A calculator for policy authors. Fields given with --set are typed from "
                                          "how they look (300000 is a number, 2027-01-31 a date, true a yes/no, "
                                          "[1, 2] a list), or from the intake policy's fields and derived values "
                                          "when --policies is given."),
                        epilog=_functions_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("--policies", metavar="DIR", type=Path,
                    help="type --set values by this policy folder's fields, and allow its derived values")
    ex.add_argument("--rules", metavar="DIR", type=Path, action="append", default=[], help=argparse.SUPPRESS)
    ex.add_argument("--today", metavar="YYYY-MM-DD", type=_date, help="the date today() means (default: now)")
    ex.add_argument("expression", help='e.g. "npv(0.1, [-1000, 500, 700])" or "budget > 250_000"')
    ex.add_argument("--set", dest="values", action="append", default=[], metavar="FIELD=VALUE",
                    help="a field value (repeatable), e.g. --set budget=300000 --set start_date=2027-01-01")

    sc = sub.add_parser("schema", help="write the JSON Schema of policy files (for editor completion)")
    sc.add_argument("--out", metavar="PATH", type=Path, help="write here instead of standard output")
    authoring.add_authoring_commands(sub, policy_args)
    authoring.add_explain_command(sub, policy_args)
    health_cli.add_health_command(sub, policy_args)
    return parser


def _functions_help() -> str:
    from engine.expr.functions import FUNCTIONS
    lines = ["functions:"] + [f"  {f.signature:<34} {f.doc}" for f in FUNCTIONS.values()]
    lines += ["", "missing values are null: comparing or computing with null is unknown, and a rule fires only",
              "when its condition is true. Test for a missing value with 'x == null'."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = TerminalText(stderr or sys.stderr)  # messages quote proposal text: control characters shown, not sent
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)  # --help, --version and usage errors print and exit here
    except SystemExit as exc:
        return int(exc.code or 0)
    stdout = _for_people(stdout, args)
    if args.command is None:
        parser.print_help(stdout)
        return EXIT_USAGE
    command = COMMANDS[args.command]
    try:
        with no_gc_pauses():  # a batch holds every row; the cyclic collector would rescan them all, often
            return command(args, stdout, stderr)
    except PmoError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001
        print(f"pmo: internal error: {type(exc).__name__}: {exc} (please report it)", file=stderr)
        return EXIT_INTERNAL


def _for_people(stdout: IO[str], args: argparse.Namespace) -> IO[str]:
    """Standard output with control characters shown, not sent (engine/io/safe_text.py): tables, and JSON,
    which stays exact JSON. A CSV piped or redirected is data, written exactly (its writer makes every
    text encodable); on a terminal it is escaped too."""
    if getattr(args, "format", None) == "csv" and not (hasattr(stdout, "isatty") and stdout.isatty()):
        return stdout
    return TerminalText(stdout)


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    main_exit()
