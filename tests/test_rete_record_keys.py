"""The Rete back end remembers each group's answer by the classes of the record's own values
(engine/backends/rete/recordkeys.py): what it answers must be what the core answers when asked every time."""
import bisect
import datetime as dt
import math
import random
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.backends.reference import ReferenceBackend, Rules
from engine.backends.rete import ReteBackend
from engine.backends.rete.driver import Unsafe
from engine.backends.rete.lower import number_key, rete_value
from engine.backends.rete.recordkeys import decimal_bounds, key_double, plain_decimal
from engine.expr.check import check
from engine.expr.parse import parse
from tests.fuzz import fuzz

TODAY = dt.date(2026, 12, 1)


def asked_every_time(backend: ReteBackend, record: dict) -> list[int]:
    """The rules that fire, the core asked for every group without any memo (the answer to compare with)."""
    fact = backend._fact_of(record)
    fired: set[str] = set()
    try:
        for index in range(len(backend._ruleset.groups)):
            fired |= backend._ruleset.ask(index, fact)
    except Unsafe:
        return backend._reference.fire(record)
    return sorted(backend._index[name] for name in fired)


def outcome(function, record):
    """What a call gives: its value, or the type of what it raised (a float where the language has Decimals makes
    arithmetic raise, remembered or not)."""
    try:
        return function(record)
    except Exception as exc:
        return type(exc)


# -- the Decimal rule: a Decimal's place among the midpoints decides its key's class among the constants

def key_class(keys: list[int], value: Decimal) -> tuple[int, bool]:
    key = rete_value(value)
    return bisect.bisect_left(keys, key), key in keys


def value_class(bounds: list[Decimal], value: Decimal) -> tuple[int, bool]:
    return bisect.bisect_left(bounds, value), value in set(bounds)


doubles = st.floats(allow_nan=False, allow_infinity=True)
odd_keys = st.sampled_from([-1, 0, 1, -2, number_key(math.inf) + 1, -number_key(math.inf) - 2, 2**63 - 1, -(2**63)])


def near(bound: Decimal, rng: random.Random) -> list[Decimal]:
    """Decimals at and just around a bound (within a thousandth of an ulp, and half an ulp away)."""
    if not bound.is_finite():
        return [bound]
    scale = bound.adjusted() if bound else -330
    out = [bound]
    for digits in (17, 18, 25, 40):
        step = Decimal(1).scaleb(scale - digits)
        out += [bound + step * rng.randint(1, 9), bound - step * rng.randint(1, 9)]
    return out


@fuzz(400)
@given(st.lists(st.one_of(doubles.map(number_key), odd_keys), min_size=1, max_size=6), st.randoms(use_true_random=False),
       st.lists(st.decimals(allow_nan=False), max_size=20))
def test_a_decimals_place_among_the_midpoints_decides_its_key_class(keys, rng, extra):
    keys = sorted(set(keys))
    bounds = decimal_bounds(keys)
    values = [v for b in bounds for v in near(b, rng)] + extra + [Decimal(0), Decimal("-0"), Decimal("1e-400"),
                                                                   Decimal("-1e-400"), Decimal("1e400"),
                                                                   Decimal("Infinity"), Decimal("-Infinity")]
    for key in keys:
        double = key_double(key)
        if double is not None and not math.isinf(double):
            values += near(Decimal(double), rng)
    seen: dict[tuple[int, bool], tuple[int, bool]] = {}
    for value in values:
        found = seen.setdefault(value_class(bounds, value), key_class(keys, value))
        assert found == key_class(keys, value), (keys, value)


def test_the_key_of_a_double_inverts_number_key():
    for double in (0.0, 5e-324, -5e-324, 1.5, -2.0, 1.7976931348623157e308, -1.7976931348623157e308, math.inf, -math.inf):
        assert key_double(number_key(double)) == double
    assert key_double(-1) == 0.0 and math.copysign(1, key_double(-1)) == -1  # -0.0: no double's key
    assert key_double(number_key(math.inf) + 1) is None and key_double(-number_key(math.inf) - 2) is None


def test_a_decimal_subclass_that_keeps_decimal_comparisons_takes_the_decimal_rule():
    class Kept(Decimal):
        parts: dict

    class Changed(Decimal):
        def __float__(self):
            return 0.0

    assert plain_decimal(Decimal) and plain_decimal(Kept) and not plain_decimal(Changed) and not plain_decimal(int)


# -- the whole back end: remembered answers equal the core's, on rules of every kind the lowering writes

@dataclass(frozen=True)
class Rule:
    condition: object
    source: str = "test.yaml:1"


TYPES = {"n": "number", "m": "number", "d": "date", "e": "date", "s": "string", "b": "bool", "flows": "list[number]"}
CONDITIONS = [
    "n > 100", "n <= 0.1 and m > 0.3", "n == 0.300000000000001", "n < 1e-300 and n > 0",
    "n >= 12345678901234.5", "m > n", "m == null", "n != m", "d < date(\"2027-01-01\")", "e > d",
    "s == \"maintenance\" and n > 2_000_000", "s != \"compliance\" or b", "not b and m < 0", "s in [\"a\", \"b\", \"\"]",
    "matches(s, \"[a-c]+\")", "n / m > 2", "days_between(d, e) > 30", "flows != null and sum(flows) > n",
    "n in [1, 2, 3]", "n == 1 and m == 1", "b == true", "len(s) > 3",
]


@pytest.fixture(scope="module")
def backends():
    rules = [Rule(check(parse(text), TYPES, TODAY, "bool")) for text in CONDITIONS]
    policy = Rules(rules, TYPES, "test.yaml")
    return ReteBackend(policy), ReferenceBackend(policy)


def _numbers():
    edges = [Decimal(x) for x in ("100", "0.1", "0.3", "0.300000000000001", "1e-300", "12345678901234.5", "2000000",
                                  "0", "1", "2", "3", "-0")]
    return st.one_of(st.sampled_from(edges), st.builds(lambda e, k: e + Decimal(k).scaleb(-20), st.sampled_from(edges),
                                                       st.integers(-3, 3)),
                     st.decimals(allow_nan=False, allow_infinity=True), st.decimals(allow_nan=False, places=20),
                     st.integers(-10**6, 10**6).map(Decimal), st.integers(-5, 5), st.floats(allow_nan=False))


records = st.fixed_dictionaries({}, optional={
    "n": st.one_of(st.none(), _numbers()), "m": st.one_of(st.none(), _numbers()),
    "d": st.one_of(st.none(), st.dates(dt.date(2025, 1, 1), dt.date(2029, 1, 1))),
    "e": st.one_of(st.none(), st.dates(dt.date(2025, 1, 1), dt.date(2029, 1, 1))),
    "s": st.one_of(st.none(), st.sampled_from(["maintenance", "compliance", "a", "b", "", "abc", "zz", "x" * 5])),
    "b": st.one_of(st.none(), st.booleans()),
    "flows": st.one_of(st.none(), st.lists(st.integers(-5, 5).map(Decimal), max_size=3).map(tuple)),
})


@fuzz(1500)
@given(st.lists(records, min_size=1, max_size=30))
def test_remembered_answers_equal_the_core_asked_every_time(backends, batch):
    rete, reference = backends
    for record in batch:
        assert outcome(rete.fire, record) == outcome(lambda r: asked_every_time(rete, r), record), record


def test_many_records_hit_the_memo_and_equal_the_core(backends):
    rete, reference = backends
    rng = random.Random(1919)
    numbers = [None, Decimal("100"), Decimal("100.0000000000000000001"), Decimal("0.1"), Decimal("0.3"),
               Decimal("0.300000000000001"), Decimal("1e-301"), Decimal("12345678901234.5"), Decimal("-0"), 3]
    fresh = ReteBackend(Rules([Rule(check(parse(t), TYPES, TODAY, "bool")) for t in CONDITIONS], TYPES, "test.yaml"))
    for _ in range(3_000):
        record = {"n": rng.choice(numbers + [Decimal(rng.randint(-5, 3_000_000))]), "m": rng.choice(numbers),
                  "d": rng.choice([None, dt.date(2026, 12, 31), dt.date(2027, 1, 1), dt.date(2027, 3, 1)]),
                  "e": rng.choice([None, dt.date(2027, 1, 1), dt.date(2027, 6, 1)]),
                  "s": rng.choice([None, "maintenance", "compliance", "a", "abcd", ""]), "b": rng.choice([None, True, False])}
        assert fresh.fire(record) == asked_every_time(fresh, record), record
    counts = fresh.memo_counts()
    assert all(rows == 3_000 for _, rows, _, _ in counts)
    assert sum(asked for _, _, asked, _ in counts) < 3_000 * len(counts) // 2, counts  # most answers remembered


def test_a_group_whose_classes_never_repeat_stops_remembering(monkeypatch):
    from engine.backends.rete import backend as module
    monkeypatch.setattr(module, "MEMO_TRIAL", 20)
    types = {"s": "string", "t": "string"}
    rete = ReteBackend(Rules([Rule(check(parse("s == t"), types, TODAY, "bool"))], types, "t.yaml"))
    for i in range(60):
        assert rete.fire({"s": f"text {i}", "t": "text 59"}) == ([0] if i == 59 else [])  # two texts: their own class
    assert rete.fire({"s": "x", "t": "x"}) == [0]
    assert [remembering for _, _, _, remembering in rete.memo_counts()] == [False]
    assert not rete._memos[0]


def test_a_value_the_classes_cannot_take_is_decided_the_general_way(backends):
    rete, reference = backends
    for value in (Decimal("NaN"), Decimal("sNaN"), float("nan")):
        record = {"n": value, "m": Decimal(1), "s": "a"}
        try:
            expected = asked_every_time(rete, record)
        except Exception as exc:  # the general way raises: so does fire, the same exception
            with pytest.raises(type(exc)):
                rete.fire(record)
        else:
            assert rete.fire(record) == expected


def test_the_reference_policy_on_random_proposals_equals_the_core_asked_every_time(engines):
    from tests.test_backends_agree import random_proposal
    intake = engines["rete"]._intake
    rete = ReteBackend(intake.policy)
    rng = random.Random(7)
    for i in range(3_000):
        try:
            record = intake.record(random_proposal(rng, i))
        except Exception:
            continue
        assert rete.fire(record) == asked_every_time(rete, record), record


def test_rules_that_read_no_value_and_no_rules_at_all():
    assert ReteBackend(Rules([], {}, "t.yaml")).fire({"n": Decimal(1)}) == []
    types = {"n": "number"}
    rules = [Rule(check(parse(text), types, TODAY, "bool")) for text in ("1 < 2", "n > 1", "1 > 2")]
    rete = ReteBackend(Rules(rules, types, "t.yaml"))
    assert rete.fire({}) == [0] and rete.fire({"n": Decimal(2)}) == [0, 1]
    only = ReteBackend(Rules([rules[0]], types, "t.yaml"))  # one rule that always fires: a group without slots
    assert only.fire({}) == [0] and only.fire({"n": Decimal(5)}) == [0]
