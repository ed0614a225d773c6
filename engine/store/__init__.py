"""The decision log (engine/store/log.py): one schema with versioned migrations (schema.py), kept in a SQLite
file (sqlite.py, the embedded default) or on a PostgreSQL server shared by a team (postgres.py)."""
from engine.store.log import (
                              DEFAULT_PATH,
                              MAX_PAGE,
                              SCHEMA_VERSION,
                              DecisionLog,
                              Entry,
                              LogError,
                              Page,
                              canonical,
                              digest,
                              is_address,
                              open_log,
                              shown,
)

__all__ = ["DEFAULT_PATH", "MAX_PAGE", "SCHEMA_VERSION", "DecisionLog", "Entry", "LogError", "Page", "canonical",
           "digest", "is_address", "open_log", "shown"]
