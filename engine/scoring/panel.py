"""Rater panels: a scoring criterion rated by several people, their scores combined, disagreement flagged.

An assessments file (CSV, TSV, XLSX, JSON, JSONL, YAML, read by the proposal readers and typed by the record
reader against :data:`ASSESSMENT_FIELDS`) has one row per rating: ``proposal, rater, role, criterion, score,
comment``. A criterion with ``panel:`` in the scoring policy (compiled as ``PanelSpec`` in
engine/compile/scoring.py) takes its raw value from the ratings of each proposal:

- ``mean``; ``median`` (of an even count: the mean of the two middle scores); ``trimmed-mean`` (the lowest and
  the highest ``floor(n x trim)`` scores cut, then the mean); ``weighted`` (each score times its rater role's
  weight, over the sum of the weights);
- fewer than ``min_raters`` ratings: the criterion is missing for that proposal (its ``missing:`` applies);
- attention: the spread (highest minus lowest) above ``spread``, and, with three ratings or more, each rater
  whose score is more than ``outlier`` from the median of the *others'* scores (that rater disagreed).

Numbers are exact fractions until the combined score is given out as a float, so the tests can state exact
values. Nothing is dropped silently: a rating that cannot be used (a score outside the scale, a criterion that
is not a panel's, a role the weights do not list, the same rater twice for one proposal and criterion, a
proposal that is not in the input) is an error row naming its file, row and column, and is not combined.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine.compile.records import RecordError, RecordReader
from engine.compile.scoring import PanelSpec, ScoredCriterion
from engine.decision import RowError
from engine.errors import did_you_mean
from engine.io.readers import Row, read_proposals
from engine.policy.models import FieldSpec

ASSESSMENT_FIELDS: dict[str, FieldSpec] = {
    "proposal": FieldSpec(type="string", required=True, aliases=["id", "proposal_id"],
                          description="the proposal's id, as in the proposals file"),
    "rater": FieldSpec(type="string", required=True, aliases=["assessor", "evaluator"],
                       description="who rated it (a name or an id)"),
    "role": FieldSpec(type="string", description="the rater's role, for combine: weighted (e.g. finance, pmo)"),
    "criterion": FieldSpec(type="string", required=True, description="the panel criterion's id"),
    "score": FieldSpec(type="number", required=True, description="the rater's score, within the criterion's scale"),
    "comment": FieldSpec(type="string", description="why, in the rater's words"),
}


@dataclass(frozen=True)
class Rating:
    proposal: str
    rater: str
    role: str | None
    criterion: str
    score: Decimal
    comment: str | None = None
    source: str | None = None
    row: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rater": self.rater, "role": self.role, "score": _number(Fraction(self.score)),
                "comment": self.comment, "source": self.source, "row": self.row}


@dataclass(frozen=True)
class AssessmentError:
    """A rating that could not be used, and why."""

    source: str
    row: int | None
    errors: tuple[RowError, ...]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "row": self.row, "errors": [e.model_dump(mode="json") for e in self.errors]}

    def lines(self) -> list[str]:
        return [f"{self.source}:{self.row}: error[{e.code}]: {e.message}" for e in self.errors]


@dataclass
class Assessments:
    ratings: list[Rating] = field(default_factory=list)
    errors: list[AssessmentError] = field(default_factory=list)

    def by_proposal(self) -> dict[str, dict[str, list[Rating]]]:
        out: dict[str, dict[str, list[Rating]]] = {}
        for r in self.ratings:
            out.setdefault(r.proposal, {}).setdefault(r.criterion, []).append(r)
        return out


def read_assessments(paths: Iterable[str | Path], sheet: str | None = None) -> Assessments:
    """Ratings and error rows of assessment files (raises InputError when a file as a whole is unusable)."""
    return assessments_from_rows([read_proposals(path, sheet) for path in paths])


def assessments_from_rows(inputs: Iterable[Iterable[Row]]) -> Assessments:
    reader = RecordReader(ASSESSMENT_FIELDS)
    out = Assessments()
    for rows in inputs:
        for row in rows:
            source = row.source or "<input>"
            if row.error is not None or row.data is None:
                error = row.error or RowError(row=row.row, code="bad_row", message="the row cannot be read")
                out.errors.append(AssessmentError(source, row.row, (error,)))
                continue
            try:
                record = reader.read(row.data)
            except RecordError as exc:
                out.errors.append(AssessmentError(source, row.row, tuple(
                    RowError(row=row.row, column=c, code=code, message=m) for c, code, m in exc.problems)))
                continue
            out.ratings.append(Rating(str(record["proposal"]), str(record["rater"]), record["role"],
                                      str(record["criterion"]), record["score"], record["comment"], source, row.row))
    return out


def checked(assessments: Assessments, criteria: Iterable[ScoredCriterion],
            proposals: set[str] | None = None) -> Assessments:
    """The ratings that can be combined; the others become error rows (in input order, after the reader's)."""
    panels: dict[str, PanelSpec] = {}
    others: set[str] = set()
    for c in criteria:
        if c.panel is not None:
            panels.setdefault(c.id, c.panel)
        else:
            others.add(c.id)
    out = Assessments(errors=list(assessments.errors))
    seen: dict[tuple[str, str, str], Rating] = {}
    for r in assessments.ratings:
        problem = _problem(r, panels, others, proposals, seen)
        if problem is not None:
            column, code, message = problem
            out.errors.append(AssessmentError(r.source or "<input>", r.row,
                                              (RowError(row=r.row, column=column, code=code, message=message),)))
            continue
        seen[(r.proposal, r.criterion, r.rater)] = r
        out.ratings.append(r)
    out.errors.sort(key=lambda e: (e.source, e.row or 0))
    return out


def _problem(r: Rating, panels: Mapping[str, PanelSpec], others: set[str], proposals: set[str] | None,
             seen: Mapping[tuple[str, str, str], Rating]) -> tuple[str, str, str] | None:
    spec = panels.get(r.criterion)
    if spec is None:
        if r.criterion in others:
            return "criterion", "not_a_panel", (f"criterion '{r.criterion}' is not rated by a panel (it has no "
                                                "'panel:' in the scoring policy)")
        hint = did_you_mean(r.criterion, panels) or (f"panel criteria: {', '.join(panels)}" if panels else
                                                     "the scoring policy has no panel criteria")
        return "criterion", "unknown_criterion", f"'{r.criterion}' is not a panel criterion; {hint}"
    if not spec.low <= Fraction(r.score) <= spec.high:
        return "score", "out_of_scale", (f"score {_shown(Fraction(r.score))} is outside the scale of "
                                         f"'{r.criterion}', {_shown(spec.low)} to {_shown(spec.high)}")
    if spec.combine == "weighted" and (r.role is None or r.role not in spec.roles):
        hint = did_you_mean(r.role or "", spec.roles) or f"roles: {', '.join(spec.roles)}"
        what = "has no role" if r.role is None else f"has role '{r.role}', which has no weight"
        return "role", "unknown_role", f"rater '{r.rater}' {what} for '{r.criterion}' (combine: weighted); {hint}"
    if proposals is not None and r.proposal not in proposals:
        hint = did_you_mean(r.proposal, proposals) or "check the proposal id"
        return "proposal", "unknown_proposal", f"no proposal '{r.proposal}' in the input; {hint}"
    earlier = seen.get((r.proposal, r.criterion, r.rater))
    if earlier is not None:
        return "rater", "duplicate_rating", (f"'{r.rater}' already rated '{r.criterion}' of '{r.proposal}' "
                                             f"(row {earlier.row}); keep one rating")
    return None


@dataclass
class PanelResult:
    """One panel criterion of one proposal: the ratings, the combined score and what needs attention."""

    criterion: str
    combine: str
    score: Fraction | None  # None: fewer ratings than min_raters
    ratings: list[Rating]
    spread: Fraction | None = None
    median: Fraction | None = None
    disagreed: list[str] = field(default_factory=list)  # raters far from the others
    attention: list[str] = field(default_factory=list)  # why the panel's result needs a look, for people
    low: Fraction = Fraction(0)  # the criterion's scale, for charts
    high: Fraction = Fraction(1)

    @property
    def needs_attention(self) -> bool:
        return bool(self.attention)

    def to_json(self) -> dict[str, Any]:
        return {"criterion": self.criterion, "combine": self.combine, "score": _number(self.score),
                "raters": len(self.ratings), "spread": _number(self.spread), "median": _number(self.median),
                "disagreed": self.disagreed, "attention": self.attention,
                "ratings": [r.to_json() for r in self.ratings]}

    def summary(self) -> str:
        if self.score is None:
            return f"{self.criterion}: {len(self.ratings)} rating(s), not enough to combine"
        text = f"{self.criterion} {_shown(self.score, 2)} ({self.combine} of {len(self.ratings)}, spread " \
               f"{_shown(self.spread, 2)})"
        return text + (f"; {'; '.join(self.attention)}" if self.attention else "")


def combine(spec: PanelSpec, criterion: str, ratings: list[Rating]) -> PanelResult:
    result = PanelResult(criterion, spec.combine, None, list(ratings), low=spec.low, high=spec.high)
    if not ratings:
        return result
    scores = [Fraction(r.score) for r in ratings]
    result.spread = max(scores) - min(scores)
    result.median = median(scores)
    if len(ratings) < spec.min_raters:
        result.attention.append(f"{len(ratings)} rating(s), {spec.min_raters} needed")
        return result
    if spec.combine == "mean":
        result.score = sum(scores, Fraction(0)) / len(scores)
    elif spec.combine == "median":
        result.score = result.median
    elif spec.combine == "trimmed-mean":
        result.score = trimmed_mean(scores, spec.trim)
    else:
        weights = [spec.roles[_role(r)] for r in ratings]
        result.score = sum((w * s for w, s in zip(weights, scores)), Fraction(0)) / sum(weights, Fraction(0))
    if spec.spread is not None and result.spread > spec.spread:
        result.attention.append(f"spread {_shown(result.spread)} is over {_shown(spec.spread)}")
    if spec.outlier is not None and len(ratings) >= 3:
        for i, r in enumerate(ratings):
            others = median(scores[:i] + scores[i + 1:])
            if abs(scores[i] - others) > spec.outlier:
                result.disagreed.append(r.rater)
                result.attention.append(f"{r.rater} scored {_shown(scores[i])}, the others' median is "
                                        f"{_shown(others)}")
    return result


def median(scores: list[Fraction]) -> Fraction:
    ordered = sorted(scores)
    n = len(ordered)
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def trimmed_mean(scores: list[Fraction], trim: Fraction) -> Fraction:
    """The mean after cutting floor(n x trim) scores at each end (trim below 0.5 leaves at least one)."""
    ordered = sorted(scores)
    cut = int(len(ordered) * trim)  # floor: a Fraction times an int, truncated toward zero, is exact
    kept = ordered[cut:len(ordered) - cut]
    return sum(kept, Fraction(0)) / len(kept)


def panel_results(criteria: Iterable[ScoredCriterion], ratings: Mapping[str, list[Rating]]) -> list[PanelResult]:
    """Each panel criterion's result for one proposal (``ratings``: that proposal's, by criterion)."""
    return [combine(c.panel, c.id, ratings.get(c.id, [])) for c in criteria if c.panel is not None]


def _number(value: Fraction | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value.denominator == 1 else float(value)


def _shown(value: Fraction | None, places: int = 4) -> str:
    if value is None:
        return "-"
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.{places}f}".rstrip("0").rstrip(".")


def _role(rating: Rating) -> str:
    """The rater's role, for combine: weighted, where every rating has one with a weight (checked() made sure)."""
    assert rating.role is not None
    return rating.role
