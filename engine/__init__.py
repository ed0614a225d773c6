"""pmo-engine: a rules-based governance and prioritization engine for a PMO.

The public API is ``__all__``; everything else may change. Its names load on first use (PEP 562), so
``import engine`` (and ``pmo --help``) does not pay for pydantic, numpy or the rule back ends.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.version import __version__  # noqa: F401  (in __all__)

__all__ = [
    "Contribution",
    "Decision",
    "Diagnostic",
    "Engine",
    "Finding",
    "InputError",
    "Location",
    "PmoError",
    "PolicyError",
    "RankEntry",
    "Ranking",
    "Row",
    "RowError",
    "__version__",
    "read_proposals",
    "validate",
]

# name -> the module that owns it
_OWNERS = {
    "Engine": "engine.api", "validate": "engine.authoring.check",
    "Decision": "engine.decision", "Finding": "engine.decision", "RowError": "engine.decision",
    "Diagnostic": "engine.errors", "InputError": "engine.errors", "Location": "engine.errors",
    "PmoError": "engine.errors", "PolicyError": "engine.errors",
    "Row": "engine.io.readers", "read_proposals": "engine.io.readers",
    "Contribution": "engine.scoring.ranking", "RankEntry": "engine.scoring.ranking", "Ranking": "engine.scoring.ranking",
}

if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from engine.api import Engine
    from engine.authoring.check import validate
    from engine.decision import Decision, Finding, RowError
    from engine.errors import Diagnostic, InputError, Location, PmoError, PolicyError
    from engine.io.readers import Row, read_proposals
    from engine.scoring.ranking import Contribution, RankEntry, Ranking


def __getattr__(name: str) -> Any:
    owner = _OWNERS.get(name)
    if owner is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(owner), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
