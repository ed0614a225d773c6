"""Project health: status reports in, earned value and earned schedule computed exactly, RAG rules applied.

    engine/health/status.py   status reports (CSV, XLSX, JSON, YAML) -> reports by project and date, error rows
    engine/health/evm.py      earned value, earned schedule and roll-ups, exact (fractions), rounded once
    engine/health/rules.py    the health policy's rules (compiled in engine/compile/health.py) on a back end
    engine/health/assess.py   each project rated at a status date by those rules; objective and portfolio
                              roll-ups
"""
