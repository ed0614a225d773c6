"""Pydantic models of the policy files, one per ``kind``.

Every model instance remembers where it came from (``loc()``), so later stages (the
expression checker, findings) can point at ``file:line:col``.
"""
# Annotations here are real, not strings (no ``from __future__ import annotations``): pydantic would parse
# each string annotation again when it builds the models (measured: 1.5% of a `pmo validate`).
import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from engine.decision import empty_dict, empty_list  # default factories pydantic reads cheaply
from engine.errors import Location
from engine.policy.source import Path_, SourceMap

if TYPE_CHECKING:
    from pydantic._internal._decorators import ModelValidatorDecoratorInfo, PydanticDescriptorProxy

RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
Effect = Literal["reject", "review", "flag"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
FieldType = Literal["string", "number", "money", "integer", "bool", "date", "enum", "list", "alignment"]


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)  # built when first used: a
    # command reads only some kinds of policy file (callgrind, pmo validate: 1,713 -> 1,589 M instructions)
    _source: SourceMap | None = PrivateAttr(default=None)
    _path: Path_ = PrivateAttr(default=())
    # on a policy file's model: what validation set aside, by key (index or name -> raw value); see loader
    _set_aside: dict[str, dict[int | str, Any]] = PrivateAttr(default_factory=empty_dict)

    def set_aside(self, key: str) -> dict[int | str, Any]:
        """Items under ``key`` that had errors of their own (already reported) and were left out of the model."""
        return self._set_aside.get(key, {})

    def loc(self, *sub: Any) -> Location:
        """Where this node (or one of its keys' values) starts in its file."""
        if self._source is None:
            return Location("<memory>")
        return self._source.value(self._path + sub)

    def key_loc(self, *sub: Any) -> Location:
        """Where a key (not its value) stands, for "unknown key" and naming errors."""
        if self._source is None:
            return Location("<memory>")
        return self._source.key(self._path + sub)


def bind_sources(node: Any, source: SourceMap, path: Path_ = ()) -> None:
    """Tell every model in a validated tree where it sits in the YAML document."""
    if isinstance(node, Node):
        node._source, node._path = source, path
        for name, info in type(node).model_fields.items():
            bind_sources(getattr(node, name), source, path + (info.alias or name,))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            bind_sources(item, source, path + (i,))
    elif isinstance(node, dict):
        for key, item in node.items():
            bind_sources(item, source, path + (key,))


def _shorthand(key: str) -> "PydanticDescriptorProxy[ModelValidatorDecoratorInfo]":
    """Let ``budget: money`` stand for ``budget: {type: money}``."""
    def before(cls: type[Node], data: Any, /) -> Any:  # a classmethod: pydantic makes it one, by the name cls
        return {key: data} if isinstance(data, str) else data
    return model_validator(mode="before")(before)


class FieldSpec(Node):
    """One column of a proposal."""

    type: FieldType = Field(description="string, number, money, integer, bool, date, enum (one of values), list, "
                            "or alignment (which strategic objectives a proposal serves, and how strongly)")
    values: list[str] | None = Field(None, description="allowed values of an enum field")
    items: Literal["number", "money", "string"] | None = Field(None, description="item type of a list field")
    required: bool = Field(False, description="a row without this value is an error row, not a decision")
    default: Any = Field(None, description="the value a missing cell takes (otherwise it is null)")
    label: str | None = Field(None, description="column title in reports")
    aliases: list[str] = Field(default_factory=empty_list, description="other column titles that mean this field, "
                               "e.g. the header a PPM tool's export uses ('Total Cost (EUR)')")
    min: Decimal | dt.date | None = Field(None, description="smallest allowed value (number, money, integer or "
                                          "date fields); a smaller one makes the row an error row")
    max: Decimal | dt.date | None = Field(None, description="largest allowed value; a larger one makes an error row")
    description: str | None = None
    mask: bool = Field(False, description="personal or confidential: `pmo serve` never writes this field's value "
                       "to its access log (it shows ***)")
    _short = _shorthand("type")

    @model_validator(mode="after")
    def _range_fits_type(self) -> Self:
        kind = dt.date if self.type == "date" else Decimal if self.type in ("number", "money", "integer") else None
        for bound in (self.min, self.max):
            if bound is not None and kind is None:
                raise ValueError("min and max apply only to number, money, integer and date fields")
            if bound is not None and type(bound) is not kind:
                wanted = "dates" if kind is dt.date else "numbers"
                raise ValueError(f"min and max of a {self.type} field must be {wanted}")
        if (isinstance(self.min, Decimal) and isinstance(self.max, Decimal) and self.min > self.max
                or isinstance(self.min, dt.date) and isinstance(self.max, dt.date) and self.min > self.max):
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class DerivedSpec(Node):
    """A value computed from the fields (and earlier derived values) before rules run."""

    expr: str = Field(description="expression, e.g. 'benefit / budget'")
    label: str | None = None
    description: str | None = None
    _short = _shorthand("expr")


class RuleSpec(Node):
    id: str = Field(pattern=RULE_ID, description="unique rule id, shown in every finding")
    when: str = Field(description="condition; the rule fires when it is true")
    effect: Effect = Field(description="reject | review | flag")
    reason: str = Field(description="why, in the words a proposer understands; {field} inserts a value")
    route: str | None = Field(None, description="who must approve (required for effect: review)")
    description: str | None = None
    tags: list[str] = []


class Include(Node):
    """Use a rule from a library under rules/, with parameters."""

    use: str = Field(description="LIBRARY/RULE, e.g. governance/sponsor-required")
    id: str | None = Field(None, pattern=RULE_ID, description="rule id in this policy (default: the library rule's id)")
    with_: dict[str, Any] = Field(default_factory=empty_dict, alias="with", description="parameter values")
    effect: Effect | None = Field(None, description="override the library rule's effect")
    route: str | None = Field(None, description="override the library rule's route")
    reason: str | None = Field(None, description="override the library rule's reason")


class IntakePolicy(Node):
    """The proposal's fields, derived values, and the rules that accept, reject or route it for review."""

    kind: Literal["intake"]
    name: str = "intake"
    description: str | None = None
    id_field: str = Field("id", description="the field that identifies a proposal")
    fields: dict[str, FieldSpec] = Field(description="the proposal's columns and their types")
    derived: dict[str, DerivedSpec] = Field(default_factory=empty_dict)
    include: list[Include] = Field(default_factory=empty_list)
    rules: list[RuleSpec] = Field(default_factory=empty_list)


class Objective(Node):
    id: str = Field(pattern=RULE_ID)
    name: str
    weight: Decimal | None = Field(None, gt=0, description="relative weight (normalised to sum to 1); "
                                   "leave out when 'comparisons' give the weights")
    owner: str | None = None
    description: str | None = None


Judgement = Decimal | int | str


class Comparisons(Node):
    """Weights from pairwise comparisons (AHP): 'a: {b: 3}' means a is 3 times as important as b."""

    method: Literal["eigen", "geometric"] = Field("eigen", description="principal eigenvector or row geometric mean")
    max_cr: Decimal = Field(Decimal("0.10"), ge=0, description="largest acceptable consistency ratio")
    inconsistent: Literal["warning", "error"] = Field("warning", description="what a CR above max_cr is")
    judgements: dict[str, dict[str, Judgement]] | None = Field(
        None, description="a: {b: 3, c: 1/2}; each pair once, reciprocals are filled in")
    matrix: list[list[Judgement]] | None = Field(None, description="the full matrix, rows in the order of the items")


DEFAULT_LEVELS = {"none": Decimal(0), "low": Decimal("0.25"), "moderate": Decimal("0.5"),
                  "strong": Decimal("0.75"), "extreme": Decimal(1)}


class StrategyPolicy(Node):
    """The strategic objectives, their weights (given, or from pairwise comparisons) and alignment levels."""

    kind: Literal["strategy"]
    name: str = "strategy"
    description: str | None = None
    objectives: list[Objective] = Field(min_length=1)
    comparisons: Comparisons | None = Field(None, description="objective weights from pairwise comparisons")
    levels: dict[str, Decimal] = Field(default_factory=lambda: dict(DEFAULT_LEVELS),
                                       description="how strongly a proposal can serve an objective, 0 to 1")


class Scale(Node):
    min: Decimal
    max: Decimal


class BandRange(Node):
    from_: Decimal | None = Field(None, alias="from", description="lower bound, included (none: no lower bound)")
    below: Decimal | None = Field(None, description="upper bound, excluded (none: no upper bound)")
    points: Decimal


class Bands(Node):
    """Points by ranges of one value; the ranges must not overlap or leave gaps."""

    of: str = Field(description="expression giving the value, e.g. budget")
    ranges: list[BandRange] = Field(min_length=1)


class Lookup(Node):
    of: str = Field(description="expression giving a text value, e.g. category")
    table: dict[str, Decimal]
    default: Decimal | None = Field(None, description="points for a value not in the table (none: missing)")


class Panel(Node):
    """A criterion rated by several people (an assessments file): how their scores combine, and what
    disagreement needs attention."""

    combine: Literal["mean", "median", "trimmed-mean", "weighted"] = Field(
        "mean", description="mean, median, trimmed-mean (the highest and lowest 'trim' share cut first) or weighted "
        "(by rater role: 'roles')")
    trim: Decimal = Field(Decimal("0.2"), ge=0, lt=Decimal("0.5"), description="trimmed-mean: the share of scores "
                          "cut at each end (0.2 of 5 raters: the highest and the lowest)")
    roles: dict[str, Decimal] = Field(default_factory=empty_dict, description="weighted: each rater role's weight, e.g. "
                                      "{finance: 2, pmo: 1}; a rating by a role not listed is an error row")
    min_raters: int = Field(1, ge=1, description="fewer ratings than this: the criterion is missing for the proposal")
    spread: Decimal | None = Field(None, ge=0, description="attention when the highest and lowest scores differ by "
                                   "more than this")
    outlier: Decimal | None = Field(None, ge=0, description="a rater disagrees when |their score - the median of the "
                                    "others' scores| is more than this (with 3 raters or more)")

    @model_validator(mode="after")
    def _positive_roles(self) -> Self:
        for role, weight in self.roles.items():
            if weight <= 0:
                raise ValueError(f"the weight of role '{role}' must be above 0, got {weight}")
        return self


class Criterion(Node):
    id: str = Field(pattern=RULE_ID)
    name: str | None = None
    weight: Decimal | None = Field(None, ge=0, description="relative weight; leave out when 'comparisons' give it")
    field: str | None = Field(None, description="source: a proposal field or derived value")
    formula: str | None = Field(None, description="source: an expression")
    bands: Bands | None = Field(None, description="source: points by ranges of a value")
    lookup: Lookup | None = Field(None, description="source: points by a text value")
    table: str | None = Field(None, description="source: the points of a decision table (kind: tables), by name")
    panel: Panel | None = Field(None, description="source: the combined score of several raters (pmo rank "
                                "--assessments FILE); 'scale' is the raters' range")
    scale: Scale | None = Field(None, description="the raw value's range, for normalise: fixed")
    normalise: Literal["fixed", "minmax", "none"] = Field(
        "fixed", description="fixed (by scale), minmax (over the proposals ranked together) or none")
    direction: Literal["higher", "lower"] = Field("higher", description="which raw values are better")
    missing: Decimal = Field(Decimal(0), ge=0, le=1, description="normalised score (0 to 1) of a missing value")
    description: str | None = None


class TieBreak(Node):
    by: str = Field(description="a criterion id (its normalised score) or a field")
    order: Literal["desc", "asc"] = "desc"


def _missing_for_all(*components: str) -> "PydanticDescriptorProxy[ModelValidatorDecoratorInfo]":
    """Let ``missing: 0`` stand for ``missing: {every component: 0}``."""
    def before(cls: type[Node], data: Any, /) -> Any:  # a classmethod: pydantic makes it one, by the name cls
        if isinstance(data, dict) and isinstance(data.get("missing"), (int, float, Decimal, str)) and \
                not isinstance(data.get("missing"), bool):
            return {**data, "missing": {c: data["missing"] for c in components}}
        return data
    return model_validator(mode="before")(before)


class Wsjf(Node):
    """SAFe's weighted shortest job first: (business value + time criticality + risk reduction) / job size."""

    business_value: str = Field(description="expression, e.g. a field on a 1-20 scale")
    time_criticality: str
    risk_reduction: str = Field(description="risk reduction and/or opportunity enablement")
    job_size: str
    missing: dict[Literal["business_value", "time_criticality", "risk_reduction", "job_size"], Decimal] = Field(
        default_factory=empty_dict, description="the value a missing component takes: one number for all, or one per "
        "component (a proposal missing a component without one is not scored)")
    _one_for_all = _missing_for_all("business_value", "time_criticality", "risk_reduction", "job_size")


class Rice(Node):
    """Intercom's RICE: reach x impact x confidence / effort."""

    reach: str
    impact: str
    confidence: str = Field(description="0 to 1 (a percentage such as 80% reads as 0.8)")
    effort: str
    missing: dict[Literal["reach", "impact", "confidence", "effort"], Decimal] = Field(
        default_factory=empty_dict, description="the value a missing component takes: one number for all, or one per "
        "component (a proposal missing a component without one is not scored)")
    _one_for_all = _missing_for_all("reach", "impact", "confidence", "effort")


class Sensitivity(Node):
    perturbation: Decimal = Field(Decimal("0.2"), gt=0, lt=1, description="each weight varies by up to this share")
    samples: int = Field(1000, ge=10, le=100_000)
    seed: int = 0


class ScoringPolicy(Node):
    """How proposals that pass intake are scored and ranked: weighted criteria, WSJF, RICE or a formula."""

    kind: Literal["scoring"]
    name: str = "scoring"
    id: str | None = Field(None, description="the model's id when a policy set has several (default: the file's "
                           "name without .yaml)")
    when: str | None = Field(None, description="which proposals this model scores (an expression, e.g. category == "
                             "\"compliance\"), when a policy set has several models; the one model without 'when' "
                             "scores the proposals no other model takes")
    description: str | None = None
    method: Literal["weighted-sum", "wsjf", "rice", "formula"] = "weighted-sum"
    weights: Literal["normalise", "strict"] = Field(
        "normalise", description="weights not summing to 1: normalise them with a note, or refuse (strict)")
    criteria: list[Criterion] = Field(default_factory=empty_list)
    comparisons: Comparisons | None = Field(None, description="criteria weights from pairwise comparisons")
    wsjf: Wsjf | None = None
    rice: Rice | None = None
    formula: str | None = Field(None, description="the score, for method: formula")
    tie_breaks: list[TieBreak] = Field(default_factory=empty_list, description="after the score; the id breaks last ties")
    top: int = Field(10, ge=1, description="how many proposals count as the top, for sensitivity")
    sensitivity: Sensitivity = Field(default_factory=Sensitivity)


class ParamSpec(Node):
    type: Literal["number", "money", "integer", "string", "bool", "date", "list"]
    default: Any = None
    description: str | None = None
    mask: bool = Field(False, description="personal or confidential: `pmo serve` never writes this field's value "
                       "to its access log (it shows ***)")
    _short = _shorthand("type")


class LibraryRule(RuleSpec):
    params: dict[str, ParamSpec] = Field(default_factory=empty_dict, description="parameters, used as params.NAME")


class Library(Node):
    """Reusable rules with parameters, kept in rules/ and included by name (include: [{use: LIBRARY/RULE}])."""

    kind: Literal["library"]
    name: str = Field(pattern=RULE_ID, description="the library's name, used in include: LIBRARY/RULE")
    description: str | None = None
    rules: list[LibraryRule] = Field(default_factory=empty_list, description="rules with params, used as params.NAME")


class Tolerance(Node):
    resources: Decimal = Field(Decimal(0), ge=0, description="share above capacity that is still fine, e.g. 0.1")
    budget: Decimal = Field(Decimal(0), ge=0, description="share above the period budget that is still fine")


class Balance(Node):
    """A minimum and/or maximum share of the selected projects' cost for one category or objective."""

    by: Literal["category", "objective"]
    value: str
    min_share: Decimal | None = Field(None, ge=0, le=1)
    max_share: Decimal | None = Field(None, ge=0, le=1)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WorkingCalendar(Node):
    """Which days count as working days for the schedule (a duration in days is then in working days)."""

    working_days: list[Weekday] = Field(
        default_factory=lambda: list[Weekday](["mon", "tue", "wed", "thu", "fri"]), min_length=1,
        description="the weekdays people work, e.g. [mon, tue, wed, thu, fri]")
    holidays: list[dt.date] = Field(default_factory=empty_list, description="dates nobody works, e.g. 2027-12-25")


class PortfolioPolicy(Node):
    """Capacity and money the portfolio must fit in, by period."""

    kind: Literal["portfolio"]
    name: str = "portfolio"
    description: str | None = None
    periods: list[str] = Field(default_factory=empty_list, description="period labels in order, e.g. 2027-Q1")
    duration_unit: Literal["days", "weeks", "months"] = Field("days", description="unit of project durations")
    capacity: dict[str, Decimal | dict[str, Decimal]] = Field(
        default_factory=empty_dict, description="per role: one number for every period, or {period: number}")
    budget: Decimal | dict[str, Decimal] | None = Field(
        None, description="money per period: one number for every period, or {period: number}")
    tolerance: Tolerance = Field(default_factory=Tolerance)
    max_cycles: int = Field(20, ge=1, le=10_000, description="dependency cycles listed before the report stops")
    balance: list[Balance] = Field(default_factory=empty_list, description="selection: shares of cost by category")
    calendar: WorkingCalendar | None = Field(
        None, description="schedule: working days and holidays (none declared: every day is a working day)")


class GateCriterion(Node):
    """A gate criterion: a condition on the project record (fields, derived values, metrics)."""

    id: str = Field(pattern=RULE_ID)
    when: str = Field(description="the condition that must hold for the criterion to be met")
    reason: str = Field(description="what it checks, in a board's words")
    on_fail: Literal["kill", "recycle", "hold"] = Field("recycle", description="must-meet: what failing it means")
    weight: Decimal | None = Field(None, ge=0, description="should-meet: its weight in the score")


class ShouldMeet(Node):
    pass_mark: Decimal = Field(Decimal(60), ge=0, le=100, description="score (0-100) needed to go")
    criteria: list[GateCriterion] = Field(default_factory=empty_list)


class DecisionRight(Node):
    when: str | None = Field(None, description="condition; the first entry that holds names the approvers")
    approvers: list[str] = Field(min_length=1, description="roles that decide at this gate")


class Gate(Node):
    id: str = Field(pattern=RULE_ID)
    name: str | None = None
    from_: str = Field(alias="from", description="the stage a project is in before the gate")
    to: str = Field(description="the stage a 'go' moves it to")
    recycle_to: str | None = Field(None, description="the stage a 'recycle' sends it back to (default: from)")
    must_meet: list[GateCriterion] = Field(default_factory=empty_list, description="knock-out criteria")
    should_meet: ShouldMeet = Field(default_factory=ShouldMeet)
    evidence: list[str] = Field(default_factory=empty_list, description="artefacts the project must have")
    approvals: list[str] = Field(default_factory=empty_list, description="approvals the project must have recorded")
    decision_rights: list[DecisionRight] = Field(default_factory=empty_list)
    overrides: list[str] = Field(default_factory=empty_list, description="roles that may override a failed must-meet")


class GatesPolicy(Node):
    """The stages of a project and the gates between them: criteria, evidence, approvals, decision rights."""

    kind: Literal["gates"]
    name: str = "gates"
    description: str | None = None
    stages: list[str] = Field(min_length=2, description="the lifecycle's stages, in order")
    metrics: dict[str, Literal["number", "date", "string", "bool"]] = Field(
        default_factory=empty_dict, description="delivery metrics a project record may carry, e.g. spi: number")
    gates: list[Gate] = Field(min_length=1)


ColumnType = Literal["string", "number", "money", "integer", "bool", "date"]


class LookupPolicy(Node):
    """Reference data beside the policy (an approved-vendor list, thresholds by department), read in expressions
    as lookup(NAME, key, "column") and key in NAME. Rows are written here or kept in a CSV file beside this one."""

    kind: Literal["lookup"]
    name: str = Field(pattern=NAME, description="the table's name in expressions")
    description: str | None = None
    key: str = Field(description="the column whose values name the rows (each value once)")
    columns: dict[str, ColumnType] = Field(
        default_factory=empty_dict, description="column types; a column left out has the type its values show")
    rows: list[dict[str, Any]] | None = Field(None, description="the rows, e.g. - {vendor: Acme Ltd, tier: gold}")
    csv: str | None = Field(None, description="a CSV file (UTF-8, header row) in the same folder, instead of rows")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.rows is None) == (self.csv is None):
            raise ValueError("a lookup table has either 'rows' or 'csv' (a file beside it), not both or neither")
        return self


class HealthRule(Node):
    """A RAG rule over a project's status report and earned value figures (engine/health)."""

    id: str = Field(pattern=RULE_ID, description="unique rule id, shown with every rating it sets")
    when: str = Field(description="condition over status and EVM fields, e.g. 'cpi < 0.9 or spi < 0.85'")
    rating: Literal["red", "amber", "green"] = Field(description="the colour this rule gives; the worst one wins")
    reason: str = Field(description="why, in a board's words; {field} inserts a value, e.g. {cpi}")
    escalate_to: str | None = Field(None, description="who must hear of it, e.g. Portfolio Board")
    description: str | None = None


class HealthPolicy(Node):
    """How project health is rated from status reports: the EAC variant, RAG rules, and the colour of a project
    no rule rates."""

    kind: Literal["health"]
    name: str = "health"
    description: str | None = None
    eac: Literal["cpi", "remaining", "cpi_spi", "bottom_up"] = Field(
        "cpi", description="EAC variant: cpi (BAC/CPI), remaining (AC + BAC - EV), cpi_spi (AC + (BAC - EV) / "
        "(CPI x SPI)) or bottom_up (AC + the reported etc)")
    default: Literal["red", "amber", "green"] | None = Field(
        None, description="the rating of a project no rule rates (none declared: it is left unrated)")
    calendar: WorkingCalendar | None = Field(
        None, description="working days for PV spread from planned dates (default: the portfolio policy's, "
        "else Monday to Friday)")
    rules: list[HealthRule] = Field(default_factory=empty_list)


class KpiSpec(Node):
    """One PMO KPI: a formula over the portfolio's history (engine/health/kpis.py), with a target and a direction."""

    id: str = Field(pattern=RULE_ID, description="unique KPI id, e.g. portfolio-cpi")
    title: str = Field(description="the KPI's name on tables and tiles, e.g. Portfolio CPI")
    over: Literal["projects", "closed", "intake", "gates", "selection"] = Field(
        "projects", description="the records the measure aggregates in each period: projects (each at its latest "
        "status report by the period's end), closed (projects closed by then), intake or gates (the decision "
        "log's decisions made in the period), selection (a pmo select result)")
    measure: str = Field(description="a formula over aggregates of those records, e.g. share(rating == \"green\"), "
                         "total(ev) / total(ac), portfolio.cpi, median(days_between(submitted, decided)); see "
                         "docs/health.md, KPIs")
    where: str | None = Field(None, description="only the records this condition is true of, e.g. "
                              "state != \"killed\"")
    by: Literal["objective", "gate"] | None = Field(
        None, description="one figure per strategic objective (projects, closed) or per gate (gates)")
    unit: Literal["share", "index", "days", "money", "count", "number"] = Field(
        "number", description="how the figure is shown: share (as a percentage), index (two decimals), days, "
        "money, count or number")
    target: Decimal | None = Field(None, description="the figure the PMO aims for")
    direction: Literal["higher", "lower"] = Field(
        description="higher: higher is better (the target is a floor); lower: lower is better (a ceiling)")
    description: str | None = None


class KpisPolicy(Node):
    """The PMO's KPIs (pmo kpi, and the tiles of the board report's health page)."""

    kind: Literal["kpis"]
    name: str = Field("kpis", description="a name for people")
    description: str | None = None
    kpis: list[KpiSpec] = Field(min_length=1, description="each with an id, title, measure, target and direction")


class TableSpec(Node):
    """One decision table: a sheet of a workbook (or a CSV file) and how its rows combine."""

    name: str = Field(pattern=RULE_ID, description="the table's name: rule ids default to NAME.ROW; scoring "
                      "criteria use it as table: NAME")
    sheet: str | None = Field(None, description="the sheet of the workbook that holds the table")
    file: str | None = Field(None, description="the workbook (.xlsx) or .csv file, relative to this file "
                             "(default: the document's workbook)")
    hit_policy: Literal["unique", "first", "priority", "any", "collect"] = Field(
        description="DMN's hit policies: unique (rows never overlap), first (the first matching row), priority "
        "(the matching row whose outputs come first in 'priority'), any (overlapping rows agree), collect (all)")
    applies_to: Literal["intake", "scoring"] = Field(
        description="intake: rows set effect, route and reason; scoring: rows give points")
    priority: dict[str, list[str | Decimal] | Literal["highest", "lowest"]] = Field(
        default_factory=empty_dict, description="for hit_policy: priority, each output's values, highest priority "
        "first (intake default: effect: [reject, review, flag]); points may say highest or lowest")
    aggregate: Literal["sum", "min", "max", "count"] | None = Field(
        None, description="scoring with collect: how the points of the matching rows combine (default: sum)")
    description: str | None = None


class TablesPolicy(Node):
    """Decision tables kept in a spreadsheet: which sheets are tables, their hit policies and what they set."""

    kind: Literal["tables"]
    name: str = Field("tables", description="a name for people, e.g. the workbook's title")
    description: str | None = None
    workbook: str | None = Field(None, description="the workbook (.xlsx), relative to this file, for tables "
                                 "that name no file")
    tables: list[TableSpec] = Field(min_length=1, description="one entry per sheet that is a decision table")


class Assurance(Node):
    """A property the whole policy set must hold: every proposal that satisfies ``for`` satisfies ``must``."""

    name: str = Field(pattern=RULE_ID, description="the property's name, shown in every finding")
    description: str | None = Field(None, description="what it guarantees, in the words of a PMO")
    for_: str = Field("true", alias="for", description="which proposals it speaks of: a condition over the fields, "
                      "derived values and the decision (decision, routes, fired), e.g. decision != \"reject\"")
    must: str = Field(description="what must then be true, over the same names, e.g. len(routes) > 0")


class AssurancesPolicy(Node):
    """Properties of the whole policy set, proved by `pmo validate` (a counterexample proposal when one fails)."""

    kind: Literal["assurances"]
    name: str = Field("assurances", description="a name for people")
    description: str | None = Field(None, description="what these properties are for")
    assurances: list[Assurance] = Field(min_length=1, description="each with a name, for: and must:")


PolicyFile = (IntakePolicy | StrategyPolicy | ScoringPolicy | PortfolioPolicy | GatesPolicy | HealthPolicy | Library
              | LookupPolicy | TablesPolicy | AssurancesPolicy | KpisPolicy)
KINDS: dict[str, type[Node]] = {"intake": IntakePolicy, "strategy": StrategyPolicy, "scoring": ScoringPolicy,
                                "portfolio": PortfolioPolicy, "gates": GatesPolicy, "health": HealthPolicy,
                                "library": Library, "lookup": LookupPolicy, "tables": TablesPolicy,
                                "assurances": AssurancesPolicy, "kpis": KpisPolicy}
