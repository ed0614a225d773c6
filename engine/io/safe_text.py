"""Text on its way out: to a terminal, a file, a spreadsheet cell, the decision log.

Two guarantees, one way each (docs/reliability.md, "Outputs and the log"):

* No writer fails on a Python ``str``. A surrogate code point (U+D800..U+DFFF: a lone one from a
  JSON-escaped ``"\\ud800"``, or the two halves of a pair that never got joined) cannot be encoded as
  UTF-8, so it is written as the six characters ``\\udXXX``. In JSON that is the escape of the same
  code point (exact JSON; ``json.loads`` gives it back; a pair becomes its character); elsewhere it is
  visible text.
* Text that reaches a terminal sends no control characters: ESC, CSI (U+009B), BEL, backspace, a bare
  CR and the rest are shown as ``\\x1b``, ``\\u009b``..., so a proposal id cannot erase lines,
  recolour the screen, retitle the window or plant an OSC 8 link. Newline is kept (it ends our lines).
  C0 characters are shown as ``\\xNN`` (JSON never holds them raw), everything else as ``\\uXXXX``,
  which inside a JSON string is the escape of the same character: JSON stays exact JSON.
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Literal, TypeVar, overload

# C0 controls but newline, DEL, C1 controls, bidi embeddings/overrides/isolates (they reorder what is
# shown: "Trojan source"), line and paragraph separators, and surrogates.
_TERMINAL_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# What a JSON text may not send to a terminal raw, beyond what json.dumps already escapes (C0).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def for_terminal(text: str) -> str:
    """Text with every control character shown, not sent (newline kept)."""
    return _TERMINAL_UNSAFE.sub(_shown, text) if _TERMINAL_UNSAFE.search(text) else text


def json_text(text: str) -> str:
    """A JSON text (from json.dumps) that any UTF-8 stream can take and any terminal can show: surrogates,
    DEL, C1 and bidi controls become \\uXXXX escapes of themselves, so it decodes to the same data."""
    return text if text.isascii() or not _JSON_UNSAFE.search(text) else _JSON_UNSAFE.sub(_escaped, text)


def encodable(text: str) -> str:
    """Text any UTF-8 stream, SQLite or XML can take: surrogates written as \\udXXX."""
    return text if text.isascii() or not _SURROGATES.search(text) else _SURROGATES.sub(_escaped, text)


class TerminalText:
    """A text stream for people: what is written has its control characters shown (``for_terminal``).
    ``raw`` is the stream underneath, for our own cursor control (the progress line's ``\\r``)."""

    def __init__(self, raw: IO[str]):
        self.raw = raw

    def write(self, text: str) -> int:
        return self.raw.write(for_terminal(text))

    def __getattr__(self, name: str) -> object:  # flush, isatty, fileno, encoding, ...
        return getattr(self.raw, name)


class EncodableText:
    """A text stream that never fails on a surrogate (``encodable``)."""

    def __init__(self, raw: IO[str]):
        self.raw = raw

    def write(self, text: str) -> int:
        return self.raw.write(encodable(text))

    def __getattr__(self, name: str) -> object:
        return getattr(self.raw, name)


def raw_stream(stream: IO[str]) -> IO[str]:
    """The stream under a TerminalText (for cursor control we write ourselves)."""
    return stream.raw if isinstance(stream, TerminalText) else stream


@overload
def replacing(path: str | os.PathLike[str], binary: Literal[False] = False) -> contextlib.AbstractContextManager[IO[str]]: ...
@overload
def replacing(path: str | os.PathLike[str], binary: Literal[True]) -> contextlib.AbstractContextManager[IO[bytes]]: ...
def replacing(path: str | os.PathLike[str], binary: bool = False
              ) -> contextlib.AbstractContextManager[IO[str]] | contextlib.AbstractContextManager[IO[bytes]]:
    """A file that takes the place of ``path`` only once it is whole (a workbook, a report: formats that
    cannot be resumed). It is written beside ``path`` under a temporary name, synced, then renamed over
    it; on any failure the temporary file is removed and ``path`` is as it was. An OSError (a full disk,
    a folder that cannot be written) is raised again naming ``path``: a failed write() names no file.
    Text is UTF-8; a surrogate is written as \\udXXX."""
    if binary:
        return _replacing(Path(path), lambda temporary: open(temporary, "wb"))
    return _replacing(Path(path), lambda temporary: open(temporary, "w", encoding="utf-8",
                                                         errors="backslashreplace", newline=""))


_Stream = TypeVar("_Stream", IO[str], IO[bytes])


@contextlib.contextmanager
def _replacing(path: Path, opening: Callable[[Path], _Stream]) -> Iterator[_Stream]:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with opening(temporary) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
