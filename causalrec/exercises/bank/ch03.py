"""Checks for chapter 03, "Embeddings" (book/03_embeddings.ipynb).

Every check recomputes its expected value from the default world (loaded once
per process), without training anything, and never reveals it. The constants
below must match the exercise texts in the chapter.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np

from ... import schema
from .. import close_to, register, default_world as _world

# ex-03-mf-parameters: the chapter's matrix factorization (user, item and global biases)
MF_DIM = 32
# ex-03-true-neighbour: the query item
QUERY_ITEM = 0
# ex-03-true-purity: neighbours per item
N_NEIGHBOURS = 10


def _whole_number(answer, what):
    if isinstance(answer, bool) or not isinstance(answer, (numbers.Integral, np.integer)):
        raise ValueError(f"{what} should be a whole number, got {answer!r}")
    return int(answer)


def _cosine(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit.T


@register("ch03-mf-parameters",
          hint="each user and each item has a vector of length d and one bias; add one global offset")
def _mf_parameters(answer):
    value = _whole_number(answer, "the number of parameters")
    world = _world()
    expected = (world.n_users + world.n_items) * (MF_DIM + 1) + 1
    if value == expected:
        return True, ""
    return False, f"{value} is {'too many' if value > expected else 'too few'}"


@register("ch03-true-neighbour",
          hint="normalise world.truth.item_attributes to unit rows, take dot products with item 0's row, "
               "exclude item 0 itself and take the arg-max")
def _true_neighbour(answer):
    value = _whole_number(answer, "the item ID")
    world = _world()
    similarity = _cosine(world.truth.item_attributes)[QUERY_ITEM]
    similarity[QUERY_ITEM] = -np.inf
    expected = int(np.argmax(similarity))
    if value == QUERY_ITEM:
        return False, "that is the query item itself; exclude it"
    if not 0 <= value < world.n_items:
        return False, f"item IDs run from 0 to {world.n_items - 1}, got {value}"
    if value == expected:
        return True, ""
    return False, f"item {value} is not the most similar one"


@lru_cache(maxsize=1)
def _true_purity() -> float:
    world = _world()
    labels = world.items[schema.CATEGORY].to_numpy()
    similarity = _cosine(world.truth.item_attributes)
    np.fill_diagonal(similarity, -np.inf)
    neighbours = np.argsort(-similarity, axis=1)[:, :N_NEIGHBOURS]
    return float((labels[neighbours] == labels[:, None]).mean())


@register("ch03-true-purity",
          hint="use the chapter's neighbour_purity(vectors, labels, k=10) on world.truth.item_attributes "
               "and the items' categories")
def _true_purity_check(answer):
    value = np.asarray(answer, dtype=float)
    if value.shape != ():
        return False, f"the purity must be a single number, got an array of shape {value.shape}"
    if not 0 <= float(value) <= 1:
        return False, f"a purity is a share between 0 and 1, got {float(value):.4g}"
    return close_to(float(value), _true_purity(), rtol=1e-3, what="the purity")
