"""What a policy change does: the decisions, findings and ranks that differ between two policy versions
over the same proposals. The review artefact for a policy pull request.

    diff = diff_policies(Engine.load("policies"), Engine.load("new-policies"), rows)
    diff.summary()   # "4 decisions change: 3 accept -> reject, 1 review -> accept; 7 findings added, ..."
    diff.changes     # one Change per proposal that differs: decision changes first, then findings, then ranks
                     # and scores

Both versions decide the same proposals; when both have a scoring policy they also rank them, and a
proposal's rank "moves" when it differs (entering or leaving the ranking counts); its score changes when it
differs to 12 significant digits (as the ranking compares scores), so a score that moves no rank is listed
too. Findings are compared by rule id: added, removed, or changed (same rule, another effect, route or
reason text as the proposal reads it), each change with its before and after.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from engine.decision import Decision, Finding
from engine.text import plural

if TYPE_CHECKING:  # the ranking loads only when a diff runs
    from engine.compile.policy import CompiledPolicy
    from engine.scoring.ranking import RankEntry, Ranking


class Version(Protocol):
    """One policy version as a diff uses it: an engine.api.Engine (authoring sits below the api)."""

    @property
    def policy(self) -> CompiledPolicy: ...

    @property
    def policy_hash(self) -> str: ...

    def evaluate_many(self, proposals: Iterable[Any]) -> Iterator[Decision]: ...

    def rank(self, proposals: Iterable[Any]) -> Ranking: ...


@dataclass
class Change:
    """How one proposal's outcome differs between the old and the new policies."""

    id: str  # the proposal id, or "row N" when it has none
    old: str  # decision: accept, review, reject or error
    new: str
    added: list[str] = field(default_factory=list)  # rules that fire only under the new policies
    removed: list[str] = field(default_factory=list)  # rules that fired only under the old ones
    # "rule: review -> reject, route PMO -> Board, reason 'a' -> 'b'": what changed of a rule that fires under both
    changed: list[str] = field(default_factory=list)
    old_rank: int | None = None
    new_rank: int | None = None
    old_score: float | None = None  # rounded to 2 places, or to as many as tell two different scores apart
    new_score: float | None = None
    score_changed: bool = False

    @property
    def decision_changed(self) -> bool:
        return self.old != self.new

    @property
    def rank_moved(self) -> bool:
        return self.old_rank != self.new_rank

    @property
    def differs(self) -> bool:
        return self.decision_changed or self.rank_moved or self.score_changed or \
            bool(self.added or self.removed or self.changed)


@dataclass
class PolicyDiff:
    old_hash: str
    new_hash: str
    proposals: int  # how many were decided under both
    ranked: bool  # whether both versions rank (have a scoring policy)
    changes: list[Change]  # only the proposals that differ (decision changes first, each group in input order)
    errors: int = 0  # error rows under both versions: nothing of theirs is compared


    def decision_moves(self) -> Counter[tuple[str, str]]:
        """(old, new) -> how many proposals moved so, most frequent first."""
        return Counter((c.old, c.new) for c in self.changes if c.decision_changed)

    def counts(self) -> dict[str, int]:
        return {"decisions": sum(1 for c in self.changes if c.decision_changed),
                "findings_added": sum(len(c.added) for c in self.changes),
                "findings_removed": sum(len(c.removed) for c in self.changes),
                "findings_changed": sum(len(c.changed) for c in self.changes),
                "ranks": sum(1 for c in self.changes if c.rank_moved),
                "scores": sum(1 for c in self.changes if c.score_changed), "errors": self.errors}

    def summary(self) -> str:
        """One line: what changes, with counts."""
        n = self.counts()
        if n["decisions"]:
            moves = ", ".join(f"{k} {old} -> {new}" for (old, new), k in self.decision_moves().most_common())
            parts = [f"{plural(n['decisions'], 'decision')} {'changes' if n['decisions'] == 1 else 'change'}: {moves}"]
        else:
            parts = ["no decision changes"]
        findings = f"{plural(n['findings_added'], 'finding')} added, {n['findings_removed']} removed"
        parts.append(findings + (f", {n['findings_changed']} changed" if n["findings_changed"] else ""))
        if self.ranked:
            parts.append(f"{plural(n['ranks'], 'rank')} {'moves' if n['ranks'] == 1 else 'move'}")
            parts.append(f"{plural(n['scores'], 'score')} {'changes' if n['scores'] == 1 else 'change'}")
        if self.errors:  # else "no decision changes" would pass off proposals never decided as unchanged
            parts.append(f"{plural(self.errors, 'error row')} under both versions, not compared (fix the rows, or "
                         "read the file with its input profile)")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"old_policy_hash": self.old_hash, "new_policy_hash": self.new_hash, "proposals": self.proposals,
                "ranked": self.ranked, "summary": self.summary(), "counts": self.counts(),
                "decision_moves": [{"from": old, "to": new, "count": k}
                                   for (old, new), k in self.decision_moves().most_common()],
                "changes": [asdict(c) for c in self.changes]}


def diff_policies(old: Version, new: Version, proposals: Iterable[Any]) -> PolicyDiff:
    """Decide (and, when both can, rank) the same proposals under two engines and compare, proposal by proposal."""
    rows = list(proposals)  # read once, decided twice
    ranked = old.policy.scoring is not None and new.policy.scoring is not None
    before, after = _outcomes(old, rows, ranked), _outcomes(new, rows, ranked)
    changes: list[Change] = []
    errors = 0
    for key in sorted(before):
        (decision, rank, score), (decision2, rank2, score2) = before[key], after[key]
        errors += decision.decision == decision2.decision == "error"
        shown = _scores(score, score2)
        change = Change(_name(decision, key), decision.decision, decision2.decision, old_rank=rank, new_rank=rank2,
                        old_score=shown[0], new_score=shown[1], score_changed=_differ(score, score2))
        _compare_findings(decision.findings, decision2.findings, change)
        if change.differs:
            changes.append(change)
    changes.sort(key=lambda c: (not c.decision_changed, not (c.added or c.removed or c.changed),
                                not c.rank_moved))  # stable
    return PolicyDiff(old.policy_hash, new.policy_hash, len(before), ranked, changes, errors)


Compared = tuple["Decision | RankEntry", int | None, float | None]  # decision or rank entry, rank, score


def _outcomes(engine: Version, rows: list[Any], ranked: bool) -> dict[int, Compared]:
    """Input position -> (decision or rank entry, rank, score). By position, not by file and line: the
    same file given twice is two sets of proposals."""
    if ranked:
        outcomes: dict[int, Compared] = {}
        for e in engine.rank(rows).entries:
            assert e.position is not None  # a ranking names each entry's place in the list it was made from
            outcomes[e.position] = (e, e.rank, e.score)
        return outcomes
    return {i: (d, None, None) for i, d in enumerate(engine.evaluate_many(rows))}


def _name(decision: Decision | RankEntry, position: int) -> str:
    if decision.id:
        return decision.id
    return f"{decision.source}:{decision.row}" if decision.source else f"row {position + 1}"


def _differ(a: float | None, b: float | None) -> bool:
    """Two scores differ: one is missing, or they differ to 12 significant digits (float rounding aside)."""
    if a is None or b is None:
        return (a is None) != (b is None)
    return float(f"{a:.12g}") != float(f"{b:.12g}")


def _scores(a: float | None, b: float | None) -> tuple[float | None, float | None]:
    """The two scores as shown: to 2 places, or to as many more as tell them apart when they differ."""
    places = 2
    if a is not None and b is not None and _differ(a, b):
        while places < 12 and round(a, places) == round(b, places):
            places += 1
    return (None if a is None else round(a, places)), (None if b is None else round(b, places))


def _compare_findings(old: list[Finding], new: list[Finding], change: Change) -> None:
    before = {f.rule: f for f in old}
    after = {f.rule: f for f in new}
    change.added = [rule for rule in after if rule not in before]
    change.removed = [rule for rule in before if rule not in after]
    for rule in before.keys() & after.keys():
        a, b = before[rule], after[rule]
        what = ([f"{a.effect} -> {b.effect}"] if a.effect != b.effect else []) + \
            ([f"route {a.route} -> {b.route}"] if a.route != b.route else []) + \
            ([f"reason {a.reason!r} -> {b.reason!r}"] if a.reason != b.reason else [])
        if what:
            change.changed.append(f"{rule}: {', '.join(what)}")
    change.changed.sort()
