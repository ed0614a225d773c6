"""Weights from pairwise comparisons: the Analytic Hierarchy Process (Saaty).

``weights(matrix, method)`` gives the priority vector and the consistency figures:
lambda_max, CI = (lambda_max - n) / (n - 1) and CR = CI / RI, with Saaty's random index RI.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Saaty's random consistency index by matrix size (The Analytic Hierarchy Process, 1980; n > 10 from
# Saaty's later tables). Matrices of size 1 and 2 are always consistent.
RANDOM_INDEX = {1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41, 9: 1.45, 10: 1.49,
                11: 1.51, 12: 1.48, 13: 1.56, 14: 1.57, 15: 1.59}
METHODS = ("eigen", "geometric")
RECIPROCAL_TOLERANCE = 0.01  # "1/3" written as 0.33 is still the reciprocal of 3


class AhpError(ValueError):
    """A comparison matrix that cannot be used; the message says which entry and why.
    ``where`` is the entry's path, ("matrix", row, column) or ("judgements", a, b), when there is one."""

    def __init__(self, message: str, where: tuple[str | int, ...] = ()):
        super().__init__(message)
        self.where = where


@dataclass(frozen=True)
class AhpResult:
    items: tuple[str, ...]
    weights: tuple[float, ...]
    lambda_max: float
    ci: float
    cr: float
    method: str

    @property
    def consistent(self) -> bool:
        return self.cr <= 0.10

    def as_dict(self) -> dict[str, Any]:
        return {"weights": dict(zip(self.items, self.weights)), "lambda_max": self.lambda_max, "ci": self.ci,
                "cr": self.cr, "consistent": self.consistent, "method": self.method}


def judgement(value: Any) -> float:
    """A comparison value: a positive number, or text such as "1/3"."""
    if isinstance(value, bool):
        raise AhpError(f"{value!r} is not a comparison value")
    try:
        number = float(Fraction(value.strip())) if isinstance(value, str) else float(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise AhpError(f"{value!r} is not a comparison value; write a number such as 3 or 1/3") from None
    if not math.isfinite(number) or number <= 0:
        raise AhpError(f"{value!r} is not a comparison value; it must be a finite positive number")
    return number


def matrix_from_rows(items: Sequence[str], rows: Sequence[Sequence[Any]]) -> np.ndarray:
    """A full matrix in the order of ``items``; the diagonal must be 1 and a[j][i] == 1 / a[i][j]."""
    import numpy as np  # lazy: a policy's weights are remembered (engine/policy/weights.py), numpy is 0.1 s to load

    _distinct(items)
    n = len(items)
    if len(rows) != n or any(not isinstance(r, (list, tuple)) or len(r) != n for r in rows):
        raise AhpError(f"the matrix must be {n} x {n}, one row and one column per item ({', '.join(items)})",
                       ("matrix",))
    a = np.empty((n, n))
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            try:
                a[i, j] = judgement(value)
            except AhpError as exc:
                raise AhpError(f"row {i + 1}, column {j + 1} ({items[i]} vs {items[j]}): {exc}",
                               ("matrix", i, j)) from None
    for i in range(n):
        if abs(a[i, i] - 1) > 1e-9:
            raise AhpError(f"row {i + 1} ({items[i]}): the diagonal must be 1, not {a[i, i]:g}", ("matrix", i, i))
        for j in range(i + 1, n):
            if abs(a[i, j] * a[j, i] - 1) > RECIPROCAL_TOLERANCE:
                raise AhpError(f"{items[i]} vs {items[j]} is {a[i, j]:g} but {items[j]} vs {items[i]} is "
                               f"{a[j, i]:g}; it must be its reciprocal {1 / a[i, j]:.4g}", ("matrix", j, i))
    return a


def _distinct(items: Sequence[str]) -> None:
    repeated = sorted({i for i in items if list(items).count(i) > 1})
    if repeated:
        raise AhpError(f"'{repeated[0]}' is listed twice; each item is compared once")


def matrix_from_judgements(items: Sequence[str], judgements: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """A matrix from ``{a: {b: value}}`` ("a is value times as important as b"); reciprocals are filled in."""
    import numpy as np  # lazy, as in matrix_from_rows

    _distinct(items)
    index = {item: k for k, item in enumerate(items)}
    n = len(items)
    a = np.full((n, n), np.nan)
    np.fill_diagonal(a, 1.0)
    for first, row in judgements.items():
        if first not in index:
            raise AhpError(f"'{first}' is not one of the items compared ({', '.join(items)})", ("judgements", first))
        for second, value in row.items():
            if second not in index:
                raise AhpError(f"'{second}' is not one of the items compared ({', '.join(items)})",
                               ("judgements", first, second))
            i, j = index[first], index[second]
            if i == j:
                raise AhpError(f"'{first}' is compared with itself", ("judgements", first, second))
            try:
                v = judgement(value)
            except AhpError as exc:
                raise AhpError(f"{first} vs {second}: {exc}", ("judgements", first, second)) from None
            if not np.isnan(a[i, j]) and abs(a[i, j] * (1 / v) - 1) > RECIPROCAL_TOLERANCE:
                raise AhpError(f"{first} vs {second} is given twice, as {a[i, j]:g} and {v:g}",
                               ("judgements", first, second))
            a[i, j], a[j, i] = v, 1 / v
    missing = [(items[i], items[j]) for i in range(n) for j in range(i + 1, n) if np.isnan(a[i, j])]
    if missing:
        pairs = ", ".join(f"{x} vs {y}" for x, y in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise AhpError(f"{len(missing)} comparison(s) missing: {pairs}")
    return a


def weights(items: Sequence[str], matrix: np.ndarray, method: str = "eigen") -> AhpResult:
    """Priority weights (summing to 1) and consistency of a positive reciprocal matrix."""
    import numpy as np  # lazy, as in matrix_from_rows

    n = len(items)
    if method == "eigen":
        values, vectors = np.linalg.eig(matrix)
        k = int(np.argmax(values.real))
        lambda_max = float(values[k].real)
        w = np.abs(vectors[:, k].real)
    elif method == "geometric":
        w = np.exp(np.log(matrix).mean(axis=1))
        w_norm = w / w.sum()
        lambda_max = float(np.mean((matrix @ w_norm) / w_norm))
    else:
        raise AhpError(f"unknown method {method!r}; choose {' or '.join(METHODS)}")
    w = w / w.sum()
    ci = (lambda_max - n) / (n - 1) if n > 2 else 0.0
    ri = RANDOM_INDEX.get(n)
    if ri is None:
        raise AhpError(f"{n} items are too many to judge consistently (at most {max(RANDOM_INDEX)})")
    cr = ci / ri if ri else 0.0
    return AhpResult(tuple(items), tuple(float(x) for x in w), lambda_max, max(ci, 0.0), max(cr, 0.0), method)


@dataclass(frozen=True)
class Judgement:
    """One comparison, "first vs second = given", and the value that would fit the derived weights."""

    first: str
    second: str
    given: float
    consistent: float  # w_first / w_second
    deviation: float  # |given - consistent|


def worst_judgements(items: Sequence[str], matrix: np.ndarray, result: AhpResult, n: int = 2) -> list[Judgement]:
    """The judgements that most break consistency, worst first: the standard method takes the largest
    |a_ij - w_i / w_j| (the judgement furthest from the ratio of the weights that all the judgements imply).
    Each pair is listed once, in the orientation with the larger deviation."""
    w = dict(zip(result.items, result.weights))
    found: dict[frozenset[str], Judgement] = {}
    for i, first in enumerate(items):
        for j, second in enumerate(items):
            if i == j:
                continue
            fit = w[first] / w[second]
            candidate = Judgement(first, second, float(matrix[i, j]), fit, abs(float(matrix[i, j]) - fit))
            pair = frozenset((first, second))
            if pair not in found or candidate.deviation > found[pair].deviation:
                found[pair] = candidate
    return sorted(found.values(), key=lambda j: -j.deviation)[:n]


def shown(value: float) -> str:
    """A comparison value as a person writes it on Saaty's scale: 3, 1.5 or 1/3."""
    if value >= 1:
        return f"{value:.2g}" if value < 10 else f"{value:.0f}"
    return f"1/{1 / value:.2g}" if 1 / value < 10 else f"1/{1 / value:.0f}"
