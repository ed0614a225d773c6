"""Assurances (kind: assurances): properties of the whole policy set, checked when the policy loads.

Each assurance says ``for:`` (which proposals it speaks of) and ``must:`` (what must then be true), in the
expression language, over the proposal's fields and derived values and three names for the decision:

    decision   the outcome, text: "accept", "review", "reject" (or "error": rows of a unique table overlap)
    routes     the approvers the review findings ask for (a list of text: ``"Board" in routes``, ``len(routes)``)
    fired      the ids of the rules that made a finding, after the tables' hit policies (a list of text)

Here both are parsed and type-checked, with a located error for a name or value that is wrong; proving them
(``engine/authoring/proofs.py``, with an SMT solver) is for ``pmo validate``, never for a load.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from engine.errors import DiagnosticSink, Location, did_you_mean
from engine.expr.check import check
from engine.expr.nodes import BOOL, LIST_STRING, STRING, Call, Compare, Const, Field, In, Node, walk
from engine.expr.parse import ExprError, Namespaces, parse
from engine.policy.loader import PolicySet

DECISION_NAMES = {"decision": STRING, "routes": LIST_STRING, "fired": LIST_STRING}
OUTCOMES = ("accept", "review", "reject", "error")


@dataclass(frozen=True)
class CompiledAssurance:
    name: str
    description: str | None
    where: Location  # the assurance's name, for diagnostics
    condition: Node  # for:
    must: Node
    for_text: str
    must_text: str


def compile_assurances(policy_set: PolicySet, types: dict[str, str], namespaces: Namespaces, today: dt.date,
                       routes: set[str], rule_ids: set[str], sink: DiagnosticSink) -> tuple[CompiledAssurance, ...]:
    """Every assurance of the set, checked; ``routes`` and ``rule_ids`` are what the rules can produce (a route
    or rule id no rule has is an error with a did-you-mean; an empty ``routes`` means some are templates)."""
    out: list[CompiledAssurance] = []
    seen: dict[str, Location] = {}
    clash = sorted(set(types) & set(DECISION_NAMES))
    names = dict(types) | DECISION_NAMES
    for document in policy_set.assurances:
        for item in document.assurances:
            where = item.loc("name")
            if item.name in seen:
                sink.add("duplicate_assurance", f"assurance '{item.name}' is already declared at {seen[item.name]}",
                         where, "give each assurance its own name")
                continue
            seen[item.name] = where
            nodes = []
            for key, text in (("for", item.for_), ("must", item.must)):
                at = item.loc(key) if key == "must" or "for_" in item.model_fields_set else where
                try:
                    node = check(parse(text, namespaces), names, today, want=BOOL)
                except ExprError as exc:
                    sink.add(exc.code, exc.message, at.shifted(exc.offset), exc.hint)
                    break
                read = sorted({n.name for n in walk(node) if isinstance(n, Field)} & set(clash))
                if read:
                    sink.add("assurance_name_clash", f"'{read[0]}' is a field of the intake policy and also the "
                             "decision's name in assurances", at, f"rename the field '{read[0]}' (decision, routes "
                             "and fired are the decision's names here)")
                    break
                if not _values_known(node, routes, rule_ids, at, sink):
                    break
                nodes.append(node)
            if len(nodes) == 2:
                out.append(CompiledAssurance(item.name, item.description, where, nodes[0], nodes[1], item.for_,
                                             item.must))
    return tuple(out)


def _values_known(node: Node, routes: set[str], rule_ids: set[str], at: Location, sink: DiagnosticSink) -> bool:
    """``decision == "acept"``, ``"Bord" in routes``: a value no decision can have is a typo, not a property."""
    for part in walk(node):
        # the decision's name compared with constants ("": none), and those constants
        name: str = ""
        values: tuple[Any, ...] = ()
        if isinstance(part, Compare) and part.op in ("==", "!="):
            for side, other in ((part.left, part.right), (part.right, part.left)):
                if isinstance(side, Field) and side.name == "decision" and isinstance(other, Const) \
                        and isinstance(other.value, str):
                    name, values = "decision", (other.value,)
        elif isinstance(part, In) and isinstance(part.container, Field) and part.container.name in DECISION_NAMES:
            if isinstance(part.item, Const) and isinstance(part.item.value, str):
                name, values = part.container.name, (part.item.value,)
        elif isinstance(part, In) and isinstance(part.item, Field) and part.item.name == "decision" \
                and isinstance(part.container, Const) and isinstance(part.container.value, tuple):
            name, values = "decision", part.container.value
        known = {"decision": set(OUTCOMES), "routes": routes, "fired": rule_ids}.get(name)
        if not known:  # no name, or routes built from templates: any text may be one
            continue
        for value in values:
            if value not in known:
                what = {"decision": "a decision", "routes": "a route of any rule", "fired": "a rule's id"}[name]
                sink.add("assurance_value", f"'{value}' is not {what}", at,
                         did_you_mean(value, sorted(known)) or f"one of: {', '.join(sorted(known))}")
                return False
    return True


def decision_calls(node: Node) -> list[Call]:
    """Calls on the decision's lists (len(routes)): the only functions a proof reads them through."""
    return [n for n in walk(node) if isinstance(n, Call) and any(isinstance(a, Field) and a.name in DECISION_NAMES
                                                                    for a in n.args)]
