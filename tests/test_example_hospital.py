"""examples/hospital-it: a second organisation's policy set, started with `pmo init` (issue #14). It must stay
clean under strict lint and pass its own scenarios, covering every rule, band and gate criterion, on both back
ends: it is the example a policy author at another organisation reads first."""
import io

from engine.authoring.check import check_policies
from engine.cli import main
from tests.conftest import ROOT

HOSPITAL = ROOT / "examples" / "hospital-it"


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_it_is_clean_under_strict_lint(monkeypatch):
    monkeypatch.chdir(HOSPITAL)
    checked = check_policies("policies", lint=True)
    assert checked.policy is not None and checked.diagnostics == []
    assert [m.id for m in checked.policy.scoring_models] == ["clinical", "operations"]


def test_its_scenarios_pass_on_both_back_ends_and_cover_everything(monkeypatch):
    monkeypatch.chdir(HOSPITAL)
    code, out, err = run("test", "features", "--policies", "policies", "--backend", "both", "--coverage", "--min", "100")
    assert code == 0, out + err
    assert "4 feature files, 30 scenarios on rete and reference: 30 passed, 0 failed" in out, out
    assert "(100.0%)" in out


def test_its_export_reads_through_its_profile(monkeypatch):
    monkeypatch.chdir(HOSPITAL)
    code, out, err = run("evaluate", "proposals.csv", "--policies", "policies", "--columns", "profile.yaml",
                         "--no-log", "--today", "2026-12-01")
    assert code == 0, err
    assert "10 proposals: 3 accept, 2 review, 5 reject" in out
