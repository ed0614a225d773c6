"""Hostile inputs, safe outputs, concurrency and determinism (see docs/reliability.md)."""
import csv
import io
import os
import subprocess
import sys
import threading
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import Engine, validate
from engine.errors import DiagnosticSink
from engine.expr.check import check
from engine.expr.evaluate import evaluate
from engine.expr.parse import ExprError, parse
from engine.io.writers import write_decisions
from engine.policy.source import load_document
from tests.conftest import ROOT, TODAY
from tests.fuzz import fuzz

TYPES = {"budget": "number", "name": "string", "start": "date", "ok": "bool", "flows": "list[number]"}
RECORD = {"budget": None, "name": "x", "start": None, "ok": True, "flows": ()}


@fuzz(800)
@given(st.text(alphabet=st.sampled_from(list("budgetnamstrokflw0123456789.+-*/()<>=!,[]'\" andortfl_")),
               max_size=60))
def test_expressions_end_in_a_value_or_a_located_error(text):
    try:
        node = check(parse(text), TYPES, TODAY)
    except ExprError as exc:
        assert 0 <= exc.offset <= len(text) and exc.message
        return
    evaluate(node, RECORD)  # must not raise


@fuzz(300)
@given(st.text(max_size=300))
def test_any_policy_text_ends_in_a_document_or_diagnostics(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "intake.yaml"
    path.write_text(text, encoding="utf-8")
    sink = DiagnosticSink()
    document = load_document(path, "intake.yaml", sink)
    assert document is not None or sink.items


@fuzz(200)
@given(st.lists(st.lists(st.text(max_size=8), max_size=6), max_size=8))
def test_csv_rows_in_equal_rows_out(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("csv") / "p.csv"
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["id", "title", "budget"]] + rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    engine = Engine.load(today=TODAY, backend="reference")
    from engine import read_proposals
    try:
        decisions = list(engine.evaluate_many(read_proposals(path)))
    except Exception as exc:  # only a file-level refusal is allowed, and it must be ours
        from engine import InputError
        assert isinstance(exc, InputError)
        return
    non_blank = [r for r in csv.reader(io.StringIO(buffer.getvalue()))][1:]
    assert len(decisions) == sum(1 for r in non_blank if any(c.strip() for c in r))


def test_alias_bombs_deep_nesting_and_huge_files_are_refused_in_little_memory(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9))
    cases = {"bomb.yaml": bomb, "deep.yaml": "a: " + "[" * 200 + "]" * 200 + "\n",
             "huge.yaml": "kind: intake\nx: '" + "y" * 3_000_000 + "'\n"}
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        sink = DiagnosticSink()
        tracemalloc.start()
        assert load_document(path, name, sink) is None
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert sink.items[0].code == "too_large", (name, sink.items)
        assert peak < 40_000_000, (name, peak)  # refused before the bomb expands (10^10 items)


def test_a_100_mb_policy_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "intake.yaml"
    with path.open("wb") as f:  # sparse: 100 MB on paper, nothing on disk
        f.write(b"kind: intake\n")
        f.truncate(100_000_000)
    sink = DiagnosticSink()
    tracemalloc.start()
    assert load_document(path, "intake.yaml", sink) is None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10_000_000  # the 100 MB were never read
    assert sink.items[0].code == "too_large" and "100,000,000 bytes" in sink.items[0].message


@pytest.mark.parametrize("text, message", [
    ("(" * 60 + "budget" + ")" * 60 + " > 1", "nested more than 50 brackets"),
    ("[" * 80 + "1" + "]" * 80, "nested more than 50 brackets"),
    ("budget > 1e999999999", "out of range"),
    ("budget > " + "9" * 400, "400 significant digits"),
    ("budget ** 2 > 1", "unsupported operator"),
    (" or ".join(["budget > 1"] * 600), "longer than 4000"),
    ("+".join(["x"] * 600) + " > 1", "more than 500 parts"),
])
@pytest.mark.timeout(60)  # a hang guard: these used to recurse or backtrack without end
def test_hostile_expressions_are_refused_with_a_position(text, message):
    with pytest.raises(ExprError) as info:
        check(parse(text), {"budget": "number", "x": "number"}, TODAY)
    assert message in info.value.message and 0 <= info.value.offset <= len(text)


def test_catastrophic_regexes_are_refused_at_load(write_policy):
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string}\nrules:\n"
                         "  - {id: r, when: 'matches(id, \"(a+)+$\")', effect: flag, reason: r}\n"})
    [diagnostic] = validate(root, today=TODAY)
    assert diagnostic.code == "unsafe_regex" and "exponential" in diagnostic.message


def test_symlinked_policy_files_are_refused(write_policy, tmp_path):
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string}\n"})
    target = tmp_path / "elsewhere.yaml"
    target.write_text("kind: strategy\nobjectives: [{id: x, name: X, weight: 1}]\n")
    os.symlink(target, root / "strategy.yaml")
    assert [d.code for d in validate(root, today=TODAY)] == ["symlink"]


@pytest.mark.parametrize("value, code", [
    (float("nan"), "bad_value"), (float("inf"), "bad_value"), ("1" * 400, "bad_value"), ("9" * 20, "bad_value"),
    ("x" * 10_000_000, "bad_value"),
])
@pytest.mark.timeout(60)  # a hang guard
def test_hostile_values_have_defined_behaviour(engines, value, code):
    tracemalloc.start()
    decision = engines["rete"].evaluate({"id": "P", "title": value if isinstance(value, str) and
                                         value.startswith("x") else "t", "budget": value})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 25_000_000  # at most one copy of the 10 MB title on the way to its error row
    assert decision.decision == "error" and decision.errors[0].code == code
    assert len(decision.errors[0].message) < 300  # the message does not echo the whole input


def test_formula_injection_is_inert_in_csv(engines):
    decision = engines["reference"].evaluate({"id": '=HYPERLINK("http://x","y")', "title": "+cmd|' /C calc'!A0",
                                              "budget": -5})
    out = io.StringIO()
    write_decisions([decision], out, "csv")
    cells = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert cells["id"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert cells["errors"] == "" or not cells["errors"].startswith(("=", "+", "-", "@"))


def test_eight_threads_share_one_engine(engines):
    engine = engines["rete"]
    from tests.test_backends_agree import random_proposal
    import random
    rng = random.Random(8)
    proposals = [random_proposal(rng, i) for i in range(10_000)]
    serial = [engine.evaluate(p).model_dump_json() for p in proposals]
    results: dict[int, list[str]] = {}

    def work(k):
        results[k] = [engine.evaluate(p).model_dump_json() for p in proposals]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[k] == serial for k in range(8))


@pytest.mark.parametrize("command", [["evaluate", "examples/proposals.csv", "--format", "json", "--no-log"],
                                     ["rank", "examples/proposals.csv", "--format", "json", "--sensitivity"],
                                     ["conflicts", "examples/portfolio.yaml", "--format", "json"],
                                     ["select", "examples/selection.yaml", "--format", "json"]])
def test_output_is_byte_identical_across_hash_seeds(command):
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run([sys.executable, "-m", "engine.cli", *command, "--today", "2026-12-01"],
                                cwd=ROOT, env=env, capture_output=True, check=False)
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_formula_injection_is_inert_in_xlsx(tmp_path):
    import openpyxl

    from engine.cli import main
    source = tmp_path / "p.csv"
    source.write_text('id,title,budget\n"=HYPERLINK(""http://x"",""y"")",@SUM(A1),10\n')
    for command in (["evaluate", str(source)], ["rank", str(source)]):
        out = tmp_path / f"{command[0]}.xlsx"
        assert main([*command, "--format", "xlsx", "--out", str(out), "--today", "2026-12-01"] +
                    (["--no-log"] if command[0] == "evaluate" else [])) in (0, 1)
        book = openpyxl.load_workbook(out)
        cells = [c for sheet in book for r in sheet.iter_rows() for c in r if isinstance(c.value, str)
                 and "HYPERLINK" in c.value]
        assert cells and all(c.data_type == "s" for c in cells), [(c.value, c.data_type) for c in cells]
