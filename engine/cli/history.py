"""The portfolio history: ``pmo status ingest`` (status reports into the log, rated as they arrive), ``pmo status
rerate`` (every project rated again under the policy given) and
``pmo history PROJECT`` (one project's reports, figures, ratings, escalations, corrections and decisions)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO, Any

from engine.cli.options import (
    LOG_HELP,
    Run,
    Subparsers,
    command,
    default_log,
    log_arg,
    policy_options,
    sheet_option,
    workers_arg,
)

INGEST_EXAMPLES = """\
examples:
  pmo status ingest examples/status/*.csv --log h.db      twelve months of reports, rated at each date
  pmo status ingest examples/status/*.csv --log h.db      again: 0 new, 48 unchanged
  pmo status ingest export.xlsx --columns ppm-export.yaml --log h.db   an export with its own headers
  pmo history CRM --log h.db                              one project: reports, ratings, corrections, decisions
  pmo health --log h.db --as-of 2027-06-30                rated from the history instead of files

A changed report for a project and status date already ingested is a correction: it is in force from now on,
the earlier one is kept (pmo history shows "corrected on ... from X to Y"). Each file is one transaction.

exit codes:
  0  every row stored (or unchanged)     1  some rows were bad: listed, and none of those projects' rows of
                                            that file stored; fix them and ingest the file again
  2  usage, policy or log error: nothing stored    3  internal error (please report)
"""

RERATE_EXAMPLES = """\
examples:
  pmo status rerate --policies my-policies --log h.db    after editing the health policy: every project rated again
  pmo status rerate --policies my-policies --log h.db    again: 0 new ratings
"""

HISTORY_EXAMPLES = """\
examples:
  pmo history CRM --log h.db                 by status date: figures, rating (rule, file:line), escalations
  pmo history CRM --log h.db --format json   everything, corrections with what changed
"""


def register(sub: Subparsers) -> None:
    status = sub.add_parser("status", help="the portfolio history: ingest status reports into the log",
                            description="The portfolio history: status reports kept in the decision log.")
    inner = status.add_subparsers(dest="status_command", metavar="COMMAND", parser_class=type(status))
    status.set_defaults(run=_status_help(status))
    ig = command(inner, "ingest", ingest, "store status reports in the history and rate them at each date",
                 "Read status report files (as pmo health reads them: CSV, TSV, XLSX, JSON, JSONL, YAML, input "
                 "profiles), store each report in the portfolio history in the decision log, and rate every "
                 "project with a new or corrected report at each of its status dates by the health policy, "
                 "recording the ratings (the rule that set each, file:line) and escalations. Ingesting a file "
                 "again changes nothing; a changed figure is recorded as a correction, the earlier one kept.",
                 INGEST_EXAMPLES)
    policy_options(ig)
    ig.add_argument("files", nargs="+", metavar="FILE", type=Path, help="status report files, ingested in order")
    ig.add_argument("--log", metavar="DB", type=log_arg, default=default_log(), help=f"the history: {LOG_HELP}")
    ig.add_argument("--columns", metavar="MAP", type=Path, help="input profile: the export's column titles, "
                    "number and date formats (README: Input profiles)")
    sheet_option(ig)
    ig.add_argument("--backend", choices=("rete", "reference"), default="rete",
                    help="rule back end for the health rules (default rete; both give the same ratings)")
    ig.add_argument("--workers", type=workers_arg, metavar="N", help="processes that rate the projects while this "
                    "one reads and stores (default: one per core for 20,000 rows or more, else 1); the history is "
                    "the same for any N")

    rr = command(inner, "rerate", rerate, "rate every project of the history again under the policy given",
                 "Rate every project in the history again at each of its status dates, on the reports in force, by "
                 "the health policy given (after a policy change: pmo status ingest stores no rating for a report "
                 "it already has, whatever the policy). The new ratings are in force; those under other policies "
                 "are kept, out of force. Rating again under the same policy records nothing new.", RERATE_EXAMPLES)
    policy_options(rr)
    rr.add_argument("--log", metavar="DB", type=log_arg, default=default_log(), help=f"the history: {LOG_HELP}")
    rr.add_argument("--backend", choices=("rete", "reference"), default="rete",
                    help="rule back end for the health rules (default rete; both give the same ratings)")

    hs = command(sub, "history", history, "one project's status reports, ratings, corrections and decisions",
                 "A project's history, by status date: each report in force (BAC, PV, EV, AC) and its earned value "
                 "figures, the rating and the rule that set it (file:line), escalations, corrections (when, from "
                 "what to what), and the intake and gate decisions of the decision log for the project or the "
                 "proposal it came from.", HISTORY_EXAMPLES)
    hs.add_argument("project", help="the project's id, as in its status reports")
    hs.add_argument("--log", metavar="DB", type=log_arg, default=default_log(), help=f"the history: {LOG_HELP}")
    hs.add_argument("--format", choices=("table", "json"), default="table")


def _status_help(parser: argparse.ArgumentParser) -> Run:
    def run(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
        from engine.cli.common import EXIT_USAGE
        parser.print_help(stdout)
        return EXIT_USAGE
    return run


def ingest(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.api import Engine
    from engine.cli.common import EXIT_BAD_ROWS, EXIT_OK, EXIT_USAGE, missing_files, warn
    from engine.health.status import status_profile
    from engine.store import open_log
    from engine.tasks.history import ingest as ingest_files
    if missing_files(args.files, stderr):
        return EXIT_USAGE
    engine = Engine.load(args.policies, rules=args.rules, today=args.today, backend=args.backend)
    warn(engine, stderr)
    profile = status_profile(args.columns)
    with open_log(args.log) as log:
        result = ingest_files(engine, log, args.files, profile, args.sheet, workers=args.workers)
    for file in result.files:
        for warning in file.warnings:
            print(f"pmo: warning: {warning}", file=stderr)
        for e in file.errors:
            for x in e.errors:
                print(f"{e.source}:{e.row}: error[{x.code}]: {x.message}" + (f" ({e.project})" if e.project else ""),
                      file=stderr)
    print(f"pmo: {result.summary()}", file=stdout)
    return EXIT_BAD_ROWS if result.errors else EXIT_OK


def rerate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.api import Engine
    from engine.cli.common import EXIT_OK, warn
    from engine.store import open_log
    from engine.tasks.history import rerate as rerate_history
    engine = Engine.load(args.policies, rules=args.rules, today=args.today, backend=args.backend)
    warn(engine, stderr)
    with open_log(args.log, existing=True) as log:
        result = rerate_history(engine, log)
    print(f"pmo: {result.summary()}", file=stdout)
    return EXIT_OK


def history(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.cli.common import EXIT_OK, EXIT_USAGE, dump_json
    from engine.store import open_log
    from engine.store.history import project_history
    with open_log(args.log, existing=True, reading=True) as log:
        found = project_history(log, args.project)
    if not found["reports"] and not found["decisions"]:
        print(f"pmo: error[unknown_project]: no status report or decision for project {args.project!r} in {args.log}", file=stderr)
        return EXIT_USAGE
    if args.format == "json":
        dump_json(found, stdout)
    else:
        _table(found, stdout)
    return EXIT_OK


def _money(text: str | None) -> str:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from fractions import Fraction

    from engine.expr.values import fixed
    return "-" if text is None else fixed(Fraction(text), 0, grouped=True)  # the text of a rational: 4500000/7


def _ratio(text: str | None) -> str:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from fractions import Fraction

    from engine.expr.values import fixed
    return "-" if text is None else fixed(Fraction(text))


def _table(found: dict[str, Any], out: IO[str]) -> None:
    heading = found["project"] + (f"  {found['title']}" if found["title"] else "")
    extra = [f"proposal {found['proposal']}"] if found["proposal"] else []
    extra += [f"objective {found['objective']}"] if found["objective"] else []
    out.write(heading + (f"  ({'; '.join(extra)})" if extra else "") + "\n")
    if found["reports"]:
        out.write(f"\n{'status date':<11} {'state':<8} {'BAC':>12} {'PV':>12} {'EV':>12} {'AC':>12} {'SPI':>5} "
                  f"{'CPI':>5} {'SPI(t)':>6} {'EAC':>12}  rating  rule (where)\n")
    for r in found["reports"]:
        v, rating = r["values"], r["rating"] or {}
        f = rating.get("figures", {})
        rule = f"{rating['rule']} ({rating['where']})" if rating.get("rule") else (rating.get("reason") or "")
        out.write(f"{r['status_date']:<11} {(v['state'] or '-')[:8]:<8} {_money(v['bac']):>12} {_money(v['pv']):>12} "
                  f"{_money(v['ev']):>12} {_money(v['ac']):>12} {_ratio(f.get('spi')):>5} {_ratio(f.get('cpi')):>5} "
                  f"{_ratio(f.get('spi_t')):>6} {_money(f.get('eac')):>12}  {(rating.get('rating') or 'unrated'):<7} "
                  f"{rule}\n")
        for e in r["escalations"]:
            out.write(f"{'':<11} escalated to {e['route']} ({e['rules']}): {e['reason']}\n")
        for c in r["corrections"]:
            changes = "; ".join(f"{name} from {_plain(ch['from'])} to {_plain(ch['to'])}"
                                for name, ch in c["changed"].items())
            out.write(f"{'':<11} corrected on {c['on']} ({c['source']} row {c['row']}): {changes}\n")
    if found["decisions"]:
        out.write("\ndecisions (the decision log)\n")
        for d in found["decisions"]:
            what = d["kind"] + (f" {d['gate']}" if d["gate"] else "")
            rules = f" (rules {', '.join(d['rules'])})" if d["rules"] else ""
            rules += f" (failed {', '.join(d['failed'])})" if d["failed"] else ""
            override = " (overridden)" if d["override"] else ""
            out.write(f"  {d['time']}  {d['project']:<10} {what:<24} {d['outcome']}{override}{rules}\n")


def _plain(value: Any) -> str:
    return "(none)" if value is None else str(value)
