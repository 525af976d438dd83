"""The model stages of a run plan: which run (``stage_needs``) and where each keeps its result in the
stage cache (``stage_keys``), both worked out once, when the plan is made (``hf_d2.plan``).

The entries: the text embeddings (``hf_d2.embed.EmbeddingEntry``), the image and caption towers
(``hf_d2.vision.TowerEntries``), the fine-tuning run (``hf_d2.difficulty.runs.DifficultyRun``) and the
head's dynamics (a path). The stages (``hf_d2.stages``) and the dry run's estimates
(``hf_d2.estimate``) read them from the plan (``plan.keys``); nothing works them out again. A key
that depends on another stage's output is the one exception: a label-free run's head and fine-tuning
train on pseudo-labels drawn from its embeddings, so the stages work those two keys out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_d2.cache import array_digest
from hf_d2.data.columns import TextColumns
from hf_d2.data.labels import EncodedLabels
from hf_d2.difficulty.head import head_cache_path
from hf_d2.difficulty.runs import DifficultyRun, difficulty_run
from hf_d2.embed import EmbeddingEntry, embedding_entry
from hf_d2.env import num_processes
from hf_d2.options import PruneOptions
from hf_d2.selection import Preset
from hf_d2.selection.partition import reads_embeddings
from hf_d2.vision import TowerEntries, graph_towers, tower_entries


@dataclass(frozen=True)
class Needs:
    """Which stages the selection needs: a computed difficulty (no score column covers it),
    computed embeddings, gold labels, and the texts (for a model that reads them; for an image
    dataset, the images and their captions)."""

    difficulty: bool
    embeddings: bool
    labels: bool
    texts: bool


@dataclass(frozen=True)
class StageKeys:
    """The stage-cache entries of a plan's model stages (see the module docstring); None where the
    stage does not run, or, for ``head`` and ``difficulty``, where a label-free run's stage works it
    out from its pseudo-labels. ``embedding``: the text embeddings; ``towers``: an image dataset's
    towers (the graph's, and both for the CLIP score); ``difficulty``: the fine-tuning run;
    ``head``: the head's dynamics table."""

    embedding: EmbeddingEntry | None = None
    towers: TowerEntries | None = None
    difficulty: DifficultyRun | None = None
    head: Path | None = None


def stage_needs(info: Any, options: PruneOptions, auto: bool = False, *, has_scores: bool = False,
                has_prefilter: bool = False, has_embeddings: bool = False) -> Needs:
    """Which stages a selection needs (the one rule, for prune, dry runs and evaluate).
    has_scores / has_prefilter / has_embeddings: those arrays are given (a column, or supplied)."""
    selection = options.selection
    if auto:
        needs_scores = needs_embeddings = True
    else:
        stratified = selection.partition == "strata" or isinstance(info, Preset)
        prefiltered = (selection.prefilter or 0) > 0 or isinstance(info, Preset) or (
            info.name == "d2" and not has_scores and selection.prefilter is None)
        needs_scores = info.needs_scores or stratified or (prefiltered and not has_prefilter)
        needs_embeddings = reads_embeddings(info.needs_embeddings, selection.partition, selection.duplicates)
    difficulty = needs_scores and not has_scores
    source = options.difficulty.source
    from_embeddings = source in ("head", "prototypicality") or (options.difficulty.label_free and source != "clip_score")
    computed_embeddings = needs_embeddings or (difficulty and from_embeddings)
    embeddings = computed_embeddings and not has_embeddings
    labels = (difficulty and not options.difficulty.label_free) or selection.partition == "label" or auto
    texts = (difficulty and source in ("finetune", "clip_score")) or (
        embeddings and options.embedding.source == "sentence-transformers")
    return Needs(difficulty=difficulty, embeddings=embeddings, labels=labels, texts=texts)


def stage_keys(options: PruneOptions, needs: Needs, dataset: Any, text_columns: TextColumns | None,
               label_column: str | None, labels: EncodedLabels | None, label_free: bool,
               given_embeddings: Any = None) -> StageKeys:
    """The cache entries of the stages that ``needs`` says will run, on ``dataset`` (the plan's
    ``stage_dataset``) read through ``text_columns``; ``given_embeddings``: (n, d) vectors the plan
    already has (a column, or supplied), which key the head's dynamics."""
    cache_dir, embedding = options.cache_dir, options.embedding
    computes_vectors = needs.embeddings and embedding.source != "classifier"
    clip = needs.difficulty and options.difficulty.source == "clip_score"
    entry = towers = run = head = None
    if text_columns is not None and text_columns.image is not None and (computes_vectors or clip):
        read = {*(graph_towers(text_columns, options.vision).split("+") if computes_vectors else ()),
                *(("image", "text") if clip else ())}
        towers = tower_entries(dataset, text_columns, embedding, options.vision, cache_dir=cache_dir,
                               towers="+".join(name for name in ("image", "text") if name in read))
    elif computes_vectors:
        entry = embedding_entry(dataset, text_columns.text, text_columns.text_pair, model=embedding.model,
                                max_length=embedding.max_length, cache_dir=cache_dir)
    source = options.difficulty.source
    if needs.difficulty and source == "finetune" and not label_free:
        run = difficulty_run(dataset, text_columns.text, label_column, text_columns.text_pair,
                             config=options.difficulty.training, cache_dir=cache_dir, num_processes=num_processes(),
                             image_column=text_columns.image, from_scratch=options.vision.from_scratch,
                             allow_many_classes=options.difficulty.allow_many_classes)
    if needs.difficulty and source == "head" and not label_free:
        identity = (array_digest(given_embeddings) if given_embeddings is not None else
                    entry.key if entry is not None else towers.graph_key)
        head = head_cache_path(cache_dir, identity, labels.ids, options.difficulty.head)
    return StageKeys(embedding=entry, towers=towers, difficulty=run, head=head)
