"""Subcommands for proposals and policy files: evaluate, validate, expr, schema."""
from __future__ import annotations

import argparse
import json
import os
from typing import IO

from engine.api import Engine
from engine.api import validate as validate_policies
from engine.audit import DecisionLog, Entry
from engine.batch import decide_in_parallel
from engine.cli.common import EXIT_BAD_ROWS, EXIT_OK, EXIT_USAGE, Progress, count_rows, open_log, plural, warn
from engine.errors import PmoError
from engine.io.readers import read_proposals
from engine.io.writers import write_decisions, write_xlsx

PARALLEL_FROM = 5_000  # below this many rows, starting worker processes costs more than it saves


def evaluate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"pmo: error: no such file: {', '.join(missing)}", file=stderr)
        return EXIT_USAGE
    engine = Engine.load(args.policies, rules=args.rules, today=args.today, backend=args.backend)
    warn(engine, stderr)
    # Open every input first: an unreadable file means nothing is decided (exit 2), not half a report.
    inputs = [read_proposals(path, args.sheet) for path in args.files]
    if args.format == "xlsx" and not args.out:
        print("pmo: error: --format xlsx needs --out FILE.xlsx", file=stderr)
        return EXIT_USAGE
    try:
        out = (args.out.open("w", encoding="utf-8", newline="") if args.format != "xlsx" else None) if args.out \
            else stdout
    except OSError as exc:
        print(f"pmo: error: cannot write {args.out}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    log = None if args.no_log else open_log(args.log)
    try:
        estimate = count_rows(args.files)
        workers = args.workers or (1 if estimate is not None and estimate < PARALLEL_FROM else os.cpu_count() or 1)
        rows = (row for rows in inputs for row in rows)
        if workers > 1:
            pairs = decide_in_parallel(rows, workers=workers, policies=args.policies, rules=args.rules,
                                       today=engine.today, backend=args.backend, policy_hash=engine.policy_hash)
        else:
            pairs = ((row, next(engine.evaluate_many([row]))) for row in rows)
        progress = Progress(stderr, estimate)
        decided = progress.wrap(_logged(engine, pairs, log))
        if args.format == "xlsx":
            counts = write_xlsx(decided, args.out)
        else:
            counts = write_decisions(decided, out, args.format, policy_hash=engine.policy_hash)
    except OSError as exc:
        print(f"pmo: error: cannot write {args.out}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    finally:
        if args.out and out is not None:
            out.close()
        if log is not None:
            log.close()
    total = sum(counts.values())
    where = f" written to {args.out}" if args.out else ""
    print(f"pmo: {plural(total, 'row')} in, {total - counts['error']} decided{where} ("
          + ", ".join(f"{counts[k]} {k}" for k in ("accept", "review", "reject") if counts[k])
          + f"), {plural(counts['error'], 'error row')}", file=stderr)
    return EXIT_BAD_ROWS if counts["error"] else EXIT_OK


def _logged(engine: Engine, pairs, log: DecisionLog | None, batch: int = 500):
    """Pass each decision on; append it to the log, a batch per transaction."""
    pending: list[Entry] = []
    for row, decision in pairs:
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


def validate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    folder = args.folder or args.policies
    diagnostics = validate_policies(folder, rules=args.rules, today=args.today)
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


def expr(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
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


def schema(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.policy.schema import policy_schema
    text = json.dumps(policy_schema(), indent=2) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"JSON Schema written to {args.out}", file=stderr)
    else:
        stdout.write(text)
    return EXIT_OK
