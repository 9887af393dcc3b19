"""causalrec.metrics: hand-computed values, agreement with scikit-learn, properties
(bounds, perfect rankings, row-order invariance, deterministic ties), bad input named."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score, roc_auc_score

from causalrec import schema
from causalrec.metrics import (RANKING_METRICS, accuracy, auc, catalogue_coverage, evaluate_ranking,
                               exposure_by_group, exposure_gap, intra_list_diversity, mean_popularity,
                               mse, ndcg_at_k, precision_at_k, precision_recall_f1,
                               ranking_metrics_by_group, ranking_metrics_by_user, rmse)
import causalrec.metrics as metrics

U, I, S, R = schema.USER, schema.ITEM, schema.SCORE, schema.RANK
RANKING = {name: getattr(metrics, name) for name in RANKING_METRICS}
FAST = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
LOG2_3 = math.log2(3)


def frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


# ------------------------------------------------------------------ pointwise
def test_pointwise_by_hand_weighted_is_ips():
    # weights 1/p: the weighted MSE is the self-normalised IPS estimate
    assert mse([3, 4, 5], [2.5, 4, 4], sample_weight=[2, 1, 1]) == pytest.approx((2 * 0.25 + 1) / 4)
    assert rmse([3, 4, 5], [2, 4, 4]) == pytest.approx(math.sqrt(2 / 3))
    assert accuracy([1, 0, 1, 1], [0.9, 0.6, 0.4, 0.8], threshold=0.3) == 0.75
    assert precision_recall_f1([1, 0, 1, 1], [1, 1, 0, 1]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert precision_recall_f1([0, 0], [0, 0]) == (0.0, 0.0, 0.0)          # 0/0 is 0
    assert auc([0, 1, 1], [0.2, 0.2, 0.9]) == 0.75                          # a tie counts one half
    assert isinstance(mse(pd.Series([1, 2]), pd.Series([1, 3])), float)


binary_scored = st.lists(st.tuples(st.integers(0, 1), st.integers(-3, 3), st.floats(0.01, 10)),
                         min_size=2, max_size=30)


@FAST
@given(binary_scored)
def test_auc_matches_sklearn_and_flips(rows):
    y, s, w = (np.array(v) for v in zip(*rows))
    y[:2] = [0, 1]
    value = auc(y, s, sample_weight=w)
    assert value == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    assert value + auc(y, -s, sample_weight=w) == pytest.approx(1.0)       # reversed scores swap wins
    assert rmse(y, s) ** 2 == pytest.approx(mse(y, s))
    assert all(0 <= v <= 1 for v in precision_recall_f1(y, s, threshold=0.0, sample_weight=w))


@pytest.mark.parametrize("call, name", [
    (lambda: mse([1, 2], [1, 2, 3]), "y_pred"),
    (lambda: mse([1, 2], [1, np.nan]), "y_pred"),
    (lambda: rmse([], []), "y_true"),
    (lambda: mse(["a"], [1]), "y_true"),
    (lambda: mse([1, 2], [1, 2], sample_weight=[1, -1]), "sample_weight"),
    (lambda: mse([1, 2], [1, 2], sample_weight=[0, 0]), "sample_weight"),
    (lambda: accuracy([0, 2], [0, 1]), "y_true"),
    (lambda: accuracy([0, 1], [0, 1], threshold=np.nan), "threshold"),
    (lambda: precision_recall_f1([0, 1], [0.5]), "y_pred_or_prob"),
    (lambda: auc([1, 1], [0.1, 0.2]), "y_true"),
    (lambda: auc([1, 0], [0.1, 0.2], sample_weight=[1, 0]), "y_true"),
])
def test_pointwise_bad_input_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ------------------------------------------------------------------ ranking by hand
@pytest.fixture
def small():
    """User 1: list 10, 11, 12 (relevant 10, 12). User 2: list 12, 10, 11 (relevant 10)."""
    recs = frame([(1, 10, 0.9), (1, 11, 0.8), (1, 12, 0.1), (2, 10, 0.3), (2, 11, 0.2), (2, 12, 0.7)], [U, I, S])
    return recs, frame([(1, 10), (1, 12), (2, 10)], [U, I])


def test_ranking_by_hand(small):
    recs, rel = small
    table = ranking_metrics_by_user(recs, rel, k=2)
    assert table.index.tolist() == [1, 2] and table["hits"].tolist() == [1, 1]
    expected = {"precision_at_k": [1 / 2, 1 / 2], "recall_at_k": [1 / 2, 1.0], "f1_at_k": [2 / 4, 2 / 3],
                "ndcg_at_k": [1 / (1 + 1 / LOG2_3), 1 / LOG2_3], "map_at_k": [1 / 2, 1 / 2],
                "hit_rate_at_k": [1.0, 1.0]}
    result = evaluate_ranking(recs, rel, k=2)
    for name, values in expected.items():
        assert table[name].tolist() == pytest.approx(values), name
        assert RANKING[name](recs, rel, k=2) == result[name] == pytest.approx(np.mean(values)), name
    # k = 3 and a k beyond the lists: precision divides by k, the others do not change
    assert RANKING["map_at_k"](recs, rel, k=3) == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    assert precision_at_k(recs, rel, k=5) == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert ndcg_at_k(recs, rel, k=5) == pytest.approx(ndcg_at_k(recs, rel, k=3))


def test_graded_relevance_threshold_and_rank_column(small):
    recs, _ = small
    graded = frame([(1, 10, 5), (1, 11, 0), (1, 12, 3), (2, 10, 4)], [U, I, schema.RATING])
    # user 1: list (10, 11) gains 5, 0, ideal (5, 3); user 2: list (12, 10) gains 0, 4, ideal 4
    expected = (5 / (5 + 3 / LOG2_3) + 1 / LOG2_3) / 2
    assert ndcg_at_k(recs, graded, k=2, relevance_col=schema.RATING) == pytest.approx(expected)
    # a threshold turns grades into binary relevance: ratings >= 4 are 10 (user 1) and 10 (user 2)
    thresholded = evaluate_ranking(recs, graded, k=2, relevance_col=schema.RATING, threshold=4)
    binary = graded[graded[schema.RATING] >= 4][[U, I]]
    assert thresholded == evaluate_ranking(recs, binary, k=2)
    # rank orders ascending and wins over score: user 1's list becomes 12, 10
    both = recs.assign(**{R: [2, 3, 1, 2, 3, 1]})
    assert precision_at_k(both, binary.iloc[:1].assign(item_id=12), k=1) == 1.0


def test_which_users_count_ties_and_extras(small):
    recs, rel = small
    rel3 = pd.concat([rel, frame([(3, 11)], [U, I])], ignore_index=True)     # a user without a list scores 0
    assert evaluate_ranking(recs, rel3, k=2)["n_users"] == 3
    assert ndcg_at_k(recs, rel3, k=2) == pytest.approx(ndcg_at_k(recs, rel, k=2) * 2 / 3)
    recs4 = pd.concat([recs, frame([(4, 10, 0.5)], [U, I, S])], ignore_index=True)   # nothing relevant: not counted
    assert evaluate_ranking(recs4, rel, k=2) == evaluate_ranking(recs, rel, k=2)
    assert precision_at_k(frame([(1, 7, 0.5), (1, 3, 0.5)], [U, I, S]), frame([(1, 7)], [U, I]), k=1) == 0.0
    tied = frame([("u", "b", 1.0), ("u", "a", 1.0), ("u", "c", 1.0)], [U, I, S])   # string ids sort as strings
    assert ndcg_at_k(tied, frame([("u", "b")], [U, I]), k=3) == pytest.approx(1 / LOG2_3)
    assert evaluate_ranking(recs, rel, k=1, n_items=6)["catalogue_coverage"] == pytest.approx(2 / 6)


def test_coverage_and_popularity_by_hand(small):
    recs, _ = small
    assert catalogue_coverage(recs, n_items=10) == pytest.approx(0.3)
    assert catalogue_coverage(recs[[U, I]], n_items=4) == pytest.approx(0.75)     # no score needed without k
    series = pd.Series({10: 10.0, 11: 4.0, 12: 1.0, 13: 99.0})
    unequal = frame([(1, 10), (2, 11), (2, 12), (2, 13)], [U, I])                 # each user counts once
    assert mean_popularity(unequal, series) == pytest.approx((10 + (4 + 1 + 99) / 3) / 2)


# ------------------------------------------------------------------ ranking against sklearn and properties
def dense_to_frames(relevance, scores):
    n_users, n_items = relevance.shape
    users, items = np.repeat(np.arange(n_users), n_items), np.tile(np.arange(n_items), n_users)
    return (pd.DataFrame({U: users, I: items, S: scores.ravel()}),
            pd.DataFrame({U: users, I: items, schema.RATING: relevance.ravel()}))


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 8), st.integers(2, 8), st.integers(1, 10))
def test_ndcg_agrees_with_sklearn(seed, n_users, n_items, k):
    rng = np.random.default_rng(seed)
    relevance = rng.integers(0, 5, size=(n_users, n_items)).astype(float)
    relevance[np.arange(n_users), rng.integers(0, n_items, n_users)] += 1
    scores = rng.permuted(np.tile(np.arange(n_items, dtype=float), (n_users, 1)), axis=1)
    recs, rel = dense_to_frames(relevance, scores)
    assert ndcg_at_k(recs, rel, k=k, relevance_col=schema.RATING) == pytest.approx(ndcg_score(relevance, scores, k=k))


def test_ten_thousand_users_agree_with_sklearn():
    rng = np.random.default_rng(7)
    relevance = rng.integers(0, 3, size=(10_000, 12))
    relevance[:, 0] = np.maximum(relevance[:, 0], 1)
    scores = rng.normal(size=relevance.shape)
    result = evaluate_ranking(*dense_to_frames(relevance, scores), k=10, relevance_col=schema.RATING)
    assert result["n_users"] == 10_000
    assert result["ndcg_at_k"] == pytest.approx(ndcg_score(relevance, scores, k=10))


@st.composite
def ranking_problem(draw):
    """Random lists (small integer scores: many ties) and graded relevance."""
    n_users, n_items = draw(st.integers(1, 5)), draw(st.integers(1, 8))
    pairs = [(u, i) for u in range(n_users) for i in range(n_items)]
    flags = draw(st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.booleans(), st.integers(0, 3)),
                          min_size=len(pairs), max_size=len(pairs)))
    recs = [(u, i, float(s)) for (u, i), (m, s, _, _) in zip(pairs, flags) if m] or [(*pairs[0], 0.0)]
    rel = [(u, i, g) for (u, i), (_, _, m, g) in zip(pairs, flags) if m and (u, i) != pairs[-1]]
    return frame(recs, [U, I, S]), frame([*rel, (*pairs[-1], 1)], [U, I, schema.RATING]), draw(st.integers(1, 10))


def quietly(recs, rel, k, **kwargs):
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)                       # "no user in relevant has a row"
        return evaluate_ranking(recs, rel, k, **kwargs)


@FAST
@given(ranking_problem(), st.integers(0, 2**31))
def test_ranking_bounded_row_order_free_and_ties_by_item_id(problem, seed):
    recs, rel, k = problem
    result = quietly(recs, rel, k, relevance_col=schema.RATING)
    assert all(0.0 <= result[name] <= 1.0 + 1e-12 for name in RANKING)
    assert result["precision_at_k"] <= result["hit_rate_at_k"] and result["map_at_k"] <= result["hit_rate_at_k"]
    shuffled = quietly(recs.sample(frac=1.0, random_state=seed), rel.sample(frac=1.0, random_state=seed + 1), k,
                       relevance_col=schema.RATING)
    assert shuffled == result
    explicit = recs.sort_values([U, S, I], ascending=[True, False, True])
    explicit = explicit.assign(**{R: explicit.groupby(U).cumcount() + 1}).drop(columns=S)
    assert quietly(explicit, rel, k, relevance_col=schema.RATING) == result


@FAST
@given(ranking_problem())
def test_perfect_ranking_scores_one(problem):
    _, rel, k = problem
    positive = rel[rel[schema.RATING] > 0]
    extras = frame([(u, 100 + j, -1.0) for u in positive[U].unique() for j in range(3)], [U, I, S])
    perfect = pd.concat([positive[[U, I]].assign(**{S: positive[schema.RATING].astype(float)}), extras])
    result = quietly(perfect, rel, k, relevance_col=schema.RATING)
    assert result["ndcg_at_k"] == pytest.approx(1.0) and result["map_at_k"] == pytest.approx(1.0)
    n_rel = positive.groupby(U).size().to_numpy()
    assert result["recall_at_k"] == pytest.approx(np.mean(np.minimum(k, n_rel) / n_rel))


@pytest.mark.parametrize("change, name", [
    (lambda r, g: (r, g, {"k": 0}), "k"),
    (lambda r, g: (r.drop(columns=S), g, {}), "score"),
    (lambda r, g: (r.assign(score=np.nan), g, {}), "score"),
    (lambda r, g: (r.assign(user_id=np.nan), g, {}), "user_id"),
    (lambda r, g: (pd.concat([r, r.head(1)]), g, {}), "recommendations"),
    (lambda r, g: (r, g.iloc[:0], {}), "relevant"),
    (lambda r, g: (r, g.drop(columns=I), {}), "item_id"),
    (lambda r, g: (r, g.assign(rating=-1), {"relevance_col": "rating"}), "rating"),
    (lambda r, g: (r, g, {"relevance_col": "rating"}), "rating"),
    (lambda r, g: (r.assign(user_id=r[U].astype(str)), g, {}), "user_id"),
])
def test_ranking_bad_input_named(small, change, name):
    recs, rel, kwargs = change(*small)
    with pytest.raises((ValueError, TypeError), match=name):
        evaluate_ranking(recs, rel, **kwargs)


def test_beyond_accuracy_bad_input_named(small):
    recs, _ = small
    with pytest.raises(ValueError, match="n_items"):
        catalogue_coverage(recs, n_items=2)
    with pytest.raises(ValueError, match="item_popularity"):
        mean_popularity(recs, pd.Series({10: 1.0}))
    with pytest.raises(ValueError, match="item_popularity"):
        mean_popularity(recs, {10: 1.0})


def test_no_overlap_warns(small):
    recs, rel = small
    with pytest.warns(UserWarning, match="no user in relevant"):
        assert ndcg_at_k(recs, rel.assign(user_id=rel[U] + 100)) == 0.0


# ------------------------------------------------------------------ fairness and diversity
@pytest.fixture
def exposure_case():
    # user 1 sees 10 then 11, user 2 sees 10 then 12 (by score, not by row order)
    recs = pd.DataFrame({U: [1, 2, 1, 2], I: [11, 12, 10, 10], S: [0.2, 0.1, 0.9, 0.8]})
    return recs, pd.Series({10: "popular", 11: "tail", 12: "tail", 13: "tail"})


def test_exposure_by_group_and_gap_by_hand(exposure_case):
    recs, groups = exposure_case
    table = exposure_by_group(recs, groups)
    share = 1 / (1 + 1 / LOG2_3)
    assert table["exposure"].tolist() == pytest.approx([2.0, 2 / LOG2_3])
    assert table.loc["popular", "exposure_share"] == pytest.approx(share)
    assert table["n_items"].tolist() == [1, 3] and table["item_share"].tolist() == [0.25, 0.75]
    assert exposure_gap(recs, groups) == pytest.approx(share - 0.25)          # total variation distance
    assert exposure_gap(recs, groups, k=1) == pytest.approx(0.75)
    merit = pd.Series({"popular": share, "tail": 1 - share})
    assert exposure_gap(recs, groups, reference=merit) == pytest.approx(0.0)


@pytest.mark.parametrize("call, name", [
    (lambda r, g: exposure_by_group(r, g.drop(12)), "item_groups"),
    (lambda r, g: exposure_by_group(r, g.to_dict()), "item_groups"),
    (lambda r, g: exposure_gap(r, g, reference=pd.Series({"popular": 1.0})), "reference"),
    (lambda r, g: exposure_gap(r, g, reference=pd.Series({"popular": -1.0, "tail": 1.0})), "reference"),
    (lambda r, g: ranking_metrics_by_group(r, r[[U, I]], g, by="items"), "by"),
    (lambda r, g: intra_list_diversity(r, np.eye(3)), "item ids"),
    (lambda r, g: intra_list_diversity(r.assign(item_id=[0, 1, 2, 2]), np.full((3, 2), np.nan)), "item_vectors"),
])
def test_fairness_bad_input_named(exposure_case, call, name):
    with pytest.raises(ValueError, match=name):
        call(*exposure_case)


def test_ranking_metrics_by_group_user_and_item():
    rng = np.random.default_rng(4)
    users, items = np.meshgrid(np.arange(12), np.arange(8), indexing="ij")
    recs = pd.DataFrame({U: users.ravel(), I: items.ravel(), S: rng.random(users.size)})
    relevant = recs.sample(30, random_state=1)[[U, I]]
    groups = pd.Series(np.arange(12) % 3, index=np.arange(12))
    per_user = ranking_metrics_by_user(recs, relevant, k=4)
    expected = per_user.groupby(groups.loc[per_user.index].to_numpy())["ndcg_at_k"].mean()
    np.testing.assert_allclose(ranking_metrics_by_group(recs, relevant, groups, k=4)["ndcg_at_k"], expected)
    one = pd.DataFrame({U: [1, 1, 1], I: [10, 11, 12], R: [1, 2, 3]})
    table = ranking_metrics_by_group(one, one.iloc[[0, 2]][[U, I]], pd.Series({10: "pop", 11: "tail", 12: "tail"}),
                                     by="item", k=3)
    assert table["ndcg_at_k"].tolist() == pytest.approx([1.0, 0.5])           # tail's item third: 1/log2(4)


def test_intra_list_diversity_by_hand():
    vectors = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    three = pd.DataFrame({U: [0, 0, 0], I: [0, 2, 3], R: [1, 2, 3]})
    c = 1 / math.sqrt(2)
    assert intra_list_diversity(three, vectors) == pytest.approx((1 + 2 * (1 - c)) / 3)
    assert intra_list_diversity(three, vectors, k=2) == pytest.approx(1.0)
    twins = pd.DataFrame({U: [5, 5], I: [0, 1], R: [1, 2]})
    single = pd.DataFrame({U: [7], I: [2], R: [1]})                          # no pair: left out
    assert intra_list_diversity(pd.concat([twins, three, single]), vectors) == pytest.approx((1 + 2 * (1 - c)) / 6)
