"""Checks for chapter 07, "Correlation is not causation in recommendation logs"
(book/07_correlation.ipynb).

Every check recomputes its expected value from the default world and never
reveals it. The definitions below must match the exercise texts in the chapter.
"""

from __future__ import annotations

import itertools
import numbers

import numpy as np

from ... import schema
from .. import close_to, default_world as _world, register

# ex-07-exposure-ratio: items at or above this popularity quantile vs at or below 1 - it
POPULARITY_QUANTILE = 0.9

# ex-07-position-ratio: click rate at the top slot over the click rate at this slot
LOW_SLOT = 5

# ex-07-backdoor-sets: the observed variables that are not caused by exposure
PRE_TREATMENT = ("policy_score", "log_popularity", "price", "price_sensitivity", "group")


def _exposure_ratio() -> float:
    world = _world()
    popularity = world.items.set_index(schema.ITEM)[schema.POPULARITY]
    high = popularity.index[popularity >= popularity.quantile(POPULARITY_QUANTILE)]
    low = popularity.index[popularity <= popularity.quantile(1 - POPULARITY_QUANTILE)]
    logged = world.interactions
    rate_high = logged.loc[logged[schema.ITEM].isin(high), schema.EXPOSED].mean()
    rate_low = logged.loc[logged[schema.ITEM].isin(low), schema.EXPOSED].mean()
    return float(rate_high / rate_low)


@register("ch07-exposure-ratio",
          hint="select items by world.items.popularity quantiles, then average `exposed` over their logged rows")
def _exposure_ratio_check(answer):
    return close_to(float(answer), _exposure_ratio(), rtol=1e-2, what="the ratio")


def _position_ratio() -> float:
    shown = _world().randomized
    shown = shown[shown[schema.EXPOSED] == 1]
    ctr = shown.groupby(schema.POSITION)[schema.CLICKED].mean()
    return float(ctr.loc[1] / ctr.loc[LOW_SLOT])


@register("ch07-position-ratio",
          hint="use world.randomized, keep the shown rows, and compare the mean of `clicked` at positions 1 and 5")
def _position_ratio_check(answer):
    return close_to(float(answer), _position_ratio(), rtol=1e-2, what="the ratio")


def _clicked_rating() -> float:
    randomized = _world().randomized
    return float(randomized.loc[randomized[schema.CLICKED] == 1, schema.RATING].mean())


@register("ch07-clicked-rating",
          hint="in world.randomized every pair has a rating; average it over the clicked rows only")
def _clicked_rating_check(answer):
    return close_to(float(answer), _clicked_rating(), rtol=1e-3, what="the mean rating")


def _valid_adjustment_sets() -> int:
    from ...causal import satisfies_backdoor, simulator_graph

    dag = simulator_graph(_world())
    subsets = (s for k in range(len(PRE_TREATMENT) + 1) for s in itertools.combinations(PRE_TREATMENT, k))
    return sum(satisfies_backdoor(dag, schema.EXPOSED, schema.PURCHASED, s) for s in subsets)


@register("ch07-backdoor-sets",
          hint="loop over itertools.combinations of the five variables and call cr.causal.satisfies_backdoor")
def _valid_adjustment_sets_check(answer):
    if isinstance(answer, bool) or not isinstance(answer, (numbers.Integral, np.integer)):
        return False, f"the answer should be a whole number of sets, got {answer!r}"
    expected = _valid_adjustment_sets()
    if answer == expected:
        return True, ""
    return False, f"{answer} sets is {'too many' if answer > expected else 'too few'}"
