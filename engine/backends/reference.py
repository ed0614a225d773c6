"""The reference back end: the compiled rules' typed expressions evaluated in plain Python.

``rete`` (engine/backends/rete) must agree with it on every record; the test suite checks that on the policy
files and on random proposals. ``engine.backends.make_backend`` chooses one by name.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from engine.compile.policy import CompiledPolicy
from engine.expr.evaluate import compiled
from engine.expr.nodes import Const, Field, Node, children, key


class ReferenceBackend:
    name = "reference"

    def __init__(self, policy: CompiledPolicy):
        shared = derived_keys(policy)
        self._conditions = [compiled(reading_derived(rule.condition, shared)) for rule in policy.rules]

    def fire(self, record: Mapping[str, Any]) -> list[int]:
        return [i for i, condition in enumerate(self._conditions) if condition(record) is True]


def derived_keys(policy: Any) -> dict[tuple, str]:
    """The policy's derived values by the structure of their expressions (engine.expr.nodes.key). A rule that
    writes ``benefit / budget`` where a derived value is ``benefit / budget`` computes the same value: the
    back ends read the derived value from the record instead of computing it again for every rule."""
    found: dict[tuple, str] = {}
    for name, node in getattr(policy, "derived", ()) or ():
        if not isinstance(node, (Const, Field)):
            found.setdefault(key(node), name)
    return found


def reading_derived(node: Node, shared: dict[tuple, str]) -> Node:
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
        clone.items = replaced  # type: ignore[attr-defined]
    if hasattr(clone, "args"):
        clone.args = replaced  # type: ignore[attr-defined]
    return clone
