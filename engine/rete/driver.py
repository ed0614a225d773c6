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
# The core keeps fixed-size tables: each test has room for 512 different next tests (an open-addressed table;
# when it is full, looking up one more loops forever: 513 rules of the form 'budget > N' hung), 256 rules ending
# at it and 128 'missing' tests after it; matching a fact keeps the tests it still has to visit on a stack of 64
# (error 303 when a fact passes more than 64 tests at once, e.g. 65 rules 'budget > N' and a large budget).
# So the rules are split into several rulesets of at most RULESET_TESTS tests each (every table and the stack
# stay below their size) and a fact is asserted into each: building them grows linearly with the rules.
RULESET_TESTS = 60
MAX_RULE_PATHS = 500  # one rule with more alternatives than that could fill a table on its own
_names = itertools.count()


class RulesetLimitError(ValueError):
    def __init__(self, message: str, rule: str | None = None):
        super().__init__(message)
        self.rule = rule  # the rule's name in the conditions, when one rule is the cause


class Ruleset:
    """One compiled ruleset and its one session. Safe to share between threads."""

    def __init__(self, conditions: dict[str, Any]):
        """``conditions``: rule name -> condition JSON (None: the rule always fires)."""
        self._handles = [core.create_ruleset(f"pmo{next(_names)}", _encode(group)) for group in _groups(conditions)]
        self._lock = threading.Lock()  # the C calls hold the GIL but share one session's state

    def match(self, fact: dict[str, Any]) -> set[str]:
        """Names of the rules whose conditions the fact meets."""
        if len(fact) > MAX_PROPERTIES:
            raise RulesetLimitError(f"a fact may have at most {MAX_PROPERTIES} properties, this one has {len(fact)}")
        if not self._handles:
            return set()
        text = _encode(fact)
        fired: set[str] = set()  # a rule with 'or' can fire once per matching branch
        with self._lock:
            for handle in self._handles:
                code, state = core.assert_fact(handle, text)
                try:
                    if code == 0:
                        first = core.start_action_for_state(handle, state)  # (state, message) or None
                        message = first[1] if first else None
                        while message:  # '{"r3":{"m":{...}}}': the rule name is the first key
                            fired.add(message[2:message.index('"', 2)])
                            message = core.complete_and_start_action(handle, state)
                finally:
                    core.retract_fact(handle, text)
        return fired


def _groups(conditions: dict[str, Any]) -> list[dict[str, Any]]:
    """The ruleset definitions: rules in their order, at most RULESET_PATHS paths to a ruleset."""
    groups: list[dict[str, Any]] = []
    room = 0
    for name, condition in conditions.items():
        count, tests = size(condition)
        if count > MAX_RULE_PATHS:
            raise RulesetLimitError(f"this rule's condition has over {MAX_RULE_PATHS} alternative paths ('or' "
                                    f"inside 'and' multiplies them); durable_rules allows {MAX_RULE_PATHS}", name)
        if not groups or tests > room:
            groups.append({})
            room = RULESET_TESTS
        groups[-1][name] = {"all": [{"m": {"$and": [MARKER] + ([condition] if condition is not None else [])}}]}
        room -= tests
    return groups


_CAP = 1_000_000  # counts stop here: a hostile condition costs no more to measure than to refuse


def size(condition: Any) -> tuple[int, int]:
    """(paths, tests) of a condition as the core builds it: each 'or' branch is a path of its own ('and' of
    'or's multiplies them), and each path is a chain of tests."""
    if isinstance(condition, dict) and len(condition) == 1:
        (operator, operands), = condition.items()
        if operator == "$or" and isinstance(operands, list):
            parts = [size(o) for o in operands]
            return min(sum(p for p, _ in parts), _CAP), min(sum(t for _, t in parts), _CAP)
        if operator == "$and" and isinstance(operands, list):
            paths, tests = 1, 0
            for operand in operands:
                p, t = size(operand)
                paths, tests = min(paths * p, _CAP), min(tests * p + t * paths, _CAP)
            return paths, tests
    return 1, 1


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
