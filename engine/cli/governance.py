"""Subcommands for gates and the decision log: gate, log, replay."""
from __future__ import annotations

import argparse
from typing import IO

from engine.api import Engine
from engine.audit import Entry
from engine.cli.common import EXIT_OK, dump_json, open_log, plural, warn
from engine.errors import Diagnostic, PmoError
from engine.gates.review import read_project


def gate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
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
        with open_log(args.log) as log:
            log.append([Entry("gate", decision.project, decision.gate, read_project(args.project),
                              engine.policy_hash, decision.decision,
                              [m.model_dump(mode="json") for m in decision.must_meet], decision.approvers,
                              decision.override.model_dump(mode="json") if decision.override else None,
                              as_of=engine.today.isoformat(), backend=engine.backend)])
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
    if not args.db.is_file():
        raise PmoError([Diagnostic("no_file", f"no decision log at {args.db}", hint="decisions are logged by "
                                   "'pmo evaluate' and 'pmo gate'; --log names another log")])
    with open_log(args.db) as log:
        entries = log.query(project=args.project, since=args.since)
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
    if not args.db.is_file():
        raise PmoError([Diagnostic("no_file", f"no decision log at {args.db}")])
    engine = Engine.load(args.policies, rules=args.rules, today=args.today)
    with open_log(args.db) as log:
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
        dump_json({"replayed": len(entries), "policy_hash": engine.policy_hash, "changed": changed}, stdout)
        return EXIT_OK
    for c in changed:
        stdout.write(f"#{c['seq']:<6} {c['kind']:<6} {c['project'] or '-':<14} {c['gate'] or '':<16} "
                     f"{c['logged']} -> {c['now']}\n")
    stdout.write(f"{plural(len(entries), 'decision')} replayed under policy {engine.policy_hash}: "
                 f"{len(changed)} would now differ\n")
    return EXIT_OK
