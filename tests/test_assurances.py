"""Assurances (kind: assurances): whole-set properties proved by z3, counterexamples decided again."""
import datetime as dt
import json
import shutil

import pytest

from engine.api import Engine
from engine.authoring.check import check_policies
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


# ---------------------------------------------------------------------------- the proof cache (pmo validate)

NO_APPROVER = """
  - name: every-pass-has-approver
    for: decision != "reject"
    must: len(routes) > 0
"""


@pytest.fixture
def asked(tmp_path, monkeypatch):
    """The assurances the solver was asked about, run by run (the cache answers the others)."""
    from engine.authoring import proofs
    monkeypatch.setenv("PMO_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[list[str]] = []
    real = proofs.prove

    def counting(policy, assurances=None, *args, **kwargs):
        results = real(policy, assurances, *args, **kwargs)
        calls.append(sorted(r.assurance.name for r in results))
        return results

    monkeypatch.setattr(proofs, "prove", counting)
    return calls


def _validate(folder, capsys, *options):
    from engine.cli import main
    code = main(["validate", str(folder), "--today", TODAY.isoformat(), *options])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def _cache_files(tmp_path):
    return sorted((tmp_path / "cache" / "proofs").glob("*.json"))


def _findings(run):
    """A validate run without the counterexamples' values."""
    code, out, err = run
    return code, [line.split("; counterexample proposal:")[0] for line in out.splitlines()], err


def test_a_second_validate_takes_the_proofs_from_the_cache(tmp_path, asked, capsys):
    folder = _policies(tmp_path, NO_APPROVER)
    first = _validate(folder, capsys, "--counterexamples", str(tmp_path / "1.json"))
    second = _validate(folder, capsys, "--counterexamples", str(tmp_path / "2.json"))
    assert asked == [["every-pass-has-approver"]] and len(_cache_files(tmp_path)) == 1
    assert first[0] == second[0] == 2 and "error[assurance_failed]" in first[1] and first[1] == second[1]
    assert first[2].replace("1.json", "2.json") == second[2]
    assert (tmp_path / "1.json").read_bytes() == (tmp_path / "2.json").read_bytes()


def test_strict_is_the_same_with_proofs_cached_or_not(tmp_path, asked, capsys, monkeypatch):
    from engine.authoring import proofs
    monkeypatch.setattr(proofs, "MAX_ROUNDS", 2)  # z-titles stays undecided (a warning) in fewer solver calls
    folder = _policies(tmp_path, NO_APPROVER + '  - name: z-titles\n    for: matches(title, "^Z")\n'
                       '    must: decision == "review"\n')
    cached = [_validate(folder, capsys, "--strict") for _ in range(2)]
    monkeypatch.setenv("PMO_CACHE_DIR", "")  # no cache: proved every time
    assert cached[0] == cached[1] and _findings(cached[0]) == _findings(_validate(folder, capsys, "--strict"))
    assert cached[0][0] == 2 and "warning" not in cached[0][1] and "error[assurance_unknown]" in cached[0][1]
    assert len(asked) == 2 and len(_cache_files(tmp_path)) == 1


def test_an_edited_policy_is_proved_again(tmp_path, asked, capsys):
    folder = _policies(tmp_path, """
  - name: board-needs-sponsor
    for: budget > 5_000_000 and sponsor == null
    must: decision == "reject"
""")
    intake = folder / "intake.yaml"
    original = intake.read_text(encoding="utf-8")
    assert _validate(folder, capsys)[0] == 0
    intake.write_text(original.replace("  - use: governance/sponsor-required\n    with: {threshold: 250_000}\n", ""),
                      encoding="utf-8")
    code, out, _ = _validate(folder, capsys)
    assert code == 2 and "assurance 'board-needs-sponsor'" in out and asked == [["board-needs-sponsor"]] * 2
    intake.write_text(original + "# a comment is an edit too: the policy hash changed\n", encoding="utf-8")
    assert _validate(folder, capsys)[0] == 0 and len(asked) == 3
    intake.write_text(original, encoding="utf-8")  # back as it was: that version's proofs are still kept
    assert _validate(folder, capsys)[0] == 0 and len(asked) == 3 and len(_cache_files(tmp_path)) == 3


def test_another_day_is_proved_again(tmp_path, asked, capsys):
    """today() may decide a rule, so the date is part of the key."""
    from engine.cli import main
    folder = _policies(tmp_path, NO_APPROVER)
    for day in ("2026-12-01", "2026-12-02", "2026-12-01"):
        main(["validate", str(folder), "--today", day])
    assert len(asked) == 2


@pytest.mark.parametrize("damage", [
    lambda text: "\x00not json",
    lambda text: text[: len(text) // 2],  # cut short
    lambda text: text.replace('"status": "fails"', '"status": "maybe"'),
    lambda text: text.replace('"status": "fails"', '"status": "holds"', 1).replace('"counterexamples": [{', '"x": [{'),
    lambda text: text.replace('"format": 1', '"format": 0'),
    lambda text: json.dumps({"format": 1, "key": "another", "results": {}}),
    lambda text: "[]",
], ids=["binary", "truncated", "bad-status", "missing-counterexamples", "old-format", "other-key", "not-a-mapping"])
def test_a_damaged_cache_is_ignored_and_rewritten(tmp_path, asked, capsys, damage):
    folder = _policies(tmp_path, NO_APPROVER)
    first = _validate(folder, capsys)
    [path] = _cache_files(tmp_path)
    good = path.read_text(encoding="utf-8")
    path.write_text(damage(good), encoding="utf-8")
    again = _validate(folder, capsys)
    assert _findings(again) == _findings(first) and len(asked) == 2  # proved again
    assert json.loads(path.read_text(encoding="utf-8"))["key"] == path.stem  # and kept again
    assert _validate(folder, capsys) == again and len(asked) == 2


def test_an_answer_a_time_out_cut_short_is_not_kept(tmp_path, asked, capsys, monkeypatch):
    import dataclasses

    from engine.authoring import proofs
    counting = proofs.prove
    monkeypatch.setattr(proofs, "prove", lambda *a, **k: [dataclasses.replace(r, settled=False)
                                                        for r in counting(*a, **k)])
    folder = _policies(tmp_path, NO_APPROVER)
    assert _findings(_validate(folder, capsys)) == _findings(_validate(folder, capsys)) and len(asked) == 2
    assert _cache_files(tmp_path) == []


def test_no_cache_when_it_is_switched_off_or_cannot_be_written(tmp_path, asked, capsys, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    for setting in ("", str(blocked)):
        monkeypatch.setenv("PMO_CACHE_DIR", setting)
        code, out, _ = _validate(ROOT / "policies", capsys)
        assert code == 0 and "3 of 3 assurances proved" in out
    assert len(asked) == 2 and not (tmp_path / "cache").exists() and not list(tmp_path.glob("**/*.partial"))


def test_where_the_cache_lives(monkeypatch, tmp_path):
    from engine.authoring.proof_cache import cache_dir
    monkeypatch.delenv("PMO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "pmo" / "proofs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "pmo" / "proofs"
    monkeypatch.setenv("PMO_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine" / "proofs"


def test_the_key_changes_with_any_file_of_the_engine_or_z3(tmp_path):
    """An edited or upgraded engine or z3 proves again: each of their files is in the key (size and time)."""
    import hashlib
    import os

    from engine.authoring.proof_cache import _files
    (tmp_path / "a.py").write_text("x = 1\n", encoding="utf-8")

    def digest():
        d = hashlib.sha256()
        _files(tmp_path, d)
        return d.hexdigest()

    before = digest()
    os.utime(tmp_path / "a.py", ns=(1, 1))
    touched = digest()
    (tmp_path / "b.so").write_bytes(b"")
    assert len({before, touched, digest()}) == 3


def test_a_policy_asked_again_in_one_process_gets_the_same_counterexamples(tmp_path, capsys, monkeypatch):
    """In z3's shared context the terms of earlier proofs steered its models: three validates of one policy in one
    process gave three sets of counterexamples (and, in CI, other classes of them, so that a cached validate and
    an uncached one disagreed). Each proof now has a context of its own."""
    monkeypatch.setenv("PMO_CACHE_DIR", "")  # proved every time
    folder = _policies(tmp_path, NO_APPROVER + '  - name: z-titles\n    for: matches(title, "^Z")\n'
                       '    must: decision == "review"\n')
    runs = [_validate(folder, capsys) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2] and "counterexample proposal:" in runs[0][1]
