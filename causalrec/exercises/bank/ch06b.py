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
    mask = np.asarray(answer).astype(bool)
    if mask.shape != (MASK_SIZE, MASK_SIZE):
        return False, f"the mask has shape {mask.shape}, expected one row and one column per position"
    if np.triu(mask, 1).any():
        return False, "some position may look at a later one: that is the future"
    return bool(mask[np.tril_indices(MASK_SIZE)].all()), "some position is kept from itself or from an earlier one"


@expect("ch06b-attention", what="the attention output", rtol=1e-6,
        hint="scores are Q times K transposed, divided by the square root of the vector length; set the "
             "future's scores to minus infinity before the row-wise softmax, then weight the rows of V")
def _attention():
    scores = Q @ K.T / np.sqrt(Q.shape[1])
    scores[np.triu_indices(len(Q), 1)] = -np.inf
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)) @ V


@register("ch06b-reach", hint="in each block a position mixes only itself and earlier positions; ask in which "
                             "direction a changed item's influence can travel, block after block")
def _reach(answer):
    chosen = {int(p) for p in np.atleast_1d(answer)}
    if any(p < CHANGED for p in chosen) or CHANGED not in chosen:
        return False, "an earlier position never reads a later one, and a position always reads its own item"
    return chosen == set(range(CHANGED, N_POSITIONS)), "some listed position does not exist, or one is missing"


@expect("ch06b-random-floor", what="the expected NDCG@10", low=0, high=1, rtol=1e-3,
        hint="under a random order every slot holds a relevant item with the same chance; expected gain is that "
             "chance times the slot's discount; divide the expected total by the ideal order's total")
def _random_floor():
    discounts = 1 / np.log2(np.arange(2, min(TOP, CANDIDATES) + 2))
    return RELEVANT / CANDIDATES * discounts.sum() / discounts[:RELEVANT].sum()


@expect("ch06b-crossover", what="the width", hint="write the tables' and the blocks' parameters as formulas in the "
        "width: one grows in proportion to the width, the other with its square")
def _crossover():
    from ...sequence import SASRec

    count = lambda modules: sum(p.numel() for m in modules for p in m.parameters())
    return next(d for d in range(1, 1000) if count([(m := SASRec(dim=d, **CATALOGUE)).blocks]) > count([m.items, m.positions]))
