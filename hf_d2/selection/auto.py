"""``method="auto"``: choose the selection per rate on the user's own pool, by inner
cross-validation, in seconds.

1. The inner pool (``selection.inner.InnerPool``): the pool, or a stratified, seeded sample of
   ``INNER_MAX_ROWS`` rows of it, with ONE kNN graph (D2's k and search backend) that every
   candidate and fold below reads induced subgraphs of, dealt into ``AUTO_FOLDS`` folds.
2. For each fold, every candidate of ``AUTO_CANDIDATES`` selects a coreset at the requested rate
   from the other folds (with the pool's difficulty scores, computed once), and a closed-form
   ridge classifier on the embeddings trained on that coreset is scored on the held-back fold.
   ``random`` is drawn ``RANDOM_DRAWS`` times per fold and averaged.
3. The guard: a candidate is eligible only if its mean paired gain over random across the folds
   exceeds the inner noise, ``NOISE_SIGMAS`` standard errors of that gain, and at least
   ``TIE_MARGIN``. The error is Nadeau & Bengio's corrected one (the folds' training rows overlap,
   so their spread alone understates it), the candidate's own or the median of all candidates'
   when larger (five folds estimate one candidate's error poorly). Two standard errors, not one, because a dozen candidates
   are tested at once: on data where nothing can beat random, one of them would pass a
   one-error bar most of the time. Among the eligible, the best mean wins, and one within ``TIE_MARGIN`` of it
   that comes earlier in the list wins instead (most preferred first). When none is eligible,
   ``random`` runs: the safe choice when nothing measurably beats it.

Every candidate's mean inner accuracy, its fold scores and its gain over random go into the
record. Deterministic under the seed. The inner learner is a ridge classifier on the embeddings on
purpose: it costs milliseconds, and hf-d2's evaluation judges (logistic regression on the
embeddings, TF-IDF words, a fine-tuned model) are other learners.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hf_d2.selection.d2_params import D2Params
from hf_d2.selection.inner import InnerPool, corrected_error
from hf_d2.selection.selector import SelectionSettings, resolve_settings
from hf_d2.selection.strategies import PRESETS

logger = logging.getLogger("hf_d2")

AUTO_FOLDS = 5
RANDOM_DRAWS = 3  # random coresets per fold, averaged: the baseline every candidate must beat
NOISE_SIGMAS = 2.0  # a candidate must beat random by this many standard errors of its paired gain
TIE_MARGIN = 0.002  # inner accuracy (fraction): closer than this to the best counts as a tie


@dataclass(frozen=True)
class Candidate:
    """One candidate of ``auto``: a name, a method, its pre-filter and grouping. window: for
    ``method="hard"``, where the kept block of the difficulty ranking starts, as a fraction of the
    slack (0 = the hardest rows, 1 = the easiest; BWS-style windows): its pre-filter is
    window · rate, and the hard strategy keeps the next ``budget`` rows."""

    name: str
    method: str
    prefilter: float = 0.0
    partition: str = "none"
    window: float | None = None


def _d2(beta: float, partition: str = "none") -> Candidate:
    suffix = "" if partition == "none" else f"-{partition}"
    return Candidate(f"d2{suffix}-b{beta:g}", "d2", prefilter=beta, partition=partition)


# Most preferred first (ties go to the earlier one); random last, the fallback.
AUTO_CANDIDATES = (
    *(_d2(beta, partition) for partition in ("label", "strata", "none") for beta in (0.1, 0.0, 0.2)),
    Candidate("ccs", "ccs", prefilter=PRESETS["ccs"].prefilter),
    *(Candidate(f"window-{start:g}", "hard", window=start) for start in (0.25, 0.5, 0.75)),
    Candidate("random", "random"),
)
FALLBACK = "random"


def candidate_settings(candidate: Candidate, params: D2Params, rate: float,
                       duplicates: str | None = None, duplicate_threshold: float | None = None) -> SelectionSettings:
    """The selection settings of ``candidate`` at ``rate`` (D2's parameters and the duplicate
    handling of the run apply to every D2 candidate)."""
    is_d2 = candidate.method == "d2"
    prefilter = candidate.window * rate if candidate.window is not None else candidate.prefilter
    return resolve_settings(candidate.method, partition=None if candidate.method == "ccs" else candidate.partition,
                            budget_allocation="uniform" if candidate.partition == "strata" else None,
                            prefilter=prefilter, params=params if is_d2 else None,
                            duplicates=duplicates if is_d2 else None, duplicate_threshold=duplicate_threshold)


def choose_settings(arrays: Any, *, rate: float, params: D2Params, seed: int,
                    candidates: Sequence[Candidate] = AUTO_CANDIDATES, duplicates: str | None = None,
                    duplicate_threshold: float | None = None) -> tuple[SelectionSettings, dict[str, Any]]:
    """(the chosen settings, the record of the choice: every candidate with its inner scores).

    arrays: the pool's ``SelectionArrays`` (embeddings and labels required; scores, prefilter and
    strata scores as the run has them). params: D2's parameters. candidates: most preferred
    first; the one named ``FALLBACK`` ("random") is added when missing."""
    if arrays.embeddings is None or arrays.labels is None:
        raise ValueError("method='auto' needs embeddings and class labels (it cross-validates a classifier on the "
                         "pool); pick a method, e.g. method='d2'.")
    started = time.perf_counter()
    candidates = list(candidates)
    if not any(c.name == FALLBACK for c in candidates):
        candidates.append(Candidate(FALLBACK, "random"))
    pool = InnerPool.build(arrays, params, seed, AUTO_FOLDS)
    settings = {c.name: candidate_settings(c, params, rate, duplicates, duplicate_threshold) for c in candidates}
    fold_scores = {c.name: pool.fold_accuracies(settings[c.name], rate, RANDOM_DRAWS if c.method == "random" else 1)
                   for c in candidates}
    chosen, summary = _choose(candidates, fold_scores)
    record = {"chosen": chosen.name, "folds": AUTO_FOLDS, "rows": pool.num_rows, "tie_margin": TIE_MARGIN,
              "noise_sigmas": NOISE_SIGMAS, "inner_learner": "ridge", "fallback": FALLBACK,
              "seconds": round(time.perf_counter() - started, 2),
              "candidates": [{"name": c.name, "method": c.method, "prefilter": settings[c.name].prefilter,
                              "partition": settings[c.name].partition, **summary[c.name],
                              "fold_scores": fold_scores[c.name]} for c in candidates]}
    logger.info("auto at rate %g chose %s (inner accuracy %s)", rate, chosen.name,
                ", ".join(f"{name} {100 * values['score']:.1f}%" for name, values in summary.items()))
    return settings[chosen.name], record


def _choose(candidates: Sequence[Candidate], fold_scores: dict[str, list[float]]) -> tuple[Candidate, dict]:
    """The guarded choice (see the module docstring) and each candidate's summary: score (mean
    inner accuracy), gain (mean paired gain over random), noise (its standard error), eligible."""
    baseline = np.asarray(fold_scores[FALLBACK])
    gains = {c.name: np.asarray(fold_scores[c.name]) - baseline for c in candidates}
    errors = {name: corrected_error(values) for name, values in gains.items()}
    pooled = float(np.median([error for name, error in errors.items() if name != FALLBACK] or [0.0]))
    summary = {}
    for candidate in candidates:
        noise = max(errors[candidate.name], pooled) if candidate.name != FALLBACK else 0.0
        gain = float(gains[candidate.name].mean())
        eligible = candidate.name != FALLBACK and gain > max(TIE_MARGIN, NOISE_SIGMAS * noise)
        summary[candidate.name] = {"score": float(np.mean(fold_scores[candidate.name])), "gain": gain, "noise": noise,
                                   "eligible": bool(eligible)}
    eligible = [c for c in candidates if summary[c.name]["eligible"]]
    if not eligible:
        return next(c for c in candidates if c.name == FALLBACK), summary
    best = max(summary[c.name]["score"] for c in eligible)
    return next(c for c in eligible if summary[c.name]["score"] >= best - TIE_MARGIN), summary
