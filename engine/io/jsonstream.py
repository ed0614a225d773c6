"""JSON and JSONL proposals, read one proposal at a time with the standard library's C scanner.

Why not a streaming parser such as ijson: its C back end converts every number itself, and a number of
over 4,300 digits made it fail inside the C code (a segfault once a second number followed). Here the
text is cut into proposals and each is decoded by ``json``'s scanner with hooks that bound number
literals (MAX_DIGITS) and mark repeated keys, before any conversion. Memory holds one proposal (and a
read chunk), not the file.
"""
from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

from engine.decision import RowError
from engine.errors import Diagnostic, InputError, Location
from engine.io.rows import MAX_DEPTH, UNREAD_BYTES, Row, bounded_row, pairs_to_dict, parse_decimal, parse_int

JSON_CHUNK = 1 << 16  # characters read at a time
MAX_ITEM = 64 << 20  # characters in one proposal (or one value beside "proposals"): a bigger one is refused
DECODER = json.JSONDecoder(object_pairs_hook=pairs_to_dict, parse_int=parse_int, parse_float=parse_decimal)
CHECKER = json.JSONDecoder()  # the syntax pass: all in C (an int of over 4,300 digits raises ValueError)


def json_rows(path: Path, name: str, encoding: str) -> Iterator[Row]:
    """The proposals of a JSON list (or {"proposals": [...]}). The whole file is checked first (each
    proposal decoded and dropped), so a broken file is refused before any row is decided."""
    for _ in _items(path, name, encoding, check=True):
        pass
    return (_row(item, number, name) for number, item in enumerate(_items(path, name, encoding), 1))


def jsonl_rows(lines: Iterable[str], name: str) -> Iterator[Row]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = DECODER.decode(line)
        except (ValueError, RecursionError) as exc:
            message = f"line is not JSON: {exc}" if not isinstance(exc, RecursionError) else \
                f"line is nested more than {MAX_DEPTH} levels deep"
            yield Row(None, number, name, RowError(row=number, code="bad_json", message=message))
            continue
        yield _row(data, number, name)


def _row(data: Any, number: int, name: str) -> Row:
    if not isinstance(data, dict):
        return Row(None, number, name, RowError(row=number, code="not_an_object",
                                                message=f"expected an object of fields, got {type(data).__name__}"))
    return bounded_row(data, number, name)


class _Text:
    """A file's text read in chunks, with a position in it; consumed text is dropped as it goes."""

    def __init__(self, f: IO[bytes], encoding: str, name: str):
        self.f, self.name = f, name
        self.decoder = codecs.getincrementaldecoder(encoding)(errors=UNREAD_BYTES)
        self.buf, self.pos, self.eof = "", 0, False
        self.line = 1  # the line of buf[0], for messages

    def more(self, chars: int) -> None:
        if self.pos:
            self.line += self.buf.count("\n", 0, self.pos)
            self.buf, self.pos = self.buf[self.pos:], 0
        if len(self.buf) > MAX_ITEM:
            self.fail(f"a proposal (or a value beside the list) is over {MAX_ITEM:,} characters long")
        while chars > 0 and not self.eof:
            data = self.f.read(max(chars, JSON_CHUNK))
            self.eof = not data
            text = self.decoder.decode(data, final=self.eof)
            self.buf += text
            chars -= len(text)

    def peek(self) -> str | None:
        """The next character that is not white space (None at the end), without consuming it."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return None
            self.more(JSON_CHUNK)

    def expect(self, chars: str, what: str) -> str:
        found = self.peek()
        if found is None or found not in chars:
            self.fail(f"expected {what}, found {'the end of the file' if found is None else repr(found)}")
        self.pos += 1
        return found

    def value(self, check: bool = False) -> Any:
        """The next JSON value, reading on while it may continue past the text read so far. With ``check``
        (the syntax pass) it is decoded without the bounding hooks, which is faster."""
        self.peek()
        wanted = JSON_CHUNK
        while True:
            try:
                try:
                    value, end = (CHECKER if check else DECODER).raw_decode(self.buf, self.pos)
                except ValueError as exc:
                    if isinstance(exc, json.JSONDecodeError) or not check:
                        raise
                    value, end = DECODER.raw_decode(self.buf, self.pos)  # a huge int: bounded, not converted
            except RecursionError:
                self.fail(f"JSON nested more than {MAX_DEPTH} levels deep", "a proposal is a flat object of fields")
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 16
                if self.eof or not cut:
                    self.fail(f"file cannot be parsed: {exc.msg}", at=exc.pos)
            else:
                if end < len(self.buf) or self.eof:  # a number at the very end might go on in the next chunk
                    self.pos = end
                    return value
            self.more(wanted)
            wanted *= 2  # a long value is decoded again after each read: doubling keeps the work linear

    def fail(self, message: str, hint: str | None = None, at: int | None = None) -> NoReturn:
        line = 0  # the whole file
        if at is not None:
            line = self.line + self.buf.count("\n", 0, at)
        raise InputError([Diagnostic("bad_file", message, Location(self.name, line), hint)])


def _items(path: Path, name: str, encoding: str, check: bool = False) -> Iterator[Any]:
    with path.open("rb") as f:
        text = _Text(f, encoding, name)
        first = text.peek()
        if first == "[":
            yield from _list(text, check)
        elif first == "{":
            yield from _wrapped(text, check)
        else:
            _not_a_list(name)
        if text.peek() is not None:
            text.fail("file cannot be parsed: extra data after the list of proposals")


def _list(text: _Text, check: bool) -> Iterator[Any]:
    text.expect("[", "'['")
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        item = text.value(check)
        if check:
            _check_depth(item, text)
        yield item
        if text.expect(",]", "',' or ']'") == "]":
            return


def _wrapped(text: _Text, check: bool) -> Iterator[Any]:
    """{"proposals": [...], other keys...}: the list is streamed, other values are read and dropped."""
    text.expect("{", "'{'")
    seen: set[str] = set()
    listed = False
    if text.peek() == "}":
        _not_a_list(text.name)
    while True:
        if text.peek() != '"':
            text.fail("file cannot be parsed: expected a key in double quotes")
        key = text.value()
        if key in seen:
            raise InputError([Diagnostic("duplicate_key", f"key {key!r} appears twice in the file's object",
                                         Location(text.name), "keep one list of proposals")])
        seen.add(key)
        text.expect(":", "':'")
        if key == "proposals" and text.peek() == "[":
            listed = True
            yield from _list(text, check)
        else:
            text.value(check)
        if text.expect(",}", "',' or '}'") == "}":
            break
    if not listed:
        _not_a_list(text.name)


def _not_a_list(name: str) -> NoReturn:
    raise InputError([Diagnostic("bad_file", "expected a list of proposals (or {\"proposals\": [...]})",
                                 Location(name))])


def _check_depth(value: Any, text: _Text, depth: int = 1) -> None:
    if depth > MAX_DEPTH:
        text.fail(f"JSON nested more than {MAX_DEPTH} levels deep", "a proposal is a flat object of fields")
    if isinstance(value, (dict, list)):
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, (dict, list)):
                _check_depth(item, text, depth + 1)
