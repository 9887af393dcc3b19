"""Checks for chapter 11, "Case study: real data": real Coat when its files are here, else the
Coat-shaped simulated world, as the chapter does; recomputed, never shown."""

from __future__ import annotations

import functools

import numpy as np

from ... import schema
from ...data import load
from .. import expect

CLIP = 0.01  # the exercise's lower bound on the propensities


@functools.lru_cache(maxsize=1)
def coat_data():
    """Real Coat if its files are found, else ``coat_like(random_state=0)``: what chapter 11 uses."""
    try:
        return load.load_coat(verbose=False)
    except FileNotFoundError:
        return load.coat_like(random_state=0)


@expect("ch11-selection-gap", what="the gap", atol=1e-4,
        hint="the mean of the self-selected training ratings minus the mean of the randomized test ratings")
def _selection_gap():
    data = coat_data()
    return float(data.interactions[schema.RATING].mean() - data.randomized[schema.RATING].mean())


@expect("ch11-ips-mean", what="the estimate",
        hint="weight each training rating by one over its propensity, sum, and divide by the number of all "
             "user-item pairs; no clipping")
def _ips_mean():
    data = coat_data()
    p = np.asarray(data.propensity, dtype=float)
    return float(np.sum(data.interactions[schema.RATING].to_numpy() / p) / (data.n_users * data.n_items))


@expect("ch11-effective-sample-size", what="the effective sample size", low=1,
        hint="with the clipped inverse-propensity weights, the squared sum of the weights divided by the "
             "sum of the squared weights")
def _effective_sample_size():
    w = 1.0 / np.maximum(np.asarray(coat_data().propensity, dtype=float), CLIP)
    return float(w.sum() ** 2 / (w ** 2).sum())
