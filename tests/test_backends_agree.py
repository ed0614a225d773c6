"""Both back ends must give identical decisions: on random proposals and on hostile values."""
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import fuzz

OBJECTIVES = ["customer-experience", "grid-resilience", "net-zero", "operational-efficiency",
              "regulatory-compliance", "market-expansion"]  # the last is unknown: an error row
LEVELS = ["none", "low", "moderate", "strong", "extreme", "0.3", "1.5"]


def random_proposal(rng: random.Random, i: int) -> dict:
    def maybe(value, p=0.15):
        return None if rng.random() < p else value

    start = f"2026-{rng.randint(9, 12):02d}-{rng.randint(1, 28):02d}" if rng.random() < 0.4 else \
        f"{rng.randint(2027, 2029)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    end = f"{rng.randint(2026, 2032)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    budget = rng.choice([rng.randint(-10, 30_000_000), rng.choice([0, 250_000, 250_000.01, 1_000_000, 5_000_000,
                                                                   20_000_000, 100_000])])
    flows = [-abs(rng.randint(1, 2_000_000))] + [rng.randint(-100_000, 900_000) for _ in range(rng.randint(0, 7))]
    return {
        "id": rng.choice([f"PRJ-{i:04d}", f"X{i}", f"PRJ-{i}"]), "title": f"Proposal {i}",
        "sponsor": maybe(rng.choice(["Ann", "Bo", "Zoë"]), 0.3),
        "sponsor_level": maybe(rng.choice(["executive", "director", "manager"])),
        "alignment": maybe(";".join(f"{o}:{rng.choice(LEVELS)}" for o in rng.sample(OBJECTIVES, rng.randint(1, 3))), 0.2),
        "category": maybe(rng.choice(["growth", "compliance", "efficiency", "innovation", "maintenance"])),
        "budget": maybe(budget, 0.05), "opex_per_year": maybe(rng.randint(0, 2_000_000)),
        "benefit": maybe(rng.choice([budget * rng.uniform(0, 3), rng.randint(0, 60_000_000)]), 0.2),
        "cash_flows": maybe(";".join(map(str, flows)), 0.3), "start_date": maybe(start), "end_date": maybe(end),
        "risk": maybe(rng.randint(0, 6)), "complexity": maybe(rng.randint(0, 6)),
        "regulatory": maybe(rng.random() < 0.2), "personal_data": maybe(rng.random() < 0.3),
        "privacy_assessment": maybe(rng.random() < 0.5), "vendor": maybe(rng.choice(["Acme Ltd", "DataCrunch", "X GmbH"]), 0.6),
        "vendor_approved": maybe(rng.random() < 0.5), "headcount": maybe(rng.randint(0, 80)),
    }


def same(engines, proposal):
    a, b = engines["rete"].evaluate(proposal), engines["reference"].evaluate(proposal)
    assert a.model_dump() == b.model_dump(), proposal
    return a


def test_10000_random_proposals_identical_decisions(engines):
    rng = random.Random(20261126)
    outcomes = set()
    for i in range(10_000):
        outcomes.add(same(engines, random_proposal(rng, i)).decision)
    assert outcomes == {"accept", "review", "reject", "error"}  # the sample reaches every outcome


cells = st.one_of(st.none(), st.text(max_size=12), st.integers(-10**20, 10**20),
                  st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                  st.sampled_from(["", " ", "1,000", "12%", "2027-02-30", "2027-01-01", "1e400", "-0", "0.1",
                                   "[1, 2]", "1;x", "yes", "NaN", "executive", "net-zero", "\x00", "é" * 3,
                                   "net-zero:strong", "net-zero:0.2;grid-resilience:low", "{\"net-zero\": 1}",
                                   "net-zero", "x:y", "0.01", "1e-9", "0.0003", "100000000000000000",
                                   "100000000000000000000"]))
FIELDS = ["id", "title", "sponsor", "sponsor_level", "alignment", "category", "budget", "opex_per_year", "benefit",
          "cash_flows", "start_date", "end_date", "risk", "complexity", "regulatory", "personal_data",
          "privacy_assessment", "vendor", "vendor_approved", "headcount", "sid", "t"]


@fuzz(1500)
@given(st.dictionaries(st.sampled_from(FIELDS), cells, max_size=len(FIELDS)))
def test_hostile_values_never_crash_and_back_ends_agree(engines, proposal):
    decision = same(engines, proposal)
    assert all(e.code != "internal_error" for e in decision.errors)


# Issue #14's constructs (date parts, date(y, m, d), if(), 10%) on hostile values: the policy of tests/test_constructs.py.
@pytest.fixture(scope="module")
def construct_engines(tmp_path_factory):
    from engine import Engine
    from tests.conftest import TODAY
    from tests.test_constructs import POLICY
    root = tmp_path_factory.mktemp("constructs")
    (root / "intake.yaml").write_text(POLICY, encoding="utf-8")
    return {name: Engine.load(root, today=TODAY, backend=name) for name in ("rete", "reference")}


@fuzz(600)
@given(st.dictionaries(st.sampled_from(["id", "start_date", "budget", "contingency", "regulatory"]),
                       st.one_of(cells, st.dates().map(str)), max_size=5))
def test_hostile_values_over_the_new_constructs_back_ends_agree(construct_engines, proposal):
    decision = same(construct_engines, proposal)
    assert all(e.code != "internal_error" for e in decision.errors)


# Per-objective alignment, formatted reasons and routes, lookup tables: the policy of tests/test_constructs_data.py.
@pytest.fixture(scope="module")
def data_engines(tmp_path_factory):
    from engine import Engine
    from tests.conftest import TODAY
    from tests.test_constructs_data import files
    root = tmp_path_factory.mktemp("hospital")
    for name, text in files().items():
        (root / name).write_text(text, encoding="utf-8")
    return {name: Engine.load(root, today=TODAY, backend=name) for name in ("rete", "reference")}


DATA_CELLS = st.one_of(cells, st.dates().map(str), st.sampled_from([
    "Cardiology", "Radiology", "Pharmacy", "IT", "Acme Ltd", "MedSys", "CareSoft", "acme ltd", "patient-safety:strong",
    "hipaa-compliance:low;cost-control:0.5", "hipaa-compliance:none", "patient-safety:1;hipaa-compliance:extreme"]))


@fuzz(600)
@given(st.dictionaries(st.sampled_from(["id", "department", "alignment", "vendor", "budget", "unit_budget", "start_date"]),
                       DATA_CELLS, max_size=7))
def test_hostile_values_over_alignment_templates_and_lookups_back_ends_agree(data_engines, proposal):
    decision = same(data_engines, proposal)
    assert all(e.code != "internal_error" for e in decision.errors)
