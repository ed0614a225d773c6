"""Who may call the server (bearer tokens with a role) and what the access log says about each request.

Tokens come from a file (``--tokens``, YAML: ``tokens: [{name, role, token}]``) and from the environment
(``PMO_TOKENS="ROLE:TOKEN,ROLE:TOKEN"``). Two roles: ``evaluate`` may call every decision and read endpoint;
``admin`` may also override failed must-meet criteria at a gate and reload the policy. Without any token the
server is open (every caller is admin), which is meant for a loopback address only.

The access log is one JSON object a line: method, path, status, duration, bytes, the caller's token name,
the policy hash and decision ids; never a token, and never a proposal's contents unless ``--log-inputs``,
and then with the masked fields (policy ``mask: true``, ``--mask``) shown as ``***``.
"""
from __future__ import annotations

import asyncio
import atexit
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Diagnostic, Location, PmoError
from engine.io.rows import column_key

ROLES = ("evaluate", "admin")
TOKENS_ENV = "PMO_TOKENS"
MASK = "***"


@dataclass(frozen=True)
class Caller:
    name: str
    role: str

    def may(self, role: str) -> bool:
        return self.role == "admin" or role == "evaluate"


OPEN = Caller("anonymous", "admin")  # a server without tokens


class Tokens:
    """Bearer tokens, kept as SHA-256 digests and compared in constant time."""

    def __init__(self, callers: Mapping[bytes, Caller]):
        self._callers = dict(callers)

    @property
    def required(self) -> bool:
        return bool(self._callers)

    def __len__(self) -> int:
        return len(self._callers)

    def caller(self, token: str) -> Caller | None:
        wanted = _digest(token)
        found = None
        for digest, caller in self._callers.items():  # every entry compared: the time says nothing about which
            if hmac.compare_digest(digest, wanted):
                found = caller
        return found

    @classmethod
    def load(cls, path: str | None, environ: Mapping[str, str] = os.environ) -> Tokens:
        """Tokens from the file and the environment. Raises PmoError (located) for a bad entry."""
        entries: list[tuple[str, str, str, Location]] = []
        if path:
            entries += _file_entries(Path(path))
        for number, item in enumerate((environ.get(TOKENS_ENV) or "").split(","), 1):
            if item.strip():
                role, _, token = item.strip().partition(":")
                entries.append((f"env-{number}", role.strip(), token.strip(), Location(f"${TOKENS_ENV}", 1, number)))
        callers: dict[bytes, Caller] = {}
        problems = []
        for name, role, token, where in entries:
            if role not in ROLES:
                problems.append(Diagnostic("bad_token", f"role '{role}' is not a role", where,
                                           hint=f"roles: {', '.join(ROLES)}"))
            elif len(token) < 16:
                problems.append(Diagnostic("bad_token", f"token '{name}' is shorter than 16 characters", where,
                                           hint="e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"))
            else:
                callers[_digest(token)] = Caller(name, role)
        if problems:
            raise PmoError(problems)
        return cls(callers)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _file_entries(path: Path) -> list[tuple[str, str, str, Location]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PmoError([Diagnostic("bad_tokens_file", f"cannot read the tokens file: {str(exc).splitlines()[0]}",
                                   Location(str(path)))]) from None
    items = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise PmoError([Diagnostic("bad_tokens_file", "expected 'tokens: [{name, role, token}, ...]'",
                                   Location(str(path)))])
    entries = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("role", "token")):
            raise PmoError([Diagnostic("bad_tokens_file", f"token {number}: needs 'role' and 'token' (text)",
                                       Location(str(path)))])
        entries.append((str(item.get("name") or f"token-{number}"), item["role"], item["token"],
                        Location(str(path), 0, 0)))
    return entries


def masked(value: Any, keys: frozenset[str]) -> Any:
    """A proposal (or a list of them, or a request holding them) with the masked fields' values hidden."""
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and column_key(k) in keys else masked(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, keys) for v in value]
    return value


class AccessLog:
    """The access log's writer: JSON lines gathered in memory and written together, one ``write`` a group.

    A line used to go through ``logging`` and be flushed on its own, a system call per request (about a tenth of
    a request's time, docs/benchmarks.md). Lines are now written at most ``FLUSH_SECONDS`` after their request
    was answered, at once when ``FLUSH_LINES`` are waiting, and at shutdown (``flush``, also at exit): what a
    server killed with SIGKILL had not written yet is lost from the access log (never from the decision log,
    which is written before each answer). Each group is one ``os.write`` of whole lines to a file opened for
    appending, so the workers of a server sharing one file never interleave within a line."""

    FLUSH_SECONDS = 0.05
    FLUSH_LINES = 256

    def __init__(self, path: str | None):
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else 2  # 2: standard error
        self._lines: list[str] = []
        self._lock = threading.Lock()  # lines come from the event loop, a flush may come from another thread
        self._due: asyncio.TimerHandle | None = None
        atexit.register(self.flush)

    def line(self, record: dict[str, object]) -> None:
        text = json.dumps(record, default=str, ensure_ascii=True) + "\n"  # ASCII: proposal text cannot forge a line
        with self._lock:
            self._lines.append(text)
            waiting = len(self._lines)
        if waiting >= self.FLUSH_LINES:
            self.flush()
        elif self._due is None:
            try:
                self._due = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush)
            except RuntimeError:  # not on an event loop: nothing would write it later
                self.flush()

    def flush(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
        with self._lock:
            data, self._lines = "".join(self._lines).encode("ascii"), []
        while data:
            try:
                written = os.write(self._fd, data)
            except OSError:  # a full disk or a closed standard error must not fail requests: those lines are lost
                return
            data = data[written:]
