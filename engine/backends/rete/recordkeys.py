"""The rules that fire on a record, remembered by the classes of the record's own values (issue #19).

A ruleset's answer depends on a fact only through the classes of its slots (engine/backends/rete/driver.py,
``_Group``): a number compared with constants through where its key falls among them, a text through which
constant it equals, and so on. The driver computes those classes from the fact, whose numbers are already
keys (``lower.rete_value``: a Decimal through float() and its bits, which costs more than the match it
saves). Here they are computed from the record's values as they are, and the fact is built only when a
class is new (then the core is asked, once per class):

- a Decimal among a slot's number constants: each constant is a key K, the key of one double d (or of
  none); the Decimals whose key is K are those whose float() is d, an interval whose ends are the midpoints
  between d and its neighbouring doubles (float() rounds to the nearest). So where a Decimal falls among
  those midpoints (its place among them, and whether it is one) decides its class exactly, with Decimal
  comparisons, which never round. Finer than the class is harmless (two remembered answers that are equal).
- a date: its ordinal is its key, so the key's class is computed directly.
- text and yes/no as they are (the fact holds them as they are), presence as ``is not None``.
- anything else (an int, a float, a Decimal subclass that changes how it compares, a value of another type)
  by the driver's own rule on its key (``rete_value``): slower, exactly the driver's classes.

Each form of a slot's class is distinct from the others (an int for a Decimal's place, the driver's tuples
for the rest), so two records share a remembered answer only when their classes are equal.
"""
from __future__ import annotations

import bisect
import datetime as dt
import math
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, Inexact, localcontext
from typing import Any, NamedTuple

from engine.backends.rete.driver import _SAFE_CHARS
from engine.backends.rete.lower import rete_value

_ABSENT = object()  # a slot the fact does not have (the record's value is None)
_OTHER_TEXT = ("text", "other")  # as the driver's: a text equal to none of the constants
_PACK_Q, _UNPACK_D = struct.Struct("<q").pack, struct.Struct("<d").unpack
_LOW_BITS = 0x7FFF_FFFF_FFFF_FFFF
_KEY_INF = 0x7FF0_0000_0000_0000  # number_key(inf); -_KEY_INF - 1 is number_key(-inf)
_TWO_1024 = Decimal(2**1024)  # the double after the largest, were there one: where rounding to it starts


def key_double(key: int) -> float | None:
    """The double whose lower.number_key is ``key`` (-0.0 for -1, which no double's key is), or None for a
    key beyond the infinities' (a NaN's bits)."""
    if not -_KEY_INF - 1 <= key <= _KEY_INF:
        return None
    bits = key if key >= 0 else key ^ _LOW_BITS
    value: float = _UNPACK_D(_PACK_Q(bits))[0]
    return value


def _as_decimal(value: float) -> Decimal:
    if math.isinf(value):
        return _TWO_1024 if value > 0 else -_TWO_1024
    return Decimal(value)  # exact


def _midpoint(a: float, b: float) -> Decimal:
    with localcontext() as context:
        context.prec, context.Emin, context.Emax = 2_000, -999_999, 999_999
        context.clear_flags()
        middle = (_as_decimal(a) + _as_decimal(b)) / 2
        assert not context.flags[Inexact]  # two doubles' midpoint is a short dyadic fraction: exact
    return middle


def decimal_bounds(keys: Sequence[int]) -> list[Decimal]:
    """The Decimals where a Decimal's class among these number keys (its key's place among them, and whether it
    equals one) can change: the midpoints around each key's double. Sorted, distinct."""
    bounds: set[Decimal] = set()
    for key in keys:
        double = key_double(key)
        if double is None or math.isinf(double):
            # a NaN's key: every number's key is on one side of it. The infinities': the numbers that round
            # to them start at the midpoint after the largest double (below), which the largest's bounds hold.
            if double is not None:
                last = math.copysign(sys.float_info.max, double)
                bounds.add(_midpoint(last, double))
            continue
        for neighbour in (math.nextafter(double, -math.inf), math.nextafter(double, math.inf)):
            bounds.add(_midpoint(double, neighbour))
    return sorted(bounds)


def _itself(value: Any) -> Any:
    """The value as its own class (the driver's _as_itself), None meaning absent."""
    if value is None or value is _ABSENT:
        return _ABSENT
    return (value.__class__, value)


def _driver_part(how: str, given: Any) -> Callable[[Any], Any]:
    """The driver's class of a slot's fact value (``_ABSENT`` when missing), as driver._key_function computes it."""
    place, safe = bisect.bisect_left, _SAFE_CHARS
    if how == "presence":
        return lambda v: v is not _ABSENT
    if how == "number":
        ordered, equal = list(given), frozenset(given)
        return lambda v: (place(ordered, v), v in equal) if v.__class__ is int else _itself(v)
    if how == "text":
        return lambda v: ((v if v in given else _OTHER_TEXT) if v.__class__ is str and len(v) <= safe
                          else _itself(v))
    return _itself


_SAME_COMPARISONS = ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__hash__", "__float__")


def plain_decimal(kind: type) -> bool:
    """A Decimal class that compares, hashes and converts to float as Decimal does (an Alignment: a Decimal that
    also keeps its parts), so the Decimal rule holds for its values."""
    return issubclass(kind, Decimal) and all(getattr(kind, m) is getattr(Decimal, m) for m in _SAME_COMPARISONS)


class Slot(NamedTuple):
    """Where a slot's value comes from: ``read`` is Python source giving the record's value (None: missing),
    and ``encoded`` whether the fact holds rete_value of it (numbers, dates, lists) or the value as it is."""

    read: str
    encoded: bool


def keys_source(groups: Sequence[tuple[Sequence[tuple[str, tuple[Any, ...]]], Sequence[tuple[tuple[str, str], bool]]]],
                slots: Mapping[str, Slot], namespace: dict[str, Any]) -> list[str]:
    """Python lines of a function body (``record`` and ``get = record.get`` in scope) that read each slot's value
    into ``a_<slot>`` and compute ``k0, k1, ...``: each group's class key of the record. ``groups``: each group's
    (slot, classifier) pairs and (pair of slots, guarded) pairs, as driver._Group has them. The constants and
    helpers the lines use go in ``namespace``."""
    namespace.update({"ABSENT": _ABSENT, "itself": _itself, "place": bisect.bisect_left, "date": dt.date,
                      "DECS": {Decimal}, "encode": rete_value})
    lines: list[str] = []
    known: dict[str, str] = {}  # slot -> its variable
    for name, source in slots.items():
        variable = f"a_{name}"
        known[name] = variable
        lines.append(f"    {variable} = {source.read}")
    count = 0
    for g, (classes, pairs) in enumerate(groups):
        parts: list[str] = []
        for slot, (how, *given) in classes:
            a, encoded = known[slot], slots[slot].encoded
            count += 1
            fallback = f"slow{count}"
            namespace[fallback] = _fallback(_driver_part(how, given[0] if given else None), encoded, namespace["DECS"])
            if how == "presence":
                parts.append(f"{a} is not None")
            elif how == "number" and encoded:
                bounds = decimal_bounds(given[0])
                namespace[f"t{count}"], namespace[f"s{count}"] = bounds, frozenset(bounds)
                namespace[f"b{count}"], namespace[f"e{count}"] = list(given[0]), frozenset(given[0])
                parts.append(f"(ABSENT if {a} is None else place(t{count}, {a}) * 2 + ({a} in s{count}) "
                             f"if {a}.__class__ in DECS else "
                             f"(place(b{count}, {a}.toordinal()), {a}.toordinal() in e{count}) "
                             f"if {a}.__class__ is date else {fallback}({a}))")
            elif how == "itself":  # text and yes/no are their own keys (rete_value leaves them as they are)
                parts.append(f"(ABSENT if {a} is None else ({a}.__class__, {a}) "
                             f"if {a}.__class__ is bool or {a}.__class__ is str else {fallback}({a}))")
            elif how == "text" and not encoded:
                namespace[f"texts{count}"] = given[0]  # not k<n>: the group keys below are k0, k1, ...
                # a missing text (an optional field's usual value) is ABSENT here, as itself() makes it, without a call
                parts.append(f"(ABSENT if {a} is None else ({a} if {a} in texts{count} else OTHER) "
                             f"if {a}.__class__ is str and len({a}) <= SAFE else itself({a}))")
            else:
                parts.append(f"{fallback}({a})")
        for (left, right), guarded in pairs:
            x, y = known[left], known[right]
            count += 1
            namespace[f"pair{count}"] = _pair(guarded, slots[left].encoded, slots[right].encoded)
            if guarded:  # a missing value makes the comparison decide nothing (its presence is in the key)
                parts.append(f"(None if {x} is None or {y} is None else ({x} > {y}) - ({x} < {y}) "
                             f"if {x}.__class__ is date and {y}.__class__ is date else pair{count}({x}, {y}))")
            else:
                parts.append(f"pair{count}({x}, {y})")
        lines.append(f"    k{g} = ({', '.join(parts)}{',' if len(parts) == 1 else ''})")
    namespace.update({"OTHER": _OTHER_TEXT, "SAFE": _SAFE_CHARS})
    return lines


def _fact_value(value: Any, encoded: bool) -> Any:
    if value is None:
        return _ABSENT
    return rete_value(value) if encoded else value


def _fallback(part: Callable[[Any], Any], encoded: bool, decimals: set[type]) -> Callable[[Any], Any]:
    """The driver's class of the value's key; a plain Decimal subclass met here is taken by the Decimal rule
    from then on (``decimals``: the classes it covers)."""
    def slow(value: Any) -> Any:
        kind = value.__class__
        if kind not in decimals and isinstance(value, Decimal) and plain_decimal(kind):
            decimals.add(kind)
        return part(_fact_value(value, encoded))
    return slow


def _pair(guarded: bool, left_encoded: bool, right_encoded: bool) -> Callable[[Any, Any], Any]:
    """The order of two slots' keys as the driver's key function gives it."""
    def order(a: Any, b: Any) -> Any:
        x, y = _fact_value(a, left_encoded), _fact_value(b, right_encoded)
        if x.__class__ is int and y.__class__ is int:
            return (x > y) - (x < y)
        if guarded and (x is _ABSENT or y is _ABSENT):
            return None
        return (_itself(x), _itself(y))
    return order
