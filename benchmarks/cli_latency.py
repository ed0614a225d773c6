"""Start-up latency of the pmo command (issue #15): each command as a whole process, against `python -c pass`.

    python benchmarks/cli_latency.py [--repeat 10] [--tree DIR --tree DIR2 ...]

``--tree DIR`` also runs each pmo command on another source tree (e.g. ``git worktree add /tmp/main main``, or
``git archive main | tar -x -C DIR``): the same script and interpreter with ``PYTHONPATH=DIR``, in DIR (its
policies and examples), in the same rounds, so before and after see the same load.

Each round runs every command once, in turn (interleaved, so a burst of load on the shared machine hits them
all alike); the figures are medians over the rounds. Wall time is what a user waits; the child's CPU time
(resource.getrusage(RUSAGE_CHILDREN)) is less noisy on a loaded machine. The goals are issue #15's, on its
2-core machine. `pmo validate` keeps its assurance proofs in a private cache that the warm-up round fills, as a
second validate of an unchanged policy finds them; the row "proofs not cached" runs with the cache off.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the installed console script beside this interpreter (pip install -e .), as a user runs it
_SCRIPT = Path(sys.executable).with_name("pmo")
PMO = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "engine.cli"]
SCRATCH = Path(tempfile.mkdtemp(prefix="pmo-latency-"))
LOG = SCRATCH / "decisions.sqlite"  # evaluate logs here, not in the repo
CACHE = SCRATCH / "cache"  # validate keeps its proofs here (the warm-up round proves), not in ~/.cache/pmo
NO_CACHE = "PMO_CACHE_DIR="  # an argv prefix: run with the proof cache switched off

# (label, argv, goal in seconds of wall time or None)
COMMANDS = [
    ("python -c pass", [sys.executable, "-c", "pass"], None),
    ("pmo --help", PMO + ["--help"], 0.15),
    ("pmo validate", PMO + ["validate"], 0.5),
    ("pmo validate (proofs not cached)", [NO_CACHE] + PMO + ["validate"], None),
    ('pmo expr "1+1"', PMO + ["expr", "1+1"], 0.3),
    ("pmo evaluate examples/proposals.csv", PMO + ["evaluate", "examples/proposals.csv"], 0.6),
]


def run_once(argv: list[str], tree: Path | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one process; with ``tree``, on that source tree's engine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = _env()
    if tree is not None:
        env["PYTHONPATH"] = str(tree)  # ahead of the editable install's path
    if argv[0] == NO_CACHE:
        argv, env["PMO_CACHE_DIR"] = argv[1:], ""
    done = subprocess.run(argv, cwd=tree or ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _env() -> dict[str, str]:
    env = dict(os.environ, PMO_LOG=str(LOG), PMO_CACHE_DIR=str(CACHE))
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has its bytecode cached; the warm-up writes it
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10, help="rounds (default 10)")
    parser.add_argument("--tree", type=Path, action="append", default=[], metavar="DIR",
                        help="also run the pmo commands on this source tree's engine (repeatable)")
    args = parser.parse_args()
    runs = [(label, argv, goal, None) for label, argv, goal in COMMANDS]
    for tree in args.tree:
        tree = tree.resolve()
        if not (tree / "engine" / "__init__.py").is_file():
            parser.error(f"{tree} is not a source tree of the engine (no engine/__init__.py)")
        runs += [(f"[{tree.name}] {label}", argv, goal, tree) for label, argv, goal in COMMANDS if label.startswith("pmo")]
    for _, argv, _, tree in runs:  # warm the page cache and the bytecode cache first: not measured
        run_once(argv, tree)
    walls: dict[str, list[float]] = {label: [] for label, _, _, _ in runs}
    cpus: dict[str, list[float]] = {label: [] for label, _, _, _ in runs}
    for _ in range(args.repeat):
        for label, argv, _, tree in runs:
            wall, cpu = run_once(argv, tree)
            walls[label].append(wall)
            cpus[label].append(cpu)
    base_wall = statistics.median(walls["python -c pass"])
    base_cpu = statistics.median(cpus["python -c pass"])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"median of {args.repeat} runs each, python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"load average {load}")
    if args.tree:
        print(f"rows [NAME] ran on the tree {', '.join(str(t) for t in args.tree)}; the others on {ROOT}")
    width = max(38, *(len(label) for label, _, _, _ in runs))
    print(f"{'command':<{width}} {'wall s':>7} {'x pass':>7} {'cpu s':>7} {'x pass':>7} {'goal s':>7}  met")
    for label, _, goal, _ in runs:
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        met = "" if goal is None else ("yes" if wall <= goal else "no")
        print(f"{label:<{width}} {wall:7.3f} {wall / base_wall:7.1f} {cpu:7.3f} {cpu / base_cpu:7.1f} "
              f"{'' if goal is None else f'{goal:.2f}':>7}  {met}")


if __name__ == "__main__":
    main()
