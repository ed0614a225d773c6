"""Where an interrupted ``pmo evaluate --out FILE`` stopped, so ``--resume`` continues without a gap or a
duplicate: every input row gives exactly one output row, in order, so the complete rows already in the
output are the input rows already done. A partial last row (the process died mid-write) is cut off."""
from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from engine.errors import Diagnostic, InputError, Location

RESUMABLE = ("csv", "jsonl")


@dataclass(frozen=True)
class ResumePoint:
    rows: int  # complete output rows, i.e. input rows already decided
    counts: Counter  # their decisions
    keep: int  # bytes of the output to keep; anything after is a partial row
    size: int  # bytes the output had
    last: dict | None = None  # the last complete row's source, row and policy_hash

    @property
    def cut(self) -> bool:
        return self.keep < self.size

    def mismatch(self, policy_hash: str, rows: Iterable[Any]) -> str | None:
        """Why this output cannot be continued from these input rows under this policy (None: it can).
        Resuming must not mix two policy versions, or two inputs, in one file."""
        if self.last is None:
            return None
        if self.last.get("policy_hash") != policy_hash:
            return (f"it was written under policy {self.last.get('policy_hash')}, and the policies now are {policy_hash}; "
                    "resuming would mix two policy versions in one file")
        row = next(itertools.islice(rows, self.rows - 1, None), None)
        if row is None:
            return f"it holds {self.rows} rows, more than the input has"
        said, got = (Path(str(self.last.get("source") or "")).name, str(self.last.get("row"))), \
            (Path(str(row.source or "")).name, str(row.row))
        if said != got:
            return (f"its row {self.rows} came from {said[0]} line {said[1]}, but that input row is {got[0]} line "
                    f"{got[1]}: it was written from other inputs")
        return None


def resume_point(path: Path, fmt: str) -> ResumePoint:
    """Read an earlier output. Raises InputError if it is not an output of this format."""
    data = path.read_bytes() if path.exists() else b""
    rows, counts, keep, last = (_csv(data, str(path)) if fmt == "csv" else _jsonl(data, str(path)))
    return ResumePoint(rows, counts, keep, len(data), last)


def truncate(path: Path, point: ResumePoint) -> None:
    if point.cut:
        with path.open("r+b") as f:
            f.truncate(point.keep)


def _jsonl(data: bytes, name: str) -> tuple[int, Counter, int, dict | None]:
    counts: Counter = Counter()
    keep = rows = 0
    last = None
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # the last line was cut short
        try:
            last = json.loads(line)
            decision = last["decision"]
        except (ValueError, KeyError, TypeError):
            raise InputError([Diagnostic("not_resumable", f"line {rows + 1} is not a decision written by pmo",
                                         Location(name, rows + 1), "resume only the --out file of an earlier run "
                                         "with the same --format")]) from None
        counts[decision] += 1
        rows += 1
        keep += len(line)
    return rows, counts, keep, last


def _csv(data: bytes, name: str) -> tuple[int, Counter, int, dict | None]:
    counts: Counter = Counter()
    if not data:
        return 0, counts, 0, None
    consumed = [0]  # bytes of the lines the csv reader has taken so far

    def lines():
        for line in data.decode("utf-8", errors="replace").splitlines(keepends=True):
            consumed[0] += len(line.encode("utf-8"))
            yield line

    reader = csv.reader(lines(), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        header = []
    def ends_line() -> bool:
        return data[consumed[0] - 1:consumed[0]] == b"\n"

    if header[:2] != ["id", "decision"] or not ends_line():
        raise InputError([Diagnostic("not_resumable", "this file does not start with the header pmo writes",
                                     Location(name, 1), "resume only the --out file of an earlier run with the "
                                     "same --format")])
    rows, keep, last = 0, consumed[0], None
    while True:
        try:
            cells = next(reader)
        except (StopIteration, csv.Error):  # the end, or a row cut inside a quoted cell
            break
        if not ends_line() or len(cells) != len(header):
            break  # cut short
        counts[cells[1]] += 1
        rows += 1
        keep = consumed[0]
        last = dict(zip(header, cells))
    return rows, counts, keep, last
