"""hf-d2 evaluate: the probe judges, the intervals and paired differences, held-out rows that stay
out of selection and training, resumable cells, bad input as one line with exit code 2."""

import json

import datasets
import numpy as np
import pytest
from tiny import keyword_rows, save_tiny_roberta

import hf_d2
from hf_d2.cli import main
from hf_d2.evaluate import (
    classification_metrics,
    evaluate,
    mean_interval,
    paired_difference,
    probe_scores,
    results_markdown,
    stratified_holdout,
    summarize,
)
from hf_d2.evaluate.probe import ProbeInputs

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


def test_metrics_count_a_class_that_is_only_predicted():
    truth = np.array([0, 0, 1, 1])
    predicted = np.array([0, 2, 1, 1])  # class 2 is never true: its F1 is 0 and it counts in the macro average
    metrics = classification_metrics(truth, predicted)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)


def test_intervals_on_a_hand_made_case():
    interval = mean_interval([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, s = sqrt(5/3), t_{0.975, 3} = 3.182446305...
    assert interval.mean == pytest.approx(2.5)
    assert interval.half_width == pytest.approx(3.1824463052842638 * np.sqrt(5 / 3) / 2)
    assert interval.low < 2.5 < interval.high and interval.excludes_zero()
    single = mean_interval([0.7])
    assert single.mean == 0.7 and np.isnan(single.half_width) and single.format() == "70.0"  # no "± 0.0"
    paired = paired_difference({0: 0.80, 1: 0.82, 2: 0.81, 5: 0.9}, {0: 0.78, 1: 0.79, 2: 0.80, 3: 0.5})
    assert paired.count == 3 and paired.mean == pytest.approx(0.02)  # matched by seed: 5 and 3 have no partner
    assert paired.half_width == pytest.approx(4.302652729911275 * 0.01 / np.sqrt(3))


def test_summary_has_means_intervals_and_paired_differences():
    cells = []
    for seed, (d2, random) in enumerate([(0.80, 0.78), (0.82, 0.79), (0.81, 0.80)]):
        for method, accuracy in (("d2", d2), ("random", random)):
            cells.append({"method": method, "rate": 0.5, "seed": seed, "judge": "logistic", "accuracy": accuracy,
                          "macro_f1": accuracy, "num_train": 50, "train_seconds": 0.1})
    cells.append({"method": "full", "rate": 0.0, "seed": 0, "judge": "logistic", "accuracy": 0.9, "macro_f1": 0.9,
                  "num_train": 100, "train_seconds": 0.2})
    rows = summarize(cells, ["d2", "random"])
    assert [(row["method"], row["rate"]) for row in rows] == [("full", 0.0), ("d2", 0.5), ("random", 0.5)]
    d2 = rows[1]
    assert d2["accuracy_mean"] == pytest.approx(0.81) and d2["accuracy_vs_random"] == pytest.approx(0.02)
    assert d2["accuracy_vs_random_ci"] == pytest.approx(4.302652729911275 * 0.01 / np.sqrt(3))
    assert rows[0]["accuracy_ci"] is None and rows[0]["accuracy_std"] == 0.0  # one seed
    table = results_markdown(rows)
    assert "| full | 0 | 100 | 1 | 90.0 | — |" in table and "± 0.0" not in table
    assert "| d2 | 0.5 | 50 | 3 | 81.0 ± 2.5 | +2.0 ± 2.5 |" in table


def test_probe_learns_separable_data_and_is_deterministic():
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 2
    centres = np.array([[2.0] * 8, [-2.0] * 8])
    features = (centres[labels] + rng.normal(size=(400, 8))).astype(np.float32)
    texts = [("good " if y else "bad ") + " ".join(rng.choice(["a", "b", "c"], 5)) for y in labels]
    train, test = ProbeInputs(features[:300], texts[:300]), ProbeInputs(features[300:], texts[300:])
    for kind in ("logistic", "mlp", "tfidf"):
        scores = probe_scores(kind, train, labels[:300], test, labels[300:], num_labels=2, seed=1)
        assert scores["accuracy"] > 0.95, kind
        again = probe_scores(kind, train, labels[:300], test, labels[300:], num_labels=2, seed=1)
        assert again["accuracy"] == scores["accuracy"] and again["macro_f1"] == scores["macro_f1"], kind
    single_class = probe_scores("logistic", train.take(np.flatnonzero(labels[:300] == 1)), np.ones(150, dtype=int),
                                test, labels[300:], num_labels=2)
    assert single_class["accuracy"] == pytest.approx(np.mean(labels[300:] == 1))


@pytest.mark.parametrize("args, message", [
    (["--methods", "d2", "magic"], "argument --methods: invalid choice: 'magic'"),
    (["--rates", "0.5", "1.0"], "must be a number in [0, 1)"),
    (["--rates", "-0.1"], "must be a number in [0, 1)"),
    (["--seeds", "0"], "--seeds must be an int in the range [1, inf)"),
    (["--holdout", "1.5"], "--holdout must be a number in (0, 1)"),
    (["--eval-epochs", "0"], "--eval-epochs must be an int in the range [1, inf)"),
    (["--k", "0"], "--k must be an int in the range [1, inf)"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, tmp_path, capsys):
    assert cli("evaluate", "rotten_tomatoes", "--max-examples", "60", *args, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_probe_run_holds_out_rows_writes_results_and_resumes(tmp_path, capsys):
    source = keyword_rows(150, flipped={3, 10, 40})
    source.save_to_disk(str(tmp_path / "data"))
    cache, output = tmp_path / "cache", tmp_path / "eval"
    common = ["--methods", "d2", "ccs", "--rates", "0.5", "0.7", "--seeds", "3", "--probe", "logistic", "tfidf",
              "--cache-dir", cache, "--embedding-model", "bundled-minilm"]
    assert cli("evaluate", tmp_path / "data", *common, "--output", output) == 0
    out = capsys.readouterr().out
    assert "Judge: **logistic**" in out and "Judge: **tfidf**" in out and "| d2 | 0.5 | 60 | 3 |" in out

    results = json.loads((output / "results.json").read_text())
    methods = {(row["judge"], row["method"], row["rate"]) for row in results["rows"]}
    assert ("logistic", "full", 0.0) in methods and ("tfidf", "random", 0.7) in methods  # random is always added
    assert all("accuracy_vs_random" in row for row in results["rows"] if row["method"] in ("d2", "ccs"))
    assert len(list((output / "cells").glob("*.json"))) == 2 * 3 * (1 + 3 * 2)
    assert (output / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # held-out rows: 30 of 150, stratified; in no coreset
    config = json.loads((output / "config.json").read_text())
    heldout_ids = set(config["heldout_row_ids"])
    assert len(heldout_ids) == 30 and sum(source[i]["label"] for i in heldout_ids) == 15
    for cell in results["cells"]:
        assert heldout_ids.isdisjoint(cell["kept_row_ids"]) and cell["num_heldout"] == 30
    # the selections differ by seed (the head and the selection are seeded), random differs from d2
    d2 = {c["seed"]: c["kept_row_ids"] for c in results["cells"] if c["method"] == "d2" and c["rate"] == 0.5
          and c["judge"] == "logistic"}
    assert len({tuple(ids) for ids in d2.values()}) > 1

    # a second run trains nothing and gives the same table
    again = evaluate(str(tmp_path / "data"), output_dir=output, methods=["d2", "ccs"], rates=[0.5, 0.7], seeds=3,
                     probe=["logistic", "tfidf"], cache_dir=str(cache), embedding_model="bundled-minilm", plots=False)
    assert (again.trained_cells, again.reused_cells) == (0, 42) and again.rows == results["rows"]

    # other settings in the same folder: refused, one line, nothing deleted
    assert cli("evaluate", tmp_path / "data", *common, "--k", "3", "--output", output) == 2
    assert "other settings (options)" in capsys.readouterr().err
    assert len(list((output / "cells").glob("*.json"))) == 42


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_roberta(tmp_path_factory.mktemp("tiny_roberta"))


@pytest.mark.slow
def test_finetuned_judge_with_an_eval_split(tiny_model, tmp_path):
    splits = datasets.DatasetDict({"train": keyword_rows(80, seed=1), "validation": keyword_rows(40, seed=2)})
    splits.save_to_disk(str(tmp_path / "data"))
    report = evaluate(str(tmp_path / "data"), output_dir=tmp_path / "eval", methods=["random"], rates=[0.5], seeds=1,
                      eval_split="validation", split="train", include_full=False, classifier="finetune",
                      model=tiny_model, epochs=1, batch_size=16, max_length=32, cache_dir=str(tmp_path / "cache"),
                      plots=False)
    (cell,) = report.cells
    assert cell["num_heldout"] == 40 and cell["num_train"] == 40 and cell["judge"] == "finetune"
    assert 0.0 <= cell["accuracy"] <= 1.0
    assert not (tmp_path / "cache" / "difficulty").exists()  # random needs no difficulty run


@pytest.mark.slow
def test_an_evaluate_metric_from_a_local_path(tmp_path):
    from pathlib import Path

    metric = Path(__file__).parent / "data" / "exact_match_metric"
    source = keyword_rows(100)
    report = evaluate(source, output_dir=tmp_path / "eval", methods=["random"], rates=[0.5], seeds=2,
                      metric=str(metric), embedding_model="bundled-minilm", cache_dir=str(tmp_path / "cache"),
                      plots=False)
    for cell in report.cells:
        assert cell["metric_match_rate"] == pytest.approx(cell["accuracy"]) and cell["metric_rows"] == 20
    row = next(r for r in report.rows if r["method"] == "random")
    assert "metric_match_rate_mean" in row and "match_rate" in results_markdown(report.rows)
    with pytest.raises(ValueError, match="Cannot load the metric"):
        evaluate(source, output_dir=tmp_path / "other", methods=["random"], rates=[0.5], seeds=1,
                 metric=str(tmp_path / "no-such-metric"), plots=False)
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
def test_evaluate_says_each_thing_once_not_once_per_seed(tmp_path, caplog):
    import logging

    from tiny import pair_rows

    pair_rows(80).save_to_disk(str(tmp_path / "pairs"))
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        assert cli("evaluate", tmp_path / "pairs", "--methods", "random", "--rates", "0.5", "--seeds", "3",
                   "--no-include-full", "--cache-dir", tmp_path / "cache", "--no-plots", "--output", tmp_path / "out") == 0
    assert caplog.text.count("Embedding with the bundled all-MiniLM-L6-v2") <= 1
    assert caplog.text.count("paired with hypothesis") == 1, caplog.text
    assert caplog.text.count("cell random_rate0.5_seed") == 3


def test_evaluate_takes_methods_not_method_and_says_95_percent(tmp_path, capsys):
    assert cli("evaluate", "--help") == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "with its 95% interval over seeds" in help_text and "95%%" not in help_text
    assert "--methods" in help_text and "--method " not in help_text
    with pytest.raises(hf_d2.InvalidParameterError, match="name them in methods"):
        evaluate(keyword_rows(40), output_dir=tmp_path / "out", method="ccs")
