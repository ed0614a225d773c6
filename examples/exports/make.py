"""Write the example PPM export and its reference-format twin from examples/proposals.csv (the first 40 rows).

    python examples/exports/make.py

servicenow-demands.csv is what a German Excel saves from a ServiceNow-style demand list: ';'-separated,
Windows-1252, amounts as 1.234.567,89 (some with ' €'), dates as 15.03.2027, risk as Low/Medium/High, one
strategic objective per demand from a pick-list, Ja/Nein flags. reference.csv holds the same proposals in
the reference format (the policy's field names, plain numbers, ISO dates), as the profile reads them.
tests/test_profile.py checks that both files are what this script writes, and that they decide alike.
"""
from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = 40
OBJECTIVES = {"customer-experience": "Customer Experience", "grid-resilience": "Grid Resilience",
              "net-zero": "Net Zero", "operational-efficiency": "Operational Efficiency",
              "regulatory-compliance": "Regulatory Compliance"}
RISK = {"1": ("Low", "1"), "2": ("Low", "1"), "3": ("Medium", "3"), "4": ("High", "5"), "5": ("High", "5"), "": ("", "")}
YES_NO = {"yes": "Ja", "no": "Nein", "": ""}
MANAGERS = ["Jürgen Müller", "Anaïs Lefèvre", "Søren Dahl", "Zoë Brandt"]
HEADER = ["Number", "Short description", "State", "Department", "Executive sponsor", "Sponsor level",
          "Strategic objective", "Category", "Capital budget (EUR)", "Annual run cost (EUR)",
          "Expected benefit (EUR)", "Cash flow plan (EUR)", "Planned start", "Planned end", "Risk", "Complexity",
          "Regulatory", "Personal data", "DPIA done", "Vendor", "Vendor approved", "Peak FTE", "Project manager"]


def german(amount: str, cents: bool = False, euro: bool = False) -> str:
    """1250000 -> 1.250.000 (or 1.250.000,00), as German Excel writes it."""
    if amount == "":
        return ""
    number = Decimal(amount.replace(",", ""))
    text = f"{number:,.2f}" if cents else f"{number:,.0f}"
    text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return text + (" €" if euro else "")


def day_month_year(iso: str) -> str:
    return f"{iso[8:10]}.{iso[5:7]}.{iso[:4]}" if iso else ""


def objective(alignment: str) -> tuple[str, str]:
    """The first objective only (the export has a single-objective pick-list); the profile's strength is strong."""
    if not alignment:
        return "", ""
    first = alignment.split(";")[0].split(":")[0]
    return OBJECTIVES[first], f"{first}:strong"


def build() -> tuple[bytes, str]:
    source = list(csv.DictReader(io.StringIO((HERE.parent / "proposals.csv").read_text(encoding="utf-8"), newline="")))[:ROWS]
    export, reference = io.StringIO(), io.StringIO()
    out = csv.writer(export, delimiter=";", lineterminator="\r\n")
    ref = csv.writer(reference, lineterminator="\n")
    out.writerow(HEADER)
    ref.writerow(list(source[0]))
    for i, row in enumerate(source):
        picked, aligned = objective(row["alignment"])
        risk_word, risk_number = RISK.get(row["risk"], (row["risk"], row["risk"]))
        out.writerow([row["id"], row["title"], "Screening" if i % 3 else "Submitted", row["business_unit"],
                      row["sponsor"], row["sponsor_level"].title(), picked, row["category"].title(),
                      german(row["budget"]), german(row["opex_per_year"], cents=True),
                      german(row["benefit"], euro=i % 4 == 0),
                      ";".join(german(v) for v in row["cash_flows"].split(";")) if row["cash_flows"] else "",
                      day_month_year(row["start_date"]), day_month_year(row["end_date"]), risk_word,
                      row["complexity"], YES_NO[row["regulatory"]], YES_NO[row["personal_data"]],
                      YES_NO[row["privacy_assessment"]], row["vendor"], YES_NO[row["vendor_approved"]],
                      row["headcount"], MANAGERS[i % len(MANAGERS)]])
        ref.writerow([aligned if k == "alignment" else risk_number if k == "risk" else v.replace(",", "")
                      if k in ("budget", "opex_per_year", "benefit") else v for k, v in row.items()])
    return export.getvalue().encode("cp1252"), reference.getvalue()


def main() -> None:
    export, reference = build()
    (HERE / "servicenow-demands.csv").write_bytes(export)
    (HERE / "reference.csv").write_text(reference, encoding="utf-8")


if __name__ == "__main__":
    main()
