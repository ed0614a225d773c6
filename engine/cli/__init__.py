"""The ``pmo`` command: a thin layer over :class:`engine.Engine` and the tasks (engine/tasks/).

Exit codes (documented in the README; one code never means two things):
    0  ran; every input row was decided (whatever the decisions were)
    1  ran, but some input rows were bad: they are error rows in the output, the rest were decided
    2  usage or policy error: nothing was decided
    3  internal error (a bug): please report it
  130  interrupted (Ctrl-C)

Each command group (engine/cli/*.py) declares its commands in ``register(subparsers)``; a command loads the
stages it uses only when it runs, so ``pmo --help`` and ``pmo <command> --help`` start at once.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, cast

if TYPE_CHECKING:
    from engine.cli.options import Subparsers

EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports a process SIGINT ended


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; for an ``argv`` that names a command, of the commands up to that one's group
    (searched most used first): a short command's own parse was mostly building the other 27 commands' parsers."""
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.cli import authoring, governance, health, history, intake, lessons, policies, portfolio, ranking, serve
    groups = (intake, ranking, portfolio, governance, policies, authoring, health, history, lessons, serve)  # the order of the commands in --help
    wanted = argv[0] if argv and not argv[0].startswith("-") else None
    if wanted is not None:
        parser, sub = _top_parser()
        for group in (policies, intake, authoring, ranking, health, history, governance, portfolio, lessons, serve):
            group.register(sub)
            if wanted in sub.choices:
                return parser
    parser, sub = _top_parser()  # every command, in --help's order (an unknown one: argparse lists them all)
    for group in groups:
        group.register(sub)
    return parser


def _top_parser() -> tuple[argparse.ArgumentParser, Subparsers]:
    from engine import __version__
    from engine.cli.common import EPILOG
    from engine.cli.options import Parser
    parser = Parser(prog="pmo", description="Rules-based governance for a Project Management Office: "
                    "screen project proposals against declarative policy files and explain every decision.",
                    epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pmo-engine {__version__}")
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)


def main(argv: Sequence[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run one pmo command; return its exit code. A Ctrl-C at any point (while the command's stages load,
    or while it runs) exits 130 with one line, never a traceback."""
    from engine.gcpause import no_gc_pauses
    try:
        # Start-up allocates many objects and frees few (pydantic's models, the parsers), so the cyclic
        # collector would only rescan them; a batch holds every row, which it would rescan often.
        with no_gc_pauses():
            return _main(argv, stdout or sys.stdout, stderr or sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=stderr or sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None, stdout: IO[str], stderr: IO[str]) -> int:
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.cli.common import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
    from engine.cli.options import Run
    from engine.io.safe_text import TerminalText
    # messages quote proposal text: control characters shown, not sent (a TerminalText passes the rest of IO on)
    stderr = cast(IO[str], TerminalText(stderr))
    try:
        parser = build_parser(sys.argv[1:] if argv is None else argv)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)  # --help, --version and usage errors print and exit here
    except SystemExit as exc:
        return int(exc.code or 0)
    stdout = _for_people(stdout, args)
    if args.command is None:
        parser.print_help(stdout)
        return EXIT_USAGE
    try:
        run: Run = args.run  # set by the command's parser (engine.cli.options.command)
        return run(args, stdout, stderr)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001
        # lazy: a command that raised a PmoError has loaded engine.errors; --help never does (tests/test_startup.py)
        from engine.errors import PmoError
        if isinstance(exc, PmoError):
            for diagnostic in exc.diagnostics:
                print(diagnostic, file=stderr)
            return EXIT_USAGE
        saved = _crash_report(argv, exc)
        where = f", with {saved}" if saved else ""
        print(f"pmo: internal error: {type(exc).__name__}: {exc} (please report it{where})", file=stderr)
        return EXIT_INTERNAL


def _crash_report(argv: Sequence[str] | None, exc: BaseException) -> str | None:
    """The traceback a bug report needs, in a file (not on the user's screen); None if it cannot be written."""
    import platform
    import tempfile
    import traceback

    from engine import __version__
    words = list(sys.argv[1:] if argv is None else argv)
    text = (f"pmo {' '.join(words)}\npmo-engine {__version__}, Python {platform.python_version()}, "
            f"{platform.platform()}\n\n" + "".join(traceback.format_exception(exc)))
    try:
        handle, path = tempfile.mkstemp(prefix="pmo-crash-", suffix=".txt")
        with open(handle, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError:
        return None
    return path


def _for_people(stdout: IO[str], args: argparse.Namespace) -> IO[str]:
    """Standard output with control characters shown, not sent (engine/io/safe_text.py): tables, and JSON,
    which stays exact JSON. A CSV piped or redirected is data, written exactly (its writer makes every
    text encodable); on a terminal it is escaped too."""
    if getattr(args, "format", None) == "csv" and not (hasattr(stdout, "isatty") and stdout.isatty()):
        return stdout
    # lazy: a command loads its stage when it runs (tests/test_startup.py)
    from engine.io.safe_text import TerminalText
    return cast(IO[str], TerminalText(stdout))  # it passes the rest of IO on to stdout


# What the command line sets for its own process (and its workers) before any library loads; a value the user
# exported wins. Measured on the 2-core machine (docs/benchmarks.md, start-up): OpenBLAS starts a thread per
# core when numpy loads (0.2 s wall, 0.3 s CPU; 0.1 s with one thread), for matrices of a few criteria, and
# pydantic scans every installed package's entry points for plugins before its first model (about 0.08 s).
# Neither is a setting a library may take from its caller, so `import engine` sets nothing.
PROCESS_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "PYDANTIC_DISABLE_PLUGINS": "__all__"}


def main_exit() -> None:
    """Console-script entry point."""
    import gc
    import os
    for name, value in PROCESS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    # The process ends with its command: the collector stays paused after main() (which restores it for a
    # library caller), so neither the first allocation after main() nor the interpreter's exit walks every
    # object start-up made (~30 ms after pmo validate) only to free what the exit frees anyway. pmo serve
    # turns it back on for itself.
    gc.disable()
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    main_exit()
