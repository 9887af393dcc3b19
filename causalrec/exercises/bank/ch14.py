"""Checks for chapter 14, "Applications and where to go next": recomputed from the default world, never shown."""

from __future__ import annotations

import numpy as np

from ... import schema
from .. import default_world, expect

TOP_SLOT, LOW_SLOT = 1, 5  # the two slots compared in the exercise


@expect("ch14-organic-share", what="the share", low=0, high=1,
        hint="a share has a denominator: which rows of the log should it count?")
def _organic_share():
    log = default_world().interactions
    return float((log.loc[log[schema.PURCHASED] == 1, schema.EXPOSED] == 0).mean())


@expect("ch14-slot-selection", what="the ratio", low=0, rtol=1e-5,
        hint="judge the items by the truth's relevance, not by clicks, and only where the log really showed them; "
             "a factor of 1 would mean the policy put equally good items in both slots")
def _slot_selection():
    world = default_world()
    log = world.interactions
    shown = log[schema.EXPOSED].to_numpy() == 1
    relevance = world.truth.relevance_logged
    means = [relevance[shown & (log[schema.POSITION].to_numpy() == slot)].mean() for slot in (TOP_SLOT, LOW_SLOT)]
    return float(means[0] / means[1])


@expect("ch14-exposure-gini", what="the Gini coefficient", low=0, high=1,
        hint="count how often each of the 300 items was shown (zero counts included), sort the counts, "
             "then apply the chapter's formula")
def _exposure_gini():
    world = default_world()
    log = world.interactions
    counts = np.sort(np.bincount(log.loc[log[schema.EXPOSED] == 1, schema.ITEM].to_numpy(),
                                 minlength=world.n_items)).astype(float)
    n, rank = counts.size, np.arange(1, counts.size + 1)
    return float(np.sum((2 * rank - n - 1) * counts) / (n * counts.sum()))
