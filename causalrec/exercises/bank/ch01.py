"""Checks for chapter 01, "Recommender systems": recomputed from the default world, never shown."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

import causalrec as cr

from ... import schema
from .. import default_world, expect

TOP_SHARE, RELEVANT_RATING, K = 0.2, 4, 10  # must match the exercise texts


@expect("ch01-long-tail", what="the share", rtol=1e-3, low=0, high=1,
        hint="count the logged purchases of every item (an item never bought counts zero), order the items "
             "from most to least bought, and divide the purchases of the top fifth by all purchases")
def _long_tail():
    world = default_world()
    per_item = (world.interactions.groupby(schema.ITEM)[schema.PURCHASED].sum()
                .reindex(range(world.n_items), fill_value=0).to_numpy())
    return float(np.sort(per_item)[::-1][:int(round(TOP_SHARE * world.n_items))].sum() / per_item.sum())


@expect("ch01-randomized-gap", what="the difference", rtol=1e-3, low=-1, high=1,
        hint="on the randomized slice, not the log: average the purchase column over the shown pairs and over "
             "the unshown pairs, and subtract the second from the first")
def _randomized_gap():
    rates = default_world().randomized.groupby(schema.EXPOSED)[schema.PURCHASED].mean()
    return float(rates.loc[1] - rates.loc[0])


@expect("ch01-purchase-popularity", what="the AUC", rtol=0, atol=2e-3, low=0, high=1,
        hint="a popularity model that counts purchases (not clicks), fitted on all logged rows, scores the "
             "randomized pairs; the AUC compares those scores with whether the rating is 4 or more")
def _purchase_popularity():
    world = default_world()
    model = cr.PopularityRecommender(positive=schema.PURCHASED).fit(
        world.interactions, n_users=world.n_users, n_items=world.n_items)
    test = world.randomized
    return float(roc_auc_score(test[schema.RATING] >= RELEVANT_RATING,
                               model.score_pairs(test[schema.USER], test[schema.ITEM])))


@expect("ch01-oracle", what="the mean relevance", rtol=2e-3, low=0, high=1,
        hint="give every user ten items from the default item-kNN model (seen items left out), then average "
             "the simulator's true relevance over all the recommended pairs")
def _oracle():
    world = default_world()
    model = cr.ItemKNNRecommender().fit(world.interactions, n_users=world.n_users, n_items=world.n_items)
    recs = model.recommend(np.arange(world.n_users), k=K)
    return float(world.truth.relevance_for(recs[schema.USER], recs[schema.ITEM]).mean())
