"""The batch path's written-out and remembered steps give what the general ones give (issue #19)."""
import random
from decimal import Decimal

import pytest

from engine.backends.rete import driver
from engine.backends.rete.driver import Ruleset
from engine.compile.records import RecordError, RecordReader
from engine.expr.values import _display, display, plain
from engine.io.writers import inert, inert_cells
from engine.policy.models import FieldSpec

CONDITIONS = {
    "r0": {"$gt": {"f0": 100}},
    "r1": {"$and": [{"$lte": {"f0": 500}}, {"f1": "maintenance"}]},
    "r2": {"$or": [{"$nex": {"f2": 1}}, {"$neq": {"f1": "compliance"}}]},
    "r3": {"$and": [{"$ex": {"f0": 1}}, {"$ex": {"f3": 1}}, {"$gt": {"f0": {"$m": "f3"}}}]},
    "r4": {"f4": True},
}


def _fact(rng: random.Random) -> dict:
    fact = {"t": "p"}
    for slot, values in (("f0", [None, 0, 100, 101, 499, 500, 501, rng.randint(-5, 900)]),
                         ("f1", [None, "maintenance", "compliance", "growth", "x" * rng.randint(0, 3)]),
                         ("f2", [None, 1, "text"]), ("f3", [None, rng.randint(0, 600)]), ("f4", [None, True, False, 1])):
        value = rng.choice(values)
        if value is not None:
            fact[slot] = value
    return fact


def test_remembered_matches_equal_the_core_on_every_fact():
    """Facts whose slots fall in the same classes share a remembered result: it must be the core's."""
    remembered, fresh = Ruleset(CONDITIONS), Ruleset(CONDITIONS)
    rng = random.Random(19)
    for _ in range(3_000):
        fact = _fact(rng)
        for group in fresh._groups:
            group.memo = None  # the core, every time
        assert remembered.match(fact) == fresh.match(fact), fact
    assert any(group.hits for group in remembered._groups)


def test_a_ruleset_whose_facts_never_repeat_stops_remembering(monkeypatch):
    monkeypatch.setattr(driver, "MEMO_TRIAL", 20)
    ruleset = Ruleset({"r0": {"$gt": {"f0": {"$m": "f1"}}}})
    for i in range(40):
        assert ruleset.match({"t": "p", "f0": i, "f1": 20}) == ({"r0"} if i > 20 else set())
    assert all(group.memo is None for group in ruleset._groups)


FIELDS = {"id": FieldSpec(type="string", required=True), "budget": FieldSpec(type="money"),
          "risk": FieldSpec(type="integer", min=1, max=5), "flag": FieldSpec(type="bool", default=False),
          "note": FieldSpec(type="string")}


@pytest.mark.parametrize("raw", [
    {"id": "P1", "budget": "1200", "risk": "3", "flag": "yes", "note": " hi "},
    {"id": "P2", "budget": "1,200.50", "risk": "9", "flag": "", "note": "Zoë"},
    {"id": "", "budget": "007", "risk": "2.5"},
    {"id": "P3", "budget": "1234567890123456", "risk": "1", "flag": "maybe"},
    {"id": "P4", "budget": 12, "risk": Decimal("2"), "flag": True, "note": "x"},
])
def test_the_written_out_reader_reads_as_the_general_one(raw):
    reader = RecordReader(FIELDS)

    def outcome(read):
        try:
            record = read(raw)
        except RecordError as exc:
            return exc.problems
        return list(record.items())
    assert outcome(reader.read) == outcome(reader.read_any)
    assert outcome(reader.read) == outcome(reader.read_any)  # memo filled


@pytest.mark.parametrize("value", [Decimal("1250000"), Decimal("0.039444"), Decimal("1.5"), Decimal("-2"),
                                   Decimal("1E+15"), Decimal("123456789012345"), Decimal("2E+20"), Decimal("1234.5"),
                                   "text", None, True, 3, 2.5, (Decimal("1"), Decimal("2"))])
def test_display_fast_paths_show_what_the_general_path_shows(value):
    assert display(value) == _display(plain(value))


def test_inert_cells_equal_inert_per_cell():
    cells = ["", "a", "=1", " =1", "\u3000+x", "a\nb", "a\n=b", "a\r-b", 1, 2.5, None, "-", "@", "\t", "x\r\n@y"]
    assert inert_cells(cells) == [inert(v) for v in cells]
