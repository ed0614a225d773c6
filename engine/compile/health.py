"""The health policy (``kind: health``): RAG rules over status and earned value fields, compiled like intake rules.

Each rule's ``when`` is parsed and type-checked by the expression language (engine/expr) against the fields
a health record has (:data:`HEALTH_TYPES`); engine/health/assess.py runs the rules on either back end (rete
or reference), as intake rules and gate criteria are run. Every problem is a located diagnostic.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.compile.portfolio import Calendar
from engine.errors import DiagnosticSink, Location, did_you_mean
from engine.expr.check import check
from engine.expr.nodes import BOOL, DATE, NUMBER, STRING, Node
from engine.expr.parse import ExprError, parse
from engine.policy.models import HealthPolicy, PortfolioPolicy

WEEKDAYS = Calendar.of(frozenset(range(5)), ())  # Monday to Friday, when no policy declares a calendar
RATINGS = ("green", "amber", "red")  # worst last: the worst rating of the rules that fire wins
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# What a health rule can read: the status report's columns, the earned value and earned schedule figures, and
# a few facts derived from them. Money and ratios are numbers; times (es, sv_t, ieac_t, ...) are in days.
STATES = ("active", "on-hold", "closed", "killed")  # a status report's state (engine/health/status.py)
HEALTH_TYPES: dict[str, str] = {
    **{name: STRING for name in ("project", "title", "objective", "state", "note")},
    **{name: DATE for name in ("status_date", "planned_start", "planned_finish", "forecast_finish")},
    **{name: NUMBER for name in (
        "bac", "pv", "ev", "ac", "sv", "cv", "spi", "cpi", "eac", "etc", "vac", "tcpi", "tcpi_eac",
        "eac_cpi", "eac_remaining", "eac_cpi_spi", "eac_bottom_up", "percent_complete", "es", "at", "pd",
        "sv_t", "spi_t", "ieac_t", "milestones_planned", "milestones_reached", "milestones_missed",
        "benefits_planned", "benefits_realised", "benefits_ratio", "risks", "issues", "reports",
        "report_age_days", "tasks")},
}
# What the figures can be, for lint (a rule testing cpi < 0 can never fire): every input is at least 0, EV and
# PV at most BAC, so these are at least 0 too; percent complete is at most 1.
NON_NEGATIVE = ("bac", "pv", "ev", "ac", "etc", "spi", "cpi", "tcpi", "tcpi_eac", "eac", "eac_cpi", "eac_remaining",
                "eac_cpi_spi", "eac_bottom_up", "percent_complete", "es", "spi_t", "ieac_t", "milestones_planned",
                "milestones_reached", "milestones_missed", "benefits_planned", "benefits_realised", "benefits_ratio",
                "risks", "issues", "reports", "report_age_days", "tasks")
AT_MOST = {"percent_complete": 1}


@dataclass(frozen=True)
class CompiledHealthRule:
    """A compiled health rule. ``source``: where it is (diagnostics); ``where``: 'policies/health.yaml:12'."""

    id: str
    rating: str
    reason: str
    escalate_to: str | None
    condition: Node
    source: Location
    where: str


@dataclass(frozen=True)
class CompiledHealth:
    eac: str
    default: str | None
    rules: list[CompiledHealthRule]
    calendar: Calendar = WEEKDAYS
    file: str = "<memory>"
    name: str = "health"


DEFAULT_HEALTH = CompiledHealth(eac="cpi", default=None, rules=[])  # no health policy: BAC/CPI, nothing rated


def compile_health(policy: HealthPolicy, today: dt.date, sink: DiagnosticSink,
                   name: Callable[[str], str] = str, portfolio: PortfolioPolicy | None = None) -> CompiledHealth | None:
    """``name``: a file's machine-independent name, as ratings cite it. ``portfolio``: its calendar is the
    default one."""
    before = len(sink.errors)
    seen: dict[str, Location] = {}
    rules: list[CompiledHealthRule] = []
    for rule in policy.rules:
        at = rule.loc("id")
        if rule.id in seen:
            sink.add("duplicate_rule", f"rule id '{rule.id}' is already used at {seen[rule.id]}", at,
                     "give each rule its own id")
            continue
        seen[rule.id] = at
        for placeholder in PLACEHOLDER.findall(rule.reason):
            if placeholder not in HEALTH_TYPES:
                sink.add("unknown_field", f"reason mentions '{{{placeholder}}}', which is not a health field",
                         rule.loc("reason"), did_you_mean(placeholder, HEALTH_TYPES))
        try:
            condition = check(parse(rule.when), HEALTH_TYPES, today, want=BOOL)
        except ExprError as exc:
            sink.add(exc.code, exc.message, rule.loc("when").shifted(exc.offset), exc.hint or _fields_hint(exc))
            continue
        rules.append(CompiledHealthRule(rule.id, rule.rating, rule.reason, rule.escalate_to, condition, at,
                                 f"{name(at.file)}:{at.line}"))
    for index, raw in policy.set_aside("rules").items():  # a rule with a schema error: still check its condition
        when = raw.get("when") if isinstance(raw, dict) else None
        if isinstance(when, str):
            try:
                check(parse(when), HEALTH_TYPES, today, want=BOOL)
            except ExprError as exc:
                sink.add(exc.code, exc.message, policy.loc("rules", index, "when").shifted(exc.offset), exc.hint)
    declared = policy.calendar or (portfolio.calendar if portfolio is not None else None)
    calendar = WEEKDAYS if declared is None else Calendar.of(
        frozenset(("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(d) for d in declared.working_days),
        declared.holidays)
    if len(sink.errors) > before:
        return None
    return CompiledHealth(policy.eac, policy.default, rules, calendar, policy.loc().file, policy.name)


def _fields_hint(exc: ExprError) -> str | None:
    if exc.code == "unknown_field":
        return "health fields: " + ", ".join(sorted(HEALTH_TYPES))
    return None
