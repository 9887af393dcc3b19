"""causalrec.sequence: attention against torch, the causal mask, learning an order, the estimator contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from causalrec import schema
from causalrec.sequence import (SASRec, SequentialRecommender, attention, causal_mask, histories,
                                next_item_metrics)

N_ITEMS = 12


def cycles(n_users=40, length=10, step=1, seed=0):
    """Histories where the next item is always the previous one plus ``step`` (mod N_ITEMS)."""
    start = np.random.default_rng(seed).integers(N_ITEMS, size=n_users)
    rows = [(u, (start[u] + step * t) % N_ITEMS, t) for u in range(n_users) for t in range(length)]
    return pd.DataFrame(rows, columns=[schema.USER, schema.ITEM, schema.DAY])


@pytest.mark.parametrize("masked", [False, True])
def test_attention_matches_torch(masked):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 7, 5, generator=g, dtype=torch.float64) for _ in range(3))
    mask = causal_mask(7) if masked else None
    ours = attention(q, k, v, mask)
    theirs = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=masked)
    assert torch.allclose(ours, theirs, atol=1e-6, rtol=0)
    assert torch.allclose(attention(q, k, v, causal_mask(7)),
                          torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(7)),
                          atol=1e-6, rtol=0)


def test_causal_mask_lets_a_position_see_only_itself_and_the_past():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool and mask.diagonal().all()
    assert mask.sum() == 4 * 5 // 2 and not mask.triu(1).any()


def test_the_future_does_not_change_the_past():
    torch.manual_seed(0)
    model = SASRec(N_ITEMS, dim=8, n_blocks=2, n_heads=2, max_len=6).eval()
    a = torch.tensor([[0, 3, 5, 7, 2, 9]])
    b = a.clone()
    b[0, -1] = 11                                   # change only the newest item
    with torch.no_grad():
        ha, hb = model(a), model(b)
    assert torch.allclose(ha[:, :-1], hb[:, :-1], atol=1e-6)
    assert not torch.allclose(ha[:, -1], hb[:, -1], atol=1e-3)


def test_left_padding_does_not_change_the_real_positions():
    torch.manual_seed(0)
    model = SASRec(N_ITEMS, dim=8, n_blocks=2, n_heads=2, max_len=6).eval()
    short, long = torch.tensor([[0, 3, 5, 7]]), torch.tensor([[0, 0, 0, 3, 5, 7]])
    with torch.no_grad():
        hs, hl = model(short), model(long)
    assert torch.isfinite(hl).all()                  # an all-pad prefix gives no empty softmax row
    assert torch.allclose(hs[:, -3:], hl[:, -3:], atol=1e-6)   # pads are masked as keys


def test_histories_order_by_day_then_item_id():
    df = pd.DataFrame({schema.USER: [1, 0, 0, 0, 1], schema.ITEM: [4, 9, 2, 6, 3], schema.DAY: [0, 3, 1, 1, 0]})
    seqs = histories(df)
    assert seqs.loc[0].tolist() == [2, 6, 9] and seqs.loc[1].tolist() == [3, 4]
    with pytest.raises(ValueError, match="timestamp"):
        histories(df, order_by="timestamp")


def test_the_model_learns_a_sequential_pattern_that_popularity_cannot():
    train = cycles(step=5)                     # 5 and 12 are coprime: every item follows a different one
    model = SequentialRecommender(dim=16, n_blocks=1, epochs=60, lr=0.02, dropout=0.0, max_len=8,
                                  batch_size=16).fit(train, n_items=N_ITEMS)
    last = train.groupby(schema.USER)[schema.ITEM].last().to_numpy()
    truth = (last + 5) % N_ITEMS
    scores = model.score_items(np.arange(40))
    assert (scores.argmax(axis=1) == truth).mean() > 0.95
    assert next_item_metrics(scores, truth, k=1)["hit_rate"] > 0.95
    flat = np.tile(np.bincount(train[schema.ITEM], minlength=N_ITEMS), (40, 1))
    assert next_item_metrics(flat, truth, k=1)["hit_rate"] < 0.2
    assert model.history_["loss"].iloc[-1] < 0.2 * model.history_["loss"].iloc[0]


def test_next_item_metrics_by_hand():
    scores = np.array([[0.9, 0.1, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4]])
    out = next_item_metrics(scores, np.array([2, 0]), k=2)
    # row 0: item 2 ties with item 3, so it ranks 3rd (ties count against it); row 1: 4th
    assert out == {"hit_rate": 0.0, "ndcg": 0.0}
    exclude = np.array([[False, False, False, True], [False, True, True, True]])
    out = next_item_metrics(scores, np.array([2, 0]), exclude, k=2)
    assert out["hit_rate"] == 1.0 and out["ndcg"] == pytest.approx((1 / np.log2(3) + 1) / 2)


@pytest.fixture(scope="module")
def fitted():
    return SequentialRecommender(dim=8, n_blocks=1, epochs=2, random_state=3).fit(cycles(), n_items=N_ITEMS)


def test_estimator_contract(fitted):
    fresh = SequentialRecommender(dim=8, n_blocks=1, epochs=2, random_state=3)
    assert clone(fresh).get_params() == fresh.get_params()
    assert not any(name.endswith("_") for name in vars(fresh))
    for call in (lambda m: m.score_items([0]), lambda m: m.predict([0], [1]), lambda m: m.recommend([0])):
        with pytest.raises(NotFittedError):
            call(fresh)
    assert fresh.fit(cycles(), n_items=N_ITEMS) is fresh
    assert np.array_equal(fresh.score_items([0, 1]), fitted.score_items([0, 1]))   # same seed, same model
    assert fitted.n_items_ == N_ITEMS and fitted.n_params_ == sum(p.numel() for p in fitted.model_.parameters())


def test_predict_score_items_and_recommend_agree(fitted):
    scores = fitted.score_items([0, 5])
    assert np.allclose(fitted.predict([5, 0, 5], [1, 2, 3]), scores[[1, 0, 1], [1, 2, 3]])
    recs = fitted.recommend([0, 5], k=3, exclude_seen=False)
    assert recs.groupby(schema.USER)[schema.RANK].apply(list).tolist() == [[1, 2, 3]] * 2
    assert recs[schema.ITEM].iloc[0] == scores[0].argmax()
    seen = set(fitted.sequences_.loc[0])
    unseen = fitted.recommend([0], k=N_ITEMS - len(seen))
    assert not seen & set(unseen[schema.ITEM]) and len(unseen) == N_ITEMS - len(seen)


def test_bad_input_names_the_argument():
    data = cycles()
    with pytest.raises(ValueError, match="sample_weight"):
        SequentialRecommender(epochs=1).fit(data, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight"):
        SequentialRecommender(epochs=1).fit(data, sample_weight=-np.ones(len(data)))
    with pytest.raises(ValueError, match="item_id"):
        SequentialRecommender(epochs=1).fit(data, n_items=5)
    with pytest.raises(ValueError, match="max_len"):
        SequentialRecommender(epochs=1, max_len=0).fit(data)


def test_zero_weight_rows_teach_nothing():
    """sample_weight multiplies each row's loss: weighting the odd users' rows 0 leaves them unlearned."""
    a, b = cycles(step=1), cycles(step=5, seed=1)
    both = pd.concat([a, b.assign(**{schema.USER: b[schema.USER] + 40})])
    weight = np.r_[np.ones(len(a)), np.zeros(len(b))]
    model = SequentialRecommender(dim=16, n_blocks=1, epochs=40, lr=0.02, dropout=0.0, max_len=8,
                                  batch_size=16).fit(both, n_items=N_ITEMS, sample_weight=weight)
    last = both.groupby(schema.USER)[schema.ITEM].last().to_numpy()
    hit = model.score_items(np.arange(80)).argmax(axis=1) == (last + np.r_[np.ones(40), 5 * np.ones(40)]) % N_ITEMS
    assert hit[:40].mean() > 0.9 and hit[40:].mean() < 0.3


def test_weighted_validation_metrics_by_hand():
    """A weight per validation row: the NDCG averages rows by it (inverse propensities, chapter 06b)."""
    scores = np.array([[0.9, 0.1, 0.5], [0.1, 0.2, 0.3]])            # target ranks 2 and 1
    out = next_item_metrics(scores, np.array([2, 2]), k=10, weights=np.array([3.0, 1.0]))
    assert out["ndcg"] == pytest.approx((3 / np.log2(3) + 1) / 4) and out["hit_rate"] == 1.0
    data = cycles()
    valid = data.groupby(schema.USER).tail(1)
    model = SequentialRecommender(dim=8, n_blocks=1, epochs=3, patience=2, random_state=3)
    model.fit(data.drop(index=valid.index), n_items=N_ITEMS, validation=valid.assign(weight=np.r_[1.0, np.zeros(39)]))
    scores = model.score_items(valid[schema.USER])
    first_only = next_item_metrics(scores[:1], valid[schema.ITEM].to_numpy()[:1], model.seen_[valid[schema.USER][:1]])
    assert -model.history_["validation"].min() == pytest.approx(first_only["ndcg"])
    with pytest.raises(ValueError, match="weight"):
        model.fit(data, n_items=N_ITEMS, validation=valid.assign(weight=np.nan))
