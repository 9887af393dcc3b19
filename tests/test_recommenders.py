"""causalrec.recommenders: the estimator contract for every recommender, train_model, files, the
baselines by hand, and learning checked against the simulator's truth."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import roc_auc_score

import causalrec as cr
from causalrec import schema
from causalrec.models import MatrixFactorization
from causalrec.prep import TextVectorizer, normalize_images
from causalrec.recommenders import (DEFAULT_TARGET, ContentBasedRecommender, ItemKNNRecommender,
                                    PopularityRecommender, RandomRecommender, Recommender)
from causalrec.train import TrainingData, bce_loss, train_model


@pytest.fixture(scope="module")
def world():
    return cr.load_default()


def _tiny_log(n_users=12, n_items=9, seed=0):
    """Every user meets every item; a click when the user's and the item's parity agree (10% flipped)."""
    rng = np.random.default_rng(seed)
    users, items = np.repeat(np.arange(n_users), n_items), np.tile(np.arange(n_items), n_users)
    clicked = ((users % 2) == (items % 2)).astype(int)
    flip = rng.random(len(users)) < 0.1
    clicked[flip] = 1 - clicked[flip]
    return pd.DataFrame({schema.USER: users, schema.ITEM: items, schema.CLICKED: clicked,
                         schema.PURCHASED: clicked * (rng.random(len(users)) < 0.5),
                         schema.RATING: 1 + 4 * clicked + rng.normal(0, 0.3, len(users))})


def _fast(**kwargs):
    return Recommender(**{**dict(dim=4, epochs=3, batch_size=32, verbose=False), **kwargs})


def _estimators():
    features = np.random.default_rng(0).random((9, 4))
    return [(_fast(), {}), (_fast(model="neumf", loss="bpr"), {}),
            (_fast(model="multimodal", loss="softmax"), {"images": np.random.default_rng(0).random((9, 8, 8))}),
            (PopularityRecommender(), {}), (RandomRecommender(random_state=0), {}),
            (ContentBasedRecommender(), {"item_features": features}), (ItemKNNRecommender(n_neighbors=3), {})]


# --------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("estimator, fit_args", _estimators(), ids=lambda x: type(x).__name__)
def test_every_recommender_follows_one_contract(estimator, fit_args):
    log = _tiny_log()
    fresh = clone(estimator)
    assert fresh.get_params() == estimator.get_params()
    for use in (lambda e: e.predict([0], [0]), lambda e: e.score_items([0]), lambda e: e.recommend([0], k=2)):
        with pytest.raises(NotFittedError):
            use(fresh)
    assert estimator.fit(log, **fit_args) is estimator                     # default target: clicks
    learned = set(vars(estimator)) - set(estimator.get_params())
    assert learned and all(name.endswith("_") for name in learned), learned
    assert (estimator.n_users_, estimator.n_items_) == (12, 9)
    # predict, score_items and recommend mean the same thing
    scores = estimator.score_items([3, 0])
    assert scores.shape == (2, 9)
    np.testing.assert_allclose(estimator.predict([0, 3, 0], [8, 1, 2]), scores[[1, 0, 1], [8, 1, 2]], rtol=1e-5, atol=1e-7)
    top = estimator.recommend([0], k=3, exclude_seen=False)
    assert top[schema.ITEM].tolist() == cr.top_k(scores[[1]], 3).indices[0].tolist()
    unseen = estimator.recommend([0, 3], k=2)
    assert not set(zip(unseen[schema.USER], unseen[schema.ITEM])) & set(map(tuple, estimator.seen_.to_numpy()))
    with pytest.raises(ValueError, match="users"):
        estimator.score_items([12])
    with pytest.raises(ValueError, match="items"):
        estimator.predict([0], [9])
    assert not hasattr(clone(estimator), "n_users_")


def test_one_default_target_is_clicks():
    assert DEFAULT_TARGET == schema.CLICKED == PopularityRecommender().positive
    log = _tiny_log().drop(columns=schema.CLICKED)
    for estimator in (_fast(), PopularityRecommender()):
        with pytest.raises(ValueError, match=schema.CLICKED):
            estimator.fit(log)


# --------------------------------------------------------------------------- train_model
def _mf_and_data(seed=0):
    log = _tiny_log()
    data = TrainingData.from_arrays(log[schema.USER], log[schema.ITEM], log[schema.CLICKED])
    torch.manual_seed(seed)
    return MatrixFactorization(12, 9, dim=3), data


def test_zero_weight_rows_have_no_influence_and_weights_matter():
    model, data = _mf_and_data()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    options = dict(loss="bce", epochs=15, batch_size=10_000, lr=0.05, verbose=False)   # full batches
    train_model(model, data, **options)
    plain = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(init)
    train_model(model, TrainingData(data.users, data.items, data.target, torch.linspace(0.2, 3.0, len(data))),
                **options)
    assert not torch.allclose(model.item_embedding.weight, plain["item_embedding.weight"])
    model.load_state_dict(init)
    extra = TrainingData(torch.tensor([0, 3, 5]), torch.tensor([2, 4, 1]), torch.tensor([1.0, 0.0, 1.0]))
    padded = TrainingData(*(torch.cat([a, b]) for a, b in zip(
        (data.users, data.items, data.target, torch.ones(len(data))), (extra.users, extra.items, extra.target, torch.zeros(3)))))
    train_model(model, padded, **options)
    for key, value in plain.items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_early_stopping_restores_the_best_epoch():
    log = _tiny_log(n_users=20, n_items=15, seed=1)
    rng = np.random.default_rng(0)
    data = TrainingData.from_arrays(log[schema.USER], log[schema.ITEM], rng.integers(0, 2, len(log)))  # noise
    train, validation = data.subset(slice(60, None)), data.subset(slice(0, 60))
    torch.manual_seed(0)
    model = MatrixFactorization(20, 15, dim=8)
    result = train_model(model, train, validation=validation, epochs=40, batch_size=64, lr=0.05, patience=3,
                         verbose=False)
    history = result.history
    assert result.stopped_early and len(history) == result.best_epoch + 3
    assert result.best_epoch == history["val_loss"].idxmin()
    with torch.no_grad():
        val_loss = bce_loss(model(validation.users, validation.items), validation.target).item()
    assert val_loss == pytest.approx(history.loc[result.best_epoch, "val_loss"], rel=1e-5)


def test_fit_is_seeded_and_leaves_the_global_rng_alone():
    log = _tiny_log()
    state = torch.random.get_rng_state()
    first = _fast(model="neumf", loss="bpr", random_state=7).fit(log)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = _fast(model="neumf", loss="bpr", random_state=7).fit(log)
    other = _fast(model="neumf", loss="bpr", random_state=8).fit(log)
    pd.testing.assert_frame_equal(first.history_.drop(columns="seconds"), second.history_.drop(columns="seconds"))
    for key, value in first.model_.state_dict().items():
        assert torch.equal(value, second.model_.state_dict()[key]), key
    assert not torch.equal(first.model_.gmf_user.weight, other.model_.gmf_user.weight)


@pytest.mark.parametrize("loss", ["bce", "mse", "bpr", "softmax"])
def test_every_loss_learns_the_pattern(loss):
    target = schema.RATING if loss == "mse" else schema.CLICKED
    rec = _fast(loss=loss, epochs=25, lr=0.05, patience=None, validation_fraction=0.2).fit(_tiny_log(), target=target)
    assert rec.history_["train_loss"].iloc[-1] < 0.8 * rec.history_["train_loss"].iloc[0]
    scores = rec.score_items(np.arange(12))
    same_parity = (np.arange(12)[:, None] % 2) == (np.arange(9)[None, :] % 2)
    assert roc_auc_score(same_parity.ravel(), scores.ravel()) > 0.8


def test_partial_fit_and_loss_on():
    log = _tiny_log()
    old, new = log[log.index % 3 > 0], log[log.index % 3 == 0]
    rec = _fast(epochs=2).fit(old)
    before = rec.loss_on(new)
    assert rec.partial_fit(new, epochs=20, lr=0.05) is rec
    assert rec.loss_on(new) < before
    assert len(rec.seen_) == len(log.drop_duplicates([schema.USER, schema.ITEM]))
    with pytest.raises(ValueError, match="user_id"):
        rec.partial_fit(log.assign(user_id=50))


def test_content_statistics_come_from_the_trained_items_only(world):
    log = world.interactions[world.interactions[schema.ITEM] < 250]          # items 250-299 are cold
    texts = world.items[schema.DESCRIPTION].where(world.items[schema.ITEM] < 250, "zyzzyva")
    rec = Recommender("multimodal", dim=8, epochs=1, verbose=False).fit(
        log, items=world.items.assign(**{schema.DESCRIPTION: texts}), images=world.images)
    _, mean, std = normalize_images(world.images[:250])
    assert rec.image_normalization_ == pytest.approx((mean, std), rel=1e-12)
    assert abs(normalize_images(world.images)[1] / mean - 1) > 1e-6       # all 300 would differ
    vocabulary = TextVectorizer().fit(world.items[schema.DESCRIPTION][:250]).n_features_
    assert rec.model_.item_text.shape == (300, vocabulary)                  # the cold word is not a column
    assert rec.model_.item_text[250:].abs().sum() == 0


# --------------------------------------------------------------------------- files
def test_recommender_round_trip(tmp_path, world):
    log = world.interactions[world.interactions[schema.USER] < 60]
    rec = Recommender("multimodal", dim=8, epochs=2, verbose=False).fit(log, items=world.items, images=world.images)
    rec.save(tmp_path / "rec.pt")
    back = Recommender.load(tmp_path / "rec.pt")
    assert back.get_params() == rec.get_params() and back.target_ == rec.target_ == schema.CLICKED
    pd.testing.assert_frame_equal(back.history_, rec.history_)
    users, items = np.array([0, 5, 59]), np.array([299, 3, 150])
    np.testing.assert_array_equal(back.predict(users, items), rec.predict(users, items))
    pd.testing.assert_frame_equal(back.recommend([1, 2], k=5), rec.recommend([1, 2], k=5))
    state = torch.load(tmp_path / "rec.pt", weights_only=True)
    state["params"]["dim"] = 16                                          # a file that does not fit its model
    torch.save(state, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match="user_embedding.weight"):
        Recommender.load(tmp_path / "edited.pt")
    torch.save(rec.model_.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="Recommender"):
        Recommender.load(tmp_path / "bare.pt")


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("change, fit_kwargs, named", [
    (dict(loss="hinge"), {}, "loss"),
    (dict(model="MF"), {}, "model"),
    ({}, dict(target="liked"), "liked"),
    ({}, dict(target=schema.RATING), "rating"),
    ({}, dict(sample_weight=np.ones(5)), "sample_weight"),
    ({}, dict(sample_weight=-np.ones(108)), "sample_weight"),
    (dict(validation_fraction=1.0), {}, "validation_fraction"),
    ({}, dict(images=np.zeros((9, 16, 16))), "images"),
    (dict(use_item_ids=False), {}, "use_item_ids"),
    (dict(loss="bpr"), dict(target=schema.PURCHASED, sample_weight=None), None),
])
def test_bad_recommender_input_is_named(change, fit_kwargs, named):
    log = _tiny_log()
    if named is None:                                                    # no positive row at all
        log, named = log.assign(purchased=0), "positive"
    with pytest.raises(ValueError, match=named):
        _fast(**change).fit(log, **fit_kwargs)


def test_bad_baseline_input_is_named():
    log = _tiny_log()
    with pytest.raises(ValueError, match="n_items"):
        PopularityRecommender().fit(log, n_items=3)
    with pytest.raises(ValueError, match="positive"):
        PopularityRecommender().fit(log.assign(clicked=0))
    with pytest.raises(ValueError, match="user_id"):
        PopularityRecommender().fit(log.assign(user_id=-1))
    with pytest.raises(ValueError, match="item_features"):
        ContentBasedRecommender().fit(log, item_features=np.full((9, 2), np.nan))
    with pytest.raises(ValueError, match="n_neighbors"):
        ItemKNNRecommender(n_neighbors=0).fit(log)
    with pytest.raises(ValueError, match="random_state"):
        RandomRecommender(random_state=-1).fit(log)


# --------------------------------------------------------------------------- baselines by hand
@pytest.fixture
def log():
    # users 0-1 click items 0 and 1; user 2 clicks items 2 and 3; user 3 clicks item 0 only
    return pd.DataFrame({schema.USER: [0, 0, 1, 1, 2, 2, 3, 3], schema.ITEM: [0, 1, 0, 1, 2, 3, 0, 4],
                         schema.CLICKED: [1, 1, 1, 1, 1, 1, 1, 0], schema.PURCHASED: [0, 1, 0, 0, 0, 1, 0, 1]})


def test_popularity_counts_positive_users(log):
    model = PopularityRecommender().fit(log, n_items=6)
    np.testing.assert_array_equal(model.popularity_, [3, 2, 1, 1, 0, 0])
    assert model.recommend([3], k=2)[schema.ITEM].tolist() == [1, 2]       # item 0 already clicked
    bought = PopularityRecommender(positive=schema.PURCHASED).fit(log, n_items=6)
    np.testing.assert_array_equal(bought.popularity_, [0, 1, 0, 1, 1, 0])


def test_random_scores_depend_only_on_seed_and_user(log):
    a, b = RandomRecommender(random_state=7).fit(log), RandomRecommender(random_state=7).fit(log)
    np.testing.assert_array_equal(a.score_items([0, 1, 2, 3]), b.score_items([0, 1, 2, 3]))
    assert not np.array_equal(a.score_items([0, 1]), RandomRecommender(random_state=8).fit(log).score_items([0, 1]))
    np.testing.assert_array_equal(a.score_items([2])[0], a.score_items([3, 2])[1])


def test_content_based_profiles_by_hand(log):
    features = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 2], [1, 0, 0.1]], dtype=float)
    model = ContentBasedRecommender().fit(log, item_features=features, n_users=6)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    np.testing.assert_allclose(model.user_profiles_[0], unit[[0, 1]].mean(axis=0))
    np.testing.assert_allclose(model.score_items([3])[0], unit @ unit[0])
    assert (model.score_items([5]) == 0).all()                            # no positives: no profile
    sparse = ContentBasedRecommender().fit(log, item_features=sp.csr_matrix(features), n_users=6)
    np.testing.assert_allclose(sparse.score_items([0, 1, 2, 3]), model.score_items([0, 1, 2, 3]))


def test_item_knn_similarity_by_hand(log):
    model = ItemKNNRecommender().fit(log, n_items=5)
    sim = model.similarity_.toarray()
    assert sim[0, 1] == pytest.approx(2 / np.sqrt(3 * 2)) and sim[2, 3] == pytest.approx(1.0)
    assert np.all(np.diag(sim) == 0) and np.allclose(sim, sim.T)
    np.testing.assert_allclose(model.score_items([3])[0], sim[0])
    assert (ItemKNNRecommender(n_neighbors=1).fit(log, n_items=5).similarity_.toarray() > 0).sum(axis=1).max() == 1


# --------------------------------------------------------------------------- against the truth
@pytest.fixture(scope="module")
def randomized_auc(world):
    """AUC against "rating >= 4" on the randomized slice (exposure at random: an unbiased test)."""
    train, test = world.interactions, world.randomized
    sizes = dict(n_users=world.n_users, n_items=world.n_items)
    text = TfidfVectorizer().fit_transform(world.items[schema.DESCRIPTION])
    models = {"random": RandomRecommender(random_state=0).fit(train, **sizes),
              "popularity": PopularityRecommender().fit(train, **sizes),
              "content": ContentBasedRecommender().fit(train, item_features=text, n_users=world.n_users),
              "item_knn": ItemKNNRecommender().fit(train, **sizes),
              "mf": Recommender("mf", dim=16, epochs=8, verbose=False).fit(train)}
    relevant = (test[schema.RATING] >= 4).to_numpy()
    return {name: roc_auc_score(relevant, model.predict(test[schema.USER], test[schema.ITEM]))
            for name, model in models.items()}


def test_random_scores_carry_no_signal(randomized_auc):
    assert 0.45 < randomized_auc["random"] < 0.55


@pytest.mark.parametrize("name", ["popularity", "content", "item_knn", "mf"])
def test_learning_beats_random_on_the_randomized_slice(randomized_auc, name):
    assert randomized_auc[name] > randomized_auc["random"] + 0.1


@pytest.mark.parametrize("name", ["content", "item_knn", "mf"])
def test_personal_models_beat_popularity(randomized_auc, name):
    assert randomized_auc[name] > randomized_auc["popularity"] + 0.02
