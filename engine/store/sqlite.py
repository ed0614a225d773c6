"""The decision log in a SQLite file: the embedded default.

WAL mode: readers never block the writer, and a commit is atomic, so a killed process leaves whole
transactions only. ``synchronous=NORMAL``: a commit is in the WAL file (in the operating system's cache) when it
returns, synced to the disk at the next checkpoint. So a killed process (SIGKILL, a crash of pmo) loses no
committed transaction, and as ``pmo evaluate`` writes its output's rows only after the commit that holds their
entries (LogSink), a killed run loses nothing of the log that was written to its output. A crash of the operating
system or a power cut may lose the last transactions (the output file, not synced either, may then hold rows the
log lacks); the log is never left corrupt. Every write transaction is ``BEGIN IMMEDIATE``: it takes the write lock
first, so two processes never both read a version and then both migrate, and a writer waits (up to 30 s) instead
of failing.
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.store.schema import PLANS_SQL, insert_sql

INSERT_ROWS = 500  # entries in one INSERT statement at most (fewer when the database takes fewer parameters)
CACHE_KIB = 32_768  # SQLite's page cache, at most (it grows as pages are read)
CHECKPOINT_PAGES = 10_000  # WAL pages (4 KiB) before a checkpoint; the last connection's close checkpoints too


class SqliteStore:
    name = "sqlite"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"  # never reuses the number of a deleted entry
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: Path):
        self.path = path
        # We open the transactions; DecisionLog lets one thread at a time use the connection.
        self.connection = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        try:
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")  # durable against a crash of the process
            # Each commit writes the pages it changed to the WAL, and a checkpoint copies them into the file: the
            # key index's pages are changed at random, so a larger cache (read again less) and rarer checkpoints
            # (a page copied once for many commits) cut the database's part of an entry by a fifth to a third (issue #19).
            self.connection.execute(f"PRAGMA cache_size={-CACHE_KIB}")
            self.connection.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
        except BaseException:
            self.connection.close()
            raise
        self._variables = self.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # parameters a statement takes

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, args).fetchall()

    def select(self, sql: str, args: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.connection.execute(sql, args)
        return [c[0] for c in cursor.description], cursor.fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """One statement for each of ``rows`` (inside a :meth:`transaction`); how many rows it changed."""
        before = self.connection.total_changes
        self.connection.executemany(sql, rows)
        return self.connection.total_changes - before

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A write transaction (the history's: a whole file's reports and ratings, or nothing of them)."""
        return self.exclusive()

    def insert(self, columns: Sequence[str], rows: list[tuple[Any, ...]],
               plans: Sequence[tuple[str, str, str]] = ()) -> int:
        """Add the entries (``rows`` of ``columns``, the key first) in one transaction, after the finding plans
        they name (``plans``: id, findings, slots); how many entries were new.

        Up to INSERT_ROWS entries go in one statement of many rows (``VALUES (...), (...)``), in their order:
        the module binds them in C and SQLite runs the statement in one step, without the GIL (issue #19:
        ``executemany`` takes the GIL back for each row, which a thread deciding rows meanwhile holds)."""
        before = self.connection.total_changes
        per = max(1, min(INSERT_ROWS, self._variables // max(len(columns), 1)))
        with self.exclusive():
            if plans:
                self.connection.executemany(PLANS_SQL, plans)
            for start in range(0, len(rows), per):
                part = rows[start:start + per]
                self.connection.execute(insert_sql(columns, len(part)), [value for row in part for value in row])
        return self.connection.total_changes - before

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.connection.execute("COMMIT")
        except BaseException:
            if self.connection.in_transaction:  # SQLite rolls back by itself on some errors (a full disk)
                self.connection.execute("ROLLBACK")
            raise

    def has_table(self, name: str) -> bool:
        return bool(self.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

    def legacy_version(self) -> int | None:
        version: int = self.execute("PRAGMA user_version")[0][0]
        return version

    def mark_version(self, version: int) -> None:
        self.connection.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        self.connection.close()
