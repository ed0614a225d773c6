"""Several scoring models in one policy set (issue #14): each proposal is scored by the model whose 'when' holds,
the model without 'when' takes the rest, and each model ranks its own pool; never a silent pick."""
import io
import json
import shutil
import textwrap

import pytest

from engine import Engine, validate
from engine.authoring.coverage import CoverageByPolicy
from engine.cli import main
from engine.io.readers import read_proposals
from tests.conftest import ROOT

COMPLIANCE = """\
kind: scoring
id: compliance
name: Compliance work, cheapest and safest first
when: category == "compliance" or regulatory
method: weighted-sum
criteria:
  - {id: delivery-risk, field: risk, scale: {min: 1, max: 5}, direction: lower, weight: 0.5}
  - id: size
    bands:
      of: budget
      ranges:
        - {below: 500_000, points: 10}
        - {from: 500_000, points: 2}
    weight: 0.5
"""
BIG = """\
kind: scoring
id: big-bets
when: budget > 1_000_000
method: formula
formula: benefit / budget
"""


def policies(tmp_path, *extra: tuple[str, str], default: bool = True):
    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder)
    if not default:
        (folder / "scoring.yaml").unlink()
    for name, text in extra:
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def proposals():
    return list(read_proposals(ROOT / "examples" / "proposals.csv"))


def test_each_model_ranks_its_own_pool(tmp_path, proposals):
    engine = Engine.load(policies(tmp_path, ("compliance.yaml", COMPLIANCE)), today=TODAY)
    ranking = engine.rank(proposals)
    assert [m["id"] for m in ranking.models] == ["compliance", "scoring"]
    decided = {d.id: (d, r) for d, r in engine.decide_all(proposals)}
    ranked = [e for e in ranking.entries if e.rank is not None]
    for e in ranked:
        record = decided[e.id][1]
        wants = "compliance" if record["category"] == "compliance" or record["regulatory"] else "scoring"
        assert e.model == wants, e.id
    for model in ("compliance", "scoring"):
        pool = [e for e in ranked if e.model == model]
        assert [e.rank for e in pool] == list(range(1, len(pool) + 1)) and len(pool) > 3
        assert [e.score for e in pool] == sorted((e.score for e in pool), reverse=True)
    compliance = next(e for e in ranked if e.model == "compliance")
    assert [c.criterion for c in compliance.breakdown] == ["delivery-risk", "size"]  # its own model's breakdown
    passing = sum(1 for d, r in decided.values() if d.decision in ("accept", "review"))
    assert len(ranked) == passing  # nothing dropped between the pools


def test_two_models_that_both_apply_leave_the_proposal_unscored_naming_both(tmp_path, proposals):
    engine = Engine.load(policies(tmp_path, ("compliance.yaml", COMPLIANCE), ("big.yaml", BIG)), today=TODAY)
    ranking = engine.rank(proposals)
    decided = {d.id: r for d, r in engine.decide_all(proposals)}
    both = [e for e in ranking.entries if e.rank is None and e.decision in ("accept", "review")]
    assert both, "the example round has big compliance proposals"
    for e in both:
        record = decided[e.id]
        assert (record["category"] == "compliance" or record["regulatory"]) and record["budget"] > 1_000_000
        assert e.reason == ("not scored: scoring models big-bets (policies/big.yaml:3) and compliance "
                            "(policies/compliance.yaml:4) both apply; make their 'when' exclusive")  # in file order


def test_without_a_default_model_a_proposal_no_model_takes_is_unscored(tmp_path, proposals):
    engine = Engine.load(policies(tmp_path, ("compliance.yaml", COMPLIANCE), default=False), today=TODAY)
    ranking = engine.rank(proposals)
    ranked = [e for e in ranking.entries if e.rank is not None]
    assert ranked and {e.model for e in ranked} == {"compliance"}
    left = [e for e in ranking.entries if e.rank is None and e.decision in ("accept", "review")]
    assert left and all(e.reason == "not scored: no scoring model applies (compliance at policies/compliance.yaml:4)"
                        for e in left)


@pytest.mark.parametrize("extra, code, line, col, words", [
    (("second.yaml", "kind: scoring\nmethod: formula\nformula: benefit\n"), "duplicate_policy", 1, 7,
     "one scoring model without 'when'"),
    (("zz-again.yaml", COMPLIANCE), "duplicate_scoring_model", 2, 5, "'compliance'"),
    (("typed.yaml", BIG.replace("when: budget > 1_000_000", "when: budget")), "type_mismatch", 3, 7, "bool"),
    (("typo.yaml", BIG.replace("when: budget > 1_000_000", "when: budjet > 1_000_000")), "unknown_field", 3, 7,
     "did you mean 'budget'?"),
])
def test_model_mistakes_are_located(tmp_path, extra, code, line, col, words):
    folder = policies(tmp_path, ("compliance.yaml", COMPLIANCE), extra)
    found = [d for d in validate(folder) if d.code == code]
    assert found, [str(d) for d in validate(folder)]
    d = found[0]
    assert (d.location.file.endswith(extra[0]), d.location.line, d.location.column) == (True, line, col)
    assert words in str(d)


def test_lint_knows_what_each_model_and_its_when_read(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "intake.yaml").write_text(textwrap.dedent("""\
        kind: intake
        fields:
          id: {type: string, required: true}
          size: number
          lane: {type: enum, values: [fast, slow]}
          effort: number
        rules:
          - {id: too-big, when: size > 100, effect: reject, reason: too big}
        """))
    (folder / "scoring.yaml").write_text("kind: scoring\nmethod: formula\nformula: 100 - size\n")
    (folder / "fast.yaml").write_text('kind: scoring\nwhen: lane == "fast"\nmethod: formula\nformula: 1 / effort\n')
    assert [d for d in validate(folder) if d.code == "unused_field"] == []  # lane and effort are read


def test_coverage_counts_a_models_bands_only_for_the_proposals_it_scores(tmp_path, proposals):
    engine = Engine.load(policies(tmp_path, ("compliance.yaml", COMPLIANCE)), today=TODAY)
    observer = CoverageByPolicy()
    observer.proposals(engine, proposals)
    (coverage,) = observer.reports()
    hits = {t.key: coverage.counts[("band", t.key)] for t in coverage.targets if t.kind == "band"}
    assert "compliance/size#0" in hits and "scoring/size#0" in hits  # the same criterion id in both models
    decided = [(d, r) for d, r in engine.decide_all(proposals) if r is not None and d.decision in ("accept", "review")]
    small_compliance = sum(1 for _, r in decided if (r["category"] == "compliance" or r["regulatory"])
                           and r["budget"] is not None and r["budget"] < 500_000)
    assert hits["compliance/size#0"] == small_compliance > 0


def test_outputs_say_which_model_scored_what(tmp_path):
    folder = policies(tmp_path, ("compliance.yaml", COMPLIANCE))
    args = ["rank", str(ROOT / "examples" / "proposals.csv"), "--policies", str(folder), "--today", "2026-12-01"]
    out = io.StringIO()
    assert main(args + ["--format", "json"], stdout=out, stderr=io.StringIO()) == 0
    data = json.loads(out.getvalue())
    assert data["method"] == "by model" and [m["id"] for m in data["models"]] == ["compliance", "scoring"]
    assert all(e["model"] in ("compliance", "scoring") for e in data["entries"] if e["rank"] is not None)
    out = io.StringIO()
    main(args + ["--format", "csv"], stdout=out, stderr=io.StringIO())
    header, first = out.getvalue().splitlines()[:2]
    assert header.startswith("rank,id,decision,model,score,") and first.split(",")[3] == "compliance"
    out = io.StringIO()
    main(args, stdout=out, stderr=io.StringIO())
    assert "model compliance: Compliance work, cheapest and safest first (weighted-sum, policies/compliance.yaml:4)" \
        in out.getvalue()


def test_scenarios_can_pin_each_models_ranking(tmp_path, monkeypatch):
    folder = policies(tmp_path, ("compliance.yaml", COMPLIANCE))
    (tmp_path / "models.feature").write_text(textwrap.dedent("""\
        Feature: two scoring models
          Scenario: compliance work is ranked on its own
            Given today is 2026-12-01
            Given proposals
              | id | title | sponsor | alignment                     | category   | budget | benefit | risk |
              | A  | Audit | Ana     | regulatory-compliance:strong  | compliance | 100000 | 300000  | 1    |
              | B  | Logs  | Ana     | regulatory-compliance:strong  | compliance | 200000 | 500000  | 4    |
              | C  | Chat  | Ana     | customer-experience:strong    | growth     | 150000 | 600000  | 2    |
            When they are ranked
            Then model "compliance" ranks "A, B"
            And "C" is scored by model "scoring"
            And "C" is ranked 1
        """))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    code = main(["test", "models.feature", "--policies", str(folder)], stdout=out, stderr=io.StringIO())
    assert code == 0, out.getvalue()


TODAY = __import__("datetime").date(2026, 12, 1)


def test_the_report_lists_each_models_pool_in_turn(tmp_path, proposals):
    from engine.report.build import render
    engine = Engine.load(policies(tmp_path, ("compliance.yaml", COMPLIANCE)), today=TODAY)
    page = render(engine.report(proposals))
    first, other = page.find("<td class=n>compliance 1</td>"), page.find("<td class=n>scoring 1</td>")
    assert 0 < first < other  # compliance's pool first (file order), each from rank 1


def test_sensitivity_is_computed_per_model(tmp_path):
    """--sensitivity with several models: each weighted-sum model's pool gets its shares; a formula model none
    (it has no weights), and the run says which (was: an internal error)."""
    folder = policies(tmp_path, ("compliance.yaml", COMPLIANCE), ("big.yaml", BIG))
    args = ["rank", str(ROOT / "examples" / "proposals.csv"), "--policies", str(folder), "--today", "2026-12-01",
            "--sensitivity"]
    out, err = io.StringIO(), io.StringIO()
    assert main(args + ["--format", "json"], stdout=out, stderr=err) == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert data["sensitivity"]["available"] is True
    assert {m: s["available"] for m, s in data["sensitivity"]["models"].items()} == {
        "big-bets": False, "compliance": True, "scoring": True}
    ranked = [e for e in data["entries"] if e["rank"] is not None]
    weighted = [e for e in ranked if e["model"] != "big-bets"]
    assert weighted and all(0 <= e["top_probability"] <= 1 for e in weighted)
    assert all(e["top_probability"] is None for e in ranked if e["model"] == "big-bets")
    assert "model big-bets" in err.getvalue() and "internal error" not in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert main(args, stdout=out, stderr=err) == 0, err.getvalue()
    assert "%" in out.getvalue()  # the table shows the shares column
