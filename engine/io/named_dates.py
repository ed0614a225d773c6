"""Dates written with the month's name: '2 déc. 2026', 'March 15, 2027', 'Montag, 15. März 2027', '15-Mar-2027'.

Exports write dates as the spreadsheet shows them, and a date column formatted "d mmm yyyy" or as a long date
comes out with month names in the user's language. A named month reads one way whatever the order of its day
and year (a day has one or two digits, a year four), so no date order needs declaring. The names are CLDR's
(through Babel): English's always, and the profile's locale's (format and stand-alone forms, wide and
abbreviated; case and a trailing period ignored); each locale's date patterns also give the words that join
the parts ('de' in '15 de marzo de 2027'). A weekday named beside the date must be the date's: a mismatch is an
error, since one of the two is wrong and nothing says which.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from engine.expr.values import AmbiguousValue, ValueProblem

_PART = re.compile(r"(\d+)([^\W\d_]*)|([^\W\d_]+(?:-[^\W\d_]+)*)")  # a number (15, 15th, 1er) or a word (terça-feira)
_BETWEEN = re.compile(r"[\s,./\-'’]*")  # what may separate the parts
_ORDINALS = frozenset({"st", "nd", "rd", "th", "er", "e"})


@dataclass(frozen=True)
class _Names:
    language: str  # as messages name it: "English", "fr-FR"
    months: dict[str, int]
    weekdays: dict[str, int]  # Monday is 0, as date.weekday()
    joins: frozenset[str]  # the words a date pattern writes between its parts


def _folded(word: str) -> str:
    return word.casefold().rstrip(".")


@functools.lru_cache(maxsize=16)
def _names(locale: str | None) -> _Names:
    # lazy: Babel's locale data loads only when a cell names a month
    from babel.dates import get_date_format, get_day_names, get_month_names
    where = locale.replace("-", "_") if locale else "en"
    months: dict[str, int] = {}
    weekdays: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for context in ("format", "stand-alone"):
            for number, name in get_month_names(width, context, where).items():
                months.setdefault(_folded(name), number)
            for number, name in get_day_names(width, context, where).items():
                weekdays.setdefault(_folded(name), number)
    if locale is None:
        months["sept"] = 9  # en-GB's abbreviation, and common in US exports
    joins = {_folded(word) for width in ("long", "full")
             for literal in re.findall(r"'([^']+)'", get_date_format(width, where).pattern)
             for word in literal.split()}
    return _Names("English" if locale is None else locale.replace("_", "-"), months, weekdays,
                  frozenset(w for w in joins if w and w.isalpha()))


def read_named_date(text: str, locale: str | None, where: str | None) -> dt.date | None:
    """The date ``text`` writes with a month name, or None when it names no month and is not shaped like a date
    that would (the caller then reads it the numeric way). Raises ValueProblem for a date with a month name it
    does not know, a weekday that is not the date's, a two-digit year, or a day the month does not have.
    ``where``: the profile, as messages name it (None: there is none to declare a locale in)."""
    folded = text.casefold()
    if _BETWEEN.sub("", _PART.sub("", folded)):
        return None  # characters no date is written with
    languages = [_names(locale)] if locale and not locale.lower().startswith("en") else []
    languages.append(_names(None))
    numbers: list[str] = []
    words: list[tuple[str, set[int], set[int]]] = []  # each word, the months and the weekdays it can name
    unknown: list[str] = []
    for number, suffix, word in _PART.findall(folded):
        if number:
            if suffix and (suffix.rstrip(".") not in _ORDINALS or len(number) > 2):
                return None
            numbers.append(number)
            continue
        word = _folded(word)
        months = {n.months[word] for n in languages if word in n.months}
        weekdays = {n.weekdays[word] for n in languages if word in n.weekdays}
        if months or weekdays:
            words.append((word, months, weekdays))
        elif not any(word in n.joins for n in languages):
            unknown.append(word)
    years = [n for n in numbers if len(n) == 4]
    days = [n for n in numbers if len(n) <= 2]
    if len(numbers) != 2 or len(days) + len(years) != 2 or len(years) > 1:
        return None
    named = [w for w in words if w[1]]
    if len(named) > 1:  # 'mar' is March in English and Tuesday in French: beside 'mars' it is the weekday
        named = [w for w in named if not w[2]]
    if not named:
        if unknown and years and len(unknown) <= 2 and all(len(w) >= 3 for w in unknown):
            said = " or ".join(n.language for n in languages)
            hint = f"; if the dates are written in another language, declare its locale in {where} (e.g. " \
                   f"locale: fr-FR)" if where and len(languages) == 1 else ""
            raise ValueProblem(f"'{text.strip()}' is not a date: '{unknown[0]}' is not a month name in {said}{hint}")
        return None
    others = [w for w in words if w is not named[0]]
    if len(named) > 1 or unknown or len(others) > 1 or (others and not others[0][2]):
        return None  # two months, or a word that is neither the month nor a weekday
    (word, months, _), = named
    if len(months) > 1:
        raise AmbiguousValue(f"'{text.strip()}': '{word}' names one month in {languages[0].language} and another "
                             "in English; write the date as YYYY-MM-DD")
    if not years:  # which of the two numbers is the year, nothing says
        raise ValueProblem(f"'{text.strip()}' has a two-digit year; write the year in full")
    month = next(iter(months))
    weekday = None
    if others:
        word, _, weekdays = others[0]
        if len(weekdays) > 1:
            raise AmbiguousValue(f"'{text.strip()}': '{word}' names one weekday in {languages[0].language} and "
                                 "another in English; write the date as YYYY-MM-DD")
        weekday = (next(iter(weekdays)), word)
    try:
        date = dt.date(int(years[0]), month, int(days[0]))
    except ValueError as exc:
        raise ValueProblem(f"'{text.strip()}' is not a valid date ({exc})") from None
    if weekday is not None and weekday[0] != date.weekday():
        day = _english_day(weekday[0])
        local = "" if weekday[1] in (day.casefold(), day[:3].casefold()) else f" ({weekday[1]})"
        raise ValueProblem(f"'{text.strip()}' names a {day}{local}, but {date.isoformat()} is a "
                           f"{_english_day(date.weekday())}")
    return date


def _english_day(number: int) -> str:
    return ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")[number]
