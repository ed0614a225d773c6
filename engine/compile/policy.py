"""Check and compile a loaded policy set into what the stages run.

Everything that can be known before the first proposal is checked here: field types,
derived-field order, includes and their parameters, every expression's syntax and types,
duplicate rule ids. The result is a :class:`CompiledPolicy` whose expressions are typed
trees, shared by both back ends.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.compile.assurances import CompiledAssurance, compile_assurances
from engine.compile.gates import CompiledGates, compile_gates
from engine.compile.health import CompiledHealth, compile_health
from engine.compile.kpis import CompiledKpis, compile_kpis
from engine.compile.portfolio import Limits, limits_from
from engine.compile.records import RecordError, RecordReader, compiled_derived, converter
from engine.compile.scoring import CompiledScoring, ScoringModel, compile_models
from engine.compile.strategy import CompiledStrategy, compile_strategy
from engine.errors import Diagnostic, DiagnosticSink, Location, PolicyError, as_day, did_you_mean
from engine.expr.check import BROKEN, check
from engine.expr.nodes import BOOL, DATE, NUMBER, STRING, AlignmentType, Logic, Node, TableType, fields_of, list_of
from engine.expr.parse import ExprError, Namespaces, parse
from engine.expr.template import Template, compile_template
from engine.expr.values import ValueProblem, to_bool, to_date, to_number, to_text
from engine.policy.loader import PolicySet, load_policy_set
from engine.policy.models import Effect, FieldSpec, Include, IntakePolicy, LibraryRule, RuleSpec
from engine.policy.resources import reference_policies, reference_rules
from engine.refdata.build import build_tables
from engine.tables.analysis import TableAnalysis
from engine.tables.build import CompiledTable, CompiledTables, compile_tables
from engine.tables.hits import HitGroup

EXPR_TYPE = {"string": STRING, "enum": STRING, "number": NUMBER, "money": NUMBER, "integer": NUMBER,
             "bool": BOOL, "date": DATE, "alignment": NUMBER}


@dataclass(frozen=True)
class CompiledRule:
    id: str
    effect: Effect | Literal["none"]  # "none": a decision table's row with no outcome
    reason: str
    route: str | None
    source: Location  # for diagnostics: the path as the user opens it
    where: str  # for findings: "policies/intake.yaml:42", the same on every machine
    condition: Node
    origin: str | None = None  # "LIBRARY/RULE" for a rule included from rules/
    reason_template: Template | None = None  # when the reason has placeholders: rendered per proposal
    route_template: Template | None = None  # a route built from fields ("{department} Medical Director")
    table: str | None = None  # the decision table it is a row of (effect "none": a row with no outcome)


@dataclass(frozen=True)
class CompiledPolicy:
    fields: dict[str, FieldSpec]
    field_types: dict[str, str]  # fields and derived values -> expression type
    derived: list[tuple[str, Node]]  # in evaluation order
    rules: list[CompiledRule]
    id_field: str
    policy_hash: str
    today: dt.date
    intake_file: str
    strategy: CompiledStrategy | None = None
    scoring: CompiledScoring | None = None  # the default scoring model (the one without 'when'), or the only one
    scoring_models: tuple[ScoringModel, ...] = ()  # every model, in file order (several: ranked model by model)
    portfolio: Limits = field(default_factory=Limits)
    gates: CompiledGates | None = None
    health: CompiledHealth | None = None
    kpis: CompiledKpis | None = None  # kind: kpis (engine/health/kpis.py evaluates them)
    files: list[str] = field(default_factory=list)
    source: PolicySet | None = field(default=None, repr=False)  # the loaded files, models and positions
    hit_groups: tuple[HitGroup, ...] = ()  # decision tables' rows in ``rules``, with their hit policies
    tables: list[CompiledTable] = field(default_factory=list)
    assurances: tuple[CompiledAssurance, ...] = ()  # kind: assurances, proved by pmo validate (engine/authoring/proofs)
    used_libraries: frozenset[str] = frozenset()  # the library rules it uses (their files are in its hash)


def field_type(spec: FieldSpec) -> str:
    if spec.type == "list":
        return list_of(STRING if spec.items == "string" else NUMBER)
    return EXPR_TYPE[spec.type]


def load_folder(path: str | Path | None, rules: Sequence[str | Path], sink: DiagnosticSink) -> PolicySet:
    """A policy folder (None: the reference policies), its rule libraries searched in the folders given, then
    the built-in library."""
    root = Path(path) if path is not None else reference_policies()
    library_dirs = [Path(p) for p in rules] + [reference_rules()]
    return load_policy_set(root, library_dirs, sink)


def compile_folder(path: str | Path | None, rules: Sequence[str | Path], today: dt.date | None,
                   sink: DiagnosticSink) -> CompiledPolicy | None:
    day = as_day(today)  # before anything loads: a bad date is the caller's mistake, not the policy's
    return compile_policy(load_folder(path, rules, sink), day or dt.date.today(), sink)


def usable_policy(path: str | Path | None, rules: Sequence[str | Path], today: dt.date | None,
                  sink: DiagnosticSink) -> CompiledPolicy:
    """compile_folder(), or a PolicyError listing every problem (warnings stay in ``sink``)."""
    policy = compile_folder(path, rules, today, sink)
    if policy is None or sink.errors:
        raise PolicyError([d for d in sink.reported() if d.severity == "error"]
                          or [Diagnostic("no_intake", "no intake policy")])
    return policy


@dataclass
class _Compiling:
    """What the stages of compile_policy know so far: each stage reads what the ones before it made."""

    policy_set: PolicySet
    intake: IntakePolicy
    today: dt.date
    sink: DiagnosticSink
    strategy: CompiledStrategy | None = None
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    types: dict[str, Any] = field(default_factory=dict)
    namespaces: dict[str, dict[str, Any]] = field(default_factory=lambda: {"strategy": {}})
    derived: list[tuple[str, Node]] = field(default_factory=list)
    rules: list[CompiledRule] = field(default_factory=list)
    used_libraries: set[str] = field(default_factory=set)
    tables: CompiledTables = field(default_factory=CompiledTables)  # compile_tables sets it in its stage
    hit_groups: tuple[HitGroup, ...] = ()
    assurances: tuple[CompiledAssurance, ...] = ()
    models: list[ScoringModel] = field(default_factory=list)
    scoring: CompiledScoring | None = None
    gates: CompiledGates | None = None
    health: CompiledHealth | None = None
    kpis: CompiledKpis | None = None


def _strategy_stage(c: _Compiling) -> None:
    if c.policy_set.strategy is not None:
        c.strategy = compile_strategy(c.policy_set.strategy, c.sink)
    if c.strategy is not None:
        c.namespaces["strategy"] = {"objectives": c.strategy.objectives}


def _fields_stage(c: _Compiling) -> None:
    c.fields, c.types = _fields(c.intake, c.strategy, c.sink, strategy_broken=c.strategy is None and (
        c.policy_set.strategy is not None or "strategy" in c.policy_set.unusable_kinds))


def _lookups_stage(c: _Compiling) -> None:  # kind: lookup
    lookups, broken = build_tables(c.policy_set, set(c.types) | set(c.intake.derived), c.sink)
    c.types.update({name: TableType(table) for name, table in lookups.items()} | dict.fromkeys(broken, BROKEN))


def _derived_stage(c: _Compiling) -> None:
    c.derived = _derived(c.intake, c.types, c.namespaces, c.today, c.sink)


def _rules_stage(c: _Compiling) -> None:
    c.rules, c.used_libraries = _rules(c.intake, c.policy_set, c.types, c.namespaces, c.today, c.sink)
    _check_set_aside_rules(c.intake, c.types, c.namespaces, c.today, c.sink)


def _tables_stage(c: _Compiling) -> None:
    c.tables = compile_tables(c.policy_set.tables, c.policy_set.sheets, c.policy_set.root, c.types, c.fields,
                              c.namespaces, c.today, c.sink)
    c.hit_groups = _table_rules(c.tables, c.rules, c.types, c.sink)


def _assurances_stage(c: _Compiling) -> None:
    if not c.policy_set.assurances:
        return
    templated = any(r.route_template is not None for r in c.rules)
    routes = set() if templated else {r.route for r in c.rules if r.route and r.effect == "review"}
    c.assurances = compile_assurances(c.policy_set, c.types, c.namespaces, c.today, routes,
                                      {r.id for r in c.rules if r.effect != "none"}, c.sink)


def _table_analysis_stage(c: _Compiling) -> None:
    _analyse_tables(c.tables, c.fields, c.intake.id_field, c.derived, c.strategy, c.today, c.sink)


def _scoring_stage(c: _Compiling) -> None:
    if not c.policy_set.scorings:
        return
    alignment_fields = {name for name, spec in c.fields.items() if spec.type == "alignment"}
    c.models = compile_models(c.policy_set.scorings, c.types, c.today, alignment_fields, c.sink,
                              c.policy_set.stable_name,
                              tables={name: (t.column(), *t.points_range, t.overlap)
                                      for name, t in c.tables.named("scoring").items()}) or []
    c.scoring = next((m.scoring for m in c.models if m.condition is None), c.models[0].scoring if c.models else None)


def _gates_stage(c: _Compiling) -> None:
    if c.policy_set.gates is not None:
        c.gates = compile_gates(c.policy_set.gates, c.types, c.today, c.sink, c.policy_set.stable_name)


def _health_stage(c: _Compiling) -> None:
    if c.policy_set.health is not None:
        c.health = compile_health(c.policy_set.health, c.today, c.sink, c.policy_set.stable_name,
                                  c.policy_set.portfolio)


def _kpis_stage(c: _Compiling) -> None:
    if c.policy_set.kpis is not None:
        c.kpis = compile_kpis(c.policy_set.kpis, c.today, c.sink, c.policy_set.stable_name)


# The compiler's stages, in order (as OPA's compiler lists its own): each reads what the ones before it made.
# Every stage runs even after errors, so one load reports every problem (up to the sink's limit, then counted).
STAGES: tuple[tuple[str, Callable[[_Compiling], None]], ...] = (
    ("strategy", _strategy_stage),  # objectives and weights, before the fields that read alignment
    ("fields", _fields_stage),  # field types
    ("lookups", _lookups_stage),  # kind: lookup tables, as typed constants
    ("derived", _derived_stage),  # derived values, in dependency order
    ("rules", _rules_stage),  # the intake rules, includes expanded with their parameters
    ("tables", _tables_stage),  # decision tables: each row a rule, appended after the YAML rules
    ("assurances", _assurances_stage),  # kind: assurances, checked against the rules
    ("table_analysis", _table_analysis_stage),  # gaps and overlaps, each with an example decided again
    ("scoring", _scoring_stage),  # scoring models
    ("gates", _gates_stage),  # stage gates
    ("health", _health_stage),  # health rules
    ("kpis", _kpis_stage),  # kind: kpis, the named measures
)


def compile_policy(policy_set: PolicySet, today: dt.date, sink: DiagnosticSink) -> CompiledPolicy | None:
    """The policy set compiled by STAGES, in order; None without an intake policy. Problems go to ``sink``."""
    intake = policy_set.intake
    if intake is None:
        return None
    c = _Compiling(policy_set, intake, today, sink)
    for _name, stage in STAGES:
        stage(c)
    return CompiledPolicy(
        fields=c.fields, field_types=c.types, derived=c.derived, rules=c.rules, id_field=intake.id_field,
        policy_hash=policy_set.hash(c.used_libraries), today=today, intake_file=intake.loc().file,
        strategy=c.strategy, scoring=c.scoring, scoring_models=tuple(c.models),
        portfolio=limits_from(policy_set.portfolio), gates=c.gates, health=c.health, kpis=c.kpis,
        files=[f.display for f in policy_set.files]
        + [policy_set.library_files[n].display for n in sorted(c.used_libraries)]
        + sorted({t.file for t in c.tables.tables}),
        source=policy_set, hit_groups=c.hit_groups, tables=c.tables.tables, assurances=c.assurances,
        used_libraries=frozenset(c.used_libraries),
    )


def _table_rules(tables: CompiledTables, rules: list[CompiledRule], types: dict[str, str],
                 sink: DiagnosticSink) -> tuple[HitGroup, ...]:
    """Append the rows of the intake tables to ``rules`` (after the YAML rules, in table and row order): one
    rule per row (rows of a collect table that share an id are one rule, firing when any of them matches)."""
    seen = {rule.id: rule.where for rule in rules}
    groups = []
    for table in tables.named("intake").values():
        positions: list[int] = []
        merged: dict[str, int] = {}
        for row in table.rows:
            if row.rule_id in merged:  # collect: another row of the same rule (same outputs, checked on reading)
                index = merged[row.rule_id]
                rule = rules[index]
                either = Logic(0, "or", [rule.condition, row.condition])
                either.type = BOOL
                rules[index] = dataclasses.replace(rule, condition=either)
                continue
            if row.rule_id in seen:
                sink.add("duplicate_rule", f"rule id '{row.rule_id}' is already used at {seen[row.rule_id]}",
                         row.where, "give each rule its own id (leave the rule column empty for NAME.ROW)")
                continue
            seen[row.rule_id] = row.label
            merged[row.rule_id] = len(rules)
            positions.append(len(rules))
            reason = None
            if row.reason and "{" in row.reason:  # rendered per proposal, as a YAML rule's reason is
                try:
                    reason = compile_template(row.reason, types)
                except ExprError as exc:
                    sink.add(exc.code, exc.message, row.where, exc.hint)
            rules.append(CompiledRule(row.rule_id, row.effect or "none", reason.text if reason else row.reason or "",
                                      row.route, row.where, row.label, row.condition,
                                      reason_template=reason if reason and not reason.static else None,
                                      table=table.name))
        if table.hit_policy != "collect" and len(positions) == len(table.rows):
            groups.append(table.group(positions))
    return tuple(groups)


def _analyse_tables(tables: CompiledTables, fields: dict[str, FieldSpec], id_field: str,
                    derived: list[tuple[str, Node]], strategy: CompiledStrategy | None, today: dt.date,
                    sink: DiagnosticSink) -> None:
    """Gaps, forbidden overlaps and rows that never match, each with an example proposal decided again."""
    if not tables.tables:
        return
    try:
        reader = RecordReader(fields, strategy)
    except Exception:  # a field schema with errors of its own (already reported): no examples to read
        return

    values = compiled_derived(derived)

    def record(raw: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return reader.read_derived(raw, values)
        except RecordError:
            return None

    for table in tables.tables:
        sink.extend(TableAnalysis(table, fields, id_field, dict(derived), record, today).diagnostics())


def _fields(intake: IntakePolicy, strategy: CompiledStrategy | None, sink: DiagnosticSink,
            strategy_broken: bool = False) -> tuple[dict[str, FieldSpec], dict[str, str]]:
    """``strategy_broken``: a strategy policy exists but has errors of its own (already reported)."""
    # A field whose declaration was set aside (a type 'numbr') is still a name the policy declares.
    types: dict[str, str] = {str(name): BROKEN for name in intake.set_aside("fields")}
    for name, spec in intake.fields.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in ("null", "true", "false", "params", "strategy"):
            sink.add("bad_name", f"'{name}' cannot be a field name", intake.key_loc("fields", name),
                     "use letters, digits and '_', starting with a letter; avoid reserved words")
            continue
        if spec.type == "enum" and not spec.values:
            sink.add("missing_key", f"enum field '{name}' needs 'values'", spec.loc())
        seen_case: dict[str, str] = {}
        for value in spec.values or []:
            if value.lower() in seen_case and seen_case[value.lower()] != value:
                sink.add("enum_values_alike", f"enum field '{name}' has the values '{seen_case[value.lower()]}' and "
                         f"'{value}', which differ only in case: cells are read without case, so a cell "
                         f"'{value.capitalize() if value.capitalize() not in (value, seen_case[value.lower()]) else value.upper()}' "
                         "would read as either", spec.loc("values"), "keep one of them, or give them other names")
            seen_case.setdefault(value.lower(), value)
        if spec.type == "list" and spec.items is None:
            sink.add("missing_key", f"list field '{name}' needs 'items' (number, money or string)", spec.loc())
        if spec.type != "enum" and spec.values is not None:
            sink.add("schema", f"'values' only applies to enum fields, and '{name}' is {spec.type}", spec.loc("values"))
        types[name] = AlignmentType(strategy.objectives) if spec.type == "alignment" and strategy else field_type(spec)
        if spec.type == "alignment" and strategy is None and not strategy_broken:
            sink.add("missing_strategy", f"alignment field '{name}' needs a usable strategy policy", spec.loc("type"),
                     "add a file with 'kind: strategy' listing the objectives")
            continue
        if spec.default is not None:
            try:
                converter(spec, strategy)(spec.default)
            except ValueProblem as exc:
                sink.add("bad_value", f"default of '{name}': {exc}", spec.loc("default"))
    if intake.id_field not in intake.fields:
        sink.add("unknown_field", f"id_field '{intake.id_field}' is not a field", intake.loc("id_field"),
                 did_you_mean(intake.id_field, intake.fields) or "declare it under 'fields'")
    return dict(intake.fields), types


def _expr_diag(sink: DiagnosticSink, error: ExprError, at: Location) -> None:
    sink.add(error.code, error.message, at.shifted(error.offset), error.hint)


def _derived(intake: IntakePolicy, types: dict[str, str], namespaces: Namespaces, today: dt.date,
             sink: DiagnosticSink) -> list[tuple[str, Node]]:
    parsed: dict[str, Node] = {}
    # A derived value that cannot be computed (set aside, unparsable, ill-typed) is still known by name: rules
    # that read it get no "not a field" on top of its own error.
    types.update({str(name): BROKEN for name in intake.set_aside("derived") if name not in types})
    for name, spec in intake.derived.items():
        if name in intake.fields:
            sink.add("duplicate_field", f"derived value '{name}' has the name of a field", spec.loc())
            continue
        try:
            parsed[name] = parse(spec.expr, namespaces)
        except ExprError as exc:
            _expr_diag(sink, exc, spec.loc("expr"))
            types[name] = BROKEN
    order = _topological(parsed, intake, sink)
    out = []
    for name in order:
        if name not in parsed:
            continue  # part of a cycle, already reported
        spec = intake.derived[name]
        try:
            node = check(parsed[name], types, today)
        except ExprError as exc:
            _expr_diag(sink, exc, spec.loc("expr"))
            types[name] = BROKEN
            continue
        types[name] = node.type if node.type != "null" else NUMBER
        out.append((name, node))
    return out


def _topological(parsed: dict[str, Node], intake: IntakePolicy, sink: DiagnosticSink) -> list[str]:
    """Derived values in an order where each comes after those it reads."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = chain[chain.index(name):] + [name]
            sink.add("cycle", f"derived values depend on each other: {' -> '.join(cycle)}",
                     intake.derived[name].loc("expr"), "break the loop; a derived value cannot use itself")
            for member in cycle:
                parsed.pop(member, None)
            return
        state[name] = "active"
        for dep in sorted(fields_of(parsed[name]) & parsed.keys() if name in parsed else ()):
            if dep in parsed:
                visit(dep, chain + [name])
        state[name] = "done"
        order.append(name)

    for name in list(parsed):
        if name in parsed:
            visit(name, [])
    return order


def _rules(intake: IntakePolicy, policy_set: PolicySet, types: dict[str, str], namespaces: Namespaces, today: dt.date,
           sink: DiagnosticSink) -> tuple[list[CompiledRule], set[str]]:
    rules: list[CompiledRule] = []
    seen: dict[str, Location] = {}
    used: set[str] = set()
    candidates: list[tuple[RuleSpec, Include | None]] = [(r, None) for r in intake.rules]
    renamed = _misnamed_libraries(intake, policy_set, sink)
    for included in intake.include:
        library_rule = _resolve(included, policy_set, sink, renamed)
        if library_rule is not None:
            name = included.use.split("/", 1)[0]
            used.add(renamed.get(name, name))
            candidates.append((library_rule, included))
    for spec, include in candidates:
        rule_id = (include.id if include and include.id else spec.id)
        where = (include.loc("id") if include and include.id else include.loc("use")) if include else spec.loc("id")
        if rule_id in seen:
            sink.add("duplicate_rule", f"rule id '{rule_id}' is already used at {seen[rule_id]}", where,
                     "give each rule its own id (an include can rename with 'id:')")
            continue
        seen[rule_id] = where
        compiled = _compile_rule(spec, include, rule_id, where, policy_set, types, namespaces, today, sink)
        if compiled is not None:
            rules.append(compiled)
    rules.sort(key=lambda r: (r.source.file, r.source.line, r.source.column))  # reading order of the file
    return rules, used


def _check_set_aside_rules(intake: IntakePolicy, types: dict[str, str], namespaces: Namespaces, today: dt.date,
                           sink: DiagnosticSink) -> None:
    """A rule set aside for a schema error (a bad effect, an unknown key) still has its condition checked, so
    every error of the file is reported in one run, not one more on each run after a fix."""
    for index, raw in intake.set_aside("rules").items():
        when = raw.get("when") if isinstance(raw, dict) else None
        if isinstance(when, str):
            try:
                check(parse(when, namespaces), types, today, want=BOOL)
            except ExprError as exc:
                _expr_diag(sink, exc, intake.loc("rules", index, "when"))


def _misnamed_libraries(intake: IntakePolicy, policy_set: PolicySet, sink: DiagnosticSink) -> dict[str, str]:
    """Includes name a library that does not exist, and one library, which nothing includes by its own name, is
    named like it: the library's 'name:' is the typo, not every include. One error at that name (instead of a
    did-you-mean pointing each include the wrong way); the includes are then resolved against that library.
    Returns {name as included: the library's actual name}."""
    used = [include.use.partition("/")[0] for include in intake.include]
    renamed: dict[str, str] = {}
    for wanted in dict.fromkeys(used):
        if wanted in policy_set.libraries:
            continue
        close = [name for name in policy_set.libraries if name not in used and did_you_mean(wanted, [name])]
        if len(close) != 1:
            continue
        actual = close[0]
        renamed[wanted] = actual
        sink.add("library_name", f"library '{actual}' is included as '{wanted}' ({used.count(wanted)} include"
                 f"{'s' if used.count(wanted) != 1 else ''}); did you mean '{wanted}'?",
                 policy_set.libraries[actual].loc("name"), f"correct its name: {wanted}")
    return renamed


def _resolve(include: Include, policy_set: PolicySet, sink: DiagnosticSink,
             renamed: dict[str, str] | None = None) -> LibraryRule | None:
    library_name, _, rule_id = include.use.partition("/")
    library = policy_set.libraries.get((renamed or {}).get(library_name, library_name))
    if library is None or not rule_id:
        hint = did_you_mean(library_name, policy_set.libraries) or (
            f"libraries: {', '.join(sorted(policy_set.libraries))}" if policy_set.libraries else "no libraries found")
        message = f"no library named '{library_name}'" if library is None else "write LIBRARY/RULE"
        sink.add("unknown_include", message, include.loc("use"), hint)
        return None
    rule = next((r for r in library.rules if r.id == rule_id), None)
    if rule is None:
        ids = [r.id for r in library.rules]
        sink.add("unknown_include", f"library '{library_name}' has no rule '{rule_id}'", include.loc("use"),
                 did_you_mean(rule_id, ids) or f"its rules: {', '.join(ids)}")
    return rule


def _params(rule: LibraryRule, include: Include, sink: DiagnosticSink) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    ok = True
    for name in include.with_:
        if name not in rule.params:
            sink.add("unknown_param", f"'{include.use}' has no parameter '{name}'", include.key_loc("with", name),
                     did_you_mean(name, rule.params) or f"parameters: {', '.join(rule.params) or 'none'}")
            ok = False
    for name, param in rule.params.items():
        raw = include.with_.get(name, param.default)
        if raw is None:
            sink.add("missing_param", f"'{include.use}' needs parameter '{name}'", include.loc("use"),
                     f"add it under 'with:' ({param.type}{': ' + param.description if param.description else ''})")
            ok = False
            continue
        try:
            values[name] = _param_value(param.type, raw)
        except ValueProblem as exc:
            sink.add("type_mismatch", f"parameter '{name}': {exc}", include.key_loc("with", name))
            ok = False
    return values if ok else None


def _param_value(kind: str, raw: Any) -> Any:
    if kind in ("number", "money", "integer"):
        return to_number(raw)
    if kind == "bool":
        return to_bool(raw)
    if kind == "date":
        return to_date(raw)
    if kind == "list":
        if not isinstance(raw, list):
            raise ValueProblem("expected a list")
        return [to_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in raw]
    return to_text(raw)


def _compile_rule(spec: RuleSpec, include: Include | None, rule_id: str, where: Location, policy_set: PolicySet,
                  types: dict[str, str], namespaces: Namespaces, today: dt.date, sink: DiagnosticSink) -> CompiledRule | None:
    spaces = dict(namespaces)
    if include is not None:
        assert isinstance(spec, LibraryRule)
        params = _params(spec, include, sink)
        if params is None:
            return None
        spaces["params"] = params
    effect = include.effect if include and include.effect else spec.effect
    route = include.route if include and include.route else spec.route
    reason = include.reason if include and include.reason else spec.reason
    params = dict(spaces.get("params", {}))
    route_template = _template(route, "route", spec, include, types, params, sink, policy_set) if route else None
    if route_template is not None and route_template.static:
        params.setdefault("route", route_template.text)
    reason_template = _template(reason, "reason", spec, include, types, params, sink, policy_set)
    try:
        condition = check(parse(spec.when, spaces), types, today, want=BOOL)
    except ExprError as exc:
        if include is None:
            _expr_diag(sink, exc, spec.loc("when"))
        else:  # the cause is usually this policy (a field it lacks), so point at the include
            sink.add(exc.code, f"in '{include.use}' ({spec.loc('when').shifted(exc.offset)}): {exc.message}",
                     include.loc("use"), exc.hint)
        return None
    if effect == "review" and not route:
        sink.add("missing_route", f"rule '{rule_id}' sends proposals to review but names no route",
                 spec.loc("effect") if include is None else include.loc("use"),
                 "add 'route:' with who must approve, e.g. route: Portfolio Board")
    stable = f"{policy_set.stable_name(where.file)}:{where.line}"
    return CompiledRule(rule_id, effect, reason_template.text if reason_template else reason,
                        route_template.text if route_template else route, where, stable, condition,
                        include.use if include else None,
                        reason_template if reason_template and not reason_template.static else None,
                        route_template if route_template and not route_template.static else None)


def _template(text: str, key: str, spec: RuleSpec, include: Include | None, types: dict[str, str],
              params: dict[str, Any], sink: DiagnosticSink, policy_set: PolicySet) -> Template | None:
    """A rule's reason or route as a template checked against the names' types; None (reported) if it is wrong.
    A route may only read fields that cannot be missing: a proposal without one would go to no real approver."""
    # the include that takes the text from its library unchanged; None: written here
    library = include if include is not None and getattr(include, key) is None else None
    own = library is None
    at = (spec if include is None else include).loc(key) if library is None else library.loc("use")
    try:
        template = compile_template(text, types, params)
    except ExprError as exc:
        if library is None:
            _expr_diag(sink, exc, at)
        else:
            sink.add(exc.code, f"in '{library.use}' {key} ({spec.loc(key).shifted(exc.offset)}): {exc.message}",
                     at, exc.hint)
        return None
    if key == "route":
        fields = policy_set.intake.fields if policy_set.intake else {}
        for name in template.names:
            field_spec = fields.get(name)
            if field_spec is None or not (field_spec.required or field_spec.default is not None):
                what = "a derived value" if field_spec is None else "a field that can be missing"
                sink.add("nullable_route", f"route reads '{name}', {what}: a proposal without it would be routed "
                         f"to '{template.render({})}'", at.shifted(text.find("{" + name) + 1) if own else at,
                         "route by a field that is required: true or has a default" if field_spec is None else
                         f"make '{name}' required: true, or give it a default")
                return None
    return template
