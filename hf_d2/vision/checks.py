"""The run plan's image rules (``hf_d2.plan``), before any model loads: the options against the
data (``check_vision_plan``), whether a named model can be loaded here (``image_model_problem``),
and the CLIP score as the difficulty of image–text pairs without labels
(``image_text_difficulty``)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from hf_d2._validation import InvalidParameterError
from hf_d2.env import OFFLINE_REASON, hub_offline_reason
from hf_d2.models import BUNDLED_MINILM
from hf_d2.vision.encoders import has_text_tower, resolve_image_embedding_model
from hf_d2.vision.settings import DEFAULT_IMAGE_CLASSIFIER, DEFAULT_IMAGE_EMBEDDING_MODEL, PIXELS

logger = logging.getLogger("hf_d2")


def image_text_difficulty(options: Any, columns: Any, needs: Any) -> Any:
    """``options`` with the CLIP score as the difficulty source when the run computes a difficulty
    from the default source (the head) for image–text pairs without labels (or label-free):
    pairs are pruned by how well caption and image agree (logged). Any other case: unchanged."""
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
        problem = (f"{BUNDLED_MINILM} is a text model" if model == BUNDLED_MINILM else image_model_problem(model))
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
    return "is on the Hub, and offline mode is on" if reason == OFFLINE_REASON else \
        f"is on the Hub, which is not reachable ({reason})"


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415 - reads the environment at import

        return any(isinstance(try_to_load_from_cache(repo_id, file), str) for file in ("config.json", "modules.json"))
    except Exception:  # noqa: BLE001 - an invalid id is simply not cached
        return False
