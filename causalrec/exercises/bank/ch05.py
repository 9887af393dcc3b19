"""Checks for chapter 05, "The full pipeline" (book/05_pipeline.ipynb).

Every check recomputes its expected value from the default world (loaded once
per process, no training) and never reveals it. The definitions here must
match the exercise texts in the chapter.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ... import schema
from .. import close_to, register, default_world as _world, as_scalar as _scalar

# ex-05-shuffle-items: the pipeline's split and the shuffle's seed
TEST_SIZE = 0.2
SPLIT_SEED = 0
SHUFFLE_SEED = 0


@lru_cache(maxsize=1)
def _rated_share_removed() -> float:
    from ...prep import clean_interactions

    _, report = clean_interactions(_world().interactions, require=(schema.RATING,))
    return report.removed / report.rows_in


@register("ch05-rated-share",
          hint="call cr.prep.clean_interactions(world.interactions, require=(\"rating\",)) and "
               "divide the report's removed count by rows_in")
def _rated_share(answer):
    value = _scalar(answer, "the share")
    if not 0.0 <= value <= 1.0:
        return False, f"a share lies between 0 and 1, got {value:.4g} (did you give a percentage or a count?)"
    expected = _rated_share_removed()
    if abs(value - (1 - expected)) < 1e-3:
        return False, "that is the share of rows kept; the question asks for the share removed"
    return close_to(value, expected, rtol=1e-4, what="the share")


@lru_cache(maxsize=1)
def _shuffle_drop() -> float:
    from ...metrics import auc
    from ...prep import clean_interactions, random_split
    from ...ranking import PopularityRecommender

    world = _world()
    clean, _ = clean_interactions(world.interactions, known_users=world.users[schema.USER],
                                  known_items=world.items[schema.ITEM], require=(schema.CLICKED,))
    train, test = random_split(clean, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    model = PopularityRecommender().fit(train, n_users=world.n_users, n_items=world.n_items)
    users, items = test[schema.USER].to_numpy(), test[schema.ITEM].to_numpy()
    y = test[schema.CLICKED].to_numpy()
    shuffled = items[np.random.default_rng(SHUFFLE_SEED).permutation(len(items))]
    return float(auc(y, model.score_pairs(users, items)) - auc(y, model.score_pairs(users, shuffled)))


@register("ch05-shuffle-items",
          hint="fit cr.PopularityRecommender() on pipe.train_, score pipe.test_ with score_pairs, "
               "then shuffle the item column with np.random.default_rng(0).permutation and subtract the AUCs "
               "(unshuffled minus shuffled)")
def _shuffle_items(answer):
    value = _scalar(answer, "the AUC drop")
    if not -0.5 <= value <= 0.5:
        return False, f"a difference of two AUCs near 0.5-0.8 cannot be {value:.4g}"
    if value < 0:
        return False, "the drop is negative: subtract the shuffled AUC from the unshuffled one, not the reverse"
    return close_to(value, _shuffle_drop(), rtol=0.0, atol=2e-3, what="the AUC drop")


@lru_cache(maxsize=1)
def _words_per_item() -> float:
    from ...prep import TextVectorizer

    descriptions = _world().items[schema.DESCRIPTION]
    text = TextVectorizer(kind="tfidf").fit(descriptions).transform(descriptions)
    return float((np.asarray(text) > 0).sum(axis=1).mean())


@register("ch05-words-per-item",
          hint="count the non-zero entries of each row of pipe.features_.text and average over items")
def _words_per_item_check(answer):
    value = _scalar(answer, "the mean number of words")
    if value <= 0:
        return False, f"every description has some words, got {value:.4g}"
    vocabulary = len(np.unique(" ".join(_world().items[schema.DESCRIPTION]).split()))
    if value > vocabulary:
        return False, "that is more words than the whole vocabulary (count non-zero entries per row)"
    return close_to(value, _words_per_item(), rtol=1e-3, what="the mean number of words")
