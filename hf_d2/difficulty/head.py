"""Training dynamics of a small head on frozen embeddings: difficulty in seconds.

The fine-tuning recorder (``recorder.py``) trains the whole encoder. This module trains only a
small classifier (one hidden layer, or none) on top of embeddings that are already computed, and
records the same per-example dynamics, so every registered score (variability, AUM, EL2N, ...)
works unchanged. On the bundled datasets this head gives a more useful difficulty signal than
three epochs of fine-tuning, at a small fraction of the cost (docs/method.md, "Measured").

Recording: after every ``1 / records_per_epoch`` of an epoch, every row is scored in eval mode
(the head has no dropout, so train and eval mode agree); each such snapshot is one "epoch" of
the dynamics table, numbered 0, 1, ... in time order. Deterministic under ``seed`` on a fixed
number of threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from hf_d2._validation import check_embeddings, check_labels, check_positive_int
from hf_d2.cache import cache_key, stage_path
from hf_d2.difficulty.dynamics import DynamicsArrays, dynamics_arrays, dynamics_schema, records_from_logits
from hf_d2.params import Param, param_group

HEAD_PARAMS = param_group(
    "head",
    Param("head_epochs", int, 10, "epochs of the difficulty head on frozen embeddings", low=1),
    Param("head_hidden_size", int, 256, "hidden units of the difficulty head (0 = a linear head)", low=0),
    Param("head_learning_rate", float, 1e-3, "Adam learning rate of the difficulty head", low=0, low_open=True),
    Param("head_batch_size", int, 64, "batch size of the difficulty head", low=1),
    Param("head_weight_decay", float, 0.0, "weight decay of the difficulty head", low=0),
    Param("records_per_epoch", int, 1, "snapshots of every row per head epoch (dynamics recorded more often)", low=1),
)
_PREFIX = "head_"
SNAPSHOT_BLOCK_ROWS = 65_536  # rows per forward pass of a snapshot (bounds the (rows, hidden) activations)
# The head's matrices are small: torch trains it on one thread. Several threads gain little here and,
# when the cores are shared with other work, wait on each other at every step (measured on the 2-core
# machine at load 5: 300 rows, 10 epochs, 19 s on two threads, 0.15 s on one; the same dynamics).
HEAD_THREADS = 1
MIN_STEPS_PER_EPOCH = 16


@dataclass(frozen=True)
class HeadConfig:
    """How the head trains (defaults: ``HEAD_PARAMS``, where the options are named
    ``head_epochs``, ``head_hidden_size``, ...).

    epochs: passes over the rows. hidden_size: units of the hidden layer (0 = a linear head).
    learning_rate: Adam step size. batch_size: rows per step, at most (``effective_batch_size``:
    small datasets use smaller batches so that an epoch is at least 16 steps). weight_decay: L2 penalty (Adam's
    coupled form). records_per_epoch: snapshots of every row per epoch (see the module doc).
    seed: initialisation and data order.
    """

    epochs: int = HEAD_PARAMS["head_epochs"].default
    hidden_size: int = HEAD_PARAMS["head_hidden_size"].default
    learning_rate: float = HEAD_PARAMS["head_learning_rate"].default
    batch_size: int = HEAD_PARAMS["head_batch_size"].default
    weight_decay: float = HEAD_PARAMS["head_weight_decay"].default
    records_per_epoch: int = HEAD_PARAMS["records_per_epoch"].default
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            if name != "seed":
                object.__setattr__(self, name, HEAD_PARAMS[_param_name(name)].check(value))
        check_positive_int("seed", self.seed, minimum=0)

    def checked(self) -> HeadConfig:
        return self

    @classmethod
    def from_values(cls, values: dict, seed: int = 0) -> HeadConfig:
        """From option names (``head_epochs=5``, ``records_per_epoch=2``)."""
        checked = HEAD_PARAMS.check(values, what="difficulty head options")
        return cls(**{_field_name(name): value for name, value in checked.items()}, seed=seed)

    def options(self) -> dict:
        """This config as option names (``head_epochs``, ...), without the seed."""
        return {_param_name(name): value for name, value in self.as_dict().items() if name != "seed"}

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def num_snapshots(self) -> int:
        """How many records of every row the dynamics will hold (epochs × records_per_epoch)."""
        return self.epochs * self.records_per_epoch


def _param_name(field_name: str) -> str:
    return field_name if field_name == "records_per_epoch" else _PREFIX + field_name


def _field_name(param_name: str) -> str:
    return param_name[len(_PREFIX):] if param_name.startswith(_PREFIX) else param_name


def fit_head(embeddings: np.ndarray, labels: np.ndarray, config: HeadConfig | None = None,
             num_labels: int | None = None, on_snapshot: Callable[[int, np.ndarray], None] | None = None) -> Callable:
    """Trains the head (Adam, cross-entropy) and returns ``predict_logits(features) -> (m, C)``.

    embeddings: (n, d) float; labels: (n,) int in [0, C); num_labels: C (default labels.max() + 1).
    on_snapshot(step, logits): called after every ``1 / records_per_epoch`` of an epoch with
    the (n, C) float64 logits of every row (eval mode) and the optimizer steps taken so far.
    """
    import torch  # noqa: PLC0415 - torch is heavy; the selection core never needs it

    config = (config or HeadConfig()).checked()
    features = check_embeddings(embeddings)
    labels = check_labels(labels, features.shape[0]).astype(np.int64)
    num_rows = features.shape[0]
    num_labels = int(num_labels if num_labels is not None else labels.max() + 1)
    if labels.min() < 0 or labels.max() >= num_labels:
        raise ValueError(f"The labels must be integers in [0, {num_labels}); got {labels.min()}..{labels.max()}.")
    batch_size = effective_batch_size(num_rows, config.batch_size)
    steps_per_epoch = -(-num_rows // batch_size)
    record_steps = {round(steps_per_epoch * (slot + 1) / config.records_per_epoch)
                    for slot in range(config.records_per_epoch)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = _build_head(features.shape[1], num_labels, config.hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    with warnings.catch_warnings():  # a read-only memory map of the stage cache: torch only reads it, never copies
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        inputs = torch.from_numpy(features)
    targets = torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(config.seed)
    with _torch_threads(HEAD_THREADS):
        _train(model, optimizer, inputs, targets, generator, config, steps_per_epoch, batch_size, record_steps,
               on_snapshot)

    def predict_logits(new_features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(check_embeddings(new_features, "features"))).double().numpy()

    return predict_logits


@contextlib.contextmanager
def _torch_threads(count: int):
    import torch  # noqa: PLC0415

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train(model, optimizer, inputs, targets, generator, config: HeadConfig, steps_per_epoch: int, batch_size: int,
           record_steps: set[int], on_snapshot: Callable[[int, np.ndarray], None] | None) -> None:
    import torch  # noqa: PLC0415

    num_rows = inputs.shape[0]
    step = 0
    for _ in range(config.epochs):
        order = torch.randperm(num_rows, generator=generator)
        for position in range(steps_per_epoch):
            batch = order[position * batch_size:(position + 1) * batch_size]
            loss = torch.nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if on_snapshot is not None and position + 1 in record_steps:
                with torch.no_grad():  # in blocks of rows: no (n, hidden) activation matrix at once
                    on_snapshot(step, np.concatenate([model(inputs[start:start + SNAPSHOT_BLOCK_ROWS]).double().numpy()
                                                      for start in range(0, num_rows, SNAPSHOT_BLOCK_ROWS)]))


def head_dynamics_table(embeddings: np.ndarray, labels: np.ndarray, config: HeadConfig | None = None,
                        num_labels: int | None = None, on_record: Callable[[], None] | None = None) -> pa.Table:
    """Trains the head on (embeddings, labels) and returns its dynamics table.

    Returns a pyarrow Table in the schema of ``hf_d2.difficulty.dynamics_schema`` with
    ``epochs · records_per_epoch`` snapshots of every row, sorted by (epoch, row_index);
    ``step`` is the number of optimizer steps taken when the snapshot was recorded.
    ``on_record()`` is called after each snapshot (a progress bar's update).
    """
    label_ids = np.asarray(labels, dtype=np.int64)
    num_labels = int(num_labels if num_labels is not None else label_ids.max() + 1)
    snapshots: list[dict[str, np.ndarray]] = []

    def record(step: int, logits: np.ndarray) -> None:
        columns = records_from_logits(logits, label_ids)
        columns["row_index"] = np.arange(label_ids.size, dtype=np.int64)
        columns["epoch"] = np.full(label_ids.size, len(snapshots), dtype=np.int32)
        columns["step"] = np.full(label_ids.size, step, dtype=np.int64)
        snapshots.append(columns)
        if on_record is not None:
            on_record()

    fit_head(embeddings, label_ids, config, num_labels, on_snapshot=record)
    return _to_table(snapshots, num_labels)


def head_dynamics(embeddings: np.ndarray, labels: np.ndarray, config: HeadConfig | None = None,
                  num_labels: int | None = None) -> DynamicsArrays:
    """``head_dynamics_table`` as dense arrays, ready for ``hf_d2.difficulty.difficulty_scores``."""
    return DynamicsArrays.from_table(head_dynamics_table(embeddings, labels, config, num_labels))


def head_cache_path(cache_dir: Any, embedding_identity: str, labels: np.ndarray, config: HeadConfig) -> Any:
    """Where the stage cache keeps the head's dynamics table for these embeddings (their cache key,
    or a digest of the array), labels ((n,) int) and settings: ``<cache>/head/<key>.parquet``."""
    digest = hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()
    key = cache_key({"stage": "head", "embeddings": embedding_identity, "labels": digest, "head": config.as_dict(),
                     "format": 1})
    return stage_path(cache_dir, "head", key, ".parquet")


def effective_batch_size(num_rows: int, batch_size: int) -> int:
    """``batch_size``, made smaller on small datasets so that an epoch takes at least
    ``MIN_STEPS_PER_EPOCH`` steps (never below 8 rows): 60 rows train in batches of 8."""
    return int(max(1, min(batch_size, max(8, -(-num_rows // MIN_STEPS_PER_EPOCH)))))


def _build_head(input_size: int, num_labels: int, hidden_size: int):
    import torch  # noqa: PLC0415

    if hidden_size == 0:
        return torch.nn.Linear(input_size, num_labels)
    return torch.nn.Sequential(torch.nn.Linear(input_size, hidden_size), torch.nn.ReLU(),
                               torch.nn.Linear(hidden_size, num_labels))


def _to_table(snapshots: list[dict[str, np.ndarray]], num_labels: int) -> pa.Table:
    return pa.Table.from_arrays(dynamics_arrays(snapshots, num_labels), schema=dynamics_schema(num_labels))
