"""Rule back ends: given a typed record, which rules fire.

``rete`` (the default) runs the compiled rules in durable_rules' C core (engine/backends/rete); ``reference``
evaluates the same typed expressions in plain Python (engine/backends/reference.py). The choice by name is here,
above both, so neither imports the other's chooser (rete uses the reference for rows its core cannot decide).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from engine.backends.reference import ReferenceBackend, RuleSet

BACKENDS = ("rete", "reference")


class Backend(Protocol):
    name: str

    def fire(self, record: Mapping[str, Any]) -> list[int]: ...


def make_backend(name: str, policy: RuleSet) -> Backend:
    if name == "reference":
        return ReferenceBackend(policy)
    if name == "rete":
        from engine.backends.rete import ReteBackend  # lazy: durable_rules' C core loads only when rete is used
        return ReteBackend(policy)
    raise ValueError(f"unknown back end {name!r}; choose one of {', '.join(BACKENDS)}")
