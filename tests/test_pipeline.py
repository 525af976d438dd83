"""End to end: raw text → difficulty (tiny RoBERTa, 2 epochs) → embeddings (bundled MiniLM) →
graph → selection, through the CLI and the Python API, with the stage cache."""

import json

import datasets
import numpy as np
import pytest
from tiny import pair_rows, save_tiny_roberta

import hf_d2
from hf_d2.cli import main
from hf_d2.data import resolve_dataset

TINY_TRAINING = ["--difficulty-source", "finetune", "--epochs", "2", "--max-length", "32", "--batch-size", "16",
                 "--learning-rate", "1e-3"]
TINY_KWARGS = dict(difficulty_source="finetune", epochs=2, max_length=32, batch_size=16, learning_rate=1e-3)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hf_d2_cache"))


def cli(*args):
    return main([str(a) for a in args])


@pytest.mark.slow
def test_cli_and_python_api_give_the_same_coreset_and_reuse_the_cache(tiny_model, cache_dir, tmp_path, capsys):
    common = ["rotten_tomatoes", "--rate", "0.5", "--max-examples", "300", "--model", tiny_model,
              "--cache-dir", cache_dir, *TINY_TRAINING]
    assert cli("prune", *common, "--output", tmp_path / "first") == 0
    first = datasets.load_from_disk(str(tmp_path / "first"))
    record = json.loads((tmp_path / "first" / "selection.json").read_text())
    assert first.num_rows == 150 and first.features == resolve_dataset("rotten_tomatoes").dataset.features
    assert record["method"] == "d2" and record["prefilter_margin"] == 0.5 and 0 <= record["prefilter"] < 0.5
    assert record["difficulty"]["score"] == "variability" and record["difficulty"]["source"] == "finetune"
    assert len(record["difficulty"]["train_accuracy"]) == 2  # the difficulty model's accuracy per epoch
    assert record["embeddings"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert record["source"]["kind"] == "bundled" and record["source"]["max_examples"] == 300
    # kept ids refer to rows of the full source split, in order
    source = resolve_dataset("rotten_tomatoes").dataset
    assert [source[i]["text"] for i in record["kept_row_ids"]] == first["text"]
    assert record["kept_row_ids"] == sorted(record["kept_row_ids"])
    assert (tmp_path / "first" / "scores.parquet").exists() and (tmp_path / "first" / "parquet" / "train.parquet").exists()
    out = capsys.readouterr().out
    assert "kept 150 of 300 rows" in out
    # the default: D2 inside each class after AUM's margin rule, relative reverse pass, near duplicates
    # (hf_d2.selection.defaults)
    assert record["partition"] == "label" and record["budget_allocation"] == "proportional"
    assert record["method_params"]["reverse"] == "relative" and record["duplicates"]["mode"] == "near"
    assert "pre-filter: the rows whose mean margin over training was below -0.5 (" in out
    assert "groups: label (budget allocation proportional)" in out

    api = hf_d2.prune("rotten_tomatoes", 0.5, max_examples=300, model=tiny_model, cache_dir=cache_dir,
                      return_result=True, **TINY_KWARGS)
    assert api.dataset["text"] == first["text"]
    assert [row["cache"] for row in api.record.timings] == ["hit", "hit", "-"]  # embed, difficulty, select
    cold = json.loads((tmp_path / "first" / "state.json").read_text())["_fingerprint"]  # the first run trained
    assert api.dataset._fingerprint == cold  # a warm run (every stage from the cache) has the same fingerprint

    assert cli("prune", *common, "--output", tmp_path / "second") == 0  # a second run: same coreset
    assert datasets.load_from_disk(str(tmp_path / "second"))["text"] == first["text"]

    # changing only the rate (or k) re-runs only the selection
    other_rate = hf_d2.prune("rotten_tomatoes", 0.8, max_examples=300, model=tiny_model, cache_dir=cache_dir,
                             return_result=True, k=7, **TINY_KWARGS)
    assert [row["cache"] for row in other_rate.record.timings] == ["hit", "hit", "-"]
    assert other_rate.dataset.num_rows == 60

    # the bare algorithm (no pre-filter, one group) ranks every row: rate 0.8 is a prefix of rate 0.5
    bare_half = hf_d2.prune("rotten_tomatoes", 0.5, max_examples=300, model=tiny_model, cache_dir=cache_dir,
                            return_result=True, prefilter=0.0, partition="none", **TINY_KWARGS)
    bare_fifth = hf_d2.prune("rotten_tomatoes", 0.8, max_examples=300, model=tiny_model, cache_dir=cache_dir,
                             prefilter=0.0, partition="none", **TINY_KWARGS)
    assert set(bare_fifth["text"]) <= set(bare_half.dataset["text"])
    ranks = np.array(bare_half.scores["pick_rank"])
    assert sorted(ranks.tolist()) == list(range(300))


@pytest.mark.slow
def test_text_pair_dataset_with_string_labels(tiny_model, cache_dir, tmp_path):
    pairs = pair_rows(120)
    pairs.save_to_disk(str(tmp_path / "nli"))
    assert cli("prune", tmp_path / "nli", "--rate", "0.5", "--model", tiny_model, "--cache-dir", cache_dir,
               *TINY_TRAINING, "--output", tmp_path / "out") == 0
    pruned = datasets.load_from_disk(str(tmp_path / "out"))
    assert pruned.num_rows == 60 and pruned.column_names == ["premise", "hypothesis", "label"]
    assert pruned.features == pairs.features  # string labels stay strings in the output
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert record["label_counts_before"] == {"contradiction": 60, "entailment": 60}
    assert sum(record["label_counts_after"].values()) == 60
    direct = pairs.d2_prune(rate=0.5, model=tiny_model, cache_dir=cache_dir, **TINY_KWARGS)
    assert direct["premise"] == pruned["premise"]


@pytest.mark.slow
def test_methods_without_difficulty_skip_training(cache_dir, tmp_path):
    result = hf_d2.prune("rotten_tomatoes", 0.5, max_examples=200, method="kcenter", cache_dir=cache_dir,
                         return_result=True)
    assert [row["stage"] for row in result.record.timings] == ["embed", "select"]
    assert result.record.difficulty is None


def test_dry_run_lists_stages_without_running(tmp_path, capsys):
    assert cli("prune", "rotten_tomatoes", "--rate", "0.5", "--max-examples", "100", "--dry-run",
               "--cache-dir", tmp_path / "empty-cache") == 0
    out = capsys.readouterr().out
    assert "100 rows" in out and "\ndifficulty " in out and "\nembed " in out and " miss " in out
    assert not (tmp_path / "empty-cache").exists()


@pytest.mark.parametrize("args, message", [
    (["glue/anli", "--rate", "0.5"], "Cannot load 'glue/anli' (facebook/anli, split train_r3)"),
    (["rotten_tomatoes", "--rate", "1.0"], "must be in [0, 1)"),
    (["rotten_tomatoes", "--rate", "0.5", "--split", "test"], "only the train split"),
    (["rotten_tomatoes", "--rate", "0.5", "--label-column", "stars"], "Column 'stars' (class labels) is not in the dataset"),
])
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, capsys):
    assert cli("prune", *args, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_ambiguous_text_and_float_labels_and_empty_split(tmp_path, capsys):
    datasets.Dataset.from_dict({"title": ["a", "b"], "body": ["c", "d"], "label": [0, 1]}).save_to_disk(str(tmp_path / "a"))
    datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0.5, 1.5]}).save_to_disk(str(tmp_path / "f"))
    empty = datasets.Dataset.from_dict({"text": ["a"], "label": [0]}).filter(lambda row: False)
    empty.save_to_disk(str(tmp_path / "e"))
    assert cli("prune", tmp_path / "a", "--rate", "0.5", "--output", tmp_path / "o") == 2
    assert "Ambiguous text columns: title, body" in capsys.readouterr().err
    assert cli("prune", tmp_path / "f", "--rate", "0.5", "--output", tmp_path / "o") == 2
    assert "holds numbers that are not whole (e.g. 0.5): a regression target" in capsys.readouterr().err
    assert cli("prune", tmp_path / "e", "--rate", "0.5", "--output", tmp_path / "o") == 2
    assert "empty" in capsys.readouterr().err


def test_existing_output_is_never_overwritten_without_flag(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    assert cli("prune", "rotten_tomatoes", "--rate", "0.5", "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "holds files hf-d2 did not write" in err and "pass --overwrite" not in err  # it would be refused too
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"


@pytest.mark.slow
def test_two_processes_run_stages_data_parallel_and_write_once(tiny_model, tmp_path):
    """`accelerate launch` with 2 CPU processes (see README: --multi_gpu with ACCELERATE_USE_CPU):
    difficulty and embeddings run on both, only the main process selects and writes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from hf_d2.embed import compute_embeddings

    pairs = pair_rows(121)  # odd: the distributed sampler pads
    pairs.save_to_disk(str(tmp_path / "nli"))
    cache = tmp_path / "cache"
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29531",
               "-m", "hf_d2.cli", "-q", "prune", str(tmp_path / "nli"), "--rate", "0.5", "--model", tiny_model,
               "--cache-dir", str(cache), *TINY_TRAINING, "--output", str(tmp_path / "out")]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    pruned = datasets.load_from_disk(str(tmp_path / "out"))
    record = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert pruned.num_rows == 60 and record["num_rows_before"] == 121
    difficulty_runs = list((cache / "difficulty").iterdir())
    assert len(difficulty_runs) == 1
    assert json.loads((difficulty_runs[0] / "metadata.json").read_text())["num_processes"] == 2
    gathered = np.load(next((cache / "embeddings").glob("*.npy")))
    single = compute_embeddings(pairs, "premise", "hypothesis", use_cache=False, cache_dir=tmp_path / "single")
    assert gathered.shape == (121, 384)
    np.testing.assert_allclose(gathered, single.embeddings, atol=1e-5)


@pytest.mark.slow
def test_every_long_step_shows_progress(tmp_path, capsys, caplog, monkeypatch):
    """Loading the embedding model, embedding, the head's epochs and the selection each say that
    they run (the model import alone takes seconds)."""
    import logging

    from tiny import keyword_rows

    monkeypatch.delenv("HF_D2_DISABLE_PROGRESS", raising=False)
    keyword_rows(40).save_to_disk(str(tmp_path / "data"))
    capsys.readouterr()
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        assert cli("prune", tmp_path / "data", "--rate", "0.5", "--cache-dir", tmp_path / "cache",
                   "--output", tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "Loading the embedding model all-MiniLM-L6-v2 (bundled) ..." in caplog.text and "Loaded it in" in caplog.text
    assert "Embedding:" in err and "Difficulty head:" in err and "/10 [" in err
    assert "Selecting 20 of 40 rows (d2 inside label groups) ..." in caplog.text and "Selected in" in caplog.text


def test_summary_words_read_as_english():
    from hf_d2.cli.prune import graph_line
    from hf_d2.record import DifficultyRecord, SelectionRecord

    line = graph_line({"backend": "exact", "groups": 1, "backends": {"exact": 1}, "k": 5, "num_edges": 40})
    assert "exact in 1 group (1 exact)" in line
    record = SelectionRecord(method="d2", rate=0.5, budget=5, num_rows_before=10, num_rows_after=5, kept_row_ids=[],
                             prefilter=0.1,
                             difficulty=DifficultyRecord(score="prototypicality", source="prototypicality",
                                                         prefilter_score="prototypicality"))
    assert record.prefilter_text() == "the hardest 10% by prototypicality dropped first"
    record.difficulty.prefilter_score = "aum"
    assert record.prefilter_text() == "the hardest 10% by AUM dropped first"
    record.prefilter, record.prefilter_margin = 0.0734, 0.3
    assert record.prefilter_text() == "the rows whose mean margin over training was below -0.3 (7.3%) dropped first"


def test_a_dry_run_on_a_machine_that_measured_nothing_says_it_cannot_estimate(tmp_path, capsys):
    assert cli("prune", "rotten_tomatoes", "--rate", "0.5", "--max-examples", "100", "--dry-run",
               "--cache-dir", tmp_path / "cache") == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("embed ", "difficulty ", "graph + select"))]
    assert len(rows) == 3 and all("?" in row for row in rows), out
    assert "? = not measured here yet" in out and not (tmp_path / "cache").exists()


def test_estimates_come_from_the_throughput_measured_here_and_scale_with_the_texts(tmp_path):
    """set-up + work / rate, from the timings the stages kept; IMDB's long reviews cost more per row
    than Rotten Tomatoes' short ones at the same measured rate."""
    from hf_d2.cache import record_timing
    from hf_d2.embed import text_work, timing_key
    from hf_d2.estimate import selection_timing_key
    from hf_d2.options import PruneOptions
    from hf_d2.plan import make_plan

    cache = str(tmp_path / "cache")
    record_timing(cache, timing_key("embed", "sentence-transformers/all-MiniLM-L6-v2", "cpu"), work=20_000,
                  seconds=10.0, fixed_seconds=3.0)
    record_timing(cache, timing_key("head", None, "cpu"), work=160, seconds=0.4, fixed_seconds=1.0)
    record_timing(cache, selection_timing_key("d2", "label"), work=5_300, seconds=2.0, fixed_seconds=0.5)
    seconds = {}
    for name in ("rotten_tomatoes", "imdb"):
        plan = make_plan(name, 0.5, PruneOptions.from_values({"max_examples": 500, "cache_dir": cache}))
        stages = {stage.stage: stage.seconds for stage in plan.describe()}
        work = text_work(plan.stage_dataset, "text", None, 256)
        assert stages["embed"] == pytest.approx(3.0 + work / 2_000)
        assert stages["difficulty"] == pytest.approx(1.0 + 10 * 16 / 400)  # 500 rows: 16 steps an epoch, 10 epochs
        assert stages["graph + select"] == pytest.approx(0.5 + (500 + 100 * 2) / 2_650)  # two classes
        seconds[name] = stages["embed"]
    assert seconds["imdb"] > 3 * seconds["rotten_tomatoes"]


def test_each_stage_keeps_its_measured_throughput(tmp_path):
    from hf_d2.cache import recorded_timings
    from hf_d2.estimate import selection_timing_key

    rng = np.random.default_rng(0)
    rows = datasets.Dataset.from_dict({"text": [str(i) for i in range(60)], "label": [0, 1] * 30,
                                       "difficulty": rng.random(60).tolist(),
                                       "emb": rng.normal(size=(60, 4)).astype(np.float32).tolist()})
    rows.d2_prune(rate=0.5, score_column="difficulty", embedding_column="emb", cache_dir=str(tmp_path))
    measured = recorded_timings(str(tmp_path), selection_timing_key("d2", "none"))
    assert len(measured) == 1 and measured[0]["work"] == 60 + 100 and measured[0]["seconds"] > 0
