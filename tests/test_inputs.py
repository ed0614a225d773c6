"""Awkward input files: every row becomes a decision or an error row naming row and column."""
import csv
import json
import subprocess
import sys
from decimal import Decimal

import pytest

from engine import Engine, InputError, read_proposals
from tests.conftest import ROOT, TODAY


def decide_file(engine: Engine, path):
    return list(engine.evaluate_many(read_proposals(path)))


def test_messy_example_file(engine):
    decisions = decide_file(engine, ROOT / "examples" / "messy_proposals.csv")
    by_id = {d.id: d for d in decisions}
    assert len(decisions) == 7
    assert by_id["PRJ-1034"].errors[0].row == 2 and by_id["PRJ-1034"].errors[0].column == "budget"
    assert by_id["PRJ-1036"].errors[0].code == "missing_value"
    assert {e.column for e in by_id["PRJ-2003"].errors} == {"risk", "headcount"}
    assert by_id["PRJ-2001"].decision == "accept"  # non-ASCII text, and columns named sid and t
    assert by_id["PRJ-2004"].decision == "review"  # "1,250,000" is a number


def test_columns_named_id_sid_and_t_are_ordinary_data(engine, write_policy):
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, sid: string, t: number}\nrules:\n"
                         "  - {id: r, when: sid == \"0\" and t > 1 and id == \"p\", effect: flag, reason: r}\n"})
    for backend in ("rete", "reference"):
        e = Engine.load(root, today=TODAY, backend=backend)
        assert [f.rule for f in e.evaluate({"id": "p", "sid": "0", "t": 2}).findings] == ["r"]
        assert e.evaluate({"id": "p", "sid": "1", "t": 2}).findings == []


def test_300_columns(engine, tmp_path):
    path = tmp_path / "wide.csv"
    header = ["id", "title", "budget", "alignment", "sponsor", "benefit"] + [f"extra_{i}" for i in range(294)]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(5):
            w.writerow([f"PRJ-{i:04d}", "Wide", 300_000, "net-zero:strong", "Ann", 900_000] + ["x"] * 294)
    decisions = decide_file(engine, path)
    assert [d.decision for d in decisions] == ["review"] * 5


def test_300_fields_in_a_policy_are_fine_when_rules_read_few(write_policy):
    fields = "".join(f"  f{i}: number\n" for i in range(300))
    root = write_policy({"intake.yaml": f"kind: intake\nfields:\n  id: string\n{fields}rules:\n"
                         "  - {id: r, when: f299 > 1, effect: flag, reason: r}\n"})
    e = Engine.load(root, today=TODAY)
    assert [f.rule for f in e.evaluate({f"f{i}": i for i in range(300)}).findings] == ["r"]


def test_broken_rows_keep_their_place(engine, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,title,budget\nA,One,10\nB,Two,10,extra\n\nC,Three,ten\nD,Four\n", encoding="utf-8")
    decisions = decide_file(engine, path)
    assert [(d.id, d.decision == "error", d.row) for d in decisions] == [
        ("A", False, 2), ("B", True, 3), ("C", True, 5), ("D", True, 6)]
    assert decisions[1].errors[0].code == "extra_cells"
    assert decisions[2].errors[0].column == "budget"
    assert decisions[3].errors[0].code == "missing_cells"


def test_a_row_with_fewer_cells_than_the_header_is_an_error_row_not_empty_values(tmp_path):
    """A lost delimiter shifts every later value one column left (`B,Two 10`: the budget empty, the sponsor's
    cell missing): reading the missing cells as empty would decide on values in the wrong columns. On the API
    path, the CLI's 1-worker path and with 2 workers (which read raw chunks of the file)."""
    import subprocess
    import sys
    path = tmp_path / "p.csv"
    path.write_text("id,title,sponsor,budget\nA,One,Ann,10\nB,Two 10\nC,Three,Bo,\n", encoding="utf-8")
    found = decide_file(Engine.load(today=TODAY), path)
    assert [(d.id, d.decision) for d in found] == [("A", "reject"), ("B", "error"), ("C", "reject")]
    error = found[1].errors[0]
    assert (error.code, error.row) == ("missing_cells", 3)
    assert "2 cells" in error.message and "4 columns" in error.message and "'sponsor', 'budget'" in error.message
    for workers in ("1", "2"):
        done = subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", str(path), "--no-log", "--format",
                               "jsonl", "--workers", workers, "--today", TODAY.isoformat()],
                              capture_output=True, text=True, timeout=120)
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(r["id"], r["decision"]) for r in rows] == [("A", "reject"), ("B", "error"), ("C", "reject")], \
            done.stderr
        assert rows[1]["errors"][0]["code"] == "missing_cells"


def test_unterminated_quote_loses_no_other_row(engine, tmp_path):
    path = tmp_path / "q.csv"
    # A quote that is never closed: the lines after it are read as rows. (A quote closed further down is a
    # malformed cell and is one error row: tests/test_readers_hostile.py.)
    path.write_text('id,title,budget\nC,"multi\nline",5\nA,"unterminated,10\nB,Two,10\n', encoding="utf-8")
    decisions = decide_file(engine, path)
    assert [(d.id, d.decision == "error", d.row) for d in decisions] == [
        ("C", False, 2), ("A", True, 4), ("B", False, 5)]  # the error row keeps the id it can read
    assert "row cannot be read" in decisions[1].errors[0].message


@pytest.mark.parametrize("content, code", [(b"", "empty_file"), (b"  \n", "empty_file"),
                                           (b"PK\x03\x04\x00\x00binary", "binary_file"),
                                           (b"id,id\n1,2\n", "duplicate_column")])
def test_unusable_files_are_refused_as_a_whole(tmp_path, content, code):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_proposals(path)
    assert info.value.diagnostics[0].code == code


def test_header_only_file_has_no_rows(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("id,title\n")
    assert list(read_proposals(path)) == []


def test_impossible_dates_are_one_bad_cell(engine, tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("- {id: A, title: x, start_date: 2027-02-30}\n- {id: B, title: y, start_date: 2027-02-28}\n")
    decisions = decide_file(engine, path)
    assert "is not a valid date" in decisions[0].errors[0].message
    assert decisions[1].errors == []


def test_json_jsonl_and_yaml_inputs(engine, tmp_path):
    rows = [{"id": "A", "title": "x", "budget": 0.1}, {"id": "B", "title": "y", "budget": "n/a"}, ["not", "an", "object"]]
    (tmp_path / "p.json").write_text(json.dumps(rows))
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    (tmp_path / "p.yaml").write_text("proposals:\n  - {id: A, title: x, budget: 0.1}\n  - {id: B, title: y, budget: n/a}\n  - [1]\n")
    for name, count in (("p.json", 3), ("p.jsonl", 4), ("p.yaml", 3)):
        decisions = decide_file(engine, tmp_path / name)
        assert len(decisions) == count
        assert [d.decision == "error" for d in decisions][:3] == [False, True, True]


def test_windows_1252_csv_is_read(engine, tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes("id,title,budget\nPRJ-0001,Caf\xe9 upgrade,10\n".encode("cp1252"))
    assert decide_file(engine, path)[0].errors == []


def test_other_delimiters_and_tsv(engine, tmp_path):
    for name, sep in (("semi.csv", ";"), ("tabs.tsv", "\t"), ("pipes.csv", "|")):
        path = tmp_path / name
        path.write_text(sep.join(["id", "title", "budget"]) + "\n" + sep.join(["A", "One, two", "10"]) + "\n")
        [decision] = decide_file(engine, path)
        assert decision.id == "A" and decision.errors == []


def test_xlsx_workbooks_with_sheets(engine, tmp_path):
    import openpyxl
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["nothing here"])
    sheet = book.create_sheet("Intake 2027")
    sheet.append(["id", "title", "budget", "start_date"])
    import datetime as dt
    sheet.append(["PRJ-0001", "Excel row", 300000, dt.datetime(2027, 3, 1)])
    sheet.append([None, None, None, None])
    sheet.append(["PRJ-0002", "Text budget", "lots", None])
    path = tmp_path / "intake.xlsx"
    book.save(path)
    decisions = list(engine.evaluate_many(read_proposals(path, "Intake 2027")))
    assert [(d.id, d.row, d.decision == "error") for d in decisions] == [("PRJ-0001", 2, False), ("PRJ-0002", 4, True)]
    assert decisions[1].errors[0].column == "budget"
    with pytest.raises(InputError, match="no sheet named 'Intake'"):
        read_proposals(path, "Intake")
    (tmp_path / "fake.xlsx").write_text("not a workbook")
    with pytest.raises(InputError, match="not a readable .xlsx workbook"):
        read_proposals(tmp_path / "fake.xlsx")


def test_csv_reading_streams_in_bounded_memory(tmp_path):
    """The file (5.7 MB) is larger than the bound (5 MB): a reader holding it whole, as text or rows, fails; the
    streaming reader peaks at 2.1 MB whatever the length (the same for 50,000 rows as for 200,000)."""
    import tracemalloc
    path = tmp_path / "big.csv"
    with path.open("w") as f:
        f.write("id,title,budget\n")
        for i in range(100_000):
            f.write(f"P{i},Proposal number {i} with a longer title,{i * 10}\n")
    tracemalloc.start()
    count = sum(1 for _ in read_proposals(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert path.stat().st_size > 5_000_000 and count == 100_000
    assert peak < 5_000_000, f"peak {peak:,} bytes for a {path.stat().st_size:,}-byte file"


@pytest.mark.parametrize("wrapped", [False, True])
def test_json_reading_streams_in_bounded_memory(tmp_path, wrapped):
    import tracemalloc
    path = tmp_path / "big.json"
    with path.open("w") as f:
        f.write('{"round": "2027", "proposals": [' if wrapped else "[")
        f.write(",\n".join(f'{{"id": "P{i}", "title": "Proposal number {i} with a longer title", "budget": {i}.5}}'
                           for i in range(100_000)))
        f.write("]}" if wrapped else "]")
    tracemalloc.start()
    rows = read_proposals(path)
    count, last = 0, None
    for last in rows:  # noqa: B007 (the last row is checked below)
        count += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 100_000 and last.data == {"id": "P99999", "title": "Proposal number 99999 with a longer title",
                                              "budget": Decimal("99999.5")}
    assert peak < 5_000_000, f"peak {peak:,} bytes for a {path.stat().st_size:,}-byte file"


def test_a_broken_json_file_is_refused_before_any_row(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"id": "A"}, {"id": "B"}, {"id": ', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_proposals(path)
    assert info.value.diagnostics[0].code == "bad_file"
    path.write_text('{"items": [{"id": "A"}]}', encoding="utf-8")
    with pytest.raises(InputError, match="expected a list of proposals"):
        read_proposals(path)


def test_spreadsheet_headers_map_to_fields(engine, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("ID,Title,Budget,Start Date,Sponsor\nPRJ-0001,One,300000,2020-01-01,Ann\nPRJ-0002,Two,10,,\n")
    first, second = decide_file(engine, path)
    assert first.errors == [] and "start-in-past" in [f.rule for f in first.findings]
    assert "route-portfolio-board" in [f.rule for f in first.findings]  # Budget was read
    assert second.errors == [] and "dates-missing" in [f.rule for f in second.findings]
    # records with other keys get their own mapping
    a, b = engine.evaluate_many([{"ID": "X", "Title": "t", "Budget": 1}, {"id": "Y", "title": "t", "budget": "lots"}])
    assert a.id == "X" and a.errors == []
    assert b.id == "Y" and b.errors[0].column == "budget"


def test_deeply_nested_json_is_refused_in_little_memory(tmp_path):
    """Found in review: ijson.parse keeps a prefix per level (quadratic memory); 30,000 levels took 1.3 GB."""
    import tracemalloc
    path = tmp_path / "deep.json"
    path.write_text('[{"id": "a", "x": ' + "[" * 30_000 + "]" * 30_000 + "}]", encoding="utf-8")
    tracemalloc.start()
    with pytest.raises(InputError, match="nested more than 64 levels"):
        read_proposals(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10_000_000
    nested = tmp_path / "nested.json"
    nested.write_text('{"meta": {"proposals": [1]}}', encoding="utf-8")  # only a top-level "proposals" counts
    with pytest.raises(InputError, match="expected a list of proposals"):
        read_proposals(nested)


def test_an_error_row_names_its_id_when_the_id_column_is_headed_otherwise(tmp_path):
    """`ID` (or `Id`, ` id `) finds the id field as it finds any field: an error row must carry that id, not null,
    on the API path, the CLI's 1-worker path and with 2 workers."""
    import subprocess
    import sys
    path = tmp_path / "t.csv"
    path.write_text("ID,title,budget,benefit\nA-1,Alpha,abc,100\nA-2,Beta,1000,200\n")
    for backend in ("rete", "reference"):
        found = decide_file(Engine.load(today=TODAY, backend=backend), path)
        assert [(d.id, d.decision) for d in found] == [("A-1", "error"), ("A-2", "reject")]
    for workers in ("1", "2"):
        done = subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", str(path), "--no-log", "--format",
                               "jsonl", "--workers", workers, "--today", TODAY.isoformat()],
                              capture_output=True, text=True, timeout=120)
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(r["id"], r["decision"]) for r in rows] == [("A-1", "error"), ("A-2", "reject")], done.stderr


def test_a_column_the_policy_cannot_place_is_said_when_fields_have_no_column(tmp_path):
    """'Total Cost (EUR)' is spelt like no field, so no did-you-mean; but budget has no column, and the proposal
    was rejected for a missing budget without a word about the ignored column."""
    import subprocess
    import sys
    path = tmp_path / "t.csv"
    path.write_text("id;title;Total Cost (EUR)\nA-1;x;100\n")
    done = subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", str(path), "--no-log", "--format", "json",
                           "--today", TODAY.isoformat()], capture_output=True, text=True, timeout=120)
    warned = [line for line in done.stderr.splitlines() if "Total Cost (EUR)" in line]
    assert len(warned) == 1 and "'budget'" in warned[0] and "--columns" in warned[0], done.stderr
    assert "matches no field" in warned[0] and "is ignored" in warned[0]


def test_a_title_row_above_the_header_is_said_even_when_every_row_is_refused(tmp_path):
    """A workbook whose row 1 is a merged title: the title is taken as the header, every row has cells beyond it
    (an error row each), and the header must still be judged: no column for the required field 'id'."""
    import subprocess
    import sys

    import openpyxl
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Project intake Q1 2027"])
    sheet.merge_cells("A1:D1")
    sheet.append(["id", "title", "budget", "benefit"])
    sheet.append(["A-1", "Alpha", 100, 200])
    path = tmp_path / "intake.xlsx"
    book.save(path)
    done = subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", str(path), "--no-log", "--format", "json",
                           "--today", TODAY.isoformat()], capture_output=True, text=True, timeout=120)
    assert "no column for the required field 'id'" in done.stderr, done.stderr
    assert "'Project intake Q1 2027'" in done.stderr


def test_a_row_error_names_the_column_as_the_file_writes_it(write_policy, tmp_path):
    """Was: 'column 'budget': ...' for a file whose column is 'Capex (EUR)' (an alias) or 'Budget': the analyst
    looked for a column the export does not have. The message names the export's column and the field; the
    error's column stays the field's name, for programs."""
    root = write_policy({"intake.yaml": "kind: intake\nfields:\n  id: string\n  budget: {type: money, aliases: ['Capex (EUR)']}\n"
                         "  start: date\nrules:\n  - {id: big, when: budget > 1000, effect: reject, reason: too big}\n"})
    path = tmp_path / "p.csv"
    path.write_text("ID,Capex (EUR),Start\nA,abc,2027-01-01\nB,5,someday\n", encoding="utf-8")
    for workers in (1, 2):
        result = subprocess.run([sys.executable, "-m", "engine.cli", "evaluate", str(path), "--policies", str(root),
                                 "--no-log", "--format", "jsonl", "--workers", str(workers)],
                                capture_output=True, text=True, cwd=ROOT, timeout=300)
        errors = [json.loads(line)["errors"][0] for line in result.stdout.splitlines()]
        assert [(e["column"], e["message"]) for e in errors] == [
            ("budget", "column 'Capex (EUR)' (field 'budget'): 'abc' is not a number"),
            ("start", "column 'Start' (field 'start'): " + errors[1]["message"].split("): ", 1)[1])], errors
    decision = Engine.load(root, today=TODAY).evaluate({"id": "A", "budget": "abc"})
    assert decision.errors[0].message == "column 'budget': 'abc' is not a number"
