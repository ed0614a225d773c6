"""The bytes of `pmo evaluate --format csv` and `--format jsonl` are pinned (issue #19: the hot path was rebuilt
for speed, and its outputs must stay byte-identical to what they were before).

The goldens are sha256 digests of the outputs the code produced before the rebuild (main at d121f8b), on the
12,000-row batch fixture, the benchmark's file and random rounds with every field of the reference policy
(blanks, bad values, amounts with separators, non-ASCII text, cells that look like formulas, line breaks).
The policy hash is replaced by a placeholder before hashing, so a change to the policy files alone does not
break them (the hash itself is checked by other tests). Both back ends and 1 and 2 workers must give the same
bytes. A second check needs no golden: the CLI's output equals the output written from the pydantic
``Decision`` objects the API gives (``Engine.evaluate_many`` then ``write_decisions``), on further random rounds.

When an output change is intended, regenerate the digests with ``python tests/test_output_golden.py`` and say
why in the commit.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import ROWS, TODAY, write_round  # noqa: E402

SEEDS = (11, 12, 13)
RANDOM_ROWS = 1_500
BENCH_ROWS = 3_000

GOLDEN = {
    'fixture.csv': '58310d66f805d36e52dbc33aefe7cb1bab10852b6b6a51e480ce4a3838190e93',
    'fixture.jsonl': '21f58524c3210dbc400f300ea06c94529c7077d10b60ee47b2229f92ce889a20',
    'bench.csv': 'a329a0503f48f5af6c4e8161da872caf9d600cc9e10d38f38c77c3972ef7a94b',
    'bench.jsonl': 'e817520437b0894b68334e1ac6a5d0b824b5cd0de263a8c7e59284855a474dfa',
    'random11.csv': '47c36b1dd04a50a55deea408abbc0ab408e557de78e1d7f9ee12252cf233a286',
    'random11.jsonl': '24f3e8e675caf876eb1c607236210c4321f417d71309b4063ff9301d5d6fcb2a',
    'random12.csv': 'f232b8aa4e1354c02bf40f8a6a684d4bfc6473bc7164079470facc3c1c72ad83',
    'random12.jsonl': 'f5112393324105271eff645279e22e6ec9391402158e3cce0d62319e42e353b5',
    'random13.csv': 'ea4824da2a426c538f9633dd182292376adc564ca941af584912f479929650f3',
    'random13.jsonl': '9259126e6b69c2b126539b75f6bf407562b5ab53879f8595c8d99a49212b8f75',
}

_TEXTS = ["Ann Lee", "Bo Chen", "", " ", "Zoë Ørsted", "=HYPERLINK(\"x\")", "+cmd", "@SUM(A1)", "-1",
          "line\nbreak", "quote \" inside", "tab\there", "\u00a0=1", "日本語", "a,b;c"]
_COLUMNS = ["id", "title", "business_unit", "sponsor", "sponsor_level", "alignment", "category", "budget",
            "opex_per_year", "benefit", "cash_flows", "start_date", "end_date", "risk", "complexity", "regulatory",
            "personal_data", "privacy_assessment", "vendor", "vendor_approved", "headcount", "extra"]


def _cell(rng: random.Random, column: str, i: int) -> str:
    """A cell: usually one that reads, sometimes (3%) one that does not, or reads two ways."""
    if rng.random() < 0.04:
        return rng.choice(["", " "])
    bad = rng.random() < 0.02
    if column == "id":
        return rng.choice([f"PRJ-{i:04d}", f"P{i}", f"=id{i}", f"ünï-{i}"])
    if column in ("title", "sponsor", "vendor", "extra"):
        return rng.choice(_TEXTS) + ("" if column != "title" else f" {i}")
    if column == "business_unit":
        return rng.choice(["Sales", "HR x"]) if bad else rng.choice(["Operations", "customer", "IT", "Legal", "HR"])
    if column == "sponsor_level":
        return "intern" if bad else rng.choice(["executive", "Director", "manager"])
    if column == "alignment":
        return rng.choice(["nonsense:strong", "net-zero:huge"]) if bad else rng.choice(
            ["net-zero:strong", "grid-resilience:low", "net-zero:strong;customer-experience:moderate",
             "operational-efficiency:moderate"])
    if column == "category":
        return "other" if bad else rng.choice(["growth", "compliance", "Efficiency", "innovation", "maintenance"])
    if column in ("budget", "opex_per_year", "benefit"):
        if bad:
            return rng.choice(["12%", "1.2.3", "x", "250.000", "1,5"])
        n = rng.choice([rng.randint(0, 30_000_000), rng.randint(1, 999), rng.randint(200_000, 300_000)])
        return rng.choice([str(n), f"{n:,}" if n >= 1_000_000 else str(n), f"{n}.50", f"{n / 7:.2f}", "1e3",
                           str(n), "-5"])
    if column == "cash_flows":
        if bad:
            return rng.choice(["1;;2", "[1,", "a;b"])
        flows = [str(-rng.randint(10_000, 900_000))] + [str(rng.randint(-50_000, 400_000))
                                                      for _ in range(rng.randint(0, 6))]
        return rng.choice([";".join(flows), "[" + ", ".join(flows) + "]", ";".join(flows)])
    if column in ("start_date", "end_date"):
        if bad:
            return rng.choice(["03/04/2027", "2027-02-30", "soon"])
        d = dt.date.fromordinal(TODAY.toordinal() + rng.randint(-400, 1500))
        return rng.choice([d.isoformat(), d.isoformat(), d.strftime("%d.%m.%Y")])
    if column in ("risk", "complexity"):
        return rng.choice(["2.5", "x", "9"]) if bad else rng.choice(["1", "2", "3", "4", "5", "5", " 3 "])
    if column in ("regulatory", "personal_data", "privacy_assessment", "vendor_approved"):
        return "maybe" if bad else rng.choice(["yes", "no", "true", "FALSE", "y", "n", "1", "0"])
    if column == "headcount":
        return rng.choice(["-3", "many", "1.5"]) if bad else str(rng.randint(0, 80))
    raise AssertionError(column)


def write_random_round(path: Path, rows: int, seed: int) -> Path:
    """Proposals with every field of the reference policy (and a column it ignores), in a random column order,
    some columns left out, many cells messy."""
    rng = random.Random(seed)
    columns = [c for c in _COLUMNS if c in ("id", "title") or rng.random() < 0.9]
    rng.shuffle(columns)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for i in range(rows):
            writer.writerow([_cell(rng, c, i) for c in columns])
    return path


def write_bench_round(path: Path, rows: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from batch_throughput import write_input
    write_input(path, rows)
    return path


def inputs(folder: Path) -> dict[str, Path]:
    """The golden inputs, written in ``folder`` (named relative to it: the output's source column)."""
    made = {"fixture": write_round(folder / "round.csv", ROWS, seed=5, line_breaks=True),
            "bench": write_bench_round(folder / "bench.csv", BENCH_ROWS)}
    for seed in SEEDS:
        made[f"random{seed}"] = write_random_round(folder / f"random{seed}.csv", RANDOM_ROWS, seed)
    return made


def digest(data: bytes, policy_hash: str) -> str:
    return hashlib.sha256(data.replace(policy_hash.encode(), b"<policy-hash>")).hexdigest()


def run(name: str, fmt: str, backend: str = "rete", workers: int = 1) -> bytes:
    """`pmo evaluate NAME --format FMT` in the current folder, its output's bytes."""
    from engine.cli import main
    out = Path(f"out-{name}-{backend}-{workers}.{fmt}")
    code = main(["evaluate", name, "--format", fmt, "--out", str(out), "--today", TODAY.isoformat(), "--no-log",
                 "--workers", str(workers), "--backend", backend])
    assert code in (0, 1)
    return out.read_bytes()


@pytest.fixture(scope="module")
def golden_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("golden")
    return folder, inputs(folder)


@pytest.fixture(scope="module")
def policy_hash(engines):
    return engines["rete"].policy_hash


@pytest.mark.parametrize("backend", ["rete", "reference"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_outputs_are_the_golden_bytes(golden_inputs, policy_hash, monkeypatch, fmt, backend):
    folder, made = golden_inputs
    monkeypatch.chdir(folder)
    for key, path in made.items():
        assert digest(run(path.name, fmt, backend), policy_hash) == GOLDEN[f"{key}.{fmt}"], (key, fmt, backend)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_two_workers_write_the_golden_bytes(golden_inputs, policy_hash, monkeypatch, fmt):
    folder, made = golden_inputs
    monkeypatch.chdir(folder)
    for key in ("fixture", "random11"):
        assert digest(run(made[key].name, fmt, "rete", 2), policy_hash) == GOLDEN[f"{key}.{fmt}"], key


@pytest.mark.parametrize("seed", [21, 22])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_cli_output_is_what_the_api_decisions_write(tmp_path, monkeypatch, engines, fmt, seed):
    """No golden needed: the batch path writes what the pydantic Decisions of Engine.evaluate_many write."""
    from engine.io.readers import read_proposals
    from engine.io.writers import write_decisions
    monkeypatch.chdir(tmp_path)
    path = write_random_round(tmp_path / f"r{seed}.csv", 600, seed)
    engine = engines["rete"]
    expected = io.StringIO(newline="")
    derived = [name for name, _ in engine.policy.derived]
    write_decisions(engine.evaluate_many(read_proposals(Path(path.name))), expected, fmt,
                    policy_hash=engine.policy_hash, derived=derived)
    assert run(path.name, fmt).decode("utf-8") == expected.getvalue()


def main() -> None:
    """Print the digests of the current code's outputs (to regenerate GOLDEN)."""
    import os
    import tempfile

    from engine import Engine
    policy = Engine.load(today=TODAY).policy_hash
    folder = Path(tempfile.mkdtemp(prefix="pmo-golden-"))
    made = inputs(folder)
    os.chdir(folder)
    print("GOLDEN = {")
    for key, path in made.items():
        for fmt in ("csv", "jsonl"):
            print(f"    {f'{key}.{fmt}'!r}: {digest(run(path.name, fmt), policy)!r},")
    print("}")


if __name__ == "__main__":
    main()
