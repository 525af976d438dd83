"""Dataset resolution (bundled, local, Hub names), column inference and label checks."""

import logging

import datasets
import pytest

from hf_d2.data import (
    encode_labels,
    infer_columns,
    load_local_dataset,
    resolve_dataset,
    split_name_and_config,
)


def test_bundled_rotten_tomatoes_offline(caplog):
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        resolved = resolve_dataset("rotten_tomatoes")
    dataset = resolved.dataset
    assert dataset.num_rows == 8530
    assert dataset.features["label"] == datasets.ClassLabel(names=["neg", "pos"])
    assert dataset[0]["text"].startswith("the rock is destined")
    assert resolved.source["kind"] == "bundled"
    assert resolved.source["repo_id"] == "cornell-movie-review-data/rotten_tomatoes"
    assert "bundled offline copy of rotten_tomatoes" in caplog.text


def test_bundled_imdb_by_hub_id():
    dataset = resolve_dataset("stanfordnlp/imdb").dataset
    assert dataset.num_rows == 25000 and sorted(set(dataset["label"])) == [0, 1]


def test_bundled_copy_has_only_train():
    with pytest.raises(ValueError, match="only the train split; drop --split test"):
        resolve_dataset("imdb", split="test")


def test_unknown_name_suggests_the_right_ids():
    with pytest.raises(ValueError) as error:
        resolve_dataset("someone/glue-anli")
    message = str(error.value)
    assert "Did you mean: " in message and "ANLI is facebook/anli (splits train_r1..train_r3" in message
    assert "GLUE is nyu-mll/glue with configs cola, sst2" in message
    assert "\n" not in message


def test_an_alias_states_what_it_resolved_to_without_a_did_you_mean(caplog):
    with caplog.at_level(logging.INFO, logger="hf_d2"), pytest.raises(ValueError) as error:
        resolve_dataset("glue/anli")
    assert "Cannot load 'glue/anli' (facebook/anli, split train_r3):" in str(error.value)
    assert "Did you mean" not in str(error.value)
    assert "Resolved: 'glue/anli' is facebook/anli; split train_r3, as in the D2 paper (split picks another)." in caplog.text


def test_no_did_you_mean_that_repeats_what_was_typed():
    with pytest.raises(ValueError) as error:
        resolve_dataset("facebook/anli", split="train_r3")
    assert "Cannot load 'facebook/anli'" in str(error.value) and "Did you mean" not in str(error.value)


def test_not_bundled_offline_says_what_is():
    with pytest.raises(ValueError, match="not bundled and offline mode was asked for; bundled copies: rotten_tomatoes, imdb"):
        resolve_dataset("facebook/anli", offline=True)


def test_repo_config_syntax():
    assert split_name_and_config("nyu-mll/glue:rte", None) == ("nyu-mll/glue", "rte")
    assert split_name_and_config("facebook/anli", None) == ("facebook/anli", None)
    with pytest.raises(ValueError, match="names config 'rte' but --config is 'mnli'"):
        split_name_and_config("nyu-mll/glue:rte", "mnli")


def test_local_dataset_dict_folder_picks_split(tmp_path):
    base = datasets.Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [0, 1]})
    datasets.DatasetDict({"train_r1": base, "dev_r1": base.select([0])}).save_to_disk(str(tmp_path / "anli"))
    with pytest.raises(ValueError, match="has splits train_r1, dev_r1; pick one with --split"):
        resolve_dataset(str(tmp_path / "anli"))
    resolved = resolve_dataset(str(tmp_path / "anli"), split="dev_r1")
    assert resolved.dataset.num_rows == 1 and resolved.source["kind"] == "local"
    with pytest.raises(ValueError, match="no split 'train'"):
        resolve_dataset(str(tmp_path / "anli"), split="train")


def test_infers_text_pairs_and_single_texts():
    pairs = datasets.Dataset.from_dict({"premise": ["a"], "hypothesis": ["b"], "label": [1], "uid": ["x"]})
    columns = infer_columns(pairs)
    assert (columns.text, columns.text_pair, columns.label) == ("premise", "hypothesis", "label")
    single = datasets.Dataset.from_dict({"review_body": ["x"], "stars": [1]})
    assert infer_columns(single, label_column="stars").text == "review_body"


def test_ambiguous_text_columns_need_a_flag():
    ambiguous = datasets.Dataset.from_dict({"title": ["a"], "body": ["b"], "label": [0]})
    with pytest.raises(ValueError, match="Ambiguous text columns: title, body .* text_column=COLUMN"):
        infer_columns(ambiguous)
    assert infer_columns(ambiguous, text_column="body").text == "body"


def test_missing_label_column():
    with pytest.raises(ValueError, match="No label column found .* label_column=COLUMN"):
        infer_columns(datasets.Dataset.from_dict({"text": ["a"], "score": [0.5]}))
    with pytest.raises(ValueError, match="Column 'gold' .* not in the dataset"):
        infer_columns(datasets.Dataset.from_dict({"text": ["a"], "label": [0]}), label_column="gold")


def test_labels_strings_become_sorted_classes():
    encoded = encode_labels(datasets.Dataset.from_dict({"text": ["a", "b", "c"], "y": ["pos", "neg", "pos"]}), "y")
    assert encoded.names == ["neg", "pos"] and encoded.ids.tolist() == [1, 0, 1]


def test_labels_of_a_selected_dataset_follow_its_rows():
    dataset = datasets.Dataset.from_dict({"text": list("abcd"), "y": [0, 1, 1, 0]}).select([2, 0])
    assert encode_labels(dataset, "y").ids.tolist() == [1, 0]


def test_float_label_is_refused():
    with pytest.raises(ValueError, match="holds numbers that are not whole \\(e.g. 0.7\\): a regression target"):
        encode_labels(datasets.Dataset.from_dict({"text": ["a"], "y": [0.7]}), "y")


def test_unlabelled_rows_are_refused_with_the_filter_to_use():
    with pytest.raises(ValueError, match="negative labels \\(-1, e.g. unlabelled test rows\\); drop those rows"):
        encode_labels(datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, -1]}), "label")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", "_saved"])
def test_load_local_dataset_formats(tmp_path, suffix):
    ds = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]})
    path = tmp_path / f"data{suffix}"
    {".csv": ds.to_csv, ".jsonl": ds.to_json, ".parquet": ds.to_parquet, "_saved": ds.save_to_disk}[suffix](str(path))
    loaded = load_local_dataset(str(path))
    assert loaded["text"] == ["a", "b", "c"] and loaded["label"] == [0, 1, 0]


def test_load_local_dataset_refuses_unknown_file_type(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    with pytest.raises(ValueError, match="expected a save_to_disk folder or .csv/.tsv/.json/.jsonl/.parquet files"):
        load_local_dataset(str(path))


def test_integer_labels_are_the_classes_present():
    """Labels 1..4 are four classes named 1..4, not five with an empty class 0."""
    encoded = encode_labels(datasets.Dataset.from_dict({"y": [1, 2, 3, 4, 4, 1]}), "y")
    assert encoded.names == ["1", "2", "3", "4"] and encoded.ids.tolist() == [0, 1, 2, 3, 3, 0]


def test_integer_valued_float_labels_are_classes():
    """0.0..3.0, as pandas writes integer labels, are classes 0..3."""
    encoded = encode_labels(datasets.Dataset.from_dict({"y": [0.0, 1.0, 3.0, 2.0, 1.0]}), "y")
    assert encoded.names == ["0", "1", "2", "3"] and encoded.ids.tolist() == [0, 1, 3, 2, 1]


def test_a_column_of_mostly_single_row_classes_is_not_labels():
    rows = datasets.Dataset.from_dict({"text": [f"sentence number {i}" for i in range(40)],
                                       "id": list(range(40)), "label": [0, 1] * 20})
    for column in ("text", "id"):
        with pytest.raises(ValueError, match=f"Column '{column}' cannot be class labels: it has 40 classes in 40 rows, "
                                             "40 of them a single row.*label_free.*allow_many_classes"):
            encode_labels(rows, column)
        assert encode_labels(rows, column, allow_many_classes=True).num_labels == 40  # the explicit escape
    mostly = datasets.Dataset.from_dict({"y": [0] * 20 + list(range(1, 15))})  # 15 classes, 14 of them one row
    with pytest.raises(ValueError, match="cannot be class labels"):
        encode_labels(mostly, "y")
    assert encode_labels(datasets.Dataset.from_dict({"y": list(range(12)) * 3}), "y").num_labels == 12
