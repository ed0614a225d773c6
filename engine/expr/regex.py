"""Regular expressions in policies (``matches(text, "regex")``), run on RE2: linear time in the text, always.

Python's ``re`` backtracks: ``(a?){28}a{28}`` takes minutes on 28 characters, and adjacent ``.*`` groups
grow polynomially (``.*a.*a.*a.*b`` on a few hundred characters runs for hours). A check for "dangerous"
shapes cannot catch every such pattern, so the engine uses RE2 (PyPI ``google-re2``), which has no
backtracking. What RE2 cannot do (backreferences, lookaround, atomic groups) is refused when the policy
loads, with a hint. Both back ends call :func:`full_match`, so they cannot disagree.

Differences from Python's ``re`` that a policy author may meet: ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are
ASCII only (write ``\\p{Nd}`` or ``\\pL`` for other scripts); ``{,3}`` is refused (RE2 would read it as
text; write ``{0,3}``).
"""
from __future__ import annotations

import re
import re._constants as sre_constants  # Python 3.11+ (requires-python): sre_parse is deprecated there
import re._parser as sre_parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern on stderr
_OPTIONS.never_capture = True  # matches() only asks yes or no

_UNSUPPORTED = {  # Python's parse-tree operators that RE2 has no counterpart for
    "GROUPREF": ("backreferences (\\1, (?P=name)) are not supported",
                 "RE2 keeps matching linear in time and has no backreferences; compare the parts with == instead"),
    "GROUPREF_EXISTS": ("conditional groups (?(1)...) are not supported", "write two matches() joined by 'or'"),
    "ASSERT": ("lookahead and lookbehind (?=...), (?<=...) are not supported",
               "write a second matches() joined by 'and' (matches() always matches the whole text)"),
    "ASSERT_NOT": ("negative lookahead and lookbehind (?!...), (?<!...) are not supported",
                   "write 'not matches(...)' joined by 'and'"),
    "ATOMIC_GROUP": ("atomic groups (?>...) are not supported", "drop them: RE2 never backtracks"),
    "POSSESSIVE_REPEAT": ("possessive repeats (a*+, a++) are not supported", "drop the extra +: RE2 never backtracks"),
}
_OPEN_LOWER_BOUND = re.compile(r"(?<!\\)\{,(\d+)\}")


@dataclass(frozen=True)
class RegexProblem:
    code: str  # bad_regex: not a regular expression at all; unsupported_regex: valid, but not for RE2
    message: str
    hint: str | None = None


def regex_problem(pattern: str) -> RegexProblem | None:
    """Why ``pattern`` cannot be used in a policy, or None."""
    try:
        tree = sre_parse.parse(pattern)
    except (re.error, TypeError, RecursionError, OverflowError) as exc:
        return RegexProblem("bad_regex", f"invalid regular expression: {exc}")
    found = _unsupported(tree)
    if found:
        return RegexProblem("unsupported_regex", *_UNSUPPORTED[found])
    lower = _OPEN_LOWER_BOUND.search(pattern)
    if lower:
        return RegexProblem("unsupported_regex", f"a repeat without a lower bound ({lower[0]}) is not supported",
                            f"write {{0,{lower[1]}}}")
    try:
        _PATTERNS[pattern] = re2.compile(pattern, options=_OPTIONS)  # compiled once: full_match reuses it
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        return RegexProblem("unsupported_regex", f"RE2 cannot run this pattern: {detail}",
                            "matches() uses RE2 syntax: Python's without backreferences and lookaround")
    return None


# (opcode, argument) in the parse tree of CPython's re._parser, which is untyped: an argument's shape
# depends on its opcode.
_ParseItem = tuple[Any, Any]


def _unsupported(items: Iterable[_ParseItem]) -> str | None:
    for op, arg in items:
        name = str(op)
        if name in _UNSUPPORTED:
            return name
        for child in _children(op, arg):
            found = _unsupported(child)
            if found:
                return found
    return None


def _children(op: Any, arg: Any) -> list[Iterable[_ParseItem]]:
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) or str(op) == "POSSESSIVE_REPEAT":
        return [arg[2]]
    if op is sre_constants.SUBPATTERN:
        return [arg[-1]]
    if op is sre_constants.BRANCH:
        return list(arg[1])
    if str(op) == "ATOMIC_GROUP":
        return [arg]
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [arg[1]]
    return []


_PATTERNS: dict[str, re2._Regexp] = {}


try:  # google-re2's binding, asked for a match of the whole text: 0.9 us a call, against 6 us for fullmatch(),
    # which builds a Match object and maps byte offsets back to characters that are not needed here
    _WHOLE = re2._re2.RE2.Anchor.ANCHOR_BOTH
except AttributeError:  # another google-re2 layout: its public fullmatch()
    _WHOLE = None


def full_match(text: str, pattern: str) -> bool:
    """True when the whole text matches: the same meaning as ``re.fullmatch``, in linear time."""
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re2.compile(pattern, options=_OPTIONS)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate in proposal text: RE2 reads UTF-8, which cannot carry it
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        data = text.encode()
    if _WHOLE is None:
        return compiled.fullmatch(text) is not None
    spans: tuple[tuple[int, int], ...] = compiled._regexp.Match(_WHOLE, data, 0, len(data))
    return spans[0] != (-1, -1)
