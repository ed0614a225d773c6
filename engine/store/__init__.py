"""The decision log (engine/store/log.py): one schema with versioned migrations (schema.py), kept in a SQLite
file (sqlite.py, the embedded default) or on a PostgreSQL server shared by a team (postgres.py).

The log's names load on first use (PEP 562): ``DEFAULT_PATH`` and ``is_address`` (address.py) are all the command
line's options need, so ``pmo --help`` does not import sqlite3, hashlib or the schema (tests/test_startup.py).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.store.address import DEFAULT_PATH, is_address

__all__ = ["DEFAULT_PATH", "MAX_PAGE", "SCHEMA_VERSION", "DecisionLog", "Entry", "LogError", "Page", "canonical",
           "digest", "is_address", "open_log", "shown"]

_LAZY = {"MAX_PAGE", "SCHEMA_VERSION", "DecisionLog", "Entry", "LogError", "Page", "canonical", "digest", "open_log",
         "shown"}  # owned by engine.store.log

if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from engine.store.log import (
        MAX_PAGE,
        SCHEMA_VERSION,
        DecisionLog,
        Entry,
        LogError,
        Page,
        canonical,
        digest,
        open_log,
        shown,
    )


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'engine.store' has no attribute {name!r}")
    value = getattr(importlib.import_module("engine.store.log"), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
