"""Rule back ends: given a typed record, which rules fire.

``rete`` (the default) runs the compiled rules in durable_rules' C core; ``reference``
evaluates the same typed expressions in plain Python. Both must agree on every record; the
test suite checks that on the policy files and on random proposals.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from engine.expr.evaluate import evaluate

if TYPE_CHECKING:  # compile imports the back ends through gates
    from engine.compile.policy import CompiledPolicy

BACKENDS = ("rete", "reference")


class Backend(Protocol):
    name: str

    def fire(self, record: Mapping[str, Any]) -> list[int]: ...


class ReferenceBackend:
    name = "reference"

    def __init__(self, policy: CompiledPolicy):
        self._conditions = [rule.condition for rule in policy.rules]

    def fire(self, record: Mapping[str, Any]) -> list[int]:
        return [i for i, condition in enumerate(self._conditions) if evaluate(condition, record) is True]


def make_backend(name: str, policy: CompiledPolicy) -> Backend:
    if name == "reference":
        return ReferenceBackend(policy)
    if name == "rete":
        from engine.backends.rete import ReteBackend  # durable_rules is imported only when used
        return ReteBackend(policy)
    raise ValueError(f"unknown back end {name!r}; choose one of {', '.join(BACKENDS)}")
