"""Sizes of the fuzz runs. In CI (the default) each property test runs its stated number of cases from a
fixed seed, so a red run reproduces exactly. A longer run explores new random seeds:

    python -m pytest tests/test_reliability.py tests/test_backends_agree.py --fuzz-scale 50

(or PMO_FUZZ_SCALE=50). A failure prints the seed to replay it with @reproduce_failure.
"""
import os

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("PMO_FUZZ_SCALE", "1")))


def fuzz(examples: int):
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=SCALE == 1, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])
