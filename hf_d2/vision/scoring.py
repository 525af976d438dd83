"""The CLIP score of image–text pairs: the cosine of a pair's image and caption embeddings under
one CLIP model, in [−1, 1]; higher = better aligned. hf-d2 passes it to D2 unchanged as the score
D2 favours (so D2 keeps well-aligned pairs first and spreads them over the embedding space), as
the authors' ``select_d2_datacomp.py`` does with DataComp's ``clip_l14_similarity_score``.
Negating it (difficulty = 1 − score) would make D2 keep the worst-aligned pairs. The pre-filter,
which drops the rows with the highest pre-filter score, reads the negated CLIP score: it drops the
worst-aligned pairs first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_d2._validation import InvalidParameterError
from hf_d2.vision.embedding import PlanEmbeddings, TowerEntries, embed_for_plan
from hf_d2.vision.encoders import has_text_tower, resolve_image_embedding_model
from hf_d2.vision.settings import PIXELS, VisionOptions


def clip_scores(image: np.ndarray, text: np.ndarray) -> np.ndarray:
    """(n,) float64 CLIP score of each pair: the cosine of its image and caption vectors (both
    (n, d) from one CLIP model), in [−1, 1]; higher = better aligned."""
    image = np.asarray(image, dtype=np.float64)
    text = np.asarray(text, dtype=np.float64)
    norms = np.maximum(np.linalg.norm(image, axis=1) * np.linalg.norm(text, axis=1), 1e-12)
    return np.einsum("ij,ij->i", image, text) / norms


def plan_clip_scores(dataset: Any, columns: Any, embedding: Any, *, cache_dir: Any, use_cache: bool,
                     towers: PlanEmbeddings | None = None,
                     entries: TowerEntries | None = None) -> tuple[np.ndarray, dict[str, Any], bool]:
    """(scores (n,) float64, higher = better aligned; the CLIP model's image metadata; whether
    both towers came from the cache) of a plan's image–text pairs, reusing the image and caption
    embeddings of ``towers`` when it has both; ``entries``: the plan's cache entries of both towers."""
    model = entries.model if entries is not None else resolve_image_embedding_model(embedding.model)
    if model == PIXELS or not has_text_tower(model):
        raise InvalidParameterError("embedding_model", f"The CLIP score needs a CLIP model (an image and a text tower in "
                                    f"one space); {model!r} is not one. Pass {{set}}MODEL with a CLIP model or folder, "
                                    "or give the score with {param:score_column}.")
    if towers is None or towers.image is None or towers.text is None:
        towers = embed_for_plan(dataset, columns, embedding, VisionOptions(), cache_dir=cache_dir, use_cache=use_cache,
                                towers="image+text", entries=entries)
    image, text = towers.image, towers.text
    return clip_scores(image.embeddings, text.embeddings), image.metadata, image.from_cache and text.from_cache
