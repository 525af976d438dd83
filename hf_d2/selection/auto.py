"""``method="auto"``: choose the selection per rate on the user's own pool, by inner
cross-validation.

The pool is split into ``AUTO_FOLDS`` stratified folds. For each fold, every candidate in
``AUTO_CANDIDATES`` selects a coreset at the requested rate from the other folds; a small MLP
(the difficulty head's trainer, ``hf_d2.difficulty.head.fit_head``, with the settings
``INNER_PROBE``) is trained on that coreset and scored on the held-back fold. When the
difficulty comes from the head, the head is retrained on the other folds only, so the
held-back fold's labels never reach the selection it scores; a fine-tuned difficulty is
computed once on the whole pool (documented leak: its model saw every label). The candidate
with the best mean inner accuracy wins; a candidate within ``TIE_MARGIN`` of the best that
comes earlier in the list wins instead (the list is ordered from the most to the least
preferred), so noise does not flip the choice. Deterministic under the seed.

The inner learner is an MLP on the embeddings on purpose: hf-d2's own evaluation judges
(logistic regression on the embeddings, TF-IDF, a fine-tuned model) are different learners.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from hf_d2._validation import budget_from_rate
from hf_d2.difficulty.head import HeadConfig, fit_head, head_dynamics
from hf_d2.difficulty.scores import difficulty_scores
from hf_d2.selection.d2_params import D2Params
from hf_d2.selection.selector import SelectionSettings, resolve_settings

logger = logging.getLogger("hf_d2")

AUTO_FOLDS = 3
TIE_MARGIN = 0.002  # inner accuracy (fraction): closer than this to the best counts as a tie
INNER_PROBE = HeadConfig(epochs=10, hidden_size=128, learning_rate=3e-3, batch_size=256, weight_decay=1e-4)


@dataclass(frozen=True)
class Candidate:
    """One candidate of ``auto``: a name, a method and its grouping and pre-filter."""

    name: str
    method: str
    prefilter: float
    partition: str = "none"


# Most preferred first (ties go to the earlier one).
AUTO_CANDIDATES = (
    Candidate("d2", "d2", prefilter=0.1),
    Candidate("d2-label", "d2", prefilter=0.2, partition="label"),
    Candidate("ccs", "ccs", prefilter=0.1),
    Candidate("random-prefiltered", "random", prefilter=0.1),
    Candidate("random", "random", prefilter=0.0),
)


def candidate_settings(candidate: Candidate, params: D2Params) -> SelectionSettings:
    return resolve_settings(candidate.method, partition=None if candidate.method == "ccs" else candidate.partition,
                            prefilter=candidate.prefilter, params=params if candidate.method == "d2" else None)


def choose_settings(arrays: Any, *, rate: float, num_labels: int, options: Any, seed: int,
                    candidates: Sequence[Candidate] = AUTO_CANDIDATES,
                    retrain_head: bool = True) -> tuple[SelectionSettings, dict[str, Any]]:
    """(the chosen settings, the record of the choice: candidates with their inner scores).

    arrays: the pool's ``SelectionArrays`` (embeddings and labels required). options: the
    run's ``PruneOptions`` (D2's parameters, the difficulty score and source, the head).
    candidates: most preferred first (default ``AUTO_CANDIDATES``). retrain_head: the scores
    come from the head, so it is retrained on each fold's training rows (False when they were
    given as a column or come from a fine-tuning)."""
    from hf_d2.coreset import SelectionArrays, coreset_positions  # noqa: PLC0415 - coreset imports this module

    if arrays.embeddings is None or arrays.labels is None:
        raise ValueError("method='auto' needs embeddings and class labels (it cross-validates a classifier on the "
                         "pool); pick a method, e.g. method='d2'.")
    started = time.perf_counter()
    labels, embeddings = arrays.labels, arrays.embeddings
    params = options.selection.d2
    folds = stratified_folds(labels, AUTO_FOLDS, seed)
    head = options.difficulty.head if options.difficulty.source == "head" and retrain_head else None
    scores = {candidate.name: [] for candidate in candidates}
    for fold in range(AUTO_FOLDS):
        inner = np.flatnonzero(folds != fold)
        held = np.flatnonzero(folds == fold)
        fold_arrays = _fold_arrays(arrays, inner, head, options, num_labels, seed)
        budget = budget_from_rate(inner.size, rate)
        for candidate in candidates:
            kept = inner[coreset_positions(candidate_settings(candidate, params), budget,
                                           SelectionArrays(**fold_arrays), inner.size, seed)]
            scores[candidate.name].append(_inner_accuracy(embeddings, labels, kept, held, num_labels, seed))
    means = {name: float(np.mean(values)) for name, values in scores.items()}
    best = max(means.values())
    chosen = next(c for c in candidates if means[c.name] >= best - TIE_MARGIN)
    record = {"chosen": chosen.name, "folds": AUTO_FOLDS, "tie_margin": TIE_MARGIN, "inner_learner": "mlp head",
              "seconds": round(time.perf_counter() - started, 2),
              "candidates": [{"name": c.name, "method": c.method, "prefilter": c.prefilter, "partition": c.partition,
                              "score": means[c.name], "fold_scores": scores[c.name]} for c in candidates]}
    logger.info("auto at rate %g chose %s (inner accuracy %s)", rate, chosen.name,
                ", ".join(f"{name} {100 * value:.1f}%" for name, value in means.items()))
    return candidate_settings(chosen, params), record


def stratified_folds(labels: np.ndarray, num_folds: int, seed: int) -> np.ndarray:
    """(n,) int fold id per row: each class dealt round-robin over the folds in a seeded order."""
    generator = np.random.default_rng(np.random.SeedSequence([seed, 7219]))
    folds = np.empty(labels.size, dtype=np.int64)
    for value in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == value))
        folds[members] = np.arange(members.size) % num_folds
    return folds


def _fold_arrays(arrays: Any, inner: np.ndarray, head: HeadConfig | None, options: Any, num_labels: int,
                 seed: int) -> dict[str, Any]:
    """The selection arrays of the inner rows; with a head difficulty, recomputed on them only."""
    values = {"scores": _take(arrays.scores, inner), "embeddings": arrays.embeddings[inner],
              "labels": arrays.labels[inner], "prefilter_scores": _take(arrays.prefilter_scores, inner),
              "strata_scores": _take(arrays.strata_scores, inner)}
    if head is not None and arrays.scores is not None:
        dynamics = head_dynamics(arrays.embeddings[inner], arrays.labels[inner], replace(head, seed=seed), num_labels)
        values["scores"] = difficulty_scores(dynamics, options.difficulty.score)
        values["prefilter_scores"] = difficulty_scores(dynamics, options.selection.prefilter_score)
        if options.selection.strata_score is not None:
            values["strata_scores"] = difficulty_scores(dynamics, options.selection.strata_score)
    return values


def _inner_accuracy(embeddings: np.ndarray, labels: np.ndarray, kept: np.ndarray, held: np.ndarray, num_labels: int,
                    seed: int) -> float:
    if np.unique(labels[kept]).size < 2:
        return float(np.mean(labels[held] == labels[kept][0]))
    predict = fit_head(embeddings[kept], labels[kept], replace(INNER_PROBE, seed=seed), num_labels)
    return float(np.mean(predict(embeddings[held]).argmax(axis=1) == labels[held]))


def _take(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[rows]
