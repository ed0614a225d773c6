"""Evaluate a numeric expression over many records at once, as numpy columns (NaN is null).

Scores are floats, so a column evaluation is the same computation as the row-by-row one, up to float
rounding. Only fields, numeric constants, + - * / and unary minus are vectorised; anything else
returns None and the caller evaluates row by row.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.expr.nodes import NUMBER, Arith, Const, Field, Node, Unary

if TYPE_CHECKING:  # numpy loads when a ranking first computes a column, not when a policy is compiled
    import numpy as np

_OPS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}  # numpy's ufuncs, by name


def vectorisable(node: Node) -> bool:
    if isinstance(node, Field):
        return node.type == NUMBER
    if isinstance(node, Const):
        return isinstance(node.value, Decimal) or node.value is None
    if isinstance(node, Unary):
        return node.op == "-" and vectorisable(node.operand)
    if isinstance(node, Arith):
        return node.type == NUMBER and vectorisable(node.left) and vectorisable(node.right)
    return False


def field_column(name: str, records: Sequence[Mapping[str, Any]], cache: dict[str, np.ndarray]) -> np.ndarray:
    """A numeric field of every record as floats (NaN: missing), converted once per cache."""
    import numpy as np

    found = cache.get(name)
    if found is None:
        found = cache[name] = np.fromiter((np.nan if (v := r[name]) is None else float(v) for r in records),
                                          float, len(records))
    return found


def column(node: Node, records: Sequence[Mapping[str, Any]], cache: dict[str, np.ndarray]) -> np.ndarray:
    """The expression's value for every record (call only when vectorisable(node))."""
    import numpy as np

    def go(n: Node) -> np.ndarray | float:
        if isinstance(n, Field):
            return field_column(n.name, records, cache)
        if isinstance(n, Const):
            return np.nan if n.value is None else float(n.value)
        if isinstance(n, Unary):
            return -go(n.operand)
        assert isinstance(n, Arith)
        left, right = go(n.left), go(n.right)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = getattr(np, _OPS[n.op])(left, right)
        if n.op == "/":  # division by zero is null, as in the row-by-row evaluator
            out = np.where(np.asarray(right) == 0, np.nan, out)
        return np.where(np.isinf(out), np.nan, out)

    result = go(node)
    return np.broadcast_to(np.asarray(result, dtype=float), (len(records),)).copy()
