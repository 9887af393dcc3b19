"""Checks for chapter 09c, "Evaluating a new policy from the logs": recomputed here, never shown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.simulate import simulate_shop
from ...ope import estimate_value, importance_weights
from .. import expect

# must match the chapter and the exercise texts
WORLD = dict(n_users=300, n_items=100, candidates_per_user=24, randomized_per_user=0, image_size=8)
SMALL_PROPENSITIES = {"alpha0": -1.5, "alpha1": 1.6, "alpha2": 1.2}


def _late(params=None):  # the world of seed 0 and its pairs of days 14-27
    world = simulate_shop(**WORLD, params=params, random_state=0)
    late = world.interactions["day"].to_numpy() >= 14
    return world, world.interactions[late], world.truth.propensity[late]


@expect("ch09c-weights", what="the weights", rtol=1e-6,
        hint="a shown pair is weighted by the new policy's chance of showing it over the logging policy's; "
             "a hidden pair by the two chances of hiding it")
def _weights():
    return importance_weights([1, 0, 1, 0], [0.8, 0.3, 0.1, 0.9], [1.0, 0.0, 0.5, 0.2])


@expect("ch09c-coin-flip", what="the estimated purchases caused per user", rtol=1e-6, low=-5, high=5,
        hint="what showing causes is a difference between two policies' values; estimate both with IPS "
             "on the same pairs of days 14-27")
def _coin_flip():
    world, log, mu = _late()
    values = [estimate_value("ips", log["user_id"], log["exposed"], log["purchased"], mu, np.full(len(log), p),
                             n_users=world.n_users).value for p in (0.5, 0.0)]
    return values[0] - values[1]


@expect("ch09c-ess", what="the effective sample size", rtol=1e-6, low=0, high=10_000,
        hint="build the popularity top-4 policy on the pairs of days 14-27 of that world, weight each logged "
             "decision, then square the sum of the weights and divide by the sum of their squares")
def _ess():
    world, log, mu = _late(SMALL_PROPENSITIES)
    popularity = pd.Series(world.items["popularity"].to_numpy()[log["item_id"].to_numpy()])
    pi = popularity.groupby(log["user_id"].to_numpy()).rank(ascending=False, method="first") <= 4
    w = importance_weights(log["exposed"], mu, pi.to_numpy(float))
    return float(w.sum() ** 2 / (w**2).sum())
