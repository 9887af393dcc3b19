"""Propensities: how likely each logged pair was to be observed, and the weights they give.

Two propensities matter in recommendation logs:

* the **exposure propensity** ``P(exposed = 1 | user, item)``: the logging policy's
  probability of showing the item (the simulator's ``truth.propensity``);
* the **rating propensity** ``P(rating observed | user, item)``: whether a rating was
  given at all, which depends on the rating itself (missing not at random; the
  simulator's ``truth.rating_propensity``).

Estimators here, each in the scikit-learn style (``fit`` returns ``self``, learned
attributes end in ``_``):

* :class:`PopularityPropensity`: an item's share of logged candidates that were shown
  (or of users who rated it), smoothed. Needs nothing but the log.
* :class:`LogisticPropensity`: logistic regression of exposure on user and item features.
* :class:`NaiveBayesPropensity`: Schnabel et al. (2016)'s estimator for rating
  propensities, ``P(O=1 | r) = P(r | O=1) P(O=1) / P(r)``, with ``P(r)`` taken from a
  small randomized sample of ratings.

and the helpers that turn propensities into inverse propensity weights (clipping,
self-normalisation) and check them against the truth (:func:`calibration_table`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import schema
from ._checks import check_binary, check_dataframe, check_fraction, check_positive_int, seed_from

__all__ = ["check_propensity", "clip_propensity", "inverse_propensity_weights",
           "PopularityPropensity", "LogisticPropensity", "NaiveBayesPropensity",
           "calibration_table"]


def check_propensity(propensity, name: str = "propensity") -> np.ndarray:
    """Return ``propensity`` as a float array, or raise if any value is NaN, <= 0 or > 1.

    >>> check_propensity([0.5, 1.0])
    array([0.5, 1. ])
    """
    p = np.asarray(propensity, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {p.shape}")
    if p.size == 0:
        raise ValueError(f"{name} is empty")
    nan = np.isnan(p)
    if nan.any():
        raise ValueError(f"{name} holds {int(nan.sum())} NaN value(s), e.g. at position {int(np.flatnonzero(nan)[0])}")
    bad = (p <= 0) | (p > 1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must lie in (0, 1]; {int(bad.sum())} value(s) do not, e.g. {p[k]!r} at position {k}"
            + (" (a zero propensity means the pair could never be observed: its weight is infinite)"
               if p[k] == 0 else "")
        )
    return p


def clip_propensity(propensity, low: float = 0.01, high: float = 1.0) -> np.ndarray:
    """Clip propensities into ``[low, high]``: bounds the weights at ``1 / low``.

    Clipping trades a little bias for much less variance.

    >>> clip_propensity([0.001, 0.5], low=0.01)
    array([0.01, 0.5 ])
    """
    check_fraction(low, "low", inclusive=(False, True))
    check_fraction(high, "high", inclusive=(False, True))
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    p = check_propensity(propensity)
    return np.clip(p, low, high)


def inverse_propensity_weights(propensity, *, clip: float | None = None,
                               self_normalize: bool = False) -> np.ndarray:
    """Weights ``1 / p`` for observed samples, optionally clipped and self-normalised.

    Parameters
    ----------
    propensity : array-like, shape (n,)
        Probability that each observed sample was observed, in (0, 1].
    clip : float, optional
        Lower bound applied to the propensities first (e.g. 0.05 caps weights at 20).
    self_normalize : bool
        Rescale the weights to mean 1 (SNIPS), so that a weighted mean divides by
        the sum of the weights instead of by ``n``.

    Returns
    -------
    numpy.ndarray, shape (n,)

    >>> inverse_propensity_weights([0.5, 0.25])
    array([2., 4.])
    >>> inverse_propensity_weights([0.5, 0.25], self_normalize=True)
    array([0.66666667, 1.33333333])
    """
    p = check_propensity(propensity)
    if clip is not None:
        p = clip_propensity(p, low=clip)
    weights = 1.0 / p
    if self_normalize:
        weights = weights / weights.mean()
    return weights


class PopularityPropensity:
    """Propensity of an item = its smoothed share of logged candidates that were observed.

    ``p_i = (observed_i + smoothing * prior) / (candidates_i + smoothing)`` where the
    prior is the overall observation rate. When the log holds only observed pairs
    (no candidates that were not shown), pass ``n_users`` instead: ``p_i`` is then
    the item's share of users, ``observed_i / n_users``, smoothed toward the mean.

    Parameters
    ----------
    column : str
        The 0/1 column that marks observation (``exposed``, or ``clicked``...).
    smoothing : float
        Pseudo-count of the prior (>= 0).

    Examples
    --------
    >>> log = pd.DataFrame({"user_id": [0, 1, 2, 0, 1], "item_id": [0, 0, 0, 1, 1],
    ...                     "exposed": [1, 1, 0, 1, 0]})
    >>> model = PopularityPropensity(smoothing=0.0).fit(log, n_items=2)
    >>> model.item_propensity_.round(3).tolist()
    [0.667, 0.5]
    """

    def __init__(self, *, column: str = schema.EXPOSED, smoothing: float = 1.0):
        self.column = column
        self.smoothing = smoothing

    def fit(self, interactions: pd.DataFrame, *, n_items: int, n_users: int | None = None):
        check_dataframe(interactions, "interactions", [schema.ITEM])
        n_items = check_positive_int(n_items, "n_items")
        if self.smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {self.smoothing}")
        items = interactions[schema.ITEM].to_numpy()
        if items.min() < 0 or items.max() >= n_items:
            raise ValueError(f"item IDs must lie in [0, {n_items}), got range [{items.min()}, {items.max()}]")
        if n_users is None:
            check_dataframe(interactions, "interactions", [self.column])
            observed = check_binary(interactions[self.column], f"column {self.column!r}")
            counts = np.bincount(items, minlength=n_items).astype(float)
            hits = np.bincount(items, weights=observed, minlength=n_items)
        else:
            n_users = check_positive_int(n_users, "n_users")
            counts = np.full(n_items, float(n_users))
            hits = np.bincount(items, minlength=n_items).astype(float)
        prior = hits.sum() / counts.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            p = (hits + self.smoothing * prior) / (counts + self.smoothing)
        p = np.where(counts + self.smoothing > 0, p, prior)
        # an item never observed would get p = 0: floor it at a tenth of the smallest positive value
        positive = p[p > 0]
        floor = positive.min() / 10 if positive.size else 1.0
        self.item_propensity_ = np.clip(p, floor, 1.0)
        self.prior_ = float(prior)
        return self

    def predict(self, items) -> np.ndarray:
        """Propensity of each item in ``items`` (array of item IDs), shape (n,)."""
        items = np.asarray(items, dtype=np.int64)
        n = len(self.item_propensity_)
        if items.size and (items.min() < 0 or items.max() >= n):
            raise ValueError(f"item IDs must lie in [0, {n}), got range [{items.min()}, {items.max()}]")
        return self.item_propensity_[items]


class LogisticPropensity:
    """Exposure propensity from a logistic regression on features.

    Parameters
    ----------
    features : sequence of str
        Numeric columns of the frame passed to :meth:`fit` and :meth:`predict`.
    C : float
        Inverse regularisation strength (scikit-learn's ``C``).
    random_state : int or None

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=20000)
    >>> frame = pd.DataFrame({"x": x, "exposed": (rng.random(20000) < 1 / (1 + np.exp(-2 * x))).astype(int)})
    >>> model = LogisticPropensity(features=["x"]).fit(frame)
    >>> round(float(model.coef_[0]), 1)
    2.0
    """

    def __init__(self, *, features=(schema.POLICY_SCORE, "log_popularity"), treatment: str = schema.EXPOSED,
                 C: float = 1.0, random_state=0):
        self.features = features
        self.treatment = treatment
        self.C = C
        self.random_state = random_state

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        check_dataframe(frame, "frame", list(self.features))
        x = frame[list(self.features)]
        for column in self.features:
            if not pd.api.types.is_numeric_dtype(x[column]):
                raise ValueError(f"feature column {column!r} must be numeric, got dtype {x[column].dtype}")
            if x[column].isna().any():
                raise ValueError(f"feature column {column!r} holds {int(x[column].isna().sum())} NaN value(s)")
        return x.to_numpy(dtype=float)

    def fit(self, frame: pd.DataFrame):
        from sklearn.linear_model import LogisticRegression

        x = self._matrix(frame)
        check_dataframe(frame, "frame", [self.treatment])
        t = check_binary(frame[self.treatment], f"treatment column {self.treatment!r}")
        if t.min() == t.max():
            raise ValueError(f"treatment column {self.treatment!r} holds only {t[0]}: need both 0 and 1")
        self._mean, self._scale = x.mean(0), x.std(0) + 1e-12
        model = LogisticRegression(C=self.C, random_state=seed_from(self.random_state))
        model.fit((x - self._mean) / self._scale, t)
        self.model_ = model
        self.coef_ = model.coef_[0] / self._scale
        self.intercept_ = float(model.intercept_[0] - np.sum(model.coef_[0] * self._mean / self._scale))
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """P(treated | features) for each row, shape (n,)."""
        if not hasattr(self, "model_"):
            raise ValueError("this LogisticPropensity is not fitted yet: call fit first")
        x = self._matrix(frame)
        return self.model_.predict_proba((x - self._mean) / self._scale)[:, 1]


class NaiveBayesPropensity:
    """Rating propensities by Bayes' rule from a small missing-at-random sample.

    ``P(O = 1 | r) = P(r | O = 1) * P(O = 1) / P(r)``, where ``P(r | O = 1)`` is the
    distribution of logged (self-selected) ratings, ``P(O = 1)`` the share of all
    user-item pairs that carry a logged rating, and ``P(r)`` the distribution of
    ratings in a randomized sample (Schnabel et al., ICML 2016, section 5.2).

    Examples
    --------
    >>> logged = pd.Series([5, 5, 4, 1])
    >>> random = pd.Series([1, 2, 3, 4, 5, 1, 2, 3, 4, 5])
    >>> model = NaiveBayesPropensity().fit(logged, random, n_pairs=40)
    >>> model.propensity_by_rating_.round(3).tolist()
    [0.125, 0.0, 0.0, 0.125, 0.25]
    """

    def __init__(self, *, smoothing: float = 0.0):
        self.smoothing = smoothing

    def fit(self, logged_ratings, randomized_ratings, *, n_pairs: int,
            rating_values=tuple(range(schema.RATING_MIN, schema.RATING_MAX + 1))):
        logged = self._ratings(logged_ratings, "logged_ratings", rating_values)
        random = self._ratings(randomized_ratings, "randomized_ratings", rating_values)
        n_pairs = check_positive_int(n_pairs, "n_pairs")
        if len(logged) > n_pairs:
            raise ValueError(f"n_pairs ({n_pairs}) is smaller than the number of logged ratings ({len(logged)})")
        values = np.asarray(rating_values)
        k = self.smoothing
        p_r_given_o = (np.array([(logged == v).sum() for v in values]) + k) / (len(logged) + k * len(values))
        p_r = (np.array([(random == v).sum() for v in values]) + k) / (len(random) + k * len(values))
        if np.any(p_r == 0):
            missing = values[p_r == 0].tolist()
            raise ValueError(f"the randomized sample holds no rating {missing}: P(r) would be 0; "
                             "use smoothing > 0")
        p_o = len(logged) / n_pairs
        self.rating_values_ = values
        self.propensity_by_rating_ = np.clip(p_r_given_o * p_o / p_r, 0.0, 1.0)
        return self

    @staticmethod
    def _ratings(ratings, name, rating_values):
        r = pd.Series(ratings)
        if not pd.api.types.is_numeric_dtype(r):
            raise ValueError(f"{name} must be numeric, got dtype {r.dtype}")
        r = r.to_numpy(dtype=float)
        if r.size == 0:
            raise ValueError(f"{name} is empty")
        if np.isnan(r).any():
            raise ValueError(f"{name} holds {int(np.isnan(r).sum())} NaN value(s); pass only given ratings")
        bad = ~np.isin(r, rating_values)
        if bad.any():
            raise ValueError(f"{name} holds values outside {list(rating_values)}, e.g. {r[bad][0]!r}")
        return r

    def predict(self, ratings) -> np.ndarray:
        """Propensity of each observed rating, shape (n,)."""
        r = self._ratings(ratings, "ratings", self.rating_values_)
        return self.propensity_by_rating_[np.searchsorted(self.rating_values_, r)]


def calibration_table(estimated, true, *, bins: int = 10) -> pd.DataFrame:
    """Compare estimated with true propensities in quantile bins of the estimate.

    Returns a DataFrame with one row per bin: ``estimated`` (mean), ``true`` (mean),
    ``count``; a well calibrated estimator has the two columns equal.

    >>> t = calibration_table([0.1, 0.2, 0.8, 0.9], [0.1, 0.2, 0.8, 0.9], bins=2)
    >>> t[["estimated", "true"]].round(2).values.tolist()
    [[0.15, 0.15], [0.85, 0.85]]
    """
    est = check_propensity(estimated, "estimated")
    tru = check_propensity(true, "true")
    if est.shape != tru.shape:
        raise ValueError(f"estimated and true must have the same shape, got {est.shape} and {tru.shape}")
    bins = check_positive_int(bins, "bins")
    order = np.argsort(est, kind="stable")
    labels = np.empty(len(est), dtype=np.int64)
    labels[order] = np.arange(len(est)) * bins // len(est)
    frame = pd.DataFrame({"bin": labels, "estimated": est, "true": tru})
    table = frame.groupby("bin").agg(estimated=("estimated", "mean"), true=("true", "mean"),
                                     count=("true", "size")).reset_index()
    return table
