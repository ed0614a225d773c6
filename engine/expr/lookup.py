"""A typed lookup table, as expressions read it (the value; engine/refdata builds it from a policy's kind: lookup).

A missing key (or a null one) reads as null, so ``lookup(limits, department, "max_budget") < budget``
is unknown for a department the table lacks and the rule does not fire (SQL's three-valued logic,
as for a missing field); ``key in table`` is false for a key the table lacks and unknown for a null key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class LookupTable:
    name: str
    key: str  # the key column
    columns: dict[str, str]  # column -> expression type (number, string, bool, date), in file order
    rows: dict[Any, tuple[Any, ...]]  # key value -> the row's values, in the order of ``columns``
    digest: str  # of the typed content: two tables with one name and different rows are different constants

    @property
    def key_type(self) -> str:
        return self.columns[self.key]

    def get(self, key: Any, column: str) -> Any:
        row = self.rows.get(key)
        return None if row is None else row[list(self.columns).index(column)]

    def __contains__(self, key: Any) -> bool:
        return key in self.rows

    def __repr__(self) -> str:  # nodes.key() shares computed slots by this: name and content
        return f"lookup:{self.name}@{self.digest}"

    def __str__(self) -> str:
        return self.name


def lookup(table: LookupTable, key: Any, column: str) -> Any:
    return table.get(key, column)


def in_table(table: LookupTable, key: Any) -> bool:
    return key in table
