"""Project health: status reports in, earned value and earned schedule computed exactly, RAG rules applied.

    engine/health/status.py   status reports (CSV, XLSX, JSON, YAML) -> reports by project and date, error rows
    engine/health/evm.py      earned value, earned schedule and roll-ups, exact (fractions), rounded once
    engine/health/assess.py   each project rated at a status date (the health policy, compiled in
                              engine/compile/health.py, on a rules back end); objective and portfolio roll-ups
"""
from engine.compile.health import DEFAULT_HEALTH, HEALTH_TYPES, CompiledHealth, compile_health
from engine.health.assess import HealthReport, ProjectHealth, Rollup, assess, health_backend
from engine.health.evm import VARIANTS, Figures, Inputs, earned_schedule, earned_value, rollup
from engine.health.status import STATUS_FIELDS, ErrorRow, Report, StatusData, linear_pv, read_status

__all__ = ["HealthReport", "ProjectHealth", "Rollup", "assess", "health_backend", "VARIANTS", "Figures", "Inputs", "earned_schedule",
           "earned_value", "rollup", "DEFAULT_HEALTH", "HEALTH_TYPES", "CompiledHealth", "compile_health",
           "STATUS_FIELDS", "ErrorRow", "Report", "StatusData", "linear_pv", "read_status"]
