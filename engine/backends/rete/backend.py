"""The Rete back end: compiled rules run in durable_rules' C core."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from engine.backends.reference import ReferenceBackend, RuleSet, derived_keys
from engine.backends.rete.driver import MAX_SLOTS, Ruleset, RulesetLimitError, Unsafe
from engine.backends.rete.lower import _DOUBLE, _INT64, _LOW_BITS, ALWAYS, NEVER, Lowering, rete_value
from engine.backends.rete.recordkeys import Slot, keys_source
from engine.errors import Diagnostic, Location, PolicyError
from engine.expr.evaluate import UNKNOWN, compiled, memo_key
from engine.expr.nodes import fields_of


class ReteBackend:
    name = "rete"

    def __init__(self, policy: RuleSet):
        lowering = Lowering()
        conditions: dict[str, Any] = {}
        for index, rule in enumerate(policy.rules):
            condition = lowering.condition(rule.condition)
            if condition is not NEVER:
                conditions[f"r{index}"] = None if condition is ALWAYS else condition
        if lowering.slot_count > MAX_SLOTS:  # counts what the core adds to each fact: t, sid and id
            raise PolicyError([Diagnostic(
                "too_many_fields",
                f"the rules read {lowering.slot_count} distinct values; durable_rules allows {MAX_SLOTS}",
                Location(policy.intake_file), "move rarely used checks into derived values, or split the policy")])
        self._fields: list[tuple[str, str, Callable[[Any], Any]]] = [
            (name, slot, _encoder(policy.field_types[name])) for name, slot in lowering.field_slots.items()]
        self._as_is = [(name, slot) for name, slot, encode in self._fields if encode is _same]
        self._numeric = [(name, slot) for name, slot, encode in self._fields if encode is not _same]
        # A computed slot that is a derived value's expression reads the record's value; one that reads one
        # or two fields is remembered by their values (a regex on a vendor's name is matched once per name).
        shared = derived_keys(policy)
        # (slot, value of a record, the derived value it is, memo by the fields it reads or None, those fields)
        # [slot, function, derived value's name, memo of values or None, fields read, memo hits, misses]
        self._computed: list[list[Any]] = []
        for key, (slot, node) in lowering.computed.items():
            reads = tuple(sorted(fields_of(node)))
            self._computed.append([slot, compiled(node), shared.get(key), {} if len(reads) <= 2 else None, reads, 0, 0])
        # a slot that is a derived value's is read in the fact function, as a field is (the value computed only
        # when the record lacks it); the rest are computed (and remembered) in fire
        from_derived = [(c[2], c[0], c[1]) for c in self._computed if c[2] is not None]
        self._computed = [c for c in self._computed if c[2] is None]
        self._fact = _fact_function(self._as_is, self._numeric, from_derived)
        self._index = {f"r{index}": index for index in range(len(policy.rules))}
        try:
            self._ruleset = Ruleset(conditions)
        except RulesetLimitError as exc:
            culprit = policy.rules[int(exc.rule[1:])].source if exc.rule else None
            # a gate's criterion says where it is as text (file:line): the file then stands for it
            raise PolicyError([Diagnostic("too_complex", f"a rule is beyond durable_rules' limits ({exc})",
                                          culprit if isinstance(culprit, Location) else Location(policy.intake_file),
                                          "split the rule into several rules, move parts into derived values, "
                                          "or use --backend reference")]) from None
        self._reference = ReferenceBackend(policy)  # for the rare row the core cannot decide exactly
        slots = {name: Slot(f"get({field!r})", encode is not _same) for field, name, encode in self._fields}
        for i, (derived, name, _) in enumerate(from_derived):
            slots[name] = Slot(f"(v if (v := get({derived!r}, MISSING)) is not MISSING else derived{i}(record))", True)
        for i, computed in enumerate(self._computed):
            slots[computed[0]] = Slot(f"computed{i}(record)", True)
        self._memos: list[dict[tuple[Any, ...], tuple[int, ...]]] = [{} for _ in self._ruleset.groups]
        self._remembering = [True] * len(self._memos)
        self._asked = [0] * len(self._memos)  # facts each group's core was asked about
        self._rows = [0]
        self._fire = self._fire_function(slots, from_derived)

    def fire(self, record: Mapping[str, Any]) -> list[int]:
        """Indexes (into policy.rules) of the rules whose conditions are true for this record: each group's answer
        remembered by the classes of the record's values (engine/backends/rete/recordkeys.py), the core asked
        only for a class not seen yet."""
        return self._fire(record)

    def memo_counts(self) -> list[tuple[tuple[str, ...], int, int, bool]]:
        """Per group: its slots, rows decided, facts the core was asked about, whether it still remembers."""
        return [(group.slots, self._rows[0], self._asked[i], self._remembering[i])
                for i, group in enumerate(self._ruleset.groups)]

    def _fire_function(self, slots: dict[str, Slot],
                       from_derived: Sequence[tuple[str, str, Callable[[Mapping[str, Any]], Any]]],
                       ) -> Callable[[Mapping[str, Any]], list[int]]:
        """``fire``, written out once per policy: the record's values read once, each group's class key
        (recordkeys.keys_source), a dict lookup per group; a miss builds the fact and asks the core."""
        groups = self._ruleset.groups
        namespace: dict[str, Any] = {"MISSING": _MISSING, "slow": self._fire_slow, "reference": self._reference.fire,
                                     "make_fact": self._fact_of, "ask": self._ask, "rows": self._rows}
        for i, (_, _, node) in enumerate(from_derived):
            namespace[f"derived{i}"] = node
        for i, computed in enumerate(self._computed):
            namespace[f"computed{i}"] = self._computed_function(computed)
        body = keys_source([(g.classes, g.pairs) for g in groups], slots, namespace)
        lines = ["def fire(record):", "    get = record.get", "    rows[0] += 1", "    try:"]
        lines += ["    " + line for line in body] or ["        pass"]  # rules that read no value (or none at all)
        lines += ["    except Exception:  # a value the classes cannot take (a NaN): the general way, as before",
                  "        return slow(record)", "    fact = None"]
        for i in range(len(groups)):
            namespace[f"memo{i}"] = self._memos[i].get
            lines += [f"    r{i} = memo{i}(k{i})", f"    if r{i} is None:",
                      "        if fact is None:", "            fact = make_fact(record)",
                      f"        r{i} = ask({i}, k{i}, fact)", f"        if r{i} is None:",
                      "            return reference(record)"]
        lines.append(f"    return sorted({' + '.join(f'r{i}' for i in range(len(groups))) or '()'})")
        exec(compile("\n".join(lines), "<rete fire>", "exec"), namespace)  # noqa: S102 - our own text, no input
        made: Callable[[Mapping[str, Any]], list[int]] = namespace["fire"]
        return made

    def _ask(self, group: int, key: tuple[Any, ...], fact: dict[str, Any]) -> tuple[int, ...] | None:
        """The core's answer for one group (None when it cannot decide the fact), remembered under ``key``."""
        try:
            names = self._ruleset.ask(group, fact)
        except Unsafe:  # text over 64 KB, more than 64 tests true at once: this row is decided in Python
            return None
        found = tuple(sorted(map(self._index.__getitem__, names)))
        self._asked[group] += 1
        if self._remembering[group]:
            memo = self._memos[group]
            asked, rows = self._asked[group], self._rows[0]
            if asked >= MEMO_TRIAL and (rows - asked) * 10 < asked:
                self._remembering[group] = False  # its classes rarely repeat: asked every time, not remembered
                memo.clear()
            else:
                if len(memo) >= MEMO_FACTS:
                    memo.clear()
                memo[key] = found
        return found

    def _fact_of(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The fact the core is asked about: the fields, derived values and computed slots, as keys."""
        fact = self._fact(record)
        for computed in self._computed:
            value = self._computed_value(computed, record)
            if value is not None:
                fact[computed[0]] = rete_value(value)
        return fact

    def _computed_function(self, computed: list[Any]) -> Callable[[Mapping[str, Any]], Any]:
        return lambda record: self._computed_value(computed, record)

    def _fire_slow(self, record: Mapping[str, Any]) -> list[int]:
        """``fire`` by the driver's classes of the whole fact (the way before recordkeys; for a value the
        record's classes do not take)."""
        try:
            fired = self._ruleset.match(self._fact_of(record))
        except Unsafe:
            return self._reference.fire(record)
        return sorted(map(self._index.__getitem__, fired))

    @staticmethod
    def _computed_value(computed: list[Any], record: Mapping[str, Any]) -> Any:
        """A computed slot's value for the record (None: missing), remembered by the fields it reads."""
        slot, node, derived, memo, reads, _, _ = computed
        if derived is not None and derived in record:
            value = record[derived]
        elif memo is None:
            value = node(record)
        else:  # a function of one or two fields (matches(vendor, ...)): its values repeat
            args = (_key(record.get(reads[0])),) if len(reads) == 1 else tuple(_key(record.get(n)) for n in reads)
            value = _MISSING if _MISSING in args else memo.get(args, _MISSING)
            if value is not _MISSING:
                computed[5] += 1  # hits
            else:
                value = node(record)
                computed[6] += 1  # misses
                if computed[6] >= MEMO_TRIAL and computed[5] * 10 < computed[6]:
                    computed[3] = None  # its values hardly repeat (an id): computed each time, not remembered
                elif _MISSING not in args:
                    if len(memo) >= MEMO_VALUES:
                        memo.clear()
                    memo[args] = value
        return value


_MISSING = object()
MEMO_FACTS = 4_096  # answers remembered per group (then started afresh)
MEMO_VALUES = 4_096  # computed values remembered per slot
MEMO_TRIAL = 512  # values computed before a slot whose values hardly repeat stops remembering them


def _key(value: Any) -> Any:
    """engine.expr.evaluate.memo_key, with _MISSING for a value it cannot tell apart (not remembered)."""
    key = memo_key(value)
    return _MISSING if key is UNKNOWN else key


def _fact_function(as_is: list[tuple[str, str]], numeric: list[tuple[str, str]],
                   from_derived: Sequence[tuple[str, str, Callable[[Mapping[str, Any]], Any]]] = (),
                   ) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The function making a record's fact from its fields, written out once per policy: text and yes/no as
    they are (the core compares them as they are), numbers and dates as integer keys (rete_value, inlined for
    the usual Decimal and date). It runs for every row, and a loop over the fields cost more than the core.
    ``from_derived``: (derived value, slot, its expression compiled) for the computed slots that are a derived
    value's expression: the record's value as rete_value gives it, computed when the record has none."""
    lines = ["def fact_of(record):", "    get = record.get", "    fact = {'t': 'p'}"]
    namespace: dict[str, Any] = {}
    for name, slot in as_is:
        lines += [f"    v = get({name!r})", "    if v is not None:", f"        fact[{slot!r}] = v"]
    for i, (name, slot, node) in enumerate(from_derived):
        namespace[f"node{i}"] = node
        lines += [f"    v = get({name!r}, MISSING)", "    if v is MISSING:", f"        v = node{i}(record)",
                  "    if v is not None:", f"        fact[{slot!r}] = rete_value(v)"]
    for name, slot in numeric:
        lines += [f"    v = get({name!r})", "    if v is not None:", "        kind = v.__class__",
                  "        if kind is Decimal:",
                  "            bits = unpack(pack(float(v) + 0.0))[0]",
                  f"            fact[{slot!r}] = bits if bits >= 0 else bits ^ LOW",
                  "        elif kind is date:", f"            fact[{slot!r}] = v.toordinal()",
                  "        else:", f"            fact[{slot!r}] = rete_value(v)"]
    lines.append("    return fact")
    namespace.update({"Decimal": Decimal, "date": dt.date, "unpack": _INT64, "pack": _DOUBLE, "LOW": _LOW_BITS,
                      "rete_value": rete_value, "float": float, "MISSING": _MISSING})
    exec(compile("\n".join(lines), "<rete fact>", "exec"), namespace)  # noqa: S102 - our own text, no input
    made: Callable[[Mapping[str, Any]], dict[str, Any]] = namespace["fact_of"]
    return made


def _encoder(expr_type: str) -> Callable[[Any], Any]:
    if expr_type in ("string", "bool"):
        return _same
    return rete_value


def _same(value: Any) -> Any:
    return value
