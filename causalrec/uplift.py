"""Recommending by effect: estimate how much showing an item changes its purchase, rank by that.

:class:`EffectModel`: a T- or DR-learner (Kennedy, 2023); :func:`uplift_at_k`: a ranking evaluated on a
randomized slice alone (after Sato et al., 2019); :func:`true_effect`: the simulator's truth, any pair.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

from . import schema
from ._checks import check_binary, check_dataframe, check_positive_int, check_random_state, seed_from
from .propensity import check_propensity

__all__ = ["UPLIFT_WORLD", "LEARNERS", "true_effect", "incremental_purchases", "pair_features", "EffectModel",
           "effect_scorer", "UpliftAtK", "uplift_at_k"]

#: The lesson's world: organic buying 2.4x the default (``organic_rate`` 0.6, not 0.25).
UPLIFT_WORLD = {"organic_rate": 0.6}
LEARNERS = ("t", "dr")


def _percentile(world) -> np.ndarray:  # the simulator's popularity percentile of each item
    popularity = check_dataframe(world.items, "world.items", [schema.POPULARITY])[schema.POPULARITY].to_numpy()
    return (np.argsort(np.argsort(popularity, kind="stable"), kind="stable") + 0.5) / len(popularity)


def true_effect(world, users, items, *, position=1) -> np.ndarray:
    """The simulator's effect of showing ``items[k]`` to ``users[k]`` at ``position`` (1 = top; a logged row's own
    slot gives ``truth.effect``): ``(1 - organic) * position**-eta * relevance * kappa_group``, for any pairs."""
    if getattr(world, "truth", None) is None:
        raise ValueError("the true effect needs a simulated world (world.truth); this data has none")
    p, users, items = world.truth.params, np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    rho = world.truth.relevance_for(users, items)
    organic = np.clip(p["organic_rate"] * rho * (0.5 + _percentile(world)[items]), 0.0, 1.0)
    kappa = np.asarray(p["kappa"], dtype=float)[world.users[schema.GROUP].to_numpy()[users]]
    return (1.0 - organic) * np.asarray(position, dtype=float) ** -p["position_decay"] * rho * kappa


def incremental_purchases(world, recs) -> float:
    """True purchases per user that lists ``recs`` (``user_id, item_id, rank``) cause, shown in rank order."""
    recs = check_dataframe(recs, "recs", [schema.USER, schema.ITEM, schema.RANK])
    effect = true_effect(world, recs[schema.USER], recs[schema.ITEM], position=recs[schema.RANK])
    return float(effect.sum() / recs[schema.USER].nunique())


def pair_features(world, users, items, *scores) -> np.ndarray:
    """Features of pairs, shape (n, len(scores) + 2): each model score, the item's popularity percentile
    (popularity drives organic buying) and the user's group (0 when the data has none)."""
    users, items, percentile = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64), _percentile(world)
    group = world.users[schema.GROUP].to_numpy() if schema.GROUP in world.users else np.zeros(len(world.users))
    return np.column_stack([*(np.asarray(s, dtype=float) for s in scores), percentile[items], group[users]])


class EffectModel(BaseEstimator):
    """Effect of exposure on purchase at the slot the log gave (simulated: ``E[truth.effect | x]``): ``"t"`` fits
    P(purchase | shown, x), P(purchase | not shown, x) and subtracts; ``"dr"`` regresses the cross-fitted doubly robust
    score ``mu1 - mu0 + z (y - mu1) / e - (1 - z) (y - mu0) / (1 - e)`` on x (``e`` clipped to ``[clip, 1 - clip]``);
    gradient-boosted trees. Learned: ``outcome_models_`` (mu0, mu1), ``final_model_`` and ``pseudo_outcome_`` (dr)."""

    def __init__(self, learner="dr", *, clip=0.01, n_folds=2, max_iter=100, max_depth=3, random_state=0):
        self.learner, self.clip, self.n_folds = learner, clip, n_folds
        self.max_iter, self.max_depth, self.random_state = max_iter, max_depth, random_state

    def _outcomes(self, X, z, y, seed):  # [mu0, mu1]
        return [HistGradientBoostingClassifier(max_iter=self.max_iter, max_depth=self.max_depth, random_state=seed)
                .fit(X[z == arm], y[z == arm]) for arm in (0, 1)]

    @threadpool_limits.wrap(limits=1)  # OpenMP trees: on a busy 2-core machine 2 threads ran 4x slower than 1
    def fit(self, X, exposed, purchased, *, propensity=None) -> EffectModel:
        """``X`` (n, d) features, ``exposed`` and ``purchased`` 0/1, ``propensity`` of exposure (dr)."""
        X = np.asarray(X, dtype=float)
        z, y = check_binary(exposed, "exposed"), check_binary(purchased, "purchased")
        if X.ndim != 2 or not len(X) == len(z) == len(y) or not np.isfinite(X).all():
            raise ValueError(f"X must be a finite (n, d) array with one row per outcome; got shape {X.shape} "
                             f"for {len(z)} exposures and {len(y)} purchases")
        if min((z == 1).sum(), (z == 0).sum()) < 2 or len(np.unique(y)) < 2:
            raise ValueError("need at least 2 exposed and 2 unexposed rows, and both purchase outcomes")
        if self.learner not in LEARNERS or not 0 < self.clip < 0.5:
            raise ValueError(f"learner must be one of {LEARNERS} and clip in (0, 0.5); got {self.learner!r}, {self.clip!r}")
        seed, rng = seed_from(self.random_state), check_random_state(self.random_state)
        self.outcome_models_ = self._outcomes(X, z, y, seed)
        if self.learner == "dr":
            if propensity is None or len(propensity) != len(X):
                raise ValueError(f"learner='dr' needs the propensity of exposure of each of the {len(X)} rows")
            e = np.clip(check_propensity(propensity), self.clip, 1 - self.clip)
            fold, psi = rng.integers(0, self.n_folds, size=len(X)), np.zeros(len(X))
            for f in range(self.n_folds):  # nuisance models never see the rows they score
                mu0, mu1 = (m.predict_proba(X[fold == f])[:, 1] for m in self._outcomes(
                    X[fold != f], z[fold != f], y[fold != f], seed))
                zf, yf, ef = z[fold == f], y[fold == f], e[fold == f]
                psi[fold == f] = mu1 - mu0 + zf * (yf - mu1) / ef - (1 - zf) * (yf - mu0) / (1 - ef)
            self.pseudo_outcome_ = psi
            self.final_model_ = HistGradientBoostingRegressor(max_iter=self.max_iter, max_depth=self.max_depth,
                                                              random_state=seed).fit(X, psi)
        return self

    @threadpool_limits.wrap(limits=1)
    def predict_purchase(self, X) -> np.ndarray:
        """P(purchase | shown, x): what a recommender that ranks by purchase probability would use."""
        check_is_fitted(self, "outcome_models_")
        return self.outcome_models_[1].predict_proba(np.asarray(X, dtype=float))[:, 1]

    @threadpool_limits.wrap(limits=1)
    def predict(self, X) -> np.ndarray:
        """Estimated effect of showing on purchase, shape (n,)."""
        check_is_fitted(self, "outcome_models_")
        X = np.asarray(X, dtype=float)
        return self.final_model_.predict(X) if self.learner == "dr" else (
            self.predict_purchase(X) - self.outcome_models_[0].predict_proba(X)[:, 1])


def effect_scorer(world, log, score, propensity, *, learner="dr", random_state=0):
    """Fit an :class:`EffectModel` on ``log`` (``exposed``, ``purchased``) with features ``pair_features(world,
    u, i, score(u, i))``; return ``scorer(users) -> (len(users), n_items)`` for :func:`causalrec.ranking.recommend`."""
    check_dataframe(log, "log", [schema.USER, schema.ITEM, schema.EXPOSED, schema.PURCHASED])
    u, i, n_items = log[schema.USER].to_numpy(), log[schema.ITEM].to_numpy(), len(world.items)
    model = EffectModel(learner, random_state=random_state).fit(
        pair_features(world, u, i, score(u, i)), log[schema.EXPOSED], log[schema.PURCHASED], propensity=propensity)

    def scorer(users):
        users, items = np.repeat(np.asarray(users), n_items), np.tile(np.arange(n_items), len(users))
        return model.predict(pair_features(world, users, items, score(users, items))).reshape(-1, n_items)
    return scorer


UpliftAtK = NamedTuple("UpliftAtK", [("estimate", float), ("std_error", float), ("true", float)])


def uplift_at_k(world, score, k: int = 5, *, exposure_probability: float = 0.5) -> UpliftAtK:
    """Rank each user's randomized rows by ``score`` (one per row of ``world.randomized``), keep the top
    ``k``; average ``z y / p - (1 - z) y / (1 - p)`` over the kept rows: unbiased for their mean effect,
    ``true`` (NaN without truth), the mean of ``truth.effect_randomized`` over the same rows."""
    rand = check_dataframe(world.randomized, "world.randomized", [schema.USER, schema.EXPOSED, schema.PURCHASED])
    score = np.asarray(score, dtype=float)
    if score.shape != (len(rand),) or not np.isfinite(score).all():
        raise ValueError(f"score must hold {len(rand)} finite values, one per randomized row; got {score.shape}")
    order = np.lexsort((-score, rand[schema.USER].to_numpy()))
    rank = rand.iloc[order].groupby(schema.USER).cumcount().to_numpy()
    kept = order[rank < check_positive_int(k, "k")]
    z, y, p = rand[schema.EXPOSED].to_numpy()[kept], rand[schema.PURCHASED].to_numpy()[kept], exposure_probability
    terms = z * y / p - (1 - z) * y / (1 - p)
    true = float(world.truth.effect_randomized[kept].mean()) if getattr(world, "truth", None) is not None else np.nan
    return UpliftAtK(float(terms.mean()), float(terms.std(ddof=1) / np.sqrt(len(terms))), true)
