"""pmo test: Gherkin scenarios on the generic steps, run through pytest-bdd in-process, reported in words."""
import io
import json
import re
import shutil

import pytest

from engine.cli import main
from tests.conftest import ROOT

FEATURES = ROOT / "features"

SOUND = """\
    Given today is 2026-12-01
    And a proposal
      | field     | value                      |
      | id        | PRJ-0101                   |
      | title     | Speech analytics           |
      | alignment | customer-experience:strong |
      | budget    | <budget>                   |
      | benefit   | 1300000                    |
    When it is evaluated
"""

BROKEN = """\
Feature: Deliberately broken
  Scenario: A passing one
""" + SOUND.replace("<budget>", "400000") + """\
    Then it is rejected by rule "sponsor-required"

  Scenario: A large proposal without a sponsor is accepted
""" + SOUND.replace("<budget>", "400000") + """\
    Then it is accepted

  Scenario Outline: The routes
""" + SOUND + """\
    Then rule "<rule>" does not fire

    Examples:
      | budget  | rule                  |
      | 200000  | route-portfolio-board |
      | 300000  | route-portfolio-board |
"""


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the shipped scenarios name example files relative to the repository


def count_scenarios(text: str) -> int:
    """Scenarios in a feature file, read from the text: one per Scenario, one per example row of an outline."""
    count, in_examples, header_seen = 0, False, False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Scenario:"):
            count, in_examples = count + 1, False
        elif line.startswith("Scenario Outline:"):
            in_examples = False
        elif line.startswith("Examples:"):
            in_examples, header_seen = True, False
        elif in_examples and line.startswith("|"):
            count += header_seen
            header_seen = True
    return count


def test_the_shipped_features_pass(at_root):
    files = sorted(FEATURES.glob("*.feature"))
    expected = sum(count_scenarios(f.read_text()) for f in files)
    code, out, err = run("test", "features/", "--today", "2026-12-01")
    assert code == 0, out + err
    assert out.strip() == f"{len(files)} feature files, {expected} scenarios on rete: {expected} passed, 0 failed"


def test_verbose_json_lists_every_scenario_on_both_back_ends(at_root):
    code, out, _ = run("test", "features/ranking.feature", "--today", "2026-12-01", "--backend", "both",
                       "--format", "json")
    data = json.loads(out)
    expected = count_scenarios((FEATURES / "ranking.feature").read_text())
    assert code == 0 and data["failed"] == 0 and data["passed"] == 2 * expected
    assert {(s["backend"], s["passed"]) for s in data["scenarios"]} == {("rete", True), ("reference", True)}


def test_a_broken_scenario_is_reported_in_words(tmp_path):
    feature = tmp_path / "broken.feature"
    feature.write_text(BROKEN)
    lines = BROKEN.splitlines()
    line_of = lambda text, after=0: next(i for i, t in enumerate(lines, 1) if i > after and text in t)  # noqa: E731
    code, out, err = run("test", str(tmp_path))
    assert code == 1, err
    assert (f"FAIL {feature}:{line_of('Scenario: A large proposal')}  A large proposal without a sponsor is accepted\n"
            f"     line {line_of('Then it is accepted')}: Then it is accepted\n"
            f"     expected: accept\n"
            f"     got:      reject (rules fired: sponsor-required, route-portfolio-board, risk-not-assessed, "
            f"dates-missing)") in out, out
    # the outline: the example row 300000 fails (route-portfolio-board fires above 250,000), 200000 passes
    row = line_of("| 300000")
    assert (f"FAIL {feature}:{row}  The routes (budget=300000, rule=route-portfolio-board)\n"
            f"     line {line_of('does not fire')}: Then rule \"route-portfolio-board\" does not fire\n"
            f"     expected: rule route-portfolio-board not to fire\n") in out, out
    assert "budget=200000" not in out
    assert out.rstrip().endswith("1 feature file, 4 scenarios on rete: 2 passed, 2 failed")
    assert "Traceback" not in out + err


def test_an_unknown_step_is_a_usage_error_naming_the_closest(tmp_path):
    text = BROKEN.replace("When it is evaluated", "When it is evaluatd", 1)
    (tmp_path / "typo.feature").write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "evaluatd" in t)
    code, out, err = run("test", str(tmp_path))
    assert code == 2 and out == ""
    assert f"typo.feature:{line}: error[unknown_step]: no generic step reads 'When it is evaluatd'" in err
    assert "closest known steps: When it is evaluated;" in err


def test_no_feature_files_is_a_usage_error(tmp_path):
    code, _, err = run("test", str(tmp_path))
    assert code == 2 and "no .feature files" in err
    code, _, err = run("test", str(tmp_path / "missing"))
    assert code == 2 and "no such file or folder; give .feature files or folders that hold them" in err
    (tmp_path / "features").mkdir()
    code, _, err = run("test", str(tmp_path / "feature"))
    assert code == 2 and "error[no_such_file]: no such file or folder; did you mean 'features'?" in err


def test_a_gherkin_syntax_error_is_a_usage_error(tmp_path):
    (tmp_path / "bad.feature").write_text("Feature: x\n  Scenario: a\n    Given a proposal\n  Nonsense: here\n")
    code, _, err = run("test", str(tmp_path))
    assert code == 2 and "bad.feature:4: error[bad_feature]" in err


def test_a_gherkin_error_is_gherkins_own_message_at_its_line_and_column(tmp_path):
    # pytest-bdd wraps it as "Unknown parsing error: Parser errors:\n(5:7): ...": only the first line was shown
    (tmp_path / "bad.feature").write_text("Feature: x\n  Scenario: a\n    Given a proposal\n      | field | value |\n"
                                          "      | id    | P-1   | x |\n    When it is evaluated\n")
    code, _, err = run("test", str(tmp_path))
    assert code == 2
    assert "bad.feature:5:7: error[bad_feature]: inconsistent cell count within the table; see https://" in err
    assert "Unknown parsing error" not in err and "Parser errors" not in err


def test_steps_lists_every_generic_step():
    code, out, _ = run("test", "--steps")
    assert code == 0
    assert 'Then it is rejected by rule "ID"' in out.splitlines() and "When they are ranked" in out.splitlines()


def test_policies_sets_the_default_policy_folder(tmp_path):
    policies = shutil.copytree(ROOT / "policies", tmp_path / "policies")
    intake = policies / "intake.yaml"
    intake.write_text(intake.read_text().replace("with: {threshold: 250_000}", "with: {threshold: 500_000}"))
    scenario = ("Feature: Sponsor threshold\n  Scenario: 400,000 needs no sponsor under the new threshold\n"
                + SOUND.replace("<budget>", "400000") + '    Then rule "sponsor-required" does not fire\n')
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "sponsor.feature").write_text(scenario)
    assert run("test", str(tmp_path / "features"), "--policies", str(policies))[0] == 0
    assert run("test", str(tmp_path / "features"))[0] == 1  # the reference policies still require a sponsor


def test_a_broken_policy_folder_is_a_usage_error(tmp_path):
    (tmp_path / "ok.feature").write_text(BROKEN)
    for extra in ([], ["--coverage"]):
        code, out, err = run("test", str(tmp_path), "--policies", str(ROOT / "examples" / "broken-policies"), *extra)
        assert code == 2 and "error[unknown_include]" in err and out == ""


def _rule_lines(path):
    """Each intake rule's id and the line it is written on, read from the YAML text: `- id: X`, an include's
    `id: X`, or its `use: library/X` when it keeps the library's id."""
    found = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        use = re.match(r"\s*- use: \w+/([\w-]+)", line)
        rule = re.match(r"\s*(?:- )?id: ([\w-]+)", line)
        if use and not re.match(r"\s*id:", lines[number]):
            found.append((use[1], number))
        elif rule and not line.lstrip().startswith("id_field"):
            found.append((rule[1], number))
    return found


def test_coverage_of_the_scenarios_lists_the_rules_they_never_fire(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the repository: files are still named as findings name them
    (tmp_path / "one.feature").write_text(BROKEN)
    code, out, _ = run("test", str(tmp_path), "--coverage", "--format", "json", "--policies", str(ROOT / "policies"))
    assert code == 1  # two scenarios fail on purpose
    (report,) = json.loads(out)["coverage"]
    # budgets 400,000 and 300,000 without a sponsor, risk or dates; 200,000 without a sponsor
    fired = {"sponsor-required", "route-portfolio-board", "risk-not-assessed", "dates-missing",
             "sponsor-missing-small"}
    expected = [(rule, f"policies/intake.yaml:{line}")
                for rule, line in _rule_lines(ROOT / "policies" / "intake.yaml") if rule not in fired]
    assert [(t["id"], t["where"]) for t in report["uncovered"] if t["kind"] == "rule"] == expected
    assert report["by_kind"]["rule"] == {"covered": len(fired), "total": len(fired) + len(expected)}


def test_the_readme_example_of_a_failing_outline_row():
    """README shows this run: examples/author-tests/ has one example row that is wrong on purpose."""
    code, out, _ = run("test", str(ROOT / "examples" / "author-tests"))
    assert code == 1
    assert "sponsorship.feature:35  The budget decides who approves (budget=1000000, approver=Investment Committee)" in out
    assert "1 feature file, 4 scenarios on rete: 3 passed, 1 failed" in out


TYPOS = """Feature: Typos a policy author makes
  Scenario: A misspelt rule id
    Given a proposal
      | field  | value |
      | id     | T-1   |
      | title  | t     |
      | budget | 100   |
    When it is evaluated
    Then rule "sponsor-requried" does not fire

  Scenario: A misspelt field
    Given a proposal
      | field  | value |
      | id     | T-2   |
      | title  | t     |
      | budjet | 100   |
    When it is evaluated
    Then it is rejected by rule "budget-missing"
"""


def test_typos_in_rule_ids_and_fields_fail_instead_of_passing_for_nothing(tmp_path):
    """Found by a policy author: both scenarios passed, testing nothing."""
    (tmp_path / "typos.feature").write_text(TYPOS, encoding="utf-8")
    code, out, _ = run("test", str(tmp_path))
    assert code == 1
    assert "no such rule; did you mean 'sponsor-required'?" in out
    assert "column 'budjet' is not a field of the policy and is ignored; did you mean 'budget'?" in out
    assert "2 failed" in out


def test_an_outline_placeholder_without_a_column_is_a_usage_error(tmp_path):
    text = (ROOT / "examples" / "author-tests" / "sponsorship.feature").read_text(encoding="utf-8")
    (tmp_path / "a.feature").write_text(text.replace("| budget        | <budget>", "| budget        | <budgett>"),
                                        encoding="utf-8")
    code, _, err = run("test", str(tmp_path))
    assert code == 2 and "<budgett> is not a column of the outline's Examples; did you mean 'budget'?" in err


# ---------------------------------------------------------------------------- false confidence (issue #14)

REJECTED_ELSEWHERE = """Feature: Steps that imply a decision
  Scenario: Review by a rule, though another rule rejects
""" + SOUND.replace("<budget>", "400000") + """\
    Then it is sent to review by rule "route-portfolio-board"

  Scenario: Routed, though another rule rejects
""" + SOUND.replace("<budget>", "400000") + """\
    Then it is routed to "Portfolio Board"
"""


def test_review_and_route_steps_fail_when_another_rule_rejects(tmp_path):
    """Found by a policy author: both passed on a proposal that sponsor-required rejects."""
    (tmp_path / "r.feature").write_text(REJECTED_ELSEWHERE, encoding="utf-8")
    code, out, _ = run("test", str(tmp_path), "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["failed"] == 2, out
    review, route = data["scenarios"]
    assert review["expected"] == "review by rule route-portfolio-board"
    assert review["actual"].startswith("reject (rules fired: sponsor-required, route-portfolio-board")
    assert route["expected"] == "review, routed to Portfolio Board"
    assert route["actual"].startswith("reject (rules fired: sponsor-required")


def test_rejected_by_a_rule_needs_that_rule_to_reject(tmp_path):
    """'rejected by rule X' when the proposal is rejected by another rule and X only sends it to review."""
    text = ("Feature: x\n  Scenario: wrong rule\n" + SOUND.replace("<budget>", "400000")
            + '    Then it is rejected by rule "route-portfolio-board"\n')
    (tmp_path / "r.feature").write_text(text, encoding="utf-8")
    code, out, _ = run("test", str(tmp_path), "--format", "json")
    (scenario,) = json.loads(out)["scenarios"]
    assert code == 1 and scenario["expected"] == "rule route-portfolio-board to reject"


def test_a_scenario_without_then_is_a_usage_error(tmp_path):
    text = ("Feature: x\n  Scenario: checks nothing\n" + SOUND.replace("<budget>", "400000")
            + "\n  Scenario: checks something\n" + SOUND.replace("<budget>", "400000") + "    Then it is rejected\n")
    (tmp_path / "n.feature").write_text(text, encoding="utf-8")
    code, out, err = run("test", str(tmp_path))
    assert code == 2 and out == ""
    assert f"{tmp_path / 'n.feature'}:2: error[no_then]: scenario 'checks nothing' has no Then step" in err
    assert err.count("error[") == 1


def test_coverage_measures_the_policies_the_scenarios_ran_under(tmp_path, monkeypatch):
    """Found by a policy author: without --policies, coverage measured the built-in policies ("0 of 50 covered",
    exit 0) although every scenario said 'Given the policies in "policies"'."""
    from engine import Engine
    monkeypatch.chdir(tmp_path)
    policies = shutil.copytree(ROOT / "policies", tmp_path / "policies")
    intake = policies / "intake.yaml"
    intake.write_text(intake.read_text().replace("with: {threshold: 250_000}", "with: {threshold: 300_000}"))
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "one.feature").write_text(
        BROKEN.replace("    Given today is 2026-12-01\n", '    Given today is 2026-12-01\n    And the policies in "policies"\n'))
    code, out, _ = run("test", "features", "--coverage", "--format", "json", "--min", "5")
    (report,) = json.loads(out)["coverage"]  # one policy version: the scenarios' own
    assert report["policies"] == "policies" and report["policy_hash"] == Engine.load(policies).policy_hash
    assert report["decisions"] == 4 and report["other_policy_decisions"] == 0
    covered = {t["id"] for t in report["targets"] if t["hits"]}
    assert {"sponsor-required", "route-portfolio-board"} <= covered
    assert code == 1  # scenarios fail on purpose; not because coverage is 0

    code, out, _ = run("test", "features", "--coverage")
    assert "from 4 decisions under policy" in out and "(policies)" in out and "coverage: 0 of" not in out


def test_coverage_is_reported_per_policy_version(tmp_path, monkeypatch):
    """Scenarios under two policy folders: one coverage for each, never mixed."""
    monkeypatch.chdir(tmp_path)
    policies = shutil.copytree(ROOT / "policies", tmp_path / "policies")
    intake = policies / "intake.yaml"
    intake.write_text(intake.read_text().replace("with: {threshold: 250_000}", "with: {threshold: 300_000}"))
    (tmp_path / "a.feature").write_text(BROKEN)  # the built-in policies
    (tmp_path / "b.feature").write_text(
        BROKEN.replace("    Given today is 2026-12-01\n", '    Given today is 2026-12-01\n    And the policies in "policies"\n'))
    code, out, _ = run("test", str(tmp_path), "--coverage", "--format", "json", "--min", "99")
    reports = json.loads(out)["coverage"]
    assert sorted(r["policies"] for r in reports) == ["built-in", "policies"]
    assert [r["decisions"] for r in reports] == [4, 4]
    assert code == 1


def test_a_misspelt_gherkin_keyword_is_a_located_usage_error(tmp_path):
    """Found by a policy author: 'Scenaro:' leaked pytest-bdd's NoScenariosFound without a location."""
    text = "Feature: x\n  Scenaro: typo\n" + SOUND.replace("<budget>", "1") + "    Then it is accepted\n"
    (tmp_path / "k.feature").write_text(text, encoding="utf-8")
    code, out, err = run("test", str(tmp_path))
    assert code == 2 and out == ""
    assert err.strip() == (f"{tmp_path / 'k.feature'}:2: error[unknown_keyword]: 'Scenaro:' is not a Gherkin "
                           "keyword; did you mean 'Scenario'?")


def test_a_policy_folder_that_is_not_there_is_one_usage_error(tmp_path, monkeypatch):
    """Found by a policy author: 'pmo test hospital/features' from another folder failed all 24 scenarios, and a
    typo in the folder of 'Given the policies in' was repeated per scenario."""
    project = tmp_path / "hospital"
    shutil.copytree(ROOT / "policies", project / "policies")
    (project / "features").mkdir()
    scenario = ('  Scenario: s{n}\n    Given the policies in "policies"\n' + SOUND.replace("<budget>", "1")
                + "    Then it is accepted\n")
    text = "Feature: x\n" + "".join(scenario.format(n=n) for n in range(3))
    (project / "features" / "a.feature").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = run("test", "hospital/features")
    assert code == 2 and out == ""
    assert err.count("error[") == 1, err
    assert ("hospital/features/a.feature:3: error[no_policies]: no policy folder 'policies' (used by 3 scenarios); "
            "relative paths are read from the current folder: run pmo test in hospital") in err
    monkeypatch.chdir(project)
    code, out, err = run("test", "features")
    assert code == 0, out + err


def test_a_broken_policy_folder_of_the_scenarios_is_reported_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "examples" / "broken-policies", tmp_path / "broken")
    scenario = ('  Scenario: s{n}\n    Given the policies in "broken"\n' + SOUND.replace("<budget>", "1")
                + "    Then it is rejected\n")
    (tmp_path / "a.feature").write_text("Feature: x\n" + "".join(scenario.format(n=n) for n in range(3)))
    code, out, err = run("test", "a.feature")
    assert code == 2 and out == ""
    assert err.count("error[unknown_include]") == 1 and err.count("broken/intake.yaml:") == 5, err


def test_junit_output_for_ci(tmp_path):
    """--format junit: one testcase per scenario and back end, failures with what was expected and what happened."""
    import xml.etree.ElementTree as ET
    feature = tmp_path / "broken.feature"
    feature.write_text(BROKEN)
    code, out, _ = run("test", str(tmp_path), "--format", "junit", "--backend", "both")
    assert code == 1
    root = ET.fromstring(out)
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("8", "4")
    cases = suite.findall("testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(cases) == 8 and len(failed) == 4
    first = failed[0]
    assert first.get("name") == "A large proposal without a sponsor is accepted [rete]"
    line = next(i for i, t in enumerate(BROKEN.splitlines(), 1) if "Scenario: A large proposal" in t)
    assert first.get("file") == str(feature) and first.get("line") == str(line)
    assert first.find("failure").get("message") == "expected accept"
    assert "got:      reject (rules fired: sponsor-required" in first.find("failure").text


# ---------------------------------------------------------------------------- a scenario that tests another proposal

def test_an_examples_column_no_step_reads_is_a_usage_error(tmp_path):
    """| budget | 999999999 | in an outline's Examples with no <budget> in its steps passed, on the steps' own
    budget (found by a new policy author)."""
    (tmp_path / "a.feature").write_text("Feature: f\n  Scenario Outline: o\n" + SOUND.replace("<budget>", "10000")
                                        + '    Then rule "<rule>" does not fire\n\n    Examples:\n'
                                        "      | budget    | rule             |\n"
                                        "      | 999999999 | sponsor-required |\n", encoding="utf-8")
    code, _, err = run("test", str(tmp_path))
    assert code == 2 and "error[unused_column]" in err and "column budget is read by no step" in err, err


def test_a_field_given_twice_or_a_second_proposal_fails_the_scenario(tmp_path):
    twice = SOUND.replace("<budget>", "10000").replace("      | benefit   | 1300000                    |\n",
                                                          "      | benefit   | 1300000                    |\n"
                                                          "      | budget    | 20000000                   |\n")
    second = SOUND.replace("<budget>", "400000").replace("    When it is evaluated\n", "") \
        + SOUND.replace("    Given today is 2026-12-01\n    And", "    And").replace("<budget>", "10000")
    (tmp_path / "a.feature").write_text("Feature: f\n  Scenario: twice\n" + twice + "    Then it is accepted\n\n"
                                        "  Scenario: two proposals\n" + second + "    Then it is accepted\n",
                                        encoding="utf-8")
    code, out, err = run("test", str(tmp_path))
    assert code == 1, out + err
    assert "budget given twice (the last would win)" in out and "one 'Given a proposal' a scenario" in out, out
    assert "2 failed" in out
