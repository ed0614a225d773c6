"""Proposal ids that appear more than once in a round: said by pmo evaluate and rank alike (explain says its own).

A repeated id is usually a copy-paste slip in the export; each row is decided on its own, but the reader of the
outputs should know. pmo rank holds its rows anyway; pmo evaluate streams millions of rows, so the ids it has seen
are kept as their 64-bit hashes in an open-addressing table of two arrays (16 bytes a slot, at most twice the rows:
32 MB for 1,000,000 rows, where a set of the ids was about 200 MB; about 2 s of the parent's time for them). The
hashes are this process's (the workers send the ids themselves), so they agree; two different ids share one with
a chance of about n^2 / 2^65 (one in ten million for 2,000,000 rows), and the warning names the later row's id.
"""
from __future__ import annotations

from array import array
from collections.abc import Iterable

KEPT_PLACES = 10  # rows named per repeated id (all are counted)
KEPT_IDS = 100  # repeated ids kept with their rows (all are counted)
_EMPTY = 0
_DIGEST = (1 << 64) - 1
_ROW = (1 << 40) - 1


class RepeatedIds:
    """Feed it every row's id (``add``) in input order; ``warnings()`` says which ids appeared more than once."""

    def __init__(self) -> None:
        self._size = 1 << 10
        self._digests = array("Q", bytes(8 * self._size))
        self._first = array("Q", bytes(8 * self._size))  # where each id was first seen: file index << 40 | row
        self._used = 0
        self._sources: list[str | None] = []
        self._source_index: dict[str | None, int] = {}
        self.repeated: dict[str, tuple[list[tuple[str | None, int | None]], list[int]]] = {}  # id -> places, count
        self.more = 0  # repeated ids beyond KEPT_IDS

    def add(self, ident: str | None, source: str | None, row: int | None) -> None:
        if ident is not None:
            self.add_many((ident,), source, (row,))

    def add_many(self, idents: Iterable[str | None], source: str | None, rows: Iterable[int | None]) -> None:
        """The ids of rows of one source, in input order (the loop of a table insert, with its names local)."""
        file = self._source_index.get(source)
        if file is None:
            file = self._source_index[source] = len(self._sources)
            self._sources.append(source)
        base = file << 40
        digests, first, mask = self._digests, self._first, self._size - 1
        room = self._size // 2 - self._used
        for ident, row in zip(idents, rows):
            if ident is None:
                continue
            digest = hash(ident) & _DIGEST or 1  # 0 marks an empty slot (str hashes are SipHash, cached on the str)
            slot = digest & mask
            found = digests[slot]
            while found != _EMPTY and found != digest:
                slot = (slot + 1) & mask
                found = digests[slot]
            if found == digest:
                self._again(ident, first[slot], base | (row or 0) & _ROW)
                continue
            digests[slot], first[slot] = digest, base | (row or 0) & _ROW
            room -= 1
            if room <= 0:
                self._used = self._size // 2
                self._grow()
                digests, first, mask = self._digests, self._first, self._size - 1
                room = self._size // 2 - self._used
        self._used = self._size // 2 - room

    def _again(self, ident: str, first: int, place: int) -> None:
        known = self.repeated.get(ident)
        if known is None:
            if len(self.repeated) >= KEPT_IDS:
                self.more += 1
                return
            known = self.repeated[ident] = ([self._place(first)], [1])
        places, count = known
        count[0] += 1
        if len(places) < KEPT_PLACES:
            places.append(self._place(place))

    def _place(self, place: int) -> tuple[str | None, int | None]:
        return self._sources[place >> 40], (place & _ROW) or None

    def _grow(self) -> None:
        old = zip(self._digests, self._first)
        self._size *= 2
        self._digests, self._first = array("Q", bytes(8 * self._size)), array("Q", bytes(8 * self._size))
        mask, digests, first = self._size - 1, self._digests, self._first
        for digest, place in old:
            if digest == _EMPTY:
                continue
            slot = digest & mask
            while digests[slot] != _EMPTY:
                slot = (slot + 1) & mask
            digests[slot], first[slot] = digest, place

    def warnings(self, doing: str = "decided", shown: int = 5) -> list[str]:
        """One line per repeated id (the first ``shown``), then how many more; ``doing``: what happens to each row."""
        return repeat_warnings(self.repeated, self.more, doing, shown)


def repeat_warnings(repeated: dict[str, tuple[list[tuple[str | None, int | None]], list[int]]], more: int,
                    doing: str, shown: int = 5) -> list[str]:
    lines = []
    for ident, (places, count) in list(repeated.items())[:shown]:
        sources = {source for source, _ in places}
        where = ", ".join(str(row) if len(sources) == 1 else f"{source} row {row}" for source, row in places)
        if count[0] > len(places):
            where += f" and {count[0] - len(places)} more"
        lines.append(f"pmo: warning: id '{ident}' appears {count[0]} times (rows {where}); each is {doing} on its own")
    others = len(repeated) - shown + more if len(repeated) > shown or more else 0
    if others > 0:
        lines.append(f"pmo: warning: {others} more ids appear more than once")
    return lines


def repeated_in(places: Iterable[tuple[str | None, str | None, int | None]], doing: str, shown: int = 5) -> list[str]:
    """The warnings for (id, source, row) triples held in memory (pmo rank)."""
    seen = RepeatedIds()
    for ident, source, row in places:
        seen.add(ident, source, row)
    return seen.warnings(doing, shown)
