"""Hit policies against DMN's definitions (DMN 1.3, 8.2.11), for intake tables on both back ends and for
scoring tables; and the analysis of gaps, overlaps and rows that can never be the result."""
from __future__ import annotations

import csv
import io
import json
import random

import pytest

from engine import Engine, PolicyError
from engine.authoring.check import check_policies
from engine.cli import main
from engine.compile.policy import compile_policy
from engine.errors import DiagnosticSink
from engine.policy.loader import load_policy_set
from engine.tables import analysis
from engine.tables.analysis import TableAnalysis
from engine.tables.hits import HitGroup, Overlap, apply, choose
from tests.conftest import ROOT, TODAY

INTAKE = """kind: intake
fields:
  id: {type: string, required: true}
  title: {type: string, required: true}
  budget: money
  unit: {type: enum, values: [IT, HR, Finance]}
  risk: {type: integer, min: 1, max: 5}
"""


def tables(hit_policy: str, extra: str = "", applies_to: str = "intake") -> str:
    return (f"kind: tables\ntables:\n  - name: t\n    file: t.csv\n    hit_policy: {hit_policy}\n"
            f"    applies_to: {applies_to}\n" + "".join(f"    {line}\n" for line in extra.splitlines()))


@pytest.fixture
def policy(write_policy):
    def make(hit_policy: str, csv: str, extra: str = "", scoring: str | None = None):
        files = {"intake.yaml": INTAKE, "t.csv": csv,
                 "tables.yaml": tables(hit_policy, extra, "scoring" if scoring else "intake")}
        if scoring:
            files["scoring.yaml"] = scoring
        return write_policy(files)
    return make


def decide(root, backend, **fields):
    engine = Engine.load(root, today=TODAY, backend=backend)
    return engine.evaluate({"id": "P-1", "title": "t", **fields})


def fired(root, backend, **fields) -> list[str]:
    decision = decide(root, backend, **fields)
    assert decision.decision != "error", decision.errors
    return [f.rule for f in decision.findings]


def problems(root) -> dict[str, list]:
    out: dict[str, list] = {}
    for d in check_policies(root, today=TODAY).diagnostics:
        out.setdefault(d.code, []).append(d)
    return out


BACKENDS = pytest.mark.parametrize("backend", ["rete", "reference"])

# ---------------------------------------------------------------------------- unique

def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


UNIQUE_ROWS = [
    ["budget", "unit", "effect", "route", "reason", "rule"],
    ["null", "-", "reject", "-", "No budget", "no-budget"],
    ["<= 100", "-", "-", "-", "-", "small"],
    ["(100..1000]", "-", "review", "Board", "Mid", "mid"],
    ["> 1000", '"IT"', "review", "CIO", "Large IT", "large-it"],
    ["> 1000", 'not("IT"), null', "review", "Investment Committee", "Large", "large"],
]
UNIQUE = csv_text(UNIQUE_ROWS)


@BACKENDS
def test_unique_gives_the_one_matching_row(policy, backend):
    root = policy("unique", UNIQUE)
    assert problems(root) == {}  # complete and without overlaps: nothing to report
    assert fired(root, backend, budget="5000", unit="IT") == ["large-it"]
    assert fired(root, backend, budget="5000") == ["large"]
    assert fired(root, backend, budget="500") == ["mid"]
    assert fired(root, backend, budget="50") == []  # a row without an outcome
    assert fired(root, backend) == ["no-budget"]


@BACKENDS
def test_a_unique_table_with_an_overlap_is_an_error_and_its_example_proves_it(policy, backend):
    root = policy("unique", csv_text(UNIQUE_ROWS[:5] + [["> 1000", "-", "review", "IC", "Large", "large"]]))
    found = problems(root)
    overlap = found["table_overlap"][0]
    assert overlap.severity == "error" and str(overlap.location).endswith("t.csv!A6")
    assert "rows t.csv!A5 and t.csv!A6 overlap on budget > 1000; unit \"IT\"" in overlap.message
    with pytest.raises(PolicyError):
        Engine.load(root, today=TODAY)
    sink = DiagnosticSink()
    engine = Engine(compile_policy(load_policy_set(root, [ROOT / "rules"], sink), TODAY, sink), backend)
    example = json.loads(overlap.message.split("example proposal: ")[1])
    decision = engine.evaluate(example)
    assert decision.decision == "error" and decision.errors[0].code == "table_overlap"


def test_a_gap_is_reported_with_an_example_that_matches_no_row(policy):
    root = policy("unique", csv_text(UNIQUE_ROWS[:1] + UNIQUE_ROWS[2:]))
    (gap,) = problems(root)["table_gap"]
    assert gap.severity == "warning" and "no row matches budget null" in gap.message
    example = json.loads(gap.message.split("example proposal: ")[1])
    engine = Engine.load(root, today=TODAY, backend="reference")
    record = engine._intake.record(example)
    assert engine.policy.tables[0].matches(record) == [] and engine.evaluate(example).findings == []


# ---------------------------------------------------------------------------- first

FIRST = """budget,effect,reason,rule
< 10,-,-,tiny
> 100,reject,Too big,too-big
> 0,flag,Positive,positive
"""


@BACKENDS
def test_first_gives_the_first_matching_row_in_table_order(policy, backend):
    root = policy("first", FIRST)
    assert fired(root, backend, budget="500") == ["too-big"]  # 'positive' matches too, but comes later
    assert fired(root, backend, budget="50") == ["positive"]
    assert fired(root, backend, budget="5") == []  # the first match has no outcome, and it is the result
    assert fired(root, backend) == []  # a missing budget matches no row: a gap


def test_first_reports_rows_that_earlier_rows_cover(policy):
    root = policy("first", "budget,effect,reason,rule\n> 0,flag,Positive,positive\n> 100,reject,Big,big\n")
    (never,) = problems(root)["table_row_never"]
    assert str(never.location).endswith("t.csv!A3") and "earlier rows match every proposal" in never.message


# ---------------------------------------------------------------------------- priority

PRIORITY = """budget,effect,route,reason,rule
> 0,flag,-,Positive,positive
> 50,review,Board,Over 50,board
> 50,review,CIO,Over 50 (CIO),cio
> 100,reject,-,Over 100,over-100
"""


@BACKENDS
def test_priority_picks_by_the_declared_order_of_output_values(policy, backend):
    root = policy("priority", PRIORITY)  # default for intake: effect reject > review > flag
    assert fired(root, backend, budget="500") == ["over-100"]
    assert fired(root, backend, budget="75") == ["board"]  # a tie on effect: the earlier row
    assert fired(root, backend, budget="5") == ["positive"]
    root = policy("priority", PRIORITY, "priority: {effect: [flag, review, reject]}")
    assert fired(root, backend, budget="500") == ["positive"]
    root = policy("priority", PRIORITY, "priority: {effect: [reject, review, flag], route: [CIO, Board]}")
    assert fired(root, backend, budget="75") == ["cio"]  # the second output breaks the tie


def test_priority_reports_a_row_that_can_never_win_and_a_value_not_in_the_list(policy):
    root = policy("priority", "budget,effect,reason,rule\n> 0,reject,Any,any\n> 100,flag,Big,big\n")
    (never,) = problems(root)["table_row_never"]
    assert str(never.location).endswith("t.csv!A3") and "higher priority" in never.message
    root = policy("priority", PRIORITY, "priority: {effect: [reject, review]}")
    (error,) = problems(root)["priority_value"]
    assert "flag" in error.message and str(error.location).endswith("t.csv!A2")


# ---------------------------------------------------------------------------- any

ANY_ROWS = [["budget", "unit", "effect", "route", "reason", "rule"],
            ["> 100", "-", "review", "Board", "Large", "large"],
            ["-", '"IT"', "review", "Board", "Large", "it"]]
ANY = csv_text(ANY_ROWS)


@BACKENDS
def test_any_allows_overlapping_rows_that_agree(policy, backend):
    root = policy("any", ANY)
    assert "table_overlap" not in problems(root)
    assert fired(root, backend, budget="500", unit="IT") == ["large"]  # both match; they agree; one result
    assert fired(root, backend, budget="5", unit="IT") == ["it"]


def test_any_with_rows_that_disagree_is_an_error(policy):
    root = policy("any", csv_text(ANY_ROWS[:2] + [["-", '"IT"', "review", "Board", "IT work", "it"]]))
    (overlap,) = problems(root)["table_overlap"]
    assert overlap.severity == "error" and "give different outputs" in overlap.message


# ---------------------------------------------------------------------------- collect

@BACKENDS
def test_collect_gives_every_matching_row_and_rows_with_one_id_are_one_rule(policy, backend):
    root = policy("collect", "budget,risk,effect,reason,rule\n> 100,-,flag,Big,big\n-,>= 4,flag,Risky,risky\n"
                  "null,-,flag,Incomplete,incomplete\n-,null,flag,Incomplete,incomplete\n")
    assert fired(root, backend, budget="500", risk="5") == ["big", "risky"]
    assert fired(root, backend, risk="2") == ["incomplete"]  # either row; one finding
    assert fired(root, backend) == ["incomplete"]
    assert "table_gap" not in problems(root)  # a collect table may match nothing


def test_rows_with_one_id_must_agree(policy):
    root = policy("collect", "budget,effect,reason,rule\n> 100,flag,Big,x\n< 0,reject,Negative,x\n")
    assert "duplicate_rule" in problems(root)


# ---------------------------------------------------------------------------- scoring tables

SCORING = """kind: scoring
criteria:
  - {id: size, table: t, weight: 1}
"""


def points(root, **fields) -> float | None:
    engine = Engine.load(root, today=TODAY, backend="reference")
    (entry,) = engine.rank([{"id": "P-1", "title": "t", **fields}]).entries
    return entry.breakdown[0].raw


@pytest.mark.parametrize("hit_policy, extra, expected", [
    ("collect", "", 10.0), ("collect", "aggregate: sum", 10.0), ("collect", "aggregate: min", 2.0),
    ("collect", "aggregate: max", 5.0), ("collect", "aggregate: count", 3.0),
    ("first", "", 5.0), ("priority", "", 5.0), ("priority", "priority: {points: lowest}", 2.0),
    ("priority", "priority: {points: [3, 2, 5]}", 3.0),
])
def test_scoring_tables_give_points_by_their_hit_policy(policy, hit_policy, extra, expected):
    csv = "budget,points\n> 0,5\n> 10,3\n> 100,2\n"
    root = policy(hit_policy, csv, extra, scoring=SCORING)
    assert points(root, budget="500") == expected


def test_a_scoring_table_without_a_match_is_a_missing_value(policy):
    root = policy("unique", "budget,points\n< 100,10\n>= 100,1\n", scoring=SCORING)
    assert points(root, budget="5") == 10.0 and points(root, budget="500") == 1.0
    assert points(root) is None
    assert [d.code for d in problems(root)["table_gap"]] == ["table_gap"]


def unchecked_engine(root, backend="reference") -> Engine:
    """An engine of a policy whose analysis found errors (Engine.load refuses it): what the run time must catch
    where the analysis cannot decide (rows over expressions whose overlap no example proposal was found for)."""
    sink = DiagnosticSink()
    return Engine(compile_policy(load_policy_set(root, [ROOT / "rules"], sink), TODAY, sink), backend)


@pytest.mark.parametrize("hit_policy, csv", [
    ("unique", "budget,points\n> 10,5\n> 100,3\n<= 10,1\n"),
    ("any", "budget,points\n> 10,5\n> 100,3\n<= 10,1\n"),  # rows that match together give different points
])
def test_a_scoring_table_whose_rows_overlap_at_run_time_makes_an_error_row(policy, hit_policy, csv):
    root = policy(hit_policy, csv, scoring=SCORING)
    engine = unchecked_engine(root)
    ranking = engine.rank([{"id": "P-1", "title": "t", "budget": "500"}, {"id": "P-2", "title": "t", "budget": "50"}])
    ranked = [e.id for e in ranking.entries if e.rank is not None]
    (bad,) = [e for e in ranking.entries if e.id == "P-1"]
    assert ranked == ["P-2"] and bad.rank is None and bad.score is None  # never ranked as if size were missing
    assert bad.decision == "error" and [e.code for e in bad.errors] == ["table_overlap"]
    message = bad.errors[0].message
    assert "table 't'" in message and "t.csv!A2 and t.csv!A3" in message  # the table and both rows, located
    assert "narrow one of the rows" in message  # and the fix
    assert bad.reason is not None and "t.csv!A2 and t.csv!A3" in bad.reason


def test_a_scoring_overlap_the_analysis_could_not_prove_is_an_error_row_in_pmo_rank(write_policy, tmp_path):
    # the analysis finds no proposal for budget [100000..1000000) with benefit / budget > 20 (a warning); one exists
    root = write_policy({"intake.yaml": INTAKE + "  benefit: money\n", "tables.yaml": tables("unique", "", "scoring"),
                         "t.csv": "budget,benefit / budget,points\n< 100000,-,10\n[100000..1000000),-,6\n"
                                  ">= 1000000,-,2\nnull,-,0\n[100000..1000000),> 20,9\n",
                         "scoring.yaml": SCORING})
    proposals = tmp_path / "o.csv"
    proposals.write_text("id,title,budget,benefit\nO-1,a,500000,20000000\nO-2,b,500000,2000000\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["rank", str(proposals), "--policies", str(root), "--today", TODAY.isoformat(), "--format", "json"],
                stdout=out, stderr=err)
    entries = {e["id"]: e for e in json.loads(out.getvalue())["entries"]}
    assert entries["O-2"]["rank"] == 1 and entries["O-1"]["rank"] is None
    assert entries["O-1"]["decision"] == "error" and entries["O-1"]["errors"][0]["code"] == "table_overlap"
    assert "t.csv!A3 and t.csv!A6" in entries["O-1"]["errors"][0]["message"]
    assert code == 1 and "1 input row(s) could not be decided or scored" in err.getvalue()  # EXIT_BAD_ROWS


def test_an_unknown_scoring_table_is_named(write_policy):
    root = write_policy({"intake.yaml": INTAKE, "scoring.yaml": SCORING.replace("table: t", "table: size")})
    (error,) = problems(root)["unknown_table"]
    assert error.location.file.endswith("scoring.yaml")


# ---------------------------------------------------------------------------- the hit policies as functions

def group(policy: str, ranks=None, outputs=None) -> HitGroup:
    members = (0, 1, 2)
    return HitGroup("t", policy, members, ranks or {m: () for m in members}, outputs or {m: (m,) for m in members},
                    {m: f"A{m + 2}" for m in members})


def test_choose_follows_dmn():
    assert choose(group("unique"), [1]) == [1]
    with pytest.raises(Overlap, match="rows A2 and A3 both match; a unique table allows one"):
        choose(group("unique"), [0, 1])
    assert choose(group("first"), [2, 1]) == [1]
    assert choose(group("priority", {0: (2,), 1: (0,), 2: (0,)}), [0, 1, 2]) == [1]
    assert choose(group("any", outputs={0: ("x",), 1: ("x",), 2: ("y",)}), [0, 1]) == [0]
    with pytest.raises(Overlap):
        choose(group("any", outputs={0: ("x",), 1: ("x",), 2: ("y",)}), [0, 2])
    assert choose(group("collect"), [0, 2]) == [0, 2]
    assert choose(group("unique"), []) == []
    assert apply([group("first")], [0, 1, 5]) == [0, 5]  # rules of no table pass


def test_a_field_read_only_by_a_scoring_table_is_not_unused(policy):
    root = policy("unique", "unit,points\n\"\"\"IT\"\"\",1\n\"not(\"\"IT\"\"), null\",0\n", scoring=SCORING)
    codes = {(d.code, d.message.split("'")[1]) for d in check_policies(root, today=TODAY, lint=True).diagnostics
             if d.code == "unused_field"}
    assert ("unused_field", "unit") not in codes and ("unused_field", "budget") in codes


# ---------------------------------------------------------------------------- analysis through expressions

DERIVED = INTAKE + "  benefit: money\nderived:\n  ratio: benefit / budget\n"


@BACKENDS
def test_a_row_of_dashes_is_an_else_row_on_both_back_ends(write_policy, backend):
    root = write_policy({"intake.yaml": INTAKE, "tables.yaml": tables("first"), "t.csv":
                         "budget,effect,reason,rule\n> 100,flag,Big,big\n-,flag,Other,other\n"})
    assert problems(root) == {}
    assert fired(root, backend, budget="500") == ["big"]
    assert fired(root, backend, budget="5") == ["other"] and fired(root, backend) == ["other"]


def test_a_gap_through_an_expression_input_is_found_by_search_and_proved(write_policy):
    root = write_policy({"intake.yaml": DERIVED, "tables.yaml": tables("unique"), "t.csv":
                         "ratio,effect,reason,rule\n< 1,reject,Below cost,below\n>= 2,flag,Good,good\nnull,-,-,none\n"})
    (gap,) = problems(root)["table_gap"]
    assert "no row matches ratio [1..2)" in gap.message
    example = json.loads(gap.message.split("example proposal: ")[1])
    engine = Engine.load(root, today=TODAY, backend="rete")
    record = engine._intake.record(example)
    assert 1 <= record["ratio"] < 2 and engine.evaluate(example).findings == []


def test_an_overlap_no_proposal_can_reach_is_a_warning_that_says_so(write_policy):
    # budget and budget + 0 are one value, but boxes see two free columns: budget > 10 with budget + 0 < 5
    root = write_policy({"intake.yaml": INTAKE, "tables.yaml": tables("unique"), "t.csv":
                         "budget,budget + 0,effect,reason,rule\n> 10,-,flag,Big,big\n-,< 5,flag,Small,small\n"})
    (overlap,) = problems(root)["table_overlap"]
    assert overlap.severity == "warning" and "none was found" in overlap.message
    Engine.load(root, today=TODAY)  # a warning: the policy loads


def test_a_file_that_is_not_a_workbook_is_refused(write_policy):
    root = write_policy({"intake.yaml": INTAKE, "Book.xlsx": "not a zip",
                         "tables.yaml": "kind: tables\nworkbook: Book.xlsx\ntables:\n"
                         "  - {name: t, sheet: S, hit_policy: collect, applies_to: intake}\n"})
    (error,) = problems(root)["bad_table"]
    assert error.location.file.endswith("tables.yaml") and "save it again" in error.hint


# ---------------------------------------------------------------------------- the analysis's work is bounded

def band_rows(n: int, hit_policy: str) -> str:
    """A table of n budget bands of 2,000 (the trial's 'big table'), a risk column, the rest and missing budgets."""
    rows = [["budget", "risk", "points"]]
    rows += [[f"[{i * 2000:,}..{(i + 1) * 2000:,})", ">= 4" if i % 7 == 0 else "-", str(i % 10)] for i in range(n)]
    if hit_policy == "first":  # rows the earlier ones cover: each risk row shadows nothing, these are shadowed
        rows += [[f"[{i * 2000:,}..{i * 2000 + 1000:,})", "-", "1"] for i in range(0, n, 5)]
    rows += [[f">= {n * 2000:,}", "-", "0"], ["null", "-", "0"]]
    return csv_text(rows)


def analysis_work(policy, monkeypatch, n: int, hit_policy: str) -> tuple[int, dict[str, list]]:
    """How many meets of value sets (Values.__and__) loading and analysing an n-row table takes, and its findings."""
    from engine.expr import domains
    calls = [0]
    meet = domains.Values.__and__

    def counted(self, other):
        calls[0] += 1
        return meet(self, other)
    root = policy(hit_policy, band_rows(n, hit_policy), scoring=SCORING)
    monkeypatch.setattr(domains.Values, "__and__", counted)
    found = problems(root)
    monkeypatch.setattr(domains.Values, "__and__", meet)
    return calls[0], found


@pytest.mark.parametrize("hit_policy", ["unique", "first", "priority"])
def test_analysing_a_large_table_takes_work_linear_in_its_rows(policy, monkeypatch, hit_policy):
    """Was: 1,000 bands took 36 s and 5,000 over 300 s (trial case 9): every row's cell split every piece of the
    column (pieces x cells), every pair of rows was met for overlaps, and each row of a first table was checked
    against all the rows above it. Four times the rows must take about four times the work, never sixteen."""
    small, found_small = analysis_work(policy, monkeypatch, 60, hit_policy)
    large, found_large = analysis_work(policy, monkeypatch, 240, hit_policy)
    assert large < 6 * small, (small, large)
    assert "table_too_large" not in found_large  # the analysis finished: nothing was cut short
    assert found_small.keys() == found_large.keys()


class PairwiseAnalysis(TableAnalysis):
    """The analysis as it was before the pieces were indexed (every piece cut by every cell, every pair of rows
    met, each row of a first or priority table walked against all the rows above it): the oracle for the
    diagnostics, which must not change."""

    def _overlaps(self):
        table = self.table
        if table.hit_policy not in ("unique", "any"):
            return []
        out = []
        for j in range(len(self.boxes)):
            for i in range(j):
                if len(out) >= analysis.MAX_FOUND:
                    return out
                if table.hit_policy == "any" and table.rows[i].outputs == table.rows[j].outputs:
                    continue
                both = tuple(self.domains[k].fit(a & b) for k, (a, b) in enumerate(zip(self.boxes[i], self.boxes[j])))
                if self._empty(both):
                    continue
                example = self.example(both, analysis._with_both(i, j))
                first, second = table.rows[i], table.rows[j]
                why = "a unique table allows one matching row" if table.hit_policy == "unique" else \
                    "they give different outputs, and a table with hit policy any needs them to agree"
                message = (f"table '{table.name}': rows {first.label} and {second.label} overlap on "
                           f"{self._shown(both)}; {why}")
                if example is not None:
                    out.append(analysis.Diagnostic("table_overlap", f"{message}; example proposal: "
                                                   f"{analysis._json(example)}", second.where,
                                                   "narrow one of the rows, or choose hit_policy first or "
                                                   "priority if the overlap is meant"))
                else:
                    out.append(analysis._warning("table_overlap", f"{message}, if a proposal can have these values "
                                                 "(none was found: the inputs may depend on each other)",
                                                 second.where, "check the two rows"))
        return out

    def _covered(self):
        table = self.table
        out = []
        for j, row in enumerate(table.rows):
            if self._empty(self.boxes[j]):
                continue
            if table.hit_policy == "first":
                better = list(range(j))
            else:
                better = [i for i in range(len(table.rows)) if table.ranks[i] < table.ranks[j]
                          or (table.ranks[i] == table.ranks[j] and i < j)]
            if better and not self.uncovered(better, self.boxes[j], stop_at_first=True):
                why = "earlier rows match every proposal it matches" if table.hit_policy == "first" else \
                    "rows with outputs of higher priority match every proposal it matches"
                out.append(analysis._warning("table_row_never", f"table '{table.name}': row {row.label} can never "
                                             f"be the result: {why}", row.where, "remove the row, or move it up"
                                             if table.hit_policy == "first" else
                                             "remove the row, or narrow the others"))
        return out

    def uncovered(self, rows, within, stop_at_first=False):
        found = []
        limit = 1 if stop_at_first else 50

        def walk(k, candidates, prefix):
            if len(found) >= limit or self.steps > analysis.MAX_STEPS:
                return
            self.steps += 1
            if not candidates:
                found.append(prefix + within[k:])
                return
            if k == len(within):
                return
            cells = list(dict.fromkeys(self.boxes[i][k] for i in candidates))
            fit = self.domains[k].fit
            atoms = [fit(within[k])] if not fit(within[k]).empty else []
            for cell in cells:
                atoms = [piece for atom in atoms for piece in (fit(atom & cell), fit(atom & ~cell)) if not piece.empty]
            for atom in atoms:
                inside = [i for i in candidates if self.domains[k].fit(atom & ~self.boxes[i][k]).empty]
                walk(k + 1, inside, prefix + (atom,))

        walk(0, [i for i in rows if not self._empty(self.boxes[i])], ())
        return analysis._merged(found)


CELLS = {
    "budget": ["-", "-", "null", "not(null)", "> {a}", "<= {a}", "[{a}..{b})", "({a}..{b}]", "{a}", "{a}, {b}",
               "not([{a}..{b}])", "> {b}, null", "< {a}, > {b}"],
    "risk": ["-", "-", "null", "1", "[2..4]", "> 3", "< 2, null", "not(5)", "1, 2", "(1..3)", ">= {r}"],
    "unit": ["-", "-", '"IT"', '"HR", "Finance"', 'not("IT")', 'not("IT"), null', "null", '"Finance"'],
}


def random_table(rng) -> tuple[str, str]:
    columns = rng.sample(list(CELLS), rng.randint(1, 3))
    rows = [columns + ["points"]]
    for _ in range(rng.randint(2, 12)):
        a, b = sorted(rng.sample([0, 50, 100, 250, 1000, 5000], 2))
        rows.append([rng.choice(CELLS[c]).format(a=a, b=b, r=rng.randint(1, 5)) for c in columns]
                    + [str(rng.randint(1, 3))])
    return rng.choice(["unique", "any", "first", "priority", "collect"]), csv_text(rows)


def test_the_indexed_analysis_gives_the_diagnostics_of_the_pairwise_one(write_policy, monkeypatch):
    """Random tables over a money, an integer (1 to 5, may be missing) and an enum column, every hit policy: the same
    gaps, overlaps, rows that never match and covered rows, in the same words and order, as the analysis that
    compared every pair (the pieces are the same values, cut in the same order)."""
    from engine.compile import policy as compiling
    from engine.compile.policy import _analyse_tables
    from engine.tables.build import CompiledTables
    rng = random.Random(9)
    compared = found = 0
    for n in range(60):
        hit_policy, table = random_table(rng)
        root = write_policy({"intake.yaml": INTAKE, "t.csv": table, "scoring.yaml": SCORING,
                             "tables.yaml": tables(hit_policy, "", "scoring")}, folder=f"p{n}")
        sink = DiagnosticSink()
        compiled = compile_policy(load_policy_set(root, [ROOT / "rules"], sink), TODAY, sink)
        if not compiled.tables:
            continue  # a cell the generator wrote that the table refuses (an empty range)
        runs = []
        for analyser in (TableAnalysis, PairwiseAnalysis):
            monkeypatch.setattr(compiling, "TableAnalysis", analyser)
            out = DiagnosticSink()
            _analyse_tables(CompiledTables(compiled.tables), compiled.fields, compiled.id_field, compiled.derived,
                            compiled.strategy, TODAY, out)
            runs.append([(d.code, d.severity, str(d.location), d.message, d.hint) for d in out.items])
        assert runs[0] == runs[1], table
        compared += 1
        found += bool(runs[0])
    assert compared > 50 and found > 25  # the tables compared, and most of them had something to say
