"""The ``pmo serve`` subcommand. FastAPI and uvicorn are imported only when it runs, never by other commands."""
from __future__ import annotations

import argparse
import gc
import ipaddress
import os
from typing import IO

from engine.cli.common import EXIT_OK, warn
from engine.cli.options import Subparsers, command, policy_options
from engine.store.address import DEFAULT_PATH as DEFAULT_LOG

SERVE_EXAMPLES = """\
examples:
  pmo serve                                            http://127.0.0.1:8181, reference policies, ./pmo-decisions.sqlite
  pmo serve --policies my-policies/ --log /var/lib/pmo/decisions.sqlite --workers 2
  pmo serve --log postgresql://pmo@db/pmo --portfolio portfolio.yaml   a team's log; the board with conflicts
  pmo serve --status examples/status/*.csv             the board with the portfolio health page; GET /v1/health
  pmo serve --status ppm-export.xlsx --columns ppm.yaml   ... from an export with its own headings (as pmo health)
  pmo serve --history --log h.db                       ... from the reports pmo status ingest stored in h.db
  PMO_TOKENS=admin:$(cat admin.token) pmo serve --host 0.0.0.0 --tokens tokens.yaml
  curl -s localhost:8181/v1/evaluate -H 'content-type: application/json' -d @proposal.json
  curl -s localhost:8181/v1/evaluate/batch -H 'content-type: application/x-ndjson' --data-binary @rows.jsonl
  kill -HUP $(pidof -s pmo)                            reload the policy (a broken version is refused)

endpoints (interactive docs at /docs, the API description at /openapi.json):
  POST /v1/evaluate  /v1/evaluate/batch  /v1/rank  /v1/explain  /v1/gates/{gate}/review
  POST /v1/conflicts  /v1/schedule  /v1/impact  /v1/select  /v1/policy/reload
  GET  /v1/decisions/{id}  /v1/decisions?project=&from=&to=&limit=  /v1/policy  /  /v1/board  /health  /ready
  GET  /v1/health?as_of=&by=   (with --status or --history: pmo health --format json of the status reports)

tokens file (YAML): tokens: [{name: servicenow, role: evaluate, token: ...}, {name: pmo-lead, role: admin, ...}]
roles: evaluate (every decision and read endpoint), admin (also gate overrides and policy reloads)

exit codes: 130 after SIGINT; after SIGTERM it ends as killed by it (143 in a shell), requests in flight finished; 2 usage error, a broken policy or an unusable log or tokens file
"""


def register(sub: Subparsers) -> None:
    sv = command(sub, "serve", serve, "serve decisions over HTTP (a REST API under /v1)", ("Run the engine as an HTTP decision service: evaluate, batch (JSON or "
                                          "NDJSON), rank, explain, gate review, conflicts, schedule and select, each "
                                          "answer naming its policy_hash and decision_id (the decision log's key). "
                                          "The policy folder is watched and reloaded on change, on SIGHUP or on "
                                          "POST /v1/policy/reload: a new version is compiled aside and swapped in "
                                          "between requests, and a broken version never replaces a working one "
                                          "(GET /health shows its file:line:col diagnostics)."),
                 SERVE_EXAMPLES)
    policy_options(sv)
    sv.add_argument("--host", default=os.environ.get("PMO_HOST", "127.0.0.1"),
                    help="address to listen on (default: $PMO_HOST or 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int, default=int(os.environ.get("PMO_PORT", "8181")),
                    help="port (default: $PMO_PORT or 8181)")
    sv.add_argument("--log", metavar="DB", default=os.environ.get("PMO_LOG", DEFAULT_LOG),
                    help=f"the decision log every decision is written to (default: $PMO_LOG or ./{DEFAULT_LOG})")
    sv.add_argument("--workers", type=int, default=int(os.environ.get("PMO_WORKERS", "1")), metavar="N",
                    help="worker processes (default: $PMO_WORKERS or 1); each loads the policy itself")
    sv.add_argument("--backend", choices=("rete", "reference"), default="rete", help="rule back end (default rete)")
    sv.add_argument("--tokens", metavar="FILE", default=os.environ.get("PMO_TOKENS_FILE"),
                    help="bearer tokens with roles (YAML; default: $PMO_TOKENS_FILE); $PMO_TOKENS='ROLE:TOKEN,...' "
                    "adds more. Without any token every caller may do everything")
    sv.add_argument("--max-body", type=int, default=16 << 20, metavar="BYTES",
                    help="largest request body, and largest NDJSON line (default 16 MiB; beyond: 413)")
    sv.add_argument("--max-batch", type=int, default=10_000, metavar="N",
                    help="most proposals in one batch or ranking (default 10,000; beyond: 413)")
    sv.add_argument("--timeout", type=float, default=30.0, metavar="S",
                    help="seconds to receive a request's head and its body (408 each) and to compute an answer (503) "
                         "(default 30)")
    sv.add_argument("--max-heavy", type=int, default=2, metavar="N",
                    help="batches, rankings, explanations and portfolio answers computed at once by a worker "
                    "(default 2); more wait for a turn, within --timeout, then 503 busy. A ranking of 10,000 with "
                    "sensitivity takes ~300 MB: N bounds a worker's memory")
    sv.add_argument("--watch", type=float, default=2.0, metavar="S",
                    help="look at the policy files for a change every S seconds (default 2; 0: only on SIGHUP "
                    "or POST /v1/policy/reload)")
    sv.add_argument("--mask", action="append", default=[], metavar="FIELD",
                    help="never show this field's value in the access log (repeatable; fields marked 'mask: true' "
                    "in the policy are masked too)")
    sv.add_argument("--log-inputs", action="store_true",
                    help="write the proposals into the access log (masked fields as ***); off by default")
    sv.add_argument("--access-log", metavar="FILE", help="the access log, JSON lines (default: standard error)")
    sv.add_argument("--portfolio", metavar="FILE", default=os.environ.get("PMO_PORTFOLIO"),
                    help="a portfolio file (YAML or JSON) whose conflicts, dependency graph and efficient frontier "
                    "the board (GET /) shows, read again when it changes (default: $PMO_PORTFOLIO; none)")
    sv.add_argument("--frontier", type=int, default=5, metavar="K",
                    help="with --portfolio: the board's efficient frontier at K budget levels (default 5; 0: none)")
    sv.add_argument("--status", nargs="+", action="extend", default=[], metavar="FILE",
                    help="status report files (as pmo health reads them): the board gets the portfolio health page "
                    "(RAG grid, S-curves, KPI tiles; with --portfolio the heat map and Gantt chart) and GET "
                    "/v1/health answers pmo health --format json's view; read again when they change")
    sv.add_argument("--columns", metavar="MAP", help="with --status: input profile for the status files, as for "
                    "pmo health (the export's column titles, number and date formats; README: Input profiles)")
    sv.add_argument("--sheet", metavar="NAME", help="with --status: worksheet of an .xlsx status file (default: the "
                    "first)")
    sv.add_argument("--history", action="store_true",
                    help="the same health page and GET /v1/health from the status reports that 'pmo status ingest' "
                    "stored in --log (instead of --status files); a report ingested while serving shows at once")


def serve(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.errors import Diagnostic, PmoError  # lazy: not for --help (tests/test_startup.py)
    try:
        # lazy: a command loads its stage when it runs (tests/test_startup.py)
        from engine.serve.app import Service
        from engine.serve.config import ServeConfig
        from engine.serve.run import listening_socket, run
    except ImportError as exc:  # pragma: no cover - the dependencies are in pyproject.toml
        if (exc.name or "").split(".")[0] not in ("fastapi", "uvicorn", "starlette", "anyio", "pydantic"):
            raise
        raise PmoError([Diagnostic("missing_dependency", f"pmo serve needs {exc.name}",
                                   hint="pip install 'pmo-engine' with its dependencies (fastapi, uvicorn)")]) from None
    if args.workers < 1 or args.max_body < 1 or args.max_batch < 1 or args.timeout <= 0 or args.watch < 0 \
            or not 0 <= args.port <= 65535 or not 0 <= args.frontier <= 100:
        raise PmoError([Diagnostic("usage", "--workers, --max-body, --max-batch and --timeout must be positive, "
                                   "--watch not negative, --port 0 to 65535, --frontier 0 to 100")])
    if args.history and args.status:
        raise PmoError([Diagnostic("usage", "--history and --status both name the status reports: give one (--history"
                                   " reads those stored in --log by pmo status ingest, --status reads files)")])
    if (args.columns or args.sheet) and not args.status:
        raise PmoError([Diagnostic("usage", "--columns and --sheet read the --status files" + (
            "; the reports --history reads from the log are typed already" if args.history else
            ": give --status FILE..."))])
    config = ServeConfig(host=args.host, port=args.port, log=str(args.log),
                         policies=str(args.policies) if args.policies else None,
                         rules=tuple(str(r) for r in args.rules), today=args.today.isoformat() if args.today else None,
                         backend=args.backend, workers=args.workers, tokens=args.tokens, max_body=args.max_body,
                         max_batch=args.max_batch, timeout=args.timeout, heavy=args.max_heavy, watch=args.watch, mask=tuple(args.mask),
                         log_inputs=args.log_inputs, access_log=args.access_log,
                         portfolio=str(args.portfolio) if args.portfolio else None, frontier=args.frontier,
                         status=tuple(str(s) for s in args.status), status_columns=args.columns,
                         status_sheet=args.sheet, history=args.history)
    gc.enable()  # main() pauses the collector for batch work; a long-running server must collect its cycles
    service = Service(config)  # a broken policy, log or tokens file stops here, before listening (exit 2)
    sock = listening_socket(config.host, config.port)  # a port in use: exit 2 here, before any line says it serves
    if config.port == 0:  # the port the system gave
        import dataclasses  # lazy: not for --help (tests/test_startup.py)
        config = dataclasses.replace(config, port=sock.getsockname()[1])
    warn(service.holder.current.engine, stderr)
    if config.policies is None:  # as pmo evaluate says it (engine/cli/common.py): someone else's governance
        print("pmo serve: note: deciding by the built-in example policies of an example utility (Northwind "
              "Utilities), as GET /v1/policy says (example: true); `pmo init DIR` starts your own set, then give "
              "--policies DIR/policies", file=stderr)
    if not service.tokens.required and not _loopback(config.host):
        print(f"pmo serve: warning: no tokens, and listening on {config.host}: anyone who can reach it may decide, "
              "override and reload; give --tokens or $PMO_TOKENS", file=stderr)
    print(f"pmo serve: http://{config.host}:{config.port} (docs at /docs), policy "
          f"{service.holder.current.engine.policy_hash}, log {config.log}, {config.workers} worker"
          f"{'s' if config.workers > 1 else ''}, {len(service.tokens) or 'no'} token"
          f"{'' if len(service.tokens) == 1 else 's'}", file=stderr)
    stderr.flush()
    run(config, service if config.workers == 1 else None, sock)
    return EXIT_OK


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"

