"""What names a decision log, without opening one: the default file and whether a target is a server address.

Apart from log.py (and without its imports: sqlite3, hashlib, the schema) so that the command line's options can
show the default and tell a path from an address while ``pmo --help`` builds the parser (tests/test_startup.py).
"""
from __future__ import annotations

DEFAULT_PATH = "pmo-decisions.sqlite"


def is_address(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL log (``postgresql://...`` or ``postgres://...``) rather than a file."""
    return isinstance(target, str) and target.lower().startswith(("postgresql://", "postgres://"))
