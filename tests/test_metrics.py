"""Tests for causalrec.metrics: hand-computed values, agreement with scikit-learn,
properties (bounds, perfect rankings, row-order invariance, deterministic ties)
and every kind of bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    mean_squared_error,
    ndcg_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from causalrec import metrics, schema
from causalrec.metrics import (
    accuracy,
    auc,
    catalogue_coverage,
    evaluate_ranking,
    f1_at_k,
    hit_rate_at_k,
    mae,
    map_at_k,
    mean_popularity,
    mse,
    ndcg_at_k,
    precision_at_k,
    precision_recall_f1,
    ranking_metrics_by_user,
    recall_at_k,
    rmse,
)

U, I, S, R = schema.USER, schema.ITEM, schema.SCORE, schema.RANK
RANKING = {
    "precision_at_k": precision_at_k,
    "recall_at_k": recall_at_k,
    "f1_at_k": f1_at_k,
    "ndcg_at_k": ndcg_at_k,
    "map_at_k": map_at_k,
    "hit_rate_at_k": hit_rate_at_k,
}
FAST = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
LOG2_3 = math.log2(3)


def frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------
# Pointwise: hand-computed
# --------------------------------------------------------------------------------------


def test_mse_mae_rmse_by_hand():
    y, p = [3, 4, 5, 1], [2, 4, 4.5, 3]
    # errors -1, 0, -0.5, 2 -> squared 1, 0, 0.25, 4; absolute 1, 0, 0.5, 2
    assert mse(y, p) == pytest.approx(5.25 / 4)
    assert mae(y, p) == pytest.approx(3.5 / 4)
    assert rmse(y, p) == pytest.approx(math.sqrt(5.25 / 4))
    w = [1, 0, 0, 3]
    assert mse(y, p, sample_weight=w) == pytest.approx((1 + 12) / 4)
    assert mae(y, p, sample_weight=w) == pytest.approx((1 + 6) / 4)
    assert rmse(y, p, sample_weight=w) == pytest.approx(math.sqrt(13 / 4))


def test_pointwise_return_python_floats_and_accept_series():
    y = pd.Series([1.0, 2.0, 3.0], dtype="Float64")
    p = np.array([1, 2, 4])
    for func in (mse, mae, rmse):
        assert type(func(y, p)) is float
    assert mse(y, p) == pytest.approx(1 / 3)
    assert type(auc([0, 1], [0.1, 0.2])) is float
    assert type(accuracy([0, 1], [True, False])) is float


def test_accuracy_by_hand_threshold_and_weights():
    y = [1, 0, 1, 1, 0]
    prob = [0.9, 0.5, 0.49, 0.7, 0.1]
    # >= 0.5 predicts 1, 1, 0, 1, 0 -> right, wrong, wrong, right, right
    assert accuracy(y, prob) == pytest.approx(3 / 5)
    assert accuracy(y, prob, threshold=0.4) == pytest.approx(4 / 5)  # 1,1,1,1,0
    assert accuracy(y, prob, threshold=0.95) == pytest.approx(2 / 5)
    assert accuracy(y, prob, sample_weight=[1, 1, 1, 1, 4]) == pytest.approx(6 / 8)
    assert accuracy(y, [1, 0, 1, 1, 0]) == 1.0  # labels work with the default threshold
    assert accuracy(np.array(y, dtype=bool), prob) == pytest.approx(3 / 5)


def test_precision_recall_f1_by_hand():
    y = [1, 1, 1, 0, 0, 0]
    prob = [0.9, 0.8, 0.1, 0.7, 0.2, 0.3]
    # predicted positive: 0, 1, 3 -> TP 2, FP 1, FN 1
    result = precision_recall_f1(y, prob)
    assert result == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert result.precision == result[0]
    weighted = precision_recall_f1(y, prob, sample_weight=[1, 1, 2, 3, 1, 1])
    # TP 2, FP 3, FN 2 -> P 2/5, R 2/4, F1 = 2*0.4*0.5/0.9
    assert weighted == pytest.approx((0.4, 0.5, 0.4 / 0.9))


def test_precision_recall_f1_zero_division_is_zero():
    assert precision_recall_f1([1, 0, 1], [0.1, 0.2, 0.3]) == (0.0, 0.0, 0.0)
    assert precision_recall_f1([0, 0, 0], [0.9, 0.2, 0.3]) == (0.0, 0.0, 0.0)


def test_auc_by_hand_with_ties():
    # positives 0.8, 0.4; negatives 0.4, 0.1, 0.9
    y = [1, 1, 0, 0, 0]
    s = [0.8, 0.4, 0.4, 0.1, 0.9]
    # 0.8 beats 0.4 and 0.1 (2); 0.4 ties 0.4 (0.5) and beats 0.1 (1) -> 3.5 / 6
    assert auc(y, s) == pytest.approx(3.5 / 6)
    # weighting the 0.9 negative by 0 removes it from the pairs: 3.5 / 4
    assert auc(y, s, sample_weight=[1, 1, 1, 1, 0]) == pytest.approx(3.5 / 4)
    assert auc([0, 1], [1.0, 1.0]) == 0.5
    assert auc([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert auc([0, 0, 1, 1], [4, 3, 2, 1]) == 0.0


# --------------------------------------------------------------------------------------
# Pointwise: agreement with scikit-learn and properties
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_pointwise_agree_with_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 200
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    score = np.round(rng.normal(size=n) + y, 1)  # rounding makes ties
    w = rng.exponential(size=n)
    rating = rng.integers(1, 6, n)
    pred = rng.normal(3, 1, n)
    assert auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert auc(y, score, sample_weight=w) == pytest.approx(roc_auc_score(y, score, sample_weight=w))
    assert mse(rating, pred, sample_weight=w) == pytest.approx(
        mean_squared_error(rating, pred, sample_weight=w))
    assert mae(rating, pred, sample_weight=w) == pytest.approx(
        mean_absolute_error(rating, pred, sample_weight=w))
    labels = (score >= 0.5).astype(int)
    assert accuracy(y, score, sample_weight=w) == pytest.approx(
        accuracy_score(y, labels, sample_weight=w))
    p, r, f, _ = precision_recall_fscore_support(y, labels, average="binary", sample_weight=w,
                                                 zero_division=0)
    assert precision_recall_f1(y, score, sample_weight=w) == pytest.approx((p, r, f))


# (outcome, score, weight) rows; small integer scores make ties common
binary_scored = st.lists(st.tuples(st.integers(0, 1), st.integers(-3, 3), st.floats(0.01, 10)),
                         min_size=2, max_size=30)


def columns(rows):
    y, s, w = (np.array(v) for v in zip(*rows))
    y[:2] = [0, 1]  # both classes present
    return y, s, w


@FAST
@given(binary_scored)
def test_auc_property_matches_sklearn_and_flips(data):
    y, s, w = columns(data)
    value = auc(y, s, sample_weight=w)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    # reversing the scores swaps "beats" and "loses"; ties stay halves
    assert value + auc(y, -s, sample_weight=w) == pytest.approx(1.0)
    order = np.random.default_rng(len(y)).permutation(len(y))
    assert auc(y[order], s[order], sample_weight=w[order]) == pytest.approx(value)


@FAST
@given(binary_scored)
def test_classification_metrics_bounded_and_rmse_squares_to_mse(data):
    y, s, w = columns(data)
    assert 0.0 <= accuracy(y, s, threshold=0.0, sample_weight=w) <= 1.0
    assert all(0.0 <= v <= 1.0 for v in precision_recall_f1(y, s, threshold=0.0))
    assert mse(y, s) >= 0.0
    assert rmse(y, s) ** 2 == pytest.approx(mse(y, s))
    assert mae(y, y) == 0.0


# --------------------------------------------------------------------------------------
# Pointwise: bad input
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", [mse, mae, rmse])
def test_regression_metrics_reject_bad_input(func):
    with pytest.raises(ValueError, match="y_true and y_pred must have the same length, got 2 and"):
        func([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="y_pred holds 1 NaN"):
        func([1, 2], [1, np.nan])
    with pytest.raises(ValueError, match="y_true is empty"):
        func([], [])
    with pytest.raises(ValueError, match="y_true must be numeric"):
        func(["a", "b"], [1, 2])
    with pytest.raises(ValueError, match=r"y_pred must be one-dimensional, got shape \(2, 1\)"):
        func([1, 2], [[1], [2]])
    with pytest.raises(ValueError, match="sample_weight and y_true must have the same length"):
        func([1, 2], [1, 2], sample_weight=[1])
    with pytest.raises(ValueError, match="sample_weight must be non-negative; found -1.0"):
        func([1, 2], [1, 2], sample_weight=[1, -1])
    with pytest.raises(ValueError, match="sample_weight sums to 0"):
        func([1, 2], [1, 2], sample_weight=[0, 0])
    with pytest.raises(ValueError, match="sample_weight holds 1 NaN"):
        func([1, 2], [1, 2], sample_weight=[np.nan, 1])


def test_classification_metrics_reject_bad_input():
    with pytest.raises(ValueError, match=r"y_true must be binary \(0/1\)"):
        accuracy([0, 2], [0.1, 0.9])
    with pytest.raises(ValueError, match="y_true and y_pred_or_prob must have the same length"):
        precision_recall_f1([0, 1], [0.1])
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        accuracy([0, 1], [0.1, 0.9], threshold=float("nan"))
    with pytest.raises(ValueError, match="y_pred_or_prob holds 1 NaN"):
        accuracy([0, 1], [np.nan, 0.9])


def test_auc_rejects_single_class_and_bad_input():
    with pytest.raises(ValueError, match=r"both classes.*3 positive\(s\) and 0 negative\(s\)"):
        auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="both classes.*total sample_weight 2 and 0"):
        auc([1, 1, 0], [0.1, 0.2, 0.3], sample_weight=[1, 1, 0])
    with pytest.raises(ValueError, match="y_true and scores must have the same length"):
        auc([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="scores holds 1 NaN"):
        auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="y_true must be binary"):
        auc([0, 3], [0.1, 0.2])


# --------------------------------------------------------------------------------------
# Ranking: hand-computed
# --------------------------------------------------------------------------------------


@pytest.fixture
def small():
    """User 1: list 10, 11, 12 (relevant 10, 12). User 2: list 12, 10, 11 (relevant 10)."""
    recs = frame([(1, 10, 0.9), (1, 11, 0.8), (1, 12, 0.1),
                  (2, 10, 0.3), (2, 11, 0.2), (2, 12, 0.7)], [U, I, S])
    rel = frame([(1, 10), (1, 12), (2, 10)], [U, I])
    return recs, rel


def test_ranking_by_hand_k2(small):
    recs, rel = small
    table = ranking_metrics_by_user(recs, rel, k=2)
    assert table.index.tolist() == [1, 2]
    assert table["n_relevant"].tolist() == [2, 1]
    assert table["hits"].tolist() == [1, 1]
    # user 1: hit at 1 of 2 relevant; user 2: hit at 2 of 1 relevant
    expected = {
        "precision_at_k": [1 / 2, 1 / 2],
        "recall_at_k": [1 / 2, 1.0],
        "f1_at_k": [2 * 1 / (2 + 2), 2 * 1 / (2 + 1)],
        "ndcg_at_k": [1 / (1 + 1 / LOG2_3), (1 / LOG2_3) / 1],
        "map_at_k": [1.0 / 2, (1 / 2) / 1],
        "hit_rate_at_k": [1.0, 1.0],
    }
    for name, values in expected.items():
        assert table[name].tolist() == pytest.approx(values), name
        assert RANKING[name](recs, rel, k=2) == pytest.approx(np.mean(values)), name


def test_ranking_by_hand_k3_and_k_beyond_list(small):
    recs, rel = small
    # user 1: hits at 1 and 3; user 2: hit at 2
    assert precision_at_k(recs, rel, k=3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert recall_at_k(recs, rel, k=3) == pytest.approx(1.0)
    assert map_at_k(recs, rel, k=3) == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    ndcg_user1 = (1 + 1 / 2) / (1 + 1 / LOG2_3)
    assert ndcg_at_k(recs, rel, k=3) == pytest.approx((ndcg_user1 + 1 / LOG2_3) / 2)
    # a list shorter than k: precision still divides by k, the rest are unchanged
    assert precision_at_k(recs, rel, k=5) == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert ndcg_at_k(recs, rel, k=5) == pytest.approx(ndcg_at_k(recs, rel, k=3))
    assert map_at_k(recs, rel, k=5) == pytest.approx(map_at_k(recs, rel, k=3))


def test_hit_rate_and_f1_by_hand(small):
    recs, rel = small
    assert hit_rate_at_k(recs, rel, k=1) == 0.5
    assert f1_at_k(recs, rel, k=1) == pytest.approx((2 / 3 + 0) / 2)


def test_graded_ndcg_by_hand_linear_gain(small):
    recs, _ = small
    graded = frame([(1, 10, 5), (1, 11, 0), (1, 12, 3), (2, 10, 4)], [U, I, schema.RATING])
    # user 1 list (10, 11): gains 5, 0 -> DCG 5; ideal (5, 3) -> 5 + 3/log2(3)
    # user 2 list (12, 10): gains 0, 4 -> 4/log2(3); ideal 4
    expected = (5 / (5 + 3 / LOG2_3) + 1 / LOG2_3) / 2
    assert ndcg_at_k(recs, graded, k=2, relevance_col=schema.RATING) == pytest.approx(expected)
    # exponential gain 2^rel - 1 is a column away
    exp_gain = graded.assign(gain=2.0 ** graded[schema.RATING] - 1)
    expected_exp = (31 / (31 + 7 / LOG2_3) + 1 / LOG2_3) / 2
    assert ndcg_at_k(recs, exp_gain, k=2, relevance_col="gain") == pytest.approx(expected_exp)
    # the grade-0 row is not relevant for the binary metrics either
    assert recall_at_k(recs, graded, k=2, relevance_col=schema.RATING) == pytest.approx(
        (1 / 2 + 1) / 2)
    assert ranking_metrics_by_user(recs, graded, k=2, relevance_col=schema.RATING)[
        "n_relevant"].tolist() == [2, 1]


def test_rank_column_orders_ascending_and_wins_over_score(small):
    recs, rel = small
    ranked = recs.assign(**{R: [1, 2, 3, 2, 3, 1]}).drop(columns=S)
    assert evaluate_ranking(ranked, rel, k=2) == evaluate_ranking(recs, rel, k=2)
    # with both columns, rank decides: user 1's list becomes 12, 10, 11 (two hits in the top 2)
    both = recs.assign(**{R: [2, 3, 1, 2, 3, 1]})
    assert precision_at_k(both, rel, k=2) == pytest.approx((1 + 1 / 2) / 2)
    assert precision_at_k(recs, rel, k=2) == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_which_users_count(small):
    recs, rel = small
    # user 3 has a relevant item but no recommendations: counts, scores 0
    rel3 = pd.concat([rel, frame([(3, 11)], [U, I])], ignore_index=True)
    assert evaluate_ranking(recs, rel3, k=2)["n_users"] == 3
    for name, func in RANKING.items():
        assert func(recs, rel3, k=2) == pytest.approx(func(recs, rel, k=2) * 2 / 3), name
    # user 4 has recommendations but nothing relevant: does not count
    recs4 = pd.concat([recs, frame([(4, 10, 0.5), (4, 11, 0.4)], [U, I, S])], ignore_index=True)
    assert evaluate_ranking(recs4, rel, k=2) == evaluate_ranking(recs, rel, k=2)


def test_ties_broken_by_item_id_ascending():
    rel = frame([(1, 7)], [U, I])
    tied = frame([(1, 7, 0.5), (1, 3, 0.5)], [U, I, S])
    assert precision_at_k(tied, rel, k=1) == 0.0  # item 3 comes first
    tied_low = frame([(1, 7, 0.5), (1, 9, 0.5)], [U, I, S])
    assert precision_at_k(tied_low, rel, k=1) == 1.0  # item 7 comes first
    # string ids sort as strings
    rel_s = frame([("u", "b")], [U, I])
    tied_s = frame([("u", "b", 1.0), ("u", "a", 1.0), ("u", "c", 1.0)], [U, I, S])
    assert ndcg_at_k(tied_s, rel_s, k=3) == pytest.approx(1 / LOG2_3)


def test_metrics_ignore_index_and_extra_columns(small):
    recs, rel = small
    messy = recs.assign(extra="x").set_index(pd.Index(list("abcdef")))
    assert evaluate_ranking(messy, rel.assign(note=1), k=2) == evaluate_ranking(recs, rel, k=2)


def test_evaluate_ranking_equals_functions_and_adds_extras(small):
    recs, rel = small
    result = evaluate_ranking(recs, rel, k=2, n_items=6,
                              item_popularity=pd.Series({10: 3.0, 11: 1.0, 12: 2.0}))
    assert set(result) == {*RANKING, "n_users", "catalogue_coverage", "mean_popularity"}
    for name, func in RANKING.items():
        assert result[name] == func(recs, rel, k=2)
        assert type(result[name]) is float
    assert result["n_users"] == 2
    assert result["catalogue_coverage"] == pytest.approx(3 / 6)
    # top 2: user 1 items 10, 11 -> 2; user 2 items 12, 10 -> 2.5
    assert result["mean_popularity"] == pytest.approx(2.25)


# --------------------------------------------------------------------------------------
# Beyond accuracy: hand-computed
# --------------------------------------------------------------------------------------


def test_catalogue_coverage_by_hand(small):
    recs, _ = small
    assert catalogue_coverage(recs, n_items=3) == 1.0
    assert catalogue_coverage(recs, n_items=10) == pytest.approx(0.3)
    assert catalogue_coverage(recs, n_items=10, k=1) == pytest.approx(0.2)  # items 10 and 12
    assert catalogue_coverage(recs[[U, I]], n_items=4) == pytest.approx(0.75)  # no score needed


def test_mean_popularity_by_hand(small):
    recs, _ = small
    series = pd.Series({10: 10.0, 11: 4.0, 12: 1.0, 13: 99.0})
    table = series.rename_axis(I).rename(schema.POPULARITY).reset_index()
    assert mean_popularity(recs, series) == pytest.approx(5.0)
    assert mean_popularity(recs, table) == pytest.approx(5.0)
    assert mean_popularity(recs, series, k=1) == pytest.approx((10 + 1) / 2)
    # each user counts once, whatever the length of the list
    unequal = frame([(1, 10), (2, 11), (2, 12), (2, 11 + 2)], [U, I])
    assert mean_popularity(unequal, series) == pytest.approx((10 + (4 + 1 + 99) / 3) / 2)


# --------------------------------------------------------------------------------------
# Ranking: agreement with scikit-learn's ndcg_score
# --------------------------------------------------------------------------------------


def dense_to_frames(relevance: np.ndarray, scores: np.ndarray):
    n_users, n_items = relevance.shape
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    recs = pd.DataFrame({U: users, I: items, S: scores.ravel()})
    rel = pd.DataFrame({U: users, I: items, schema.RATING: relevance.ravel()})
    return recs, rel


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 3, 5, 20])
def test_ndcg_agrees_with_sklearn(seed, k):
    rng = np.random.default_rng(seed)
    relevance = rng.integers(0, 4, size=(30, 12))
    relevance[:, 0] = np.maximum(relevance[:, 0], 1)  # every user has a relevant item
    scores = rng.normal(size=relevance.shape)  # continuous: no ties
    recs, rel = dense_to_frames(relevance, scores)
    ours = ndcg_at_k(recs, rel, k=k, relevance_col=schema.RATING)
    assert ours == pytest.approx(ndcg_score(relevance, scores, k=k))
    # binary relevance is the special case of 0/1 grades
    binary = (relevance >= 2).astype(int)
    binary[:, 0] = 1
    recs_b, rel_b = dense_to_frames(binary, scores)
    rel_b = rel_b.loc[rel_b[schema.RATING] > 0, [U, I]]
    assert ndcg_at_k(recs_b, rel_b, k=k) == pytest.approx(ndcg_score(binary, scores, k=k))


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 8), st.integers(1, 8), st.integers(1, 10))
def test_ndcg_agrees_with_sklearn_property(seed, n_users, n_items, k):
    rng = np.random.default_rng(seed)
    relevance = rng.integers(0, 5, size=(n_users, n_items)).astype(float)
    relevance[np.arange(n_users), rng.integers(0, n_items, n_users)] += 1
    scores = rng.permuted(np.tile(np.arange(n_items, dtype=float), (n_users, 1)), axis=1)
    recs, rel = dense_to_frames(relevance, scores)
    if n_items == 1:  # sklearn refuses a single label; the answer is then 1
        assert ndcg_at_k(recs, rel, k=k, relevance_col=schema.RATING) == 1.0
        return
    assert ndcg_at_k(recs, rel, k=k, relevance_col=schema.RATING) == pytest.approx(
        ndcg_score(relevance, scores, k=k))


# --------------------------------------------------------------------------------------
# Ranking: properties
# --------------------------------------------------------------------------------------


@st.composite
def ranking_problem(draw):
    """Random recommendations (small integer scores: many ties) and graded relevance."""
    n_users = draw(st.integers(1, 5))
    n_items = draw(st.integers(1, 8))
    pairs = [(u, i) for u in range(n_users) for i in range(n_items)]
    rec_mask = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    scores = draw(st.lists(st.integers(0, 3), min_size=len(pairs), max_size=len(pairs)))
    grades = draw(st.lists(st.integers(0, 3), min_size=len(pairs), max_size=len(pairs)))
    rel_mask = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    rec_rows = [(u, i, float(s)) for (u, i), m, s in zip(pairs, rec_mask, scores) if m]
    rel_rows = [(u, i, g) for (u, i), m, g in zip(pairs, rel_mask, grades) if m]
    if not rec_rows:
        rec_rows = [pairs[0] + (0.0,)]
    if not any(g > 0 for *_, g in rel_rows):
        rel_rows = [r for r in rel_rows if r[:2] != pairs[-1]] + [pairs[-1] + (1,)]
    recs = frame(rec_rows, [U, I, S])
    rel = frame(rel_rows, [U, I, schema.RATING])
    return recs, rel, draw(st.integers(1, 10))


def evaluate_quietly(recs, rel, k, **kwargs):
    """evaluate_ranking, with numpy's division warnings as errors and the no-overlap warning off."""
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "none of the users ... has a row"
        return evaluate_ranking(recs, rel, k, **kwargs)


@FAST
@given(ranking_problem())
def test_ranking_metrics_bounded_and_consistent(problem):
    recs, rel, k = problem
    for relevance_col in (None, schema.RATING):
        result = evaluate_quietly(recs, rel, k, relevance_col=relevance_col)
        for name in RANKING:
            assert 0.0 <= result[name] <= 1.0 + 1e-12, name
        # a hit somewhere in the list is needed for any other metric to be positive
        if result["hit_rate_at_k"] == 0:
            assert all(result[name] == 0 for name in RANKING)
        assert result["precision_at_k"] <= result["hit_rate_at_k"]
        assert result["map_at_k"] <= result["hit_rate_at_k"]


@FAST
@given(ranking_problem(), st.randoms(use_true_random=False))
def test_ranking_metrics_invariant_to_row_order(problem, rnd):
    recs, rel, k = problem
    seed = rnd.randint(0, 2**31)
    shuffled_recs = recs.sample(frac=1.0, random_state=seed)
    shuffled_rel = rel.sample(frac=1.0, random_state=seed + 1)
    for relevance_col in (None, schema.RATING):
        assert evaluate_quietly(shuffled_recs, shuffled_rel, k, relevance_col=relevance_col) \
            == evaluate_quietly(recs, rel, k, relevance_col=relevance_col)
    assert catalogue_coverage(shuffled_recs, 8, k=k) == catalogue_coverage(recs, 8, k=k)


@FAST
@given(ranking_problem())
def test_ties_resolved_as_item_id_ascending(problem):
    recs, rel, k = problem
    # within equal scores, item id ascending: the same as an explicit rank in that order
    explicit = recs.sort_values([U, S, I], ascending=[True, False, True])
    explicit = explicit.assign(**{R: explicit.groupby(U).cumcount() + 1}).drop(columns=S)
    assert evaluate_quietly(explicit, rel, k, relevance_col=schema.RATING) \
        == evaluate_quietly(recs, rel, k, relevance_col=schema.RATING)


@FAST
@given(ranking_problem())
def test_perfect_ranking(problem):
    _, rel, k = problem
    positive = rel.loc[rel[schema.RATING] > 0]
    # score each user's relevant items by grade, above a few irrelevant extras
    extras = frame([(u, 100 + j, -1.0) for u in positive[U].unique() for j in range(3)], [U, I, S])
    perfect = pd.concat([positive[[U, I]].assign(**{S: positive[schema.RATING].astype(float)}),
                         extras], ignore_index=True)
    result = evaluate_quietly(perfect, rel, k, relevance_col=schema.RATING)
    assert result["ndcg_at_k"] == pytest.approx(1.0)
    assert result["map_at_k"] == pytest.approx(1.0)
    assert result["hit_rate_at_k"] == 1.0
    n_rel = positive.groupby(U).size().to_numpy()
    assert result["precision_at_k"] == pytest.approx(np.mean(np.minimum(k, n_rel) / k))
    assert result["recall_at_k"] == pytest.approx(np.mean(np.minimum(k, n_rel) / n_rel))


# --------------------------------------------------------------------------------------
# Ranking and beyond accuracy: bad input
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*RANKING, "evaluate_ranking", "ranking_metrics_by_user"])
def test_ranking_rejects_bad_k(small, name):
    recs, rel = small
    func = getattr(metrics, name)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        func(recs, rel, k=0)
    with pytest.raises(ValueError, match="k must be >= 1, got -3"):
        func(recs, rel, k=-3)
    with pytest.raises(TypeError, match="k must be an integer, got 2.5"):
        func(recs, rel, k=2.5)


def test_ranking_rejects_nan_scores_and_ids(small):
    recs, rel = small
    recs = recs.copy()
    recs.loc[2, S] = np.nan
    with pytest.raises(ValueError, match="column 'score' of recommendations holds 1 missing"):
        ndcg_at_k(recs, rel, k=2)
    ranked = small[0].assign(**{R: [1, 2, np.nan, 1, 2, 3]})
    with pytest.raises(ValueError, match="column 'rank' of recommendations holds 1 missing"):
        ndcg_at_k(ranked, rel, k=2)
    bad_user = small[0].astype({U: float})
    bad_user.loc[0, U] = np.nan
    with pytest.raises(ValueError, match="column 'user_id' of recommendations holds 1 missing ID"):
        precision_at_k(bad_user, rel)
    bad_item = rel.astype({I: float})
    bad_item.loc[0, I] = np.nan
    with pytest.raises(ValueError, match="column 'item_id' of relevant holds 1 missing ID"):
        precision_at_k(small[0], bad_item)


def test_ranking_rejects_empty_frames_and_missing_columns(small):
    recs, rel = small
    with pytest.raises(ValueError, match="recommendations is empty"):
        recall_at_k(recs.iloc[:0], rel)
    with pytest.raises(ValueError, match="relevant is empty"):
        recall_at_k(recs, rel.iloc[:0])
    with pytest.raises(ValueError, match=r"recommendations needs a 'score' or a 'rank' column"):
        recall_at_k(recs.drop(columns=S), rel)
    with pytest.raises(ValueError, match=r"relevant is missing required column\(s\) \['item_id'\]"):
        recall_at_k(recs, rel.drop(columns=I))
    with pytest.raises(ValueError,
                       match=r"recommendations is missing required column\(s\) \['user_id'\]"):
        recall_at_k(recs.drop(columns=U), rel)
    with pytest.raises(ValueError, match=r"relevant is missing required column\(s\) \['rating'\]"):
        ndcg_at_k(recs, rel, relevance_col=schema.RATING)
    with pytest.raises(TypeError, match="recommendations must be a pandas DataFrame, got ndarray"):
        recall_at_k(recs.to_numpy(), rel)


def test_ranking_rejects_duplicates_and_bad_relevance(small):
    recs, rel = small
    with pytest.raises(ValueError, match=r"recommendations lists 1 \(user, item\) pair\(s\) more "
                                         r"than once, e.g. user_id=1, item_id=10"):
        map_at_k(pd.concat([recs, recs.iloc[:1]]), rel)
    with pytest.raises(ValueError, match=r"relevant lists 1 \(user, item\) pair"):
        map_at_k(recs, pd.concat([rel, rel.iloc[-1:]]))
    with pytest.raises(ValueError, match="column 'rating' of relevant must be non-negative; found"):
        ndcg_at_k(recs, rel.assign(rating=[1, -2, 3]), relevance_col="rating")
    with pytest.raises(ValueError, match="relevant has no row with positive 'rating'"):
        ndcg_at_k(recs, rel.assign(rating=0), relevance_col="rating")
    with pytest.raises(ValueError, match="column 'rating' of relevant holds 1 missing"):
        ndcg_at_k(recs, rel.assign(rating=[1, np.nan, 3]), relevance_col="rating")
    with pytest.raises(ValueError, match="column 'rating' of relevant must be numeric"):
        ndcg_at_k(recs, rel.assign(rating=list("abc")), relevance_col="rating")


def test_ranking_id_mismatch_is_loud(small):
    recs, rel = small
    with pytest.raises(ValueError, match="the 'user_id' columns of recommendations and relevant "
                                         "cannot be matched: dtypes str and int64"):
        ndcg_at_k(recs.astype({U: str}), rel)
    with pytest.warns(UserWarning, match="none of the 2 user"):
        assert ndcg_at_k(recs.assign(**{U: recs[U] + 100}), rel) == 0.0


def test_beyond_accuracy_rejects_bad_input(small):
    recs, _ = small
    popularity = pd.Series({10: 1.0, 11: 2.0})
    with pytest.raises(ValueError, match="n_items must be >= 1, got 0"):
        catalogue_coverage(recs, 0)
    with pytest.raises(ValueError, match="hold 3 distinct items, more than n_items=2"):
        catalogue_coverage(recs, 2)
    with pytest.raises(ValueError, match="k must be >= 1"):
        catalogue_coverage(recs, 5, k=0)
    with pytest.raises(ValueError, match="recommendations is empty"):
        catalogue_coverage(recs.iloc[:0], 5)
    with pytest.raises(ValueError, match=r"recommendations lists 1 \(user, item\) pair"):
        mean_popularity(pd.concat([recs, recs.iloc[:1]]), pd.Series({10: 1.0, 11: 2.0, 12: 3.0}))
    with pytest.raises(ValueError, match=r"item_popularity has no value for 2 recommended "
                                         r"row\(s\), e.g. item\(s\) \[12\]"):
        mean_popularity(recs, popularity)
    with pytest.raises(ValueError, match="more than one value for item 10"):
        mean_popularity(recs, pd.Series([1.0, 2.0, 3.0, 4.0], index=[10, 10, 11, 12]))
    with pytest.raises(ValueError, match="column 'popularity' of item_popularity holds 1 missing"):
        mean_popularity(recs, pd.Series({10: 1.0, 11: np.nan, 12: 3.0}))
    with pytest.raises(ValueError,
                       match=r"item_popularity is missing required column\(s\) \['popularity'\]"):
        mean_popularity(recs, pd.DataFrame({I: [10, 11, 12]}))
    with pytest.raises(TypeError, match="item_popularity must be a Series"):
        mean_popularity(recs, {10: 1.0})
    with pytest.raises(ValueError, match="item_popularity is empty"):
        mean_popularity(recs, pd.Series([], dtype=float))


# --------------------------------------------------------------------------------------
# Scale: the computation is vectorised (no loop over users)
# --------------------------------------------------------------------------------------


def test_ten_thousand_users_agree_with_sklearn():
    rng = np.random.default_rng(7)
    relevance = rng.integers(0, 3, size=(10_000, 12))
    relevance[:, 0] = np.maximum(relevance[:, 0], 1)
    scores = rng.normal(size=relevance.shape)
    recs, rel = dense_to_frames(relevance, scores)
    result = evaluate_ranking(recs, rel, k=10, relevance_col=schema.RATING)
    assert result["n_users"] == 10_000
    assert result["ndcg_at_k"] == pytest.approx(ndcg_score(relevance, scores, k=10))


# =========================================================================== fairness and diversity
from causalrec.metrics import (exposure_by_group, exposure_gap, intra_list_diversity,  # noqa: E402
                               position_weight, ranking_metrics_by_group)


def test_position_weight_is_the_ndcg_discount():
    np.testing.assert_allclose(position_weight([1, 2, 3, 10]), [1.0, 1 / math.log2(3), 0.5, 1 / math.log2(11)])
    with pytest.raises(ValueError, match=">= 1"):
        position_weight([0, 1])
    with pytest.raises(ValueError, match=">= 1"):
        position_weight([1.5])
    with pytest.raises(ValueError, match="dtype"):
        position_weight(["a"])


@pytest.fixture
def exposure_case():
    # user 1 sees 10 then 11, user 2 sees 10 then 12 (by score, not by row order)
    recs = pd.DataFrame({schema.USER: [1, 2, 1, 2], schema.ITEM: [11, 12, 10, 10],
                         schema.SCORE: [0.2, 0.1, 0.9, 0.8]})
    groups = pd.Series({10: "popular", 11: "tail", 12: "tail", 13: "tail"})
    return recs, groups


def test_exposure_by_group_hand_computed(exposure_case):
    recs, groups = exposure_case
    table = exposure_by_group(recs, groups)
    w2 = 1 / math.log2(3)
    assert table.loc["popular", "exposure"] == pytest.approx(2.0)
    assert table.loc["tail", "exposure"] == pytest.approx(2 * w2)
    assert table.loc["popular", "exposure_share"] == pytest.approx(1 / (1 + w2))
    assert table["exposure_share"].sum() == pytest.approx(1.0)
    assert table.loc["tail", "item_share"] == pytest.approx(0.75)
    assert table["n_items"].tolist() == [1, 3]
    top1 = exposure_by_group(recs, groups, k=1)                         # only item 10 is left
    assert top1.loc["popular", "exposure_share"] == 1.0 and top1.loc["tail", "exposure"] == 0.0
    merit = exposure_by_group(recs, groups, reference=pd.Series({"popular": 1.0, "tail": 3.0}))
    np.testing.assert_allclose(merit["reference_share"], [0.25, 0.75])


def test_exposure_gap_is_the_total_variation_distance(exposure_case):
    recs, groups = exposure_case
    share = 1 / (1 + 1 / math.log2(3))
    assert exposure_gap(recs, groups) == pytest.approx(share - 0.25)
    assert exposure_gap(recs, groups, reference=pd.Series({"popular": share, "tail": 1 - share})) == pytest.approx(0.0)
    assert exposure_gap(recs, groups, k=1) == pytest.approx(0.75)
    three = pd.Series({10: "a", 11: "b", 12: "c", 13: "c"})
    table = exposure_by_group(recs, three)
    assert exposure_gap(recs, three) == pytest.approx(
        0.5 * (table["exposure_share"] - table["item_share"]).abs().sum())
    assert 0.0 <= exposure_gap(recs, three) <= 1.0


def test_exposure_functions_reject_bad_input(exposure_case):
    recs, groups = exposure_case
    with pytest.raises(ValueError, match="no group for 1 row"):
        exposure_by_group(recs, groups.drop(12))
    with pytest.raises(TypeError, match="pandas Series"):
        exposure_by_group(recs, groups.to_dict())
    with pytest.raises(ValueError, match="more than one group"):
        exposure_by_group(recs, pd.concat([groups, pd.Series({10: "tail"})]))
    with pytest.raises(ValueError, match="missing \\['tail'\\]"):
        exposure_gap(recs, groups, reference=pd.Series({"popular": 1.0}))
    with pytest.raises(ValueError, match="non-negative"):
        exposure_gap(recs, groups, reference=pd.Series({"popular": -1.0, "tail": 1.0}))
    with pytest.raises(ValueError, match="'score' or a 'rank'"):
        exposure_gap(recs.drop(columns=schema.SCORE), groups)


def test_ranking_metrics_by_user_group_are_group_means_of_the_per_user_metrics():
    rng = np.random.default_rng(4)
    users, items = np.meshgrid(np.arange(12), np.arange(8), indexing="ij")
    recs = pd.DataFrame({schema.USER: users.ravel(), schema.ITEM: items.ravel(),
                         schema.SCORE: rng.random(users.size)})
    relevant = recs.sample(30, random_state=1)[[schema.USER, schema.ITEM]]
    groups = pd.Series(np.arange(12) % 3, index=np.arange(12))
    table = ranking_metrics_by_group(recs, relevant, groups, k=4)
    per_user = ranking_metrics_by_user(recs, relevant, k=4)
    expected = per_user.groupby(groups.loc[per_user.index].to_numpy())["ndcg_at_k"].mean()
    np.testing.assert_allclose(table["ndcg_at_k"], expected)
    assert table["n_users"].sum() == len(per_user)


def test_ranking_metrics_by_item_group_only_count_that_groups_items():
    recs = pd.DataFrame({schema.USER: [1, 1, 1], schema.ITEM: [10, 11, 12], schema.RANK: [1, 2, 3]})
    relevant = pd.DataFrame({schema.USER: [1, 1], schema.ITEM: [10, 12]})
    groups = pd.Series({10: "popular", 11: "tail", 12: "tail"})
    table = ranking_metrics_by_group(recs, relevant, groups, by="item", k=3)
    assert table.loc["popular", "ndcg_at_k"] == pytest.approx(1.0)          # its relevant item is first
    assert table.loc["tail", "ndcg_at_k"] == pytest.approx(0.5)             # 1/log2(4): third instead of first
    assert table.loc["tail", "recall_at_k"] == 1.0 and table["n_users"].tolist() == [1, 1]
    with pytest.raises(ValueError, match="by must be"):
        ranking_metrics_by_group(recs, relevant, groups, by="items")
    with pytest.raises(ValueError, match="no group"):
        ranking_metrics_by_group(recs, relevant, groups.drop(12), by="item")
    with pytest.raises(ValueError, match="no group"):
        ranking_metrics_by_group(recs, relevant, pd.Series({2: "a"}), by="user")


def test_intra_list_diversity_hand_computed():
    vectors = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    twins = pd.DataFrame({schema.USER: [0, 0], schema.ITEM: [0, 1], schema.RANK: [1, 2]})
    assert intra_list_diversity(twins, vectors) == pytest.approx(0.0)
    three = pd.DataFrame({schema.USER: [0, 0, 0], schema.ITEM: [0, 2, 3], schema.RANK: [1, 2, 3]})
    c = 1 / math.sqrt(2)
    assert intra_list_diversity(three, vectors) == pytest.approx(((1 - 0) + (1 - c) + (1 - c)) / 3)
    assert intra_list_diversity(three, vectors, k=2) == pytest.approx(1.0)
    both = pd.concat([twins.assign(user_id=5), three])
    assert intra_list_diversity(both, vectors) == pytest.approx(((1 - 0) + 2 * (1 - c)) / 3 / 2)
    single = pd.DataFrame({schema.USER: [7], schema.ITEM: [2], schema.RANK: [1]})
    assert intra_list_diversity(pd.concat([three, single]), vectors) == pytest.approx(
        intra_list_diversity(three, vectors))                              # one-item lists have no pairs


def test_intra_list_diversity_rejects_bad_input():
    vectors = np.eye(3)
    recs = pd.DataFrame({schema.USER: [0, 0], schema.ITEM: [0, 5], schema.RANK: [1, 2]})
    with pytest.raises(ValueError, match="item ids must be integers in \\[0, 3\\)"):
        intra_list_diversity(recs, vectors)
    with pytest.raises(ValueError, match="two or more"):
        intra_list_diversity(recs.head(1), vectors)
    with pytest.raises(ValueError, match="NaN or infinite"):
        intra_list_diversity(recs.assign(item_id=[0, 1]), np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        intra_list_diversity(recs.assign(item_id=[0, 1]), np.ones(3))
