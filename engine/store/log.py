"""The decision log: every intake and gate decision, appended to SQLite (the embedded default) or PostgreSQL.

``DecisionLog(target)`` opens the log a path (SQLite, engine/store/sqlite.py) or a ``postgresql://``
address (engine/store/postgres.py) names, creating it or migrating it to the current schema
(engine/store/schema.py). Each ``append`` is one transaction (an entry or a batch), so a crash leaves
whole entries only. Entries have a key derived from everything that decides the outcome (kind, project,
gate, input hash, policy hash, override, the date today() meant, the back end): writing the same decision
again after a crash, or from another process at the same time, is a no-op, never a duplicate, and the same
proposal decided on another date is a new entry. Every failure of the database is a :class:`LogError`
naming the log (a password in an address is not shown).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import operator
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.compile.strategy import Alignment
from engine.errors import Diagnostic, PmoError
from engine.io.safe_text import encodable
from engine.store.address import DEFAULT_PATH, is_address
from engine.store.schema import SCHEMA_VERSION, SchemaError, migrate, version_of
from engine.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from engine.store.postgres import PostgresStore

MAX_PAGE = 1000  # entries in one page of DecisionLog.page (and of GET /v1/decisions)
COLUMNS = ("key", "time", "kind", "project", "gate", "input_hash", "policy_hash", "outcome", "findings", "approvers",
           "override", "input", "as_of", "backend", "plan")
# An encoded entry is a row of COLUMNS and one more item: the finding plan its ``plan`` names, as (id, findings,
# slots) to store in finding_plans (engine/store/schema.py, version 3), or None.
PLANS_KEPT = 100_000  # finding plans a DecisionLog remembers having stored (so each batch sends only new ones)
JSON_COLUMNS = ("findings", "approvers", "override", "input")
__all__ = ["DEFAULT_PATH", "MAX_PAGE", "SCHEMA_VERSION", "DecisionLog", "Entry", "LogError", "Page", "canonical",
           "digest", "is_address", "shown"]


class LogError(PmoError):
    """The decision log cannot be opened or written (an unreachable server, a bad address, a full disk, a log
    written by a newer pmo). ``target`` is the log as shown to people; ``cause`` the database's own error."""

    def __init__(self, action: str, target: str, cause: BaseException | str, raw_target: str | None = None,
                 skippable: bool = True, read_only: bool = False):
        self.action, self.target, self.cause, self.read_only = action, target, cause, read_only
        detail = " ".join(str(cause).split())  # psycopg's messages span lines
        if raw_target and raw_target != target:
            detail = detail.replace(raw_target, target)  # psycopg quotes a malformed address, password and all
        self.detail = detail
        hint = "name another log with --log (a SQLite file or a postgresql:// address)"
        if read_only:  # a log that can be read but not written: say which commands read it
            hint = ("name a log you can write with --log (a SQLite file or a postgresql:// address); 'pmo log', "
                    "'pmo replay' and 'pmo kpi --log' read this one as it is")
        super().__init__([Diagnostic("log_unusable", f"cannot {action} the decision log {target}: {detail}",
                                     hint=hint + (", or --no-log" if skippable else ""))])

    def unskippable(self) -> LogError:
        """The same error for a command that needs its log (it has no --no-log to suggest)."""
        return LogError(self.action, self.target, self.detail, skippable=False, read_only=self.read_only)


def shown(target: str | Path) -> str:
    """The log as messages name it: a path, or an address without its password."""
    if is_address(target):
        # lazy: psycopg loads only for a postgresql:// log
        from engine.store.postgres import shown as address
        return address(str(target))
    return str(target)


def open_log(target: str | Path, existing: bool = False, skippable: bool = False,
             reading: bool = False) -> DecisionLog:
    """The decision log (a LogError, exit 2, when it cannot be opened); ``existing``: a SQLite log must exist
    already (for reading: a mistyped path is not a new empty log); ``skippable``: the command has --no-log (its
    error suggests it); ``reading``: the command only reads it, so a SQLite log that cannot be written (a read-only
    file or folder) is read as it is (DecisionLog). Used by the command line and the service."""
    if (existing or reading) and not is_address(target) and not Path(target).is_file():
        raise PmoError([Diagnostic("no_file", f"no decision log at {shown(target)}", hint="decisions are logged by "
                                   "'pmo evaluate' and 'pmo gate', status reports by 'pmo status ingest'; --log "
                                   "names another log")])
    try:
        return DecisionLog(target, reading=reading)
    except LogError as exc:
        if skippable:
            raise
        raise exc.unskippable() from None



def gate_entry(engine: Any, given: Any, decision: Any) -> Entry:
    """The log's entry for a gate review (``decision`` a GateDecision of the record ``given``, as given) by
    ``engine`` (an Engine): its key from the record as read, so one decision is one entry however it was written.
    Used by pmo gate and the service."""
    return Entry("gate", decision.project, decision.gate, given, engine.policy_hash, decision.decision,
                 [m.model_dump(mode="json") for m in decision.must_meet], decision.approvers,
                 decision.override.model_dump(mode="json") if decision.override else None,
                 as_of=engine.today.isoformat(), backend=engine.backend, read_as=decision.record_read)


def intake_entry(engine: Any, row: Any, decision: Any, record: Any = None) -> Entry:
    """The log's entry for a decided row (a Decision or a Verdict; ``row`` an engine.io.rows.Row) by ``engine``
    (an Engine)'s policy, date and back end: the same whether a batch worker or the serial path writes it.
    ``record``: the typed record the decision was made on (None for an error row, or when the decision carries its
    digest, ``Verdict.read_digest``): the key comes from it, with the row's file and line (:func:`intake_read_as`)."""
    return Entry("intake", decision.id, None, {"row": row.data, "source": row.source, "line": row.row},
                 engine.policy_hash, decision.decision, [dict(f.__dict__) for f in decision.findings]
                 or [dict(e.__dict__) for e in decision.errors], decision.routes,
                 as_of=engine.today.isoformat(), backend=engine.backend,
                 read_as=intake_read_as(decision, record, row.source, row.row, record_digest(engine)))


def proposal_entry(engine: Any, decision: Any, data: Any, sent: Any = None, record: Any = None) -> Entry:
    """The log entry of an intake decision on one proposal (``data``: a mapping), as pmo serve and
    ``Engine.evaluate_logged`` log it (input: the proposal as given; the findings' fields are JSON values already),
    its key made from ``record``, the typed record the decision was made on (:func:`intake_read_as`): a proposal sent
    another way that reads the same is one entry. An item that is no proposal (``data`` None) is logged with what
    was ``sent`` (the JSON value, or the line's text), so that two different ones are two entries, not one key
    shared by every error row without an id."""
    given: dict[str, Any] = {"row": data} if data is not None else {"row": None, "sent": sent}
    return Entry("intake", decision.id, None, given, engine.policy_hash, decision.decision,
                 [dict(f.__dict__) for f in decision.findings] or [dict(e.__dict__) for e in decision.errors],
                 decision.routes,
                 as_of=engine.today.isoformat(), backend=engine.backend,
                 read_as=intake_read_as(decision, record, None, None, record_digest(engine)))


def intake_read_as(decision: Any, record: Any, source: Any, line: Any,
                   digest_of: RecordDigest) -> dict[str, Any] | None:
    """What an intake entry's key is made from: the digest of the typed record the decision was made on
    (``digest_of(record)`` when ``record`` is one, a dict, else the decision's own ``read_digest``), with the row's
    file and line. None for a row that was not read (an error row): its key is made from its cells as written."""
    if decision.decision == "error":
        return None
    made = digest_of(record) if record.__class__ is dict else getattr(decision, "read_digest", None)
    if made is None:
        return None
    return {"line": line, "record": made, "source": source}


class RecordDigest:
    """The digest of a typed intake record as read, for the log's key: its fields (not its derived values, which
    follow from them, the date and the policy, all in the key) in one form each: a number by its normalised
    digits, an alignment by its levels, a date in ISO 8601, text as read. So a row written another way that reads
    the same ('PRJ-1001  ' for PRJ-1001, 180000.0 for 180000) has one digest, and the decision log one entry;
    columns the policy does not read are not in it (they decide nothing). Made once per engine (its derived
    fields); the fields' order and text are kept once per shape of record."""

    def __init__(self, engine: Any):
        self._derived = frozenset(name for name, _ in engine.policy.derived)
        self._shapes: dict[tuple[Any, ...], tuple[Callable[[Any], Any], str]] = {}

    def __call__(self, record: dict[str, Any]) -> str:
        names = tuple(record)
        shape = self._shapes.get(names)
        if shape is None:
            if len(self._shapes) >= SHAPES_KEPT:
                self._shapes.clear()
            kept = [name for name in names if name not in self._derived]
            shape = self._shapes[names] = (_values_of(kept), _encode([str(name) for name in kept]))
        get, named = shape
        forms = _FORMS
        return _digest_of(canonical([named, [v if (f := forms.get(v.__class__)) is None else f(v)
                                             for v in get(record)]]))

    def many(self, records: Sequence[Any]) -> list[str | None]:
        """The digest of each typed record (a dict; None for anything else: an exception typing raised), the same
        as one at a time, made by columns when the records share their keys (a batch's rows of one file): the
        text around the values (the fields' names) is made once; a column's values are written each by the C
        encoder, and a value that repeats as one object (the reader types each cell's text once: its memo) once
        a batch (the records and their values are alive meanwhile, so an ``id`` names one object throughout).
        Issue #19: the log's writer types a batch's rows again for their keys."""
        if not records:
            return []
        first = records[0]
        names = tuple(first) if first.__class__ is dict else None
        if names is None or not all(r.__class__ is dict and tuple(r) == names for r in records):
            return [self(r) if r.__class__ is dict else None for r in records]
        if names not in self._shapes:
            self(first)  # its shape made and kept
        get, named = self._shapes[names]
        head = f"[{canonical(named)},["  # canonical([named, values]) is this, the values' texts, "]]"
        texts = [_column_texts(column) for column in zip(*map(get, records))]
        if not texts:  # no field but derived ones
            return [_digest_of(f"{head}]]")] * len(records)
        return [_digest_of(encodable(f"{head}{','.join(values)}]]")) for values in zip(*texts)]


def _column_texts(column: Sequence[Any]) -> list[str]:
    """The JSON text (``_encode``) of :class:`RecordDigest`'s form of each value of a column (text, booleans and
    None as they are); a value that repeats as one object made once (while all are alive: ``id`` names one)."""
    kinds = set(map(type, column))
    if kinds == {str}:
        return list(map(encode_basestring, column))
    forms, encode = _FORMS, _encode
    ids = list(map(id, column))
    distinct = dict(zip(ids, column))
    if len(distinct) * 2 > len(column):  # values that hardly repeat (amounts): each made
        if kinds == {Decimal}:  # no Alignment among them (a class of its own): numbers, each its digits' text
            return list(map(encode_basestring, map(_number_form, column)))
        return [encode(v if (f := forms.get(v.__class__)) is None else f(v)) for v in column]
    made = {key: encode(v if (f := forms.get(v.__class__)) is None else f(v)) for key, v in distinct.items()}
    return list(map(made.__getitem__, ids))


def _values_of(names: list[Any]) -> Callable[[Any], Any]:
    """The values of these keys of a mapping, as a tuple."""
    if len(names) > 1:
        return operator.itemgetter(*names)
    return lambda record: tuple(record[name] for name in names)


_digests: dict[int, tuple[Any, RecordDigest]] = {}


def record_digest(engine: Any) -> RecordDigest:
    """The RecordDigest of an engine, made once (a service's engines, one a policy version: the last few kept)."""
    kept = _digests.get(id(engine))
    if kept is None or kept[0] is not engine:
        if len(_digests) >= 8:
            _digests.clear()
        kept = _digests[id(engine)] = (engine, RecordDigest(engine))
    return kept[1]


def _number_form(value: Decimal) -> str:
    if not value.is_finite():
        return str(value)
    return str(value.normalize()) if value else "0"


def _read_form(value: Any) -> Any:
    """A typed value in one form (JSON): what :class:`RecordDigest` writes for it (through _FORMS, for the usual
    classes)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    levels = getattr(value, "levels", None)
    if isinstance(value, Decimal) and isinstance(levels, dict):  # an Alignment: its levels decide, not its sum
        return {"alignment": {str(name): _read_form(level) for name, level in sorted(levels.items())}}
    if isinstance(value, Decimal):
        return _number_form(value)
    if isinstance(value, float):
        return _number_form(Decimal(repr(value)))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_read_form(item) for item in value]
    if isinstance(value, dict):
        return {str(name): _read_form(item) for name, item in value.items()}
    return str(value)


_FORMS: dict[type, Callable[[Any], Any]] = {Decimal: _number_form, dt.date: dt.date.isoformat, tuple: _read_form,
                                            list: _read_form, float: _read_form, Alignment: _read_form,
                                            dict: _read_form, dt.datetime: _read_form}
# (str, bool, None: as they are, without a call)

_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))  # made once:
# json.dumps with any option builds a new encoder per call


def _encoder() -> Any:
    """_ENCODER.encode without its cost per call (it makes a C encoder each time): the C encoder made once."""
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

    if c_make_encoder is None:  # no C accelerator: the encoder as it is
        return _ENCODER.encode
    markers: dict[int, Any] = {}  # what check_circular keeps; emptied again after a value that raised
    iterencode = c_make_encoder(markers, _ENCODER.default, encode_basestring, None, ":", ",", True, False, True)

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return encode_basestring(value)
        try:
            return "".join(iterencode(value, 0))
        except BaseException:
            markers.clear()
            raise

    return encode


_encode: Callable[[Any], str] = _encoder()
SHAPES_KEPT = 64  # key orders of rows remembered by IntakeEncoder (one a file, as a rule)
RULES_KEPT = 4096  # a finding's text around its reason, remembered by IntakeEncoder for each rule that fired
_RULE_FIELDS = operator.itemgetter("rule", "effect", "route", "source", "origin")  # a finding's fields but its reason
_PLAN = operator.itemgetter(15)  # an encoded entry's finding plan
_LEGACY = 16  # an encoded entry's legacy key (None, or absent from a row an older encoder made)


_OUTCOMES = frozenset(("accept", "review", "reject", "error"))  # stored as they are


def _text_of(value: Any) -> str:
    """:data:`_encode` of a string (JSON's own escaping, ensure_ascii off); TypeError for anything else."""
    return encode_basestring(value)


class IntakeEncoder:
    """The table rows of intake entries (``encoded(intake_entry(...))``, the same text and keys, tested), made
    cheap for a batch (issue #19: the log's cost per row): what every entry of the run shares (policy hash,
    date, back end) is encoded once; a row's cells are written into a template made once for its columns
    (sorted keys already encoded, each cell escaped by the C string encoder: no sort and no encoder per row);
    a finding's text is the text of its rule (effect, route, source, origin, made once per rule) around its
    reason. Anything not of those shapes (a cell that is not text, a finding of another shape) is encoded
    as :func:`encoded` encodes it."""

    def __init__(self, engine: Any):
        self.policy_hash, self.as_of, self.backend = engine.policy_hash, engine.today.isoformat(), engine.backend
        self._tail = encodable(f",{_encode(self.policy_hash)},null,{_encode(self.as_of)},{_encode(self.backend)}]")
        self._stored = (_storable(self.policy_hash), _storable(self.as_of), _storable(self.backend))
        self._shapes: dict[tuple[Any, ...], tuple[Callable[[Any], Any], list[str]] | None] = {}
        self._rules: dict[tuple[Any, ...], tuple[str, str]] = {}
        self._plans: dict[Any, Any] = {}  # a plan's findings' text (a str, a template and its slots, or False)
        self._route_texts: dict[tuple[Any, ...], str] = {}
        self._source: tuple[Any, str] = (object(), "")  # the last row's source, and its text
        self.digest = record_digest(engine)  # of a row's typed record, for its key

    def row(self, row: Any, decision: Any, record: Any = None) -> tuple[Any, ...]:
        """The table row of a decided row (a Decision or a Verdict; ``row`` an engine.io.rows.Row; ``record`` as
        :func:`intake_entry` takes it)."""
        line, source, project = row.row, row.source, decision.id
        # Each text below is made of pieces made encodable one by one (a surrogate is one character: escaping the
        # pieces is escaping their concatenation), the digests and the tail ASCII.
        if source is not self._source[0]:  # one file's rows share their source: encoded once
            self._source = (source, "null" if source is None else encodable(_encode(source)))
        line_text = "null" if line is None else line if line.__class__ is int else encodable(_encode(line))
        data = f'{{"line":{line_text},"row":{encodable(self._cells(row.data))},"source":{self._source[1]}}}'
        input_hash = _digest_of(data)
        ident = "null" if project is None else encodable(_text_of(project) if project.__class__ is str
                                                         else _encode(project))
        written = _digest_of(f'["intake",{ident},null,"{input_hash}"{self._tail}')
        # intake_read_as, and digest() of it, written as canonical() writes the dict (its keys in order)
        made = None if decision.decision == "error" else self.digest(record) if record.__class__ is dict else \
            getattr(decision, "read_digest", None)
        if made is None:
            key, legacy = written, None
        else:
            read_as = _digest_of(f'{{"line":{line_text},"record":{encodable(_encode(made))},"source":{self._source[1]}}}')
            key, legacy = _digest_of(f'["intake",{ident},null,"{read_as}"{self._tail}'), written
        policy_hash, as_of, backend = self._stored
        outcome = decision.decision
        findings, plan = self._findings_text(decision)
        return (key, None, "intake", _storable(project), None, input_hash, policy_hash,
                outcome if outcome in _OUTCOMES else _storable(outcome),
                findings, self._routes_text(decision.routes), None, data, as_of, backend,
                None if plan is None else plan[0], plan, legacy)

    def _cells(self, data: Any) -> str:
        """``_encode(data)`` of a row's cells: a dict of text by text through its columns' template."""
        if type(data) is not dict or not data:
            return _encode(data)
        names = tuple(data)
        shape = self._shapes.get(names)
        if shape is None:
            if names in self._shapes or len(self._shapes) >= SHAPES_KEPT:
                return _encode(data)  # a shape without a template (keys not all text), or too many shapes
            shape = self._shapes[names] = _template(names)
            if shape is None:
                return _encode(data)
        cells, pieces = shape
        got = cells(data)
        try:
            return _filled(pieces, got if len(names) > 1 else (got,))
        except TypeError:  # a cell that is not text (a number, an empty cell read as None)
            return _encode(data)

    def _plan_of(self, plan: Any) -> Any:
        """A plan's findings as stored once (finding_plans: id, findings, slots) and the positions of the reasons
        each row renders itself (``plan.rendered``'s with a reason renderer); False: a finding of another shape,
        or a field not text."""
        try:
            if any(len(finding.__dict__) != 6 for finding in plan.findings):
                return False
            texts = [f"{before}{encodable(_text_of(reason))}{after}" for (before, after), reason in
                     zip((_around_reason(_RULE_FIELDS(finding.__dict__)) for finding in plan.findings),
                         plan.reason_list)]
        except (TypeError, KeyError):
            return False
        positions = tuple(i for i, reason, _ in plan.rendered if reason is not None)
        findings, slots = f"[{','.join(texts)}]", f"[{','.join(map(str, positions))}]"
        return (_digest_of(f"{findings}\n{slots}"), findings, slots), positions

    def _routes_text(self, routes: Any) -> str:
        if type(routes) is list:
            try:
                key = tuple(routes)
                text = self._route_texts.get(key)  # TypeError: a route that is no key (not text)
                if text is not None:
                    return text
                text = encodable(f"[{','.join(map(_text_of, routes))}]")
            except TypeError:
                return canonical(routes)
            if len(self._route_texts) >= RULES_KEPT:
                self._route_texts.clear()
            self._route_texts[key] = text
            return text
        return canonical(routes)

    def _findings_text(self, decision: Any) -> tuple[str, tuple[str, str, str] | None]:
        """A decision's findings column, and the finding plan it names (None: the findings are whole)."""
        plan = getattr(decision, "_plan", None)
        if plan is not None:  # a plain decision made from its fired rules' plan (engine.intake.decide.Plan)
            rendered = decision._texts
            if rendered is None or rendered[1] is None:  # the routes are the rules' own: the plan's findings,
                # stored once, and the row's rendered reasons, without making the Findings
                stored = self._plans.get(plan)
                if stored is None:
                    if len(self._plans) >= RULES_KEPT:
                        self._plans.clear()
                    stored = self._plans[plan] = self._plan_of(plan)
                if stored is not False:
                    kept, positions = stored
                    if not positions:
                        return "[]", kept
                    reasons = plan.reason_list if rendered is None else rendered[0]
                    try:
                        return _listed([reasons[i] for i in positions]), kept
                    except TypeError:  # a reason that is not text: as the findings are encoded below
                        pass
        findings = decision.findings
        if not findings:
            return canonical([dict(e.__dict__) for e in decision.errors]), None
        texts = []
        rules, get = self._rules, self._rules.get
        for finding in findings:
            fields = finding.__dict__
            try:
                if len(fields) != 6:  # the six fields of a Finding, by name below (a KeyError if one is missing)
                    raise TypeError
                rule = _RULE_FIELDS(fields)
                around = get(rule)
                if around is None:
                    if len(rules) >= RULES_KEPT:
                        rules.clear()
                    around = rules[rule] = _around_reason(rule)
                texts.append(f"{around[0]}{_text_of(fields['reason'])}{around[1]}")
            except (TypeError, KeyError):  # another shape, or a field that is not text or None
                texts.append(_encode(fields))
        return encodable(f"[{','.join(texts)}]"), None


def _listed(values: list[str]) -> str:
    """The JSON list of these texts, each escaped as JSON escapes it (as it is when nothing in it needs escaping:
    the usual case, without a call a value). TypeError for a value that is not text."""
    joined = "".join(values)
    if not joined.isprintable() or '"' in joined or "\\" in joined:  # what JSON escapes (a surrogate is not printable)
        return f"[{','.join(encodable(_text_of(value)) for value in values)}]"
    return '["' + '","'.join(values) + '"]'


def expanded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """An encoded entry with its findings whole (the plan's, the row's reasons put in) and no plan: what the log
    reads back, as :func:`encoded` encodes it."""
    plan = row[15]
    if plan is None:
        return row
    _, findings, slots = plan
    merged = _merged(json.loads(findings), json.loads(slots), json.loads(row[8]))
    return (*row[:8], canonical(merged), *row[9:14], None, None, *row[16:])


def _merged(findings: list[Any], slots: list[int], reasons: list[Any]) -> list[Any]:
    """A plan's findings with a decision's own reasons put in its slots."""
    if len(slots) != len(reasons):
        raise ValueError(f"{len(reasons)} reasons for the {len(slots)} slots of its finding plan")
    merged = [dict(finding) for finding in findings]
    for slot, reason in zip(slots, reasons):
        merged[slot]["reason"] = reason
    return merged


def _filled(pieces: list[str], values: Sequence[str]) -> str:
    """A text cut into ``pieces`` (encodable, each value's quotes in them) joined with ``values`` in its odd
    places, each escaped as JSON escapes it (as it is when nothing in it needs escaping: the usual case, without a
    call a value). TypeError for a value that is not text."""
    joined = "".join(values)
    if not joined.isprintable() or '"' in joined or "\\" in joined:  # what JSON escapes (a surrogate is not printable)
        values = [encodable(_text_of(value))[1:-1] for value in values]
    filled = pieces.copy()
    filled[1::2] = values
    return "".join(filled)


def _template(names: tuple[Any, ...]) -> tuple[Callable[[Any], Any], list[str]] | None:
    """For a row with these columns: the cells in sorted column order, and the text cut at each cell's value (in
    its quotes), as the list to join with the cells' escaped values put in its odd places."""
    if not all(type(name) is str for name in names):
        return None
    pieces: list[str] = []
    text = "{"
    for i, name in enumerate(sorted(names)):
        pieces += [f'{text}{"," if i else ""}{encodable(_text_of(name))}:"', ""]
        text = '"'
    pieces.append(text + "}")
    return operator.itemgetter(*sorted(names)), pieces


def _around_reason(rule: tuple[Any, ...]) -> tuple[str, str]:
    """A finding's text before and after its reason, from (rule, effect, route, source, origin): the fields
    in sorted order (effect, origin, reason, route, rule, source), None as null."""
    name, effect, route, source, origin = (("null" if v is None else encodable(_text_of(v))) for v in rule)
    return f'{{"effect":{effect},"origin":{origin},"reason":', f',"route":{route},"rule":{name},"source":{source}}}'


def canonical(data: Any) -> str:
    """JSON text any database can store: a surrogate is its \\uXXXX escape, so the text decodes to the same data."""
    return encodable(_encode(data))


def digest(data: Any) -> str:
    return _digest_of(canonical(data))


def _digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Entry:
    kind: str
    project: str | None
    gate: str | None
    input: Any
    policy_hash: str
    outcome: str
    findings: list[Any]  # as JSON: the findings of a decision, or a gate's criteria
    approvers: list[str]
    override: dict[str, Any] | None = None
    time: str | None = None
    as_of: str | None = None  # the date today() meant
    backend: str | None = None
    read_as: Any = None  # the input as read, in one spelling (a gate's ProjectRecord.read_as, an intake row's
    # intake_read_as); None: the input
    # set by DecisionLog.append: the key of the entry the log holds for this decision (its key, or the legacy key
    # an earlier pmo logged it under)
    logged_as: str | None = dataclass_field(default=None, compare=False)

    @property
    def input_hash(self) -> str:
        return digest(self.input)

    @property
    def key(self) -> str:
        return self._key(self.input_hash)

    @property
    def legacy_key(self) -> str | None:
        """The key an earlier pmo gave this entry, from the input as written (None: it has no other): an entry
        logged under it is this decision, so :meth:`DecisionLog.append` adds none."""
        return None if self.read_as is None else self._key(self.input_hash, legacy=True)

    def _key(self, input_hash: str, legacy: bool = False) -> str:
        """The key: the digest of what decides the outcome, the input's part being the digest of the input as read
        (``read_as``) when there is one, else of the input (``input_hash``)."""
        if self.read_as is not None and not legacy:
            input_hash = digest(self.read_as)
        decided_by = [self.kind, self.project, self.gate, input_hash, self.policy_hash, self.override]
        if self.as_of is None and self.backend is None:  # the version 0 key, so old entries stay idempotent
            return digest(decided_by)
        return digest(decided_by + [self.as_of, self.backend])


@dataclass(frozen=True)
class Page:
    """One page of a query: ``entries`` oldest first, and ``next``, the cursor to pass as ``after`` for the
    following page (None: this was the last)."""

    entries: list[dict[str, Any]]
    next: int | None


class DecisionLog:
    """The log at ``target``: a SQLite file path (default ./pmo-decisions.sqlite) or a ``postgresql://`` address.

    ``reading``: for a command that only reads. The log is opened (and migrated) as usual when it can be; a SQLite
    log that cannot be written (a read-only file, or a folder where SQLite cannot make its ``-wal`` and ``-shm``
    files) is then read as it is (engine/store/sqlite.py says how, and when that is refused), and ``read_only`` is
    set. Writing to a log that cannot be written is a LogError that says so."""

    def __init__(self, target: str | Path = DEFAULT_PATH, reading: bool = False):
        self.target = target if is_address(target) else Path(target)
        self.shown = shown(self.target)
        self.errors = _store_type(self.target).errors
        self.read_only = False
        try:
            self._db = _open(self.target)
            migrate(self._db)
        except (SchemaError, ValueError) + self.errors as exc:  # ValueError: psycopg's reading of a malformed address
            if getattr(self, "_db", None) is not None:
                self._db.close()
            if not (reading and isinstance(self.target, Path) and _unwritable(self.target, exc)):
                raise self._failed("open", exc) from None
            self._open_read_only()

        self._lock = threading.Lock()  # one log may serve several threads (a server's): one statement at a time
        self._plans_stored: set[str] = set()  # finding plans this log holds (committed)
        self._plans_read: dict[str, tuple[list[Any], list[int]]] = {}  # finding plans read: findings, slots

    def _open_read_only(self) -> None:
        """The SQLite log read as it is (it cannot be written): never migrated, so refused when it is older."""
        assert isinstance(self.target, Path)
        try:
            self._db = SqliteStore(self.target, read_only=True)
        except self.errors as exc:
            raise self._failed("read", exc) from None
        self.read_only = True
        try:
            found = version_of(self._db)
            if found > SCHEMA_VERSION:
                raise SchemaError(f"it was written by a newer pmo (log version {found}; this pmo reads up to "
                                  f"{SCHEMA_VERSION})")
            if found < SCHEMA_VERSION:
                raise SchemaError(f"it is at version {found} and this pmo reads it at version {SCHEMA_VERSION}, "
                                  f"which means migrating it, and it cannot be written: open it once where it can "
                                  f"be written (any pmo command that reads it migrates it), or read a copy")
        except (SchemaError,) + self.errors as exc:
            self._db.close()
            raise self._failed("read", exc) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _failed(self, action: str, cause: BaseException | str) -> LogError:
        if isinstance(self.target, Path) and isinstance(cause, BaseException) and _unwritable(self.target, cause):
            return LogError(action, self.shown, _why_unwritable(self.target, cause), str(self.target), read_only=True)
        if self.read_only and action != "read":
            return LogError(action, self.shown, f"it is read-only ({cause})", str(self.target), read_only=True)
        return LogError(action, self.shown, cause, str(self.target))

    @contextlib.contextmanager
    def _using(self, action: str) -> Iterator[SqliteStore | PostgresStore]:
        """The database, for one thread at a time; its errors as LogError."""
        with self._lock:
            try:
                yield self._db
            except self.errors as exc:
                raise self._failed(action, exc) from None

    @contextlib.contextmanager
    def transaction(self, action: str = "write to") -> Iterator[Any]:
        """The database in one write transaction, for one thread (engine/store/history.py writes a whole status
        file in one); its errors as LogError, and nothing of the transaction kept when one is raised."""
        with self._using(action) as db, db.transaction():
            yield db

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def append(self, entries: Iterable[Entry]) -> int:
        """Write entries in one transaction; returns how many were new (a repeat of a logged decision is skipped,
        also when an earlier pmo logged it under its legacy key). Each entry's ``logged_as`` is then the key of
        the entry the log holds for it: its own, or that legacy key (what a caller names as its decision id)."""
        entries = list(entries)
        rows = encoded(entries)
        added, found = self._append_rows(rows)
        for entry, row in zip(entries, rows):
            entry.logged_as = row[_LEGACY] if row[_LEGACY] is not None and row[_LEGACY] in found else row[0]
        return added

    def append_encoded(self, rows: Iterable[tuple[Any, ...]]) -> int:
        """``append`` of entries already encoded by :func:`encoded` or an :class:`IntakeEncoder` (in another
        process: a batch's workers encode the entries of their rows); an entry without a time gets this
        transaction's. An entry whose legacy key (the row's item after its plan) is logged is not added."""
        return self._append_rows(list(rows))[0]

    def _append_rows(self, rows: list[tuple[Any, ...]]) -> tuple[int, set[str]]:
        """``append_encoded``: how many were added, and the legacy keys found logged (their entries not added)."""
        if self.read_only:
            raise self._failed("write to", "it was opened for reading only, as it cannot be written")
        legacy = [row[_LEGACY] for row in rows if len(row) > _LEGACY and row[_LEGACY] is not None]
        found = self._logged_keys(legacy) if legacy else set()
        if found:
            rows = [row for row in rows if len(row) <= _LEGACY or row[_LEGACY] not in found]
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        timed = [row[:15] if row[1] else (row[0], now, *row[2:15]) for row in rows]
        if not timed:
            return 0, found
        named = {plan[0]: plan for plan in map(_PLAN, rows) if plan is not None}
        plans = [plan for ident, plan in named.items() if ident not in self._plans_stored]
        with self._using("write to") as db:
            added = db.insert(COLUMNS, timed, plans)
        if len(self._plans_stored) + len(plans) > PLANS_KEPT:
            self._plans_stored.clear()
        self._plans_stored.update(named)
        return added, found

    def _logged_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these keys the log holds."""
        found: set[str] = set()
        with self._using("read") as db:
            for start in range(0, len(keys), 500):
                part = keys[start:start + 500]
                _, got = db.select(f"SELECT key FROM decisions WHERE key IN ({', '.join('?' for _ in part)})", part)
                found.update(key for key, in got)
        return found

    def query(self, project: str | None = None, since: dt.date | None = None, kind: str | None = None,
              until: dt.date | None = None, *, after: int | None = None,
              limit: int | None = None, decided_since: dt.date | None = None,
              decided_until: dt.date | None = None) -> list[dict[str, Any]]:
        """Entries in the order they were logged; ``since`` and ``until`` are days of logging (the entry's time,
        UTC), both included; ``decided_since`` and ``decided_until`` dates decided for (the date today() meant,
        else the day logged: engine.health.kpis.decided_on, by which the KPIs count), both included.
        ``after``: only entries logged after the one with this ``seq``; ``limit``: at most this many (the first).
        A bounded read is :meth:`page`."""
        sql, args = "SELECT * FROM decisions WHERE 1=1", list[int | str | None]()
        if after is not None:
            sql += " AND seq > ?"
            args.append(int(after))
        if project is not None:
            sql += " AND project = ?"
            args.append(_storable(project))
        if since is not None:
            sql += " AND time >= ?"
            args.append(since.isoformat())
        if until is not None:
            sql += " AND time < ?"
            args.append((until + dt.timedelta(days=1)).isoformat())
        decided = "COALESCE(NULLIF(as_of, ''), substr(time, 1, 10))"  # ISO dates: compared as text
        if decided_since is not None:
            sql += f" AND {decided} >= ?"
            args.append(decided_since.isoformat())
        if decided_until is not None:
            sql += f" AND {decided} <= ?"
            args.append(decided_until.isoformat())
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return self._select(sql, args)

    def page(self, project: str | None = None, since: dt.date | None = None, kind: str | None = None,
             until: dt.date | None = None, *, after: int | None = None, limit: int = 100) -> Page:
        """At most ``limit`` (1 to MAX_PAGE) entries of :meth:`query`, oldest first, and the cursor of the next
        page. Entries are numbered in the order they were committed (on PostgreSQL too: writers take one
        transaction lock before drawing numbers), so paging with the cursor while others write misses none of
        the entries that match and duplicates none: a later entry has a larger number than every one before it."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1 to {MAX_PAGE:,}, not {limit}")
        found = self.query(project, since, kind, until, after=after, limit=limit + 1)
        more = len(found) > limit
        return Page(found[:limit], found[limit - 1]["seq"] if more else None)

    def count(self) -> int:
        """How many entries the log holds."""
        with self._using("read") as db:
            (count,), = db.execute("SELECT count(*) FROM decisions")
            return int(count)

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry with this key (an entry's ``key`` is its decision id), or None."""
        found = self._select("SELECT * FROM decisions WHERE key = ?", [key])
        return found[0] if found else None

    def _select(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        """The entries ``sql`` selects (every column of decisions), their JSON read and their findings whole."""
        with self._using("read") as db:
            names, rows = db.select(sql, args)
            planned = {row[names.index("plan")] for row in rows} - {None} if "plan" in names else set()
            if planned - self._plans_read.keys():
                self._read_plans(db, planned - self._plans_read.keys())
        out = []
        for row in rows:
            item = dict(zip(names, row))
            for field in JSON_COLUMNS:
                item[field] = json.loads(item[field]) if item[field] is not None else None
            plan = item.pop("plan", None)
            if plan is not None:
                try:
                    item["findings"] = _merged(*self._plans_read[plan], item["findings"])
                except (KeyError, ValueError, TypeError, IndexError) as exc:
                    raise self._failed("read", f"entry {item['seq']} names the finding plan {plan}, which "
                                       f"does not fit it ({type(exc).__name__}: {exc})") from None
            out.append(item)
        return out

    def _read_plans(self, db: SqliteStore | PostgresStore, wanted: set[str]) -> None:
        ids = sorted(wanted)
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            _, found = db.select(f"SELECT id, findings, slots FROM finding_plans WHERE id IN "
                                 f"({', '.join('?' for _ in part)})", part)
            if len(self._plans_read) + len(found) > PLANS_KEPT:
                self._plans_read.clear()
            for ident, findings, slots in found:
                self._plans_read[ident] = (json.loads(findings), json.loads(slots))


def _unwritable(path: Path, exc: BaseException) -> bool:
    """Whether ``exc`` (from SQLite) is the log's file or folder that cannot be written (read-only, or not ours)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
        return False
    return path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def _why_unwritable(path: Path, exc: BaseException) -> str:
    if os.access(path.parent, os.W_OK):
        return f"the file is read-only ({exc})"
    return (f"its folder {path.parent} cannot be written, and SQLite makes {path.name}-wal and {path.name}-shm "
            f"beside it to write ({exc})")


def _open(target: str | Path) -> SqliteStore | PostgresStore:
    """The store at ``target``: a SQLite file (a Path) or a PostgreSQL address (text)."""
    if isinstance(target, Path):
        return SqliteStore(target)
    from engine.store.postgres import PostgresStore  # psycopg is imported only for a PostgreSQL log
    return PostgresStore(target)


def _store_type(target: str | Path) -> type[SqliteStore] | type[PostgresStore]:
    if is_address(target):
        from engine.store.postgres import PostgresStore  # psycopg is imported only for a PostgreSQL log
        return PostgresStore
    return SqliteStore


def encoded(entries: Iterable[Entry]) -> list[tuple[Any, ...]]:
    """Entries as rows of the table (``DecisionLog.append_encoded`` writes them); an entry without a time
    has None in its place, filled in when the rows are written."""
    return [_row(e, None) for e in entries]


def _row(e: Entry, now: str | None) -> tuple[Any, ...]:
    """An entry as a row of the table; its input is encoded once, for the column, its hash and its key. After the
    table's 15 columns: the finding plan (None here) and the entry's legacy key (:attr:`Entry.legacy_key`)."""
    text = _storable
    data = canonical(e.input)
    input_hash = _digest_of(data)
    legacy = None if e.read_as is None else e._key(input_hash, legacy=True)
    return (e._key(input_hash), e.time or now, e.kind, text(e.project), text(e.gate), input_hash, text(e.policy_hash),
            text(e.outcome), canonical(e.findings), canonical(e.approvers),
            canonical(e.override) if e.override else None, data, text(e.as_of), text(e.backend), None, None, legacy)


def _storable(text: str | None) -> str | None:
    """Text both databases store as it is: surrogates and NUL (PostgreSQL's text cannot hold it) as \\uXXXX."""
    if not isinstance(text, str):
        return text
    return encodable(text).replace("\x00", "\\u0000")
