"""Start the server: uvicorn with one process, or a supervisor and N worker processes.

Every process loads, checks and compiles the policy itself (the server keeps no state but the log). With
workers, uvicorn's supervisor would restart them all on SIGHUP, and a restarted worker given a broken policy
would have nothing to serve; here SIGHUP is passed on to each worker instead, which reloads as one process
does: a broken version never replaces a working one.
"""
from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, TypedDict

import uvicorn
from uvicorn.supervisors import Multiprocess

from engine.serve.config import CONFIG_ENV, ServeConfig

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


def run(config: ServeConfig, service: Service | None = None) -> None:
    """Serve until SIGINT or SIGTERM. ``service``: one already built in this process (one worker only)."""
    common = _Common(host=config.host, port=config.port, access_log=False, log_level="warning",
                     timeout_keep_alive=5, timeout_graceful_shutdown=10)
    if config.workers <= 1:
        # lazy: a supervisor of N workers never loads FastAPI; each worker does
        from engine.serve.app import create_app
        uvicorn.Server(uvicorn.Config(create_app(config, service), **common)).run()
        return
    os.environ[CONFIG_ENV] = config.to_env()
    settings = uvicorn.Config("engine.serve.run:app_from_environment", factory=True, workers=config.workers,
                              **common)
    _Workers(settings, sockets=[settings.bind_socket()]).run()
