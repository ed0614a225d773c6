"""JSON Schema of policy files, for editor completion and validation as you type."""
from __future__ import annotations

import typing
from typing import Any

from pydantic import TypeAdapter

from engine.policy.models import DerivedSpec, FieldSpec, FieldType, ParamSpec, PolicyFile

# Models that may also be written as one string (``budget: money``, ``ratio: benefit / budget``).
_SHORTHANDS: dict[str, dict[str, Any]] = {
    FieldSpec.__name__: {"type": "string", "enum": list(typing.get_args(FieldType))},
    DerivedSpec.__name__: {"type": "string", "description": "expression"},
    ParamSpec.__name__: {"type": "string", "enum": list(typing.get_args(ParamSpec.model_fields["type"].annotation))},
}


def policy_schema() -> dict[str, Any]:
    schema = TypeAdapter(PolicyFile).json_schema(by_alias=True)
    schema = _allow_shorthands(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pmo-engine policy file"
    schema["description"] = "One policy per file; 'kind' says which: intake, strategy or library."
    return schema


def _allow_shorthands(node: Any) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if name in _SHORTHANDS and len(node) == 1:
            return {"anyOf": [node, _SHORTHANDS[name]]}
        return {k: _allow_shorthands(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_allow_shorthands(v) for v in node]
    return node
