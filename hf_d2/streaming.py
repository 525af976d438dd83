"""Pruning a streaming ``datasets.IterableDataset``: ``iterable.d2_prune(rate, **options)``.

A stream can be read once per pass, so the prune makes exactly one pass over it before it
selects:

1. it reads the first ``PEEK_ROWS`` rows and makes a run plan of them (``hf_d2.plan.make_plan``:
   the same column inference and checks as a map-style prune) to learn which columns the stages
   read: the text (and pair, or the template's source columns), the label, the image, and any
   score / embedding / pre-filter column named in the options;
2. one pass over the whole stream, ``STREAM_BATCH_ROWS`` rows at a time, keeps only those columns,
   as Arrow record batches, in one in-memory Arrow table (memory: those columns' bytes, e.g.
   about 1.2 kB a row for IMDB-length texts; no other column of the stream is ever held);
3. that table, as a map-style ``Dataset``, goes through the ordinary pipeline
   (``prune_with_scores``): embeddings in blocks into the memory-mapped stage cache
   (``hf_d2.embed``), the difficulty, the selection; every stage is cached as for a map-style run;
4. the result is ``iterable.filter(..., with_indices=True)`` keeping the selected row indices: an
   ``IterableDataset`` that yields the kept rows, all their columns, in their original order,
   lazily (a second pass over the source when it is iterated). With ``add_columns`` the
   d2_* columns are added by a ``map`` on the row index first.

The selection record is attached to the result's ``info.description`` as on a map-style result
(``hf_d2.selection_record(kept)`` reads it); its ``kept_row_ids`` are positions in the stream.
Row positions are those of the stream's own iteration order, so the stream must yield the same
rows in the same order on every pass (no ``shuffle`` without a fixed seed and epoch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_d2.cache import rows_hash
from hf_d2.env import silenced
from hf_d2.options import PruneOptions
from hf_d2.plan import make_plan
from hf_d2.prune import ADDED_COLUMNS, prune_with_scores

PEEK_ROWS = 1_000  # rows read first to infer the columns the stages need
STREAM_BATCH_ROWS = 10_000  # rows per Arrow batch of the materialising pass


def prune_iterable(iterable: Any, rate: float, **options: Any) -> Any:
    """Prunes the stream ``iterable`` to ``round((1 - rate) · n)`` rows; returns an
    ``IterableDataset`` of the kept rows in original order, with the selection record in
    ``info.description``. rate: fraction of rows REMOVED, 0 <= rate < 1. options: as
    ``hf_d2.prune_with_scores`` (see the module docstring for what is held in memory)."""
    import datasets  # noqa: PLC0415 - heavy; the array core never needs it

    if not isinstance(iterable, datasets.IterableDataset):
        raise ValueError(f"prune_iterable takes a datasets.IterableDataset; got {type(iterable).__name__}.")
    checked = PruneOptions.from_values(options)  # option errors before any pass over the stream
    columns = needed_columns(iterable, rate, checked)
    rows, content_hash = materialise(iterable, columns)
    source = {"kind": "stream", "name": iterable.info.dataset_name or iterable.info.builder_name,
              "split": str(iterable.split) if iterable.split is not None else None,
              "dataset_name": iterable.info.dataset_name, "content_hash": content_hash}
    result = prune_with_scores(rows, rate, source=source, **options)
    kept = np.zeros(rows.num_rows, dtype=bool)
    kept[np.asarray(result.record.kept_row_ids, dtype=np.int64)] = True
    stream = iterable
    if checked.add_columns:
        stream = _with_added_columns(iterable, result, rows.num_rows)
    pruned = stream.filter(KeptRows(kept), with_indices=True)
    pruned.info.description = result.record.attach(iterable.info.description)
    return pruned


def needed_columns(iterable: Any, rate: float, options: PruneOptions) -> list[str]:
    """The stream's columns a prune with ``options`` reads, in the stream's column order: those
    a run plan of the first ``PEEK_ROWS`` rows uses, and the named score / embedding /
    pre-filter columns."""
    import datasets  # noqa: PLC0415

    head = datasets.Dataset.from_list(list(iterable.take(PEEK_ROWS)), features=iterable.features)
    if head.num_rows == 0:
        raise ValueError("The stream is empty (0 rows): there is nothing to prune.")
    with silenced():  # the plan of the whole stream says the same things once
        plan = make_plan(head, rate, options)
    text = plan.text_columns
    wanted = {plan.label_column, options.columns.score, options.columns.embedding, options.columns.prefilter}
    if text is not None:
        wanted |= {text.text, text.text_pair, text.image, text.label, *text.source_columns}
    return [name for name in head.column_names if name in wanted]


def materialise(iterable: Any, columns: list[str]) -> tuple[Any, str]:
    """One pass over ``iterable`` keeping ``columns``: (a map-style in-memory ``Dataset`` with the
    stream's features for them, rows in stream order, fingerprinted by their content; that
    content hash, ``cache.rows_hash`` of all its columns, which the record keeps)."""
    import datasets  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415
    from datasets.fingerprint import Hasher  # noqa: PLC0415

    selected = iterable.select_columns(columns)
    tables = list(selected.with_format("arrow").iter(batch_size=STREAM_BATCH_ROWS))
    if not tables:
        raise ValueError("The stream is empty (0 rows): there is nothing to prune.")
    table = pa.concat_tables(tables, promote_options="default").combine_chunks()
    features = iterable.features
    dataset = datasets.Dataset(datasets.table.InMemoryTable(table), info=datasets.DatasetInfo(
        features=datasets.Features({name: features[name] for name in columns}) if features else None))
    content_hash = rows_hash(dataset, dataset.column_names)
    dataset._fingerprint = Hasher.hash(["hf_d2.stream", content_hash])
    return dataset, content_hash


class KeptRows:
    """``filter`` predicate: True for the rows whose stream position is kept. kept: (n,) bool."""

    def __init__(self, kept: np.ndarray) -> None:
        self.kept = kept

    def __call__(self, example: dict[str, Any], index: int) -> bool:
        return bool(index < self.kept.size and self.kept[index])


class AddedColumns:
    """``map`` function adding the d2_* columns (``hf_d2.prune.ADDED_COLUMNS``) of a row by its
    stream position. values: name → (n,) array."""

    def __init__(self, values: dict[str, np.ndarray]) -> None:
        self.values = values

    def __call__(self, example: dict[str, Any], index: int) -> dict[str, Any]:
        return {name: values[index].item() for name, values in self.values.items()}


def _with_added_columns(iterable: Any, result: Any, num_rows: int) -> Any:
    import datasets  # noqa: PLC0415

    existing = set(iterable.column_names or [])
    clash = [name for name in ADDED_COLUMNS if name in existing]
    if clash:
        raise ValueError(f"The stream already has a column '{clash[0]}'; remove it (iterable.remove_columns"
                         f"('{clash[0]}')) or pass add_columns=False.")
    scores = result.scores  # one row per row selected from (a max_examples sample: fewer than n)
    positions = np.asarray(scores["original_index"], dtype=np.int64)
    values = {"d2_difficulty": np.full(num_rows, np.nan), "d2_forward_score": np.full(num_rows, np.nan),
              "d2_pick_rank": np.full(num_rows, -1, dtype=np.int64),
              "d2_original_index": np.arange(num_rows, dtype=np.int64)}
    for name, column in (("d2_difficulty", "difficulty"), ("d2_forward_score", "forward_score"),
                         ("d2_pick_rank", "pick_rank")):
        values[name][positions] = np.asarray(scores[column])
    features = None
    if iterable.features is not None:
        features = datasets.Features({**iterable.features, "d2_difficulty": datasets.Value("float64"),
                                      "d2_forward_score": datasets.Value("float64"),
                                      "d2_pick_rank": datasets.Value("int64"),
                                      "d2_original_index": datasets.Value("int64")})
    return iterable.map(AddedColumns(values), with_indices=True, features=features)


__all__ = ["PEEK_ROWS", "STREAM_BATCH_ROWS", "materialise", "needed_columns", "prune_iterable"]
