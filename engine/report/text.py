"""Figures as the board report writes them (shared by its pages)."""
from __future__ import annotations


def money_text(value: float | None) -> str:
    """An amount, short: 1.2m, 350k, 1.1bn; a dash when it is unknown."""
    if value is None:
        return "–"
    for limit, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:,.1f}{suffix}"
    return f"{value:,.0f}"
