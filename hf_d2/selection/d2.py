"""D2 selection on arrays: kNN graph → forward pass → reverse greedy (docs/method.md §2-4).

Parameters and their defaults are declared once in ``hf_d2.selection.d2_params``; the keyword
arguments below are checked there (``D2Params``), with the caller's names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hf_d2._validation import check_budget, check_embeddings, check_k, check_scores
from hf_d2.graph import KnnGraph, knn_graph
from hf_d2.message_passing import forward_pass, reverse_pass
from hf_d2.selection.d2_params import D2Params

_DEFAULT = D2Params()


@dataclass(frozen=True)
class D2Ranking:
    """A D2 run over n examples.

    order: (budget,) int64 example ids in pick order. forward_scores: (n,) float64 after the
    forward pass. final_scores: (n,) float64 after the reverse pass (a pick's score when picked).
    graph: the kNN graph used.
    """

    order: np.ndarray
    forward_scores: np.ndarray
    final_scores: np.ndarray
    graph: KnnGraph


def d2_rank(
    embeddings: Any,
    scores: Any,
    budget: int | None = None,
    *,
    k: int = _DEFAULT.k,
    gamma_forward: float = _DEFAULT.gamma_forward,
    gamma_reverse: float = _DEFAULT.gamma_reverse,
    forward: str = _DEFAULT.forward,
    reverse: str = _DEFAULT.reverse,
    symmetric: bool = _DEFAULT.symmetric,
    knn: str = _DEFAULT.knn,
    clip_negative: bool = _DEFAULT.clip_negative,
    check_recall: bool = _DEFAULT.check_recall,
    graph: KnnGraph | None = None,
    seed: int = 0,
) -> D2Ranking:
    """``d2_select`` with the intermediate scores and graph; ``budget=None`` ranks all n.
    seed: seeds an approximate kNN index (IVF k-means, PQ codebooks) and the recall sample."""
    params = D2Params(k=k, gamma_forward=gamma_forward, gamma_reverse=gamma_reverse, forward=forward,
                      reverse=reverse, symmetric=symmetric, knn=knn, clip_negative=clip_negative,
                      check_recall=check_recall)
    return rank_with_params(embeddings, scores, budget, params, graph=graph, seed=seed)


def rank_with_params(embeddings: Any, scores: Any, budget: int | None, params: D2Params, *,
                     graph: KnnGraph | None = None, seed: int = 0) -> D2Ranking:
    """``d2_rank`` with its parameters as a checked ``D2Params`` (how the pipeline calls it). The
    graph is built by ``knn_graph`` with ``backend=params.knn`` (its ``backend``, ``info`` and
    ``recall`` say what ran; ``hf_d2.graph.graph_summary`` is the record's view of it) unless
    ``graph`` is given."""
    k, knn, symmetric = params.k, params.knn, params.symmetric
    if graph is None:
        if embeddings is None:
            raise ValueError("d2 needs either 'embeddings' (n, d) or a prebuilt 'graph'; got neither.")
        embeddings = check_embeddings(embeddings)
        num_rows = embeddings.shape[0]
        scores = check_scores(scores, num_rows)
        check_k(k, num_rows)
        graph = knn_graph(embeddings, k=k, backend=knn, symmetric=symmetric, seed=seed,
                          check_recall=None if params.check_recall else 0)
    else:
        if not isinstance(graph, KnnGraph):
            raise ValueError(f"'graph' must be an hf_d2.KnnGraph; got {type(graph).__name__}.")
        if embeddings is not None and np.shape(embeddings)[0] != graph.num_nodes:
            raise ValueError(
                f"The graph has {graph.num_nodes} nodes but 'embeddings' has {np.shape(embeddings)[0]} rows; "
                "pass the embeddings the graph was built from, or embeddings=None."
            )
        scores = check_scores(scores, graph.num_nodes)
    budget = graph.num_nodes if budget is None else check_budget(budget, graph.num_nodes)
    forward_scores = forward_pass(graph, scores, gamma=params.gamma_forward, mode=params.forward)
    result = reverse_pass(graph, forward_scores, budget, gamma=params.gamma_reverse, mode=params.reverse,
                          clip_negative=params.clip_negative)
    return D2Ranking(order=result.order, forward_scores=forward_scores,
                     final_scores=result.final_scores, graph=graph)


def d2_select(
    embeddings: Any,
    scores: Any,
    budget: int,
    *,
    k: int = _DEFAULT.k,
    gamma_forward: float = _DEFAULT.gamma_forward,
    gamma_reverse: float = _DEFAULT.gamma_reverse,
    forward: str = _DEFAULT.forward,
    reverse: str = _DEFAULT.reverse,
    symmetric: bool = _DEFAULT.symmetric,
    knn: str = _DEFAULT.knn,
    clip_negative: bool = _DEFAULT.clip_negative,
    check_recall: bool = _DEFAULT.check_recall,
    graph: KnnGraph | None = None,
) -> np.ndarray:
    """Selects ``budget`` examples by D2 message passing; returns int64 ids in PICK ORDER.

    embeddings: (n, d) float (may be None when ``graph`` is given), used as they are; a float32
        ``np.memmap`` is read in place.
    scores: (n,) float, difficulty, higher = harder.
    budget: examples to keep, 0 <= budget <= n. k: neighbours per node (1 <= k < n).
    gamma_forward / gamma_reverse: kernel widths (per unit of Euclidean distance) of the forward
    messages and of the reverse suppression. forward: "sum" | "product". reverse: "weighted" |
    "absolute". symmetric: union-symmetrised graph (reference) or directed.
    knn: the kNN search (``hf_d2.knn_graph``'s backend): "exact" (faiss flat L2; what parity
    needs), "hnsw", "ivf", "ivfpq" (IVF with product-quantised codes, for data too large for
    float32 in memory), "auto" (exact, ivf or ivfpq by n, d and free memory, and logs why; never hnsw),
    or "factory:<faiss index_factory string>" (e.g. "factory:IVF4096,PQ32"); every backend's
    candidates are re-ranked by exact distance. clip_negative: floor a pick's score at 0 before it
    suppresses its neighbours (the reference does not). check_recall: measure an approximate
    search's recall@k on a sample of rows (``graph.recall`` of ``d2_rank``).
    graph: a prebuilt ``KnnGraph`` (then k, symmetric and knn are not used).
    With the defaults this picks exactly the reference algorithm's set, in greedy order.
    """
    return d2_rank(embeddings, scores, budget, k=k, gamma_forward=gamma_forward,
                   gamma_reverse=gamma_reverse, forward=forward, reverse=reverse, symmetric=symmetric,
                   knn=knn, clip_negative=clip_negative, check_recall=check_recall, graph=graph).order
