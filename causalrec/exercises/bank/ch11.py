"""Checks for chapter 11, "Case study: real data" (book/11_real_data.ipynb).

The chapter runs on the real Coat files when they are on this machine (``$CAUSALREC_COAT``,
``data/external/coat`` or the cache) and on the Coat-shaped simulated world otherwise; the
checks load the same data the same way, recompute the expected value and never reveal it.
The definitions below must match the exercise texts in the chapter.
"""

from __future__ import annotations

import functools

import numpy as np

from ... import schema
from .. import as_scalar, close_to, register

# ex-11-effective-sample-size: the lower bound on the propensities
CLIP = 0.01


@functools.lru_cache(maxsize=1)
def coat_data():
    """Real Coat if its files are found, else ``coat_like(random_state=0)``: what chapter 11 uses."""
    from ...data.load import coat_like, load_coat

    try:
        return load_coat(verbose=False)
    except FileNotFoundError:
        return coat_like(random_state=0)


def _selection_gap() -> float:
    data = coat_data()
    return float(data.interactions[schema.RATING].mean() - data.randomized[schema.RATING].mean())


@register("ch11-selection-gap", hint="mean of data.interactions['rating'] minus mean of data.randomized['rating']")
def _selection_gap_check(answer):
    return close_to(as_scalar(answer, "the gap"), _selection_gap(), rtol=1e-3, atol=1e-4, what="the gap")


def _ips_mean() -> float:
    data = coat_data()
    p = np.asarray(data.propensity, dtype=float)
    return float(np.sum(data.interactions[schema.RATING].to_numpy() / p) / (data.n_users * data.n_items))


@register("ch11-ips-mean",
          hint="cr.debias.ips_estimate(train ratings, data.propensity, n_total=n_users * n_items), no clipping")
def _ips_mean_check(answer):
    return close_to(as_scalar(answer, "the estimate"), _ips_mean(), rtol=1e-3, what="the estimate")


def _effective_sample_size() -> float:
    w = 1.0 / np.maximum(np.asarray(coat_data().propensity, dtype=float), CLIP)
    return float(w.sum() ** 2 / (w ** 2).sum())


@register("ch11-effective-sample-size",
          hint="weights = cr.propensity.inverse_propensity_weights(data.propensity, clip=0.01); "
               "then (sum of weights) squared over the sum of squared weights")
def _effective_sample_size_check(answer):
    return close_to(as_scalar(answer, "the effective sample size"), _effective_sample_size(), rtol=1e-3,
                    what="the effective sample size")
