"""Subcommands for the portfolio: conflicts, schedule, impact, graph, select."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import IO, TYPE_CHECKING

from engine.cli.common import EPILOG, EXIT_OK, EXIT_USAGE, dump_json, solver_output_hidden, warn
from engine.cli.options import Run, Subparsers, command, policy_options
from engine.text import plural

if TYPE_CHECKING:  # annotations only: a command loads its stage when it runs (tests/test_startup.py)
    from engine.api import Engine
    from engine.portfolio.model import Portfolio
    from engine.portfolio.select import SelectionReport


def register(sub: Subparsers) -> None:
    def portfolio_command(name: str, run: Run, summary: str, description: str) -> argparse.ArgumentParser:
        parser = command(sub, name, run, summary, description, EPILOG)
        policy_options(parser)
        parser.add_argument("portfolio", type=Path, metavar="PORTFOLIO", help="portfolio file (.yaml, .json or "
                            ".csv): projects with durations, dates, budget, demand and relations")
        return parser

    cf = portfolio_command("conflicts", conflicts, "find every conflict in a portfolio", "Dependency cycles, "
                           "references to unknown projects, approved projects whose prerequisite is rejected or "
                           "unfunded, priority inversions, schedule violations, exclusions and inclusions broken, "
                           "resources over capacity and budget over-runs by period. Capacity, budget and tolerances "
                           "come from the portfolio policy (kind: portfolio).")
    cf.add_argument("--format", choices=("table", "json"), default="table")
    cf.add_argument("--funded", type=Path, metavar="SELECTION", help="a 'pmo select --format json' result: its "
                    "selected projects are the funded set, every other project is unfunded")
    se = portfolio_command("select", select, "choose the most valuable fundable set of projects (exact MILP)",
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
    sd = portfolio_command("schedule", schedule, "critical path, floats and delivery order", "Critical path method "
                           "on the projects that go ahead: earliest and latest start and finish, total float, the "
                           "critical path(s), the portfolio duration and a delivery order.")
    sd.add_argument("--format", choices=("table", "json"), default="table")
    im = portfolio_command("impact", impact, "what cancelling or delaying a project does", "--cancel ID: every "
                           "project that cannot go ahead without it (as pmo select has it): those that depend on "
                           "it and those that go together with it, directly or not, each with why. --delay ID=N: "
                           "how far each dependent's finish slips (float absorbs some) and the new portfolio "
                           "duration.")
    what = im.add_mutually_exclusive_group(required=True)
    what.add_argument("--cancel", metavar="ID")
    what.add_argument("--delay", metavar="ID=N", help="delay the project's finish by N duration units")
    im.add_argument("--format", choices=("table", "json"), default="table")
    gr = portfolio_command("graph", graph, "draw the dependency graph (DOT, GraphML or SVG)", "Write the "
                           "portfolio's dependency graph; projects in conflict are highlighted. The format follows "
                           "the suffix: .dot, .graphml or .svg.")
    gr.add_argument("--out", type=Path, required=True, metavar="FILE")


def _portfolio_engine(args: argparse.Namespace, stderr: IO[str]) -> tuple[Engine, Portfolio]:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.api import Engine
    from engine.errors import Diagnostic, PmoError
    from engine.portfolio.model import read_portfolio
    if not args.portfolio.is_file():
        raise PmoError([Diagnostic("no_file", f"no such file: {args.portfolio}")])
    engine = Engine.load(args.policies, rules=args.rules, today=args.today, backend="reference")
    warn(engine, stderr)
    return engine, read_portfolio(args.portfolio)


SELECTION_HINT = "give the file that 'pmo select PORTFOLIO --format json --out FILE' writes"


def conflicts(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.errors import Diagnostic, PmoError, did_you_mean  # lazy: not for --help (tests/test_startup.py)
    engine, portfolio = _portfolio_engine(args, stderr)
    if args.funded:
        from engine.errors import Location
        funded_at = Location(str(args.funded))
        try:
            data = json.loads(args.funded.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PmoError([Diagnostic("bad_selection", f"cannot read the selection result: {exc.strerror or exc}",
                                       funded_at)]) from None
        except ValueError as exc:  # not JSON, or not UTF-8
            raise PmoError([Diagnostic("bad_selection", f"the selection result is not JSON ({exc})", funded_at,
                                       SELECTION_HINT)]) from None
        selected = data.get("selected") if isinstance(data, dict) else None
        if not isinstance(selected, list) or not all(isinstance(p, str) for p in selected):
            raise PmoError([Diagnostic("bad_selection", "not a 'pmo select --format json' result: it has no "
                                       "'selected' list of project ids", funded_at, SELECTION_HINT)])
        chosen = set(selected)
        unknown = sorted(chosen - set(portfolio.projects))
        if unknown:  # a selection of another portfolio: checking it against this one would be wrong
            raise PmoError([Diagnostic("unknown_project", f"{args.funded}: selects {', '.join(unknown)}, not in "
                                       f"{args.portfolio}", hint=did_you_mean(unknown[0], portfolio.projects))])
        for project in portfolio:
            project.funded = project.id in chosen
    report = engine.conflicts(portfolio)
    if args.format == "json":
        dump_json(report.to_json(), stdout)
        return EXIT_OK
    for c in report.conflicts:
        periods = f" [{', '.join(c.periods)}]" if c.periods else ""
        where = f" ({c.location})" if c.location and c.location != portfolio.source else ""
        stdout.write(f"{c.kind:<20} {c.message}{periods}{where}\n")
    found = {k: n for k, n in report.counts.items() if n}
    summary = ", ".join(("at least " if k == "cycle" and not report.cycles_complete else "")
                        + plural(n, k.replace("_", " ")) for k, n in found.items()) or "no conflicts"
    stdout.write(f"{'─' * 100}\n{plural(len(portfolio.projects), 'project')}: {summary}\n")
    return EXIT_OK


def select(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.errors import Diagnostic, PmoError  # lazy: not for --help (tests/test_startup.py)
    engine, portfolio = _portfolio_engine(args, stderr)
    if args.scenarios is not None and not args.scenarios.is_file():
        raise PmoError([Diagnostic("no_file", f"no such file: {args.scenarios}")])
    if args.frontier < 0 or args.time_limit <= 0 or (args.budget is not None and args.budget < 0):
        raise PmoError([Diagnostic("usage", "--frontier, --time-limit and --budget must not be negative")])
    with solver_output_hidden():
        report = engine.select(portfolio, budget=args.budget, frontier=args.frontier, scenarios=args.scenarios,
                               time_limit=args.time_limit)
    for note in report.best.notes:
        print(f"pmo: note: {note}", file=stderr)
    if args.format == "json":
        dump_json(report.to_json(), stdout)
    else:
        _select_table(report, stdout)
    return EXIT_OK  # an infeasible problem is an answer, with its reasons


def _select_table(report: SelectionReport, out: IO[str]) -> None:
    best = report.best
    if best.status == "infeasible":
        out.write("No selection meets every constraint:\n" + "".join(f"  - {r}\n" for r in best.reasons))
        _left_out_table([i for i in best.left_out if i["reason"] != "no selection"], out)
        return
    quality = "optimal" if best.optimal else f"best found in the time limit (gap {best.gap:.2%})"
    out.write(f"Selected {plural(len(best.selected), 'project')}: value {best.value:,.4g}, cost "
              f"{best.total_cost:,.0f} ({quality})\n")
    out.write("  " + ", ".join(best.selected) + "\n")
    for limit in best.binding:
        out.write(f"  binding: {limit}\n")
    _left_out_table(best.left_out, out)
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


def _left_out_table(items: list[dict[str, str]], out: IO[str]) -> None:
    """Every project not selected, with why: so none just disappears from the answer."""
    if not items:
        return
    out.write(f"Left out ({len(items)}):\n")
    width = max(len(i["id"]) for i in items)
    for item in items:
        out.write(f"  {item['id']:<{width}}  {item['reason']} ({item['detail']})\n")


def schedule(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    engine, portfolio = _portfolio_engine(args, stderr)
    plan = engine.schedule(portfolio)
    if args.format == "json":
        dump_json(plan.to_json(), stdout)
        return EXIT_OK
    for note in plan.notes:
        print(f"pmo: note: {note}", file=stderr)
    critical = {n for path in plan.critical_paths for n in path}
    dated = plan.day_zero is not None
    if dated:  # calendar dates; floats in days of the duration unit
        stdout.write(f"{'PROJECT':<16} {'START':>10} {'FINISH':>10} {'LATE START':>10} {'LATE FINISH':>11} "
                     f"{'FLOAT':>7} {'FREE':>7}\n")
    else:
        stdout.write(f"{'PROJECT':<16} {'ES':>8} {'EF':>8} {'LS':>8} {'LF':>8} {'FLOAT':>8} {'FREE':>8}\n")
    for pid in plan.order:
        a = plan.activities[pid]
        mark = "  critical" if pid in critical else ""
        if dated:
            d = plan.dates(a)
            stdout.write(f"{pid:<16} {d['start']:>10} {d['finish']:>10} {d['late_start']:>10} {d['late_finish']:>11} "
                         f"{a.float:>7g} {a.free_float:>7g}{mark}\n")
        else:
            stdout.write(f"{pid:<16} {a.es:>8g} {a.ef:>8g} {a.ls:>8g} {a.lf:>8g} {a.float:>8g} {a.free_float:>8g}"
                         f"{mark}\n")
    path = " -> ".join(plan.critical_path) or "none (no projects)"
    span = f", {plan.day_zero} to {plan.finish_date(0.0, plan.duration)}" if dated and plan.activities else ""
    stdout.write(f"duration {plan.duration:g} {plan.unit}{span}; critical path: {path}\n")
    return EXIT_OK


def impact(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    engine, portfolio = _portfolio_engine(args, stderr)
    delay = None
    if args.delay:
        ident, sep, amount = args.delay.rpartition("=")
        try:
            delay = (ident, float(amount)) if sep and ident else None
        except ValueError:
            delay = None
        if delay is None:
            print(f"pmo: error[usage]: --delay needs ID=N, got '{args.delay}'", file=stderr)
            return EXIT_USAGE
    result = engine.impact(portfolio, cancel=args.cancel, delay=delay)
    if args.format == "json":
        dump_json(result.to_json(), stdout)
        return EXIT_OK
    if result.action == "cancel":
        stdout.write(f"cancelling {result.project} affects {plural(len(result.affected), 'project')} that cannot "
                     "go ahead without it:\n")
        for pid in result.affected:
            stdout.write(f"  {pid:<16} {result.reasons.get(pid, '')}".rstrip() + "\n")
    else:
        stdout.write(f"delaying {result.project} by {plural(result.delay, result.unit.rstrip('s'))}:\n")
        for pid, amount in result.affected.items():
            stdout.write(f"  {pid:<16} finishes {plural(amount, result.unit.rstrip('s'))} later\n")
        stdout.write(f"portfolio duration {result.duration_before:g} -> {result.duration_after:g} {result.unit}\n")
    return EXIT_OK


def graph(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    engine, portfolio = _portfolio_engine(args, stderr)
    try:
        fmt = engine.write_graph(portfolio, args.out)
    except ValueError as exc:  # a suffix it cannot draw: the same code as an input it cannot read
        print(f"pmo: error[unknown_format]: {exc}", file=stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"pmo: error[cannot_write]: cannot write {args.out}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    print(f"{fmt} graph of {len(portfolio.projects)} projects written to {args.out}", file=stderr)
    return EXIT_OK
