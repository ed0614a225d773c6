"""Errors as data.

Every problem a user can cause is a :class:`Diagnostic` with a stable code and a
:class:`Location`. Exceptions carry diagnostics; they never carry only prose.

    PmoError                 the one root: ``except engine.PmoError`` catches all of ours
    ├── PolicyError          policy files are wrong; carries every diagnostic found
    ├── InputError           one proposal (or one input file) is wrong; carries its diagnostics
    └── LogError             (engine.store) the decision log cannot be opened or written
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file (1-based line and column). ``line`` 0 means the whole file."""

    file: str
    line: int = 0
    column: int = 0
    # For a value written over several lines: (line, column) of each of its characters.
    chars: tuple = field(default=(), compare=False, repr=False)
    # A cell of a spreadsheet (decision tables): the sheet's name ("" for a CSV file); line is the row and
    # column the column (1 = A), shown as a spreadsheet shows them: Book.xlsx!Intake!D12 (routes.csv!D12).
    sheet: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.sheet is not None:
            return cell_name(self.file, self.sheet, self.line, self.column)
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"

    def shifted(self, columns: int) -> Location:
        """Where character ``columns`` of the value stands (for positions inside an expression): on the same
        line, further right, unless the value spans several lines. A spreadsheet cell stays the cell."""
        if self.sheet is not None:
            return self
        if self.chars and 0 <= columns < len(self.chars):
            return Location(self.file, *self.chars[columns])
        return Location(self.file, self.line, self.column + columns) if self.line else self


def display_path(path: str | Path) -> str:
    """A file as diagnostics and reports name it, as the user can open it: relative to the working directory when
    it lies inside it (``.`` for the directory itself), else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def column_letters(column: int) -> str:
    """1 -> A, 27 -> AA: a spreadsheet's column name."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def cell_name(file: str, sheet: str, row: int, column: int) -> str:
    """Book.xlsx!Intake!D12 (a CSV file has no sheet: routes.csv!D12); the row alone when column is 0."""
    place = f"{column_letters(column)}{row}" if row else ""
    return "!".join(part for part in (file, sheet, place) if part)


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    location: Location | None = None
    hint: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.severity}[{self.code}]: {self.message}"
        return f"{text}; {self.hint}" if self.hint else text

    def sort_key(self) -> tuple:
        loc = self.location or Location("")
        return (loc.file, loc.line, loc.column, self.code, self.message)


class PmoError(Exception):
    """Root of every error this package raises on purpose."""

    def __init__(self, diagnostics: Iterable[Diagnostic] | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic("error", diagnostics)]
        self.diagnostics: list[Diagnostic] = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class PolicyError(PmoError):
    """The policy set cannot be used. ``diagnostics`` lists every problem found (up to a limit)."""


class InputError(PmoError):
    """A proposal or an input file is malformed. Batch APIs turn this into an error decision."""


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """A "did you mean" hint, or None when nothing is close (``cutoff``: difflib's similarity, 0 to 1)."""
    match = get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f"did you mean '{match[0]}'?" if match else None


@dataclass
class DiagnosticSink:
    """Collects diagnostics up to a limit, so loading reports everything instead of the first."""

    limit: int = 100
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, code: str, message: str, location: Location | None = None, hint: str | None = None) -> None:
        if code == "follow_on":  # caused by an error already reported (engine.expr.check.BROKEN): one cause, one message
            return
        if len(self.items) < self.limit:
            self.items.append(Diagnostic(code, message, location, hint))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for d in diagnostics:
            if len(self.items) < self.limit:
                self.items.append(d)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]
