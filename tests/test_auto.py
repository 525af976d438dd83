"""method="auto": inner cross-validation on the pool chooses the candidate that trains the better
classifier, only when it beats random by more than the inner noise, records every candidate's
inner score, and is deterministic."""

import numpy as np
import pytest

from hf_d2.coreset import SelectionArrays
from hf_d2.selection import select
from hf_d2.selection.auto import AUTO_CANDIDATES, AUTO_FOLDS, Candidate, choose_settings
from hf_d2.selection.d2_params import D2Params
from hf_d2.selection.inner import ridge_accuracy, stratified_folds, stratified_sample


def lopsided_pool(seed=0):
    """Two well separated classes; every row of class 1 is scored harder than every row of
    class 0, so an unpartitioned D2 at 90% pruning keeps (almost) only class 1, while D2 inside
    each class keeps both."""
    rng = np.random.default_rng(seed)
    labels = np.arange(300) % 2
    embeddings = (rng.normal(size=(300, 8)) + np.where(labels[:, None] == 1, 1.5, -1.5)).astype(np.float32)
    scores = labels * 10.0 + rng.random(300)
    return SelectionArrays(scores=scores, embeddings=embeddings, labels=labels, prefilter_scores=-scores)


def poisoned_pool(seed=2, flipped_share=0.3):
    """Two classes 4 apart on one axis; ``flipped_share`` of the labels flipped, and those rows
    scored hardest by the pre-filter score: a candidate that drops that share first trains on clean
    labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(400) % 2
    embeddings = rng.normal(size=(400, 8))
    embeddings[:, 0] += np.where(labels == 1, 2.0, -2.0)
    flipped = rng.random(400) < flipped_share
    return SelectionArrays(scores=rng.random(400), embeddings=embeddings.astype(np.float32),
                           labels=np.where(flipped, 1 - labels, labels), prefilter_scores=flipped * 10.0 + rng.random(400))


CANDIDATES = (Candidate("d2", "d2"), Candidate("d2-b0.3", "d2", prefilter=0.3))
PARAMS = D2Params()


def test_auto_picks_the_clearly_better_candidate_and_records_why():
    settings, record = choose_settings(poisoned_pool(), rate=0.7, params=PARAMS, seed=0, candidates=CANDIDATES)
    assert settings.prefilter == 0.3 and record["chosen"] == "d2-b0.3"
    scores = {c["name"]: c for c in record["candidates"]}
    assert list(scores) == ["d2", "d2-b0.3", "random"]  # random is always measured
    assert scores["d2-b0.3"]["gain"] > 0.04 > 2 * scores["d2-b0.3"]["noise"]
    assert scores["d2-b0.3"]["eligible"] and scores["d2-b0.3"]["score"] > scores["d2"]["score"] + 0.02
    assert len(scores["d2-b0.3"]["fold_scores"]) == record["folds"] == AUTO_FOLDS


def test_auto_does_not_pick_a_candidate_that_merely_ties_random():
    arrays = lopsided_pool()  # well separated: every coreset that keeps both classes is perfect
    unpartitioned = select("d2", 30, scores=arrays.scores, embeddings=arrays.embeddings, labels=arrays.labels)
    assert np.bincount(arrays.labels[unpartitioned], minlength=2)[0] < 5  # unpartitioned D2 starves class 0
    settings, record = choose_settings(arrays, rate=0.9, params=PARAMS, seed=0, candidates=(
        Candidate("d2-unpartitioned", "d2"), Candidate("d2-by-label", "d2", partition="label")))
    scores = {c["name"]: c for c in record["candidates"]}
    assert scores["d2-by-label"]["score"] > 0.95 > 0.7 > scores["d2-unpartitioned"]["score"]
    assert record["chosen"] == "random" and settings.method == "random"  # by-label only ties random


def test_auto_gives_the_same_choice_twice_and_ties_go_to_the_earlier_eligible_candidate():
    arrays = poisoned_pool(seed=3, flipped_share=0.15)
    first = choose_settings(arrays, rate=0.7, params=PARAMS, seed=3)
    again = choose_settings(arrays, rate=0.7, params=PARAMS, seed=3)
    assert first[1] == {**again[1], "seconds": first[1]["seconds"]} and first[0] == again[0]
    assert [c["name"] for c in first[1]["candidates"]] == [c.name for c in AUTO_CANDIDATES]
    eligible = [c for c in first[1]["candidates"] if c["eligible"]]
    assert eligible  # dropping the flipped rows first beats random here
    best = max(c["score"] for c in eligible)
    earliest_tie = next(c["name"] for c in eligible if c["score"] >= best - first[1]["tie_margin"])
    assert first[1]["chosen"] == earliest_tie


def test_auto_falls_back_to_random_when_no_candidate_beats_it():
    rng = np.random.default_rng(7)  # labels unrelated to everything a candidate reads: no coreset can help
    arrays = SelectionArrays(scores=rng.random(400), embeddings=rng.normal(size=(400, 8)).astype(np.float32),
                             labels=rng.integers(0, 2, 400), prefilter_scores=rng.random(400))
    settings, record = choose_settings(arrays, rate=0.5, params=PARAMS, seed=0)
    assert record["chosen"] == "random" and settings.method == "random" and settings.prefilter == 0
    assert not any(c["eligible"] for c in record["candidates"])
    gains = {c["name"]: c["gain"] for c in record["candidates"]}
    assert gains["random"] == 0 and all(c["gain"] <= max(record["tie_margin"], record["noise_sigmas"] * c["noise"])
                                        for c in record["candidates"])


def test_auto_needs_labels_and_embeddings():
    arrays = lopsided_pool()
    with pytest.raises(ValueError, match="needs embeddings and class labels"):
        choose_settings(SelectionArrays(arrays.scores, arrays.embeddings, None), rate=0.5, params=PARAMS, seed=0)


def test_the_inner_ridge_classifier_learns_a_linear_rule():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 5)).astype(np.float32)
    labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype(np.int64) + 2 * (features[:, 2] > 0)
    assert ridge_accuracy(features[:300], labels[:300], features[300:], labels[300:]) > 0.8  # sklearn RidgeClassifier: 0.78
    two = labels % 2
    assert ridge_accuracy(features[:300], two[:300], features[300:], two[300:]) > 0.9
    assert ridge_accuracy(features[:3], np.array([1, 1, 1]), features[300:], labels[300:]) == np.mean(labels[300:] == 1)


def test_the_inner_sample_is_stratified_and_whole_when_small():
    labels = np.array([0] * 900 + [1] * 100)
    np.testing.assert_array_equal(stratified_sample(labels, 2000, seed=0), np.arange(1000))
    sample = stratified_sample(labels, 100, seed=0)
    assert np.bincount(labels[sample]).tolist() == [90, 10] and np.all(np.diff(sample) > 0)
    np.testing.assert_array_equal(sample, stratified_sample(labels, 100, seed=0))


def test_folds_are_stratified_and_seeded():
    labels = np.array([0] * 30 + [1] * 12)
    folds = stratified_folds(labels, 3, seed=5)
    assert [np.bincount(labels[folds == f]).tolist() for f in range(3)] == [[10, 4]] * 3
    np.testing.assert_array_equal(folds, stratified_folds(labels, 3, seed=5))
    assert not np.array_equal(folds, stratified_folds(labels, 3, seed=6))


def test_prune_with_auto_records_the_candidates(tmp_path):
    import datasets

    import hf_d2

    arrays = lopsided_pool()
    dataset = datasets.Dataset.from_dict({"label": arrays.labels.tolist(), "s": arrays.scores.tolist(),
                                          "emb": arrays.embeddings.tolist()})
    result = hf_d2.prune_with_scores(dataset, 0.9, method="auto", score_column="s", embedding_column="emb")
    assert result.record.method == "auto" and result.record.auto["chosen"] in {c.name for c in AUTO_CANDIDATES}
    assert len(result.record.auto["candidates"]) == len(AUTO_CANDIDATES)
    chosen = next(c for c in AUTO_CANDIDATES if c.name == result.record.auto["chosen"])
    assert (result.record.prefilter, result.record.partition) == (
        chosen.prefilter, "strata" if chosen.method == "ccs" else chosen.partition)  # the record says what ran


def test_inner_folds_keep_near_duplicates_together():
    from hf_d2.selection.inner import InnerPool

    base = poisoned_pool(seed=4)
    copies = np.arange(0, 400, 3)  # every third row twice more: exactly, and moved by a hair
    moved = base.embeddings[copies] + np.float32(1e-4)
    arrays = SelectionArrays(scores=np.concatenate([base.scores, base.scores[copies], base.scores[copies]]),
                             embeddings=np.concatenate([base.embeddings, base.embeddings[copies], moved]),
                             labels=np.concatenate([base.labels, base.labels[copies], base.labels[copies]]))
    folds = InnerPool.build(arrays, PARAMS, seed=0, num_folds=AUTO_FOLDS).folds
    np.testing.assert_array_equal(folds[400:400 + copies.size], folds[copies])
    np.testing.assert_array_equal(folds[400 + copies.size:], folds[copies])
    assert np.bincount(folds).min() > 0.15 * folds.size  # still five folds of similar size
