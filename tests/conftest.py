import csv
import datetime as dt
import os
import random
from pathlib import Path

import pytest

from engine import Engine

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--fuzz-scale", type=int, default=None, metavar="N",
                     help="run N times as many fuzz cases, from fresh random seeds (see tests/fuzz.py)")


def pytest_configure(config):
    scale = config.getoption("--fuzz-scale", None)
    if scale:
        os.environ["PMO_FUZZ_SCALE"] = str(scale)  # read by tests/fuzz.py when the test modules are collected
TODAY = dt.date(2026, 12, 1)  # the example data's dates are chosen relative to this day


@pytest.fixture(autouse=True)
def private_decision_log(tmp_path, monkeypatch):
    """CLI runs in tests log to a temporary file, never to the user's ./pmo-decisions.sqlite."""
    path = tmp_path / "pmo-decisions.sqlite"
    monkeypatch.setenv("PMO_LOG", str(path))
    return path


@pytest.fixture(scope="session")
def engines() -> dict[str, Engine]:
    """The reference policies on both back ends."""
    return {name: Engine.load(today=TODAY, backend=name) for name in ("rete", "reference")}


@pytest.fixture(params=["rete", "reference"])
def engine(request, engines) -> Engine:
    return engines[request.param]


@pytest.fixture
def write_policy(tmp_path):
    """Write a policy folder from {filename: text}; return its path."""
    def write(files: dict[str, str], folder: str = "policies") -> Path:
        root = tmp_path / folder
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root
    return write


ROWS = 12_000  # the batch fixture's size: big enough to interrupt a run half-way


def write_round(path: Path, rows: int, seed: int, line_breaks: bool = False) -> Path:
    """A CSV intake round of random proposals, some of them error rows (risk 'x')."""
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "budget", "alignment", "sponsor", "benefit", "risk"])
        for i in range(rows):
            title = f"Proposal {i},\n with a line break" if line_breaks and i % 7 == 0 else f"Proposal {i}"
            writer.writerow([f"P{i}", title, rng.randint(1000, 3_000_000),
                             rng.choice(["net-zero:strong", "grid-resilience:low", ""]), rng.choice(["Ann", ""]),
                             rng.randint(0, 5_000_000), rng.choice(["1", "3", "5", "x"])])
    return path


@pytest.fixture(scope="session")
def big_round(tmp_path_factory):
    return write_round(tmp_path_factory.mktemp("resume") / "round.csv", ROWS, seed=5, line_breaks=True)
