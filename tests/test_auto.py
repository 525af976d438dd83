"""method="auto": inner cross-validation on the pool chooses the candidate that trains the better
classifier, records every candidate's inner score, and is deterministic."""

import numpy as np
import pytest

from hf_d2.coreset import SelectionArrays
from hf_d2.options import PruneOptions
from hf_d2.selection import select
from hf_d2.selection.auto import AUTO_CANDIDATES, Candidate, choose_settings, stratified_folds


def lopsided_pool(seed=0):
    """Two well separated classes; every row of class 1 is scored harder than every row of
    class 0, so an unpartitioned D2 at 90% pruning keeps (almost) only class 1, while D2 inside
    each class keeps both."""
    rng = np.random.default_rng(seed)
    labels = np.arange(300) % 2
    embeddings = (rng.normal(size=(300, 8)) + np.where(labels[:, None] == 1, 1.5, -1.5)).astype(np.float32)
    scores = labels * 10.0 + rng.random(300)
    return SelectionArrays(scores=scores, embeddings=embeddings, labels=labels, prefilter_scores=-scores)


CANDIDATES = (Candidate("d2-unpartitioned", "d2", prefilter=0.0), Candidate("d2-by-label", "d2", prefilter=0.0,
                                                                            partition="label"))
# a difficulty given as arrays: auto must not retrain a head on the folds
OPTIONS = PruneOptions.from_values({"difficulty_source": "finetune"})


def test_auto_picks_the_clearly_better_candidate_and_records_why():
    arrays = lopsided_pool()
    settings, record = choose_settings(arrays, rate=0.9, num_labels=2, options=OPTIONS, seed=0, candidates=CANDIDATES)
    assert settings.partition == "label" and record["chosen"] == "d2-by-label"
    scores = {c["name"]: c for c in record["candidates"]}
    assert scores["d2-by-label"]["score"] > 0.95 > 0.7 > scores["d2-unpartitioned"]["score"]
    assert len(scores["d2-by-label"]["fold_scores"]) == record["folds"] == 3
    kept = select("d2", 30, scores=arrays.scores, embeddings=arrays.embeddings, labels=arrays.labels)
    assert np.bincount(arrays.labels[kept], minlength=2)[0] < 5  # why: unpartitioned D2 starves class 0


def test_auto_gives_the_same_choice_twice_and_ties_go_to_the_earlier_candidate():
    arrays = lopsided_pool(seed=1)
    first = choose_settings(arrays, rate=0.5, num_labels=2, options=OPTIONS, seed=3)
    again = choose_settings(arrays, rate=0.5, num_labels=2, options=OPTIONS, seed=3)
    assert first[1] == {**again[1], "seconds": first[1]["seconds"]} and first[0] == again[0]
    assert [c["name"] for c in first[1]["candidates"]] == [c.name for c in AUTO_CANDIDATES]
    best = max(c["score"] for c in first[1]["candidates"])
    earliest_tie = next(c["name"] for c in first[1]["candidates"] if c["score"] >= best - first[1]["tie_margin"])
    assert first[1]["chosen"] == earliest_tie


def test_auto_needs_labels_and_embeddings():
    arrays = lopsided_pool()
    with pytest.raises(ValueError, match="needs embeddings and class labels"):
        choose_settings(SelectionArrays(arrays.scores, arrays.embeddings, None), rate=0.5, num_labels=2,
                        options=OPTIONS, seed=0)


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
