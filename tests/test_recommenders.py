"""causalrec.recommenders: losses by hand, the loop's guarantees, model files, and the Recommender."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import causalrec as cr
from causalrec import schema
from causalrec.models import MatrixFactorization, NeuMF
from causalrec.recommenders import (LOSSES, Recommender, TrainingData, bce_loss, bpr_loss, load_model,
                                mse_loss, save_model, softmax_loss, train_model, weighted_mean)
from causalrec.recommenders import _NegativeSampler


@pytest.fixture(scope="module")
def world():
    return cr.load_default()


def _tiny_log(n_users=12, n_items=9, seed=0):
    """Every user meets every item; purchase when the user's and item's parity agree."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    purchased = ((users % 2) == (items % 2)).astype(int)
    flip = rng.random(len(users)) < 0.1
    purchased[flip] = 1 - purchased[flip]
    return pd.DataFrame({schema.USER: users, schema.ITEM: items, schema.PURCHASED: purchased,
                         schema.RATING: 1 + 4 * purchased + rng.normal(0, 0.3, len(users))})


def _fast(**kwargs):
    options = dict(dim=4, epochs=3, batch_size=32, verbose=False)
    options.update(kwargs)
    return Recommender(**options)


# --------------------------------------------------------------------------- losses
S = torch.tensor([0.5, -1.0, 2.0])
Y = torch.tensor([1.0, 0.0, 0.0])
W = torch.tensor([1.0, 2.0, 0.5])
NEG = torch.tensor([[0.0, 1.0], [-2.0, -1.0], [3.0, 2.0]])


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_pointwise_losses_by_hand():
    s, y, w = S.tolist(), Y.tolist(), W.tolist()
    mse = [(a - b) ** 2 for a, b in zip(s, y)]
    assert mse_loss(S, Y).item() == pytest.approx(sum(mse) / 3, rel=1e-6)
    assert mse_loss(S, Y, W).item() == pytest.approx(sum(a * b for a, b in zip(w, mse)) / sum(w), rel=1e-6)
    bce = [-(t * math.log(_sigmoid(a)) + (1 - t) * math.log(1 - _sigmoid(a))) for a, t in zip(s, y)]
    assert bce_loss(S, Y).item() == pytest.approx(sum(bce) / 3, rel=1e-6)
    assert bce_loss(S, Y, W).item() == pytest.approx(sum(a * b for a, b in zip(w, bce)) / sum(w), rel=1e-6)


def test_ranking_losses_by_hand():
    s, neg, w = S.tolist(), NEG.tolist(), W.tolist()
    bpr = [-sum(math.log(_sigmoid(p - n)) for n in row) / len(row) for p, row in zip(s, neg)]
    assert bpr_loss(S, NEG).item() == pytest.approx(sum(bpr) / 3, rel=1e-6)
    assert bpr_loss(S, NEG, W).item() == pytest.approx(sum(a * b for a, b in zip(w, bpr)) / sum(w), rel=1e-6)
    # one negative per row may be given as a vector
    assert bpr_loss(S, NEG[:, 0]).item() == pytest.approx(bpr_loss(S, NEG[:, :1]).item())
    soft = [-math.log(math.exp(p) / (math.exp(p) + sum(math.exp(n) for n in row))) for p, row in zip(s, neg)]
    assert softmax_loss(S, NEG).item() == pytest.approx(sum(soft) / 3, rel=1e-6)
    assert softmax_loss(S, NEG, W).item() == pytest.approx(sum(a * b for a, b in zip(w, soft)) / sum(w), rel=1e-6)
    # softmax over the positive and its negatives equals torch's cross-entropy with class 0
    ce = torch.nn.functional.cross_entropy(torch.cat([S[:, None], NEG], dim=1), torch.zeros(3, dtype=torch.long))
    assert softmax_loss(S, NEG).item() == pytest.approx(ce.item(), rel=1e-6)


def test_weighted_mean_edge_cases():
    assert weighted_mean(S, torch.zeros(3)).item() == 0.0            # no influence, not NaN
    assert weighted_mean(S, torch.full((3,), 2.0)).item() == pytest.approx(S.mean().item())


def test_loss_inputs_are_checked():
    with pytest.raises(ValueError, match=r"targets must have 3 rows like logits, got shape \(2,\)"):
        bce_loss(S, Y[:2])
    with pytest.raises(ValueError, match=r"targets must have shape \(3,\), got \(3, 1\)"):
        bce_loss(S, Y[:, None])
    with pytest.raises(ValueError, match=r"predictions must be 1-D.*got shape \(3, 1\)"):
        mse_loss(S[:, None], Y)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(3,\), got \(2,\)"):
        bce_loss(S, Y, W[:2])
    with pytest.raises(ValueError, match=r"negative_scores must have 3 rows"):
        softmax_loss(S, NEG[:2])
    with pytest.raises(ValueError, match=r"negative_scores must have shape \(B, n\)"):
        softmax_loss(S, NEG[:, 0])
    with pytest.raises(TypeError, match="must be torch tensors"):
        mse_loss([1.0], Y)


# --------------------------------------------------------------------------- the loop
def _mf_and_data(seed=0):
    log = _tiny_log()
    data = TrainingData.from_arrays(log[schema.USER], log[schema.ITEM], log[schema.PURCHASED])
    torch.manual_seed(seed)
    return MatrixFactorization(12, 9, dim=3), data


def test_sample_weights_change_the_result_and_zero_weight_removes_a_row():
    model, data = _mf_and_data()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    options = dict(loss="bce", epochs=15, batch_size=10_000, lr=0.05, verbose=False)  # one full batch per epoch
    train_model(model, data, **options)
    plain = {k: v.clone() for k, v in model.state_dict().items()}

    model.load_state_dict(init)
    weights = torch.linspace(0.2, 3.0, len(data))
    train_model(model, TrainingData(data.users, data.items, data.target, weights), **options)
    assert not torch.allclose(model.item_embedding.weight, plain["item_embedding.weight"])

    # rows of weight 0 (here: flipped labels, i.e. conflicting evidence) have no influence at all
    model.load_state_dict(init)
    extra = TrainingData(torch.tensor([0, 3, 5]), torch.tensor([2, 4, 1]), torch.tensor([1.0, 0.0, 1.0]))
    padded = TrainingData(torch.cat([data.users, extra.users]), torch.cat([data.items, extra.items]),
                          torch.cat([data.target, extra.target]),
                          torch.cat([torch.ones(len(data)), torch.zeros(3)]))
    train_model(model, padded, **options)
    for key, value in plain.items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_uniform_weights_equal_no_weights():
    model, data = _mf_and_data()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    options = dict(loss="mse", epochs=4, batch_size=20, lr=0.05, verbose=False)
    result = train_model(model, data, **options)
    unweighted = model.user_embedding.weight.detach().clone()
    model.load_state_dict(init)
    doubled = TrainingData(data.users, data.items, data.target, torch.full((len(data),), 2.0))
    result2 = train_model(model, doubled, **options)
    torch.testing.assert_close(model.user_embedding.weight.detach(), unweighted, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.history["train_loss"], result2.history["train_loss"], rtol=1e-5)


def test_early_stopping_restores_the_best_epoch():
    log = _tiny_log(n_users=20, n_items=15, seed=1)
    rng = np.random.default_rng(0)
    log[schema.PURCHASED] = rng.integers(0, 2, len(log))             # pure noise: validation loss must rise
    data = TrainingData.from_arrays(log[schema.USER], log[schema.ITEM], log[schema.PURCHASED])
    order = torch.from_numpy(rng.permutation(len(data)))
    train, validation = data.subset(order[60:]), data.subset(order[:60])
    torch.manual_seed(0)
    model = MatrixFactorization(20, 15, dim=8)
    result = train_model(model, train, validation=validation, loss="bce", epochs=40, batch_size=64,
                         lr=0.05, patience=3, verbose=False)
    history = result.history
    assert result.stopped_early and len(history) < 40
    assert result.best_epoch == history["val_loss"].idxmin()
    assert len(history) == result.best_epoch + 3                    # stopped after `patience` bad epochs
    with torch.no_grad():
        val_loss = bce_loss(model(validation.users, validation.items), validation.target).item()
    assert val_loss == pytest.approx(history.loc[result.best_epoch, "val_loss"], rel=1e-5)
    assert val_loss < history["val_loss"].iloc[-1]
    assert list(history.columns) == ["train_loss", "val_loss", "val_auc"]


def test_patience_none_trains_every_epoch_and_still_keeps_the_best():
    model, data = _mf_and_data()
    result = train_model(model, data.subset(slice(0, 80)), validation=data.subset(slice(80, None)),
                         epochs=6, batch_size=16, patience=None, verbose=False)
    assert len(result.history) == 6 and not result.stopped_early
    assert result.best_epoch == result.history["val_loss"].idxmin()


def test_training_is_seeded_and_leaves_the_global_rng_alone():
    log = _tiny_log()
    state = torch.random.get_rng_state()
    first = _fast(model="neumf", loss="bpr", random_state=7).fit(log)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = _fast(model="neumf", loss="bpr", random_state=7).fit(log)
    other = _fast(model="neumf", loss="bpr", random_state=8).fit(log)
    pd.testing.assert_frame_equal(first.history_, second.history_)
    for key, value in first.model_.state_dict().items():
        assert torch.equal(value, second.model_.state_dict()[key]), key
    assert not torch.equal(first.model_.gmf_user.weight, other.model_.gmf_user.weight)


def test_sampled_negatives_are_uniform_over_the_items_not_liked():
    n_items = 6
    liked = {0: [0, 1, 2, 3, 4], 1: [5], 2: [], 3: [1, 3, 4]}
    keys = torch.tensor([u * n_items + i for u, items in liked.items() for i in items])
    sampler = _NegativeSampler(keys, n_users=4, n_items=n_items)
    users = torch.arange(4).repeat(3000)
    negatives = sampler.draw(users, 2, torch.Generator().manual_seed(0))
    assert negatives.shape == (12_000, 2)
    for user, items in liked.items():
        drawn = negatives[users == user].flatten()
        allowed = sorted(set(range(n_items)) - set(items))
        assert sorted(drawn.unique().tolist()) == allowed             # never a liked item, every other one
        share = torch.bincount(drawn, minlength=n_items)[allowed].float() / len(drawn)
        assert torch.allclose(share, torch.full_like(share, 1 / len(allowed)), atol=0.02)
    sampler = _NegativeSampler(torch.arange(n_items), n_users=2, n_items=n_items)  # user 0 liked everything
    with pytest.raises(ValueError, match=r"user\(s\) \[0\] have every one of the 6 items as a positive"):
        sampler.check_users(torch.tensor([1, 0]))


@pytest.mark.parametrize("loss, metric", [("bce", "val_auc"), ("mse", "val_rmse"),
                                          ("bpr", "val_sampled_auc"), ("softmax", "val_sampled_auc")])
def test_every_loss_trains(loss, metric):
    log = _tiny_log()
    target = schema.RATING if loss == "mse" else schema.PURCHASED
    rec = _fast(loss=loss, epochs=25, lr=0.05, patience=None, validation_fraction=0.2).fit(log, target=target)
    history = rec.history_
    assert list(history.columns) == ["train_loss", "val_loss", metric]
    assert history["train_loss"].iloc[-1] < 0.8 * history["train_loss"].iloc[0]
    if metric != "val_rmse":
        assert history[metric].max() > 0.7                            # the parity pattern is learned


def test_progress_bar_only_when_verbose(capsys):
    log = _tiny_log()
    _fast(verbose=True, epochs=2).fit(log)
    assert "training MatrixFactorization" in capsys.readouterr().err
    _fast(verbose=False, epochs=2).fit(log)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# --------------------------------------------------------------------------- files
def test_save_and_load_a_model(tmp_path):
    torch.manual_seed(0)
    model = NeuMF(4, 6, dim=3, hidden=(4, 2))
    path = tmp_path / "neumf.pt"
    save_model(model, path)
    fresh = load_model(NeuMF(4, 6, dim=3, hidden=(4, 2)), path)
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    # a bare state dict works too
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    load_model(NeuMF(4, 6, dim=3, hidden=(4, 2)), tmp_path / "bare.pt")


def test_wrong_model_or_shape_is_named(tmp_path):
    path = tmp_path / "mf.pt"
    save_model(MatrixFactorization(4, 6, dim=3), path)
    with pytest.raises(ValueError, match="holds a MatrixFactorization, not a NeuMF"):
        load_model(NeuMF(4, 6, dim=3), path)
    with pytest.raises(ValueError, match=r"does not fit this MatrixFactorization") as error:
        load_model(MatrixFactorization(4, 7, dim=3), path)
    assert "parameter 'item_embedding.weight' has shape (6, 3) in the file but (7, 3) in the model" in str(error.value)
    assert "parameter 'item_bias' has shape (6,) in the file but (7,) in the model" in str(error.value)
    torch.save(MatrixFactorization(4, 6, dim=3).state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match=r"parameter names differ \(missing from the file: \['gmf_user.weight'"):
        load_model(NeuMF(4, 6, dim=3), tmp_path / "bare.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="could not read .*junk.pt"):
        load_model(MatrixFactorization(4, 6, dim=3), tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="is not a saved Recommender.*load_model"):
        Recommender.load(path)


def test_recommender_round_trip(tmp_path, world):
    log = world.interactions[world.interactions[schema.USER] < 60]
    rec = Recommender("multimodal", dim=8, epochs=2, verbose=False).fit(
        log, target=schema.CLICKED, items=world.items, images=world.images)
    path = tmp_path / "rec.pt"
    rec.save(path)
    back = Recommender.load(path)
    assert back.get_params() == rec.get_params()
    assert (back.n_users_, back.n_items_, back.best_epoch_) == (rec.n_users_, rec.n_items_, rec.best_epoch_)
    pd.testing.assert_frame_equal(back.history_, rec.history_)
    users, items = np.array([0, 5, 59]), np.array([299, 3, 150])
    np.testing.assert_array_equal(back.predict(users, items), rec.predict(users, items))
    pd.testing.assert_frame_equal(back.recommend([1, 2], k=5), rec.recommend([1, 2], k=5))
    with pytest.raises(ValueError, match="holds a whole Recommender"):
        load_model(rec.model_, path)
    # the same file cannot fill a model of another shape
    state = torch.load(path, weights_only=True)
    state["config"]["dim"] = 16
    torch.save(state, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match=r"parameter 'user_embedding.weight' has shape \(60, 8\) in the file "
                                         r"but \(60, 16\) in the model"):
        Recommender.load(tmp_path / "edited.pt")


# --------------------------------------------------------------------------- the estimator
def test_estimator_contract():
    rec = Recommender(model="neumf", dim=8, random_state=3)
    assert rec.get_params()["dim"] == 8 and clone(rec).get_params() == rec.get_params()
    assert not hasattr(rec, "model_")
    log = _tiny_log()
    assert _fast().fit(log).n_users_ == 12
    with pytest.raises(NotFittedError, match="not fitted yet"):
        rec.predict([0], [0])


def test_predict_score_items_and_recommend_agree():
    log = _tiny_log()
    rec = _fast(epochs=20, lr=0.05, validation_fraction=0).fit(log.sample(frac=0.5, random_state=0))
    scores = rec.score_items([0, 3])
    assert scores.shape == (2, 9) and ((scores > 0) & (scores < 1)).all()      # probabilities (bce)
    np.testing.assert_allclose(rec.predict([3, 3], [1, 8]), scores[1, [1, 8]], rtol=1e-6)
    top = rec.recommend([0, 3], k=3)
    assert list(top.columns) == [schema.USER, schema.ITEM, schema.SCORE, schema.RANK]
    seen = set(map(tuple, rec.seen_pairs().to_numpy()))
    assert not seen & set(zip(top[schema.USER], top[schema.ITEM]))
    assert len(rec.recommend([0], k=9, exclude_seen=False)) == 9
    # user 0 (even) should get even items first: the pattern was learned
    assert (rec.recommend([0], k=3, exclude_seen=False)[schema.ITEM] % 2 == 0).all()


def test_catalogue_size_from_items(world):
    log = world.interactions[world.interactions[schema.ITEM] < 100]
    rec = _fast(epochs=1).fit(log, target=schema.CLICKED, items=world.items)
    assert rec.n_items_ == 300 and rec.score_items([0]).shape == (1, 300)


def test_bad_inputs_are_named(world):
    log = _tiny_log()
    with pytest.raises(ValueError, match=r"loss must be one of \['bce', 'bpr', 'mse', 'softmax'\], got 'hinge'"):
        _fast(loss="hinge").fit(log)
    with pytest.raises(ValueError, match=r"model must be one of \['mf', 'multimodal', 'neumf'\], got 'MF'"):
        _fast(model="MF").fit(log)
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['clicked'\]"):
        _fast().fit(log, target=schema.CLICKED)
    with pytest.raises(ValueError, match=r"interactions\['rating'\] \(loss='bce' needs 0/1\) must be binary"):
        _fast().fit(log, target=schema.RATING)
    with pytest.raises(ValueError, match="column 'rating' of interactions holds 1 missing value"):
        _fast(loss="mse").fit(log.assign(rating=log[schema.RATING].where(log.index != 3)), target=schema.RATING)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(108,\)"):
        _fast().fit(log, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        _fast().fit(log, sample_weight=-np.ones(len(log)))
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        _fast(validation_fraction=1.0).fit(log)
    with pytest.raises(ValueError, match=r"images can only be used by model='multimodal'"):
        _fast().fit(log, images=np.zeros((9, 16, 16)))
    with pytest.raises(ValueError, match="use_item_ids=False .* needs model='multimodal'"):
        _fast(use_item_ids=False).fit(log)
    with pytest.raises(ValueError, match="catalogue sizes disagree"):
        _fast(model="multimodal").fit(log, images=world.images[:9], items=world.items)
    with pytest.raises(ValueError, match=r"must be 0, 1, ..., n_items - 1 in order"):
        _fast().fit(log, items=world.items.iloc[::-1])
    with pytest.raises(ValueError, match="learns from positive rows"):
        _fast(loss="bpr").fit(log.assign(purchased=0))
    rec = _fast().fit(log)
    with pytest.raises(ValueError, match=r"unknown user ID\(s\) \[12, 40\] in users.*cold start"):
        rec.predict([12, 40, 1], [0, 0, 0])
    with pytest.raises(ValueError, match=r"unknown item ID\(s\) \[9\]"):
        rec.score_items([0]) is not None and rec.predict([0], [9])
    with pytest.raises(ValueError, match="must hold non-negative IDs"):
        rec.predict([-1], [0])


def test_content_only_multimodal_fits(world):
    log = world.interactions[world.interactions[schema.USER] < 50]
    rec = Recommender("multimodal", dim=8, epochs=2, use_item_ids=False, verbose=False).fit(
        log, target=schema.CLICKED, text=world.items[schema.DESCRIPTION], images=world.images)
    assert rec.model_.item_embedding is None and rec.model_.text_size > 10
    assert rec.image_normalization_[1] > 0
    assert rec.score_items([0, 1]).shape == (2, 300)
    # the documented cold-start route: a "new" item given by content scores like the catalogue item
    mean, std = rec.image_normalization_
    image = (torch.from_numpy(world.images[[7]]) - mean) / std
    text = cr.prep.TextVectorizer(kind="tfidf").fit(world.items[schema.DESCRIPTION])
    vector = torch.from_numpy(text.transform(world.items[schema.DESCRIPTION].iloc[[7]]))
    with torch.no_grad():
        new = torch.sigmoid(rec.model_(torch.tensor([3]), images=image[:, None], text=vector).purchase)
    assert new.item() == pytest.approx(rec.predict([3], [7])[0], rel=1e-5)


# --------------------------------------------------------------------------- on the default world
def _randomized_eval(world, rec):
    rnd = world.randomized
    scores = rec.predict(rnd[schema.USER], rnd[schema.ITEM])
    liked = (rnd[schema.RATING] >= 4).astype(int)
    ranked = rnd[[schema.USER, schema.ITEM]].assign(score=scores)
    relevant = rnd.loc[rnd[schema.RATING] >= 4, [schema.USER, schema.ITEM]]
    return cr.metrics.auc(liked, scores), cr.metrics.ndcg_at_k(ranked, relevant, k=10)


def test_mf_beats_random_on_the_randomized_slice(world):
    rec = Recommender("mf", dim=16, epochs=8, batch_size=1024, weight_decay=1e-4, verbose=False)
    rec.fit(world.interactions, target=schema.CLICKED)
    auc, ndcg = _randomized_eval(world, rec)
    rnd = world.randomized
    coin = rnd[[schema.USER, schema.ITEM]].assign(score=np.random.default_rng(0).random(len(rnd)))
    random_ndcg = cr.metrics.ndcg_at_k(coin, rnd.loc[rnd[schema.RATING] >= 4, [schema.USER, schema.ITEM]], k=10)
    assert auc > 0.7
    assert ndcg > random_ndcg + 0.1


def test_multimodal_on_exposed_clicks_ranks_liked_items_higher(world):
    exposed = world.interactions[world.interactions[schema.EXPOSED] == 1]
    rec = Recommender("multimodal", epochs=4, verbose=False)
    rec.fit(exposed, target=schema.CLICKED, items=world.items, images=world.images)
    auc, _ = _randomized_eval(world, rec)
    assert auc > 0.6
    assert set(LOSSES) == {"bce", "mse", "bpr", "softmax"}
