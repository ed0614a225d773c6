"""Compiling a gates policy: stages, metrics, and each gate's criteria, evidence and decision rights
(reviewed in engine/gates/review.py)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from engine.errors import DiagnosticSink, Location, did_you_mean
from engine.expr.check import check
from engine.expr.nodes import BOOL, DATE, NUMBER, STRING, Node
from engine.expr.parse import ExprError, parse
from engine.policy.models import Gate, GateCriterion, GatesPolicy

METRIC_TYPES = {"number": NUMBER, "date": DATE, "string": STRING, "bool": BOOL}


@dataclass
class Criterion:
    id: str
    reason: str
    on_fail: str
    weight: float
    condition: Node
    source: str


@dataclass(frozen=True)
class CompiledGate:
    id: str
    name: str
    from_stage: str
    to_stage: str
    recycle_to: str
    must: list[Criterion]
    should: list[Criterion]
    pass_mark: float
    evidence: list[str]
    approvals: list[str]
    rights: list[tuple[Node | None, list[str]]]
    overrides: list[str]


@dataclass(frozen=True)
class CompiledGates:
    stages: list[str]
    metrics: dict[str, str]
    gates: dict[str, CompiledGate] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    source: str = ""


def compile_gates(policy: GatesPolicy, types: Mapping[str, str], today: dt.date, sink: DiagnosticSink,
                  name: Callable[[str], str] = str) -> CompiledGates | None:
    """``name``: a file's machine-independent name (policies/gates.yaml), as findings show it."""
    before = len(sink.errors)
    stages = list(policy.stages)
    metric_types = {name: METRIC_TYPES[kind] for name, kind in policy.metrics.items()}
    clash = sorted(set(metric_types) & set(types))
    if clash:
        sink.add("duplicate_field", f"metric '{clash[0]}' has the name of a proposal field", policy.loc("metrics"))
    all_types = {**types, **metric_types, "stage": STRING}
    compiled = CompiledGates(stages, dict(policy.metrics), types={**types, **metric_types, "stage": STRING},
                             source=policy.loc().file)
    for gate in policy.gates:
        if gate.id in compiled.gates:
            sink.add("duplicate_gate", f"gate '{gate.id}' is defined twice", gate.loc("id"))
            continue
        for key, stage in (("from", gate.from_), ("to", gate.to), ("recycle_to", gate.recycle_to)):
            if stage is not None and stage not in stages:
                sink.add("unknown_stage", f"gate {gate.id}: '{stage}' is not a stage", gate.loc(key),
                         did_you_mean(stage, stages) or f"stages: {', '.join(stages)}")
        _duplicate_criteria(gate, sink)
        must = [_criterion(c, all_types, today, sink, name) for c in gate.must_meet]
        should = [_criterion(c, all_types, today, sink, name) for c in gate.should_meet.criteria]
        if any(c.weight is None for c in gate.should_meet.criteria):
            sink.add("missing_weight", f"gate {gate.id}: every should-meet criterion needs a weight",
                     gate.loc("should_meet"))
        rights = []
        for right in gate.decision_rights:
            node = _condition(right.when, right.loc("when"), all_types, today, sink) if right.when else None
            rights.append((node, list(right.approvers)))
        compiled.gates[gate.id] = CompiledGate(
            gate.id, gate.name or gate.id, gate.from_, gate.to, gate.recycle_to or gate.from_,
            [c for c in must if c], [c for c in should if c], float(gate.should_meet.pass_mark), list(gate.evidence),
            list(gate.approvals), rights, list(gate.overrides))
    _check_set_aside_gates(policy, all_types, today, sink)
    if len(sink.errors) > before:
        return None
    return compiled


def _check_set_aside_gates(policy: GatesPolicy, types: Mapping[str, str], today: dt.date, sink: DiagnosticSink) -> None:
    """A gate set aside for a schema error (an unknown key, a bad on_fail) still has its criteria's conditions
    checked, so every error of the file is reported in one run."""
    for index, raw in policy.set_aside("gates").items():
        if not isinstance(raw, dict):
            continue
        should = raw.get("should_meet")
        lists = (("must_meet",), raw.get("must_meet")), (("should_meet", "criteria"),
                                                          should.get("criteria") if isinstance(should, dict) else None)
        for path, criteria in lists:
            for k, item in enumerate(criteria if isinstance(criteria, list) else []):
                if isinstance(item, dict) and isinstance(item.get("when"), str):
                    _condition(item["when"], policy.loc("gates", index, *path, k, "when"), types, today, sink)


def _duplicate_criteria(gate: Gate, sink: DiagnosticSink) -> None:
    """Criterion ids are what decisions, reasons and overrides name: one id may stand once in a gate, in must-meet
    or in should-meet (twice, a decision would print both and an override could not say which it means)."""
    first: dict[str, Location] = {}
    for c in list(gate.must_meet) + list(gate.should_meet.criteria):
        at = c.loc("id")
        if c.id in first:
            sink.add("duplicate_criterion", f"criterion '{c.id}' of gate {gate.id} is defined twice (first at line "
                     f"{first[c.id].line})", at, "give each criterion of a gate its own id")
        else:
            first[c.id] = at


def _condition(text: str, at: Location, types: Mapping[str, str], today: dt.date, sink: DiagnosticSink) -> Node | None:
    try:
        return check(parse(text), types, today, want=BOOL)
    except ExprError as exc:
        sink.add(exc.code, exc.message, at.shifted(exc.offset), exc.hint)
        return None


def _criterion(c: GateCriterion, types: Mapping[str, str], today: dt.date, sink: DiagnosticSink,
               name: Callable[[str], str]) -> Criterion | None:
    node = _condition(c.when, c.loc("when"), types, today, sink)
    if node is None:
        return None
    where = c.loc("id")
    return Criterion(c.id, c.reason, c.on_fail, float(c.weight or 0), node, f"{name(where.file)}:{where.line}")
