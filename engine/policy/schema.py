"""JSON Schema of policy files, for editor completion and validation as you type."""
from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from engine.policy.models import PolicyFile


def policy_schema() -> dict[str, Any]:
    schema = TypeAdapter(PolicyFile).json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pmo-engine policy file"
    schema["description"] = "One policy per file; 'kind' says which: intake, strategy or library."
    return schema
