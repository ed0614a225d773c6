"""Static analysis of conditions: on which values can a typed condition be true?

Used by lint (``engine/authoring/lint.py``) to find rules that never fire, always fire, or are covered by another
rule, and by the decision tables (``engine/tables``: a cell's values, gaps and overlaps), which are compiled
before any authoring tool runs: so it belongs to the language, below both. Every answer over-approximates, so an *empty* answer is a sure one:

- a :class:`Values` is what one field may hold: maybe null, plus intervals (numbers, dates) or a finite
  (or co-finite) set of constants (text, enum values, yes/no);
- a *box* maps field names to Values: the records whose named fields are all in their sets (fields it
  does not name are free); ``None`` is the empty box;
- :func:`outcomes` gives two boxes for a condition: where it is true, and where it is not true (false
  or unknown). ``and``/``or`` meet or join boxes; a join keeps only the fields both sides constrain,
  which may add records but never loses one. Anything other than a test of one field against a
  constant (arithmetic, calls, field-to-field tests) constrains nothing.

Logic is three-valued, as in ``engine/expr/evaluate.py``: a test on a missing value is unknown (neither
true nor false), ``x == null`` is not, and ``not`` swaps true and false but keeps unknown.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR
from typing import Any

from engine.expr.lookup import LookupTable
from engine.expr.nodes import (
    BOOL,
    DATE,
    NEGATE,
    NULL,
    NUMBER,
    SWAP,
    Call,
    Compare,
    Const,
    Field,
    In,
    Logic,
    Node,
    Unary,
    key,
)

# ---------------------------------------------------------------------------- value sets

@dataclass(frozen=True)
class Span:
    """One interval of ordered values; a bound of None is unbounded."""

    low: Any = None
    high: Any = None
    low_in: bool = False
    high_in: bool = False

    @property
    def empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > self.high or (self.low == self.high and not (self.low_in and self.high_in))

    def contains(self, value: Any) -> bool:
        """Whether the value lies in the span (raises TypeError for a value the bounds do not compare with)."""
        return ((self.low is None or value > self.low or (self.low_in and value == self.low)) and
                (self.high is None or value < self.high or (self.high_in and value == self.high)))

    def __and__(self, other: Span) -> Span:
        low, low_in = _inner(self.low, self.low_in, other.low, other.low_in, higher=True)
        high, high_in = _inner(self.high, self.high_in, other.high, other.high_in, higher=False)
        return Span(low, high, low_in, high_in)

    def outside(self) -> list[Span]:
        """The complement, as up to two spans."""
        below = [Span(None, self.low, False, not self.low_in)] if self.low is not None else []
        above = [Span(self.high, None, not self.high_in, False)] if self.high is not None else []
        return below + above

    def whole_numbers(self) -> Span:
        """The integers in this span, as a closed span (empty when there are none)."""
        low, high = self.low, self.high
        if low is not None:
            low = low.to_integral_value(ROUND_CEILING) if self.low_in else low.to_integral_value(ROUND_FLOOR) + 1
        if high is not None:
            high = high.to_integral_value(ROUND_FLOOR) if self.high_in else high.to_integral_value(ROUND_CEILING) - 1
        return Span(low, high, True, True)


def _inner(a: Any, a_in: bool, b: Any, b_in: bool, higher: bool) -> tuple[Any, bool]:
    """The tighter of two lower (higher=True) or upper bounds; on a tie the open one wins."""
    if a is None:
        return b, b_in
    if b is None:
        return a, a_in
    if a == b:
        return a, a_in and b_in
    return (a, a_in) if (a > b) == higher else (b, b_in)


@dataclass(frozen=True)
class Line:
    """Ordered values (numbers, dates): a union of spans."""

    spans: tuple[Span, ...]

    @property
    def empty(self) -> bool:
        return not self.spans

    def __and__(self, other: Line) -> Line:
        return Line(tuple(dict.fromkeys(s for a in self.spans for b in other.spans if not (s := a & b).empty)))

    def __or__(self, other: Line) -> Line:
        return Line(tuple(dict.fromkeys(self.spans + other.spans)))

    def __invert__(self) -> Line:
        out = EVERY_NUMBER
        for span in self.spans:
            out = out & Line(tuple(span.outside()))
        return out

    def whole_numbers(self) -> Line:
        return Line(tuple(s for s in (span.whole_numbers() for span in self.spans) if not s.empty))


EVERY_NUMBER = Line((Span(),))


@dataclass(frozen=True)
class Choice:
    """Unordered values (text, enum values, yes/no): these values, or all but these (``cofinite``)."""

    values: frozenset[object]
    cofinite: bool = False

    @property
    def empty(self) -> bool:
        return not self.cofinite and not self.values

    def __and__(self, other: Choice) -> Choice:
        if self.cofinite and other.cofinite:
            return Choice(self.values | other.values, True)
        if self.cofinite or other.cofinite:
            finite, excluded = (other, self) if self.cofinite else (self, other)
            return Choice(finite.values - excluded.values)
        return Choice(self.values & other.values)

    def __or__(self, other: Choice) -> Choice:
        return ~(~self & ~other)

    def __invert__(self) -> Choice:
        return Choice(self.values, not self.cofinite)


Part = Line | Choice


@dataclass(frozen=True)
class Values:
    """What one field may hold: maybe null, plus a part of its non-null values."""

    null: bool
    part: Part

    @property
    def empty(self) -> bool:
        return not self.null and self.part.empty

    def __and__(self, other: Values) -> Values:
        return Values(self.null and other.null, self.part & other.part)  # type: ignore[operator]

    def __or__(self, other: Values) -> Values:
        return Values(self.null or other.null, self.part | other.part)  # type: ignore[operator]

    def __invert__(self) -> Values:
        return Values(not self.null, ~self.part)


def everything(ordered: bool, null: bool = True) -> Values:
    return Values(null, EVERY_NUMBER if ordered else Choice(frozenset(), True))


def nothing(ordered: bool) -> Values:
    return Values(False, Line(()) if ordered else Choice(frozenset()))


@dataclass(frozen=True)
class Domain:
    """The values a field can hold in a record the rules see, and whether they are whole numbers."""

    values: Values
    integer: bool = False

    def fit(self, values: Values) -> Values:
        inside = values & self.values
        if self.integer and isinstance(inside.part, Line):
            return Values(inside.null, inside.part.whole_numbers())
        return inside


def domain_of(kind: str, *, null: bool = True, low: Any = None, high: Any = None,
              choices: Any = None, integer: bool = False) -> Domain:
    """A field's domain from its expression type, whether it can be missing, its range or its values."""
    if kind in (NUMBER, DATE):
        line = Line((Span(low, high, low is not None, high is not None),))
        return Domain(Values(null, line.whole_numbers() if integer else line), integer)
    if kind == BOOL:
        choices = (True, False)
    part = Choice(frozenset(choices)) if choices is not None else Choice(frozenset(), True)
    return Domain(Values(null, part))


# ---------------------------------------------------------------------------- conditions

Box = dict[str, Values] | None
TOP: dict[str, Values] = {}


def meet(a: Box, b: Box) -> Box:
    if a is None or b is None:
        return None
    out = dict(a)
    for name, values in b.items():
        out[name] = out[name] & values if name in out else values
        if out[name].empty:
            return None
    return out


def join(a: Box, b: Box) -> Box:
    if a is None:
        return b
    if b is None:
        return a
    return {name: a[name] | b[name] for name in a if name in b}


@dataclass(frozen=True)
class Test:
    """A test of one field against constants: the values on which it is true, and those on which it is false."""

    node: Node
    field: str
    true: Values
    false: Values


def as_test(node: Node) -> Test | None:
    """The test, if ``node`` compares one field with constants (or is a yes/no field); else None."""
    if isinstance(node, Field) and node.type == BOOL:
        yes, no = Choice(frozenset({True})), Choice(frozenset({False}))
        return Test(node, node.name, Values(False, yes), Values(False, no))
    if isinstance(node, Compare):
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Const):
            left, right, op = right, left, SWAP[op]
        if not (isinstance(left, Field) and isinstance(right, Const)):
            return None
        ordered = left.type in (NUMBER, DATE)
        if right.value is None:
            if right.type != NULL or op not in ("==", "!="):
                return Test(node, left.name, nothing(ordered), nothing(ordered))  # unknown either way
            missing, present = Values(True, nothing(ordered).part), everything(ordered, null=False)
            return Test(node, left.name, *((missing, present) if op == "==" else (present, missing)))
        true = _compared(op, right.value, ordered)
        return Test(node, left.name, Values(False, true), Values(False, ~true))
    if isinstance(node, In) and isinstance(node.item, Field) and isinstance(node.container, Const):
        return _membership(node, node.item, node.container.value, node.negated)
    if (isinstance(node, Call) and node.name == "in_table" and isinstance(node.args[1], Field)
            and isinstance(node.args[0], Const) and isinstance(node.args[0].value, LookupTable)):  # as check.py builds it
        return _membership(node, node.args[1], tuple(node.args[0].value.rows), False)  # key in table: its keys
    return None


def _membership(node: Node, item: Field, values: tuple[object, ...], negated: bool) -> Test:
    ordered = item.type in (NUMBER, DATE)
    members: Part = (Line(tuple(Span(v, v, True, True) for v in dict.fromkeys(values)))
                     if ordered else Choice(frozenset(values)))
    true, false = Values(False, members), Values(False, ~members)
    return Test(node, item.name, *((false, true) if negated else (true, false)))


def _compared(op: str, value: Any, ordered: bool) -> Part:
    if not ordered:
        return Choice(frozenset({value}), cofinite=op == "!=")
    return {"==": Line((Span(value, value, True, True),)), "!=": ~Line((Span(value, value, True, True),)),
            "<": Line((Span(None, value, False, False),)), "<=": Line((Span(None, value, False, True),)),
            ">": Line((Span(value, None, False, False),)), ">=": Line((Span(value, None, True, False),))}[op]


def outcomes(node: Node, domains: Mapping[str, Domain], negate: bool = False,
             only: str | None = None) -> tuple[Box, Box]:
    """(where the condition is true, where it is not true), for ``not node`` when ``negate``.

    ``only``: reason about this field's tests alone (the others constrain nothing), to find which
    field's tests contradict each other.
    """
    if isinstance(node, Unary) and node.op == "not":
        return outcomes(node.operand, domains, not negate, only)
    if isinstance(node, Logic):
        conjunction = (node.op == "and") != negate
        parts = [outcomes(item, domains, negate, only) for item in node.items]
        yes, no = parts[0]
        for more_yes, more_no in parts[1:]:
            yes = meet(yes, more_yes) if conjunction else join(yes, more_yes)
            no = join(no, more_no) if conjunction else meet(no, more_no)
        return yes, no
    if isinstance(node, Const):
        if node.value is None:
            return None, TOP  # unknown: never true, and not true everywhere
        return (TOP, None) if bool(node.value) != negate else (None, TOP)
    test = as_test(node)
    if test is None or (only is not None and test.field != only):
        return TOP, TOP
    domain = domain_in(domains, test.field, isinstance(test.true.part, Line))
    holds = test.false if negate else test.true
    return _box(test.field, domain.fit(holds)), _box(test.field, domain.fit(~holds))


def domain_in(domains: Mapping[str, Domain], name: str, ordered: bool) -> Domain:
    """The field's domain; anything at all for a name the domains do not know."""
    return domains.get(name) or Domain(everything(ordered))


def _box(name: str, values: Values) -> Box:
    return None if values.empty else {name: values}


def tests(node: Node, negate: bool = False) -> Iterator[tuple[Test, bool]]:
    """Every single-field test in the condition, with whether it is negated (after pushing ``not`` down)."""
    if isinstance(node, Unary) and node.op == "not":
        yield from tests(node.operand, not negate)
    elif isinstance(node, Logic):
        for item in node.items:
            yield from tests(item, negate)
    elif (test := as_test(node)) is not None:
        yield test, negate


def conjunction(node: Node, negate: bool = False) -> bool:
    """True when the condition is an ``and`` of single-field tests, so its true-box is exact."""
    if isinstance(node, Unary) and node.op == "not":
        return conjunction(node.operand, not negate)
    if isinstance(node, Logic):
        return (node.op == "and") != negate and all(conjunction(item, negate) for item in node.items)
    return as_test(node) is not None


def covers(outer: Box, inner: Box, domains: Mapping[str, Domain]) -> bool:
    """Whether every record in ``inner`` is in ``outer`` (both boxes; ``outer`` must be exact)."""
    if inner is None:
        return True
    if outer is None:
        return False
    for name, values in outer.items():
        domain = domain_in(domains, name, isinstance(values.part, Line))
        mine = inner.get(name, domain.values)
        if not domain.fit(mine & ~values).empty:
            return False
    return True


def canonical(node: Node, negate: bool = False) -> tuple[object, ...]:
    """A normal form of a condition: ``not`` pushed down, ``and``/``or`` flattened and unordered,
    constants on the right. Two conditions with the same normal form are the same condition."""
    if isinstance(node, Unary) and node.op == "not":
        return canonical(node.operand, not negate)
    if isinstance(node, Logic):
        op = "and" if (node.op == "and") != negate else "or"
        items: set[tuple[object, ...]] = set()
        for item in node.items:
            form = canonical(item, negate)
            inner = form[1]  # an and/or form holds the frozenset of its items' forms
            items |= inner if form[0] == op and isinstance(inner, frozenset) else {form}
        return (op, frozenset(items))
    if isinstance(node, Const):
        return ("const", None if node.value is None else bool(node.value) != negate)
    if isinstance(node, Field) and node.type == BOOL:
        return ("test", key(node), "==", not negate)
    if isinstance(node, Compare):
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Const):
            left, right, op = right, left, SWAP[op]
        op = NEGATE[op] if negate else op
        if left.type == BOOL and isinstance(right, Const) and isinstance(right.value, bool) and op in ("==", "!="):
            return ("test", key(left), "==", right.value == (op == "=="))
        return ("test", key(left), op, _value_key(right))
    if isinstance(node, In) and isinstance(node.container, Const):
        return ("in", key(node.item), frozenset(node.container.value), node.negated != negate)
    return ("other", key(node), negate)


def _value_key(node: Node) -> tuple[object, ...]:
    """Constants by value (1e6 and 1_000_000 are one number), other operands by structure."""
    return ("const", node.type, node.value) if isinstance(node, Const) else key(node)
