"""The default error limit, apart from engine/errors.py (which owns the sink that applies it) so that the command
line can show it in ``pmo validate --help`` without loading the diagnostics and dataclasses (tests/test_startup.py)."""

MAX_ERRORS = 100  # errors a sink keeps by default (pmo validate --max-errors)
