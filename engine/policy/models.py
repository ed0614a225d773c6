"""Pydantic models of the policy files, one per ``kind``.

Every model instance remembers where it came from (``loc()``), so later stages (the
expression checker, findings) can point at ``file:line:col``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from engine.errors import Location
from engine.policy.source import SourceMap

RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
Effect = Literal["reject", "review", "flag"]
FieldType = Literal["string", "number", "money", "integer", "bool", "date", "enum", "list"]


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    _source: SourceMap | None = PrivateAttr(default=None)
    _path: tuple = PrivateAttr(default=())

    def loc(self, *sub: Any) -> Location:
        """Where this node (or one of its keys' values) starts in its file."""
        if self._source is None:
            return Location("<memory>")
        return self._source.value(self._path + sub)

    def key_loc(self, *sub: Any) -> Location:
        """Where a key (not its value) stands, for "unknown key" and naming errors."""
        if self._source is None:
            return Location("<memory>")
        return self._source.key(self._path + sub)


def bind_sources(node: Any, source: SourceMap, path: tuple = ()) -> None:
    """Tell every model in a validated tree where it sits in the YAML document."""
    if isinstance(node, Node):
        node._source, node._path = source, path
        for name, info in type(node).model_fields.items():
            bind_sources(getattr(node, name), source, path + (info.alias or name,))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            bind_sources(item, source, path + (i,))
    elif isinstance(node, dict):
        for key, item in node.items():
            bind_sources(item, source, path + (key,))


def _shorthand(key: str):
    """Let ``budget: money`` stand for ``budget: {type: money}``."""
    def before(cls, data: Any) -> Any:
        return {key: data} if isinstance(data, str) else data
    return model_validator(mode="before")(classmethod(before))


class FieldSpec(Node):
    """One column of a proposal."""

    type: FieldType = Field(description="string, number, money, integer, bool, date, enum (one of values) or list")
    values: list[str] | None = Field(None, description="allowed values of an enum field")
    items: Literal["number", "money", "string"] | None = Field(None, description="item type of a list field")
    required: bool = Field(False, description="a row without this value is an error row, not a decision")
    default: Any = Field(None, description="the value a missing cell takes (otherwise it is null)")
    label: str | None = Field(None, description="column title in reports")
    description: str | None = None
    _short = _shorthand("type")


class DerivedSpec(Node):
    """A value computed from the fields (and earlier derived values) before rules run."""

    expr: str = Field(description="expression, e.g. 'benefit / budget'")
    label: str | None = None
    description: str | None = None
    _short = _shorthand("expr")


class RuleSpec(Node):
    id: str = Field(pattern=RULE_ID, description="unique rule id, shown in every finding")
    when: str = Field(description="condition; the rule fires when it is true")
    effect: Effect = Field(description="reject | review | flag")
    reason: str = Field(description="why, in the words a proposer understands; {field} inserts a value")
    route: str | None = Field(None, description="who must approve (required for effect: review)")
    description: str | None = None
    tags: list[str] = []


class Include(Node):
    """Use a rule from a library under rules/, with parameters."""

    use: str = Field(description="LIBRARY/RULE, e.g. governance/sponsor-required")
    id: str | None = Field(None, pattern=RULE_ID, description="rule id in this policy (default: the library rule's id)")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="parameter values")
    effect: Effect | None = Field(None, description="override the library rule's effect")
    route: str | None = Field(None, description="override the library rule's route")
    reason: str | None = Field(None, description="override the library rule's reason")


class IntakePolicy(Node):
    kind: Literal["intake"]
    name: str = "intake"
    description: str | None = None
    id_field: str = Field("id", description="the field that identifies a proposal")
    fields: dict[str, FieldSpec] = Field(description="the proposal's columns and their types")
    derived: dict[str, DerivedSpec] = Field(default_factory=dict)
    include: list[Include] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)


class Objective(Node):
    id: str = Field(pattern=RULE_ID)
    name: str
    weight: Decimal = Field(gt=0, description="relative weight; weights are normalised to sum to 1")
    owner: str | None = None
    description: str | None = None


class StrategyPolicy(Node):
    kind: Literal["strategy"]
    name: str = "strategy"
    description: str | None = None
    objectives: list[Objective] = Field(min_length=1)


class ParamSpec(Node):
    type: Literal["number", "money", "integer", "string", "bool", "date", "list"]
    default: Any = None
    description: str | None = None
    _short = _shorthand("type")


class LibraryRule(RuleSpec):
    params: dict[str, ParamSpec] = Field(default_factory=dict, description="parameters, used as params.NAME")


class Library(Node):
    kind: Literal["library"]
    name: str = Field(pattern=RULE_ID, description="the library's name, used in include: LIBRARY/RULE")
    description: str | None = None
    rules: list[LibraryRule] = Field(default_factory=list)


PolicyFile = Union[IntakePolicy, StrategyPolicy, Library]
KINDS: dict[str, type[Node]] = {"intake": IntakePolicy, "strategy": StrategyPolicy, "library": Library}
