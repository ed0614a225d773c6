"""Proposal, project and portfolio YAML is parsed by libyaml (C) where present, with PyYAML's Python parser as
the fallback (issue #15): both read every document alike, and an error is PyYAML's, with its position."""
import datetime as dt

import pytest
import yaml

from engine import InputError, read_proposals
from engine.io.readers import (
    CProposalsLoader,
    CTextDatesLoader,
    ProposalsLoader,
    TextDatesLoader,
    load_text_dates,
)
from engine.io.rows import Duplicated, TooLong

DOCUMENTS = [
    "- {id: A, start: 2027-01-31, at: 2027-01-31T10:00:00, budget: 1_000, rate: 0.1, ok: yes, none: ~}\n",
    "proposals:\n  - id: A\n    tags: [x, y]\n  - &b {id: B}\n  - *b\n",
    "- {id: A, id: B}\n",  # a repeated key
    f"- {{id: A, budget: {'7' * 5000}}}\n",  # too long to convert
    'title: "caf\\u00e9 \\U0001F600"\n',
]


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML without libyaml")
def test_the_c_loaders_are_in_use():
    assert issubclass(CTextDatesLoader, yaml.CSafeLoader) and issubclass(CProposalsLoader, yaml.CSafeLoader)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_c_and_python_loaders_read_alike(text):
    def shape(value):  # TooLong and Duplicated compare by what they stand for
        if isinstance(value, TooLong):
            return ("too long", value.length)
        if isinstance(value, Duplicated):
            return ("duplicated", value.duplicate, {k: shape(v) for k, v in value.items()})
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value]
        return value
    def read(loader):
        try:
            return shape(yaml.load(text, Loader=loader))
        except ValueError as exc:  # TextDatesLoader converts every integer (projects and portfolios)
            return type(exc)
        except yaml.YAMLError as exc:  # TextDatesLoader refuses a repeated key
            return type(exc), str(exc).splitlines()[0]
    for c, python in ((CProposalsLoader, ProposalsLoader), (CTextDatesLoader, TextDatesLoader)):
        assert read(c) == read(python)


@pytest.mark.parametrize("loader", [TextDatesLoader, CTextDatesLoader])
def test_data_files_keep_numbers_yaml_alone_reads_as_text_and_refuse_a_repeated_key(loader):
    """Found by new users in portfolio files and project records: 900.000 (a European 900,000) was 900, 0123 was 83
    (octal), 1:30 was 90 (sexagesimal), and of a key given twice the later value silently won."""
    data = yaml.load("a: 900.000\nb: 1.250.000\nc: 0123\nd: 010\ne: 1:30\nf: 0.125\ng: 1_000\nh: 12.5\ni: 0\n"
                     "j: -2.000\nk: 1.5e3\n", Loader=loader)
    assert data == {"a": "900.000", "b": "1.250.000", "c": "0123", "d": "010", "e": "1:30", "f": 0.125, "g": 1000,
                    "h": 12.5, "i": 0, "j": "-2.000", "k": "1.5e3"}
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'budget': the later value would"):
        yaml.load("id: A\nbudget: 2400000\nfields: {x: 1}\nbudget: 400000\n", Loader=loader)
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'spi'"):
        yaml.load("metrics:\n  spi: 0.80\n  spi: 1.05\n", Loader=loader)


def test_dates_stay_text():
    data = load_text_dates("start: 2027-01-31\nat: 2027-01-31 10:00:00\n")
    assert data == {"start": "2027-01-31", "at": "2027-01-31 10:00:00"}
    assert not any(isinstance(v, dt.date) for v in data.values())


def test_an_escape_libyaml_refuses_is_read_by_the_python_parser(tmp_path):
    text = '- {id: A, title: "smile \\ud83d\\ude00"}\n'  # a surrogate pair, as JSON writes it
    with pytest.raises(yaml.YAMLError):
        yaml.load(text, Loader=CProposalsLoader)
    assert load_text_dates(text, (CProposalsLoader, ProposalsLoader))[0]["id"] == "A"
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    assert [row.data["id"] for row in read_proposals(path)] == ["A"]


def test_an_error_has_pythons_wording_and_position(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- {id: A\n- {id: B}\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        list(read_proposals(path))
    python = None
    try:
        yaml.load(path.read_text(), Loader=ProposalsLoader)
    except yaml.YAMLError as exc:
        python = str(exc).splitlines()[0]
    assert info.value.diagnostics[0].code == "bad_file" and python in info.value.diagnostics[0].message


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}")])
def test_deep_nesting_is_refused_not_a_crash(tmp_path, opening, closing):
    path = tmp_path / "deep.yaml"
    path.write_text(opening * 100_000 + "1" + closing * 100_000, encoding="utf-8")
    with pytest.raises(InputError) as info:
        list(read_proposals(path))
    assert info.value.diagnostics[0].code == "bad_file"


@pytest.mark.parametrize("value, says", [("!!bool maybe", "'maybe' is not true or false"),
                                         ("!!int x", "'x' is not a whole number"),
                                         ("!!float x", "'x' is not a number"),
                                         ("!!timestamp 2027-02-30", "'2027-02-30' is not a day of the calendar")])
@pytest.mark.parametrize("loaders", [(CTextDatesLoader, TextDatesLoader), (CProposalsLoader, ProposalsLoader),
                                     (TextDatesLoader, TextDatesLoader)])
def test_a_value_its_explicit_tag_does_not_fit_is_a_located_yaml_error(value, says, loaders):
    with pytest.raises(yaml.YAMLError) as info:  # not a KeyError or ValueError from PyYAML's constructors
        load_text_dates(f"- {{id: A, x: {value}}}\n", loaders)
    assert says in str(info.value) and "line 1, column 14" in str(info.value)  # at the tag


@pytest.mark.parametrize("command, text", [
    (["evaluate"], "- {id: A, title: T, regulatory: !!bool maybe}\n"),
    (["conflicts"], "projects:\n  - {id: P, budget: !!int x}\n"),
])
def test_a_file_with_such_a_value_is_refused_with_its_position_not_an_internal_error(tmp_path, capsys, command,
                                                                                      text):
    from engine.cli import main
    path = tmp_path / "in.yaml"
    path.write_text(text, encoding="utf-8")
    assert main([*command, str(path)]) == 2
    seen = capsys.readouterr()
    said = seen.out + seen.err
    assert "internal error" not in said and f"{path}:" in said and "is not" in said, said  # file:line:col
