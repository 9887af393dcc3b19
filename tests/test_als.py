"""Tests for causalrec.als: batched alternating least squares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

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
    ratings = full[users, items] + rng.normal(0, noise, len(users)) if noise else full[users, items]
    return pd.DataFrame({schema.USER: users, schema.ITEM: items, schema.RATING: ratings}), full


def test_recovers_a_low_rank_matrix_including_unobserved_cells():
    ratings, full = low_rank_ratings()
    als = ALSMatrixFactorization(dim=3, reg=1e-4, n_sweeps=30, random_state=0, verbose=False).fit(ratings)
    users, items = np.divmod(np.arange(full.size), full.shape[1])
    predicted = als.predict(users, items).reshape(full.shape)
    observed = np.zeros(full.shape, dtype=bool)
    observed[ratings[schema.USER], ratings[schema.ITEM]] = True
    # the cells ALS never saw are predicted almost as well as the ones it fitted
    assert np.sqrt(np.mean((predicted - full)[~observed] ** 2)) < 0.05
    assert np.sqrt(np.mean((predicted - full)[observed] ** 2)) < 0.02
    assert als.history_["train_rmse"].iloc[-1] < 0.02


def test_training_rmse_never_rises_from_sweep_to_sweep():
    ratings, _ = low_rank_ratings(noise=0.3, seed=1)
    history = ALSMatrixFactorization(dim=5, reg=0.05, n_sweeps=12, verbose=False).fit(ratings).history_
    steps = np.diff(history["train_rmse"].to_numpy())
    # each half-step minimises the penalised loss exactly; the plain RMSE follows it closely
    assert (steps <= 1e-4).all(), steps
    assert history["train_rmse"].iloc[-1] < 0.8 * history["train_rmse"].iloc[0]
    assert list(history.index) == list(range(1, 13))
    assert history["seconds"].is_monotonic_increasing


def test_history_train_rmse_equals_the_rmse_of_the_predictions():
    ratings, _ = low_rank_ratings(noise=0.5, seed=2)
    als = ALSMatrixFactorization(dim=4, n_sweeps=3, verbose=False).fit(ratings)
    direct = cr.metrics.rmse(ratings[schema.RATING], als.predict(ratings[schema.USER], ratings[schema.ITEM]))
    assert als.history_["train_rmse"].iloc[-1] == pytest.approx(direct, rel=1e-4)


def test_validation_rmse_is_recorded_and_matches_predictions():
    ratings, _ = low_rank_ratings(noise=0.3, seed=3)
    train, test = ratings.iloc[::2], ratings.iloc[1::2]
    als = ALSMatrixFactorization(dim=3, n_sweeps=5, verbose=False).fit(train, 40, 30, validation=test)
    direct = cr.metrics.rmse(test[schema.RATING], als.predict(test[schema.USER], test[schema.ITEM]))
    assert als.history_["val_rmse"].iloc[-1] == pytest.approx(direct, rel=1e-4)
    # held-out error beats the global mean's by far on a low-rank matrix
    assert direct < 0.6 * float(np.std(test[schema.RATING]))


def test_same_seed_same_numbers_other_seed_other_numbers():
    ratings, _ = low_rank_ratings(noise=0.3, seed=4)
    fit = lambda seed: ALSMatrixFactorization(dim=4, n_sweeps=3, random_state=seed, verbose=False).fit(ratings)
    a, b, c = fit(7), fit(7), fit(8)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    np.testing.assert_array_equal(a.predict([0, 1], [2, 3]), b.predict([0, 1], [2, 3]))
    assert not np.allclose(a.item_factors_, c.item_factors_)


def test_a_user_or_item_without_ratings_gets_the_mean_plus_the_other_bias():
    ratings, _ = low_rank_ratings(n_users=10, n_items=8, seed=5)
    als = ALSMatrixFactorization(dim=2, n_sweeps=4, verbose=False).fit(ratings, n_users=12, n_items=9)
    assert als.user_factors_.shape == (12, 2) and als.item_factors_.shape == (9, 2)
    np.testing.assert_allclose(als.user_factors_[10:], 0.0)
    np.testing.assert_allclose(als.item_bias_[8], 0.0)
    assert als.predict([11], [3])[0] == pytest.approx(als.global_mean_ + als.item_bias_[3])


def test_larger_penalty_shrinks_the_factors():
    ratings, _ = low_rank_ratings(noise=0.3, seed=6)
    norm = lambda reg: np.linalg.norm(
        ALSMatrixFactorization(dim=3, reg=reg, n_sweeps=8, verbose=False).fit(ratings).user_factors_)
    assert norm(1.0) < 0.5 * norm(0.01)


def test_threads_are_restored_and_dataframe_untouched():
    ratings, _ = low_rank_ratings(seed=7)
    before, copy = torch.get_num_threads(), ratings.copy()
    ALSMatrixFactorization(dim=2, n_sweeps=2, n_threads=1, verbose=False).fit(ratings)
    assert torch.get_num_threads() == before
    pd.testing.assert_frame_equal(ratings, copy)


def test_on_the_default_worlds_randomized_ratings_it_beats_the_mean_rating():
    # ratings asked at random (no self-selection), so a random split is a fair test
    world = cr.load_default()
    asked = world.randomized.dropna(subset=[schema.RATING])
    train, test = cr.prep.random_split(asked, test_size=0.2, random_state=0)
    als = ALSMatrixFactorization(dim=8, reg=0.3, n_sweeps=8, verbose=False).fit(train, world.n_users, world.n_items,
                                                                                validation=test)
    mean_only = cr.metrics.rmse(test[schema.RATING], np.full(len(test), train[schema.RATING].mean()))
    assert als.history_["val_rmse"].min() < mean_only - 0.15


# ---------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("param, value, message", [
    ("dim", 0, "dim must be >= 1"),
    ("dim", 2.5, "dim must be an integer"),
    ("n_sweeps", 0, "n_sweeps must be >= 1"),
    ("reg", 0.0, "reg must be a finite number > 0"),
    ("reg", float("nan"), "reg must be a finite number > 0"),
    ("init_std", -1.0, "init_std must be a finite number > 0"),
    ("n_threads", 0, "n_threads must be >= 1"),
])
def test_bad_hyperparameters_are_named(param, value, message):
    ratings, _ = low_rank_ratings(seed=8)
    with pytest.raises((ValueError, TypeError), match=message):
        ALSMatrixFactorization(**{param: value}, verbose=False).fit(ratings)


def test_bad_ratings_are_named():
    ratings, _ = low_rank_ratings(seed=9)
    with pytest.raises(TypeError, match="ratings must be a pandas DataFrame"):
        ALSMatrixFactorization(verbose=False).fit(ratings.to_numpy())
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['rating'\]"):
        ALSMatrixFactorization(verbose=False).fit(ratings.drop(columns=schema.RATING))
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['stars'\]"):
        ALSMatrixFactorization(verbose=False).fit(ratings, target="stars")
    with pytest.raises(ValueError, match="ratings is empty"):
        ALSMatrixFactorization(verbose=False).fit(ratings.iloc[:0])
    with pytest.raises(ValueError, match="column 'rating' of ratings holds 1 missing"):
        ALSMatrixFactorization(verbose=False).fit(ratings.assign(rating=ratings[schema.RATING].where(ratings.index != 0)))
    with pytest.raises(ValueError, match="column 'rating' of ratings holds infinite"):
        ALSMatrixFactorization(verbose=False).fit(ratings.assign(rating=np.r_[np.inf, ratings[schema.RATING].iloc[1:]]))
    with pytest.raises(ValueError, match="column 'user_id' of ratings holds a negative ID"):
        ALSMatrixFactorization(verbose=False).fit(ratings.assign(user_id=ratings[schema.USER] - 1))
    with pytest.raises(ValueError, match="column 'item_id' of ratings must hold whole-number IDs"):
        ALSMatrixFactorization(verbose=False).fit(ratings.assign(item_id=ratings[schema.ITEM] + 0.5))
    with pytest.raises(ValueError, match="column 'item_id' of ratings holds ID 29, but n_items=10"):
        ALSMatrixFactorization(verbose=False).fit(ratings, n_items=10)
    with pytest.raises(ValueError, match="n_users must be >= 1"):
        ALSMatrixFactorization(verbose=False).fit(ratings, n_users=0)
    with pytest.raises(TypeError, match="n_items must be an integer"):
        ALSMatrixFactorization(verbose=False).fit(ratings, n_items=30.5)
    with pytest.raises(TypeError, match="target must be a column name"):
        ALSMatrixFactorization(verbose=False).fit(ratings, target=2)
    with pytest.raises(ValueError, match="column 'user_id' of validation holds ID 40, but n_users=40"):
        ALSMatrixFactorization(verbose=False).fit(ratings, 40, 30, validation=ratings.assign(user_id=40))


def test_bad_prediction_input_is_named():
    ratings, _ = low_rank_ratings(seed=10)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        ALSMatrixFactorization().predict([0], [0])
    als = ALSMatrixFactorization(dim=2, n_sweeps=1, verbose=False).fit(ratings)
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        als.predict([0, 1], [0])
    with pytest.raises(ValueError, match="one-dimensional"):
        als.predict([[0]], [[0]])
    with pytest.raises(ValueError, match="holds ID 99, but n_items=30"):
        als.predict([0], [99])
    assert als.predict([], []).shape == (0,)
