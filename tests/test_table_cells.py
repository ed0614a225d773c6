"""The cell language of decision tables (engine/tables/cells.py): every form, what it matches (evaluated by
the engine's own evaluator, and the same values by the analysis), and every error with its location."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from openpyxl import Workbook

from engine.authoring.check import check_policies
from engine.expr.check import check
from engine.expr.evaluate import evaluate
from engine.expr.parse import parse
from engine.tables.analysis import _contains
from engine.tables.cells import CellError, cell_condition, cell_values, check_cell, parse_cell
from tests.conftest import TODAY

D = Decimal
DAY = dt.date


def matches(cell_text, kind: str, value) -> bool:
    cell = parse_cell(cell_text)
    check_cell(cell, kind)
    text = cell_condition(cell, "(x)")
    if text is None:
        return True
    node = check(parse(text), {"x": kind}, TODAY)
    return evaluate(node, {"x": value}) is True


FORMS = [  # cell, input type, values it matches, values it does not
    ("-", "number", [None, D(0), D(5)], []),
    (None, "number", [None, D(1)], []),
    ("> 1,000,000", "number", [D(1000001), D("1000000.5")], [D(1000000), D(0), None]),
    (">= 1_000", "number", [D(1000), D(2000)], [D(999), None]),
    ("< -5", "number", [D(-6)], [D(-5), None]),
    ("<= 0", "number", [D(0), D(-1)], [D("0.1"), None]),
    ("= 5", "number", [D(5)], [D(4), None]),
    ("!= 5", "number", [D(4)], [D(5), None]),
    ("5", "number", [D(5)], [D(6)]),
    ("1.5", "number", [D("1.5")], [D(1)]),
    ("[250,000..1,000,000)", "number", [D(250000), D(999999)], [D(1000000), D(249999), None]),
    ("(250,000..1,000,000]", "number", [D(1000000), D(250001)], [D(250000), None]),
    ("]0..10[", "number", [D(5)], [D(0), D(10)]),
    ("[1..5]", "number", [D(1), D(5)], [D(0), D(6)]),
    ("1, 2, 3", "number", [D(1), D(3)], [D(4), None]),
    ("< 0, > 100", "number", [D(-1), D(101)], [D(50), None]),
    ("not([1..5])", "number", [D(0), D(6)], [D(1), D(5), None]),
    ("not([1..5]), null", "number", [D(0), None], [D(3)]),
    ("null", "number", [None], [D(0)]),
    ("not(null)", "number", [D(0), D(-1)], [None]),
    ("!= null", "number", [D(0)], [None]),
    ("null, > 5", "number", [None, D(6)], [D(5)]),
    ('"it"', "string", ["it"], ["IT", "hr", None]),
    ('"it", "finance"', "string", ["it", "finance"], ["hr", None]),
    ('not("it", "finance")', "string", ["hr"], ["it", "finance", None]),
    ('not("it"), null', "string", ["hr", None], ["it"]),
    ("\u201cit\u201d", "string", ["it"], ["hr"]),
    ('"say \\"hi\\""', "string", ['say "hi"'], ["hi"]),
    ('"a, b"', "string", ["a, b"], ["a"]),
    ("true", "bool", [True], [False, None]),
    ("FALSE", "bool", [False], [True, None]),
    (True, "bool", [True], [False]),
    ("not(true)", "bool", [False], [True, None]),
    ("2027-01-01", "date", [DAY(2027, 1, 1)], [DAY(2027, 1, 2)]),
    ('date("2027-01-01")', "date", [DAY(2027, 1, 1)], [DAY(2026, 12, 31)]),
    ("< 2027-01-01", "date", [DAY(2026, 12, 31)], [DAY(2027, 1, 1), None]),
    ("[2027-01-01..2027-12-31]", "date", [DAY(2027, 6, 1)], [DAY(2028, 1, 1)]),
    (DAY(2027, 1, 1), "date", [DAY(2027, 1, 1)], [DAY(2027, 1, 2)]),
    (dt.datetime(2027, 1, 1, 0, 0), "date", [DAY(2027, 1, 1)], [DAY(2027, 1, 2)]),
    (250000, "number", [D(250000)], [D(250001)]),
    (0.1, "number", [D("0.1")], [D("0.2")]),
    ("null", "list[number]", [None], [(D(1),)]),
    ("not(null)", "list[number]", [(D(1),)], [None]),
]


@pytest.mark.parametrize("cell, kind, yes, no", FORMS, ids=[repr(f[0]) for f in FORMS])
def test_each_form_matches_what_it_says(cell, kind, yes, no):
    for value in yes:
        assert matches(cell, kind, value), (cell, value)
    for value in no:
        assert not matches(cell, kind, value), (cell, value)


@pytest.mark.parametrize("cell, kind, yes, no", [f for f in FORMS if not f[1].startswith("list")],
                         ids=[repr(f[0]) for f in FORMS if not f[1].startswith("list")])
def test_the_analysis_sees_the_same_values_as_the_evaluator(cell, kind, yes, no):
    values = cell_values(parse_cell(cell), kind in ("number", "date"))
    for value in yes:
        assert _contains(values, value), (cell, value)
    for value in no:
        assert not _contains(values, value), (cell, value)


ERRORS = [  # cell, input type, code, words in the message or hint
    ("> ", "number", "cell_syntax", "value is missing"),
    ("1,2", "number", "cell_syntax", "1,000,000"),
    ("1,000,,000", "number", "cell_syntax", "unexpected"),
    ("[1..5", "number", "cell_syntax", "']'"),
    ("[1 5]", "number", "cell_syntax", "'..'"),
    ("[5..1]", "number", "cell_empty", "smaller end first"),
    ("(5..5]", "number", "cell_empty", "empty"),
    ("[1..2027-01-01]", "number", "cell_type", "both numbers or both dates"),
    ('["a".."b"]', "string", "cell_type", "numbers or dates"),
    ("it", "string", "cell_syntax", 'double quotes: "it"'),
    ('"it', "string", "cell_syntax", "closing quote"),
    ('not("it"', "string", "cell_syntax", "closing ')'"),
    ("-, 5", "number", "cell_syntax", "stands alone"),
    ("> null", "number", "cell_syntax", "never true"),
    ("== 5", "number", "cell_syntax", "'='"),
    ("2027-02-30", "date", "cell_value", "not a date"),
    ("1234567890123456", "number", "cell_value", "15 significant digits"),
    ("5", "string", "cell_type", "a number"),
    ('"5"', "number", "cell_type", "a string"),
    ("> 5", "bool", "cell_type", "a number"),
    ('> "a"', "string", "cell_type", "cannot be compared"),
    ("true", "number", "cell_type", "bool"),
    ("5", "list[number]", "cell_type", "null, not(null) or -"),
    ("5 6", "number", "cell_syntax", "comma"),
    ("x" * 3000, "string", "cell_syntax", "at most"),
    # a French author's thousands: the hint was "separate a list's items with a comma" (2026-12-07)
    ("> 5 000 000", "number", "cell_syntax", "write 5 000 000 as 5_000_000 (or 5000000)"),
    ("[1 000..5 000]", "number", "cell_syntax", "write 1 000 as 1_000 (or 1000)"),
    ("< 1 250 000,50", "number", "cell_syntax", "write 1 250 000,50 as 1_250_000.50"),
]


@pytest.mark.parametrize("cell, kind, code, words", ERRORS, ids=[e[0][:20] for e in ERRORS])
def test_bad_cells_are_errors_with_a_code_and_a_hint(cell, kind, code, words):
    with pytest.raises(CellError) as caught:
        check_cell(parse_cell(cell), kind)
    assert caught.value.code == code
    if words:
        assert words in caught.value.message + " " + (caught.value.hint or "")


def test_enum_values_are_checked_with_a_did_you_mean():
    with pytest.raises(CellError) as caught:
        check_cell(parse_cell('"it"'), "string", ["Operations", "IT"])
    assert caught.value.code == "cell_value" and caught.value.hint == 'did you mean "IT"?'


def test_not_a_number_from_a_spreadsheet_is_refused():
    with pytest.raises(CellError):
        parse_cell(float("nan"))


# ---------------------------------------------------------------------------- located in the workbook

INTAKE = """kind: intake
fields:
  id: {type: string, required: true}
  title: {type: string, required: true}
  budget: money
  unit: {type: enum, values: [IT, HR, Finance]}
  start: date
"""


def _book(path, sheet, rows):
    book = Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    book.save(path)


def test_a_bad_cell_is_located_as_book_sheet_cell_with_a_hint(write_policy, tmp_path):
    root = write_policy({"intake.yaml": INTAKE, "tables.yaml": "kind: tables\nworkbook: Book.xlsx\ntables:\n"
                         "  - {name: intake, sheet: Intake, hit_policy: collect, applies_to: intake}\n"})
    rows = [["budget", "unit", "start", "effect", "reason"]] + [["> 5", '"IT"', "-", "flag", "ok"]] * 9
    rows.append(["> 5", "-", "-", "flag", "fine"])
    rows.append(["[1..", "IT", "2027-13-01", "flagg", "bad"])  # row 12: four bad cells
    _book(root / "Book.xlsx", "Intake", rows)
    diagnostics = check_policies(root, today=TODAY).diagnostics
    shown = [str(d) for d in diagnostics if d.severity == "error"]
    book = str(root / "Book.xlsx")
    assert any(s.startswith(f"{book}!Intake!A12: error[cell_syntax]: cannot read '[1..'") for s in shown), shown
    assert any(s.startswith(f"{book}!Intake!B12: error[cell_syntax]") and 'put text in double quotes: "IT"' in s
               for s in shown), shown
    assert any(s.startswith(f"{book}!Intake!C12: error[cell_value]") for s in shown), shown
    assert any(s.startswith(f"{book}!Intake!D12: error[cell_value]: effect 'flagg' is not one of") and
               "did you mean 'flag'?" in s for s in shown), shown


@pytest.mark.parametrize("header, rows, code, where", [
    (["budjet", "effect", "reason"], [["> 5", "flag", "x"]], "unknown_field", "A1"),
    (["budget", "route"], [["> 5", "CIO"]], "missing_column", "C1"),
    (["budget", "effect", "reason", "unit"], [["> 5", "flag", "x", "-"]], "bad_header", "D1"),
    (["budget", "effect", "reason"], [["> 5", "review", "x"]], "missing_route", "A2"),
    (["budget", "effect", "reason"], [["> 5", "flag", None]], "missing_reason", "C2"),
    (["budget", "effect", "reason"], [["> 5", "flag", "Too {budgett}"]], "unknown_field", "C2"),
    (["budget", "effect", "reason"], [["> 5", "flag", "x", "stray"]], "extra_cells", "D2"),
    (["budget", "effect", "reason", "rule"], [["> 5", "flag", "x", "a"], ["< 0", "reject", "y", "a"]],
     "duplicate_rule", "A3"),
    (["budget", "effect", "reason"], [["=5+1", "flag", "x"]], "cell_formula", "A2"),
    (["budget", "effect", "reason", "rule"], [["> 5", "flag", "x", "bad id!"]], "cell_value", "D2"),
])
def test_table_errors_point_at_the_cell(write_policy, header, rows, code, where):
    root = write_policy({"intake.yaml": INTAKE, "tables.yaml": "kind: tables\nworkbook: Book.xlsx\ntables:\n"
                         "  - {name: t, sheet: Rules, hit_policy: collect, applies_to: intake}\n"})
    _book(root / "Book.xlsx", "Rules", [header, *rows])
    errors = [d for d in check_policies(root, today=TODAY).diagnostics if d.severity == "error"]
    assert [(d.code, str(d.location).rsplit("!", 1)[1]) for d in errors] == [(code, where)], [str(d) for d in errors]


def test_a_missing_sheet_or_file_is_an_error_on_the_tables_file(write_policy):
    root = write_policy({"intake.yaml": INTAKE, "tables.yaml": "kind: tables\nworkbook: Book.xlsx\ntables:\n"
                         "  - {name: t, sheet: Rulez, hit_policy: collect, applies_to: intake}\n"
                         "  - {name: u, file: nowhere.csv, hit_policy: collect, applies_to: intake}\n"})
    _book(root / "Book.xlsx", "Rules", [["budget", "effect", "reason"], ["> 5", "flag", "x"]])
    errors = {d.code: d for d in check_policies(root, today=TODAY).diagnostics}
    assert errors["unknown_sheet"].location.file.endswith("tables.yaml") and "Rules" in errors["unknown_sheet"].hint
    assert errors["no_table"].location.line == 5
    # the file as the user can open it (display_path), not a Python string's repr in quotes
    from engine.errors import display_path
    assert errors["no_table"].message == \
        f"cannot read the table's file {display_path(root / 'nowhere.csv')}: No such file or directory"


def test_a_csv_table_is_located_as_file_cell(write_policy):
    root = write_policy({"intake.yaml": INTAKE, "rules.csv": "budget,effect,reason\n> 5,flag,big\n<= 5,flg,small\n",
                         "tables.yaml": "kind: tables\ntables:\n"
                         "  - {name: t, file: rules.csv, hit_policy: collect, applies_to: intake}\n"})
    errors = [str(d) for d in check_policies(root, today=TODAY).diagnostics if d.severity == "error"]
    assert len(errors) == 1 and errors[0].startswith(f"{root / 'rules.csv'}!B3: error[cell_value]"), errors


@pytest.mark.parametrize("text", ["<= 100.000", "(100.000..1,000,000]", "> 1.000", "2.500", "-1.250"])
def test_a_number_with_a_dot_before_three_digits_is_refused_not_read_as_the_smaller(text):
    """Found by a new user: '> 100.000' (a Spanish 100,000) was > 100, so every 500 EUR proposal went to the board."""
    with pytest.raises(CellError, match="reads two ways: .* nothing is guessed: write .*,"):
        parse_cell(text)


@pytest.mark.parametrize("text, number", [("0.125", "0.125"), ("1.5", "1.5"), ("100,000", "100000"),
                                          ("12.50", "12.50"), ("1000.000", "1000.000")])
def test_numbers_that_read_one_way_are_read(text, number):
    assert parse_cell(text).tests[0].value == Decimal(number)
