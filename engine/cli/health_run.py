"""pmo health, run: status reports in, earned value, earned schedule and RAG ratings out (loaded when the
command runs; engine/cli/health.py declares it)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import IO, Any

from engine.api import Engine
from engine.cli.common import EXIT_BAD_ROWS, EXIT_OK, EXIT_USAGE, missing_files, warn
from engine.compile.health import DEFAULT_HEALTH
from engine.expr.values import fixed
from engine.health.assess import COLUMNS, HealthReport, health_entries
from engine.health.status import StatusData, read_status, status_profile
from engine.io.profile import InputProfile
from engine.io.safe_text import json_text
from engine.io.writers import csv_writer, inert
from engine.text import plural


def run(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    if missing_files(args.files + ([args.portfolio] if args.portfolio else []), stderr):
        return EXIT_USAGE
    if bool(args.files) == (args.log is not None):
        print("pmo: error[usage]: give status FILES, or --log DB to rate from the portfolio history (not both)", file=stderr)
        return EXIT_USAGE
    if args.log is not None and (args.columns or args.sheet):
        print("pmo: error[usage]: --columns and --sheet read FILES; the history's reports are typed already", file=stderr)
        return EXIT_USAGE
    if (args.portfolio or args.title) and not args.report:
        print("pmo: error[usage]: --portfolio and --title go with --report", file=stderr)
        return EXIT_USAGE
    engine = Engine.load(args.policies, rules=args.rules, today=args.today, backend=args.backend)
    warn(engine, stderr)
    if engine.policy.health is None:
        print("pmo: note: the policy folder has no health policy (kind: health): EAC is BAC / CPI and no project "
              "is rated", file=stderr)
    profile = status_profile(args.columns)
    if args.log is not None:
        report, data = _from_history(engine, args.log, args.as_of, whole=bool(args.report), workers=args.workers)
        if not report.projects and not report.not_reported:
            print(f"pmo: note: the log {args.log} holds no status reports: 'pmo status ingest FILE... --log "
                  f"{args.log}' stores them", file=stderr)
    else:
        data = read_status(args.files, profile or InputProfile(), args.sheet,
                           (engine.policy.health or DEFAULT_HEALTH).calendar)
        for warning in data.warnings:
            print(f"pmo: warning: {warning}", file=stderr)
        report = engine.health(data, as_of=args.as_of)
    if args.report:
        # lazy: a command loads its stage when it runs (tests/test_startup.py)
        from engine.io.safe_text import replacing
        from engine.portfolio.model import read_portfolio
        from engine.report.build import render_health_page
        page = engine.health_page(data, until=args.as_of,
                                  portfolio=read_portfolio(args.portfolio) if args.portfolio else None)
        try:
            with replacing(args.report) as target:
                target.write(render_health_page(page, args.title or "Portfolio health"))
        except OSError as exc:
            print(f"pmo: error[cannot_write]: cannot write {exc.filename or args.report}: {exc.strerror or exc}", file=stderr)
            return EXIT_USAGE
    out = args.out.open("w", encoding="utf-8", newline="") if args.out else stdout
    try:
        {"json": _json, "csv": _csv, "table": _table}[args.format](report, args.by, out)
    finally:
        if args.out:
            out.close()
    counts = {r: sum(p.rating == r for p in report.projects) for r in ("red", "amber", "green")}
    rated = ", ".join(f"{n} {r}" for r, n in counts.items() if n) or "none rated"
    print(f"pmo: {plural(len(report.projects), 'project')} ({rated}), {plural(len(report.errors), 'error row')}"
          + (f"; {plural(report.empty_rows, 'empty row')} skipped" if report.empty_rows else "")
          + (f"; no report on or before {args.as_of}: {', '.join(report.not_reported)}" if report.not_reported else "")
          + (f"; written to {args.out}" if args.out else "")
          + (f"; health page written to {args.report}" if args.report else ""), file=stderr)
    return EXIT_BAD_ROWS if report.errors else EXIT_OK


def _from_history(engine: Engine, target: str | Path, as_of: dt.date | None, whole: bool,
                  workers: int | None) -> tuple[HealthReport, StatusData]:
    """The projects rated on the reports in force on or before ``as_of`` (engine/store/history.py), read a group
    of projects at a time (by ``workers`` processes for a large history); with ``whole`` (the health page rates
    every status date) also those reports, read whole. Projects with no report by ``as_of`` are the report's
    ``not_reported``."""
    from engine.store import open_log
    from engine.store.history import status_data, unreported
    from engine.tasks.forked_status import ForkedStatus
    with open_log(target, existing=True, reading=True) as log:
        data = status_data(log, as_of) if whole else StatusData()
        report = engine.health(data if whole else ForkedStatus(log, as_of, workers=workers), as_of=as_of)
        if as_of is not None:
            report.not_reported = unreported(log, as_of)  # the history's reports after as_of were not read at all
    return report, data


def _json(report: HealthReport, by: str, out: IO[str]) -> None:
    out.write(json_text(json.dumps(health_entries(report, by), ensure_ascii=False, indent=1)) + "\n")


def _csv(report: HealthReport, by: str, out: IO[str]) -> None:
    writer = csv_writer(out)
    entries = health_entries(report, by)
    if by == "project":
        header = ["project", "title", "objective", "state", "status_date", "rating", *COLUMNS, "forecast_finish",
                  "rules", "where", "reason", "escalate_to", "source", "row"]
    else:
        header = ["level", by, "projects", *COLUMNS[:17], "green", "amber", "red", "unrated", "excluded"]
    writer.writerow(header)
    for entry in entries:
        cells = []
        for name in header:
            value = entry.get(name)
            if name == "rules":
                value = ";".join(r["id"] for r in entry.get("rules", []))
            elif name == "where":
                value = ";".join(r["where"] for r in entry.get("rules", []))
            elif name in ("escalate_to", "excluded") and isinstance(value, list):
                value = ";".join(value)
            elif name in ("green", "amber", "red", "unrated"):
                value = entry["ratings"][name]
            cells.append("" if value is None else inert(value))
        writer.writerow(cells)


def _number(value: Any, places: int = 2) -> str:
    if value is None:
        return "-"
    return fixed(value, 0, grouped=True) if abs(value) >= 1000 else fixed(value, places)


def _table(report: HealthReport, by: str, out: IO[str]) -> None:
    if by != "project":
        rows = health_entries(report, by)
        out.write(f"{by:<24} {'projects':>8} {'BAC':>13} {'EV':>13} {'AC':>13} {'SPI':>5} {'CPI':>5} {'EAC':>13} "
                  f"{'VAC':>12}  green amber red\n")
        for r in rows:
            out.write(f"{str(r[by])[:24]:<24} {r['projects']:>8} {_number(r['bac']):>13} {_number(r['ev']):>13} "
                      f"{_number(r['ac']):>13} {_number(r['spi']):>5} {_number(r['cpi']):>5} {_number(r['eac']):>13} "
                      f"{_number(r['vac']):>12}  {r['ratings']['green']:>5} {r['ratings']['amber']:>5} "
                      f"{r['ratings']['red']:>3}\n")
            for name, why in r["missing"].items():
                if name in ("spi", "cpi", "eac"):
                    out.write(f"{'':<24} {name}: {why}\n")
        if by == "portfolio" and report.portfolio.excluded:
            out.write(f"not in the sums (error rows): {', '.join(report.portfolio.excluded)}\n")
        return
    order = {"red": 0, "amber": 1, "green": 2, None: 3}
    out.write(f"{'project':<10} {'title':<28} {'status date':<11} {'state':<6} {'rating':<7} {'SPI':>5} {'CPI':>5} {'SPI(t)':>6} "
              f"{'SV(t) d':>7} {'EAC':>12} {'VAC':>11} {'TCPI':>5}  why\n")
    for p in sorted(report.projects, key=lambda p: (order[p.rating], p.project)):
        r = p.to_json()
        why = "; ".join(f"{f.id} ({f.where}): {f.reason}" for f in p.rules if f.rating == p.rating) or p.reason
        out.write(f"{p.project[:10]:<10} {(r['title'] or '')[:28]:<28} {r['status_date']:<11} "
                  f"{(r['state'] or '-')[:6]:<6} {(p.rating or 'unrated'):<7} {_number(r['spi']):>5} {_number(r['cpi']):>5} "
                  f"{_number(r['spi_t']):>6} {_number(r['sv_t'], 0):>7} {_number(r['eac'], 0):>12} "
                  f"{_number(r['vac'], 0):>11} {_number(r['tcpi']):>5}  {why}\n")
    escalations: dict[str, list[str]] = {}
    for p in report.projects:
        for who in p.escalate_to:
            escalations.setdefault(who, []).append(p.project)
    if escalations:
        out.write("\nescalate to:\n")
        for who, projects in escalations.items():
            out.write(f"  {who}: {', '.join(projects)}\n")
    if report.errors:
        rated = {p.project for p in report.projects}
        out.write("\nerror rows (a project's reports in the file of its error row are not rated; fix the rows and "
                  "run again):\n")
        for e in report.errors:
            for x in e.errors:
                out.write(f"  {e.source}:{e.row}: error[{x.code}]: {x.message}"
                          + (f" ({e.project}{', rated from its other files' if e.project in rated else ''})"
                             if e.project else "") + "\n")
    totals = report.portfolio.to_json()
    out.write(f"\nportfolio: {plural(totals['projects'], 'project')}, BAC {_number(totals['bac'])}, "
              f"EV {_number(totals['ev'])}, AC {_number(totals['ac'])}, SPI {_number(totals['spi'])}, "
              f"CPI {_number(totals['cpi'])}, EAC {_number(totals['eac'])} "
              f"(EAC by {report.projects[0].eac_variant if report.projects else 'cpi'})\n")
