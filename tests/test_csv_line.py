"""``csv_line`` (the CSV output's rows, made without the csv module) against what ``csv_writer`` writes for the
same cells after ``inert``: the same text, byte for byte, for any cells a decision can hold."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from engine.io.writers import csv_line, csv_writer, format_rows, inert

# the characters the quoting and the formula guard look at, often, among any others (surrogates included)
_SPECIAL = st.sampled_from([",", '"', "\r", "\n", "\r\n", " ", "=", "+", "-", "@", "\t", "\u3000", "\ufeff",
                            "\uff1d", "\ud800", "\x00", "é", "'"])
_TEXT = st.lists(st.one_of(_SPECIAL, st.text(max_size=6)), max_size=8).map("".join)
_CELL = st.one_of(_TEXT, st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                  st.decimals(allow_nan=False), st.dates(), st.lists(st.integers(), max_size=3),
                  st.dictionaries(_TEXT, st.integers(), max_size=2))


def _by_csv_module(cells: list) -> str:
    out = io.StringIO(newline="")
    csv_writer(out).writerow([inert(v) for v in cells])
    return out.getvalue()


@given(st.lists(_CELL, min_size=2, max_size=20))
def test_csv_line_writes_what_the_csv_module_writes(cells):
    assert csv_line(cells) == _by_csv_module(cells)


class _Name(str):
    """A str subclass whose str() is not its text: csv writes its characters."""

    def __str__(self) -> str:
        return "other"


def test_csv_line_edge_cells():
    cells = ["", None, "a,b", 'say "hi"', "=1", " =1", "a\n=b", "x\r\n@y", "\r", _Name("n,1"), _Name("plain"),
             Decimal("1E+15"), 2.5, 1e22, True, dt.date(2027, 3, 1), [1, 2], "\ud800x"]
    assert csv_line(cells) == _by_csv_module(cells)
    assert csv_line(["", ""]) == ",\n" == _by_csv_module(["", ""])


def test_format_rows_of_no_decisions_is_empty():
    assert format_rows([], "csv", []) == ""
