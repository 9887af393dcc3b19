"""Debiased training: each method against the simulator's truth, DR-JL's parts, the estimator contract, bad input."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import causalrec as cr
from causalrec import debias as D
from causalrec import schema

SEEDS = (0, 1, 2)
FAST = dict(clip=1e-3, epochs=150, batch_size=None, lr=0.03, weight_decay=1e-3, n_threads=1)


@pytest.fixture(scope="module")
def small():
    world = cr.simulate_shop(n_users=400, n_items=60, random_state=3)
    return world, D.logged_ratings(world)


@pytest.fixture(scope="module")
def fitted(small):
    return {m: _fit(small, m) for m in D.METHODS}


def _fit(small, method, **kw):
    world, obs = small
    return D.DebiasedRecommender(method, **{**FAST, **kw}).fit(
        obs, propensity=obs["propensity"], n_users=world.n_users, n_items=world.n_items)


def _truth_mse(world, model):
    """MSE against the expected rating of every pair (the simulator's truth), not a sample of it."""
    u = np.repeat(np.arange(world.n_users), world.n_items)
    i = np.tile(np.arange(world.n_items), world.n_users)
    expected = np.clip(1 + 4 * world.truth.relevance_for(u, i), 1, 5)
    return float(np.mean((model.predict(u, i) - expected) ** 2))


def test_weighted_methods_beat_naive_against_the_truth(small, fitted):
    world, _ = small
    mse = {m: _truth_mse(world, model) for m, model in fitted.items()}
    for method in ("ips", "snips", "dr"):
        assert mse[method] < mse["naive"] - 0.3, mse          # measured gaps 0.39 to 0.44
    on_slice = {m: D.evaluate_ratings(fitted[m], world.randomized)["mse"] for m in ("naive", "dr")}
    assert on_slice["dr"] < on_slice["naive"] - 0.3, on_slice


def test_dr_imputation_learns_the_signed_error(small, fitted):
    """g must track r - r^ where its weights put it (the old squared-error matching could not)."""
    _, obs = small
    u, i = (torch_ids(obs[c]) for c in (schema.USER, schema.ITEM))
    w = 1 / np.maximum(obs["propensity"].to_numpy(), FAST["clip"])
    for model, weight in ((_fit(small, "dr", robust=False), w), (fitted["dr"], w * (w - 1))):
        residual = obs[schema.RATING].to_numpy() - model.predict(obs[schema.USER], obs[schema.ITEM])
        imputed = model.imputation_model_(u, i).detach().numpy()
        cov = np.cov(imputed, residual, aweights=weight)
        assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) > 0.05         # measured: 1/p 0.11, (1-p)/p^2 0.84
        assert abs(np.average(imputed - residual, weights=weight)) < 0.03    # measured 0.011 and 0.002
    big = np.abs(residual) > 0.5                                          # the 1/p one gets the sign: 0.94
    assert np.mean(np.sign(imputed[big]) == np.sign(residual[big])) < 0.5  # the robust one fits the rare pairs


def torch_ids(column):
    import torch
    return torch.as_tensor(column.to_numpy().astype(np.int64))


def test_predictions_stay_on_the_rating_scale_and_training_is_seeded(small):
    world, _ = small
    u, i = world.randomized[schema.USER].to_numpy(), world.randomized[schema.ITEM].to_numpy()
    a = _fit(small, "dr", epochs=5).predict(u, i)
    assert a.min() >= schema.RATING_MIN and a.max() <= schema.RATING_MAX
    np.testing.assert_array_equal(a, _fit(small, "dr", epochs=5).predict(u, i))
    assert not np.array_equal(a, _fit(small, "dr", epochs=5, random_state=1).predict(u, i))
    neumf = _fit(small, "ips", model="neumf", epochs=3)
    assert neumf.imputation_model_ is None and len(neumf.history_) == 3


def test_validation_stops_at_the_best_epoch_and_selection_never_sees_test(small):
    world, obs = small
    fit_r, fit_p, val_r, val_p = D.validation_split(obs, obs["propensity"], 0.2, random_state=0)
    assert len(fit_r) + len(val_r) == len(obs) and not set(fit_r.index) & set(val_r.index)
    np.testing.assert_allclose(fit_p, obs.loc[fit_r.index, "propensity"] * 0.8)
    model = D.DebiasedRecommender("ips", **{**FAST, "epochs": 400, "patience": 10}).fit(
        fit_r, propensity=fit_p, n_users=world.n_users, n_items=world.n_items,
        validation=val_r, validation_propensity=val_p)
    history = model.history_
    assert model.best_epoch_ == int(history.loc[history["validation"].idxmin(), "epoch"])
    assert len(history) == model.best_epoch_ + 10 < 400
    chosen, scores = D.select_by_validation(D.DebiasedRecommender("ips", **FAST), {"weight_decay": [1e-3, 1.0]},
                                            obs, obs["propensity"], n_users=world.n_users, n_items=world.n_items)
    assert len(scores) == 2 and chosen.weight_decay == scores.loc[scores["validation"].idxmin(), "weight_decay"]
    assert chosen.epochs == scores["epochs"].min() or chosen.epochs in set(scores["epochs"])
    _, two = D.select_by_validation(D.DebiasedRecommender("ips", **FAST), {"weight_decay": [1e-3]}, obs,
                                    obs["propensity"], n_users=world.n_users, n_items=world.n_items, splits=2)
    assert two.loc[0, "validation"] != scores.loc[0, "validation"]     # the mean of two splits, not the first
    with pytest.raises(ValueError, match="splits"):
        D.select_by_validation(D.DebiasedRecommender("ips", **FAST), {}, obs, obs["propensity"],
                               n_users=world.n_users, n_items=world.n_items, splits=0)


def test_evaluate_ratings_agrees_with_sklearn(small, fitted):
    from sklearn.metrics import mean_squared_error, roc_auc_score

    world, _ = small
    model = fitted["ips"]
    test = world.randomized
    scores = D.evaluate_ratings(model, test, k=5)
    prediction = model.predict(test[schema.USER], test[schema.ITEM])
    assert scores["mse"] == pytest.approx(mean_squared_error(test[schema.RATING], prediction))
    assert scores["auc"] == pytest.approx(roc_auc_score(test[schema.RATING] >= 4, prediction))
    assert 0 < scores["ndcg@5"] <= 1


def test_evaluation_study_shapes_and_naive_bias():
    study = D.evaluation_estimator_study(lambda w, u, i: np.full(len(u), 4.0), seeds=range(3),
                                         n_users=200, n_items=60, clip=1e-3)
    assert list(study.columns) == ["naive", "ips", "snips", "dr", "randomized"] and len(study) == 3
    gap = abs(study["naive"] - study["randomized"])
    assert (study["naive"] < study["randomized"] - 1).all()   # a constant 4 looks good on self-selected ratings
    for name in ("ips", "snips", "dr"):
        assert (abs(study[name] - study["randomized"]) < gap).all()


def test_estimator_contract(small):
    model = D.DebiasedRecommender("dr", imputation_weight_decay=0.5, clip=0.02)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.predict([0], [0])
    ips = _fit(small, "ips", epochs=2)
    assert clone(ips).get_params() == ips.get_params() and not hasattr(clone(ips), "model_")


def test_fit_names_bad_input(small):
    world, obs = small
    model = D.DebiasedRecommender("ips", epochs=1)
    cases = [
        (dict(ratings=obs.drop(columns=schema.RATING), propensity=obs["propensity"]), "rating"),
        (dict(ratings=obs.assign(rating=obs[schema.RATING] + 5), propensity=obs["propensity"]), r"\[1, 5\]"),
        (dict(ratings=obs, propensity=obs["propensity"].iloc[:-1]), "propensity"),
        (dict(ratings=obs, propensity=obs["propensity"].where(obs.index != 0, 0.0)), "propensity"),
        (dict(ratings=obs), "needs propensity"),
        (dict(ratings=obs, propensity=obs["propensity"], n_items=5), "n_items"),
        (dict(ratings=pd.concat([obs, obs.iloc[:1]]), propensity=np.r_[obs["propensity"], 0.5]), "more than once"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            model.fit(kwargs.pop("ratings"), **kwargs)
    with pytest.raises(ValueError, match="method must be one of"):
        D.DebiasedRecommender("ipw").fit(obs, propensity=obs["propensity"])
    with pytest.raises(ValueError, match="model must be"):
        D.DebiasedRecommender(model="svd").fit(obs, propensity=obs["propensity"])
    with pytest.raises(ValueError, match="clip"):
        D.DebiasedRecommender("ips", clip=0.0).fit(obs, propensity=obs["propensity"])


def test_split_by_user_keeps_users_apart(small):
    world, _ = small
    held, rest = D.split_by_user(world.randomized, 0.2, random_state=0)
    assert len(held) + len(rest) == len(world.randomized)
    assert not set(held[schema.USER]) & set(rest[schema.USER])
    with pytest.raises(ValueError, match="fraction"):
        D.split_by_user(world.randomized, 1.0)
