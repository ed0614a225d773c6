"""Write the dependency graph as DOT, GraphML or SVG, with the projects in conflict highlighted."""
from __future__ import annotations

import html
import io
from collections.abc import Iterator
from pathlib import Path

from engine.portfolio import graph as g
from engine.portfolio.conflicts import ConflictReport
from engine.portfolio.model import Portfolio, Project

FORMATS = {".dot": "dot", ".gv": "dot", ".graphml": "graphml", ".svg": "svg"}


def write_graph(portfolio: Portfolio, report: ConflictReport, path: Path) -> str:
    """Write by the file's suffix; returns the format written."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write '{path.suffix}' graphs; use .dot, .graphml or .svg")
    flagged = _flagged(report)
    text = {"dot": _dot, "graphml": _graphml, "svg": _svg}[fmt](portfolio, flagged)
    path.write_text(text, encoding="utf-8")
    return fmt


def svg_text(portfolio: Portfolio, report: ConflictReport) -> str:
    """The SVG drawing as text (for embedding in the HTML report)."""
    return _svg(portfolio, _flagged(report))


PERIOD_WIDE = ("budget_overrun", "over_allocation")  # every project active in the period shares these


def _flagged(report: ConflictReport) -> dict[str, list[str]]:
    """Project -> the kinds of conflict it is part of. Period-wide conflicts (a budget over-run, an
    over-allocated role) are left out: they would mark nearly every project and single out none."""
    out: dict[str, list[str]] = {}
    for c in report.conflicts:
        if c.kind in PERIOD_WIDE:
            continue
        for pid in c.projects:
            if c.kind not in out.setdefault(pid, []):
                out[pid].append(c.kind)
    return out


def _edges(portfolio: Portfolio) -> Iterator[tuple[str, str, float]]:
    for p in portfolio:
        for dep in p.depends_on:
            if dep.id in portfolio.projects:
                yield dep.id, p.id, dep.lag


PAIR_STYLE = {"excludes": ("#8e44ad", "excludes"), "requires_together": ("#16a085", "goes together")}


def _label(p: Project) -> str:
    return p.name if p.name and p.name != p.id else p.id


def _dot(portfolio: Portfolio, flagged: dict[str, list[str]]) -> str:
    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = ["digraph portfolio {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fillcolor=white];']
    for p in portfolio:
        colour = "#f8d7da" if p.id in flagged else ("#e2e3e5" if p.out else "white")
        tip = ", ".join(flagged.get(p.id, [])) or (p.status or "")
        lines.append(f"  {q(p.id)} [label={q(p.id + chr(10) + _label(p))}, fillcolor={q(colour)}, tooltip={q(tip)}];")
    for a, b, lag in _edges(portfolio):
        style = ', color="#c0392b", penwidth=2' if a in flagged and b in flagged else ""
        label = f', label="+{lag:g}"' if lag else ""
        lines.append(f"  {q(a)} -> {q(b)} [{label.lstrip(', ')}{style}];".replace("[, ", "["))
    for relation, _words in g.PAIRED:  # the relations pmo select keeps beside dependencies, each pair once
        colour, label = PAIR_STYLE[relation]
        for a, b in g.pairs(portfolio, relation):
            lines.append(f'  {q(a)} -> {q(b)} [dir=none, style=dashed, color="{colour}", label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _graphml(portfolio: Portfolio, flagged: dict[str, list[str]]) -> str:
    graph = g.build(portfolio)
    for p in portfolio:
        graph.nodes[p.id].update(name=_label(p), status=p.status or "", conflicts=",".join(flagged.get(p.id, [])))
    buffer = io.BytesIO()
    g.write_graphml(graph, buffer, portfolio)
    return buffer.getvalue().decode("utf-8")


def _svg(portfolio: Portfolio, flagged: dict[str, list[str]]) -> str:
    """A layered drawing: each project sits one column right of its latest prerequisite."""
    graph = g.build(portfolio)
    level = g.levels(graph)
    columns: dict[int, list[str]] = {}
    for pid in sorted(level, key=lambda n: (level[n], n)):
        columns.setdefault(level[pid], []).append(pid)
    w, h, gap_x, gap_y = 150, 44, 60, 22
    pos = {pid: (20 + col * (w + gap_x), 20 + row * (h + gap_y))
           for col, ids in columns.items() for row, pid in enumerate(ids)}
    width = max(620, 40 + (max(columns, default=0) + 1) * (w + gap_x))
    height = 76 + max((len(ids) for ids in columns.values()), default=1) * (h + gap_y)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             'font-size="12">', '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
             'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for a, b, _lag in _edges(portfolio):
        (x1, y1), (x2, y2) = pos[a], pos[b]
        colour = "#c0392b" if a in flagged and b in flagged else "#555"
        parts.append(f'<line x1="{x1 + w}" y1="{y1 + h / 2}" x2="{x2}" y2="{y2 + h / 2}" stroke="{colour}" '
                     f'marker-end="url(#arrow)"/>')
    for relation, words in g.PAIRED:
        colour, _label_text = PAIR_STYLE[relation]
        for a, b in g.pairs(portfolio, relation):
            (x1, y1), (x2, y2) = pos[a], pos[b]
            parts.append(f'<line x1="{x1 + w / 2}" y1="{y1 + h / 2}" x2="{x2 + w / 2}" y2="{y2 + h / 2}" '
                         f'stroke="{colour}" stroke-dasharray="5 4"><title>{html.escape(f"{a} and {b} {words}")}'
                         '</title></line>')
    for p in portfolio:
        x, y = pos[p.id]
        fill = "#f8d7da" if p.id in flagged else ("#e2e3e5" if p.out else "#ffffff")
        stroke = "#c0392b" if p.id in flagged else "#333"
        title = html.escape(f"{p.id}: {_label(p)}" + (f" — {', '.join(flagged[p.id])}" if p.id in flagged else ""))
        parts.append(f'<g><title>{title}</title><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" '
                     f'stroke="{stroke}"/><text x="{x + 8}" y="{y + 18}" font-weight="bold">{html.escape(p.id)}</text>'
                     f'<text x="{x + 8}" y="{y + 34}">{html.escape(_label(p)[:22])}</text></g>')
    parts.append(f'<text x="20" y="{height - 24}" fill="#555">red: part of a conflict between projects (hover for '
                 'which) · grey: not going ahead</text>')
    parts.append(f'<text x="20" y="{height - 8}" fill="#555">arrows run from a prerequisite to its dependent · '
                 'dashed: purple excludes, green goes together · budget and capacity over-runs are listed, not '
                 'drawn</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
