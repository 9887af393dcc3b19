"""Checks for chapter 09b, "Recommending by effect": recomputed here, never shown."""

from __future__ import annotations

import numpy as np

from ...data.simulate import simulate_shop
from ...prep import random_split
from ...uplift import UPLIFT_WORLD, pair_features
from .. import expect

PERCENTILE, ORGANIC_RATE = 0.9, 0.6  # must match the exercise text


@expect("ch09b-dr-constant", what="the mean doubly robust score with constant outcome models", rtol=1e-6,
        hint="put c in place of both outcome predictions in the chapter's formula for the score, with the "
             "propensities clipped to [0.01, 0.99] as in the chapter, and average over the training rows")
def _dr_constant():
    world = simulate_shop(params=UPLIFT_WORLD, random_state=0)
    train, _ = random_split(world.interactions, test_size=0.3, random_state=0)
    z, y = train["exposed"].to_numpy(), train["purchased"].to_numpy()
    e, c = np.clip(world.truth.propensity[train.index.to_numpy()], 0.01, 0.99), y.mean()
    return float(np.mean(z * (y - c) / e - (1 - z) * (y - c) / (1 - e)))


@expect("ch09b-best-relevance", what="the relevance with the largest effect", rtol=1e-3, low=0, high=1,
        hint="write the effect at the top slot as relevance times one minus the organic probability (times a "
             "constant); it is a downward parabola in relevance; set its derivative to zero")
def _best_relevance():
    return 1.0 / (2.0 * ORGANIC_RATE * (0.5 + PERCENTILE))


@expect("ch09b-uplift-popularity", what="uplift@3 of the popularity ranking", rtol=1e-6,
        hint="in each user's randomized rows keep the 3 rows with the highest popularity percentile; a shown "
             "purchase counts +1 / 0.5, an unshown purchase -1 / 0.5, anything else 0; average over every kept row")
def _uplift_popularity():
    world = simulate_shop(params=UPLIFT_WORLD, random_state=0)
    rand = world.randomized
    percentile = pair_features(world, rand["user_id"], rand["item_id"])[:, 0]  # distinct per item: no ties
    kept = rand.assign(p=percentile).sort_values(["user_id", "p"], ascending=[True, False]).groupby("user_id").head(3)
    return float(np.mean((kept["exposed"] - (1 - kept["exposed"])) * kept["purchased"] / 0.5))
