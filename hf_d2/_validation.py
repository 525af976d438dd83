"""Checks run once at the public boundary. Each error names the parameter, the value given,
what is allowed, and what to do (scikit-learn style). Parameter errors raise
``InvalidParameterError`` (a ``ValueError``); errors about arrays raise ``ValueError``."""

from __future__ import annotations

import contextlib
import math
import re
from typing import Any, Callable, Iterator, Sequence

import numpy as np

_OTHER_PARAMETER = re.compile(r"\{param:(\w+)\}")
# How the current caller writes a parameter: None = a Python caller (``label_free``); otherwise a
# function from a parameter's name to its command-line flag, which the caller passes in (``spelled_as_flags``).
_callers_flags: list[Callable[[str], str] | None] = [None]


@contextlib.contextmanager
def spelled_as_flags(flag_for: Callable[[str], str]) -> Iterator[None]:
    """Messages written inside the block name parameters the way the command line does: ``flag_for``
    gives a parameter's flag (``label_column`` -> ``--label-column``). The ``hf-d2`` command passes
    its own; outside such a block messages use Python names (``label_column='topic'``)."""
    _callers_flags.append(flag_for)
    try:
        yield
    finally:
        _callers_flags.pop()


def spell(parameter: str) -> str:
    """A parameter as the current caller writes it: ``label_free`` for Python, ``--label-free`` on
    the command line (see ``spelled_as_flags``)."""
    flag_for = _callers_flags[-1]
    return parameter if flag_for is None else flag_for(parameter)


def assign(parameter: str, value: Any = True) -> str:
    """Giving a parameter a value, in the current caller's words: ``label_column='topic'`` /
    ``--label-column topic``; ``label_free=True`` / ``--label-free``."""
    flag_for = _callers_flags[-1]
    if flag_for is None:
        return f"{parameter}={value!r}"
    return flag_for(parameter) if value is True else f"{flag_for(parameter)} {value}"


def in_callers_words(template: str) -> str:
    """``template`` with each ``{param:name}`` spelled for the current caller (see ``spell``)."""
    return _OTHER_PARAMETER.sub(lambda match: spell(match.group(1)), template)


class InvalidParameterError(ValueError):
    """A parameter has a value it cannot take.

    parameter: the Python name (``gamma_reverse``). The message is written once, as a template
    in which ``{name}`` stands for the parameter, ``{set}`` for "assign it" and ``{on}`` for
    "switch it on" (``drop_empty=True`` / ``--drop-empty``), and ``{param:other_name}`` names
    another parameter (``other_name`` / ``--other-name``): a Python caller reads "The 'rate'
    parameter ... pass rate=0.7" (``str(error)``), the command line "--rate ... pass --rate 0.7"
    (``render(flag_for)``, with the command line's own spelling of a parameter as a flag).
    """

    def __init__(self, parameter: str, template: str) -> None:
        self.parameter = parameter
        self.template = template
        super().__init__(self.render())

    def render(self, flag_for: Callable[[str], str] | None = None) -> str:
        """The message for a Python caller (``flag_for`` None: parameter names), or for a
        command-line user given ``flag_for``, the function that spells a parameter as its flag."""
        if flag_for is None:
            name, assign, on = f"The '{self.parameter}' parameter", f"{self.parameter}=", f"{self.parameter}=True"
            spelled = str
        else:
            flag = flag_for(self.parameter)
            name, assign, on, spelled = flag, f"{flag} ", flag, flag_for
        text = self.template.replace("{name}", name).replace("{set}", assign).replace("{on}", on)
        return _OTHER_PARAMETER.sub(lambda match: spelled(match.group(1)), text)


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise InvalidParameterError(name, f"{{name}} must be one of {options}. Got {value!r} instead.")
    return value


def check_rate(rate: Any, name: str = "rate") -> float:
    """``rate`` is the fraction REMOVED: 0 <= rate < 1."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise InvalidParameterError(
            name, f"{{name}} must be a number in [0, 1) (the fraction of rows to remove). Got {rate!r} instead.")
    rate = float(rate)
    if not (0.0 <= rate < 1.0) or math.isnan(rate):
        raise InvalidParameterError(
            name, "{name} is the fraction of rows to REMOVE and must be in [0, 1). "
            f"Got {rate:g} instead; to keep 30% of the rows pass {{set}}0.7.")
    return rate


def budget_from_rate(num_rows: int, rate: float) -> int:
    """Rows to keep for a pruning rate: round((1 - rate) * n), at least 1 when n > 0."""
    rate = check_rate(rate)
    if num_rows == 0:
        return 0
    return max(1, min(num_rows, int(round((1.0 - rate) * num_rows))))


def check_budget(budget: Any, num_rows: int) -> int:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise InvalidParameterError(
            "budget", f"{{name}} must be an int (the number of rows to keep). Got {budget!r} instead.")
    budget = int(budget)
    if budget < 0 or budget > num_rows:
        raise InvalidParameterError(
            "budget", f"{{name}} must be in [0, {num_rows}] (the number of rows available). "
            f"Got {budget} instead; lower the budget or pass a pruning rate in [0, 1).")
    return budget


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise InvalidParameterError(
            name, f"{{name}} must be an int in the range [{minimum}, inf). Got {value!r} instead.")
    return int(value)


def check_k(k: Any, num_rows: int) -> int:
    k = check_positive_int("k", k)
    if k >= num_rows:
        raise InvalidParameterError(
            "k", f"{{name}} (neighbours per example) must be smaller than the number of examples ({num_rows}). "
            f"Got {k}; pass {{set}}{max(num_rows - 1, 1)} or less, or select from more rows.")
    return k


def check_finite_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidParameterError(name, f"{{name}} must be a finite number. Got {value!r} instead.")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidParameterError(name, f"{{name}} must be a finite number. Got {value} instead.")
    return value


def check_embeddings(embeddings: Any, name: str = "embeddings") -> np.ndarray:
    """Returns a C-contiguous float32 (n, d) array; rejects ragged, empty, NaN and inf input.
    A C-contiguous float32 array (an ``np.memmap`` of the stage cache included) comes back
    without a copy and is checked in blocks of rows."""
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
    rows = _non_finite_rows(array)
    if rows.size:
        preview = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise ValueError(
            f"The '{name}' contain NaN or inf in {len(rows)} row(s) (rows {preview}); "
            "drop or re-embed those rows before selecting."
        )
    return np.ascontiguousarray(array)


def _non_finite_rows(array: np.ndarray, block_rows: int = 65_536) -> np.ndarray:
    """(m,) int64 rows of a 2-D array holding NaN or inf, checked ``block_rows`` rows at a time (so a
    memory-mapped (n, d) array never needs an (n, d) boolean temporary)."""
    found = [start + np.flatnonzero(~np.isfinite(array[start:start + block_rows]).all(axis=1))
             for start in range(0, array.shape[0], block_rows)]
    return np.concatenate(found).astype(np.int64) if found else np.empty(0, dtype=np.int64)


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
