r"""Evaluation metrics: pointwise errors, top-k ranking quality, exposure and diversity. Pointwise metrics call
:mod:`sklearn.metrics`; with ``sample_weight`` :math:`w_i = 1/p_i` a weighted mean is the self-normalised IPS
estimate under uniform exposure. Ranking metrics take ``recommendations`` (``user_id``, ``item_id`` and
``score``, higher first, or ``rank``, which wins) and ``relevant`` pairs; ties go to the smaller item id, so row
order never matters. They average over users with a relevant item (no list scores 0)."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
import sklearn.metrics as skm

from . import schema
from ._checks import (check_binary, check_dataframe, check_finite_1d, check_fraction, check_ids,
                      check_numeric_column, check_positive_int)

RANKING_METRICS = ("precision_at_k", "recall_at_k", "f1_at_k", "ndcg_at_k", "map_at_k", "hit_rate_at_k")
USER, ITEM = schema.USER, schema.ITEM


def _vector(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return check_finite_1d(arr, name)


def _arrays(y_true, y_pred, sample_weight, pred_name: str = "y_pred"):
    y, p = _vector(y_true, "y_true"), _vector(y_pred, pred_name)
    w = None if sample_weight is None else _vector(sample_weight, "sample_weight")
    for name, arr in ((pred_name, p), ("sample_weight", w)):
        if arr is not None and len(arr) != len(y):
            raise ValueError(f"y_true and {name} must have the same length, got {len(y)} and {len(arr)}")
    if w is not None and ((w < 0).any() or w.sum() <= 0):
        raise ValueError("sample_weight must be non-negative with a positive sum")
    return y, p, w


def mse(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean squared error (``sklearn.metrics.mean_squared_error``).
    >>> round(mse([3, 4, 5], [2.5, 4, 4]), 3), round(mse([3, 4, 5], [2.5, 4, 4], sample_weight=[2, 1, 1]), 3)
    (0.417, 0.375)
    """
    y, p, w = _arrays(y_true, y_pred, sample_weight)
    return float(skm.mean_squared_error(y, p, sample_weight=w))


def rmse(y_true, y_pred, *, sample_weight=None) -> float:
    """Root mean squared error, in the units of ``y``."""
    return float(np.sqrt(mse(y_true, y_pred, sample_weight=sample_weight)))


def _labels(y_true, y_pred_or_prob, threshold, sample_weight):
    y, p, w = _arrays(y_true, y_pred_or_prob, sample_weight, "y_pred_or_prob")
    check_fraction(threshold, "threshold", low=-np.inf, high=np.inf)
    return check_binary(y, "y_true"), (p >= threshold).astype(np.int8), w


def accuracy(y_true, y_pred_or_prob, *, threshold=0.5, sample_weight=None) -> float:
    """Share of 0/1 outcomes predicted right; a score ``>= threshold`` predicts 1.
    >>> accuracy([1, 0, 1, 1], [0.9, 0.6, 0.4, 0.8]), accuracy([1, 0, 1, 1], [0.9, 0.6, 0.4, 0.8], threshold=0.3)
    (0.5, 0.75)
    """
    y, labels, w = _labels(y_true, y_pred_or_prob, threshold, sample_weight)
    return float(skm.accuracy_score(y, labels, sample_weight=w))


class PrecisionRecallF1(NamedTuple):
    """Precision, recall and F1 of binary predictions."""
    precision: float
    recall: float
    f1: float


def precision_recall_f1(y_true, y_pred_or_prob, *, threshold=0.5, sample_weight=None) -> PrecisionRecallF1:
    """Precision, recall and F1 of the positive class; a 0/0 ratio is 0 (sklearn's ``zero_division=0``).
    >>> [round(v, 3) for v in precision_recall_f1([1, 0, 1, 1], [0.9, 0.6, 0.4, 0.8])]
    [0.667, 0.667, 0.667]
    """
    y, labels, w = _labels(y_true, y_pred_or_prob, threshold, sample_weight)
    p, r, f, _ = skm.precision_recall_fscore_support(y, labels, average="binary", zero_division=0, sample_weight=w)
    return PrecisionRecallF1(float(p), float(r), float(f))


def auc(y_true, scores, *, sample_weight=None) -> float:
    """Area under the ROC curve: the chance a positive outscores a negative (ties count 1/2).
    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, s, w = _arrays(y_true, scores, sample_weight, "scores")
    y = check_binary(y, "y_true")
    weight = np.ones(len(y)) if w is None else w
    if not 0 < weight[y == 1].sum() < weight.sum():
        raise ValueError(f"auc needs both classes in y_true with positive sample_weight; y_true has "
                         f"{int(y.sum())} positive(s) in {len(y)} rows")
    return float(skm.roc_auc_score(y, s, sample_weight=w))


def _check_pairs(df, name: str, extra=()) -> pd.DataFrame:
    check_dataframe(df, name, extra, ids=(USER, ITEM))
    if (duplicated := df.duplicated([USER, ITEM])).any():
        user, item = (df.loc[duplicated, column].iloc[0] for column in (USER, ITEM))
        raise ValueError(f"{name} lists the pair ({USER}={user}, {ITEM}={item}) more than once")
    return df


def _ranked(recommendations, k=None) -> pd.DataFrame:
    """Each user's list in order (user, then position), cut to the top ``k``, with a ``position`` column."""
    _check_pairs(recommendations, "recommendations")
    order = schema.RANK if schema.RANK in recommendations else schema.SCORE
    if order not in recommendations:
        raise ValueError(f"recommendations need a {schema.SCORE!r} or {schema.RANK!r} column to order "
                         f"each list; they have {list(recommendations.columns)}")
    check_numeric_column(recommendations, order, "recommendations")
    rows = recommendations.sort_values([USER, order, ITEM], ascending=[True, order == schema.RANK, True],
                                       kind="mergesort")
    rows = rows.assign(position=rows.groupby(USER, sort=False).cumcount().to_numpy() + 1)
    return rows if k is None else rows[rows["position"] <= check_positive_int(k, "k")]


def _gains(relevant, relevance_col, threshold) -> pd.DataFrame:
    """``relevant`` as (user, item, gain), keeping the positive gains."""
    _check_pairs(relevant, "relevant", [] if relevance_col is None else [relevance_col])
    if relevance_col is None:
        return relevant[[USER, ITEM]].assign(gain=1.0)
    check_numeric_column(relevant, relevance_col, "relevant")
    gain = relevant[relevance_col].to_numpy(dtype=float)
    if threshold is not None:
        gain = (gain >= threshold).astype(float)
    elif not np.isfinite(gain).all() or (gain < 0).any():
        raise ValueError(f"column {relevance_col!r} of relevant must be finite and non-negative")
    gains = relevant[[USER, ITEM]].assign(gain=gain)[gain > 0]
    if gains.empty:
        raise ValueError(f"relevant has no row with positive {relevance_col!r}: no user to evaluate")
    return gains


def ranking_metrics_by_user(recommendations, relevant, k: int = 10, *, relevance_col=None,
                            threshold=None) -> pd.DataFrame:
    """Every ranking metric of each user with a relevant item: a DataFrame indexed by ``user_id``.
    ``relevance_col`` names a graded, non-negative gain column of ``relevant`` (0: not relevant); with
    ``threshold``, a row is relevant (gain 1) when that column is at least it.
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 11], "score": [0.9, 0.2, 0.3, 0.6]})
    >>> rel = pd.DataFrame({"user_id": [1, 2], "item_id": [10, 10]})
    >>> ranking_metrics_by_user(recs, rel, k=2)["ndcg_at_k"].round(3).tolist()   # 1 / log2(3) for user 2
    [1.0, 0.631]
    """
    k = check_positive_int(k, "k")
    top = _ranked(recommendations, k)
    gains = _gains(relevant, relevance_col, threshold)
    for column in (USER, ITEM):
        if pd.api.types.is_numeric_dtype(top[column]) != pd.api.types.is_numeric_dtype(gains[column]):
            raise ValueError(f"the {column!r} columns of recommendations and relevant cannot match: dtypes "
                             f"{top[column].dtype} and {gains[column].dtype}")
    top = top[[USER, ITEM, "position"]].merge(gains, on=[USER, ITEM], how="left").fillna({"gain": 0.0})
    hit = (top["gain"] > 0).to_numpy()
    position = top["position"].to_numpy(dtype=float)
    hits_so_far = pd.Series(hit).groupby(top[USER].to_numpy()).cumsum().to_numpy()
    per_list = pd.DataFrame({"hits": hit.astype(np.int64), "dcg": top["gain"] / np.log2(position + 1),
                             "ap": np.where(hit, hits_so_far / position, 0.0)}).groupby(top[USER].to_numpy()).sum()
    ideal = gains.sort_values([USER, "gain"], ascending=[True, False], kind="mergesort")
    ideal_pos = ideal.groupby(USER).cumcount().to_numpy() + 1
    idcg = pd.Series(np.where(ideal_pos <= k, ideal["gain"] / np.log2(ideal_pos + 1), 0.0)).groupby(
        ideal[USER].to_numpy()).sum()
    n_rel = gains.groupby(USER).size()
    if not n_rel.index.isin(per_list.index).any():
        warnings.warn(f"no user in relevant has a row in recommendations: every ranking metric is 0; "
                      f"check that the {USER!r} columns hold the same ids", UserWarning, stacklevel=2)
    per_list = per_list.reindex(n_rel.index, fill_value=0)
    hits, n = per_list["hits"].astype(np.int64), n_rel.astype(float)
    return pd.DataFrame({"n_relevant": n_rel, "hits": hits, "precision_at_k": hits / k, "recall_at_k": hits / n,
                         "f1_at_k": 2.0 * hits / (k + n), "ndcg_at_k": per_list["dcg"] / idcg.reindex(n_rel.index),
                         "map_at_k": per_list["ap"] / np.minimum(k, n), "hit_rate_at_k": (hits > 0).astype(float)},
                        index=pd.Index(n_rel.index, name=USER))


def evaluate_ranking(recommendations, relevant, k: int = 10, *, relevance_col=None, threshold=None,
                     n_items: int | None = None) -> dict:
    """Score top-``k`` lists against relevant pairs: the package's one evaluator. The means of
    :func:`ranking_metrics_by_user`, ``n_users``, and given ``n_items``, ``catalogue_coverage``.
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 11], "score": [0.9, 0.2, 0.3, 0.6]})
    >>> evaluate_ranking(recs, pd.DataFrame({"user_id": [1, 2], "item_id": [10, 10]}), k=1)["hit_rate_at_k"]
    0.5
    """
    per_user = ranking_metrics_by_user(recommendations, relevant, k, relevance_col=relevance_col, threshold=threshold)
    result = {**{name: float(per_user[name].mean()) for name in RANKING_METRICS}, "n_users": len(per_user)}
    if n_items is not None:
        result["catalogue_coverage"] = catalogue_coverage(recommendations, n_items, k=k)
    return result


def _entry(name: str, doc: str):
    def metric(recommendations, relevant, k: int = 10, *, relevance_col=None) -> float:
        return evaluate_ranking(recommendations, relevant, k, relevance_col=relevance_col)[name]
    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = doc
    return metric


precision_at_k = _entry("precision_at_k", "Share of each user's top ``k`` that is relevant (over ``k`` always).")
recall_at_k = _entry("recall_at_k", "Share of each user's relevant items found in the top ``k``.")
f1_at_k = _entry("f1_at_k", "Mean over users of the harmonic mean of P@k and R@k: ``2 hits / (k + n_relevant)``.")
ndcg_at_k = _entry("ndcg_at_k", r"Mean over users of :math:`\sum_{i \le k} g(i) / \log_2(i + 1)` over its maximum.")
map_at_k = _entry("map_at_k", "Mean average precision: precision at each hit, summed, over ``min(k, n_relevant)``.")
hit_rate_at_k = _entry("hit_rate_at_k", "Share of users with at least one relevant item in their top ``k``.")


def _listed(recommendations, k) -> pd.DataFrame:
    return _ranked(recommendations, k) if k is not None else _check_pairs(recommendations, "recommendations")


def catalogue_coverage(recommendations, n_items: int, *, k: int | None = None) -> float:
    """Share of the catalogue's ``n_items`` recommended to at least one user (in the top ``k`` if given).
    >>> catalogue_coverage(pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10]}), n_items=4)
    0.5
    """
    n_items = check_positive_int(n_items, "n_items")
    n_distinct = _listed(recommendations, k)[ITEM].nunique()
    if n_distinct > n_items:
        raise ValueError(f"recommendations hold {n_distinct} distinct items, more than n_items={n_items}")
    return n_distinct / n_items


def mean_popularity(recommendations, item_popularity, *, k: int | None = None) -> float:
    """Mean over users of their list's ``item_popularity`` (a Series indexed by item id).
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10]})
    >>> mean_popularity(recs, pd.Series({10: 100.0, 11: 20.0}))   # (60 + 100) / 2
    80.0
    """
    if not isinstance(item_popularity, pd.Series) or not item_popularity.index.is_unique:
        raise ValueError("item_popularity must be a Series indexed by unique item ids")
    check_numeric_column(item_popularity.to_frame("popularity"), "popularity", "item_popularity")
    rows = _listed(recommendations, k)
    if (values := rows[ITEM].map(item_popularity)).isna().any():
        raise ValueError(f"item_popularity has no value for item(s) {rows[ITEM][values.isna()].unique()[:5].tolist()}")
    return float(values.groupby(rows[USER]).mean().mean())


def _groups(groups, name: str, ids: pd.Series, what: str) -> np.ndarray:
    """The group label of each id in ``ids``; ``groups`` maps every id to a label."""
    if not isinstance(groups, pd.Series) or not groups.index.is_unique or groups.isna().any():
        raise ValueError(f"{name} must be a Series giving one group label (not NaN) per {what} id")
    if (labels := ids.map(groups)).isna().any():
        raise ValueError(f"{name} has no group for {what}(s) {ids[labels.isna()].unique()[:5].tolist()}")
    return labels.to_numpy()


def exposure_by_group(recommendations, item_groups, *, k: int | None = None, reference=None) -> pd.DataFrame:
    r"""Position-weighted exposure share of each item group (slot :math:`p` is worth :math:`1 / \log_2(p + 1)`,
    NDCG's discount), next to its ``reference_share``: the group's share of the catalogue, or of ``reference``
    weights, e.g. of true relevance (exposure proportional to merit, Singh and Joachims, 2018).
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 12], "rank": [1, 2, 1, 2]})
    >>> groups = pd.Series({10: "popular", 11: "tail", 12: "tail", 13: "tail"})
    >>> exposure_by_group(recs, groups)["exposure_share"].round(3).tolist()   # 2 / (2 + 2 * 0.631)
    [0.613, 0.387]
    """
    rows = _ranked(recommendations, k)
    labels = _groups(item_groups, "item_groups", rows[ITEM], "item")
    table = pd.DataFrame({"exposure": pd.Series(1.0 / np.log2(rows["position"].to_numpy() + 1.0), index=labels)
                          .groupby(level=0).sum(), "n_items": item_groups.value_counts()})
    table = table.fillna({"exposure": 0.0}).sort_index()
    table["exposure_share"] = table["exposure"] / table["exposure"].sum()
    table["reference_share"] = table["item_share"] = table["n_items"] / table["n_items"].sum()
    if reference is not None:
        if not isinstance(reference, pd.Series) or set(reference.index) != set(table.index):
            raise ValueError(f"reference must be a Series with one weight per group {table.index.tolist()}")
        ref = reference.astype(float)
        if not np.isfinite(ref).all() or (ref < 0).any() or ref.sum() <= 0:
            raise ValueError("reference weights must be finite, non-negative and not all zero")
        table["reference_share"] = ref.reindex(table.index) / ref.sum()
    table.index.name = "group"
    return table[["exposure", "exposure_share", "n_items", "item_share", "reference_share"]]


def exposure_gap(recommendations, item_groups, *, k: int | None = None, reference=None) -> float:
    r"""Total variation distance :math:`\frac12 \sum_g |E_g - R_g|` between the shares of :func:`exposure_by_group`:
    0 when every group gets its reference share; with two groups, how much one is over-exposed."""
    table = exposure_by_group(recommendations, item_groups, k=k, reference=reference)
    return float(0.5 * (table["exposure_share"] - table["reference_share"]).abs().sum())


def ranking_metrics_by_group(recommendations, relevant, groups, *, by: str = "user", k: int = 10,
                             relevance_col=None) -> pd.DataFrame:
    """Ranking metrics per user group (``by="user"``) or item group (``by="item"``). Per item group, only that
    group's items count as relevant (and their users as users).
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 11], "score": [0.9, 0.2, 0.3, 0.6]})
    >>> rel = pd.DataFrame({"user_id": [1, 2], "item_id": [10, 10]})
    >>> ranking_metrics_by_group(recs, rel, pd.Series({1: "a", 2: "b"}), k=2)["ndcg_at_k"].round(3).to_dict()
    {'a': 1.0, 'b': 0.631}
    """
    if by not in ("user", "item"):
        raise ValueError(f"by must be 'user' or 'item', got {by!r}")
    if by == "user":
        per_user = ranking_metrics_by_user(recommendations, relevant, k, relevance_col=relevance_col)
        labels = _groups(groups, "groups", per_user.index.to_series(), "user")
        table = per_user[list(RANKING_METRICS)].groupby(labels).mean()
        table.insert(0, "n_users", per_user.groupby(labels).size())
    else:
        labels = _groups(groups, "groups", _check_pairs(relevant, "relevant")[ITEM], "item")
        parts = {}
        for label in pd.unique(labels):
            per_user = ranking_metrics_by_user(recommendations, relevant[labels == label], k,
                                               relevance_col=relevance_col)
            parts[label] = {"n_users": len(per_user), **per_user[list(RANKING_METRICS)].mean()}
        table = pd.DataFrame(parts).T.sort_index().astype({"n_users": np.int64})
    table.index.name = "group"
    return table


def intra_list_diversity(recommendations, item_vectors, *, k: int | None = None) -> float:
    r"""Mean pairwise cosine distance within each list, averaged over users (Ziegler et al., 2005). Row ``i`` of
    ``item_vectors`` describes item id ``i``. One-item lists are left out.
    >>> vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [0, 1, 0, 2], "rank": [1, 2, 1, 2]})
    >>> intra_list_diversity(recs, vectors)      # user 1: twins (0), user 2: orthogonal (1)
    0.5
    """
    rows = _ranked(recommendations, k)
    vectors = np.asarray(item_vectors)
    if vectors.ndim != 2 or vectors.dtype.kind not in "biuf" or not np.isfinite(vectors).all():
        raise ValueError(f"item_vectors must be a finite numeric 2-D array (n_items, n_features), "
                         f"got shape {vectors.shape} and dtype {vectors.dtype}")
    items = check_ids(rows[ITEM].to_numpy(), "the recommended item ids (rows of item_vectors)", len(vectors))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros(vectors.shape), where=norms > 0)
    users, _ = pd.factorize(rows[USER])
    padded = np.zeros((users.max() + 1, int(rows["position"].max()), unit.shape[1]))
    padded[users, rows["position"].to_numpy() - 1] = unit[items]   # a shorter list keeps zero rows
    length = np.bincount(users)
    summed = padded.sum(axis=1)
    pair_sum = ((summed ** 2).sum(axis=1) - (padded ** 2).sum(axis=(1, 2))) / 2.0   # sum over i < j of cos
    n_pairs = length * (length - 1) / 2.0
    if not (n_pairs > 0).any():
        raise ValueError("every list has one item: intra-list diversity needs lists of two or more")
    return float(np.mean(1.0 - pair_sum[n_pairs > 0] / n_pairs[n_pairs > 0]))
