"""Where an interrupted ``pmo evaluate --out FILE`` stopped, so ``--resume`` continues without a gap or a
duplicate: every input row gives exactly one output row, in order, so the complete rows already in the
output are the input rows already done. A partial last row (the process died mid-write) is cut off."""
from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from engine.errors import Diagnostic, InputError, Location

RESUMABLE = ("csv", "jsonl")


@dataclass(frozen=True)
class ResumePoint:
    rows: int  # complete output rows, i.e. input rows already decided
    counts: Counter  # their decisions
    keep: int  # bytes of the output to keep; anything after is a partial row
    size: int  # bytes the output had

    @property
    def cut(self) -> bool:
        return self.keep < self.size


def resume_point(path: Path, fmt: str) -> ResumePoint:
    """Read an earlier output. Raises InputError if it is not an output of this format."""
    data = path.read_bytes() if path.exists() else b""
    rows, counts, keep = (_csv(data, str(path)) if fmt == "csv" else _jsonl(data, str(path)))
    return ResumePoint(rows, counts, keep, len(data))


def truncate(path: Path, point: ResumePoint) -> None:
    if point.cut:
        with path.open("r+b") as f:
            f.truncate(point.keep)


def _jsonl(data: bytes, name: str) -> tuple[int, Counter, int]:
    counts: Counter = Counter()
    keep = rows = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # the last line was cut short
        try:
            decision = json.loads(line)["decision"]
        except (ValueError, KeyError, TypeError):
            raise InputError([Diagnostic("not_resumable", f"line {rows + 1} is not a decision written by pmo",
                                         Location(name, rows + 1), "resume only the --out file of an earlier run "
                                         "with the same --format")]) from None
        counts[decision] += 1
        rows += 1
        keep += len(line)
    return rows, counts, keep


def _csv(data: bytes, name: str) -> tuple[int, Counter, int]:
    counts: Counter = Counter()
    if not data:
        return 0, counts, 0
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
    rows, keep = 0, consumed[0]
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
    return rows, counts, keep
