"""Load a policy set: a directory of YAML files, plus the rule libraries it includes.

Loading never stops at the first problem: every file is read and validated, and each
problem becomes a :class:`Diagnostic` with ``file:line:col``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from engine.errors import DiagnosticSink, Location, did_you_mean, display_path
from engine.policy.models import (
    KINDS,
    AssurancesPolicy,
    GatesPolicy,
    HealthPolicy,
    IntakePolicy,
    KpisPolicy,
    Library,
    LookupPolicy,
    Node,
    PortfolioPolicy,
    ScoringPolicy,
    StrategyPolicy,
    TablesPolicy,
    bind_sources,
)
from engine.policy.source import Document, SourceMap, load_document


@dataclass
class LoadedFile:
    display: str  # how diagnostics name the file: the path from the working directory, to open it
    name: str  # how findings name it: folder/file, e.g. "policies/intake.yaml", the same on every machine
    document: Document
    model: Node


@dataclass(frozen=True)
class DataFile:
    """A file of reference data a lookup table names (csv: vendors.csv), read here so the policy hash covers it."""

    display: str
    name: str  # folder/file, as LoadedFile.name
    text: bytes


@dataclass
class PolicySet:
    root: Path
    intake: IntakePolicy | None = None
    strategy: StrategyPolicy | None = None
    scoring: ScoringPolicy | None = None  # the default model: the one without 'when' (or the only one)
    scorings: list[ScoringPolicy] = field(default_factory=list)  # every scoring model, in file order
    portfolio: PortfolioPolicy | None = None
    gates: GatesPolicy | None = None
    health: HealthPolicy | None = None
    kpis: KpisPolicy | None = None  # the PMO's KPIs (engine/compile/kpis.py)
    libraries: dict[str, Library] = field(default_factory=dict)
    assurances: list[AssurancesPolicy] = field(default_factory=list)  # properties pmo validate proves
    tables: list[TablesPolicy] = field(default_factory=list)  # decision tables in spreadsheets (engine/tables/)
    sheets: dict[str, bytes] = field(default_factory=dict)  # the spreadsheets tables were read from: name -> bytes
    files: list[LoadedFile] = field(default_factory=list)
    library_files: dict[str, LoadedFile] = field(default_factory=dict)  # library name -> file
    unusable_kinds: set[str] = field(default_factory=set)  # kinds of files refused with errors (no follow-ons)
    lookups: list[LookupPolicy] = field(default_factory=list)  # reference data tables (kind: lookup)
    data_files: dict[str, DataFile] = field(default_factory=dict)  # lookup table name -> its CSV file
    unusable_lookups: set[str] = field(default_factory=set)  # names of lookup files refused with errors

    def stable_name(self, display: str) -> str:
        """The machine-independent name of a loaded file, from its display path."""
        for f in self.files + list(self.library_files.values()):
            if f.display == display:
                return f.name
        return display

    def hash(self, used_libraries: Iterable[str], folder: str | None = None) -> str:
        """The policy version: a digest of every policy file and every library file it uses, by name
        (folder/file). ``folder``: the digest of these files in a folder of that name instead (an import checks
        them in a staging folder, then moves them)."""
        digest = hashlib.sha256()
        chosen = list(self.files) + [self.library_files[n] for n in sorted(used_libraries) if n in self.library_files]
        texts = [(f.name, f.document.text) for f in chosen] + [(d.name, d.text) for d in self.data_files.values()]
        here = f"{self.root.name}/"

        def named(name: str) -> str:
            return f"{folder}/{name[len(here):]}" if folder is not None and name.startswith(here) else name
        for name, text in sorted((named(n), t) for n, t in texts):
            digest.update(name.encode() + b"\0" + text + b"\0")
        for name, content in sorted((named(n), c) for n, c in self.sheets.items()):  # a changed workbook is a changed policy
            digest.update(name.encode() + b"\0" + content + b"\0")
        return digest.hexdigest()[:16]


def yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_policy_set(root: Path, library_dirs: list[Path], sink: DiagnosticSink) -> PolicySet:
    """The policy files of ``root`` and the libraries they can include. ``library_dirs``: the --rules
    folders, then the built-in library last (a rules/ folder beside ``root`` is searched between them)."""
    policy_set = PolicySet(root)
    if not root.is_dir():
        sink.add("no_policies", f"'{root}' is not a directory of policy files", Location(str(root)))
        return policy_set
    files = yaml_files(root)
    if not files:
        sink.add("no_policies", "no .yaml policy files here", Location(str(root)),
                 "a policy set needs at least an intake policy (kind: intake)")
    unusable = 0
    for path in files:
        loaded = _load_file(path, display_path(path), f"{root.name}/{path.name}", sink, policy_set.unusable_kinds,
                            policy_set.unusable_lookups)
        if loaded is None:
            unusable += 1
            continue
        policy_set.files.append(loaded)
        model = loaded.model
        if isinstance(model, IntakePolicy):
            if policy_set.intake is not None:
                sink.add("duplicate_policy", "a policy set has one intake policy; this is a second", model.loc("kind"),
                         f"merge it with {policy_set.intake.loc().file}")
            else:
                policy_set.intake = model
        elif isinstance(model, ScoringPolicy):
            _add_scoring(policy_set, model, path, sink)
        elif isinstance(model, (StrategyPolicy, PortfolioPolicy, GatesPolicy, HealthPolicy, KpisPolicy)):
            slot = {StrategyPolicy: "strategy", PortfolioPolicy: "portfolio", GatesPolicy: "gates",
                    HealthPolicy: "health", KpisPolicy: "kpis"}[type(model)]
            if getattr(policy_set, slot) is not None:
                sink.add("duplicate_policy", f"a policy set has one {slot} policy; this is a second", model.loc("kind"))
            else:
                setattr(policy_set, slot, model)
        elif isinstance(model, Library):
            _add_library(policy_set, loaded, sink)
        elif isinstance(model, LookupPolicy):
            _add_lookup(policy_set, model, sink)
        elif isinstance(model, TablesPolicy):
            policy_set.tables.append(model)
        elif isinstance(model, AssurancesPolicy):
            policy_set.assurances.append(model)
    if files and policy_set.intake is None and not unusable:
        sink.add("no_intake", "no intake policy in this folder", Location(str(root)),
                 "add a file with 'kind: intake'")
    # Libraries: the policy set's own rules/ folder, then extra folders, then a rules/ folder beside the policy
    # folder (the layout of this repository: policies/ and rules/ side by side), then the built-in library.
    own, beside = root / "rules", root.parent / "rules"
    folders = [own] + list(library_dirs[:-1]) + [beside] + list(library_dirs[-1:])
    seen: set[Path] = set()
    for folder in folders:
        if not folder.is_dir() or folder.resolve() in seen:
            continue
        seen.add(folder.resolve())
        for path in yaml_files(folder):
            if folder == beside and not _looks_like_library(path):
                continue  # a folder that happens to be called rules/ next to the policies: not ours
            loaded = _load_file(path, display_path(path), f"{folder.name}/{path.name}", sink)
            if loaded is None:
                continue
            if not isinstance(loaded.model, Library):
                sink.add("not_a_library", f"files in {folder.name}/ must be 'kind: library'", loaded.model.loc("kind"))
                continue
            _add_library(policy_set, loaded, sink, shadow_ok=folder != own)
    return policy_set


def _add_lookup(policy_set: PolicySet, table: LookupPolicy, sink: DiagnosticSink) -> None:
    other = next((t for t in policy_set.lookups if t.name == table.name), None)
    if other is not None:
        sink.add("duplicate_lookup", f"lookup table '{table.name}' is also defined at {other.loc('name')}",
                 table.loc("name"), "give each table its own name")
        return
    policy_set.lookups.append(table)  # known by name even when its file is missing (no follow-on errors)
    if table.csv is not None:
        path = policy_set.root / table.csv
        if Path(table.csv).name != table.csv or path.suffix.lower() != ".csv":
            sink.add("bad_value", f"csv: '{table.csv}' must name a .csv file in the policy folder", table.loc("csv"),
                     "keep reference data beside the policy files, e.g. csv: vendors.csv")
            return
        outside = leads_outside(path, policy_set.root)
        if outside is not None or not path.is_file():
            near = did_you_mean(table.csv, [p.name for p in policy_set.root.glob("*.csv")])
            sink.add("no_file", f"no file '{table.csv}' beside the policy files" if outside is None
                     else f"'{table.csv}' is a symbolic link leading out of the policy folder (to {outside})",
                     table.loc("csv"), near or "copy the CSV file into the policy folder")
            return
        policy_set.data_files[table.name] = DataFile(display_path(path), f"{policy_set.root.name}/{path.name}", path.read_bytes())


def _looks_like_library(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return b"kind: library" in f.read(4096)
    except OSError:
        return False


def scoring_id(model: ScoringPolicy) -> str:
    """A scoring model's id: its own ``id``, else its file's name without the extension."""
    return model.id or Path(model.loc().file).stem


def _add_scoring(policy_set: PolicySet, model: ScoringPolicy, path: Path, sink: DiagnosticSink) -> None:
    """A policy set may have several scoring models, each saying with 'when' which proposals it scores; at most
    one has no 'when' (it scores the rest). ``policy_set.scoring`` is that one, else the first."""
    same = next((m for m in policy_set.scorings if scoring_id(m) == scoring_id(model)), None)
    if same is not None:
        sink.add("duplicate_scoring_model", f"a second scoring model with the id '{scoring_id(model)}' (the first: "
                 f"{same.loc('kind').file})", model.loc("id") if model.id else model.loc("kind"),
                 "give each scoring model its own 'id:'")
        return
    default = next((m for m in policy_set.scorings if m.when is None), None)
    if model.when is None and default is not None:
        sink.add("duplicate_policy", f"a policy set has one scoring model without 'when'; this is a second (the first: "
                 f"{default.loc('kind').file})", model.loc("kind"),
                 "say with 'when:' which proposals each model scores, e.g. when: category == \"compliance\"")
        return
    policy_set.scorings.append(model)
    policy_set.scoring = next((m for m in policy_set.scorings if m.when is None), policy_set.scorings[0])


def _add_library(policy_set: PolicySet, loaded: LoadedFile, sink: DiagnosticSink, shadow_ok: bool = False) -> None:
    library = loaded.model
    assert isinstance(library, Library)
    if library.name in policy_set.libraries:
        if not shadow_ok:  # a later folder in the search path may not silently replace an earlier one
            other = policy_set.library_files[library.name].display
            sink.add("duplicate_library", f"library '{library.name}' is also defined in {other}", library.loc("name"))
        return
    policy_set.libraries[library.name] = library
    policy_set.library_files[library.name] = loaded




def leads_outside(path: Path, folder: Path) -> Path | None:
    """Where a symbolic link ``path`` leads when that is not a file inside ``folder`` (its links followed); None
    for a plain file, or a link that stays inside. The folder is the policy (what is reviewed is what decides),
    so a link out of it is refused: it could point anywhere, and the file could change with nobody looking at the
    folder. A link inside reads one of the folder's own files, as a Kubernetes ConfigMap mount makes them (each
    file a link into ..data/, itself a link to a timestamped folder beside it)."""
    if not path.is_symlink():
        return None
    target = path.resolve()
    return None if target.is_relative_to(folder.resolve()) and target.is_file() else target


def _load_file(path: Path, display: str, name: str, sink: DiagnosticSink,
               unusable_kinds: set[str] | None = None, unusable_lookups: set[str] | None = None) -> LoadedFile | None:
    target = leads_outside(path, path.parent)
    if target is not None:
        sink.add("symlink", f"policy files may not be symbolic links leading out of their folder (this one leads to "
                 f"{target})", Location(display),
                 "copy the file into the policy folder; a link could point anywhere (links to files inside the "
                 "folder, as a Kubernetes ConfigMap mount makes them, are read)")
        return None
    document = load_document(path, display, sink)
    if document is None:
        return None
    data = document.data
    if not isinstance(data, dict):
        sink.add("schema", "a policy file is a mapping of keys to values", document.source.value(()),
                 "start the file with 'kind: intake' (or strategy, library)")
        return None
    kind = data.get("kind")
    model_type = KINDS.get(kind) if isinstance(kind, str) else None
    if model_type is None:
        where = document.source.value(("kind",)) if "kind" in data else Location(display, 1, 1)
        hint = (did_you_mean(kind, KINDS) if isinstance(kind, str) else None) or f"one of: {', '.join(KINDS)}"
        sink.add("unknown_kind", f"unknown policy kind {kind!r}" if "kind" in data else "missing key 'kind'", where, hint)
        return None
    model, kept = _validate(model_type, data, document.source, sink)
    if model is None:
        if unusable_kinds is not None and isinstance(kind, str):  # it is: KINDS has it
            unusable_kinds.add(kind)
        if unusable_lookups is not None and kind == "lookup" and isinstance(data.get("name"), str):
            unusable_lookups.add(data["name"])  # still a name the policy declares: no follow-on "not a field"
        return None
    bind_sources(model, document.source)
    model._set_aside = _set_aside(data, kept)
    for key, indexes in kept.items():  # pruned lists: items keep the positions they had in the file
        for item, index in zip(getattr(model, _attribute(model_type, key)), indexes):
            bind_sources(item, document.source, (key, index))
    return LoadedFile(display, name, document, model)


# Of each list (or mapping) that lost items set aside: the positions (or keys) of the items kept.
Kept = dict[str, list[int | str]]


def _validate(model_type: type[Node], data: dict[str, Any], source: SourceMap,
              sink: DiagnosticSink) -> tuple[Node | None, Kept]:
    """Validate; on errors inside one rule (or field, or include), report them, set that item
    aside and validate the rest, so one bad rule does not hide the problems of the others."""
    kept: Kept = {}
    for _attempt in range(2):
        try:
            return model_type.model_validate(data), kept
        except ValidationError as exc:
            errors = exc.errors()
        if _attempt:  # a list emptied by setting its bad items aside: those items' errors said it already
            errors = [e for e in errors if not (e["type"] == "too_short" and e["loc"][:1] and e["loc"][0] in kept)]
            if not errors:
                return None, kept
        _report_all(errors, model_type, source, sink)
        bad: set[tuple[int | str, ...]] = {tuple(e["loc"][:2]) for e in errors}
        if any(len(b) < 2 or b[0] == "kind" for b in bad) or _attempt:
            return None, kept
        data = dict(data)
        for key in {b[0] for b in bad if isinstance(b[0], str)}:  # a document's keys: all text
            value = data.get(key)
            if isinstance(value, list):
                indexes = kept.get(key, list(range(len(value))))
                keep = [j for j in range(len(value)) if (key, j) not in bad]
                data[key] = [value[j] for j in keep]
                kept[key] = [indexes[j] for j in keep]
            elif isinstance(value, dict):
                data[key] = {k: v for k, v in value.items() if (key, k) not in bad}
                kept[key] = list(data[key])
    return None, kept


def _set_aside(data: dict[str, Any], kept: Kept) -> dict[str, dict[int | str, Any]]:
    """The items validation set aside (already reported), by key: list index or mapping key -> raw value, so
    later stages still know a broken field's or criterion's name and report no follow-on errors about it."""
    out: dict[str, dict[int | str, Any]] = {}
    dropped: dict[int | str, Any]
    for key, value in data.items():
        if isinstance(value, list) and key in kept:
            dropped = {i: value[i] for i in range(len(value)) if i not in set(kept[key])}
        elif isinstance(value, dict) and key in kept:
            dropped = {k: v for k, v in value.items() if k not in kept[key]}
        else:
            continue
        if dropped:
            out[key] = dropped
    return out


def _attribute(model_type: type[Node], key: str) -> str:
    return next((n for n, f in model_type.model_fields.items() if (f.alias or n) == key), key)


def _report_all(errors: list[ErrorDetails], model_type: type[Node], source: SourceMap, sink: DiagnosticSink) -> None:
    # "whne: ..." is one mistake: report the unknown key with its hint, not also the missing 'when'.
    misspelt = {(tuple(e["loc"][:-1]), hint) for e in errors if e["type"] == "extra_forbidden"
                for hint in get_close_matches(str(e["loc"][-1]), _allowed_keys(model_type, tuple(e["loc"][:-1])), 1)}
    for error in errors:
        if error["type"] == "missing" and (tuple(error["loc"][:-1]), error["loc"][-1]) in misspelt:
            continue
        _report(error, model_type, source, sink)


def _report(error: ErrorDetails, model_type: type[Node], source: SourceMap, sink: DiagnosticSink) -> None:
    path = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = error["type"]
    name = ".".join(str(p) for p in path) or "document"
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_keys(model_type, path[:-1])
        sink.add("unknown_key", f"unknown key '{key}'", source.key(path),
                 did_you_mean(key, allowed) or (f"allowed: {', '.join(allowed)}" if allowed else None))
    elif kind == "missing":
        sink.add("missing_key", f"missing required key '{path[-1]}'", source.value(path[:-1]))
    elif kind in ("literal_error", "enum"):
        expected = str(error.get("ctx", {}).get("expected", ""))
        options = [o.strip(" '") for o in expected.replace(" or ", ",").split(",") if o.strip(" '")]
        got = error.get("input")
        hint = did_you_mean(str(got), options) if isinstance(got, str) else None
        sink.add("bad_value", f"{name}: {got!r} is not allowed; expected {expected}", source.value(path), hint)
    elif kind == "string_type" and isinstance(error.get("input"), (bool, int, float, Decimal, dt.date)):
        got = error["input"]
        shown = str(got).lower() if isinstance(got, bool) else str(got)
        where = source.value(path)
        written = _written(where) or shown  # NO, not false: the text to quote is the one in the file
        sink.add("schema", f"{name}: expected text, but YAML read {written} as a {type(got).__name__}"
                 + (f" ({shown})" if written != shown else ""), where, f"put it in quotes: '{written}'")
    else:
        message = error["msg"].replace("Value error, ", "")
        got = error.get("input")
        hint = (f"write decimals with a point: {got.replace(',', '.')}"
                if isinstance(got, str) and re.fullmatch(r"-?\d+,\d+", got.strip()) else None)
        sink.add("schema", f"{name}: {message}", source.value(path), hint)


def _written(where: Location) -> str | None:
    """The plain scalar as written at ``where`` (up to a ',', ']', '}', ' #' or the line's end), or None."""
    try:
        line = Path(where.file).read_text(encoding="utf-8").splitlines()[where.line - 1]
    except (OSError, ValueError, IndexError):
        return None
    found = re.match(r"[^,\]}\n]*?(?=\s+#|\s*[,\]}]|\s*$)", line[where.column - 1:]) if where.column else None
    return found[0].strip() or None if found else None


def _allowed_keys(model_type: Any, path: tuple[int | str, ...]) -> list[str]:
    """The keys a model accepts at ``path``, for "did you mean" hints."""
    current: Any = model_type
    for part in path:
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, Node) and isinstance(part, str):
            info = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.alias == part), None)
            if info is None:
                return []
            current = info.annotation
        elif origin in (list, dict):
            current = typing.get_args(current)[-1]
        else:
            return []
        while typing.get_origin(current) in (typing.Union, types.UnionType):
            current = next(a for a in typing.get_args(current) if a is not type(None))
    if isinstance(current, type) and issubclass(current, Node):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []
