"""Checks for chapter 10, "Variable importance versus causal effect" (book/10_importance_vs_causation.ipynb).

Every check recomputes its expected value from the default world (loaded once
per process) with the simulator's interventions, never by training a model,
and never reveals it. The definitions here must match the exercise texts.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ... import schema
from .. import close_to, register, default_world as _world, as_scalar as _scalar

# ex-10-shuffled-exposure: the seed of the shuffle and the share of items called "most popular"
SHUFFLE_SEED = 1
TOP_SHARE = 0.2
# ex-10-price-effect: the price increase
PRICE_FACTOR = 1.1


@lru_cache(maxsize=1)
def _shuffled_exposure_change() -> float:
    from ...explain import intervene

    world = _world()
    popularity = world.items[schema.POPULARITY].to_numpy()
    shuffled = np.random.default_rng(SHUFFLE_SEED).permutation(popularity)
    before, after = intervene(world), intervene(world, popularity=shuffled)
    n_top = int(round(TOP_SHARE * world.n_items))
    top = np.argsort(popularity, kind="stable")[::-1][:n_top]
    rows = np.isin(world.interactions[schema.ITEM].to_numpy(), top)
    return float(after.loc[rows, "exposure_probability"].mean() - before.loc[rows, "exposure_probability"].mean())


@register("ch10-shuffled-exposure",
          hint="shuffle popularity with np.random.default_rng(1).permutation, call cr.explain.intervene "
               "with and without it, and average exposure_probability over the logged rows whose item is "
               "among the 60 items with the largest original popularity (after minus before)")
def _shuffled_exposure(answer):
    value = _scalar(answer, "the change")
    if value > 0:
        return False, (f"the change {value:.4g} is positive: the most popular items lose their popularity "
                       "when it is shuffled (compute after minus before)")
    return close_to(value, _shuffled_exposure_change(), rtol=1e-3, what="the change")


@lru_cache(maxsize=1)
def _price_effect() -> float:
    from ...explain import intervene

    world = _world()
    price = world.items[schema.PRICE].to_numpy()
    before, after = intervene(world), intervene(world, price=price * PRICE_FACTOR)
    return float(after["purchase_probability"].mean() - before["purchase_probability"].mean())


@register("ch10-price-effect",
          hint="call cr.explain.intervene(world, price=1.1 * prices) and subtract the mean "
               "purchase_probability without an intervention")
def _price_effect_check(answer):
    value = _scalar(answer, "the effect")
    if abs(value) >= 1:
        return False, f"a change of a probability lies between -1 and 1, got {value:.4g}"
    if value > 0:
        return False, (f"the effect {value:.4g} has the wrong sign: in this shop a higher price lowers "
                       "relevance (compute after minus before)")
    return close_to(value, _price_effect(), rtol=1e-3, what="the effect")


@lru_cache(maxsize=1)
def _category_r2() -> float:
    world = _world()
    log_price = np.log(world.items[schema.PRICE].to_numpy())
    means = world.items.assign(log_price=log_price).groupby(schema.CATEGORY)["log_price"].transform("mean")
    return float(1.0 - np.sum((log_price - means.to_numpy()) ** 2) / np.sum((log_price - log_price.mean()) ** 2))


@register("ch10-price-redundancy",
          hint="take the log of each item's price, replace it by the mean log price of the item's category, "
               "and compute R^2 = 1 - (residual sum of squares) / (total sum of squares) over the 300 items")
def _price_redundancy(answer):
    value = _scalar(answer, "R^2")
    if not 0.0 <= value <= 1.0:
        return False, f"this R^2 lies between 0 and 1, got {value:.4g}"
    return close_to(value, _category_r2(), rtol=1e-3, what="R^2")
