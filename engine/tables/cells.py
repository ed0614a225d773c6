"""The cell language of a decision table's input cells: DMN's FEEL unary tests, in a spreadsheet's words.

A cell tests the value of its column's input (a field or an expression)::

    -  (or an empty cell)        any value, missing too
    > 1,000,000   <= 0   = 5     a comparison with a constant (!= too); a bare constant means '='
    [250,000..1,000,000)         a range: [ and ] include the end, ( and ) (or ] [ outward) exclude it
    "it", "finance"              any of these (a comma and a space between items)
    not("it", "finance")         none of these (a cell has at most one not(...); not("it"), null adds null)
    null   not(null)             missing, present
    2027-01-01   date("2027-01-01")   true   false

Numbers may group thousands with commas (1,000,000) or underscores (1_000_000); a comma followed by three
digits and no space is a thousands mark, so write lists as ``1, 2``. Text is in double quotes (also the
curly quotes Excel types). A missing value matches only ``-`` and ``null`` (in ``null, "it"`` too), as in
the YAML rules, where a test on a missing value is unknown and never fires: ``not("it")`` does not match a
missing value; write ``not("it"), null`` for that.

A cell is parsed into a :class:`Cell`; :func:`cell_condition` writes it as an expression over the input,
and :func:`cell_values` gives the values it matches, for table analysis.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.expr.domains import EVERY_NUMBER, Choice, Line, Span, Values
from engine.expr.nodes import BOOL, DATE, NUMBER, STRING
from engine.expr.parse import const_type, spaced_number_hint
from engine.expr.values import written_two_ways

MAX_CELL_TEXT = 2000


class CellError(Exception):
    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


@dataclass(frozen=True)
class Test:
    """One unary test: op is any, ==, !=, <, <=, >, >= (value) or range (value .. high)."""

    op: str
    value: Any = None
    high: Any = None
    low_in: bool = True
    high_in: bool = True


ANY = Test("any")


@dataclass(frozen=True)
class Cell:
    """A disjunction of tests, and of one not(...) group: ``not("it"), null`` is (not "it") or null."""

    tests: tuple[Test, ...]
    negated: tuple[Test, ...] | None = None  # the tests inside not(...)
    text: str = "-"

    @property
    def is_any(self) -> bool:
        return any(t.op == "any" for t in self.tests)

    @property
    def all_tests(self) -> tuple[Test, ...]:
        return self.tests + (self.negated or ())


ANY_CELL = Cell((ANY,))

# ---------------------------------------------------------------------------- parsing

_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201d": "\u201d", "\u201e": "\u201c"}
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d[\d_]*)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\d,]\d)")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?![\d-])")
_DATE_CALL = re.compile(r"date\(\s*[\"\u201c\u201d]([^\"\u201c\u201d]*)[\"\u201c\u201d]\s*\)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("<=", ">=", "!=", "<", ">", "=")


def parse_cell(value: Any) -> Cell:
    """A cell's value as a spreadsheet holds it (text, number, date, yes/no, None) -> a Cell."""
    if value is None:
        return ANY_CELL
    if isinstance(value, bool):
        return Cell((Test("==", value),), text=str(value).lower())
    if isinstance(value, (int, Decimal)):
        return Cell((Test("==", Decimal(value)),), text=str(value))
    if isinstance(value, float):
        return Cell((Test("==", _from_float(value)),), text=repr(value))
    if isinstance(value, dt.datetime):
        return Cell((Test("==", value.date()),), text=value.date().isoformat())
    if isinstance(value, dt.date):
        return Cell((Test("==", value),), text=value.isoformat())
    text = str(value).strip()
    if len(text) > MAX_CELL_TEXT:
        raise CellError("cell_syntax", f"the cell holds {len(text):,} characters; a condition is at most "
                        f"{MAX_CELL_TEXT:,}")
    if text in ("", "-"):
        return ANY_CELL
    return _Parser(text).cell()


def _from_float(value: float) -> Decimal:
    if value != value or value in (float("inf"), float("-inf")):
        raise CellError("cell_value", f"the cell holds {value}, which is not a number")
    return Decimal(repr(value))  # the shortest text that reads back as this double: 0.1, not 0.1000000000000000055


class _Parser:
    def __init__(self, text: str):
        self.text, self.at = text, 0

    def fail(self, message: str, hint: str | None = None, code: str = "cell_syntax") -> CellError:
        if code == "cell_syntax":  # '> 5 000 000': the spaces are the cause, whatever the parser met first
            hint = spaced_number_hint(self.text) or hint
        return CellError(code, f"cannot read {self.text!r} at character {self.at + 1}: {message}", hint)

    def space(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def peek(self, word: str) -> bool:
        return self.text.startswith(word, self.at)

    def cell(self) -> Cell:
        tests: list[Test] = []
        negated: list[Test] | None = None
        while True:
            self.space()
            if self.peek("not") and self.text[self.at + 3:].lstrip().startswith("("):
                if negated is not None:
                    raise self.fail("a cell has one not(...)", "put every excluded value in it: not(\"a\", \"b\")")
                self.at = self.text.index("(", self.at) + 1
                negated = self.items()
                self.space()
                if not self.peek(")"):
                    raise self.fail("not( ... ) needs its closing ')'", "write not(\"it\", \"hr\")")
                self.at += 1
            else:
                tests.append(self.test())
            self.space()
            if self.at < len(self.text) and self.text[self.at] == ",":
                self.at += 1
                continue
            break
        if self.at < len(self.text):
            raise self.fail(f"unexpected {self.text[self.at:self.at + 12]!r}",
                            "separate a list's items with a comma, e.g. \"it\", \"hr\"")
        if any(t.op == "any" for t in tests + (negated or [])) and (negated is not None or len(tests) > 1):
            raise self.fail("'-' (any value) stands alone in a cell", "write - by itself, or leave the cell empty")
        return Cell(tuple(tests), tuple(negated) if negated is not None else None, self.text)

    def items(self) -> list[Test]:
        tests = [self.test()]
        while True:
            self.space()
            if self.at < len(self.text) and self.text[self.at] == ",":
                self.at += 1
                tests.append(self.test())
                continue
            return tests

    def test(self) -> Test:
        self.space()
        if self.at >= len(self.text):
            raise self.fail("a test is missing", "remove the trailing comma, or add a value after it")
        if self.text[self.at] == "-" and (self.at + 1 >= len(self.text) or not self.text[self.at + 1].isdigit()):
            self.at += 1
            return ANY
        if self.text[self.at] in "[(]":
            return self.range()
        if self.peek("=="):
            raise self.fail("write '=' or nothing before a value, not '=='", "e.g. = 5, or just 5")
        for op in _OPS:
            if self.peek(op):
                self.at += len(op)
                start = self.at
                value = self.value()
                if value is None and op not in ("=", "!="):
                    self.at = start
                    raise self.fail(f"'{op} null' is never true", "write null (missing) or not(null) (present)")
                return Test("==" if op == "=" else op, value)
        return Test("==", self.value())

    def range(self) -> Test:
        low_in = self.text[self.at] == "["
        self.at += 1
        low = self.value()
        self.space()
        if not self.peek(".."):
            raise self.fail("a range needs '..' between its ends", "e.g. [250,000..1,000,000)")
        self.at += 2
        high = self.value()
        self.space()
        if self.at >= len(self.text) or self.text[self.at] not in "])[":
            raise self.fail("a range ends with ']' (end included) or ')' (excluded)", "e.g. [1..5]")
        high_in = self.text[self.at] == "]"
        self.at += 1
        if low is None or high is None or isinstance(low, (str, bool)) or isinstance(high, (str, bool)):
            raise self.fail("a range's ends are numbers or dates", "e.g. [1..5] or [2027-01-01..2027-12-31]",
                            code="cell_type")
        if type(low) is not type(high):
            raise self.fail("a range's ends are both numbers or both dates", code="cell_type")
        if low > high or (low == high and not (low_in and high_in)):
            raise self.fail(f"the range is empty: no value is from {low} to {high}",
                            "put the smaller end first; [5..5] is the one value 5", code="cell_empty")
        return Test("range", low, high, low_in, high_in)

    def value(self) -> Any:
        self.space()
        rest = self.text[self.at:]
        if not rest:
            raise self.fail("a value is missing")
        if rest[0] in _QUOTES:
            close = _QUOTES[rest[0]]
            out, i = [], 1
            while i < len(rest):
                char = rest[i]
                if char == "\\" and i + 1 < len(rest):
                    out.append(rest[i + 1])
                    i += 2
                    continue
                if char == close or (char in _QUOTES and close != '"' and char != '"'):
                    self.at += i + 1
                    return "".join(out)
                out.append(char)
                i += 1
            raise self.fail("the text has no closing quote", "end it with \"")
        if (m := _DATE_CALL.match(rest)) or (m := _DATE.match(rest)):
            try:
                day = dt.date.fromisoformat(m[1])
            except ValueError:
                raise self.fail(f"{m[1]!r} is not a date", "write dates as YYYY-MM-DD", code="cell_value") from None
            self.at += m.end()
            return day
        if (m := _NUMBER.match(rest)) is not None:
            raw = m[0]
            if "_" in raw and (raw.endswith("_") or "__" in raw):
                raise self.fail(f"{raw!r} is not a number", "group digits as 1_000_000")
            if (problem := written_two_ways(raw, "{},{}")) is not None:  # 100.000: 100, or a European 100,000
                raise self.fail(problem, code="cell_value")
            try:
                number = Decimal(raw.replace(",", "").replace("_", ""))
            except InvalidOperation:
                raise self.fail(f"{raw!r} is not a number") from None
            if not number.is_finite() or len(number.as_tuple().digits) > 15:
                raise self.fail(f"{raw!r} has more than 15 significant digits", code="cell_value")
            self.at += m.end()
            return number
        if rest[0].isdigit() or rest[0] == "-" and rest[1:2].isdigit():
            raise self.fail("this is not a number", "group thousands as 1,000,000 (three digits after each "
                            "comma), and separate a list's items with a comma and a space: 1, 2")
        if (m := _WORD.match(rest)) is not None:
            word = m[0]
            lowered = word.lower()
            if lowered in ("null", "true", "false"):
                self.at += m.end()
                return None if lowered == "null" else lowered == "true"
            raise self.fail(f"'{word}' is not a value", f"put text in double quotes: \"{rest.split(',')[0].strip()}\"")
        raise self.fail(f"unexpected {rest[:12]!r}", "a value is a number, \"text\", a date (YYYY-MM-DD), true, "
                        "false or null")


# ---------------------------------------------------------------------------- checking and writing

def check_cell(cell: Cell, input_type: str, enum_values: list[str] | None = None) -> None:
    """Raise CellError when the cell's values do not fit its input's type (or its enum's values)."""
    if cell.is_any:
        return
    listed = input_type.startswith("list[")
    for test in cell.all_tests:
        kind = const_type(test.value)  # a cell holds one scalar: null, yes/no, number, date or text
        if kind == "null":
            continue
        if listed:
            raise CellError("cell_type", f"the input is a list ({input_type}); a cell can only test whether it "
                            "is there", "write null, not(null) or -")
        if kind != input_type:
            raise CellError("cell_type", f"the input is a {input_type}, but {_shown(test.value)} is a {kind}",
                            _type_hint(input_type))
        if test.op in ("<", "<=", ">", ">=", "range") and input_type not in (NUMBER, DATE):
            raise CellError("cell_type", f"a {input_type} cannot be compared with '{test.op}'",
                            "compare numbers and dates; test text with = or a list")
        if enum_values is not None and kind == STRING and test.value not in enum_values:
            close = [v for v in enum_values if v.lower() == str(test.value).lower()]
            hint = f"did you mean \"{close[0]}\"?" if close else f"values: {', '.join(enum_values)}"
            raise CellError("cell_value", f"\"{test.value}\" is not one of the input's values", hint)


def _type_hint(input_type: str) -> str:
    return {NUMBER: "write a number, e.g. > 250,000", STRING: "put text in double quotes, e.g. \"it\"",
            DATE: "write a date as YYYY-MM-DD", BOOL: "write true or false"}.get(input_type, "")


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def literal(value: Any) -> str:
    """A constant in the expression language."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return f'date("{value.isoformat()}")'
    return json.dumps(value, ensure_ascii=False)


def cell_condition(cell: Cell, subject: str) -> str | None:
    """The cell as an expression over ``subject`` (the input's text, in brackets); None: any value."""
    if cell.is_any:
        return None
    parts = _disjuncts(cell.tests, subject)
    if cell.negated is not None:
        inner = _disjuncts(cell.negated, subject)
        parts.append(f"not ({_either(inner)})")
    return _either(parts)


def _either(parts: list[str]) -> str:
    return " or ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]


def _disjuncts(tests: tuple[Test, ...], subject: str) -> list[str]:
    parts: list[str] = []
    equal = [t.value for t in tests if t.op == "==" and t.value is not None]
    if len(equal) > 1:
        parts.append(f"{subject} in [{', '.join(literal(v) for v in equal)}]")
    for test in tests:
        if test.op == "==" and test.value is not None and len(equal) > 1:
            continue
        if test.op == "range":
            parts.append(f"{subject} {'>=' if test.low_in else '>'} {literal(test.value)} and "
                         f"{subject} {'<=' if test.high_in else '<'} {literal(test.high)}")
        else:
            parts.append(f"{subject} {test.op} {literal(test.value)}")
    return parts


def cell_values(cell: Cell, ordered: bool) -> Values:
    """The values the cell matches (null: whether a missing value matches), before any domain is applied."""
    if cell.is_any:
        return Values(True, EVERY_NUMBER if ordered else Choice(frozenset(), True))
    null, part = _matched(cell.tests, ordered)
    if cell.negated is not None:  # not(...) is true on the present values its tests are false on
        _, excluded = _matched(cell.negated, ordered)
        part = part | ~excluded
    return Values(null, part)


def _matched(tests: tuple[Test, ...], ordered: bool) -> tuple[bool, Any]:
    null = any(t.op == "==" and t.value is None for t in tests)
    part: Any = Line(()) if ordered else Choice(frozenset())
    for test in tests:
        if test.value is None:
            if test.op == "!=":  # != null: every present value
                part = part | (EVERY_NUMBER if ordered else Choice(frozenset(), True))
            continue
        part = part | _part(test, ordered)
    return null, part


def _part(test: Test, ordered: bool) -> Any:
    if not ordered:
        return Choice(frozenset({test.value}), cofinite=test.op == "!=")
    v = test.value
    if test.op == "range":
        return Line((Span(v, test.high, test.low_in, test.high_in),))
    one = Line((Span(v, v, True, True),))
    return {"==": one, "!=": ~one, "<": Line((Span(None, v, False, False),)),
            "<=": Line((Span(None, v, False, True),)), ">": Line((Span(v, None, False, False),)),
            ">=": Line((Span(v, None, True, False),))}[test.op]


def show_values(values: Values, ordered: bool) -> str:
    """A set of values written back in the cell language, for gaps and overlaps."""
    parts: list[str] = []
    part = values.part
    if isinstance(part, Line):
        for s in part.spans:
            if s.low is None and s.high is None:  # every present value
                return "-" if values.null else "not(null)"
            if s.low is not None and s.high is not None and s.low == s.high:
                parts.append(_shown(s.low))
            elif s.low is None:
                parts.append(f"{'<=' if s.high_in else '<'} {_shown(s.high)}")
            elif s.high is None:
                parts.append(f"{'>=' if s.low_in else '>'} {_shown(s.low)}")
            else:
                parts.append(f"{'[' if s.low_in else '('}{_shown(s.low)}..{_shown(s.high)}{']' if s.high_in else ')'}")
    elif isinstance(part, Choice):
        if part.cofinite:
            inner = ", ".join(_shown(v) for v in sorted(part.values, key=str))
            parts.append(f"not({inner})" if inner else "not(null)")
        else:
            parts += [_shown(v) for v in sorted(part.values, key=str)]
    if values.null:
        parts.append("null")
    return ", ".join(parts) if parts else "no value"
