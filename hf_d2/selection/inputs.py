"""The checks of ``hf_d2.selection.select`` on its inputs and on a strategy's output: the arrays
agree on n, a method gets the arrays it reads, a strategy returns what it promised."""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_d2._validation import check_embeddings, check_labels, check_positive_int, check_scores


def check_arrays(scores, embeddings, labels, prefilter_scores, strata_scores, num_rows):
    """Converts the arrays (scores float64, embeddings float32) and checks they agree on n."""
    total_rows = None
    if num_rows is not None:
        total_rows = check_positive_int("num_rows", num_rows, minimum=1)
    if embeddings is not None:
        embeddings = check_embeddings(embeddings)
        total_rows = agree_rows(total_rows, embeddings.shape[0], "embeddings")
    if scores is not None:
        scores = check_scores(scores, total_rows)
        total_rows = scores.shape[0]
    if prefilter_scores is not None:
        prefilter_scores = check_scores(prefilter_scores, total_rows, name="prefilter_scores")
        total_rows = prefilter_scores.shape[0]
    if strata_scores is not None:
        strata_scores = check_scores(strata_scores, total_rows, name="strata_scores")
        total_rows = strata_scores.shape[0]
    if labels is not None:
        if total_rows is None:
            total_rows = len(np.asarray(labels))
        labels = check_labels(labels, total_rows)
    if total_rows is None:
        raise ValueError(
            "select needs the examples to choose from: pass 'scores', 'embeddings', 'labels' or "
            "'num_rows'. Got none of them."
        )
    if total_rows == 0:
        raise ValueError("There are 0 examples: there is nothing to select from.")
    return (scores, embeddings, labels, prefilter_scores, strata_scores), total_rows


def agree_rows(expected: int | None, actual: int, name: str) -> int:
    if expected is not None and expected != actual:
        raise ValueError(
            f"The '{name}' have {actual} rows but 'num_rows' is {expected}; pass one row per example."
        )
    return actual


def check_requirements(
    info, strategy, settings, scores, embeddings, labels, prefilter_scores, strata_scores, graph=None
) -> None:
    if strategy.needs_embeddings and embeddings is None and not (graph is not None and strategy.takes_graph):
        raise ValueError(
            f"The {info.name!r} method needs 'embeddings' ((n, d) array, one vector per example). Got None."
        )
    if strategy.needs_scores and scores is None:
        raise ValueError(
            f"The {info.name!r} method needs 'scores' ((n,) difficulty, higher = harder). Got None."
        )
    if settings["duplicates"] != "none" and embeddings is None and graph is None:
        raise ValueError(f"duplicates={settings['duplicates']!r} compares the rows' embeddings: pass 'embeddings' "
                         "((n, d) array), or duplicates='none'.")
    if settings["partition"] == "cluster" and embeddings is None:
        raise ValueError("partition='cluster' needs 'embeddings' ((n, d) array) to cut k-means partitions. Got None.")
    if settings["partition"] == "label" and labels is None:
        raise ValueError("partition='label' needs 'labels' (one label per example). Got None.")
    if scores is None and prefilter_scores is None and strata_scores is None and settings["partition"] == "strata":
        raise ValueError(
            f"partition='strata' (used by {info.name!r}) needs scores to stratify: pass 'strata_scores', "
            "'prefilter_scores' (e.g. negated AUM, higher = harder) or 'scores'. Got none of them."
        )
    if scores is None and prefilter_scores is None:
        if settings["prefilter"] > 0:
            raise ValueError(
                f"prefilter={settings['prefilter']} drops the hardest rows and needs 'prefilter_scores' "
                "(higher = harder) or 'scores'. Got neither; pass one, or prefilter=0."
            )


def check_strategy_output(name: str, local: Any, budget: int, group_size: int) -> np.ndarray:
    local = np.asarray(local, dtype=np.int64)
    if (
        local.shape != (budget,)
        or (budget and (local.min() < 0 or local.max() >= group_size))
        or np.unique(local).size != budget
    ):
        raise RuntimeError(
            f"Strategy {name!r} broke its contract: it must return {budget} distinct indices in "
            f"[0, {group_size}); got {local.shape[0] if local.ndim else local} values."
        )
    return local
