"""Weights of objectives or criteria: stated, or from pairwise comparisons (AHP), normalised to sum to 1."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence

from engine import ahp
from engine.errors import Diagnostic, DiagnosticSink, Location
from engine.policy.models import Comparisons


@dataclass(frozen=True)
class Weighted:
    id: str
    weight: Decimal | None
    where: Location  # where the weight is (or would be) written


@dataclass(frozen=True)
class Weights:
    values: dict[str, float]  # id -> weight, summing to 1
    ahp: ahp.AhpResult | None = None


def resolve(items: Sequence[Weighted], comparisons: Comparisons | None, what: str, owner: Location,
            sink: DiagnosticSink, strict: bool = False) -> Weights | None:
    """The normalised weights, or None after reporting why there are none."""
    ids = [item.id for item in items]
    if comparisons is not None:
        stated = [item for item in items if item.weight is not None]
        for item in stated:
            sink.add("conflicting_weights", f"{what} '{item.id}' has a weight, but comparisons give the weights",
                     item.where, "remove the weights, or the comparisons")
        if stated:
            return None
        return _from_comparisons(ids, comparisons, what, sink)
    missing = [item for item in items if item.weight is None]
    if missing:
        sink.add("missing_weight", f"{what} '{missing[0].id}' has no weight", missing[0].where,
                 "give every one a weight, or give pairwise 'comparisons'")
        return None
    total = sum((item.weight for item in items), Decimal(0))
    if not total:
        sink.add("bad_weights", f"the {what} weights add up to 0", owner, "give at least one a positive weight")
        return None
    if total != 1:
        message = f"the {what} weights add up to {total}, not 1"
        if strict:
            sink.add("weights_not_normalised", message, owner, "make them add up to 1, or set weights: normalise")
            return None
        sink.extend([Diagnostic("weights_normalised", f"{message}; they are divided by {total}", owner,
                                severity="warning")])
    return Weights({item.id: float(item.weight / total) for item in items})


def _from_comparisons(ids: list[str], comparisons: Comparisons, what: str, sink: DiagnosticSink) -> Weights | None:
    where = comparisons.loc()
    try:
        if (comparisons.judgements is None) == (comparisons.matrix is None):
            raise ahp.AhpError("give either 'judgements' or 'matrix'")
        if comparisons.matrix is not None:
            matrix = ahp.matrix_from_rows(ids, comparisons.matrix)
        else:
            matrix = ahp.matrix_from_judgements(ids, comparisons.judgements or {})
        result = ahp.weights(ids, matrix, comparisons.method)
    except ahp.AhpError as exc:
        sink.add("bad_comparisons", f"{what} comparisons: {exc}", comparisons.loc(*exc.where) if exc.where else where)
        return None
    if result.cr > float(comparisons.max_cr):
        message = (f"{what} comparisons are inconsistent: CR = {result.cr:.3f} is above {comparisons.max_cr} "
                   f"(lambda_max {result.lambda_max:.3f}, CI {result.ci:.3f})")
        hint = "revisit the judgements that contradict each other (a > b > c but c > a)"
        if comparisons.inconsistent == "error":
            sink.add("inconsistent_comparisons", message, where, hint)
            return None
        sink.extend([Diagnostic("inconsistent_comparisons", message, where, hint, severity="warning")])
    return Weights(dict(zip(ids, result.weights)), result)
