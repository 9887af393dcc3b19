r"""Propensities, and the estimators of a mean over all pairs that use them.

With :math:`D` all ``n_users * n_items`` pairs, :math:`O` the observed ones, :math:`p` the chance
that a pair was observed and :math:`\delta` a per-pair value, the mean :math:`\frac{1}{|D|}\sum_D\delta`
is estimated by :func:`naive_estimate` (the observed mean: biased), :func:`ips_estimate`
(:math:`\frac{1}{|D|}\sum_O \delta/p`: unbiased with the true :math:`p`), :func:`snips_estimate` (the
1/p-weighted mean: steadier) and :func:`dr_estimate` (an imputation plus the IPS-weighted errors of
it: unbiased if either the propensities or the imputation are right). The propensity models are
scikit-learn estimators: :class:`LogisticPropensity` and :class:`NaiveBayesPropensity` (Schnabel et al.,
ICML 2016).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from . import schema
from ._checks import check_binary, check_dataframe, check_finite_1d, check_fraction, check_positive_int, seed_from

__all__ = ["check_propensity", "inverse_propensity_weights", "naive_estimate", "ips_estimate", "snips_estimate",
           "dr_estimate", "LogisticPropensity", "NaiveBayesPropensity", "calibration_table"]


def check_propensity(propensity, name: str = "propensity") -> np.ndarray:
    """``propensity`` as a 1-D float array in (0, 1], or a ValueError naming the bad value.

    >>> check_propensity([0.5, 1.0])
    array([0.5, 1. ])
    """
    p = check_finite_1d(propensity, name)
    bad = (p <= 0) | (p > 1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must lie in (0, 1]; {int(bad.sum())} value(s) do not, e.g. {p[k]!r} at "
                         f"position {k}" + (" (a pair never observable has an infinite weight)" if p[k] == 0 else ""))
    return p


def inverse_propensity_weights(propensity, *, clip: float | None = None, n: int | None = None) -> np.ndarray:
    """Weights ``1 / max(p, clip)``; ``n``, if given, is the length the caller expects.

    >>> inverse_propensity_weights([0.5, 0.001], clip=0.01)
    array([  2., 100.])
    """
    p = check_propensity(propensity)
    if n is not None and len(p) != n:
        raise ValueError(f"propensity has {len(p)} values for {n} observed values")
    if clip is not None:
        p = np.maximum(p, check_fraction(clip, "clip", inclusive=(False, True)))
    return 1.0 / p


def naive_estimate(values) -> float:
    """The mean of the observed values, ignoring how they were selected.

    >>> naive_estimate([1.0, 2.0, 6.0])
    3.0
    """
    return float(check_finite_1d(values, "values").mean())


def ips_estimate(values, propensity, n_total: int, *, clip: float | None = None) -> float:
    """IPS: the sum of ``values / p`` divided by the number of **all** pairs.

    >>> ips_estimate([4.0, 2.0], [0.5, 0.25], n_total=8)   # (4/0.5 + 2/0.25) / 8
    2.0
    """
    v = check_finite_1d(values, "values")
    w = inverse_propensity_weights(propensity, clip=clip, n=len(v))
    if check_positive_int(n_total, "n_total") < len(v):
        raise ValueError(f"n_total ({n_total}) counts all pairs, so it cannot be below the {len(v)} observed")
    return float(np.sum(w * v) / n_total)


def snips_estimate(values, propensity, *, clip: float | None = None) -> float:
    """Self-normalised IPS: the mean of ``values`` weighted by ``1 / p`` (needs no ``n_total``).

    >>> round(snips_estimate([4.0, 2.0], [0.5, 0.25]), 4)    # (8 + 8) / (2 + 4)
    2.6667
    """
    v = check_finite_1d(values, "values")
    w = inverse_propensity_weights(propensity, clip=clip, n=len(v))
    return float(np.sum(w * v) / np.sum(w))


def dr_estimate(values, propensity, imputed, *, imputed_mean: float, n_total: int,
                clip: float | None = None) -> float:
    """Doubly robust: ``imputed_mean`` (over all pairs) plus the IPS estimate of ``values - imputed``.

    >>> dr_estimate([4.0, 2.0], [0.5, 0.25], [3.0, 3.0], imputed_mean=3.0, n_total=8)  # 3 + (2 - 4) / 8
    2.75
    """
    v = check_finite_1d(values, "values")
    m = check_finite_1d(imputed, "imputed")
    if len(m) != len(v):
        raise ValueError(f"imputed has {len(m)} values for {len(v)} observed values")
    return float(check_finite_1d([imputed_mean], "imputed_mean")[0] + ips_estimate(v - m, propensity, n_total, clip=clip))


class LogisticPropensity(BaseEstimator):
    """P(treatment | features) by a standardised logistic regression; learned ``model_``, ``coef_``, ``intercept_``.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=20000)
    >>> frame = pd.DataFrame({"x": x, "exposed": (rng.random(20000) < 1 / (1 + np.exp(-2 * x))).astype(int)})
    >>> round(float(LogisticPropensity(features=["x"]).fit(frame).coef_[0]), 1)
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
        for column in self.features:
            check_finite_1d(frame[column], f"feature column {column!r}")
        return frame[list(self.features)].to_numpy(dtype=float)

    def fit(self, frame: pd.DataFrame):
        x = self._matrix(frame)
        check_dataframe(frame, "frame", [self.treatment])
        t = check_binary(frame[self.treatment], f"treatment column {self.treatment!r}")
        if t.min() == t.max():
            raise ValueError(f"treatment column {self.treatment!r} holds only {t[0]}: need both 0 and 1")
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, random_state=seed_from(self.random_state)))
        self.model_.fit(x, t)
        scaler, logistic = self.model_[0], self.model_[1]
        self.coef_ = logistic.coef_[0] / scaler.scale_
        self.intercept_ = float(logistic.intercept_[0] - np.sum(self.coef_ * scaler.mean_))
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """P(treated | features) for each row, shape (n,)."""
        check_is_fitted(self)
        return self.model_.predict_proba(self._matrix(frame))[:, 1]


class NaiveBayesPropensity(BaseEstimator):
    """Rating propensities by Bayes' rule: ``P(O=1 | r) = P(r | O=1) P(O=1) / P(r)``.

    ``P(r | O=1)`` from the logged ratings, ``P(O=1)`` = logged share of all pairs, ``P(r)`` from a
    small randomized sample. Learned: ``rating_values_``, ``propensity_by_rating_``.

    >>> NaiveBayesPropensity().fit([5, 5, 4, 1], [1, 2, 3, 4, 5], n_pairs=40).propensity_by_rating_.round(3).tolist()
    [0.125, 0.0, 0.0, 0.125, 0.25]
    """

    def __init__(self, *, smoothing: float = 0.0):
        self.smoothing = smoothing

    def fit(self, logged_ratings, randomized_ratings, *, n_pairs: int):
        values = np.arange(schema.RATING_MIN, schema.RATING_MAX + 1)
        logged = _ratings(logged_ratings, "logged_ratings", values)
        random = _ratings(randomized_ratings, "randomized_ratings", values)
        if check_positive_int(n_pairs, "n_pairs") < len(logged):
            raise ValueError(f"n_pairs ({n_pairs}) is smaller than the number of logged ratings ({len(logged)})")
        k = check_fraction(self.smoothing, "smoothing", high=np.inf)
        p_r_given_o = (np.array([(logged == v).sum() for v in values]) + k) / (len(logged) + k * len(values))
        p_r = (np.array([(random == v).sum() for v in values]) + k) / (len(random) + k * len(values))
        if np.any(p_r == 0):
            raise ValueError(f"randomized_ratings holds no rating {values[p_r == 0].tolist()}: P(r) would be 0; "
                             "use smoothing > 0")
        self.rating_values_ = values
        self.propensity_by_rating_ = np.clip(p_r_given_o * (len(logged) / n_pairs) / p_r, 0.0, 1.0)
        return self

    def predict(self, ratings) -> np.ndarray:
        """Propensity of each observed rating, shape (n,)."""
        check_is_fitted(self)
        r = _ratings(ratings, "ratings", self.rating_values_)
        return self.propensity_by_rating_[np.searchsorted(self.rating_values_, r)]


def _ratings(ratings, name: str, values) -> np.ndarray:
    r = check_finite_1d(pd.Series(ratings).to_numpy(dtype=float), name)
    if not np.isin(r, values).all():
        raise ValueError(f"{name} holds values outside {list(values)}, e.g. {r[~np.isin(r, values)][0]!r}")
    return r


def calibration_table(estimated, true, *, bins: int = 10) -> pd.DataFrame:
    """Mean estimated and mean true propensity in quantile bins of the estimate (one row per bin).

    >>> t = calibration_table([0.1, 0.2, 0.8, 0.9], [0.1, 0.2, 0.8, 0.9], bins=2)
    >>> t[["estimated", "true"]].round(2).values.tolist()
    [[0.15, 0.15], [0.85, 0.85]]
    """
    if (est := check_propensity(estimated, "estimated")).shape != (tru := check_propensity(true, "true")).shape:
        raise ValueError(f"estimated and true must have the same shape, got {est.shape} and {tru.shape}")
    labels = np.empty(len(est), dtype=np.int64)
    labels[np.argsort(est, kind="stable")] = np.arange(len(est)) * check_positive_int(bins, "bins") // len(est)
    frame = pd.DataFrame({"bin": labels, "estimated": est, "true": tru}).groupby("bin")
    return frame.agg(estimated=("estimated", "mean"), true=("true", "mean"), count=("true", "size")).reset_index()
