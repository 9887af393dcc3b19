r"""Evaluation metrics: pointwise errors, classification scores, top-k ranking
quality and two beyond-accuracy measures.

Every function returns a plain Python ``float`` (``evaluate_ranking`` returns a
dict of them) and validates its inputs, naming the bad argument, column or value.

**Pointwise metrics** take arrays (lists, numpy arrays, pandas Series) of equal
length: :func:`mse`, :func:`mae`, :func:`rmse` for ratings, and :func:`accuracy`,
:func:`precision_recall_f1`, :func:`auc` for binary outcomes such as purchases.
Each accepts ``sample_weight``. A weighted metric is the weighted mean
:math:`\sum_i w_i \ell_i / \sum_i w_i`; with inverse-propensity weights
:math:`w_i = 1 / p_i` this is the self-normalised IPS estimate of the metric
under uniform exposure.

**Ranking metrics** (:func:`precision_at_k`, :func:`recall_at_k`,
:func:`f1_at_k`, :func:`ndcg_at_k`, :func:`map_at_k`, :func:`hit_rate_at_k`,
and :func:`evaluate_ranking` for all of them at once) take two DataFrames, in
the style of Microsoft Recommenders, with column names from
:mod:`causalrec.schema`:

``recommendations``
    one row per recommended (user, item) pair: ``user_id``, ``item_id`` and
    either ``score`` (higher is better) or ``rank`` (1 is the top). When both
    are present, ``rank`` is used: it is the order the recommender committed
    to. A pair may appear only once.
``relevant``
    one row per relevant (user, item) pair: ``user_id``, ``item_id`` and,
    optionally, a graded relevance column (such as ``rating``) named by
    ``relevance_col``. A pair may appear only once.

The conventions, the same for every ranking metric:

* **Order and ties.** Each user's list is sorted by score, descending (or by
  rank, ascending); ties are broken by item id, ascending. The order is
  therefore a function of the rows' content, never of their order in the frame.
* **Relevant items.** Without ``relevance_col`` every row of ``relevant`` is a
  relevant item with relevance 1. With it, the column must be non-negative;
  rows with relevance 0 are not relevant (they count for no metric) and the
  others are relevant, with their value as NDCG's gain. To use a threshold
  (say, ratings of 4 or more), filter ``relevant`` first.
* **Which users count.** Metrics are averaged over the users with at least one
  relevant item. Such a user with no recommendations scores 0 on every metric
  (a recommender may not skip hard users). Users who appear only in
  ``recommendations`` do not count: without a relevant item, recall and NDCG
  are undefined. Microsoft Recommenders instead averages over the users
  present in both frames; to reproduce it, keep only those users in
  ``relevant`` first.
* **Gain.** NDCG uses linear gain (gain = relevance) and the discount
  :math:`1 / \log_2(1 + \text{position})`, as scikit-learn's ``ndcg_score``
  does. For the exponential gain :math:`2^{rel} - 1`, pass a column holding it.

**Beyond accuracy**: :func:`catalogue_coverage` (share of the catalogue
recommended at least once) and :func:`mean_popularity` (how popular the
recommended items are), both optionally on each user's top ``k``.

**Fairness and diversity** (chapter 12): :func:`position_weight`,
:func:`exposure_by_group` and :func:`exposure_gap` (position-weighted exposure
per item group against a reference share), :func:`ranking_metrics_by_group`
(accuracy per user group or item group) and :func:`intra_list_diversity`.

Use them as ``cr.metrics.ndcg_at_k(...)`` after ``import causalrec as cr``.
"""

from __future__ import annotations

import numbers
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from . import schema
from ._checks import (
    check_binary,
    check_dataframe,
    check_finite_1d,
    check_id_column,
    check_numeric_column,
    check_positive_int,
)

__all__ = [
    "mse",
    "mae",
    "rmse",
    "accuracy",
    "precision_recall_f1",
    "PrecisionRecallF1",
    "auc",
    "precision_at_k",
    "recall_at_k",
    "f1_at_k",
    "ndcg_at_k",
    "map_at_k",
    "hit_rate_at_k",
    "ranking_metrics_by_user",
    "evaluate_ranking",
    "catalogue_coverage",
    "mean_popularity",
    "position_weight",
    "exposure_by_group",
    "exposure_gap",
    "ranking_metrics_by_group",
    "intra_list_diversity",
]

RANKING_METRICS = ("precision_at_k", "recall_at_k", "f1_at_k", "ndcg_at_k", "map_at_k",
                   "hit_rate_at_k")

# --------------------------------------------------------------------------------------
# Array checks for the pointwise metrics
# --------------------------------------------------------------------------------------


def _as_float_array(values, name: str) -> np.ndarray:
    """``values`` as a finite, non-empty 1-D float array, or an error naming ``name``."""
    if isinstance(values, (pd.DataFrame,)):
        raise ValueError(f"{name} must be one-dimensional (an array or Series), got a DataFrame "
                         f"of shape {values.shape}")
    if isinstance(values, (pd.Series, pd.Index)):
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise ValueError(f"{name} must be numeric, got dtype {values.dtype}")
        arr = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        arr = np.asarray(values)
        if arr.dtype == bool:
            arr = arr.astype(float)
        elif not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(float)
    return check_finite_1d(arr, name)


def _as_binary_array(values, name: str) -> np.ndarray:
    return check_binary(_as_float_array(values, name), name).astype(float)


def _check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{name_a} and {name_b} must have the same length, got "
                         f"{a.shape[0]} and {b.shape[0]}")


def _weights(sample_weight, n: int, other: str) -> np.ndarray:
    """Validated weights (ones when ``sample_weight`` is None) for ``n`` values."""
    if sample_weight is None:
        return np.ones(n)
    w = _as_float_array(sample_weight, "sample_weight")
    if w.shape[0] != n:
        raise ValueError(f"sample_weight and {other} must have the same length, got "
                         f"{w.shape[0]} and {n}")
    if (w < 0).any():
        first = int(np.flatnonzero(w < 0)[0])
        raise ValueError(f"sample_weight must be non-negative; found {w[first]} at position "
                         f"{first}")
    if w.sum() <= 0:
        raise ValueError("sample_weight sums to 0: at least one weight must be positive")
    return w


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
            or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return float(threshold)


def _pair(y_true, y_pred, name_pred: str, sample_weight):
    y = _as_float_array(y_true, "y_true")
    p = _as_float_array(y_pred, name_pred)
    _check_same_length(y, p, "y_true", name_pred)
    return y, p, _weights(sample_weight, y.shape[0], "y_true")


# --------------------------------------------------------------------------------------
# Pointwise metrics
# --------------------------------------------------------------------------------------


def mse(y_true, y_pred, *, sample_weight=None) -> float:
    r"""Mean squared error.

    .. math:: \mathrm{MSE} = \frac{\sum_i w_i (y_i - \hat y_i)^2}{\sum_i w_i}

    with :math:`w_i = 1` unless ``sample_weight`` is given.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Observed and predicted values (for example ratings on the 1-5 scale).
    sample_weight : array-like of shape (n,), optional
        Non-negative weights, for example inverse exposure propensities (IPS).

    Returns
    -------
    float
        In squared units of ``y``.

    Examples
    --------
    >>> round(mse([3, 4, 5], [2.5, 4, 4]), 3)
    0.417
    >>> round(mse([3, 4, 5], [2.5, 4, 4], sample_weight=[2, 1, 1]), 3)
    0.375
    """
    y, p, w = _pair(y_true, y_pred, "y_pred", sample_weight)
    return float(np.sum(w * (y - p) ** 2) / np.sum(w))


def mae(y_true, y_pred, *, sample_weight=None) -> float:
    r"""Mean absolute error.

    .. math:: \mathrm{MAE} = \frac{\sum_i w_i \lvert y_i - \hat y_i \rvert}{\sum_i w_i}

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Observed and predicted values.
    sample_weight : array-like of shape (n,), optional
        Non-negative weights, for example inverse exposure propensities (IPS).

    Returns
    -------
    float
        In the units of ``y``.

    Examples
    --------
    >>> round(mae([3, 4, 5], [2.5, 4, 4]), 3)
    0.5
    """
    y, p, w = _pair(y_true, y_pred, "y_pred", sample_weight)
    return float(np.sum(w * np.abs(y - p)) / np.sum(w))


def rmse(y_true, y_pred, *, sample_weight=None) -> float:
    r"""Root mean squared error, :math:`\sqrt{\mathrm{MSE}}` (see :func:`mse`).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Observed and predicted values.
    sample_weight : array-like of shape (n,), optional
        Non-negative weights, for example inverse exposure propensities (IPS).

    Returns
    -------
    float
        In the units of ``y``.

    Examples
    --------
    >>> round(rmse([3, 4, 5], [2, 4, 4]), 3)
    0.816
    """
    return float(np.sqrt(mse(y_true, y_pred, sample_weight=sample_weight)))


def _predicted_labels(y_true, y_pred_or_prob, threshold, sample_weight):
    y = _as_binary_array(y_true, "y_true")
    p = _as_float_array(y_pred_or_prob, "y_pred_or_prob")
    _check_same_length(y, p, "y_true", "y_pred_or_prob")
    w = _weights(sample_weight, y.shape[0], "y_true")
    labels = (p >= _check_threshold(threshold)).astype(float)
    return y, labels, w


def accuracy(y_true, y_pred_or_prob, *, threshold=0.5, sample_weight=None) -> float:
    r"""Share of binary outcomes predicted correctly.

    A prediction is positive when ``y_pred_or_prob >= threshold``, so 0/1
    labels and probabilities both work with the default threshold of 0.5.

    .. math::

        \hat y_i = [\,p_i \ge t\,], \qquad
        \mathrm{accuracy} = \frac{\sum_i w_i [\,\hat y_i = y_i\,]}{\sum_i w_i}

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcomes, 0 or 1 (for example, purchased or not).
    y_pred_or_prob : array-like of shape (n,)
        Predicted labels (0/1), probabilities, or any scores compared with
        ``threshold``.
    threshold : float, default 0.5
        Scores at or above it are predicted positive.
    sample_weight : array-like of shape (n,), optional
        Non-negative weights, for example inverse exposure propensities (IPS).

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> round(accuracy([1, 0, 1, 1], [0.9, 0.6, 0.4, 0.8]), 3)
    0.5
    >>> round(accuracy([1, 0, 1, 1], [0.9, 0.6, 0.4, 0.8], threshold=0.3), 3)
    0.75
    """
    y, labels, w = _predicted_labels(y_true, y_pred_or_prob, threshold, sample_weight)
    return float(np.sum(w * (labels == y)) / np.sum(w))


class PrecisionRecallF1(NamedTuple):
    """Precision, recall and F1 of binary predictions (each a float in [0, 1])."""

    precision: float
    recall: float
    f1: float


def precision_recall_f1(y_true, y_pred_or_prob, *, threshold=0.5,
                        sample_weight=None) -> PrecisionRecallF1:
    r"""Precision, recall and F1 of binary predictions, such as "will buy".

    With predictions :math:`\hat y_i = [\,p_i \ge t\,]` and weighted counts
    :math:`TP = \sum_i w_i \hat y_i y_i`, :math:`FP = \sum_i w_i \hat y_i (1 - y_i)`,
    :math:`FN = \sum_i w_i (1 - \hat y_i) y_i`:

    .. math::

        \mathrm{precision} = \frac{TP}{TP + FP}, \qquad
        \mathrm{recall} = \frac{TP}{TP + FN}, \qquad
        F_1 = \frac{2\,\mathrm{precision}\cdot\mathrm{recall}}{\mathrm{precision} + \mathrm{recall}}

    A ratio whose denominator is 0 (no predicted positives, no actual
    positives) is defined as 0, as scikit-learn does with ``zero_division=0``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcomes, 0 or 1.
    y_pred_or_prob : array-like of shape (n,)
        Predicted labels (0/1), probabilities, or scores compared with ``threshold``.
    threshold : float, default 0.5
        Scores at or above it are predicted positive.
    sample_weight : array-like of shape (n,), optional
        Non-negative weights.

    Returns
    -------
    PrecisionRecallF1
        A named tuple ``(precision, recall, f1)``.

    Examples
    --------
    >>> result = precision_recall_f1([1, 0, 1, 1], [0.9, 0.6, 0.4, 0.8])
    >>> round(result.precision, 3), round(result.recall, 3), round(result.f1, 3)
    (0.667, 0.667, 0.667)
    """
    y, labels, w = _predicted_labels(y_true, y_pred_or_prob, threshold, sample_weight)
    tp = float(np.sum(w * labels * y))
    predicted = float(np.sum(w * labels))
    actual = float(np.sum(w * y))
    precision = tp / predicted if predicted > 0 else 0.0
    recall = tp / actual if actual > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return PrecisionRecallF1(precision, recall, f1)


def auc(y_true, scores, *, sample_weight=None) -> float:
    r"""Area under the ROC curve: the chance that a positive outranks a negative.

    .. math::

        \mathrm{AUC} = \frac{\sum_{i: y_i = 1} \sum_{j: y_j = 0} w_i w_j
        \left([\,s_i > s_j\,] + \tfrac12 [\,s_i = s_j\,]\right)}
        {\sum_{i: y_i = 1} w_i \; \sum_{j: y_j = 0} w_j}

    Ties count one half, so the value equals scikit-learn's
    ``roc_auc_score`` (with the same ``sample_weight``). The computation sorts
    once: :math:`O(n \log n)`, not a loop over pairs.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcomes, 0 or 1; both classes must be present (with positive
        total weight).
    scores : array-like of shape (n,)
        Any real scores; only their order matters.
    sample_weight : array-like of shape (n,), optional
        Non-negative weights, for example inverse exposure propensities (IPS).

    Returns
    -------
    float
        In [0, 1]; 0.5 for scores unrelated to the outcome.

    Examples
    --------
    >>> round(auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 3)
    0.75
    >>> round(auc([0, 1, 1], [0.2, 0.2, 0.9]), 3)
    0.75
    """
    y = _as_binary_array(y_true, "y_true")
    s = _as_float_array(scores, "scores")
    _check_same_length(y, s, "y_true", "scores")
    w = _weights(sample_weight, y.shape[0], "y_true")
    pos_w = w * y
    neg_w = w * (1.0 - y)
    total_pos, total_neg = pos_w.sum(), neg_w.sum()
    if total_pos <= 0 or total_neg <= 0:
        n_pos, n_neg = int(y.sum()), int((1 - y).sum())
        detail = f"{n_pos} positive(s) and {n_neg} negative(s)"
        if sample_weight is not None:
            detail += f", with total sample_weight {total_pos:g} and {total_neg:g}"
        raise ValueError(f"auc is undefined unless y_true holds both classes; it has {detail}")
    distinct, group = np.unique(s, return_inverse=True)
    pos_at = np.bincount(group, weights=pos_w, minlength=distinct.size)
    neg_at = np.bincount(group, weights=neg_w, minlength=distinct.size)
    neg_below = np.cumsum(neg_at) - neg_at
    value = np.sum(pos_at * (neg_below + 0.5 * neg_at)) / (total_pos * total_neg)
    return float(np.clip(value, 0.0, 1.0))  # rounding can overshoot by an ulp


# --------------------------------------------------------------------------------------
# Ranking metrics
# --------------------------------------------------------------------------------------


def _order_column(recommendations: pd.DataFrame, name: str) -> str:
    if schema.RANK in recommendations.columns:
        return schema.RANK
    if schema.SCORE in recommendations.columns:
        return schema.SCORE
    raise ValueError(f"{name} needs a {schema.SCORE!r} or a {schema.RANK!r} column to order each "
                     f"user's items; it has {list(recommendations.columns)}")


def _check_unique_pairs(df: pd.DataFrame, name: str) -> None:
    duplicated = df.duplicated([schema.USER, schema.ITEM]).to_numpy()
    if duplicated.any():
        user = _plain(df[schema.USER].to_numpy()[duplicated][0])
        item = _plain(df[schema.ITEM].to_numpy()[duplicated][0])
        raise ValueError(
            f"{name} lists {int(duplicated.sum())} (user, item) pair(s) more than once, e.g. "
            f"{schema.USER}={user!r}, {schema.ITEM}={item!r}; each pair may appear only once")


def _plain(value):
    """A numpy scalar as the Python scalar it holds, for readable messages."""
    return value.item() if isinstance(value, np.generic) else value


def _check_recommendations(recommendations, name: str = "recommendations") -> str:
    """Validate ``recommendations``; return the column that orders each user's list."""
    check_dataframe(recommendations, name, (schema.USER, schema.ITEM))
    check_id_column(recommendations, schema.USER, name)
    check_id_column(recommendations, schema.ITEM, name)
    order = _order_column(recommendations, name)
    check_numeric_column(recommendations, order, name)
    _check_unique_pairs(recommendations, name)
    return order


def _run_starts(sorted_codes: np.ndarray) -> np.ndarray:
    """For each row of an array sorted by group code, the index of its group's first row."""
    n = sorted_codes.shape[0]
    is_start = np.ones(n, dtype=bool)
    is_start[1:] = sorted_codes[1:] != sorted_codes[:-1]
    return np.maximum.accumulate(np.where(is_start, np.arange(n), 0))


def _list_order(user_codes: np.ndarray, item_codes: np.ndarray, key: np.ndarray,
                ascending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row order that sorts each user's list, and the 1-based position of each sorted row.

    Sorted by user, then ``key`` (descending unless ``ascending``), then item code.
    Item codes come from a sorted factorisation, so ties go to the smaller item
    id. Since (user, item) pairs are unique this is a total order: the result
    does not depend on the row order of the input.
    """
    order = np.lexsort((item_codes, key if ascending else -key, user_codes))
    sorted_users = user_codes[order]
    position = np.arange(order.shape[0]) - _run_starts(sorted_users) + 1
    return order, position


def _top_k(recommendations: pd.DataFrame, k: int, order: str) -> pd.DataFrame:
    """The rows of each user's top ``k`` (for the beyond-accuracy metrics)."""
    users, _ = pd.factorize(recommendations[schema.USER], sort=True)
    items, _ = pd.factorize(recommendations[schema.ITEM], sort=True)
    key = recommendations[order].to_numpy(dtype=float)
    rows, position = _list_order(users, items, key, ascending=order == schema.RANK)
    return recommendations.iloc[rows[position <= k]]


def _relevant_gains(relevant, relevance_col) -> pd.DataFrame:
    """Validated ``relevant`` as (USER, ITEM, _gain), keeping only positive gains."""
    required = [schema.USER, schema.ITEM]
    if relevance_col is not None:
        required.append(relevance_col)
    check_dataframe(relevant, "relevant", required)
    check_id_column(relevant, schema.USER, "relevant")
    check_id_column(relevant, schema.ITEM, "relevant")
    _check_unique_pairs(relevant, "relevant")
    gains = relevant[[schema.USER, schema.ITEM]].copy()
    if relevance_col is None:
        gains["_gain"] = 1.0
        return gains
    check_numeric_column(relevant, relevance_col, "relevant")
    values = relevant[relevance_col].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"column {relevance_col!r} of relevant holds infinite value(s)")
    if (values < 0).any():
        raise ValueError(f"column {relevance_col!r} of relevant must be non-negative; found "
                         f"{values[values < 0][:3].tolist()}")
    gains["_gain"] = values
    gains = gains.loc[values > 0]
    if gains.empty:
        raise ValueError(f"relevant has no row with positive {relevance_col!r}: no user has a "
                         "relevant item to evaluate")
    return gains


def _check_matching_ids(recommendations: pd.DataFrame, relevant: pd.DataFrame) -> None:
    """Numbers never equal strings: ids of different kinds would silently never match."""
    for column in (schema.USER, schema.ITEM):
        a, b = recommendations[column], relevant[column]
        if pd.api.types.is_numeric_dtype(a) != pd.api.types.is_numeric_dtype(b):
            raise ValueError(
                f"the {column!r} columns of recommendations and relevant cannot be matched: "
                f"dtypes {a.dtype} and {b.dtype}; convert one so that the ids compare equal")


def ranking_metrics_by_user(recommendations, relevant, k: int = 10, *,
                            relevance_col: str | None = None) -> pd.DataFrame:
    r"""Every ranking metric for every user with at least one relevant item.

    The ranking metrics (:func:`precision_at_k` and the others) are the means of
    these columns; the per-user values are what a fairness comparison between
    user groups needs. The module docstring states the conventions (order,
    ties, relevant items, which users count).

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    relevant : DataFrame
        Columns ``user_id``, ``item_id`` and, optionally, ``relevance_col``.
    k : int, default 10
        Length of the list that is evaluated (each user's top ``k``).
    relevance_col : str, optional
        Column of ``relevant`` holding graded, non-negative relevance.

    Returns
    -------
    DataFrame
        Indexed by ``user_id`` (sorted), one row per user with a relevant
        item; columns ``n_relevant``, ``hits`` (relevant items in the top
        ``k``) and the six metrics ``precision_at_k``, ``recall_at_k``,
        ``f1_at_k``, ``ndcg_at_k``, ``map_at_k``, ``hit_rate_at_k``.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 11],
    ...                      "score": [0.9, 0.2, 0.3, 0.6]})
    >>> rel = pd.DataFrame({"user_id": [1, 2], "item_id": [10, 10]})
    >>> ranking_metrics_by_user(recs, rel, k=2)[["hits", "ndcg_at_k"]].round(3)
             hits  ndcg_at_k
    user_id
    1           1      1.000
    2           1      0.631
    """
    k = check_positive_int(k, "k")
    order_col = _check_recommendations(recommendations)
    gains = _relevant_gains(relevant, relevance_col)
    _check_matching_ids(recommendations, gains)

    # Integer codes shared by both frames; sort=True keeps user ids sorted in the
    # output and makes item codes follow item ids (the tie-break).
    n_recs = len(recommendations)
    users, user_ids = pd.factorize(
        pd.concat([recommendations[schema.USER], gains[schema.USER]], ignore_index=True), sort=True)
    items, item_ids = pd.factorize(
        pd.concat([recommendations[schema.ITEM], gains[schema.ITEM]], ignore_index=True), sort=True)
    n_users, n_items = len(user_ids), len(item_ids)
    rec_user, rel_user = users[:n_recs], users[n_recs:]
    rec_item, rel_item = items[:n_recs], items[n_recs:]
    rel_gain = gains["_gain"].to_numpy(dtype=float)

    # Each user's top k, sorted by user then position.
    key = recommendations[order_col].to_numpy(dtype=float)
    rows, position = _list_order(rec_user, rec_item, key, ascending=order_col == schema.RANK)
    in_top = position <= k
    top_user, top_item, top_pos = rec_user[rows][in_top], rec_item[rows][in_top], position[in_top]

    # Gain of each listed item: look its (user, item) pair up among the relevant ones.
    rel_pair = rel_user.astype(np.int64) * n_items + rel_item
    by_pair = np.argsort(rel_pair)
    top_pair = top_user.astype(np.int64) * n_items + top_item
    found_at = np.minimum(np.searchsorted(rel_pair[by_pair], top_pair), len(rel_pair) - 1)
    hit = rel_pair[by_pair][found_at] == top_pair
    gain = np.where(hit, rel_gain[by_pair][found_at], 0.0)

    # Hits among the first i items of each list, for the precision at each hit.
    hits_so_far = np.cumsum(hit)
    starts = _run_starts(top_user)
    hits_so_far = hits_so_far - (hits_so_far[starts] - hit[starts])
    hits = np.bincount(top_user, weights=hit, minlength=n_users)
    dcg = np.bincount(top_user, weights=gain / np.log2(top_pos + 1.0), minlength=n_users)
    ap_sum = np.bincount(top_user, weights=np.where(hit, hits_so_far / top_pos, 0.0),
                         minlength=n_users)

    # The ideal list: each user's relevant items by gain, descending.
    ideal = np.lexsort((-rel_gain, rel_user))
    ideal_user = rel_user[ideal]
    ideal_pos = np.arange(ideal.shape[0]) - _run_starts(ideal_user) + 1
    idcg = np.bincount(ideal_user, minlength=n_users,
                       weights=np.where(ideal_pos <= k, rel_gain[ideal] / np.log2(ideal_pos + 1.0),
                                        0.0))
    n_relevant = np.bincount(rel_user, minlength=n_users)

    counted = n_relevant > 0
    listed = np.bincount(top_user, minlength=n_users) > 0
    if not (counted & listed).any():
        warnings.warn(
            f"none of the {int(counted.sum())} user(s) in relevant has a row in recommendations, "
            f"so every ranking metric is 0; check that the {schema.USER!r} columns hold the same "
            f"ids (dtypes {recommendations[schema.USER].dtype} and {relevant[schema.USER].dtype})",
            UserWarning, stacklevel=2)
    n_rel = n_relevant[counted].astype(float)
    hits = hits[counted]
    return pd.DataFrame({
        "n_relevant": n_relevant[counted],
        "hits": hits.astype(np.int64),
        "precision_at_k": hits / k,
        "recall_at_k": hits / n_rel,
        "f1_at_k": 2.0 * hits / (k + n_rel),
        "ndcg_at_k": dcg[counted] / idcg[counted],
        "map_at_k": ap_sum[counted] / np.minimum(k, n_rel),
        "hit_rate_at_k": (hits > 0).astype(float),
    }, index=pd.Index(user_ids[counted], name=schema.USER))


def _mean_metric(name, recommendations, relevant, k, relevance_col) -> float:
    per_user = ranking_metrics_by_user(recommendations, relevant, k, relevance_col=relevance_col)
    return float(per_user[name].mean())


_RANKING_EXAMPLE = """
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2],
    ...                      "item_id": [10, 11, 12, 10, 11, 12],
    ...                      "score": [0.9, 0.8, 0.1, 0.3, 0.2, 0.7]})
    >>> rel = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 12, 10]})"""


def precision_at_k(recommendations, relevant, k: int = 10, *,
                   relevance_col: str | None = None) -> float:
    r"""Precision at k: the share of each user's top ``k`` that is relevant.

    .. math::

        P@k = \frac{1}{|U|} \sum_{u \in U} \frac{|\mathrm{top}_k(u) \cap R_u|}{k}

    :math:`U` are the users with at least one relevant item, :math:`R_u`
    user *u*'s relevant items. The denominator is ``k`` even when fewer than
    ``k`` items were recommended or fewer than ``k`` are relevant, so a perfect
    ranking scores :math:`\min(k, |R_u|) / k`. Conventions (ties, which users
    count) are in the module docstring.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` (higher is better) or
        ``rank`` (1 is the top).
    relevant : DataFrame
        Columns ``user_id``, ``item_id`` and, optionally, ``relevance_col``.
    k : int, default 10
        Length of the evaluated list.
    relevance_col : str, optional
        Column of ``relevant`` with non-negative graded relevance; rows where
        it is 0 are not relevant.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------%s
    >>> round(precision_at_k(recs, rel, k=2), 3)
    0.5
    """
    return _mean_metric("precision_at_k", recommendations, relevant, k, relevance_col)


def recall_at_k(recommendations, relevant, k: int = 10, *,
                relevance_col: str | None = None) -> float:
    r"""Recall at k: the share of each user's relevant items found in the top ``k``.

    .. math::

        R@k = \frac{1}{|U|} \sum_{u \in U} \frac{|\mathrm{top}_k(u) \cap R_u|}{|R_u|}

    A perfect ranking scores :math:`\min(k, |R_u|) / |R_u|`, below 1 when a
    user has more than ``k`` relevant items. Parameters and conventions as in
    :func:`precision_at_k`.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    relevant : DataFrame
        Columns ``user_id``, ``item_id`` and, optionally, ``relevance_col``.
    k : int, default 10
        Length of the evaluated list.
    relevance_col : str, optional
        Column of ``relevant`` with non-negative graded relevance.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------%s
    >>> round(recall_at_k(recs, rel, k=2), 3)
    0.75
    """
    return _mean_metric("recall_at_k", recommendations, relevant, k, relevance_col)


def f1_at_k(recommendations, relevant, k: int = 10, *,
            relevance_col: str | None = None) -> float:
    r"""F1 at k: the harmonic mean of each user's P@k and R@k, averaged over users.

    .. math::

        F_1@k = \frac{1}{|U|} \sum_{u \in U}
        \frac{2\, P_u R_u}{P_u + R_u}
        = \frac{1}{|U|} \sum_{u \in U} \frac{2\, |\mathrm{top}_k(u) \cap R_u|}{k + |R_u|}

    (0 for a user without hits). It is the mean of per-user F1, not the
    harmonic mean of the averaged precision and recall. Parameters and
    conventions as in :func:`precision_at_k`.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    relevant : DataFrame
        Columns ``user_id``, ``item_id`` and, optionally, ``relevance_col``.
    k : int, default 10
        Length of the evaluated list.
    relevance_col : str, optional
        Column of ``relevant`` with non-negative graded relevance.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------%s
    >>> round(f1_at_k(recs, rel, k=2), 3)
    0.583
    """
    return _mean_metric("f1_at_k", recommendations, relevant, k, relevance_col)


def ndcg_at_k(recommendations, relevant, k: int = 10, *,
              relevance_col: str | None = None) -> float:
    r"""Normalised discounted cumulative gain at k, with linear gain.

    .. math::

        \mathrm{DCG}_u@k = \sum_{i=1}^{k} \frac{g_u(i)}{\log_2(i + 1)}, \qquad
        \mathrm{NDCG}@k = \frac{1}{|U|} \sum_{u \in U}
        \frac{\mathrm{DCG}_u@k}{\mathrm{IDCG}_u@k}

    :math:`g_u(i)` is the relevance of the item at position *i* of user *u*'s
    list (1 for a row of ``relevant`` when there is no ``relevance_col``, 0
    for an item not in ``relevant``); :math:`\mathrm{IDCG}_u@k` is the DCG of
    the best possible list, user *u*'s relevant items sorted by relevance.
    The gain is linear (gain = relevance), as in scikit-learn's
    ``ndcg_score``, with which the result agrees when every user's list covers
    all items and has no tied scores. For the exponential gain
    :math:`2^{rel} - 1`, put it in a column and pass that column. A perfect
    ranking scores 1. Other conventions as in :func:`precision_at_k`.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    relevant : DataFrame
        Columns ``user_id``, ``item_id`` and, optionally, ``relevance_col``.
    k : int, default 10
        Length of the evaluated list.
    relevance_col : str, optional
        Column of ``relevant`` with non-negative graded relevance (the gain).

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------%s
    >>> round(ndcg_at_k(recs, rel, k=2), 3)
    0.622
    >>> graded = rel.assign(rating=[5, 3, 4])
    >>> round(ndcg_at_k(recs, graded, k=2, relevance_col="rating"), 3)
    0.678
    """
    return _mean_metric("ndcg_at_k", recommendations, relevant, k, relevance_col)


def map_at_k(recommendations, relevant, k: int = 10, *,
             relevance_col: str | None = None) -> float:
    r"""Mean average precision at k.

    .. math::

        \mathrm{AP}_u@k = \frac{1}{\min(k, |R_u|)} \sum_{i=1}^{k} P_u@i \cdot \mathrm{rel}_u(i),
        \qquad \mathrm{MAP}@k = \frac{1}{|U|} \sum_{u \in U} \mathrm{AP}_u@k

    :math:`\mathrm{rel}_u(i)` is 1 when the item at position *i* is relevant
    and :math:`P_u@i` the precision of the first *i* items. Dividing by
    :math:`\min(k, |R_u|)` makes a perfect ranking score 1. Graded relevance
    only decides which items are relevant (positive). Other conventions as in
    :func:`precision_at_k`.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    relevant : DataFrame
        Columns ``user_id``, ``item_id`` and, optionally, ``relevance_col``.
    k : int, default 10
        Length of the evaluated list.
    relevance_col : str, optional
        Column of ``relevant`` with non-negative graded relevance.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------%s
    >>> round(map_at_k(recs, rel, k=2), 3)
    0.5
    """
    return _mean_metric("map_at_k", recommendations, relevant, k, relevance_col)


def hit_rate_at_k(recommendations, relevant, k: int = 10, *,
                  relevance_col: str | None = None) -> float:
    r"""Hit rate at k: the share of users with at least one relevant item in the top ``k``.

    .. math::

        \mathrm{HR}@k = \frac{1}{|U|} \sum_{u \in U}
        [\, |\mathrm{top}_k(u) \cap R_u| > 0 \,]

    Parameters and conventions as in :func:`precision_at_k`.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    relevant : DataFrame
        Columns ``user_id``, ``item_id`` and, optionally, ``relevance_col``.
    k : int, default 10
        Length of the evaluated list.
    relevance_col : str, optional
        Column of ``relevant`` with non-negative graded relevance.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------%s
    >>> round(hit_rate_at_k(recs, rel, k=1), 3)
    0.5
    """
    return _mean_metric("hit_rate_at_k", recommendations, relevant, k, relevance_col)


for _func in (precision_at_k, recall_at_k, f1_at_k, ndcg_at_k, map_at_k, hit_rate_at_k):
    if _func.__doc__:  # docstrings are None under python -OO
        _func.__doc__ = _func.__doc__ % _RANKING_EXAMPLE
del _func


def evaluate_ranking(recommendations, relevant, k: int = 10, *,
                     relevance_col: str | None = None, n_items: int | None = None,
                     item_popularity=None) -> dict:
    """All ranking metrics at once (one pass over the data).

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    relevant : DataFrame
        Columns ``user_id``, ``item_id`` and, optionally, ``relevance_col``.
    k : int, default 10
        Length of the evaluated list.
    relevance_col : str, optional
        Column of ``relevant`` with non-negative graded relevance.
    n_items : int, optional
        Catalogue size; when given, ``catalogue_coverage`` of the top ``k``
        is added.
    item_popularity : Series or DataFrame, optional
        When given, ``mean_popularity`` of the top ``k`` is added (see
        :func:`mean_popularity`).

    Returns
    -------
    dict
        ``{"precision_at_k": float, "recall_at_k": ..., "f1_at_k": ...,
        "ndcg_at_k": ..., "map_at_k": ..., "hit_rate_at_k": ...,
        "n_users": int}``, where ``n_users`` is the number of users averaged
        over, plus the optional entries. Each metric equals the function of
        the same name.

    Examples
    --------%s
    >>> result = evaluate_ranking(recs, rel, k=2)
    >>> {name: round(value, 3) for name, value in result.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'precision_at_k': 0.5, 'recall_at_k': 0.75, 'f1_at_k': 0.583, 'ndcg_at_k': 0.622,
     'map_at_k': 0.5, 'hit_rate_at_k': 1.0, 'n_users': 2}
    """
    per_user = ranking_metrics_by_user(recommendations, relevant, k, relevance_col=relevance_col)
    result = {name: float(per_user[name].mean()) for name in RANKING_METRICS}
    result["n_users"] = int(len(per_user))
    if n_items is not None:
        result["catalogue_coverage"] = catalogue_coverage(recommendations, n_items, k=k)
    if item_popularity is not None:
        result["mean_popularity"] = mean_popularity(recommendations, item_popularity, k=k)
    return result


if evaluate_ranking.__doc__:
    evaluate_ranking.__doc__ = evaluate_ranking.__doc__ % _RANKING_EXAMPLE


# --------------------------------------------------------------------------------------
# Beyond accuracy
# --------------------------------------------------------------------------------------


def _recommended_rows(recommendations, k) -> pd.DataFrame:
    """Validated recommendations, cut to each user's top ``k`` when ``k`` is given."""
    if k is None:
        check_dataframe(recommendations, "recommendations", (schema.USER, schema.ITEM))
        check_id_column(recommendations, schema.USER, "recommendations")
        check_id_column(recommendations, schema.ITEM, "recommendations")
        _check_unique_pairs(recommendations, "recommendations")
        return recommendations
    k = check_positive_int(k, "k")
    order = _check_recommendations(recommendations)
    return _top_k(recommendations, k, order)


def catalogue_coverage(recommendations, n_items: int, *, k: int | None = None) -> float:
    r"""Share of the catalogue recommended to at least one user.

    .. math::

        \mathrm{coverage} = \frac{\left|\bigcup_u L_u\right|}{n_\text{items}}

    where :math:`L_u` is user *u*'s list (its top ``k`` if ``k`` is given).
    A recommender that shows everybody the same bestsellers has low coverage.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` (and ``score`` or ``rank`` when ``k``
        is given).
    n_items : int
        Number of items in the catalogue.
    k : int, optional
        Count only each user's top ``k`` (ties broken by item id).

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 12],
    ...                      "score": [0.9, 0.5, 0.8, 0.7]})
    >>> round(catalogue_coverage(recs, n_items=6), 3)
    0.5
    >>> round(catalogue_coverage(recs, n_items=6, k=1), 3)
    0.167
    """
    n_items = check_positive_int(n_items, "n_items")
    rows = _recommended_rows(recommendations, k)
    n_distinct = int(rows[schema.ITEM].nunique())
    if n_distinct > n_items:
        raise ValueError(f"recommendations hold {n_distinct} distinct items, more than "
                         f"n_items={n_items}; n_items must be the size of the whole catalogue")
    return n_distinct / n_items


def _popularity_series(item_popularity) -> pd.Series:
    if isinstance(item_popularity, pd.DataFrame):
        check_dataframe(item_popularity, "item_popularity", (schema.ITEM, schema.POPULARITY))
        check_id_column(item_popularity, schema.ITEM, "item_popularity")
        check_numeric_column(item_popularity, schema.POPULARITY, "item_popularity")
        popularity = item_popularity.set_index(schema.ITEM)[schema.POPULARITY]
    elif isinstance(item_popularity, pd.Series):
        if item_popularity.empty:
            raise ValueError("item_popularity is empty: it needs one value per item")
        popularity = item_popularity
        check_numeric_column(popularity.to_frame("popularity"), "popularity", "item_popularity")
    else:
        raise TypeError("item_popularity must be a Series indexed by item id or a DataFrame with "
                        f"columns {[schema.ITEM, schema.POPULARITY]}, got "
                        f"{type(item_popularity).__name__}")
    if not popularity.index.is_unique:
        dup = _plain(popularity.index[popularity.index.duplicated()][0])
        raise ValueError(f"item_popularity holds more than one value for item {dup!r}")
    return popularity.astype(float)


def mean_popularity(recommendations, item_popularity, *, k: int | None = None) -> float:
    r"""Mean popularity of the recommended items (average recommendation popularity).

    .. math::

        \mathrm{ARP} = \frac{1}{|U|} \sum_{u} \frac{1}{|L_u|} \sum_{i \in L_u} \phi(i)

    :math:`\phi(i)` is item *i*'s popularity (for example its past sales,
    ``items["popularity"]``) and :math:`L_u` user *u*'s list (its top ``k`` if
    ``k`` is given). Every user with recommendations counts once. A
    popularity-biased recommender scores high.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` (and ``score`` or ``rank`` when ``k``
        is given).
    item_popularity : Series or DataFrame
        Popularity per item: a Series indexed by item id, or a DataFrame with
        columns ``item_id`` and ``popularity``. Every recommended item needs a
        value.
    k : int, optional
        Count only each user's top ``k`` (ties broken by item id).

    Returns
    -------
    float
        In the units of the popularity.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10]})
    >>> popularity = pd.Series({10: 100.0, 11: 20.0, 12: 5.0})
    >>> round(mean_popularity(recs, popularity), 3)
    80.0
    """
    rows = _recommended_rows(recommendations, k)
    popularity = _popularity_series(item_popularity)
    values = rows[schema.ITEM].map(popularity)
    missing = values.isna().to_numpy()
    if missing.any():
        examples = [_plain(v) for v in pd.unique(rows.loc[missing, schema.ITEM])[:3]]
        raise ValueError(f"item_popularity has no value for {int(missing.sum())} recommended "
                         f"row(s), e.g. item(s) {examples}")
    per_user = values.groupby(rows[schema.USER].to_numpy()).mean()
    return float(per_user.mean())


# --------------------------------------------------------------------------------------
# Fairness and diversity
# --------------------------------------------------------------------------------------


def position_weight(rank) -> np.ndarray:
    r"""Exposure of a list slot: :math:`1 / \log_2(\mathrm{rank} + 1)`, NDCG's discount.

    The first slot is worth 1, the second 0.63, the tenth 0.29: people look at
    the top of a list more, so an item shown there gets more *exposure*.

    Parameters
    ----------
    rank : int or array-like of int
        1-based list positions.

    Returns
    -------
    numpy.ndarray of float
        Same shape as ``rank``.

    Examples
    --------
    >>> position_weight([1, 2, 3]).round(3)
    array([1.   , 0.631, 0.5  ])
    """
    arr = np.asarray(rank)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"rank must hold integer positions, got dtype {arr.dtype}")
    if arr.size and (not np.isfinite(arr).all() or (arr < 1).any() or (arr != np.round(arr)).any()):
        raise ValueError("rank must hold integer positions >= 1 (1 is the top of the list)")
    return 1.0 / np.log2(arr.astype(float) + 1.0)


def _ranked_rows(recommendations, k) -> tuple[pd.DataFrame, np.ndarray]:
    """Validated recommendations (each user's top ``k`` if given) and each row's 1-based position."""
    order = _check_recommendations(recommendations)
    users, _ = pd.factorize(recommendations[schema.USER], sort=True)
    items, _ = pd.factorize(recommendations[schema.ITEM], sort=True)
    key = recommendations[order].to_numpy(dtype=float)
    rows, position = _list_order(users, items, key, ascending=order == schema.RANK)
    if k is not None:
        k = check_positive_int(k, "k")
        rows, position = rows[position <= k], position[position <= k]
    return recommendations.iloc[rows], position


def _group_series(groups, name: str, what: str) -> pd.Series:
    if not isinstance(groups, pd.Series):
        raise TypeError(f"{name} must be a pandas Series mapping each {what} id to its group, "
                        f"got {type(groups).__name__}")
    if groups.empty:
        raise ValueError(f"{name} is empty: it needs a group for every {what}")
    if not groups.index.is_unique:
        dup = _plain(groups.index[groups.index.duplicated()][0])
        raise ValueError(f"{name} gives more than one group for {what} {dup!r}")
    if groups.isna().any():
        raise ValueError(f"{name} holds {int(groups.isna().sum())} missing group label(s) (NaN)")
    return groups


def _lookup_groups(ids: pd.Series, groups: pd.Series, name: str, what: str) -> np.ndarray:
    labels = ids.map(groups)
    missing = labels.isna().to_numpy()
    if missing.any():
        examples = [_plain(v) for v in pd.unique(ids[missing])[:3]]
        raise ValueError(f"{name} has no group for {int(missing.sum())} row(s), e.g. {what}(s) {examples}")
    return labels.to_numpy()


def exposure_by_group(recommendations, item_groups, *, k: int | None = None,
                      reference=None) -> pd.DataFrame:
    r"""Position-weighted exposure of each item group, against its share of the catalogue.

    Every recommended row gives its item the exposure
    :math:`w = 1 / \log_2(\mathrm{rank} + 1)` (:func:`position_weight`); a
    group's **exposure share** is its total exposure over everybody's lists
    divided by the total of all groups,

    .. math::  E_g = \frac{\sum_{u} \sum_{i \in L_u \cap g} w_{u,i}}{\sum_u \sum_{i \in L_u} w_{u,i}}.

    It is compared with a reference share: by default the group's share of
    the catalogue (equal exposure per item), or a ``reference`` such as the
    group's share of true relevance ("exposure proportional to merit",
    Singh and Joachims, 2018).

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    item_groups : Series
        Group label of every catalogue item, indexed by item id (e.g.
        ``"popular"`` / ``"long tail"``). Every recommended item needs one.
    k : int, optional
        Count only each user's top ``k``.
    reference : Series, optional
        Non-negative weight per group (indexed by group label), normalised to
        shares; replaces the catalogue shares as ``reference_share``.

    Returns
    -------
    DataFrame
        Indexed by group (sorted), columns ``exposure`` (total weight),
        ``exposure_share``, ``n_items`` (in the catalogue), ``item_share`` and
        ``reference_share``.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 12],
    ...                      "rank": [1, 2, 1, 2]})
    >>> groups = pd.Series({10: "popular", 11: "tail", 12: "tail", 13: "tail"})
    >>> exposure_by_group(recs, groups)[["exposure_share", "item_share"]].round(3)
             exposure_share  item_share
    group
    popular           0.613        0.25
    tail              0.387        0.75
    """
    groups = _group_series(item_groups, "item_groups", "item")
    rows, position = _ranked_rows(recommendations, k)
    labels = _lookup_groups(rows[schema.ITEM], groups, "item_groups", "item")
    exposure = pd.Series(position_weight(position), index=labels).groupby(level=0).sum()
    counts = groups.value_counts()
    table = pd.DataFrame({"exposure": exposure, "n_items": counts}).fillna({"exposure": 0.0})
    table = table.sort_index()
    table["exposure_share"] = table["exposure"] / table["exposure"].sum()
    table["item_share"] = table["n_items"] / table["n_items"].sum()
    if reference is None:
        table["reference_share"] = table["item_share"]
    else:
        if not isinstance(reference, pd.Series):
            raise TypeError(f"reference must be a Series of weights indexed by group, got {type(reference).__name__}")
        ref = reference.astype(float)
        unknown = [_plain(g) for g in ref.index if g not in table.index]
        missing = [_plain(g) for g in table.index if g not in ref.index]
        if unknown or missing:
            raise ValueError(f"reference must give one weight per group of item_groups {list(table.index)}; "
                             f"missing {missing}, unknown {unknown}")
        if not np.isfinite(ref).all() or (ref < 0).any() or ref.sum() <= 0:
            raise ValueError("reference weights must be finite, non-negative and not all zero")
        table["reference_share"] = ref.reindex(table.index) / ref.sum()
    table.index.name = "group"
    return table[["exposure", "exposure_share", "n_items", "item_share", "reference_share"]]


def exposure_gap(recommendations, item_groups, *, k: int | None = None, reference=None) -> float:
    r"""How far the exposure shares of item groups are from their reference shares.

    The total variation distance between the two distributions over groups,

    .. math::  \mathrm{gap} = \tfrac12 \sum_g \lvert E_g - R_g \rvert,

    0 when every group gets exactly its reference share, at most 1. With two
    groups it is the amount by which one group is over-exposed (and the other
    under-exposed). Shares as in :func:`exposure_by_group`.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    item_groups : Series
        Group label of every catalogue item, indexed by item id.
    k : int, optional
        Count only each user's top ``k``.
    reference : Series, optional
        Weight per group (default: the groups' shares of the catalogue).

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 12],
    ...                      "rank": [1, 2, 1, 2]})
    >>> groups = pd.Series({10: "popular", 11: "tail", 12: "tail", 13: "tail"})
    >>> round(exposure_gap(recs, groups), 3)
    0.363
    """
    table = exposure_by_group(recommendations, item_groups, k=k, reference=reference)
    return float(0.5 * (table["exposure_share"] - table["reference_share"]).abs().sum())


def ranking_metrics_by_group(recommendations, relevant, groups, *, by: str = "user", k: int = 10,
                             relevance_col: str | None = None) -> pd.DataFrame:
    """Ranking metrics per user group or per item group.

    ``by="user"``: the per-user metrics of :func:`ranking_metrics_by_user`
    averaged within each user group (does the recommender serve group 1 as
    well as group 0?). ``by="item"``: for each item group, the metrics
    computed with only that group's items as relevant (how well the lists
    find the relevant long-tail items, and how well the popular ones); each
    user counts when they have a relevant item of that group.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    relevant : DataFrame
        Columns ``user_id``, ``item_id`` and, optionally, ``relevance_col``.
    groups : Series
        Group label per user id (``by="user"``) or per item id (``by="item"``).
    by : {"user", "item"}
    k : int, default 10
    relevance_col : str, optional
        Graded relevance column of ``relevant``.

    Returns
    -------
    DataFrame
        Indexed by group (sorted), columns ``n_users`` and the six metrics
        ``precision_at_k`` ... ``hit_rate_at_k``.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 11],
    ...                      "score": [0.9, 0.2, 0.3, 0.6]})
    >>> rel = pd.DataFrame({"user_id": [1, 2], "item_id": [10, 10]})
    >>> table = ranking_metrics_by_group(recs, rel, pd.Series({1: "a", 2: "b"}), k=2)
    >>> table["ndcg_at_k"].round(3).to_dict()
    {'a': 1.0, 'b': 0.631}
    """
    if by not in ("user", "item"):
        raise ValueError(f"by must be 'user' or 'item', got {by!r}")
    what = by
    groups = _group_series(groups, "groups", what)
    if by == "user":
        per_user = ranking_metrics_by_user(recommendations, relevant, k, relevance_col=relevance_col)
        labels = _lookup_groups(per_user.index.to_series(), groups, "groups", "user")
        table = per_user[list(RANKING_METRICS)].groupby(labels).mean()
        table.insert(0, "n_users", per_user.groupby(labels).size())
    else:
        check_dataframe(relevant, "relevant", (schema.USER, schema.ITEM))
        labels = _lookup_groups(relevant[schema.ITEM], groups, "groups", "item")
        parts = {}
        for label in pd.unique(labels):
            per_user = ranking_metrics_by_user(recommendations, relevant.loc[labels == label], k,
                                               relevance_col=relevance_col)
            parts[label] = {"n_users": len(per_user), **per_user[list(RANKING_METRICS)].mean().to_dict()}
        table = pd.DataFrame(parts).T.sort_index()
        table["n_users"] = table["n_users"].astype(np.int64)
    table.index.name = "group"
    return table


def intra_list_diversity(recommendations, item_vectors, *, k: int | None = None) -> float:
    r"""Mean pairwise cosine distance between the items of each list, averaged over users.

    .. math::

        \mathrm{ILD} = \frac{1}{|U|} \sum_u \frac{2}{|L_u| (|L_u| - 1)}
        \sum_{i < j \in L_u} \bigl(1 - \cos(x_i, x_j)\bigr)

    (Ziegler et al., 2005). 0 when every list holds near-copies of one item;
    higher when lists mix different kinds of items. Users with a one-item
    list are left out (a single item has no pair).

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_id``, ``item_id`` and ``score`` or ``rank``.
    item_vectors : array-like, shape (n_items, n_features)
        Row ``i`` describes item ``i`` (embeddings, TF-IDF, pixels, category
        one-hot). An all-zero row counts as unlike everything (distance 1).
    k : int, optional
        Use only each user's top ``k``.

    Returns
    -------
    float
        In [0, 2] (in [0, 1] for non-negative vectors).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [0, 1, 0, 2], "rank": [1, 2, 1, 2]})
    >>> round(intra_list_diversity(recs, vectors), 3)      # user 1: twins (0), user 2: unlike (1)
    0.5
    """
    rows, position = _ranked_rows(recommendations, k)
    vectors = np.asarray(item_vectors)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(f"item_vectors must be 2-D (n_items, n_features), got shape {vectors.shape}")
    if not np.issubdtype(vectors.dtype, np.number):
        raise ValueError(f"item_vectors must be numeric, got dtype {vectors.dtype}")
    vectors = vectors.astype(float)
    if not np.isfinite(vectors).all():
        raise ValueError("item_vectors holds NaN or infinite values")
    items = rows[schema.ITEM].to_numpy()
    if not np.issubdtype(items.dtype, np.integer) or items.min() < 0 or items.max() >= len(vectors):
        raise ValueError(f"recommended item ids must be integers in [0, {len(vectors)}) to index "
                         f"item_vectors; found range [{_plain(items.min())}, {_plain(items.max())}]")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    users, _ = pd.factorize(rows[schema.USER])
    n_users, width = users.max() + 1, int(position.max())
    padded = np.zeros((n_users, width, unit.shape[1]))
    padded[users, position - 1] = unit[items]
    length = np.bincount(users, minlength=n_users)
    gram = np.einsum("uif,ujf->uij", padded, padded)             # zero rows where a list is shorter
    pair_sum = (gram.sum(axis=(1, 2)) - np.einsum("uii->u", gram)) / 2.0
    n_pairs = length * (length - 1) / 2.0
    keep = n_pairs > 0
    if not keep.any():
        raise ValueError("every list has a single item: intra-list diversity needs lists of two or more")
    return float(np.mean(1.0 - pair_sum[keep] / n_pairs[keep]))
