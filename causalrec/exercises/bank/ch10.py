"""Checks for chapter 10, "Variable importance versus causal effect": the simulator's interventions, never shown."""

from __future__ import annotations

import numpy as np

from ... import explain, schema
from .. import as_scalar, close_to, default_world, expect, register

SHUFFLE_SEED, TOP_QUANTILE = 1, 0.8  # must match the exercise texts (items at or above the quantile: no ties)


def _change(column, **intervention) -> np.ndarray:  # column: a name, or a function of intervene's frame
    world, get = default_world(), column if callable(column) else (lambda frame: frame[column])
    return (get(explain.intervene(world, **intervention)) - get(explain.intervene(world))).to_numpy()


@register("ch10-shuffled-exposure",
          hint="intervene with the popularity shuffled (seed 1) and without, and average the fall in exposure "
               "probability over the logged rows whose item's original popularity is at or above the 0.8 quantile")
def _shuffled_exposure(answer):
    value, world = as_scalar(answer, "the fall"), default_world()
    popularity = world.items[schema.POPULARITY].to_numpy()
    change = _change("exposure_probability", popularity=np.random.default_rng(SHUFFLE_SEED).permutation(popularity))
    top = np.flatnonzero(popularity >= np.quantile(popularity, TOP_QUANTILE))
    fall = -change[np.isin(world.interactions[schema.ITEM], top)].mean()
    if abs(value + fall) < 1e-3 * abs(fall):
        return False, "that is after minus before: store the fall, before minus after"
    return close_to(value, fall, rtol=1e-3, what="the fall")


@register("ch10-popularity-channels",
          hint="what would a pair's purchase probability be if it were never shown? Compare the mean of that "
               "with and without the intervention")
def _organic_change(answer):
    value, pop = as_scalar(answer, "the change"), default_world().items[schema.POPULARITY].to_numpy()
    up = {"popularity": np.expm1(np.log1p(pop) + np.log1p(pop).std())}
    if abs(value - _change("purchase_probability", **up).mean()) < 1e-6:
        return False, "that is the whole change in purchases: keep only the organic part"
    organic = _change(lambda f: f["purchase_probability"] - f["exposure_probability"] * f["effect"], **up)
    return close_to(value, organic.mean(), rtol=1e-3, what="the change")


@expect("ch10-price-redundancy", what="R^2", low=0, high=1,
        hint="predict each item's log price by its category's mean log price; R^2 is one minus the residual "
             "sum of squares over the total sum of squares")
def _category_r2():
    items = default_world().items
    log_price = np.log(items[schema.PRICE].to_numpy())
    means = items.assign(log_price=log_price).groupby(schema.CATEGORY)["log_price"].transform("mean").to_numpy()
    return float(1.0 - np.sum((log_price - means) ** 2) / np.sum((log_price - log_price.mean()) ** 2))
