"""Checks for chapter 12, "Cold start, fairness and diversity" (book/12_cold_start_fairness.ipynb).

Every check recomputes its expected value from the default world (no
training: popularity counts and the simulator's true relevance) or from the
toy in the exercise text, and never reveals it. The definitions here must
match the chapter's and the exercise texts.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ... import schema
from .. import as_scalar as _scalar, close_to, default_world as _world, register

# the chapter's cold-start split
COLD_USER_SHARE = 0.1
COLD_ITEM_SHARE = 0.1
SPLIT_SEED = 0
# item groups: the 20% of items with the most past sales are "popular", the rest the "long tail"
POPULAR_QUANTILE = 0.8
K = 10
# ex-12-mmr-toy
TOY_SCORES = [0.95, 0.9, 0.85, 0.5, 0.45]
TOY_VECTORS = [[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.8, 0.0, 0.2], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
TOY_LAMBDA = 0.55
TOY_K = 3


def item_groups(items: pd.DataFrame) -> pd.Series:
    """'popular' for the items at or above the 80th percentile of past sales, else 'long tail'."""
    popularity = items[schema.POPULARITY].to_numpy()
    popular = popularity >= np.quantile(popularity, POPULAR_QUANTILE)
    return pd.Series(np.where(popular, "popular", "long tail"), index=items[schema.ITEM].to_numpy())


@lru_cache(maxsize=1)
def _split():
    from ...ranking import cold_start_split

    return cold_start_split(_world().interactions, cold_user_share=COLD_USER_SHARE,
                            cold_item_share=COLD_ITEM_SHARE, random_state=SPLIT_SEED)


def _popularity_tail_share() -> float:
    from ...metrics import exposure_by_group
    from ...ranking import PopularityRecommender

    world = _world()
    model = PopularityRecommender().fit(_split().train, n_users=world.n_users, n_items=world.n_items)
    top = model.recommend([0], k=K, exclude_seen=False)
    return float(exposure_by_group(top, item_groups(world.items))["exposure_share"].get("long tail", 0.0))


@register("ch12-popularity-tail",
          hint="fit cr.PopularityRecommender on split.train (with the world's n_users and "
               "n_items), take one user's top 10 with exclude_seen=False, and read the long tail's "
               "exposure_share from cr.metrics.exposure_by_group")
def _popularity_tail(answer):
    value = _scalar(answer, "the share")
    if not 0.0 <= value <= 1.0:
        return False, f"a share lies between 0 and 1, got {value:.4g}"
    return close_to(value, _popularity_tail_share(), rtol=1e-3, atol=1e-6, what="the share")


def _mmr_toy() -> list:
    from ...ranking import rerank_mmr

    result = rerank_mmr(np.array([TOY_SCORES]), np.array(TOY_VECTORS), TOY_K, lambda_=TOY_LAMBDA)
    return result.indices[0].tolist()


@register("ch12-mmr-toy",
          hint="after the first pick, each candidate's value is lambda * (its rescaled score) minus "
               "(1 - lambda) * (its largest cosine similarity to an item already in the list)")
def _mmr(answer):
    try:
        picked = [int(i) for i in np.asarray(answer).ravel()]
    except (TypeError, ValueError):
        return False, "give the list of item positions, e.g. [0, 4, 1]"
    expected = _mmr_toy()
    if len(picked) != len(expected):
        return False, f"the list has {len(picked)} items; it should have {len(expected)}"
    if picked[0] != expected[0]:
        return False, "the first slot is wrong: with nothing listed yet, MMR takes the best score"
    if picked != expected:
        wrong = sum(a != b for a, b in zip(picked, expected))
        return False, f"{wrong} of the {len(expected)} slots differ"
    return True, ""


def _oracle_gap() -> float:
    from ...metrics import exposure_gap
    from ...ranking import top_k, topk_frame

    world, split = _world(), _split()
    users = np.setdiff1d(np.arange(world.n_users), split.cold_users)
    items = np.setdiff1d(np.arange(world.n_items), split.cold_items)
    relevance = world.truth.relevance[np.ix_(users, items)]
    lists = topk_frame(top_k(relevance, K, item_ids=items), users)
    groups = item_groups(world.items)
    return exposure_gap(lists, groups.loc[items])


@register("ch12-oracle-gap",
          hint="rank the warm items for the warm users by world.truth.relevance with cr.top_k "
               "(item_ids=warm_items), turn it into a table with cr.topk_frame, and compute "
               "cr.metrics.exposure_gap against the warm items' groups")
def _oracle(answer):
    value = _scalar(answer, "the gap")
    if not 0.0 <= value <= 1.0:
        return False, f"an exposure gap lies between 0 and 1, got {value:.4g}"
    return close_to(value, _oracle_gap(), rtol=1e-3, atol=1e-6, what="the gap")
