"""Checks for chapter 02, "Neurons and activations" (book/02_activations.ipynb).

The constants below restate each exercise's data; they must match the
exercise text in the chapter. Every check computes its expected value here
and never reveals it.
"""

from __future__ import annotations

import numbers

import numpy as np

from ... import nn
from .. import close_to, register

# ex-02-temperature: the temperature at which the top item gets probability 1/2
TEMPERATURE_SCORES = np.array([2.0, 1.0, 0.5, 0.0])
TEMPERATURE_TARGET = 0.5

# ex-02-sigmoid-depth: a_l = sigmoid(w * a_{l-1}), a_0 = 0; first depth whose gradient < threshold
DEPTH_WEIGHT = 2.0
DEPTH_THRESHOLD = 1e-6

# ex-02-softmax-jacobian: the Jacobian of softmax at these scores
JACOBIAN_SCORES = np.array([1.0, 2.0, 3.0])

# ex-02-article-logits: the logits whose sigmoids are the article's four "probabilities"
ARTICLE_PROBABILITIES = np.array([0.2, 0.3, 0.4, 0.5])


def _top_probability(temperature: float) -> float:
    return float(nn.softmax(TEMPERATURE_SCORES / temperature)[0])


def _temperature_for_target() -> float:
    # The top probability falls steadily from 1 (T -> 0) to 1/K (T -> infinity): bisect.
    low, high = 1e-3, 1e3
    for _ in range(200):
        mid = np.sqrt(low * high)
        if _top_probability(mid) > TEMPERATURE_TARGET:
            low = mid
        else:
            high = mid
    return float(np.sqrt(low * high))


@register("ch02-temperature", hint="softmax(scores / T)[0] falls as T grows; try several T or bisect")
def _temperature(answer):
    value = float(answer)
    if not value > 0:
        return False, f"a temperature must be positive, got {value:.4g}"
    return close_to(value, _temperature_for_target(), rtol=1e-2, what="the temperature")


def _sigmoid_depth() -> int:
    a, gradient, depth = 0.0, 1.0, 0
    while gradient >= DEPTH_THRESHOLD:
        z = DEPTH_WEIGHT * a
        gradient *= DEPTH_WEIGHT * float(nn.sigmoid_grad(z))
        a = float(nn.sigmoid(z))
        depth += 1
    return depth


@register("ch02-sigmoid-depth", hint="multiply the local slopes w * sigmoid_grad(w * a) layer by layer")
def _sigmoid_depth_check(answer):
    if isinstance(answer, bool) or not isinstance(answer, (numbers.Integral, np.integer)):
        return False, f"the answer should be a whole number of layers, got {answer!r}"
    expected = _sigmoid_depth()
    if answer == expected:
        return True, ""
    direction = "too many" if answer > expected else "too few"
    return False, f"{answer} layers is {direction}"


@register("ch02-softmax-jacobian", hint="column j is (softmax(s + h e_j) - softmax(s - h e_j)) / (2h)")
def _softmax_jacobian(answer):
    return close_to(answer, nn.softmax_jacobian(JACOBIAN_SCORES), rtol=1e-3, atol=1e-6,
                    what="the Jacobian")


@register("ch02-article-logits", hint="solve p = 1 / (1 + exp(-z)) for z")
def _article_logits(answer):
    expected = np.log(ARTICLE_PROBABILITIES) - np.log1p(-ARTICLE_PROBABILITIES)
    return close_to(answer, expected, rtol=1e-3, atol=1e-6, what="the logits")
