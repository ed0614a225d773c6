"""Start-up (issue #15): which heavy modules each command may import, lazy public names, and Ctrl-C.

Each case runs in a fresh interpreter (what a test process has imported says nothing about a command), so
these are bounds on work (modules loaded), never on time; benchmarks/cli_latency.py measures the time.
"""
import json
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT, as_from_a_terminal, write_round

EXAMPLES = ROOT / "examples"
HEAVY = {"scipy", "numpy", "networkx", "openpyxl", "pytest", "pydantic", "engine.policy.models", "durable_rules_engine",
         "z3", "multiprocessing", "engine.authoring.explain",  # worker processes only for large batches
         "engine.report.build", "engine.scoring.ranking", "engine.portfolio.model"}  # the report, rank, portfolios
COMMANDS = ["evaluate", "rank", "weights", "conflicts", "select", "schedule", "impact", "graph", "gate", "log",
            "replay", "validate", "expr", "schema", "test", "init", "coverage", "diff", "explain", "health", "history",
            "kpi", "lessons", "status", "serve", "export-policies", "import-policies"]
PROBE = """\
import io, json, sys
from engine.cli import main
out = io.StringIO()
code = main(json.loads(sys.argv[1]), stdout=out, stderr=io.StringIO())
print(json.dumps({"code": code, "modules": sorted(sys.modules), "out": out.getvalue()}))
"""


def probe(argv: list[str], tmp_path) -> dict:
    """``pmo argv`` in a fresh interpreter: its exit code, what it printed and the heavy modules it imported."""
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    modules = set(report["modules"])
    report["heavy"] = {m for m in HEAVY if m in modules or any(n.startswith(m + ".") for n in modules)}
    return report


def loaded(argv: list[str], tmp_path) -> tuple[int, set[str]]:
    """The exit code of ``pmo argv`` and the heavy modules it imported, in a fresh interpreter."""
    report = probe(argv, tmp_path)
    return report["code"], report["heavy"]


def _env(tmp_path) -> dict:
    import os
    # a proof cache of this test's own: a first validate here proves (and imports z3), whatever ran before
    return dict(os.environ, PMO_LOG=str(tmp_path / "log.sqlite"), PMO_CACHE_DIR=str(tmp_path / "cache"))


def test_every_command_is_listed():
    """A new command is in COMMANDS, so its --help is pinned below."""
    import argparse

    from engine.cli import build_parser
    [sub] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(COMMANDS) == sorted(sub.choices)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["status", "ingest", "--help"]]
                         + [[name, "--help"] for name in COMMANDS],
                         ids=lambda argv: " ".join(argv) or "no-command")
def test_help_imports_nothing_heavy(argv, tmp_path):
    report = probe(argv, tmp_path)
    assert report["code"] in (0, 2) and report["heavy"] == set()
    modules = set(report["modules"])
    # stricter than HEAVY: no third-party package at all (yaml came in through engine.cli.intake ->
    # engine.io.writers -> engine.io.profile -> engine.policy.source), and of the engine only the parser's modules
    epilog = argv == ["expr", "--help"]  # lists the language's functions: loads their table (and re2 for regex)
    third_party = {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"engine", "__main__"}
    assert {m for m in third_party if not m.startswith("_")} == ({"re2"} if epilog else set()), third_party
    # of the standard library's larger ones: a workbook, money, the decision log's database, and dataclasses
    # (with inspect: about a quarter of a --help's instructions; they come with engine.errors)
    assert epilog or modules.isdisjoint({"zipfile", "decimal", "sqlite3", "dataclasses", "inspect"})
    assert "sqlite3" not in modules  # the log's default path and is_address come from engine.store.address
    engine = {m for m in modules if m == "engine" or m.startswith("engine.")}
    assert {m for m in engine if not m.startswith("engine.cli.") and m not in HELP_MAY_IMPORT
            and not (epilog and (m + ".").startswith("engine.expr."))} == set()


# what building the parser may import of the engine: the commands' modules (engine.cli.*), what they import at
# their top (messages, the options' defaults and choices) and nothing of the stages
HELP_MAY_IMPORT = {"engine", "engine.version", "engine.limits", "engine.cli", "engine.gcpause", "engine.io",
                   "engine.io.columns", "engine.io.safe_text", "engine.io.writers", "engine.store", "engine.store.address",
                   "engine.scoring", "engine.scoring.output",
                   "engine.text"}  # plural(), which the commands' messages use (no imports of its own)


# command -> the heavy modules it may import (what it needs for the reference policies and the examples)
MAY_IMPORT = {
    "validate": {"numpy", "pydantic", "engine.policy.models", "durable_rules_engine", "z3"},  # proves assurances
    "evaluate": {"numpy", "pydantic", "engine.policy.models", "durable_rules_engine"},
    "expr": set(),
    "status ingest": {"numpy", "pydantic", "engine.policy.models", "durable_rules_engine"},  # no worker processes
    "export-policies": {"numpy", "pydantic", "engine.policy.models", "openpyxl", "engine.authoring.explain",
                        "engine.scoring.ranking"},  # through engine.authoring.explain
}
RUNS = {
    "validate": ["validate"],
    "evaluate": ["evaluate", str(EXAMPLES / "proposals.csv"), "--today", "2026-12-01"],
    "expr": ["expr", "1+1"],
    "status ingest": ["status", "ingest", *map(str, sorted((EXAMPLES / "status").glob("*.csv"))), "--log",
                      "{tmp}/history.sqlite", "--today", "2026-12-01"],
    "export-policies": ["export-policies", "--out", "{tmp}/policies.xlsx", "--today", "2026-12-01"],
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_command_imports_only_what_it_uses(name, tmp_path):
    code, heavy = loaded([a.replace("{tmp}", str(tmp_path)) for a in RUNS[name]], tmp_path)
    assert code == 0 and heavy <= MAY_IMPORT[name], heavy - MAY_IMPORT[name]


def test_a_validate_with_its_proofs_cached_imports_no_z3(tmp_path):
    """The second pmo validate of an unchanged policy takes the assurances' proofs from the cache: z3 stays out,
    and what it prints is the first run's."""
    argv = ["validate", "--today", "2026-12-01"]
    first, second = probe(argv, tmp_path), probe(argv, tmp_path)
    assert first["code"] == second["code"] == 0 and "3 of 3 assurances proved" in first["out"]
    assert "z3" in first["heavy"] and second["heavy"] <= MAY_IMPORT["validate"] - {"z3"}, second["heavy"]
    assert second["out"] == first["out"]


def test_validate_loads_no_run_half_of_a_stage(tmp_path):
    """pmo validate compiles, builds the back ends and lints: the Engine facade, gate reviews, status reports and
    the proposal readers are for running a policy, and stay out (about 5% of validate's instructions)."""
    report = probe(["validate", "--today", "2026-12-01"], tmp_path)
    run_halves = {"engine.api", "engine.gates.review", "engine.health.assess", "engine.health.status",
                  "engine.io.readers", "engine.io.xlsx"}
    assert report["code"] == 0 and run_halves.isdisjoint(report["modules"]), run_halves & set(report["modules"])


def test_the_probe_sees_what_a_command_imports(tmp_path):
    """The other way round: a portfolio command does load networkx, so an empty set above means something."""
    code, heavy = loaded(["conflicts", str(EXAMPLES / "portfolio.yaml")], tmp_path)
    assert code == 0 and "networkx" in heavy


def test_public_names_load_on_first_use():
    code = ("import sys, engine; before = 'engine.api' in sys.modules; "
            "names = {n: getattr(engine, n) for n in engine.__all__}; "
            "print(before, 'engine.api' in sys.modules, sorted(n for n in dir(engine) if n in engine.__all__))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    before, after, listed = result.stdout.split(" ", 2)
    import engine
    assert (before, after) == ("False", "True") and eval(listed) == sorted(engine.__all__)
    with pytest.raises(AttributeError):
        engine.no_such_name  # noqa: B018


# ---------------------------------------------------------------------------- Ctrl-C

INTERRUPT_AT = """\
import sys
WHEN = sys.argv[1]
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == WHEN:
            raise KeyboardInterrupt  # as if Ctrl-C came while this module loads
        return None
sys.meta_path.insert(0, Interrupt())
sys.argv = ["pmo"] + sys.argv[2:]
from engine.cli import main_exit
main_exit()
"""


@pytest.mark.parametrize("module, argv", [
    ("engine.cli.options", ["--help"]),  # while the parser is built
    ("engine.authoring.check", ["validate"]),  # while a command loads its stages
    ("engine.backends.rete", ["evaluate", str(EXAMPLES / "proposals.csv")]),  # while it runs
    ("engine.portfolio.graph", ["conflicts", str(EXAMPLES / "portfolio.yaml")]),
])
def test_ctrl_c_while_starting_exits_130_with_one_line(module, argv, tmp_path):
    result = subprocess.run([sys.executable, "-c", INTERRUPT_AT, module, *argv], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=_env(tmp_path))
    assert (result.returncode, result.stderr) == (130, "interrupted\n")


def test_a_real_sigint_exits_130_with_one_line(tmp_path):
    data = write_round(tmp_path / "round.csv", 3_000, seed=3)
    child = ("import sys; print('ready', flush=True); sys.argv = ['pmo'] + sys.argv[1:]\n"
             "from engine.cli import main_exit\nmain_exit()\n")
    # --policies: no note about the built-in example policies, which a start-up fast enough to be past before the
    # signal prints ahead of "interrupted"
    with subprocess.Popen([sys.executable, "-c", child, "evaluate", str(data), "--workers", "1", "--format", "jsonl",
                           "--policies", str(ROOT / "policies")],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=_env(tmp_path), preexec_fn=as_from_a_terminal) as process:
        assert process.stdout.readline() == "ready\n"
        try:
            process.wait(timeout=0.3)  # not a measurement: a moment for the child to be inside pmo's start-up
        except subprocess.TimeoutExpired:
            pass
        assert process.returncode is None, "the run ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=600)
    assert (process.returncode, err) == (130, "interrupted\n")


def test_a_command_parses_and_helps_the_same_from_its_own_group():
    """build_parser(argv) registers only the groups up to the command's (the rest were most of a short command's
    parse): each command's --help and usage must be what the full parser gives, and an unknown command is
    still told the whole list."""
    import argparse
    import contextlib
    import io

    from engine.cli import build_parser, main

    def subparsers(parser):
        [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return sub.choices
    full = subparsers(build_parser())
    for name, command in full.items():
        own = subparsers(build_parser([name]))
        assert name in own and len(own) <= len(full)
        assert own[name].format_help() == command.format_help(), name
    assert len(subparsers(build_parser(["validate"]))) < len(full)  # fewer built: the point of it
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["evaluat"], stdout=io.StringIO(), stderr=err) == 2
    assert "invalid choice: 'evaluat'" in err.getvalue() and "serve" in err.getvalue()


# ---------------------------------------------------------------------------- the collector at exit

COLLECTOR_AT_EXIT = """\
import atexit, gc, sys
atexit.register(lambda: print("collector at exit:", "on" if gc.isenabled() else "off", file=sys.stderr))
sys.argv = ["pmo"] + sys.argv[1:]
if sys.argv[1:] == ["library"]:
    from engine.cli import main
    main(["expr", "1+1"])
else:
    from engine.cli import main_exit
    main_exit()
"""


@pytest.mark.parametrize("argv, collector", [
    (["expr", "1+1"], "off"),  # the console script: the exit would walk every object start-up made, to free nothing
    (["validate"], "off"),
    (["library"], "on"),  # main() called by a program that goes on: its collector is as it was
])
def test_the_console_script_ends_without_a_last_collection_and_main_restores_the_collector(argv, collector,
                                                                                          tmp_path):
    result = subprocess.run([sys.executable, "-c", COLLECTOR_AT_EXIT, *argv], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == f"collector at exit: {collector}"
