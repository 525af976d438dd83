"""The content hash of the rows the difficulty stage trains on. (Loading, column checks and
label encoding live in ``hf_d2.data``; ``EncodedLabels`` / ``encode_labels`` are re-exported.)"""

from __future__ import annotations

import hashlib
import json

import datasets
import numpy as np

from hf_d2.data import EncodedLabels, encode_labels  # noqa: F401 (re-exported)


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
