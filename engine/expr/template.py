"""Text with placeholders, for rule reasons and routes: ``"{department} Medical Director"``,
``"Budget {budget:,.0f} is {share:.0%} of the unit's"``.

A placeholder is ``{name}`` or ``{name:spec}``, where name is a field or derived value (or, in a library
rule, a parameter) and spec is Python's format mini-language, checked against the name's type when the
policy loads. ``{{`` and ``}}`` are literal braces; any other brace is an error, so a typo never
prints raw. Rendering is plain Python shared by both back ends (the back ends only say which rules
fire), so findings read the same whichever back end decided.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from engine.errors import did_you_mean
from engine.expr.nodes import BOOL, DATE, NUMBER, STRING
from engine.expr.parse import ExprError, const_type
from engine.expr.values import display, plain

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")
# [[fill]align][sign][z][#][0][width][grouping][.precision][type], as format() reads it
_SPEC = re.compile(r"(?:(.)?([<>=^]))?([-+ ])?(z)?(#)?(0)?(\d+)?([,_])?(?:\.(\d+))?([a-zA-Z%])?")
_NUMBER_TYPES = {"": "plain", "f": "fixed", "F": "fixed", "e": "exponent", "E": "exponent", "g": "general",
                 "G": "general", "%": "percent"}
_DATE_DIRECTIVES = re.compile(r"%[YmdyjVGu%]")  # locale-independent strftime codes only


@dataclass(frozen=True)
class Slot:
    name: str
    spec: str  # "" for {name}: shown as display() shows values (1,250,000; yes/no; (missing))


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Slot, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parts if isinstance(p, Slot)]

    @property
    def static(self) -> bool:
        return not self.names

    @property
    def text(self) -> str:
        """The text as written (placeholders kept, braces unescaped in literal text), or the text itself."""
        return "".join(p if isinstance(p, str) else "{" + p.name + (":" + p.spec if p.spec else "") + "}"
                       for p in self.parts)

    def render(self, record: Mapping[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else render_value(record.get(p.name), p.spec) for p in self.parts)

    def renderer(self) -> Callable[[Mapping[str, Any]], str]:
        """``render`` made once for this template: the batch path renders reasons per row, and a loop over
        ``parts`` asking each part's type costs more than the text it makes."""
        parts = self.parts
        if len(parts) == 1 and isinstance(parts[0], Slot) and not parts[0].spec:
            name = parts[0].name
            return lambda record: display(record.get(name))
        if len(parts) == 2 and isinstance(parts[0], str) and isinstance(parts[1], Slot) and not parts[1].spec:
            head, name = parts[0], parts[1].name
            return lambda record: head + display(record.get(name))
        if len(parts) == 3 and isinstance(parts[0], str) and isinstance(parts[1], Slot) and not parts[1].spec \
                and isinstance(parts[2], str):
            head, name, tail = parts[0], parts[1].name, parts[2]
            return lambda record: head + display(record.get(name)) + tail
        if all(isinstance(p, str) or not p.spec for p in parts):  # several placeholders, none with a format
            text = "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in parts)
            names = [p.name for p in parts if isinstance(p, Slot)]
            return lambda record: text % tuple([display(record.get(name)) for name in names])
        return self.render  # formats: the general loop


def render_value(value: Any, spec: str) -> str:
    if value is None or not spec or isinstance(value, (bool, tuple)):  # the checker allows no spec on these
        return display(value)
    if isinstance(value, (int, float)):
        value = Decimal(str(value))
    with localcontext() as context:  # halves away from zero, as round() and spreadsheets do
        context.prec, context.rounding = 40, ROUND_HALF_UP
        return format(value, spec)


def compile_template(text: str, types: Mapping[str, str], constants: Mapping[str, Any] | None = None) -> Template:
    """The template of ``text``; constants (a library rule's parameters) are filled in now.
    Raises :class:`ExprError` (offset: the character in ``text``) at the first problem."""
    constants = constants or {}
    parts: list[str | Slot] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            literal.append(char)
            i += 2
            continue
        if char == "}":
            raise ExprError("bad_template", "'}' closes no placeholder", i, "write '}}' for a literal '}'")
        if char != "{":
            literal.append(char)
            i += 1
            continue
        found = _PLACEHOLDER.match(text, i)
        if found is None:
            raise ExprError("bad_template", "'{' starts no placeholder", i,
                            "a placeholder is {name} or {name:spec}, e.g. {budget:,.0f}; write '{{' for a literal '{'")
        name, spec = found[1], found[2] or ""
        if name in constants:
            _check_spec(spec, _value_type(constants[name]), name, i + len(name) + 2)
            literal.append(render_value(constants[name], spec))
        elif name in types:
            if types[name] != "broken":  # a name whose declaration has an error of its own: said there
                _check_spec(spec, types[name], name, i + len(name) + 2)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Slot(name, spec))
        else:
            known = list(types) + list(constants)
            raise ExprError("unknown_field", f"'{{{name}}}' names no field or derived value", i + 1,
                            did_you_mean(name, known) or "placeholders name fields, derived values or parameters")
        i = found.end()
    if literal:
        parts.append("".join(literal))
    return Template(tuple(parts))


def _value_type(value: Any) -> str:
    try:
        return const_type(plain(value) if not isinstance(value, (Decimal, str, bool)) else value)
    except ValueError:
        return STRING


def _check_spec(spec: str, kind: str, name: str, at: int) -> None:
    """Whether ``spec`` formats a value of type ``kind``: a located error with what would, if not."""
    if not spec:
        return
    if kind == DATE:
        if "%" not in spec or "%" in _DATE_DIRECTIVES.sub("", spec):
            raise ExprError("bad_format", f"'{spec}' is not a date format for '{name}'", at,
                            "dates take %Y %m %d %y %j %V %G %u, e.g. {start_date:%d.%m.%Y}")
        return
    shape = _SPEC.fullmatch(spec)
    if kind == NUMBER:
        if shape is None or (shape[10] or "") not in _NUMBER_TYPES:
            letter = shape[10] if shape else None
            why = ("'n' depends on the machine's locale" if letter == "n" else
                   "'d' is for whole numbers in Python; numbers here are decimals" if letter == "d" else None)
            raise ExprError("bad_format", f"'{spec}' does not format the number '{name}'" + (f": {why}" if why else ""),
                            at, "numbers take e.g. ',.0f' (1,250,000), '.2f', '.0%' (25%), ',' (thousands separators)")
        _trial(spec, Decimal("1234.5"), name, at)
        return
    if kind == STRING:
        if shape is None or (shape[10] or "s") != "s" or shape[8] or shape[3]:
            raise ExprError("bad_format", f"'{spec}' does not format the text '{name}'", at,
                            "text takes a width and alignment, e.g. '<20', or '.30' to cut it at 30 characters")
        _trial(spec, "text", name, at)
        return
    what = "a yes/no value" if kind == BOOL else f"a {kind}"
    raise ExprError("bad_format", f"'{name}' is {what} and takes no format ('{spec}')", at,
                    f"write {{{name}}}")


def _trial(spec: str, sample: Any, name: str, at: int) -> None:
    try:
        format(sample, spec)
    except ValueError as exc:
        raise ExprError("bad_format", f"'{spec}' cannot format '{name}': {exc}", at) from None
