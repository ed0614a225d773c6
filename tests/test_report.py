"""The HTML board report: its numbers agree with the JSON output, it renders in a real headless Chromium
without script errors, it opens offline, and proposal text in it is inert."""
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from engine import Engine
from engine.cli import main
from engine.io.readers import read_proposals
from engine.report.build import render, write_report
from tests.conftest import ROOT, TODAY

PROPOSALS = ROOT / "examples" / "proposals.csv"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run(*argv):
    import io
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()


def kpis(page_html: str) -> dict[str, str]:
    return dict(re.findall(r'data-kpi="([a-z-]+)" value="([^"]*)"', page_html))


def test_report_counts_equal_the_json_output(tmp_path):
    report = tmp_path / "report.html"
    code, out, _ = run("evaluate", PROPOSALS, ROOT / "examples" / "messy_proposals.csv", "--format", "json",
                       "--no-log", "--report", report, "--today", TODAY)
    decisions = json.loads(out)
    assert code == 1  # the messy file has bad rows
    shown = kpis(report.read_text(encoding="utf-8"))
    for outcome in ("accept", "review", "reject", "error"):
        assert int(shown[outcome].replace(",", "")) == sum(d["decision"] == outcome for d in decisions), outcome
    assert int(shown["total"].replace(",", "")) == len(decisions)
    assert shown["error"] != "0"


def test_report_from_rank_has_ranking_conflicts_graph_and_frontier(tmp_path):
    report = tmp_path / "board.html"
    code, out, err = run("rank", PROPOSALS, "--report", report, "--portfolio", ROOT / "examples" / "portfolio.yaml",
                         "--frontier", "4", "--format", "json", "--today", TODAY, "--title", "Board <Q1>")
    assert code == 0, err
    ranking = json.loads(out)
    text = report.read_text(encoding="utf-8")
    assert "<h1>Board &lt;Q1&gt;</h1>" in text
    ranked = [e["id"] for e in ranking["entries"] if e["rank"] is not None]
    # The table lists the ranked proposals first, best first, in the ranking's order.
    table_ids = re.findall(r'<tr class="(?:accept|review|reject|error)"><td class=n>\d*</td><td><a href="#p\d+">([^<]+)<',
                           text)
    assert table_ids[:len(ranked)] == ranked
    assert len(table_ids) == len(ranking["entries"])
    assert "Portfolio conflicts" in text and "Dependency graph" in text and "Efficient frontier" in text
    assert text.count("<details id=") == len(ranking["entries"])


@pytest.mark.parametrize("portfolio", [{"projects": [{"id": "A", "value": 0, "cost": {"2027-Q1": 100}}]},
                                       {"projects": []}])
def test_a_frontier_of_one_value_or_none_draws(tmp_path, portfolio):
    """Found by a new user: a portfolio whose frontier has one value (0), or none, crashed the report
    (ZeroDivisionError in the chart's axis)."""
    path = tmp_path / "portfolio.json"
    path.write_text(json.dumps(portfolio))
    report = tmp_path / "board.html"
    code, _, err = run("rank", PROPOSALS, "--report", report, "--portfolio", path, "--frontier", "4", "--today",
                       TODAY)
    assert code == 0, err
    assert "Efficient frontier" in report.read_text(encoding="utf-8")


def test_report_is_deterministic_and_self_contained(tmp_path):
    engine = Engine.load(today=TODAY)
    first = render(engine.report(read_proposals(PROPOSALS)))
    second = render(Engine.load(today=TODAY).report(read_proposals(PROPOSALS)))
    assert first == second
    # Nothing is fetched: no external script, style, image or font, and the page forbids them.
    assert not re.search(r'(src|href)="(https?:)?//', first)
    assert "default-src 'none'" in first


HOSTILE = {
    "id": '<script>window.pwned=1</script>',
    "title": '<img src=x onerror="window.pwned=2">"\'&',
    "sponsor": "=HYPERLINK(\"http://x\",\"y\")", "sponsor_level": "director", "alignment": "net-zero:strong",
    "category": "growth", "budget": "120000", "benefit": "400000", "risk": "2", "complexity": "2",
    "regulatory": "no", "personal_data": "no", "start_date": "2027-03-01", "end_date": "2027-09-30",
}


def test_proposal_text_is_escaped(tmp_path):
    engine = Engine.load(today=TODAY)
    text = render(engine.report([HOSTILE]))
    assert "<script>window.pwned" not in text and "<img src=x" not in text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in text
    # The only scripts are the report's own.
    assert text.count("<script>") == 1


browser = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("PMO_REQUIRE_BROWSER"),
                             reason="Chromium is not installed (CI installs it and sets PMO_REQUIRE_BROWSER=1)")


@pytest.fixture(scope="module")
def chromium():
    assert CHROMIUM, "PMO_REQUIRE_BROWSER is set but there is no chromium on PATH (apt-get install chromium)"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def open_page(chromium, path: Path):
    """The page, with every script error, console error and network request it made."""
    page = chromium.new_page()
    problems, requests = [], []
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems, requests


@browser
def test_report_renders_in_headless_chromium_with_the_json_counts(tmp_path, chromium):
    report = tmp_path / "report.html"
    code, out, _ = run("rank", PROPOSALS, ROOT / "examples" / "messy_proposals.csv", "--format", "json",
                       "--report", report, "--portfolio", ROOT / "examples" / "portfolio.yaml", "--frontier", "4",
                       "--today", TODAY)
    entries = json.loads(out)["entries"]
    page, problems, requests = open_page(chromium, report)
    assert problems == []
    assert requests == [report.as_uri()]  # offline: the file itself and nothing else
    assert page.get_attribute("html", "data-ready") == "yes"  # the report's script ran to the end
    for outcome in ("accept", "review", "reject", "error"):
        shown = page.text_content(f'data[data-kpi="{outcome}"]')
        assert int(shown.replace(",", "")) == sum(e["decision"] == outcome for e in entries), outcome
    rows = page.locator("#proposals tbody tr")
    assert rows.count() == len(entries)
    # The charts drew: a bubble per ranked proposal with a risk rating, bars for objectives and fired rules.
    rows_in = [r for f in (PROPOSALS, ROOT / "examples" / "messy_proposals.csv") for r in read_proposals(f)]
    views = Engine.load(today=TODAY).report(rows_in).views
    assert page.locator("svg.bubbles circle").count() == sum(v.score is not None and v.risk is not None
                                                             for v in views) > 40
    assert page.locator("svg.bars").count() == 2 and page.locator("svg.frontier").count() == 1
    assert page.locator("svg.bubbles").bounding_box()["height"] > 100  # laid out, not collapsed
    # Sorting by score (descending after two clicks) puts the best-ranked proposal first.
    best = next(e["id"] for e in entries if e["rank"] == 1)
    header = page.locator("#proposals th", has_text="Score")
    header.click()
    header.click()
    assert page.locator("#proposals tbody tr").first.locator("td").nth(1).text_content() == best
    # Filtering hides the other rows.
    page.fill("#filter", best)
    assert page.locator("#proposals tbody tr:visible").count() == 1
    # Clicking the id opens its explanation.
    link = page.locator("#proposals tbody tr:visible a")
    target = link.get_attribute("href")[1:]
    assert page.locator(f"details#{target}").get_attribute("open") is None
    link.click()
    page.wait_for_function(f"document.getElementById('{target}').open")
    assert best in page.locator(f"details#{target} summary").text_content()
    assert problems == []
    page.close()


@browser
def test_hostile_proposal_text_stays_inert_in_the_browser(tmp_path, chromium):
    report = tmp_path / "hostile.html"
    write_report(Engine.load(today=TODAY).report([HOSTILE]), report)
    page, problems, requests = open_page(chromium, report)
    assert problems == []
    assert page.evaluate("window.pwned === undefined")
    assert requests == [report.as_uri()]  # the <img src=x> never loaded
    assert page.locator("#proposals tbody tr td a").first.text_content() == HOSTILE["id"]
    page.close()


def test_the_same_file_given_twice_is_reported_twice(tmp_path):
    """Found in review: views were matched to ranking entries by (file, row, id), which repeat."""
    report = tmp_path / "r.html"
    code, out, _ = run("rank", PROPOSALS, PROPOSALS, "--format", "json", "--report", report, "--today", TODAY)
    ranked = sum(e["rank"] is not None for e in json.loads(out)["entries"])
    assert f"({ranked} ranked)" in report.read_text(encoding="utf-8") and ranked == 84


def test_the_risk_chart_says_which_field_it_looks_for(tmp_path):
    """Found by a new user: with her risk field named 'risque', the report told the board that no proposal has a
    risk rating, when every one had."""
    import dataclasses

    from engine.report.build import build_report
    engine = Engine.load(today=TODAY)
    decided = [(d, None) for d in engine.evaluate_many(read_proposals(PROPOSALS))]
    report = build_report(engine.policy, decided)
    rated = dataclasses.replace(report, views=[dataclasses.replace(v, score=50.0, risk=3.0) for v in report.views])
    assert report.fields["risk"] == "risk" and "no proposal has both" not in render(rated)
    unnamed = render(dataclasses.replace(report, fields={**report.fields, "risk": None},
                                         views=[dataclasses.replace(v, score=50.0) for v in report.views]))
    assert "the policy has no risk field: the report plots a field named risk, risk_score or risk_rating" in unnamed
    unrated = render(dataclasses.replace(report, views=[dataclasses.replace(v, score=50.0) for v in report.views]))
    assert "no proposal has both a score and a risk rating (risk)" in unrated
