"""The health policy's rules on a rules back end: what `pmo validate` builds to check them, and what rating runs.

Apart from engine/health/assess.py (earned value, the status reports) so that validating a policy set does not
load the rating machinery (issue #15: start-up)."""
from __future__ import annotations

from engine.backends import Backend, make_backend
from engine.backends.reference import Rules
from engine.compile.health import HEALTH_TYPES, CompiledHealth


def health_backend(health: CompiledHealth, name: str) -> Backend:
    """The health rules built for a back end (rete or reference). The caller owns it: the compiled policy is
    shared, as the gates' must-meet back ends are (engine/gates/review.py)."""
    return make_backend(name, Rules(health.rules, HEALTH_TYPES, health.file))
