"""Fuzzing the readers (JSON, JSONL, YAML, XLSX) and the rule compilation (random conditions on both back
ends). Any input ends in rows (one per record, maybe error rows) or a located refusal (InputError): never
another exception. Sizes: tests/fuzz.py (--fuzz-scale N for a longer run)."""
import json
import random
import string

from hypothesis import given
from hypothesis import strategies as st

from engine import Engine, InputError, PmoError, read_proposals
from engine.policy.resources import reference_policies
from tests.conftest import TODAY
from tests.fuzz import fuzz
from tests.test_backends_agree import random_proposal

ENGINE = Engine.load(today=TODAY, backend="reference")


def decide_file(path):
    """Decisions for every row of a file, or the InputError refusing it."""
    try:
        rows = list(read_proposals(path))
    except InputError as exc:
        assert exc.diagnostics and exc.diagnostics[0].location.file == str(path)
        return None
    decisions = list(ENGINE.evaluate_many(rows))
    assert len(decisions) == len(rows)
    for d in decisions:
        assert d.decision in ("accept", "review", "reject", "error")
        if d.decision == "error":
            assert d.errors and all(e.message for e in d.errors)
    return decisions


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(), st.text(max_size=10),
              st.sampled_from(["2027-01-01", "net-zero:strong", "1,000", "12%"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
        st.sampled_from(["id", "title", "budget", "risk", "alignment", "sponsor", "x"]), inner, max_size=5)),
    max_leaves=20)


@fuzz(150)
@given(st.lists(json_values, max_size=6), st.sampled_from(["json", "jsonl", "yaml"]))
def test_json_jsonl_and_yaml_documents_end_in_rows_or_a_refusal(tmp_path_factory, items, kind):
    path = tmp_path_factory.mktemp("doc") / f"in.{kind}"
    if kind == "jsonl":
        text = "".join(json.dumps(item, allow_nan=True) + "\n" for item in items)
    else:
        text = json.dumps(items, allow_nan=True)  # JSON is YAML too (NaN aside: a refusal is fine)
    path.write_text(text, encoding="utf-8")
    decisions = decide_file(path)
    if kind == "jsonl" and decisions is not None:
        assert len(decisions) == len(items)  # one row per line, even for lines that are not objects


@fuzz(150)
@given(st.text(max_size=200), st.sampled_from(["json", "jsonl", "yaml"]))
def test_any_text_as_a_document_ends_in_rows_or_a_refusal(tmp_path_factory, text, kind):
    path = tmp_path_factory.mktemp("text") / f"in.{kind}"
    path.write_bytes(text.encode("utf-8", errors="replace"))
    decide_file(path)


@fuzz(40)
@given(st.lists(st.lists(st.one_of(st.none(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                                   st.booleans(), st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " ", max_size=12)),
                         min_size=0, max_size=8), max_size=6))
def test_xlsx_cells_end_in_rows_or_a_refusal(tmp_path_factory, rows):
    from openpyxl import Workbook
    path = tmp_path_factory.mktemp("xlsx") / "in.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.append(["id", "title", "budget", "risk", "alignment", "sponsor"])
    for row in rows:
        sheet.append([c if not (isinstance(c, str) and c.startswith("=")) else "'" + c for c in row])
    book.save(path)
    decisions = decide_file(path)
    non_blank = [r for r in rows if any(c is not None and str(c).strip() for c in r)]
    assert decisions is not None and len(decisions) == len(non_blank)


@fuzz(60)
@given(st.binary(max_size=400))
def test_random_bytes_as_a_workbook_are_refused(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "in.xlsx"
    path.write_bytes(data)
    assert decide_file(path) is None


# Random rule conditions over the reference fields: both back ends compile them and decide alike.
numbers = st.sampled_from(["budget", "benefit", "risk", "complexity", "headcount", "opex_per_year"])
constants = st.sampled_from(["0", "1", "3", "250_000", "1_000_000", "-5", "2.5", "null"])
ops = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])


@st.composite
def conditions(draw, depth=0):
    kind = draw(st.integers(0, 5 if depth < 3 else 2))
    if kind <= 1:
        return f"{draw(numbers)} {draw(ops)} {draw(constants)}"
    if kind == 2:
        return draw(st.sampled_from(["sponsor == null", "regulatory", "not personal_data", "category == \"growth\"",
                                     "start_date < today()", "alignment >= 0.2", "vendor in [\"Acme Ltd\"]"]))
    if kind == 3:
        return f"not ({draw(conditions(depth + 1))})"
    joiner = " and " if kind == 4 else " or "
    return "(" + joiner.join(draw(st.lists(conditions(depth + 1), min_size=2, max_size=3))) + ")"


@fuzz(40)
@given(st.lists(conditions(), min_size=1, max_size=4), st.integers(0, 2**32))
def test_random_conditions_compile_and_decide_alike_on_both_back_ends(tmp_path_factory, whens, seed):
    root = tmp_path_factory.mktemp("policy")
    reference = reference_policies()
    (root / "strategy.yaml").write_text((reference / "strategy.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    fields = (reference / "intake.yaml").read_text(encoding="utf-8").split("\nderived:")[0]
    rules = "".join(f"  - {{id: r{i}, when: {json.dumps(w)}, effect: {('reject', 'review', 'flag')[i % 3]}, "
                    f"reason: r{i}, route: board}}\n" for i, w in enumerate(whens))
    (root / "intake.yaml").write_text(fields + "\nrules:\n" + rules, encoding="utf-8")
    try:
        engines = [Engine.load(root, today=TODAY, backend=b) for b in ("rete", "reference")]
    except PmoError as exc:  # a condition may be ill-typed (null compared with <): a located refusal
        assert all(d.location and d.location.line for d in exc.diagnostics), exc.diagnostics
        return
    rng = random.Random(seed)
    for i in range(30):
        proposal = random_proposal(rng, i)
        a, b = (e.evaluate(proposal) for e in engines)
        assert a.model_dump() == b.model_dump(), (whens, proposal)


def test_control_characters_in_proposal_text_do_not_break_the_xlsx_output(tmp_path):
    """Found by the fuzzer: openpyxl refuses \\x0c in a cell; the writer shows it as U+FFFD instead."""
    from openpyxl import load_workbook

    from engine.io.writers import write_xlsx
    decision = ENGINE.evaluate({"id": "P\x0c1", "title": "form\x0cfeed", "budget": "x\x01"})
    write_xlsx([decision], tmp_path / "out.xlsx")
    cells = next(load_workbook(tmp_path / "out.xlsx")["Decisions"].iter_rows(min_row=2, values_only=True))
    assert cells[0] == "P\ufffd1"


def test_regression_found_by_atheris_a_folded_list_of_mixed_values():
    """tests/fuzz_atheris.py expressions: a list whose items fold to a number and a missing value raised
    ValueProblem out of the type checker instead of a located ExprError."""
    from engine.expr.check import check
    from engine.expr.parse import ExprError, parse
    for text in ("[1, 3, null + 1]", "--88<+8-8+7--88<8++4+7,-8+7-null+88"):
        try:
            check(parse(text), {"budget": "number"}, TODAY)
        except ExprError as exc:
            assert exc.code in ("bad_value", "type_mismatch", "syntax") and 0 <= exc.offset <= len(text)
        else:
            raise AssertionError(f"{text!r} was accepted")


@fuzz(150)
@given(st.text(alphabet='ab,"\n\r \x00;', max_size=120))
def test_any_csv_text_ends_in_rows_in_file_order_or_a_refusal(tmp_path_factory, body):
    """Quotes, delimiters, NULs and line breaks in any order: rows (error rows included) in increasing line
    order, never an exception; a file the csv module reads without error gives exactly its rows."""
    import csv
    import io
    path = tmp_path_factory.mktemp("csv") / "in.csv"
    path.write_text("id,title,budget\n" + body, encoding="utf-8", newline="")
    try:
        rows = list(read_proposals(path))
    except InputError:
        return
    lines = [r.row for r in rows]
    assert lines == sorted(set(lines)) and all(line >= 2 for line in lines)
    try:
        expected = [r for r in csv.reader(io.StringIO(body, newline=""), strict=True) if any(c.strip() for c in r)]
    except csv.Error:
        return
    ok = [r for r in rows if r.error is None or r.error.code in ("extra_cells", "missing_cells", "bad_text")]
    assert len(ok) == len(rows) == len(expected)


@fuzz(100)
@given(st.lists(st.one_of(st.integers(-10**1200, 10**1200), st.text(max_size=5),
                          st.sampled_from(["\ud800", "x\udfff", "\x00", "1e999999", "-0"])), min_size=1, max_size=4),
       st.sampled_from(["json", "jsonl", "yaml"]))
def test_long_numbers_and_broken_text_end_in_error_rows_naming_the_column(tmp_path_factory, values, kind):
    path = tmp_path_factory.mktemp("bounds") / f"in.{kind}"
    items = [{"id": f"P{i}", "budget": v} for i, v in enumerate(values)]
    text = "".join(json.dumps(item) + "\n" for item in items) if kind == "jsonl" else json.dumps(items)
    path.write_text(text, encoding="utf-8")
    decisions = decide_file(path)
    assert decisions is not None and len(decisions) == len(items)
    for value, decision in zip(values, decisions):
        if isinstance(value, int) and len(str(abs(value))) > 1000 or value in ("\ud800", "x\udfff", "\x00"):
            assert decision.decision == "error" and decision.errors[0].column == "budget"
