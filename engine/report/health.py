"""The board report's health page: RAG grid, EVM S-curves, capacity heat map, Gantt chart and KPI tiles.

Data flows one way: a :class:`~engine.health.trend.HealthSeries` (every project rated at every status date), the
KPI tiles (the policy set's declared KPIs over the status reports, :func:`engine.health.kpis.tiles`; without a
KPI policy :func:`engine.health.trend.status_kpis`; or any list of :class:`~engine.health.trend.Kpi`), the health
policy's rules and, when given, the portfolio file (demand by role and period, dependencies) with the portfolio
policy's limits -> :class:`HealthPage` (plain data; ``to_json`` for machines and tests) -> HTML (inline SVG).

Every figure drawn is the one ``pmo health --as-of DATE --format json`` gives (each point and cell carries it in
``data-*`` attributes, as JSON numbers), so a test can check the page against the command. The SVGs have a
``viewBox`` and scale to the page width; the print style lays the page out on A4 landscape.
"""
from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.compile.health import CompiledHealth
from engine.compile.kpis import kpi_text
from engine.compile.portfolio import Limits
from engine.errors import InputError
from engine.health.assess import _plain
from engine.health.trend import HealthSeries, Kpi
from engine.report.text import money_text as _money

if TYPE_CHECKING:  # loaded (lazily) only when a portfolio is given
    from engine.portfolio.model import Portfolio

RAG = {"green": "#2e7d32", "amber": "#f0a202", "red": "#c62828", None: "#9e9e9e"}
SERIES = {"pv": ("#5c6bc0", "4 3", "PV (planned value)"), "ev": ("#2e7d32", "", "EV (earned value)"),
          "ac": ("#c62828", "", "AC (actual cost)")}


@dataclass
class HealthPage:
    status_date: str | None  # the latest status date: the Gantt chart's line
    dates: list[str]
    legend: list[dict[str, Any]]  # every rule that set a colour in the grid: key, id, rating, where, reason
    grid: list[dict[str, Any]]  # per project: project, title, cells [{date, rating, rules, reason, state, reported}]
    curves: list[dict[str, Any]]  # portfolio first, then per project: key, points [{date, pv, ev, ac}], bac
    capacity: dict[str, Any] = field(default_factory=dict)  # periods, roles [{role, cells [{period, load, ...}]}]
    gantt: dict[str, Any] = field(default_factory=dict)  # source, bars [{id, start, finish, critical}], note
    kpis: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # error rows (as pmo health --format json lists them)

    def to_json(self) -> dict[str, Any]:
        return {"status_date": self.status_date, "dates": self.dates, "legend": self.legend, "grid": self.grid,
                "curves": self.curves, "capacity": self.capacity, "gantt": self.gantt, "kpis": self.kpis,
                "errors": self.errors}


def build_health_page(series: HealthSeries, health: CompiledHealth, kpis: Sequence[Kpi], *, portfolio: Portfolio | None = None,
                      limits: Limits | None = None) -> HealthPage:
    """The page's content. ``portfolio`` (engine.portfolio.model.Portfolio) with the portfolio policy's
    ``limits``: the capacity heat map and the Gantt chart with the critical path; without it the Gantt chart
    shows the status reports' planned dates (no dependencies, so no critical path)."""
    dates = [d.isoformat() for d in series.dates]
    order = {r.id: k for k, r in enumerate(health.rules)}
    used: dict[str, Any] = {}
    grid = []
    for project in series.projects:
        cells, title = [], None
        for day in series.dates:
            rated = series.at(project, day)
            if rated is None:
                cells.append({"date": day.isoformat(), "reported": False, "rating": None, "rules": [],
                              "reason": "no report yet"})
                continue
            title = rated.record.get("title") or title
            setting = [f for f in rated.rules if f.rating == rated.rating]
            for f in setting:
                used.setdefault(f.id, f)
            if rated.status_date != day:  # stopped reporting: closed or killed, or a report is missing
                cells.append({"date": day.isoformat(), "reported": False, "rating": None, "rules": [],
                              "state": rated.record.get("state"), "last": rated.status_date.isoformat(),
                              "reason": f"no report; the last is of {rated.status_date.isoformat()}"
                                        + (f" ({rated.record['state']})" if rated.record.get("state") else "")})
                continue
            cells.append({"date": day.isoformat(), "reported": True, "rating": rated.rating,
                          "rules": [f.id for f in setting], "state": rated.record.get("state"),
                          "reason": "; ".join(f"{f.id} ({f.where}): {f.reason}" for f in setting) or rated.reason})
        grid.append({"project": project, "title": title, "cells": cells})
    legend = [{"key": k + 1, "id": f.id, "rating": f.rating, "where": f.where,
               "reason": next((r.reason for r in health.rules if r.id == f.id), "")}
              for k, f in enumerate(sorted(used.values(), key=lambda f: order.get(f.id, len(order))))]
    page = HealthPage(dates[-1] if dates else None, dates, legend, grid, _curves(series), kpis=[k.to_json() for k in kpis],
                      errors=[e.to_json() for e in series.errors])
    if portfolio is not None:
        page.capacity = _capacity(portfolio, limits or Limits())
    page.gantt = _gantt(series, portfolio, limits or Limits())
    return page


def _curves(series: HealthSeries) -> list[dict[str, Any]]:
    points = []
    for day in series.dates:
        figures = series.reports[day].portfolio.figures
        points.append({"date": day.isoformat(), **{k: _plain(figures.get(k)) for k in ("pv", "ev", "ac")}})
    latest = series.latest
    curves = [{"key": "portfolio", "title": "Portfolio", "points": points,
               "bac": _plain(latest.portfolio.figures.get("bac")) if latest else None}]
    for project in series.projects:
        mine, last = [], None
        for day in series.dates:
            rated = series.reported(project, day)
            if rated is not None:
                last = rated
                mine.append({"date": day.isoformat(), **{k: _plain(rated.record.get(k)) for k in ("pv", "ev", "ac")}})
        if last is not None:
            curves.append({"key": project, "title": last.record.get("title") or project, "points": mine,
                           "bac": _plain(last.record.get("bac")),
                           "planned_finish": _plain(last.record.get("planned_finish")),
                           "state": last.record.get("state"), "rating": last.rating})
    return curves


def _capacity(portfolio: Portfolio, limits: Limits) -> dict[str, Any]:
    """Demand of the projects going ahead (approved or funded), by role and period, against the ceiling."""
    load: dict[str, dict[str, float]] = {}
    who: dict[tuple[str, str], list[str]] = {}
    for p in portfolio:
        if not p.selected:
            continue
        for role, by_period in p.demand.items():
            for period, amount in by_period.items():
                if amount:
                    load.setdefault(role, {}).setdefault(period, 0.0)
                    load[role][period] += amount
                    who.setdefault((role, period), []).append(f"{p.id} {amount:g}")
    periods = list(limits.periods) + sorted({q for r in load.values() for q in r} - set(limits.periods))
    roles = list(limits.capacity) + sorted(set(load) - set(limits.capacity))
    rows = []
    for role in roles:
        cells = []
        for period in periods:
            amount = load.get(role, {}).get(period, 0.0)
            ceiling = limits.capacity_of(role, period)
            share = amount / ceiling if ceiling else None
            if ceiling is None:
                state = "no-ceiling" if amount else "none"
            elif amount > (limits.capacity_ceiling(role, period) or ceiling) + 1e-9:  # as pmo conflicts has it
                state = "over"
            elif amount > ceiling + 1e-9:
                state = "tolerance"
            else:
                state = "ok"
            cells.append({"period": period, "load": amount, "capacity": ceiling, "share": share, "state": state,
                          "from": who.get((role, period), [])})
        rows.append({"role": role, "cells": cells})
    return {"periods": periods, "roles": rows, "tolerance": limits.resource_tolerance}


def _gantt(series: HealthSeries, portfolio: Portfolio | None, limits: Limits) -> dict[str, Any]:
    latest = {p.project: p for p in series.latest.projects} if series.latest else {}
    bars: list[dict[str, Any]] = []
    if portfolio is not None:
        # lazy: networkx loads only for a Gantt chart
        from engine.portfolio.schedule import schedule
        try:
            plan = schedule(portfolio, limits)
        except InputError as exc:
            return {"source": "portfolio", "bars": [], "critical_path": [],
                    "note": "no schedule: " + "; ".join(d.message for d in exc.diagnostics)}
        if plan.day_zero is None:
            return {"source": "portfolio", "bars": [], "critical_path": plan.critical_path,
                    "note": "the portfolio's projects have no dates (network time only): no calendar to draw"}
        critical = {n for path in plan.critical_paths for n in path}
        for name in plan.order:
            a = plan.activities[name]
            dates = plan.dates(a)
            bars.append({"id": name, "title": portfolio.projects[name].name or name, "start": dates["start"],
                         "finish": dates["finish"], "critical": name in critical, "float": a.float})
        note = ("critical path" + ("s: " if len(plan.critical_paths) > 1 else ": ")
                + "; ".join(" → ".join(path) for path in plan.critical_paths)) if plan.critical_paths else ""
        path = plan.critical_path
        source = "portfolio"
    else:
        for project in series.projects:
            rated = latest.get(project)
            start, finish = (rated.record.get("planned_start"), rated.record.get("planned_finish")) if rated else (None, None)
            if rated is not None and start is not None and finish is not None:
                bars.append({"id": project, "title": rated.record.get("title") or project, "start": start.isoformat(),
                             "finish": finish.isoformat(), "critical": False, "float": None})
        undated = [p for p in series.projects if p not in {b["id"] for b in bars}]
        note = ("planned dates from the status reports; give --portfolio for dependencies and the critical path"
                + (f" (not drawn, no planned dates: {', '.join(undated)})" if undated else ""))
        path, source = [], "status"
    for bar in bars:
        rated = latest.get(bar["id"])
        if rated is not None:
            bar["forecast_finish"] = _plain(rated.record.get("forecast_finish"))
            bar["state"] = rated.record.get("state")
            bar["rating"] = rated.rating
    return {"source": source, "bars": bars, "critical_path": path, "note": note}


# ---------------------------------------------------------------------------------------------- HTML

def _j(value: Any) -> str:
    """A figure as a data attribute: the JSON number the command prints."""
    return html.escape(json.dumps(value), quote=True)


def render_health(page: HealthPage) -> str:
    """The page as one HTML section (the board report's, or a page of its own: :func:`render_health_page`)."""
    return "".join(_section(page))


def _section(page: HealthPage) -> Iterator[str]:
    e = html.escape
    yield (f'<section id="health" class="health"><h2>Project health</h2><p class=meta>Status reports up to '
           f'{e(page.status_date or "–")}: each project rated by the health policy at each status date; figures '
           "as <code>pmo health --as-of DATE --format json</code> gives them.</p>")
    yield _tiles(page.kpis)
    yield _grid(page)
    if page.errors:
        yield (f'<h3>Error rows ({len(page.errors)})</h3><p class=meta>These projects are not rated until their rows '
               'are corrected (a rating from the rows that happened to be readable would be a guess).</p><ul class="errors">'
               + "".join(f'<li data-project="{e(x["project"] or "")}"><code>{e(x["source"])}:{x["row"]}</code> '
                         f'{e(x["project"] or "(no project)")}: '
                         + "; ".join(f'{e(m["message"])}' for m in x["errors"]) + "</li>" for x in page.errors)
               + "</ul>")
    if page.dates:
        yield ('<h3>Earned value: S-curves</h3><p class=meta>PV (dashed), EV and AC, cumulative, at each status date; '
               'the grey line is BAC. The portfolio sums every project at its latest report.</p><div class="curves">')
        span = _span(page)
        for k, curve in enumerate(page.curves):
            yield _scurve(curve, span, big=k == 0)
        yield "</div>"
    else:
        yield "<p>No project could be rated: there is no usable status report.</p>"
    if page.capacity:
        yield _heatmap(page.capacity)
    yield _gantt_svg(page.gantt, page.status_date)
    yield "</section>"


def _tiles(kpis: list[dict[str, Any]]) -> str:
    e = html.escape
    out = ['<div class="kpis health-kpis">']
    for k in kpis:
        values = [v["value"] for v in k["values"]]
        target = k["target"]
        met = k["met"]
        sign = "≥" if k["direction"] == "up" else "≤"
        verdict = "" if met is None else (" · on target" if met else " · below target" if k["direction"] == "up"
                                          else " · above target")
        out.append(f'<div class="kpi hk {"met" if met else "missed" if met is False else ""}" title="{e(k["source"])}">'
                   f'<data data-health-kpi="{e(k["id"])}" value="{_j(k["latest"])}">{kpi_text(k["latest"], k["unit"], 0, apart_from=target)}'
                   f'</data><span>{e(k["label"])}'
                   + (f'; target {sign} {kpi_text(target, k["unit"], 0)}' if target is not None else "") + verdict
                   + f'</span>{_spark(values, target, k["id"], [v["date"] for v in k["values"]])}</div>')
    out.append("</div>")
    return "".join(out)


def _spark(values: list[float | None], target: float | None, key: str, dates: list[str]) -> str:
    known = [v for v in values if v is not None]
    width, height = 140, 34
    if not known:
        return f'<svg class="spark" viewBox="0 0 {width} {height}" role="img"><text x="2" y="20">no data</text></svg>'
    low, high = min(known + ([target] if target is not None else [])), max(known + ([target] if target is not None else []))
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    step = (width - 8) / max(1, len(values) - 1)

    def y(v: float) -> float:
        return height - 4 - (v - low) / (high - low) * (height - 8)

    line = " ".join(f"{4 + i * step:.1f},{y(v):.1f}" for i, v in enumerate(values) if v is not None)
    out = [f'<svg class="spark" data-kpi="{html.escape(key)}" viewBox="0 0 {width} {height}" role="img">']
    if target is not None:
        out.append(f'<line class="target" x1="4" x2="{width - 4}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
                   'stroke="#999" stroke-dasharray="3 2"/>')
    out.append(f'<polyline points="{line}" fill="none" stroke="#12355b" stroke-width="1.6"/>')
    for i, (v, d) in enumerate(zip(values, dates)):
        if v is not None:
            out.append(f'<circle cx="{4 + i * step:.1f}" cy="{y(v):.1f}" r="1.6" fill="#12355b" data-date="{d}" '
                       f'data-value="{_j(v)}"><title>{d}: {v}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def _grid(page: HealthPage) -> str:
    e = html.escape
    keys = {item["id"]: item["key"] for item in page.legend}
    head = "".join(f'<th title="{e(d)}">{e(d[:7])}</th>' for d in page.dates)
    rows = []
    for row in page.grid:
        cells = []
        for c in row["cells"]:
            if c["reported"]:
                mark = ",".join(str(keys[r]) for r in c["rules"] if r in keys) or "·"
                cells.append(f'<td class="rag {c["rating"] or "unrated"}" data-project="{e(row["project"])}" '
                             f'data-date="{c["date"]}" data-rating="{c["rating"] or ""}" '
                             f'data-rules="{e(";".join(c["rules"]))}" title="{e(c["date"])}: '
                             f'{e(c["rating"] or "unrated")}: {e(c["reason"])}">{mark}</td>')
            elif c.get("last"):
                cells.append(f'<td class="rag stopped" title="{e(c["reason"])}">{e((c.get("state") or "—")[:6])}</td>')
            else:
                cells.append('<td class="rag none"></td>')
        rows.append(f'<tr><th title="{e(row["title"] or "")}">{e(row["project"])}</th>{"".join(cells)}</tr>')
    legend = "".join(f'<li><span class="swatch {item["rating"]}">{item["key"]}</span> <code>{e(item["id"])}</code> '
                     f'({item["rating"]}, <code>{e(item["where"])}</code>): {e(item["reason"])}</li>'
                     for item in page.legend)
    return ('<h3>RAG by status date</h3><table class="rag-grid"><thead><tr><th>Project</th>' + head
            + '</tr></thead><tbody>' + "".join(rows) + '</tbody></table>'
            '<div class="legend"><p>Each cell is the project\'s rating on its report of that date; the number names '
            'the rule that set the colour (hover for its reason). <span class="swatch green">·</span> green: no '
            'rule fired (the policy\'s default). A word after the last report: its state (closed, killed).</p>'
            f'<ol class="rules">{legend}</ol></div>')


def _span(page: HealthPage) -> tuple[dt.date, dt.date]:
    days = [dt.date.fromisoformat(p["date"]) for c in page.curves for p in c["points"]]
    days += [dt.date.fromisoformat(c["planned_finish"]) for c in page.curves if c.get("planned_finish")]
    if not days:  # nothing reported: an empty axis (the page is the same whenever it is made)
        return dt.date(2000, 1, 1), dt.date(2000, 1, 2)
    first = min(days)
    first = first.replace(day=1)
    last = max(days)
    return first, max(last, first + dt.timedelta(days=1))


def _scurve(curve: dict[str, Any], span: tuple[dt.date, dt.date], big: bool) -> str:
    e = html.escape
    width, height, left, bottom, top, right = (720, 260, 58, 26, 14, 10) if big else (340, 170, 48, 22, 12, 8)
    first, last = span
    total = (last - first).days or 1
    values = [p[k] for p in curve["points"] for k in ("pv", "ev", "ac") if p[k] is not None]
    ceiling = max(values + ([curve["bac"]] if curve.get("bac") else []) or [1.0]) * 1.05 or 1.0

    def x(day: str) -> float:
        return left + (dt.date.fromisoformat(day) - first).days / total * (width - left - right)

    def y(v: float) -> float:
        return height - bottom - v / ceiling * (height - bottom - top)

    out = [f'<figure class="scurve{" big" if big else ""}"><h4>{e(curve["title"])}'
           + (f' <span class="tag {curve["rating"]}">{curve["rating"]}</span>' if curve.get("rating") else "")
           + (f' <span class=meta>{e(curve["state"])}</span>' if curve.get("state") not in (None, "active") else "")
           + f'</h4><svg class="scurve" data-curve="{e(curve["key"])}" viewBox="0 0 {width} {height}" role="img">']
    out.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>'
               f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>')
    month = first
    while month <= last:  # a tick at each quarter's first day
        if month.month in (1, 4, 7, 10):
            out.append(f'<text x="{x(month.isoformat()):.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                       f'fill="#555">{month:%b %y}</text>')
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    for t in (0.5, 1.0):
        v = ceiling / 1.05 * t
        out.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#555">{_money(v)}</text>')
    if curve.get("bac"):
        out.append(f'<line class="bac" x1="{left}" x2="{width - right}" y1="{y(curve["bac"]):.1f}" '
                   f'y2="{y(curve["bac"]):.1f}" stroke="#bbb" data-bac="{_j(curve["bac"])}"/>')
    if curve.get("planned_finish"):
        px = x(curve["planned_finish"])
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{height - bottom}" stroke="#bbb" '
                   f'stroke-dasharray="2 2"><title>planned finish {curve["planned_finish"]}</title></line>')
    for name, (colour, dash, label) in SERIES.items():
        pts = [(p["date"], p[name]) for p in curve["points"] if p[name] is not None]
        if not pts:
            continue
        line = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in pts)
        out.append(f'<polyline class="{name}" points="{line}" fill="none" stroke="{colour}" stroke-width="1.8"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        for d, v in pts:
            out.append(f'<circle class="{name}" cx="{x(d):.1f}" cy="{y(v):.1f}" r="2.2" fill="{colour}" '
                       f'data-series="{name}" data-date="{d}" data-value="{_j(v)}"><title>{e(curve["key"])} {d}: '
                       f'{label} {v:,.0f}</title></circle>')
    lx = left + 8
    for name, (colour, dash, _label) in SERIES.items():
        out.append(f'<line x1="{lx}" x2="{lx + 16}" y1="{top + 4}" y2="{top + 4}" stroke="{colour}" stroke-width="2"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + f'/><text x="{lx + 20}" y="{top + 8}">'
                   f'{name.upper()}</text>')
        lx += 52
    out.append("</svg></figure>")
    return "".join(out)


def _heatmap(capacity: dict[str, Any]) -> str:
    e = html.escape
    periods, roles = capacity["periods"], capacity["roles"]
    if not roles or not periods:
        return '<h3>Capacity</h3><p class=meta>The portfolio file declares no demand by role.</p>'
    cell_w, cell_h, left, top = 120, 34, 110, 22
    width, height = left + cell_w * len(periods) + 10, top + cell_h * len(roles) + 8
    out = ['<h3>Capacity: demand against the ceiling</h3><p class=meta>Demand of the projects going ahead, by role '
           f'and period, against the portfolio policy\'s capacity (red: above it by more than the '
           f'{capacity["tolerance"]:.0%} tolerance; amber: within the tolerance; grey: no ceiling declared).</p>'
           f'<svg class="heatmap" viewBox="0 0 {width} {height}" role="img">']
    for j, period in enumerate(periods):
        out.append(f'<text x="{left + j * cell_w + cell_w / 2}" y="{top - 7}" text-anchor="middle">{e(period)}</text>')
    for i, row in enumerate(roles):
        y = top + i * cell_h
        out.append(f'<text x="{left - 8}" y="{y + cell_h / 2 + 4}" text-anchor="end">{e(row["role"])}</text>')
        for j, c in enumerate(row["cells"]):
            share = c["share"]
            if c["state"] == "over":
                fill = "#c62828"
            elif c["state"] == "tolerance":
                fill = "#f0a202"
            elif share is None:
                fill = "#eeeeee"
            else:  # blue, deeper with the share of the ceiling used
                fill = f"rgba(21,101,192,{0.12 + 0.7 * min(share, 1.0):.2f})"
            text = (f'{c["load"]:g} / {c["capacity"]:g}' if c["capacity"] is not None else
                    (f'{c["load"]:g} / –' if c["load"] else ""))
            colour = "#fff" if c["state"] == "over" or (share or 0) > 0.6 else "#1d1d1f"
            tip = f'{row["role"]} in {c["period"]}: {c["load"]:g} needed, ceiling ' + \
                (f'{c["capacity"]:g}' if c["capacity"] is not None else "none") + \
                (f'; from {", ".join(c["from"])}' if c["from"] else "")
            out.append(f'<g><title>{e(tip)}</title><rect x="{left + j * cell_w + 1}" y="{y + 1}" width="{cell_w - 2}" '
                       f'height="{cell_h - 2}" fill="{fill}" data-role="{e(row["role"])}" data-period="{e(c["period"])}" '
                       f'data-load="{_j(c["load"])}" data-capacity="{_j(c["capacity"])}" data-state="{c["state"]}"/>'
                       f'<text x="{left + j * cell_w + cell_w / 2}" y="{y + cell_h / 2 + 4}" text-anchor="middle" '
                       f'fill="{colour}">{e(text)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _gantt_svg(gantt: dict[str, Any], status_date: str | None) -> str:
    e = html.escape
    bars = gantt.get("bars", [])
    head = (f'<h3>Schedule</h3><p class=meta>{e(gantt.get("note") or "")}. Bars in calendar dates (red: on the '
            'critical path); ◆ the finish forecast by earned schedule (IEAC(t)); the blue line is the status date.</p>')
    if not bars:
        return head
    days = [dt.date.fromisoformat(b[k]) for b in bars for k in ("start", "finish")]
    days += [dt.date.fromisoformat(b["forecast_finish"]) for b in bars if b.get("forecast_finish")]
    if status_date:
        days.append(dt.date.fromisoformat(status_date))
    first, last = min(days).replace(day=1), max(days) + dt.timedelta(days=1)
    total = (last - first).days or 1
    row, left, right, top = 22, 150, 16, 24
    width, height = 1000, top + row * len(bars) + 10

    def x(day: str | dt.date) -> float:
        d = dt.date.fromisoformat(day) if isinstance(day, str) else day
        return left + (d - first).days / total * (width - left - right)

    out = [head, f'<svg class="gantt" viewBox="0 0 {width} {height}" role="img">']
    month = first
    while month <= last:
        out.append(f'<line x1="{x(month):.1f}" x2="{x(month):.1f}" y1="{top - 4}" y2="{height - 6}" stroke="#eee"/>'
                   f'<text x="{x(month) + 2:.1f}" y="{top - 8}" fill="#555">{month:%b %y}</text>')
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    for i, b in enumerate(bars):
        y = top + i * row
        x0, x1 = x(b["start"]), x(dt.date.fromisoformat(b["finish"]) + dt.timedelta(days=1))
        colour = "#c62828" if b["critical"] else "#1565c0"
        label = f'{b["id"]}' + (f' ({b["state"]})' if b.get("state") not in (None, "active") else "")
        out.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{e(label)}</text>'
                   f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(1.0, x1 - x0):.1f}" height="{row - 8}" fill="{colour}" '
                   f'fill-opacity="0.8" data-project="{e(b["id"])}" data-start="{b["start"]}" data-finish="{b["finish"]}" '
                   f'data-critical="{"yes" if b["critical"] else "no"}"><title>{e(b["title"])}: {b["start"]} to '
                   f'{b["finish"]}' + (" (critical)" if b["critical"] else
                                       f' (float {b["float"]:g})' if b.get("float") is not None else "")
                   + "</title></rect>")
        if b.get("forecast_finish"):
            fx = x(dt.date.fromisoformat(b["forecast_finish"]) + dt.timedelta(days=1))
            out.append(f'<path d="M{fx:.1f},{y + 3} l5,8 l-5,8 l-5,-8 z" fill="{RAG.get(b.get("rating"), "#555")}" '
                       f'stroke="#333" stroke-width="0.5" data-forecast="{b["forecast_finish"]}"><title>{e(b["id"])}: '
                       f'forecast finish {b["forecast_finish"]}</title></path>')
    if status_date:
        sx = x(dt.date.fromisoformat(status_date) + dt.timedelta(days=1))
        out.append(f'<line class="status-date" x1="{sx:.1f}" x2="{sx:.1f}" y1="{top - 4}" y2="{height - 4}" '
                   f'stroke="#1565c0" stroke-width="2" data-date="{status_date}"><title>status date {status_date}'
                   '</title></line>')
    out.append("</svg>")
    return "".join(out)


HEALTH_STYLE = """<style>
.health h3{margin:18px 0 6px}.health h4{margin:0 0 4px;font-size:13px}
.health-kpis .kpi{min-width:170px}.health-kpis .kpi.missed data{color:#c62828}.health-kpis .kpi.met data{color:#2e7d32}
svg.spark{width:140px;height:34px;display:block}
table.rag-grid{width:auto;font-size:12px}table.rag-grid th{cursor:default}
td.rag{text-align:center;min-width:44px;color:#fff;font-weight:600;border:1px solid #fff}
td.rag.green{background:#2e7d32}td.rag.amber{background:#f0a202;color:#1d1d1f}td.rag.red{background:#c62828}
td.rag.unrated{background:#9e9e9e}td.rag.stopped{background:#f1f3f5;color:#667;font-weight:400}
td.rag.none{background:#fafafa}.legend{font-size:12px}.legend ol{list-style:none;padding:0;margin:4px 0}
.swatch{display:inline-block;min-width:18px;text-align:center;border-radius:3px;color:#fff;font-weight:600}
.swatch.green{background:#2e7d32}.swatch.amber{background:#f0a202;color:#1d1d1f}.swatch.red{background:#c62828}
.curves{display:flex;flex-wrap:wrap;gap:12px}figure.scurve{background:#fff;border:1px solid #e0e0e0;border-radius:8px;
margin:0;padding:8px 10px;width:330px;box-sizing:border-box}figure.scurve.big{width:100%;max-width:760px}
svg.scurve,svg.heatmap,svg.gantt{width:100%;height:auto;font-size:11px}svg.heatmap{max-width:760px}
.health .tag.green{background:#2e7d32}.health .tag.amber{background:#f0a202}.health .tag.red{background:#c62828}
@media print{@page{size:A4 landscape;margin:10mm}main{max-width:none;padding:0 4px}.health{break-before:page}
figure.scurve{width:32%;break-inside:avoid}figure.scurve.big{width:100%;max-width:640px}svg.gantt,svg.heatmap{break-inside:avoid}
table.rag-grid{break-inside:avoid}header{print-color-adjust:exact;-webkit-print-color-adjust:exact}
td.rag,.swatch,svg{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
</style>
"""
