"""Reference data beside a policy: ``kind: lookup`` tables (rows in YAML or a CSV file), typed when the policy
loads and read in expressions with ``lookup(table, key, "column")`` and ``key in table``."""
