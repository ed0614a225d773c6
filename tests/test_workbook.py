"""The policy workbook (engine/workbook/): export a policy set for review, import the edited workbook, and the
round trip YAML -> workbook -> YAML keeps the meaning (same decisions and ranks on both back ends)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Engine
from engine.authoring.diff import diff_policies
from engine.cli import main
from engine.errors import PmoError
from engine.workbook.export import export_policies
from engine.workbook.layout import Item, parse_path, path_text
from engine.workbook.reader import import_policies
from tests.conftest import ROOT, TODAY
from tests.test_backends_agree import random_proposal
from tests.test_tables import meaning

REFERENCE = ROOT / "policies"
HOSPITAL = ROOT / "examples" / "hospital-it" / "policies"
TABLES = ROOT / "examples" / "tables" / "policies"
RANDOM = 1500


def rows_of(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def export_to(folder: Path, target: Path) -> Path:
    target.write_bytes(export_policies(folder, today=TODAY))
    return target


@pytest.fixture(scope="module")
def round_trips(tmp_path_factory) -> dict[str, Path]:
    """Each policy folder exported and imported again: name -> the imported folder."""
    out = {}
    for name, folder in (("reference", REFERENCE), ("hospital", HOSPITAL), ("tables", TABLES)):
        base = tmp_path_factory.mktemp(name)
        book = export_to(folder, base / "policies.xlsx")
        imported = import_policies(book, base / "imported", today=TODAY)
        out[name] = base / "imported"
        hashes[name] = imported.policy_hash
    return out


hashes: dict[str, str] = {}  # name -> the policy hash import_policies returned (round_trips fills it)


def test_an_import_reports_the_hash_of_the_folder_it_wrote(round_trips):
    """The hash names the folder the files are in (a copy elsewhere is another version): the import's is the
    written folder's, as `pmo validate` of that folder gives it, not the staging folder's it was checked in."""
    for name, folder in round_trips.items():
        assert hashes[name] == Engine.load(folder, today=TODAY).policy_hash, name


def sheet_rows(ws) -> list[tuple]:
    return [tuple(c for c in row) for row in ws.iter_rows(values_only=True)]


def sections(ws) -> dict[str, list[dict]]:
    """A policy sheet's sections as {title: [row as {header: value}]}."""
    out: dict[str, list[dict]] = {}
    title, header = None, None
    for row in ws.iter_rows(values_only=True):
        if isinstance(row[0], str) and row[0].startswith("§ "):
            title, header = row[0][2:], None
            out[title] = []
        elif title is not None and any(v is not None for v in row):
            if header is None:
                header = row
            else:
                out[title].append({h: v for h, v in zip(header, row) if h is not None and v is not None})
    return out


# ---------------------------------------------------------------------------- export

def test_the_same_policy_and_date_give_the_same_bytes(tmp_path):
    first, second = export_policies(REFERENCE, today=TODAY), export_policies(REFERENCE, today=TODAY)
    assert first == second
    assert export_policies(REFERENCE, today=TODAY + dt.timedelta(days=1)) != first  # the cover's date


def test_the_cover_names_the_policy_hash_the_date_and_every_file(tmp_path):
    book = openpyxl.load_workbook(export_to(REFERENCE, tmp_path / "p.xlsx"))
    assert book.sheetnames[0] == "Cover"
    cover = {row[0]: row[1] for row in sheet_rows(book["Cover"]) if row[0]}
    assert cover["policy hash"] == Engine.load(today=TODAY).policy.policy_hash
    assert cover["exported"].date() == TODAY and cover["policy folder"] == "policies"
    listed = sheet_rows(book["Cover"])
    start = next(i for i, r in enumerate(listed) if r[:3] == ("sheet", "file", "kind"))
    files = {r[1]: r[0] for r in listed[start + 1:] if r[0] and r[1]}
    assert set(files) == {p.name for p in REFERENCE.glob("*.yaml")}
    assert all(files[f] in book.sheetnames for f in files)


def test_sheets_are_named_within_excels_rules_and_styled(tmp_path):
    book = openpyxl.load_workbook(export_to(TABLES, tmp_path / "t.xlsx"))
    names = book.sheetnames
    assert len({n.lower() for n in names}) == len(names) and all(len(n) <= 31 for n in names)
    assert "strategy" in names and "Strategy (2)" in names  # a policy file and a decision table, told apart
    for ws in book.worksheets:
        assert ws.freeze_panes is not None, ws.title
        assert any(d.width for d in ws.column_dimensions.values()), ws.title
    intake = book["intake"]
    header = next(row for row in intake.iter_rows() if row[0].value == "key")
    assert header[0].font.bold and header[0].fill.fgColor.rgb.endswith("1F4E78")


def test_every_row_names_the_line_it_came_from(tmp_path):
    book = openpyxl.load_workbook(export_to(REFERENCE, tmp_path / "p.xlsx"))
    lines = (REFERENCE / "intake.yaml").read_text().split("\n")
    rules = sections(book["intake"])["rules"]
    assert len(rules) == 19
    for row in rules:
        file, line = row["source"].rsplit(":", 1)
        assert file == "policies/intake.yaml" and f"id: {row['id']}" in lines[int(line) - 1]
    gates = sections(book["gates"])
    assert gates["gates[business-case].must_meet"][0]["source"] == "policies/gates.yaml:20"


def test_every_rule_band_lookup_weight_and_gate_criterion_is_there(tmp_path):
    book = openpyxl.load_workbook(export_to(REFERENCE, tmp_path / "p.xlsx"))
    text = {str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None}
    engine = Engine.load(today=TODAY)
    assert {r.id for r in engine.policy.rules if not r.origin} <= text
    scoring = sections(book["scoring"])
    assert [(r.get("from"), r.get("below"), r["points"]) for r in scoring["criteria[size].bands.ranges"]] == [
        (None, 250_000, 10), (250_000, 1_000_000, 7), (1_000_000, 5_000_000, 4), (5_000_000, None, 1)]
    assert {r["key"]: r["value"] for r in scoring["criteria[category-fit].lookup.table"]}["compliance"] == 10
    criteria = {r["id"]: r for r in scoring["criteria"]}
    assert criteria["strategic-alignment"]["weight"] == 0.35 and criteria["size"]["(weight used)"] == "0.1000"
    objectives = {r["id"]: r["(weight used)"] for r in sections(book["strategy"])["objectives"]}
    assert objectives["customer-experience"] == f"{engine.policy.strategy.weights.values['customer-experience']:.4f}"
    gates = sections(book["gates"])
    assert [r["id"] for r in gates["gates[business-case].should_meet.criteria"]] == [
        "strong-return", "positive-npv", "manageable-risk", "well-aligned"]
    includes = sections(book["intake"])["include"]
    sponsor = next(r for r in includes if r["use"] == "governance/sponsor-required")
    assert sponsor["with.threshold"] == 250_000
    assert "sponsor-required: reject when budget > 250,000 and sponsor == null" in sponsor["(as included)"]


def test_decision_tables_and_reference_data_are_sheets_too(tmp_path):
    book = openpyxl.load_workbook(export_to(TABLES, tmp_path / "t.xlsx"))
    budget = sheet_rows(book["Budget"])
    assert budget[0][-1] == "source" and budget[1][-1] == "Northwind.xlsx!Budget!A2"
    hospital = openpyxl.load_workbook(export_to(HOSPITAL, tmp_path / "h.xlsx"))
    vendors = sheet_rows(hospital["approved-vendors.csv"])
    assert vendors[0] == ("vendor", "tier", "baa_signed", "approved_on", "source")
    assert vendors[1] == ("Epic Systems", "strategic", "true", "2019-04-01", "policies/approved-vendors.csv:2")


def test_merged_cells_in_an_exported_decision_table_are_refused_at_the_merge(tmp_path):
    """Found by a new user: merged table cells imported cleanly, their other cells as '-' (any value), and only
    pmo diff showed five decisions changing."""
    book_path = export_to(TABLES, tmp_path / "t.xlsx")
    book = openpyxl.load_workbook(book_path)
    book["Budget"].merge_cells("A2:A3")
    book.save(book_path)
    with pytest.raises(PmoError) as refused:
        import_policies(book_path, tmp_path / "new", today=TODAY)
    assert "t.xlsx!Budget!A2: error[cell_value]: merged cells A2:A3 in a decision table" in str(refused.value)


def test_a_broken_policy_is_not_exported():
    with pytest.raises(PmoError):
        export_policies(ROOT / "examples" / "broken-policies", today=TODAY)


# ---------------------------------------------------------------------------- the round trip keeps meaning

def hospital_proposal(rng: random.Random, i: int, objectives: list[str]) -> dict:
    """A random proposal for the hospital policy, its values near the thresholds the rules use."""
    def maybe(value, p=0.15):
        return None if rng.random() < p else value
    go_live = dt.date(2027, 1, 1) + dt.timedelta(days=rng.randint(-40, 700))
    budget = rng.choice([rng.randint(0, 6_000_000), 50_000, 100_000, 150_000, 200_000, 500_000, 5_000_000])
    return {
        "id": f"HIT-{i}", "title": f"Change {i}",
        "department": maybe(rng.choice(["emergency", "radiology", "oncology", "pharmacy", "nursing", "it", "finance"])),
        "sponsor": maybe("Dr Okafor", 0.3), "clinical_sponsor": maybe("RN Silva", 0.4),
        "alignment": maybe(";".join(f"{o}:{rng.choice(['low', 'moderate', 'strong'])}"
                                    for o in rng.sample(objectives, rng.randint(1, 3))), 0.2),
        "category": maybe(rng.choice(["clinical", "compliance", "infrastructure", "research"])),
        "budget": maybe(budget, 0.05), "benefit": maybe(rng.choice([budget * rng.uniform(0, 3), rng.randint(0, 9_000_000)])),
        "contingency": maybe(rng.choice(["0.05", "0.1", "0.2", "0.099"])), "go_live": maybe(go_live.isoformat()),
        "downtime_hours": maybe(rng.choice([0, 1, 4, 5, 12])), "phi": maybe(rng.random() < 0.4),
        "hipaa_review": maybe(rng.random() < 0.5), "risk": maybe(rng.randint(1, 5)),
        "vendor": maybe(rng.choice(["Epic Systems", "CloudScribe", "Omnicell", "Acme Health"]), 0.3),
        "site": maybe(rng.choice(["main-campus", "north-clinic", "harbour-clinic"])),
    }


def without_sources(data):
    """A decision's data without where each rule is written (the lines differ after a round trip)."""
    if isinstance(data, dict):
        return {k: without_sources(v) for k, v in data.items() if k not in ("source", "where", "policy_hash")}
    if isinstance(data, list):
        return [without_sources(v) for v in data]
    return data


def same_outcomes(old: Engine, new: Engine, rows: list[dict]) -> set[str]:
    outcomes = set()
    for row in rows:
        a, b = meaning(old.evaluate(row)), meaning(new.evaluate(row))
        assert a == b, row
        outcomes.add(a[1])
    old_rank, new_rank = old.rank(rows), new.rank(rows)
    assert [(e.id, e.rank, e.decision) for e in old_rank.entries] == [(e.id, e.rank, e.decision) for e in new_rank.entries]
    assert [e.score for e in old_rank.entries] == pytest.approx([e.score for e in new_rank.entries], nan_ok=True)
    return outcomes


@pytest.mark.parametrize("backend", ["rete", "reference"])
def test_the_reference_policy_round_trips(round_trips, backend):
    old, new = Engine.load(today=TODAY, backend=backend), Engine.load(round_trips["reference"], today=TODAY, backend=backend)
    assert same_outcomes(old, new, rows_of(ROOT / "examples" / "proposals.csv")) == {"accept", "review", "reject"}
    rng = random.Random(20261202)
    assert same_outcomes(old, new, [random_proposal(rng, i) for i in range(RANDOM)]) == {
        "accept", "review", "reject", "error"}
    # the records at a date after every entry of their history (billing-kill.yaml's June 2027 delivery review)
    old, new = (Engine.load(policies, today=dt.date(2027, 6, 30), backend=backend)
                for policies in (None, round_trips["reference"]))
    for project in sorted((ROOT / "examples" / "projects").glob("*.yaml")):
        stage = yaml.safe_load(project.read_text(encoding="utf-8"))["stage"]  # each record at the gate of its stage
        gate = {"business-case": "business-case", "execution": "delivery-review"}[stage]
        a, b = old.review_gate(project, gate), new.review_gate(project, gate)
        assert without_sources(a.model_dump()) == without_sources(b.model_dump())
    status = sorted((ROOT / "examples" / "status").glob("*.csv"))
    assert [(p.project, p.rating) for p in old.health(status).projects] == [
        (p.project, p.rating) for p in new.health(status).projects]


@pytest.mark.parametrize("backend", ["rete", "reference"])
def test_the_hospital_policy_round_trips(round_trips, backend):
    old, new = Engine.load(HOSPITAL, today=TODAY, backend=backend), Engine.load(round_trips["hospital"], today=TODAY,
                                                                                backend=backend)
    assert same_outcomes(old, new, rows_of(ROOT / "examples" / "hospital-it" / "proposals.csv"))
    rng = random.Random(7)
    objectives = list(old.policy.strategy.weights.values)
    outcomes = same_outcomes(old, new, [hospital_proposal(rng, i, objectives) for i in range(RANDOM)])
    assert outcomes >= {"accept", "review", "reject"}
    assert (round_trips["hospital"] / "approved-vendors.csv").read_bytes() == (HOSPITAL / "approved-vendors.csv").read_bytes()


@pytest.mark.parametrize("backend", ["rete", "reference"])
def test_the_decision_table_policy_round_trips(round_trips, backend):
    old, new = Engine.load(TABLES, today=TODAY, backend=backend), Engine.load(round_trips["tables"], today=TODAY,
                                                                              backend=backend)
    rng = random.Random(11)
    same_outcomes(old, new, rows_of(ROOT / "examples" / "proposals.csv") + [random_proposal(rng, i) for i in range(500)])
    assert {r.where for r in new.policy.rules} >= {"Northwind.xlsx!Budget!A8"}  # the rows are named as before


def test_the_yaml_keeps_its_comments(round_trips):
    intake = (round_trips["reference"] / "intake.yaml").read_text()
    assert "# Sponsorship\n  - use: governance/sponsor-required" in intake
    scoring = (round_trips["reference"] / "scoring.yaml").read_text()
    assert "# an unrated risk is assumed to be high" in scoring


def test_exporting_the_import_gives_the_same_tables(round_trips, tmp_path):
    """Export -> import -> export: the sheets hold the same cells (only the sources' lines differ)."""
    first = openpyxl.load_workbook(export_to(REFERENCE, tmp_path / "a.xlsx"))
    second = openpyxl.load_workbook(export_to(round_trips["reference"], tmp_path / "b.xlsx"))
    for name in ("intake", "gates", "health"):
        a, b = sections(first[name]), sections(second[name])
        strip = lambda s: {t: [{k: v for k, v in r.items() if k not in ("source", "comment")} for r in rows]  # noqa: E731
                           for t, rows in s.items()}
        assert strip(a) == strip(b), name


# ---------------------------------------------------------------------------- an edit, and what it changes

def _cell(ws, section: str, key_column: str, key: str, column: str):
    title_row = next(r[0].row for r in ws.iter_rows() if r[0].value == f"§ {section}")
    header = [c.value for c in ws[title_row + 1]]
    for row in ws.iter_rows(min_row=title_row + 2):
        if row[header.index(key_column)].value == key:
            return row[header.index(column)]
    raise AssertionError(f"no row {key} in {section}")


def test_an_edited_threshold_changes_exactly_the_proposals_it_should(tmp_path):
    book_path = export_to(REFERENCE, tmp_path / "p.xlsx")
    book = openpyxl.load_workbook(book_path)
    cell = _cell(book["intake"], "include", "use", "governance/sponsor-required", "with.threshold")
    assert cell.value == 250_000
    cell.value = 500_000
    book.save(book_path)
    import_policies(book_path, tmp_path / "new", today=TODAY)
    assert "with: {threshold: 500000}" in (tmp_path / "new" / "intake.yaml").read_text()
    rows = rows_of(ROOT / "examples" / "proposals.csv")
    rng = random.Random(3)
    rows += [random_proposal(rng, i) for i in range(1000)]
    result = diff_policies(Engine.load(today=TODAY), Engine.load(tmp_path / "new", today=TODAY), rows)
    old = Engine.load(today=TODAY)
    # sponsor-required fires, under the old threshold, exactly on the proposals between the two thresholds
    expected = {d.id for d, row in zip(map(old.evaluate, rows), rows)
                if any(f.rule == "sponsor-required" for f in d.findings) and Decimal(str(row["budget"])) <= 500_000}
    removed = {c.id for c in result.changes if "sponsor-required" in c.removed}
    assert removed == expected and expected
    assert all(c.removed == ["sponsor-required"] or not c.decision_changed for c in result.changes if c.decision_changed)
    assert {c.id for c in result.changes if c.decision_changed} <= expected


def test_the_readme_walk_through(tmp_path, capsys, monkeypatch):
    """README, decision tables step 5 (and docs/workbook.md): export, edit one cell, import, diff; its output."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REFERENCE, tmp_path / "policies")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    assert main(["export-policies", "policies", "--out", "policies.xlsx", "--today", "2026-12-01"]) == 0
    book = openpyxl.load_workbook("policies.xlsx")
    cell = _cell(book["intake"], "include", "use", "governance/sponsor-required", "with.threshold")
    assert cell.coordinate == "B46" and cell.value == 250_000
    cell.value = 500_000
    book.save("policies.xlsx")
    assert main(["import-policies", "policies.xlsx", "--out", "new-policies", "--today", "2026-12-01"]) == 0
    assert "pmo: wrote 8 files into new-policies/" in capsys.readouterr().out
    assert main(["diff", "policies", "new-policies", str(ROOT / "examples" / "proposals.csv"), "--today",
                 "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert "1 decision changes: 1 reject -> review; 0 findings added, 1 removed; 30 ranks move; 1 score changes" in out
    assert "| PRJ-1006 | reject -> **review** | - -> 14 | - -> 49.74 | - sponsor-required |" in out


# ---------------------------------------------------------------------------- cells it cannot read

def _broken(tmp_path, edit) -> tuple[Path, str]:
    path = export_to(REFERENCE, tmp_path / "policies.xlsx")
    book = openpyxl.load_workbook(path)
    coordinate = edit(book)
    book.save(path)
    return path, coordinate


def test_a_cell_it_cannot_read_is_an_error_at_the_cell_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def edit(book):
        cell = _cell(book["intake"], "fields", "key", "business_unit", "values")
        cell.value = "[Operations, Customer, {IT]"
        return cell.coordinate
    path, coordinate = _broken(tmp_path, edit)
    assert main(["import-policies", str(path.name), "--out", "new"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"policies.xlsx!intake!{coordinate}: error[cell_syntax]: cannot read")
    assert "write a list as [a, b, c]" in err
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".new-import-*"))


def test_a_policy_problem_is_named_by_the_cell_it_came_from(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def edit(book):
        ws = book["intake"]
        when = _cell(ws, "rules", "id", "budget-missing", "when")
        when.value = "budjet == null"
        effect = _cell(ws, "rules", "id", "large-team", "effect")
        effect.value = "flagg"
        formula = _cell(ws, "rules", "id", "risk-not-assessed", "reason")
        formula.value = "=A1"
        return f"{when.coordinate} {effect.coordinate} {formula.coordinate}"
    path, coordinates = _broken(tmp_path, edit)
    when, effect, formula = coordinates.split()
    assert main(["import-policies", "policies.xlsx", "--out", "new", "--today", "2026-12-01"]) == 2
    err = capsys.readouterr().err
    assert f"policies.xlsx!intake!{formula}: error[cell_formula]" in err
    assert not (tmp_path / "new").exists()
    book = openpyxl.load_workbook(path)
    _cell(book["intake"], "rules", "id", "risk-not-assessed", "reason").value = "No risk rating given"
    book.save(path)
    assert main(["import-policies", "policies.xlsx", "--out", "new", "--today", "2026-12-01"]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"^policies\.xlsx!intake!{when}: error\[unknown_field\]: .*budjet.*did you mean 'budget'", err, re.M)
    assert re.search(rf"^policies\.xlsx!intake!{effect}: error\[bad_value\]: .*flagg", err, re.M)
    assert not (tmp_path / "new").exists()


def test_text_that_looks_like_a_list_keeps_its_apostrophe(tmp_path):
    path = export_to(HOSPITAL, tmp_path / "h.xlsx")
    book = openpyxl.load_workbook(path)
    cell = _cell(book["intake"], "rules", "id", "satellite-downtime", "route")
    assert cell.value == "{site} site manager"
    cell.value, cell.quotePrefix = "{site}", True  # text, although it reads like a mapping
    book.save(path)
    import_policies(path, tmp_path / "new", today=TODAY)
    engine = Engine.load(tmp_path / "new", today=TODAY)
    assert next(r for r in engine.policy.rules if r.id == "satellite-downtime").route == "{site}"


def test_import_refuses_a_folder_that_is_not_empty(tmp_path):
    path = export_to(REFERENCE, tmp_path / "p.xlsx")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "old.yaml").write_text("kind: intake\n")
    with pytest.raises(PmoError, match="not an empty folder"):
        import_policies(path, tmp_path / "new", today=TODAY)
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["old.yaml"]


def test_a_workbook_without_a_cover_is_refused(tmp_path):
    book = openpyxl.Workbook()
    book.save(tmp_path / "x.xlsx")
    with pytest.raises(PmoError, match="no 'Cover' sheet"):
        import_policies(tmp_path / "x.xlsx", tmp_path / "new")
    (tmp_path / "y.xlsx").write_bytes(b"not a zip")
    with pytest.raises(PmoError, match="cannot read the workbook"):
        import_policies(tmp_path / "y.xlsx", tmp_path / "new")


@pytest.mark.parametrize("parts", [
    ("rules",), ("criteria", Item("size"), "bands", "ranges"), ("gates", Item(position=2), "must_meet"),
    ("lookup", "table", "Acme Ltd."), ("capacity", "2027-Q1"), ("x", Item('we"ird [id]'), "y"),
])
def test_section_paths_read_back(parts):
    assert parse_path(path_text(parts)) == parts


def test_a_written_workbook_reads_as_a_workbook():
    content = export_policies(REFERENCE, today=TODAY)
    book = openpyxl.load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["Cover", "assurances", "gates", "health", "intake", "kpis", "portfolio", "scoring",
                               "strategy"]


def test_a_bad_decision_table_cell_is_named_in_the_exported_workbook(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = export_to(TABLES, tmp_path / "tables.xlsx")
    book = openpyxl.load_workbook(path)
    assert book["Budget"]["A3"].value == "<= 0"
    book["Budget"]["A3"].value = "[1.."
    book.save(path)
    assert main(["import-policies", "tables.xlsx", "--out", "new", "--today", "2026-12-01"]) == 2
    assert capsys.readouterr().err.startswith("tables.xlsx!Budget!A3: error[cell_syntax]: cannot read '[1..'")
    assert not (tmp_path / "new").exists()


def test_the_policy_folders_own_library_goes_along(tmp_path):
    folder = tmp_path / "policies"
    shutil.copytree(REFERENCE, folder)
    (folder / "rules").mkdir()
    library = (ROOT / "rules" / "governance.yaml").read_text()
    assert "Proposals above {threshold} need a named sponsor" in library
    (folder / "rules" / "governance.yaml").write_text(library.replace(
        "Proposals above {threshold} need a named sponsor", "Above {threshold} a sponsor is needed"))
    book = openpyxl.load_workbook(export_to(folder, tmp_path / "p.xlsx"))
    assert "rules-governance" in book.sheetnames
    result = import_policies(tmp_path / "p.xlsx", tmp_path / "new", today=TODAY)
    assert "rules/governance.yaml" in result.files
    decision = Engine.load(tmp_path / "new", today=TODAY).evaluate(
        {"id": "PRJ-0001", "title": "t", "budget": 400_000, "alignment": "net-zero:strong"})
    assert "Above 250,000 a sponsor is needed" in [f.reason for f in decision.findings]


def test_a_decision_table_in_a_csv_file_round_trips(tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "intake.yaml").write_text("kind: intake\nfields:\n  id: {type: string, required: true}\n"
                                        "  title: string\n  budget: money\n")
    (folder / "tables.yaml").write_text("kind: tables\ntables:\n  - {name: approvals, file: approvals.csv, "
                                        "hit_policy: unique, applies_to: intake}\n")
    (folder / "approvals.csv").write_text('budget,effect,route,reason,rule\n"<= 250,000",-,,,small\n'
                                          '"> 250,000",review,Board,Big budget,big\nnull,reject,,A budget is required,'
                                          'missing\n')
    book = openpyxl.load_workbook(export_to(folder, tmp_path / "p.xlsx"))
    assert [c.value for c in book["approvals"][1]] == ["budget", "effect", "route", "reason", "rule", "source"]
    import_policies(tmp_path / "p.xlsx", tmp_path / "new", today=TODAY)
    assert (tmp_path / "new" / "approvals.csv").read_text().splitlines()[1] == '"<= 250,000",-,,,small'
    old, new = Engine.load(folder, today=TODAY), Engine.load(tmp_path / "new", today=TODAY)
    for budget in (None, 0, 250_000, 250_000.01, 9_000_000):
        row = {"id": "A", "title": "t", "budget": budget}
        assert meaning(old.evaluate(row)) == meaning(new.evaluate(row))
    assert new.evaluate({"id": "A", "budget": 300_000}).routes == ["Board"]


@pytest.mark.parametrize("edit, code", [
    ({"B9": None}, "cell_empty"),  # the value of 'stages' cleared
    ({"H7": "stray"}, "extra_cells"),  # a note beside the settings
])
def test_a_settings_row_loses_nothing_silently(tmp_path, capsys, monkeypatch, edit, code):
    """Settings rows (kind, name, ...) as section rows: a cleared value or a value beside the header is an error
    at its cell, not a setting dropped from the YAML without a word."""
    monkeypatch.chdir(tmp_path)

    def broken(book):
        ws = book["gates"]
        assert ws["A9"].value == "stages" and ws["A5"].value == "setting"
        [(coordinate, value)] = edit.items()
        ws[coordinate].value = value
        return coordinate
    path, coordinate = _broken(tmp_path, broken)
    assert main(["import-policies", str(path.name), "--out", "new"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"policies.xlsx!gates!{coordinate}: error[{code}]: "), err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("edit, code, coordinate", [
    ({"intake!A5": "key"}, "bad_section", "A4"),  # the settings section with a key header
    ({"intake!A11": "§ settings"}, "duplicate_section", "A11"),  # fields' title renamed: settings twice
    ({"intake!A11": "§ settings", "intake!A12": "setting", "intake!B12": "value"}, "duplicate_section", "A11"),
])
def test_a_second_settings_section_is_an_error_not_a_crash(tmp_path, capsys, monkeypatch, edit, code, coordinate):
    """Was an internal error (IndexError): the settings section has no path, so a second one had no key."""
    monkeypatch.chdir(tmp_path)

    def broken(book):
        for where, value in edit.items():
            sheet, cell = where.split("!")
            book[sheet][cell].value = value
        return coordinate
    path, _ = _broken(tmp_path, broken)
    assert main(["import-policies", str(path.name), "--out", "new"]) == 2
    err = capsys.readouterr().err
    assert f"policies.xlsx!intake!{coordinate}: error[{code}]: " in err and "internal error" not in err, err


# ---------------------------------------------------------------------------- found by editing (tests/test_workbook_edits.py)

def _import_edited(tmp_path, capsys, monkeypatch, edit, folder=REFERENCE) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    path = export_to(folder, tmp_path / "policies.xlsx")
    book = openpyxl.load_workbook(path)
    edit(book)
    book.save(path)
    code = main(["import-policies", "policies.xlsx", "--out", "new", "--today", "2026-12-01"])
    return code, capsys.readouterr()


def test_a_sheet_the_cover_does_not_list_is_an_error_not_a_file_dropped(tmp_path, capsys, monkeypatch):
    """Was: the cover's row of 'health' cleared, health.yaml was left out of the import without a word."""
    def edit(book):
        row = next(r for r in book["Cover"].iter_rows() if r[0].value == "health")
        for cell in row:
            cell.value = None
    code, out = _import_edited(tmp_path, capsys, monkeypatch, edit)
    assert code == 2, out
    assert out.err.startswith("policies.xlsx!health: error[unlisted_sheet]: "), out.err
    assert not (tmp_path / "new").exists()


def test_a_blank_row_in_the_covers_table_ends_nothing(tmp_path, capsys, monkeypatch):
    """Was: a blank row inserted in the cover's table ended it: the files listed below it were not imported."""
    code, out = _import_edited(tmp_path, capsys, monkeypatch, lambda book: book["Cover"].insert_rows(12))
    assert code == 0, out.err
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(p.name for p in REFERENCE.glob("*.yaml"))


def test_a_value_above_the_first_section_is_an_error_not_ignored(tmp_path, capsys, monkeypatch):
    """Was: a value typed between the sheet's title rows and its first section was ignored without a word."""
    def edit(book):
        assert book["gates"]["A4"].value == "§ settings" and book["gates"]["A3"].value is None
        book["gates"]["C3"].value = "max_stages: 4"
    code, out = _import_edited(tmp_path, capsys, monkeypatch, edit)
    assert code == 2 and out.err.startswith("policies.xlsx!gates!C3: error[extra_cells]: "), out.err


def test_a_problem_of_the_whole_policy_set_names_the_workbook(tmp_path, capsys, monkeypatch):
    """Was: 'new: error[no_intake]', named by the folder that import does not write."""
    def edit(book):
        del book["intake"]
        row = next(r for r in book["Cover"].iter_rows() if r[0].value == "intake")
        for cell in row:
            cell.value = None
    code, out = _import_edited(tmp_path, capsys, monkeypatch, edit)
    assert code == 2 and out.err.startswith("policies.xlsx: error[no_intake]: "), out.err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("typed, read", [("FALSE", "required: false"), ("false ", "required: false"),
                                         ("TRUE", "required: true")])
def test_true_and_false_typed_as_text_are_booleans(tmp_path, capsys, monkeypatch, typed, read):
    """Was: FALSE typed into a text cell was imported as the text 'FALSE' (required: 'FALSE'), which the loader
    took as a value given: the field stayed required without a word. Excel's own TRUE/FALSE cells were fine."""
    def edit(book):
        cell = _cell(book["intake"], "fields", "key", "id", "required")
        assert cell.value is True
        cell.value = typed
    code, out = _import_edited(tmp_path, capsys, monkeypatch, edit)
    assert code == 0, out.err
    assert f"id: {{type: string, {read}, label: Proposal}}" in (tmp_path / "new" / "intake.yaml").read_text()


def test_a_number_typed_as_text_is_a_number_and_text_that_looks_like_one_keeps_its_apostrophe(tmp_path, capsys,
                                                                                              monkeypatch):
    """Was: 0.2 in a text-formatted cell was imported as the text '0.2'. Text that reads as a number, TRUE or
    FALSE is exported with the apostrophe, so it stays text."""
    def edit(book):
        _cell(book["scoring"], "criteria", "id", "size", "weight").value = "0.2"
        _cell(book["intake"], "fields", "key", "title", "label").value = "2027"  # text as exported: '2027
        _cell(book["intake"], "fields", "key", "title", "label").quotePrefix = True
    code, out = _import_edited(tmp_path, capsys, monkeypatch, edit)
    assert code == 0, out.err
    assert "weight: 0.2\n" in (tmp_path / "new" / "scoring.yaml").read_text()
    assert "label: '2027'" in (tmp_path / "new" / "intake.yaml").read_text()
    folder = tmp_path / "labels"
    shutil.copytree(REFERENCE, folder)
    intake = folder / "intake.yaml"
    intake.write_text(intake.read_text().replace("title: {type: string, required: true}",
                                                 "title: {type: string, required: true, label: 'TRUE'}"))
    book = openpyxl.load_workbook(export_to(folder, tmp_path / "labels.xlsx"))
    cell = _cell(book["intake"], "fields", "key", "title", "label")
    assert cell.value == "TRUE" and cell.quotePrefix


@pytest.mark.parametrize("folder, sheet", [(TABLES, "Budget"), (HOSPITAL, "approved-vendors.csv")])
def test_a_value_right_of_the_source_column_is_an_error_not_dropped(tmp_path, capsys, monkeypatch, folder, sheet):
    """Was: a note typed beside a decision table or a reference-data sheet (right of 'source') was cut off with
    the source column, without a word."""
    def edit(book):
        ws = book[sheet]
        assert ws.cell(1, ws.max_column).value == "source"
        ws.cell(3, ws.max_column + 2, "a note")
    code, out = _import_edited(tmp_path, capsys, monkeypatch, edit, folder)
    assert code == 2, out
    assert re.match(rf"policies\.xlsx!{re.escape(sheet)}![A-Z]+3: error\[extra_cells\]: ", out.err), out.err
    assert not (tmp_path / "new").exists()


def test_a_header_given_twice_is_an_error_not_one_column_dropped(tmp_path, capsys, monkeypatch):
    """Was: two columns named 'label' on the fields' header: each row's second value overwrote its first."""
    def edit(book):
        ws = book["intake"]
        header = next(r for r in ws.iter_rows() if r[0].value == "key")
        description = next(c for c in header if c.value == "description")
        description.value = "label"
    code, out = _import_edited(tmp_path, capsys, monkeypatch, edit)
    assert code == 2, out
    assert re.match(r"policies\.xlsx!intake![A-Z]+12: error\[bad_header\]: column 'label' is given twice", out.err), \
        out.err


@pytest.mark.parametrize("name, content", [("policies.csv", "a,b\n"), ("policies.xls", "old"), ("policies", "")])
def test_a_file_that_is_not_an_xlsx_workbook_is_an_error_not_a_crash(tmp_path, capsys, monkeypatch, name, content):
    """Was an internal error (openpyxl's InvalidFileException) for a .csv or .xls."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(content, encoding="utf-8")
    assert main(["import-policies", name, "--out", "new"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{name}: error[bad_workbook]: ") and "internal error" not in err, err
    assert not (tmp_path / "new").exists()


def test_an_import_that_pmo_validate_would_refuse_is_refused(tmp_path, capsys, monkeypatch):
    """Was: an assurance's 'for' cleared (it then holds for every proposal), import wrote the folder, and `pmo
    validate` refused it (error[assurance_failed]): import checked less than validate does."""
    def edit(book):
        cell = _cell(book["assurances"], "assurances", "name", "board-needs-sponsor", "for")
        assert cell.value.startswith("budget > 5_000_000")
        cell.value = None
    code, out = _import_edited(tmp_path, capsys, monkeypatch, edit)
    assert code == 2, out
    assert re.search(r"^policies\.xlsx!assurances!A\d+: error\[assurance_failed\]: ", out.err, re.M), out.err
    assert not (tmp_path / "new").exists()


WORDS = ["yes", "No", "ON", "off", "y", "n", "null", "Null", "~", "true", "False", "1", "-1", "+1", "1_000", "0x1F",
         "0o17", "1.5", "1.5.3", ".5", "1e3", "1:30", "2027-01-01", "2027-01-01 12:30", "=", "<<", ".inf", ".nan",
         "a b", "a  b", " a", "a ", "a-", "-a", "_", "a.b", "a_b-c.d", "IT", "net-zero", "P-001", "x" * 300]
_TEXT = st.text(alphabet="aAyYnN01_.-: #'\"[]{},!&*?|>%@`\t\\é🚀", max_size=8)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(text=st.one_of(st.sampled_from(WORDS), _TEXT, st.lists(st.sampled_from(WORDS)).map(" ".join)))
def test_a_text_is_written_as_yaml_safe_dump_writes_it(text):
    """scalar_text writes most text without yaml.safe_dump (plain words) and remembers the rest: the same text as
    safe_dump's, and it reads back as the same text."""
    from engine.workbook.layout import scalar_text, yaml_text
    assert scalar_text(text) == yaml_text(text)
    assert scalar_text(text) == scalar_text(text)  # the remembered answer
    assert yaml.safe_load(f"[{scalar_text(text)}]") == [text]
