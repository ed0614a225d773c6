"""The compiler as a named, ordered list of stages (engine/compile/policy.py STAGES), and the error limit that
says when it is reached (pmo validate --max-errors; OPA's compiler does both)."""
import datetime as dt
import io
import json

import pytest

from engine.api import Engine
from engine.authoring.check import check_policies
from engine.cli import main
from engine.compile import policy as compiling
from engine.errors import LIMIT_REACHED, MAX_ERRORS, PolicyError

ORDER = ["strategy", "fields", "lookups", "derived", "rules", "tables", "assurances", "table_analysis", "scoring",
         "gates", "health", "kpis"]


def test_the_stages_are_named_and_run_in_their_order(monkeypatch):
    assert [name for name, _ in compiling.STAGES] == ORDER
    ran = []
    monkeypatch.setattr(compiling, "STAGES", tuple(
        (name, lambda c, name=name, stage=stage: (ran.append(name), stage(c))) for name, stage in compiling.STAGES))
    Engine.load(today=dt.date(2026, 12, 1), backend="reference")
    assert ran == ORDER


def _policies(tmp_path, bad: int):
    """An intake policy with ``bad`` fields of an unknown type: one error each."""
    folder = tmp_path / "policies"
    folder.mkdir()
    fields = ", ".join(["id: string"] + [f"f{i}: numbr" for i in range(1, bad + 1)])
    (folder / "intake.yaml").write_text(f"kind: intake\nfields: {{{fields}}}\n", encoding="utf-8")
    return folder


def _validate(folder, *options):
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", str(folder), "--today", "2026-12-01", "--format", "json", *options], out, err)
    return code, json.loads(out.getvalue()), err.getvalue()


def test_past_the_limit_errors_are_counted_and_a_last_diagnostic_says_so(tmp_path):
    folder = _policies(tmp_path, 105)
    code, found, err = _validate(folder, "--max-errors", "3")
    assert code == 2
    assert [d["code"] for d in found] == ["bad_value"] * 3 + [LIMIT_REACHED]
    assert found[-1]["message"] == "error limit reached (3): 102 more not shown"
    assert found[-1]["hint"].startswith("--max-errors to see more")
    assert "105 error(s)" in err  # the summary counts every error, shown or not


def test_the_default_limit_and_no_limit(tmp_path):
    folder = _policies(tmp_path, MAX_ERRORS + 5)
    _, found, _ = _validate(folder)
    assert len(found) == MAX_ERRORS + 1 and found[-1]["message"] == f"error limit reached ({MAX_ERRORS}): 5 more not shown"
    _, every, _ = _validate(folder, "--max-errors", "0")
    assert len(every) == MAX_ERRORS + 5 and LIMIT_REACHED not in {d["code"] for d in every}


def test_under_the_limit_there_is_no_note(tmp_path):
    folder = _policies(tmp_path, 3)
    _, found, _ = _validate(folder, "--max-errors", "3")
    assert [d["code"] for d in found] == ["bad_value"] * 3


def test_text_output_ends_with_the_limit(tmp_path):
    folder = _policies(tmp_path, 5)
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", str(folder), "--today", "2026-12-01", "--max-errors", "2"], out, err) == 2
    assert out.getvalue().rstrip("\n").splitlines()[-1] == (
        "error[too_many_errors]: error limit reached (2): 3 more not shown; --max-errors to see more "
        "(--max-errors 0: all)")


def test_the_api_and_engine_load_report_the_limit_last(tmp_path):
    folder = _policies(tmp_path, 5)
    checked = check_policies(folder, max_errors=2)
    assert checked.not_shown == 3 and checked.diagnostics[-1].code == LIMIT_REACHED
    with pytest.raises(PolicyError) as raised:
        Engine.load(folder, backend="reference")
    assert len(raised.value.diagnostics) == 5  # Engine.load keeps the default limit; nothing past it here
    (tmp_path / "big").mkdir()
    big = _policies(tmp_path / "big", MAX_ERRORS + 1)
    with pytest.raises(PolicyError) as raised:
        Engine.load(big, backend="reference")
    assert raised.value.diagnostics[-1].code == LIMIT_REACHED  # sorted last, after the located errors


@pytest.mark.parametrize("value", ["-1", "many"])
def test_a_bad_limit_is_a_usage_error(tmp_path, value):
    err = io.StringIO()
    assert main(["validate", str(tmp_path), "--max-errors", value], io.StringIO(), err) == 2
    assert "0 or more" in err.getvalue()
