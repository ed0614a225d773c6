"""`pmo serve` on loopback: single evaluations at 1, 8 and 64 concurrent clients with 1 and 2 workers, against
the same evaluations in process; an NDJSON batch against `pmo evaluate` on the same rows.

    python benchmarks/serve_throughput.py                    # 3,000 requests or 10 s per setting, 20,000 rows
    python benchmarks/serve_throughput.py --requests 500 --seconds 3 --rows 5000
    python benchmarks/serve_throughput.py --before b109cd1   # also that commit's server, interleaved: before/after
    PMO_BENCH_PROFILE=serve.prof python benchmarks/serve_throughput.py --profile-only   # cProfile of the server

Loopback only. Each setting is bounded in count (--requests) and time (--seconds), whichever comes first.
The clients are a lean keep-alive HTTP/1.1 client on asyncio streams (one connection per client), so what
is measured is the server, not an HTTP library; they share the machine's cores with the server. Every
evaluation is of a distinct proposal (its id varies), so each one is a new entry in the decision log; the
in-process figure decides and logs the same way (Engine.evaluate, then DecisionLog.append of one entry).

``--before REV``: the server of that commit (``git archive`` into a temporary folder, run with the same Python
and libraries) is measured beside this tree's, setting by setting, so both see the same machine load.
``PMO_BENCH_PROFILE=FILE``: the 1-worker server of this tree runs under cProfile (its event loop thread, where
requests are answered) for the 8-client setting, and the slowest functions are printed; the stats go to FILE.
Profiled figures are not benchmark figures (the profiler multiplies the time of Python code).
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants that are still running: the
    server's own cost of what it answered, which the load of other jobs on the machine does not inflate the way
    it inflates wall time."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            used[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    family, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return sum(used.get(member, 0.0) for member in family)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_rows() -> list[dict]:
    with open(ROOT / "examples" / "proposals.csv", newline="") as f:
        return list(csv.DictReader(f))


def proposal(rows: list[dict], n: int, tag: str) -> dict:
    return {**rows[n % len(rows)], "id": f"PRJ-{tag}{n:07d}"}


# uvicorn raises SIGTERM again once it has shut down: ignored here, so the profile is written after it.
PROFILED = ("import cProfile, signal, sys; from engine.cli import main; "
            "signal.signal(signal.SIGTERM, lambda *_: None); "
            "cProfile.runctx('main(sys.argv[2:])', globals(), locals(), sys.argv[1])")


def start(folder: Path, workers: int, log: Path, tree: Path = ROOT, profile: str | None = None
          ) -> tuple[subprocess.Popen, int]:
    """``pmo serve`` of the engine in ``tree`` (this one, or a baseline's copy)."""
    port = free_port()
    launch = [sys.executable, "-c", PROFILED, profile] if profile else [sys.executable, "-m", "engine.cli"]
    process = subprocess.Popen([*launch, "serve", "--port", str(port), "--log", str(log),
                                "--workers", str(workers), "--watch", "0", "--max-batch", "1000000",
                                "--access-log", str(folder / f"access-{port}.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder,
                               env={**os.environ, "PYTHONPATH": str(tree)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    if workers > 1:
                        time.sleep(2)  # every worker up, not only the first
                    return process, port
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("pmo serve did not start")


async def one_client(port: int, bodies, latencies: list[float], stop_at: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for body in bodies:
            if time.perf_counter() > stop_at:
                return
            head = (f"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            began = time.perf_counter()
            writer.write(head + body)
            headers = await reader.readuntil(b"\r\n\r\n")
            if not headers.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"unexpected answer: {headers[:80]!r}")
            length = int(next(line.split(b":", 1)[1] for line in headers.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
    finally:
        writer.close()


async def load(port: int, clients: int, requests: int, seconds: float, tag: str) -> dict:
    rows = base_rows()
    bodies = [json.dumps(proposal(rows, n, tag)).encode() for n in range(requests)]
    latencies: list[float] = []
    shares = [iter(bodies[k::clients]) for k in range(clients)]
    began = time.perf_counter()
    await asyncio.gather(*(one_client(port, share, latencies, began + seconds) for share in shares))
    return summary(latencies, time.perf_counter() - began)


def summary(latencies: list[float], elapsed: float) -> dict:
    ordered = sorted(latencies)
    return {"requests": len(ordered), "per_s": len(ordered) / elapsed,
            "p50_ms": statistics.median(ordered) * 1000, "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000}


def in_process(requests: int, seconds: float, folder: Path) -> dict:
    from engine import Engine
    from engine.serve.app import intake_entry
    from engine.store import DecisionLog
    engine, rows = Engine.load(), base_rows()
    latencies = []
    with DecisionLog(folder / "in-process.sqlite") as log:
        began = time.perf_counter()
        for n in range(requests):
            if time.perf_counter() - began > seconds:
                break
            data = proposal(rows, n, "I")
            t = time.perf_counter()
            decision = engine.evaluate(data)
            log.append([intake_entry(engine, decision, data)])
            latencies.append(time.perf_counter() - t)
        return summary(latencies, time.perf_counter() - began)


def batch(port: int, path: Path) -> float:
    body = path.read_bytes()
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall((f"POST /v1/evaluate/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                   f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body)
        received = bytearray()
        while chunk := s.recv(1 << 16):
            received += chunk
    elapsed = time.perf_counter() - began
    answers, sent = received.split(b"\r\n\r\n", 1)[1].count(b'"decision_id"'), body.count(b"\n")
    if answers != sent:
        raise SystemExit(f"the batch answered {answers} of {sent} rows")
    return elapsed


def baseline(rev: str, folder: Path) -> Path:
    """This repository's engine at ``rev``, in a folder of its own."""
    tree = folder / f"before-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "engine", "policies", "rules"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def line(label: str, got: dict) -> str:
    cpu = f"  server CPU {got['cpu_ms']:5.2f} ms/req" if "cpu_ms" in got else ""
    return (f"{label:<38} {got['per_s']:>8,.0f} /s  p50 {got['p50_ms']:6.2f} ms  p99 {got['p99_ms']:6.2f} ms"
            f"{cpu}  ({got['requests']} requests)")


def measured(process: subprocess.Popen, port: int, clients: int, args, tag: str) -> dict:
    """One setting: its figures and the server's CPU time per request."""
    cpu = tree_cpu(process.pid)
    got = asyncio.run(load(port, clients, args.requests, args.seconds, tag))
    got["cpu_ms"] = (tree_cpu(process.pid) - cpu) / max(got["requests"], 1) * 1000
    return got


def load_now() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def profiled(args, folder: Path) -> None:
    import pstats
    out = os.environ["PMO_BENCH_PROFILE"]
    process, port = start(folder, 1, folder / "profiled.sqlite", profile=out)
    try:
        got = asyncio.run(load(port, 8, args.requests, args.seconds, "P-"))
        print(line("HTTP 1 worker, 8 clients, PROFILED", got))
    finally:
        process.terminate()
        process.wait(30)
    pstats.Stats(out).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per setting (default 3,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="at most this long per setting (default 10)")
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the NDJSON batch (default 20,000)")
    parser.add_argument("--before", metavar="REV", help="also measure the server of this commit, interleaved")
    parser.add_argument("--profile-only", action="store_true", help="only the profiled run (PMO_BENCH_PROFILE)")
    args = parser.parse_args()
    print(f"# {os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if os.environ.get("PMO_BENCH_PROFILE"):
            profiled(args, folder)
            if args.profile_only:
                return
        trees = [("after", ROOT)]
        if args.before:
            trees.insert(0, (f"before {args.before}", baseline(args.before, folder)))
        local = in_process(args.requests, args.seconds, folder)
        print(f"{'in process (evaluate + log)':<38} {local['per_s']:>8,.0f} /s  p50 {local['p50_ms']:6.2f} ms  "
              f"p99 {local['p99_ms']:6.2f} ms  ({local['requests']} evaluations)")
        rows = base_rows()
        jsonl = folder / "rows.jsonl"
        jsonl.write_text("".join(json.dumps(proposal(rows, n, "B")) + "\n" for n in range(args.rows)))
        for workers in (1, 2):
            for name, tree in trees:
                process, port = start(folder, workers, folder / f"serve-{name[:6]}-{workers}.sqlite", tree)
                try:
                    for clients in (1, 8, 64):
                        got = measured(process, port, clients, args, f"{name[:1]}W{workers}C{clients}-")
                        print(line(f"{name[:6]} HTTP {workers} worker(s), {clients} clients", got), load_now())
                    if workers == 1:
                        elapsed = batch(port, jsonl)
                        print(f"{name[:6] + ' NDJSON batch over HTTP':<38} {args.rows / elapsed:>8,.0f} rows/s  "
                              f"({args.rows:,} rows in {elapsed:.1f} s, decided and logged)", load_now())
                finally:
                    process.terminate()
                    process.wait(30)
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", str(jsonl), "--format", "jsonl", "--out",
                        str(folder / "cli.jsonl"), "--log", str(folder / "cli.sqlite"), "--workers", "1"],
                       check=True, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - began
        print(f"{'pmo evaluate (same rows)':<38} {args.rows / elapsed:>8,.0f} rows/s  ({args.rows:,} rows in "
              f"{elapsed:.1f} s, decided and logged, process start included)", load_now())


if __name__ == "__main__":
    main()
