"""Checks for chapter 04, "Deep recommendation models": counts of freshly built layers and one kernel, never shown."""

from __future__ import annotations

import numpy as np
import torch

from .. import close_to, expect, register

ARTICLE_INPUT_DIM, ARTICLE_HIDDEN_DIM, ARTICLE_OUTPUT_DIM, ARTICLE_KERNEL = 1000, 128, 10, 3  # the exercise texts
USER_EMBEDDING_DIM, CONV_CHANNELS, IMAGE_SIDE = 128, 256, 16
FLIP_KERNEL = ((1, 2, 0), (0, 0, 0), (0, 0, -1))


@expect("ch04-article-parameters", what="the number of parameters",
        hint="an embedding has rows times columns weights; a convolution has out x in x kernel x kernel "
             "weights plus one bias per output channel; a linear layer has in x out weights plus out biases")
def _article_parameters():
    layers = (torch.nn.Embedding(ARTICLE_INPUT_DIM, ARTICLE_HIDDEN_DIM),
              torch.nn.Conv2d(1, ARTICLE_HIDDEN_DIM, kernel_size=ARTICLE_KERNEL),
              torch.nn.Linear(ARTICLE_HIDDEN_DIM, ARTICLE_OUTPUT_DIM))
    return int(sum(p.numel() for layer in layers for p in layer.parameters()))


@expect("ch04-flatten-size", what="the number of input features",
        hint="a 3x3 convolution without padding shrinks each side by two; flatten channels x height x width, "
             "then add the user embedding's length")
def _flatten_size():
    return USER_EMBEDDING_DIM + CONV_CHANNELS * (IMAGE_SIDE - 2) ** 2


@register("ch04-flipped-kernel",
          hint="write out one output pixel of each operation and, for each kernel entry, note which input pixel "
               "it multiplies in each")
def _flipped_kernel(answer):
    value, kernel = np.asarray(answer, dtype=float), np.asarray(FLIP_KERNEL, dtype=float)
    if value.shape == kernel.shape and np.allclose(value, kernel):
        return False, "that is the kernel itself, which gives the cross-correlation"
    if value.shape == kernel.shape and any(np.allclose(value, np.flip(kernel, axis)) for axis in (0, 1)):
        return False, "the kernel is flipped along one axis only"
    return close_to(value, np.flip(kernel), what="the kernel")
