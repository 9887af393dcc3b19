"""Propensity estimators, checked against the simulator's true propensities."""

import numpy as np
import pandas as pd
import pytest

import causalrec as cr
from causalrec import propensity as P
from causalrec import schema

SEEDS = (0, 1, 2)


def _frame(world):
    frame = world.interactions.merge(world.items[[schema.ITEM, schema.POPULARITY]], on=schema.ITEM, how="left")
    frame["log_popularity"] = np.log1p(frame[schema.POPULARITY])
    return frame


@pytest.fixture(scope="module")
def worlds():
    return {s: cr.simulate_shop(n_users=800, n_items=150, random_state=s) for s in SEEDS}


@pytest.mark.parametrize("seed", SEEDS)
def test_logistic_propensity_recovers_the_logging_policy(worlds, seed):
    world = worlds[seed]
    frame = _frame(world)
    model = P.LogisticPropensity(features=[schema.POLICY_SCORE, "log_popularity"]).fit(frame)
    assert model.coef_[0] == pytest.approx(world.truth.params["alpha1"], abs=0.06)
    estimated = model.predict(frame)
    assert np.abs(estimated - world.truth.propensity).mean() < 0.02
    table = P.calibration_table(estimated, world.truth.propensity, bins=10)
    assert np.abs(table["estimated"] - table["true"]).max() < 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_popularity_propensity_tracks_item_level_truth(worlds, seed):
    world = worlds[seed]
    model = P.PopularityPropensity().fit(world.interactions, n_items=world.n_items)
    true_by_item = pd.Series(world.truth.propensity).groupby(world.interactions[schema.ITEM].to_numpy()).mean()
    estimated = model.item_propensity_[true_by_item.index]
    assert np.corrcoef(estimated, true_by_item)[0, 1] > 0.85
    # but it ignores the user side, so pair-level errors are larger than the logistic model's
    pair_error = np.abs(model.predict(world.interactions[schema.ITEM]) - world.truth.propensity).mean()
    assert pair_error > 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_naive_bayes_propensities_track_the_true_rating_propensities(worlds, seed):
    """On small worlds: the estimate ranks pairs like the truth, and its weights undo self-selection."""
    from causalrec.debias import logged_ratings, snips_estimate

    world = worlds[seed]
    logged = logged_ratings(world)
    model = P.NaiveBayesPropensity(smoothing=1.0).fit(logged[schema.RATING], world.randomized[schema.RATING],
                                                      n_pairs=world.n_users * world.n_items)
    estimated = model.predict(logged[schema.RATING])
    # true per-rating propensity (mean over the pairs with that rating) rises like the estimate
    true_by_rating = logged.groupby(schema.RATING)["propensity"].mean()
    assert np.corrcoef(np.log(model.propensity_by_rating_), np.log(true_by_rating))[0, 1] > 0.9
    # and its level agrees with the truth within a factor of 3 (measured: about 0.55)
    assert 0.3 < np.median(estimated) / np.median(logged["propensity"]) < 3
    # SNIPS with the estimate recovers the randomized mean rating far better than the naive mean
    randomized_mean = world.randomized[schema.RATING].mean()
    snips = snips_estimate(logged[schema.RATING], estimated)
    assert abs(snips - randomized_mean) < 0.1
    assert logged[schema.RATING].mean() - randomized_mean > 1.0


def test_naive_bayes_rating_propensities_rise_with_the_rating():
    world = cr.load_default()
    logged = world.interactions[schema.RATING].dropna()
    model = P.NaiveBayesPropensity().fit(logged, world.randomized[schema.RATING],
                                         n_pairs=world.n_users * world.n_items)
    p = model.propensity_by_rating_
    assert np.all(np.diff(p) > 0), p
    # weighting the self-selected ratings by 1/p gives the randomized distribution back
    weights = 1 / model.predict(logged)
    weighted_mean = np.sum(weights * logged) / weights.sum()
    assert weighted_mean == pytest.approx(world.randomized[schema.RATING].mean(), abs=1e-9)
    assert logged.mean() > world.randomized[schema.RATING].mean() + 1


def test_weights_clip_and_self_normalize():
    w = P.inverse_propensity_weights([0.001, 0.5], clip=0.05)
    np.testing.assert_allclose(w, [20.0, 2.0])
    assert P.inverse_propensity_weights([0.2, 0.4, 0.8], self_normalize=True).mean() == pytest.approx(1.0)


def test_ips_with_true_propensities_is_unbiased_for_the_randomized_mean():
    """IPS estimate of the mean relevance of all candidates from exposed ones only."""
    world = cr.load_default()
    shown = world.interactions[schema.EXPOSED].to_numpy() == 1
    relevance = world.truth.relevance_logged
    w = P.inverse_propensity_weights(world.truth.propensity[shown])
    ips = np.sum(w * relevance[shown]) / len(relevance)
    naive = relevance[shown].mean()
    assert abs(ips - relevance.mean()) < 0.1 * abs(naive - relevance.mean())


@pytest.mark.parametrize("values, message", [
    ([0.5, 0.0], r"must lie in \(0, 1\].*could never be observed"),
    ([0.5, 1.2], r"must lie in \(0, 1\]; 1 value"),
    ([0.5, np.nan], "holds 1 NaN"),
    ([[0.5]], "one-dimensional"),
    ([], "is empty"),
])
def test_bad_propensities_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        P.check_propensity(values)
    with pytest.raises(ValueError):
        P.inverse_propensity_weights(values)


def test_bad_inputs_to_estimators():
    frame = pd.DataFrame({"x": [0.1, 0.2, 0.3], "exposed": [0, 2, 1]})
    with pytest.raises(ValueError, match="treatment column 'exposed' must be binary"):
        P.LogisticPropensity(features=["x"]).fit(frame)
    with pytest.raises(ValueError, match="holds only 1"):
        P.LogisticPropensity(features=["x"]).fit(frame.assign(exposed=1))
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['y'\]"):
        P.LogisticPropensity(features=["y"]).fit(frame)
    with pytest.raises(ValueError, match="feature column 'x' holds 1 NaN"):
        P.LogisticPropensity(features=["x"]).fit(frame.assign(x=[0.1, np.nan, 0.3], exposed=[0, 1, 1]))
    with pytest.raises(ValueError, match="not fitted"):
        P.LogisticPropensity(features=["x"]).predict(frame)
    with pytest.raises(ValueError, match="item IDs must lie in"):
        P.PopularityPropensity().fit(pd.DataFrame({"item_id": [0, 5], "exposed": [1, 0]}), n_items=3)
    with pytest.raises(ValueError, match="outside"):
        P.NaiveBayesPropensity().fit([6], [1, 2], n_pairs=10)
    with pytest.raises(ValueError, match="NaN"):
        P.NaiveBayesPropensity().fit([1.0, np.nan], [1, 2], n_pairs=10)
    with pytest.raises(ValueError, match=r"holds no rating \[3, 4, 5\]"):
        P.NaiveBayesPropensity().fit([1, 2], [1, 2], n_pairs=10)
    with pytest.raises(ValueError, match="low .* must not exceed high"):
        P.clip_propensity([0.5], low=0.6, high=0.5)
