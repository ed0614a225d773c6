"""Start-up latency of the pmo command (issue #15): each command as a whole process, against `python -c pass`.

    python benchmarks/cli_latency.py [--repeat 10]

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


def run_once(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = _env()
    if argv[0] == NO_CACHE:
        argv, env["PMO_CACHE_DIR"] = argv[1:], ""
    done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
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
    args = parser.parse_args()
    for _, argv, _ in COMMANDS:  # warm the page cache and the bytecode cache first: not measured
        run_once(argv)
    walls: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    cpus: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    for _ in range(args.repeat):
        for label, argv, _ in COMMANDS:
            wall, cpu = run_once(argv)
            walls[label].append(wall)
            cpus[label].append(cpu)
    base_wall = statistics.median(walls["python -c pass"])
    base_cpu = statistics.median(cpus["python -c pass"])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"median of {args.repeat} runs each, python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"load average {load}")
    print(f"{'command':<38} {'wall s':>7} {'x pass':>7} {'cpu s':>7} {'x pass':>7} {'goal s':>7}  met")
    for label, _, goal in COMMANDS:
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        met = "" if goal is None else ("yes" if wall <= goal else "no")
        print(f"{label:<38} {wall:7.3f} {wall / base_wall:7.1f} {cpu:7.3f} {cpu / base_cpu:7.1f} "
              f"{'' if goal is None else f'{goal:.2f}':>7}  {met}")


if __name__ == "__main__":
    main()
