"""The simulated shop: its contract, its determinism, and the causal facts the book relies on."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from causalrec import schema
from causalrec.data.simulate import DEFAULT_PARAMS, simulate_shop
from causalrec.data.world import World

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def small_worlds():
    return {seed: simulate_shop(n_users=600, n_items=120, random_state=seed) for seed in SEEDS}


@pytest.fixture(scope="module")
def world():
    return simulate_shop(random_state=0)


def test_contract_columns_and_types(world):
    assert isinstance(world, World)
    assert list(world.interactions.columns) == list(schema.INTERACTION_COLUMNS)
    assert list(world.randomized.columns) == list(schema.RANDOMIZED_COLUMNS)
    assert list(world.users.columns) == list(schema.USER_COLUMNS)
    assert list(world.items.columns) == list(schema.ITEM_COLUMNS)
    assert world.images.shape == (world.n_items, 16, 16)
    assert world.images.dtype == np.float32
    assert 0.0 <= world.images.min() and world.images.max() <= 1.0
    assert world.items[schema.DESCRIPTION].str.len().min() > 10
    t = world.truth
    n = len(world.interactions)
    for array in (t.propensity, t.effect, t.relevance_logged, t.rating_propensity):
        assert array.shape == (n,)
    assert t.relevance_randomized.shape == (len(world.randomized),)
    assert t.dag.startswith("digraph") and "exposed -> " in t.dag
    assert set(t.cate_by_group.index) == {0, 1}


def test_default_size_is_tens_of_thousands_of_events(world):
    assert world.n_users == 1000 and world.n_items == 300
    assert 20_000 <= len(world.interactions) <= 100_000
    # every user has logged candidates and a randomized slice
    assert world.interactions[schema.USER].nunique() == 1000
    assert world.randomized[schema.USER].nunique() == 1000


def test_logged_values_are_consistent(world):
    it = world.interactions
    shown = it[schema.EXPOSED] == 1
    assert (it.loc[~shown, schema.POSITION] == 0).all()
    assert (it.loc[shown, schema.POSITION] >= 1).all()
    assert (it.loc[~shown, schema.CLICKED] == 0).all(), "a click needs an exposure"
    rated = it[schema.RATING].notna()
    assert (it.loc[rated, schema.CLICKED] == 1).all(), "only clicked items are rated"
    assert it.loc[rated, schema.RATING].isin([1, 2, 3, 4, 5]).all()
    assert world.randomized[schema.RATING].notna().all()
    assert not it.duplicated([schema.USER, schema.ITEM]).any()
    assert it[schema.DAY].between(0, 27).all()


def test_randomized_slice_is_disjoint_from_logged_candidates(world):
    logged = set(zip(world.interactions[schema.USER], world.interactions[schema.ITEM]))
    randomized = set(zip(world.randomized[schema.USER], world.randomized[schema.ITEM]))
    assert not logged & randomized
    shown_share = world.randomized[schema.EXPOSED].mean()
    assert 0.45 < shown_share < 0.55


def test_same_seed_same_world_and_other_seed_differs():
    a = simulate_shop(n_users=80, n_items=30, random_state=5)
    b = simulate_shop(n_users=80, n_items=30, random_state=5)
    c = simulate_shop(n_users=80, n_items=30, random_state=6)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.items, b.items)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.truth.ate == b.truth.ate
    assert not a.interactions.equals(c.interactions)


@pytest.mark.parametrize("seed", SEEDS)
def test_naive_difference_overstates_the_true_effect(small_worlds, seed):
    world = small_worlds[seed]
    it = world.interactions
    naive = it.loc[it.exposed == 1, "purchased"].mean() - it.loc[it.exposed == 0, "purchased"].mean()
    assert world.truth.ate > 0
    assert naive >= 1.5 * world.truth.ate


@pytest.mark.parametrize("seed", SEEDS)
def test_true_propensities_recover_the_true_effect(small_worlds, seed):
    """Inverse propensity weighting with the true propensities is unbiased for the ATE."""
    world = small_worlds[seed]
    e = world.interactions[schema.EXPOSED].to_numpy()
    y = world.interactions[schema.PURCHASED].to_numpy()
    p = world.truth.propensity
    ipw = np.mean(e * y / p - (1 - e) * y / (1 - p))
    assert ipw == pytest.approx(world.truth.ate, rel=0.15)


def test_randomized_experiment_recovers_its_true_effect():
    world = simulate_shop(n_users=3000, n_items=200, randomized_per_user=30, random_state=3)
    r = world.randomized
    diff = r.loc[r.exposed == 1, "purchased"].mean() - r.loc[r.exposed == 0, "purchased"].mean()
    se = np.sqrt(r.purchased.var() * (1 / (r.exposed == 1).sum() + 1 / (r.exposed == 0).sum()))
    assert abs(diff - world.truth.ate_randomized) < 3 * se


def test_effect_differs_by_group_and_averages_to_the_ate(world):
    cate = world.truth.cate_by_group
    assert cate[0] > 1.5 * cate[1] > 0
    groups = world.users.set_index(schema.USER).loc[world.interactions[schema.USER], schema.GROUP].to_numpy()
    weighted = np.mean(np.where(groups == 0, world.truth.effect, world.truth.effect))
    assert weighted == pytest.approx(world.truth.ate)
    assert pd.Series(world.truth.effect).groupby(groups).mean().to_dict() == pytest.approx(cate.to_dict())


@pytest.mark.parametrize("seed", SEEDS)
def test_exposure_rises_with_popularity(small_worlds, seed):
    world = small_worlds[seed]
    merged = world.interactions.merge(world.items[[schema.ITEM, schema.POPULARITY]], on=schema.ITEM)
    quintile = pd.qcut(merged[schema.POPULARITY].rank(method="first"), 5, labels=False)
    rates = merged.groupby(quintile)[schema.EXPOSED].mean().to_numpy()
    assert np.all(np.diff(rates) > 0), rates
    assert rates[-1] > 2 * rates[0]


def test_popularity_does_not_cause_relevance():
    """Popularity is a confounder of exposure and purchase, not a cause of relevance."""
    world = simulate_shop(n_users=50, n_items=40, random_state=0)
    t = world.truth
    users = np.repeat(np.arange(5), 40)
    items = np.tile(np.arange(40), 5)
    before = t.relevance_for(users, items)
    world.items[schema.POPULARITY] = world.items[schema.POPULARITY][::-1].to_numpy()
    np.testing.assert_array_equal(t.relevance_for(users, items), before)
    # but it is correlated with relevance through latent quality
    mean_relevance = t.relevance.mean(axis=0)
    pop = simulate_shop(n_users=50, n_items=40, random_state=0).items[schema.POPULARITY]
    assert np.corrcoef(np.log1p(pop), mean_relevance)[0, 1] > 0.2


def test_position_bias_in_click_rates(world):
    shown = world.interactions[world.interactions.exposed == 1]
    ctr = shown.groupby(schema.POSITION)[schema.CLICKED].mean()
    assert ctr.loc[1] > ctr.loc[2] > ctr.loc[3] > ctr.loc[4]


def test_ratings_are_missing_not_at_random(world):
    logged = world.interactions[schema.RATING].mean()
    randomized = world.randomized[schema.RATING].mean()
    assert logged > randomized + 0.5


def _tfidf_and_pixels(world):
    from sklearn.feature_extraction.text import TfidfVectorizer

    text = TfidfVectorizer().fit_transform(world.items[schema.DESCRIPTION]).toarray()
    pixels = world.images.reshape(world.n_items, -1)
    pixels = (pixels - pixels.mean(0)) / (pixels.std(0) + 1e-9)
    return text, pixels / np.sqrt(pixels.shape[1])


@pytest.mark.parametrize("feature", ["text", "image"])
def test_item_content_carries_signal_about_relevance(world, feature):
    """A content-only model (user profile = mean features of clicked items) beats random."""
    from sklearn.metrics import roc_auc_score

    text, pixels = _tfidf_and_pixels(world)
    features = text if feature == "text" else pixels
    clicked = world.interactions[world.interactions.clicked == 1]
    profiles = np.zeros((world.n_users, features.shape[1]))
    np.add.at(profiles, clicked[schema.USER].to_numpy(), features[clicked[schema.ITEM].to_numpy()])
    r = world.randomized
    scores = np.einsum("nd,nd->n", profiles[r[schema.USER]], features[r[schema.ITEM]])
    auc = roc_auc_score(r[schema.RATING] >= 4, scores)
    assert auc > 0.6, auc


def test_relevance_for_agrees_with_logged_truth(world):
    it = world.interactions
    np.testing.assert_allclose(world.truth.relevance_for(it[schema.USER], it[schema.ITEM]),
                               world.truth.relevance_logged)
    dense = world.truth.relevance
    assert dense.shape == (1000, 300)
    np.testing.assert_allclose(dense[it[schema.USER], it[schema.ITEM]], world.truth.relevance_logged)


def _peak_memory(**kwargs):
    tracemalloc.start()
    world = simulate_shop(**kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return world, peak


def test_memory_grows_with_events_not_users_times_items():
    """Ten times the items at the same number of events: about the same peak memory.

    20,000 x 5,000 would be 800 MB as one dense float64 matrix; the world needs far less.
    """
    args = dict(n_users=20_000, candidates_per_user=20, randomized_per_user=2, random_state=0)
    _, peak_small = _peak_memory(n_items=500, **args)
    world, peak_large = _peak_memory(n_items=5_000, **args)
    assert peak_large < 300e6, f"peak {peak_large / 1e6:.0f} MB"
    assert peak_large < 1.3 * peak_small, (peak_small, peak_large)
    with pytest.raises(ValueError, match="relevance_for"):
        world.truth.relevance


@pytest.mark.parametrize("kwargs, message", [
    ({"n_users": 1}, "n_users must be >= 2"),
    ({"n_items": 5}, "n_items must be >= 10"),
    ({"n_users": 10.5}, "n_users must be an integer"),
    ({"n_factors": 4}, "n_factors must be >= 8"),
    ({"params": {"alpha9": 1.0}}, r"unknown simulation parameter\(s\) \['alpha9'\]"),
    ({"params": {"group1_share": 1.5}}, "group1_share"),
    ({"random_state": -1}, "random_state must be a non-negative"),
    ({"random_state": "zero"}, "random_state must be None"),
])
def test_bad_arguments_are_named(kwargs, message):
    args = {"n_users": 20, "n_items": 20, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        simulate_shop(**args)


def test_relevance_for_rejects_unknown_ids(world):
    with pytest.raises(ValueError, match="user IDs must lie in"):
        world.truth.relevance_for([1000], [0])
    with pytest.raises(ValueError, match="item IDs must lie in"):
        world.truth.relevance_for([0], [-1])
    with pytest.raises(ValueError, match="same shape"):
        world.truth.relevance_for([0, 1], [0])


def test_params_override_changes_the_mechanism():
    base = simulate_shop(n_users=300, n_items=60, random_state=0)
    stronger = simulate_shop(n_users=300, n_items=60, random_state=0,
                             params={"kappa": (0.9, 0.9)})
    assert stronger.truth.ate > base.truth.ate
    assert set(DEFAULT_PARAMS) == set(stronger.truth.params)


def test_a_world_too_big_for_memory_is_refused_up_front():
    """10**9 users need far more than any laptop: refused in milliseconds, naming the sizes and the GiB."""
    import re
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"n_users=1,000,000,000, n_items=1,000,000") as error:
        simulate_shop(n_users=10**9, n_items=10**6)
    assert time.perf_counter() - start < 1.0, "it allocated before refusing"
    needed = float(re.search(r"about ([\d.]+) GiB", str(error.value)).group(1))
    assert needed > 59.6          # the taste matrix alone (10**9 x 8 float64) is 59.6 GiB
