"""Ranking: intake decisions and scores become an ordered, explained list.

Proposals that pass intake (accept or review) are ranked by score. Rejected proposals, error
rows and proposals without a score follow, with the reason, so nothing is silently dropped.
The entries are light dataclasses whose breakdowns are made on first use; ``to_json()`` gives
plain data.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.compile.scoring import CompiledScoring, ScoringModel
from engine.decision import Decision, Finding, RowError
from engine.expr.evaluate import evaluate
from engine.gcpause import no_gc_pauses
from engine.scoring.score import Scores, ranking_order, score
from engine.scoring.sensitivity import top_probability, weight_changes

if TYPE_CHECKING:
    from engine.scoring.panel import AssessmentError, PanelResult, Rating

Ratings = Mapping[str, Mapping[str, list["Rating"]]]  # checked ratings by proposal id and criterion


@dataclass(slots=True)
class Contribution:
    """One criterion's part of a score."""

    criterion: str
    raw: float | None = None  # the value the criterion read (None: missing)
    normalised: float | None = None  # 0 to 1 after normalisation and direction
    weight: float | None = None  # the criterion's weight (weights sum to 1)
    contribution: float | None = None  # its share of the score; the shares add up to the score
    detail: dict[str, float] | None = None  # for alignment: each objective's part


@dataclass(slots=True)
class WeightChange:
    """The smallest change of one weight (the others rescaled) that moves a proposal out of the top N."""

    criterion: str
    weight: float
    new_weight: float


@dataclass(slots=True)
class RankEntry:
    id: str | None
    decision: str  # the intake decision: accept, review, reject or error
    rank: int | None = None  # 1 is best; None for proposals that are not ranked
    score: float | None = None
    # The breakdown is made on first use from the ranking's score arrays: a ranking of 100,000 proposals
    # does not build 700,000 objects nobody reads.
    _breakdown: list[Contribution] | Callable[[], list[Contribution]] | None = field(default=None, repr=False)
    routes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    reason: str | None = None  # why the proposal is not ranked
    top_probability: float | None = None  # share of weight perturbations that keep it in the top N
    weight_change: WeightChange | None = None  # top N only; None when no single weight change drops it
    source: str | None = None
    row: int | None = None
    position: int | None = None  # index of the proposal in the decided list the ranking was built from
    model: str | None = None  # the scoring model that scored it, when the policy set has several
    panel: list[PanelResult] = field(default_factory=list)  # engine.scoring.panel.PanelResult per panel criterion (assessments)
    carried: dict[str, str] = field(default_factory=dict)  # the input profile's carried columns, as read (Decision.carried)
    title: str | None = None  # the proposal's title as read, for people (the table), as Decision.title: not in JSON

    @property
    def breakdown(self) -> list[Contribution]:
        """Per criterion: raw value, normalised score, weight and contribution (they add up to the score)."""
        if self._breakdown is None:
            return []
        if callable(self._breakdown):
            self._breakdown = self._breakdown()
        return self._breakdown

    def to_json(self) -> dict[str, Any]:
        model = {"model": self.model} if self.model is not None else {}
        return {
            "rank": self.rank, "id": self.id, "decision": self.decision, **model, "score": self.score,
            "breakdown": [asdict(c) for c in self.breakdown], "routes": self.routes,
            "findings": [f.model_dump(mode="json") for f in self.findings],
            "errors": [e.model_dump(mode="json") for e in self.errors], "reason": self.reason,
            "top_probability": self.top_probability,
            "weight_change": asdict(self.weight_change) if self.weight_change else None,
            "source": self.source, "row": self.row,
            **({"panel": [p.to_json() for p in self.panel]} if self.panel else {}),
            **({"carried": self.carried} if self.carried else {}),  # without a carry: as it was
        }


@dataclass
class Ranking:
    method: str
    weights: dict[str, float]
    top: int
    policy_hash: str
    as_of: str | None
    sensitivity: dict[str, Any] | None  # perturbation, samples and seed, when computed
    entries: list[RankEntry]
    warnings: list[str] = field(default_factory=list)  # policy warnings, e.g. weights that were normalised
    models: list[dict[str, Any]] = field(default_factory=list)  # several scoring models: each one's id, method, ...
    assessment_errors: list[AssessmentError] | None = None  # ratings that could not be used (pmo rank --assessments), or None
    titled: bool = False  # the table shows each proposal's title (pmo rank sets it as pmo evaluate's table does)

    def to_json(self) -> dict[str, Any]:
        with no_gc_pauses():
            entries = [e.to_json() for e in self.entries]
        models = {"models": self.models} if self.models else {}
        rated = {} if self.assessment_errors is None else {
            "assessment_errors": [e.to_json() for e in self.assessment_errors]}
        return {"method": self.method, "weights": self.weights, "top": self.top, "policy_hash": self.policy_hash,
                "as_of": self.as_of, "sensitivity": self.sensitivity, "warnings": self.warnings, **models, **rated,
                "entries": entries}

    @property
    def carried(self) -> list[str]:
        """The names of the input profile's carried columns the entries have (each entry has them all)."""
        return list(dict.fromkeys(name for e in self.entries for name in e.carried))


def build_ranking(scoring: CompiledScoring, decided: list[tuple[Decision, Mapping[str, Any] | None]],
                  policy_hash: str, as_of: str, top: int | None = None, sensitivity: bool = False,
                  ratings: Ratings | None = None) -> Ranking:
    """``ratings``: checked ratings by proposal id and criterion (engine/scoring/panel.py), for panel criteria."""
    with no_gc_pauses():
        return _build(scoring, decided, policy_hash, as_of, top or scoring.top, sensitivity, ratings)


def _build(scoring: CompiledScoring, decided: list[tuple[Decision, Mapping[str, Any] | None]],
           policy_hash: str, as_of: str, top: int, sensitivity: bool,
           ratings: Ratings | None = None) -> Ranking:
    passing: list[int] = []  # the positions of the candidates in ``decided``
    candidates: list[tuple[Decision, Mapping[str, Any]]] = []
    for i, (d, r) in enumerate(decided):
        if r is not None and d.decision in ("accept", "review"):
            passing.append(i)
            candidates.append((d, r))
    records = [r for _, r in candidates]
    panels: list[list[PanelResult]] = [[] for _ in candidates]
    if ratings is not None and any(c.panel is not None for c in scoring.criteria):
        # lazy: panels (and their readers) load only for a model with panel criteria
        from engine.compile.scoring import PANEL_KEY
        from engine.scoring.panel import panel_results
        panels = [panel_results(scoring.criteria, ratings.get(d.id or "", {})) for d, _ in candidates]
        records = [{**r, PANEL_KEY: {p.criterion: p.score for p in found if p.score is not None}}
                   for r, found in zip(records, panels)]
    scores = score(scoring, records)
    order = ranking_order(scoring, scores, records, [d.id for d, _ in candidates])
    breakdowns = _breakdowns(scoring, scores, records)
    totals = scores.total.tolist()
    probability: list[float] | None = None
    changes: list[WeightChange | None] = []
    if sensitivity and scoring.method == "weighted-sum" and len(order):
        probability, changes = _sensitivity(scoring, scores, order, top)
    entries: list[RankEntry] = []
    for n, i in enumerate(order.tolist(), 1):
        decision = candidates[i][0]
        entry = _entry(decision, rank=n, score=totals[i], _breakdown=partial(breakdowns, i), position=passing[i],
                       panel=panels[i])
        if probability is not None:
            entry.top_probability = probability[n - 1]
            entry.weight_change = changes[n - 1] if n <= top else None
        entries.append(entry)
    ranked = set(order.tolist())
    for i, (decision, _record) in enumerate(candidates):
        if i in scores.errors:  # an error row, as intake makes one: the proposal's scoring failed, it is not ranked
            errors = [RowError(row=decision.row, code=code, message=message) for code, message in scores.errors[i]]
            entries.append(RankEntry(id=decision.id, decision="error", routes=decision.routes,
                                     findings=decision.findings, errors=decision.errors + errors,
                                     source=decision.source, row=decision.row, position=passing[i], panel=panels[i],
                                     reason="error: " + "; ".join(e.message for e in errors),
                                     carried=decision.carried, title=decision.title))
        elif scores.unscored[i] is not None or i not in ranked:  # no proposal leaves the list without a reason
            why = scores.unscored[i] or "its score is not a number"
            entries.append(_entry(decision, reason=f"not scored: {why}", position=passing[i], panel=panels[i]))
    entries += _not_passing(decided)
    settings = None
    if sensitivity:
        s = scoring.sensitivity
        settings = {"perturbation": float(s.perturbation), "samples": s.samples, "seed": s.seed,
                    "available": scoring.method == "weighted-sum"}
    return Ranking(scoring.method, scoring.weights, top, policy_hash, as_of, settings, entries)


def build_model_ranking(models: Sequence[ScoringModel], decided: list[tuple[Decision, Mapping[str, Any] | None]],
                        policy_hash: str, as_of: str, top: int | None = None, sensitivity: bool = False,
                        ratings: Ratings | None = None) -> Ranking:
    """Several scoring models. Each proposal that passes intake is scored by the one model whose 'when' holds (the
    model without 'when' takes the rest); two that hold leave it unscored, naming both, as does none. Scores of
    different models are not comparable, so each model ranks its own pool: the entries are model by model (in
    file order), best first, then the unscored, then the rejected and the error rows."""
    with no_gc_pauses():
        pools: dict[str, list[int]] = {m.id: [] for m in models}
        unscored: list[tuple[int, str]] = []
        for i, (decision, record) in enumerate(decided):
            if record is None or decision.decision not in ("accept", "review"):
                continue
            model, why = model_for(models, record)
            if model is not None:
                pools[model.id].append(i)
            else:
                unscored.append((i, f"not scored: {why}"))
        entries: list[RankEntry] = []
        summaries = []
        settings: dict[str, dict[str, Any]] = {}  # each model's sensitivity settings, when asked
        for m in models:
            pool = pools[m.id]
            part = _build(m.scoring, [decided[i] for i in pool], policy_hash, as_of, top or m.scoring.top,
                          sensitivity, ratings)
            for entry in part.entries:
                assert entry.position is not None  # _build gives every entry its position
                entry.model, entry.position = m.id, pool[entry.position]
            entries += part.entries
            if part.sensitivity is not None:
                settings[m.id] = part.sensitivity
            summaries.append({"id": m.id, "name": m.name, "method": m.scoring.method, "weights": m.scoring.weights,
                              "where": m.where, "ranked": sum(1 for e in part.entries if e.rank is not None)})
        entries += [_entry(decided[i][0], reason=why, position=i) for i, why in unscored]
        entries += _not_passing(decided)
        first = models[0].scoring
        overall = {"available": any(s["available"] for s in settings.values()), "models": settings} \
            if sensitivity else None
        return Ranking("by model", {}, top or first.top, policy_hash, as_of, overall, entries, models=summaries)


def model_for(models: Sequence[ScoringModel], record: Mapping[str, Any]) -> tuple[ScoringModel | None, str | None]:
    """The scoring model of a proposal: the one whose 'when' holds, else the one without 'when'; or None and why
    (two hold: scoring by either would be a guess; none holds and there is no default)."""
    taken = [m for m in models if m.condition is not None and evaluate(m.condition, record) is True]
    if len(taken) > 1:
        names = " and ".join(f"{m.id} ({m.where})" for m in taken)
        return None, f"scoring models {names} both apply; make their 'when' exclusive"
    default = next((m for m in models if m.condition is None), None)
    if taken or default is not None:
        return (taken[0] if taken else default), None
    return None, "no scoring model applies (" + ", ".join(f"{m.id} at {m.where}" for m in models) + ")"


def _not_passing(decided: list[tuple[Decision, Mapping[str, Any] | None]]) -> list[RankEntry]:
    """The rejected proposals and the error rows, each with its reason."""
    out = []
    for position, (decision, record) in enumerate(decided):
        if record is None or decision.decision not in ("accept", "review"):
            why = "; ".join(f.reason for f in decision.findings if f.effect == "reject") or \
                "; ".join(e.message for e in decision.errors)
            out.append(_entry(decision, reason=f"{decision.decision}: {why}", position=position))
    return out


def _entry(decision: Decision, **fields: Any) -> RankEntry:
    return RankEntry(id=decision.id, decision=decision.decision, routes=decision.routes, findings=decision.findings,
                     errors=decision.errors, source=decision.source, row=decision.row, carried=decision.carried,
                     title=decision.title, **fields)


def _value(x: float) -> float | int | None:
    if math.isnan(x):
        return None
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _breakdowns(scoring: CompiledScoring, scores: Scores,
                records: list[Mapping[str, Any]]) -> Callable[[int], list[Contribution]]:
    """A function giving proposal i's breakdown from the score arrays."""
    raw, parts = scores.raw, scores.contributions
    if scoring.method == "weighted-sum":
        normalised = scores.normalised
        criteria = [(j, c.id, c.weight, c.alignment_field) for j, c in enumerate(scoring.criteria)]

        def weighted(i: int) -> list[Contribution]:
            r, x, p = raw[i].tolist(), normalised[i].tolist(), parts[i].tolist()
            return [Contribution(cid, _value(r[j]), x[j], weight, p[j],
                                 getattr(records[i].get(align), "parts", None) if align else None)
                    for j, cid, weight, align in criteria]
        return weighted
    names = [name for name, _ in scoring.components]
    if scoring.method == "wsjf":  # each part of the cost of delay, over the job size
        def wsjf(i: int) -> list[Contribution]:
            r, p = raw[i].tolist(), parts[i].tolist()
            out = [Contribution(name, _value(r[j]), contribution=p[j]) for j, name in enumerate(names[:3])]
            return out + [Contribution("job_size", _value(r[3]))]
        return wsjf

    def single(i: int) -> list[Contribution]:
        r = raw[i].tolist()
        inputs = [Contribution(name, _value(r[j])) for j, name in enumerate(names) if name != "formula"]
        value = _value(r[0]) if scoring.method == "formula" else None
        return inputs + [Contribution(scoring.method, value, contribution=float(scores.total[i]))]
    return single


def _sensitivity(scoring: CompiledScoring, scores: Scores, order: np.ndarray,
                 top: int) -> tuple[list[float], list[WeightChange | None]]:
    x = scores.normalised[order]
    w = np.array([c.weight for c in scoring.criteria])
    s = scoring.sensitivity
    probability = top_probability(x, w, top, float(s.perturbation), s.samples, s.seed).tolist()
    changes = [None if c is None else WeightChange(scoring.criteria[c.criterion].id, c.weight, c.new_weight)
               for c in weight_changes(x, w, np.arange(len(order)), top)]
    return probability, changes
