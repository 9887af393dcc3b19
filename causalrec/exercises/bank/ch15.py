"""Checks for chapter 15, "Appendix: the article's formulas, checked" (book/15_formulas.ipynb).

Each check recomputes its expected value from the numbers stated in the exercise
text, with its own arithmetic, and never reveals it.
"""

from __future__ import annotations

import math

from .. import as_scalar, close_to, register

# ex-15-f1-harmonic: the precision and recall given in the exercise
PRECISION, RECALL = 0.9, 0.1

# ex-15-conv-flatten: the article's convolution and the simulator's image size
CHANNELS, KERNEL, IMAGE_SIDE = 256, 3, 16

# ex-15-stable-softmax: the logits of the exercise and the item asked about
LOGITS, ITEM = (1000.0, 1001.0, 1002.0), 2


@register("ch15-f1-harmonic", hint="F1 is the harmonic mean: 2 P R / (P + R)")
def _f1_check(answer):
    expected = 2 * PRECISION * RECALL / (PRECISION + RECALL)
    return close_to(as_scalar(answer, "answer"), expected, rtol=1e-6, what="the F1 score")


@register("ch15-conv-flatten",
          hint="each side shrinks by kernel_size - 1 without padding; multiply by the number of channels")
def _conv_check(answer):
    side = IMAGE_SIDE - KERNEL + 1
    return close_to(as_scalar(answer, "answer"), CHANNELS * side * side, rtol=0, atol=0.5,
                    what="the number of input features")


@register("ch15-stable-softmax", hint="subtract the largest logit before exponentiating")
def _softmax_check(answer):
    top = max(LOGITS)
    weights = [math.exp(z - top) for z in LOGITS]
    return close_to(as_scalar(answer, "answer"), weights[ITEM] / sum(weights), rtol=1e-6,
                    what="the probability")
