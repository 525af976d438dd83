"""The defaults the full pipeline chooses when the caller leaves them open, set from measured
evidence (docs/method.md, "Measured: what the defaults are and why"; benchmarks/quality_sweep.py).

Written once here; the run plan asks ``pipeline_defaults`` and records what it chose.
"""

from __future__ import annotations

from dataclasses import dataclass

# d2 in the full pipeline (difficulty computed): the fraction of the hardest rows by AUM dropped
# first. The reference pipeline does the same (docs/method.md §5).
D2_PIPELINE_PREFILTER = 0.1


@dataclass(frozen=True)
class PipelineDefaults:
    """prefilter: the fraction dropped first (None = the method's own); partition: the grouping
    (None = the method's own)."""

    prefilter: float | None = None
    partition: str | None = None


def pipeline_defaults(method: str, rate: float, *, computed_difficulty: bool) -> PipelineDefaults:
    """What the full pipeline uses for ``method`` at pruning ``rate`` when the caller does not
    say. ``computed_difficulty``: the difficulty comes from training dynamics (not a column),
    so an AUM pre-filter is available."""
    if method == "d2" and computed_difficulty:
        return PipelineDefaults(prefilter=D2_PIPELINE_PREFILTER)
    return PipelineDefaults()
