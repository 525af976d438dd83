"""How much can I prune? The largest pruning rate whose accuracy stays within ``max_drop``
accuracy points of the full pool's.

Two users of one rule (``largest_safe_rate``):

- ``hf-d2 evaluate`` applies it to the judges' measured table (paired per seed against the
  ``full`` row);
- ``hf-d2 prune --rate auto --max-drop 0.5`` (``rate="auto"`` in Python) applies it to an inner
  curve measured on the pool itself (``rate_curve``): at every rate of ``RATE_GRID`` the run's
  own selection keeps a coreset from four fifths of the pool, a ridge classifier on the
  embeddings trained on it is scored on the held-back fifth, against the same classifier trained
  on all four fifths (``selection.inner``: one graph, five folds, seconds). It is a probe's view:
  a linear learner on frozen embeddings saturates with fewer rows than a fine-tuned model, so
  the rate it finds is an upper bound to confirm with ``hf-d2 evaluate``.

The rule: the largest rate r of the curve such that r and every smaller rate lose at most
``max_drop`` points on average (a noisy dip at a small rate stops the search, a lucky point
above a failing one never counts). None when the smallest rate already loses more.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from hf_d2.params import Param, param_group
from hf_d2.selection.inner import InnerPool, corrected_error

AUTO_RATE = "auto"  # rate="auto": the rate is found by the curve below
RATE_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CURVE_FOLDS = 5
RATE_PARAMS = param_group(
    "rate",
    Param("max_drop", float, 0.5, "the most accuracy, in points, a coreset may lose against the full pool: --rate auto "
          "prunes at the largest of 0.1, 0.2, ..., 0.9 within it (and every smaller rate), measured by inner "
          "cross-validation of a ridge classifier on the embeddings; hf-d2 evaluate reports each method's largest "
          "measured rate within it", low=0, low_open=True),
)
DEFAULT_MAX_DROP = RATE_PARAMS["max_drop"].default  # accuracy points


def largest_safe_rate(rates: Sequence[float], drops: Sequence[float], max_drop: float = DEFAULT_MAX_DROP) -> float | None:
    """The largest of ``rates`` (any order) such that it and every smaller rate have a drop of at
    most ``max_drop``; ``drops`` in accuracy points, positive = the coreset is worse than the full
    pool. None when the smallest rate already drops more (or no rate is given)."""
    found = None
    for rate, drop in sorted(zip(rates, drops)):
        if not drop <= max_drop:
            break
        found = float(rate)
    return found


def rate_curve(arrays: Any, settings_at: Callable[[float], Any], params: Any, seed: int,
               rates: Sequence[float] = RATE_GRID) -> dict[str, Any]:
    """The inner curve (see the module docstring): {"full_accuracy", "folds", "rows",
    "inner_learner", "points": [{"rate", "accuracy", "drop", "drop_error", "fold_drops"}]},
    accuracies in [0, 1], drops and their corrected standard errors in points.

    arrays: the pool's ``SelectionArrays`` (embeddings and labels required). settings_at(rate):
    the selection settings the run would use at that rate. params: D2's parameters (the graph)."""
    if arrays.embeddings is None or arrays.labels is None:
        raise ValueError("rate='auto' measures a classifier on the pool: it needs embeddings and class labels; pass a "
                         "rate, e.g. rate=0.5.")
    pool = InnerPool.build(arrays, params, seed, CURVE_FOLDS)
    full = np.asarray(pool.fold_accuracies(None, 0.0))
    points = []
    for rate in sorted(rates):
        accuracy = np.asarray(pool.fold_accuracies(settings_at(rate), rate))
        drops = 100.0 * (full - accuracy)
        points.append({"rate": float(rate), "accuracy": float(accuracy.mean()), "drop": float(drops.mean()),
                       "drop_error": corrected_error(drops), "fold_drops": drops.round(4).tolist()})
    return {"full_accuracy": float(full.mean()), "folds": CURVE_FOLDS, "rows": pool.num_rows,
            "inner_learner": "ridge", "points": points}


def choose_rate(curve: dict[str, Any], max_drop: float = DEFAULT_MAX_DROP) -> float:
    """The rate ``largest_safe_rate`` picks on an inner curve; a ValueError that says what to do
    when even the smallest rate loses more than ``max_drop``."""
    points = curve["points"]
    chosen = largest_safe_rate([p["rate"] for p in points], [p["drop"] for p in points], max_drop)
    if chosen is None:
        first = points[0]
        raise ValueError(
            f"No pruning rate keeps the inner classifier within {max_drop:g} accuracy points of the full pool: at rate "
            f"{first['rate']:g} it already loses {first['drop']:.2f} points. Pass a rate (e.g. --rate "
            f"{first['rate']:g}), or a larger --max-drop.")
    return chosen
