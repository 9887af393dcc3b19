"""Checks for chapter 15, "Appendix: the article's formulas, checked": from the numbers in the exercise texts."""

from __future__ import annotations

import math

from .. import expect

PRECISION, RECALL = 0.9, 0.1  # must match the exercise texts
CHANNELS, KERNEL, IMAGE_SIDE = 256, 3, 16
LOGITS, ITEM = (1000.0, 1001.0, 1002.0), 2


@expect("ch15-f1-harmonic", what="the F1 score", rtol=1e-6, low=0, high=1,
        hint="F1 is the harmonic mean of precision and recall, not their arithmetic mean")
def _f1():
    return 2 * PRECISION * RECALL / (PRECISION + RECALL)


@expect("ch15-conv-flatten", what="the number of input features",
        hint="without padding each side shrinks by the kernel size minus one; multiply by the number of channels")
def _conv_flatten():
    return CHANNELS * (IMAGE_SIDE - KERNEL + 1) ** 2


@expect("ch15-stable-softmax", what="the probability", rtol=1e-6, low=0, high=1,
        hint="subtract the largest logit from every logit before exponentiating")
def _stable_softmax():
    weights = [math.exp(z - max(LOGITS)) for z in LOGITS]
    return weights[ITEM] / sum(weights)
