"""Portfolio conflicts, the critical path method (against published examples), impact and graph output."""
import json

import pytest

from engine import Engine, InputError
from engine.cli import main
from engine.portfolio.conflicts import KINDS
from engine.portfolio.model import portfolio_from
from tests.conftest import ROOT, TODAY

EXAMPLE = ROOT / "examples" / "portfolio.yaml"
CLEAN = ROOT / "examples" / "portfolio-clean.yaml"


@pytest.fixture(scope="module")
def engine():
    return Engine.load(today=TODAY, backend="reference")


def network(activities):
    return {"projects": [{"id": k, "duration": d, "depends_on": preds} for k, (d, preds) in activities.items()]}


def test_every_conflict_kind_is_found_in_the_example(engine):
    report = engine.conflicts(EXAMPLE)
    assert all(report.counts[kind] >= 1 for kind in KINDS), report.counts
    by_kind = {c.kind: c for c in report.conflicts}
    assert by_kind["cycle"].projects == ["PLAN-A", "PLAN-B", "PLAN-C"]
    assert by_kind["broken_prerequisite"].projects == ["OUTAGE", "SENSORS"]
    assert by_kind["priority_inversion"].projects == ["TWIN", "GIS"]
    assert by_kind["schedule_violation"].message.endswith("58 day(s) too early")
    assert by_kind["exclusion_violation"].projects == ["CLOUD", "DATACENTRE"]
    over = by_kind["over_allocation"]
    assert over.periods == ["2027-Q2"] and over.projects[:2] == ["CRM", "BILLING"]
    assert "15 needed, capacity 12" in over.message


def test_the_clean_variant_has_no_conflicts(engine):
    report = engine.conflicts(CLEAN)
    assert report.conflicts == [] and report.cycles == []


# Heizer & Render, Operations Management, "Milwaukee Paper Manufacturing" (weeks): duration 15,
# critical path A-C-E-G-H; ES/EF/LS/LF/slack as published.
MILWAUKEE = {"A": (2, []), "B": (3, []), "C": (2, ["A"]), "D": (4, ["A", "B"]), "E": (4, ["C"]), "F": (3, ["C"]),
             "G": (5, ["D", "E"]), "H": (2, ["F", "G"])}
MILWAUKEE_TABLE = {"A": (0, 2, 0, 2, 0), "B": (0, 3, 1, 4, 1), "C": (2, 4, 2, 4, 0), "D": (3, 7, 4, 8, 1),
                   "E": (4, 8, 4, 8, 0), "F": (4, 7, 10, 13, 6), "G": (8, 13, 8, 13, 0), "H": (13, 15, 13, 15, 0)}

# The known-answer network asserted by countincognito/Zametek.Maths.Graphs
# (VertexGraphBuilderExtensionsTests, ..._GivenCalculateCriticalPath_ThenAsExpected): critical path 3-5-9, 26.
ZAMETEK = {"1": (6, []), "2": (7, []), "3": (8, []), "4": (11, ["2"]), "5": (8, ["1", "2", "3"]), "6": (7, ["3"]),
           "7": (4, ["4"]), "8": (4, ["4", "6"]), "9": (10, ["5"])}
ZAMETEK_TABLE = {"1": (0, 6, 2, 8, 2), "2": (0, 7, 1, 8, 1), "3": (0, 8, 0, 8, 0), "4": (7, 18, 11, 22, 4),
                 "5": (8, 16, 8, 16, 0), "6": (8, 15, 15, 22, 7), "7": (18, 22, 22, 26, 4), "8": (18, 22, 22, 26, 4),
                 "9": (16, 26, 16, 26, 0)}


@pytest.mark.parametrize("activities, table, duration, path", [
    (MILWAUKEE, MILWAUKEE_TABLE, 15, ["A", "C", "E", "G", "H"]),
    (ZAMETEK, ZAMETEK_TABLE, 26, ["3", "5", "9"]),
])
def test_critical_path_method_matches_published_examples(engine, activities, table, duration, path):
    plan = engine.schedule(network(activities))
    assert plan.duration == duration and plan.critical_paths == [path]
    got = {k: (a.es, a.ef, a.ls, a.lf, a.float) for k, a in plan.activities.items()}
    assert got == table
    order = plan.order
    assert all(order.index(p) < order.index(k) for k, (_, preds) in activities.items() for p in preds)


def test_lags_and_parallel_critical_paths(engine):
    plan = engine.schedule({"projects": [
        {"id": "A", "duration": 5}, {"id": "B", "duration": 3, "depends_on": [{"id": "A", "lag": 2}]},
        {"id": "C", "duration": 10}]})
    assert plan.duration == 10 and sorted(plan.critical_paths) == [["A", "B"], ["C"]]
    assert plan.activities["B"].es == 7


def test_impact_of_cancelling_and_delaying(engine):
    portfolio = network(MILWAUKEE)
    cancel = engine.impact(portfolio, cancel="C")
    assert sorted(cancel.affected) == ["E", "F", "G", "H"]
    delay = engine.impact(portfolio, delay=("B", 2))
    assert delay.affected == {"B": 2.0, "D": 2.0, "G": 1.0, "H": 1.0}  # B had 1 week of float
    assert (delay.duration_before, delay.duration_after) == (15, 16)
    assert engine.impact(portfolio, delay=("F", 6)).affected == {"F": 6.0}  # F's float absorbs it
    with pytest.raises(InputError):
        engine.impact(portfolio, cancel="Z")


def test_smallest_portfolio_works_with_every_command(tmp_path, capsys):
    small = {"projects": [{"id": "A", "duration": 3, "depends_on": []}, {"id": "B", "duration": 2, "depends_on": ["A"]}]}
    (tmp_path / "p.json").write_text(json.dumps(small))
    (tmp_path / "p.yaml").write_text("projects:\n  - {id: A, duration: 3, depends_on: []}\n"
                                     "  - {id: B, duration: 2, depends_on: [A]}\n")
    for name in ("p.json", "p.yaml"):
        path = str(tmp_path / name)
        assert main(["conflicts", path, "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["conflicts"] == []
        assert main(["schedule", path, "--format", "json"]) == 0
        plan = json.loads(capsys.readouterr().out)
        assert plan["duration"] == 5 and plan["critical_path"] == ["A", "B"]
        assert plan["activities"]["B"] == {"es": 3, "ef": 5, "ls": 3, "lf": 5, "float": 0}
        assert main(["impact", path, "--cancel", "A"]) == 0
        assert "B" in capsys.readouterr().out
        assert main(["impact", path, "--delay", "A=2", "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["duration_after"] == 7
        for suffix in (".dot", ".graphml", ".svg"):
            out = tmp_path / f"g{suffix}"
            assert main(["graph", path, "--out", str(out)]) == 0
            assert "A" in out.read_text()


def test_graph_highlights_conflicts(tmp_path):
    out = tmp_path / "g.svg"
    assert main(["graph", str(EXAMPLE), "--out", str(out)]) == 0
    svg = out.read_text()
    assert svg.startswith("<svg") and svg.count("<rect") == 15 and "#f8d7da" in svg
    dot = tmp_path / "g.dot"
    assert main(["graph", str(EXAMPLE), "--out", str(dot)]) == 0
    assert '"CLOUD" -> "DATACENTRE"' in dot.read_text() or '"DATACENTRE" -> "CLOUD"' in dot.read_text()


@pytest.mark.timeout(120)  # a hang guard
def test_millions_of_cycles_answer_at_once(engine):
    # A complete digraph on 14 nodes has more than 10^10 simple cycles.
    ids = [f"N{i:02d}" for i in range(14)]
    portfolio = {"projects": [{"id": i, "duration": 1, "depends_on": [j for j in ids if j != i]} for i in ids]}
    report = engine.conflicts(portfolio)
    # bounded work: the enumeration stops counting at 10,000 (or its one-second budget), never at 10^10
    assert len(report.cycles) == 20 and not report.cycles_complete and 20 <= report.cycles_found <= 10_000
    assert "dependency cycles in all (14 projects caught in them)" in report.conflicts[-1].message


@pytest.mark.parametrize("data, message", [
    ({"projects": [{"name": "no id"}]}, "project 1: 'id' is required"),
    ({"projects": [{"id": "A"}, {"id": "A"}]}, "project id 'A' is used twice"),
    ({"projects": [{"id": "A", "duration": "long"}]}, "duration: 'long' is not a number"),
    ({"projects": [{"id": "A", "start": "2027-02-30"}]}, "is not a valid date"),
    ({"projects": [{"id": "A", "budgett": 1}]}, "unknown field 'budgett'"),
    ({"projects": "A"}, 'expected {"projects": [...]}'),
])
def test_bad_portfolios_are_refused_clearly(data, message):
    with pytest.raises(InputError) as info:
        portfolio_from(data)
    assert message in str(info.value)


def test_schedule_needs_durations_and_no_cycles(engine):
    with pytest.raises(InputError, match="no duration for B"):
        engine.schedule({"projects": [{"id": "A", "duration": 1}, {"id": "B", "depends_on": ["A"]}]})
    with pytest.raises(InputError, match="cannot schedule: dependency cycles"):
        engine.schedule({"projects": [{"id": "A", "duration": 1, "depends_on": ["A"]}]})


def test_csv_portfolio(engine, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,status,duration,depends_on,budget,demand\n"
                    "A,approved,10,,2027-Q1=4000000,engineer@2027-Q1=20\n"
                    "B,approved,5,A:2,,\n")
    report = engine.conflicts(path)
    assert {c.kind for c in report.conflicts} == {"budget_overrun", "over_allocation"}
    assert engine.schedule(path).duration == 17


def test_review_fixes_for_portfolio_input(engine, tmp_path, capsys):
    with pytest.raises(InputError, match="finish 2027-01-01 is before start 2027-05-01"):
        portfolio_from({"projects": [{"id": "A", "start": "2027-05-01", "finish": "2027-01-01"}]})
    small = network({"A": (3, []), "B": (2, ["A", "Z"])})
    for bad in (-5, float("nan"), float("inf")):
        with pytest.raises(InputError, match="a delay must be a finite number"):
            engine.impact(small, delay=("A", bad))
    assert engine.schedule(small).notes == ["B depends on 'Z', which is not in the portfolio: left out of the schedule"]
    ids = [f"N{i:02d}" for i in range(12)]
    path = tmp_path / "dense.json"
    path.write_text(json.dumps({"projects": [{"id": i, "depends_on": [j for j in ids if j != i]} for i in ids]}))
    assert main(["conflicts", str(path)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("12 projects: at least 10000 cycles")
