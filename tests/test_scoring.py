"""Scoring and ranking: breakdowns, normalisation, bands, WSJF and RICE, tie-breaks, sensitivity."""
import json

import numpy as np
import pytest

from engine import Engine, PolicyError, read_proposals, validate
from engine.cli import main
from engine.scoring.sensitivity import top_probability, weight_changes
from tests.conftest import ROOT, TODAY

INTAKE = """kind: intake
fields:
  id: string
  value: number
  cost: number
  size: number
  tag: string
  reach: number
  impact: number
  confidence: number
  effort: number
  tc: number
  rr: number
rules:
  - {id: no-cost, when: cost == 0, effect: reject, reason: "Cost must not be zero"}
"""


def ranked(engine, proposals, **kw):
    return [(e.id, round(e.score, 6) if e.score is not None else None) for e in engine.rank(proposals, **kw).entries]


def test_reference_ranking_breakdowns_sum_to_the_score(capsys):
    assert main(["rank", str(ROOT / "examples" / "proposals.csv"), "--format", "json", "--today", "2026-12-01"]) == 0
    data = json.loads(capsys.readouterr().out)
    entries = data["entries"]
    ranked_entries = [e for e in entries if e["rank"] is not None]
    assert [e["rank"] for e in ranked_entries] == list(range(1, len(ranked_entries) + 1))
    for e in ranked_entries:
        assert sum(c["contribution"] for c in e["breakdown"]) == e["score"]
        assert {c["criterion"] for c in e["breakdown"]} == set(data["weights"])
    scores = [e["score"] for e in ranked_entries]
    assert scores == sorted(scores, reverse=True)
    # rejected proposals follow the ranked ones, with their reason; nothing is dropped
    rest = entries[len(ranked_entries):]
    assert rest and all(e["rank"] is None and e["decision"] == "reject" and e["reason"] for e in rest)
    assert len(entries) == 53
    assert abs(sum(data["weights"].values()) - 1) < 1e-12


def test_alignment_is_the_weighted_sum_over_objectives(engines):
    engine = engines["reference"]
    weights = engine.policy.strategy.weights.values
    record = engine._intake.decide_record({"id": "A", "title": "t", "alignment": "net-zero:strong; grid-resilience:0.5"})[1]
    expected = 0.75 * weights["net-zero"] + 0.5 * weights["grid-resilience"]
    assert abs(float(record["alignment"]) - expected) < 1e-12
    assert record["alignment"].parts == pytest.approx({"net-zero": 0.75 * weights["net-zero"],
                                                       "grid-resilience": 0.5 * weights["grid-resilience"]})
    bad = engine.evaluate({"id": "B", "title": "t", "alignment": "net-zro:strong"})
    assert bad.decision == "error" and bad.errors[0].column == "alignment"
    assert "did you mean 'net-zero'?" in bad.errors[0].message


def scoring_engine(write_policy, scoring: str) -> Engine:
    return Engine.load(write_policy({"intake.yaml": INTAKE, "scoring.yaml": scoring}), today=TODAY)


def test_normalisation_direction_and_missing(write_policy):
    engine = scoring_engine(write_policy, """kind: scoring
criteria:
  - {id: value, field: value, scale: {min: 0, max: 10}, weight: 2}
  - {id: cost, field: cost, normalise: minmax, direction: lower, missing: 0.5, weight: 1}
  - {id: tag, lookup: {of: tag, table: {a: 3, b: 1}}, weight: 1}
""")
    ranking = engine.rank([{"id": "P1", "value": 5, "cost": 10, "tag": "a"}, {"id": "P2", "value": 20, "cost": 30},
                           {"id": "P3", "value": -1, "tag": "b"}, {"id": "P4", "value": 1, "cost": 0}])
    assert ranking.weights == {"value": 0.5, "cost": 0.25, "tag": 0.25}
    by_id = {e.id: e for e in ranking.entries}
    p1 = {c.criterion: c for c in by_id["P1"].breakdown}
    assert (p1["value"].normalised, p1["cost"].normalised, p1["tag"].normalised) == (0.5, 1.0, 1.0)
    p2 = {c.criterion: c for c in by_id["P2"].breakdown}
    assert (p2["value"].normalised, p2["cost"].normalised, p2["tag"].normalised) == (1.0, 0.0, 0.0)  # clipped; worst
    p3 = {c.criterion: c for c in by_id["P3"].breakdown}
    assert (p3["value"].normalised, p3["cost"].normalised, p3["cost"].raw) == (0.0, 0.5, None)  # missing -> 0.5
    assert by_id["P1"].score == 25 + 25 + 25  # 0.5*0.5 + 0.25*1 + 0.25*1, out of 100
    assert by_id["P4"].rank is None and by_id["P4"].reason == "reject: Cost must not be zero"


def test_bands_and_tie_breaks(write_policy):
    engine = scoring_engine(write_policy, """kind: scoring
criteria:
  - id: size
    bands:
      of: size
      ranges:
        - {below: 10, points: 3}
        - {from: 10, below: 100, points: 2}
        - {from: 100, points: 1}
    weight: 1
tie_breaks:
  - {by: value, order: desc}
""")
    proposals = [{"id": "D", "size": 10, "value": 1}, {"id": "C", "size": 99, "value": 1},
                 {"id": "B", "size": 50, "value": 2}, {"id": "A", "size": 5}, {"id": "E", "size": 100}]
    order = [(e.id, e.score) for e in engine.rank(proposals).entries]
    # A: 3 points (top); B, C, D: 2 points, B wins on value, C before D by id; E: 1 point (0)
    assert order == [("A", 100.0), ("B", 50.0), ("C", 50.0), ("D", 50.0), ("E", 0.0)]


@pytest.mark.parametrize("ranges, code, line", [
    ("[{below: 10, points: 1}, {from: 20, points: 2}]", "band_gap", 7),
    ("[{below: 10, points: 1}, {from: 5, points: 2}]", "band_overlap", 7),
    ("[{from: 10, below: 5, points: 1}]", "bad_band", 7),
])
def test_band_gaps_and_overlaps_are_refused(write_policy, ranges, code, line):
    root = write_policy({"intake.yaml": INTAKE, "scoring.yaml": f"""kind: scoring
criteria:
  - id: size
    weight: 1
    bands:
      of: size
      ranges: {ranges}
"""})
    found = [(d.code, d.location.line) for d in validate(root, today=TODAY) if d.severity == "error"]
    assert found == [(code, line)]


def test_weights_not_summing_to_one(write_policy):
    scoring = "kind: scoring\nweights: {mode}\ncriteria:\n  - {{id: v, field: value, scale: {{min: 0, max: 1}}, weight: 3}}\n" \
              "  - {{id: c, field: cost, scale: {{min: 0, max: 1}}, weight: 1}}\n"
    root = write_policy({"intake.yaml": INTAKE, "scoring.yaml": scoring.format(mode="normalise")})
    notes = validate(root, today=TODAY)
    assert [(d.code, d.severity) for d in notes] == [("weights_normalised", "warning")]
    assert Engine.load(root, today=TODAY).policy.scoring.weights == {"v": 0.75, "c": 0.25}
    strict = write_policy({"intake.yaml": INTAKE, "scoring.yaml": scoring.format(mode="strict")}, "strict")
    with pytest.raises(PolicyError) as info:
        Engine.load(strict, today=TODAY)
    assert info.value.diagnostics[0].code == "weights_not_normalised"


def test_criteria_weights_from_comparisons(write_policy):
    engine = scoring_engine(write_policy, """kind: scoring
comparisons:
  judgements:
    v: {c: 3}
criteria:
  - {id: v, field: value, scale: {min: 0, max: 1}}
  - {id: c, field: cost, scale: {min: 0, max: 1}}
""")
    assert engine.policy.scoring.weights == pytest.approx({"v": 0.75, "c": 0.25})


def test_inconsistent_comparisons_can_be_an_error(write_policy):
    root = write_policy({"intake.yaml": INTAKE, "scoring.yaml": """kind: scoring
comparisons:
  inconsistent: error
  judgements:
    a: {b: 9, c: "1/9"}
    b: {c: 9}
criteria:
  - {id: a, field: value, scale: {min: 0, max: 1}}
  - {id: b, field: cost, scale: {min: 0, max: 1}}
  - {id: c, field: size, scale: {min: 0, max: 1}}
"""})
    [diagnostic] = validate(root, today=TODAY)
    assert diagnostic.code == "inconsistent_comparisons" and "CR = " in diagnostic.message


def test_wsjf_worked_example(write_policy):
    # beginpm.com, "What is WSJF in agile": Task A (100 + 50 + 20) / 10 = 17; Task B (80 + 30 + 10) / 5 = 24.
    engine = scoring_engine(write_policy, """kind: scoring
method: wsjf
wsjf: {business_value: value, time_criticality: tc, risk_reduction: rr, job_size: size}
""")
    ranking = engine.rank([{"id": "A", "value": 100, "tc": 50, "rr": 20, "size": 10},
                           {"id": "B", "value": 80, "tc": 30, "rr": 10, "size": 5}, {"id": "C", "value": 1}])
    assert [(e.id, e.score) for e in ranking.entries] == [("B", 24.0), ("A", 17.0), ("C", None)]
    a = ranking.entries[1]
    assert [c.contribution for c in a.breakdown] == [10.0, 5.0, 2.0, None]
    assert sum(c.contribution for c in a.breakdown if c.contribution is not None) == a.score
    assert ranking.entries[2].reason == "not scored: time_criticality, risk_reduction and job_size are missing"


def test_rice_worked_examples(write_policy):
    # unifiedproductgraph.org "RICE scoring": Template Library 5*3*4/1 = 60, Export to PDF 50, AI Copilot 30,
    # Custom Dashboards 6, Real-time Collab 4.8. Intercom's onboarding example: 5000 * 2 * 0.8 / 2 = 4000.
    engine = scoring_engine(write_policy, """kind: scoring
method: rice
rice: {reach: reach, impact: impact, confidence: confidence, effort: effort}
""")
    rows = [("Template Library", 5, 3, 4, 1), ("Export to PDF", 5, 2, 5, 1), ("AI Copilot", 4, 5, 3, 2),
            ("Custom Dashboards", 2, 4, 3, 4), ("Real-time Collab", 3, 4, 2, 5), ("Onboarding", 5000, 2, "80%", 2)]
    proposals = [dict(zip(("id", "reach", "impact", "confidence", "effort"), row)) for row in rows]
    assert ranked(engine, proposals) == [("Onboarding", 4000.0), ("Template Library", 60.0), ("Export to PDF", 50.0),
                                         ("AI Copilot", 30.0), ("Custom Dashboards", 6.0), ("Real-time Collab", 4.8)]


def sensitivity_case(seed: int, n: int = 40, k: int = 4):
    rng = np.random.default_rng(seed)
    x = rng.random((n, k))
    w = rng.random(k) + 0.1
    return x, w / w.sum()


def rank_of(x, w, p):
    s = x @ w
    return int(np.count_nonzero(s > s[p])) + 1


@pytest.mark.parametrize("seed", range(8))
def test_single_weight_change_really_moves_a_proposal_out(seed):
    x, w = sensitivity_case(seed)
    top = 5
    order = np.argsort(-(x @ w), kind="stable")
    for p, change in zip(order[:top], weight_changes(x, w, order, top)):
        if change is None:
            continue
        i = change.criterion

        def with_weight(new, i=i):
            v = w * (1 - new) / (1 - w[i])  # rescale the others so the weights sum to 1
            v[i] = new
            return v
        step = 1e-6 * np.sign(change.new_weight - change.weight)
        assert rank_of(x, with_weight(change.new_weight + step), p) > top  # just beyond: out
        assert rank_of(x, with_weight(change.new_weight - step), p) <= top  # just short: still in


def test_top_probability_is_a_share_of_samples():
    x, w = sensitivity_case(3, n=200)
    p = top_probability(x, w, top=10, perturbation=0.2, samples=500, seed=1)
    assert p.shape == (200,) and np.isclose(p.sum(), 10)  # each sample has exactly ten in its top ten
    assert np.array_equal(top_probability(x, w, 10, 0.2, 500, 1), p)  # the seed makes it reproducible
    tiny = top_probability(x, w, top=10, perturbation=1e-9, samples=50, seed=1)
    assert set(np.nonzero(tiny)[0]) == set(np.argsort(-(x @ w))[:10])


def test_rank_with_sensitivity_from_the_cli(capsys):
    code = main(["rank", str(ROOT / "examples" / "proposals.csv"), "--sensitivity", "--top", "5", "--format", "json",
                 "--today", "2026-12-01"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["top"] == 5 and data["sensitivity"]["samples"] == 1000
    ranked_entries = [e for e in data["entries"] if e["rank"] is not None]
    assert all(e["top_probability"] is not None for e in ranked_entries)
    assert abs(sum(e["top_probability"] for e in ranked_entries) - 5) < 1e-9


def test_rank_table_and_csv(capsys, tmp_path):
    assert main(["rank", str(ROOT / "examples" / "proposals.csv"), "--today", "2026-12-01"]) == 0
    table = capsys.readouterr().out
    assert "RANK  PROPOSAL" in table and "Not ranked:" in table and "─ top 10 ─" in table
    out = tmp_path / "rank.csv"
    assert main(["rank", str(ROOT / "examples" / "proposals.csv"), "--format", "csv", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("rank,id,decision,score") and len(lines) == 54


def test_rank_without_scoring_policy_is_a_usage_error(write_policy, capsys):
    root = write_policy({"intake.yaml": INTAKE})
    path = ROOT / "examples" / "proposals.csv"
    assert main(["rank", str(path), "--policies", str(root)]) == 2
    assert "no scoring policy" in capsys.readouterr().err


def test_rank_reads_rows_from_files(engines):
    ranking = engines["rete"].rank(read_proposals(ROOT / "examples" / "messy_proposals.csv"))
    assert len(ranking.entries) == 7
    assert [e.decision for e in ranking.entries if e.rank is None].count("error") == 4


def test_comparison_errors_point_at_the_cell_and_list_every_conflict(write_policy):
    root = write_policy({"intake.yaml": INTAKE, "scoring.yaml": """kind: scoring
comparisons:
  matrix:
    - [1, 3]
    - [3, 1]
criteria:
  - {id: a, field: value, scale: {min: 0, max: 1}}
  - {id: b, field: cost, scale: {min: 0, max: 1}}
tie_breaks:
  - {by: a}
"""})
    found = [(d.code, d.location.line, d.location.column) for d in validate(root, today=TODAY)]
    assert found == [("bad_comparisons", 5, 8)]  # the cell that is not the reciprocal; no follow-on errors
    both = write_policy({"intake.yaml": INTAKE, "scoring.yaml": """kind: scoring
comparisons: {judgements: {a: {b: 2}}}
criteria:
  - {id: a, field: value, scale: {min: 0, max: 1}, weight: 1}
  - {id: b, field: cost, scale: {min: 0, max: 1}, weight: 1}
"""}, "both")
    assert [d.code for d in validate(both, today=TODAY)] == ["conflicting_weights"] * 2


def test_pmo_rank_shows_policy_warnings(write_policy, capsys):
    root = write_policy({"intake.yaml": INTAKE, "scoring.yaml": """kind: scoring
criteria:
  - {id: a, field: value, scale: {min: 0, max: 1}, weight: 3}
"""})
    proposals = root.parent / "p.json"
    proposals.write_text('[{"id": "A", "value": 1}]')
    assert main(["rank", str(proposals), "--policies", str(root), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "warning[weights_normalised]" in captured.err
    assert json.loads(captured.out)["warnings"][0].endswith("they are divided by 3")


def test_alignment_objectives_ignore_case_but_not_repetition(engines):
    engine = engines["reference"]
    ok = engine._intake.decide_record({"id": "A", "title": "t", "alignment": "NET-ZERO:Strong"})[1]
    assert ok is not None and float(ok["alignment"]) > 0
    twice = engine.evaluate({"id": "B", "title": "t", "alignment": "net-zero:strong;Net-Zero:low"})
    assert twice.decision == "error" and "named twice" in twice.errors[0].message


def test_an_empty_band_is_said_once_with_readable_numbers(write_policy):
    """Found by a policy author: an empty range also produced two contradicting gap errors, and numbers
    were printed as 1000000."""
    from engine import validate
    root = write_policy({
        "intake.yaml": "kind: intake\nfields:\n  id: string\n  budget: money\n",
        "scoring.yaml": "kind: scoring\ncriteria:\n  - id: size\n    bands:\n      of: budget\n      ranges:\n"
                        "        - {below: 5_000_000, points: 2}\n        - {from: 6_000_000, below: 5_500_000, points: 1}\n"
                        "        - {from: 5_000_000, points: 0}\n    scale: {min: 0, max: 2}\n    weight: 1\n"})
    found = [(d.code, d.message) for d in validate(root, today=TODAY) if d.severity == "error"]
    assert found == [("bad_band", "range from 6,000,000 below 5,500,000 is empty")]


WSJF = """kind: scoring
method: wsjf
wsjf: {business_value: value, time_criticality: tc, risk_reduction: rr, job_size: size%s}
tie_breaks:
  - {by: cost, order: asc}
"""
RICE = """kind: scoring
method: rice
rice: {reach: reach, impact: impact, confidence: confidence, effort: effort%s}
tie_breaks:
  - {by: cost, order: asc}
"""


def test_exact_wsjf_ties_go_to_the_declared_tie_breaks(write_policy):
    # (1 + 20 + 8) / 20 and (1 + 8 + 20) / 20 are both 29/20; summed as floats, 1.4500000000000002 and 1.45
    engine = scoring_engine(write_policy, WSJF % "")
    rows = [{"id": "A", "value": 1, "tc": 20, "rr": 8, "size": 20, "cost": 50},
            {"id": "B", "value": 1, "tc": 8, "rr": 20, "size": 20, "cost": 10},
            {"id": "C", "value": 1, "tc": 8, "rr": 20, "size": 20, "cost": 30}]
    ranking = engine.rank(rows)
    assert [e.id for e in ranking.entries] == ["B", "C", "A"]  # by cost, not by rounding noise
    assert {e.score for e in ranking.entries} <= {1.45, 1.4500000000000002}
    for e in ranking.entries:  # contributions still add up to each score exactly
        assert sum(c.contribution for c in e.breakdown if c.contribution is not None) == e.score


def test_exact_rice_ties_go_to_the_declared_tie_breaks_then_the_id(write_policy):
    # 29 x 0.25 x 0.8 / 4 = 1.4500000000000002 and 29 x 0.25 x 1 / 5 = 1.45: both exactly 1.45
    engine = scoring_engine(write_policy, RICE % "")
    rows = [{"id": "Z", "reach": 29, "impact": 0.25, "confidence": "80%", "effort": 4, "cost": 10},
            {"id": "Y", "reach": 29, "impact": 0.25, "confidence": 1, "effort": 5, "cost": 20},
            {"id": "X", "reach": 29, "impact": 0.25, "confidence": 1, "effort": 5, "cost": 10}]
    assert [e.id for e in engine.rank(rows).entries] == ["X", "Z", "Y"]  # cost, then id
    plain = scoring_engine(write_policy, RICE.split("tie_breaks")[0] % "")
    assert [e.id for e in plain.rank(rows).entries] == ["X", "Y", "Z"]  # no tie-break declared: the id


def test_scores_equal_to_12_significant_digits_tie():
    from engine.scoring.score import tie_key
    keys = tie_key(np.array([1.45, 1.4500000000000002, 1.4500000001, 0.0, -2.5e-7, -2.50000000000001e-7, 1e300]))
    assert keys[0] == keys[1] and keys[2] > keys[1] and keys[3] == 0 and keys[4] == keys[5] and keys[6] == 1e300


@pytest.mark.parametrize("scoring, row, reason", [
    (WSJF % "", {"value": 5, "rr": 1, "size": 2}, "time_criticality is missing"),
    (WSJF % "", {"tc": 5, "size": 2}, "business_value and risk_reduction are missing"),
    (WSJF % "", {"value": 5, "tc": 1, "rr": 1}, "job_size is missing"),
    (WSJF % "", {"value": 5, "tc": 1, "rr": 1, "size": 0}, "job_size is not positive"),
    (RICE % "", {"reach": 5, "impact": 1, "effort": 2}, "confidence is missing"),
    (RICE % "", {"reach": 5, "impact": 1, "confidence": 1, "effort": -1}, "effort is not positive"),
])
def test_a_missing_component_leaves_the_proposal_unscored_with_a_reason(write_policy, scoring, row, reason):
    engine = scoring_engine(write_policy, scoring)
    full = {"id": "P", "value": 1, "tc": 1, "rr": 1, "size": 1, "reach": 1, "impact": 1, "confidence": 1, "effort": 1}
    ranking = engine.rank([{"id": "P", **row}, {**full, "id": "Q"}])
    assert [(e.id, e.rank) for e in ranking.entries] == [("Q", 1), ("P", None)]
    assert ranking.entries[1].reason == f"not scored: {reason}"


@pytest.mark.parametrize("scoring, row, score", [
    (WSJF % ", missing: {time_criticality: 2}", {"value": 5, "rr": 1, "size": 2}, 4.0),  # (5 + 2 + 1) / 2
    (WSJF % ", missing: 0", {"value": 5, "size": 2}, 2.5),
    (RICE % ", missing: {confidence: 0.5}", {"reach": 10, "impact": 2, "effort": 4}, 2.5),  # 10 x 2 x 0.5 / 4
])
def test_a_declared_missing_value_scores_the_proposal(write_policy, scoring, row, score):
    ranking = scoring_engine(write_policy, scoring).rank([{"id": "P", **row}])
    assert [(e.id, e.rank, e.score) for e in ranking.entries] == [("P", 1, score)]
    entry = ranking.entries[0]
    assert sum(c.contribution for c in entry.breakdown if c.contribution is not None) == entry.score


def test_a_missing_value_for_no_component_is_refused_with_its_line(write_policy):
    root = write_policy({"intake.yaml": INTAKE, "scoring.yaml": WSJF % ", missing: {time_critical: 0}"})
    found = [(d.code, d.location.line) for d in validate(root, today=TODAY) if d.severity == "error"]
    assert len(found) == 1 and found[0][1] == 3


def test_exact_weighted_sum_ties_go_to_the_declared_tie_breaks(write_policy):
    # a third of 0.1, 0.1 and 0.4 (each out of 100) is 20 in any order; summed as floats, 20.0 or 19.999999999999996
    engine = scoring_engine(write_policy, """kind: scoring
criteria:
  - {id: a, field: value, normalise: none, weight: 1}
  - {id: b, field: tc, normalise: none, weight: 1}
  - {id: c, field: rr, normalise: none, weight: 1}
tie_breaks:
  - {by: cost, order: asc}
""")
    ranking = engine.rank([{"id": "A", "value": 0.1, "tc": 0.1, "rr": 0.4, "cost": 50},
                           {"id": "B", "value": 0.4, "tc": 0.1, "rr": 0.1, "cost": 10}])
    assert [(e.id, e.rank) for e in ranking.entries] == [("B", 1), ("A", 2)]
    for e in ranking.entries:
        assert sum(c.contribution for c in e.breakdown) == e.score


def test_a_proposal_whose_total_is_not_a_number_without_a_reason_is_listed_not_dropped(monkeypatch):
    """The guard in engine/scoring/ranking.py (``i not in ranked``): a passing proposal that ranking_order leaves
    out (a NaN total) with no reason from its scorer is listed as not scored. With the value limits of today
    (numbers at most 1e300, points and weights finite) no scorer gives such a total: a NaN total is an error row
    (a table's overlap) or has its reason (a component missing). The guard is kept for the scorer that would, and
    exercised here with one."""
    import engine.scoring.ranking as ranking
    engine = Engine.load(today=TODAY)
    rows = list(read_proposals(ROOT / "examples" / "proposals.csv"))
    real = ranking.score

    def scorer(scoring, records):
        found = real(scoring, records)
        found.total[0] = float("nan")  # the first passing proposal: no score, no reason given
        return found
    monkeypatch.setattr(ranking, "score", scorer)
    ranked = engine.rank(rows)
    first = next(d for d in engine.decide_all(rows) if d[0].decision in ("accept", "review"))[0]
    entries = [e for e in ranked.entries if e.id == first.id]
    assert len(entries) == 1 and entries[0].rank is None
    assert entries[0].reason == "not scored: its score is not a number"
    assert len(ranked.entries) == len(rows)
