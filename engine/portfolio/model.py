"""Portfolio input: projects, their schedule, budget, resource demand and relations.

Problems name the project by its position in the list ("project 3") and its id, and say where it is
written: file:line:col in a YAML or JSON file, the row's line and the column's number in a CSV file.

Read from YAML, JSON or CSV. The smallest file is
``{"projects": [{"id": "A", "duration": 3}, {"id": "B", "duration": 2, "depends_on": ["A"]}]}``;
everything else is optional. Problems are collected and raised together as one InputError.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Diagnostic, InputError, Location, did_you_mean
from engine.expr.values import AmbiguousNumber, ValueProblem, data_number
from engine.io.readers import json_data, load_text_dates, unparsable
from engine.io.rows import csv_cell_limit

OUT = {"rejected", "reject", "cancelled", "canceled", "unfunded", "killed", "kill"}
SELECTED = {"approved", "accept", "funded", "selected", "active", "in-progress", "go", "completed"}
TOTAL = "total"  # a budget or a cost given as one amount, not by period
UNIT_DAYS = {"days": 1, "weeks": 7, "months": 30}  # only to turn dates into durations
# Other words a portfolio's status is written with (neither funded nor out): a status spelt like one of these or of
# the above but not one of them is a typo, refused (an 'aproved' project was in no check at all)
OTHER = {"proposed", "review", "hold", "on-hold", "recycle", "pending", "submitted", "draft", "candidate", "planned",
         "closed", "done", "paused", "deferred", "error"}
MAX_TIME = 36_500  # durations, lags and start/finish numbers, in the policy's unit: a schedule of longer than 100
# years of days runs past the last date a calendar can write (year 9999 in months)


@dataclass(frozen=True)
class Dependency:
    id: str
    lag: float = 0.0  # finish-to-start lag, in duration units


@dataclass
class Project:
    id: str
    name: str = ""
    status: str | None = None  # approved, rejected, proposed, ... (or an intake decision: accept, review, reject)
    rank: int | None = None  # 1 is the highest priority
    funded: bool | None = None
    start: float | dt.date | None = None
    finish: float | dt.date | None = None
    duration: float | None = None
    budget: dict[str, float] = field(default_factory=dict)  # period -> money
    demand: dict[str, dict[str, float]] = field(default_factory=dict)  # role -> period -> amount
    depends_on: list[Dependency] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    requires_together: list[str] = field(default_factory=list)
    cost: dict[str, float] = field(default_factory=dict)  # for selection: period (or "total") -> money
    value: float | None = None  # for selection: what choosing it is worth (default: its score)
    force: str | None = None  # for selection: "in" or "out"
    category: str | None = None
    objective: str | None = None
    window: tuple[str, str] | None = None  # for selection: earliest and latest start period
    proposal: dict[str, Any] | None = None  # for selection: intake fields, scored when no value is given
    cost_profile: list[float] = field(default_factory=list)  # with a window: cost in each period from the start
    demand_profile: dict[str, list[float]] = field(default_factory=dict)  # with a window: role -> by period
    spread: str | None = None  # for selection: how a total cost spreads over periods (even | window)
    rejected_at_intake: str | None = None  # for selection: the intake rules (or errors) that rule it out
    at: tuple[str | int, ...] = ()  # where the project is in the file's data: ("projects", 3), for locating problems

    @property
    def out(self) -> bool:
        """Rejected, cancelled or unfunded: not going ahead."""
        return (self.status or "").lower() in OUT or self.funded is False

    @property
    def selected(self) -> bool:
        """Going ahead: approved or funded (or, with no status at all, assumed to be)."""
        if self.out:
            return False
        return self.status is None or self.status.lower() in SELECTED or self.funded is True


@dataclass
class Portfolio:
    projects: dict[str, Project]
    source: str = "<memory>"
    budget: dict[str, float] | None = None  # overrides the policy's budget: period (or "total") -> money
    balance: list[dict[str, Any]] = field(default_factory=list)  # selection balance rules given with the portfolio
    spread: str | None = None  # for selection: how every total cost spreads over periods, unless a project says
    locate: Callable[..., Location] | None = None  # (path into the data, key=False) -> where it is written

    def __iter__(self) -> Iterator[Project]:
        return iter(self.projects.values())

    def where(self, *path: Any, key: bool = False) -> Location:
        """Where a value (or, with ``key``, a mapping key) of the file stands; the file itself when unknown."""
        return self.locate(path, key) if self.locate else Location(self.source)

    def where_in(self, project: Project, *path: Any, key: bool = False) -> Location:
        return self.where(*project.at, *path, key=key)


@dataclass
class _TextLocator:
    """Positions in a YAML (or JSON) text, found only when a problem needs one: the text is composed into
    nodes on first use, so a file without problems is read once, as before."""

    file: str
    text: str
    _root: Any = None
    _failed: bool = False

    def __call__(self, path: tuple[Any, ...], key: bool = False) -> Location:
        if self._root is None and not self._failed:
            try:
                self._root = yaml.compose(self.text, Loader=yaml.SafeLoader)
            except yaml.YAMLError:
                self._failed = True
        node, found = self._root, None
        for step in path:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if k.value == str(step)), None)
                if pair is None:
                    break
                found, node = pair
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
                found, node = None, node.value[step]
            else:
                break
        else:
            if key and found is not None:
                return _at(self.file, found)
        return _at(self.file, node) if node is not None else Location(self.file)


def _at(file: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
    return Location(file, mark.line + 1, mark.column + 1 + quoted)  # at the text, not at a quote


@dataclass
class _CsvLocator:
    """A CSV project is a row: its line, and the column's number from the header."""

    file: str
    lines: list[int]
    header: list[str]

    def __call__(self, path: tuple[Any, ...], key: bool = False) -> Location:
        if not path or not isinstance(path[0], int) or not 0 <= path[0] < len(self.lines):
            return Location(self.file)
        line = self.lines[path[0]]
        column = self.header.index(path[1]) + 1 if len(path) > 1 and path[1] in self.header else 0
        return Location(self.file, line, column)


def read_portfolio(path: str | Path) -> Portfolio:
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Diagnostic("unreadable", f"cannot read file: {exc}", Location(name))]) from None
    if not text.strip():  # an export that wrote nothing: not a portfolio without conflicts
        raise InputError([Diagnostic("empty_file", "the file is empty", Location(name),
                                     'a portfolio lists its projects: {"projects": [...]}, or a CSV with an id column')])
    suffix = path.suffix.lower()
    locate: Callable[..., Location] = _TextLocator(name, text)
    try:
        if suffix == ".csv":
            items, locate = _csv_items(text, name)
        elif suffix == ".json":
            items = json_data(text)
        elif suffix in (".yaml", ".yml"):
            items = load_text_dates(text)
        else:
            raise InputError([Diagnostic("unknown_format", f"cannot read '{suffix}' portfolio files", Location(name),
                                         "use .yaml, .json or .csv")])
    except (ValueError, yaml.YAMLError, csv.Error) as exc:
        raise InputError([unparsable(exc, name)]) from None
    return portfolio_from(items, name, locate)


def portfolio_from(data: Any, source: str = "<memory>", locate: Callable[..., Location] | None = None) -> Portfolio:
    """A Portfolio from plain data: {"projects": [...]} or a list of projects. ``locate`` says where a path
    into ``data`` is written (see read_portfolio)."""
    items = data.get("projects") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise InputError([Diagnostic("bad_file", 'expected {"projects": [...]}', Location(source))])
    problems: list[Diagnostic] = []
    if isinstance(data, dict):  # a misspelt key (budjet, balanse) was ignored: the selection ran without it
        for key in [k for k in data if k not in _TOP]:
            hint = did_you_mean(str(key), sorted(_TOP))
            problems.append(Diagnostic("bad_file", f"unknown key '{key}' (a portfolio file's keys: "
                                       f"{', '.join(sorted(_TOP))}){'; ' + hint if hint else ''}",
                                       locate((key,), key=True) if locate else Location(source),
                                       "capacity and tolerances come from the portfolio policy (kind: portfolio)"
                                       if str(key) in ("capacity", "tolerance") else None))
    projects: dict[str, Project] = {}
    prefix = ("projects",) if isinstance(data, dict) else ()

    def where(k: int) -> Location:
        return locate(prefix + (k,)) if locate else Location(source)
    for number, item in enumerate(items, 1):
        name = f"project {number}" + (f" ({item['id']})" if isinstance(item, dict) and item.get("id") else "")
        try:
            project = _project(item)
        except ValueError as exc:
            problems.append(Diagnostic("bad_project", f"{name}: {exc}", where(number - 1)))
            continue
        if project.id in projects:
            problems.append(Diagnostic("duplicate_project", f"{name}: project id '{project.id}' is used twice",
                                       where(number - 1)))
            continue
        project.at = prefix + (number - 1,)
        projects[project.id] = project
    budget = None
    if isinstance(data, dict) and data.get("budget") not in (None, ""):
        try:
            raw = data["budget"]
            total = _number(raw, "budget") if not isinstance(raw, dict) else None  # a number: raw is not empty
            budget = {"total": total} if total is not None else _by_period(raw, "budget")
        except ValueError as exc:
            problems.append(Diagnostic("bad_budget", str(exc), locate(("budget",)) if locate else Location(source),
                                       "write an amount (budget: 2000000), or amounts by period "
                                       "(budget: {2027-Q1: 800000, 2027-Q2: 700000})"))
    balance = data.get("balance", []) if isinstance(data, dict) else []
    spread = data.get("spread") if isinstance(data, dict) else None
    try:
        spread = _spread(spread)
    except ValueError as exc:
        problems.append(Diagnostic("bad_spread", str(exc), locate(("spread",)) if locate else Location(source)))
    if problems:
        raise InputError(problems)
    return Portfolio(projects, source, budget, balance if isinstance(balance, list) else [], spread, locate)


_TOP = {"projects", "budget", "balance", "spread"}  # the keys of a portfolio file


def _spread(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if text not in ("even", "window"):
        raise ValueError(f"spread: '{value}' must be even or window (over the budget's periods evenly, or by the "
                         "project's days in each, from its start to its finish)")
    return text


def intake_rejection(decision: Any) -> str:
    """Why intake ruled a proposal out, in a line: the reject rules with their reasons, or the row's errors."""
    rules = [f"{f.rule} ({f.reason})" for f in decision.findings if f.effect == "reject"]
    if rules:
        return "rule " + "; rule ".join(rules)
    errors = [e.message + (f" (column {e.column})" if e.column else "") for e in decision.errors]
    return "the proposal has errors: " + "; ".join(errors) if errors else f"decision: {decision.decision}"


def _project(item: Any) -> Project:
    if not isinstance(item, dict):
        raise ValueError(f"expected an object of fields, got {type(item).__name__}")
    unknown = set(item) - _FIELDS
    if unknown:
        raise ValueError(f"unknown field '{sorted(unknown)[0]}' (fields: {', '.join(sorted(_FIELDS))})")
    ident = item.get("id")
    if ident is None or not str(ident).strip():
        raise ValueError("'id' is required")
    p = Project(id=str(ident).strip(), name=str(item.get("name") or ident).strip())  # 'P6 ' is P6, as everywhere
    status = item.get("status") or item.get("decision")
    # as exports write it: 'In Progress', 'in_progress' and 'in-progress' are one status
    p.status = "-".join(str(status).lower().replace("_", " ").split()) if status not in (None, "") else None
    if p.status is not None and p.status not in SELECTED | OUT | OTHER:
        hint = did_you_mean(p.status, sorted(SELECTED | OUT | OTHER), cutoff=0.8)
        if hint:
            raise ValueError(f"status '{status}' is not a status pmo knows; {hint}")
    p.rank = _int(item.get("rank") if item.get("rank") not in (None, "") else item.get("priority"), "rank")
    if item.get("funded") not in (None, ""):
        p.funded = _bool(item["funded"], "funded")
    p.start, p.finish = _time(item.get("start"), "start"), _time(item.get("finish"), "finish")
    p.duration = _bounded(_number(item.get("duration"), "duration"), "duration")
    if p.duration is not None and p.duration < 0:
        raise ValueError("duration must not be negative")
    if p.start is not None and p.finish is not None and isinstance(p.start, dt.date) != isinstance(p.finish, dt.date):
        kinds = ("a date", "a number") if isinstance(p.start, dt.date) else ("a number", "a date")
        raise ValueError(f"start {shown(p.start)} is {kinds[0]} but finish {shown(p.finish)} is {kinds[1]}: give both as dates, "
                         "or both as numbers (network time in the portfolio policy's duration unit)")
    dates, times = dates_of(p), times_of(p)
    if dates and dates[1] < dates[0] or times and times[1] < times[0]:
        raise ValueError(f"finish {p.finish} is before start {p.start}")
    p.budget = _by_period(item.get("budget"), "budget")
    window = item.get("window")
    if window not in (None, ""):  # cost and demand are then profiles from the start, placed by the optimiser
        if not (isinstance(window, list) and len(window) == 2):
            raise ValueError("window: write [earliest start period, latest start period]")
        p.window = (str(window[0]), str(window[1]))
        p.cost_profile = _profile(item.get("cost"), "cost")
        demand_in = item.get("demand") or {}
        if not isinstance(demand_in, dict):
            raise ValueError("demand: with a window, map roles to a list by period from the start")
        p.demand_profile = {str(role): _profile(v, f"demand of {role}") for role, v in demand_in.items()}
        item = {k: v for k, v in item.items() if k not in ("cost", "demand")}
    demand = item.get("demand") or {}
    if isinstance(demand, str):
        demand = _parse_demand(demand)
    if not isinstance(demand, dict):
        raise ValueError("demand must map roles to {period: amount}")
    p.demand = {str(role): _by_period(amounts, f"demand of {role}") for role, amounts in demand.items()}
    p.cost = _cost(item.get("cost"))
    p.value = _number(item.get("value") if item.get("value") not in (None, "") else item.get("score"), "value")
    force = item.get("force")
    if force not in (None, ""):
        p.force = str(force).strip().lower()
        if p.force not in ("in", "out"):
            raise ValueError(f"force: '{force}' must be in or out")
    if item.get("proposal") is not None:
        if not isinstance(item["proposal"], dict):
            raise ValueError("proposal: expected the proposal's fields, e.g. {budget: 250000, alignment: ...}")
        p.proposal = dict(item["proposal"])
    p.spread = _spread(item.get("spread"))
    p.category = str(item["category"]) if item.get("category") not in (None, "") else None
    p.objective = str(item["objective"]) if item.get("objective") not in (None, "") else None
    p.depends_on = [_dependency(d) for d in _list(item.get("depends_on"))]
    p.excludes = [str(x).strip() for x in _list(item.get("excludes"))]
    p.requires_together = [str(x).strip() for x in _list(item.get("requires_together"))]
    return p


_FIELDS = {"id", "name", "status", "decision", "rank", "priority", "funded", "start", "finish", "duration", "budget",
           "demand", "depends_on", "excludes", "requires_together", "description", "owner", "score", "cost", "value",
           "force", "category", "objective", "window", "proposal", "spread"}


def _list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    if isinstance(value, list):
        return value
    raise ValueError(f"expected a list, got {value!r}")


def _dependency(value: Any) -> Dependency:
    if isinstance(value, dict):
        if "id" not in value:
            raise ValueError("a dependency needs an 'id'")
        return Dependency(str(value["id"]).strip(), _bounded(_number(value.get("lag"), "lag"), "lag") or 0.0)
    text = str(value)
    ident, sep, lag = text.partition(":")  # "B:5" in a CSV cell: B, with a lag of 5
    return Dependency(ident.strip(), (_bounded(_number(lag, "lag"), "lag") or 0.0) if sep else 0.0)


def shown(time: float | dt.date | None) -> str:
    """A start or finish as the file would write it: 2027-01-04, 30 (not 30.0)."""
    return f"{time:g}" if isinstance(time, float) else str(time)


def dates_of(p: Project) -> tuple[dt.date, dt.date] | None:
    """The project's start and finish, when both are dates."""
    if isinstance(p.start, dt.date) and isinstance(p.finish, dt.date):
        return p.start, p.finish
    return None


def times_of(p: Project) -> tuple[float, float] | None:
    """The project's start and finish, when both are numbers (network time)."""
    if p.start is None or p.finish is None or isinstance(p.start, dt.date) or isinstance(p.finish, dt.date):
        return None
    return p.start, p.finish


# digits in groups of three, by an apostrophe or a space (1'250'000, 1 250 000), with or without a fraction
_MARKS = "['\u2019 \u00a0\u202f]"
_GROUPED = re.compile(rf"[+-]?\d{{1,3}}(?:{_MARKS}\d{{3}})+(?:[.,]\d+)?")


def _number(value: Any, what: str) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a number, got {value}")
    if isinstance(value, str):  # text by the engine's one rule for data: what reads two ways is refused
        try:
            return _sized(float(data_number(value)), what)
        except AmbiguousNumber as exc:
            raise ValueError(f"{what}: {exc}") from None
        except ValueProblem:
            grouped = _GROUPED.fullmatch(value.strip())
            hint = (f"; a portfolio file's numbers are written plain, without grouping marks: "
                    f"{re.sub(_MARKS, '', grouped[0]).replace(',', '.')}" if grouped else "")
            raise ValueError(f"{what}: '{value}' is not a number{hint}") from None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: '{value}' is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{what}: '{value}' is not a finite number")
    return _sized(number, what)


MAX_AMOUNT = 1e15  # costs, budgets, values: the solver takes 1e20 as infinite, and doubles lose cents past 1e15


def _sized(number: float, what: str) -> float:
    if abs(number) >= MAX_AMOUNT:
        raise ValueError(f"{what}: {number:g} is more than pmo plans with (under 10^15); write it in a larger unit "
                         "(thousands, millions)")
    return number


def _int(value: Any, what: str) -> int | None:
    number = _number(value, what)
    if number is None:
        return None
    if number != int(number):
        raise ValueError(f"{what}: '{value}' is not a whole number")
    return int(number)


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "y", "1"):
        return True
    if text in ("false", "no", "n", "0"):
        return False
    raise ValueError(f"{what}: '{value}' is not yes/no")


def _time(value: Any, what: str) -> float | dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value.strip()) == 10 and value.strip()[4] == "-":
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{what}: '{value}' is not a valid date ({exc})") from None
    return _bounded(_number(value, what), what)


def _bounded(number: float | None, what: str) -> float | None:
    if number is not None and abs(number) > MAX_TIME:
        raise ValueError(f"{what}: {number:g} is more than {MAX_TIME:,} (100 years of days); write it in a larger "
                         "unit (the portfolio policy's unit: weeks, months)")
    return number


def _by_period(value: Any, what: str) -> dict[str, float]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        pairs = [p.split("=", 1) for p in value.split(";") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"{what}: write PERIOD=AMOUNT;PERIOD=AMOUNT")
        value = {k.strip(): v for k, v in pairs}
    if not isinstance(value, dict):
        raise ValueError(f"{what}: expected {{period: amount}}")
    out = {}
    for period, amount in value.items():
        number = _number(amount, f"{what} in {period}")
        if number is not None:
            if number < 0:
                raise ValueError(f"{what} in {period} must not be negative")
            out[str(period)] = number
    return out


def _profile(value: Any, what: str) -> list[float]:
    """Amounts by period from a project's start: [100, 250, 80]."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"{what}: with a window, give a list by period from the start, e.g. [100, 250]")
    out = [_number(v, f"{what} in period {k + 1}") for k, v in enumerate(value)]
    amounts = [v for v in out if v is not None and v >= 0]
    if len(amounts) < len(out):
        raise ValueError(f"{what}: amounts must be numbers from 0 up")
    return amounts


def _cost(value: Any) -> dict[str, float]:
    """A number (the total) or {period: amount}."""
    if value in (None, ""):
        return {}
    if isinstance(value, dict) or (isinstance(value, str) and "=" in value):
        return _by_period(value, "cost")
    number = _number(value, "cost")
    if number is None or number < 0:
        raise ValueError("cost must be a number from 0 up")
    return {"total": number}


def _parse_demand(text: str) -> dict[str, dict[str, str]]:
    """'engineer@2027-Q1=2;analyst@2027-Q2=1' from a CSV cell."""
    out: dict[str, dict[str, str]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        role, at, rest = part.partition("@")
        period, eq, amount = rest.partition("=")
        if not (at and eq):
            raise ValueError(f"demand: write ROLE@PERIOD=AMOUNT, got '{part}'")
        out.setdefault(role.strip(), {})[period.strip()] = amount.strip()
    return out


@csv_cell_limit()
def _csv_items(text: str, name: str) -> tuple[list[dict[str, str]], _CsvLocator]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    items, lines = [], []
    line = 2  # the first row after the header (a header over several lines is not expected)
    for row in reader:
        items.append(dict(row))
        lines.append(line)
        line = reader.line_num + 1
    return items, _CsvLocator(name, lines, [h for h in reader.fieldnames or []])
