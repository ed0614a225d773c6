"""JSON Schema of policy files, for editor completion and validation as you type."""
from __future__ import annotations

import typing
from importlib import resources
from typing import Any

import yaml
from pydantic import TypeAdapter

from engine.policy.models import DerivedSpec, FieldSpec, FieldType, ParamSpec, PolicyFile

# Models that may also be written as one string (``budget: money``, ``ratio: benefit / budget``).
_SHORTHANDS: dict[str, dict[str, Any]] = {
    FieldSpec.__name__: {"type": "string", "enum": list(typing.get_args(FieldType))},
    DerivedSpec.__name__: {"type": "string", "description": "expression"},
    ParamSpec.__name__: {"type": "string", "enum": list(typing.get_args(ParamSpec.model_fields["type"].annotation))},
}


KINDS = {"intake": "IntakePolicy", "strategy": "StrategyPolicy", "scoring": "ScoringPolicy",
         "portfolio": "PortfolioPolicy", "gates": "GatesPolicy", "health": "HealthPolicy", "library": "Library",
         "lookup": "LookupPolicy", "tables": "TablesPolicy", "assurances": "AssurancesPolicy",
         "kpis": "KpisPolicy"}

# Examples of single values that editors offer as you type: (model, property) -> examples.
_VALUE_EXAMPLES = {
    ("RuleSpec", "when"): ["budget > 250_000 and sponsor == null", "risk >= 4 or (complexity == 5 and budget == null)",
                           "start_date < today()", "category in [\"growth\", \"innovation\"]"],
    ("LibraryRule", "when"): ["budget > params.threshold and sponsor == null"],
    ("RuleSpec", "reason"): ["Proposals above 250,000 need a named sponsor", "Risk {risk} on a budget of {budget}"],
    ("Include", "use"): ["governance/sponsor-required", "finance/negative-npv"],
    ("GateCriterion", "when"): ["sponsor != null", "benefit_cost_ratio >= 1", "spi >= 0.9"],
    ("KpiSpec", "measure"): ["portfolio.cpi", "share(rating == \"green\")", "total(benefits_realised) / total(benefits_planned)",
                             "median(days_between(submitted, decided))", "share(override)"],
    ("HealthRule", "when"): ["cpi < 0.9 or spi < 0.85", "spi_t < 0.9", "benefits_realised < 0.8 * benefits_planned"],
}


def examples() -> dict[str, Any]:
    """One small, complete example document per policy kind (they load together as a valid folder)."""
    texts = yaml.safe_load(resources.files("engine.policy").joinpath("examples.yaml").read_text(encoding="utf-8"))
    return {kind: yaml.safe_load(text) for kind, text in texts.items()}


def policy_schema() -> dict[str, Any]:
    schema = TypeAdapter(PolicyFile).json_schema(by_alias=True)
    schema = dict(_allow_shorthands(schema))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pmo-engine policy file"
    schema["description"] = ("One policy per file; 'kind' says which: " + ", ".join(KINDS) + ". "
                             "Run 'pmo validate' for the checks a schema cannot make (expressions, types, lint).")
    defs = schema["$defs"]
    for kind, document in examples().items():
        defs[KINDS[kind]]["examples"] = [document]
    for (model, prop), values in _VALUE_EXAMPLES.items():
        defs[model]["properties"][prop]["examples"] = values
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
