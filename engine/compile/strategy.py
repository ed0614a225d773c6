"""The strategy: objectives with weights, and the alignment of a proposal with them.

A proposal states which objectives it serves and how strongly, e.g. ``net-zero:strong;
grid-resilience:low`` in a CSV cell or ``{"net-zero": "strong"}`` in JSON. Its alignment
score is the weighted sum of the levels (0 to 1) over the objectives.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.errors import DiagnosticSink, did_you_mean
from engine.expr.values import CONTEXT, ValueProblem, to_number
from engine.policy import weights
from engine.policy.models import StrategyPolicy


class Alignment(Decimal):
    """An alignment score (a number, for rules and scoring) that remembers its parts."""

    parts: dict[str, float]  # objective -> weight x level, summing to the score
    levels: dict[str, Decimal]  # objective -> the level stated (0 to 1), for alignment["net-zero"]


@dataclass(frozen=True)
class CompiledStrategy:
    weights: weights.Weights
    levels: dict[str, Decimal]
    names: dict[str, str]  # objective id -> name

    @property
    def objectives(self) -> list[str]:
        return list(self.weights.values)

    def alignment(self, value: Any) -> Alignment:
        """Parse a proposal's statement of alignment (raises ValueProblem)."""
        stated = _statement(value)
        parts: dict[str, float] = {}
        levels: dict[str, Decimal] = {}
        total = Decimal(0)
        canonical = {o.lower(): o for o in self.weights.values}
        for objective, level in stated.items():
            key = canonical.get(str(objective).strip().lower(), str(objective).strip())
            if key in parts:
                raise ValueProblem(f"objective '{key}' is named twice")
            if key not in self.weights.values:
                hint = did_you_mean(key, self.weights.values)
                raise ValueProblem(f"'{key}' is not a strategic objective" + (f"; {hint}" if hint else "")
                                   + f" (objectives: {', '.join(self.objectives)})")
            strength = self._level(level)
            weight = Decimal(repr(self.weights.values[key]))
            contribution = CONTEXT.multiply(weight, strength)
            parts[key] = float(contribution)
            levels[key] = strength
            total = CONTEXT.add(total, contribution)
        score = Alignment(total.quantize(Decimal("1e-12"), context=CONTEXT))
        score.parts, score.levels = parts, levels
        return score

    def _level(self, level: Any) -> Decimal:
        if isinstance(level, str) and level.strip().lower() in self.levels:
            return self.levels[level.strip().lower()]
        try:
            number = to_number(level)
        except ValueProblem:
            raise ValueProblem(f"'{level}' is not a level; use {', '.join(self.levels)} or a number from 0 to 1") from None
        if not 0 <= number <= 1:
            raise ValueProblem(f"level {number} is outside 0 to 1")
        return number


def _statement(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        raise ValueProblem("expected objectives and levels, e.g. net-zero:strong;grid-resilience:low")
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueProblem("alignment is not valid JSON") from None
        if isinstance(data, dict):
            return data
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.replace(",", ";").split(";"))):
        name, sep, level = part.replace("=", ":").partition(":")
        if not sep:
            raise ValueProblem(f"'{part}' needs a level, e.g. {part}:strong")
        if name.strip() in out:
            raise ValueProblem(f"objective '{name.strip()}' is named twice")
        out[name.strip()] = level.strip()
    return out


def compile_strategy(strategy: StrategyPolicy, sink: DiagnosticSink) -> CompiledStrategy | None:
    ids = [o.id for o in strategy.objectives]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        sink.add("duplicate_objective", f"objective '{repeated[0]}' is listed twice", strategy.loc("objectives"))
        return None
    for name, level in strategy.levels.items():
        if not 0 <= level <= 1:
            sink.add("bad_value", f"level '{name}' is {level}; levels run from 0 to 1", strategy.loc("levels", name))
    resolved = weights.resolve([weights.Weighted(o.id, o.weight, o.loc("weight")) for o in strategy.objectives],
                               strategy.comparisons, "objective", strategy.loc("objectives"), sink)
    if resolved is None:
        return None
    return CompiledStrategy(resolved, {k.lower(): v for k, v in strategy.levels.items()},
                            {o.id: o.name for o in strategy.objectives})
