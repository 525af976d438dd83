"""Which dataset rows each training batch of a ``transformers.Trainer`` holds: the part of
``DynamicsCallback`` that runs in the data loader (read against ``transformers.Trainer`` 5.x).

* ``Trainer._inner_training_loop`` builds the train ``DataLoader`` *before* ``on_train_begin``
  fires, so a callback cannot change the train dataset or ``Trainer.data_collator`` in time (and
  ``data_collator`` also serves evaluation). What it can still change, before the first epoch's
  ``iter(dataloader)``, is what the loader looks up at fetch time: its ``collate_fn`` and its
  dataset's ``__getitems__`` (the map-style fetcher calls ``dataset.__getitems__(indices)`` and
  then ``collate_fn(rows)``, in the same thread, in the main process or a worker).
* An index *column* would not survive: ``remove_unused_columns=True`` drops every column that
  the model's ``forward`` does not take (``datasets.Dataset``) or filters the features
  (``RemoveColumnsCollator``). The sampler's indices never travel as a column, so they are taken
  where the loader fetches: an instance-level ``__getitems__`` on the loader's dataset
  (``NotingGetItems``) notes the indices, and a ``collate_fn`` wrapper (``RowIndexCollator``)
  adds them, with the batch's labels, to the collated batch as one ``(b, 2)`` int64 tensor under
  ``ROW_KEY``.
* The indices must travel *inside the batch*: ``Trainer.get_batch_samples`` collates all
  ``gradient_accumulation_steps`` micro-batches of an optimizer step before the first forward
  pass, accelerate's ``DataLoaderShard`` collates one batch ahead, and workers collate in other
  processes, so any "indices of the current batch" variable shared between collator and model
  would pair logits with the wrong rows. In the batch, the tensor is moved to the device with the
  inputs, sliced with them by ``DataParallel`` / dispatching, and can never be out of step.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping, Sequence
from typing import Any

import torch

ROW_KEY = "hf_d2_dynamics_rows"  # batch key of the (b, 2) [row index, label] tensor
DEFAULT_LABEL_KEYS = ("labels", "label", "label_ids")

# Indices of the rows that the loader fetched last in this thread (set by the dataset's
# __getitems__, consumed by the collate_fn wrapper that runs right after it).
_fetched = threading.local()


class NotingGetItems:
    """Instance ``__getitems__`` of the train loader's dataset: fetches as the dataset would and
    notes the indices for :class:`RowIndexCollator`. Picklable, for spawned loader workers."""

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


class RowIndexCollator:
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
