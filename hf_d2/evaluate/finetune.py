"""The confirming evaluation: fine-tune a fresh classifier on a coreset with the difficulty
stage's own trainer (``hf_d2.difficulty.recorder.start_training`` + ``train_epoch``,
no dynamics recorded) and score it on the held-out rows."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from hf_d2.difficulty.recorder import BatchCollator, start_training, train_epoch
from hf_d2.difficulty.training import TrainingConfig, load_tokenizer, tokenize_rows
from hf_d2.evaluate.probe import classification_metrics
from hf_d2.models import resolve_model_name


def fine_tune_and_score(train_texts: Sequence[str], train_labels: np.ndarray, heldout_texts: Sequence[str],
                        heldout_labels: np.ndarray, label_names: list[str], config: TrainingConfig, *,
                        train_pairs: Sequence[str] | None = None, heldout_pairs: Sequence[str] | None = None
                        ) -> dict[str, Any]:
    """Fine-tunes ``config.model`` on (texts, labels) and scores it on the held-out rows.

    train_labels / heldout_labels: (n,) int64 ids into ``label_names``. config.seed: head
    initialisation, data order and dropout. Returns accuracy, macro_f1 (in [0, 1]), num_train,
    train_seconds and eval_seconds (wall clock), and the (m,) int64 predictions.
    """
    import datasets  # noqa: PLC0415
    from accelerate import Accelerator  # noqa: PLC0415

    model_path = resolve_model_name(config.model)
    tokenizer = load_tokenizer(model_path)
    pair_column = "pair" if train_pairs is not None else None

    def rows(texts, pairs):
        return datasets.Dataset.from_dict({"text": list(texts), **({"pair": list(pairs)} if pairs is not None else {})})

    train = tokenize_rows(rows(train_texts, train_pairs), tokenizer, "text", pair_column,
                          np.asarray(train_labels, dtype=np.int64), config.max_length)
    heldout = tokenize_rows(rows(heldout_texts, heldout_pairs), tokenizer, "text", pair_column,
                            np.asarray(heldout_labels, dtype=np.int64), config.max_length)
    accelerator = Accelerator()
    started = time.perf_counter()
    state = start_training(accelerator, train, tokenizer, model_path, label_names, config)
    for epoch in range(config.epochs):
        train_epoch(state, epoch, None, record=False)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = predict(state, heldout, batch_size=config.batch_size * 4)
    eval_seconds = time.perf_counter() - started
    accelerator.free_memory()
    return {**classification_metrics(heldout_labels, predicted), "num_train": int(len(train_labels)),
            "predictions": predicted,
            "train_seconds": round(train_seconds, 3), "eval_seconds": round(eval_seconds, 3)}


def predict(state: Any, tokenized: Any, batch_size: int) -> np.ndarray:
    """(n,) int64 argmax predictions of the trained model in ``state`` (eval mode, no grad) for
    every row of ``tokenized`` (made by ``tokenize_rows``), in row order."""
    import torch  # noqa: PLC0415

    collator = BatchCollator(tokenized, state.collator.tokenizer, "token_type_ids" in state.collator.input_names)
    state.model.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(tokenized), batch_size):
            positions = np.arange(start, min(start + batch_size, len(tokenized)))
            batch = collator(positions, np.zeros(positions.size, dtype=bool))
            for name in ("labels", "row_index", "is_padding"):
                batch.pop(name)
            inputs = {name: tensor.to(state.accelerator.device) for name, tensor in batch.items()}
            predictions.append(state.model(**inputs).logits.argmax(dim=-1).cpu().numpy())
    return np.concatenate(predictions).astype(np.int64)
