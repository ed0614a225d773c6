"""Subcommands for proposals and policy files: evaluate, validate, expr, schema."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import TypeAdapter

from engine.api import Engine, check_policies
from engine.cli.common import (
    EXIT_BAD_ROWS,
    EXIT_OK,
    EXIT_USAGE,
    Progress,
    count_rows,
    missing_files,
    note_example_policies,
    open_log,
    plural,
    warn,
)
from engine.decision import Decision, Finding, RowError
from engine.errors import Diagnostic, InputError, PmoError
from engine.io.carry import Carrier
from engine.io.profile import ambiguity_survey, check_profile, load_profile, one_currency_per_column
from engine.io.readers import ProposalRows, Row, read_proposals, renamed
from engine.io.resume import RESUMABLE, ResumePoint, resume_point, run_record, save_record, saved_record, truncate
from engine.io.writers import csv_header, write_decisions, write_xlsx
from engine.policy.source import MAX_BYTES
from engine.report.build import field_roles, write_report
from engine.store import DecisionLog, Entry, LogError
from engine.tasks.batch import decide_in_parallel

LOG_BATCH = 500  # decisions per log transaction
PARALLEL_FROM = 5_000  # below this many rows, starting worker processes costs more than it saves
BYTES_PER_ROW = 200  # a rough size of one proposal, to estimate rows from a file's size
NOT_TYPED = object()  # a decision made in a worker process, whose typed record did not come back


def evaluate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    if missing_files(args.files, stderr):
        return EXIT_USAGE
    if args.format == "xlsx" and not args.out:
        print("pmo: error: --format xlsx needs --out FILE.xlsx", file=stderr)
        return EXIT_USAGE
    if args.resume and (not args.out or args.format not in RESUMABLE or args.report):
        print("pmo: error: --resume needs --out FILE and --format csv or jsonl (formats that can be appended to), "
              "and no --report (a report needs every row: make it afterwards with pmo rank --report)", file=stderr)
        return EXIT_USAGE
    point = resume_point(args.out, args.format) if args.resume else None
    if point is not None and point.as_of and args.today is None:
        args.today = dt.date.fromisoformat(point.as_of)  # the run continues on the date it started with
        print(f"pmo: resuming with today() = {point.as_of}, as the interrupted run", file=stderr)
    engine = profiled(Engine.load(args.policies, rules=args.rules, today=args.today, backend=args.backend), args)
    warn(engine, stderr)
    note_example_policies(args, stderr)
    derived = [name for name, _ in engine.policy.derived]
    carrier = Carrier(engine.profile, field_roles(engine.policy)["title"])
    carried = carrier.names
    # Open every input first: an unreadable file means nothing is decided (exit 2), not half a report.
    opened: list[ProposalRows] = []
    rows = input_rows(args, engine, stderr, opened)
    record = run_record(args.files, args.sheet, args.columns, engine.policy_hash) \
        if args.out and args.format in RESUMABLE and (args.out.is_file() or not args.out.exists()) else None
    if point is not None:
        problem = point.mismatch(engine.policy_hash, engine.today.isoformat(), input_rows(args, engine),
                                 csv_header(derived, carried) if args.format == "csv" else None)
        if not problem and point.rows and record is not None:  # the rows line up; are they the same inputs?
            problem = record.mismatch(saved_record(args.out), args.out)
        if problem:
            print(f"pmo: error: cannot resume {args.out}: {problem}; write to a new --out file instead "
                  "(nothing was changed)", file=stderr)
            return EXIT_USAGE
    log = None if args.no_log else open_log(args.log)
    out = None
    try:
        if record is not None and not (point and point.rows):
            save_record(args.out, record)  # what this output is made from, for a --resume
        if point is not None:
            truncate(args.out, point)
            # The log commits every LOG_BATCH rows, so up to that many rows in the output may not be logged
            # yet: decide them again for the log (entries are idempotent) but do not write them again.
            relog = 0 if log is None else min(point.rows, LOG_BATCH)
            rows = itertools.islice(rows, point.rows - relog, None)
            _say_resuming(args.out, point, stderr)
        out = (args.out.open("a" if point else "w", encoding="utf-8", newline="")
               if args.format != "xlsx" else None) if args.out else stdout
        estimate = count_rows(args.files)
        done = point.rows if point else 0
        triples = carrier.labelled(decide(engine, args, rows, None if estimate is None else max(estimate - done, 0)))
        logged = _logged(engine, triples, log)
        if point is not None and relog:
            logged = _skip(logged, relog)
        report: list | None = [] if args.report else None
        decided = _kept(engine, logged, report) if report is not None else (d for _, d, _ in logged)
        decided = Progress(stderr, estimate, done).wrap(decided)
        if args.format == "xlsx":
            counts = write_xlsx(decided, args.out, derived=derived, carried=carried)
        else:
            counts = write_decisions(decided, out, args.format, policy_hash=engine.policy_hash,
                                     header=point is None or point.keep == 0, derived=derived, carried=carried,
                                     titled=carrier.shows_title)
        if args.out and out is not None:
            out.close()  # a small output is still in the buffer: a full disk shows here, not in write()
        if report is not None:
            write_report(engine.report_of(report, title=args.title), args.report)
    except BrokenPipeError:
        raise  # a reader such as `head` stopped reading: not an error (main exits 0)
    except OSError as exc:
        return _cannot_write(exc, args, stderr)
    except LogError as exc:  # the database failed part-way (a full disk, a lost server)
        return _cannot_write(OSError(0, exc.detail, exc.target), args, stderr)
    finally:
        if args.out and out is not None:
            with contextlib.suppress(OSError):  # after a full disk, closing fails too; the error is said above
                out.close()
        if log is not None:
            log.close()
    if point is not None:
        counts.update(point.counts)
    total = sum(counts.values())
    outcomes = ", ".join(f"{counts[k]} {k}" for k in ("accept", "review", "reject") if counts[k])
    print(f"pmo: {plural(total, 'row')} in: {total - counts['error']} decided" + (f" ({outcomes})" if outcomes else "")
          + f", {plural(counts['error'], 'error row')}" + (f"; written to {args.out}" if args.out else "")
          + (f"; report {args.report}" if args.report else ""), file=stderr)
    _say_empty_rows(opened, stderr)
    return EXIT_BAD_ROWS if counts["error"] else EXIT_OK


def profiled(engine: Engine, args: argparse.Namespace) -> Engine:
    """The engine reading cells as the --columns input profile declares (an old-style column map declares
    only headers). A profile that does not fit the policy is refused with located diagnostics."""
    if not getattr(args, "columns", None):
        return engine
    profile = load_profile(args.columns)
    problems = check_profile(profile, engine.policy.fields, engine.policy.strategy)
    if problems:
        raise InputError(problems)
    return engine.with_profile(profile)


def input_rows(args: argparse.Namespace, engine: Engine, stderr: IO[str] | None = None,
               opened: list[ProposalRows] | None = None) -> Iterator[Row]:
    """The rows of every input file, renamed by the --columns profile's header map. Opens each file now, so
    an unreadable file stops the run before anything is decided (InputError). With ``stderr``: warns once
    per file about columns that look wrong, and about amounts that mostly read two ways. ``opened``
    receives each file's rows (for the count of empty rows)."""
    inputs = [read_proposals(path, args.sheet) for path in args.files]
    if opened is not None:
        opened.extend(inputs)
    profile = engine.profile
    if args.columns:
        # Rename each file's first row now: a header the map cannot apply is refused before anything is decided.
        inputs = [_started(renamed(rows, profile.columns)) for rows in inputs]
    money = [name for name, spec in engine.policy.fields.items()
             if spec.type == "money" or spec.type == "list" and spec.items == "money"]
    inputs = [one_currency_per_column(rows, money, engine.raw_value, profile) for rows in inputs]
    if stderr is not None:
        inputs = [_surveyed(rows, engine, stderr) for rows in inputs]
    rows = (row for rows in inputs for row in rows)
    return _checked_headers(rows, engine, stderr) if stderr is not None else rows


SURVEY_ROWS = 200  # the first rows of a file that are looked at for amounts that read two ways


def _surveyed(rows: Iterator[Row], engine: Engine, stderr: IO[str]) -> Iterator[Row]:
    """Say once, before the file's first decision, when most of its amounts read two ways (and how to fix it)."""
    first = list(itertools.islice(rows, SURVEY_ROWS))
    numeric = [name for name, spec in engine.policy.fields.items() if spec.type in ("money", "number")]
    said = ambiguity_survey(first, numeric, engine.raw_value, engine.profile)
    if said and first:
        print(f"pmo: warning: {first[0].source}: {said}", file=stderr)
    yield from first
    yield from rows


def _say_empty_rows(opened: list[ProposalRows], stderr: IO[str], shown: int = 10) -> None:
    """Rows of empty cells are not data rows: they are skipped, but never silently."""
    for rows in opened:
        if rows.empty_count:
            lines = rows.empty_rows[:shown]
            more = ", ..." if rows.empty_count > len(lines) else ""
            where = f"{'line' if len(lines) == 1 and not more else 'lines'} {', '.join(map(str, lines))}{more}"
            prefix = f"{rows.source}: " if len(opened) > 1 else ""
            print(f"pmo: {prefix}{plural(rows.empty_count, 'empty row')} skipped: {where}", file=stderr)


def _started(rows: Iterator[Row]) -> Iterator[Row]:
    first = next(rows, None)
    return itertools.chain([first], rows) if first is not None else rows


def _checked_headers(rows: Iterator[Row], engine: Engine, stderr: IO[str]) -> Iterator[Row]:
    checked: set = set()
    for row in rows:
        # a row the reader refused may lack a column it dropped (a bad value): judge the header by a clean row
        if row.data is not None and row.error is None and row.source not in checked:
            checked.add(row.source)
            for problem in engine.header_problems(row.data.keys()):
                print(f"pmo: warning: {row.source}: {problem}", file=stderr)
            for name in Carrier(engine.profile, None).missing(row.data.keys()):
                print(f"pmo: warning: {row.source}: carried column '{name}' is not in the file; its cells are "
                      "empty in every output", file=stderr)
        yield row


def decide(engine: Engine, args: argparse.Namespace, rows: Iterable[Row],
           estimate: int | None) -> Iterator[tuple[Row, Decision, Any]]:
    """(row, decision, typed record) in input order, with worker processes for large batches. Worker
    processes send decisions only: their record is NOT_TYPED, typed again when it is needed."""
    workers = worker_count(args, estimate)
    if workers > 1:
        pairs = decide_in_parallel(rows, workers=workers, policies=args.policies, rules=args.rules, today=engine.today,
                                   backend=getattr(args, "backend", "rete"), policy_hash=engine.policy_hash,
                                   profile=engine.profile if args.columns else None)
        return ((row, decision, NOT_TYPED) for row, decision in pairs)
    shown, decided = itertools.tee(rows)  # in lockstep: tee holds one row at a time
    return ((row, decision, record) for row, (decision, record) in zip(shown, engine.decide_all(decided)))


def typed(engine: Engine, row: Row, decision: Decision, record: Any) -> Any:
    """The record a decision was made on, typing the row again if a worker process decided it."""
    if record is not NOT_TYPED:
        return record
    return engine.record_of(row) if decision.decision != "error" else None


def worker_count(args: argparse.Namespace, estimate: int | None) -> int:
    """--workers, else one per core for a large batch. Without a row estimate (JSON, YAML, XLSX), the
    files' size decides."""
    if args.workers:
        return args.workers
    if estimate is None:
        estimate = sum(path.stat().st_size for path in args.files) // BYTES_PER_ROW
    return 1 if estimate < PARALLEL_FROM else os.cpu_count() or 1


def _say_resuming(path: Path, point: ResumePoint, stderr: IO[str]) -> None:
    cut = "; a partial last row was cut off" if point.cut else ""
    print(f"pmo: resuming {path}: {plural(point.rows, 'row')} already decided{cut}; deciding the rest", file=stderr)


def _skip(items: Iterator, n: int) -> Iterator:
    for _ in itertools.islice(items, n):
        pass
    yield from items


def _kept(engine: Engine, triples: Iterable[tuple[Row, Decision, Any]], into: list) -> Iterator[Decision]:
    """Pass decisions on, keeping each with its typed record for the report."""
    for row, decision, record in triples:
        into.append((decision, typed(engine, row, decision, record)))
        yield decision


def _cannot_write(exc: OSError, args: argparse.Namespace, stderr: IO[str]) -> int:
    """A full disk, a lost share, a read-only folder: say what stopped, and how to carry on without losing
    or repeating a row."""
    target = exc.filename or args.out or args.report or "the output"
    print(f"pmo: error: cannot write {target}: {exc.strerror or exc}", file=stderr)
    if args.out and args.format in RESUMABLE and str(target) != str(args.report):
        print(f"pmo: the rows already in {args.out} are kept; when the problem is fixed, run the same command "
              "with --resume to decide the rest", file=stderr)
    return EXIT_USAGE


_FINDINGS, _ERRORS = TypeAdapter(list[Finding]), TypeAdapter(list[RowError])  # a decision's findings dumped in
# one call: a model_dump per finding cost 3x as much (benchmarks/log_append.py, docs/benchmarks.md)


def _logged(engine: Engine, triples, log: DecisionLog | None, batch: int = LOG_BATCH):
    """Pass each (row, decision, record) on; append the decision to the log, a batch per transaction."""
    pending: list[Entry] = []
    for row, decision, record in triples:
        if log is not None:
            pending.append(Entry("intake", decision.id, None, {"row": row.data, "source": row.source,
                                                               "line": row.row}, engine.policy_hash,
                                 decision.decision, _FINDINGS.dump_python(decision.findings, mode="json")
                                 or _ERRORS.dump_python(decision.errors, mode="json"), decision.routes,
                                 as_of=engine.today.isoformat(), backend=engine.backend))
            if len(pending) >= batch:
                log.append(pending)
                pending = []
        yield row, decision, record
    if log is not None:
        log.append(pending)


def validate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    if args.folder and args.policies and args.folder != args.policies:
        print(f"pmo: error: two policy folders given ({args.folder} and --policies {args.policies}); give one",
              file=stderr)
        return EXIT_USAGE
    folder = args.folder or args.policies
    checked = check_policies(folder, rules=args.rules, today=args.today, lint=True)  # compiles once
    diagnostics = checked.diagnostics
    if args.strict:  # a policy that loads but is probably wrong is refused, e.g. in CI
        diagnostics = [dataclasses.replace(d, severity="error") for d in diagnostics]
    errors = [d for d in diagnostics if d.severity == "error"]
    if args.format == "sarif":
        from engine import __version__
        from engine.authoring.sarif import to_sarif
        json.dump(to_sarif(diagnostics, __version__), stdout, indent=2)
        stdout.write("\n")
    elif args.format == "json":
        json.dump([{"code": d.code, "severity": d.severity, "message": d.message, "hint": d.hint,
                    "file": d.location.file if d.location else None,
                    "line": d.location.line if d.location else None,
                    "column": d.location.column if d.location else None,
                    **({"sheet": d.location.sheet, "cell": str(d.location)}  # a decision table's cell
                       if d.location and d.location.sheet is not None else {})} for d in diagnostics],
                  stdout, indent=2)
        stdout.write("\n")
    else:
        files: dict[str, list[str] | None] = {}
        for d in diagnostics:
            print(d, file=stdout)
            for line in _excerpt(d, files):
                print(line, file=stdout)
    if errors:
        why = "--strict counts warnings as errors" if checked.policy is not None else "the policy set cannot be used"
        print(f"{len(errors)} error(s); {why}", file=stderr)
        return EXIT_USAGE
    if args.format == "text" and checked.policy is not None:
        policy, where = checked.policy, folder or "reference policies"
        warnings = f", {plural(len(diagnostics), 'warning')}" if diagnostics else ""
        health = f", {plural(len(policy.health.rules), 'health rule')}" if policy.health is not None else ""
        print(f"{where}: OK, {len(policy.files)} files, {len(policy.rules)} rules{health}, policy hash "
              f"{policy.policy_hash}{warnings}", file=stdout)
        for line in _weight_lines(policy):
            print(line, file=stdout)
    return EXIT_OK


def _weight_lines(policy) -> list[str]:
    """The weights the engine will use, as derived (normalised, or from pairwise comparisons with their CR):
    written nowhere else, and what a reviewer of a strategy change wants to see."""
    out = []
    strategy = policy.strategy
    weighted = [("objective", strategy.weights.values if strategy else None, strategy.weights.ahp if strategy else None)]
    several = len(policy.scoring_models) > 1
    for model in policy.scoring_models:  # each scoring model's criteria (the id says which, when there are several)
        scoring = model.scoring
        weighted.append((f"criterion ({model.id})" if several else "criterion",
                         scoring.weights if scoring.criteria else None, scoring.ahp))
    for what, values, result in weighted:
        if not values:
            continue
        how = f"comparisons, {result.method}" if result is not None else "stated"
        shown = ", ".join(f"{name} {weight:.3g}" for name, weight in values.items())
        consistency = f"; CR {result.cr:.3f}{'' if result.consistent else ' (inconsistent)'}" if result else ""
        out.append(f"  {what} weights ({how}): {shown}{consistency}")
    return out


def _excerpt(diagnostic: Diagnostic, files: dict[str, list[str] | None]) -> list[str]:
    """The source line under a diagnostic, a caret under its column and the hint, as rustc shows them."""
    where = diagnostic.location
    if where is not None and where.sheet is not None:  # a spreadsheet cell: no text line to show
        return []
    if where is None or not where.line:
        return []
    if where.file not in files:
        try:
            with open(where.file, encoding="utf-8", errors="replace") as f:
                files[where.file] = f.read(MAX_BYTES).split("\n")
        except OSError:
            files[where.file] = None
    lines = files[where.file]
    if not lines or where.line > len(lines):
        return []
    text = lines[where.line - 1].rstrip("\r").replace("\t", " ")
    column = max(where.column, 1)
    if len(text) > 120:  # a long line: the part around the column
        start = max(column - 60, 0)
        text, column = "..." + text[start:start + 117], column - start + 3
    gutter = " " * (len(str(where.line)) + 1)
    out = [f"{gutter}|", f"{where.line} | {text}"]
    if where.column:
        out.append(f"{gutter}| {' ' * (column - 1)}^")
    if diagnostic.hint:
        out.append(f"{gutter}= help: {diagnostic.hint}")
    return out


def expr(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.authoring.calculator import calculate
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
