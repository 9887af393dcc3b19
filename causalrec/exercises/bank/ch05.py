"""Checks for chapter 05, "The full pipeline": recomputed from the default world (no training), never shown."""

from __future__ import annotations

import numpy as np

import causalrec as cr

from ... import metrics, prep, schema
from .. import as_scalar, close_to, default_world, expect, register

TEST_SIZE, SPLIT_SEED, SHUFFLE_SEED = 0.2, 0, 0  # the pipeline's split and the exercise's shuffle


@register("ch05-rated-share",
          hint="clean the logged interactions requiring a rating, and divide the rows the report says were "
               "removed by the rows that went in")
def _rated_share(answer):
    value = as_scalar(answer, "the share")
    if not 0.0 <= value <= 1.0:
        return False, f"a share lies between 0 and 1, got {value:.4g} (did you give a percentage or a count?)"
    _, report = prep.clean_interactions(default_world().interactions, require=(schema.RATING,))
    expected = report.removed / report.rows_in
    if abs(value - (1 - expected)) < 1e-3:
        return False, "that is the share of rows kept; the question asks for the share removed"
    return close_to(value, expected, rtol=1e-4, what="the share")


def _shuffle_drop() -> float:
    world = default_world()
    clean, _ = prep.clean_interactions(world.interactions, known_users=world.users[schema.USER],
                                       known_items=world.items[schema.ITEM], require=(schema.CLICKED,))
    train, test = prep.random_split(clean, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    model = cr.PopularityRecommender().fit(train, n_users=world.n_users, n_items=world.n_items)
    users, items, y = test[schema.USER].to_numpy(), test[schema.ITEM].to_numpy(), test[schema.CLICKED].to_numpy()
    shuffled = items[np.random.default_rng(SHUFFLE_SEED).permutation(len(items))]
    return float(metrics.auc(y, model.score_pairs(users, items)) - metrics.auc(y, model.score_pairs(users, shuffled)))


@register("ch05-shuffle-items",
          hint="score the held-out rows with a click-popularity model fitted on the pipeline's training rows, "
               "then score them again with the item column shuffled (seed 0); the importance is the AUC "
               "before minus the AUC after")
def _shuffle_items(answer):
    value = as_scalar(answer, "the AUC drop")
    if value < 0:
        return False, "the drop is negative: subtract the shuffled AUC from the unshuffled one, not the reverse"
    return close_to(value, _shuffle_drop(), rtol=0.0, atol=2e-3, what="the AUC drop")


@expect("ch05-words-per-item", what="the mean number of words", low=0,
        hint="a word that occurs in a description has a non-zero TF-IDF weight: count those per item, "
             "then average over the items")
def _words_per_item():
    descriptions = default_world().items[schema.DESCRIPTION]
    text = prep.TextVectorizer(kind="tfidf").fit(descriptions).transform(descriptions)
    return float((np.asarray(text) > 0).sum(axis=1).mean())
