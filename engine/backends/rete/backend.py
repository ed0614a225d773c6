"""The Rete back end: compiled rules run in durable_rules' C core."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.backends.reference import ReferenceBackend
from engine.backends.rete.driver import MAX_SLOTS, Ruleset, RulesetLimitError, Unsafe
from engine.backends.rete.lower import ALWAYS, NEVER, Lowering, rete_value
from engine.errors import Diagnostic, Location, PolicyError
from engine.expr.evaluate import evaluate

if TYPE_CHECKING:  # compile imports the back ends through gates
    from engine.compile.policy import CompiledPolicy


class ReteBackend:
    name = "rete"

    def __init__(self, policy: CompiledPolicy):
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
        self._computed = lowering.computed_slots()
        try:
            self._ruleset = Ruleset(conditions)
        except RulesetLimitError as exc:
            rule = policy.rules[int(exc.rule[1:])] if exc.rule else None
            raise PolicyError([Diagnostic("too_complex", f"a rule is beyond durable_rules' limits ({exc})",
                                          rule.source if rule else Location(policy.intake_file),
                                          "split the rule into several rules, move parts into derived values, "
                                          "or use --backend reference")]) from None
        self._reference = ReferenceBackend(policy)  # for the rare row the core cannot decide exactly

    def fire(self, record: Mapping[str, Any]) -> list[int]:
        """Indexes (into policy.rules) of the rules whose conditions are true for this record."""
        fact: dict[str, Any] = {"t": "p"}
        for name, slot, encode in self._fields:
            value = record.get(name)
            if value is not None:
                fact[slot] = encode(value)
        for slot, node in self._computed:
            value = evaluate(node, record)
            if value is not None:
                fact[slot] = rete_value(value)
        try:
            fired = self._ruleset.match(fact)
        except Unsafe:  # text over 64 KB, more than 64 tests true at once: this row is decided in Python
            return self._reference.fire(record)
        return sorted(int(name[1:]) for name in fired)


def _encoder(expr_type: str) -> Callable[[Any], Any]:
    if expr_type in ("string", "bool"):
        return _same
    return rete_value


def _same(value: Any) -> Any:
    return value
