"""Per-row cachegrind figures by C function, from two runs of one program (issue #19: where the cycles go).

    valgrind --tool=cachegrind --cache-sim=yes --branch-sim=yes --cachegrind-out-file=small.out CMD (100 rows)
    valgrind --tool=cachegrind --cache-sim=yes --branch-sim=yes --cachegrind-out-file=big.out CMD (5,000 rows)
    python benchmarks/cachegrind_rows.py small.out big.out --rows 4900 [--vs small2.out big2.out] [--sort Ir]

A run's start-up is the same at any size, so (big - small) / (rows big - rows small) is what a row costs:
instructions (Ir), simulated L1 instruction and data misses (I1mr, D1mr, D1mw) and branch mispredictions
(Bcm: conditional, Bim: indirect), in total and per function, for one program or two side by side (--vs). The
default order is by a rough cycle estimate (Ir + 10 per miss + 15 per misprediction), a ranking only: the
simulated caches and predictor are simpler than the hardware's (its predictor in particular does far better on
the interpreter's dispatch), so read the counts, not the estimate, and compare programs, not seconds.
"""
from __future__ import annotations

import argparse
import collections
from pathlib import Path

SHOWN = ("Ir", "I1mr", "D1mr", "D1mw", "Bcm", "Bim")


def read(path: Path) -> tuple[list[str], dict[tuple[str, str], list[int]]]:
    """The events of a cachegrind out file and their totals per (file name, function)."""
    events: list[str] = []
    totals: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0] * len(events))
    file = function = ""
    with path.open() as lines:
        for line in lines:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("fl="):
                file = line[3:].strip().rsplit("/", 1)[-1]
            elif line.startswith("fn="):
                function = line[3:].strip()
            elif line[:1].isdigit():
                counts = totals[(file, function)]
                for i, value in enumerate(line.split()[1:]):
                    counts[i] += int(value)
    return events, totals


def per_row(small: Path, big: Path, rows: float) -> tuple[list[str], dict[tuple[str, str], list[float]]]:
    events, a = read(small)
    _, b = read(big)
    empty = [0] * len(events)
    return events, {key: [(y - x) / rows for x, y in zip(a.get(key, empty), b.get(key, empty))] for key in set(a) | set(b)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("small", type=Path)
    parser.add_argument("big", type=Path)
    parser.add_argument("--rows", type=float, required=True, help="rows of the big run less rows of the small one")
    parser.add_argument("--vs", nargs=2, type=Path, metavar=("SMALL", "BIG"), help="a second program's two runs")
    parser.add_argument("--vs-rows", type=float, help="its rows difference (default: --rows)")
    parser.add_argument("--sort", default="cost", help="an event name, or cost (default)")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    events, a = per_row(args.small, args.big, args.rows)
    b = per_row(*args.vs, args.vs_rows or args.rows)[1] if args.vs else {}
    index = {name: i for i, name in enumerate(events)}
    empty = [0.0] * len(events)

    def cost(counts: list[float]) -> float:
        return (counts[index["Ir"]] + 10 * sum(counts[index[e]] for e in ("I1mr", "D1mr", "D1mw"))
                + 15 * (counts[index["Bcm"]] + counts[index["Bim"]]))

    def total(table: dict) -> list[float]:
        return [sum(counts[i] for counts in table.values()) for i in range(len(events))]

    def shown(counts: list[float], width: int = 9) -> str:
        return "".join(f"{counts[index[e]]:{width},.0f}" for e in SHOWN)

    def key(name: tuple[str, str]) -> float:
        x, y = a.get(name, empty), b.get(name, empty)
        return -(cost(x) - cost(y)) if args.sort == "cost" else -(x[index[args.sort]] - y[index[args.sort]])

    print(f"{'per row':<52}" + "".join(f"{e:>9}" for e in SHOWN) + (" | second: " + " ".join(SHOWN) if b else ""))
    print(f"{'TOTAL':<52}{shown(total(a))}" + (f" | {shown(total(b), 8)}" if b else ""))
    for name in sorted(set(a) | set(b), key=key)[:args.top]:
        label = f"{name[0][:18]}:{name[1]}"[:51]
        print(f"{label:<52}{shown(a.get(name, empty))}" + (f" | {shown(b.get(name, empty), 8)}" if b else ""))


if __name__ == "__main__":
    main()
