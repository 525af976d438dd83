"""Fine-tuning an image classifier in the difficulty stage. ``ImageRows`` are the trainer's rows
for images (what ``tokenize_rows`` is for text): the recorder's ``BatchCollator`` turns a batch of
their positions into ``pixel_values`` with the model's image processor, decoding only those
images. ``load_image_classifier`` loads ``AutoModelForImageClassification`` with a fresh
``C``-way head (or, ``from_scratch``, builds it from its config with random weights, as the
reference CIFAR runs train ResNet-18).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hf_d2.vision.reading import ImageReader


@dataclass(frozen=True)
class ImageRows:
    """The trainer's rows for images (what ``tokenize_rows`` makes for text): ``dataset``'s
    ``column`` and the encoded labels ``label_ids`` (n,) int64; a row's index is its position.
    ``pixel_values(positions, processor)`` -> (b, 3, H, W) float32 tensor of those rows only."""

    dataset: Any
    column: str
    label_ids: np.ndarray
    is_image_rows = True  # what the trainer checks (recorder.BatchCollator and start_training)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_reader", ImageReader(self.dataset, self.column, mode="RGB"))

    def __len__(self) -> int:
        return int(self.dataset.num_rows)

    def pixel_values(self, positions: np.ndarray, processor: Any) -> Any:
        return processor(images=self._reader(positions), return_tensors="pt")["pixel_values"]


def load_image_processor(path: str, revision: str | None = None) -> Any:
    """The model's image processor (``AutoImageProcessor``); a folder without one is an error
    naming the file it needs."""
    from transformers import AutoImageProcessor  # noqa: PLC0415 - transformers is slow to import

    folder = Path(path).expanduser()
    if folder.is_dir() and not (folder / "preprocessor_config.json").exists():
        raise ValueError(f"'{path}' has no image processor (preprocessor_config.json); save one beside the model "
                         "(processor.save_pretrained(folder)).")
    return AutoImageProcessor.from_pretrained(path, revision=revision)


def load_image_classifier(model_path: str, label_names: list[str], *, revision: str | None = None,
                          from_scratch: bool = False) -> Any:
    """``AutoModelForImageClassification`` with a fresh ``len(label_names)``-way head on the
    pretrained weights of ``model_path`` (any other head size is replaced), or, ``from_scratch``,
    the architecture of its config with random weights (seeded by the caller)."""
    from transformers import AutoConfig, AutoModelForImageClassification  # noqa: PLC0415 - slow to import

    labels = {"num_labels": len(label_names), "id2label": dict(enumerate(label_names)),
              "label2id": {name: position for position, name in enumerate(label_names)}}
    if from_scratch:
        config = AutoConfig.from_pretrained(model_path, revision=revision, **labels)
        return AutoModelForImageClassification.from_config(config)
    return AutoModelForImageClassification.from_pretrained(model_path, revision=revision, ignore_mismatched_sizes=True,
                                                           **labels)
