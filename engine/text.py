"""Counts in messages, written one way everywhere (the CLI, the service, the authoring tools)."""
from __future__ import annotations


def plural(n: float, word: str) -> str:
    """'1 row', '2,010,000 rows' (a count is never written 2.01e+06), '1.5 days'."""
    return (f"{n:,}" if isinstance(n, int) else f"{n:g}") + f" {word}" + ("" if n == 1 else "s")
