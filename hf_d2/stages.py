"""The model stages of a run plan: embeddings, then difficulty, each cached.

``run_stages(plan)`` returns the arrays the selection reads, oriented and aligned with the
plan's rows, and what the record says about each stage; it reads the plan (its cache entries
included: ``plan.keys``, worked out by ``hf_d2.plan_stages``) and never writes into it:

- embeddings: a column of the dataset, a sentence-transformers model (``hf_d2.embed``), an
  image encoder (``hf_d2.vision``: CLIP, ViT / ResNet, or pixels), or the fine-tuned
  classifier's first token (pooled features for an image classifier);
- difficulty: a column, the dynamics of a small head on the frozen embeddings (``head``,
  seconds), the dynamics of fine-tuning the classifier (``finetune``,
  ``hf_d2.difficulty.compute_difficulty``; an image classifier for images), or a label-free
  score (``prototypicality``; ``clip_score`` for image–text pairs). The difficulty score, the
  pre-filter score and the strata score all come from the same dynamics.

A difficulty that cannot mean anything stops the run here, before any selection: constant
scores, or a model that predicts one class for every row in its last epoch
(``allow_degenerate`` lets it through, with a warning in the record).

A label-free run trains its difficulty model on k-means pseudo-labels of the embeddings; they are
an output of the stages (``StageOutputs.pseudo_labels``), and so are the cache keys that depend on
them (the head's dynamics, the fine-tuning run).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from hf_d2._io import write_atomically
from hf_d2.cache import array_digest, record_timing
from hf_d2.difficulty.dynamics import DynamicsArrays
from hf_d2.difficulty.head import effective_batch_size, head_cache_path, head_dynamics_table
from hf_d2.difficulty.label_free import default_num_clusters, prototypicality, pseudo_labels
from hf_d2.difficulty.result import training_curve
from hf_d2.difficulty.scores import difficulty_scores, mean_margins
from hf_d2.embed import compute_embeddings, text_work, timing_key
from hf_d2.env import device_kind, progress_disabled
from hf_d2.estimate import TORCH_IMPORT_KEY, finetune_timing_key
from hf_d2.record import DifficultyRecord, EmbeddingRecord

logger = logging.getLogger("hf_d2")

PSEUDO_LABEL_COLUMN = "hf_d2_pseudo_label"  # where a label-free fine-tuning reads its pseudo-labels


class DegenerateDifficultyError(ValueError):
    """The difficulty stage produced scores that cannot rank anything; the message says what
    to change, and that ``--allow-degenerate`` accepts them."""


@dataclass
class StageOutputs:
    """scores / prefilter_scores / strata_scores: (n,) float64, higher = harder (the CLIP score:
    higher = better aligned; the selection favours higher scores either way; None when not
    needed). embeddings: (n, d) float32. dynamics: the dense dynamics (None without a computed
    difficulty). difficulty / embedding: their records. timings: (stage, seconds, cache) rows."""

    scores: np.ndarray | None = None
    prefilter_scores: np.ndarray | None = None
    strata_scores: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    dynamics: DynamicsArrays | None = None
    difficulty: DifficultyRecord | None = None
    embedding: EmbeddingRecord | None = None
    towers: Any = None  # image datasets: hf_d2.vision.PlanEmbeddings (the image and caption embeddings)
    pseudo_labels: np.ndarray | None = None
    mean_margins: np.ndarray | None = None
    timings: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_stages(plan: Any) -> StageOutputs:
    """Runs (or loads from the cache) what ``plan`` needs; see the module docstring."""
    outputs = StageOutputs()
    options, columns, given = plan.options, plan.options.columns, plan.given
    if given.scores is not None:
        outputs.scores = given.scores
        outputs.difficulty = given.difficulty or DifficultyRecord(score=columns.score, source="column",
                                                                  direction=f"{columns.score_direction} = harder")
    outputs.prefilter_scores = given.prefilter_scores
    outputs.mean_margins = given.mean_margins
    if given.embeddings is not None:
        outputs.embeddings = given.embeddings
        outputs.embedding = EmbeddingRecord(source="column", model=columns.embedding,
                                            dimensions=int(outputs.embeddings.shape[1]))
    finetune_result = None
    label_free = plan.label_free and plan.needs.difficulty
    if label_free and outputs.embeddings is None and options.difficulty.source != "clip_score":
        _embed(plan, outputs, None)  # the pseudo-labels come from the embeddings
    if label_free and options.difficulty.source not in ("prototypicality", "clip_score"):
        outputs.pseudo_labels = pseudo_labels(outputs.embeddings, options.difficulty.num_clusters,
                                              options.seeds.training)
    if plan.needs.difficulty and options.difficulty.source == "finetune":
        finetune_result = _finetune(plan, outputs)
    if plan.needs.embeddings and outputs.embeddings is None:
        _embed(plan, outputs, finetune_result)
    if plan.needs.difficulty and options.difficulty.source == "prototypicality":
        _prototypicality(plan, outputs)
    elif plan.needs.difficulty and options.difficulty.source == "clip_score":
        _clip_score(plan, outputs)
    elif plan.needs.difficulty:
        dynamics = finetune_result.arrays if finetune_result is not None else _head(plan, outputs)
        _score(plan, outputs, dynamics)
    return outputs


def _prototypicality(plan: Any, outputs: StageOutputs) -> None:
    """Label-free difficulty without training: distance to the row's k-means centroid. The
    pre-filter then drops the least prototypical rows (the far outliers)."""
    options = plan.options
    started = time.perf_counter()
    clusters = options.difficulty.num_clusters or default_num_clusters(plan.num_rows)
    outputs.scores = prototypicality(outputs.embeddings, clusters, options.seeds.training)
    if outputs.prefilter_scores is None:
        outputs.prefilter_scores = outputs.scores
    outputs.timings.append({"stage": "difficulty", "seconds": round(time.perf_counter() - started, 3), "cache": "-"})
    embedder = outputs.embedding
    outputs.difficulty = DifficultyRecord(
        score="prototypicality", source="prototypicality", labels="none (label-free)",
        model=f"k-means on {embedder.model if embedder else 'the embeddings'}", settings={"num_clusters": clusters},
        prefilter_score="prototypicality")


def _clip_score(plan: Any, outputs: StageOutputs) -> None:
    """Image–text pairs: the CLIP score of each pair (``hf_d2.vision``) is the score D2 favours
    (higher = better aligned, kept first); the pre-filter drops the worst-aligned pairs first."""
    from hf_d2.vision import plan_clip_scores  # noqa: PLC0415

    options = plan.options
    started = time.perf_counter()
    scores, model, cached = plan_clip_scores(plan.stage_dataset, plan.text_columns, options.embedding,
                                             cache_dir=options.cache_dir, use_cache=options.use_cache,
                                             towers=outputs.towers, entries=plan.keys.towers)
    outputs.timings.append({"stage": "difficulty", "seconds": round(time.perf_counter() - started, 3),
                            "cache": "hit" if cached else "miss"})
    if np.ptp(scores) == 0:
        message = (f"The CLIP scores are {scores[0]:g} for every pair: they cannot rank anything. Check the captions and "
                   "the model; --allow-degenerate accepts them as they are.")
        if not options.difficulty.allow_degenerate:
            raise DegenerateDifficultyError(message)
        outputs.warnings.append(message)
    outputs.scores = scores
    if outputs.prefilter_scores is None:
        outputs.prefilter_scores = -scores
    outputs.difficulty = DifficultyRecord(
        score="clip_score", source="clip_score", direction="higher = better aligned (kept first)",
        labels="none (label-free)", model=model["model"], revision=model.get("revision"),
        cache_key=model.get("cache_key"), prefilter_score="negated clip_score (drops the worst-aligned pairs)")


def _embed(plan: Any, outputs: StageOutputs, finetune_result: Any) -> None:
    options = plan.options.embedding
    if options.source == "classifier":
        outputs.embeddings = finetune_result.embeddings.astype(np.float32)
        outputs.embedding = EmbeddingRecord(source="classifier", model=finetune_result.metadata["model"],
                                            revision=finetune_result.metadata["revision"],
                                            cache_key=finetune_result.metadata["cache_key"],
                                            dimensions=int(outputs.embeddings.shape[1]))
        return
    started = time.perf_counter()
    if plan.text_columns.image is not None:  # images (and captions): hf_d2.vision's encoders
        from hf_d2.vision import embed_for_plan  # noqa: PLC0415

        outputs.towers = embed_for_plan(plan.stage_dataset, plan.text_columns, options, plan.options.vision,
                                        cache_dir=plan.options.cache_dir, use_cache=plan.options.use_cache,
                                        entries=plan.keys.towers)
        embedded = outputs.towers.result
    else:
        embedded = compute_embeddings(plan.stage_dataset, plan.text_columns.text, plan.text_columns.text_pair,
                                      batch_size=options.batch_size, use_cache=plan.options.use_cache,
                                      entry=plan.keys.embedding)
    outputs.timings.append({"stage": "embed", "seconds": round(time.perf_counter() - started, 3),
                            "cache": "hit" if embedded.from_cache else "miss"})
    outputs.embeddings = embedded.embeddings
    outputs.embedding = EmbeddingRecord(source=embedded.metadata.get("source", "sentence-transformers"),
                                        model=embedded.metadata["model"],
                                        revision=embedded.metadata["revision"],
                                        cache_key=embedded.metadata["cache_key"],
                                        dimensions=int(embedded.embeddings.shape[1]))


def _finetune(plan: Any, outputs: StageOutputs) -> Any:
    from hf_d2.difficulty.api import compute_difficulty  # noqa: PLC0415 - torch loads only for a fine-tuning run

    options = plan.options
    started = time.perf_counter()
    rows, label_column = plan.stage_dataset, plan.label_column
    if plan.label_free:  # fine-tune on the pseudo-labels, in a column of a working copy (never the user's data)
        label_column = PSEUDO_LABEL_COLUMN
        rows = rows.add_column(label_column, outputs.pseudo_labels.tolist())
    epoch_ends: list[float] = []
    result = compute_difficulty(
        rows, plan.text_columns.text, label_column, plan.text_columns.text_pair,
        config=options.difficulty.training, cache_dir=options.cache_dir, use_cache=options.use_cache,
        return_embeddings=plan.needs.embeddings and options.embedding.source == "classifier",
        image_column=plan.text_columns.image, from_scratch=options.vision.from_scratch,
        allow_many_classes=options.difficulty.allow_many_classes, run=plan.keys.difficulty,
        epoch_callback=lambda epoch: epoch_ends.append(time.perf_counter()))
    if epoch_ends and plan.text_columns.image is None:
        _record_finetune_timing(plan, result, started, epoch_ends)
    cache = "hit" if result.from_cache else (f"resumed at epoch {result.resumed_at_epoch + 1}"
                                             if result.resumed_at_epoch else "miss")
    outputs.timings.append({"stage": "difficulty", "seconds": round(time.perf_counter() - started, 3), "cache": cache})
    accuracy, loss = result.training_curve()
    outputs.difficulty = DifficultyRecord(
        score=options.difficulty.score, source="finetune", labels=_labels_description(plan, outputs),
        model=result.metadata["model"], revision=result.metadata["revision"], cache_key=result.metadata["cache_key"],
        settings={"model": result.metadata["model"], **options.difficulty.training.as_dict()},
        train_accuracy=accuracy, train_loss=loss, prefilter_score=options.selection.prefilter_score,
        resumed=bool(result.resumed_at_epoch))
    return result


def _record_finetune_timing(plan: Any, result: Any, started: float, epoch_ends: list[float]) -> None:
    """Keeps the fine-tuning's throughput: token-equivalents per second of an epoch (from the epochs after the
    first when there are several) and the set-up before the first (imports, model, tokenizing)."""
    training = plan.options.difficulty.training
    work = text_work(plan.stage_dataset, plan.text_columns.text, plan.text_columns.text_pair, training.max_length)
    if len(epoch_ends) > 1:
        per_epoch = (epoch_ends[-1] - epoch_ends[0]) / (len(epoch_ends) - 1)
    else:
        per_epoch = epoch_ends[0] - started
    fixed = max(0.0, epoch_ends[0] - started - per_epoch)
    record_timing(plan.options.cache_dir, finetune_timing_key(result.metadata["model"], device_kind()),
                  work=work * len(epoch_ends), seconds=per_epoch * len(epoch_ends), fixed_seconds=fixed)


def _head(plan: Any, outputs: StageOutputs) -> DynamicsArrays:
    """The head's dynamics on the embeddings (cached by the embeddings' identity, the labels and
    the head's settings)."""
    options = plan.options
    head = options.difficulty.head
    labels = outputs.pseudo_labels if plan.label_free else plan.labels.ids
    path = plan.keys.head
    if path is None:  # a label-free run's: keyed by its pseudo-labels
        embedding_identity = (outputs.embedding.cache_key if outputs.embedding and outputs.embedding.cache_key
                              else array_digest(outputs.embeddings))
        path = head_cache_path(options.cache_dir, embedding_identity, labels, head)
    started = time.perf_counter()
    cache = "hit" if options.use_cache and path.exists() else "miss"
    if cache == "miss":
        with tqdm(total=head.num_snapshots, desc="Difficulty head", unit="epoch" if head.records_per_epoch == 1 else
                  "record", leave=False, disable=progress_disabled(), dynamic_ncols=True) as bar:
            _import_torch(options.cache_dir)
            trained, recorded = time.perf_counter(), []

            def record_done() -> None:
                recorded.append(time.perf_counter())
                bar.update()

            num_labels = int(labels.max()) + 1 if plan.label_free else plan.labels.num_labels
            table = head_dynamics_table(outputs.embeddings, labels, head, num_labels=num_labels,
                                        on_record=record_done)
        _record_head_timing(plan, trained, recorded)
        write_atomically(path, lambda handle: pq.write_table(table, handle))
        del table  # pivoted from the file below, in row batches: the table and its pivot are never both in memory
    dynamics = DynamicsArrays.from_parquet(path)
    outputs.timings.append({"stage": "difficulty", "seconds": round(time.perf_counter() - started, 3), "cache": cache})
    accuracy, loss = training_curve(dynamics)
    embedder = outputs.embedding
    outputs.difficulty = DifficultyRecord(
        score=options.difficulty.score, source="head", labels=_labels_description(plan, outputs),
        model=f"head on {embedder.model if embedder else 'the embeddings'}", cache_key=path.stem,
        settings=head.options(), train_accuracy=accuracy, train_loss=loss,
        prefilter_score=options.selection.prefilter_score)
    return dynamics


def _record_head_timing(plan: Any, started: float, recorded: list[float]) -> None:
    """Keeps the head's throughput: optimizer steps per second over the snapshots after the first,
    and the set-up before (the first call in a process also loads torch's optimizer machinery)."""
    head = plan.options.difficulty.head
    steps = head.epochs * -(-plan.num_rows // effective_batch_size(plan.num_rows, head.batch_size))
    per_record = (recorded[-1] - recorded[0]) / (len(recorded) - 1) if len(recorded) > 1 else recorded[0] - started
    fixed = max(0.0, recorded[0] - started - per_record)
    record_timing(plan.options.cache_dir, timing_key("head", None, "cpu"), work=steps,
                  seconds=per_record * len(recorded), fixed_seconds=fixed)


def _import_torch(cache_dir: Any) -> None:
    """Imports torch, and keeps how long that took when this process had not imported it yet
    (the dry run adds it to the first stage that needs torch)."""
    if "torch" in sys.modules:
        return
    started = time.perf_counter()
    import torch  # noqa: F401, PLC0415 - heavy: timed

    record_timing(cache_dir, TORCH_IMPORT_KEY, work=0.0, seconds=0.0, fixed_seconds=time.perf_counter() - started)


def _score(plan: Any, outputs: StageOutputs, dynamics: DynamicsArrays) -> None:
    options = plan.options
    outputs.dynamics = dynamics
    outputs.mean_margins = mean_margins(dynamics)
    if plan.given.scores is None:
        outputs.scores = difficulty_scores(dynamics, options.difficulty.score)
        _check_not_degenerate(plan, outputs, dynamics)
    if outputs.prefilter_scores is None:
        outputs.prefilter_scores = difficulty_scores(dynamics, options.selection.prefilter_score)
    strata = options.selection.strata_score
    outputs.strata_scores = difficulty_scores(dynamics, strata) if strata is not None else None


def _check_not_degenerate(plan: Any, outputs: StageOutputs, dynamics: DynamicsArrays) -> None:
    options = plan.options
    problems = []
    scores = outputs.scores
    if np.ptp(scores) == 0:
        problems.append(f"the difficulty scores ({options.difficulty.score}) are {scores[0]:g} for every row")
    last = dynamics.pred_label[:, -1]
    if np.unique(last).size == 1 and np.unique(dynamics.labels).size > 1:
        accuracy = float(dynamics.correct[:, -1].mean())
        problems.append(f"the difficulty model predicts one class for every row in its last epoch (training accuracy "
                        f"{accuracy:.1%}): it did not learn")
    if not problems:
        return
    source = options.difficulty.source
    fix = ("raise --epochs or --learning-rate (e.g. --learning-rate 1e-4), or use --difficulty-source head"
           if source == "finetune" else "raise --head-epochs or --head-learning-rate, or check the labels")
    message = f"{'; '.join(problems).capitalize()}. {fix.capitalize()}; --allow-degenerate accepts it as it is."
    if not options.difficulty.allow_degenerate:
        raise DegenerateDifficultyError(message)
    logger.warning("Warning: %s", message)
    outputs.warnings.append(message)


def _labels_description(plan: Any, outputs: StageOutputs) -> str:
    """What the difficulty model trained on, in the record's words."""
    if not plan.label_free:
        return "gold"
    return f"k-means pseudo-labels ({int(outputs.pseudo_labels.max()) + 1} clusters of the embeddings)"


def dynamics_summary(dynamics: DynamicsArrays | None, embeddings: np.ndarray | None = None) -> dict[str, Any]:
    """Per-row columns for the scores table that the plots and the report read: the data-map
    coordinates (confidence, variability) of the dynamics and a 2-D PCA projection of the
    embeddings (``projection_x``, ``projection_y``), each when it exists."""
    from hf_d2.plots import project_2d  # noqa: PLC0415 - numpy only; matplotlib loads when a plot is drawn

    columns: dict[str, Any] = {}
    if dynamics is not None:
        columns.update(confidence=dynamics.gold_prob.mean(axis=1), variability=dynamics.gold_prob.std(axis=1))
    if embeddings is not None and embeddings.shape[0] >= 2:
        points = project_2d(embeddings)
        columns.update(projection_x=points[:, 0], projection_y=points[:, 1])
    return columns


__all__ = ["DegenerateDifficultyError", "StageOutputs", "dynamics_summary", "run_stages"]
