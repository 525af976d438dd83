"""``DynamicsCallback``: record training dynamics inside a user's own ``transformers.Trainer`` run.

    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[DynamicsCallback()])

How rows are identified, and why this way (read against ``transformers.Trainer`` 5.x):

* ``Trainer._inner_training_loop`` builds the train ``DataLoader`` *before* ``on_train_begin``
  fires, so a callback cannot change the train dataset or ``Trainer.data_collator`` in time (and
  ``data_collator`` also serves evaluation). What it can still change, before the first epoch's
  ``iter(dataloader)``, is what the loader looks up at fetch time: its ``collate_fn`` and its
  dataset's ``__getitems__`` (the map-style fetcher calls ``dataset.__getitems__(indices)`` and
  then ``collate_fn(rows)``, in the same thread, in the main process or a worker).
* An index *column* would not survive: ``remove_unused_columns=True`` drops every column that
  the model's ``forward`` does not take (``datasets.Dataset``) or filters the features
  (``RemoveColumnsCollator``). The sampler's indices never travel as a column, so the callback
  takes them where the loader fetches: an instance-level ``__getitems__`` on the loader's dataset
  notes the indices, and a ``collate_fn`` wrapper adds them, with the batch's labels, to the
  collated batch as one ``(b, 2)`` int64 tensor under ``ROW_KEY``.
* The indices must travel *inside the batch*: ``Trainer.get_batch_samples`` collates all
  ``gradient_accumulation_steps`` micro-batches of an optimizer step before the first forward
  pass, accelerate's ``DataLoaderShard`` collates one batch ahead, and workers collate in other
  processes, so any "indices of the current batch" variable shared between collator and model
  would pair logits with the wrong rows. In the batch, the tensor is moved to the device with the
  inputs, sliced with them by ``DataParallel`` / dispatching, and can never be out of step.
* A forward pre-hook on the model (``with_kwargs``, prepended) pops ``ROW_KEY`` before the model
  sees it, and a forward hook takes the ``logits`` of that very call: the training step's own
  forward pass, in train mode, before that step's optimizer update, exactly what the built-in
  recorder (``hf_d2.difficulty.recorder``) records. Evaluation batches carry no ``ROW_KEY`` and are
  ignored. The labels travel with the indices, so ``label_smoothing_factor`` or a
  ``compute_loss_func`` (which pop ``labels`` before the forward pass) do not matter.
* Each process keeps its records on its device; at every ``on_epoch_end`` (a point every process
  reaches in step) they are gathered to the main process, which drops the duplicates that
  accelerate's ``BatchSamplerShard`` (``even_batches``) adds to complete the last batches,
  keeping each row's first record (by step, then rank).

Neither a ``Trainer`` subclass (users often have their own, or a TRL trainer) nor a helper that the
user must apply to the dataset is needed: adding the callback is the whole change.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from transformers import TrainerCallback

from hf_d2._io import to_jsonable
from hf_d2.difficulty.api import FORMAT_VERSION, DifficultyResult
from hf_d2.difficulty.dynamics import SCALAR_COLUMNS, DynamicsArrays, dynamics_schema, records_from_logits
from hf_d2.difficulty.scores import DEFAULT_SCORE, difficulty_scores, score_directions
from hf_d2.version import __version__

logger = logging.getLogger(__name__)

ROW_KEY = "hf_d2_dynamics_rows"  # batch key of the (b, 2) [row index, label] tensor
DEFAULT_LABEL_KEYS = ("labels", "label", "label_ids")
# The training arguments recorded in metadata.json.
TRAINING_ARGUMENTS = (
    "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
    "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm", "optim",
    "seed", "data_seed", "label_smoothing_factor", "train_sampling_strategy", "dataloader_drop_last",
    "bf16", "fp16",
)

# Indices of the rows that the loader fetched last in this thread (set by the dataset's
# __getitems__, consumed by the collate_fn wrapper that runs right after it).
_fetched = threading.local()


class _NotingGetItems:
    """Instance ``__getitems__`` of the train loader's dataset: fetches as the dataset would and
    notes the indices for :class:`_RowIndexCollator`. Picklable, for spawned loader workers."""

    def __init__(self, dataset: Any, previous: Any) -> None:
        self.dataset = dataset
        self.previous = previous  # an instance-level __getitems__ that was there before, or None

    def __call__(self, indices: Sequence[int]) -> list:
        indices = [int(i) for i in indices]
        if self.previous is not None:
            rows = self.previous(indices)
        else:
            getitems = getattr(type(self.dataset), "__getitems__", None)
            rows = getitems(self.dataset, indices) if getitems else [self.dataset[i] for i in indices]
        _fetched.indices = indices
        return rows


class _RowIndexCollator:
    """Wraps the train loader's ``collate_fn``: collates as before, then adds ``ROW_KEY``."""

    def __init__(self, collate_fn: Any, label_keys: Sequence[str]) -> None:
        self.collate_fn = collate_fn
        self.label_keys = tuple(label_keys)

    def __call__(self, features: list) -> Any:
        indices = getattr(_fetched, "indices", None)
        _fetched.indices = None
        if indices is None or len(indices) != len(features):
            raise RuntimeError(
                "DynamicsCallback could not tell which dataset rows this batch holds (the loader "
                "did not fetch them through the dataset's __getitems__)."
            )
        batch = self.collate_fn(features)
        if not isinstance(batch, MutableMapping):
            raise ValueError(
                f"DynamicsCallback needs the data collator to return a dict of tensors; got {type(batch).__name__}."
            )
        key = next((k for k in self.label_keys if k in batch and batch[k] is not None), None)
        if key is None:
            raise ValueError(
                f"DynamicsCallback: the training batch has no labels (looked for {', '.join(self.label_keys)}); "
                "give the train dataset an integer class-label column named 'label' or 'labels'."
            )
        labels = torch.as_tensor(batch[key])
        if labels.ndim != 1 or labels.shape[0] != len(indices) or labels.is_floating_point() or labels.is_complex():
            raise ValueError(
                f"DynamicsCallback records single-label classification: '{key}' must hold one integer class "
                f"per example; got a {labels.dtype} tensor of shape {tuple(labels.shape)}."
            )
        if len(labels) and int(labels.min()) < 0:
            raise ValueError(
                f"DynamicsCallback: '{key}' holds the negative label {int(labels.min())}; every training "
                "example needs a class id in [0, num_labels)."
            )
        batch[ROW_KEY] = torch.stack([torch.as_tensor(indices, dtype=torch.long), labels.long()], dim=1)
        return batch


def _logits_of(output: Any) -> torch.Tensor | None:
    if isinstance(output, Mapping):
        return output.get("logits")
    return getattr(output, "logits", None)


def _records_table(row_index: np.ndarray, labels: np.ndarray, steps: np.ndarray, logits: np.ndarray,
                   epoch: int) -> pa.Table:
    """One epoch's rows as a table of :func:`dynamics_schema` (via ``records_from_logits``)."""
    num_labels = logits.shape[1]
    schema = dynamics_schema(num_labels)
    columns = records_from_logits(logits, labels)
    columns["row_index"] = row_index.astype(np.int64)
    columns["epoch"] = np.full(len(row_index), epoch, dtype=np.int32)
    columns["step"] = steps.astype(np.int64)
    arrays = [pa.array(columns[name], type=schema.field(name).type) for name in SCALAR_COLUMNS]
    arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(columns["probs"].reshape(-1)), num_labels))
    return pa.Table.from_arrays(arrays, schema=schema)


def _world() -> tuple[int, int]:
    """(rank, world size) of the default process group, (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class DynamicsCallback(TrainerCallback):
    """Records training dynamics per example and epoch in a ``transformers.Trainer`` run.

        callback = DynamicsCallback()
        trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[callback])
        trainer.train()
        hardness = callback.difficulty("variability")  # (len(ds),) float64, higher = harder
        callback.save("dynamics_run")                   # load with hf_d2.difficulty.load_result

    For every row ``i`` of ``train_dataset`` and every epoch it records, from the logits of the
    forward pass of the row's own training step (train mode, before that step's optimizer update;
    each gradient-accumulation micro-batch from its own forward pass), the columns of
    ``hf_d2.difficulty.dynamics_schema``: ``row_index`` = i, ``epoch`` (0-based), ``step`` (the
    Trainer's ``global_step`` when the row was seen, 0-based), ``label``, ``gold_prob``,
    ``pred_label``, ``max_other_prob``, ``logit_margin``, ``loss`` and ``probs``. It works with
    shuffling, ``remove_unused_columns``, padding collators, gradient accumulation, loader workers
    and several processes (``accelerate launch`` / ``torchrun``); the records are gathered to the
    main process (``args.process_index == 0``), which alone holds them. The module docstring
    explains the mechanism.

    Requirements: a map-style train dataset with a length (row i = ``train_dataset[i]``), one integer
    class label per example in the batch (``labels``, ``label``, ``label_ids`` or
    ``args.label_names``), and a model whose output has ``logits`` of shape (batch, num_labels);
    otherwise training stops with a one-line ``ValueError``.

    Complete epochs only: :meth:`difficulty`, :meth:`result` and :meth:`save` use the epochs in
    which every row was recorded; a partial epoch (``max_steps`` ending mid-epoch, the resumed
    epoch of ``resume_from_checkpoint``) stays in :attr:`dynamics` but is left out of the scores
    (with a warning). ``dataloader_drop_last=True`` leaves no complete epoch. A new ``train()``
    call starts a new recording.

    Difference from the built-in stage (``hf_d2.difficulty.compute_difficulty``): the records mean
    the same thing, but the run is the user's, so the numbers agree only for the same run, which
    the Trainer does not reproduce by default. The built-in loop draws epoch e's order from
    ``SeedSequence([seed, e])`` and re-seeds dropout at every epoch from ``(seed, e, rank)``; the
    Trainer shuffles with accelerate's seeded ``RandomSampler`` (``data_seed`` or ``seed``) and
    seeds dropout once. Both default to AdamW lr 5e-5, batch 8, 3 epochs, clipping at 1, but the
    built-in recipe warms up over 5% of the steps (``warmup_steps=0.05`` in the Trainer; its default
    is 0) and uses ``torch.optim.AdamW`` (``optim="adamw_torch"``; the Trainer's default is the
    fused kernel with torch >= 2.8). With several processes the built-in loop pads the row order
    to a multiple of the world size, accelerate pads whole batches from the start of the epoch,
    so steps and shards differ. Given the same model, data, row order per epoch and settings and no
    dropout, the two record the same dynamics (bit-identical on CPU with torch 2.13 and
    transformers 5.2; ``tests/test_callback.py`` forces the built-in order onto a Trainer).

    :attr:`dynamics` is a ``pyarrow.Table`` (as ``DifficultyResult.dynamics``);
    :attr:`dynamics_dataset` is the same as a ``datasets.Dataset``.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: list[Any] = []
        self._patched: tuple[Any, Any] | None = None  # (dataset, previous instance __getitems__)
        self._reset()

    # ------------------------------------------------------------------ Trainer events

    def _reset(self) -> None:
        self._pending: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        self._tables: list[pa.Table] = []
        self._num_rows: int | None = None
        self._num_labels: int | None = None
        self._epoch = 0
        self._state: Any = None
        self._metadata: dict[str, Any] = {}
        self.is_main_process = True  # False on the processes other than rank 0 of a distributed run

    def on_train_begin(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        self._uninstall()
        self._reset()
        if train_dataloader is None:
            raise ValueError("DynamicsCallback needs a train dataset: pass train_dataset to the Trainer.")
        dataset = getattr(train_dataloader, "dataset", None)
        if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__"):
            raise ValueError(
                "DynamicsCallback needs a map-style train dataset with a length (row i = train_dataset[i]); "
                f"got {type(dataset).__name__}."
            )
        if model is None:
            raise ValueError("DynamicsCallback needs the model; pass model to the Trainer.")
        self._num_rows = len(dataset)
        self._state = state
        rank, world = _world()
        self.is_main_process = rank == 0
        label_names = list(getattr(args, "label_names", None) or [])
        label_keys = label_names if len(label_names) == 1 else DEFAULT_LABEL_KEYS
        previous = vars(dataset).get("__getitems__") if hasattr(dataset, "__dict__") else None
        while isinstance(previous, _NotingGetItems):  # left by a run that died before on_train_end
            previous = previous.previous
        try:
            dataset.__getitems__ = _NotingGetItems(dataset, previous)
        except (AttributeError, TypeError) as error:
            raise ValueError(
                f"DynamicsCallback cannot note the row indices of a {type(dataset).__name__} train dataset "
                f"({error}); pass a datasets.Dataset or a torch map-style Dataset."
            ) from None
        self._patched = (dataset, previous)
        # accelerate's DataLoaderShard delegates to (and iterates) the DataLoader it wraps.
        loader = getattr(train_dataloader, "base_dataloader", train_dataloader)
        loader.collate_fn = _RowIndexCollator(loader.collate_fn, label_keys)
        self._handles = [
            model.register_forward_pre_hook(self._pre_forward, with_kwargs=True, prepend=True),
            model.register_forward_hook(self._post_forward),
        ]
        self._metadata = self._describe(args, model, world)

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._state = state
        self._epoch = int(math.floor((state.epoch or 0.0) + 1e-6))

    def on_epoch_end(self, args, state, control, **kwargs):
        self._finish_epoch()

    def on_train_end(self, args, state, control, **kwargs):
        if self._pending:  # not reachable through the Trainer's loop; never gather here
            logger.warning("DynamicsCallback dropped %d batch(es) recorded after the last epoch ended.",
                           len(self._pending))
            self._pending = []
        self._uninstall()

    # ------------------------------------------------------------------ hooks

    def _pre_forward(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        if ROW_KEY not in kwargs:
            return None
        kwargs = dict(kwargs)
        rows = kwargs.pop(ROW_KEY)
        self._local.rows = rows if module.training else None
        return args, kwargs

    def _post_forward(self, module: torch.nn.Module, args: tuple, output: Any) -> None:
        rows = getattr(self._local, "rows", None)
        if rows is None:
            return
        self._local.rows = None
        logits = _logits_of(output)
        if logits is None:
            raise ValueError(
                f"DynamicsCallback: the model output ({type(output).__name__}) has no 'logits'; it records "
                "classifiers whose forward returns logits of shape (batch, num_labels) (return_dict=True)."
            )
        if logits.ndim != 2 or logits.shape[0] != rows.shape[0]:
            raise ValueError(
                f"DynamicsCallback: expected logits of shape ({rows.shape[0]}, num_labels) for this batch; got "
                f"{tuple(logits.shape)} (token-level or multi-label outputs are not supported)."
            )
        step = int(self._state.global_step) if self._state is not None else 0
        with self._lock:
            self._pending.append((rows.detach(), logits.detach().clone(), step))

    # ------------------------------------------------------------------ gathering

    def _finish_epoch(self) -> None:
        """Gathers the epoch's records to the main process (a collective: every process calls it)."""
        pending, self._pending = self._pending, []
        if pending:
            rows = torch.cat([p[0] for p in pending]).cpu().numpy()
            logits = torch.cat([p[1].to(torch.float64) for p in pending]).cpu().numpy()
            steps = np.concatenate([np.full(len(p[0]), p[2], dtype=np.int64) for p in pending])
        else:
            rows, logits, steps = np.empty((0, 2), np.int64), np.empty((0, 0)), np.empty(0, np.int64)
        if logits.shape[0] and int(rows[:, 1].max()) >= logits.shape[1]:
            raise ValueError(
                f"DynamicsCallback: label {int(rows[:, 1].max())} does not exist in a {logits.shape[1]}-class "
                "model output; set num_labels on the model to the number of classes."
            )
        payload = {"rows": rows, "logits": logits, "steps": steps}
        rank, world = _world()
        if world > 1:
            gathered = [None] * world if rank == 0 else None
            torch.distributed.gather_object(payload, gathered, dst=0)
            if rank != 0:
                return
        else:
            gathered = [payload]
        parts = [(r, p) for r, p in enumerate(gathered) if p["rows"].shape[0]]
        if not parts:
            return
        widths = {p["logits"].shape[1] for _, p in parts}
        if len(widths) != 1 or (self._num_labels is not None and widths != {self._num_labels}):
            raise ValueError(f"DynamicsCallback: the model output {sorted(widths)} classes in different batches.")
        self._num_labels = widths.pop()
        rows = np.concatenate([p["rows"] for _, p in parts])
        logits = np.concatenate([p["logits"] for _, p in parts])
        steps = np.concatenate([p["steps"] for _, p in parts])
        ranks = np.concatenate([np.full(len(p["rows"]), r) for r, p in parts])
        sequence = np.concatenate([np.arange(len(p["rows"])) for _, p in parts])
        order = np.lexsort((sequence, ranks, steps))  # by step, then rank, then position
        _, first = np.unique(rows[order, 0], return_index=True)  # the sampler's duplicates come later
        keep = order[np.sort(first)]
        self._tables.append(_records_table(rows[keep, 0], rows[keep, 1], steps[keep], logits[keep], self._epoch))

    # ------------------------------------------------------------------ install / uninstall

    def _uninstall(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._patched is not None:
            dataset, previous = self._patched
            vars(dataset).pop("__getitems__", None)
            if previous is not None:
                dataset.__getitems__ = previous
            self._patched = None

    def _describe(self, args: Any, model: Any, world: int) -> dict[str, Any]:
        config = getattr(model, "config", None)
        id2label = getattr(config, "id2label", None) or {}
        training = {}
        for name in TRAINING_ARGUMENTS:
            value = getattr(args, name, None)
            training[name] = getattr(value, "value", value)  # enums as their values
        return {
            "format_version": FORMAT_VERSION,
            "source": "transformers.Trainer",
            "model": getattr(config, "_name_or_path", None) or type(model).__name__,
            "model_class": type(model).__name__,
            "revision": None,
            "cache_key": None,
            "label_names": [str(id2label[i]) for i in sorted(id2label)] if id2label else None,
            "training": training,
            "num_processes": world,
            "default_score": DEFAULT_SCORE,
            "scores": score_directions(),
            "epoch_column": "0-based",
            "step_column": "Trainer global_step when the row was seen (0-based optimizer step)",
            "hf_d2_version": __version__,
        }

    # ------------------------------------------------------------------ results

    def _require_records(self) -> None:
        if not self.is_main_process:
            raise ValueError(
                "DynamicsCallback holds the dynamics on the main process only; call this where "
                "trainer.is_world_process_zero() is True."
            )
        if not self._tables:
            raise ValueError(
                "DynamicsCallback has recorded nothing yet; pass it in Trainer(callbacks=[...]) and call trainer.train()."
            )

    @property
    def num_rows(self) -> int | None:
        """Rows of the train dataset of the last run (None before training)."""
        return self._num_rows

    @property
    def dynamics(self) -> pa.Table | None:
        """Every recorded row as a ``pyarrow.Table`` (schema ``dynamics_schema``), sorted by
        (epoch, row_index), partial epochs included. None on processes other than the main one."""
        if not self.is_main_process:
            return None
        self._require_records()
        table = pa.concat_tables(self._tables)
        return table.sort_by([("epoch", "ascending"), ("row_index", "ascending")])

    @property
    def dynamics_dataset(self) -> Any:
        """:attr:`dynamics` as a ``datasets.Dataset`` (None on other processes than the main one)."""
        import datasets

        table = self.dynamics
        return None if table is None else datasets.Dataset(table)

    def _complete_dynamics(self) -> pa.Table:
        self._require_records()
        table = self.dynamics
        epochs = table.column("epoch").to_numpy()
        values, counts = np.unique(epochs, return_counts=True)
        complete = values[counts == self._num_rows]
        if complete.size == 0:
            raise ValueError(
                f"No epoch recorded all {self._num_rows} training rows (max_steps shorter than an epoch, or "
                "dataloader_drop_last=True?); train at least one full epoch with dataloader_drop_last=False."
            )
        if complete.size < values.size:
            import warnings

            warnings.warn(
                f"DynamicsCallback leaves out the partial epoch(s) {sorted(set(values.tolist()) - set(complete.tolist()))} "
                f"(not every row recorded); scores use epochs {complete.tolist()}.",
                stacklevel=3,
            )
            table = table.filter(pa.array(np.isin(epochs, complete)))
        return table

    def result(self) -> DifficultyResult:
        """The complete epochs as a :class:`~hf_d2.difficulty.DifficultyResult` (scores,
        ``scores_table``, ``arrays``), as ``compute_difficulty`` returns, without a run folder."""
        table = self._complete_dynamics()
        arrays = DynamicsArrays.from_table(table)  # every row once per epoch, or fail loudly
        epochs = sorted(set(table.column("epoch").to_pylist()))
        metadata = {
            **self._metadata,
            "num_rows": int(self._num_rows),
            "num_labels": int(arrays.probs.shape[2]),
            "epochs": len(epochs),
            "recorded_epochs": epochs,
        }
        return DifficultyResult(table, to_jsonable(metadata), _arrays=arrays)

    def difficulty(self, score: str = DEFAULT_SCORE, **options: Any) -> np.ndarray:
        """Hardness of every train row: (n,) float64, row i = ``train_dataset[i]``, **higher =
        harder**, from score ``score`` (see ``hf_d2.difficulty.list_scores``; default
        "variability"). ``options`` go to the score (e.g. ``never_learned="max"``)."""
        return difficulty_scores(self.result().arrays, score, **options)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path | None:
        """Writes ``dynamics.parquet``, ``scores.parquet`` and ``metadata.json`` (the layout of
        ``DifficultyResult.save``; ``hf_d2.difficulty.load_result(path)`` reads it back).

        The folder is written as every hf-d2 output folder (``hf_d2.folders.output_folder``):
        through a staging folder, never over files hf-d2 did not write (``overwrite=True``
        replaces an earlier save). Returns the folder on
        the main process and does nothing (returns None) on the others, so it can be called on all.
        """
        if not self.is_main_process:
            return None
        return self.result().save(path, overwrite=overwrite)
