"""The model stages of the full pipeline: difficulty (fine-tuning with recorded dynamics) and
embeddings, each cached; plus the dry-run plan (which stages would run, from cache or not, with
rough time and memory estimates)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hf_d2._validation import check_choice
from hf_d2.data import TextColumns

logger = logging.getLogger("hf_d2")

EMBEDDING_SOURCES = ("sentence-transformers", "classifier")
# Rough training throughput (examples per second per device) for the dry-run estimate, measured
# on this project's 2-core CPU machines (MiniLM) and taken as typical single-GPU figures.
TRAIN_EXAMPLES_PER_SECOND = {("minilm", "cpu"): 25.0, ("minilm", "cuda"): 800.0,
                             ("base", "cpu"): 3.0, ("base", "cuda"): 250.0}
EMBED_EXAMPLES_PER_SECOND = {"cpu": 120.0, "cuda": 3000.0}


@dataclass(frozen=True)
class StageSettings:
    """How the model stages run.

    difficulty: score name (see ``hf_d2.difficulty.list_scores()``), oriented higher = harder.
    model: classifier to fine-tune (Hub id or folder; "bundled-minilm"; None = roberta-base, or
        the bundled MiniLM when the Hub is unreachable). embedding_model: sentence-transformers
        model (None = all-MiniLM-L6-v2). embedding_source: "sentence-transformers" or
        "classifier" (the fine-tuned model's last-layer first-token state, as in the paper).
    epochs, batch_size, learning_rate, warmup_ratio, max_length: the fine-tuning recipe
        (reference defaults). cache_dir: stage cache (default $HF_D2_CACHE or ~/.cache/hf_d2).
    """

    difficulty: str = "variability"
    model: str | None = None
    embedding_model: str | None = None
    embedding_source: str = "sentence-transformers"
    epochs: int = 3
    batch_size: int = 8
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.05
    max_length: int = 128
    embedding_batch_size: int = 64
    cache_dir: str | None = None
    load_from_cache_file: bool = True

    def training_arguments(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "warmup_ratio": self.warmup_ratio, "max_length": self.max_length}


@dataclass
class StageOutputs:
    """scores: (n,) difficulty, higher = harder (None when not needed). aum_hardness: (n,)
    −AUM, higher = harder (the pre-filter's score). embeddings: (n, d) float32.
    record: what the selection record stores about the stages. timings: per-stage rows
    (stage, seconds, cache) for the summary table."""

    scores: np.ndarray | None = None
    aum_hardness: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    record: dict[str, Any] = field(default_factory=dict)
    timings: list[dict[str, Any]] = field(default_factory=list)


def run_model_stages(dataset: Any, columns: TextColumns, *, need_difficulty: bool, need_embeddings: bool,
                     settings: StageSettings, seed: int) -> StageOutputs:
    """Runs (or loads from cache) the difficulty and embedding stages the selection needs."""
    from hf_d2.difficulty import compute_difficulty, list_scores  # noqa: PLC0415

    check_choice("embedding_source", settings.embedding_source, EMBEDDING_SOURCES)
    if need_difficulty:
        check_choice("difficulty", settings.difficulty, tuple(list_scores()))
    outputs = StageOutputs(record={"stages": asdict(settings)})
    need_classifier = need_difficulty or (need_embeddings and settings.embedding_source == "classifier")
    if need_classifier:
        started = time.perf_counter()
        result = compute_difficulty(
            dataset, columns.text, columns.label, columns.text_pair, model=settings.model, seed=seed,
            cache_dir=settings.cache_dir, return_embeddings=settings.embedding_source == "classifier",
            use_cache=settings.load_from_cache_file, **settings.training_arguments(),
        )
        outputs.timings.append({"stage": "difficulty", "seconds": time.perf_counter() - started,
                                "cache": "hit" if result.from_cache else "miss"})
        outputs.scores = result.scores(settings.difficulty)
        outputs.aum_hardness = result.scores("aum")
        outputs.record["classifier"] = {"model": result.metadata["model"], "revision": result.metadata["revision"],
                                        "cache_key": result.metadata["cache_key"]}
        outputs.record["difficulty"] = {"score": settings.difficulty, "direction": "higher = harder",
                                        "prefilter_score": "aum (reference probability-margin sum), low = hard"}
        if settings.embedding_source == "classifier" and need_embeddings:
            outputs.embeddings = result.embeddings.astype(np.float32)
            outputs.record["embedder"] = {"model": "fine-tuned classifier, last-layer first token",
                                          "revision": result.metadata["revision"]}
    if need_embeddings and settings.embedding_source == "sentence-transformers":
        from hf_d2.embed import compute_embeddings  # noqa: PLC0415

        started = time.perf_counter()
        embedded = compute_embeddings(dataset, columns.text, columns.text_pair, model=settings.embedding_model,
                                      batch_size=settings.embedding_batch_size, cache_dir=settings.cache_dir,
                                      use_cache=settings.load_from_cache_file)
        outputs.timings.append({"stage": "embed", "seconds": time.perf_counter() - started,
                                "cache": "hit" if embedded.from_cache else "miss"})
        outputs.embeddings = embedded.embeddings
        outputs.record["embedder"] = {"model": embedded.metadata["model"], "revision": embedded.metadata["revision"],
                                      "cache_key": embedded.metadata["cache_key"]}
    return outputs


def plan_model_stages(dataset: Any, columns: TextColumns, *, need_difficulty: bool, need_embeddings: bool,
                      settings: StageSettings, seed: int) -> list[dict[str, Any]]:
    """The stages a run would execute, without running them: one dict per stage with
    ``stage``, ``cache`` ("hit" / "miss" / "off"), and rough ``seconds`` and ``memory_mb``."""
    from hf_d2.difficulty import difficulty_cache_status  # noqa: PLC0415
    from hf_d2.embed import embedding_cache_status  # noqa: PLC0415

    device = _device_kind()
    num_rows = dataset.num_rows
    plan = []
    if need_difficulty or (need_embeddings and settings.embedding_source == "classifier"):
        cached = settings.load_from_cache_file and difficulty_cache_status(
            dataset, columns.text, columns.label, columns.text_pair, model=settings.model, seed=seed,
            cache_dir=settings.cache_dir, **settings.training_arguments())
        size = "minilm" if "minilm" in str(settings.model or "").lower() or _model_is_bundled(settings.model) else "base"
        rate = TRAIN_EXAMPLES_PER_SECOND[(size, device)]
        plan.append({"stage": "difficulty", "cache": _cache_word(cached, settings),
                     "seconds": 0.0 if cached else num_rows * settings.epochs / rate,
                     "memory_mb": 1500 if size == "minilm" else 6000})
    if need_embeddings and settings.embedding_source == "sentence-transformers":
        cached = settings.load_from_cache_file and embedding_cache_status(
            dataset, columns.text, columns.text_pair, model=settings.embedding_model, cache_dir=settings.cache_dir)
        plan.append({"stage": "embed", "cache": _cache_word(cached, settings),
                     "seconds": 0.0 if cached else num_rows / EMBED_EXAMPLES_PER_SECOND[device],
                     "memory_mb": 800 + num_rows * 384 * 4 / 2**20})
    return plan


def _cache_word(cached: bool, settings: StageSettings) -> str:
    if not settings.load_from_cache_file:
        return "off"
    return "hit" if cached else "miss"


def _model_is_bundled(model: str | None) -> bool:
    from hf_d2.data import hub_offline_reason  # noqa: PLC0415

    return model == "bundled-minilm" or (model is None and hub_offline_reason() is not None)


def _device_kind() -> str:
    import torch  # noqa: PLC0415

    return "cuda" if torch.cuda.is_available() else "cpu"
