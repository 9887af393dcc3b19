"""Checks for chapter 03, "Embeddings": recomputed from the default world (no training), never shown."""

from __future__ import annotations

import numpy as np

from .. import as_scalar, close_to, default_world, expect, one_letter, register


@expect("ch03-mf-parameters", what="the dimension",
        hint="write the number of trainable numbers as a function of d (each user and each item has a vector of "
             "length d and one bias; add one global offset) and find the first d at which it reaches the number "
             "of user-item pairs")
def _mf_parameters():
    world, d = default_world(), 1
    while (world.n_users + world.n_items) * (d + 1) + 1 < world.n_users * world.n_items:
        d += 1
    return d


register("ch03-invariance", hint="a score multiplies a user row with an item row, while a cosine compares two "
         "item rows with each other: try both with a random matrix and with an orthogonal one")(one_letter("b"))


LOOP_STEPS, LOOP_LR, LOOP_SLOPE = 5, 0.01, 3.0  # the loop exercise: y = 3x on x = 1..5, w from 0


@register("ch03-loop-by-hand",
          hint="each step resets the gradient, computes the mean squared error of w times x against y, "
               "backpropagates and lets plain gradient descent move w against its gradient")
def _loop_by_hand(answer):
    value, x = as_scalar(answer, "the weight"), np.arange(1.0, 6.0)
    right = stale = total = 0.0
    for _ in range(LOOP_STEPS):
        right -= LOOP_LR * np.mean(2 * x * (right - LOOP_SLOPE) * x)
        total += np.mean(2 * x * (stale - LOOP_SLOPE) * x)   # a loop that never resets its gradients
        stale -= LOOP_LR * total
    if abs(value - stale) < 1e-4:
        return False, "each step used the sum of all the gradients so far: something is not reset"
    return close_to(value, right, rtol=1e-4, what="the weight")
