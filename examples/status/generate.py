"""Write the example status reports: one CSV per month of 2027 for the approved projects of
examples/portfolio.yaml. Run from the repository root: python examples/status/generate.py

The story the twelve months tell (pmo health examples/status/*.csv --as-of 2027-MM-DD):
  CRM         slips past its June finish and overspends; closes at the end of August, late and over budget,
              with its benefits late
  PORTAL      starts in July behind CRM and keeps slipping
  MOBILE      falls behind in its first months, then recovers and finishes on time
  BILLING     is behind and over cost; killed at the June design gate (its reports stop there)
  OUTAGE      delivers on plan (closes in December), but its benefits arrive late
  DATACENTRE  on time, with a cost performance that erodes month by month
  CLOUD       a little ahead and under cost all year, its savings a little ahead too; closes in December
  METERS      a little behind; milestones missed and benefits late from the autumn
  TWIN        starts in September, on plan (overridden at its business case); closes in December
Closed projects (CRM, MOBILE, and CLOUD, OUTAGE and TWIN in December) report their final cost and the benefits
realised by their closure; BILLING's kill is a gate decision (examples/projects/billing-kill.yaml). Each row
names the intake proposal the project came from (examples/proposals.csv), for pmo lessons.
PV is left out: it comes from planned_start, planned_finish and BAC (spread over working days); EV comes
from percent_complete (EV = BAC x percent complete).
"""
from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

from engine.health.status import WEEKDAYS, linear_pv

HERE = Path(__file__).resolve().parent
MONTHS = [dt.date(2027, m + 1, 1) - dt.timedelta(days=1) for m in range(1, 12)] + [dt.date(2027, 12, 31)]
COLUMNS = ["project", "proposal", "title", "objective", "status_date", "state", "planned_start", "planned_finish", "bac",
           "percent_complete", "ac", "etc", "milestones_planned", "milestones_reached", "benefits_planned",
           "benefits_realised", "risks", "issues", "note"]

# id, the intake proposal it came from (examples/proposals.csv), title, objective, start, finish, BAC
PROJECTS = [
    ("CRM", "PRJ-1023", "CRM replacement", "customer-experience", "2027-01-04", "2027-06-30", 1_500_000),
    ("PORTAL", "PRJ-1002", "Customer portal", "customer-experience", "2027-07-12", "2027-11-30", 1_000_000),
    ("MOBILE", "PRJ-1042", "Mobile app", "customer-experience", "2027-05-03", "2027-09-30", 500_000),
    ("BILLING", "PRJ-1015", "Billing modernisation", "operational-efficiency", "2027-02-01", "2027-10-29", 1_100_000),
    ("OUTAGE", "PRJ-1050", "Outage prediction", "grid-resilience", "2027-04-05", "2027-12-17", 500_000),
    ("DATACENTRE", "PRJ-1014", "New data centre", "operational-efficiency", "2027-03-01", "2027-12-17", 4_600_000),
    ("CLOUD", "PRJ-1011", "Move to the cloud", "operational-efficiency", "2027-03-01", "2027-12-17", 1_600_000),
    ("METERS", "PRJ-1001", "Smart meter roll-out", "net-zero", "2027-04-05", "2027-12-17", 1_400_000),
    ("TWIN", "PRJ-1020", "Network digital twin", "grid-resilience", "2027-09-06", "2027-12-17", 500_000),
]


def planned(start: dt.date, finish: dt.date, day: dt.date) -> float:
    return float(linear_pv(Decimal(1), start, finish, day, WEEKDAYS))


def story(pid: str, month: int, plan: float) -> dict | None:
    """Percent complete, cost efficiency and the rest for one project in one month (None: no report)."""
    if pid == "CRM":
        if month > 8:
            return None
        done = {7: 0.93, 8: 1.0}.get(month, 0.86 * plan)
        row = {"complete": done, "cpi": 0.9 - 0.004 * month, "state": "closed" if month == 8 else "active"}
        # benefits planned from May, 40,000 a month; the late go-live delays them (30,000 realised at closure)
        row["benefits"] = (max(0, month - 4) * 40_000, 30_000 if month == 8 else 0)
        if month == 7:
            row["note"] = "Data migration overran; go-live moved to August"
        if month == 8:
            row["note"] = "Live on 30 August, two months late"
        return row
    if pid == "PORTAL":
        return {"complete": 0.78 * plan, "cpi": 0.96, "note": "Waiting on CRM interfaces" if month == 7 else ""}
    if pid == "MOBILE":
        spi = {5: 0.8, 6: 0.78, 7: 0.86, 8: 0.95, 9: 1.0}.get(month, 1.0)
        row = {"complete": min(1.0, spi * plan), "cpi": 0.97}
        row["state"] = "closed" if month >= 9 else "active"
        row["benefits"] = (max(0, month - 6) * 20_000, {8: 10_000, 9: 50_000}.get(month, 0))  # first releases in July
        if month == 7:
            row["note"] = "Second team added; recovery plan approved"
        return None if month > 9 else row
    if pid == "BILLING":
        if month > 6:
            return None
        row = {"complete": 0.72 * plan, "cpi": 0.82}
        if month == 6:
            row.update(state="killed", note="Killed at the June delivery review: the vendor cannot meet the tariff "
                       "rules (examples/projects/billing-kill.yaml)")
        return row
    if pid == "OUTAGE":
        benefits = max(0, month - 8) * 20_000
        realised = {11: 8_000, 12: 20_000}.get(month, 0)
        return {"complete": plan, "cpi": 1.01, "benefits": (benefits, realised), "state": closed(plan),
                "note": "Model live; alerts not yet used by control room" if month >= 10 else ""}
    if pid == "DATACENTRE":
        return {"complete": 0.98 * plan, "cpi": 1.0 - 0.011 * (month - 2), "etc_factor": 1.05}
    if pid == "CLOUD":
        # savings from June as workloads move, a little ahead of plan
        benefits = max(0, month - 5) * 25_000
        return {"complete": min(1.0, 1.03 * plan), "cpi": 1.02, "benefits": (benefits, benefits * 11 // 10),
                "state": closed(1.03 * plan)}
    if pid == "METERS":
        milestones = max(0, month - 3)
        reached = milestones - (1 if month == 7 else 2 if month >= 8 else 0)  # reached never falls: one missed, then two
        benefits = max(0, month - 9) * 30_000
        return {"complete": 0.95 * plan, "cpi": 0.97, "milestones": (milestones, reached),
                "benefits": (benefits, benefits // 2)}
    if pid == "TWIN":
        # overridden at the business case (examples/projects/override.yaml): delivered on plan
        return {"complete": plan, "cpi": 1.0, "benefits": ((month == 12) * 10_000, (month == 12) * 12_000),
                "state": closed(plan)}
    raise KeyError(pid)


def closed(complete: float) -> str:
    return "closed" if complete >= 1.0 else "active"


def rows(status_date: dt.date) -> list[dict]:
    out = []
    for pid, proposal, title, objective, start, finish, bac in PROJECTS:
        start_d, finish_d = dt.date.fromisoformat(start), dt.date.fromisoformat(finish)
        if status_date < start_d:
            continue
        got = story(pid, status_date.month, planned(start_d, finish_d, status_date))
        if got is None:
            continue
        complete = round(min(got["complete"], 1.0), 4)
        ev = bac * complete
        ac = round(ev / got["cpi"])
        etc = round((bac - ev) / got["cpi"] * got["etc_factor"]) if "etc_factor" in got else ""
        milestones = got.get("milestones", ("", ""))
        benefits = got.get("benefits", ("", ""))
        out.append({"project": pid, "proposal": proposal, "title": title, "objective": objective, "status_date": status_date.isoformat(),
                    "state": got.get("state", "active"), "planned_start": start, "planned_finish": finish,
                    "bac": bac, "percent_complete": f"{complete * 100:.2f}%", "ac": ac, "etc": etc,
                    "milestones_planned": milestones[0], "milestones_reached": milestones[1],
                    "benefits_planned": benefits[0], "benefits_realised": benefits[1],
                    "risks": 2 + (pid in ("CRM", "BILLING", "PORTAL")) * status_date.month // 3,
                    "issues": 1 if got["cpi"] < 0.9 else 0, "note": got.get("note", "")})
    return out


def main(folder: Path = HERE) -> list[Path]:
    written = []
    for status_date in MONTHS:
        path = folder / f"status-{status_date:%Y-%m}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows(status_date))
        written.append(path)
    return written


if __name__ == "__main__":
    for written in main():
        print(written)
