"""Checks for chapter 14, "Applications and where to go next" (book/14_applications.ipynb).

Every check recomputes its expected value from the default world and never
reveals it. The definitions below must match the exercise texts in the chapter.
"""

from __future__ import annotations

import numpy as np

from ... import schema
from .. import as_scalar, close_to, default_world, register

# ex-14-position-ratio: the two slots compared in the randomized slice
TOP_SLOT, LOW_SLOT = 1, 5


def _organic_share() -> float:
    log = default_world().interactions
    purchases = log[log[schema.PURCHASED] == 1]
    return float((purchases[schema.EXPOSED] == 0).mean())


@register("ch14-organic-share",
          hint="keep the purchased rows, then take the mean of (exposed == 0) among them")
def _organic_share_check(answer):
    return close_to(as_scalar(answer, "answer"), _organic_share(), rtol=1e-3, what="the share")


def _position_ratio() -> float:
    randomized = default_world().randomized
    shown = randomized[randomized[schema.EXPOSED] == 1]
    rate = shown.groupby(schema.POSITION)[schema.CLICKED].mean()
    return float(rate[TOP_SLOT] / rate[LOW_SLOT])


@register("ch14-position-ratio",
          hint="group the shown rows of world.randomized by position and average clicked")
def _position_ratio_check(answer):
    return close_to(as_scalar(answer, "answer"), _position_ratio(), rtol=1e-3, what="the ratio")


def _exposure_gini() -> float:
    world = default_world()
    log = world.interactions
    counts = np.sort(np.bincount(log.loc[log[schema.EXPOSED] == 1, schema.ITEM].to_numpy(),
                                 minlength=world.n_items)).astype(float)
    n = counts.size
    rank = np.arange(1, n + 1)
    return float(np.sum((2 * rank - n - 1) * counts) / (n * counts.sum()))


@register("ch14-exposure-gini",
          hint="np.bincount of the shown rows' item_id with minlength=300, sorted, then the formula")
def _exposure_gini_check(answer):
    return close_to(as_scalar(answer, "answer"), _exposure_gini(), rtol=1e-3, what="the Gini coefficient")
