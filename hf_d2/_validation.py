"""Checks run once at the public boundary. Each error names the parameter, the value given,
what is allowed, and what to do (scikit-learn style). All raise ``ValueError``."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"The '{name}' parameter must be one of {options}. Got {value!r} instead.")
    return value


def check_rate(rate: Any, name: str = "rate") -> float:
    """``rate`` is the fraction REMOVED: 0 <= rate < 1."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise ValueError(
            f"The '{name}' parameter must be a number in [0, 1) (the fraction of rows to remove). "
            f"Got {rate!r} instead."
        )
    rate = float(rate)
    if not (0.0 <= rate < 1.0) or math.isnan(rate):
        raise ValueError(
            f"The '{name}' parameter is the fraction of rows to REMOVE and must be in [0, 1). "
            f"Got {rate} instead; to keep 30% of the rows pass {name}=0.7."
        )
    return rate


def budget_from_rate(num_rows: int, rate: float) -> int:
    """Rows to keep for a pruning rate: round((1 - rate) * n), at least 1 when n > 0."""
    rate = check_rate(rate)
    if num_rows == 0:
        return 0
    return max(1, min(num_rows, int(round((1.0 - rate) * num_rows))))


def check_budget(budget: Any, num_rows: int) -> int:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise ValueError(
            f"The 'budget' parameter must be an int (the number of rows to keep). Got {budget!r} instead."
        )
    budget = int(budget)
    if budget < 0 or budget > num_rows:
        raise ValueError(
            f"The 'budget' parameter must be in [0, {num_rows}] (the number of rows available). "
            f"Got {budget} instead; lower the budget or pass a pruning rate in [0, 1)."
        )
    return budget


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(
            f"The '{name}' parameter must be an int in the range [{minimum}, inf). Got {value!r} instead."
        )
    return int(value)


def check_k(k: Any, num_rows: int) -> int:
    k = check_positive_int("k", k)
    if k >= num_rows:
        raise ValueError(
            f"The 'k' parameter (neighbours per example) must be smaller than the number of examples "
            f"({num_rows}). Got k={k}; pass k <= {max(num_rows - 1, 1)} or select from more rows."
        )
    return k


def check_finite_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"The '{name}' parameter must be a finite number. Got {value!r} instead.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"The '{name}' parameter must be a finite number. Got {value} instead.")
    return value


def check_embeddings(embeddings: Any, name: str = "embeddings") -> np.ndarray:
    """Returns a C-contiguous float32 (n, d) array; rejects ragged, empty, NaN and inf input."""
    try:
        array = np.asarray(embeddings, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"The '{name}' must be a 2-D array of numbers (n examples x d dimensions); "
            f"could not convert it ({error}). Check that every row has the same length."
        ) from None
    if array.ndim != 2:
        raise ValueError(
            f"The '{name}' must be a 2-D array (n examples x d dimensions). Got shape {array.shape}; "
            "reshape it, e.g. np.stack(list_of_vectors)."
        )
    if array.shape[0] == 0:
        raise ValueError(f"The '{name}' are empty (0 examples): there is nothing to select from.")
    if array.shape[1] == 0:
        raise ValueError(f"The '{name}' have 0 dimensions: pass at least one feature per example.")
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        preview = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise ValueError(
            f"The '{name}' contain NaN or inf in {len(rows)} row(s) (rows {preview}); "
            "drop or re-embed those rows before selecting."
        )
    return np.ascontiguousarray(array)


def check_scores(scores: Any, num_rows: int | None = None, name: str = "scores") -> np.ndarray:
    """Returns a float64 (n,) array, higher = harder; rejects NaN/inf and length mismatches."""
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"The '{name}' must be a 1-D array of numbers (one per example).") from None
    if array.ndim != 1:
        raise ValueError(f"The '{name}' must be 1-D (one number per example). Got shape {array.shape}.")
    if num_rows is not None and array.shape[0] != num_rows:
        raise ValueError(
            f"The '{name}' have {array.shape[0]} values but there are {num_rows} examples; "
            "pass exactly one score per example, in the same order."
        )
    if array.shape[0] == 0:
        raise ValueError(f"The '{name}' are empty (0 examples): there is nothing to select from.")
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad)
        preview = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise ValueError(
            f"The '{name}' contain NaN or inf at {len(rows)} position(s) ({preview}); "
            "fill or drop those examples before selecting."
        )
    return array


def check_labels(labels: Any, num_rows: int, name: str = "labels") -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1 or array.shape[0] != num_rows:
        raise ValueError(
            f"The '{name}' must hold one label per example ({num_rows}); got shape {array.shape}."
        )
    return array
