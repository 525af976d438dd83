"""Embedding images and captions: ``embed_images`` / ``embed_captions`` run an encoder
(``hf_d2.vision.encoders``) over every row, batch by batch, data-parallel under ``accelerate
launch``, cached in the stage cache (``image_entry`` / ``caption_entry`` say where; a run plan works
its entries out once, ``tower_entries``); ``embed_for_plan`` gives the graph's vectors of a run plan.
The graph's vectors of an image–text pair are set by ``pair_embedding``: ``image+text`` (default;
the authors' DataComp ``--feature-type image|text``) concatenates the unit image and caption
vectors and scales the result by 1/√2 (unit length again), ``image`` or ``text`` take one tower.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

from hf_d2._validation import InvalidParameterError, check_positive_int
from hf_d2.cache import cache_key, load_array, rows_hash, save_array, stage_path
from hf_d2.embed import EmbeddingEntry, EmbeddingResult, compute_embeddings, embedding_entry
from hf_d2.env import progress_disabled
from hf_d2.vision.encoders import (
    PixelEncoder,
    encoder_kind,
    encoder_revision,
    has_text_tower,
    load_encoder,
    resolve_image_embedding_model,
)
from hf_d2.vision.reading import ImageReader
from hf_d2.vision.settings import PIXELS, VisionOptions

logger = logging.getLogger("hf_d2")


@dataclass(frozen=True)
class TowerEntry:
    """Where the stage cache keeps one tower's embeddings of some rows (``image_entry``,
    ``caption_entry``): ``path`` and ``key`` (the column's content, the encoder and its revision, the
    ``fields`` below and ``normalize``), the encoder's ``revision``, and ``fields``: the tower
    ("image" or "text"), the encoder ``model`` and its ``kind``, ``pixel_size`` and ``max_length``."""

    path: Path
    key: str
    revision: str | None
    fields: dict[str, Any]
    normalize: bool = True

    @property
    def cached(self) -> bool:
        """The entry is complete in the cache (its array and its metadata)."""
        return self.path.exists() and self.path.with_suffix(".json").exists()


def image_entry(dataset: Any, image_column: str, *, model: str | None = None, pixel_size: int | None = None,
                normalize: bool = True, cache_dir: str | os.PathLike | None = None) -> TowerEntry:
    """The cache entry of ``embed_images`` with these arguments (reads the first image for ``pixels``)."""
    fields = _image_fields(ImageReader(dataset, image_column), resolve_image_embedding_model(model), pixel_size)
    return _tower_entry(dataset, image_column, fields, normalize, cache_dir)


def caption_entry(dataset: Any, text_column: str, *, model: str | None = None, max_length: int | None = None,
                  normalize: bool = True, cache_dir: str | os.PathLike | None = None) -> TowerEntry | EmbeddingEntry:
    """The cache entry of ``embed_captions`` with these arguments: the text tower's, or, for the
    ``pixels`` stand-in (no text tower), the text path's (``hf_d2.embed.embedding_entry``)."""
    model = resolve_image_embedding_model(model)
    if model == PIXELS:
        return embedding_entry(dataset, text_column, model=None, max_length=max_length, normalize=normalize,
                               cache_dir=cache_dir)
    if not has_text_tower(model):
        raise InvalidParameterError("pair_embedding", f"The image encoder {model!r} has no text tower, so it cannot embed "
                                    "the captions; pass {param:embedding_model} with a CLIP model, or {set}image.")
    return _tower_entry(dataset, text_column, _caption_fields(model, max_length), normalize, cache_dir)


def embed_images(dataset: Any, image_column: str, *, model: str | None = None, batch_size: int = 64,
                 normalize: bool = True, pixel_size: int | None = None, device: str | None = None,
                 cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
                 show_progress: bool | None = None, entry: TowerEntry | None = None):
    """Embeds the image of every row; returns an ``hf_d2.embed.EmbeddingResult`` with (n, d)
    float32 in row order (unit L2 norm with ``normalize``).

    model: see ``resolve_image_embedding_model`` (None = CLIP ViT-B/32, or ``pixels`` offline).
    Images are decoded batch by batch; data-parallel under ``accelerate launch`` (contiguous
    shards gathered in rank order). Cached under ``cache_dir`` keyed by the image column's
    content (the bytes, or the paths of a path column), the encoder and its revision,
    ``pixel_size`` and ``normalize``; ``entry``: that cache entry, already worked out (``image_entry``:
    a run plan's)."""
    reader = ImageReader(dataset, image_column)
    if entry is None:
        entry = _tower_entry(dataset, image_column, _image_fields(reader, resolve_image_embedding_model(model),
                                                                  pixel_size), normalize, cache_dir)

    def encode(encoder: Any, positions: np.ndarray) -> np.ndarray:
        return encoder.images(reader(positions))

    return _embed_column(dataset, entry, encode, batch_size=batch_size, device=device, use_cache=use_cache,
                         show_progress=show_progress, first=lambda: reader([0])[0])


def embed_captions(dataset: Any, text_column: str, *, model: str | None = None, batch_size: int = 64,
                   max_length: int | None = None, normalize: bool = True, device: str | None = None,
                   cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
                   show_progress: bool | None = None, entry: TowerEntry | EmbeddingEntry | None = None):
    """Embeds every row's caption with the text tower of the image encoder ``model`` (a CLIP);
    returns an ``EmbeddingResult`` (n, d) float32 in row order. With the ``pixels`` stand-in
    (no text tower) the captions are embedded by the text path (``hf_d2.embed``: all-MiniLM-L6-v2,
    the bundled copy offline), so an offline image–text prune still sees both sides. ``entry``: the
    cache entry, already worked out (``caption_entry``: a run plan's)."""
    if entry is None:
        entry = caption_entry(dataset, text_column, model=model, max_length=max_length, normalize=normalize,
                              cache_dir=cache_dir)
    if isinstance(entry, EmbeddingEntry):  # pixels: the captions go through the text path
        return compute_embeddings(dataset, text_column, batch_size=batch_size, device=device, use_cache=use_cache,
                                  show_progress=show_progress, entry=entry)
    texts_of = dataset.select_columns([text_column])

    def encode(encoder: Any, positions: np.ndarray) -> np.ndarray:
        texts = texts_of[int(positions[0]):int(positions[-1]) + 1][text_column]
        return encoder.texts(["" if text is None else str(text) for text in texts])

    return _embed_column(dataset, entry, encode, batch_size=batch_size, device=device, use_cache=use_cache,
                         show_progress=show_progress)


def _image_fields(reader: ImageReader, model: str, pixel_size: int | None) -> dict[str, Any]:
    """What identifies an image embedding besides the rows: the encoder and, for pixels, the
    side it resizes to (read from the first image when not given)."""
    kind = encoder_kind(model)
    size = PixelEncoder.for_first_image(reader([0])[0], pixel_size).size if kind == PIXELS else None
    return {"tower": "image", "model": model, "kind": kind, "pixel_size": size, "max_length": None}


def _caption_fields(model: str, max_length: int | None) -> dict[str, Any]:
    return {"tower": "text", "model": model, "kind": encoder_kind(model), "pixel_size": None, "max_length": max_length}


def _tower_entry(dataset: Any, column: str, fields: dict[str, Any], normalize: bool, cache_dir: Any) -> TowerEntry:
    revision = encoder_revision(fields["model"])
    key = cache_key({"stage": "embed", "rows": rows_hash(dataset, [column]), **fields, "revision": revision,
                     "normalize": normalize, "format": 1})
    return TowerEntry(stage_path(cache_dir, "embeddings", key, ".npy"), key, revision, fields, normalize)


def _embed_column(dataset: Any, entry: TowerEntry, encode: Callable[[Any, np.ndarray], np.ndarray], *,
                  batch_size: int, device: str | None, use_cache: bool, show_progress: bool | None,
                  first: Callable[[], Any] | None = None):
    if dataset.num_rows == 0:
        raise ValueError("The dataset is empty (0 rows): there is nothing to embed.")
    batch_size = check_positive_int("batch_size", batch_size)
    fields, path, key, normalize = entry.fields, entry.path, entry.key, entry.normalize
    metadata = {"model": fields["model"], "revision": entry.revision, "source": fields["kind"], "tower": fields["tower"],
                "normalize": normalize, "cache_key": key, "num_rows": dataset.num_rows,
                "pixel_size": fields["pixel_size"]}
    cached = load_array(path) if use_cache else None
    if cached is not None:
        logger.info("Embeddings (%ss): cache hit (%s).", fields["tower"], path.name)
        return EmbeddingResult(cached[0], {**cached[1], "cache_key": key}, from_cache=True)
    from accelerate import PartialState  # noqa: PLC0415 - accelerate is slow to import

    state = PartialState()
    encoder = load_encoder(fields["model"], device=device or str(state.device), max_length=fields["max_length"],
                           first_image=first() if fields["kind"] == PIXELS else None, pixel_size=fields["pixel_size"])
    vectors = _encode_sharded(dataset.num_rows, lambda positions: encode(encoder, positions), batch_size, state,
                              show_progress, f"Embedding {fields['tower']}s")
    if normalize:
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    metadata["dimensions"] = int(vectors.shape[1])
    if state.is_main_process:
        save_array(path, vectors, metadata)
    return EmbeddingResult(vectors, metadata, from_cache=False)


def _encode_sharded(num_rows: int, encode: Callable[[np.ndarray], np.ndarray], batch_size: int, state: Any,
                    show_progress: bool | None, description: str) -> np.ndarray:
    """Each process encodes a contiguous shard in batches; the shards are gathered in rank order."""
    bounds = np.linspace(0, num_rows, state.num_processes + 1).astype(int)
    low, high = int(bounds[state.process_index]), int(bounds[state.process_index + 1])
    if show_progress is None:
        show_progress = state.is_main_process and not progress_disabled()
    parts = []
    with tqdm(total=high - low, desc=description, unit="ex", disable=not show_progress, leave=False,
              dynamic_ncols=True) as progress:
        for start in range(low, high, batch_size):
            positions = np.arange(start, min(start + batch_size, high), dtype=np.int64)
            parts.append(np.asarray(encode(positions), dtype=np.float32))
            progress.update(len(positions))
    vectors = np.concatenate(parts, axis=0) if parts else np.zeros((0, 0), dtype=np.float32)
    if state.num_processes == 1:
        return vectors
    from accelerate.utils import gather_object  # noqa: PLC0415 - accelerate is slow to import

    return np.concatenate(gather_object([vectors]), axis=0)


def combine_pair(image: np.ndarray, text: np.ndarray) -> np.ndarray:
    """(n, d_image + d_text) float32: unit image and text vectors side by side, scaled by 1/√2 so
    each row has unit length again (squared distances add: image part + text part, halved)."""
    return (np.concatenate([image, text], axis=1) / math.sqrt(2.0)).astype(np.float32)


@dataclass
class PlanEmbeddings:
    """The image stage of a plan: ``result`` (the graph's vectors, an ``EmbeddingResult``) and,
    for image–text pairs, the image and caption results it was built from."""

    result: Any
    image: Any = None
    text: Any = None


@dataclass(frozen=True)
class TowerEntries:
    """The cache entries of a run plan's image stage (``tower_entries``): the encoder ``model``, the
    towers the graph's vectors take (``graph``: "image", "text" or "image+text"), and the ``image`` and
    ``text`` (caption) entries the plan reads (None when it reads no such tower)."""

    model: str
    graph: str
    image: TowerEntry | None = None
    text: TowerEntry | EmbeddingEntry | None = None

    @property
    def graph_key(self) -> str:
        """The cache key of the graph's vectors (the key of the one tower, or of the pair)."""
        if self.graph == "image+text":
            return pair_key(self.image.key, self.text.key)
        return (self.image if self.graph == "image" else self.text).key

    @property
    def graph_cached(self) -> bool:
        """Every tower the graph's vectors take is in the cache."""
        return all(entry.cached for entry in self.towers(self.graph))

    def towers(self, mode: str) -> list[TowerEntry | EmbeddingEntry | None]:
        """The entries of the towers ``mode`` names ("image", "text", "image+text"; None: not read)."""
        return [entry for name, entry in (("image", self.image), ("text", self.text)) if name in mode.split("+")]


def graph_towers(columns: Any, vision: VisionOptions) -> str:
    """The towers whose vectors the graph of a plan takes: ``vision.pair_embedding`` for image–text
    pairs, else the images."""
    return vision.pair_embedding if columns.text is not None else "image"


def pair_key(image_key: str, text_key: str) -> str:
    """The cache key of an image–text pair's combined vectors (``combine_pair``)."""
    return cache_key({"pair": [image_key, text_key]})


def tower_entries(dataset: Any, columns: Any, embedding: Any, vision: VisionOptions, *, cache_dir: Any,
                  towers: str) -> TowerEntries:
    """The entries of the ``towers`` ("image", "text" or "image+text") a plan reads of an image
    dataset (``columns``: the plan's, ``text`` = the caption; ``embedding``: its ``EmbeddingOptions``);
    the encoder is resolved once, so its offline fallback is logged once."""
    model = resolve_image_embedding_model(embedding.model)
    image = text = None
    if "image" in towers.split("+"):
        image = image_entry(dataset, columns.image, model=model, pixel_size=vision.pixel_size, cache_dir=cache_dir)
    if "text" in towers.split("+"):
        text = caption_entry(dataset, columns.text, model=model, max_length=embedding.max_length, cache_dir=cache_dir)
    return TowerEntries(model=model, graph=graph_towers(columns, vision), image=image, text=text)


def embed_for_plan(dataset: Any, columns: Any, embedding: Any, vision: VisionOptions, *, cache_dir: Any,
                   use_cache: bool, towers: str | None = None, entries: TowerEntries | None = None) -> PlanEmbeddings:
    """The vectors of an image dataset for the graph: the image embeddings, or for image–text
    pairs what ``vision.pair_embedding`` (or ``towers``) says. ``columns``: the plan's columns
    (``image``, and ``text`` = the caption); ``embedding``: the plan's ``EmbeddingOptions``;
    ``entries``: the plan's cache entries (``tower_entries``), worked out here when not given."""
    mode = towers or graph_towers(columns, vision)
    if entries is None or any(entry is None for entry in entries.towers(mode)):
        entries = tower_entries(dataset, columns, embedding, vision, cache_dir=cache_dir, towers=mode)
    image = text = None
    if mode in ("image", "image+text"):
        image = embed_images(dataset, columns.image, batch_size=embedding.batch_size, use_cache=use_cache,
                             entry=entries.image)
    if mode in ("text", "image+text"):
        text = embed_captions(dataset, columns.text, batch_size=embedding.batch_size, use_cache=use_cache,
                              entry=entries.text)
    if mode == "image":
        return PlanEmbeddings(image, image=image)
    if mode == "text":
        return PlanEmbeddings(text, text=text)
    models = image.metadata["model"] if image.metadata["model"] == text.metadata["model"] else (
        f"{image.metadata['model']} (images) + {text.metadata['model']} (captions)")
    metadata = {"model": models, "revision": image.metadata.get("revision"), "source": image.metadata.get("source"),
                "tower": "image+text", "cache_key": pair_key(image.metadata["cache_key"], text.metadata["cache_key"])}
    vectors = combine_pair(image.embeddings, text.embeddings)
    metadata["dimensions"] = int(vectors.shape[1])
    combined = EmbeddingResult(vectors, metadata, from_cache=image.from_cache and text.from_cache)
    return PlanEmbeddings(combined, image=image, text=text)
