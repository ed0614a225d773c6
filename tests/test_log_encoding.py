"""The decision log encodes each entry's input as JSON once: the stored text, its hash and the entry's key
all come from that one encoding (issue #19: it was encoded three times per entry)."""
import engine.store.log as audit
from engine.store import DecisionLog, Entry, digest


def entries(n):
    return [Entry("intake", f"P{k}", None, {"row": {"id": f"P{k}", "budget": str(1000 * k)}, "line": k + 2},
                  "policy-hash", "approve", [{"rule": "r1"}], ["pmo"], as_of="2026-12-01", backend="rete")
            for k in range(n)]


def test_each_input_is_encoded_once(tmp_path, monkeypatch):
    batch = entries(50)
    inputs = {id(e.input) for e in batch}
    calls = []
    real = audit.canonical

    def counting(data):
        if id(data) in inputs:
            calls.append(id(data))
        return real(data)

    monkeypatch.setattr(audit, "canonical", counting)
    with DecisionLog(tmp_path / "d.sqlite") as log:
        assert log.append(batch) == 50
    assert len(calls) == 50 and len(set(calls)) == 50


def test_hash_and_key_are_those_of_the_entry(tmp_path):
    batch = entries(3)
    with DecisionLog(tmp_path / "d.sqlite") as log:
        log.append(batch)
        assert log.append(entries(3)) == 0  # the same decisions again: the keys match, nothing is new
        stored = log.query()
        rows = [(r["key"], r["input_hash"]) for r in stored]
    assert [r["input"] for r in stored] == [e.input for e in batch]
    assert rows == [(e.key, digest(e.input)) for e in batch]
    assert [e.input_hash for e in batch] == [digest(e.input) for e in batch]
