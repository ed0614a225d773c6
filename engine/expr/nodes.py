"""The expression tree. Parsed from text, typed by the checker, evaluated or lowered.

Value model (both back ends share it):
    number  -> decimal.Decimal, 15 significant digits (arithmetic as in a spreadsheet)
    string  -> str          bool -> bool          date -> datetime.date
    list    -> tuple of numbers or of strings      missing -> None ("null")
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.expr.lookup import LookupTable

# Types are plain strings; lists carry their item type.
NUMBER, STRING, BOOL, DATE, NULL = "number", "string", "bool", "date", "null"
LIST_NUMBER, LIST_STRING = "list[number]", "list[string]"
SCALARS = (NUMBER, STRING, BOOL, DATE)
# A comparison's negation (not (a < b) is a >= b, with the same unknowns in three-valued logic) and its operator
# with the sides swapped (a < b is b > a): one table for lint, counterfactuals and the Rete lowering.
NEGATE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<="}
SWAP = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


class AlignmentType(str):
    """The type of an alignment field: a number (it compares, adds and scores as one) that also knows the
    strategy's objectives, so ``alignment["net-zero"]`` and ``serves("net-zero")`` are checked at load."""

    objectives: tuple[str, ...]

    def __new__(cls, objectives: Iterable[str] = ()) -> AlignmentType:
        self = super().__new__(cls, NUMBER)
        self.objectives = tuple(objectives)
        return self

    def __reduce__(self) -> tuple[type[AlignmentType], tuple[tuple[str, ...]]]:
        return (AlignmentType, (self.objectives,))  # pickled with its objectives (workers get compiled policies)


class TableType(str):
    """The type of a lookup table's name (engine/refdata): not a value, but what lookup() and ``in`` read."""

    table: LookupTable | None

    def __new__(cls, table: LookupTable | None = None) -> TableType:
        self = super().__new__(cls, "table")
        self.table = table
        return self

    def __reduce__(self) -> tuple[type[TableType], tuple[LookupTable | None]]:
        return (TableType, (self.table,))


def list_of(item_type: str) -> str:
    return f"list[{item_type}]"


def item_of(list_type: str) -> str | None:
    return list_type[5:-1] if list_type.startswith("list[") else None


@dataclass(eq=False)
class Node:
    offset: int  # character offset into the expression text, for error carets
    type: str = field(default="", init=False)


@dataclass(eq=False)
class Const(Node):
    value: Any


@dataclass(eq=False)
class Field(Node):
    name: str


@dataclass(eq=False)
class Unary(Node):
    op: str  # "not" | "-"
    operand: Node


@dataclass(eq=False)
class Arith(Node):
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(eq=False)
class Compare(Node):
    op: str  # == != < <= > >=
    left: Node
    right: Node


@dataclass(eq=False)
class Logic(Node):
    op: str  # "and" | "or"
    items: list[Node]


@dataclass(eq=False)
class In(Node):
    item: Node
    container: Node
    negated: bool = False


@dataclass(eq=False)
class ListOf(Node):
    items: list[Node]


@dataclass(eq=False)
class Call(Node):
    name: str
    args: list[Node]


def fields_of(node: Node) -> set[str]:
    """Names of the fields an expression reads."""
    out: set[str] = set()
    for n in walk(node):
        if isinstance(n, Field):
            out.add(n.name)
    return out


def children(node: Node) -> list[Node]:
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, (Arith, Compare)):
        return [node.left, node.right]
    if isinstance(node, (Logic, ListOf)):
        return list(node.items)
    if isinstance(node, In):
        return [node.item, node.container]
    if isinstance(node, Call):
        return list(node.args)
    return []


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in children(node):
        yield from walk(child)


def key(node: Node) -> tuple[Any, ...]:
    """A structural identity, used to share one computed value between rules."""
    if isinstance(node, Const):
        return ("const", node.type, repr(node.value))
    if isinstance(node, Field):
        return ("field", node.name)
    tag = type(node).__name__
    extra = getattr(node, "op", None) or getattr(node, "name", None) or getattr(node, "negated", None)
    return (tag, extra, tuple(key(c) for c in children(node)))
