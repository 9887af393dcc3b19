"""Checks for chapter 09, "Debiasing with propensities" (book/09_debiasing.ipynb).

Every check recomputes its expected value from the default world (loaded once per
process, no training) and never reveals it. The definitions here must match the
exercise texts in the chapter.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ... import schema
from .. import close_to, register, as_scalar as _scalar

# ex-09-snips-mean: clipping bound on the true propensities
SNIPS_CLIP = 1e-3
# ex-09-effective-sample-size: clipping bound on the true propensities
ESS_CLIP = 3e-4


@lru_cache(maxsize=1)
def _world_and_ratings():
    from ...data.load import load_default
    from ...debias import logged_ratings

    world = load_default()
    return world, logged_ratings(world)


@register("ch09-snips-mean",
          hint="cr.debias.snips_estimate(logged['rating'], logged['propensity'], clip=0.001)")
def _snips_mean(answer):
    from ...debias import snips_estimate

    value = _scalar(answer, "the mean rating")
    if not schema.RATING_MIN <= value <= schema.RATING_MAX:
        return False, f"a mean rating lies between 1 and 5, got {value:.4g}"
    _, ratings = _world_and_ratings()
    expected = snips_estimate(ratings[schema.RATING], ratings["propensity"], clip=SNIPS_CLIP)
    if abs(value - ratings[schema.RATING].mean()) < 1e-6:
        return False, "that is the naive mean of the logged ratings: weight each rating by 1/p"
    return close_to(value, expected, rtol=1e-4, what="the mean rating")


@register("ch09-naive-bayes",
          hint="fit NaiveBayesPropensity on logged['rating'] and world.randomized['rating'] with "
               "n_pairs = n_users * n_items, and take the last entry of propensity_by_rating_")
def _naive_bayes(answer):
    from ...propensity import NaiveBayesPropensity

    value = _scalar(answer, "the propensity")
    if not 0.0 < value <= 1.0:
        return False, f"a propensity lies in (0, 1], got {value:.4g}"
    world, ratings = _world_and_ratings()
    model = NaiveBayesPropensity().fit(ratings[schema.RATING], world.randomized[schema.RATING],
                                       n_pairs=world.n_users * world.n_items)
    if np.isclose(value, model.propensity_by_rating_[0], rtol=1e-4):
        return False, "that is the propensity of a 1-star rating, not of a 5"
    if value > 0.5:
        return False, (f"{value:.4g} is far too large: did you use n_pairs = number of logged rows "
                       "instead of all user-item pairs?")
    return close_to(value, model.propensity_by_rating_[-1], rtol=1e-4, what="the propensity")


@register("ch09-effective-sample-size",
          hint="w = cr.propensity.inverse_propensity_weights(logged['propensity'], clip=3e-4); "
               "then w.sum()**2 / (w**2).sum()")
def _effective_sample_size(answer):
    from ...propensity import inverse_propensity_weights

    value = _scalar(answer, "the effective sample size")
    _, ratings = _world_and_ratings()
    if not 1.0 <= value <= len(ratings):
        return False, (f"an effective sample size lies between 1 and the number of ratings "
                       f"({len(ratings)}), got {value:.4g}")
    w = inverse_propensity_weights(ratings["propensity"], clip=ESS_CLIP)
    return close_to(value, float(w.sum() ** 2 / (w ** 2).sum()), rtol=1e-4, what="the effective sample size")
