"""Which of a policy's fields play the roles a report and the outputs show: the budget, the risk rating, the
title and the alignment. Apart from the report (engine/report/build.py), so pmo evaluate, which needs the title
for every row it carries, does not load the report and the ranking (issue #15)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.compile.policy import CompiledPolicy


def field_roles(policy: CompiledPolicy) -> dict[str, Any]:
    """Which fields hold the budget, the risk rating, the title and the alignment: by declared name
    (budget, risk, title or name), else the first money field for the budget."""
    fields = policy.fields

    def named(*names: str, type_: str | None = None) -> str | None:
        for name in names:
            if name in fields:
                return name
        return next((n for n, spec in fields.items() if spec.type == type_), None) if type_ else None

    return {"budget": named("budget", type_="money"), "risk": named("risk", "risk_score", "risk_rating"),
            "title": named("title", "name"),
            "alignment": [n for n, spec in fields.items() if spec.type == "alignment"]}
