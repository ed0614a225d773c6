"""Subcommands for policy authors: test (Gherkin scenarios), coverage (which rules the tests exercise), diff
(what a policy change does to a set of proposals) and explain (why one proposal got its decision)."""
from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from engine.cli.common import EXIT_BAD_ROWS, EXIT_OK, EXIT_USAGE, dump_json, missing_files, note_example_policies, warn
from engine.cli.common import date_arg as _date
from engine.cli.options import Subparsers, backend_option, command, policy_options, sheet_option

if TYPE_CHECKING:  # annotations only: a command loads its stage when it runs (tests/test_startup.py)
    from engine.api import Engine
    from engine.authoring.coverage import Coverage, Hits
    from engine.authoring.diff import PolicyDiff
    from engine.io.rows import Row
    from engine.testing.runner import Outcome

TEST_EXAMPLES = """\
examples:
  pmo test                                   every features/**/*.feature in this folder
  pmo test features/intake.feature -v        one file; list every scenario, not only failures
  pmo test --policies my-policies/           scenarios without 'Given the policies in' use my-policies/
  pmo test --coverage --min 90               also list the rules no scenario fired; exit 1 below 90%
  pmo test --format junit > report.xml       JUnit XML for CI
  pmo test --steps                           the steps a scenario can use

Coverage is reported for each policy folder the scenarios ran under.
Scenarios run on the policies of 'Given the policies in "DIR"', else --policies, else the reference set,
with today() as 'Given today is ...' says, else --today, else the current date. Relative paths in steps
are read from the current folder.

exit codes: 0 every scenario passed, 1 some failed (or coverage below --min),
            2 usage error: no feature files, a misspelt keyword, a step no generic step reads like,
              a scenario without a Then step, a policy folder that is missing or broken
"""

COVERAGE_EXAMPLES = """\
examples:
  pmo coverage tests/proposals.csv                          which rules these proposals never fire
  pmo coverage cases/*.yaml --policies my-policies/ --min 80    exit 1 below 80% covered
  pmo coverage cases.csv examples/projects/*.yaml --only gate   gate criteria, from project records

A project record (a YAML or JSON mapping with a 'stage') is reviewed at every gate for its stage;
any other file is read as proposals. A band counts when a proposal that passes intake falls in it.
"""

DIFF_EXAMPLES = """\
examples:
  pmo diff policies/ my-branch/policies/ examples/proposals.csv        what the change does, as a table
  pmo diff old/ new/ cases.csv --format json > diff.json               the same, for machines

The table is Markdown: paste it into the pull request that changes the policies.
"""


EXPLAIN_EXAMPLES = """\
examples:
  pmo explain examples/proposals.csv --id PRJ-1006             every rule on it, and what would change it
  pmo explain intake.xlsx --id PRJ-0042 --policies my-policies/ --format json

For each intake rule, in policy order: where it is written (file:line), its condition with the
proposal's values, each part true, false or unknown (a comparison with a missing value is unknown,
and a rule fires only when its condition is true), and whether it fired. Then the derived values,
the score breakdown (a min-max criterion needs the other proposals of a round: it is left out, and
pmo rank gives the full score), and what would change the decision: the smallest changes found to
number, date, yes/no and choice fields or to missing values, each checked by deciding the changed
proposal again.

exit codes: 0 explained, 1 the proposal is an error row (its errors are shown),
            2 usage error: no such file, no proposal with that id, a broken policy folder
"""


def register(sub: Subparsers) -> None:
    """test, coverage, diff and explain."""
    ts = command(sub, "test", test, "run Gherkin scenarios (.feature files) on the policies",
                 "Run plain-language scenarios written on the generic steps (no Python needed) and report each "
                 "failing scenario: file:line, the step that failed, what it expected and what happened.",
                 TEST_EXAMPLES)
    policy_options(ts)
    ts.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                    help=".feature files or folders (default: features/)")
    ts.add_argument("--backend", choices=("rete", "reference", "both"), default="rete",
                    help="rule back end the scenarios run on (default: rete, as pmo evaluate)")
    ts.add_argument("--coverage", action="store_true", help="also report the rules, bands, scoring table rows and gate criteria that "
                    "no scenario exercised, for each policy folder the scenarios ran under")
    ts.add_argument("--min", type=float, metavar="PCT", help="with --coverage: exit 1 when less is covered")
    ts.add_argument("--only", action="append", choices=("rule", "band", "table", "gate"), metavar="KIND",
                    help="with --coverage: count only these: rule, band, table or gate (repeatable)")
    ts.add_argument("--steps", action="store_true", help="list the generic steps and exit")
    ts.add_argument("-v", "--verbose", action="store_true", help="list every scenario, passed or not")
    ts.add_argument("--format", choices=("text", "json", "junit"), default="text",
                    help="text (a summary for people, default), json (every scenario's outcome) or junit (JUnit "
                    "XML for CI: a testcase per scenario and back end)")

    cv = command(sub, "coverage", coverage, "which rules, bands, table rows and gate criteria a test set never exercises",
                 "Decide the proposals (and review the project records) and list, as file:line, the intake rules "
                 "that never fired, the scoring bands no scored proposal fell in, the rows of scoring tables that "
                 "scored no proposal and the gate criteria never met, "
                 "with the share covered.", COVERAGE_EXAMPLES)
    policy_options(cv)
    cv.add_argument("files", nargs="+", type=Path, metavar="FILE", help="proposal files (.csv .tsv .xlsx .json "
                    ".jsonl .yaml) and project records (.yaml .json)")
    cv.add_argument("--min", type=float, metavar="PCT", help="exit 1 when less than PCT percent is covered")
    cv.add_argument("--only", action="append", choices=("rule", "band", "table", "gate"), metavar="KIND",
                    help="count only these: rule, band, table or gate (repeatable)")
    cv.add_argument("--format", choices=("table", "json"), default="table",
                    help="table (default) or json (every target with its hits)")

    df = command(sub, "diff", diff, "which decisions, findings and ranks a policy change moves",
                 "Decide and rank the same proposals under two policy folders and list, per proposal, the decision, "
                 "findings and rank that change, with counts.", DIFF_EXAMPLES)
    df.add_argument("old", type=Path, metavar="OLD_POLICIES")
    df.add_argument("new", type=Path, metavar="NEW_POLICIES")
    df.add_argument("files", nargs="+", type=Path, metavar="PROPOSALS", help="proposal files")
    df.add_argument("--rules", metavar="DIR", type=Path, action="append", default=[],
                    help="extra rule-library folder (repeatable), for both versions")
    df.add_argument("--today", metavar="YYYY-MM-DD", type=_date,
                    help="the date today() means in policies (default: the current date)")
    df.add_argument("--format", choices=("table", "json"), default="table",
                    help="table (Markdown, for a pull request; default) or json (with the scores)")
    df.add_argument("--columns", metavar="MAP", type=Path, help="input profile of the proposal files (column titles, "
                    "locale, currency, dates, value maps), as for pmo evaluate; both versions read the rows with it")
    sheet_option(df)

    it = command(sub, "init", init, "start your own policy set: a commented starter set that validates and passes "
                 "its tests", "Write a starter policy set for your organisation into a new folder: strategy, intake, "
                 "scoring, gates and portfolio policies, an input profile for a spreadsheet export, sample proposals "
                 "and project records, and the scenarios that test every rule. It passes `pmo validate --strict` "
                 "and `pmo test` as written; edit it from there.", INIT_EXAMPLES)
    it.add_argument("folder", type=Path, metavar="DIR", help="a new (or empty) folder; nothing is overwritten")

    ex = command(sub, "explain", explain, "why one proposal got its decision, and what would change it",
                 "Explain the decision on one proposal: every intake rule with its condition evaluated on the "
                 "proposal's values, the derived values, the score breakdown and verified counterfactuals.",
                 EXPLAIN_EXAMPLES)
    policy_options(ex)
    ex.add_argument("file", type=Path, metavar="FILE", help="proposal file (.csv .tsv .xlsx .json .jsonl .yaml)")
    ex.add_argument("--id", required=True, metavar="ID", help="the proposal to explain (the first row with this id, "
                    "unless --row says which)")
    ex.add_argument("--row", type=int, metavar="N", help="when the id is on more than one row: the row to explain "
                    "(its line in a CSV file, as pmo evaluate's 'row' and the warning name it)")
    sheet_option(ex)
    ex.add_argument("--columns", metavar="MAP", type=Path, help="YAML file mapping the input's column titles to "
                    "policy fields, or an input profile (locale, currency, dates, value maps), as for pmo evaluate")
    backend_option(ex, " that decides")
    ex.add_argument("--format", choices=("text", "json"), default="text", help="text (for people, default) or json")
    ex.add_argument("--assessments", type=Path, action="append", default=[], metavar="FILE",
                    help="raters' scores (as for pmo rank): list each rater's score of the panel criteria")


INIT_EXAMPLES = """\
examples:
  pmo init my-pmo                   write the starter set into my-pmo/
  cd my-pmo && pmo test features --policies policies
"""


def init(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.authoring.scaffold import create
    written = create(args.folder)
    print(f"pmo: wrote {len(written)} files into {args.folder}/:", file=stdout)
    for path in written:
        print(f"  {path.relative_to(args.folder)}", file=stdout)
    print(f"""
next:
  cd {args.folder}
  pmo validate policies --strict
  pmo test features --policies policies --coverage
  pmo evaluate proposals.csv --policies policies --columns profile.yaml""", file=stdout)
    return EXIT_OK


# ---------------------------------------------------------------------------- pmo test

def test(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.api import Engine
    from engine.authoring.coverage import CoverageByPolicy
    from engine.errors import display_path
    from engine.testing import runner
    from engine.testing.steps import Defaults
    if args.steps:
        print("\n".join(runner.known_steps()), file=stdout)
        return EXIT_OK
    if (args.min is not None or args.only) and not args.coverage:
        print("pmo: error[usage]: --min and --only go with --coverage", file=stderr)
        return EXIT_USAGE
    if not args.paths and not Path("features").is_dir():
        print("pmo: error[usage]: no features/ folder here; give .feature files or folders (pmo test --help)", file=stderr)
        return EXIT_USAGE
    features = runner.find_features(args.paths or [Path("features")])
    runner.check_steps(features)
    defaults = Defaults(policies=args.policies, rules=tuple(args.rules), today=args.today)
    runner.check_policy_folders(features, defaults)
    # Coverage is of the policies the scenarios ran under ('Given the policies in', else --policies, else the
    # built-in set), one report per policy version, as decisions are.
    seen = CoverageByPolicy(args.only) if args.coverage else None
    if args.policies is not None:  # a broken policy folder is a usage error, before any scenario
        engine = Engine.load(args.policies, rules=args.rules, today=args.today)
        warn(engine, stderr)
    backends = ("rete", "reference") if args.backend == "both" else (args.backend,)
    outcomes = runner.run_scenarios(features, defaults, backends, seen)
    reports = seen.reports() if seen is not None else []
    if args.format == "json":
        data = {"features": [display_path(p) for p in features], "backends": list(backends),
                "passed": sum(o.passed for o in outcomes), "failed": len(runner.failed(outcomes)),
                "scenarios": [o.to_json() for o in outcomes]}
        if seen is not None:
            data["coverage"] = [report.to_json() for report in reports]
        dump_json(data, stdout)
    elif args.format == "junit":
        stdout.write(_junit(outcomes))
    else:
        _print_outcomes(outcomes, features, backends, args.verbose, stdout)
        if seen is not None and not reports:
            print("\ncoverage: no scenario decided a proposal or reviewed a project", file=stdout)
        for report in reports:
            print(file=stdout)
            _print_coverage(report, stdout)
    below = max((_below_min(report, args.min, stderr) for report in reports), default=EXIT_OK)
    return EXIT_BAD_ROWS if runner.failed(outcomes) else below


def _print_outcomes(outcomes: Sequence[Outcome], features: Sequence[Path], backends: Sequence[str], verbose: bool,
                    out: IO[str]) -> None:
    """Failures in full (once per scenario, naming the back ends it failed on), then one summary line."""
    scenarios: dict[tuple[str, int, str], list[Outcome]] = {}  # (file, line, title) -> its outcomes, one per back end
    for outcome in outcomes:
        scenarios.setdefault((outcome.feature, outcome.line, _title(outcome)), []).append(outcome)
    blocks = []
    for (feature, line, title), runs in scenarios.items():
        bad = [o for o in runs if not o.passed]
        if verbose or bad:
            on = f" [{', '.join(o.backend for o in bad)}]" if bad and len(backends) > 1 else ""
            head = f"{'FAIL' if bad else 'ok  '} {feature}:{line}  {title}{on}"
            blocks.append([head] + _failure(bad[0] if bad else None))
    for block in blocks:
        print("\n".join(block), file=out)
    failed = sum(1 for runs in scenarios.values() if not all(o.passed for o in runs))
    count = len(scenarios)
    print(f"{'' if not blocks else chr(10)}{len(features)} feature file{'s' if len(features) != 1 else ''}, "
          f"{count} scenario{'s' if count != 1 else ''} on {' and '.join(backends)}: {count - failed} passed, "
          f"{failed} failed", file=out)


def _junit(outcomes: Iterable[Outcome]) -> str:
    """JUnit XML, the report format CI servers read: a testsuite per feature file, a testcase per scenario (each
    example row of an outline) and back end, a failure with what was expected and what happened."""
    import xml.etree.ElementTree as ET
    root = ET.Element("testsuites", name="pmo test")
    suites: dict[str, ET.Element] = {}
    for outcome in outcomes:
        suite = suites.get(outcome.feature)
        if suite is None:
            suite = suites[outcome.feature] = ET.SubElement(root, "testsuite", name=outcome.feature)
        case = ET.SubElement(suite, "testcase", classname=outcome.feature, name=f"{_title(outcome)} [{outcome.backend}]",
                             file=outcome.feature, line=str(outcome.line))
        if not outcome.passed:
            message = f"expected {outcome.expected}" if outcome.expected is not None else (outcome.error or "failed")
            failure = ET.SubElement(case, "failure", message=message)
            failure.text = "\n".join(line.strip() if i == 0 else line[5:] for i, line in enumerate(_failure(outcome)))
    for suite in suites.values():
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        suite.set("errors", "0")
    total = [c for s in suites.values() for c in s.findall("testcase")]
    root.set("tests", str(len(total)))
    root.set("failures", str(sum(c.find("failure") is not None for c in total)))
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _failure(outcome: Outcome | None) -> list[str]:
    """The failing step, and what it expected against what happened (or the error), indented under the title."""
    if outcome is None:
        return []
    lines = [f"     line {outcome.step_line}: {outcome.step}"] if outcome.step else []
    if outcome.expected is not None:
        lines += [f"     expected: {outcome.expected}", f"     got:      {outcome.actual}"]
    if outcome.error:
        lines.append(f"     error: {outcome.error}")
    return lines


def _title(outcome: Outcome) -> str:
    if not outcome.example:
        return outcome.scenario
    return f"{outcome.scenario} ({', '.join(f'{k}={v}' for k, v in outcome.example.items())})"


# ---------------------------------------------------------------------------- pmo coverage

def coverage(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.api import Engine
    from engine.authoring.coverage import Hits, coverage_targets
    from engine.io.readers import read_proposals
    if missing_files(args.files, stderr):
        return EXIT_USAGE
    engine = Engine.load(args.policies, rules=args.rules, today=args.today)
    warn(engine, stderr)
    targets = coverage_targets(engine)
    hits = Hits(targets.only(args.only) if args.only else targets)
    projects = {path: record for path in args.files if (record := _project_record(path)) is not None}
    proposal_files = [path for path in args.files if path not in projects]
    rows = [read_proposals(path) for path in proposal_files]  # open every input first: unreadable means exit 2
    for file_rows in rows:
        hits.proposals(engine, file_rows)
    for path, record in projects.items():
        _review_at_every_gate(engine, path, record, hits, stderr)
    report = hits.report()
    if args.format == "json":
        dump_json(report.to_json(), stdout)
    else:
        _print_coverage(report, stdout)
    return _below_min(report, args.min, stderr)


def _project_record(path: Path) -> dict[str, Any] | None:
    """The project record in a file, or None when the file holds proposals."""
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.errors import InputError
    from engine.gates.review import read_project
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        return None
    try:
        data = read_project(path)
    except InputError:
        return None  # not a mapping: a list of proposals
    return data if "stage" in data and "proposals" not in data else None


def _review_at_every_gate(engine: Engine, path: Path, record: dict[str, Any], hits: Hits, stderr: IO[str]) -> None:
    gates = engine.policy.gates
    chosen = [g.id for g in gates.gates.values() if g.from_stage == record.get("stage")] if gates else []
    if not chosen:
        print(f"pmo: note: {path} is in stage {record.get('stage')!r}, which no gate reviews", file=stderr)
    for gate in chosen:
        hits.gate(engine.review_gate(path, gate))


def _print_coverage(report: Coverage, out: IO[str]) -> None:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.authoring.coverage import KIND_NAMES, NEVER
    covered = len(report.targets) - len(report.uncovered)
    folder = f" ({report.policies})" if report.policies else ""
    print(f"coverage: {covered} of {len(report.targets)} covered ({report.percent:.1f}%), from "
          f"{report.decisions} decisions under policy {report.policy_hash}{folder}", file=out)
    for kind, (done, total) in report.by_kind().items():
        print(f"  {KIND_NAMES[kind]:<14} {done:>4} of {total}", file=out)
    if report.foreign:
        print(f"  ({report.foreign} decisions under other policy versions were not counted)", file=out)
    for kind, title in NEVER.items():
        missed = [t for t in report.uncovered if t.kind == kind]
        if missed:
            print(f"\n{title} ({KIND_NAMES[kind]}):", file=out)
            width = max(len(t.where) for t in missed)
            for target in missed:
                print(f"  {target.where:<{width}}  {target.label}", file=out)


def _below_min(report: Coverage, minimum: float | None, stderr: IO[str]) -> int:
    if minimum is not None and report.percent < minimum:
        of = f" of {report.policies}" if report.policies else ""
        print(f"pmo: coverage{of} {report.percent:.1f}% is below --min {minimum:g}%", file=stderr)
        return EXIT_BAD_ROWS
    return EXIT_OK


# ---------------------------------------------------------------------------- pmo diff

def diff(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from dataclasses import replace

    from engine.authoring.diff import diff_policies
    from engine.tasks.evaluate import IntakeRound
    if missing_files(args.files, stderr):
        return EXIT_USAGE
    # both versions read the rows with the same profile, as pmo evaluate reads them (IntakeRound)
    old_round = IntakeRound(args.files, sheet=args.sheet, columns=args.columns, workers=1, policies=args.old,
                            rules=args.rules, today=args.today)
    old, new = old_round.load(), replace(old_round, policies=args.new).load()
    result = diff_policies(old, new, old_round.rows(old))
    if args.format == "json":
        dump_json(result.to_json(), stdout)
    else:
        _print_diff(result, args.old, args.new, stdout)
    return EXIT_BAD_ROWS if result.errors else EXIT_OK


def _print_diff(result: PolicyDiff, old: Path, new: Path, out: IO[str]) -> None:
    """Markdown: reads as plain text in a terminal, renders as a table in a pull-request comment."""
    print(f"**Policy diff** `{old}` ({result.old_hash}) -> `{new}` ({result.new_hash}), "
          f"{result.proposals} proposals\n", file=out)
    print(result.summary(), file=out)
    if not result.changes:
        return
    print("\n| proposal | decision | rank | score | findings |", file=out)
    print("| --- | --- | --- | --- | --- |", file=out)
    for c in result.changes:
        decision = f"{c.old} -> **{c.new}**" if c.decision_changed else c.old
        rank = f"{_rank(c.old_rank)} -> {_rank(c.new_rank)}" if c.rank_moved else _rank(c.old_rank)
        score = f"{_score(c.old_score)} -> {_score(c.new_score)}" if c.score_changed else _score(c.old_score)
        findings = "; ".join([f"+ {r}" for r in c.added] + [f"- {r}" for r in c.removed] +
                             [f"~ {r}" for r in c.changed])
        print(f"| {_cell(c.id)} | {decision} | {rank} | {score} | {_cell(findings)} |", file=out)


def _rank(rank: int | None) -> str:
    return "-" if rank is None else str(rank)


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:.2f}" if round(score, 2) == score else repr(score)


def _cell(text: str) -> str:
    """Text for one Markdown table cell: a '|' or a line break in an id must not start a new cell or row."""
    return " ".join(text.replace("|", "\\|").split()) or " "


# ---------------------------------------------------------------------------- pmo explain



def explain(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.cli.intake import intake_round
    from engine.errors import did_you_mean
    from engine.io.readers import read_proposals, renamed
    if missing_files([args.file] + args.assessments, stderr):
        return EXIT_USAGE
    engine = intake_round(args).load()
    warn(engine, stderr)
    note_example_policies(args, stderr)
    rows: Iterator[Row] = read_proposals(args.file, args.sheet)
    if args.columns:
        rows = renamed(rows, engine.profile.columns)
    row, ids, also = _row_with_id(rows, args.id, engine, args.row)
    if args.row is not None and row is None and also:
        print(f"pmo: error[unknown_proposal]: id '{args.id}' is not on row {args.row} of {args.file}; it is on "
              f"row(s) {', '.join(map(str, also))}", file=stderr)
        return EXIT_USAGE
    if also and row is not None:  # an id given twice: say which row this is, and how to ask for the others
        print(f"pmo: warning: id '{args.id}' is also on row(s) {', '.join(map(str, also))} of {args.file}; this "
              f"explains row {row.row} (give --row N for another)", file=stderr)
    if row is None:
        hint = did_you_mean(args.id, ids) or (f"ids in the file: {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}"
                                              if ids else "the file has no ids")
        print(f"pmo: error[unknown_proposal]: no proposal with id '{args.id}' in {args.file}; {hint}", file=stderr)
        return EXIT_USAGE
    assessments = None
    if args.assessments:
        # lazy: a command loads its stage when it runs (tests/test_startup.py)
        from engine.scoring.panel import read_assessments
        assessments = read_assessments(args.assessments)
        for error in engine.check_assessments(assessments).errors:
            for line in error.lines():
                print(f"pmo: {line}", file=stderr)
    explanation = engine.explain(row, assessments=assessments)
    if args.format == "json":
        dump_json(explanation.to_json(), stdout)
    else:
        print(explanation.to_text(), file=stdout)
    return EXIT_BAD_ROWS if explanation.decision.decision == "error" else EXIT_OK


def _row_with_id(rows: Iterable[Row], wanted: str, engine: Engine,
                 number: int | None = None) -> tuple[Row | None, list[str], list[int | None]]:
    """The row whose id is ``wanted`` (its id column found as evaluation finds it, aliases too): the first one, or
    the one on row ``number``; the ids seen before it, for a did-you-mean; and the other rows with that id (the
    whole file is read, so a duplicate is never passed over in silence)."""
    from collections.abc import Mapping
    seen: list[str] = []
    found: Row | None = None
    also: list[int | None] = []
    for row in rows:
        text = engine.proposal_id(row.data) if isinstance(row.data, Mapping) else None
        if text is None:
            continue
        if text == wanted.strip():
            if found is None and (number is None or row.row == number):
                found = row
            else:
                also.append(row.row)
        elif found is None:
            seen.append(text)
    return found, seen, also
