"""hf-d2: D2 Pruning for Hugging Face datasets.

Importing ``hf_d2`` registers ``Dataset.d2_prune`` and ``DatasetDict.d2_prune``.
"""

from hf_d2.graph import KnnGraph, knn_graph
from hf_d2.message_passing import forward_pass, reverse_pass
from hf_d2.selection.d2 import D2Ranking, d2_rank, d2_select

__version__ = "0.1.0"

__all__ = [
    "KnnGraph",
    "knn_graph",
    "forward_pass",
    "reverse_pass",
    "d2_select",
    "d2_rank",
    "D2Ranking",
    "__version__",
]
