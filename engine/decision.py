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
    routes: list[str] = Field(default_factory=list, description="approvers that review findings ask for, in rule order; empty unless the decision is review")
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


class Verdict:
    """A decision as a plain record: what the batch path makes, formats and logs, without building a pydantic
    model per row. The same fields as :class:`Decision`; ``to_json()`` gives exactly ``Decision.to_json()``'s
    data, and ``model()`` the :class:`Decision` (for an API user, a report). ``findings`` and ``errors`` hold
    the (frozen, shared) :class:`Finding` and :class:`RowError` models."""

    __slots__ = ("id", "decision", "findings", "routes", "derived", "errors", "policy_hash", "as_of", "source",
                 "row", "carried", "title")

    def __init__(self, id: str | None, decision: Outcome, findings: list[Finding], routes: list[str],  # noqa: A002
                 derived: dict[str, Any], errors: list[RowError], policy_hash: str, as_of: str | None,
                 source: str | None, row: int | None, carried: dict[str, str] | None = None,
                 title: str | None = None):
        self.id, self.decision, self.findings, self.routes, self.derived = id, decision, findings, routes, derived
        self.errors, self.policy_hash, self.as_of, self.source, self.row = errors, policy_hash, as_of, source, row
        self.carried = {} if carried is None else carried
        self.title = title

    def to_json(self) -> dict[str, Any]:
        # A Finding's and a RowError's fields are JSON values already (text, whole numbers, None), in order.
        data = {"id": self.id, "decision": self.decision, "findings": [dict(f.__dict__) for f in self.findings],
                "routes": list(self.routes), "derived": _json_values(self.derived),
                "errors": [dict(e.__dict__) for e in self.errors], "policy_hash": self.policy_hash,
                "as_of": self.as_of, "source": self.source, "row": self.row}
        if self.carried:
            data["carried"] = dict(self.carried)
        return data

    def model(self) -> Decision:
        return Decision(id=self.id, decision=self.decision, findings=self.findings, routes=self.routes,
                        derived=self.derived, errors=self.errors, policy_hash=self.policy_hash, as_of=self.as_of,
                        source=self.source, row=self.row, carried=self.carried, title=self.title)

    def __reduce__(self) -> tuple[type[Verdict], tuple[Any, ...]]:  # sent between processes as its fields
        return (Verdict, (self.id, self.decision, self.findings, self.routes, self.derived, self.errors,
                          self.policy_hash, self.as_of, self.source, self.row, self.carried, self.title))

    def __repr__(self) -> str:
        return f"Verdict(id={self.id!r}, decision={self.decision!r})"


def _json_values(derived: dict[str, Any]) -> dict[str, Any]:
    """Derived values are plain already (int, float, text, bool, None, lists of them): copied as pydantic's
    JSON mode copies them (a tuple becomes a list)."""
    if all(v.__class__ is not tuple for v in derived.values()):
        return dict(derived)
    return {k: list(v) if v.__class__ is tuple else v for k, v in derived.items()}
