"""Checking a policy set: load, compile, build it on a back end, lint it, prove its assurances (pmo validate).

Apart from the Engine (engine/api.py, which re-exports these) so that validating loads the compile stages, the
linter and the rules back ends only, not the run halves of the stages (gates, status reports, the readers of
proposals): issue #15, start-up. The proofs (and z3) load only when a policy has assurances.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.authoring.lint import lint_policy
from engine.backends import make_backend
from engine.compile.policy import CompiledPolicy, compile_policy, load_folder
from engine.errors import Diagnostic, DiagnosticSink, PolicyError, as_day
from engine.health.rules import health_backend
from engine.limits import MAX_ERRORS

if TYPE_CHECKING:  # the proofs (and z3) load only when a policy has assurances
    from engine.authoring.proofs import Result

PathLike = str | Path


def validate(path: PathLike | None = None, *, rules: Sequence[PathLike] = (), today: dt.date | None = None,
             backend: str = "rete", lint: bool = False, max_errors: int = MAX_ERRORS) -> list[Diagnostic]:
    """Every problem in a policy set, sorted by file and position (empty: the set is usable).

    ``lint``: also warn about what loads but is probably wrong (rules that never fire, duplicate rules,
    unused fields, ...; see docs/lint.md). Lint runs only on a set without errors, and never in Engine.load.
    ``max_errors``: errors listed at most (0: all); past it, a last diagnostic says how many more there are.
    """
    return check_policies(path, rules=rules, today=today, backend=backend, lint=lint,
                          max_errors=max_errors).diagnostics


ANALYSIS_ERRORS = {"table_overlap"}  # errors about what a compiled policy does, not about what it is


@dataclass(frozen=True)
class Checked:
    """What validating a policy set found, and its compiled policy when the set is usable (no errors)."""

    diagnostics: list[Diagnostic]
    policy: CompiledPolicy | None
    proofs: list[Result] = field(default_factory=list)  # per assurance (pmo validate)
    not_shown: int = 0  # errors past the limit (max_errors), counted but not listed


def check_policies(path: PathLike | None = None, *, rules: Sequence[PathLike] = (), today: dt.date | None = None,
                   backend: str = "rete", lint: bool = False, max_errors: int = MAX_ERRORS,
                   cache_proofs: bool = False) -> Checked:
    """validate(), keeping the compiled policy, so a caller can describe it without compiling it again.

    ``cache_proofs``: take the assurances' proofs from the user's cache when the policy is unchanged, and keep
    new ones there (engine/authoring/proof_cache.py; pmo validate does)."""
    day = as_day(today) or dt.date.today()  # before anything loads: a bad date is the caller's mistake
    sink = DiagnosticSink(limit=max_errors)
    policy_set = load_folder(path, rules, sink)
    policy = compile_policy(policy_set, day, sink)
    if policy is not None and not sink.errors:
        try:
            make_backend(backend, policy)
            if policy.health is not None:  # health rules run on the same back ends
                health_backend(policy.health, backend)
        except PolicyError as exc:
            sink.extend(exc.diagnostics)
    usable = policy if policy is not None and not sink.errors else None
    proofs: list[Result] = []
    if lint and usable is not None:
        sink.extend(lint_policy(policy_set, usable))
    # Assurances are proved on a policy that compiled whole: errors that are findings of the table analysis
    # (an overlap) leave every rule in place, so the proof still speaks of the policy as it would run.
    if lint and policy is not None and policy.assurances and all(d.code in ANALYSIS_ERRORS for d in sink.errors):
        # lazy: the proofs (and z3) load only when assurances are proved, in pmo validate
        from engine.authoring.proof_cache import prove_cached
        from engine.authoring.proofs import proof_diagnostics, prove
        proofs = prove_cached(policy) if cache_proofs else prove(policy)
        sink.extend(proof_diagnostics(proofs))
    return Checked(sorted(sink.reported(), key=Diagnostic.sort_key), usable, proofs, sink.dropped)  # limit note last
