"""The training-dynamics recorder end to end, with a tiny RoBERTa made offline in the test.

The tokenizer is the bundled all-MiniLM-L6-v2 (BERT) tokenizer; the RoBERTa model uses its
vocabulary size and pad id. Data: synthetic sentences whose label is set by a keyword, 301 rows
(odd, so a 2-process sampler must pad).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from tiny import keyword_rows, pair_rows, save_tiny_roberta

from hf_d2.difficulty import compute_difficulty, load_result
from hf_d2.difficulty.recorder import epoch_order, steps_per_epoch

pytestmark = pytest.mark.slow

NUM_ROWS = 301
TRAIN = {"epochs": 2, "learning_rate": 3e-3, "batch_size": 8, "max_length": 32, "seed": 3}


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory) -> str:
    return save_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta"))


@pytest.fixture(scope="module")
def keyword_data() -> datasets.Dataset:
    return keyword_rows(NUM_ROWS)


@pytest.fixture(scope="module")
def finished_run(tiny_roberta, keyword_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    result = compute_difficulty(
        keyword_data, "text", "label", model=tiny_roberta, cache_dir=cache, return_embeddings=True, **TRAIN
    )
    return result, cache


def assert_once_per_epoch(table, num_rows: int, num_epochs: int) -> None:
    counts = collections.Counter(zip(table["row_index"].to_pylist(), table["epoch"].to_pylist()))
    assert table.num_rows == num_rows * num_epochs
    assert set(counts.values()) == {1}
    assert {row for row, _ in counts} == set(range(num_rows))
    assert {epoch for _, epoch in counts} == set(range(num_epochs))


class Killed(Exception):
    pass


def test_every_example_is_recorded_exactly_once_per_epoch(finished_run, keyword_data):
    result, _ = finished_run
    table = result.dynamics
    assert_once_per_epoch(table, NUM_ROWS, 2)
    arrays = result.arrays
    np.testing.assert_array_equal(arrays.labels, keyword_data["label"])
    # 38 steps per epoch at batch 8; each step records its batch.
    num_steps = steps_per_epoch(NUM_ROWS, 1, 8)
    step_sizes = collections.Counter(table["step"].to_pylist())
    assert sorted(step_sizes) == list(range(2 * num_steps))
    assert step_sizes[num_steps - 1] == NUM_ROWS - 8 * (num_steps - 1)
    # Epoch 1 saw rows in the order drawn from (seed, epoch).
    order = epoch_order(NUM_ROWS, 3, 1)
    steps, rows = table["step"].to_numpy(), table["row_index"].to_numpy()
    for k in range(num_steps):
        assert set(rows[steps == num_steps + k]) == set(order[8 * k: 8 * (k + 1)])


def test_recorded_columns_are_consistent(finished_run):
    arrays = finished_run[0].arrays
    rows = np.arange(arrays.num_examples)
    np.testing.assert_allclose(arrays.probs.sum(axis=2), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(arrays.gold_prob, arrays.probs[rows, :, arrays.labels])
    np.testing.assert_array_equal(arrays.pred_label, arrays.probs.argmax(axis=2))
    np.testing.assert_allclose(arrays.loss, -np.log(arrays.gold_prob), rtol=1e-5)
    other = arrays.probs.copy()
    other[rows, :, arrays.labels] = -1
    np.testing.assert_array_equal(arrays.max_other_prob, other.max(axis=2))
    # The keyword is learnable: by the last epoch nearly every prediction is right.
    assert arrays.correct[:, -1].mean() > 0.9


def test_embeddings_are_the_final_models_first_token_states(finished_run, keyword_data):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    result, _ = finished_run
    assert result.embeddings.shape == (NUM_ROWS, 32) and result.embeddings.dtype == np.float32
    model_dir = result.run_dir / "final_model"
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = [0, 7, 300]
    batch = tokenizer([keyword_data[i]["text"] for i in rows], padding=True, truncation=True,
                      max_length=32, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states[-1][:, 0, :].numpy()
    np.testing.assert_allclose(result.embeddings[rows], hidden, rtol=1e-4, atol=1e-5)


def test_finished_run_is_reused_without_training(finished_run, keyword_data, tiny_roberta):
    result, cache = finished_run

    def must_not_train(epoch: int) -> None:
        raise AssertionError("a finished run was trained again")

    again = compute_difficulty(keyword_data, "text", "label", model=tiny_roberta, cache_dir=cache,
                               epoch_callback=must_not_train, **TRAIN)
    assert again.dynamics.equals(result.dynamics)
    assert again.metadata["cache_key"] == result.metadata["cache_key"]
    assert load_result(result.run_dir).dynamics.equals(result.dynamics)


def test_killed_run_resumes_to_the_uninterrupted_dynamics(finished_run, keyword_data, tiny_roberta, tmp_path):
    uninterrupted, _ = finished_run

    def kill_after_first_epoch(epoch: int) -> None:
        if epoch == 0:
            raise Killed

    with pytest.raises(Killed):
        compute_difficulty(keyword_data, "text", "label", model=tiny_roberta, cache_dir=tmp_path,
                           epoch_callback=kill_after_first_epoch, **TRAIN)
    (run_dir,) = (tmp_path / "difficulty").iterdir()
    assert json.loads((run_dir / "progress.json").read_text())["epochs_done"] == 1
    resumed_epochs = []
    resumed = compute_difficulty(keyword_data, "text", "label", model=tiny_roberta, cache_dir=tmp_path,
                                 epoch_callback=resumed_epochs.append, **TRAIN)
    assert resumed_epochs == [1]  # only the unfinished epoch ran
    assert resumed.dynamics.equals(uninterrupted.dynamics)
    assert not list(run_dir.glob("checkpoint_*"))


KILL_MID_EPOCH = """
import os, signal, sys
import datasets
from hf_d2.difficulty import compute_difficulty, recorder

original = recorder._record_step
calls = []

def record_then_die(*args, **kwargs):
    calls.append(1)
    if len(calls) == 38 + 10:  # epoch 0 has 38 steps: die in the middle of epoch 1
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)

recorder._record_step = record_then_die
data, model, cache = sys.argv[1:4]
compute_difficulty(datasets.load_from_disk(data), "text", "label", model=model, cache_dir=cache,
                   epochs=2, learning_rate=3e-3, batch_size=8, max_length=32, seed=3)
"""


def test_sigkilled_mid_epoch_run_resumes_to_the_uninterrupted_dynamics(
    finished_run, keyword_data, tiny_roberta, tmp_path
):
    uninterrupted, _ = finished_run
    data = tmp_path / "data"
    keyword_data.save_to_disk(str(data))
    script = tmp_path / "kill.py"
    script.write_text(KILL_MID_EPOCH)
    cache = tmp_path / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run([sys.executable, str(script), str(data), tiny_roberta, str(cache)],
                               check=False, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == -9, completed.stderr[-3000:]
    (run_dir,) = (cache / "difficulty").iterdir()
    assert json.loads((run_dir / "progress.json").read_text())["epochs_done"] == 1
    assert (run_dir / "epoch_001.parquet.tmp").exists()  # the half-written epoch
    resumed_epochs = []
    resumed = compute_difficulty(keyword_data, "text", "label", model=tiny_roberta, cache_dir=cache,
                                 epoch_callback=resumed_epochs.append, **TRAIN)
    assert resumed_epochs == [1]
    assert resumed.dynamics.equals(uninterrupted.dynamics)


def test_cache_key_changes_with_hyperparameters_and_labels(finished_run, keyword_data, tiny_roberta, tmp_path):
    result, _ = finished_run
    other_seed = compute_difficulty(keyword_data, "text", "label", model=tiny_roberta, cache_dir=tmp_path,
                                    **{**TRAIN, "seed": 4, "epochs": 1})
    assert other_seed.metadata["cache_key"] != result.metadata["cache_key"]
    assert other_seed.metadata["training"]["seed"] == 4
    assert other_seed.metadata["revision"].startswith("local:")


def test_recorded_probabilities_come_before_the_update(keyword_data, tmp_path):
    """With dropout off, step 0's records equal the untouched initial model's eval forward, and
    step 1's differ from it (the model has been updated once)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = save_tiny_roberta(tmp_path / "no_dropout", dropout=0.0)
    # No warm-up: the linear warm-up starts at lr 0, which would make the first update a no-op.
    result = compute_difficulty(keyword_data, "text", "label", model=model_dir, cache_dir=tmp_path / "cache",
                                **{**TRAIN, "epochs": 1, "warmup_ratio": 0.0})
    table = result.dynamics
    first = table.filter(table["step"].to_numpy() == 0)
    rows = first["row_index"].to_pylist()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    batch = tokenizer([keyword_data[i]["text"] for i in rows], padding=True, truncation=True,
                      max_length=32, return_tensors="pt")
    with torch.no_grad():
        probs = torch.softmax(model(**batch).logits.double(), dim=1).numpy()
    recorded = np.stack(first["probs"].to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(recorded, probs, rtol=1e-5, atol=1e-6)
    second = table.filter(table["step"].to_numpy() == 1)
    rows = second["row_index"].to_pylist()
    batch = tokenizer([keyword_data[i]["text"] for i in rows], padding=True, truncation=True,
                      max_length=32, return_tensors="pt")
    with torch.no_grad():
        stale = torch.softmax(model(**batch).logits.double(), dim=1).numpy()
    assert not np.allclose(np.stack(second["probs"].to_numpy(zero_copy_only=False)), stale, atol=1e-6)


def test_aum_flags_the_mislabelled_examples(tiny_roberta, tmp_path):
    flipped = set(range(0, NUM_ROWS, 20))
    noisy = keyword_rows(NUM_ROWS, flipped=flipped)
    result = compute_difficulty(noisy, "text", "label", model=tiny_roberta, cache_dir=tmp_path,
                                **{**TRAIN, "epochs": 3, "seed": 0})
    hardest = set(np.argsort(-result.scores("aum"), kind="stable")[: len(flipped)].tolist())
    assert len(hardest & flipped) >= len(flipped) - 1


def test_text_pairs_are_recorded(tiny_roberta, tmp_path):
    pairs = pair_rows(101)
    result = compute_difficulty(pairs, "premise", "label", "hypothesis", model=tiny_roberta,
                                cache_dir=tmp_path, **{**TRAIN, "epochs": 1})
    assert_once_per_epoch(result.dynamics, 101, 1)
    assert result.metadata["text_pair"] is True and result.metadata["text_pair_column"] == "hypothesis"
    assert result.metadata["label_names"] == ["contradiction", "entailment"]
    np.testing.assert_array_equal(result.arrays.labels, np.arange(101) % 2)
    premise_only = compute_difficulty(pairs, "premise", "label", model=tiny_roberta, cache_dir=tmp_path,
                                      **{**TRAIN, "epochs": 1})
    assert premise_only.metadata["cache_key"] != result.metadata["cache_key"]
    assert not np.array_equal(premise_only.arrays.gold_prob, result.arrays.gold_prob)


def test_cli_writes_dynamics_scores_and_metadata(finished_run, keyword_data, tiny_roberta, tmp_path):
    from hf_d2.cli.main import main

    result, cache = finished_run
    data = tmp_path / "data.jsonl"
    keyword_data.to_json(str(data))
    output = tmp_path / "out"
    args = ["score", str(data), "--text-column", "text", "--label-column", "label", "--output", str(output),
            "--model", tiny_roberta, "--epochs", "2", "--learning-rate", "3e-3", "--max-length", "32",
            "--seed", "3", "--cache-dir", str(cache)]
    assert main(args) == 0
    assert sorted(p.name for p in output.iterdir()) == [".hf-d2-output", "dynamics.parquet", "metadata.json",
                                                        "scores.parquet"]
    assert pq.read_table(output / "dynamics.parquet").equals(result.dynamics)  # same run, from the cache
    scores = pq.read_table(output / "scores.parquet")
    np.testing.assert_array_equal(scores["variability_hardness"].to_numpy(), result.scores("variability"))
    metadata = json.loads((output / "metadata.json").read_text())
    assert metadata["scores"]["aum"]["direction"] == "lower = harder"
    assert metadata["num_rows"] == NUM_ROWS


def test_two_process_launch_records_every_row_once_per_epoch(tiny_roberta, keyword_data, tmp_path):
    """Two data-parallel CPU processes; 301 rows, so the sampler pads one duplicate per epoch.

    `accelerate launch --cpu --num_processes 2` starts a single process unless mpirun is used
    (accelerate's simple launcher); `--multi_gpu` with ACCELERATE_USE_CPU=true starts two via
    torchrun on a CPU-only machine, with the gloo backend.
    """
    data = tmp_path / "data"
    keyword_data.save_to_disk(str(data))
    output = tmp_path / "out"
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [
        str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
        "-m", "hf_d2.cli", "-q", "score", str(data), "--text-column", "text", "--label-column", "label",
        "--output", str(output), "--model", tiny_roberta, "--epochs", "2", "--max-length", "32",
        "--cache-dir", str(tmp_path / "cache"),
    ]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    metadata = json.loads((output / "metadata.json").read_text())
    assert metadata["num_processes"] == 2
    table = pq.read_table(output / "dynamics.parquet")
    assert_once_per_epoch(table, NUM_ROWS, 2)
    # ceil(ceil(301 / 2) / 8) = 19 steps per epoch; the last one records 2 x 7 - 1 padding row.
    step_sizes = collections.Counter(table["step"].to_pylist())
    assert len(step_sizes) == 2 * 19 and step_sizes[18] == 13 and step_sizes[37] == 13
    assert sorted(os.listdir(output)) == [".hf-d2-output", "dynamics.parquet", "metadata.json", "scores.parquet"]
