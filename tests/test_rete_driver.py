"""The lean durable_rules driver: limits, rules firing once, reserved keys."""
import pytest

from engine.backends.rete.driver import MAX_FACT_KEYS, Ruleset, RulesetLimitError
from engine.backends.rete.lower import rete_value


def test_fact_over_the_property_limit_is_refused_clearly():
    """255 properties, less sid and id which the core adds: 252 of ours (see tests/test_core_limits.py)."""
    ruleset = Ruleset({"r0": {"$gt": {"f0": 1}}})
    with pytest.raises(RulesetLimitError, match="at most 252 properties"):
        ruleset.match({"t": "p", **{f"f{i}": 1 for i in range(MAX_FACT_KEYS)}})


def test_a_rule_with_or_is_reported_once():
    ruleset = Ruleset({"r0": {"$or": [{"$gt": {"f0": 1}}, {"$gt": {"f0": 2}}]}})
    assert ruleset.match({"t": "p", "f0": 5}) == {"r0"}


def test_assert_collect_retract_leaves_no_state():
    ruleset = Ruleset({"r0": {"$gt": {"f0": 1}}, "r1": None})
    for _ in range(3):  # the same fact again after retracting it
        assert ruleset.match({"t": "p", "f0": 5}) == {"r0", "r1"}
    assert ruleset.match({"t": "p", "f0": 0}) == {"r1"}


def test_non_ascii_strings_match():
    ruleset = Ruleset({"r0": {"f0": "Zoë Ødegaard ☃"}})
    assert ruleset.match({"t": "p", "f0": "Zoë Ødegaard ☃"}) == {"r0"}
    assert ruleset.match({"t": "p", "f0": "Zoe"}) == set()


def test_no_rules_means_nothing_fires():
    assert Ruleset({}).match({"t": "p"}) == set()


@pytest.mark.parametrize("value, fired", [
    (1e-7, {"tiny"}), (1e-5, set()), (0.0001, set()), (-1e-9, {"tiny"}), (1e20, {"huge"}), (9.9e18, set()),
    (1.5e16, set()), (0.0, {"tiny"}),
])
def test_floats_python_writes_with_an_exponent_are_compared_exactly(value, fired):
    """Found by `pmo explain`: the core refuses 1e-07 and 1e+20 in JSON (error 204); numbers reach it as
    integer keys (rete_value), which it reads the same in every locale."""
    ruleset = Ruleset({"tiny": {"$lt": {"f0": rete_value(0.00001)}}, "huge": {"$gt": {"f0": rete_value(1e19)}}})
    assert ruleset.match({"t": "p", "f0": rete_value(value)}) == fired
