"""Checks for chapter 09, "Debiasing with propensities": recomputed from the default world, never shown."""

from __future__ import annotations

import functools

import numpy as np

from ... import debias, propensity, schema
from .. import as_scalar, close_to, default_world, expect, register

SNIPS_CLIP, ESS_CLIP = 2e-3, 3e-4  # clipping bounds of the exercise texts


@functools.lru_cache(maxsize=1)
def _ratings():
    return debias.logged_ratings(default_world())


@register("ch09-snips-mean",
          hint="weight each logged rating by one over its (clipped) propensity and take the weighted mean, "
               "normalised by the sum of the weights")
def _snips_mean(answer):
    value, ratings = as_scalar(answer, "the mean rating"), _ratings()
    if abs(value - ratings[schema.RATING].mean()) < 1e-6:
        return False, "that is the naive mean of the logged ratings: weight each rating by 1/p"
    expected = propensity.snips_estimate(ratings[schema.RATING], ratings["propensity"], clip=SNIPS_CLIP)
    return close_to(value, expected, rtol=1e-4, what="the mean rating")


@register("ch09-naive-bayes",
          hint="fit the naive Bayes propensity model on the logged ratings and on half of the held-out randomized "
               "users, counting every user-item pair as a possible rating, and read the propensity of a five-star rating")
def _naive_bayes(answer):
    value, world, ratings = as_scalar(answer, "the propensity"), default_world(), _ratings()
    held, _ = debias.split_by_user(world.randomized, 0.1, random_state=0)        # the chapter's held-out users
    n_pairs = world.n_users * world.n_items
    model, everyone = (propensity.NaiveBayesPropensity().fit(ratings[schema.RATING], sample[schema.RATING],
                                                             n_pairs=n_pairs)
                       for sample in (debias.split_by_user(held, 0.5, random_state=0)[0], held))
    if np.isclose(value, model.propensity_by_rating_[0], rtol=1e-4):
        return False, "that is the propensity of a 1-star rating, not of a 5"
    if np.isclose(value, everyone.propensity_by_rating_[-1], rtol=1e-4):
        return False, "that is the estimate from all held-out users: use half of them"
    if value > 0.5:
        return False, (f"{value:.4g} is far too large: did you count only the logged rows as possible "
                       "ratings, instead of all user-item pairs?")
    return close_to(value, model.propensity_by_rating_[-1], rtol=1e-4, what="the propensity")


@expect("ch09-effective-sample-size", what="the effective sample size", rtol=1e-4, low=1,
        hint="with the clipped inverse-propensity weights, it is the squared sum of the weights divided by "
             "the sum of the squared weights")
def _effective_sample_size():
    w = propensity.inverse_propensity_weights(_ratings()["propensity"], clip=ESS_CLIP)
    return float(w.sum() ** 2 / (w ** 2).sum())
