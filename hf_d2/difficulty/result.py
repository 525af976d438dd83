"""A difficulty run's result and its folder: ``DifficultyResult`` (the dynamics, their scores and
the optional embeddings), the files of a finished run (``write_result``, ``load_result``), and
the training curve read from the dynamics."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hf_d2.difficulty.dynamics import DynamicsArrays
from hf_d2.difficulty.scores import DEFAULT_SCORE, difficulty_scores, raw_scores, scores_table
from hf_d2.folders import output_folder

FORMAT_VERSION = 1
DYNAMICS_FILE = "dynamics.parquet"
SCORES_FILE = "scores.parquet"
METADATA_FILE = "metadata.json"
EMBEDDINGS_FILE = "embeddings.npy"
FINAL_MODEL_DIR = "final_model"


@dataclass
class DifficultyResult:
    """Recorded training dynamics of one fine-tuning run, with scores and optional features.

    dynamics: pyarrow.Table, one row per (example, epoch), sorted by (epoch, row_index); schema in
    ``hf_d2.difficulty.dynamics``. embeddings: (n, hidden) float32 last-layer first-token states
    of the fine-tuned model (eval mode), row i = dataset row i, or None. metadata: model id and
    revision, hyperparameters, label names, cache key, score directions. from_cache: the run
    had finished before this call (nothing was trained).
    """

    dynamics: pa.Table
    metadata: dict[str, Any]
    embeddings: np.ndarray | None = None
    run_dir: Path | None = None
    from_cache: bool = False
    resumed_at_epoch: int | None = None
    _arrays: DynamicsArrays | None = field(default=None, repr=False)

    @property
    def arrays(self) -> DynamicsArrays:
        """Dense (n, E) view of the dynamics, rows by ascending row index."""
        if self._arrays is None:
            self._arrays = DynamicsArrays.from_table(self.dynamics)
        return self._arrays

    @property
    def dynamics_dataset(self) -> datasets.Dataset:
        """The dynamics table as a ``datasets.Dataset``."""
        return datasets.Dataset(self.dynamics)

    @property
    def num_examples(self) -> int:
        return self.arrays.num_examples

    def training_curve(self) -> tuple[list[float], list[float]]:
        """(accuracy, loss) per recorded epoch: the fraction of rows whose recorded prediction
        was the gold label, and the mean cross-entropy (nats). Shows whether the model learned."""
        return training_curve(self.arrays)

    def scores(self, name: str = DEFAULT_SCORE, oriented: bool = True, **options: Any) -> np.ndarray:
        """Score ``name`` for every row: (n,) float64 by row index. ``oriented=True`` (default)
        gives hardness, higher = harder; ``oriented=False`` the raw value in its own direction."""
        if oriented:
            return difficulty_scores(self.arrays, name, **options)
        return raw_scores(self.arrays, name, **options)

    def scores_table(self) -> pa.Table:
        """row_index + every score, raw (``<name>``) and oriented (``<name>_hardness``)."""
        return scores_table(self.arrays)

    def save(self, output_dir: str | os.PathLike, overwrite: bool = False) -> Path:
        """Writes dynamics.parquet, scores.parquet, metadata.json (and embeddings.npy) to a new
        folder (``overwrite``: replacing an earlier one), as every hf-d2 output folder is written
        (``hf_d2.folders.output_folder``). Returns the folder."""
        with output_folder(output_dir, kind="score", overwrite=overwrite, label="The folder",
                           overwrite_hint="overwrite=True") as output:
            write_result(self, output.staging)
        return output.path


def write_result(result: DifficultyResult, folder: Path) -> None:
    """The layout of a difficulty folder (what ``load_result`` reads): dynamics.parquet,
    scores.parquet, metadata.json, and embeddings.npy when the run has them."""
    pq.write_table(result.dynamics, folder / DYNAMICS_FILE)
    pq.write_table(result.scores_table(), folder / SCORES_FILE)
    if result.embeddings is not None:
        np.save(folder / EMBEDDINGS_FILE, result.embeddings)
    (folder / METADATA_FILE).write_text(json.dumps(result.metadata, indent=2, sort_keys=True))


def load_result(run_dir: str | os.PathLike, with_embeddings: bool = False) -> DifficultyResult:
    """Loads a finished run folder (a cache entry) as a :class:`DifficultyResult`."""
    run_dir = Path(run_dir)
    if not is_finished_run(run_dir):
        raise ValueError(f"{str(run_dir)!r} is not a finished difficulty run; run compute_difficulty.")
    metadata = json.loads((run_dir / METADATA_FILE).read_text())
    embeddings = np.load(run_dir / EMBEDDINGS_FILE) if with_embeddings else None
    return DifficultyResult(pq.read_table(run_dir / DYNAMICS_FILE), metadata, embeddings, run_dir)


def is_finished_run(run_dir: Path) -> bool:
    """True when ``run_dir`` holds a finished run (its metadata.json is written last)."""
    return (run_dir / METADATA_FILE).exists() and (run_dir / DYNAMICS_FILE).exists()


def training_curve(arrays: DynamicsArrays) -> tuple[list[float], list[float]]:
    """(accuracy, mean loss) per recorded epoch of a dynamics table's dense view."""
    accuracy = arrays.correct.mean(axis=0)
    loss = arrays.loss.mean(axis=0)
    return [round(float(value), 6) for value in accuracy], [round(float(value), 6) for value in loss]
