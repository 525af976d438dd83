"""Difficulty scores on crafted trajectories, the dynamics table, labels and loading (no training)."""

from __future__ import annotations

import math

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet  # noqa: F401 - pa.parquet
import pytest
import torch
import torch.nn.functional as F

from hf_d2.cache import rows_hash
from hf_d2.data import encode_labels
from hf_d2.difficulty import (
    DEFAULT_SCORE,
    HIGHER_IS_HARDER,
    LOWER_IS_HARDER,
    SCORES,
    DynamicsArrays,
    difficulty_scores,
    dynamics_schema,
    raw_scores,
    scores_table,
)
from hf_d2.difficulty.dynamics import records_from_logits
from hf_d2.difficulty.recorder import epoch_order, shard_order


def table_from_probs(probs: np.ndarray, labels: np.ndarray, margins: np.ndarray | None = None) -> pa.Table:
    """A dynamics table for crafted (n, E, C) probabilities; rows shuffled on purpose."""
    n, num_epochs, num_labels = probs.shape
    rows = np.arange(n)
    records = []
    for epoch in range(num_epochs):
        p = probs[:, epoch, :]
        other = p.copy()
        other[rows, labels] = -1.0
        records.append(
            {
                "row_index": rows,
                "epoch": np.full(n, epoch, dtype=np.int32),
                "step": np.full(n, epoch, dtype=np.int64),
                "label": labels,
                "gold_prob": p[rows, labels].astype(np.float32),
                "pred_label": p.argmax(axis=1),
                "max_other_prob": other.max(axis=1).astype(np.float32),
                "logit_margin": (margins[:, epoch] if margins is not None else np.zeros(n)).astype(np.float32),
                "loss": (-np.log(p[rows, labels])).astype(np.float32),
                "probs": p.astype(np.float32),
            }
        )
    merged = {k: np.concatenate([r[k] for r in records]) for k in records[0]}
    order = np.random.default_rng(0).permutation(n * num_epochs)
    schema = dynamics_schema(num_labels)
    arrays = [pa.array(merged[f.name][order], type=f.type) for f in schema if f.name != "probs"]
    arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(merged["probs"][order].reshape(-1)), num_labels))
    return pa.Table.from_arrays(arrays, schema=schema)


def binary(gold: list[list[float]]) -> np.ndarray:
    """(n, E, 2) probabilities with label 0 having probability ``gold``."""
    gold_array = np.asarray(gold, dtype=np.float64)
    return np.stack([gold_array, 1.0 - gold_array], axis=2)


# Three binary examples, label 0, three epochs (values exact in float32):
#   0: right -> wrong -> right   1: never right   2: always right
CRAFTED = binary([[0.75, 0.25, 0.75], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])
CRAFTED_LABELS = np.zeros(3, dtype=np.int64)
CRAFTED_MARGINS = np.array([[2.0, -1.0, 2.0], [-1.0, -2.0, -3.0], [1.0, 1.0, 1.0]])


@pytest.fixture()
def crafted() -> pa.Table:
    return table_from_probs(CRAFTED, CRAFTED_LABELS, CRAFTED_MARGINS)


def test_pivot_orders_rows_and_epochs(crafted):
    arrays = DynamicsArrays.from_table(crafted)
    assert arrays.row_index.tolist() == [0, 1, 2]
    assert arrays.num_epochs == 3
    np.testing.assert_array_equal(arrays.gold_prob, CRAFTED[:, :, 0])
    assert arrays.correct.tolist() == [[True, False, True], [False, False, False], [True, True, True]]


def test_correctness_and_forgetting_by_hand(crafted):
    np.testing.assert_array_equal(raw_scores(crafted, "correctness"), [2.0, 0.0, 3.0])
    np.testing.assert_array_equal(difficulty_scores(crafted, "correctness"), [1.0, 3.0, 0.0])
    np.testing.assert_array_equal(raw_scores(crafted, "forgetting"), [1.0, 0.0, 0.0])
    # Toneva: a never-learned example counts as E = 3, above any attainable count.
    np.testing.assert_array_equal(raw_scores(crafted, "forgetting", never_learned="max"), [1.0, 3.0, 0.0])


def test_confidence_and_variability_by_hand(crafted):
    np.testing.assert_allclose(raw_scores(crafted, "confidence"), [7 / 12, 0.25, 0.75], rtol=1e-12)
    np.testing.assert_allclose(difficulty_scores(crafted, "confidence"), [5 / 12, 0.75, 0.25], rtol=1e-12)
    np.testing.assert_allclose(raw_scores(crafted, "variability"), [math.sqrt(1 / 18), 0.0, 0.0], atol=1e-15)
    assert DEFAULT_SCORE == "variability"
    np.testing.assert_array_equal(difficulty_scores(crafted), raw_scores(crafted, "variability"))


def test_aum_sign_ranks_consistently_wrong_hardest(crafted):
    aum = raw_scores(crafted, "aum")
    np.testing.assert_allclose(aum, [0.5 - 0.5 + 0.5, -1.5, 1.5], rtol=1e-12)
    hardness = difficulty_scores(crafted, "aum")
    np.testing.assert_array_equal(hardness, -aum)
    assert hardness[1] > hardness[0] > hardness[2]  # never right > flip-flopping > always right
    np.testing.assert_allclose(raw_scores(crafted, "aum_logit"), [1.0, -2.0, 1.0], rtol=1e-7)
    assert np.argmax(difficulty_scores(crafted, "aum_logit")) == 1


def test_aum_uses_largest_other_class_with_three_classes():
    probs = np.array([[[0.5, 0.25, 0.25]], [[0.125, 0.75, 0.125]]])
    table = table_from_probs(probs, np.array([1, 1]))
    np.testing.assert_allclose(raw_scores(table, "aum"), [0.25 - 0.5, 0.75 - 0.125])
    np.testing.assert_array_equal(raw_scores(table, "correctness"), [0.0, 1.0])


def test_el2n_entropy_loss_by_hand(crafted):
    # Two classes: ||p - onehot(y)|| = sqrt(2) (1 - p_y); default early epochs = ceil(3 / 2) = 2.
    expected_el2n = math.sqrt(2) * np.array([(0.25 + 0.75) / 2, 0.75, 0.25])
    np.testing.assert_allclose(raw_scores(crafted, "el2n"), expected_el2n, rtol=1e-12)
    np.testing.assert_allclose(raw_scores(crafted, "el2n", early_epochs=1), math.sqrt(2) * np.array([0.25, 0.75, 0.25]))
    with pytest.raises(ValueError, match="early_epochs"):
        raw_scores(crafted, "el2n", early_epochs=4)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    np.testing.assert_allclose(raw_scores(crafted, "entropy"), [entropy] * 3, rtol=1e-12)
    np.testing.assert_allclose(raw_scores(crafted, "loss"), [-math.log(0.75), -math.log(0.25), -math.log(0.75)], rtol=1e-6)


def test_entropy_of_a_one_hot_prediction_is_zero():
    table = table_from_probs(np.array([[[1.0, 0.0]]]), np.array([0]))
    assert raw_scores(table, "entropy").tolist() == [0.0]


def test_registry_entries_have_direction_definition_and_orientation(crafted):
    assert set(SCORES) == {
        "confidence", "variability", "correctness", "forgetting", "aum", "aum_logit", "el2n", "entropy", "loss"
    }
    arrays = DynamicsArrays.from_table(crafted)
    for name, score in SCORES.items():
        assert score.direction in (HIGHER_IS_HARDER, LOWER_IS_HARDER)
        assert len(score.description) > 40, name
        raw, hard = raw_scores(arrays, name), difficulty_scores(arrays, name)
        assert raw.dtype == np.float64 and raw.shape == (3,)
        # Orientation preserves (higher = harder) or reverses (lower = harder) the order.
        sign = 1.0 if score.direction == HIGHER_IS_HARDER else -1.0
        assert np.all(np.sign(np.subtract.outer(hard, hard)) == np.sign(sign * np.subtract.outer(raw, raw)))
    table = scores_table(arrays)
    assert table.column_names[0] == "row_index"
    assert table.num_columns == 1 + 2 * len(SCORES)
    np.testing.assert_array_equal(table["aum_hardness"].to_numpy(), difficulty_scores(arrays, "aum"))


def test_unknown_score_is_refused_with_the_options(crafted):
    with pytest.raises(ValueError, match="'score' parameter must be one of .*'variability'"):
        difficulty_scores(crafted, "hardness")


def test_table_with_a_missing_or_duplicated_epoch_is_refused(crafted):
    with pytest.raises(ValueError, match="exactly once per epoch"):
        DynamicsArrays.from_table(crafted.slice(1))
    with pytest.raises(ValueError, match="exactly once per epoch"):
        DynamicsArrays.from_table(pa.concat_tables([crafted, crafted.slice(0, 1)]))


def test_a_label_that_changes_between_epochs_is_refused_in_one_batch_or_several(crafted, tmp_path):
    labels = crafted.column("label").to_numpy().copy()
    first_epoch_row = np.flatnonzero(crafted.column("epoch").to_numpy() == 0)[0]
    labels[first_epoch_row] = (labels[first_epoch_row] + 1) % 2
    field = crafted.schema.field("label")
    flipped = crafted.set_column(crafted.schema.get_field_index("label"), "label", pa.array(labels, field.type))
    with pytest.raises(ValueError, match="different labels in different epochs"):
        DynamicsArrays.from_table(flipped)  # the whole table is one batch
    path = tmp_path / "dynamics.parquet"
    pa.parquet.write_table(flipped, path)
    for batch_rows in (2, 1_000):
        with pytest.raises(ValueError, match="different labels in different epochs"):
            DynamicsArrays.from_parquet(path, batch_rows=batch_rows)


def test_records_from_logits_match_torch():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    labels = np.array([0, 1, 2])
    records = records_from_logits(logits, labels)
    torch_logits, torch_labels = torch.from_numpy(logits).double(), torch.from_numpy(labels)
    probs = torch.softmax(torch_logits, dim=1).numpy()
    np.testing.assert_allclose(records["probs"], probs, rtol=1e-6)
    np.testing.assert_allclose(records["gold_prob"], probs[[0, 1, 2], labels], rtol=1e-6)
    np.testing.assert_allclose(
        records["loss"], F.cross_entropy(torch_logits, torch_labels, reduction="none").numpy(), rtol=1e-6
    )
    assert records["pred_label"].tolist() == [0, 2, 0]  # ties go to the lowest class id
    np.testing.assert_allclose(records["logit_margin"], [1.5, -3.0, 0.0])
    np.testing.assert_allclose(records["max_other_prob"], [probs[0, 2], probs[1, 2], probs[2, 0]], rtol=1e-6)


def test_epoch_order_is_a_function_of_seed_and_epoch_and_shards_cover_rows_once():
    np.testing.assert_array_equal(epoch_order(11, seed=3, epoch=1), epoch_order(11, seed=3, epoch=1))
    assert not np.array_equal(epoch_order(11, seed=3, epoch=1), epoch_order(11, seed=3, epoch=2))
    order = epoch_order(11, seed=0, epoch=0)
    shards = [shard_order(order, 2, rank) for rank in (0, 1)]
    assert [len(positions) for positions, _ in shards] == [6, 6]
    real = np.concatenate([positions[~padding] for positions, padding in shards])
    assert sorted(real.tolist()) == list(range(11))
    assert sum(int(padding.sum()) for _, padding in shards) == 1


# ------------------------------------------------------------------------------ labels, input


def test_labels_class_label_ints_strings_and_floats():
    class_labels = datasets.Dataset.from_dict(
        {"label": [1, 0, 2]}, features=datasets.Features({"label": datasets.ClassLabel(names=["a", "b", "c"])})
    )
    encoded = encode_labels(class_labels, "label")
    assert encoded.ids.tolist() == [1, 0, 2] and encoded.names == ["a", "b", "c"]
    strings = encode_labels(datasets.Dataset.from_dict({"y": ["pos", "neg", "pos"]}), "y")
    assert strings.ids.tolist() == [1, 0, 1] and strings.names == ["neg", "pos"]
    ints = encode_labels(datasets.Dataset.from_dict({"y": [0, 3, 1]}), "y")
    assert ints.names == ["0", "1", "3"] and ints.ids.tolist() == [0, 2, 1]  # the classes present, no empty class 2
    with pytest.raises(ValueError, match="regression target.*bin it into integer classes"):
        encode_labels(datasets.Dataset.from_dict({"y": [0.5, 1.5]}), "y")
    with pytest.raises(ValueError, match="negative labels"):
        encode_labels(datasets.Dataset.from_dict({"y": [0, -1]}), "y")
    with pytest.raises(ValueError, match="at least 2"):
        encode_labels(datasets.Dataset.from_dict({"y": [0, 0]}), "y")


def test_content_hash_is_the_same_however_the_rows_are_stored():
    one = datasets.Dataset.from_dict({"a": [f"row {i}" for i in range(9)]})
    three = datasets.concatenate_datasets([one.select(range(0, 3)), one.select(range(3, 7)), one.select(range(7, 9))])
    assert three.data.column("a").num_chunks == 3
    assert rows_hash(one, ["a"]) == rows_hash(three, ["a"]) == rows_hash(one.select(range(9)), ["a"])


def test_content_hash_depends_on_texts_pairs_and_labels():
    ds = datasets.Dataset.from_dict({"a": ["x", "y"], "b": ["u", "v"]})
    base = rows_hash(ds, ["a"], np.array([0, 1]))
    assert base == rows_hash(ds, ["a"], np.array([0, 1]))
    assert base != rows_hash(ds, ["a"], np.array([1, 0]))
    assert base != rows_hash(ds, ["a", "b"], np.array([0, 1]))
    assert base != rows_hash(ds, ["b"], np.array([0, 1]))


def test_cli_refuses_non_empty_output_and_float_labels(tmp_path, capsys):
    from hf_d2.cli.main import main

    data = tmp_path / "data.csv"
    datasets.Dataset.from_dict({"text": ["a", "b"], "score": [0.5, 1.5]}).to_csv(str(data))
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("x")
    code = main(["score", str(data), "--text-column", "text", "--label-column", "score", "--output", str(output)])
    assert code == 2
    assert "holds files hf-d2 did not write" in capsys.readouterr().err
    code = main(["score", str(data), "--text-column", "text", "--label-column", "score",
                 "--output", str(tmp_path / "fresh"), "--model", "bundled-minilm"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("hf-d2 score: error:")]
    assert code == 2 and len(errors) == 1 and "regression target" in errors[0]
    assert "Traceback" not in err
