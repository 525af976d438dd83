"""Input handling for the difficulty stage: label encoding and the content hash of the rows.
(Loading and column checks live in ``hf_d2.data``.)"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import datasets
import numpy as np


@dataclass(frozen=True)
class EncodedLabels:
    """Integer labels 0..C-1 for every row, with the class names in id order."""

    ids: np.ndarray  # (n,) int64
    names: list[str]

    @property
    def num_labels(self) -> int:
        return len(self.names)


def encode_labels(dataset: datasets.Dataset, label_column: str) -> EncodedLabels:
    """Labels as int64 ids: a ClassLabel keeps its ids, integers must be 0..C-1, strings (and
    booleans) map to their sorted classes; floats are refused (regression is not classification)."""
    feature = dataset.features[label_column]
    values = np.asarray(dataset[label_column])
    if isinstance(feature, datasets.ClassLabel):
        ids, names = values.astype(np.int64), list(feature.names)
    elif values.dtype.kind in "iu":
        ids = values.astype(np.int64)
        names = [str(c) for c in range(int(ids.max()) + 1)] if ids.size else []
    elif values.dtype.kind in "bUSO":
        classes = sorted({str(v) for v in values.tolist()})
        lookup = {c: i for i, c in enumerate(classes)}
        ids = np.fromiter((lookup[str(v)] for v in values.tolist()), dtype=np.int64, count=len(values))
        names = classes
    else:
        raise ValueError(
            f"The label column {label_column!r} holds {values.dtype} values (a regression target?); "
            "difficulty needs class labels: cast it to int or ClassLabel, e.g. "
            f"dataset.class_encode_column({label_column!r}) after binning."
        )
    if ids.size and ids.min() < 0:
        raise ValueError(
            f"The label column {label_column!r} has negative labels ({int(ids.min())}, e.g. unlabelled "
            "test rows); drop those rows before scoring: dataset.filter(lambda x: x[label] >= 0)."
        )
    if len(names) < 2:
        raise ValueError(
            f"The label column {label_column!r} has fewer than 2 classes ({names}); "
            "difficulty from training dynamics needs at least 2."
        )
    return EncodedLabels(ids=ids, names=names)


def content_hash(
    dataset: datasets.Dataset,
    text_column: str,
    text_pair_column: str | None,
    label_ids: np.ndarray,
    batch_size: int = 10_000,
) -> str:
    """sha256 of the texts (and pairs) and encoded labels, in row order (hex digest)."""
    digest = hashlib.sha256()
    columns = [text_column] + ([text_pair_column] if text_pair_column else [])
    for batch in dataset.select_columns(columns).iter(batch_size=batch_size):
        for column in columns:
            digest.update(json.dumps(batch[column], ensure_ascii=False).encode("utf-8"))
    digest.update(np.ascontiguousarray(label_ids, dtype=np.int64).tobytes())
    return digest.hexdigest()
