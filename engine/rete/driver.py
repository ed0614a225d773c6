"""A lean driver over durable_rules' C core: the only module that imports durable_rules.

Why not ``durable.lang`` / ``durable.engine``: their host starts timer threads, runs actions
on other threads, swallows exceptions raised in actions, and spends ~90% of the time in JSON
and closures around the C call (see the project's notes on durable_rules). Here each
proposal is one fact in one session: assert it, collect the names of the rules whose
actions are pending, complete them, retract the fact. Memory stays flat; no thread is started.
"""
from __future__ import annotations

import itertools
import json
from decimal import Decimal
import threading
from typing import Any

import durable_rules_engine as core

MAX_PROPERTIES = 255  # the C core refuses larger facts (error code 302)
MARKER = {"t": "p"}  # only proposals carry it: rules never match the session state the core re-asserts
_names = itertools.count()


class RulesetLimitError(ValueError):
    pass


class Ruleset:
    """One compiled ruleset and its one session. Safe to share between threads."""

    def __init__(self, conditions: dict[str, Any]):
        """``conditions``: rule name -> condition JSON (None: the rule always fires)."""
        definition = {
            name: {"all": [{"m": {"$and": [MARKER] + ([condition] if condition is not None else [])}}]}
            for name, condition in conditions.items()
        }
        self._handle = core.create_ruleset(f"pmo{next(_names)}", _encode(definition)) if definition else None
        self._lock = threading.Lock()  # the C calls hold the GIL but share one session's state

    def match(self, fact: dict[str, Any]) -> set[str]:
        """Names of the rules whose conditions the fact meets."""
        if len(fact) > MAX_PROPERTIES:
            raise RulesetLimitError(f"a fact may have at most {MAX_PROPERTIES} properties, this one has {len(fact)}")
        if self._handle is None:
            return set()
        text = _encode(fact)
        fired: set[str] = set()  # a rule with 'or' can fire once per matching branch
        with self._lock:
            code, state = core.assert_fact(self._handle, text)
            try:
                if code == 0:
                    first = core.start_action_for_state(self._handle, state)  # (state, message) or None
                    message = first[1] if first else None
                    while message:  # '{"r3":{"m":{...}}}': the rule name is the first key
                        fired.add(message[2:message.index('"', 2)])
                        message = core.complete_and_start_action(self._handle, state)
            finally:
                core.retract_fact(self._handle, text)
        return fired


def _encode(data: Any) -> str:
    # Raw UTF-8, not \u escapes: the core compares strings as the JSON text it was given.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if ("e-" in text or "e+" in text) and _has_exponent(data):  # the substring test keeps the common case fast
        return _positional(data)
    return text


def _exponent(value: Any) -> bool:
    """Would Python write this float with an exponent (1e-07, 1e+20)? The core's JSON parser refuses those
    (error 204)."""
    return type(value) is float and value != 0 and not 1e-4 <= abs(value) < 1e16


def _has_exponent(data: Any) -> bool:
    if isinstance(data, dict):
        return any(_has_exponent(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_exponent(v) for v in data)
    return _exponent(data)


def _positional(data: Any) -> str:
    """JSON with every float written out in full (0.0000001, 100000000000000000000.0): the rare slow path."""
    if isinstance(data, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _positional(v) for k, v in data.items()) + "}"
    if isinstance(data, list):
        return "[" + ",".join(_positional(v) for v in data) + "]"
    if _exponent(data):
        text = format(Decimal(repr(data)), "f")
        return text if "." in text else text + ".0"
    return json.dumps(data, ensure_ascii=False)
