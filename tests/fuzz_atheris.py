"""Coverage-guided fuzzing with atheris (libFuzzer), beside the hypothesis property tests. Not part of
the test suite; run by hand for as long as you like:

    pip install atheris
    python tests/fuzz_atheris.py expressions -max_total_time=60
    python tests/fuzz_atheris.py proposals -max_total_time=60

expressions: any text through the expression parser, type checker and evaluator must end in a value or
an ExprError with a position inside the text. proposals: any field values through both back ends
must give the same decision (an error row included), never an exception. A failure stops the run and
libFuzzer writes the input as crash-*; add it to the regression cases.
"""
import datetime as dt
import sys

import atheris

with atheris.instrument_imports(include=["engine"]):
    from engine import Engine
    from engine.expr.check import check
    from engine.expr.evaluate import evaluate
    from engine.expr.parse import ExprError, parse

TODAY = dt.date(2026, 12, 1)
TYPES = {"budget": "number", "name": "string", "start": "date", "ok": "bool", "flows": "list[number]"}
RECORD = {"budget": None, "name": "x", "start": dt.date(2027, 1, 1), "ok": True, "flows": ()}
FIELDS = ["id", "title", "sponsor", "sponsor_level", "alignment", "category", "budget", "opex_per_year", "benefit",
          "cash_flows", "start_date", "end_date", "risk", "complexity", "regulatory", "personal_data",
          "privacy_assessment", "vendor", "vendor_approved", "headcount"]


def expressions(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(300)
    try:
        node = check(parse(text), TYPES, TODAY)
    except ExprError as exc:
        assert 0 <= exc.offset <= len(text), (text, exc.offset)
        return
    evaluate(node, RECORD)


ENGINES = []


def proposals(data: bytes) -> None:
    if not ENGINES:
        ENGINES.extend(Engine.load(today=TODAY, backend=b) for b in ("rete", "reference"))
    provider = atheris.FuzzedDataProvider(data)
    proposal = {name: provider.ConsumeUnicodeNoSurrogates(24) for name in FIELDS if provider.ConsumeBool()}
    rete, reference = (engine.evaluate(proposal) for engine in ENGINES)
    assert rete.model_dump() == reference.model_dump(), proposal
    assert not any(e.code == "internal_error" for e in rete.errors), (proposal, rete.errors)


if __name__ == "__main__":
    target = {"expressions": expressions, "proposals": proposals}[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
