"""The image options of a prune (``VISION_PARAMS``, ``VisionOptions``) and the names and
defaults the image stages share: the ``pixels`` stand-in, the default encoder and classifier."""

from __future__ import annotations

from dataclasses import dataclass

from hf_d2.params import Param, param_group

PIXELS = "pixels"
DEFAULT_IMAGE_EMBEDDING_MODEL = "sentence-transformers/clip-ViT-B-32"
DEFAULT_IMAGE_CLASSIFIER = "microsoft/resnet-18"
PAIR_EMBEDDINGS = ("image+text", "image", "text")
DEFAULT_PIXEL_SIZE = 32  # the pixels encoder's side when the first image is not a small square

VISION_PARAMS = param_group(
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
