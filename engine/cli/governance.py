"""Subcommands for gates and the decision log: gate, log, replay."""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import IO

from engine.cli.common import EPILOG, EXIT_OK, EXIT_USAGE, date_arg, dump_json, warn
from engine.cli.options import Subparsers, command, log_options, log_query_options, policy_options
from engine.text import plural


def register(sub: Subparsers) -> None:
    gt = command(sub, "gate", gate, "decide a project at a stage gate",
                 "Review a project record at a gate: go, kill, hold or recycle, with the must-meet and should-meet "
                 "criteria that decided it, the missing evidence and approvals, and who decides. A failed must-meet "
                 "criterion can be overridden by a role the gate names, with a written justification; the decision "
                 "then records the override.", EPILOG)
    policy_options(gt)
    log_options(gt)
    gt.add_argument("project", type=Path, metavar="PROJECT_FILE", help="project record (.yaml or .json)")
    gt.add_argument("--gate", required=True, metavar="ID")
    gt.add_argument("--override-role", metavar="ROLE", help="override the failed must-meet criteria as ROLE")
    gt.add_argument("--justification", metavar="TEXT", help="why the override is accepted (required with it)")
    gt.add_argument("--format", choices=("table", "json"), default="table")

    lg = command(sub, "log", log, "query the decision log",
                 "List logged intake and gate decisions, oldest first. Two dates: the day an entry was logged (its "
                 "time, UTC: --since, --until) and the date it was decided for (the date today() meant, --today; "
                 "for an entry logged without one, the day logged: --decided-since, --decided-until). pmo kpi "
                 "counts a decision in the period of the date it was decided for.", wrapped=False)
    log_query_options(lg)
    lg.add_argument("--project", metavar="ID")
    lg.add_argument("--key", metavar="KEY", help="the one entry with this key: the decision_id pmo serve answers "
                    "(GET /v1/decisions/KEY), the key of pmo log --format json and of Engine.evaluate_logged's entry")
    lg.add_argument("--since", type=date_arg, metavar="YYYY-MM-DD",
                    help="entries logged on or after this day (UTC), whatever date they were decided for")
    lg.add_argument("--until", type=date_arg, metavar="YYYY-MM-DD", help="entries logged on or before this day (UTC)")
    lg.add_argument("--decided-since", type=date_arg, metavar="YYYY-MM-DD",
                    help="decisions made for this date or later (the date today() meant), as pmo kpi counts them")
    lg.add_argument("--decided-until", type=date_arg, metavar="YYYY-MM-DD",
                    help="decisions made for this date or earlier")
    lg.add_argument("--format", choices=("table", "json"), default="table")

    rp = command(sub, "replay", replay, "re-decide logged decisions under the current policy",
                 "Re-evaluate every logged decision with the current policies and list those whose outcome would "
                 "now differ. Each is decided at the date today() meant when it was logged, unless --today gives "
                 "one date for all.", wrapped=False)
    policy_options(rp)
    rp.add_argument("--columns", metavar="MAP", type=Path, help="the input profile the logged intake rounds were "
                    "read with (as for pmo evaluate): the log keeps their cells as written (1.250.000,50)")
    log_query_options(rp)
    rp.add_argument("--format", choices=("table", "json"), default="table")


def gate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.api import Engine
    from engine.errors import Diagnostic, PmoError
    from engine.gates.review import read_project
    from engine.store import open_log
    from engine.store.log import gate_entry
    if not args.project.is_file():
        raise PmoError([Diagnostic("no_file", f"no such file: {args.project}")])
    if args.justification and not args.override_role:
        raise PmoError([Diagnostic("usage", "--justification goes with --override-role")])
    engine = Engine.load(args.policies, rules=args.rules, today=args.today)
    warn(engine, stderr)
    override = {"role": args.override_role, "justification": args.justification or ""} if args.override_role \
        else None
    decision = engine.review_gate(args.project, args.gate, override=override)
    if not args.no_log:
        with open_log(args.log, skippable=True) as log:  # pmo gate --no-log
            log.append([gate_entry(engine, read_project(args.project), decision)])
    if args.format == "json":
        dump_json(decision.to_json(), stdout)
        return EXIT_OK
    where = {"kill": "stopped", "hold": f"stays at {decision.from_stage}"}.get(
        decision.decision, f"{decision.from_stage} -> {decision.next_stage}")
    stdout.write(f"{decision.project} at gate {decision.gate}: {decision.decision.upper()} ({where}); "
                 f"decided by {', '.join(decision.approvers)}\n")
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


def log(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.store import open_log
    filters = [f"--{name.replace('_', '-')}" for name in ("project", "since", "until", "decided_since", "decided_until")
               if getattr(args, name) is not None]
    if args.key is not None and filters:
        stderr.write(f"pmo: error[usage]: --key names one entry; it does not combine with {', '.join(filters)}\n")
        return EXIT_USAGE
    with open_log(args.db, existing=True, reading=True) as log:
        if args.key is not None:
            found = log.get(args.key.strip())
            entries = [found] if found is not None else []
            if found is None:
                stderr.write(f"pmo: no entry with key {args.key.strip()!r} in {args.db}\n")
        else:
            entries = log.query(project=args.project, since=args.since, until=args.until,
                                decided_since=args.decided_since, decided_until=args.decided_until)
    if args.format == "json":
        dump_json(entries, stdout)
        return EXIT_OK
    for e in entries:
        who = ", ".join(e["approvers"]) or "-"
        extra = f"  OVERRIDE by {e['override']['role']}: {e['override']['justification']}" if e["override"] else ""
        stdout.write(f"{e['time']}  {e['kind']:<6} {e['project'] or '-':<14} {e['gate'] or '':<16} "
                     f"{e['outcome']:<8} by {who:<24} policy {e['policy_hash']}{extra}\n")
    stdout.write(f"{plural(len(entries), 'decision')}\n")
    return EXIT_OK


def replay(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.api import Engine
    from engine.errors import PmoError
    from engine.store import open_log
    from engine.tasks.evaluate import profiled
    with open_log(args.db, existing=True, reading=True) as log:  # a missing log is said before the policies are loaded
        entries = log.query()
    engines: dict[dt.date | None, Engine] = {}

    def engine_at(as_of: str | None) -> Engine:
        """The policy at the date today() meant when the entry was decided (else a start date in the past, or
        short notice, read as a change): one engine a date."""
        day = args.today or (dt.date.fromisoformat(as_of) if as_of else None)
        if day not in engines:
            engines[day] = profiled(Engine.load(args.policies, rules=args.rules, today=day), args.columns)
        return engines[day]

    changed = []
    for e in entries:
        engine = engine_at(e.get("as_of"))
        now: str  # the outcome now, or why there is none
        why = None
        if e["kind"] == "intake":
            row = e["input"].get("row")
            decision = engine.evaluate(row or {}) if row is not None else None
            now = decision.decision if decision is not None else "error"
            if decision is not None and decision.errors:
                why = decision.errors[0].message
        else:
            try:
                now = engine.review_gate(e["input"], e["gate"], override=e["override"]).decision
            except PmoError as exc:
                now = f"error: {exc.diagnostics[0].message}"
        if now != e["outcome"]:
            changed.append({"seq": e["seq"], "kind": e["kind"], "project": e["project"], "gate": e["gate"],
                            "logged": e["outcome"], "now": now, "logged_policy": e["policy_hash"],
                            "as_of": e.get("as_of"), **({"why": why} if why else {})})
    engine = next(iter(engines.values()), None) or engine_at(None)
    errors = sum(c["kind"] == "intake" and c["now"] == "error" for c in changed)
    if errors and not args.columns:
        stderr.write(f"pmo: {plural(errors, 'intake decision')} would now be error rows: if the round was read "
                     "through an input profile (pmo evaluate --columns), give it here too (--columns FILE)\n")
    if args.format == "json":
        dump_json({"replayed": len(entries), "policy_hash": engine.policy_hash, "changed": changed}, stdout)
        return EXIT_OK
    for c in changed:
        why = f" ({c['why']})" if "why" in c else ""
        stdout.write(f"#{c['seq']:<6} {c['kind']:<6} {c['project'] or '-':<14} {c['gate'] or '':<16} "
                     f"{c['logged']} -> {c['now']}{why}\n")
    stdout.write(f"{plural(len(entries), 'decision')} replayed under policy {engine.policy_hash}: "
                 f"{len(changed)} would now differ\n")
    return EXIT_OK
