"""The efficient frontier (issue #19): monotone in the budget, never below a greedy baseline, a plateau found
without solving it, a gap and a bound reported for every point; work bounded by solver runs, not time."""
import itertools
import random

import numpy as np
import pytest

import engine.portfolio.select as select
from engine.compile.portfolio import Limits
from engine.portfolio.greedy import greedy
from engine.portfolio.model import portfolio_from
from engine.portfolio.problem import problem
from engine.portfolio.select import Solved, frontier, scaled

PERIODS = ["M0", "M1"]


def capacity_bound(seed, n=10, capacity=6):
    """Projects that need people in two periods: with enough money, the team (not the budget) decides."""
    rng = random.Random(seed)
    projects = []
    for i in range(n):
        months = rng.sample(PERIODS, rng.randint(1, 2))
        projects.append({"id": f"P{i}", "value": rng.randint(1, 40),
                         "cost": {m: rng.randint(1, 30) for m in months},
                         "demand": {"dev": {m: rng.randint(1, 3) for m in months}}})
        if rng.random() < 0.25 and i:
            projects[i]["depends_on"] = [f"P{rng.randrange(i)}"]
        if rng.random() < 0.1:
            projects[i]["excludes"] = [f"P{rng.choice([k for k in range(n) if k != i])}"]
    data = {"budget": {m: 40 for m in PERIODS}, "projects": projects}
    limits = Limits(periods=PERIODS, capacity={"dev": {m: capacity for m in PERIODS}})
    return problem(portfolio_from(data), limits)


def exact(prob):
    """The best value by trying every choice of options against every row of the programme."""
    model = select._model(prob)
    best = None
    for bits in itertools.product([False, True], repeat=len(model.value)):
        y = np.array(bits)
        if model.fits(y, model.upper):
            value = float(model.value @ y)
            best = value if best is None else max(best, value)
    return best


def feasible_greedy(level):
    return max([g.value for g in (greedy(level, "value"), greedy(level, "value per cost")) if g.status == "greedy"],
               default=0.0)


def levels_of(prob, points):
    return [scaled(prob, p["factor"]) for p in points]


@pytest.mark.parametrize("seed", range(12))
def test_points_are_monotone_exact_within_the_gap_and_above_greedy(seed):
    prob = capacity_bound(seed)
    points = frontier(prob, 8, time_limit=60)
    values = [p["value"] for p in points]
    assert values == sorted(values)
    bounds = [p["bound"] for p in points]
    assert bounds == sorted(bounds)  # a level's bound holds for every smaller budget
    for point, level in zip(points, levels_of(prob, points)):
        best = exact(level)
        assert point["value"] <= best + 1e-9 <= point["bound"] + 1e-6
        assert point["optimal"] and point["gap"] <= 0.01
        assert point["gap"] == pytest.approx(max(0.0, point["bound"] - point["value"]) / point["value"], abs=1e-9)
        assert point["value"] >= feasible_greedy(level) - 1e-9


def test_the_plateau_is_found_without_solving_it(monkeypatch):
    prob = capacity_bound(3, capacity=4)
    calls = []
    real = select._milp
    monkeypatch.setattr(select, "_milp", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    points = frontier(prob, 10, time_limit=60)
    plateau = [p for p in points if not p["binds"]]
    assert len(plateau) >= 3, [p["value"] for p in points]  # the team binds long before the money does
    assert all(p["solves"] == 0 and p["value"] == points[-1]["value"] and p["bound"] == points[-1]["bound"]
               for p in plateau[:-1] if p is not points[-1])
    assert points[-1]["solves"] >= 1 and not points[-1]["binds"]
    assert len(calls) == sum(p["solves"] for p in points) <= len(points) - len(plateau) + 1
    for point, level in zip(plateau, levels_of(prob, plateau)):
        assert exact(level) == pytest.approx(point["value"])  # the same optimum, truly


def test_a_solver_that_finds_nothing_good_never_shows_a_point_below_greedy(monkeypatch):
    """The solver stops at its time limit with an empty choice and a loose bound at every level: the frontier
    keeps the greedy baselines' choices (and the smaller levels'), says the gap, and calls nothing optimal."""
    prob = capacity_bound(5)

    def poor(model, upper, seconds, gap, start=None):
        return Solved(np.zeros(len(model.value), dtype=bool), "time limit", 0.0, float(model.value.sum()), None)

    monkeypatch.setattr(select, "_milp", poor)
    points = frontier(prob, 6, time_limit=3)
    for point, level in zip(points, levels_of(prob, points)):
        assert point["value"] >= feasible_greedy(level) - 1e-9 > 0
        assert not point["optimal"] and point["gap"] > 0.01
        assert exact(level) - 1e-9 <= point["bound"] <= prob.value.sum()  # the LP relaxation's, or the solver's
    values = [p["value"] for p in points]
    assert values == sorted(values)


def test_levels_below_what_forced_projects_need_are_infeasible():
    data = {"budget": 100, "projects": [{"id": "BIG", "cost": 60, "value": 5, "force": "in"},
                                        {"id": "A", "cost": 30, "value": 9}, {"id": "B", "cost": 30, "value": 4}]}
    prob = problem(portfolio_from(data), Limits())
    points = frontier(prob, 4, time_limit=30)
    assert [p["budget"] for p in points] == pytest.approx([30, 60, 90, 120])  # up to what every project costs
    assert points[0]["status"] == "infeasible" and points[0]["value"] == 0 and points[0]["gap"] is None \
        and points[0]["bound"] is None and not points[0]["optimal"]
    assert [p["value"] for p in points[1:]] == [5, 14, 18] and all(p["optimal"] for p in points[1:])


def test_the_solver_prints_nothing_on_stdout():
    """HiGHS's first instance in a process prints a banner on file descriptor 1; a library user's stdout
    (JSON, a CSV on a pipe) must not get it."""
    import subprocess
    import sys
    code = ("from engine.portfolio.model import portfolio_from; from engine.compile.portfolio import Limits; "
            "from engine.portfolio.problem import problem; from engine.portfolio.select import solve; "
            "p = problem(portfolio_from({'budget': 10, 'projects': [{'id': 'A', 'cost': 5, 'value': 3}]}), Limits()); "
            "print(solve(p).selected)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['A']\n"


@pytest.mark.parametrize("seed", range(6))
def test_a_level_the_time_never_reaches_still_has_a_true_bound_of_its_own(seed, monkeypatch):
    """No solver run at all: every level's bound is its LP relaxation's, never below its optimum and not the
    sum of every value; the frontier stays monotone and above greedy, and the gap says how far it may be."""
    prob = capacity_bound(seed)
    monkeypatch.setattr(select, "_milp", lambda *a, **k: pytest.fail("no solver run was expected"))
    monkeypatch.setattr(select, "_MIN_SLICE", 1e9)  # no time for any solve
    points = frontier(prob, 6, time_limit=1)
    for point, level in zip(points, levels_of(prob, points)):
        best = exact(level)
        assert point["solves"] == 0
        assert point["value"] <= best + 1e-9 <= point["bound"] + 1e-6 < prob.value.sum()
        assert point["gap"] == pytest.approx(max(0.0, point["bound"] - point["value"]) / point["value"], abs=1e-9)
        assert point["value"] >= feasible_greedy(level) - 1e-9
    assert [p["value"] for p in points] == sorted(p["value"] for p in points)
    assert [p["bound"] for p in points] == sorted(p["bound"] for p in points)


def test_an_early_level_does_not_starve_on_a_fair_share():
    """The first pass gives a level at least half of the time left (HiGHS restarts a solve cut short, so a
    share too small to close a level is lost): the first solve is given more than the time over the levels."""
    prob = capacity_bound(3)
    given = []
    real = select._milp

    def recording(model, upper, seconds, gap, start=None):
        given.append(seconds)
        return real(model, upper, seconds, gap, start)

    import unittest.mock
    with unittest.mock.patch.object(select, "_milp", recording):
        frontier(prob, 8, time_limit=60)
    assert given and given[0] >= 30 - 1  # half of 60 s at least (the greedy baselines take a moment)


def test_a_point_not_within_the_gap_explains_it_with_the_bound_and_what_binds(monkeypatch):
    """Every point says where its bound comes from; one not within the gap says why, in a sentence with the
    value, the bound, its source and budget, the solver runs and the limits that bind its choice."""
    prob = capacity_bound(5)
    monkeypatch.setattr(select, "_MIN_SLICE", 1e9)  # no solver run: the LP relaxation's bounds only
    points = frontier(prob, 6, time_limit=1)
    budgets = [p["budget"] for p in points]
    loose = [p for p in points if not p["optimal"]]
    assert loose
    for point in points:
        assert point["bound_budget"] in budgets and point["bound_budget"] >= point["budget"]
        assert point["bound_by"] == "the LP relaxation"
        assert isinstance(point["binding"], list)
    for point in loose:
        text = point["explain"]
        assert f"gap {point['gap']:.2%}" in text and f"{point['value']:,.1f}" in text
        assert f"{point['bound']:,.1f} (the LP relaxation" in text and "no solver run" in text
        assert all(limit in text for limit in point["binding"][:4])
        assert f"binding ({len(point['binding'])})" in text or not point["binding"]
    assert all(p["explain"] is None for p in points if p["optimal"])


def best_choice(prob):
    model = select._model(prob)
    best, value = None, -1.0
    for bits in itertools.product([False, True], repeat=len(model.value)):
        y = np.array(bits)
        if model.fits(y, model.upper) and model.value @ y > value:
            best, value = y, float(model.value @ y)
    return best


@pytest.mark.parametrize("seed", range(10))
def test_a_larger_budgets_choice_repaired_fits_each_smaller_budget(seed):
    """Incumbents flow down: the best choice with every project affordable, repaired (projects leave with
    those that need them, the rest refilled), keeps every row of each smaller level (dependencies,
    exclusions, capacity, budget) and is worth no more than that level's optimum."""
    from engine.portfolio.greedy import repair
    prob = capacity_bound(seed)
    y = best_choice(scaled(prob, 2.0))
    for factor in (1.0, 0.6, 0.3):
        level = scaled(prob, factor)
        fixed = repair(level, y)
        assert fixed is not None
        model = select._model(level)
        assert model.fits(fixed, model.upper)
        assert model.value @ fixed <= exact(level) + 1e-9
        y = fixed


def test_a_repair_never_drops_a_forced_project():
    data = {"budget": 50, "projects": [{"id": "F", "cost": 40, "value": 1, "force": "in"},
                                       {"id": "A", "cost": 30, "value": 9}, {"id": "B", "cost": 5, "value": 2,
                                                                             "depends_on": ["A"]}]}
    from engine.portfolio.greedy import repair
    prob = problem(portfolio_from(data), Limits())
    everything = np.ones(3, dtype=bool)
    fixed = repair(prob, everything)
    model = select._model(prob)
    assert fixed is not None and model.fits(fixed, model.upper) and fixed[0] and not fixed[2]  # B goes with A
    assert repair(scaled(prob, 0.5), everything) is None  # F alone breaks 25
