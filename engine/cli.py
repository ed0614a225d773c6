"""The ``pmo`` command: a thin layer over :class:`engine.Engine`.

Exit codes (documented in the README; one code never means two things):
    0  ran; every input row was decided (whatever the decisions were)
    1  ran, but some input rows were bad: they are error rows in the output, the rest were decided
    2  usage or policy error: nothing was decided
    3  internal error (a bug): please report it
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import contextlib
import datetime as dt
import json
import sys
import textwrap
from pathlib import Path
from typing import IO, Sequence

import yaml

from engine import __version__
from engine.api import Engine, validate
from engine.errors import Diagnostic, PmoError
from engine.io.readers import read_proposals
from engine.portfolio.model import read_portfolio
from engine.audit import DEFAULT_PATH as DEFAULT_LOG
from engine.audit import DecisionLog, Entry
from engine.gates import read_project
from engine.gcpause import no_gc_pauses
from engine.io.writers import FORMATS, RANKING_FORMATS, write_decisions, write_ranking

EXIT_OK, EXIT_BAD_ROWS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

EPILOG = """\
exit codes:
  0  ran; every row decided        1  ran; some rows were bad (error rows in the output)
  2  usage or policy error         3  internal error (please report)

examples:
  pmo evaluate examples/proposals.csv                 decide with the built-in reference policies
  pmo evaluate intake.csv --policies my-policies/ --format json --out decisions.json
  pmo rank examples/proposals.csv --sensitivity       score and rank; how stable is the top 10?
  pmo conflicts examples/portfolio.yaml               cycles, broken prerequisites, over-allocation, ...
  pmo schedule examples/portfolio-clean.yaml          critical path, floats, delivery order
  pmo gate examples/projects/go.yaml --gate business-case   go, kill, hold or recycle at a stage gate
  pmo log --project PRJ-1001                          the decision log (SQLite, ./pmo-decisions.sqlite)
  pmo validate my-policies/                           check policy files, print file:line:col errors
  pmo expr "npv(0.1, [-1000, 500, 700])"              try an expression
  pmo schema --out policy.schema.json                 JSON Schema for editor completion
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors too; keep its wording
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _wrap(text: str) -> str:
    return textwrap.fill(text, 100)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write YYYY-MM-DD") from None


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

    ev = sub.add_parser("evaluate", parents=[policy_args], help="decide proposals from CSV, JSON, JSONL or YAML files",
                        description=_wrap("Screen each proposal against the intake policy: accept, review (with the "
                                          "approvers to route to), reject, or error (a bad input row, named by row "
                                          "and column)."),
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("files", nargs="+", metavar="FILE", type=Path, help="proposal files (.csv .json .jsonl .yaml)")
    ev.add_argument("--format", choices=FORMATS, default="table",
                    help="table (for people, default), json (one list), jsonl (one object a line) or csv")
    ev.add_argument("--out", metavar="PATH", type=Path, help="write here instead of standard output")
    ev.add_argument("--backend", choices=("rete", "reference"), default="rete",
                    help="rule back end: rete (durable_rules, default) or reference (plain Python)")
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
    rk.add_argument("files", nargs="+", metavar="FILE", type=Path, help="proposal files (.csv .json .jsonl .yaml)")
    rk.add_argument("--top", type=int, metavar="N", help="how many count as the top (default: the scoring policy's)")
    rk.add_argument("--sensitivity", action="store_true",
                    help="how stable the ranking is: per proposal the chance of staying in the top N when all "
                    "weights vary at random, and for the top N the smallest single-weight change that drops them")
    rk.add_argument("--format", choices=RANKING_FORMATS, default="table")
    rk.add_argument("--out", metavar="PATH", type=Path, help="write here instead of standard output")

    wt = sub.add_parser("weights", help="weights and consistency from a pairwise comparison matrix (AHP)",
                        description="Read {criteria: [...], matrix: [[...]]} from YAML or JSON (entries are numbers "
                        "or text such as \"1/3\") and print the weights, lambda_max, the consistency index CI and the "
                        "consistency ratio CR (Saaty's random index; consistent means CR <= 0.10).")
    wt.add_argument("file", type=Path, metavar="FILE")
    wt.add_argument("--method", choices=("eigen", "geometric"), default="eigen",
                    help="principal eigenvector (default) or row geometric mean")
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
    lg.add_argument("--db", type=Path, default=Path(os.environ.get("PMO_LOG", DEFAULT_LOG)), metavar="DB")
    lg.add_argument("--project", metavar="ID")
    lg.add_argument("--since", type=_date, metavar="YYYY-MM-DD")
    lg.add_argument("--format", choices=("table", "json"), default="table")
    rp = sub.add_parser("replay", parents=[policy_args], help="re-decide logged decisions under the current policy",
                        description="Re-evaluate every logged decision with the current policies and list those "
                        "whose outcome would now differ.")
    rp.add_argument("--db", type=Path, default=Path(os.environ.get("PMO_LOG", DEFAULT_LOG)), metavar="DB")
    rp.add_argument("--format", choices=("table", "json"), default="table")

    va = sub.add_parser("validate", parents=[policy_args], help="check a policy folder; print every problem",
                        description="Load and check every policy file; print each problem as "
                        "file:line:col: error[code]: message. Exit 0 if usable, 2 if not.")
    va.add_argument("folder", nargs="?", type=Path, metavar="DIR", help="policy folder (default: the reference policies)")
    va.add_argument("--format", choices=("text", "json"), default="text")

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
    return parser


def _functions_help() -> str:
    from engine.expr.functions import FUNCTIONS
    lines = ["functions:"] + [f"  {f.signature:<34} {f.doc}" for f in FUNCTIONS.values()]
    lines += ["", "missing values are null: comparing or computing with null is unknown, and a rule fires only",
              "when its condition is true. Test for a missing value with 'x == null'."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)  # --help, --version and usage errors print and exit here
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(stdout)
        return EXIT_USAGE
    command = {"evaluate": _evaluate, "rank": _rank, "weights": _weights, "validate": _validate, "expr": _expr,
               "schema": _schema, "conflicts": _conflicts, "schedule": _schedule, "impact": _impact, "select": _select,
               "graph": _graph, "gate": _gate, "log": _log, "replay": _replay}[args.command]
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


def _evaluate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"pmo: error: no such file: {', '.join(missing)}", file=stderr)
        return EXIT_USAGE
    engine = Engine.load(args.policies, rules=args.rules, today=args.today, backend=args.backend)
    _warn(engine, stderr)
    # Open every input first: an unreadable file means nothing is decided (exit 2), not half a report.
    inputs = [read_proposals(path) for path in args.files]
    try:
        out = args.out.open("w", encoding="utf-8", newline="") if args.out else stdout
    except OSError as exc:
        print(f"pmo: error: cannot write {args.out}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    log = None if args.no_log else _open_log(args.log)
    try:
        counts = write_decisions(_logged(engine, inputs, log), out, args.format, policy_hash=engine.policy_hash)
    finally:
        if args.out:
            out.close()
        if log is not None:
            log.close()
    if args.out:
        total = sum(counts.values())
        print(f"{total} decisions written to {args.out}: " +
              ", ".join(f"{counts[k]} {k}" for k in ("accept", "review", "reject", "error") if counts[k]), file=stderr)
    if counts["error"]:
        print(f"pmo: {counts['error']} input row(s) could not be decided; see the error rows", file=stderr)
        return EXIT_BAD_ROWS
    return EXIT_OK


def _open_log(path: Path) -> DecisionLog:
    try:
        return DecisionLog(path)
    except sqlite3.Error as exc:
        raise PmoError([Diagnostic("log_unusable", f"cannot open the decision log {path}: {exc}",
                                   hint="give another path with --log, or --no-log")]) from None


def _logged(engine: Engine, inputs, log: DecisionLog | None, batch: int = 500):
    """Decide every row; append each decision to the log, a batch per transaction."""
    pending: list[Entry] = []
    for rows in inputs:
        for row in rows:
            decision = engine.evaluate_many([row]).__next__()
            if log is not None:
                pending.append(Entry("intake", decision.id, None, {"row": row.data, "source": row.source,
                                                                   "line": row.row}, engine.policy_hash,
                                     decision.decision, [f.model_dump(mode="json") for f in decision.findings]
                                     or [e.model_dump(mode="json") for e in decision.errors], decision.routes))
                if len(pending) >= batch:
                    log.append(pending)
                    pending = []
            yield decision
    if log is not None:
        log.append(pending)


def _gate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    if not args.project.is_file():
        raise PmoError([Diagnostic("no_file", f"no such file: {args.project}")])
    if args.justification and not args.override_role:
        raise PmoError([Diagnostic("usage", "--justification goes with --override-role")])
    engine = Engine.load(args.policies, rules=args.rules, today=args.today)
    _warn(engine, stderr)
    override = {"role": args.override_role, "justification": args.justification or ""} if args.override_role \
        else None
    decision = engine.review_gate(args.project, args.gate, override=override)
    if not args.no_log:
        with _open_log(args.log) as log:
            log.append([Entry("gate", decision.project, decision.gate, read_project(args.project),
                              engine.policy_hash, decision.decision,
                              [m.model_dump(mode="json") for m in decision.must_meet], decision.approvers,
                              decision.override.model_dump(mode="json") if decision.override else None)])
    if args.format == "json":
        json.dump(decision.to_json(), stdout, indent=1)
        stdout.write("\n")
        return EXIT_OK
    stdout.write(f"{decision.project} at gate {decision.gate}: {decision.decision.upper()} "
                 f"({decision.from_stage} -> {decision.next_stage}); decided by {', '.join(decision.approvers)}\n")
    for m in decision.must_meet:
        mark = "overridden" if m.overridden else ("met" if m.passed else "FAILED")
        stdout.write(f"  must   {mark:<10} {m.criterion:<24} {m.reason}  [{m.source}]\n")
    for c in decision.should_meet.criteria:
        stdout.write(f"  should {'met' if c.met else 'not met':<10} {c.criterion:<24} {c.reason} (weight {c.weight:g})\n")
    stdout.write(f"  should-meet score {decision.should_meet.score:.0f}, pass mark "
                 f"{decision.should_meet.pass_mark:.0f}\n")
    for reason in decision.reasons:
        stdout.write(f"  - {reason}\n")
    if decision.override:
        stdout.write(f"  override by {decision.override.role}: {decision.override.justification}\n")
    return EXIT_OK


def _log(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    if not args.db.is_file():
        raise PmoError([Diagnostic("no_file", f"no decision log at {args.db}", hint="decisions are logged by "
                                   "'pmo evaluate' and 'pmo gate'; --db names another log")])
    with _open_log(args.db) as log:
        entries = log.query(project=args.project, since=args.since)
    if args.format == "json":
        json.dump(entries, stdout, indent=1)
        stdout.write("\n")
        return EXIT_OK
    for e in entries:
        who = ", ".join(e["approvers"]) or "-"
        extra = f"  OVERRIDE by {e['override']['role']}: {e['override']['justification']}" if e["override"] else ""
        stdout.write(f"{e['time']}  {e['kind']:<6} {e['project'] or '-':<14} {e['gate'] or '':<16} "
                     f"{e['outcome']:<8} by {who:<24} policy {e['policy_hash']}{extra}\n")
    stdout.write(f"{_plural(len(entries), 'decision')}\n")
    return EXIT_OK


def _replay(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    if not args.db.is_file():
        raise PmoError([Diagnostic("no_file", f"no decision log at {args.db}")])
    engine = Engine.load(args.policies, rules=args.rules, today=args.today)
    with _open_log(args.db) as log:
        entries = log.query()
    changed = []
    for e in entries:
        if e["kind"] == "intake":
            now = engine.evaluate(e["input"]["row"] or {}).decision if e["input"].get("row") is not None else "error"
        else:
            try:
                now = engine.review_gate(e["input"], e["gate"], override=e["override"]).decision
            except PmoError as exc:
                now = f"error: {exc.diagnostics[0].message}"
        if now != e["outcome"]:
            changed.append({"seq": e["seq"], "kind": e["kind"], "project": e["project"], "gate": e["gate"],
                            "logged": e["outcome"], "now": now, "logged_policy": e["policy_hash"]})
    if args.format == "json":
        json.dump({"replayed": len(entries), "policy_hash": engine.policy_hash, "changed": changed}, stdout, indent=1)
        stdout.write("\n")
        return EXIT_OK
    for c in changed:
        stdout.write(f"#{c['seq']:<6} {c['kind']:<6} {c['project'] or '-':<14} {c['gate'] or '':<16} "
                     f"{c['logged']} -> {c['now']}\n")
    stdout.write(f"{_plural(len(entries), 'decision')} replayed under policy {engine.policy_hash}: "
                 f"{len(changed)} would now differ\n")
    return EXIT_OK


def _warn(engine: Engine, stderr: IO[str]) -> None:
    for warning in engine.warnings:
        print(warning, file=stderr)


def _rank(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"pmo: error: no such file: {', '.join(missing)}", file=stderr)
        return EXIT_USAGE
    if args.top is not None and args.top < 1:
        print("pmo: error: --top must be at least 1", file=stderr)
        return EXIT_USAGE
    engine = Engine.load(args.policies, rules=args.rules, today=args.today)
    _warn(engine, stderr)
    inputs = [read_proposals(path) for path in args.files]
    ranking = engine.rank((row for rows in inputs for row in rows), top=args.top, sensitivity=args.sensitivity)
    try:
        out = args.out.open("w", encoding="utf-8", newline="") if args.out else stdout
    except OSError as exc:
        print(f"pmo: error: cannot write {args.out}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    try:
        write_ranking(ranking, out, args.format)
    finally:
        if args.out:
            out.close()
    if args.sensitivity and not ranking.sensitivity.get("available"):
        print(f"pmo: note: sensitivity needs a weighted-sum scoring policy; method {ranking.method} has no weights",
              file=stderr)
    bad = sum(1 for e in ranking.entries if e.decision == "error")
    if bad:
        print(f"pmo: {bad} input row(s) could not be decided; see the end of the list", file=stderr)
        return EXIT_BAD_ROWS
    return EXIT_OK


def _weights(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine import ahp
    try:
        data = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        print(f"pmo: error: cannot read {args.file}: {exc}", file=stderr)
        return EXIT_USAGE
    if not isinstance(data, dict) or not isinstance(data.get("criteria"), list) or not isinstance(
            data.get("matrix"), list):
        print(f"pmo: error: {args.file} needs 'criteria: [...]' and 'matrix: [[...]]'", file=stderr)
        return EXIT_USAGE
    items = [str(c) for c in data["criteria"]]
    try:
        result = ahp.weights(items, ahp.matrix_from_rows(items, data["matrix"]), args.method)
    except ahp.AhpError as exc:
        print(f"pmo: error: {args.file}: {exc}", file=stderr)
        return EXIT_USAGE
    if args.format == "json":
        json.dump(result.as_dict(), stdout, indent=2)
        stdout.write("\n")
    else:
        for item, weight in zip(result.items, result.weights):
            stdout.write(f"{item:<30} {weight:8.4f}\n")
        verdict = "consistent" if result.consistent else "INCONSISTENT (CR > 0.10): revisit the judgements"
        stdout.write(f"lambda_max {result.lambda_max:.4f}   CI {result.ci:.4f}   CR {result.cr:.4f}   {verdict}\n")
    return EXIT_OK


def _portfolio_engine(args: argparse.Namespace, stderr: IO[str]):
    if not args.portfolio.is_file():
        raise PmoError([Diagnostic("no_file", f"no such file: {args.portfolio}")])
    engine = Engine.load(args.policies, rules=args.rules, today=args.today, backend="reference")
    _warn(engine, stderr)
    return engine, read_portfolio(args.portfolio)


def _conflicts(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    engine, portfolio = _portfolio_engine(args, stderr)
    if args.funded:
        try:
            chosen = set(json.loads(args.funded.read_text(encoding="utf-8"))["selected"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PmoError([Diagnostic("bad_selection", f"{args.funded}: not a 'pmo select --format json' result "
                                       f"({exc})")]) from None
        for project in portfolio:
            project.funded = project.id in chosen
    report = engine.conflicts(portfolio)
    if args.format == "json":
        json.dump(report.to_json(), stdout, indent=1)
        stdout.write("\n")
        return EXIT_OK
    for c in report.conflicts:
        periods = f" [{', '.join(c.periods)}]" if c.periods else ""
        stdout.write(f"{c.kind:<20} {c.message}{periods}\n")
    found = {k: n for k, n in report.counts.items() if n}
    summary = ", ".join(("at least " if k == "cycle" and not report.cycles_complete else "")
                        + _plural(n, k.replace("_", " ")) for k, n in found.items()) or "no conflicts"
    stdout.write(f"{'─' * 100}\n{_plural(len(portfolio.projects), 'project')}: {summary}\n")
    return EXIT_OK


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


def _select(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    engine, portfolio = _portfolio_engine(args, stderr)
    if args.scenarios is not None and not args.scenarios.is_file():
        raise PmoError([Diagnostic("no_file", f"no such file: {args.scenarios}")])
    if args.frontier < 0 or args.time_limit <= 0 or (args.budget is not None and args.budget < 0):
        raise PmoError([Diagnostic("usage", "--frontier, --time-limit and --budget must not be negative")])
    report = engine.select(portfolio, budget=args.budget, frontier=args.frontier, scenarios=args.scenarios,
                           time_limit=args.time_limit)
    for note in report.best.notes:
        print(f"pmo: note: {note}", file=stderr)
    if args.format == "json":
        json.dump(report.to_json(), stdout, indent=1)
        stdout.write("\n")
    else:
        _select_table(report, stdout)
    return EXIT_OK  # an infeasible problem is an answer, with its reasons


def _select_table(report, out: IO[str]) -> None:
    best = report.best
    if best.status == "infeasible":
        out.write("No selection meets every constraint:\n" + "".join(f"  - {r}\n" for r in best.reasons))
        return
    quality = "optimal" if best.optimal else f"best found in the time limit (gap {best.gap:.2%})"
    out.write(f"Selected {_plural(len(best.selected), 'project')}: value {best.value:,.4g}, cost "
              f"{best.total_cost:,.0f} ({quality})\n")
    out.write("  " + ", ".join(best.selected) + "\n")
    for limit in best.binding:
        out.write(f"  binding: {limit}\n")
    for name, baseline in report.baselines.items():
        out.write(f"{name:<26} value {baseline.value:,.4g}, cost {baseline.total_cost:,.0f}"
                  f"{'' if baseline.status == 'greedy' else '  (breaks a balance rule)'}\n")
    if report.frontier:
        out.write(f"\n{'BUDGET':>14} {'VALUE':>10} {'GREEDY':>10} {'PER COST':>10}  SELECTED\n")
        for point in report.frontier:
            out.write(f"{point['budget']:>14,.0f} {point['value']:>10,.4g} {point['greedy_value']:>10,.4g} "
                      f"{point['greedy_value_per_cost']:>10,.4g}  {len(point['selected'])}\n")
    for sc in report.scenarios:
        out.write(f"\nscenario {sc['name']}: value {sc['value_change']:+,.4g}, cost {sc['cost_change']:+,.0f}"
                  f" ({sc['status']})\n")
        if sc["entered"]:
            out.write(f"  enters: {', '.join(sc['entered'])}\n")
        if sc["left"]:
            out.write(f"  leaves: {', '.join(sc['left'])}\n")
        for reason in sc["reasons"]:
            out.write(f"  - {reason}\n")


def _schedule(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    engine, portfolio = _portfolio_engine(args, stderr)
    plan = engine.schedule(portfolio)
    if args.format == "json":
        json.dump(plan.to_json(), stdout, indent=1)
        stdout.write("\n")
        return EXIT_OK
    for note in plan.notes:
        print(f"pmo: note: {note}", file=stderr)
    critical = {n for path in plan.critical_paths for n in path}
    stdout.write(f"{'PROJECT':<16} {'ES':>8} {'EF':>8} {'LS':>8} {'LF':>8} {'FLOAT':>8}\n")
    for pid in plan.order:
        a = plan.activities[pid]
        mark = "  critical" if pid in critical else ""
        stdout.write(f"{pid:<16} {a.es:>8g} {a.ef:>8g} {a.ls:>8g} {a.lf:>8g} {a.float:>8g}{mark}\n")
    path = " -> ".join(plan.critical_path) or "none (no projects)"
    stdout.write(f"duration {plan.duration:g} {plan.unit}; critical path: {path}\n")
    return EXIT_OK


def _impact(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    engine, portfolio = _portfolio_engine(args, stderr)
    delay = None
    if args.delay:
        ident, sep, amount = args.delay.rpartition("=")
        try:
            delay = (ident, float(amount)) if sep and ident else None
        except ValueError:
            delay = None
        if delay is None:
            print(f"pmo: error: --delay needs ID=N, got '{args.delay}'", file=stderr)
            return EXIT_USAGE
    result = engine.impact(portfolio, cancel=args.cancel, delay=delay)
    if args.format == "json":
        json.dump(result.to_json(), stdout, indent=1)
        stdout.write("\n")
        return EXIT_OK
    if result.action == "cancel":
        stdout.write(f"cancelling {result.project} affects {_plural(len(result.affected), 'project')} that depend "
                     "on it:\n")
        for pid in result.affected:
            stdout.write(f"  {pid}\n")
    else:
        stdout.write(f"delaying {result.project} by {_plural(result.delay, result.unit.rstrip('s'))}:\n")
        for pid, amount in result.affected.items():
            stdout.write(f"  {pid:<16} finishes {_plural(amount, result.unit.rstrip('s'))} later\n")
        stdout.write(f"portfolio duration {result.duration_before:g} -> {result.duration_after:g} {result.unit}\n")
    return EXIT_OK


def _graph(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    engine, portfolio = _portfolio_engine(args, stderr)
    try:
        fmt = engine.write_graph(portfolio, args.out)
    except ValueError as exc:
        print(f"pmo: error: {exc}", file=stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"pmo: error: cannot write {args.out}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    print(f"{fmt} graph of {len(portfolio.projects)} projects written to {args.out}", file=stderr)
    return EXIT_OK


def _validate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    folder = args.folder or args.policies
    diagnostics = validate(folder, rules=args.rules, today=args.today)
    errors = [d for d in diagnostics if d.severity == "error"]
    if args.format == "json":
        json.dump([{"code": d.code, "severity": d.severity, "message": d.message, "hint": d.hint,
                    "file": d.location.file if d.location else None,
                    "line": d.location.line if d.location else None,
                    "column": d.location.column if d.location else None} for d in diagnostics], stdout, indent=2)
        stdout.write("\n")
    else:
        for d in diagnostics:
            print(d, file=stdout)
    if errors:
        print(f"{len(errors)} error(s); the policy set cannot be used", file=stderr)
        return EXIT_USAGE
    if args.format == "text":
        engine = Engine.load(folder, rules=args.rules, today=args.today, backend="reference")
        where = folder or "reference policies"
        print(f"{where}: OK, {len(engine.policy.files)} files, {len(engine.rule_ids)} rules, policy hash "
              f"{engine.policy_hash}", file=stdout)
    return EXIT_OK


def _expr(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.expr.calculator import calculate
    values = {}
    for item in args.values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            print(f"pmo: error: --set needs FIELD=VALUE, got '{item}'", file=stderr)
            return EXIT_USAGE
        values[name.strip()] = value
    try:
        result = calculate(args.expression, values, policies=args.policies, rules=args.rules, today=args.today)
    except PmoError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=stderr)
            if diagnostic.location and diagnostic.location.file == "<expr>":
                print(f"  {args.expression}\n  {' ' * (diagnostic.location.column - 1)}^", file=stderr)
        return EXIT_USAGE
    json.dump(result, stdout, ensure_ascii=False)
    stdout.write("\n")
    return EXIT_OK


def _schema(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.policy.schema import policy_schema
    text = json.dumps(policy_schema(), indent=2) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"JSON Schema written to {args.out}", file=stderr)
    else:
        stdout.write(text)
    return EXIT_OK


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    main_exit()
