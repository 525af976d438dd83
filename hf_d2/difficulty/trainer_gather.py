"""One epoch of ``DynamicsCallback``'s records, gathered to the main process: each process keeps
its records on its device; at every ``on_epoch_end`` (a point every process reaches in step) they
are gathered to rank 0, which drops the duplicates that accelerate's ``BatchSamplerShard``
(``even_batches``) adds to complete the last batches, keeping each row's first record (by step,
then rank), and turns them into a table of ``dynamics_schema``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import torch

from hf_d2.difficulty.dynamics import dynamics_arrays, dynamics_schema, records_from_logits


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the default process group, (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def gather_epoch(pending: Sequence[tuple[torch.Tensor, torch.Tensor, int]], epoch: int,
                 num_labels: int | None) -> tuple[pa.Table | None, int | None]:
    """Gathers one epoch's records to the main process (a collective: every process calls it).

    pending: this process's batches as ((b, 2) [row index, label] tensor, (b, C) logits, the
    Trainer's global step). num_labels: C as seen in earlier epochs (None before the first).
    Returns (the epoch's table on the main process, None elsewhere or when nothing was recorded;
    C). A label outside the logits, or a C that differs between batches, is a ``ValueError``."""
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
    rank, world = rank_and_world()
    if world > 1:
        gathered = [None] * world if rank == 0 else None
        torch.distributed.gather_object(payload, gathered, dst=0)
        if rank != 0:
            return None, num_labels
    else:
        gathered = [payload]
    parts = [(r, p) for r, p in enumerate(gathered) if p["rows"].shape[0]]
    if not parts:
        return None, num_labels
    widths = {p["logits"].shape[1] for _, p in parts}
    if len(widths) != 1 or (num_labels is not None and widths != {num_labels}):
        raise ValueError(f"DynamicsCallback: the model output {sorted(widths)} classes in different batches.")
    num_labels = widths.pop()
    rows = np.concatenate([p["rows"] for _, p in parts])
    logits = np.concatenate([p["logits"] for _, p in parts])
    steps = np.concatenate([p["steps"] for _, p in parts])
    ranks = np.concatenate([np.full(len(p["rows"]), r) for r, p in parts])
    sequence = np.concatenate([np.arange(len(p["rows"])) for _, p in parts])
    order = np.lexsort((sequence, ranks, steps))  # by step, then rank, then position
    _, first = np.unique(rows[order, 0], return_index=True)  # the sampler's duplicates come later
    keep = order[np.sort(first)]
    return records_table(rows[keep, 0], rows[keep, 1], steps[keep], logits[keep], epoch), num_labels


def records_table(row_index: np.ndarray, labels: np.ndarray, steps: np.ndarray, logits: np.ndarray,
                  epoch: int) -> pa.Table:
    """One epoch's rows as a table of :func:`dynamics_schema` (via ``records_from_logits``)."""
    num_labels = logits.shape[1]
    columns = records_from_logits(logits, labels)
    columns["row_index"] = row_index.astype(np.int64)
    columns["epoch"] = np.full(len(row_index), epoch, dtype=np.int32)
    columns["step"] = steps.astype(np.int64)
    return pa.Table.from_arrays(dynamics_arrays([columns], num_labels), schema=dynamics_schema(num_labels))
