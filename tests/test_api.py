import datetime as dt
import json

import pytest

import engine
from engine import Decision, Engine, PmoError, PolicyError, validate
from engine.errors import UsageError
from tests.conftest import TODAY


def test_public_api_is_pinned():
    assert engine.__all__ == [
        "Contribution", "Decision", "Diagnostic", "Engine", "Finding", "InputError", "Location", "PmoError",
        "PolicyError", "RankEntry", "Ranking", "Row", "RowError", "__version__", "read_proposals", "validate",
    ]


def test_errors_share_one_root():
    assert issubclass(engine.PolicyError, engine.PmoError)
    assert issubclass(engine.InputError, engine.PmoError)


def test_load_default_policies_and_decide(engine):
    d = engine.evaluate({"id": "PRJ-0001", "title": "CRM", "budget": 300_000, "alignment": "net-zero:strong",
                         "benefit": 900_000})
    assert isinstance(d, Decision)
    assert d.decision == "reject"
    fired = {f.rule: f for f in d.findings}
    assert fired["sponsor-required"].effect == "reject"
    assert fired["sponsor-required"].reason == "Proposals above 250,000 need a named sponsor"
    assert fired["sponsor-required"].source.startswith("policies/intake.yaml:")
    assert fired["sponsor-required"].origin == "governance/sponsor-required"
    assert fired["route-portfolio-board"].route == "Portfolio Board"  # the review finding keeps its approver
    assert d.routes == []  # but nobody approves a rejected proposal: routes are the decision's, not the findings'
    assert d.policy_hash == engine.policy_hash and len(d.policy_hash) == 16
    json.dumps(d.to_json())  # JSON-serialisable


def test_accept_when_no_rule_objects(engine):
    d = engine.evaluate({"id": "PRJ-0002", "title": "Small", "sponsor": "Ann", "alignment": "net-zero:strong",
                         "budget": "100000", "benefit": "300000", "risk": 2, "complexity": 2,
                         "start_date": "2027-03-01", "end_date": "2027-09-01"})
    assert (d.decision, d.findings, d.errors) == ("accept", [], [])
    assert d.derived["benefit_cost_ratio"] == 3


def test_bad_records_become_error_decisions(engine):
    decisions = list(engine.evaluate_many([{"id": "A", "title": "x", "budget": "lots"}, "not a mapping",
                                           {"id": "B", "title": "y", "budget": 10}]))
    assert [d.decision for d in decisions][:2] == ["error", "error"]
    assert decisions[0].errors[0].column == "budget" and decisions[0].errors[0].row == 1
    assert decisions[1].errors[0].code == "not_an_object"
    assert decisions[2].decision != "error"


def test_policy_hash_is_stable_and_changes_with_content(write_policy, tmp_path):
    files = {"intake.yaml": "kind: intake\nfields: {id: string, budget: money}\nrules:\n"
             "  - {id: big, when: budget > 10, effect: flag, reason: big}\n"}
    first = Engine.load(write_policy(files), today=TODAY).policy_hash
    assert Engine.load(write_policy(files), today=TODAY).policy_hash == first
    files["intake.yaml"] = files["intake.yaml"].replace("> 10", "> 11")
    assert Engine.load(write_policy(files, "other"), today=TODAY).policy_hash != first


def test_load_raises_policy_error_with_every_problem(write_policy):
    root = write_policy({"intake.yaml": "kind: intake\nfields: {id: string}\nrules:\n"
                         "  - {id: a, when: budjet > 1, effect: flag, reason: r}\n"
                         "  - {id: b, when: id > 1, effect: flag, reason: r}\n"})
    try:
        Engine.load(root, today=TODAY)
    except PolicyError as exc:
        assert [d.code for d in exc.diagnostics] == ["unknown_field", "type_mismatch"]
    else:
        raise AssertionError("expected PolicyError")


def test_evaluate_many_is_lazy(engines):
    seen = []

    def source():
        for i in range(3):
            seen.append(i)
            yield {"id": str(i), "title": "t"}

    it = engines["reference"].evaluate_many(source())
    next(it)
    assert seen == [0]


def test_evaluate_plain_is_evaluate_without_the_model(engine):
    from engine.decision import Verdict
    from engine.io.readers import read_proposals
    from tests.conftest import ROOT
    proposals = [dict(r.data) for r in read_proposals(ROOT / "examples" / "proposals.csv")]
    proposals += [{"id": "X-1", "budget": "lots"}, {}, {"id": "X-2", "budget": 10**30}]  # error rows too
    for proposal in proposals:
        plain = engine.evaluate_plain(proposal)
        assert isinstance(plain, Verdict)
        assert plain.to_json() == engine.evaluate(proposal).to_json() == plain.model().to_json()
    assert engine.evaluate_plain({"id": "X-3"}, row=7, source="s").to_json() == \
        engine.evaluate({"id": "X-3"}, row=7, source="s").to_json()


def test_today_may_be_a_date_a_datetime_or_an_iso_text_and_nothing_else():
    """Found by an integrator: Engine.load(today="2027-01-01") raised a bare AttributeError, and validate(today=
    "2026-12-01") reported the reference policies' date rules as type errors (a text compared with dates)."""
    day = dt.date(2027, 1, 1)
    for given in (day, dt.datetime(2027, 1, 1, 15, 30), "2027-01-01"):
        engine = Engine.load(today=given)
        assert engine.today == day and type(engine.today) is dt.date
    assert validate(today="2026-12-01") == [] and validate(today=dt.datetime(2026, 12, 1, 9)) == []
    for bad, said in (("01/02/2027", "'01/02/2027' is not a date; give a datetime.date or YYYY-MM-DD"),
                      (20270101, "20270101 is not a date; give a datetime.date or YYYY-MM-DD")):
        for call in (Engine.load, validate):
            with pytest.raises(UsageError) as raised:
                call(today=bad)
            assert str(raised.value).endswith(said) and isinstance(raised.value, (PmoError, TypeError, ValueError))


def test_an_unknown_back_end_is_a_pmo_error_naming_the_choices():
    with pytest.raises(PmoError) as raised:
        Engine.load(backend="fast")
    assert isinstance(raised.value, ValueError) and "unknown back end 'fast'; choose one of" in str(raised.value)


def test_an_embedded_decision_is_logged_as_the_service_logs_it(tmp_path):
    """Found by an integrator: there was no documented way to log a decision made in Python; an Entry had to be
    built by hand, guessing the input's shape that gives the service's decision_id."""
    from engine.store import DecisionLog
    engine = Engine.load(today=TODAY)
    proposal = {"id": "PRJ-0042", "title": "CRM", "budget": 300_000, "alignment": "customer-experience:strong",
                "benefit": 900_000, "start_date": "2027-06-01", "end_date": "2027-12-01"}
    decision, entry = engine.evaluate_logged(proposal)
    assert decision == engine.evaluate(proposal) and entry.outcome == decision.decision == "reject"
    # (that the key is the one pmo serve answers: tests/test_serve.py::test_smallest_use_health_evaluate_...)
    respelt = {**proposal, "id": " PRJ-0042 ", "budget": 300_000.0, "benefit": "900000"}
    assert engine.evaluate_logged(respelt)[1].key == entry.key  # reads the same: one decision
    with DecisionLog(tmp_path / "log.sqlite") as log:
        assert log.append([entry]) == 1 and log.append([entry]) == 0
        [stored] = log.query(project="PRJ-0042")
    assert stored["outcome"] == "reject" and stored["policy_hash"] == engine.policy_hash
