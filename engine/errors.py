"""Errors as data.

Every problem a user can cause is a :class:`Diagnostic` with a stable code and a
:class:`Location`. Exceptions carry diagnostics; they never carry only prose.

    PmoError                 the one root: ``except engine.PmoError`` catches all of ours
    ├── PolicyError          policy files are wrong; carries every diagnostic found
    ├── InputError           one proposal (or one input file) is wrong; carries its diagnostics
    └── LogError             (engine.store) the decision log cannot be opened or written
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Literal

from engine.limits import MAX_ERRORS

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file (1-based line and column). ``line`` 0 means the whole file."""

    file: str
    line: int = 0
    column: int = 0
    # For a value written over several lines: (line, column) of each of its characters.
    chars: tuple[tuple[int, int], ...] = field(default=(), compare=False, repr=False)
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
    it lies inside it (``.`` for the directory itself), else as given. A file that is a symbolic link keeps its own
    name (its folder is resolved, not the link: a ConfigMap's intake.yaml is not its ..2026_12_07/intake.yaml)."""
    given = Path(path)
    try:
        return str((given.parent.resolve() / given.name if given.name not in ("", "..") else given.resolve())
                   .relative_to(Path.cwd().resolve()))
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

    def sort_key(self) -> tuple[bool, str, int, int, str, str]:
        loc = self.location or Location("")
        return (self.code == LIMIT_REACHED, loc.file, loc.line, loc.column, self.code, self.message)  # the limit: last


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


class UsageError(PmoError, ValueError):
    """A call the API does not take: an unknown back end, a ``today`` that is not a date. A ValueError too, as
    it was before it had a root of its own."""


def as_day(today: object) -> dt.date | None:
    """``today`` as the API takes it: a date, a datetime (its date) or the text YYYY-MM-DD; None stays None."""
    if today is None or type(today) is dt.date:
        return today
    if isinstance(today, dt.datetime):
        return today.date()
    if isinstance(today, dt.date):
        return dt.date(today.year, today.month, today.day)
    if isinstance(today, str):
        try:
            return dt.date.fromisoformat(today.strip())
        except ValueError:
            pass
    raise UsageError(f"{today!r} is not a date; give a datetime.date or YYYY-MM-DD")


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """A "did you mean" hint, or None when nothing is close (``cutoff``: difflib's similarity, 0 to 1)."""
    match = get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f"did you mean '{match[0]}'?" if match else None


LIMIT_REACHED = "too_many_errors"  # the code of the note that says the limit was reached


@dataclass
class DiagnosticSink:
    """Collects diagnostics, so loading reports everything instead of the first: every warning, and errors up to
    ``limit`` (0: no limit). Errors past the limit are counted, not kept; ``limit_note()`` says how many."""

    limit: int = MAX_ERRORS
    items: list[Diagnostic] = field(default_factory=list)
    dropped: int = 0  # errors past the limit
    _kept_errors: int = 0

    def add(self, code: str, message: str, location: Location | None = None, hint: str | None = None) -> None:
        if code == "follow_on":  # caused by an error already reported (engine.expr.check.BROKEN): one cause, one message
            return
        self._keep(Diagnostic(code, message, location, hint))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for d in diagnostics:
            self._keep(d)

    def _keep(self, diagnostic: Diagnostic) -> None:
        if diagnostic.severity == "error":
            if self.limit and self._kept_errors >= self.limit:
                self.dropped += 1
                return
            self._kept_errors += 1
        self.items.append(diagnostic)

    def limit_note(self) -> Diagnostic | None:
        """The last diagnostic to show when errors were left out: how many, and how to see them."""
        if not self.dropped:
            return None
        return Diagnostic(LIMIT_REACHED, f"error limit reached ({self.limit}): {self.dropped} more not shown",
                          hint="--max-errors to see more (--max-errors 0: all)")

    def reported(self) -> list[Diagnostic]:
        """Every diagnostic kept, in order, then the limit's note when it was reached."""
        note = self.limit_note()
        return self.items + [note] if note is not None else list(self.items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]
