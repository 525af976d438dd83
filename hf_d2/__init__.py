"""hf-d2: D2 Pruning for Hugging Face datasets.

Importing ``hf_d2`` registers ``Dataset.d2_prune`` and ``DatasetDict.d2_prune``.

    import hf_d2
    order = hf_d2.d2_select(embeddings, scores, budget=500)          # arrays in, pick order out
    pruned = ds.d2_prune(rate=0.5)                                    # the full pipeline
    pruned = ds.d2_prune(rate=0.5, score_column="difficulty", embedding_column="emb")
    hf_d2.selection_record(pruned)                                    # how it was selected
"""

from hf_d2._validation import InvalidParameterError
from hf_d2.graph import KnnGraph, knn_graph
from hf_d2.message_passing import forward_pass, reverse_pass
from hf_d2.prune import (
    PruneResult,
    prune,
    prune_dataset,
    prune_dataset_dict,
    prune_with_scores,
    register_dataset_methods,
)
from hf_d2.record import SelectionRecord, selection_record
from hf_d2.selection import available_methods, select
from hf_d2.selection.d2 import D2Ranking, d2_rank, d2_select
from hf_d2.version import __version__

register_dataset_methods()


def __getattr__(name: str):
    """``hf_d2.DynamicsCallback`` imports transformers' Trainer machinery only when asked for."""
    if name == "DynamicsCallback":
        from hf_d2.difficulty.callback import DynamicsCallback  # noqa: PLC0415 - transformers is heavy

        return DynamicsCallback
    raise AttributeError(f"module 'hf_d2' has no attribute {name!r}")


__all__ = [
    "__version__",
    "D2Ranking",
    "DynamicsCallback",
    "InvalidParameterError",
    "KnnGraph",
    "PruneResult",
    "SelectionRecord",
    "available_methods",
    "d2_rank",
    "d2_select",
    "forward_pass",
    "knn_graph",
    "prune",
    "prune_dataset",
    "prune_dataset_dict",
    "prune_with_scores",
    "reverse_pass",
    "select",
    "selection_record",
]
