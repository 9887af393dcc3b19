"""Checks for chapter 15, "Appendix: the article's formulas, checked": from the numbers in the exercise texts."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import expect

# must match the exercise texts (and section 15's tiny population)
VALUES = np.array([5.0, 4.0, 4.0, 2.0, 1.0, 1.0])
PROPENSITY = np.array([0.9, 0.7, 0.6, 0.3, 0.1, 0.1])
GUESS, WRONG_PROPENSITY = 3.0, 0.5
LOGITS, TARGET = (0.0, 1.0, 2.0), 0.5


@expect("ch15-snips-bias", what="the bias", rtol=1e-6,
        hint="list the 63 patterns in which at least one pair is observed; weight each pattern's SNIPS value by "
             "the probability of that pattern, divide by the probability that anything is observed, then subtract "
             "the true mean")
def _snips_bias():
    total = weight = 0.0
    for pattern in itertools.product((0, 1), repeat=len(VALUES)):
        seen = np.array(pattern, dtype=bool)
        if seen.any():
            chance = float(np.prod(np.where(seen, PROPENSITY, 1 - PROPENSITY)))
            total += chance * (VALUES[seen] / PROPENSITY[seen]).sum() / (1 / PROPENSITY[seen]).sum()
            weight += chance
    return total / weight - VALUES.mean()


@expect("ch15-dr-which-unbiased", what="the three expectations", rtol=1e-6,
        hint="the estimator is linear in each observation indicator, so replace every indicator by its true "
             "probability; the propensity in the denominator is the one the estimator believes")
def _dr_expectations():
    def expected_dr(imputed, believed):
        return float(np.mean(imputed + PROPENSITY * (VALUES - imputed) / believed))

    guess = np.full_like(VALUES, GUESS)
    wrong = np.full_like(VALUES, WRONG_PROPENSITY)
    return [expected_dr(VALUES, wrong), expected_dr(guess, PROPENSITY), expected_dr(guess, wrong)]


@expect("ch15-softmax-temperature", what="the temperature", rtol=1e-4, low=0,
        hint="write the top item's probability as a function of the temperature, check on which side of one "
             "half it lies at two temperatures, and halve the interval between them until it is small")
def _temperature():
    def top(temperature):
        weights = [math.exp((z - max(LOGITS)) / temperature) for z in LOGITS]
        return weights[-1] / sum(weights)

    low, high = 0.01, 100.0  # top(low) > TARGET > top(high)
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if top(middle) > TARGET else (low, middle)
    return (low + high) / 2
