"""Each stage of `pmo evaluate`'s 1-worker path timed on its own, without a profiler (issue #19).

    python benchmarks/stage_split.py                 # 20,000 proposals, the file of batch_throughput.py
    python benchmarks/stage_split.py --n 50000 --repeat 5

cProfile (benchmarks/profile_evaluate.py) adds its cost to every Python call, so it inflates the stages made of
many small calls. Here each stage runs alone over the same rows, in one process, and the best of ``--repeat``
runs is kept (CPU time): the rows are read once, then typed, decided, formatted, written and encoded, each
stage from the previous one's results, with the cyclic collector off (as in `pmo evaluate`). The rules stage runs on records it has seen before (its answers are
remembered by the records' value classes, as in a real run after its first rows). Microseconds per row.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from batch_throughput import TODAY, write_input  # noqa: E402
from common import best  # noqa: E402

from engine.api import Engine  # noqa: E402
from engine.io.readers import one_currency_per_column, read_proposals  # noqa: E402
from engine.io.writers import csv_line, decision_cells  # noqa: E402
from engine.store.log import IntakeEncoder  # noqa: E402
from engine.tasks.evaluate import money_fields  # noqa: E402

CHUNK = 256  # rows typed together, as Engine.decide_plain types them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gc.disable()  # as pmo evaluate pauses the cyclic collector (engine/gcpause.py): else its passes over every
    # row kept here land on whichever stage allocates
    engine = Engine.load(today=dt.date.fromisoformat(TODAY))
    intake = engine._intake
    derived = [name for name, _ in engine.policy.derived]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "proposals.csv"
        write_input(path, args.n)
        times: dict[str, float] = {}
        times["CSV reading (read_proposals)"], rows = best(lambda: list(read_proposals(path)), args.repeat)
    money = money_fields(engine)
    times["currency check (one_currency_per_column)"], _ = best(
        lambda: list(one_currency_per_column(iter(rows), money, engine.raw_value, engine.profile)), args.repeat)
    raws = [row.data for row in rows]

    def typed() -> list[Any]:
        records: list[Any] = []
        for start in range(0, len(raws), CHUNK):
            records += intake.records(raws[start:start + CHUNK])
        return records
    times["typing and derived values (Intake.records)"], records = best(typed, args.repeat)
    times["deciding (Intake.decide_plain: rules, plan, reasons)"], decided = best(
        lambda: [intake.decide_plain(row.data, row.row, row.source, dict(record))
                 for row, record in zip(rows, records)], args.repeat)
    times["  of it: the rules alone (backend.fire)"], _ = best(lambda: [intake.backend.fire(r) for r in records],
                                                              args.repeat)
    verdicts = [verdict for verdict, _ in decided]
    plans = [verdict._plan for verdict in verdicts]
    times["  of it: the reasons rendered (Plan.texts)"], _ = best(
        lambda: [plan.texts(record) if plan.rendered else None for plan, record in zip(plans, records)], args.repeat)
    times["CSV cells (decision_cells)"], cells = best(lambda: [decision_cells(verdict, derived) for verdict in verdicts],
                                                      args.repeat)

    def written() -> int:
        out = io.StringIO()
        write = out.write
        for row in cells:
            write(csv_line(row))
        return out.tell()
    times["CSV rows (csv_line: inert cells, quoting)"], _ = best(written, args.repeat)
    times["the decision log's encoding (IntakeEncoder.row)"], _ = best(
        lambda: [encoder.row(row, verdict) for encoder in [IntakeEncoder(engine)]
                 for row, verdict in zip(rows, verdicts)], args.repeat)
    print(f"`pmo evaluate`'s 1-worker stages alone, {args.n:,} proposals (reference policy), best of {args.repeat}, "
          f"python {sys.version.split()[0]}; CPU microseconds per row")
    for name, spent in times.items():
        print(f"  {name:<54} {spent / args.n * 1e6:7.1f}")
    whole = sum(spent for name, spent in times.items() if not name.startswith("  ") and "log" not in name)
    print(f"  {'the stages together, without the log':<54} {whole / args.n * 1e6:7.1f}")


if __name__ == "__main__":
    main()
