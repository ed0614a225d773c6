"""The decision outputs' own columns, in order: what an input profile may not carry under the same name
(engine/io/profile.py) and the first columns of the CSV (engine/io/writers.py). A module of its own so that the
writers, which ``pmo --help`` loads for its format choices, do not load the profiles' YAML reading."""

OUTPUT_COLUMNS = ("id", "decision", "routes", "rules", "reasons", "errors", "source", "row", "policy_hash", "as_of")
