"""Checks for chapter 04, "Deep recommendation models": counts of freshly built layers, never shown."""

from __future__ import annotations

import torch

from ... import models
from .. import expect

ARTICLE_INPUT_DIM, ARTICLE_HIDDEN_DIM, ARTICLE_OUTPUT_DIM, ARTICLE_KERNEL = 1000, 128, 10, 3  # the exercise texts
USER_EMBEDDING_DIM, CONV_CHANNELS, IMAGE_SIDE = 128, 256, 16
NEUMF_USERS, NEUMF_ITEMS, NEUMF_DIM, NEUMF_HIDDEN = 1000, 300, 16, (32, 16, 8)


def _count(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


@expect("ch04-article-parameters", what="the number of parameters",
        hint="an embedding has rows times columns weights; a convolution has out x in x kernel x kernel "
             "weights plus one bias per output channel; a linear layer has in x out weights plus out biases")
def _article_parameters():
    return sum(_count(layer) for layer in (torch.nn.Embedding(ARTICLE_INPUT_DIM, ARTICLE_HIDDEN_DIM),
                                           torch.nn.Conv2d(1, ARTICLE_HIDDEN_DIM, kernel_size=ARTICLE_KERNEL),
                                           torch.nn.Linear(ARTICLE_HIDDEN_DIM, ARTICLE_OUTPUT_DIM)))


@expect("ch04-flatten-size", what="the number of input features",
        hint="a 3x3 convolution without padding shrinks each side by two; flatten channels x height x width, "
             "then add the user embedding's length")
def _flatten_size():
    return USER_EMBEDDING_DIM + CONV_CHANNELS * (IMAGE_SIDE - 2) ** 2


@expect("ch04-neumf-parameters", what="the number of parameters",
        hint="four embedding tables (users and items, for each of the two towers), then weights plus biases "
             "of every linear layer")
def _neumf_parameters():
    return _count(models.NeuMF(NEUMF_USERS, NEUMF_ITEMS, NEUMF_DIM, hidden=NEUMF_HIDDEN))
