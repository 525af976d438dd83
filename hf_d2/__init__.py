"""hf-d2: D2 Pruning for Hugging Face datasets.

Importing ``hf_d2`` registers ``Dataset.d2_prune`` and ``DatasetDict.d2_prune``.

    import hf_d2
    order = hf_d2.d2_select(embeddings, scores, budget=500)          # arrays in, pick order out
    pruned = ds.d2_prune(rate=0.5, score_column="difficulty", embedding_column="emb")
"""

__version__ = "0.1.0"

from hf_d2.graph import KnnGraph, knn_graph  # noqa: E402
from hf_d2.message_passing import forward_pass, reverse_pass  # noqa: E402
from hf_d2.prune import (  # noqa: E402
    PruneResult,
    prune,
    prune_dataset,
    prune_dataset_dict,
    prune_with_scores,
    register_dataset_methods,
    selection_record,
)
from hf_d2.selection import available_methods, select  # noqa: E402
from hf_d2.selection.d2 import D2Ranking, d2_rank, d2_select  # noqa: E402

register_dataset_methods()

__all__ = [
    "__version__",
    "KnnGraph",
    "knn_graph",
    "forward_pass",
    "reverse_pass",
    "d2_select",
    "d2_rank",
    "D2Ranking",
    "select",
    "available_methods",
    "prune",
    "prune_dataset",
    "prune_dataset_dict",
    "prune_with_scores",
    "PruneResult",
    "selection_record",
]
