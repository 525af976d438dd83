"""Time and memory estimates of a run plan's stages, from measured throughput, with each stage's
cache state (what ``hf-d2 prune --dry-run`` prints)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hf_d2.embed import embedding_cache_status
from hf_d2.env import device_kind
from hf_d2.models import model_is_small

# Measured throughput, rows per second, for the time estimates (2-core CPU machine of this
# project, MiniLM; GPU figures are typical single-GPU numbers, not measured here).
THROUGHPUT = {
    ("embed", "cpu"): 120.0, ("embed", "cuda"): 3000.0,
    ("finetune-small", "cpu"): 25.0, ("finetune-small", "cuda"): 800.0,
    ("finetune-base", "cpu"): 3.0, ("finetune-base", "cuda"): 250.0,
    ("head", "cpu"): 40_000.0, ("head", "cuda"): 400_000.0,
    ("select", "cpu"): 500_000.0, ("select", "cuda"): 500_000.0,
    # Images (hf_d2.vision): pixels measured here (digits); the CLIP / fine-tuning figures are
    # typical (CLIP ViT-B/32 at 224 px, ResNet-18 at 32-224 px), not measured on this machine.
    ("embed-pixels", "cpu"): 20_000.0, ("embed-pixels", "cuda"): 20_000.0,
    ("embed-image", "cpu"): 15.0, ("embed-image", "cuda"): 1500.0,
    ("finetune-image", "cpu"): 20.0, ("finetune-image", "cuda"): 2000.0,
}


@dataclass
class StagePlan:
    """One stage as the dry run and the summary show it: what it is, its cache state ("hit",
    "miss", "resume 1/3", "off", "-"), and estimated seconds and memory (MB)."""

    stage: str
    what: str
    cache: str
    seconds: float
    memory_mb: float


def describe_stages(plan: Any) -> list[StagePlan]:
    """The stages of ``plan`` with their cache state and time / memory estimates."""
    options, device, rows = plan.options, device_kind(), plan.num_rows
    stages = []

    def cache_word(state: str) -> str:
        return state if options.use_cache else "off"

    images = plan.text_columns is not None and plan.text_columns.image is not None
    if images and plan.needs.embeddings and options.embedding.source == "sentence-transformers":
        from hf_d2.vision import PIXELS, embedding_cache_hit  # noqa: PLC0415

        what, hit = embedding_cache_hit(plan.stage_dataset, plan.text_columns, options.embedding, options.vision,
                                        cache_dir=options.cache_dir)
        speed = THROUGHPUT[("embed-pixels" if what.startswith(PIXELS) else "embed-image", device)]
        stages.append(StagePlan("embed", f"images: {what}", cache_word("hit" if hit else "miss"),
                                0.0 if hit and options.use_cache else rows / speed, 800 + rows * 512 * 4 / 2**20))
    elif plan.needs.embeddings and options.embedding.source == "sentence-transformers":
        hit = embedding_cache_status(plan.stage_dataset, plan.text_columns.text, plan.text_columns.text_pair,
                                     model=options.embedding.model, max_length=options.embedding.max_length,
                                     cache_dir=options.cache_dir)
        stages.append(StagePlan("embed", f"sentence-transformers {options.embedding.model or 'all-MiniLM-L6-v2'}",
                                cache_word("hit" if hit else "miss"),
                                0.0 if hit and options.use_cache else rows / THROUGHPUT[("embed", device)],
                                800 + rows * 384 * 4 / 2**20))
    if plan.needs.difficulty and options.difficulty.source == "finetune":
        from hf_d2.difficulty.api import difficulty_cache_status  # noqa: PLC0415 - it imports torch

        training = options.difficulty.training
        state = difficulty_cache_status(plan.stage_dataset, plan.text_columns.text, plan.label_column_for_training,
                                        plan.text_columns.text_pair, config=training, cache_dir=options.cache_dir,
                                        image_column=plan.text_columns.image, from_scratch=options.vision.from_scratch,
                                        allow_many_classes=options.difficulty.allow_many_classes)
        size = "finetune-image" if images else "finetune-small" if model_is_small(training.model) else "finetune-base"
        done = int(state.split()[1].split("/")[0]) if state.startswith("resume") else 0
        remaining = 0 if state == "hit" and options.use_cache else training.epochs - done
        stages.append(StagePlan("difficulty", f"fine-tune {training.model or 'the default model'}, "
                                f"{training.epochs} epochs", cache_word(state),
                                rows * remaining / THROUGHPUT[(size, device)], 1500 if size == "finetune-small" else 6000))
    elif plan.needs.difficulty and options.difficulty.source == "clip_score":
        both_towers = plan.needs.embeddings and options.vision.pair_embedding == "image+text"  # the embed stage's
        stages.append(StagePlan("difficulty", "CLIP score of each image–caption pair", cache_word("-"),
                                0.0 if both_towers else rows / THROUGHPUT[("embed-image", device)], 800.0))
    elif plan.needs.difficulty:
        head = options.difficulty.head
        stages.append(StagePlan("difficulty", f"head on the embeddings, {head.epochs} epochs", cache_word("-"),
                                rows * head.epochs / THROUGHPUT[("head", device)], 200 + rows * 1e-3))
    k = plan.settings.params.k if plan.settings.params is not None and hasattr(plan.settings.params, "k") else 0
    stages.append(StagePlan("graph + select", plan.settings.method, "-", 1.0 + rows / THROUGHPUT[("select", device)],
                            rows * (2 * k * 8 + 64) / 2**20))
    return stages
