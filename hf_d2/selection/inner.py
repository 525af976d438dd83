"""Inner validation on the user's own pool, shared by ``method="auto"`` (``selection.auto``) and
the rate finder (``selection.rate_finder``): a seeded stratified sample of the pool, ONE kNN graph
over it, stratified folds, and a ridge classifier that costs milliseconds.

Near duplicates (``selection.duplicates.near_groups``) are dealt into the same fold, so that no
held-back row has its copy among the rows a coreset is chosen from. For each fold a selection
chooses its coreset from the other folds (reading the induced subgraph
of the one graph, never building another), a ridge classifier on the embeddings is trained on
that coreset and scored on the held-back fold. The difficulty scores are the pool's, computed
once: the held-back fold's labels did reach the model that scored the other rows (a documented,
mild leak). Deterministic under the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from hf_d2._validation import budget_from_rate
from hf_d2.selection.duplicates import near_groups, representatives
from hf_d2.selection.partition import allocate_proportional
from hf_d2.selection.selector import SelectionSettings, select

INNER_MAX_ROWS = 20_000  # inner validation on a stratified sample of at most this many rows
RIDGE_ALPHA = 0.1  # ridge penalty, relative to the mean squared feature value per training row
SCORE_COLUMNS = ("scores", "prefilter_scores", "strata_scores")


@dataclass
class InnerPool:
    """The sampled pool: ``embeddings`` (m, d) float32, ``labels`` (m,) int64, ``columns`` (the
    score arrays, each (m,) or None), ``graph`` (a ``KnnGraph`` over the m rows), ``folds`` (m,)
    fold ids, ``seed``."""

    embeddings: np.ndarray
    labels: np.ndarray
    columns: dict[str, np.ndarray | None]
    graph: Any
    folds: np.ndarray
    seed: int

    @classmethod
    def build(cls, arrays: Any, params: Any, seed: int, num_folds: int) -> InnerPool:
        """From the pool's ``SelectionArrays`` (embeddings and labels required) and D2's parameters
        (the graph's k, search backend and symmetry)."""
        from hf_d2.graph import knn_graph  # noqa: PLC0415

        labels = np.asarray(arrays.labels, dtype=np.int64)
        sample = stratified_sample(labels, INNER_MAX_ROWS, seed)
        embeddings = np.asarray(arrays.embeddings[sample], dtype=np.float32)
        columns = {name: None if getattr(arrays, name) is None else np.asarray(getattr(arrays, name))[sample]
                   for name in SCORE_COLUMNS}
        graph = knn_graph(embeddings, k=min(params.k, sample.size - 1), backend=params.knn, symmetric=params.symmetric,
                          seed=seed, check_recall=0)
        # near duplicates share a fold: a copy on both sides of a fold would reward keeping copies
        groups = near_groups(embeddings, graph=graph)
        first = representatives(groups)
        folds = stratified_folds(labels[sample][first], num_folds, seed)[groups]
        return cls(embeddings, labels[sample], columns, graph, folds, seed)

    @property
    def num_rows(self) -> int:
        return int(self.labels.size)

    def fold_accuracies(self, settings: SelectionSettings | None, rate: float, draws: int = 1) -> list[float]:
        """Per fold, the held-back accuracy of the ridge classifier trained on the coreset that
        ``settings`` keeps at ``rate`` from the other folds (averaged over ``draws`` selection
        seeds); ``settings=None`` trains on all the other folds' rows (the full pool)."""
        scores = []
        with threadpool_limits(1, user_api="blas"):  # small products: BLAS threads cost more than they save
            for fold in range(int(self.folds.max()) + 1):
                inner, held = np.flatnonzero(self.folds != fold), np.flatnonzero(self.folds == fold)
                if settings is None:
                    scores.append(self._accuracy(inner, held))
                    continue
                subgraph = self.graph.subgraph(inner)
                budget = budget_from_rate(inner.size, rate)
                total = sum(self._accuracy(inner[self.coreset(settings, budget, inner, subgraph, self.seed + draw)],
                                           held) for draw in range(draws))
                scores.append(total / draws)
        return scores

    def coreset(self, settings: SelectionSettings, budget: int, rows: np.ndarray, graph: Any, seed: int) -> np.ndarray:
        """Positions into ``rows`` that ``settings`` keeps (D2 reads ``graph``, the rows' subgraph)."""
        def cut(values):
            return None if values is None else values[rows]

        columns = self.columns
        uses_graph = settings.method in ("d2", "ccs-d2")
        # a window ranks by the pre-filter's score (a hardness such as negated AUM), which also drops its head
        scores = columns["prefilter_scores"] if settings.method == "hard" and columns["prefilter_scores"] is not None \
            else columns["scores"]
        return select(settings.method, budget, num_rows=rows.size, seed=seed, scores=cut(scores),
                      embeddings=None if uses_graph else self.embeddings[rows], labels=self.labels[rows],
                      partition=settings.partition, budget_allocation=settings.budget_allocation,
                      num_strata=settings.num_strata, prefilter=settings.prefilter,
                      prefilter_scores=cut(columns["prefilter_scores"]), strata_scores=cut(columns["strata_scores"]),
                      params=settings.params, duplicates=settings.duplicates if uses_graph else None,
                      duplicate_threshold=settings.duplicate_threshold, graph=graph if uses_graph else None)

    def _accuracy(self, kept: np.ndarray, held: np.ndarray) -> float:
        return ridge_accuracy(self.embeddings[kept], self.labels[kept], self.embeddings[held], self.labels[held])


def corrected_error(differences: np.ndarray) -> float:
    """The standard error of the mean of K per-fold differences, corrected for the overlap of the
    folds' training rows (Nadeau & Bengio's corrected resampled t-test: the variance is scaled by
    1/K + test/train = 1/K + 1/(K − 1), not 1/K): the spread of the folds alone understates it."""
    differences = np.asarray(differences, dtype=np.float64)
    if differences.size < 2:
        return 0.0
    count = differences.size
    return float(np.sqrt((1.0 / count + 1.0 / (count - 1)) * differences.var(ddof=1)))


def ridge_accuracy(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                   test_labels: np.ndarray) -> float:
    """Accuracy on the test rows of a ridge classifier (one-vs-rest least squares on one-hot
    targets, intercept by centring, penalty ``RIDGE_ALPHA`` · rows · mean squared feature),
    solved in closed form (float32 products, a float64 solve): deterministic, milliseconds at
    d = 384 on one BLAS thread. Features are (m, d) float32."""
    classes = np.unique(train_labels)
    if classes.size < 2:
        return float(np.mean(test_labels == classes[0])) if classes.size else 0.0
    mean = train_features.mean(axis=0, dtype=np.float64)
    centred = train_features - mean.astype(np.float32)
    targets = (train_labels[:, None] == classes[None, :]).astype(np.float32)
    targets -= targets.mean(axis=0)
    gram = (centred.T @ centred).astype(np.float64)
    penalty = RIDGE_ALPHA * np.trace(gram) / train_features.shape[1]
    weights = np.linalg.solve(gram + penalty * np.eye(train_features.shape[1]), (centred.T @ targets).astype(np.float64))
    predicted = classes[np.argmax((test_features - mean.astype(np.float32)) @ weights.astype(np.float32), axis=1)]
    return float(np.mean(predicted == test_labels))


def stratified_folds(labels: np.ndarray, num_folds: int, seed: int) -> np.ndarray:
    """(n,) int fold id per row: each class dealt round-robin over the folds in a seeded order."""
    generator = np.random.default_rng(np.random.SeedSequence([seed, 7219]))
    folds = np.empty(labels.size, dtype=np.int64)
    for value in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == value))
        folds[members] = np.arange(members.size) % num_folds
    return folds


def stratified_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """(min(n, size),) int64 ascending rows: every row when n <= size, else each class in
    proportion (largest remainders), drawn with a seeded generator."""
    if labels.size <= size:
        return np.arange(labels.size, dtype=np.int64)
    generator = np.random.default_rng(np.random.SeedSequence([seed, 4111]))
    members = [np.flatnonzero(labels == value) for value in np.unique(labels)]
    quotas = allocate_proportional(np.array([m.size for m in members]), size)
    return np.sort(np.concatenate([generator.choice(m, int(q), replace=False) for m, q in zip(members, quotas)]))
