"""Checks for chapter 06b, "From deep to large models": recomputed here, never shown."""

from __future__ import annotations

import numpy as np

from .. import expect, register

MASK_SIZE = 5  # must match the exercise texts
Q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
K = np.array([[1.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
V = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
N_POSITIONS, CHANGED = 6, 2                       # the history and the position whose item changes
CANDIDATES, RELEVANT, TOP = 10, 3, 10             # the random-order exercise
CATALOGUE = dict(n_items=1682, n_blocks=2, max_len=50)


@register("ch06b-causal-mask",
          hint="row t is the query at position t; it may look at position s only when s is not later than t")
def _causal_mask(answer):
    mask = np.asarray(answer)
    if mask.shape != (MASK_SIZE, MASK_SIZE):
        return False, f"the mask has shape {mask.shape}, expected one row and one column per position"
    allowed = mask.astype(bool)
    if np.triu(allowed, 1).any():
        return False, "some position may look at a later one: that is the future"
    if not allowed.diagonal().all():
        return False, "every position must be able to look at itself"
    if not allowed[np.tril_indices(MASK_SIZE)].all():
        return False, "some position is kept from an earlier one it is allowed to see"
    return True, ""


@expect("ch06b-attention", what="the attention output", rtol=1e-6,
        hint="scores are Q times K transposed, divided by the square root of the vector length; set the "
             "future's scores to minus infinity before the row-wise softmax, then weight the rows of V")
def _attention():
    scores = Q @ K.T / np.sqrt(Q.shape[1])
    scores[np.triu_indices(len(Q), 1)] = -np.inf
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)) @ V


@register("ch06b-reach",
          hint="in one block, position t mixes only positions up to t; a second block mixes the first block's "
               "outputs the same way, so ask where the changed item's influence can travel, and in which direction")
def _reach(answer):
    try:
        chosen = {int(p) for p in np.atleast_1d(np.asarray(answer)).ravel()}
    except (TypeError, ValueError):
        return False, "give the positions as a list of whole numbers"
    expected = set(range(CHANGED, N_POSITIONS))
    if chosen - set(range(N_POSITIONS)):
        return False, f"positions run from 0 to {N_POSITIONS - 1}"
    if any(p < CHANGED for p in chosen):
        return False, "an earlier position never reads a later one, in any block"
    if CHANGED not in chosen:
        return False, "a position always reads its own item"
    if chosen != expected:
        return False, "some later position reads the changed one (directly, or through a position in between)"
    return True, ""


@register("ch06b-random-floor",
          hint="under a uniformly random order every one of the top positions holds a relevant item with the "
               "same chance; expected gain is that chance times the position's discount; divide the expected "
               "total by the total of the best possible order")
def _random_floor(answer):
    try:
        value = float(np.asarray(answer, dtype=float))
    except (TypeError, ValueError):
        return False, "give one number"
    discounts = 1 / np.log2(np.arange(2, min(TOP, CANDIDATES) + 2))
    expected = RELEVANT / CANDIDATES * discounts.sum() / discounts[:RELEVANT].sum()
    if abs(value - RELEVANT / CANDIDATES) < 1e-3:
        return False, "that is the chance that one slot holds a relevant item, not the NDCG"
    if not 0 <= value <= 1:
        return False, "an NDCG lies between 0 and 1"
    return abs(value - expected) < 1e-3, "not right: check the discounts and the ideal order's total"


@expect("ch06b-crossover", what="the width",
        hint="write the parameters of the two embedding tables as a formula in the width, and those of the "
             "blocks too: one grows in proportion to the width, the other with its square")
def _crossover():
    from ...sequence import SASRec

    for dim in range(1, 1_000):
        model = SASRec(dim=dim, **CATALOGUE)
        tables = model.items.weight.numel() + model.positions.weight.numel()
        if sum(p.numel() for p in model.blocks.parameters()) > tables:
            return dim
    raise AssertionError("no crossover below 1000")
