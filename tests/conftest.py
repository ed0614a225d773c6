import datetime as dt
from pathlib import Path

import pytest

from engine import Engine

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 12, 1)  # the example data's dates are chosen relative to this day


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
