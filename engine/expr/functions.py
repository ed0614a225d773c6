"""Built-in functions of the expression language.

Each function states its types (checked when a policy loads) and its Python implementation
(shared by both back ends, so they cannot disagree). Unless a function says otherwise, a
null (missing) argument makes the result null.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from engine.expr.finance import irr, irr_all, npv, payback
from engine.expr.lookup import in_table, lookup
from engine.expr.nodes import BOOL, DATE, LIST_NUMBER, NULL, NUMBER, STRING, item_of
from engine.expr.regex import full_match
from engine.expr.values import ARITH_ERRORS, CONTEXT, to_date

Typer = Callable[[list[str]], str]  # argument types -> result type; raises TypeError with a message


@dataclass(frozen=True)
class Function:
    name: str
    signature: str  # as shown to policy authors
    doc: str
    typer: Typer
    impl: Callable[..., Any]
    null_propagates: bool = True
    constant_args: tuple[int, ...] = ()  # arguments that must be written as constants


def fixed(*params: str, returns: str) -> Typer:
    def typer(args: list[str]) -> str:
        if len(args) != len(params):
            raise TypeError(f"takes {len(params)} argument{'s' if len(params) != 1 else ''}, got {len(args)}")
        for i, (want, got) in enumerate(zip(params, args), 1):
            if got != want and got != NULL and want != "any":
                raise TypeError(f"argument {i} must be {want}, got {got}")
        return returns
    return typer


def numbers_or_list(args: list[str]) -> str:
    """min/max: one list of numbers, or two or more numbers."""
    if len(args) == 1 and args[0] in (LIST_NUMBER, NULL):
        return NUMBER
    if len(args) >= 2 and all(a in (NUMBER, NULL) for a in args):
        return NUMBER
    raise TypeError("takes a list of numbers, or two or more numbers")


def same_as_first(args: list[str]) -> str:
    if len(args) != 2:
        raise TypeError(f"takes 2 arguments, got {len(args)}")
    if NULL not in args and args[0] != args[1]:
        raise TypeError(f"both arguments must have the same type, got {args[0]} and {args[1]}")
    return args[0] if args[0] != NULL else args[1]


def length_typer(args: list[str]) -> str:
    if len(args) != 1 or not (item_of(args[0]) or args[0] in (STRING, NULL)):
        raise TypeError("takes one list or one text")
    return NUMBER


def date_typer(args: list[str]) -> str:
    """date("2027-01-31") or date(year, month, day)."""
    if len(args) == 1 and args[0] in (STRING, NULL):
        return DATE
    if len(args) == 3 and all(a in (NUMBER, NULL) for a in args):
        return DATE
    raise TypeError("takes one text constant (\"2027-01-31\") or three numbers (year, month, day)")


def _date(*parts: Any) -> dt.date | None:
    """A date from its text, or from year, month and day: null for a day the calendar lacks (2027-02-30)
    or parts that are not whole numbers, as other functions give null for input without a result."""
    if len(parts) == 1:
        return to_date(parts[0])
    parts = tuple(Decimal(p) for p in parts)
    if any(p != p.to_integral_value() for p in parts):
        return None
    try:
        return dt.date(*(int(p) for p in parts))
    except (ValueError, OverflowError):
        return None


def if_typer(args: list[str]) -> str:
    if len(args) != 3:
        raise TypeError(f"takes 3 arguments (condition, then, else), got {len(args)}")
    if args[0] not in (BOOL, NULL):
        raise TypeError(f"argument 1 must be a condition (bool), got {args[0]}")
    return same_as_first(args[1:])


def _if(condition: bool | None, then: Any, otherwise: Any) -> Any:
    """Three-valued: an unknown (null) condition gives null, neither branch."""
    if condition is None:
        return None
    return then if condition else otherwise


def _level(alignment: Any, objective: str) -> Decimal:
    """The level a proposal states for one objective (0 to 1); 0 for an objective it does not name."""
    level: Decimal = getattr(alignment, "levels", {}).get(objective, Decimal(0))
    return level


def serves_typer(args: list[str]) -> str:
    """serves("objective") (the policy's one alignment field, filled in by the checker) or serves(field, "objective")."""
    fixed(NUMBER, STRING, returns=BOOL)(args)
    return BOOL


def _min_max(pick: Callable[[tuple[Any, ...]], Any]) -> Callable[..., Any]:
    def impl(*args: Any) -> Any:
        values = args[0] if len(args) == 1 else args
        if not values or any(v is None for v in values):
            return None
        return pick(values)
    return impl


def _sum(values: tuple[Decimal | None, ...]) -> Decimal | None:
    total = Decimal(0)
    for v in values:
        if v is None:
            return None
        total = CONTEXT.add(total, v)
    return total


def _round(x: Decimal, places: Decimal) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP, context=CONTEXT)


def _add_days(day: dt.date, days: Decimal) -> dt.date | None:
    try:
        return day + dt.timedelta(days=int(days))
    except (OverflowError, *ARITH_ERRORS):
        return None


FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    Function("date", 'date("2027-01-31") | date(year, month, day)', "a date constant, or the date of those "
             "parts (null if the calendar has no such day; an error at load if all parts are constants)",
             date_typer, _date, constant_args=(0,)),
    Function("today", "today()", "the run's date, fixed once per run (Engine.load(today=...) overrides it)",
             fixed(returns=DATE), lambda: None),  # replaced by a constant when compiled
    Function("days_between", "days_between(start, end)", "days from start to end (negative if end is earlier)",
             fixed(DATE, DATE, returns=NUMBER), lambda a, b: Decimal((b - a).days)),
    Function("add_days", "add_days(date, days)", "the date that many days later", fixed(DATE, NUMBER, returns=DATE),
             _add_days),
    Function("year", "year(date)", "the calendar year", fixed(DATE, returns=NUMBER), lambda d: Decimal(d.year)),
    Function("month", "month(date)", "the month, 1-12", fixed(DATE, returns=NUMBER), lambda d: Decimal(d.month)),
    Function("day", "day(date)", "the day of the month, 1-31", fixed(DATE, returns=NUMBER), lambda d: Decimal(d.day)),
    Function("weekday", "weekday(date)", "the ISO weekday: 1 = Monday .. 7 = Sunday", fixed(DATE, returns=NUMBER),
             lambda d: Decimal(d.isoweekday())),
    Function("level", 'level(alignment, "objective") | alignment["objective"]', "the level (0 to 1) the proposal "
             "states for one objective of the strategy; 0 if it does not name it", fixed(NUMBER, STRING, returns=NUMBER),
             _level, constant_args=(1,)),
    Function("serves", 'serves("objective") | serves(alignment, "objective")', "true if the proposal states a level "
             "above 0 for that objective (the policy's alignment field unless one is named)", serves_typer,
             lambda alignment, objective: _level(alignment, objective) > 0, constant_args=(1,)),
    # lookup() and "key in table" are typed by the checker (the column's type), which passes the table as a constant
    Function("lookup", 'lookup(table, key, "column")', "the column's value in the row of a lookup table (kind: lookup) "
             "with that key; null if no row has it", fixed("table", "any", STRING, returns=NULL), lookup,
             constant_args=(2,)),
    Function("in_table", "key in table", "true if a row of the lookup table has that key (written 'key in table')",
             fixed("table", "any", returns=BOOL), in_table),
    Function("npv", "npv(rate, cash_flows)", "net present value, first flow at period 0 (undiscounted)",
             fixed(NUMBER, LIST_NUMBER, returns=NUMBER), npv),
    Function("irr", "irr(cash_flows)", "internal rate of return in [-99.99%, 1000%], the one closest to 0 if "
             "there are several; null if none", fixed(LIST_NUMBER, returns=NUMBER), irr),
    Function("irr_all", "irr_all(cash_flows)", "every internal rate of return in [-99.99%, 1000%], ascending",
             fixed(LIST_NUMBER, returns=LIST_NUMBER), irr_all),
    Function("payback", "payback(cash_flows)", "periods until cumulative cash flow is non-negative; null if never",
             fixed(LIST_NUMBER, returns=NUMBER), payback),
    Function("len", "len(list_or_text)", "number of items or characters", length_typer,
             lambda v: Decimal(len(v))),
    Function("sum", "sum(numbers)", "total of a list of numbers", fixed(LIST_NUMBER, returns=NUMBER), _sum),
    Function("min", "min(numbers) | min(a, b, ...)", "smallest; null if empty", numbers_or_list, _min_max(min),
             null_propagates=False),
    Function("max", "max(numbers) | max(a, b, ...)", "largest; null if empty", numbers_or_list, _min_max(max),
             null_propagates=False),
    Function("abs", "abs(x)", "absolute value", fixed(NUMBER, returns=NUMBER), lambda x: abs(x)),
    Function("round", "round(x, places)", "rounded to that many decimal places, halves away from zero (as spreadsheets do)",
             fixed(NUMBER, NUMBER, returns=NUMBER), _round),
    Function("matches", 'matches(text, "regex")', "true if the whole text matches the regular expression (RE2: no backreferences or lookaround)",
             fixed(STRING, STRING, returns=BOOL), full_match, constant_args=(1,)),
    Function("contains", "contains(text, part)", "true if part occurs in text",
             fixed(STRING, STRING, returns=BOOL), lambda t, p: p in t),
    Function("startswith", "startswith(text, prefix)", "true if text starts with prefix",
             fixed(STRING, STRING, returns=BOOL), lambda t, p: t.startswith(p)),
    Function("lower", "lower(text)", "text in lower case", fixed(STRING, returns=STRING), str.lower),
    Function("upper", "upper(text)", "text in upper case", fixed(STRING, returns=STRING), str.upper),
    Function("coalesce", "coalesce(value, fallback)", "value, or fallback when value is null",
             same_as_first, lambda v, d: d if v is None else v, null_propagates=False),
    Function("if", "if(condition, then, else)", "then if the condition is true, else if it is false, null if it "
             "is unknown; then and else have one type", if_typer, _if, null_propagates=False),
]}


def call(function: Function, args: list[Any]) -> Any:
    """Apply a function with the language's null and arithmetic-error rules."""
    if function.null_propagates and None in args:  # the values compare unequal to None: identity decides
        return None
    try:
        return function.impl(*args)
    except ARITH_ERRORS:
        return None


def field_call(function: Function, name: str, constants: tuple[Any, ...]) -> Callable[[Mapping[str, Any]], Any] | None:
    """``call`` of f(field) or f(field, constant) (matches(id, "PRJ-[0-9]+"), lower(name)) as one function of a
    record, reading the field itself: no function per argument and no list (engine.expr.evaluate.compiled uses it
    for the values computed on every row). None when a constant is null and nulls propagate (always null: the
    general way says so)."""
    impl, propagates = function.impl, function.null_propagates
    if propagates and None in constants:
        return None

    def called(record: Mapping[str, Any]) -> Any:
        value = record.get(name)
        if value is None and propagates:
            return None
        try:
            return impl(value, *constants)
        except ARITH_ERRORS:
            return None
    return called
