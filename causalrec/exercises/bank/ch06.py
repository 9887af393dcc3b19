"""Checks for chapter 06, "Evaluating recommendations": from the default world or the exercise's toy lists."""

from __future__ import annotations

import functools

import pandas as pd
from scipy.special import comb

from ... import metrics, prep, schema
from .. import as_scalar, close_to, default_world, expect, register

TEST_SIZE, SPLIT_SEED, RELEVANT_RATING, HIT_K = 0.2, 0, 4, 3  # must match the chapter and exercise texts
TOY_LISTS, TOY_RELEVANT, TOY_K = {0: [5, 2, 9, 4], 1: [1, 4, 3, 8]}, {0: [2, 9, 7], 1: [3]}, 3


@functools.lru_cache(maxsize=1)
def _split():
    clean, _ = prep.clean_interactions(default_world().interactions)
    return prep.random_split(clean, test_size=TEST_SIZE, random_state=SPLIT_SEED)


@register("ch06-everyone-buys",
          hint="predicting 'buys' everywhere catches every purchase; the share of those predictions that came "
               "true is the purchase rate; combine the two with the F1 formula")
def _everyone_buys(answer):
    value, rate = as_scalar(answer, "the F1"), float(_split()[1][schema.PURCHASED].mean())
    if abs(value - rate) < 1e-6:
        return False, "that is the rule's precision; F1 also takes its recall into account"
    return close_to(value, 2 * rate / (1 + rate), rtol=1e-4, what="the F1")


@expect("ch06-map-toy", what="MAP@3", rtol=0, atol=5e-3, low=0, high=1,
        hint="for each user, average the precision at each of the first three positions that holds a relevant "
             "item, dividing by the smaller of three and the number of relevant items; then average the users")
def _map_toy():
    recs = pd.DataFrame([(u, i, r + 1) for u, items in TOY_LISTS.items() for r, i in enumerate(items)],
                        columns=[schema.USER, schema.ITEM, schema.RANK])
    relevant = pd.DataFrame([(u, i) for u, items in TOY_RELEVANT.items() for i in items],
                            columns=[schema.USER, schema.ITEM])
    return metrics.map_at_k(recs, relevant, k=TOY_K)


@register("ch06-random-hit-rate",
          hint="three random picks miss only when all three are irrelevant: count the triples that do that "
               "among all triples of the user's candidates; average the hit chance over users with a relevant item")
def _random_hit_rate(answer):
    slice_ = default_world().randomized
    counts = (slice_[schema.RATING] >= RELEVANT_RATING).groupby(slice_[schema.USER]).agg(["size", "sum"])
    n, r = counts.loc[counts["sum"] > 0, "size"], counts.loc[counts["sum"] > 0, "sum"]
    expected, value = 1 - float((comb(n - r, HIT_K) / comb(n, HIT_K)).mean()), as_scalar(answer, "the hit rate")
    if 2e-3 < abs(value - expected) < 0.03:
        return False, "close, as one random draw would be: compute the expected value from each user's counts"
    return close_to(value, expected, rtol=0, atol=2e-3, what="the hit rate")
