"""Ranking: intake decisions and scores become an ordered, explained list.

Proposals that pass intake (accept or review) are ranked by score. Rejected proposals, error
rows and proposals without a score follow, with the reason, so nothing is silently dropped.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel, Field

from engine.decision import Decision, Finding, RowError
from engine.expr.values import plain
from engine.scoring import CompiledScoring, Scores, ranking_order, score
from engine.sensitivity import top_probability, weight_changes


class Contribution(BaseModel):
    criterion: str
    raw: Any = Field(None, description="the value the criterion read (null: missing)")
    normalised: float | None = Field(None, description="0 to 1 after normalisation and direction")
    weight: float | None = Field(None, description="the criterion's weight (weights sum to 1)")
    contribution: float | None = Field(None, description="its share of the score; the shares sum to the score")
    detail: dict[str, float] | None = Field(None, description="for alignment: each objective's part")


class WeightChange(BaseModel):
    """The smallest change of one weight that moves the proposal out of the top N."""

    criterion: str
    weight: float
    new_weight: float


class RankEntry(BaseModel):
    rank: int | None = Field(None, description="1 is best; null for proposals that are not ranked")
    id: str | None
    decision: str = Field(description="the intake decision: accept, review, reject or error")
    score: float | None = None
    breakdown: list[Contribution] = Field(default_factory=list)
    routes: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    errors: list[RowError] = Field(default_factory=list)
    reason: str | None = Field(None, description="why the proposal is not ranked")
    top_probability: float | None = Field(None, description="share of weight perturbations keeping it in the top N")
    weight_change: WeightChange | None = Field(None, description="for the top N: the smallest weight change that "
                                               "drops it; null when no single weight change can")
    source: str | None = None
    row: int | None = None


class Ranking(BaseModel):
    method: str
    weights: dict[str, float] = Field(default_factory=dict)
    top: int
    policy_hash: str
    as_of: str | None = None
    sensitivity: dict[str, Any] | None = Field(None, description="perturbation, samples and seed, when computed")
    entries: list[RankEntry]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def build_ranking(scoring: CompiledScoring, decided: list[tuple[Decision, Mapping[str, Any] | None]],
                  policy_hash: str, as_of: str, top: int | None = None, sensitivity: bool = False) -> Ranking:
    top = top or scoring.top
    candidates = [(d, r) for d, r in decided if r is not None and d.decision in ("accept", "review")]
    records = [r for _, r in candidates]
    scores = score(scoring, records)
    ids = [d.id for d, _ in candidates]
    order = ranking_order(scoring, scores, records, ids)
    entries: list[RankEntry] = []
    position = {i: n for n, i in enumerate(order)}
    sens = _sensitivity(scoring, scores, order, top) if sensitivity else None
    for n, i in enumerate(order, 1):
        decision, record = candidates[i]
        entry = _entry(decision, rank=n, score=float(scores.total[i]), breakdown=_breakdown(scoring, scores, i, record))
        if sens is not None:
            probability, changes = sens
            entry.top_probability = float(probability[i])
            if position[i] < top:
                entry.weight_change = changes[position[i]]
        entries.append(entry)
    for i, (decision, _record) in enumerate(candidates):
        if scores.unscored[i] is not None:
            entries.append(_entry(decision, reason=f"not scored: {scores.unscored[i]}"))
    for decision, record in decided:
        if record is None or decision.decision not in ("accept", "review"):
            reason = "; ".join(f.reason for f in decision.findings if f.effect == "reject") or \
                "; ".join(e.message for e in decision.errors)
            entries.append(_entry(decision, reason=f"{decision.decision}: {reason}"))
    settings = None
    if sensitivity:
        s = scoring.sensitivity
        settings = {"perturbation": float(s.perturbation), "samples": s.samples, "seed": s.seed,
                    "available": scoring.method == "weighted-sum"}
    return Ranking(method=scoring.method, weights=scoring.weights, top=top, policy_hash=policy_hash, as_of=as_of,
                   sensitivity=settings, entries=entries)


def _entry(decision: Decision, **fields: Any) -> RankEntry:
    return RankEntry(id=decision.id, decision=decision.decision, routes=decision.routes, findings=decision.findings,
                     errors=decision.errors, source=decision.source, row=decision.row, **fields)


def _breakdown(scoring: CompiledScoring, scores: Scores, i: int, record: Mapping[str, Any]) -> list[Contribution]:
    if scoring.method == "weighted-sum":
        out = []
        for j, c in enumerate(scoring.criteria):
            detail = getattr(record.get(c.alignment_field), "parts", None) if c.alignment_field else None
            out.append(Contribution(criterion=c.id, raw=plain(scores.raw[i][j]),
                                    normalised=float(scores.normalised[i, j]), weight=c.weight,
                                    contribution=float(scores.contributions[i, j]), detail=detail))
        return out
    names = [name for name, _ in scoring.components]
    raws = [plain(v) for v in scores.raw[i]]
    if scoring.method == "wsjf":  # each part of the cost of delay, over the job size
        parts = dict(zip(names, raws))
        out = [Contribution(criterion=name, raw=parts[name], contribution=float(scores.contributions[i, j]))
               for j, name in enumerate(("business_value", "time_criticality", "risk_reduction"))]
        return out + [Contribution(criterion="job_size", raw=parts["job_size"])]
    out = [Contribution(criterion=name, raw=raw) for name, raw in zip(names, raws) if name != "formula"]
    return out + [Contribution(criterion=scoring.method, raw=None if scoring.method == "rice" else raws[0],
                               contribution=float(scores.total[i]))]


def _sensitivity(scoring: CompiledScoring, scores: Scores, order: list[int], top: int):
    if scoring.method != "weighted-sum" or not order:
        return None
    x = scores.normalised[order]
    w = np.array([c.weight for c in scoring.criteria])
    s = scoring.sensitivity
    probability_ranked = top_probability(x, w, top, float(s.perturbation), s.samples, s.seed)
    probability = np.zeros(len(scores.total))
    probability[order] = probability_ranked
    changes = [None if c is None else WeightChange(criterion=scoring.criteria[c.criterion].id, weight=c.weight,
                                                   new_weight=c.new_weight)
               for c in weight_changes(x, w, np.arange(len(order)), top)]
    return probability, changes
