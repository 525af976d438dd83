"""What identifies a fine-tuning run of the difficulty stage, and where its folder is: worked out once
(``difficulty_run``: by the run plan, or by ``compute_difficulty`` when called on its own), without
torch, so a dry run can say whether the run is cached, half done or to do (``run_state``).

A run's key hashes the rows' inputs and labels, the label names, the model and tokenizer ids and
revisions, the recipe and the number of processes; its folder is ``<cache>/difficulty/<key>``, where
``progress.json`` counts the finished epochs of an interrupted run and ``metadata.json`` marks a
finished one (``hf_d2.difficulty.result``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_d2.cache import cache_key, rows_hash, stage_path
from hf_d2.data.labels import EncodedLabels, encode_labels
from hf_d2.data.loading import require_column
from hf_d2.difficulty.result import FORMAT_VERSION, is_finished_run
from hf_d2.difficulty.training import TrainingConfig
from hf_d2.models import default_model_name, model_revision, resolve_model_name
from hf_d2.vision import DEFAULT_IMAGE_CLASSIFIER, processor_digest

PROGRESS_FILE = "progress.json"


@dataclass(frozen=True)
class DifficultyRun:
    """One fine-tuning run, identified (``difficulty_run``): ``key_fields`` (everything its cache key
    hashes), ``key``, its folder ``run_dir``, the ``config``, the encoded ``labels``, the model as named
    (``model_name``), the model's ``revision`` and ``tokenizer`` as asked for, the folders or ids to load
    (``model_path``, ``tokenizer_path``), and the inputs it reads (``text_column``, ``text_pair_column``,
    ``label_column``, ``image_column``, ``from_scratch``)."""

    key_fields: dict[str, Any]
    key: str
    run_dir: Path
    config: TrainingConfig
    labels: EncodedLabels
    model_name: str
    model_path: str
    tokenizer_path: str
    text_column: str | None
    text_pair_column: str | None
    label_column: str
    image_column: str | None = None
    from_scratch: bool = False
    revision: str | None = None
    tokenizer: str | None = None


def difficulty_run(dataset: Any, text_column: str | None, label_column: str, text_pair_column: str | None = None, *,
                   config: TrainingConfig, revision: str | None = None, tokenizer: str | None = None,
                   cache_dir: str | os.PathLike | None = None, num_processes: int = 1, image_column: str | None = None,
                   from_scratch: bool = False, allow_many_classes: bool = False) -> DifficultyRun:
    """Checks the inputs of a fine-tuning run and works out what identifies it: its cache key
    fields, key, folder, encoded labels and resolved model and tokenizer (for images: image
    processor). An image run's key also holds the modality and ``from_scratch``; a text run's key
    is as before images existed. ``num_processes``: the processes that will train it."""
    if image_column is not None:
        text_column = text_pair_column = None
    for column, role, name in ((text_column, "text", "text_column"), (label_column, "class labels", "label_column"),
                               (text_pair_column, "second text of a pair", "text_pair_column"),
                               (image_column, "images", "image_column")):
        if column is not None:
            require_column(dataset, column, role, name)
    labels = encode_labels(dataset, label_column, allow_many_classes=allow_many_classes)
    if image_column is not None:
        model_name = config.model if config.model is not None else DEFAULT_IMAGE_CLASSIFIER
        inputs = [image_column]
    else:
        model_name = config.model if config.model is not None else default_model_name()
        inputs = [text_column] + ([text_pair_column] if text_pair_column else [])
    model_path = resolve_model_name(model_name)
    tokenizer_path = resolve_model_name(tokenizer) if tokenizer else model_path
    key_fields = {
        "format_version": FORMAT_VERSION,
        "dataset_hash": rows_hash(dataset, inputs, labels.ids),
        "text_pair": text_pair_column is not None,
        "label_names": labels.names,
        "model": model_name,
        "revision": model_revision(model_path, revision),
        "tokenizer": tokenizer or model_name,
        "tokenizer_revision": model_revision(tokenizer_path) if tokenizer else None,
        "training": config.as_dict(),
        "num_processes": num_processes,
    }
    if image_column is not None:
        key_fields.update(modality="image", from_scratch=bool(from_scratch),
                          image_processor=processor_digest(tokenizer_path))
    key = cache_key(key_fields)
    return DifficultyRun(key_fields=key_fields, key=key, run_dir=stage_path(cache_dir, "difficulty", key), config=config,
                         labels=labels, model_name=model_name, model_path=model_path, tokenizer_path=tokenizer_path,
                         text_column=text_column, text_pair_column=text_pair_column, label_column=label_column,
                         image_column=image_column, from_scratch=bool(from_scratch), revision=revision,
                         tokenizer=tokenizer)


def read_progress(run_dir: Path) -> dict[str, Any]:
    """{"epochs_done": int, "checkpoint": folder name or None} of a run folder."""
    path = run_dir / PROGRESS_FILE
    if not path.exists():
        return {"epochs_done": 0, "checkpoint": None}
    return json.loads(path.read_text())


def run_state(run: DifficultyRun) -> str:
    """What training ``run`` would do now: "hit" (reuse the finished run), "resume N/E" (continue an
    interrupted run after N of E epochs) or "miss" (train)."""
    if is_finished_run(run.run_dir):
        return "hit"
    done = read_progress(run.run_dir)["epochs_done"] if run.run_dir.is_dir() else 0
    return f"resume {done}/{run.config.epochs}" if done else "miss"
