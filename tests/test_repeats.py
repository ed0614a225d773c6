"""Repeated proposal ids: pmo evaluate warns as pmo rank and explain do (a new user's dup.csv, 2026-12-07)."""
import io
import subprocess
import sys

from engine.cli import main
from engine.tasks.repeats import RepeatedIds
from tests.conftest import ROOT

PROPOSALS = ROOT / "examples" / "proposals.csv"


def _with_a_repeat(tmp_path, copies=40):
    """examples/proposals.csv with its first row's id on line 3 too (``copies`` times over, for a batch)."""
    header, *rows = PROPOSALS.read_text(encoding="utf-8").splitlines(keepends=True)
    first = rows[0].split(",", 1)[0]
    again = first + "," + rows[1].split(",", 1)[1]
    path = tmp_path / "dup.csv"
    path.write_text(header + rows[0] + again + "".join(rows[2:]) * copies, encoding="utf-8")
    return path, first


def test_evaluate_warns_of_a_repeated_id_as_rank_does(tmp_path):
    """Was: pmo evaluate said nothing of a duplicated id (pmo rank and explain did)."""
    path, first = _with_a_repeat(tmp_path, copies=1)
    for command in ("evaluate", "rank"):
        out, err = io.StringIO(), io.StringIO()
        main([command, str(path), "--no-log", "--today", "2026-12-01", "--workers", "1"], stdout=out, stderr=err)
        doing = "decided" if command == "evaluate" else "decided and ranked"
        assert f"pmo: warning: id '{first}' appears 2 times (rows 2, 3); each is {doing} on its own" \
            in err.getvalue().splitlines(), (command, err.getvalue())


def test_evaluate_with_workers_warns_of_repeats_across_chunks(tmp_path):
    path, first = _with_a_repeat(tmp_path)  # every id but the first repeated 40 times, over several chunks
    done = subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", str(path), "--no-log", "--format", "csv",
                           "--workers", "2", "--today", "2026-12-01"], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    lines = done.stderr.splitlines()
    assert f"pmo: warning: id '{first}' appears 2 times (rows 2, 3); each is decided on its own" in lines, done.stderr
    assert any(" appears 40 times (rows 4, " in line and " and 30 more); each is decided" in line for line in lines)
    assert any(line.endswith("more ids appear more than once") for line in lines)


def test_repeats_are_found_exactly_in_a_table_of_16_bytes_a_slot():
    """200,000 ids, every hundredth one given again: exactly those are found, and the table holds no id text."""
    import tracemalloc
    tracemalloc.start()
    seen = RepeatedIds()
    for i in range(200_000):
        seen.add(f"PRJ-{i:08d}", "in.csv", i + 2)
    for i in range(0, 200_000, 2_000):
        seen.add(f"PRJ-{i:08d}", "in.csv", 300_000 + i)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert sorted(seen.repeated) == [f"PRJ-{i:08d}" for i in range(0, 200_000, 2_000)]
    assert seen.repeated["PRJ-00002000"] == ([("in.csv", 2_002), ("in.csv", 302_000)], [2])
    assert size < 16 * 2 * 2 * 200_000 + 1_000_000, size  # two arrays of 8 bytes, at most 4 slots a row at worst
    assert seen.warnings()[0] == ("pmo: warning: id 'PRJ-00000000' appears 2 times (rows 2, 300000); each is decided "
                                  "on its own")
    assert seen.warnings()[-1] == "pmo: warning: 95 more ids appear more than once"
