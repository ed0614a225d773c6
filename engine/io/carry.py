"""Name each output row as the analyst knows the proposal: its title, and the profile's carried columns.

A decision names its proposal by id, file and row; the people reading the outputs know it by its title
and by columns the policy never looks at (a department, a cost centre). Both are taken from the row as
read (text, before any typing), in the process that reads the files and in input order, so the outputs
do not depend on --workers; error rows get them too (a bad row is found by its title).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.io.profile import InputProfile
from engine.io.rows import column_key


class Carrier:
    """Finds the title and the carried columns in rows renamed by the profile's header map."""

    def __init__(self, profile: InputProfile, title_field: str | None):
        self.names = list(profile.carry)
        self.title_field = title_field
        # A carried name is a column title as in the file or the field it maps to: after renaming, the
        # row's key is the field for a mapped column, the title for the others.
        self._targets = [column_key(profile.columns.get(column_key(n), n)) for n in self.names]
        self._title = column_key(title_field) if title_field else None
        self._keys: dict[tuple[str, ...], tuple[list[str | None], str | None]] = {}  # a file's rows share their keys

    @property
    def shows_title(self) -> bool:
        """Whether the title needs a column of its own (it is not one of the carried columns)."""
        return self._title is not None and self._title not in self._targets

    def missing(self, keys: Iterable[Any]) -> list[str]:
        """The carried columns a file's header does not have (their cells are empty: said, not silent)."""
        present = {column_key(k) for k in keys if isinstance(k, str)}
        return [n for n, t in zip(self.names, self._targets) if t not in present]

    def _found(self, data: Mapping[str, Any]) -> tuple[list[str | None], str | None]:
        keys = tuple(data)
        found = self._keys.get(keys)
        if found is None:
            by_key: dict[str, str] = {}
            for k in keys:
                if isinstance(k, str):
                    by_key.setdefault(column_key(k), k)
            found = ([by_key.get(t) for t in self._targets], by_key.get(self._title) if self._title else None)
            if len(self._keys) < 256:
                self._keys[keys] = found
        return found

    def label(self, decision: Any, data: Mapping[str, Any] | None) -> Any:
        """The decision with its title and carried cells set (empty text where the row has none)."""
        if data is None:
            if self.names:
                decision.carried = dict.fromkeys(self.names, "")
            return decision
        keys, title = self._found(data)
        if title is not None:
            decision.title = as_text(data.get(title)) or None
        if self.names:
            decision.carried = {n: "" if k is None else as_text(data.get(k)) for n, k in zip(self.names, keys)}
        return decision

    def labelled(self, triples: Iterable[tuple[Any, Any, Any]]) -> Iterator[tuple[Any, Any, Any]]:
        """(row, decision, record) triples with each decision labelled from its row."""
        for row, decision, record in triples:
            yield row, self.label(decision, row.data), record


def as_text(value: Any) -> str:
    """A cell as read, as text: a CSV cell unchanged; a number or a date from a workbook or JSON as written."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
