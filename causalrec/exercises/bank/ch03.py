"""Checks for chapter 03, "Embeddings": recomputed from the default world (no training), never shown."""

from __future__ import annotations

import numpy as np

from ... import schema
from .. import default_world, expect, register, whole_number

MF_DIM, QUERY_ITEM, N_NEIGHBOURS = 32, 0, 10  # must match the exercise texts


def _cosine(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit.T


@expect("ch03-mf-parameters", what="the number of parameters",
        hint="each user and each item has a vector of length d and one bias; add one global offset")
def _mf_parameters():
    world = default_world()
    return (world.n_users + world.n_items) * (MF_DIM + 1) + 1


@register("ch03-true-neighbour",
          hint="compare item 0's true attribute vector with every other item's by cosine similarity, "
               "leaving item 0 itself out, and keep the most similar")
def _true_neighbour(answer):
    value, world = whole_number(answer, "the item ID"), default_world()
    similarity = _cosine(world.truth.item_attributes)[QUERY_ITEM]
    similarity[QUERY_ITEM] = -np.inf
    if value == QUERY_ITEM:
        return False, "that is the query item itself; exclude it"
    if not 0 <= value < world.n_items:
        return False, f"item IDs run from 0 to {world.n_items - 1}, got {value}"
    return value == int(np.argmax(similarity)), f"item {value} is not the most similar one"


@expect("ch03-true-purity", what="the purity", low=0, high=1,
        hint="apply the chapter's neighbour-purity function, with ten neighbours, to the true item "
             "attribute vectors and the items' categories")
def _true_purity():
    world = default_world()
    labels = world.items[schema.CATEGORY].to_numpy()
    similarity = _cosine(world.truth.item_attributes)
    np.fill_diagonal(similarity, -np.inf)
    neighbours = np.argsort(-similarity, axis=1)[:, :N_NEIGHBOURS]
    return float((labels[neighbours] == labels[:, None]).mean())
