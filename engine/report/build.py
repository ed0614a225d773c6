"""The board report: one self-contained HTML file (no network, no external scripts) that a portfolio
board reads. Summary KPIs, charts drawn as inline SVG, the ranked table, and every decision explained.

Data flows one way: decisions and their typed records (and a ranking, and portfolio extras when there
are some) -> :class:`Report` (plain numbers and views; ``to_json`` for machines and tests) -> HTML.
Every piece of proposal text goes through ``html.escape``; the page forbids every outside resource with
a Content-Security-Policy, so it opens offline and a hostile cell cannot load or run anything.
"""
from __future__ import annotations

import html
import math
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.compile.policy import CompiledPolicy
from engine.decision import Decision
from engine.io.safe_text import replacing
from engine.report.roles import field_roles
from engine.report.text import money_text as _money
from engine.scoring.ranking import Contribution, Ranking

if TYPE_CHECKING:  # the health stage loads only for a report with a health page
    from engine.report.health import HealthPage

OUTCOMES = ("accept", "review", "reject", "error")
COLOURS = {"accept": "#2e7d32", "review": "#f0a202", "reject": "#c62828", "error": "#6d6d6d"}


@dataclass
class ProposalView:
    """What the report shows of one proposal."""

    id: str | None
    title: str | None
    decision: Decision
    budget: float | None = None
    risk: float | None = None
    objectives: dict[str, float] = field(default_factory=dict)  # objective -> weight x level
    rank: int | None = None
    score: float | None = None
    breakdown: list[Contribution] = field(default_factory=list)
    reason: str | None = None  # why it is not ranked
    model: str | None = None  # the scoring model that ranked it, when the policy set has several

    @property
    def main_objective(self) -> str | None:
        return max(self.objectives, key=lambda k: (self.objectives[k], k)) if self.objectives else None


@dataclass
class Report:
    title: str
    policy_hash: str
    as_of: str
    counts: dict[str, int]
    budget_requested: float  # every decided proposal
    budget_passing: float  # accept and review
    budget_available: float | None  # the portfolio policy's budget over all periods
    by_objective: list[dict[str, Any]]  # objective, name, budget, proposals (passing proposals)
    rule_hits: list[dict[str, Any]]  # rule, effect, source, hits; every rule, most-fired first
    views: list[ProposalView]  # ranked first, best first; then the rest in input order
    ranking: Ranking | None = None
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    frontier: list[dict[str, Any]] = field(default_factory=list)
    graph_svg: str | None = None
    fields: dict[str, str | None] = field(default_factory=dict)  # the role each field plays: budget, risk, title
    health: HealthPage | None = None  # the health page, from status reports (--status)

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "policy_hash": self.policy_hash, "as_of": self.as_of, "counts": self.counts,
                "budget_requested": self.budget_requested, "budget_passing": self.budget_passing,
                "budget_available": self.budget_available, "by_objective": self.by_objective,
                "rule_hits": self.rule_hits, "conflicts": len(self.conflicts), "frontier_points": len(self.frontier),
                "ranked": sum(1 for v in self.views if v.rank is not None),
                **({"health": self.health.to_json()} if self.health is not None else {})}


def build_report(policy: CompiledPolicy, decided: list[tuple[Decision, Mapping[str, Any] | None]],
                 ranking: Ranking | None = None, *, title: str | None = None,
                 conflicts: list[dict[str, Any]] | None = None, frontier: list[dict[str, Any]] | None = None, graph_svg: str | None = None) -> Report:
    roles = field_roles(policy)
    views: list[ProposalView] = []
    counts: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for decision, record in decided:
        counts[decision.decision] += 1
        hits.update(f.rule for f in decision.findings)
        view = ProposalView(decision.id, decision.title, decision)  # an error row keeps its title as read
        if record is not None:
            view.title = (_text(record.get(roles["title"])) if roles["title"] else None) or decision.title
            view.budget = _number(record.get(roles["budget"])) if roles["budget"] else None
            view.risk = _number(record.get(roles["risk"])) if roles["risk"] else None
            for name in roles["alignment"]:
                view.objectives.update(getattr(record.get(name), "parts", None) or {})
        views.append(view)
    if ranking is not None:  # made from the same decided list: its entries know their position in it
        for entry in ranking.entries:
            ranked = views[entry.position] if entry.position is not None and entry.position < len(views) else None
            if ranked is not None:
                ranked.rank, ranked.score, ranked.reason, ranked.model = entry.rank, entry.score, entry.reason, entry.model
                if entry.rank is not None:
                    ranked.breakdown = entry.breakdown
    order = {m["id"]: k for k, m in enumerate(ranking.models)} if ranking is not None else {}
    # model by model (several scoring models rank their own pools), best first; the rest keep their input order
    views.sort(key=lambda v: (v.rank is None, order.get(v.model, 0), v.rank or 0))
    passing = [v for v in views if v.decision.decision in ("accept", "review")]
    available = sum(policy.portfolio.budget.values()) if policy.portfolio.budget else None
    return Report(
        title=title or "Intake round report", policy_hash=policy.policy_hash, as_of=policy.today.isoformat(),
        counts={k: counts[k] for k in OUTCOMES}, budget_requested=sum(v.budget or 0 for v in views),
        budget_passing=sum(v.budget or 0 for v in passing), budget_available=available,
        by_objective=_by_objective(policy, passing), rule_hits=_rule_hits(policy, hits), views=views,
        ranking=ranking, conflicts=list(conflicts or []), frontier=list(frontier or []), graph_svg=graph_svg,
        fields={k: v for k, v in roles.items() if k != "alignment"})


def _by_objective(policy: CompiledPolicy, passing: list[ProposalView]) -> list[dict[str, Any]]:
    """Budget shared out over the objectives a proposal serves (in proportion to weight x level); each
    proposal counted once, under its main objective."""
    names = policy.strategy.names if policy.strategy is not None else {}
    budget: dict[str, float] = {}  # a Counter's way: 0 where an objective has none
    count: Counter[str] = Counter()
    for view in passing:
        total = sum(view.objectives.values())
        if total > 0 and view.budget:
            for objective, part in view.objectives.items():
                budget[objective] = budget.get(objective, 0) + view.budget * part / total
        count[view.main_objective or "(none)"] += 1
    keys = list(names) + sorted(k for k in set(budget) | set(count) if k not in names)
    return [{"objective": k, "name": names.get(k, k), "budget": budget.get(k, 0), "proposals": count[k]}
            for k in keys if budget.get(k, 0) or count[k] or k in names]


def _rule_hits(policy: CompiledPolicy, hits: Counter[str]) -> list[dict[str, Any]]:
    rows = [{"rule": r.id, "effect": r.effect, "source": r.where, "hits": hits[r.id]} for r in policy.rules
            if r.effect != "none"]
    return sorted(rows, key=lambda r: -r["hits"])  # stable: ties keep the policy's order


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------------- HTML

def render(report: Report) -> str:
    """The whole page as one string."""
    return "".join(_pieces(report))


def write_report(report: Report, path: str | os.PathLike[str]) -> None:
    """Write the page piece by piece: a page of many proposals is never held twice in memory."""
    with replacing(path) as out:  # whole, or the earlier file left as it was
        for piece in _pieces(report):
            out.write(piece)


def _head(title: str, health: bool) -> str:
    # lazy: the health stage loads only for a report with a health page
    from engine.report.health import HEALTH_STYLE
    head = _HEAD.replace("$TITLE", html.escape(title))
    return head.replace("</head>", HEALTH_STYLE + "</head>", 1) if health else head


def render_health_page(page: HealthPage, title: str = "Portfolio health") -> str:
    """A page of its own for the health page (``pmo health --report``): the same head, style and script."""
    # lazy: the health stage loads only for a report with a health page
    from engine.report.health import render_health
    e = html.escape
    return (_head(title, True) + f"<header><h1>{e(title)}</h1><p class=meta>Status reports up to "
            f"{e(page.status_date or '–')} · {len(page.grid)} projects</p></header><main>" + render_health(page)
            + "</main>" + _SCRIPT + "</body></html>\n")


def _pieces(report: Report) -> Iterator[str]:
    e = html.escape
    parts = [_head(report.title, report.health is not None), f"<header><h1>{e(report.title)}</h1>"
             f"<p class=meta>As of {e(report.as_of)} · policy version <code>{e(report.policy_hash)}</code> · "
             f"{sum(report.counts.values()):,} proposals</p></header><main>"]
    parts.append(_kpis(report))
    parts.append('<section><h2>Charts</h2><div class="charts">')
    parts.append(_figure("Value against risk", "Priority score (up) against risk rating (right); bubble area is the "
                         "budget. Proposals that passed intake and have a score and a risk rating.",
                         _bubble_chart(report)))
    parts.append(_figure("Budget by strategic objective", "Budget of the proposals that passed intake, shared out "
                         "over the objectives each serves (in proportion to weight x level).",
                         _bar_chart([(r["objective"], r["budget"]) for r in report.by_objective], money=True)))
    fired = [r for r in report.rule_hits if r["hits"]][:15]
    parts.append(_figure("Rule hits", "How many proposals each rule fired on (the 15 most-fired): red rejects, amber "
                         "sends to review, grey flags.",
                         _bar_chart([(r["rule"], r["hits"]) for r in fired],
                                    colours=[COLOURS.get(r["effect"], "#555") for r in fired])))
    panels = _panel_rows(report)
    if panels:
        parts.append(_figure("Rater disagreement", "Each panel criterion of the ranked proposals (best first): a "
                             "dot per rater's score on the criterion's scale, red where a rater is far from the "
                             "others, the line from the lowest to the highest score, the diamond the combined "
                             "score; rows needing attention are marked !.", _disagreement_chart(panels)))
    if report.frontier:
        parts.append(_figure("Efficient frontier", "Best value the portfolio can reach at each budget level (exact "
                             "MILP), against greedy choice by value per cost.", _frontier_chart(report.frontier)))
    parts.append("</div></section>")
    if report.health is not None:
        # lazy: the health stage loads only for a report with a health page
        from engine.report.health import render_health
        parts.append(render_health(report.health))
    if report.graph_svg:
        parts.append('<section><h2>Dependency graph</h2><div class="graph">' + report.graph_svg + "</div></section>")
    if report.conflicts:
        parts.append(_conflicts(report.conflicts))
    parts.append(_objectives_table(report))
    parts.append(_rules_table(report))
    yield from parts
    yield from _ranked_table(report)
    yield from _explanations(report)
    yield "</main>" + _SCRIPT + "</body></html>\n"



def _kpis(report: Report) -> str:
    c = report.counts
    tiles = [(f"{sum(c.values()):,}", "proposals", "total")] + [(f"{c[k]:,}", k, k) for k in OUTCOMES]
    tiles.append((_money(report.budget_requested), "budget requested", "budget-requested"))
    tiles.append((_money(report.budget_passing), "requested by proposals that passed", "budget-passing"))
    if report.budget_available is not None:
        share = (f"; passing requests are {report.budget_passing / report.budget_available:.0%} of it"
                 if report.budget_available else "")
        tiles.append((_money(report.budget_available), "budget available" + share, "budget-available"))
    cells = "".join(f'<div class="kpi {k}"><data data-kpi="{k}" value="{html.escape(v)}">{html.escape(v)}</data>'
                    f'<span>{html.escape(label)}</span></div>' for v, label, k in tiles)
    top = [r for r in report.rule_hits if r["hits"]][:5]
    most = ", ".join(f'{html.escape(r["rule"])} ({r["hits"]:,})' for r in top) or "no rule fired"
    return f'<section class="kpis">{cells}</section><p class="most">Most-fired rules: {most}</p>'


def _figure(title: str, caption: str, svg: str) -> str:
    return f"<figure><h3>{html.escape(title)}</h3>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _empty(text: str) -> str:
    return (f'<svg viewBox="0 0 460 60" role="img"><text x="10" y="35" fill="#777">{html.escape(text)}</text>'
            "</svg>")


def _bar_chart(items: list[tuple[str, float]], *, money: bool = False, colours: list[str] | None = None) -> str:
    items = [(label, value) for label, value in items if value]
    if not items:
        return _empty("nothing to show")
    top = max(v for _, v in items) or 1
    row, label_w, bar_w = 22, 190, 210
    out = [f'<svg viewBox="0 0 {label_w + bar_w + 70} {row * len(items) + 10}" role="img" class="bars">']
    for i, (label, value) in enumerate(items):
        y = 5 + i * row
        w = max(1.0, bar_w * value / top)
        colour = colours[i] if colours else "#1565c0"
        text = _money(value) if money else f"{value:,.0f}"
        out.append(f'<g><title>{html.escape(label)}: {text}</title><text x="{label_w - 6}" y="{y + 14}" '
                   f'text-anchor="end">{html.escape(_clip(label, 28))}</text><rect x="{label_w}" y="{y + 3}" '
                   f'width="{w:.1f}" height="{row - 7}" fill="{colour}"/><text x="{label_w + w + 4:.1f}" '
                   f'y="{y + 14}">{text}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _bubble_chart(report: Report) -> str:
    points = [(v, v.risk, v.score) for v in report.views if v.score is not None and v.risk is not None]
    if not points:
        if report.fields.get("risk") is None:  # say what was looked for, not that nothing has a risk rating
            return _empty("the policy has no risk field: the report plots a field named risk, risk_score or "
                          "risk_rating against the score")
        return _empty(f"no proposal has both a score and a risk rating ({report.fields['risk']})")
    big = max((v.budget or 0) for v, _, _ in points) or 1
    plot = _Plot(460, 300, 44, [risk for _, risk, _ in points], [score for _, _, score in points], margin=0.06)
    out = [f'<svg viewBox="0 0 {plot.width} {plot.height}" role="img" class="bubbles">',
           plot.axes("risk →", "score ↑")]
    for v, risk, score in sorted(points, key=lambda p: -(p[0].budget or 0)):  # small bubbles on top
        radius = 3 + 17 * math.sqrt((v.budget or 0) / big)
        out.append(f'<circle cx="{plot.x(risk):.1f}" cy="{plot.y(score):.1f}" r="{radius:.1f}" '
                   f'fill="{COLOURS[v.decision.decision]}" fill-opacity="0.55" stroke="#333" stroke-width="0.5">'
                   f'<title>{html.escape(v.id or "-")}: score {score:.1f}, risk {risk:g}, budget '
                   f'{_money(v.budget)} ({v.decision.decision})</title></circle>')
    out.append("</svg>")
    return "".join(out)


def _frontier_chart(points: list[dict[str, Any]]) -> str:
    greedy = [p.get("greedy_value_per_cost", 0.0) for p in points]
    plot = _Plot(460, 300, 50, [0.0] + [p["budget"] for p in points], [0.0] + [p["value"] for p in points] + greedy,
                 money_x=True)

    def line(values: list[float]) -> str:
        return " ".join(f"{plot.x(p['budget']):.1f},{plot.y(v):.1f}" for p, v in zip(points, values))

    same = all(abs(g - p["value"]) < 1e-9 for g, p in zip(greedy, points))
    note = "greedy by value per cost reaches the optimum at every level" if same else \
        "solid: optimal · dashed: greedy by value per cost"
    return (f'<svg viewBox="0 0 {plot.width} {plot.height}" role="img" class="frontier">'
            + plot.axes("budget →", "value ↑")
            + f'<polyline points="{line(greedy)}" fill="none" stroke="#999" stroke-dasharray="4 3"/>'
            f'<polyline points="{line([p["value"] for p in points])}" fill="none" stroke="#1565c0" stroke-width="2"/>'
            + "".join(f'<circle cx="{plot.x(p["budget"]):.1f}" cy="{plot.y(p["value"]):.1f}" r="3" fill="#1565c0">'
                      f'<title>budget {_money(p["budget"])}: value {p["value"]:,.1f} ({len(p["selected"])} projects)'
                      "</title></circle>" for p in points)
            + f'<text x="{plot.pad + 6}" y="14">{note}</text></svg>')


MAX_PANEL_ROWS = 24  # rows of the disagreement chart: the ranked proposals' panel criteria, best first


def _panel_rows(report: Report) -> list[tuple[str, Any]]:
    """(proposal id, PanelResult) of the ranked proposals that have ratings, best first, attention first
    when there are more than the chart holds."""
    if report.ranking is None:
        return []
    rows = [(e.id or "-", p) for e in sorted((e for e in report.ranking.entries if e.rank is not None),
                                               key=lambda e: e.rank or 0) for p in e.panel if p.ratings]  # ranked: rank set
    if len(rows) > MAX_PANEL_ROWS:
        keep = {id(p) for _, p in sorted(rows, key=lambda r: not r[1].needs_attention)[:MAX_PANEL_ROWS]}
        rows = [r for r in rows if id(r[1]) in keep]
    return rows


def _disagreement_chart(rows: list[tuple[str, Any]]) -> str:
    """A dot plot, one row per (proposal, panel criterion): raters' scores, their range and the combined score."""
    e = html.escape
    label_w, plot_w, row, right = 230, 300, 24, 20
    height = row * len(rows) + 30
    out = [f'<svg viewBox="0 0 {label_w + plot_w + right} {height}" role="img" class="panel">']
    for i, (ident, p) in enumerate(rows):
        low, high = float(p.low), float(p.high)
        span = (high - low) or 1.0

        def x(value: float, low: float = low, span: float = span) -> float:
            return label_w + (value - low) / span * plot_w
        y = 12 + i * row
        scores = [float(r.score) for r in p.ratings]
        mark = "! " if p.needs_attention else ""
        red = ' fill="#c62828"' if p.needs_attention else ""
        combined = "not combined" if p.score is None else f"{float(p.score):.2f}"
        tip = f"{ident} {p.criterion}: {combined}; " + ", ".join(f"{r.rater} {float(r.score):g}" for r in p.ratings)
        out.append(f'<g><title>{e(tip + ("; " + "; ".join(p.attention) if p.attention else ""))}</title>'
                   f'<text x="{label_w - 8}" y="{y + 4}" text-anchor="end"{red}>'
                   f'{e(_clip(mark + ident + " " + p.criterion, 36))}</text><line x1="{x(low):.1f}" y1="{y}" x2="{x(high):.1f}" y2="{y}" stroke="#e0e0e0"/>'
                   f'<line x1="{x(min(scores)):.1f}" y1="{y}" x2="{x(max(scores)):.1f}" y2="{y}" stroke="#90a4ae" '
                   f'stroke-width="3"/>')
        for r, score in zip(p.ratings, scores):
            colour = "#c62828" if r.rater in p.disagreed else "#546e7a"
            out.append(f'<circle cx="{x(score):.1f}" cy="{y}" r="4" fill="{colour}" fill-opacity="0.8"/>')
        if p.score is not None:
            cx = x(float(p.score))
            out.append(f'<path d="M{cx:.1f} {y - 6} L{cx + 5:.1f} {y} L{cx:.1f} {y + 6} L{cx - 5:.1f} {y} Z" '
                       f'fill="#1565c0"/>')
        out.append("</g>")
    low, high = float(rows[0][1].low), float(rows[0][1].high)
    same = all(float(p.low) == low and float(p.high) == high for _, p in rows)
    if same:  # one scale for every row: its ticks
        for t in _ticks(low, high):
            tx = label_w + (t - low) / ((high - low) or 1.0) * plot_w
            out.append(f'<text x="{tx:.1f}" y="{height - 6}" text-anchor="middle" fill="#555">{t:g}</text>')
    out.append("</svg>")
    return "".join(out)


class _Plot:
    """Axes with tick values for a chart: maps data to SVG coordinates."""

    def __init__(self, width: int, height: int, pad: int, xs: list[float], ys: list[float], *, margin: float = 0.0,
                 money_x: bool = False):
        self.width, self.height, self.pad, self.money_x = width, height, pad, money_x
        (self.x0, self.x1), (self.y0, self.y1) = _span(xs, margin), _span(ys, margin)

    def x(self, value: float) -> float:
        return self.pad + (value - self.x0) / (self.x1 - self.x0) * (self.width - 1.5 * self.pad)

    def y(self, value: float) -> float:
        return self.height - self.pad - (value - self.y0) / (self.y1 - self.y0) * (self.height - 1.5 * self.pad)

    def axes(self, x_label: str, y_label: str) -> str:
        bottom, left = self.height - self.pad, self.pad
        out = [f'<line x1="{left}" y1="{bottom}" x2="{self.width - 4}" y2="{bottom}" stroke="#999"/>',
               f'<line x1="{left}" y1="{self.pad / 2}" x2="{left}" y2="{bottom}" stroke="#999"/>']
        for t in _ticks(self.x0, self.x1):
            label = _money(t) if self.money_x else f"{t:g}"
            out.append(f'<text x="{self.x(t):.1f}" y="{bottom + 14}" text-anchor="middle" fill="#555">{label}</text>')
        for t in _ticks(self.y0, self.y1):
            out.append(f'<text x="{left - 4}" y="{self.y(t) + 4:.1f}" text-anchor="end" fill="#555">{t:g}</text>')
        out.append(f'<text x="{(left + self.width) / 2}" y="{self.height - 6}" text-anchor="middle">{x_label}</text>')
        out.append(f'<text x="11" y="{self.height / 2}" transform="rotate(-90 11 {self.height / 2})" '
                   f'text-anchor="middle">{y_label}</text>')
        return "".join(out)


def _span(values: list[float], margin: float) -> tuple[float, float]:
    """The axis from ``values``, widened by ``margin``; never of zero width (one value, or every value the same:
    a frontier of zero value crashed the report), and from 0 up when every value is at least 0."""
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if high > low:
        width = high - low
        return low - width * margin, high + width * margin
    pad = (abs(high) or 1.0) * max(margin, 0.5)
    return (max(0.0, low - pad) if low >= 0 else low - pad), high + pad


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values inside [low, high]: steps of 1, 2 or 5 times a power of ten."""
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def _conflicts(conflicts: list[dict[str, Any]]) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(c.get('kind')))}</td><td>{html.escape(', '.join(c.get('projects', [])))}"
                   f"</td><td>{html.escape(', '.join(c.get('periods') or []))}</td><td>{html.escape(str(c.get('message')))}"
                   "</td></tr>" for c in conflicts)
    return (f"<section><h2>Portfolio conflicts ({len(conflicts)})</h2><table><thead><tr><th>Kind</th><th>Projects"
            f"</th><th>Period</th><th>What</th></tr></thead><tbody>{rows}</tbody></table></section>")


def _objectives_table(report: Report) -> str:
    total_b = sum(r["budget"] for r in report.by_objective) or 1
    total_n = sum(r["proposals"] for r in report.by_objective) or 1
    rows = "".join(f"<tr><td>{html.escape(r['name'])}</td><td class=n>{_money(r['budget'])}</td>"
                   f"<td class=n>{r['budget'] / total_b:.0%}</td><td class=n>{r['proposals']:,}</td>"
                   f"<td class=n>{r['proposals'] / total_n:.0%}</td></tr>" for r in report.by_objective)
    return ("<section><h2>By strategic objective</h2><p>Proposals that passed intake. A proposal counts once, under its "
            "main objective; its budget is shared out over every objective it serves.</p><table><thead><tr><th>"
            "Objective</th><th>Budget</th><th>Share</th><th>Proposals</th><th>Share</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>")


def _rules_table(report: Report) -> str:
    rows = "".join(f'<tr><td><code>{html.escape(r["rule"])}</code></td><td>{r["effect"]}</td>'
                   f'<td class=n>{r["hits"]:,}</td><td><code>{html.escape(r["source"])}</code></td></tr>'
                   for r in report.rule_hits)
    return ("<section><h2>Rules</h2><details><summary>Every rule and how often it fired</summary><table><thead><tr>"
            "<th>Rule</th><th>Effect</th><th>Hits</th><th>Where</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details></section>")


def _anchor(index: int) -> str:
    return f"p{index}"


def _ranked_table(report: Report) -> Iterator[str]:
    ranked = sum(1 for v in report.views if v.rank is not None)
    carried = list(report.views[0].decision.carried) if report.views else []  # the profile's carry: columns
    yield (f'<section><h2>Proposals ({ranked:,} ranked)</h2><p>Ranked proposals first, best first; then the rejected '
           'ones and the error rows. Click a heading to sort, an id to see why.</p>'
           '<input id="filter" type="search" placeholder="Filter by any text…" aria-label="filter">'
           '<table id="proposals"><thead><tr><th>Rank</th><th>ID</th><th>Title</th><th>Decision</th><th>Score</th>'
           '<th>Budget</th><th>Risk</th><th>Main objective</th><th>Approvers</th>'
           + "".join(f"<th>{html.escape(c)}</th>" for c in carried) + '</tr></thead><tbody>')
    for i, v in enumerate(report.views):
        d = v.decision
        yield (f'<tr class="{d.decision}"><td class=n>{_rank_text(v)}</td>'
               f'<td><a href="#{_anchor(i)}">{html.escape(v.id or "(no id)")}</a></td>'
               f'<td>{html.escape(_clip(v.title or "", 60))}</td><td><span class="tag {d.decision}">'
               f'{d.decision}</span></td><td class=n>{"" if v.score is None else f"{v.score:.2f}"}</td>'
               f'<td class=n data-v="{v.budget if v.budget is not None else ""}">'
               f'{"" if v.budget is None else _money(v.budget)}</td>'
               f'<td class=n>{"" if v.risk is None else f"{v.risk:g}"}</td>'
               f'<td>{html.escape(v.main_objective or "")}</td>'
               f'<td>{html.escape(", ".join(d.routes) if d.decision == "review" else "")}</td>'
               + "".join(f"<td>{html.escape(_clip(d.carried.get(c, ''), 60))}</td>" for c in carried) + "</tr>")
    yield "</tbody></table></section>"


def _explanations(report: Report) -> Iterator[str]:
    e = html.escape
    yield '<section><h2>Each decision explained</h2>'
    for i, v in enumerate(report.views):
        d = v.decision
        head = (f'{e(v.id or "(no id)")}{" · " + e(_clip(v.title, 80)) if v.title else ""} — '
                f'<span class="tag {d.decision}">{d.decision}</span>')
        if v.rank is not None:
            head += f" · rank {_rank_text(v)}, score {v.score:.2f}"
        body = []
        where = f"{e(d.source or '')}{':' + str(d.row) if d.row is not None else ''}"
        if where:
            body.append(f"<p class=meta>Input: {where}</p>")
        if d.carried:
            body.append("<p class=meta>" + " · ".join(f"{e(k)}: {e(_clip(x, 120))}" for k, x in d.carried.items())
                        + "</p>")
        if d.errors:
            body.append("<p>This row could not be decided:</p><ul>" + "".join(
                f"<li>{'column <code>' + e(x.column) + '</code>: ' if x.column else ''}{e(x.message)}</li>"
                for x in d.errors) + "</ul>")
        elif d.findings:
            body.append("<table><thead><tr><th>Rule</th><th>Effect</th><th>Why</th><th>Approver</th><th>Where</th>"
                        "</tr></thead><tbody>" + "".join(
                            f'<tr><td><code>{e(f.rule)}</code></td><td>{f.effect}</td><td>{e(f.reason)}</td>'
                            f'<td>{e(f.route or "")}</td><td><code>{e(f.source)}</code></td></tr>'
                            for f in d.findings) + "</tbody></table>")
        else:
            body.append("<p>No rule objected: accepted.</p>")
        if v.breakdown:
            body.append("<table class=breakdown><thead><tr><th>Criterion</th><th>Value</th><th>Normalised</th>"
                        "<th>Weight</th><th>Contribution</th></tr></thead><tbody>" + "".join(
                            f"<tr><td>{e(c.criterion)}</td><td class=n>{_raw(c.raw)}</td>"
                            f"<td class=n>{_fmt(c.normalised)}</td><td class=n>{_fmt(c.weight)}</td>"
                            f"<td class=n>{_fmt(c.contribution, 2)}</td></tr>" for c in v.breakdown)
                        + "</tbody></table>")
        elif v.reason and d.decision in ("accept", "review"):
            body.append(f"<p>Not ranked: {e(v.reason)}</p>")
        yield f'<details id="{_anchor(i)}" class="{d.decision}"><summary>{head}</summary>{"".join(body)}</details>'
    yield "</section>"


def _raw(value: Any) -> str:
    """A criterion's raw value: numbers to 4 significant figures (2.89, 1,250,000), text escaped."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return html.escape(str(value))


def _fmt(value: float | None, places: int = 3) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$TITLE</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#12355b;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
.meta{color:#667;font-size:12px}header .meta{color:#cfd8e3}main{padding:8px 28px 40px;max-width:1400px}
h2{margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.kpis{display:flex;flex-wrap:wrap;gap:10px;margin-top:18px}
.kpi{background:#fff;border:1px solid #e0e0e0;border-radius:8px;padding:10px 14px;min-width:120px}
.kpi data{display:block;font-size:24px;font-weight:600}.kpi span{color:#555;font-size:12px}
.kpi.accept data{color:#2e7d32}.kpi.review data{color:#b07400}.kpi.reject data{color:#c62828}
.kpi.error data{color:#6d6d6d}.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{background:#fff;border:1px solid #e0e0e0;border-radius:8px;margin:0;padding:10px 14px;width:480px}
figure h3{margin:0 0 6px;font-size:15px}figcaption{color:#555;font-size:12px}svg{width:100%;height:auto;
font-size:11px}.graph{overflow:auto;background:#fff;border:1px solid #e0e0e0}.graph svg{width:auto}
table{border-collapse:collapse;background:#fff;width:100%;margin:6px 0}th,td{border-bottom:1px solid #eee;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#f1f3f5;cursor:pointer;user-select:none}
td.n{text-align:right;font-variant-numeric:tabular-nums}#proposals td:nth-child(2){white-space:nowrap}
.tag{border-radius:4px;padding:0 6px;color:#fff;font-size:12px}.tag.accept{background:#2e7d32}
.tag.review{background:#f0a202}.tag.reject{background:#c62828}.tag.error{background:#6d6d6d}
details{background:#fff;border:1px solid #eee;border-radius:6px;margin:4px 0;padding:4px 10px}
details summary{cursor:pointer}details:target{outline:2px solid #1565c0}
#filter{padding:6px 8px;width:320px;margin:4px 0;border:1px solid #bbb;border-radius:4px}
code{font-size:12px}@media print{#filter{display:none}details{page-break-inside:avoid}}
</style></head><body>
"""

# Sorting and filtering only: the page reads fully without script.
_SCRIPT = """<script>
(function () {
  var table = document.getElementById('proposals');
  if (!table) { document.documentElement.setAttribute('data-ready', 'yes'); return; }  // the health page alone
  var body = table.tBodies[0];
  var filter = document.getElementById('filter');
  filter.addEventListener('input', function () {
    var q = filter.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (r) {
      r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
    });
  });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    var ascending = true;
    th.addEventListener('click', function () {
      var rows = Array.prototype.slice.call(body.rows);
      function key(r) {
        var c = r.cells[col], v = c.getAttribute('data-v');
        var t = v !== null ? v : c.textContent.trim();
        var n = parseFloat(t);
        return t === '' ? null : (isNaN(n) || !/^-?[0-9.]+$/.test(t) ? t.toLowerCase() : n);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * (ascending ? 1 : -1);
      });
      ascending = !ascending;
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  // An id in the table links to its explanation: open it, not just scroll to it.
  function openTarget() {
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === 'DETAILS') target.open = true;
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  document.documentElement.setAttribute('data-ready', 'yes');
})();
</script>
"""


def _rank_text(view: ProposalView) -> str:
    """The rank, with the scoring model's id when several models rank their own pools."""
    if view.rank is None:
        return ""
    return f"{html.escape(view.model)} {view.rank}" if view.model else str(view.rank)
