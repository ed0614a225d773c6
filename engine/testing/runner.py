"""``pmo test``: run a policy author's Gherkin scenarios on the generic steps and say what failed, in words.

The author writes no Python. The runner checks every step against the generic steps first (a step that
reads like none of them is a usage error naming the closest ones), then writes what pytest-bdd needs into
a temporary folder (a test module holding the steps of :mod:`engine.testing.steps` and calling
``scenarios(...)`` on the feature files) and runs pytest on it in this process. A small plugin collects each
scenario's outcome from pytest-bdd's hooks: the failing step and what it expected, not a traceback.

    features = find_features([Path("features")])      # raises PmoError: no feature files
    check_steps(features)                              # raises PmoError: unknown steps, Gherkin syntax
    outcomes = run_scenarios(features, Defaults(policies=Path("policies")))
"""
from __future__ import annotations

import difflib
import re
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import pytest
import pytest_bdd.feature
from pytest_bdd.exceptions import GherkinParseError, StepDefinitionNotFoundError
from pytest_bdd.parser import Feature, FeatureParser, Scenario, ScenarioTemplate, Step

from engine.api import Engine
from engine.errors import Diagnostic, Location, PmoError, did_you_mean, display_path
from engine.testing.steps import DEFAULTS, KNOWN_STEPS, OBSERVER, Defaults, KnownStep, StepFailed

TEST_MODULE = """\
# Written by pmo test: the generic steps, and every scenario of these feature files as a test.
from pytest_bdd import scenarios

from engine.testing.steps import conftest_fixtures

globals().update(conftest_fixtures())
scenarios(*{paths!r})
"""


@dataclass
class Outcome:
    """One scenario (one example row of an outline) on one back end."""

    feature: str  # the feature file, as the user names it
    line: int  # the scenario's line; for an outline, the example row's
    scenario: str
    backend: str
    passed: bool
    example: dict[str, str] = field(default_factory=dict)
    step: str | None = None  # the failing step, as written: 'Then it is rejected by rule "x"'
    step_line: int | None = None
    expected: str | None = None
    actual: str | None = None
    error: str | None = None  # when the step did not fail by a mismatch (e.g. a broken policy folder)

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))




# ---------------------------------------------------------------------------- before running

def find_features(paths: Sequence[Path]) -> list[Path]:
    """The .feature files named or found (recursively) in the folders given. Raises PmoError if none."""
    found: list[Path] = []
    problems: list[Diagnostic] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob("*.feature"))
        elif path.is_file() and path.suffix == ".feature":
            found.append(path)
        elif path.exists():
            problems.append(Diagnostic("not_a_feature", "not a .feature file", Location(str(path)),
                                       "give .feature files or folders that hold them"))
        else:
            near = [c.name for c in path.parent.iterdir() if c.is_dir() or c.suffix == ".feature"] \
                if path.parent.is_dir() else []
            problems.append(Diagnostic("no_such_file", "no such file or folder", Location(str(path)),
                                       did_you_mean(path.name, near) or "give .feature files or folders that hold them"))
    if problems:
        raise PmoError(problems)
    if not found:
        raise PmoError([Diagnostic("no_features", f"no .feature files in {', '.join(map(str, paths))}",
                                   hint="write scenarios in features/*.feature; 'pmo test --steps' lists the steps")])
    return list(dict.fromkeys(p.resolve() for p in found))


def parse_feature(path: Path) -> Feature:
    """Parse a feature file afresh (pytest-bdd caches parsed features by path; an edited file must be re-read)."""
    pytest_bdd.feature.features.pop(str(path), None)
    try:
        return FeatureParser(str(path.parent), path.name).parse()
    except GherkinParseError as exc:
        raise PmoError(_parse_errors(exc, display_path(path))) from None


_PARSER_ERROR = re.compile(r"^\((\d+):(\d+)\): (.+)$", re.M)


def _parse_errors(exc: GherkinParseError, shown: str) -> list[Diagnostic]:
    """Gherkin's errors, one diagnostic each at its line and column: pytest-bdd wraps them as 'Unknown parsing error:
    Parser errors:' and a line '(5:7): message' per error."""
    hint = "see https://cucumber.io/docs/gherkin/reference/"
    found = [Diagnostic("bad_feature", message.strip(), Location(shown, int(line), int(column)), hint)
             for line, column, message in _PARSER_ERROR.findall(exc.message)]
    if found:
        return found
    message = exc.message.removeprefix("Unknown parsing error: ").strip()
    return [Diagnostic("bad_feature", " ".join(message.split()), Location(shown, exc.line), hint)]


def check_steps(features: Iterable[Path]) -> int:
    """Check that every step of every scenario (each example row of an outline) reads like a generic step.
    Returns the number of scenarios; raises PmoError naming each unknown step and the closest known ones."""
    problems: dict[tuple[str, int], Diagnostic] = {}
    count = 0
    for path in features:
        keywords = _keyword_problems(path)
        if keywords:  # the parser would read a misspelt keyword as description text, and lose the scenario
            problems.update(keywords)
            continue
        feature = parse_feature(path)
        if not feature.scenarios:
            where = (display_path(path), 1)
            problems[where] = Diagnostic("no_scenarios", "this feature file has no scenarios", Location(*where),
                                         "start each one with 'Scenario:' or 'Scenario Outline:'")
        for template in feature.scenarios.values():
            contexts = [c for examples in template.examples for c in examples.as_contexts()] or [{}]
            count += len(contexts)
            problems.update(_placeholder_problems(path, template, contexts))
            if not any(step.type == "then" for step in template.steps):
                # A scenario that checks nothing passes whatever the policy does: false confidence.
                where = (display_path(path), template.line_number)
                problems[where] = Diagnostic("no_then", f"scenario '{template.name}' has no Then step",
                                             Location(*where), "say what must come out, e.g. 'Then it is "
                                             "rejected by rule \"ID\"' ('pmo test --steps' lists them)")
            for context in contexts:
                for step in template.render(context).steps:
                    if not any(_matches(known, step.type, step.name) for known in KNOWN_STEPS):
                        where = (display_path(path), step.line_number)
                        problems.setdefault(where, _unknown_step(where, step.keyword, step.type, step.name))
    if problems:
        raise PmoError(list(problems.values()))
    return count


PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
KEYWORDS = ("Feature", "Background", "Scenario", "Scenario Outline", "Scenario Template", "Example", "Examples",
            "Scenarios", "Rule")
_KEYWORD_LIKE = re.compile(r"^\s*([A-Za-z]+(?: [A-Za-z]+)?)\s*:")
_STEP_WORDS = ("given", "when", "then", "and", "but")


def _keyword_problems(path: Path) -> dict[tuple[str, int], Diagnostic]:
    """Lines such as 'Scenaro:' that read like a misspelt Gherkin keyword (outside doc strings and tables)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}  # parse_feature says why
    out = {}
    in_docstring = False
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith(('"""', "```")):
            in_docstring = not in_docstring
            continue
        found = _KEYWORD_LIKE.match(line)
        if in_docstring or not found or text.startswith(("|", "#", "@")):
            continue
        word = found[1]
        if word in KEYWORDS or word.split()[0].lower() in _STEP_WORDS:
            continue
        # 'Rule' is left out of the suggestions: "Rules: ..." is a plausible line of a description
        close = get_close_matches(word, [k for k in KEYWORDS if k != "Rule"], n=1, cutoff=0.75)
        if close:
            where = (display_path(path), number)
            out[where] = Diagnostic("unknown_keyword", f"'{word}:' is not a Gherkin keyword; did you mean "
                                    f"'{close[0]}'?", Location(*where))
    return out


_POLICIES_STEP = re.compile(r'^the policies in "(?P<folder>[^"]*)"$')


def check_policy_folders(features: Iterable[Path], defaults: Defaults) -> None:
    """Every folder a 'Given the policies in' names must be there and load: checked once before any scenario runs,
    so a typo or a run from another folder is one usage error, not the same failure in every scenario."""
    uses: dict[str, list[tuple[str, int]]] = {}  # folder as written -> where each scenario names it
    for path in features:
        for template in parse_feature(path).scenarios.values():
            contexts = [c for examples in template.examples for c in examples.as_contexts()] or [{}]
            for context in contexts:
                for step in template.render(context).steps:
                    found = _POLICIES_STEP.match(step.name) if step.type == "given" else None
                    if found:
                        uses.setdefault(found["folder"], []).append((display_path(path), step.line_number))
    base = defaults.base or Path.cwd()
    problems: list[Diagnostic] = []
    for folder, where in uses.items():
        root = Path(folder) if Path(folder).is_absolute() else base / folder
        used = f"used by {len(where)} scenario{'s' if len(where) != 1 else ''}"
        if not root.is_dir():
            problems.append(Diagnostic("no_policies", f"no policy folder '{folder}' ({used})", Location(*where[0]),
                                       _where_it_is(folder, root, where[0][0])))
            continue
        try:
            Engine.load(root, rules=defaults.rules, today=defaults.today, backend="reference")
        except PmoError as exc:
            problems += [d for d in exc.diagnostics if d not in problems]
    if problems:
        raise PmoError(problems)


def _where_it_is(folder: str, root: Path, feature: str) -> str:
    """A hint for a policy folder that is not there: run from the folder above the features that holds it, or a
    folder with a like name."""
    for parent in Path(feature).resolve().parents:
        if (parent / folder).is_dir():
            return f"relative paths are read from the current folder: run pmo test in {display_path(parent)}"
    siblings = [p.name for p in root.parent.iterdir() if p.is_dir()] if root.parent.is_dir() else []
    return did_you_mean(root.name, siblings) or "give the folder relative to where pmo test runs"


def _placeholder_problems(path: Path, template: ScenarioTemplate, contexts: list[dict[str, str]]
                          ) -> dict[tuple[str, int], Diagnostic]:
    """A Scenario Outline's <name> that no Examples column fills would run with the text '<name>' itself."""
    if "outline" not in getattr(template, "keyword", "").lower():
        return {}
    columns = {name for context in contexts for name in context}
    out = {}
    used: set[str] = set()
    for step in template.steps:
        texts = [step.name] + [c.value for r in (step.datatable.rows if step.datatable else []) for c in r.cells]
        for name in dict.fromkeys(m for text in texts for m in PLACEHOLDER.findall(text)):
            used.add(name)
            if name not in columns:
                where = (display_path(path), step.line_number)
                hint = did_you_mean(name, columns) or (f"the Examples columns are {', '.join(sorted(columns))}"
                                                       if columns else "add an Examples table below the outline")
                out[where] = Diagnostic("unknown_placeholder", f"<{name}> is not a column of the outline's Examples",
                                        Location(*where), hint)
    unused = sorted(columns - used)
    if unused:  # a column no step reads: its scenarios all run on the steps' own values, and pass for nothing
        where = (display_path(path), getattr(template, "line_number", 0))
        out.setdefault(where, Diagnostic(
            "unused_column", f"the outline's Examples column{'s' if len(unused) > 1 else ''} "
            f"{', '.join(unused)} {'are' if len(unused) > 1 else 'is'} read by no step",
            Location(*where), f"write <{unused[0]}> where the value belongs (in a step's text or table), or remove "
                              "the column"))
    return out


def _matches(known: KnownStep, kind: str, text: str) -> bool:
    return known.kind == kind and known.parser.is_matching(text)


def closest_steps(kind: str, text: str, n: int = 3) -> list[KnownStep]:
    """The generic steps that read most like ``text`` (steps of the same kind first)."""
    def likeness(known: KnownStep) -> tuple[float, bool]:
        return difflib.SequenceMatcher(None, text.lower(), known.text.lower()).ratio(), known.kind == kind
    return sorted(KNOWN_STEPS, key=lambda k: (likeness(k)[1], likeness(k)[0]), reverse=True)[:n]


def _unknown_step(where: tuple[str, int], keyword: str, kind: str, text: str) -> Diagnostic:
    closest = "; ".join(str(k) for k in closest_steps(kind, text))
    return Diagnostic("unknown_step", f"no generic step reads '{keyword} {text}'", Location(*where),
                      f"closest known steps: {closest} ('pmo test --steps' lists them all)")


# ---------------------------------------------------------------------------- running

def run_scenarios(features: Sequence[Path], defaults: Defaults, backends: Sequence[str] = ("rete",),
                  observer: Any = None) -> list[Outcome]:
    """Run every scenario of the feature files on each back end; the outcomes in file and line order.

    ``observer`` (an :class:`engine.authoring.coverage.CoverageByPolicy`) is given every decision the scenarios make,
    with the engine that made it."""
    collector = _Collector(defaults, list(backends), observer)
    with tempfile.TemporaryDirectory(prefix="pmo-test-") as tmp:
        folder = Path(tmp)
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # the author's pytest settings stay out
        # A module name of its own: an earlier run in this process left its module in sys.modules under its name.
        module = folder / f"test_pmo_{uuid.uuid4().hex}.py"
        module.write_text(TEST_MODULE.format(paths=[str(p) for p in features]), encoding="utf-8")
        for path in features:
            pytest_bdd.feature.features.pop(str(path), None)
        try:
            code = pytest.main([str(module), "-c", str(folder / "pytest.ini"), "--rootdir", str(folder),
                                "--confcutdir", str(folder), "--import-mode=importlib", "-p", "no:cacheprovider",
                                "-p", "no:randomly", "-p", "no:terminal", "-p", "no:warnings", "--capture=no"],
                               plugins=[collector])
        finally:
            for name in [n for n in sys.modules if module.stem in n]:
                del sys.modules[name]
    if collector.broken:
        raise PmoError([Diagnostic("feature_not_run", message) for message in collector.broken])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise RuntimeError(f"pytest stopped with exit code {int(code)}")
    return sorted(collector.outcomes, key=lambda o: (o.feature, o.line, backends.index(o.backend)))


class _Collector:
    """A pytest plugin: hands the settings to the steps, and turns pytest-bdd's hooks into Outcomes."""

    def __init__(self, defaults: Defaults, backends: list[str], observer: Any):
        self.defaults, self.backends, self.observer = defaults, backends, observer
        self.outcomes: list[Outcome] = []
        self.broken: list[str] = []  # collection errors
        self._scenarios: dict[str, tuple[Scenario, dict[str, str], str]] = {}  # nodeid -> (scenario, example, back end)
        self._failed: dict[str, tuple[Step, BaseException]] = {}  # nodeid -> (step, exception)

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[DEFAULTS] = self.defaults
        if self.observer is not None:
            config.stash[OBSERVER] = self.observer

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "backend" in metafunc.fixturenames:
            metafunc.parametrize("backend", self.backends, indirect=True)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.broken.append(report.longreprtext.strip().splitlines()[-1])

    def pytest_bdd_before_scenario(self, request: pytest.FixtureRequest, feature: Feature, scenario: Scenario) -> None:
        params = getattr(request.node, "callspec", None)
        example = dict(params.params.get("_pytest_bdd_example", {})) if params else {}
        self._scenarios[request.node.nodeid] = (scenario, example, request.getfixturevalue("backend"))

    def pytest_bdd_step_error(self, request: pytest.FixtureRequest, feature: Feature, scenario: Scenario, step: Step,
                              step_func: Callable[..., object], step_func_args: dict[str, object],
                              exception: Exception) -> None:
        self._failed[request.node.nodeid] = (step, exception)

    def pytest_bdd_step_func_lookup_error(self, request: pytest.FixtureRequest, feature: Feature, scenario: Scenario,
                                          step: Step, exception: Exception) -> None:
        self._failed[request.node.nodeid] = (step, exception)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not report.failed:
            return
        if report.nodeid not in self._scenarios:  # failed before the scenario began (a fixture)
            self.outcomes.append(Outcome(report.nodeid, 0, report.nodeid.split("::")[-1], "", False,
                                         error=report.longreprtext.strip().splitlines()[-1]))
            return
        scenario, example, backend = self._scenarios[report.nodeid]
        path = Path(scenario.feature.filename)
        line = _example_line(path, scenario.line_number, example) if example else scenario.line_number
        outcome = Outcome(display_path(path), line, scenario.name, backend, report.passed, example)
        if report.failed and report.nodeid in self._failed:
            step, exception = self._failed[report.nodeid]
            outcome.step, outcome.step_line = f"{step.keyword} {step.name}", step.line_number
            outcome.expected, outcome.actual, outcome.error = _explain(exception)
        elif report.failed:
            outcome.error = report.longreprtext.strip().splitlines()[-1]
        self.outcomes.append(outcome)


def _explain(exc: BaseException) -> tuple[str | None, str | None, str | None]:
    """(expected, actual, error) in words."""
    if isinstance(exc, StepFailed):
        return exc.expected, exc.actual, None
    if isinstance(exc, PmoError):
        shown = [str(d) for d in exc.diagnostics[:2]]
        more = len(exc.diagnostics) - len(shown)
        return None, None, "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")
    if isinstance(exc, StepDefinitionNotFoundError):
        return None, None, "no generic step reads like this ('pmo test --steps' lists them)"
    text = str(exc).strip().splitlines()
    return None, None, f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _example_line(path: Path, start: int, example: dict[str, str]) -> int:
    """The line of an outline's example row (pytest-bdd keeps only the scenario's)."""
    wanted = list(example.values())
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return start
    for number in range(start, len(lines)):
        text = lines[number].strip()
        if text.startswith("|") and [c.strip() for c in text.strip("|").split("|")] == wanted:
            return number + 1
    return start


def known_steps() -> list[str]:
    return [str(k) for k in KNOWN_STEPS]


def failed(outcomes: Iterable[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if not o.passed]

