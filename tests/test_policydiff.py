"""pmo diff: what a policy change does to the same proposals."""
import io
import json
import re
import shutil

import pytest

from engine.cli import main
from tests.conftest import ROOT


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def sound_proposals(budgets):
    """Proposals that only their budget can trouble: sponsored by an executive, aligned, benefit three times the
    budget, dated in 2027-2028, low risk; no cash flows, opex, personal data or vendor."""
    header = "id,title,sponsor,sponsor_level,alignment,category,budget,benefit,start_date,end_date,risk,complexity"
    rows = [f"PRJ-{i:04d},Project {i},Ann Lee,executive,grid-resilience:strong,efficiency,{b},{3 * b},"
            f"2027-06-01,2028-05-31,2,2" for i, b in enumerate(budgets, 1)]
    return "\n".join([header] + rows) + "\n"


def test_diff_reports_exactly_the_proposals_a_threshold_moves(tmp_path):
    new = shutil.copytree(ROOT / "policies", tmp_path / "new")
    intake = new / "intake.yaml"
    text = intake.read_text()
    old_cap = int(re.search(r"budget-cap\s+with: \{cap: ([\d_]+)\}", text)[1].replace("_", ""))
    new_cap = 6_000_000
    intake.write_text(text.replace(f"cap: {old_cap:_}", f"cap: {new_cap:_}"))
    budgets = [200_000, 900_000, 4_000_000, new_cap, new_cap + 1, 9_500_000, 15_000_000, old_cap, old_cap + 1]
    (tmp_path / "p.csv").write_text(sound_proposals(budgets))
    # the budget cap rejects budgets above it: these are the ones whose decision changes
    expected = [f"PRJ-{i:04d}" for i, b in enumerate(budgets, 1) if new_cap < b <= old_cap]
    assert len(expected) == 4

    code, out, _ = run("diff", str(ROOT / "policies"), str(new), str(tmp_path / "p.csv"), "--today", "2026-12-01",
                       "--format", "json")
    assert code == 0
    data = json.loads(out)
    changed = [c for c in data["changes"] if c["old"] != c["new"]]
    assert [c["id"] for c in changed] == expected
    assert all(c["new"] == "reject" and c["added"] == ["budget-cap"] and c["removed"] == [] for c in changed)
    assert data["counts"]["decisions"] == 4 and data["counts"]["findings_added"] == 4
    assert data["counts"]["findings_removed"] == 0
    assert data["summary"].startswith("4 decisions change: 4 review -> reject; 4 findings added, 0 removed")

    code, table, _ = run("diff", str(ROOT / "policies"), str(new), str(tmp_path / "p.csv"), "--today", "2026-12-01")
    rows = [line for line in table.splitlines() if line.startswith("| PRJ-")]
    assert [r.split("|")[1].strip() for r in rows if "-> **reject**" in r] == expected
    assert all("+ budget-cap" in r for r in rows if "-> **reject**" in r)
    assert "| proposal | decision | rank | score | findings |" in table


def test_identical_policies_change_nothing():
    code, out, _ = run("diff", str(ROOT / "policies"), str(ROOT / "policies"), str(ROOT / "examples" /
                       "proposals.csv"), "--today", "2026-12-01")
    assert code == 0
    assert "no decision changes; 0 findings added, 0 removed; 0 ranks move" in out and "| PRJ-" not in out


def test_a_broken_new_policy_is_a_usage_error():
    code, _, err = run("diff", str(ROOT / "policies"), str(ROOT / "examples" / "broken-policies"),
                       str(ROOT / "examples" / "proposals.csv"))
    assert code == 2 and "error[" in err


def test_the_same_file_given_twice_counts_twice():
    """Found in review: proposals were keyed by (file, row), so a repeated file was counted once."""
    out = io.StringIO()
    proposals = str(ROOT / "examples" / "proposals.csv")
    assert main(["diff", str(ROOT / "policies"), str(ROOT / "policies"), proposals, proposals, "--format", "json"],
                out, io.StringIO()) == 0
    assert json.loads(out.getvalue())["proposals"] == 106


def test_error_rows_under_both_versions_are_said_not_passed_off_as_no_change(tmp_path):
    # A file whose rows cannot be read (here: an export that needs its input profile) compares nothing; the diff
    # said "no decision changes" and exit 0 for a new rule that rejects everything.
    new = shutil.copytree(ROOT / "policies", tmp_path / "new")
    intake = new / "intake.yaml"
    intake.write_text(intake.read_text().replace("\nrules:\n", "\nrules:\n  - {id: reject-all, when: budget > 0, "
                                                 "effect: reject, reason: everything}\n", 1))
    (tmp_path / "p.csv").write_text(sound_proposals([200_000, 900_000]).replace(",200000,", ",200.000,")
                                    .replace(",900000,", ",900.000,"))
    code, out, err = run("diff", str(ROOT / "policies"), str(new), str(tmp_path / "p.csv"), "--today", "2026-12-01")
    assert code == 1, (out, err)
    assert "2 error rows under both versions" in out and "no decision changes" in out
    code, out, _ = run("diff", str(ROOT / "policies"), str(new), str(tmp_path / "p.csv"), "--today", "2026-12-01",
                       "--format", "json")
    assert code == 1 and json.loads(out)["counts"]["errors"] == 2


def test_diff_reads_an_export_through_its_input_profile(tmp_path):
    """Was: pmo diff had no --columns: a German export could not be diffed (every row an error row, or amounts
    misread), though pmo evaluate reads it with its profile. With --columns both versions read the rows as
    pmo evaluate does."""
    export, profile = ROOT / "examples" / "exports" / "servicenow-demands.csv", ROOT / "examples" / "exports" / "servicenow-de.yaml"
    new = shutil.copytree(ROOT / "policies", tmp_path / "new")
    intake = new / "intake.yaml"
    text = intake.read_text()
    old_cap = int(re.search(r"budget-cap\s+with: \{cap: ([\d_]+)\}", text)[1].replace("_", ""))
    intake.write_text(text.replace(f"cap: {old_cap:_}", "cap: 1_000_000"))
    code, out, err = run("diff", str(ROOT / "policies"), str(new), str(export), "--columns", str(profile),
                         "--today", "2026-12-01", "--format", "json")
    assert code in (0, 1), err
    diff = json.loads(out)
    evaluated = io.StringIO()
    main(["evaluate", str(export), "--columns", str(profile), "--today", "2026-12-01", "--no-log", "--format", "json"],
         stdout=evaluated, stderr=io.StringIO())
    decided = {d["id"]: d for d in json.loads(evaluated.getvalue())}
    errors = {i for i, d in decided.items() if d["decision"] == "error"}
    assert diff["proposals"] == len(decided) and diff["counts"]["errors"] == len(errors) < len(decided) // 2
    capped = {c["id"] for c in diff["changes"] if "budget-cap" in c["added"]}
    assert capped and not capped & errors


def _ranked(policies, proposals) -> dict[int, dict]:
    """The oracle: per input position, everything a proposal's outcome is (decision, rank, score, and each
    finding's rule, effect, route and reason), from pmo rank itself."""
    out = io.StringIO()
    main(["rank", str(proposals), "--policies", str(policies), "--today", "2026-12-01", "--format", "json"],
         stdout=out, stderr=io.StringIO())
    entries = json.loads(out.getvalue())["entries"]
    return {e["id"]: {"decision": e["decision"], "rank": e["rank"], "score": e["score"],
                      "findings": sorted((f["rule"], f["effect"], f["route"], f["reason"]) for f in e["findings"])}
            for e in entries}


EDITS = {  # one member of each class of change the diff used not to list (or to list in part)
    "a reason text only": ("intake.yaml", '"Benefit/cost ratio {benefit_cost_ratio} is marginal (below 1.5)"',
                           '"Benefit/cost ratio {benefit_cost_ratio} is below 1.5: marginal"'),
    "a weight: scores move, most ranks do not": ("scoring.yaml", "weight: 0.35", "weight: 0.36"),
    "an effect and a route together": ("intake.yaml", "    effect: review\n    route: Risk Committee\n",
                                       "    effect: flag\n    route: Board\n"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_diff_lists_every_proposal_whose_outcome_changes_with_before_and_after(tmp_path, edit):
    """Was: a change of a reason text alone, or of a score that moves no rank, was not listed ('no decision
    changes; 0 ranks move'); an effect and a route changed together showed the effect only."""
    name, old_text, new_text = EDITS[edit]
    new = shutil.copytree(ROOT / "policies", tmp_path / "new")
    text = (new / name).read_text()
    assert text.count(old_text) == 1
    (new / name).write_text(text.replace(old_text, new_text))
    proposals = ROOT / "examples" / "proposals.csv"
    before, after = _ranked(ROOT / "policies", proposals), _ranked(new, proposals)
    expected = sorted(i for i in before if before[i] != after[i])
    assert expected  # the edit changes something on these proposals
    code, out, _ = run("diff", str(ROOT / "policies"), str(new), str(proposals), "--today", "2026-12-01",
                       "--format", "json")
    changes = {c["id"]: c for c in json.loads(out)["changes"]}
    assert sorted(changes) == expected
    for i in expected:
        c, old, now = changes[i], before[i], after[i]
        assert (c["old"], c["new"], c["old_rank"], c["new_rank"]) == (old["decision"], now["decision"], old["rank"],
                                                                      now["rank"])
        if old["score"] != now["score"]:
            assert c["old_score"] != c["new_score"]  # shown with the places that tell them apart
            assert round(c["old_score"], 2) == round(old["score"], 2)
        for (rule, effect, route, reason) in old["findings"]:
            same = [f for f in now["findings"] if f[0] == rule]
            if same and same[0] != (rule, effect, route, reason):
                (line,) = [x for x in c["changed"] if x.startswith(f"{rule}: ")]
                _, effect2, route2, reason2 = same[0]
                for was, now_is in ((effect, effect2), (route, route2), (reason, reason2)):
                    if was != now_is:
                        assert f"{was}" in line and f"{now_is}" in line, line
    code, table, _ = run("diff", str(ROOT / "policies"), str(new), str(proposals), "--today", "2026-12-01")
    listed = [line.split("|")[1].strip() for line in table.splitlines()
              if line.startswith("| ") and not line.startswith(("| proposal ", "| --- "))]
    assert sorted(listed) == expected
