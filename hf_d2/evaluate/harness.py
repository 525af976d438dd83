"""``evaluate``: does the coreset train a better classifier than random (or CCS) at the same size?

For each (method, pruning rate, seed) *cell* a classifier is fine-tuned on the method's coreset
and scored (accuracy, macro-F1) on a held-out split; training on the whole pool (``full``,
rate 0) is the reference row. Difficulty and embeddings are computed ONCE on the pool (cached by
``run_model_stages``) and every method selects from them with the conventions of
``prune_with_scores``:

- ``d2``: D2 on the difficulty (default variability), after dropping the hardest 10% by AUM
  (``prefilter_scores`` = −AUM, higher = harder; ``prefilter`` overrides the 0.1);
- ``ccs`` / ``ccs-d2``: AUM pre-filter and AUM strata (their preset defaults);
- ``hard`` / ``easy``: top / bottom of the difficulty;
- ``kcenter`` / ``moderate`` / ``random``: no scores (``moderate`` uses the labels).

The held-out split is the dataset's own evaluation split when one is named (``eval_split``), or
a stratified ``holdout`` fraction carved off the (sampled) training split BEFORE anything else
runs: its rows never enter the difficulty run, the embeddings, the selection or any training.

The seed of a cell seeds BOTH the selection (random starts, random inside strata, ...) and the
evaluation classifier (head initialisation, data order, dropout); the difficulty run and the
holdout split use ``difficulty_seed`` / ``split_seed`` and are shared by every cell.

Output folder: ``config.json`` (what the cells depend on), ``cells/*.json`` (one finished cell
each; a re-run skips them), ``results.json`` and ``results.md`` (mean ± sample std over seeds),
and the accuracy plot (``accuracy.png`` / ``.svg``) when matplotlib is installed.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hf_d2 import __version__
from hf_d2._io import to_jsonable, write_json
from hf_d2._validation import budget_from_rate, check_finite_number, check_positive_int, check_rate
from hf_d2.data import TextColumns

logger = logging.getLogger("hf_d2")

FULL_DATA = "full"  # the reference row: the classifier trained on the whole pool (rate 0)
DEFAULT_METHODS = ("d2", "random", "ccs")
DEFAULT_RATES = (0.3, 0.5, 0.7)
DEFAULT_HOLDOUT = 0.2
DEFAULT_PIPELINE_PREFILTER = 0.1  # as hf_d2.prune: d2 drops the hardest 10% by AUM (D2-SPEC §9)
PREFILTERED_METHODS = ("d2", "ccs", "ccs-d2")  # the methods a --prefilter override applies to
CONFIG_FILE = "config.json"
CELLS_DIR = "cells"
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
ACCURACY_PLOT = "accuracy"


@dataclass(frozen=True)
class ClassifierSettings:
    """The fine-tuning recipe of a classifier (difficulty run or evaluation classifier).

    model: Hub id or folder; "bundled-minilm"; None = roberta-base (bundled MiniLM offline).
    epochs, batch_size (per device), learning_rate (AdamW), warmup_ratio (linear warm-up, then
    linear decay), max_length (tokens; longer inputs are truncated).
    """

    model: str | None = None
    epochs: int = 3
    batch_size: int = 8
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.05
    max_length: int = 128

    def checked(self) -> ClassifierSettings:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("max_length", self.max_length, minimum=2)
        if check_finite_number("learning_rate", self.learning_rate) <= 0:
            raise ValueError(f"The 'learning_rate' parameter must be > 0. Got {self.learning_rate} instead.")
        if not 0.0 <= check_finite_number("warmup_ratio", self.warmup_ratio) <= 1.0:
            raise ValueError(f"The 'warmup_ratio' parameter must be in [0, 1]. Got {self.warmup_ratio} instead.")
        return self


@dataclass
class EvaluationData:
    """The rows of an evaluation run.

    pool: the rows the difficulty run, the embeddings and the selection see (a ``Dataset``).
    heldout: the rows the classifiers are scored on (never in ``pool``).
    pool_row_ids / heldout_row_ids: (n_pool,) / (n_heldout,) int64 row ids in their source split
        (the training split for the pool; the training split too for a carved holdout, the
        evaluation split otherwise). columns: text / pair / label columns.
    label_names: class names in id order. pool_labels / heldout_labels: int64 ids into them.
    source: where the rows came from (name, splits, sampling, holdout), for the record.
    """

    pool: Any
    heldout: Any
    pool_row_ids: np.ndarray
    heldout_row_ids: np.ndarray
    columns: TextColumns
    label_names: list[str]
    pool_labels: np.ndarray
    heldout_labels: np.ndarray
    source: dict[str, Any] = field(default_factory=dict)


@dataclass
class SelectionInputs:
    """What every method selects from, computed once on the pool.

    scores: (n,) difficulty, higher = harder (None when no method needs it). aum_hardness: (n,)
    −AUM, higher = harder (pre-filter and strata score). embeddings: (n, d) float32 or None.
    labels: (n,) int64. stages: the stages' record (models, revisions, cache keys).
    """

    scores: np.ndarray | None
    aum_hardness: np.ndarray | None
    embeddings: np.ndarray | None
    labels: np.ndarray
    stages: dict[str, Any] = field(default_factory=dict)
    timings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EvaluationReport:
    """An evaluation run: ``rows`` (the summary table, one dict per method and rate), ``cells``
    (every finished cell), the output folder, and how many cells this call trained vs reused."""

    rows: list[dict[str, Any]]
    cells: list[dict[str, Any]]
    output_dir: Path
    trained_cells: int = 0
    reused_cells: int = 0
    plots: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------- checks


def check_methods(methods: Sequence[str]) -> list[str]:
    """Known selection method names, in order, without duplicates (``full`` is always added)."""
    from hf_d2.selection import available_methods  # noqa: PLC0415

    known = available_methods()
    if isinstance(methods, str):
        methods = [methods]
    if not methods:
        raise ValueError("Name at least one method, e.g. --methods d2 random ccs.")
    unknown = [name for name in methods if name not in known and name != FULL_DATA]
    if unknown:
        raise ValueError(
            f"Unknown method(s) {', '.join(map(repr, unknown))}; choose from {', '.join(map(repr, known))}."
        )
    return [name for position, name in enumerate(methods) if name not in methods[:position] and name != FULL_DATA]


def check_rates(rates: Sequence[float]) -> list[float]:
    """Pruning rates in [0, 1) (the fraction REMOVED), sorted, without duplicates; 0 is the
    full-data row, which always runs."""
    if not rates:
        raise ValueError("Name at least one pruning rate, e.g. --rates 0.3 0.5 0.7.")
    return sorted({check_rate(rate) for rate in rates})


def check_seeds(seeds: int | Sequence[int]) -> list[int]:
    """``seeds``: a count N (seeds 0..N-1) or an explicit list of ints >= 0."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"The 'seeds' parameter is the number of seeds and must be >= 1. Got {seeds}; pass e.g. --seeds 3.")
        return list(range(int(seeds)))
    values = [check_positive_int("seed", seed, minimum=0) for seed in seeds]
    if not values:
        raise ValueError("The 'seeds' parameter is empty; pass a count (e.g. 3) or a list of seeds.")
    return sorted(set(values))


def check_holdout(holdout: float) -> float:
    value = check_finite_number("holdout", holdout)
    if not 0.0 < value < 1.0:
        raise ValueError(
            f"The 'holdout' parameter is the fraction of rows held out for scoring and must be in (0, 1). "
            f"Got {holdout}; pass e.g. --holdout 0.2, or name an evaluation split with --eval-split."
        )
    return value


# ------------------------------------------------------------------------------------- data


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Splits positions 0..n-1 into (pool, heldout), both sorted int64, stratified by label.

    Each class c of size n_c gives round(fraction · n_c) rows to the holdout (at least one when
    n_c >= 2), drawn with ``np.random.default_rng(seed)``; the rest stay in the pool.
    """
    labels = np.asarray(labels)
    generator = np.random.default_rng(seed)
    heldout = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        count = int(round(fraction * members.size))
        if members.size >= 2:
            count = min(max(count, 1), members.size - 1)
        heldout.append(generator.choice(members, size=count, replace=False))
    heldout_positions = np.sort(np.concatenate(heldout)).astype(np.int64)
    pool_mask = np.ones(labels.size, dtype=bool)
    pool_mask[heldout_positions] = False
    return np.flatnonzero(pool_mask).astype(np.int64), heldout_positions


def label_ids(dataset: Any, label_column: str, names: list[str]) -> np.ndarray:
    """(n,) int64 ids of ``dataset``'s labels in the class order ``names`` (from the pool's
    ``encode_labels``); a label the pool does not have is an error."""
    from hf_d2.data import encode_labels  # noqa: PLC0415

    encoded = encode_labels(dataset, label_column) if dataset.num_rows else None
    if encoded is None:
        return np.zeros(0, dtype=np.int64)
    if encoded.names == names:
        return encoded.ids
    lookup = {name: position for position, name in enumerate(names)}
    missing = sorted(set(encoded.names) - set(lookup))
    if missing:
        raise ValueError(
            f"The evaluation split has label(s) {', '.join(missing)} that the training rows lack "
            f"(training classes: {', '.join(names)}); pick a matching --eval-split."
        )
    mapping = np.array([lookup[name] for name in encoded.names], dtype=np.int64)
    return mapping[encoded.ids]


def prepare_data(
    dataset: Any,
    *,
    config: str | None = None,
    split: str | None = None,
    eval_split: str | None = None,
    holdout: float = DEFAULT_HOLDOUT,
    max_examples: int | None = None,
    max_eval_examples: int | None = None,
    split_seed: int = 0,
    offline: bool = False,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
) -> EvaluationData:
    """Loads the training split (a seeded sample of ``max_examples`` rows, drawn with
    ``split_seed``) and the held-out rows: ``eval_split`` of the same dataset (at most
    ``max_eval_examples`` rows, seeded sample), or a stratified ``holdout`` fraction of the
    (sampled) training rows. ``dataset``: a name as ``hf_d2.prune`` takes, or a ``Dataset``."""
    import datasets  # noqa: PLC0415

    from hf_d2.data import encode_labels, infer_columns, resolve_dataset  # noqa: PLC0415
    from hf_d2.prune import sample_row_ids  # noqa: PLC0415

    source: dict[str, Any] = {}
    if isinstance(dataset, str):
        name = dataset
        resolved = resolve_dataset(name, config, split, offline=offline)
        train, source = resolved.dataset, {**resolved.source, "name": name}
    elif isinstance(dataset, datasets.Dataset):
        if eval_split is not None:
            raise ValueError("eval_split names a split of a dataset given by name; pass the name (or a "
                             "save_to_disk folder of the DatasetDict), or drop eval_split to use a holdout.")
        train = dataset
        source = {"kind": "in-memory", "fingerprint": dataset._fingerprint}
    else:
        raise ValueError("Pass the dataset as a name (Hub id, repo:config, path, rotten_tomatoes) or a datasets.Dataset.")
    if train.num_rows == 0:
        raise ValueError("The training split is empty (0 rows): check --split and any filters.")
    columns = infer_columns(train, text_column, text_pair_column, label_column)
    sample = sample_row_ids(train.num_rows, max_examples, split_seed)
    row_ids = np.arange(train.num_rows, dtype=np.int64) if sample is None else sample
    if sample is not None:
        source.update(max_examples=int(max_examples), num_rows_in_split=int(train.num_rows))
        train = train.select(sample)
    encoded = encode_labels(train, columns.label)
    if eval_split is None:
        holdout = check_holdout(holdout)
        pool_positions, heldout_positions = stratified_holdout(encoded.ids, holdout, split_seed)
        pool, heldout = train.select(pool_positions), train.select(heldout_positions)
        pool_row_ids, heldout_row_ids = row_ids[pool_positions], row_ids[heldout_positions]
        pool_labels, heldout_labels = encoded.ids[pool_positions], encoded.ids[heldout_positions]
        names = encoded.names
        source.update(heldout={"kind": "stratified holdout", "fraction": holdout, "seed": split_seed})
    else:
        evaluation = resolve_dataset(name, config, eval_split, offline=offline).dataset
        eval_sample = sample_row_ids(evaluation.num_rows, max_eval_examples, split_seed)
        heldout_row_ids = np.arange(evaluation.num_rows, dtype=np.int64) if eval_sample is None else eval_sample
        heldout = evaluation if eval_sample is None else evaluation.select(eval_sample)
        infer_columns(heldout, columns.text, columns.text_pair, columns.label)  # same columns, or a clear error
        pool, pool_row_ids, pool_labels, names = train, row_ids, encoded.ids, encoded.names
        heldout_labels = label_ids(heldout, columns.label, names)
        source.update(heldout={"kind": "split", "split": eval_split, "max_eval_examples": max_eval_examples})
    if heldout.num_rows == 0:
        raise ValueError("The held-out split is empty (0 rows); raise --holdout or name a non-empty --eval-split.")
    return EvaluationData(pool, heldout, pool_row_ids, heldout_row_ids, columns, names, pool_labels,
                          heldout_labels, source)


# --------------------------------------------------------------------------------- selection


def stages_needed(methods: Sequence[str], prefilter: float | None) -> dict[str, bool]:
    """Which model stages any of ``methods`` needs (difficulty / embeddings), with the rules of
    ``prune_with_scores`` (no score or embedding column given)."""
    from hf_d2.prune import _stage_needs  # noqa: PLC0415
    from hf_d2.selection import available_methods  # noqa: PLC0415

    known = available_methods()
    needs = [_stage_needs(known[name], None, None, None, prefilter if name in PREFILTERED_METHODS else None, None)
             for name in methods]
    return {"difficulty": any(n["difficulty"] for n in needs), "embeddings": any(n["embeddings"] for n in needs)}


def compute_selection_inputs(data: EvaluationData, methods: Sequence[str], *, difficulty: str,
                             classifier: ClassifierSettings, embedding_model: str | None, prefilter: float | None,
                             difficulty_seed: int, cache_dir: str | None,
                             load_from_cache_file: bool = True) -> SelectionInputs:
    """Runs (or loads from the stage cache) the difficulty and embedding stages on the POOL."""
    from hf_d2.pipeline import StageSettings, run_model_stages  # noqa: PLC0415

    needs = stages_needed(methods, prefilter)
    settings = StageSettings(
        difficulty=difficulty, model=classifier.model, embedding_model=embedding_model, epochs=classifier.epochs,
        batch_size=classifier.batch_size, learning_rate=classifier.learning_rate,
        warmup_ratio=classifier.warmup_ratio, max_length=classifier.max_length, cache_dir=cache_dir,
        load_from_cache_file=load_from_cache_file,
    )
    if not (needs["difficulty"] or needs["embeddings"]):
        return SelectionInputs(None, None, None, data.pool_labels)
    outputs = run_model_stages(data.pool, data.columns, need_difficulty=needs["difficulty"],
                               need_embeddings=needs["embeddings"], settings=settings, seed=difficulty_seed)
    return SelectionInputs(outputs.scores, outputs.aum_hardness, outputs.embeddings, data.pool_labels,
                           outputs.record, outputs.timings)


def coreset_positions(method: str, rate: float, seed: int, inputs: SelectionInputs,
                      prefilter: float | None = None) -> np.ndarray:
    """Sorted (budget,) int64 positions into the pool that ``method`` keeps at ``rate``
    (budget = round((1 − rate) · n)). ``prefilter`` overrides the fraction dropped as hardest
    by AUM for d2 and the CCS presets (default 0.1 for each); other methods never pre-filter."""
    from hf_d2.prune import _stage_needs  # noqa: PLC0415
    from hf_d2.selection import available_methods, select  # noqa: PLC0415

    num_rows = inputs.labels.size
    info = available_methods()[method]
    prefilter = prefilter if method in PREFILTERED_METHODS else None
    uses_difficulty = _stage_needs(info, None, None, None, prefilter, None)["difficulty"]
    if uses_difficulty and prefilter is None and method == "d2":
        prefilter = DEFAULT_PIPELINE_PREFILTER
    order = select(
        method, budget_from_rate(num_rows, rate), num_rows=num_rows,
        scores=inputs.scores if uses_difficulty else None,
        prefilter_scores=inputs.aum_hardness if uses_difficulty else None,
        embeddings=inputs.embeddings if info.needs_embeddings else None,
        labels=inputs.labels, seed=seed, prefilter=prefilter,
    )
    return np.sort(order)


# ------------------------------------------------------------------------- train and score


def classification_metrics(true_labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """accuracy and macro-F1 (in [0, 1]) of (n,) int predictions. Macro-F1 averages the per-class
    F1 over the classes present in ``true_labels`` or ``predicted`` (as scikit-learn's
    ``f1_score(average="macro")``); a class with no true positive has F1 0."""
    true_labels, predicted = np.asarray(true_labels), np.asarray(predicted)
    if true_labels.shape != predicted.shape or true_labels.size == 0:
        raise ValueError(f"Need equal-length non-empty label arrays; got {true_labels.shape} and {predicted.shape}.")
    scores = []
    for value in np.union1d(true_labels, predicted):
        true_positive = np.sum((predicted == value) & (true_labels == value))
        denominator = np.sum(predicted == value) + np.sum(true_labels == value)
        scores.append(2.0 * true_positive / denominator if denominator else 0.0)
    return {"accuracy": float(np.mean(true_labels == predicted)), "macro_f1": float(np.mean(scores))}


def fine_tune_and_score(train: Any, train_labels: np.ndarray, heldout: Any, heldout_labels: np.ndarray,
                        columns: TextColumns, label_names: list[str], settings: ClassifierSettings,
                        seed: int) -> dict[str, Any]:
    """Fine-tunes a fresh classifier on ``train`` with the Accelerate trainer of the difficulty
    stage (no dynamics recorded) and scores it on ``heldout``.

    train_labels / heldout_labels: (n,) int64 ids into ``label_names``. seed: head
    initialisation, data order and dropout. Returns accuracy, macro_f1 (in [0, 1]),
    num_train, train_seconds and eval_seconds (wall clock).
    """
    from accelerate import Accelerator  # noqa: PLC0415
    from accelerate.utils import set_seed  # noqa: PLC0415
    from transformers import AutoModelForSequenceClassification  # noqa: PLC0415

    from hf_d2.difficulty.api import _load_tokenizer, tokenize_dataset  # noqa: PLC0415
    from hf_d2.difficulty.models import resolve_model_name  # noqa: PLC0415
    from hf_d2.difficulty.recorder import TrainingConfig, build_training_state, train_epoch  # noqa: PLC0415

    model_path = resolve_model_name(settings.model)
    tokenizer = _load_tokenizer(model_path, None)
    config = TrainingConfig(epochs=settings.epochs, batch_size=settings.batch_size,
                            learning_rate=settings.learning_rate, warmup_ratio=settings.warmup_ratio,
                            max_length=settings.max_length, seed=seed)
    tokenized_train = tokenize_dataset(train, tokenizer, columns.text, columns.text_pair, train_labels,
                                       settings.max_length)
    tokenized_heldout = tokenize_dataset(heldout, tokenizer, columns.text, columns.text_pair, heldout_labels,
                                         settings.max_length)
    accelerator = Accelerator()
    set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
        label2id={name: position for position, name in enumerate(label_names)},
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    started = time.perf_counter()
    state = build_training_state(accelerator, model, tokenized_train, tokenizer, len(label_names), config)
    for epoch in range(config.epochs):
        train_epoch(state, epoch, None, record=False)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = predict(state, tokenized_heldout, batch_size=settings.batch_size * 4)
    eval_seconds = time.perf_counter() - started
    accelerator.free_memory()
    del state, model
    return {**classification_metrics(heldout_labels, predicted), "num_train": int(train.num_rows),
            "train_seconds": round(train_seconds, 3), "eval_seconds": round(eval_seconds, 3)}


def predict(state: Any, tokenized: Any, batch_size: int) -> np.ndarray:
    """(n,) int64 argmax predictions of the trained model in ``state`` (eval mode, no grad) for
    every row of ``tokenized`` (a dataset made by ``tokenize_dataset``), in row order."""
    import torch  # noqa: PLC0415

    from hf_d2.difficulty.recorder import BatchCollator  # noqa: PLC0415

    collator = BatchCollator(tokenized, state.collator.tokenizer, "token_type_ids" in state.collator.input_names)
    state.model.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(tokenized), batch_size):
            positions = np.arange(start, min(start + batch_size, len(tokenized)))
            batch = collator(positions, np.zeros(positions.size, dtype=bool))
            for name in ("labels", "row_index", "is_padding"):
                batch.pop(name)
            inputs = {name: tensor.to(state.accelerator.device) for name, tensor in batch.items()}
            predictions.append(state.model(**inputs).logits.argmax(dim=-1).cpu().numpy())
    return np.concatenate(predictions).astype(np.int64)


# ------------------------------------------------------------------------------ the results


def cell_name(method: str, rate: float, seed: int) -> str:
    """File stem of a cell: ``d2_rate0.5_seed1``."""
    return f"{method}_rate{rate:g}_seed{seed}"


def summarize(cells: Sequence[dict[str, Any]], method_order: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per (method, rate): mean and sample std (ddof=1; 0 with one seed) over seeds of
    accuracy and macro-F1 (in [0, 1]), the seeds, training examples and mean training seconds.
    Rows: ``full`` first, then ``method_order``, rates ascending."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["method"], float(cell["rate"])), []).append(cell)
    order = [FULL_DATA, *method_order]

    def sort_key(key: tuple[str, float]) -> tuple[int, str, float]:
        return (order.index(key[0]) if key[0] in order else len(order), key[0], key[1])

    rows = []
    for method, rate in sorted(groups, key=sort_key):
        members = sorted(groups[(method, rate)], key=lambda cell: cell["seed"])
        row = {"method": method, "rate": rate, "seeds": [cell["seed"] for cell in members],
               "num_train": int(round(np.mean([cell["num_train"] for cell in members]))),
               "train_seconds": float(np.mean([cell["train_seconds"] for cell in members]))}
        for metric in ("accuracy", "macro_f1"):
            values = np.array([cell[metric] for cell in members], dtype=np.float64)
            row[f"{metric}_mean"] = float(values.mean())
            row[f"{metric}_std"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
        rows.append(row)
    return rows


def results_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The summary table as markdown: accuracy and macro-F1 in %, mean ± sample std over seeds."""
    lines = ["| method | rate | train examples | seeds | accuracy (%) | macro-F1 (%) | train time (s) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['method']} | {row['rate']:g} | {row['num_train']:,} | {len(row['seeds'])} "
            f"| {100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_std']:.1f} "
            f"| {100 * row['macro_f1_mean']:.1f} ± {100 * row['macro_f1_std']:.1f} | {row['train_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def load_cells(output_dir: str | Path) -> list[dict[str, Any]]:
    """Every finished cell stored under ``output_dir/cells``."""
    folder = Path(output_dir) / CELLS_DIR
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def load_results(output_dir: str | Path) -> dict[str, Any]:
    """``results.json`` of an evaluate output folder (rows, cells, config)."""
    path = Path(output_dir) / RESULTS_JSON
    if not path.exists():
        raise ValueError(f"No {RESULTS_JSON} in '{output_dir}'; pass the --output folder of hf-d2 evaluate.")
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------ orchestration


def evaluate(
    dataset: Any,
    *,
    output_dir: str | Path,
    methods: Sequence[str] = DEFAULT_METHODS,
    rates: Sequence[float] = DEFAULT_RATES,
    seeds: int | Sequence[int] = 3,
    config: str | None = None,
    split: str | None = None,
    eval_split: str | None = None,
    holdout: float = DEFAULT_HOLDOUT,
    max_examples: int | None = None,
    max_eval_examples: int | None = None,
    split_seed: int = 0,
    difficulty_seed: int = 0,
    difficulty: str = "variability",
    prefilter: float | None = None,
    classifier: ClassifierSettings | None = None,
    eval_classifier: ClassifierSettings | None = None,
    embedding_model: str | None = None,
    include_full: bool = True,
    cache_dir: str | None = None,
    offline: bool = False,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    overwrite: bool = False,
    plots: bool = True,
) -> EvaluationReport:
    """Trains a classifier on every method's coreset at every rate and seed, and on the full
    pool, and scores each on held-out rows; writes and returns the results table.

    methods: selection methods (``hf_d2.available_methods()``); rates: pruning rates in [0, 1)
        (fraction REMOVED); seeds: a count N (0..N-1) or a list; each seed seeds the selection
        AND the evaluation classifier.
    eval_split / holdout / max_examples / max_eval_examples / split_seed: see ``prepare_data``.
    classifier: the difficulty run's fine-tuning (default: the reference recipe);
        eval_classifier: the evaluation classifier's (default: the same as ``classifier``).
        difficulty_seed seeds the (single, cached) difficulty run.
    difficulty / prefilter / embedding_model: as in ``hf_d2.prune``.
    output_dir: cells are stored as they finish; a re-run with the same data and settings
        skips finished cells (more methods, rates or seeds only add cells). A folder made with
        other settings is refused unless ``overwrite`` (which deletes its cells).
    """
    methods = check_methods(methods)
    rates = check_rates(rates)
    seeds = check_seeds(seeds)
    classifier = (classifier or ClassifierSettings()).checked()
    eval_classifier = (eval_classifier or classifier).checked()
    if offline and classifier.model is None:
        classifier = ClassifierSettings(**{**asdict(classifier), "model": "bundled-minilm"})
    if offline and eval_classifier.model is None:
        eval_classifier = ClassifierSettings(**{**asdict(eval_classifier), "model": "bundled-minilm"})
    if prefilter is not None and not 0.0 <= check_finite_number("prefilter", prefilter) < 1.0:
        raise ValueError(f"The 'prefilter' parameter must be in [0, 1). Got {prefilter}; pass e.g. 0.1, or 0 for none.")
    output = Path(output_dir).expanduser()
    data = prepare_data(dataset, config=config, split=split, eval_split=eval_split, holdout=holdout,
                        max_examples=max_examples, max_eval_examples=max_eval_examples, split_seed=split_seed,
                        offline=offline, text_column=text_column, text_pair_column=text_pair_column,
                        label_column=label_column)
    identity = _run_identity(data, difficulty, prefilter, classifier, eval_classifier, embedding_model,
                             difficulty_seed)
    _prepare_output(output, identity, overwrite)
    inputs = compute_selection_inputs(data, methods, difficulty=difficulty, classifier=classifier,
                                      embedding_model=embedding_model, prefilter=prefilter,
                                      difficulty_seed=difficulty_seed, cache_dir=cache_dir)
    write_json(output / CONFIG_FILE, {**identity, "stages": inputs.stages, "stage_timings": inputs.timings,
                                       "heldout_row_ids": data.heldout_row_ids})
    plan = [(FULL_DATA, 0.0)] if include_full else []
    plan += [(method, rate) for method in methods for rate in rates if rate > 0.0]
    trained = reused = 0
    for seed in seeds:  # seed-major: an interrupted run has every method at the first seeds
        for method, rate in plan:
            path = output / CELLS_DIR / f"{cell_name(method, rate, seed)}.json"
            if path.exists():
                reused += 1
                continue
            cell = run_cell(data, inputs, method, rate, seed, eval_classifier, prefilter)
            write_json(path, cell)
            trained += 1
            logger.info("cell %s: accuracy %.4f, macro-F1 %.4f, %d examples, %.0f s", path.stem,
                        cell["accuracy"], cell["macro_f1"], cell["num_train"], cell["train_seconds"])
    cells = load_cells(output)
    wanted = {cell_name(method, rate, seed) for method, rate in plan for seed in seeds}
    cells = [cell for cell in cells if cell_name(cell["method"], cell["rate"], cell["seed"]) in wanted]
    rows = summarize(cells, methods)
    write_json(output / RESULTS_JSON, {"rows": rows, "cells": cells, "config": identity,
                                        "stages": inputs.stages, "stage_timings": inputs.timings})
    (output / RESULTS_MD).write_text(_results_page(rows, identity, data))
    report = EvaluationReport(rows, cells, output, trained, reused)
    if plots:
        report.plots = _plot_if_possible(rows, output)
    return report


def run_cell(data: EvaluationData, inputs: SelectionInputs, method: str, rate: float, seed: int,
             eval_classifier: ClassifierSettings, prefilter: float | None) -> dict[str, Any]:
    """One cell: select the coreset (all pool rows for ``full``), fine-tune, score. The cell
    records the kept pool row ids (source-split ids) so that anyone can check them."""
    started = time.perf_counter()
    if method == FULL_DATA:
        kept = np.arange(data.pool.num_rows, dtype=np.int64)
    else:
        kept = coreset_positions(method, rate, seed, inputs, prefilter)
    select_seconds = time.perf_counter() - started
    scores = fine_tune_and_score(data.pool.select(kept), data.pool_labels[kept], data.heldout,
                                 data.heldout_labels, data.columns, data.label_names, eval_classifier, seed)
    return {"method": method, "rate": rate, "seed": seed, **scores, "select_seconds": round(select_seconds, 3),
            "num_heldout": int(data.heldout.num_rows), "kept_row_ids": data.pool_row_ids[kept].tolist()}


def _run_identity(data: EvaluationData, difficulty: str, prefilter: float | None, classifier: ClassifierSettings,
                  eval_classifier: ClassifierSettings, embedding_model: str | None,
                  difficulty_seed: int) -> dict[str, Any]:
    """What every cell depends on: the rows (hashes of the pool and held-out texts and labels),
    the models and revisions and all settings. A folder with another identity is not reused."""
    from hf_d2.difficulty.data import content_hash  # noqa: PLC0415
    from hf_d2.difficulty.models import model_revision, resolve_model_name  # noqa: PLC0415

    def fingerprint(rows: Any, labels: np.ndarray) -> str:
        return content_hash(rows, data.columns.text, data.columns.text_pair, labels)

    eval_model_path = resolve_model_name(eval_classifier.model)
    return {
        "hf_d2_version": __version__,
        "source": to_jsonable(data.source),
        "columns": asdict(data.columns),
        "label_names": data.label_names,
        "num_pool": int(data.pool.num_rows),
        "num_heldout": int(data.heldout.num_rows),
        "pool_hash": fingerprint(data.pool, data.pool_labels),
        "heldout_hash": fingerprint(data.heldout, data.heldout_labels),
        "difficulty": difficulty,
        "difficulty_seed": difficulty_seed,
        "prefilter": prefilter,
        "difficulty_classifier": asdict(classifier),
        "eval_classifier": {**asdict(eval_classifier), "revision": model_revision(eval_model_path)},
        "embedding_model": embedding_model,
        "seed_meaning": "each cell's seed seeds its selection and its evaluation classifier",
    }


def _prepare_output(output: Path, identity: dict[str, Any], overwrite: bool) -> None:
    """Creates the folder; an existing one is reused only when made with the same identity."""
    config_path = output / CONFIG_FILE
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"--output '{output}' is a file; pass a folder path.")
    if output.is_dir() and any(output.iterdir()):
        previous = json.loads(config_path.read_text()) if config_path.exists() else None
        changed = [] if previous is None else _changed_keys(previous, identity)
        if overwrite:
            if previous is None and not (output / CELLS_DIR).exists():
                raise FileExistsError(f"--output '{output}' holds files that are not an hf-d2 evaluation; "
                                      "choose a new folder (nothing was deleted).")
            shutil.rmtree(output / CELLS_DIR, ignore_errors=True)
        elif previous is None:
            raise FileExistsError(f"--output '{output}' exists and is not an hf-d2 evaluation folder; choose a new folder.")
        elif changed:
            raise ValueError(f"--output '{output}' holds cells made with other settings ({', '.join(changed)}); "
                             "pass --overwrite to start again, or choose a new folder.")
    (output / CELLS_DIR).mkdir(parents=True, exist_ok=True)
    write_json(config_path, identity)


def _changed_keys(previous: dict[str, Any], identity: dict[str, Any]) -> list[str]:
    """The identity entries that differ, ignoring the hf-d2 version and the source's ``datasets``
    fingerprint (the pool and held-out content hashes pin the rows)."""
    def comparable(key: str, value: Any) -> Any:
        if key == "source" and isinstance(value, dict):
            return {name: item for name, item in value.items() if name != "fingerprint"}
        return value

    return sorted(key for key, value in identity.items()
                  if key != "hf_d2_version" and comparable(key, previous.get(key)) != comparable(key, to_jsonable(value)))


def _results_page(rows: Sequence[dict[str, Any]], identity: dict[str, Any], data: EvaluationData) -> str:
    heldout = identity["source"].get("heldout", {})
    where = (f"a stratified {heldout.get('fraction', 0):.0%} holdout of the training rows (seed {heldout.get('seed')})"
             if heldout.get("kind") == "stratified holdout" else f"the '{heldout.get('split')}' split")
    model = identity["eval_classifier"]
    return (
        f"# hf-d2 evaluate\n\nPool: {identity['num_pool']:,} rows; scored on {identity['num_heldout']:,} rows of "
        f"{where}, never seen by the selection or the difficulty run.\nEvaluation classifier: "
        f"{model['model'] or 'default'}, {model['epochs']} epochs, batch {model['batch_size']}, lr "
        f"{model['learning_rate']:g}, max length {model['max_length']}. Mean ± sample std over seeds; each seed "
        "seeds the selection and the evaluation classifier.\n\n" + results_markdown(rows)
    )


def _plot_if_possible(rows: Sequence[dict[str, Any]], output: Path) -> list[str]:
    from hf_d2.plots import plot_accuracy  # noqa: PLC0415

    try:
        return [str(plot_accuracy(rows, output / f"{ACCURACY_PLOT}.{suffix}")) for suffix in ("png", "svg")]
    except ValueError as error:  # matplotlib missing: the table still stands
        logger.warning("No plot: %s", error)
        return []
