import csv
import datetime as dt
import os
import random
import signal
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
    if not hasattr(config, "workerinput"):
        keep_bytecode_out_of_the_tree(config)


def keep_bytecode_out_of_the_tree(config) -> None:
    """With PYTHONDONTWRITEBYTECODE set (some machines set it for every process), each of the suite's `pmo`
    processes and xdist workers compiled the engine from source again (~0.3 s a process) and each worker
    rewrote every test module's asserts. The suite's processes (set here, before xdist starts its workers)
    write their bytecode under pytest's own cache folder instead (PYTHONPYCACHEPREFIX), so the source tree
    still gets none, which is what the setting asks for."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    cache = getattr(config, "cache", None)
    if cache is None:  # -p no:cacheprovider
        return
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache.mkdir("pycache"))
    del os.environ["PYTHONDONTWRITEBYTECODE"]


# The tests that keep one worker busy longest (seconds of one worker, each parametrisation, measured with
# `python -m pytest --durations=60` on the 2-core machine, 2026-12-03): run first, longest first, so that under
# xdist the other worker takes the short tests around them and none of these is left running alone at the end.
# A renamed test only loses its place; a new long one belongs here.
LONG = {
    "test_workbook_edits.py::test_random_edits_are_imported_or_refused_at_their_cells": 40,
    "test_serve.py::test_a_server_killed_mid_batch_logs_whole_decisions_once_and_a_resent_batch_adds_nothing": 18,
    "test_serve.py::test_two_servers_with_two_workers_and_a_cli_write_one_log_concurrently": 17,
    "test_history.py::test_a_process_killed_mid_ingest_leaves_nothing_of_the_file_and_a_rerun_stores_it_once": 17,
    "test_history_ingest.py::test_memory_does_not_grow_with_the_file": 17,
    "test_core_limits.py::test_30_engine_loads_keep_memory_flat": 8,
    "test_serve.py::test_the_board_in_headless_chromium_updates_after_a_new_decision": 12,
    "test_tables.py::test_same_decisions_and_ranks_on_10000_random_proposals": 10,
    "test_serve.py::test_the_board_with_status_reports_shows_the_health_page_in_headless_chromium": 9,
    "test_finance.py::test_irr_and_npv_agree_with_a_50_digit_reference_on_random_series": 9,
    "test_faults.py::test_a_full_disk_under_the_output_loses_nothing": 8,
    "test_faults.py::test_a_full_disk_under_the_log_loses_nothing": 8,
    "test_inputs.py::test_json_reading_streams_in_bounded_memory": 8,
    "test_inputs.py::test_csv_reading_streams_in_bounded_memory": 8,
    "test_explain.py::test_every_counterfactual_really_changes_the_decision": 8,
    "test_backends_agree.py::test_hostile_values_never_crash_and_back_ends_agree": 8,
    "test_readers_hostile.py::test_many_shared_strings_are_read_in_bounded_memory": 8,
    "test_backends_agree.py::test_10000_random_proposals_identical_decisions": 7,
    "test_error_catalogue.py::test_the_catalogue_is_current": 7,
    "test_output_golden.py::test_outputs_are_the_golden_bytes": 6,
    "test_serve.py::test_status_files_with_their_own_headings_are_read_through_columns_as_pmo_health_reads_them": 6,
    "test_resume.py::test_resume_point_splits_lines_only_on_newline_and_streams": 6,
    "test_resume.py::test_resume_after_a_kill_loses_and_duplicates_nothing": 6,
    "test_core_limits.py::test_fuzz_rete_against_reference_over_locales_text_lengths_and_rules_at_once": 6,
    "test_batch_memory.py::test_a_two_worker_batch_stays_under_200_mb_per_process": 6,
    "test_store.py::test_a_server_lost_mid_run_stops_the_run_and_resume_logs_the_rest_once": 5,
    "test_store.py::test_two_writers_and_a_cli_run_share_one_postgresql_log": 5,
    "test_resume.py::test_rank_with_two_workers_equals_one": 5,
}


def _seconds(item) -> float:
    return LONG.get(f"{item.path.name}::{item.originalname}", 0) if item.path.parent.name == "tests" else 0


def pytest_collection_modifyitems(items):
    """The long tests (LONG, and any other marked slow) first, longest first, so that under xdist (--dist
    worksteal: each worker starts on one half of the list, an idle one takes from the end of the other's) no
    worker is left running one of them alone at the end; the order of the others is kept."""
    items.sort(key=lambda item: (not _seconds(item) and item.get_closest_marker("slow") is None, -_seconds(item)))


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


def as_from_a_terminal() -> None:
    """A child's ``preexec_fn``: Ctrl-C delivered as a terminal delivers it. A shell starts background jobs
    (``pytest ... &``, CI under some runners) with SIGINT ignored, children inherit that, and Python then
    installs no KeyboardInterrupt handler: a test of what Ctrl-C does would see the signal ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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
