"""The architecture kept true (issue #15): the import contracts of pyproject.toml hold, and the engine leaves the
process as it found it (no process-wide setting changed by importing it, no test switch read from the environment)."""
import ast
import pathlib
import shutil
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """\
import csv, sys
before = csv.field_size_limit()
import engine, engine.api, engine.io.readers, engine.io.csvrows, engine.tables.sheet, engine.refdata.build
after_import = csv.field_size_limit()
from engine.io.readers import read_proposals
rows = read_proposals(sys.argv[1])
first = next(iter(rows))  # a generator suspended between rows: the caller's limit is back meanwhile
between_rows = csv.field_size_limit()
rest = list(rows)
rows.close()
print(before, after_import, between_rows, csv.field_size_limit(), len(first.data["title"]), len(rest))
"""


def test_importing_and_reading_leave_the_csv_field_limit_as_it_was(tmp_path):
    big = "x" * 500_000  # over the csv module's default limit (131,072), under the engine's MAX_CELL
    path = tmp_path / "p.csv"
    path.write_text(f"id,title\nP1,{big}\nP2,short\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    before, after_import, between_rows, after, title, rest = map(int, done.stdout.split())
    assert before == after_import == between_rows == after == 131_072
    assert title == 500_000 and rest == 1  # the engine's own limit applied while it read


def _environment_reads(source: str) -> list[str]:
    """The names read with os.environ.get / os.environ[...] / os.getenv in a module (constant names only)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                and isinstance(node.args[0], ast.Constant) and ast.unparse(node.func) in ("os.environ.get", "os.getenv"):
            names.append(node.args[0].value)
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" \
                and isinstance(node.slice, ast.Constant):
            names.append(node.slice.value)
    return names


def test_production_code_reads_no_fault_injection_variables():
    """Crash tests set engine.tasks.batch.FAULT (handed to each worker); no module reads a test switch."""
    found = {str(path.relative_to(ROOT)): [n for n in _environment_reads(path.read_text(encoding="utf-8"))
                                           if "FAULT" in n or n.startswith("PMO_TEST")]
             for path in (ROOT / "engine").rglob("*.py")}
    assert {path: names for path, names in found.items() if names} == {}
    batch = (ROOT / "engine" / "tasks" / "batch.py").read_text(encoding="utf-8")
    assert "os.environ" not in batch and "getenv" not in batch


def test_the_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is in the test extra: pip install -e '.[test]'"
    done = subprocess.run([lint, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
