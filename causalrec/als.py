"""Matrix factorization by alternating least squares (ALS), batched in torch.

Matrix factorization with biases predicts a rating as

.. math:: \\hat r_{ui} = \\mu + b_u + c_i + p_u^\\top q_i .

With squared loss and the item side held fixed, the best ``(p_u, b_u)`` of
every user is the solution of a small ridge regression, a
``(dim + 1) x (dim + 1)`` linear system; with the user side fixed, the same
holds for every item. ALS alternates the two closed-form steps (Hu, Koren and
Volinsky 2008; Zhou et al. 2008). Each step here builds *all* the systems at
once (one sparse-times-dense product for the left-hand sides,
another for the right-hand sides) and solves them with one batched Cholesky
factorisation (:func:`torch.linalg.cholesky_ex`, :func:`torch.cholesky_solve`;
the systems are symmetric positive definite, and on a CPU this is several
times faster than the pivoted LU of :func:`torch.linalg.solve`). A sweep over
100,000 ratings is a handful of tensor operations, with no Python loop over
users or items.

The price of the speed: ALS needs a squared loss and the whole rating table
in memory at every sweep. Losses such as BCE or BPR, sampled negatives,
minibatches that stream from disk and deep models have no closed-form step;
they are trained by gradient descent (:mod:`causalrec.recommenders`).

The penalty follows Zhou et al. (2008): ``reg`` times the number of ratings
of the user (or item) on the diagonal, so that heavy and light users are
shrunk in proportion to their data. A user or item with no ratings keeps
zero factors and a zero bias, and is predicted by ``mu`` plus the other
side's bias.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from . import schema
from ._checks import progress_bar
from ._checks import check_dataframe, check_id_column, check_numeric_column, check_positive_int, seed_from

__all__ = ["ALSMatrixFactorization"]

# float32 halves the memory traffic of the sparse products; the ridge term keeps the small systems well conditioned.
DTYPE = torch.float32


def _check_ids(values: np.ndarray, column: str, name: str, n: int | None, size_name: str) -> np.ndarray:
    if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
        raise ValueError(f"column {column!r} of {name} must hold whole-number IDs")
    ids = values.astype(np.int64)
    if ids.min() < 0:
        raise ValueError(f"column {column!r} of {name} holds a negative ID ({int(ids.min())}); IDs are 0 .. n - 1")
    if n is not None and ids.max() >= n:
        raise ValueError(f"column {column!r} of {name} holds ID {int(ids.max())}, but {size_name}={n} "
                         f"allows IDs 0 .. {n - 1}")
    return ids


def _triples(frame, name: str, target: str, n_users: int | None, n_items: int | None):
    """Users, items (int64) and ratings (float64) of a ratings DataFrame, checked."""
    check_dataframe(frame, name, [schema.USER, schema.ITEM, target])
    for column in (schema.USER, schema.ITEM):
        check_id_column(frame, column, name)
        check_numeric_column(frame, column, name)
    check_numeric_column(frame, target, name)
    ratings = frame[target].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(ratings)):
        raise ValueError(f"column {target!r} of {name} holds infinite values")
    users = _check_ids(frame[schema.USER].to_numpy(dtype=np.float64), schema.USER, name, n_users, "n_users")
    items = _check_ids(frame[schema.ITEM].to_numpy(dtype=np.float64), schema.ITEM, name, n_items, "n_items")
    return users, items, ratings


@contextlib.contextmanager
def _torch_threads(n_threads):
    before = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=8)
def _triangle(k: int):
    """Index pairs of a k x k upper triangle, and for every cell (a, b) the position of (min, max) in them."""
    upper = torch.triu_indices(k, k)
    position = torch.zeros(k, k, dtype=torch.int64)
    position[upper[0], upper[1]] = torch.arange(upper.shape[1])
    position[upper[1], upper[0]] = torch.arange(upper.shape[1])
    return upper, position.reshape(-1)


class _Side:
    """One side of the rating matrix (users or items) in CSR form, built once per fit.

    Rows are the entities whose vectors are solved for, columns the other side.
    The ratings are sorted by (row, column) once: ``rows``, ``cols`` and
    ``ratings`` hold them in that order, so every sweep only fills new values
    into the same structure.
    """

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor, ratings: torch.Tensor, n_rows: int, n_cols: int):
        order = torch.argsort(rows * n_cols + cols, stable=True)
        self.rows, self.cols, self.ratings = rows[order], cols[order].contiguous(), ratings[order]
        counts = torch.bincount(rows, minlength=n_rows)
        self.crow = torch.zeros(n_rows + 1, dtype=torch.int64)
        torch.cumsum(counts, 0, out=self.crow[1:])
        self.shape = (n_rows, n_cols)
        self.counts = counts.to(DTYPE)
        self.indicator = self.matrix(torch.ones(len(rows), dtype=DTYPE))

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        """The sparse (n_rows, n_cols) matrix holding ``values`` (in this side's order).

        A (row, column) pair rated twice stays two entries, which products sum.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
            return torch.sparse_csr_tensor(self.crow, self.cols, values, self.shape, check_invariants=False)

    def solve(self, residual: torch.Tensor, features: torch.Tensor, reg: float):
        """Closed-form ridge solution of every row entity at once.

        ``features`` (n_cols, k) are the other side's fixed vectors (factors
        plus a column of ones for the bias); ``residual`` (in this side's
        order) is each rating minus the parts of its prediction that are held
        fixed. Returns the (n_rows, k) solution and the training sum of squared
        errors of the model it completes.
        """
        n_cols, k = features.shape
        # sum over a row's rated columns of x x^T: one sparse (n_rows, n_cols) @ (n_cols, k(k+1)/2)
        # product over the upper triangle only (the matrices are symmetric), then mirrored
        upper, mirror = _triangle(k)
        lhs = torch.sparse.mm(self.indicator, features[:, upper[0]] * features[:, upper[1]])[:, mirror]
        lhs = lhs.reshape(-1, k, k)
        # sum over a row's rated columns of residual * x: the same structure, filled with the residuals
        rhs = torch.sparse.mm(self.matrix(residual), features)
        # reg * n_ratings on the diagonal (Zhou et al. 2008); reg alone for a row without ratings keeps it solvable
        ridge = reg * self.counts.clamp(min=1.0)
        lhs.diagonal(dim1=1, dim2=2).add_(ridge[:, None])
        # the systems are symmetric positive definite: a batched Cholesky solve is many times faster than LU
        factor, info = torch.linalg.cholesky_ex(lhs)
        if bool(info.any()):  # not positive definite in float32 (extreme data): fall back to LU
            solution = torch.linalg.solve(lhs, rhs)
        else:
            solution = torch.cholesky_solve(rhs[:, :, None], factor)[:, :, 0]
        # The squared error of the solved model without predicting every rating again: with
        # lhs w = rhs, sum (y - w.x)^2 = sum y^2 - w.rhs - ridge |w|^2, summed over rows.
        sse = (residual.double().square().sum() - (solution * rhs).sum(dtype=torch.float64)
               - (ridge * solution.square().sum(1)).sum(dtype=torch.float64))
        return solution, max(float(sse), 0.0)


class ALSMatrixFactorization(BaseEstimator):
    """Biased matrix factorization for explicit ratings, fitted by batched alternating least squares.

    ``__init__`` stores the hyperparameters; :meth:`fit` returns ``self``.
    Each *sweep* solves the ridge regressions of all users at once (items
    fixed), then those of all items (users fixed); each half-step minimises the
    penalised squared error exactly, so the training objective never rises.

    Parameters
    ----------
    dim : int
        Number of latent factors.
    reg : float
        L2 penalty per rating, > 0: the penalty of user ``u`` is
        ``reg * n_u * (|p_u|^2 + b_u^2)`` with ``n_u`` its number of
        ratings (weighted-lambda regularisation, Zhou et al. 2008), and
        likewise for items.
    n_sweeps : int
        Number of alternating sweeps (one user step plus one item step each).
    init_std : float
        Standard deviation of the random normal initial item factors.
    random_state : int, numpy Generator or None
        Seeds the initial factors: the same seed gives the same numbers.
    verbose : bool
        Show a progress bar (one update per sweep).
    n_threads : int or None
        Torch threads while fitting (restored afterwards); None keeps torch's
        setting. One is usually fastest: the tensors are small, and on a busy
        machine waiting threads slow every step.

    Attributes
    ----------
    global_mean_ : float
        Mean training rating, ``mu``.
    user_factors_, item_factors_ : numpy.ndarray of shape (n_users, dim), (n_items, dim)
    user_bias_, item_bias_ : numpy.ndarray of shape (n_users,), (n_items,)
    history_ : pandas.DataFrame
        One row per sweep (index ``sweep``, from 1): ``train_rmse``,
        ``val_rmse`` when ``validation`` was given, and ``seconds``, the
        cumulative fitting time (evaluation excluded).
    n_users_, n_items_ : int

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> p, q = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    >>> users, items = np.divmod(np.arange(600), 20)
    >>> ratings = pd.DataFrame({"user_id": users, "item_id": items,
    ...                         "rating": 3 + (p[users] * q[items]).sum(1)})
    >>> als = ALSMatrixFactorization(dim=2, reg=1e-4, n_sweeps=15, random_state=0).fit(ratings, 30, 20)
    >>> bool(als.history_["train_rmse"].iloc[-1] < 0.01)
    True
    >>> als.predict([0, 1], [0, 1]).shape
    (2,)
    """

    def __init__(self, dim=10, reg=0.1, n_sweeps=10, init_std=0.1, random_state=0, verbose=True,
                 n_threads=1):
        self.dim = dim
        self.reg = reg
        self.n_sweeps = n_sweeps
        self.init_std = init_std
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads

    def _check_params(self) -> None:
        check_positive_int(self.dim, "dim")
        check_positive_int(self.n_sweeps, "n_sweeps")
        for name in ("reg", "init_std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if self.n_threads is not None:
            check_positive_int(self.n_threads, "n_threads")

    def fit(self, ratings, n_users=None, n_items=None, *, validation=None, target=schema.RATING):
        """Fit the factors and biases to explicit ratings.

        Parameters
        ----------
        ratings : pandas.DataFrame
            One row per rating, with columns ``user_id``, ``item_id`` (integers
            ``0 .. n - 1``) and ``target``. Repeated (user, item) pairs count
            as separate observations.
        n_users, n_items : int, optional
            Sizes of the ID ranges; default: the largest ID seen plus one.
        validation : pandas.DataFrame, optional
            Held-out ratings (same columns): their RMSE after each sweep goes
            into ``history_["val_rmse"]``. They are never used for fitting.
        target : str
            The rating column.

        Returns
        -------
        ALSMatrixFactorization
            ``self``, fitted.
        """
        self._check_params()
        if not isinstance(target, str):
            raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
        for value, size_name in ((n_users, "n_users"), (n_items, "n_items")):
            if value is not None:
                check_positive_int(value, size_name)
        users, items, ratings_ = _triples(ratings, "ratings", target, n_users, n_items)
        n_users = int(users.max()) + 1 if n_users is None else int(n_users)
        n_items = int(items.max()) + 1 if n_items is None else int(n_items)
        if validation is not None:
            val = [torch.tensor(a) for a in _triples(validation, "validation", target, n_users, n_items)]

        generator = torch.Generator().manual_seed(seed_from(self.random_state))
        # copies: torch refuses to share read-only numpy memory (DataFrame columns can be read-only)
        u, i = torch.tensor(users), torch.tensor(items)
        r = torch.tensor(ratings_, dtype=DTYPE)
        mu = float(r.double().mean())
        dim, reg = int(self.dim), float(self.reg)
        item_factors = torch.randn(n_items, dim, generator=generator, dtype=DTYPE) * float(self.init_std)
        item_bias = torch.zeros(n_items, dtype=DTYPE)
        user_factors = torch.zeros(n_users, dim, dtype=DTYPE)
        user_bias = torch.zeros(n_users, dtype=DTYPE)

        def rmse(uu, ii, rr):
            pred = mu + user_bias[uu] + item_bias[ii] + (user_factors[uu] * item_factors[ii]).sum(1)
            return float(torch.sqrt(torch.mean((pred.double() - rr.double()) ** 2)))

        rows, elapsed = [], 0.0
        with _torch_threads(self.n_threads):
            start = time.perf_counter()
            by_user, by_item = _Side(u, i, r - mu, n_users, n_items), _Side(i, u, r - mu, n_items, n_users)
            ones_items, ones_users = torch.ones(n_items, 1, dtype=DTYPE), torch.ones(n_users, 1, dtype=DTYPE)
            elapsed += time.perf_counter() - start
            bar = progress_bar(range(1, self.n_sweeps + 1), desc="ALS sweeps", disable=not self.verbose)
            for sweep in bar:
                start = time.perf_counter()
                solved, _ = by_user.solve(by_user.ratings - item_bias[by_user.cols],
                                          torch.cat([item_factors, ones_items], dim=1), reg)
                user_factors, user_bias = solved[:, :dim].contiguous(), solved[:, dim].contiguous()
                solved, sse = by_item.solve(by_item.ratings - user_bias[by_item.cols],
                                            torch.cat([user_factors, ones_users], dim=1), reg)
                item_factors, item_bias = solved[:, :dim].contiguous(), solved[:, dim].contiguous()
                elapsed += time.perf_counter() - start
                row = {"sweep": sweep, "train_rmse": (sse / len(r)) ** 0.5}
                if validation is not None:
                    row["val_rmse"] = rmse(*val)
                row["seconds"] = elapsed
                rows.append(row)
                bar.set_postfix(train_rmse=f"{row['train_rmse']:.4f}")
            bar.close()

        self.global_mean_ = mu
        self.user_factors_, self.item_factors_ = user_factors.double().numpy(), item_factors.double().numpy()
        self.user_bias_, self.item_bias_ = user_bias.double().numpy(), item_bias.double().numpy()
        self.history_ = pd.DataFrame(rows).set_index("sweep")
        self.n_users_, self.n_items_ = n_users, n_items
        return self

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings of (user, item) pairs.

        Parameters
        ----------
        users, items : array-like of int, same length
            IDs in ``0 .. n_users_ - 1`` and ``0 .. n_items_ - 1``.

        Returns
        -------
        numpy.ndarray of float, shape (n_pairs,)
            ``mu + b_u + c_i + p_u . q_i`` (not clipped to the rating scale).
        """
        if not hasattr(self, "history_"):
            raise RuntimeError("this ALSMatrixFactorization is not fitted yet: call fit(ratings) first")
        u = np.asarray(users)
        i = np.asarray(items)
        if u.ndim != 1 or i.ndim != 1:
            raise ValueError(f"users and items must be one-dimensional, got shapes {u.shape} and {i.shape}")
        if len(u) != len(i):
            raise ValueError(f"users and items must have the same length, got {len(u)} and {len(i)}")
        frame = pd.DataFrame({schema.USER: u, schema.ITEM: i, "_r": np.zeros(len(u))})
        if len(frame) == 0:
            return np.zeros(0)
        u, i, _ = _triples(frame, "the (users, items) pairs", "_r", self.n_users_, self.n_items_)
        return (self.global_mean_ + self.user_bias_[u] + self.item_bias_[i]
                + np.einsum("nk,nk->n", self.user_factors_[u], self.item_factors_[i]))
