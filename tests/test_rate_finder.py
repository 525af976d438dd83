"""How much can I prune? The rate finder's rule on constructed curves, evaluate's table of limits,
and rate="auto" end to end (issue 22)."""

import datasets
import numpy as np
import pytest

import hf_d2
from hf_d2.evaluate import prune_limits
from hf_d2.selection.rate_finder import choose_rate, largest_safe_rate

RATES = [0.1, 0.2, 0.3, 0.4, 0.5]


def test_the_largest_rate_within_the_drop_and_every_smaller_rate_within_it_too():
    assert largest_safe_rate(RATES, [0.1, 0.2, 0.45, 0.6, 0.3], 0.5) == 0.3  # 0.5 is back within, after 0.4 failed
    assert largest_safe_rate(RATES[::-1], [0.3, 0.6, 0.45, 0.2, 0.1], 0.5) == 0.3  # any order
    assert largest_safe_rate(RATES, [-1.0, -0.5, 0.0, 0.1, 0.2], 0.5) == 0.5  # gains count as within
    assert largest_safe_rate(RATES, [0.7, 0.1, 0.1, 0.1, 0.1], 0.5) is None
    assert largest_safe_rate(RATES, [0.1, float("nan"), 0.1, 0.1, 0.1], 0.5) == 0.1  # an unmeasured point stops it
    assert largest_safe_rate([], [], 0.5) is None


def test_the_rate_finder_says_what_to_do_when_no_rate_is_within_the_drop():
    curve = {"points": [{"rate": 0.1, "drop": 1.2}, {"rate": 0.2, "drop": 0.1}]}
    assert choose_rate({"points": [{"rate": 0.1, "drop": 0.2}, {"rate": 0.2, "drop": 0.1}]}, 0.5) == 0.2
    with pytest.raises(ValueError, match=r"at rate 0.1 it already loses 1.20 points. Pass a rate .*--max-drop"):
        choose_rate(curve, 0.5)


def cells_for(method, rate, accuracies, judge="logistic"):
    return [{"method": method, "rate": rate, "seed": seed, "judge": judge, "accuracy": value}
            for seed, value in enumerate(accuracies)]


def test_evaluate_reports_each_methods_largest_rate_within_the_tolerance_paired_by_seed():
    cells = [*cells_for("full", 0.0, [0.80, 0.82, 0.81]),
             *cells_for("d2", 0.3, [0.80, 0.82, 0.81]), *cells_for("d2", 0.5, [0.798, 0.816, 0.806]),
             *cells_for("d2", 0.7, [0.78, 0.80, 0.80]),
             *cells_for("random", 0.3, [0.79, 0.82, 0.81]), *cells_for("random", 0.5, [0.79, 0.80, 0.79]),
             *cells_for("random", 0.7, [0.80, 0.82, 0.81])]
    limits = {limit["method"]: limit for limit in prune_limits(cells, 0.5)}
    assert limits["d2"]["rate"] == 0.5 and limits["d2"]["difference"] == pytest.approx(-1 / 3)
    assert limits["d2"]["seeds"] == 3 and limits["d2"]["difference_ci"] > 0
    assert limits["random"]["rate"] == 0.3  # 0.5 loses 1.3 points: 0.7 being level again does not count
    assert prune_limits(cells_for("d2", 0.5, [0.8]), 0.5) == []  # no full row: nothing to compare with


def separable_dataset(num_rows=600, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, num_rows)
    embeddings = rng.normal(size=(num_rows, 12)).astype(np.float32)
    embeddings[:, :3] += 2.0 * np.eye(3, dtype=np.float32)[labels]
    return datasets.Dataset.from_dict({"label": labels.tolist(), "s": rng.random(num_rows).tolist(),
                                       "emb": embeddings.tolist()})


def test_rate_auto_prunes_at_the_rate_its_recorded_curve_supports_and_repeats_itself():
    dataset = separable_dataset()
    result = hf_d2.prune_with_scores(dataset, "auto", score_column="s", embedding_column="emb", max_drop=1.0)
    search = result.record.rate_search
    points = search["points"]
    assert [point["rate"] for point in points] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert search["chosen"] == result.record.rate == largest_safe_rate(
        [p["rate"] for p in points], [p["drop"] for p in points], 1.0)
    assert result.record.num_rows_after == round((1 - result.record.rate) * 600) == result.dataset.num_rows
    assert search["max_drop"] == 1.0 and 0.8 < search["full_accuracy"] <= 1.0 and len(points[0]["fold_drops"]) == 5
    again = hf_d2.prune_with_scores(dataset, "auto", score_column="s", embedding_column="emb", max_drop=1.0)
    assert again.record.kept_row_ids == result.record.kept_row_ids
    assert {k: v for k, v in again.record.rate_search.items() if k != "seconds"} == {
        k: v for k, v in search.items() if k != "seconds"}
    assert hf_d2.selection_record(result.dataset).rate_search["chosen"] == result.record.rate  # it travels with the data


def test_rate_auto_needs_labels():
    dataset = separable_dataset().remove_columns("label")
    with pytest.raises(ValueError, match="reads class labels .*rate auto"):
        hf_d2.prune_with_scores(dataset, "auto", score_column="s", embedding_column="emb")
