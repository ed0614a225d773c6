"""Lower typed conditions to durable_rules condition JSON.

The Rete network does the logic; Python computes only what Rete cannot compare natively.
Each condition is put in negation normal form (``not`` pushed down to the comparisons,
which is exact under three-valued logic), and each comparison becomes one Rete test on a
*slot* of the fact:

- a field used directly gets a slot ``f0, f1, ...`` (so proposal names such as ``id``,
  ``sid`` or ``t`` never meet durable_rules' reserved keys);
- any other operand (arithmetic, a function call, ``x in list_field``) is *lifted*: a slot
  ``c0, c1, ...`` whose value Python computes before the fact is asserted. Identical
  subexpressions share one slot.

A missing value is left out of the fact, so every Rete test on it fails: exactly the
"unknown never fires" rule of the reference evaluator. Field-to-field tests get explicit
existence guards, because durable_rules matches ``x > y`` when ``y`` is absent.
"""
from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.expr.nodes import NEGATE, NULL, SWAP, Compare, Const, Field, In, Logic, Node, Unary, key

_RETE_OP = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}

ALWAYS, NEVER = True, False  # a condition that folded to a constant
MAX_TEXT_BYTES = 65_535  # the C core compares text with 16-bit lengths: longer text compares like its length mod 65,536
_SAFE_TEXT_CHARS = MAX_TEXT_BYTES // 6  # text constants the core compares exactly, whatever their characters


_DOUBLE = struct.Struct("<d").pack
_INT64 = struct.Struct("<q").unpack
_LOW_BITS = 0x7FFF_FFFF_FFFF_FFFF


def number_key(number: float) -> int:
    """The double's bits as an integer that orders as the doubles do (IEEE order, -0.0 as 0.0).

    The core reads doubles with the C library's atof(), which follows the process's locale: under
    de_DE.UTF-8 "0.75" reads as 0. It reads integers with atoll(), the same in every locale, and
    compares two integers exactly, so every number is handed over as this key."""
    bits: int = _INT64(_DOUBLE(number + 0.0))[0]
    return bits if bits >= 0 else bits ^ _LOW_BITS


def rete_value(value: Any) -> Any:
    """An expression value as durable_rules compares it. Numbers become number_key(float(value)), exact
    because distinct numbers of our model map to distinct, equally ordered doubles (engine.expr.values)."""
    if isinstance(value, Decimal):
        bits = _INT64(_DOUBLE(float(value) + 0.0))[0]  # number_key, inlined: it runs for every number of every row
        return bits if bits >= 0 else bits ^ _LOW_BITS
    if isinstance(value, dt.date):
        return value.toordinal()
    if isinstance(value, tuple):  # only ever tested for presence: lists cannot be compared
        return True
    if type(value) in (int, float):
        return number_key(float(value))
    return value


@dataclass
class Lowering:
    """Slots shared by all the rules of one policy."""

    field_slots: dict[str, str] = field(default_factory=dict)  # field name -> slot key
    computed: dict[tuple[Any, ...], tuple[str, Node]] = field(default_factory=dict)  # structure -> (slot key, expression)

    def condition(self, node: Node, negate: bool = False) -> Any:
        """durable_rules JSON for ``node`` (or its negation), or ALWAYS / NEVER."""
        if isinstance(node, Unary) and node.op == "not":
            return self.condition(node.operand, not negate)
        if isinstance(node, Logic):
            is_and = (node.op == "and") != negate
            parts = [self.condition(item, negate) for item in node.items]
            return _combine(parts, is_and)
        if isinstance(node, Const):
            if node.value is None:
                return NEVER  # unknown fires neither way
            return ALWAYS if bool(node.value) != negate else NEVER
        if isinstance(node, (Compare, In)) and _long_text_constant(node):
            return {self.slot(node): not negate}  # too long for the core to compare: Python computes it
        if isinstance(node, Compare):
            return self.compare(NEGATE[node.op] if negate else node.op, node.left, node.right)
        if isinstance(node, In) and isinstance(node.container, Const):
            return self.membership(node.item, node.container.value, node.negated != negate)
        # A yes/no field, or a yes/no value Python computes (matches(), x in list_field, ...).
        return {self.slot(node): not negate}

    def compare(self, op: str, left: Node, right: Node) -> Any:
        for a, b in ((left, right), (right, left)):
            if isinstance(b, Const) and b.type == NULL:  # "x == null" asks whether x is missing
                return {"$nex" if op == "==" else "$ex": {self.slot(a): 1}}
        if isinstance(left, Const):
            left, right, op = right, left, SWAP[op]
        target = self.slot(left)
        if isinstance(right, Const):
            if right.value is None:
                return NEVER
            value: Any = rete_value(right.value)
        else:
            other = self.slot(right)
            return {"$and": [{"$ex": {target: 1}}, {"$ex": {other: 1}}, _test(op, target, {"$m": other})]}
        return _test(op, target, value)

    def membership(self, item: Node, values: tuple[Any, ...], negated: bool) -> Any:
        target = self.slot(item)
        tests = [_test("!=" if negated else "==", target, rete_value(v)) for v in dict.fromkeys(values)]
        if not tests:
            return {"$ex": {target: 1}} if negated else NEVER
        return _combine(tests, is_and=negated)

    def slot(self, node: Node) -> str:
        if isinstance(node, Field):
            if node.name not in self.field_slots:
                self.field_slots[node.name] = f"f{len(self.field_slots)}"
            return self.field_slots[node.name]
        identity = key(node)
        if identity not in self.computed:
            self.computed[identity] = (f"c{len(self.computed)}", node)
        return self.computed[identity][0]

    @property
    def slot_count(self) -> int:
        return len(self.field_slots) + len(self.computed)

    def computed_slots(self) -> list[tuple[str, Node]]:
        return list(self.computed.values())


def _long_text_constant(node: Compare | In) -> bool:
    """A text constant the core might compare wrongly: over 65,535 bytes as JSON (6 bytes at most a character)."""
    constants = [n for n in (node.left, node.right) if isinstance(n, Const)] if isinstance(node, Compare) else \
        [node.container] if isinstance(node.container, Const) else []
    values = [v for c in constants for v in (c.value if isinstance(c.value, tuple) else (c.value,))]
    return any(isinstance(v, str) and len(v) > _SAFE_TEXT_CHARS for v in values)


def _test(op: str, target: str, value: Any) -> dict[str, Any]:
    if op == "==":
        return {target: value}
    return {_RETE_OP[op]: {target: value}}


def _combine(parts: list[Any], is_and: bool) -> Any:
    absorbing, neutral = (NEVER, ALWAYS) if is_and else (ALWAYS, NEVER)
    if any(p is absorbing for p in parts):
        return absorbing
    parts = [p for p in parts if p is not neutral]
    if not parts:
        return neutral
    if len(parts) == 1:
        return parts[0]
    return {"$and" if is_and else "$or": parts}
