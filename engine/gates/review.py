"""Stage gates: must-meet and should-meet criteria, evidence, decision rights, overrides.

At a gate a project gets ``go`` (on to the next stage), ``kill``, ``hold`` (waiting for evidence or
approvals) or ``recycle`` (back to an earlier stage):

    kill     a failed must-meet criterion says on_fail: kill
    hold     required evidence or approvals are missing, a failed must-meet says on_fail: hold, or a must-meet
             criterion is not known (a value it reads is not given: a missing figure is not a failed one, so
             it never kills or recycles)
    recycle  a failed must-meet criterion (on_fail: recycle, the default), or the should-meet score is
             below the pass mark
    go       everything met

Must-meet criteria run in the rules engine like intake rules. A failed must-meet criterion can be
overridden only by a role the gate names, with a written justification; it is then recorded as
overridden, never as met.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from engine.backends import Backend, make_backend
from engine.backends.reference import Rules
from engine.compile.gates import CompiledGate, CompiledGates
from engine.compile.records import RecordError, RecordReader, compiled_derived
from engine.errors import Diagnostic, DiagnosticSink, InputError, Location, PmoError, did_you_mean
from engine.expr.evaluate import evaluate
from engine.expr.nodes import Node, fields_of
from engine.expr.values import ValueProblem, data_number, to_bool, to_date, to_text
from engine.io.readers import json_data, load_text_dates, unparsable
from engine.policy.source import SourceMap, load_document

_CONVERT = {"number": data_number, "date": to_date, "string": to_text, "bool": to_bool}


def must_meet_backends(gates: CompiledGates, backend: str) -> dict[str, Backend]:
    """Each gate's must-meet criteria compiled for a rules back end (rete or reference). The caller (an
    Engine) owns them: the compiled gates are shared by every Engine built on the same policy."""
    return {gate.id: make_backend(backend, Rules(gate.must, gates.types, gates.source)) for gate in gates.gates.values()}


@dataclass
class ProjectRecord:
    id: str
    stage: str
    fields: dict[str, Any]
    metrics: dict[str, Any]
    evidence: list[str]
    approvals: list[str]
    history: list[dict[str, Any]]
    raw: dict[str, Any]  # as given, for the decision log and replay

    def read_as(self) -> dict[str, Any]:
        """The record as it was read, in one spelling: what the decision log's key is computed from, so a record
        written another way that reads the same ('VZ-101  ', budget '180000.0', evidence in another order, keys in
        another order) is the same decision, logged once. Typed values in one form each (a number by its
        normalised digits, an alignment by its levels, a date in ISO 8601); evidence and approvals as sets; the
        approvals' details and the history as given."""
        given = self.raw.get("approvals")
        approvals: list[Any] = given if isinstance(given, list) else []
        return {"id": self.id, "stage": self.stage,
                "fields": {name: _one_form(value) for name, value in self.fields.items()},
                "metrics": {name: _one_form(value) for name, value in self.metrics.items()},
                "evidence": sorted(set(self.evidence)), "approvals": sorted(set(self.approvals)),
                "approval_details": sorted((_one_form(a) for a in approvals if isinstance(a, Mapping)), key=repr),
                "history": [_one_form(item) for item in self.history]}


def _one_form(value: Any) -> Any:
    """A read value in one form for the log's key (JSON: text, numbers as text, lists, mappings)."""
    if isinstance(value, bool) or value is None:
        return value
    levels = getattr(value, "levels", None)
    if isinstance(value, Decimal) and isinstance(levels, dict):  # an Alignment: its levels decide, not only its sum
        return {"alignment": {name: _one_form(level) for name, level in sorted(levels.items())}}
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, int | float):
        return _one_form(Decimal(str(value)))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_one_form(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _one_form(v) for k, v in value.items()}
    return str(value).strip()


def read_project(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json_data(text) if path.suffix.lower() == ".json" else load_text_dates(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise InputError([unparsable(exc, str(path), "cannot read project record")]) from None
    except RecursionError:
        raise InputError([Diagnostic("bad_file", "cannot read project record: it is nested too deeply",
                                     Location(str(path)))]) from None
    if not isinstance(data, dict):
        raise InputError([Diagnostic("bad_file", "a project record is a mapping (id, stage, fields, ...)",
                                     Location(str(path)))])
    return data


def project_positions(path: str | Path) -> SourceMap | None:
    """Where each key and value of a project record file stands (YAML or JSON), for located errors; None when
    the file cannot be read that way (``read_project`` then says why)."""
    document = load_document(Path(path), str(path), DiagnosticSink())
    return document.source if document is not None else None


RECORD_KEYS = ("id", "name", "stage", "fields", "metrics", "evidence", "approvals", "history")


def project_record(data: Mapping[str, Any], gates: CompiledGates, reader: RecordReader,
                   derived: Sequence[tuple[str, Node]], id_field: str = "id",
                   source: str = "<memory>", positions: SourceMap | None = None,
                   today: dt.date | None = None) -> ProjectRecord:
    """Type a project record: its intake fields (with derived values), metrics, evidence and approvals.

    Checked against the intake schema and the gate policy as policies are: a key, field, metric, evidence or
    approval the policies do not know is an error at its file:line:col (from ``positions``) with a did-you-mean,
    never ignored (an ignored 'sponser' would put the project on hold for a missing sponsor). ``today``: the
    review's date (a history entry after it is an error)."""
    problems: list[Diagnostic] = []
    where = Location(source)

    def at(*path: Any, key: bool = False) -> Location:
        if positions is None:
            return where
        return positions.key(path) if key else positions.value(path)

    for key in data:
        if key not in RECORD_KEYS:
            problems.append(Diagnostic("unknown_key", f"unknown key '{key}'", at(key, key=True),
                                       did_you_mean(str(key), RECORD_KEYS) or f"keys: {', '.join(RECORD_KEYS)}"))
    ident, stage = data.get("id"), data.get("stage")
    if isinstance(ident, str):  # as intake trims a proposal's id: 'VZ-101  ' is VZ-101 in the log and its history
        ident = ident.strip()
    if not ident:
        problems.append(Diagnostic("missing_key", "a project record needs an 'id'", where))
    if stage not in gates.stages:
        problems.append(Diagnostic("unknown_stage", f"stage {stage!r} is not one of: {', '.join(gates.stages)}",
                                   at("stage"), did_you_mean(str(stage), gates.stages)))
    raw_fields = data.get("fields") or {}
    if not isinstance(raw_fields, Mapping):
        problems.append(Diagnostic("bad_value", "fields: a mapping of intake fields to values", at("fields")))
        raw_fields = {}
    derived_names = [name for name, _node in derived]
    for key in reader.unused_keys(raw_fields):
        if key == id_field:
            continue
        if key in derived_names:
            problems.append(Diagnostic("derived_field", f"fields: '{key}' is derived by the intake policy",
                                       at("fields", key, key=True), "remove it: the gate computes it from the fields"))
        else:
            problems.append(Diagnostic("unknown_field", f"fields: '{key}' is not a field of the intake policy",
                                       at("fields", key, key=True), did_you_mean(str(key), reader.names)))
    fields: dict[str, Any] = {}
    try:
        fields = reader.read_derived({id_field: ident, **raw_fields}, compiled_derived(derived))
    except RecordError as exc:
        problems += [Diagnostic(code, f"fields: {message}", at("fields", column) if column else at("fields"))
                     for column, code, message in exc.problems]
    metrics: dict[str, Any] = {}
    raw_metrics = data.get("metrics") or {}
    if not isinstance(raw_metrics, Mapping):
        problems.append(Diagnostic("bad_value", "metrics: a mapping of the gate policy's metrics to values, e.g. "
                                   "{spi: 0.95}", at("metrics")))
        raw_metrics = {}
    for name, value in raw_metrics.items():
        if name not in gates.metrics:
            problems.append(Diagnostic("unknown_metric", f"metric '{name}' is not declared by the gate policy",
                                       at("metrics", name, key=True),
                                       did_you_mean(str(name), gates.metrics) or _known("metrics", gates.metrics)))
            continue
        try:
            metrics[name] = None if value in (None, "") else _CONVERT[gates.metrics[name]](value)
        except ValueProblem as exc:
            problems.append(Diagnostic("bad_value", f"metric '{name}': {exc}", at("metrics", name)))
    evidence = _names(data, "evidence", at, problems, "a list of evidence names, e.g. [risk-register]")
    approvals = _names(data, "approvals", at, problems, "a list of approvals, each a name or {name, by, at}, e.g. "
                       "[{name: finance-review, by: CFO}]", mappings=True)
    history = _history(data.get("history"), gates, today, at, problems)
    problems += _unknown_names("evidence", evidence, {e for g in gates.gates.values() for e in g.evidence}, at)
    problems += _unknown_names("approval", approvals,
                               {a for g in gates.gates.values() for a in g.approvals}, at, "approvals")
    if problems:
        raise InputError(problems)
    return ProjectRecord(str(ident), str(stage), fields, {m: metrics.get(m) for m in gates.metrics},
                         evidence, approvals, history, dict(data))


HISTORY_KEYS = ("stage", "at", "gate", "decision", "by", "note")
DECISIONS = ("go", "kill", "hold", "recycle")


def _history(given: Any, gates: CompiledGates, today: dt.date | None, at: Callable[..., Location],
             problems: list[Diagnostic]) -> list[dict[str, Any]]:
    """The history's entries checked as the rest of the record is: each a mapping of HISTORY_KEYS with a stage
    and a date (YYYY-MM-DD, not after the review's date), a gate and a decision the gate policy knows; every
    problem at its place, with a did-you-mean. Returns the entries as read (dates as dates, text trimmed)."""
    if given is None:
        return []
    if not isinstance(given, list):
        problems.append(Diagnostic("bad_value", "history: a list of earlier gate passes, e.g. [{stage: idea, at: "
                                   "2026-09-01}]", at("history")))
        return []
    entries = []
    for i, item in enumerate(given):
        what = f"history {i + 1}"
        if not isinstance(item, Mapping):
            problems.append(Diagnostic("bad_value", f"{what}: an entry is a mapping, e.g. {{stage: idea, at: "
                                       "2026-09-01}", at("history", i)))
            continue
        entry: dict[str, Any] = {}
        for key, value in item.items():
            if key not in HISTORY_KEYS:
                problems.append(Diagnostic("unknown_key", f"{what}: unknown key '{key}'", at("history", i, key, key=True),
                                           did_you_mean(str(key), HISTORY_KEYS) or f"keys: {', '.join(HISTORY_KEYS)}"))
                continue
            where = at("history", i, key)
            if key == "at":
                try:
                    day = to_date(value)
                except ValueProblem as exc:
                    problems.append(Diagnostic("bad_value", f"{what}: 'at': {exc}", where))
                    continue
                if today is not None and day > today:
                    problems.append(Diagnostic("bad_value", f"{what}: 'at': {day.isoformat()} is after the date of "
                                               f"the review ({today.isoformat()})", where,
                                               "a history lists gates passed before (--today sets the review's date)"))
                entry[key] = day
                continue
            if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
                problems.append(Diagnostic("bad_value", f"{what}: '{key}' is a name or a text, not {value!r}", where))
                continue
            text = str(value).strip()
            if key == "stage" and text not in gates.stages:
                problems.append(Diagnostic("unknown_stage", f"{what}: stage '{text}' is not a stage of the gate "
                                           "policy", where, did_you_mean(text, gates.stages)
                                           or f"stages: {', '.join(gates.stages)}"))
            elif key == "gate" and text not in gates.gates:
                problems.append(Diagnostic("unknown_gate", f"{what}: gate '{text}' is not a gate of the gate policy",
                                           where, did_you_mean(text, gates.gates) or _known("gates", gates.gates)))
            elif key == "decision" and text not in DECISIONS:
                problems.append(Diagnostic("bad_value", f"{what}: decision '{text}' is not one of: "
                                           f"{', '.join(DECISIONS)}", where, did_you_mean(text, DECISIONS)))
            entry[key] = text
        for key, needed in (("stage", "a 'stage'"), ("at", "an 'at' (the date, YYYY-MM-DD)")):
            if key not in item:
                problems.append(Diagnostic("missing_key", f"{what}: an entry needs {needed}", at("history", i)))
        entries.append(entry)
    return entries


def _names(data: Mapping[str, Any], key: str, at: Callable[..., Location], problems: list[Diagnostic],
           shape: str, mappings: bool = False) -> list[str]:
    """A list of names (or, for approvals, of {name, ...}); any other shape is an error at its place, never read
    another way (the text "CFO" as the approvals C, F and O; a mapping as its keys)."""
    given = data.get(key)
    if given is None:
        return []
    if not isinstance(given, list):
        problems.append(Diagnostic("bad_value", f"{key}: {shape}", at(key)))
        return []
    names = []
    for i, item in enumerate(given):
        name = item.get("name") if mappings and isinstance(item, Mapping) else item
        if isinstance(name, bool) or not isinstance(name, (str, int, float)) or str(name).strip() == "":
            what = "an item without a name" if mappings and isinstance(item, Mapping) else f"{item!r} is not a name"
            problems.append(Diagnostic("bad_value", f"{key}: {what}; {shape}", at(key, i)))
            continue
        names.append(str(name))
    return names


def _known(what: str, names: Collection[str]) -> str:
    return f"the gate policy's {what}: {', '.join(sorted(names))}" if names else f"the gate policy declares no {what}"


def _unknown_names(what: str, given: list[str], known: set[str], at: Callable[..., Location],
                  key: str | None = None) -> list[Diagnostic]:
    """An evidence or approval name close to one a gate asks for is a misspelling that would hold the project for
    'missing evidence'; a name no gate asks for and like none of them is extra paperwork, which is allowed."""
    out = []
    for i, name in enumerate(given):
        hint = did_you_mean(name, known - set(given)) if name not in known else None
        if hint:
            out.append(Diagnostic(f"unknown_{what}", f"{what} '{name}' is not named by any gate", at(key or what, i),
                                  hint))
    return out


# ---------------------------------------------------------------------------- decisions

class MustMeet(BaseModel):
    criterion: str
    passed: bool
    reason: str
    source: str
    on_fail: str
    overridden: bool = False
    known: bool = Field(default=True, description="false: not passed because a value it reads is not given (the "
                        "project is held for the data; on_fail does not apply)")


class ShouldMeetResult(BaseModel):
    criterion: str
    met: bool
    weight: float
    reason: str
    source: str


class ShouldMeetSummary(BaseModel):
    score: float
    pass_mark: float
    criteria: list[ShouldMeetResult]


class Override(BaseModel):
    role: str
    justification: str
    criteria: list[str]


class GateDecision(BaseModel):
    project: str
    gate: str
    decision: str = Field(description="go | kill | hold | recycle")
    from_stage: str
    next_stage: str = Field(description="where the project goes: the gate's 'to' on go, 'recycle_to' on recycle")
    must_meet: list[MustMeet]
    should_meet: ShouldMeetSummary
    missing_evidence: list[str]
    missing_approvals: list[str]
    approvers: list[str] = Field(description="who decides at this gate for this project")
    recycle_to: str | None = None
    reasons: list[str] = Field(description="why, naming the criteria")
    override: Override | None = None
    policy_hash: str
    as_of: str
    record_read: dict[str, Any] | None = Field(
        default=None, exclude=True, repr=False,
        description="the reviewed record as read, in one spelling (ProjectRecord.read_as): what the decision log's "
                    "key is made from; not in the decision's JSON")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _not_given(condition: Node, values: Mapping[str, Any]) -> str:
    """Which values a criterion that is not known (neither shown to hold nor to fail) reads that are missing."""
    missing = sorted(name for name in fields_of(condition) if values.get(name) is None)
    return f"{', '.join(missing)} not given" if missing else "a value it reads is not given"


def _decision_right(gate: CompiledGate, values: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """Who decides: the first decision right that holds. One that is not known to hold or not (budget > 1M with no
    budget) is taken as holding, and said: falling through to the next, lower authority was a guess."""
    for node, roles in gate.rights:
        if node is None:
            return list(roles), None
        holds = evaluate(node, values)
        if holds is True:
            return list(roles), None
        if holds is None:
            return list(roles), (f"decision rights: {', '.join(roles)} decide{'s' if len(roles) == 1 else ''}, as "
                                 f"whether their decision right holds is not known (not known: {_not_given(node, values)})")
    return [], None


def review(gate: CompiledGate, must_meet: Backend, record: ProjectRecord, policy_hash: str, as_of: str,
           override: Mapping[str, Any] | None = None) -> GateDecision:
    """``must_meet``: the gate's must-meet criteria in a rules back end (must_meet_backends)."""
    if record.stage != gate.from_stage:
        raise PmoError([Diagnostic("wrong_stage", f"{record.id} is in stage '{record.stage}', but gate {gate.id} "
                                   f"is for projects in '{gate.from_stage}'")])
    values = {**record.fields, **record.metrics, "stage": record.stage}
    passed = set(must_meet.fire(values))
    # A criterion that did not fire is failed when it is false, and not known when it is unknown (a value it reads
    # is missing): a missing figure is not a failed measurement, so it holds the project for the data, never kills.
    must = [MustMeet(criterion=c.id, passed=k in passed, reason=c.reason, source=c.source, on_fail=c.on_fail,
                     known=k in passed or evaluate(c.condition, values) is not None)
            for k, c in enumerate(gate.must)]
    applied = _override(gate, must, override) if override else None
    should = [ShouldMeetResult(criterion=c.id, met=evaluate(c.condition, values) is True, weight=c.weight,
                               reason=c.reason, source=c.source) for c in gate.should]
    total = sum(r.weight for r in should)
    score = 100.0 * sum(r.weight for r in should if r.met) / total if total else 100.0
    missing_evidence = [e for e in gate.evidence if e not in record.evidence]
    missing_approvals = [a for a in gate.approvals if a not in record.approvals]
    approvers, undecided = _decision_right(gate, values)
    failed = [m for m in must if not m.passed and not m.overridden and m.known]
    unknown = [m for m in must if not m.known]
    conditions = {c.id: c.condition for c in gate.must}
    reasons = [f"must-meet {m.criterion} failed: {m.reason}" for m in failed]
    reasons += [f"must-meet {m.criterion} not known: {m.reason} ({_not_given(conditions[m.criterion], values)}); "
                "the gate needs the data to decide" for m in unknown]
    reasons += [f"must-meet {m.criterion} overridden by {applied.role}: {m.reason}" for m in must if m.overridden] \
        if applied else []
    if any(m.on_fail == "kill" for m in failed):
        decision = "kill"
    elif unknown or missing_evidence or missing_approvals or any(m.on_fail == "hold" for m in failed):
        decision = "hold"
        reasons += [f"missing evidence: {e}" for e in missing_evidence]
        reasons += [f"missing approval: {a}" for a in missing_approvals]
    elif failed or score < gate.pass_mark:
        decision = "recycle"
        if score < gate.pass_mark:
            unmet = ", ".join(r.criterion for r in should if not r.met)
            reasons.append(f"should-meet score {score:.0f} is below the pass mark {gate.pass_mark:.0f} (not met: "
                           f"{unmet})")
    else:
        decision = "go"
        reasons.append(f"every must-meet criterion met or overridden; should-meet score {score:.0f} "
                       f"(pass mark {gate.pass_mark:.0f})")
    if undecided:
        reasons.append(undecided)
    next_stage = {"go": gate.to_stage, "recycle": gate.recycle_to}.get(decision, record.stage)
    result = GateDecision(project=record.id, gate=gate.id, decision=decision, from_stage=record.stage,
                        next_stage=next_stage, must_meet=must,
                        should_meet=ShouldMeetSummary(score=score, pass_mark=gate.pass_mark, criteria=should),
                        missing_evidence=missing_evidence, missing_approvals=missing_approvals, approvers=approvers,
                        recycle_to=gate.recycle_to if decision == "recycle" else None, reasons=reasons,
                        override=applied, policy_hash=policy_hash, as_of=as_of, record_read=record.read_as())
    return result


def _override(gate: CompiledGate, must: list[MustMeet], override: Mapping[str, Any]) -> Override:
    role = str(override.get("role") or "")
    justification = str(override.get("justification") or "").strip()
    if role not in gate.overrides:
        allowed = ", ".join(gate.overrides) or "no role"
        raise PmoError([Diagnostic("override_refused", f"role '{role}' may not override must-meet criteria at gate "
                                   f"{gate.id}", hint=f"roles with that right: {allowed}")])
    if len(justification) < 10:
        raise PmoError([Diagnostic("override_refused", "an override needs a written justification",
                                   hint="say why the board accepts the failed criterion (at least a sentence)")])
    failed = [m.criterion for m in must if not m.passed and m.known]
    not_known = [m.criterion for m in must if not m.known]
    if not failed:  # else it is logged, and counted in the override rate, as an override of nothing
        if not_known:
            raise PmoError([Diagnostic("override_refused", f"nothing to override: no must-meet criterion of gate "
                                       f"{gate.id} failed; {', '.join(not_known)} not known for want of data",
                                       hint="give the data the criteria read (an override lifts failed must-meet "
                                            "criteria, not missing data)")])
        raise PmoError([Diagnostic("override_refused", f"nothing to override: every must-meet criterion of gate "
                                   f"{gate.id} is met", hint="decide without the override (an override lifts failed "
                                   "must-meet criteria only, not a should-meet score, evidence or approvals)")])
    wanted = [str(c) for c in override.get("criteria") or failed]
    unknown = [c for c in wanted if c not in failed]
    if unknown:
        raise PmoError([Diagnostic("override_refused", f"'{unknown[0]}' is not a failed must-meet criterion here",
                                   hint=f"failed: {', '.join(failed) or 'none'}")])
    for m in must:
        if m.criterion in wanted:
            m.overridden = True
    return Override(role=role, justification=justification, criteria=wanted)
