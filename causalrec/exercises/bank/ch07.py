"""Checks for chapter 07, "Correlation is not causation": recomputed from the default world, never shown."""

from __future__ import annotations

import itertools

from ... import causal, schema
from .. import default_world, expect

POPULARITY_QUANTILE, LOW_SLOT = 0.9, 5  # must match the exercise texts
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


@expect("ch07-position-ratio", what="the ratio", rtol=1e-2, low=0,
        hint="in the randomized slice, keep the shown rows and compare the click rate at the top slot with "
             "the click rate at slot 5")
def _position_ratio():
    shown = default_world().randomized
    ctr = shown[shown[schema.EXPOSED] == 1].groupby(schema.POSITION)[schema.CLICKED].mean()
    return float(ctr.loc[1] / ctr.loc[LOW_SLOT])


@expect("ch07-clicked-rating", what="the mean rating", low=1, high=5,
        hint="every randomized pair has a rating; average it over the clicked pairs only")
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
