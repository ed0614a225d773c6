"""docs/errors.md, the error catalogue (issue #14): complete (every diagnostic code any engine module can give has an
entry, found by reading the source: see codes_in_the_engine) and current (it is what `python docs/errors.py` writes,
so each example is the output of a real run)."""
import ast
import importlib.util
import re

import yaml

from tests.conftest import ROOT

WORD = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# Codes with no entry, and why. Nothing else may be left out.
NOT_CATALOGUED = {
    "error": "the code of a PmoError made from plain text, which has no code of its own (engine/errors.py)",
    "internal_error": "a bug in pmo, not in what the user wrote; its message says so and asks for a report",
    "engine_error": "a bug in pmo while deciding one row; its message says so and asks for a report",
    "follow_on": "never shown: DiagnosticSink drops it (an error caused by one already reported)",
}
# Constructors whose codes are not in this catalogue, and why.
OTHER_CATALOGUE = {
    "ApiError": "the HTTP answers of `pmo serve` (a status and a code in a JSON body, for applications): "
                "docs/deploy.md lists them by status",
}


def _code_params() -> dict[str, dict[str, set[tuple[int | None, frozenset[str]]]]]:
    """file -> name -> the (position, default codes) of each function, method or class of that name in the file
    that takes a parameter (or has a dataclass or model field) named ``code``; "" has those of every file."""
    found: dict[str, dict[str, set[tuple[int | None, frozenset[str]]]]] = {"": {}}
    for source in sorted((ROOT / "engine").rglob("*.py")):
        mine = found.setdefault(str(source), {})
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            name, params = getattr(node, "name", ""), None
            if isinstance(node, ast.ClassDef):
                init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
                fields = [n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
                if init is not None:
                    params = init.args
                elif "code" in fields:  # a dataclass or a pydantic model
                    mine.setdefault(name, set()).add((fields.index("code"), frozenset()))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and name != "__init__":
                params = node.args
            if params is None:
                continue
            args = [a.arg for a in params.posonlyargs + params.args]
            if "code" not in args + [a.arg for a in params.kwonlyargs]:
                continue
            defaults = dict(zip(args[len(args) - len(params.defaults):], params.defaults))
            defaults |= {a.arg: d for a, d in zip(params.kwonlyargs, params.kw_defaults) if d is not None}
            position = args.index("code") if "code" in args else None
            if position is not None and args and args[0] in ("self", "cls"):
                position -= 1
            mine.setdefault(name, set()).add((position, frozenset(_given(defaults.get("code"), {}))))
        for name, entries in mine.items():
            found[""].setdefault(name, set()).update(entries)
    return found


def _given(node, assigned: dict[str, list]) -> set[str]:
    """The codes an argument can be: a literal, either branch of a conditional, an operand of or, a local name's
    assigned values."""
    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) and WORD.match(node.value) else set()
    if isinstance(node, ast.IfExp):
        return _given(node.body, assigned) | _given(node.orelse, assigned)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_given(v, assigned) for v in node.values))
    if isinstance(node, ast.Name):
        return set().union(*(_given(v, {}) for v in assigned.get(node.id, [])))
    return set()


def _class_codes(node) -> list[tuple[str, int]]:
    if not isinstance(node, ast.ClassDef):
        return []
    return [(code, n.lineno) for n in node.body if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "code" for t in n.targets) for code in _given(n.value, {})]


def _problem_triples(node) -> list[tuple[str, int]]:
    """(column, "code", message) returned, or appended to a list of problems."""
    if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
        triples = [node.value]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append":
        triples = [a for a in node.args if isinstance(a, ast.Tuple)]
    else:
        return []
    return [(code, t.lineno) for t in triples if len(t.elts) == 3 and _message(t.elts[2])
            for code in _given(t.elts[1], {})]


def _message(node) -> bool:
    """Text for people: an f-string, or text with a space (not a name), or such text joined."""
    if isinstance(node, ast.BinOp):
        return _message(node.left) or _message(node.right)
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str) \
        and " " in node.value


def codes_in_the_engine() -> dict[str, str]:
    """code -> where it is first given, for every call in engine/ to something that takes a ``code`` (Diagnostic,
    a sink's add, PmoError's subclasses, SheetError, CellError, ExprError, RowError, ...), the code given as a
    literal, a conditional of literals, or a local name assigned literals; the ``code`` parameters' defaults; a
    class's ``code = "..."`` (ValueProblem's kinds); and the problem triples (column, code, message) that are
    returned or appended, which RecordError and the panel's and status reports' readers turn into row errors."""
    params = _code_params()
    codes: dict[str, str] = {}
    for source in sorted((ROOT / "engine").rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        where = source.relative_to(ROOT)
        for name, entries in params[str(source)].items():
            for _, defaults in entries:
                for code in defaults:
                    codes.setdefault(code, f"{where} ({name}'s default)")
        for node in ast.walk(tree):
            for code, line in _class_codes(node) + _problem_triples(node):
                codes.setdefault(code, f"{where}:{line}")
        for scope in ast.walk(tree):
            if not isinstance(scope, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            assigned: dict[str, list] = {}
            for node in ast.walk(scope):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        for name in ast.walk(target):
                            if isinstance(name, ast.Name):
                                assigned.setdefault(name.id, []).append(node.value)
            for call in ast.walk(scope):
                if not isinstance(call, ast.Call):
                    continue
                func = call.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                on_self = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self"
                entries = params[str(source)].get(name) or (set() if on_self else params[""].get(name, set()))
                if name in OTHER_CATALOGUE:
                    continue
                found: set[str] = set()
                for position, _ in entries:
                    given = next((k.value for k in call.keywords if k.arg == "code"), None)
                    if given is None and position is not None and len(call.args) > position + 1 \
                            and not any(isinstance(a, ast.Starred) for a in call.args[:position + 2]):
                        given = call.args[position]  # the code, then at least its message
                    found |= _given(given, assigned)
                for code in found:
                    codes.setdefault(code, f"{where}:{call.lineno}")
    return codes


def _generator():
    spec = importlib.util.spec_from_file_location("errors_doc", ROOT / "docs" / "errors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_catalogue_names_each_code_once():
    """YAML keeps the last of two equal keys: a second entry for a code would silently replace the first."""
    text = (ROOT / "docs" / "errors.yaml").read_text(encoding="utf-8")
    keys = re.findall(r"^([a-z_]+):", text, re.M)
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []


def test_every_code_the_engine_gives_has_an_entry():
    codes = codes_in_the_engine()
    catalogued = set(yaml.safe_load((ROOT / "docs" / "errors.yaml").read_text(encoding="utf-8")))
    assert len(codes) > 150
    assert {"hidden_cells", "table_gap", "unknown_step", "bad_csv", "usage", "log_unusable",  # SheetError, ..., LogError
            "out_of_range", "missing_value", "unknown_criterion"} <= set(codes)  # a class's code, problem triples
    assert set(NOT_CATALOGUED) <= set(codes), "an exclusion for a code the engine no longer gives"
    missing = {code: where for code, where in codes.items() if code not in catalogued and code not in NOT_CATALOGUED}
    assert missing == {}
    assert sorted(catalogued - set(codes)) == [], "an entry for a code the engine no longer gives"


def test_every_entry_has_a_real_example_or_says_why_not():
    entries = yaml.safe_load((ROOT / "docs" / "errors.yaml").read_text(encoding="utf-8"))
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for code, entry in entries.items():
        assert entry["meaning"] and entry["fix"], code
        if not entry.get("no_example"):
            assert re.search(rf"^(\S+: )*(error|warning)\[{code}\]: ", text, re.M) \
                or re.search(rf'^"errors": \[{{"row": .*"code": "{code}"', text, re.M), code  # the run's own line (the error limit: no file), or a row's error
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
