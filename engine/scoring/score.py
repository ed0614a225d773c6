"""Scoring proposals with a compiled scoring model: criterion values as numpy columns, normalisation,
contributions, totals, and the ranking order (compiled in engine/compile/scoring.py)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.compile.scoring import MISSING, ColumnCache, CompiledScoring


@dataclass
class Scores:
    """Scores of n proposals (NaN: missing or not scored): raw values and normalised scores (n x k),
    contributions (n x parts) and totals (n)."""

    raw: np.ndarray
    normalised: np.ndarray
    contributions: np.ndarray
    total: np.ndarray
    unscored: list[str | None]  # why a proposal has no score
    # proposals (by index) a criterion could not score, with (code, message): an error row, neither ranked nor
    # scored as missing (a decision table's rows that overlap at run time)
    errors: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # numeric fields as floats, for tie-breaks


def score(scoring: CompiledScoring, records: list[Mapping[str, Any]]) -> Scores:
    cache: dict[str, np.ndarray] = {}  # numeric fields, converted to floats once
    if scoring.method == "weighted-sum":
        return _weighted_sum(scoring, records, cache)
    return _components(scoring, records, cache)


def _weighted_sum(scoring: CompiledScoring, records: list[Mapping[str, Any]], cache: ColumnCache) -> Scores:
    n, k = len(records), len(scoring.criteria)
    raw = np.empty((n, k))
    normalised = np.empty((n, k))
    errors: dict[int, list[tuple[str, str]]] = {}
    for j, c in enumerate(scoring.criteria):
        values = raw[:, j] = c.column(records, cache)
        if c.error is not None:  # a NaN is missing, or an error the criterion names: only NaNs are asked
            for i in np.flatnonzero(np.isnan(values)).tolist():
                if (found := c.error(records[i])) is not None:
                    errors.setdefault(i, []).append(found)
        if c.normalise == "fixed":
            low, high = c.low, c.high
            assert low is not None and high is not None  # compile_scoring gives a fixed criterion its scale
            x = np.clip((values - low) / (high - low), 0.0, 1.0)
        elif c.normalise == "minmax":
            present = values[~np.isnan(values)]
            least, most = (present.min(), present.max()) if present.size else (0.0, 0.0)
            x = (values - least) / (most - least) if most > least else np.where(np.isnan(values), MISSING, 1.0)
        else:
            x = values.copy()
        if c.direction == "lower":
            x = 1.0 - x
        x[np.isnan(values)] = c.missing
        normalised[:, j] = x
    contributions = normalised * (np.array([c.weight for c in scoring.criteria]) * 100.0)
    total = np.zeros(n)
    for j in range(k):  # left to right, so a breakdown's contributions add up to the score exactly
        total = total + contributions[:, j]
    if errors:
        total[list(errors)] = MISSING  # not ranked: ranking_order takes the scored proposals only
    return Scores(raw, normalised, contributions, total, [None] * n, errors=errors, columns=cache)


def _components(scoring: CompiledScoring, records: list[Mapping[str, Any]], cache: ColumnCache) -> Scores:
    names = [name for name, _ in scoring.components]
    raw = np.stack([column(records, cache) for _, column in scoring.components], axis=1) if names else \
        np.empty((len(records), 0))
    n = len(records)
    filled = raw.copy()
    for j, name in enumerate(names):  # a declared missing value stands in; the breakdown shows the raw value
        if name in scoring.missing:
            filled[np.isnan(filled[:, j]), j] = scoring.missing[name]
    cols = dict(zip(names, filled.T))
    if scoring.method in ("wsjf", "rice"):
        divisor = "job_size" if scoring.method == "wsjf" else "effort"
        size = cols[divisor]
        absent = np.isnan(filled)
        bad = absent.any(axis=1) | ~(size > 0)
        safe = np.where(bad, 1.0, size)
        if scoring.method == "wsjf":  # each part of the cost of delay over the job size: the breakdown's lines
            contributions = np.stack([np.where(bad, MISSING, cols[c]) / safe
                                      for c in ("business_value", "time_criticality", "risk_reduction")], axis=1)
        else:
            value = cols["reach"] * cols["impact"] * cols["confidence"] / safe
            contributions = value[:, None]
        unscored = _component_reasons(names, absent, bad, divisor)
    else:
        value = cols["formula"]
        bad = np.isnan(value)
        contributions = value[:, None]
        unscored = ["the formula gives no value" if b else None for b in bad.tolist()]
    total = np.zeros(n)
    for j in range(contributions.shape[1]):
        total = total + contributions[:, j]
    total[bad] = MISSING
    return Scores(raw, np.zeros((n, 0)), contributions, total, unscored, columns=cache)


def _component_reasons(names: list[str], absent: np.ndarray, bad: np.ndarray, divisor: str) -> list[str | None]:
    """Why each proposal has no score: the components it lacks, or a divisor that is not positive."""
    out: list[str | None] = [None] * len(bad)
    for i in np.nonzero(bad)[0].tolist():
        lacking = [name for name, a in zip(names, absent[i].tolist()) if a]
        if lacking:
            listed = lacking[0] if len(lacking) == 1 else f"{', '.join(lacking[:-1])} and {lacking[-1]}"
            out[i] = f"{listed} {'is' if len(lacking) == 1 else 'are'} missing"
        else:
            out[i] = f"{divisor} is not positive"
    return out


def tie_key(scores: np.ndarray) -> np.ndarray:
    """Scores rounded to 12 significant digits, so scores that are equal but for float rounding
    (29/20 summed as 1.4500000000000002 and 1.45) tie, and the declared tie-breaks decide."""
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(scores)))
    magnitude = np.clip(np.where(np.isfinite(magnitude), magnitude, 0.0), -280, 280)
    scale = 10.0 ** (11 - magnitude)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(np.abs(scores) >= 1e280, scores, np.round(scores * scale) / scale)


def ranking_order(scoring: CompiledScoring, scores: Scores, records: list[Mapping[str, Any]],
                  ids: list[str | None]) -> np.ndarray:
    """Indexes of the scored proposals, best first: score (to 12 significant digits), declared tie-breaks,
    then id, then input order."""
    scored = np.nonzero(~np.isnan(scores.total))[0]
    keys: list[np.ndarray] = [scored]  # np.lexsort: the last key is the most significant
    by_id = sorted(range(len(scored)), key=lambda k: ids[scored[k]] or "")
    id_rank = np.empty(len(scored), dtype=np.int64)
    id_rank[by_id] = np.arange(len(scored))
    keys.append(id_rank)
    keys.append(np.array([ids[i] is None for i in scored], dtype=bool))
    for _label, source, descending in reversed(scoring.tie_breaks):
        if isinstance(source, int):
            values = tie_key(scores.normalised[scored, source])
        else:
            values = source(records, scores.columns)[scored]
        values = -values if descending else values
        keys.append(np.where(np.isnan(values), np.inf, values))  # missing values break ties last
    keys.append(-tie_key(scores.total[scored]))
    return scored[np.lexsort(keys)]
