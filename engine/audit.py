"""The decision log: every intake and gate decision, appended to SQLite.

Each entry is one row written in its own transaction (or a batch of rows in one), so a crash leaves
whole entries only. Entries have a key derived from everything that decides the outcome (kind, project,
gate, input hash, policy hash, override, the date today() meant, the back end): writing the same decision
again after a crash is a no-op, never a duplicate, and the same proposal decided on another date is a
new entry.

The schema is versioned (PRAGMA user_version): 0 is the log before the key covered the date and the
back end; opening it adds the two columns (NULL in its entries, whose keys stay as they were).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.io.safe_text import encodable

DEFAULT_PATH = "pmo-decisions.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,            -- intake | gate
    project TEXT,
    gate TEXT,
    input_hash TEXT NOT NULL,
    policy_hash TEXT NOT NULL,
    outcome TEXT NOT NULL,
    findings TEXT NOT NULL,        -- JSON
    approvers TEXT NOT NULL,       -- JSON list of roles
    override TEXT,                 -- JSON, when a failed must-meet criterion was overridden
    input TEXT NOT NULL,           -- JSON, to replay the decision under another policy
    as_of TEXT,                    -- the date today() meant (version 1)
    backend TEXT                   -- rete | reference (version 1)
);
CREATE INDEX IF NOT EXISTS decisions_project ON decisions(project);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions(time);
"""


SCHEMA_VERSION = 1
MIGRATIONS = {  # from version N to N + 1
    0: "ALTER TABLE decisions ADD COLUMN as_of TEXT; ALTER TABLE decisions ADD COLUMN backend TEXT;",
}


_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))  # made once:
# json.dumps with any option builds a new encoder per call


def canonical(data: Any) -> str:
    """JSON text SQLite can store: a surrogate is its \\uXXXX escape, so the text decodes to the same data."""
    return encodable(_ENCODER.encode(data))


def digest(data: Any) -> str:
    return _digest_of(canonical(data))


def _digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Entry:
    kind: str
    project: str | None
    gate: str | None
    input: Any
    policy_hash: str
    outcome: str
    findings: list
    approvers: list[str]
    override: dict | None = None
    time: str | None = None
    as_of: str | None = None  # the date today() meant
    backend: str | None = None

    @property
    def input_hash(self) -> str:
        return digest(self.input)

    @property
    def key(self) -> str:
        return self._key(self.input_hash)

    def _key(self, input_hash: str) -> str:
        decided_by = [self.kind, self.project, self.gate, input_hash, self.policy_hash, self.override]
        if self.as_of is None and self.backend is None:  # the version 0 key, so old entries stay idempotent
            return digest(decided_by)
        return digest(decided_by + [self.as_of, self.backend])


class DecisionLog:
    def __init__(self, path: str | Path = DEFAULT_PATH):
        self.path = Path(path)
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)  # we open transactions
        self._db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; commits are atomic
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable against a crash of the process
        self._migrate()

    def _migrate(self) -> None:
        """Create the log, or bring an older one up to this version, in one transaction (another process
        may be doing the same: the version is read again under the write lock)."""
        if self._version() == SCHEMA_VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._version()
            exists = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'decisions'").fetchone()
            steps = [SCHEMA] if not exists else [MIGRATIONS[v] for v in range(version, SCHEMA_VERSION)]
            for statement in (s for step in steps for s in step.split(";") if s.strip()):
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _version(self) -> int:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"it was written by a newer pmo (log version {version}; this pmo reads up "
                                        f"to {SCHEMA_VERSION})")
        return version

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def append(self, entries: Iterable[Entry]) -> int:
        """Write entries in one transaction; returns how many were new (a repeat of a logged decision is skipped)."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        rows = [_row(e, now) for e in entries]
        if not rows:
            return 0
        before = self._db.total_changes
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR IGNORE INTO decisions (key, time, kind, project, gate, input_hash, "
                                 "policy_hash, outcome, findings, approvers, override, input, as_of, backend) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite rolls back by itself on some errors (a full disk)
                self._db.execute("ROLLBACK")
            raise
        return self._db.total_changes - before

    def query(self, project: str | None = None, since: dt.date | None = None,
              kind: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM decisions WHERE 1=1", []
        if project is not None:
            sql += " AND project = ?"
            args.append(project)
        if since is not None:
            sql += " AND time >= ?"
            args.append(since.isoformat())
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        cursor = self._db.execute(sql + " ORDER BY seq", args)
        names = [c[0] for c in cursor.description]
        out = []
        for row in cursor:
            item = dict(zip(names, row))
            for field in ("findings", "approvers", "override", "input"):
                item[field] = json.loads(item[field]) if item[field] is not None else None
            out.append(item)
        return out


def _row(e: Entry, now: str) -> tuple:
    """An entry as a row of the table; its input is encoded once, for the column, its hash and its key."""
    text = _storable
    data = canonical(e.input)
    input_hash = _digest_of(data)
    return (e._key(input_hash), e.time or now, e.kind, text(e.project), text(e.gate), input_hash, e.policy_hash,
            text(e.outcome), canonical(e.findings), canonical(e.approvers),
            canonical(e.override) if e.override else None, data, e.as_of, e.backend)


def _storable(text: str | None) -> str | None:
    return encodable(text) if isinstance(text, str) else text
