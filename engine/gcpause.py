"""Pausing the cyclic garbage collector around allocation-heavy batch work."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """Pause the cyclic garbage collector. Building a large ranking allocates millions of small objects
    while the decided proposals are alive, and the collector would walk them all again and again (3 to 5
    times the time at 100,000 proposals). Nothing built here makes reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
