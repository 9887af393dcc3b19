r"""Debiasing with propensities: unbiased estimates and training from ratings missing not at random.

Users choose which items they rate, and they prefer to rate what they liked: the logged
ratings are a biased sample of all (user, item) pairs. Let :math:`D` be the set of **all**
``n_users * n_items`` pairs, :math:`o_{ui} = 1` when the pair's rating was observed,
:math:`p_{ui} = P(o_{ui} = 1)` its propensity and :math:`\delta_{ui}` any per-pair quantity
(a squared error, a rating). The estimators of the mean :math:`\frac{1}{|D|}\sum_D \delta_{ui}`
here are

* **naive**: the mean over observed pairs, :math:`\frac{1}{|O|}\sum_O \delta_{ui}` (biased);
* **IPS**: :math:`\frac{1}{|D|}\sum_O \delta_{ui} / p_{ui}`: a *sum* over observed pairs divided
  by the number of *all* pairs (unbiased when the propensities are right and positive);
* **SNIPS**: :math:`\sum_O (\delta_{ui}/p_{ui}) / \sum_O (1/p_{ui})`: a weighted *mean*
  (slightly biased, much less variable);
* **DR** (doubly robust): :math:`\frac{1}{|D|}\sum_D \big[\hat\delta_{ui} + o_{ui}
  (\delta_{ui} - \hat\delta_{ui}) / p_{ui}\big]` with an imputation :math:`\hat\delta`
  for every pair (unbiased if either the propensities or the imputation are right).

:func:`naive_estimate`, :func:`ips_estimate`, :func:`snips_estimate` and :func:`dr_estimate`
compute them; :func:`evaluation_estimator_study` compares them with the truth over many
simulated worlds. :class:`DebiasedRecommender` trains a rating model (matrix factorization
or NeuMF) with the same four objectives; see its docstring for exactly which estimator each
method's mini-batch loss is. :func:`logged_ratings` returns the default world's observed
ratings with their true propensities over all pairs, :func:`split_by_user` holds out users of
the randomized slice for propensity estimation, and :func:`evaluate_ratings` scores a model
on the randomized slice (MSE and NDCG@10).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from . import schema
from ._checks import progress_bar
from ._checks import (check_dataframe, check_finite_1d, check_fraction, check_id_column,
                          check_numeric_column, check_positive_int, check_random_state, seed_from)
from .models import MatrixFactorization, NeuMF
from .propensity import check_propensity, clip_propensity

__all__ = ["naive_estimate", "ips_estimate", "snips_estimate", "dr_estimate", "logged_ratings",
           "split_by_user", "evaluation_estimator_study", "DebiasedRecommender", "METHODS",
           "IMPUTATIONS", "RATING_MODELS", "evaluate_ratings", "compare_methods"]

_SHOW = 5


# =========================================================================== estimators
def _values(values, name: str = "values") -> np.ndarray:
    return check_finite_1d(values, name)


def _weights(propensity, n: int, clip) -> np.ndarray:
    """Inverse propensities ``1 / max(p, clip)`` for ``n`` observed values, checked."""
    p = check_propensity(propensity)
    if len(p) != n:
        raise ValueError(f"values and propensity must have the same length, got {n} and {len(p)}")
    if clip is not None:
        p = clip_propensity(p, low=clip)
    return 1.0 / p


def _n_total(n_total, n_observed: int) -> int:
    n_total = check_positive_int(n_total, "n_total")
    if n_total < n_observed:
        raise ValueError(f"n_total ({n_total}) counts all pairs, observed or not, so it cannot be smaller "
                         f"than the number of observed values ({n_observed})")
    return n_total


def naive_estimate(values) -> float:
    """The mean of the observed values: what you get by ignoring how they were selected.

    Parameters
    ----------
    values : array-like of float, shape (n_observed,)

    Returns
    -------
    float

    Examples
    --------
    >>> naive_estimate([1.0, 2.0, 6.0])
    3.0
    """
    return float(_values(values).mean())


def ips_estimate(values, propensity, n_total: int, *, clip: float | None = None) -> float:
    r"""Inverse propensity scoring: :math:`\frac{1}{n_{total}} \sum_{observed} \delta_k / p_k`.

    A sum over the observed values divided by the number of **all** pairs (observed or
    not), not a weighted mean. Unbiased for the mean over all pairs when the
    propensities are the true probabilities of observation.

    Parameters
    ----------
    values : array-like of float, shape (n_observed,)
        The quantity for each observed pair (a rating, a squared error...).
    propensity : array-like of float in (0, 1], shape (n_observed,)
        Probability that each pair was observed.
    n_total : int
        Number of pairs in the population (e.g. ``n_users * n_items``).
    clip : float, optional
        Lower bound on the propensities (caps each weight at ``1 / clip``):
        less variance, some bias.

    Returns
    -------
    float

    Examples
    --------
    >>> ips_estimate([4.0, 2.0], [0.5, 0.25], n_total=8)   # (4/0.5 + 2/0.25) / 8
    2.0
    """
    v = _values(values)
    w = _weights(propensity, len(v), clip)
    return float(np.sum(w * v) / _n_total(n_total, len(v)))


def snips_estimate(values, propensity, *, clip: float | None = None) -> float:
    r"""Self-normalised IPS: :math:`\sum_k (\delta_k / p_k) / \sum_k (1 / p_k)`.

    The weighted mean of the observed values with weights ``1 / p``. It needs no
    ``n_total``, is biased by O(1/n), and varies much less than :func:`ips_estimate`
    when a few propensities are tiny.

    Examples
    --------
    >>> round(snips_estimate([4.0, 2.0], [0.5, 0.25]), 4)    # (8 + 8) / (2 + 4)
    2.6667
    """
    v = _values(values)
    w = _weights(propensity, len(v), clip)
    return float(np.sum(w * v) / np.sum(w))


def dr_estimate(values, propensity, imputed, *, imputed_mean: float, n_total: int,
                clip: float | None = None) -> float:
    r"""Doubly robust: the imputation's mean plus an IPS correction of its errors on observed pairs.

    .. math:: \hat\mu_{DR} = \frac{1}{|D|}\sum_{D}\hat\delta_{ui}
              + \frac{1}{|D|}\sum_{O}\frac{\delta_{ui} - \hat\delta_{ui}}{p_{ui}}

    Parameters
    ----------
    values : array-like of float, shape (n_observed,)
        The quantity on the observed pairs.
    propensity : array-like of float in (0, 1], shape (n_observed,)
    imputed : array-like of float, shape (n_observed,)
        The imputation model's value for the same observed pairs.
    imputed_mean : float
        Mean of the imputation over **all** ``n_total`` pairs.
    n_total : int
    clip : float, optional
        Lower bound on the propensities.

    Returns
    -------
    float
        With a perfect imputation the correction is 0 and the result is the true mean,
        whatever the propensities; with true propensities it is unbiased whatever the
        imputation.

    Examples
    --------
    >>> dr_estimate([4.0, 2.0], [0.5, 0.25], [3.0, 3.0], imputed_mean=3.0, n_total=8)  # 3 + (2 - 4) / 8
    2.75
    """
    v = _values(values)
    w = _weights(propensity, len(v), clip)
    m = _values(imputed, "imputed")
    if len(m) != len(v):
        raise ValueError(f"values and imputed must have the same length, got {len(v)} and {len(m)}")
    if isinstance(imputed_mean, bool) or not isinstance(imputed_mean, numbers.Real) or not np.isfinite(imputed_mean):
        raise ValueError(f"imputed_mean must be a finite number, got {imputed_mean!r}")
    return float(imputed_mean + np.sum(w * (v - m)) / _n_total(n_total, len(v)))


# =========================================================================== data helpers
def _check_ratings_frame(ratings, name: str = "ratings") -> pd.DataFrame:
    check_dataframe(ratings, name, [schema.USER, schema.ITEM, schema.RATING])
    for column in (schema.USER, schema.ITEM):
        check_id_column(ratings, column, name)
        values = ratings[column].to_numpy()
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"column {column!r} of {name} must hold integer IDs, got dtype {values.dtype}")
        if values.min() < 0:
            raise ValueError(f"column {column!r} of {name} holds negative IDs, e.g. {int(values.min())}")
    check_numeric_column(ratings, schema.RATING, name)
    r = ratings[schema.RATING].to_numpy(dtype=float)
    bad = (r < schema.RATING_MIN) | (r > schema.RATING_MAX)
    if bad.any():
        raise ValueError(f"column {schema.RATING!r} of {name} must lie in [{schema.RATING_MIN}, "
                         f"{schema.RATING_MAX}]; {int(bad.sum())} value(s) do not, e.g. {r[bad][0]!r}")
    return ratings


def logged_ratings(world) -> pd.DataFrame:
    """The logged (self-selected) ratings with their true propensity over **all** pairs.

    The simulator's ``truth.rating_propensity`` is the probability that a logged
    *candidate* pair got a rating. Candidates are ``c_u`` distinct items drawn uniformly
    for user ``u``, so a pair is a candidate with probability ``c_u / n_items``, and the
    probability that a pair of the whole ``n_users x n_items`` matrix carries a logged
    rating is ``rating_propensity * c_u / n_items``. That is the propensity the
    estimators here expect (their population is all pairs, like the randomized slice).

    Parameters
    ----------
    world : ShopWorld

    Returns
    -------
    pandas.DataFrame
        ``user_id, item_id, rating, propensity``, one row per logged rating, in log order.

    Examples
    --------
    >>> import causalrec as cr
    >>> ratings = logged_ratings(cr.simulate_shop(n_users=60, n_items=40, random_state=0))
    >>> ratings.columns.tolist()
    ['user_id', 'item_id', 'rating', 'propensity']
    >>> bool(ratings["propensity"].between(0, 1).all())
    True
    """
    log = world.interactions
    candidates = np.bincount(log[schema.USER].to_numpy(), minlength=world.n_users)
    rated = log[schema.RATING].notna().to_numpy()
    users = log[schema.USER].to_numpy()[rated]
    p = world.truth.rating_propensity[rated] * candidates[users] / world.n_items
    return pd.DataFrame({schema.USER: users, schema.ITEM: log[schema.ITEM].to_numpy()[rated],
                         schema.RATING: log[schema.RATING].to_numpy()[rated], "propensity": p})


def split_by_user(frame: pd.DataFrame, fraction: float, *, random_state=0):
    """Split ``frame`` by user: the rows of a random ``fraction`` of users, and the rest.

    Used to hold out part of the randomized slice for propensity estimation, so that the
    rows a model is evaluated on never informed its propensities.

    Returns
    -------
    (held_out, rest) : two DataFrames

    Examples
    --------
    >>> frame = pd.DataFrame({"user_id": [0, 0, 1, 2, 3], "rating": [1, 2, 3, 4, 5]})
    >>> held, rest = split_by_user(frame, 0.5, random_state=0)
    >>> len(set(held.user_id) & set(rest.user_id)), held.user_id.nunique()
    (0, 2)
    """
    check_dataframe(frame, "frame", [schema.USER])
    fraction = check_fraction(fraction, "fraction", inclusive=(False, False))
    users = np.unique(frame[schema.USER].to_numpy())
    n_held = int(round(fraction * len(users)))
    if not 1 <= n_held < len(users):
        raise ValueError(f"fraction={fraction} of {len(users)} users holds out {n_held}; both parts need a user")
    held = check_random_state(random_state).choice(users, size=n_held, replace=False)
    mask = frame[schema.USER].isin(held).to_numpy()
    return frame[mask], frame[~mask]


# =========================================================================== evaluation study
def evaluation_estimator_study(predictor: Callable, *, seeds=range(20), n_users: int = 300, n_items: int = 100,
                               clip: float | None = None) -> pd.DataFrame:
    """Estimate a fixed predictor's MSE from logged ratings in many re-simulated worlds.

    For each seed a fresh world is simulated (``simulate_shop(n_users, n_items,
    random_state=seed)``), so which ratings get observed is redrawn. The predictor's
    squared error on the logged ratings is averaged with the naive, IPS, SNIPS and DR
    estimators (true all-pair propensities from :func:`logged_ratings`); DR imputes the
    squared error of every pair as ``(prediction - m)**2 + v``, with ``m`` and ``v`` the
    SNIPS estimates of the mean and variance of a rating. The target is the MSE on that
    world's randomized slice.

    Parameters
    ----------
    predictor : callable ``(world, users, items) -> ratings``
        A fixed rule, e.g. ``lambda w, u, i: 1 + 4 * w.truth.relevance_for(u, i)``.
    seeds : iterable of int
    n_users, n_items : int
    clip : float, optional
        Lower bound on the propensities for IPS, SNIPS and DR.

    Returns
    -------
    pandas.DataFrame
        One row per seed (index ``seed``): ``naive, ips, snips, dr, randomized``.
    """
    from .data.simulate import simulate_shop

    if not callable(predictor):
        raise TypeError(f"predictor must be callable (world, users, items) -> ratings, got {type(predictor).__name__}")
    rows = []
    for seed in seeds:
        world = simulate_shop(n_users=n_users, n_items=n_items, random_state=int(seed))
        obs = logged_ratings(world)
        n_total = world.n_users * world.n_items
        u, i, r, p = (obs[c].to_numpy() for c in (schema.USER, schema.ITEM, schema.RATING, "propensity"))
        error = (np.asarray(predictor(world, u, i), dtype=float) - r) ** 2
        mean = snips_estimate(r, p, clip=clip)
        var = snips_estimate((r - mean) ** 2, p, clip=clip)
        all_u = np.repeat(np.arange(world.n_users), world.n_items)
        all_i = np.tile(np.arange(world.n_items), world.n_users)
        imputed_all = (np.asarray(predictor(world, all_u, all_i), dtype=float) - mean) ** 2 + var
        imputed = imputed_all.reshape(world.n_users, world.n_items)[u, i]
        test = world.randomized
        truth = np.mean((np.asarray(predictor(world, test[schema.USER].to_numpy(), test[schema.ITEM].to_numpy()),
                                    dtype=float) - test[schema.RATING].to_numpy()) ** 2)
        rows.append({"seed": int(seed), "naive": naive_estimate(error),
                     "ips": ips_estimate(error, p, n_total, clip=clip),
                     "snips": snips_estimate(error, p, clip=clip),
                     "dr": dr_estimate(error, p, imputed, imputed_mean=float(imputed_all.mean()),
                                       n_total=n_total, clip=clip),
                     "randomized": float(truth)})
    if not rows:
        raise ValueError("seeds is empty: give at least one seed")
    return pd.DataFrame(rows).set_index("seed")


# =========================================================================== training
#: Rating models by name: ``(n_users, n_items, dim) -> torch.nn.Module``.
RATING_MODELS = {
    "mf": lambda n_users, n_items, dim: MatrixFactorization(n_users, n_items, dim=dim),
    "neumf": lambda n_users, n_items, dim: NeuMF(n_users, n_items, dim=dim, hidden=(2 * dim, dim)),
}

#: Predictions are the model's output plus this constant (the middle of the rating scale),
#: so that no method has to spend its first epochs moving a bias from 0 to the ratings.
_OFFSET = (schema.RATING_MIN + schema.RATING_MAX) / 2


@dataclass
class _Batch:
    """One mini-batch of observed ratings; ``weight`` is 1/p (clipped), ``scale`` = |O| / |D|."""

    users: torch.Tensor
    items: torch.Tensor
    rating: torch.Tensor
    weight: torch.Tensor
    scale: float


def _naive_loss(prediction, batch: _Batch, extra) -> torch.Tensor:
    """Mean squared error over the observed ratings of the batch."""
    return ((prediction - batch.rating) ** 2).mean()


def _ips_loss(prediction, batch: _Batch, extra) -> torch.Tensor:
    """Unbiased mini-batch estimate of (1/|D|) Σ_O e/p: (|O|/|D|) * (1/B) Σ_batch e/p (a sum, not a weighted mean)."""
    return batch.scale * (batch.weight * (prediction - batch.rating) ** 2).mean()


def _snips_loss(prediction, batch: _Batch, extra) -> torch.Tensor:
    """Self-normalised within the batch: Σ_batch w e / Σ_batch w (as training.mse_loss with sample_weight)."""
    return (batch.weight * (prediction - batch.rating) ** 2).sum() / batch.weight.sum()


def _dr_loss(prediction, batch: _Batch, extra) -> torch.Tensor:
    """Mini-batch DR: mean imputed error over pairs drawn uniformly from D, plus the IPS-weighted residual."""
    imputed_obs, prediction_sampled, imputed_sampled = extra
    error = (prediction - batch.rating) ** 2
    error_hat = (prediction - imputed_obs) ** 2
    return (((prediction_sampled - imputed_sampled) ** 2).mean()
            + batch.scale * (batch.weight * (error - error_hat)).mean())


#: Training objectives by method name (see :class:`DebiasedRecommender`).
METHODS = {"naive": _naive_loss, "ips": _ips_loss, "snips": _snips_loss, "dr": _dr_loss}

#: Where DR's pseudo-ratings come from (see :class:`DebiasedRecommender`).
IMPUTATIONS = ("joint", "fixed")


def _number(value, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    if positive and value == 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


class DebiasedRecommender:
    r"""A rating model trained on self-selected ratings with a naive, IPS, SNIPS or DR objective.

    The target is the mean squared error over **all** pairs :math:`D` (users x items),
    :math:`\frac{1}{|D|}\sum_D e_{ui}` with :math:`e_{ui} = (\hat r_{ui} - r_{ui})^2`, of which
    only the observed pairs :math:`O` have a rating. Each mini-batch of ``batch_size``
    observed ratings gives the loss (``w = 1 / max(p, clip)``, ``B`` the batch):

    * ``"naive"``: :math:`\frac{1}{B}\sum_B e` (the observed pairs' MSE, biased toward
      what users chose to rate);
    * ``"ips"``: :math:`\frac{|O|}{|D|}\frac{1}{B}\sum_B w e`, an unbiased estimate of the IPS
      loss :math:`\frac{1}{|D|}\sum_O e / p` (a sum divided by |D|, not a weighted mean);
    * ``"snips"``: :math:`\sum_B w e / \sum_B w`, self-normalised **within the batch** (what a
      weighted-mean loss such as :func:`causalrec.recommenders.mse_loss` with
      ``sample_weight = 1/p`` computes). Over the whole data set SNIPS and IPS differ only by
      the constant :math:`\frac{1}{|D|}\sum_O w`; per batch the normalisation also tames
      batches that contain one huge weight;
    * ``"dr"``: doubly robust. A pseudo-rating :math:`\tilde r_{ui}` is imputed for every pair;
      the imputed error is
      :math:`\hat e_{ui} = (\hat r_{ui} - \tilde r_{ui})^2` and the loss is
      :math:`\frac{1}{S}\sum_{S}\hat e + \frac{|O|}{|D|}\frac{1}{B}\sum_B w (e - \hat e)`, with
      :math:`S` = ``n_sampled * B`` pairs drawn uniformly from all of :math:`D` (never the dense
      matrix): an unbiased estimate of :math:`\frac{1}{|D|}\sum_D[\hat e + o(e - \hat e)/p]`.
      Where :math:`\tilde r` comes from depends on ``imputation``:

      - ``"joint"`` (the default): joint learning (Wang et al., ICML 2019). An imputation
        model of the same architecture predicts :math:`\tilde r_{ui}`, and after each step of
        the prediction model it takes a step on
        :math:`\sum_B w (e - \hat e)^2 / \sum_B w` with :math:`\hat r` held fixed (the
        paper's weighted squared error of the imputed errors, self-normalised within the batch:
        with the plain sum a single tiny propensity made the imputation diverge);
      - ``"fixed"``: DR with an imputation fixed before training (as in Dudik et al., 2011, and
        Saito, 2020): every pair's pseudo-rating is the SNIPS estimate of the mean rating over
        all pairs (:func:`snips_estimate` of the observed ratings, same ``clip``), stored in
        ``imputed_rating_``. No second network is trained, so the objective is fixed once the
        data and the weights are; it varies less across training seeds than the joint version.

      Because :math:`\hat e` depends on :math:`\hat r`, the unobserved pairs pull the
      predictions toward the pseudo-ratings; an imputed error that did not depend on the
      prediction model would leave only the IPS gradient.

    Predictions are the network's output plus 3 (the middle of the 1-5 scale) and are
    clipped to [1, 5] by :meth:`predict`.

    Parameters
    ----------
    method : {"naive", "ips", "snips", "dr"}
    model : {"mf", "neumf"}
    clip : float or None
        Lower bound on the propensities (weights at most ``1 / clip``); None: no clipping.
    dim : int
        Embedding size.
    epochs, batch_size : int
    lr, weight_decay : float
        Adam's learning rate and L2 penalty, for the prediction and the imputation model.
    n_sampled : int
        DR only: pairs drawn from all of D per observed rating in a batch.
    imputation : {"joint", "fixed"}
        DR only: where the pseudo-ratings come from (see above); ignored by the other methods.
    random_state : int, numpy Generator or None
    verbose : bool
        Show a progress bar.
    n_threads : int
        Torch threads while training (restored afterwards).

    Attributes
    ----------
    model_ : torch.nn.Module
    imputation_model_ : torch.nn.Module or None (joint DR only)
    imputed_rating_ : float or None (fixed DR only): the pseudo-rating of every pair
    history_ : pandas.DataFrame, one row per epoch: ``train_loss``
    n_users_, n_items_ : int

    Examples
    --------
    >>> import causalrec as cr
    >>> ratings = logged_ratings(cr.simulate_shop(n_users=100, n_items=50, random_state=0))
    >>> model = DebiasedRecommender(method="ips", clip=0.01, epochs=2, verbose=False)
    >>> model = model.fit(ratings, propensity=ratings["propensity"], n_users=100, n_items=50)
    >>> pred = model.predict([0, 1], [3, 4])
    >>> pred.shape, bool(((pred >= 1) & (pred <= 5)).all())
    ((2,), True)

    DR with a fixed imputation imputes the SNIPS mean rating, far below the logged mean:

    >>> dr = DebiasedRecommender(method="dr", imputation="fixed", clip=0.01, epochs=1)
    >>> dr = dr.fit(ratings, propensity=ratings["propensity"], n_users=100, n_items=50)
    >>> dr.imputation_model_ is None, bool(dr.imputed_rating_ < ratings["rating"].mean() - 0.5)
    (True, True)
    """

    def __init__(self, method: str = "naive", model: str = "mf", *, clip: float | None = 0.01, dim: int = 16,
                 epochs: int = 30, batch_size: int = 256, lr: float = 0.01, weight_decay: float = 1e-4,
                 n_sampled: int = 4, imputation: str = "joint", random_state=0, verbose: bool = False,
                 n_threads: int = 1):
        self.method = method
        self.model = model
        self.clip = clip
        self.dim = dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_sampled = n_sampled
        self.imputation = imputation
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads

    def __repr__(self) -> str:
        dr = f", imputation={self.imputation!r}" if self.method == "dr" else ""
        return f"DebiasedRecommender(method={self.method!r}, model={self.model!r}, clip={self.clip}{dr})"

    def _check_params(self):
        if not isinstance(self.method, str) or self.method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {self.method!r}")
        if not isinstance(self.model, str) or self.model not in RATING_MODELS:
            raise ValueError(f"model must be one of {sorted(RATING_MODELS)}, got {self.model!r}")
        if not isinstance(self.imputation, str) or self.imputation not in IMPUTATIONS:
            raise ValueError(f"imputation must be one of {list(IMPUTATIONS)}, got {self.imputation!r}")
        if self.clip is not None:
            check_fraction(self.clip, "clip", inclusive=(False, True))
        for name in ("dim", "epochs", "batch_size", "n_sampled", "n_threads"):
            check_positive_int(getattr(self, name), name)
        _number(self.lr, "lr", positive=True)
        _number(self.weight_decay, "weight_decay")

    def fit(self, ratings: pd.DataFrame, *, propensity=None, n_users: int | None = None,
            n_items: int | None = None):
        """Train on observed ratings.

        Parameters
        ----------
        ratings : pandas.DataFrame
            One row per observed rating: ``user_id``, ``item_id`` (integer IDs from 0) and
            ``rating`` (in [1, 5], no NaN).
        propensity : array-like of float in (0, 1], shape (n_ratings,)
            Probability that each rating was observed, over all ``n_users * n_items`` pairs.
            Required by every method but ``"naive"`` (which ignores it).
        n_users, n_items : int, optional
            Size of the population of pairs; default: the largest ID seen plus one.

        Returns
        -------
        self
        """
        self._check_params()
        _check_ratings_frame(ratings)
        users = ratings[schema.USER].to_numpy().astype(np.int64)
        items = ratings[schema.ITEM].to_numpy().astype(np.int64)
        n_users = int(users.max()) + 1 if n_users is None else check_positive_int(n_users, "n_users")
        n_items = int(items.max()) + 1 if n_items is None else check_positive_int(n_items, "n_items")
        for ids, n, name in ((users, n_users, "user_id"), (items, n_items, "item_id")):
            if ids.max() >= n:
                raise ValueError(f"column {name!r} of ratings holds IDs up to {int(ids.max())}, beyond the "
                                 f"{n} given as n_{name[:-3]}s")
        if propensity is None:
            if self.method != "naive":
                raise ValueError(f"method={self.method!r} needs propensity (one value per rating)")
            weights = np.ones(len(ratings))
        else:
            weights = _weights(propensity, len(ratings), self.clip)
        n_total = n_users * n_items
        if len(np.unique(users * n_items + items)) < len(users):
            raise ValueError("ratings holds the same (user_id, item_id) pair more than once")

        seed = seed_from(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = RATING_MODELS[self.model](n_users, n_items, self.dim)
            joint = self.method == "dr" and self.imputation == "joint"
            imputation = RATING_MODELS[self.model](n_users, n_items, self.dim) if joint else None
        imputed_rating = None
        if self.method == "dr" and self.imputation == "fixed":
            rated = ratings[schema.RATING].to_numpy(dtype=float)
            imputed_rating = float(np.sum(weights * rated) / np.sum(weights))   # SNIPS mean rating
        data = (torch.from_numpy(users), torch.from_numpy(items),
                torch.from_numpy(ratings[schema.RATING].to_numpy(dtype=np.float32)),
                torch.from_numpy(weights.astype(np.float32)))
        threads_before = torch.get_num_threads()
        torch.set_num_threads(self.n_threads)
        try:
            history = self._train(model, imputation, imputed_rating, data, len(ratings) / n_total, n_users,
                                  n_items, seed)
        finally:
            torch.set_num_threads(threads_before)
        self.model_ = model.eval()
        self.imputation_model_ = None if imputation is None else imputation.eval()
        self.imputed_rating_ = imputed_rating
        self.history_ = history
        self.n_users_, self.n_items_ = n_users, n_items
        return self

    def _train(self, model, imputation, imputed_rating, data, scale, n_users, n_items, seed) -> pd.DataFrame:
        loss_fn = METHODS[self.method]
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        imp_optimizer = (None if imputation is None else
                         torch.optim.Adam(imputation.parameters(), lr=self.lr, weight_decay=self.weight_decay))
        generator = torch.Generator().manual_seed(seed)
        users, items, rating, weight = data
        n = len(users)
        records = []
        model.train()
        for epoch in progress_bar(range(1, self.epochs + 1), disable=not self.verbose, desc=f"{self.method} {self.model}",
                          unit="epoch"):
            order = torch.randperm(n, generator=generator)
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = _Batch(users[idx], items[idx], rating[idx], weight[idx], scale)
                prediction = model(batch.users, batch.items) + _OFFSET
                extra = None
                if self.method == "dr":
                    m = len(idx) * self.n_sampled
                    su = torch.randint(0, n_users, (m,), generator=generator)
                    si = torch.randint(0, n_items, (m,), generator=generator)
                    if imputation is None:          # fixed: the same pseudo-rating for every pair
                        imputed_obs = torch.full_like(batch.rating, imputed_rating)
                        imputed_sampled = torch.full((m,), imputed_rating)
                    else:
                        with torch.no_grad():
                            imputed_obs = imputation(batch.users, batch.items) + _OFFSET
                            imputed_sampled = imputation(su, si) + _OFFSET
                    extra = (imputed_obs, model(su, si) + _OFFSET, imputed_sampled)
                loss = loss_fn(prediction, batch, extra)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
                if imputation is not None:
                    # the error-imputation step: imputed errors should match the observed ones (weighted by 1/p)
                    fixed = prediction.detach()
                    error_hat = (fixed - (imputation(batch.users, batch.items) + _OFFSET)) ** 2
                    # self-normalised within the batch, so one huge weight cannot throw the imputation off
                    imp_loss = ((batch.weight * ((fixed - batch.rating) ** 2 - error_hat) ** 2).sum()
                                / batch.weight.sum())
                    imp_optimizer.zero_grad(set_to_none=True)
                    imp_loss.backward()
                    imp_optimizer.step()
            records.append({"epoch": epoch, "train_loss": total / n})
        return pd.DataFrame(records).set_index("epoch")

    @torch.no_grad()
    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings of the pairs ``(users[k], items[k])``, clipped to [1, 5], shape (n,)."""
        if not hasattr(self, "model_"):
            raise ValueError("this DebiasedRecommender is not fitted yet: call fit first")
        u = np.asarray(users)
        i = np.asarray(items)
        if u.ndim != 1 or i.ndim != 1 or len(u) != len(i):
            raise ValueError(f"users and items must be 1-D and of the same length, got shapes {u.shape} and {i.shape}")
        out = self.model_(torch.as_tensor(u.astype(np.int64)), torch.as_tensor(i.astype(np.int64))) + _OFFSET
        return out.clamp(schema.RATING_MIN, schema.RATING_MAX).double().numpy()


# =========================================================================== evaluation on the randomized slice
def evaluate_ratings(model, test: pd.DataFrame, *, k: int = 10) -> pd.Series:
    """MSE and NDCG@k of a fitted rating model on a test set of ratings (e.g. the randomized slice).

    NDCG@k ranks each user's test items by predicted rating and uses the true ratings as
    graded relevance (linear gain, :func:`causalrec.metrics.ndcg_at_k`).

    Returns
    -------
    pandas.Series with ``mse`` and ``ndcg@k``.
    """
    from .metrics import mse, ndcg_at_k

    _check_ratings_frame(test, "test")
    k = check_positive_int(k, "k")
    prediction = model.predict(test[schema.USER].to_numpy(), test[schema.ITEM].to_numpy())
    pairs = test[[schema.USER, schema.ITEM]]
    return pd.Series({
        "mse": mse(test[schema.RATING].to_numpy(dtype=float), prediction),
        f"ndcg@{k}": ndcg_at_k(pairs.assign(**{schema.SCORE: prediction}), test[[schema.USER, schema.ITEM, schema.RATING]],
                               k=k, relevance_col=schema.RATING),
    })


def compare_methods(ratings: pd.DataFrame, propensity, test: pd.DataFrame, *, methods=("naive", "ips", "snips", "dr"),
                    models=("mf",), seeds=(0, 1, 2), n_users: int, n_items: int, k: int = 10,
                    **params) -> pd.DataFrame:
    """Fit :class:`DebiasedRecommender` for every method, model and seed; evaluate each on ``test``.

    ``params`` are passed to :class:`DebiasedRecommender` (unknown names raise TypeError),
    e.g. ``imputation="fixed"`` for DR with a fixed imputation (ignored by the other methods).

    Returns
    -------
    pandas.DataFrame
        One row per fit: ``model, method, seed, mse, ndcg@k``.
    """
    rows = []
    for model in models:
        for method in methods:
            for seed in seeds:
                fitted = DebiasedRecommender(method=method, model=model, random_state=seed, **params).fit(
                    ratings, propensity=propensity, n_users=n_users, n_items=n_items)
                rows.append({"model": model, "method": method, "seed": seed,
                             **evaluate_ratings(fitted, test, k=k).to_dict()})
    return pd.DataFrame(rows)
