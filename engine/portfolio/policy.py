"""The portfolio policy, resolved: capacity by role and period, budget by period, tolerances."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from engine.policy.models import PortfolioPolicy


@dataclass(frozen=True)
class Limits:
    periods: list[str] = field(default_factory=list)
    capacity: dict[str, dict[str, float]] = field(default_factory=dict)  # role -> period -> capacity
    budget: dict[str, float] = field(default_factory=dict)  # period -> money
    resource_tolerance: float = 0.0
    budget_tolerance: float = 0.0
    duration_unit: str = "days"
    max_cycles: int = 20
    balance: list[dict] = field(default_factory=list)  # {by, value, min_share, max_share}

    def capacity_of(self, role: str, period: str) -> float | None:
        return self.capacity.get(role, {}).get(period)


def limits_from(policy: PortfolioPolicy | None) -> Limits:
    if policy is None:
        return Limits()
    periods = list(policy.periods)

    def spread(value: Decimal | dict[str, Decimal] | None) -> dict[str, float]:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items()}
        return {p: float(value) for p in periods}

    return Limits(periods, {role: spread(v) for role, v in policy.capacity.items()}, spread(policy.budget),
                  float(policy.tolerance.resources), float(policy.tolerance.budget), policy.duration_unit,
                  policy.max_cycles, [b.model_dump(mode="json") for b in policy.balance])
