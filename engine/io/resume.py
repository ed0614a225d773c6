"""Where an interrupted ``pmo evaluate --out FILE`` stopped, so ``--resume`` continues without a gap or a
duplicate: every input row gives exactly one output row, in order, so the complete rows already in the
output are the input rows already done. A partial last row (the process died mid-write) is cut off.

What the output was made from (a fingerprint of each input file's bytes, the --sheet, the --columns map
and the policy hash) is recorded beside it when the run starts (``.NAME.pmo-run``): resuming from other
inputs is refused even when their rows line up with the output's (another sheet of the same workbook,
another column map, an input edited in place).

The output is read as a stream of byte lines (only b"\\n" ends a line; a cell may hold U+2028 or a form
feed), keeping just the counts and the last complete row: memory does not grow with the file.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import Diagnostic, InputError, Location
from engine.io.rows import csv_cell_limit
from engine.io.safe_text import replacing

RESUMABLE = ("csv", "jsonl")


@dataclass(frozen=True)
class ResumePoint:
    rows: int  # complete output rows, i.e. input rows already decided
    counts: Counter[str]  # their decisions
    keep: int  # bytes of the output to keep; anything after is a partial row
    size: int  # bytes the output had
    last: dict[str, Any] | None = None  # the last complete row: its source, row, policy_hash and as_of
    header: list[str] = field(default_factory=list)  # CSV: the file's header

    @property
    def cut(self) -> bool:
        return self.keep < self.size

    @property
    def as_of(self) -> str | None:
        return (self.last or {}).get("as_of") or None

    def mismatch(self, policy_hash: str, as_of: str, rows: Iterable[Any], header: list[str] | None = None) -> str | None:
        """Why this output cannot be continued from these input rows under this policy and date (None: it
        can). Resuming must not mix two policy versions, two dates or two inputs in one file."""
        if self.last is not None and self.last.get("policy_hash") != policy_hash:
            return (f"it was written under policy {self.last.get('policy_hash')}, and the policies now are {policy_hash}; "
                    "resuming would mix two policy versions in one file")
        if self.last is not None and self.as_of != as_of:
            return (f"it was decided as of {self.as_of}, and today() is now {as_of}; resuming would mix two dates "
                    f"(give --today {self.as_of})")
        if header is not None and self.header and self.header != header:
            return "its columns are not the ones this policy writes"
        if self.last is None:
            return None
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
    """Read an earlier output. Raises InputError if it cannot be read or is not an output of this format."""
    if not path.exists():
        return ResumePoint(0, Counter(), 0, 0)
    try:
        with path.open("rb") as f:
            size = path.stat().st_size
            return ResumePoint(size=size, **(_csv(f, str(path)) if fmt == "csv" else _jsonl(f, str(path))))
    except OSError as exc:
        raise InputError([Diagnostic("unreadable", f"cannot read the earlier output: {exc.strerror or exc}",
                                     Location(str(path)))]) from None


def truncate(path: Path, point: ResumePoint) -> None:
    if point.cut:
        with path.open("r+b") as f:
            f.truncate(point.keep)


def _not_ours(name: str, line: int) -> InputError:
    return InputError([Diagnostic("not_resumable", f"line {line} is not a decision written by pmo", Location(name, line),
                                  "resume only the --out file of an earlier run with the same --format")])


def _jsonl(lines: Iterator[bytes], name: str) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    keep = rows = 0
    last = None
    for line in lines:
        if not line.endswith(b"\n"):
            break  # the last line was cut short
        try:
            last = json.loads(line)
            counts[last["decision"]] += 1
        except (ValueError, KeyError, TypeError):
            raise _not_ours(name, rows + 1) from None
        rows += 1
        keep += len(line)
    return {"rows": rows, "counts": counts, "keep": keep, "last": last}


@csv_cell_limit()
def _csv(lines: Iterator[bytes], name: str) -> dict[str, Any]:
    consumed, ended = 0, True  # bytes the csv reader has taken; whether they end a line

    def text() -> Iterator[str]:
        nonlocal consumed, ended
        for line in lines:
            consumed += len(line)
            ended = line.endswith(b"\n")
            yield line.decode("utf-8", errors="replace")

    reader = csv.reader(text(), strict=True)
    try:
        header = next(reader, None)
    except csv.Error:
        raise _not_ours(name, 1) from None
    if header is None:
        return {"rows": 0, "counts": Counter(), "keep": 0}
    if header[:2] != ["id", "decision"] or not ended:
        raise _not_ours(name, 1)
    counts: Counter[str] = Counter()
    rows, keep, last = 0, consumed, None
    while True:
        try:
            cells = next(reader)
        except (StopIteration, csv.Error):  # the end, or a row cut inside a quoted cell
            break
        if not ended or len(cells) != len(header):
            break  # cut short
        counts[cells[1]] += 1
        rows += 1
        keep, last = consumed, cells
    return {"rows": rows, "counts": counts, "keep": keep, "header": header,
            "last": dict(zip(header, last)) if last else None}


@dataclass(frozen=True)
class RunRecord:
    """What an output is made from: a run may continue it only from the same."""
    inputs: tuple[str, ...]  # SHA-256 of each input file's bytes, in order
    sheet: str | None
    columns: str | None  # SHA-256 of the --columns map's bytes
    policy_hash: str

    def mismatch(self, saved: RunRecord | None, path: Path) -> str | None:
        """Why an output made from ``saved`` cannot be continued from this run's inputs (None: it can)."""
        if saved is None:
            return (f"there is no record of the inputs it was made from ({record_path(path).name} is missing or "
                    "unreadable), so resuming could mix two inputs")
        if saved.policy_hash != self.policy_hash:
            return (f"it was written under policy {saved.policy_hash}, and the policies now are {self.policy_hash}; "
                    "resuming would mix two policy versions in one file")
        if saved.sheet != self.sheet:
            return (f"it was made from --sheet {saved.sheet or '(the first sheet)'}, and this run reads --sheet "
                    f"{self.sheet or '(the first sheet)'}: resuming would mix two inputs")
        if saved.columns != self.columns:
            return ("it was made " + ("with another --columns map" if saved.columns and self.columns else
                                      "with a --columns map" if saved.columns else "without a --columns map")
                    + ": resuming would mix two inputs")
        if len(saved.inputs) != len(self.inputs):
            return f"it was made from {len(saved.inputs)} input files, and this run reads {len(self.inputs)}"
        changed = [k + 1 for k, (a, b) in enumerate(zip(saved.inputs, self.inputs)) if a != b]
        if changed:
            return (f"input file {changed[0]} has changed since the output was started (its contents differ): "
                    "resuming would mix two inputs")
        return None


def run_record(files: Iterable[Path], sheet: str | None, columns: Path | None, policy_hash: str) -> RunRecord:
    return RunRecord(tuple(_file_digest(Path(f)) for f in files), sheet,
                     _file_digest(Path(columns)) if columns else None, policy_hash)


def record_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.pmo-run")


def save_record(out: Path, record: RunRecord) -> None:
    """Record what ``out`` is made from, beside it (written whole, or not at all)."""
    with replacing(record_path(out)) as f:
        json.dump({"version": 1, "inputs": list(record.inputs), "sheet": record.sheet, "columns": record.columns,
                   "policy_hash": record.policy_hash}, f)


def saved_record(out: Path) -> RunRecord | None:
    try:
        data = json.loads(record_path(out).read_text(encoding="utf-8"))
        return RunRecord(tuple(data["inputs"]), data["sheet"], data["columns"], data["policy_hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _file_digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MB pieces (memory does not grow with the file)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()
