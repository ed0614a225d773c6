"""pmo coverage: the intake rules, scoring bands and gate criteria a set of proposals never exercises."""
import io
import json
import re

from engine.cli import main
from tests.conftest import ROOT
from tests.test_pmo_test import _rule_lines

POLICIES = ROOT / "policies"

# Three proposals, chosen so the rules they fire can be read off the policy by hand.
PROPOSALS = """\
id,title,sponsor,alignment,budget,benefit,cash_flows,start_date,end_date,risk,complexity
PRJ-0001,Invoice OCR,Grace Liu,operational-efficiency:strong,130000,410000,-130000;90000;110000;110000,2027-03-01,2027-09-30,2,2
PRJ-0101,Speech analytics,,customer-experience:strong,400000,1300000,,,,,
X-3,Drone pilot,,,100000,,,,,,
"""
FIRED = {
    # PRJ-0001 is sound: nothing fires, it is accepted and scored (budget below 250,000)
    # PRJ-0101: over 250,000 without a sponsor, in the Portfolio Board's band, no risk rating, no dates
    "sponsor-required", "route-portfolio-board", "risk-not-assessed", "dates-missing",
    # no strategic link, small and unsponsored, id not PRJ-0000, no risk rating, no dates
    "strategic-link-missing", "sponsor-missing-small", "id-format",
}


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_coverage_lists_exactly_the_unfired_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the repository: files are still named as findings name them
    (tmp_path / "three.csv").write_text(PROPOSALS)
    code, out, _ = run("coverage", "three.csv", "--policies", str(POLICIES), "--today", "2026-12-01",
                       "--format", "json")
    assert code == 0
    report = json.loads(out)
    rules = _rule_lines(POLICIES / "intake.yaml")
    unfired = [(rule, f"policies/intake.yaml:{line}") for rule, line in rules if rule not in FIRED]
    assert [(t["id"], t["where"]) for t in report["uncovered"] if t["kind"] == "rule"] == unfired
    # only the accepted proposal is scored: its band (below 250,000) is covered, the three others are not
    scoring = (POLICIES / "scoring.yaml").read_text().splitlines()
    band_lines = [n for n, line in enumerate(scoring, 1) if re.match(r"\s*- \{(from|below):.*points:", line)]
    assert len(band_lines) == 4
    assert [t["where"] for t in report["uncovered"] if t["kind"] == "band"] == \
        [f"policies/scoring.yaml:{n}" for n in band_lines[1:]]
    gates = report["by_kind"]["gate"]
    assert gates["covered"] == 0 and gates["total"] > 0  # no project records among the inputs
    total = report["total"]
    assert report["covered"] == len(FIRED) + 1
    assert report["percent"] == round(100 * (len(FIRED) + 1) / total, 2)


def test_table_min_and_only(tmp_path):
    (tmp_path / "three.csv").write_text(PROPOSALS)
    code, out, err = run("coverage", str(tmp_path / "three.csv"), "--today", "2026-12-01", "--only", "rule",
                         "--min", "50")
    rules = _rule_lines(POLICIES / "intake.yaml")
    assert code == 1 and "is below --min 50%" in err
    assert out.startswith(f"coverage: {len(FIRED)} of {len(rules)} covered")
    assert "never fired (intake rules):" in out and "scoring bands" not in out
    assert "policies/intake.yaml:" in out and "  budget-cap\n" in out
    assert run("coverage", str(tmp_path / "three.csv"), "--only", "rule", "--min", "10")[0] == 0


def test_project_records_cover_gate_criteria():
    code, out, _ = run("coverage", str(ROOT / "examples" / "projects" / "go.yaml"), "--only", "gate",
                       "--today", "2026-12-01", "--format", "json")
    report = json.loads(out)
    uncovered = {t["id"] for t in report["uncovered"]}
    # go means every must-meet criterion of the business-case gate was met; the delivery review never ran
    assert not [t for t in report["uncovered"] if t["id"].startswith("business-case/") and "must-meet" in t["label"]]
    assert {"delivery-review/cost-under-control", "delivery-review/schedule-on-track"} <= uncovered
    assert code == 0


def test_a_missing_file_is_a_usage_error(tmp_path):
    assert run("coverage", str(tmp_path / "none.csv"))[0] == 2


def test_the_rows_of_scoring_tables_are_targets_too(tmp_path):
    """pmo coverage left scoring decision tables out (only intake tables' rows are rules): a row of the points
    table no scored proposal matched was never reported. Each row is now a target, covered when a proposal that
    passed intake is scored by it (the row the hit policy picks from the rows that match)."""
    import datetime as dt

    from engine import Engine
    from engine.expr.evaluate import evaluate
    from engine.io.readers import read_proposals
    tables = ROOT / "examples" / "tables" / "policies"
    proposals = ROOT / "examples" / "proposals.csv"
    code, out, _ = run("coverage", str(proposals), "--policies", str(tables), "--today", "2026-12-01",
                       "--format", "json")
    report = json.loads(out)
    engine = Engine.load(tables, today=dt.date(2026, 12, 1))
    scoring = [t for t in engine.policy.tables if t.applies_to == "scoring"]
    rows = [(t, r) for t in scoring for r in t.rows]
    assert report["by_kind"]["table"]["total"] == len(rows) > 0
    # the hits of each row, counted here by the rows' own conditions (each table here is single-hit: the one
    # matching row is the one picked)
    scored = [record for decision, record in engine.decide_all(read_proposals(proposals))
              if decision.decision in ("accept", "review")]
    expected = {r.label: sum(evaluate(r.condition, record) is True for record in scored) for _, r in rows}
    got = {t["where"]: t["hits"] for t in report["targets"] if t["kind"] == "table"}
    assert got == expected and any(expected.values())
    assert {t["where"] for t in report["uncovered"] if t["kind"] == "table"} == \
        {label for label, hits in expected.items() if not hits}
    code, text, _ = run("coverage", str(proposals), "--policies", str(tables), "--today", "2026-12-01",
                        "--only", "table")
    assert text.splitlines()[1].split() == ["scoring", "tables", str(sum(v > 0 for v in expected.values())), "of",
                                            str(len(rows))]
    assert "no proposal was scored by (scoring tables):" in text
