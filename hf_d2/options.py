"""Everything a caller can set for one prune, as typed objects built and checked once.

``PruneOptions.from_values({"k": 10, "epochs": 2, ...})`` takes the flat option names that
``d2_prune``, ``hf_d2.prune``, recipes and the command line use (``PRUNE_OPTIONS``: the groups of
parameters that the stages and the selection declare, with the run's own, ``RUN_PARAMS``), checks
each against its declaration, and groups them:
selection (method, pre-filter, partition, D2's parameters), difficulty (score, source, the
fine-tuning recipe, the head), embedding, images (``hf_d2.vision``), columns and seeds. The run plan
(``hf_d2.plan``) and the stages read these objects by attribute; no other module sees a
``**kwargs`` of options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from hf_d2._validation import InvalidParameterError
from hf_d2.difficulty.head import HEAD_PARAMS, HeadConfig
from hf_d2.difficulty.label_free import LABEL_FREE_PARAMS
from hf_d2.difficulty.scores import DEFAULT_SCORE
from hf_d2.difficulty.training import TRAINING_PARAMS, TrainingConfig
from hf_d2.embed import EMBEDDING_PARAMS
from hf_d2.params import Param, ParamTable, param_group, unknown_option_error
from hf_d2.selection import available_methods
from hf_d2.selection.d2_params import D2_PARAMS, D2Params
from hf_d2.selection.rate_finder import RATE_PARAMS
from hf_d2.selection.selector import SELECTION_PARAMS
from hf_d2.vision import VISION_PARAMS, VisionOptions

AUTO_METHOD = "auto"
DIFFICULTY_SOURCES = ("head", "finetune", "prototypicality", "clip_score")
LABEL_FREE_SOURCES = ("prototypicality", "clip_score")  # difficulty sources that never read labels
DIRECTIONS = ("higher", "lower")
METHODS = (*available_methods(), AUTO_METHOD)


def _check_score_name(value: str) -> str:
    from hf_d2.difficulty.scores import list_scores  # noqa: PLC0415 - the live registry

    if value not in list_scores():
        raise InvalidParameterError("difficulty", f"{{name}} must be a registered score: {', '.join(list_scores())}. "
                                    f"Got {value!r} instead.")
    return value


RUN_PARAMS = param_group(
    "run",
    Param("method", str, "d2", "selection method; auto chooses per rate by inner cross-validation", choices=METHODS),
    Param("difficulty", str, DEFAULT_SCORE, "difficulty score from the training dynamics (hf-d2 score --help lists "
          "them)", validate=_check_score_name),
    Param("difficulty_source", str, "head", "where the difficulty comes from: head (training dynamics of a small head "
          "on the frozen embeddings: seconds), finetune (dynamics of fine-tuning the classifier --model), "
          "prototypicality (distance to the row's k-means centroid; label-free, no training) or clip_score (image–text "
          "pairs: the cosine of the image and caption CLIP embeddings, higher = better aligned, kept first; the default "
          "for pairs without labels)",
          choices=DIFFICULTY_SOURCES),
    Param("prefilter_score", str, "aum", "the score the pre-filter drops the hardest rows by", validate=_check_score_name),
    Param("strata_score", str, None, "the score CCS strata are cut by (default: the pre-filter score)", nullable=True,
          validate=_check_score_name),
    Param("label_free", bool, False, "select without reading the labels: the difficulty model trains on k-means "
          "pseudo-labels (or prototypicality); automatic when the dataset has no label column"),
    Param("allow_degenerate", bool, False, "accept constant scores or a difficulty model that predicts one class"),
    Param("allow_many_classes", bool, False, "accept a label column whose classes are mostly single rows, or that has "
          "more classes than half its rows (refused by default: such a column is rarely class labels)"),
    Param("drop_empty", bool, False, "drop rows whose text is missing, empty or only whitespace, or whose image is "
          "missing or unreadable (and say how many)"),
    Param("seed", int, 0, "seed of the difficulty model (initialisation, data order)", low=0),
    Param("selection_seed", int, None, "seed of the selection's random steps (default: --seed)", low=0, nullable=True),
    Param("sample_seed", int, 0, "seed of the --max-examples sample", low=0),
    Param("max_examples", int, None, "prune a seeded sample of this many rows", low=1, nullable=True),
    Param("text_column", str, None, "text column (default: inferred)", nullable=True),
    Param("text_pair_column", str, None, "second text of a pair (default: inferred, e.g. hypothesis)", nullable=True),
    Param("text_template", str, None, "build the text from several columns, e.g. '{instruction}\\n{input}\\n{output}'",
          nullable=True),
    Param("label_column", str, None, "label column (default: inferred)", nullable=True),
    Param("score_column", str, None, "a column that already holds each row's difficulty", nullable=True),
    Param("score_direction", str, "higher", "which end of --score-column is hard", choices=DIRECTIONS),
    Param("embedding_column", str, None, "a column that already holds each row's vector", nullable=True),
    Param("prefilter_column", str, None, "a column the pre-filter drops the hardest rows by", nullable=True),
    Param("prefilter_direction", str, "higher", "which end of --prefilter-column is hard", choices=DIRECTIONS),
    Param("cache_dir", str, None, "stage cache (default $HF_D2_CACHE or ~/.cache/hf_d2)", nullable=True),
    Param("use_cache", bool, True, "reuse finished stages (--no-use-cache recomputes and refreshes them)",
          flag="--use-cache"),
    Param("add_columns", bool, False, "add d2_difficulty, d2_forward_score, d2_pick_rank and d2_original_index"),
)


@dataclass(frozen=True)
class SelectionOptions:
    """How the coreset is chosen. prefilter / partition / budget_allocation / num_strata: None
    means the method's default (docs/method.md). prefilter_score / strata_score: registered
    score names for the computed-difficulty path. num_partitions: k-means partitions of
    ``partition="cluster"`` (None: one per 250,000 rows). workers: processes that select inside
    the partitions (never changes the coreset). duplicates / duplicate_threshold: which rows count
    as one candidate (None: the method's default) and the cosine of "near" (None: adaptive)."""

    method: str = RUN_PARAMS["method"].default
    prefilter: float | None = None
    partition: str | None = None
    budget_allocation: str | None = None
    num_strata: int | None = None
    prefilter_score: str = RUN_PARAMS["prefilter_score"].default
    strata_score: str | None = None
    d2: D2Params = field(default_factory=D2Params)
    num_partitions: int | None = None
    workers: int = SELECTION_PARAMS["workers"].default
    duplicates: str | None = None
    duplicate_threshold: float | None = None
    d2_given: frozenset[str] = frozenset()  # the D2 parameters the caller set (the others may take the pipeline's defaults)


@dataclass(frozen=True)
class DifficultyOptions:
    """score: the registered score used as difficulty (higher = harder after orientation).
    source: "head" or "finetune". training: the fine-tuning recipe; head: the head's."""

    score: str = RUN_PARAMS["difficulty"].default
    source: str = RUN_PARAMS["difficulty_source"].default
    training: TrainingConfig = field(default_factory=TrainingConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    label_free: bool = False
    allow_degenerate: bool = False
    num_clusters: int | None = None
    allow_many_classes: bool = False


@dataclass(frozen=True)
class EmbeddingOptions:
    model: str | None = EMBEDDING_PARAMS["embedding_model"].default
    source: str = EMBEDDING_PARAMS["embedding_source"].default
    batch_size: int = EMBEDDING_PARAMS["embedding_batch_size"].default
    max_length: int = EMBEDDING_PARAMS["embedding_max_length"].default


@dataclass(frozen=True)
class ColumnOptions:
    text: str | None = None
    text_pair: str | None = None
    text_template: str | None = None
    label: str | None = None
    image: str | None = None
    score: str | None = None
    score_direction: str = RUN_PARAMS["score_direction"].default
    embedding: str | None = None
    prefilter: str | None = None
    prefilter_direction: str = RUN_PARAMS["prefilter_direction"].default


@dataclass(frozen=True)
class Seeds:
    """sample: the ``max_examples`` sample (fixed by default, so another training or selection
    seed does not re-draw the rows); training: the difficulty model; selection: the selection's
    random steps (default: the training seed). Changing only ``selection`` re-runs only the
    selection: the stage caches key on the other two."""

    sample: int = RUN_PARAMS["sample_seed"].default
    training: int = RUN_PARAMS["seed"].default
    selection: int | None = None

    @property
    def for_selection(self) -> int:
        return self.training if self.selection is None else self.selection


@dataclass(frozen=True)
class PruneOptions:
    """All options of one prune (see the module docstring)."""

    selection: SelectionOptions = field(default_factory=SelectionOptions)
    difficulty: DifficultyOptions = field(default_factory=DifficultyOptions)
    embedding: EmbeddingOptions = field(default_factory=EmbeddingOptions)
    columns: ColumnOptions = field(default_factory=ColumnOptions)
    seeds: Seeds = field(default_factory=Seeds)
    vision: VisionOptions = field(default_factory=VisionOptions)
    max_examples: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    add_columns: bool = False
    drop_empty: bool = False
    max_drop: float = RATE_PARAMS["max_drop"].default

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> PruneOptions:
        """Checks every value against its declaration (``PRUNE_OPTIONS``) and groups them.
        An unknown name is an error that lists the accepted ones."""
        unknown = sorted(set(values) - set(OPTION_NAMES))
        if unknown:
            raise unknown_option_error(unknown[0], OPTION_NAMES)
        given = {name: PRUNE_OPTIONS[name].check(value) for name, value in values.items()}

        def pick(names) -> dict[str, Any]:
            return {name: given[name] for name in names if name in given}

        seed = given.get("seed", RUN_PARAMS["seed"].default)
        training_values = pick(TRAINING_PARAMS)
        selection = SelectionOptions(
            method=given.get("method", RUN_PARAMS["method"].default),
            **pick(("prefilter", "partition", "budget_allocation", "num_strata", "prefilter_score", "strata_score",
                    "num_partitions", "workers", "duplicates", "duplicate_threshold")),
            d2=D2Params(**pick(D2_PARAMS)), d2_given=frozenset(pick(D2_PARAMS)))
        difficulty = DifficultyOptions(
            score=given.get("difficulty", RUN_PARAMS["difficulty"].default),
            source=given.get("difficulty_source", RUN_PARAMS["difficulty_source"].default),
            training=TrainingConfig(**training_values, seed=seed),
            head=HeadConfig.from_values(pick(HEAD_PARAMS), seed=seed),
            label_free=given.get("label_free", False), allow_degenerate=given.get("allow_degenerate", False),
            num_clusters=given.get("num_clusters"), allow_many_classes=given.get("allow_many_classes", False))
        embedding = EmbeddingOptions(**{name[len("embedding_"):]: value for name, value in pick(EMBEDDING_PARAMS).items()})
        columns = ColumnOptions(**{name.removesuffix("_column"): value for name, value in pick(
            ("text_column", "text_pair_column", "label_column", "score_column", "embedding_column",
             "prefilter_column", "image_column")).items()}, **pick(("text_template", "score_direction", "prefilter_direction")))
        seeds = Seeds(sample=given.get("sample_seed", RUN_PARAMS["sample_seed"].default), training=seed,
                      selection=given.get("selection_seed"))
        vision = VisionOptions(**pick(("pixel_size", "pair_embedding", "from_scratch")))
        return cls(selection=selection, difficulty=difficulty, embedding=embedding, columns=columns, seeds=seeds,
                   vision=vision, **pick(("max_examples", "cache_dir", "use_cache", "add_columns", "drop_empty",
                                          "max_drop")))

    def replace(self, **changes: Any) -> PruneOptions:
        return replace(self, **changes)

    def to_values(self) -> dict[str, Any]:
        """The flat option names and values (every option, defaults included)."""
        values = {
            "method": self.selection.method, "prefilter": self.selection.prefilter,
            "partition": self.selection.partition, "budget_allocation": self.selection.budget_allocation,
            "num_strata": self.selection.num_strata, "prefilter_score": self.selection.prefilter_score,
            "strata_score": self.selection.strata_score, **self.selection.d2.as_dict(),
            "num_partitions": self.selection.num_partitions, "workers": self.selection.workers,
            "duplicates": self.selection.duplicates, "duplicate_threshold": self.selection.duplicate_threshold,
            "difficulty": self.difficulty.score, "difficulty_source": self.difficulty.source,
            **{name: value for name, value in asdict(self.difficulty.training).items() if name != "seed"},
            **self.difficulty.head.options(), "label_free": self.difficulty.label_free,
            "allow_degenerate": self.difficulty.allow_degenerate, "num_clusters": self.difficulty.num_clusters,
            "allow_many_classes": self.difficulty.allow_many_classes,
            **{f"embedding_{name}": value for name, value in asdict(self.embedding).items()},
            "text_column": self.columns.text, "text_pair_column": self.columns.text_pair,
            "text_template": self.columns.text_template, "label_column": self.columns.label,
            "score_column": self.columns.score, "score_direction": self.columns.score_direction,
            "embedding_column": self.columns.embedding, "prefilter_column": self.columns.prefilter,
            "prefilter_direction": self.columns.prefilter_direction, "image_column": self.columns.image,
            "pixel_size": self.vision.pixel_size, "pair_embedding": self.vision.pair_embedding,
            "from_scratch": self.vision.from_scratch,
            "seed": self.seeds.training, "selection_seed": self.seeds.selection, "sample_seed": self.seeds.sample,
            "max_examples": self.max_examples, "cache_dir": self.cache_dir, "use_cache": self.use_cache,
            "add_columns": self.add_columns, "drop_empty": self.drop_empty, "max_drop": self.max_drop,
        }
        return values

    def changed_values(self) -> dict[str, Any]:
        """The options whose value differs from the declared default, and the D2 parameters the
        caller set even to their declared default (the pipeline may default them otherwise, e.g.
        ``reverse``), for commands and cards."""
        return {name: value for name, value in self.to_values().items()
                if PRUNE_OPTIONS[name].default != value or name in self.selection.d2_given}


# Every option of one prune, by group, in the order the command line's --help and docs/options.md list them.
PRUNE_OPTIONS = ParamTable([RUN_PARAMS, RATE_PARAMS, SELECTION_PARAMS, D2_PARAMS, TRAINING_PARAMS, HEAD_PARAMS,
                            EMBEDDING_PARAMS, LABEL_FREE_PARAMS, VISION_PARAMS])
OPTION_NAMES = frozenset(PRUNE_OPTIONS)
