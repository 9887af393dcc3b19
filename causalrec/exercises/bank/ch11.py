"""Checks for chapter 11, "Case study: real data": real Coat when its files are here, else the
Coat-shaped simulated world, as the chapter does; recomputed, never shown."""

from __future__ import annotations

import functools

import numpy as np

from ... import schema
from ...data import load
from .. import expect

CLIP = 0.01  # the lower bound on the propensities, as in the chapter's table


@functools.lru_cache(maxsize=1)
def coat_data():
    """Real Coat if its files are found, else ``coat_like(random_state=0)``: what chapter 11 uses."""
    try:
        return load.load_coat(verbose=False)
    except FileNotFoundError:
        return load.coat_like(random_state=0)


@expect("ch11-users-above", what="the number of users",
        hint="compare each user's mean self-selected rating with the same user's mean random rating")
def _users_above():
    means = [t.groupby(schema.USER)[schema.RATING].mean() for t in (coat_data().interactions, coat_data().randomized)]
    return int((means[0] > means[1]).sum())


@expect("ch11-snips-mean", what="the estimate",
        hint="the same numerator as IPS (no clipping); for the denominator, ask what IPS would estimate the "
             "number of all pairs to be from the same weights")
def _snips_mean():
    data = coat_data()
    w = 1.0 / np.asarray(data.propensity, dtype=float)
    return float(np.sum(w * data.interactions[schema.RATING].to_numpy()) / w.sum())


@expect("ch11-one-star-weight", what="the share", low=0, high=1,
        hint="clip the propensities from below, take one over them as weights, and divide the weights of the "
             "1-star ratings by the sum of all weights")
def _one_star_weight():
    w = 1.0 / np.maximum(np.asarray(coat_data().propensity, dtype=float), CLIP)
    return float(w[coat_data().interactions[schema.RATING].to_numpy() == 1].sum() / w.sum())
