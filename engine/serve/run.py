"""Start the server: uvicorn with one process, or a supervisor and N worker processes.

Every process loads, checks and compiles the policy itself (the server keeps no state but the log). With
workers, uvicorn's supervisor would restart them all on SIGHUP, and a restarted worker given a broken policy
would have nothing to serve; here SIGHUP is passed on to each worker instead, which reloads as one process
does: a broken version never replaces a working one.
"""
from __future__ import annotations

import errno
import os
import signal
import socket
from typing import TYPE_CHECKING, TypedDict

import uvicorn
from uvicorn.supervisors import Multiprocess

from engine.errors import Diagnostic, PmoError
from engine.serve.config import CONFIG_ENV, SUPERVISOR_ENV, ServeConfig
from engine.serve.http import Config

if TYPE_CHECKING:  # annotations only: a supervisor of N workers never loads FastAPI
    from fastapi import FastAPI

    from engine.serve.app import Service


class _Common(TypedDict):
    """The uvicorn settings of both ways to run."""

    host: str
    port: int
    access_log: bool
    log_level: str
    timeout_keep_alive: int
    timeout_graceful_shutdown: int


class _Workers(Multiprocess):
    def handle_hup(self) -> None:
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGHUP)


def app_from_environment() -> FastAPI:
    """uvicorn's factory in each worker process: the options come from the supervisor as JSON."""
    # lazy: a supervisor of N workers never loads FastAPI; each worker does
    from engine.serve.app import create_app
    return create_app(ServeConfig.from_env())


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound here before anything says it serves (as uvicorn binds it: SO_REUSEADDR, and
    inheritable for the workers). A port that cannot be had is a PmoError (exit 2) of one line, not uvicorn's
    log line and exit code."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            why, hint = "the port is in use (another pmo serve, or another program)", \
                f"stop what listens there (ss -ltnp 'sport = :{port}' shows it), or give another --port"
        elif exc.errno == errno.EACCES:
            why, hint = "permission denied (ports below 1024 need privileges)", "give a --port from 1024 up"
        elif exc.errno in (errno.EADDRNOTAVAIL, socket.EAI_NONAME) or isinstance(exc, socket.gaierror):
            why, hint = f"the address is not one of this machine's ({exc.strerror or exc})", \
                "give a --host this machine has (127.0.0.1, 0.0.0.0 for every address)"
        else:
            why, hint = exc.strerror or str(exc), "give another --host or --port"
        raise PmoError([Diagnostic("cannot_listen", f"cannot listen on {where}: {why}; {hint}")]) from None
    sock.set_inheritable(True)
    return sock


def run(config: ServeConfig, service: Service | None = None, sock: socket.socket | None = None) -> None:
    """Serve until SIGINT or SIGTERM. ``service``: one already built in this process (one worker only);
    ``sock``: the listening socket (listening_socket), bound before start-up said it serves."""
    sock = sock or listening_socket(config.host, config.port)
    common = _Common(host=config.host, port=config.port, access_log=False, log_level="warning",
                     timeout_keep_alive=5, timeout_graceful_shutdown=10)
    if config.workers <= 1:
        # lazy: a supervisor of N workers never loads FastAPI; each worker does
        from engine.serve.app import create_app
        uvicorn.Server(Config(create_app(config, service), head_timeout=config.timeout, **common)).run(sockets=[sock])
        return
    os.environ[CONFIG_ENV] = config.to_env()
    os.environ[SUPERVISOR_ENV] = str(os.getpid())  # POST /v1/policy/reload in a worker signals it (SIGHUP)
    settings = Config("engine.serve.run:app_from_environment", factory=True, workers=config.workers,
                      head_timeout=config.timeout, **common)
    _Workers(settings, sockets=[sock]).run()
