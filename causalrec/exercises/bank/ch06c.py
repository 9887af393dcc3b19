"""Checks for chapter 06c, "A pretrained language model for cold-start items": recomputed here, never shown."""

import numpy as np

from .. import expect, one_letter, register

# The data of the exercise texts: padded token vectors and their masks; a tiny cold-start regression.
TOKENS, MASK = np.random.default_rng(6).normal(size=(2, 5, 4)), np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=bool)
X, Q, X_COLD, USER = np.array([[1, 0], [0, 1], [1, 1]]), np.array([[1, 0], [2, 1], [2.5, 1]]), [1, 0.5], [1.5, -1]

expect("ch06c-mean-pool", what="the cosine similarity", low=-1, high=1, hint="the masks say which slots belong to each "
       "sentence; for the predictions, try each variant on the same arrays and compare")(
    lambda: float(np.dot(*[p / np.linalg.norm(p) for p in [t[m].mean(axis=0) for t, m in zip(TOKENS, MASK)]])))
expect("ch06c-cold-score", what="the score", hint="map the warm items' features to their vectors by least squares, "
       "apply the map to the new item's features, then score with the user's vector")(
    lambda: float(np.dot(USER, np.dot(X_COLD, np.linalg.lstsq(X, Q, rcond=None)[0]))))
register("ch06c-not-an-effect", hint="for each statement, ask what a real shop would need to "
         "observe to prove it, and whether clicks on a randomized slice are that")(one_letter("b"))
