"""Weights of objectives or criteria: stated, or from pairwise comparisons (AHP), normalised to sum to 1."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import usercache
from engine.errors import Diagnostic, DiagnosticSink, Location
from engine.policy import ahp
from engine.policy.ahp import Judgement
from engine.policy.models import Comparisons

if TYPE_CHECKING:
    import numpy as np


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
    weights = [item.weight for item in items if item.weight is not None]  # every item's: none is missing
    total = sum(weights, Decimal(0))
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
    return Weights({item.id: float(weight / total) for item, weight in zip(items, weights)})


def _from_comparisons(ids: list[str], comparisons: Comparisons, what: str, sink: DiagnosticSink) -> Weights | None:
    where = comparisons.loc()
    key = _cache_key(ids, comparisons)
    result, matrix = _remembered(key, ids, comparisons.method), None
    try:
        if result is None:
            matrix = _matrix(ids, comparisons)
            result = ahp.weights(ids, matrix, comparisons.method)
            usercache.write(CACHE, key, [list(result.weights), result.lambda_max, result.ci, result.cr])
    except ahp.AhpError as exc:
        sink.add("bad_comparisons", f"{what} comparisons: {exc}", comparisons.loc(*exc.where) if exc.where else where)
        return None
    if result.cr > float(comparisons.max_cr):
        matrix = _matrix(ids, comparisons) if matrix is None else matrix
        message = (f"{what} comparisons are inconsistent: CR = {result.cr:.3f} is above {comparisons.max_cr} "
                   f"(lambda_max {result.lambda_max:.3f}, CI {result.ci:.3f})")
        worst = [_as_written(j, comparisons, ids) for j in ahp.worst_judgements(ids, matrix, result)]
        first, path = worst[0]
        message += f"; {first.first} vs {first.second} = {ahp.shown(first.given)} breaks consistency most"
        hint = f"about {ahp.shown(first.consistent)} would fit the other judgements"
        if len(worst) > 1:
            nxt = worst[1][0]
            hint += f"; next: {nxt.first} vs {nxt.second} = {ahp.shown(nxt.given)} (about {ahp.shown(nxt.consistent)})"
        where = comparisons.loc(*path)
        if comparisons.inconsistent == "error":
            sink.add("inconsistent_comparisons", message, where, hint)
            return None
        sink.extend([Diagnostic("inconsistent_comparisons", message, where, hint, severity="warning")])
    return Weights(dict(zip(ids, result.weights)), result)


CACHE = "ahp"  # the user's cache folder of AHP results (engine/usercache.py)
CACHE_FORMAT = 1


def _matrix(ids: list[str], comparisons: Comparisons) -> np.ndarray:
    if (comparisons.judgements is None) == (comparisons.matrix is None):
        raise ahp.AhpError("give either 'judgements' or 'matrix'")
    if comparisons.matrix is not None:
        return ahp.matrix_from_rows(ids, comparisons.matrix)
    return ahp.matrix_from_judgements(ids, comparisons.judgements or {})


def _cache_key(ids: list[str], comparisons: Comparisons) -> str:
    """What an AHP result depends on: the items, the comparisons as written, the method, the code that computes it
    (engine/policy/ahp.py) and numpy's release (its LAPACK decides the last bits of an eigenvector). Loading
    numpy costs a start-up 0.1 s, and the result appears at full precision in every ranking, so it is remembered
    exactly (JSON floats round-trip) rather than computed another way."""
    given = comparisons.matrix if comparisons.matrix is not None else comparisons.judgements
    parts = json.dumps([CACHE_FORMAT, ids, given, comparisons.method], default=str)
    digest = hashlib.sha256(parts.encode())
    for source in (Path(ahp.__file__), _numpy_release()):
        try:
            digest.update(b"\0" + (source.read_bytes() if source is not None else b"?"))
        except OSError:
            digest.update(b"\0?")
    return digest.hexdigest()[:32]


def _numpy_release() -> Path | None:
    """numpy's version file (found, not imported)."""
    spec = find_spec("numpy")
    return Path(spec.origin).with_name("version.py") if spec is not None and spec.origin else None


def _remembered(key: str, ids: list[str], method: str) -> ahp.AhpResult | None:
    """The result stored under ``key``, or None when there is none or it is not one of ours."""
    stored = usercache.read(CACHE, key)
    try:
        values, lambda_max, ci, cr = stored
        if len(values) != len(ids) or not all(type(v) is float for v in (*values, lambda_max, ci, cr)):
            return None
    except (TypeError, ValueError):
        return None
    return ahp.AhpResult(tuple(ids), tuple(values), lambda_max, ci, cr, method)


def _as_written(judgement: ahp.Judgement, comparisons: Comparisons, ids: list[str]) -> tuple[ahp.Judgement, tuple[str | int, ...]]:
    """The judgement the way the author wrote it (a: {b: 3} reads "a vs b"), and where it is written."""
    a, b = judgement.first, judgement.second
    if comparisons.judgements is not None:
        if b in (comparisons.judgements.get(a) or {}):
            return judgement, ("judgements", a, b)
        flipped = ahp.Judgement(b, a, 1 / judgement.given, 1 / judgement.consistent, judgement.deviation)
        return flipped, ("judgements", b, a)
    return judgement, ("matrix", ids.index(a), ids.index(b))


# ---------------------------------------------------------------------------- pmo weights FILE

class WeightsFileError(ValueError):
    """A file pmo weights cannot read weights from; the message says what it needs."""


@dataclass(frozen=True)
class FileWeights:
    values: dict[str, float]  # normalised
    ahp: ahp.AhpResult | None  # None: stated weights
    total: float = 1.0  # the stated weights' sum, before normalising
    worst: tuple[Judgement, ...] = ()  # the judgements that break consistency most, as written

    def as_dict(self) -> dict[str, Any]:
        if self.ahp is None:
            return {"weights": self.values, "method": "stated", "stated_total": self.total}
        out = self.ahp.as_dict()
        if not self.ahp.consistent:
            out["worst_judgements"] = [{"first": j.first, "second": j.second, "given": j.given,
                                        "consistent": j.consistent} for j in self.worst]
        return out


def weights_in_file(data: object, method: str | None) -> FileWeights:
    """The weights a file states or implies: {criteria, matrix}, or a strategy or scoring policy (comparisons as
    judgements or a matrix, else the weights written on each objective or criterion)."""
    if not isinstance(data, dict):
        raise WeightsFileError("needs 'criteria: [...]' and 'matrix: [[...]]', or a strategy or scoring policy")
    kind = data.get("kind")
    if kind in ("strategy", "scoring"):
        key = "objectives" if kind == "strategy" else "criteria"
        entries = data.get(key)
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "id" in e for e in entries):
            raise WeightsFileError(f"a {kind} policy lists '{key}', each with an 'id'")
        ids = [str(e["id"]) for e in entries]
        comparisons = data.get("comparisons")
        if comparisons is None:
            return _stated(ids, [e.get("weight") for e in entries])
        if not isinstance(comparisons, dict):
            raise WeightsFileError("'comparisons' holds 'judgements' or 'matrix'")
        method = method or comparisons.get("method") or "eigen"
        judgements, rows = comparisons.get("judgements"), comparisons.get("matrix")
    elif isinstance(data.get("criteria"), list) and isinstance(data.get("matrix"), list):
        ids, judgements, rows, method = [str(c) for c in data["criteria"]], None, data["matrix"], method or "eigen"
    else:
        raise WeightsFileError("needs 'criteria: [...]' and 'matrix: [[...]]', or a strategy or scoring policy")
    try:
        if rows is not None and judgements is None:
            matrix = ahp.matrix_from_rows(ids, rows)
        elif judgements is not None and rows is None:
            matrix = ahp.matrix_from_judgements(ids, judgements)
        else:
            raise ahp.AhpError("give either 'judgements' or 'matrix'")
        result = ahp.weights(ids, matrix, method)
    except ahp.AhpError as exc:
        raise WeightsFileError(str(exc)) from None
    written = Comparisons.model_construct(judgements=judgements, matrix=rows)
    worst = tuple(_as_written(j, written, ids)[0] for j in ahp.worst_judgements(ids, matrix, result))
    return FileWeights(dict(zip(ids, result.weights)), result, worst=worst)


def _stated(ids: list[str], weights: list[Any]) -> FileWeights:
    try:
        numbers = [float(Decimal(str(w))) for w in weights]
    except ArithmeticError:
        raise WeightsFileError("every weight must be a number (write decimals with a point: 0.35)") from None
    if len(numbers) != len(ids) or any(w < 0 for w in numbers) or not sum(numbers):
        raise WeightsFileError("give every one a positive weight, or pairwise 'comparisons'")
    total = sum(numbers)
    return FileWeights({i: w / total for i, w in zip(ids, numbers)}, None, total)
