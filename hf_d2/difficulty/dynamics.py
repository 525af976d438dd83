"""The training-dynamics table: one row per (example, epoch), streamed to Parquet.

Schema (one row per training example per epoch, recorded in train mode from the forward pass of
the training step, *before* that step's optimizer update):

=================  ==========================  ==============================================
column             type                        meaning
=================  ==========================  ==============================================
row_index          int64                       the example's row in the input dataset
epoch              int32                       0-based epoch
step               int64                       0-based optimizer step that saw the example
label              int64                       gold label y (0..C-1)
gold_prob          float32                     p_y, softmax probability of the gold label
pred_label         int64                       argmax_c p_c (ties: lowest class id)
max_other_prob     float32                     max_{c != y} p_c
logit_margin       float32                     z_y - max_{c != y} z_c (logits)
loss               float32                     cross-entropy -log p_y (nats)
probs              fixed_size_list<float32>[C] the full probability vector p
=================  ==========================  ==============================================

:class:`DynamicsArrays` pivots such a table into dense ``(n, E)`` / ``(n, E, C)`` arrays for the
score functions, reading it in record batches (``from_table``) or Parquet row batches
(``from_parquet``: the table never in memory at once; ``from_parquet``'s docstring gives the
memory).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCALAR_COLUMNS = (
    "row_index",
    "epoch",
    "step",
    "label",
    "gold_prob",
    "pred_label",
    "max_other_prob",
    "logit_margin",
    "loss",
)


def dynamics_schema(num_labels: int) -> pa.Schema:
    """Arrow schema of the dynamics table for a ``num_labels``-class problem."""
    return pa.schema(
        [
            ("row_index", pa.int64()),
            ("epoch", pa.int32()),
            ("step", pa.int64()),
            ("label", pa.int64()),
            ("gold_prob", pa.float32()),
            ("pred_label", pa.int64()),
            ("max_other_prob", pa.float32()),
            ("logit_margin", pa.float32()),
            ("loss", pa.float32()),
            ("probs", pa.list_(pa.float32(), num_labels)),
        ]
    )


def dynamics_arrays(parts: Sequence[dict[str, np.ndarray]], num_labels: int) -> list[pa.Array]:
    """The columns of one or more blocks of dynamics rows (dicts of (m,) arrays per
    ``SCALAR_COLUMNS`` name and (m, num_labels) ``probs``), concatenated in order, as Arrow
    arrays in :func:`dynamics_schema` order: what a table or record batch of that schema is
    built from."""
    schema = dynamics_schema(num_labels)
    arrays = [pa.array(np.concatenate([part[name] for part in parts]), type=schema.field(name).type)
              for name in SCALAR_COLUMNS]
    probs = np.concatenate([part["probs"] for part in parts]).astype(np.float32)
    arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(probs.reshape(-1)), num_labels))
    return arrays


def records_from_logits(logits: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example dynamics from one batch of logits, computed in float64 and stored as float32.

    logits: (b, C) float; labels: (b,) int in [0, C). Returns a dict of (b,) arrays (and ``probs``
    of shape (b, C)) keyed by the column names of :func:`dynamics_schema`, without
    ``row_index``, ``epoch`` and ``step``.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(labels.shape[0])
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    probs = np.exp(log_probs)
    other_logits = logits.copy()
    other_logits[rows, labels] = -np.inf
    other_probs = probs.copy()
    other_probs[rows, labels] = -np.inf
    return {
        "label": labels,
        "gold_prob": probs[rows, labels].astype(np.float32),
        "pred_label": probs.argmax(axis=1).astype(np.int64),
        "max_other_prob": other_probs.max(axis=1).astype(np.float32),
        "logit_margin": (logits[rows, labels] - other_logits.max(axis=1)).astype(np.float32),
        "loss": (-log_probs[rows, labels]).astype(np.float32),
        "probs": probs.astype(np.float32),
    }


class DynamicsWriter:
    """Streams dynamics rows of one epoch to a Parquet file in bounded memory.

    Rows are buffered up to ``flush_rows`` and then written as one record batch. The file is
    written under a temporary name and moved into place by :meth:`close`, so a file that exists
    under its final name is always complete.
    """

    def __init__(self, path: str | os.PathLike, num_labels: int, flush_rows: int = 4096) -> None:
        self.path = Path(path)
        self.num_labels = num_labels
        self.schema = dynamics_schema(num_labels)
        self.flush_rows = flush_rows
        self._tmp_path = self.path.with_name(self.path.name + ".tmp")
        self._writer = pq.ParquetWriter(self._tmp_path, self.schema)
        self._pending: list[dict[str, np.ndarray]] = []
        self._pending_rows = 0
        self.rows_written = 0

    def add(self, columns: dict[str, np.ndarray]) -> None:
        """Buffers a batch of rows: every column of :func:`dynamics_schema`, same length."""
        self._pending.append(columns)
        self._pending_rows += len(columns["row_index"])
        if self._pending_rows >= self.flush_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        arrays = dynamics_arrays(self._pending, self.num_labels)
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.rows_written += self._pending_rows
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        """Writes what is buffered and moves the file to its final name."""
        self._flush()
        self._writer.close()
        os.replace(self._tmp_path, self.path)

    def abort(self) -> None:
        """Drops the partial file (the epoch did not finish)."""
        self._writer.close()
        self._tmp_path.unlink(missing_ok=True)


def concat_epoch_files(paths: Sequence[str | os.PathLike], output_path: str | os.PathLike) -> pa.Table:
    """Concatenates per-epoch files, sorted by (epoch, row_index), into one Parquet file."""
    table = pa.concat_tables([pq.read_table(p) for p in paths])
    table = table.sort_by([("epoch", "ascending"), ("row_index", "ascending")])
    tmp_path = Path(str(output_path) + ".tmp")
    pq.write_table(table, tmp_path)
    os.replace(tmp_path, output_path)
    return table


@dataclass(frozen=True)
class DynamicsArrays:
    """Dense view of a dynamics table: n examples (sorted by row index) x E epochs.

    row_index: (n,) int64 ascending; labels: (n,) int64; gold_prob, max_other_prob,
    logit_margin, loss: (n, E) float64; pred_label: (n, E) int64; probs: (n, E, C) float64.
    """

    row_index: np.ndarray
    labels: np.ndarray
    gold_prob: np.ndarray
    pred_label: np.ndarray
    max_other_prob: np.ndarray
    logit_margin: np.ndarray
    loss: np.ndarray
    probs: np.ndarray

    @property
    def num_examples(self) -> int:
        return int(self.row_index.shape[0])

    @property
    def num_epochs(self) -> int:
        return int(self.gold_prob.shape[1])

    @property
    def correct(self) -> np.ndarray:
        """(n, E) bool: the prediction equals the gold label in that epoch."""
        return self.pred_label == self.labels[:, None]

    @classmethod
    def from_table(cls, table: pa.Table) -> DynamicsArrays:
        """Pivots a dynamics table; every example must appear exactly once in every epoch.
        Reads the table in record batches (see ``from_parquet`` for the memory it needs)."""
        _check_columns(table.schema.names)
        return cls._pivot(table.select(["row_index", "epoch"]),
                          lambda: table.to_batches(max_chunksize=PIVOT_BATCH_ROWS))

    @classmethod
    def from_parquet(cls, path: str | os.PathLike, batch_rows: int | None = None) -> DynamicsArrays:
        """``from_table`` of a dynamics Parquet file, read in batches of ``batch_rows`` rows
        (default ``PIVOT_BATCH_ROWS``) without loading the table.

        Memory, for N = n·E table rows and C classes: the result (n·E·(5·8 + 8·C) bytes:
        gold_prob, max_other_prob, logit_margin, loss float64, pred_label int64, probs float64),
        the (N,) row_index and epoch columns of a first pass (12 bytes a row, freed before the
        second), and one batch (about 60 + 4·C bytes a row) at a time. 2M rows × 10 epochs × 2
        classes: 1.5 GB of result; ``benchmarks/prune_memory.py --dynamics`` measures the peak.
        """
        batch_rows = batch_rows or PIVOT_BATCH_ROWS
        parquet = pq.ParquetFile(path)
        _check_columns(parquet.schema_arrow.names)
        keys = parquet.read(columns=["row_index", "epoch"])
        return cls._pivot(keys, lambda: parquet.iter_batches(batch_size=batch_rows, columns=[
            *(name for name in SCALAR_COLUMNS if name != "step" and name in parquet.schema_arrow.names), "probs"]))

    @classmethod
    def _pivot(cls, keys: pa.Table, batches) -> DynamicsArrays:
        """keys: the (N,) ``row_index`` and ``epoch`` columns; batches(): an iterator over the
        table's record batches, in the same row order. Two passes, no (N,)-sized temporaries in
        the second."""
        rows = np.unique(keys.column("row_index").to_numpy())
        epochs = np.unique(keys.column("epoch").to_numpy().astype(np.int64))
        del keys
        n, num_epochs = rows.shape[0], epochs.shape[0]
        contiguous = n > 0 and rows[0] == 0 and rows[-1] == n - 1  # row ids 0..n-1: a position is the id itself
        counts = np.zeros(n * num_epochs, dtype=np.int64)
        out = {name: np.empty((n, num_epochs), dtype=np.float64)
               for name in ("gold_prob", "max_other_prob", "logit_margin", "loss")}
        pred_label = np.empty((n, num_epochs), dtype=np.int64)
        labels = np.full(n, -1, dtype=np.int64)
        probs = None
        for batch in batches():
            row_pos = batch.column(batch.schema.get_field_index("row_index")).to_numpy()
            row_pos = row_pos.astype(np.int64) if contiguous else np.searchsorted(rows, row_pos)
            epoch_pos = np.searchsorted(epochs, batch.column(batch.schema.get_field_index("epoch")).to_numpy())
            counts += np.bincount(row_pos * num_epochs + epoch_pos, minlength=n * num_epochs)
            column = {name: batch.column(batch.schema.get_field_index(name)) for name in batch.schema.names}
            for name, target in out.items():
                target[row_pos, epoch_pos] = column[name].to_numpy(zero_copy_only=False)
            pred_label[row_pos, epoch_pos] = column["pred_label"].to_numpy(zero_copy_only=False)
            batch_labels = column["label"].to_numpy(zero_copy_only=False).astype(np.int64)
            seen = labels[row_pos]
            labels[row_pos] = batch_labels  # a row twice in this batch keeps one of its labels: re-read below
            if np.any((seen >= 0) & (seen != batch_labels)) or np.any(labels[row_pos] != batch_labels):
                raise ValueError("The dynamics table gives one example different labels in different epochs.")
            flat = column["probs"]
            num_labels = flat.type.list_size if hasattr(flat.type, "list_size") else None
            values = np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
            num_labels = num_labels or (values.shape[0] // max(1, len(batch)))
            if probs is None:
                probs = np.empty((n, num_epochs, num_labels), dtype=np.float64)
            probs[row_pos, epoch_pos] = values.reshape(len(batch), num_labels)
        counts = counts.reshape(n, num_epochs)
        if n == 0 or not np.all(counts == 1):
            bad = np.argwhere(counts != 1)[:3]
            detail = ", ".join(f"row {rows[r]} epoch {epochs[e]}: {counts[r, e]}x" for r, e in bad)
            raise ValueError(
                "The dynamics table must hold every example exactly once per epoch; "
                f"found {detail or 'no rows'}. Re-record the dynamics (hf-d2 score)."
            )
        return cls(row_index=rows.astype(np.int64), labels=labels, pred_label=pred_label, probs=probs, **out)


PIVOT_BATCH_ROWS = 1 << 20  # table rows scattered per batch by DynamicsArrays.from_table / from_parquet


def _check_columns(names: Sequence[str]) -> None:
    missing = [c for c in (*SCALAR_COLUMNS, "probs") if c not in names and c != "step"]
    if missing:
        raise ValueError(
            f"The dynamics table lacks column(s) {missing}; pass a table written by "
            "hf_d2.difficulty (see hf_d2.difficulty.dynamics for the schema)."
        )
