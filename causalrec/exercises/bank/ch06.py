"""Checks for chapter 06, "Evaluating recommendations" (book/06_evaluation.ipynb).

Every check recomputes its expected value from the default world (loaded once
per process, no training) or from the toy lists in the exercise text, and
never reveals it. The definitions here must match the exercise texts.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from ... import schema
from .. import close_to, register, default_world as _world, as_scalar as _scalar

# the chapter's logged split
TEST_SIZE = 0.2
SPLIT_SEED = 0
RELEVANT_RATING = 4
# ex-06-map-toy: two users' ranked lists and their relevant items
TOY_LISTS = {0: [5, 2, 9, 4], 1: [1, 4, 3, 8]}
TOY_RELEVANT = {0: [2, 9, 7], 1: [3]}
TOY_K = 3
# ex-06-knn-hit-rate
HIT_K = 3


@lru_cache(maxsize=1)
def _split():
    from ...prep import clean_interactions, random_split

    clean, _ = clean_interactions(_world().interactions)
    return random_split(clean, test_size=TEST_SIZE, random_state=SPLIT_SEED)


@register("ch06-always-no",
          hint="on the logged test split, the share of rows with purchased == 0 is the accuracy of "
               "predicting 'no purchase' for everybody")
def _always_no(answer):
    value = _scalar(answer, "the accuracy")
    if not 0.0 <= value <= 1.0:
        return False, f"an accuracy lies between 0 and 1, got {value:.4g}"
    _, test = _split()
    expected = float((test[schema.PURCHASED] == 0).mean())
    if abs(value - (1 - expected)) < 1e-6 and abs(expected - 0.5) > 0.01:
        return False, "that is the share of purchases; the rule is right where there was no purchase"
    return close_to(value, expected, rtol=1e-4, what="the accuracy")


def _toy_map() -> float:
    from ...metrics import map_at_k

    recs = pd.DataFrame([(u, i, r + 1) for u, items in TOY_LISTS.items() for r, i in enumerate(items)],
                        columns=[schema.USER, schema.ITEM, schema.RANK])
    relevant = pd.DataFrame([(u, i) for u, items in TOY_RELEVANT.items() for i in items],
                            columns=[schema.USER, schema.ITEM])
    return map_at_k(recs, relevant, k=TOY_K)


@register("ch06-map-toy",
          hint="for each user add up P@i at the positions i <= 3 that hold a relevant item, divide by "
               "min(3, number of relevant items), then average the two users")
def _map_toy(answer):
    value = _scalar(answer, "MAP@3")
    if not 0.0 <= value <= 1.0:
        return False, f"MAP@3 lies between 0 and 1, got {value:.4g}"
    return close_to(value, _toy_map(), rtol=0.0, atol=5e-3, what="MAP@3")


@lru_cache(maxsize=1)
def _knn_hit_rate() -> float:
    from ...metrics import hit_rate_at_k
    from ...ranking import ItemKNNRecommender

    world = _world()
    train, _ = _split()
    model = ItemKNNRecommender().fit(train, n_users=world.n_users, n_items=world.n_items)
    test = world.randomized
    candidates = test[[schema.USER, schema.ITEM]].assign(
        score=model.score_pairs(test[schema.USER], test[schema.ITEM]))
    relevant = test.loc[test[schema.RATING] >= RELEVANT_RATING, [schema.USER, schema.ITEM]]
    return float(hit_rate_at_k(candidates, relevant, k=HIT_K))


@register("ch06-knn-hit-rate",
          hint="score the randomized pairs with the item-kNN model fitted on the logged training split "
               "(score_pairs) and call cr.metrics.hit_rate_at_k with relevant = rating >= 4 and k=3")
def _knn_hit(answer):
    value = _scalar(answer, "the hit rate")
    if not 0.0 <= value <= 1.0:
        return False, f"a hit rate lies between 0 and 1, got {value:.4g}"
    return close_to(value, _knn_hit_rate(), rtol=0.0, atol=2e-3, what="the hit rate")
