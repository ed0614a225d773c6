"""Write decisions as a readable table, JSON, JSON Lines or CSV (streaming: one decision at a time)."""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, Protocol

from engine.io.columns import OUTPUT_COLUMNS
from engine.io.safe_text import EncodableText, TerminalText, encodable, json_text, replacing

if TYPE_CHECKING:  # annotations only: the command line reads FORMATS without loading pydantic
    from typing import TypeAlias

    from engine.decision import Decision, Verdict

    Written: TypeAlias = Decision | Verdict  # a pydantic Decision, or the batch path's plain record of one

FORMATS = ("table", "json", "jsonl", "csv", "xlsx")


class Text(Protocol):
    """Where text is written: a file, or one of engine/io/safe_text.py's wrappers around one."""

    def write(self, text: str, /) -> int: ...


def write_decisions(decisions: Iterable[Written], out: IO[str], fmt: str, policy_hash: str = "",
                    header: bool = True, derived: list[str] | None = None, carried: Sequence[str] = (),
                    titled: bool = False) -> Counter[str]:
    """Write every decision; return how many of each outcome were written. ``header=False``: appending to
    an earlier CSV output (resuming). ``derived``: the policy's derived values, the CSV's columns after the
    fixed ones (default: those of the first decision; an error row has none). ``carried``: the profile's
    carried columns, the CSV's last columns (a decision's ``carried`` cells). ``titled``: the table shows
    each proposal's title."""
    counts: Counter[str] = Counter()
    # No str makes a writer fail; a table is for people: control characters shown (engine/io/safe_text.py).
    text: Text = TerminalText(out) if fmt == "table" else out if fmt == "csv" else EncodableText(out)

    def counted(items: Iterable[Written]) -> Iterable[Written]:
        for d in items:
            counts[d.decision] += 1
            yield d

    if fmt == "table":
        _table(counted(decisions), text, policy_hash, list(carried), titled)
    elif fmt == "csv":
        _csv(decisions, text, header, derived, list(carried), counts)
    elif fmt == "json":
        _json(counted(decisions), text)
    else:
        _jsonl(counted(decisions), text)
    return counts


def _json(decisions: Iterable[Written], out: Text) -> None:
    out.write("[")
    for i, d in enumerate(decisions):
        out.write(",\n" if i else "\n")
        out.write(json_text(json.dumps(d.to_json(), ensure_ascii=False)))
    out.write("\n]\n")


def _jsonl(decisions: Iterable[Written], out: Text) -> None:
    for d in decisions:
        out.write(json_text(json.dumps(d.to_json(), ensure_ascii=False)) + "\n")


CSV_COLUMNS = list(OUTPUT_COLUMNS)  # then the policy's derived values, then the profile's carried columns
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A cell whose text, after these, starts with a formula character is neutralised too. Verified with
# LibreOffice 7.4 (CSV import): a leading space is trimmed with "Remove spaces" on and the cell runs;
# the rest (no-break, ideographic and zero-width spaces, BOM, full-width forms) stayed text there, but
# are one trim or NFKC normalisation away from a formula (docs/reliability.md, "Outputs and the log").
_BLANKS = " \u00a0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
_SIGNS = "=+\\-@\uff1d\uff0b\uff0d\uff20"  # and their full-width forms
_FORMULA_START = re.compile(f"[{_BLANKS}]*[{_SIGNS}\t\r]")
_LEADS = frozenset(" \u00a0\u1680\u2028\u2029\u202f\u205f\u2060\u3000\ufeff=+-@\uff1d\uff0b\uff0d\uff20\t\r"
                   + "".join(map(chr, range(0x2000, 0x200e))))  # the first characters _FORMULA_START can match
# After a line break: it starts a new row for a tool that splits lines itself (and did for every CSV
# reader while a bare CR went out unquoted), so what follows one is neutralised as a cell start is.
_FORMULA_AFTER_BREAK = re.compile(f"(\r\n|[\r\n])(?=[{_BLANKS}]*[{_SIGNS}\t])")


def inert(value: Any) -> Any:
    """A text cell that a spreadsheet will not run as a formula (=HYPERLINK(...), +cmd, @SUM, ...), even
    after blanks or a line break. Numbers are left alone: a negative number is data, not a formula."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in _LEADS and _FORMULA_START.match(value):
        value = "'" + value
    if "\n" in value or "\r" in value:
        value = _FORMULA_AFTER_BREAK.sub(r"\1'", value)
    return value


def csv_line(cells: Sequence[Any]) -> str:
    """One CSV row as ``csv_writer`` writes it (``inert`` cells, RFC 4180 minimal quoting, "\n" at the end),
    made without the csv module: its writer tests every character of every cell against the dialect's
    characters, twice (once to size the row, once to copy it), which was a quarter of a batch's instructions
    per row (reasons run to hundreds of characters). Here a cell that is plain text is tested by four C-level
    ``in`` scans and passed as it is, None and numbers (str() of an int or a float holds no character to quote)
    are written here, and the rest go through ``_csv_text``. The same text, byte for byte:
    tests/test_csv_line.py compares the two on random cells. (A row has two or more cells: csv alone quotes a
    row that is one empty cell.)"""
    leads = _LEADS
    line = ",".join([
        v if kind is str and (not v or (
            v[0] not in leads and "," not in v and '"' not in v and "\n" not in v and "\r" not in v))
        else "" if v is None
        else str(v) if kind is int or kind is float
        else _csv_text(v)
        for v in cells for kind in (v.__class__,)])
    return (line if line.isascii() else encodable(line)) + "\n"


def _csv_text(value: Any) -> str:
    """A cell's text as csv's writer (QUOTE_MINIMAL, lineterminator "\r\n") writes it, after ``inert``: None as
    nothing, text as it is (a str subclass by its characters), anything else as ``str()`` gives it; quoted, with
    its quotes doubled, when it holds a comma, a quote, a CR or a LF."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = str.__str__(inert(value))
    else:
        text = str(value)
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_writer(out: IO[str]) -> Any:  # csv's writer object (its type is private to _csv)
    """RFC 4180 cells, rows ended by "\n". csv's minimal quoting quotes a cell holding a character of the
    line terminator, so with "\n" alone a cell holding a bare CR went out unquoted and Excel, LibreOffice
    and Python's csv all read a new row there: rows are made with "\r\n" and written with "\n"."""
    return csv.writer(_NewlineRows(out), lineterminator="\r\n")


class _NewlineRows:
    """Rows made with "\r\n", written with "\n", and encodable (a surrogate as \\udXXX)."""

    def __init__(self, out: IO[str]):
        self.write_out = out.write

    def write(self, row: str) -> int:
        return self.write_out(encodable(row[:-2]) + "\n")


def csv_header(derived: Sequence[str], carried: Sequence[str] = ()) -> list[str]:
    """Made from the policy and the profile, never from a row: an error row first drops no column, and
    --resume compares it with the header of the output it appends to."""
    return CSV_COLUMNS + list(derived) + list(carried)


def decision_cells(d: Written, derived: Sequence[str], carried: Sequence[str] = ()) -> list[Any]:
    """One decision as the cells of a CSV row or a Decisions sheet row, in ``csv_header`` order."""
    if hasattr(d.__class__, "rule_ids"):  # a plain record (engine.decision.Verdict): texts joined once per plan
        v: Verdict = d  # type: ignore[assignment]  # hasattr, not isinstance (engine.decision is not loaded here), and no cast() call a row
        cells = [v.id, v.decision, "; ".join(v.routes), v.rule_ids, v.reasons_text,
                 "; ".join([e.message for e in v.errors]) if v.errors else "", v.source, v.row, v.policy_hash,
                 v.as_of]
    else:
        cells = [d.id, d.decision, "; ".join(d.routes), "; ".join(f.rule for f in d.findings),
                 "; ".join(f.reason for f in d.findings), "; ".join(e.message for e in d.errors), d.source, d.row,
                 d.policy_hash, d.as_of]
    values = d.derived
    cells += [values.get(name) for name in derived]
    if carried:
        cells += [d.carried.get(name, "") for name in carried]
    return cells


def _csv(decisions: Iterable[Written], out: Text, header: bool = True, derived: list[str] | None = None,
         carried: Sequence[str] = (), counts: Counter[str] | None = None) -> None:
    """``counts``: counted here, a generator less per row (write_decisions counts the other formats' rows)."""
    write = out.write
    counts = Counter() if counts is None else counts
    for n, d in enumerate(decisions):
        if n == 0:
            derived = list(d.derived) if derived is None else derived
            if header:
                write(csv_line(csv_header(derived, carried)))
        counts[d.decision] += 1
        write(csv_line(decision_cells(d, derived, carried)))  # type: ignore[arg-type]


CHUNK_FORMATS = ("csv", "jsonl")  # formats whose rows a batch's workers write (format_rows), the parent joins


def format_rows(decisions: Iterable[Written], fmt: str, derived: Sequence[str], carried: Sequence[str] = ()) -> str:
    """The text ``write_decisions`` writes for these decisions as rows of a CSV (no header) or JSONL output,
    byte for byte: a batch's workers format their chunks, and the parent writes the texts in order."""
    if fmt == "csv":
        return "".join([csv_line(decision_cells(d, derived, carried)) for d in decisions])
    if fmt != "jsonl":
        raise ValueError(f"rows of {fmt!r} are not written in chunks; formats: {', '.join(CHUNK_FORMATS)}")
    buffer = io.StringIO(newline="")
    write = EncodableText(buffer).write
    for d in decisions:
        write(json_text(json.dumps(d.to_json(), ensure_ascii=False)) + "\n")
    return buffer.getvalue()


_MARK = {"reject": "✗", "review": "?", "flag": "!"}


TITLE_WIDTH, CARRIED_WIDTH = 30, 16


def _table(decisions: Iterable[Written], out: Text, policy_hash: str, carried: Sequence[str] = (),
           titled: bool = False) -> None:
    """A table a PMO analyst reads: one proposal per line (its id, its title, the carried columns), then
    the totals. Widths are fixed, so the table streams; a longer cell is clipped with '…'."""
    named = (f"{'TITLE':<{TITLE_WIDTH}} " if titled else "") + "".join(
        f"{clip(c.upper(), CARRIED_WIDTH):<{CARRIED_WIDTH}} " for c in carried)
    header = f"{'PROPOSAL':<14} {named}{'DECISION':<8}  {'APPROVERS':<40} WHY"
    out.write(header + "\n" + "─" * 110 + "\n")
    counts: Counter[str] = Counter()
    for d in decisions:
        counts[d.decision] += 1
        if d.decision == "error":
            why = "; ".join(f"row {e.row}: {e.message}" if e.row else e.message for e in d.errors)
        else:
            why = ", ".join(f"{_MARK[f.effect]} {f.rule}" for f in d.findings) or "passed every rule"
        route = ", ".join(d.routes) if d.decision == "review" else ""
        cells = (f"{clip(one_line(d.title or ''), TITLE_WIDTH):<{TITLE_WIDTH}} " if titled else "") + "".join(
            f"{clip(one_line(d.carried.get(c, '')), CARRIED_WIDTH):<{CARRIED_WIDTH}} " for c in carried)
        out.write(f"{clip(d.id or '-', 14):<14} {cells}{d.decision.upper():<8}  {clip(route, 40):<40} "
                  f"{clip(why, 200)}\n")
    total = sum(counts.values())
    parts = [f"{counts[k]} {k}" for k in ("accept", "review", "reject", "error") if counts[k]]
    out.write("─" * 110 + "\n")
    out.write(f"{total} proposal{'' if total == 1 else 's'}: {', '.join(parts) or 'none'}   "
              f"(✗ reject  ? review  ! flag)   policy {policy_hash}\n")


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one '…' when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def one_line(text: str) -> str:
    """A cell on one line of a table (its line breaks and tabs as spaces)."""
    return " ".join(text.split()) if "\n" in text or "\r" in text or "\t" in text else text


def write_xlsx(decisions: Iterable[Written], path: Any, derived: list[str] | None = None,
               carried: Sequence[str] = ()) -> Counter[str]:
    """A workbook with a Decisions sheet and a Findings sheet, written as a stream. Text is stored as text, so a
    proposal named =HYPERLINK(...) stays inert."""
    counts: Counter[str] = Counter()
    with workbook(path, ["Decisions", "Findings"]) as row:
        derived_names: list[str] | None = None
        row("Findings", ["id", "rule", "effect", "reason", "route", "source"])
        for d in decisions:
            counts[d.decision] += 1
            if derived_names is None:
                derived_names = list(d.derived) if derived is None else derived
                row("Decisions", csv_header(derived_names, carried))
            row("Decisions", decision_cells(d, derived_names, carried))
            for f in d.findings:
                row("Findings", [d.id, f.rule, f.effect, f.reason, f.route, f.source])
    return counts


@contextlib.contextmanager
def workbook(path: Any, names: Sequence[str]) -> Iterator[Callable[[str, Sequence[Any]], None]]:
    """A workbook of the named sheets (in this order), written as a stream: the body adds rows with
    ``row(sheet, values)``, in any order of sheets. Text is stored as text (never a formula), lists and mappings
    as their text, control characters as U+FFFD (a workbook allows none). Saved whole when the body ends,
    replacing ``path``; an error leaves the earlier file as it was."""
    from openpyxl import Workbook  # openpyxl loads only when a workbook is written
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheets = {name: book.create_sheet(name) for name in names}

    def row(sheet: str, values: Sequence[Any]) -> None:
        cells = []
        for value in values:
            if isinstance(value, (list, dict)):
                value = str(value)
            if isinstance(value, str):  # control characters are not allowed in a workbook: shown as U+FFFD
                value = encodable(ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
            cell = WriteOnlyCell(sheets[sheet], value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula
            cells.append(cell)
        sheets[sheet].append(cells)

    try:
        yield row
        with replacing(path, binary=True) as f:  # a workbook cannot be resumed: whole, or the earlier file as it was
            _save(book, f)
    except BaseException:
        _discard(book)
        raise


def _save(book: Any, f: IO[bytes]) -> None:
    """openpyxl's save_workbook, but a zip archive that fails part-way is closed here (its __del__ would
    write to the broken file again, and Python prints that traceback at exit)."""

    # lazy: openpyxl (and zipfile) load only when a workbook is read or written
    from zipfile import ZIP_DEFLATED, ZipFile

    from openpyxl.writer.excel import ExcelWriter

    archive = ZipFile(f, "w", ZIP_DEFLATED, allowZip64=True)
    book.properties.modified = dt.datetime.now(tz=dt.UTC).replace(tzinfo=None)
    try:
        ExcelWriter(book, archive).save()
    except BaseException:
        with contextlib.suppress(Exception):
            archive.close()  # fails on the broken file too, but lets it go
        raise


def _discard(book: Any) -> None:
    """Close the sheets of a workbook that was not saved: left open, each writes its end into a closed file
    when it is collected, and Python prints that traceback at exit."""
    for sheet in book.worksheets:
        with contextlib.suppress(Exception):
            sheet.close()
