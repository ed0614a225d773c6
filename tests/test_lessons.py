"""pmo lessons: Spearman's rank correlation computed exactly (ties by average rank, checked against scipy and a
published example), exact permutation p-values, and the lessons of the example portfolio: finished projects,
their intake scores, gate decisions and overrides, as a table, JSON and an SVG chart."""
import io
import itertools
import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.health.evm import rounded
from engine.health.lessons import average_ranks, caveat_for, permutation_p, spearman

ROOT = Path(__file__).resolve().parent.parent
STATUS = sorted((ROOT / "examples" / "status").glob("status-*.csv"))
PROPOSALS = ROOT / "examples" / "proposals.csv"
TODAY = "2026-12-01"


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_average_ranks_share_ties():
    assert average_ranks([10, 20, 20, 30]) == [1, Fraction(5, 2), Fraction(5, 2), 4]
    assert average_ranks([3, 1, 2]) == [3, 1, 2]
    assert average_ranks([7, 7, 7]) == [2, 2, 2]
    assert average_ranks([]) == []


def test_spearman_on_a_published_example():
    """Wikipedia's worked example (IQ against hours of TV a week): rho = -29/165."""
    iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
    tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]
    rho, why = spearman(iq, tv)
    assert why is None and rho == Decimal("-0.175757575757576")  # -29/165 at 15 significant digits


def test_spearman_with_ties_is_pearson_of_average_ranks_not_the_d_squared_shortcut():
    scipy_stats = pytest.importorskip("scipy.stats")
    xs, ys = [1, 2, 2, 3, 4, 4, 4], [2, 1, 3, 3, 5, 4, 4]
    rho, _ = spearman(xs, ys)
    assert float(rho) == pytest.approx(scipy_stats.spearmanr(xs, ys).statistic, abs=1e-14)
    # the shortcut 1 - 6 sum d^2 / (n (n^2 - 1)) differs when there are ties
    rx, ry = average_ranks(xs), average_ranks(ys)
    shortcut = 1 - 6 * sum((a - b) ** 2 for a, b in zip(rx, ry)) / Fraction(7 * 48)
    assert Decimal(shortcut.numerator) / shortcut.denominator != rho


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=2, max_size=30))
def test_spearman_agrees_with_scipy(pairs):
    scipy_stats = pytest.importorskip("scipy.stats")
    xs, ys = [a for a, _ in pairs], [b for _, b in pairs]
    rho, why = spearman(xs, ys)
    if len(set(xs)) == 1 or len(set(ys)) == 1:
        assert rho is None and "same" in why
        return
    assert float(rho) == pytest.approx(scipy_stats.spearmanr(xs, ys).statistic, abs=1e-12)
    assert -1 <= rho <= 1


def test_perfect_and_undefined_correlations():
    assert spearman([1, 2, 3], [10, 20, 30]) == (Decimal(1), None)
    assert spearman([1, 2, 3], [3, 2, 1]) == (Decimal(-1), None)
    rho, why = spearman([5], [1])
    assert rho is None and "at least 2" in why
    rho, why = spearman([1, 1, 1], [1, 2, 3])
    assert rho is None and "same score" in why
    with pytest.raises(ValueError):
        spearman([1, 2], [1])


def test_exact_permutation_p_value():
    scipy_stats = pytest.importorskip("scipy.stats")
    xs, ys = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    observed = abs(scipy_stats.spearmanr(xs, ys).statistic)
    hits = sum(bool(abs(scipy_stats.spearmanr(xs, list(p)).statistic) >= observed - 1e-12)
               for p in itertools.permutations(ys))
    assert permutation_p(xs, ys) == rounded(Fraction(hits, 120))
    assert permutation_p([1, 2, 3, 4], [1, 2, 3, 4]) == rounded(Fraction(2, 24))  # only the two perfect orderings
    assert permutation_p(list(range(9)), list(range(9))) is None  # above the exact limit
    assert caveat_for(5) and caveat_for(10) is None


@pytest.fixture(scope="module")
def gate_log(tmp_path_factory):
    """A decision log with the example gate decisions: TWIN's business case overridden, BILLING killed."""
    log = tmp_path_factory.mktemp("lessons") / "log.sqlite"
    code, _, err = run("gate", ROOT / "examples" / "projects" / "override.yaml", "--gate", "business-case",
                       "--override-role", "steering-committee", "--justification", "Enables the 2028 grid plan",
                       "--log", log, "--today", TODAY)
    assert code == 0, err
    code, out, err = run("gate", ROOT / "examples" / "projects" / "billing-kill.yaml", "--gate", "delivery-review",
                         "--log", log, "--today", "2027-06-30")
    assert code == 0 and "KILL" in out, err
    return log


def test_lessons_of_the_example_portfolio(gate_log, tmp_path):
    chart = tmp_path / "lessons.svg"
    code, out, err = run("lessons", *STATUS, "--proposals", PROPOSALS, "--log", gate_log, "--format", "json",
                         "--chart", chart, "--today", TODAY)
    assert code == 0, err
    found = json.loads(out)
    projects = {p["project"]: p for p in found["projects"]}
    assert set(projects) == {"BILLING", "CLOUD", "CRM", "MOBILE", "OUTAGE", "TWIN"}  # closed or killed
    assert sorted(found["still_running"]) == ["DATACENTRE", "METERS", "PORTAL"]
    assert projects["BILLING"]["state"] == "killed" and projects["BILLING"]["benefit_cost"] == 0
    assert [g["outcome"] for g in projects["BILLING"]["gates"]] == ["kill"]
    # the final cost and CPI are pmo health's at the project's last report
    code, out, _ = run("health", *STATUS, "--format", "json", "--today", TODAY)
    health = {e["project"]: e for e in json.loads(out)}
    for name, p in projects.items():
        assert (p["final_cost"], p["cpi"], p["finished"]) == (health[name]["ac"], health[name]["cpi"],
                                                              health[name]["status_date"])
    # the scores are pmo rank's
    code, out, _ = run("rank", PROPOSALS, "--format", "json", "--today", TODAY)
    scores = {e["id"]: e["score"] for e in json.loads(out)["entries"]}
    for p in projects.values():
        assert p["score"] == scores.get(p["proposal"])
    # TWIN was rejected at intake and overridden at its business case: listed, not correlated
    assert projects["TWIN"]["score"] is None and "reject" in projects["TWIN"]["unscored"]
    assert [o["project"] for o in found["overrides"]] == ["TWIN"]
    assert found["overrides"][0]["gates"][0]["override"]["role"] == "steering-committee"
    # the correlations are Spearman's of the listed figures, with n and the small-n caveat
    scipy_stats = pytest.importorskip("scipy.stats")
    for c, name in zip(found["correlations"], ("benefit_cost", "cpi")):
        pairs = [(p["score"], p[name]) for p in projects.values() if p["score"] is not None]
        assert c["n"] == len(pairs) == 5 and c["caveat"]
        assert c["rho"] == pytest.approx(scipy_stats.spearmanr(*zip(*pairs)).statistic, abs=1e-14)
        assert 0 < c["p_value"] <= 1 and c["p_method"] == "exact permutation, two-sided"
    # the chart: an SVG with a point per scored project in each panel
    svg = ET.parse(chart).getroot()
    circles = svg.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 10 and {c.get("data-project") for c in circles} == set(projects) - {"TWIN"}
    assert f"rho = {found['correlations'][0]['rho']:.2f}" in chart.read_text(encoding="utf-8")


def test_lessons_table_and_what_is_missing(tmp_path, gate_log):
    code, out, err = run("lessons", *STATUS, "--proposals", PROPOSALS, "--log", gate_log, "--today", TODAY)
    assert code == 0, err
    assert "Spearman rank correlation" in out and "n = 5" in out and "caveat:" in out
    assert "overridden by steering-committee" in out and "still running" in out
    # money in whole units; a project that planned no benefits says so instead of "0.00 of -"
    billing = next(line for line in out.splitlines() if line.startswith("BILLING"))
    assert "  0 (none planned)" in billing and "0.00 of" not in billing and " of -" not in billing
    assert "192,500 of 175,000" in out
    # without --proposals: every finished project is listed, none is correlated, and the table says why
    code, out, err = run("lessons", *STATUS, "--format", "json", "--today", TODAY)
    assert code == 0 and "--proposals" in err
    found = json.loads(out)
    assert all(p["unscored"] == "no intake ranking given (--proposals)" for p in found["projects"])
    assert all(c["rho"] is None and c["n"] == 0 for c in found["correlations"])
    # --as-of: what had finished by then (September: CRM and MOBILE closed, BILLING killed)
    code, out, err = run("lessons", *STATUS, "--proposals", PROPOSALS, "--as-of", "2027-09-30", "--format", "json",
                         "--today", TODAY)
    assert code == 0, err
    found = json.loads(out)
    assert sorted(p["project"] for p in found["projects"]) == ["BILLING", "CRM", "MOBILE"]
    assert [c["n"] for c in found["correlations"]] == [3, 3]
    # a log that is not there is an error, not a new empty log
    code, _, err = run("lessons", *STATUS, "--log", tmp_path / "nope.sqlite", "--today", TODAY)
    assert code == 2 and "no decision log" in err and not (tmp_path / "nope.sqlite").exists()
