"""Policy diagnostics as SARIF 2.1.0 (engine/authoring/sarif.py): what code scanning needs to show each one inline."""
import json
from pathlib import Path

from engine.authoring.check import check_policies
from engine.authoring.sarif import to_sarif
from engine.errors import Diagnostic, Location
from tests.conftest import ROOT


def _sarif(folder: str, monkeypatch) -> tuple[list[Diagnostic], dict]:
    monkeypatch.chdir(ROOT)  # diagnostics name files relative to the working directory, as the CLI prints them
    checked = check_policies(folder, lint=True)
    return checked.diagnostics, json.loads(json.dumps(to_sarif(checked.diagnostics, "0.1.0")))


def test_every_lint_diagnostic_is_a_result_at_its_line_and_column(monkeypatch):
    diagnostics, log = _sarif("examples/lint-policies", monkeypatch)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    assert run["tool"]["driver"]["name"] == "pmo"
    assert len(diagnostics) == 16 and len(run["results"]) == 16
    rules = run["tool"]["driver"]["rules"]
    for d, result in zip(diagnostics, run["results"]):
        assert result["ruleId"] == d.code and rules[result["ruleIndex"]]["id"] == d.code
        assert result["level"] == d.severity == "warning"
        assert result["message"]["text"].startswith(d.message)
        (place,) = result["locations"]
        physical = place["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": d.location.file, "uriBaseId": "%SRCROOT%"}
        assert physical["artifactLocation"]["uri"].startswith(("examples/lint-policies/", "examples/lint-library/"))
        assert physical["region"]["startLine"] == d.location.line >= 1
        assert physical["region"].get("startColumn", 0) == d.location.column
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == Path(ROOT).resolve().as_uri() + "/"


def test_errors_keep_their_hint_and_level(monkeypatch):
    diagnostics, log = _sarif("examples/broken-policies", monkeypatch)
    errors = [d for d in diagnostics if d.severity == "error"]
    assert errors
    results = log["runs"][0]["results"]
    for d, result in zip(diagnostics, results):
        if d.severity == "error":
            assert result["level"] == "error"
        if d.hint:
            assert result["message"]["text"] == f"{d.message}; {d.hint}"


def test_a_whole_file_or_a_place_outside_any_file_has_no_region(tmp_path):
    outside = tmp_path / "elsewhere" / "policy file.yaml"
    log = to_sarif([Diagnostic("bad_file", "cannot read", Location(str(outside))),
                    Diagnostic("expr", "no file", Location("<expr>", 1, 3)),
                    Diagnostic("x", "nowhere")], "0.1.0", root=tmp_path / "repo")
    first, second, third = log["runs"][0]["results"]
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": outside.resolve().as_uri()}}  # absolute: no base
    assert "locations" not in second and "locations" not in third


def test_relative_uris_are_percent_encoded_with_forward_slashes(tmp_path):
    target = tmp_path / "my policies" / "intake#1.yaml"
    log = to_sarif([Diagnostic("c", "m", Location(str(target), 2, 5))], "0.1.0", root=tmp_path)
    place = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert place["artifactLocation"]["uri"] == "my%20policies/intake%231.yaml"
    assert place["region"] == {"startLine": 2, "startColumn": 5}


def test_pmo_validate_writes_sarif_and_keeps_its_exit_code(monkeypatch):
    import io

    from engine.cli import main
    monkeypatch.chdir(ROOT)
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", "examples/broken-policies", "--format", "sarif"], stdout=out, stderr=err) == 2
    results = json.loads(out.getvalue())["runs"][0]["results"]
    assert results and all(r["level"] == "error" for r in results if r["ruleId"] != "never_fires")
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
        "examples/broken-policies/")
    out = io.StringIO()
    assert main(["validate", "--format", "sarif"], stdout=out, stderr=io.StringIO()) == 0
    assert json.loads(out.getvalue())["runs"][0]["results"] == []  # the reference set is clean
