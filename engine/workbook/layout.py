"""What export and import agree on: sections, paths, cells and comments.

A policy sheet is a list of **sections**, each a title row (``§ PATH``), a header row and data rows:

- ``setting | value``: one row per value of the document that is not in a table (``kind``, ``name``,
  ``comparisons.method``); the setting is its path from the document's top.
- ``key | value | COLUMN...``: one row per entry of a mapping (``fields``, ``derived``, ``capacity``): the
  entry's key, its value when it is a single value, else its parts by column.
- ``COLUMN...``: one row per item of a list (``rules``, ``criteria``, ``gates``).

Columns name a value inside the row's entry or item by a dotted path (``with.threshold``, ``scale.min``); a
list of items inside an item is a section of its own, whose path names the item by its id
(``§ criteria[size].bands.ranges``, ``§ gates[business-case].must_meet``; ``[#2]`` by position when the
items have no ids). ``comment`` holds the YAML comments of the row, ``source`` where it came from
(``policies/intake.yaml:42``); headers in parentheses are notes for the reader (``(as included)``). Import
reads ``comment`` and ignores ``source`` and the notes.

A cell holds one value: a number, a date, TRUE/FALSE, or text. A list or a mapping is written as YAML's flow
style, ``[IT, HR]`` or ``{q1: 2}``, and a text cell that starts with ``[`` or ``{`` and ends with the
matching bracket is read so; ``~`` is a missing value (null) and ``""`` the empty text. Text that has one
of these shapes but is meant as text is written with Excel's leading apostrophe (its "quote prefix"),
which import honours: ``'{site}``.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

TITLE = "§ "
SETTING, KEY, VALUE, COMMENT, SOURCE = "setting", "key", "value", "comment", "source"
ROOT = "settings"  # the title of the top-level settings section
COVER = "Cover"
FLOW_LIMIT = 4  # a mapping of single values with at most this many entries is shown as dotted columns

SCALARS = (str, int, float, Decimal, bool, dt.date, type(None))


def is_scalar(value: Any) -> bool:
    return isinstance(value, SCALARS)


def is_leaf(value: Any) -> bool:
    """A value one cell shows: a single value, or a list of single values."""
    return is_scalar(value) or (isinstance(value, list) and all(is_scalar(v) for v in value)) or value == {}


def is_flat(value: Any) -> bool:
    """A mapping of values one cell each."""
    return isinstance(value, dict) and bool(value) and all(is_leaf(v) for v in value.values())


def is_items(value: Any) -> bool:
    """A list of mappings: a table of items."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


# ---------------------------------------------------------------------------- paths

@dataclass(frozen=True)
class Item:
    """A list item in a path: by its id (``[size]``) or by position (``[#2]``, 1-based)."""

    id: str | None = None
    position: int | None = None


_BARE = re.compile(r"[^.\[\]\"\s](?:[^.\[\]\"]*[^.\[\]\"\s])?")


def part_text(key: str) -> str:
    return key if _BARE.fullmatch(key) and key not in ("~",) else json.dumps(key, ensure_ascii=False)


def path_text(parts: tuple[str | Item, ...]) -> str:
    """('criteria', Item('size'), 'bands', 'ranges') -> criteria[size].bands.ranges"""
    out = ""
    for part in parts:
        if isinstance(part, Item):
            out += f"[#{part.position}]" if part.id is None else f"[{part_text(part.id)}]"
        else:
            out += ("." if out else "") + part_text(part)
    return out or ROOT


class PathError(ValueError):
    pass


def parse_path(text: str) -> tuple[str | Item, ...]:
    """The inverse of :func:`path_text`."""
    text = text.strip()
    if text == ROOT:
        return ()
    parts: list[str | Item] = []
    i, expect_key = 0, True
    while i < len(text):
        if text[i] == "[":
            end, item = _selector(text, i + 1)
            parts.append(item)
            i, expect_key = end, False
            continue
        if not expect_key:
            if text[i] != ".":
                raise PathError(f"expected '.' or '[' at character {i + 1}")
            i += 1
        key, i = _part(text, i)
        parts.append(key)
        expect_key = False
    if not parts or isinstance(parts[0], Item):
        raise PathError("a path starts with a key")
    return tuple(parts)


def _part(text: str, i: int) -> tuple[str, int]:
    if i < len(text) and text[i] == '"':
        try:
            value, end = json.JSONDecoder().raw_decode(text, i)
        except json.JSONDecodeError:
            raise PathError(f"an unclosed quote at character {i + 1}") from None
        return str(value), end
    match = _BARE.match(text, i)
    if not match:
        raise PathError(f"a key is missing at character {i + 1}")
    return match.group(), match.end()


def _selector(text: str, i: int) -> tuple[int, Item]:
    if text.startswith("#", i):
        match = re.compile(r"#(\d+)\]").match(text, i)
        if not match or int(match[1]) < 1:
            raise PathError(f"expected [#N] with N from 1 at character {i}")
        return match.end(), Item(position=int(match[1]))
    key, end = _part(text, i)
    if not text.startswith("]", end):
        raise PathError(f"expected ']' at character {end + 1}")
    return end + 1, Item(id=key)


def dotted(parts: tuple[str, ...]) -> str:
    return ".".join(part_text(p) for p in parts)


def parse_dotted(text: str) -> tuple[str, ...]:
    parts = parse_path(text) if text.strip() != ROOT else (ROOT,)
    keys = tuple(p for p in parts if isinstance(p, str))
    if len(keys) != len(parts):
        raise PathError("a column names keys only (with.threshold), no list items")
    return keys


# ---------------------------------------------------------------------------- cells

_FLOW = re.compile(r"^\s*(\[.*\]|\{.*\})\s*$", re.S)
NULL_TEXT, EMPTY_TEXT = "~", '""'


# Text a spreadsheet user means as a number or a boolean: typed into a cell formatted as text, or pasted. No
# leading zeros (007 is an id, and Excel itself keeps it only as text), no thousands separators.
_NUMBER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BOOLEANS = {"true": True, "false": False}


def typed_value(text: str) -> tuple[bool, Any]:
    """(True, the number or boolean) for text that reads as one (``0.2``, ``FALSE``), else (False, None)."""
    stripped = text.strip()
    if stripped.lower() in _BOOLEANS:
        return True, _BOOLEANS[stripped.lower()]
    if _NUMBER.fullmatch(stripped):
        whole = "." not in stripped and "e" not in stripped.lower()
        return True, int(stripped) if whole else Decimal(stripped)
    return False, None


def looks_special(text: str) -> bool:
    """Text that a cell would read as something else: a list, a mapping, null, the empty text, a number or a
    boolean."""
    return bool(_FLOW.match(text)) or text.strip() in (NULL_TEXT, EMPTY_TEXT) or typed_value(text)[0]


def decimal_text(value: Decimal) -> str:
    """A decimal as YAML reads it back as one (YAML needs a point: 1E+6 is text to it)."""
    text = format(value, "f")
    return text if "." in text else text + ".0"


def flow_text(value: Any) -> str:
    """A list or mapping in YAML's flow style, on one line: [IT, HR], {2027-Q1: 2}."""
    if isinstance(value, list):
        return "[" + ", ".join(flow_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar_text(str(k))}: {flow_text(v)}" for k, v in value.items()) + "}"
    return scalar_text(value)


def scalar_text(value: Any) -> str:
    """One value as YAML text that reads back as the same value, in block or flow context."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, float):
        return decimal_text(Decimal(repr(value)))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if type(value) is str:  # a str subclass, or a list or mapping read from a cell, is no cache key
        return _text_of_string(value)
    return yaml_text(value)


# Text that YAML writes as it is (a plain scalar) in block and flow context alike, when it reads back as text:
# words, ids and names. The resolver says what it would read back as (yes, null, 1_000, 2027-01-01, 1.5.3 are not
# text); only the rest goes through yaml.safe_dump, once per distinct text (an import writes the same keys and
# values many times). tests/test_workbook.py checks that both give the same text.
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?: [A-Za-z0-9_.-]+)*")
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVE: Callable[[type, str, tuple[bool, bool]], str] = yaml.resolver.Resolver().resolve  # what a text reads as


@functools.lru_cache(maxsize=8192)
def _text_of_string(value: str) -> str:
    if _PLAIN.fullmatch(value) and _RESOLVE(yaml.ScalarNode, value, (True, False)) == _STR_TAG:
        return value
    return yaml_text(value)


def yaml_text(value: Any) -> str:
    """``value`` as yaml.safe_dump writes it as the item of a flow list (text quoted where YAML needs it)."""
    if "\n" in value or "\r" in value:  # one line, escaped, rather than YAML's folding of quoted text
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=1 << 30)
    return text.strip()[1:-1]  # "[...]\n" -> the item, quoted as a flow collection needs it


# ---------------------------------------------------------------------------- comments

def comment_lines(text: str) -> tuple[dict[int, str], dict[int, str]]:
    """The comments of a YAML text: (whole-line comments, comments after a value), by 1-based line."""
    whole: dict[int, str] = {}
    after: dict[int, str] = {}
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            whole[number] = stripped[1:].strip()
            continue
        at = _comment_start(line)
        if at is not None:
            after[number] = line[at + 1:].strip()
    return whole, after


def _comment_start(line: str) -> int | None:
    """Where a comment starts on a line with a value: a '#' after a space, outside quotes."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
            elif char == "\\" and quote == '"':
                continue
        elif char in "'\"" and (i == 0 or line[i - 1] in " \t:,[{-"):
            quote = char
        elif char == "#" and i > 0 and line[i - 1] in " \t":
            return i
    return None
