"""Difficulty scores computed from recorded training dynamics (docs/method.md §6).

Each score is one small function registered with :func:`register_score`: a name, its natural
``direction`` ("higher = harder" or "lower = harder"), an ``orient`` rule that turns the raw
values into *hardness* (higher = harder, as the selection stage expects) and a one-paragraph
docstring. Adding a score touches only this file.

Orientation keeps hardness non-negative where the raw score is bounded, because D2's forward
message passing clamps neighbour scores at a small epsilon: ``confidence`` becomes
``1 - confidence`` and ``correctness`` becomes ``E - correctness``. The AUM scores are negated
(lowest AUM = hardest), as the reference pre-filter does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from hf_d2._validation import check_choice
from hf_d2.difficulty.dynamics import DynamicsArrays

HIGHER_IS_HARDER = "higher = harder"
LOWER_IS_HARDER = "lower = harder"
DEFAULT_SCORE = "variability"  # the paper's NLP score (docs/method.md §6)


@dataclass(frozen=True)
class DifficultyScore:
    """A registered score: ``compute(dynamics, **options) -> (n,) float64`` raw values."""

    name: str
    direction: str
    compute: Callable[..., np.ndarray]
    orient: Callable[[np.ndarray, DynamicsArrays], np.ndarray]
    orientation: str  # the orientation rule in words, recorded in metadata
    min_epochs: int = 1  # recorded epochs (snapshots) the score needs to mean anything

    @property
    def description(self) -> str:
        return " ".join((self.compute.__doc__ or "").split())


SCORES: dict[str, DifficultyScore] = {}


def _identity(raw: np.ndarray, dynamics: DynamicsArrays) -> np.ndarray:
    return raw


def _negate(raw: np.ndarray, dynamics: DynamicsArrays) -> np.ndarray:
    return -raw


def register_score(
    name: str,
    direction: str,
    orient: Callable[[np.ndarray, DynamicsArrays], np.ndarray] | None = None,
    orientation: str | None = None,
    min_epochs: int = 1,
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Decorator registering a score function under ``name``.

    Without ``orient``, "higher = harder" scores are used as is and "lower = harder" ones are
    negated. min_epochs: how many recorded epochs the score needs (variability and forgetting
    compare epochs: 2); a run with fewer is refused before training.
    """
    check_choice("direction", direction, (HIGHER_IS_HARDER, LOWER_IS_HARDER))
    if orient is None:
        orient = _identity if direction == HIGHER_IS_HARDER else _negate
        orientation = orientation or ("raw" if direction == HIGHER_IS_HARDER else "-raw")

    def decorator(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        SCORES[name] = DifficultyScore(name, direction, function, orient, orientation or "custom", min_epochs)
        return function

    return decorator


def list_scores() -> list[str]:
    """Names of the registered scores."""
    return list(SCORES)


def get_score(name: str) -> DifficultyScore:
    check_choice("score", name, tuple(SCORES))
    return SCORES[name]


def _as_arrays(dynamics: Any) -> DynamicsArrays:
    if isinstance(dynamics, DynamicsArrays):
        return dynamics
    table = getattr(dynamics, "dynamics", dynamics)  # a DifficultyResult
    if hasattr(table, "data") and hasattr(table.data, "table"):  # a datasets.Dataset
        table = table.data.table
    if not isinstance(table, pa.Table):
        raise TypeError(
            f"Expected a dynamics pyarrow.Table, datasets.Dataset or DifficultyResult; got "
            f"{type(dynamics).__name__}. Pass the output of hf_d2.compute_difficulty."
        )
    return DynamicsArrays.from_table(table)


def raw_scores(dynamics: Any, name: str, **options: Any) -> np.ndarray:
    """Raw values of score ``name`` in its natural direction: (n,) float64, by ascending row index.

    dynamics: a dynamics table (pyarrow.Table or datasets.Dataset), a :class:`DynamicsArrays` or
    a ``DifficultyResult``. ``options`` go to the score function (e.g. ``never_learned="max"``).
    """
    score = get_score(name)
    return np.asarray(score.compute(_as_arrays(dynamics), **options), dtype=np.float64)


def difficulty_scores(dynamics: Any, name: str = DEFAULT_SCORE, **options: Any) -> np.ndarray:
    """Hardness from score ``name``: (n,) float64, **higher = harder**, by ascending row index.

    The raw score is oriented by its registered rule (see the module docstring).
    """
    arrays = _as_arrays(dynamics)
    score = get_score(name)
    raw = np.asarray(score.compute(arrays, **options), dtype=np.float64)
    return np.asarray(score.orient(raw, arrays), dtype=np.float64)


# ----------------------------------------------------------------------------- the scores


@register_score(
    "confidence",
    LOWER_IS_HARDER,
    orient=lambda raw, d: 1.0 - raw,
    orientation="1 - raw",
)
def confidence(dynamics: DynamicsArrays) -> np.ndarray:
    """Mean over epochs of the gold-label probability p_y (Swayamdipta et al., data maps).
    In [0, 1]; low = hard. Hardness = 1 - confidence."""
    return dynamics.gold_prob.mean(axis=1)


@register_score("variability", HIGHER_IS_HARDER, min_epochs=2)
def variability(dynamics: DynamicsArrays) -> np.ndarray:
    """Population standard deviation (ddof 0) over epochs of the gold-label probability p_y
    (data maps; the D2 paper's NLP score). In [0, 0.5]; high = hard (ambiguous)."""
    return dynamics.gold_prob.std(axis=1)


@register_score(
    "correctness",
    LOWER_IS_HARDER,
    orient=lambda raw, d: d.num_epochs - raw,
    orientation="num_epochs - raw",
)
def correctness(dynamics: DynamicsArrays) -> np.ndarray:
    """Number of epochs in which the recorded prediction argmax_c p_c equals the gold label.
    In {0, ..., E}; low = hard. Hardness = E - correctness."""
    return dynamics.correct.sum(axis=1).astype(np.float64)


@register_score("forgetting", HIGHER_IS_HARDER, min_epochs=2)
def forgetting(dynamics: DynamicsArrays, never_learned: str = "count") -> np.ndarray:
    """Forgetting events (Toneva et al.): transitions correct -> wrong between consecutive
    epochs; high = hard. ``never_learned="count"`` (default) leaves an example that is never
    predicted correctly at its count (0); ``never_learned="max"`` gives it E, more than any
    attainable count (at most floor(E/2)), ranking it hardest as Toneva et al. do."""
    check_choice("never_learned", never_learned, ("count", "max"))
    correct = dynamics.correct
    events = (correct[:, :-1] & ~correct[:, 1:]).sum(axis=1).astype(np.float64)
    if never_learned == "max":
        events[~correct.any(axis=1)] = float(dynamics.num_epochs)
    return events


@register_score("aum", LOWER_IS_HARDER, orientation="-raw")
def aum(dynamics: DynamicsArrays) -> np.ndarray:
    """Area under the margin as the D2 reference computes it: sum over epochs of
    p_y - max_{c != y} p_c on probabilities. In [-E, E]; low = hard (likely mislabelled).
    Hardness = -AUM, the pre-filter's orientation."""
    return (dynamics.gold_prob - dynamics.max_other_prob).sum(axis=1)


def mean_margins(dynamics: DynamicsArrays) -> np.ndarray:
    """(n,) float64 mean over epochs of p_y - max_{c != y} p_c, in [-1, 1]: AUM per epoch. Low =
    the model was confidently and consistently wrong about the label (what the pipeline's margin
    pre-filter drops, ``hf_d2.selection.defaults``)."""
    return (dynamics.gold_prob - dynamics.max_other_prob).mean(axis=1).astype(np.float64)


@register_score("aum_logit", LOWER_IS_HARDER, orientation="-raw")
def aum_logit(dynamics: DynamicsArrays) -> np.ndarray:
    """Area under the margin as Pleiss et al. define it: mean over epochs of the logit margin
    z_y - max_{c != y} z_c. Low = hard. Hardness = -AUM."""
    return dynamics.logit_margin.mean(axis=1)


@register_score("el2n", HIGHER_IS_HARDER)
def el2n(dynamics: DynamicsArrays, early_epochs: int | None = None) -> np.ndarray:
    """Error L2 norm (Paul et al.): ||p - onehot(y)||_2 averaged over the first
    ``early_epochs`` epochs (default: the first half, rounded up). In [0, sqrt(2)]; high = hard."""
    epochs = early_epochs if early_epochs is not None else -(-dynamics.num_epochs // 2)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or not (
        1 <= epochs <= dynamics.num_epochs
    ):
        raise ValueError(
            f"The 'early_epochs' parameter must be an int in [1, {dynamics.num_epochs}] "
            f"(the recorded epochs). Got {early_epochs!r} instead."
        )
    probs = dynamics.probs[:, :epochs, :]
    onehot = np.zeros_like(probs)
    onehot[np.arange(probs.shape[0]), :, dynamics.labels] = 1.0
    return np.linalg.norm(probs - onehot, axis=2).mean(axis=1)


@register_score("entropy", HIGHER_IS_HARDER)
def entropy(dynamics: DynamicsArrays) -> np.ndarray:
    """Predictive entropy -sum_c p_c log p_c (nats, 0 log 0 = 0) in the final epoch (the
    train-mode forward pass before each example's last update). High = hard."""
    probs = dynamics.probs[:, -1, :]
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return -(probs * logs).sum(axis=1)


@register_score("loss", HIGHER_IS_HARDER)
def loss(dynamics: DynamicsArrays) -> np.ndarray:
    """Cross-entropy -log p_y (nats) in the final epoch (the train-mode forward pass before
    each example's last update). High = hard."""
    return dynamics.loss[:, -1].copy()


def scores_table(dynamics: Any) -> pa.Table:
    """row_index plus, for every registered score with default options, ``<name>`` (raw, its
    natural direction) and ``<name>_hardness`` (oriented, higher = harder)."""
    arrays = _as_arrays(dynamics)
    columns: dict[str, np.ndarray] = {"row_index": arrays.row_index}
    for name, score in SCORES.items():
        raw = np.asarray(score.compute(arrays), dtype=np.float64)
        columns[name] = raw
        columns[f"{name}_hardness"] = np.asarray(score.orient(raw, arrays), dtype=np.float64)
    return pa.table(columns)


def score_directions() -> dict[str, dict[str, str]]:
    """{name: {"direction": ..., "hardness": orientation rule, "definition": docstring}}."""
    return {
        name: {"direction": s.direction, "hardness": s.orientation, "definition": s.description}
        for name, s in SCORES.items()
    }
