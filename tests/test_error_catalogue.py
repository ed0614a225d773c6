"""docs/errors.md, the error catalogue (issue #14): complete (every diagnostic code the policy loader, compiler,
expression checker, back ends and lint can give has an entry) and current (it is what `python docs/errors.py`
writes, so each example is the output of a real run)."""
import importlib.util
import re

import yaml

from tests.conftest import ROOT

STAGES = ["engine/policy", "engine/compile", "engine/expr", "engine/refdata", "engine/backends", "engine/authoring/lint.py",
          "engine/expr/domains.py", "engine/workbook"]
CODE = re.compile(r'(?:sink\.add|Diagnostic|_warning|_error|ExprError|add)\(\s*f?"([a-z_]+)"'
                  r'|\.error\(ws, [^,]+, [^,]+, "([a-z_]+)"')  # the workbook reader: a cell's sheet, row, column


def _generator():
    spec = importlib.util.spec_from_file_location("errors_doc", ROOT / "docs" / "errors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_policy_diagnostic_code_has_an_entry():
    codes = set()
    for stage in STAGES:
        path = ROOT / stage
        for source in (sorted(path.rglob("*.py")) if path.is_dir() else [path]):
            codes |= {a or b for a, b in CODE.findall(source.read_text(encoding="utf-8"))}
    catalogued = set(yaml.safe_load((ROOT / "docs" / "errors.yaml").read_text(encoding="utf-8")))
    assert len(codes) > 60
    assert sorted(codes - catalogued) == []


def test_every_entry_has_a_real_example_or_says_why_not():
    entries = yaml.safe_load((ROOT / "docs" / "errors.yaml").read_text(encoding="utf-8"))
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for code, entry in entries.items():
        assert entry["meaning"] and entry["fix"], code
        if not entry.get("no_example"):
            assert re.search(rf"^(\S+: )?(error|warning)\[{code}\]: ", text, re.M), code  # the run's own line (the error limit: no file)
    assert sum(1 for e in entries.values() if e.get("no_example")) <= 10


def test_the_catalogue_is_current():
    assert _generator().build() == (ROOT / "docs" / "errors.md").read_text(encoding="utf-8"), \
        "docs/errors.md is out of date: run python docs/errors.py"


def test_the_steps_in_the_authoring_guide_are_the_ones_pmo_test_knows():
    import io

    from engine.cli import main
    out = io.StringIO()
    assert main(["test", "--steps"], stdout=out, stderr=io.StringIO()) == 0
    guide = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    block = guide.split("<!-- the output of: pmo test --steps", 1)[1].split("```\n", 1)[1].split("\n```", 1)[0]
    assert block == out.getvalue().rstrip("\n"), "docs/authoring.md: paste the output of pmo test --steps"
