"""Each stage of `pmo status ingest` timed on its own, without a profiler (issue #16).

    python benchmarks/ingest_split.py                # 1,000 projects x 36 months, the file of history_throughput.py
    python benchmarks/ingest_split.py --n 2000 --repeat 5

As benchmarks/stage_split.py does for `pmo evaluate`: the rows are read once, then each stage runs alone over the
previous stage's results, in one process, the cyclic collector off, the best of ``--repeat`` runs kept (CPU
time). The stages are those of engine/tasks/history.py's ingest of a new file into an empty history (from the
stage read back on, in the ingest's workers; SQLite's inserts are not here: the whole ingest is timed by
benchmarks/history_throughput.py). Microseconds per row.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import best  # noqa: E402
from history_throughput import write_status  # noqa: E402

from engine.api import Engine  # noqa: E402
from engine.compile.health import DEFAULT_HEALTH  # noqa: E402
from engine.health.status import StatusData, group_reports, typed_rows  # noqa: E402
from engine.io.profile import InputProfile  # noqa: E402
from engine.io.readers import read_proposals  # noqa: E402
from engine.store.history import encoded_values, rating_row, report_digest  # noqa: E402
from engine.tasks import history  # noqa: E402


class _Table:
    """The stage table's part of a database connection, in memory (SQLite's own cost is not this benchmark's)."""

    name = "sqlite"

    def __init__(self) -> None:
        self.pieces: list[tuple[int, int, bytes]] = []

    def execute(self, sql: str, params: Any = ()) -> list[tuple[bytes]]:
        if sql.startswith("SELECT"):
            return [(blob,) for group, _, blob in sorted(self.pieces, key=lambda p: p[1]) if group == params[0]]
        return []

    def executemany(self, sql: str, rows: list[tuple[int, int, bytes]]) -> None:
        self.pieces += rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000, help="projects (each with 36 monthly reports)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    gc.disable()
    engine = Engine.load(today=dt.date(2027, 12, 31))
    calendar = (engine.policy.health or DEFAULT_HEALTH).calendar
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "status.csv"
        n = write_status(path, args.n)
        times: list[tuple[str, float]] = []

        def stage(name: str, run: Callable[[], Any]) -> Any:
            spent, result = best(run, args.repeat)
            times.append((name, spent))
            return result

        rows = stage("read CSV rows", lambda: list(read_proposals(path, None)))
        def staged() -> history._Stage:
            kept = history._Stage(_Table(), history.GROUP)
            history._read_file(rows, InputProfile(), calendar, kept, StatusData())
            kept.flush()
            return kept
        kept = stage("project ids, stage (by group, pickled)", staged)
        again = stage("read the stage back", lambda: [row for number in range(kept.groups)
                                                      for _, row in history._staged(kept.blobs(number))])
        typed = stage("type rows (typed_rows)", lambda: list(typed_rows([again], StatusData(), InputProfile(),
                                                                          calendar)))

        def grouped() -> StatusData:
            found = StatusData()
            group_reports([(row, dict(record)) for row, record in typed], found)
            return found
        found = stage("group into reports", grouped)
        stage("digest reports", lambda: [report_digest(r, encoded_values(r))
                                         for series in found.reports.values() for r in series])
        ratings = stage("rate (rate_series)", lambda: [h for project, series in found.reports.items()
                                                       for h in engine.rate_series(project, series)])
        made = stage("rating to record (rated)", lambda: [history.rated(h, history.ORIGIN) for h in ratings])
        stage("rating rows (rating_row)", lambda: [rating_row(r, engine.policy_hash, "now") for r in made])
    total = sum(spent for _, spent in times)
    print(f"{n:,} rows, best of {args.repeat}, CPU microseconds per row")
    for name, spent in times:
        print(f"  {name:<40} {spent / n * 1e6:8.1f}")
    print(f"  {'total':<40} {total / n * 1e6:8.1f}")


if __name__ == "__main__":
    main()
