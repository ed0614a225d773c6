"""The public facade: load a policy set once, then decide many proposals.

    engine = Engine.load()                      # the reference policies shipped with the package
    decision = engine.evaluate({"id": "P-1", "title": "CRM", "budget": 300_000, ...})
    for d in engine.evaluate_many(rows): ...    # bad rows become decision == "error"; never an exception
"""
from __future__ import annotations

import copy
import datetime as dt
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from engine.backends import BACKENDS, make_backend
from engine.compile.health import DEFAULT_HEALTH
from engine.compile.policy import CompiledPolicy, usable_policy
from engine.compile.records import RecordReader
from engine.compile.scoring import reweighted
from engine.decision import Decision, RowError, Verdict
from engine.errors import (
    Diagnostic,
    DiagnosticSink,
    InputError,
    Location,
    PmoError,
    UsageError,
    did_you_mean,
    display_path,
)
from engine.expr.values import id_text
from engine.gates.review import (
    GateDecision,
    must_meet_backends,
    project_positions,
    project_record,
    read_project,
    review,
)
from engine.health.assess import HealthReport, ProjectHealth, assess
from engine.health.rules import health_backend
from engine.health.status import Report as StatusReport
from engine.health.status import StatusData, StatusGroups, read_status
from engine.intake.decide import Intake
from engine.io.profile import NO_PROFILE, InputProfile
from engine.io.readers import Row, read_proposals

# The portfolio stages load with the first portfolio method: networkx and scipy.optimize cost about a second
# at start-up, which intake (pmo evaluate, pmo validate) never uses (issue #15). Not a cycle: none of them
# imports this module.
if TYPE_CHECKING:
    from engine.authoring.explain import Explanation
    from engine.health.kpis import KpiReport, Period
    from engine.health.lessons import Lessons
    from engine.health.trend import HealthSeries, Kpi
    from engine.portfolio.conflicts import ConflictReport
    from engine.portfolio.model import Portfolio
    from engine.portfolio.schedule import Impact, Schedule
    from engine.portfolio.select import Revalue, SelectionReport
    from engine.report.build import Report
    from engine.report.health import HealthPage
    from engine.scoring.panel import Assessments
    from engine.scoring.ranking import Ranking
    from engine.store.log import Entry

PathLike = str | Path


DECIDE_CHUNK = 256  # proposals typed at a time by decide_plain (RecordReader.read_many)


class Engine:
    """A loaded, checked and compiled policy set. Thread-safe; load once, evaluate many."""

    def __init__(self, policy: CompiledPolicy, backend: str = "rete"):
        if backend not in BACKENDS:
            raise UsageError(f"unknown back end {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.policy = policy
        self.backend = backend
        self.warnings: list[Diagnostic] = []  # e.g. weights that were normalised, a CR above the limit
        self._intake = Intake(policy, make_backend(backend, policy))
        self._must_meet = must_meet_backends(policy.gates, backend) if policy.gates is not None else {}
        health = policy.health or DEFAULT_HEALTH  # no rules to build: the reference back end runs none
        self._health = health_backend(health, backend if health.rules else "reference")

    @classmethod
    def load(cls, path: PathLike | None = None, *, rules: Sequence[PathLike] = (), today: dt.date | None = None,
             backend: str = "rete") -> Engine:
        """Load a policy folder (None: the reference policies). Raises PolicyError listing every problem.

        ``rules``: extra rule-library folders, searched after the policy folder's own ``rules/``
        and before the built-in library. ``today``: the date ``today()`` means (default: now).
        ``backend``: "rete" (durable_rules) or "reference" (plain Python).
        """
        sink = DiagnosticSink()
        policy = usable_policy(path, rules, today, sink)
        engine = cls(policy, backend)
        engine.warnings = [d for d in sink.items if d.severity == "warning"]
        return engine

    @property
    def profile(self) -> InputProfile:
        """How input cells are read (number and date formats, value maps); see :mod:`engine.io.profile`."""
        return self._intake.reader.profile

    def with_profile(self, profile: InputProfile) -> Engine:
        """This engine, reading input cells as ``profile`` declares (the compiled policy is shared)."""
        engine = copy.copy(self)
        engine._intake = copy.copy(self._intake)
        engine._intake.reader = RecordReader(self.policy.fields, self.policy.strategy, profile)
        return engine

    def raw_value(self, proposal: Mapping[str, Any], name: str) -> Any:
        """A raw proposal's untyped value of field ``name`` (its column found as evaluation finds it)."""
        return self._intake.reader.raw(proposal, name)

    @property
    def policy_hash(self) -> str:
        return self.policy.policy_hash

    @property
    def today(self) -> dt.date:
        return self.policy.today

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in self.policy.rules]

    def evaluate(self, proposal: Mapping[str, Any], *, row: int | None = None, source: str | None = None) -> Decision:
        """Decide one proposal. Bad input gives ``decision == "error"``, never an exception."""
        return self._decide(proposal, row, source)[0].model()

    def evaluate_plain(self, proposal: Mapping[str, Any], *, row: int | None = None,
                       source: str | None = None) -> Verdict:
        """``evaluate`` as a plain record (engine.decision.Verdict: ``to_json()`` is the Decision's, ``.model()``
        the Decision), for a caller that only sends the decision on, such as pmo serve: no pydantic model made."""
        return self._decide(proposal, row, source)[0]

    def evaluate_read(self, proposal: Mapping[str, Any]) -> tuple[Verdict, dict[str, Any] | None]:
        """``evaluate_plain`` and the typed record it was decided on (None for an error), for a caller that logs
        the decision (pmo serve): the log's key is made from the record as read."""
        return self._decide(proposal, None, None)

    def evaluate_logged(self, proposal: Mapping[str, Any]) -> tuple[Decision, Entry]:
        """``evaluate``, and the decision log's entry for it as ``pmo serve`` logs the same proposal: its key is the
        service's ``decision_id``, and a proposal that reads the same (``" PRJ-1 "``, ``180000.0``) is the same entry.
        ``engine.store.DecisionLog(path).append([entry])`` logs it; ``pmo log`` and ``GET /v1/decisions/{key}`` show
        it, and appending it again adds nothing."""
        from engine.store.log import proposal_entry  # lazy: the store loads for a caller that logs, not for every one
        verdict, record = self._decide(proposal, None, None)
        return verdict.model(), proposal_entry(self, verdict, proposal, record=record)

    def evaluate_many(self, proposals: Iterable[Mapping[str, Any] | Row]) -> Iterator[Decision]:
        """Decide proposals lazily, one output per input, in order."""
        for number, item in enumerate(proposals, 1):
            yield self._decide_item(item, number)[0]

    def explain(self, proposal: Mapping[str, Any] | Row, *, row: int | None = None,
                source: str | None = None, assessments: Assessments | None = None) -> Explanation:
        """Why this decision: every rule's condition evaluated on the proposal (file:line, fired or not),
        derived values, the score breakdown, and verified counterfactuals (changes that would change it).
        ``assessments``: raters' scores; the proposal's panel criteria are combined and listed rater by rater."""
        ratings = None
        if assessments is not None:
            fields = proposal.data if isinstance(proposal, Row) else proposal
            ident = self.proposal_id(fields) if isinstance(fields, Mapping) else None  # an error row has none
            ratings = self.check_assessments(assessments).by_proposal().get(ident or "", {})
        from engine.authoring.explain import explain  # lazy: evaluate and validate never explain
        # the engine's own intake and back end: the same decision as evaluate()
        return explain(self._intake, proposal, row=row, source=source, ratings=ratings)

    def rank(self, proposals: Iterable[Mapping[str, Any] | Row], *, top: int | None = None,
             sensitivity: bool = False) -> Ranking:
        """Intake first, then score and order the proposals that pass (accept or review).

        Rejected proposals and error rows follow the ranked ones, with their reasons. ``top``: how
        many count as the top for sensitivity (default: the scoring policy's). ``sensitivity``: add,
        per proposal, the share of random weight perturbations that keep it in the top, and for the
        top ones the smallest single-weight change that drops them out.
        """
        return self.rank_of(list(self.decide_all(proposals)), top=top, sensitivity=sensitivity)

    def decide_all(self, proposals: Iterable[Mapping[str, Any] | Row]) -> Iterator[tuple[Decision, dict[str, Any] | None]]:
        """Each decision with the typed record it was made on (None for an error row), lazily, in order:
        the input of ``rank_of`` and ``report_of``."""
        for number, item in enumerate(proposals, 1):
            yield self._decide_item(item, number)

    def health(self, status: Iterable[PathLike] | StatusData | StatusGroups, *, as_of: dt.date | None = None,
               profile: InputProfile | None = None, sheet: str | None = None) -> HealthReport:
        """Each project's earned value, earned schedule and RAG rating at its latest status date (on or before
        ``as_of``), from status report files (CSV, XLSX, JSON, YAML; read with ``profile``) or reports already
        read (:func:`engine.health.read_status`, or a group of projects at a time: engine.store.history.StoredStatus),
        by the policy set's health policy (kind: health; without one, EAC is BAC / CPI and nothing is rated). Bad
        rows are ``report.errors``; raises InputError only when a file as a whole is unusable. See docs/health.md."""
        health = self.policy.health or DEFAULT_HEALTH
        if not isinstance(status, (StatusData, StatusGroups)):
            status = read_status(list(status), profile or InputProfile(), sheet, health.calendar)
        return assess(status, health, self._health, as_of)

    def rate_series(self, project: str, series: list[StatusReport], *, start: int = 0) -> Iterator[ProjectHealth]:
        """One project rated at each of its own status dates from ``series[start]`` on, each on its reports up to
        that date (``series``: the project's reports in date order), as ``health(as_of=that date)`` rates it. The
        portfolio history (engine/tasks/history.py) records these as the reports arrive."""
        from engine.health.assess import rate_series
        return rate_series(project, series, self.policy.health or DEFAULT_HEALTH, self._health, start)

    def health_series(self, status: Iterable[PathLike] | StatusData, *, until: dt.date | None = None,
                      profile: InputProfile | None = None, sheet: str | None = None) -> HealthSeries:
        """Every project rated at every status date (up to ``until``): one HealthReport per date, each as
        ``health(status, as_of=date)`` gives it."""
        # lazy: this stage loads with the method's first use, not with every Engine (tests/test_startup.py)
        from engine.health.trend import health_series
        health = self.policy.health or DEFAULT_HEALTH
        if not isinstance(status, StatusData):
            status = read_status(list(status), profile or InputProfile(), sheet, health.calendar)
        return health_series(status, health, self._health, until)

    def health_page(self, status: Iterable[PathLike] | StatusData | HealthSeries, *,
                    portfolio: Portfolio | PathLike | Mapping[str, Any] | None = None, until: dt.date | None = None,
                    kpis: Sequence[Any] | None = None, profile: InputProfile | None = None,
                    sheet: str | None = None, entries: Sequence[Mapping[str, Any]] | None = None,
                    selection: Mapping[str, Any] | None = None, selection_source: str = "selection") -> HealthPage:
        """The board report's health page (engine/report/health.py): RAG grid, S-curves, KPI tiles and, with a
        ``portfolio``, the capacity heat map and the Gantt chart with the critical path. ``kpis``: the tiles
        (default: the policy set's declared KPIs over the status reports, as :meth:`kpis` computes them, at each
        status date; without a KPI policy :func:`engine.health.trend.status_kpis`). ``entries`` (the decision
        log's, as ``DecisionLog.query()`` gives them) add the KPIs over intake and gate decisions, and
        ``selection`` (a ``pmo select`` result) those over the selection, as ``pmo kpi --log --selection`` has them."""
        # lazy: this stage loads with the method's first use, not with every Engine (tests/test_startup.py)
        from engine.health.trend import HealthSeries as Series
        from engine.report.health import build_health_page
        health = self.policy.health or DEFAULT_HEALTH
        if isinstance(status, Series):
            series, data = status, None
        else:
            data = status if isinstance(status, StatusData) else read_status(list(status), profile or InputProfile(),
                                                                             sheet, health.calendar)
            series = self.health_series(data, until=until)
        projects = _portfolio(portfolio) if portfolio is not None else None
        if kpis is None:
            kpis = self.health_tiles(series, data, entries=entries, selection=selection,
                                     selection_source=selection_source)
        return build_health_page(series, health, kpis, portfolio=projects, limits=self.policy.portfolio)

    def health_tiles(self, series: HealthSeries, data: StatusData | None, *,
                     entries: Sequence[Mapping[str, Any]] | None = None, selection: Mapping[str, Any] | None = None,
                     selection_source: str = "selection") -> list[Kpi]:
        """The health page's KPI tiles (:meth:`health_page`'s ``kpis`` default) of a series already rated from
        ``data``: the declared KPIs over the status reports (and the decisions and selection given), at each status
        date (without a KPI policy, or without ``data``, the status reports' own: engine.health.trend.status_kpis).
        The series is not rated again, so new decisions cost the tiles only."""
        from engine.health.trend import status_kpis
        if self.policy.kpis is None or data is None:
            return status_kpis(series)
        from engine.health.kpis import History, tiles
        history = History(data, self.policy.health or DEFAULT_HEALTH, self._health,
                          [dict(e) for e in entries or ()], dict(selection) if selection else None, selection_source)
        history.adopt(series.reports)  # the series rated every status date already
        return tiles(self.policy.kpis, history, series.dates, decisions=entries is not None)

    def kpis(self, status: Iterable[PathLike] | StatusData | StatusGroups = (), *, entries: Sequence[Mapping[str, Any]] = (),
             selection: Mapping[str, Any] | None = None, selection_source: str = "selection",
             period: Period | None = None, periods: int = 4) -> KpiReport:
        """The policy set's KPIs (kind: kpis) at ``period`` (engine.health.kpis.Period; default: the quarter of the
        latest report or decision) and the ``periods - 1`` before it, over the status reports (files, StatusData,
        or a group of projects at a time: engine.store.history.StoredStatus), the decision log's ``entries``
        (DecisionLog.query()) and a ``pmo select`` result."""
        from engine.health.kpis import History, evaluate_kpis, period_of, periods_until
        if self.policy.kpis is None:
            raise PmoError([Diagnostic("no_kpis", "this policy set declares no KPIs", hint="add a file with 'kind: kpis'")])
        health = self.policy.health or DEFAULT_HEALTH
        if not isinstance(status, (StatusData, StatusGroups)):
            status = read_status(list(status), InputProfile(), None, health.calendar)
        logged = cast("list[dict[str, Any]]", list(entries))  # History only reads them (.get), as Mappings
        history = History(status, health, self._health, logged, dict(selection) if selection else None,
                          selection_source)
        if period is None:
            latest = history.latest()
            if latest is None:
                return evaluate_kpis(self.policy.kpis, history, [])
            period = period_of(latest, True)
        return evaluate_kpis(self.policy.kpis, history, periods_until(period, periods))

    def lessons(self, status: Iterable[PathLike] | StatusData, *, proposals: Iterable[PathLike] | None = None,
                gates: Iterable[Mapping[str, Any]] = (), as_of: dt.date | None = None,
                profile: InputProfile | None = None) -> Lessons:
        """Lessons learned (engine/health/lessons.py): the projects that finished (closed or killed) by their
        status reports, their intake score from ranking ``proposals`` (files), their ``gates`` (decision log
        entries), and Spearman's rank correlation of score against realised benefit / cost and against CPI."""
        # lazy: this stage loads with the method's first use, not with every Engine (tests/test_startup.py)
        from engine.health.lessons import lessons
        health = self.policy.health or DEFAULT_HEALTH
        if not isinstance(status, StatusData):
            status = read_status(list(status), profile or InputProfile(), None, health.calendar)
        ranking = None
        if proposals is not None:
            rows = (row for path in proposals for row in read_proposals(path))
            ranking = self.rank(rows)
        return lessons(status, self.health(status, as_of=as_of), ranking, gates)

    def rank_of(self, decided: list[tuple[Decision, Mapping[str, Any] | None]], *, top: int | None = None,
                sensitivity: bool = False, assessments: Assessments | None = None) -> Ranking:
        """The ranking of decisions already made (see ``decide_all``). ``assessments``: raters' scores for the
        panel criteria (:func:`engine.scoring.panel.read_assessments`); the ratings that cannot be used are the
        ranking's ``assessment_errors``."""
        if self.policy.scoring is None:
            raise PmoError([Diagnostic("no_scoring", "this policy set has no scoring policy",
                                       hint="add a file with 'kind: scoring'")])
        ratings = usable = None
        if assessments is not None:
            usable = self.check_assessments(assessments, {d.id for d, _ in decided if d.id is not None})
            ratings = usable.by_proposal()
        # lazy: ranking loads with the first method that ranks (pmo evaluate and pmo validate do not: issue #15)
        from engine.scoring.ranking import build_model_ranking, build_ranking
        models = self.policy.scoring_models
        if len(models) > 1 or (models and models[0].condition is not None):  # each model ranks its own pool
            ranking = build_model_ranking(models, decided, self.policy_hash, self.today.isoformat(), top, sensitivity,
                                          ratings)
        else:
            ranking = build_ranking(self.policy.scoring, decided, self.policy_hash, self.today.isoformat(), top,
                                    sensitivity, ratings)
        ranking.warnings = [str(w) for w in self.warnings]
        if usable is not None:
            ranking.assessment_errors = usable.errors
        return ranking

    def check_assessments(self, assessments: Assessments, proposals: set[str] | None = None) -> Assessments:
        """The ratings the scoring policy's panel criteria can combine; the others as error rows (``proposals``:
        the ids in the input, so a rating of an id that is not there is one)."""
        # lazy: this stage loads with the method's first use, not with every Engine (tests/test_startup.py)
        from engine.scoring.panel import checked
        criteria = [c for m in self.policy.scoring_models for c in m.scoring.criteria] or \
            (self.policy.scoring.criteria if self.policy.scoring is not None else [])
        return checked(assessments, criteria, proposals)

    def report(self, proposals: Iterable[Mapping[str, Any] | Row], *, top: int | None = None,
               title: str | None = None, portfolio: Portfolio | PathLike | Mapping[str, Any] | None = None,
               frontier: int = 0) -> Report:
        """The board report's content (``render``/``write_report`` in :mod:`engine.report.build` make the HTML):
        KPIs, shares by objective, rule hits, the ranking (when there is a scoring policy) and each decision.
        With a ``portfolio``: its conflicts, its dependency graph and, with ``frontier`` > 0, the efficient
        frontier at that many budget levels."""
        decided: list[tuple[Decision, Mapping[str, Any] | None]] = list(self.decide_all(proposals))
        return self.report_of(decided, top=top, title=title, portfolio=portfolio, frontier=frontier)

    def report_of(self, decided: list[tuple[Decision, Mapping[str, Any] | None]], *, top: int | None = None,
                  title: str | None = None, portfolio: Portfolio | PathLike | Mapping[str, Any] | None = None,
                  frontier: int = 0, ranking: Ranking | None = None, conflicts: ConflictReport | None = None,
                  health: HealthPage | None = None) -> Report:
        """The report of decisions already made (see ``decide_all``); ``ranking`` and ``conflicts``: ones already
        made of them and of the portfolio; ``health``: a health page (:meth:`health_page`) to include."""
        if ranking is None and self.policy.scoring is not None:
            ranking = self.rank_of(decided, top=top)
        listed, points, svg = [], [], None
        if portfolio is not None:
            # lazy: the portfolio stages (networkx, scipy) load with the first portfolio method
            from engine.portfolio.export import svg_text
            projects = _portfolio(portfolio)
            found = conflicts or self.conflicts(projects)
            listed = found.to_json()["conflicts"]
            svg = svg_text(projects, found)
            if frontier:
                points = self.select(projects, frontier=frontier, time_limit=10.0).frontier
        # lazy: the report loads with the first report (issue #15)
        from engine.report.build import build_report
        report = build_report(self.policy, decided, ranking, title=title, conflicts=listed, frontier=points,
                              graph_svg=svg)
        report.health = health
        return report

    def proposal_id(self, proposal: Mapping[str, Any]) -> str | None:
        """A raw proposal's id as text (its id column found as evaluation finds it), without deciding it."""
        return (id_text(self._intake.reader.raw(proposal, self.policy.id_field)) or "").strip() or None  # spaces: no id

    def header_problems(self, columns: Iterable[str], *, required: bool = True) -> list[str]:
        """Warnings about an input file's columns: a misspelt field name (the column would be ignored), and
        with ``required`` a required field with no column. Empty when the columns look right."""
        return self._intake.reader.header_problems(columns, required)

    def misspelt(self, keys: Iterable[str]) -> dict[str, str]:
        """The keys of a proposal that are no field of the policy but are spelt like one it lacks, each with its
        hint (``{"budjet": "did you mean 'budget'?"}``): the decision is made without them."""
        return self._intake.reader.misspelt(keys)

    def record_of(self, item: Mapping[str, Any] | Row) -> dict[str, Any] | None:
        """The typed record (fields and derived values) of a proposal; None if it is not a usable row."""
        data = item.data if isinstance(item, Row) else item
        if isinstance(item, Row) and item.error is not None or not isinstance(data, Mapping):
            return None
        try:
            return self._intake.record(data)
        except Exception:  # noqa: BLE001 - the decision already says what is wrong with the row
            return None

    def _decide_item(self, item: Mapping[str, Any] | Row, number: int) -> tuple[Decision, dict[str, Any] | None]:
        """A proposal, or a Row from a reader (which may already be an error row)."""
        verdict, record = self._plain_item(item, number)
        return verdict.model(), record

    def decide_plain(self, proposals: Iterable[Mapping[str, Any] | Row]) -> Iterator[tuple[Verdict, dict[str, Any] | None]]:
        """``decide_all`` with each decision as a plain record (engine.decision.Verdict; ``.model()`` is the
        Decision): the batch path, which formats and logs decisions without a pydantic model per row.
        The proposals are typed DECIDE_CHUNK at a time (RecordReader.read_many: by columns, the same records
        and errors as one by one); a proposal is read ahead at most that far, and the rows read before a
        failing read are decided before its exception is raised again."""
        items, number = iter(proposals), 0
        while True:
            chunk: list[Mapping[str, Any] | Row] = []
            failure: BaseException | None = None
            try:
                for item in items:
                    chunk.append(item)
                    if len(chunk) == DECIDE_CHUNK:
                        break
            except BaseException as exc:  # noqa: BLE001 - raised again once the rows before it are decided
                failure = exc
            typed = self._typed(chunk)
            for item, record in zip(chunk, typed):
                number += 1
                if record.__class__ is dict and item.__class__ is Row:  # a clean row, typed: the usual one
                    yield self._decide(item.data, item.row, item.source, record)
                else:
                    yield self._plain_item(item, number, record)
            if failure is not None:
                raise failure
            if len(chunk) < DECIDE_CHUNK:
                return

    def _plain_rows(self, rows: Iterable[Row]) -> Iterator[tuple[Row, Verdict, dict[str, Any] | None]]:
        """(row, decision, typed record) of each row read, as ``decide_plain`` gives them (typed DECIDE_CHUNK at a
        time): the batch path of one process (engine.tasks.evaluate)."""
        read: deque[Row] = deque()

        def kept() -> Iterator[Row]:
            for row in rows:
                read.append(row)
                yield row
        for decision, record in self.decide_plain(kept()):
            yield read.popleft(), decision, record

    def _typed(self, chunk: list[Mapping[str, Any] | Row]) -> list[Any]:
        """The typed record (or the exception typing raised) of each clean proposal of a chunk; None for the
        others (error rows, values that are not mappings), and for all if typing the chunk failed."""
        at, raws = [], []
        for index, item in enumerate(chunk):
            data = item.data if isinstance(item, Row) and item.error is None else item
            if data.__class__ is dict or isinstance(data, Mapping):  # a read row's dict: no ABC check a row
                at.append(index)
                raws.append(data)
        typed: list[Any] = [None] * len(chunk)
        try:
            records = self._intake.records(raws)
        except Exception:  # noqa: BLE001 - each is typed again on its own, and says what went wrong
            return typed
        for index, record in zip(at, records):
            typed[index] = record
        return typed

    def _plain_item(self, item: Mapping[str, Any] | Row, number: int,
                    typed: Any = None) -> tuple[Verdict, dict[str, Any] | None]:
        """``typed``: the item's typed record, or the exception typing it raised (None: typed here)."""
        if not isinstance(item, Row):
            return self._decide(item, number, None, typed)
        if item.error is not None:
            return self._intake.error_plain([item.error], item.data, row=item.row, source=item.source), None
        return self._decide(item.data, item.row, item.source, typed)

    def _decide(self, proposal: Any, row: int | None, source: str | None,
                typed: Any = None) -> tuple[Verdict, dict[str, Any] | None]:
        """The decision and the typed record it was made on (None for an error row). Never raises."""
        if proposal.__class__ is not dict and not isinstance(proposal, Mapping):  # a dict: no ABC check a row
            return self._intake.error_plain([RowError(row=row, code="not_an_object",
                                                      message=f"expected a mapping of fields, got "
                                                      f"{type(proposal).__name__}")], row=row, source=source), None
        try:
            return self._intake.decide_plain(proposal, row, source, typed)
        except Exception as exc:  # noqa: BLE001 - one bad proposal must never stop a batch
            return self._intake.error_plain([RowError(row=row, code="internal_error",
                                                      message=f"internal error ({type(exc).__name__}: {exc}); "
                                                      "please report it")], proposal, row, source), None

    def conflicts(self, portfolio: Portfolio | PathLike | Mapping[str, Any]) -> ConflictReport:
        """Every conflict in a portfolio: cycles, unknown references, broken prerequisites, priority
        inversions, schedule violations, exclusions and inclusions, over-allocation, budget over-runs."""
        # lazy: the portfolio stages (networkx, scipy) load with the first portfolio method
        from engine.portfolio.conflicts import find_conflicts
        return find_conflicts(_portfolio(portfolio), self.policy.portfolio)

    def schedule(self, portfolio: Portfolio | PathLike | Mapping[str, Any]) -> Schedule:
        """Critical path method on the projects that go ahead. Raises InputError on cycles or missing durations."""
        # lazy: the portfolio stages (networkx, scipy) load with the first portfolio method
        from engine.portfolio.schedule import schedule
        return schedule(_portfolio(portfolio), self.policy.portfolio)

    def impact(self, portfolio: Portfolio | PathLike | Mapping[str, Any], *, cancel: str | None = None,
               delay: tuple[str, float] | None = None) -> Impact:
        """What cancelling a project (its transitive dependents) or delaying it (the slip downstream) does."""
        if (cancel is None) == (delay is None):
            raise ValueError("give either cancel=ID or delay=(ID, amount)")
        # lazy: the portfolio stages (networkx, scipy) load with the first portfolio method
        from engine.portfolio.schedule import impact
        return impact(_portfolio(portfolio), self.policy.portfolio, cancel=cancel, delay=delay)

    def select(self, portfolio: Portfolio | PathLike | Mapping[str, Any], *, budget: float | Mapping[str, float] |
               None = None, frontier: int = 0, scenarios: Any = None, time_limit: float = 30.0) -> SelectionReport:
        """The most valuable set of projects within budget, capacity, dependencies, exclusions, inclusions,
        forced choices and balance rules (exact MILP), with greedy baselines, an optional efficient frontier
        of ``frontier`` budget levels, and what-if ``scenarios`` (a list, a mapping or a YAML/JSON path).
        HiGHS may print a debug line to standard output on some problems; ``pmo select`` hides it."""
        # lazy: the portfolio stages (networkx, scipy) load with the first portfolio method
        from engine.portfolio.model import Portfolio
        from engine.portfolio.select import scenarios_from, select
        projects = copy.deepcopy(portfolio) if isinstance(portfolio, Portfolio) else _portfolio(portfolio)
        if isinstance(scenarios, (str, Path)):
            scenarios = yaml.safe_load(Path(scenarios).read_text(encoding="utf-8"))
        revalue = self._score_proposals(projects)
        try:
            parsed = scenarios_from(scenarios) if scenarios is not None else []
            limits = budget_override(budget)
            return select(projects, self.policy.portfolio, budget=limits, frontier_points=frontier,
                          scenarios=parsed, time_limit=time_limit, revalue=revalue)
        except ValueError as exc:
            raise InputError([Diagnostic("bad_selection_input", str(exc))]) from None

    def _score_proposals(self, projects: Portfolio) -> Revalue | None:
        """Projects (select's copy of the caller's) that carry their proposal's fields and no value get their
        priority score as value (and are out if intake rejects them). Returns the function that re-scores them
        with other weights."""
        scoring = self.policy.scoring
        carriers = [p for p in projects if p.proposal is not None and p.value is None]
        if not carriers or scoring is None:
            return None
        # lazy: the portfolio stages load with the first portfolio method
        from engine.portfolio.model import intake_rejection
        from engine.scoring.ranking import build_ranking
        decided: list[tuple[Decision, Mapping[str, Any] | None]] = [(verdict.model(), record) for verdict, record in
                   (self._decide({self.policy.id_field: p.id, **(p.proposal or {})}, None, None) for p in carriers)]
        for project, (decision, _record) in zip(carriers, decided):
            if decision.decision in ("reject", "error"):
                project.status = "rejected"
                project.rejected_at_intake = intake_rejection(decision)  # said in the selection's left-out list

        def scores(weights: Mapping[str, float] | None = None) -> dict[str, float]:
            compiled = scoring if not weights else reweighted(scoring, weights)
            ranking = build_ranking(compiled, decided, self.policy_hash, self.today.isoformat())
            return {e.id: e.score for e in ranking.entries if e.score is not None and e.id is not None}  # by project id

        first = scores()
        for project in carriers:
            project.value = first.get(project.id, 0.0)
        return scores

    def _record_reader(self) -> RecordReader:
        """The reader of project records' fields: the intake fields, but no input profile (a record is YAML or
        JSON, not an export: a value that reads two ways is to be written one way, and messages say so)."""
        reader = self.__dict__.get("_records")
        if reader is None:
            reader = self.__dict__["_records"] = RecordReader(self.policy.fields, self.policy.strategy, NO_PROFILE)
        return reader

    def review_gate(self, project: Mapping[str, Any] | PathLike, gate: str, *,
                    override: Mapping[str, Any] | None = None) -> GateDecision:
        """Decide a project at a gate: go, kill, hold or recycle, with the criteria that decided it, the
        approvers who decide for this project, and any override (a role with the right and a justification)."""
        gates = self.policy.gates
        if gates is None:
            raise PmoError([Diagnostic("no_gates", "this policy set has no gate policy",
                                       hint="add a file with 'kind: gates'")])
        if gate not in gates.gates:
            raise PmoError([Diagnostic("unknown_gate", f"'{gate}' is not a gate",
                                       hint=did_you_mean(gate, gates.gates) or f"gates: {', '.join(gates.gates)}")])
        source = str(project) if isinstance(project, (str, Path)) else "<memory>"
        data = read_project(project) if isinstance(project, (str, Path)) else project
        reading = (data, gates, self._record_reader(), self.policy.derived, self.policy.id_field, source)
        try:
            record = project_record(*reading, today=self.today)
        except InputError:
            if not isinstance(project, (str, Path)):
                raise
            # positions cost a second parse of the file: only a record with problems needs them
            record = project_record(*reading, project_positions(project), today=self.today)
        compiled = gates.gates[gate]
        if record.stage != compiled.from_stage:
            fitting = [name for name, other in gates.gates.items() if other.from_stage == record.stage]
            raise PmoError([Diagnostic(
                "wrong_stage", f"{record.id} is in stage '{record.stage}', but gate {gate} is for projects in "
                f"'{compiled.from_stage}'", Location(display_path(source)) if source != "<memory>" else None,
                f"review it at gate {' or '.join(fitting)}" if fitting
                else f"no gate takes projects in '{record.stage}'; check the record's stage")])
        return review(compiled, self._must_meet[gate], record, self.policy_hash, self.today.isoformat(),
                      override)

    def write_graph(self, portfolio: Portfolio | PathLike | Mapping[str, Any], path: PathLike) -> str:
        """Draw the dependency graph (.dot, .graphml or .svg by suffix), conflicts highlighted; returns the format."""
        # lazy: the portfolio stages (networkx, scipy) load with the first portfolio method
        from engine.portfolio.export import write_graph
        projects = _portfolio(portfolio)
        return write_graph(projects, self.conflicts(projects), Path(path))

    def evaluate_files(self, paths: Iterable[PathLike]) -> Iterator[Decision]:
        """Decide every proposal in each file (CSV, JSON, JSONL, YAML). Raises InputError for an unreadable file."""
        for path in paths:
            yield from self.evaluate_many(read_proposals(path))


def _portfolio(value: Portfolio | PathLike | Mapping[str, Any]) -> Portfolio:
    # lazy: the portfolio stages load with the first portfolio method (issue #15)
    from engine.portfolio.model import Portfolio, portfolio_from, read_portfolio
    if isinstance(value, Portfolio):
        return value
    if isinstance(value, (str, Path)):
        return read_portfolio(value)
    return portfolio_from(value)


def budget_override(budget: float | Mapping[str, float] | None) -> dict[str, float] | None:
    if budget is None:
        return None
    if isinstance(budget, Mapping):
        return {str(k): float(v) for k, v in budget.items()}
    return {"total": float(budget)}
