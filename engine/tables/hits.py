"""Hit policies, as DMN defines them: which of a table's matching rows give the table's result.

The back ends find every matching row (each row is a rule); the hit policy is then applied to the rows
that matched, the same way after either back end:

- unique: at most one row may match; two matching rows are an error (the table overlaps);
- any: rows that match together must give the same outputs; the first of them is the result;
- first: the first matching row, in the table's order;
- priority: the matching row whose outputs come first in the declared order of output values (earlier rows
  break ties);
- collect: every matching row.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SINGLE = ("unique", "any", "first", "priority")


@dataclass(frozen=True)
class HitGroup:
    """The rows of one table, as positions in a list of rules (or of rows), with what the policy compares."""

    table: str
    hit_policy: str
    members: tuple[int, ...]  # positions, in the table's row order
    ranks: dict[int, tuple[object, ...]]  # priority: a smaller rank wins
    outputs: dict[int, tuple[object, ...]]  # any: matching rows must agree on these
    labels: dict[int, str]  # where each row is, for messages: Book.xlsx!Routes!A7


class Overlap(Exception):
    """Rows that match together where the hit policy forbids it."""

    def __init__(self, group: HitGroup, rows: Sequence[int]):
        where = " and ".join(group.labels[r] for r in rows)
        why = "a unique table allows one; narrow one of the rows, or choose hit_policy first or priority if the " \
            "overlap is meant" if group.hit_policy == "unique" else \
            "a table with hit policy any needs rows that match together to give the same outputs; narrow one of " \
            "the rows, or give them the same outputs"
        super().__init__(f"table '{group.table}': rows {where} both match; {why}")
        self.group, self.rows = group, tuple(rows)


def choose(group: HitGroup, matched: Sequence[int]) -> list[int]:
    """The rows that give the result, from the matching ones (in table order). Raises Overlap."""
    found = set(matched)
    rows = [m for m in group.members if m in found]
    if len(rows) <= 1 or group.hit_policy == "collect":
        return rows
    if group.hit_policy == "unique":
        raise Overlap(group, rows[:2])
    if group.hit_policy == "any":
        differ = next((r for r in rows[1:] if group.outputs[r] != group.outputs[rows[0]]), None)
        if differ is not None:
            raise Overlap(group, [rows[0], differ])
        return rows[:1]
    if group.hit_policy == "first":
        return rows[:1]
    return [min(rows, key=lambda r: (group.ranks[r], group.members.index(r)))]


def apply(groups: Sequence[HitGroup], fired: Sequence[int]) -> list[int]:
    """The fired rules with each table's hit policy applied (rules of no table pass as they are), in order."""
    if not groups:
        return list(fired)
    keep = set(fired)
    for group in groups:
        chosen = choose(group, fired)
        keep -= set(group.members) - set(chosen)
    return [i for i in fired if i in keep]
