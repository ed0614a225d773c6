"""An input profile: how one export writes its values, declared once and read by every row.

The ``--columns`` file grew into this. An old-style file (a flat map ``column title: field``) is a
profile with a header map and nothing else. A profile file has a ``columns:`` map and any of::

    columns: {Number: id, Short description: title, Estimated cost: budget}
    locale: de-DE                      # numbers as 1.234.567,89 and dates in the locale's order (dd.MM.y)
    numbers: {decimal: ",", grouping: "."}    # or the marks themselves (these win over the locale's)
    currency: EUR                      # amounts may carry EUR or €; any other currency is an error row
    dates: [DD.MM.YYYY, excel]         # date formats tried, in any order; ISO 2027-03-15 is always read
    values:                            # per field (or column title): cell text -> the policy's value
      risk: {Low: 1, Medium: 3, High: 5}
    alignment_strength: strong         # a cell naming objectives without a level serves them this strongly
    carry: [Title, Department, "Cost Centre"]  # input columns written, as read, into every output row

Without a declared format nothing is guessed: a value that reads two ways (``250.000``, ``03/04/2027``)
raises :class:`AmbiguousValue` naming both readings and the profile line that settles it. The rules for
what is unambiguous are in README.md ("Input profiles") and in :func:`read_number` / :func:`read_date`.
Locale data (marks, grouping, date order) comes from Babel (CLDR); parsing in a locale is Babel's
strict ``parse_decimal``.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from engine.errors import Diagnostic, DiagnosticSink, InputError, Location, did_you_mean
from engine.expr.values import AmbiguousValue, ValueProblem, display, to_date
from engine.io.columns import OUTPUT_COLUMNS
from engine.io.named_dates import read_named_date
from engine.io.rows import column_key
from engine.policy.source import load_document

SPACES = " \u00a0\u202f"  # space, no-break space, narrow no-break space: grouping marks only
GROUP_ONLY = SPACES + "'\u2019"  # marks that never stand for a decimal point (1'234.5, 1 234,5)
SCALE = {"k": 3, "K": 3, "m": 6, "M": 6, "MM": 6, "mn": 6, "Mio": 6, "bn": 9, "B": 9, "Mrd": 9, "Md": 9, "Mds": 9}
_SCALED_SYMBOL = re.compile(r"^(?P<scale>[A-Z]{1,2})(?P<symbol>[€£])$")  # 'M€', 'K£': no currency is written so
CURRENCY = r"(?:[A-Z]{3}|[A-Z]{0,2}[$€£¥₹₩₪₫₦₱₲₴₵₸₺₼₽฿¢])"
_FRONT = re.compile(rf"^(?P<cur>{CURRENCY})\s*(?P<rest>.*)$")
_BACK = re.compile(rf"^(?P<rest>.*?)\s*(?P<cur>{CURRENCY})$")
_SUFFIX = re.compile(r"^(?P<rest>.*?\d)\s*(?P<suffix>[A-Za-z]{1,3})(?P<stop>\.?)$")
ABBREVIATED = {"Mio", "Mrd"}  # German text writes them with a full stop (1,2 Mio.); after a scale it is no decimal mark
_EXPONENT = re.compile(r"^\d+(\.\d+)?[eE][+-]?\d+$")
_SIMPLE = re.compile(r"^[+-]?(\d+)(\.(\d+))?$")
_THOUSANDS = re.compile(r"^\D*?([1-9]\d{0,2})([.,])(\d{3})\D*$")  # 12,000 or 12.000: one mark, three digits after
SYMBOLS = {"€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "US$": "USD", "CHF": "CHF", "Fr.": "CHF"}
DATE_TOKENS = {"YYYY": "%Y", "MM": "%m", "M": "%m", "DD": "%d", "D": "%d"}
_DMY = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})$")
_YMD = re.compile(r"^(\d{4})([./])(\d{1,2})\2(\d{1,2})$")
EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 is 1900-01-01; Excel's phantom 1900-02-29 shifts the rest
MAX_NUMBER_TEXT = 100  # a number or date cell longer than this is refused before any pattern looks at it
KEYS = ("columns", "locale", "numbers", "currency", "dates", "values", "alignment_strength", "carry")


class CurrencyMismatch(ValueProblem):
    code = "mixed_currency"


@dataclass(frozen=True)
class NumberFormat:
    """How numbers are written: a locale (Babel parses), or the marks, or nothing declared (strict rules)."""

    decimal: str | None = None
    grouping: str | None = None
    locale: str | None = None

    @property
    def declared(self) -> bool:
        return self.decimal is not None or self.locale is not None

    def describe(self) -> str:
        """The declared format as a profile spells it, with a number written in it (for error messages)."""
        if self.locale and self.decimal is None:
            # lazy: Babel's locale data loads only when a profile needs it
            from babel.numbers import get_decimal_symbol, get_group_symbol
            decimal, group = get_decimal_symbol(self.locale), get_group_symbol(self.locale)
            return f"locale {self.locale.replace('_', '-')}: written like {_example(decimal, group)}"
        grouping = f"grouping '{self.grouping}'" if self.grouping else "no grouping"
        return f"decimal '{self.decimal}', {grouping}: written like {_example(self.decimal, self.grouping or '')}"


def _fraction(amount: Decimal) -> bool:
    """Whether an amount is written with decimals (1250000,50 is; 1250000 is not)."""
    exponent = amount.as_tuple().exponent
    return isinstance(exponent, int) and exponent < 0


@functools.lru_cache(maxsize=64)
def _places(currency: str | None) -> int:
    """The decimals of a currency's amounts (CLDR: 2 for EUR, 0 for JPY, 3 for KWD); 2 when it is not known."""
    if currency is None or not (len(currency) == 3 and currency.isalpha() and currency.isupper()):
        return 2
    # lazy: Babel's currency data loads only for such a cell
    from babel.numbers import get_currency_precision
    return get_currency_precision(currency)


def _decimal_symbol(locale: str) -> str:
    # lazy: Babel's locale data loads only when a profile needs it
    from babel.numbers import get_decimal_symbol
    return get_decimal_symbol(locale)


def _example(decimal: str | None, group: str) -> str:
    return f"1{group}234{group}567{decimal}89"


@dataclass(frozen=True)
class InputProfile:
    """One export's conventions. The default (``InputProfile()``) declares nothing."""

    columns: Mapping[str, str] = field(default_factory=dict)  # normalised column title -> field
    numbers: NumberFormat = NumberFormat()
    currency: str | None = None
    dates: tuple[str, ...] = ()  # strptime formats, or "excel"
    date_labels: tuple[str, ...] = ()  # the same as written in the profile (for messages)
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # field or title -> {normal text: value}
    alignment_strength: str | None = None
    carry: tuple[str, ...] = ()  # columns (headers, or the fields they map to) written into every output row
    file: str | None = None  # where it was declared
    places: Mapping[tuple[str, ...], Location] = field(default_factory=dict, compare=False)  # ("values", field, text) -> where

    declarable: bool = True  # False: the values cannot come with a profile (a project record, pmo expr --set)

    @property
    def where(self) -> str | None:
        """Where a reader's convention is declared, as messages name it; None: nowhere (NO_PROFILE), so a message
        says how to write the value instead of naming an option the command may not have."""
        if not self.declarable:
            return None
        return f"the input profile ({self.file})" if self.file else "an input profile (--columns FILE)"

    # -- typing one cell -------------------------------------------------------------------------------
    def number(self, value: Any, money: bool = False) -> Any:
        """Text read as a Decimal in this profile's format (other values are returned as they are)."""
        if not isinstance(value, str):
            return value
        amount, currency = read_amount(value, self.numbers, self.where)
        if money and value.strip().strip("()").strip().endswith("%"):  # 12,5% of what? never 0.125 EUR
            raise ValueProblem(f"'{_clip(value.strip())}' is a percentage, but the field is money; write the amount")
        if currency is not None:
            if not money:
                raise ValueProblem(f"'{value.strip()}' carries a currency ({currency}) but the field is not money")
            self.check_currency(value, currency)
        if money and amount.as_tuple().exponent == -3:  # cheap first: three decimals, then the pattern
            self._refuse_thousands_as_decimals(value, amount, currency or self.currency)
        if money and _fraction(amount):  # cheap first: whole amounts fit every currency
            self.check_places(value, amount, currency or self.currency)
        return amount

    def check_places(self, value: Any, amount: Decimal, currency: str | None = None) -> None:
        """Money has at most its currency's decimals (two when no currency is known, as ``1,250`` is judged): an
        amount with more is an error row saying how to round it, never a figure taken with fractions of a cent."""
        currency = currency or self.currency
        exponent = amount.as_tuple().exponent
        places = _places(currency)
        if not isinstance(exponent, int) or -exponent <= places:
            return
        exponent = amount.normalize().as_tuple().exponent  # 1250000,500 is 1250000.5
        if not isinstance(exponent, int) or -exponent <= places:
            return
        shown = value.strip() if isinstance(value, str) else _digits(amount)
        rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        mark = self.numbers.decimal or (_decimal_symbol(self.numbers.locale) if self.numbers.locale else ".")
        written = _digits(rounded).replace(".", mark) if places else _digits(rounded)
        raise ValueProblem(
            f"'{_clip(shown)}' has {-exponent} decimals, but money has at most {places} decimal"
            f"{'s' if places != 1 else ''}{f' in {currency}' if currency else ''}; round it in the export (e.g. "
            f"{written}){'' if currency or self.where is None else f', or declare its currency in {self.where} if it has more'}")

    def _refuse_thousands_as_decimals(self, text: str, amount: Decimal, currency: str | None) -> None:
        """An amount like 12,000 read with the declared decimal comma is 12, but an export that wrote it the
        other way meant 12000: a money amount has at most two decimals (in all but a few currencies), so the
        text reads two ways and is an error, never a figure 1000x too small (or 12.000 under en-US)."""
        found = _THOUSANDS.match(text.strip())
        if found is None:
            return
        if currency is not None:
            # lazy: Babel's currency data loads only for such a cell
            from babel.numbers import get_currency_precision
            if get_currency_precision(currency) >= 3:  # dinars (KWD, BHD, ...): three decimals are money
                return
        mark = found[2]
        thousands = f"{'-' if amount < 0 else ''}{found[1]}{found[3]}"
        # the two ways written as this profile reads each one way: the decimal without its trailing zeros (12 or
        # 1,25), the thousands without a grouping mark (12000); a mark of the other country is no fix (fr-FR
        # refuses 1.250)
        decimal = _digits(amount).replace(".", mark)
        raise AmbiguousValue(
            f"'{_clip(text.strip())}' is {_digits(amount)} with '{mark}' as the decimal mark ({self.numbers.describe()}), "
            f"but money has at most two decimals{f' in {currency}' if currency else ''}, so it may mean {thousands} "
            f"('{mark}' grouping thousands); write {decimal} for {_digits(amount)} or {thousands} for {thousands}, "
            f"so it reads one way")

    def check_currency(self, text: str, currency: str) -> None:
        if self.currency is not None and not same_currency(currency, self.currency, self.numbers.locale):
            scale = scale_in_mark(currency)
            if scale is not None:  # 'M$': million dollars, or a currency of its own (B$ is Brunei's dollar)?
                raise CurrencyMismatch(
                    f"'{text.strip()}' is in {currency}: the '{scale}' before '{currency[len(scale):]}' is not read as "
                    f"a scale (some currencies are written so, such as B$); if it means a multiplier "
                    f"({_SCALE_WORD[SCALE[scale]]}), write the amount in full, e.g. '{_in_full(text, scale)}'")
            raise CurrencyMismatch(f"'{text.strip()}' is in {currency}, but {self.where} declares currency "
                                   f"{self.currency}; convert it first (amounts are never summed across currencies)")

    def date(self, value: Any) -> dt.date:
        return read_date(value, self)

    def mapped(self, name: str, value: Any) -> Any:
        """A cell after the field's value map (text compared without case or extra spaces)."""
        table = self.values.get(name)
        if table is None or not isinstance(value, str):
            return value
        return table.get(_normal_text(value), value)


UNDECLARED = InputProfile()
NO_PROFILE = InputProfile(declarable=False)  # values no profile can come with: written one way, or refused


# -- numbers -----------------------------------------------------------------------------------------------
def read_amount(text: str, numbers: NumberFormat = NumberFormat(), where: str | None = "an input profile") \
        -> tuple[Decimal, str | None]:
    """A number as exports write it: ``1,250,000``, ``1.234.567,89``, ``$900,000``, ``900.000 €``,
    ``(5,000)`` (negative), ``1.2M``, ``120K``, ``12.5%`` (0.125). Returns (value, currency or None).
    Raises AmbiguousValue when the text reads as two numbers and no format is declared."""
    raw = text.strip()
    if len(raw) > MAX_NUMBER_TEXT:  # also keeps the patterns below linear
        raise ValueProblem(f"'{_clip(raw)}' is too long to be a number ({len(raw):,} characters)")
    simple = _SIMPLE.match(raw)
    if simple and (simple[3] is None or _point_is_decimal(simple, numbers)):
        return Decimal(raw), None  # the common cases: 180000, -3.5, 0.25 (never ambiguous)
    body, negative = raw, False
    if body.startswith("(") and body.endswith(")"):  # accounting negative
        body, negative = body[1:-1].strip(), True
    body, sign = _sign(body)
    body, currency = _currency(body)
    body, sign2 = _sign(body)
    if sign and sign2:
        raise ValueProblem(f"'{_clip(raw)}' is not a number (two signs)")
    negative ^= (sign or sign2) == "-"
    if negative and body.startswith("(") and body.endswith(")"):
        raise ValueProblem(f"'{_clip(raw)}' is not a number")
    exponent = 0
    if body.endswith("%"):
        body, exponent = body[:-1].strip(), -2
    else:
        found = _SUFFIX.match(body)
        if found and found["suffix"] in SCALE and (not found["stop"] or found["suffix"] in ABBREVIATED):
            body, exponent = found["rest"], SCALE[found["suffix"]]
    body = body.replace("_", "")
    if not body or not any(c.isdigit() for c in body):
        raise ValueProblem(f"'{_clip(raw)}' is not a number")

    def finish(value: Decimal) -> Decimal:
        """The number part with the cell's scale and sign: what the cell says."""
        if exponent:
            value = value.scaleb(exponent)
            value = Decimal(int(value)) if value == value.to_integral_value() else value.normalize()
        return -value if negative else value

    return finish(_body(body, raw, numbers, where, finish)), currency


def _point_is_decimal(simple: re.Match[str], numbers: NumberFormat) -> bool:
    """Whether the one '.' of digits.digits is surely a decimal point: declared so, or (undeclared) not
    followed by exactly three digits after a possible first group (1.5, 0.500 and 1234.567 are; 250.000 is not)."""
    if numbers.declared:
        return numbers.decimal == "."
    whole, fraction = simple[1], simple[3]
    return len(fraction) != 3 or len(whole) > 3 or whole[0] == "0"


def _sign(body: str) -> tuple[str, str | None]:
    if body[:1] in "+-\u2212" and body:
        return body[1:].strip(), "-" if body[0] != "+" else "+"
    return body, None


def _currency(body: str) -> tuple[str, str | None]:
    for pattern in (_FRONT, _BACK):
        found = pattern.match(body)
        if found and found["rest"] and (found["rest"][0].isdigit() or found["rest"][-1].isdigit()
                                        or found["rest"][0] in "(.,+-"):
            code = found["cur"]
            if code in SCALE:  # 1.2 MM is a scale, not a currency
                continue
            scaled = _SCALED_SYMBOL.match(code) if pattern is _BACK else None
            if scaled and scaled["scale"] in SCALE:  # '1,25 M€': a scale, then the euro sign (as '1,25 k€' reads)
                return f"{found['rest'].strip()} {scaled['scale']}", SYMBOLS[scaled["symbol"]]
            return found["rest"].strip(), SYMBOLS.get(code, code)
    return body, None


def _body(body: str, raw: str, numbers: NumberFormat, where: str | None,
          finish: Callable[[Decimal], Decimal] = lambda value: value) -> Decimal:
    """The number part of a cell; ``finish`` (sign and scale) is for naming the readings of an ambiguous one."""
    if numbers.decimal is not None:
        value = with_marks(body, numbers.decimal, _group_marks(numbers.grouping))
        if value is None and numbers.decimal == "." and _EXPONENT.match(body):
            value = Decimal(body)
        if value is None:
            raise ValueProblem(f"'{_clip(raw)}' is not a number in the declared format ({numbers.describe()})")
        return value
    if numbers.locale is not None:
        return _babel_number(body, raw, numbers)
    if _EXPONENT.match(body):
        return Decimal(body)
    readings: dict[Decimal, tuple[str, str]] = {}
    for decimal, grouping in ((",", "."), (".", ",")):
        value = with_marks(body, decimal, grouping + GROUP_ONLY)
        if value is not None:
            readings.setdefault(value, (decimal, grouping))
    if not readings:
        raise ValueProblem(f"'{_clip(raw)}' is not a number")
    if len(readings) > 1:
        raise AmbiguousValue(ambiguous_number(raw, {finish(v): marks for v, marks in readings.items()}, where))
    return next(iter(readings))


def ambiguous_number(raw: str, readings: Mapping[Decimal, tuple[str, str]], where: str | None) -> str:
    """Why ``raw`` reads as each of ``readings`` and how to settle it: in ``where`` (a profile), or, when it
    cannot come with one (None), by writing it one way."""
    mark = next(c for c in raw if c in ".,")
    said = " or ".join(f"{_digits(v)} ('{mark}' " + ("as the decimal mark)" if d == mark else "grouping thousands)")
                       for v, (d, _g) in readings.items())
    if where is None:
        return (f"'{_clip(raw)}' reads two ways: {said}; nothing is guessed: write "
                + " or ".join(_digits(v) for v in readings))
    lines = ", ".join(f"numbers: {{decimal: \"{d}\", grouping: \"{g}\"}} for {_digits(v)}"
                      for v, (d, g) in readings.items())
    return (f"'{_clip(raw)}' reads two ways: {said}; nothing is guessed: say which in {where}: {lines} "
            "(or a locale such as locale: de-DE or locale: en-US)")


def _digits(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _group_marks(grouping: str | None) -> str:
    if grouping is None or grouping == "":
        return GROUP_ONLY if grouping is None else ""
    return grouping + (SPACES if grouping in SPACES else "") + ("'\u2019" if grouping in "'\u2019" else "")


def with_marks(body: str, decimal: str, groups: str) -> Decimal | None:
    """``body`` read with this decimal mark and these grouping marks (groups of three after a first group of
    one to three digits not starting with 0); None if it is not written that way."""
    whole, sep, frac = body.partition(decimal)
    if sep and not (frac.isascii() and frac.isdigit()):
        return None
    used = {c for c in whole if c in groups}
    if len(used) > 1:
        return None
    parts = whole.split(used.pop()) if used else [whole]
    if parts == [""] and sep:
        parts = ["0"]
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    if len(parts) > 1 and not (1 <= len(parts[0]) <= 3 and parts[0][0] != "0"
                               and all(len(p) == 3 for p in parts[1:])):
        return None
    try:
        return Decimal("".join(parts) + ("." + frac if sep else ""))
    except InvalidOperation:
        return None


def _babel_number(body: str, raw: str, numbers: NumberFormat) -> Decimal:
    """The locale's marks (CLDR, through Babel) with groups of three; else Babel's own strict reading, for
    other groupings such as en-IN's 12,34,567 (Babel alone refuses de-CH's 1'250'000.5)."""
    # lazy: Babel's locale data loads only when a profile needs it
    from babel.numbers import NumberFormatError, get_decimal_symbol, get_group_symbol, parse_decimal
    decimal, group = get_decimal_symbol(numbers.locale), get_group_symbol(numbers.locale)
    value = with_marks(body, decimal, _group_marks(group)) if decimal in ".," else None
    if value is not None:
        return value
    if any(c in ".,'\u2019" and c != decimal and c != group for c in body):
        # Babel takes a '.' as the decimal point even where the locale's is ',' (fr-FR read 250.000 as 250)
        raise ValueProblem(f"'{_clip(raw)}' is not a number in the declared format ({numbers.describe()})")
    if group in SPACES:
        body = "".join(group if c in SPACES else c for c in body)
    try:
        return parse_decimal(body, numbers.locale, strict=True)
    except (NumberFormatError, ValueError, ArithmeticError):
        raise ValueProblem(f"'{_clip(raw)}' is not a number in the declared format ({numbers.describe()})") from None


_SCALE_WORD = {3: "thousand", 6: "million", 9: "billion"}


def scale_in_mark(currency: str) -> str | None:
    """The scale letters at the start of a currency mark read from a cell ('M' of 'M$'), or None."""
    letters = currency.rstrip("$€£¥₹₩₪₫₦₱₲₴₵₸₺₼₽฿¢")
    return letters if letters and letters != currency and letters in SCALE else None


def _in_full(text: str, scale: str) -> str:
    """A cell such as '1,25 M$' with its scale worked out and its currency after it (1250000 $), for a message."""
    body = text.strip()
    at = body.rfind(scale)
    try:
        amount = read_amount(body[:at] + scale)[0]
    except ValueProblem:
        return f"the amount {body[at + len(scale):].strip()}"
    return f"{_digits(amount)} {body[at + len(scale):].strip()}"


def same_currency(found: str, declared: str, locale: str | None) -> bool:
    """Whether a mark in a cell (a code, or a symbol such as $ or €) names the declared currency."""
    if found == declared:
        return True
    return found in _symbols(declared, locale) or (found == "$" and declared.endswith("D") and len(declared) == 3)


@functools.lru_cache(maxsize=256)
def _symbols(code: str, locale: str | None) -> frozenset[str]:
    """The symbols a currency is written with (CLDR): EUR is €, USD is $ or US$."""
    # lazy: Babel's locale data loads only when a profile needs it
    from babel.numbers import get_currency_symbol
    symbols: set[str] = set()
    for where in filter(None, (locale, "en_US", "en_GB")):
        symbol = get_currency_symbol(code, where)
        symbols.update((symbol, symbol.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ") or code))
    return frozenset(symbols)


def currency_mark(text: Any) -> str | None:
    """The currency a cell carries (a code or a symbol), or None."""
    if not isinstance(text, str) or not text or text[-1:].isdigit() and (text[:1].isdigit() or text[:1] in "+-."):
        return None  # starts and ends with a digit (or a sign): no room for a currency
    body = text.strip()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1].strip()
    body = _sign(body)[0]
    return _currency(body)[1]


# -- dates -------------------------------------------------------------------------------------------------
def read_date(value: Any, profile: InputProfile = UNDECLARED) -> dt.date:
    """A date as it is written locally. Always read: ISO (2027-03-15), dates of the types (from a workbook).
    Declared formats (``dates:``) are tried; without them, d/m/yyyy and m/d/yyyy (also with . or -) are read
    when only one reading is a date (15/03/2027, 03/15/2027, 03/03/2027) and refused when two are."""
    if isinstance(value, (dt.date, dt.datetime)):
        return to_date(value)
    if not isinstance(value, str) or _looks_like_serial(value):
        return _serial(value, profile)
    text = value.strip()
    if len(text) > MAX_NUMBER_TEXT:
        raise ValueProblem(f"'{_clip(text)}' is too long to be a date ({len(text):,} characters)")
    if text[:4].isdigit() and text[4:5] == "-":
        return to_date(text)
    timed = _TIME_OF_DAY.search(text)
    if timed:  # '01.03.2027 00:00', as Excel writes a date cell formatted with a time: the date, as in ISO
        text = text[:timed.start()]
    if _LETTER.search(text):
        if named := read_named_date(text, profile.numbers.locale, profile.where):
            return named
    elif " " in text:  # '1. 3. 2027', as Czech and Slovak write dates: the numbers are what counts
        text = _SPACED.sub("", text)
    if profile.dates:
        return _declared_date(text, profile)
    found = _YMD.match(text)
    if found:
        return _date(text, int(found[1]), int(found[3]), int(found[4]))
    found = _DMY.match(text)
    if found is None:
        return to_date(text)
    first, second, year = int(found[1]), int(found[3]), found[4]
    if len(year) == 2:
        raise ValueProblem(f"'{text}' has a two-digit year; write the year in full (20{year})")
    readings: dict[dt.date, str] = {}
    for day, month, order in ((first, second, "DD{0}MM{0}YYYY"), (second, first, "MM{0}DD{0}YYYY")):
        try:
            readings.setdefault(dt.date(int(year), month, day), order.format(found[2]))
        except ValueError:
            pass
    if not readings:
        raise ValueProblem(f"'{text}' is not a valid date")
    if len(readings) > 1:
        said = " or ".join(f"{d.isoformat()} ({order})" for d, order in readings.items())
        lines = " or ".join(f"dates: [{order}]" for order in readings.values())
        if profile.where is None:
            raise AmbiguousValue(f"'{text}' reads two ways: {said}; nothing is guessed: write YYYY-MM-DD")
        raise AmbiguousValue(f"'{text}' reads two ways: {said}; nothing is guessed: say which in {profile.where} "
                             f"with {lines} (or write YYYY-MM-DD)")
    return next(iter(readings))


_LETTER = re.compile(r"[^\W\d_]")  # the text may name its month
_SPACED = re.compile(r"(?<=\d[./])\s+(?=\d)")
_TIME_OF_DAY = re.compile(r"(?<=\d)\s+(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?$")


def _date(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueProblem(f"'{text}' is not a valid date ({exc})") from None


def _declared_date(text: str, profile: InputProfile) -> dt.date:
    readings: dict[dt.date, str] = {}
    impossible = None  # the text has a declared format's shape, yet no such day exists (31.02.2027)
    for pattern, label in zip(profile.dates, profile.date_labels):
        if pattern == "excel":
            continue
        try:
            readings.setdefault(dt.datetime.strptime(text, pattern).date(), label)
        except ValueError as exc:
            if not str(exc).startswith(("time data", "unconverted data")):
                impossible = str(exc)
    if not readings and impossible:
        raise ValueProblem(f"'{_clip(text)}' is not a valid date ({impossible})")
    if len(readings) > 1:
        said = " or ".join(f"{d.isoformat()} ({label})" for d, label in readings.items())
        raise AmbiguousValue(f"'{text}' reads two ways under the declared dates: {said}; keep one of them in "
                             f"{profile.where}")
    if not readings:
        raise ValueProblem(f"'{_clip(text)}' is not a date in the declared format "
                           f"({', '.join(profile.date_labels)}) nor YYYY-MM-DD")
    return next(iter(readings))


def _looks_like_serial(text: str) -> bool:
    return text.strip().isdigit() and len(text.strip()) <= 7


def _serial(value: Any, profile: InputProfile) -> dt.date:
    """A spreadsheet's serial day number, when the profile declares ``excel`` among its dates."""
    if isinstance(value, bool):
        return to_date(value)
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value)) \
            if isinstance(value, (int, float, Decimal)) else None
    except InvalidOperation:
        number = None
    if number is None:
        return to_date(value)
    if "excel" not in profile.dates:
        if profile.where is None:
            raise ValueProblem(f"{display(number)} is not a date; write YYYY-MM-DD")
        raise ValueProblem(f"{display(number)} is not a date; if it is a spreadsheet serial date, add "
                           f"dates: [excel] to {profile.where}, or write YYYY-MM-DD")
    if number != number.to_integral_value() or not 61 <= number <= 2_958_465:
        raise ValueProblem(f"{display(number)} is not a spreadsheet serial date (whole days from 61, "
                           "1900-03-01, to 2958465, 9999-12-31)")
    return EXCEL_EPOCH + dt.timedelta(days=int(number))


# -- loading -----------------------------------------------------------------------------------------------
class _At(Protocol):
    """Where a path into the profile file is: its value's (or key's) location."""

    def __call__(self, *path: str | int) -> Location: ...


def load_profile(path: str | Path) -> InputProfile:
    """Read a profile (or an old-style column map) file. Raises InputError with located diagnostics."""
    name = str(path)
    sink = DiagnosticSink()
    document = load_document(Path(path), name, sink)
    if document is None:
        raise InputError(sink.errors or [Diagnostic("bad_profile", "cannot read the input profile", Location(name))])
    data, where = document.data, document.source
    if isinstance(data, dict) and not (set(data) & set(KEYS)) \
            and all(isinstance(v, str) for v in data.values()):
        data = {"columns": data}  # an old-style column map: title -> field (no key of a profile, written lowercase)
        shift: tuple[str, ...] = ("columns",)
    else:
        shift = ()

    def at(*path: str | int) -> Location:
        return where.value(path[len(shift):])

    def key_at(*path: str | int) -> Location:
        return where.key(path[len(shift):])
    if not isinstance(data, dict):
        raise InputError([Diagnostic("bad_profile", "expected a mapping: column titles to fields, or an input "
                                     "profile with 'columns:'", at(), "write one line per column, e.g. "
                                     "'Total Cost (EUR): budget'")])
    for key in data:
        if key not in KEYS:
            sink.add("bad_profile", f"'{key}' is not part of an input profile", key_at(key),
                     did_you_mean(key, KEYS) or f"keys: {', '.join(KEYS)}")
    columns = _columns(data.get("columns"), at, key_at, sink)
    numbers = _numbers(data, at, sink)
    currency = data.get("currency")
    if currency is not None and not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
        sink.add("bad_profile", f"currency '{currency}' is not an ISO 4217 code", at("currency"),
                 "write a three-letter code such as EUR, USD or GBP")
        currency = None
    dates, labels = _dates(data, numbers, at, sink)
    values = _values(data.get("values"), columns, at, key_at, sink)
    strength = data.get("alignment_strength")
    if strength is not None and not isinstance(strength, (str, int, Decimal)):
        sink.add("bad_profile", "alignment_strength is a level (low, moderate, strong, ...) or a number from 0 to 1",
                 at("alignment_strength"))
        strength = None
    carry = _carry(data.get("carry"), at, sink)
    if sink.errors:
        raise InputError(sink.errors)
    places: dict[tuple[str, ...], Location] = {("columns", column_key(t)): at("columns", t) for t in _mapping(data.get("columns"))}
    places.update({("values", columns.get(column_key(n)) or field_key(n), _normal_text(str(t))): at("values", n, t)
                   for n, table in _mapping(data.get("values")).items() for t in _mapping(table)})
    places[("alignment_strength",)] = at("alignment_strength")
    return InputProfile(columns=columns, numbers=numbers, currency=currency, dates=dates, date_labels=labels,
                        values=values, alignment_strength=None if strength is None else str(strength),
                        carry=carry, file=name, places=places)


def _columns(data: Any, at: _At, key_at: _At, sink: DiagnosticSink) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        sink.add("bad_profile", "columns maps column titles to field names", at("columns"),
                 "e.g. 'Total Cost (EUR): budget'")
        return {}
    out: dict[str, str] = {}
    for title, name in data.items():
        if not isinstance(name, str) or not name.strip():
            sink.add("bad_profile", f"column '{title}' must map to a field name", at("columns", title))
            continue
        out[column_key(title)] = name.strip()
    return out


def _carry(data: Any, at: _At, sink: DiagnosticSink) -> tuple[str, ...]:
    """The carried columns as written (their names head the output columns). Each names one column once."""
    if data is None:
        return ()
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list):
        sink.add("bad_profile", "carry is a list of column titles", at("carry"),
                 'e.g. carry: [Title, Department, "Cost Centre"]')
        return ()
    names: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(data):
        if not isinstance(name, (str, int)) or isinstance(name, bool) or not str(name).strip():
            sink.add("bad_profile", f"carry item {name!r} is not a column title", at("carry", i),
                     "write the column's title as in the file, or the field it maps to")
            continue
        name = str(name).strip()
        if column_key(name) in seen:
            sink.add("bad_profile", f"column '{name}' is carried twice", at("carry", i), "carry each column once")
            continue
        if name in OUTPUT_COLUMNS:  # the CSV would have two columns of that name
            sink.add("bad_profile", f"'{name}' is already an output column", at("carry", i),
                     "carry it under its title as in the file (output columns are lower case)")
            continue
        seen.add(column_key(name))
        names.append(name)
    return tuple(names)


def _numbers(data: Mapping[str, Any], at: _At, sink: DiagnosticSink) -> NumberFormat:
    locale = data.get("locale")
    if locale is not None:
        locale = _locale(locale, at("locale"), sink)
    marks = data.get("numbers")
    if marks is None:
        return NumberFormat(locale=locale)
    if not isinstance(marks, dict) or set(marks) - {"decimal", "grouping", "locale"}:
        sink.add("bad_profile", "numbers takes decimal, grouping (or locale)", at("numbers"),
                 'e.g. numbers: {decimal: ",", grouping: "."}')
        return NumberFormat(locale=locale)
    if marks.get("locale") is not None:
        locale = _locale(marks["locale"], at("numbers", "locale"), sink)
    if "decimal" not in marks:
        if "grouping" in marks:
            sink.add("bad_profile", "numbers needs the decimal mark too", at("numbers"),
                     'e.g. numbers: {decimal: ",", grouping: "."}')
        return NumberFormat(locale=locale)
    decimal, grouping = marks.get("decimal"), marks.get("grouping", "")
    if decimal not in (".", ","):
        sink.add("bad_profile", f"decimal mark '{decimal}' must be '.' or ','", at("numbers", "decimal"),
                 "quote it: decimal: \",\"")
        return NumberFormat(locale=locale)
    grouping = "" if grouping is None else grouping
    if grouping not in ("", ".", ",", " ", "'", "\u00a0", "\u202f", "\u2019") or grouping == decimal:
        sink.add("bad_profile", f"grouping mark '{grouping}' must differ from the decimal mark and be one of "
                 ". , ' or a space (or empty)", at("numbers", "grouping"))
        return NumberFormat(locale=locale)
    return NumberFormat(decimal=decimal, grouping=grouping, locale=locale)


def _locale(text: Any, where: Location, sink: DiagnosticSink) -> str | None:
    # lazy: Babel's locale data loads only when a profile needs it
    from babel import Locale, UnknownLocaleError
    try:
        return str(Locale.parse(str(text).replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        sink.add("bad_profile", f"'{text}' is not a known locale", where, "write a language and region, e.g. de-DE, "
                 "en-US, fr-FR, nl-NL")
        return None


def _dates(data: Mapping[str, Any], numbers: NumberFormat, at: _At, sink: DiagnosticSink
           ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    written = data.get("dates")
    if written is None:
        if numbers.locale is None:
            return (), ()
        label = locale_date_order(numbers.locale)
        pattern = to_strptime(label) if label else None  # DD, MM and YYYY with one separator: always a format
        return ((pattern,), (label,)) if label and pattern else ((), ())
    if isinstance(written, str):
        written = [written]
    if not isinstance(written, list):
        sink.add("bad_profile", "dates is a list of formats", at("dates"), "e.g. dates: [DD.MM.YYYY, excel]")
        return (), ()
    patterns: list[str] = []
    labels: list[str] = []
    for i, label in enumerate(written):
        pattern = to_strptime(label) if isinstance(label, str) else None
        if pattern is None:
            sink.add("bad_profile", f"'{label}' is not a date format", at("dates", i),
                     "use DD, MM and YYYY with a separator (DD.MM.YYYY, MM/DD/YYYY, YYYY-MM-DD), or excel")
            continue
        patterns.append(pattern)
        labels.append(label)
    return tuple(patterns), tuple(labels)


def to_strptime(label: str) -> str | None:
    """DD.MM.YYYY -> %d.%m.%Y (strptime also takes 5.3.2027); 'excel' stays; None if not a date format."""
    if label.strip().lower() == "excel":
        return "excel"
    parts = re.split(r"([./\- ])", label.strip())
    tokens = parts[::2]
    if sorted(t[:1] for t in tokens) != ["D", "M", "Y"] or not all(t in DATE_TOKENS for t in tokens):
        return None
    return "".join(DATE_TOKENS.get(p, p) for p in parts)


def locale_date_order(locale: str) -> str | None:
    """The locale's short numeric date order (CLDR) as DD.MM.YYYY and the like."""
    # lazy: Babel's locale data loads only when a profile needs it
    from babel.dates import get_date_format
    pattern = get_date_format("short", locale).pattern
    found = re.fullmatch(r"([dMy]+)([./\-])([dMy]+)\2([dMy]+)", pattern)
    if not found:
        return None
    names = {"d": "DD", "M": "MM", "y": "YYYY"}
    return found[2].join(names[g[0]] for g in (found[1], found[3], found[4]))


def _values(data: Any, columns: Mapping[str, str], at: _At, key_at: _At, sink: DiagnosticSink
            ) -> dict[str, dict[str, Any]]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        sink.add("bad_profile", "values maps each field to {cell text: value}", at("values"),
                 "e.g. values: {risk: {Low: 1, Medium: 3, High: 5}}")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            sink.add("bad_profile", f"values for '{name}' must be a mapping of cell text to value",
                     at("values", name))
            continue
        target = columns.get(column_key(name)) or field_key(name)
        out[target] = {_normal_text(str(text)): value for text, value in table.items()}
    return out


def field_key(name: str) -> str:
    """A field name as a header or a value map may write it: 'Start Date' is start_date."""
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _mapping(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def _normal_text(text: str) -> str:
    return " ".join(text.split()).casefold()


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- against a policy --------------------------------------------------------------------------------------
def check_profile(profile: InputProfile, fields: Mapping[str, Any], converter: Callable[..., Callable[[Any], Any]],
                  strategy: Any = None, subject: str = "the intake policy") -> list[Diagnostic]:
    """What in a profile does not fit the policy: a column mapped to an unknown field, a value map for one,
    a mapped value the field would refuse (Low: 7 for a 1-5 risk), an alignment strength that is no level.
    Each at its line and column in the profile file. ``converter(spec, strategy, profile)``: the function typing
    a field's cells (engine.compile.records.converter, passed in: the policy's types are compiled above io)."""
    file = profile.file or "<profile>"
    found: list[Diagnostic] = []

    def unknown(name: str, where: Location) -> None:
        found.append(Diagnostic("unknown_field", f"the input profile names '{name}', which is not a field of "
                                f"{subject}", where, did_you_mean(name, fields) or f"fields: {', '.join(fields)}"))

    for key, name in profile.columns.items():
        if name not in fields:
            unknown(name, profile.places.get(("columns", key), Location(file)))
    normal = {field_key(f): f for f in fields}
    for name, table in profile.values.items():
        if normal.get(name, name) not in fields:
            unknown(name, next((w for k, w in profile.places.items() if k[:2] == ("values", name)), Location(file)))
            continue
        try:
            convert = converter(fields[normal.get(name, name)], strategy, profile)
        except ValueProblem as exc:
            found.append(Diagnostic("bad_profile", str(exc), Location(file)))
            continue
        for text, value in table.items():
            try:
                convert(value)
            except ValueProblem as exc:
                found.append(Diagnostic("bad_profile", f"the value map for '{name}' gives {value!r}: {exc}",
                                        profile.places.get(("values", name, text), Location(file))))
    if profile.alignment_strength is not None and strategy is not None:
        try:
            strategy.alignment({next(iter(strategy.weights.values)): profile.alignment_strength})
        except (ValueProblem, StopIteration) as exc:
            found.append(Diagnostic("bad_profile", f"alignment_strength: {exc}",
                                    profile.places.get(("alignment_strength",), Location(file))))
    return found


def ambiguity_survey(rows: list[Any], numeric: Iterable[str], value_of: Callable[[Any, str], Any],
                     profile: InputProfile) -> str | None:
    """Said once per file, before any decision, when in some amount column most values read two ways (so
    the file needs a number format). ``rows``: the first rows of the file."""
    if profile.numbers.declared:
        return None
    columns, example = [], None
    for name in numeric:
        total = ambiguous = 0
        for row in rows:
            value = value_of(row.data, name) if row.data is not None else None
            if not isinstance(value, str) or not value.strip():
                continue
            total += 1
            try:
                read_amount(value)
            except AmbiguousValue:
                ambiguous += 1
                example = example or (name, value.strip())
            except ValueProblem:
                pass
        if ambiguous and ambiguous * 2 >= total:
            columns.append(f"{name} ({ambiguous} of {total})")
    if not columns or example is None:
        return None
    grouped = "." in example[1]
    fix = ('locale: de-DE (or numbers: {decimal: ",", grouping: "."})' if grouped
           else 'locale: en-US (or numbers: {decimal: ".", grouping: ","})')
    return (f"most amounts in {', '.join(columns)} read two ways (e.g. {example[0]} '{example[1]}'), so their "
            f"rows are error rows; nothing is guessed: declare the number format in {profile.where}, e.g. {fix}")
