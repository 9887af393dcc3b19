"""Propensity estimators, checked against the simulator's true propensities."""

import numpy as np
import pandas as pd
import pytest

from sklearn.base import clone
from sklearn.exceptions import NotFittedError

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
def test_naive_bayes_propensities_track_the_true_rating_propensities(worlds, seed):
    """On small worlds: the estimate ranks pairs like the truth, and its weights undo self-selection."""
    from causalrec.debias import logged_ratings

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
    snips = P.snips_estimate(logged[schema.RATING], estimated)
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


def test_weights_are_clipped_inverses():
    np.testing.assert_allclose(P.inverse_propensity_weights([0.001, 0.5], clip=0.05), [20.0, 2.0])
    with pytest.raises(ValueError, match="3 values for 2"):
        P.inverse_propensity_weights([0.1, 0.2, 0.3], n=2)


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
    ([0.5, 0.0], r"must lie in \(0, 1\].*never observable"),
    ([0.5, 1.2], r"must lie in \(0, 1\]; 1 value"),
    ([0.5, np.nan], "holds 1 NaN"),
    ([[0.5]], "propensity"),
    ([], "propensity.*empty"),
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
    with pytest.raises(ValueError, match="outside"):
        P.NaiveBayesPropensity().fit([6], [1, 2], n_pairs=10)
    with pytest.raises(ValueError, match="NaN"):
        P.NaiveBayesPropensity().fit([1.0, np.nan], [1, 2], n_pairs=10)
    with pytest.raises(ValueError, match=r"holds no rating \[3, 4, 5\]"):
        P.NaiveBayesPropensity().fit([1, 2], [1, 2], n_pairs=10)


@pytest.mark.parametrize("estimator", [P.LogisticPropensity(features=["x"], C=0.5),
                                       P.NaiveBayesPropensity(smoothing=1.0)])
def test_propensity_models_follow_the_sklearn_contract(estimator):
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params() and copy is not estimator
    with pytest.raises(NotFittedError):
        estimator.predict(pd.DataFrame({"x": [0.1]}) if isinstance(estimator, P.LogisticPropensity) else [1])


# ----------------------------------------------------------------------------- estimators of a mean
def _true_mean_rating(world):
    """Expected rating over all pairs: E[round(1 + 4 rho + noise) clipped], by numeric integration."""
    rho = world.truth.relevance.ravel()
    z = np.linspace(-4, 4, 81)
    density = np.exp(-z**2 / 2)
    density /= density.sum()
    raw = 1 + 4 * rho[:, None] + world.truth.params["rating_noise"] * z[None, :]
    return float((np.clip(np.rint(raw), 1, 5) * density).sum(axis=1).mean())


@pytest.mark.parametrize("seed", SEEDS)
def test_ips_and_snips_recover_the_mean_rating_over_all_pairs(worlds, seed):
    from causalrec.debias import logged_ratings

    world = worlds[seed]
    obs = logged_ratings(world)
    truth = _true_mean_rating(world)
    naive = P.naive_estimate(obs[schema.RATING])
    snips = P.snips_estimate(obs[schema.RATING], obs["propensity"], clip=1e-3)
    ips_of_one = P.ips_estimate(np.ones(len(obs)), obs["propensity"], world.n_users * world.n_items)
    assert naive > truth + 1.0                     # self-selection: far too optimistic
    assert abs(snips - truth) < 0.35
    assert abs(snips - truth) < abs(naive - truth) / 3
    assert 0.6 < ips_of_one < 1.6                  # IPS estimate of "1" over all pairs, unbiased but noisy


@pytest.mark.parametrize("seed", SEEDS)
def test_ips_is_unbiased_for_known_propensities(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(3.0, 1.0, size=50_000)
    p = 1 / (1 + np.exp(-(values - 4)))            # larger values observed more often (MNAR)
    observed = rng.random(len(values)) < p
    assert abs(P.ips_estimate(values[observed], p[observed], len(values)) - values.mean()) < 0.1
    assert abs(P.snips_estimate(values[observed], p[observed]) - values.mean()) < 0.05
    assert P.naive_estimate(values[observed]) - values.mean() > 0.5


def test_dr_with_a_perfect_imputation_equals_the_truth():
    rng = np.random.default_rng(0)
    values = rng.normal(size=1000)
    observed = rng.random(1000) < 0.2
    wrong_p = rng.uniform(0.01, 1, size=observed.sum())   # any propensities: the correction is 0
    dr = P.dr_estimate(values[observed], wrong_p, values[observed], imputed_mean=float(values.mean()), n_total=1000)
    assert dr == pytest.approx(values.mean(), abs=1e-12)


def test_dr_with_true_propensities_corrects_a_bad_imputation():
    rng = np.random.default_rng(1)
    values = rng.normal(2.0, 1.0, size=100_000)
    p = np.clip(1 / (1 + np.exp(-(values - 2))), 0.05, 1)
    observed = rng.random(len(values)) < p
    dr = P.dr_estimate(values[observed], p[observed], np.zeros(observed.sum()), imputed_mean=0.0, n_total=len(values))
    assert abs(dr - values.mean()) < 0.05


def test_estimators_name_bad_input():
    with pytest.raises(ValueError, match="2 values for 3"):
        P.ips_estimate([1.0, 2.0, 3.0], [0.5, 0.5], n_total=10)
    with pytest.raises(ValueError, match="imputed"):
        P.dr_estimate([1.0, 2.0], [0.5, 0.5], [1.0], imputed_mean=1.0, n_total=10)
    with pytest.raises(ValueError, match="n_total"):
        P.ips_estimate([1.0, 2.0], [0.5, 0.5], n_total=1)
    with pytest.raises(ValueError, match="values holds 1 NaN"):
        P.naive_estimate([1.0, np.nan])
    with pytest.raises(ValueError, match="propensity must lie in"):
        P.snips_estimate([1.0, 2.0], [0.5, 0.0])
