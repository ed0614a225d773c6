"""Policy diagnostics as SARIF 2.1.0, the format code scanning reads (GitHub shows each result inline, on the
line of the pull request that caused it).

One run, one tool (``pmo``), one reporting rule per diagnostic code, one result per diagnostic. A location is
an artifact URI relative to the folder the command ran in (``%SRCROOT%``), with forward slashes, plus a region
when the diagnostic has a line (a line of 0 means the whole file: no region). The hint, which is the fix, goes
into the message after the problem, as the terminal shows it.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from engine.errors import Diagnostic

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def to_sarif(diagnostics: Iterable[Diagnostic], version: str, root: Path | None = None) -> dict[str, Any]:
    """``root``: the folder URIs are relative to (the working directory by default)."""
    base = (root or Path.cwd()).resolve()
    diagnostics = list(diagnostics)
    codes = sorted({d.code for d in diagnostics})
    index = {code: k for k, code in enumerate(codes)}
    rules = [{"id": code, "name": _rule_name(code), "shortDescription": {"text": code.replace("_", " ")},
              "help": {"text": f"see the error catalogue in docs/authoring.md ({code})"}} for code in codes]
    results = [_result(d, index[d.code], base) for d in diagnostics]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pmo", "semanticVersion": version, "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": base.as_uri() + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def _rule_name(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))  # SARIF names are PascalCase identifiers


def _result(d: Diagnostic, rule_index: int, base: Path) -> dict[str, Any]:
    text = f"{d.message}; {d.hint}" if d.hint else d.message
    result: dict[str, Any] = {"ruleId": d.code, "ruleIndex": rule_index,
                              "level": "error" if d.severity == "error" else "warning", "message": {"text": text}}
    if d.location is not None and d.location.file and not d.location.file.startswith("<"):
        uri = _uri(d.location.file, base)
        artifact = {"uri": uri} if uri.startswith("file:") else {"uri": uri, "uriBaseId": "%SRCROOT%"}
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if d.location.line:
            region = {"startLine": d.location.line}
            if d.location.column:
                region["startColumn"] = d.location.column
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
    return result


def _uri(file: str, base: Path) -> str:
    """A relative URI for a file as diagnostics name it (relative to the working directory, or absolute);
    a file outside ``base`` keeps its absolute path as a file: URI."""
    path = Path(file)
    absolute = (path if path.is_absolute() else Path.cwd() / path).resolve()
    try:
        relative = absolute.relative_to(base)
    except ValueError:
        return absolute.as_uri()
    return quote(relative.as_posix(), safe="/")
