"""Checks for chapter 06b, "From deep to large models": recomputed here, never shown."""

from __future__ import annotations

import numpy as np

from .. import expect, register

MASK_SIZE = 5  # must match the exercise texts
Q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
K = np.array([[1.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
V = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
PARAMETERS = dict(n_items=300, dim=16, n_blocks=2, max_len=20)


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


@expect("ch06b-parameters", what="the number of parameters",
        hint="add up the two embedding tables (one row per item plus the padding row, one per position), "
             "then per block the weights and biases of the query/key/value and output maps, the two "
             "feed-forward layers and the two layer norms, and the final layer norm")
def _parameters():
    from ...sequence import SASRec

    return int(sum(p.numel() for p in SASRec(**PARAMETERS).parameters()))
