"""What the report knows of each scores row of a prune / select folder: its text and label
(from the run's plan, the source rows or the coreset) and the run's embeddings (given, a column,
or the stage cache)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from hf_d2.cache import cache_root, stage_path
from hf_d2.data.columns import TextColumns, infer_columns, render_texts
from hf_d2.difficulty.result import EMBEDDINGS_FILE
from hf_d2.reselect import source_rows

SEPARATOR = " [SEP] "  # between the two texts of a pair


@dataclass
class Rows:
    """What the page knows of each scores row: its text and label (None: unknown), the rows as a
    ``Dataset`` (for embedding columns; None when only the coreset was readable) and a note."""

    texts: list[str | None]
    labels: list[str | None]
    dataset: Any = None
    notes: list[str] = field(default_factory=list)


def row_texts(folder: Path, record: Any, coreset: Any, row_ids: np.ndarray, plan: Any, source: Any) -> Rows:
    """Text and label of every scores row: from ``plan`` (the rows a running prune selected
    from), else from the source rows (``source`` or the record's), else only the kept rows'
    from the coreset in ``folder``."""
    row_ids = np.asarray(row_ids, dtype=np.int64)
    if plan is not None and plan.num_rows == row_ids.size and np.array_equal(plan.row_ids, row_ids):
        texts = _render(plan.dataset, plan.text_columns or _text_columns(plan.dataset, record))
        labels = None
        if plan.labels is not None:
            labels = [plan.labels.names[int(i)] for i in plan.labels.ids]
        return Rows(texts, labels or [None] * row_ids.size, plan.dataset)
    try:
        rows = source_rows(record, source)
        if rows.num_rows <= int(row_ids.max(initial=-1)):
            raise ValueError(f"they have {rows.num_rows:,} rows, fewer than the record refers to")
        subset = rows.select(row_ids)
        return Rows(_render(subset, _text_columns(subset, record)), _labels(subset, record.columns.label), subset)
    except (ValueError, FileNotFoundError, OSError, KeyError) as error:
        reason = " ".join(str(error).split()).rstrip(".")
    # Only the coreset is in the folder: its rows are the kept ids, ascending.
    texts: list[str | None] = [None] * row_ids.size
    labels: list[str | None] = [None] * row_ids.size
    kept_ids = np.asarray(record.kept_row_ids, dtype=np.int64)
    where = np.searchsorted(kept_ids, row_ids)
    found = (where < kept_ids.size) & (kept_ids[np.minimum(where, kept_ids.size - 1)] == row_ids)
    if kept_ids.size and coreset.num_rows == kept_ids.size:
        coreset_texts = _render(coreset, _text_columns(coreset, record))
        coreset_labels = _labels(coreset, record.columns.label)
        for position in np.flatnonzero(found):
            texts[position] = coreset_texts[where[position]]
            labels[position] = coreset_labels[where[position]]
    note = (f"Only kept rows show their text: a prune folder stores the coreset, not the pruned rows, and the source "
            f"rows could not be loaded ({reason}). Run hf-d2 report FOLDER --source PATH to show every row's text.")
    return Rows(texts, labels, None, [note])


def _text_columns(dataset: Any, record: Any) -> Any:
    """The record's text columns for ``dataset`` (None when it lacks them)."""
    columns = record.columns
    label = columns.label if columns.label in dataset.column_names else None
    try:
        if columns.text_template and columns.text_template != "<callable>":
            return infer_columns(dataset, text_template=columns.text_template, label_column=label, require_label=False)
        if columns.text and columns.text in dataset.column_names:
            pair = columns.text_pair if columns.text_pair in dataset.column_names else None
            return TextColumns(text=columns.text, text_pair=pair)
        if columns.text is None and columns.text_template is None:  # no stage read text (hf-d2 select)
            return infer_columns(dataset, label_column=label, require_label=False)  # as prune would find it
    except ValueError:
        pass
    return None


def _render(dataset: Any, columns: Any) -> list[str | None]:
    """Each row's text as the stages read it (the pair joined by `` [SEP] ``); None without columns."""
    if columns is None or dataset is None:
        return [None] * (dataset.num_rows if dataset is not None else 0)
    texts = render_texts(dataset, columns)
    if columns.text_pair:
        texts = [None if a is None else f"{a}{SEPARATOR}{'' if b is None else b}"
                 for a, b in zip(texts, dataset[columns.text_pair])]
    return [None if text is None else str(text) for text in texts]


def _labels(dataset: Any, label_column: str | None) -> list[str | None]:
    """Label names as the record counts them: a ClassLabel's name, else the value as a string."""
    if not label_column or label_column not in dataset.column_names:
        return [None] * dataset.num_rows
    feature = dataset.features[label_column]
    values = dataset[label_column]
    if isinstance(feature, datasets.ClassLabel):
        return [None if value is None else feature.int2str(int(value)) for value in values]
    return [None if value is None else str(value) for value in values]


def run_embeddings(record: Any, n: int, *, embeddings: Any, plan: Any, cache_dir: Any,
                   rows: Any) -> tuple[np.ndarray | None, str]:
    """The run's (n, d) embeddings and where they came from, or (None, why not). Given
    ``embeddings`` (a .npy path or an array) that do not match the selection are an error."""
    if embeddings is not None:
        where = str(embeddings) if not isinstance(embeddings, np.ndarray) else "the given array"
        if not isinstance(embeddings, np.ndarray):
            if not Path(embeddings).expanduser().is_file():
                raise FileNotFoundError(f"No embeddings file at '{embeddings}'; pass the .npy file of the run's (n, d) "
                                        "embeddings.")
            try:
                embeddings = np.load(Path(embeddings).expanduser(), mmap_mode="r")
            except ValueError:
                raise ValueError(f"'{where}' is not a .npy array; pass the run's (n, d) embeddings saved with "
                                 "numpy.save.") from None
        if embeddings.ndim != 2 or embeddings.shape[0] != n:
            raise ValueError(f"The embeddings in {where} have shape {tuple(embeddings.shape)} but the selection has {n:,} "
                             "rows; pass the (n, d) embeddings of the same run.")
        return embeddings, f"from {where}"
    if plan is not None and getattr(plan.given, "embeddings", None) is not None and len(plan.given.embeddings) == n:
        return plan.given.embeddings, f"from the column '{record.columns.embedding}'"
    info = record.embeddings
    if info is None:
        return None, "the run used no embeddings"
    if cache_dir is None and plan is not None:
        cache_dir = plan.options.cache_dir
    candidates: list[Path] = []
    if info.source == "column":
        column = record.columns.embedding or info.model
        if rows is not None and column in rows.column_names:
            return np.asarray(rows[column], dtype=np.float32), f"from the column '{column}'"
        return None, f"the embeddings were the column '{column}' of the source rows, which could not be read"
    if info.cache_key:
        if info.source == "classifier":
            candidates.append(stage_path(cache_dir, "difficulty", info.cache_key) / EMBEDDINGS_FILE)
        else:
            candidates.append(stage_path(cache_dir, "embeddings", info.cache_key, ".npy"))
    for candidate in candidates:
        if candidate.is_file():
            array = np.load(candidate, mmap_mode="r")
            if array.ndim == 2 and array.shape[0] == n:
                return array, f"from the stage cache ({candidate})"
    looked = f" (looked for {candidates[0]})" if candidates else ""
    return None, (f"the embeddings are not in the stage cache {cache_root(cache_dir)}{looked}; pass --embeddings "
                  "FILE.npy or --cache-dir DIR")
