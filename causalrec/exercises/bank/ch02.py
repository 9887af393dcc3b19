"""Checks for chapter 02, "Neurons and activations": recomputed from the exercise data, never shown."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from ... import nn
from .. import expect

TEMPERATURE_SCORES, TEMPERATURE_TARGET = np.array([2.0, 1.0, 0.5, 0.0]), 0.5  # must match the exercise texts
DEPTH_WEIGHT, DEPTH_THRESHOLD = 2.0, 1e-6
JACOBIAN_SCORES = np.array([1.0, 2.0, 3.0])
ARTICLE_PROBABILITIES = np.array([0.2, 0.3, 0.4, 0.5])


@expect("ch02-temperature", what="the temperature", rtol=1e-2, low=0,
        hint="the top item's softmax probability falls steadily as the temperature grows: try several "
             "temperatures, or bisect between one that is too low and one that is too high")
def _temperature():  # the top probability falls from 1 (T -> 0) to 1/K (T -> infinity): one crossing
    return brentq(lambda t: nn.softmax(TEMPERATURE_SCORES / t)[0] - TEMPERATURE_TARGET, 1e-2, 1e2)


@expect("ch02-sigmoid-depth", what="the number of layers",
        hint="by the chain rule the gradient at the input is the product of each layer's local slope (the "
             "weight times the sigmoid's derivative at that layer's input); keep multiplying until it is small")
def _sigmoid_depth():
    a, gradient, depth = 0.0, 1.0, 0
    while gradient >= DEPTH_THRESHOLD:
        gradient *= DEPTH_WEIGHT * float(nn.sigmoid_grad(DEPTH_WEIGHT * a))
        a, depth = float(nn.sigmoid(DEPTH_WEIGHT * a)), depth + 1
    return depth


@expect("ch02-softmax-jacobian", what="the Jacobian", rtol=1e-3,
        hint="nudge one score up and down by a small step and see how every output moves: that is one column")
def _softmax_jacobian():
    return nn.softmax_jacobian(JACOBIAN_SCORES)


@expect("ch02-article-logits", what="the logits", rtol=1e-3,
        hint="invert the sigmoid: which input gives each of the four probabilities?")
def _article_logits():
    return np.log(ARTICLE_PROBABILITIES) - np.log1p(-ARTICLE_PROBABILITIES)
