"""The project's own scenarios run on the generic steps of ``engine.testing.steps`` (listed there), on both
back ends (durable_rules and the plain-Python reference), with today fixed to 2026-12-01 and paths read
from the repository root. ``pmo test features/`` runs the same scenarios without this file."""
import datetime as dt
from pathlib import Path

import pytest

from engine.testing.steps import Defaults, conftest_fixtures

globals().update(conftest_fixtures())

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["rete", "reference"], autouse=True)
def backend(request):
    return request.param


@pytest.fixture
def scenario_defaults():
    return Defaults(today=dt.date(2026, 12, 1), base=ROOT)
