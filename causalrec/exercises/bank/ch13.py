"""Checks for chapter 13, "Real-time recommendation" (book/13_realtime.ipynb).

Every check recomputes its expected value cheaply (arithmetic, or seeded
untrained tensors: no training) and never reveals it. The definitions here
must match the exercise texts in the chapter.
"""

from __future__ import annotations

from functools import lru_cache


from .. import close_to, register, as_scalar as _scalar

# ex-13-bytes-per-row: an embedding row of DIM float32 numbers vs int8 codes plus one float32 scale
DIM = 32
# ex-13-rounding-error: a seeded table of standard normal numbers
TABLE_SHAPE = (1000, 32)
TABLE_SEED = 13
# ex-13-global-pruning: a freshly initialised NeuMF, pruned globally
NEUMF_SIZES = dict(n_users=1000, n_items=300, dim=32)
NEUMF_SEED = 0
PRUNE_SHARE = 0.8


@register("ch13-bytes-per-row",
          hint="a float32 number takes 4 bytes and an int8 code 1 byte; an int8 row also stores its "
               "own float32 scale")
def _bytes_per_row(answer):
    value = _scalar(answer, "the ratio")
    if value < 1:
        return False, f"the ratio {value:.4g} is below 1: divide the float32 size by the int8 size"
    if value == 4:
        return False, "4 would be right without the per-row scale: count its bytes too"
    return close_to(value, 4 * DIM / (DIM + 4), rtol=1e-3, what="the ratio")


@lru_cache(maxsize=1)
def _rounding_error() -> float:
    import torch

    from ...serve import Int8Embedding

    weight = torch.randn(*TABLE_SHAPE, generator=torch.Generator().manual_seed(TABLE_SEED))
    table = Int8Embedding(weight)
    return float((table.weight - weight).abs().max())


@register("ch13-rounding-error",
          hint="build the table with torch.randn(1000, 32, generator=torch.Generator().manual_seed(13)), "
               "wrap it in cr.serve.Int8Embedding and compare its .weight with the original")
def _rounding(answer):
    value = _scalar(answer, "the largest error")
    if value < 0:
        return False, "an absolute error cannot be negative"
    if value > 0.1:
        return False, (f"{value:.4g} is far too large for int8 codes: take the largest absolute "
                       "difference, not a sum or a relative error")
    return close_to(value, _rounding_error(), rtol=1e-3, what="the largest error")


@lru_cache(maxsize=1)
def _output_sparsity() -> float:
    import torch

    from ...serve import prune
    from ...models import NeuMF

    torch.manual_seed(NEUMF_SEED)
    pruned = prune(NeuMF(**NEUMF_SIZES), PRUNE_SHARE, scope="global")
    return float((pruned.output.weight == 0).float().mean())


@register("ch13-global-pruning",
          hint="torch.manual_seed(0), then NeuMF(1000, 300, dim=32); prune it with "
               "cr.serve.prune(model, 0.8) and take the share of zeros in model.output.weight")
def _global_pruning(answer):
    value = _scalar(answer, "the share of zeros")
    if not 0.0 <= value <= 1.0:
        return False, f"a share lies between 0 and 1, got {value:.4g}"
    if abs(value - PRUNE_SHARE) < 1e-9:
        return False, ("exactly 0.8 is the overall share; global pruning does not give every layer "
                       "the same share (did you use scope='layer'?)")
    return close_to(value, _output_sparsity(), rtol=0.0, atol=1e-6, what="the share of zeros")
