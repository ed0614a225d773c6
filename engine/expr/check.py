"""Type-check an expression against the field schema, at load time.

The checker fills in every node's type, folds what is constant (``today()``, ``date("...")``,
literal lists, ``250_000 * 4``) and raises :class:`ExprError` at the first problem, with
its position and, where one exists, a "did you mean" hint.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from engine.errors import did_you_mean
from engine.expr.evaluate import evaluate
from engine.expr.functions import FUNCTIONS, Function, call
from engine.expr.nodes import (
    BOOL,
    DATE,
    NULL,
    NUMBER,
    STRING,
    AlignmentType,
    Arith,
    Call,
    Compare,
    Const,
    Field,
    In,
    ListOf,
    Logic,
    Node,
    TableType,
    Unary,
    item_of,
    list_of,
    walk,
)
from engine.expr.parse import ExprError, const
from engine.expr.regex import regex_problem
from engine.expr.values import ValueProblem, to_date


class Checker:
    def __init__(self, field_types: Mapping[str, str], today: dt.date):
        self.field_types = field_types
        self.today = today

    def check(self, node: Node, want: str | None = None) -> Node:
        node = self.visit(node)
        if want == BOOL and node.type not in (BOOL, NULL):
            raise ExprError("type_mismatch", f"a condition must be true or false, but this is a {node.type}",
                            node.offset, _condition_hint(node))
        return node

    def visit(self, node: Node) -> Node:
        method = getattr(self, "visit_" + type(node).__name__)
        node = method(node)
        return self.fold(node)

    def fold(self, node: Node) -> Node:
        """Replace a subexpression that reads no field by its value."""
        if isinstance(node, (Const, Field)) or _reads_fields(node):
            return node
        try:
            value = evaluate(node, {})
            folded = const(value, node.offset)  # e.g. a list whose items fold to values of two types
        except ValueProblem as exc:
            raise ExprError("bad_value", str(exc), node.offset) from None
        folded.type = node.type if value is None else folded.type
        return folded

    def visit_Const(self, node: Const) -> Node:
        return node

    def visit_Field(self, node: Field) -> Node:
        if node.name not in self.field_types:
            hint = did_you_mean(node.name, self.field_types) or "declare it under 'fields' or 'derived'"
            raise ExprError("unknown_field", f"'{node.name}' is not a field", node.offset, hint)
        node.type = self.field_types[node.name]
        if isinstance(node.type, TableType):
            raise ExprError("type_mismatch", f"'{node.name}' is a lookup table, not a value", node.offset,
                            f'read it with lookup({node.name}, key, "column") or key in {node.name}')
        return node

    def _table(self, node: Node, function: str) -> Const:
        """The lookup table a name stands for, as a constant."""
        kind = self.field_types.get(node.name) if isinstance(node, Field) else None
        if not isinstance(kind, TableType):
            tables = sorted(n for n, t in self.field_types.items() if isinstance(t, TableType))
            if isinstance(node, Field) and node.name not in self.field_types:
                self.visit_Field(node)  # unknown: "not a field", with a did-you-mean among fields and tables
            raise ExprError("type_mismatch", f"{function} needs a lookup table (kind: lookup) here", node.offset,
                            f"tables: {', '.join(tables)}" if tables else "declare one in a file with kind: lookup")
        table = Const(node.offset, kind.table)
        table.type = kind
        return table

    def _in_table(self, node: In) -> Node:
        """key in table: a call Python computes (a slot on the Rete back end), however many rows the table has."""
        table = self._table(node.container, "'in'")
        item = self.visit(node.item)
        if item.type not in (table.value.key_type, NULL):
            raise ExprError("type_mismatch", f"cannot look for a {item.type} among the keys of '{table.value.name}', "
                            f"which are {table.value.key_type}", node.offset)
        call = Call(node.offset, "in_table", [table, item])
        call.type = BOOL
        if not node.negated:
            return call
        negated = Unary(node.offset, "not", call)
        negated.type = BOOL
        return negated

    def _lookup(self, node: Call) -> Node:
        if len(node.args) != 3:
            raise ExprError("type_mismatch", f"lookup(): takes 3 arguments, got {len(node.args)}", node.offset,
                            'usage: lookup(table, key, "column")')
        table = self._table(node.args[0], "lookup()")
        key, column = self.visit(node.args[1]), self.visit(node.args[2])
        data = table.value
        if key.type not in (data.key_type, NULL):
            raise ExprError("type_mismatch", f"lookup(): the keys of '{data.name}' ({data.key}) are {data.key_type}, "
                            f"not {key.type}", key.offset)
        if not (isinstance(column, Const) and isinstance(column.value, str)):
            raise ExprError("not_constant", "lookup(): write the column as text in quotes", column.offset,
                            f'columns of {data.name}: {", ".join(data.columns)}')
        if column.value not in data.columns:
            raise ExprError("unknown_column", f"'{column.value}' is not a column of table '{data.name}'",
                            column.offset, did_you_mean(column.value, data.columns)
                            or f"columns: {', '.join(data.columns)}")
        node.args = [table, key, column]
        node.type = data.columns[column.value]
        return node

    def visit_Unary(self, node: Unary) -> Node:
        node.operand = self.visit(node.operand)
        t = node.operand.type
        if node.op == "not":
            _expect(node.operand, BOOL, "'not' needs a condition")
            node.type = BOOL
        else:
            _expect(node.operand, NUMBER, "'-' needs a number")
            node.type = NUMBER if t != NULL else NULL
        return node

    def visit_Arith(self, node: Arith) -> Node:
        node.left, node.right = self.visit(node.left), self.visit(node.right)
        lt, rt = node.left.type, node.right.type
        if NULL in (lt, rt):
            node.type = NUMBER if NUMBER in (lt, rt) else NULL
        elif lt == rt == NUMBER:
            node.type = NUMBER
        elif node.op in "+-" and lt == DATE and rt == NUMBER:
            node.type = DATE
        elif node.op == "+" and lt == rt == STRING:
            node.type = STRING
        else:
            hint = "use days_between(start, end) for the days between two dates" if lt == rt == DATE else None
            raise ExprError("type_mismatch", f"cannot apply '{node.op}' to {lt} and {rt}", node.offset, hint)
        return node

    def visit_Compare(self, node: Compare) -> Node:
        node.left, node.right = self.visit(node.left), self.visit(node.right)
        lt, rt = node.left.type, node.right.type
        node.type = BOOL
        if NULL in (lt, rt):
            if node.op not in ("==", "!="):
                raise ExprError("type_mismatch", f"'{node.op}' with null is never true",
                                node.offset, "test for a missing value with '== null' or '!= null'")
            return node
        if lt != rt:
            hint = None
            if DATE in (lt, rt) and STRING in (lt, rt):
                hint = 'write a date constant as date("2027-01-31")'
            raise ExprError("type_mismatch", f"cannot compare {lt} with {rt}", node.offset, hint)
        if node.op not in ("==", "!=") and lt not in (NUMBER, DATE):
            raise ExprError("type_mismatch", f"'{node.op}' needs numbers or dates, not {lt}", node.offset,
                            "text and yes/no values compare with '==' and '!=' only")
        if item_of(lt):
            raise ExprError("type_mismatch", "lists cannot be compared", node.offset, "use 'in', len() or sum()")
        return node

    def visit_Logic(self, node: Logic) -> Node:
        node.items = [self.visit(item) for item in node.items]
        for item in node.items:
            _expect(item, BOOL, f"'{node.op}' joins conditions")
        node.type = BOOL
        return node

    def visit_In(self, node: In) -> Node:
        if isinstance(node.container, Field) and isinstance(self.field_types.get(node.container.name), TableType):
            return self._in_table(node)
        node.item, node.container = self.visit(node.item), self.visit(node.container)
        inner = item_of(node.container.type)
        if inner is None:
            raise ExprError("type_mismatch", f"'in' needs a list on its right, not {node.container.type}",
                            node.container.offset, 'for text use contains(text, "part")')
        if isinstance(node.container, Const) and node.container.value == ():
            node.container.type = list_of(node.item.type)  # [] takes the type of what is searched for
            inner = node.item.type
        if node.item.type not in (inner, NULL):
            raise ExprError("type_mismatch", f"cannot look for a {node.item.type} in a list of {inner}", node.offset)
        node.type = BOOL
        return node

    def visit_ListOf(self, node: ListOf) -> Node:
        node.items = [self.visit(item) for item in node.items]
        types = {i.type for i in node.items} - {NULL}
        if len(types) > 1:
            raise ExprError("type_mismatch", f"a list must hold one type, got {' and '.join(sorted(types))}", node.offset)
        if any(i.type == NULL for i in node.items):
            raise ExprError("type_mismatch", "a list cannot hold null", node.offset)
        inner = types.pop() if types else NUMBER
        if item_of(inner):
            raise ExprError("type_mismatch", "lists of lists are not supported", node.offset)
        node.type = list_of(inner)
        return node

    def _function_hint(self, node: Call) -> str:
        """A function of the same name-likeness that takes these arguments: 'day(go_live)' is not 'today()'."""
        try:
            types = [self.visit(a).type for a in node.args]
        except ExprError:
            return did_you_mean(node.name, FUNCTIONS) or "see 'pmo expr --help' for the functions"
        fitting = [f for f in FUNCTIONS.values() if _takes(f, types)]
        hint = did_you_mean(node.name, [f.name for f in fitting]) \
            or did_you_mean(node.name, FUNCTIONS, cutoff=0.8)  # a plain misspelling: roundd
        if hint:
            return hint
        if fitting and len(fitting) <= 6:
            args = " and ".join(f"a {t}" for t in types) if types else "no arguments"
            return f"functions that take {args}: {', '.join(f.signature for f in fitting)}"
        return "see 'pmo expr --help' for the functions"

    def _alignment_field(self, node: Call) -> Field:
        """serves("x"): the policy's one alignment field."""
        names = _alignment_fields(self.field_types)
        if len(names) != 1:
            raise ExprError("type_mismatch", "serves(): " + ("no field has type alignment" if not names else
                            f"there are {len(names)} alignment fields ({', '.join(names)})"), node.offset,
                            f'name the field: serves({names[0] if names else "alignment"}, "objective")')
        return Field(node.offset, names[0])

    def visit_Call(self, node: Call) -> Node:
        function = FUNCTIONS.get(node.name)
        if node.name == "lookup":
            return self._lookup(node)
        if node.name == "in_table":
            raise ExprError("unknown_function", "'in_table' is not a function", node.offset, "write key in table")
        if function is None:
            raise ExprError("unknown_function", f"'{node.name}' is not a function", node.offset,
                            self._function_hint(node))
        if node.name == "serves" and len(node.args) == 1:
            node.args.insert(0, self._alignment_field(node))
        node.args = [self.visit(a) for a in node.args]
        try:
            node.type = function.typer([a.type for a in node.args])
        except TypeError as exc:
            raise ExprError("type_mismatch", f"{node.name}(): {exc}", node.offset,
                            f"usage: {function.signature}") from None
        if isinstance(node.type, AlignmentType):  # coalesce(alignment, 0) is a number, without the parts
            node.type = NUMBER
        # Before anything reads them: the objective of level() and serves() too (read from a field, it crashed).
        for i in function.constant_args:  # text arguments only: date(year, month, day) takes computed parts
            if i < len(node.args) and node.args[i].type in (STRING, NULL) and not isinstance(node.args[i], Const):
                raise ExprError("not_constant", f"{node.name}(): argument {i + 1} must be written as a constant",
                                node.args[i].offset, f"usage: {function.signature}")
        if node.name in ("level", "serves"):
            _check_objective(node, self.field_types)
        if node.name == "today":
            return const(self.today, node.offset)
        first = node.args[0] if node.args else None
        if node.name == "date" and len(node.args) == 1 and isinstance(first, Const) and isinstance(first.value, str):
            try:
                to_date(first.value)
            except ValueProblem as exc:
                raise ExprError("bad_value", str(exc), first.offset, 'write date("2027-01-31")') from None
        if node.name == "date" and len(node.args) == 3:
            _check_date_parts(node)
        pattern = node.args[1] if len(node.args) > 1 else None
        if node.name == "matches" and isinstance(pattern, Const):  # a constant: checked above
            problem = regex_problem(pattern.value)
            if problem is not None:
                raise ExprError(problem.code, problem.message, pattern.offset, problem.hint)
        return node


def _alignment_fields(field_types: Mapping[str, str]) -> list[str]:
    return sorted(name for name, kind in field_types.items() if isinstance(kind, AlignmentType))


def _check_objective(node: Call, field_types: Mapping[str, str]) -> None:
    """level(alignment, "x"), alignment["x"], serves("x"): an alignment field and one of its strategy's objectives."""
    base, objective = node.args
    if not isinstance(base, Field) or not isinstance(base.type, AlignmentType):
        names = _alignment_fields(field_types)
        raise ExprError("type_mismatch", f"{node.name}(): objectives are read from an alignment field, not from a "
                        f"{base.type}", base.offset, f"alignment fields: {', '.join(names)}" if names
                        else "declare a field with type: alignment")
    known = base.type.objectives
    if isinstance(objective, Const) and objective.value not in known:  # a constant: visit_Call checked
        raise ExprError("unknown_objective", f"'{objective.value}' is not an objective of the strategy",
                        objective.offset, did_you_mean(str(objective.value), known) or f"objectives: {', '.join(known)}")


def _check_date_parts(node: Call) -> None:
    """date(2027, 2, 30) written with constants is a mistake in the policy, not a value: say so at load."""
    parts = [a.value for a in node.args if isinstance(a, Const)]
    if len(parts) == 3 and None not in parts and call(FUNCTIONS["date"], parts) is None:
        shown = ", ".join(str(p) for p in parts)
        raise ExprError("bad_value", f"date({shown}) is not a day of the calendar", node.offset,
                        "year, month 1-12 and a day that month has, as whole numbers")


def _takes(function: Function, types: list[str]) -> bool:
    try:
        function.typer(types)
        return True
    except TypeError:
        return False


def _reads_fields(node: Node) -> bool:
    return any(isinstance(n, Field) for n in walk(node))


def _expect(node: Node, want: str, why: str) -> None:
    if node.type not in (want, NULL):
        raise ExprError("type_mismatch", f"{why}, got {node.type}", node.offset,
                        _condition_hint(node) if want == BOOL else None)


def _condition_hint(node: Node) -> str | None:
    if node.type == NUMBER:
        return "compare it, for example 'x > 0'"
    if node.type == STRING:
        return "compare it, for example 'x == \"value\"'"
    return None


# The type of a name whose declaration is broken (a field typed 'numbr', a derived value whose expression has an
# error): the name is known, its type is not. An expression that reads one cannot be type-checked; its other
# names still are, and otherwise it fails with FOLLOW_ON, which the diagnostic sink drops (one cause, one message).
BROKEN = "broken"
FOLLOW_ON = "follow_on"


def check(node: Node, field_types: Mapping[str, str], today: dt.date, want: str | None = None) -> Node:
    broken = sorted({n.name for n in walk(node) if isinstance(n, Field) and field_types.get(n.name) == BROKEN})
    if broken:
        _check_names(node, field_types)
        raise ExprError(FOLLOW_ON, f"reads '{broken[0]}', whose declaration has an error", node.offset)
    return Checker(field_types, today).check(node, want)


def _check_names(node: Node, field_types: Mapping[str, str]) -> None:
    """The name checks alone, in reading order: unknown fields and functions (types need every name's type)."""
    checker = Checker(field_types, dt.date.today())
    for part in sorted(walk(node), key=lambda n: n.offset):
        if isinstance(part, Field) and part.name not in field_types:
            checker.visit_Field(part)
        elif isinstance(part, Call) and part.name not in FUNCTIONS:
            checker.visit_Call(part)
