"""What the engine says about a proposal: a JSON-serialisable, explainable decision."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["accept", "review", "reject", "error"]


class Finding(BaseModel):
    """One rule that fired."""

    model_config = ConfigDict(frozen=True)
    rule: str = Field(description="the rule's id")
    effect: Literal["reject", "review", "flag"]
    reason: str
    route: str | None = Field(None, description="who must approve, for review findings")
    source: str = Field(description="where the rule is written, as file:line")
    origin: str | None = Field(None, description="LIBRARY/RULE when the rule comes from the rules/ library")


class RowError(BaseModel):
    """Why a proposal could not be decided."""

    model_config = ConfigDict(frozen=True)
    row: int | None = Field(None, description="row in the input (a CSV's line number, a list's 1-based index)")
    column: str | None = None
    code: str
    message: str


class Decision(BaseModel):
    """accept (no rule objects), review (someone must approve: see routes), reject, or error (bad input row)."""

    id: str | None = Field(None, description="the proposal's id")
    decision: Outcome
    findings: list[Finding] = Field(default_factory=list)
    routes: list[str] = Field(default_factory=list, description="approvers that review findings ask for, in rule order")
    derived: dict[str, Any] = Field(default_factory=dict, description="derived values, as the rules saw them")
    errors: list[RowError] = Field(default_factory=list)
    policy_hash: str = Field(description="version of the policy set the decision was made under")
    as_of: str | None = Field(None, description="the date today() meant for this decision (YYYY-MM-DD)")
    source: str | None = Field(None, description="input file")
    row: int | None = Field(None, description="row in the input file")
    carried: dict[str, str] = Field(default_factory=dict, description="the input profile's carried columns, "
                                    "as read (text)")
    title: str | None = Field(None, exclude=True, description="the proposal's title as read, for people (tables, "
                              "reports); not part of the JSON (carry it to have it there)")

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if not self.carried:  # outputs without a carry: profile are as they were
            del data["carried"]
        return data
