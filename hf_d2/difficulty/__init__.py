"""Difficulty stage: fine-tune a classifier under Accelerate, record its training dynamics per
example and epoch, and turn them into difficulty scores (docs/method.md §6).

    result = compute_difficulty(ds, "text", "label", model="bundled-minilm", epochs=3)
    hardness = result.scores("variability")      # (n,) float64, higher = harder

``DynamicsCallback`` records the same dynamics inside a user's own ``transformers.Trainer`` run.
It and the training entry points (``compute_difficulty``, ``difficulty_cache_status``) are
imported on first use, so ``import hf_d2.difficulty`` (and a module of it, such as ``head``)
imports neither torch nor transformers: a selection pool worker or ``hf-d2 --help`` starts in
about a second.
"""

from hf_d2.cache import default_cache_dir
from hf_d2.difficulty.dynamics import DynamicsArrays, dynamics_schema
from hf_d2.difficulty.result import DifficultyResult, load_result
from hf_d2.difficulty.scores import (
    DEFAULT_SCORE,
    HIGHER_IS_HARDER,
    LOWER_IS_HARDER,
    SCORES,
    difficulty_scores,
    list_scores,
    raw_scores,
    register_score,
    scores_table,
)
from hf_d2.difficulty.training import TrainingConfig
from hf_d2.models import BUNDLED_MINILM, bundled_minilm_path

__all__ = [
    "BUNDLED_MINILM",
    "DEFAULT_SCORE",
    "HIGHER_IS_HARDER",
    "LOWER_IS_HARDER",
    "SCORES",
    "DifficultyResult",
    "DynamicsArrays",
    "DynamicsCallback",
    "TrainingConfig",
    "bundled_minilm_path",
    "compute_difficulty",
    "default_cache_dir",
    "difficulty_cache_status",
    "difficulty_scores",
    "dynamics_schema",
    "list_scores",
    "load_result",
    "raw_scores",
    "register_score",
    "scores_table",
]


def __getattr__(name: str):
    # the training code imports torch (and DynamicsCallback, transformers): only when asked for
    if name == "DynamicsCallback":
        from hf_d2.difficulty.callback import DynamicsCallback  # noqa: PLC0415

        return DynamicsCallback
    if name in ("compute_difficulty", "difficulty_cache_status"):
        from hf_d2.difficulty import api  # noqa: PLC0415

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
