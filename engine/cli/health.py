"""The health and kpi subcommands: status reports in, earned value, earned schedule, RAG ratings and the PMO's KPIs out."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO

from engine.cli.common import date_arg
from engine.cli.options import Subparsers, command, log_arg, policy_options, workers_arg

HEALTH_EXAMPLES = """\
examples:
  pmo health examples/status/*.csv                  every project at its latest report, rated
  pmo health examples/status/*.csv --as-of 2027-06-30    as the PMO saw it at the end of June
  pmo health status.xlsx --columns ppm-export.yaml --format json   an export with its own headers
  pmo health examples/status/*.csv --by objective   roll-up per strategic objective (sums, then ratios)
  pmo health --log h.db --as-of 2027-06-30          from the portfolio history (pmo status ingest ... --log h.db)
  pmo health examples/status/*.csv --report health.html --portfolio examples/portfolio-clean.yaml
                                                    the health page: RAG grid, S-curves, capacity, Gantt, KPIs

the smallest status file is a CSV with: project, status_date, bac, pv, ev, ac
(pv may come from planned_start + planned_finish, ev from percent_complete; see README: Project health)

exit codes:
  0  every row read, every project rated      1  some rows were bad (listed as errors); the rest rated
  2  usage or policy error: nothing rated     3  internal error (please report)
"""


def register(sub: Subparsers) -> None:
    hp = command(sub, "health", health, "earned value and RAG health from status reports", ("Read monthly status reports (one row per project, or per task, and status "
                                         "date), compute earned value (SV, CV, SPI, CPI, EAC, ETC, VAC, TCPI) and "
                                         "earned schedule (ES, SV(t), SPI(t), IEAC(t)) exactly, and rate each "
                                         "project red, amber or green by the health policy (kind: health): the "
                                         "rules that fired, where they are (file:line), why, and who to escalate "
                                         "to. Bad rows are listed as errors; nothing is skipped silently."),
                 HEALTH_EXAMPLES)
    policy_options(hp)
    hp.add_argument("files", nargs="*", metavar="FILE", type=Path,
                    help="status report files (.csv .tsv .xlsx .json .jsonl .yaml); several are read together")
    hp.add_argument("--log", metavar="DB", type=log_arg, default=None, help="rate from the portfolio history in "
                    "this log (pmo status ingest) instead of FILES: a SQLite file or a postgresql:// address")
    hp.add_argument("--workers", type=workers_arg, metavar="N", help="with --log: processes that read and rate a "
                    "group of projects each (default: one per core for a history of 20,000 reports or more, else "
                    "1); the ratings are the same for any N")
    hp.add_argument("--as-of", type=date_arg, metavar="YYYY-MM-DD",
                    help="rate each project at its latest report on or before this date (default: its latest)")
    hp.add_argument("--by", choices=("project", "objective", "portfolio"), default="project",
                    help="one row per project (default), per strategic objective, or one for the portfolio")
    hp.add_argument("--format", choices=("table", "json", "csv"), default="table")
    hp.add_argument("--backend", choices=("rete", "reference"), default="rete",
                    help="rule back end for the health rules (default rete; both give the same ratings)")
    hp.add_argument("--columns", metavar="MAP", type=Path, help="input profile: the export's column titles, "
                    "number and date formats (README: Input profiles)")
    hp.add_argument("--sheet", metavar="NAME", help="worksheet of an .xlsx input (default: the first)")
    hp.add_argument("--out", metavar="PATH", type=Path, help="write here instead of standard output")
    hp.add_argument("--report", metavar="HTML", type=Path, help="also write the health page as one self-contained "
                    "HTML file: RAG grid by status date, S-curves, KPI tiles (and with --portfolio the capacity heat "
                    "map and the Gantt chart with the critical path); up to --as-of when given")
    hp.add_argument("--portfolio", metavar="FILE", type=Path, help="with --report: the portfolio file (demand by "
                    "role and period, dependencies) for the capacity heat map and the critical path")
    hp.add_argument("--title", default=None, help="with --report: the page's title (default: Portfolio health)")
    register_kpi(sub)


KPI_EXAMPLES = """\
examples:
  pmo kpi --status examples/status/*.csv                         every KPI in the latest quarter, with its trend
  pmo kpi --status examples/status/*.csv --period 2027-Q3        the third quarter (and the three before it)
  pmo kpi --status examples/status/*.csv --period 2027-09 --periods 6   by month
  pmo kpi --status examples/status/*.csv --log pmo-decisions.sqlite --selection selection.json
                                                                  intake and gate KPIs from the log; pmo select's gain
  pmo kpi --status examples/status/*.csv --explain benefits      the records behind a figure
  pmo kpi --status examples/status/*.csv --format json           every figure with its trace

The KPIs are the policy set's kind: kpis file (policies/kpis.yaml in the reference set; docs/health.md, KPIs).

exit codes:
  0  every KPI computed (a figure without data says why)   1  some status rows were bad (their projects left out)
  2  usage or policy error                                  3  internal error (please report)
"""


def register_kpi(sub: Subparsers) -> None:
    kp = command(sub, "kpi", kpi, "the PMO's KPIs per period, with trend, target and the records behind each",
                 "Evaluate the KPIs the policy set declares (kind: kpis) per month or quarter over the status "
                 "reports, the decision log's intake and gate decisions and a pmo select result: each figure with "
                 "its target, whether it is met, its trend over the periods before, and its trace (the project "
                 "and status date, or the decision id, of every record it came from).", KPI_EXAMPLES)
    policy_options(kp)
    kp.add_argument("--status", nargs="+", action="extend", type=Path, metavar="FILE", default=[],
                    help="status report files (as for pmo health)")
    kp.add_argument("--log", dest="db", type=log_arg, default=None, metavar="DB",
                    help="a decision log (SQLite file or postgresql://...): its intake and gate decisions, and "
                    "without --status the status reports 'pmo status ingest' stored in it")
    kp.add_argument("--selection", type=Path, metavar="JSON", help="a pmo select --format json result, for the "
                    "KPIs over selection (the optimised value against the greedy baselines)")
    kp.add_argument("--period", metavar="PERIOD", help="a quarter (2027-Q1) or a month (2027-03); the spelling "
                    "sets the step of the trend (default: the quarter of the latest report or decision)")
    kp.add_argument("--periods", type=int, default=4, metavar="N", help="how many periods the trend shows, "
                    "ending with --period (default 4, at most 120)")
    kp.add_argument("--columns", metavar="MAP", type=Path, help="input profile for the status files (as for pmo "
                    "health)")
    kp.add_argument("--sheet", metavar="NAME", help="worksheet of an .xlsx status file (default: the first)")
    kp.add_argument("--explain", metavar="KPI", help="the records behind one KPI's figure (its id; id[group] for "
                    "one group of a KPI with by:)")
    kp.add_argument("--format", choices=("table", "json"), default="table")
    kp.add_argument("--backend", choices=("rete", "reference"), default="rete",
                    help="rule back end for the health rules (both give the same ratings)")
    kp.add_argument("--workers", type=workers_arg, metavar="N", help="with --log and no --status: processes that "
                    "read and rate a group of projects each (default: one per core for a history of 20,000 "
                    "reports or more, else 1); the figures are the same for any N")
    kp.add_argument("--out", metavar="PATH", type=Path, help="write here instead of standard output")


def kpi(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.cli.kpi_run import run
    return run(args, stdout, stderr)


def health(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.cli.health_run import run
    return run(args, stdout, stderr)
