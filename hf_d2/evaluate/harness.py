"""``evaluate``: does a coreset train a better classifier than random (or CCS) at the same size?

For every (method, rate, seed) a coreset of the pool is selected exactly as ``hf-d2 prune``
selects it (the same run plan, stages and selection: ``hf_d2.plan``, ``hf_d2.coreset``), and a
judge is trained on it and scored on held-out rows (``hf_d2.evaluate.data``):

- ``classifier="probe"`` (default): one or more probes (``hf_d2.evaluate.probe``): logistic
  regression or an MLP on the frozen embeddings, or TF-IDF + logistic regression on the words.
  Seconds per cell; 10 seeds by default.
- ``classifier="finetune"``: fine-tune a classifier (the confirming run); 3 seeds by default.

Seeds: seed s seeds the selection's random steps, the probe's initialisation and, when the
difficulty comes from the head (seconds), the head itself, so the spread over seeds includes
the difficulty's own randomness. A fine-tuned difficulty runs once (``seed``). Every method is
compared with random on the same seed, held-out rows and judge (``hf_d2.evaluate.tables``).

Output folder: ``config.json`` (what the cells depend on), ``cells/*.json`` (one finished cell
each; a re-run skips them), ``results.json``, ``results.md`` and ``accuracy.png`` / ``.svg``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hf_d2._io import to_jsonable, write_json
from hf_d2._validation import InvalidParameterError
from hf_d2.coreset import select_for_plan
from hf_d2.embed import compute_embeddings
from hf_d2.env import offline_mode, silenced
from hf_d2.evaluate.data import EvaluationData, prepare_data
from hf_d2.evaluate.folder import evaluation_folder
from hf_d2.evaluate.probe import PROBES, ProbeInputs, load_metric, metric_values, probe_scores, tfidf_features
from hf_d2.evaluate.tables import FULL_DATA, limits_markdown, prune_limits, results_markdown, summarize
from hf_d2.folders import EVALUATE_CELLS, EVALUATE_RESULTS, EVALUATE_TABLE
from hf_d2.options import METHODS, OPTION_NAMES, PruneOptions
from hf_d2.params import Param, param_group, unknown_option_error
from hf_d2.plan import make_plan
from hf_d2.stages import run_stages
from hf_d2.version import __version__

logger = logging.getLogger("hf_d2")

CLASSIFIERS = ("probe", "finetune")
DEFAULT_SEEDS = {"probe": 10, "finetune": 3}
EVALUATE_PARAMS = param_group(
    "evaluate",
    Param("methods", str, ("d2", "random", "ccs"), "selection methods to compare (random, the paired baseline, is "
          "always added)", choices=METHODS, many=True),
    Param("rates", float, (0.3, 0.5, 0.7, 0.9), "pruning rates (fraction REMOVED)", low=0, high=1, high_open=True,
          many=True),
    Param("seeds", int, None, "seeds 0..N-1 per cell (default 10 with the probe, 3 with fine-tuning)", low=1,
          nullable=True),
    Param("classifier", str, "probe", "the evaluation classifier: probe (a small learner, seconds) or finetune (the "
          "confirming fine-tuning)", choices=CLASSIFIERS),
    Param("probe", str, ("logistic",), "probe learner(s): logistic or mlp on the frozen embeddings, tfidf on the words",
          choices=PROBES, many=True),
    Param("holdout", float, 0.2, "fraction of the training rows held out (stratified) when there is no --eval-split",
          low=0, high=1, low_open=True, high_open=True),
    Param("eval_split", str, None, "held-out split to score on (e.g. validation, dev_r3)", nullable=True),
    Param("max_eval_examples", int, None, "score on a seeded sample of this many --eval-split rows", low=1,
          nullable=True),
    Param("split_seed", int, 0, "seed of the stratified holdout", low=0),
    Param("include_full", bool, True, "also train on the whole pool (the reference row)"),
    Param("eval_model", str, None, "fine-tuned judge model (default: --model)", nullable=True),
    Param("eval_epochs", int, None, "fine-tuned judge epochs (default: --epochs)", low=1, nullable=True),
    Param("eval_batch_size", int, None, "fine-tuned judge batch size (default: --batch-size)", low=1, nullable=True),
    Param("eval_learning_rate", float, None, "fine-tuned judge learning rate (default: --learning-rate)", low=0,
          low_open=True, nullable=True),
    Param("eval_max_length", int, None, "fine-tuned judge max length (default: --max-length)", low=2, nullable=True),
    Param("metric", str, None, "also score with this Hugging Face evaluate metric: a name, or a local metric script "
          "or folder (offline); accuracy and macro-F1 (scikit-learn) are always reported", nullable=True),
)


@dataclass(frozen=True)
class EvaluateSettings:
    """The evaluate-only options (``EVALUATE_PARAMS``), checked."""

    methods: tuple[str, ...]
    rates: tuple[float, ...]
    seeds: tuple[int, ...]
    classifier: str
    probes: tuple[str, ...]
    holdout: float
    eval_split: str | None
    max_eval_examples: int | None
    split_seed: int
    include_full: bool
    eval_training: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> EvaluateSettings:
        checked = EVALUATE_PARAMS.check(values, what="evaluate options")
        given = {**EVALUATE_PARAMS.defaults(), **checked}
        methods = [m for m in given["methods"] if m != FULL_DATA]
        methods = methods + (["random"] if "random" not in methods else [])
        count = given["seeds"] or DEFAULT_SEEDS[given["classifier"]]
        eval_training = {name[len("eval_"):]: given[name] for name in ("eval_model", "eval_epochs", "eval_batch_size",
                                                                       "eval_learning_rate", "eval_max_length")
                         if given[name] is not None}
        return cls(methods=tuple(methods), rates=tuple(sorted(set(given["rates"]))), seeds=tuple(range(count)),
                   classifier=given["classifier"], probes=tuple(given["probe"]), holdout=given["holdout"],
                   eval_split=given["eval_split"], max_eval_examples=given["max_eval_examples"],
                   split_seed=given["split_seed"], include_full=given["include_full"], eval_training=eval_training,
                   metric=given["metric"])

    @property
    def judges(self) -> tuple[str, ...]:
        return self.probes if self.classifier == "probe" else ("finetune",)


@dataclass
class EvaluationReport:
    """rows: the summary table; cells: every finished cell; the folder; how many cells this
    call trained vs reused; the plots written; limits: per judge and method, the largest measured
    rate within ``max_drop`` points of the full pool (``tables.prune_limits``)."""

    rows: list[dict[str, Any]]
    cells: list[dict[str, Any]]
    output_dir: Path
    trained_cells: int = 0
    reused_cells: int = 0
    plots: list[str] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(evaluate options, prune options) from one flat mapping of names."""
    known = OPTION_NAMES | frozenset(EVALUATE_PARAMS)
    unknown = sorted(set(options) - known)
    if unknown:
        raise unknown_option_error(unknown[0], known)
    if "method" in options:  # each compared method runs with its own settings
        raise InvalidParameterError("method", "{name} picks one method, and evaluate compares several: name them in "
                                    "{param:methods} (e.g. methods=['d2', 'ccs']) instead.")
    evaluate_values = {k: v for k, v in options.items() if k in EVALUATE_PARAMS}
    return evaluate_values, {k: v for k, v in options.items() if k not in EVALUATE_PARAMS}


def evaluate(dataset: Any, *, output_dir: str | Path, overwrite: bool = False, plots: bool = True,
             config: str | None = None, split: str | None = None, offline: bool = False,
             **options: Any) -> EvaluationReport:
    """Selects every method's coreset at every rate and seed, trains the judge(s) on it and on
    the full pool, scores them on held-out rows; writes and returns the table.

    options: the evaluate options (``methods``, ``rates``, ``seeds``, ``classifier``, ``probe``,
        ``holdout``, ``eval_split``, ...: ``EVALUATE_PARAMS``) and every prune option (``k``,
        ``gamma_reverse``, ``difficulty``, ``epochs``, ``max_examples``, ...), which apply to
        every method's selection as in ``hf-d2 prune``.
    output_dir: cells are stored as they finish; a re-run with the same data and settings skips
        finished cells (more methods, rates or seeds only add cells). A folder made with other
        settings is refused unless ``overwrite``.
    """
    with offline_mode(offline):  # nothing connects; the default models are the bundled ones
        return _evaluate(dataset, output_dir, overwrite, plots, config, split, offline, options)


def _evaluate(dataset: Any, output_dir: str | Path, overwrite: bool, plots: bool, config: str | None,
              split: str | None, offline: bool, options: dict[str, Any]) -> EvaluationReport:
    evaluate_values, prune_values = split_options(options)
    settings = EvaluateSettings.from_values(evaluate_values)
    base = PruneOptions.from_values(prune_values)
    data = prepare_data(dataset, config=config, split=split, eval_split=settings.eval_split, holdout=settings.holdout,
                        max_examples=base.max_examples, max_eval_examples=settings.max_eval_examples,
                        sample_seed=base.seeds.sample, split_seed=settings.split_seed, offline=offline,
                        text_column=base.columns.text, text_pair_column=base.columns.text_pair,
                        label_column=base.columns.label, text_template=base.columns.text_template,
                        allow_many_classes=base.difficulty.allow_many_classes)
    pool_options = replace(base, max_examples=None)
    base_plan = make_plan(data.pool, 0.5, _with(pool_options, method=_union_method(pool_options)), source=data.source,
                          row_ids=data.pool_row_ids)
    identity = _identity(data, settings, pool_options, base_plan)
    metric = load_metric(settings.metric) if settings.metric else None  # a bad metric fails before any training
    with evaluation_folder(output_dir, identity, overwrite=overwrite) as output:
        judge_inputs = _judge_inputs(data, base_plan, pool_options, settings)
        plan_cells = [(FULL_DATA, 0.0)] if settings.include_full else []
        plan_cells += [(method, rate) for method in settings.methods for rate in settings.rates if rate > 0]
        trained = reused = 0
        outputs_by_seed: dict[int, Any] = {}
        for seed in settings.seeds:  # seed-major: an interrupted run has every method at the first seeds
            for method, rate in plan_cells:
                for judge in settings.judges:
                    path = output / EVALUATE_CELLS / f"{cell_name(method, rate, seed, judge)}.json"
                    if path.exists():
                        reused += 1
                        continue
                    if seed not in outputs_by_seed and method != FULL_DATA:
                        with silenced():  # the base plan said what each seed's plan would say again
                            seeded = _seeded_plan(data, base_plan, pool_options, seed)
                        outputs_by_seed = {seed: run_stages(seeded)}
                    with silenced():  # each cell's line below says what it kept and scored
                        kept = (np.arange(data.pool.num_rows) if method == FULL_DATA else _coreset(
                            data, base_plan, pool_options, outputs_by_seed[seed], method, rate, seed))
                    cell = _judge(data, judge_inputs, judge, kept, seed, pool_options, settings)
                    predictions = cell.pop("predictions")
                    if metric is not None:
                        cell.update(metric_values(metric, predictions, data.heldout_labels))
                    cell.update(method=method, rate=rate, seed=seed, judge=judge, num_heldout=int(data.heldout.num_rows),
                                kept_row_ids=data.pool_row_ids[kept].tolist())
                    write_json(path, cell)
                    trained += 1
                    logger.info("cell %s: accuracy %.4f, macro-F1 %.4f, %d examples", path.stem, cell["accuracy"],
                                cell["macro_f1"], cell["num_train"])
        cells = load_cells(output)
        wanted = {cell_name(m, r, s, j) for m, r in plan_cells for s in settings.seeds for j in settings.judges}
        cells = [c for c in cells if cell_name(c["method"], c["rate"], c["seed"], c.get("judge", "finetune")) in wanted]
        rows = summarize(cells, list(settings.methods))
        limits = prune_limits(cells, base.max_drop)
        write_json(output / EVALUATE_RESULTS, {"rows": rows, "limits": limits, "cells": cells, "config": identity})
        (output / EVALUATE_TABLE).write_text(_results_page(rows, identity, limits))
        report = EvaluationReport(rows, cells, output, trained, reused, limits=limits)
        if plots:
            report.plots = _plot_if_possible(rows, output)
    return report


def cell_name(method: str, rate: float, seed: int, judge: str = "finetune") -> str:
    """File stem of a cell: ``d2_rate0.5_seed1_logistic``."""
    return f"{method}_rate{rate:g}_seed{seed}_{judge}"


def load_cells(output_dir: str | Path) -> list[dict[str, Any]]:
    folder = Path(output_dir) / EVALUATE_CELLS
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def load_results(output_dir: str | Path) -> dict[str, Any]:
    path = Path(output_dir) / EVALUATE_RESULTS
    if not path.exists():
        raise ValueError(f"No {EVALUATE_RESULTS} in '{output_dir}'; pass the --output folder of hf-d2 evaluate.")
    return json.loads(path.read_text())


def _with(options: PruneOptions, *, method: str | None = None, selection_seed: int | None = None,
          seed: int | None = None) -> PruneOptions:
    selection = options.selection if method is None else replace(options.selection, method=method)
    seeds = options.seeds
    if selection_seed is not None:
        seeds = replace(seeds, selection=selection_seed)
    difficulty = options.difficulty
    if seed is not None:
        seeds = replace(seeds, training=seed)
        difficulty = replace(difficulty, head=replace(difficulty.head, seed=seed))
    return replace(options, selection=selection, seeds=seeds, difficulty=difficulty)


def _seeded_plan(data: EvaluationData, base_plan: Any, options: PruneOptions, seed: int) -> Any:
    """The pool plan whose stages seed ``seed`` runs: the head retrains per seed (seconds); a
    fine-tuned difficulty keeps its own seed (one run, cached)."""
    head = options.difficulty.source == "head"
    return make_plan(data.pool, 0.5, _with(options, method=_union_method(options), seed=seed if head else None),
                     source=base_plan.source.__dict__, row_ids=data.pool_row_ids)


def _union_method(options: PruneOptions) -> str:
    """The method whose plan needs every stage any compared method needs: auto (difficulty,
    embeddings, labels), or d2 in a label-free evaluation (auto reads labels)."""
    return "d2" if options.difficulty.label_free else "auto"


def _coreset(data: EvaluationData, base_plan: Any, options: PruneOptions, outputs: Any, method: str, rate: float,
             seed: int) -> np.ndarray:
    """The pool positions ``method`` keeps at ``rate`` with seed ``seed``, as hf-d2 prune keeps them."""
    head = options.difficulty.source == "head"
    plan = make_plan(data.pool, rate, _with(options, method=method, selection_seed=seed, seed=seed if head else None),
                     source=base_plan.source.__dict__, row_ids=data.pool_row_ids)
    return select_for_plan(plan, outputs).kept_positions


def _judge_inputs(data: EvaluationData, plan: Any, options: PruneOptions, settings: EvaluateSettings) -> dict:
    """Frozen features of the pool and the held-out rows (probes), and their texts."""
    pool_texts = _texts(plan)
    inputs = {"pool_texts": pool_texts, "heldout_texts": data.heldout_texts}
    if settings.classifier == "probe" and "tfidf" in settings.probes:
        inputs["pool_tfidf"], inputs["heldout_tfidf"] = tfidf_features(pool_texts, data.heldout_texts)
    if settings.classifier == "probe" and set(settings.probes) & {"logistic", "mlp"}:
        pool = compute_embeddings(plan.stage_dataset, plan.text_columns.text, plan.text_columns.text_pair,
                                  model=options.embedding.model, batch_size=options.embedding.batch_size,
                                  max_length=options.embedding.max_length, cache_dir=options.cache_dir)
        heldout_rows = _rendered(data)
        heldout = compute_embeddings(heldout_rows, "text", "pair" if "pair" in heldout_rows.column_names else None,
                                     model=options.embedding.model, batch_size=options.embedding.batch_size,
                                     max_length=options.embedding.max_length, cache_dir=options.cache_dir)
        inputs.update(pool_features=pool.embeddings, heldout_features=heldout.embeddings)
    return inputs


def _judge(data: EvaluationData, inputs: dict, judge: str, kept: np.ndarray, seed: int, options: PruneOptions,
           settings: EvaluateSettings) -> dict[str, Any]:
    labels = data.pool_labels[kept]
    if judge == "finetune":
        from hf_d2.evaluate.finetune import fine_tune_and_score  # noqa: PLC0415 - loads transformers

        config = options.difficulty.training.replace(**settings.eval_training, seed=seed)
        pairs = data.pool[data.columns.text_pair] if data.columns.text_pair else None
        heldout_pairs = data.heldout[data.columns.text_pair] if data.columns.text_pair else None
        return fine_tune_and_score([inputs["pool_texts"][int(i)] for i in kept], labels, inputs["heldout_texts"],
                                   data.heldout_labels, data.label_names, config,
                                   train_pairs=[pairs[int(i)] for i in kept] if pairs else None,
                                   heldout_pairs=heldout_pairs)
    train = ProbeInputs(inputs.get("pool_features"), inputs["pool_texts"], inputs.get("pool_tfidf")).take(kept)
    test = ProbeInputs(inputs.get("heldout_features"), inputs["heldout_texts"], inputs.get("heldout_tfidf"))
    return probe_scores(judge, train, labels, test, data.heldout_labels, num_labels=len(data.label_names), seed=seed)


def _texts(plan: Any) -> list[str]:
    from hf_d2.data.columns import render_texts  # noqa: PLC0415

    return [text or "" for text in render_texts(plan.dataset, plan.text_columns)]


def _rendered(data: EvaluationData) -> Any:
    import datasets  # noqa: PLC0415

    columns = {"text": data.heldout_texts}
    if data.columns.text_pair:
        columns["pair"] = data.heldout[data.columns.text_pair]
    return datasets.Dataset.from_dict(columns)


def _identity(data: EvaluationData, settings: EvaluateSettings, options: PruneOptions, plan: Any) -> dict[str, Any]:
    """What every cell depends on: the rows (content hashes), the models and all settings. A
    folder with another identity is not reused."""
    from hf_d2.cache import rows_hash  # noqa: PLC0415

    columns = [c for c in (plan.text_columns.text if plan.text_columns.template is None else None,
                           plan.text_columns.text_pair, *plan.text_columns.source_columns) if c]
    return to_jsonable({
        "hf_d2_version": __version__,
        "source": {k: v for k, v in data.source.items() if k != "fingerprint"},
        "label_names": data.label_names,
        "num_pool": int(data.pool.num_rows), "num_heldout": int(data.heldout.num_rows),
        "pool_hash": rows_hash(data.pool, columns, data.pool_labels),
        "heldout_hash": rows_hash(data.heldout, [c for c in columns if c in data.heldout.column_names],
                                  data.heldout_labels),
        "options": {k: v for k, v in options.changed_values().items() if k not in ("cache_dir", "use_cache")},
        "heldout_row_ids": data.heldout_row_ids, "pool_row_ids": data.pool_row_ids,
        "classifier": settings.classifier, "probes": list(settings.probes), "eval_training": settings.eval_training,
        "metric": settings.metric,
        "seed_meaning": "seed s seeds the selection, the judge and (head difficulty) the head",
    })


def _results_page(rows: Sequence[dict[str, Any]], identity: dict[str, Any], limits: Sequence[dict[str, Any]]) -> str:
    heldout = identity["source"].get("heldout", {})
    where = (f"a stratified {heldout.get('fraction', 0):.0%} holdout of the training rows (seed {heldout.get('seed')})"
             if heldout.get("kind") == "stratified holdout" else f"the '{heldout.get('split')}' split")
    return (f"# hf-d2 evaluate\n\nPool: {identity['num_pool']:,} rows; scored on {identity['num_heldout']:,} rows of "
            f"{where}, never seen by the selection or the difficulty model. Classifier: {identity['classifier']}. "
            "Mean ± 95% interval over seeds; Δ is the paired difference to random on the same seeds (± its 95% "
            "interval).\n\n" + results_markdown(rows) + ("\n" + limits_markdown(limits) if limits else ""))


def _plot_if_possible(rows: Sequence[dict[str, Any]], output: Path) -> list[str]:
    from hf_d2.plots import plot_accuracy  # noqa: PLC0415 - matplotlib is optional

    try:
        return [str(plot_accuracy(rows, output / f"accuracy.{suffix}")) for suffix in ("png", "svg")]
    except ValueError as error:  # matplotlib missing: the table still stands
        logger.warning("No plot: %s", error)
        return []


__all__ = ["CLASSIFIERS", "EVALUATE_PARAMS", "EvaluateSettings", "EvaluationReport", "cell_name", "evaluate",
           "load_cells", "load_results", "split_options"]
