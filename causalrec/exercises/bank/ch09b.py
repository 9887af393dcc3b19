"""Checks for chapter 09b, "Recommending by effect": recomputed here, never shown."""

from __future__ import annotations

import numpy as np

from ...data.simulate import simulate_shop
from ...uplift import UPLIFT_WORLD
from .. import expect

# must match the exercise texts
EXPOSED = np.array([1, 1, 0, 0, 1])
PURCHASED = np.array([1, 0, 1, 0, 1])
MU0 = np.array([0.2, 0.1, 0.3, 0.1, 0.4])
MU1 = np.array([0.5, 0.3, 0.4, 0.2, 0.6])
PROPENSITY = np.array([0.8, 0.5, 0.5, 0.2, 0.25])
PERCENTILE, ORGANIC_RATE = 0.9, 0.6


@expect("ch09b-dr-score", what="the five doubly robust scores", rtol=1e-6,
        hint="start from the difference of the two outcome predictions; a shown row adds its residual against "
             "the shown-arm prediction divided by its propensity, a row not shown subtracts its residual "
             "against the other arm divided by one minus the propensity")
def _dr_score():
    z, y, e = EXPOSED, PURCHASED, PROPENSITY
    return MU1 - MU0 + z * (y - MU1) / e - (1 - z) * (y - MU0) / (1 - e)


@expect("ch09b-best-relevance", what="the relevance with the largest effect", rtol=1e-3, low=0, high=1,
        hint="write the effect at the top slot as relevance times one minus the organic probability (times a "
             "constant); it is a downward parabola in relevance; set its derivative to zero")
def _best_relevance():
    return 1.0 / (2.0 * ORGANIC_RATE * (0.5 + PERCENTILE))


@expect("ch09b-uplift-popularity", what="uplift@3 of the popularity ranking", rtol=1e-6,
        hint="in each user's randomized rows keep the 3 most popular items; a shown purchase counts +1 / 0.5, "
             "an unshown purchase -1 / 0.5, anything else 0; average over every kept row")
def _uplift_popularity():
    world = simulate_shop(params=UPLIFT_WORLD, random_state=0)
    popularity = world.items["popularity"].to_numpy()[world.randomized["item_id"].to_numpy()]
    # ties inside a user broken by the lower item ID, as a stable sort on (user, -popularity, item) does
    rand = world.randomized.assign(popularity=popularity).sort_values(["user_id", "popularity", "item_id"],
                                                                      ascending=[True, False, True])
    kept = rand.groupby("user_id").head(3)
    z, y = kept["exposed"].to_numpy(), kept["purchased"].to_numpy()
    expected = float(np.mean(z * y / 0.5 - (1 - z) * y / 0.5))
    return expected
