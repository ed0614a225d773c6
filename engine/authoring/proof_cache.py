"""Assurance proofs remembered between runs of ``pmo validate``, so an unchanged policy is not proved again.

Proving costs about a second (z3's import, then the solver), and its answer depends only on what goes into the
key: the policy hash (every policy file, every library file it uses, its data files and workbooks), the date
``today()`` means, each assurance's text, the prover's limits, the engine's own files and z3's (name, size and
modification time of each: an upgraded or edited engine or z3 proves again). The key is the whole policy, not
only the parts an assurance reads: the proof encodes the whole intake decision (every rule, table, derived
value and field), so narrowing it would save little and could be wrong. A changed key is a miss, and a miss
proves again, so a cached answer is never stale. A cache file that cannot be read or does not parse is a miss;
a folder that cannot be written is no cache. Answers a solver time-out cut short are not kept.

Where: ``$PMO_CACHE_DIR`` (empty: no cache), else ``$XDG_CACHE_HOME/pmo``, else ``~/.cache/pmo``; one small
JSON file per policy key under ``proofs/``, the oldest removed beyond ``KEEP``.
"""
from __future__ import annotations

import hashlib
import os
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import usercache
from engine.authoring import proofs
from engine.authoring.proofs import Counterexample, Result
from engine.version import __version__

if TYPE_CHECKING:
    from engine.compile.assurances import CompiledAssurance
    from engine.compile.policy import CompiledPolicy

CACHE = "proofs"  # the user's cache folder of proofs (engine/usercache.py)
FORMAT = 1  # of the cache files; a file of another format is a miss
KEEP = 64  # cache files kept (one per policy version proved)
STATUSES = ("holds", "fails", "unknown")


def cache_dir() -> Path | None:
    """The folder proofs are remembered in, or None when PMO_CACHE_DIR is set empty (engine/usercache.py)."""
    return usercache.cache_dir(CACHE)


def prove_cached(policy: CompiledPolicy) -> list[Result]:
    """proofs.prove(policy), taking each assurance's answer from the cache when its key is there."""
    if cache_dir() is None:
        return proofs.prove(policy)
    key = proof_key(policy)
    known = _read(key, policy.assurances)
    missing = tuple(a for a in policy.assurances if a.name not in known)
    if missing:
        new = proofs.prove(policy, missing)
        known.update((r.assurance.name, r) for r in new)
        if any(r.settled for r in new):
            _write(key, [r for r in known.values() if r.settled])
    return [known[a.name] for a in policy.assurances]


def proof_key(policy: CompiledPolicy) -> str:
    """A digest of everything a proof's answer depends on (see the module's docstring)."""
    digest = hashlib.sha256()
    limits = (proofs.MAX_CLASSES, proofs.MAX_ROUNDS, proofs.SEARCH_TRIES, proofs.TIMEOUT_MS)
    parts = [str(FORMAT), policy.policy_hash, policy.today.isoformat(), repr(limits), __version__]
    parts += [f"{a.name}\0{a.for_text}\0{a.must_text}" for a in policy.assurances]
    for part in parts:
        digest.update(part.encode() + b"\0")
    _files(Path(__file__).parent.parent, digest)  # the engine package
    z3 = find_spec("z3")  # found, not imported: a cache hit never loads z3
    if z3 is not None and z3.origin:
        _files(Path(z3.origin).parent, digest)
    return digest.hexdigest()[:32]


def _files(folder: Path, digest: Any) -> None:
    """Each file under ``folder`` (bytecode caches aside) as name, size and modification time."""
    entries = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in names:
            path = os.path.join(top, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            entries.append(f"{os.path.relpath(path, folder)}\0{stat.st_size}\0{stat.st_mtime_ns}")
    digest.update("\n".join(sorted(entries)).encode() + b"\0")


def _read(key: str, assurances: tuple[CompiledAssurance, ...]) -> dict[str, Result]:
    """The cached answers for this key, by assurance name; empty when there are none or they do not read."""
    stored = usercache.read(CACHE, key)
    try:
        if stored["format"] != FORMAT:
            return {}
        entries = stored["results"]
        return {a.name: _result(a, entries[a.name]) for a in assurances if a.name in entries}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def _result(assurance: CompiledAssurance, entry: dict[str, Any]) -> Result:
    """A stored answer as a Result of this run's assurance (its location is today's, not the cached one's)."""
    if entry["status"] not in STATUSES or not isinstance(entry["why"], str) or not isinstance(entry["rounds"], int):
        raise ValueError("not a cached proof")
    examples = tuple(Counterexample(_mapping(c["proposal"]), _text(c["decision"]), _texts(c["routes"]),
                                    _texts(c["fired"])) for c in entry["counterexamples"])
    if (entry["status"] == "fails") != bool(examples):
        raise ValueError("not a cached proof")
    return Result(assurance, entry["status"], examples, entry["why"], entry["rounds"])


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not a proposal")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return tuple(_text(v) for v in value)


def _write(key: str, results: list[Result]) -> None:
    """Keep ``results`` under ``key`` (usercache.write: whole or not at all, the oldest beyond KEEP removed)."""
    entries = {r.assurance.name: {"status": r.status, "why": r.why, "rounds": r.rounds,
                                  "counterexamples": [{"proposal": c.proposal, "decision": c.decision,
                                                       "routes": list(c.routes), "fired": list(c.fired)}
                                                      for c in r.counterexamples]} for r in results}
    usercache.write(CACHE, key, {"format": FORMAT, "results": entries}, keep=KEEP)
