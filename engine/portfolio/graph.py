"""The dependency graph: the only module that imports networkx.

Nodes are project ids; an edge A -> B means B depends on A (finish-to-start), with its lag.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeAlias

import networkx as nx

from engine.portfolio.model import Portfolio

Graph: TypeAlias = "nx.DiGraph[str]"  # project ids; an edge's "lag" is its finish-to-start lag (a string: the
# runtime DiGraph takes no type arguments)


def build(portfolio: Portfolio) -> Graph:
    """Known projects and the dependencies between them (references to unknown ids are left out)."""
    graph: Graph = nx.DiGraph()
    for project in portfolio:
        graph.add_node(project.id)
    for project in portfolio:
        for dep in project.depends_on:
            if dep.id in portfolio.projects and dep.id != project.id:
                graph.add_edge(dep.id, project.id, lag=dep.lag)
            elif dep.id == project.id:
                graph.add_edge(dep.id, project.id, lag=dep.lag)  # a project that depends on itself: a cycle
    return graph


@dataclass(frozen=True)
class Cycles:
    listed: list[list[str]]  # each cycle's members, in dependency order
    found: int  # how many were enumerated (>= len(listed))
    complete: bool  # False: enumeration stopped at a bound, more may exist
    tangled: int  # projects that sit on at least one cycle


def cycles(graph: Graph, limit: int = 20, count_up_to: int = 10_000, seconds: float = 1.0) -> Cycles:
    """Dependency cycles, listed up to ``limit`` and counted up to ``count_up_to`` (or ``seconds``), so a
    graph with millions of cycles still answers at once."""
    components = [c for c in nx.strongly_connected_components(graph)
                  if len(c) > 1 or any(graph.has_edge(n, n) for n in c)]
    tangled = sum(len(c) for c in components)
    listed: list[list[str]] = []
    found = 0
    complete = True
    deadline = time.perf_counter() + seconds
    for component in components:  # one component at a time keeps each search small
        sub = graph.subgraph(component)
        for cycle in nx.simple_cycles(sub):
            found += 1
            if len(listed) < limit:
                listed.append(_rotate(cycle))
            if found >= count_up_to or (found % 256 == 0 and time.perf_counter() > deadline):
                complete = False
                break
        if not complete:
            break
    listed.sort(key=lambda c: (len(c), c))
    return Cycles(listed, found, complete, tangled)


def _rotate(cycle: list[str]) -> list[str]:
    """Start a cycle at its smallest id, so the same cycle always reads the same way."""
    k = cycle.index(min(cycle))
    return cycle[k:] + cycle[:k]


def on_cycles(graph: Graph) -> dict[str, list[str]]:
    """Each project on a dependency cycle, with the members of its cycle (its strongly connected component, in
    the order of the file; a project that depends on itself alone)."""
    order = {node: i for i, node in enumerate(graph)}
    found: dict[str, list[str]] = {}
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 or any(graph.has_edge(n, n) for n in component):
            members = sorted(component, key=order.__getitem__)
            found.update((member, members) for member in members)
    return found


def is_acyclic(graph: Graph) -> bool:
    return nx.is_directed_acyclic_graph(graph)


def delivery_order(graph: Graph, rank: dict[str, int | None]) -> list[str]:
    """A topological order; among projects that are ready, the better ranked (then the smaller id) first."""
    return list(nx.lexicographical_topological_sort(graph, key=lambda n: (rank.get(n) is None, rank.get(n) or 0, n)))


@dataclass(frozen=True)
class Activity:
    es: float
    ef: float
    ls: float
    lf: float
    free_float: float = 0.0  # how far it can slip without delaying the early start of any successor


    @property
    def float(self) -> float:
        return self.ls - self.es


def critical_path_method(graph: Graph, duration: dict[str, float], earliest: dict[str, float] | None = None
                         ) -> tuple[float, dict[str, Activity]]:
    """Earliest and latest start and finish of every project, from time 0 (the graph must be acyclic), and its
    free float. ``earliest``: starts no earlier than (a project's given start)."""
    order = list(nx.topological_sort(graph))
    earliest = earliest or {}
    es: dict[str, float] = {}
    ef: dict[str, float] = {}
    for node in order:
        start = max(0.0, earliest.get(node, 0.0))
        for pred in graph.predecessors(node):
            start = max(start, ef[pred] + graph.edges[pred, node]["lag"])
        es[node], ef[node] = start, start + duration[node]
    total = max(ef.values(), default=0.0)
    ls: dict[str, float] = {}
    lf: dict[str, float] = {}
    for node in reversed(order):
        finish = total
        for succ in graph.successors(node):
            finish = min(finish, ls[succ] - graph.edges[node, succ]["lag"])
        lf[node], ls[node] = finish, finish - duration[node]
    free = {n: min((es[s] - graph.edges[n, s]["lag"] for s in graph.successors(n)), default=total) - ef[n]
            for n in order}
    return total, {n: Activity(es[n], ef[n], ls[n], lf[n], free[n]) for n in order}


def critical_paths(graph: Graph, activities: dict[str, Activity], limit: int = 10,
                   tolerance: float = 1e-9) -> list[list[str]]:
    """Chains of zero-float projects, each link tight (the successor starts as the predecessor finishes)."""
    critical = {n for n, a in activities.items() if abs(a.float) <= tolerance}
    tight: Graph = nx.DiGraph()
    tight.add_nodes_from(critical)
    for a, b, data in graph.edges(data=True):
        if a in critical and b in critical and abs(activities[a].ef + data["lag"] - activities[b].es) <= tolerance:
            tight.add_edge(a, b)
    # A chain starts at time 0 or at a project whose given start holds it back.
    starts = sorted(n for n in critical if tight.in_degree(n) == 0)
    ends = {n for n in critical if tight.out_degree(n) == 0}
    paths: list[list[str]] = []
    for start in starts:
        for path in nx.all_simple_paths(tight, start, ends) if start not in ends else [[start]]:
            paths.append(path)
            if len(paths) >= limit:
                return paths
    return paths


def dependents(graph: Graph, project: str) -> set[str]:
    """Every project that depends on ``project``, directly or through others."""
    return nx.descendants(graph, project)


PAIRED = (("excludes", "exclude each other"), ("requires_together", "go together"))  # the symmetric relations


def pairs(portfolio: Portfolio, relation: str) -> list[tuple[str, str]]:
    """The pairs of known projects that ``relation`` (excludes, requires_together) joins, each once, in order."""
    return sorted({(min(p.id, other), max(p.id, other)) for p in portfolio for other in getattr(p, relation)
                   if other in portfolio.projects and other != p.id})


def cancelled_with(graph: Graph, portfolio: Portfolio, project: str) -> dict[str, str]:
    """Every project that cannot go ahead without ``project``, with why, as pmo select has it: its dependents
    (x_i <= x_j) and its 'requires together' partners (x_i = x_j), and theirs, transitively."""
    partners: dict[str, list[str]] = {}
    for a, b in pairs(portfolio, "requires_together"):
        partners.setdefault(a, []).append(b)
        partners.setdefault(b, []).append(a)
    why: dict[str, str] = {}
    todo = [project]
    while todo:
        node = todo.pop(0)
        for other, reason in [(d, "depends on") for d in sorted(graph.successors(node))] + [
                (q, "goes together with") for q in partners.get(node, [])]:
            if other != project and other not in why:
                why[other] = f"{reason} {node}"
                todo.append(other)
    return why


def slip(graph: Graph, activities: dict[str, Activity], duration: dict[str, float], project: str,
         delay: float) -> dict[str, float]:
    """How much each dependent's finish moves when ``project`` finishes ``delay`` later (float absorbs some)."""
    affected = nx.descendants(graph, project) | {project}
    new_ef: dict[str, float] = {}
    for node in nx.topological_sort(graph.subgraph(affected)):
        start = activities[node].es
        for pred in graph.predecessors(node):
            finish = new_ef.get(pred, activities[pred].ef)
            start = max(start, finish + graph.edges[pred, node]["lag"])
        new_ef[node] = start + duration[node] + (delay if node == project else 0.0)
    return {n: new_ef[n] - activities[n].ef for n in affected if new_ef[n] - activities[n].ef > 1e-9}


def levels(graph: Graph) -> dict[str, int]:
    """For drawing: the longest chain of prerequisites before each project (cycles collapsed)."""
    condensed = nx.condensation(graph)
    depth: dict[int, int] = {}
    for node in nx.topological_sort(condensed):
        depth[node] = max((depth[p] + 1 for p in condensed.predecessors(node)), default=0)
    return {member: depth[c] for c, data in condensed.nodes(data=True) for member in data["members"]}


def write_graphml(graph: Graph, target: str | Path | BinaryIO, portfolio: Portfolio | None = None) -> None:
    """Each edge with its ``relation``: depends_on (prerequisite -> dependent, with its lag), and, from
    ``portfolio``, excludes and requires_together (one edge a pair, between two projects in order)."""
    multi: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    multi.add_nodes_from(graph.nodes(data=True))
    for a, b, data in graph.edges(data=True):
        multi.add_edge(a, b, relation="depends_on", **data)
    for relation, _words in PAIRED:
        for a, b in pairs(portfolio, relation) if portfolio is not None else []:
            multi.add_edge(a, b, relation=relation)
    nx.write_graphml(multi, target)
