"""Neural-network building blocks in plain numpy, written to be read.

Chapter 02 builds a recommender's layers by hand: activations and their
slopes, softmax (the "interest head"), the two cross-entropy losses, ID
embeddings and a fully connected layer. Everything here is checked against
torch in ``tests/test_nn.py``; it exists to teach, not to train (use
:mod:`torch` for that).

Conventions
-----------
* Inputs are converted to ``float64`` arrays; outputs are ``float64``.
* Batches are rows: a batch of ``n`` vectors of length ``d`` has shape
  ``(n, d)``. Functions that work "per vector" act on the last axis.
* Weights follow :class:`torch.nn.Linear`: shape ``(out_features, in_features)``,
  so one vector ``x`` maps to ``W @ x + b`` and a batch ``X`` to ``X @ W.T + b``.
* NaN and infinite inputs are rejected with a :class:`ValueError` that names
  the argument; so are integer IDs out of range.
* Nothing overflows: every exponential is taken of a non-positive number.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import check_positive_int

__all__ = [
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "log_softmax",
    "softmax_jacobian",
    "cross_entropy",
    "binary_cross_entropy",
    "one_hot",
    "embedding_lookup",
    "embedding_as_matmul",
    "dense_layer",
]


# --------------------------------------------------------------------------- checks
def _as_float_array(x, name: str, *, min_ndim: int = 0) -> np.ndarray:
    """``x`` as a finite float64 array with at least ``min_ndim`` axes, or raise."""
    arr = np.asarray(x)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} holds {int(np.isnan(arr).sum())} NaN value(s)")
    if np.isinf(arr).any():
        raise ValueError(f"{name} holds {int(np.isinf(arr).sum())} infinite value(s)")
    return arr


def _as_ids(ids, n: int, name: str = "ids") -> np.ndarray:
    """``ids`` as an int64 array whose entries lie in ``[0, n)``, or raise."""
    arr = np.asarray(ids)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        example = arr[bad][:3].tolist()
        raise ValueError(f"{name} must lie in [0, {n}); found out-of-range value(s) such as {example}")
    return arr.astype(np.int64, copy=False)


def _check_axis(axis, x: np.ndarray, name: str = "axis") -> int:
    """``axis`` as an int that indexes a non-empty axis of ``x``, or raise."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {x.ndim} dimension(s)")
    if x.shape[axis] == 0:
        raise ValueError(f"x has no scores along {name}={axis} (shape {x.shape}): softmax needs at least one")
    return int(axis)


# ----------------------------------------------------------------------- activations
def relu(x) -> np.ndarray:
    """Rectified linear unit, ``max(0, x)``, elementwise.

    Parameters
    ----------
    x : array_like, any shape
        Pre-activations.

    Returns
    -------
    numpy.ndarray, same shape as ``x``

    Examples
    --------
    >>> relu([-2.0, 0.0, 3.0])
    array([0., 0., 3.])
    """
    x = _as_float_array(x, "x")
    return np.maximum(x, 0.0)


def relu_grad(x) -> np.ndarray:
    """Derivative of :func:`relu` at ``x``: 1 where ``x > 0``, else 0.

    At ``x = 0`` the function has no derivative; like torch we use 0 there.

    Parameters
    ----------
    x : array_like, any shape
        Pre-activations (the *inputs* of the ReLU, not its outputs).

    Returns
    -------
    numpy.ndarray, same shape as ``x``

    Examples
    --------
    >>> relu_grad([-2.0, 0.0, 3.0])
    array([0., 0., 1.])
    """
    x = _as_float_array(x, "x")
    return (x > 0).astype(np.float64)


def sigmoid(x) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``, elementwise, without overflow.

    Parameters
    ----------
    x : array_like, any shape
        Logits.

    Returns
    -------
    numpy.ndarray, same shape as ``x``, values in [0, 1]
        (exactly 0 or 1 only when ``|x|`` is beyond float64's resolution, about 37).

    Examples
    --------
    >>> np.round(sigmoid([-1e4, 0.0, 2.0]), 3)
    array([0.   , 0.5  , 0.881])
    """
    x = _as_float_array(x, "x")
    # exp(-|x|) lies in (0, 1]: it can underflow to 0 but never overflow.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(x) -> np.ndarray:
    """Derivative of :func:`sigmoid` at ``x``: ``sigmoid(x) * (1 - sigmoid(x))``.

    It is at most 1/4 (at ``x = 0``), which is why gradients shrink through
    stacks of sigmoid layers.

    Parameters
    ----------
    x : array_like, any shape
        Logits (the *inputs* of the sigmoid).

    Returns
    -------
    numpy.ndarray, same shape as ``x``, values in [0, 0.25]

    Examples
    --------
    >>> np.round(sigmoid_grad([0.0, 2.0, 5.0]), 3)
    array([0.25 , 0.105, 0.007])
    """
    x = _as_float_array(x, "x")
    # sigmoid(-x) equals 1 - sigmoid(x) but keeps its precision when sigmoid(x) is near 1.
    return sigmoid(x) * sigmoid(-x)


# --------------------------------------------------------------------------- softmax
def softmax(x, axis: int = -1) -> np.ndarray:
    """Turn scores into probabilities: ``exp(x_i) / sum_k exp(x_k)`` along ``axis``.

    The maximum along ``axis`` is subtracted first. Softmax does not change
    when every score moves by the same constant, and after the shift every
    exponent is at most 0, so nothing overflows.

    Parameters
    ----------
    x : array_like, shape (..., K, ...)
        Scores (logits); at least one dimension.
    axis : int, default -1
        The axis that holds the K competing scores.

    Returns
    -------
    numpy.ndarray, same shape as ``x``
        Positive entries that sum to 1 along ``axis``.

    Examples
    --------
    >>> np.round(softmax([1000.0, 1001.0]), 3)
    array([0.269, 0.731])
    >>> softmax([[0.0, 0.0], [5.0, 5.0]]).sum(axis=-1)
    array([1., 1.])
    """
    x = _as_float_array(x, "x", min_ndim=1)
    axis = _check_axis(axis, x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))`` computed directly, stable for scores of any size.

    ``log_softmax(x)_i = x_i - m - log(sum_k exp(x_k - m))`` with ``m`` the
    maximum score. Taking the log of :func:`softmax` instead would give
    ``-inf`` wherever a probability underflows to 0.

    Parameters
    ----------
    x : array_like, shape (..., K, ...)
        Scores (logits); at least one dimension.
    axis : int, default -1
        The axis that holds the K competing scores.

    Returns
    -------
    numpy.ndarray, same shape as ``x``, entries <= 0

    Examples
    --------
    >>> np.round(log_softmax([-1e4, 0.0, 1e4]), 3)
    array([-20000., -10000.,      0.])
    """
    x = _as_float_array(x, "x", min_ndim=1)
    axis = _check_axis(axis, x)
    shifted = x - x.max(axis=axis, keepdims=True)
    # The sum is at least 1 (the maximum contributes exp(0)), so the log is safe.
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_jacobian(x) -> np.ndarray:
    """Jacobian of :func:`softmax` (last axis) at ``x``: ``diag(p) - p p^T``.

    Entry ``[i, j]`` is ``d p_i / d x_j = p_i * (delta_ij - p_j)`` with
    ``p = softmax(x)``. Each row sums to 0 because the probabilities always
    sum to 1.

    Parameters
    ----------
    x : array_like, shape (..., K)
        Scores; leading axes are a batch.

    Returns
    -------
    numpy.ndarray, shape (..., K, K)

    Examples
    --------
    >>> np.round(softmax_jacobian([0.0, 0.0]), 3)
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    p = softmax(x, axis=-1)
    return p[..., :, None] * np.eye(p.shape[-1]) - p[..., :, None] * p[..., None, :]


# ---------------------------------------------------------------------------- losses
def cross_entropy(logits, targets) -> float:
    """Mean negative log-probability of the target classes (the softmax loss).

    ``mean_n( -log_softmax(logits[n])[targets[n]] )``, as
    :func:`torch.nn.functional.cross_entropy`. It takes raw scores, not
    probabilities: the softmax happens inside.

    Parameters
    ----------
    logits : array_like, shape (n, K)
        Scores of K classes (items) for each of n examples.
    targets : array_like of int, shape (n,)
        The observed class of each example, in ``[0, K)``.

    Returns
    -------
    float
        The loss in nats; 0 only for a certain, correct prediction.

    Examples
    --------
    >>> round(cross_entropy([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [0, 2]), 3)
    0.669
    """
    logits = _as_float_array(logits, "logits")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (n, K), got shape {logits.shape}")
    n, k = logits.shape
    if n == 0 or k == 0:
        raise ValueError(f"logits must have at least one row and one column, got shape {logits.shape}")
    targets = _as_ids(targets, k, "targets")
    if targets.shape != (n,):
        raise ValueError(f"targets must have shape ({n},) to match logits {logits.shape}, got shape {targets.shape}")
    return float(-log_softmax(logits, axis=-1)[np.arange(n), targets].mean())


def binary_cross_entropy(logits, targets) -> float:
    """Mean binary cross-entropy of a sigmoid head, computed from logits.

    For a logit ``z`` and a target ``y`` in [0, 1] the loss is
    ``-(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z)))``, rewritten as
    ``max(z, 0) - y z + log(1 + exp(-|z|))`` so that nothing overflows and no
    log of 0 is taken. Same as :func:`torch.nn.functional.binary_cross_entropy_with_logits`.

    Parameters
    ----------
    logits : array_like, any shape
        Logits (not probabilities) of the positive class, e.g. "will buy".
    targets : array_like, same shape as ``logits``
        Observed outcomes: 0 or 1 (or soft labels in [0, 1]).

    Returns
    -------
    float
        The mean loss in nats.

    Examples
    --------
    >>> round(binary_cross_entropy([0.0, 3.0, -3.0], [1, 1, 0]), 3)
    0.263
    """
    logits = _as_float_array(logits, "logits")
    targets = _as_float_array(targets, "targets")
    if logits.shape != targets.shape:
        raise ValueError(f"targets must have the same shape as logits {logits.shape}, got shape {targets.shape}")
    if logits.size == 0:
        raise ValueError("logits is empty: it needs at least one value")
    if ((targets < 0) | (targets > 1)).any():
        example = targets[(targets < 0) | (targets > 1)][:3].tolist()
        raise ValueError(f"targets must lie in [0, 1]; found values such as {example}")
    loss = np.maximum(logits, 0.0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return float(loss.mean())


# ------------------------------------------------------------------------ embeddings
def one_hot(ids, n: int) -> np.ndarray:
    """One-hot vectors: row ``r`` is all zeros except a 1 at column ``ids[r]``.

    Parameters
    ----------
    ids : array_like of int, any shape
        IDs in ``[0, n)``.
    n : int
        Number of distinct IDs (the vector length).

    Returns
    -------
    numpy.ndarray, shape ``ids.shape + (n,)``, float64

    Examples
    --------
    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    n = check_positive_int(n, "n")
    ids = _as_ids(ids, n)
    return (ids[..., None] == np.arange(n)).astype(np.float64)


def _check_weight(weight) -> np.ndarray:
    weight = _as_float_array(weight, "weight")
    if weight.ndim != 2 or weight.shape[0] == 0:
        raise ValueError(f"weight must have shape (n_ids, dim) with n_ids >= 1, got shape {weight.shape}")
    return weight


def embedding_lookup(weight, ids) -> np.ndarray:
    """Embedding of each ID: row ``ids[...]`` of the table ``weight``.

    This is what :class:`torch.nn.Embedding` does: indexing, no arithmetic.

    Parameters
    ----------
    weight : array_like, shape (n_ids, dim)
        The embedding table, one row per ID.
    ids : array_like of int, any shape
        IDs in ``[0, n_ids)``.

    Returns
    -------
    numpy.ndarray, shape ``ids.shape + (dim,)``

    Examples
    --------
    >>> table = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> embedding_lookup(table, [2, 0, 2])
    array([[4., 5.],
           [0., 1.],
           [4., 5.]])
    """
    weight = _check_weight(weight)
    ids = _as_ids(ids, weight.shape[0])
    return weight[ids]


def embedding_as_matmul(weight, ids) -> np.ndarray:
    """The same embeddings as :func:`embedding_lookup`, as ``one_hot(ids) @ weight``.

    Multiplying a one-hot row by the table selects one row of the table, so a
    lookup *is* a linear layer without bias applied to one-hot input. The
    lookup costs ``dim`` reads per ID; this product costs ``n_ids * dim``
    multiplications, which is why frameworks index instead.

    Parameters
    ----------
    weight : array_like, shape (n_ids, dim)
        The embedding table.
    ids : array_like of int, any shape
        IDs in ``[0, n_ids)``.

    Returns
    -------
    numpy.ndarray, shape ``ids.shape + (dim,)``

    Examples
    --------
    >>> table = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> embedding_as_matmul(table, [2, 0])
    array([[4., 5.],
           [0., 1.]])
    """
    weight = _check_weight(weight)
    return one_hot(ids, weight.shape[0]) @ weight


# ----------------------------------------------------------------------------- layer
def dense_layer(x, W, b=None, activation: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """A fully connected layer: ``activation(x @ W.T + b)``.

    For one column vector this is the textbook ``f(W x + b)``; ``W`` has
    :class:`torch.nn.Linear`'s shape ``(out_features, in_features)``.

    Parameters
    ----------
    x : array_like, shape (..., in_features)
        One input vector or a batch of them (rows).
    W : array_like, shape (out_features, in_features)
        Weights.
    b : array_like, shape (out_features,), optional
        Bias; ``None`` for none.
    activation : callable, optional
        Applied elementwise (or along the last axis, like :func:`softmax`) to
        the pre-activations, e.g. :func:`relu`; ``None`` for none (a linear layer).

    Returns
    -------
    numpy.ndarray, shape (..., out_features)

    Examples
    --------
    >>> W = np.array([[1.0, -1.0, 0.0], [0.5, 0.5, 0.5]])
    >>> dense_layer([2.0, 3.0, 4.0], W, b=[0.0, -1.0], activation=relu)
    array([0. , 3.5])
    """
    x = _as_float_array(x, "x", min_ndim=1)
    W = _as_float_array(W, "W")
    if W.ndim != 2:
        raise ValueError(f"W must have shape (out_features, in_features), got shape {W.shape}")
    if x.shape[-1] != W.shape[1]:
        raise ValueError(
            f"x has {x.shape[-1]} features (shape {x.shape}) but W expects "
            f"in_features={W.shape[1]} (W has shape {W.shape})"
        )
    z = x @ W.T
    if b is not None:
        b = _as_float_array(b, "b")
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},) to match W {W.shape}, got shape {b.shape}")
        z = z + b
    if activation is None:
        return z
    if not callable(activation):
        raise ValueError(f"activation must be a function such as relu, or None; got {activation!r}")
    return np.asarray(activation(z))
