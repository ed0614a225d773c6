"""`pmo init DIR`: a commented starter policy set for one's own organisation, valid (`pmo validate --strict`)
and passing its own scenarios (`pmo test features --policies policies`), copied from engine/authoring/starter/.

It is a starting point to edit, not a second example: three placeholder objectives, the intake rules most
PMOs begin with (sponsorship, approval bands by budget, a budget cap, benefit over cost, privacy, dates), a
weighted-sum scoring model, two gates, portfolio limits, an input profile for a spreadsheet export, five
sample proposals, four project records and the scenarios that pin every rule down.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from engine.errors import Diagnostic, InputError, Location

STARTER = Path(__file__).resolve().parent / "starter"


def starter_files() -> list[Path]:
    """The starter set's files, relative to its folder, in a stable order."""
    return sorted(p.relative_to(STARTER) for p in STARTER.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def create(target: Path) -> list[Path]:
    """Copy the starter set into ``target`` (created; it must not exist or be empty). Returns the files written."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError([Diagnostic("target_not_empty", f"{target} already exists and is not an empty folder",
                                     Location(str(target)), "give a new folder: pmo init never overwrites files")])
    written = []
    for relative in starter_files():
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STARTER / relative, destination)
        written.append(destination)
    return written
