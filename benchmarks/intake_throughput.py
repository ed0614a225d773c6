"""Intake throughput: a 30-rule policy over synthetic proposals, side by side in one run.

    python benchmarks/intake_throughput.py                 # 100,000 proposals, 3 repeats
    python benchmarks/intake_throughput.py --n 20000 --repeat 1

Modes (each runs in its own process, on the same proposals and the same 30 rules):
    rete          our durable back end: the lean driver over durable_rules' C core
    durable-host  durable_rules driven through its own host (durable.lang + assert_fact + delete_state)
    reference     our plain-Python back end
    pipeline      the whole Engine.evaluate_many path (typing, derived values, rules, Decision objects)
The first three time the rules stage alone on already-typed proposals; every mode's fired
rules are checked against the reference back end's. Figures are medians of the repeats.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CATEGORIES = ["growth", "compliance", "efficiency", "innovation"]
NUMERIC = [("budget", 1_000_000, 4_000_000), ("duration", 6, 36), ("fit", 2, 4), ("risk", 2, 4),
           ("npv", 0, 2_000_000), ("headcount", 5, 40), ("vendors", 1, 4), ("benefit", 1_000_000, 8_000_000)]


def workload(n: int) -> tuple[list[tuple[str, tuple, tuple]], list[dict]]:
    """30 two-condition rules over 9 fields (the shape of ../shared/probes/rules_throughput.py), and n proposals."""
    rng = random.Random(7)
    rules = []
    for k in range(30):
        f1, lo1, hi1 = NUMERIC[k % len(NUMERIC)]
        f2, lo2, hi2 = NUMERIC[(k * 3 + 1) % len(NUMERIC)]
        c1 = (f1, ">" if k % 2 else "<", rng.randint(lo1, hi1))
        c2 = ("category", "==", CATEGORIES[k % 4]) if k % 3 == 0 else (f2, "<" if k % 2 else ">", rng.randint(lo2, hi2))
        rules.append((f"R{k}", c1, c2))
    proposals = [{"pid": f"P{i}", "budget": rng.randint(10_000, 5_000_000), "duration": rng.randint(1, 48),
                  "fit": rng.randint(1, 5), "risk": rng.randint(1, 5), "npv": rng.randint(-500_000, 3_000_000),
                  "category": rng.choice(CATEGORIES), "headcount": rng.randint(1, 60), "vendors": rng.randint(0, 6),
                  "benefit": rng.randint(0, 10_000_000)} for i in range(n)]
    return rules, proposals


def policy_folder(rules) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="pmo-bench-")) / "policies"
    folder.mkdir()
    lines = ["kind: intake", "id_field: pid", "fields:", "  pid: string", "  category: string"]
    lines += [f"  {name}: number" for name, _, _ in NUMERIC]
    lines.append("rules:")
    for rid, c1, c2 in rules:
        cond = " and ".join(f'{f} {op} {json.dumps(v)}' for f, op, v in (c1, c2))
        lines.append(f"  - {{id: {rid}, when: '{cond}', effect: flag, reason: r}}")
    (folder / "intake.yaml").write_text("\n".join(lines) + "\n")
    return folder


def digest(results: list) -> str:
    return hashlib.sha256(json.dumps(results).encode()).hexdigest()[:12]


def run_mode(mode: str, n: int) -> dict:
    from engine import Engine
    from engine.backends.reference import ReferenceBackend
    from engine.compile.records import RecordReader
    rules, proposals = workload(n)
    engine = Engine.load(policy_folder(rules), today=dt.date(2026, 12, 1))
    ids = [r.id for r in engine.policy.rules]
    reader = RecordReader(engine.policy.fields)
    records = [reader.read(p) for p in proposals]
    if mode == "rete":
        fire = engine._intake.backend.fire
        start = time.perf_counter()
        results = [fire(r) for r in records]
        elapsed = time.perf_counter() - start
        results = [sorted(ids[i] for i in fired) for fired in results]
    elif mode == "reference":
        fire = ReferenceBackend(engine.policy).fire
        start = time.perf_counter()
        results = [fire(r) for r in records]
        elapsed = time.perf_counter() - start
        results = [sorted(ids[i] for i in fired) for fired in results]
    elif mode == "durable-host":
        elapsed, results = _durable_host(rules, proposals)
    elif mode == "pipeline":
        start = time.perf_counter()
        decisions = list(engine.evaluate_many(proposals))
        elapsed = time.perf_counter() - start
        results = [sorted(f.rule for f in d.findings) for d in decisions]
    else:
        raise SystemExit(f"unknown mode {mode}")
    return {"mode": mode, "n": n, "seconds": elapsed, "per_second": n / elapsed, "digest": digest(results)}


def _durable_host(rules, proposals):
    from durable.engine import MessageNotHandledException
    from durable.lang import assert_fact, get_host, m, ruleset, when_all
    fired: dict[str, list[str]] = {}

    def action(rid):
        def act(c):
            fired.setdefault(c.m.sid, []).append(rid)
        return act

    def cond(field, op, value):
        x = getattr(m, field)
        return {">": x > value, "<": x < value, "==": x == value}[op]

    with ruleset("bench"):
        for rid, c1, c2 in rules:
            when_all((m.t == "p") & cond(*c1) & cond(*c2))(action(rid))
    host = get_host()
    start = time.perf_counter()
    for p in proposals:
        try:
            assert_fact("bench", dict(p, sid=p["pid"], t="p"))
        except MessageNotHandledException:
            pass
        host.delete_state("bench", p["pid"])
    elapsed = time.perf_counter() - start
    return elapsed, [sorted(fired.get(p["pid"], [])) for p in proposals]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="proposals (default 100,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; the median is reported")
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.n)))
        return
    modes = ["rete", "durable-host", "reference", "pipeline"]
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(args.repeat):
        for mode in modes:  # interleaved, so machine noise hits every mode alike
            out = subprocess.run([sys.executable, __file__, "--mode", mode, "--n", str(args.n)],
                                 capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{mode} failed: {out.stderr.strip().splitlines()[-1:]}")
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    median = {m: statistics.median(r["per_second"] for r in runs[m]) for m in modes}
    truth = runs["reference"][0]["digest"]
    print(f"30-rule intake policy, {args.n:,} proposals, median of {args.repeat} run(s), python {sys.version.split()[0]}")
    print(f"{'mode':<14} {'proposals/s':>12} {'vs durable-host':>16} {'vs rete':>9}  same results as reference")
    for mode in modes:
        same = all(r["digest"] == truth for r in runs[mode])
        print(f"{mode:<14} {median[mode]:>12,.0f} {median[mode] / median['durable-host']:>15.2f}x "
              f"{median[mode] / median['rete']:>8.2f}x  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
