"""Images: reading them lazily, image encoders, the CLIP score of image–text pairs, and the image
classifier the difficulty stage fine-tunes (docs/method.md §6, README "Images and image–text pairs").

The package, by job, each module's docstring saying what it does and why:

- ``settings``: the image options (``VISION_PARAMS``, ``VisionOptions``) and shared defaults;
- ``reading``: images read lazily from a ``datasets.Image`` or path column, and the plan's check;
- ``encoders``: CLIP (sentence-transformers or transformers), any transformers vision model, or
  ``pixels`` (the offline stand-in, no model);
- ``embedding``: every row's image or caption embedded (batched, data-parallel, cached), and the
  graph's vectors of a plan (``pair_embedding`` for image–text pairs);
- ``scoring``: the CLIP score of image–text pairs (higher = better aligned, kept first);
- ``checks``: the run plan's image rules, before any model loads;
- ``finetune``: the trainer's image rows and the image classifier the difficulty stage fine-tunes.
"""

from hf_d2.vision.checks import check_vision_plan, image_model_problem, image_text_difficulty
from hf_d2.vision.embedding import (
    PlanEmbeddings,
    TowerEntries,
    TowerEntry,
    caption_entry,
    combine_pair,
    embed_captions,
    embed_for_plan,
    embed_images,
    graph_towers,
    image_entry,
    tower_entries,
)
from hf_d2.vision.encoders import (
    PixelEncoder,
    encoder_kind,
    encoder_revision,
    has_text_tower,
    load_encoder,
    pooled_features,
    processor_digest,
    resolve_image_embedding_model,
)
from hf_d2.vision.finetune import ImageRows, load_image_classifier, load_image_processor
from hf_d2.vision.reading import (
    ImageReader,
    UnreadableImageError,
    check_images,
    describe_image_problem,
    open_image,
)
from hf_d2.vision.scoring import clip_scores, plan_clip_scores
from hf_d2.vision.settings import (
    DEFAULT_IMAGE_CLASSIFIER,
    DEFAULT_IMAGE_EMBEDDING_MODEL,
    PAIR_EMBEDDINGS,
    PIXELS,
    VISION_PARAMS,
    VisionOptions,
)

__all__ = [
    "DEFAULT_IMAGE_CLASSIFIER", "DEFAULT_IMAGE_EMBEDDING_MODEL", "PAIR_EMBEDDINGS", "PIXELS", "VISION_PARAMS",
    "ImageReader", "ImageRows", "PixelEncoder", "PlanEmbeddings", "TowerEntries", "TowerEntry", "UnreadableImageError",
    "VisionOptions", "caption_entry", "check_images", "check_vision_plan", "clip_scores", "combine_pair",
    "describe_image_problem", "embed_captions", "embed_for_plan", "embed_images", "encoder_kind", "encoder_revision",
    "graph_towers", "has_text_tower", "image_entry", "tower_entries",
    "image_model_problem", "image_text_difficulty", "load_encoder", "load_image_classifier", "load_image_processor",
    "open_image", "plan_clip_scores", "pooled_features", "processor_digest", "resolve_image_embedding_model",
]
