"""pmo-engine: a rules-based governance and prioritization engine for a PMO.

The public API is ``__all__``; everything else may change.
"""
from engine.api import Engine, validate
from engine.decision import Decision, Finding, RowError
from engine.errors import Diagnostic, InputError, Location, PmoError, PolicyError
from engine.io.readers import Row, read_proposals
from engine.scoring.ranking import Contribution, RankEntry, Ranking

__version__ = "0.1.0"

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
