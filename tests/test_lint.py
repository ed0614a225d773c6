"""Lint (engine/authoring/lint.py, engine/expr/domains.py): warnings for policies that load but are probably wrong."""
import io
import itertools
import json
import os
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.api
import engine.authoring.check
import engine.authoring.lint
from engine import Engine, validate
from engine.cli import main
from engine.expr.check import check
from engine.expr.domains import Choice, Line, Span, Values, canonical, conjunction, covers, domain_of, outcomes
from engine.expr.evaluate import evaluate
from engine.expr.nodes import BOOL, NUMBER, STRING
from engine.expr.parse import parse
from tests.conftest import ROOT, TODAY

LINT_EXAMPLE = ROOT / "examples" / "lint-policies"


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def lint(root):
    return [(d.code, d.location.line) for d in validate(root, today=TODAY, lint=True)]


# ---------------------------------------------------------------------------- the example and the reference set

def test_lint_example_gives_exactly_one_warning_of_each_kind(monkeypatch):
    monkeypatch.chdir(ROOT)  # diagnostics name files as paths from the working directory
    found = [(d.code, d.location.file, d.location.line, d.severity)
             for d in validate("examples/lint-policies", today=TODAY, lint=True)]
    library, policies = "examples/lint-library/checks.yaml", "examples/lint-policies/"
    assert found == [
        ("unused_library_rule", library, 11, "warning"),
        ("unused_stage", policies + "gates.yaml", 4, "warning"),
        ("unused_metric", policies + "gates.yaml", 7, "warning"),
        ("unused_field", policies + "intake.yaml", 21, "warning"),
        ("unused_derived", policies + "intake.yaml", 25, "warning"),
        ("include_outside_root", policies + "intake.yaml", 27, "warning"),
        ("never_fires", policies + "intake.yaml", 30, "warning"),
        ("always_fires", policies + "intake.yaml", 34, "warning"),
        ("duplicate_condition", policies + "intake.yaml", 42, "warning"),
        ("shadowed_rule", policies + "intake.yaml", 49, "warning"),
        ("unknown_enum_value", policies + "intake.yaml", 55, "warning"),
        ("missing_skips_rule", policies + "intake.yaml", 59, "warning"),
        ("unknown_objective", policies + "portfolio.yaml", 6, "warning"),
        ("weights_normalised", policies + "scoring.yaml", 6, "warning"),
        ("band_open_end", policies + "scoring.yaml", 10, "warning"),
        ("unused_strategy", policies + "strategy.yaml", 4, "warning"),
    ]
    # each file's comment names the mistakes it holds
    for path in list(LINT_EXAMPLE.glob("*.yaml")) + [ROOT / library]:
        header = path.read_text().split("\nkind:")[0]
        codes = {code for code, file, *_ in found if file.endswith(path.name)}
        assert codes and all(code in header for code in codes), path.name


def test_every_lint_code_is_documented():
    documented = set(re.findall(r"^\| `([a-z_]+)`", (ROOT / "docs" / "lint.md").read_text(), re.MULTILINE))
    found = {code for code, _ in lint(LINT_EXAMPLE)}
    assert found <= documented | {"band_open_end", "weights_normalised"}
    assert {"never_fires", "always_fires", "duplicate_condition", "shadowed_rule", "include_outside_root",
            "unknown_enum_value", "missing_skips_rule"} <= documented


def test_reference_policies_give_no_lint_warnings():
    assert validate(today=TODAY, lint=True) == []


def test_lint_needs_a_usable_set_and_never_runs_in_engine_load(write_policy, monkeypatch):
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, unused: string}\n"
                         "rules:\n  - {id: r, when: id == null and nope > 1, effect: flag, reason: r}\n"})
    assert [d.code for d in validate(root, today=TODAY, lint=True)] == ["unknown_field"]  # no unused_field

    def refuse(*args):
        raise AssertionError("lint ran in Engine.load")
    monkeypatch.setattr(engine.authoring.check, "lint_policy", refuse)  # its only caller
    monkeypatch.setattr(engine.authoring.lint, "lint_policy", refuse)
    Engine.load(today=TODAY)


# ---------------------------------------------------------------------------- the CLI

def test_validate_prints_warnings_and_strict_makes_them_errors():
    code, out, err = run("validate", str(LINT_EXAMPLE), "--today", "2026-12-01")
    assert code == 0 and out.count(": warning[") == 16 and "OK, 6 files, 9 rules" in out and "16 warnings" in out
    code, out, err = run("validate", str(LINT_EXAMPLE), "--strict")
    assert code == 2 and out.count(": error[") == 16 and "warning[" not in out
    assert "16 error(s); --strict counts warnings as errors" in err
    assert run("validate", "--strict")[0] == 0  # the reference policies are clean


def test_validate_json_has_the_codes_and_positions():
    code, out, _ = run("validate", str(LINT_EXAMPLE), "--format", "json")
    items = json.loads(out)
    assert code == 0 and len(items) == 16
    never = next(i for i in items if i["code"] == "never_fires")
    assert never["severity"] == "warning" and never["line"] == 30 and never["column"] == 11
    assert "risk > 5" in never["message"] and never["hint"]
    code, out, _ = run("validate", str(LINT_EXAMPLE), "--format", "json", "--strict")
    assert code == 2 and {i["severity"] for i in json.loads(out)} == {"error"}


def test_validate_compiles_the_policy_once(monkeypatch):
    calls = []
    real = engine.authoring.check.compile_policy
    monkeypatch.setattr(engine.authoring.check, "compile_policy", lambda *a: calls.append(1) or real(*a))
    code, out, _ = run("validate")
    assert code == 0 and "policy hash" in out and len(calls) == 1


def test_band_gaps_show_in_validate_with_code_and_line(write_policy):
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, size: number}\n",
                         "scoring.yaml": "kind: scoring\ncriteria:\n  - id: s\n    weight: 1\n    bands:\n"
                                         "      of: size\n      ranges:\n        - {below: 10, points: 1}\n"
                                         "        - {from: 20, points: 2}\n"})
    code, out, _ = run("validate", str(root), "--format", "json")
    assert code == 2 and [(i["code"], i["line"]) for i in json.loads(out)] == [("band_gap", 9)]


# ---------------------------------------------------------------------------- each check on a small policy

FIELDS = """kind: intake
fields:
  id: {type: string, required: true}
  risk: {type: integer, min: 1, max: 5}
  budget: {type: money, min: 0}
  amount: money
  count: integer
  category: {type: enum, values: [growth, compliance]}
  urgent: {type: bool, default: false}
  sponsor: {type: string, required: true}
rules:
"""


def rules_policy(write_policy, *rules, name="policies"):
    lines = "".join(f"  - {{id: r{i}, {rule}, reason: x}}\n" for i, rule in enumerate(rules, 1))
    return write_policy({"intake.yaml": FIELDS + lines}, name)


def rule_warnings(root):
    """The warnings about rules (FIELDS declares more fields than each test reads)."""
    return [d for d in validate(root, today=TODAY, lint=True) if d.code != "unused_field"]


def firing(write_policy, when, name="policies"):
    root = rules_policy(write_policy, f'when: "{when}", effect: flag', name=name)
    return [d.code for d in rule_warnings(root)]


@pytest.mark.parametrize("when, expected", [
    ("risk > 5", ["never_fires"]),
    ("risk < 1", ["never_fires"]),
    ("risk > 4 and risk < 5", ["never_fires"]),  # whole numbers only
    ("count > 4 and count < 5", ["never_fires"]),
    ("amount > 5 and amount < 3", ["never_fires"]),
    ("amount > 5 and not (amount > 3)", ["never_fires"]),
    ("category == 'Growth'", ["never_fires"]),
    ("category in ['x', 'y']", ["never_fires"]),
    ("urgent == null", ["never_fires"]),
    ("sponsor == null", ["never_fires"]),
    ("budget >= 0 or budget == null", ["always_fires"]),
    ("urgent or not urgent", ["always_fires"]),
    ("category in ['growth', 'compliance'] or category == null", ["always_fires"]),
    ("not (urgent == null)", ["always_fires"]),
    # sound: nothing to say
    ("risk >= 1 and risk <= 5", []),  # risk can be missing
    ("amount >= 0 or amount < 0", []),  # amount can be missing
    ("not (1 <= count <= 5)", []),
    ("risk > 4.5", []),
    ("category == 'growth'", []),
    ("(amount > 5 or count > 2) and amount < 3 and count < 2", []),  # true: never fires, but not provable here
    ("amount + 1 > amount", []),
    ("urgent", []),
])
def test_never_and_always_fires(write_policy, when, expected):
    assert firing(write_policy, when) == expected


def test_never_fires_points_at_the_test_and_suggests_the_enum_value(write_policy):
    root = rules_policy(write_policy, "when: budget > 10 and category == 'Growth', effect: flag")
    [diagnostic] = rule_warnings(root)
    assert (diagnostic.location.line, diagnostic.location.column) == (12, 36)  # at category, not at budget
    assert diagnostic.hint == "did you mean 'growth'? (enum values are compared as declared)"
    assert "category == \"Growth\" is never true (category: enum, values growth, compliance)" in diagnostic.message


def test_duplicates_after_normalisation(write_policy):
    root = rules_policy(write_policy, "when: amount > 1_000_000 and not (category != 'growth'), effect: flag",
                        "when: \"category == 'growth' and 1e6 < amount\", effect: reject",
                        "when: amount > 1_000_000 and category == 'compliance', effect: flag")
    assert [(d.code, d.location.line) for d in rule_warnings(root)] == [("duplicate_condition", 13)]


def test_a_review_under_a_broader_reject_is_shadowed(write_policy):
    root = rules_policy(write_policy, "when: amount > 1_000_000, effect: reject",
                        "when: amount > 2_000_000 and category == 'growth', effect: review, route: B",
                        "when: amount > 500_000, effect: review, route: B",  # wider than the reject: matters
                        "when: amount > 2_000_000, effect: flag",  # a flag still shows: fine
                        "when: count > 3 and count < 5, effect: reject",
                        "when: count == 4, effect: review, route: B")  # whole numbers: 4 is all count can be
    assert [(d.code, d.location.line) for d in rule_warnings(root)] == [("shadowed_rule", 13), ("shadowed_rule", 17)]


def test_an_or_in_the_reject_rule_is_not_used(write_policy):
    root = rules_policy(write_policy, "when: amount > 1_000_000 or count > 3, effect: reject",
                        "when: amount > 2_000_000, effect: review, route: B")
    assert rule_warnings(root) == []  # true, but only and-of-tests reject rules are compared (cheap and exact)


def test_unused_fields_and_derived_values(write_policy):
    root = write_policy({"intake.yaml": """kind: intake
fields:
  id: string
  title: {type: string, required: true}
  unit: {type: string, label: Business unit}
  notes: string
  budget: money
  benefit: money
  weight: number
derived:
  ratio: benefit / budget
  shown: {expr: budget * 2, label: Double}
  spare: budget - 1
rules:
  - {id: r, when: ratio > 2, effect: flag, reason: "{weight}"}
"""})
    assert lint(root) == [("unused_field", 6), ("unused_derived", 13)]


def test_scoring_and_gates_count_as_readers(write_policy):
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, a: number, b: number, c: number, "
                         "d: number, s: string}\n",
                         "scoring.yaml": "kind: scoring\ncriteria:\n  - {id: x, formula: a * 2, normalise: minmax, "
                         "weight: 1}\n  - {id: y, lookup: {of: s, table: {k: 1}}, weight: 1}\n"
                         "tie_breaks: [{by: b}]\n",
                         "gates.yaml": "kind: gates\nstages: [one, two, three]\nmetrics: {m: number, unused: number}\n"
                         "gates:\n  - id: g\n    from: one\n    to: two\n    must_meet:\n"
                         "      - {id: k, when: 'c > 0 and m > 1 and stage != \"three\"', reason: r}\n"
                         "    decision_rights:\n      - {when: d > 0, approvers: [x]}\n      - {approvers: [y]}\n"})
    assert lint(root) == [("unused_metric", 3), ("weights_normalised", 3)]  # gates.yaml, scoring.yaml


def test_unused_stage(write_policy):
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, a: number}\n",
                         "gates.yaml": "kind: gates\nstages: [one, two, three]\ngates:\n  - id: g\n    from: one\n"
                         "    to: two\n    must_meet: [{id: k, when: a > 0, reason: r}]\n"})
    assert [(d.code, d.location.column) for d in validate(root, today=TODAY, lint=True)] == [("unused_stage", 20)]


LIBRARY = "kind: library\nname: own\nrules:\n  - {id: used, when: a > 1, effect: flag, reason: r}\n" \
          "  - {id: spare, when: a > 2, effect: flag, reason: r}\n"
INCLUDING = "kind: intake\nfields: {id: string, a: number}\ninclude:\n  - use: own/used\n"


def test_library_rules_in_the_own_rules_folder_must_be_included(write_policy, tmp_path):
    root = write_policy({"intake.yaml": INCLUDING, "rules/own.yaml": LIBRARY})
    assert lint(root) == [("unused_library_rule", 5)]
    shared = write_policy({"own.yaml": LIBRARY}, "shared")  # a --rules folder: shared, so unused rules are fine
    alone = write_policy({"intake.yaml": INCLUDING}, "alone")
    assert [d.code for d in validate(alone, rules=[shared], today=TODAY, lint=True)] == []


def test_a_linked_rules_folder_reaches_outside_the_policy_root(write_policy, tmp_path):
    write_policy({"own.yaml": LIBRARY.replace("  - {id: spare", "  - {id: other")}, "elsewhere")
    root = write_policy({"intake.yaml": INCLUDING})
    os.symlink(tmp_path / "elsewhere", root / "rules")
    found = validate(root, today=TODAY, lint=True)
    assert [(d.code, d.location.line) for d in found] == [("include_outside_root", 4), ("unused_library_rule", 5)]
    assert "elsewhere/own.yaml" in found[0].message and found[0].severity == "warning"


def test_strategy_nothing_can_use_and_unknown_balance_objectives(write_policy):
    strategy = "kind: strategy\nobjectives:\n  - {id: net-zero, name: N, weight: 1}\n"
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string}\n", "strategy.yaml": strategy,
                         "portfolio.yaml": "kind: portfolio\nbalance:\n  - {by: objective, value: netzero, min_share: 0.1}\n"})
    found = validate(root, today=TODAY, lint=True)
    assert [(d.code, d.location.file.split("/")[-1]) for d in found] == [
        ("unknown_objective", "portfolio.yaml"), ("unused_strategy", "strategy.yaml")]
    assert found[0].hint == "did you mean 'net-zero'?"
    used = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, o: string}\nrules:\n"
                         "  - {id: r, when: o in strategy.objectives, effect: flag, reason: r}\n",
                         "strategy.yaml": strategy}, "used")
    assert lint(used) == []


# ---------------------------------------------------------------------------- ranges on fields

def test_out_of_range_values_are_error_rows_naming_the_column(write_policy):
    root = write_policy({"intake.yaml": "kind: intake\nfields:\n  id: string\n  risk: {type: integer, min: 1, max: 5}\n"
                         "  start: {type: date, min: 2026-01-01}\n"})
    engine = Engine.load(root, today=TODAY, backend="reference")
    decision = engine.evaluate({"id": "P", "risk": "7", "start": "2025-12-31"})
    assert decision.decision == "error"
    assert [(e.column, e.code, e.message) for e in decision.errors] == [
        ("risk", "out_of_range", "column 'risk': 7 is above the maximum 5"),
        ("start", "out_of_range", "column 'start': 2025-12-31 is below the minimum 2026-01-01")]
    assert engine.evaluate({"id": "P", "risk": 5, "start": "2026-01-01"}).decision == "accept"


@pytest.mark.parametrize("spec, code, message", [
    ("{type: string, min: 1}", "schema", "min and max apply only to number, money, integer and date fields"),
    ("{type: date, max: 5}", "schema", "min and max of a date field must be dates"),
    ("{type: number, min: 5, max: 1}", "schema", "min 5 is above max 1"),
    ("{type: integer, min: 1, max: 5, default: 9}", "bad_value", "default of 'x': 9 is above the maximum 5"),
])
def test_bad_ranges_are_refused_at_load(write_policy, spec, code, message):
    root = write_policy({"intake.yaml": f"kind: intake\nfields:\n  id: string\n  x: {spec}\n"})
    [diagnostic] = validate(root, today=TODAY)
    assert (diagnostic.code, diagnostic.location.line) == (code, 4) and message in diagnostic.message


# ---------------------------------------------------------------------------- the analysis is sound: brute force

TYPES = {"risk": NUMBER, "score": NUMBER, "category": STRING, "urgent": BOOL}
DOMAINS = {"risk": domain_of(NUMBER, low=Decimal(1), high=Decimal(5), integer=True),
           "score": domain_of(NUMBER, low=Decimal(0), high=Decimal(10)),
           "category": domain_of(STRING, choices=["a", "b", "c"]),
           "urgent": domain_of(BOOL, null=False)}
# Every value that can make a test differ: the domain's values, or its bounds, constants and points between.
POINTS = {"risk": [None, *map(Decimal, range(1, 6))],
          "score": [None, *map(Decimal, ["0", "1.25", "2.5", "3.75", "5", "7.5", "10"])],
          "category": [None, "a", "b", "c"], "urgent": [True, False]}
RECORDS = [dict(zip(POINTS, values)) for values in itertools.product(*POINTS.values())]
OPS = ["==", "!=", "<", "<=", ">", ">="]
ATOMS = ([f"risk {op} {k}" for op in OPS for k in (0, 1, 3, 5, 6)] + ["risk == null", "risk != null",
         "risk in [1, 3]", "risk not in [2]"] + [f"score {op} {k}" for op in OPS for k in (-1, 0, 2.5, 5, 10, 12)]
         + ["score == null", "score != null"] + [f'category {op} "{v}"' for op in ("==", "!=") for v in "abd"]
         + ['category in ["a", "d"]', 'category not in ["b"]', "category == null", "urgent", "not urgent",
            "urgent == true", "urgent != false", "urgent == null", "risk + 1 > 3", "score > risk"])
conditions = st.recursive(st.sampled_from(ATOMS), lambda inner: st.one_of(
    st.tuples(inner, inner).map(lambda p: f"({p[0]}) and ({p[1]})"),
    st.tuples(inner, inner).map(lambda p: f"({p[0]}) or ({p[1]})"),
    inner.map(lambda c: f"not ({c})")), max_leaves=6)


def typed(text):
    return check(parse(text), TYPES, TODAY, want=BOOL)


def in_box(record, box):
    for name, values in box.items():
        value = record[name]
        single = (Values(True, values.part & ~values.part) if value is None else
                  Values(False, Line((Span(value, value, True, True),)) if isinstance(values.part, Line)
                         else Choice(frozenset({value}))))
        if (single & values).empty:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(conditions)
def test_outcomes_contain_every_record_where_the_condition_is_or_is_not_true(text):
    node = typed(text)
    true_box, not_true_box = outcomes(node, DOMAINS)
    for record in RECORDS:
        if evaluate(node, record) is True:
            assert true_box is not None and in_box(record, true_box), (text, record)
        else:
            assert not_true_box is not None and in_box(record, not_true_box), (text, record)


@settings(max_examples=300, deadline=None)
@given(conditions, conditions)
def test_shadowing_and_normal_forms_are_sound(reject_text, review_text):
    reject, review = typed(reject_text), typed(review_text)
    if conjunction(reject) and covers(outcomes(reject, DOMAINS)[0], outcomes(review, DOMAINS)[0], DOMAINS):
        assert all(evaluate(reject, r) is True for r in RECORDS if evaluate(review, r) is True)
    if canonical(reject) == canonical(review):
        assert [evaluate(reject, r) for r in RECORDS] == [evaluate(review, r) for r in RECORDS]
    assert canonical(typed(f"not (not ({reject_text}))")) == canonical(reject)


def test_normal_form_examples():
    same = [("a > 1 and b < 2", "2 > b and not (a <= 1)"), ("a > 1 or (b < 2 or c == 1)", "c == 1 or b < 2 or a > 1"),
            ("u", "u == true"), ("not u", "u != true"), ("x == 1e6", "x == 1_000_000")]
    types = {"a": NUMBER, "b": NUMBER, "c": NUMBER, "x": NUMBER, "u": BOOL}
    for left, right in same:
        assert canonical(check(parse(left), types, TODAY)) == canonical(check(parse(right), types, TODAY))
    assert canonical(check(parse("a > 1"), types, TODAY)) != canonical(check(parse("a >= 1"), types, TODAY))



# ---------------------------------------------------------------------------- a missing value gets around a rule

LEVELS = """kind: intake
fields:
  id: {type: string, required: true}
  budget: money
  risk: integer
  level: {type: enum, values: [executive, manager]}
  known: {type: enum, values: [executive, manager], required: true}
  given: {type: enum, values: [executive, manager], default: manager}
  urgent: bool
rules:
"""


@pytest.mark.parametrize("when, warned", [
    ('budget > 10 and level != "executive"', "level"),  # found by an integrator: no level skipped the review
    ('level not in ["executive"] and budget > 10', "level"),
    ('not (level == "executive") and budget > 10', "level"),
    ('not (level in ["executive"]) and budget > 10', "level"),
    ("risk != 3", "risk"),
    ("not urgent and budget > 10", "urgent"),
    ('budget > 10 or level != "manager"', "level"),
    # the author said what a missing value does, or it cannot be missing, or the test is not "anything but"
    ('budget > 10 and (level == null or level != "executive")', None),
    ('budget > 10 and level != null and level != "executive"', None),
    ('coalesce(level, "manager") != "executive"', None),
    ('known != "executive"', None),
    ('given != "executive"', None),
    ('level == "manager" and budget > 10', None),
    ('not (level != "executive")', None),
    ("budget != null and risk > 3", None),
    ('level != "executive" and budget > 10 and budget < 5', None),  # never fires: never_fires says so
])
def test_anything_but_on_a_field_that_can_be_missing(write_policy, when, warned):
    root = write_policy({"intake.yaml": LEVELS + f"  - {{id: r1, when: '{when}', effect: review, route: Board, "
                                                  "reason: x}\n"})
    found = [d for d in validate(root, today=TODAY, lint=True) if d.code == "missing_skips_rule"]
    assert [d.message.split(" without ")[1].split(":")[0] for d in found] == ([warned] if warned else [])


def test_missing_skips_rule_points_at_the_test_and_says_both_fixes(write_policy):
    root = write_policy({"intake.yaml": LEVELS + "  - {id: exec, when: 'budget > 10 and level != \"executive\"', "
                                                 "effect: review, route: Board, reason: x}\n"})
    [d] = [d for d in validate(root, today=TODAY, lint=True) if d.code == "missing_skips_rule"]
    assert (d.location.line, d.location.column) == (11, 39)  # at the test on level, not at the rule
    assert d.message == ("rule 'exec' does not fire for a proposal without level: level != \"executive\" is unknown "
                         "when level is missing, not true, so leaving level out gets around the rule")
    assert d.hint.startswith('if a missing level should fire the rule, write (level == null or level != "executive")')
    # and the rule really does not fire without the field (the warning is about real behaviour)
    engine = Engine.load(root, today=TODAY)
    assert engine.evaluate({"id": "A", "budget": 20, "known": "manager", "level": "manager"}).decision == "review"
    assert engine.evaluate({"id": "B", "budget": 20, "known": "manager"}).decision == "accept"


def test_the_shipped_rules_fire_for_a_missing_sponsor_level_and_category():
    """The reference policies had the hole the lint finds: a sponsor of unknown level skipped the executive review,
    a regulatory proposal without a category skipped its flag."""
    engine = Engine.load(today=TODAY)
    base = {"id": "PRJ-9001", "title": "t", "business_unit": "IT", "sponsor": "A B", "alignment": "net-zero:strong",
            "category": "growth", "budget": 2_000_000, "benefit": 8_000_000, "start_date": "2027-06-01",
            "end_date": "2027-12-01", "risk": 2, "complexity": 2, "regulatory": "no", "personal_data": "no"}
    def rules(**change):
        proposal = {k: v for k, v in {**base, **change}.items() if v is not None}
        return [f.rule for f in engine.evaluate(proposal).findings]
    assert "executive-sponsor" in rules(sponsor_level=None)
    assert "executive-sponsor" in rules(sponsor_level="director")
    assert "executive-sponsor" not in rules(sponsor_level="executive")
    assert "regulatory-needs-compliance-category" in rules(regulatory="yes", category=None)
    assert "regulatory-needs-compliance-category" not in rules(regulatory="yes", category="compliance")


ENUMS = """kind: intake
fields:
  id: {type: string, required: true}
  budget: money
  category: {type: enum, values: [growth, maintenance]}
  business_unit: {type: enum, values: [IT, Finance, Legal]}
rules:
  - {id: not-maint, when: 'category != "maintainance" and budget > 19_000_000', effect: flag, reason: r}
  - {id: units, when: 'business_unit in ["IT", "Finanse"] and budget > 1', effect: flag, reason: r}
  - {id: case, when: 'business_unit == "It" or budget > 5', effect: flag, reason: r}
  - {id: typo-alone, when: 'category == "growht"', effect: flag, reason: r}
"""
SCORING = """kind: scoring
criteria:
  - {id: kind, lookup: {of: category, table: {growth: 5, maintainance: 2}}, scale: {min: 0, max: 5}, weight: 1}
"""


def test_enum_typos_in_comparisons_lists_and_lookups(write_policy):
    """Found by a policy author: a typo after != or inside an in-list, and a lookup key, went unnoticed."""
    root = write_policy({"intake.yaml": ENUMS, "scoring.yaml": SCORING})
    found = [(d.code, d.location.line, d.hint) for d in validate(root, today=TODAY, lint=True)]
    assert ("unknown_enum_value", 8, "did you mean 'maintenance'?") in found
    assert ("unknown_enum_value", 9, "did you mean 'Finance'?") in found
    assert ("unknown_enum_value", 10, "did you mean 'IT'? (enum values are compared as declared)") in found
    assert [c for c, line, _ in found if line == 11] == ["never_fires"]  # said once, not twice
    assert [(c, line) for c, line, _ in found if line == 3 and c == "unknown_enum_value"] == [("unknown_enum_value", 3)]


def test_an_override_role_misspelt_from_a_deciding_role_is_a_warning(write_policy):
    # 'executive-comittee' may override and nobody else: the committee that decides could never override.
    gates = ("kind: gates\nstages: [one, two]\ngates:\n  - id: g\n    from: one\n    to: two\n"
             "    must_meet: [{id: k, when: a > 0, reason: r}]\n"
             "    decision_rights:\n      - {when: a > 5, approvers: [executive-committee]}\n"
             "      - {approvers: [pmo-lead]}\n"
             "    overrides: [executive-comittee, chief-executive, pmo-lead]\n")
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, a: number}\n", "gates.yaml": gates})
    found = [(d.code, d.location.line, d.location.column, d.hint) for d in validate(root, today=TODAY, lint=True)]
    assert [f[:3] for f in found] == [("unknown_override_role", 11, 17)]  # a role of its own (chief-executive) is fine
    assert "did you mean 'executive-committee'" in found[0][3]


def test_a_table_row_with_no_outcome_is_no_duplicate_of_a_rule(tmp_path):
    """Was: a table row 'null | - | -' (README's fix for a table's gap: a row with '-' in its outputs when it needs
    no outcome) beside a YAML rule 'budget == null' (reject) gave duplicate_condition, 'merge the two rules': a row
    that makes no finding duplicates nothing, and the two cannot be merged. A row with an outcome still does."""
    import io

    from engine.cli import main
    (tmp_path / "intake.yaml").write_text(
        "kind: intake\nfields:\n  id: {type: string, required: true}\n  title: {type: string, required: true}\n"
        "  budget: {type: money}\nrules:\n  - id: budget-absent\n    when: budget == null\n    effect: reject\n"
        "    reason: A budget estimate is required\n", encoding="utf-8")
    (tmp_path / "tables.yaml").write_text(
        "kind: tables\ntables:\n  - {name: approvals, file: approvals.csv, hit_policy: unique, applies_to: intake}\n",
        encoding="utf-8")
    rows = ["budget,effect,route,reason,rule", "<= 250000,-,,,small", "> 250000,review,Board,Board approves,board"]

    def warnings(last_row):
        (tmp_path / "approvals.csv").write_text("\n".join(rows + [last_row]) + "\n", encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        main(["validate", str(tmp_path)], stdout=out, stderr=err)
        return [line for line in (out.getvalue() + err.getvalue()).splitlines() if "duplicate_condition" in line]
    assert warnings("null,-,,,sans-budget") == []
    assert len(warnings("null,flag,,No budget,sans-budget")) == 1
