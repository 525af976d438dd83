"""hf-d2 evaluate: held-out rows stay out of selection and training, the table and JSON are
written, finished cells are not re-run, bad input is one line with exit code 2."""

import json
from pathlib import Path

import numpy as np
import pytest
from tiny import keyword_rows, save_tiny_roberta

from hf_d2.cli import main
from hf_d2.difficulty.data import content_hash
from hf_d2.evaluate import (
    ClassifierSettings,
    SelectionInputs,
    classification_metrics,
    coreset_positions,
    evaluate,
    stratified_holdout,
    summarize,
)

TINY_TRAINING = ["--epochs", "2", "--max-length", "32", "--batch-size", "16", "--learning-rate", "1e-3"]


def cli(*args):
    return main([str(a) for a in args])


def test_stratified_holdout_is_disjoint_stratified_and_seeded():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    pool, heldout = stratified_holdout(labels, 0.2, seed=3)
    assert np.intersect1d(pool, heldout).size == 0 and np.union1d(pool, heldout).tolist() == list(range(100))
    assert np.bincount(labels[heldout]).tolist() == [12, 6, 2]
    again_pool, again_heldout = stratified_holdout(labels, 0.2, seed=3)
    assert again_heldout.tolist() == heldout.tolist() and again_pool.tolist() == pool.tolist()
    assert stratified_holdout(labels, 0.2, seed=4)[1].tolist() != heldout.tolist()


def test_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    predicted[:5] = 3  # a class that is only predicted
    metrics = classification_metrics(truth, predicted)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert metrics["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))


def test_summary_is_mean_and_sample_std_over_seeds():
    cells = [{"method": "d2", "rate": 0.5, "seed": seed, "accuracy": accuracy, "macro_f1": accuracy / 2,
              "num_train": 50, "train_seconds": 2.0} for seed, accuracy in enumerate([0.6, 0.7, 0.8])]
    cells.append({"method": "full", "rate": 0.0, "seed": 0, "accuracy": 0.9, "macro_f1": 0.9, "num_train": 100,
                  "train_seconds": 4.0})
    rows = summarize(cells, ["d2"])
    assert [row["method"] for row in rows] == ["full", "d2"]
    assert rows[1]["accuracy_mean"] == pytest.approx(0.7) and rows[1]["accuracy_std"] == pytest.approx(0.1)
    assert rows[1]["seeds"] == [0, 1, 2] and rows[0]["accuracy_std"] == 0.0


def test_methods_select_with_the_pipeline_conventions():
    """d2 drops the hardest 10% by AUM first; ccs too; random and kcenter never look at scores."""
    rng = np.random.default_rng(0)
    n = 200
    aum_hardness = rng.normal(size=n)
    inputs = SelectionInputs(scores=rng.random(n), aum_hardness=aum_hardness,
                             embeddings=rng.normal(size=(n, 8)).astype(np.float32), labels=np.arange(n) % 2)
    hardest_tenth = np.argsort(-aum_hardness)[:20]
    for method in ("d2", "ccs", "ccs-d2"):
        kept = coreset_positions(method, 0.5, 0, inputs)
        assert kept.size == 100 and np.intersect1d(kept, hardest_tenth).size == 0, method
    assert np.intersect1d(coreset_positions("d2", 0.5, 0, inputs, prefilter=0.0), hardest_tenth).size > 0
    for method in ("random", "kcenter", "moderate"):
        without_scores = SelectionInputs(None, None, inputs.embeddings, inputs.labels)
        assert coreset_positions(method, 0.5, 1, inputs).tolist() == coreset_positions(method, 0.5, 1, without_scores).tolist()
    assert coreset_positions("random", 0.5, 1, inputs).tolist() != coreset_positions("random", 0.5, 2, inputs).tolist()


@pytest.mark.parametrize("args, message", [
    (["--methods", "d2", "magic"], "Unknown method(s) 'magic'"),
    (["--rates", "0.5", "1.0"], "must be in [0, 1)"),
    (["--rates", "-0.1"], "must be in [0, 1)"),
    (["--seeds", "0"], "must be >= 1"),
    (["--holdout", "1.5"], "'holdout' parameter"),
    (["--eval-epochs", "0"], "'epochs' parameter must be an int in the range [1, inf)"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, tmp_path, capsys):
    assert cli("evaluate", "rotten_tomatoes", "--max-examples", "60", *args, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta"))


@pytest.mark.slow
def test_end_to_end_tiny_run_holds_out_rows_writes_results_and_resumes(tiny_model, tmp_path, capsys):
    source = keyword_rows(150)
    source.save_to_disk(str(tmp_path / "data"))
    cache, output = tmp_path / "cache", tmp_path / "eval"
    assert cli("evaluate", tmp_path / "data", "--methods", "d2", "random", "--rates", "0.5", "--seeds", "1",
               "--holdout", "0.2", "--model", tiny_model, "--cache-dir", cache, *TINY_TRAINING,
               "--output", output) == 0
    assert "| d2 | 0.5 | 60 | 1 |" in capsys.readouterr().out

    # the table, the JSON, one file per cell, the plots
    results = json.loads((output / "results.json").read_text())
    assert [(row["method"], row["rate"]) for row in results["rows"]] == [("full", 0.0), ("d2", 0.5), ("random", 0.5)]
    assert all(0.0 <= row["accuracy_mean"] <= 1.0 and row["num_train"] > 0 for row in results["rows"])
    assert "| method | rate |" in (output / "results.md").read_text()
    assert sorted(path.stem for path in (output / "cells").glob("*.json")) == [
        "d2_rate0.5_seed0", "full_rate0_seed0", "random_rate0.5_seed0"]
    assert (output / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (output / "accuracy.svg").stat().st_size > 0

    # held-out rows: 30 of 150, stratified; in no coreset; not among the difficulty run's rows
    config = json.loads((output / "config.json").read_text())
    heldout_ids = set(config["heldout_row_ids"])
    pool_ids = [i for i in range(150) if i not in heldout_ids]
    assert len(heldout_ids) == 30 and sum(source[i]["label"] for i in heldout_ids) == 15
    only_heldout_texts = {source[i]["text"] for i in heldout_ids} - {source[i]["text"] for i in pool_ids}
    assert len(only_heldout_texts) == 30  # the synthetic sentences are distinct
    for cell in results["cells"]:
        assert heldout_ids.isdisjoint(cell["kept_row_ids"]) and set(cell["kept_row_ids"]) <= set(pool_ids)
        assert only_heldout_texts.isdisjoint(source[i]["text"] for i in cell["kept_row_ids"])
        assert cell["num_heldout"] == 30
    run_dir = cache / "difficulty" / config["stages"]["classifier"]["cache_key"]
    metadata = json.loads((run_dir / "metadata.json").read_text())
    pool = source.select(pool_ids)
    assert metadata["num_rows"] == 120
    assert metadata["dataset_hash"] == content_hash(pool, "text", None, np.array(pool["label"]))

    # a second run trains nothing and gives the same table
    again = evaluate(str(tmp_path / "data"), output_dir=output, methods=["d2", "random"], rates=[0.5], seeds=1,
                     classifier=ClassifierSettings(model=tiny_model, epochs=2, batch_size=16, learning_rate=1e-3,
                                                   max_length=32), cache_dir=str(cache), plots=False)
    assert (again.trained_cells, again.reused_cells) == (0, 3)
    assert again.rows == results["rows"]

    # other settings in the same folder: refused, one line, nothing deleted
    assert cli("evaluate", tmp_path / "data", "--methods", "d2", "--rates", "0.5", "--seeds", "1", "--model",
               tiny_model, "--cache-dir", cache, *TINY_TRAINING[:-1], "5e-4", "--output", output) == 2
    assert "other settings (difficulty_classifier, eval_classifier)" in capsys.readouterr().err
    assert len(list((output / "cells").glob("*.json"))) == 3


@pytest.mark.slow
def test_eval_split_is_used_as_given(tiny_model, tmp_path):
    import datasets

    splits = datasets.DatasetDict({"train": keyword_rows(80, seed=1), "validation": keyword_rows(40, seed=2)})
    splits.save_to_disk(str(tmp_path / "data"))
    report = evaluate(str(tmp_path / "data"), output_dir=tmp_path / "eval", methods=["random"], rates=[0.5],
                      seeds=1, eval_split="validation", split="train", include_full=False,
                      classifier=ClassifierSettings(model=tiny_model, epochs=1, batch_size=16, max_length=32),
                      cache_dir=str(tmp_path / "cache"), plots=False)
    (cell,) = report.cells
    assert cell["num_heldout"] == 40 and cell["num_train"] == 40
    assert not (Path(tmp_path / "cache") / "difficulty").exists()  # random needs no difficulty run
