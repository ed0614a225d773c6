"""Subcommands for policy files: validate, expr (a calculator for policy authors), schema, and the policy workbook
(export-policies, import-policies)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import IO, TYPE_CHECKING

from engine.cli.common import EXIT_OK, EXIT_USAGE
from engine.cli.common import date_arg as _date
from engine.cli.options import Subparsers, command, out_option, policy_options
from engine.limits import MAX_ERRORS
from engine.text import plural

if TYPE_CHECKING:  # annotations only: a command loads its stage when it runs (tests/test_startup.py)
    from engine.compile.policy import CompiledPolicy
    from engine.errors import Diagnostic

VALIDATE_EXAMPLES = """\
examples:
  pmo validate my-policies/                    errors and warnings; exit 2 only on errors
  pmo validate my-policies/ --strict           warnings count as errors (exit 2): for CI
  pmo validate examples/lint-policies          one warning of each lint kind
  pmo validate my-policies/ --format json      the same, with codes, for tools
  pmo validate my-policies/ --format sarif > pmo.sarif   for code scanning (GitHub shows each inline)
"""


def register(sub: Subparsers) -> None:
    va = command(sub, "validate", validate, "check a policy folder; print every problem",
                 "Load and check every policy file; print each problem as file:line:col: severity[code]: message; "
                 "hint. Errors make the set unusable. Warnings (lint) point at what loads but is probably wrong: "
                 "rules that can never fire or always fire, duplicate or shadowed rules, fields and library rules "
                 "nothing uses (codes: docs/lint.md). Exit 0 if usable, 2 if not.", VALIDATE_EXAMPLES)
    policy_options(va)
    va.add_argument("folder", nargs="?", type=Path, metavar="DIR", help="policy folder (default: the reference policies)")
    va.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                    help="text (default), json (a list: code, severity, message, hint, file, line, column) or "
                    "sarif (SARIF 2.1.0, for code scanning to show each problem inline in a pull request)")
    va.add_argument("--strict", action="store_true", help="count warnings as errors (exit 2), e.g. in CI")
    va.add_argument("--counterexamples", metavar="FILE", type=Path, help="write the counterexample proposals of "
                    "failed assurances (kind: assurances) to FILE as a JSON list, for pmo explain FILE --id ID")
    va.add_argument("--max-errors", type=_error_limit, default=MAX_ERRORS, metavar="N",
                    help=f"list at most N errors (default {MAX_ERRORS}; 0: all); past the limit, a last line says how "
                    "many more there are")

    ex = command(sub, "expr", expr, "evaluate one expression and print its value as JSON",
                 "A calculator for policy authors. Fields given with --set are typed from how they look (300000 is "
                 "a number, 2027-01-31 a date, true a yes/no, [1, 2] a list), or from the intake policy's fields "
                 "and derived values when --policies is given.", _functions_help)
    ex.add_argument("--policies", metavar="DIR", type=Path,
                    help="type --set values by this policy folder's fields, and allow its derived values")
    ex.add_argument("--rules", metavar="DIR", type=Path, action="append", default=[], help=argparse.SUPPRESS)
    ex.add_argument("--today", metavar="YYYY-MM-DD", type=_date, help="the date today() means (default: now)")
    ex.add_argument("expression", help='e.g. "npv(0.1, [-1000, 500, 700])" or "budget > 250_000"')
    ex.add_argument("--set", dest="values", action="append", default=[], metavar="FIELD=VALUE",
                    help="a field value (repeatable), e.g. --set budget=300000 --set start_date=2027-01-01")

    sc = command(sub, "schema", schema, "write the JSON Schema of policy files (for editor completion)")
    out_option(sc)

    xp = command(sub, "export-policies", export_policies, "write a policy set as a workbook for review (.xlsx)",
                 "Write every policy file of DIR as a sheet of one workbook: settings, rules, includes (with the "
                 "library rule as it applies), fields, bands, lookups, weights (with the weights used), gates and "
                 "their criteria, decision tables and reference data, each row with the file:line it came from; a "
                 "cover sheet with the policy hash, the date and the files. The same policy and date give the same "
                 "bytes. Edit it and bring it back with 'pmo import-policies'.", EXPORT_EXAMPLES)
    xp.add_argument("folder", nargs="?", type=Path, metavar="DIR", help="policy folder (default: the reference policies)")
    xp.add_argument("--out", metavar="XLSX", type=Path, required=True, help="the workbook to write (.xlsx)")
    xp.add_argument("--rules", metavar="DIR", type=Path, action="append", default=[],
                    help="extra rule-library folder (repeatable), searched before the built-in rules/")
    xp.add_argument("--today", metavar="YYYY-MM-DD", type=_date,
                    help="the date today() means in policies, and the cover's date (default: the current date)")

    ip = command(sub, "import-policies", import_policies, "write an edited policy workbook back as a policy folder",
                 "Read a workbook written by 'pmo export-policies' (and edited) into policy files in a new folder: "
                 "YAML with its comments, reference data as CSV, decision tables in their workbook. Every cell that "
                 "cannot be read, and every problem the policy has, is reported at its cell (Book.xlsx!Sheet!D12); "
                 "then nothing is written. Compare with 'pmo diff OLD NEW proposals.csv'.", IMPORT_EXAMPLES)
    ip.add_argument("workbook", type=Path, metavar="XLSX", help="the policy workbook")
    ip.add_argument("--out", metavar="DIR", type=Path, required=True, help="a new (or empty) folder for the policy files")
    ip.add_argument("--rules", metavar="DIR", type=Path, action="append", default=[],
                    help="extra rule-library folder (repeatable), to check the result with")
    ip.add_argument("--today", metavar="YYYY-MM-DD", type=_date,
                    help="the date today() means when the result is checked (default: the current date)")


EXPORT_EXAMPLES = """\
examples:
  pmo export-policies policies --out policies.xlsx            the reference set, for the board's review
  pmo export-policies my-policies --out review.xlsx --today 2027-01-04   the cover dated, the bytes reproducible
"""

IMPORT_EXAMPLES = """\
examples:
  pmo import-policies policies.xlsx --out new-policies        the edited workbook as a policy folder
  pmo diff policies new-policies examples/proposals.csv       what the edit changes, proposal by proposal
"""


def export_policies(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    import os

    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.workbook.export import export_policies as export
    if args.out.suffix.lower() != ".xlsx":
        print(f"pmo: error[usage]: --out {args.out}: a policy workbook is an .xlsx file", file=stderr)
        return EXIT_USAGE
    content = export(args.folder, rules=args.rules, today=args.today)
    partial = args.out.with_name(f".{args.out.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, args.out)
    print(f"pmo: wrote {args.out} ({len(content):,} bytes) from {args.folder or 'the reference policies'}", file=stderr)
    return EXIT_OK


def import_policies(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.workbook.reader import import_policies as read
    result = read(args.workbook, args.out, rules=args.rules, today=args.today)
    for warning in result.warnings:
        print(warning, file=stdout)
    print(f"pmo: wrote {len(result.files)} files into {args.out}/ (policy hash {result.policy_hash}):", file=stdout)
    for name in result.files:
        print(f"  {name}", file=stdout)
    return EXIT_OK


def _functions_help() -> str:
    """expr's epilog, built when it is shown: every function of the language."""
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.expr.functions import FUNCTIONS
    lines = ["functions:"] + [f"  {f.signature:<34} {f.doc}" for f in FUNCTIONS.values()]
    lines += ["", "missing values are null: comparing or computing with null is unknown, and a rule fires only",
              "when its condition is true. Test for a missing value with 'x == null'."]
    return "\n".join(lines)


def _error_limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of errors; write 0 or more (0: all)")
    return limit


def validate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    import dataclasses  # lazy: not for --help (tests/test_startup.py), as engine.errors below

    from engine.errors import LIMIT_REACHED
    if args.folder and args.policies and args.folder != args.policies:
        print(f"pmo: error[usage]: two policy folders given ({args.folder} and --policies {args.policies}); give one",
              file=stderr)
        return EXIT_USAGE
    folder = args.folder or args.policies
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.authoring.check import check_policies
    checked = check_policies(folder, rules=args.rules, today=args.today, lint=True,  # compiles once
                             max_errors=args.max_errors, cache_proofs=True)
    diagnostics = checked.diagnostics
    if args.strict:  # a policy that loads but is probably wrong is refused, e.g. in CI
        diagnostics = [dataclasses.replace(d, severity="error") for d in diagnostics]
    errors = [d for d in diagnostics if d.severity == "error" and d.code != LIMIT_REACHED]
    if args.counterexamples is not None:
        # lazy: a command loads its stage when it runs (tests/test_startup.py)
        from engine.io.safe_text import replacing
        proposals = [c.proposal for r in checked.proofs for c in r.counterexamples]
        with replacing(args.counterexamples) as f:
            f.write(json.dumps(proposals, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {plural(len(proposals), 'counterexample proposal')} to {args.counterexamples}", file=stderr)
    if args.format == "sarif":
        # lazy: a command loads its stage when it runs (tests/test_startup.py)
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
        failed = sum(1 for r in checked.proofs if r.status == "fails")
        why = "the policy set cannot be used" if checked.policy is None else \
            f"the policy set loads, but {plural(failed, 'assurance')} fail{'s' if failed == 1 else ''}" \
            if failed and not args.strict else "--strict counts warnings as errors"
        print(f"{len(errors) + checked.not_shown} error(s); {why}", file=stderr)
        return EXIT_USAGE
    if args.format == "text" and checked.policy is not None:
        policy, where = checked.policy, folder or "reference policies"
        warnings = f", {plural(len(diagnostics), 'warning')}" if diagnostics else ""
        health = f", {plural(len(policy.health.rules), 'health rule')}" if policy.health is not None else ""
        health += f", {plural(len(policy.kpis.kpis), 'KPI')}" if policy.kpis is not None else ""
        proved = sum(1 for r in checked.proofs if r.status == "holds")
        health += f", {proved} of {plural(len(policy.assurances), 'assurance')} proved" if policy.assurances else ""
        print(f"{where}: OK, {len(policy.files)} files, {len(policy.rules)} rules{health}, policy hash "
              f"{policy.policy_hash}{warnings}", file=stdout)
        for line in _weight_lines(policy):
            print(line, file=stdout)
    return EXIT_OK


def _weight_lines(policy: CompiledPolicy) -> list[str]:
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
            # lazy: a command loads its stage when it runs (tests/test_startup.py)
            from engine.policy.source import MAX_BYTES
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
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.authoring.calculator import calculate
    from engine.errors import PmoError
    values = {}
    for item in args.values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            print(f"pmo: error[usage]: --set needs FIELD=VALUE, got '{item}'", file=stderr)
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
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.policy.schema import policy_schema
    text = json.dumps(policy_schema(), indent=2) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"JSON Schema written to {args.out}", file=stderr)
    else:
        stdout.write(text)
    return EXIT_OK
