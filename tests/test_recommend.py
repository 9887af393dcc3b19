"""Tests for causalrec.recommend: top-k selection, batched recommendation, and the
four baselines (hand-made cases, bad inputs, and quality on the default world)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import roc_auc_score

import causalrec as cr
from causalrec import schema
from causalrec.recommend import (ContentBasedRecommender, ItemKNNRecommender, PopularityRecommender,
                                 RandomRecommender, recommend, top_k)


def _reference_top_k(scores, k, ids=None):
    """Slow, obviously right: sort each row by (-score, id)."""
    ids = np.arange(scores.shape[1]) if ids is None else np.asarray(ids)
    out = []
    for row in scores:
        order = np.lexsort((ids, -row))[:k]
        out.append(ids[order])
    return np.array(out)


# --------------------------------------------------------------------------- top_k
def test_top_k_orders_by_score_and_breaks_ties_by_lower_id():
    scores = np.array([[0.5, 0.9, 0.9, 0.1, 0.9],
                       [1.0, 1.0, 1.0, 1.0, 1.0]])
    result = top_k(scores, 3)
    np.testing.assert_array_equal(result.indices, [[1, 2, 4], [0, 1, 2]])
    np.testing.assert_array_equal(result.scores, [[0.9, 0.9, 0.9], [1.0, 1.0, 1.0]])
    # a tie that straddles the k-th slot: the lower IDs get in
    np.testing.assert_array_equal(top_k(scores, 2).indices, [[1, 2], [0, 1]])


def test_top_k_with_item_ids_returns_ids_and_breaks_ties_by_id_not_column():
    scores = np.array([[0.2, 0.7, 0.7, 0.7]])
    ids = np.array([50, 30, 10, 20])
    result = top_k(scores, 3, item_ids=ids)
    np.testing.assert_array_equal(result.indices, [[10, 20, 30]])
    np.testing.assert_array_equal(top_k(scores, 4, item_ids=ids).indices, [[10, 20, 30, 50]])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 12), st.data())
def test_top_k_matches_a_full_sort(n_rows, n_items, data):
    values = data.draw(st.lists(st.integers(0, 3), min_size=n_rows * n_items, max_size=n_rows * n_items))
    scores = np.array(values, dtype=float).reshape(n_rows, n_items)   # few values: many ties
    k = data.draw(st.integers(1, n_items))
    perm = np.array(data.draw(st.permutations(range(n_items))))
    np.testing.assert_array_equal(top_k(scores, k).indices, _reference_top_k(scores, k))
    np.testing.assert_array_equal(top_k(scores, k, item_ids=perm).indices, _reference_top_k(scores, k, perm))


def test_every_exclude_form_gives_the_same_answer():
    rng = np.random.default_rng(3)
    scores = rng.random((4, 9))
    mask = np.zeros_like(scores, dtype=bool)
    mask[[0, 0, 2, 3], [1, 5, 0, 8]] = True
    expected = top_k(np.where(mask, -np.inf, scores), 3)
    for exclude in (mask, sp.csr_array(mask.astype(float)), np.nonzero(mask)):
        result = top_k(scores, 3, exclude=tuple(exclude) if isinstance(exclude, tuple) else exclude)
        np.testing.assert_array_equal(result.indices, expected.indices)
        assert not mask[np.arange(4)[:, None], result.indices].any()


def test_rows_with_too_few_eligible_items_are_padded():
    scores = np.array([[0.3, 0.2, 0.1], [0.3, 0.2, 0.1]])
    result = top_k(scores, 2, exclude=np.array([[True, True, False], [False, False, False]]))
    np.testing.assert_array_equal(result.indices, [[2, -1], [0, 1]])
    assert result.scores[0, 1] == -np.inf and result.scores[0, 0] == pytest.approx(0.1)
    # -inf scores count as excluded
    np.testing.assert_array_equal(top_k(np.array([[-np.inf, 1.0]]), 2).indices, [[1, -1]])


def test_top_k_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    scores = torch.tensor([[0.1, 0.3, 0.2]], requires_grad=True)
    np.testing.assert_array_equal(top_k(scores, 2).indices, [[1, 2]])


@pytest.mark.parametrize("k, error, match", [
    (0, ValueError, "k must be at least 1"),
    (-2, ValueError, "k must be at least 1"),
    (4, ValueError, "larger than the number of items"),
    (1.5, TypeError, "k must be an integer"),
])
def test_top_k_rejects_bad_k(k, error, match):
    with pytest.raises(error, match=match):
        top_k(np.ones((2, 3)), k)


def test_top_k_rejects_bad_scores_and_masks():
    with pytest.raises(ValueError, match="NaN"):
        top_k(np.array([[0.1, np.nan]]), 1)
    with pytest.raises(ValueError, match="empty"):
        top_k(np.empty((0, 3)), 1)
    with pytest.raises(ValueError, match="empty"):
        top_k(np.empty((2, 0)), 1)
    with pytest.raises(ValueError, match="2-D"):
        top_k(np.ones(3), 1)
    with pytest.raises(ValueError, match="exclude has shape"):
        top_k(np.ones((2, 3)), 1, exclude=np.zeros((2, 2), dtype=bool))
    with pytest.raises(TypeError, match="boolean mask"):
        top_k(np.ones((2, 3)), 1, exclude=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="exclude columns"):
        top_k(np.ones((2, 3)), 1, exclude=(np.array([0]), np.array([3])))
    with pytest.raises(ValueError, match="repeated"):
        top_k(np.ones((1, 3)), 1, item_ids=[1, 1, 2])
    with pytest.raises(ValueError, match="one ID per column"):
        top_k(np.ones((1, 3)), 1, item_ids=[1, 2])


# --------------------------------------------------------------------------- recommend
def _table_scorer(table):
    return lambda users: table[users]


def test_recommend_batching_does_not_change_the_result():
    rng = np.random.default_rng(0)
    table = rng.integers(0, 4, size=(23, 15)).astype(float)           # ties included
    seen = pd.DataFrame({schema.USER: rng.integers(0, 23, 40), schema.ITEM: rng.integers(0, 15, 40)})
    users = rng.permutation(23)
    full = recommend(_table_scorer(table), users, 15, k=5, seen=seen, batch_size=1024)
    for batch_size in (1, 4, 7):
        pd.testing.assert_frame_equal(full, recommend(_table_scorer(table), users, 15, k=5, seen=seen,
                                                      batch_size=batch_size))
    assert full[schema.USER].drop_duplicates().tolist() == users.tolist()   # users keep their order


def test_recommend_excludes_seen_items_and_ranks_from_one():
    table = np.array([[0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.3, 0.4]])
    seen = pd.DataFrame({schema.USER: [0, 0, 1, 7], schema.ITEM: [0, 2, 3, 1]})   # user 7: ignored
    out = recommend(_table_scorer(table), [0, 1], 4, k=2, seen=seen)
    assert out.columns.tolist() == [schema.USER, schema.ITEM, schema.SCORE, schema.RANK]
    assert out[schema.ITEM].tolist() == [1, 3, 2, 1]
    assert out[schema.RANK].tolist() == [1, 2, 1, 2]
    assert out[schema.SCORE].tolist() == [0.8, 0.6, 0.3, 0.2]


def test_users_with_fewer_unseen_items_get_fewer_rows():
    table = np.ones((3, 3))
    seen = pd.DataFrame({schema.USER: [0, 0, 0, 1, 1], schema.ITEM: [0, 1, 2, 0, 1]})
    out = recommend(_table_scorer(table), [0, 1, 2], 3, k=2, seen=seen)
    assert out.groupby(schema.USER).size().to_dict() == {1: 1, 2: 2}
    everything = pd.DataFrame({schema.USER: [0, 0, 0], schema.ITEM: [0, 1, 2]})
    empty = recommend(_table_scorer(table), [0], 3, k=2, seen=everything)
    assert len(empty) == 0 and empty.columns.tolist() == [schema.USER, schema.ITEM, schema.SCORE, schema.RANK]


def test_recommend_shows_a_progress_bar_only_when_verbose(capsys):
    table = np.ones((4, 3))
    recommend(_table_scorer(table), [0, 1, 2, 3], 3, k=1, batch_size=2)
    assert capsys.readouterr().err == ""
    recommend(_table_scorer(table), [0, 1, 2, 3], 3, k=1, batch_size=2, verbose=True)
    assert "recommending" in capsys.readouterr().err


def test_recommend_rejects_bad_inputs():
    table = np.ones((3, 4))
    good = _table_scorer(table)
    with pytest.raises(ValueError, match="repeated"):
        recommend(good, [0, 0], 4)
    with pytest.raises(ValueError, match="users is empty"):
        recommend(good, [], 4)
    with pytest.raises(ValueError, match="larger than n_items"):
        recommend(good, [0], 4, k=5)
    with pytest.raises(ValueError, match="scorer returned shape"):
        recommend(lambda u: np.ones((len(u), 3)), [0], 4, k=1)
    with pytest.raises(ValueError, match=r"NaN scores for user\(s\) \[2\]"):
        recommend(lambda u: np.where(u[:, None] == 2, np.nan, 1.0) * np.ones((1, 4)), [1, 2], 4, k=1)
    with pytest.raises(ValueError, match="outside"):
        recommend(good, [0], 4, k=1, seen=pd.DataFrame({schema.USER: [0], schema.ITEM: [4]}))
    with pytest.raises(ValueError, match="missing required column"):
        recommend(good, [0], 4, k=1, seen=pd.DataFrame({schema.USER: [0]}))
    with pytest.raises(TypeError, match="callable"):
        recommend(table, [0], 4)


# --------------------------------------------------------------------------- baselines
@pytest.fixture
def log():
    # users 0-1 like items 0 and 1; user 2 likes items 2 and 3; user 3 likes item 0 only
    return pd.DataFrame({
        schema.USER: [0, 0, 1, 1, 2, 2, 3, 3],
        schema.ITEM: [0, 1, 0, 1, 2, 3, 0, 4],
        schema.CLICKED: [1, 1, 1, 1, 1, 1, 1, 0],
        schema.PURCHASED: [0, 1, 0, 0, 0, 1, 0, 1],
    })


def test_popularity_counts_positive_users_and_follows_the_positive_column(log):
    model = PopularityRecommender().fit(log, n_items=6)
    np.testing.assert_array_equal(model.popularity_, [3, 2, 1, 1, 0, 0])
    assert model.recommend([3], k=2)[schema.ITEM].tolist() == [1, 2]     # item 0 already clicked
    assert model.recommend([3], k=2, exclude_seen=False)[schema.ITEM].tolist() == [0, 1]
    bought = PopularityRecommender(positive=schema.PURCHASED).fit(log, n_items=6)
    np.testing.assert_array_equal(bought.popularity_, [0, 1, 0, 1, 1, 0])
    scores = model.score_items([0, 2])
    assert scores.shape == (2, 6) and (scores[0] == scores[1]).all()


def test_random_recommender_is_deterministic_per_seed_and_batch_free(log):
    a = RandomRecommender(random_state=7).fit(log)
    b = RandomRecommender(random_state=7).fit(log)
    c = RandomRecommender(random_state=8).fit(log)
    np.testing.assert_array_equal(a.score_items([0, 1, 2, 3]), b.score_items([0, 1, 2, 3]))
    assert not np.array_equal(a.score_items([0, 1]), c.score_items([0, 1]))
    np.testing.assert_array_equal(a.score_items([2])[0], a.score_items([3, 2])[1])
    pd.testing.assert_frame_equal(a.recommend([0, 1, 2, 3], k=2), a.recommend([0, 1, 2, 3], k=2, batch_size=1))
    with pytest.raises(ValueError, match="random_state"):
        RandomRecommender(random_state=-1).fit(log)


def test_content_based_profiles_and_scores(log):
    features = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 2], [1, 0, 0.1]], dtype=float)
    model = ContentBasedRecommender().fit(log, features)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    np.testing.assert_allclose(model.user_profiles_[0], unit[[0, 1]].mean(axis=0))
    np.testing.assert_allclose(model.user_profiles_[3], unit[0])             # the unclicked item 4 is ignored
    expected = unit @ (unit[0] / np.linalg.norm(unit[0]))
    np.testing.assert_allclose(model.score_items([3])[0], expected)
    assert model.recommend([3], k=1)[schema.ITEM].tolist() == [4]            # the item most like item 0
    # sparse features give the same scores
    sparse = ContentBasedRecommender().fit(log, sp.csr_matrix(features))
    np.testing.assert_allclose(sparse.score_items([0, 1, 2, 3]), model.score_items([0, 1, 2, 3]))


def test_content_based_users_without_positives_score_zero(log):
    model = ContentBasedRecommender().fit(log, np.eye(5), n_users=6)
    assert (model.score_items([5]) == 0).all()


def test_item_knn_similarity_and_neighbours(log):
    model = ItemKNNRecommender().fit(log, n_items=5)
    sim = model.similarity_.toarray()
    assert sim[0, 1] == pytest.approx(2 / np.sqrt(3 * 2))                   # users {0,1,3} vs {0,1}
    assert sim[2, 3] == pytest.approx(1.0) and sim[0, 2] == 0 and np.all(np.diag(sim) == 0)
    np.testing.assert_allclose(sim, sim.T)
    scores = model.score_items([3])[0]                                      # user 3 clicked item 0
    np.testing.assert_allclose(scores, sim[0])
    assert model.recommend([3], k=1)[schema.ITEM].tolist() == [1]
    pruned = ItemKNNRecommender(n_neighbors=1).fit(log, n_items=5)
    assert (pruned.similarity_.toarray() > 0).sum(axis=1).max() == 1


def test_score_pairs_matches_score_items(log):
    model = ItemKNNRecommender().fit(log, n_items=5)
    users, items = np.array([3, 0, 3, 2]), np.array([1, 4, 0, 3])
    np.testing.assert_allclose(model.score_pairs(users, items, batch_size=1),
                               model.score_items(users)[np.arange(4), items])


def test_estimators_follow_the_scikit_learn_contract(log):
    for model in (PopularityRecommender(), RandomRecommender(random_state=0), ItemKNNRecommender(n_neighbors=3)):
        assert model.fit(log) is model
        assert clone(model).get_params() == model.get_params()
        assert not hasattr(clone(model), "user_item_")
    with pytest.raises(NotFittedError, match="not fitted"):
        PopularityRecommender().score_items([0])


def test_baselines_reject_bad_inputs(log):
    with pytest.raises(ValueError, match="unknown user"):
        PopularityRecommender().fit(log).score_items([4])
    with pytest.raises(ValueError, match="outside"):
        PopularityRecommender().fit(log, n_items=3)
    with pytest.raises(ValueError, match="missing required column"):
        PopularityRecommender(positive="liked").fit(log)
    with pytest.raises(ValueError, match="no positive rows"):
        PopularityRecommender().fit(log.assign(**{schema.CLICKED: 0}))
    with pytest.raises(ValueError, match="non-negative"):
        PopularityRecommender().fit(log.assign(**{schema.USER: -1}))
    with pytest.raises(ValueError, match="integer IDs"):
        PopularityRecommender().fit(log.assign(**{schema.ITEM: 0.5}))
    with pytest.raises(ValueError, match="NaN"):
        ContentBasedRecommender().fit(log, np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="outside"):
        ContentBasedRecommender().fit(log, np.ones((3, 2)))               # item 4 has no feature row
    with pytest.raises(ValueError, match="n_neighbors"):
        ItemKNNRecommender(n_neighbors=0).fit(log)
    with pytest.raises(ValueError, match="unknown item"):
        PopularityRecommender().fit(log).score_pairs([0], [9])


# --------------------------------------------------------------------------- default world
@pytest.fixture(scope="module")
def world():
    return cr.load_default()


@pytest.fixture(scope="module")
def randomized_auc(world):
    """AUC of each baseline's scores against "rating >= 4" on the randomized slice."""
    train, test = world.interactions, world.randomized
    relevant = (test[schema.RATING] >= 4).to_numpy()
    text = TfidfVectorizer().fit_transform(world.items[schema.DESCRIPTION])
    models = {
        "random": RandomRecommender(random_state=0).fit(train, n_users=world.n_users, n_items=world.n_items),
        "popularity": PopularityRecommender().fit(train, n_users=world.n_users, n_items=world.n_items),
        "content": ContentBasedRecommender().fit(train, text, n_users=world.n_users),
        "item_knn": ItemKNNRecommender().fit(train, n_users=world.n_users, n_items=world.n_items),
    }
    return {name: roc_auc_score(relevant, model.score_pairs(test[schema.USER], test[schema.ITEM]))
            for name, model in models.items()}


def test_random_scores_carry_no_signal(randomized_auc):
    assert 0.45 < randomized_auc["random"] < 0.55


@pytest.mark.parametrize("name", ["popularity", "content", "item_knn"])
def test_baselines_beat_random_on_the_randomized_slice(randomized_auc, name):
    assert randomized_auc[name] > randomized_auc["random"] + 0.1


@pytest.mark.parametrize("name", ["content", "item_knn"])
def test_personalised_baselines_beat_popularity(randomized_auc, name):
    assert randomized_auc[name] > randomized_auc["popularity"] + 0.02


def test_recommendations_on_the_default_world_are_full_and_unseen(world):
    model = ItemKNNRecommender().fit(world.interactions, n_users=world.n_users, n_items=world.n_items)
    recs = model.recommend(np.arange(world.n_users), k=10)
    assert len(recs) == 10 * world.n_users
    clicked = world.interactions.loc[world.interactions[schema.CLICKED] == 1, [schema.USER, schema.ITEM]]
    assert len(recs.merge(clicked, on=[schema.USER, schema.ITEM])) == 0
