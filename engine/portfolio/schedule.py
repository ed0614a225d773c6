"""The roadmap: critical path method on the project-level network, delivery order, and impact."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from engine.errors import Diagnostic, InputError, Location
from engine.portfolio import graph as g
from engine.portfolio.model import UNIT_DAYS, Portfolio, Project
from engine.portfolio.policy import Limits


@dataclass
class Schedule:
    duration: float
    unit: str
    critical_paths: list[list[str]]
    activities: dict[str, g.Activity]
    order: list[str]  # a delivery order that respects every dependency
    notes: list[str] = field(default_factory=list)  # e.g. dependencies on unknown projects, left out

    @property
    def critical_path(self) -> list[str]:
        return self.critical_paths[0] if self.critical_paths else []

    def to_json(self) -> dict:
        return {"duration": self.duration, "unit": self.unit, "critical_path": self.critical_path,
                "critical_paths": self.critical_paths, "order": self.order, "notes": self.notes,
                "activities": {n: {"es": a.es, "ef": a.ef, "ls": a.ls, "lf": a.lf, "float": a.float}
                               for n, a in self.activities.items()}}


@dataclass
class Impact:
    project: str
    action: str  # cancel | delay
    delay: float = 0.0
    affected: dict[str, float] = field(default_factory=dict)  # dependent -> slip of its finish (cancel: 0)
    duration_before: float | None = None
    duration_after: float | None = None
    unit: str = "days"

    def to_json(self) -> dict:
        return {"project": self.project, "action": self.action, "delay": self.delay, "unit": self.unit,
                "affected": [{"id": k, "slip": v} for k, v in self.affected.items()],
                "duration_before": self.duration_before, "duration_after": self.duration_after}


def _duration(p: Project, unit: str) -> float | None:
    if p.duration is not None:
        return p.duration
    if p.start is not None and p.finish is not None and isinstance(p.start, dt.date) == isinstance(p.finish, dt.date):
        if isinstance(p.start, dt.date):
            return (p.finish - p.start).days / UNIT_DAYS[unit]  # type: ignore[operator]
        return p.finish - p.start  # type: ignore[operator]
    return None


def _network(portfolio: Portfolio, limits: Limits):
    """The projects that go ahead (not rejected, cancelled or unfunded), their durations and graph."""
    live = Portfolio({k: p for k, p in portfolio.projects.items() if not p.out}, portfolio.source)
    durations = {p.id: _duration(p, limits.duration_unit) for p in live}
    missing = sorted(k for k, d in durations.items() if d is None)
    if missing:
        raise InputError([Diagnostic("missing_duration", f"no duration for {', '.join(missing[:10])}"
                                     + (" ..." if len(missing) > 10 else ""), Location(portfolio.source),
                                     "give each project a duration, or a start and a finish")])
    graph = g.build(live)
    if not g.is_acyclic(graph):
        cycles = g.cycles(graph, limit=3)
        shown = "; ".join(" -> ".join(c + c[:1]) for c in cycles.listed)
        raise InputError([Diagnostic("cycle", f"cannot schedule: dependency cycles ({shown})",
                                     Location(portfolio.source), "run 'pmo conflicts' and break the cycles")])
    return live, durations, graph


def schedule(portfolio: Portfolio, limits: Limits) -> Schedule:
    live, durations, graph = _network(portfolio, limits)
    total, activities = g.critical_path_method(graph, durations)  # type: ignore[arg-type]
    paths = g.critical_paths(graph, activities)
    order = g.delivery_order(graph, {p.id: p.rank for p in live})
    notes = [f"{p.id} depends on '{d.id}', which is not in the portfolio: left out of the schedule"
             for p in live for d in p.depends_on if d.id not in portfolio.projects]
    return Schedule(total, limits.duration_unit, paths, activities, order, notes)


def impact(portfolio: Portfolio, limits: Limits, cancel: str | None = None,
           delay: tuple[str, float] | None = None) -> Impact:
    target = cancel if cancel is not None else delay[0] if delay else None
    if target is None or target not in portfolio.projects:
        raise InputError([Diagnostic("unknown_project", f"'{target}' is not a project in this portfolio",
                                     Location(portfolio.source))])
    if cancel is not None:
        graph = g.build(portfolio)
        affected = sorted(g.dependents(graph, cancel))
        return Impact(cancel, "cancel", affected={k: 0.0 for k in affected}, unit=limits.duration_unit)
    assert delay is not None
    if not (0 <= delay[1] < float("inf")):
        raise InputError([Diagnostic("bad_delay", f"a delay must be a finite number of {limits.duration_unit} "
                                     f"from 0 up, not {delay[1]:g}", Location(portfolio.source))])
    live, durations, graph = _network(portfolio, limits)
    if target not in live.projects:
        raise InputError([Diagnostic("unknown_project", f"'{target}' does not go ahead, so it cannot be delayed",
                                     Location(portfolio.source))])
    total, activities = g.critical_path_method(graph, durations)  # type: ignore[arg-type]
    slips = g.slip(graph, activities, durations, target, delay[1])  # type: ignore[arg-type]
    after = max((activities[n].ef + slips.get(n, 0.0) for n in activities), default=0.0)
    ordered = dict(sorted(slips.items(), key=lambda kv: (-kv[1], kv[0])))
    return Impact(target, "delay", delay[1], ordered, total, after, limits.duration_unit)
