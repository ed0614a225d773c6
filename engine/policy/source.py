"""Safe YAML loading that remembers where every value came from.

PyYAML's composer gives us nodes with positions; we build plain Python data from them
ourselves, so we can report duplicate keys, refuse non-standard tags (``!!python/...``),
read floats as exact decimals, and map any later error back to ``file:line:col``.
"""
from __future__ import annotations

import bisect
import dataclasses
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import yaml

from engine.errors import DiagnosticSink, Location
from engine.expr.parse import LoneSurrogate, join_surrogates
from engine.expr.values import written_two_ways

Path_ = tuple[str | int, ...]  # a path into the data: keys and list indexes

MAX_NODES = 100_000  # alias bombs ("billion laughs") expand through shared nodes
MAX_DEPTH = 64
MAX_BYTES = 2_000_000

_SAFE_SCALAR_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:timestamp",
}
_MAPPING_TAG, _SEQUENCE_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
# libyaml (C) parses about five times faster than PyYAML's Python parser: a 2 MB file in seconds, not a minute.
# When it finds an error we parse again in Python, for PyYAML's wording and for escapes that libyaml refuses
# but a policy may use (a surrogate pair written "\ud83d\ude00"), as long as that second pass stays short.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)
PYTHON_PARSE_LIMIT = 256_000  # characters; PyYAML parses about 100 kB/s on a slow machine


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of one YAML document starts."""

    file: str
    values: dict[Path_, Location] = field(default_factory=dict)
    keys: dict[Path_, Location] = field(default_factory=dict)

    def value(self, path: Path_) -> Location:
        """The value's location, or its nearest ancestor's when the path is not in the file."""
        path = tuple(path)
        while path and path not in self.values:
            path = path[:-1]
        return self.values.get(path, Location(self.file, 1, 1))

    def key(self, path: Path_) -> Location:
        path = tuple(path)
        return self.keys.get(path) or self.value(path)


@dataclass
class Document:
    data: Any
    source: SourceMap
    text: bytes


class _Mark(Protocol):
    """A place in the text, as PyYAML's Python parser (yaml.Mark) and libyaml (yaml._yaml.Mark) give it."""

    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...


def _loc(file: str, mark: _Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str, sink: DiagnosticSink, text: str = ""):
        self.file = file
        self.sink = sink
        self.text = text
        self.source = SourceMap(file)
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()
        self._line_starts: list[int] | None = None

    def line_column(self, index: int) -> tuple[int, int]:
        """1-based line and column of a character index, by bisection: counting newlines from the start
        of the text for each value spanning lines made a file of many such values quadratic."""
        if self._line_starts is None:
            starts, at = [0], self.text.find("\n")
            while at != -1:
                starts.append(at + 1)
                at = self.text.find("\n", at + 1)
            self._line_starts = starts
        line = bisect.bisect_right(self._line_starts, index)
        return line, index - self._line_starts[line - 1] + 1

    def where(self, node: yaml.Node) -> Location:
        loc = _loc(self.file, node.start_mark)
        if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
            loc = loc.shifted(1)  # point at the text, not at the quote
        if isinstance(node, yaml.ScalarNode) and node.start_mark.line != node.end_mark.line and self.text:
            loc = dataclasses.replace(loc, chars=self.char_positions(node))
        return loc

    def char_positions(self, node: yaml.ScalarNode) -> tuple[tuple[int, int], ...]:
        """For a value written over several lines (a plain, quoted or block scalar): the line and column of
        each of its characters, so an error at character n of an expression points into the right line.
        YAML folding changes only whitespace, so the value's other characters are the source's, in order."""
        start = node.start_mark.index
        if node.style in ("|", ">"):
            start = self.text.find("\n", start) + 1  # the text begins on the line after the indicator
        elif node.style in ("'", '"'):
            start += 1
        line, column = self.line_column(start)
        solid = []  # where each non-space character of the source stands
        for char in self.text[start:node.end_mark.index]:
            if not char.isspace():
                solid.append((line, column))
            line, column = (line + 1, 1) if char == "\n" else (line, column + 1)
        out, taken = [], 0
        for char in node.value:
            out.append(solid[min(taken, len(solid) - 1)] if solid else (line, column))
            taken += not char.isspace()
        return tuple(out)

    def build(self, node: yaml.Node, path: Path_, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            raise _TooBig(node)
        loc = self.where(node)
        self.source.values[path] = loc
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (_MAPPING_TAG, _SEQUENCE_TAG):
            self.refuse_tag(node, loc)  # !!python/object on a mapping, !!set, !!omap, a local !tag
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.sink.add("yaml_key", "mapping keys must be plain text", self.where(key_node))
                    continue
                key = self.text_of(key_node.value, self.where(key_node))
                if key in out:
                    self.sink.add("duplicate_key", f"duplicate key '{key}'", self.where(key_node),
                                  "each key may appear once in a mapping; the later value would silently win")
                    continue
                self.source.keys[path + (key,)] = self.where(key_node)
                out[key] = self.build(value_node, path + (key,), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)  # the composer makes mappings, sequences and scalars only
        return self.scalar(node, loc)

    def refuse_tag(self, node: yaml.Node, loc: Location) -> None:
        self.sink.add("unsafe_tag", f"tag '{node.tag}' is not allowed", loc,
                      "policy files use plain YAML values only; remove the tag")

    def text_of(self, value: str, loc: Location) -> str:
        """YAML reads "\\ud83d\\ude00" as two halves of a character: join them (as JSON does); refuse a lone half,
        which no back end, file or terminal can carry."""
        try:
            return join_surrogates(value)
        except LoneSurrogate as lone:
            self.sink.add("bad_text", f"lone surrogate {lone.escape} in text", loc,
                          "write the whole character, or both halves of its surrogate pair (\\ud83d\\ude00)")
            return value

    def scalar(self, node: yaml.ScalarNode, loc: Location) -> Any:
        if node.tag not in _SAFE_SCALAR_TAGS:
            self.refuse_tag(node, loc)
            return None
        if node.tag == "tag:yaml.org,2002:str":
            return self.text_of(node.value, loc)
        if node.tag == "tag:yaml.org,2002:float":
            # Exact decimals: thresholds such as 0.1 must not become binary floats.
            text = node.value.replace("_", "")
            if not node.style and (problem := written_two_ways(node.value, "{}_{}", zero=True)):  # plain 500.000
                self.sink.add("bad_number", problem, loc)
                return None
            try:
                value = Decimal(text)
            except InvalidOperation:
                value = None
            if value is None or not value.is_finite():
                self.sink.add("bad_number", f"'{node.value}' is not a finite number", loc)
                return None
            return value
        try:
            return self.constructor.construct_object(node)
        except (ValueError, KeyError, TypeError):  # !!int x, !!bool maybe, a date such as 2027-02-30
            self.sink.add("bad_value", f"'{node.value}' is not {_TAG_MEANS.get(node.tag, 'a value of its tag')}",
                          loc, "write the value its tag names, or drop the tag")
            return None


# What a value under each explicit tag must be, in the policy's words (PyYAML's own errors name int() and KeyError).
_TAG_MEANS = {"tag:yaml.org,2002:int": "a whole number", "tag:yaml.org,2002:bool": "true or false",
              "tag:yaml.org,2002:timestamp": "a day of the calendar (YYYY-MM-DD)", "tag:yaml.org,2002:null": "null"}


class _Unparsed(Exception):
    """A YAML error, with the loader that found it: to read the tokens again when explaining the error."""

    def __init__(self, error: yaml.YAMLError, loader: type):
        self.error, self.loader = error, loader


class _TooBig(Exception):
    def __init__(self, node: yaml.Node | yaml.Event):
        self.node = node


def _check_shape(text: str, loader: type) -> None:
    """Walk the event stream (the parser is iterative) and refuse a document nested deeper than MAX_DEPTH
    before a composer sees it: both composers recurse once per level, PyYAML's into RecursionError at
    about 500 levels ("[[[[..." in 1 kB), libyaml's on the C stack."""
    depth = events = 0
    for event in yaml.parse(text, Loader=loader):
        events += 1
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH or events > 2 * MAX_NODES:
                raise _TooBig(event)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand past MAX_NODES values, before building any of it: the size of
    each distinct node is counted once (an alias bomb is small as written, huge when expanded)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is None:
            sizes[id(node)] = MAX_NODES + 1  # meanwhile: a node that contains itself is endless
            children = (node.value if isinstance(node, yaml.SequenceNode) else
                        [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else ())
            known = 1
            for child in children:
                known += size(child)
                if known > MAX_NODES:
                    raise _TooBig(child)
            sizes[id(node)] = known
        return known

    if size(root) > MAX_NODES:
        raise _TooBig(root)


def _compose(text: str) -> list[yaml.Node]:
    loaders = [_FAST_LOADER, yaml.SafeLoader] if _FAST_LOADER is not None else [yaml.SafeLoader]
    for loader in loaders:
        try:
            _check_shape(text, loader)
            return list(yaml.compose_all(text, Loader=loader))
        except yaml.YAMLError as exc:
            if loader is yaml.SafeLoader or len(text) > PYTHON_PARSE_LIMIT:
                raise _Unparsed(exc, loader) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def load_document(path: Path, display: str, sink: DiagnosticSink) -> Document | None:
    """Parse one YAML file holding one document. Problems go to ``sink``; None if unusable."""
    try:
        with path.open("rb") as f:
            text = f.read(MAX_BYTES + 1)  # a 100 MB file is refused without reading it all
    except OSError as exc:
        sink.add("unreadable", f"cannot read file: {exc.strerror or exc}", Location(display))
        return None
    if len(text) > MAX_BYTES:
        sink.add("too_large", f"file is {path.stat().st_size:,} bytes; the limit is {MAX_BYTES:,}", Location(display),
                 "split it into several policy files")
        return None
    try:
        decoded = text.decode("utf-8")
        nodes = _compose(decoded)
    except _TooBig as big:
        _too_large(display, big, sink)
        return None
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        column = len(text[text.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8", "replace")) + 1
        sink.add("encoding", f"file is not UTF-8: byte 0x{text[exc.start]:02X} is not a UTF-8 character",
                 Location(display, line, column), "save the file as UTF-8 (an editor's 'Save with encoding')")
        return None
    except _Unparsed as unparsed:
        _unparsed(display, decoded, unparsed, sink)
        return None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        sink.add("empty_file", "file holds no YAML document", Location(display),
                 "start the file with 'kind: intake' (or strategy, library)")
        return None
    if len(nodes) > 1:
        sink.add("multiple_documents", "file holds more than one YAML document",
                 _loc(display, nodes[1].start_mark), "put each policy in its own file")
        return None
    builder = _Builder(display, sink, decoded)
    before = len(sink.items)
    try:
        _check_expansion(nodes[0])
        data = builder.build(nodes[0], ())
    except _TooBig as big:
        _too_large(display, big, sink)
        return None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        sink.add("yaml_value", str(exc.problem), _loc(display, mark) if mark else Location(display))
        return None
    if len(sink.items) > before:
        return None  # a refused tag or a repeated key: validating what is left would only add noise
    return Document(data, builder.source, text)


def _unparsed(display: str, text: str, unparsed: _Unparsed, sink: DiagnosticSink) -> None:
    exc = unparsed.error
    if isinstance(exc, yaml.MarkedYAMLError):
        message, mark, hint = _describe(exc, text, unparsed.loader)
        sink.add("yaml_syntax", message, _loc(display, mark) if mark else Location(display), hint)
    else:
        sink.add("yaml_syntax", str(exc).strip(), Location(display))


def _too_large(display: str, big: _TooBig, sink: DiagnosticSink) -> None:
    mark = big.node.start_mark  # composed nodes and parsed events always have one
    sink.add("too_large", f"document is too large or too deep (over {MAX_NODES:,} values or {MAX_DEPTH} levels)",
             _loc(display, mark) if mark is not None else Location(display),
             "nest less deeply; aliases that expand into huge documents are refused")


def _describe(exc: yaml.MarkedYAMLError, text: str, loader: type) -> tuple[str, yaml.Mark | None, str | None]:
    """A YAML error in a policy author's words, at the place where the problem starts: (message, mark, hint).
    PyYAML reports where its parser gave up, in its own terms ("expected <block end>, but found '?'")."""
    problem, context = str(exc.problem or ""), str(exc.context or "")
    mark = exc.problem_mark or exc.context_mark
    if "quoted scalar" in context and exc.context_mark is not None:
        quote = text[exc.context_mark.index:exc.context_mark.index + 1] or '"'
        return ("this quote is never closed", exc.context_mark, f"add the closing {quote} at the end of the value")
    if mark is None:
        return _plain(problem or context), None, None
    opened = _quote_run_on(text, mark, loader)
    if opened is not None:
        quote = text[opened.start_mark.index:opened.start_mark.index + 1]
        return (f"this quote is not closed on its line; the value runs on to line {opened.end_mark.line + 1}",
                opened.start_mark, f"add the closing {quote} at the end of line {opened.start_mark.line + 1}")
    lines = text.split("\n")
    here = lines[mark.line] if mark.line < len(lines) else ""
    if "\t" in here[:max(mark.column, 1)] or "'\\t'" in problem:
        return "a tab character in the indentation", mark, "indent with spaces, not tabs"
    indent = len(here) - len(here.lstrip(" "))
    name = _what(here)
    if "mapping values are not allowed" in problem:
        above = _enclosing(lines, mark.line)
        if above and indent > above[0][0]:
            column, key = above[0]
            return (f"{name} is indented more than {key} above it", _at(mark, indent),
                    f"line it up with {key} (column {column + 1})")
        return ("a plain value holds ': ', which YAML reads as the start of a key", mark,
                "put the value in quotes (for example a reason or an expression)")
    if "could not find expected ':'" in problem and exc.context_mark is not None:
        start = exc.context_mark
        word = lines[start.line][start.column:].strip() if start.line < len(lines) else ""
        return (f"no ':' after '{word[:40]}'", start,
                "write 'key: value'; or, if this continues the value above, indent it under that value")
    if problem.startswith("expected ',' or"):  # inside { } or [ ]
        if "':'" in problem:
            return ("a value inside { } holds ':', which YAML reads as the start of a key", mark,
                    'put the value in quotes: reason: "Budget: too high"')
        return ("expected ',' or the closing bracket here", mark, "separate items with ', ' and close every { and [")
    if problem.startswith("expected <block end>") or "did not find expected" in problem:
        levels = [(c, k) for c, k in _enclosing(lines, mark.line) if c != indent][:2]
        spaces = f"{indent} space{'s' if indent != 1 else ''}"
        hint = " or ".join(f"{c} (like {k})" for c, k in levels)
        return (f"{name} is indented {spaces}, which lines it up with nothing above it", _at(mark, indent),
                f"indent it by {hint}" if hint else "check the indentation")
    return _plain(problem or context), mark, _yaml_hint(exc)


def _at(mark: yaml.Mark, column: int) -> yaml.Mark:
    return yaml.Mark(mark.name, mark.index - mark.column + column, mark.line, column, None, 0)  # no buffer: the pointer is unused


def _what(line: str) -> str:
    """How to name what a line starts: "'budget'" for a key, "this list item" for '- ...'."""
    text = line.strip()
    if text.startswith("- ") or text == "-":
        return "this list item"
    key = re.match(r"([^\s:#'\"{}\[\],]+)\s*:(\s|$)", text)
    return f"'{key[1]}'" if key else "this line"


def _enclosing(lines: list[str], number: int) -> list[tuple[int, str]]:
    """What the line ``number`` could line up with: (column, name) of the keys and items above it, nearest
    first, each less indented than the one before (the blocks the line is inside)."""
    found: list[tuple[int, str]] = []
    for line in reversed(lines[:number]):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        entries = [(indent, _what(line))]
        if text.startswith("- "):  # an item: its keys stand after the dash
            inner = text[1:].lstrip()
            entries = [(indent + len(text) - len(inner), _what(inner)), (indent, "the list item above")]
        for column, name in entries:
            if name != "this line" and (not found or column < found[-1][0]):
                found.append((column, name))
        if found and found[-1][0] == 0:
            break
    return found


def _quote_run_on(text: str, mark: yaml.Mark, loader: type) -> yaml.ScalarToken | None:
    """The quoted value that ends on the error's line after starting on an earlier one: the usual cause of an
    error several lines below a missing closing quote. None if there is none."""
    found: yaml.ScalarToken | None = None
    try:
        for token in yaml.scan(text, Loader=loader):
            if token.start_mark.line > mark.line:
                break
            if (isinstance(token, yaml.ScalarToken) and token.style in ("'", '"')
                    and token.start_mark.line < token.end_mark.line == mark.line):
                found = token
    except yaml.YAMLError:
        pass
    return found


_JARGON = {"'<scalar>'": "a value", "'<block end>'": "the end of the block", "'<block mapping start>'": "a new key",
           "'<block sequence start>'": "a list item", "'?'": "a key", "<block end>": "the end of the block",
           "'<stream end>'": "the end of the file", "'<document start>'": "'---'"}


def _plain(message: str) -> str:
    for word, plain in _JARGON.items():
        message = message.replace(word, plain)
    return message.strip()


def _yaml_hint(exc: yaml.MarkedYAMLError) -> str | None:
    problem = str(exc.problem or "")
    if "tab" in problem or "'\\t'" in problem:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "quote text that contains ': ' (for example a reason or an expression)"
    if "expected <block end>" in str(exc.context or "") + problem or "did not find expected" in problem:
        return ("check the indentation here; and quote a value that starts with {, [, *, & or ! "
                '(reason: "{budget} is too much")')
    return None
