"""Duplicates count once, and the reverse pass stays diverse once scores would go negative
(docs/method.md §4 "saturation" and §5 "duplicates")."""

import numpy as np
import pytest

from hf_d2 import KnnGraph, d2_select, knn_graph
from hf_d2.message_passing import reverse_pass
from hf_d2.selection import select
from hf_d2.selection.duplicates import exact_groups, near_groups


def unit_rows(count, dim=32, seed=0):
    rows = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def three_copies(noise=0.0, seed=0):
    """300 distinct unit vectors, each three times (rows i, i + 300, i + 600); the third copy
    moved by ``noise`` (a near duplicate) when noise > 0. Scores repeat with the rows."""
    base = unit_rows(300, seed=seed)
    third = base
    if noise:
        third = base + noise * np.random.default_rng(seed + 1).normal(size=base.shape).astype(np.float32)
        third /= np.linalg.norm(third, axis=1, keepdims=True)
    scores = np.random.default_rng(seed + 2).random(300)
    return np.concatenate([base, base, third]), np.concatenate([scores] * 3)


def test_exact_groups_join_identical_rows_and_number_groups_by_first_row():
    rows = unit_rows(4)
    embeddings = rows[[2, 0, 2, 1, 0, 3, 3]]
    np.testing.assert_array_equal(exact_groups(embeddings), [0, 1, 0, 2, 1, 3, 3])
    almost = embeddings.copy()
    almost[2, 0] = np.nextafter(almost[2, 0], np.float32(2))  # one ulp apart: not identical
    np.testing.assert_array_equal(exact_groups(almost), [0, 1, 2, 3, 1, 4, 4])


def test_near_groups_are_stars_around_their_first_row_not_chains():
    angles = np.array([0.0, 0.2, 0.4, 3.0])  # neighbours at 0.2 rad (cosine 0.980); 0 and 2 are 0.4 apart (0.921)
    embeddings = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    np.testing.assert_array_equal(near_groups(embeddings, threshold=0.95), [0, 0, 1, 2])


def test_the_adaptive_threshold_joins_light_copies_but_not_ordinary_neighbours():
    embeddings, _ = three_copies(noise=0.02)
    groups = near_groups(embeddings)
    assert groups.max() + 1 == 300  # every row with its two copies, and no two originals together
    np.testing.assert_array_equal(groups[:300], np.arange(300))
    np.testing.assert_array_equal(groups[600:], groups[:300])
    np.testing.assert_array_equal(near_groups(embeddings[:300]), np.arange(300))  # no copies: no groups


@pytest.mark.parametrize("mode,noise", [("exact", 0.0), ("near", 0.0), ("near", 0.02)])
def test_select_keeps_only_distinct_rows_while_the_budget_allows(mode, noise):
    embeddings, scores = three_copies(noise=noise)
    details = select("d2", 270, scores=scores, embeddings=embeddings, duplicates=mode, return_details=True)
    assert np.unique(details.order % 300).size == 270
    assert details.duplicates == {"mode": mode, "threshold": None, "groups": 300, "duplicate_rows": 600, "dropped": 600}
    more = select("d2", 450, scores=scores, embeddings=embeddings, duplicates=mode, return_details=True)
    assert np.unique(more.order[:300] % 300).size == 300  # every distinct row before any second copy
    assert more.duplicates["dropped"] == 450 and np.unique(more.order).size == 450
    np.testing.assert_array_equal(more.order[:270], details.order)  # one ranking: prefix-consistent


def test_without_duplicate_handling_the_reference_keeps_copies():
    embeddings, scores = three_copies()
    order = select("d2", 270, scores=scores, embeddings=embeddings)
    assert np.unique(order % 300).size < 200  # the reference behaviour (docs/method.md §4)


def test_the_reference_pass_picks_a_twin_that_the_relative_pass_leaves_last():
    # node 0 and its exact twin 1 (distance 0); nodes 2-4 at distance 1 from both, lower scores
    ids = np.array([[1, 2, 3, 4], [0, 2, 3, 4], [0, 1, -1, -1], [0, 1, -1, -1], [0, 1, -1, -1]])
    distances = np.array([[0, 1, 1, 1], [0, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=np.float32)
    graph = KnnGraph.from_neighbors(ids, distances)
    scores = np.array([1.0, 1.0, 0.5, 0.4, 0.3])
    reference = reverse_pass(graph, scores, 5, gamma=0.1)
    assert reference.order.tolist()[:2] == [0, 1]  # the twin sits at 1 − 1 = 0, above 0.5 − 0.905 < 0
    relative = reverse_pass(graph, scores, 5, gamma=0.1, mode="relative")
    assert relative.order.tolist() == [0, 2, 3, 4, 1]  # the twin drops to 0 and goes last
    np.testing.assert_allclose(relative.final_scores[[0, 2]], [1.0, 0.5 * (1 - np.exp(-0.1))])
    again = reverse_pass(graph, scores, 5, gamma=0.1, mode="relative")
    np.testing.assert_array_equal(again.order, relative.order)
    np.testing.assert_array_equal(reverse_pass(graph, scores, 3, gamma=0.1, mode="relative").order, relative.order[:3])


def test_the_relative_pass_shifts_negative_scores_and_reports_them_unshifted():
    graph = KnnGraph.from_neighbors(np.array([[1], [0], [1]]), np.array([[0.5], [0.5], [0.2]], dtype=np.float32))
    result = reverse_pass(graph, np.array([-1.0, -2.0, -3.0]), 3, mode="relative")
    assert result.order.tolist() == [0, 1, 2]
    assert result.final_scores[0] == -1.0 and result.final_scores[2] == -3.0


def test_relative_d2_keeps_distinct_rows_on_copies():
    embeddings, scores = three_copies()
    order = d2_select(embeddings, scores, 270, reverse="relative")
    assert np.unique(order % 300).size == 270


def test_a_subgraph_keeps_the_edges_between_its_rows():
    embeddings = unit_rows(60, dim=8)
    graph = knn_graph(embeddings, k=5)
    rows = np.arange(0, 60, 3)
    sub = graph.subgraph(rows)
    local = {int(row): position for position, row in enumerate(rows)}
    for position, row in enumerate(rows):
        neighbours, distances = graph.neighbors(int(row))
        keep = [(local[int(n)], d) for n, d in zip(neighbours, distances) if int(n) in local]
        got_ids, got_distances = sub.neighbors(position)
        assert got_ids.tolist() == [n for n, _ in keep]
        assert got_distances.tolist() == [d for _, d in keep]
    assert graph.subgraph(np.arange(60)) is graph


def test_select_on_a_given_graph_is_select_on_the_embeddings_that_built_it():
    embeddings = unit_rows(200, dim=16)
    scores = np.random.default_rng(4).random(200)
    labels = np.arange(200) % 3
    graph = knn_graph(embeddings, k=5)
    np.testing.assert_array_equal(select("d2", 80, scores=scores, graph=graph),
                                  select("d2", 80, scores=scores, embeddings=embeddings))
    by_label = select("d2", 80, scores=scores, graph=graph, labels=labels, partition="label")
    assert np.bincount(labels[by_label]).tolist() == [27, 27, 26]


def test_duplicates_need_embeddings_or_a_graph():
    with pytest.raises(ValueError, match="duplicates='near' compares the rows' embeddings"):
        select("random", 3, num_rows=10, duplicates="near")


def tripled_reviews(count=100):
    """``count`` distinct Rotten Tomatoes reviews (bundled), each three times, labels kept."""
    import datasets

    from hf_d2.data.names import resolve_dataset

    source = resolve_dataset("rotten_tomatoes").dataset.shuffle(seed=0).select(range(count))
    return datasets.concatenate_datasets([source, source, source])


@pytest.mark.parametrize("rate, distinct", [(0.7, 90), (0.5, 100)])
def test_the_pipeline_default_keeps_one_copy_before_any_second(tmp_path, rate, distinct):
    """The default pipeline (difficulty from the head, MiniLM embeddings) on 100 reviews x 3: the
    coreset holds as many distinct texts as it can, and says what it dropped as duplicates."""
    import hf_d2

    result = hf_d2.prune_with_scores(tripled_reviews(), rate, cache_dir=str(tmp_path / "cache"))
    texts = result.dataset["text"]
    assert len(texts) == round(300 * (1 - rate)) and len(set(texts)) == distinct
    assert result.record.duplicates["mode"] == "near" and result.record.duplicates["duplicate_rows"] >= 200
    assert result.record.method_params["reverse"] == "relative" and result.record.partition == "label"
    again = hf_d2.prune_with_scores(tripled_reviews(), rate, cache_dir=str(tmp_path / "cache"))
    assert again.record.kept_row_ids == result.record.kept_row_ids  # same inputs and seed, same coreset


def test_the_reference_reverse_pass_is_still_there_when_asked_for(tmp_path):
    """reverse='weighted' given explicitly is honoured by the pipeline and kept in the record's
    options (so a reproduce command does not fall back to the pipeline's 'relative')."""
    import hf_d2

    result = hf_d2.prune_with_scores(tripled_reviews(), 0.7, cache_dir=str(tmp_path / "cache"), reverse="weighted",
                                     duplicates="none")
    assert result.record.method_params["reverse"] == "weighted" and result.record.options["reverse"] == "weighted"
    assert len(set(result.dataset["text"])) < 90  # without duplicate groups, copies come back
