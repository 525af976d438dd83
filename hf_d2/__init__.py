"""hf-d2: D2 Pruning for Hugging Face datasets.

Importing ``hf_d2`` registers ``Dataset.d2_prune``, ``DatasetDict.d2_prune`` and
``IterableDataset.d2_prune`` (``register_dataset_methods``: the plugin wiring lives here, above
``hf_d2.prune`` and ``hf_d2.streaming``).

    import hf_d2
    order = hf_d2.d2_select(embeddings, scores, budget=500)          # arrays in, pick order out
    pruned = ds.d2_prune(rate=0.5)                                    # the full pipeline
    pruned = ds.d2_prune(rate=0.5, score_column="difficulty", embedding_column="emb")
    hf_d2.selection_record(pruned)                                    # how it was selected
"""

from hf_d2._validation import InvalidParameterError
from hf_d2.env import release_process_group_at_exit
from hf_d2.graph import KnnGraph, knn_graph
from hf_d2.message_passing import forward_pass, reverse_pass
from hf_d2.prune import (
    PruneResult,
    prune,
    prune_dataset,
    prune_dataset_dict,
    prune_with_scores,
)
from hf_d2.record import SelectionRecord, selection_record
from hf_d2.selection import available_methods, select
from hf_d2.selection.d2 import D2Ranking, d2_rank, d2_select
from hf_d2.streaming import prune_iterable
from hf_d2.version import __version__


def register_dataset_methods() -> None:
    """Adds ``d2_prune`` to ``Dataset``, ``DatasetDict`` and ``IterableDataset`` (idempotent)."""
    import datasets  # noqa: PLC0415

    def dataset_d2_prune(self, rate: float, **options):
        return prune_dataset(self, rate, **options)

    def dataset_dict_d2_prune(self, rate: float, **options):
        return prune_dataset_dict(self, rate, **options)

    def iterable_d2_prune(self, rate: float, **options):
        return prune_iterable(self, rate, **options)

    dataset_d2_prune.__doc__ = prune_with_scores.__doc__
    dataset_dict_d2_prune.__doc__ = prune_dataset_dict.__doc__
    iterable_d2_prune.__doc__ = prune_iterable.__doc__
    datasets.Dataset.d2_prune = dataset_d2_prune
    datasets.DatasetDict.d2_prune = dataset_dict_d2_prune
    datasets.IterableDataset.d2_prune = iterable_d2_prune


register_dataset_methods()
release_process_group_at_exit()


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
