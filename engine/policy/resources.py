"""Where the reference policy set and rule library live.

In a wheel they are packed under ``engine/_reference/``; in a source checkout (or an
editable install) they are the repository's top-level ``policies/`` and ``rules/``.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # engine/


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / "_reference" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the reference '{name}' folder is not installed with the engine package")


def reference_policies() -> Path:
    return _find("policies")


def reference_rules() -> Path:
    return _find("rules")
