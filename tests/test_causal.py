"""The DoWhy adapter: every estimator recovers the simulator's true effect, agrees with a direct
statsmodels/numpy computation of the same estimator, refuters behave, bad input is named, and
DoWhy stays a lazy import that leaves the interpreter as it was."""

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.regression.linear_model import OLS

import causalrec as cr
from causalrec import causal, schema

SEEDS = (1, 2, 3)
SIZE = dict(n_users=600, n_items=150)  # about 35,000 logged pairs per world

# Relative error allowed against world.truth.ate. The consistent estimators stayed within 15%
# over seeds 1-6 (matching and weighting are the noisiest).
TOLERANCE = {"regression_adjustment": 0.20, "stratification": 0.20, "matching": 0.20, "weighting": 0.20}
# Additive OLS is biased upward here (the effect grows with the propensity, and OLS weights each
# unit by the variance of its treatment): an overshoot between 0% and 40%.
LINEAR_REGRESSION_OVERSHOOT = (0.0, 0.40)


@pytest.fixture(scope="module")
def worlds():
    return {seed: cr.simulate_shop(**SIZE, random_state=seed) for seed in SEEDS}


@pytest.fixture(scope="module")
def setups(worlds):
    return {seed: causal.causal_model(causal.analysis_frame(w), causal.simulator_graph(w))
            for seed, w in worlds.items()}


@pytest.fixture(scope="module")
def tables(setups):
    return {seed: causal.estimate_effects(setup) for seed, setup in setups.items()}


@pytest.fixture(scope="module")
def tiny():
    world = cr.simulate_shop(n_users=60, n_items=30, random_state=0)
    return causal.analysis_frame(world), causal.simulator_graph(world)


def test_analysis_frame_joins_item_and_user_features(worlds):
    world = worlds[1]
    frame = causal.analysis_frame(world)
    assert len(frame) == len(world.interactions) and not frame.isna().any().any()
    assert frame[schema.EXPOSED].dtype == bool
    assert (frame[schema.EXPOSED] == (world.interactions[schema.EXPOSED] == 1)).all()
    items = world.items.set_index(schema.ITEM)
    np.testing.assert_allclose(frame[causal.LOG_POPULARITY],
                               np.log1p(items.loc[frame[schema.ITEM], schema.POPULARITY].to_numpy()))
    users = world.users.set_index(schema.USER)
    assert (frame[schema.GROUP].to_numpy() == users.loc[frame[schema.USER], schema.GROUP].to_numpy()).all()
    assert schema.RATING not in frame.columns


def test_the_simulator_graph_identifies_the_backdoor_set(setups, worlds):
    graph = causal.parse_graph(causal.simulator_graph(worlds[1]))
    assert causal.LOG_POPULARITY in graph and schema.POPULARITY not in graph
    assert graph.number_of_edges() == causal.parse_graph(worlds[1].truth.dag).number_of_edges()
    assert setups[1].backdoor_variables == (causal.LOG_POPULARITY, schema.POLICY_SCORE)
    assert {"relevance", "quality"} <= set(setups[1].latent_variables)
    assert cr.causal_model is causal.causal_model


def test_backdoor_criterion_on_the_simulator_graph(worlds):
    dag = causal.simulator_graph(worlds[1])
    paths = causal.backdoor_paths(dag, "exposed", "purchased")
    assert paths[0] == ("exposed", "log_popularity", "purchased")
    assert ("exposed", "policy_score", "relevance", "purchased") in paths
    assert all(causal.parse_graph(dag).has_edge(p[1], p[0]) for p in paths)   # each starts into the treatment
    valid = ["policy_score", "log_popularity"]
    assert causal.satisfies_backdoor(dag, "exposed", "purchased", valid)
    assert causal.satisfies_backdoor(dag, "exposed", "purchased", valid + ["group"])
    assert not causal.satisfies_backdoor(dag, "exposed", "purchased", ["policy_score"])
    assert not causal.satisfies_backdoor(dag, "exposed", "purchased", valid + ["clicked"])   # a descendant


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", sorted(TOLERANCE))
def test_backdoor_estimators_recover_the_true_ate(tables, worlds, seed, method):
    truth = worlds[seed].truth.ate
    estimate = tables[seed][method].value
    assert abs(estimate - truth) <= TOLERANCE[method] * truth, (method, seed, estimate, truth)


@pytest.mark.parametrize("seed", SEEDS)
def test_additive_linear_regression_overshoots_by_a_bounded_amount(tables, worlds, seed):
    relative = tables[seed]["linear_regression"].value / worlds[seed].truth.ate - 1
    assert LINEAR_REGRESSION_OVERSHOOT[0] < relative < LINEAR_REGRESSION_OVERSHOOT[1], relative


@pytest.mark.parametrize("seed", SEEDS)
def test_naive_baselines_agree_and_overstate_the_effect(setups, worlds, seed):
    frame = setups[seed].data
    naive, regression = causal.naive_difference(frame), causal.unadjusted_regression(frame)
    assert naive.value == pytest.approx(regression.value, abs=1e-10)
    assert naive.value > 1.5 * worlds[seed].truth.ate, "the naive difference is off by more than 50%"
    for estimate in (naive, regression):
        assert estimate.ci_low < estimate.value < estimate.ci_high


def test_regression_estimators_agree_with_a_direct_ols(setups, tables):
    """DoWhy's two regression estimators are exactly OLS fits we can write in a few lines."""
    data = setups[1].data
    t = data[schema.EXPOSED].to_numpy(dtype=float)
    y = data[schema.PURCHASED].to_numpy(dtype=float)
    x = data[[causal.LOG_POPULARITY, schema.POLICY_SCORE]].to_numpy()
    additive = OLS(y, np.column_stack([np.ones_like(t), t, x])).fit()
    lr = tables[1]["linear_regression"]
    assert lr.value == pytest.approx(additive.params[1], abs=1e-8)
    np.testing.assert_allclose([lr.ci_low, lr.ci_high], additive.conf_int(alpha=0.05)[1], atol=1e-8)
    # with treatment x covariate terms, the ATE is the mean predicted difference
    interacted = OLS(y, np.column_stack([np.ones_like(t), t, x, t[:, None] * x])).fit()
    ate = interacted.params[1] + x.mean(axis=0) @ interacted.params[4:]
    assert tables[1]["regression_adjustment"].value == pytest.approx(ate, abs=1e-8)


def test_only_linear_regression_reports_an_interval_and_estimates_are_deterministic(setups, tables, worlds):
    table = tables[1]
    lr = table["linear_regression"]
    assert lr.ci_low < lr.value < lr.ci_high and lr.ci_high - lr.ci_low < 0.05
    assert all(np.isnan(table[method].ci_low) for method in TOLERANCE)
    frame = table.to_frame(truth=worlds[1].truth.ate)
    assert list(frame.index) == list(causal.ESTIMATORS)
    np.testing.assert_allclose(frame["error"], frame["estimate"] - frame["truth"])
    assert causal.estimate_effect(setups[2], "matching").value == tables[2]["matching"].value


def test_effect_by_group_matches_the_true_group_effects():
    world = cr.load_default()
    setup = causal.causal_model(causal.analysis_frame(world), causal.simulator_graph(world))
    by_group = causal.effect_by_group(setup, schema.GROUP)
    assert list(by_group.index) == [0, 1] and by_group["n"].sum() == len(world.interactions)
    np.testing.assert_allclose(by_group["estimate"], world.truth.cate_by_group.loc[by_group.index], rtol=0.10)
    assert by_group.loc[0, "estimate"] > 1.5 * by_group.loc[1, "estimate"]


@pytest.mark.parametrize("method", ["regression_adjustment", "weighting"])
def test_refuters_give_sensible_outcomes(setups, tables, method):
    estimate = tables[1][method]
    refuted = {r.name: r for r in causal.refute(setups[1], estimate, num_simulations=8, random_state=0).refutations}
    assert abs(refuted["placebo"].new_effect) < 0.01 and refuted["placebo"].passed   # a permuted treatment
    for name in ("random_common_cause", "data_subset"):
        assert refuted[name].new_effect == pytest.approx(estimate.value, abs=0.01)
        assert refuted[name].expected == estimate.value
    # the propensity column DoWhy writes is removed, so the model's data is unchanged
    assert "propensity_score" not in setups[1].data.columns
    again = causal.refute(setups[1], estimate, ["placebo"], num_simulations=3, random_state=5)
    assert again.refutations == causal.refute(setups[1], estimate, ["placebo"], num_simulations=3,
                                              random_state=5).refutations


def test_no_warnings_escape(tiny):
    frame, dag = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        setup = causal.causal_model(frame, dag)
        table = causal.estimate_effects(setup)
        causal.refute(setup, table["weighting"], num_simulations=2)
        causal.causal_model(frame, common_causes=["policy_score"])


def _bad_inputs(frame, dag):
    nan_treatment = frame.assign(exposed=frame["exposed"].astype(float))
    nan_treatment.loc[3, "exposed"] = np.nan
    nan_adjustment = frame.copy()
    nan_adjustment.loc[0, "policy_score"] = np.nan
    return [
        (lambda: causal.causal_model(frame.drop(columns=["exposed"]), dag), "'exposed'"),
        (lambda: causal.naive_difference(frame, outcome="bought"), "'bought'"),
        (lambda: causal.causal_model(frame, "digraph { policy_score -> purchased; }"), "'exposed'"),
        (lambda: causal.naive_difference(frame, treatment="position"), "'position'"),
        (lambda: causal.causal_model(nan_treatment, dag), "'exposed'"),
        (lambda: causal.naive_difference(nan_treatment), "'exposed'"),
        (lambda: causal.causal_model(nan_adjustment, dag), "'policy_score'"),
        (lambda: causal.causal_model(frame), "common_causes"),
        (lambda: causal.causal_model(frame, common_causes=["nope"]), "'nope'"),
        (lambda: causal.causal_model(frame, "digraph { exposed -> purchased; purchased -> exposed; }"), "cycle"),
        (lambda: causal.causal_model(frame, "digraph { purchased -> exposed; }"), "path"),
        (lambda: causal.causal_model(frame, "digraph { u -> exposed; u -> purchased; exposed -> purchased; }"),
         "not identified"),
        (lambda: causal.parse_graph("exposed -> purchased"), "directed graph"),
        (lambda: causal.satisfies_backdoor(dag, "exposed", "purchased", ["nope"]), "'nope'"),
        (lambda: causal.effect_by_group(causal.causal_model(frame, dag), "colour"), "'colour'"),
    ]


def test_bad_input_is_named(tiny):
    for call, name in _bad_inputs(*tiny):
        with pytest.raises(ValueError) as error:
            call()
        assert name in str(error.value), (name, str(error.value))
    with pytest.raises(TypeError, match="graph"):
        causal.parse_graph(42)


def test_unknown_names_are_named(tiny, setups, tables):
    setup = causal.causal_model(tiny[0], treatment="position", common_causes=["policy_score"])
    with pytest.raises(ValueError, match="'matching'.*binary.*'position'"):
        causal.estimate_effect(setup, "matching")
    assert np.isfinite(causal.estimate_effect(setup, "linear_regression").value)   # a numeric treatment is fine
    with pytest.raises(ValueError, match="'ols'"):
        causal.estimate_effect(setups[1], "ols")
    with pytest.raises(ValueError, match="'bootstrap'"):
        causal.refute(setups[1], tables[1]["matching"], ["bootstrap"])
    with pytest.raises(ValueError, match="naive_difference"):
        causal.refute(setups[1], causal.naive_difference(tiny[0]))
    with pytest.raises(KeyError, match="'ols'"):
        tables[1]["ols"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(-5, 5)), min_size=4, max_size=40))
def test_unadjusted_regression_is_the_difference_in_means(rows):
    frame = pd.DataFrame(rows, columns=["exposed", "purchased"])
    if frame["exposed"].nunique() < 2:
        with pytest.raises(ValueError, match="'exposed'"):
            causal.naive_difference(frame)
        return
    naive = causal.naive_difference(frame).value
    assert naive == pytest.approx(frame.purchased[frame.exposed].mean() - frame.purchased[~frame.exposed].mean())
    assert causal.unadjusted_regression(frame).value == pytest.approx(naive, abs=1e-9)


def test_dowhy_is_imported_lazily_and_leaves_the_display_hook_alone():
    code = ("import sys, pandas as pd, causalrec, causalrec.causal as c\n"
            "assert 'dowhy' not in sys.modules\n"
            "hook = sys.displayhook\n"
            "frame = pd.DataFrame({'z': [0., 1, 2, 3, 4, 5], 'exposed': [0, 0, 1, 0, 1, 1], 'purchased': [0, 1, 1, 0, 1, 1]})\n"
            "c.causal_model(frame, common_causes=['z'])\n"
            "assert 'dowhy' in sys.modules and sys.displayhook is hook\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
