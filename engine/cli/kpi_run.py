"""pmo kpi, run: the policy set's KPIs per period (loaded when the command runs; engine/cli/health.py declares it)."""
from __future__ import annotations

import argparse
from typing import IO, Any

from engine.api import Engine
from engine.cli.common import EXIT_BAD_ROWS, EXIT_OK, EXIT_USAGE, dump_json, missing_files, warn
from engine.compile.health import DEFAULT_HEALTH
from engine.compile.kpis import kpi_text
from engine.errors import Diagnostic, PmoError
from engine.health.kpis import KpiReport, KpiResult, parse_period, sparkline
from engine.health.status import StatusData, read_status, status_profile
from engine.io.profile import InputProfile
from engine.store import open_log
from engine.tasks.forked_status import ForkedStatus
from engine.text import plural

MAX_PERIODS = 120  # ten years of months: each period rates the portfolio once
ARROWS = {"up": "↑", "down": "↓", "flat": "→", None: " "}


def run(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    if missing_files(list(args.status) + ([args.selection] if args.selection else []), stderr):
        return EXIT_USAGE
    if not args.status and args.db is None and args.selection is None:
        print("pmo: error[usage]: give --status FILES, --log DB or --selection JSON: the history the KPIs are computed "
              "from", file=stderr)
        return EXIT_USAGE
    if not 1 <= args.periods <= MAX_PERIODS:
        print(f"pmo: error[usage]: --periods is 1 to {MAX_PERIODS}", file=stderr)
        return EXIT_USAGE
    period = None
    if args.period:
        try:
            period = parse_period(args.period)
        except ValueError as exc:
            print(f"pmo: error[usage]: --period: {exc}", file=stderr)
            return EXIT_USAGE
    engine = Engine.load(args.policies, rules=args.rules, today=args.today, backend=args.backend)
    warn(engine, stderr)
    if engine.policy.kpis is None:
        raise PmoError([Diagnostic("no_kpis", "this policy set declares no KPIs",
                                   hint="add a file with 'kind: kpis' (see policies/kpis.yaml and docs/health.md)")])
    profile = status_profile(args.columns) or InputProfile()
    data = read_status(args.status, profile, args.sheet, (engine.policy.health or DEFAULT_HEALTH).calendar) \
        if args.status else StatusData()
    for warning in data.warnings:
        print(f"pmo: warning: {warning}", file=stderr)
    selection = None
    if args.selection:
        from engine.health.kpis import read_selection
        selection = read_selection(args.selection)

    def measured(status: StatusData | ForkedStatus, entries: list[dict[str, Any]]) -> KpiReport:
        return engine.kpis(status, entries=entries, selection=selection, selection_source=str(args.selection or ""),
                           period=period, periods=args.periods)
    if args.db is None:
        report = measured(data, [])
    else:
        with open_log(args.db, existing=True, reading=True) as log:
            # without --status: the reports `pmo status ingest` stored in the same log, a group of projects at a
            # time (in worker processes for a large history)
            report = measured(data if args.status else ForkedStatus(log, workers=args.workers), log.query())
    if args.explain:
        chosen = [r for r in report.results if args.explain in (r.key, r.kpi.id)]
        if not chosen:
            from engine.errors import did_you_mean
            keys = [r.key for r in report.results]
            print(f"pmo: error[usage]: --explain: no KPI '{args.explain}'; "
                  + (did_you_mean(args.explain, keys) or "KPIs: " + ", ".join(keys)), file=stderr)
            return EXIT_USAGE
    out = args.out.open("w", encoding="utf-8", newline="") if args.out else stdout
    try:
        if args.format == "json":
            data_out = report.to_json()
            if args.explain:
                data_out["kpis"] = [r.to_json() for r in chosen]
            dump_json(data_out, out)
        elif args.explain:
            for r in chosen:
                out.write(explain(r))
        else:
            out.write(table(report, engine.policy.kpis.file))
    finally:
        if args.out:
            out.close()
    if not report.periods:
        print("pmo: no KPI figures: the history has no status reports, decisions or selection to measure; "
              "give --status FILES, or store reports with 'pmo status ingest FILE... --log DB'", file=stderr)
        return EXIT_BAD_ROWS if data.errors else EXIT_OK
    period_text = report.periods[-1].label
    print(f"pmo: {plural(len(report.results), 'KPI figure')} for {period_text}, "
          f"{sum(r.met is True for r in report.results)} on target, {sum(r.met is False for r in report.results)} "
          f"off; {plural(len(data.errors), 'error row')} in the status reports"
          + (f"; written to {args.out}" if args.out else ""), file=stderr)
    return EXIT_BAD_ROWS if data.errors else EXIT_OK


def table(report: KpiReport, source: str) -> str:
    if not report.periods:
        return "no period: the history is empty\n"
    last = report.periods[-1]
    titles = [r.kpi.title + (f" [{r.group}]" if r.group else "") for r in report.results]
    width = min(max([len(t) for t in titles] + [3]), 60)
    lines = [f"KPIs for {last.label} ({last.start} to {last.end}); trend over {report.periods[0].label} to "
             f"{last.label}; declared in {source}",
             f"{'KPI':<{width}} {'value':>10} {'target':>10}  {'met':<7} trend"]
    notes = []
    for r, title in zip(report.results, titles):
        k = r.kpi
        target = "" if k.target is None else ("≥ " if k.direction == "higher" else "≤ ") + kpi_text(k.target, k.unit)
        met = {True: "met", False: "not met", None: "-"}[r.met]
        spark = sparkline(f.value for f in r.figures)
        lines.append(f"{title[:width]:<{width}} {kpi_text(r.current.value, k.unit, apart_from=k.target):>10} {target:>10}  {met:<7} "
                     f"{spark} {ARROWS[_arrow(r)]}")
        if r.current.value is None and r.current.why:
            notes.append(f"  {r.key}: {r.current.why}")
    if notes:
        lines += ["", "no figure:"] + notes
    lines.append("")
    lines.append("each figure's records: pmo kpi ... --explain ID (or --format json)")
    return "\n".join(lines) + "\n"


def _arrow(result: KpiResult) -> str | None:
    from engine.health.kpis import trend_arrow
    return trend_arrow(result)


def explain(result: KpiResult) -> str:
    k, f = result.kpi, result.current
    lines = [f"{result.key}: {k.title} ({k.at})",
             f"  measure  {k.measure}  over {k.over}" + (f" where {k.condition_text}" if k.condition_text else "")
             + (f", by {k.by}: {result.group}" if k.by else ""),
             f"  period   {f.period} ({f.start} to {f.end})",
             f"  value    {kpi_text(f.value, k.unit, apart_from=k.target)}" + (f"  ({f.value})" if f.value is not None else f"  ({f.why})"),
             "  target   " + ("none" if k.target is None else f"{'≥' if k.direction == 'higher' else '≤'} "
                               f"{kpi_text(k.target, k.unit)}: {({True: 'met', False: 'not met', None: '-'})[result.met]}")]
    for part, value in f.parts.items():
        lines.append(f"  {part} = {value if value is not None else 'null'}")
    lines.append("  trend    " + ", ".join(f"{g.period} {kpi_text(g.value, k.unit)}" for g in result.figures))
    lines.append(f"  records ({len(f.trace)}):")
    for t in f.trace:
        ref = {key: v for key, v in t.items() if key != "read"}
        where = ""
        if "source" in ref:
            where = f" ({ref.pop('source')}:{ref.pop('row')})"
        half = ref.pop("half", None)
        read = ", ".join(f"{name} = {_value(v)}" for name, v in (t.get("read") or {}).items())
        lines.append("    " + " ".join(f"{key}={v}" for key, v in ref.items() if v is not None) + where
                     + (f"; at 50%: {half['status_date']} ({half['source']}:{half['row']})" if half else "")
                     + (f": {read}" if read else ""))
    return "\n".join(lines) + "\n"


def _value(v: Any) -> str:
    return "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
