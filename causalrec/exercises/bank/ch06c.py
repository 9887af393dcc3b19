"""Checks for chapter 06c, "A pretrained language model for cold-start items": recomputed here, never shown."""

import numpy as np

from .. import default_world, expect, one_letter, register
from ...prep import TextVectorizer

MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=bool)  # must match the exercise text
expect("ch06c-vocabulary", what="the vocabulary size", hint="fit the chapter's TF-IDF vectorizer on all 300 "
       "descriptions and count the words it keeps")(lambda: TextVectorizer().fit(default_world().items["description"]).n_features_)
register("ch06c-not-an-effect", hint="ask which statement needs to know what users would do if the shop showed the "
         "items differently, and whether a better prediction from text can tell that")(one_letter("b"))


@expect("ch06c-mean-pool", what="the cosine similarity", low=-1, high=1, hint="average each sentence's token "
        "vectors over its real tokens only (padding left out), scale both averages to length 1, then multiply")
def _mean_pool():
    pooled = [t[m].mean(axis=0) for t, m in zip(np.random.default_rng(6).normal(size=(2, 5, 4)), MASK)]
    return float(np.dot(*[p / np.linalg.norm(p) for p in pooled]))
