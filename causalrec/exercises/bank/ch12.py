"""Checks for chapter 12, "Cold start, fairness and diversity": popularity counts, true relevance or the
exercise's toy (no training); recomputed, never shown."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

import causalrec as cr

from ... import metrics, schema
from .. import default_world, expect, register

COLD_USER_SHARE, COLD_ITEM_SHARE, SPLIT_SEED, POPULAR_QUANTILE, K = 0.1, 0.1, 0, 0.8, 10  # the chapter's
TOY_SCORES = [0.95, 0.9, 0.85, 0.5, 0.45]
TOY_VECTORS = [[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.8, 0.0, 0.2], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
TOY_LAMBDA, TOY_K = 0.55, 3
LONG_K = 30  # the merit exercise's list length


def item_groups(items: pd.DataFrame) -> pd.Series:
    """'popular' for the items at or above the 80th percentile of past sales, else 'long tail'."""
    popularity = items[schema.POPULARITY].to_numpy()
    return pd.Series(np.where(popularity >= np.quantile(popularity, POPULAR_QUANTILE), "popular", "long tail"),
                     index=items[schema.ITEM].to_numpy())


@functools.lru_cache(maxsize=1)
def _split():
    return cr.cold_start_split(default_world().interactions, cold_user_share=COLD_USER_SHARE,
                                    cold_item_share=COLD_ITEM_SHARE, random_state=SPLIT_SEED)


@expect("ch12-popularity-tail", what="the share", low=0, high=1,
        hint="a popularity model fitted on the split's training rows gives every user the same list: take "
             "one user's top ten (seen items kept) and read the long tail's share of the exposure")
def _popularity_tail():
    world = default_world()
    model = cr.PopularityRecommender().fit(_split().train, n_users=world.n_users, n_items=world.n_items)
    shares = metrics.exposure_by_group(model.recommend([0], k=K, exclude_seen=False), item_groups(world.items))
    return float(shares["exposure_share"].get("long tail", 0.0))


@register("ch12-mmr-toy",
          hint="after the first pick, each candidate's value is lambda times its rescaled score minus one "
               "minus lambda times its largest cosine similarity to an item already in the list")
def _mmr(answer):
    try:
        picked = [int(i) for i in np.asarray(answer).ravel()]
    except (TypeError, ValueError):
        return False, "give the list of item positions, e.g. [0, 4, 1]"
    expected = cr.rerank_mmr(np.array([TOY_SCORES]), np.array(TOY_VECTORS), TOY_K,
                                  lambda_=TOY_LAMBDA).indices[0].tolist()
    if len(picked) != len(expected):
        return False, f"the list has {len(picked)} items; it should have {len(expected)}"
    if picked[0] != expected[0]:
        return False, "the first slot is wrong: with nothing listed yet, MMR takes the best score"
    return picked == expected, f"{sum(a != b for a, b in zip(picked, expected))} of the {len(expected)} slots differ"


@expect("ch12-merit-long-lists", what="the share", low=0, high=1,
        hint="rank the warm items for the warm users by their true relevance as before, but keep thirty per "
             "user, and read the long tail's share of the position-weighted exposure of those lists")
def _merit_long_lists():
    world, split = default_world(), _split()
    users = np.setdiff1d(np.arange(world.n_users), split.cold_users)
    items = np.setdiff1d(np.arange(world.n_items), split.cold_items)
    lists = cr.topk_frame(cr.top_k(world.truth.relevance[np.ix_(users, items)], LONG_K, item_ids=items), users)
    return float(metrics.exposure_by_group(lists, item_groups(world.items).loc[items])["exposure_share"]["long tail"])
