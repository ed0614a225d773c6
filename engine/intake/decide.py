"""The intake stage: typed record -> derived values -> fired rules -> Decision."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.backends.reference import Backend
from engine.compile.policy import CompiledPolicy
from engine.compile.records import RecordError, RecordReader
from engine.decision import Decision, Finding, RowError
from engine.expr.evaluate import evaluate
from engine.expr.values import plain

_SEVERITY = {"reject": 2, "review": 1, "flag": 0}


class Intake:
    def __init__(self, policy: CompiledPolicy, backend: Backend):
        self.policy = policy
        self.backend = backend
        self.reader = RecordReader(policy.fields, policy.strategy)
        self.as_of = policy.today.isoformat()
        self._findings = [
            (rule, Finding(rule=rule.id, effect=rule.effect, reason=rule.reason, route=rule.route,
                           source=rule.where, origin=rule.origin))
            for rule in policy.rules
        ]

    def decide(self, raw: Mapping[str, Any], row: int | None = None, source: str | None = None) -> Decision:
        return self.decide_record(raw, row, source)[0]

    def decide_record(self, raw: Mapping[str, Any], row: int | None = None,
                      source: str | None = None) -> tuple[Decision, dict[str, Any] | None]:
        """The decision, and the typed record (with derived values) it was made on; None for an error row."""
        try:
            record = self.record(raw)
        except RecordError as exc:
            errors = [RowError(row=row, column=column, code=code, message=message)
                      for column, code, message in exc.problems]
            return self.error(errors, raw, row, source), None
        findings = [self._finding(index, record) for index in self.backend.fire(record)]
        worst = max((_SEVERITY[f.effect] for f in findings), default=0)
        outcome = "reject" if worst == 2 else "review" if worst == 1 else "accept"
        routes = list(dict.fromkeys(f.route for f in findings if f.effect == "review" and f.route))
        ident = record.get(self.policy.id_field)
        decision = Decision(id=None if ident is None else str(plain(ident)), decision=outcome, findings=findings,
                            routes=routes, derived={name: plain(record[name]) for name, _ in self.policy.derived},
                            policy_hash=self.policy.policy_hash, as_of=self.as_of, source=source, row=row)
        return decision, record

    def record(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The typed record with its derived values (raises RecordError)."""
        record = self.reader.read(raw)
        for name, node in self.policy.derived:
            record[name] = evaluate(node, record)
        return record

    def error(self, errors: list[RowError], raw: Any = None, row: int | None = None,
              source: str | None = None) -> Decision:
        ident = raw.get(self.policy.id_field) if isinstance(raw, Mapping) else None
        return Decision(id=str(ident)[:200] if ident not in (None, "") else None, decision="error", errors=errors,
                        policy_hash=self.policy.policy_hash, as_of=self.as_of, source=source, row=row)

    def _finding(self, index: int, record: Mapping[str, Any]) -> Finding:
        rule, finding = self._findings[index]
        if rule.reason_template is None and rule.route_template is None:
            return finding
        update = {"reason": rule.reason_template.render(record)} if rule.reason_template else {}
        if rule.route_template is not None:
            update["route"] = rule.route_template.render(record)
        return finding.model_copy(update=update)
