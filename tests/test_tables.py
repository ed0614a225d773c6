"""Decision tables (engine/tables/): the reference policy as a workbook gives the same decisions and ranks as
its YAML, on both back ends; the example workbook with problems is reported with examples that the engine
decides again."""
from __future__ import annotations

import csv
import os
import random

import pytest

from engine import Engine
from engine.authoring.check import check_policies
from engine.compile.policy import compile_policy
from engine.errors import DiagnosticSink
from engine.policy.loader import load_policy_set
from tests.conftest import ROOT, TODAY
from tests.test_backends_agree import random_proposal

TABLES = ROOT / "examples" / "tables" / "policies"
PROBLEMS = ROOT / "examples" / "table-problems" / "policies"
RANDOM = int(os.environ.get("PMO_TABLE_PROPOSALS", "2000"))  # the slow test runs 10,000


@pytest.fixture(scope="module")
def pairs() -> dict[str, tuple[Engine, Engine]]:
    """(YAML engine, workbook engine) per back end."""
    return {backend: (Engine.load(today=TODAY, backend=backend), Engine.load(TABLES, today=TODAY, backend=backend))
            for backend in ("rete", "reference")}


def meaning(decision) -> tuple:
    """What a decision decides: outcome, routes, findings (rule, effect, route, reason), derived values, errors.
    Only where each rule is written differs (policies/intake.yaml:42 or Northwind.xlsx!Sponsorship!A2), and the
    order of findings, which follows the tables."""
    return (decision.id, decision.decision, sorted(decision.routes),
            sorted((f.rule, f.effect, f.route or "", f.reason) for f in decision.findings), decision.derived,
            [(e.column, e.code) for e in decision.errors])


def examples() -> list[dict]:
    with open(ROOT / "examples" / "proposals.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_workbook_has_every_yaml_rule_with_the_same_effect_route_and_reason(pairs):
    yaml, book = pairs["reference"]
    written = {(r.id, r.effect, r.route, r.reason) for r in yaml.policy.rules}
    tabled = {(r.id, r.effect, r.route, r.reason) for r in book.policy.rules if r.effect != "none"}
    assert tabled == written
    where = {r.id: r.where for r in book.policy.rules}
    assert where["sponsor-required"] == "Northwind.xlsx!Sponsorship!A2"
    assert where["budget-cap"] == "Northwind.xlsx!Budget!A8"


@pytest.mark.parametrize("backend", ["rete", "reference"])
def test_same_decisions_and_ranks_on_the_53_examples(pairs, backend):
    yaml, book = pairs[backend]
    rows = examples()
    assert len(rows) == 53
    decided = [(meaning(yaml.evaluate(p)), meaning(book.evaluate(p))) for p in rows]
    assert all(a == b for a, b in decided), next((a, b) for a, b in decided if a != b)
    assert {a[1] for a, _ in decided} == {"accept", "review", "reject"}
    _same_ranking(yaml.rank(rows), book.rank(rows))


def _same_ranking(a, b) -> None:
    assert [(e.id, e.rank, e.decision) for e in a.entries] == [(e.id, e.rank, e.decision) for e in b.entries]
    assert [e.score for e in a.entries] == pytest.approx([e.score for e in b.entries], nan_ok=True)
    assert sum(e.rank is not None for e in a.entries) > 10


def _random(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [random_proposal(rng, i) for i in range(n)]


@pytest.mark.parametrize("backend", ["rete", "reference"])
def test_same_decisions_and_ranks_on_random_proposals(pairs, backend):
    _random_agree(pairs[backend], RANDOM)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["rete", "reference"])
def test_same_decisions_and_ranks_on_10000_random_proposals(pairs, backend):
    _random_agree(pairs[backend], 10_000)


def _random_agree(pair, n: int) -> None:
    yaml, book = pair
    proposals = _random(n, 20261202)
    # decided once each, then ranked from those decisions (rank() would decide them all again)
    ours, theirs = list(yaml.decide_all(proposals)), list(book.decide_all(proposals))
    outcomes = set()
    for p, (a, _), (b, _) in zip(proposals, ours, theirs, strict=True):
        assert meaning(a) == meaning(b), p
        outcomes.add(a.decision)
    assert outcomes == {"accept", "review", "reject", "error"}
    _same_ranking(yaml.rank_of(ours), book.rank_of(theirs))


def test_the_two_back_ends_agree_on_the_workbook_policy(pairs):
    rete, reference = pairs["rete"][1], pairs["reference"][1]
    for p in _random(500, 7):
        assert rete.evaluate(p).model_dump() == reference.evaluate(p).model_dump()


def test_findings_and_coverage_name_the_row(pairs):
    book = pairs["rete"][1]
    decision = book.evaluate({"id": "PRJ-0001", "title": "t", "budget": "3000000", "alignment": "net-zero:strong",
                              "sponsor": "Ann", "sponsor_level": "executive", "benefit": "9000000"})
    sources = {f.rule: f.source for f in decision.findings}
    assert sources["route-investment-committee"] == "Northwind.xlsx!Budget!A6"
    from engine.authoring.coverage import Hits, coverage_targets
    targets = coverage_targets(book)
    assert {t.key: t.where for t in targets.items if t.kind == "rule"}["route-board"] == "Northwind.xlsx!Budget!A7"
    hits = Hits(targets)
    hits.proposals(book, examples()[:2])
    never = {t.key: t.where for t in hits.report().uncovered}
    assert never["budget-cap"] == "Northwind.xlsx!Budget!A8"  # a rule never hit is named by its row


def test_the_reference_workbook_validates_clean():
    checked = check_policies(TABLES, today=TODAY, lint=True)
    assert checked.policy is not None
    assert [d for d in checked.diagnostics if d.code.startswith("table")] == []


def test_merged_cells_in_a_table_are_refused_not_read_as_any_value(tmp_path):
    """Found by a new user: `true` merged over two rows of a condition column read as true, then '-' (any value),
    and rejected every proposal the second row was meant to spare; nothing was said."""
    import shutil

    import openpyxl
    shutil.copytree(TABLES.parent, tmp_path / "tables")
    book_path = tmp_path / "tables" / "Northwind.xlsx"
    book = openpyxl.load_workbook(book_path)
    sheet = book.worksheets[0]
    sheet.merge_cells(start_row=2, start_column=1, end_row=3, end_column=1)
    book.save(book_path)
    errors = [d for d in check_policies(tmp_path / "tables" / "policies", today=TODAY).diagnostics
              if d.severity == "error"]
    assert errors and errors[0].code == "bad_table"
    assert f"sheet '{sheet.title}': merged cells A2:A3: only the first cell of each holds its value" in errors[0].message


def _hidden(tmp_path, hide):
    """The example workbook with ``hide(book)`` done to it: the errors pmo validate gives, and the first sheet."""
    import shutil

    import openpyxl
    shutil.copytree(TABLES.parent, tmp_path / "tables")
    book_path = tmp_path / "tables" / "Northwind.xlsx"
    book = openpyxl.load_workbook(book_path)
    hide(book)
    book.save(book_path)
    return [d for d in check_policies(tmp_path / "tables" / "policies", today=TODAY).diagnostics
            if d.severity == "error"], book.worksheets[0].title


def test_a_hidden_row_of_a_table_is_refused_at_its_first_cell(tmp_path):
    """A hidden row is a rule the policy author reviewing the sheet does not see: it was read with no word. Now
    refused, located at the row's first cell, as merged cells are."""
    def hide(book):
        book.worksheets[0].row_dimensions[3].hidden = True
        book.worksheets[0].row_dimensions[40].hidden = True  # a hidden row with nothing in it hides nothing
    errors, title = _hidden(tmp_path, hide)
    assert [(e.code, str(e.location).rsplit("/", 1)[-1]) for e in errors] == [("hidden_cells",
                                                                               f"Northwind.xlsx!{title}!A3")]
    assert f"sheet '{title}': row 3 is hidden" in errors[0].message and "unhide" in errors[0].hint


def test_a_hidden_column_of_a_table_is_refused(tmp_path):
    def hide(book):
        book.worksheets[1].column_dimensions["B"].hidden = True
    errors, _ = _hidden(tmp_path, hide)
    assert [(e.code, str(e.location).rsplit("/", 1)[-1]) for e in errors] == [("hidden_cells",
                                                                               "Northwind.xlsx!Budget!B1")]
    assert "sheet 'Budget': column B is hidden" in errors[0].message


def test_a_hidden_table_sheet_is_refused_and_other_hidden_sheets_are_not_read(tmp_path):
    def hide(book):
        book["Risk"].sheet_state = "hidden"
        book.create_sheet("Scratch").sheet_state = "veryHidden"  # no table names it: not read, nothing to say
        book["Scratch"]["A1"] = "notes"
    errors, _ = _hidden(tmp_path, hide)
    assert [e.code for e in errors] == ["hidden_cells"]
    assert "sheet 'Risk' is hidden" in errors[0].message


def test_a_route_with_a_non_breaking_or_doubled_space_is_the_same_approver(tmp_path):
    """Found by a new user: 'Comité de\xa0Cartera' (as Excel keeps a pasted non-breaking space) was an approver
    of its own beside 'Comité de Cartera'."""
    import shutil

    import openpyxl
    shutil.copytree(TABLES.parent, tmp_path / "tables")
    book_path = tmp_path / "tables" / "Northwind.xlsx"
    book = openpyxl.load_workbook(book_path)
    changed = 0
    for sheet in book.worksheets:
        header = [c.value for c in sheet[1]]
        if "route" in header:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=header.index("route") + 1,
                                           max_col=header.index("route") + 1):
                if isinstance(cell.value, str) and " " in cell.value:
                    cell.value = cell.value.replace(" ", "\xa0", 1).replace(" ", "  ") + " "
                    changed += 1
    assert changed
    book.save(book_path)
    with (ROOT / "examples" / "proposals.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    before, after = Engine.load(TABLES, today=TODAY), Engine.load(tmp_path / "tables" / "policies", today=TODAY)
    assert [before.evaluate(r).routes for r in rows] == [after.evaluate(r).routes for r in rows]


# ---------------------------------------------------------------------------- the workbook with problems

def _problems():
    sink = DiagnosticSink()
    policy = compile_policy(load_policy_set(PROBLEMS, [ROOT / "rules"], sink), TODAY, sink)
    return policy, sink.items


def test_validate_reports_the_gap_and_the_overlap_with_examples():
    checked = check_policies(PROBLEMS, today=TODAY)
    assert checked.policy is None  # a unique table that overlaps cannot be used
    found = {d.code: d for d in checked.diagnostics}
    gap, overlap = found["table_gap"], found["table_overlap"]
    assert gap.severity == "warning" and overlap.severity == "error"
    assert str(gap.location).endswith("Problems.xlsx!Approvers!A1")
    assert "budget (1,000,000..2,000,000]" in gap.message
    assert str(overlap.location).endswith("Problems.xlsx!Approvers!A5")
    assert "Problems.xlsx!Approvers!A4 and Problems.xlsx!Approvers!A5" in overlap.message


def _example(message: str) -> dict:
    import json
    return json.loads(message.split("example proposal: ", 1)[1])


@pytest.mark.parametrize("backend", ["rete", "reference"])
def test_the_examples_are_decided_again_by_the_engine(backend):
    policy, diagnostics = _problems()
    found = {d.code: d for d in diagnostics}
    engine = Engine(policy, backend)  # the policy is refused by load (the overlap); its parts still run
    gap = _example(found["table_gap"].message)
    decision = engine.evaluate(gap)
    assert decision.decision == "accept" and decision.findings == [] and decision.routes == []  # no approver
    record = engine._intake.record(gap)
    assert engine._intake.backend.fire(record) == []  # no row of the table matched
    overlap = engine.evaluate(_example(found["table_overlap"].message))
    assert overlap.decision == "error"
    assert [e.code for e in overlap.errors] == ["table_overlap"]
    assert "Problems.xlsx!Approvers!A4 and Problems.xlsx!Approvers!A5 both match" in overlap.errors[0].message


def test_cli_validate_prints_cell_locations(capsys):
    from engine.cli import main
    code = main(["validate", str(PROBLEMS), "--today", TODAY.isoformat()])
    out = capsys.readouterr().out
    assert code == 2
    assert "Problems.xlsx!Approvers!A5: error[table_overlap]" in out
    assert "Problems.xlsx!Approvers!A1: warning[table_gap]" in out


def test_workbooks_are_what_the_script_makes(tmp_path, monkeypatch):
    """The committed .xlsx files hold the tables of examples/tables/make_workbooks.py."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_workbooks", ROOT / "examples" / "tables" / "make_workbooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from engine.tables.sheet import Workbooks
    books = Workbooks()
    for path, tables in ((ROOT / "examples" / "tables" / "Northwind.xlsx", module.NORTHWIND),
                         (ROOT / "examples" / "table-problems" / "Problems.xlsx", module.PROBLEMS)):
        for sheet, (header, rows) in tables.items():
            cells = books.grid(path, sheet).cells
            expected = {(r, c): v for r, row in enumerate([header, *rows], 1) for c, v in enumerate(row, 1)
                        if v is not None and v != ""}
            assert cells == expected, sheet


def test_the_not_yet_list_of_docs_tables_names_nothing_that_exists():
    """Was: docs/tables.md's "Not yet" listed pmo export-policies, rater panels and completeness proofs, which the
    README describes as there (pmo export-policies/import-policies, panel criteria, kind: assurances)."""
    import argparse
    import re
    import typing

    from engine.cli import build_parser
    from engine.policy.models import TableSpec
    text = (ROOT / "docs" / "tables.md").read_text(encoding="utf-8").split("## Not yet", 1)[1].split("\n## ", 1)[0]
    commands = {name for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)
                for name in action.choices}
    assert {"export-policies", "import-policies", "rank"} <= commands
    assert [c for c in re.findall(r"`pmo ([a-z-]+)", text) if c in commands] == []
    accepted = typing.get_args(TableSpec.model_fields["applies_to"].annotation)
    assert [a for a in re.findall(r"applies_to: (\w+)", text) if a in accepted] == []
    assert "panel" not in text.lower() and "completeness" not in text.lower()  # docs/scoring.md, kind: assurances


def test_a_table_workbook_that_unzips_to_too_much_is_refused_before_it_is_read(tmp_path):
    """A policy's decision-table workbook (openpyxl reads it whole) with one cell of 80 MB of text, zipped to under
    1 MB, as /tmp/trial4/hostile/bomb.xlsx was a proposals file: refused by its zip directory's sizes, in bounded
    memory (openpyxl held the cell, several times over), instead of being read."""
    import re
    import shutil
    import tracemalloc
    import zipfile
    shutil.copytree(TABLES.parent, tmp_path / "tables")
    book_path = tmp_path / "tables" / "Northwind.xlsx"
    with zipfile.ZipFile(book_path) as z:
        items = [(info.filename, z.read(info)) for info in z.infolist()]
    sheet = next(name for name, _ in items if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", name))
    with zipfile.ZipFile(book_path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in items:
            if name != sheet:
                z.writestr(name, data)
                continue
            head, tail = data.decode("utf-8").split("</sheetData>")
            with z.open(name, "w", force_zip64=True) as f:
                f.write((head + '<row r="999"><c r="A999" t="inlineStr"><is><t>').encode())
                for _ in range(80):
                    f.write(b"x" * (1 << 20))
                f.write(("</t></is></c></row></sheetData>" + tail).encode())
    assert book_path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        errors = [d for d in check_policies(tmp_path / "tables" / "policies", today=TODAY).diagnostics
                  if d.severity == "error"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert any(e.code == "bad_table" and "unzips to 83," in e.message for e in errors), errors
    assert peak < 40 << 20, f"peak {peak:,} bytes"
