"""A chunk of rows typed by columns (RecordReader.read_many) gives what read_derived gives one row at a time:
the same typed records and derived values (types and digits included), the same row errors (issue #19)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from fuzz import fuzz
from hypothesis import given
from hypothesis import strategies as st

from engine.api import DECIDE_CHUNK, Engine
from engine.compile import records
from engine.compile.records import RecordError, RecordReader, compiled_derived
from engine.decision import RowError
from engine.expr.parse import parse
from engine.io.profile import load_profile
from engine.io.readers import Row
from engine.policy.models import FieldSpec

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 12, 1)
ENGINE = Engine.load(today=TODAY)
POLICY = ENGINE.policy
GERMAN = load_profile(  # the reader sees its columns renamed to the fields
    ROOT / "examples" / "exports" / "servicenow-de.yaml")
HEADER = ["id", "title", "sponsor", "alignment", "category", "budget", "benefit", "risk", "complexity",
          "start_date", "end_date", "regulatory", "personal_data", "headcount", "cash_flows", "opex_per_year"]

CELLS = ["", " ", "\u00a0", "0", "1", "3", "5", "6", "007", "250000", "1200", "123456789012345", "1234567890123456",
         "1.234,5", "250.000", "1,200.50", "900.000 €", "1.000.000,00", "-3", "(5)", "1e5", "NaN", "12,5%", "2.5",
         "yes", "no", "Ja", "Nein", "maybe", "true", "Low", "High", "2027-03-01", "2027-12-17", "2027-02-30",
         "31.12.2027", "01.03.2027", "12/31/2027", "Ann Lee", " Bo Chen ", "Jürgen Müller", "Zoë", "日本語",
         "\ud800", "growth", "Compliance", "innovatoin", "net-zero:strong", "grid-resilience", "Net Zero",
         "customer-experience:moderate;net-zero:low", "{bad", "-100;60;60", "[-100, 60.5]", "[1,", "1;;2",
         "x" * 10_001, "P-1", "P-2", "a\x00b", "10", "9", "99", "1000000", "1000001", "2026-12-31", "2027-01-01"]
cell = st.sampled_from(CELLS) | st.text(max_size=12) | st.integers(0, 10**17).map(str)
DIGITS = st.integers(0, 2_000_000).map(str) | st.sampled_from(["0", "9", "10", "1000000", "1000001", "1" * 15,
                                                                 "1" * 16, "05"])
PLAIN = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=10) | st.sampled_from(
    [" a ", "P-1", "x" * 10_000, "x" * 10_001, " "])


def good(spec: FieldSpec) -> st.SearchStrategy[str]:
    """Cells that mostly read (a row of them is a record, not an error row), by the field's type."""
    if spec.type in ("number", "money", "integer"):
        return DIGITS | st.sampled_from(["", "3", "1.234,5", "250.000", "1,200.50"])
    if spec.type == "string":
        return PLAIN | st.sampled_from(["Jürgen Müller", ""])
    return st.sampled_from({"bool": ["yes", "no", "", "Ja"], "date": ["2027-03-01", "2027-12-17", "", "01.03.2027"],
                            "enum": [*(spec.values or []), "", " low "], "list": ["-100;60;60", "", "[1, 2]"],
                            "alignment": ["net-zero:strong", "", "Net Zero", "grid-resilience:low"]}[spec.type])


def outcome(result) -> object:
    """A record with each value's type and digits, or an exception's type, text and problems."""
    if isinstance(result, BaseException):
        return (type(result).__name__, str(result), getattr(result, "problems", None))
    return [(name, type(value).__name__, repr(value)) for name, value in result.items()]


def one_by_one(reader: RecordReader, raws: list, derived) -> list:
    out = []
    for raw in raws:
        try:
            out.append(reader.read_derived(raw, derived))
        except Exception as exc:  # noqa: BLE001 - compared as it is raised
            out.append(exc)
    return out


RANGED = {"id": FieldSpec(type="string", required=True), "budget": FieldSpec(type="money", min=0, max=1_000_000),
          "risk": FieldSpec(type="integer", min=1, max=5, default=3), "share": FieldSpec(type="number", max=1),
          "count": FieldSpec(type="integer", min=10), "flag": FieldSpec(type="bool", default=False),
          "note": FieldSpec(type="string", default="none"), "level": FieldSpec(type="enum", values=["Low", "High"]),
          "start": FieldSpec(type="date", min=dt.date(2027, 1, 1)), "end": FieldSpec(type="date")}
RANGED_DERIVED = compiled_derived([(name, parse(text)) for name, text in [
    ("per_risk", "budget / risk"), ("days", "days_between(start, end)"), ("half", "per_risk / 2"),
    ("noted", "coalesce(note, id)"), ("big", "count > 100 and flag")]])
# one reader per case for the chunks (their memos grow across examples, as in a batch), a fresh one to compare
DERIVED = ENGINE._intake._derived_values
READERS = {"undeclared": (RecordReader(POLICY.fields, POLICY.strategy), HEADER, DERIVED),
           "german": (RecordReader(POLICY.fields, POLICY.strategy, GERMAN), HEADER, DERIVED),
           "ranged": (RecordReader(RANGED), list(RANGED), RANGED_DERIVED)}


@pytest.mark.parametrize("case", sorted(READERS))
@pytest.mark.parametrize("plain_first", [False, True])
@fuzz(50)
@given(data=st.data())
def test_a_chunk_reads_as_row_by_row(case, plain_first, data):
    reader, header, derived = READERS[case]
    fields = RANGED if case == "ranged" else POLICY.fields
    required = [c for c in header if fields[c].required]  # most chunks have them: records, not only error rows
    columns = data.draw(st.lists(st.sampled_from(header), min_size=1, max_size=len(header), unique=True))
    if data.draw(st.integers(0, 9)):
        columns = list(dict.fromkeys(required + columns))
    # per column: a few texts (cells repeat, as in real exports), or all digits, or all plain ASCII text (the
    # columns read by C-level passes), with now and then another cell among them
    kinds = {c: data.draw(st.sampled_from([cell] + [good(fields[c])] * 4)) for c in columns}
    pools = {c: data.draw(st.lists(kinds[c], min_size=1, max_size=6)) for c in columns}
    rows = data.draw(st.lists(st.fixed_dictionaries({c: st.sampled_from(pools[c]) | kinds[c] for c in columns}),
                              min_size=1, max_size=30))
    if data.draw(st.booleans()):
        at, column = data.draw(st.integers(0, len(rows) - 1)), data.draw(st.sampled_from(columns))
        rows[at] = {**rows[at], column: data.draw(cell)}
    if plain_first:
        reader._unique = [True] * len(reader._unique)  # the C-level column paths tried first
    fresh = RecordReader(RANGED) if case == "ranged" else RecordReader(POLICY.fields, POLICY.strategy, reader.profile)
    expected = [outcome(r) for r in one_by_one(fresh, rows, derived)]
    assert [outcome(r) for r in reader.read_many(rows, derived)] == expected
    assert [outcome(r) for r in reader.read_many(rows, derived)] == expected  # memos filled


@fuzz(60)
@given(rows=st.lists(st.dictionaries(st.sampled_from(HEADER[:6]), cell | st.integers() | st.none(), max_size=6),
                     min_size=1, max_size=8))
def test_records_of_other_keys_or_values_read_one_by_one(rows):
    """JSON records: keys that differ from row to row, values that are not text."""
    reader, _, _ = READERS["undeclared"]
    fresh = RecordReader(POLICY.fields, POLICY.strategy)
    assert [outcome(r) for r in reader.read_many(rows, DERIVED)] == \
        [outcome(r) for r in one_by_one(fresh, rows, DERIVED)]


def test_full_memos_are_emptied_and_give_the_same_values(monkeypatch):
    monkeypatch.setattr(records, "MEMO_CELLS", 3)
    reader = RecordReader(POLICY.fields, POLICY.strategy)
    rows = [{"id": f"P{i}", "title": "t", "budget": str(1000 + i % 7), "start_date": f"2027-01-{1 + i % 9:02d}",
             "end_date": "2027-12-17", "risk": str(1 + i % 5)} for i in range(200)]
    got = reader.read_many(rows, DERIVED) + reader.read_many(rows, DERIVED)
    assert [outcome(r) for r in got] == [outcome(r) for r in one_by_one(RecordReader(POLICY.fields, POLICY.strategy),
                                                                        rows + rows, DERIVED)]
    assert all(len(memo) <= 3 for memo in reader._cells)


def test_a_column_whose_cells_never_repeat_is_read_by_its_plain_path_and_a_bad_cell_still_names_its_row():
    reader = RecordReader(POLICY.fields, POLICY.strategy)
    rows = [{"id": f"P-{i}", "title": f"Proposal {i}", "budget": str(20_000 + i), "risk": "3"} for i in range(300)]
    reader.read_many(rows[:100], DERIVED)
    assert reader._unique[reader.names.index("budget")] and not reader._unique[reader.names.index("risk")]
    rows[150] = {**rows[150], "budget": "12,5%"}
    rows[151] = {**rows[151], "id": " "}
    got = reader.read_many(rows[100:], DERIVED)
    assert [outcome(r) for r in got] == [outcome(r) for r in one_by_one(RecordReader(POLICY.fields, POLICY.strategy),
                                                                        rows[100:], DERIVED)]
    assert isinstance(got[50], RecordError) and got[50].problems[0][0] == "budget"
    assert isinstance(got[51], RecordError) and got[51].problems[0][1] == "missing_value"


def test_a_derived_value_that_raises_is_that_rows_exception_and_the_others_go_on():
    def boom(record):
        if record["risk"] == Decimal("4"):
            raise ArithmeticError("risk 4")
        return record["risk"]
    derived = records.DerivedValues([("twice", boom), ("after", lambda record: record["twice"])])
    derived.reads = [("risk",), ("twice",)]
    reader = RecordReader(POLICY.fields, POLICY.strategy)
    rows = [{"id": f"P{i}", "title": "t", "risk": str(1 + i % 5)} for i in range(20)]
    assert [outcome(r) for r in reader.read_many(rows, derived)] == \
        [outcome(r) for r in one_by_one(RecordReader(POLICY.fields, POLICY.strategy), rows, derived)]


def test_a_derived_memo_is_not_shared_by_files_with_other_columns():
    """five_year_cost keyed by the budget's text in one file, by the run cost's in another: never mixed."""
    reader = RecordReader(POLICY.fields, POLICY.strategy)
    first = [{"id": "P1", "title": "t", "budget": "100"}] * 3
    second = [{"id": "P1", "title": "t", "opex_per_year": "100"}] * 3
    for rows in (first, second, first):
        assert [outcome(r) for r in reader.read_many(rows, DERIVED)] == \
            [outcome(r) for r in one_by_one(RecordReader(POLICY.fields, POLICY.strategy), rows, DERIVED)]


def test_decide_plain_by_chunks_decides_as_row_by_row():
    rows = [Row({"id": f"P{i}", "title": "t", "budget": str(10_000 * (i % 40)), "sponsor": ["", "Ann"][i % 2],
                 "alignment": "net-zero:strong", "risk": ["1", "9", "x"][i % 3]}, i + 2, "in.csv")
            for i in range(DECIDE_CHUNK * 2 + 7)]
    rows[5] = Row(None, 7, "in.csv", RowError(row=7, code="bad_csv", message="broken"))
    rows.insert(9, {"id": "M1", "title": "a mapping"})
    rows.insert(11, ["not", "a", "mapping"])
    chunked = list(ENGINE.decide_plain(rows))
    single = [ENGINE._plain_item(item, number) for number, item in enumerate(rows, 1)]
    assert [(v.model(), r) for v, r in chunked] == [(v.model(), r) for v, r in single]


def test_rows_read_before_a_failing_read_are_decided_before_it_is_raised():
    def rows():
        for i in range(5):
            yield {"id": f"P{i}", "title": "t"}
        raise OSError("the disk went away")

    decided = []
    with pytest.raises(OSError, match="disk"):
        for verdict, _ in ENGINE.decide_plain(rows()):
            decided.append(verdict.id)
    assert decided == [f"P{i}" for i in range(5)]
