"""Checks for chapter 01, "Recommender systems" (book/01_recommenders.ipynb).

Every check recomputes its expected value from the default world (loaded once
per process) and never reveals it. The definitions here must match the
exercise texts in the chapter.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from sklearn.metrics import roc_auc_score

from ... import schema
from .. import close_to, register, default_world as _world, as_scalar as _scalar

# ex-01-long-tail: the 20% of items with the most logged purchases
TOP_SHARE = 0.2
# ex-01-randomized-exposure: popularity bins in the randomized slice
N_BINS = 5
# ex-01-purchase-popularity and ex-01-oracle: what counts as relevant, list length
RELEVANT_RATING = 4
K = 10


@lru_cache(maxsize=1)
def _top_item_purchase_share() -> float:
    world = _world()
    per_item = (world.interactions.groupby(schema.ITEM)[schema.PURCHASED].sum()
                .reindex(range(world.n_items), fill_value=0).to_numpy())
    n_top = int(round(TOP_SHARE * world.n_items))
    return float(np.sort(per_item)[::-1][:n_top].sum() / per_item.sum())


@register("ch01-long-tail",
          hint="count logged purchases per item (items with none count as 0), sort descending, "
               "and divide the sum of the first 20% (60 items) by the total")
def _long_tail(answer):
    value = _scalar(answer, "the share")
    if value > 1.0:
        return False, f"a share lies between 0 and 1, got {value:.4g} (did you give a percentage?)"
    return close_to(value, _top_item_purchase_share(), rtol=1e-3, what="the share")


@lru_cache(maxsize=1)
def _randomized_exposure_ratio() -> float:
    from ...plots import rate_by_bin

    world = _world()
    slice_ = world.randomized.merge(world.items[[schema.ITEM, schema.POPULARITY]], on=schema.ITEM)
    table = rate_by_bin(slice_, schema.POPULARITY, schema.EXPOSED, bins=N_BINS)
    return float(table["rate"].iloc[-1] / table["rate"].iloc[0])


@register("ch01-randomized-exposure",
          hint="merge world.randomized with the items' popularity, then use "
               "cr.plots.rate_by_bin(..., 'popularity', 'exposed', bins=5) and divide the last rate by the first")
def _randomized_exposure(answer):
    value = _scalar(answer, "the ratio")
    if value > 2.0:
        return False, (f"the ratio {value:.4g} is far too large (it should come from world.randomized, "
                       "not from the logged interactions)")
    return close_to(value, _randomized_exposure_ratio(), rtol=1e-3, what="the ratio")


@lru_cache(maxsize=1)
def _purchase_popularity_auc() -> float:
    from ...ranking import PopularityRecommender

    world = _world()
    model = PopularityRecommender(positive=schema.PURCHASED).fit(
        world.interactions, n_users=world.n_users, n_items=world.n_items)
    test = world.randomized
    scores = model.score_pairs(test[schema.USER], test[schema.ITEM])
    return float(roc_auc_score(test[schema.RATING] >= RELEVANT_RATING, scores))


@register("ch01-purchase-popularity",
          hint="fit PopularityRecommender(positive=cr.schema.PURCHASED) on world.interactions, score the "
               "randomized pairs with score_pairs, and compute cr.metrics.auc against rating >= 4")
def _purchase_popularity(answer):
    value = _scalar(answer, "the AUC")
    if not 0.0 <= value <= 1.0:
        return False, f"an AUC lies between 0 and 1, got {value:.4g}"
    return close_to(value, _purchase_popularity_auc(), rtol=0.0, atol=2e-3, what="the AUC")


@lru_cache(maxsize=1)
def _knn_true_relevance() -> float:
    from ...ranking import ItemKNNRecommender

    world = _world()
    model = ItemKNNRecommender().fit(world.interactions, n_users=world.n_users, n_items=world.n_items)
    recs = model.recommend(np.arange(world.n_users), k=K)
    return float(world.truth.relevance_for(recs[schema.USER], recs[schema.ITEM]).mean())


@register("ch01-oracle",
          hint="recommend 10 items to every user with the default ItemKNNRecommender (seen items excluded), "
               "then average world.truth.relevance_for(users, items) over all the recommended pairs")
def _oracle(answer):
    value = _scalar(answer, "the mean relevance")
    if not 0.0 < value < 1.0:
        return False, f"a relevance is a probability between 0 and 1, got {value:.4g}"
    return close_to(value, _knn_true_relevance(), rtol=2e-3, what="the mean relevance")
