"""Write the example workbooks: examples/tables/Northwind.xlsx (the reference intake and scoring policy as
decision tables) and examples/table-problems/Problems.xlsx (a table with a gap and an overlap, on purpose).

    python examples/tables/make_workbooks.py

The workbooks are committed; this script is how they were made (so a change is reviewed as text here).
Each table is a sheet: a header row (inputs on the left, then the outputs effect, route, reason, rule, or
points), then one row per rule. See docs/tables.md for the cell language.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

HERE = Path(__file__).resolve().parent
INTAKE = ("effect", "route", "reason", "rule")

NORTHWIND = {
    "Sponsorship": (["budget", "sponsor", "sponsor_level", *INTAKE], [
        ["> 250,000", "null", "-", "reject", "-", "Proposals above 250,000 need a named sponsor", "sponsor-required"],
        ["> 1,000,000", "not(null)", 'not("executive"), null', "review", "Executive Committee",
         "Proposals above 1,000,000 need an executive sponsor; the Executive Committee must confirm the sponsor",
         "executive-sponsor"],
        ["<= 250,000", "null", "-", "flag", "-", "Small proposal without a named sponsor; the PMO will ask for one",
         "sponsor-missing-small"],
    ]),
    # One row for every budget: a unique table, complete (pmo validate finds no gap and no overlap).
    "Budget": (["budget", *INTAKE], [
        ["null", "reject", "-", "A budget estimate is required", "budget-missing"],
        ["<= 0", "reject", "-", "Budget must be positive, got {budget}", "budget-not-positive"],
        ["(0..250,000]", "-", "-", "-", "-"],
        ["(250,000..1,000,000]", "review", "Portfolio Board",
         "Budget {budget} is above 250,000 and up to 1,000,000: Portfolio Board approves it", "route-portfolio-board"],
        ["(1,000,000..5,000,000]", "review", "Investment Committee",
         "Budget {budget} is above 1,000,000 and up to 5,000,000: Investment Committee approves it",
         "route-investment-committee"],
        ["(5,000,000..20,000,000]", "review", "Board of Directors",
         "Budget {budget} is above 5,000,000 and up to 20,000,000: Board of Directors approves it", "route-board"],
        ["> 20,000,000", "reject", "-",
         "Budget exceeds the single-project cap of 20,000,000; split the work into phases", "budget-cap"],
    ]),
    "Value": (["benefit_cost_ratio", "npv_8", "payback_years", "cash_flows", "benefit", "budget", "regulatory",
               *INTAKE], [
        ["< 1", "-", "-", "-", "-", "-", "-", "reject", "-", "Expected benefit is below 1 times the budget",
         "benefit-below-cost"],
        ["[1..1.5)", "-", "-", "-", "-", "-", "-", "flag", "-",
         "Benefit/cost ratio {benefit_cost_ratio} is marginal (below 1.5)", "benefit-cost-marginal"],
        ["-", "< 0", "-", "-", "-", "-", "-", "review", "Finance", "Net present value at 0.08 is negative",
         "negative-npv"],
        ["-", "-", "> 5, null", "not(null)", "-", "-", "-", "flag", "-",
         "Pays back after more than 5 years, or never", "payback-limit"],
        ["-", "-", "-", "-", "null", "> 100,000", "false", "review", "PMO",
         "No benefit estimate; the PMO helps the sponsor build the business case", "benefit-missing"],
    ]),
    "Strategy": (["alignment", "regulatory", "category", "budget", *INTAKE], [
        ["null, 0", "false", "-", "-", "reject", "-",
         "Proposals must serve at least one strategic objective (or be regulatory)", "strategic-link-missing"],
        ["(0..0.1)", "-", "-", "-", "flag", "-",
         "Serves the strategy only weakly (alignment {alignment}); scoring will rank it low", "weak-alignment"],
        ["-", "-", '"maintenance"', "> 2,000,000", "review", "CIO",
         "Large maintenance spend; the CIO confirms it is not a hidden replacement programme", "large-maintenance"],
        ["-", "true", 'not("compliance"), null', "-", "flag", "-",
         "Regulatory projects are normally in the compliance category", "regulatory-needs-compliance-category"],
    ]),
    # Two rows with one rule id: one rule that fires when either row matches (collect tables only).
    "Risk": (["risk", "complexity", "budget", *INTAKE], [
        [">= 4", "-", "> 1,000,000", "review", "Risk Committee",
         "Risk {risk} on a budget of {budget}; the Risk Committee reviews the mitigation plan",
         "high-risk-large-budget"],
        ["5", "5", "-", "reject", "-",
         "Severe risk and maximum complexity together; reshape the project before resubmitting",
         "severe-risk-and-complexity"],
        ["null", "-", "-", "flag", "-", "No risk rating given", "risk-not-assessed"],
        ["not([1..5])", "-", "-", "reject", "-", "Risk and complexity are rated from 1 to 5", "rating-out-of-range"],
        ["-", "not([1..5])", "-", "reject", "-", "Risk and complexity are rated from 1 to 5", "rating-out-of-range"],
    ]),
    "Compliance": (["personal_data", "privacy_assessment", "vendor", "vendor_approved",
                    'matches(vendor, ".*(GmbH|Ltd|Inc|plc|SA|BV)")', *INTAKE], [
        ["true", "not(true)", "-", "-", "-", "reject", "-",
         "Processes personal data without a completed privacy impact assessment (DPIA)", "privacy-impact-assessment"],
        ["-", "-", "not(null)", "not(true)", "-", "review", "Procurement",
         "Vendor {vendor} is not on the approved supplier list", "unapproved-vendor"],
        ["true", "-", "not(null)", "-", "false", "review", "Legal",
         "A vendor handles personal data; Legal checks the data processing agreement with {vendor}",
         "personal-data-vendor"],
    ]),
    "Timing": (["start_date", "end_date", "days_between(start_date, end_date)", "lead_time_days", "budget", *INTAKE], [
        ["-", "-", "< 0", "-", "-", "reject", "-", "End date {end_date} is before start date {start_date}",
         "end-before-start"],
        ["-", "-", "> 1,095", "-", "-", "review", "PMO",
         "Runs longer than 1,095 days; split it into phases with their own gates", "max-duration"],
        ["-", "-", "-", "< 0", "-", "flag", "-", "Start date {start_date} is already past", "start-in-past"],
        ["-", "-", "-", "[0..30)", "> 500,000", "review", "PMO",
         "Large project starting in less than 30 days; the PMO checks readiness", "short-notice-start"],
        ["null", "-", "-", "-", "-", "flag", "-", "Start and end dates are needed for scheduling", "dates-missing"],
        ["-", "null", "-", "-", "-", "flag", "-", "Start and end dates are needed for scheduling", "dates-missing"],
    ]),
    "Capacity": (["headcount", "opex_per_year - budget", 'matches(id, "PRJ-[0-9]{4}")', *INTAKE], [
        ["> 40", "-", "-", "review", "Resource Management",
         "Needs {headcount} people at peak; Resource Management confirms availability", "large-team"],
        ["-", "> 0", "-", "flag", "-", "Yearly running cost {opex_per_year} exceeds the capital budget {budget}",
         "opex-exceeds-budget"],
        ["-", "-", "false", "flag", "-", "Proposal id '{id}' does not follow the PRJ-0000 pattern", "id-format"],
    ]),
    # Scoring: points instead of the YAML's bands and lookup.
    "Size points": (["budget", "points", "note"], [
        ["< 250,000", 10, "small"],
        ["[250,000..1,000,000)", 7, None],
        ["[1,000,000..5,000,000)", 4, None],
        [">= 5,000,000", 1, "large"],
        ["null", "-", "no budget: the criterion's missing score"],
    ]),
    "Category points": (["category", "points"], [
        ['"compliance"', 10], ['"efficiency"', 8], ['"growth"', 7], ['"innovation"', 6], ['"maintenance"', 4],
        ["null", "-"],
    ]),
}

PROBLEMS = {
    # Who approves by budget and business unit. On purpose: nothing covers budgets from 1,000,000 to
    # 2,000,000 (a gap; so a proposal of 1,500,000 has no approver), rows 4 and 5 overlap for IT budgets
    # above 2,000,000, which a unique table forbids, and row 6 lets small HR proposals through with no
    # approver: the table is complete there, so only the assurance (policies/assurances.yaml) sees it.
    "Approvers": (["budget", "business_unit", *INTAKE], [
        ["null", "-", "reject", "-", "A budget estimate is required", "budget-missing"],
        ["<= 1,000,000", 'not("HR"), null', "review", "Portfolio Board", "The Portfolio Board approves budgets up "
         "to 1,000,000", "portfolio-board"],
        ["> 2,000,000", '"IT"', "review", "CIO", "The CIO approves large IT budgets", "cio"],
        ["> 2,000,000", "-", "review", "Investment Committee", "The Investment Committee approves budgets above "
         "2,000,000", "investment-committee"],
        ["<= 1,000,000", '"HR"', "-", "-", "-", "hr-small"],
    ]),
}

HEADER = Font(bold=True, color="FFFFFF")
INPUT_FILL = PatternFill("solid", fgColor="1F4E78")
OUTPUT_FILL = PatternFill("solid", fgColor="548235")
NOTE_FILL = PatternFill("solid", fgColor="7F7F7F")


def write(path: Path, tables: dict) -> None:
    book = Workbook()
    book.remove(book.active)
    for name, (header, rows) in tables.items():
        sheet = book.create_sheet(name)
        sheet.append(header)
        for column, title in enumerate(header, 1):
            cell = sheet.cell(1, column)
            cell.font = HEADER
            cell.fill = OUTPUT_FILL if title in ("effect", "route", "reason", "rule", "points") else \
                NOTE_FILL if title == "note" else INPUT_FILL
            sheet.column_dimensions[cell.column_letter].width = 60 if title == "reason" else max(14, len(title) + 2)
        for row in rows:
            sheet.append(row)
        for line in sheet.iter_rows(min_row=2):
            for cell in line:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                if isinstance(cell.value, str):
                    cell.number_format = "@"  # text: Excel keeps "> 250,000" and "5" as typed
        sheet.freeze_panes = "A2"
    stamp = dt.datetime(2026, 12, 1)  # fixed, so the same tables give the same file (and policy hash)
    book.properties.created = book.properties.modified = stamp
    book.properties.creator = "examples/tables/make_workbooks.py"
    book.save(path)


if __name__ == "__main__":
    write(HERE / "Northwind.xlsx", NORTHWIND)
    write(HERE.parent / "table-problems" / "Problems.xlsx", PROBLEMS)
    print("wrote", HERE / "Northwind.xlsx", "and", HERE.parent / "table-problems" / "Problems.xlsx")
