"""The rows of an evaluation: the pool (what the stages and the selection see) and the held-out
rows (what every classifier is scored on, never in the pool).

The held-out rows are the dataset's own evaluation split when one is named (``eval_split``), or
a stratified ``holdout`` fraction carved off the (sampled) training split BEFORE anything else
runs: they never enter the difficulty run, the embeddings, the selection or any training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_d2.data.columns import TextColumns, infer_columns, render_texts
from hf_d2.data.labels import encode_labels, label_name
from hf_d2.data.names import resolve_dataset
from hf_d2.env import silenced


@dataclass
class EvaluationData:
    """pool / heldout: ``Dataset`` s. pool_row_ids / heldout_row_ids: (n,) int64 ids in their
    source split. columns: text / pair / label. label_names: class names in id order;
    pool_labels / heldout_labels: int64 ids into them. heldout_texts: the held-out texts as
    the stages see them (for the TF-IDF probe). source: where the rows came from."""

    pool: Any
    heldout: Any
    pool_row_ids: np.ndarray
    heldout_row_ids: np.ndarray
    columns: TextColumns
    label_names: list[str]
    pool_labels: np.ndarray
    heldout_labels: np.ndarray
    heldout_texts: list[str]
    source: dict[str, Any] = field(default_factory=dict)


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
    """(n,) int64 ids of ``dataset``'s labels in the class order ``names`` (the pool's); a label
    the pool does not have is an error."""
    feature = dataset.features[label_column]
    values = (np.asarray(dataset[label_column]) if dataset.num_rows else np.zeros(0))
    if hasattr(feature, "names") and list(feature.names) == names:
        return values.astype(np.int64)
    lookup = {name: position for position, name in enumerate(names)}
    as_names = [feature.names[int(v)] if hasattr(feature, "names") else label_name(v) for v in values.tolist()]
    missing = sorted(set(as_names) - set(lookup))
    if missing:
        raise ValueError(f"The evaluation split has label(s) {', '.join(missing)} that the training rows lack "
                         f"(training classes: {', '.join(names)}); pick a matching --eval-split.")
    return np.array([lookup[name] for name in as_names], dtype=np.int64)


def prepare_data(dataset: Any, *, config: str | None = None, split: str | None = None, eval_split: str | None = None,
                 holdout: float = 0.2, max_examples: int | None = None, max_eval_examples: int | None = None,
                 sample_seed: int = 0, split_seed: int = 0, offline: bool = False, columns: TextColumns | None = None,
                 text_column: str | None = None, text_pair_column: str | None = None, label_column: str | None = None,
                 text_template: str | None = None, allow_many_classes: bool = False) -> EvaluationData:
    """Loads the training split (a seeded sample of ``max_examples`` rows, drawn with
    ``sample_seed``) and the held-out rows: ``eval_split`` of the same dataset (at most
    ``max_eval_examples`` rows), or a stratified ``holdout`` fraction of the training rows
    (drawn with ``split_seed``). ``dataset``: a name as ``hf_d2.prune`` takes, or a ``Dataset``.
    ``allow_many_classes``: as in ``hf_d2.data.encode_labels``."""
    import datasets  # noqa: PLC0415

    if isinstance(dataset, str):
        name = dataset
        resolved = resolve_dataset(name, config, split, offline=offline)
        train, source = resolved.dataset, {**resolved.source, "name": name}
    elif isinstance(dataset, datasets.Dataset):
        if eval_split is not None:
            raise ValueError("eval_split names a split of a dataset given by name; pass the name (or a save_to_disk "
                             "folder of the DatasetDict), or drop eval_split to use a holdout.")
        train, source = dataset, {"kind": "in-memory", "fingerprint": dataset._fingerprint}
    else:
        raise ValueError("Pass the dataset as a name (Hub id, repo:config, path, rotten_tomatoes) or a datasets.Dataset.")
    if train.num_rows == 0:
        raise ValueError("The training split is empty (0 rows): check --split and any filters.")
    with silenced():  # the pool's run plan announces the columns, once
        columns = columns or infer_columns(train, text_column, text_pair_column, label_column,
                                           text_template=text_template)
    if columns.image is not None:
        raise ValueError(f"hf-d2 evaluate judges text datasets; '{columns.image}' holds images. Judge image coresets "
                         "with benchmarks/digits_quality.py's protocol (probe learners on the images' features).")
    row_ids = np.arange(train.num_rows, dtype=np.int64)
    if max_examples is not None and max_examples < train.num_rows:
        row_ids = np.sort(np.random.default_rng(sample_seed).choice(train.num_rows, size=max_examples, replace=False))
        source.update(max_examples=int(max_examples), num_rows_in_split=int(train.num_rows), sample_seed=sample_seed)
        train = train.select(row_ids)
    encoded = encode_labels(train, columns.label, allow_many_classes=allow_many_classes)
    if eval_split is None:
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"The 'holdout' parameter must be in (0, 1). Got {holdout}.")
        pool_positions, heldout_positions = stratified_holdout(encoded.ids, holdout, split_seed)
        pool, heldout = train.select(pool_positions), train.select(heldout_positions)
        pool_row_ids, heldout_row_ids = row_ids[pool_positions], row_ids[heldout_positions]
        pool_labels, heldout_labels = encoded.ids[pool_positions], encoded.ids[heldout_positions]
        source.update(heldout={"kind": "stratified holdout", "fraction": holdout, "seed": split_seed})
    else:
        evaluation = resolve_dataset(name, config, eval_split, offline=offline).dataset
        heldout_row_ids = np.arange(evaluation.num_rows, dtype=np.int64)
        if max_eval_examples is not None and max_eval_examples < evaluation.num_rows:
            heldout_row_ids = np.sort(np.random.default_rng(split_seed).choice(
                evaluation.num_rows, size=max_eval_examples, replace=False))
        heldout = evaluation.select(heldout_row_ids)
        infer_columns(heldout, columns.text if columns.template is None else None, columns.text_pair, columns.label,
                      text_template=columns.template if columns.template not in (None, "<callable>") else None)
        pool, pool_row_ids, pool_labels = train, row_ids, encoded.ids
        heldout_labels = label_ids(heldout, columns.label, encoded.names)
        source.update(heldout={"kind": "split", "split": eval_split, "max_eval_examples": max_eval_examples})
    if heldout.num_rows == 0:
        raise ValueError("The held-out split is empty (0 rows); raise --holdout or name a non-empty --eval-split.")
    return EvaluationData(pool, heldout, pool_row_ids, heldout_row_ids, columns, encoded.names, pool_labels,
                          heldout_labels, [text or "" for text in render_texts(heldout, columns)], source)
