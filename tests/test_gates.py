"""Stage gates, decision rights, overrides and the decision log."""
import json

import pytest

from engine import Engine, PmoError
from engine.cli import main
from tests.conftest import ROOT, TODAY

PROJECTS = ROOT / "examples" / "projects"


@pytest.fixture(scope="module", params=["rete", "reference"])
def engine(request):
    return Engine.load(today=TODAY, backend=request.param)


@pytest.mark.parametrize("name, gate, decision, next_stage, reason", [
    ("go", "business-case", "go", "planning", "every must-meet criterion met"),
    ("kill", "business-case", "kill", "business-case", "must-meet strategic-fit failed"),
    ("hold", "business-case", "hold", "business-case", "missing evidence: risk-register"),
    ("recycle", "business-case", "recycle", "idea", "must-meet benefit-exceeds-cost failed"),
    ("delivery", "delivery-review", "go", "closure", "every must-meet criterion met"),
])
def test_each_outcome_with_reasons_that_name_the_criteria(engine, name, gate, decision, next_stage, reason):
    result = engine.review_gate(PROJECTS / f"{name}.yaml", gate)
    assert (result.decision, result.next_stage) == (decision, next_stage)
    assert any(reason in r for r in result.reasons), result.reasons
    assert all(m.source.startswith("policies/gates.yaml:") for m in result.must_meet)


def test_decision_rights_name_the_approvers(engine):
    assert engine.review_gate(PROJECTS / "go.yaml", "business-case").approvers == ["pmo-lead"]
    assert engine.review_gate(PROJECTS / "override.yaml", "business-case").approvers == ["steering-committee"]


def test_overrides_need_the_right_and_a_justification(engine):
    path = PROJECTS / "override.yaml"
    assert engine.review_gate(path, "business-case").decision == "recycle"
    with pytest.raises(PmoError, match="role 'pmo-lead' may not override"):
        engine.review_gate(path, "business-case", override={"role": "pmo-lead", "justification": "a good reason here"})
    with pytest.raises(PmoError, match="needs a written justification"):
        engine.review_gate(path, "business-case", override={"role": "steering-committee", "justification": ""})
    result = engine.review_gate(path, "business-case", override={
        "role": "steering-committee", "justification": "Enables the 2028 grid plan; benefits lie outside the case"})
    assert result.decision == "go" and result.override.criteria == ["benefit-exceeds-cost"]
    failed = [m for m in result.must_meet if m.criterion == "benefit-exceeds-cost"][0]
    assert failed.passed is False and failed.overridden is True  # recorded as overridden, never as met


def test_an_override_when_nothing_failed_is_refused(engine):
    """Found by a new user: an override of a project that met every must-meet criterion was a GO 'override by cio',
    logged as one, and the override rate counted it."""
    assert engine.review_gate(PROJECTS / "go.yaml", "business-case").decision == "go"
    with pytest.raises(PmoError, match="nothing to override: every must-meet criterion of gate business-case is met"):
        engine.review_gate(PROJECTS / "go.yaml", "business-case", override={
            "role": "steering-committee", "justification": "Not needed really, but let us record it"})


def test_gate_errors(engine):
    with pytest.raises(PmoError, match="'business-cse' is not a gate"):
        engine.review_gate(PROJECTS / "go.yaml", "business-cse")
    with pytest.raises(PmoError, match="is in stage 'business-case', but gate delivery-review") as raised:
        engine.review_gate(PROJECTS / "go.yaml", "delivery-review")
    (wrong,) = raised.value.diagnostics  # the record's file, and the gate that takes it
    assert str(wrong.location).endswith("go.yaml") and wrong.hint == "review it at gate business-case"
    with pytest.raises(PmoError, match="metric 'spii' is not declared"):
        engine.review_gate({"id": "X", "stage": "execution", "fields": {"title": "t"}, "metrics": {"spii": 1}},
                           "delivery-review")


def test_gate_command_logs_overrides_and_replay(tmp_path, capsys, log_target):
    db = log_target  # a SQLite file, then a PostgreSQL log
    path = str(PROJECTS / "override.yaml")
    assert main(["gate", path, "--gate", "business-case", "--log", str(db)]) == 0
    assert main(["gate", path, "--gate", "business-case", "--override-role", "pmo-lead", "--justification",
                 "because we want it", "--log", str(db)]) == 2
    assert "may not override" in capsys.readouterr().err
    assert main(["gate", path, "--gate", "business-case", "--override-role", "steering-committee", "--justification",
                 "Enables the 2028 grid plan", "--log", str(db), "--format", "json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert {"project", "gate", "decision", "must_meet", "should_meet", "approvers", "recycle_to"} <= set(decision)
    assert main(["log", "--log", str(db), "--project", "PRJ-1020"]) == 0
    out = capsys.readouterr().out
    assert "recycle" in out and "OVERRIDE by steering-committee: Enables the 2028 grid plan" in out
    assert main(["evaluate", str(ROOT / "examples" / "proposals.csv"), "--log", str(db)]) == 0
    capsys.readouterr()
    assert main(["log", "--db", str(db), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2 + 53
    assert main(["replay", "--db", str(db), "--format", "json"]) == 0
    replay = json.loads(capsys.readouterr().out)
    assert replay["replayed"] == 55 and replay["changed"] == []
    # the same decisions under a stricter policy: replay lists those that would now differ
    policies = tmp_path / "policies"
    policies.mkdir()
    for f in (ROOT / "policies").glob("*.yaml"):
        text = f.read_text()
        if f.name == "intake.yaml":
            text = text.replace("with: {min_ratio: 1}", "with: {min_ratio: 2}")
        (policies / f.name).write_text(text)
    assert main(["replay", "--db", str(db), "--policies", str(policies), "--format", "json"]) == 0
    changed = json.loads(capsys.readouterr().out)["changed"]
    assert changed and all(c["kind"] == "intake" for c in changed)


def test_a_second_engine_does_not_change_the_first_engines_gate_back_end(monkeypatch):
    """Compiled policies are shared and immutable: each Engine holds its own gate back ends."""
    from engine.backends.reference import ReferenceBackend
    rete = Engine.load(today=TODAY, backend="rete")
    Engine(rete.policy, backend="reference")
    calls = []
    original = ReferenceBackend.fire
    monkeypatch.setattr(ReferenceBackend, "fire", lambda self, record: calls.append(1) or original(self, record))
    assert rete.review_gate(PROJECTS / "go.yaml", "business-case").decision == "go"
    assert calls == []  # the rete engine's must-meet criteria still ran in durable_rules


# ---------------------------------------------------------------------------- project records are checked, located

def _record_problems(engine, path):
    with pytest.raises(PmoError) as caught:
        engine.review_gate(path, "business-case")
    return [str(d) for d in caught.value.diagnostics]


def test_a_misspelt_field_in_a_project_record_is_a_located_error(engine, tmp_path):
    """Found by a policy author: 'clinical_sponser' was ignored and the gate said HOLD."""
    text = (PROJECTS / "go.yaml").read_text().replace("  sponsor: ", "  sponser: ")
    path = tmp_path / "p.yaml"
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "sponser:" in t)
    assert _record_problems(engine, path) == [
        f"{path}:{line}:3: error[unknown_field]: fields: 'sponser' is not a field of the intake policy; "
        "did you mean 'sponsor'?"]


def test_misspelt_metrics_evidence_keys_and_bad_values_are_located(engine, tmp_path):
    text = (PROJECTS / "go.yaml").read_text()
    text = text.replace("- risk-register", "- risk-registr").replace("  budget: ", "  budget: lots #")
    text = text.replace("stage: business-case\n", "stage: business-case\nmetrics:\n  spii: 1\nevidense: []\n", 1)
    path = tmp_path / "p.json.yaml"
    path.write_text(text)
    lines = text.splitlines()
    at = lambda part: next(i for i, t in enumerate(lines, 1) if part in t)  # noqa: E731
    problems = _record_problems(engine, path)
    assert f"{path}:{at('spii')}:3: error[unknown_metric]: metric 'spii' is not declared by the gate policy; " \
           "did you mean 'spi'?" in problems
    assert f"{path}:{at('evidense')}:1: error[unknown_key]: unknown key 'evidense'; did you mean 'evidence'?" \
        in problems
    assert f"{path}:{at('risk-registr')}:3: error[unknown_evidence]: evidence 'risk-registr' is not named by " \
           "any gate; did you mean 'risk-register'?" in problems
    assert any(p.startswith(f"{path}:{at('budget: lots')}:11: error[bad_value]: fields: column 'budget'")
               for p in problems), problems


def test_project_record_positions_in_json(engine, tmp_path):
    data = {"id": "P-1", "stage": "business-case", "fields": {"title": "t", "budgte": 5}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data, indent=2))
    (problem,) = _record_problems(engine, path)
    assert problem.startswith(f"{path}:6:6: error[unknown_field]: fields: 'budgte' is not a field")


def test_the_cli_reports_a_bad_project_record_as_a_usage_error(tmp_path):
    text = (PROJECTS / "go.yaml").read_text().replace("  sponsor: ", "  sponser: ")
    (tmp_path / "p.yaml").write_text(text)
    out, err = __import__("io").StringIO(), __import__("io").StringIO()
    code = main(["gate", str(tmp_path / "p.yaml"), "--gate", "business-case", "--no-log"], stdout=out, stderr=err)
    assert code == 2 and "error[unknown_field]" in err.getvalue() and out.getvalue() == ""


def test_a_metric_written_two_ways_is_refused_not_read_as_a_thousandth(engine, tmp_path):
    """'250.000' is 250 or 250,000: a project record's text metrics follow the no-profile number rule of
    proposal files (issue #13), instead of Decimal's reading (250)."""
    text = (PROJECTS / "go.yaml").read_text().replace(
        "stage: business-case\n", "stage: business-case\nmetrics:\n  benefit_forecast: '250.000'\n", 1)
    path = tmp_path / "p.yaml"
    path.write_text(text)
    problems = _record_problems(engine, path)
    assert any("benefit_forecast" in p and "reads two ways" in p for p in problems), problems


def test_numbers_given_on_the_command_line_follow_the_same_rule(capsys):
    assert main(["expr", "budget * 2", "--set", "budget=250.000"]) == 2
    assert "reads two ways" in capsys.readouterr().err
    assert main(["expr", "budget * 2", "--set", "budget=1,250,000"]) == 0
    assert "2500000" in capsys.readouterr().out


@pytest.mark.parametrize("key, value", [
    ("approvals", True), ("approvals", 5), ("approvals", "CFO"), ("approvals", {"name": "finance-review"}),
    ("approvals", [{"by": "CFO"}]), ("approvals", [["finance-review"]]),
    ("evidence", True), ("evidence", 3), ("evidence", "business-case-doc"), ("evidence", {"a": 1}),
    ("evidence", [{"name": "business-case-doc"}]),
    ("history", True), ("history", "approved in May"), ("metrics", ["spi"]), ("metrics", 0.9),
])
def test_a_record_key_of_the_wrong_shape_is_a_located_error(engine, tmp_path, key, value):
    """approvals: true was an internal error (TypeError, a 500 from pmo serve); "CFO" was read as the approvals
    C, F and O, and metrics: [spi] as no metrics at all: each is now an error at its line, with the shape."""
    import yaml
    data = yaml.safe_load((PROJECTS / "go.yaml").read_text())
    data[key] = value
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith(f"{key}:"))
    problems = _record_problems(engine, path)
    assert problems and all(p.startswith(f"{path}:") and "error[bad_value]" in p for p in problems), problems
    assert any(p.startswith(f"{path}:{line}:") or p.startswith(f"{path}:{line + 1}:") for p in problems), problems
    assert any(key in p for p in problems), problems


def test_a_must_meet_on_a_metric_not_given_says_so(engine, tmp_path):
    """A delivery review without spi said only 'must-meet schedule-on-track failed', as if the SPI were low."""
    text = (PROJECTS / "delivery.yaml").read_text(encoding="utf-8")
    unreported = tmp_path / "no-spi.yaml"
    unreported.write_text(text.replace("  spi: 0.97\n", ""), encoding="utf-8")
    low = tmp_path / "low-spi.yaml"
    low.write_text(text.replace("  spi: 0.97\n", "  spi: 0.5\n"), encoding="utf-8")
    said = engine.review_gate(unreported, "delivery-review").reasons
    assert "must-meet schedule-on-track not known: Schedule performance index at least 0.85 (spi not given); the " \
        "gate needs the data to decide" in said
    assert not any("not known" in r for r in engine.review_gate(low, "delivery-review").reasons)


def test_a_project_id_with_spaces_around_it_is_the_project(engine, tmp_path):
    """Found by a new user: id "VZ-101  " made a second project in the log, the KPIs and pmo history (intake trims
    the same id in a CSV)."""
    record = (PROJECTS / "go.yaml").read_text(encoding="utf-8")
    ident = next(line.split(":", 1)[1].strip() for line in record.splitlines() if line.startswith("id:"))
    spaced = tmp_path / "spaced.yaml"
    spaced.write_text(record.replace(f"id: {ident}", f'id: "  {ident}  "'), encoding="utf-8")
    assert engine.review_gate(spaced, "business-case").project == engine.review_gate(PROJECTS / "go.yaml",
                                                                                      "business-case").project == ident


def test_replay_decides_each_entry_at_its_own_date_and_reads_it_through_the_round_s_profile(tmp_path, capsys):
    """Found by a new user: replay judged every entry at one date (the current one), and read the cells of a round
    that came through an input profile (1.250.000,50, DD-MM-YYYY) without it: both gave changes under an unchanged
    policy, which buried the real ones."""
    dated = tmp_path / "dated"
    dated.mkdir()
    (dated / "intake.yaml").write_text("kind: intake\nfields: {id: string, start_date: date}\nrules:\n  - {id: started, "
                                       "when: start_date < today(), effect: reject, reason: it has started}\n")
    (tmp_path / "p.csv").write_text("id,start_date\nP-1,2027-06-01\n")
    db = tmp_path / "log.sqlite"
    assert main(["evaluate", str(tmp_path / "p.csv"), "--policies", str(dated), "--today", "2027-07-01", "--log",
                 str(db)]) == 0
    capsys.readouterr()
    replay = ["replay", "--db", str(db), "--policies", str(dated), "--format", "json"]
    assert main(replay) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == []  # decided at 2027-07-01 again, not today
    assert main([*replay, "--today", "2026-12-01"]) == 0
    changed, = json.loads(capsys.readouterr().out)["changed"]  # one date for all: not started in 2026
    assert (changed["logged"], changed["now"], changed["as_of"]) == ("reject", "accept", "2027-07-01")

    assert main(["init", str(tmp_path / "pmo")]) == 0
    starter = tmp_path / "pmo"
    profiled = tmp_path / "profiled.sqlite"
    assert main(["evaluate", str(starter / "proposals.csv"), "--policies", str(starter / "policies"), "--columns",
                 str(starter / "profile.yaml"), "--today", "2027-01-10", "--log", str(profiled)]) in (0, 1)
    capsys.readouterr()
    replay = ["replay", "--db", str(profiled), "--policies", str(starter / "policies"), "--format", "json"]
    assert main(replay) == 0
    changed, err = json.loads((out := capsys.readouterr()).out)["changed"], out.err
    assert changed and all(c["now"] == "error" and c["why"] for c in changed)
    assert "give it here too (--columns FILE)" in err
    assert main([*replay, "--columns", str(starter / "profile.yaml")]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == []


def test_a_decision_right_not_known_to_hold_is_taken_and_said_not_passed_to_a_lower_authority(engine, tmp_path):
    """Found by a new user: with no budget, 'budget > 1_000_000 or risk >= 4' was not true, so the PMO lead decided
    (the lowest authority), and nothing said the budget was missing."""
    record = (PROJECTS / "go.yaml").read_text(encoding="utf-8")
    assert engine.review_gate(PROJECTS / "go.yaml", "business-case").approvers == ["pmo-lead"]
    unknown = tmp_path / "no-budget.yaml"
    unknown.write_text("".join(line for line in record.splitlines(keepends=True) if not line.startswith("  budget:")),
                       encoding="utf-8")
    decided = engine.review_gate(unknown, "business-case")
    assert decided.approvers == ["steering-committee"]
    assert "decision rights: steering-committee decides, as whether their decision right holds is not known (not " \
           "known: budget not given)" in decided.reasons


def _variants(tmp_path):
    """examples/projects/go.yaml, and the same record written other ways the reader reads the same (the id in spaces,
    a number as text and with a zero more, evidence in another order, keys in another order)."""
    record = (PROJECTS / "go.yaml").read_text(encoding="utf-8")
    spaced = record.replace("id: PRJ-1001", 'id: "PRJ-1001  "')
    written = record.replace("  budget: 180000\n", "  budget: '180000.0'\n").replace(
        "- business-case-document\n- risk-register\n", "- risk-register\n- business-case-document\n")
    moved = record.replace("\nstage: business-case\n", "\n", 1) + "stage: business-case\n"
    paths = []
    for name, text in {"spaced": spaced, "written": written, "moved": moved}.items():
        assert text != record, name
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
        paths.append(tmp_path / f"{name}.yaml")
    return paths


def test_a_project_record_written_another_way_is_the_same_decision_in_the_log(tmp_path, capsys):
    """Found by a new user: 'VZ-101  ' was trimmed, but its review was a second entry beside the one of 'VZ-101', as
    the key hashed the record as written. The key is computed from the record as read: one decision, one entry."""
    db = tmp_path / "log.sqlite"
    for path in [PROJECTS / "go.yaml", *_variants(tmp_path)]:
        assert main(["gate", str(path), "--gate", "business-case", "--log", str(db)]) == 0
    capsys.readouterr()
    assert main(["log", "--log", str(db), "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["project"], e["outcome"]) for e in entries] == [("PRJ-1001", "go")]
    assert entries[0]["input"]["id"] == "PRJ-1001"  # the record as it was given is what the entry keeps


def test_a_gate_entry_logged_by_an_earlier_pmo_is_still_recognised(tmp_path, capsys):
    """Entries an earlier pmo logged have keys of the record as written: reviewing the same record again adds
    nothing, whether it was written cleanly or not."""
    from engine.gates.review import read_project
    from engine.store import DecisionLog, Entry
    engine = Engine.load(today=TODAY)
    db = tmp_path / "log.sqlite"
    spaced = _variants(tmp_path)[0]
    with DecisionLog(db) as log:  # as pmo logged a review before its keys were of the record as read
        for path in (PROJECTS / "go.yaml", spaced):
            decision = engine.review_gate(path, "business-case")
            assert log.append([Entry("gate", decision.project, decision.gate, read_project(path), engine.policy_hash,
                                     decision.decision, [m.model_dump(mode="json") for m in decision.must_meet],
                                     decision.approvers, None, as_of=engine.today.isoformat(),
                                     backend=engine.backend)]) == 1
    for path in (PROJECTS / "go.yaml", spaced):
        assert main(["gate", str(path), "--gate", "business-case", "--log", str(db), "--today", TODAY.isoformat()]) == 0
    with DecisionLog(db) as log:
        assert log.count() == 2


@pytest.mark.parametrize("item, problem", [
    ("- stage: idea\n  at: '2026-09-01'\n  atr: x\n",
     "3:3: error[unknown_key]: history 1: unknown key 'atr'; did you mean 'at'?"),
    ("- stage: idea\n  at: '31-09-2026'\n",
     "2:8: error[bad_value]: history 1: 'at': '31-09-2026' is not a date; write YYYY-MM-DD"),
    ("- stage: idea\n  at: '2026-09-31'\n", "2:8: error[bad_value]: history 1: 'at': '2026-09-31' is not a valid date (day is out of range for month)"),
    ("- stage: idea\n  at: '2030-01-01'\n",
     "2:8: error[bad_value]: history 1: 'at': 2030-01-01 is after the date of the review (2026-12-01); a history "
     "lists gates passed before (--today sets the review's date)"),
    ("- stage: idae\n  at: '2026-09-01'\n",
     "1:10: error[unknown_stage]: history 1: stage 'idae' is not a stage of the gate policy; did you mean 'idea'?"),
    ("- at: '2026-09-01'\n", "1:3: error[missing_key]: history 1: an entry needs a 'stage'"),
    ("- stage: idea\n", "1:3: error[missing_key]: history 1: an entry needs an 'at' (the date, YYYY-MM-DD)"),
    ("- {stage: business-case, at: '2026-11-02', gate: busines-case, decision: go}\n",
     "1:50: error[unknown_gate]: history 1: gate 'busines-case' is not a gate of the gate policy; did you mean "
     "'business-case'?"),
    ("- {stage: business-case, at: '2026-11-02', gate: business-case, decision: approved}\n",
     "1:75: error[bad_value]: history 1: decision 'approved' is not one of: go, kill, hold, recycle"),
    ("- idea\n", "1:3: error[bad_value]: history 1: an entry is a mapping, e.g. {stage: idea, at: 2026-09-01}"),
])
def test_every_history_entry_is_checked_like_the_rest_of_the_record(engine, tmp_path, item, problem):
    """Found by a new user: the history's entries were taken as they were: unknown keys, impossible or future dates,
    stages, gates and decisions the gate policy does not know. Each is a located error, with a did-you-mean."""
    text = (PROJECTS / "go.yaml").read_text(encoding="utf-8")
    head = text[:text.index("history:\n") + len("history:\n")]
    path = tmp_path / "p.yaml"
    path.write_text(head + item, encoding="utf-8")
    line, rest = problem.split(":", 1)
    problems = _record_problems(engine, path)
    assert problems == [f"{path}:{int(line) + head.count(chr(10))}:{rest}"], problems


def test_a_checked_history_is_the_same_decision_however_it_is_written(engine, tmp_path):
    text = (PROJECTS / "go.yaml").read_text(encoding="utf-8")
    written = tmp_path / "p.yaml"
    written.write_text(text.replace("  at: '2026-09-01'", "  at: 2026-09-01"), encoding="utf-8")
    assert engine.review_gate(written, "business-case").record_read == \
        engine.review_gate(PROJECTS / "go.yaml", "business-case").record_read


def test_the_log_filters_by_the_day_of_logging_or_by_the_date_decided(tmp_path, capsys):
    """Found by a new user: pmo log --since filtered by when an entry was logged, pmo kpi counts a decision in the
    period of its as-of date, and nothing said so. --since/--until are the day logged (UTC), --decided-since/
    --decided-until the date decided (the date today() meant; for an entry without one, the day logged), as the
    KPIs read it (engine.health.kpis.decided_on)."""
    import datetime as dt

    from engine.health.kpis import decided_on
    from engine.store import DecisionLog, Entry
    db = tmp_path / "log.sqlite"
    for today in ("2027-03-01", "2027-06-30"):
        assert main(["gate", str(PROJECTS / "go.yaml"), "--gate", "business-case", "--today", today, "--log",
                     str(db)]) == 0
    with DecisionLog(db) as log:  # an entry from before the log kept the date decided: its day logged counts
        log.append([Entry("gate", "OLD", "business-case", {"id": "OLD"}, "h", "go", [], [], time="2027-04-02T10:00:00+00:00")])
    capsys.readouterr()

    def listed(*options):
        assert main(["log", "--log", str(db), "--format", "json", *options]) == 0
        return [(e["project"], decided_on(e)) for e in json.loads(capsys.readouterr().out)]

    logged_today = dt.datetime.now(dt.UTC).date().isoformat()
    assert len(listed("--since", logged_today, "--until", logged_today)) == 2  # the gate reviews were logged today
    assert listed("--decided-since", "2027-04-01") == [("PRJ-1001", dt.date(2027, 6, 30)), ("OLD", dt.date(2027, 4, 2))]
    assert listed("--decided-until", "2027-04-02") == [("PRJ-1001", dt.date(2027, 3, 1)), ("OLD", dt.date(2027, 4, 2))]
    assert listed("--decided-since", "2027-04-03", "--decided-until", "2027-06-29") == []
    assert main(["log", "--help"]) == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "--since YYYY-MM-DD entries logged on or after this day (UTC)" in usage
    assert "--decided-since YYYY-MM-DD decisions made for this date or later" in usage


@pytest.mark.parametrize("metric, criterion, on_fail", [
    ("budget_variance", "cost-under-control", "kill"), ("spi", "schedule-on-track", "recycle"),
    ("benefit_forecast", "benefits-still-there", "recycle"),
])
def test_a_must_meet_metric_not_given_holds_the_project_for_the_data_never_kills_it(engine, tmp_path, metric,
                                                                                    criterion, on_fail):
    """Found by a new user: a delivery review without budget_variance killed the project (cost-under-control says
    on_fail: kill), reading a missing figure as a failed one. A must-meet criterion that cannot be shown to hold or
    fail is not known: the project is held for the data, with the reason, whatever its on_fail says."""
    text = (PROJECTS / "delivery.yaml").read_text(encoding="utf-8")
    path = tmp_path / "p.yaml"
    path.write_text("".join(line for line in text.splitlines(keepends=True) if not line.startswith(f"  {metric}:")),
                    encoding="utf-8")
    decision = engine.review_gate(path, "delivery-review")
    assert decision.decision == "hold" and decision.next_stage == "execution"
    (unknown,) = [m for m in decision.must_meet if not m.passed]
    assert (unknown.criterion, unknown.known, unknown.on_fail) == (criterion, False, on_fail)
    assert any(r.startswith(f"must-meet {criterion} not known: ") and f"({metric} not given)" in r
               for r in decision.reasons), decision.reasons
    with pytest.raises(PmoError, match="nothing to override"):  # an override lifts a failure, not missing data
        engine.review_gate(path, "delivery-review", override={"role": "steering-committee",
                                                              "justification": "we know the figure is fine"})


def test_a_known_failure_still_decides_beside_a_criterion_not_known(engine, tmp_path):
    text = (PROJECTS / "delivery.yaml").read_text(encoding="utf-8")
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("  budget_variance: 0.04\n", "  budget_variance: 0.5\n").replace("  spi: 0.97\n", ""),
                    encoding="utf-8")
    assert engine.review_gate(path, "delivery-review").decision == "kill"  # a known kill is not waiting for spi


def test_the_record_as_read_is_a_field_of_the_decision_kept_out_of_its_json():
    """GateDecision.record_read (what the log's key is made from) is a field by that name, set where the decision
    is made (it was a private attribute the review function set from outside the model): a decision built by an
    API user with it keeps it, and neither its JSON nor its repr shows it."""
    from engine.gates.review import GateDecision, read_project
    engine = Engine.load(today=TODAY)
    decision = engine.review_gate(PROJECTS / "go.yaml", "business-case")
    assert decision.record_read is not None and decision.record_read["id"] == read_project(PROJECTS / "go.yaml")["id"]
    assert "record_read" not in decision.to_json() and "record_read" not in repr(decision)
    rebuilt = GateDecision(**decision.to_json(), record_read=decision.record_read)
    assert rebuilt.record_read == decision.record_read and rebuilt.to_json() == decision.to_json()


def test_pmo_log_finds_one_entry_by_its_key(tmp_path, capsys):
    """Found by an integrator: the key pmo serve answers as decision_id could be looked up over HTTP only."""
    db = tmp_path / "log.sqlite"
    assert main(["gate", str(PROJECTS / "go.yaml"), "--gate", "business-case", "--today", "2027-03-01", "--log",
                 str(db)]) == 0
    assert main(["evaluate", str(ROOT / "examples" / "proposals.csv"), "--log", str(db), "--today", "2027-03-01",
                 "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["log", "--log", str(db), "--format", "json"]) == 0
    every = json.loads(capsys.readouterr().out)
    wanted = every[7]
    assert main(["log", "--log", str(db), "--format", "json", "--key", f" {wanted['key']} "]) == 0
    assert json.loads(capsys.readouterr().out) == [wanted]
    assert main(["log", "--log", str(db), "--key", "0" * 32]) == 0
    out, err = capsys.readouterr()
    assert out == "0 decisions\n" and f"no entry with key '{'0' * 32}'" in err
    assert main(["log", "--log", str(db), "--key", wanted["key"], "--project", "PRJ-1001"]) == 2
    assert "--key names one entry; it does not combine with --project" in capsys.readouterr().err
