"""Checks for chapter 05, "The full pipeline": recomputed from the default world (no training), never shown."""

from __future__ import annotations

import numpy as np

import causalrec as cr

from ... import metrics, prep, schema
from .. import as_scalar, close_to, default_world, expect, register

TEST_SIZE, SPLIT_SEED, SHUFFLE_SEED = 0.2, 0, 0  # the pipeline's split and the exercise's shuffle


@expect("ch05-shared-credit", what="the AUC drop", rtol=0, atol=1e-6, low=-1, high=1,
        hint="the model's score is the average of the two copies; replace the first copy by its shuffled "
             "version, score again, and subtract that AUC from the unshuffled one")
def _shared_credit():
    rng, n = np.random.default_rng(0), 5000
    signal = rng.normal(size=n)
    clicked = (signal + rng.normal(size=n) > 0).astype(int)
    shuffled = signal[np.random.default_rng(1).permutation(n)]
    return float(metrics.auc(clicked, signal) - metrics.auc(clicked, 0.5 * shuffled + 0.5 * signal))


@register("ch05-shuffle-items",
          hint="score the held-out rows with a click-popularity model fitted on the pipeline's training rows, "
               "then score them again with the item column shuffled (seed 0); the importance is the AUC "
               "before minus the AUC after")
def _shuffle_items(answer):
    value, world = as_scalar(answer, "the AUC drop"), default_world()
    if value < 0:
        return False, "the drop is negative: subtract the shuffled AUC from the unshuffled one, not the reverse"
    clean, _ = prep.clean_interactions(world.interactions, known_users=world.users[schema.USER],
                                       known_items=world.items[schema.ITEM], require=(schema.CLICKED,))
    train, test = prep.random_split(clean, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    model = cr.PopularityRecommender().fit(train, n_users=world.n_users, n_items=world.n_items)
    users, items, y = test[schema.USER].to_numpy(), test[schema.ITEM].to_numpy(), test[schema.CLICKED].to_numpy()
    shuffled = items[np.random.default_rng(SHUFFLE_SEED).permutation(len(items))]
    drop = metrics.auc(y, model.score_pairs(users, items)) - metrics.auc(y, model.score_pairs(users, shuffled))
    return close_to(value, drop, rtol=0.0, atol=2e-3, what="the AUC drop")


@expect("ch05-words-per-item", what="the mean number of words", low=0,
        hint="a word that occurs in a description has a non-zero TF-IDF weight: count those per item, "
             "then average over the items")
def _words_per_item():
    descriptions = default_world().items[schema.DESCRIPTION]
    text = prep.TextVectorizer(kind="tfidf").fit(descriptions).transform(descriptions)
    return float((np.asarray(text) > 0).sum(axis=1).mean())
