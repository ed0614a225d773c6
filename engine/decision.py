"""What the engine says about a proposal: a JSON-serialisable, explainable decision."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def empty_list() -> list[Any]:
    """A new empty list: a default factory pydantic reads the signature of cheaply (``list``'s own signature is
    parsed from its text at each model definition, with tokenize and ast: about 0.5 ms a field at start-up).
    The policy models use it too (engine/policy/models.py)."""
    return []


def empty_dict() -> dict[Any, Any]:
    """A new empty dict (see empty_list)."""
    return {}


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
    findings: list[Finding] = Field(default_factory=empty_list)
    routes: list[str] = Field(default_factory=empty_list, description="approvers that review findings ask for, in rule order; empty unless the decision is review")
    derived: dict[str, Any] = Field(default_factory=empty_dict, description="derived values, as the rules saw them")
    errors: list[RowError] = Field(default_factory=empty_list)
    policy_hash: str = Field(description="version of the policy set the decision was made under")
    as_of: str | None = Field(None, description="the date today() meant for this decision (YYYY-MM-DD)")
    source: str | None = Field(None, description="input file")
    row: int | None = Field(None, description="row in the input file")
    carried: dict[str, str] = Field(default_factory=empty_dict, description="the input profile's carried columns, "
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
    the (frozen, shared) :class:`Finding` and :class:`RowError` models. A decision made by the intake stage
    (``planned``) keeps its findings as the plan of its fired rules and the texts rendered for the row: the
    outputs read ``rule_ids`` and ``reasons_text`` (joined once per plan, or per row for placeholders), and a
    templated finding's Finding is made only when ``findings`` is read."""

    __slots__ = ("id", "decision", "_findings", "routes", "derived", "errors", "policy_hash", "as_of", "source",
                 "row", "carried", "title", "_plan", "_texts", "read_digest")
    _findings: list[Finding] | None
    _plan: Any  # engine.intake.decide.Plan, or None
    _texts: Any  # the row's rendered reasons and routes (Plan.texts), or None
    read_digest: str | None  # the digest of the typed record it was made on, for the decision log's key, when a
    # worker process made it (engine.store.log.read_digest; its record does not come back); else None

    def __init__(self, id: str | None, decision: Outcome, findings: list[Finding], routes: list[str],  # noqa: A002
                 derived: dict[str, Any], errors: list[RowError], policy_hash: str, as_of: str | None,
                 source: str | None, row: int | None, carried: dict[str, str] | None = None,
                 title: str | None = None, read_digest: str | None = None):
        self.read_digest = read_digest
        self.id, self.decision, self._findings, self.routes, self.derived = id, decision, findings, routes, derived
        self.errors, self.policy_hash, self.as_of, self.source, self.row = errors, policy_hash, as_of, source, row
        self.carried = {} if carried is None else carried
        self.title = title
        self._plan = self._texts = None

    @classmethod
    def planned(cls, plan: Any, texts: Any, id: str | None, derived: dict[str, Any],  # noqa: A002
                policy_hash: str, as_of: str | None, source: str | None, row: int | None) -> Verdict:
        """A decision from ``plan`` (engine.intake.decide.Plan) with the row's rendered ``texts`` (None: the
        plan's own)."""
        made = cls.__new__(cls)
        made.id, made.decision, made._findings, made.derived, made.errors = id, plan.outcome, None, derived, []
        made.routes = plan.routes.copy() if texts is None or texts[1] is None else plan.routes_of(texts[1])
        made.policy_hash, made.as_of, made.source, made.row, made.carried, made.title = \
            policy_hash, as_of, source, row, {}, None
        made._plan, made._texts, made.read_digest = plan, texts, None
        return made

    @property
    def findings(self) -> list[Finding]:
        found = self._findings
        if found is None:
            found = self._findings = self._plan.findings_of(self._texts)
        return found

    @findings.setter
    def findings(self, value: list[Finding]) -> None:
        self._findings, self._plan, self._texts = value, None, None

    @property
    def rule_ids(self) -> str:
        """The ids of the rules that fired, as the CSV writes them ("; " between)."""
        if self._plan is not None:
            return self._plan.rule_ids  # type: ignore[no-any-return]
        return "; ".join(f.rule for f in self.findings)

    @property
    def reasons_text(self) -> str:
        """The findings' reasons, as the CSV writes them ("; " between)."""
        if self._plan is not None:
            return self._plan.reasons if self._texts is None else "; ".join(self._texts[0])
        return "; ".join(f.reason for f in self.findings)

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
                          self.policy_hash, self.as_of, self.source, self.row, self.carried, self.title,
                          self.read_digest))

    def __repr__(self) -> str:
        return f"Verdict(id={self.id!r}, decision={self.decision!r})"


def _json_values(derived: dict[str, Any]) -> dict[str, Any]:
    """Derived values are plain already (int, float, text, bool, None, lists of them): copied as pydantic's
    JSON mode copies them (a tuple becomes a list)."""
    if all(v.__class__ is not tuple for v in derived.values()):
        return dict(derived)
    return {k: list(v) if v.__class__ is tuple else v for k, v in derived.items()}
