"""Shared by the benchmark scripts."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn, repeat: int) -> float:
    """Median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def best(stage: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The least CPU time of ``repeat`` runs of ``stage`` (seconds), and what the last run returned."""
    spent, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = stage()
        spent = min(spent, time.process_time() - start)
    return spent, result
