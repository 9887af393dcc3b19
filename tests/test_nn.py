"""causalrec.nn against torch: same numbers, same gradients, no overflow, clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from causalrec import nn

SETTINGS = settings(max_examples=40, deadline=None)
BIG = 1e4  # inputs as large as this must not overflow

# Values in [-1e4, 1e4], shapes with 1 to 3 axes of length 1 to 6.
finite = st.floats(-BIG, BIG, allow_nan=False, allow_infinity=False)
moderate = st.floats(-30.0, 30.0, allow_nan=False, allow_infinity=False)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)
big_arrays = hnp.arrays(np.float64, shapes, elements=finite)
moderate_arrays = hnp.arrays(np.float64, shapes, elements=moderate)


def t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def autograd_elementwise(func, x):
    """d func(x_i) / d x_i for an elementwise torch function, via autograd."""
    xt = t(x).requires_grad_(True)
    func(xt).sum().backward()
    return xt.grad.numpy()


def close(a, b, rtol=1e-6, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


class strict_numpy:
    """Turn every numpy floating-point warning and every Python warning into an error."""

    def __enter__(self):
        self._err = np.seterr(over="raise", invalid="raise", divide="raise")
        self._warn = warnings.catch_warnings()
        self._warn.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._warn.__exit__(*exc)
        np.seterr(**self._err)


# ------------------------------------------------------------------------ activations
@SETTINGS
@given(big_arrays)
def test_relu_and_its_gradient_match_torch(x):
    close(nn.relu(x), torch.relu(t(x)).numpy())
    close(nn.relu_grad(x), autograd_elementwise(torch.relu, x))


def test_relu_grad_is_zero_at_zero_like_torch():
    x = np.array([-1.0, 0.0, 1.0])
    close(nn.relu_grad(x), [0.0, 0.0, 1.0])
    close(autograd_elementwise(torch.relu, x), [0.0, 0.0, 1.0])


@SETTINGS
@given(big_arrays)
def test_sigmoid_matches_torch_without_overflow(x):
    with strict_numpy():
        s = nn.sigmoid(x)
        g = nn.sigmoid_grad(x)
    assert np.all((s >= 0) & (s <= 1))
    close(s, torch.sigmoid(t(x)).numpy())
    close(g, autograd_elementwise(torch.sigmoid, x))
    assert np.all(g <= 0.25)


@SETTINGS
@given(moderate_arrays)
def test_sigmoid_is_symmetric_and_its_gradient_is_exact(x):
    close(nn.sigmoid(x) + nn.sigmoid(-x), np.ones_like(x), rtol=1e-12)
    # central finite difference on moderate inputs
    h = 1e-5
    close(nn.sigmoid_grad(x), (nn.sigmoid(x + h) - nn.sigmoid(x - h)) / (2 * h), rtol=1e-5, atol=1e-9)


def test_sigmoid_extremes():
    with strict_numpy():
        s = nn.sigmoid([-BIG, -800.0, 0.0, 800.0, BIG])
        g = nn.sigmoid_grad([-BIG, 0.0, BIG])
    close(s, [0.0, 0.0, 0.5, 1.0, 1.0])
    close(g, [0.0, 0.25, 0.0])
    # 1 - sigmoid(30) is about 9.4e-14: the gradient keeps it, s * (1 - s) computed naively would not
    close(nn.sigmoid_grad(30.0), np.exp(-30.0) / (1 + np.exp(-30.0)) ** 2, rtol=1e-10)


# ---------------------------------------------------------------------------- softmax
@SETTINGS
@given(big_arrays, st.integers(-3, 2))
def test_softmax_sums_to_one_and_matches_torch(x, axis):
    axis = axis % x.ndim
    with strict_numpy():
        p = nn.softmax(x, axis=axis)
        logp = nn.log_softmax(x, axis=axis)
    assert np.all(p >= 0)
    close(p.sum(axis=axis), np.ones(np.delete(x.shape, axis)), rtol=1e-12)
    close(p, torch.softmax(t(x), dim=axis).numpy())
    close(logp, torch.log_softmax(t(x), dim=axis).numpy())
    assert np.all(np.isfinite(logp)) and np.all(logp <= 0)


@SETTINGS
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-100, 100)), st.floats(-5000, 5000))
def test_softmax_ignores_a_common_shift_and_keeps_the_order(x, c):
    close(nn.softmax(x + c), nn.softmax(x), rtol=1e-6, atol=1e-12)
    p = nn.softmax(x)
    # a higher score never gets a lower probability
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(p[order]) >= -1e-15)


def test_log_softmax_is_stable_at_plus_minus_1e4():
    x = np.array([[-BIG, 0.0, BIG], [BIG, BIG, -BIG], [-BIG, -BIG, -BIG]])
    with strict_numpy():
        logp = nn.log_softmax(x)
        p = nn.softmax(x)
    assert np.all(np.isfinite(logp)) and not np.isnan(p).any()
    close(logp, torch.log_softmax(t(x), dim=-1).numpy())
    close(logp[0], [-2 * BIG, -BIG, 0.0])
    close(p[1], [0.5, 0.5, 0.0])
    close(p[2], [1 / 3, 1 / 3, 1 / 3])


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5), elements=moderate))
def test_softmax_jacobian_matches_autograd(x):
    jac = nn.softmax_jacobian(x)
    k = x.shape[-1]
    assert jac.shape == x.shape + (k,)
    close(jac.sum(axis=-1), np.zeros(x.shape), atol=1e-12)
    rows = x.reshape(-1, k)
    expected = np.stack([
        torch.autograd.functional.jacobian(lambda v: torch.softmax(v, dim=-1), t(row)).numpy() for row in rows
    ])
    close(jac.reshape(-1, k, k), expected, atol=1e-12)


# ----------------------------------------------------------------------------- losses
@st.composite
def logits_and_targets(draw, elements=finite):
    n = draw(st.integers(1, 7))
    k = draw(st.integers(1, 6))
    logits = draw(hnp.arrays(np.float64, (n, k), elements=elements))
    targets = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    return logits, targets


@SETTINGS
@given(logits_and_targets())
def test_cross_entropy_matches_torch(data):
    logits, targets = data
    with strict_numpy():
        loss = nn.cross_entropy(logits, targets)
    expected = torch.nn.functional.cross_entropy(t(logits), torch.as_tensor(targets)).item()
    assert isinstance(loss, float)
    assert loss >= 0
    close(loss, expected)


def test_cross_entropy_of_uniform_scores_is_log_k():
    close(nn.cross_entropy(np.zeros((4, 10)), [0, 3, 9, 9]), np.log(10), rtol=1e-12)


@SETTINGS
@given(st.integers(1, 20).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, n, elements=finite),
    hnp.arrays(np.float64, n, elements=st.floats(0, 1)),
)))
def test_binary_cross_entropy_matches_torch(data):
    logits, targets = data
    with strict_numpy():
        loss = nn.binary_cross_entropy(logits, targets)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(t(logits), t(targets)).item()
    close(loss, expected)


def test_binary_cross_entropy_extremes():
    with strict_numpy():
        right = nn.binary_cross_entropy([BIG, -BIG], [1, 0])
        wrong = nn.binary_cross_entropy([BIG, -BIG], [0, 1])
    close(right, 0.0)
    close(wrong, BIG)
    close(nn.binary_cross_entropy([0.0], [1]), np.log(2), rtol=1e-12)


# ------------------------------------------------------------------------- embeddings
@SETTINGS
@given(st.integers(1, 9).flatmap(lambda n: st.tuples(
    st.just(n),
    hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5), elements=st.integers(0, n - 1)),
)))
def test_one_hot_matches_torch(data):
    n, ids = data
    oh = nn.one_hot(ids, n)
    assert oh.shape == ids.shape + (n,)
    close(oh, torch.nn.functional.one_hot(torch.as_tensor(ids), n).numpy())
    close(oh.sum(axis=-1), np.ones(ids.shape))


@SETTINGS
@given(
    st.tuples(st.integers(1, 12), st.integers(1, 5)).flatmap(lambda nd: st.tuples(
        hnp.arrays(np.float64, nd, elements=moderate),
        hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
                   elements=st.integers(0, nd[0] - 1)),
    ))
)
def test_embedding_lookup_equals_one_hot_matmul_equals_torch(data):
    weight, ids = data
    lookup = nn.embedding_lookup(weight, ids)
    matmul = nn.embedding_as_matmul(weight, ids)
    layer = torch.nn.Embedding(*weight.shape, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(t(weight))
        expected = layer(torch.as_tensor(ids)).numpy()
    assert lookup.shape == ids.shape + (weight.shape[1],)
    np.testing.assert_array_equal(lookup, expected)
    close(matmul, lookup, rtol=0, atol=0)


# ------------------------------------------------------------------------------ layer
ACTIVATIONS = [
    (None, lambda z: z),
    (nn.relu, torch.relu),
    (nn.sigmoid, torch.sigmoid),
    (nn.softmax, lambda z: torch.softmax(z, dim=-1)),
]


@SETTINGS
@given(
    st.integers(1, 6), st.integers(1, 6), st.integers(1, 5),
    st.integers(0, 2**32 - 1), st.sampled_from(range(len(ACTIVATIONS))), st.booleans(),
)
def test_dense_layer_matches_torch_linear(n_in, n_out, batch, seed, which, with_bias):
    ours, theirs = ACTIVATIONS[which]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, n_in))
    linear = torch.nn.Linear(n_in, n_out, bias=with_bias, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(t(rng.normal(size=(n_out, n_in))))
        if with_bias:
            linear.bias.copy_(t(rng.normal(size=n_out)))
        expected = theirs(linear(t(x))).numpy()
    W = linear.weight.detach().numpy()
    b = linear.bias.detach().numpy() if with_bias else None
    out = nn.dense_layer(x, W, b, ours)
    assert out.shape == (batch, n_out)
    close(out, expected, atol=1e-12)
    # one vector: the textbook f(W x + b)
    close(nn.dense_layer(x[0], W, b, ours), expected[0], atol=1e-12)


# ------------------------------------------------------------------------- bad inputs
BAD_INPUTS = [
    (lambda: nn.relu([1.0, np.nan]), "x"),
    (lambda: nn.sigmoid([np.inf]), "x"),
    (lambda: nn.sigmoid(["a", "b"]), "x"),
    (lambda: nn.softmax(3.0), "axis"),
    (lambda: nn.softmax([[1.0, 2.0]], axis=2), "axis"),
    (lambda: nn.softmax(np.zeros((2, 0))), "axis"),
    (lambda: nn.cross_entropy([1.0, 2.0], [0]), "logits"),
    (lambda: nn.cross_entropy([[1.0, 2.0]], [2]), r"targets.*\[2\]"),
    (lambda: nn.cross_entropy([[1.0, 2.0]], [0, 1]), "targets"),
    (lambda: nn.binary_cross_entropy([0.0, 1.0], [1.0]), "targets"),
    (lambda: nn.one_hot([0, 3], 3), r"ids.*\[3\]"),
    (lambda: nn.one_hot([True, False], 3), "ids"),
    (lambda: nn.embedding_lookup(np.ones((4, 2)), [1.5]), "ids"),
    (lambda: nn.embedding_lookup(np.ones(4), [0]), "weight"),
    (lambda: nn.embedding_as_matmul([[1.0, np.nan]], [0]), "weight"),
    (lambda: nn.dense_layer(np.ones((2, 3)), np.ones((4, 2))), "x"),
    (lambda: nn.dense_layer(np.ones(3), np.ones((4, 3)), np.ones(3)), "b"),
    (lambda: nn.dense_layer(np.ones(3), np.ones(3)), "W"),
    (lambda: nn.dense_layer(np.ones(3), np.ones((4, 3)), None, "relu"), "activation"),
    (lambda: nn.one_hot([0], 2.0), "n"),
]


@pytest.mark.parametrize("call, name", BAD_INPUTS)
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()
