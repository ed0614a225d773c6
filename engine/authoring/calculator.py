"""``pmo expr``: evaluate one expression, with field values given as text."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import Diagnostic, DiagnosticSink, Location, PmoError, did_you_mean
from engine.expr.check import check
from engine.expr.evaluate import evaluate
from engine.expr.nodes import NUMBER, STRING
from engine.expr.parse import ExprError, const_type, parse
from engine.expr.values import AmbiguousNumber, ValueProblem, data_number, plain, to_date


def guess(text: str) -> Any:
    """A value from text, the way a person would read it: number, date, true/false, [list], null, else text."""
    stripped = text.strip()
    if stripped in ("null", ""):
        return None
    if stripped in ("true", "false"):
        return stripped == "true"
    if stripped.startswith("["):
        try:
            return tuple(guess(json.dumps(v) if not isinstance(v, str) else v)
                         for v in json.loads(stripped, parse_float=str, parse_int=str))
        except ValueError:
            pass
    for convert in (data_number, to_date):
        try:
            return convert(stripped)
        except AmbiguousNumber:
            raise  # not text either: the caller says which value
        except ValueProblem:
            continue
    return stripped


def calculate(expression: str, values: Mapping[str, str], *, policies: Path | None = None,
              rules: Sequence[Path] = (), today: dt.date | None = None) -> Any:
    """The expression's value as plain JSON data. Raises PmoError with a positioned diagnostic."""
    today = today or dt.date.today()
    if policies is not None:
        from engine.compile.policy import usable_policy  # a policy folder is compiled only when one is given
        from engine.compile.records import RecordError, RecordReader, compiled_derived
        from engine.io.profile import NO_PROFILE
        compiled = usable_policy(policies, rules, today, DiagnosticSink())
        types = dict(compiled.field_types)
        unknown = [n for n in values if n not in compiled.fields]
        if unknown:
            derived = [name for name, _ in compiled.derived]
            raise PmoError([Diagnostic("unknown_field", f"'{name}' is not a field of the intake policy",
                                       hint="it is derived from the fields: --set those" if name in derived
                                       else did_you_mean(name, compiled.fields)) for name in unknown])
        # the fields --set gives, and those with a default (a missing cell takes it, as the engine reads a row)
        given = {name: spec for name, spec in compiled.fields.items() if name in values or spec.default is not None}
        try:
            # the policy's strategy reads alignment fields, as the engine's own reader does
            record = RecordReader(given, compiled.strategy, NO_PROFILE).read_derived(
                values, compiled_derived(compiled.derived))
        except RecordError as exc:
            raise PmoError([Diagnostic(code, message) for _, code, message in exc.problems]) from None
    else:
        try:
            record = {name: guess(text) for name, text in values.items()}
        except AmbiguousNumber as exc:
            raise PmoError([Diagnostic(exc.code, f"--set: {exc}")]) from None
        types = {name: _type_of(value) for name, value in record.items()}
    try:
        node = check(parse(expression), types, today)
    except ExprError as exc:
        hint = exc.hint
        if exc.code == "unknown_field" and policies is None and not (hint or "").startswith("did you mean"):
            hint = f"give it a value, e.g. --set {exc.message.split(chr(39))[1]}=..."
        raise PmoError([Diagnostic(exc.code, exc.message, Location("<expr>", 1, exc.offset + 1), hint)]) from None
    return plain(evaluate(node, record))


def _type_of(value: Any) -> str:
    if value is None:
        return NUMBER  # an unknown number: comparisons with it are unknown
    try:
        return const_type(value)
    except ValueProblem:
        return STRING



