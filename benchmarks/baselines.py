"""Baselines for benchmarks/batch_throughput.py: the reference intake policy by hand, on its benchmark file.

- ``plain_loop``: csv.DictReader, the 33 rules as lambdas, csv.writer. It writes what
  `pmo evaluate --format csv` writes for that file, byte for byte (the benchmark checks the sha256): the same
  columns, decisions, routes, rules, reasons and derived values. It knows only this policy and the columns of
  this file (a field the file does not have is missing, so the rules that read it never fire, as in pmo);
  it has no error rows, no explanations beyond the reasons, no input profiles, no decision log.
- ``polars_rules``: the same rules as polars column expressions over the whole file, writing the decision,
  the routes, the fired rule ids and the derived values (not the reasons: formatted numbers in text cells
  are where a column engine stops being a fair comparison). Needs the ``bench`` extra (polars).

The strategy's weights and levels (for the alignment scores) and the policy hash are read from the policy
once, before the loop; everything per row is plain Python.
"""
from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path

FIFTEEN = Context(prec=15, rounding=ROUND_HALF_EVEN, Emax=300, Emin=-300)  # pmo's numbers: 15 digits
HEADER = ["id", "decision", "routes", "rules", "reasons", "errors", "source", "row", "policy_hash", "as_of",
          "benefit_cost_ratio", "npv_8", "payback_years", "duration_days", "lead_time_days", "five_year_cost"]


def shown(v) -> str:
    """A number in a reason, as pmo shows it: 1,250,000; 1,250,000.50; 0.03944; 1.152."""
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"


def _plain(v: Decimal):
    return int(v) if v == v.to_integral_value() else float(v)


def rules_of(today: dt.date):
    """The reference intake policy (policies/intake.yaml with its includes), in its order: (id, effect, route,
    when, reason). ``r`` is the typed row; None is missing, and a test on a missing value does not fire."""
    prj = re.compile(r"PRJ-[0-9]{4}")
    some = lambda *v: all(x is not None for x in v)  # noqa: E731
    return [
        ("sponsor-required", "reject", None, lambda r: some(r["budget"]) and r["budget"] > 250_000 and r["sponsor"] is None,
         lambda r: "Proposals above 250,000 need a named sponsor"),
        ("executive-sponsor", "review", "Executive Committee",
         lambda r: some(r["budget"], r["sponsor"]) and r["budget"] > 1_000_000 and r["sponsor_level"] != "executive",
         lambda r: "Proposals above 1,000,000 need an executive sponsor; the Executive Committee must confirm the "
                   "sponsor"),
        ("route-portfolio-board", "review", "Portfolio Board",
         lambda r: some(r["budget"]) and 250_000 < r["budget"] <= 1_000_000,
         lambda r: f"Budget {shown(r['budget'])} is above 250,000 and up to 1,000,000: Portfolio Board approves it"),
        ("route-investment-committee", "review", "Investment Committee",
         lambda r: some(r["budget"]) and 1_000_000 < r["budget"] <= 5_000_000,
         lambda r: f"Budget {shown(r['budget'])} is above 1,000,000 and up to 5,000,000: Investment Committee "
                   "approves it"),
        ("route-board", "review", "Board of Directors",
         lambda r: some(r["budget"]) and 5_000_000 < r["budget"] <= 20_000_000,
         lambda r: f"Budget {shown(r['budget'])} is above 5,000,000 and up to 20,000,000: Board of Directors "
                   "approves it"),
        ("budget-cap", "reject", None, lambda r: some(r["budget"]) and r["budget"] > 20_000_000,
         lambda r: "Budget exceeds the single-project cap of 20,000,000; split the work into phases"),
        ("benefit-below-cost", "reject", None,
         lambda r: some(r["benefit_cost_ratio"]) and r["benefit_cost_ratio"] < 1,
         lambda r: "Expected benefit is below 1 times the budget"),
        ("negative-npv", "review", "Finance", lambda r: some(r["npv_8"]) and r["npv_8"] < 0,
         lambda r: "Net present value at 0.08 is negative"),
        ("payback-limit", "flag", None,
         lambda r: (some(r["payback_years"]) and r["payback_years"] > 5)
         or (r["cash_flows"] is not None and r["payback_years"] is None),
         lambda r: "Pays back after more than 5 years, or never"),
        ("privacy-impact-assessment", "reject", None, lambda r: r["personal_data"] and r["privacy_assessment"] is not True,
         lambda r: "Processes personal data without a completed privacy impact assessment (DPIA)"),
        ("unapproved-vendor", "review", "Procurement", lambda r: r["vendor"] is not None and r["vendor_approved"] is not True,
         lambda r: f"Vendor {r['vendor']} is not on the approved supplier list"),
        ("end-before-start", "reject", None,
         lambda r: some(r["start_date"], r["end_date"]) and r["end_date"] < r["start_date"],
         lambda r: f"End date {r['end_date']} is before start date {r['start_date']}"),
        ("max-duration", "review", "PMO", lambda r: some(r["duration_days"]) and r["duration_days"] > 1095,
         lambda r: "Runs longer than 1,095 days; split it into phases with their own gates"),
        ("start-in-past", "flag", None, lambda r: some(r["start_date"]) and r["start_date"] < today,
         lambda r: f"Start date {r['start_date']} is already past"),
        ("sponsor-missing-small", "flag", None,
         lambda r: r["sponsor"] is None and some(r["budget"]) and r["budget"] <= 250_000,
         lambda r: "Small proposal without a named sponsor; the PMO will ask for one"),
        ("budget-missing", "reject", None, lambda r: r["budget"] is None, lambda r: "A budget estimate is required"),
        ("budget-not-positive", "reject", None, lambda r: some(r["budget"]) and r["budget"] <= 0,
         lambda r: f"Budget must be positive, got {shown(r['budget'])}"),
        ("opex-exceeds-budget", "flag", None,
         lambda r: some(r["opex_per_year"], r["budget"]) and r["opex_per_year"] > r["budget"],
         lambda r: f"Yearly running cost {shown(r['opex_per_year'])} exceeds the capital budget {shown(r['budget'])}"),
        ("strategic-link-missing", "reject", None,
         lambda r: (r["alignment"] is None or r["alignment"] == 0) and not r["regulatory"],
         lambda r: "Proposals must serve at least one strategic objective (or be regulatory)"),
        ("weak-alignment", "flag", None, lambda r: some(r["alignment"]) and 0 < r["alignment"] < 0.1,
         lambda r: f"Serves the strategy only weakly (alignment {shown(r['alignment'])}); scoring will rank it low"),
        ("large-maintenance", "review", "CIO",
         lambda r: r["category"] == "maintenance" and some(r["budget"]) and r["budget"] > 2_000_000,
         lambda r: "Large maintenance spend; the CIO confirms it is not a hidden replacement programme"),
        ("benefit-missing", "review", "PMO",
         lambda r: r["benefit"] is None and some(r["budget"]) and r["budget"] > 100_000 and not r["regulatory"],
         lambda r: "No benefit estimate; the PMO helps the sponsor build the business case"),
        ("benefit-cost-marginal", "flag", None,
         lambda r: some(r["benefit_cost_ratio"]) and 1 <= r["benefit_cost_ratio"] < 1.5,
         lambda r: f"Benefit/cost ratio {shown(r['benefit_cost_ratio'])} is marginal (below 1.5)"),
        ("high-risk-large-budget", "review", "Risk Committee",
         lambda r: some(r["risk"], r["budget"]) and r["risk"] >= 4 and r["budget"] > 1_000_000,
         lambda r: f"Risk {shown(r['risk'])} on a budget of {shown(r['budget'])}; the Risk Committee reviews the "
                   "mitigation plan"),
        ("severe-risk-and-complexity", "reject", None, lambda r: r["risk"] == 5 and r["complexity"] == 5,
         lambda r: "Severe risk and maximum complexity together; reshape the project before resubmitting"),
        ("risk-not-assessed", "flag", None, lambda r: r["risk"] is None, lambda r: "No risk rating given"),
        ("rating-out-of-range", "reject", None,
         lambda r: (some(r["risk"]) and not 1 <= r["risk"] <= 5) or (some(r["complexity"]) and not 1 <= r["complexity"] <= 5),
         lambda r: "Risk and complexity are rated from 1 to 5"),
        ("regulatory-needs-compliance-category", "flag", None,
         lambda r: r["regulatory"] and r["category"] != "compliance",
         lambda r: "Regulatory projects are normally in the compliance category"),
        ("personal-data-vendor", "review", "Legal",
         lambda r: r["personal_data"] and r["vendor"] is not None
         and not re.fullmatch(r".*(GmbH|Ltd|Inc|plc|SA|BV)", r["vendor"]),
         lambda r: f"A vendor handles personal data; Legal checks the data processing agreement with {r['vendor']}"),
        ("short-notice-start", "review", "PMO",
         lambda r: some(r["lead_time_days"], r["budget"]) and 0 <= r["lead_time_days"] < 30 and r["budget"] > 500_000,
         lambda r: "Large project starting in less than 30 days; the PMO checks readiness"),
        ("dates-missing", "flag", None, lambda r: r["start_date"] is None or r["end_date"] is None,
         lambda r: "Start and end dates are needed for scheduling"),
        ("large-team", "review", "Resource Management", lambda r: some(r["headcount"]) and r["headcount"] > 40,
         lambda r: f"Needs {shown(r['headcount'])} people at peak; Resource Management confirms availability"),
        ("id-format", "flag", None, lambda r: not prj.fullmatch(r["id"]),
         lambda r: f"Proposal id '{r['id']}' does not follow the PRJ-0000 pattern"),
    ]


ABSENT = ("sponsor_level", "opex_per_year", "cash_flows", "vendor", "business_unit", "npv_8", "payback_years")


def plain_loop(source: Path, out: Path, label: str, policy_hash: str, today: dt.date, weights: dict[str, float],
               levels: dict[str, Decimal], make_line=None) -> int:
    """Decide every row of the benchmark file; returns the number of rows. ``make_line``: a function making a row's
    CSV line from its cells (pmo's ``engine.io.writers.csv_line``: the same bytes) instead of csv.writer."""
    rules = rules_of(today)
    as_of = today.isoformat()
    weight = {k: Decimal(repr(v)) for k, v in weights.items()}
    yes = {"yes": True, "no": False, "": False}
    n = 0
    with open(source, newline="") as f, open(out, "w", newline="") as g:
        if make_line is None:
            writerow = csv.writer(g, lineterminator="\n").writerow
        else:
            write = g.write

            def writerow(cells: list) -> None:
                write(make_line(cells))
        writerow(HEADER)
        for line, row in enumerate(csv.DictReader(f), 2):
            r = dict.fromkeys(ABSENT)
            r["id"] = row["id"]
            r["sponsor"] = row["sponsor"] or None
            r["category"] = row["category"] or None
            budget, benefit = int(row["budget"]), int(row["benefit"])
            r["budget"], r["benefit"] = budget, benefit
            r["risk"], r["complexity"], r["headcount"] = int(row["risk"]), int(row["complexity"]), int(row["headcount"])
            start, end = dt.date.fromisoformat(row["start_date"]), dt.date.fromisoformat(row["end_date"])
            r["start_date"], r["end_date"] = start, end
            r["regulatory"], r["personal_data"] = yes[row["regulatory"]], yes[row["personal_data"]]
            r["privacy_assessment"] = r["vendor_approved"] = False  # their defaults
            total = Decimal(0)
            for part in row["alignment"].split(";"):
                objective, _, level = part.partition(":")
                total = FIFTEEN.add(total, FIFTEEN.multiply(weight[objective.strip()], levels[level.strip()]))
            r["alignment"] = float(total.quantize(Decimal("1e-12"), context=FIFTEEN))
            ratio = _plain(FIFTEEN.divide(Decimal(benefit), Decimal(budget)))
            r["benefit_cost_ratio"] = ratio
            r["duration_days"], r["lead_time_days"] = (end - start).days, (start - today).days
            r["five_year_cost"] = budget
            fired = [rule for rule in rules if rule[3](r)]
            effects = {rule[1] for rule in fired}
            decision = "reject" if "reject" in effects else "review" if "review" in effects else "accept"
            routes = [] if decision == "reject" else list(dict.fromkeys(rule[2] for rule in fired if rule[2]))
            writerow([r["id"], decision, "; ".join(routes), "; ".join(rule[0] for rule in fired),
                      "; ".join(rule[4](r) for rule in fired), "", label, line, policy_hash, as_of,
                      ratio, None, None, r["duration_days"], r["lead_time_days"], budget])
            n += 1
    return n


def polars_rules(source: Path, out: Path, today: dt.date, weights: dict[str, float],
                 levels: dict[str, Decimal]) -> int:
    """The same rules as column expressions; writes decision, routes, rule ids and derived values."""
    import polars as pl

    frame = pl.read_csv(source, infer_schema_length=0)  # every column as text, typed below as pmo types them
    b, ben = pl.col("budget").cast(pl.Int64), pl.col("benefit").cast(pl.Int64)
    start, end = pl.col("start_date").str.to_date(), pl.col("end_date").str.to_date()
    score = {f"{o}:{lv}": float(Decimal(repr(w)) * v) for o, w in weights.items() for lv, v in levels.items()}
    typed = frame.with_columns(
        b.alias("budget"), ben.alias("benefit"), pl.col("risk").cast(pl.Int64), pl.col("complexity").cast(pl.Int64),
        pl.col("headcount").cast(pl.Int64), start.alias("start_date"), end.alias("end_date"),
        (pl.col("regulatory") == "yes").alias("regulatory"), (pl.col("personal_data") == "yes").alias("personal_data"),
        pl.col("sponsor").replace("", None), pl.col("alignment").str.split(";").list.eval(
            pl.element().replace_strict(score, default=None)).list.sum().alias("alignment"),
    ).with_columns((pl.col("benefit") / pl.col("budget")).alias("benefit_cost_ratio"),
                   (pl.col("end_date") - pl.col("start_date")).dt.total_days().alias("duration_days"),
                   (pl.col("start_date") - pl.lit(today)).dt.total_days().alias("lead_time_days"),
                   pl.col("budget").alias("five_year_cost"))
    c = pl.col
    rules = [  # (id, effect, route, condition): those that can fire on the columns this file has
        ("sponsor-required", "reject", None, (c("budget") > 250_000) & c("sponsor").is_null()),
        ("route-portfolio-board", "review", "Portfolio Board", (c("budget") > 250_000) & (c("budget") <= 1_000_000)),
        ("route-investment-committee", "review", "Investment Committee",
         (c("budget") > 1_000_000) & (c("budget") <= 5_000_000)),
        ("route-board", "review", "Board of Directors", (c("budget") > 5_000_000) & (c("budget") <= 20_000_000)),
        ("budget-cap", "reject", None, c("budget") > 20_000_000),
        ("benefit-below-cost", "reject", None, c("benefit_cost_ratio") < 1),
        ("privacy-impact-assessment", "reject", None, c("personal_data")),
        ("end-before-start", "reject", None, c("end_date") < c("start_date")),
        ("max-duration", "review", "PMO", c("duration_days") > 1095),
        ("start-in-past", "flag", None, c("start_date") < pl.lit(today)),
        ("sponsor-missing-small", "flag", None, c("sponsor").is_null() & (c("budget") <= 250_000)),
        ("budget-not-positive", "reject", None, c("budget") <= 0),
        ("strategic-link-missing", "reject", None, (c("alignment").is_null() | (c("alignment") == 0)) & ~c("regulatory")),
        ("weak-alignment", "flag", None, (c("alignment") > 0) & (c("alignment") < 0.1)),
        ("large-maintenance", "review", "CIO", (c("category") == "maintenance") & (c("budget") > 2_000_000)),
        ("benefit-cost-marginal", "flag", None, (c("benefit_cost_ratio") >= 1) & (c("benefit_cost_ratio") < 1.5)),
        ("high-risk-large-budget", "review", "Risk Committee", (c("risk") >= 4) & (c("budget") > 1_000_000)),
        ("severe-risk-and-complexity", "reject", None, (c("risk") == 5) & (c("complexity") == 5)),
        ("rating-out-of-range", "reject", None, ~c("risk").is_between(1, 5) | ~c("complexity").is_between(1, 5)),
        ("regulatory-needs-compliance-category", "flag", None, c("regulatory") & (c("category") != "compliance")),
        ("short-notice-start", "review", "PMO",
         (c("lead_time_days") >= 0) & (c("lead_time_days") < 30) & (c("budget") > 500_000)),
        ("large-team", "review", "Resource Management", c("headcount") > 40),
        ("id-format", "flag", None, ~c("id").str.contains(r"^PRJ-[0-9]{4}$")),
    ]
    fired = [pl.when(cond.fill_null(False)).then(pl.lit(rid)) for rid, _e, _r, cond in rules]
    routes = [pl.when(cond.fill_null(False)).then(pl.lit(route)) for _i, _e, route, cond in rules if route]
    reject = pl.any_horizontal([cond.fill_null(False) for _i, e, _r, cond in rules if e == "reject"])
    review = pl.any_horizontal([cond.fill_null(False) for _i, e, _r, cond in rules if e == "review"])
    result = typed.select(
        c("id"), pl.when(reject).then(pl.lit("reject")).when(review).then(pl.lit("review")).otherwise(pl.lit("accept"))
        .alias("decision"),
        pl.when(reject).then(pl.lit("")).otherwise(  # a rejection goes to no approver
            pl.concat_list(routes).list.drop_nulls().list.unique(maintain_order=True).list.join("; ")).alias("routes"),
        pl.concat_list(fired).list.drop_nulls().list.join("; ").alias("rules"),
        c("benefit_cost_ratio"), c("duration_days"), c("lead_time_days"), c("five_year_cost"))
    result.write_csv(out)
    return result.height
