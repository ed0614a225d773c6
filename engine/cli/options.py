"""Options several pmo commands share, each defined once, and the way a command is declared.

A command group module (engine/cli/*.py) has one ``register(subparsers)`` that declares its commands with
:func:`command` and these options; the command's function is set as the parser's default ``run``.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn, TypeAlias

from engine.cli.common import EXIT_USAGE, date_arg, wrap
from engine.store.address import DEFAULT_PATH, is_address

# A command's function: (parsed arguments, standard output, standard error) -> exit code.
Run: TypeAlias = Callable[[argparse.Namespace, IO[str], IO[str]], int]
# What each command group's register(sub) is given (argparse's type is private, and generic only to type checkers).
Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"

FILES_HELP = "proposal files (.csv .tsv .xlsx .json .jsonl .yaml)"


class Parser(argparse.ArgumentParser):
    """argparse with pmo's exit code for usage errors, and help texts that may be built only when shown
    (an ``epilog`` given as a function: the expression functions' list costs an import)."""

    def error(self, message: str) -> NoReturn:  # argparse exits 2 on usage errors too; keep its wording
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def format_help(self) -> str:
        epilog: str | Callable[[], str] | None = self.epilog  # a function: see the class docstring
        if callable(epilog):
            self.epilog = epilog()
        return super().format_help()


def command(sub: Subparsers, name: str, run: Run, summary: str | None, description: str | None = None,
            epilog: str | Callable[[], str] | None = None, wrapped: bool = True) -> argparse.ArgumentParser:
    """A subcommand whose function is ``run``. ``description`` is wrapped for a terminal unless ``wrapped``
    is false; with an ``epilog``, both are printed as written."""
    kwargs: dict[str, Any] = {"help": summary} if summary is not None else {}  # add_parser's keywords
    if epilog is not None:
        kwargs.update(epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    if description is not None:
        kwargs["description"] = wrap(description) if wrapped else description
    parser = sub.add_parser(name, **kwargs)
    parser.set_defaults(run=run)
    return parser


def policy_options(parser: argparse.ArgumentParser) -> None:
    """--policies, --rules and --today: which policy set, and the date today() means in it."""
    parser.add_argument("--policies", metavar="DIR", type=Path,
                        help="policy folder (default: the reference policies shipped with pmo)")
    parser.add_argument("--rules", metavar="DIR", type=Path, action="append", default=[],
                        help="extra rule-library folder (repeatable), searched before the built-in rules/")
    parser.add_argument("--today", metavar="YYYY-MM-DD", type=date_arg,
                        help="the date today() means in policies (default: the current date)")


def batch_options(parser: argparse.ArgumentParser) -> None:
    """--columns, --report and --title: how an intake round is read, and its board report."""
    parser.add_argument("--columns", metavar="MAP", type=Path, help="YAML file mapping the input's column titles "
                        "to policy fields, e.g. 'Total Cost (EUR): budget' (fields' aliases in the policy work "
                        "too); as an input profile it also declares the export's locale (de-DE), currency, "
                        "dates ([DD.MM.YYYY]) and value maps (README: Input profiles)")
    parser.add_argument("--report", metavar="HTML", type=Path, help="also write the board report: one "
                        "self-contained HTML file (KPIs, charts, the ranked table, each decision explained)")
    parser.add_argument("--title", default=None, help="the report's title (default: Intake round report)")
    parser.add_argument("--status", nargs="+", action="extend", type=Path, metavar="FILE", help="with --report: add "
                        "the health page from these status reports (RAG grid, S-curves, KPI tiles; with pmo rank "
                        "--portfolio also the capacity heat map and the Gantt chart); after the proposal files")


LOG_HELP = ("a SQLite file, or a PostgreSQL log shared by a team: postgresql://user@host:5432/db "
            f"(default: $PMO_LOG or ./{DEFAULT_PATH})")


def workers_arg(text: str) -> int:
    """--workers N: a whole number of processes, 1 or more (1: none started)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of worker processes") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count}: give 1 or more worker processes (1: no workers)")
    return count


def log_arg(text: str) -> str | Path:
    """argparse type for --log: a postgresql:// address as it is, anything else the path of a SQLite file."""
    return text if is_address(text) else Path(text)


def default_log() -> str:
    return os.environ.get("PMO_LOG") or DEFAULT_PATH


def log_options(parser: argparse.ArgumentParser) -> None:
    """--log and --no-log: the decision log a command appends to."""
    parser.add_argument("--log", metavar="DB", type=log_arg, default=default_log(),
                        help=f"the decision log to append to: {LOG_HELP}")
    parser.add_argument("--no-log", action="store_true", help="do not record the decisions")


def log_query_options(parser: argparse.ArgumentParser) -> None:
    """--log (or --db): the decision log a command reads."""
    parser.add_argument("--log", "--db", dest="db", type=log_arg, default=default_log(), metavar="DB",
                        help=f"the decision log: {LOG_HELP}")


def sheet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sheet", metavar="NAME", help="worksheet of an .xlsx input (default: the first)")


def out_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="PATH", type=Path, help="write here instead of standard output")


def backend_option(parser: argparse.ArgumentParser, decides: str = "") -> None:
    parser.add_argument("--backend", choices=("rete", "reference"), default="rete",
                        help=f"rule back end{decides}: rete (durable_rules, default) or reference (plain Python)")
