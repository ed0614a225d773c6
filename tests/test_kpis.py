"""The PMO's KPIs (issue #16): kind: kpis loaded with located diagnostics, every aggregate against figures computed by
hand on a tiny history, periods (months, quarters; stocks at the period's end, flows within it), each figure's
trace, pmo kpi (table, --explain, --format json) on examples/status/ and a real decision log, and the board
report's tiles."""
import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine import Engine
from engine.authoring.check import validate
from engine.cli import main
from engine.health.kpis import (
    History,
    evaluate_kpis,
    parse_period,
    period_of,
    periods_until,
    sparkline,
)
from engine.health.status import read_status

ROOT = Path(__file__).resolve().parent.parent
STATUS = sorted((ROOT / "examples" / "status").glob("status-*.csv"))
TODAY = "2026-12-01"
INTAKE = "kind: intake\nfields: {id: string}\n"
HEALTH = ("kind: health\ndefault: green\nrules:\n"
          "  - {id: over-cost, when: cpi < 0.9, rating: red, reason: 'CPI {cpi}'}\n")


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def folder(tmp_path: Path, kpis: str, health: str = HEALTH) -> Path:
    root = tmp_path / "policies"
    root.mkdir(exist_ok=True)
    (root / "intake.yaml").write_text(INTAKE, encoding="utf-8")
    (root / "health.yaml").write_text(health, encoding="utf-8")
    (root / "kpis.yaml").write_text(kpis, encoding="utf-8")
    return root


# ------------------------------------------------------------------------------------------------- loading
def kpi_line(measure: str, extra: str = "") -> str:
    return f"kind: kpis\nkpis:\n  - {{id: k, title: K, measure: '{measure}', direction: higher{extra}}}\n"


CASES = [  # (kpis.yaml, code, line, column, part of the message, part of the hint)
    (kpi_line("portfolio.cpx"), "unknown_measure", 3, 33, "'portfolio.cpx' is not a measure", "portfolio.cpi"),
    (kpi_line("medain(cpi)"), "unknown_measure", 3, 33, "'medain' is neither an aggregate", "'median'"),
    (kpi_line("share(ratng == \"green\")"), "unknown_field", 3, 39, "'ratng' is not a field", "'rating'"),
    (kpi_line("cpi"), "kpi_not_aggregated", 3, 33, "'cpi' is a value of each record", "total(cpi)"),
    (kpi_line("1 + mean(total(bac))"), "bad_aggregate", 3, 42, "total() inside mean()", "total(a) / total(b)"),
    (kpi_line("total(rating)"), "type_mismatch", 3, 39, "total() needs a number, but this is a string", None),
    (kpi_line("share(cpi > 1) > 0.5"), "type_mismatch", 3, 33, "a KPI's measure is a number", "share(condition)"),
    (kpi_line("share(override)", ", over: projects"), "unknown_field", 3, 39, "not a field", None),
    (kpi_line("share(override)", ", over: gates, by: objective"), "bad_grouping", 3, 87,
     "'gates' records have no objective", "by gate"),
    (kpi_line("portfolio.cpi", ", over: intake"), "unknown_measure", 3, 33, "portfolio.NAME measures are for KPIs over "
     "projects", None),
    (kpi_line("count()", ", over: selection"), "bad_aggregate", 3, 33, "selection has no records", "selection.value"),
    (kpi_line("portfolio.cpi", ", where: statte == \"active\""), "unknown_field", 3, 75, "'statte'", "'state'"),
    ("kind: kpis\nkpis:\n  - {id: k, title: K, measure: portfolio.cpi, direction: up}\n", "bad_value", 3, 58,
     "'up' is not allowed; expected 'higher' or 'lower'", None),
    ("kind: kpis\nkpis:\n  - {id: k, title: K, measure: portfolio.cpi, direction: higher}\n"
     "  - {id: k, title: L, measure: portfolio.spi, direction: higher}\n", "duplicate_kpi", 4, 10,
     "KPI id 'k' is already used at", None),
    ("kind: kpis\nkpis:\n  - {id: k, title: K, measure: portfolio.cpi, direction: higher, unit: euros}\n", "bad_value",
     3, 72, "'euros' is not allowed", None),
]


@pytest.mark.parametrize("text, code, line, column, message, hint", CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)])
def test_a_bad_kpi_is_a_located_diagnostic(tmp_path, text, code, line, column, message, hint):
    found = [d for d in validate(folder(tmp_path, text), today=dt.date(2026, 12, 1)) if d.severity == "error"]
    assert [(d.code, d.location.line, d.location.column) for d in found] == [(code, line, column)], found
    assert found[0].location.file.endswith("kpis.yaml")
    assert message in found[0].message
    if hint:
        assert hint in (found[0].hint or "")


def test_every_problem_of_a_kpi_file_is_reported_not_only_the_first(tmp_path):
    text = ("kind: kpis\nkpis:\n"
            "  - {id: a, title: A, measure: portfolio.cpx, direction: higher}\n"
            "  - {id: b, title: B, measure: cpi, direction: higher}\n"
            "  - {id: c, title: C, measure: portfolio.cpi, direction: sideways}\n")
    found = validate(folder(tmp_path, text), today=dt.date(2026, 12, 1))
    assert [(d.code, d.location.line) for d in found if d.severity == "error"] == [
        ("unknown_measure", 3), ("kpi_not_aggregated", 4), ("bad_value", 5)]


def test_the_reference_kpis_load_are_hashed_and_exported_by_pmo_schema(tmp_path):
    code, out, err = run("validate", "--today", TODAY)
    assert code == 0, out + err
    assert "10 KPIs" in out
    engine = Engine.load(today=dt.date(2026, 12, 1))
    assert [k.id for k in engine.policy.kpis.kpis] == [
        "spi", "cpi", "share_green", "benefits", "spend_by_objective", "forecast_error", "intake_cycle_time",
        "gate_pass_rate", "override_rate", "selection_gain"]
    # the KPI file is part of the policy version
    import shutil
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy)
    same = Engine.load(copy, today=dt.date(2026, 12, 1)).policy_hash
    text = (copy / "kpis.yaml").read_text(encoding="utf-8").replace("target: 0.7\n", "target: 0.75\n")
    (copy / "kpis.yaml").write_text(text, encoding="utf-8")
    assert Engine.load(copy, today=dt.date(2026, 12, 1)).policy_hash != same
    code, out, _ = run("schema")
    schema = json.loads(out)
    kpi = schema["$defs"]["KpiSpec"]["properties"]
    assert set(schema["$defs"]["KpiSpec"]["properties"]["direction"]["enum"]) == {"higher", "lower"}
    assert "measure" in kpi and "by" in kpi and "KpisPolicy" in schema["$defs"]


# ------------------------------------------------------------------------------------------------- a tiny history
ROWS = [  # project, objective, status_date, state, bac, pv, ev, ac, benefits_planned, benefits_realised
    ("A", "x", "2027-01-31", "active", 1000, 100, 100, 125, "", ""),
    ("B", "y", "2027-01-31", "active", 2000, 200, 150, 150, "", ""),
    ("C", "x", "2027-01-31", "active", 500, 250, 250, 300, "", ""),
    ("A", "x", "2027-02-28", "active", 1000, 300, 250, 250, 100, 40),
    ("B", "y", "2027-02-28", "active", 2000, 600, 600, 500, 50, 50),
    ("C", "x", "2027-02-28", "closed", 500, 500, 500, 400, "", ""),
]
KPIS = """kind: kpis
kpis:
  - {id: spi, title: SPI, measure: portfolio.spi, unit: index, target: 0.95, direction: higher}
  - {id: cpi, title: CPI, measure: portfolio.cpi, unit: index, target: 0.95, direction: higher}
  - {id: cpi_sums, title: CPI by sums, measure: total(ev) / total(ac), unit: index, direction: higher}
  - {id: green, title: Green, measure: 'share(rating == "green")', unit: share, target: 0.7, direction: higher}
  - {id: benefits, title: Benefits, where: benefits_planned > 0,
     measure: total(benefits_realised) / total(benefits_planned), unit: share, target: 0.8, direction: higher}
  - {id: spend, title: Spend, by: objective, measure: share_of(bac), unit: share, direction: higher}
  - {id: efficient, title: Efficient, measure: count(cpi > 1), unit: count, direction: higher}
  - {id: projects, title: Projects, measure: count(), unit: count, direction: higher}
  - {id: mean_cpi, title: Mean CPI, measure: mean(cpi), unit: index, direction: higher}
  - {id: median_cpi, title: Median CPI, measure: median(cpi), unit: index, direction: higher}
  - {id: forecast, title: Forecast error, over: closed, measure: mean(abs(eac_at_half - final_cost) / final_cost),
     unit: share, target: 0.1, direction: lower}
  - {id: cycle, title: Cycle, over: intake, measure: 'median(days_between(submitted, decided))', unit: days,
     target: 30, direction: lower}
  - {id: pass, title: Pass, over: gates, by: gate, measure: 'share(decision == "go")', unit: share, direction: higher}
  - {id: overrides, title: Overrides, over: gates, measure: share(override), unit: share, target: 0.05,
     direction: lower}
  - {id: gain, title: Gain, over: selection, measure: selection.value / selection.greedy - 1, unit: share,
     direction: higher}
"""
ENTRIES = [
    {"key": "i1", "kind": "intake", "project": "P1", "outcome": "accept", "as_of": "2027-02-10", "override": None,
     "input": {"row": {"id": "P1", "Submitted": "2027-01-01"}}},
    {"key": "i2", "kind": "intake", "project": "P2", "outcome": "review", "as_of": "2027-02-10", "override": None,
     "input": {"row": {"id": "P2", "submitted": "2027-02-01"}}},
    {"key": "i3", "kind": "intake", "project": "P3", "outcome": "reject", "as_of": "2027-02-12", "override": None,
     "input": {"row": {"id": "P3"}}},  # no submission date: left out of the median, named in the trace
    {"key": "i0", "kind": "intake", "project": "P0", "outcome": "accept", "as_of": "2027-01-20", "override": None,
     "input": {"row": {"id": "P0", "submitted": "2027-01-10"}}},
    {"key": "g1", "kind": "gate", "project": "A", "gate": "G1", "outcome": "go", "as_of": "2027-02-03", "override": None},
    {"key": "g2", "kind": "gate", "project": "B", "gate": "G1", "outcome": "kill", "as_of": "2027-02-04", "override": None},
    {"key": "g3", "kind": "gate", "project": "C", "gate": "G2", "outcome": "go", "time": "2027-02-05T10:00:00+00:00",
     "override": {"role": "board", "justification": "x"}},
]
SELECTION = {"value": 512.6, "cost": 100, "selected": ["A"], "baselines": {
    "greedy by value": {"value": 488.3}, "greedy by value per cost": {"value": 427.5}}}


@pytest.fixture()
def tiny(tmp_path):
    path = tmp_path / "status.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["project", "objective", "status_date", "state", "bac", "pv", "ev", "ac", "benefits_planned",
                    "benefits_realised"])
        w.writerows(ROWS)
    engine = Engine.load(folder(tmp_path, KPIS), today=dt.date(2026, 12, 1), backend="reference")
    return engine, read_status([path]), path


def figures(engine, data, period="2027-02", periods=2, entries=ENTRIES, selection=SELECTION):
    report = engine.kpis(data, entries=entries, selection=selection, period=parse_period(period), periods=periods)
    return {r.key: r for r in report.results}


def values(result):
    return [f.value for f in result.figures]


def test_each_measure_against_figures_computed_by_hand(tiny):
    engine, data, _ = tiny
    got = figures(engine, data)
    D = Decimal
    # January: EV 500, PV 550, AC 575; February: EV 1350, PV 1400, AC 1150 (rounded once to 15 digits)
    assert values(got["spi"]) == [D("0.909090909090909"), D("0.964285714285714")]
    assert values(got["cpi"]) == [D("0.869565217391304"), D("1.17391304347826")]
    assert values(got["cpi_sums"]) == values(got["cpi"])  # the roll-up is sums, then ratios
    # January: A (CPI 0.8) and C (0.833) red, B green; February: all green
    assert values(got["green"]) == [D("0.333333333333333"), D(1)]
    # nothing planned in January; February (40 + 50) / (100 + 50)
    assert values(got["benefits"]) == [None, D("0.6")]
    assert "no records" in got["benefits"].figures[0].why
    # BAC by objective: x (A 1000 + C 500) and y (B 2000) of 3500
    assert values(got["spend[x]"]) == [D("0.428571428571429")] * 2
    assert values(got["spend[y]"]) == [D("0.571428571428571")] * 2
    assert values(got["efficient"]) == [D(0), D(2)]  # B 1.2 and C 1.25 in February; A's is 1
    assert values(got["projects"]) == [D(3), D(3)]
    assert values(got["mean_cpi"])[1] == D("1.15") and values(got["median_cpi"])[1] == D("1.2")
    # C closed in February: the report nearest 50% complete is January's (EAC 500 x 300 / 250 = 600), final cost 400
    assert values(got["forecast"]) == [None, D("0.5")]
    # February's intake: 40 and 9 days (P3 has no submission date); January's: 10 days
    assert values(got["cycle"]) == [D(10), D("24.5")]
    assert values(got["pass[G1]"]) == [None, D("0.5")] and values(got["pass[G2]"]) == [None, D(1)]
    assert values(got["overrides"]) == [None, D("0.333333333333333")]
    # the selection result is not dated: the latest period only; 512.6 / 488.3 - 1
    assert values(got["gain"]) == [None, D("1.04976448904362") - 1]  # 512.6 / 488.3 at 15 significant digits


def test_met_and_direction(tiny):
    engine, data, _ = tiny
    got = figures(engine, data)
    assert got["cpi"].met is True and got["benefits"].met is False  # 1.17 >= 0.95; 0.6 < 0.8
    assert got["cycle"].met is True and got["overrides"].met is False  # 24.5 <= 30; 1/3 > 0.05
    assert got["spend[x]"].met is None  # no target


def test_quarters_take_stocks_at_the_end_and_flows_within(tiny):
    engine, data, _ = tiny
    got = figures(engine, data, "2027-Q1", periods=1)
    # the projects as they stood on 31 March: their February reports
    assert values(got["cpi"]) == [Decimal("1.17391304347826")]
    assert got["cpi"].current.trace[0]["status_date"] == "2027-02-28"
    # every intake decision of the quarter: 10, 40 and 9 days
    assert values(got["cycle"]) == [Decimal(10)]
    assert {t["decision_id"] for t in got["cycle"].current.trace} == {"i0", "i1", "i2", "i3"}
    # a period before any report: nothing, and why
    early = figures(engine, data, "2026-Q4", periods=1)
    assert early["cpi"].current.value is None and early["cpi"].current.why


def test_periods_are_months_or_quarters():
    q = parse_period("2027-Q1")
    assert (q.start, q.end, q.quarterly) == (dt.date(2027, 1, 1), dt.date(2027, 3, 31), True)
    assert parse_period("2024-02").end == dt.date(2024, 2, 29)
    assert [p.label for p in periods_until(parse_period("2027-Q1"), 3)] == ["2026-Q3", "2026-Q4", "2027-Q1"]
    assert [p.label for p in periods_until(parse_period("2027-01"), 2)] == ["2026-12", "2027-01"]
    assert period_of(dt.date(2027, 12, 31), True).label == "2027-Q4"
    for bad in ("2027-Q5", "2027-13", "Q1 2027", "2027"):
        with pytest.raises(ValueError, match="quarter"):
            parse_period(bad)


def test_every_figure_traces_back_to_its_records(tiny):
    engine, data, path = tiny
    got = figures(engine, data)
    benefits = got["benefits"].current
    # A and B plan benefits in February (C does not: left out by where:); each record with its file and row
    assert [(t["project"], t["status_date"], t["row"]) for t in benefits.trace] == [
        ("A", "2027-02-28", 5), ("B", "2027-02-28", 6)]
    assert all(t["source"] == str(path) for t in benefits.trace)
    assert benefits.trace[0]["read"] == {"benefits_realised": 40, "benefits_planned": 100}
    assert benefits.parts == {"total(benefits_realised)": Decimal(90), "total(benefits_planned)": Decimal(150)}
    # a named measure is traced to the projects in the roll-up
    assert {t["project"] for t in got["cpi"].current.trace} == {"A", "B", "C"}
    # with the inputs the roll-up summed: EV 1350 over AC 1150
    assert sum(t["read"]["ev"] for t in got["cpi"].current.trace) == 1350
    assert sum(t["read"]["ac"] for t in got["cpi"].current.trace) == 1150
    # decisions by their log ids; an unknown value is in the trace as null
    cycle = got["cycle"].current
    assert [(t["decision_id"], t["read"]["days_between(submitted, decided)"]) for t in cycle.trace] == [
        ("i1", 40), ("i2", 9), ("i3", None)]
    assert [t["gate"] for t in got["pass[G1]"].current.trace] == ["G1", "G1"]
    # the forecast's record names both reports it read
    forecast = got["forecast"].current.trace[0]
    assert forecast["project"] == "C" and forecast["status_date"] == "2027-02-28"
    assert forecast["half"]["status_date"] == "2027-01-31" and forecast["half"]["row"] == 4
    assert got["gain"].current.trace[0]["selected"] == ["A"]


def test_a_history_without_a_log_or_selection_says_why(tiny):
    engine, data, _ = tiny
    got = figures(engine, data, entries=[], selection=None)
    assert got["cycle"].current.value is None and "no records" in got["cycle"].current.why
    assert "pass" in got and got["pass"].current.why.startswith("no gates records")
    assert "--selection" in got["gain"].current.why


def test_a_history_is_read_only_and_works_from_status_data(tiny):
    """The view the history store will give: StatusData plus entries, nothing written back."""
    engine, data, _ = tiny
    before = {p: [r.values for r in reports] for p, reports in data.reports.items()}
    entries = [dict(e) for e in ENTRIES]
    history = History(data, engine.policy.health, engine._health, entries)
    report = evaluate_kpis(engine.policy.kpis, history, periods_until(parse_period("2027-02"), 2))
    assert report.results and entries == ENTRIES
    assert {p: [r.values for r in reports] for p, reports in data.reports.items()} == before
    assert history.latest() == dt.date(2027, 2, 28)


def test_sparkline():
    assert sparkline([Decimal(1), None, Decimal(3), Decimal(2)]) == "▁·█▄"
    assert sparkline([None, None]) == "··" and sparkline([Decimal(5)] * 2) == "▁▁"


# ------------------------------------------------------------------------------------------------- the command
def test_pmo_kpi_json_equals_pmo_health_and_carries_the_trace():
    code, out, err = run("kpi", "--status", *STATUS, "--period", "2027-Q2", "--format", "json", "--today", TODAY)
    assert code == 0, err
    data = json.loads(out)
    assert data["period"] == "2027-Q2" and data["periods"] == ["2026-Q3", "2026-Q4", "2027-Q1", "2027-Q2"]
    kpis = {k["id"] + (f"[{k['group']}]" if k["group"] else ""): k for k in data["kpis"]}
    code, out, _ = run("health", *STATUS, "--as-of", "2027-06-30", "--by", "portfolio", "--format", "json",
                       "--today", TODAY)
    portfolio = json.loads(out)[0]
    assert kpis["spi"]["value"] == portfolio["spi"] and kpis["cpi"]["value"] == portfolio["cpi"]
    assert kpis["cpi"]["met"] is (portfolio["cpi"] >= 0.95) and kpis["cpi"]["target"] == 0.95
    code, out, _ = run("health", *STATUS, "--as-of", "2027-06-30", "--format", "json", "--today", TODAY)
    projects = json.loads(out)
    green = kpis["share_green"]["periods"][-1]
    assert {(t["project"], t["status_date"]) for t in green["trace"]} == {(p["project"], p["status_date"]) for p in projects}
    rated = [p for p in projects if p["rating"]]
    assert green["value"] == pytest.approx(sum(p["rating"] == "green" for p in rated) / len(rated))
    assert kpis["intake_cycle_time"]["value"] is None  # no log given


def test_pmo_kpi_table_and_explain():
    code, out, err = run("kpi", "--status", *STATUS, "--period", "2027-Q3", "--today", TODAY)
    assert code == 0, err
    assert out.startswith("KPIs for 2027-Q3 (2027-07-01 to 2027-09-30); trend over 2026-Q4 to 2027-Q3")
    line = next(x for x in out.splitlines() if x.startswith("Benefits realised vs plan"))
    assert "55.9%" in line and "≥ 80.0%" in line and "not met" in line
    assert "selection_gain: no selection result given" in out
    code, out, err = run("kpi", "--status", *STATUS, "--period", "2027-Q3", "--explain", "benefits", "--today", TODAY)
    assert code == 0, err
    assert "total(benefits_realised) = 190000" in out and "total(benefits_planned) = 340000" in out
    assert "records (4):" in out and "project=CRM status_date=2027-08-31 (" in out
    code, _, err = run("kpi", "--status", *STATUS, "--explain", "benefit", "--today", TODAY)
    assert code == 2 and "did you mean 'benefits'" in err
    code, _, err = run("kpi", "--status", *STATUS, "--period", "2027-Q5", "--today", TODAY)
    assert code == 2 and "2027-Q1" in err
    code, _, err = run("kpi", "--today", TODAY)
    assert code == 2 and "--status" in err
    code, _, err = run("kpi", "--status", *STATUS, "--periods", "500", "--today", TODAY)
    assert code == 2 and "--periods is 1 to 120" in err


def test_pmo_kpi_refuses_a_file_that_is_not_a_selection_result(tmp_path):
    bad = tmp_path / "selection.json"
    bad.write_text('{"value": 1}', encoding="utf-8")
    code, _, err = run("kpi", "--status", *STATUS, "--selection", bad, "--today", TODAY)
    assert code == 2 and "error[bad_selection]" in err and "pmo select --format json" in err


def test_pmo_kpi_from_a_real_decision_log_and_selection(tmp_path):
    """Intake decided by pmo evaluate (rows with a submission date), gates by pmo gate, the selection by pmo select."""
    with (ROOT / "examples" / "proposals.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:4]
    proposals = tmp_path / "proposals.csv"
    with proposals.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) + ["submitted"])
        w.writeheader()
        for row, day in zip(rows, ("2027-01-05", "2027-02-01", "2027-03-01", "2027-03-20")):
            w.writerow({**row, "submitted": day})
    log = tmp_path / "log.sqlite"
    assert run("evaluate", proposals, "--log", log, "--today", "2027-03-31")[0] == 0
    projects = ROOT / "examples" / "projects"
    assert run("gate", projects / "go.yaml", "--gate", "business-case", "--log", log, "--today", "2027-02-15")[0] == 0
    assert run("gate", projects / "hold.yaml", "--gate", "business-case", "--log", log, "--today", "2027-03-01")[0] == 0
    code, out, _ = run("select", ROOT / "examples" / "selection.yaml", "--format", "json", "--today", TODAY)
    assert code == 0
    selection = tmp_path / "selection.json"
    selection.write_text(out, encoding="utf-8")
    chosen = json.loads(out)
    code, out, err = run("kpi", "--status", *STATUS, "--log", log, "--selection", selection, "--period", "2027-Q1",
                         "--format", "json", "--today", TODAY)
    assert code == 0, err
    kpis = {k["id"] + (f"[{k['group']}]" if k["group"] else ""): k for k in json.loads(out)["kpis"]}
    cycle = kpis["intake_cycle_time"]["periods"][-1]
    assert cycle["value"] == (58 + 30) / 2  # 85, 58, 30, 11 days to 31 March: the median of four
    from engine.store import DecisionLog
    with DecisionLog(log) as opened:
        keys = {e["key"] for e in opened.query(kind="intake")}
    assert {t["decision_id"] for t in cycle["trace"]} == keys
    assert kpis["gate_pass_rate[business-case]"]["value"] == 0.5 and kpis["override_rate"]["value"] == 0
    best = max(b["value"] for b in chosen["baselines"].values())
    assert kpis["selection_gain"]["value"] == pytest.approx(chosen["value"] / best - 1)


def test_the_health_page_tiles_are_the_declared_kpis():
    engine = Engine.load(today=dt.date(2026, 12, 1))
    data = read_status(STATUS)
    page = engine.health_page(data)
    tiles = {k["id"]: k for k in page.kpis}
    declared = {k.id: k for k in engine.policy.kpis.kpis}
    for key, tile in tiles.items():
        kpi = declared[key.split("[")[0]]
        assert tile["target"] == float(kpi.target) and tile["direction"] == {"higher": "up", "lower": "down"}[kpi.direction]
        assert kpi.over in ("projects", "closed")
    # each tile's points are the KPI's figures at each status date: the months of examples/status end on them
    months = engine.kpis(data, period=parse_period("2027-12"), periods=12)
    by_key = {r.key: r for r in months.results}
    for key, tile in tiles.items():
        assert [v["value"] for v in tile["values"]] == [
            None if f.value is None else float(f.value) for f in by_key[key].figures], key


# ------------------------------------------------------------------------------------------------- never a crash
TOKENS = ["share(", "total(", "mean(", "median(", "count(", "share_of(", ")", "(", "portfolio.cpi", "portfolio.",
          "selection.value", "cpi", "rating", "\"green\"", "==", ">", "/", "-", "*", "1", "0", "abs(", ",", "and",
          "not", "decided", "submitted", "days_between(", "null", "ratng", "x", "[1, 2]", " ", "'", "."]


def test_random_measures_give_diagnostics_or_figures_never_a_crash(tmp_path, tiny):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from engine.compile.kpis import compile_kpis
    from engine.errors import DiagnosticSink
    from engine.health.kpis import History
    from engine.policy.models import KpisPolicy
    engine, data, _ = tiny
    history = History(data, engine.policy.health, engine._health, ENTRIES, SELECTION)
    periods = periods_until(parse_period("2027-02"), 2)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12),
           st.sampled_from(["projects", "closed", "intake", "gates", "selection"]),
           st.sampled_from([None, "objective", "gate"]))
    def check(tokens, over, by):
        policy = KpisPolicy.model_validate({"kind": "kpis", "kpis": [
            {"id": "k", "title": "K", "over": over, "by": by, "measure": "".join(tokens), "direction": "higher"}]})
        sink = DiagnosticSink()
        compiled = compile_kpis(policy, dt.date(2026, 12, 1), sink)
        if compiled is None:
            assert sink.errors and all(d.code and d.message for d in sink.errors)
            return
        report = evaluate_kpis(compiled, history, periods)
        for result in report.results:
            for figure in result.figures:
                assert figure.value is None or isinstance(figure.value, Decimal)
                assert figure.value is not None or figure.why
            json.dumps(result.to_json())
    check()


def test_the_forecast_read_at_50_percent_is_pmo_healths_eac_at_that_report():
    code, out, err = run("kpi", "--status", *STATUS, "--period", "2027-Q4", "--format", "json", "--today", TODAY)
    assert code == 0, err
    forecast = next(k for k in json.loads(out)["kpis"] if k["id"] == "forecast_error")["periods"][-1]
    assert {t["project"] for t in forecast["trace"]} == {"CRM", "MOBILE", "OUTAGE", "CLOUD", "TWIN"}  # closed by 2027
    for t in forecast["trace"]:
        code, out, _ = run("health", *STATUS, "--as-of", t["half"]["status_date"], "--format", "json", "--today", TODAY)
        then = next(p for p in json.loads(out) if p["project"] == t["project"])
        assert t["read"]["eac_at_half"] == then["eac"] and abs(then["percent_complete"] - 0.5) <= 0.25
        code, out, _ = run("health", *STATUS, "--as-of", t["status_date"], "--format", "json", "--today", TODAY)
        final = next(p for p in json.loads(out) if p["project"] == t["project"])
        assert t["read"]["final_cost"] == final["ac"] and final["state"] == "closed"


def test_kpis_from_the_portfolio_history_equal_kpis_from_the_files(tmp_path):
    """pmo kpi --log DB reads the status reports `pmo status ingest` stored there (was: an internal error on an
    'empty history', IndexError); the figures are the files' own."""
    log = tmp_path / "h.db"
    code, _, err = run("status", "ingest", *STATUS, "--log", log)
    assert code == 0, err
    code, from_log, err = run("kpi", "--log", log, "--period", "2027-Q4", "--format", "json", "--today", TODAY)
    assert code == 0, err
    code, from_files, err = run("kpi", "--status", *STATUS, "--period", "2027-Q4", "--format", "json",
                                "--today", TODAY)
    assert code == 0, err
    figures = lambda out: {(r["id"], r["group"]): (r["value"], r["periods"]) for r in json.loads(out)["kpis"]  # noqa: E731
                           if r["over"] in ("projects", "closed")}
    assert figures(from_log) == figures(from_files)
    assert sum(value is not None for value, _ in figures(from_log).values()) >= 5  # real figures, not all empty


def test_an_empty_history_is_said_not_a_crash(tmp_path):
    log = tmp_path / "empty.db"
    code, _, err = run("evaluate", ROOT / "examples" / "proposals.csv", "--log", log, "--today", TODAY)
    code, out, err = run("kpi", "--log", log, "--period", "2027-Q1", "--today", TODAY)
    assert code == 0 and "internal error" not in err, err
    code, out, err = run("kpi", "--log", tmp_path / "new.db", "--today", TODAY)
    assert code == 2 and "internal error" not in err, err


# ------------------------------------------------------------------------------------------------- how a figure reads
@pytest.mark.parametrize("value, unit, decimals, text", [
    (Decimal("0.333333333333333"), "share", 1, "33.3%"), (Decimal("0.333333333333333"), "share", 0, "33%"),
    (0.333333333333333, "share", 0, "33%"), (Decimal("0.0862068965517241"), "share", 1, "8.6%"),
    (Decimal("0.954743195564516"), "index", 1, "0.95"), (0.954743195564516, "index", 0, "0.95"),
    (Decimal("12.5"), "days", 1, "12.5 d"), (Decimal("30"), "days", 1, "30 d"), (12.5, "days", 0, "13 d"),  # half up
    (Decimal("1234567.4"), "money", 1, "1,234,567"), (7, "count", 0, "7"),
    (Decimal("3.14159"), "number", 1, "3.142"), (None, "share", 1, "–"), (None, "index", 0, "–")])
def test_one_owner_shows_a_kpi_figure_by_its_unit(value, unit, decimals, text):
    from engine.compile.kpis import kpi_text
    assert kpi_text(value, unit, decimals) == text


@pytest.mark.parametrize("value, target, unit, decimals, text", [
    (Decimal("0.947"), Decimal("0.95"), "index", 1, "0.947"),  # not "0.95" against a target of 0.95, "not met"
    (Decimal("0.9499999"), Decimal("0.95"), "index", 1, "0.9499999"),
    (Decimal("0.93"), Decimal("0.95"), "index", 1, "0.93"),  # reads apart already
    (Decimal("0.95"), Decimal("0.95"), "index", 1, "0.95"),  # on target
    (Decimal("0.7996"), Decimal("0.8"), "share", 0, "79.96%"),
    (Decimal("29.96"), Decimal("30"), "days", 1, "29.96 d"),  # not "30.0 d" against 30 d
    (Decimal("999999.6"), Decimal("1000000"), "money", 1, "999,999.6"),
    (None, Decimal("1"), "money", 1, "–")])
def test_a_figure_off_its_target_never_reads_as_the_target(value, target, unit, decimals, text):
    from engine.compile.kpis import kpi_text
    assert kpi_text(value, unit, decimals, apart_from=target) == text


def test_pmo_kpi_and_the_health_page_show_a_figure_through_the_one_owner(tmp_path):
    """pmo kpi's table (a share to 1 decimal) and the health page's tiles (to whole percent) read one figure
    through engine.compile.kpis.kpi_text, with the precision as its argument."""
    import re

    from engine.compile.kpis import kpi_text
    engine = Engine.load(today=dt.date(2026, 12, 1))
    data = read_status(STATUS)
    figure = {r.key: r for r in engine.kpis(data).results}["share_green"].current.value
    code, out, err = run("kpi", "--status", *map(str, STATUS))
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("Projects green"))
    assert line.split()[2] == kpi_text(figure, "share", 1) == "33.3%"
    from engine.report.health import render_health
    html = render_health(engine.health_page(data))
    shown = re.search(r'data-health-kpi="share_green" value="[^"]*">([^<]*)</data>', html)[1]
    assert shown == kpi_text(figure, "share", 0) == "33%"


# ------------------------------------------------------------------------------------------------- a large history
@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """examples/status/ ingested into a portfolio history."""
    log = tmp_path_factory.mktemp("history") / "h.db"
    code, _, err = run("status", "ingest", *STATUS, "--log", log)
    assert code == 0, err
    return log


@pytest.mark.parametrize("size", [1, 2, 5, 500])
def test_kpis_read_a_group_of_projects_at_a_time_equal_kpis_over_the_whole_history(stored, size):
    """pmo kpi --log reads the history a group of projects at a time (StoredStatus): every figure and every trace
    (records, their order, what each aggregate read) as from the whole history in memory (status_data)."""
    from engine.store import DecisionLog
    from engine.store.history import StoredStatus, status_data
    engine = Engine.load(today=dt.date.fromisoformat(TODAY))
    with DecisionLog(stored) as log:
        whole = engine.kpis(status_data(log), entries=log.query(), period=parse_period("2027-Q4"), periods=4)
        grouped = StoredStatus(log, size=size)
        assert len(list(grouped.groups())) == -(-len(status_data(log).reports) // size)
        assert grouped.latest() == History(status_data(log), engine.policy.health, engine._health).latest()
        by_group = engine.kpis(grouped, entries=log.query(), period=parse_period("2027-Q4"), periods=4)
    assert by_group.to_json() == whole.to_json()
    assert sum(f.value is not None for r in whole.results for f in r.figures) >= 20


def test_kpis_hold_one_group_of_reports_at_a_time_and_of_each_record_only_what_they_read(stored):
    """Bounded memory: a group's reports are dropped once the next group is read (two groups at most), and each
    period keeps of a project only the fields the KPIs read (not its whole record)."""
    import gc
    import weakref

    from engine.health.kpis import read_fields
    from engine.store import DecisionLog
    from engine.store.history import StoredStatus
    engine = Engine.load(today=dt.date.fromisoformat(TODAY))
    alive: list[int] = []

    class Watched(StoredStatus):
        def groups(self):
            seen: list[list[weakref.ref]] = []  # each group's reports
            for data in super().groups():
                gc.collect()  # the group before is still the reader's loop variable; none before it may be held
                alive.append(sum(ref() is not None for group in seen[:-1] for ref in group))
                seen.append([weakref.ref(r) for series in data.reports.values() for r in series])
                yield data

    with DecisionLog(stored) as log:
        history = History(Watched(log, size=2), engine.policy.health, engine._health, log.query())
        report = evaluate_kpis(engine.policy.kpis, history, periods_until(parse_period("2027-Q4"), 4))
    assert len(alive) >= 4 and set(alive) == {0}, alive
    fields = read_fields(k for k in engine.policy.kpis.kpis if k.over == "projects")
    assert fields and "rating" in fields and len(fields) < 10
    for standing in history._standings.values():
        assert standing.projects and all(set(r.values) == fields for r in standing.projects)
    assert any(f.value is not None for r in report.results for f in r.figures)


def test_a_history_asked_for_more_fields_than_it_kept_rates_again_not_a_wrong_figure(tiny):
    """One History, a KPI set that reads few fields, then one that reads others: the second's figures are as on a
    new History (a standing is reused only when it kept every field asked for)."""
    from engine.compile.kpis import compile_kpis
    from engine.errors import DiagnosticSink
    from engine.policy.models import KpisPolicy
    engine, data, _ = tiny
    periods = periods_until(parse_period("2027-02"), 2)

    def kpis(measure, by=None):
        policy = KpisPolicy.model_validate({"kind": "kpis", "kpis": [
            {"id": "k", "title": "K", "over": "projects", "by": by, "measure": measure, "direction": "higher"}]})
        return compile_kpis(policy, dt.date(2026, 12, 1), DiagnosticSink())

    first, second = kpis('share(rating == "green")'), kpis("total(ac)", by="objective")
    shared = History(data, engine.policy.health, engine._health)
    evaluate_kpis(first, shared, periods)
    again = evaluate_kpis(second, shared, periods).to_json()
    assert again == evaluate_kpis(second, History(data, engine.policy.health, engine._health), periods).to_json()
    assert {r["group"] for r in again["kpis"]} == {"x", "y"}
    assert [f["value"] for r in again["kpis"] if r["group"] == "x" for f in r["periods"]] == [425, 650]


def _kpis_by_workers(log_path, workers, size=2):
    from engine.store import DecisionLog
    from engine.tasks.forked_status import ForkedStatus
    engine = Engine.load(today=dt.date.fromisoformat(TODAY))
    with DecisionLog(log_path) as log:
        return engine.kpis(ForkedStatus(log, size=size, workers=workers), entries=log.query(),
                           period=parse_period("2027-Q4"), periods=4).to_json()


@pytest.mark.parametrize("workers, size", [(2, 1), (2, 2), (3, 4)])
def test_kpis_measured_in_worker_processes_are_the_kpis_of_one_process(stored, workers, size):
    """pmo kpi --log --workers N: each group read and measured in a worker process, the parts joined in group
    order: every figure and trace as one process computes them."""
    assert _kpis_by_workers(stored, workers, size) == _kpis_by_workers(stored, 1, size)


@pytest.mark.parametrize("how", ["dies", "raises"])
def test_a_kpi_worker_that_dies_or_raises_loses_nothing(stored, tmp_path, monkeypatch, how):
    """A worker killed while it reads its group (as a crash in the rules engine's C core would end it): that group
    and the rest are measured here. A group whose worker raised is measured here again (its error, if any, is
    this process's). The figures are one process's either way."""
    import os

    from engine.tasks import forked_status as task
    alone = _kpis_by_workers(stored, 1)
    marker = tmp_path / how
    read = task.ForkedStatus.read

    def once(self, projects, log=None):
        if task._worker is not None and not marker.exists():  # in a worker, the first time
            marker.write_text("x")
            if how == "dies":
                os._exit(1)
            raise RuntimeError("a worker's own failure")
        return read(self, projects, log)

    monkeypatch.setattr(task.ForkedStatus, "read", once)
    assert _kpis_by_workers(stored, 2) == alone
    assert marker.exists()


def test_kpi_workers_are_forked_only_when_they_can_and_pay(stored):
    """None: one per core only for a history of MEASURE_IN_PARALLEL_FROM reports or more (examples/status/ has
    66); never from a process with another thread (a fork copies one thread: another's lock would stay held)."""
    import threading

    from engine.store import DecisionLog
    from engine.tasks import forked_status as task
    with DecisionLog(stored) as log:
        assert task.ForkedStatus(log).worker_count(5) == 1
        assert task.ForkedStatus(log, workers=4).worker_count(3) == 3  # at most one a group
        stop = threading.Event()
        other = threading.Thread(target=stop.wait, daemon=True)
        other.start()
        try:
            assert task.ForkedStatus(log, workers=2).worker_count(5) == 1
        finally:
            stop.set()
            other.join()


def test_pmo_kpi_workers(stored):
    args = ("kpi", "--log", stored, "--period", "2027-Q4", "--format", "json", "--today", TODAY)
    code, one, err = run(*args, "--workers", "1")
    assert code == 0, err
    assert run(*args, "--workers", "2")[:2] == (0, one)
    code, _, err = run(*args, "--workers", "0")
    assert code == 2 and "1 or more" in err
