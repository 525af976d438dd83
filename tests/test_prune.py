"""Dataset.d2_prune / DatasetDict.d2_prune on the array-given path (no model)."""

import datasets
import numpy as np
import pytest

import hf_d2
from hf_d2.prune import ADDED_COLUMNS


@pytest.fixture
def labelled_dataset():
    rng = np.random.default_rng(0)
    num_rows = 120
    features = datasets.Features({
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["neg", "pos"]),
        "difficulty": datasets.Value("float32"),
        "emb": datasets.Sequence(datasets.Value("float32"), length=6),
    })
    return datasets.Dataset.from_dict(
        {
            "text": [f"example {i}" for i in range(num_rows)],
            "label": rng.integers(0, 2, num_rows).tolist(),
            "difficulty": rng.random(num_rows).astype(np.float32).tolist(),
            "emb": rng.normal(size=(num_rows, 6)).astype(np.float32).tolist(),
        },
        features=features,
        info=datasets.DatasetInfo(description="my notes", features=features),
    )


def arrays(dataset):
    return np.array(dataset["emb"], dtype=np.float32), np.array(dataset["difficulty"], dtype=np.float64)


def prune(dataset, rate=0.5, **kwargs):
    return dataset.d2_prune(rate=rate, score_column="difficulty", embedding_column="emb", **kwargs)


def test_keeps_the_d2_selection_in_original_order_with_original_features(labelled_dataset):
    embeddings, scores = arrays(labelled_dataset)
    pruned = prune(labelled_dataset, rate=0.75)
    expected = np.sort(hf_d2.d2_select(embeddings, scores, 30))
    assert pruned.num_rows == 30
    assert pruned.features == labelled_dataset.features
    assert pruned["text"] == [f"example {i}" for i in expected]
    assert pruned["text"] == sorted(pruned["text"], key=lambda t: int(t.split()[1]))


def test_add_columns_hold_difficulty_forward_score_rank_and_index(labelled_dataset):
    embeddings, scores = arrays(labelled_dataset)
    ranking = hf_d2.d2_rank(embeddings, scores, 60)
    pruned = prune(labelled_dataset, add_columns=True)
    original = np.array(pruned["d2_original_index"])
    np.testing.assert_array_equal(original, np.sort(ranking.order))
    np.testing.assert_array_equal(np.array(pruned["d2_pick_rank"]),
                                  [ranking.order.tolist().index(i) for i in original])
    np.testing.assert_allclose(pruned["d2_forward_score"], ranking.forward_scores[original])
    np.testing.assert_allclose(pruned["d2_difficulty"], scores[original])
    assert set(pruned.column_names) == set(labelled_dataset.column_names) | set(ADDED_COLUMNS)


def test_record_survives_save_to_disk_and_keeps_the_user_description(labelled_dataset, tmp_path):
    pruned = prune(labelled_dataset, rate=0.5, seed=3)
    pruned.save_to_disk(str(tmp_path / "out"))
    reloaded = datasets.load_from_disk(str(tmp_path / "out"))
    record = hf_d2.selection_record(reloaded)
    assert record.kept_row_ids == [int(t.split()[1]) for t in reloaded["text"]]
    assert record.method == "d2" and record.rate == 0.5 and record.seeds.selection == 3
    assert record.method_params["k"] == 5 and record.method_params["gamma_reverse"] == 0.1
    assert record.columns.score_direction == "higher = harder"
    assert record.num_rows_before == 120 and record.num_rows_after == 60
    assert sum(record.label_counts_before.values()) == 120
    assert record.label_counts_after == {
        name: reloaded["label"].count(i) for i, name in enumerate(["neg", "pos"])}
    assert record.source.fingerprint == labelled_dataset._fingerprint
    assert reloaded.info.description.startswith("my notes")
    assert labelled_dataset.info.description == "my notes"  # the source is not modified
    assert hf_d2.selection_record(labelled_dataset) is None


def test_same_inputs_give_the_same_rows_and_fingerprint(labelled_dataset):
    first, second = prune(labelled_dataset, method="random", seed=1), prune(labelled_dataset, method="random", seed=1)
    assert first["text"] == second["text"] and first._fingerprint == second._fingerprint
    other = prune(labelled_dataset, method="random", seed=2)
    assert other._fingerprint != first._fingerprint and other["text"] != first["text"]


def test_lower_is_harder_direction_equals_negated_scores(labelled_dataset):
    embeddings, scores = arrays(labelled_dataset)
    pruned = prune(labelled_dataset, score_direction="lower", method="hard")
    assert sorted(pruned["difficulty"]) == pytest.approx(sorted(np.sort(scores)[:60]))
    assert hf_d2.selection_record(pruned).columns.score_direction == "lower = harder"


def test_label_partition_meets_per_label_budgets(labelled_dataset):
    pruned = prune(labelled_dataset, rate=0.5, partition="label")
    before = np.bincount(labelled_dataset["label"])
    after = np.bincount(pruned["label"])
    np.testing.assert_array_equal(after, np.round(before / 2).astype(int))


def test_methods_without_a_graph_need_only_their_inputs(labelled_dataset):
    assert labelled_dataset.d2_prune(rate=0.5, method="random").num_rows == 60
    kept = labelled_dataset.d2_prune(rate=0.9, method="kcenter", embedding_column="emb")
    assert kept.num_rows == 12


def test_rate_zero_keeps_everything(labelled_dataset):
    assert prune(labelled_dataset, rate=0.0)["text"] == labelled_dataset["text"]


def test_dataset_dict_prunes_train_and_leaves_other_splits(labelled_dataset):
    dataset_dict = datasets.DatasetDict({"train": labelled_dataset, "validation": labelled_dataset.select(range(10))})
    pruned = dataset_dict.d2_prune(rate=0.5, score_column="difficulty", embedding_column="emb")
    assert pruned["train"].num_rows == 60
    assert pruned["validation"] is dataset_dict["validation"]
    both = dataset_dict.d2_prune(rate=0.5, splits=["train", "validation"], method="random")
    assert both["validation"].num_rows == 5


def test_dataset_dict_without_train_names_the_splits(labelled_dataset):
    dataset_dict = datasets.DatasetDict({"train_r1": labelled_dataset})
    with pytest.raises(ValueError, match="No 'train' split.*train_r1.*splits=\\[...\\]"):
        dataset_dict.d2_prune(rate=0.5, method="random")
    assert dataset_dict.d2_prune(rate=0.5, method="random", splits="train_r1")["train_r1"].num_rows == 60


@pytest.mark.parametrize("rate, message", [
    (1.0, "must be in \\[0, 1\\)"), (-0.1, "must be in \\[0, 1\\)"), ("half", "must be a number"),
    (float("nan"), "must be in \\[0, 1\\)"),
])
def test_bad_rate(labelled_dataset, rate, message):
    with pytest.raises(ValueError, match=message):
        prune(labelled_dataset, rate=rate)


def test_missing_column_lists_the_columns(labelled_dataset):
    with pytest.raises(ValueError, match="Column 'score' .* not in the dataset; its columns are: text, label"):
        labelled_dataset.d2_prune(rate=0.5, score_column="score", embedding_column="emb")


def test_full_pipeline_without_a_text_column_says_what_to_pass(labelled_dataset):
    numbers_only = labelled_dataset.remove_columns("text")
    with pytest.raises(ValueError, match="No text column found .* text_column=COLUMN"):
        numbers_only.d2_prune(rate=0.5, embedding_column="emb", difficulty_source="finetune")


def test_empty_dataset(labelled_dataset):
    with pytest.raises(ValueError, match="empty"):
        prune(labelled_dataset.select([]))


def test_nan_embeddings_name_the_rows(labelled_dataset):
    broken = labelled_dataset.map(lambda row, i: {"emb": [float("nan")] * 6 if i == 7 else row["emb"]}, with_indices=True)
    with pytest.raises(ValueError, match="NaN or inf in 1 row\\(s\\) \\(rows 7\\)"):
        prune(broken)


def test_ragged_embeddings(labelled_dataset):
    ragged = datasets.Dataset.from_dict({"difficulty": [0.1, 0.2, 0.3], "emb": [[1.0, 2.0], [1.0], [3.0, 4.0]]})
    with pytest.raises(ValueError, match="vectors of different lengths"):
        prune(ragged)


def test_k_not_below_n(labelled_dataset):
    with pytest.raises(ValueError, match="must be smaller than the number of examples"):
        prune(labelled_dataset.select(range(4)), k=5)


def test_unknown_method_parameter(labelled_dataset):
    with pytest.raises(ValueError, match="does not take the parameter"):
        prune(labelled_dataset, method="random", k=3)


def test_existing_added_column_is_not_overwritten(labelled_dataset):
    clashing = labelled_dataset.add_column("d2_pick_rank", list(range(120)))
    with pytest.raises(ValueError, match="already has a column 'd2_pick_rank'"):
        prune(clashing, add_columns=True)


def test_iterable_dataset_says_how_to_materialise(labelled_dataset):
    with pytest.raises(ValueError, match="materialise"):
        hf_d2.prune_dataset(labelled_dataset.to_iterable_dataset(), 0.5)


def test_scores_table_reselects_any_rate_for_prefix_consistent_methods(labelled_dataset):
    result = hf_d2.prune_with_scores(labelled_dataset, 0.5, score_column="difficulty", embedding_column="emb")
    table = result.scores
    assert table.num_rows == 120 and table.column_names == [  # no dynamics: no data map; a projection of the vectors
        "original_index", "difficulty", "forward_score", "pick_rank", "kept", "projection_x", "projection_y"]
    assert sorted(table["pick_rank"]) == list(range(120))  # every row ranked
    assert sum(table["kept"]) == 60 and result.record.ranks_all_rows is True
    for rate in (0.2, 0.9):
        budget = round((1 - rate) * 120)
        reselected = [i for i, rank in zip(table["original_index"], table["pick_rank"]) if rank < budget]
        at_rate = prune(labelled_dataset, rate=rate)
        assert reselected == [int(t.split()[1]) for t in at_rate["text"]]


def test_scores_table_of_a_partitioned_run_ranks_only_the_picks(labelled_dataset):
    result = hf_d2.prune_with_scores(labelled_dataset, 0.5, method="ccs", score_column="difficulty")
    ranks = np.array(result.scores["pick_rank"])
    assert (ranks >= 0).sum() == 60 and (ranks == -1).sum() == 60
    assert np.isnan(result.scores["forward_score"]).all()  # ccs has no graph
    assert result.record.ranks_all_rows is False and result.record.prefilter == 0.1


def test_shuffled_and_selected_datasets_read_their_own_rows(labelled_dataset):
    """select/shuffle leave an indices mapping over the original table: columns must follow it."""
    shuffled = labelled_dataset.shuffle(seed=4).select(range(90))
    embeddings, scores = arrays(shuffled)
    pruned = prune(shuffled, rate=0.5, add_columns=True)
    expected = np.sort(hf_d2.d2_select(embeddings, scores, 45))
    assert pruned["text"] == [shuffled[int(i)]["text"] for i in expected]
    np.testing.assert_allclose(pruned["d2_difficulty"], scores[expected])
    record = hf_d2.selection_record(pruned)
    assert sum(record.label_counts_before.values()) == 90
