"""Checks for chapter 06, "Evaluating recommendations": from the default world or the exercise's toy lists."""

from __future__ import annotations

import functools

import pandas as pd

import causalrec as cr

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


@expect("ch06-knn-hit-rate", what="the hit rate", rtol=0, atol=2e-3, low=0, high=1,
        hint="fit the item-kNN model on the logged training split, score each user's randomized pairs, and "
             "count a hit when one of the top three has a rating of 4 or more")
def _knn_hit_rate():
    world = default_world()
    model = cr.ItemKNNRecommender().fit(_split()[0], n_users=world.n_users, n_items=world.n_items)
    test = world.randomized
    candidates = test[[schema.USER, schema.ITEM]].assign(score=model.score_pairs(test[schema.USER], test[schema.ITEM]))
    relevant = test.loc[test[schema.RATING] >= RELEVANT_RATING, [schema.USER, schema.ITEM]]
    return float(metrics.hit_rate_at_k(candidates, relevant, k=HIT_K))
