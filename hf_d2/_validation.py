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


_NUMBER_TYPES = (int, float, np.integer, np.floating)


def check_value(name: str, value: Any, kind: type, *, choices: Sequence[Any] | None = None, low: float | None = None,
                high: float | None = None, low_open: bool = False, high_open: bool = False, nullable: bool = False,
                meaning: str | None = None, many: bool = False, validate: Callable[[Any], Any] | None = None) -> Any:
    """The one set of rules for a parameter's value: ``value`` converted to ``kind`` (int, float, str
    or bool; an int for a float parameter, a whole float for an int one), or an
    ``InvalidParameterError`` naming ``name``, the value and what is allowed. Declared parameters
    (``hf_d2.params.Param.check``) and the arguments checked in place (``check_positive_int``,
    ``check_choice``) both go through it.

    choices: the allowed values (str parameters). low / high: inclusive bounds unless ``low_open`` /
    ``high_open``. nullable: None is a valid value. meaning: what the value is ("{name} is <meaning>
    and must be ..."). many: a non-empty list of such values, returned without duplicates in the
    given order. validate: an extra check after these, ``value -> value``, whose error template is
    reported under ``name``.
    """
    rule = _Rule(name, kind, tuple(choices) if choices is not None else None, low, high, low_open, high_open, nullable,
                 meaning, validate)
    if many and value is not None:
        values = [value] if isinstance(value, (str, int, float)) else list(value)
        if not values:
            raise rule.error(f"{{name}} needs at least one value ({rule.allowed()}). Got none.")
        return list(dict.fromkeys(rule.check(item) for item in values))
    return rule.check(value)


class _Rule:
    """``check_value``'s arguments, applied to one value."""

    def __init__(self, name, kind, choices, low, high, low_open, high_open, nullable, meaning, validate) -> None:
        self.name, self.kind, self.choices, self.nullable, self.meaning = name, kind, choices, nullable, meaning
        self.low, self.high, self.low_open, self.high_open, self.validate = low, high, low_open, high_open, validate

    def error(self, template: str) -> InvalidParameterError:
        if self.meaning and template.startswith("{name} must"):
            template = "{name} is " + self.meaning + " and must" + template[len("{name} must"):]
        return InvalidParameterError(self.name, template)

    def check(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise self.error(f"{{name}} needs a value ({self.allowed()}). Got None instead.")
        if self.kind is bool:
            if isinstance(value, (bool, np.bool_)):
                return self.validated(bool(value))
            raise self.error(f"{{name}} must be True or False. Got {value!r} instead.")
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
                raise self.error(f"{{name}} must be {self.allowed()}. Got {value!r} instead.")
            if self.kind is int and not float(value).is_integer():
                raise self.error(f"{{name}} must be {self.allowed()}. Got {value!r} instead.")
            value = self.kind(value)
            if not math.isfinite(value):
                raise self.error(f"{{name}} must be a finite number ({self.allowed()}). Got {value} instead.")
            if not self.in_bounds(value):
                raise self.error(f"{{name}} must be {self.allowed()}. Got {value} instead.")
            return self.validated(value)
        if not isinstance(value, str):
            raise self.error(f"{{name}} must be {self.allowed()}. Got {value!r} instead.")
        if self.choices is not None and value not in self.choices:
            raise self.error(f"{{name}} must be one of {', '.join(map(repr, self.choices))}. Got {value!r} instead.")
        return self.validated(value)

    def validated(self, value: Any) -> Any:
        if self.validate is None:
            return value
        try:
            return self.validate(value)
        except InvalidParameterError as error:  # the validator's words, this parameter's name
            raise self.error(error.template) from None

    def in_bounds(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def allowed(self) -> str:
        if self.kind is bool:
            return "True or False"
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        if self.kind is str:
            return "a string"
        noun = "an int" if self.kind is int else "a number"
        if self.low is None and self.high is None:
            return noun + (" (or None)" if self.nullable else "")
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{noun} in {'the range ' if self.kind is int else ''}{left}{low}, {high}{right}"


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed`` (``check_value``'s rule)."""
    return check_value(name, value, str, choices=allowed)


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
    """``value`` as an int >= ``minimum`` (``check_value``'s rule)."""
    return check_value(name, value, int, low=minimum)


def check_k(k: Any, num_rows: int) -> int:
    k = check_positive_int("k", k)
    if k >= num_rows:
        raise InvalidParameterError(
            "k", f"{{name}} (neighbours per example) must be smaller than the number of examples ({num_rows}). "
            f"Got {k}; pass {{set}}{max(num_rows - 1, 1)} or less, or select from more rows.")
    return k


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
