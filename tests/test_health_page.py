"""The board report's health page: every figure it draws equals the one `pmo health --format json` (and `pmo schedule`,
`pmo conflicts`) gives; it renders in headless Chromium without script errors, offline; and printed on A4 landscape
every chart fits the page width."""
import datetime as dt
import io
import json
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from engine import Engine
from engine.cli import main
from engine.health.evm import rounded
from engine.health.status import read_status
from engine.health.trend import health_series, status_kpis
from engine.portfolio.model import read_portfolio
from engine.report.build import render_health_page
from tests.test_report import CHROMIUM, browser, chromium, open_page  # noqa: F401 - chromium is a fixture

ROOT = Path(__file__).resolve().parent.parent
STATUS = sorted((ROOT / "examples" / "status").glob("status-*.csv"))
CLEAN = ROOT / "examples" / "portfolio-clean.yaml"
CONFLICTED = ROOT / "examples" / "portfolio.yaml"
TODAY = "2026-12-01"


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def health_json(*extra):
    code, out, err = run("health", *STATUS, "--format", "json", "--today", TODAY, *extra)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def page_html(tmp_path_factory):
    path = tmp_path_factory.mktemp("page") / "health.html"
    code, _, err = run("health", *STATUS, "--report", path, "--portfolio", CLEAN, "--today", TODAY)
    assert code == 0, err
    assert "health page written to" in err
    return path


def attrs(tag: str) -> dict[str, str]:
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', tag))


def cells(text: str) -> dict[tuple[str, str], dict[str, str]]:
    found = {}
    for tag in re.findall(r'<td class="rag [a-z]+" data-project=[^>]*>', text):
        a = attrs(tag)
        found[(a["data-project"], a["data-date"])] = a
    return found


def curve_points(text: str) -> dict[str, dict[tuple[str, str], float]]:
    """curve key -> (series, date) -> value, from each S-curve's circles."""
    out = {}
    for key, body in re.findall(r'<svg class="scurve" data-curve="([^"]+)"[^>]*>(.*?)</svg>', text):
        out[key] = {(a["data-series"], a["data-date"]): json.loads(a["data-value"])
                    for a in map(attrs, re.findall(r"<circle [^>]*>", body))}
    return out


def test_rag_grid_and_s_curves_equal_pmo_health_json_at_each_status_date(page_html):
    text = page_html.read_text(encoding="utf-8")
    grid, curves = cells(text), curve_points(text)
    dates = sorted({d for _, d in grid})
    assert len(dates) == 12 and dates[-1] == "2027-12-31"
    seen = 0
    for day in dates:
        for entry in health_json("--as-of", day):
            if entry["status_date"] != day:  # stopped reporting: no coloured cell, no new point
                assert (entry["project"], day) not in grid
                assert ("ev", day) not in curves[entry["project"]]
                continue
            cell = grid[(entry["project"], day)]
            assert cell["data-rating"] == entry["rating"], (entry["project"], day)
            assert cell["data-rules"].split(";") == [r["id"] for r in entry["rules"] if r["rating"] == entry["rating"]] \
                or cell["data-rules"] == "" and not [r for r in entry["rules"] if r["rating"] == entry["rating"]]
            for name in ("pv", "ev", "ac"):
                assert curves[entry["project"]][(name, day)] == entry[name], (entry["project"], day, name)
            seen += 1
        portfolio = health_json("--as-of", day, "--by", "portfolio")[0]
        for name in ("pv", "ev", "ac"):
            assert curves["portfolio"][(name, day)] == portfolio[name], (day, name)
    assert seen == len(grid) > 60  # every coloured cell was checked
    # the story is on the page: BILLING killed in June, then its state; MOBILE red in June, green in September
    assert grid[("BILLING", "2027-06-30")]["data-rating"] == "amber" and ("BILLING", "2027-07-31") not in grid
    assert re.search(r'<td class="rag stopped" title="no report; the last is of 2027-06-30 \(killed\)">killed</td>', text)
    assert grid[("MOBILE", "2027-06-30")]["data-rating"] == "red"
    assert grid[("MOBILE", "2027-09-30")]["data-rating"] == "green"


def test_the_legend_names_every_rule_that_set_a_colour_with_its_place(page_html):
    text = page_html.read_text(encoding="utf-8")
    used = {r for c in cells(text).values() for r in c["data-rules"].split(";") if r}
    legend = re.findall(r'<li><span class="swatch (\w+)">(\d+)</span> <code>([^<]+)</code> \(\w+, <code>([^<]+)</code>\)',
                        text)
    assert {rule for _, _, rule, _ in legend} == used
    assert [int(k) for _, k, _, _ in legend] == list(range(1, len(legend) + 1))
    assert all(re.fullmatch(r"policies/health\.yaml:\d+", where) for *_, where in legend)
    # each cell shows the numbers of its rules, and its title the reasons
    keys = {rule: key for _, key, rule, _ in legend}
    for tag, shown in re.findall(r'(<td class="rag (?:red|amber)"[^>]*>)([^<]*)</td>', text):
        rules = attrs(tag)["data-rules"].split(";")
        assert shown == ",".join(keys[r] for r in rules)
        assert all(r in tag for r in rules)  # in the title, with where it is


def test_kpi_tiles_equal_the_json(page_html):
    text = page_html.read_text(encoding="utf-8")
    tiles = {k: json.loads(v) for k, v in re.findall(r'data-health-kpi="([^"]+)" value="([^"]*)"', text)}
    # the tiles are the reference policy's declared KPIs over the status reports (policies/kpis.yaml), a tile per
    # objective for the one with by: objective; the KPIs over the decision log are not on the page
    assert set(tiles) == {"spi", "cpi", "share_green", "benefits", "forecast_error"} | {
        f"spend_by_objective[{o}]" for o in ("customer-experience", "grid-resilience", "net-zero",
                                             "operational-efficiency")}
    portfolio = health_json("--by", "portfolio")[0]
    projects = health_json()
    assert tiles["spi"] == portfolio["spi"] and tiles["cpi"] == portfolio["cpi"]
    rated = [p for p in projects if p["rating"] is not None]
    # every figure at the engine's 15 significant digits, rounded once
    assert tiles["share_green"] == float(rounded(Fraction(sum(p["rating"] == "green" for p in rated), len(rated))))
    planned = sum(p["benefits_planned"] or 0 for p in projects)
    realised = sum(p["benefits_realised"] or 0 for p in projects if p["benefits_planned"])
    assert tiles["benefits"] == float(rounded(Fraction(realised) / Fraction(planned)))
    # the sparklines are the same figures at each status date
    sparks = {key: [json.loads(a["data-value"]) for a in map(attrs, re.findall(r"<circle [^>]*>", body))]
              for key, body in re.findall(r'<svg class="spark" data-kpi="([a-z_]+)"[^>]*>(.*?)</svg>', text)}
    june = health_json("--as-of", "2027-06-30", "--by", "portfolio")[0]
    assert sparks["spi"][5] == june["spi"] and sparks["cpi"][5] == june["cpi"] and len(sparks["spi"]) == 12
    assert len(sparks["benefits"]) == 8  # no project plans benefits before May


def test_status_kpis_is_a_function_of_the_series_the_kpi_work_can_replace():
    engine = Engine.load(today=dt.date.fromisoformat(TODAY))
    series = health_series(read_status(STATUS), engine.policy.health, engine._health)
    kpis = {k.id: k for k in status_kpis(series)}
    assert [d for d, _ in kpis["spi"].values] == series.dates
    assert kpis["benefits"].values[0][1] is None and "no project plans" in kpis["benefits"].why["2027-01-31"]
    assert kpis["spi"].met(Decimal("0.96")) is True and kpis["cpi"].met(Decimal("0.9")) is False
    # the page takes any tiles: a KPI policy's replace these
    page = engine.health_page(series, kpis=[kpis["cpi"]])
    assert [k["id"] for k in page.kpis] == ["cpi"]


def test_capacity_heat_map_is_the_portfolio_demand_against_the_policy_ceiling(tmp_path):
    engine = Engine.load(today=dt.date.fromisoformat(TODAY))
    for portfolio in (CLEAN, CONFLICTED):
        page = engine.health_page(STATUS, portfolio=portfolio)
        projects = read_portfolio(portfolio)
        limits = engine.policy.portfolio
        text = render_health_page(page)
        rects = [attrs(t) for t in re.findall(r"<rect [^>]*data-role=[^>]*>", text)]
        assert len(rects) == len(limits.capacity) * len(limits.periods)
        for a in rects:
            role, period = a["data-role"], a["data-period"]
            demand = sum(p.demand.get(role, {}).get(period, 0) for p in projects if p.selected)
            assert json.loads(a["data-load"]) == demand and json.loads(a["data-capacity"]) == limits.capacity_of(role,
                                                                                                                    period)
        over = {(a["data-role"], a["data-period"]) for a in rects if a["data-state"] == "over"}
        conflicts = [c for c in engine.conflicts(portfolio).conflicts if c.kind == "over_allocation"]
        assert over == {(c.message.split(" in ")[0], c.periods[0]) for c in conflicts}
        assert (portfolio == CONFLICTED) == bool(over)


def test_gantt_bars_are_pmo_schedule_in_calendar_dates_with_the_critical_path(page_html, tmp_path):
    text = page_html.read_text(encoding="utf-8")
    code, out, err = run("schedule", CLEAN, "--format", "json", "--today", TODAY)
    assert code == 0, err
    plan = json.loads(out)
    bars = {a["data-project"]: a for a in map(attrs, re.findall(r'<rect [^>]*data-critical=[^>]*>', text))}
    assert set(bars) == set(plan["activities"])
    critical = {n for path in plan["critical_paths"] for n in path}
    for name, activity in plan["activities"].items():
        assert (bars[name]["data-start"], bars[name]["data-finish"]) == (activity["start"], activity["finish"])
        assert bars[name]["data-critical"] == ("yes" if name in critical else "no")
    assert critical and "critical path" in text
    line = re.search(r'<line class="status-date"[^>]*data-date="([^"]+)"', text)
    assert line and line[1] == "2027-12-31"
    # the forecast finish marks are earned schedule's
    forecasts = {p: d for d, p in re.findall(r'data-forecast="([^"]+)"><title>([A-Z]+):', text)}
    for entry in health_json():
        if entry["project"] in bars:
            assert forecasts.get(entry["project"]) == entry["forecast_finish"]
    # a portfolio that cannot be scheduled says why instead of drawing; without a portfolio the planned dates
    engine = Engine.load(today=dt.date.fromisoformat(TODAY))
    assert "no schedule: " in engine.health_page(STATUS, portfolio=CONFLICTED).gantt["note"]
    alone = engine.health_page(STATUS).gantt
    assert alone["source"] == "status" and not alone["critical_path"] and len(alone["bars"]) == 9
    assert not any(b["critical"] for b in alone["bars"])


def test_as_of_cuts_the_page_at_that_date(tmp_path):
    path = tmp_path / "june.html"
    code, _, err = run("health", *STATUS, "--report", path, "--as-of", "2027-06-30", "--today", TODAY)
    assert code == 0, err
    grid = cells(path.read_text(encoding="utf-8"))
    assert max(d for _, d in grid) == "2027-06-30" and "PORTAL" not in {p for p, _ in grid}


def test_the_board_report_grows_the_health_page(tmp_path):
    report = tmp_path / "board.html"
    code, _, err = run("rank", ROOT / "examples" / "proposals.csv", "--report", report, "--portfolio", CLEAN,
                       "--status", *STATUS, "--today", TODAY, "--format", "json")
    assert code == 0, err
    text = report.read_text(encoding="utf-8")
    assert text.count('<section id="health"') == 1 and 'id="proposals"' in text
    assert text.count("<script>") == 1 and "default-src 'none'" in text
    assert not re.search(r'(src|href)="(https?:)?//', text)
    code, _, err = run("rank", ROOT / "examples" / "proposals.csv", "--status", *STATUS, "--today", TODAY)
    assert code == 2 and "--status goes with --report" in err
    # pmo evaluate --report takes it too (no portfolio there: the Gantt chart of the reports' planned dates)
    report = tmp_path / "round.html"
    code, _, err = run("evaluate", ROOT / "examples" / "proposals.csv", "--report", report, "--status", *STATUS,
                       "--no-log", "--today", TODAY)
    assert code == 0, err
    text = report.read_text(encoding="utf-8")
    assert text.count('<section id="health"') == 1 and "planned dates from the status reports" in text
    assert cells(text) == cells(render_health_page(Engine.load(today=dt.date.fromisoformat(TODAY)).health_page(STATUS)))
    code, _, err = run("evaluate", ROOT / "examples" / "proposals.csv", "--report", report, "--status",
                       tmp_path / "missing.csv", "--no-log", "--today", TODAY)
    assert code == 2 and "missing.csv" in err


def test_status_text_is_escaped_on_the_page(tmp_path):
    status = tmp_path / "status.csv"
    status.write_text('project,title,status_date,bac,pv,ev,ac,state\n'
                      '"<img src=x onerror=alert(1)>","<script>x()</script>",2027-01-31,100,10,5,20,"<b>"\n'
                      '"<img src=x onerror=alert(1)>","<script>x()</script>",2027-02-28,100,20,10,30,"<b>"\n',
                      encoding="utf-8")
    engine = Engine.load(today=dt.date.fromisoformat(TODAY))
    text = render_health_page(engine.health_page([status]))
    assert "<img src=x" not in text and "<script>x()" not in text and "<b>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


@browser
def test_the_health_page_in_headless_chromium_and_printed_on_a4_landscape(page_html, tmp_path, chromium):  # noqa: F811
    page, problems, requests = open_page(chromium, page_html)
    assert problems == [] and requests == [page_html.as_uri()]
    assert page.get_attribute("html", "data-ready") == "yes"
    assert page.locator("td.rag[data-rating]").count() == len(cells(page_html.read_text(encoding="utf-8")))
    assert page.locator("svg.scurve").count() == 10 and page.locator("svg.gantt").count() == 1
    assert page.locator("svg.heatmap").count() == 1 and page.locator("svg.spark").count() == 9  # a tile per KPI (policies/kpis.yaml)
    # the KPI tiles the browser shows are the JSON's
    portfolio = health_json("--by", "portfolio")[0]
    assert float(page.get_attribute('data[data-health-kpi="spi"]', "value")) == portfolio["spi"]
    # Printed: A4 landscape is 297 mm wide; less the page's 10 mm margins that is 277 mm, 1047 CSS pixels.
    printable = round(277 / 25.4 * 96)
    page.set_viewport_size({"width": printable, "height": 740})
    page.emulate_media(media="print")
    boxes = page.evaluate("""() => Array.from(document.querySelectorAll('#health svg, #health table')).map(e => {
        const r = e.getBoundingClientRect(); return {cls: e.getAttribute('class'), left: r.left, right: r.right,
        width: r.width, height: r.height, font: parseFloat(getComputedStyle(e).fontSize)}; })""")
    assert len(boxes) == 22  # 9 KPI tiles (policies/kpis.yaml), the grid, 10 S-curves, the heat map and the Gantt chart
    for box in boxes:
        assert box["left"] >= 0 and box["right"] <= printable + 0.5, box  # nothing runs off the page
        assert box["width"] > 100 and box["height"] > 20, box  # laid out, not collapsed
        assert box["font"] >= 10, box  # readable
    assert page.evaluate("document.documentElement.scrollWidth") <= printable
    gantt = next(b for b in boxes if b["cls"] == "gantt")
    assert gantt["width"] > 0.8 * printable  # the Gantt chart uses the width of the page
    pdf = page.pdf(format="A4", landscape=True, print_background=True)
    assert pdf.startswith(b"%PDF") and 2 <= len(re.findall(rb"/Type\s*/Page\b", pdf)) <= 8
    assert problems == []
    page.close()


@browser
def test_the_board_report_with_its_health_page_in_chromium(tmp_path, chromium):  # noqa: F811
    report = tmp_path / "board.html"
    code, _, err = run("rank", ROOT / "examples" / "proposals.csv", "--report", report, "--portfolio", CLEAN,
                       "--status", *STATUS, "--today", TODAY)
    assert code == 0, err
    page, problems, requests = open_page(chromium, report)
    assert problems == [] and requests == [report.as_uri()]
    assert page.get_attribute("html", "data-ready") == "yes"  # the sorting script ran, the health page beside it
    assert page.locator("#health td.rag[data-rating]").count() > 60
    page.emulate_media(media="print")
    assert page.pdf(format="A4", landscape=True).startswith(b"%PDF")
    assert problems == []
    page.close()


def test_error_rows_are_on_the_page_and_their_projects_are_not_rated(tmp_path):
    status = tmp_path / "status.csv"
    status.write_text("project,status_date,bac,pv,ev,ac\n"
                      "A,2027-01-31,100,10,x,5\n"
                      "B,2027-01-31,100,10,10,12\n", encoding="utf-8")
    path = tmp_path / "page.html"
    code, out, err = run("health", status, "--report", path, "--today", TODAY)
    assert code == 1  # as without --report: some rows were bad
    text = path.read_text(encoding="utf-8")
    assert "Error rows (1)" in text and '<li data-project="A">' in text and "&#x27;x&#x27; is not a number" in text
    assert {p for p, _ in cells(text)} == {"B"}
    # an input with no usable row still makes a page, saying so
    empty = tmp_path / "empty.csv"
    empty.write_text("project,status_date,bac,pv,ev,ac\n", encoding="utf-8")
    code, _, err = run("health", empty, "--report", path, "--today", TODAY)
    assert code == 0 and "no usable status report" in path.read_text(encoding="utf-8")
