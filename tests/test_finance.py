"""Finance functions (npv, irr, irr_all, payback): exact to the engine's 15 digits, checked against
numpy-financial's own test vectors and a 50-digit reference (mpmath) on random series."""
import decimal
import os
import random
from decimal import Decimal

import mpmath
import numpy_financial as npf
import pytest

from engine import Engine
from engine.expr.check import check
from engine.expr.evaluate import evaluate
from engine.expr.functions import FUNCTIONS, call
from engine.expr.parse import parse
from engine.expr.values import CONTEXT
from tests.conftest import TODAY

SCALE = max(1, int(os.environ.get("PMO_FUZZ_SCALE", "1")))
LOW, HIGH = Decimal("-0.9999"), Decimal(10)  # the range irr searches


def fn(name, *args):
    return call(FUNCTIONS[name], [tuple(Decimal(str(a)) for a in x) if isinstance(x, (list, tuple))
                                  else Decimal(str(x)) for x in args])


def value(text, **record):
    types = {"flows": "list[number]", "rate": "number"}
    return evaluate(check(parse(text), types, TODAY), {"flows": None, "rate": None, **record})


# --- the cases --------------------------------------------------------------------------

def test_irr_with_two_roots_returns_the_one_closest_to_zero_and_irr_all_gives_both():
    flows = [-100, 230, -132]  # NPV = 0 at 10% and at 20%
    assert fn("irr", flows) == Decimal("0.1")
    assert fn("irr_all", flows) == (Decimal("0.1"), Decimal("0.2"))
    # closest to 0 may be the negative one: roots -5% and 20%
    assert fn("irr", [-100, 215, -114]) == Decimal("-0.05")
    assert fn("irr_all", [-100, 215, -114]) == (Decimal("-0.05"), Decimal("0.2"))


@pytest.mark.parametrize("periods, coupon, par, rate", [
    (80, 1, 100, "0.01"),  # an 80-period bond bought at par yields its coupon rate
    (120, 5, 1000, "0.005"),  # a monthly series over 10 years
    (1200, 2, 100, "0.02"),
    (1200, "0.25", 100, "0.0025"),
])
def test_irr_of_long_series(periods, coupon, par, rate):
    flows = [-par] + [coupon] * (periods - 1) + [Decimal(par) + Decimal(str(coupon))]
    assert fn("irr", flows) == Decimal(rate)
    assert fn("irr_all", flows) == (Decimal(rate),)


def test_irr_of_an_80_period_annuity_matches_the_reference():
    flows = [-1000] + [20] * 80
    assert fn("irr", flows) == reference_roots([Decimal(f) for f in flows])[0]


@pytest.mark.parametrize("rate, flows, expected", [
    ("1", [1] * 1000, "2"),  # 2 - 2^-999: 2 to 15 digits (the old code overflowed at 2^1000)
    ("0.5", [1] * 2000, "3"),
    ("9", [-5] + [3] * 1500, "-4.66666666666667"),
    ("-0.5", [1, 1], "3"),
])
def test_npv_at_high_rates_over_many_periods_is_not_null(rate, flows, expected):
    assert fn("npv", rate, flows) == Decimal(expected)


def test_npv_is_null_only_beyond_the_number_range():
    assert fn("npv", "-0.99", [0] * 200 + [1]) is None  # 100^200 = 1e400: no 15-digit number holds it
    assert fn("npv", "-1", [1, 1]) is None  # division by zero
    assert fn("npv", "-1", [7]) == 7


def test_npv_is_rounded_once_to_15_digits():
    # numpy-financial's test_npv_decimal: Decimal('122.894854950942692161628715')
    assert fn("npv", "0.05", [-15000, 1500, 2500, 3500, 4500, 6000]) == Decimal("122.894854950943")
    assert fn("npv", "0.1", [-100, 110]) == 0  # exact cancellation stays exactly 0
    assert fn("npv", "0.25", [-100, 125]) == 0


# --- numpy-financial's test vectors -------------------------------------------------------------
# numpy_financial 1.0.0, tests/test_financial.py::test_irr, test_npv_irr_congruence, test_npv and the
# docstring examples of irr and npv in _financial.py.
NPF_IRR = [
    [-150000, 15000, 25000, 35000, 45000, 60000],  # 0.0524
    [-100, 0, 0, 74],  # -0.0955
    [-100, 39, 59, 55, 20],  # 0.28095
    [-100, 100, 0, -7],  # -0.0833
    [-100, 100, 0, 7],  # 0.06206
    [-5, 10.5, 1, -8, 1],  # 0.0886
    [-40000, 5000, 8000, 12000, 30000],  # npv(irr(x), x) == 0 within 1e-10
]


@pytest.mark.parametrize("flows", NPF_IRR)
def test_irr_agrees_with_numpy_financial(flows):
    ours = fn("irr", flows)
    theirs = npf.irr(flows)
    assert abs(float(ours) - theirs) <= 1e-12 * max(1.0, abs(theirs))
    assert ours == min(reference_roots([Decimal(str(f)) for f in flows]), key=abs)
    assert abs(npf.npv(float(ours), flows)) < 1e-10 * max(abs(f) for f in flows)


def test_numpy_financial_vectors_with_their_stated_values():
    assert round(fn("irr", [-100, 39, 59, 55, 20]), 5) == Decimal("0.28095")
    assert round(fn("irr", [-100, 0, 0, 74]), 5) == Decimal("-0.0955")
    assert round(fn("irr", [-100, 100, 0, -7]), 5) == Decimal("-0.0833")
    assert round(fn("irr", [-100, 100, 0, 7]), 5) == Decimal("0.06206")
    assert round(fn("irr", [-5, 10.5, 1, -8, 1]), 5) == Decimal("0.0886")
    assert fn("irr", [-1, -2, -3]) is None  # no solution (numpy-financial gh-6744: nan)
    assert round(fn("npv", "0.08", [-40_000, 5_000, 8_000, 12_000, 30_000]), 5) == Decimal("3065.22267")
    assert round(fn("npv", "0.05", [-15000, 1500, 2500, 3500, 4500, 6000]), 2) == Decimal("122.89")


@pytest.mark.parametrize("flows, expected", [
    ([1, -2, 1], (Decimal(0),)),  # a double root on the rate 0
    ([0, -100, 110], (Decimal("0.1"),)),  # a leading zero flow changes nothing
    ([-100, 110, 0, 0], (Decimal("0.1"),)),
    ([-1, 11], (Decimal(10),)),  # the range's ends are included
    ([-1, Decimal("0.0001")], (Decimal("-0.9999"),)),
    ([-1, 12], ()),  # 1100%: beyond the range
    ([5], ()),
    ([100, 50], ()),
])
def test_irr_edges(flows, expected):
    assert fn("irr_all", flows) == expected
    assert fn("irr", flows) == (min(expected, key=abs) if expected else None)


def test_irr_of_all_zero_flows_is_null():
    assert fn("irr", [0, 0, 0]) is None and fn("irr_all", [0, 0, 0]) is None


def test_irr_all_is_a_list_of_numbers_in_the_language():
    assert value("irr_all([-100, 230, -132])") == (Decimal("0.1"), Decimal("0.2"))
    assert value("len(irr_all(flows)) == 2 and 0.2 in irr_all(flows)", flows=(Decimal(-100), Decimal(230),
                                                                               Decimal(-132))) is True
    assert value("max(irr_all(flows))", flows=(Decimal(-100), Decimal(230), Decimal(-132))) == Decimal("0.2")
    assert value("irr_all(flows)") is None
    assert check(parse("irr_all(flows)"), {"flows": "list[number]"}, TODAY).type == "list[number]"


def test_irr_all_decides_alike_on_both_back_ends(write_policy):
    root = write_policy({"intake.yaml": """kind: intake
fields:
  id: string
  flows: {type: list, items: number}
derived:
  roots: irr_all(flows)
rules:
  - {id: two-rates, when: "len(irr_all(flows)) > 1", effect: review, route: Finance, reason: "{roots}"}
  - {id: ten, when: 0.1 in irr_all(flows), effect: flag, reason: r}
  - {id: low, when: irr(flows) < 0.15, effect: flag, reason: r}
  - {id: big-npv, when: "npv(1, flows) > 1.5", effect: flag, reason: r}
"""})
    engines = [Engine.load(root, today=TODAY, backend=b) for b in ("rete", "reference")]
    rows = [{"id": "A", "flows": "-100;230;-132"}, {"id": "B", "flows": "-100;60;70"}, {"id": "C", "flows": "5"},
            {"id": "D"}, {"id": "E", "flows": ";".join(["1"] * 1000)}]
    for row in rows:
        a, b = (e.evaluate(row) for e in engines)
        assert a.decision != "error", a.errors
        assert [f.rule for f in a.findings] == [f.rule for f in b.findings]
    fired = {row["id"]: [f.rule for f in engines[0].evaluate(row).findings] for row in rows}
    assert fired == {"A": ["two-rates", "ten", "low"], "B": [], "C": ["big-npv"], "D": [], "E": ["big-npv"]}


# --- a 50-digit reference -----------------------------------------------------------------------

def reference_npv(rate, flows):
    with mpmath.workdps(50):
        v = 1 / (1 + mpmath.mpf(str(rate)))
        total = mpmath.mpf(0)
        for f in reversed(flows):
            total = total * v + mpmath.mpf(str(f))
        return total


def to_decimal(x) -> Decimal | None:
    """A 50-digit mpmath value rounded once to the engine's 15 digits (None: beyond its range)."""
    try:
        return CONTEXT.plus(Decimal(mpmath.nstr(x, 45, strip_zeros=False, min_fixed=-1e9, max_fixed=1e9)))
    except decimal.Overflow:
        return None


def reference_roots(flows: list[Decimal]) -> list[Decimal]:
    return [to_decimal(r) for r in reference_rates(flows)]


def reference_rates(flows: list[Decimal]) -> list:
    """Every rate in [-99.99%, 1000%] with NPV 0, found without the engine: polynomial roots at 50 digits
    for short series; for long ones (one sign change in the flows, so at most one root, by Descartes' rule)
    the sign at both ends and a 50-digit root finder."""
    coeffs = list(flows)
    while coeffs and coeffs[0] == 0:
        coeffs.pop(0)
    while coeffs and coeffs[-1] == 0:
        coeffs.pop()
    with mpmath.workdps(50):
        if len(coeffs) < 2:
            return []
        if len(coeffs) <= 16:
            found = mpmath.polyroots([mpmath.mpf(str(c)) for c in reversed(coeffs)], maxsteps=400, extraprec=100,
                                     asc=True)
            rates = [mpmath.re(x) - 1 for x in found if abs(mpmath.im(x)) < mpmath.mpf("1e-30")
                     and mpmath.re(x) > 0]
        else:
            assert sign_changes(coeffs) == 1
            lo, hi = mpmath.mpf(str(LOW)), mpmath.mpf(str(HIGH))

            def f(r):
                return reference_npv_mp(r, flows)
            if f(lo) * f(hi) > 0:
                return []
            rates = [reference_bracketed_root(f, lo, hi)]
        return sorted(r for r in rates if LOW <= to_decimal(r) <= HIGH)


def reference_bracketed_root(f, lo, hi):
    """Bisection to 1e-6, then secant steps to 48 digits (the root is simple: one sign change)."""
    f_lo = f(lo)
    for _ in range(24):
        mid = (lo + hi) / 2
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    a, b, f_a, f_b = lo, hi, f_lo, f(hi)
    for _ in range(40):
        if f_b == f_a or abs(b - a) < mpmath.mpf("1e-48"):
            break
        a, b, f_a = b, b - f_b * (b - a) / (f_b - f_a), f_b
        f_b = f(b)
    return b


def reference_npv_mp(rate, flows):
    v = 1 / (1 + rate)
    total = mpmath.mpf(0)
    for f in reversed(flows):
        total = total * v + mpmath.mpf(str(f))
    return total


def sign_changes(flows) -> int:
    signs = [f > 0 for f in flows if f != 0]
    return sum(a != b for a, b in zip(signs, signs[1:]))


def random_flow(rng: random.Random) -> Decimal:
    digits = rng.choice([2, 4, 6, 9, 15])
    return Decimal(rng.randrange(-10 ** digits, 10 ** digits)).scaleb(-rng.randint(0, 4))


def random_series(rng: random.Random) -> list[Decimal]:
    if rng.random() < 0.1:  # long: investment in the first periods, then income (one sign change)
        n = rng.choice([100, 300, 600, 1200]) if rng.random() < 0.8 else 1200
        invest = rng.randint(1, 5)
        out = [-abs(random_flow(rng)) - 1 for _ in range(invest)]
        return out + [abs(random_flow(rng)) + 1 for _ in range(n - invest)]
    n = rng.randint(2, 12)
    return [random_flow(rng) if rng.random() > 0.15 else Decimal(0) for _ in range(n)]


def compare(seed: int, count: int):
    rng = random.Random(seed)
    roots = mismatched = 0
    worst = 0.0
    lengths = []
    for _ in range(count):
        flows = random_series(rng)
        lengths.append(len(flows))
        exact = reference_rates(flows)
        expected = [to_decimal(r) for r in exact]
        got = call(FUNCTIONS["irr_all"], [tuple(flows)])
        if got is None:
            got = ()
        roots += len(expected)
        if list(got) != expected:
            mismatched += 1
            print("mismatch", flows if len(flows) < 20 else len(flows), got, expected)
        for ours, ref in zip(got, exact):
            if ref:
                with mpmath.workdps(50):
                    worst = max(worst, float(abs(mpmath.mpf(str(ours)) - ref) / abs(ref)))
        rate = Decimal(rng.choice(["0.08", "0.035", "-0.5", "1", "9.5", "0.123456789012345"]))
        assert call(FUNCTIONS["npv"], [rate, tuple(flows)]) == to_decimal(reference_npv(rate, flows)), (rate, flows)
    return roots, mismatched, worst, lengths


def test_irr_and_npv_agree_with_a_50_digit_reference_on_random_series():
    """CI runs 150 series from a fixed seed (a tenth of them 100 to 1,200 periods long); --fuzz-scale 20 runs
    the full 3,000 from a fresh seed. Every root is the reference's, correctly rounded to 15 digits."""
    seed = 2026 if SCALE == 1 else random.randrange(2**32)
    count = 150 * SCALE
    roots, mismatched, worst, lengths = compare(seed, count)
    print(f"seed {seed}: {count} series ({sum(n >= 100 for n in lengths)} of 100+ periods, "
          f"{sum(n == 1200 for n in lengths)} of 1,200), {roots} reference roots, {mismatched} mismatches, "
          f"max relative error {worst:.3g}")
    assert mismatched == 0
    assert max(lengths) == 1200 and roots > count // 3


def test_payback_keeps_the_running_total_exact():
    # -1e15 + 0.4 rounded to 15 digits lost the 0.4s, so the total never turned non-negative (null)
    assert fn("payback", ["-1e15", "0.4", "0.4", "0.4", "999999999999999"]) == 4
    assert fn("payback", [-1000, 500, 700]) == Decimal("1.71428571428571")
    assert fn("payback", [-1000, 100]) is None
