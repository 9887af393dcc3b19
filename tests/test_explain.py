"""causalrec.explain: the importance measures against exact answers (linear models, autograd,
completeness), the one permutation importance for any model, and do(popularity) in the simulator."""

import numpy as np
import pytest
import torch

import causalrec as cr
from causalrec import explain as ex


def _linear_net(weights):
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


def test_integrated_gradients_are_complete_for_any_baseline(small_mlp):
    net, inputs = small_mlp
    ig = ex.integrated_gradients(net, inputs, n_steps=400)
    with torch.no_grad():
        embedded = net.embed(ex.check_inputs(net, inputs))
        f_x = net.forward_embedded(embedded).numpy()
        f_0 = net.forward_embedded({k: torch.zeros_like(v) for k, v in embedded.items()}).numpy()
    assert np.abs(f_x - f_0).mean() > 0.01                                     # not vacuous
    np.testing.assert_allclose(ig.output_difference, f_x - f_0, atol=1e-5)
    np.testing.assert_allclose(sum(a.sum(axis=1) for a in ig.attributions.values()), f_x - f_0, atol=2e-3)
    assert np.abs(ig.convergence_delta).max() < 2e-3
    # one block from a baseline of ones: its attributions add up to the change of that block alone
    partial = ex.integrated_gradients(net, inputs, blocks=["a"], baseline={"a": np.ones(3)}, n_steps=400)
    with torch.no_grad():
        expected = (net(ex.check_inputs(net, inputs))
                    - net(ex.check_inputs(net, {**inputs, "a": np.ones((40, 3))}))).numpy()
    assert partial.blocks == ("a",)
    np.testing.assert_allclose(partial.attributions["a"].sum(axis=1), expected, atol=2e-3)


def test_gradient_methods_on_a_linear_model_and_against_autograd():
    net = _linear_net({"x": 2.0, "z": -1.5, "w": 0.0})
    x = {name: np.random.default_rng(0).normal(size=(7, 1)).astype("float32") for name in ("x", "z", "w")}
    saliency = ex.gradient_saliency(net, x)
    for name, weight in {"x": 2.0, "z": -1.5, "w": 0.0}.items():
        np.testing.assert_allclose(saliency.attributions[name], np.full((7, 1), weight))
    assert saliency.importances_mean.to_dict() == pytest.approx({"x": 2.0, "z": 1.5, "w": 0.0})
    ig = ex.integrated_gradients(net, x, n_steps=3)                            # exact for a linear model
    np.testing.assert_allclose(ig.attributions["z"], -1.5 * x["z"], rtol=1e-6)
    torch.manual_seed(0)
    mlp = ex.FeatureNet({"x": 2}, hidden=(5,))
    point = torch.randn(4, 2, requires_grad=True)
    (grad,) = torch.autograd.grad(mlp({"x": point}).sum(), point)
    np.testing.assert_allclose(ex.gradient_saliency(mlp, {"x": point.detach()}).attributions["x"], grad, rtol=1e-6)
    times = ex.gradient_saliency(mlp, {"x": point.detach()}, times_input=True)
    np.testing.assert_allclose(times.attributions["x"], (grad * point).detach(), rtol=1e-6)


def test_permutation_importance_finds_the_signal_for_a_net_and_for_any_model():
    net = _linear_net({"signal": 2.0, "noise": 0.0})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 2)).astype("float32")
    y = (rng.random(2000) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype(int)
    inputs = {"signal": x[:, :1], "noise": x[:, 1:]}
    result = ex.permutation_importance(net, inputs, y, n_repeats=4, random_state=0)
    assert result.importances.shape == (2, 4)
    assert result.importances_mean["noise"] == 0.0 and result.importances_std["noise"] == 0.0
    assert result.importances_mean["signal"] > 10 * result.importances_std["signal"] > 0
    assert list(result.to_frame().index) == ["signal", "noise"] and list(result.to_frame()["rank"]) == [1, 2]
    # the same numbers from a plain callable on torch tensors (how the pipeline calls it)
    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    plain = ex.permutation_importance(lambda d: net.mlp(torch.cat([d["signal"], d["noise"]], 1)), tensors, y,
                                      n_repeats=4, random_state=0)
    first = ex.permutation_importance(net, inputs, y, n_repeats=4, random_state=0)
    np.testing.assert_allclose(plain.importances, first.importances, atol=1e-12)
    assert plain.baseline_score == pytest.approx(first.baseline_score)


def test_training_goes_through_fit_torch_and_is_seeded():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 3)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=300) > 0).astype(int)
    inputs = {"a": x[:, :1], "b": x[:, 1:], "user": rng.integers(0, 7, 300)}
    nets = [ex.train_feature_net(inputs, y, hidden=(4,), epochs=3, batch_size=64, random_state=s) for s in (7, 7, 8)]
    assert nets[0].id_sizes == {"user": 7} and list(nets[0].history_.columns[:2]) == ["epoch", "loss"]
    assert all(torch.equal(p, q) for p, q in zip(nets[0].parameters(), nets[1].parameters()))
    assert not torch.equal(nets[0].mlp[0].weight, nets[2].mlp[0].weight)
    first, second, other = (ex.permutation_importance(nets[0], inputs, y, n_repeats=3, random_state=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(first.importances, second.importances)
    assert not np.array_equal(first.importances, other.importances)


def test_model_contrast_of_a_linear_model():
    net = _linear_net({"x": 1.0, "z": 0.0})
    inputs = {"x": np.zeros((3, 1), "float32"), "z": np.zeros((3, 1), "float32")}
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    assert ex.model_contrast(net, inputs, "x", 0.0, 1.0) == pytest.approx(sigmoid(1.3) - sigmoid(0.3), rel=1e-5)
    assert ex.model_contrast(net, inputs, "z", -5.0, 5.0) == 0.0


def test_bad_input_is_named(small_mlp):
    net, inputs = small_mlp
    world = cr.simulate_shop(n_users=20, n_items=12, random_state=0)
    cases = [
        (lambda: ex.permutation_importance(net, inputs, np.zeros(40, int), blocks=["colour"]), "'colour'"),
        (lambda: ex.check_inputs(net, {**inputs, "extra": np.zeros(40)}), "'extra'"),
        (lambda: ex.check_inputs(net, {k: v for k, v in inputs.items() if k != "b"}), "'b'"),
        (lambda: ex.check_inputs(net, {**inputs, "a": np.zeros((40, 2))}), "'a'"),
        (lambda: ex.check_inputs(net, {**inputs, "b": np.zeros((39, 1))}), "'b': 39"),
        (lambda: ex.check_inputs(net, {**inputs, "user": np.full(40, 9)}), "'user'"),
        (lambda: ex.check_inputs(net, {**inputs, "b": np.full((40, 1), np.nan)}), "'b'"),
        (lambda: ex.permutation_importance(net, inputs, np.zeros(10, int)), "target"),
        (lambda: ex.permutation_importance(net, inputs, np.full(40, 2)), "target"),
        (lambda: ex.integrated_gradients(net, inputs, baseline={"a": np.zeros(2)}), "baseline['a']"),
        (lambda: ex.model_contrast(net, inputs, "user", 0, 1), "'user'"),
        (lambda: ex.FeatureNet({"a": 1}, id_sizes={"a": 3}), "id_sizes"),
        (lambda: ex.shop_inputs(world, blocks=("user", "colour")), "'colour'"),
        (lambda: ex.intervene(world, popularity=np.ones(5)), "popularity"),
        (lambda: ex.intervene(world, price=np.zeros(12)), "price"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError) as error:
            call()
        assert name in str(error.value), (name, str(error.value))
    with pytest.raises(TypeError, match="FeatureNet"):
        ex.gradient_saliency(torch.nn.Linear(2, 1), inputs)


def test_intervention_reproduces_the_simulator_and_moves_only_what_is_downstream():
    world = cr.simulate_shop(n_users=200, n_items=60, random_state=4)
    same = ex.intervene(world)
    np.testing.assert_allclose(same["exposure_probability"], world.truth.propensity, atol=1e-8)
    np.testing.assert_allclose(same["effect"], world.truth.effect, atol=1e-12)
    np.testing.assert_allclose(same["relevance"], world.truth.relevance_logged, atol=1e-12)
    assert abs(same["purchase_probability"].mean() - world.interactions["purchased"].mean()) < 0.02
    dearer = ex.intervene(world, price=world.items["price"].to_numpy() * 2)
    assert (dearer["relevance"] <= same["relevance"]).all() and dearer["relevance"].mean() < same["relevance"].mean()
    assert dearer["purchase_probability"].mean() < same["purchase_probability"].mean()


def test_the_chapters_claim_on_a_small_world():
    """Popularity is an important input for predicting purchases, yet do(popularity) leaves relevance unchanged."""
    world = cr.simulate_shop(n_users=400, n_items=80, random_state=2)
    inputs = ex.shop_inputs(world, blocks=("user", "text", "price", "popularity", "exposed"))
    y = world.interactions["purchased"].to_numpy()
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[:5000], order[5000:]
    net = ex.train_feature_net({k: v[train] for k, v in inputs.items()}, y[train], epochs=4, batch_size=1024)
    importance = ex.permutation_importance(net, {k: v[test] for k, v in inputs.items()}, y[test], n_repeats=5)
    mean, std = importance.importances_mean, importance.importances_std
    assert mean["popularity"] > 0.01 and mean["popularity"] > 5 * std["popularity"]
    assert mean["popularity"] > mean["price"]
    popularity = world.items["popularity"].to_numpy()
    before = ex.intervene(world)
    for new in (np.random.default_rng(0).permutation(popularity), popularity * 10, np.zeros_like(popularity)):
        np.testing.assert_array_equal(ex.intervene(world, popularity=new)["relevance"], before["relevance"])
    assert ex.intervene(world, popularity=popularity * 10)["exposure_probability"].mean() > \
        before["exposure_probability"].mean() + 0.05                                # exposure does move
