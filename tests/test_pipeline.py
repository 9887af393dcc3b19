"""Tests for causalrec.pipeline: config validation, the branch, a full small run."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest

import causalrec as cr
from causalrec import schema

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from causalrec.data.world import World
from causalrec.cli import config_from_toml, config_to_toml, describe_config, exposure_effect
from causalrec.pipeline import (LIKED, PROPENSITY, STEPS, ConfigError, Pipeline, PipelineConfig,
                                evaluate_recommendations, has_causal_information, observation_propensity,
                                run_pipeline, strip_causal_information)


@pytest.fixture(scope="module")
def world():
    return cr.simulate_shop(n_users=200, n_items=60, random_state=0)


@pytest.fixture(scope="module")
def report(world):
    return run_pipeline(world, PipelineConfig(epochs=2, batch_size=256, random_state=0), verbose=False)


# ------------------------------------------------------------------ config: one schema
@pytest.mark.parametrize("key, value, allowed", [
    ("model", "svd", "'mf', 'neumf', 'multimodal'"),
    ("target", "rating", "'clicked', 'purchased', 'liked'"),
    ("debias", "dr", "'naive', 'ips'"),
    ("source", "netflix", "'default', 'simulate', 'coat', 'movielens'"),
])
def test_config_rejects_unknown_choices_naming_key_and_allowed_values(key, value, allowed):
    with pytest.raises(ValueError, match=f"{key} = '{value}' is not allowed; allowed values: {allowed}"):
        PipelineConfig(**{key: value})


@pytest.mark.parametrize("key, value, rule", [
    ("epochs", 0, "an integer >= 1"), ("batch_size", 2.5, "an integer >= 1"), ("random_state", -1, "an integer >= 0"),
    ("test_size", 1.0, "a number > 0 and <= 0.99"), ("propensity_clip", 0.0, "a number > 0 and <= 1"),
    ("lr", float("nan"), "a number > 0"), ("lr", True, "a number > 0"), ("verify", "yes", "true or false"),
])
def test_config_rejects_bad_numbers_naming_key_and_rule(key, value, rule):
    with pytest.raises(ConfigError, match=re.escape(f"{key} = {value!r}") + ".*expected " + re.escape(rule)):
        PipelineConfig(**{key: value})


@pytest.mark.parametrize("raw, message", [
    ({"trian": {"epochs": 1}}, r"unknown section \[trian\]; allowed sections: data, train, evaluate"),
    ({"train": {"epoch": 1}}, r"unknown key train.epoch; allowed keys in \[train\]: model, loss"),
    ({"train": {"epochs": "5"}}, r"train.epochs = '5' has the wrong type \(str\); expected an integer >= 1"),
    ({"effect": {"method": "magic"}}, r"effect.method = 'magic' is not allowed; allowed values: 'none', "),
    ({"train": "mf"}, r"\[train\] must be a table"),
    ({"data": {"source": "movielens"}, "train": {"target": "liked", "debias": "ips"}, "effect": {"method": "none"}},
     r"train.debias = 'ips' is not allowed with data.source = 'movielens' .*allowed values: 'naive'"),
    ({"data": {"source": "coat"}, "effect": {"method": "none"}},
     r"train.target = 'clicked' is not allowed with data.source = 'coat' .*allowed values: 'liked'"),
    ({"data": {"strip_causal": True}, "train": {"debias": "ips"}, "effect": {"method": "none"}},
     r"train.debias = 'ips' is not allowed with data.strip_causal = true .*allowed values: 'naive'"),
    ({"data": {"users": 50}}, r"data.users is only used with data.source = 'simulate'"),
    ({"data": {"source": "coat", "path": "/no/such/folder"}, "train": {"target": "liked"},
      "effect": {"method": "none"}}, r"data.path = '/no/such/folder' is not a folder"),
])
def test_toml_errors_name_section_key_and_allowed_values(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_toml(raw)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        config_from_toml({"train": {"model": "svd", "epochs": -1}, "evaluate": {"k": 0}})
    assert sorted(e.split(" ")[0] for e in info.value.errors) == ["evaluate.k", "train.epochs", "train.model"]


def test_toml_and_dict_round_trip_and_sections():
    config = config_from_toml({"data": {"source": "simulate", "users": 50}, "train": {"lr": 1}})
    assert (config.n_users, config.n_items, config.lr) == (50, 100, 1.0) and isinstance(config.lr, float)
    assert config_from_toml(tomllib.loads(config_to_toml(config))) == config
    assert "users" not in config_to_toml(PipelineConfig()) and "path" not in config_to_toml(PipelineConfig())
    assert PipelineConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) 'epoch'.*allowed keys: source"):
        PipelineConfig.from_dict({"epoch": 3})
    # sections=... reads only those sections (the CLI's evaluate needs data and evaluate)
    assert config_from_toml({"train": {"model": "svd"}, "evaluate": {"k": 3}}, sections=("evaluate",)).k == 3
    # the help lists every key with its allowed values
    text = describe_config()
    for f in dataclasses.fields(PipelineConfig):
        assert f"{f.metadata['section']}.{f.metadata['key'] or f.name}: " in text
        assert all(repr(value) in text for value in f.metadata["allowed"] or ())


# ------------------------------------------------------------------ branch
def test_branch_with_causal_information(world):
    causal, reasons = has_causal_information(world)
    assert causal
    text = " ".join(reasons)
    assert "randomized slice" in text and "propensities" in text and "causal graph" in text


def test_branch_without_causal_information(world):
    logs = strip_causal_information(world)
    causal, reasons = has_causal_information(logs)
    assert not causal
    assert reasons == ["no randomized slice", "no known propensities", "no causal graph"]
    assert isinstance(logs, World) and logs.randomized is None and logs.truth is None
    assert logs.images is world.images and logs.users is world.users
    assert schema.POLICY_SCORE not in logs.interactions
    assert len(logs.interactions) == len(world.interactions)
    # the original world is untouched
    assert schema.POLICY_SCORE in world.interactions and has_causal_information(world)[0]


def test_steps_must_run_in_order(world):
    pipe = Pipeline(PipelineConfig(epochs=1), verbose=False)
    with pytest.raises(RuntimeError, match="load"):
        pipe.preprocess()
    pipe.load(world)
    with pytest.raises(RuntimeError, match="preprocess"):
        pipe.train()


# --------------------------------------------------------------- full run
def test_full_run_report(world, report):
    assert report.branch.path == "causal"
    assert report.cleaning.rows_in == len(world.interactions)
    assert list(report.timings) == list(STEPS)
    recs = report.recommendations
    assert recs[schema.USER].nunique() == world.n_users
    seen = world.interactions[[schema.USER, schema.ITEM]].drop_duplicates()
    unseen = world.n_items - seen.groupby(schema.USER).size().reindex(range(world.n_users), fill_value=0)
    assert (recs.groupby(schema.USER).size() == np.minimum(10, unseen)).all()
    overlap = recs.merge(seen, on=[schema.USER, schema.ITEM])
    assert overlap.empty, "recommended an item the user already has in the log"
    for name in ("logged_auc", "randomized_auc", "randomized_ndcg@10", "randomized_precision@10",
                 "coverage@10"):
        assert name in report.metrics
    for name, value in report.metrics.items():
        if "popularity" not in name:
            assert 0.0 <= value <= 1.0, name
    # the model learned something: better than chance on held-out logged clicks
    assert report.metrics["logged_auc"] > 0.55
    assert set(report.importance["block"]) == {"user ID", "item ID"}
    assert np.isfinite(report.importance["auc_drop"]).all()


def test_report_to_dict_is_json(report):
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["branch"]["path"] == "causal"
    assert payload["config"]["epochs"] == 2
    assert len(payload["recommendations"]) == len(report.recommendations)
    assert payload["cleaning"]["rows_out"] == report.cleaning.rows_out


def test_same_seed_same_numbers(world, report):
    again = run_pipeline(world, PipelineConfig(epochs=2, batch_size=256, random_state=0), verbose=False)
    assert again.metrics == report.metrics
    pd.testing.assert_frame_equal(again.recommendations, report.recommendations)
    pd.testing.assert_frame_equal(again.importance, report.importance)


def test_features_path_and_multimodal_importance(world):
    logs = strip_causal_information(world)
    config = PipelineConfig(model="multimodal", epochs=1, importance_rows=1000, importance_repeats=1)
    pipe = Pipeline(config, verbose=False)
    result = pipe.run(logs)
    assert result.branch.path == "features"
    assert not any(name.startswith("randomized_") for name in result.metrics)
    assert set(result.importance["block"]) == {"user ID", "item ID", "image", "text"}
    features = pipe.features_
    assert features.images.shape == (world.n_items, 1, 16, 16)
    assert features.text.shape == (world.n_items, len(features.vocabulary))
    reasons = pipe.explain(0)
    assert len(reasons) == 10
    assert reasons["content_similarity"].between(0, 1 + 1e-9).all()


def _ratings_data(propensity=True):
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 20
    pairs = [(u, i) for u in range(n_users) for i in rng.choice(n_items, 6, replace=False)]
    log = pd.DataFrame(pairs, columns=[schema.USER, schema.ITEM])
    log[schema.RATING] = rng.integers(1, 6, len(log)).astype(float)
    return World(name="tiny", users=pd.DataFrame({schema.USER: range(n_users)}),
                       items=pd.DataFrame({schema.ITEM: range(n_items)}), interactions=log, randomized=None,
                       propensity=rng.uniform(0.1, 0.9, len(log)) if propensity else None, source="test")


def test_strip_causal_information_of_rating_data_drops_its_propensities():
    data = _ratings_data()
    stripped = strip_causal_information(data)
    assert isinstance(stripped, World) and stripped.propensity is None
    assert has_causal_information(data)[0] and not has_causal_information(stripped)[0]
    assert data.propensity is not None, "the input is untouched"


# --------------------------------------------------------------- liked, IPS and the effect step
def test_liked_target_from_ratings(world):
    pipe = Pipeline(PipelineConfig(target=LIKED, epochs=1, relevant_rating=4), verbose=False)
    pipe.load(world)
    clean, report = pipe.preprocess()
    rated = world.interactions[schema.RATING].notna()
    # rows without a rating have no "liked" outcome: the cleaning drops and counts them
    assert report.rows_out == int(rated.sum()) and report.missing_values == int((~rated).sum())
    np.testing.assert_array_equal(clean[LIKED].to_numpy(), (clean[schema.RATING] >= 4).to_numpy().astype(float))


def test_ips_trains_on_observed_rows_with_known_propensities(world):
    pipe = Pipeline(PipelineConfig(debias="ips", epochs=1, batch_size=256), verbose=False)
    pipe.load(world)
    np.testing.assert_array_equal(pipe.log_[PROPENSITY].to_numpy(), world.truth.propensity)
    pipe.preprocess()
    pipe.decide_branch()
    pipe.extract_features()
    model = pipe.train()
    exposed_train = pipe.train_[pipe.train_[schema.EXPOSED] == 1]
    assert len(model.seen_) == len(exposed_train[[schema.USER, schema.ITEM]].drop_duplicates())
    assert len(exposed_train) < len(pipe.train_)
    assert model.n_items_ == world.n_items


def test_ips_on_rating_data_uses_the_shipped_propensities():
    data = _ratings_data()
    np.testing.assert_array_equal(observation_propensity(data, LIKED), data.propensity)
    report = run_pipeline(data, PipelineConfig(target=LIKED, debias="ips", epochs=1, batch_size=64,
                                               importance_repeats=1), verbose=False)
    assert report.branch.path == "causal" and "logged_auc" in report.metrics


def test_ips_without_propensities_is_refused_naming_the_option(world):
    with pytest.raises(ValueError, match="debias='ips' needs the known rating propensity"):
        run_pipeline(_ratings_data(propensity=False), PipelineConfig(target=LIKED, debias="ips"), verbose=False)
    with pytest.raises(ValueError, match="debias='ips' needs the known exposure propensity"):
        Pipeline(PipelineConfig(debias="ips"), verbose=False).load(strip_causal_information(world))
    assert observation_propensity(world, LIKED) is not None
    np.testing.assert_array_equal(observation_propensity(world, LIKED), world.truth.rating_propensity)


def test_exposure_effect_recovers_the_truth(world):
    effect = exposure_effect(world, "weighting")
    assert effect["effect_true"] == pytest.approx(world.truth.ate)
    assert abs(effect["effect_estimate"] - world.truth.ate) < 0.03
    assert abs(effect["effect_naive"] - world.truth.ate) > abs(effect["effect_estimate"] - world.truth.ate)
    with pytest.raises(ValueError, match="needs a causal graph"):
        exposure_effect(strip_causal_information(world))
    with pytest.raises(ValueError, match="needs 'exposed' and 'purchased' columns"):
        exposure_effect(_ratings_data())
    with pytest.raises(ValueError, match="method='magic' is not allowed"):
        exposure_effect(world, "magic")


def test_evaluate_recommendations_hand_computed():
    world = cr.simulate_shop(n_users=40, n_items=20, random_state=0)
    recs = pd.DataFrame({schema.USER: [0, 0, 1, 1], schema.ITEM: [5, 6, 7, 8], schema.RANK: [1, 2, 1, 2]})
    heldout = pd.DataFrame({schema.USER: [0, 1], schema.ITEM: [6, 9], "relevant": [1, 1]})
    metrics = evaluate_recommendations(recs, world, k=2, heldout=heldout)
    # user 0 finds its item at rank 2, user 1 misses: hit rate 1/2, precision (1/2 + 0)/2
    assert metrics["heldout_hit_rate@2"] == pytest.approx(0.5)
    assert metrics["heldout_precision@2"] == pytest.approx(0.25)
    assert metrics["coverage@2"] == pytest.approx(4 / 20)
    true = world.truth.relevance_for(recs[schema.USER], recs[schema.ITEM]).mean()
    assert metrics["true_relevance@2"] == pytest.approx(true)
    assert metrics["true_relevance_random"] <= metrics["true_relevance_best@2"]
    with pytest.raises(ValueError, match="item_id values outside 0..19"):
        evaluate_recommendations(recs.assign(item_id=99), world)
