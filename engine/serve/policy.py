"""The policy a server decides under, and safe changes to it while serving.

A new version is loaded, checked and compiled into a new Engine aside; only a working Engine is swapped in,
by one reference assignment, so a request (which takes ``holder.current`` once) is decided by one version
from start to end. A broken version leaves the working one in place and is remembered with its diagnostics
(``file:line:col``) for /health, until a later version loads.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api import Engine
from engine.errors import Diagnostic, PmoError
from engine.io.rows import column_key
from engine.policy.resources import reference_policies, reference_rules
from engine.serve.config import ServeConfig

POLICY_SUFFIXES = (".yaml", ".yml", ".json")


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    where = d.location
    return {"code": d.code, "severity": d.severity, "message": d.message, "hint": d.hint,
            "file": where.file if where else None, "line": where.line if where else None,
            "column": where.column if where else None, "text": str(d)}


# The policy files as the file system sees them, (path, size, modification time in ns), and the date.
Fingerprint = tuple[tuple[tuple[str, int, int], ...], str]


@dataclass(frozen=True)
class Served:
    """One policy version as served: its Engine, when it was loaded, and the file state it was loaded from."""

    engine: Engine
    loaded_at: str
    fingerprint: Fingerprint
    masked: frozenset[str]  # column keys of the fields (and their aliases) the access log must not show
    example: bool = False  # the built-in example policies (no --policies): an example utility's, not the user's

    def describe(self) -> dict[str, Any]:
        engine = self.engine
        return {"policy_hash": engine.policy_hash, "example": self.example,
                "files": list(engine.policy.files), "today": engine.today.isoformat(),
                "backend": engine.backend, "loaded_at": self.loaded_at,
                "warnings": [diagnostic_json(w) for w in engine.warnings]}


@dataclass(frozen=True)
class Failure:
    """A version that did not load: it was not swapped in."""

    at: str
    reason: str
    fingerprint: Fingerprint
    diagnostics: list[dict[str, Any]] = field(default_factory=list)


class PolicyHolder:
    """The served policy. ``current`` is always a working version; ``reload`` never replaces it by a broken one."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self._lock = threading.Lock()  # one reload at a time; requests never wait for it
        self.failure: Failure | None = None
        self.reloads = 0
        self.current = self._load()  # a broken policy at start-up raises PolicyError: there is nothing to serve

    def _folders(self) -> list[Path]:
        root = Path(self.config.policies) if self.config.policies else reference_policies()
        return [root, root.parent / "rules", *map(Path, self.config.rules), reference_rules()]  # as the loader looks

    def fingerprint(self) -> Fingerprint:
        """The policy files as the file system sees them (name, size, modification time), and the date."""
        files: list[tuple[str, int, int]] = []
        for folder in self._folders():
            if folder.is_dir():
                for path in sorted(folder.rglob("*")):
                    if path.suffix.lower() in POLICY_SUFFIXES and path.is_file():
                        stat = path.stat()
                        files.append((str(path), stat.st_size, stat.st_mtime_ns))
        return (tuple(files), self.config.today or dt.date.today().isoformat())

    def _load(self, fingerprint: Fingerprint | None = None) -> Served:
        fingerprint = fingerprint or self.fingerprint()
        c = self.config
        engine = Engine.load(c.policies, rules=c.rules, today=c.today_date, backend=c.backend)
        names = set(c.mask)
        for name, spec in engine.policy.fields.items():
            if getattr(spec, "mask", False):
                names.update([name, *spec.aliases])
        return Served(engine, _now(), fingerprint, frozenset(column_key(n) for n in names), c.policies is None)

    def changed(self) -> bool:
        """The files (or the date) differ from the last version looked at: the served one, or the one that failed
        after it. After a failure, files back as they were served are a change too (a folder moved away and back,
        a redeploy that swaps it): they are loaded to be sure, and the served version stays if they are the same."""
        now = self.fingerprint()
        failure = self.failure
        return now != (failure.fingerprint if failure is not None else self.current.fingerprint)

    def reload(self, reason: str) -> Failure | None:
        """Load the policy again; swap it in if it works. Returns the failure, or None when swapped in."""
        with self._lock:
            fingerprint = self.fingerprint()
            try:
                served = self._load(fingerprint)
            except PmoError as exc:
                failure = Failure(_now(), reason, fingerprint, [diagnostic_json(d) for d in exc.diagnostics])
            except Exception as exc:  # noqa: BLE001 - a policy that crashes the loader must not crash the server
                failure = Failure(_now(), reason, fingerprint, [diagnostic_json(Diagnostic(
                    "internal_error", f"loading the policy failed: {type(exc).__name__}: {exc}; please report it"))])
            else:
                current = self.current
                if (served.engine.policy_hash, served.engine.today, served.masked) == \
                        (current.engine.policy_hash, current.engine.today, current.masked):
                    # the same version (the same files, the same date): it stays, and the failure is over
                    self.current, self.failure = dataclasses.replace(current, fingerprint=fingerprint), None
                    return None
                self.current, self.failure = served, None
                self.reloads += 1
                return None
            self.failure = failure
            return failure


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
