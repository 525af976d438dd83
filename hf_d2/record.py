"""The selection record: how a coreset was made, typed and versioned.

One ``SelectionRecord`` describes one selection: the method and every parameter, the source
and its revision or fingerprint, the columns, the models and their revisions, the seeds, the
difficulty model's training accuracy per epoch, per-label counts before and after, the kept
row ids, and (for ``method="auto"``) the candidates with their inner scores. It is stored as
``selection.json`` in every output folder (``hf_d2.folders``), on a pruned ``Dataset``
(``info.description``) and in a Hub export (``hf_d2/selection.json``).

``SelectionRecord.to_json`` writes schema 2; ``SelectionRecord.from_json`` also reads
schema 1 (hf-d2 0.1.0's untyped dict). Nothing outside this module reads the JSON by key.
``build_record`` makes the record of a run from its plan, stage outputs and selection outcome.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Sequence

from hf_d2._io import to_jsonable
from hf_d2.version import __version__

SCHEMA_VERSION = 2
DESCRIPTION_MARKER = "\n\n<!-- hf-d2 selection record -->\n"
HARDER = "higher = harder"
ACRONYM_SCORES = ("aum", "el2n")  # score names written in capitals in sentences ("by AUM"), the others as they are
_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{16,}")


@dataclass
class SourceRecord:
    """Where the rows came from.

    kind: "hub" | "bundled" | "local" | "in-memory". name: as the caller named it. repo_id /
    config / split / revision: a Hub dataset (revision = commit, or the package version of a
    bundled copy). path: a local file or folder. resolved_from: the alias the caller typed when
    it was resolved to ``repo_id`` (e.g. "glue/anli"). fingerprint: the ``datasets`` fingerprint
    of the rows selected from. content_hash: sha256 of their texts/columns (checked before a
    re-selection). num_rows_in_split / max_examples / sample_seed: a seeded ``max_examples``
    sample of a split of ``num_rows_in_split`` rows.
    """

    kind: str | None = None
    name: str | None = None
    repo_id: str | None = None
    config: str | None = None
    split: str | None = None
    revision: str | None = None
    path: str | None = None
    license: str | None = None
    dataset_name: str | None = None
    resolved_from: str | None = None
    fingerprint: str | None = None
    content_hash: str | None = None
    num_rows_in_split: int | None = None
    max_examples: int | None = None
    sample_seed: int | None = None


@dataclass
class ColumnsRecord:
    """The columns used: text (and pair, or the template that built the text; an image dataset's
    caption), image, label, and the columns a selection read its arrays from (score, embedding,
    pre-filter) with directions."""

    text: str | None = None
    text_pair: str | None = None
    text_template: str | None = None
    label: str | None = None
    score: str | None = None
    score_direction: str | None = None
    embedding: str | None = None
    prefilter: str | None = None
    prefilter_direction: str | None = None
    image: str | None = None


@dataclass
class DifficultyRecord:
    """The difficulty stage.

    score: the registered score used (``variability``), oriented ``direction``. source: "head"
    (a head on frozen embeddings), "finetune" (fine-tuning the classifier ``model``), "column",
    or a label-free score ("prototypicality"). labels: "gold" or a description of the
    pseudo-labels. settings: the stage's parameters (as declared in ``hf_d2.params``).
    train_accuracy / train_loss: per epoch (recorded snapshot), the fraction of rows predicted
    correctly and the mean cross-entropy. prefilter_score: what the pre-filter and strata use.
    resumed: the run continued an interrupted one.
    """

    score: str
    source: str
    direction: str = HARDER
    labels: str = "gold"
    model: str | None = None
    revision: str | None = None
    cache_key: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    train_accuracy: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    prefilter_score: str | None = None
    resumed: bool = False


@dataclass
class EmbeddingRecord:
    """The embeddings: ``source`` "sentence-transformers", "classifier" (the fine-tuned model's
    first token, or an image classifier's pooled features), "column", or an image encoder
    (``hf_d2.vision``: "pixels", "clip", "transformers"); model, revision, cache key and
    dimensions."""

    source: str
    model: str | None = None
    revision: str | None = None
    cache_key: str | None = None
    dimensions: int | None = None


@dataclass
class SeedsRecord:
    """sample: the ``max_examples`` sample; training: fine-tuning / head initialisation and
    order; selection: random starts and random picks of the selection."""

    sample: int = 0
    training: int = 0
    selection: int = 0


@dataclass
class SelectionRecord:
    """A selection (see the module docstring). ``kept_row_ids`` refer to rows of the source
    split (not of a ``max_examples`` sample), ascending. ``ranked_rows``: how many rows the
    stored ranking orders (every row that survives the pre-filter for prefix-consistent methods
    without partitions), so any rate that keeps at most that many can be re-selected.
    ``options``: every option given a non-default value (names of ``hf_d2.params``), from
    which the card's reproduce command is rebuilt. ``num_partitions``: the k-means partitions
    selected in (``partition="cluster"``; None otherwise). ``graph``: the kNN graph the
    selection built (None for methods without one): ``backend`` (what ran: "exact", "hnsw",
    "ivf", "ivfpq", "factory:..."), ``requested`` ("auto" when chosen by the rule), ``reason``
    (auto's one line: n, d, memory), ``recall`` (recall@k against exact search on
    ``recall_sample`` rows; None when not measured), ``k``, ``num_nodes``, ``num_edges``,
    ``device``, ``seconds``; over several groups, ``groups``, ``backends``, the lowest
    ``recall`` and ``per_group`` rows (``hf_d2.selection.groups.summarise_graphs``).
    ``duplicates``: with duplicate handling, its ``mode`` ("exact" or "near"), ``threshold`` (the
    cosine; None = adaptive), ``groups`` (distinct candidates among the rows left after the
    pre-filter), ``duplicate_rows`` (rows that are a copy of another) and ``dropped`` (copies
    left out); None without. ``rate_search``: with rate="auto", the inner curve that chose the rate
    (``selection.rate_finder``: chosen, max_drop, full_accuracy, points of rate, accuracy, drop
    and its error in points), None otherwise."""

    method: str
    rate: float
    budget: int
    num_rows_before: int
    num_rows_after: int
    kept_row_ids: list[int]
    hf_d2_version: str = ""
    schema_version: int = SCHEMA_VERSION
    partition: str = "none"
    budget_allocation: str = "proportional"
    num_strata: int | None = None
    prefilter: float = 0.0
    prefilter_margin: float | None = None
    strata_score: str | None = None
    num_partitions: int | None = None
    method_params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    ranked_rows: int = 0
    ranks_all_rows: bool = False
    label_free: bool = False
    seeds: SeedsRecord = field(default_factory=SeedsRecord)
    columns: ColumnsRecord = field(default_factory=ColumnsRecord)
    source: SourceRecord = field(default_factory=SourceRecord)
    difficulty: DifficultyRecord | None = None
    embeddings: EmbeddingRecord | None = None
    graph: dict[str, Any] | None = None
    auto: dict[str, Any] | None = None
    duplicates: dict[str, Any] | None = None
    rate_search: dict[str, Any] | None = None
    label_counts_before: dict[str, int] | None = None
    label_counts_after: dict[str, int] | None = None
    warnings: list[str] = field(default_factory=list)
    command: str | None = None
    timings: list[dict[str, Any]] = field(default_factory=list)
    reselected_from: dict[str, Any] | None = None

    # ------------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> SelectionRecord:
        """A record from its JSON dict, schema 2 or schema 1 (hf-d2 0.1.0)."""
        if not isinstance(payload, dict):
            raise ValueError("A selection record must be a JSON object; pass the selection.json written by hf-d2.")
        if int(payload.get("schema_version", 1)) < 2:
            payload = _from_schema_1(payload)
        missing = [name for name in ("method", "rate", "budget", "num_rows_before", "kept_row_ids") if name not in payload]
        if missing:
            raise ValueError(f"This is not an hf-d2 selection record (no {', '.join(missing)}); pass the selection.json "
                             "written by hf-d2.")
        values = {name: payload[name] for name in _field_names(cls) if name in payload}
        for name, kind in (("seeds", SeedsRecord), ("columns", ColumnsRecord), ("source", SourceRecord)):
            values[name] = _build(kind, payload.get(name) or {})
        values["difficulty"] = _build(DifficultyRecord, payload["difficulty"]) if payload.get("difficulty") else None
        values["embeddings"] = _build(EmbeddingRecord, payload["embeddings"]) if payload.get("embeddings") else None
        values.setdefault("num_rows_after", len(payload["kept_row_ids"]))
        return cls(**values)

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "the record") -> SelectionRecord:
        try:
            payload = json.loads(text or b"")
        except ValueError:
            raise ValueError(f"'{where}' is not valid JSON; pass the selection.json written by hf-d2.") from None
        try:
            return cls.from_dict(payload)
        except ValueError as error:
            raise ValueError(f"'{where}': {error}") from None

    # -------------------------------------------------------------- on a Dataset's description

    def attach(self, description: str | None) -> str:
        """``description`` (the user's text kept) with this record appended after the marker."""
        user_text = (description or "").split(DESCRIPTION_MARKER, 1)[0]
        return user_text + DESCRIPTION_MARKER + json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def detach(cls, description: str | None) -> SelectionRecord | None:
        """The record stored in a dataset description, or None."""
        if not description or DESCRIPTION_MARKER not in description:
            return None
        return cls.from_json(description.split(DESCRIPTION_MARKER, 1)[1], "the dataset's selection record")

    # ------------------------------------------------------------------------ derived facts

    def fingerprint_fields(self) -> dict[str, Any]:
        """What determines the coreset: every field except timings, the command and the kept
        ids (which follow from the rest). Never wall-clock times."""
        payload = self.to_dict()
        for name in ("timings", "command", "kept_row_ids", "hf_d2_version"):
            payload.pop(name, None)
        payload.get("options", {}).pop("workers", None)  # how many processes ran it: never the coreset
        graph = payload.get("graph") or {}
        for graphs in (graph, *(graph.get("per_group") or [])):
            graphs.pop("seconds", None)  # wall-clock time
        return payload

    @property
    def selected_from_columns(self) -> bool:
        """No model ran: the difficulty and embeddings (if any) came from the dataset's own
        columns (``hf-d2 select``), so the selection can be re-run on those columns."""
        return ((self.difficulty is None or self.difficulty.source == "column")
                and (self.embeddings is None or self.embeddings.source == "column"))

    def prefilter_text(self) -> str:
        """The pre-filter in words: "the hardest 10% by AUM dropped first", or "none"."""
        if self.prefilter_margin is not None:
            return (f"the rows whose mean margin over training was below -{self.prefilter_margin:g} "
                    f"({self.prefilter:.1%}) dropped first")
        if not self.prefilter:
            return "none"
        score = self.difficulty.prefilter_score if self.difficulty is not None else None
        by = self.columns.prefilter or (score.upper() if score in ACRONYM_SCORES else score) or "the difficulty"
        return f"the hardest {self.prefilter:.0%} by {by} dropped first"

    def duplicates_text(self) -> str:
        """The duplicate handling in words: "none", or e.g. "near (adaptive): 1,246 rows were
        near-duplicates of 1,200 others; 1,246 dropped as duplicates"."""
        counts = self.duplicates
        if not counts:
            return "none"
        threshold = "adaptive" if counts.get("threshold") is None else f"cosine >= {counts['threshold']:g}"
        kind = "identical to" if counts["mode"] == "exact" else "near-duplicates of"
        return (f"{counts['mode']} ({threshold}): {counts['duplicate_rows']:,} rows were {kind} other rows; "
                f"{counts['dropped']:,} dropped as duplicates")

    def partition_text(self) -> str:
        """The grouping in words: "none", or e.g. "strata (50 strata, budget allocation uniform)"."""
        if self.partition == "none":
            return "none"
        if self.partition == "label" and self.label_free:
            return f"the k-means pseudo-labels (budget allocation {self.budget_allocation})"
        detail = f"budget allocation {self.budget_allocation}"
        if self.partition == "strata":
            detail = f"{self.num_strata} strata" + (f" of {self.strata_score}" if self.strata_score else "") + f", {detail}"
        return f"{self.partition} ({detail})"


def build_record(plan: Any, outputs: Any, outcome: Any) -> SelectionRecord:
    """The record of one run, from its plan (``hf_d2.plan.RunPlan``), its stage outputs
    (``hf_d2.stages.StageOutputs``) and the selection's outcome (``hf_d2.coreset.SelectionOutcome``):
    every option given a non-default value (not where the cache lives), the settings that ran, the
    columns, seeds, source, stage records, label counts, warnings and timings."""
    options, settings, columns, text, labels = plan.options, outcome.settings, plan.options.columns, \
        plan.text_columns, plan.labels
    kept_ids = plan.row_ids[outcome.kept_positions]
    return SelectionRecord(
        method=options.selection.method, rate=plan.rate, budget=plan.budget, num_rows_before=plan.num_rows,
        num_rows_after=int(kept_ids.size), kept_row_ids=kept_ids.tolist(), hf_d2_version=__version__,
        partition=settings.partition, budget_allocation=settings.budget_allocation, num_strata=settings.num_strata,
        prefilter=settings.prefilter, prefilter_margin=settings.prefilter_margin,
        strata_score=options.selection.strata_score if plan.needs.difficulty else None,
        num_partitions=outcome.num_groups if settings.partition == "cluster" else None,
        method_params=settings.method_params,
        options={name: value for name, value in options.changed_values().items() if name != "cache_dir"},
        ranked_rows=outcome.ranked_rows, ranks_all_rows=outcome.ranked_rows == plan.num_rows, label_free=plan.label_free,
        seeds=SeedsRecord(sample=options.seeds.sample, training=options.seeds.training,
                          selection=options.seeds.for_selection),
        columns=ColumnsRecord(text=text.text if text and text.template is None else None,
                              text_pair=text.text_pair if text else None, text_template=text.template if text else None,
                              label=plan.label_column, score=columns.score,
                              score_direction=f"{columns.score_direction} = harder" if columns.score else None,
                              embedding=columns.embedding, prefilter=columns.prefilter,
                              prefilter_direction=f"{columns.prefilter_direction} = harder" if columns.prefilter else None,
                              image=text.image if text else None),
        source=plan.source, difficulty=outputs.difficulty, embeddings=outputs.embedding, graph=outcome.graph,
        auto=outcome.auto, duplicates=outcome.duplicates, rate_search=outcome.rate_search,
        label_counts_before=labels.counts() if labels is not None else None,
        label_counts_after=labels.counts(outcome.kept_positions) if labels is not None else None,
        warnings=[*plan.warnings, *outputs.warnings, *outcome.warnings],
        timings=[*outputs.timings, *outcome.timing_rows()])


def command_line(argv: Sequence[str], local_source: tuple[str, str] | None = None) -> str:
    """``hf-d2 ARGS`` as a shell line for the record: ``--token VALUE`` is left out (re-running
    the line takes the token from HF_TOKEN or ``hf auth login``), and anything else that looks
    like a Hugging Face token becomes ``***``. ``local_source``: (the dataset argument as typed,
    its absolute path): a local file is written by its absolute path, so the line runs from any
    folder."""
    kept, skip_next = [], False
    typed, absolute = local_source or (None, None)
    argv = [absolute if typed is not None and arg == typed else arg for arg in argv]
    for arg in argv:
        if skip_next:
            skip_next = False
        elif arg == "--token":
            skip_next = True
        elif not arg.startswith("--token="):
            kept.append(_HF_TOKEN.sub("***", arg))
    return "hf-d2 " + shlex.join(kept)


def selection_record(dataset: Any) -> SelectionRecord | None:
    """The record stored on a pruned dataset (``d2_prune``'s result), or None."""
    return SelectionRecord.detach(dataset.info.description)


def _field_names(cls) -> set[str]:
    return {item.name for item in fields(cls)}


def _build(kind, values: dict[str, Any]):
    return kind(**{name: value for name, value in values.items() if name in _field_names(kind)})


def _from_schema_1(old: dict[str, Any]) -> dict[str, Any]:
    """hf-d2 0.1.0's record (flat keys, ``stages``) as schema 2."""
    new = {name: old[name] for name in ("method", "rate", "budget", "num_rows_before", "num_rows_after",
                                         "kept_row_ids", "hf_d2_version", "partition", "budget_allocation",
                                         "num_strata", "prefilter", "method_params", "ranked_rows", "ranks_all_rows",
                                         "label_counts_before", "label_counts_after", "command", "timings",
                                         "reselected_from") if name in old}
    new["prefilter"] = float(old.get("prefilter") or 0.0)
    new.setdefault("ranked_rows", int(old.get("budget", 0)))
    seed = int(old.get("seed") or 0)
    new["seeds"] = {"sample": seed, "training": seed, "selection": seed}
    new["columns"] = {"label": old.get("label_column"), "score": old.get("score_column"),
                      "score_direction": old.get("score_direction"), "embedding": old.get("embedding_column"),
                      "prefilter": old.get("prefilter_column"), "prefilter_direction": old.get("prefilter_direction")}
    new["source"] = dict(old.get("source") or {})
    stages = old.get("stages") or {}
    settings = stages.get("stages") or {}
    if stages.get("difficulty"):
        classifier = stages.get("classifier") or {}
        new["difficulty"] = {"score": stages["difficulty"].get("score", "variability"), "source": "finetune",
                             "model": classifier.get("model"), "revision": classifier.get("revision"),
                             "cache_key": classifier.get("cache_key"), "prefilter_score": "aum",
                             "settings": {key: settings[key] for key in ("epochs", "batch_size", "learning_rate",
                                                                         "warmup_ratio", "max_length", "model")
                                          if key in settings}}
    elif old.get("score_column"):
        new["difficulty"] = {"score": old["score_column"], "source": "column"}
    if stages.get("embedder"):
        embedder = stages["embedder"]
        new["embeddings"] = {"source": settings.get("embedding_source", "sentence-transformers"),
                             "model": embedder.get("model"), "revision": embedder.get("revision"),
                             "cache_key": embedder.get("cache_key")}
    elif old.get("embedding_column"):
        new["embeddings"] = {"source": "column", "model": old["embedding_column"]}
    new["schema_version"] = SCHEMA_VERSION
    return new
