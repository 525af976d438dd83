"""Fine-tunes a sequence classifier under Accelerate and records its training dynamics.

Determinism and resume: the data order of epoch e is a permutation drawn from
``SeedSequence([seed, epoch])`` and the dropout RNG is re-seeded from ``(seed, epoch, rank)`` at
the start of every epoch, so an epoch's batches and dropout masks do not depend on what ran
before. After each finished epoch the model, optimizer, scheduler and RNG states are saved with
``accelerator.save_state`` next to that epoch's dynamics file; a killed run resumes at its first
unfinished epoch and ends with exactly the dynamics of an uninterrupted run.

Distributed runs: every process trains on ``order[rank::world]`` of the epoch's order padded to a
multiple of ``world`` (as ``DistributedSampler`` does). Each step gathers ``(row_index,
is_padding, label, logits)`` from all processes; the main process drops the padding duplicates
and streams the rest to Parquet, so every row is recorded exactly once per epoch.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from hf_d2._io import write_json
from hf_d2.difficulty.dynamics import DynamicsWriter, records_from_logits
from hf_d2.difficulty.runs import PROGRESS_FILE, read_progress
from hf_d2.difficulty.training import (
    LABEL_ID_COLUMN,
    MODEL_INPUTS,
    ROW_INDEX_COLUMN,
    TrainingConfig,
    load_classifier,
)
from hf_d2.env import progress_disabled


def _seed_from(*values: int) -> int:
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0])


def epoch_order(num_rows: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled row positions of ``epoch``: (num_rows,) int64, a function of (seed, epoch)."""
    generator = torch.Generator().manual_seed(_seed_from(seed, epoch))
    return torch.randperm(num_rows, generator=generator).numpy().astype(np.int64)


def shard_order(order: np.ndarray, world_size: int, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """This process's share of an epoch: (positions, is_padding), both (ceil(n / world),).

    The order is padded to a multiple of ``world_size`` by repeating its beginning (as
    ``DistributedSampler`` does); the repeats are flagged so that they are never recorded.
    """
    total = math.ceil(len(order) / world_size) * world_size
    padded = np.resize(order, total)
    is_padding = np.arange(total) >= len(order)
    return padded[rank::world_size], is_padding[rank::world_size]


def steps_per_epoch(num_rows: int, world_size: int, batch_size: int) -> int:
    return math.ceil(math.ceil(num_rows / world_size) / batch_size)


class BatchCollator:
    """Turns row positions into a batch of tensors: labels, row_index, is_padding and the model's
    inputs. Text (``tokenized`` from ``tokenize_rows``): the token ids padded by ``tokenizer``.
    Images (``tokenized`` is ``hf_d2.vision.ImageRows``; ``tokenizer`` is the image processor):
    ``pixel_values`` (b, 3, H, W) float32, decoding only that batch's images; a row's index is
    its position."""

    def __init__(self, tokenized: Any, tokenizer: Any, use_token_type_ids: bool = False) -> None:
        self.tokenized = tokenized
        self.tokenizer = tokenizer
        self.images = bool(getattr(tokenized, "is_image_rows", False))
        self.input_names = ["pixel_values"] if self.images else [
            n for n in MODEL_INPUTS
            if n in tokenized.column_names and (n != "token_type_ids" or use_token_type_ids)
        ]

    def __call__(self, positions: np.ndarray, is_padding: np.ndarray) -> dict[str, torch.Tensor]:
        if self.images:
            batch = {"pixel_values": self.tokenized.pixel_values(positions, self.tokenizer)}
            batch["labels"] = torch.as_tensor(self.tokenized.label_ids[positions], dtype=torch.long)
            batch["row_index"] = torch.as_tensor(positions, dtype=torch.long)
        else:
            rows = self.tokenized[positions.tolist()]
            batch = dict(self.tokenizer.pad({n: rows[n] for n in self.input_names}, return_tensors="pt"))
            batch["labels"] = torch.as_tensor(rows[LABEL_ID_COLUMN], dtype=torch.long)
            batch["row_index"] = torch.as_tensor(rows[ROW_INDEX_COLUMN], dtype=torch.long)
        batch["is_padding"] = torch.as_tensor(is_padding, dtype=torch.bool)
        return batch


def iterate_batches(
    collator: BatchCollator, num_rows: int, config: TrainingConfig, epoch: int, world_size: int, rank: int
) -> Iterator[dict[str, torch.Tensor]]:
    """The batches this process trains on in ``epoch`` (same count on every process)."""
    positions, is_padding = shard_order(epoch_order(num_rows, config.seed, epoch), world_size, rank)
    for start in range(0, len(positions), config.batch_size):
        stop = start + config.batch_size
        yield collator(positions[start:stop], is_padding[start:stop])


@dataclass
class TrainingState:
    """What the epoch loop needs: the prepared model and optimizer, the schedule, the batches."""

    accelerator: Any
    model: torch.nn.Module
    optimizer: Any
    scheduler: Any
    collator: BatchCollator
    num_rows: int
    num_labels: int
    config: TrainingConfig


def build_training_state(
    accelerator: Any,
    model: torch.nn.Module,
    tokenized: datasets.Dataset,
    tokenizer: Any,
    num_labels: int,
    config: TrainingConfig,
) -> TrainingState:
    """AdamW + linear warm-up schedule over all steps, prepared for ``accelerator``.

    The scheduler is not passed to ``prepare`` (which would step it once per process) but
    registered for checkpointing; it steps once per optimizer step.
    """
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    total_steps = config.epochs * steps_per_epoch(
        len(tokenized), accelerator.num_processes, config.batch_size
    )
    scheduler = get_linear_schedule_with_warmup(
        optimizer, math.ceil(config.warmup_ratio * total_steps), total_steps
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    use_token_type_ids = getattr(accelerator.unwrap_model(model).config, "type_vocab_size", 2) > 1
    collator = BatchCollator(tokenized, tokenizer, use_token_type_ids)
    return TrainingState(accelerator, model, optimizer, scheduler, collator, len(tokenized), num_labels, config)


def start_training(accelerator: Any, tokenized: Any, tokenizer: Any, model_path: str, label_names: list[str],
                   config: TrainingConfig, *, revision: str | None = None, from_scratch: bool = False) -> Any:
    """Seeds, loads the classifier and returns the ``recorder.TrainingState`` of a fresh run
    over ``tokenized``: rows made by ``tokenize_rows`` (a sequence classifier; ``tokenizer`` pads
    them), or ``hf_d2.vision.ImageRows`` (an image classifier; ``tokenizer`` is the image
    processor; ``from_scratch`` builds it from its config with random weights)."""
    from accelerate.utils import set_seed  # noqa: PLC0415

    set_seed(config.seed)
    if getattr(tokenized, "is_image_rows", False):
        from hf_d2.vision import load_image_classifier  # noqa: PLC0415

        model = load_image_classifier(model_path, label_names, revision=revision, from_scratch=from_scratch)
        return build_training_state(accelerator, model, tokenized, tokenizer, len(label_names), config)
    model = load_classifier(model_path, label_names, revision=revision, pad_token_id=tokenizer.pad_token_id)
    return build_training_state(accelerator, model, tokenized, tokenizer, len(label_names), config)


def train_epoch(state: TrainingState, epoch: int, writer: DynamicsWriter | None, record: bool = True) -> None:
    """One epoch of fine-tuning. With ``record``, every step's pre-update logits are gathered and
    the main process streams the non-padding rows to ``writer``."""
    accelerator, config = state.accelerator, state.config
    torch.manual_seed(_seed_from(config.seed, epoch, accelerator.process_index, 1))
    state.model.train()
    num_steps = steps_per_epoch(state.num_rows, accelerator.num_processes, config.batch_size)
    batches = iterate_batches(
        state.collator, state.num_rows, config, epoch, accelerator.num_processes, accelerator.process_index
    )
    progress = tqdm(
        total=state.num_rows, desc=f"epoch {epoch + 1}/{config.epochs}", unit="ex",
        disable=not accelerator.is_local_main_process or progress_disabled(),
        leave=False, dynamic_ncols=True,
    )
    for step_in_epoch, batch in enumerate(batches):
        labels, row_index, is_padding = batch.pop("labels"), batch.pop("row_index"), batch.pop("is_padding")
        inputs = {name: tensor.to(accelerator.device) for name, tensor in batch.items()}
        labels = labels.to(accelerator.device)
        logits = state.model(**inputs).logits
        loss = F.cross_entropy(logits.float(), labels)
        accelerator.backward(loss)
        if config.max_grad_norm:
            accelerator.clip_grad_norm_(state.model.parameters(), config.max_grad_norm)
        state.optimizer.step()
        if not accelerator.optimizer_step_was_skipped:  # fp16 overflow: keep the schedule in step
            state.scheduler.step()
        state.optimizer.zero_grad()
        step = epoch * num_steps + step_in_epoch
        if record:
            recorded = _record_step(accelerator, logits, labels, row_index, is_padding, epoch, step, writer)
            progress.update(recorded)
        else:
            progress.update(min(len(labels) * accelerator.num_processes, progress.total - progress.n))
    progress.close()


def _record_step(
    accelerator: Any,
    logits: torch.Tensor,
    labels: torch.Tensor,
    row_index: torch.Tensor,
    is_padding: torch.Tensor,
    epoch: int,
    step: int,
    writer: DynamicsWriter | None,
) -> int:
    """Gathers one step's rows from all processes; the main process writes the non-padding ones.
    Returns the number of rows recorded (0 on other processes)."""
    packed = torch.cat(
        [
            row_index.to(logits.device, torch.float64)[:, None],
            is_padding.to(logits.device, torch.float64)[:, None],
            labels.to(torch.float64)[:, None],
            logits.detach().to(torch.float64),
        ],
        dim=1,
    )
    if accelerator.num_processes > 1:
        packed = accelerator.gather(packed)
    if not accelerator.is_main_process or writer is None:
        return 0
    packed = packed.cpu().numpy()
    packed = packed[packed[:, 1] == 0]
    columns = records_from_logits(packed[:, 3:], packed[:, 2].astype(np.int64))
    columns["row_index"] = packed[:, 0].astype(np.int64)
    columns["epoch"] = np.full(len(packed), epoch, dtype=np.int32)
    columns["step"] = np.full(len(packed), step, dtype=np.int64)
    writer.add(columns)
    return len(packed)


# ------------------------------------------------------------------ checkpoints and resume


def epoch_file(run_dir: Path, epoch: int) -> Path:
    return run_dir / f"epoch_{epoch:03d}.parquet"


def train_and_record(
    state: TrainingState,
    run_dir: Path,
    epoch_callback: Callable[[int], None] | None = None,
) -> list[Path]:
    """Runs the remaining epochs of the run in ``run_dir`` (resuming from its last finished
    epoch), checkpointing after each. Returns the per-epoch dynamics files (all epochs).

    ``epoch_callback(epoch)`` runs on every process after epoch ``epoch`` (0-based) is fully
    checkpointed; an exception raised there stops the run, which can then be resumed.
    """
    accelerator, config = state.accelerator, state.config
    progress = read_progress(run_dir)
    if progress["epochs_done"] > 0:
        accelerator.load_state(str(run_dir / progress["checkpoint"]))
    for epoch in range(progress["epochs_done"], config.epochs):
        writer = DynamicsWriter(epoch_file(run_dir, epoch), state.num_labels) if accelerator.is_main_process else None
        try:
            train_epoch(state, epoch, writer)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is not None:
            writer.close()
        _checkpoint(state, run_dir, epoch)
        if epoch_callback is not None:
            epoch_callback(epoch)
    return [epoch_file(run_dir, e) for e in range(config.epochs)]


def _checkpoint(state: TrainingState, run_dir: Path, epoch: int) -> None:
    accelerator = state.accelerator
    name = f"checkpoint_{epoch + 1:03d}"
    accelerator.save_state(str(run_dir / name))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        previous = read_progress(run_dir)["checkpoint"]
        write_json(run_dir / PROGRESS_FILE, {"epochs_done": epoch + 1, "checkpoint": name})
        if previous and previous != name:
            shutil.rmtree(run_dir / previous, ignore_errors=True)
    accelerator.wait_for_everyone()


# ------------------------------------------------------------------------------ embeddings


@torch.no_grad()
def first_token_embeddings(
    accelerator: Any,
    model: torch.nn.Module,
    collator: BatchCollator,
    num_rows: int,
    batch_size: int,
    output_path: Path | None,
) -> np.ndarray | None:
    """The last layer's first-token state (``<s>`` / ``[CLS]``) of every row, in eval mode; for
    an image classifier whose last hidden state is a feature map (b, C, H, W, a CNN) its global
    average pool (what the classifier's head reads).

    Returns (num_rows, hidden) float32 on the main process (also written to ``output_path`` as
    .npy when given), None elsewhere. Rows are sharded across processes and gathered.
    """
    model.eval()
    positions, is_padding = shard_order(
        np.arange(num_rows, dtype=np.int64), accelerator.num_processes, accelerator.process_index
    )
    embeddings = None
    for start in range(0, len(positions), batch_size):
        batch = collator(positions[start:start + batch_size], is_padding[start:start + batch_size])
        batch.pop("labels")
        row_index, pad = batch.pop("row_index"), batch.pop("is_padding")
        inputs = {name: tensor.to(accelerator.device) for name, tensor in batch.items()}
        last = model(**inputs, output_hidden_states=True).hidden_states[-1]
        hidden = last.mean(dim=(2, 3)) if last.ndim == 4 else last[:, 0, :]
        packed = torch.cat(
            [
                row_index.to(hidden.device, torch.float64)[:, None],
                pad.to(hidden.device, torch.float64)[:, None],
                hidden.to(torch.float64),
            ],
            dim=1,
        )
        if accelerator.num_processes > 1:
            packed = accelerator.gather(packed)
        if accelerator.is_main_process:
            packed = packed.cpu().numpy()
            packed = packed[packed[:, 1] == 0]
            if embeddings is None:
                embeddings = _allocate(output_path, (num_rows, packed.shape[1] - 2))
            embeddings[packed[:, 0].astype(np.int64)] = packed[:, 2:]
    if embeddings is not None and output_path is not None:
        embeddings.flush()
        return np.load(output_path)
    return embeddings


def _allocate(output_path: Path | None, shape: tuple[int, int]) -> np.ndarray:
    if output_path is None:
        return np.empty(shape, dtype=np.float32)
    return np.lib.format.open_memmap(output_path, mode="w+", dtype=np.float32, shape=shape)
