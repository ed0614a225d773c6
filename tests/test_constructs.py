"""Issue #14: date parts, date(y, m, d), if(), NUMBER% — decided alike on both back ends."""
import datetime as dt

import pytest

from engine import Engine, PolicyError
from tests.conftest import TODAY

POLICY = """kind: intake
fields: {id: string, start_date: date, budget: money, contingency: number, regulatory: bool}
derived:
  freeze_start: date(year(start_date), 12, 20)
  limit: if(regulatory, 1_000_000, 250_000)
rules:
  - {id: in-freeze, when: "start_date >= freeze_start and start_date <= date(year(start_date), 12, 31)", effect: flag, reason: yearly freeze}
  - {id: new-year-freeze, when: "month(start_date) == 1 and day(start_date) <= 5", effect: flag, reason: early January}
  - {id: weekend-start, when: "weekday(start_date) >= 6", effect: flag, reason: starts on a weekend}
  - {id: thin-contingency, when: "contingency < 10%", effect: flag, reason: under ten percent}
  - {id: over-limit, when: "budget > limit", effect: flag, reason: over the limit}
  - {id: not-over-limit, when: "not (budget > limit)", effect: flag, reason: within the limit}
  - {id: regulated-text, when: 'if(regulatory, "yes", "no") == "yes"', effect: flag, reason: regulated}
"""


def fired(engine, proposal):
    decision = engine.evaluate({"id": "P1", **proposal})
    return {f["rule"] for f in decision.model_dump()["findings"]}


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    (root / "intake.yaml").write_text(POLICY, encoding="utf-8")
    return {name: Engine.load(root, today=TODAY, backend=name) for name in ("rete", "reference")}


CASES = [
    ({"start_date": "2027-12-24"}, {"in-freeze"}),  # a Friday
    ({"start_date": "2027-12-19"}, {"weekend-start"}),  # Sunday, the day before the freeze
    ({"start_date": "2028-01-03"}, {"new-year-freeze"}),  # Monday
    ({"start_date": "2028-01-08"}, {"weekend-start"}),  # Saturday, ISO weekday 6
    ({"contingency": 0.0999}, {"thin-contingency"}),
    ({"contingency": 0.1}, set()),  # 10% is exactly 0.10
    ({"budget": 500_000, "regulatory": False}, {"over-limit"}),
    ({"budget": 500_000, "regulatory": True}, {"not-over-limit", "regulated-text"}),
    ({"budget": 500_000}, set()),  # unknown condition: if() is null, so neither rule nor its negation fires
]


@pytest.mark.parametrize("backend", ["rete", "reference"])
@pytest.mark.parametrize("proposal, expected", CASES)
def test_constructs_decide_alike_on_both_back_ends(engines, backend, proposal, expected):
    assert fired(engines[backend], proposal) == expected


def _problems(write_policy, when: str) -> list:
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, start_date: date, flag: bool, n: number}\n"
                                        f"rules:\n  - {{id: a, when: '{when}', effect: flag, reason: r}}\n"})
    with pytest.raises(PolicyError) as caught:
        Engine.load(root, today=TODAY)
    return [(d.code, d.message) for d in caught.value.diagnostics]


@pytest.mark.parametrize("when, code, message", [
    ("start_date == date(2027, 2, 30)", "bad_value", "date(2027, 2, 30) is not a day of the calendar"),
    ("start_date == date(2027, 1.5, 3)", "bad_value", "is not a day of the calendar"),
    ("start_date == date(2027, 2)", "type_mismatch", "or three numbers"),
    ("if(n, 1, 2) > 0", "type_mismatch", "argument 1 must be a condition"),
    ('if(flag, 1, "x") == 1', "type_mismatch", "same type"),
    ("weekday(n) > 1", "type_mismatch", "argument 1 must be date"),
    ("n % 3 > 1", "syntax", "unsupported operator"),
])
def test_bad_constructs_are_located_errors_at_load(write_policy, when, code, message):
    [(got_code, got_message)] = _problems(write_policy, when)
    assert got_code == code and message in got_message


def test_date_from_parts_is_null_at_run_time_for_a_day_the_calendar_lacks(engines):
    """date(year(start_date), 2, 29) in a common year: null, so no rule on it fires (either way)."""
    from engine.expr.check import check
    from engine.expr.evaluate import evaluate
    from engine.expr.parse import parse
    node = check(parse("date(year(d), 2, 29)"), {"d": "date"}, TODAY)
    assert evaluate(node, {"d": dt.date(2027, 3, 1)}) is None
    assert evaluate(node, {"d": dt.date(2028, 3, 1)}) == dt.date(2028, 2, 29)


@pytest.mark.parametrize("text, offset", [
    ("n < 10% and zz > 1", 12),   # after a rewritten 10% the positions are the author's
    ("n < 12.5% + zz", 12),
    ("if(flag, zz, 1) > 0", 9),
    ('contains("10%", "%") and zz', 25),  # '%' inside text is text
])
def test_rewritten_text_keeps_error_positions(text, offset):
    from engine.expr.check import check
    from engine.expr.parse import ExprError, parse
    with pytest.raises(ExprError) as caught:
        check(parse(text), {"n": "number", "flag": "bool"}, TODAY)
    assert caught.value.code == "unknown_field" and caught.value.offset == offset


def test_2000_random_proposals_decide_alike_over_the_new_constructs(engines):
    import random
    rng = random.Random(14)
    seen = set()
    for i in range(2000):
        def maybe(value):
            return None if rng.random() < 0.15 else value
        proposal = {"start_date": maybe(f"{rng.randint(2026, 2029)}-{rng.choice([1, 2, 6, 12]):02d}-{rng.randint(1, 28):02d}"),
                    "contingency": maybe(rng.choice([0.1, 0.0999, 0.1001, rng.uniform(0, 0.3), "12%", -1])),
                    "budget": maybe(rng.choice([250_000, 250_000.01, 1_000_000, rng.randint(0, 2_000_000)])),
                    "regulatory": maybe(rng.random() < 0.5)}
        proposal = {k: v for k, v in proposal.items() if v is not None}
        a, b = (engines[n].evaluate({"id": f"P{i}", **proposal}).model_dump() for n in ("rete", "reference"))
        assert a == b, proposal
        seen |= {f["rule"] for f in a["findings"]}
    assert seen == {"in-freeze", "new-year-freeze", "weekend-start", "thin-contingency", "over-limit",
                    "not-over-limit", "regulated-text"}  # every rule fired somewhere: the sample reaches them


def test_lint_reports_no_never_or_always_firing_rule_on_the_new_constructs(tmp_path):
    from engine import validate
    (tmp_path / "intake.yaml").write_text(POLICY + """  - id: year-end-freeze
    when: >-
      start_date >= date(year(start_date), 12, 20)
      or (month(start_date) == 1 and day(start_date) <= 5)
    effect: review
    route: Change Board
    reason: Starts in the year-end change freeze
""", encoding="utf-8")
    assert validate(tmp_path, today=TODAY, lint=True) == []
