"""The served policy as JSON Schema, for the OpenAPI document: what a calling tool may send and will get back.

``Proposal`` is made from the intake policy's fields: each field's type (what the engine reads it from: a JSON
number or the text a CSV cell would hold, such as ``1,250,000`` or ``12%``), its enum values, its range, its
default, and which fields are required. ``EvaluateResponse`` names the policy's rules and derived values.
The document is made again whenever the served policy changes (its hash), so it always describes the version
that decides. Bodies are still read by the engine's record reader, which is what decides what is valid: the
schema describes it, and never accepts less (enum values are listed as written; the reader also forgives case).
"""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

from engine.api import Engine

_NUMBER_TEXT = "a JSON number, or a number as text (1,250,000; 12% is 0.12)"
_DERIVED_TYPES = {"number": {"type": ["number", "null"]}, "bool": {"type": ["boolean", "null"]},
                  "date": {"type": ["string", "null"], "format": "date"}, "string": {"type": ["string", "null"]}}


def field_schema(spec: Any, objectives: list[str]) -> dict[str, Any]:
    """One field's JSON Schema (without null: see proposal_schema)."""
    kind = spec.type
    if kind in ("number", "money"):
        out: dict[str, Any] = {"type": ["number", "string"], "description": _NUMBER_TEXT}
    elif kind == "integer":
        out = {"type": ["integer", "string"], "description": "a whole number, or one as text"}
    elif kind == "bool":
        out = {"type": ["boolean", "string"], "description": "true or false (as text: yes/no, y/n, 1/0)"}
    elif kind == "date":
        out = {"type": "string", "format": "date", "description": "a date, YYYY-MM-DD"}
    elif kind == "enum":
        out = {"type": "string", "enum": list(spec.values or []), "description": "one of the values (case is "
               "forgiven)"}
    elif kind == "list":
        item = {"string": {"type": "string"}}.get(spec.items or "", {"type": ["number", "string"]})
        out = {"type": ["array", "string"], "items": item,
               "description": "a JSON array, or the items as text separated by ';' (-500000;200000)"}
    elif kind == "alignment":
        out = {"type": ["string", "object"], "description": "the strategic objectives served and how strongly: "
               "'objective:level;...' or {objective: level}" + (f"; objectives: {', '.join(objectives)}"
                                                                if objectives else ""),
               "additionalProperties": {"type": ["string", "number"]}}
        if objectives:
            out["propertyNames"] = {"enum": objectives}
    else:
        out = {"type": "string"}
    if spec.min is not None:
        out["minimum" if kind != "date" else "formatMinimum"] = _plain(spec.min)
    if spec.max is not None:
        out["maximum" if kind != "date" else "formatMaximum"] = _plain(spec.max)
    if spec.default is not None:
        out["default"] = _plain(spec.default)
    if spec.description:
        out["description"] = f"{spec.description}; {out['description']}" if "description" in out else spec.description
    if spec.aliases:
        out["description"] = out.get("description", "") + f" (also read from: {', '.join(spec.aliases)})"
    out["title"] = spec.label or None
    if out["title"] is None:
        del out["title"]
    return out


def proposal_schema(engine: Engine) -> dict[str, Any]:
    """A proposal of the served intake policy. Other keys are allowed (a tool's own columns are ignored)."""
    policy = engine.policy
    objectives = policy.strategy.objectives if policy.strategy is not None else []
    properties, required = {}, []
    for name, spec in policy.fields.items():
        schema = field_schema(spec, objectives)
        if spec.required:
            required.append(name)
        else:  # a missing value: null, or the key left out
            kinds = schema.get("type")
            if isinstance(kinds, list):
                schema["type"] = [*kinds, "null"]
            elif isinstance(kinds, str):
                schema["type"] = [kinds, "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        properties[name] = schema
    return {"title": "Proposal", "type": "object", "properties": properties, "required": required,
            "additionalProperties": True,
            "description": f"a proposal of the served intake policy (policy {engine.policy_hash}; the id field is "
                           f"'{policy.id_field}'). Field names are matched as CSV headers are: case and spaces are "
                           "forgiven; other keys are ignored."}


def policy_components(engine: Engine, components: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI components, with the policy's Proposal and the answers that name its rules and values."""
    out = copy.deepcopy(components)
    out["Proposal"] = proposal_schema(engine)
    policy = engine.policy
    rules = [r.id for r in policy.rules if r.effect != "none"]
    derived = {name: copy.deepcopy(_DERIVED_TYPES.get(policy.field_types.get(name, ""), {}))
               for name, _node in policy.derived}
    for name in ("EvaluateResponse", "Decision"):
        model = out.get(name)
        if not model:
            continue
        props = model.setdefault("properties", {})
        if derived and "derived" in props:
            props["derived"] = {**props["derived"], "properties": derived}
    finding = out.get("Finding")
    if finding and rules:
        finding.setdefault("properties", {})["rule"] = {"type": "string", "enum": rules,
                                                        "description": "the rule's id"}
    batch = out.get("RankRequest")
    if batch:
        batch["properties"]["proposals"]["items"] = {"$ref": "#/components/schemas/Proposal"}
    return out


def example_proposal(engine: Engine) -> dict[str, Any] | None:
    """A proposal of the served policy for the request examples (/docs' "Try it out"): a value for each field
    (its default, or one within its range, the first of its enum values), kept only if the engine decides it
    (not an error row); else the required fields alone; else None (no example rather than a wrong one)."""
    policy = engine.policy
    objectives = policy.strategy.objectives if policy.strategy is not None else []
    scale = policy.strategy.levels if policy.strategy is not None else {}
    levels = sorted(scale, key=lambda level: scale[level])  # the strongest last
    full: dict[str, Any] = {}
    for name, spec in policy.fields.items():
        value = _example_value(name, spec, policy.id_field, objectives, levels, engine.today)
        if value is not None:
            full[name] = value
    required = {name: value for name, value in full.items() if policy.fields[name].required}
    for example in (full, required):
        try:
            if engine.evaluate(example).decision != "error":
                return example
        except Exception:  # noqa: BLE001, S112 - an example is a courtesy: none rather than a crash
            continue
    return None


def _example_value(name: str, spec: Any, id_field: str, objectives: list[str], levels: list[str],
                   today: dt.date) -> Any:
    if spec.default is not None:
        return _plain(spec.default)
    kind = spec.type
    if kind == "enum":
        return (spec.values or [None])[0]
    if kind in ("money", "number", "integer"):
        low = _plain(spec.min) if spec.min is not None else None
        high = _plain(spec.max) if spec.max is not None else None
        value = 1 if kind == "integer" else 100_000
        if high is not None and value > high:
            value = high
        if low is not None and value < low:
            value = low
        return value
    if kind == "bool":
        return False
    if kind == "date":
        return _plain(spec.min) if spec.min is not None else (today + dt.timedelta(days=90)).isoformat()
    if kind == "list":
        return ["example"] if spec.items == "string" else [-100_000, 60_000, 60_000]
    if kind == "alignment":
        return {objectives[0]: levels[-1]} if objectives and levels else None
    if name == id_field:
        return "PRJ-1"
    return "An example" if name == "title" else "example"


def _plain(value: Any) -> Any:
    """A policy value as JSON: decimals as numbers, dates as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
