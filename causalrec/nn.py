"""A recommender's layers in plain numpy, to be read (chapter 02); torch trains. Weights have
:class:`torch.nn.Linear`'s shape ``(out_features, in_features)``, so a batch of rows maps to ``X @ W.T + b``. No
exponential of a positive number is taken, so nothing overflows. ``tests/test_nn.py`` checks every function and
gradient against torch."""

from __future__ import annotations

import numpy as np

from ._checks import check_positive_int

__all__ = ["relu", "relu_grad", "sigmoid", "sigmoid_grad", "softmax", "log_softmax", "softmax_jacobian",
           "cross_entropy", "binary_cross_entropy", "one_hot", "embedding_lookup", "embedding_as_matmul", "dense_layer"]


def _floats(x, name: str, ndim: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite value(s)")
    return arr


def _ids(ids, n: int, name: str = "ids") -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    if ((arr < 0) | (arr >= n)).any():
        raise ValueError(f"{name} must lie in [0, {n}); found {arr[(arr < 0) | (arr >= n)][:5].tolist()}")
    return arr.astype(np.int64)


def _scores(x, axis) -> tuple[np.ndarray, int]:
    x = _floats(x, "x")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be an integer indexing one of the {x.ndim} axes of x, got {axis!r}")
    if x.shape[axis] == 0:
        raise ValueError(f"x has no scores along axis={axis} (shape {x.shape})")
    return x, int(axis)


def relu(x) -> np.ndarray:
    """``max(0, x)`` elementwise.
    >>> relu([-2.0, 0.0, 3.0])
    array([0., 0., 3.])
    """
    return np.maximum(_floats(x, "x"), 0.0)


def relu_grad(x) -> np.ndarray:
    """Slope of :func:`relu` at its input ``x``: 1 where ``x > 0``, else 0 (0 at 0, as torch)."""
    return (_floats(x, "x") > 0).astype(np.float64)


def sigmoid(x) -> np.ndarray:
    """``1 / (1 + exp(-x))`` elementwise, from ``exp(-|x|)`` so it never overflows.
    >>> np.round(sigmoid([-1e4, 0.0, 2.0]), 3)
    array([0.   , 0.5  , 0.881])
    """
    x = _floats(x, "x")
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(x) -> np.ndarray:
    """Slope of :func:`sigmoid` at ``x``: ``s(x) (1 - s(x))``, at most 1/4 (why deep sigmoid stacks learn slowly)."""
    return sigmoid(x) * sigmoid(-_floats(x, "x"))       # s(-x) = 1 - s(x), without cancellation


def softmax(x, axis: int = -1) -> np.ndarray:
    """Probabilities ``exp(x_i) / sum_k exp(x_k)`` along ``axis``, shifted by the maximum so no exponent is > 0.
    >>> np.round(softmax([1000.0, 1001.0]), 3)
    array([0.269, 0.731])
    """
    x, axis = _scores(x, axis)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))`` as ``x - m - log(sum exp(x - m))``: finite where a probability underflows to 0.
    >>> np.round(log_softmax([-1e4, 0.0, 1e4]), 3)
    array([-20000., -10000.,      0.])
    """
    x, axis = _scores(x, axis)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_jacobian(x) -> np.ndarray:
    """``d softmax(x)_i / d x_j = p_i (delta_ij - p_j)``, shape ``(..., K, K)``; rows sum to 0."""
    p = softmax(x, axis=-1)
    return p[..., :, None] * (np.eye(p.shape[-1]) - p[..., None, :])


def _logits_targets(logits, targets) -> tuple[np.ndarray, np.ndarray]:
    logits = _floats(logits, "logits", ndim=2)
    if 0 in logits.shape:
        raise ValueError(f"logits must have shape (n, K) with n, K >= 1, got {logits.shape}")
    targets = _ids(targets, logits.shape[1], "targets")
    if targets.shape != logits.shape[:1]:
        raise ValueError(f"targets must have shape ({logits.shape[0]},) to match logits, got {targets.shape}")
    return logits, targets


def cross_entropy(logits, targets) -> float:
    """Mean ``-log softmax(logits[n])[targets[n]]`` over rows of raw scores ``logits`` (n, K), in nats.
    >>> round(cross_entropy([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [0, 2]), 3)
    0.669
    """
    logits, targets = _logits_targets(logits, targets)
    return float(-log_softmax(logits)[np.arange(len(targets)), targets].mean())


def _binary(logits, targets) -> tuple[np.ndarray, np.ndarray]:
    logits, targets = _floats(logits, "logits"), _floats(targets, "targets")
    if logits.shape != targets.shape or logits.size == 0:
        raise ValueError(f"logits and targets must share a non-empty shape, got {logits.shape} and {targets.shape}")
    if ((targets < 0) | (targets > 1)).any():
        raise ValueError(f"targets must lie in [0, 1]; found {targets[(targets < 0) | (targets > 1)][:5].tolist()}")
    return logits, targets


def binary_cross_entropy(logits, targets) -> float:
    """Mean ``-(y log s(z) + (1 - y) log(1 - s(z)))`` as ``max(z, 0) - y z + log(1 + exp(-|z|))``: no overflow.
    >>> round(binary_cross_entropy([0.0, 3.0, -3.0], [1, 1, 0]), 3)
    0.263
    """
    z, y = _binary(logits, targets)
    return float((np.maximum(z, 0.0) - y * z + np.log1p(np.exp(-np.abs(z)))).mean())


def one_hot(ids, n: int) -> np.ndarray:
    """Rows of zeros with a 1 at column ``ids[r]``: shape ``ids.shape + (n,)``.
    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    n = check_positive_int(n, "n")
    return (_ids(ids, n)[..., None] == np.arange(n)).astype(np.float64)


def embedding_lookup(weight, ids) -> np.ndarray:
    """Rows ``ids`` of the table ``weight`` (n_ids, dim): what :class:`torch.nn.Embedding` does.
    >>> embedding_lookup(np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), [2, 0])
    array([[4., 5.],
           [0., 1.]])
    """
    weight = _floats(weight, "weight", ndim=2)
    return weight[_ids(ids, weight.shape[0])]


def embedding_as_matmul(weight, ids) -> np.ndarray:
    """The same rows as :func:`embedding_lookup`, as ``one_hot(ids) @ weight``: a lookup is a
    bias-free linear layer on one-hot input, and indexing skips ``n_ids * dim`` multiplications."""
    weight = _floats(weight, "weight", ndim=2)
    return one_hot(ids, weight.shape[0]) @ weight


def dense_layer(x, W, b=None, activation=None) -> np.ndarray:
    """A fully connected layer ``activation(x @ W.T + b)`` (``f(W x + b)`` for one vector); None: linear.
    >>> dense_layer([2.0, 3.0, 4.0], np.array([[1.0, -1.0, 0.0], [0.5, 0.5, 0.5]]), [0.0, -1.0], relu)
    array([0. , 3.5])
    """
    x, W = _floats(x, "x"), _floats(W, "W", ndim=2)
    if x.ndim == 0 or x.shape[-1] != W.shape[1]:
        raise ValueError(f"x has shape {x.shape} but W {W.shape} expects {W.shape[1]} input features")
    if b is not None:
        b = _floats(b, "b")
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},) to match W {W.shape}, got {b.shape}")
    z = x @ W.T if b is None else x @ W.T + b
    if activation is not None and not callable(activation):
        raise ValueError(f"activation must be a function such as relu, or None; got {activation!r}")
    return z if activation is None else np.asarray(activation(z))
