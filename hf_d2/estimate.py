"""Time and memory estimates of a run plan's stages, with each stage's cache state (what
``hf-d2 prune --dry-run`` prints).

Times come from what the stages measured on this machine: each finished stage keeps its
throughput in the stage cache (``hf_d2.cache.record_timing``: work done, seconds, and the set-up
seconds before it, such as importing torch and loading the model), and an estimate is
``set-up + work / rate`` over the newest measurements of the same stage, model and device. The
work of each stage: the embedding and the fine-tuning, the texts' token-equivalents
(``hf_d2.embed.text_work``: their tokens plus a per-row cost; times the epochs for fine-tuning);
the head, its optimizer
steps; the selection, its rows. A stage never measured here is not guessed: its time is None
("?"), and its first run measures it. ``benchmarks/estimate_accuracy.py`` compares the estimates
with real runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from hf_d2.cache import recorded_timings
from hf_d2.difficulty.head import effective_batch_size
from hf_d2.difficulty.runs import run_state
from hf_d2.embed import text_work, timing_key
from hf_d2.env import device_kind
from hf_d2.models import BUNDLED_MINILM, default_model_name
from hf_d2.selection.partition import default_num_partitions
from hf_d2.vision import PIXELS

PIXELS_PER_SECOND = 20_000.0  # the "pixels" image encoder (resize and flatten), measured on the bundled digits
LEAST = "least"  # the selection's set-up: its first run on a machine also compiles numba's kernels (then cached)
TORCH_IMPORT_KEY = "import|torch|cpu"
GROUP_ROWS = 100  # the selection's work: a group (a stratum, a class, a partition) costs about as much as 100 rows


@dataclass
class StagePlan:
    """One stage as the dry run shows it: what it is, its cache state ("hit", "miss", "resume
    1/3", "off", "-"), estimated seconds (None: not measured on this machine yet) and memory (MB)."""

    stage: str
    what: str
    cache: str
    seconds: float | None
    memory_mb: float


def estimated_seconds(cache_dir: Any, key: str, work: float, *, fixed_from: str = "median") -> float | None:
    """``set-up + work / rate`` from the measurements kept under ``key`` (median rate; median
    set-up, or the least with ``fixed_from="least"``); None when there are none."""
    measured = [entry for entry in recorded_timings(cache_dir, key) if entry.get("work", 0) > 0]
    if not measured:
        return None
    rate = statistics.median(entry["work"] / max(entry["seconds"], 1e-3) for entry in measured)
    fixed = [entry.get("fixed_seconds", 0.0) for entry in measured]
    return (min(fixed) if fixed_from == LEAST else statistics.median(fixed)) + work / rate


def selection_work(num_rows: int, num_groups: int) -> float:
    """The selection's work unit: rows, plus ``GROUP_ROWS`` per group it selects in."""
    return float(num_rows + GROUP_ROWS * max(1, num_groups))


def torch_import_seconds(cache_dir: Any) -> float:
    """The measured seconds of importing torch in a fresh process (0 when never measured)."""
    measured = recorded_timings(cache_dir, TORCH_IMPORT_KEY)
    return statistics.median(entry["fixed_seconds"] for entry in measured) if measured else 0.0


def describe_stages(plan: Any) -> list[StagePlan]:
    """The stages of ``plan`` with their cache state (read from the plan's cache entries,
    ``plan.keys``) and time / memory estimates."""
    options, device, rows, keys = plan.options, device_kind(), plan.num_rows, plan.keys
    cache_dir = options.cache_dir
    stages = []
    loads_torch = False  # a stage before this one imports torch in this run

    def cache_word(state: str) -> str:
        return state if options.use_cache else "off"

    images = plan.text_columns is not None and plan.text_columns.image is not None
    if images and plan.needs.embeddings and options.embedding.source == "sentence-transformers":
        towers = keys.towers
        hit = towers.graph_cached
        seconds = 0.0 if hit and options.use_cache else rows / PIXELS_PER_SECOND if towers.model == PIXELS else None
        stages.append(StagePlan("embed", f"images: {towers.model} ({towers.graph})", cache_word("hit" if hit else "miss"),
                                seconds, 800 + rows * 512 * 4 / 2**20))
    elif plan.needs.embeddings and options.embedding.source == "sentence-transformers":
        columns, embedding, entry = plan.text_columns, options.embedding, keys.embedding
        hit = entry.cached and options.use_cache
        seconds = 0.0 if hit else estimated_seconds(
            cache_dir, timing_key("embed", entry.model, device),
            text_work(plan.stage_dataset, columns.text, columns.text_pair, embedding.max_length))
        loads_torch = not hit
        stages.append(StagePlan("embed", f"sentence-transformers {embedding.model or 'all-MiniLM-L6-v2'}",
                                cache_word("hit" if hit else "miss"), seconds, 800 + rows * 384 * 4 / 2**20))
    if plan.needs.difficulty and options.difficulty.source == "finetune":
        stages.append(_finetune_stage(plan, device, images, cache_word))
    elif plan.needs.difficulty and options.difficulty.source == "clip_score":
        both_towers = plan.needs.embeddings and options.vision.pair_embedding == "image+text"  # the embed stage's
        stages.append(StagePlan("difficulty", "CLIP score of each image–caption pair", cache_word("-"),
                                0.0 if both_towers else None, 800.0))
    elif plan.needs.difficulty and options.difficulty.source == "prototypicality":
        stages.append(StagePlan("difficulty", "prototypicality (k-means on the embeddings)", cache_word("-"),
                                None, 200 + rows * 1e-3))
    elif plan.needs.difficulty:
        head = options.difficulty.head
        hit = options.use_cache and keys.head is not None and keys.head.exists()  # a label-free run's: not known yet
        steps = head.epochs * -(-rows // effective_batch_size(rows, head.batch_size))
        seconds = 0.0 if hit else estimated_seconds(cache_dir, timing_key("head", None, "cpu"), steps)
        if seconds and not loads_torch:
            seconds += torch_import_seconds(cache_dir)
        stages.append(StagePlan("difficulty", f"head on the embeddings, {head.epochs} epochs",
                                cache_word("hit" if hit else "miss"), seconds, 200 + rows * 1e-3))
    settings = plan.settings
    k = settings.params.k if settings.params is not None and hasattr(settings.params, "k") else 0
    stages.append(StagePlan("graph + select", settings.method, "-",
                            estimated_seconds(cache_dir, selection_timing_key(settings.method, settings.partition),
                                              selection_work(rows, _expected_groups(plan)), fixed_from=LEAST),
                            rows * (2 * k * 8 + 64) / 2**20))
    return stages


def _expected_groups(plan: Any) -> int:
    """How many groups the selection will run in: strata, classes, k-means partitions, or one."""
    settings = plan.settings
    if settings.partition == "strata":
        return int(settings.num_strata or 1)
    if settings.partition == "label" and plan.labels is not None:
        return int(plan.labels.num_labels)
    if settings.partition == "cluster":
        return int(settings.num_partitions or default_num_partitions(plan.num_rows))
    return 1


def selection_timing_key(method: str, partition: str) -> str:
    """The key of the selection's measured throughput (``hf_d2.coreset`` records it)."""
    return timing_key("select", f"{method}/{partition}", "cpu")


def _finetune_stage(plan: Any, device: str, images: bool, cache_word) -> StagePlan:
    options = plan.options
    training = options.difficulty.training
    columns, run = plan.text_columns, plan.keys.difficulty
    state = run_state(run) if run is not None else "miss"  # a label-free run's pseudo-labels are not known yet
    done = int(state.split()[1].split("/")[0]) if state.startswith("resume") else 0
    remaining = 0 if state == "hit" and options.use_cache else training.epochs - done
    model = training.model if training.model is not None else default_model_name()
    seconds = None
    if remaining == 0:
        seconds = 0.0
    elif not images:
        work = text_work(plan.stage_dataset, columns.text, columns.text_pair, training.max_length)
        seconds = estimated_seconds(options.cache_dir, finetune_timing_key(model, device), work * remaining)
    small = model == BUNDLED_MINILM or "minilm" in str(model).lower()
    return StagePlan("difficulty", f"fine-tune {training.model or 'the default model'}, {training.epochs} epochs",
                     cache_word(state), seconds, 1500 if small else 6000)


def finetune_timing_key(model: str | None, device: str) -> str:
    """The key of the fine-tuning's measured throughput (``hf_d2.stages`` records it)."""
    return timing_key("finetune", model, device)
