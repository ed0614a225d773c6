"""Earned value and earned schedule: published worked examples, rounding traps, zeros, roll-ups."""
import datetime as dt
from decimal import Decimal
from fractions import Fraction as F

from engine.compile.portfolio import Calendar
from engine.health.evm import Inputs, earned_schedule, earned_value, rollup, rounded
from engine.health.status import WEEKDAYS, linear_pv


def D(text):
    return Decimal(text)


def test_the_pra_packages_worked_example():
    """Published example of the R package PRA (paulgovan/PRA, reference/pv.md, ev.md, ac.md, sv.md, cpi.md;
    after Damnjanovic & Reinschmidt, "Data analytics for engineering and construction project risk management",
    Springer 2020): BAC 100,000; planned schedule 10%, 20%, 40%, 70%, 100% by period; at period 3 the project
    is 35% complete and has cost 36,000 (actual costs 9,000, 18,000, 36,000, ...).
    Published: SV = -5000, CPI = 0.9722222 (printed to 7 places). PV and EV follow from the inputs (40,000 and
    35,000), and SPI = 35,000 / 40,000 = 0.875."""
    pv = F(100000) * F("0.4")
    ev = F(100000) * F("0.35")
    figures = earned_value(F(100000), pv, ev, F(36000))
    out = figures.decimals()
    assert out["pv"] == 40000 and out["ev"] == 35000
    assert out["sv"] == D("-5000")
    assert round(out["cpi"], 7) == D("0.9722222")
    assert out["spi"] == D("0.875")
    # the exact figures behind them: CPI = 35/36, EAC = BAC / CPI = 100,000 x 36/35
    assert figures.get("cpi") == F(35, 36)
    assert figures.get("eac") == F(3600000, 35)
    assert out["eac"] == D("102857.142857143")


def test_the_pra_atypical_eac():
    """PRA reference/eac.md, method "atypical": BAC 100,000, AC 63,000, EV 35,000 -> EAC = AC + (BAC - EV)
    = 128000 (published)."""
    figures = earned_value(F(100000), None, F(35000), F(63000), variant="remaining")
    assert figures.decimals()["eac"] == D("128000")
    assert figures.decimals()["etc"] == D("65000")  # PRA reference/etc.md: "ETC (planned rate): 65000"


def test_dividing_by_a_rounded_cpi_is_the_trap_the_engine_avoids():
    """PRA reference/eac.md publishes EAC (typical) = 100,000 / 0.83 = 120481.9: BAC divided by a CPI rounded to
    two places. A project reporting EV 35,000 and AC 42,200 shows that CPI (0.8294 rounds to 0.83), but its
    EAC is BAC x AC / EV = 120,571.43: 89.5 away. The engine never divides by a shown CPI."""
    figures = earned_value(F(100000), F(40000), F(35000), F(42200))
    assert round(figures.decimals()["cpi"], 2) == D("0.83")
    assert round(F(100000) / F("0.83"), 1) == F("120481.9")  # the published figure, reproduced
    assert figures.decimals()["eac"] == D("120571.428571429")
    assert figures.get("eac") == F(100000) * 42200 / 35000


def test_exact_figures_where_floats_and_shown_ratios_drift():
    # CPI = 300 / 333 = 0.9009...; EAC = 1000 x 333 / 300 = 1110 exactly, ETC 777, VAC -110
    out = earned_value(F(1000), F(400), F(300), F(333)).decimals()
    assert (out["eac"], out["etc"], out["vac"]) == (D("1110"), D("777"), D("-110"))
    assert round(F(1000) / F("0.90"), 2) == F("1111.11")  # BAC over the CPI a report shows (0.90): 1.11 off
    # TCPI to EAC equals CPI when EAC = BAC / CPI: exactly, not to within rounding
    figures = earned_value(F(1000), F(400), F(300), F(333))
    assert figures.get("tcpi_eac") == figures.get("cpi")
    # one rounding, at 15 significant digits, half even
    assert rounded(F(2, 3)) == D("0.666666666666667") and rounded(F(1, 8)) == D("0.125")


def test_every_eac_variant():
    figures = earned_value(F(1000), F(500), F(400), F(500), etc=F(700), variant="cpi_spi")
    v = figures.values
    assert v["eac_cpi"] == F(1000) * 500 / 400  # 1250
    assert v["eac_remaining"] == 500 + (1000 - 400)  # 1100
    assert v["eac_cpi_spi"] == 500 + F(600) / (F(400, 500) * F(400, 500))  # 500 + 600 / 0.64 = 1437.5
    assert v["eac_bottom_up"] == 1200
    assert v["eac"] == v["eac_cpi_spi"] and v["etc"] == F(1875, 2) and v["vac"] == F(-875, 2)
    assert v["tcpi"] == F(600, 500) and v["tcpi_eac"] == F(600) / (F(2875, 2) - 500)
    assert earned_value(F(1000), F(500), F(400), F(500), etc=F(700), variant="bottom_up").get("eac") == 1200


def test_zeros_and_missing_inputs_are_none_with_a_reason():
    nothing_yet = earned_value(F(1000), F(0), F(0), F(0))
    assert nothing_yet.get("spi") is None and "PV is 0" in nothing_yet.why["spi"]
    assert nothing_yet.get("cpi") is None and "AC is 0" in nothing_yet.why["cpi"]
    assert nothing_yet.get("eac") is None and "EV is 0" in nothing_yet.why["eac"]
    assert nothing_yet.get("etc") is None and nothing_yet.get("vac") is None
    assert nothing_yet.get("sv") == 0 and nothing_yet.get("tcpi") == 1
    spent = earned_value(F(1000), F(900), F(800), F(1000))
    assert spent.get("tcpi") is None and "AC has reached BAC" in spent.why["tcpi"]
    no_pv = earned_value(F(1000), None, F(300), F(250))
    assert no_pv.get("spi") is None and no_pv.why["spi"] == "needs PV, which is missing"
    assert no_pv.get("cpi") == F(6, 5) and no_pv.get("eac") == F(2500, 3)
    assert "needs PV" in no_pv.why["eac_cpi_spi"]
    no_etc = earned_value(F(1000), F(400), F(300), F(250), variant="bottom_up")
    assert no_etc.get("eac") is None and "ETC" in no_etc.why["eac"] and no_etc.get("etc") is None


def test_tcpi_of_finished_work_says_the_work_is_done_not_that_no_efficiency_finishes_it():
    """A closed project (EV = BAC) that spent its budget or more has no TCPI; the reason is that nothing is left to
    finish (pmo health showed 'no efficiency finishes the work within the budget' for CRM and TWIN, finished). Both
    ways of computing the figures say the same."""
    from engine.health.evm import earned_value_rounded
    for ac in (F(1000), F(1200)):
        done = earned_value(F(1000), F(1000), F(1000), ac)
        assert done.get("tcpi") is None and done.why["tcpi"].startswith("the work is done"), done.why["tcpi"]
        figures, why = earned_value_rounded(F(1000), F(1000), F(1000), ac)
        assert figures["tcpi"] is None and why["tcpi"] == done.why["tcpi"]
    under = earned_value(F(1000), F(1000), F(1000), F(900))
    assert under.get("tcpi") == 0  # finished under budget: no efficiency is needed on no remaining work
    figures, why = earned_value_rounded(F(1000), F(900), F(800), F(1000))
    assert figures["tcpi"] is None and "AC has reached BAC" in why["tcpi"]  # work left, the budget spent


def test_rollup_sums_then_divides_never_averages_ratios():
    small = Inputs(F(100), F(100), F(90), F(100))  # CPI 0.9
    large = Inputs(F(2000), F(1000), F(1000), F(800))  # CPI 1.25
    figures = rollup([small, large])
    assert figures.get("cpi") == F(1090, 900)  # 1.2111..., where the average of the CPIs is 1.075
    assert figures.get("spi") == F(1090, 1100)
    assert figures.get("eac") == F(2100) * 900 / 1090
    partial = rollup([small, Inputs(F(50), None, F(10), F(10))])
    assert partial.get("pv") is None and partial.get("spi") is None
    assert "PV is missing for 1 of 2" in partial.why["spi"]
    assert partial.get("cpi") == F(100, 110)  # CPI needs no PV


def test_earned_schedule_is_lipkes_interpolation():
    """Lipke's ES (The Measurable News, March 2003; "Earned Schedule Concept", which illustrates it as
    ES = 5 + (EV - PV(May)) / (PV(June) - PV(May)) at AT = 7 for a project that has earned all of May's PV and
    part of June's by the end of July): ES = C + (EV - PV_C) / (PV_C+1 - PV_C), SV(t) = ES - AT,
    SPI(t) = ES / AT, IEAC(t) = PD / SPI(t). Here on the PRA example's plan (10/20/40/70/100% of 100,000 by
    period) with EV 35,000 at AT = 3: ES = 2 + 15,000 / 20,000 = 2.75 (our hand computation by the formula)."""
    curve = [(F(t), F(100000) * F(p)) for t, p in ((1, "0.1"), (2, "0.2"), (3, "0.4"), (4, "0.7"), (5, "1"))]
    figures = earned_schedule(curve, F(35000), at=F(3), pd=F(5))
    assert figures.get("es") == F(11, 4)
    assert figures.get("sv_t") == F(-1, 4)
    assert figures.get("spi_t") == F(11, 12)
    assert figures.get("ieac_t") == F(5) * 3 / F(11, 4)  # 5.4545... periods: PD / SPI(t), exact
    # the shape of the published illustration: all of May (5) and part of June earned at the end of July (7)
    months = [(F(m), F(pv)) for m, pv in enumerate((100, 200, 350, 500, 650, 800, 900, 1000), start=1)]
    july = earned_schedule(months[:7], F(700), at=F(7), pd=F(8))
    assert july.get("es") == 5 + F(700 - 650, 800 - 650) and july.get("sv_t") < 0 and july.get("spi_t") < 1


def test_earned_schedule_stays_honest_after_the_planned_finish():
    """After the planned finish, PV stays at BAC, so SPI = EV / PV climbs back to 1 by completion while the
    project is late; ES never passes PD, so SPI(t) keeps saying how late (Lipke's reason for ES)."""
    plan = [(F(1), F(10)), (F(2), F(30)), (F(3), F(60)), (F(4), F(100))]  # PD = 4, BAC = 100
    late = plan + [(F(5), F(100)), (F(6), F(100))]
    at6 = earned_schedule(late, F(90), at=F(6), pd=F(4))
    assert at6.get("es") == 3 + F(30, 40)  # 3.75: the plan had earned 90 three quarters into period 4
    assert at6.get("sv_t") == F(-9, 4) and at6.get("spi_t") == F(15, 24)
    assert at6.get("ieac_t") == F(4) * 6 / F(15, 4)  # 6.4 periods
    done = earned_schedule(late + [(F(7), F(100))], F(100), at=F(7), pd=F(4))
    assert done.get("es") == 4  # the earliest time the plan reached BAC, not the last flat point
    assert done.get("spi_t") == F(4, 7) and done.get("ieac_t") == 7  # finished at 7: the forecast is the actual
    spi_at_completion = earned_value(F(100), F(100), F(100), F(120)).get("spi")
    assert spi_at_completion == 1  # the cost-based index says "on schedule"


def test_earned_schedule_without_what_it_needs():
    assert "beyond every planned value" in earned_schedule([(F(1), F(10))], F(20), F(1), None).why["es"]
    falls = earned_schedule([(F(1), F(10)), (F(2), F(5))], F(5), F(2), None)
    assert falls.get("es") is None and "one baseline" in falls.why["es"]
    unknown_pd = earned_schedule([(F(1), F(10)), (F(2), F(20))], F(15), F(2), None)
    assert unknown_pd.get("es") == F(3, 2) and unknown_pd.get("ieac_t") is None and "planned_finish" in \
        unknown_pd.why["ieac_t"]
    flat_start = earned_schedule([(F(1), F(0)), (F(2), F(10))], F(0), F(2), F(5))
    assert flat_start.get("es") == 0  # nothing earned: ES is the plan's start, not the end of a flat stretch
    nothing = earned_schedule([(F(1), F(10))], F(0), F(1), F(5))
    assert nothing.get("es") == 0 and nothing.get("ieac_t") is None and "ES is 0" in nothing.why["ieac_t"]


def test_linear_pv_over_working_days_counts_the_status_date_whole():
    monday, friday = dt.date(2027, 1, 4), dt.date(2027, 1, 15)  # 10 working days
    assert linear_pv(D("1000"), monday, friday, dt.date(2027, 1, 8), WEEKDAYS) == 500  # Friday: 5 of 10 days
    assert linear_pv(D("1000"), monday, friday, dt.date(2027, 1, 9), WEEKDAYS) == 500  # Saturday: no work
    assert linear_pv(D("1000"), monday, friday, monday, WEEKDAYS) == 100  # the first day is planned in full
    assert linear_pv(D("1000"), monday, friday, dt.date(2027, 1, 3), WEEKDAYS) == 0
    assert linear_pv(D("1000"), monday, friday, dt.date(2027, 2, 1), WEEKDAYS) == 1000
    with_holiday = Calendar.of(frozenset(range(5)), [dt.date(2027, 1, 6)])  # 9 working days
    assert linear_pv(D("900"), monday, friday, dt.date(2027, 1, 8), with_holiday) == 400
    # thirds stay exact: three equal tasks planned a third each sum to the whole budget
    third = linear_pv(D("100"), monday, dt.date(2027, 1, 6), monday, WEEKDAYS)
    assert third == F(100, 3) and third * 3 == 100


def test_earned_schedules_place_among_the_pv_points_is_exact_where_floats_tie():
    """SeriesSchedule finds EV's place among a curve's PV points by their floats, then exactly: the same index
    as bisecting the Fractions, also for values closer than a float tells apart (and beyond a float's range)."""
    import bisect

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from engine.health.assess import _place
    base = 10 ** 17  # 10**17 + k: neighbours a float cannot tell apart

    near_ties = st.integers(0, 40).map(lambda k: F(base + k, 3))
    spread = st.fractions(min_value=0, max_value=10 ** 6, max_denominator=10 ** 6)
    huge = st.integers(0, 5).map(lambda k: F(10 ** 400 + k))

    @settings(max_examples=400, deadline=None)
    @given(st.one_of(st.lists(near_ties, max_size=12), st.lists(spread, max_size=12), st.lists(huge, max_size=6)),
           st.one_of(near_ties, spread, huge), st.integers(0, 12))
    def check(values, ev, count):
        values = sorted(values)
        count = min(count, len(values))
        try:
            near = [v.numerator / v.denominator for v in values]
        except OverflowError:
            near = None
        assert _place(values, near, ev, count) == bisect.bisect_left(values, ev, 0, count)

    check()


def _complete_as_written_first(record, calendar):
    """engine/health/status.py's _complete as first written (one Fraction per operation), the reference for the
    faster one: the same values and the same problems, message for message."""
    from engine.health.status import MONEY
    from engine.health.status import _text as text
    problems = []
    bac, start, finish = record["bac"], record["planned_start"], record["planned_finish"]
    if bac is None:
        problems.append(("bac", "missing_value", "column 'bac': a value is required (budget at completion)"))
    if record["ac"] is None:
        problems.append(("ac", "missing_value", "column 'ac': a value is required (actual cost to date)"))
    if start is not None and finish is not None and start > finish:
        problems.append(("planned_finish", "bad_value", f"planned_finish {finish} is before planned_start {start}"))
        start = finish = None
    if record["pv"] is None and bac is not None:
        if start is None or finish is None:
            problems.append(("pv", "missing_value", "column 'pv': give the planned value, or planned_start and "
                             "planned_finish to spread BAC over the working days between them"))
        else:
            total = calendar.count(start, finish + dt.timedelta(days=1))
            day = record["status_date"]
            if day >= finish:
                record["pv"] = F(bac)
            elif day < start:
                record["pv"] = F(0)
            else:
                done = calendar.count(start, day + dt.timedelta(days=1))
                record["pv"] = F(bac) * done / total if total else F(0)
    share = record["percent_complete"]
    if share is not None and bac is not None:
        earned = F(bac) * F(share)
        if record["ev"] is None:
            record["ev"] = earned
        elif F(record["ev"]) != earned:
            problems.append(("ev", "inconsistent", f"ev {record['ev']} is not bac x percent_complete ({bac} x "
                             f"{share} = {text(earned)}); give one of them"))
    elif record["ev"] is None:
        problems.append(("ev", "missing_value", "column 'ev': give the earned value, or percent_complete"))
    for name in ("pv", "ev"):
        if bac is not None and record[name] is not None and record[name] > bac:
            problems.append((name, "out_of_range", f"{name} {text(F(record[name]))} is above bac {bac}"))
    for name in MONEY:
        if record[name] is not None:
            record[name] = F(record[name])
    return problems


def test_completing_a_status_row_gives_what_one_fraction_per_operation_gives():
    """PV from the planned dates, EV from percent complete and the checks between columns, on random typed rows
    (amounts with cents, PV and EV given or not, EV above BAC, dates either way round): the same record and the
    same problems as the reference above."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from engine.health.status import STATUS_FIELDS, _complete
    money = st.one_of(st.none(), st.decimals(0, 10 ** 7, places=2), st.integers(0, 10 ** 7).map(Decimal))
    share = st.one_of(st.none(), st.decimals(0, 1, places=4))
    day = st.dates(dt.date(2026, 1, 1), dt.date(2028, 12, 31))
    holidays = Calendar.of(frozenset(range(5)), (dt.date(2027, 1, 6), dt.date(2027, 5, 1)))

    @settings(max_examples=500, deadline=None)
    @given(money, money, money, money, share, st.one_of(st.none(), day), st.one_of(st.none(), day), day,
           st.sampled_from([WEEKDAYS, holidays]))
    def check(bac, pv, ev, ac, percent, start, finish, status_date, calendar):
        record = dict.fromkeys(STATUS_FIELDS)
        record.update(bac=bac, pv=pv, ev=ev, ac=ac, percent_complete=percent, planned_start=start,
                      planned_finish=finish, status_date=status_date)
        reference = dict(record)
        assert _complete(record, calendar) == _complete_as_written_first(reference, calendar)
        assert record == reference and all(type(record[k]) is type(reference[k]) for k in record)

    check()


def test_an_exact_sum_is_the_sum_of_the_fractions():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from engine.health.evm import exact_sum
    value = st.one_of(st.fractions(max_denominator=10 ** 6), st.decimals(-10 ** 9, 10 ** 9, places=3),
                      st.integers(-10 ** 30, 10 ** 30))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(value, max_size=30))
    def check(values):
        total = exact_sum(values)
        assert type(total) is F and total == sum((F(v) for v in values), F(0))

    check()
