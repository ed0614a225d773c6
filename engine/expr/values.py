"""The numeric model and conversion of outside values into expression values.

Numbers are decimals rounded to 15 significant digits, like a spreadsheet. That keeps
money exact (0.1 + 0.2 == 0.3) and guarantees that the Rete back end, which compares
IEEE doubles in C, orders any two of our numbers exactly as Python's Decimal does:
distinct decimals of at most 15 significant digits map to distinct, equally ordered doubles.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from fractions import Fraction
from typing import Any

DIGITS = 15
CONTEXT = Context(prec=DIGITS, rounding=ROUND_HALF_EVEN, Emax=300, Emin=-300,
                  traps=[InvalidOperation, DivisionByZero, Overflow])
ARITH_ERRORS = (InvalidOperation, DivisionByZero, Overflow, ZeroDivisionError, ValueError)


class ValueProblem(ValueError):
    """A value that does not fit the model; the message is written for a PMO analyst."""


class AmbiguousValue(ValueProblem):
    """A cell that reads as two different values; the message names both and the profile line to add."""

    code = "ambiguous_value"


def to_number(value: Any) -> Decimal:
    """An exact Decimal from int, float, Decimal or numeric text; rejects what would lose digits."""
    if isinstance(value, bool):
        raise ValueProblem(f"expected a number, got {'true' if value else 'false'}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueProblem(f"expected a finite number, got {value}")
        value = Decimal(repr(value))  # shortest text that round-trips: 0.1 stays 0.1
    elif isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        value = parse_number_text(value)
    elif not isinstance(value, Decimal):
        raise ValueProblem(f"expected a number, got {type(value).__name__}")
    return _exact(value)


def _exact(value: Decimal) -> Decimal:
    """``value`` if the engine keeps it exactly: finite, at most DIGITS significant digits, within 1e300."""
    if not value.is_finite():
        raise ValueProblem(f"expected a finite number, got {value}")
    digits = significant_digits(value)
    if digits > DIGITS:
        raise ValueProblem(f"{_clip(str(value))} has {digits} significant digits; at most {DIGITS} are kept exactly")
    if abs(value.adjusted()) > 300:
        raise ValueProblem(f"{_clip(str(value))} is out of range (at most 1e300)")
    return value


def significant_digits(number: Decimal) -> int:
    return len("".join(map(str, number.as_tuple().digits)).strip("0"))


def parse_number_text(text: str) -> Decimal:
    """'1250000', '1,250,000', '-3.5', '1.2e6', '12.5%' (as 0.125). Policy text: '.' is the decimal mark."""
    raw = text.strip()
    if not raw:
        raise ValueProblem("empty text is not a number")
    body = raw.replace("_", "")
    percent = body.endswith("%")
    if percent:
        body = body[:-1].strip()
    if "," in body:
        whole, _, frac = body.partition(".")
        groups = whole.lstrip("+-").split(",")
        if "," in frac:  # '1.234,50': a comma after the decimal point groups nothing; dropping it reads 1.2345
            raise ValueProblem(f"'{_clip(raw)}' is not a number (a comma after the decimal point)")
        if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]) and all(g.isdigit() for g in groups)):
            raise ValueProblem(f"'{raw}' is not a number (commas only as thousands separators)")
        body = body.replace(",", "")
    if not all(c in "0123456789+-.eE" for c in body):
        raise ValueProblem(f"'{_clip(raw)}' is not a number")
    try:
        number = Decimal(body)
    except InvalidOperation:
        raise ValueProblem(f"'{_clip(raw)}' is not a number") from None
    return number / 100 if percent else number


# One mark and three digits after it: a thousands group or a decimal fraction (250.000, 1,250). Proposal files
# settle it with an input profile (engine/io/profile.py); other data (project records, --set) is refused.
class AmbiguousNumber(ValueProblem):
    """Text that reads as two different numbers (250.000); the message names both."""

    code = "ambiguous_value"


# [sign] 1-3 digits, one mark, three digits: 250.000, -1,250
_TWO_WAYS = re.compile(r"[+-]?[1-9]\d{0,2}[.,]\d{3}")


def _two_ways(body: str, marks: str, grouped: str, zero: bool = False, shown: str = "") -> str | None:
    """Why ``body`` reads two ways (one of ``marks`` before three digits), or None. ``grouped``: how the place it
    comes from writes the thousands (a format of the whole and the group); ``zero``: only a group ending in 0;
    ``shown``: the text as written, when ``body`` is it cleaned."""
    if not _TWO_WAYS.fullmatch(body) or body[-4] not in marks or (zero and body[-1] != "0"):
        return None
    whole, mark, frac = body[:-4].lstrip("+"), body[-4], body[-3:]
    return (f"'{shown or body}' reads two ways: {whole}{frac} ('{mark}' grouping thousands) or {whole}.{frac} ('{mark}' as the "
            f"decimal mark); nothing is guessed: write {grouped.format(whole, frac)} or "
            f"{whole}.{frac.rstrip('0') or '0'}")


def data_number(value: Any) -> Decimal:
    """to_number for values from data rather than policy text: what reads two ways is refused, never guessed."""
    if isinstance(value, str):
        body = value.strip().replace("_", "").removesuffix("%").strip()
        if (problem := _two_ways(body, ".,", "{}{}", shown=value.strip())) is not None:
            raise AmbiguousNumber(problem)
    return to_number(value)


def written_two_ways(text: str, grouped: str, zero: bool = False) -> str | None:
    """What is wrong with a number a policy author wrote as ``text`` (a literal in an expression, a table cell, a
    YAML value) when it reads two ways: 100.000 is 100 to YAML, Python and Excel's English, and 100,000 to a
    European author. None when it reads one way. ``grouped``: how this place writes thousands (100_000).
    ``zero``: only a fraction that ends in 0 reads two ways (expressions and YAML, where 2.675 is a decimal: a
    decimal is not written with a trailing zero, a thousands group often is); table cells refuse every one."""
    return _two_ways(text.strip(), ".", grouped, zero)


def to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        day = text[:10] if len(text) > 10 and text[10] in "T " else text
        try:
            return dt.date.fromisoformat(day)
        except ValueError as exc:
            if len(day) == 10 and day[4] == day[7] == "-":
                raise ValueProblem(f"'{day}' is not a valid date ({exc})") from None
            raise ValueProblem(f"'{_clip(text)}' is not a date; write YYYY-MM-DD") from None
    raise ValueProblem(f"expected a date (YYYY-MM-DD), got {type(value).__name__}")


# Yes and no as spreadsheets and forms write them: English, and the words (and Excel's TRUE/FALSE) of German,
# French, Spanish, Italian, Dutch and Portuguese. None of them means the other in any of these languages.
_TRUE = {"true", "yes", "y", "1", "ja", "wahr", "oui", "vrai", "sí", "si", "verdadero", "sì", "vero", "waar",
         "sim", "verdadeiro"}
_FALSE = {"false", "no", "n", "0", "nein", "falsch", "non", "faux", "falso", "nee", "onwaar", "não", "nao"}


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise NotYesNo(f"'{_clip(str(value))}' is not yes/no; write true or false")


class NotYesNo(ValueProblem):
    """A value that is not yes or no (a reader that takes an input profile adds how to map other words)."""


def to_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        text = str(value)
    else:
        raise ValueProblem(f"expected text, got {type(value).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueProblem("text is not valid Unicode") from None
    return text.strip()


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


INT64_BOUND = Decimal(2**63)  # plain() and display() make an int below it; a Decimal, not an int: a Decimal
# compared with an int converts the int, every time


def plain(value: Any) -> Any:
    """An expression value as plain JSON data: numbers as int or float, dates as ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < INT64_BOUND else float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


MAX_ID = 200  # characters of a proposal id that a decision carries


def id_text(value: Any) -> str | None:
    """A proposal's id as every decision carries it (decided, error row, a row that stopped the workers): its text
    as written, at most MAX_ID characters; a whole number (a workbook's 1001.0, a typed 1001) without a fraction;
    None for no id (missing or empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(plain(value))[:MAX_ID]


_FIFTEEN_DIGITS = Context(prec=15, Emax=999_999)
EXACT_BELOW = 10 ** 15  # numbers from here have more than 15 significant digits: shown in scientific notation


def display(value: Any) -> str:
    """A value as a reason shows it to people: 1,250,000; 0.25; yes/no; (missing)."""
    kind = value.__class__
    if kind is Decimal:  # the usual value of a reason, first: as plain() and the lines below make it, shorter
        if value == value.to_integral_value() and abs(value) < INT64_BOUND:
            whole = int(value)
            if -EXACT_BELOW < whole < EXACT_BELOW:
                return f"{whole:,}"
        else:
            number = float(value)
            if abs(number) < EXACT_BELOW:
                return f"{number:,.4g}" if abs(number) < 1000 else f"{number:,.2f}"  # 1,250,000.50, not 1,250,000
    elif kind is str:
        return str(value)
    return _display(plain(value))


def fixed(value: Any, places: int = 2, grouped: bool = False) -> str:
    """A number (Decimal, Fraction, int or float) at ``places`` decimals for a table, rounded half up (away from
    zero) from its exact value: a float from its shortest text, the one JSON writes, so 0.975 shows 0.98 (the
    binary float's '{:.2f}' made it 0.97) and a figure equals its JSON. From 10**15 on, as :func:`display` shows
    it (1e+30, not a binary float's 31 digits); -0.00 is 0.00; None is '-'."""
    if value is None:
        return "-"
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        return str(value)
    exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    if abs(exact) >= EXACT_BELOW:
        return _display(int(exact))
    units = int(abs(exact) * 10 ** places + Fraction(1, 2))  # half up: floor(|x| * 10^places + 1/2)
    whole, part = divmod(units, 10 ** places)
    text = (f"{whole:,}" if grouped else str(whole)) + (f".{part:0{places}d}" if places else "")
    return f"-{text}" if exact < 0 and units else text


def _display(value: Any) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and abs(value) >= EXACT_BELOW:  # 1e300, not 301 digits
        if isinstance(value, float):
            return f"{value:.15g}"
        rounded = _FIFTEEN_DIGITS.create_decimal(value).normalize(_FIFTEEN_DIGITS)  # an int of any size
        return format(rounded, ".15g").replace("E", "e")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        # from 1,000 on, to the cent: 1,250,000.50 shown as 1,250,000 read as "1,250,000 is above 1,250,000"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)
