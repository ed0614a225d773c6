"""Lint: warnings about a policy set that loads but is probably wrong.

Runs from ``pmo validate`` (``engine.validate(lint=True)``) on a set without errors, never from
``Engine.load``. Each check is a small function from a :class:`Context` to diagnostics, and warns only
when it is sure (the condition reasoning is in ``engine/expr/domains.py``). The codes are listed in
``docs/lint.md``:

    never_fires, always_fires      a rule's condition, given field types, enum values, min/max, required
    duplicate_condition            two rules with the same condition after normalisation
    shadowed_rule                  a review rule whose every proposal another rule rejects
    unused_field, unused_derived   declared, read by nothing, and not labelled for reports
    unused_metric, unused_stage    gates: a metric no criterion reads, a stage no gate enters or leaves
    unused_library_rule            a rule in the policy folder's own rules/ that nothing includes
    unused_strategy                objectives that nothing can use (no alignment field, no strategy.*)
    unknown_objective              a balance rule naming an objective the strategy does not declare
    missing_skips_rule             "x != 1" or "x not in [...]" on a field that can be missing: unknown when it
                                   is, so a proposal that leaves the field out does not fire the rule
    include_outside_root           an include whose library lies outside the policy folder (a linked rules/)
    (health rules: never_fires and duplicate_condition too, over the figures a status report can give)

Scoring bands with gaps or overlaps and weights that do not add up to 1 are reported by the compiler
(band_gap, band_overlap, band_open_end, weights_normalised), so lint does not repeat them.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from engine.compile.health import AT_MOST, HEALTH_TYPES, NON_NEGATIVE, STATES
from engine.compile.policy import CompiledPolicy, CompiledRule
from engine.errors import Diagnostic, Location, did_you_mean, display_path
from engine.expr.domains import (
    Domain,
    Test,
    canonical,
    conjunction,
    covers,
    domain_of,
    outcomes,
    tests,
)
from engine.expr.lookup import LookupTable
from engine.expr.nodes import NEGATE, SWAP, Call, Compare, Const, Field, In, ListOf, Node, fields_of, walk
from engine.expr.parse import ExprError, parse
from engine.policy.loader import LoadedFile, PolicySet
from engine.policy.models import FieldSpec, IntakePolicy, RuleSpec, ScoringPolicy


@dataclass
class Context:
    policy_set: PolicySet
    policy: CompiledPolicy
    intake: IntakePolicy
    domains: dict[str, Domain]
    own_rules: dict[str, RuleSpec]  # rules written in the intake policy itself, by id

    @cached_property
    def forms(self) -> dict[str, tuple[object, ...]]:
        """Each rule's condition in normal form, by rule id."""
        return {rule.id: canonical(rule.condition) for rule in self.policy.rules}

    @cached_property
    def reads(self) -> set[str]:
        """Every field, derived value and metric that a rule, reason, derived value, score or gate reads."""
        names: set[str] = set()
        for rule in self.policy.rules:
            names |= fields_of(rule.condition) | {name for template in (rule.reason_template, rule.route_template)
                                                   if template is not None for name in template.names}
        for _, node in self.policy.derived:
            names |= fields_of(node)
        for node in _gate_conditions(self):
            names |= fields_of(node)
        for model in self.policy_set.scorings:  # every scoring model, and the condition that picks it
            names |= _scoring_reads(model) | (set(_fields_in(model.when)) if model.when else set())
        for table in self.policy.tables:  # scoring tables' inputs (intake tables' rows are rules, above)
            for item in table.inputs:
                names |= fields_of(item.node)
        return names

    def where(self, rule: CompiledRule, offset: int = 0) -> Location:
        """Where a rule's condition is written (a character further for ``offset``); an include's place."""
        spec = self.own_rules.get(rule.id) if rule.origin is None else None
        return spec.loc("when").shifted(offset) if spec is not None else rule.source


def lint_policy(policy_set: PolicySet, policy: CompiledPolicy) -> list[Diagnostic]:
    """Every lint warning for a compiled policy set without errors."""
    assert policy_set.intake is not None
    context = Context(policy_set, policy, policy_set.intake, _domains(policy),
                      {spec.id: spec for spec in policy_set.intake.rules})
    return [diagnostic for check in CHECKS for diagnostic in check(context)]


def _warning(code: str, message: str, where: Location, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, where, hint, severity="warning")


def _domains(policy: CompiledPolicy) -> dict[str, Domain]:
    """What each field and derived value can hold when the rules run (derived values: anything of their type)."""
    out = {}
    for name, kind in policy.field_types.items():
        spec = policy.fields.get(name)
        if spec is None:
            out[name] = domain_of(kind)
            continue
        out[name] = domain_of(kind, null=not (spec.required or spec.default is not None), low=spec.min, high=spec.max,
                              choices=spec.values if spec.type == "enum" else None, integer=spec.type == "integer")
    return out


# ---------------------------------------------------------------------------- rules that never or always fire

def check_firing(ctx: Context) -> Iterator[Diagnostic]:
    for rule in ctx.policy.rules:
        can_fire, can_stay_silent = outcomes(rule.condition, ctx.domains)
        if can_fire is None:
            yield _never_fires(ctx, rule)
        elif can_stay_silent is None:
            names = sorted(fields_of(rule.condition))
            yield _warning("always_fires", f"rule '{rule.id}' fires for every proposal: its condition is always "
                           f"true ({'; '.join(_declared(ctx, n) for n in names) or 'it reads no field'})",
                           ctx.where(rule), "check the tests against each field's min, max and whether it can be "
                           "missing; a rule that always fires decides nothing")


def _never_fires(ctx: Context, rule: CompiledRule) -> Diagnostic:
    """Say why: one test that no declared value passes, else the field whose tests contradict each other."""
    for test, negate in tests(rule.condition):
        if outcomes(test.node, ctx.domains, negate)[0] is None:
            return _warning("never_fires", f"rule '{rule.id}' can never fire: {_shown_test(test, negate)} is never "
                            f"true ({_declared(ctx, test.field)})", ctx.where(rule, test.node.offset),
                            _impossible_hint(ctx, test))
    culprits = [name for name in sorted(fields_of(rule.condition))
                if outcomes(rule.condition, ctx.domains, only=name)[0] is None]
    why = (f"its tests on {culprits[0]} cannot all hold ({_declared(ctx, culprits[0])})" if culprits
           else "its condition is always false" if isinstance(rule.condition, Const)
           else "its tests cannot all hold")
    return _warning("never_fires", f"rule '{rule.id}' can never fire: {why}", ctx.where(rule),
                    "fix the contradicting tests, or remove the rule")


def _impossible_hint(ctx: Context, test: Test) -> str:
    spec = ctx.policy.fields.get(test.field)
    if isinstance(test.node, Call):  # key in table
        return (f"no value {test.field} can hold is a key of table '{_table(test.node)}'; add rows for them, "
                "or check the table's key column")
    value = _constant(test.node)
    if spec is not None and spec.type == "enum":
        texts = [v for _, v in _enum_constants(test.node)] or ([value] if isinstance(value, str) else [])
        strangers = [t for t in texts if t not in (spec.values or [])]
        if strangers:
            return _enum_hint(strangers[0], list(spec.values or []))
    if value is None and isinstance(test.node, Compare):
        return "a required field, or one with a default, is never missing"
    return "compare within the field's declared min and max, or change them"


def _constant(node: Node) -> Any:
    if isinstance(node, Compare):
        constant = node.right if isinstance(node.right, Const) else node.left
        assert isinstance(constant, Const)  # a test's comparison has a constant on one side (domains.as_test)
        return constant.value
    return None


def _table(node: Call) -> LookupTable:
    """The table of a test ``key in table``: ``in_table(table, key)``, its table a constant (domains.as_test)."""
    table = node.args[0]
    assert isinstance(table, Const) and isinstance(table.value, LookupTable)
    return table.value


def _declared(ctx: Context, name: str) -> str:
    """A field as declared, for messages: "risk: integer, min 1, max 5"."""
    spec: FieldSpec | None = ctx.policy.fields.get(name)
    if spec is None:
        return f"{name}: a derived value"
    parts = [spec.type] + ([f"values {', '.join(spec.values or [])}"] if spec.type == "enum" else [])
    parts += [f"{bound} {_shown(getattr(spec, bound))}" for bound in ("min", "max") if getattr(spec, bound) is not None]
    parts += ["required"] if spec.required else [f"default {_shown(spec.default)}"] if spec.default is not None else []
    return f"{name}: {', '.join(parts)}"


def _shown_test(test: Test, negate: bool) -> str:
    """A single-field test as the author would write it, with ``not`` pushed in."""
    node = test.node
    if isinstance(node, Field):
        return f"not {node.name}" if negate else node.name
    if isinstance(node, In):
        assert isinstance(node.container, Const)
        word = "not in" if node.negated != negate else "in"
        return f"{test.field} {word} [{', '.join(_shown(v) for v in node.container.value)}]"
    if isinstance(node, Call):  # key in table (engine/expr/domains.py reads it as a test on the table's keys)
        return f"{test.field} {'not in' if negate else 'in'} {_table(node)}"
    assert isinstance(node, Compare)
    constant, op = (node.right, node.op) if isinstance(node.right, Const) else (node.left, SWAP[node.op])
    assert isinstance(constant, Const)
    return f"{test.field} {NEGATE[op] if negate else op} {_shown(constant.value)}"


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (int, Decimal)):
        return f"{int(value):_}" if value == int(value) else str(value)
    return f'date("{value}")'


def check_missing_skips_rule(ctx: Context) -> Iterator[Diagnostic]:
    """A rule that tests "anything but" on a field that may be missing (``sponsor_level != "executive"``, ``category
    not in [...]``, ``not urgent``): the test is unknown on a missing value, as every test is, so the rule does not
    fire, and leaving the field out is a way around the rule. Said unless the condition tests that field for null
    itself (the author decided what a missing value does), the field is never missing (required, or a default),
    or the rule never fires anyway (never_fires says so)."""
    for rule in ctx.policy.rules:
        if outcomes(rule.condition, ctx.domains)[0] is None:
            continue
        found = list(tests(rule.condition))
        null_tested = {test.field for test, _ in found if isinstance(test.node, Compare) and _constant(test.node) is None}
        said: set[str] = set()
        for test, negate in found:
            spec = ctx.policy.fields.get(test.field)
            if (spec is None or spec.required or spec.default is not None or test.field in null_tested
                    or test.field in said or not _anything_but(test.node, negate)):
                continue
            said.add(test.field)
            shown, name = _shown_test(test, negate), test.field
            yield _warning("missing_skips_rule", f"rule '{rule.id}' does not fire for a proposal without {name}: "
                           f"{shown} is unknown when {name} is missing, not true, so leaving {name} out gets "
                           "around the rule", ctx.where(rule, test.node.offset),
                           f"if a missing {name} should fire the rule, write ({name} == null or {shown}); if it "
                           f"should not, say so with {name} != null and ...; or make {name} required")


def _anything_but(node: Node, negate: bool) -> bool:
    """Whether a single-field test, with ``not`` pushed in, is true for every value but a few: != , not in, not b."""
    if isinstance(node, Field):
        return negate
    if isinstance(node, In):
        return node.negated != negate
    if isinstance(node, Compare) and _constant(node) is not None:
        op = node.op if isinstance(node.right, Const) else SWAP[node.op]
        return (NEGATE[op] if negate else op) == "!="
    return False


# ---------------------------------------------------------------------------- duplicate and shadowed rules

def check_duplicates(ctx: Context) -> Iterator[Diagnostic]:
    """Two rules with the same condition. A decision table's row with no outcome (effect "none") makes no finding,
    so it duplicates nothing: it is how a table covers values that need no outcome (a gap's fix, README), and the
    table's own analysis judges its rows against each other."""
    first: dict[tuple[object, ...], CompiledRule] = {}
    for rule in ctx.policy.rules:
        if rule.effect == "none":
            continue
        form = ctx.forms[rule.id]
        if form in first:
            other = first[form]
            yield _warning("duplicate_condition", f"rule '{rule.id}' has the same condition as rule '{other.id}' "
                           f"({other.source})", ctx.where(rule), "merge the two rules, or make their conditions differ")
        else:
            first[form] = rule


def check_shadowed(ctx: Context) -> Iterator[Diagnostic]:
    """A review rule whose every proposal a reject rule also catches never matters: the proposal is rejected.
    Only reject rules whose condition is an ``and`` of single-field tests are used (their set is exact)."""
    rejects = [(rule, box) for rule in ctx.policy.rules if rule.effect == "reject" and conjunction(rule.condition)
               and (box := outcomes(rule.condition, ctx.domains)[0])]
    for rule in ctx.policy.rules:
        if rule.effect != "review":
            continue
        catches = outcomes(rule.condition, ctx.domains)[0]
        if catches is None:
            continue  # it never fires: never_fires says so
        for other, box in rejects:
            if ctx.forms[other.id] != ctx.forms[rule.id] and covers(box, catches, ctx.domains):
                yield _warning("shadowed_rule", f"rule '{rule.id}' never matters: every proposal it sends to review "
                               f"is also rejected by rule '{other.id}' ({other.source})", rule.source,
                               f"narrow '{other.id}', or make '{rule.id}' a reject or remove it")
                break


# ---------------------------------------------------------------------------- declared but never used

def _gate_conditions(ctx: Context) -> list[Node]:
    gates = ctx.policy.gates
    if gates is None:
        return []
    return [c.condition for gate in gates.gates.values() for c in gate.must + gate.should] + [
        node for gate in gates.gates.values() for node, _ in gate.rights if node is not None]


def _scoring_reads(scoring: ScoringPolicy | None) -> set[str]:
    if scoring is None:
        return set()
    texts = [scoring.formula]
    for crit in scoring.criteria:
        texts += [crit.field, crit.formula, crit.bands.of if crit.bands else None,
                  crit.lookup.of if crit.lookup else None]
    for part in (scoring.wsjf, scoring.rice):
        if part is not None:
            texts += [getattr(part, name) for name in type(part).model_fields]
    return {tie.by for tie in scoring.tie_breaks} | {name for text in texts if text for name in _fields_in(text)}


def _fields_in(text: str) -> set[str]:
    try:
        return fields_of(parse(text))
    except ExprError:  # cannot happen in a set without errors; reading nothing is the safe answer
        return set()


def check_unused_values(ctx: Context) -> Iterator[Diagnostic]:
    """Fields and derived values nothing reads. The id field, required fields (their presence is a check) and
    labelled ones (shown in reports) count as used."""
    read = ctx.reads
    intake = ctx.intake
    for name, spec in intake.fields.items():
        if name not in read and name != intake.id_field and not spec.required and spec.label is None:
            yield _warning("unused_field", f"field '{name}' is declared, but no rule, derived value, score or gate "
                           "reads it", intake.key_loc("fields", name),
                           "remove it, use it, or give it a label if it is there for reports")
    for name, derived in intake.derived.items():
        if name not in read and derived.label is None:
            yield _warning("unused_derived", f"derived value '{name}' is computed, but no rule, score or gate reads "
                           "it", intake.key_loc("derived", name),
                           "remove it, use it, or give it a label if it is there for reports")


def check_unused_gates(ctx: Context) -> Iterator[Diagnostic]:
    policy = ctx.policy_set.gates
    if policy is None:
        return
    read = ctx.reads
    for name in policy.metrics:
        if name not in read:
            yield _warning("unused_metric", f"metric '{name}' is declared, but no gate criterion or decision right "
                           "reads it", policy.key_loc("metrics", name), "use it in a criterion, or remove it")
    mentioned = {text for node in _gate_conditions(ctx) for text in _strings(node)}
    used = {stage for gate in policy.gates for stage in (gate.from_, gate.to, gate.recycle_to)} | mentioned
    for index, stage in enumerate(policy.stages):
        if stage not in used:
            yield _warning("unused_stage", f"stage '{stage}' is declared, but no gate leads into or out of it",
                           policy.loc("stages", index), "add a gate from or to it, or remove it from 'stages'")


def check_override_roles(ctx: Context) -> Iterator[Diagnostic]:
    """A role that may override but decides at no gate, spelt like one that decides: a typo that leaves the deciding
    role unable to override (and the misspelt name able to). A role of its own (no close match) is not flagged."""
    policy = ctx.policy_set.gates
    if policy is None:
        return
    deciders = sorted({role for gate in policy.gates for right in gate.decision_rights for role in right.approvers})
    for g, gate in enumerate(policy.gates):
        for index, role in enumerate(gate.overrides):
            hint = None if role in deciders else did_you_mean(role, deciders)
            if hint:
                yield _warning("unknown_override_role", f"gate {gate.id}: override role '{role}' decides at no gate, "
                               "so the role that decides cannot override", policy.loc("gates", g, "overrides", index),
                               hint)


def _strings(node: Node) -> set[str]:
    return {n.value for n in walk(node) if isinstance(n, Const) and isinstance(n.value, str)}


def _own_libraries(policy_set: PolicySet) -> dict[str, LoadedFile]:
    """The libraries found in the policy folder's own rules/ (which may be a link to elsewhere)."""
    own = policy_set.root / "rules"
    if not own.is_dir():
        return {}
    folder = own.resolve()
    return {name: f for name, f in policy_set.library_files.items() if Path(f.display).resolve().parent == folder}


def check_unused_library_rules(ctx: Context) -> Iterator[Diagnostic]:
    included = {include.use for include in ctx.intake.include}
    for name in _own_libraries(ctx.policy_set):
        for rule in ctx.policy_set.libraries[name].rules:
            if f"{name}/{rule.id}" not in included:
                yield _warning("unused_library_rule", f"library rule '{name}/{rule.id}' is never included",
                               rule.loc("id"), f"include it (include: [{{use: {name}/{rule.id}}}]), or delete it")


def check_outside_root(ctx: Context) -> Iterator[Diagnostic]:
    """The loader refuses linked policy files, but a linked rules/ folder brings in files from elsewhere: the
    policy set then depends on files that moving or copying its folder leaves behind."""
    root = ctx.policy_set.root.resolve()
    own = _own_libraries(ctx.policy_set)
    for include in ctx.intake.include:
        loaded = own.get(include.use.partition("/")[0])
        real = Path(loaded.display).resolve() if loaded is not None else root
        if not real.is_relative_to(root):
            yield _warning("include_outside_root", f"'{include.use}' comes from {display_path(real)}, outside the "
                           f"policy folder {ctx.policy_set.root} (its rules/ is a link)", include.loc("use"),
                           "copy the library into the policy folder's rules/, or name its folder with --rules")




# ---------------------------------------------------------------------------- strategy objectives

STRATEGY_NAME = re.compile(r"\bstrategy\s*\.")


def check_strategy_used(ctx: Context) -> Iterator[Diagnostic]:
    strategy = ctx.policy_set.strategy
    if strategy is None or any(spec.type == "alignment" for spec in ctx.intake.fields.values()):
        return
    texts = [spec.when for spec in ctx.intake.rules] + [d.expr for d in ctx.intake.derived.values()]
    for include in ctx.intake.include:
        library = ctx.policy_set.libraries.get(include.use.partition("/")[0])
        texts += [rule.when for rule in library.rules] if library else []
    if not any(STRATEGY_NAME.search(text) for text in texts):
        yield _warning("unused_strategy", "the strategy's objectives are never used: no field has type alignment "
                       "and no expression reads strategy.objectives", strategy.key_loc("objectives"),
                       "add a field such as 'alignment: {type: alignment}' to the intake policy, or remove the "
                       "strategy")


def check_balance_objectives(ctx: Context) -> Iterator[Diagnostic]:
    strategy, portfolio = ctx.policy_set.strategy, ctx.policy_set.portfolio
    if strategy is None or portfolio is None:
        return
    ids = [objective.id for objective in strategy.objectives]
    for balance in portfolio.balance:
        if balance.by == "objective" and balance.value not in ids:
            yield _warning("unknown_objective", f"balance rule on objective '{balance.value}', which the strategy "
                           "does not declare", balance.loc("value"),
                           did_you_mean(balance.value, ids) or f"objectives: {', '.join(ids)}")


def check_enum_values(ctx: Context) -> Iterator[Diagnostic]:
    """A text compared with an enum field (==, !=, in) or a lookup key that is not one of the field's values:
    usually a typo. Rules already reported as never firing are left to that warning."""
    enums = {name: list(spec.values or []) for name, spec in ctx.policy.fields.items() if spec.type == "enum"}
    for rule in ctx.policy.rules:
        if outcomes(rule.condition, ctx.domains)[0] is None:
            continue
        seen = set()
        for node in walk(rule.condition):
            for field, value in _enum_constants(node):
                if field in enums and value not in enums[field] and (field, value) not in seen:
                    seen.add((field, value))
                    yield _warning("unknown_enum_value", f"rule '{rule.id}' compares {field} with \"{value}\", which "
                                   f"is not one of its values", ctx.where(rule, node.offset),
                                   _enum_hint(value, enums[field]))
    written: list[tuple[str, str, Location]] = [  # the other expressions that read the fields: derived values, gates
        (f"derived value '{name}'", d.expr, d.loc("expr")) for name, d in ctx.intake.derived.items()]
    gates = ctx.policy_set.gates
    for gate in gates.gates if gates is not None else []:
        written += [(f"gate {gate.id}'s criterion '{c.id}'", c.when, c.loc("when"))
                    for c in [*gate.must_meet, *gate.should_meet.criteria]]
    for what, text, where in written:
        try:
            node = parse(text)
        except ExprError:  # said where it is compiled
            continue
        for value_field, value in sorted({pair for n in walk(node) for pair in _enum_constants(n)}):
            if value_field in enums and value not in enums[value_field]:
                yield _warning("unknown_enum_value", f"{what} compares {value_field} with \"{value}\", which is not one "
                               f"of its values", where, _enum_hint(value, enums[value_field]))
    for criterion in (c for model in ctx.policy_set.scorings for c in model.criteria):
        lookup = criterion.lookup
        if lookup is not None and lookup.of.strip() in enums:
            values = enums[lookup.of.strip()]
            for key in lookup.table:
                if key not in values:
                    yield _warning("unknown_enum_value", f"criterion '{criterion.id}' scores {lookup.of.strip()} "
                                   f"\"{key}\", which is not one of its values (that value would get the default)",
                                   lookup.key_loc("table", key), _enum_hint(key, values))


def _enum_constants(node: Node) -> Iterator[tuple[str, str]]:
    """(field, text) for each text an enum-like comparison names: f == "x", f != "x", f in ["x", "y"]."""
    if isinstance(node, Compare) and node.op in ("==", "!="):
        for a, b in ((node.left, node.right), (node.right, node.left)):
            if isinstance(a, Field) and isinstance(b, Const) and isinstance(b.value, str):
                yield a.name, b.value
    elif isinstance(node, In) and isinstance(node.item, Field):
        container = node.container
        items = [c.value for c in container.items if isinstance(c, Const)] if isinstance(container, ListOf) else \
            list(container.value) if isinstance(container, Const) and isinstance(container.value, tuple) else []
        yield from ((node.item.name, v) for v in items if isinstance(v, str))


def _enum_hint(value: str, values: list[str]) -> str:
    same_case = [v for v in values if v.lower() == value.lower()]
    if same_case:
        return f"did you mean '{same_case[0]}'? (enum values are compared as declared)"
    return did_you_mean(value, values) or f"its values: {', '.join(values)}"


def check_health_rules(ctx: Context) -> Iterator[Diagnostic]:
    """Health rules (kind: health) that can never fire, and two with the same condition, as for intake rules."""
    health, model = ctx.policy.health, ctx.policy_set.health
    if health is None or model is None:
        return
    domains = {name: domain_of(kind, low=Decimal(0) if name in NON_NEGATIVE else None,
                               high=Decimal(AT_MOST[name]) if name in AT_MOST else None)
               for name, kind in HEALTH_TYPES.items()}
    specs = {rule.id: rule for rule in model.rules}
    first: dict[tuple[object, ...], str] = {}
    for rule in health.rules:
        where = specs[rule.id].loc("when") if rule.id in specs else rule.source
        if outcomes(rule.condition, domains)[0] is None:
            yield _warning("never_fires", f"health rule '{rule.id}' can never fire: its condition is never true for "
                           "the figures a status report can give (amounts, SPI and CPI are never below 0, percent "
                           "complete never above 1)", where, "fix the test, or remove the rule")
        strangers = sorted({value for node in walk(rule.condition) for field, value in _enum_constants(node)
                            if field == "state" and value not in STATES})
        for value in strangers:  # a report's state is one of STATES: "Killed" or "cancelled" never matches
            yield _warning("unknown_enum_value", f"health rule '{rule.id}' compares state with \"{value}\", which is "
                           f"not one of its values", where, _enum_hint(value, list(STATES)))
        form = canonical(rule.condition)
        if form in first:
            yield _warning("duplicate_condition", f"health rule '{rule.id}' has the same condition as health rule "
                           f"'{first[form]}'", where, "merge the two rules, or make their conditions differ")
        else:
            first[form] = rule.id


CHECKS: list[Callable[[Context], Iterator[Diagnostic]]] = [
    check_firing, check_duplicates, check_shadowed, check_unused_values, check_unused_gates,
    check_unused_library_rules, check_outside_root, check_strategy_used, check_balance_objectives, check_enum_values,
    check_health_rules, check_override_roles, check_missing_skips_rule,
]
