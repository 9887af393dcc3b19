"""Off-policy evaluation (causalrec.ope) and the policies' truth (simulate.run_policy), against the simulator.

The truth of a policy is exact (run_policy's expectations); estimators are checked over fresh logs of
one world (run_policy's draws: the logging policy re-run with new noise), where IPS and DR are unbiased.
"""

import numpy as np
import pandas as pd
import pytest

import causalrec as cr
from causalrec import ope, schema
from causalrec.data.simulate import run_policy

N_DRAWS = 200


@pytest.fixture(scope="module")
def world():
    return cr.simulate_shop(n_users=200, n_items=60, candidates_per_user=20, randomized_per_user=0, image_size=8,
                            random_state=3)


@pytest.fixture(scope="module")
def relogged(world):
    """N_DRAWS fresh logs of the logging policy on the same candidates, plus an exact outcome model."""
    pairs = world.interactions[[schema.USER, schema.ITEM]]
    mu = world.truth.propensity
    draws = [run_policy(world, pairs.assign(probability=mu), random_state=s) for s in range(N_DRAWS)]
    exact = run_policy(world, pairs)  # shown for sure: purchase_probability = q(1), minus effect = q(0)
    q1 = exact["purchase_probability"].to_numpy()
    return draws, mu, q1 - exact["effect"].to_numpy(), q1


def _target(world, kind):
    log = world.interactions
    if kind == "top3_by_relevance":
        rank = pd.Series(world.truth.relevance_logged).groupby(log[schema.USER].to_numpy()).rank(ascending=False,
                                                                                                   method="first")
        return (rank <= 3).to_numpy(float)
    return np.full(len(log), 0.3)


def test_run_policy_expectations_match_a_monte_carlo_of_the_simulator(world):
    log = world.interactions
    ranked = pd.DataFrame({schema.USER: np.repeat(np.arange(50), 3), schema.ITEM: np.tile([4, 17, 33], 50),
                           "position": np.tile([1, 2, 3], 50)})
    for policy in (log[[schema.USER, schema.ITEM]].assign(probability=0.5), ranked):
        exact = run_policy(world, policy)
        bought = np.mean([run_policy(world, policy, random_state=s)["purchased"].to_numpy() for s in range(400)], 0)
        shown = np.mean([run_policy(world, policy, random_state=s)["shown"].to_numpy() for s in range(100)], 0)
        se = np.sqrt(exact["purchase_probability"] * (1 - exact["purchase_probability"]) / 400).sum()
        assert abs(bought.sum() - exact["purchase_probability"].sum()) < 4 * se
        assert abs(shown.mean() - exact["show_probability"].mean()) < 0.02
    # a lower slot is examined less: the same pairs at positions 1..3 vs all at the top
    top = run_policy(world, ranked.assign(position=1))
    assert (top["effect"] >= run_policy(world, ranked)["effect"] - 1e-15).all()


def test_run_policy_reproduces_the_logging_policy_and_its_logs():
    totals = []
    for seed in range(4):
        w = cr.simulate_shop(n_users=300, n_items=60, random_state=seed)
        run = run_policy(w)
        np.testing.assert_allclose(run["show_probability"], w.truth.propensity, atol=1e-12)
        np.testing.assert_allclose(run["effect"], w.truth.effect, atol=1e-12)
        p = run["purchase_probability"]
        totals.append((w.interactions[schema.PURCHASED].sum() - p.sum()) / np.sqrt((p * (1 - p)).sum()))
    assert np.max(np.abs(totals)) < 3.5, totals  # the simulator's own log is one draw of run_policy's equations


def test_ips_equals_the_observed_value_when_the_target_is_the_logging_policy(world):
    log = world.interactions
    for mu in (np.full(len(log), 0.5), world.truth.propensity):
        e = ope.estimate_value("ips", log[schema.USER], log[schema.EXPOSED], log[schema.PURCHASED], mu, mu,
                               n_users=world.n_users)
        assert e.value == pytest.approx(log[schema.PURCHASED].sum() / world.n_users, rel=1e-12)
        np.testing.assert_allclose(ope.importance_weights(log[schema.EXPOSED], mu, mu), 1.0)


@pytest.mark.parametrize("kind", ["top3_by_relevance", "uniform_0.3"])
def test_estimators_against_the_truth_over_fresh_logs(world, relogged, kind):
    draws, mu, q0, q1 = relogged
    target = _target(world, kind)
    true = ope.true_value(world, target)[0]
    users = world.interactions[schema.USER]
    bad_q0, bad_q1 = np.full(len(mu), 0.5), np.full(len(mu), 0.5)  # a wrong outcome model
    values = {name: [] for name in ("dm", "ips", "snips", "dr", "switch", "dr_oracle", "dr_bad", "dm_bad")}
    covered = {name: [] for name in ("ips", "snips", "dr", "switch")}
    for d in draws:
        args = (users, d["shown"], d["purchased"], mu, target)
        table = ope.evaluate_policy(d.assign(exposed=d["shown"]), target, mu, q0, q1, n_users=world.n_users)
        for name in ope.ESTIMATORS:
            values[name].append(table.loc[name, "value"])
        for name in covered:
            covered[name].append(table.loc[name, "ci_low"] <= true <= table.loc[name, "ci_high"])
        assert np.isnan(table.loc["dm", "se"])  # given its model, DM has no sampling error to report
        values["dr_oracle"].append(table.loc["dr", "value"])
        values["dr_bad"].append(ope.estimate_value("dr", *args, bad_q0, bad_q1, n_users=world.n_users).value)
        values["dm_bad"].append(ope.estimate_value("dm", *args, bad_q0, bad_q1, n_users=world.n_users).value)
    err = {k: np.asarray(v) - true for k, v in values.items()}
    for name in ("ips", "dr", "dr_bad"):  # unbiased with the true propensities (DR: whatever the model)
        assert abs(err[name].mean()) < 3.5 * err[name].std() / np.sqrt(N_DRAWS), name
    assert abs(err["dm"].mean()) < 1e-9  # the exact model: DM is the truth itself
    assert abs(err["dm_bad"].mean()) > 1.0  # a wrong model: DM is far off, DR is not
    assert abs(err["snips"].mean()) < 0.02 * true
    assert err["dr_oracle"].std() <= err["ips"].std()  # an exact model never adds variance
    for name, c in covered.items():  # the truth is fixed given the world: 95% intervals cover 95% of fresh logs
        assert 0.9 <= np.mean(c) <= 0.99, (name, np.mean(c))  # 200 logs: 0.95 +- 3 Monte Carlo se


def test_switch_is_dr_below_the_threshold_and_dm_above(world, relogged):
    draws, mu, q0, q1 = relogged
    d, target = draws[0], _target(world, "top3_by_relevance")
    args = (world.interactions[schema.USER], d["shown"], d["purchased"], mu, target, q0, q1)
    value = {name: ope.estimate_value(name, *args, n_users=world.n_users, threshold=t).value
             for name, t in (("dr", 20), ("dm", 20))}
    assert ope.estimate_value("switch", *args, n_users=world.n_users, threshold=np.inf).value == pytest.approx(value["dr"])
    assert ope.estimate_value("switch", *args, n_users=world.n_users, threshold=0.0).value == pytest.approx(value["dm"])


def test_fit_outcomes_predicts_both_arms_and_true_value_splits_the_effect(world):
    log = world.interactions
    q0, q1 = ope.fit_outcomes(ope.shop_features(world), log[schema.EXPOSED], log[schema.PURCHASED])
    assert q0.shape == q1.shape == (len(log),) and q1.mean() > q0.mean()
    value, incremental = ope.true_value(world, np.ones(len(log)))
    nothing, zero = ope.true_value(world, np.zeros(len(log)))
    assert zero == 0 and value - nothing == pytest.approx(incremental)


def test_bad_inputs_are_named(world):
    log = world.interactions
    u, a, y, mu = log[schema.USER], log[schema.EXPOSED], log[schema.PURCHASED], world.truth.propensity
    pi = np.full(len(log), 0.5)
    cases = [
        (lambda: ope.estimate_value("ipw", u, a, y, mu, pi), "estimator"),
        (lambda: ope.estimate_value("ips", u, a, y, mu, pi[:-1]), "target"),
        (lambda: ope.estimate_value("ips", u, a, y, np.where(a == 1, 0.0, mu), pi), "propensity"),
        (lambda: ope.estimate_value("ips", u, a, y, np.where(a == 0, 1.0, mu), pi), "propensity"),
        (lambda: ope.estimate_value("ips", u, a, y, mu, pi + 0.6), "target"),
        (lambda: ope.estimate_value("ips", u, a, y * 2, mu, pi), "purchased"),
        (lambda: ope.estimate_value("dr", u, a, y, mu, pi), "q_hidden"),
        (lambda: ope.estimate_value("ips", u, a, y, mu, pi, n_users=3), "n_users"),
        (lambda: ope.fit_outcomes(np.ones(5), a, y), "features"),
        (lambda: run_policy(world, pd.DataFrame({schema.USER: [0], schema.ITEM: [999]})), "item_id"),
        (lambda: run_policy(world, pd.DataFrame({schema.USER: [0], schema.ITEM: [1], "probability": [2.0]})),
         "probability"),
        (lambda: run_policy(world, pd.DataFrame({schema.USER: [0], schema.ITEM: [1], "position": [0]})), "position"),
        (lambda: run_policy(world, pd.DataFrame({"user": [0]})), "policy"),
        (lambda: run_policy(world, popularity=np.ones(3)), "popularity"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError) as error:
            call()
        assert name in str(error.value), (name, str(error.value))
    logged = set(zip(log[schema.USER], log[schema.ITEM]))
    unlogged = next((0, i) for i in range(world.n_items) if (0, i) not in logged)
    with pytest.raises(ValueError, match="logged candidates"):
        run_policy(world, pd.DataFrame({schema.USER: [unlogged[0]], schema.ITEM: [unlogged[1]]}))
