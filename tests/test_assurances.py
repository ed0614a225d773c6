"""Assurances (kind: assurances): whole-set properties proved by z3, counterexamples decided again."""
import datetime as dt
import json
import shutil

import pytest

from engine.api import Engine, check_policies
from engine.authoring.proofs import prove
from tests.conftest import ROOT

TODAY = dt.date(2026, 12, 1)
PROBLEMS = ROOT / "examples" / "table-problems" / "policies"


def _policies(tmp_path, text: str):
    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder)
    (folder / "assurances.yaml").write_text("kind: assurances\nassurances:\n" + text, encoding="utf-8")
    return folder


def _results(tmp_path, text: str):
    checked = check_policies(_policies(tmp_path, text), today=TODAY, lint=True)
    return checked, {r.assurance.name: r for r in checked.proofs}


def test_the_reference_assurances_are_proved():
    checked = check_policies(None, today=TODAY, lint=True)
    assert checked.policy is not None and [r.status for r in checked.proofs] == ["holds"] * 3
    assert not [d for d in checked.diagnostics if d.code.startswith("assurance")]


@pytest.mark.parametrize("backend", ["rete", "reference"])
def test_a_failed_assurance_has_counterexamples_the_engine_decides_that_way(tmp_path, backend):
    checked, results = _results(tmp_path, """
  - name: every-pass-has-approver
    for: decision != "reject"
    must: len(routes) > 0
""")
    result = results["every-pass-has-approver"]
    assert result.status == "fails" and 1 <= len(result.counterexamples) <= 3
    found = [d for d in checked.diagnostics if d.code == "assurance_failed"]
    assert len(found) == len(result.counterexamples) and found[0].location.line == 4
    engine = Engine.load(tmp_path / "policies", today=TODAY, backend=backend)
    for message in (d.message for d in found):
        proposal = json.loads(message.split("counterexample proposal: ", 1)[1])
        decision = engine.evaluate(proposal)
        assert decision.decision == "accept" and decision.routes == []  # passes intake with no approver


def test_a_rejected_proposal_has_no_approver_proved_and_decided(tmp_path):
    """routes are the approvers of a review decision: the proof and the engine agree a rejection has none."""
    checked, results = _results(tmp_path, """
  - name: rejected-goes-nowhere
    for: decision == "reject"
    must: len(routes) == 0
""")
    assert results["rejected-goes-nowhere"].status == "holds"
    engine = Engine.load(tmp_path / "policies", today=TODAY)
    rejected = engine.evaluate({"id": "X", "title": "No sponsor", "budget": 400_000, "benefit": 900_000,
                                "alignment": "net-zero:strong"})
    assert rejected.decision == "reject" and rejected.routes == []
    assert any(f.route == "Portfolio Board" for f in rejected.findings)


def test_a_sponsor_hole_is_found_and_closing_it_proves_the_assurance(tmp_path):
    """The reference set rejects large proposals without a sponsor by sponsor-required; drop it and the proof
    finds the hole, with a proposal above the threshold and no sponsor."""
    folder = _policies(tmp_path, """
  - name: board-needs-sponsor
    for: budget > 5_000_000 and sponsor == null
    must: decision == "reject"
""")
    intake = (folder / "intake.yaml").read_text(encoding="utf-8")
    (folder / "intake.yaml").write_text(intake.replace("  - use: governance/sponsor-required\n    with: {threshold: "
                                                       "250_000}\n", ""), encoding="utf-8")
    checked = check_policies(folder, today=TODAY, lint=True)
    [result] = checked.proofs
    assert result.status == "fails"
    for example in result.counterexamples:
        proposal = example.proposal
        assert float(proposal["budget"]) > 5_000_000 and "sponsor" not in proposal
        assert Engine.load(folder, today=TODAY).evaluate(proposal).decision != "reject"


def test_three_valued_logic_a_missing_value_breaks_must(tmp_path):
    """must has to be *true*: a proposal without a benefit makes 'benefit >= budget' unknown, which fails."""
    _, results = _results(tmp_path, """
  - name: benefit-covers-budget
    for: decision == "accept" and budget > 100_000
    must: benefit >= budget
""")
    result = results["benefit-covers-budget"]
    assert result.status == "fails"
    assert any("benefit" not in c.proposal or float(c.proposal["benefit"]) < float(c.proposal["budget"])
               for c in result.counterexamples)


def test_table_problems_report_a_gap_an_overlap_and_a_missing_approver():
    checked = check_policies(PROBLEMS, today=TODAY, lint=True)
    codes = [d.code for d in checked.diagnostics]
    assert {"table_gap", "table_overlap", "assurance_failed"} <= set(codes)
    [failed] = [r for r in checked.proofs if r.status == "fails"]
    assert failed.assurance.name == "every-pass-has-approver"
    proposals = [c.proposal for c in failed.counterexamples]
    # the gap (1,000,000..2,000,000], and small HR proposals, which a complete table lets through unrouted
    assert any(p.get("business_unit") == "HR" and float(p["budget"]) <= 1_000_000 for p in proposals)
    assert any(1_000_000 < float(p["budget"]) <= 2_000_000 for p in proposals)
    assert [r.status for r in checked.proofs if r.assurance.name == "large-it-needs-cio"] == ["holds"]


@pytest.mark.parametrize("backend", ["rete", "reference"])
def test_table_problem_counterexamples_decided_again(backend):
    from engine.compile.policy import compile_policy
    from engine.errors import DiagnosticSink
    from engine.policy.loader import load_policy_set
    sink = DiagnosticSink()
    policy = compile_policy(load_policy_set(PROBLEMS, [ROOT / "rules"], sink), TODAY, sink)
    engine = Engine(policy, backend)  # refused by load (the overlap); its parts still run
    [failed] = [r for r in prove(policy) if r.status == "fails"]
    for c in failed.counterexamples:
        decision = engine.evaluate(c.proposal)
        assert decision.decision == "accept" and decision.routes == []


def test_cli_validate_writes_counterexamples_for_explain(tmp_path, capsys):
    from engine.cli import main
    folder = _policies(tmp_path, """
  - name: every-pass-has-approver
    for: decision != "reject"
    must: len(routes) > 0
""")
    out = tmp_path / "ce.json"
    code = main(["validate", str(folder), "--today", TODAY.isoformat(), "--counterexamples", str(out)])
    printed = capsys.readouterr()
    assert code == 2 and "error[assurance_failed]" in printed.out
    assert "the policy set loads, but 1 assurance fails" in printed.err
    proposals = json.loads(out.read_text(encoding="utf-8"))
    assert proposals and proposals[0]["id"] == "every-pass-has-approver-1"
    code = main(["explain", str(out), "--id", "every-pass-has-approver-1", "--policies", str(folder),
                 "--today", TODAY.isoformat(), "--format", "json"])
    explained = json.loads(capsys.readouterr().out)
    assert code == 0 and explained["decision"] == "accept" and explained["routes"] == []


def test_cli_validate_counts_proved_assurances(capsys):
    from engine.cli import main
    assert main(["validate", "--today", TODAY.isoformat()]) == 0
    assert "3 of 3 assurances proved" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "code"), [
    ('    for: decision == "acept"\n    must: len(routes) > 0\n', "assurance_value"),
    ('    for: budget > 1\n    must: \'"Bord of Directors" in routes\'\n', "assurance_value"),
    ('    for: \'"x" in fired\'\n    must: len(routes) > 0\n', "assurance_value"),
    ("    for: budjet > 1\n    must: len(routes) > 0\n", "unknown_field"),
    ("    for: budget > 1\n", "missing_key"),
])
def test_bad_assurances_are_located_errors(tmp_path, text, code):
    checked = check_policies(_policies(tmp_path, "  - name: bad\n" + text), today=TODAY)
    assert checked.policy is None
    [d] = [d for d in checked.diagnostics if d.severity == "error"]
    assert d.code == code and d.location.file.endswith("assurances.yaml")


def test_a_field_named_like_the_decision_is_an_error(tmp_path):
    folder = _policies(tmp_path, '  - name: x\n    for: decision == "accept"\n    must: len(routes) >= 0\n')
    intake = (folder / "intake.yaml").read_text(encoding="utf-8")
    (folder / "intake.yaml").write_text(intake.replace("  headcount:", "  decision: string\n  headcount:"),
                                        encoding="utf-8")
    codes = [d.code for d in check_policies(folder, today=TODAY).diagnostics if d.severity == "error"]
    assert codes == ["assurance_name_clash"]


def test_opaque_expressions_never_make_a_false_proof(tmp_path):
    """npv() is opaque to the solver; a property that depends on it is refuted only by a proposal the engine
    decided, and one the solver cannot settle is a warning, never 'holds'."""
    _, results = _results(tmp_path, """
  - name: npv-positive-when-accepted
    for: decision == "accept" and cash_flows != null
    must: npv_8 >= 0
""")
    result = results["npv-positive-when-accepted"]
    assert result.status in ("holds", "unknown")  # negative-npv rejects: the engine's decision says holds
    if result.status == "unknown":
        assert "npv" in result.why


def _small_policy(tmp_path, review_at, reject_at, risk_at, bound):
    folder = tmp_path / f"p{review_at}-{reject_at}-{risk_at}-{bound}"
    folder.mkdir()
    (folder / "intake.yaml").write_text(f"""kind: intake
fields:
  id: {{type: string, required: true}}
  budget: money
  risk: {{type: integer, min: 1, max: 5}}
  sponsor: string
rules:
  - {{id: board, when: budget > {review_at} and risk >= {risk_at}, effect: review, route: Board, reason: big}}
  - {{id: sponsor, when: budget > {reject_at} and sponsor == null, effect: reject, reason: no sponsor}}
  - {{id: unknown-risk, when: risk == null and budget > {review_at}, effect: review, route: Risk, reason: unrated}}
""", encoding="utf-8")
    (folder / "assurances.yaml").write_text(f"""kind: assurances
assurances:
  - name: approver
    for: budget > {bound} and decision != "reject"
    must: len(routes) > 0
""", encoding="utf-8")
    return folder


@pytest.mark.parametrize(("review_at", "reject_at", "risk_at", "bound"), [
    (100, 50, 1, 100), (100, 50, 3, 100), (100, 200, 1, 50), (100, 200, 1, 200), (100, 100, 6, 100),
    (300, 100, 2, 250), (0, 0, 1, 0),
])
def test_the_proof_agrees_with_an_exhaustive_search(tmp_path, review_at, reject_at, risk_at, bound):
    """On a small policy, a grid of every value the rules tell apart (each constant and either side of it, a
    missing value) decides every class of proposal; the solver must say 'fails' exactly when the grid finds one."""
    folder = _small_policy(tmp_path, review_at, reject_at, risk_at, bound)
    checked = check_policies(folder, today=TODAY, lint=True)
    [result] = checked.proofs
    engine = Engine.load(folder, today=TODAY, backend="reference")
    constants = {review_at, reject_at, bound}
    budgets = [None] + sorted({str(c + d) for c in constants for d in (-1, 0, 1)}, key=float)
    broken = []
    for budget in budgets:
        for risk in (None, 1, 2, 3, 4, 5):
            for sponsor in (None, "Ann"):
                raw = {"id": "X", **({"budget": budget} if budget else {}), **({"risk": risk} if risk else {}),
                       **({"sponsor": sponsor} if sponsor else {})}
                d = engine.evaluate(raw)
                if budget is not None and float(budget) > bound and d.decision != "reject" and not d.routes:
                    broken.append(raw)
    assert result.status == ("fails" if broken else "holds"), (broken[:3], result)
    for c in result.counterexamples:  # and each counterexample is one
        d = engine.evaluate(c.proposal)
        assert float(c.proposal["budget"]) > bound and d.decision != "reject" and not d.routes
