"""`pmo init DIR` (engine/authoring/scaffold.py): a starter policy set that validates, passes its own scenarios with
every rule covered, and reads its sample export; and the note when the example policies decide a user's file."""
import io
import json
import shutil

import pytest

from engine.authoring.check import check_policies
from engine.cli import main
from tests.conftest import ROOT


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.fixture
def starter(tmp_path, monkeypatch):
    target = tmp_path / "our-pmo"
    code, out, _ = run("init", str(target))
    assert code == 0 and "next:" in out
    monkeypatch.chdir(target)  # as the printed next steps say
    return target


def test_init_writes_the_whole_starter_set(starter):
    names = sorted(str(p.relative_to(starter)) for p in starter.rglob("*") if p.is_file())
    assert names == ["README.md", "features/gates.feature", "features/intake.feature", "policies/gates.yaml",
                     "policies/intake.yaml", "policies/kpis.yaml", "policies/portfolio.yaml", "policies/scoring.yaml",
                     "policies/strategy.yaml", "profile.yaml", "projects/billing-portal.yaml",
                     "projects/data-platform.yaml", "projects/invoice-automation.yaml",
                     "projects/scanner-refresh.yaml", "proposals.csv"]


def test_the_starter_set_is_clean_even_under_strict_lint(starter):
    checked = check_policies("policies", lint=True)
    assert checked.policy is not None and checked.diagnostics == []
    assert run("validate", "policies", "--strict")[0] == 0


def test_its_scenarios_pass_and_cover_every_rule_band_and_gate_criterion(starter):
    code, out, err = run("test", "features", "--policies", "policies", "--coverage", "--min", "100")
    assert code == 0, out + err
    assert "14 scenarios on rete: 14 passed, 0 failed" in out and "(100.0%)" in out


def test_its_sample_export_reads_through_its_profile(starter):
    code, out, err = run("evaluate", "proposals.csv", "--policies", "policies", "--columns", "profile.yaml",
                         "--format", "json", "--no-log", "--today", "2026-12-01")
    assert code == 0, err
    decided = {d["id"]: d["decision"] for d in json.loads(out)}
    assert decided == {"P-001": "review", "P-002": "reject", "P-003": "accept", "P-004": "reject",
                       "P-005": "reject"}
    assert "note:" not in err  # its own policies decided


def test_init_never_overwrites(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "intake.yaml").write_text("mine")
    code, _, err = run("init", str(target))
    assert code == 2 and "error[target_not_empty]" in err
    assert [p.name for p in target.iterdir()] == ["intake.yaml"] and (target / "intake.yaml").read_text() == "mine"
    assert run("init", str(tmp_path / "new" / "deeper"))[0] == 0  # a new folder may be nested


NOTE = "note: decided by the built-in example policies"


def test_the_example_policies_deciding_a_users_file_say_so_once(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    mine = tmp_path / "ours.csv"
    shutil.copy(ROOT / "examples" / "proposals.csv", mine)
    for command in (["evaluate", str(mine), "--no-log"], ["rank", str(mine)],
                    ["explain", str(mine), "--id", "PRJ-1006"]):
        code, _, err = run(*command)
        assert code in (0, 1) and err.count(NOTE) == 1, (command, err)
    assert NOTE not in run("evaluate", "examples/proposals.csv", "--no-log")[2]  # the shipped example data
    assert NOTE not in run("evaluate", str(mine), "--no-log", "--policies", "policies")[2]


def test_no_note_for_the_projects_examples_when_pmo_is_installed_elsewhere(tmp_path, monkeypatch):
    """Installed from the source tree (pip install .), the built-in policies live in site-packages, not beside
    examples/: the examples are still recognised as the project's own (found in CI's smoke run)."""
    import engine.policy.resources as resources
    installed = tmp_path / "site-packages" / "policies"
    shutil.copytree(ROOT / "policies", installed)
    monkeypatch.setattr(resources, "reference_policies", lambda: installed)
    monkeypatch.chdir(ROOT)
    assert NOTE not in run("evaluate", "examples/proposals.csv", "--no-log")[2]
    mine = tmp_path / "examples" / "ours.csv"  # an examples/ folder of the user's own: not the project's
    mine.parent.mkdir()
    shutil.copy(ROOT / "examples" / "proposals.csv", mine)
    assert NOTE in run("evaluate", str(mine), "--no-log")[2]
