"""Write decisions as a readable table, JSON, JSON Lines or CSV (streaming: one decision at a time)."""
from __future__ import annotations

import csv
import json
from collections import Counter
from typing import IO, Iterable

from engine.decision import Decision

FORMATS = ("table", "json", "jsonl", "csv")


def write_decisions(decisions: Iterable[Decision], out: IO[str], fmt: str, policy_hash: str = "") -> Counter:
    """Write every decision; return how many of each outcome were written."""
    counts: Counter = Counter()

    def counted(items: Iterable[Decision]) -> Iterable[Decision]:
        for d in items:
            counts[d.decision] += 1
            yield d

    if fmt == "table":
        _table(counted(decisions), out, policy_hash)
    else:
        {"json": _json, "jsonl": _jsonl, "csv": _csv}[fmt](counted(decisions), out)
    return counts


def _json(decisions: Iterable[Decision], out: IO[str]) -> None:
    out.write("[")
    for i, d in enumerate(decisions):
        out.write(",\n" if i else "\n")
        out.write(json.dumps(d.to_json(), ensure_ascii=False))
    out.write("\n]\n")


def _jsonl(decisions: Iterable[Decision], out: IO[str]) -> None:
    for d in decisions:
        out.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")


CSV_COLUMNS = ["id", "decision", "routes", "rules", "reasons", "errors", "source", "row", "policy_hash"]


def _csv(decisions: Iterable[Decision], out: IO[str]) -> None:
    writer = None
    for d in decisions:
        if writer is None:
            writer = csv.DictWriter(out, CSV_COLUMNS + list(d.derived), extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
        writer.writerow({
            "id": d.id, "decision": d.decision, "routes": "; ".join(d.routes),
            "rules": "; ".join(f.rule for f in d.findings), "reasons": "; ".join(f.reason for f in d.findings),
            "errors": "; ".join(e.message for e in d.errors), "source": d.source, "row": d.row,
            "policy_hash": d.policy_hash, **d.derived,
        })


_MARK = {"reject": "✗", "review": "?", "flag": "!"}


def _table(decisions: Iterable[Decision], out: IO[str], policy_hash: str) -> None:
    """A table a PMO analyst reads: one proposal per line, then the totals."""
    header = f"{'PROPOSAL':<14} {'DECISION':<8}  {'APPROVERS':<40} WHY"
    out.write(header + "\n" + "─" * 110 + "\n")
    counts: Counter = Counter()
    for d in decisions:
        counts[d.decision] += 1
        if d.decision == "error":
            why = "; ".join(f"row {e.row}: {e.message}" if e.row else e.message for e in d.errors)
        else:
            why = ", ".join(f"{_MARK[f.effect]} {f.rule}" for f in d.findings) or "passed every rule"
        route = ", ".join(d.routes) if d.decision == "review" else ""
        out.write(f"{_clip(d.id or '-', 14):<14} {d.decision.upper():<8}  {_clip(route, 40):<40} {_clip(why, 200)}\n")
    total = sum(counts.values())
    parts = [f"{counts[k]} {k}" for k in ("accept", "review", "reject", "error") if counts[k]]
    out.write("─" * 110 + "\n")
    out.write(f"{total} proposal{'' if total == 1 else 's'}: {', '.join(parts) or 'none'}   "
              f"(✗ reject  ? review  ! flag)   policy {policy_hash}\n")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
