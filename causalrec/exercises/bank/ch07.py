"""Checks for chapter 07, "Correlation is not causation": recomputed from the default world, never shown."""

from __future__ import annotations

import itertools

import numpy as np

from ... import causal, schema
from .. import default_world, expect

POPULARITY_QUANTILE = 0.9  # must match the exercise text
PRE_TREATMENT = ("policy_score", "log_popularity", "price", "price_sensitivity", "group")


@expect("ch07-exposure-ratio", what="the ratio", rtol=1e-2, low=0,
        hint="split the items by popularity quantiles (top and bottom tenth) and compare how often their "
             "logged rows were shown")
def _exposure_ratio():
    world = default_world()
    popularity, logged = world.items.set_index(schema.ITEM)[schema.POPULARITY], world.interactions
    high = popularity.index[popularity >= popularity.quantile(POPULARITY_QUANTILE)]
    low = popularity.index[popularity <= popularity.quantile(1 - POPULARITY_QUANTILE)]
    return float(logged.loc[logged[schema.ITEM].isin(high), schema.EXPOSED].mean()
                 / logged.loc[logged[schema.ITEM].isin(low), schema.EXPOSED].mean())


@expect("ch07-randomized-selection-bias", what="the selection bias", rtol=1e-3, atol=1e-5, low=-1, high=1,
        hint="compute each randomized pair's purchase probability if not shown, from its true relevance and its "
             "item's popularity percentile as the chapter did for the log, and compare its mean over the shown "
             "pairs with its mean over the hidden ones")
def _randomized_selection_bias():
    world = default_world()
    slice_, truth, popularity = world.randomized, world.truth, world.items[schema.POPULARITY].to_numpy()
    percentile = (np.argsort(np.argsort(popularity, kind="stable"), kind="stable") + 0.5) / world.n_items
    y0 = np.clip(truth.params["organic_rate"] * truth.relevance_randomized
                 * (0.5 + percentile[slice_[schema.ITEM]]), 0, 1)
    shown = slice_[schema.EXPOSED].to_numpy() == 1
    return float(y0[shown].mean() - y0[~shown].mean())


@expect("ch07-clicked-rating", what="the mean rating", low=1, high=5,
        hint="the slice asked every pair for a rating; which of its rows could have been rated in the log?")
def _clicked_rating():
    randomized = default_world().randomized
    return float(randomized.loc[randomized[schema.CLICKED] == 1, schema.RATING].mean())


@expect("ch07-backdoor-sets", what="the number of sets",
        hint="try every subset of the five pre-treatment variables (the empty set too) against the "
             "back-door criterion, and count those that pass")
def _valid_adjustment_sets():
    dag = causal.simulator_graph(default_world())
    subsets = (s for k in range(len(PRE_TREATMENT) + 1) for s in itertools.combinations(PRE_TREATMENT, k))
    return int(sum(causal.satisfies_backdoor(dag, schema.EXPOSED, schema.PURCHASED, s) for s in subsets))
