"""Finance functions: npv, irr (every root, the one closest to 0), payback.

Results are numbers of the engine's model (15 significant digits), each rounded once, half to even:

- ``npv`` sums the discounted flows with 50 significant digits and an unlimited exponent, so no
  intermediate power (1.08^1200, 2^1000) overflows; only an NPV beyond 1e300 itself is null.
- ``payback`` keeps its running total exact and rounds the interpolated period.
- ``irr`` brackets the roots on a grid of the NPV (float arithmetic, scaled so nothing overflows), refines
  each with Brent's method, and then fixes the 15-digit rounding with signs of the 50-digit NPV: the
  result is the root correctly rounded to 15 significant digits, at any length of series.
"""
from __future__ import annotations

import math
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation
from typing import Any

from engine.expr.values import CONTEXT

# numpy and scipy's brentq load with the first irr() (_numerics): a command that computes none starts
# without them (scipy.optimize alone costs about 0.6 s; issue #15)
np: Any = None
brentq: Any = None


def _numerics() -> None:
    global np, brentq
    if brentq is None:
        # lazy: numpy and scipy load with the first irr()
        import numpy
        from scipy.optimize import brentq as found
        np, brentq = numpy, found

WIDE = Context(prec=50, rounding=ROUND_HALF_EVEN, Emax=999_999_999, Emin=-999_999_999,
               traps=[InvalidOperation, DivisionByZero])
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation])  # sums of our numbers
LOW, HIGH = Decimal("-0.9999"), Decimal(10)  # irr's range: -99.99% to 1,000%, both included
GRID = 4000  # grid points, evenly spaced in log(1 + rate): 0.29% of (1 + rate) apart
_STEPS = 400  # a bound on the bisection that fixes the last digit; each halves the bracket


def npv(rate: Decimal, flows: tuple[Decimal, ...]) -> Decimal | None:
    """Net present value; the first cash flow is at period 0 (undiscounted)."""
    if any(f is None for f in flows):
        return None
    return CONTEXT.plus(_npv_wide(rate, flows))  # Overflow (beyond 1e300) -> null, through call()


def _npv_wide(rate: Decimal, flows: tuple[Decimal, ...]) -> Decimal:
    base = WIDE.add(1, rate)
    total, factor = Decimal(0), Decimal(1)
    for flow in flows:
        total = WIDE.add(total, WIDE.divide(flow, factor))  # dividing keeps 110 / 1.1 exactly 100
        factor = WIDE.multiply(factor, base)
    return total


def _sign(rate: Decimal, flows: tuple[Decimal, ...]) -> int:
    value = _npv_wide(rate, flows)
    return 0 if not value else (1 if value > 0 else -1)


def irr(flows: tuple[Decimal, ...]) -> Decimal | None:
    """The internal rate of return closest to 0 (as numpy-financial picks); null if there is none."""
    roots = irr_all(flows)
    return min(roots, key=lambda r: (abs(r), r)) if roots else None


def irr_all(flows: tuple[Decimal, ...]) -> tuple[Decimal, ...] | None:
    """Every rate in [-99.99%, 1000%] where the NPV is 0, ascending; null when every flow is 0."""
    if any(f is None for f in flows):
        return None
    if not any(flows):
        return None  # every rate is a root: no rate of return
    changes = _sign_changes(flows)
    if changes == 0:
        return ()  # Descartes' rule of signs: no positive root in 1 / (1 + rate)
    _numerics()
    evaluate = _FloatNpv(flows)
    # One sign change: at most one root (Descartes), so the range's ends and 0 are grid enough.
    grid = [float(LOW), 0.0, float(HIGH)] if changes == 1 else _grid()
    points = [Decimal(g) for g in grid]
    points[0], points[-1] = LOW, HIGH  # the ends are decimals; the float grid only approximates them
    signs = _Signs(flows, points, evaluate.many(np.array(grid)), trust_floats=changes > 1)
    roots = {CONTEXT.plus(points[i]) for i in signs.zeros()}
    for i in signs.changes():
        found = _root(flows, evaluate, points[i], points[i + 1], signs[i])
        if found is not None:
            roots.add(found)
    return tuple(sorted(r for r in roots if LOW <= r <= HIGH))


class _Signs:
    """The NPV's sign at the grid points: from floats, except near a sign change or a zero, where float
    rounding could be wrong, and at the ends, where the 50-digit NPV decides."""

    def __init__(self, flows: tuple[Decimal, ...], points: list[Decimal], floats: np.ndarray, trust_floats: bool):
        self.flows, self.points = flows, points
        self.signs: list[int] = np.sign(np.nan_to_num(floats, nan=0.0)).astype(int).tolist()
        self.checked: set[int] = set()
        for i in (range(len(points)) if not trust_floats else (0, len(points) - 1)):
            self.check(i)
        while True:  # check both ends of every (apparent) change and their neighbours, until nothing moves
            todo = {j for i in self._suspects() for j in (i - 1, i, i + 1, i + 2)
                    if 0 <= j < len(points) and j not in self.checked}
            if not todo:
                break
            for j in todo:
                self.check(j)

    def check(self, i: int) -> None:
        self.signs[i] = _sign(self.points[i], self.flows)
        self.checked.add(i)

    def _suspects(self) -> list[int]:
        s = self.signs
        return [i for i in range(len(s) - 1) if s[i] * s[i + 1] <= 0]

    def __getitem__(self, i: int) -> int:
        return self.signs[i]

    def zeros(self) -> list[int]:
        return [i for i, s in enumerate(self.signs) if s == 0]

    def changes(self) -> list[int]:
        s = self.signs
        return [i for i in range(len(s) - 1) if s[i] * s[i + 1] < 0]


def _sign_changes(flows: tuple[Decimal, ...]) -> int:
    signs = [f > 0 for f in flows if f]
    return sum(a != b for a, b in zip(signs, signs[1:]))


def _grid() -> list[float]:
    points = np.expm1(np.linspace(math.log1p(float(LOW)), math.log1p(float(HIGH)), GRID)).tolist()
    points[0], points[-1] = float(LOW), float(HIGH)
    return sorted(set(points) | {0.0})  # 0 exactly: a root there (sum of flows 0) is found at a grid point


class _FloatNpv:
    """The NPV's sign in floats, without overflow: flows scaled to at most 1, and Horner's rule in
    v = 1 / (1 + rate) for rates >= 0, or in x = 1 + rate for rates < 0 (x^(n-1) * NPV, same sign)."""

    def __init__(self, flows: tuple[Decimal, ...]):
        top = max(abs(f) for f in flows)
        self.coeffs = [float(WIDE.divide(f, top)) for f in flows]  # at most 1: Horner's sums cannot overflow

    def one(self, rate: float) -> float:
        acc = 0.0
        if rate >= 0:
            v = 1.0 / (1.0 + rate)
            for c in reversed(self.coeffs):
                acc = acc * v + c
        else:
            x = 1.0 + rate
            for c in self.coeffs:
                acc = acc * x + c
        return acc

    def many(self, rates: np.ndarray) -> np.ndarray:
        out = np.empty(len(rates))
        up = rates >= 0
        for mask, variable, coeffs in ((up, 1.0 / (1.0 + rates[up]), self.coeffs[::-1]),
                                       (~up, 1.0 + rates[~up], self.coeffs)):
            acc = np.zeros(len(variable))
            with np.errstate(all="ignore"):
                for c in coeffs:
                    acc = acc * variable + c
            out[mask] = acc
        return out


def _root(flows: tuple[Decimal, ...], evaluate: _FloatNpv, low: Decimal, high: Decimal, low_sign: int) -> Decimal | None:
    """The root in [low, high] (the NPV has opposite signs there), correctly rounded to 15 digits."""
    try:
        guess = brentq(evaluate.one, float(low), float(high), xtol=1e-300, rtol=4 * np.finfo(float).eps,
                       maxiter=200, disp=False)
    except ValueError:  # float rounding puts both ends on one side; bisect the whole cell instead
        guess = None
    if guess is not None:
        candidate = CONTEXT.plus(Decimal(guess))
        below, above = _midpoints(candidate)
        s_below, s_above = _sign(below, flows), _sign(above, flows)
        if s_below == low_sign and s_above == -low_sign:
            return candidate  # the root lies strictly between the candidate's rounding midpoints
        if s_below == 0 or s_above == 0:  # the root is a midpoint itself: half to even
            return CONTEXT.plus(below if s_below == 0 else above)
        for point, s in ((below, s_below), (above, s_above)):  # narrow the bracket with what was learnt
            if low < point < high:
                low, high = (point, high) if s == low_sign else (low, point)
    return _bisect(flows, low, high, low_sign)


def _midpoints(x: Decimal) -> tuple[Decimal, Decimal]:
    """The numbers halfway to x's 15-digit neighbours: whatever lies between them rounds to x."""
    return (WIDE.divide(WIDE.add(x, x.next_minus(CONTEXT)), 2), WIDE.divide(WIDE.add(x, x.next_plus(CONTEXT)), 2))


def _bisect(flows: tuple[Decimal, ...], low: Decimal, high: Decimal, low_sign: int) -> Decimal:
    for _ in range(_STEPS):
        if CONTEXT.plus(low) == CONTEXT.plus(high):
            break  # rounding is monotone, so the root between them rounds the same way
        mid = WIDE.divide(WIDE.add(low, high), 2)
        if mid in (low, high):
            break  # 50 digits exhausted: the root is a 15-digit rounding midpoint to 50 digits
        s = _sign(mid, flows)
        if s == 0:
            return CONTEXT.plus(mid)
        if s == low_sign:
            low = mid
        else:
            high = mid
    return CONTEXT.plus(WIDE.divide(WIDE.add(low, high), 2))


def payback(flows: tuple[Decimal, ...]) -> Decimal | None:
    """Periods until the running total of cash flows turns non-negative (interpolated); null if never."""
    if any(f is None for f in flows):
        return None
    total = Decimal(0)
    for period, flow in enumerate(flows):
        previous, total = total, EXACT.add(total, flow)  # 15-digit sums would lose -1e15 + 0.4
        if total >= 0 and period > 0 and previous < 0:
            return CONTEXT.add(period - 1, CONTEXT.divide(-previous, flow))
        if total >= 0 and period == 0:
            return Decimal(0)
    return None
