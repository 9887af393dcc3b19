"""Matrix factorization of explicit ratings by alternating least squares (ALS), batched in torch. The model
predicts :math:`\\hat r_{ui} = \\mu + b_u + c_i + p_u^\\top q_i`. With the items fixed, a user's best ``(p_u,
b_u)`` is a ridge regression of ``r_ui - mu - c_i`` on ``[q_i, 1]`` over the items the user rated; likewise for
items. ALS alternates these exact steps (Zhou et al. 2008): the training objective never rises and there is no
learning rate. Each half-step builds all the ``(dim + 1)``-square systems with two sparse-times-dense products
and solves them with one batched Cholesky factorisation. ALS needs the squared loss and the whole table at every
sweep; other losses, streaming data and deep models are trained by gradient descent (:mod:`causalrec.train`)."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import schema
from ._checks import (check_dataframe, check_fraction, check_id_column, check_numeric_column, check_positive_int,
                      progress_bar, seed_from, torch_threads)

__all__ = ["ALSMatrixFactorization"]
DTYPE = torch.float32  # half the memory traffic of float64; the ridge keeps the small systems well conditioned


def _triples(frame, name, target, n_users, n_items):
    """Users, items (int64) and ratings (float64) of a ratings DataFrame, checked once."""
    if not isinstance(target, str):
        raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
    check_dataframe(frame, name, [schema.USER, schema.ITEM, target])
    ids = []
    for column, n, size_name in ((schema.USER, n_users, "n_users"), (schema.ITEM, n_items, "n_items")):
        check_id_column(frame, column, name)
        check_numeric_column(frame, column, name)
        values = frame[column].to_numpy(dtype=np.float64)    # whole numbers: check_id_column refuses fractions
        if len(bad := values[(values < 0) | (values >= (np.inf if n is None else n))]):
            limit = "" if n is None else f"; {size_name}={n} allows 0 .. {n - 1}"
            raise ValueError(f"column {column!r} of {name} holds ID {bad[0]:g}: IDs must be >= 0{limit}")
        ids.append(values.astype(np.int64))
    check_numeric_column(frame, target, name)
    if not np.isfinite(ratings := frame[target].to_numpy(dtype=np.float64)).all():
        raise ValueError(f"column {target!r} of {name} holds infinite values")
    return ids[0], ids[1], ratings


class _Side:
    """The ratings as a sparse CSR matrix with one side's entities (users or items) as rows."""

    def __init__(self, rows, cols, values, n_rows, n_cols):
        order = torch.argsort(rows * n_cols + cols)  # by row, then column, as CSR wants
        self.rows, self.cols, self.values = rows[order], cols[order], values[order]
        counts = torch.bincount(rows, minlength=n_rows)
        self.crow = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(counts, 0)])
        self.counts, self.shape = counts.to(DTYPE), (n_rows, n_cols)
        self.indicator = self.matrix(torch.ones_like(values))

    def matrix(self, values):
        """The sparse (n_rows, n_cols) matrix of ``values`` (in this side's order); repeats add up."""
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(self.crow, self.cols, values, self.shape, check_invariants=False)

    def ridge_mean(self, values, ridge):
        return torch.zeros(self.shape[0], dtype=DTYPE).index_add_(0, self.rows, values) / (self.counts + ridge)

    def solve(self, residual, features, ridge):
        """Every row's ridge regression of ``residual`` on the other side's ``features``, and the SSE left."""
        k = features.shape[1]
        upper = torch.triu_indices(k, k)
        mirror = torch.zeros(k, k, dtype=torch.int64)
        mirror[upper[0], upper[1]] = mirror[upper[1], upper[0]] = torch.arange(upper.shape[1])
        # sum of x x^T over a row's rated columns: one product for the upper triangle, then mirrored
        lhs = torch.sparse.mm(self.indicator, features[:, upper[0]] * features[:, upper[1]])
        lhs = lhs[:, mirror.reshape(-1)].reshape(-1, k, k)
        lhs.diagonal(dim1=1, dim2=2).add_(ridge[:, None])
        rhs = torch.sparse.mm(self.matrix(residual), features)
        factor, info = torch.linalg.cholesky_ex(lhs)  # positive definite: Cholesky, several times faster than LU
        solution = (torch.linalg.solve(lhs, rhs) if bool(info.any())  # float32 lost definiteness: LU
                    else torch.cholesky_solve(rhs[:, :, None], factor)[:, :, 0])
        # with lhs w = rhs: sum (y - w.x)^2 = sum y^2 - w.rhs - ridge |w|^2, no second prediction pass
        sse = residual.double().square().sum() - (solution * rhs).sum() - (ridge * solution.square().sum(1)).sum()
        return solution, max(float(sse), 0.0)


def _top_singular(matrix, transposed, dim, generator, n_iter=2):
    """Top left singular vectors of a sparse matrix scaled by sqrt(singular values): randomized SVD."""
    basis = torch.sparse.mm(matrix, torch.randn(matrix.shape[1], dim, generator=generator, dtype=DTYPE))
    for _ in range(n_iter):  # power iterations sharpen the top of the spectrum (Halko et al. 2011)
        basis = torch.sparse.mm(matrix, torch.sparse.mm(transposed, torch.linalg.qr(basis).Q))
    basis = torch.linalg.qr(basis).Q
    left, singular, _ = torch.linalg.svd(torch.sparse.mm(transposed, basis).T, full_matrices=False)
    factors = torch.zeros(matrix.shape[0], dim, dtype=DTYPE)  # dim may exceed the matrix's rank
    factors[:, :len(singular)] = (basis @ left) * singular.sqrt()
    return factors


class ALSMatrixFactorization(BaseEstimator):
    """Biased matrix factorization of explicit ratings, fitted by batched alternating least squares. ``dim`` latent
    factors; ``n_sweeps`` alternating sweeps (all users, then all items). A user or item with ``n`` ratings pays
    ``reg * n ** reg_exponent * (|p|^2 + b^2)`` (``reg > 0``; exponent 1 is Zhou et al.'s weighted lambda, 0
    plain ridge). ``init="svd"``: ridge biases and a truncated SVD of what they leave (one or two sweeps then
    suffice); ``"random"``: zero biases, normal item factors of std ``init_std``. ``n_threads``: torch threads
    while fitting (None: torch's setting). Learned: ``global_mean_``, ``user_factors_``, ``item_factors_``,
    ``user_bias_``, ``item_bias_``, ``n_users_``, ``n_items_``, ``history_`` (per ``sweep``: ``train_rmse``,
    ``val_rmse`` with ``validation``, ``seconds``: cumulative fit time, scoring excluded).
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> p, q = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    >>> users, items = np.divmod(np.arange(600), 20)
    >>> ratings = pd.DataFrame({"user_id": users, "item_id": items,
    ...                         "rating": 3 + (p[users] * q[items]).sum(1)})
    >>> als = ALSMatrixFactorization(dim=2, reg=1e-4, n_sweeps=5).fit(ratings)
    >>> bool(als.history_["train_rmse"].iloc[-1] < 0.01)
    True
    """

    def __init__(self, dim=10, reg=0.4, reg_exponent=0.75, n_sweeps=5, init="svd", init_std=0.1,
                 random_state=0, verbose=False, n_threads=1):
        self.dim, self.reg, self.reg_exponent, self.n_sweeps, self.init = dim, reg, reg_exponent, n_sweeps, init
        self.init_std, self.random_state, self.verbose, self.n_threads = init_std, random_state, verbose, n_threads

    def _check_params(self):
        check_positive_int(self.dim, "dim")
        check_positive_int(self.n_sweeps, "n_sweeps")
        for name in ("reg", "init_std"):
            check_fraction(getattr(self, name), name, high=np.inf, inclusive=(False, False))
        check_fraction(self.reg_exponent, "reg_exponent")
        if self.init not in ("svd", "random"):
            raise ValueError(f"init must be 'svd' or 'random', got {self.init!r}")

    def fit(self, ratings, *, n_users=None, n_items=None, validation=None, target=schema.RATING):
        """Fit to the ``target`` column of ``ratings`` (``n_users``/``n_items``: default largest ID + 1);
        ``validation`` ratings are only scored, after every sweep, into ``history_``."""
        self._check_params()
        n_users, n_items = (None if n is None else check_positive_int(n, name)
                            for n, name in ((n_users, "n_users"), (n_items, "n_items")))
        users, items, y = _triples(ratings, "ratings", target, n_users, n_items)
        n_users, n_items = n_users or int(users.max()) + 1, n_items or int(items.max()) + 1
        if validation is not None:
            vu, vi, vr = (torch.tensor(a) for a in _triples(validation, "validation", target, n_users, n_items))
        dim, power = int(self.dim), float(self.reg_exponent)
        generator = torch.Generator().manual_seed(seed_from(self.random_state))
        rows, elapsed = [], 0.0
        with torch_threads(self.n_threads):
            start = time.perf_counter()
            u, i, r = torch.tensor(users), torch.tensor(items), torch.tensor(y, dtype=DTYPE)
            mu = float(r.double().mean())
            by_user, by_item = _Side(u, i, r - mu, n_users, n_items), _Side(i, u, r - mu, n_items, n_users)
            ridge_user, ridge_item = (float(self.reg) * side.counts.clamp(min=1) ** power
                                      for side in (by_user, by_item))
            user_bias, item_bias = torch.zeros(n_users, dtype=DTYPE), torch.zeros(n_items, dtype=DTYPE)
            user_factors = torch.zeros(n_users, dim, dtype=DTYPE)
            if self.init == "random":
                item_factors = torch.randn(n_items, dim, generator=generator, dtype=DTYPE) * float(self.init_std)
            else:
                for _ in range(3):  # ridge biases first: the SVD then sees only what biases leave
                    item_bias = by_item.ridge_mean(by_item.values - user_bias[by_item.cols], ridge_item)
                    user_bias = by_user.ridge_mean(by_user.values - item_bias[by_user.cols], ridge_user)
                item_factors = _top_singular(
                    by_item.matrix(by_item.values - user_bias[by_item.cols] - item_bias[by_item.rows]),
                    by_user.matrix(by_user.values - item_bias[by_user.cols] - user_bias[by_user.rows]),
                    dim, generator)
            ones_items, ones_users = torch.ones(n_items, 1, dtype=DTYPE), torch.ones(n_users, 1, dtype=DTYPE)
            elapsed += time.perf_counter() - start  # the setup counts as fitting time
            bar = progress_bar(range(1, self.n_sweeps + 1), desc="ALS sweeps", disable=not self.verbose)
            for sweep in bar:
                start = time.perf_counter()
                solved, _ = by_user.solve(by_user.values - item_bias[by_user.cols],
                                          torch.cat([item_factors, ones_items], 1), ridge_user)
                user_factors, user_bias = solved[:, :dim].contiguous(), solved[:, dim].contiguous()
                solved, sse = by_item.solve(by_item.values - user_bias[by_item.cols],
                                            torch.cat([user_factors, ones_users], 1), ridge_item)
                item_factors, item_bias = solved[:, :dim].contiguous(), solved[:, dim].contiguous()
                elapsed += time.perf_counter() - start
                row = {"sweep": sweep, "train_rmse": (sse / len(r)) ** 0.5}
                if validation is not None:
                    pred = mu + user_bias[vu] + item_bias[vi] + (user_factors[vu] * item_factors[vi]).sum(1)
                    row["val_rmse"] = float((pred.double() - vr).square().mean().sqrt())
                rows.append({**row, "seconds": elapsed})
        self.global_mean_ = mu
        self.user_factors_, self.item_factors_ = user_factors.double().numpy(), item_factors.double().numpy()
        self.user_bias_, self.item_bias_ = user_bias.double().numpy(), item_bias.double().numpy()
        self.history_ = pd.DataFrame(rows).set_index("sweep")
        self.n_users_, self.n_items_ = n_users, n_items
        return self

    def predict(self, users, items):
        """Predicted ratings ``mu + b_u + c_i + p_u . q_i`` of (user, item) pairs, not clipped."""
        check_is_fitted(self, "history_")
        users, items = np.asarray(users), np.asarray(items)
        if users.ndim != 1 or users.shape != items.shape:
            raise ValueError("users and items must be one-dimensional and of the same length, "
                             f"got shapes {users.shape} and {items.shape}")
        if len(users) == 0:
            return np.zeros(0)
        frame = pd.DataFrame({schema.USER: users, schema.ITEM: items, "_": 0.0})
        u, i, _ = _triples(frame, "the (users, items) pairs", "_", self.n_users_, self.n_items_)
        return (self.global_mean_ + self.user_bias_[u] + self.item_bias_[i]
                + np.einsum("nk,nk->n", self.user_factors_[u], self.item_factors_[i]))
