"""Lessons learned, measured: how well intake scores and gate decisions predicted what finished projects delivered.

    status reports (the last of each project: closed or killed)  --outcome--> final cost, CPI, benefits realised
    a ranking of the intake proposals (the status column ``proposal`` names each project's)  --> intake score, rank
    the decision log's gate decisions (optional)  --> each project's gates, and the overrides
        --> Spearman's rank correlation of score against realised benefit / final cost, and against CPI

**Spearman's rho** is Pearson's correlation of the ranks, ties given the average of the ranks they span (so it is
exact with ties, where 1 - 6 sum d^2 / (n (n^2 - 1)) is not). The ranks, their covariance and variances are exact
fractions; the one square root is taken at 30 digits and the result rounded once to 15 significant digits. With
n up to :data:`EXACT_UP_TO` the two-sided p-value is exact: the share of all n! orderings of the second variable's
ranks whose correlation is at least as far from 0 as the one observed. Below :data:`SMALL_N` finished projects a
caveat says that the figure is an anecdote, not evidence.

A killed project is finished too: its outcome is what it cost before the kill and what it realised (usually
nothing). A project without a score (rejected at intake and overridden, or not in the ranking) is listed with the
reason and left out of the correlations.
"""
from __future__ import annotations

import html
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from engine.expr.values import fixed
from engine.health.assess import HealthReport, _plain
from engine.health.evm import rounded
from engine.health.status import StatusData

FINISHED = ("closed", "killed")
SMALL_N = 10  # below this many projects a rank correlation is said to be anecdotal
EXACT_UP_TO = 8  # exact permutation p-values up to this n (8! = 40,320 orderings)


# ------------------------------------------------------------------------------------------ Spearman

def average_ranks(values: Sequence[Any]) -> list[Fraction]:
    """1-based ranks, ties given the average of the ranks they span: [10, 20, 20, 30] -> [1, 2.5, 2.5, 4]."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks: list[Fraction] = [Fraction(0)] * len(values)
    k = 0
    while k < len(order):
        j = k
        while j + 1 < len(order) and values[order[j + 1]] == values[order[k]]:
            j += 1
        shared = Fraction(k + j + 2, 2)  # the mean of ranks k+1 .. j+1
        for i in order[k:j + 1]:
            ranks[i] = shared
        k = j + 1
    return ranks


@dataclass(frozen=True)
class Correlation:
    against: str
    n: int
    rho: Decimal | None
    p_value: Decimal | None = None  # exact two-sided permutation p-value (n <= EXACT_UP_TO)
    why: str | None = None  # why rho (or p) is missing
    caveat: str | None = None
    projects: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"against": self.against, "n": self.n, "rho": _plain(self.rho), "p_value": _plain(self.p_value),
                "p_method": "exact permutation, two-sided" if self.p_value is not None else None,
                "why": self.why, "caveat": self.caveat, "projects": list(self.projects)}


def _sqrt(value: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 30
        return (Decimal(value.numerator) / Decimal(value.denominator)).sqrt()


def spearman(xs: Sequence[Any], ys: Sequence[Any]) -> tuple[Decimal | None, str | None]:
    """Spearman's rho (ties by average rank), rounded once to 15 significant digits; None with why when it is
    undefined (fewer than 2 pairs, or every value of one side the same)."""
    if len(xs) != len(ys):
        raise ValueError("spearman needs pairs: two sequences of the same length")
    if len(xs) < 2:
        return None, f"needs at least 2 projects, has {len(xs)}"
    rx, ry = average_ranks(xs), average_ranks(ys)
    cov, vx, vy = _moments(rx, ry)
    if vx == 0 or vy == 0:
        return None, "every project has the same " + ("score" if vx == 0 else "outcome") + ": no ranking to compare"
    magnitude = _sqrt(cov * cov / (vx * vy))  # |cov| / sqrt(vx vy), exact until the one square root
    value = magnitude if cov > 0 else -magnitude
    return rounded(Fraction(value)), None


def _moments(rx: Sequence[Fraction], ry: Sequence[Fraction]) -> tuple[Fraction, Fraction, Fraction]:
    n = len(rx)
    mx, my = sum(rx, Fraction(0)) / n, sum(ry, Fraction(0)) / n
    cov = sum(((a - mx) * (b - my) for a, b in zip(rx, ry)), Fraction(0))
    vx = sum(((a - mx) ** 2 for a in rx), Fraction(0))
    vy = sum(((b - my) ** 2 for b in ry), Fraction(0))
    return cov, vx, vy


def permutation_p(xs: Sequence[Any], ys: Sequence[Any]) -> Decimal | None:
    """The exact two-sided p-value of Spearman's rho: the share of the n! orderings of ``ys``'s ranks whose
    correlation with ``xs``'s ranks is at least as far from 0 as the observed (ties kept as average ranks, so
    the variances are fixed and comparing the covariance is enough). None above EXACT_UP_TO pairs."""
    n = len(xs)
    if n < 2 or n > EXACT_UP_TO:
        return None
    rx, ry = average_ranks(xs), average_ranks(ys)
    cov, vx, vy = _moments(rx, ry)
    if vx == 0 or vy == 0:
        return None
    mean = sum(rx, Fraction(0)) / n
    centred = [a - mean for a in rx]
    observed = abs(cov)
    hits = total = 0
    for order in itertools.permutations(ry):
        total += 1
        if abs(sum((c * b for c, b in zip(centred, order)), Fraction(0))) >= observed:
            hits += 1
    return rounded(Fraction(hits, total))


def caveat_for(n: int) -> str | None:
    if n >= SMALL_N:
        return None
    return (f"only {n} finished project{'s' if n != 1 else ''} with a score: a rank correlation over so few is an "
            f"anecdote, not evidence (read the p-value, and the projects one by one)")


# ------------------------------------------------------------------------------------------ outcomes

@dataclass
class Outcome:
    """A finished project: what it was promised at intake, what its gates decided, and what it delivered."""

    project: str
    title: str | None
    proposal: str | None
    state: str  # closed | killed
    finished: str  # the date of its last report
    bac: Decimal | None
    final_cost: Decimal | None  # AC at the last report
    cpi: Decimal | None
    spi_t: Decimal | None
    benefits_planned: Decimal | None
    benefits_realised: Decimal | None
    benefit_cost: Decimal | None  # benefits realised / final cost
    realisation: Decimal | None  # benefits realised / benefits planned
    score: float | None = None
    rank: int | None = None
    intake: str | None = None  # the intake decision
    unscored: str | None = None  # why it has no score
    gates: list[dict[str, Any]] = field(default_factory=list)  # gate, outcome, override, time

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "title": self.title, "proposal": self.proposal, "state": self.state,
                "finished": self.finished, "bac": _plain(self.bac), "final_cost": _plain(self.final_cost),
                "cpi": _plain(self.cpi), "spi_t": _plain(self.spi_t),
                "benefits_planned": _plain(self.benefits_planned), "benefits_realised": _plain(self.benefits_realised),
                "benefit_cost": _plain(self.benefit_cost), "realisation": _plain(self.realisation),
                "score": self.score, "rank": self.rank, "intake": self.intake, "unscored": self.unscored,
                "gates": self.gates, "overridden": any(g.get("override") for g in self.gates)}


@dataclass
class Lessons:
    outcomes: list[Outcome]
    correlations: list[Correlation]
    still_running: list[str]  # projects whose last report is not closed or killed
    scored_by: str | None = None  # the policy hash of the ranking

    @property
    def overrides(self) -> list[Outcome]:
        return [o for o in self.outcomes if any(g.get("override") for g in o.gates)]

    def to_json(self) -> dict[str, Any]:
        return {"projects": [o.to_json() for o in self.outcomes],
                "correlations": [c.to_json() for c in self.correlations],
                "overrides": [{"project": o.project, "proposal": o.proposal, "state": o.state, "cpi": _plain(o.cpi),
                               "benefit_cost": _plain(o.benefit_cost), "realisation": _plain(o.realisation),
                               "gates": [g for g in o.gates if g.get("override")]} for o in self.overrides],
                "not_in_correlations": [{"project": o.project, "why": o.unscored} for o in self.outcomes
                                        if o.unscored],
                "still_running": self.still_running, "scored_by": self.scored_by}


AGAINST = {"benefit_cost": "realised benefit / final cost", "cpi": "CPI (cost performance at the end)"}


def lessons(data: StatusData, health: HealthReport, ranking: Any | None = None,
            gates: Iterable[Mapping[str, Any]] = ()) -> Lessons:
    """The finished projects of ``health`` (rated at each project's latest report) with their intake score from
    ``ranking`` (engine.scoring.ranking.Ranking of the intake proposals) and their ``gates`` (decision log entries
    of kind gate), and the rank correlations."""
    scores: dict[str, Any] = {}
    if ranking is not None:
        for entry in ranking.entries:
            if entry.id is not None:
                scores.setdefault(entry.id, entry)
    by_project: dict[str, list[dict[str, Any]]] = {}
    for g in gates:
        if g.get("project"):
            by_project.setdefault(str(g["project"]), []).append(
                {"gate": g.get("gate"), "outcome": g.get("outcome"), "override": g.get("override"),
                 "time": g.get("time"), "as_of": g.get("as_of")})
    outcomes, running = [], []
    for p in sorted(health.projects, key=lambda p: p.project):
        r = p.record
        state = (r.get("state") or "").strip().lower()
        if state not in FINISHED:
            running.append(p.project)
            continue
        proposal = (data.reports[p.project][-1].values.get("proposal") or None)
        ac, bac = r.get("ac"), r.get("bac")
        planned, realised = r.get("benefits_planned"), r.get("benefits_realised")
        if realised is None and state == "killed":  # a killed project that reports no benefits realised none
            realised = Decimal(0)
        outcome = Outcome(p.project, r.get("title"), proposal, state, p.status_date.isoformat(), bac, ac, r.get("cpi"),
                          r.get("spi_t"), planned, realised,
                          rounded(Fraction(realised) / Fraction(ac)) if ac and realised is not None else None,
                          rounded(Fraction(realised) / Fraction(planned)) if planned and realised is not None else None)
        entry = scores.get(proposal) if proposal else None
        if proposal is None:
            outcome.unscored = "its status reports name no intake proposal (column proposal)"
        elif ranking is None:
            outcome.unscored = "no intake ranking given (--proposals)"
        elif entry is None:
            outcome.unscored = f"proposal {proposal} is not in the intake proposals"
        else:
            outcome.score, outcome.rank, outcome.intake = entry.score, entry.rank, entry.decision
            if entry.score is None:
                outcome.unscored = f"not scored: {entry.decision} at intake" + (f" ({entry.reason})" if entry.reason else "")
        outcome.gates = by_project.get(proposal or "", []) + by_project.get(p.project, []) \
            if proposal != p.project else by_project.get(p.project, [])
        outcomes.append(outcome)
    correlations = []
    for name, label in AGAINST.items():
        pairs = [(o.score, getattr(o, name), o.project) for o in outcomes
                 if o.score is not None and getattr(o, name) is not None]
        xs, ys = [x for x, _, _ in pairs], [y for _, y, _ in pairs]  # only their order and ties matter
        rho, why = spearman(xs, ys) if len(pairs) >= 2 else (None, f"needs at least 2 scored finished projects, "
                                                                    f"has {len(pairs)}")
        p_value = permutation_p(xs, ys) if rho is not None else None
        if rho is not None and p_value is None and len(pairs) > EXACT_UP_TO:
            why = f"no exact p-value above {EXACT_UP_TO} projects"
        correlations.append(Correlation(label, len(pairs), rho, p_value, why, caveat_for(len(pairs)),
                                        tuple(project for *_, project in pairs)))
    return Lessons(outcomes, correlations, running, getattr(ranking, "policy_hash", None))


# ------------------------------------------------------------------------------------------ output

def _num(value: Any, places: int = 2) -> str:
    if value is None:
        return "-"
    return fixed(value, 0, grouped=True) if abs(value) >= 1000 else fixed(value, places)


def _money(value: Any) -> str:
    return fixed(value, 0, grouped=True)


def _benefits(o: Outcome) -> str:
    """Realised of planned, in whole units; a project that planned none says so (not "0.00 of -")."""
    if o.benefits_planned is None:
        return f"{_money(o.benefits_realised)} (none planned)"
    return f"{_money(o.benefits_realised)} of {_money(o.benefits_planned)}"


def table(found: Lessons) -> str:
    out = [f"{'project':<10} {'proposal':<9} {'state':<6} {'finished':<10} {'score':>6} {'rank':>4} "
           f"{'final cost':>11} {'CPI':>5} {'benefits':>19} {'ben/cost':>8}  gates"]
    for o in found.outcomes:
        gates = "; ".join(f"{g['gate']}: {g['outcome']}" + (f" (override: {g['override'].get('role')})"
                                                            if g.get("override") else "") for g in o.gates) or "-"
        benefits = _benefits(o)
        out.append(f"{o.project[:10]:<10} {(o.proposal or '-')[:9]:<9} {o.state:<6} {o.finished:<10} "
                   f"{_num(o.score):>6} {o.rank if o.rank is not None else '-':>4} {_num(o.final_cost):>11} "
                   f"{_num(o.cpi):>5} {benefits:>19} {_num(o.benefit_cost, 3):>8}  {gates}")
    out.append("")
    out.append("Spearman rank correlation of the intake score (ties by average rank) against:")
    for c in found.correlations:
        rho = f"rho {_num(c.rho, 3)}" if c.rho is not None else f"rho - ({c.why})"
        p = f", p = {_num(c.p_value, 3)} (exact, two-sided)" if c.p_value is not None else ""
        out.append(f"  {c.against:<34} {rho}, n = {c.n}{p}")
        if c.caveat:
            out.append(f"    caveat: {c.caveat}")
    if found.overrides:
        out.append("")
        out.append("overrides, and how those projects turned out:")
        for o in found.overrides:
            for g in o.gates:
                if g.get("override"):
                    out.append(f"  {o.project} ({o.proposal}) {g['gate']}: {g['outcome']}, overridden by "
                               f"{g['override'].get('role')} (\"{g['override'].get('justification')}\") -> {o.state} "
                               f"{o.finished}, CPI {_num(o.cpi)}, benefits {_benefits(o)}")
    unscored = [o for o in found.outcomes if o.unscored]
    if unscored:
        out.append("")
        out.append("not in the correlations:")
        out.extend(f"  {o.project}: {o.unscored}" for o in unscored)
    if found.still_running:
        out.append("")
        out.append(f"still running (not closed or killed): {', '.join(found.still_running)}")
    return "\n".join(out) + "\n"


def chart(found: Lessons) -> str:
    """An SVG of two scatter plots: intake score (across) against realised benefit / cost and against CPI."""
    e = html.escape
    width, height, pad = 900, 380, 54
    panel_w = (width - 3 * pad) / 2
    scored = [o for o in found.outcomes if o.score is not None]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" font-family="sans-serif" font-size="12" role="img">',
           f'<rect width="{width}" height="{height}" fill="#fff"/>',
           f'<text x="{pad}" y="22" font-size="15" font-weight="600">Lessons learned: did the intake score predict '
           'delivery?</text>']
    for k, (name, label) in enumerate((("benefit_cost", "realised benefit / final cost"), ("cpi", "CPI at the end"))):
        corr = next(c for c in found.correlations if c.against == AGAINST[name])
        out.extend(_panel(pad + k * (panel_w + pad), panel_w, height, name, label, corr, scored, e))
    out.append(f'<text x="{width - pad}" y="22" text-anchor="end" fill="#555" font-size="11">blue: closed · red: killed'
               ' · ringed: a gate overridden</text></svg>')
    return "".join(out) + "\n"


def _panel(x0: float, panel_w: float, height: int, name: str, label: str, corr: Correlation,
           scored: list[Outcome], e: Callable[[str], str]) -> list[str]:
    top, bottom = 60, height - 50
    points = [(o.score, float(value), o) for o in scored
              if o.score is not None and (value := getattr(o, name)) is not None]  # every one scored: see callers
    xs = [p[0] for p in points] or [0.0, 100.0]
    ys = [p[1] for p in points] or [0.0, 1.0]
    lo_x, hi_x = min(xs) - 5, max(xs) + 5
    lo_y, hi_y = min(ys + [0.0]), max(ys) * 1.1 or 1.0

    def sx(v: float) -> float:
        return x0 + (v - lo_x) / ((hi_x - lo_x) or 1) * panel_w

    def sy(v: float) -> float:
        return bottom - (v - lo_y) / ((hi_y - lo_y) or 1) * (bottom - top)

    rho = f"rho = {float(corr.rho):.2f}" if corr.rho is not None else "rho undefined"
    p = f", p = {float(corr.p_value):.2f}" if corr.p_value is not None else ""
    out = [f'<text x="{x0}" y="{top - 14}" font-weight="600">{e(label)}: {rho}{p}, n = {corr.n}</text>',
           f'<line x1="{x0}" y1="{bottom}" x2="{x0 + panel_w}" y2="{bottom}" stroke="#999"/>'
           f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{bottom}" stroke="#999"/>',
           f'<text x="{x0 + panel_w / 2}" y="{bottom + 34}" text-anchor="middle">intake score →</text>']
    for t in (lo_y, (lo_y + hi_y) / 2, hi_y):
        out.append(f'<text x="{x0 - 4}" y="{sy(t) + 4:.1f}" text-anchor="end" fill="#555">{t:.2f}</text>')
    for t in (lo_x + 5, hi_x - 5):
        out.append(f'<text x="{sx(t):.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">{t:.0f}</text>')
    for score, value, o in points:
        colour = "#c62828" if o.state == "killed" else "#1565c0"
        ring = any(g.get("override") for g in o.gates)
        out.append(f'<circle cx="{sx(score):.1f}" cy="{sy(value):.1f}" r="6" fill="{colour}" fill-opacity="0.8"'
                   + (' stroke="#f0a202" stroke-width="3"' if ring else "") + f' data-project="{e(o.project)}" '
                   f'data-score="{score}" data-value="{value}"><title>{e(o.project)}: score {score:.1f}, '
                   f'{e(label)} {value:.3f} ({o.state})</title></circle>'
                   f'<text x="{sx(score) + 8:.1f}" y="{sy(value) + 4:.1f}">{e(o.project)}</text>')
    if corr.caveat:
        out.append(f'<text x="{x0}" y="{height - 8}" fill="#b00" font-size="11">n = {corr.n}: too few to be '
                   'evidence</text>')
    return out
