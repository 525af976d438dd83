"""Images: reading them lazily, image encoders, the CLIP score of image–text pairs, and the image
classifier the difficulty stage fine-tunes (docs/method.md §6, README "Images and image–text pairs").

Reading. An image column is a ``datasets.Image`` feature or a column of image file paths
(``hf_d2.data.columns.infer_columns`` finds it). ``ImageReader(dataset, column)`` decodes only the
rows asked for, in batches, straight from Arrow (never every image at once), and names the row
when one cannot be read. ``check_images`` is the run plan's check before any model loads: no
missing image, no missing file, and (up to ``IMAGE_VERIFY_MAX_ROWS`` rows) every image's header
readable by PIL.

Encoders (``embedding_model``), each mapping a batch of images to (b, d) float32 vectors, then
L2-normalised as the text embeddings are (distances in [0, 2], so D2's kernel widths mean the
same on images as on text):

- a sentence-transformers CLIP model (``sentence-transformers/clip-ViT-B-32``, the default for
  images; ``clip-ViT-L-14`` in the DataComp recipe): image and text towers in one space;
- a transformers CLIP model (``CLIPModel``, its image processor and tokenizer): the same;
- any other transformers vision model (``AutoModel`` + ``AutoImageProcessor``: ViT, ResNet,
  DINOv2, ...): its pooled features (``pooled_features``: a CNN's global average pool, a
  transformer's [CLS] token);
- ``pixels``: no model. Each image converted to grayscale or RGB (as the first image is),
  resized to ``pixel_size`` × ``pixel_size`` (bilinear), scaled to [0, 1] and flattened:
  (n, pixel_size² · channels). The offline stand-in: images are embedded with it when no model
  is named and the Hub is unreachable (logged), as text falls back to the bundled MiniLM. It
  is a fair representation only for small, centred images (digits, MNIST-like); for natural
  images name a local CLIP or ViT folder.

Image–text pairs. The CLIP score of a pair is the cosine of its image and caption embeddings
under one CLIP model, in [−1, 1]; higher = better aligned. hf-d2 passes it to D2 unchanged as
the score D2 favours (so D2 keeps well-aligned pairs first and spreads them over the embedding
space), as the authors' ``select_d2_datacomp.py`` does with DataComp's
``clip_l14_similarity_score``. Negating it (difficulty = 1 − score) would make D2 keep the
worst-aligned pairs. The pre-filter, which drops the rows with the highest pre-filter score,
reads the negated CLIP score: it drops the worst-aligned pairs first. The graph's vectors of a
pair are set by ``pair_embedding``: ``image+text`` (default; the authors' DataComp
``--feature-type image|text``) concatenates the unit image and caption vectors and scales the
result by 1/√2 (unit length again), ``image`` or ``text`` take one tower.

Fine-tuning. ``ImageRows`` are the trainer's rows for images (what ``tokenize_rows`` is for
text): the recorder's ``BatchCollator`` turns a batch of their positions into ``pixel_values``
with the model's image processor, decoding only those images. ``load_image_classifier`` loads
``AutoModelForImageClassification`` with a fresh ``C``-way head (or, ``from_scratch``, builds
it from its config with random weights, as the reference CIFAR runs train ResNet-18).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hf_d2._validation import InvalidParameterError
from hf_d2.env import hub_offline_reason
from hf_d2.params import Param, register_params

logger = logging.getLogger("hf_d2")

PIXELS = "pixels"
DEFAULT_IMAGE_EMBEDDING_MODEL = "sentence-transformers/clip-ViT-B-32"
DEFAULT_IMAGE_CLASSIFIER = "microsoft/resnet-18"
PAIR_EMBEDDINGS = ("image+text", "image", "text")
DEFAULT_PIXEL_SIZE = 32  # the pixels encoder's side when the first image is not a small square
IMAGE_VERIFY_MAX_ROWS = 200_000  # the plan opens every image header up to this many rows (else only checks presence)
CHECK_BATCH_ROWS = 2048
PROGRESS_BATCHES = 8
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P")

VISION_PARAMS = register_params(
    "vision",
    Param("image_column", str, None, "image column: a datasets.Image feature or a column of image file paths "
          "(default: inferred)", nullable=True),
    Param("pixel_size", int, None, "side in pixels of the square every image is resized to by --embedding-model pixels "
          f"(default: the first image's side when it is square and at most {DEFAULT_PIXEL_SIZE}, else "
          f"{DEFAULT_PIXEL_SIZE})", low=1, nullable=True),
    Param("pair_embedding", str, "image+text", "image–text pairs: the graph's vectors: image+text (both towers, "
          "concatenated: the reference DataComp setting), image or text", choices=PAIR_EMBEDDINGS),
    Param("from_scratch", bool, False, "images: train --model from its config with random weights (as the reference "
          "CIFAR runs train ResNet-18) instead of fine-tuning its pretrained weights"),
)


@dataclass(frozen=True)
class VisionOptions:
    """The image options of a prune (defaults: ``VISION_PARAMS``; the image column is a column
    option, ``ColumnOptions.image``)."""

    pixel_size: int | None = VISION_PARAMS["pixel_size"].default
    pair_embedding: str = VISION_PARAMS["pair_embedding"].default
    from_scratch: bool = VISION_PARAMS["from_scratch"].default


# ----------------------------------------------------------------------------------- reading


class UnreadableImageError(ValueError):
    """One row's image cannot be read; the message names the row, the column and the fix."""


def describe_image_problem(value: Any, *, decode: bool) -> str | None:
    """Why ``value`` (a ``datasets.Image`` cell, bytes or a path) is not a readable image, or
    None when it is. ``decode=False`` opens only the header (fast); True decodes the pixels."""
    try:
        image = open_image(value)
        if decode:
            image.load()
        else:
            image.close()
    except _Missing as problem:
        return str(problem)
    except Exception as error:  # noqa: BLE001 - PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
        return _reason(error)
    return None


def _reason(error: Exception) -> str:
    """One line: the error's type and message, without PIL's ``<_io.BytesIO object at 0x...>``."""
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(error))
    return f"{type(error).__name__}: {' '.join(text.split())}"


class _Missing(Exception):
    pass


def open_image(value: Any):
    """A PIL image, lazily opened (header read, pixels not yet decoded), from a ``datasets.Image``
    cell ({"bytes", "path"}), raw bytes or a file path. Raises on a missing or unreadable one."""
    from PIL import Image  # noqa: PLC0415 - Pillow comes with datasets' Image feature

    if value is None:
        raise _Missing("no image (the value is missing)")
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data, path = bytes(value), None
    elif isinstance(value, str):
        data, path = None, value
    else:
        raise _Missing(f"a {type(value).__name__}, not an image or an image path")
    if data is None:
        if not path:
            raise _Missing("no image (neither bytes nor a path)")
        if path.startswith(("http://", "https://")):
            raise _Missing(f"'{path}' is a URL; download the images first (e.g. with img2dataset) and give local paths")
        if not os.path.exists(path):
            raise _Missing(f"file not found: '{path}' (relative paths are read from the current directory)")
        return Image.open(path)
    return Image.open(io.BytesIO(data))


class ImageReader:
    """Reads the images of ``column`` at given row positions of ``dataset``, decoded and converted
    to ``mode`` (None = as stored), straight from Arrow: nothing else is decoded or held.

    ``reader(positions)`` -> list of PIL images, in the order of ``positions``. A row that cannot
    be read raises ``UnreadableImageError`` naming the row (its position in ``dataset``)."""

    def __init__(self, dataset: Any, column: str, mode: str | None = None) -> None:
        self.rows = dataset.select_columns([column]).with_format("arrow")
        self.column = column
        self.mode = mode

    def __len__(self) -> int:
        return len(self.rows)

    def values(self, positions: Sequence[int]) -> list[Any]:
        positions = [int(p) for p in positions]
        if positions and positions == list(range(positions[0], positions[0] + len(positions))):
            table = self.rows[positions[0]:positions[0] + len(positions)]
        else:
            table = self.rows[positions]
        return table.column(self.column).to_pylist()

    def __call__(self, positions: Sequence[int]) -> list[Any]:
        images = []
        for position, value in zip(positions, self.values(positions)):
            try:
                image = open_image(value)
                image.load()
            except Exception as error:  # noqa: BLE001 - one message for every way an image fails
                reason = str(error) if isinstance(error, _Missing) else _reason(error)
                raise UnreadableImageError(
                    f"Row {int(position)} of column '{self.column}': cannot read the image ({' '.join(reason.split())}); "
                    "fix or remove that row.") from None
            images.append(image.convert(self.mode) if self.mode and image.mode != self.mode else image)
        return images


def check_images(dataset: Any, column: str, *, drop_empty: bool, row_ids: np.ndarray | None = None,
                 verify_max_rows: int | None = None) -> np.ndarray:
    """The run plan's image check: (m,) int64 positions of the rows to keep.

    Every row must have an image (not None, an existing file for a path); up to
    ``verify_max_rows`` rows (default ``IMAGE_VERIFY_MAX_ROWS``) each image's header is also
    opened, so an unreadable file fails here, before any model loads (beyond that, at first read,
    naming the row). Without ``drop_empty`` a bad row is an error naming the column, the first
    rows (source row ids when ``row_ids`` is given) and the fix; with it those rows are dropped."""
    limit = IMAGE_VERIFY_MAX_ROWS if verify_max_rows is None else verify_max_rows
    verify = dataset.num_rows <= limit
    reader = ImageReader(dataset, column)
    bad: list[tuple[int, str]] = []
    for start in range(0, dataset.num_rows, CHECK_BATCH_ROWS):
        positions = range(start, min(start + CHECK_BATCH_ROWS, dataset.num_rows))
        for position, value in zip(positions, reader.values(positions)):
            problem = describe_image_problem(value, decode=False) if verify else _presence_problem(value)
            if problem is not None:
                bad.append((position, problem))
    keep = np.ones(dataset.num_rows, dtype=bool)
    if bad and not drop_empty:
        ids = [int(row_ids[p]) if row_ids is not None else p for p, _ in bad]
        preview = ", ".join(str(i) for i in ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise InvalidParameterError(
            "drop_empty", f"Column '{column}' has {len(bad)} missing or unreadable image(s) (rows {preview}; row "
            f"{ids[0]}: {bad[0][1]}); fix or remove them, or pass {{on}} to drop those rows.")
    if bad:
        keep[[p for p, _ in bad]] = False
        logger.info("Dropped %d row(s) with a missing or unreadable image in column %s (--drop-empty).", len(bad), column)
    return np.flatnonzero(keep).astype(np.int64)


def _presence_problem(value: Any) -> str | None:
    """Why ``value`` has no image (None, no bytes and no path, a URL, a missing file), without
    opening it; None when an image is there to read."""
    if value is None:
        return "no image (the value is missing)"
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return None
        path = value.get("path")
        if not path:
            return "no image (neither bytes nor a path)"
    elif isinstance(value, str):
        path = value
    else:
        return None
    if path.startswith(("http://", "https://")):
        return f"'{path}' is a URL; download the images first and give local paths"
    return None if os.path.exists(path) else f"file not found: '{path}'"


# ---------------------------------------------------------------------------------- encoders


def resolve_image_embedding_model(model: str | None) -> str:
    """The image encoder to load: ``model``, or the default CLIP ViT-B/32; ``pixels`` when no
    model is named and the Hub is unreachable (logged). Bare sentence-transformers CLIP names
    (``clip-ViT-B-32``) get their ``sentence-transformers/`` prefix."""
    if model is None:
        reason = hub_offline_reason()
        if reason:
            logger.info("Embedding images with 'pixels' (each image resized, scaled to [0, 1], flattened; no download): "
                        "Hub %s. Pass --embedding-model with a local CLIP or ViT folder for learned features.", reason)
            return PIXELS
        return DEFAULT_IMAGE_EMBEDDING_MODEL
    if "/" not in model and model.lower().startswith("clip-vit") and not Path(model).exists():
        return "sentence-transformers/" + model
    return model


def encoder_kind(model: str) -> str:
    """"pixels", "sentence-transformers", "clip" (a transformers CLIP) or "transformers" (any other
    vision model, through AutoModel). A local folder is read; a Hub id other than a
    sentence-transformers one is asked for its config (from the Hub or its cache)."""
    if model == PIXELS:
        return PIXELS
    folder = Path(model).expanduser()
    if folder.is_dir():
        if (folder / "modules.json").exists():
            return "sentence-transformers"
        config = folder / "config.json"
        if not config.exists():
            raise ValueError(f"'{model}' is a folder without config.json or modules.json; pass a transformers or "
                             "sentence-transformers model folder, or --embedding-model pixels.")
        return "clip" if json.loads(config.read_text()).get("model_type") == "clip" else "transformers"
    if model.startswith("sentence-transformers/"):
        return "sentence-transformers"
    from transformers import AutoConfig  # noqa: PLC0415

    try:
        model_type = AutoConfig.from_pretrained(model).model_type
    except Exception as error:  # noqa: BLE001 - offline and uncached, unknown id: one answer
        raise ValueError(f"Cannot resolve the image encoder {model!r} ({type(error).__name__}: not a local folder, not in "
                         "the Hub cache, or the Hub is unreachable); pass a local model folder, or --embedding-model "
                         "pixels.") from None
    return "clip" if model_type == "clip" else "transformers"


def has_text_tower(model: str) -> bool:
    """True when ``model`` embeds captions in the same space as images (a CLIP model)."""
    kind = encoder_kind(model)
    if kind == "clip":
        return True
    if kind != "sentence-transformers":
        return False
    modules = Path(model).expanduser() / "modules.json"
    if modules.exists():
        return "CLIPModel" in modules.read_text()
    return "clip" in model.lower()


def encoder_revision(model: str) -> str:
    """What identifies the encoder (``hf_d2.models.model_revision``, plus the image processor's
    settings for a local folder: ``processor_digest``; a version tag for ``pixels``)."""
    if model == PIXELS:
        return "hf-d2-pixels-1"
    from hf_d2.models import model_revision  # noqa: PLC0415

    digest = processor_digest(model)
    return model_revision(model) + (f"+processor:{digest}" if digest else "")


def processor_digest(model: str) -> str | None:
    """sha256 (16 hex) of a local folder's preprocessor_config.json (the image size, crop and
    normalisation that shape every input), None for a Hub id (its commit covers it) or a folder
    without one."""
    import hashlib  # noqa: PLC0415

    config = Path(model).expanduser() / "preprocessor_config.json"
    if not config.is_file():
        return None
    return hashlib.sha256(json.dumps(json.loads(config.read_text()), sort_keys=True).encode()).hexdigest()[:16]


class PixelEncoder:
    """The ``pixels`` encoder: (b, size² · channels) float32 in [0, 1] (see the module docstring).
    ``mode``: "L" or "RGB"; ``size``: the square's side in pixels."""

    def __init__(self, size: int, mode: str) -> None:
        self.size, self.mode = int(size), mode

    @classmethod
    def for_first_image(cls, image: Any, pixel_size: int | None) -> PixelEncoder:
        """Mode and size from the dataset's first image (the rule of ``pixel_size``'s help)."""
        mode = "L" if image.mode in GRAY_MODES else "RGB"
        if pixel_size is None:
            width, height = image.size
            pixel_size = width if width == height and width <= DEFAULT_PIXEL_SIZE else DEFAULT_PIXEL_SIZE
        return cls(pixel_size, mode)

    def images(self, images: list[Any]) -> np.ndarray:
        from PIL import Image  # noqa: PLC0415

        rows = []
        for image in images:
            image = image.convert(self.mode) if image.mode != self.mode else image
            if image.size != (self.size, self.size):
                image = image.resize((self.size, self.size), Image.BILINEAR)
            rows.append(np.asarray(image, dtype=np.float32).reshape(-1) / 255.0)
        return np.stack(rows)


class _SentenceTransformerEncoder:
    def __init__(self, path: str, device: str | None, max_length: int | None) -> None:
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415

        self.model = SentenceTransformer(path, device=device)
        self.max_length = max_length

    def images(self, images: list[Any]) -> np.ndarray:
        return self.model.encode([image.convert("RGB") for image in images], batch_size=max(1, len(images)),
                                 convert_to_numpy=True, show_progress_bar=False).astype(np.float32)

    def texts(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=max(1, len(texts)), convert_to_numpy=True,
                                 show_progress_bar=False).astype(np.float32)


class _TransformersEncoder:
    """A transformers vision model (and, for CLIP, its text tower) in eval mode."""

    def __init__(self, path: str, device: str | None, max_length: int | None, clip: bool) -> None:
        import torch  # noqa: PLC0415
        from transformers import AutoImageProcessor, AutoModel  # noqa: PLC0415

        self.device = torch.device(device or "cpu")
        self.clip = clip
        self.processor = AutoImageProcessor.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval()
        self.tokenizer = None
        self.max_length = max_length
        if clip:
            from transformers import AutoTokenizer  # noqa: PLC0415

            self.tokenizer = AutoTokenizer.from_pretrained(path)
            limit = getattr(self.model.config.text_config, "max_position_embeddings", None)
            self.max_length = min(max_length or limit or 77, limit or 77)

    def images(self, images: list[Any]) -> np.ndarray:
        import torch  # noqa: PLC0415

        pixel_values = self.processor(images=[image.convert("RGB") for image in images],
                                      return_tensors="pt")["pixel_values"].to(self.device)
        with torch.no_grad():
            if self.clip:
                return _features(self.model.get_image_features(pixel_values=pixel_values))
            return pooled_features(self.model(pixel_values=pixel_values))

    def texts(self, texts: list[str]) -> np.ndarray:
        import torch  # noqa: PLC0415

        encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        encoded = {name: tensor.to(self.device) for name, tensor in encoded.items() if name in ("input_ids",
                                                                                                "attention_mask")}
        with torch.no_grad():
            return _features(self.model.get_text_features(**encoded))


def _features(output: Any) -> np.ndarray:
    """CLIP's projected features: a tensor (transformers 4) or an output's ``pooler_output`` (5)."""
    tensor = output if hasattr(output, "detach") else output.pooler_output
    return tensor.detach().float().cpu().numpy()


def pooled_features(output: Any) -> np.ndarray:
    """(b, d) float32 from a transformers vision model's output: a transformer's first token
    ([CLS]) of the last hidden state (b, T, d), after the model's final norm; a CNN's
    ``pooler_output`` (its global average pool), or the spatial mean of (b, C, H, W). A
    transformer's ``pooler_output`` is not used: many checkpoints (those saved from an image
    classifier) do not hold its weights, and it would be freshly random on every load."""
    hidden = output.last_hidden_state
    if hidden.ndim == 3:
        return hidden[:, 0].detach().float().cpu().numpy()
    pooled = getattr(output, "pooler_output", None)
    pooled = pooled.reshape(pooled.shape[0], -1) if pooled is not None else hidden.mean(dim=(2, 3))
    return pooled.detach().float().cpu().numpy()


def load_encoder(model: str, *, device: str | None = None, max_length: int | None = None,
                 first_image: Any = None, pixel_size: int | None = None) -> Any:
    """The encoder of ``model`` (see the module docstring); ``first_image`` sets the pixels
    encoder's mode and size."""
    kind = encoder_kind(model)
    if kind == PIXELS:
        return PixelEncoder.for_first_image(first_image, pixel_size)
    if kind == "sentence-transformers":
        return _SentenceTransformerEncoder(model, device, max_length)
    return _TransformersEncoder(model, device, max_length, clip=kind == "clip")


# --------------------------------------------------------------------------------- embedding


def embed_images(dataset: Any, image_column: str, *, model: str | None = None, batch_size: int = 64,
                 normalize: bool = True, pixel_size: int | None = None, device: str | None = None,
                 cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
                 show_progress: bool | None = None):
    """Embeds the image of every row; returns an ``hf_d2.embed.EmbeddingResult`` with (n, d)
    float32 in row order (unit L2 norm with ``normalize``).

    model: see ``resolve_image_embedding_model`` (None = CLIP ViT-B/32, or ``pixels`` offline).
    Images are decoded batch by batch; data-parallel under ``accelerate launch`` (contiguous
    shards gathered in rank order). Cached under ``cache_dir`` keyed by the image column's
    content (the bytes, or the paths of a path column), the encoder and its revision,
    ``pixel_size`` and ``normalize``."""
    reader = ImageReader(dataset, image_column)
    fields = _image_fields(reader, resolve_image_embedding_model(model), pixel_size)

    def encode(encoder: Any, positions: np.ndarray) -> np.ndarray:
        return encoder.images(reader(positions))

    return _embed_column(dataset, image_column, fields, encode, batch_size=batch_size, normalize=normalize,
                         device=device, cache_dir=cache_dir, use_cache=use_cache, show_progress=show_progress,
                         first=lambda: reader([0])[0])


def embed_captions(dataset: Any, text_column: str, *, model: str | None = None, batch_size: int = 64,
                   max_length: int | None = None, normalize: bool = True, device: str | None = None,
                   cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
                   show_progress: bool | None = None):
    """Embeds every row's caption with the text tower of the image encoder ``model`` (a CLIP);
    returns an ``EmbeddingResult`` (n, d) float32 in row order. With the ``pixels`` stand-in
    (no text tower) the captions are embedded by the text path (``hf_d2.embed``: all-MiniLM-L6-v2,
    the bundled copy offline), so an offline image–text prune still sees both sides."""
    model = resolve_image_embedding_model(model)
    if model == PIXELS:
        from hf_d2.embed import compute_embeddings  # noqa: PLC0415

        return compute_embeddings(dataset, text_column, model=None, batch_size=batch_size, max_length=max_length,
                                  normalize=normalize, device=device, cache_dir=cache_dir, use_cache=use_cache,
                                  show_progress=show_progress)
    if not has_text_tower(model):
        raise InvalidParameterError("pair_embedding", f"The image encoder {model!r} has no text tower, so it cannot embed "
                                    "the captions; pass {param:embedding_model} with a CLIP model, or {set}image.")
    texts_of = dataset.select_columns([text_column])

    def encode(encoder: Any, positions: np.ndarray) -> np.ndarray:
        texts = texts_of[int(positions[0]):int(positions[-1]) + 1][text_column]
        return encoder.texts(["" if text is None else str(text) for text in texts])

    return _embed_column(dataset, text_column, _caption_fields(model, max_length), encode, batch_size=batch_size,
                         normalize=normalize, device=device, cache_dir=cache_dir, use_cache=use_cache,
                         show_progress=show_progress)


def _image_fields(reader: ImageReader, model: str, pixel_size: int | None) -> dict[str, Any]:
    """What identifies an image embedding besides the rows: the encoder and, for pixels, the
    side it resizes to (read from the first image when not given)."""
    kind = encoder_kind(model)
    size = PixelEncoder.for_first_image(reader([0])[0], pixel_size).size if kind == PIXELS else None
    return {"tower": "image", "model": model, "kind": kind, "pixel_size": size, "max_length": None}


def _caption_fields(model: str, max_length: int | None) -> dict[str, Any]:
    return {"tower": "text", "model": model, "kind": encoder_kind(model), "pixel_size": None, "max_length": max_length}


def _cache_entry(dataset: Any, column: str, fields: dict[str, Any], normalize: bool, cache_dir: Any):
    """(cache file, key, encoder revision) of one tower's embeddings."""
    from hf_d2.cache import cache_key, rows_hash, stage_path  # noqa: PLC0415

    revision = encoder_revision(fields["model"])
    key = cache_key({"stage": "embed", "rows": rows_hash(dataset, [column]), **fields, "revision": revision,
                     "normalize": normalize, "format": 1})
    return stage_path(cache_dir, "embeddings", key, ".npy"), key, revision


def _embed_column(dataset: Any, column: str, fields: dict[str, Any], encode: Callable[[Any, np.ndarray], np.ndarray],
                  *, batch_size: int, normalize: bool, device: str | None, cache_dir: Any, use_cache: bool,
                  show_progress: bool | None, first: Callable[[], Any] | None = None):
    from hf_d2._validation import check_positive_int  # noqa: PLC0415
    from hf_d2.cache import load_array, save_array  # noqa: PLC0415
    from hf_d2.embed import EmbeddingResult  # noqa: PLC0415

    if dataset.num_rows == 0:
        raise ValueError("The dataset is empty (0 rows): there is nothing to embed.")
    batch_size = check_positive_int("batch_size", batch_size)
    path, key, revision = _cache_entry(dataset, column, fields, normalize, cache_dir)
    metadata = {"model": fields["model"], "revision": revision, "source": fields["kind"], "tower": fields["tower"],
                "normalize": normalize, "cache_key": key, "num_rows": dataset.num_rows,
                "pixel_size": fields["pixel_size"]}
    cached = load_array(path) if use_cache else None
    if cached is not None:
        logger.info("Embeddings (%ss): cache hit (%s).", fields["tower"], path.name)
        return EmbeddingResult(cached[0], {**cached[1], "cache_key": key}, from_cache=True)
    from accelerate import PartialState  # noqa: PLC0415

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
    from tqdm.auto import tqdm  # noqa: PLC0415

    bounds = np.linspace(0, num_rows, state.num_processes + 1).astype(int)
    low, high = int(bounds[state.process_index]), int(bounds[state.process_index + 1])
    if show_progress is None:
        show_progress = state.is_main_process and not os.environ.get("HF_D2_DISABLE_PROGRESS")
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
    from accelerate.utils import gather_object  # noqa: PLC0415

    return np.concatenate(gather_object([vectors]), axis=0)


def combine_pair(image: np.ndarray, text: np.ndarray) -> np.ndarray:
    """(n, d_image + d_text) float32: unit image and text vectors side by side, scaled by 1/√2 so
    each row has unit length again (squared distances add: image part + text part, halved)."""
    return (np.concatenate([image, text], axis=1) / math.sqrt(2.0)).astype(np.float32)


def clip_scores(image: np.ndarray, text: np.ndarray) -> np.ndarray:
    """(n,) float64 CLIP score of each pair: the cosine of its image and caption vectors (both
    (n, d) from one CLIP model), in [−1, 1]; higher = better aligned."""
    image = np.asarray(image, dtype=np.float64)
    text = np.asarray(text, dtype=np.float64)
    norms = np.maximum(np.linalg.norm(image, axis=1) * np.linalg.norm(text, axis=1), 1e-12)
    return np.einsum("ij,ij->i", image, text) / norms


@dataclass
class PlanEmbeddings:
    """The image stage of a plan: ``result`` (the graph's vectors, an ``EmbeddingResult``) and,
    for image–text pairs, the image and caption results it was built from."""

    result: Any
    image: Any = None
    text: Any = None


def embed_for_plan(dataset: Any, columns: Any, embedding: Any, vision: VisionOptions, *, cache_dir: Any,
                   use_cache: bool, towers: str | None = None) -> PlanEmbeddings:
    """The vectors of an image dataset for the graph: the image embeddings, or for image–text
    pairs what ``vision.pair_embedding`` (or ``towers``) says. ``columns``: the plan's columns
    (``image``, and ``text`` = the caption); ``embedding``: the plan's ``EmbeddingOptions``."""
    from hf_d2.embed import EmbeddingResult  # noqa: PLC0415

    mode = towers or (vision.pair_embedding if columns.text is not None else "image")
    model = resolve_image_embedding_model(embedding.model)  # once: the offline fallback is logged once
    image = text = None
    if mode in ("image", "image+text"):
        image = embed_images(dataset, columns.image, model=model, batch_size=embedding.batch_size,
                             pixel_size=vision.pixel_size, cache_dir=cache_dir, use_cache=use_cache)
    if mode in ("text", "image+text"):
        text = embed_captions(dataset, columns.text, model=model, batch_size=embedding.batch_size,
                              max_length=embedding.max_length, cache_dir=cache_dir, use_cache=use_cache)
    if mode == "image":
        return PlanEmbeddings(image, image=image)
    if mode == "text":
        return PlanEmbeddings(text, text=text)
    from hf_d2.cache import cache_key  # noqa: PLC0415

    models = image.metadata["model"] if image.metadata["model"] == text.metadata["model"] else (
        f"{image.metadata['model']} (images) + {text.metadata['model']} (captions)")
    metadata = {"model": models, "revision": image.metadata.get("revision"), "source": image.metadata.get("source"),
                "tower": "image+text", "cache_key": cache_key({"pair": [image.metadata["cache_key"],
                                                                       text.metadata["cache_key"]]})}
    vectors = combine_pair(image.embeddings, text.embeddings)
    metadata["dimensions"] = int(vectors.shape[1])
    combined = EmbeddingResult(vectors, metadata, from_cache=image.from_cache and text.from_cache)
    return PlanEmbeddings(combined, image=image, text=text)


def plan_clip_scores(dataset: Any, columns: Any, embedding: Any, *, cache_dir: Any, use_cache: bool,
                     towers: PlanEmbeddings | None = None) -> tuple[np.ndarray, dict[str, Any], bool]:
    """(scores (n,) float64, higher = better aligned; the CLIP model's image metadata; whether
    both towers came from the cache) of a plan's image–text pairs, reusing the image and caption
    embeddings of ``towers`` when it has both."""
    model = resolve_image_embedding_model(embedding.model)
    if model == PIXELS or not has_text_tower(model):
        raise InvalidParameterError("embedding_model", f"The CLIP score needs a CLIP model (an image and a text tower in "
                                    f"one space); {model!r} is not one. Pass {{set}}MODEL with a CLIP model or folder, "
                                    "or give the score with {param:score_column}.")
    if towers is None or towers.image is None or towers.text is None:
        towers = embed_for_plan(dataset, columns, embedding, VisionOptions(), cache_dir=cache_dir, use_cache=use_cache,
                                towers="image+text")
    image, text = towers.image, towers.text
    return clip_scores(image.embeddings, text.embeddings), image.metadata, image.from_cache and text.from_cache


def embedding_cache_hit(dataset: Any, columns: Any, embedding: Any, vision: VisionOptions, *,
                        cache_dir: Any) -> tuple[str, bool]:
    """(the encoder as the dry run names it, whether every tower the graph needs is cached),
    without loading a model."""
    from hf_d2.embed import embedding_cache_status  # noqa: PLC0415

    model = resolve_image_embedding_model(embedding.model)
    mode = vision.pair_embedding if columns.text is not None else "image"
    hits = []
    if mode in ("image", "image+text"):
        fields = _image_fields(ImageReader(dataset, columns.image), model, vision.pixel_size)
        path, _, _ = _cache_entry(dataset, columns.image, fields, True, cache_dir)
        hits.append(path.exists() and path.with_suffix(".json").exists())
    if mode in ("text", "image+text"):
        if model == PIXELS:
            hits.append(embedding_cache_status(dataset, columns.text, cache_dir=cache_dir,
                                               max_length=embedding.max_length))
        else:
            path, _, _ = _cache_entry(dataset, columns.text, _caption_fields(model, embedding.max_length), True,
                                      cache_dir)
            hits.append(path.exists() and path.with_suffix(".json").exists())
    return f"{model} ({mode})", all(hits)


# ----------------------------------------------------------------------------- the run plan


def image_text_difficulty(options: Any, columns: Any, needs: Any) -> Any:
    """``options`` with the CLIP score as the difficulty source when the run computes a difficulty
    from the default source (the head) for image–text pairs without labels (or label-free):
    pairs are pruned by how well caption and image agree (logged). Any other case: unchanged."""
    from dataclasses import replace  # noqa: PLC0415

    difficulty = options.difficulty
    if not (columns.modality == "image-text" and needs.difficulty and difficulty.source == "head"
            and (columns.label is None or difficulty.label_free)):
        return options
    logger.info("Image–text pairs without labels: the difficulty is the CLIP score (cosine of the image and caption "
                "embeddings; higher = better aligned, kept first). --score-column gives one, --difficulty-source "
                "prototypicality another label-free score.")
    return options.replace(difficulty=replace(difficulty, source="clip_score"))


def check_vision_plan(options: Any, columns: Any, needs: Any) -> None:
    """The image options against the data, before any model loads (``hf_d2.plan``): the CLIP score
    needs image–text pairs and a CLIP model, ``pixels`` needs images, a fine-tuned image
    classifier needs a loadable model. Raises ``InvalidParameterError`` naming the option."""
    embedding, difficulty = options.embedding, options.difficulty
    computes_vectors = needs.embeddings and embedding.source != "classifier"
    clip = needs.difficulty and difficulty.source == "clip_score"
    if columns.image is None:
        if clip:
            raise InvalidParameterError("difficulty_source", "{name} clip_score scores image–text pairs; this dataset has "
                                        "no image column (name it with {param:image_column}).")
        if computes_vectors and embedding.model == PIXELS:
            raise InvalidParameterError("embedding_model", "{name} pixels embeds images; this dataset has no image "
                                        "column (name it with {param:image_column}, or drop {name}).")
        return
    if clip and columns.text is None:
        raise InvalidParameterError("difficulty_source", "{name} clip_score compares each image with its caption; no "
                                    "caption column was found: name it with {param:text_column}.")
    if computes_vectors and columns.text is None and options.vision.pair_embedding == "text":
        raise InvalidParameterError("pair_embedding", "{name} text embeds the captions; no caption column was found: "
                                    "name it with {param:text_column}, or {set}image.")
    if (computes_vectors or clip) and embedding.model is not None:
        problem = _offline_hub_problem(resolve_image_embedding_model(embedding.model))
        if problem:
            raise InvalidParameterError("embedding_model", f"The image encoder {embedding.model} {problem}; pass {{set}}"
                                        "FOLDER with a local CLIP or ViT folder, or {set}pixels (no download).")
    if clip:
        problem = _clip_model_problem(embedding.model)
        if problem:
            raise InvalidParameterError("embedding_model", f"The CLIP score needs a CLIP model (an image and a text tower "
                                        f"in one space), but {problem}. Pass {{set}}MODEL with a local CLIP folder, give "
                                        "the score with {param:score_column}, or use {param:difficulty_source} "
                                        "prototypicality.")
    if needs.difficulty and difficulty.source == "finetune":
        model = difficulty.training.model
        problem = ("bundled-minilm is a text model" if model == "bundled-minilm" else image_model_problem(model))
        if problem:
            raise InvalidParameterError("model", f"Fine-tuning an image classifier, but {problem}. Pass {{set}}FOLDER "
                                        "with a local AutoModelForImageClassification folder and its image processor, "
                                        "or use {param:difficulty_source} head (seconds, on the embeddings).")


def _clip_model_problem(model: str | None) -> str | None:
    """Why the embedding model cannot give CLIP scores, judged without loading it (None: it can,
    or it is a Hub id this check cannot open)."""
    if model is None:
        problem = _offline_hub_problem(DEFAULT_IMAGE_EMBEDDING_MODEL)
        return None if problem is None else f"the default {DEFAULT_IMAGE_EMBEDDING_MODEL} {problem}"
    if model == PIXELS:
        return "pixels has no text tower"
    if Path(model).expanduser().is_dir():
        try:
            return None if has_text_tower(model) else f"'{model}' is not a CLIP model"
        except ValueError as error:
            return str(error).rstrip(".")
    return None


# ------------------------------------------------------------------------------ fine-tuning


@dataclass(frozen=True)
class ImageRows:
    """The trainer's rows for images (what ``tokenize_rows`` makes for text): ``dataset``'s
    ``column`` and the encoded labels ``label_ids`` (n,) int64; a row's index is its position.
    ``pixel_values(positions, processor)`` -> (b, 3, H, W) float32 tensor of those rows only."""

    dataset: Any
    column: str
    label_ids: np.ndarray
    is_image_rows = True  # what the trainer checks (recorder.BatchCollator, training.start_training)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_reader", ImageReader(self.dataset, self.column, mode="RGB"))

    def __len__(self) -> int:
        return int(self.dataset.num_rows)

    def pixel_values(self, positions: np.ndarray, processor: Any) -> Any:
        return processor(images=self._reader(positions), return_tensors="pt")["pixel_values"]


def load_image_processor(path: str, revision: str | None = None) -> Any:
    """The model's image processor (``AutoImageProcessor``); a folder without one is an error
    naming the file it needs."""
    from transformers import AutoImageProcessor  # noqa: PLC0415

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
    from transformers import AutoConfig, AutoModelForImageClassification  # noqa: PLC0415

    labels = {"num_labels": len(label_names), "id2label": dict(enumerate(label_names)),
              "label2id": {name: position for position, name in enumerate(label_names)}}
    if from_scratch:
        config = AutoConfig.from_pretrained(model_path, revision=revision, **labels)
        return AutoModelForImageClassification.from_config(config)
    return AutoModelForImageClassification.from_pretrained(model_path, revision=revision, ignore_mismatched_sizes=True,
                                                           **labels)


def image_model_problem(model: str | None) -> str | None:
    """Why the classifier ``model`` (None = the default ResNet-18) cannot be fine-tuned here,
    checked before any model loads: the Hub unreachable for a Hub id not in the local cache, or
    a folder without config.json / preprocessor_config.json. None when it looks loadable."""
    name = model or DEFAULT_IMAGE_CLASSIFIER
    folder = Path(name).expanduser()
    if folder.is_dir():
        missing = [file for file in ("config.json", "preprocessor_config.json") if not (folder / file).exists()]
        return f"the folder '{name}' has no {' or '.join(missing)}" if missing else None
    problem = _offline_hub_problem(name)
    return None if problem is None else f"the image classifier {name}{' (the default)' if model is None else ''} {problem}"


def _offline_hub_problem(name: str) -> str | None:
    """"is on the Hub, which is not reachable (...)" for a Hub id the Hub cannot serve now and
    the local cache does not hold; None for a folder, ``pixels``, a cached or a reachable id."""
    if name == PIXELS or Path(name).expanduser().is_dir():
        return None
    reason = hub_offline_reason()
    if reason is None or _in_hub_cache(name):
        return None
    return f"is on the Hub, which is not reachable ({reason})"


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415

        return any(isinstance(try_to_load_from_cache(repo_id, file), str) for file in ("config.json", "modules.json"))
    except Exception:  # noqa: BLE001 - an invalid id is simply not cached
        return False


__all__ = [
    "DEFAULT_IMAGE_CLASSIFIER", "DEFAULT_IMAGE_EMBEDDING_MODEL", "PAIR_EMBEDDINGS", "PIXELS", "VISION_PARAMS",
    "ImageReader", "ImageRows", "PixelEncoder", "PlanEmbeddings", "UnreadableImageError", "VisionOptions",
    "check_images", "clip_scores", "combine_pair", "embed_captions", "embed_for_plan", "embed_images",
    "encoder_kind", "has_text_tower", "image_model_problem", "load_encoder", "load_image_classifier",
    "load_image_processor", "open_image", "plan_clip_scores", "pooled_features", "resolve_image_embedding_model",
]
