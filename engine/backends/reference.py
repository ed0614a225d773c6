"""The reference back end: the compiled rules' typed expressions evaluated in plain Python.

``rete`` (engine/backends/rete) must agree with it on every record; the test suite checks that on the policy
files and on random proposals. ``engine.backends.make_backend`` chooses one by name.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import Location
from engine.expr.evaluate import compiled
from engine.expr.nodes import Const, Field, Node, children, key


class Rule(Protocol):
    """What a back end reads of a rule (an intake rule, a gate's must-meet criterion, a health rule)."""

    @property
    def condition(self) -> Node: ...
    @property
    def source(self) -> Location | str: ...  # where it is written, for a rule the core refuses


class RuleSet(Protocol):
    """What a back end reads of a policy (a compiled intake policy, or a :class:`Rules`)."""

    @property
    def rules(self) -> Sequence[Rule]: ...
    @property
    def field_types(self) -> Mapping[str, str]: ...  # the values the rules read -> expression type
    @property
    def intake_file(self) -> str: ...  # the file to blame for a problem of the whole set


@dataclass(frozen=True)
class Rules:
    """Rules other than an intake policy's, for a back end: a gate's must-meet criteria, the health rules."""

    rules: Sequence[Rule]
    field_types: Mapping[str, str]
    intake_file: str



class ReferenceBackend:
    name = "reference"

    def __init__(self, policy: RuleSet):
        shared = derived_keys(policy)
        self._conditions = [compiled(reading_derived(rule.condition, shared)) for rule in policy.rules]

    def fire(self, record: Mapping[str, Any]) -> list[int]:
        return [i for i, condition in enumerate(self._conditions) if condition(record) is True]


def derived_keys(policy: RuleSet) -> dict[tuple[Any, ...], str]:
    """The policy's derived values by the structure of their expressions (engine.expr.nodes.key). A rule that
    writes ``benefit / budget`` where a derived value is ``benefit / budget`` computes the same value: the
    back ends read the derived value from the record instead of computing it again for every rule."""
    found: dict[tuple[Any, ...], str] = {}
    for name, node in getattr(policy, "derived", ()) or ():
        if not isinstance(node, (Const, Field)):
            found.setdefault(key(node), name)
    return found


def reading_derived(node: Node, shared: dict[tuple[Any, ...], str]) -> Node:
    """``node`` with each subexpression that is a derived value's expression replaced by that value's name
    (a record decided by intake carries every derived value). Unchanged when nothing matches."""
    if not shared or isinstance(node, (Const, Field)):
        return node
    name = shared.get(key(node))
    if name is not None:
        field = Field(node.offset, name)
        field.type = node.type
        return field
    parts = children(node)
    replaced = [reading_derived(child, shared) for child in parts]
    if all(a is b for a, b in zip(parts, replaced)):
        return node
    clone = copy.copy(node)
    for attribute in ("operand", "left", "right", "item", "container"):
        if hasattr(clone, attribute):
            setattr(clone, attribute, replaced[parts.index(getattr(node, attribute))])
    if hasattr(clone, "items"):
        clone.items = replaced
    if hasattr(clone, "args"):
        clone.args = replaced
    return clone
