"""causalrec.ranking: top-k against a full sort, batched recommendation, re-rankers, and cold start
(fold-in and fill-in checked against the simulator's truth)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import causalrec as cr
from causalrec import schema
from causalrec.ranking import recommend, top_k
from causalrec.recommenders import PopularityRecommender


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


@pytest.mark.parametrize("k", [0, -2, 4, 1.5])
def test_top_k_rejects_bad_k(k):
    with pytest.raises((ValueError, TypeError), match="k"):
        top_k(np.ones((2, 3)), k)


def test_top_k_rejects_bad_scores_and_masks():
    with pytest.raises(ValueError, match="NaN"):
        top_k(np.array([[0.1, np.nan]]), 1)
    for empty in (np.empty((0, 3)), np.empty((2, 0)), np.ones(3)):
        with pytest.raises(ValueError, match="scores"):
            top_k(empty, 1)
    with pytest.raises(ValueError, match="exclude has shape"):
        top_k(np.ones((2, 3)), 1, exclude=np.zeros((2, 2), dtype=bool))
    with pytest.raises(TypeError, match="boolean mask"):
        top_k(np.ones((2, 3)), 1, exclude=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="exclude"):
        top_k(np.ones((2, 3)), 1, exclude=(np.array([0]), np.array([3])))
    with pytest.raises(ValueError, match="item_ids"):
        top_k(np.ones((1, 3)), 1, item_ids=[1, 1, 2])
    with pytest.raises(ValueError, match="item_ids"):
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
    with pytest.raises(ValueError, match="users"):
        recommend(good, [0, 0], 4)
    with pytest.raises(ValueError, match="users"):
        recommend(good, [], 4)
    with pytest.raises(ValueError, match="k=5"):
        recommend(good, [0], 4, k=5)
    with pytest.raises(ValueError, match="scorer"):
        recommend(lambda u: np.ones((len(u), 3)), [0], 4, k=1)
    with pytest.raises(ValueError, match="NaN"):
        recommend(lambda u: np.where(u[:, None] == 2, np.nan, 1.0) * np.ones((1, 4)), [1, 2], 4, k=1)
    with pytest.raises(ValueError, match="seen"):
        recommend(good, [0], 4, k=1, seen=pd.DataFrame({schema.USER: [0], schema.ITEM: [4]}))
    with pytest.raises(ValueError, match="missing required column"):
        recommend(good, [0], 4, k=1, seen=pd.DataFrame({schema.USER: [0]}))
    with pytest.raises(TypeError, match="callable"):
        recommend(table, [0], 4)


@pytest.fixture(scope="module")
def world():
    return cr.load_default()


# =========================================================================== cold start
from causalrec.metrics import exposure_by_group, intra_list_diversity, ndcg_at_k  # noqa: E402
from causalrec.ranking import (ColdStartSplit, TopK, cold_start_split, fill_item_embeddings,  # noqa: E402
                                 first_interactions, fold_in_users, rerank_exposure, rerank_mmr,
                                 topk_frame)


def _grid_log(n_users=20, n_items=10):
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    return pd.DataFrame({schema.USER: users.ravel(), schema.ITEM: items.ravel(),
                         schema.DAY: np.tile(np.arange(n_items)[::-1], n_users)})


def test_cold_start_split_partitions_the_rows_and_keeps_cold_ids_out_of_training():
    log = _grid_log()
    split = cold_start_split(log, cold_user_share=0.25, cold_item_share=0.2, random_state=3)
    assert isinstance(split, ColdStartSplit)
    assert len(split.cold_users) == 5 and len(split.cold_items) == 2
    parts = pd.concat(split[:4])
    assert sorted(parts.index) == list(log.index)                      # every row exactly once
    assert not split.train[schema.USER].isin(split.cold_users).any()
    assert not split.train[schema.ITEM].isin(split.cold_items).any()
    assert split.cold_user_rows[schema.USER].isin(split.cold_users).all()
    assert not split.cold_user_rows[schema.ITEM].isin(split.cold_items).any()
    assert split.cold_item_rows[schema.ITEM].isin(split.cold_items).all()
    assert len(split.cold_both_rows) == 5 * 2
    assert len(split.train) == 15 * 8


def test_cold_start_split_is_seeded():
    log = _grid_log()
    a = cold_start_split(log, random_state=1, cold_user_share=0.3)
    b = cold_start_split(log, random_state=1, cold_user_share=0.3)
    c = cold_start_split(log, random_state=2, cold_user_share=0.3)
    np.testing.assert_array_equal(a.cold_users, b.cold_users)
    assert not np.array_equal(a.cold_users, c.cold_users)
    none = cold_start_split(log, cold_user_share=0, cold_item_share=0)
    assert len(none.train) == len(log) and none.cold_users.size == 0


def test_cold_start_split_rejects_bad_shares():
    log = _grid_log()
    with pytest.raises(ValueError, match="cold_user_share"):
        cold_start_split(log, cold_user_share=1.0)
    with pytest.raises(ValueError, match="cold_item_share"):
        cold_start_split(log, cold_item_share=-0.1)
    with pytest.raises(ValueError, match="nothing to train"):
        cold_start_split(log.head(2), cold_item_share=0.9)
    with pytest.raises(ValueError, match="missing required column"):
        cold_start_split(log.drop(columns=schema.ITEM))


def test_first_interactions_takes_the_earliest_rows_of_each_user():
    log = _grid_log(n_users=3, n_items=5)                  # day runs backwards: item 4 comes first
    first, rest = first_interactions(log, 2)
    assert len(first) == 6 and len(rest) == 9
    assert sorted(first.loc[first[schema.USER] == 1, schema.ITEM]) == [3, 4]
    first0, rest0 = first_interactions(log, 0)
    assert first0.empty and len(rest0) == len(log)
    everything, nothing = first_interactions(log, 50)
    assert len(everything) == len(log) and nothing.empty
    tied = pd.DataFrame({schema.USER: [0, 0, 0], schema.ITEM: [7, 8, 9], schema.DAY: [1, 1, 0]})
    assert first_interactions(tied, 2)[0][schema.ITEM].tolist() == [7, 9]     # ties keep frame order
    with pytest.raises(ValueError, match="n"):
        first_interactions(log, -1)
    with pytest.raises(ValueError, match="missing required column"):
        first_interactions(log, 1, order_by="time")


@pytest.fixture(scope="module")
def small_mf():
    from causalrec.recommenders import Recommender

    # users 0-9 click even items, users 10-19 click odd items; item 8 and 9 never appear
    rows = [(u, i, int((i % 2) == (u >= 10))) for u in range(20) for i in range(8)]
    log = pd.DataFrame(rows, columns=[schema.USER, schema.ITEM, schema.CLICKED])
    catalogue = pd.DataFrame({schema.ITEM: np.arange(10)})
    return Recommender("mf", dim=4, epochs=60, lr=0.05, batch_size=64, validation_fraction=0,
                       verbose=False, random_state=0).fit(log, target=schema.CLICKED, items=catalogue)


def test_fill_item_embeddings_leaves_nothing_to_tell_cold_items_apart(small_mf):
    before = small_mf.score_items(np.arange(20))
    filled = fill_item_embeddings(small_mf, [8, 9])
    after = filled.score_items(np.arange(20))
    np.testing.assert_allclose(after[:, 8], after[:, 9])                  # ID-only: a tie
    assert not np.allclose(before[:, 8], before[:, 9])
    np.testing.assert_allclose(after[:, :8], before[:, :8])               # warm items unchanged
    np.testing.assert_allclose(small_mf.score_items(np.arange(20)), before)   # the original too
    mean_bias = float(small_mf.model_.item_bias.detach()[:8].mean())
    assert float(filled.model_.item_bias.detach()[9]) == pytest.approx(mean_bias, abs=1e-6)


def test_fill_item_embeddings_rejects_bad_input(small_mf):
    with pytest.raises(ValueError, match="outside the catalogue"):
        fill_item_embeddings(small_mf, [10])
    with pytest.raises(NotFittedError):
        fill_item_embeddings(clone(small_mf), [8])


def test_fold_in_learns_a_new_users_taste_and_touches_no_one_else(small_mf):
    new = pd.DataFrame({schema.USER: [20, 20, 20, 20], schema.ITEM: [1, 3, 0, 2], schema.CLICKED: [1, 1, 0, 0]})
    folded = fold_in_users(small_mf, new, steps=200)
    assert folded.n_users_ == 21 and small_mf.n_users_ == 20
    scores = folded.score_items([20])[0]
    assert scores[[5, 7]].min() > scores[[4, 6]].max()                  # odd items, never shown to the user
    np.testing.assert_allclose(folded.score_items(np.arange(20)), small_mf.score_items(np.arange(20)), rtol=1e-6)
    again = fold_in_users(small_mf, new, steps=200)
    np.testing.assert_array_equal(again.score_items([20]), folded.score_items([20]))   # deterministic
    with pytest.raises(ValueError, match="unknown user"):
        small_mf.score_items([20])                                         # the original is unchanged


def test_fold_in_refits_an_existing_row_from_scratch(small_mf):
    # user 0 liked even items in training; folded in on odd clicks, it must flip
    flip = pd.DataFrame({schema.USER: [0, 0, 0, 0], schema.ITEM: [1, 3, 0, 2], schema.CLICKED: [1, 1, 0, 0]})
    scores = fold_in_users(small_mf, flip, steps=200).score_items([0])[0]
    assert scores[[5, 7]].min() > scores[[4, 6]].max()
    assert small_mf.score_items([0])[0][[4, 6]].min() > small_mf.score_items([0])[0][[5, 7]].max()


def test_fold_in_rejects_bad_input(small_mf):
    new = pd.DataFrame({schema.USER: [20], schema.ITEM: [1], schema.CLICKED: [1]})
    with pytest.raises(ValueError, match="item_id"):
        fold_in_users(small_mf, new.assign(item_id=12))
    with pytest.raises(ValueError, match="clicked"):
        fold_in_users(small_mf, new.assign(clicked=2))
    with pytest.raises(ValueError, match="lr must"):
        fold_in_users(small_mf, new, lr=-1)
    with pytest.raises(ValueError, match="l2 must"):
        fold_in_users(small_mf, new, l2=float("nan"))
    with pytest.raises(ValueError, match="missing required column"):
        fold_in_users(small_mf, new, target=schema.PURCHASED)
    bpr = clone(small_mf).set_params(loss="bpr")
    bpr.model_, bpr.n_items_, bpr.loss_ = small_mf.model_, small_mf.n_items_, "bpr"
    with pytest.raises(ValueError, match="loss"):
        fold_in_users(bpr, new)


# =========================================================================== re-ranking
def test_topk_frame_matches_recommend_and_rejects_bad_input():
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.8]])
    frame = topk_frame(top_k(scores, 2), [4, 9])
    expected = recommend(lambda u: scores[[0 if x == 4 else 1 for x in u]], [4, 9], n_items=3, k=2)
    pd.testing.assert_frame_equal(frame, expected)
    with pytest.raises(ValueError, match="users"):
        topk_frame(top_k(scores, 2), [4])
    with pytest.raises(TypeError, match="TopK"):
        topk_frame(scores, [4, 9])


@pytest.fixture(scope="module")
def rerank_case():
    rng = np.random.default_rng(12)
    vectors = rng.normal(size=(40, 3)) + np.repeat(np.eye(3) * 3, [20, 10, 10], axis=0)  # 3 clusters
    scores = rng.normal(size=(30, 40)) + np.repeat([1.5, 0.0, -1.0], [20, 10, 10])      # cluster 0 scores high
    return scores, vectors


def test_mmr_with_lambda_one_is_the_plain_top_k(rerank_case):
    scores, vectors = rerank_case
    ties = np.round(scores, 0)                                            # many ties too
    for s in (scores, ties):
        expected = top_k(s, 8)
        result = rerank_mmr(s, vectors, 8, lambda_=1.0)
        np.testing.assert_array_equal(result.indices, expected.indices)
        np.testing.assert_array_equal(result.scores, expected.scores)


def test_mmr_diversity_grows_as_lambda_falls(rerank_case):
    scores, vectors = rerank_case
    users = np.arange(len(scores))
    ild = [intra_list_diversity(topk_frame(rerank_mmr(scores, vectors, 8, lambda_=lam), users), vectors)
           for lam in (1.0, 0.8, 0.6, 0.4, 0.2)]
    assert all(b >= a - 1e-9 for a, b in zip(ild, ild[1:])), ild
    assert ild[-1] > ild[0] + 0.3
    # and the relevance given up grows too
    kept = [rerank_mmr(scores, vectors, 8, lambda_=lam).scores.mean() for lam in (1.0, 0.6, 0.2)]
    assert kept[0] > kept[1] > kept[2]


def test_mmr_respects_exclusions_candidates_and_short_rows(rerank_case):
    scores, vectors = rerank_case
    mask = np.zeros_like(scores, dtype=bool)
    mask[:, :35] = True                                                   # only 5 items left
    result = rerank_mmr(scores, vectors, 8, lambda_=0.5, exclude=mask)
    assert (result.indices[:, :5] >= 35).all() and (result.indices[:, 5:] == -1).all()
    assert np.isneginf(result.scores[:, 5:]).all()
    pool = top_k(scores, 10).indices
    narrow = rerank_mmr(scores, vectors, 8, lambda_=0.3, n_candidates=10)
    assert all(set(row) <= set(p) for row, p in zip(narrow.indices, pool))


def test_mmr_rejects_bad_input(rerank_case):
    scores, vectors = rerank_case
    with pytest.raises(ValueError, match="lambda_"):
        rerank_mmr(scores, vectors, 5, lambda_=1.5)
    with pytest.raises(ValueError, match="item_vectors"):
        rerank_mmr(scores, vectors[:10], 5)
    with pytest.raises(ValueError, match="n_candidates"):
        rerank_mmr(scores, vectors, 5, n_candidates=3)
    with pytest.raises(ValueError, match="k=41"):
        rerank_mmr(scores, vectors, 41)
    with pytest.raises(ValueError, match="scores"):
        rerank_mmr(np.where(scores > 2, np.nan, scores), vectors, 5)
    with pytest.raises(ValueError, match="item_vectors"):
        rerank_mmr(scores, np.where(vectors > 3, np.inf, vectors), 5)


def _list_shares(result, protected):
    frame = topk_frame(result, np.arange(len(result.indices)))
    groups = pd.Series(np.where(protected, "tail", "head"))
    return pd.Series({u: exposure_by_group(rows, groups)["exposure_share"].get("tail", 0.0)
                      for u, rows in frame.groupby(schema.USER)})


def test_exposure_reranker_reaches_its_target_in_every_list(rerank_case):
    scores, _ = rerank_case
    protected = np.arange(40) >= 20                                       # the low-scored clusters
    plain = top_k(scores, 10)
    np.testing.assert_array_equal(rerank_exposure(scores, protected, 10, min_share=0.0).indices, plain.indices)
    before = _list_shares(plain, protected).mean()
    assert before < 0.2
    for share in (0.25, 0.5, 0.8, 1.0):
        result = rerank_exposure(scores, protected, 10, min_share=share)
        assert (_list_shares(result, protected) >= share - 1e-9).all(), share
        assert (np.sort(result.indices, axis=1)[:, 1:] != np.sort(result.indices, axis=1)[:, :-1]).all()
    # a higher target never buys back relevance
    kept = [rerank_exposure(scores, protected, 10, min_share=s).scores.sum() for s in (0.0, 0.3, 0.6, 0.9)]
    assert all(a >= b for a, b in zip(kept, kept[1:]))


def test_exposure_reranker_places_protected_items_as_low_as_the_target_allows():
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.2, 0.1]])
    tail = np.array([False, False, False, False, True, True])
    w = 1 / np.log2(np.arange(2, 6))                                      # slots 1-4
    # a tail item in slot 4 is worth 0.168 of the list's exposure, in slot 3 0.195
    assert w[3] / w.sum() == pytest.approx(0.1681, abs=1e-4) and w[2] / w.sum() == pytest.approx(0.1952, abs=1e-4)
    assert rerank_exposure(scores, tail, 4, min_share=0.16).indices.tolist() == [[0, 1, 2, 4]]
    assert rerank_exposure(scores, tail, 4, min_share=0.18).indices.tolist() == [[0, 1, 4, 2]]
    assert rerank_exposure(scores, tail, 4, min_share=0.2).indices.tolist() == [[0, 1, 4, 5]]
    # too few tail items: the row gets all of them and is filled with the rest
    assert rerank_exposure(scores, tail, 4, min_share=1.0).indices.tolist() == [[4, 5, 0, 1]]


def test_exposure_reranker_rejects_bad_input(rerank_case):
    scores, _ = rerank_case
    tail = np.arange(40) >= 20
    with pytest.raises(ValueError, match="min_share"):
        rerank_exposure(scores, tail, 5, min_share=1.2)
    with pytest.raises(ValueError, match="protected"):
        rerank_exposure(scores, tail.astype(int), 5, min_share=0.5)
    with pytest.raises(ValueError, match="protected"):
        rerank_exposure(scores, tail[:10], 5, min_share=0.5)
    with pytest.raises(TypeError, match="k"):
        rerank_exposure(scores, tail, 2.5, min_share=0.5)


# =========================================================================== default world
@pytest.fixture(scope="module")
def cold_world(world):
    from causalrec.recommenders import Recommender

    split = cold_start_split(world.interactions, cold_user_share=0.1, cold_item_share=0.1, random_state=0)
    mf = Recommender("mf", epochs=10, batch_size=2048, lr=0.02, validation_fraction=0, verbose=False,
                     random_state=0).fit(split.train, target=schema.CLICKED, items=world.items)
    return split, mf


def _truth_ndcg(world, model_scores, users, items):
    U, I = np.repeat(users, len(items)), np.tile(items, len(users))
    relevant = pd.DataFrame({schema.USER: U, schema.ITEM: I, "relevance": world.truth.relevance_for(U, I)})
    recs = pd.DataFrame({schema.USER: U, schema.ITEM: I, schema.SCORE: model_scores(U, I)})
    return ndcg_at_k(recs, relevant, k=10, relevance_col="relevance")


def test_an_id_only_model_ranks_cold_items_at_chance(world, cold_world):
    split, mf = cold_world
    warm_users = np.setdiff1d(np.arange(world.n_users), split.cold_users)[:300]
    rng = np.random.default_rng(0)
    chance = _truth_ndcg(world, lambda u, i: rng.random(len(u)), warm_users, split.cold_items)
    id_only = _truth_ndcg(world, mf.predict, warm_users, split.cold_items)
    warm_items = np.setdiff1d(np.arange(world.n_items), split.cold_items)[:30]
    on_warm = _truth_ndcg(world, mf.predict, warm_users, warm_items)
    assert abs(id_only - chance) < 0.05
    assert on_warm > chance + 0.15


def test_fold_in_beats_popularity_for_cold_users_and_improves_with_more_rows(world, cold_world):
    split, mf = cold_world
    popularity = PopularityRecommender().fit(split.train, n_users=world.n_users, n_items=world.n_items)
    shown = split.cold_user_rows[split.cold_user_rows[schema.EXPOSED] == 1]
    warm_items = np.setdiff1d(np.arange(world.n_items), split.cold_items)
    users = split.cold_users
    base = _truth_ndcg(world, popularity.score_pairs, users, warm_items)
    few = _truth_ndcg(world, fold_in_users(mf, first_interactions(shown, 2)[0]).predict, users, warm_items)
    many = _truth_ndcg(world, fold_in_users(mf, first_interactions(shown, 15)[0]).predict, users, warm_items)
    assert many > few + 0.02
    assert many > base + 0.03


def test_cold_start_helpers_work_on_the_multimodal_model():
    from causalrec.recommenders import Recommender

    rng = np.random.default_rng(0)
    log = pd.DataFrame({schema.USER: np.repeat(np.arange(6), 4), schema.ITEM: np.tile([0, 1, 2, 3], 6),
                        schema.CLICKED: rng.integers(0, 2, 24)})
    catalogue = pd.DataFrame({schema.ITEM: np.arange(6)})
    model = Recommender("multimodal", dim=4, epochs=3, validation_fraction=0, verbose=False, random_state=0).fit(
        log, target=schema.CLICKED, items=catalogue, images=rng.random((6, 8, 8)))
    filled = fill_item_embeddings(model, [4, 5])
    table = filled.model_.item_embedding.weight.detach()
    np.testing.assert_allclose(table[4], table[:4].mean(dim=0), atol=1e-6)
    scores = filled.score_items([0])[0]
    assert scores[4] != scores[5]                                # the images still tell them apart
    new = pd.DataFrame({schema.USER: [7, 7], schema.ITEM: [0, 1], schema.CLICKED: [1, 0]})
    folded = fold_in_users(model, new, steps=50)
    assert folded.n_users_ == 8 and folded.model_.user_embedding.num_embeddings == 8
    np.testing.assert_allclose(folded.score_items(np.arange(6)), model.score_items(np.arange(6)), rtol=1e-6)
    assert float(folded.model_.user_embedding.weight.detach()[6].abs().sum()) == 0.0   # never seen: zero
    assert float(folded.model_.user_embedding.weight.detach()[7].abs().sum()) > 0.0
