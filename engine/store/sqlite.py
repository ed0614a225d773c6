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

A log that cannot be written (a read-only file, or a folder where SQLite cannot create the ``-wal`` and ``-shm``
files WAL needs: an archive, a share mounted read-only) is still read (``SqliteStore(path, read_only=True)``, which
:class:`engine.store.log.DecisionLog` opens when a reading command cannot open the log as usual): read-only mode
(``mode=ro``), which works when the ``-shm`` file exists or can be made; else, with no ``-shm`` to be had, as an
immutable file (``immutable=1``), which SQLite reads without locks or the WAL. That is safe only when the file is
the whole log and nobody writes to it: so it is refused when a ``-wal`` file holds transactions (they are not yet in
the file), and every read checks that the file has not changed since it was opened and that no ``-wal`` appeared.
"""
from __future__ import annotations

import contextlib
import os
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

    def __init__(self, path: Path, read_only: bool = False):
        self.path = path
        self.read_only = read_only
        self.immutable: tuple[int, int, int] | None = None  # opened immutable: the file's (size, mtime, inode) then
        if read_only:
            self.connection = self._read_only()
            self._variables = self.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            return
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

    def _read_only(self) -> sqlite3.Connection:
        """A connection that never writes: ``mode=ro``, else (no ``-shm`` file can be had) ``immutable=1`` when that
        is safe (module docstring); an ``sqlite3.Error`` saying why not."""
        uri = self.path.resolve().as_uri()
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()  # WAL: opens (or makes) the -shm
            return connection
        except sqlite3.OperationalError as exc:
            connection.close()
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_CANTOPEN:
                raise
        wal = Path(f"{self.path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise sqlite3.OperationalError(
                f"its write-ahead file {wal.name} holds transactions that are not in the log file yet, and reading "
                f"them needs the file {self.path.name}-shm, which cannot be made in its folder: copy the log with its "
                f"{wal.name} to a folder you can write, or have someone who can write the folder run 'pmo log' on it "
                f"once (that moves them into the file)")
        self.immutable = self._fingerprint()
        connection = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA query_only=ON")
        return connection

    def _fingerprint(self) -> tuple[int, int, int]:
        found = os.stat(self.path)
        return found.st_size, found.st_mtime_ns, found.st_ino

    def _still_whole(self) -> None:
        """An immutable log must be as it was when opened, with no -wal beside it: else what was read may be torn."""
        if self.immutable is None:
            return
        wal = Path(f"{self.path}-wal")
        if self._fingerprint() != self.immutable or (wal.exists() and wal.stat().st_size > 0):
            raise sqlite3.OperationalError("it changed while it was read (another process writes to it), and a log "
                                           "in a folder that cannot be written is read without locks: read it again "
                                           "when nobody writes to it, or from a folder you can write")

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        found = self.connection.execute(sql, args).fetchall()
        self._still_whole()
        return found

    def select(self, sql: str, args: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.connection.execute(sql, args)
        found = [c[0] for c in cursor.description], cursor.fetchall()
        self._still_whole()
        return found

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
