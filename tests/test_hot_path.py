"""The batch path's written-out and remembered steps give what the general ones give (issue #19)."""
import random
from decimal import Decimal

import pytest

from engine.backends.rete import driver
from engine.backends.rete.driver import Ruleset
from engine.compile.records import RecordError, RecordReader
from engine.expr.values import _display, display, plain
from engine.policy.models import FieldSpec

CONDITIONS = {
    "r0": {"$gt": {"f0": 100}},
    "r1": {"$and": [{"$lte": {"f0": 500}}, {"f1": "maintenance"}]},
    "r2": {"$or": [{"$nex": {"f2": 1}}, {"$neq": {"f1": "compliance"}}]},
    "r3": {"$and": [{"$ex": {"f0": 1}}, {"$ex": {"f3": 1}}, {"$gt": {"f0": {"$m": "f3"}}}]},
    "r4": {"f4": True},
}


def _fact(rng: random.Random) -> dict:
    fact = {"t": "p"}
    for slot, values in (("f0", [None, 0, 100, 101, 499, 500, 501, rng.randint(-5, 900)]),
                         ("f1", [None, "maintenance", "compliance", "growth", "x" * rng.randint(0, 3)]),
                         ("f2", [None, 1, "text"]), ("f3", [None, rng.randint(0, 600)]), ("f4", [None, True, False, 1])):
        value = rng.choice(values)
        if value is not None:
            fact[slot] = value
    return fact


def test_remembered_matches_equal_the_core_on_every_fact():
    """Facts whose slots fall in the same classes share a remembered result: it must be the core's."""
    remembered, fresh = Ruleset(CONDITIONS), Ruleset(CONDITIONS)
    rng = random.Random(19)
    for _ in range(3_000):
        fact = _fact(rng)
        for group in fresh._groups:
            group.memo = None  # the core, every time
        assert remembered.match(fact) == fresh.match(fact), fact
    assert any(group.hits for group in remembered._groups)


def test_a_ruleset_whose_facts_never_repeat_stops_remembering(monkeypatch):
    monkeypatch.setattr(driver, "MEMO_TRIAL", 20)
    ruleset = Ruleset({"r0": {"$gt": {"f0": {"$m": "f1"}}}})  # texts compared with each other: each its own class
    for i in range(40):
        assert ruleset.match({"t": "p", "f0": f"a{i:02}", "f1": "a20"}) == ({"r0"} if i > 20 else set())
    assert all(group.memo is None for group in ruleset._groups)


PAIRS = {  # as engine/backends/rete/lower.py writes a comparison of two slots
    "r0": {"$and": [{"$ex": {"f0": 1}}, {"$ex": {"f1": 1}}, {"$gt": {"f0": {"$m": "f1"}}}]},
    "r1": {"$and": [{"$ex": {"f2": 1}}, {"$ex": {"f3": 1}}, {"$lt": {"f2": {"$m": "f3"}}}]},
    "r2": {"$and": [{"$ex": {"f0": 1}}, {"$ex": {"f2": 1}}, {"f0": {"$m": "f2"}}]},
    "r3": {"$and": [{"$ex": {"f1": 1}}, {"$ex": {"f3": 1}}, {"$neq": {"f1": {"$m": "f3"}}}]},
    "r4": {"$and": [{"$gte": {"f1": 1000}}, {"$ex": {"f3": 1}}, {"$lte": {"f1": {"$m": "f3"}}}]},  # not guarded
    "r5": {"$and": [{"$ex": {"f0": 1}}, {"$ex": {"f3": 1}}, {"$or": [{"$gt": {"f0": {"$m": "f3"}}}, {"f2": 7}]}]},
}


def _pair_fact(rng: random.Random) -> dict:
    base = rng.choice([0, 1, 999, 1000, 1001, 4_607_182_418_800_017_408, 2**62 + 12345, -(2**62)])
    fact = {"t": "p"}
    for slot in ("f0", "f1", "f2", "f3"):
        value = rng.choice([None, None, base, base + 1, base - 1, base, rng.randint(-3, 3) + base, True, "1000"])
        if value is not None:
            fact[slot] = value
    return fact


def test_slots_compared_with_each_other_are_remembered_by_their_order_and_equal_the_core():
    """Two whole numbers compared with each other are a class by their order (larger, equal, smaller): adjacent
    keys (a number and the next double), equal ones, large ones, mixed types and missing values, against the core
    asked every time."""
    remembered, fresh = Ruleset(PAIRS), Ruleset(PAIRS)
    rng = random.Random(1919)
    for _ in range(4_000):
        fact = _pair_fact(rng)
        for group in fresh._groups:
            group.memo = None
        assert remembered.match(fact) == fresh.match(fact), fact
    for group in remembered._groups:
        assert group.memo is not None and group.hits > 1_000, (group.slots, group.hits)  # the classes repeat


def test_the_reference_policy_asks_the_core_seldom_on_a_batch(tmp_path):
    """On the benchmark's kind of file, every ruleset answers from its classes for nearly every row, the one
    comparing opex_per_year with budget and end_date with start_date included (issue #19)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import datetime as dt

    from batch_throughput import TODAY, write_input

    from engine.api import Engine
    from engine.io.readers import read_proposals

    source = tmp_path / "in.csv"
    write_input(source, 3_000)
    engine = Engine.load(today=dt.date.fromisoformat(TODAY), backend="rete")
    with read_proposals(source) as rows:
        decided = sum(1 for _ in engine.decide_plain(rows))
    assert decided == 3_000
    counts = engine._intake.backend.memo_counts()  # per group: slots, rows, facts the core was asked, remembering
    asked = sum(count[2] for count in counts)
    assert all(count[3] for count in counts) and all(count[1] == 3_000 for count in counts)
    assert asked < 3_000 * len(counts) // 10, counts


FIELDS = {"id": FieldSpec(type="string", required=True), "budget": FieldSpec(type="money"),
          "risk": FieldSpec(type="integer", min=1, max=5), "flag": FieldSpec(type="bool", default=False),
          "note": FieldSpec(type="string")}


@pytest.mark.parametrize("raw", [
    {"id": "P1", "budget": "1200", "risk": "3", "flag": "yes", "note": " hi "},
    {"id": "P2", "budget": "1,200.50", "risk": "9", "flag": "", "note": "Zoë"},
    {"id": "", "budget": "007", "risk": "2.5"},
    {"id": "P3", "budget": "1234567890123456", "risk": "1", "flag": "maybe"},
    {"id": "P4", "budget": 12, "risk": Decimal("2"), "flag": True, "note": "x"},
])
def test_the_written_out_reader_reads_as_the_general_one(raw):
    reader = RecordReader(FIELDS)

    def outcome(read):
        try:
            record = read(raw)
        except RecordError as exc:
            return exc.problems
        return list(record.items())
    assert outcome(reader.read) == outcome(reader.read_any)
    assert outcome(reader.read) == outcome(reader.read_any)  # memo filled


@pytest.mark.parametrize("value", [Decimal("1250000"), Decimal("0.039444"), Decimal("1.5"), Decimal("-2"),
                                   Decimal("1E+15"), Decimal("123456789012345"), Decimal("2E+20"), Decimal("1234.5"),
                                   "text", None, True, 3, 2.5, (Decimal("1"), Decimal("2"))])
def test_display_fast_paths_show_what_the_general_path_shows(value):
    assert display(value) == _display(plain(value))


@pytest.mark.parametrize("text", ["a / b", "a + 5 * coalesce(b, 0)", "days_between(d, e)", "npv(0.08, flows)",
                                  "coalesce(a, 1) > 2", "a"])
def test_remembered_expressions_give_what_the_compiled_ones_give(text):
    """Derived values remembered by the values of the fields they read: equal values written differently (1.0
    and 1, True and 1) and missing values are told apart, and the same value object comes back."""
    import datetime as dt

    from engine.expr.evaluate import compiled, remembered
    from engine.expr.parse import parse

    node = parse(text)
    plain_one, memo_one = compiled(node), remembered(node)
    rng = random.Random(text)
    numbers = [None, Decimal("1"), Decimal("1.0"), Decimal("0"), Decimal("2.50"), Decimal("-3"), True, 1]
    dates = [None, dt.date(2027, 3, 1), dt.date(2027, 12, 17)]
    flows = [None, (Decimal("-100"), Decimal("60"), Decimal("60")), (Decimal("-100"), Decimal("60.0"))]
    for _ in range(2_000):
        record = {"a": rng.choice(numbers), "b": rng.choice(numbers), "d": rng.choice(dates), "e": rng.choice(dates),
                  "flows": rng.choice(flows)}
        record = {k: v for k, v in record.items() if v is not None or rng.random() < 0.5}
        try:
            expected = plain_one(record)
        except TypeError:  # a bool where a number goes: not a record the reader makes
            continue
        got = memo_one(record)
        assert got == expected and type(got) is type(expected) and str(got) == str(expected), record


def test_a_remembered_expression_whose_inputs_never_repeat_stops_remembering():
    from engine.expr import evaluate
    from engine.expr.parse import parse

    function = evaluate.remembered(parse("a * 2"))
    for i in range(evaluate.MEMO_TRIAL + 10):
        assert function({"a": Decimal(i)}) == Decimal(i * 2)
    assert function.__closure__ is not None
    state = [c.cell_contents for c in function.__closure__ if isinstance(c.cell_contents, list)]
    assert state and state[0][2] is False and not [c.cell_contents for c in function.__closure__
                                                   if isinstance(c.cell_contents, dict)][0]


@pytest.mark.parametrize("text", ["Risk {risk} on {budget}; 100% sure", "{a}{b}", "%s {a} %% {b} %d", "{a} and {a}"])
def test_a_template_of_several_placeholders_renders_as_the_general_loop(text):
    """The renderer made once (a %-format of the displayed values) gives ``Template.render``'s text, a literal
    '%' included."""
    from engine.expr.template import compile_template
    template = compile_template(text, {"risk": "number", "budget": "number", "a": "string", "b": "number"})
    render = template.renderer()
    for record in ({}, {"risk": Decimal(3), "budget": Decimal("1250000.5"), "a": "x%sy", "b": None},
                   {"a": "", "b": Decimal("-0.125"), "risk": True}):
        assert render(record) == template.render(record)


def test_decisions_from_plans_equal_the_findings_made_rule_by_rule(engine):
    """A plain decision keeps its fired rules as a plan shared by the rows that fire them: its findings, rule ids,
    reasons and routes are what each rule's finding, made for the row alone, gives."""
    from engine.intake.decide import _SEVERITY
    intake = engine._intake
    rng = random.Random(1919)
    plans = set()
    for i in range(600):
        raw = {"id": f"PRJ-{i:04d}" if i % 9 else f"odd {i}", "title": "T", "budget": str(rng.choice([0, 900, 200_000, 3_000_000, rng.randint(1, 9_000_000)])),
               "sponsor": rng.choice(["", "Ann"]), "alignment": rng.choice(["", "net-zero:strong", "net-zero:low"]),
               "category": rng.choice(["maintenance", "growth"]), "benefit": str(rng.randint(0, 9_000_000)),
               "risk": str(rng.randint(1, 5)), "complexity": str(rng.randint(1, 5)), "headcount": str(rng.randint(1, 60)),
               "personal_data": rng.choice(["yes", "no"]), "vendor": rng.choice(["", "Acme 100%"])}
        verdict, record = intake.decide_plain(raw, i, "f.csv")
        if record is None:
            continue
        plans.add(id(verdict._plan))
        expected = [_finding_alone(rule, finding, record) for rule, finding in
                    (intake._findings[index] for index in intake.backend.fire(record)) if finding is not None]
        assert verdict.findings == expected
        assert verdict.rule_ids == "; ".join(f.rule for f in expected)
        assert verdict.reasons_text == "; ".join(f.reason for f in expected)
        worst = max((_SEVERITY[f.effect] for f in expected), default=0)
        assert verdict.decision == ("reject" if worst == 2 else "review" if worst == 1 else "accept")
        assert verdict.routes == ([] if worst == 2 else
                                  list(dict.fromkeys(f.route for f in expected if f.effect == "review" and f.route)))
        assert verdict.model().to_json() == verdict.to_json()
    assert 1 < len(plans) < 600  # shared by the rows that fire the same rules


def _finding_alone(rule, finding, record):
    """The rule's finding for this record, made without the batch path's plans or renderers: the templates'
    general render (the oracle of test_decisions_from_plans_equal_the_findings_made_rule_by_rule)."""
    changes = {}
    if rule.reason_template is not None:
        changes["reason"] = rule.reason_template.render(record)
    if rule.route_template is not None:
        changes["route"] = rule.route_template.render(record)
    return finding.model_copy(update=changes) if changes else finding
