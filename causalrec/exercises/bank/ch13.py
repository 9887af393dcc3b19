"""Checks for chapter 13, "Real-time recommendation": binomial tail probabilities or seeded untrained tensors, never shown."""

from __future__ import annotations

import math

import torch

from ... import models, serve
from .. import as_scalar, close_to, expect, register

TABLE_SHAPE, TABLE_SEED = (1000, 32), 13
NEUMF_SIZES, NEUMF_SEED, PRUNE_SHARE = dict(n_users=1000, n_items=300, dim=32), 0, 0.8


@expect("ch13-p95-requests", what="the number of requests",
        hint="the number of requests slower than the true p95 is binomial with success probability 0.05; "
             "increase the number of requests until at least five of them land there with probability 0.95")
def _p95_requests():
    n = 1
    while 1 - sum(math.comb(n, j) * 0.05**j * 0.95 ** (n - j) for j in range(5)) < 0.95:
        n += 1
    return n


@expect("ch13-rounding-error", what="the largest error", low=0, high=0.1,
        hint="build the seeded table as the exercise says, quantize it with the chapter's int8 embedding, "
             "and take the largest absolute difference between its weights and the original")
def _rounding_error():
    weight = torch.randn(*TABLE_SHAPE, generator=torch.Generator().manual_seed(TABLE_SEED))
    return float((serve.Int8Embedding(weight).weight - weight).abs().max())


@register("ch13-global-pruning",
          hint="seed torch with 0, build the chapter's NeuMF, prune 80% of its weights globally, and take the "
               "share of zeros in the output layer's weights")
def _global_pruning(answer):
    value = as_scalar(answer, "the share of zeros")
    if abs(value - PRUNE_SHARE) < 1e-9:
        return False, ("exactly 0.8 is the overall share; global pruning does not give every layer "
                       "the same share (did you prune layer by layer?)")
    torch.manual_seed(NEUMF_SEED)
    pruned = serve.prune(models.NeuMF(**NEUMF_SIZES), PRUNE_SHARE, scope="global")
    return close_to(value, float((pruned.output.weight == 0).float().mean()), rtol=0, what="the share of zeros")
