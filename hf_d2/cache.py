"""The stage cache: results keyed by a content hash of the rows + model id and revision +
parameters, stored under ``$HF_D2_CACHE`` (default ``~/.cache/hf_d2``), written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

CACHE_ENV = "HF_D2_CACHE"


def default_cache_dir() -> Path:
    """``$HF_D2_CACHE`` if set, else ``~/.cache/hf_d2``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hf_d2")


def cache_key(fields: dict[str, Any]) -> str:
    """sha256 (hex, 32 chars) of the canonical JSON of everything that determines a result."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


def rows_hash(dataset: Any, columns: Sequence[str], batch_size: int = 65_536) -> str:
    """sha256 (hex) of the values of ``columns`` in row order, read as Arrow batches (IPC-
    serialised, so a selected or sliced dataset hashes like the same rows written fresh)."""
    import pyarrow as pa  # noqa: PLC0415

    digest = hashlib.sha256()
    digest.update(json.dumps(list(columns)).encode())
    for batch in dataset.select_columns(list(columns)).with_format("arrow").iter(batch_size=batch_size):
        sink = pa.BufferOutputStream()
        table = pa.table({name: batch.column(name) for name in columns})
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        digest.update(sink.getvalue())
    return digest.hexdigest()


def save_array(path: Path, array: np.ndarray, metadata: dict[str, Any]) -> None:
    """Writes ``path`` (.npy) and ``path``.json atomically (a killed run leaves no partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, write in ((path, lambda handle: np.save(handle, array)),
                          (path.with_suffix(".json"), lambda handle: handle.write(
                              json.dumps(metadata, indent=2, sort_keys=True).encode()))):
        descriptor, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{target.name}.")
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.replace(staging, target)


def load_array(path: Path) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The cached array and its metadata, or None when absent."""
    if not path.exists() or not path.with_suffix(".json").exists():
        return None
    return np.load(path), json.loads(path.with_suffix(".json").read_text())
