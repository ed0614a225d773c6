"""Evaluate an expression in plain Python: the reference semantics.

Missing values are null, and logic is three-valued (as in SQL): a comparison or arithmetic
with null is *unknown* (None), ``and``/``or``/``not`` follow Kleene's tables, and a rule fires
only when its condition is *true*. ``x == null`` and ``x != null`` test for a missing value.
Arithmetic without a finite result (division by zero) is null too.
"""
from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from engine.expr.functions import FUNCTIONS, call, field_call
from engine.expr.nodes import Arith, Call, Compare, Const, Field, In, ListOf, Logic, Node, Unary, fields_of
from engine.expr.values import ARITH_ERRORS, CONTEXT

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}
_ARITH = {"+": CONTEXT.add, "-": CONTEXT.subtract, "*": CONTEXT.multiply, "/": CONTEXT.divide}


def evaluate(node: Node, record: Mapping[str, Any]) -> Any:
    if type(node) is Const:
        return node.value
    if type(node) is Field:
        return record.get(node.name)
    if type(node) is Compare:
        return _compare(node, record)
    if type(node) is Logic:
        return _logic(node, record)
    if type(node) is Unary:
        value = evaluate(node.operand, record)
        if value is None:
            return None
        return (not value) if node.op == "not" else CONTEXT.minus(value)
    if type(node) is Arith:
        return _arith(node.op, evaluate(node.left, record), evaluate(node.right, record))
    if type(node) is In:
        item, container = evaluate(node.item, record), evaluate(node.container, record)
        if item is None or container is None:
            return None
        return (item in container) != node.negated
    if type(node) is ListOf:
        return tuple(evaluate(i, record) for i in node.items)
    if type(node) is Call:
        return call(FUNCTIONS[node.name], [evaluate(a, record) for a in node.args])
    raise TypeError(f"cannot evaluate {type(node).__name__}")


def _compare(node: Compare, record: Mapping[str, Any]) -> bool | None:
    left, right = evaluate(node.left, record), evaluate(node.right, record)
    # Only a literal null asks "is it missing?"; a null *value* makes the comparison unknown.
    if _is_null_literal(node.right) or _is_null_literal(node.left):
        other = left if _is_null_literal(node.right) else right
        return (other is None) == (node.op == "==")
    if left is None or right is None:
        return None
    return _COMPARE[node.op](left, right)


def _is_null_literal(node: Node) -> bool:
    return type(node) is Const and node.value is None and node.type == "null"


def _logic(node: Logic, record: Mapping[str, Any]) -> bool | None:
    decisive = node.op == "or"  # the value that settles the result: True for or, False for and
    unknown = False
    for item in node.items:
        value = evaluate(item, record)
        if value is None:
            unknown = True
        elif value == decisive:
            return decisive
    return None if unknown else not decisive


def _arith(op: str, left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
    try:
        if isinstance(left, dt.date):  # date +/- days
            days = dt.timedelta(days=int(right))
            return left + days if op == "+" else left - days
        if isinstance(left, str):
            return left + right
        return _ARITH[op](left, right)
    except (OverflowError, *ARITH_ERRORS):
        return None


def compiled(node: Node) -> Callable[[Mapping[str, Any]], Any]:
    """``lambda record: evaluate(node, record)``, with the dispatch on node kinds done once, here: the same
    semantics (the same helpers, functions and null rules), for expressions evaluated on every row (derived
    values, the reference back end's conditions, the values the Rete back end computes)."""
    if type(node) is Const:
        value = node.value
        return lambda record: value
    if type(node) is Field:
        name = node.name
        return lambda record: record.get(name)
    if type(node) is Compare:
        left, right, test = compiled(node.left), compiled(node.right), _COMPARE[node.op]
        if _is_null_literal(node.right) or _is_null_literal(node.left):
            other = left if _is_null_literal(node.right) else right
            equal = node.op == "=="
            return lambda record: (other(record) is None) == equal

        def compare(record: Mapping[str, Any]) -> bool | None:
            a, b = left(record), right(record)
            return None if a is None or b is None else test(a, b)
        return compare
    if type(node) is Logic:
        items, decisive = [compiled(i) for i in node.items], node.op == "or"

        def logic(record: Mapping[str, Any]) -> bool | None:
            unknown = False
            for item in items:
                value = item(record)
                if value is None:
                    unknown = True
                elif value == decisive:
                    return decisive
            return None if unknown else not decisive
        return logic
    if type(node) is Arith:
        op, left, right = node.op, compiled(node.left), compiled(node.right)
        return lambda record: _arith(op, left(record), right(record))
    if type(node) is Call:
        function = FUNCTIONS[node.name]
        if tuple(map(type, node.args)) in ((Field,), (Field, Const)):
            made = field_call(function, node.args[0].name, tuple(a.value for a in node.args[1:]))  # type: ignore[attr-defined]
            if made is not None:
                return made
        args = [compiled(a) for a in node.args]
        return lambda record: call(function, [a(record) for a in args])
    return lambda record: evaluate(node, record)  # the rest: not on any hot path


UNKNOWN = object()  # memo_key of a value it cannot tell apart from others: not remembered
_PLAIN = (str, int, bool, dt.date, type(None))


def memo_key(value: Any) -> Any:
    """A value as a memo key that tells apart every value a function could tell apart: True from 1, 1.0 from 1
    (by type and text). A value of any other type (an alignment is a Decimal that also holds its levels per
    objective) is UNKNOWN: not remembered, computed each time."""
    kind = type(value)
    if kind in _PLAIN:
        return (kind, value)
    if kind is Decimal:
        return (kind, str(value))
    if kind is tuple:
        keys = tuple(memo_key(item) for item in value)
        return UNKNOWN if UNKNOWN in keys else (kind, keys)
    return UNKNOWN


MEMO_VALUES = 4_096  # values remembered per expression (then started afresh)
MEMO_TRIAL = 512  # values computed before an expression whose inputs hardly repeat stops remembering them


def remembered(node: Node) -> Callable[[Mapping[str, Any]], Any]:
    """``compiled(node)``, and for an expression of one or two fields its values remembered by those fields'
    values (memo_key): the same value, as every function of the language gives the same value for the same
    arguments (today() is a constant by now). An expression whose inputs rarely repeat (under one in ten of
    its first MEMO_TRIAL) stops remembering; one of more fields, or of none, is compiled as it is."""
    function = compiled(node)
    reads = tuple(sorted(fields_of(node)))
    if not 1 <= len(reads) <= 2:
        return function
    memo: dict[Any, Any] = {}
    counts = [0, 0, True]  # hits, misses, remembering
    get = memo.get
    if len(reads) == 1:
        name, = reads

        def one(record: Mapping[str, Any]) -> Any:
            if not counts[2]:
                return function(record)
            key = memo_key(record.get(name))
            if key is UNKNOWN:
                return function(record)
            value = get(key, UNKNOWN)
            if value is not UNKNOWN:
                counts[0] += 1
                return value
            value = function(record)
            _remember(memo, counts, key, value)
            return value
        return one
    first, second = reads

    def two(record: Mapping[str, Any]) -> Any:
        if not counts[2]:
            return function(record)
        key = (memo_key(record.get(first)), memo_key(record.get(second)))
        if UNKNOWN in key:
            return function(record)
        value = get(key, UNKNOWN)
        if value is not UNKNOWN:
            counts[0] += 1
            return value
        value = function(record)
        _remember(memo, counts, key, value)
        return value
    return two


def _remember(memo: dict[Any, Any], counts: list[Any], key: Any, value: Any) -> None:
    counts[1] += 1
    if counts[1] >= MEMO_TRIAL and counts[0] * 10 < counts[1]:
        counts[2] = False  # its inputs hardly repeat (an amount, an id): computed each time from now on
        memo.clear()
        return
    if len(memo) >= MEMO_VALUES:
        memo.clear()
    memo[key] = value
