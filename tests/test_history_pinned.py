"""The history's stored bytes for the same input do not change (issue #16): a report's digest is how a re-ingest
finds it unchanged, so a new encoding would make every report of an old database a correction; the ratings'
rules, reasons and figures are what ``pmo history`` shows. The example status files ingested into a new history
give these digests (computed before the ingest's speed-ups; a deliberate change of the stored form updates them
with a migration)."""
import datetime as dt
import hashlib
import json
from pathlib import Path

from engine.api import Engine
from engine.store import DecisionLog
from engine.tasks.history import ingest

ROOT = Path(__file__).resolve().parent.parent
# every column but the clock's (ingested, rated), the row numbers and the file's path
REPORTS = ("project, status_date, revision, in_force, digest, source_row, tasks, title, objective, state, note, "
           "proposal, bac, pv, ev, ac, etc, benefits_planned, benefits_realised, percent_complete, milestones_planned, "
           "milestones_reached, risks, issues, planned_start, planned_finish")
RATINGS = "project, status_date, policy_hash, basis, in_force, rating, rule_id, rule_where, reason, rules, figures"
ESCALATIONS = "project, status_date, policy_hash, basis, in_force, route, rule_id, reason"
# 2026-12-07: the example data changed (METERS' milestones reached no longer fall from 4 to 3 in August: one is
# missed in July instead), not the stored form: with the earlier data the code of that day still gave the earlier
# digests (eaa74ed2..., 709adc09..., 80d87f5b...).
# 2026-12-08: reasons show a number from 1,000 on to the cent when it has a fraction ("EAC 1,341,460.96", was
# "1,341,461": a budget of 1,250,000.50 read "Budget 1,250,000 is above 1,250,000"). The ratings and escalations
# made from then on store that text; those stored before keep theirs (what was said then): no migration. The
# reports are unchanged (before: 3affd1f7... and 721c87c7...). The same day the reference policy's hash changed
# (executive-sponsor and regulatory-needs-compliance-category fire for a missing value: lint missing_skips_rule),
# and the ratings store it (before: 968b7a23... and 51063bca...).
PINNED = {
    "status_reports": (66, "2119a1051b562972ae70b60bf7198ea8"),
    "health_ratings": (66, "daf12243d870b8c4e0bbdf4b367bcc7a"),
    "escalations": (77, "0bfdc759f4fed2d9e773630220be8c2f"),
}


def stored(log: DecisionLog) -> dict[str, tuple[int, str]]:
    out = {}
    with log._using("read") as db:
        for table, columns in (("status_reports", REPORTS), ("health_ratings", RATINGS), ("escalations", ESCALATIONS)):
            rows = [list(r) for r in db.execute(f"SELECT {columns} FROM {table} ORDER BY seq")]
            out[table] = (len(rows), hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:32])
    return out


def test_the_example_status_files_are_stored_as_they_always_were(tmp_path):
    engine = Engine.load(today=dt.date(2027, 12, 31))
    files = sorted((ROOT / "examples" / "status").glob("*.csv"))
    with DecisionLog(tmp_path / "history.sqlite") as log:
        ingest(engine, log, files)
        assert stored(log) == PINNED
        again = ingest(engine, log, files)
        assert again.new == 0 and again.corrected == 0 and again.unchanged == 66
        assert stored(log) == PINNED
