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


def pytest_collection_modifyitems(items):
    """The long property tests (marked slow) first, so that under xdist (--dist worksteal) no worker is left
    running one of them alone at the end; the order of the others is kept."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


TODAY = dt.date(2026, 12, 1)  # the example data's dates are chosen relative to this day


@pytest.fixture(autouse=True, scope="session")
def private_proof_cache(tmp_path_factory):
    """pmo validate keeps its proofs in this session's folder, never in the user's ~/.cache/pmo."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PMO_CACHE_DIR", str(tmp_path_factory.mktemp("pmo-cache")))
        yield


@pytest.fixture(autouse=True)
def private_decision_log(tmp_path, monkeypatch):
    """CLI runs in tests log to a temporary file, never to the user's ./pmo-decisions.sqlite."""
    path = tmp_path / "pmo-decisions.sqlite"
    monkeypatch.setenv("PMO_LOG", str(path))
    return path


POSTGRES = os.environ.get("PMO_TEST_POSTGRES")  # a server's address; .ci/postgres.sh starts one


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server for the decision log's tests. Without one they are skipped, except in CI, which
    starts one (.ci/postgres.sh) and sets PMO_REQUIRE_POSTGRES=1 so that a missing server fails them."""
    if not POSTGRES:
        if os.environ.get("PMO_REQUIRE_POSTGRES"):
            pytest.fail("PMO_REQUIRE_POSTGRES is set but PMO_TEST_POSTGRES is not: start a server with "
                        "'. .ci/postgres.sh && pmo_postgres_start'")
        pytest.skip("no PostgreSQL server: '. .ci/postgres.sh && pmo_postgres_start' starts one "
                    "(CI does, and sets PMO_REQUIRE_POSTGRES=1)")
    return POSTGRES


@pytest.fixture
def postgres_log(postgres_server):
    """The address of an empty PostgreSQL log of this test's own: a new schema, first on the search path."""
    import uuid

    import psycopg
    schema = f"pmo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    yield postgres_server + ("&" if "?" in postgres_server else "?") + f"options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_server, autocommit=True) as db:
        db.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def log_target(request, tmp_path):
    """A new, empty decision log: a SQLite file, then a PostgreSQL log (the same tests run on both)."""
    if request.param == "sqlite":
        return tmp_path / "log.sqlite"
    return request.getfixturevalue("postgres_log")


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
