"""Earned value management, computed exactly.

Every figure is an exact rational (``fractions.Fraction``) computed straight from the inputs (BAC, PV, EV,
AC, a bottom-up ETC) and rounded once, at the end, to the expression language's 15 significant digits
(:func:`rounded`). No figure is computed from another rounded figure: EAC = BAC / CPI is BAC x AC / EV, not
BAC divided by a CPI shown as 0.90. A figure that cannot be computed (a division by zero, a missing input)
is ``None`` with a reason in ``Figures.why``, never an exception and never a guess.

    SV = EV - PV                  CV = EV - AC
    SPI = EV / PV                 CPI = EV / AC
    EAC, by variant:  cpi        BAC / CPI
                      remaining  AC + (BAC - EV)                 (the rest of the work at the planned rate)
                      cpi_spi    AC + (BAC - EV) / (CPI x SPI)   (cost and schedule performance compound)
                      bottom_up  AC + ETC                        (the team's own estimate to complete)
    ETC = EAC - AC                VAC = BAC - EAC
    TCPI (to BAC) = (BAC - EV) / (BAC - AC)      TCPI to EAC = (BAC - EV) / (EAC - AC)

Earned schedule (Lipke, "Schedule is Different", The Measurable News, 2003; PMI Practice Standard for EVM,
2nd ed., appendix D) works on a time axis: ES is the time at which the plan (the PV curve) reached today's
EV, found by linear interpolation between the PV points either side of it; then SV(t) = ES - AT,
SPI(t) = ES / AT and IEAC(t) = PD / SPI(t) (= PD x AT / ES), the duration the project will take at its
schedule efficiency so far. ES never exceeds the planned duration, so after the planned finish SV(t) keeps
growing more negative while the cost-based SPI creeps back to 1.

Roll-ups (tasks -> project -> portfolio -> strategic objective) sum BAC, PV, EV, AC and ETC, then compute
the ratios from the sums: a ratio is never averaged.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from engine.expr.values import CONTEXT

VARIANTS = {
    "cpi": "BAC / CPI",
    "remaining": "AC + (BAC - EV)",
    "cpi_spi": "AC + (BAC - EV) / (CPI x SPI)",
    "bottom_up": "AC + ETC (bottom-up estimate)",
}
INPUTS = ("bac", "pv", "ev", "ac")
FIGURES = ("bac", "pv", "ev", "ac", "sv", "cv", "spi", "cpi", "eac", "etc", "vac", "tcpi", "tcpi_eac",
           "eac_cpi", "eac_remaining", "eac_cpi_spi", "eac_bottom_up")
SCHEDULE = ("es", "at", "pd", "sv_t", "spi_t", "ieac_t")

Exact = Fraction
_divide = CONTEXT.divide
_ZERO = Decimal(0)


# why TCPI to BAC, (BAC - EV) / (BAC - AC), has no figure when AC has reached BAC
WORK_DONE = "the work is done (EV has reached BAC) and AC has reached BAC: no work is left to need an efficiency"
NO_BUDGET_LEFT = "AC has reached BAC: no efficiency finishes the work within the budget"


def exact(value: Decimal | int | Fraction | None) -> Fraction | None:
    """An input as an exact rational (a Decimal converts without loss)."""
    return None if value is None else Fraction(value)


def rounded(value: Fraction | None) -> Decimal | None:
    """One correct rounding to 15 significant digits (half even), the numbers of the expression language, so
    both rule back ends compare exactly these values. Decimal division is correctly rounded."""
    return None if value is None else _quotient(value.numerator, value.denominator)


@dataclass
class Figures:
    """Named figures (exact, or None) and, for each None, why."""

    values: dict[str, Fraction | None] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)

    def put(self, name: str, value: Fraction | None, why: str | None = None) -> None:
        self.values[name] = value
        if value is None:
            self.why[name] = why or "not computed"
        else:
            self.why.pop(name, None)

    def get(self, name: str) -> Fraction | None:
        return self.values.get(name)

    def decimals(self) -> dict[str, Decimal | None]:
        return {name: rounded(value) for name, value in self.values.items()}


def _missing(got: Mapping[str, Fraction | None], *names: str) -> str | None:
    absent = [n for n in names if got.get(n) is None]
    if not absent:
        return None
    return f"needs {' and '.join(n.upper() for n in absent)}, which {'is' if len(absent) == 1 else 'are'} missing"


def earned_value(bac: Fraction | None, pv: Fraction | None, ev: Fraction | None, ac: Fraction | None,
                 etc: Fraction | None = None, variant: str = "cpi") -> Figures:
    """Every earned value figure from one set of cumulative inputs; EAC (and so ETC, VAC, TCPI to EAC) by
    ``variant`` (one of VARIANTS). The inputs are exact (see :func:`exact`)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EAC variant {variant!r}; one of {', '.join(VARIANTS)}")
    got = {"bac": bac, "pv": pv, "ev": ev, "ac": ac, "etc": etc}
    out = Figures()
    for name in INPUTS:
        out.put(name, got[name], f"{name.upper()} is missing")

    def compute(name: str, needs: tuple[str, ...], formula: Callable[[Mapping[str, Fraction]], Fraction],
                zero: tuple[str, str] | None = None) -> None:
        """``formula`` of the ``needs`` (all present); ``zero``: (input or figure whose zero makes the figure
        undefined, the reason)."""
        present = {n: value for n in needs if (value := got.get(n)) is not None}
        if len(present) < len(needs):
            out.put(name, None, _missing(got, *needs))
        elif zero is not None and got[zero[0]] == 0:
            out.put(name, None, zero[1])
        else:
            out.put(name, formula(present))

    compute("sv", ("ev", "pv"), lambda v: v["ev"] - v["pv"])
    compute("cv", ("ev", "ac"), lambda v: v["ev"] - v["ac"])
    compute("spi", ("ev", "pv"), lambda v: v["ev"] / v["pv"], ("pv", "PV is 0: nothing was planned by the status date"))
    compute("cpi", ("ev", "ac"), lambda v: v["ev"] / v["ac"], ("ac", "AC is 0: nothing has been spent yet"))
    no_ev = ("ev", "EV is 0: no work earned yet, so no cost performance to project")
    compute("eac_cpi", ("bac", "ev", "ac"), lambda v: v["bac"] * v["ac"] / v["ev"], no_ev)
    compute("eac_remaining", ("bac", "ev", "ac"), lambda v: v["ac"] + (v["bac"] - v["ev"]))
    if got["pv"] == 0 and got["ev"]:
        out.put("eac_cpi_spi", None, "PV is 0: SPI is undefined")
    else:  # AC + (BAC - EV) / (EV/AC x EV/PV), as one fraction
        compute("eac_cpi_spi", ("bac", "pv", "ev", "ac"),
                lambda v: v["ac"] + (v["bac"] - v["ev"]) * v["ac"] * v["pv"] / (v["ev"] * v["ev"]), no_ev)
    compute("eac_bottom_up", ("ac", "etc"), lambda v: v["ac"] + v["etc"])
    if variant == "bottom_up" and etc is None:
        out.why["eac_bottom_up"] = "needs a bottom-up ETC (column etc), which is missing"
    chosen = f"eac_{variant}"
    eac = out.get(chosen)
    out.put("eac", eac, out.why.get(chosen))
    got["eac"] = eac
    compute("etc", ("eac", "ac"), lambda v: v["eac"] - v["ac"])
    if eac is None:
        out.put("etc", None, out.why["eac"])
    compute("vac", ("bac", "eac"), lambda v: v["bac"] - v["eac"])
    if eac is None:
        out.put("vac", None, out.why["eac"])
    if bac is None or ev is None or ac is None:
        out.put("tcpi", None, _missing(got, "bac", "ev", "ac"))
    elif bac - ac <= 0:
        out.put("tcpi", None, WORK_DONE if ev >= bac else NO_BUDGET_LEFT)
    else:
        out.put("tcpi", (bac - ev) / (bac - ac))
    if eac is None:
        out.put("tcpi_eac", None, out.why["eac"])
    elif bac is None or ev is None or ac is None:
        out.put("tcpi_eac", None, _missing(got, "bac", "ev", "ac"))
    elif eac - ac <= 0:
        out.put("tcpi_eac", None, "EAC does not exceed AC: nothing is left to spend")
    else:
        out.put("tcpi_eac", (bac - ev) / (eac - ac))
    return out


# ------------------------------------------------------------------------------------------ earned schedule

def earned_schedule(curve: Sequence[tuple[Fraction, Fraction]], ev: Fraction | None, at: Fraction,
                    pd: Fraction | None) -> Figures:
    """ES, SV(t), SPI(t) and IEAC(t) from the planned value curve.

    ``curve``: (time, cumulative PV) points in time order from (0, 0), the plan's start; between points PV
    grows linearly (Lipke's interpolation within a period). ``at``: the actual time elapsed at the status
    date; ``pd``: the planned duration (None when unknown: IEAC(t) is then None). Times in any unit (periods,
    days); every result is in the same unit.

    ES is the earliest time the plan had earned ``ev``: where PV stays flat at that value (after the planned
    finish PV stays at BAC), the start of the flat stretch, so ES never runs past the planned finish."""
    out = Figures()
    out.put("at", at)
    out.put("pd", pd, "the planned duration is unknown: give planned_finish (or report until PV reaches BAC)")
    es: Fraction | None = None
    why = None
    if ev is None:
        why = "needs EV, which is missing"
    elif any(b[0] < a[0] or b[1] < a[1] for a, b in zip(curve, curve[1:])):
        why = "PV falls (or time goes back) between status reports: earned schedule needs one baseline"
    elif not curve or ev > curve[-1][1]:
        why = "EV is beyond every planned value known: give planned_finish, so the plan after today is known"
    else:
        for (t0, p0), (t1, p1) in zip([(Fraction(0), Fraction(0))] + list(curve), curve):
            if p1 >= ev:
                es = t0 if p0 >= ev else t0 + (t1 - t0) * (ev - p0) / (p1 - p0)
                break
    out.put("es", es, why)
    if es is None:
        for name in ("sv_t", "spi_t", "ieac_t"):
            out.put(name, None, out.why["es"])
        return out
    out.put("sv_t", es - at)
    out.put("spi_t", es / at if at > 0 else None, "no time has passed (AT is 0)")
    if pd is None:
        out.put("ieac_t", None, out.why["pd"])
    elif es == 0:
        out.put("ieac_t", None, "ES is 0: no schedule performance to project")
    elif at <= 0:
        out.put("ieac_t", None, "no time has passed (AT is 0)")
    else:
        out.put("ieac_t", pd * at / es)  # PD / SPI(t), without rounding SPI(t)
    return out


# ------------------------------------------------------------------------------------------ roll-up

@dataclass(frozen=True)
class Inputs:
    """One item's cumulative inputs at a status date (exact; None = missing)."""

    bac: Fraction | None
    pv: Fraction | None
    ev: Fraction | None
    ac: Fraction | None
    etc: Fraction | None = None


def rollup(items: Iterable[Inputs], variant: str = "cpi") -> Figures:
    """Sum the inputs, then compute every figure from the sums (ratios of sums, never averages of ratios).
    An input missing for any item makes its sum missing, said with how many items lack it."""
    items = list(items)
    sums: dict[str, Fraction | None] = {}
    why: dict[str, str] = {}
    for name in INPUTS + ("etc",):
        values = [getattr(item, name) for item in items]
        absent = sum(v is None for v in values)
        if absent:
            sums[name] = None
            why[name] = f"{name.upper()} is missing for {absent} of {len(values)}"
        else:
            sums[name] = exact_sum(values)
    figures = earned_value(sums["bac"], sums["pv"], sums["ev"], sums["ac"], sums["etc"], variant)
    for name, reason in why.items():  # say which items lack an input, in every figure that needed it
        for figure, text in list(figures.why.items()):
            if name.upper() in text.split(", which")[0].split() or figure == name:
                figures.why[figure] = f"{text}; {reason}" if figure != name else reason
    return figures


# ------------------------------------------------------------------------------------------ the fast path

def _quotient(n: int, d: int) -> Decimal:
    """rounded(Fraction(n, d)) for d > 0, without building the Fraction: the quotient is the same rational
    whether or not n/d is in lowest terms, and Decimal division rounds it correctly once."""
    result = _divide(Decimal(n), d)  # (an int divisor is converted exactly, in C)
    return result + 0 if result else _ZERO  # never -0; + 0: an exponent above 0 written out (1.5E+7 as 15000000)


def exact_sum(values: Iterable[Fraction | Decimal | int]) -> Fraction:
    """sum(values, Fraction(0)), exactly, adding numerators over each denominator as integers: one Fraction
    per distinct denominator, not one per addition (money has few: 1, 100, a plan's working days)."""
    over: dict[int, int] = {}
    for value in values:
        n, d = value.as_integer_ratio()
        over[d] = over.get(d, 0) + n
    total = Fraction(0)
    for d, n in over.items():
        total += Fraction(n, d)
    return total


def percent_complete(ev: Fraction | Decimal, bac: Fraction | Decimal | None) -> Decimal | None:
    """EV / BAC, rounded once; None when BAC is 0 or missing."""
    if not bac:
        return None
    if isinstance(ev, Fraction) and isinstance(bac, Fraction) and bac.numerator > 0:  # one exact quotient of ints
        return _quotient(ev.numerator * bac.denominator, ev.denominator * bac.numerator)
    return rounded(Fraction(ev) / Fraction(bac))


def earned_value_rounded(bac: Fraction | None, pv: Fraction | None, ev: Fraction | None, ac: Fraction | None,
                         etc: Fraction | None = None,
                         variant: str = "cpi") -> tuple[dict[str, Decimal | None], dict[str, str]] | None:
    """``(figures.decimals(), figures.why)`` of :func:`earned_value`, computed on the inputs' integer numerators
    and denominators, each figure one exact fraction rounded once (the same numbers, several times faster: no
    Fraction is built or reduced). Only the usual case: every input given, PV, EV and AC above 0; None
    otherwise, and the caller computes :func:`earned_value` (which says why a figure is
    missing). tests/test_history.py checks both give the same on random inputs."""
    if not (isinstance(bac, Fraction) and isinstance(pv, Fraction) and isinstance(ev, Fraction)
            and isinstance(ac, Fraction) and (etc is None or isinstance(etc, Fraction))):
        return None  # a missing input (or an application's Decimal): earned_value says why / converts
    if pv.numerator <= 0 or ev.numerator <= 0 or ac.numerator <= 0:  # (denominators are positive)
        return None
    if variant not in VARIANTS or (variant == "bottom_up" and etc is None):
        return None
    bn, bd = bac.numerator, bac.denominator
    pn, pd = pv.numerator, pv.denominator
    en, ed = ev.numerator, ev.denominator
    an, ad = ac.numerator, ac.denominator
    q = _quotient
    rest_n, rest_d = bn * ed - en * bd, bd * ed  # BAC - EV
    eacs: dict[str, tuple[int, int] | None] = {
        "cpi": (bn * an * ed, bd * ad * en),
        "remaining": (an * rest_d + rest_n * ad, ad * rest_d),
    }
    spread_n, spread_d = rest_n * an * pn * ed * ed, rest_d * ad * pd * en * en  # (BAC - EV) / (CPI x SPI)
    eacs["cpi_spi"] = (an * spread_d + spread_n * ad, ad * spread_d)
    eacs["bottom_up"] = (an * etc.denominator + etc.numerator * ad, ad * etc.denominator) if etc is not None else None
    eac_n, eac_d = eacs[variant]  # type: ignore[misc]
    over_n, over_d = eac_n * ad - an * eac_d, eac_d * ad  # EAC - AC
    left_n, left_d = bn * ad - an * bd, bd * ad  # BAC - AC
    why = {} if etc is not None else {"eac_bottom_up": "needs ETC, which is missing"}
    values: dict[str, Decimal | None] = {
        "bac": q(bn, bd), "pv": q(pn, pd), "ev": q(en, ed), "ac": q(an, ad),
        "sv": q(en * pd - pn * ed, ed * pd), "cv": q(en * ad - an * ed, ed * ad),
        "spi": q(en * pd, ed * pn), "cpi": q(en * ad, ed * an),
    }
    for name, pair in eacs.items():
        values[f"eac_{name}"] = q(*pair) if pair is not None else None
    values["eac"] = values[f"eac_{variant}"]
    values["etc"] = q(over_n, over_d)
    values["vac"] = q(bn * eac_d - eac_n * bd, bd * eac_d)
    if left_n > 0:
        values["tcpi"] = q(rest_n * left_d, rest_d * left_n)  # (BAC - EV) / (BAC - AC)
    else:
        values["tcpi"] = None
        why["tcpi"] = WORK_DONE if rest_n <= 0 else NO_BUDGET_LEFT
    if over_n > 0:
        values["tcpi_eac"] = q(rest_n * over_d, rest_d * over_n)  # (BAC - EV) / (EAC - AC)
    else:
        values["tcpi_eac"] = None
        why["tcpi_eac"] = "EAC does not exceed AC: nothing is left to spend"
    return values, why
