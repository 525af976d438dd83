"""``evaluate``: does a coreset train a better classifier than random (or CCS) at the same size?

``harness``: the methods × rates × seeds table; ``data``: pool and held-out rows; ``probe``:
fast judges on frozen features; ``finetune``: the confirming fine-tuned judge; ``stats``: 95%
intervals and paired differences; ``tables``: the summary rows and markdown.
"""

from hf_d2.evaluate.data import EvaluationData, prepare_data, stratified_holdout
from hf_d2.evaluate.harness import (
    CLASSIFIERS,
    EVALUATE_PARAMS,
    EvaluateSettings,
    EvaluationReport,
    cell_name,
    evaluate,
    load_cells,
    load_results,
)
from hf_d2.evaluate.probe import PROBES, classification_metrics, probe_scores
from hf_d2.evaluate.stats import Interval, mean_interval, paired_difference
from hf_d2.evaluate.tables import FULL_DATA, limits_markdown, prune_limits, results_markdown, summarize

__all__ = [
    "CLASSIFIERS", "EVALUATE_PARAMS", "FULL_DATA", "PROBES", "EvaluateSettings", "EvaluationData", "EvaluationReport",
    "Interval", "cell_name", "classification_metrics", "evaluate", "limits_markdown", "load_cells", "load_results",
    "mean_interval", "paired_difference", "prepare_data", "probe_scores", "prune_limits", "results_markdown",
    "stratified_holdout", "summarize",
]
