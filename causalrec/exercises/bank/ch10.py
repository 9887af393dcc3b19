"""Checks for chapter 10, "Variable importance versus causal effect": the simulator's interventions, never shown."""

from __future__ import annotations

import numpy as np

from ... import explain, schema
from .. import as_scalar, close_to, default_world, expect, register

SHUFFLE_SEED, TOP_SHARE, PRICE_FACTOR = 1, 0.2, 1.1  # must match the exercise texts


def _change(column: str, **intervention) -> np.ndarray:
    world = default_world()
    return (explain.intervene(world, **intervention)[column] - explain.intervene(world)[column]).to_numpy()


@register("ch10-shuffled-exposure",
          hint="intervene with the popularity shuffled (seed 1) and without, and average the change in exposure "
               "probability over the logged rows of the fifth of items that were most popular before")
def _shuffled_exposure(answer):
    value, world = as_scalar(answer, "the change"), default_world()
    if value > 0:
        return False, (f"the change {value:.4g} is positive: the most popular items lose their popularity "
                       "when it is shuffled (compute after minus before)")
    popularity = world.items[schema.POPULARITY].to_numpy()
    change = _change("exposure_probability", popularity=np.random.default_rng(SHUFFLE_SEED).permutation(popularity))
    top = np.argsort(popularity, kind="stable")[::-1][:int(round(TOP_SHARE * world.n_items))]
    return close_to(value, change[np.isin(world.interactions[schema.ITEM], top)].mean(), rtol=1e-3, what="the change")


@register("ch10-price-effect",
          hint="intervene on the price (ten percent higher for every item) and compare the mean purchase "
               "probability with the one without an intervention")
def _price_effect(answer):
    value = as_scalar(answer, "the effect")
    if value > 0:
        return False, (f"the effect {value:.4g} has the wrong sign: in this shop a higher price lowers "
                       "relevance (compute after minus before)")
    price = default_world().items[schema.PRICE].to_numpy()
    return close_to(value, _change("purchase_probability", price=price * PRICE_FACTOR).mean(), rtol=1e-3,
                    what="the effect")


@expect("ch10-price-redundancy", what="R^2", low=0, high=1,
        hint="predict each item's log price by its category's mean log price; R^2 is one minus the residual "
             "sum of squares over the total sum of squares")
def _category_r2():
    items = default_world().items
    log_price = np.log(items[schema.PRICE].to_numpy())
    means = items.assign(log_price=log_price).groupby(schema.CATEGORY)["log_price"].transform("mean").to_numpy()
    return float(1.0 - np.sum((log_price - means) ** 2) / np.sum((log_price - log_price.mean()) ** 2))
