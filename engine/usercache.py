"""The user's cache folder: answers that cost more to compute than to read, remembered between runs.

Where: ``$PMO_CACHE_DIR`` (set empty: no cache), else ``$XDG_CACHE_HOME/pmo``, else ``~/.cache/pmo``; one
sub-folder per kind of answer (``proofs/``: engine/authoring/proof_cache.py; ``ahp/``: engine/policy/weights.py).
A kind's key must cover everything its answer depends on, so a changed input is a miss, never a stale answer.
A file that cannot be read or does not parse is a miss; a folder that cannot be written is no cache.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def cache_dir(kind: str) -> Path | None:
    """The folder of one kind of answer, or None when PMO_CACHE_DIR is set empty."""
    chosen = os.environ.get("PMO_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) / kind if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pmo" / kind


def read(kind: str, key: str) -> Any:
    """The JSON stored under ``key``, or None (no cache, no such answer, or a file that does not parse)."""
    folder = cache_dir(kind)
    if folder is None:
        return None
    try:
        stored = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored.get("answer") if isinstance(stored, dict) and stored.get("key") == key else None


def write(kind: str, key: str, answer: Any, keep: int = 64) -> None:
    """Store ``answer`` (JSON data) under ``key``, whole or not at all; beyond ``keep`` files, the oldest go."""
    folder = cache_dir(kind)
    if folder is None:
        return
    text = json.dumps({"key": key, "answer": answer})
    partial = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, suffix=".partial", delete=False) as f:
            partial = f.name
            f.write(text)
        os.replace(partial, folder / f"{key}.json")  # two runs at once each write a whole file
        partial = None
        files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in files[:-keep]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only home, a full disk: a cache that cannot be written is no cache
        if partial is not None:
            Path(partial).unlink(missing_ok=True)
