"""From raw logs to model-ready data: cleaning with a report, labels, text and image features, splits.
(Encode IDs with ``pandas.factorize``, scale features with sklearn's ``StandardScaler``.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from . import schema
from ._checks import SHOW, check_dataframe, check_fraction, check_id_column, check_random_state

__all__ = ["CleaningReport", "clean_interactions", "check_ratings", "binarize_ratings", "TextVectorizer",
           "NormalizedImages", "normalize_images", "random_split", "temporal_split"]

_RANGE = (schema.RATING_MIN, schema.RATING_MAX)
_REASONS = ("missing_ids", "missing_values", "out_of_range_ratings", "unknown_users", "unknown_items", "duplicates")


@dataclass
class CleaningReport:
    """What :func:`clean_interactions` removed, and why: one count per reason, in the order checked;
    ``reasons`` has one entry per removed row, so ``df.loc[report.reasons.index]`` shows them."""
    rows_in: int
    rows_out: int
    missing_ids: int = 0
    missing_values: int = 0
    out_of_range_ratings: int = 0
    unknown_users: int = 0
    unknown_items: int = 0
    duplicates: int = 0
    reasons: pd.Series = field(default_factory=lambda: pd.Series(dtype=object), repr=False, compare=False)

    @property
    def removed(self) -> int:
        """Rows removed in all."""
        return self.rows_in - self.rows_out

    def to_frame(self) -> pd.DataFrame:
        """One row per reason: ``rows_removed`` and their ``share`` of ``rows_in``."""
        counts = np.array([getattr(self, r) for r in _REASONS], dtype=np.int64)
        return pd.DataFrame({"rows_removed": counts, "share": counts / max(self.rows_in, 1)},
                            index=pd.Index(_REASONS, name="reason"))


def clean_interactions(df, *, known_users=None, known_items=None, rating_range=_RANGE, require=(),
                       dedupe_on=None) -> tuple[pd.DataFrame, CleaningReport]:
    """Remove unusable interaction rows; return ``(clean, report)``, a :class:`CleaningReport`. A row goes, under
    the first reason that applies, for a missing ID, a NaN in ``require`` (a NaN rating means "not rated"), a
    rating outside ``rating_range``, an ID not in ``known_users``/``known_items``, or repeating a valid row on
    ``dedupe_on`` (default user, item, day; ``()`` keeps duplicates), so a valid copy is never lost to an
    invalid one.
    >>> df = pd.DataFrame({"user_id": [0, 0, 1, 1, None], "item_id": [5, 5, 6, 7, 8],
    ...                    "rating": [4.0, 4.0, 9.0, None, 3.0]})
    >>> clean, report = clean_interactions(df)
    >>> clean.index.tolist(), report.missing_ids, report.out_of_range_ratings, report.duplicates
    ([0, 3], 1, 1, 1)
    """
    require = (require,) if isinstance(require, str) else tuple(require)
    if dedupe_on is None:
        dedupe_on = (schema.USER, schema.ITEM) + ((schema.DAY,) if schema.DAY in df else ())
    check_dataframe(df, "df", (schema.USER, schema.ITEM, *require, *dedupe_on))
    reason = np.full(len(df), "", dtype=object)

    def mark(mask, name):
        reason[np.asarray(mask, dtype=bool) & (reason == "")] = name
    mark(df[schema.USER].isna().to_numpy() | df[schema.ITEM].isna().to_numpy(), "missing_ids")
    if require:
        mark(df[list(require)].isna().to_numpy().any(axis=1), "missing_values")
    if rating_range is not None and schema.RATING in df:
        mark(_out_of_range(df, "df", rating_range)[2], "out_of_range_ratings")
    ok = reason != "missing_ids"
    for column in (schema.USER, schema.ITEM):
        check_id_column(df[ok], column, "df")  # fractional or mixed IDs are errors, not dirt
    for known, column, name in ((known_users, schema.USER, "unknown_users"),
                                (known_items, schema.ITEM, "unknown_items")):
        if known is not None:
            mark(ok & ~df[column].isin(pd.Series(known).to_numpy()).to_numpy(), name)
    if dedupe_on:
        alive, duplicate = reason == "", np.zeros(len(df), dtype=bool)
        duplicate[alive] = df[alive].duplicated(list(dedupe_on)).to_numpy()
        mark(duplicate, "duplicates")
    kept = reason == ""
    clean = df[kept].copy()
    for column in (schema.USER, schema.ITEM):
        if pd.api.types.is_float_dtype(clean[column]):
            clean[column] = clean[column].astype(np.int64)
    counts = {name: int((reason == name).sum()) for name in _REASONS}
    reasons = pd.Series(reason[~kept], index=df.index[~kept], name="reason", dtype=object)
    return clean, CleaningReport(rows_in=len(df), rows_out=int(kept.sum()), reasons=reasons, **counts)


def _out_of_range(df: pd.DataFrame, name: str, rating_range):
    """The ratings as floats, the (low, high) range, and the mask of given ratings outside it."""
    try:
        low, high = (float(v) for v in rating_range)
    except (TypeError, ValueError):
        raise ValueError(f"rating_range must be a pair of numbers (low, high), got {rating_range!r}") from None
    if not low < high:
        raise ValueError(f"rating_range must have low < high, got {rating_range!r}")
    dtype = df[schema.RATING].dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise ValueError(f"column {schema.RATING!r} of {name} must be numeric (NaN for 'not rated'), got dtype "
                         f"{dtype}; convert it first, e.g. with pd.to_numeric(..., errors='coerce')")
    r = df[schema.RATING].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return r, (low, high), ~np.isnan(r) & ((r < low) | (r > high) | ~np.isfinite(r))


def check_ratings(df, *, rating_range=_RANGE, allow_missing=True, name="df") -> None:
    """Raise unless ``df["rating"]`` is numeric and every given rating lies in ``rating_range``.
    >>> check_ratings(pd.DataFrame({"rating": [4.0, -1.0]}))
    Traceback (most recent call last):
    ...
    ValueError: column 'rating' of df holds 1 rating(s) outside [1, 5]: [-1.0] at row(s) [1]
    """
    check_dataframe(df, name, (schema.RATING,))
    r, (low, high), bad = _out_of_range(df, name, rating_range)
    if np.isnan(r).any() and not allow_missing:
        raise ValueError(f"column {schema.RATING!r} of {name} holds {int(np.isnan(r).sum())} missing rating(s) "
                         f"(NaN) at row(s) {df.index[np.isnan(r)][:SHOW].tolist()}; keep the rated rows only")
    if bad.any():
        raise ValueError(f"column {schema.RATING!r} of {name} holds {int(bad.sum())} rating(s) outside "
                         f"[{low:g}, {high:g}]: {r[bad][:SHOW].tolist()} at row(s) {df.index[bad][:SHOW].tolist()}")


def binarize_ratings(df, *, threshold=4, rating_range=_RANGE) -> pd.DataFrame:
    """A copy of ``df`` with a 0/1 ``label`` (1 where ``rating >= threshold``) for a cross-entropy loss.
    >>> binarize_ratings(pd.DataFrame({"rating": [5.0, 3.0, 4.0]}))["label"].tolist()
    [1, 0, 1]
    """
    check_ratings(df, rating_range=rating_range, allow_missing=False)
    check_fraction(threshold, "threshold (within rating_range)", low=min(rating_range), high=max(rating_range))
    return df.assign(**{schema.LABEL: (df[schema.RATING].to_numpy(dtype=float) >= threshold).astype(np.int64)})


class TextVectorizer(BaseEstimator):
    """TF-IDF (``kind="tfidf"``) or bag-of-words (``"bow"``) vectors of texts, dense float32 (``sparse=True``: CSR).
    >>> vec = TextVectorizer(kind="bow").fit(["red shoe", "blue shoe shoe"])
    >>> vec.vocabulary_, vec.transform(["shoe red shoe"]).tolist()
    ({'blue': 0, 'red': 1, 'shoe': 2}, [[0.0, 1.0, 2.0]])
    """

    def __init__(self, kind="tfidf", *, min_df=1, max_features=None, ngram_range=(1, 1), sparse=False):
        self.kind, self.min_df, self.max_features, self.ngram_range = kind, min_df, max_features, ngram_range
        self.sparse = sparse

    def fit(self, texts, y=None):
        """Learn the vocabulary (and the document frequencies) from a sequence of strings."""
        kinds = {"tfidf": TfidfVectorizer, "bow": CountVectorizer}
        if self.kind not in kinds:
            raise ValueError(f"kind must be one of {sorted(kinds)}, got {self.kind!r}")
        self.vectorizer_ = kinds[self.kind](min_df=self.min_df, max_features=self.max_features,
                                            ngram_range=self.ngram_range, dtype=np.float32)
        self.vectorizer_.fit(texts)
        self.vocabulary_ = {term: int(i) for term, i in sorted(self.vectorizer_.vocabulary_.items())}
        self.n_features_ = len(self.vocabulary_)
        return self

    def transform(self, texts):
        """Vectors of shape (n_texts, n_features_), float32; unknown words are ignored."""
        check_is_fitted(self)
        matrix = self.vectorizer_.transform(texts).astype(np.float32)
        return matrix.tocsr() if self.sparse else matrix.toarray()

    def fit_transform(self, texts, y=None):
        return self.fit(texts).transform(texts)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The terms, in column order."""
        check_is_fitted(self)
        return self.vectorizer_.get_feature_names_out()


class NormalizedImages(NamedTuple):
    """Result of :func:`normalize_images`: unpacks as ``images, mean, std``."""
    images: np.ndarray
    mean: float
    std: float


def normalize_images(images, *, mean=None, std=None) -> NormalizedImages:
    """Standardize grayscale images ``(x - mean) / std`` and add the channel axis a CNN expects:
    ``images`` (n, H, W) or (n, 1, H, W) in [0, 1] (``uint8`` is divided by 255); compute ``mean``
    and ``std`` on the training images and pass them in for the others.
    >>> out, mean, std = normalize_images(np.array([[[0.0, 1.0], [0.0, 1.0]]]))
    >>> out.shape, out.dtype, mean, std
    ((1, 1, 2, 2), dtype('float32'), 0.5, 0.5)
    """
    x = np.asarray(images)
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"images must be a numeric array, got dtype {x.dtype}")
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[1] == 1)) or 0 in x.shape:
        raise ValueError(f"images must have shape (n, H, W) or (n, 1, H, W) with n, H, W >= 1; got {x.shape}")
    x = x / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    if not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
        raise ValueError(f"images must lie in [0, 1]; found values in [{x.min():g}, {x.max():g}] "
                         "(NaN, infinite, or 0-255 pixels not yet divided by 255)")
    mean = float(x.mean()) if mean is None else float(mean)
    std = float(np.sqrt(np.mean((x - mean) ** 2))) if std is None else float(std)
    if not std > 1e-12:
        raise ValueError(f"std must be > 0, got {std} (constant images cannot be standardized)")
    out = ((x - mean) / std).astype(np.float32)
    return NormalizedImages(np.ascontiguousarray(out[:, None] if out.ndim == 3 else out), mean, std)


def _split(df: pd.DataFrame, test: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    return df.iloc[np.flatnonzero(~test)], df.iloc[np.flatnonzero(test)]


def _checked_log(df, time=None):
    """Check a log to split; return the values of its ``time`` column (numeric or datetime), if named."""
    check_dataframe(df, "df", (time,) if time else (), ids=(schema.USER, schema.ITEM))
    if len(df) < 2:
        raise ValueError(f"df has {len(df)} row; a split needs at least 2")
    if time is None:
        return None
    s = df[time]
    if pd.api.types.is_bool_dtype(s) or not (pd.api.types.is_datetime64_any_dtype(s)
                                             or pd.api.types.is_numeric_dtype(s)) or s.isna().any():
        raise ValueError(f"column {time!r} of df must be numeric or datetime without NaN, got dtype {s.dtype} "
                         f"with {int(s.isna().sum())} NaN")
    return s.to_numpy()


def random_split(df, *, test_size=0.2, random_state=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``round(test_size * n)`` rows to test at random; right only for exchangeable rows.
    >>> train, test = random_split(pd.DataFrame({"user_id": range(10), "item_id": range(10)}), test_size=0.3)
    >>> len(train), len(test)
    (7, 3)
    """
    _checked_log(df)
    n, test_size = len(df), check_fraction(test_size, "test_size", inclusive=(False, False))
    test = np.zeros(n, dtype=bool)
    test[check_random_state(random_state).permutation(n)[:min(max(round(test_size * n), 1), n - 1)]] = True
    return _split(df, test)


def temporal_split(df, *, test_size=None, cutoff=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the past, test on ``day >= cutoff`` (or the ``test_size`` share of whole days, default 0.2).
    >>> df = pd.DataFrame({"user_id": [0, 0, 1, 1, 2], "item_id": [1, 2, 1, 3, 2], "day": [0, 1, 1, 2, 3]})
    >>> [part["day"].tolist() for part in temporal_split(df, cutoff=2)]
    [[0, 1, 1], [2, 3]]
    """
    days = _checked_log(df, schema.DAY)
    distinct = np.unique(days)
    if len(distinct) < 2:
        raise ValueError(f"column {schema.DAY!r} of df holds a single day; a temporal split needs two")
    if cutoff is not None and test_size is not None:
        raise ValueError("give either cutoff or test_size, not both")
    if cutoff is None:
        test_size = check_fraction(0.2 if test_size is None else test_size, "test_size", inclusive=(False, False))
        share_from = 1.0 - np.searchsorted(np.sort(days), distinct[1:], side="left") / len(days)
        cutoff = distinct[1:][int(np.argmin(np.abs(share_from - test_size)))]
    elif isinstance(cutoff, (str, pd.Timestamp, np.datetime64)) or hasattr(cutoff, "year"):
        cutoff = np.datetime64(pd.Timestamp(cutoff))
    try:
        test = np.asarray(days >= cutoff)
    except TypeError:
        raise ValueError(f"cutoff {cutoff!r} cannot be compared with column {schema.DAY!r} "
                         f"(dtype {df[schema.DAY].dtype})") from None
    if test.all() or not test.any():
        raise ValueError(f"cutoff={cutoff!r} leaves the {'train' if test.all() else 'test'} set empty: days run "
                         f"from {days.min()} to {days.max()}")
    return _split(df, test)
