"""The decision log's one schema, as versioned migrations that SQLite and PostgreSQL share.

A log records the migrations applied to it in the table ``pmo_schema`` (version, description, when). Opening
a log applies the missing ones in order, in one transaction, under a lock (SQLite's write lock,
PostgreSQL's advisory lock), after reading the version again under that lock: several processes opening
a new log at once create it once. A log at a version newer than this pmo knows is refused, never written.

Before ``pmo_schema`` a SQLite log kept its version in ``PRAGMA user_version`` (0 or 1). Such a log is at
that version: its steps are recorded (``applied`` NULL: before the log recorded them) and the newer ones
applied. SQLite logs keep ``user_version`` equal to the latest step, so an older pmo that only knows
``user_version`` still opens a log it can read and refuses a newer one.

Each step is SQL both databases run as it is, apart from ``{serial}``, the type of the ever-growing
entry number (each store's ``serial``).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(0, "the decisions table", (
        """CREATE TABLE decisions (
            seq {serial},
            key TEXT NOT NULL UNIQUE,
            time TEXT NOT NULL,            -- ISO 8601, UTC
            kind TEXT NOT NULL,            -- intake | gate
            project TEXT,
            gate TEXT,
            input_hash TEXT NOT NULL,
            policy_hash TEXT NOT NULL,
            outcome TEXT NOT NULL,
            findings TEXT NOT NULL,        -- JSON
            approvers TEXT NOT NULL,       -- JSON list of roles
            override TEXT,                 -- JSON, when a failed must-meet criterion was overridden
            input TEXT NOT NULL            -- JSON, to replay the decision under another policy
        )""",
        "CREATE INDEX decisions_project ON decisions(project)",
        "CREATE INDEX decisions_time ON decisions(time)",
    )),
    Migration(1, "the key covers the date today() meant and the back end", (
        "ALTER TABLE decisions ADD COLUMN as_of TEXT",
        "ALTER TABLE decisions ADD COLUMN backend TEXT",
    )),
    Migration(2, "the portfolio history: status reports (corrections kept), health ratings, escalations", (
        # One row per project, status date and revision: the first report is revision 1, each correction (a
        # changed figure for the same project and date) the next, and only the latest is in force. Figures
        # are exact: money as the text of a rational (1500000, 4500000/7), other numbers as decimals.
        """CREATE TABLE status_reports (
            seq {serial},
            project TEXT NOT NULL,
            status_date TEXT NOT NULL,     -- ISO 8601 date
            revision INTEGER NOT NULL,     -- 1, then 2, 3, ... for each correction
            in_force INTEGER NOT NULL,     -- 1: the current report; 0: corrected by a later revision
            digest TEXT NOT NULL,          -- of the canonical report (the figures, not where they came from)
            ingested TEXT NOT NULL,        -- ISO 8601, UTC
            source TEXT NOT NULL,          -- the file of its first row
            source_row INTEGER,            -- that row's number
            sources TEXT NOT NULL,         -- JSON [[file, row], ...]: every row summed into it (tasks)
            tasks INTEGER NOT NULL,
            proposal TEXT, title TEXT, objective TEXT, state TEXT, note TEXT,
            bac TEXT, pv TEXT, ev TEXT, ac TEXT, etc TEXT, percent_complete TEXT,
            planned_start TEXT, planned_finish TEXT,
            milestones_planned TEXT, milestones_reached TEXT, benefits_planned TEXT, benefits_realised TEXT,
            risks TEXT, issues TEXT,
            UNIQUE (project, status_date, revision)
        )""",
        "CREATE INDEX status_reports_in_force ON status_reports(in_force, project, status_date)",
        # A rating is the project at a status date under a policy, from one basis: the digests of its reports
        # up to that date. A correction makes a new basis, so the project is rated again; the earlier rating
        # stays, no longer in force.
        """CREATE TABLE health_ratings (
            seq {serial},
            project TEXT NOT NULL,
            status_date TEXT NOT NULL,
            policy_hash TEXT NOT NULL,
            basis TEXT NOT NULL,           -- digest of the report digests the rating was computed from
            in_force INTEGER NOT NULL,
            rated TEXT NOT NULL,           -- ISO 8601, UTC
            rating TEXT,                   -- red | amber | green; NULL: unrated
            rule_id TEXT,                  -- the rule that set the rating (the worst that fired); NULL: the default
            rule_where TEXT,               -- where that rule is: policies/health.yaml:18
            reason TEXT NOT NULL,
            rules TEXT NOT NULL,           -- JSON: every rule that fired
            figures TEXT NOT NULL,         -- JSON: the earned value and earned schedule figures the rules saw
            UNIQUE (project, status_date, policy_hash, basis)
        )""",
        "CREATE INDEX health_ratings_in_force ON health_ratings(in_force, project, status_date)",
        """CREATE TABLE escalations (
            seq {serial},
            project TEXT NOT NULL,
            status_date TEXT NOT NULL,
            policy_hash TEXT NOT NULL,
            basis TEXT NOT NULL,           -- the rating's (health_ratings) that raised it
            in_force INTEGER NOT NULL,
            route TEXT NOT NULL,           -- the health rule's escalate_to
            rule_id TEXT NOT NULL,         -- the rules that escalate to it, comma-separated
            reason TEXT NOT NULL,
            UNIQUE (project, status_date, policy_hash, basis, route)
        )""",
        "CREATE INDEX escalations_project ON escalations(project, status_date)",
    )),
    Migration(3, "the findings of a set of fired rules stored once, not with each decision", (
        # A batch's decisions that fired the same rules share their findings but for the reasons each row
        # renders itself (``Budget 3,903,987 is above ...``): the findings are stored once here, and such a
        # decision names them in ``plan``, its ``findings`` then being the JSON list of its own reasons, one for
        # each position in ``slots``. Its findings are the plan's with those reasons put in (DecisionLog reads
        # them so). A decision without a plan (NULL) holds its findings whole, as before.
        """CREATE TABLE finding_plans (
            id TEXT PRIMARY KEY,           -- a digest of findings and slots
            findings TEXT NOT NULL,        -- JSON: the findings, each reason as the rule writes it
            slots TEXT NOT NULL            -- JSON: the positions of the findings whose reason is the decision's
        )""",
        "ALTER TABLE decisions ADD COLUMN plan TEXT",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

MIGRATIONS_TABLE = "CREATE TABLE IF NOT EXISTS pmo_schema (version INTEGER PRIMARY KEY, description TEXT NOT NULL, " \
                   "applied TEXT)"


PLANS_SQL = "INSERT INTO finding_plans (id, findings, slots) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING"


def insert_sql(columns: Sequence[str], rows: int = 1) -> str:
    """Add an entry (``rows`` entries, in their order) unless its key is logged already (by a crashed run, or
    another process just now)."""
    one = f"({', '.join('?' for _ in columns)})"
    return f"INSERT INTO decisions ({', '.join(columns)}) VALUES {', '.join([one] * rows)} ON CONFLICT (key) DO NOTHING"


class Store(Protocol):
    """What the migrations need of a database (engine/store/sqlite.py, engine/store/postgres.py)."""

    serial: str

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def has_table(self, name: str) -> bool: ...

    def legacy_version(self) -> int | None: ...

    def mark_version(self, version: int) -> None: ...

    def exclusive(self) -> AbstractContextManager[None]: ...  # a transaction holding the migration lock


class SchemaError(Exception):
    """The database holds something this pmo must not write to (a newer log, a foreign table)."""


def version_of(store: Store) -> int:
    """The schema version of the log in ``store``: -1 when there is no log yet."""
    if store.has_table("pmo_schema"):
        (version,), = store.execute("SELECT max(version) FROM pmo_schema")
        return -1 if version is None else version
    if store.has_table("decisions"):
        legacy = store.legacy_version()
        if legacy is None:
            raise SchemaError("it has a table 'decisions' that is not a pmo decision log (no pmo_schema table)")
        return legacy
    return -1


def migrate(store: Store) -> int:
    """Bring the log up to SCHEMA_VERSION; returns the version it was at (-1: created)."""
    if store.has_table("pmo_schema"):  # the usual case, without the lock: a log that is up to date
        found = _checked(version_of(store))
        if found == SCHEMA_VERSION:
            return found
    with store.exclusive():  # anything else is judged under the lock, while no other process migrates
        found = _checked(version_of(store))  # another process may have migrated while we waited for the lock
        recorded = store.has_table("pmo_schema")
        if found == SCHEMA_VERSION and recorded:
            return found
        store.execute(MIGRATIONS_TABLE)
        if not recorded:  # a log from before pmo_schema: its steps were applied, when is not known
            for step in MIGRATIONS[:found + 1]:
                store.execute("INSERT INTO pmo_schema (version, description, applied) VALUES (?, ?, NULL)",
                              (step.version, step.description))
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        for step in MIGRATIONS[found + 1:]:
            for statement in step.statements:
                store.execute(statement.format(serial=store.serial))
            store.execute("INSERT INTO pmo_schema (version, description, applied) VALUES (?, ?, ?)",
                          (step.version, step.description, now))
        store.mark_version(SCHEMA_VERSION)
    return found


def _checked(version: int) -> int:
    if version > SCHEMA_VERSION:
        raise SchemaError(f"it was written by a newer pmo (log version {version}; this pmo reads up to "
                          f"{SCHEMA_VERSION})")
    return version
