"""The intake stage: typed record -> derived values -> fired rules -> Decision."""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine.backends import Backend
from engine.compile.policy import CompiledPolicy, CompiledRule
from engine.compile.records import RecordError, RecordReader, compiled_derived
from engine.decision import Decision, Finding, Outcome, RowError, Verdict
from engine.expr.values import INT64_BOUND, id_text, plain
from engine.tables import hits

_SEVERITY = {"reject": 2, "review": 1, "flag": 0}
PLANS = 4_096  # plans kept (one per set of fired rules; see Intake._plan), then started afresh


class Intake:
    def __init__(self, policy: CompiledPolicy, backend: Backend):
        self.policy = policy
        self.backend = backend
        self.reader = RecordReader(policy.fields, policy.strategy)
        self.as_of = policy.today.isoformat()
        self._findings: list[tuple[CompiledRule, Finding | None]] = [
            (rule, Finding(rule=rule.id, effect=rule.effect, reason=rule.reason, route=rule.route,
                           source=rule.where, origin=rule.origin) if rule.effect != "none" else None)
            for rule in policy.rules
        ]
        self._derived = [name for name, _ in policy.derived]
        self._derived_values = compiled_derived(policy.derived)
        self._plans: dict[tuple[int, ...], Plan] = {}
        # per rule: its reason and route renderers (None: fixed text), for plans
        self._renderers = [(rule.reason_template.renderer() if rule.reason_template is not None else None,
                            rule.route_template.renderer() if rule.route_template is not None else None)
                           for rule in policy.rules]

    def decide(self, raw: Mapping[str, Any], row: int | None = None, source: str | None = None) -> Decision:
        return self.decide_record(raw, row, source)[0]

    def decide_record(self, raw: Mapping[str, Any], row: int | None = None,
                      source: str | None = None) -> tuple[Decision, dict[str, Any] | None]:
        """The decision, and the typed record (with derived values) it was made on; None for an error row."""
        verdict, record = self.decide_plain(raw, row, source)
        return verdict.model(), record

    def decide_plain(self, raw: Mapping[str, Any], row: int | None = None, source: str | None = None,
                     typed: dict[str, Any] | Exception | None = None) -> tuple[Verdict, dict[str, Any] | None]:
        """``decide_record`` as a plain record (engine.decision.Verdict): the batch path's form. ``typed``: the
        raw record's typed record, or the exception typing it raised, from ``records`` (None: typed here)."""
        try:
            if typed is None:
                record = self.record(raw)
            elif typed.__class__ is dict:
                record = typed
            else:
                raise typed  # type: ignore[misc]
        except RecordError as exc:
            errors = [RowError(row=row, column=column, code=code, message=message)
                      for column, code, message in exc.problems]
            return self.error_plain(errors, raw, row, source), None
        try:  # decision tables: each table's hit policy picks from its matching rows
            fired = self.backend.fire(record)
            if self.policy.hit_groups:
                fired = hits.apply(self.policy.hit_groups, fired)
        except hits.Overlap as exc:
            error = RowError(row=row, code="table_overlap", message=str(exc))
            return self.error_plain([error], raw, row, source), None
        plan = self._plans.get(tuple(fired))
        if plan is None:
            plan = self._plan(fired)
        derived = {}
        for name in self._derived:  # plain(): the usual kinds first, without its chain of isinstance
            value = record[name]
            kind = value.__class__
            if kind is Decimal:
                integral = value == value.to_integral_value() and -INT64_BOUND < value < INT64_BOUND
                derived[name] = int(value) if integral else float(value)
            elif value is None or kind is str or kind is bool or kind is int or kind is float:
                derived[name] = value
            else:
                derived[name] = plain(value)
        decision = Verdict.planned(plan, plan.texts(record) if plan.rendered else None,
                                   id_text(record.get(self.policy.id_field)), derived, self.policy.policy_hash,
                                   self.as_of, source, row)
        return decision, record

    def _plan(self, fired: Any) -> Plan:
        """The plan of this set of fired rules (kept in ``_plans``, PLANS at most, then started afresh)."""
        kept = tuple(index for index in fired if self._findings[index][1] is not None)
        plan = Plan([self._findings[index][1] for index in kept],
                    [self._renderers[index] for index in kept])
        if len(self._plans) >= PLANS:
            self._plans.clear()
        self._plans[tuple(fired)] = plan
        return plan

    def record(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The typed record with its derived values (raises RecordError)."""
        return self.reader.read_derived(raw, self._derived_values)

    def records(self, raws: list[Mapping[str, Any]]) -> list[dict[str, Any] | Exception]:
        """``record`` of each raw record, typed together (RecordReader.read_many): a record, or what it raised."""
        return self.reader.read_many(raws, self._derived_values)

    def error(self, errors: list[RowError], raw: Any = None, row: int | None = None,
              source: str | None = None) -> Decision:
        return self.error_plain(errors, raw, row, source).model()

    def error_plain(self, errors: list[RowError], raw: Any = None, row: int | None = None,
                    source: str | None = None) -> Verdict:
        ident = self.reader.raw(raw, self.policy.id_field) if isinstance(raw, Mapping) else None  # as read finds it
        return Verdict(id_text(ident), "error", [], [], {}, errors,
                       self.policy.policy_hash, self.as_of, source, row)


class Plan:
    """What one set of fired rules decides, made once for the set and shared by every row that fires it: the
    findings (the rules' own, frozen), the outcome, the routes, the rule ids and the reasons as the outputs write
    them (joined). A rule whose reason or route has placeholders is rendered per row (``texts``), and its
    Finding made only when asked for (``findings_of``): the CSV and the log write text, not models."""

    __slots__ = ("findings", "outcome", "routes", "rule_ids", "reasons", "reason_list", "rendered", "routed")

    def __init__(self, findings: list[Finding], renderers: list[tuple[Any, Any]]):
        self.findings = findings
        worst = max((_SEVERITY[f.effect] for f in findings), default=0)
        self.outcome: Outcome = "reject" if worst == 2 else "review" if worst == 1 else "accept"
        self.rule_ids = "; ".join(f.rule for f in findings)
        self.reason_list = [f.reason for f in findings]
        self.reasons = "; ".join(self.reason_list)
        # (position, reason renderer, route renderer) of each finding with placeholders
        self.rendered = [(i, reason, route) for i, (reason, route) in enumerate(renderers)
                         if reason is not None or route is not None]
        self.routed = any(route is not None for _, _, route in self.rendered)
        # the approvers of a review decision; a rejection goes to nobody (its review findings keep their routes)
        self.routes = self.routes_of([f.route for f in findings])

    def routes_of(self, routes: list[str | None]) -> list[str]:
        if self.outcome == "reject":
            return []
        return list(dict.fromkeys(route for f, route in zip(self.findings, routes) if f.effect == "review" and route))

    def texts(self, record: Mapping[str, Any]) -> tuple[list[str], list[str | None] | None]:
        """A row's reasons (each finding's) and, when a route has placeholders, its findings' routes."""
        reasons = self.reason_list.copy()
        routes = [f.route for f in self.findings] if self.routed else None
        for i, reason, route in self.rendered:
            if reason is not None:
                reasons[i] = reason(record)
            if route is not None:
                routes[i] = route(record)  # type: ignore[index]
        return reasons, routes

    def findings_of(self, texts: tuple[list[str], list[str | None] | None] | None) -> list[Finding]:
        """The findings of a row with these ``texts`` (None: the plan's own)."""
        if texts is None:
            return list(self.findings)
        reasons, routes = texts
        found = list(self.findings)
        for i, _, _ in self.rendered:
            finding = found[i]
            fields = dict(finding.__dict__)
            fields["reason"] = reasons[i]
            if routes is not None:
                fields["route"] = routes[i]
            # the fields of a validated Finding with text put in text fields: nothing to validate again
            found[i] = _constructed(fields, finding.model_fields_set)
        return found


_set = object.__setattr__


def _constructed(fields: dict[str, Any], fields_set: set[str]) -> Finding:
    """``Finding.model_construct(fields_set, **fields)`` for a complete set of a Finding's fields (no extras, no
    private attributes), without its generic walk over the fields: it runs for every rendered reason."""
    made = Finding.__new__(Finding)
    _set(made, "__dict__", fields)
    _set(made, "__pydantic_fields_set__", set(fields_set))
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    return made
