"""Every estimator in the package keeps scikit-learn's contract, checked the way
``sklearn.utils.estimator_checks`` does (our estimators take frames, not X/y, so the
checks are written out here):

* it subclasses ``BaseEstimator``; ``get_params`` and ``clone`` work;
* ``__init__`` only stores its arguments (no other attribute, no validation);
* using it before ``fit`` raises ``NotFittedError``;
* ``fit`` returns ``self``, leaves the hyperparameters unchanged, and everything it learns
  ends in ``_``;
* the same ``random_state`` gives the same result.

A new estimator (any class with a ``fit`` method in the package) fails
``test_every_estimator_has_a_recipe`` until it is added to ``RECIPES``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

import causalrec as cr
from causalrec import schema


@lru_cache(maxsize=None)
def world():
    return cr.simulate_shop(n_users=40, n_items=20, random_state=0)


def _ratings():
    w = world()
    rated = w.interactions.dropna(subset=[schema.RATING])
    return rated[[schema.USER, schema.ITEM, schema.RATING]].reset_index(drop=True)


def _sizes():
    return {"n_users": world().n_users, "n_items": world().n_items}


FIRST_USERS = np.arange(5)


def _recommender_recipe(make, fit_kwargs=None):
    fit_kwargs = fit_kwargs or (lambda: _sizes())
    return (make, lambda est: est.fit(world().interactions, **fit_kwargs()),
            lambda est: est.score_items(FIRST_USERS))


def _item_features():
    return np.eye(world().n_items)[:, :8] + np.arange(world().n_items)[:, None] % 3


def _logged_ratings():
    return cr.debias.logged_ratings(world())


def _randomized_ratings():
    return world().randomized[schema.RATING].dropna().to_numpy()


def _frame():
    return cr.causal.analysis_frame(world())


def _effect_data():
    frame = _frame()
    return (np.random.default_rng(0).normal(size=(len(frame), 3)),)


# name -> (make an unfitted estimator, fit it and return what fit returned, use it -> array)
RECIPES = {
    "Recommender": _recommender_recipe(lambda: cr.Recommender(dim=4, epochs=2, random_state=0),
                                       lambda: {}),
    "PopularityRecommender": _recommender_recipe(lambda: cr.PopularityRecommender()),
    "RandomRecommender": _recommender_recipe(lambda: cr.RandomRecommender(random_state=0)),
    "ItemKNNRecommender": _recommender_recipe(lambda: cr.ItemKNNRecommender()),
    "ContentBasedRecommender": _recommender_recipe(
        lambda: cr.ContentBasedRecommender(),
        lambda: {"item_features": _item_features(), "n_users": world().n_users}),
    "ALSMatrixFactorization": (
        lambda: cr.ALSMatrixFactorization(dim=3, n_sweeps=2, random_state=0),
        lambda est: est.fit(_ratings(), **_sizes()),
        lambda est: est.predict(_ratings()[schema.USER].to_numpy(), _ratings()[schema.ITEM].to_numpy())),
    "DebiasedRecommender": (
        lambda: cr.DebiasedRecommender(method="dr", epochs=2, random_state=0),
        lambda est: est.fit(_logged_ratings(), propensity=_logged_ratings()["propensity"], **_sizes()),
        lambda est: est.predict(FIRST_USERS, FIRST_USERS)),
    "LogisticPropensity": (
        lambda: cr.propensity.LogisticPropensity(),
        lambda est: est.fit(_frame()),
        lambda est: est.predict(_frame())),
    "NaiveBayesPropensity": (
        lambda: cr.propensity.NaiveBayesPropensity(),
        lambda est: est.fit(_logged_ratings()[schema.RATING].to_numpy(), _randomized_ratings(),
                            n_pairs=world().n_users * world().n_items),
        lambda est: est.predict(_logged_ratings()[schema.RATING].to_numpy())),
    "SequentialRecommender": (
        lambda: cr.sequence.SequentialRecommender(dim=8, n_blocks=1, max_len=8, epochs=1, random_state=0),
        lambda est: est.fit(world().interactions[world().interactions[schema.CLICKED] == 1], **_sizes()),
        lambda est: est.score_items(FIRST_USERS)),
    "EffectModel": (
        lambda: cr.uplift.EffectModel(max_iter=10, random_state=0),
        lambda est: est.fit(_effect_data()[0], _frame()[schema.EXPOSED], _frame()[schema.PURCHASED],
                            propensity=np.clip(_frame()[schema.EXPOSED].mean(), 0.05, 0.95) + 0 * _effect_data()[0][:, 0]),
        lambda est: est.predict(_effect_data()[0])),
    "TextVectorizer": (
        lambda: cr.prep.TextVectorizer(),
        lambda est: est.fit(world().items[schema.DESCRIPTION]),
        lambda est: np.asarray(est.transform(["a soft red shirt", "a kitchen knife"]))),
}


def _discovered_estimators():
    """(name, class) of every class defined in the package that has a ``fit`` method."""
    found = {}
    for info in pkgutil.walk_packages(cr.__path__, "causalrec."):
        if ".exercises" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and obj.__module__ == module.__name__ and not name.startswith("_")
                    and callable(getattr(obj, "fit", None))):
                found[name] = obj
    return found


ESTIMATORS = _discovered_estimators()


def test_every_estimator_has_a_recipe():
    missing = sorted(set(ESTIMATORS) - set(RECIPES))
    assert not missing, f"estimators without a contract recipe in tests/test_contract.py: {missing}"
    assert set(RECIPES) <= set(ESTIMATORS)


@pytest.fixture(params=sorted(RECIPES), ids=str)
def recipe(request):
    if request.param not in ESTIMATORS:
        pytest.fail(f"{request.param} is not an estimator of the package any more")
    return request.param, *RECIPES[request.param]


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b if not isinstance(a, float) or not np.isnan(a) else np.isnan(b)


def test_is_a_scikit_learn_estimator_and_clones(recipe):
    name, make, _, _ = recipe
    estimator = make()
    assert isinstance(estimator, BaseEstimator), f"{name} does not subclass BaseEstimator"
    params = estimator.get_params()
    copy = clone(estimator)
    assert type(copy) is type(estimator)
    assert all(_same(copy.get_params()[key], value) for key, value in params.items())


def test_init_only_stores_its_arguments(recipe):
    name, make, _, _ = recipe
    estimator = make()
    params = set(inspect.signature(type(estimator).__init__).parameters) - {"self"}
    assert set(vars(estimator)) == params, f"{name}.__init__ sets {set(vars(estimator)) ^ params}"


def test_use_before_fit_raises_not_fitted(recipe):
    _, make, _, use = recipe
    with pytest.raises(NotFittedError):
        use(make())


def test_fit_returns_self_keeps_params_and_learns_underscored_attributes(recipe):
    name, make, fit, use = recipe
    estimator = make()
    before = dict(estimator.get_params())
    assert fit(estimator) is estimator
    after = estimator.get_params()
    assert all(_same(after[key], value) for key, value in before.items()), f"{name}.fit changed a hyperparameter"
    learned = set(vars(estimator)) - set(before)
    assert learned, f"{name}.fit learned nothing"
    bad = sorted(a for a in learned if not (a.endswith("_") or a.startswith("_")))
    assert not bad, f"{name} learned attributes without a trailing underscore: {bad}"
    result = np.asarray(use(estimator), dtype=float)
    assert np.isfinite(result).all()


def test_same_random_state_same_result(recipe):
    _, make, fit, use = recipe
    first, second = make(), make()
    fit(first)
    fit(second)
    np.testing.assert_allclose(np.asarray(use(first), dtype=float), np.asarray(use(second), dtype=float))
