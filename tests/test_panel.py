"""Rater panels: combining several raters' scores of a criterion, disagreement, assessment files and outputs."""
import datetime as dt
import json
from decimal import Decimal
from fractions import Fraction

import pytest

from engine.api import Engine
from engine.compile.scoring import PanelSpec
from engine.scoring.panel import Assessments, Rating, checked, combine, median, read_assessments, trimmed_mean
from tests.conftest import ROOT

TODAY = dt.date(2026, 12, 1)
PANEL = ROOT / "examples" / "panel"


def spec(combine="mean", trim="0.2", roles=None, min_raters=1, spread=None, outlier=None, low=1, high=5):
    return PanelSpec(combine, Fraction(trim), {k: Fraction(v) for k, v in (roles or {}).items()}, min_raters,
                     None if spread is None else Fraction(spread), None if outlier is None else Fraction(outlier),
                     Fraction(low), Fraction(high))


def ratings(*scores, roles=None):
    roles = roles or ["pmo"] * len(scores)
    return [Rating("P-1", f"R{i}", role, "fit", Decimal(str(s)), row=i + 2) for i, (s, role) in
            enumerate(zip(scores, roles))]


@pytest.mark.parametrize(("method", "scores", "expected"), [
    ("mean", (1, 3, 4, 5, 5), Fraction(18, 5)),
    ("mean", (2, 3), Fraction(5, 2)),
    ("median", (1, 3, 4, 5, 5), Fraction(4)),
    ("median", (1, 2, 4, 5), Fraction(3)),  # an even count: the mean of the two middle scores
    ("median", ("2.5",), Fraction(5, 2)),
    ("trimmed-mean", (1, 3, 4, 5, 5), Fraction(4)),  # 0.2 of 5: one cut at each end -> 3, 4, 5
    ("trimmed-mean", (1, 4, 4, 5), Fraction(7, 2)),  # 0.2 of 4 is 0.8: nothing cut
    ("trimmed-mean", (1, 2, 3, 4, 5, 5, 5, 5, 5, 1), Fraction(4)),  # 0.2 of 10: two cut at each end -> 2..5
])
def test_each_combine_method_exactly(method, scores, expected):
    result = combine(spec(method), "fit", ratings(*scores))
    assert result.score == expected and result.spread == max(map(Fraction, map(str, scores))) - min(
        map(Fraction, map(str, scores)))


def test_weighted_by_role():
    result = combine(spec("weighted", roles={"architect": 2, "finance": 1, "pmo": "0.5"}), "fit",
                     ratings(4, 2, 5, roles=["architect", "finance", "pmo"]))
    assert result.score == Fraction(4 * 2 + 2 * 1 + 5 * Fraction(1, 2)) / Fraction(7, 2)  # 25/7
    assert result.score == Fraction(25, 7)


def test_trimmed_mean_and_median_helpers():
    assert trimmed_mean([Fraction(x) for x in (9, 1, 5)], Fraction(1, 3)) == 5
    assert median([Fraction(x) for x in (3, 1, 2)]) == 2


def test_spread_over_the_threshold_needs_attention_and_at_the_threshold_does_not():
    over = combine(spec(spread=2), "fit", ratings(2, 3, 5))
    at = combine(spec(spread=2), "fit", ratings(3, 3, 5))
    assert over.spread == 3 and over.attention == ["spread 3 is over 2"] and over.disagreed == []
    assert at.spread == 2 and at.attention == []


def test_one_rater_far_from_the_median_of_the_others():
    result = combine(spec(outlier="1.5"), "fit", ratings(4, 4, 5, 1))
    # R3: |1 - median(4, 4, 5)| = 3 > 1.5; R2: |5 - median(4, 4, 1)| = 1; R0, R1: |4 - median(4, 5, 1)| = 0
    assert result.disagreed == ["R3"]
    assert result.attention == ["R3 scored 1, the others' median is 4"]
    exactly = combine(spec(outlier="1.5"), "fit", ratings(4, 4, "2.5"))  # |2.5 - 4| = 1.5: not more than 1.5
    assert exactly.disagreed == []


def test_the_outlier_rule_needs_three_raters():
    assert combine(spec(outlier=1), "fit", ratings(1, 5)).disagreed == []


def test_too_few_raters_leave_the_criterion_missing():
    result = combine(spec(min_raters=3), "fit", ratings(4, 5))
    assert result.score is None and result.attention == ["2 rating(s), 3 needed"]
    assert combine(spec(), "fit", []).score is None


def _engine():
    return Engine.load(PANEL / "policies", today=TODAY, backend="reference")


def _decided(engine):
    from engine.io.readers import read_proposals
    return list(engine.decide_all(read_proposals(PANEL / "proposals.csv")))


def test_bad_rows_are_error_rows_with_their_column(tmp_path):
    path = tmp_path / "assessments.csv"
    path.write_text("proposal,rater,role,criterion,score,comment\n"
                    "INN-001,Ana,architect,strategic-fit,4,fine\n"
                    "INN-001,Ana,architect,strategic-fit,5,again\n"  # the same rater twice
                    "INN-001,Ben,finance,strategic-fti,4,\n"  # a misspelt criterion
                    "INN-001,Ben,finance,cost,4,\n"  # a criterion without a panel
                    "INN-001,Ben,finance,strategic-fit,6,\n"  # outside the scale 1..5
                    "INN-001,Ben,cfo,feasibility,3,\n"  # a role without a weight (combine: weighted)
                    "INN-009,Ben,finance,strategic-fit,3,\n"  # a proposal not in the input
                    "INN-001,Ben,finance,strategic-fit,high,\n"  # not a number
                    "INN-001,,finance,strategic-fit,3,\n", encoding="utf-8")  # no rater
    engine = _engine()
    ranking = engine.rank_of(_decided(engine), assessments=read_assessments([path]))
    errors = [(e.row, e.errors[0].code, e.errors[0].column) for e in ranking.assessment_errors]
    assert errors == [(3, "duplicate_rating", "rater"), (4, "unknown_criterion", "criterion"),
                      (5, "not_a_panel", "criterion"), (6, "out_of_scale", "score"), (7, "unknown_role", "role"),
                      (8, "unknown_proposal", "proposal"), (9, "bad_value", "score"),
                      (10, "missing_value", "rater")]
    assert "did you mean 'strategic-fit'?" in ranking.assessment_errors[1].errors[0].message
    entry = next(e for e in ranking.entries if e.id == "INN-001")
    [fit] = [p for p in entry.panel if p.criterion == "strategic-fit"]
    assert [r.score for r in fit.ratings] == [4]  # only the good row is combined


def test_rank_with_the_example_assessments():
    engine = _engine()
    ranking = engine.rank_of(_decided(engine), assessments=read_assessments([PANEL / "assessments.csv"]))
    assert ranking.assessment_errors == []
    by_id = {e.id: e for e in ranking.entries}
    fit = {p.criterion: p for p in by_id["INN-003"].panel}["strategic-fit"]
    assert fit.score == 4 and fit.spread == 4 and fit.disagreed == ["Ben"]  # trimmed mean of 1, 4, 4, 5
    feasibility = {p.criterion: p for p in by_id["INN-003"].panel}["feasibility"]
    assert feasibility.score == Fraction(29, 6)  # (2*5 + 4 + 5 + 2*5) / 6
    contribution = {c.criterion: c for c in by_id["INN-003"].breakdown}
    assert contribution["strategic-fit"].raw == 4 and contribution["strategic-fit"].normalised == 0.75
    assert contribution["feasibility"].raw == pytest.approx(29 / 6)
    five = {p.criterion: p for p in by_id["INN-005"].panel}["strategic-fit"]
    assert five.score is None and contribution is not None  # two ratings, three needed: scored as missing
    assert {c.criterion: c.raw for c in by_id["INN-005"].breakdown}["strategic-fit"] is None
    data = ranking.to_json()
    [entry] = [e for e in data["entries"] if e["id"] == "INN-003"]
    panel = {p["criterion"]: p for p in entry["panel"]}
    assert panel["strategic-fit"]["disagreed"] == ["Ben"] and panel["strategic-fit"]["spread"] == 4
    assert [r["rater"] for r in panel["strategic-fit"]["ratings"]] == ["Ana", "Ben", "Chloe", "Dev"]
    assert data["assessment_errors"] == []


def test_without_assessments_panel_criteria_are_missing_and_the_json_is_as_before():
    engine = _engine()
    data = engine.rank_of(_decided(engine)).to_json()
    assert "assessment_errors" not in data and all("panel" not in e for e in data["entries"])


def test_cli_rank_table_and_json(capsys):
    from engine.cli import main
    argv = ["rank", str(PANEL / "proposals.csv"), "--policies", str(PANEL / "policies"), "--assessments",
            str(PANEL / "assessments.csv"), "--today", TODAY.isoformat()]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "! panel strategic-fit 4 (trimmed-mean of 4, spread 4); spread 4 is over 2; Ben scored 1" in out
    assert main(argv + ["--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["entries"][0]["id"] == "INN-003" and data["entries"][0]["panel"][0]["disagreed"] == ["Ben"]
    assert main(argv + ["--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "strategic-fit (spread)" in header and "strategic-fit (disagreed)" in header


def test_cli_rank_reports_bad_assessment_rows(tmp_path, capsys):
    from engine.cli import main
    path = tmp_path / "a.csv"
    path.write_text("proposal,rater,role,criterion,score\nINN-001,Ana,architect,strategic-fit,9\n", encoding="utf-8")
    code = main(["rank", str(PANEL / "proposals.csv"), "--policies", str(PANEL / "policies"), "--assessments",
                 str(path), "--today", TODAY.isoformat()])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{path}:2: error[out_of_scale]: score 9 is outside the scale of 'strategic-fit', 1 to 5" in err


def test_assessments_from_xlsx(tmp_path):
    from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    sheet.append(["Proposal", "Rater", "Role", "Criterion", "Score", "Comment"])
    sheet.append(["INN-001", "Ana", "architect", "strategic-fit", 4, "ok"])
    sheet.append(["INN-001", "Ben", "finance", "strategic-fit", 2.5, None])
    book.save(tmp_path / "a.xlsx")
    found = read_assessments([tmp_path / "a.xlsx"])
    assert [(r.rater, r.score) for r in found.ratings] == [("Ana", 4), ("Ben", Decimal("2.5"))]


def test_explain_lists_each_raters_score(capsys):
    from engine.cli import main
    code = main(["explain", str(PANEL / "proposals.csv"), "--id", "INN-003", "--policies", str(PANEL / "policies"),
                 "--assessments", str(PANEL / "assessments.csv"), "--today", TODAY.isoformat()])
    out = capsys.readouterr().out
    assert code == 0
    assert "Panel strategic-fit 4 (trimmed-mean of 4, spread 4)" in out
    assert "! Ben              finance           1  No business case for chatbots" in out
    engine = _engine()
    explained = engine.explain({"id": "INN-003", "title": "x", "budget": "90000"},
                               assessments=read_assessments([PANEL / "assessments.csv"])).to_json()
    assert [r["score"] for r in explained["score"]["panel"][0]["ratings"]] == [4, 1, 5, 4]


def test_explain_with_assessments_of_an_unreadable_row_is_its_error():
    """A reader's error row has no fields (a JSONL line that is no object): explained with the ratings given, it is
    the error decision, as without them (it raised TypeError looking for the row's id)."""
    from engine.decision import RowError
    from engine.io.readers import Row
    bad = Row(None, 3, "proposals.jsonl", RowError(row=3, code="not_an_object", message="expected an object"))
    explained = _engine().explain(bad, assessments=read_assessments([PANEL / "assessments.csv"]))
    assert explained.decision.decision == "error"
    assert [e.code for e in explained.decision.errors] == ["not_an_object"]


def test_report_has_a_self_contained_disagreement_chart(tmp_path):
    from engine.report.build import render
    engine = _engine()
    decided = _decided(engine)
    ranking = engine.rank_of(decided, assessments=read_assessments([PANEL / "assessments.csv"]))
    page = render(engine.report_of(decided, ranking=ranking))
    start = page.index('class="panel"')
    chart = page[start:page.index("</svg>", start)]
    assert "Rater disagreement" in page and "! INN-003 strategic-fit" in chart
    assert chart.count("<circle") == sum(len(p.ratings) for e in ranking.entries for p in e.panel)
    assert chart.count('fill="#c62828"') >= 2  # Ben's dot and the row's label
    assert "http" not in chart  # nothing outside the file


def test_panel_policy_errors(tmp_path):
    import shutil

    from engine.authoring.check import check_policies
    folder = tmp_path / "policies"
    shutil.copytree(PANEL / "policies", folder)
    scoring = (folder / "scoring.yaml").read_text(encoding="utf-8")
    (folder / "scoring.yaml").write_text(scoring.replace("      roles: {architect: 2, finance: 1, pmo: 1}\n", "")
                                         .replace("    scale: {min: 1, max: 5}\n    weight: 0.4\n", "    weight: 0.4\n"),
                                         encoding="utf-8")
    found = [(d.code, d.location.line) for d in check_policies(folder, today=TODAY).diagnostics]
    assert found == [("missing_key", 11), ("missing_key", 20)]  # no scale; weighted without roles


def test_checked_keeps_input_order_of_errors():
    a = Assessments(ratings=ratings(9, 3))
    from engine.compile.scoring import ScoredCriterion
    crit = ScoredCriterion("fit", "fit", 1.0, None, "fixed", "higher", 1, 5, 0.0, "x", panel=spec())
    out = checked(a, [crit])
    assert [r.score for r in out.ratings] == [3] and out.errors[0].errors[0].code == "out_of_scale"
