"""Whole-set completeness proofs: does every proposal that satisfies an assurance's ``for:`` satisfy ``must:``?

The question is put to an SMT solver (z3, imported only here and only when a policy declares assurances, so
``pmo --help`` and ``pmo evaluate`` never load it). The policy becomes one formula over the proposal's fields:

- each field is a solver variable of its type (numbers as reals, integers as integers, dates as day numbers,
  text as strings, yes/no as booleans) with a *known* flag for "has a value" (forced for required fields and
  fields with a default), inside the field's schema: enum values, min and max, 15-digit numbers;
- every expression is a pair (value, known), so SQL's three-valued logic is exact: a comparison with a
  missing value is unknown, ``x == null`` is not, ``and``/``or``/``not`` follow Kleene's tables and a rule
  fires only when its condition is *true*;
- derived values are their expressions (``benefit / budget`` is a real division, unknown when budget is 0);
- the decision is built as the engine builds it: the fired rules, each decision table's hit policy (first,
  priority, unique and any, with their overlaps as the "error" decision), then reject over review over accept;
  ``routes`` are the review findings' routes and ``fired`` their rule ids.

What the solver cannot see is *opaque*: a fresh variable per distinct expression (``npv(0.08, cash_flows)``,
``matches(vendor, ...)``, ``level(alignment, "x")``, ``lookup(...)``), so the same expression in two rules is
one value. Opaque values make the formula weaker, never stronger: "unsat" (the property holds) stays a proof,
and a "sat" model may be one no proposal reaches. So, as in the table analysis, **every counterexample is
decided again**: the model is written as a proposal (a JSON object ``pmo explain`` reads), read through the
field schema, decided by the engine, and the assurance evaluated on that decision; only then is it reported.
A model that does not survive is searched around (other values for the fields that opaque expressions read)
and then excluded by the set of rules it fired, and the solver asked again, a bounded number of times. What
stays undecided is a warning that says so, never a guess.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from engine.backends import make_backend
from engine.compile.assurances import CompiledAssurance
from engine.compile.policy import CompiledPolicy
from engine.compile.records import RecordError
from engine.errors import Diagnostic
from engine.expr.evaluate import evaluate
from engine.expr.functions import FUNCTIONS
from engine.expr.nodes import (
    BOOL,
    DATE,
    NUMBER,
    STRING,
    Arith,
    Call,
    Compare,
    Const,
    Field,
    In,
    ListOf,
    Logic,
    Node,
    Unary,
    fields_of,
    key,
)
from engine.expr.values import plain
from engine.intake.decide import Intake

MAX_CLASSES = 3  # counterexamples reported per assurance, each firing a different set of rules
MAX_ROUNDS = 25  # solver calls per assurance (models that did not survive are excluded and it is asked again)
SEARCH_TRIES = 200  # proposals tried around a model whose opaque values no proposal gave
TIMEOUT_MS = 20_000  # per solver call; beyond it the assurance is reported as undecided
LARGEST = Decimal("1e15")  # 15 significant digits: the engine's numbers
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1).toordinal(), dt.date(2199, 12, 31).toordinal()


class Unsupported(Exception):
    """An assurance uses the decision's lists in a way the proof cannot express (say ``routes == [...]``)."""


@dataclass(frozen=True)
class Counterexample:
    proposal: dict[str, Any]  # raw values, as a JSON proposal file holds them
    decision: str
    routes: tuple[str, ...]
    fired: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    assurance: CompiledAssurance
    status: str  # "holds" | "fails" | "unknown"
    counterexamples: tuple[Counterexample, ...] = ()
    why: str = ""  # for unknown
    rounds: int = 0
    settled: bool = True  # False: a solver call ran out of time, so more time may give another answer

    def diagnostics(self) -> list[Diagnostic]:
        a = self.assurance
        what = f"assurance '{a.name}'" + (f" ({a.description})" if a.description else "")
        if self.status == "fails":
            out = []
            for c in self.counterexamples:
                routes = ", ".join(c.routes) or "none"
                out.append(Diagnostic("assurance_failed", f"{what} fails: a proposal with {a.for_text} that does "
                                      f"not satisfy {a.must_text} (decision {c.decision}, routes: {routes}); "
                                      f"counterexample proposal: {json.dumps(c.proposal, ensure_ascii=False)}",
                                      a.where, "pmo explain FILE --id ID on this proposal shows which rules "
                                      "decide it; add or change a rule so the property holds"))
            return out
        if self.status == "unknown":
            return [Diagnostic("assurance_unknown", f"{what} could not be proved or refuted: {self.why}", a.where,
                               "simplify the conditions it depends on, or test the case with a Gherkin scenario",
                               severity="warning")]
        return []


def prove(policy: CompiledPolicy, assurances: tuple[CompiledAssurance, ...] | None = None,
          timeout_ms: int = TIMEOUT_MS) -> list[Result]:
    """Each assurance proved, refuted with verified counterexamples, or reported as undecided. The same policy gives
    the same counterexamples whatever was proved before in this process: each call has a z3 context of its own (in
    z3's shared one, the terms made earlier steer which models it finds: three validates of one policy in one
    process gave three sets of counterexamples)."""
    # lazy: z3 loads only when an assurance is proved
    import z3
    intake = Intake(policy, make_backend("reference", policy))
    shared = z3.z3._main_ctx  # z3py's default context, which every term made without ctx= belongs to
    z3.z3._main_ctx = z3.Context()
    try:
        return [_prove_one(policy, intake, a, timeout_ms)
                for a in (policy.assurances if assurances is None else assurances)]
    finally:
        z3.z3._main_ctx = shared


def _prove_one(policy: CompiledPolicy, intake: Any, assurance: CompiledAssurance, timeout_ms: int) -> Result:
    # lazy: z3 loads only when an assurance is proved
    import z3
    try:
        encoder = Encoder(policy)
        applies = encoder.truth(assurance.condition)[0]
        holds = encoder.truth(assurance.must)[0]
    except (Unsupported, z3.Z3Exception) as exc:
        return Result(assurance, "unknown", why=str(exc) or type(exc).__name__)
    solver = z3.Solver()
    solver.set(timeout=timeout_ms)
    solver.add(*encoder.constraints)
    solver.add(applies, z3.Not(holds))
    found: list[Counterexample] = []
    patterns: set[tuple[bool, ...]] = set()
    rounds = 0
    spurious = 0
    while rounds < MAX_ROUNDS and len(found) < MAX_CLASSES:
        rounds += 1
        answer = solver.check()
        if answer == z3.unsat:
            break
        if answer != z3.sat:
            if found:
                return Result(assurance, "fails", tuple(found), rounds=rounds, settled=False)
            return Result(assurance, "unknown", why=f"the solver gave up ({solver.reason_unknown()})", rounds=rounds,
                          settled=False)
        model = solver.model()
        fired = tuple(bool(z3.is_true(model.eval(f, model_completion=True))) for f in encoder.matched)
        example = encoder.verified(model, intake, assurance, policy, len(found) + 1)
        if example is not None and fired not in patterns:
            patterns.add(fired)
            found.append(example)
        elif example is None:
            spurious += 1
        # the next model fires another set of rules
        solver.add(z3.Or([f != z3.BoolVal(v) for f, v in zip(encoder.matched, fired)]) if encoder.matched
                   else z3.BoolVal(False))
    if found:
        return Result(assurance, "fails", tuple(found), rounds=rounds)
    if spurious:
        opaque = ", ".join(sorted(encoder.opaque_text)[:4]) or "rounding"
        return Result(assurance, "unknown", why=f"the solver's {spurious} candidate counterexample(s) were not "
                      f"decided that way by the engine (it cannot see inside {opaque})", rounds=rounds)
    return Result(assurance, "holds", rounds=rounds)


class Encoder:
    """The policy's fields, derived values and decision as z3 terms."""

    def __init__(self, policy: CompiledPolicy):
        # lazy: z3 loads only when an assurance is proved
        import z3
        self.z3, self.policy = z3, policy
        self.derived = dict(policy.derived)
        self.constraints: list[Any] = []
        self.variables: dict[str, tuple[Any, Any]] = {}  # field -> (value term, known term)
        self.opaque: dict[tuple[Any, ...], tuple[Any, Any]] = {}  # key(node) -> terms
        self.opaque_fields: set[str] = set()  # fields an opaque expression reads: searched around a model
        self.opaque_text: set[str] = set()
        self.memo: dict[str, tuple[Any, Any]] = {}
        self.fired: list[Any] = []
        self.matched: list[Any] = []
        self.decision_terms: dict[str, Any] = {}
        for name in policy.fields:  # every field's schema is in the constraints
            self.field(name)
        self._decision()

    # ------------------------------------------------------------------ fields

    def field(self, name: str) -> tuple[Any, Any]:
        if name in self.memo:
            return self.memo[name]
        if name in self.derived:
            term = self.term(self.derived[name])
        elif name in self.decision_terms:
            term = self.decision_terms[name]
        else:
            term = self._variable(name)
        self.memo[name] = term
        return term

    def _variable(self, name: str) -> tuple[Any, Any]:
        z3 = self.z3
        spec = self.policy.fields[name]
        known = z3.BoolVal(True) if spec.required or spec.default is not None else z3.Bool(f"{name}?")
        kind = spec.type
        if kind in ("number", "money", "alignment"):
            value = z3.Real(name)
            self.constraints += [value < _real(LARGEST), value > -_real(LARGEST)]
            if kind == "alignment":
                self.constraints += [value >= 0, value <= 1]
        elif kind == "integer":
            whole = z3.Int(name)
            self.constraints += [whole < int(LARGEST), whole > -int(LARGEST)]
            value = z3.ToReal(whole)
        elif kind == "date":
            value = z3.Int(name)
            self.constraints += [value >= FIRST_DAY, value <= LAST_DAY]
        elif kind == "bool":
            value = z3.Bool(name)
        elif kind == "list":
            self.opaque_fields.add(name)
            value = z3.Int(f"{name}#list")  # stands for the list: calls on it are opaque
        else:
            value = z3.String(name)
            self.constraints.append(z3.Length(value) >= 1)
            if kind == "enum":
                self.constraints.append(z3.Or([value == z3.StringVal(v) for v in spec.values or []]))
        if spec.min is not None:
            self.constraints.append(value >= _constant(spec.min))
        if spec.max is not None:
            self.constraints.append(value <= _constant(spec.max))
        self.variables[name] = (value, known)
        return value, known

    # ------------------------------------------------------------------ the decision

    def _decision(self) -> None:
        z3 = self.z3
        policy = self.policy
        self.decision_terms = {}
        fired = [self.truth(rule.condition)[0] for rule in policy.rules]
        self.matched = fired  # every rule and table row that matches: a class of proposals, for the search
        effective = list(fired)
        overlaps = []
        for group in policy.hit_groups:
            members = list(group.members)
            if group.hit_policy == "unique":
                overlaps += [z3.And(fired[a], fired[b]) for i, a in enumerate(members) for b in members[i + 1:]]
            elif group.hit_policy == "any":
                overlaps += [z3.And(fired[a], fired[b]) for i, a in enumerate(members) for b in members[i + 1:]
                             if group.outputs[a] != group.outputs[b]]
                for i, m in enumerate(members):
                    effective[m] = z3.And(fired[m], *[z3.Not(fired[e]) for e in members[:i]])
            elif group.hit_policy == "first":
                for i, m in enumerate(members):
                    effective[m] = z3.And(fired[m], *[z3.Not(fired[e]) for e in members[:i]])
            elif group.hit_policy == "priority":
                order = {m: (group.ranks[m], i) for i, m in enumerate(members)}
                for m in members:
                    effective[m] = z3.And(fired[m], *[z3.Not(fired[e]) for e in members if order[e] < order[m]])
        error = z3.Or(overlaps) if overlaps else z3.BoolVal(False)
        finding = [z3.And(e, z3.Not(error)) if rule.effect != "none" else z3.BoolVal(False)
                   for e, rule in zip(effective, policy.rules)]
        self.fired = [f for f, rule in zip(finding, policy.rules) if rule.effect != "none"]
        reject = z3.Or([f for f, r in zip(finding, policy.rules) if r.effect == "reject"] or [z3.BoolVal(False)])
        review = z3.Or([f for f, r in zip(finding, policy.rules) if r.effect == "review"] or [z3.BoolVal(False)])
        outcome = z3.If(error, z3.StringVal("error"), z3.If(reject, z3.StringVal("reject"), z3.If(
            review, z3.StringVal("review"), z3.StringVal("accept"))))
        routes: dict[str, list[Any]] = {}
        for f, rule in zip(finding, policy.rules):
            if rule.effect == "review" and rule.route:  # as intake/decide.py: a rejection goes to nobody
                routes.setdefault(rule.route if rule.route_template is None else f"{{{rule.id}}}", []).append(
                    z3.And(f, z3.Not(reject)))
        ids: dict[str, list[Any]] = {}
        for f, rule in zip(finding, policy.rules):
            if rule.effect != "none":
                ids.setdefault(rule.id, []).append(f)
        self.decision_terms = {"decision": (outcome, z3.BoolVal(True)),
                               "routes": _Flags({r: z3.Or(fs) for r, fs in routes.items()},
                                                any(r.route_template is not None for r in policy.rules)),
                               "fired": _Flags({r: z3.Or(fs) for r, fs in ids.items()}, False)}

    # ------------------------------------------------------------------ expressions

    def truth(self, node: Node) -> tuple[Any, Any]:
        """(where the condition is true, where it is false); unknown is neither."""
        z3 = self.z3
        if isinstance(node, Unary) and node.op == "not":
            yes, no = self.truth(node.operand)
            return no, yes
        if isinstance(node, Logic):
            parts = [self.truth(i) for i in node.items]
            if node.op == "and":
                return z3.And([p[0] for p in parts]), z3.Or([p[1] for p in parts])
            return z3.Or([p[0] for p in parts]), z3.And([p[1] for p in parts])
        if isinstance(node, Compare) and (_null(node.left) or _null(node.right)):
            other = node.left if _null(node.right) else node.right
            known = self._known_only(other)
            return (z3.Not(known), known) if node.op == "==" else (known, z3.Not(known))
        if isinstance(node, In) and isinstance(node.container, Field) and isinstance(
                self._maybe_flags(node.container), _Flags):
            flags = self._maybe_flags(node.container)
            item = node.item
            if isinstance(item, Const) and isinstance(item.value, str):
                holds = flags.has(item.value, z3)
            else:
                raise Unsupported(f"'x in {node.container.name}' needs a text constant for x")
            return (z3.Not(holds), holds) if node.negated else (holds, z3.Not(holds))
        value, known = self.term(node)
        return z3.And(known, value), z3.And(known, z3.Not(value))

    def _maybe_flags(self, node: Field) -> Any:
        return self.decision_terms.get(node.name) if node.name in ("routes", "fired") else None

    def _known_only(self, node: Node) -> Any:
        if isinstance(node, Field) and node.name in ("routes", "fired"):
            return self.z3.BoolVal(True)
        return self.term(node)[1]

    def term(self, node: Node) -> tuple[Any, Any]:
        """(value, known) of an expression."""
        z3 = self.z3
        true = z3.BoolVal(True)
        if isinstance(node, Const):
            if node.value is None:
                return _dummy(node.type, z3), z3.BoolVal(False)
            if isinstance(node.value, tuple):
                raise Unsupported("a list constant outside 'in'")
            return _constant(node.value), true
        if isinstance(node, Field):
            found = self.field(node.name)
            if isinstance(found, _Flags):
                raise Unsupported(f"'{node.name}' is a list; use '\"X\" in {node.name}' or len({node.name})")
            return found
        if node.type == BOOL and isinstance(node, (Logic, Compare, In)) or (
                isinstance(node, Unary) and node.op == "not"):
            if isinstance(node, (Logic, Unary)) or isinstance(node, In) and isinstance(node.container, Field) \
                    and node.container.name in ("routes", "fired") or isinstance(node, Compare) and (
                    _null(node.left) or _null(node.right)):
                yes, no = self.truth(node)
                return yes, z3.Or(yes, no)
        if isinstance(node, Unary):  # minus
            value, known = self.term(node.operand)
            return -value, known
        if isinstance(node, Compare):
            return self._compare(node)
        if isinstance(node, In):
            return self._in(node)
        if isinstance(node, Arith):
            return self._arith(node)
        if isinstance(node, Call):
            return self._call(node)
        return self._opaque(node)

    def _compare(self, node: Compare) -> tuple[Any, Any]:
        z3 = self.z3
        if node.left.type == STRING and node.op not in ("==", "!="):
            return self._opaque(node)
        (a, ka), (b, kb) = self.term(node.left), self.term(node.right)
        ops = {"==": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
               "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y}
        try:
            return ops[node.op](a, b), z3.And(ka, kb)
        except z3.Z3Exception:
            return self._opaque(node)

    def _in(self, node: In) -> tuple[Any, Any]:
        z3 = self.z3
        container = node.container
        if isinstance(container, Const) and isinstance(container.value, tuple):
            item, known = self.term(node.item)
            hit = z3.Or([item == _constant(v) for v in container.value if v is not None]) if container.value \
                else z3.BoolVal(False)
        elif isinstance(container, ListOf):
            item, known = self.term(node.item)
            parts = [self.term(i) for i in container.items]
            hit = z3.Or([z3.And(k, item == v) for v, k in parts]) if parts else z3.BoolVal(False)
        else:
            return self._opaque(node)
        return (z3.Not(hit) if node.negated else hit), known

    def _arith(self, node: Arith) -> tuple[Any, Any]:
        z3 = self.z3
        (a, ka), (b, kb) = self.term(node.left), self.term(node.right)
        known = z3.And(ka, kb)
        if node.left.type == DATE:  # date +/- days (whole days, toward zero)
            days = z3.ToInt(b) if z3.is_real(b) else b
            days = z3.If(b >= 0, days, -z3.ToInt(-b)) if z3.is_real(b) else days
            return (a + days if node.op == "+" else a - days), known
        if node.left.type == STRING:
            return z3.Concat(a, b), known
        if node.op == "/":
            return a / b, z3.And(known, b != 0)
        value = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b}[node.op]()
        return value, known

    def _call(self, node: Call) -> tuple[Any, Any]:
        z3 = self.z3
        name, args = node.name, node.args
        if name in ("len",) and args and isinstance(args[0], Field) and args[0].name in ("routes", "fired"):
            flags = self.decision_terms[args[0].name]
            if flags.templated and args[0].name == "routes":
                self.opaque_text.add("routes built from templates")
            return z3.Sum([z3.If(f, z3.RealVal(1), z3.RealVal(0)) for f in flags.flags.values()] or
                          [z3.RealVal(0)]), z3.BoolVal(True)
        if any(isinstance(a, Field) and a.name in ("routes", "fired") for a in args):
            raise Unsupported(f"{name}() of the decision's lists (only len() and 'in' are understood)")
        if name == "days_between":
            (a, ka), (b, kb) = self.term(args[0]), self.term(args[1])
            return z3.ToReal(b - a), z3.And(ka, kb)
        if name == "add_days":
            (a, ka), (b, kb) = self.term(args[0]), self.term(args[1])
            return a + z3.If(b >= 0, z3.ToInt(b), -z3.ToInt(-b)), z3.And(ka, kb)
        if name == "coalesce":
            (a, ka), (b, kb) = self.term(args[0]), self.term(args[1])
            return z3.If(ka, a, b), z3.Or(ka, kb)
        if name == "if":
            yes, no = self.truth(args[0])
            (a, ka), (b, kb) = self.term(args[1]), self.term(args[2])
            return z3.If(yes, a, b), z3.If(yes, ka, z3.If(no, kb, z3.BoolVal(False)))
        if name == "abs":
            a, ka = self.term(args[0])
            return z3.If(a < 0, -a, a), ka
        if name in ("min", "max") and len(args) >= 2:
            parts = [self.term(a) for a in args]
            value = parts[0][0]
            for v, _ in parts[1:]:
                value = z3.If(v < value, v, value) if name == "min" else z3.If(v > value, v, value)
            return value, z3.And([k for _, k in parts])
        if name == "in_table" and isinstance(args[0], Const):
            item, known = self.term(args[1])
            keys = [k for k in args[0].value.rows if k is not None]
            return (z3.Or([item == _constant(k) for k in keys]) if keys else z3.BoolVal(False)), known
        if name in ("contains", "startswith") and all(a.type == STRING for a in args):
            (a, ka), (b, kb) = self.term(args[0]), self.term(args[1])
            return (z3.Contains(a, b) if name == "contains" else z3.PrefixOf(b, a)), z3.And(ka, kb)
        if name == "len" and args and args[0].type == STRING:
            a, ka = self.term(args[0])
            return z3.ToReal(z3.Length(a)), ka
        return self._opaque(node)

    def _opaque(self, node: Node) -> tuple[Any, Any]:
        """A value the solver cannot see inside: one fresh variable per distinct expression."""
        z3 = self.z3
        ident = key(node)
        if ident in self.opaque:
            return self.opaque[ident]
        n = len(self.opaque)
        value = _fresh(node.type, f"opaque{n}", z3)
        known = z3.Bool(f"opaque{n}?")
        fields = self._input_fields(node)
        self.opaque_fields |= fields
        self.opaque_text.add(_show(node))
        if isinstance(node, Call) and node.name in FUNCTIONS and FUNCTIONS[node.name].null_propagates:
            known = z3.And(known, *[self.term(a)[1] if not _list_like(a) else self._list_known(a) for a in node.args
                                    if not isinstance(a, Const)])
        self.opaque[ident] = (value, known)
        return value, known

    def _list_known(self, node: Node) -> Any:
        if isinstance(node, Field) and node.name in self.policy.fields:
            return self.field(node.name)[1]
        return self.z3.BoolVal(True)

    def _input_fields(self, node: Node) -> set[str]:
        out: set[str] = set()
        todo = list(fields_of(node))
        while todo:
            name = todo.pop()
            if name in out:
                continue
            if name in self.derived:
                todo += list(fields_of(self.derived[name]))
            elif name in self.policy.fields:
                out.add(name)
        return out

    # ------------------------------------------------------------------ from a model to a proposal

    def proposal(self, model: Any) -> dict[str, Any]:
        z3 = self.z3
        out: dict[str, Any] = {}
        for name, spec in self.policy.fields.items():
            value, known = self.field(name) if name not in self.variables else self.variables[name]
            if not z3.is_true(model.eval(known, model_completion=True)):
                continue
            got = model.eval(value, model_completion=True)
            kind = spec.type
            if kind in ("number", "money", "integer", "alignment"):
                number = _decimal(got)
                out[name] = _alignment(number, self.policy) if kind == "alignment" else _text(number)
            elif kind == "date":
                out[name] = dt.date.fromordinal(max(FIRST_DAY, min(LAST_DAY, got.as_long()))).isoformat()
            elif kind == "bool":
                out[name] = z3.is_true(got)
            elif kind == "list":
                out[name] = "-1000;600;600"
            else:
                text = got.as_string() if z3.is_string_value(got) else ""
                out[name] = text if text.isprintable() and text.strip() == text and text else (
                    "EXAMPLE-1" if name == self.policy.id_field else "Example")
                if kind == "enum" and out[name] not in (spec.values or []):
                    out[name] = (spec.values or ["Example"])[0]
        return out

    def verified(self, model: Any, intake: Any, assurance: CompiledAssurance, policy: CompiledPolicy,
                 number: int = 1) -> Counterexample | None:
        """The model as a proposal the engine decides against the assurance; else one found around it."""
        base = self.proposal(model)
        ident = f"{assurance.name}-{number}"
        tries = [dict(base, **{policy.id_field: ident}), base]
        found = next((c for c in (_check(t, intake, assurance, policy) for t in tries) if c is not None), None)
        if found is not None:
            return _plainer(found, intake, assurance, policy)
        if not self.opaque_fields:
            return None
        rng = random.Random(2026)
        pools = {name: _pool(policy, name, base.get(name)) for name in sorted(self.opaque_fields)}
        for _ in range(SEARCH_TRIES):
            trial = dict(base, **{policy.id_field: ident})
            for name, pool in pools.items():
                choice = rng.choice(pool)
                if choice is None:
                    trial.pop(name, None)
                else:
                    trial[name] = choice
            found = _check(trial, intake, assurance, policy)
            if found is not None:
                return _plainer(found, intake, assurance, policy)
        return None


class _Flags:
    """A list the decision makes (routes, fired ids), as one solver boolean per value it can hold."""

    def __init__(self, flags: dict[str, Any], templated: bool):
        self.flags, self.templated = flags, templated

    def has(self, value: str, z3: Any) -> Any:
        if value in self.flags:
            return self.flags[value]
        if self.templated:
            raise Unsupported("routes built from templates ({field} in a route) cannot be tested by name")
        return z3.BoolVal(False)


def _check(raw: dict[str, Any], intake: Any, assurance: CompiledAssurance,
           policy: CompiledPolicy) -> Counterexample | None:
    """A counterexample if the engine, deciding ``raw``, breaks the assurance."""
    try:
        record = intake.record(raw)
    except RecordError:
        return None
    decision, _ = intake.decide_record(raw)
    names = dict(record, decision=decision.decision, routes=tuple(decision.routes),
                 fired=tuple(f.rule for f in decision.findings))
    if evaluate(assurance.condition, names) is True and evaluate(assurance.must, names) is not True:
        return Counterexample(raw, decision.decision, tuple(decision.routes), names["fired"])
    return None


def _plainer(found: Counterexample, intake: Any, assurance: CompiledAssurance,
             policy: CompiledPolicy) -> Counterexample:
    """The counterexample with the solver's arbitrary text ("B") replaced by "Example" where that keeps it one."""
    for name, spec in policy.fields.items():
        if spec.type == "string" and name != policy.id_field and name in found.proposal \
                and found.proposal[name] != "Example":
            better = _check(dict(found.proposal, **{name: "Example"}), intake, assurance, policy)
            found = better or found
    return found


def _pool(policy: CompiledPolicy, name: str, current: Any) -> list[Any]:
    spec = policy.fields[name]
    nulls = [] if spec.required or spec.default is not None else [None]
    if spec.type == "list":
        return nulls + ["-1000;600;600", "-1000;200;300", "-1000;100", "1000;-2000", "-100;50;50;50",
                        "-1000000;400000;400000;400000"]
    if spec.type == "alignment":
        return nulls + [_alignment(Decimal(v), policy) for v in ("0", "0.05", "0.2", "0.5", "1")]
    if spec.type in ("string",):
        return nulls + [current or "Example", "Example Ltd", "Example GmbH", "PRJ-0001"]
    if spec.type == "enum":
        return nulls + list(spec.values or [])
    if spec.type == "bool":
        return nulls + [True, False]
    if spec.type == "date":
        today = policy.today
        return nulls + [(today + dt.timedelta(days=d)).isoformat() for d in (-10, 0, 10, 40, 400)]
    return nulls + [current] if current is not None else nulls + ["1"]


def _alignment(level: Decimal, policy: CompiledPolicy) -> str:
    """An alignment statement whose value is ``level``: every objective at that level (weights sum to 1)."""
    level = min(Decimal(1), max(Decimal(0), level))
    objectives = policy.strategy.objectives if policy.strategy is not None else {}
    names = list(objectives) or ["objective"]
    return ";".join(f"{o}:{_text(level)}" for o in names)


def _decimal(value: Any) -> Decimal:
    if value.is_int() if hasattr(value, "is_int") else False:
        return Decimal(value.as_long())
    fraction = Fraction(value.numerator_as_long(), value.denominator_as_long())
    exact = Decimal(fraction.numerator) / Decimal(fraction.denominator)
    return exact.quantize(Decimal("0.000001")) if abs(exact) < LARGEST / 1_000_000 else exact.to_integral_value()


def _text(number: Decimal) -> str:
    return format(number.normalize(), "f")


def _real(number: Decimal) -> Any:
    # lazy: z3 loads only when an assurance is proved
    import z3
    return z3.RealVal(str(number))


def _constant(value: Any) -> Any:
    # lazy: z3 loads only when an assurance is proved
    import z3
    if isinstance(value, bool):
        return z3.BoolVal(value)
    if isinstance(value, Decimal):
        return z3.RealVal(str(value))
    if isinstance(value, int):
        return z3.RealVal(value)
    if isinstance(value, dt.date):
        return z3.IntVal(value.toordinal())
    if isinstance(value, str):
        return z3.StringVal(value)
    raise Unsupported(f"a constant {plain(value)!r}")


def _fresh(kind: str, name: str, z3: Any) -> Any:
    if kind == BOOL:
        return z3.Bool(name)
    if kind == DATE:
        return z3.Int(name)
    if kind == STRING:
        return z3.String(name)
    if kind == NUMBER or str(kind) == NUMBER:
        return z3.Real(name)
    return z3.Int(name)  # a list or table: only ever passed to another opaque call


def _dummy(kind: str, z3: Any) -> Any:
    return _fresh(kind if kind != "null" else BOOL, "null", z3)


def _null(node: Node) -> bool:
    return isinstance(node, Const) and node.value is None and node.type == "null"


def _list_like(node: Node) -> bool:
    return str(node.type).startswith("list[") or node.type == "table"


def _show(node: Node) -> str:
    if isinstance(node, Call):
        return f"{node.name}()"
    return type(node).__name__.lower()


def proof_diagnostics(results: list[Result]) -> list[Diagnostic]:
    return [d for r in results for d in r.diagnostics()]


def summary(results: list[Result]) -> Mapping[str, int]:
    out = {"holds": 0, "fails": 0, "unknown": 0}
    for r in results:
        out[r.status] += 1
    return out
