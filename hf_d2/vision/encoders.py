"""Image encoders (``embedding_model``), each mapping a batch of images to (b, d) float32 vectors,
then L2-normalised as the text embeddings are (distances in [0, 2], so D2's kernel widths mean the
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
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from hf_d2.env import hub_offline_reason, why_offline
from hf_d2.models import model_revision
from hf_d2.vision.settings import DEFAULT_IMAGE_EMBEDDING_MODEL, DEFAULT_PIXEL_SIZE, PIXELS

logger = logging.getLogger("hf_d2")

GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P")


def resolve_image_embedding_model(model: str | None) -> str:
    """The image encoder to load: ``model``, or the default CLIP ViT-B/32; ``pixels`` when no
    model is named and the Hub is unreachable (logged). Bare sentence-transformers CLIP names
    (``clip-ViT-B-32``) get their ``sentence-transformers/`` prefix."""
    if model is None:
        reason = hub_offline_reason()
        if reason:
            logger.info("Embedding images with 'pixels' (each image resized, scaled to [0, 1], flattened; no download): "
                        "%s. Pass --embedding-model with a local CLIP or ViT folder for learned features.", why_offline(reason))
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
    from transformers import AutoConfig  # noqa: PLC0415 - transformers is slow to import

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
    digest = processor_digest(model)
    return model_revision(model) + (f"+processor:{digest}" if digest else "")


def processor_digest(model: str) -> str | None:
    """sha256 (16 hex) of a local folder's preprocessor_config.json (the image size, crop and
    normalisation that shape every input), None for a Hub id (its commit covers it) or a folder
    without one."""
    config = Path(model).expanduser() / "preprocessor_config.json"
    if not config.is_file():
        return None
    return hashlib.sha256(json.dumps(json.loads(config.read_text()), sort_keys=True).encode()).hexdigest()[:16]


class PixelEncoder:
    """The ``pixels`` encoder: (b, size² · channels) float32 in [0, 1] (this module's docstring).
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
        from PIL import Image  # noqa: PLC0415 - Pillow comes with datasets' Image feature

        rows = []
        for image in images:
            image = image.convert(self.mode) if image.mode != self.mode else image
            if image.size != (self.size, self.size):
                image = image.resize((self.size, self.size), Image.BILINEAR)
            rows.append(np.asarray(image, dtype=np.float32).reshape(-1) / 255.0)
        return np.stack(rows)


class _SentenceTransformerEncoder:
    def __init__(self, path: str, device: str | None, max_length: int | None) -> None:
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415 - slow to import

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
        import torch  # noqa: PLC0415 - torch is heavy
        from transformers import AutoImageProcessor, AutoModel  # noqa: PLC0415 - transformers is slow to import

        self.device = torch.device(device or "cpu")
        self.clip = clip
        self.processor = AutoImageProcessor.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval()
        self.tokenizer = None
        self.max_length = max_length
        if clip:
            from transformers import AutoTokenizer  # noqa: PLC0415 - transformers is slow to import

            self.tokenizer = AutoTokenizer.from_pretrained(path)
            limit = getattr(self.model.config.text_config, "max_position_embeddings", None)
            self.max_length = min(max_length or limit or 77, limit or 77)

    def images(self, images: list[Any]) -> np.ndarray:
        import torch  # noqa: PLC0415 - torch is heavy

        pixel_values = self.processor(images=[image.convert("RGB") for image in images],
                                      return_tensors="pt")["pixel_values"].to(self.device)
        with torch.no_grad():
            if self.clip:
                return _features(self.model.get_image_features(pixel_values=pixel_values))
            return pooled_features(self.model(pixel_values=pixel_values))

    def texts(self, texts: list[str]) -> np.ndarray:
        import torch  # noqa: PLC0415 - torch is heavy

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
    """The encoder of ``model`` (this module's docstring); ``first_image`` sets the pixels
    encoder's mode and size."""
    kind = encoder_kind(model)
    if kind == PIXELS:
        return PixelEncoder.for_first_image(first_image, pixel_size)
    if kind == "sentence-transformers":
        return _SentenceTransformerEncoder(model, device, max_length)
    return _TransformersEncoder(model, device, max_length, clip=kind == "clip")
