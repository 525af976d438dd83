"""The one fine-tuning configuration and the one way to start a fine-tuning.

``TrainingConfig`` holds the recipe (defaults declared once in ``TRAINING_PARAMS``: the
reference NLP recipe, docs/method.md §6), ``tokenize_rows`` and the loaders of the tokenizer and
the classifier; ``recorder.start_training`` starts a fine-tuning from them. The difficulty stage
(``api.compute_difficulty``, recording dynamics) and the confirming evaluation (``hf_d2.evaluate``,
not recording) both start there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from hf_d2._validation import InvalidParameterError
from hf_d2.params import Param, param_group

TRAINING_PARAMS = param_group(
    "training",
    Param("model", str, None, "classifier to fine-tune: a Hub id or folder, or bundled-minilm (default roberta-base; "
          "the bundled all-MiniLM-L6-v2 when the Hub is unreachable)", nullable=True),
    Param("epochs", int, 3, "fine-tuning epochs", low=1),
    Param("batch_size", int, 8, "fine-tuning batch size per process", low=1),
    Param("learning_rate", float, 5e-5, "AdamW learning rate", low=0, low_open=True),
    Param("warmup_ratio", float, 0.05, "fraction of the steps with a linear warm-up (then linear decay)", low=0, high=1),
    Param("weight_decay", float, 0.0, "AdamW weight decay", low=0),
    Param("max_grad_norm", float, 1.0, "gradient clipping norm (0 = no clipping)", low=0),
    Param("max_length", int, 128, "tokens per example; longer inputs are truncated", low=2),
)
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Columns the tokenized dataset carries next to the model inputs (names that cannot collide with
# a column of the user's dataset).
LABEL_ID_COLUMN = "hf_d2_label_id"
ROW_INDEX_COLUMN = "hf_d2_row_index"


@dataclass(frozen=True)
class TrainingConfig:
    """A fine-tuning recipe (see ``TRAINING_PARAMS``) and the seed of the run (head
    initialisation, data order, dropout). ``model`` None = the default model
    (``hf_d2.models.default_model_name``)."""

    model: str | None = TRAINING_PARAMS["model"].default
    epochs: int = TRAINING_PARAMS["epochs"].default
    batch_size: int = TRAINING_PARAMS["batch_size"].default
    learning_rate: float = TRAINING_PARAMS["learning_rate"].default
    warmup_ratio: float = TRAINING_PARAMS["warmup_ratio"].default
    weight_decay: float = TRAINING_PARAMS["weight_decay"].default
    max_grad_norm: float = TRAINING_PARAMS["max_grad_norm"].default
    max_length: int = TRAINING_PARAMS["max_length"].default
    seed: int = 0

    def __post_init__(self) -> None:
        for field in fields(self):
            if field.name in TRAINING_PARAMS:
                object.__setattr__(self, field.name, TRAINING_PARAMS[field.name].check(getattr(self, field.name)))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise InvalidParameterError("seed", f"{{name}} must be an int >= 0. Got {self.seed!r} instead.")

    def as_dict(self) -> dict[str, Any]:
        """The hyperparameters (everything but ``model``), as the cache key and record store them."""
        values = asdict(self)
        values.pop("model")
        return values

    def replace(self, **changes: Any) -> TrainingConfig:
        return TrainingConfig(**{**asdict(self), **changes})


def tokenize_rows(dataset: Any, tokenizer: Any, text_column: str, text_pair_column: str | None,
                  label_ids: np.ndarray, max_length: int) -> Any:
    """Tokenized rows (no padding; truncated to ``max_length``) with the encoded label and the
    source row index (``LABEL_ID_COLUMN``, ``ROW_INDEX_COLUMN``), via a batched ``datasets.map``."""

    def tokenize(batch: dict[str, list], indices: list[int]) -> dict[str, Any]:
        pairs = batch[text_pair_column] if text_pair_column else None
        encoded = dict(tokenizer(batch[text_column], pairs, truncation=True, max_length=max_length))
        encoded[LABEL_ID_COLUMN] = label_ids[indices].tolist()
        encoded[ROW_INDEX_COLUMN] = list(indices)
        return encoded

    return dataset.map(tokenize, batched=True, with_indices=True, remove_columns=dataset.column_names,
                       desc="Tokenizing")


def load_tokenizer(tokenizer_path: str, revision: str | None = None) -> Any:
    """The tokenizer; one without a pad token (GPT-style) pads with its end-of-text token."""
    from transformers import AutoTokenizer  # noqa: PLC0415 - heavy; only fine-tuning needs it

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, revision=revision)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"The tokenizer of {tokenizer_path!r} has neither a pad nor an end-of-text token; pass "
                             "--tokenizer with one that pads, or add a pad token to it.")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_classifier(model_path: str, label_names: list[str], *, revision: str | None = None,
                    pad_token_id: int | None = None) -> Any:
    """A sequence classifier with a fresh ``len(label_names)``-way head (weights from ``model_path``)."""
    from transformers import AutoModelForSequenceClassification  # noqa: PLC0415

    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, revision=revision, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
        label2id={name: position for position, name in enumerate(label_names)})
    if model.config.pad_token_id is None:
        model.config.pad_token_id = pad_token_id
    return model
