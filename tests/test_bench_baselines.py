"""The benchmark's plain loop writes what `pmo evaluate --format csv` writes, with either writer (issue #19):
benchmarks/batch_throughput.py compares them by sha256 at every run; here on a small file, so a change to the
loop or to pmo's output is caught by the suite, not by the next benchmark."""
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def round_of(tmp_path_factory):
    sys.path.insert(0, str(BENCHMARKS))
    import batch_throughput

    folder = tmp_path_factory.mktemp("bench")
    source = folder / "proposals.csv"
    batch_throughput.write_input(source, 400)
    facts = folder / "facts.json"
    facts.write_text(json.dumps(batch_throughput.policy_facts()))
    return batch_throughput, folder, source, facts


@pytest.mark.parametrize("kind", ["loop", "loop-line"])
def test_the_plain_loop_writes_pmos_bytes(round_of, kind):
    batch_throughput, folder, source, facts = round_of
    from engine.cli import main

    ours, theirs = folder / "pmo.csv", folder / f"{kind}.csv"
    assert main(["evaluate", str(source), "--format", "csv", "--out", str(ours), "--today", batch_throughput.TODAY,
                 "--no-log", "--workers", "1"]) in (0, 1)
    batch_throughput.baseline(kind, source, theirs, json.loads(facts.read_text()))
    assert theirs.read_bytes() == ours.read_bytes()
