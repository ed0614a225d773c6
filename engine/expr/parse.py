"""Parse expression text into our tree, without eval.

The text is parsed by Python's own parser (``ast``, mode "eval") and then translated node by
node; anything outside the small language (attribute calls, lambdas, subscripts, ...) is a
syntax error with a position. ``params.NAME`` and ``strategy.NAME`` are replaced by the
constants they stand for.
"""
from __future__ import annotations

import ast
import datetime as dt
import re
import warnings
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine.errors import did_you_mean
from engine.expr.nodes import (
    BOOL,
    DATE,
    NULL,
    NUMBER,
    STRING,
    Arith,
    Call,
    Compare,
    Const,
    Field,
    In,
    ListOf,
    Logic,
    Node,
    Unary,
    list_of,
    walk,
)
from engine.expr.values import ValueProblem, to_number, written_two_ways

Namespaces = Mapping[str, Mapping[str, Any]]  # a namespace's name (strategy) -> its names and their values

MAX_LENGTH = 4000
MAX_NODES = 500
MAX_DEPTH = 50  # brackets
MAX_NESTING = 100  # levels of the tree: "not not ... x" and "- - ... x" nest without brackets
SOURCE_NAME = "<pmo-expr>"
# Python warns about some texts before failing on them ("invalid decimal literal"): the ExprError says it.
# A filter for this source name only (catch_warnings would change global state under threads).
warnings.filterwarnings("ignore", category=SyntaxWarning, module=SOURCE_NAME)


class LoneSurrogate(ValueError):
    """Half of a UTF-16 surrogate pair without its other half: no text encoding can carry it."""

    def __init__(self, index: int, char: str):
        super().__init__(f"lone surrogate at character {index}")
        self.index, self.escape = index, f"\\u{ord(char):04x}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def join_surrogates(text: str) -> str:
    """"\\ud83d\\ude00" (YAML and Python escapes read it as two code points) as the one character it encodes,
    as JSON reads it. Raises :class:`LoneSurrogate` for a half without its pair."""
    if _SURROGATE.search(text) is None:
        return text
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError as exc:
        index = exc.start // 2
        raise LoneSurrogate(index, text[index]) from None


class ExprError(Exception):
    """A problem inside one expression: ``offset`` is a character offset into its text."""

    def __init__(self, code: str, message: str, offset: int = 0, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.offset, self.hint = code, message, offset, hint


_NAMES = {"null": None, "None": None, "true": True, "True": True, "false": False, "False": False}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_HINTS = {
    ast.BitAnd: "write 'and' instead of '&'", ast.BitOr: "write 'or' instead of '|'",
    ast.Invert: "write 'not' instead of '~'", ast.Is: "write '==' instead of 'is'",
    ast.IsNot: "write '!=' instead of 'is not'",
}


def const(value: Any, offset: int = 0) -> Const:
    """A typed constant node from a plain value (param values, strategy lists)."""
    node = Const(offset, _const_value(value))
    node.type = const_type(node.value)
    return node


def _const_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_const_value(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return to_number(value)
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def const_type(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, Decimal):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, dt.date):
        return DATE
    if isinstance(value, tuple):
        types = {const_type(v) for v in value}
        if len(types) > 1:
            raise ValueProblem("a list must hold values of one type")
        return list_of(types.pop() if types else NUMBER)
    raise ValueProblem(f"unsupported constant {value!r}")


class _Translator:
    def __init__(self, text: str, namespaces: Namespaces):
        self.text = text
        self.encoded = text.encode("utf-8")
        self.namespaces = namespaces
        self.count = 0
        self.depth = 0

    def offset(self, node: ast.AST) -> int:
        # ast offsets are UTF-8 byte offsets on the node's line; we report characters.
        if getattr(node, "lineno", 1) != 1:
            return 0
        column: int = getattr(node, "col_offset", 0)  # every node this parser fails on is an expr: it has one
        return len(self.encoded[:column].decode("utf-8", "replace"))

    def fail(self, node: ast.AST, message: str, hint: str | None = None, code: str = "syntax") -> ExprError:
        return ExprError(code, message, self.offset(node), hint)

    def node(self, n: ast.AST) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(n, f"expression is too long (more than {MAX_NODES} parts)", "split it into derived fields")
        # Every later step (checking, lowering, evaluating) recurses once per level: bound the levels here.
        self.depth += 1
        if self.depth > MAX_NESTING:
            if sum(isinstance(part, ast.expr) for part in ast.walk(n)) + self.count - 1 > MAX_NODES:
                raise self.fail(n, f"expression is too long (more than {MAX_NODES} parts)",
                                "split it into derived fields")  # the plainer of the two reasons
            raise self.fail(n, f"expression is nested more than {MAX_NESTING} levels deep",
                            "split it into derived fields")
        try:
            return self.translate(n)
        finally:
            self.depth -= 1

    def translate(self, n: ast.AST) -> Node:
        at = self.offset(n)
        if isinstance(n, ast.BoolOp):
            return Logic(at, "and" if isinstance(n.op, ast.And) else "or", [self.node(v) for v in n.values])
        if isinstance(n, ast.UnaryOp):
            if isinstance(n.op, ast.Not):
                return Unary(at, "not", self.node(n.operand))
            if isinstance(n.op, ast.USub):
                operand = self.node(n.operand)
                if isinstance(operand, Const) and isinstance(operand.value, Decimal):
                    return const(-operand.value, at)
                return Unary(at, "-", operand)
            if isinstance(n.op, ast.UAdd):
                return self.node(n.operand)
            raise self.fail(n, "unsupported operator", _HINTS.get(type(n.op)))
        if isinstance(n, ast.BinOp):
            op = _ARITH.get(type(n.op))
            if op is None:
                raise self.fail(n, "unsupported operator", _HINTS.get(type(n.op), "use + - * / only"))
            return Arith(at, op, self.node(n.left), self.node(n.right))
        if isinstance(n, ast.Compare):
            return self.compare(n)
        if isinstance(n, ast.Constant):
            return self.constant(n)
        if isinstance(n, ast.Name):
            if n.id in _NAMES:
                return const(_NAMES[n.id], at)
            if n.id in self.namespaces:
                raise self.fail(n, f"'{n.id}' needs a name after it", f"for example {n.id}.{next(iter(self.namespaces[n.id]), 'name')}")
            return Field(at, n.id)
        if isinstance(n, ast.Attribute):
            return self.attribute(n)
        if isinstance(n, ast.Tuple) and (found := THOUSANDS.search(ast.get_source_segment(self.text, n) or "")):
            # 500,000 reads as two list items, 500 and 000: a thousands separator, not a list
            raise ExprError("syntax", f"'{found[0]}' reads as a list of numbers, not as one number",
                            self.offset(n) + found.start(), f"write {found[0]} as {found[0].replace(',', '_')} "
                            f"(or {found[0].replace(',', '')}): a comma separates list items")
        if isinstance(n, (ast.List, ast.Tuple)):
            return ListOf(at, [self.node(e) for e in n.elts])
        if isinstance(n, ast.Call):
            if not isinstance(n.func, ast.Name):
                raise self.fail(n, "only plain function calls are allowed", "for example lower(name), not name.lower()")
            if n.keywords:
                raise self.fail(n.keywords[0].value, "keyword arguments are not supported")
            name = "if" if n.func.id == IF_STANDIN else n.func.id
            return Call(at, name, [self.node(a) for a in n.args])
        if isinstance(n, ast.Subscript):
            return self.subscript(n)
        if isinstance(n, ast.IfExp):
            raise self.fail(n, "'x if c else y' is not supported", "write two rules, or use coalesce()")
        raise self.fail(n, f"'{ast.unparse(n)[:30]}' is not allowed in an expression")

    def subscript(self, n: ast.Subscript) -> Node:
        """alignment["net-zero"]: the level stated for one objective, i.e. level(alignment, "net-zero")."""
        index = n.slice
        if not isinstance(n.value, ast.Name) or n.value.id in _NAMES or n.value.id in self.namespaces:
            raise self.fail(n, "only an alignment field takes [...]", 'for example alignment["net-zero"]')
        if not (isinstance(index, ast.Constant) and isinstance(index.value, str)):
            raise self.fail(index, "write the objective in quotes", f'for example {n.value.id}["net-zero"]')
        return Call(self.offset(n), "level", [self.node(n.value), self.node(index)])

    def compare(self, n: ast.Compare) -> Node:
        parts: list[Node] = []
        left = self.node(n.left)
        for op, right_ast in zip(n.ops, n.comparators):
            right = self.node(right_ast)
            at = left.offset
            if isinstance(op, (ast.In, ast.NotIn)):
                parts.append(In(at, left, right, isinstance(op, ast.NotIn)))
            elif type(op) in _COMPARE:
                parts.append(Compare(at, _COMPARE[type(op)], left, right))
            else:
                raise self.fail(right_ast, "unsupported comparison", _HINTS.get(type(op)))
            left = right
        return parts[0] if len(parts) == 1 else Logic(parts[0].offset, "and", parts)

    def constant(self, n: ast.Constant) -> Node:
        value = n.value
        if isinstance(value, str):
            try:
                value = join_surrogates(value)
            except LoneSurrogate as lone:
                raise self.fail(n, f"lone surrogate {lone.escape} in text", "write the whole character, or both "
                                "halves of its surrogate pair (\\ud83d\\ude00)", code="bad_text") from None
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return const(value, self.offset(n))
        if isinstance(value, (int, float)):
            source = ast.get_source_segment(self.text, n) or repr(value)
            if isinstance(value, float) and (problem := written_two_ways(source, "{}_{}", zero=True)):
                raise self.fail(n, problem, code="bad_number")
            try:
                return const(to_number(source) if isinstance(value, float) else to_number(value), self.offset(n))
            except ValueProblem as exc:
                raise self.fail(n, str(exc), code="bad_number") from None
        raise self.fail(n, f"constant {value!r} is not supported")

    def attribute(self, n: ast.Attribute) -> Node:
        if not isinstance(n.value, ast.Name) or n.value.id not in self.namespaces:
            known = ", ".join(f"{k}.NAME" for k in self.namespaces) or "none here"
            raise self.fail(n, "dotted names are only for parameters and strategy values", f"known: {known}")
        space, name = self.namespaces[n.value.id], n.attr
        if name not in space:
            hint = did_you_mean(name, space) or (f"known: {', '.join(sorted(space))}" if space else None)
            raise ExprError("unknown_name", f"'{n.value.id}.{name}' is not defined", self.offset(n), hint)
        try:
            return const(space[name], self.offset(n))
        except ValueProblem as exc:
            raise self.fail(n, f"'{n.value.id}.{name}': {exc}", code="bad_value") from None


def parse(text: str, namespaces: Namespaces | None = None) -> Node:
    """Parse one expression. Raises :class:`ExprError`."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("syntax", "expression is empty", 0, "write a condition such as budget > 250_000")
    if len(text) > MAX_LENGTH:
        raise ExprError("syntax", f"expression is longer than {MAX_LENGTH} characters", 0)
    source = text.strip().replace("\r", " ").replace("\n", " ")  # a literal block (when: |) may span lines
    lead = len(text) - len(text.lstrip())
    if _depth(source) > MAX_DEPTH:  # before Python's parser, whose own limit reads as "'(' was never closed"
        raise ExprError("syntax", f"expression is nested more than {MAX_DEPTH} brackets deep", 0,
                        "split it into derived fields")
    source, shifts = _rewrite(source)
    try:
        tree = ast.parse(source, filename=SOURCE_NAME, mode="eval")
    except SyntaxError as exc:
        column = lead + _original(max((exc.offset or 1) - 1, 0), shifts) if (exc.lineno or 1) == 1 else lead
        message = (exc.msg or "invalid syntax").replace("invalid syntax. ", "").rstrip(".")
        hint = _syntax_hint(source)
        raise ExprError("syntax", message, column, hint) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExprError("syntax", "expression cannot be parsed", 0) from None
    translator = _Translator(source, namespaces or {})
    try:
        node = translator.node(tree.body)
    except RecursionError:
        raise ExprError("syntax", "expression is nested too deeply", 0) from None
    except ExprError as exc:
        exc.offset = lead + _original(exc.offset, shifts)
        raise
    if lead or shifts:
        for n in walk(node):
            n.offset = lead + _original(n.offset, shifts)
    return node


# Two spellings Python's parser does not take, rewritten before it reads the text (outside string literals):
# - "if(" as a function call: "if" is a keyword, so it becomes this identifier of the same length (a dotless i),
#   which the translator reads back as the function if();
# - "10%" (a number directly followed by %): the literal 10e-2, exact as a decimal. '%' is not modulo in this
#   language, and a '%' followed by an operand ("10 % 3", "10%x") is left for the parser to reject.
IF_STANDIN = "\u0131f"
_IF_CALL = re.compile(r"if(?=\s*\()")
_PERCENT_LITERAL = re.compile(r"\d[\d_]*(?:\.\d[\d_]*)?%")
_WORD_CHAR = re.compile(r"[\w.]")
_OPERAND_START = re.compile(r"\s*(?!(?:and|or|not|in|else|if)\b)[\w(\[\"']")
_AFTER_VALUE = re.compile(r"(?:[\w)\]\"']|\b(?:and|or|not|in|else))\s*$")
_KEYWORD_BEFORE = re.compile(r"\b(?:and|or|not|in|else|if)\s*$")


def _rewrite(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The text with if( and NUMBER% rewritten, and the shifts [(position in the new text, characters added)]."""
    out: list[str] = []
    shifts: list[tuple[int, int]] = []
    added = i = 0
    quote = None
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                out.append(text[i:i + 2])
                i += 2
                continue
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif i == 0 or not _WORD_CHAR.match(text[i - 1]):
            if _IF_CALL.match(text, i) and (before := "".join(out)) is not None and not (_AFTER_VALUE.search(before) and not _KEYWORD_BEFORE.search(before)):
                out.append(IF_STANDIN)  # "x if (c) else y" (after a value) stays a conditional expression
                i += 2
                continue
            found = _PERCENT_LITERAL.match(text, i)
            if found and not _WORD_CHAR.match(text, found.end()) and not _OPERAND_START.match(text, found.end()):
                out.append(found[0][:-1] + "e-2")
                added += 2
                shifts.append((found.end() + added, 2))
                i = found.end()
                continue
        out.append(char)
        i += 1
    return "".join(out), shifts


def _original(position: int, shifts: list[tuple[int, int]]) -> int:
    """A position in the rewritten text as a position in the author's text."""
    return position - sum(delta for at, delta in shifts if position >= at)


def _depth(text: str) -> int:
    """The deepest bracket nesting, outside string literals."""
    depth = deepest = 0
    quote = None
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth -= 1
    return deepest


DATE_LITERAL = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
SUFFIXED = re.compile(r"\b(\d+(?:\.\d+)?)([kKmM]|bn)\b")
THOUSANDS = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_SCALE = {"k": 1_000, "m": 1_000_000, "bn": 1_000_000_000}


def _syntax_hint(text: str) -> str | None:
    found = DATE_LITERAL.search(text)
    if found:
        return f'write a date as date("{found[0]}")'
    found = PERCENT.search(text)
    if found:
        return f"write a percentage as a fraction: {found[0]} is {Decimal(found[1]) / 100:.2f}"
    found = SUFFIXED.search(text)
    if found:
        return f"write {found[0]} as {int(Decimal(found[1]) * _SCALE[found[2].lower()]):_}"
    spaced = spaced_number_hint(text)
    if spaced:
        return spaced
    if any(sign in text for sign in "€$£¥"):
        return "write amounts without a currency sign: budget > 5_000"
    if "=" in text.replace("==", "").replace("!=", "").replace("<=", "").replace(">=", ""):
        return "compare with '==', not '='"
    if "&&" in text or "||" in text:
        return "write 'and' / 'or'"
    found = BETWEEN.search(text)
    if found:  # SQL's x BETWEEN a AND b
        return f"write {found[2]} <= {found[1]} <= {found[3]} (both ends included, as SQL's between)"
    return None


def spaced_number_hint(text: str) -> str | None:
    """How to write a number grouped by spaces (5 000 000: a French or Swiss author's thousands, perhaps with a
    decimal comma) so that it reads: in an expression and in a decision table's cell alike. None: there is none
    (outside double quotes)."""
    for found in SPACED_NUMBER.finditer(text):
        if text.count('"', 0, found.start()) % 2:
            continue  # inside a text
        groups = re.split(r"[ \u00a0\u202f]", found[1])
        decimals = f".{found[2]}" if found[2] else ""
        return (f"write {found[0]} as {'_'.join(groups)}{decimals} (or {''.join(groups)}{decimals}): numbers are "
                "written without spaces, with '_' to group digits and '.' for decimals")
    return None


SPACED_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:[ \u00a0\u202f]\d{3})+)(?:,(\d+))?(?!\w|\.(?!\.))")
BETWEEN = re.compile(r"(\w+)\s+between\s+(\S+)\s+and\s+(\S+)", re.IGNORECASE)
