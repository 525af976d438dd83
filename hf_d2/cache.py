"""The stage cache: results keyed by a content hash of the rows + model id and revision +
parameters, stored under ``$HF_D2_CACHE`` (default ``~/.cache/hf_d2``), written atomically.

This module owns the cache's layout (``stage_path``) and its one content hash (``rows_hash``);
the stages ask it where their entries live. Files get the umask's permissions. Beside the
entries, ``timings.json`` keeps the throughput the stages measured on this machine
(``record_timing``), which the dry run's estimates read (``recorded_timings``).
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from hf_d2._io import staged_file, write_atomically, write_json

CACHE_ENV = "HF_D2_CACHE"
# One folder per stage: difficulty runs (folders), embeddings (.npy + .json), head dynamics (.parquet).
STAGES = ("difficulty", "embeddings", "head")
TIMINGS_FILE = "timings.json"  # measured throughput per stage, model and device
TIMINGS_KEPT = 5  # measurements kept per key (the newest)


def default_cache_dir() -> Path:
    """``$HF_D2_CACHE`` if set, else ``~/.cache/hf_d2``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hf_d2")


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def stage_path(cache_dir: str | os.PathLike | None, stage: str, key: str, suffix: str = "") -> Path:
    """Where the entry ``key`` of ``stage`` lives: ``<cache>/<stage>/<key><suffix>``."""
    if stage not in STAGES:
        raise ValueError(f"Unknown cache stage {stage!r}; the stages are {', '.join(STAGES)}.")
    return cache_root(cache_dir) / stage / f"{key}{suffix}"


def cache_key(fields: dict[str, Any]) -> str:
    """sha256 (hex, 32 chars) of the canonical JSON of everything that determines a result."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


def rows_hash(dataset: Any, columns: Sequence[str], labels: np.ndarray | None = None,
              batch_size: int = 65_536, *, as_stored: bool = False) -> str:
    """sha256 (hex) of the values of ``columns`` in row order, read as Arrow batches of
    ``batch_size`` rows, each made one contiguous chunk and IPC-serialised: the same rows hash the
    same however they are stored (a selected or sliced dataset, a file written in other record
    batches, a stream read into memory), and of ``labels`` ((n,) int64) when given.
    ``as_stored``: hash each batch's chunks as they are stored, as hf-d2 0.2.0 did (so the content
    hash of a record it wrote can still be checked)."""
    import pyarrow as pa  # noqa: PLC0415 - pyarrow is heavy to import; only hashing needs it here

    digest = hashlib.sha256()
    digest.update(json.dumps(list(columns)).encode())
    for batch in dataset.select_columns(list(columns)).with_format("arrow").iter(batch_size=batch_size):
        sink = pa.BufferOutputStream()
        table = pa.table({name: batch.column(name) for name in columns})
        if not as_stored:
            table = table.combine_chunks()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        digest.update(sink.getvalue())
    if labels is not None:
        digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


def array_digest(array: np.ndarray) -> str:
    """sha256 (hex) of an array's values as C-ordered float32: what identifies vectors that no cache
    entry names (a column of the dataset, or vectors the caller supplied)."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


def save_array(path: Path, array: np.ndarray, metadata: dict[str, Any]) -> None:
    """Writes ``path`` (.npy) and ``path``.json atomically."""
    write_atomically(path, lambda handle: np.save(handle, array))
    save_metadata(path, metadata)


@contextmanager
def array_file(path: Path, shape: tuple[int, ...], dtype: Any = np.float32) -> Iterator[np.ndarray]:
    """A writable ``np.memmap`` of a new ``.npy`` file of ``shape`` and ``dtype``, beside ``path``;
    moved into place (atomically) when the block finishes, deleted if it raises. The caller
    fills it block by block, so the array is never held in memory twice; ``save_metadata`` then
    writes the ``.json`` that makes the entry visible to ``load_array``."""
    with staged_file(path, suffix=".npy") as staging:
        array = np.lib.format.open_memmap(staging, mode="w+", dtype=dtype, shape=shape)
        yield array
        array.flush()
        del array


def save_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Writes ``path``.json (atomically): the metadata of the array entry ``path``."""
    write_atomically(path.with_suffix(".json"),
                     lambda handle: handle.write(json.dumps(metadata, indent=2, sort_keys=True).encode()))


def load_array(path: Path, mmap: bool = False) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The cached array (memory-mapped read-only with ``mmap``: pages are read from the file as
    they are touched, so an (n, d) entry costs no memory up front) and its metadata, or None when
    absent."""
    if not path.exists() or not path.with_suffix(".json").exists():
        return None
    return np.load(path, mmap_mode="r" if mmap else None), json.loads(path.with_suffix(".json").read_text())


def record_timing(cache_dir: str | os.PathLike | None, key: str, *, work: float, seconds: float,
                  fixed_seconds: float = 0.0) -> None:
    """Keeps one measurement of a stage on this machine under ``key`` (e.g. "embed|<model>|cpu"):
    ``work`` units (tokens, optimizer steps, rows: the stage says which) done in ``seconds``,
    after ``fixed_seconds`` of set-up (imports, loading a model). The newest ``TIMINGS_KEPT`` per
    key are kept; a file that cannot be read or written is left alone (timings are advisory)."""
    path = cache_root(cache_dir) / TIMINGS_FILE
    try:
        timings = _read_timings(path)
        entry = {"work": float(work), "seconds": float(seconds), "fixed_seconds": float(fixed_seconds)}
        timings[key] = ([*timings.get(key, []), entry])[-TIMINGS_KEPT:]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, timings)
    except OSError:
        return


def recorded_timings(cache_dir: str | os.PathLike | None, key: str) -> list[dict[str, float]]:
    """The measurements ``record_timing`` kept under ``key`` (oldest first; empty when none)."""
    return _read_timings(cache_root(cache_dir) / TIMINGS_FILE).get(key, [])


def _read_timings(path: Path) -> dict[str, list[dict[str, float]]]:
    try:
        timings = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return timings if isinstance(timings, dict) else {}
