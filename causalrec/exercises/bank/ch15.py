"""Checks for chapter 15, "Appendix: the article's formulas, checked": from the numbers in the exercise texts."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import expect

VALUES = np.array([5.0, 4.0, 4.0, 2.0, 1.0, 1.0])  # section 15's population, as in the exercise texts
PROPENSITY = np.array([0.9, 0.7, 0.6, 0.3, 0.1, 0.1])


@expect("ch15-snips-bias", what="the bias", rtol=1e-6,
        hint="each of the 63 patterns that observe something counts with its probability, rescaled so that the "
             "63 weights add up to 1, as the exercise says; the true mean is that of all six values")
def _snips_bias():
    seen = [np.array(p, dtype=bool) for p in itertools.product((0, 1), repeat=6) if any(p)]
    chance = np.array([np.prod(np.where(s, PROPENSITY, 1 - PROPENSITY)) for s in seen])
    snips = np.array([(VALUES[s] / PROPENSITY[s]).sum() / (1 / PROPENSITY[s]).sum() for s in seen])
    return float(chance @ snips / chance.sum() - VALUES.mean())


@expect("ch15-dr-which-unbiased", what="the three expectations", rtol=1e-6,
        hint="an exact expectation sums, over all 64 patterns (DR is defined for the empty one), the pattern's "
             "probability under the true propensities times the estimate computed with the believed ones")
def _dr_expectations():
    guess, half = np.full(6, 3.0), np.full(6, 0.5)
    return [float(np.mean(imputed + PROPENSITY * (VALUES - imputed) / believed))
            for imputed, believed in ((VALUES, half), (guess, PROPENSITY), (guess, half))]


@expect("ch15-softmax-temperature", what="the temperature", rtol=1e-4, low=0,
        hint="write the top item's probability as a function of the temperature, check on which side of one "
             "half it lies at two temperatures, and halve the interval between them until it is small")
def _temperature():
    # logits (0, 1, 2): 1 / (1 + x + x^2) = 1/2 with x = exp(-1/T), so x is the golden ratio's inverse
    return 1 / math.log((1 + math.sqrt(5)) / 2)
