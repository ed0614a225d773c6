"""A lean driver over durable_rules' C core: the only module that imports durable_rules.

Why not ``durable.lang`` / ``durable.engine``: their host starts timer threads, runs actions
on other threads, swallows exceptions raised in actions, and spends ~90% of the time in JSON
and closures around the C call (see the project's notes on durable_rules). Here each
proposal is one fact in one session: assert it, collect the names of the rules whose
actions are pending, complete them, retract the fact. Memory stays flat; no thread is started.

Everything handed to the core is safe by construction (docs/reliability.md, "The C core's limits"):
numbers arrive as integers (engine.backends.rete.lower.rete_value), text as valid UTF-8 (surrogates are
escaped), text over 65,535 bytes never arrives, and a fact the core refuses (more than 64 tests true
at once) raises ``Unsafe`` after it is retracted, so the caller decides that row another way.
"""
from __future__ import annotations

import bisect
import itertools
import json
import re
import threading
import weakref
from typing import Any

import durable_rules_engine as core

from engine.backends.rete.lower import MAX_TEXT_BYTES

MAX_PROPERTIES = 255  # the core's property table: a fact whose count reaches it is refused (error 302)
CORE_KEYS = 2  # the core adds sid and id to every fact
MAX_FACT_KEYS = MAX_PROPERTIES - 1 - CORE_KEYS  # 252 keys of ours, the marker t included
MAX_SLOTS = MAX_FACT_KEYS - 1  # 251 values a policy's rules may read
_SAFE_CHARS = MAX_TEXT_BYTES // 4  # a fact text this short cannot hold a string over the limit (UTF-8: <= 4 bytes a char)
_LIMIT_CODES = ("106", "107", "108", "113")  # too many rules behind one test, one 'exists', one rule's expressions
MARKER = {"t": "p"}  # only proposals carry it: rules never match the session state the core re-asserts
SESSION = "0"  # the core's session for facts without a sid
_SURROGATE = re.compile("[\ud800-\udfff]")
# The core keeps fixed-size tables: each test has room for 512 different next tests (an open-addressed table;
# when it is full, looking up one more loops forever: 513 rules of the form 'budget > N' hung), 256 rules ending
# at it and 128 'missing' tests after it; matching a fact keeps the tests it still has to visit on a stack of 64
# (error 303 when a fact passes more than 64 tests at once, e.g. 65 rules 'budget > N' and a large budget).
# So the rules are split into several rulesets of at most RULESET_TESTS tests each (every table and the stack
# stay below their size) and a fact is asserted into each: building them grows linearly with the rules. A fact
# the core still refuses (303) raises Unsafe after it is retracted, and that row is decided in Python.
RULESET_TESTS = 60  # the most tests in one ruleset (groups are smaller: GROUP_TESTS)
MAX_RULE_PATHS = 500  # one rule with more alternatives than that could fill a table on its own
_names = itertools.count()


class RulesetLimitError(ValueError):
    def __init__(self, message: str, rule: str | None = None):
        super().__init__(message)
        self.rule = rule  # the rule's name in the conditions, when one rule is the cause


class Unsafe(RulesetLimitError):
    """The core cannot decide this fact exactly (long text, too many tests true at once): decide it another way."""


class Ruleset:
    """One compiled ruleset and its one session (several, when the core cannot hold all rules in one).
    Safe to share between threads; the core's memory is released when the Ruleset is collected."""

    def __init__(self, conditions: dict[str, Any]):
        """``conditions``: rule name -> condition JSON (None: the rule always fires)."""
        self.handles: list[int] = []
        self._finalizer = weakref.finalize(self, _release, self.handles)
        self._finalizer.atexit = False  # the process frees everything at exit anyway
        self._groups: list[_Group] = []  # one per handle, in the same order
        for group in _groups(conditions):
            self._create(list(group.items()))
        self._lock = threading.Lock()  # the C calls hold the GIL but share one session's state

    def _create(self, rules: list[tuple[str, Any]]) -> None:
        """One ruleset for these rules or, if the core refuses that many (over 256 rules behind one test),
        two for each half."""
        if not rules:
            return
        definition: dict[str, dict[str, list[dict[str, object]]]] = {name: {"all": [{"m": {"$and": [MARKER] + ([condition] if condition is not None else [])}}]}
                      for name, condition in rules}
        definition[_OPENER] = {"all": [{"m": {"t": "opening"}}]}
        try:
            handle = core.create_ruleset(f"pmo{next(_names)}", _encode(definition))
        except core.error as exc:
            if len(rules) == 1 or not str(exc).endswith(_LIMIT_CODES):
                raise RulesetLimitError(f"durable_rules refused the rules {', '.join(n for n, _ in rules[:5])}: {exc}",
                                        rules[0][0] if len(rules) == 1 else None) from None
            half = len(rules) // 2
            self._create(rules[:half])
            self._create(rules[half:])
            return
        self.handles.append(handle)
        self._groups.append(_Group(handle, dict(rules)))
        _open_session(handle)

    def match(self, fact: dict[str, Any]) -> set[str]:
        """Names of the rules whose conditions the fact meets (raises Unsafe when the core cannot tell)."""
        if len(fact) > MAX_FACT_KEYS:  # ReteBackend refuses such policies at load; the driver guards any caller
            raise RulesetLimitError(f"a fact may have at most {MAX_FACT_KEYS} properties, this one has {len(fact)}")
        if not self.handles:
            return set()
        fired: set[str] = set()  # a rule with 'or' can fire once per matching branch
        for group in self._groups:
            fired |= group.match(fact, self._lock)
        return fired

    @property
    def groups(self) -> tuple[_Group, ...]:
        """The rulesets, in the order ``ask`` numbers them: each with its slots, their classes and pairs."""
        return tuple(self._groups)

    def ask(self, index: int, fact: dict[str, Any]) -> frozenset[str]:
        """Names of group ``index``'s rules the fact meets, from the core, not remembered (raises Unsafe). For a
        caller that remembers the answers itself (ReteBackend, by classes of the record's values)."""
        return self._groups[index].ask(fact, self._lock)


MEMO_FACTS = 4_096  # matches remembered per ruleset (see _Group)
MEMO_TRIAL = 512  # facts a ruleset's memo is tried on before it is kept (or dropped for missing too often)


class _Group:
    """One ruleset of a Ruleset: the slots its rules read, and its matches remembered by the facts' classes.

    A fact is asserted with only the slots this ruleset's rules read. Its result depends on the values only
    through the tests the rules make: a number compared with constants only through where it falls among them
    (below the first, equal to it, between it and the next, ...), a text compared for equality only through
    which constant it equals (or none), a value only tested for presence through whether it is there. So two
    facts whose slots fall in the same classes fire the same rules, and the result of the first is the result
    of the others: remembered (MEMO_FACTS at most, then started afresh). A slot any other way (compared with
    another slot, with constants of mixed types) is its own class: the value itself. A ruleset whose facts
    rarely repeat (one in ten in its first MEMO_TRIAL) stops remembering, so it does not pay for the classes.

    A slot compared with another slot (``opex_per_year > budget``, ``end_date < start_date``) makes the pair's
    order a class: two whole numbers (every number and date reaches the core as an integer key, which it
    compares as integers) only through which is larger, or whether they are equal; any other pair of values is
    its own class (both values themselves). Each slot of a pair also keeps its class from its other tests
    (its presence, at least)."""

    def __init__(self, handle: int, conditions: dict[str, Any]):
        self.handle = handle
        uses: dict[str, list[tuple[Any, ...]]] = {}
        pairs: dict[tuple[str, str], bool] = {}  # slots compared with each other -> guarded (see _collect_uses)
        understood = True
        for condition in conditions.values():
            if condition is not None and not _collect_uses(condition, uses, pairs):
                understood = False
        if not understood:  # a shape not understood: every slot as it is
            uses, pairs = {slot: [("raw",)] for slot in uses}, {}
        self.slots = tuple(uses)
        self.classes = tuple((slot, _classifier(tests)) for slot, tests in uses.items())
        self.pairs = tuple(pairs.items())
        self.key = _key_function(self.classes, self.pairs)
        self.memo: dict[tuple[Any, ...], frozenset[str]] | None = {}
        self.tried = self.hits = 0

    def match(self, fact: dict[str, Any], lock: threading.Lock) -> frozenset[str]:
        memo = self.memo
        if memo is not None:
            key = self.key(fact)
            found = memo.get(key)
            if found is not None:
                self.hits += 1
                return found
            self.tried += 1
            if self.tried >= MEMO_TRIAL and self.hits * 10 < self.tried:
                self.memo = None  # its facts rarely repeat: match them without the classes
        result = self.ask(fact, lock)
        if memo is not None:
            if len(memo) >= MEMO_FACTS:
                memo.clear()
            memo[key] = result
        return result

    def ask(self, fact: dict[str, Any], lock: threading.Lock) -> frozenset[str]:
        """The core's answer for this fact's slots, not remembered (raises Unsafe)."""
        projected = {"t": "p"}
        for slot in self.slots:
            value = fact.get(slot, _ABSENT)
            if value is not _ABSENT:
                projected[slot] = value
        text = _encode(projected)
        if len(text) > _SAFE_CHARS and _has_long_text(projected):
            raise Unsafe(f"text over {MAX_TEXT_BYTES:,} bytes")
        fired: set[str] = set()
        with lock:
            _match(self.handle, text, fired)
        return frozenset(fired)


_ABSENT = object()
_ORDER_OPS = ("$lt", "$lte", "$gt", "$gte", "$neq")


def _collect_uses(condition: Any, uses: dict[str, list[tuple[Any, ...]]], pairs: dict[tuple[str, str], bool],
                  guards: frozenset[str] = frozenset()) -> bool:
    """Add each slot's tests in ``condition`` (lowered JSON, engine/backends/rete/lower.py) to ``uses``:
    ("ex",), ("eq", constant), (operator, constant) or ("pair",), and each two slots compared with each other
    to ``pairs``, with whether every comparison of the two is guarded: inside an 'and' that also requires both
    to exist (as lower.py writes them), so that when one is missing the comparison decides nothing. ``guards``:
    the slots the enclosing 'and's require. False for a shape this does not know."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return False
    (operator, operand), = condition.items()
    if operator in ("$and", "$or"):
        if not isinstance(operand, list):
            return False
        if operator == "$and":
            guards = guards | {next(iter(part["$ex"])) for part in operand if isinstance(part, dict)
                               and list(part) == ["$ex"] and isinstance(part["$ex"], dict) and len(part["$ex"]) == 1}
        return all(_collect_uses(part, uses, pairs, guards) for part in operand)
    if operator in ("$ex", "$nex"):
        if not isinstance(operand, dict) or len(operand) != 1:
            return False
        uses.setdefault(next(iter(operand)), []).append(("ex",))
        return True
    if operator.startswith("$"):
        if operator not in _ORDER_OPS or not isinstance(operand, dict) or len(operand) != 1:
            return False
        (slot, value), = operand.items()
        test = operator
    else:
        slot, value, test = operator, operand, "eq"
    if isinstance(value, dict):  # {"$m": other}: compared with another slot
        if list(value) != ["$m"] or not isinstance(value["$m"], str):
            return False
        other = value["$m"]
        uses.setdefault(slot, []).append(("pair",))
        uses.setdefault(other, []).append(("pair",))
        if slot != other:
            pair = (slot, other) if slot < other else (other, slot)
            pairs[pair] = pairs.get(pair, True) and slot in guards and other in guards
        return True
    uses.setdefault(slot, []).append((test, value))
    return True


def _classifier(tests: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """How a slot's value gets its class (see _Group) for these tests of it: ("itself",), ("presence",),
    ("number", sorted constants) or ("text", constants)."""
    if any(t[0] == "raw" for t in tests):
        return ("itself",)
    tests = [t for t in tests if t[0] != "pair"]  # a pair's order is a class of its own (_key_function)
    constants = [t[1] for t in tests if t[0] != "ex"]
    if not constants:
        return ("presence",)
    if all(type(c) is int for c in constants):
        return ("number", sorted(set(constants)))
    if all(type(c) is str for c in constants) and all(t[0] in ("eq", "$neq", "ex") for t in tests):
        return ("text", frozenset(constants))
    return ("itself",)


def _key_function(classes: tuple[tuple[str, tuple[Any, ...]], ...],
                  pairs: tuple[tuple[tuple[str, str], bool], ...] = ()) -> Any:
    """One function giving a fact's classes for these slots and the order of these pairs of slots (pair ->
    guarded, see _collect_uses), written out (it runs for every fact: a call per slot would cost more than the
    match it saves)."""
    namespace: dict[str, Any] = {"ABSENT": _ABSENT, "itself": _as_itself, "place": bisect.bisect_left,
                                 "OTHER": _OTHER_TEXT, "SAFE": _SAFE_CHARS, "int": int, "str": str}
    lines, parts = ["def key(fact):", "    get = fact.get"], []
    for i, (slot, (how, *given)) in enumerate(classes):
        lines.append(f"    v{i} = get({slot!r}, ABSENT)")
        if how == "presence":
            parts.append(f"v{i} is not ABSENT")
        elif how == "number":
            namespace[f"b{i}"], namespace[f"e{i}"] = given[0], frozenset(given[0])
            parts.append(f"((place(b{i}, v{i}), v{i} in e{i}) if v{i}.__class__ is int else itself(v{i}))")
        elif how == "text":
            namespace[f"k{i}"] = given[0]
            parts.append(f"((v{i} if v{i} in k{i} else OTHER) if v{i}.__class__ is str and len(v{i}) <= SAFE "
                         f"else itself(v{i}))")
        else:
            parts.append(f"itself(v{i})")
    index = {slot: i for i, (slot, _) in enumerate(classes)}
    for (a, b), guarded in pairs:  # whole numbers by their order (-1, 0, 1), anything else as itself
        x, y = f"v{index[a]}", f"v{index[b]}"
        # guarded: a missing value (which the slot's own class shows) makes the comparison decide nothing
        missing = f"None if {x} is ABSENT or {y} is ABSENT else " if guarded else ""
        parts.append(f"(({x} > {y}) - ({x} < {y}) if {x}.__class__ is int and {y}.__class__ is int "
                     f"else {missing}(itself({x}), itself({y})))")
    lines.append(f"    return ({', '.join(parts)}{',' if len(parts) == 1 else ''})")
    exec(compile("\n".join(lines), "<rete memo key>", "exec"), namespace)  # noqa: S102 - our own text, no input
    return namespace["key"]


_OTHER_TEXT = ("text", "other")  # a text equal to none of the constants it is compared with


def _as_itself(value: Any) -> Any:
    """The value as its own class; its type too, as the JSON tells true from 1."""
    if value is _ABSENT:
        return _ABSENT
    return (value.__class__, value)


def _groups(conditions: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules in groups of at most GROUP_TESTS tests (one ruleset each; RULESET_TESTS is the most the core
    is safe with). Small groups read few slots, so their facts' classes repeat and their matches are remembered
    (see _Group); the rules that compare a slot with another slot (whose values rarely repeat) are grouped
    apart, after the others, so they do not spoil the memo of the rest. The rules' order does not matter: the
    back end sorts what fired."""
    ordered = sorted(conditions.items(), key=lambda item: _compares_slots(item[1]))  # stable: in order otherwise
    groups: list[dict[str, Any]] = []
    room, kind = 0, None
    for name, condition in ordered:
        count, tests = size(condition)
        if count > MAX_RULE_PATHS:
            raise RulesetLimitError(f"this rule's condition has over {MAX_RULE_PATHS} alternative paths ('or' "
                                    f"inside 'and' multiplies them); durable_rules allows {MAX_RULE_PATHS}", name)
        compares = _compares_slots(condition)
        if not groups or tests > room or compares != kind:
            groups.append({})
            room, kind = GROUP_TESTS, compares
        groups[-1][name] = condition
        room -= tests
    return groups


GROUP_TESTS = 16  # measured on the reference policy: 60 a group (2 rulesets) 54 us a row, 16 (5) 37 us, 8 (10) 49 us


def _compares_slots(condition: Any) -> bool:
    """Whether a condition compares a slot with another slot ({"$m": ...} somewhere in it)."""
    if isinstance(condition, dict):
        return "$m" in condition or any(_compares_slots(v) for v in condition.values())
    if isinstance(condition, list):
        return any(_compares_slots(v) for v in condition)
    return False


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


def _open_session(handle: int) -> None:
    """Start the session with a fact only the opening rule matches, and run that rule's action. The core
    creates a session at its first fact but sets its action context only when an action runs: until then
    delete_state frees garbage pointers, and a fact refused half-way (error 303) leaves it that way (measured:
    both crash the process; tests/test_core_limits.py)."""
    _match(handle, _OPENING, set())


_OPENER = "pmo-opening"  # no proposal matches it: proposals carry t == "p"
_OPENING = '{"t":"opening"}'


def _match(handle: int, text: str, fired: set[str]) -> None:
    try:
        code, state = core.assert_fact(handle, text)
    except core.error as exc:  # error 303: more than 64 tests true at once; the fact may be stored half-way
        core.retract_fact(handle, text)
        _open_session(handle)  # a whole fact after the refused one leaves the session sound (else delete_state crashes)
        raise Unsafe(str(exc)) from None
    try:
        if code == 0:
            first = core.start_action_for_state(handle, state)  # (state, message) or None
            message = first[1] if first else None
            while message:  # '{"r3":{"m":{...}}}': the rule name is the first key
                fired.add(message[2:message.index('"', 2)])
                message = core.complete_and_start_action(handle, state)
    finally:
        core.retract_fact(handle, text)


def _release(handles: list[int]) -> None:
    """Free a collected Ruleset's C memory: deleting the ruleset alone leaves its session's memory behind."""
    for handle in handles:
        core.delete_state(handle, SESSION)
        core.delete_ruleset(handle)


def _encode(data: Any) -> str:
    # Raw UTF-8, not \u escapes: the core compares strings as the JSON text it was given. A surrogate
    # (lone, or a pair the YAML loader left uncombined) is not UTF-8: it is written as its \u escape,
    # which is still a one-to-one spelling of the text, so equal texts still compare equal.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii() and _SURROGATE.search(text):
        return _SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
    return text


def _text_bytes(text: str) -> int:
    return len(_encode(text).encode("utf-8")) - 2  # as the core measures it: the JSON spelling without quotes


def _has_long_text(data: Any) -> bool:
    if isinstance(data, str):
        return len(data) > _SAFE_CHARS and _text_bytes(data) > MAX_TEXT_BYTES
    if isinstance(data, dict):
        return any(_has_long_text(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_long_text(v) for v in data)
    return False

