"""Checks for chapter 03, "Embeddings": recomputed from the default world (no training), never shown."""

from __future__ import annotations

import numpy as np

from ... import schema
from .. import as_scalar, close_to, default_world, expect, register, whole_number

MF_DIM, QUERY_ITEM = 32, 0  # must match the exercise texts


def _cosine(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit.T


@expect("ch03-mf-parameters", what="the number of parameters",
        hint="each user and each item has a vector of length d and one bias; add one global offset")
def _mf_parameters():
    world = default_world()
    return (world.n_users + world.n_items) * (MF_DIM + 1) + 1


@register("ch03-true-neighbour",
          hint="compare item 0's true attribute vector with every other item's by cosine similarity, "
               "leaving item 0 itself out, and keep the most similar")
def _true_neighbour(answer):
    value, world = whole_number(answer, "the item ID"), default_world()
    similarity = _cosine(world.truth.item_attributes)[QUERY_ITEM]
    similarity[QUERY_ITEM] = -np.inf
    if value == QUERY_ITEM:
        return False, "that is the query item itself; exclude it"
    if not 0 <= value < world.n_items:
        return False, f"item IDs run from 0 to {world.n_items - 1}, got {value}"
    return value == int(np.argmax(similarity)), f"item {value} is not the most similar one"


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
