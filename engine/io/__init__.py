"""Reading proposals and writing decisions.

The names below load on first use (PEP 562): importing one reader or writer module does not load the others.
"""
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names as type checkers see them; at run time they load on first use
    from engine.io.readers import Row, read_proposals
    from engine.io.writers import FORMATS, write_decisions

__all__ = ["Row", "read_proposals", "FORMATS", "write_decisions"]

_OWNERS = {"Row": "engine.io.readers", "read_proposals": "engine.io.readers", "FORMATS": "engine.io.writers",
           "write_decisions": "engine.io.writers"}


def __getattr__(name: str) -> object:
    if name not in _OWNERS:
        raise AttributeError(f"module 'engine.io' has no attribute {name!r}")
    return getattr(importlib.import_module(_OWNERS[name]), name)
