"""A ranking written out: a table to read, JSON, CSV (formula-safe cells), or the sheets of a workbook.

The writers of ``engine/io`` know rows and cells, not rankings: the ranking's own columns are here, with it.
"""
from __future__ import annotations

import json
import os
from typing import IO, TYPE_CHECKING, Any, cast

from engine.io.safe_text import EncodableText, TerminalText, json_text
from engine.io.writers import CARRIED_WIDTH, TITLE_WIDTH, clip, csv_writer, inert, one_line, workbook

if TYPE_CHECKING:  # annotations only: the command line reads RANKING_FORMATS without loading numpy
    from engine.scoring.panel import PanelResult
    from engine.scoring.ranking import RankEntry, Ranking

RANKING_FORMATS = ("table", "json", "csv", "xlsx")


def write_ranking(ranking: Ranking, out: IO[str], fmt: str) -> None:
    # each passes the rest of IO on to the stream it wraps
    out = cast(IO[str], TerminalText(out) if fmt == "table" else EncodableText(out))
    {"table": _ranking_table, "json": _ranking_json, "csv": _ranking_csv}[fmt](ranking, out)


def _ranking_json(ranking: Ranking, out: IO[str]) -> None:
    out.write(json_text(json.dumps(ranking.to_json(), ensure_ascii=False, indent=1)) + "\n")


def _ranking_csv(ranking: Ranking, out: IO[str]) -> None:
    criteria = list(dict.fromkeys(c.criterion for e in ranking.entries for c in e.breakdown))
    writer = csv_writer(out)
    by_model = ["model"] if ranking.models else []  # several scoring models: the rank is within the model's pool
    panels = list(dict.fromkeys(p.criterion for e in ranking.entries for p in e.panel))
    carried = ranking.carried
    writer.writerow(["rank", "id", "decision"] + by_model + ["score", "top_probability", "weight_change", "reason",
                     "source", "row", "policy_hash"] + [f"{c} (contribution)" for c in criteria]
                    + [f"{c} ({what})" for c in panels for what in ("panel score", "spread", "disagreed")]
                    + carried)  # the input profile's carried columns, last (as in pmo evaluate's CSV)
    for e in ranking.entries:
        parts = {c.criterion: c.contribution for c in e.breakdown}
        rated = {p.criterion: p for p in e.panel}
        panel_cells = [cell for c in panels for cell in _panel_cells(rated.get(c))]
        change = (f"{e.weight_change.criterion}: {e.weight_change.weight:.3f} -> {e.weight_change.new_weight:.3f}"
                  if e.weight_change else "")
        model = [e.model or ""] if ranking.models else []
        writer.writerow([inert(v) for v in [e.rank, e.id, e.decision, *model, _num(e.score), _num(e.top_probability),
                                            change, e.reason or "", e.source, e.row, ranking.policy_hash]]
                        + [_num(parts.get(c)) for c in criteria] + panel_cells
                        + [inert(e.carried.get(c, "")) for c in carried])


def _panel_cells(result: PanelResult | None) -> tuple[str, str, str]:
    """A panel criterion's CSV cells: its combined score, the spread and who disagreed (empty when not rated)."""
    if result is None:
        return "", "", ""
    return (_num(float(result.score)) if result.score is not None else "",
            _num(float(result.spread)) if result.spread is not None else "",
            inert("; ".join(result.disagreed)))


def _num(value: float | None, places: int = 4) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _ranking_table(ranking: Ranking, out: IO[str]) -> None:
    sens = ranking.sensitivity is not None and ranking.sensitivity.get("available")
    carried, titled = ranking.carried, ranking.titled
    named = (f"{'TITLE':<{TITLE_WIDTH}} " if titled else "") + "".join(
        f"{clip(c.upper(), CARRIED_WIDTH):<{CARRIED_WIDTH}} " for c in carried)

    def names(e: RankEntry) -> str:  # the title and the carried cells, as pmo evaluate's table shows them
        return (f"{clip(one_line(e.title or ''), TITLE_WIDTH):<{TITLE_WIDTH}} " if titled else "") + "".join(
            f"{clip(one_line(e.carried.get(c, '')), CARRIED_WIDTH):<{CARRIED_WIDTH}} " for c in carried)
    head = f"{'RANK':>4}  {'PROPOSAL':<14} {named}{'SCORE':>7}  {'DECISION':<8}"
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
        line = f"{e.rank:>4}  {clip(e.id or '-', 14):<14} {names(e)}{e.score:>7.2f}  {e.decision.upper():<8}"
        if sens and e.top_probability is None:  # a model without weights, beside one with them
            line += f"  {'-':>10}  {'(no weights to vary)':<34}"
        elif sens:
            change = (f"{e.weight_change.criterion} {e.weight_change.weight:.2f}→{e.weight_change.new_weight:.2f}"
                      if e.weight_change else ("no single weight" if e.rank is not None and e.rank <= ranking.top else ""))
            line += f"  {e.top_probability:>10.1%}  {clip(change, 34):<34}"
        main = sorted((c for c in e.breakdown if c.contribution), key=lambda c: -abs(c.contribution or 0))[:3]
        line += "  " + ", ".join(f"{c.criterion} {c.contribution:.1f}" for c in main)
        out.write(line + "\n")
        for result in e.panel:  # raters' scores combined: the spread, and who disagreed
            mark = "!" if result.needs_attention else " "
            out.write(f"{'':>4}  {mark} panel {clip(result.summary(), 200)}\n")
        pool = models[e.model]["ranked"] if models else len(ranked)
        if e.rank == ranking.top and pool > ranking.top:
            out.write(f"{'':>4}  {'─ top ' + str(ranking.top) + ' ─'}\n")
    others = [e for e in ranking.entries if e.rank is None]
    if others:
        out.write("─" * width + "\nNot ranked:\n")
        for e in others:
            reason = (e.reason or "").removeprefix(f"{e.decision}: ")  # the column already says it
            out.write(f"{'':>4}  {clip(e.id or '-', 14):<14} {names(e)}{e.decision.upper():<8} {clip(reason, 240)}\n")
    out.write("─" * width + "\n")
    weights = ", ".join(f"{k} {v:.2f}" for k, v in ranking.weights.items())
    out.write(f"{len(ranked)} ranked, {len(others)} not ranked   method {ranking.method}"
              + (f"   weights: {weights}" if weights else "") + f"   policy {ranking.policy_hash}\n")


def write_ranking_xlsx(ranking: Ranking, path: str | os.PathLike[str], conflicts: list[dict[str, Any]] | None = None
                       ) -> None:
    """A workbook with the Ranking, the entries' decisions and findings, and the portfolio's Conflicts when given."""
    names = ["Ranking", "Decisions", "Findings"] + (["Conflicts"] if conflicts is not None else [])
    with workbook(path, names) as row:
        row("Findings", ["id", "rule", "effect", "reason", "route", "source"])
        criteria = list(dict.fromkeys(c.criterion for e in ranking.entries for c in e.breakdown))
        carried = ranking.carried
        row("Ranking", ["rank", "id", "decision", "score", "reason"] + criteria + carried)
        for e in ranking.entries:
            parts = {c.criterion: c.contribution for c in e.breakdown}
            row("Ranking", [e.rank, e.id, e.decision, e.score, e.reason] + [parts.get(c) for c in criteria]
                + [e.carried.get(c, "") for c in carried])
            for f in e.findings:  # the ranking's entries carry the findings
                row("Findings", [e.id, f.rule, f.effect, f.reason, f.route, f.source])
        row("Decisions", ["id", "decision", "routes", "errors", "source", "row"])
        for e in ranking.entries:
            row("Decisions", [e.id, e.decision, "; ".join(e.routes), "; ".join(x.message for x in e.errors),
                              e.source, e.row])
        if conflicts is not None:
            row("Conflicts", ["kind", "projects", "periods", "message"])
            for c in conflicts:
                row("Conflicts", [c["kind"], ", ".join(c["projects"]), ", ".join(c["periods"]), c["message"]])
