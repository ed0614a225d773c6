"""AHP weights and consistency, against published worked examples."""
import numpy as np
import pytest

from engine.cli import main
from engine.policy import ahp

# Saaty, T. L. (2008), "Decision making with the analytic hierarchy process", Int. J. Services Sciences 1(1),
# pp. 83-98: relative consumption of drinks in the United States. Published priorities and CR = 0.022
# (the same figures are asserted by the AHPy test suite, PhilipGriffith/AHPy tests/test_ahp.py).
DRINKS = ["coffee", "wine", "tea", "beer", "sodas", "milk", "water"]
DRINKS_MATRIX = [[1, 9, 5, 2, 1, 1, "1/2"], ["1/9", 1, "1/3", "1/9", "1/9", "1/9", "1/9"],
                 ["1/5", 3, 1, "1/3", "1/4", "1/3", "1/9"], ["1/2", 9, 3, 1, "1/2", 1, "1/3"],
                 [1, 9, 4, 2, 1, 2, "1/2"], [1, 9, 3, 1, "1/2", 1, "1/3"], [2, 9, 9, 3, 2, 3, 1]]
DRINKS_WEIGHTS = {"coffee": 0.177, "wine": 0.019, "tea": 0.042, "beer": 0.116, "sodas": 0.190, "milk": 0.129,
                  "water": 0.327}


def test_saaty_2008_drinks_weights_and_consistency():
    result = ahp.weights(DRINKS, ahp.matrix_from_rows(DRINKS, DRINKS_MATRIX))
    assert {k: round(v, 3) for k, v in zip(result.items, result.weights)} == DRINKS_WEIGHTS
    assert round(result.cr, 3) == 0.022
    # CI and lambda_max follow from the published CR with Saaty's RI(7) = 1.32.
    assert round(result.ci, 3) == round(0.022 * 1.32, 3) == 0.029
    assert abs(result.lambda_max - (7 + 6 * result.ci)) < 1e-12


# Saaty, T. L. (1990), "How to make a decision: the analytic hierarchy process", European Journal of
# Operational Research 48(1), pp. 9-26, Table 2 (and Saaty 2003, EJOR 145(1), Table 1): the eight criteria
# for buying a house. Published: the priorities below, lambda_max 9.669, CI 0.238, CR 0.169.
HOUSE = ["size", "transportation", "neighborhood", "age", "yard", "modern", "condition", "financing"]
HOUSE_MATRIX = [[1, 5, 3, 7, 6, 6, "1/3", "1/4"], ["1/5", 1, "1/3", 5, 3, 3, "1/5", "1/7"],
                ["1/3", 3, 1, 6, 3, 4, 6, "1/5"], ["1/7", "1/5", "1/6", 1, "1/3", "1/4", "1/7", "1/8"],
                ["1/6", "1/3", "1/3", 3, 1, "1/2", "1/5", "1/6"], ["1/6", "1/3", "1/4", 4, 2, 1, "1/5", "1/6"],
                [3, 5, "1/6", 7, 5, 5, 1, "1/2"], [4, 7, 5, 8, 6, 6, 2, 1]]


def test_saaty_1990_house_criteria_lambda_ci_cr():
    result = ahp.weights(HOUSE, ahp.matrix_from_rows(HOUSE, HOUSE_MATRIX))
    assert [round(w, 3) for w in result.weights] == [0.173, 0.054, 0.188, 0.018, 0.031, 0.036, 0.167, 0.333]
    assert (round(result.lambda_max, 3), round(result.ci, 3), round(result.cr, 3)) == (9.669, 0.238, 0.169)
    assert not result.consistent  # Saaty uses it to show judgements that need revisiting


# Saaty, T. L. (2005), Theory and Applications of the Analytic Network Process: choosing a city to live in
# (a two-level hierarchy). Published synthesis: Bethesda 0.229, Boston 0.275, Pittsburgh 0.385, Santa Fe 0.111
# (also asserted by PhilipGriffith/AHPy tests/test_ahp.py).
CITIES = ["Bethesda", "Boston", "Pittsburgh", "Santa Fe"]
CRITERIA = {"Culture": {"Housing": 3, "Transportation": 5}, "Family": {"Culture": 5, "Housing": 7,
            "Transportation": 7, "Jobs": 1}, "Housing": {"Transportation": 3},
            "Jobs": {"Culture": 2, "Housing": 4, "Transportation": 7}}
ALTERNATIVES = {
    "Culture": {"Bethesda": {"Pittsburgh": 1}, "Boston": {"Bethesda": 2, "Pittsburgh": 2.5, "Santa Fe": 1},
                "Pittsburgh": {}, "Santa Fe": {"Bethesda": 2, "Pittsburgh": 2.5}},
    "Family": {"Bethesda": {"Boston": 2, "Santa Fe": 4}, "Boston": {"Santa Fe": 2},
               "Pittsburgh": {"Bethesda": 3, "Boston": 8, "Santa Fe": 9}},
    "Housing": {"Bethesda": {"Boston": 5, "Santa Fe": 2.5}, "Pittsburgh": {"Bethesda": 2, "Boston": 9, "Santa Fe": 7},
                "Santa Fe": {"Boston": 4}},
    "Jobs": {"Bethesda": {"Pittsburgh": 3, "Santa Fe": 4}, "Boston": {"Bethesda": 2, "Pittsburgh": 6, "Santa Fe": 8},
             "Pittsburgh": {"Santa Fe": 1}},
    "Transportation": {"Bethesda": {"Boston": 1.5, "Santa Fe": 4}, "Boston": {"Santa Fe": 2.5},
                       "Pittsburgh": {"Bethesda": 2, "Boston": 3.5, "Santa Fe": 9}},
}


def test_saaty_2005_cities_synthesis():
    criteria = list(ALTERNATIVES)
    top = ahp.weights(criteria, ahp.matrix_from_judgements(criteria, CRITERIA))
    total = np.zeros(len(CITIES))
    for weight, criterion in zip(top.weights, criteria):
        local = ahp.weights(CITIES, ahp.matrix_from_judgements(CITIES, ALTERNATIVES[criterion]))
        total += weight * np.array(local.weights)
    assert dict(zip(CITIES, np.round(total, 3))) == {"Bethesda": 0.229, "Boston": 0.275, "Pittsburgh": 0.385,
                                                     "Santa Fe": 0.111}


def test_consistent_matrix_has_lambda_n_and_zero_cr():
    w = np.array([0.5, 0.3, 0.2])
    matrix = w[:, None] / w[None, :]
    for method in ahp.METHODS:
        result = ahp.weights(["a", "b", "c"], matrix, method)
        assert np.allclose(result.weights, w) and abs(result.lambda_max - 3) < 1e-9 and result.cr < 1e-9


def test_geometric_mean_equals_eigenvector_for_three_items():
    # For n <= 3 the row geometric mean and the principal eigenvector coincide.
    matrix = ahp.matrix_from_rows(["a", "b", "c"], [[1, 3, 5], ["1/3", 1, 2], ["1/5", "1/2", 1]])
    eigen, geometric = (ahp.weights(["a", "b", "c"], matrix, m) for m in ahp.METHODS)
    assert np.allclose(eigen.weights, geometric.weights)


@pytest.mark.parametrize("rows, message", [
    ([[1, 3], [3, 1]], "reciprocal"),
    ([[2, 3], ["1/3", 1]], "diagonal"),
    ([[1, 3, 1], ["1/3", 1]], "must be 3 x 3"),
    ([[1, "x"], [1, 1]], "not a comparison value"),
    ([[1, -2], [1, 1]], "positive"),
])
def test_bad_matrices_are_refused_clearly(rows, message):
    items = ["a", "b", "c"][: max(len(rows), 2) if message != "must be 3 x 3" else 3]
    with pytest.raises(ahp.AhpError, match=message):
        ahp.matrix_from_rows(items, rows)


def test_repeated_items_and_bad_cells_are_named():
    with pytest.raises(ahp.AhpError, match="'a' is listed twice"):
        ahp.matrix_from_rows(["a", "a"], [[1, 2], ["1/2", 1]])
    with pytest.raises(ahp.AhpError, match=r"row 1, column 2 \(a vs b\): inf is not .* finite positive") as info:
        ahp.matrix_from_rows(["a", "b"], [[1, float("inf")], [1, 1]])
    assert info.value.where == ("matrix", 0, 1)


def test_missing_and_contradicting_judgements():
    with pytest.raises(ahp.AhpError, match="1 comparison\\(s\\) missing: b vs c"):
        ahp.matrix_from_judgements(["a", "b", "c"], {"a": {"b": 2, "c": 3}})
    with pytest.raises(ahp.AhpError, match="given twice"):
        ahp.matrix_from_judgements(["a", "b"], {"a": {"b": 2}, "b": {"a": 2}})
    assert ahp.matrix_from_judgements(["a", "b"], {"a": {"b": 2}, "b": {"a": "1/2"}})[1, 0] == 0.5


def test_pmo_weights_command(tmp_path, capsys):
    path = tmp_path / "drinks.yaml"
    path.write_text("criteria: [" + ", ".join(DRINKS) + "]\nmatrix:\n" +
                    "".join("  - [" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in row) + "]\n"
                            for row in DRINKS_MATRIX))
    assert main(["weights", str(path)]) == 0
    import json
    out = json.loads(capsys.readouterr().out)
    assert {k: round(v, 3) for k, v in out["weights"].items()} == DRINKS_WEIGHTS
    assert round(out["cr"], 3) == 0.022 and out["consistent"] is True
    assert set(out) == {"weights", "lambda_max", "ci", "cr", "consistent", "method"}
    assert main(["weights", str(path), "--method", "geometric", "--format", "table"]) == 0
    assert "lambda_max" in capsys.readouterr().out


# ---------------------------------------------------------------------------- which judgement breaks consistency

def test_the_judgement_that_most_breaks_consistency_is_named_with_a_consistent_value():
    """Consistent weights 0.5, 0.3, 0.2, then one judgement spoilt: a vs c written 1/4 instead of 2.5."""
    w = np.array([0.5, 0.3, 0.2])
    matrix = w[:, None] / w[None, :]
    matrix[0, 2], matrix[2, 0] = 1 / 4, 4
    result = ahp.weights(["a", "b", "c"], matrix)
    (worst, *_) = ahp.worst_judgements(["a", "b", "c"], matrix, result)
    assert {worst.first, worst.second} == {"a", "c"}
    # w_i / w_j of the derived weights is the value that would fit the others; 'a vs c' is then above 1
    got = dict(zip(result.items, result.weights))
    assert worst.consistent == pytest.approx(got[worst.first] / got[worst.second])
    assert worst.deviation == pytest.approx(abs(matrix[result.items.index(worst.first),
                                                       result.items.index(worst.second)] - worst.consistent))
    # the largest |a_ij - w_i/w_j| of every cell
    deviations = [abs(matrix[i, j] - got[x] / got[y]) for i, x in enumerate("abc") for j, y in enumerate("abc")]
    assert worst.deviation == pytest.approx(max(deviations))


def test_an_inconsistent_strategy_names_the_judgement_at_its_line(write_policy):
    from engine import validate
    from tests.conftest import TODAY
    root = write_policy({
        "intake.yaml": "kind: intake\nfields: {id: string, alignment: alignment}\n",
        "strategy.yaml": ("kind: strategy\nobjectives: [{id: a, name: A}, {id: b, name: B}, {id: c, name: C}]\n"
                          "comparisons:\n  inconsistent: error\n  judgements:\n    a: {b: 2, c: 4}\n"
                          "    b: {c: 1/9}\n")})
    (problem,) = validate(root, today=TODAY)
    assert problem.code == "inconsistent_comparisons"
    assert (problem.location.line, problem.location.column) == (7, 12)  # the judgement b vs c itself
    assert "b vs c = 1/9 breaks consistency most" in problem.message
    assert problem.hint.startswith("about 1/3.4 would fit the other judgements; next: a vs b = 2")


def test_pmo_weights_reads_a_strategy_or_scoring_policy(capsys):
    """Found by a policy author: 'pmo weights policies/strategy.yaml' was refused."""
    import json

    from tests.conftest import ROOT
    assert main(["weights", str(ROOT / "policies" / "strategy.yaml")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["weights"]) == {"customer-experience", "grid-resilience", "net-zero", "operational-efficiency",
                                   "regulatory-compliance"}
    assert abs(sum(out["weights"].values()) - 1) < 1e-9 and out["cr"] < 0.1 and out["consistent"] is True
    assert main(["weights", str(ROOT / "policies" / "scoring.yaml"), "--format", "table"]) == 0
    text = capsys.readouterr().out
    assert "strategic-alignment" in text and "0.3500" in text and "stated weights" in text


def test_pmo_validate_shows_the_derived_weights_and_cr(capsys):
    from tests.conftest import ROOT
    assert main(["validate", str(ROOT / "policies")]) == 0
    out = capsys.readouterr().out
    assert "objective weights (comparisons, eigen): customer-experience" in out and "CR 0.0" in out
    assert "criterion weights (stated): strategic-alignment 0.35" in out


def test_remembered_weights_are_the_computed_ones_to_the_last_bit(tmp_path, monkeypatch):
    """AHP results are remembered in the user's cache (numpy costs a start-up 0.1 s, and the weights appear at full
    precision in every ranking): a ranking from remembered weights is byte for byte the ranking from computed ones,
    with no cache, a cold one and a warm one; a damaged cache file is a miss; changed judgements are another key."""
    import io
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    def ranking() -> str:
        out = io.StringIO()
        assert main(["rank", str(ROOT / "examples" / "proposals.csv"), "--format", "json", "--today", "2026-12-01"],
                    stdout=out, stderr=io.StringIO()) == 0
        return out.getvalue()
    monkeypatch.setenv("PMO_CACHE_DIR", "")
    computed = ranking()
    monkeypatch.setenv("PMO_CACHE_DIR", str(tmp_path / "cache"))
    assert ranking() == computed  # cold: computed and stored
    (stored,) = (tmp_path / "cache" / "ahp").glob("*.json")
    assert ranking() == computed  # warm: from the file
    stored.write_text("{not json", encoding="utf-8")
    assert ranking() == computed  # a damaged file: computed again (and stored again)
    assert json.loads(stored.read_text(encoding="utf-8"))["answer"]
    probe = ("import sys, io; from engine.cli import main; "
             "main(['evaluate', 'examples/proposals.csv', '--no-log'], stdout=io.StringIO(), stderr=io.StringIO()); "
             "main(['validate'], stdout=io.StringIO(), stderr=io.StringIO()); print('numpy' in sys.modules)")
    env = {**__import__("os").environ, "PMO_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "False", done.stderr  # a warm cache: evaluate and validate load no numpy


def test_changed_judgements_are_not_answered_from_the_cache(tmp_path, monkeypatch, write_policy):
    from engine import Engine
    monkeypatch.setenv("PMO_CACHE_DIR", str(tmp_path / "cache"))
    base = ("kind: intake\nfields: {id: string}\nrules: []\n")
    weights = []
    for judged in ("3", "1/3"):
        root = write_policy({"intake.yaml": base, "strategy.yaml": (
            "kind: strategy\nobjectives:\n  - {id: a, name: A}\n  - {id: b, name: B}\n"
            f"comparisons:\n  judgements: {{a: {{b: '{judged}'}}}}\n")}, folder=f"p{len(weights)}")
        strategy = Engine.load(root).policy.strategy
        weights.append(strategy.weights.values)
    assert weights[0]["a"] == weights[1]["b"] == 0.75 and weights[0]["b"] == weights[1]["a"] == 0.25
    assert len(list((tmp_path / "cache" / "ahp").glob("*.json"))) == 2


def test_pmo_weights_on_a_file_it_cannot_use_gives_a_code_the_file_and_what_to_give(tmp_path, capsys):
    # it printed "pmo: error: FILE: message" (no code), and a missing file as Python's "[Errno 2] ...: 'FILE'"
    path = tmp_path / "weights.yaml"
    path.write_text("criteria: [cost, value]\nmatrix: [[1, 3], [1/3]]\n", encoding="utf-8")
    assert main(["weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"pmo: {path}: error[bad_weights]: the matrix must be 2 x 2" in err, err
    assert "; a file of 'criteria: [...]' and 'matrix: [[...]]'" in err
    assert main(["weights", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert "error[bad_weights]: cannot read the file: No such file or directory;" in err and "Errno" not in err
