"""Write decisions as a readable table, JSON, JSON Lines or CSV (streaming: one decision at a time)."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

from engine.io.profile import OUTPUT_COLUMNS
from engine.io.safe_text import EncodableText, TerminalText, encodable, json_text, replacing

if TYPE_CHECKING:  # annotations only: the command line reads FORMATS without loading pydantic
    from engine.decision import Decision
    from engine.scoring.ranking import Ranking

FORMATS = ("table", "json", "jsonl", "csv", "xlsx")


def write_decisions(decisions: Iterable[Decision], out: IO[str], fmt: str, policy_hash: str = "",
                    header: bool = True, derived: list[str] | None = None, carried: list[str] = (),
                    titled: bool = False) -> Counter:
    """Write every decision; return how many of each outcome were written. ``header=False``: appending to
    an earlier CSV output (resuming). ``derived``: the policy's derived values, the CSV's columns after the
    fixed ones (default: those of the first decision; an error row has none). ``carried``: the profile's
    carried columns, the CSV's last columns (a decision's ``carried`` cells). ``titled``: the table shows
    each proposal's title."""
    counts: Counter = Counter()
    # No str makes a writer fail; a table is for people: control characters shown (engine/io/safe_text.py).
    out = TerminalText(out) if fmt == "table" else out if fmt == "csv" else EncodableText(out)

    def counted(items: Iterable[Decision]) -> Iterable[Decision]:
        for d in items:
            counts[d.decision] += 1
            yield d

    if fmt == "table":
        _table(counted(decisions), out, policy_hash, list(carried), titled)
    elif fmt == "csv":
        _csv(counted(decisions), out, header, derived, list(carried))
    else:
        {"json": _json, "jsonl": _jsonl, "csv": _csv}[fmt](counted(decisions), out)
    return counts


def _json(decisions: Iterable[Decision], out: IO[str]) -> None:
    out.write("[")
    for i, d in enumerate(decisions):
        out.write(",\n" if i else "\n")
        out.write(json_text(json.dumps(d.to_json(), ensure_ascii=False)))
    out.write("\n]\n")


def _jsonl(decisions: Iterable[Decision], out: IO[str]) -> None:
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


def inert(value):
    """A text cell that a spreadsheet will not run as a formula (=HYPERLINK(...), +cmd, @SUM, ...), even
    after blanks or a line break. Numbers are left alone: a negative number is data, not a formula."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in _LEADS and _FORMULA_START.match(value):
        value = "'" + value
    if "\n" in value or "\r" in value:
        value = _FORMULA_AFTER_BREAK.sub(r"\1'", value)
    return value


def csv_writer(out: IO[str]):
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


def csv_header(derived: list[str], carried: list[str] = ()) -> list[str]:
    """Made from the policy and the profile, never from a row: an error row first drops no column, and
    --resume compares it with the header of the output it appends to."""
    return CSV_COLUMNS + derived + list(carried)


def decision_cells(d: Decision, derived: list[str], carried: list[str] = ()) -> list:
    """One decision as the cells of a CSV row or a Decisions sheet row, in ``csv_header`` order."""
    cells = [d.id, d.decision, "; ".join(d.routes), "; ".join(f.rule for f in d.findings),
             "; ".join(f.reason for f in d.findings), "; ".join(e.message for e in d.errors), d.source, d.row,
             d.policy_hash, d.as_of] + [d.derived.get(name) for name in derived]
    if carried:
        cells += [d.carried.get(name, "") for name in carried]
    return cells


def _csv(decisions: Iterable[Decision], out: IO[str], header: bool = True, derived: list[str] | None = None,
         carried: list[str] = ()) -> None:
    writer = csv_writer(out)
    for n, d in enumerate(decisions):
        if n == 0:
            derived = list(d.derived) if derived is None else derived
            if header:
                writer.writerow(csv_header(derived, carried))
        writer.writerow([inert(v) for v in decision_cells(d, derived, carried)])


CHUNK_FORMATS = ("csv", "jsonl")  # formats whose rows a batch's workers write (format_rows), the parent joins


def format_rows(decisions: Iterable[Decision], fmt: str, derived: list[str], carried: list[str] = ()) -> str:
    """The text ``write_decisions`` writes for these decisions as rows of a CSV (no header) or JSONL output,
    byte for byte: a batch's workers format their chunks, and the parent writes the texts in order."""
    buffer = io.StringIO(newline="")
    if fmt == "csv":
        writer = csv_writer(buffer)
        for d in decisions:
            writer.writerow([inert(v) for v in decision_cells(d, derived, carried)])
    elif fmt == "jsonl":
        write = EncodableText(buffer).write
        for d in decisions:
            write(json_text(json.dumps(d.to_json(), ensure_ascii=False)) + "\n")
    else:
        raise ValueError(f"rows of {fmt!r} are not written in chunks; formats: {', '.join(CHUNK_FORMATS)}")
    return buffer.getvalue()


_MARK = {"reject": "✗", "review": "?", "flag": "!"}


TITLE_WIDTH, CARRIED_WIDTH = 30, 16


def _table(decisions: Iterable[Decision], out: IO[str], policy_hash: str, carried: list[str] = (),
           titled: bool = False) -> None:
    """A table a PMO analyst reads: one proposal per line (its id, its title, the carried columns), then
    the totals. Widths are fixed, so the table streams; a longer cell is clipped with '…'."""
    named = (f"{'TITLE':<{TITLE_WIDTH}} " if titled else "") + "".join(
        f"{_clip(c.upper(), CARRIED_WIDTH):<{CARRIED_WIDTH}} " for c in carried)
    header = f"{'PROPOSAL':<14} {named}{'DECISION':<8}  {'APPROVERS':<40} WHY"
    out.write(header + "\n" + "─" * 110 + "\n")
    counts: Counter = Counter()
    for d in decisions:
        counts[d.decision] += 1
        if d.decision == "error":
            why = "; ".join(f"row {e.row}: {e.message}" if e.row else e.message for e in d.errors)
        else:
            why = ", ".join(f"{_MARK[f.effect]} {f.rule}" for f in d.findings) or "passed every rule"
        route = ", ".join(d.routes) if d.decision == "review" else ""
        cells = (f"{_clip(_one_line(d.title or ''), TITLE_WIDTH):<{TITLE_WIDTH}} " if titled else "") + "".join(
            f"{_clip(_one_line(d.carried.get(c, '')), CARRIED_WIDTH):<{CARRIED_WIDTH}} " for c in carried)
        out.write(f"{_clip(d.id or '-', 14):<14} {cells}{d.decision.upper():<8}  {_clip(route, 40):<40} "
                  f"{_clip(why, 200)}\n")
    total = sum(counts.values())
    parts = [f"{counts[k]} {k}" for k in ("accept", "review", "reject", "error") if counts[k]]
    out.write("─" * 110 + "\n")
    out.write(f"{total} proposal{'' if total == 1 else 's'}: {', '.join(parts) or 'none'}   "
              f"(✗ reject  ? review  ! flag)   policy {policy_hash}\n")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text or "\r" in text or "\t" in text else text


RANKING_FORMATS = ("table", "json", "csv", "xlsx")


def write_ranking(ranking: Ranking, out: IO[str], fmt: str) -> None:
    out = TerminalText(out) if fmt == "table" else EncodableText(out)
    {"table": _ranking_table, "json": _ranking_json, "csv": _ranking_csv}[fmt](ranking, out)


def _ranking_json(ranking: Ranking, out: IO[str]) -> None:
    out.write(json_text(json.dumps(ranking.to_json(), ensure_ascii=False, indent=1)) + "\n")


def _ranking_csv(ranking: Ranking, out: IO[str]) -> None:
    criteria = list(dict.fromkeys(c.criterion for e in ranking.entries for c in e.breakdown))
    writer = csv_writer(out)
    by_model = ["model"] if ranking.models else []  # several scoring models: the rank is within the model's pool
    panels = list(dict.fromkeys(p.criterion for e in ranking.entries for p in e.panel))
    writer.writerow(["rank", "id", "decision"] + by_model + ["score", "top_probability", "weight_change", "reason",
                     "source", "row", "policy_hash"] + [f"{c} (contribution)" for c in criteria]
                    + [f"{c} ({what})" for c in panels for what in ("panel score", "spread", "disagreed")])
    for e in ranking.entries:
        parts = {c.criterion: c.contribution for c in e.breakdown}
        rated = {p.criterion: p for p in e.panel}
        panel_cells = [cell for c in panels for cell in (
            (_num(float(rated[c].score)) if rated[c].score is not None else "",
             _num(float(rated[c].spread)) if rated[c].spread is not None else "",
             inert("; ".join(rated[c].disagreed))) if c in rated else ("", "", ""))]
        change = (f"{e.weight_change.criterion}: {e.weight_change.weight:.3f} -> {e.weight_change.new_weight:.3f}"
                  if e.weight_change else "")
        model = [e.model or ""] if ranking.models else []
        writer.writerow([inert(v) for v in [e.rank, e.id, e.decision, *model, _num(e.score), _num(e.top_probability),
                                            change, e.reason or "", e.source, e.row, ranking.policy_hash]]
                        + [_num(parts.get(c)) for c in criteria] + panel_cells)


def _num(value: float | None, places: int = 4) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _ranking_table(ranking: Ranking, out: IO[str]) -> None:
    sens = ranking.sensitivity is not None and ranking.sensitivity.get("available")
    head = f"{'RANK':>4}  {'PROPOSAL':<14} {'SCORE':>7}  {'DECISION':<8}"
    if sens:
        head += f"  {'P(TOP ' + str(ranking.top) + ')':>10}  {'DROPS OUT IF':<34}"
    head += "  MAIN CONTRIBUTIONS"
    width = max(100, len(head) + 30)
    out.write(head + "\n" + "─" * width + "\n")
    ranked = [e for e in ranking.entries if e.rank is not None]
    models = {m["id"]: m for m in ranking.models}
    for k, e in enumerate(ranked):
        if models and (k == 0 or ranked[k - 1].model != e.model):  # each model ranks its own pool
            m = models[e.model]
            out.write(f"model {m['id']}: {m['name']} ({m['method']}, {m['where']}): {m['ranked']} ranked\n")
        line = f"{e.rank:>4}  {_clip(e.id or '-', 14):<14} {e.score:>7.2f}  {e.decision.upper():<8}"
        if sens and e.top_probability is None:  # a model without weights, beside one with them
            line += f"  {'-':>10}  {'(no weights to vary)':<34}"
        elif sens:
            change = (f"{e.weight_change.criterion} {e.weight_change.weight:.2f}→{e.weight_change.new_weight:.2f}"
                      if e.weight_change else ("no single weight" if e.rank <= ranking.top else ""))
            line += f"  {e.top_probability:>10.1%}  {_clip(change, 34):<34}"
        main = sorted((c for c in e.breakdown if c.contribution), key=lambda c: -abs(c.contribution or 0))[:3]
        line += "  " + ", ".join(f"{c.criterion} {c.contribution:.1f}" for c in main)
        out.write(line + "\n")
        for result in e.panel:  # raters' scores combined: the spread, and who disagreed
            mark = "!" if result.needs_attention else " "
            out.write(f"{'':>4}  {mark} panel {_clip(result.summary(), 200)}\n")
        pool = models[e.model]["ranked"] if models else len(ranked)
        if e.rank == ranking.top and pool > ranking.top:
            out.write(f"{'':>4}  {'─ top ' + str(ranking.top) + ' ─'}\n")
    others = [e for e in ranking.entries if e.rank is None]
    if others:
        out.write("─" * width + "\nNot ranked:\n")
        for e in others:
            reason = (e.reason or "").removeprefix(f"{e.decision}: ")  # the column already says it
            out.write(f"{'':>4}  {_clip(e.id or '-', 14):<14} {e.decision.upper():<8} {_clip(reason, 240)}\n")
    out.write("─" * width + "\n")
    weights = ", ".join(f"{k} {v:.2f}" for k, v in ranking.weights.items())
    out.write(f"{len(ranked)} ranked, {len(others)} not ranked   method {ranking.method}"
              + (f"   weights: {weights}" if weights else "") + f"   policy {ranking.policy_hash}\n")


def write_xlsx(decisions: Iterable[Decision], path, ranking: Ranking | None = None,
               conflicts: list[dict] | None = None, derived: list[str] | None = None, carried: list[str] = ()) -> Counter:
    """A workbook with a Decisions sheet and a Findings sheet (and Ranking and Conflicts sheets when given),
    written as a stream. Text is stored as text, so a proposal named =HYPERLINK(...) stays inert."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    names = (["Ranking"] if ranking else []) + ["Decisions", "Findings"] + (["Conflicts"] if conflicts is not None else [])
    sheets = {name: book.create_sheet(name) for name in names}

    def row(sheet, values):
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

    counts: Counter = Counter()
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
    if ranking is not None:
        criteria = list(dict.fromkeys(c.criterion for e in ranking.entries for c in e.breakdown))
        row("Ranking", ["rank", "id", "decision", "score", "reason"] + criteria)
        for e in ranking.entries:
            parts = {c.criterion: c.contribution for c in e.breakdown}
            row("Ranking", [e.rank, e.id, e.decision, e.score, e.reason] + [parts.get(c) for c in criteria])
            if derived_names is None:  # no decisions given: the ranking's entries carry the findings
                for f in e.findings:
                    row("Findings", [e.id, f.rule, f.effect, f.reason, f.route, f.source])
        if derived_names is None:
            row("Decisions", ["id", "decision", "routes", "errors", "source", "row"])
            for e in ranking.entries:
                row("Decisions", [e.id, e.decision, "; ".join(e.routes), "; ".join(x.message for x in e.errors),
                                  e.source, e.row])
    if conflicts is not None:
        row("Conflicts", ["kind", "projects", "periods", "message"])
        for c in conflicts:
            row("Conflicts", [c["kind"], ", ".join(c["projects"]), ", ".join(c["periods"]), c["message"]])
    try:
        with replacing(path, binary=True) as f:  # a workbook cannot be resumed: whole, or the earlier file as it was
            _save(book, f)
    except BaseException:
        _discard(book)
        raise
    return counts


def _save(book, f) -> None:
    """openpyxl's save_workbook, but a zip archive that fails part-way is closed here (its __del__ would
    write to the broken file again, and Python prints that traceback at exit)."""
    import datetime as dt
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


def _discard(book) -> None:
    """Close the sheets of a workbook that was not saved: left open, each writes its end into a closed file
    when it is collected, and Python prints that traceback at exit."""
    for sheet in book.worksheets:
        with contextlib.suppress(Exception):
            sheet.close()
