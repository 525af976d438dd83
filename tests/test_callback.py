"""DynamicsCallback in real ``transformers.Trainer`` runs, with a tiny RoBERTa made offline.

Row identity is checked independently of the callback: with dropout 0 and learning rate 0 the model
never changes and train mode equals eval mode, so the probabilities recorded for row i in every
epoch must equal the untouched model's eval-mode prediction for the text of row i; a wrong row
mapping (shuffling, prefetched gradient-accumulation micro-batches, two processes) would pair a
row with another row's probabilities. Against the built-in recorder, a Trainer forced onto the
built-in loop's row order records the same dynamics while it learns.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from tiny import keyword_rows, save_tiny_roberta

import hf_d2
from hf_d2.difficulty import DynamicsArrays, DynamicsCallback, compute_difficulty, load_result
from hf_d2.difficulty.recorder import epoch_order
from hf_d2.selection import select

NUM_ROWS = 101  # odd: the last batch is short, and two processes must pad
MAX_LENGTH = 32


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny model gains nothing from more threads, and loses a lot on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory) -> str:
    """Dropout 0: train-mode forward passes equal eval-mode ones."""
    return save_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta_no_dropout"), dropout=0.0)


@pytest.fixture(scope="module")
def frozen_model(tmp_path_factory) -> str:
    """Dropout 0, and random weights large enough (std 0.2 instead of 0.02) that the rows' class
    probabilities differ by far more than the test tolerance: the oracle of row identity."""
    from transformers import AutoModelForSequenceClassification

    folder = Path(save_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta_spread"), dropout=0.0))
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 2 and "embeddings" not in name:
                torch.nn.init.normal_(parameter, std=0.2)
    model.save_pretrained(folder)
    return str(folder)


def tokenized(model_dir: str, num_rows: int = NUM_ROWS):
    """keyword rows (text, label) plus input_ids etc.; the Trainer drops "text" itself."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    data = keyword_rows(num_rows).map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=MAX_LENGTH), batched=True
    )
    return data, tokenizer


def make_trainer(model_dir, data, tokenizer, output, callback, trainer_class=None, **overrides):
    from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

    settings = {
        "output_dir": str(output), "num_train_epochs": 2, "per_device_train_batch_size": 8,
        "learning_rate": 0.0, "report_to": [], "use_cpu": True, "save_strategy": "no",
        "logging_strategy": "no", "disable_tqdm": True, "seed": 3, **overrides,
    }
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    return (trainer_class or Trainer)(
        model=model, args=TrainingArguments(**settings), train_dataset=data, processing_class=tokenizer,
        callbacks=[callback],
    )


def eval_probs(model_dir: str, texts: list[str]) -> np.ndarray:
    """The untouched model's eval-mode class probabilities, (len(texts), 2) float64."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    with torch.no_grad():
        return torch.softmax(model(**batch).logits.double(), dim=1).numpy()


def assert_rows_identified(table: pa.Table, data, model_dir: str, num_epochs: int = 2) -> DynamicsArrays:
    """Every row once per epoch, its dataset label, and the probabilities of its own text."""
    arrays = DynamicsArrays.from_table(table)  # every row exactly once per epoch
    assert table.num_rows == len(data) * num_epochs
    np.testing.assert_array_equal(arrays.row_index, np.arange(len(data)))
    assert arrays.num_epochs == num_epochs
    np.testing.assert_array_equal(arrays.labels, list(data["label"]))
    expected = eval_probs(model_dir, list(data["text"]))
    assert np.diff(np.sort(expected[:, 1])).min() > 2e-5  # any two rows differ by far more than atol
    for epoch in range(num_epochs):
        np.testing.assert_allclose(arrays.probs[:, epoch, :], expected, rtol=0, atol=1e-6)
    return arrays


@pytest.fixture(scope="module")
def shuffled_run(frozen_model, tmp_path_factory):
    data, tokenizer = tokenized(frozen_model)
    callback = DynamicsCallback()
    trainer = make_trainer(frozen_model, data, tokenizer, tmp_path_factory.mktemp("trainer"), callback)
    trainer.train()
    return callback, data


@pytest.mark.slow
def test_shuffled_trainer_run_records_every_row_once_per_epoch(shuffled_run, frozen_model):
    callback, data = shuffled_run
    table = callback.dynamics
    assert isinstance(table, pa.Table) and callback.dynamics_dataset.num_rows == table.num_rows
    assert "text" in data.column_names  # remove_unused_columns dropped it only inside the Trainer
    assert_rows_identified(table, data, frozen_model)
    # 13 steps per epoch at batch 8 (the last holds 5 rows); the Trainer shuffled the rows.
    steps = collections.Counter(table["step"].to_pylist())
    assert sorted(steps) == list(range(26)) and steps[12] == 5 and steps[25] == 5
    step_of = {e: dict(zip(t["row_index"].to_pylist(), t["step"].to_pylist()))
               for e in (0, 1) for t in [table.filter(pa.compute.equal(table["epoch"], e))]}
    first_batch = {row for row, step in step_of[0].items() if step == 0}
    assert first_batch != set(range(8))  # not sequential
    assert first_batch != {row for row, step in step_of[1].items() if step == 13}  # reshuffled
    hardness = callback.difficulty("variability")
    assert hardness.shape == (NUM_ROWS,) and hardness.dtype == np.float64
    np.testing.assert_allclose(hardness, 0.0, atol=1e-6)  # the model never changed


@pytest.mark.slow
def test_gradient_accumulation_records_each_micro_batch_from_its_own_forward_pass(frozen_model, tmp_path):
    """Two micro-batches per optimizer step, collated (by two loader workers) before either
    forward pass runs."""
    data, tokenizer = tokenized(frozen_model)
    callback = DynamicsCallback()
    trainer = make_trainer(frozen_model, data, tokenizer, tmp_path, callback, gradient_accumulation_steps=2,
                           dataloader_num_workers=2)
    trainer.train()
    table = callback.dynamics
    assert_rows_identified(table, data, frozen_model)
    # 13 micro-batches per epoch -> 7 optimizer steps: six of 2 x 8 rows, then one of 5.
    steps = collections.Counter(table["step"].to_pylist())
    assert [steps[s] for s in range(14)] == [16] * 6 + [5] + [16] * 6 + [5]


class _BuiltinOrderSampler(torch.utils.data.Sampler):
    """The built-in recorder's row order for epoch e (the Trainer calls set_epoch)."""

    def __init__(self, num_rows: int, seed: int) -> None:
        self.num_rows, self.seed, self.epoch = num_rows, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_rows

    def __iter__(self):
        return iter(epoch_order(self.num_rows, self.seed, self.epoch).tolist())


@pytest.mark.slow
def test_scores_match_the_builtin_stage_given_the_same_run(no_dropout_model, tmp_path):
    """Exact equality with compute_difficulty needs the same run, which the Trainer does not give
    by default: its sampler draws another order than SeedSequence([seed, epoch]) and it seeds
    dropout once instead of every epoch (see the DynamicsCallback docstring). With the built-in
    order forced on the Trainer, no dropout and the built-in recipe's settings (AdamW, 5% linear
    warm-up, clipping at 1), the two learning runs must record the same dynamics and scores."""
    from transformers import Trainer

    seed, lr = 3, 1e-2
    builtin = compute_difficulty(
        keyword_rows(NUM_ROWS), "text", "label", model=no_dropout_model, cache_dir=tmp_path / "cache", epochs=2,
        batch_size=8, learning_rate=lr, warmup_ratio=0.05, weight_decay=0.0, max_grad_norm=1.0,
        max_length=MAX_LENGTH, seed=seed,
    )

    class BuiltinOrderTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            return _BuiltinOrderSampler(len(train_dataset if train_dataset is not None else self.train_dataset), seed)

    data, tokenizer = tokenized(no_dropout_model)
    callback = DynamicsCallback()
    trainer = make_trainer(no_dropout_model, data, tokenizer, tmp_path / "trainer", callback,
                           trainer_class=BuiltinOrderTrainer, learning_rate=lr, warmup_steps=0.05,
                           weight_decay=0.0, max_grad_norm=1.0, optim="adamw_torch", lr_scheduler_type="linear",
                           seed=seed)
    trainer.train()
    ours, theirs = callback.dynamics, builtin.dynamics
    for column in ("row_index", "epoch", "step", "label"):
        assert ours[column].to_pylist() == theirs[column].to_pylist(), column
    assert ours["pred_label"].to_pylist() == theirs["pred_label"].to_pylist()
    # Bit-identical with torch 2.13 / transformers 5.2 on CPU; the tolerance only allows for a
    # different reduction order in another version.
    for column in ("gold_prob", "max_other_prob", "logit_margin", "loss"):
        np.testing.assert_allclose(ours[column].to_numpy(), theirs[column].to_numpy(), rtol=1e-6, atol=1e-7,
                                   err_msg=column)
    np.testing.assert_allclose(DynamicsArrays.from_table(ours).probs, builtin.arrays.probs, rtol=1e-6, atol=1e-7)
    gold = builtin.arrays.gold_prob
    # The parameters moved: epoch 1's probabilities are not epoch 0's (by far more than the tolerance).
    assert np.abs(gold[:, 1] - gold[:, 0]).mean() > 0.01
    for score in ("variability", "confidence", "aum", "el2n", "loss"):
        np.testing.assert_allclose(callback.difficulty(score), builtin.scores(score), rtol=1e-6, atol=1e-7,
                                   err_msg=score)

    # ... and the README's next step: prune the train dataset with those scores as a column
    hardness = callback.difficulty("variability")
    embeddings = np.random.default_rng(0).normal(size=(NUM_ROWS, 8)).astype(np.float32)
    with_columns = data.add_column("difficulty", hardness.tolist()).add_column("emb", embeddings.tolist())
    pruned = with_columns.d2_prune(rate=0.5, score_column="difficulty", embedding_column="emb")
    kept = np.sort(select("d2", NUM_ROWS // 2, scores=hardness, embeddings=embeddings, seed=0))
    assert pruned.num_rows == NUM_ROWS // 2
    assert hf_d2.selection_record(pruned).kept_row_ids == kept.tolist()  # exactly D2's picks on those arrays
    assert pruned["difficulty"] == [with_columns[int(i)]["difficulty"] for i in kept]


TWO_PROCESS_SCRIPT = """
import sys
import datasets
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments
from hf_d2.difficulty import DynamicsCallback

data_dir, model_dir, output_dir, save_dir = sys.argv[1:5]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
data = datasets.load_from_disk(data_dir)
args = TrainingArguments(output_dir=output_dir, num_train_epochs=2, per_device_train_batch_size=8,
                         learning_rate=0.0, report_to=[], use_cpu=True, save_strategy="no",
                         logging_strategy="no", disable_tqdm=True, seed=3)


class CountingCallback(DynamicsCallback):
    # Counts the rows this process trained on, sampler padding included.

    seen = 0

    def _post_forward(self, module, inputs, output):
        rows = self._local.rows
        self.seen += 0 if rows is None else len(rows)
        return super()._post_forward(module, inputs, output)


callback = CountingCallback()
trainer = Trainer(model=AutoModelForSequenceClassification.from_pretrained(model_dir), args=args,
                  train_dataset=data, processing_class=tokenizer, callbacks=[callback])
trainer.train()
with open(f"{output_dir}/seen_{args.process_index}.txt", "w") as seen:
    seen.write(str(callback.seen))
saved = callback.save(save_dir)  # a no-op on the second process
assert (saved is None) == (not trainer.is_world_process_zero()), saved
assert (callback.dynamics is None) == (not trainer.is_world_process_zero())
"""


@pytest.mark.slow
def test_two_process_launch_records_every_row_once_per_epoch(frozen_model, tmp_path):
    """Two CPU processes via torchrun (`accelerate launch --multi_gpu` with ACCELERATE_USE_CPU, as
    in test_difficulty_recorder.py); 101 rows at batch 8 make 13 batches, which accelerate pads to
    7 per process with 11 duplicate rows that must not be recorded."""
    data, _ = tokenized(frozen_model)
    data.save_to_disk(str(tmp_path / "data"))
    script = tmp_path / "train.py"
    script.write_text(TWO_PROCESS_SCRIPT)
    save_dir = tmp_path / "saved"
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [
        str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29519",
        str(script), str(tmp_path / "data"), frozen_model, str(tmp_path / "trainer"), str(save_dir),
    ]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = load_result(save_dir)
    assert result.metadata["num_processes"] == 2 and result.metadata["source"] == "transformers.Trainer"
    assert_rows_identified(result.dynamics, data, frozen_model)
    steps = collections.Counter(result.dynamics["step"].to_pylist())
    assert sorted(steps) == list(range(14))  # 7 steps per epoch; the padding is not recorded
    assert sum(steps[s] for s in range(7)) == NUM_ROWS
    seen = [int((tmp_path / "trainer" / f"seen_{rank}.txt").read_text()) for rank in (0, 1)]
    assert seen == [2 * 7 * 8, 2 * 7 * 8]  # 2 epochs x 7 batches of 8 on each: 11 duplicates per epoch


@pytest.mark.slow
def test_save_round_trips_through_load_result(shuffled_run, tmp_path):
    callback, _ = shuffled_run
    output = tmp_path / "run"
    assert callback.save(output) == output
    assert sorted(p.name for p in output.iterdir()) == [".hf-d2-output", "dynamics.parquet", "metadata.json",
                                                        "scores.parquet"]
    assert not [p for p in tmp_path.iterdir() if p.name != "run"]  # the staging folder is gone
    loaded = load_result(output)
    assert loaded.dynamics.equals(callback.dynamics)
    np.testing.assert_array_equal(loaded.scores("aum"), callback.difficulty("aum"))
    metadata = json.loads((output / "metadata.json").read_text())
    assert metadata["source"] == "transformers.Trainer"
    assert (metadata["num_rows"], metadata["num_labels"], metadata["epochs"]) == (NUM_ROWS, 2, 2)
    assert metadata["training"]["per_device_train_batch_size"] == 8
    assert metadata["scores"]["aum"]["direction"] == "lower = harder"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        callback.save(output)
    (output / "metadata.json").write_text("{}")
    callback.save(output, overwrite=True)
    assert json.loads((output / "metadata.json").read_text())["num_rows"] == NUM_ROWS


def test_missing_labels_stop_training_with_one_line(frozen_model, tmp_path):
    data, tokenizer = tokenized(frozen_model, num_rows=16)
    trainer = make_trainer(frozen_model, data.remove_columns("label"), tokenizer, tmp_path, DynamicsCallback())
    with pytest.raises(ValueError, match="no labels"):
        trainer.train()


class _NoLogits(torch.nn.Module):
    """A model whose output has a loss but no logits."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(40000, 4)

    def forward(self, input_ids=None, attention_mask=None, labels=None):
        return {"loss": self.embedding(input_ids).mean()}


def test_model_output_without_logits_stops_training(frozen_model, tmp_path):
    from transformers import Trainer, TrainingArguments

    data, tokenizer = tokenized(frozen_model, num_rows=16)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, save_strategy="no",
                             disable_tqdm=True)
    trainer = Trainer(model=_NoLogits(), args=args, train_dataset=data, processing_class=tokenizer,
                      callbacks=[DynamicsCallback()])
    with pytest.raises(ValueError, match="no 'logits'"):
        trainer.train()


def test_no_train_dataset_and_nothing_recorded_are_refused(frozen_model, tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    callback = DynamicsCallback()
    with pytest.raises(ValueError, match="recorded nothing"):
        callback.difficulty()
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="needs a train dataset"):
        callback.on_train_begin(args, TrainerState(), TrainerControl(), model=torch.nn.Linear(2, 2),
                                train_dataloader=None)
    stream = torch.utils.data.DataLoader(keyword_rows(4).to_iterable_dataset(), batch_size=2)
    with pytest.raises(ValueError, match="map-style"):
        callback.on_train_begin(args, TrainerState(), TrainerControl(), model=torch.nn.Linear(2, 2),
                                train_dataloader=stream)
