"""Loader and compiler diagnostics: each case names the code, line and column it expects."""
from pathlib import Path

import pytest
import yaml

from engine import validate
from engine.cli import main
from tests.conftest import ROOT, TODAY

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "policy_errors.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_policy_error_cases(case, write_policy):
    root = write_policy(case["files"])
    found = [(d.code, d.location.file.split("/")[-1] if d.location else None,
              d.location.line if d.location else None, d.location.column if d.location else None)
             for d in validate(root, today=TODAY)]
    expected = [(e["code"], e.get("file", "intake.yaml"), e.get("line"), e.get("col")) for e in case["expect"]]
    assert found == expected
    if "message" in case:
        assert any(case["message"] in str(d) for d in validate(root, today=TODAY))


def test_five_mistakes_are_all_reported_with_positions(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # diagnostics name files as paths from the working directory
    code = main(["validate", str(ROOT / "examples" / "broken-policies")])
    out = capsys.readouterr().out.splitlines()
    assert code == 2
    assert out[1:5] == ["  |", "8 |   - use: governance/sponsor-requierd", "  |          ^",
                        "  = help: did you mean 'sponsor-required'?"]  # each error shows its line, as rustc does
    out = [line for line in out if line.startswith("examples/")]
    assert out == [
        "examples/broken-policies/intake.yaml:8:10: error[unknown_include]: library 'governance' has no rule "
        "'sponsor-requierd'; did you mean 'sponsor-required'?",
        "examples/broken-policies/intake.yaml:11:5: error[unknown_key]: unknown key 'whne'; did you mean 'when'?",
        "examples/broken-policies/intake.yaml:16:11: error[type_mismatch]: cannot compare date with number",
        "examples/broken-policies/intake.yaml:20:11: error[unknown_field]: 'budjet' is not a field; did you mean 'budget'?",
        "examples/broken-policies/intake.yaml:24:11: error[syntax]: unsupported operator; use + - * / only",
    ]


def test_reference_policies_are_valid():
    assert validate(today=TODAY) == []


def test_reference_policies_validate_against_the_json_schema():
    import jsonschema

    from engine.policy.schema import policy_schema
    validator = jsonschema.Draft202012Validator(policy_schema())
    for path in sorted((ROOT / "policies").glob("*.yaml")) + sorted((ROOT / "rules").glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message} at {list(errors[0].absolute_path)}"
    bad = yaml.safe_load("kind: intake\nfields: {budget: moneyy}\n")
    assert list(validator.iter_errors(bad))


def test_the_schema_has_a_working_example_and_descriptions_for_every_kind(tmp_path):
    """Editors show the examples; they must validate against the schema and load as a real policy folder."""
    import jsonschema

    from engine.policy.schema import KINDS, examples, policy_schema
    schema = policy_schema()
    validator = jsonschema.Draft202012Validator(schema)
    documents = examples()
    assert set(documents) == set(KINDS)
    for kind, model in KINDS.items():
        definition = schema["$defs"][model]
        assert definition["examples"] == [documents[kind]] and definition.get("description"), kind
        assert not list(validator.iter_errors(documents[kind])), kind
        described = [p for p in definition["properties"].values() if "description" in p]
        assert len(described) >= 2, kind
    (tmp_path / "rules").mkdir()
    for kind, document in documents.items():
        target = tmp_path / "rules" / "governance.yaml" if kind == "library" else tmp_path / f"{kind}.yaml"
        target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    (tmp_path / "approval-routes.csv").write_text(  # the table the tables example names
        "budget,effect,route,reason\nnull,reject,-,A budget is required\n<= 1_000_000,-,-,-\n"
        "> 1_000_000,review,Investment Committee,Budget {budget} is above 1 million\n", encoding="utf-8")
    assert [d for d in validate(tmp_path, today=TODAY) if d.severity == "error"] == []


MULTI_LINE = """kind: intake
fields:
  id: {type: string, required: true}
  budget: money
  category: {type: enum, values: [growth, innovation]}
rules:
  - id: plain
    when: budget > 1_000_000
      and categry == "innovation"
    effect: flag
    reason: r
  - id: folded
    when: >
      budget > 1_000_000
      and category == "inovation"
    effect: flag
    reason: r
  - id: quoted
    when: "budget > 1_000_000
      and categori == 'x'"
    effect: flag
    reason: r
  - id: literal
    when: |
      budget > 1
      and budgt > 2
    effect: flag
    reason: r
"""


def test_errors_in_expressions_written_over_several_lines_point_at_the_right_line(write_policy):
    """Found by a policy author: the line of 'when:' was given, with a column past its end."""
    root = write_policy({"intake.yaml": MULTI_LINE})
    found = [(d.code, d.location.line, d.location.column) for d in validate(root, today=TODAY, lint=True)]
    assert found == [("unknown_field", 9, 11), ("unknown_field", 20, 11), ("unknown_field", 26, 11)]
    fixed = MULTI_LINE.replace("categry", "category").replace("categori", "category").replace("budgt", "budget")
    root = write_policy({"intake.yaml": fixed}, folder="fixed")
    found = [(d.code, d.location.line, d.location.column) for d in validate(root, today=TODAY, lint=True)]
    assert ("never_fires", 15, 11) in found  # the folded block's second line, at 'category'


def test_a_rules_folder_beside_the_policies_is_the_library_they_use(tmp_path):
    """A policy author copies policies/ and rules/ side by side, as in this repository, and edits a library
    rule: the edit must count (it used to be ignored in favour of the built-in library)."""
    import shutil
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "notes.yaml").write_text("just: notes\n", encoding="utf-8")  # not a library: ignored
    library = tmp_path / "rules" / "governance.yaml"
    library.write_text(library.read_text(encoding="utf-8").replace("when: budget > params.cap\n",
                                                                   "when: budget > params.capp\n"), encoding="utf-8")
    [diagnostic] = [d for d in validate(tmp_path / "policies", today=TODAY) if d.severity == "error"]
    assert diagnostic.code == "unknown_name" and "rules/governance.yaml" in diagnostic.message


def test_a_value_yaml_reads_as_a_bool_or_date_where_text_belongs_says_quote_it(write_policy):
    root = write_policy({"intake.yaml": "kind: intake\nfields:\n  id: string\nrules:\n"
                                        "  - {id: r, when: true, effect: flag, reason: 2027-01-01}\n"})
    found = [(d.location.line, d.location.column, d.message, d.hint) for d in validate(root, today=TODAY)]
    assert found == [(5, 19, "rules.0.when: expected text, but YAML read true as a bool", "put it in quotes: 'true'"),
                     (5, 47, "rules.0.reason: expected text, but YAML read 2027-01-01 as a date",
                      "put it in quotes: '2027-01-01'")]


@pytest.mark.parametrize("expression, value, expected", [
    ("alignment > 0.05", "alignment=net-zero:strong", "true\n"),  # was an internal error (exit 3)
    ("category == 'growth'", "category=Growth", "true\n"),
    ("len(cash_flows)", "cash_flows=-1;2;3", "3\n"),
    ("regulatory", "regulatory=yes", "true\n"),
    ("start_date", "start_date=2027-01-01", '"2027-01-01"\n'),
])
def test_pmo_expr_reads_every_field_type_of_the_policies(expression, value, expected):
    code, out, err = _run("expr", expression, "--policies", str(ROOT / "policies"), "--today", "2026-12-01",
                          "--set", value)
    assert (code, out, err) == (0, expected, "")


def test_pmo_expr_names_a_misspelt_field_of_the_policies():
    code, _, err = _run("expr", "budget", "--policies", str(ROOT / "policies"), "--set", "budjet=1")
    assert code == 2 and "'budjet' is not a field of the intake policy; did you mean 'budget'?" in err


def _run(*argv):
    import io
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("expression, hint", [
    ("budget % 2 > 0", "use + - * / only"),  # '%' is a percent sign after a number, never modulo
    ("benefit > 500,000", "write 500,000 as 500_000 (or 500000): a comma separates list items"),
    ("budget > 1M", "write 1M as 1_000_000"),
    ("budget > €5", "write amounts without a currency sign"),
    ("hour(start_date) > 1", "functions that take a date: year(date), month(date), day(date), weekday(date)"),
    ("todya() > start_date", "did you mean 'today'?"),
    ("budget between 100_000 and 500_000", "write 100_000 <= budget <= 500_000"),  # was a bare 'invalid syntax'
    # a French author's thousands (2026-12-07: a bare 'invalid syntax'), with a space or a narrow no-break space
    ("budget > 5 000 000", "write 5 000 000 as 5_000_000 (or 5000000): numbers are written without spaces"),
    ("budget > 5\u202f000\u202f000", "write 5\u202f000\u202f000 as 5_000_000 (or 5000000)"),
    ("budget > 1 250 000,50", "write 1 250 000,50 as 1_250_000.50 (or 1250000.50)"),
])
def test_expression_mistakes_get_a_hint_that_points_at_the_cause(expression, hint):
    """Found by a policy author: '10%' was 'invalid syntax' with no hint, '500,000' said "'and' joins conditions"
    (or a list of two types) and 'day(go_live)' suggested 'today'."""
    code, _, err = _run("expr", expression, "--policies", str(ROOT / "policies"))
    assert code == 2 and hint in err, err
def test_validate_shows_the_source_line_a_caret_and_help(write_policy, capsys, monkeypatch):
    """rustc-style: the first line stays file:line:col: error[code]: message (tools parse it), then the line."""
    root = write_policy({"intake.yaml": 'kind: intake\nfields: {id: string}\ndescription: "never closed\nname: x\n'})
    monkeypatch.chdir(root)
    assert main(["validate", "."]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("intake.yaml:3:14: error[yaml_syntax]: ")
    assert "while scanning" not in out[0]
    assert out[1:4] == ["  |", '3 | description: "never closed', "  |              ^"]
    assert out[4].startswith("  = help: ")


def test_yaml_messages_use_no_parser_jargon(write_policy):
    for text in ['kind: intake\nfields:\n  id: string\n budget: money\n',
                 'kind: intake\nfields: {id: string}\nrules:\n  - id: a\n    effect: flag\n   - id: b\n']:
        [diagnostic] = validate(write_policy({"intake.yaml": text}), today=TODAY)
        assert not any(word in str(diagnostic) for word in ("<block end>", "<scalar>", "<block", "'?'")), diagnostic


@pytest.mark.parametrize("value, says", [
    ("!!int x", "'x' is not a whole number"),
    ("!!int 1.5", "'1.5' is not a whole number"),
    ("!!bool maybe", "'maybe' is not true or false"),
    ("!!timestamp 2027-02-30", "'2027-02-30' is not a day of the calendar"),
    ("!!timestamp 2027-13-01", "'2027-13-01' is not a day of the calendar"),
])
def test_an_explicit_tag_the_value_does_not_fit_is_said_in_the_policys_words(write_policy, value, says):
    text = f"kind: intake\nid_field: {value}\nfields: {{id: string}}\n"
    [diagnostic] = validate(write_policy({"intake.yaml": text}), today=TODAY)
    assert diagnostic.code == "bad_value" and says in diagnostic.message, diagnostic
    assert not any(word in diagnostic.message for word in ("literal", "base 10", "int()", "KeyError")), diagnostic


def test_a_yaml_bool_is_quoted_as_it_was_written(write_policy):
    """values: [NO, SE] said 'YAML read false as a bool; put it in quotes: false', which would make the value
    'false': the hint quotes the text in the file."""
    root = write_policy({"intake.yaml": "kind: intake\nfields:\n  id: string\n"
                                        "  site: {type: enum, values: [NO, SE, DK, on]}\nrules: []\n"})
    found = [(d.location.column, d.message, d.hint) for d in validate(root, today=TODAY)]
    assert found == [(31, "fields.site.values.0: expected text, but YAML read NO as a bool (false)", "put it in quotes: 'NO'"),
                     (43, "fields.site.values.3: expected text, but YAML read on as a bool (true)", "put it in quotes: 'on'")]


def test_enum_values_that_differ_only_in_case_are_refused(write_policy):
    """values: ['on', 'On'] read a cell 'on' as 'On' (the last of the two), so a rule site == "on" never fired."""
    root = write_policy({"intake.yaml": "kind: intake\nfields:\n  id: string\n"
                                        "  site: {type: enum, values: ['NO', 'SE', 'on', 'On']}\nrules: []\n"})
    [found] = validate(root, today=TODAY)
    assert (found.code, found.location.line) == ("enum_values_alike", 4) and "'on' and 'On'" in found.message


def test_an_enum_typo_in_a_derived_value_or_a_gate_criterion_is_a_lint_warning(tmp_path):
    """'category != "reserch"' in a gate and 'category == "Growth"' in a derived value were silent (a rule with the
    same mistake is a warning): the criterion was always met, the derived value always 0."""
    import shutil
    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder)
    intake = folder / "intake.yaml"
    text = intake.read_text(encoding="utf-8")
    intake.write_text(text.replace("derived:\n", "derived:\n  growth_bonus: 'if(category == \"Growth\", 1, 0)'\n", 1),
                      encoding="utf-8")
    gates = folder / "gates.yaml"
    gates.write_text(gates.read_text(encoding="utf-8").replace('when: "sponsor != null"',
                                                               'when: "sponsor != null and category != \\"reserch\\""', 1),
                     encoding="utf-8")
    found = [d for d in validate(folder, today=TODAY, lint=True) if d.code == "unknown_enum_value"]
    assert sorted((d.location.file.split("/")[-1], d.message.split(" compares ")[0]) for d in found) == [
        ("gates.yaml", "gate business-case's criterion 'sponsor-confirmed'"), ("intake.yaml", "derived value 'growth_bonus'")]
    assert any("did you mean 'growth'" in (d.hint or "") for d in found)


@pytest.mark.parametrize("expression, given, expected", [
    ("personal_data and not privacy_assessment", ["--set", "personal_data=yes"], "true\n"),  # was null
    ("regulatory", [], "false\n"),  # a default, as a row without the cell reads
    ("privacy_assessment", ["--set", "privacy_assessment=yes"], "true\n"),
    ("sponsor", [], "null\n"),  # no default: missing
])
def test_pmo_expr_reads_a_field_not_given_as_the_engine_reads_a_missing_cell(expression, given, expected):
    """A bool field with default: false was null in pmo expr but false in pmo evaluate, so a rule tried in the
    calculator gave the opposite answer to the engine."""
    from engine import Engine
    code, out, err = _run("expr", expression, "--policies", str(ROOT / "policies"), "--today", "2026-12-01", *given)
    assert (code, out, err) == (0, expected, "")
    if " " not in expression:  # one field: what the engine's record of such a row holds
        import json
        engine = Engine.load(ROOT / "policies", today=TODAY)
        record = engine.record_of({"id": "P-1", "title": "t", **dict(g.split("=", 1) for g in given[1::2])})
        assert json.dumps(record[expression]) == out.strip()


def test_validate_locates_a_number_with_spaces_and_says_how_to_write_it(write_policy, capsys, monkeypatch):
    """Was (a French author, 2026-12-07): 'intake.yaml:5:22: error[syntax]: invalid syntax' and nothing else."""
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string, title: string, budget: money}\nrules:\n"
                         "  - id: plafond\n    when: budget > 5 000 000\n    effect: reject\n    reason: trop\n"})
    monkeypatch.chdir(root)
    assert main(["validate", "."]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("intake.yaml:5:22: error[syntax]: "), out
    assert "write 5 000 000 as 5_000_000 (or 5000000)" in out[0]


def test_a_policy_file_that_is_not_utf8_names_the_line_and_column_of_the_byte(tmp_path):
    # it said "file is not UTF-8 (byte 53)": an offset into the file, and no fix
    (tmp_path / "intake.yaml").write_bytes(b"kind: intake\nfields: {id: string}\n# Zo\xc3\xab and Zo\xeb\n")
    (found,) = [d for d in validate(tmp_path, today=TODAY) if d.code == "encoding"]
    assert (found.location.line, found.location.column) == (3, 13)  # in characters: the UTF-8 ë is one column
    assert found.message == "file is not UTF-8: byte 0xEB is not a UTF-8 character"
    assert found.hint == "save the file as UTF-8 (an editor's 'Save with encoding')"
