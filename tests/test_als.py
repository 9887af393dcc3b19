"""Tests for causalrec.als: batched alternating least squares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import causalrec as cr
from causalrec import schema
from causalrec.als import ALSMatrixFactorization


def low_rank_ratings(n_users=40, n_items=30, rank=3, density=0.6, noise=0.0, seed=0):
    """Ratings of a known rank-`rank` matrix with biases, observed at random cells."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(size=(n_users, rank)), rng.normal(size=(n_items, rank))
    bu, bi = rng.normal(0, 0.5, n_users), rng.normal(0, 0.5, n_items)
    full = 3.0 + bu[:, None] + bi[None, :] + p @ q.T
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    ratings = full[users, items] + (rng.normal(0, noise, len(users)) if noise else 0.0)
    return pd.DataFrame({schema.USER: users, schema.ITEM: items, schema.RATING: ratings}), full


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


@pytest.mark.parametrize("init", ["svd", "random"])
def test_recovers_a_low_rank_matrix_including_unobserved_cells(init):
    ratings, full = low_rank_ratings()
    als = ALSMatrixFactorization(dim=3, reg=1e-4, n_sweeps=30, init=init).fit(ratings)
    users, items = np.divmod(np.arange(full.size), full.shape[1])
    predicted = als.predict(users, items).reshape(full.shape)
    observed = np.zeros(full.shape, dtype=bool)
    observed[ratings[schema.USER], ratings[schema.ITEM]] = True
    # the cells ALS never saw are predicted almost as well as the ones it fitted
    assert rmse(predicted[~observed], full[~observed]) < 0.05
    assert rmse(predicted[observed], full[observed]) < 0.02


def test_the_warm_start_is_nearly_done_after_one_sweep_where_random_starts_are_not():
    ratings, _ = low_rank_ratings(n_users=60, n_items=50, noise=0.1, seed=11)
    first = {init: ALSMatrixFactorization(dim=3, reg=0.01, n_sweeps=1, init=init).fit(ratings).history_
             for init in ("svd", "random")}
    converged = ALSMatrixFactorization(dim=3, reg=0.01, n_sweeps=40, init="random").fit(ratings).history_
    best = converged["train_rmse"].iloc[-1]
    assert first["svd"]["train_rmse"].iloc[0] < best + 0.1
    assert first["random"]["train_rmse"].iloc[0] > best + 0.5


def test_the_last_half_step_solves_every_items_ridge_regression_exactly():
    # the item step is the closed form (X^T X + reg n^e I) w = X^T y with X = [p_u, 1], y = r - mu - b_u
    ratings, _ = low_rank_ratings(noise=0.3, seed=12)
    for exponent in (0.0, 0.75, 1.0):
        als = ALSMatrixFactorization(dim=3, reg=0.2, reg_exponent=exponent, n_sweeps=3).fit(ratings)
        for item in (0, 7, 21):
            rows = ratings[ratings[schema.ITEM] == item]
            x = np.c_[als.user_factors_[rows[schema.USER]], np.ones(len(rows))]
            y = rows[schema.RATING].to_numpy() - als.global_mean_ - als.user_bias_[rows[schema.USER]]
            w = np.linalg.solve(x.T @ x + 0.2 * len(rows) ** exponent * np.eye(4), x.T @ y)
            np.testing.assert_allclose(np.r_[als.item_factors_[item], als.item_bias_[item]], w, atol=2e-4)


def test_training_rmse_never_rises_from_sweep_to_sweep():
    ratings, _ = low_rank_ratings(noise=0.3, seed=1)
    history = ALSMatrixFactorization(dim=5, reg=0.05, reg_exponent=1.0, n_sweeps=12,
                                     init="random").fit(ratings).history_
    steps = np.diff(history["train_rmse"].to_numpy())
    # each half-step minimises the penalised loss exactly; the plain RMSE follows it closely
    assert (steps <= 1e-4).all(), steps
    assert history["train_rmse"].iloc[-1] < 0.8 * history["train_rmse"].iloc[0]
    assert list(history.index) == list(range(1, 13))
    assert history["seconds"].is_monotonic_increasing


def test_history_rmses_equal_the_rmse_of_the_predictions():
    ratings, _ = low_rank_ratings(noise=0.3, seed=3)
    train, test = ratings.iloc[::2], ratings.iloc[1::2]
    als = ALSMatrixFactorization(dim=3, reg=0.05, reg_exponent=1.0, n_sweeps=20).fit(
        train, n_users=40, n_items=30, validation=test)
    on_train = rmse(als.predict(train[schema.USER], train[schema.ITEM]), train[schema.RATING])
    on_test = rmse(als.predict(test[schema.USER], test[schema.ITEM]), test[schema.RATING])
    assert als.history_["train_rmse"].iloc[-1] == pytest.approx(on_train, rel=1e-4)
    assert als.history_["val_rmse"].iloc[-1] == pytest.approx(on_test, rel=1e-4)
    # held-out error beats the global mean's by far on a low-rank matrix
    assert on_test < 0.6 * float(np.std(test[schema.RATING]))


def test_sklearn_contract_clone_params_not_fitted_and_seeds():
    ratings, _ = low_rank_ratings(noise=0.3, seed=4)
    als = ALSMatrixFactorization(dim=4, reg=0.3, n_sweeps=2, random_state=7)
    with pytest.raises(NotFittedError):
        als.predict([0], [0])
    copy = clone(als)
    assert copy.get_params() == als.get_params() and copy is not als
    assert als.fit(ratings) is als and not hasattr(copy, "history_")
    np.testing.assert_array_equal(copy.fit(ratings).item_factors_, als.item_factors_)
    other = clone(als).set_params(random_state=8).fit(ratings)
    assert not np.allclose(other.item_factors_, als.item_factors_)
    assert all(not name.endswith("_") for name in als.get_params())


def test_a_user_or_item_without_ratings_gets_the_mean_plus_the_other_bias():
    ratings, _ = low_rank_ratings(n_users=10, n_items=8, seed=5)
    als = ALSMatrixFactorization(dim=2, n_sweeps=4).fit(ratings, n_users=12, n_items=9)
    assert als.user_factors_.shape == (12, 2) and als.item_factors_.shape == (9, 2)
    np.testing.assert_allclose(als.user_factors_[10:], 0.0)
    np.testing.assert_allclose(als.item_bias_[8], 0.0)
    assert als.predict([11], [3])[0] == pytest.approx(als.global_mean_ + als.item_bias_[3])


def test_more_factors_than_the_matrix_has_rank_still_fits():
    ratings, full = low_rank_ratings(n_users=6, n_items=5, density=1.0, seed=13)
    als = ALSMatrixFactorization(dim=8, reg=1e-3, n_sweeps=5).fit(ratings)
    assert np.isfinite(als.item_factors_).all() and als.history_["train_rmse"].iloc[-1] < 0.05


def test_larger_penalty_shrinks_the_factors():
    ratings, _ = low_rank_ratings(noise=0.3, seed=6)
    norm = lambda reg: np.linalg.norm(
        ALSMatrixFactorization(dim=3, reg=reg, reg_exponent=1.0, n_sweeps=8).fit(ratings).user_factors_)
    assert norm(1.0) < 0.5 * norm(0.01)


def test_threads_are_restored_and_dataframe_untouched():
    ratings, _ = low_rank_ratings(seed=7)
    before, copy = torch.get_num_threads(), ratings.copy()
    ALSMatrixFactorization(dim=2, n_sweeps=2, n_threads=1).fit(ratings)
    assert torch.get_num_threads() == before
    pd.testing.assert_frame_equal(ratings, copy)


def test_on_the_default_worlds_randomized_ratings_it_beats_the_mean_rating():
    # ratings asked at random (no self-selection), so a random split is a fair test
    world = cr.load_default()
    asked = world.randomized.dropna(subset=[schema.RATING])
    train, test = cr.prep.random_split(asked, test_size=0.2, random_state=0)
    als = ALSMatrixFactorization(dim=8, reg=0.3, n_sweeps=8).fit(
        train, n_users=world.n_users, n_items=world.n_items, validation=test)
    mean_only = rmse(test[schema.RATING], np.full(len(test), train[schema.RATING].mean()))
    assert als.history_["val_rmse"].min() < mean_only - 0.15


# ---------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("param, value", [("dim", 0), ("dim", 2.5), ("n_sweeps", 0), ("reg", 0.0),
                                          ("reg", float("nan")), ("reg_exponent", 1.5), ("init_std", -1.0),
                                          ("init", "zeros"), ("n_threads", 0)])
def test_bad_hyperparameters_are_named(param, value):
    ratings, _ = low_rank_ratings(seed=8)
    with pytest.raises((ValueError, TypeError), match=param):
        ALSMatrixFactorization(**{param: value}).fit(ratings)


@pytest.mark.parametrize("change, kwargs, words", [
    (lambda r: r.to_numpy(), {}, "ratings must be a pandas DataFrame"),
    (lambda r: r.drop(columns=schema.RATING), {}, "'rating'"),
    (lambda r: r, {"target": "stars"}, "'stars'"),
    (lambda r: r, {"target": 2}, "target"),
    (lambda r: r.iloc[:0], {}, "ratings is empty"),
    (lambda r: r.assign(rating=r[schema.RATING].where(r.index != 0)), {}, "'rating' of ratings holds 1 missing"),
    (lambda r: r.assign(rating=np.r_[np.inf, r[schema.RATING].iloc[1:]]), {}, "'rating' of ratings holds infinite"),
    (lambda r: r.assign(user_id=r[schema.USER] - 1), {}, "'user_id' of ratings holds ID -1"),
    (lambda r: r.assign(item_id=r[schema.ITEM] + 0.5), {}, "'item_id' of ratings"),  # names the column
    (lambda r: r, {"n_items": 10}, "'item_id' of ratings holds ID \\d+.*n_items=10"),
    (lambda r: r, {"n_users": 0}, "n_users"),
    (lambda r: r, {"n_items": 30.5}, "n_items"),
    (lambda r: r, {"validation": "V"}, "'user_id' of validation holds ID 40.*n_users=40"),
])
def test_bad_ratings_are_named(change, kwargs, words):
    ratings, _ = low_rank_ratings(seed=9)
    if kwargs.get("validation") == "V":
        kwargs = {"n_users": 40, "validation": ratings.assign(user_id=40)}
    with pytest.raises((ValueError, TypeError), match=words):
        ALSMatrixFactorization().fit(change(ratings), **kwargs)


def test_bad_prediction_input_is_named():
    ratings, _ = low_rank_ratings(seed=10)
    als = ALSMatrixFactorization(dim=2, n_sweeps=1).fit(ratings)
    with pytest.raises(ValueError, match=r"same length.*\(2,\) and \(1,\)"):
        als.predict([0, 1], [0])
    with pytest.raises(ValueError, match="one-dimensional"):
        als.predict([[0]], [[0]])
    with pytest.raises(ValueError, match="'item_id'.*ID 99.*n_items=30"):
        als.predict([0], [99])
    assert als.predict([], []).shape == (0,)
