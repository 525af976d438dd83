"""Selection strategies, budgets, partitions and the pre-filter (hf_d2.selection)."""

import itertools

import numpy as np
import pytest

from hf_d2.selection import (
    PRESETS,
    STRATEGIES,
    allocate_proportional,
    allocate_smallest_first,
    available_methods,
    easiest_order,
    hardest_order,
    kcenter_order,
    merge_by_relative_rank,
    moderate_order,
    random_order,
    select,
    stratum_ids,
)


@pytest.fixture
def pool():
    """120 examples: 8-d embeddings, difficulty (higher = harder), 3 unbalanced labels."""
    rng = np.random.default_rng(7)
    embeddings = rng.normal(size=(120, 8)).astype(np.float32)
    scores = rng.normal(size=120)
    labels = np.repeat(np.array(["a", "b", "c"]), [15, 40, 65])
    return embeddings, scores, labels


def _pairwise(embeddings):
    diff = embeddings[:, None, :].astype(np.float64) - embeddings[None, :, :]
    return np.sqrt((diff**2).sum(-1))


# ---------------------------------------------------------------- every method, every mode


METHOD_PARTITIONS = [
    (method, partition)
    for method in available_methods()
    for partition in ([None] if method in PRESETS else [None, "label", "strata"])
]


@pytest.mark.parametrize("method, partition", METHOD_PARTITIONS)
@pytest.mark.parametrize("budget", [0, 1, 37, 120])
def test_every_method_returns_budget_distinct_valid_ids(pool, method, partition, budget):
    embeddings, scores, labels = pool
    order = select(
        method, budget, scores=scores, embeddings=embeddings, labels=labels, partition=partition
    )
    assert order.dtype == np.int64
    assert order.shape == (budget,)
    assert np.unique(order).size == budget
    assert budget == 0 or (order.min() >= 0 and order.max() < 120)


@pytest.mark.parametrize("method", list(available_methods()))
def test_every_method_is_deterministic(pool, method):
    embeddings, scores, labels = pool
    first = select(method, 30, scores=scores, embeddings=embeddings, labels=labels, seed=3)
    again = select(method, 30, scores=scores, embeddings=embeddings, labels=labels, seed=3)
    np.testing.assert_array_equal(first, again)


def test_metadata_describes_every_method():
    methods = available_methods()
    assert set(methods) == set(STRATEGIES) | set(PRESETS)
    assert {"d2", "random", "hard", "easy", "kcenter", "moderate", "ccs", "ccs-d2"} <= set(methods)
    for name, info in methods.items():
        assert info.name == name and info.description and "\n" not in info.description
        assert isinstance(info.needs_embeddings, bool) and isinstance(info.needs_scores, bool)
        assert isinstance(info.prefix_consistent, bool)
    assert methods["kcenter"].needs_embeddings and not methods["kcenter"].needs_scores
    assert methods["hard"].needs_scores and not methods["hard"].needs_embeddings
    assert methods["d2"].params["k"].default == 5 and methods["ccs-d2"].params["gamma_reverse"].default == 0.1


# ---------------------------------------------------------------- random


def test_random_is_seeded_and_prefix_consistent():
    np.testing.assert_array_equal(random_order(100, 20, seed=1), random_order(100, 20, seed=1))
    assert not np.array_equal(random_order(100, 20, seed=1), random_order(100, 20, seed=2))
    np.testing.assert_array_equal(random_order(100, 20, seed=4), random_order(100, 60, seed=4)[:20])
    np.testing.assert_array_equal(
        select("random", 20, num_rows=100, seed=4), select("random", 60, num_rows=100, seed=4)[:20]
    )
    assert np.array_equal(np.sort(random_order(50, 50, seed=0)), np.arange(50))


# ---------------------------------------------------------------- hard / easy


def test_hard_and_easy_pick_the_extremes_with_ties_to_lowest_index():
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0, 0.0, 0.0])
    np.testing.assert_array_equal(hardest_order(scores, 2), [1, 2])
    np.testing.assert_array_equal(hardest_order(scores, 4), [1, 2, 4, 3])
    np.testing.assert_array_equal(easiest_order(scores, 1), [5])
    np.testing.assert_array_equal(easiest_order(scores, 3), [5, 6, 0])
    np.testing.assert_array_equal(select("hard", 3, scores=scores), [1, 2, 4])
    np.testing.assert_array_equal(select("easy", 2, scores=scores), [5, 6])


# ---------------------------------------------------------------- k-center


def test_kcenter_is_farthest_first_and_covering_radius_never_grows(pool):
    embeddings = pool[0]
    distances = _pairwise(embeddings)
    order = kcenter_order(embeddings, 25, seed=0)
    radii = []
    for position in range(1, order.size + 1):
        nearest = distances[:, order[:position]].min(axis=1)
        radii.append(nearest.max())
        if position < order.size:  # the next pick is (up to rounding) the farthest point
            assert nearest[order[position]] >= nearest.max() - 1e-4
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(radii))
    assert radii[-1] < radii[0]


def test_kcenter_start_depends_on_seed_and_prefixes_agree(pool):
    embeddings = pool[0]
    first_picks = {int(kcenter_order(embeddings, 1, seed=seed)[0]) for seed in range(10)}
    assert len(first_picks) > 1
    np.testing.assert_array_equal(
        kcenter_order(embeddings, 10, seed=5), kcenter_order(embeddings, 40, seed=5)[:10]
    )


def test_kcenter_handles_exact_duplicates_without_repicking():
    embeddings = np.zeros((6, 3), dtype=np.float32)
    embeddings[3:] = 1.0
    order = kcenter_order(embeddings, 6, seed=0)
    assert sorted(order.tolist()) == list(range(6))
    # after one point of each cluster, only zero-distance duplicates remain: lowest index first
    assert {int(order[0]) < 3, int(order[1]) < 3} == {True, False}


# ---------------------------------------------------------------- moderate


def test_moderate_keeps_the_central_band_of_distances():
    # 1-D points 0..8: median embedding 4, distances [4 3 2 1 0 1 2 3 4], median distance 2.
    embeddings = np.arange(9, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(moderate_order(embeddings, 2), [2, 6])  # distance exactly 2
    np.testing.assert_array_equal(
        moderate_order(embeddings, 6), [2, 6, 1, 3, 5, 7]
    )  # distances 1..3
    kept = set(select("moderate", 6, embeddings=embeddings).tolist())
    assert not kept & {0, 4, 8}  # both tails (distance 0 and 4) are dropped, unlike the reference


def test_moderate_uses_each_labels_own_median():
    embeddings = np.concatenate([np.arange(9), 100 + np.arange(9)]).astype(np.float32)[:, None]
    labels = np.repeat([0, 1], 9)
    np.testing.assert_array_equal(moderate_order(embeddings, 4, labels=labels), [2, 6, 11, 15])
    # with one global median (at 54) the near and far points of each cluster are the tails
    assert set(moderate_order(embeddings, 4).tolist()) != {2, 6, 11, 15}


# ---------------------------------------------------------------- budgets


def test_smallest_first_allocation_by_hand():
    np.testing.assert_array_equal(allocate_smallest_first([1, 5, 10], 9), [1, 4, 4])
    np.testing.assert_array_equal(
        allocate_smallest_first([10, 1, 5], 9), [4, 1, 4]
    )  # order of groups kept
    np.testing.assert_array_equal(allocate_smallest_first([10, 30, 60], 20), [6, 7, 7])
    np.testing.assert_array_equal(allocate_smallest_first([0, 3, 3], 5), [0, 2, 3])
    np.testing.assert_array_equal(allocate_smallest_first([2, 2, 2], 6), [2, 2, 2])
    np.testing.assert_array_equal(allocate_smallest_first([4, 4], 0), [0, 0])


@pytest.mark.parametrize("seed", range(20))
def test_allocations_sum_to_budget_and_respect_sizes(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 30, size=rng.integers(1, 12))
    budget = int(rng.integers(0, sizes.sum() + 1))
    for allocate in (allocate_proportional, allocate_smallest_first):
        allocation = allocate(sizes, budget)
        assert allocation.sum() == budget
        assert np.all(allocation >= 0) and np.all(allocation <= sizes)


def test_proportional_allocation_uses_largest_remainders():
    # quotas 0.5625, 2.8125, 5.625 → floors 0, 2, 5; the 2 leftovers go to remainders .8125, .625
    np.testing.assert_array_equal(allocate_proportional([1, 5, 10], 9), [0, 3, 6])
    np.testing.assert_array_equal(allocate_proportional([10, 30, 60], 20), [2, 6, 12])
    np.testing.assert_array_equal(allocate_proportional([3, 3], 3), [2, 1])  # tie → lower group


def test_merge_orders_picks_by_relative_rank():
    group_a, group_b = np.array([10]), np.array([20, 21, 22])
    # keys: a 1/1; b 1/3, 2/3, 3/3 → b's tie with a at key 1 goes to a (earlier group)
    np.testing.assert_array_equal(merge_by_relative_rank([group_a, group_b]), [20, 21, 10, 22])
    assert merge_by_relative_rank([np.empty(0, np.int64)]).size == 0


# ---------------------------------------------------------------- partitions


@pytest.mark.parametrize(
    "allocation, expected", [("proportional", [2, 7, 11]), ("uniform", [6, 7, 7])]
)
@pytest.mark.parametrize("method", ["random", "d2", "kcenter", "hard"])
def test_label_partitions_meet_their_budgets(pool, method, allocation, expected):
    # label sizes 15, 40, 65. proportional: quotas 2.5, 6.67, 10.83 → floors 2, 6, 10, leftovers
    # to the largest remainders (c, then b). smallest-first: 15 → min(15, 20 // 3) = 6, then
    # 40 → 14 // 2 = 7, then 65 → 7.
    embeddings, scores, labels = pool
    order = select(
        method,
        20,
        scores=scores,
        embeddings=embeddings,
        labels=labels,
        partition="label",
        budget_allocation=allocation,
    )
    counts = [int((labels[order] == value).sum()) for value in ("a", "b", "c")]
    assert counts == expected


def test_label_partition_runs_the_strategy_inside_each_label(pool):
    _embeddings, scores, labels = pool
    order = select("hard", 20, scores=scores, labels=labels, partition="label")
    for value, budget in zip(("a", "b", "c"), (2, 7, 11)):
        members = np.flatnonzero(labels == value)
        expected = members[np.argsort(-scores[members], kind="stable")[:budget]]
        assert set(order[labels[order] == value].tolist()) == set(expected.tolist())


def test_strata_are_equal_width_and_last_is_closed():
    scores = np.array([0.0, 0.99, 1.0, 2.5, 3.0])
    np.testing.assert_array_equal(stratum_ids(scores, 3), [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(stratum_ids(np.full(4, 2.0), 5), [0, 0, 0, 0])


def _ccs_case():
    """20 rows: 2 very hard ones (ids 0, 1), then strata over [0, 3] of sizes 1, 5, 12."""
    hardness = np.concatenate(
        [[10.0, 9.0], [0.0], [1.0, 1.2, 1.4, 1.6, 1.8], np.linspace(2.0, 3.0, 12)]
    )
    strata = np.array([-1, -1, 0, 1, 1, 1, 1, 1] + [2] * 12)
    return hardness, strata


@pytest.mark.parametrize("method", ["ccs", "ccs-d2"])
def test_ccs_prefilters_the_hardest_then_meets_stratum_budgets(method):
    hardness, strata = _ccs_case()
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(20, 4)).astype(np.float32)
    # defaults: β = 0.1 of 20 rows → ids 0 and 1 dropped; 3 strata after the filter: sizes
    # [1, 5, 12]; smallest-first with budget 9 → [1, 4, 4].
    order = select(
        method,
        9,
        scores=rng.normal(size=20),
        embeddings=embeddings,
        prefilter_scores=hardness,
        num_strata=3,
    )
    assert not {0, 1} & set(order.tolist())
    counts = [int((strata[order] == stratum).sum()) for stratum in range(3)]
    assert counts == [1, 4, 4]


def test_ccs_strata_follow_prefilter_scores_not_scores():
    hardness, _ = _ccs_case()
    rng = np.random.default_rng(1)
    first = select("ccs", 9, scores=rng.normal(size=20), prefilter_scores=hardness, num_strata=3)
    second = select("ccs", 9, scores=rng.normal(size=20), prefilter_scores=hardness, num_strata=3)
    np.testing.assert_array_equal(first, second)
    # without prefilter_scores, `scores` drive both the pre-filter and the strata
    np.testing.assert_array_equal(select("ccs", 9, scores=hardness, num_strata=3), first)


def test_prefilter_drops_exactly_the_hardest_fraction():
    scores = np.arange(20, dtype=np.float64)[::-1]  # id 0 is the hardest
    order = select("random", 18, scores=scores, prefilter=0.1)
    assert set(order.tolist()) == set(range(2, 20))
    order = select(
        "random", 15, num_rows=20, prefilter=0.25, prefilter_scores=-scores
    )  # now id 19 hardest
    assert set(order.tolist()) == set(range(15))


def test_prefilter_gives_way_to_the_budget():
    scores = np.arange(20, dtype=np.float64)  # id 19 is the hardest
    order = select("random", 15, scores=scores, prefilter=0.5)  # would leave 10 < 15 rows
    assert order.size == 15
    assert set(order.tolist()) == set(range(15))  # only the 5 hardest were dropped
    assert select("ccs", 20, scores=scores).size == 20


# ---------------------------------------------------------------- d2 through select


def test_d2_through_select_matches_d2_select(pool):
    from hf_d2 import d2_select

    embeddings, scores, _ = pool
    np.testing.assert_array_equal(
        select("d2", 40, scores=scores, embeddings=embeddings), d2_select(embeddings, scores, 40)
    )
    np.testing.assert_array_equal(
        select("d2", 40, scores=scores, embeddings=embeddings, k=3, gamma_reverse=0.5),
        d2_select(embeddings, scores, 40, k=3, gamma_reverse=0.5),
    )


def test_d2_handles_tiny_groups_by_clamping_k():
    embeddings = np.arange(6, dtype=np.float32)[:, None]
    scores = np.array([0.5, 0.1, 0.9, 0.3, 0.2, 0.4])
    labels = np.array([0, 1, 1, 2, 2, 2])  # groups of 1, 2 and 3 rows, default k = 5
    order = select("d2", 6, scores=scores, embeddings=embeddings, labels=labels, partition="label")
    assert sorted(order.tolist()) == list(range(6))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"method": "d3", "budget": 2, "num_rows": 5},
            r"'method' parameter must be one of 'd2', 'random'",
        ),
        (
            {"method": "kcenter", "budget": 2, "scores": np.zeros(5)},
            r"'kcenter' method needs 'embeddings'",
        ),
        (
            {"method": "hard", "budget": 2, "embeddings": np.zeros((5, 2))},
            r"'hard' method needs 'scores'",
        ),
        (
            {"method": "random", "budget": 6, "num_rows": 5},
            r"'budget' parameter must be in \[0, 5\]",
        ),
        (
            {
                "method": "random",
                "budget": 2,
                "num_rows": 5,
                "scores": np.zeros(5),
                "prefilter": 1.0,
            },
            r"'prefilter' parameter .* must be a number in \[0, 1\)",
        ),
        (
            {"method": "random", "budget": 2, "scores": np.zeros(5), "prefilter": -0.1},
            r"'prefilter' parameter",
        ),
        (
            {"method": "random", "budget": 2, "scores": np.zeros(5), "labels": [0, 1]},
            r"'labels' must hold one label",
        ),
        (
            {
                "method": "random",
                "budget": 2,
                "scores": np.zeros(5),
                "embeddings": np.zeros((4, 2)),
            },
            r"'scores' have 5 values but there are 4 examples",
        ),
        (
            {"method": "random", "budget": 2, "num_rows": 5, "partition": "label"},
            r"partition='label' needs 'labels'",
        ),
        (
            {"method": "random", "budget": 2, "num_rows": 5, "partition": "class"},
            r"'partition' parameter must be one of",
        ),
        (
            {"method": "random", "budget": 2, "num_rows": 5, "prefilter": 0.2},
            r"needs 'prefilter_scores'",
        ),
        ({"method": "ccs", "budget": 2, "num_rows": 5}, r"needs scores to stratify"),
        (
            {"method": "ccs", "budget": 2, "scores": np.zeros(5), "partition": "label"},
            r"always partitions by score strata",
        ),
        (
            {
                "method": "d2",
                "budget": 2,
                "scores": np.zeros(5),
                "embeddings": np.zeros((5, 2)),
                "gama_reverse": 0.1,
            },
            r"does not take the parameter\(s\) 'gama_reverse'. It accepts: 'k', 'gamma_forward'",
        ),
        (
            {"method": "random", "budget": 2, "num_rows": 5, "k": 3},
            r"'random' method does not take .*It accepts: none",
        ),
        (
            {
                "method": "d2",
                "budget": 2,
                "scores": np.zeros(5),
                "embeddings": np.zeros((5, 2)),
                "forward": "max",
            },
            r"'forward' parameter must be one of 'sum', 'product'",
        ),
        (
            {
                "method": "d2",
                "budget": 2,
                "scores": np.zeros(5),
                "embeddings": np.zeros((5, 2)),
                "k": 0,
            },
            r"'k' parameter must be an int in the range \[1, inf\)",
        ),
        (
            {"method": "random", "budget": 2, "num_rows": 5, "seed": -1},
            r"'seed' parameter must be an int",
        ),
        ({"method": "random", "budget": 2}, r"pass 'scores', 'embeddings', 'labels' or 'num_rows'"),
        ({"method": "random", "budget": 2, "scores": [0.0, np.nan]}, r"contain NaN or inf"),
    ],
)
def test_bad_input_is_rejected_with_an_actionable_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        select(**kwargs)


def test_forward_scores_come_back_for_d2_and_nan_elsewhere(pool):
    from hf_d2 import d2_rank

    embeddings, scores, _ = pool
    order, forward = select("d2", 40, scores=scores, embeddings=embeddings, return_forward_scores=True)
    ranking = d2_rank(embeddings, scores, 40)
    np.testing.assert_array_equal(order, ranking.order)
    np.testing.assert_allclose(forward, ranking.forward_scores)
    _, forward = select("d2", 40, scores=scores, embeddings=embeddings, prefilter=0.25,
                        return_forward_scores=True)
    hardest = np.argsort(-scores, kind="stable")[:30]
    assert np.isnan(forward[hardest]).all() and np.isfinite(np.delete(forward, hardest)).all()
    _, forward = select("kcenter", 40, embeddings=embeddings, return_forward_scores=True)
    assert forward.shape == (120,) and np.isnan(forward).all()


def test_prefilter_and_strata_scores_are_chosen_separately():
    """CCS drops the hardest rows by one score (prefilter_scores) and cuts the strata by another
    (strata_scores); without strata_scores the strata follow the pre-filter score."""
    rng = np.random.default_rng(3)
    n = 200
    prefilter_scores = rng.random(n)
    strata_scores = np.where(np.arange(n) < 10, 100.0, rng.random(n))  # rows 0-9 alone in the top stratum
    order = select("ccs", 50, num_rows=n, prefilter_scores=prefilter_scores, strata_scores=strata_scores,
                   num_strata=5, prefilter=0.1, seed=0)
    dropped = np.argsort(-prefilter_scores, kind="stable")[:20]
    assert np.intersect1d(order, dropped).size == 0  # the pre-filter used prefilter_scores
    survivors_on_top = np.setdiff1d(np.arange(10), dropped)
    assert set(survivors_on_top) <= set(order.tolist())  # the smallest stratum (of strata_scores) is taken whole
    default = select("ccs", 50, num_rows=n, prefilter_scores=prefilter_scores, num_strata=5, prefilter=0.1, seed=0)
    explicit = select("ccs", 50, num_rows=n, prefilter_scores=prefilter_scores, strata_scores=prefilter_scores,
                      num_strata=5, prefilter=0.1, seed=0)
    np.testing.assert_array_equal(default, explicit)
