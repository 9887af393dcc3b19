"""Checks for chapter 09c, "Evaluating a new policy from the logs": recomputed here, never shown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.simulate import simulate_shop
from ...ope import estimate_value, importance_weights
from .. import close_to, register


def _late(**params):  # the chapter's world of seed 0 (with ``params``) and its pairs of days 14-27
    world = simulate_shop(n_users=300, n_items=100, candidates_per_user=24, randomized_per_user=0, image_size=8,
                          params=params or None, random_state=0)
    late = world.interactions["day"].to_numpy() >= 14
    return world, world.interactions[late], world.truth.propensity[late]


def _choice(allowed: str, right: str):  # checks a set of choices given as {3}, 3.0, "3", ["B", "c"] or "b, c"
    def check(answer):
        items = list(answer.replace(",", "").replace(" ", "")) if isinstance(answer, str) else (
            list(answer) if hasattr(answer, "__iter__") else [answer])
        if not (chosen := {str(c).strip().lower().removesuffix(".0") for c in items}) <= set(allowed):
            raise ValueError(f"choose among {', '.join(allowed)}")
        return chosen == set(right), "not the right choice"
    return check


register("ch09c-switch", hint="a weight: the two policies' chances of the logged decision")(_choice("0123", "3"))
register("ch09c-relive", hint="ask which draws a rerun of days 14-27 would make anew")(_choice("abcde", "bc"))


@register("ch09c-coin-flip", hint="a policy's value counts every purchase, shown or not")
def _coin_flip(answer):
    world, log, mu = _late()
    ips = [estimate_value("ips", log["user_id"], log["exposed"], log["purchased"], mu, np.full(len(log), p),
                          n_users=world.n_users).value for p in (0.5, 0.0)]
    return close_to(answer, ips[0] - ips[1], rtol=1e-6, what="the estimate")


@register("ch09c-ess", hint="a top-4 list's weights are 0 or one over a logged probability: what are they worth?")
def _ess(answer):
    world, log, mu = _late(alpha0=-1.5, alpha1=1.6, alpha2=1.2)
    popularity = pd.Series(world.items["popularity"].to_numpy()[log["item_id"].to_numpy()])
    pi = popularity.groupby(log["user_id"].to_numpy()).rank(ascending=False, method="first") <= 4
    w = importance_weights(log["exposed"], mu, pi.to_numpy(float))
    return close_to(answer, w.sum() ** 2 / (w**2).sum(), rtol=1e-4, what="the effective sample size")
