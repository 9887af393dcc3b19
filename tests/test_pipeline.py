"""Tests for causalrec.pipeline: config validation, the branch, a full small run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import causalrec as cr
from causalrec import schema
from causalrec.pipeline import (STEPS, Pipeline, PipelineConfig, has_causal_information, run_pipeline,
                                strip_causal_information)


@pytest.fixture(scope="module")
def world():
    return cr.simulate_shop(n_users=200, n_items=60, random_state=0)


@pytest.fixture(scope="module")
def report(world):
    return run_pipeline(world, PipelineConfig(epochs=2, batch_size=256, random_state=0), verbose=False)


# ------------------------------------------------------------------ config
@pytest.mark.parametrize("key, value, allowed", [
    ("model", "svd", "'mf', 'neumf', 'multimodal'"),
    ("loss", "hinge", "'bce', 'bpr', 'softmax'"),
    ("target", "rating", "'clicked', 'purchased'"),
    ("split", "by_user", "'random', 'temporal'"),
])
def test_config_rejects_unknown_choices_naming_key_and_allowed_values(key, value, allowed):
    with pytest.raises(ValueError, match=f"{key}='{value}'.*allowed values: {allowed}"):
        PipelineConfig(**{key: value})


@pytest.mark.parametrize("key, value", [("epochs", 0), ("k", -3), ("batch_size", 2.5), ("random_state", -1),
                                        ("importance_repeats", 0)])
def test_config_rejects_bad_numbers(key, value):
    with pytest.raises((ValueError, TypeError), match=key):
        PipelineConfig(**{key: value})


@pytest.mark.parametrize("value", [0.0, 1.0, 1.5])
def test_config_rejects_test_size_outside_open_interval(value):
    with pytest.raises(ValueError, match="test_size"):
        PipelineConfig(test_size=value)


def test_config_rejects_bad_lr():
    with pytest.raises(ValueError, match="lr"):
        PipelineConfig(lr=-0.1)


def test_config_from_dict_refuses_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown config key\(s\) 'epoch'.*allowed keys: model"):
        PipelineConfig.from_dict({"epoch": 3})
    config = PipelineConfig.from_dict({"model": "neumf", "k": 5})
    assert (config.model, config.k) == ("neumf", 5)
    assert PipelineConfig.from_dict(config.to_dict()) == config


def test_run_pipeline_accepts_a_dict_and_refuses_bad_keys(world):
    with pytest.raises(ValueError, match="unknown config key"):
        run_pipeline(world, {"modle": "mf"}, verbose=False)


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
    assert schema.POLICY_SCORE not in logs.interactions
    assert len(logs.interactions) == len(world.interactions)
    # the original world is untouched
    assert schema.POLICY_SCORE in world.interactions and has_causal_information(world)[0]


def test_branch_randomized_slice_alone_is_enough(world):
    logs = strip_causal_information(world)
    logs.randomized = world.randomized
    causal, reasons = has_causal_information(logs)
    assert causal and len(reasons) == 1 and "randomized slice" in reasons[0]


def test_steps_must_run_in_order(world):
    pipe = Pipeline(PipelineConfig(epochs=1), verbose=False)
    with pytest.raises(RuntimeError, match="load"):
        pipe.preprocess()
    pipe.load(world)
    with pytest.raises(RuntimeError, match="preprocess"):
        pipe.train()


def test_load_refuses_data_without_interactions():
    with pytest.raises(ValueError, match="DataFrame attribute 'users'"):
        Pipeline(verbose=False).load(pd.DataFrame({"user_id": [0]}))


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
        if "popularity" not in name and "n_users" not in name:
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
