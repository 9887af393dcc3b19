"""Checks for chapter 04, "Deep recommendation models" (book/04_models.ipynb).

Every check computes its expected value here (sizes and parameter counts of
freshly built, untrained layers; nothing is trained) and never reveals it.
The constants below must match the exercise texts in the chapter.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np

from .. import register

# ex-04-article-parameters: the article's first listing, RecommendationModel(1000, 128, 10)
ARTICLE_INPUT_DIM, ARTICLE_HIDDEN_DIM, ARTICLE_OUTPUT_DIM, ARTICLE_KERNEL = 1000, 128, 10, 3
# ex-04-flatten-size: the project-practice listing, repaired by flattening first
USER_EMBEDDING_DIM, CONV_CHANNELS, IMAGE_SIDE = 128, 256, 16
# ex-04-neumf-parameters: what Recommender(model="neumf", dim=16) builds on the default world
NEUMF_USERS, NEUMF_ITEMS, NEUMF_DIM, NEUMF_HIDDEN = 1000, 300, 16, (32, 16, 8)


def _whole_number(answer, what):
    if isinstance(answer, bool) or not isinstance(answer, (numbers.Integral, np.integer)):
        raise ValueError(f"{what} should be a whole number, got {answer!r}")
    return int(answer)


def _compare(value: int, expected: int, unit: str):
    if value == expected:
        return True, ""
    return False, f"{value} {unit} is {'too many' if value > expected else 'too few'}"


def _count(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


@lru_cache(maxsize=1)
def _article_parameters() -> int:
    from torch import nn

    layers = [nn.Embedding(ARTICLE_INPUT_DIM, ARTICLE_HIDDEN_DIM),
              nn.Conv2d(1, ARTICLE_HIDDEN_DIM, kernel_size=ARTICLE_KERNEL),
              nn.Linear(ARTICLE_HIDDEN_DIM, ARTICLE_OUTPUT_DIM)]
    return sum(_count(layer) for layer in layers)


@register("ch04-article-parameters",
          hint="embedding: rows x columns; convolution: out x in x 3 x 3 weights plus one bias per output "
               "channel; linear: in x out weights plus out biases")
def _article_parameters_check(answer):
    return _compare(_whole_number(answer, "the number of parameters"), _article_parameters(), "parameters")


@register("ch04-flatten-size",
          hint="a 3x3 convolution without padding turns H x W into (H-2) x (W-2); flatten channels x height "
               "x width, then add the user embedding's length")
def _flatten_size(answer):
    side = IMAGE_SIDE - (3 - 1)
    expected = USER_EMBEDDING_DIM + CONV_CHANNELS * side * side
    return _compare(_whole_number(answer, "the number of input features"), expected, "features")


@lru_cache(maxsize=1)
def _neumf_parameters() -> int:
    from ...models import NeuMF

    return _count(NeuMF(NEUMF_USERS, NEUMF_ITEMS, NEUMF_DIM, hidden=NEUMF_HIDDEN))


@register("ch04-neumf-parameters",
          hint="four tables of (n_users or n_items) x 16, then a*b + b for every linear layer from a to b units")
def _neumf_parameters_check(answer):
    return _compare(_whole_number(answer, "the number of parameters"), _neumf_parameters(), "parameters")
