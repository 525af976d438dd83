"""Selection strategies on plain arrays, and ``select`` to run them with a pre-filter,
partitions and budgets (docs/method.md §5, §7).

    from hf_d2.selection import select, available_methods
    order = select("ccs-d2", 500, scores=variability, embeddings=emb, prefilter_scores=-aum)

``order`` is (500,) int64 row ids in priority order. Strategies live in ``strategies.py``
(registry ``STRATEGIES`` and presets ``PRESETS``), their array code in ``baselines.py`` (and
``d2.py``), pre-filter / partitions / budgets in ``partition.py``.
"""

from hf_d2.selection.baselines import (
    easiest_order,
    hardest_order,
    kcenter_order,
    median_embedding_distances,
    moderate_order,
    random_order,
)
from hf_d2.selection.partition import (
    allocate_proportional,
    allocate_smallest_first,
    merge_by_relative_rank,
    stratum_ids,
)
from hf_d2.selection.selector import (
    BUDGET_ALLOCATIONS,
    PARTITIONS,
    SelectionSettings,
    resolve_method_settings,
    resolve_settings,
    select,
)
from hf_d2.selection.strategies import (
    PRESETS,
    STRATEGIES,
    Preset,
    Strategy,
    available_methods,
)

__all__ = [
    "BUDGET_ALLOCATIONS",
    "PARTITIONS",
    "PRESETS",
    "STRATEGIES",
    "Preset",
    "Strategy",
    "allocate_proportional",
    "allocate_smallest_first",
    "available_methods",
    "easiest_order",
    "hardest_order",
    "kcenter_order",
    "median_embedding_distances",
    "merge_by_relative_rank",
    "moderate_order",
    "random_order",
    "select",
    "SelectionSettings",
    "resolve_method_settings",
    "resolve_settings",
    "stratum_ids",
]
