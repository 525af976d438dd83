"""``DynamicsCallback``: record training dynamics inside a user's own ``transformers.Trainer`` run.

    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[DynamicsCallback()])

How rows are identified, and why this way (read against ``transformers.Trainer`` 5.x):

* The sampler's row indices travel inside each training batch, with the batch's labels, as one
  ``(b, 2)`` int64 tensor under ``ROW_KEY``, added where the loader fetches
  (``hf_d2.difficulty.trainer_rows`` says why there, and why not as a column or a shared variable).
* A forward pre-hook on the model (``with_kwargs``, prepended) pops ``ROW_KEY`` before the model
  sees it, and a forward hook takes the ``logits`` of that very call: the training step's own
  forward pass, in train mode, before that step's optimizer update, exactly what the built-in
  recorder (``hf_d2.difficulty.recorder``) records. Evaluation batches carry no ``ROW_KEY`` and are
  ignored. The labels travel with the indices, so ``label_smoothing_factor`` or a
  ``compute_loss_func`` (which pop ``labels`` before the forward pass) do not matter.
* Each process keeps its records on its device; at every ``on_epoch_end`` (a point every process
  reaches in step) they are gathered to the main process, which drops the duplicates that
  accelerate's ``BatchSamplerShard`` (``even_batches``) adds to complete the last batches,
  keeping each row's first record (by step, then rank): ``hf_d2.difficulty.trainer_gather``.

Neither a ``Trainer`` subclass (users often have their own, or a TRL trainer) nor a helper that the
user must apply to the dataset is needed: adding the callback is the whole change.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from transformers import TrainerCallback

from hf_d2._io import to_jsonable
from hf_d2.difficulty.dynamics import DynamicsArrays
from hf_d2.difficulty.result import FORMAT_VERSION, DifficultyResult
from hf_d2.difficulty.scores import DEFAULT_SCORE, difficulty_scores, score_directions
from hf_d2.difficulty.trainer_gather import gather_epoch, rank_and_world
from hf_d2.difficulty.trainer_rows import DEFAULT_LABEL_KEYS, ROW_KEY, NotingGetItems, RowIndexCollator
from hf_d2.version import __version__

logger = logging.getLogger(__name__)

# The training arguments recorded in metadata.json.
TRAINING_ARGUMENTS = (
    "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
    "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm", "optim",
    "seed", "data_seed", "label_smoothing_factor", "train_sampling_strategy", "dataloader_drop_last",
    "bf16", "fp16",
)


def _logits_of(output: Any) -> torch.Tensor | None:
    if isinstance(output, Mapping):
        return output.get("logits")
    return getattr(output, "logits", None)


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
        rank, world = rank_and_world()
        self.is_main_process = rank == 0
        label_names = list(getattr(args, "label_names", None) or [])
        label_keys = label_names if len(label_names) == 1 else DEFAULT_LABEL_KEYS
        previous = vars(dataset).get("__getitems__") if hasattr(dataset, "__dict__") else None
        while isinstance(previous, NotingGetItems):  # left by a run that died before on_train_end
            previous = previous.previous
        try:
            dataset.__getitems__ = NotingGetItems(dataset, previous)
        except (AttributeError, TypeError) as error:
            raise ValueError(
                f"DynamicsCallback cannot note the row indices of a {type(dataset).__name__} train dataset "
                f"({error}); pass a datasets.Dataset or a torch map-style Dataset."
            ) from None
        self._patched = (dataset, previous)
        # accelerate's DataLoaderShard delegates to (and iterates) the DataLoader it wraps.
        loader = getattr(train_dataloader, "base_dataloader", train_dataloader)
        loader.collate_fn = RowIndexCollator(loader.collate_fn, label_keys)
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
        table, self._num_labels = gather_epoch(pending, self._epoch, self._num_labels)
        if table is not None:
            self._tables.append(table)

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
