"""Rule coverage: which intake rules, scoring bands, scoring table rows and gate criteria a set of proposals (or
scenarios) exercised.

A target is covered when a test makes it happen at least once:

    rule   an intake rule fired (a finding names it; an intake decision table's row is a rule)
    band   a proposal that passed intake, and so was scored, fell in the band's range
    table  a proposal that passed intake was scored by the row of a scoring decision table (one of the rows the
           table's hit policy picks from those that match)
    gate   a gate's must-meet or should-meet criterion was met

Hits are counted from what the engine reports anyway (``Decision.findings``, ``GateDecision.must_meet``), so
deciding is not slowed down; only bands and table rows need the typed records, and only while coverage is
recorded.
Decisions made under another policy version (another ``policy_hash``) are counted apart, never mixed in.

    targets = coverage_targets(engine)
    hits = Hits(targets)
    hits.proposals(engine, rows)        # or hits.decision(d), hits.gate(g) one at a time
    report = hits.report()              # .uncovered, .percent, .to_json()
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.decision import Decision
from engine.errors import Location, display_path
from engine.expr.check import check
from engine.expr.evaluate import evaluate
from engine.expr.nodes import Node
from engine.expr.parse import ExprError, parse
from engine.gates.review import GateDecision
from engine.policy.loader import scoring_id
from engine.policy.models import BandRange
from engine.policy.resources import reference_policies
from engine.scoring.ranking import model_for

if TYPE_CHECKING:
    from engine.compile.policy import CompiledPolicy
    from engine.compile.scoring import ScoringModel


class Loaded(Protocol):
    """An engine.api.Engine, as coverage reads it (authoring sits below the api)."""

    @property
    def policy(self) -> CompiledPolicy: ...

    @property
    def policy_hash(self) -> str: ...

    def decide_all(self, proposals: Iterable[Any]) -> Iterator[tuple[Decision, Mapping[str, Any] | None]]: ...

KINDS = ("rule", "band", "table", "gate")
KIND_NAMES = {"rule": "intake rules", "band": "scoring bands", "table": "scoring tables", "gate": "gate criteria"}
NEVER = {"rule": "never fired", "band": "no proposal fell in", "table": "no proposal was scored by",
         "gate": "never met"}


@dataclass(frozen=True)
class Target:
    kind: str  # rule, band, table or gate
    key: str  # what a hit names: the rule id, "criterion#2" for a band, "gate/criterion"
    label: str  # how a report names it
    where: str  # file:line

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.key, "label": self.label, "where": self.where}


@dataclass
class _Band:
    criterion: str
    of: Node  # the typed expression the bands read
    ranges: list[tuple[Decimal | None, Decimal | None]]  # (from, below), in the order written
    model: str | None = None  # with several scoring models: the one whose criterion this is

    @property
    def key(self) -> str:
        return f"{self.model}/{self.criterion}" if self.model else self.criterion

    def index(self, record: Mapping[str, Any]) -> int | None:
        value = evaluate(self.of, record)
        if value is None:
            return None
        for i, (low, below) in enumerate(self.ranges):
            if (low is None or value >= low) and (below is None or value < below):
                return i
        return None


@dataclass
class _Table:
    """A scoring decision table a scoring model's criterion reads (``table: NAME``)."""

    table: Any  # engine.tables.build.CompiledTable
    model: str | None = None  # with several scoring models: the one whose criterion reads it

    def key(self, row: Any) -> str:
        return f"{self.model}/{self.table.name}:{row.number}" if self.model else f"{self.table.name}:{row.number}"

    def chosen(self, record: Mapping[str, Any]) -> list[int]:
        """The rows that score this record: those the hit policy picks from the rows that match (none when rows
        the hit policy forbids to match together do: the ranking makes that record an error row)."""
        from engine.tables.hits import Overlap, choose
        try:
            return list(choose(self.table.whole, self.table.matches(record)))
        except Overlap:
            return []


@dataclass
class Targets:
    """What a policy set offers to cover, and how to tell which band a record falls in."""

    policy_hash: str
    items: list[Target]
    bands: list[_Band] = field(default_factory=list)
    models: tuple[ScoringModel, ...] = ()  # the compiled scoring models, when there are several
    tables: list[_Table] = field(default_factory=list)

    def only(self, kinds: Iterable[str]) -> Targets:
        wanted = set(kinds)
        return Targets(self.policy_hash, [t for t in self.items if t.kind in wanted],
                       self.bands if "band" in wanted else [], self.models,
                       self.tables if "table" in wanted else [])


def coverage_targets(engine: Loaded) -> Targets:
    """Every intake rule, scoring band and gate criterion of the engine's policy set, with its file:line
    (the bands' positions come from the scoring policy as loaded)."""
    policy = engine.policy
    items = [Target("rule", r.id, r.id, r.where) for r in policy.rules  # as findings name them
             if r.effect != "none"]  # a table's row without an outcome is never a finding
    bands: list[_Band] = []
    policy_set = policy.source
    models = policy_set.scorings if policy_set is not None and policy.scoring is not None else []
    scoring_tables = {t.name: t for t in policy.tables if t.applies_to == "scoring"}
    tables: list[_Table] = []
    for model in models:
        assert policy_set is not None  # the models are its scorings
        model_id = scoring_id(model) if len(models) > 1 else None
        for criterion in model.criteria:
            table = scoring_tables.get(criterion.table) if criterion.table is not None else None
            if table is not None:
                read = _Table(table, model_id)
                tables.append(read)
                items += [Target("table", read.key(row), _row_label(read, row), row.label) for row in table.rows]
            if criterion.bands is None:
                continue
            try:
                node = check(parse(criterion.bands.of), policy.field_types, policy.today)
            except ExprError:  # already refused when the engine loaded; nothing to cover
                continue
            band = _Band(criterion.id, node, [(r.from_, r.below) for r in criterion.bands.ranges], model_id)
            bands.append(band)
            items += [Target("band", f"{band.key}#{i}", f"{band.key}: {_span(r)}",
                             _line(r.loc(), policy_set.stable_name)) for i, r in enumerate(criterion.bands.ranges)]
    if policy.gates is not None:
        for gate in policy.gates.gates.values():
            items += [Target("gate", f"{gate.id}/{c.id}", f"{gate.id}/{c.id} ({what})", c.source)
                      for what, criteria in (("must-meet", gate.must), ("should-meet", gate.should))
                      for c in criteria]
    return Targets(policy.policy_hash, items, bands, policy.scoring_models if len(models) > 1 else (), tables)


def _row_label(table: _Table, row: Any) -> str:
    points = "" if row.points is None else f" ({row.points:,} points)"
    return f"{table.model + '/' if table.model else ''}{table.table.name} row {row.number}{points}"


def _line(location: Location, name: Callable[[str], str] = lambda file: file) -> str:
    return f"{name(location.file)}:{location.line}"


def _span(r: BandRange) -> str:
    if r.from_ is None:
        return f"below {r.below:,}"
    return f"from {r.from_:,}" + (f" below {r.below:,}" if r.below is not None else "")


@dataclass
class Coverage:
    """Which targets were exercised, how often, and the share covered."""

    policy_hash: str
    targets: list[Target]
    counts: Counter[tuple[str, str]]  # (kind, key) -> hits
    decisions: int  # decisions counted (intake and gate)
    foreign: int  # decisions made under another policy version, not counted
    policies: str | None = None  # the policy folder, as the user names it (pmo test: one report per version)

    @property
    def uncovered(self) -> list[Target]:
        return [t for t in self.targets if not self.counts[(t.kind, t.key)]]

    @property
    def percent(self) -> float:
        if not self.targets:
            return 100.0
        return 100.0 * (len(self.targets) - len(self.uncovered)) / len(self.targets)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """kind -> (covered, total), for the kinds the policy set has."""
        out = {}
        for kind in KINDS:
            of_kind = [t for t in self.targets if t.kind == kind]
            if of_kind:
                out[kind] = (sum(1 for t in of_kind if self.counts[(t.kind, t.key)]), len(of_kind))
        return out

    def to_json(self) -> dict[str, Any]:
        named = {"policies": self.policies} if self.policies is not None else {}
        return {**named, "policy_hash": self.policy_hash, "percent": round(self.percent, 2),
                "covered": len(self.targets) - len(self.uncovered), "total": len(self.targets),
                "decisions": self.decisions, "other_policy_decisions": self.foreign,
                "by_kind": {k: {"covered": c, "total": n} for k, (c, n) in self.by_kind().items()},
                "uncovered": [t.to_json() for t in self.uncovered],
                "targets": [dict(t.to_json(), hits=self.counts[(t.kind, t.key)]) for t in self.targets]}


class Hits:
    """Counts what decisions exercised. Feed it decisions as they come; ask for the ``report()``."""

    def __init__(self, targets: Targets):
        self.targets = targets
        self.counts: Counter[tuple[str, str]] = Counter()
        self.decisions = 0
        self.foreign = 0

    def _ours(self, policy_hash: str) -> bool:
        if policy_hash != self.targets.policy_hash:
            self.foreign += 1
            return False
        self.decisions += 1
        return True

    def decision(self, decision: Decision, record: Mapping[str, Any] | None = None) -> None:
        """An intake decision; with its typed record, the bands it falls in and the scoring table rows that score
        it count too (if it passed intake)."""
        if not self._ours(decision.policy_hash):
            return
        self.counts.update(("rule", f.rule) for f in decision.findings)
        if record is not None and decision.decision in ("accept", "review"):
            scored_by = None
            if self.targets.models:  # several scoring models: only the bands of the one that scores it count
                model, _why = model_for(self.targets.models, record)
                scored_by = model.id if model is not None else ""
            for band in self.targets.bands:
                if band.model is not None and band.model != scored_by:
                    continue
                index = band.index(record)
                if index is not None:
                    self.counts[("band", f"{band.key}#{index}")] += 1
            for table in self.targets.tables:
                if table.model is not None and table.model != scored_by:
                    continue
                rows = table.table.rows
                self.counts.update(("table", table.key(rows[i])) for i in table.chosen(record))

    def proposals(self, engine: Loaded, proposals: Iterable[Any]) -> None:
        """Decide proposals (mappings or reader rows) with ``engine`` and count rules, bands and table rows."""
        for decision, record in engine.decide_all(proposals):
            self.decision(decision, record)

    def gate(self, decision: GateDecision) -> None:
        if not self._ours(decision.policy_hash):
            return
        self.counts.update(("gate", f"{decision.gate}/{m.criterion}") for m in decision.must_meet if m.passed)
        self.counts.update(("gate", f"{decision.gate}/{r.criterion}") for r in decision.should_meet.criteria if r.met)

    def report(self) -> Coverage:
        return Coverage(self.targets.policy_hash, list(self.targets.items), Counter(self.counts), self.decisions,
                        self.foreign)


class CoverageByPolicy:
    """Coverage of each policy version that decisions were made under (``pmo test --coverage``): scenarios say
    which policies they run on, so the policies to measure are the ones the engines that decided were loaded
    from, each counted on its own, never the folder a command line happened to name.

        seen = CoverageByPolicy(only=("rule",))
        seen.decision(engine, decision, record)    # or seen.proposals(engine, rows), seen.gate(engine, g)
        seen.reports()                              # one Coverage per policy version, in the order first seen
    """

    def __init__(self, only: Iterable[str] | None = None, name: Callable[[Loaded], str] | None = None):
        self.only = tuple(only) if only else None
        self.name = name or _folder_name
        self._hits: dict[str, tuple[str, Hits]] = {}  # policy hash -> (folder, hits)

    def include(self, engine: Loaded) -> Hits:
        """The hits of the engine's policy version (its targets listed even if nothing is ever decided)."""
        found = self._hits.get(engine.policy_hash)
        if found is None:
            targets = coverage_targets(engine)
            found = self._hits[engine.policy_hash] = (self.name(engine), Hits(targets.only(self.only)
                                                                              if self.only else targets))
        return found[1]

    def decision(self, engine: Loaded, decision: Decision, record: Mapping[str, Any] | None = None) -> None:
        self.include(engine).decision(decision, record)

    def proposals(self, engine: Loaded, proposals: Iterable[Any]) -> None:
        self.include(engine).proposals(engine, proposals)

    def gate(self, engine: Loaded, decision: GateDecision) -> None:
        self.include(engine).gate(decision)

    def reports(self) -> list[Coverage]:
        out = []
        for folder, hits in self._hits.values():
            report = hits.report()
            report.policies = folder
            out.append(report)
        return out


def _folder_name(engine: Loaded) -> str:
    """The policy folder an engine was loaded from, relative to the current folder when inside it."""

    source = engine.policy.source
    if source is None:
        return "unknown"
    root = Path(source.root).resolve()
    if root == reference_policies().resolve():
        return "built-in"
    return display_path(root)
