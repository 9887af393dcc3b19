"""Checks for chapter 09, "Debiasing with propensities": recomputed from the default world, never shown."""

from __future__ import annotations

import functools

import numpy as np

from ... import debias, propensity, schema
from .. import as_scalar, close_to, default_world, expect, register

SNIPS_CLIP = 2e-3  # clipping bound of the exercise text


@functools.lru_cache(maxsize=1)
def _ratings():
    return debias.logged_ratings(default_world())


@register("ch09-snips-mean",
          hint="replace each propensity below the bound by the bound, then weight each rating by one over it: "
               "the estimate is a weighted mean, so neither |D| nor an imputation enters")
def _snips_mean(answer):
    value, ratings = as_scalar(answer, "the mean rating"), _ratings()
    if abs(value - ratings[schema.RATING].mean()) < 1e-6:
        return False, "that is the naive mean of the logged ratings: weight each rating by 1/p"
    expected = propensity.snips_estimate(ratings[schema.RATING], ratings["propensity"], clip=SNIPS_CLIP)
    return close_to(value, expected, rtol=1e-4, what="the mean rating")


@register("ch09-naive-bayes",
          hint="in Bayes' rule, every logged rating of value r gets the same propensity: what do the weights "
               "of all logged ratings of that value add up to, and what changes when a random 80% are summed?")
def _naive_bayes(answer):
    value, world, ratings = as_scalar(answer, "the weighted mean"), default_world(), _ratings()
    held, _ = debias.split_by_user(world.randomized, 0.1, random_state=0)        # the chapter's held-out users
    model = propensity.NaiveBayesPropensity().fit(ratings[schema.RATING], held[schema.RATING],
                                                  n_pairs=world.n_users * world.n_items)
    rating = debias.validation_split(ratings, ratings["propensity"], 0.2, random_state=0)[0][schema.RATING].to_numpy()
    for wrong, why in [(rating.mean(), "the unweighted mean of the fitting part"),
                       (held[schema.RATING].mean(), "the held-out users' mean: weight the fitting part's ratings")]:
        if abs(value - wrong) < 5e-4:
            return False, f"that is {why}"
    return close_to(value, float(np.average(rating, weights=1 / model.predict(rating))), rtol=0, atol=5e-4,
                    what="the weighted mean")


@expect("ch09-effective-sample-size", what="the effective sample size", rtol=2e-3, low=1,
        hint="the weights are those of the validation ratings the chapter's validation split holds out, "
             "each one over its propensity; the formula is in the exercise")
def _effective_sample_size():
    w = 1 / np.asarray(debias.validation_split(_ratings(), _ratings()["propensity"], 0.2, random_state=0)[3])
    return float(w.sum() ** 2 / (w ** 2).sum())
