"""Tests for causalrec.explain: importance measures, their properties, and do(popularity) in the simulator."""

import numpy as np
import pytest
import torch

import causalrec as cr
from causalrec import explain as ex


def _linear_net(weights, seed=0):
    torch.manual_seed(seed)
    net = ex.FeatureNet({name: 1 for name in weights}, hidden=())
    with torch.no_grad():
        net.mlp[0].weight.copy_(torch.tensor([list(weights.values())], dtype=torch.float32))
        net.mlp[0].bias.fill_(0.3)
    return net


@pytest.fixture(scope="module")
def small_mlp():
    torch.manual_seed(1)
    net = ex.FeatureNet({"a": 3, "b": 1}, id_sizes={"user": 5}, dim=2, hidden=(6, 4))
    rng = np.random.default_rng(0)
    inputs = {"user": rng.integers(0, 5, 40), "a": rng.normal(size=(40, 3)).astype("float32"),
              "b": rng.normal(size=(40, 1)).astype("float32")}
    return net, inputs


def test_integrated_gradients_are_complete(small_mlp):
    net, inputs = small_mlp
    ig = ex.integrated_gradients(net, inputs, n_steps=400)
    total = sum(a.sum(axis=1) for a in ig.attributions.values())
    with torch.no_grad():
        embedded = net.embed(inputs)
        f_x = net.forward_embedded(embedded).numpy()
        f_0 = net.forward_embedded({k: torch.zeros_like(v) for k, v in embedded.items()}).numpy()
    np.testing.assert_allclose(ig.output_difference, f_x - f_0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(total, f_x - f_0, atol=2e-3)
    assert np.abs(ig.convergence_delta).max() < 2e-3
    assert np.abs(f_x - f_0).mean() > 0.01                     # the check is not vacuous


def test_integrated_gradients_with_a_baseline_and_a_subset_of_blocks(small_mlp):
    net, inputs = small_mlp
    baseline = {"a": np.ones(3, dtype="float32")}
    ig = ex.integrated_gradients(net, inputs, blocks=["a"], baseline=baseline, n_steps=400)
    assert ig.blocks == ("a",) and set(ig.attributions) == {"a"}
    changed = {**inputs, "a": np.ones((40, 3), dtype="float32")}
    with torch.no_grad():
        expected = (net(inputs) - net(changed)).numpy()
    np.testing.assert_allclose(ig.attributions["a"].sum(axis=1), expected, atol=2e-3)


def test_integrated_gradients_of_a_linear_model_are_weight_times_input():
    net = _linear_net({"x": 2.0, "z": -1.5})
    x = {"x": np.array([1.0, -2.0], dtype="float32"), "z": np.array([0.5, 3.0], dtype="float32")}
    ig = ex.integrated_gradients(net, x, n_steps=3)
    np.testing.assert_allclose(ig.attributions["x"][:, 0], [2.0, -4.0], rtol=1e-6)
    np.testing.assert_allclose(ig.attributions["z"][:, 0], [-0.75, -4.5], rtol=1e-6)


def test_saliency_of_a_linear_model_is_its_weights_and_matches_autograd():
    net = _linear_net({"x": 2.0, "z": -1.5, "w": 0.0})
    rng = np.random.default_rng(0)
    x = {name: rng.normal(size=(7, 1)).astype("float32") for name in ("x", "z", "w")}
    sal = ex.gradient_saliency(net, x)
    for name, weight in {"x": 2.0, "z": -1.5, "w": 0.0}.items():
        np.testing.assert_allclose(sal.attributions[name], np.full((7, 1), weight))
    assert sal.importances_mean.to_dict() == pytest.approx({"x": 2.0, "z": 1.5, "w": 0.0})
    # and on a non-linear model it is exactly what autograd gives
    torch.manual_seed(0)
    mlp = ex.FeatureNet({"x": 2}, hidden=(5,))
    point = torch.randn(4, 2, requires_grad=True)
    (grad,) = torch.autograd.grad(mlp({"x": point}).sum(), point)
    np.testing.assert_allclose(ex.gradient_saliency(mlp, {"x": point.detach()}).attributions["x"],
                               grad.numpy(), rtol=1e-6)
    times = ex.gradient_saliency(mlp, {"x": point.detach()}, times_input=True)
    np.testing.assert_allclose(times.attributions["x"], (grad * point).detach().numpy(), rtol=1e-6)


def test_permutation_importance_of_irrelevant_feature_is_zero_and_of_relevant_one_positive():
    net = _linear_net({"signal": 2.0, "noise": 0.0})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 2)).astype("float32")
    y = (rng.random(2000) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype(int)
    inputs = {"signal": x[:, :1], "noise": x[:, 1:]}
    for scoring in ("auc", "log_loss"):
        result = ex.permutation_importance(net, inputs, y, n_repeats=4, scoring=scoring, random_state=0)
        assert result.importances.shape == (2, 4)
        assert result.importances_mean["noise"] == 0.0 and result.importances_std["noise"] == 0.0
        assert result.importances_mean["signal"] > 10 * result.importances_std["signal"] > 0
    frame = result.to_frame()
    assert list(frame.index) == ["signal", "noise"] and list(frame["rank"]) == [1, 2]


def test_seeded_runs_are_identical_and_other_seeds_differ():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 3)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=300) > 0).astype(int)
    inputs = {"a": x[:, :1], "b": x[:, 1:]}
    nets = [ex.train_feature_net(inputs, y, hidden=(4,), epochs=3, batch_size=64, random_state=s)
            for s in (7, 7, 8)]
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(p, q)
    assert not torch.equal(nets[0].mlp[0].weight, nets[2].mlp[0].weight)
    first, second, other = (ex.permutation_importance(nets[0], inputs, y, n_repeats=3, random_state=s)
                            for s in (1, 1, 2))
    np.testing.assert_array_equal(first.importances, second.importances)
    assert not np.array_equal(first.importances, other.importances)


def test_bad_inputs_raise_clear_errors(small_mlp):
    net, inputs = small_mlp
    with pytest.raises(ValueError, match="unknown feature block.*'colour'"):
        ex.permutation_importance(net, inputs, np.zeros(40, int), blocks=["colour"])
    with pytest.raises(ValueError, match="unknown feature block"):
        ex.gradient_saliency(net, inputs, blocks="price")
    with pytest.raises(ValueError, match="unknown input block.*'extra'"):
        net({**inputs, "extra": np.zeros(40)})
    with pytest.raises(ValueError, match="lack block.*'b'"):
        net({k: v for k, v in inputs.items() if k != "b"})
    with pytest.raises(ValueError, match=r"'a' must have shape \(n, 3\)"):
        net({**inputs, "a": np.zeros((40, 2))})
    with pytest.raises(ValueError, match="same number of rows"):
        net({**inputs, "b": np.zeros((39, 1))})
    with pytest.raises(ValueError, match="outside"):
        net({**inputs, "user": np.full(40, 9)})
    with pytest.raises(ValueError, match="NaN"):
        net({**inputs, "b": np.full((40, 1), np.nan)})
    with pytest.raises(ValueError, match=r"target must have shape \(40,\)"):
        ex.permutation_importance(net, inputs, np.zeros(10, int))
    with pytest.raises(ValueError, match="binary"):
        ex.permutation_importance(net, inputs, np.full(40, 2))
    with pytest.raises(ValueError, match="scoring"):
        ex.permutation_importance(net, inputs, np.zeros(40, int), scoring="accuracy")
    with pytest.raises(ValueError, match=r"baseline\['a'\] must have shape"):
        ex.integrated_gradients(net, inputs, baseline={"a": np.zeros(2)})
    with pytest.raises(ValueError, match="ID block"):
        ex.model_contrast(net, inputs, "user", 0, 1)
    with pytest.raises(TypeError, match="FeatureNet"):
        ex.gradient_saliency(torch.nn.Linear(2, 1), inputs)
    with pytest.raises(ValueError, match="both numeric"):
        ex.FeatureNet({"a": 1}, id_sizes={"a": 3})
    world = cr.simulate_shop(n_users=20, n_items=12, random_state=0)
    with pytest.raises(ValueError, match="unknown feature block.*'colour'"):
        ex.shop_inputs(world, blocks=("user", "colour"))
    with pytest.raises(ValueError, match=r"popularity must have shape \(12,\)"):
        ex.intervene(world, popularity=np.ones(5))
    with pytest.raises(ValueError, match="price must be positive"):
        ex.intervene(world, price=np.zeros(12))


def test_model_contrast_of_a_linear_model():
    net = _linear_net({"x": 1.0, "z": 0.0})
    inputs = {"x": np.zeros((3, 1), "float32"), "z": np.zeros((3, 1), "float32")}
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    assert ex.model_contrast(net, inputs, "x", 0.0, 1.0) == pytest.approx(sigmoid(1.3) - sigmoid(0.3), rel=1e-5)
    assert ex.model_contrast(net, inputs, "z", -5.0, 5.0) == 0.0


def test_intervention_reproduces_the_simulator_and_moves_only_what_is_downstream():
    world = cr.simulate_shop(n_users=200, n_items=60, random_state=4)
    same = ex.intervene(world)
    np.testing.assert_allclose(same["exposure_probability"], world.truth.propensity, atol=1e-8)
    np.testing.assert_allclose(same["effect"], world.truth.effect, atol=1e-12)
    np.testing.assert_allclose(same["relevance"], world.truth.relevance_logged, atol=1e-12)
    assert abs(same["purchase_probability"].mean() - world.interactions["purchased"].mean()) < 0.02
    price = world.items["price"].to_numpy()
    dearer = ex.intervene(world, price=price * 2)
    assert (dearer["relevance"] <= same["relevance"]).all() and dearer["relevance"].mean() < same["relevance"].mean()
    assert dearer["purchase_probability"].mean() < same["purchase_probability"].mean()


def test_the_chapters_claim_on_a_small_world():
    """Popularity is an important input for predicting purchases, yet do(popularity) leaves relevance unchanged."""
    world = cr.simulate_shop(n_users=400, n_items=80, random_state=2)
    inputs = ex.shop_inputs(world, blocks=("user", "text", "price", "popularity", "exposed"))
    y = world.interactions["purchased"].to_numpy()
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[:5000], order[5000:]
    net = ex.train_feature_net({k: v[train] for k, v in inputs.items()}, y[train], epochs=4,
                               batch_size=1024, random_state=0)
    importance = ex.permutation_importance(net, {k: v[test] for k, v in inputs.items()}, y[test],
                                           n_repeats=5, random_state=0)
    mean, std = importance.importances_mean, importance.importances_std
    assert mean["popularity"] > 0.01 and mean["popularity"] > 5 * std["popularity"]
    assert mean["popularity"] > mean["price"]

    popularity = world.items["popularity"].to_numpy()
    before = ex.intervene(world)
    for new in (np.random.default_rng(0).permutation(popularity), popularity * 10, np.zeros_like(popularity)):
        after = ex.intervene(world, popularity=new)
        np.testing.assert_array_equal(after["relevance"], before["relevance"])      # causal effect: zero
    assert ex.intervene(world, popularity=popularity * 10)["exposure_probability"].mean() > \
        before["exposure_probability"].mean() + 0.05                                # exposure does move
