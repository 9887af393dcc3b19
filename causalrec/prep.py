"""From raw logs to model-ready arrays: cleaning, encoding, scaling, splitting, sampling.

Every step here is one a recommender needs before any model sees the data,
and every step either reports what it changed or refuses bad input with a
:class:`ValueError` that names the column, value or shape at fault.

- **Cleaning**: :func:`clean_interactions` removes duplicates, rows with
  missing IDs or missing required values, out-of-range ratings and unknown
  IDs, and returns a :class:`CleaningReport` that counts each reason.
  :func:`check_ratings` is the strict version for code that *consumes*
  ratings: it raises instead of removing.
- **Encoding**: :class:`IdEncoder` maps arbitrary user or item IDs to
  ``0..n-1`` (what an embedding table needs), with an explicit choice for IDs
  it has never seen.
- **Features**: :class:`FeatureScaler` standardizes numeric columns,
  :class:`TextVectorizer` turns descriptions into bag-of-words or TF-IDF
  vectors, :func:`normalize_images` makes images ready for a CNN.
- **Splits**: :func:`random_split`, :func:`temporal_split`,
  :func:`leave_one_out` and :func:`logged_randomized_split`. Each returns
  ``(train, test)``; every input row lands in exactly one of them, and both
  keep the input's index labels and row order.
- **Labels**: :func:`binarize_ratings` turns 1-5 ratings into 0/1 labels (the
  fix for feeding ratings to a cross-entropy loss), and
  :func:`sample_negatives` pairs implicit positives with sampled negatives.

Missing ratings are normal in logged data (``NaN`` means the user gave none),
so nothing here treats them as errors unless asked to.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from . import schema
from ._checks import (check_dataframe, check_fraction, check_positive_int,
                          check_random_state)
from .data.simulate import ShopWorld

__all__ = [
    "LABEL", "CleaningReport", "clean_interactions", "check_ratings", "binarize_ratings",
    "IdEncoder", "FeatureScaler", "TextVectorizer", "NormalizedImages", "normalize_images",
    "random_split", "temporal_split", "leave_one_out", "logged_randomized_split",
    "sample_negatives",
]

#: Name of the 0/1 label column written by :func:`binarize_ratings` and :func:`sample_negatives`.
LABEL = schema.LABEL

_DEFAULT_RANGE = (schema.RATING_MIN, schema.RATING_MAX)
# Logged columns that must be numeric when present (checked by clean_interactions).
_NUMERIC_COLUMNS = (schema.POLICY_SCORE, schema.EXPOSED, schema.POSITION, schema.CLICKED,
                    schema.PURCHASED)
_SHOW = 5  # how many offending values or row labels an error message lists


# --------------------------------------------------------------------------------------
# Small private checks
# --------------------------------------------------------------------------------------

def _labels(index: pd.Index, mask: np.ndarray) -> list:
    """The first few index labels where ``mask`` is true (for error messages)."""
    return index[np.asarray(mask, dtype=bool)][:_SHOW].tolist()


def _as_series(values, what: str) -> pd.Series:
    """A 1-D sequence (list, array, Index, Series) as a Series; reject scalars and 2-D input."""
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame):
        raise ValueError(f"{what} must be a 1-D sequence, got a DataFrame; "
                         f"pass one column, e.g. df[{schema.USER!r}]")
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise ValueError(f"{what} must be a 1-D sequence, got {type(values).__name__} "
                         f"with shape {np.shape(values)}")
    if isinstance(values, np.ndarray):
        return pd.Series(values)
    return pd.Series(list(values))


def _id_array(values, what: str) -> np.ndarray:
    """IDs as an int64 array or a numpy string array.

    IDs may be integers, floats holding whole numbers (what a NaN leaves behind
    in an integer column) or strings, but not a mix. NaN, booleans and
    fractional numbers are errors.
    """
    s = _as_series(values, what)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    missing = s.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{what} holds {int(missing.sum())} missing ID(s) (NaN) at row(s) "
                         f"{_labels(s.index, missing)}; drop them first (clean_interactions does)")
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise ValueError(f"{what} must hold integer or string IDs, got booleans (dtype {dtype})")
    if pd.api.types.is_integer_dtype(dtype):
        return s.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(dtype):
        arr = s.to_numpy(dtype=float)
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise ValueError(f"{what} must hold integer or string IDs; found non-integer values "
                             f"{arr[bad][:_SHOW].tolist()} at row(s) {_labels(s.index, bad)}")
        return arr.astype(np.int64)
    if pd.api.types.is_string_dtype(dtype) or dtype == object:
        vals = s.to_numpy(dtype=object)
        if len(vals) == 0:
            return np.array([], dtype=str)
        is_str = np.fromiter((isinstance(v, str) for v in vals), dtype=bool, count=len(vals))
        if is_str.all():
            # numpy's fixed-width strings drop trailing NUL characters ("a\x00" would become "a"
            # and merge with it), so such IDs are refused rather than silently changed
            nul = np.fromiter((v.endswith("\x00") for v in vals), dtype=bool, count=len(vals))
            if nul.any():
                raise ValueError(f"{what} holds string IDs ending in a NUL character ('\\x00') at row(s) "
                                 f"{_labels(s.index, nul)}; they cannot be told apart from the same ID "
                                 f"without it: strip or replace the NUL characters first")
            return vals.astype(str)
        is_int = np.fromiter((isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                              for v in vals), dtype=bool, count=len(vals))
        if is_int.all():
            return vals.astype(np.int64)
        odd = ~is_str if is_str.any() else ~is_int
        examples = [f"{v!r} ({type(v).__name__})" for v in vals[odd][:_SHOW]]
        raise ValueError(f"{what} must hold IDs of one kind, all integers or all strings; "
                         f"{'next to strings it' if is_str.any() else 'it'} holds {', '.join(examples)} "
                         f"at row(s) {_labels(s.index, odd)}")
    raise ValueError(f"{what} must hold integer or string IDs, got dtype {dtype}")


def _same_kind(a: np.ndarray, b: np.ndarray, what_a: str, what_b: str) -> None:
    """Raise if one ID array holds strings and the other integers."""
    if a.dtype.kind != b.dtype.kind:
        kind = {"U": "strings", "i": "integers"}
        raise ValueError(f"{what_a} holds {kind.get(a.dtype.kind, a.dtype)} but {what_b} holds "
                         f"{kind.get(b.dtype.kind, b.dtype)}; IDs must be of the same kind to be compared")


def _check_rating_range(rating_range) -> tuple[float, float]:
    try:
        low, high = rating_range
    except (TypeError, ValueError):
        raise ValueError(f"rating_range must be a pair (low, high), got {rating_range!r}") from None
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            raise ValueError(f"rating_range must hold two finite numbers, got {rating_range!r}")
    if not low < high:
        raise ValueError(f"rating_range must have low < high, got {rating_range!r}")
    return float(low), float(high)


def _check_rating_dtype(df: pd.DataFrame, name: str) -> None:
    dtype = df[schema.RATING].dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise ValueError(
            f"column {schema.RATING!r} of {name} must be numeric (NaN for 'not rated'), got dtype {dtype}; "
            f"convert it first, e.g. pd.to_numeric(df[{schema.RATING!r}], errors='coerce'), "
            "and check what became NaN"
        )


def _time_values(df: pd.DataFrame, column: str, name: str) -> np.ndarray:
    """A time column (numeric or datetime, no NaN) as a sortable numpy array."""
    s = df[column]
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        values = s.to_numpy()
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = s.to_numpy(dtype=float)
    else:
        raise ValueError(f"column {column!r} of {name} must be numeric or datetime, got dtype {dtype}")
    missing = s.isna().to_numpy()
    if missing.any():
        raise ValueError(f"column {column!r} of {name} holds {int(missing.sum())} missing value(s) (NaN) "
                         f"at row(s) {_labels(s.index, missing)}")
    return values


def _check_interactions(df, name: str, extra: Iterable[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty DataFrame with valid (non-NaN) user and item IDs; returns both ID arrays."""
    check_dataframe(df, name, (schema.USER, schema.ITEM, *extra))
    users = _id_array(df[schema.USER], f"column {schema.USER!r} of {name}")
    items = _id_array(df[schema.ITEM], f"column {schema.ITEM!r} of {name}")
    return users, items


def _columns_arg(columns, what: str) -> tuple[str, ...]:
    """A column name or a sequence of names, as a tuple of unique strings."""
    if isinstance(columns, str):
        columns = (columns,)
    try:
        columns = tuple(columns)
    except TypeError:
        raise ValueError(f"{what} must be a column name or a sequence of names, got {columns!r}") from None
    if not all(isinstance(c, str) for c in columns):
        raise ValueError(f"{what} must hold column names (strings), got {list(columns)}")
    if len(set(columns)) != len(columns):
        raise ValueError(f"{what} names a column twice: {list(columns)}")
    return columns


# --------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------

_REASONS = ("missing_ids", "missing_values", "out_of_range_ratings", "unknown_users",
            "unknown_items", "duplicates")


@dataclass
class CleaningReport:
    """What :func:`clean_interactions` removed, and why.

    Each removed row is counted once, under the first reason that applies, in
    the order of the attributes below; so the counts add up to
    ``rows_in - rows_out``.

    Attributes
    ----------
    rows_in, rows_out : int
        Rows before and after cleaning.
    missing_ids : int
        Rows whose user or item ID is missing (NaN).
    missing_values : int
        Rows with NaN in a column listed in ``required``.
    out_of_range_ratings : int
        Rows whose (non-missing) rating lies outside ``rating_range``.
    unknown_users, unknown_items : int
        Rows whose user (item) is not among the known IDs.
    duplicates : int
        Later (or earlier, with ``keep="last"``) copies of a row with the same
        values in ``dedupe_on``, among rows that passed every other check.
    required : tuple of str
        The columns that had to be non-missing.
    rating_range : tuple of float or None
        The accepted rating interval (closed), or None if not checked.
    dedupe_on : tuple of str
        The columns that define a duplicate (empty: not checked).
    reasons : pandas.Series of str
        One entry per removed row: index = the row's label in the input, value
        = the reason (an attribute name above). ``df.loc[report.reasons.index]``
        shows the removed rows.
    """

    rows_in: int
    rows_out: int
    missing_ids: int = 0
    missing_values: int = 0
    out_of_range_ratings: int = 0
    unknown_users: int = 0
    unknown_items: int = 0
    duplicates: int = 0
    required: tuple = ()
    rating_range: tuple | None = _DEFAULT_RANGE
    dedupe_on: tuple = ()
    reasons: pd.Series = field(default_factory=lambda: pd.Series(dtype=object), repr=False, compare=False)

    @property
    def removed(self) -> int:
        """Total number of rows removed."""
        return self.rows_in - self.rows_out

    def _descriptions(self) -> dict[str, str]:
        rng = ("not checked" if self.rating_range is None
               else f"outside [{self.rating_range[0]:g}, {self.rating_range[1]:g}]")
        return {
            "missing_ids": f"missing IDs ({schema.USER}, {schema.ITEM})",
            "missing_values": (f"missing values in required columns {list(self.required)}" if self.required
                               else "missing values (no column required)"),
            "out_of_range_ratings": f"ratings {rng}",
            "unknown_users": "unknown users",
            "unknown_items": "unknown items",
            "duplicates": (f"duplicates on {list(self.dedupe_on)}" if self.dedupe_on
                           else "duplicates (not checked)"),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per reason: ``rows_removed`` and ``share`` (of ``rows_in``).

        Examples
        --------
        >>> CleaningReport(rows_in=4, rows_out=3, duplicates=1).to_frame()["rows_removed"].tolist()
        [0, 0, 0, 0, 0, 1]
        """
        counts = [getattr(self, r) for r in _REASONS]
        frame = pd.DataFrame({
            "rows_removed": np.asarray(counts, dtype=np.int64),
            "share": np.asarray(counts, dtype=float) / max(self.rows_in, 1),
            "description": list(self._descriptions().values()),
        }, index=pd.Index(_REASONS, name="reason"))
        return frame

    def __str__(self) -> str:
        lines = [f"CleaningReport: {self.rows_in} rows in, {self.rows_out} rows out, {self.removed} removed"]
        desc = self._descriptions()
        width = max(len(d) for d in desc.values())
        for reason in _REASONS:
            lines.append(f"  {desc[reason]:<{width}}  {getattr(self, reason):>8}")
        return "\n".join(lines)


def clean_interactions(df, *, known_users=None, known_items=None,
                       rating_range=_DEFAULT_RANGE, require=(), dedupe_on=None,
                       keep="first") -> tuple[pd.DataFrame, CleaningReport]:
    """Remove unusable interaction rows and report how many went for each reason.

    A row is removed, and counted once under the first reason that applies,
    when

    1. its user or item ID is missing (NaN);
    2. a column named in ``require`` is missing (NaN) -- ratings are *not*
       required by default, because a missing rating means "not rated";
    3. its rating is given but outside ``rating_range`` (negative, zero, 7,
       infinite...);
    4. its user is not in ``known_users`` (when given);
    5. its item is not in ``known_items`` (when given);
    6. it repeats an earlier row (``keep="first"``) on the ``dedupe_on``
       columns. Duplicates are looked for last, among rows that passed every
       other check, so a valid copy is never lost to an invalid one.

    The input is not modified.

    Parameters
    ----------
    df : pandas.DataFrame, shape (n_rows, n_columns)
        Interactions with at least ``user_id`` and ``item_id``. If present,
        ``rating``, ``day``, ``policy_score``, ``exposed``, ``position``,
        ``clicked`` and ``purchased`` must be numeric (``day`` may also be a
        datetime).
    known_users, known_items : array-like of IDs, optional
        The valid IDs, e.g. ``world.users["user_id"]``.
    rating_range : (float, float) or None
        Closed interval of valid ratings, default ``(1, 5)``; None skips the
        check. Ignored when there is no ``rating`` column.
    require : sequence of str
        Columns that must not be NaN, e.g. ``("rating",)`` to keep rated rows only.
    dedupe_on : sequence of str, optional
        Columns that identify a row. Default: ``user_id``, ``item_id`` and,
        when present, ``day``. Pass ``()`` to keep duplicates.
    keep : {"first", "last"}
        Which copy of a duplicate survives (in row order).

    Returns
    -------
    clean : pandas.DataFrame, shape (rows_out, n_columns)
        The kept rows, in input order, with their original index labels. An ID
        column that was float only because of NaN is turned back into int64.
    report : CleaningReport

    Raises
    ------
    ValueError
        If ``df`` is empty or lacks a needed column, if ``rating`` (or another
        logged column) is not numeric, if IDs are fractional, booleans or mixed
        strings and numbers, or if an argument is malformed.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [0, 0, 1, 1, None],
    ...                    "item_id": [5, 5, 6, 7, 8],
    ...                    "rating": [4.0, 4.0, 9.0, None, 3.0]})
    >>> clean, report = clean_interactions(df)
    >>> clean.index.tolist()
    [0, 3]
    >>> report.missing_ids, report.out_of_range_ratings, report.duplicates, report.removed
    (1, 1, 1, 3)
    """
    check_dataframe(df, "df", (schema.USER, schema.ITEM))
    require = _columns_arg(require, "require")
    if dedupe_on is None:
        dedupe_on = (schema.USER, schema.ITEM) + ((schema.DAY,) if schema.DAY in df.columns else ())
    dedupe_on = _columns_arg(dedupe_on, "dedupe_on")
    check_dataframe(df, "df", require + dedupe_on)
    if keep not in ("first", "last"):
        raise ValueError(f"keep must be 'first' or 'last', got {keep!r}")
    has_rating = schema.RATING in df.columns
    if rating_range is not None:
        rating_range = _check_rating_range(rating_range)
    if has_rating:
        _check_rating_dtype(df, "df")
    for column in _NUMERIC_COLUMNS:
        if column in df.columns:
            dtype = df[column].dtype
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
                raise ValueError(f"column {column!r} of df must be numeric, got dtype {dtype}")
    if schema.DAY in df.columns:
        dtype = df[schema.DAY].dtype
        if not (pd.api.types.is_datetime64_any_dtype(dtype)
                or (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))):
            raise ValueError(f"column {schema.DAY!r} of df must be numeric or datetime, got dtype {dtype}")

    n = len(df)
    reason = np.full(n, "", dtype=object)

    def mark(mask, name):
        fresh = np.asarray(mask, dtype=bool) & (reason == "")
        reason[fresh] = name

    mark(df[schema.USER].isna().to_numpy() | df[schema.ITEM].isna().to_numpy(), "missing_ids")
    if require:
        mark(df[list(require)].isna().to_numpy().any(axis=1), "missing_values")
    if has_rating and rating_range is not None:
        r = df[schema.RATING].to_numpy(dtype=float, na_value=np.nan)
        given = ~np.isnan(r)
        with np.errstate(invalid="ignore"):
            outside = given & ((r < rating_range[0]) | (r > rating_range[1]) | ~np.isfinite(r))
        mark(outside, "out_of_range_ratings")

    ok_ids = reason != "missing_ids"
    # Validate the dtype of the IDs that remain (fractional or mixed IDs are errors, not dirt).
    users = _id_array(df[schema.USER][ok_ids], f"column {schema.USER!r} of df")
    items = _id_array(df[schema.ITEM][ok_ids], f"column {schema.ITEM!r} of df")
    for known, ids, col, reason_name in ((known_users, users, schema.USER, "unknown_users"),
                                          (known_items, items, schema.ITEM, "unknown_items")):
        if known is None:
            continue
        arg = "known_users" if col == schema.USER else "known_items"
        known_ids = _id_array(known, arg)
        if len(known_ids) == 0:
            raise ValueError(f"{arg} is empty; pass None to skip this check")
        if len(ids):
            _same_kind(ids, known_ids, f"column {col!r} of df", arg)
        unknown = np.zeros(n, dtype=bool)
        unknown[ok_ids] = ~np.isin(ids, known_ids)
        mark(unknown, reason_name)

    if dedupe_on:
        alive = np.flatnonzero(reason == "")
        dup = df.iloc[alive].duplicated(subset=list(dedupe_on), keep=keep).to_numpy()
        duplicate = np.zeros(n, dtype=bool)
        duplicate[alive[dup]] = True
        mark(duplicate, "duplicates")

    kept = reason == ""
    clean = df.loc[kept].copy()
    for col in (schema.USER, schema.ITEM):
        if pd.api.types.is_float_dtype(clean[col].dtype):
            values = clean[col].to_numpy(dtype=float)
            if len(values) and np.all(values == np.round(values)):
                clean[col] = values.astype(np.int64)
    reasons = pd.Series(reason[~kept], index=df.index[~kept], name="reason", dtype=object)
    counts = {name: int(np.sum(reason == name)) for name in _REASONS}
    report = CleaningReport(rows_in=n, rows_out=int(kept.sum()), required=require,
                            rating_range=rating_range if has_rating else None,
                            dedupe_on=dedupe_on, reasons=reasons, **counts)
    return clean, report


def check_ratings(df, *, rating_range=_DEFAULT_RANGE, allow_missing=True, name="df") -> None:
    """Raise unless ``df["rating"]`` is numeric and every given rating lies in ``rating_range``.

    The strict counterpart of :func:`clean_interactions`, for code that
    consumes ratings: it removes nothing, it refuses.

    Parameters
    ----------
    df : pandas.DataFrame
        Must hold a ``rating`` column.
    rating_range : (float, float)
        Closed interval of valid ratings.
    allow_missing : bool
        Whether NaN ("not rated") is acceptable.
    name : str
        What to call ``df`` in error messages.

    Raises
    ------
    ValueError
        Naming the column, the dtype, or the first offending values and rows.

    Examples
    --------
    >>> import pandas as pd
    >>> check_ratings(pd.DataFrame({"rating": [1.0, 5.0, None]}))
    >>> check_ratings(pd.DataFrame({"rating": [4.0, -1.0]}))
    Traceback (most recent call last):
    ...
    ValueError: column 'rating' of df holds 1 rating(s) outside [1, 5]: [-1.0] at row(s) [1]
    """
    check_dataframe(df, name, (schema.RATING,))
    low, high = _check_rating_range(rating_range)
    _check_rating_dtype(df, name)
    r = df[schema.RATING].to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(r)
    if missing.any() and not allow_missing:
        raise ValueError(f"column {schema.RATING!r} of {name} holds {int(missing.sum())} missing rating(s) "
                         f"(NaN) at row(s) {_labels(df.index, missing)}; keep rated rows only, "
                         f"e.g. df[df[{schema.RATING!r}].notna()]")
    with np.errstate(invalid="ignore"):
        bad = ~missing & ((r < low) | (r > high) | ~np.isfinite(r))
    if bad.any():
        raise ValueError(f"column {schema.RATING!r} of {name} holds {int(bad.sum())} rating(s) outside "
                         f"[{low:g}, {high:g}]: {r[bad][:_SHOW].tolist()} at row(s) {_labels(df.index, bad)}")


def binarize_ratings(df, *, threshold=4, rating_range=_DEFAULT_RANGE) -> pd.DataFrame:
    """Add a 0/1 ``label`` column: 1 where ``rating >= threshold``.

    A 1-5 rating is an ordinal number, not a class: a classifier trained with
    cross-entropy needs a binary (or one-hot) target. This is the simplest
    honest conversion ("liked it" = 4 or 5 stars).

    Parameters
    ----------
    df : pandas.DataFrame, shape (n, n_columns)
        Rated interactions; every rating must be given and lie in ``rating_range``.
    threshold : float
        Lowest rating that counts as positive; must lie inside ``rating_range``.
    rating_range : (float, float)
        Closed interval of valid ratings.

    Returns
    -------
    pandas.DataFrame, shape (n, n_columns + 1)
        A copy of ``df`` with an int64 ``label`` column.

    Raises
    ------
    ValueError
        If a rating is missing, negative, out of range or not numeric.

    Examples
    --------
    >>> import pandas as pd
    >>> binarize_ratings(pd.DataFrame({"rating": [5.0, 3.0, 4.0]}))["label"].tolist()
    [1, 0, 1]
    """
    low, high = _check_rating_range(rating_range)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not low <= threshold <= high:
        raise ValueError(f"threshold must be a number in rating_range [{low:g}, {high:g}], got {threshold!r}")
    check_ratings(df, rating_range=(low, high), allow_missing=False)
    out = df.copy()
    out[LABEL] = (df[schema.RATING].to_numpy(dtype=float) >= threshold).astype(np.int64)
    return out


# --------------------------------------------------------------------------------------
# ID encoding
# --------------------------------------------------------------------------------------

class IdEncoder:
    """Map user or item IDs to consecutive integers ``0 .. n_classes_ - 1``.

    Embedding tables are indexed by position, so IDs must become ``0..n-1``.
    The code of an ID is its rank among the sorted IDs seen in :meth:`fit`,
    so the mapping does not depend on row order.

    IDs not seen in :meth:`fit` (a new user at serving time: cold start) must
    be handled on purpose; :meth:`transform` offers three explicit choices.

    Attributes
    ----------
    classes_ : numpy.ndarray, shape (n_classes_,)
        The sorted distinct IDs seen in :meth:`fit` (int64 or str).
    n_classes_ : int
        Their number. With ``unknown="oov"``, an embedding table needs
        ``n_classes_ + 1`` rows.

    Examples
    --------
    >>> enc = IdEncoder().fit([30, 10, 20, 10])
    >>> enc.classes_.tolist()
    [10, 20, 30]
    >>> enc.transform([20, 30, 10]).tolist()
    [1, 2, 0]
    >>> enc.transform([20, 99], unknown="ignore").tolist()
    [1, -1]
    >>> enc.transform([20, 99], unknown="oov").tolist()
    [1, 3]
    >>> enc.inverse_transform([2, 0]).tolist()
    [30, 10]
    """

    UNKNOWN_CHOICES = ("error", "ignore", "oov")

    def fit(self, ids) -> IdEncoder:
        """Learn the distinct IDs.

        Parameters
        ----------
        ids : array-like, shape (n,)
            Integer or string IDs (no NaN, not a mix of kinds); at least one.

        Returns
        -------
        self
        """
        values = _id_array(ids, "ids")
        if len(values) == 0:
            raise ValueError("ids is empty: IdEncoder needs at least one ID to fit")
        self.classes_ = np.unique(values)
        self.n_classes_ = int(len(self.classes_))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise ValueError("this IdEncoder is not fitted yet; call fit(ids) first")

    def transform(self, ids, *, unknown="error") -> np.ndarray:
        """Encode IDs.

        Parameters
        ----------
        ids : array-like, shape (n,)
            IDs of the same kind (integer or string) as the fitted ones.
        unknown : {"error", "ignore", "oov"}
            What to do with IDs not seen in :meth:`fit`: ``"error"`` raises a
            ValueError listing a few of them; ``"ignore"`` encodes them as -1
            (drop or mask them yourself); ``"oov"`` gives them all the one extra
            code ``n_classes_`` (an "out of vocabulary" row in an embedding
            table, shared by every new ID).

        Returns
        -------
        numpy.ndarray of int64, shape (n,)
        """
        self._check_fitted()
        if unknown not in self.UNKNOWN_CHOICES:
            raise ValueError(f"unknown must be one of {self.UNKNOWN_CHOICES}, got {unknown!r}")
        values = _id_array(ids, "ids")
        if len(values) == 0:
            return np.empty(0, dtype=np.int64)
        _same_kind(values, self.classes_, "ids", "the fitted classes_")
        codes = np.searchsorted(self.classes_, values)
        inside = codes < self.n_classes_
        seen = np.zeros(len(values), dtype=bool)
        seen[inside] = self.classes_[codes[inside]] == values[inside]
        if not seen.all():
            if unknown == "error":
                unseen = pd.unique(values[~seen])
                raise ValueError(
                    f"{int((~seen).sum())} ID(s) were not seen in fit ({len(unseen)} distinct), e.g. "
                    f"{unseen[:_SHOW].tolist()}; pass unknown='ignore' (code -1) or unknown='oov' "
                    f"(code {self.n_classes_}) to encode them"
                )
            codes = np.where(seen, codes, -1 if unknown == "ignore" else self.n_classes_)
        return codes.astype(np.int64)

    def fit_transform(self, ids) -> np.ndarray:
        """:meth:`fit` then :meth:`transform` (every ID is known)."""
        return self.fit(ids).transform(ids)

    def inverse_transform(self, codes) -> np.ndarray:
        """Turn codes back into IDs.

        Parameters
        ----------
        codes : array-like of int, shape (n,)
            Values in ``[0, n_classes_)``; -1 and the ``"oov"`` code have no ID
            and are refused.

        Returns
        -------
        numpy.ndarray, shape (n,), of the fitted IDs' dtype.
        """
        self._check_fitted()
        arr = np.asarray(codes)
        if arr.ndim != 1:
            raise ValueError(f"codes must be 1-D, got shape {arr.shape}")
        if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"codes must be integers, got dtype {arr.dtype}")
        bad = (arr < 0) | (arr >= self.n_classes_)
        if bad.any():
            raise ValueError(f"codes must lie in [0, {self.n_classes_}); found {arr[bad][:_SHOW].tolist()} "
                             "(unknown IDs have no inverse)")
        return self.classes_[arr.astype(np.int64)]


# --------------------------------------------------------------------------------------
# Numeric features
# --------------------------------------------------------------------------------------

class FeatureScaler:
    """Standardize numeric columns of a DataFrame: ``(x - mean) / std``.

    Statistics are learned on the training frame only and reused on any
    other frame, so test data never leaks into them. Skewed, non-negative
    columns (prices, popularity counts) can be passed through ``log1p``
    first.

    Parameters
    ----------
    columns : str or sequence of str
        The columns to scale; other columns pass through unchanged.
    log1p : sequence of str
        A subset of ``columns`` to transform with ``log(1 + x)`` before
        standardizing (their values must be >= 0).

    Attributes
    ----------
    mean_, scale_ : pandas.Series, indexed by column
        Mean and population standard deviation (``ddof=0``) learned in
        :meth:`fit`, after ``log1p``. A constant column gets ``scale_ = 1``, so
        it becomes all zeros instead of a division by zero.
    constant_columns_ : list of str
        The columns that were constant in :meth:`fit`.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"price": [10.0, 20.0, 30.0], "category": ["a", "b", "a"]})
    >>> scaler = FeatureScaler("price").fit(train)
    >>> scaler.transform(train)["price"].round(3).tolist()
    [-1.225, 0.0, 1.225]
    >>> scaler.transform(pd.DataFrame({"price": [20.0]}))["price"].tolist()
    [0.0]
    """

    def __init__(self, columns, *, log1p=()):
        self.columns = columns
        self.log1p = log1p

    def _prepare(self, df, name: str) -> pd.DataFrame:
        columns = _columns_arg(self.columns, "columns")
        if not columns:
            raise ValueError("columns is empty: name at least one column to scale")
        log_cols = _columns_arg(self.log1p, "log1p")
        stray = [c for c in log_cols if c not in columns]
        if stray:
            raise ValueError(f"log1p names column(s) {stray} that are not in columns {list(columns)}")
        check_dataframe(df, name, columns)
        values = {}
        for col in columns:
            dtype = df[col].dtype
            if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
                raise ValueError(f"column {col!r} of {name} must be numeric, got dtype {dtype}")
            x = df[col].to_numpy(dtype=float, na_value=np.nan)
            bad = ~np.isfinite(x)
            if bad.any():
                raise ValueError(f"column {col!r} of {name} holds {int(bad.sum())} missing or infinite "
                                 f"value(s) at row(s) {_labels(df.index, bad)}; impute or drop them first")
            if col in log_cols:
                if (x < 0).any():
                    raise ValueError(f"column {col!r} of {name} is in log1p but holds negative values, "
                                     f"e.g. {x[x < 0][:_SHOW].tolist()}")
                x = np.log1p(x)
            values[col] = x
        return pd.DataFrame(values, index=df.index)

    def fit(self, df) -> FeatureScaler:
        """Learn each column's mean and standard deviation from ``df`` (n_rows >= 1).

        Returns
        -------
        self
        """
        values = self._prepare(df, "df")
        self.mean_ = values.mean(axis=0)
        std = values.std(axis=0, ddof=0)
        constant = std <= 1e-12 * np.maximum(1.0, self.mean_.abs())
        self.constant_columns_ = std.index[constant].tolist()
        self.scale_ = std.where(~constant, 1.0)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise ValueError("this FeatureScaler is not fitted yet; call fit(df) first")

    def transform(self, df) -> pd.DataFrame:
        """Return a copy of ``df`` with the scaled columns replaced by float64 z-scores."""
        self._check_fitted()
        values = self._prepare(df, "df")
        out = df.copy()
        for col in values.columns:
            out[col] = (values[col] - self.mean_[col]) / self.scale_[col]
        return out

    def fit_transform(self, df) -> pd.DataFrame:
        """:meth:`fit` on ``df``, then :meth:`transform` it."""
        return self.fit(df).transform(df)

    def inverse_transform(self, df) -> pd.DataFrame:
        """Undo :meth:`transform` (including ``log1p``) on a copy of ``df``."""
        self._check_fitted()
        columns = list(self.mean_.index)
        check_dataframe(df, "df", columns)
        out = df.copy()
        log_cols = _columns_arg(self.log1p, "log1p")
        for col in columns:
            dtype = df[col].dtype
            if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
                raise ValueError(f"column {col!r} of df must be numeric, got dtype {dtype}")
            x = df[col].to_numpy(dtype=float, na_value=np.nan) * self.scale_[col] + self.mean_[col]
            out[col] = np.expm1(x) if col in log_cols else x
        return out


# --------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------

def _texts(texts, what: str) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise ValueError(f"{what} must be a sequence of documents, got a single string; wrap it in a list")
    s = _as_series(texts, what)
    if len(s) == 0:
        raise ValueError(f"{what} is empty: pass at least one document")
    missing = s.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{what} holds {int(missing.sum())} missing text(s) (NaN/None) at row(s) "
                         f"{_labels(s.index, missing)}; fill them (e.g. with '') or drop those rows")
    values = s.to_numpy(dtype=object)
    not_str = np.fromiter((not isinstance(v, str) for v in values), dtype=bool, count=len(values))
    if not_str.any():
        kinds = [type(v).__name__ for v in values[not_str][:_SHOW]]
        raise ValueError(f"{what} must hold strings; found {kinds} at row(s) {_labels(s.index, not_str)}")
    return values.tolist()


class TextVectorizer:
    """Bag-of-words or TF-IDF vectors for short texts (item descriptions).

    A thin wrapper over scikit-learn's ``CountVectorizer`` and
    ``TfidfVectorizer`` that validates its input and returns float32, ready
    for a neural network. Tokens are lower-cased words of two or more
    letters or digits.

    Parameters
    ----------
    kind : {"tfidf", "bow"}
        ``"bow"``: raw term counts. ``"tfidf"``: counts times smoothed inverse
        document frequency, each row scaled to unit L2 norm (a text with no
        known word stays an all-zero row).
    min_df : int or float
        Ignore terms in fewer documents than this (an int: a count; a float in
        (0, 1]: a share of documents).
    max_features : int, optional
        Keep only the most frequent terms.
    ngram_range : (int, int)
        Word n-gram sizes, e.g. ``(1, 2)`` for words and word pairs.
    sparse : bool
        Return a ``scipy.sparse.csr_matrix`` instead of a dense array.

    Attributes
    ----------
    vocabulary_ : dict of str to int
        Term -> column index, in alphabetical order.
    n_features_ : int
        Number of terms (columns).

    Examples
    --------
    >>> vec = TextVectorizer(kind="bow").fit(["red shoe", "blue shoe shoe"])
    >>> vec.vocabulary_
    {'blue': 0, 'red': 1, 'shoe': 2}
    >>> vec.transform(["shoe red shoe"]).tolist()
    [[0.0, 1.0, 2.0]]
    """

    KINDS = ("tfidf", "bow")

    def __init__(self, kind="tfidf", *, min_df=1, max_features=None, ngram_range=(1, 1), sparse=False):
        self.kind = kind
        self.min_df = min_df
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.sparse = sparse

    def _make(self):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        if self.kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {self.kind!r}")
        min_df = self.min_df
        if isinstance(min_df, bool) or not isinstance(min_df, numbers.Real):
            raise ValueError(f"min_df must be an int >= 1 or a float in (0, 1], got {min_df!r}")
        if isinstance(min_df, numbers.Integral):
            min_df = check_positive_int(min_df, "min_df")
        else:
            min_df = check_fraction(min_df, "min_df", inclusive=(False, True))
        max_features = (None if self.max_features is None
                        else check_positive_int(self.max_features, "max_features"))
        try:
            low, high = self.ngram_range
            low, high = check_positive_int(low, "ngram_range[0]"), check_positive_int(high, "ngram_range[1]")
        except (TypeError, ValueError) as err:
            raise ValueError(f"ngram_range must be a pair of ints 1 <= low <= high, got {self.ngram_range!r} "
                             f"({err})") from None
        if low > high:
            raise ValueError(f"ngram_range must have low <= high, got {self.ngram_range!r}")
        options = dict(min_df=min_df, max_features=max_features, ngram_range=(low, high), dtype=np.float32)
        if self.kind == "tfidf":
            return TfidfVectorizer(norm="l2", **options)
        return CountVectorizer(**options)

    def fit(self, texts) -> TextVectorizer:
        """Learn the vocabulary (and, for TF-IDF, the document frequencies).

        Parameters
        ----------
        texts : sequence of str, shape (n_docs,)
            No missing values.

        Returns
        -------
        self
        """
        docs = _texts(texts, "texts")
        vectorizer = self._make()
        if isinstance(vectorizer.min_df, int) and vectorizer.min_df > len(docs):
            raise ValueError(f"min_df={vectorizer.min_df} is more than the {len(docs)} text(s) given: "
                             "no term can qualify")
        try:
            vectorizer.fit(docs)
        except ValueError as err:
            raise ValueError(f"TextVectorizer found no usable terms in {len(docs)} text(s) "
                             f"(min_df={self.min_df!r}): {err}") from None
        self._vectorizer = vectorizer
        self.vocabulary_ = {term: int(i) for term, i in sorted(vectorizer.vocabulary_.items())}
        self.n_features_ = len(self.vocabulary_)
        return self

    def transform(self, texts):
        """Vectorize texts with the fitted vocabulary (unknown words are ignored).

        Returns
        -------
        numpy.ndarray of float32, shape (n_docs, n_features_)
            Or a ``scipy.sparse.csr_matrix`` of the same shape when ``sparse=True``.
        """
        if not hasattr(self, "_vectorizer"):
            raise ValueError("this TextVectorizer is not fitted yet; call fit(texts) first")
        matrix = self._vectorizer.transform(_texts(texts, "texts")).astype(np.float32)
        return matrix.tocsr() if self.sparse else matrix.toarray()

    def fit_transform(self, texts):
        """:meth:`fit` then :meth:`transform` on the same texts."""
        return self.fit(texts).transform(texts)

    def get_feature_names_out(self) -> np.ndarray:
        """The terms, in column order (array of str, shape (n_features_,))."""
        if not hasattr(self, "vocabulary_"):
            raise ValueError("this TextVectorizer is not fitted yet; call fit(texts) first")
        return np.asarray(list(self.vocabulary_), dtype=str)


# --------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------

class NormalizedImages(NamedTuple):
    """Result of :func:`normalize_images`; unpacks as ``images, mean, std``."""

    images: np.ndarray
    mean: float
    std: float


def normalize_images(images, *, mean=None, std=None) -> NormalizedImages:
    """Standardize grayscale images and add the channel axis a CNN expects.

    ``(x - mean) / std`` with one mean and one standard deviation over every
    pixel of every image. Compute them on the training images (the default)
    and pass them back in for validation and test images.

    Parameters
    ----------
    images : array-like, shape (n, H, W) or (n, 1, H, W)
        Pixel intensities in [0, 1]; a ``uint8`` array (0-255) is divided by
        255 first. No NaN or infinite values.
    mean, std : float, optional
        Statistics to use; computed from ``images`` when None. ``std`` must be > 0.

    Returns
    -------
    NormalizedImages
        ``images``: float32 array of shape (n, 1, H, W) (N, C, H, W, as
        ``torch.nn.Conv2d`` wants); ``mean``, ``std``: the statistics used,
        as floats on the [0, 1] scale.

    Raises
    ------
    ValueError
        On a wrong shape, a non-numeric dtype, NaN or infinite pixels, values
        outside [0, 1], constant images (when ``std`` must be computed), or a
        non-positive ``std``.

    Examples
    --------
    >>> import numpy as np
    >>> imgs = np.array([[[0.0, 1.0], [0.0, 1.0]]])
    >>> out, mean, std = normalize_images(imgs)
    >>> out.shape, out.dtype, mean, std
    ((1, 1, 2, 2), dtype('float32'), 0.5, 0.5)
    >>> out[0, 0].tolist()
    [[-1.0, 1.0], [-1.0, 1.0]]
    """
    arr = np.asarray(images)
    numeric = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    if arr.dtype == bool or not numeric:
        raise ValueError(f"images must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 4 and arr.shape[1] != 1:
        raise ValueError(f"images must have shape (n, H, W) or (n, 1, H, W) (grayscale); got {arr.shape}, "
                         f"with {arr.shape[1]} channels on axis 1")
    if arr.ndim not in (3, 4):
        raise ValueError(f"images must have shape (n, H, W) or (n, 1, H, W); "
                         f"got {arr.ndim}-D shape {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"images must hold at least one image of at least 1x1 pixels; got shape {arr.shape}")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float64) / 255.0
    else:
        x = arr.astype(np.float64)
    finite = np.isfinite(x)
    if not finite.all():
        first = int(np.argmin(finite.reshape(len(x), -1).all(axis=1)))
        raise ValueError(f"images hold {int((~finite).sum())} NaN or infinite pixel(s), "
                         f"first in image {first}")
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"images must lie in [0, 1]; found values in [{low:g}, {high:g}] "
                         "(divide 0-255 pixels by 255 first)")
    for value, label in ((mean, "mean"), (std, "std")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                  or not np.isfinite(value)):
            raise ValueError(f"{label} must be a finite number, got {value!r}")
    mean = float(x.mean()) if mean is None else float(mean)
    if std is None:
        std = float(np.sqrt(np.mean((x - mean) ** 2)))
        if std <= 1e-12:
            raise ValueError("images are constant (standard deviation 0): they cannot be standardized; "
                             "pass std explicitly")
    elif std <= 0:
        raise ValueError(f"std must be > 0, got {std}")
    out = ((x - mean) / float(std)).astype(np.float32)
    if out.ndim == 3:
        out = out[:, np.newaxis, :, :]
    return NormalizedImages(np.ascontiguousarray(out), mean, float(std))


# --------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------

def _take(df: pd.DataFrame, test_mask: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    return df.iloc[np.flatnonzero(~test_mask)], df.iloc[np.flatnonzero(test_mask)]


def random_split(df, *, test_size=0.2, random_state=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows at random into train and test.

    The test set gets ``round(test_size * n)`` rows, but at least one and at
    most ``n - 1``. Simple, and the right choice only when rows are
    exchangeable; for recommendation, prefer :func:`temporal_split` (no peeking
    at the future) or :func:`leave_one_out`.

    Parameters
    ----------
    df : pandas.DataFrame, shape (n, n_columns)
        Interactions (``user_id``, ``item_id`` without NaN), at least 2 rows.
    test_size : float
        Share of rows in the test set, in (0, 1).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    train, test : pandas.DataFrame
        Disjoint, together exactly the rows of ``df``, each in input order
        and with the input's index labels.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": range(10), "item_id": range(10)})
    >>> train, test = random_split(df, test_size=0.3, random_state=0)
    >>> len(train), len(test)
    (7, 3)
    >>> sorted(train.index.tolist() + test.index.tolist()) == list(range(10))
    True
    """
    _check_interactions(df, "df")
    test_size = check_fraction(test_size, "test_size", inclusive=(False, False))
    n = len(df)
    if n < 2:
        raise ValueError(f"df has {n} row; a split needs at least 2")
    rng = check_random_state(random_state)
    n_test = min(max(int(round(test_size * n)), 1), n - 1)
    test_mask = np.zeros(n, dtype=bool)
    test_mask[rng.permutation(n)[:n_test]] = True
    return _take(df, test_mask)


def temporal_split(df, *, test_size=None, cutoff=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by time: everything from the cutoff day on is test.

    This is how a recommender is used: trained on the past, judged on the
    future. Days are never split, so ``train[day].max() < test[day].min()``.

    Give either ``cutoff`` or ``test_size`` (default 0.2). With ``test_size``,
    the cutoff is the day whose share of rows at or after it is closest to
    ``test_size`` (ties: the earlier day), among days that leave both parts
    non-empty.

    Parameters
    ----------
    df : pandas.DataFrame, shape (n, n_columns)
        Interactions with ``user_id``, ``item_id`` and a numeric or datetime
        ``day`` column without NaN; at least two distinct days.
    test_size : float, optional
        Target share of rows in the test set, in (0, 1).
    cutoff : number or datetime, optional
        First test day: rows with ``day >= cutoff`` are test.

    Returns
    -------
    train, test : pandas.DataFrame
        Disjoint, together exactly the rows of ``df``, in input order, with
        the input's index labels.

    Raises
    ------
    ValueError
        If both ``cutoff`` and ``test_size`` are given, if there is one
        distinct day only, or if ``cutoff`` leaves either part empty.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [0, 0, 1, 1, 2], "item_id": [1, 2, 1, 3, 2],
    ...                    "day": [0, 1, 1, 2, 3]})
    >>> train, test = temporal_split(df, cutoff=2)
    >>> train["day"].tolist(), test["day"].tolist()
    ([0, 1, 1], [2, 3])
    >>> train, test = temporal_split(df, test_size=0.2)
    >>> test["day"].tolist()
    [3]
    """
    _check_interactions(df, "df", (schema.DAY,))
    days = _time_values(df, schema.DAY, "df")
    distinct = np.unique(days)
    if len(distinct) < 2:
        raise ValueError(f"column {schema.DAY!r} of df holds a single day ({df[schema.DAY].iloc[0]}); "
                         "a temporal split needs at least two")
    if cutoff is not None and test_size is not None:
        raise ValueError("give either cutoff or test_size, not both")
    if cutoff is None:
        test_size = check_fraction(0.2 if test_size is None else test_size, "test_size",
                                   inclusive=(False, False))
        # share of rows on or after each candidate cutoff distinct[1:], via counts per day
        per_day = np.searchsorted(np.sort(days), distinct, side="right")
        per_day = np.diff(np.concatenate([[0], per_day]))
        share_from = np.cumsum(per_day[::-1])[::-1] / len(days)
        cutoff = distinct[1:][int(np.argmin(np.abs(share_from[1:] - test_size)))]
    else:
        if isinstance(cutoff, (str, pd.Timestamp, np.datetime64)) or hasattr(cutoff, "year"):
            cutoff = np.datetime64(pd.Timestamp(cutoff))
        try:
            test_mask = days >= cutoff
        except TypeError:
            raise ValueError(f"cutoff {cutoff!r} cannot be compared with column {schema.DAY!r} "
                             f"(dtype {df[schema.DAY].dtype})") from None
        if test_mask.all() or not test_mask.any():
            part = "train" if test_mask.all() else "test"
            raise ValueError(f"cutoff={cutoff!r} leaves the {part} set empty: days run from "
                             f"{df[schema.DAY].min()} to {df[schema.DAY].max()}")
    return _take(df, np.asarray(days >= cutoff))


def leave_one_out(df, *, by=schema.DAY, random_state=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out one interaction per user: the latest one.

    The rule: every user with **at least 2 rows** gives exactly one row to
    test, the one with the largest ``by`` value (ties broken at random, by
    ``random_state``); with ``by=None`` the held-out row is drawn uniformly.
    Users with a single row stay entirely in train, so every test user also
    appears in train. Each row counts as one interaction: filter ``df`` first
    (e.g. to purchases) if only some rows are positives.

    Parameters
    ----------
    df : pandas.DataFrame, shape (n, n_columns)
        Interactions with ``user_id``, ``item_id`` (no NaN) and, unless
        ``by=None``, the numeric or datetime column ``by`` (no NaN).
    by : str or None
        Time column, default ``day``.
    random_state : int, numpy.random.Generator or None
        Breaks ties (or picks the row when ``by=None``).

    Returns
    -------
    train, test : pandas.DataFrame
        Disjoint, together exactly the rows of ``df``, in input order, with the
        input's index labels. ``test`` has one row per user with >= 2 rows.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [0, 0, 0, 1, 2, 2],
    ...                    "item_id": [1, 2, 3, 1, 4, 5],
    ...                    "day":     [5, 9, 7, 1, 2, 3]})
    >>> train, test = leave_one_out(df)
    >>> test[["user_id", "item_id"]].values.tolist()
    [[0, 2], [2, 5]]
    """
    extra = () if by is None else (by,)
    if by is not None and not isinstance(by, str):
        raise ValueError(f"by must be a column name or None, got {by!r}")
    users, _ = _check_interactions(df, "df", extra)
    rng = check_random_state(random_state)
    n = len(df)
    _, user_index, counts = np.unique(users, return_inverse=True, return_counts=True)
    tie_break = rng.random(n)
    if by is None:
        order = np.lexsort((tie_break, user_index))
    else:
        time = _time_values(df, by, "df")
        if np.issubdtype(time.dtype, np.datetime64):
            time = time.astype("datetime64[ns]").astype(np.int64)
        order = np.lexsort((tie_break, time, user_index))
    last_of_user = np.cumsum(counts) - 1  # positions in `order` of each user's latest row
    held_out = order[last_of_user[counts >= 2]]
    test_mask = np.zeros(n, dtype=bool)
    test_mask[held_out] = True
    return _take(df, test_mask)


def logged_randomized_split(world) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the logged data, test on the randomized slice.

    The logs are shaped by the logging policy (popular, probably relevant
    items were shown more), so a model evaluated on held-out *logs* is judged
    on the same bias it learned. The randomized slice (uniform exposure,
    ratings asked at random) is the unbiased yardstick.

    Parameters
    ----------
    world : ShopWorld
        E.g. ``causalrec.load_default()``; its randomized slice must not be empty.

    Returns
    -------
    train : pandas.DataFrame
        A copy of ``world.interactions``.
    test : pandas.DataFrame
        A copy of ``world.randomized`` (no ``policy_score`` column).

    Examples
    --------
    >>> from causalrec import simulate_shop
    >>> world = simulate_shop(n_users=20, n_items=40, randomized_per_user=3, random_state=0)
    >>> train, test = logged_randomized_split(world)
    >>> sorted(set(train.columns) - set(test.columns))
    ['policy_score']
    >>> bool(test["rating"].notna().all())
    True
    """
    if not isinstance(world, ShopWorld):
        raise TypeError("world must be a ShopWorld (e.g. causalrec.load_default()), "
                        f"got {type(world).__name__}")
    check_dataframe(world.interactions, "world.interactions", (schema.USER, schema.ITEM))
    if len(world.randomized) == 0:
        raise ValueError("world.randomized is empty: simulate the world with randomized_per_user >= 1")
    check_dataframe(world.randomized, "world.randomized", (schema.USER, schema.ITEM))
    return world.interactions.copy(), world.randomized.copy()


# --------------------------------------------------------------------------------------
# Negative sampling
# --------------------------------------------------------------------------------------

def _item_codes(series: pd.Series, n_items: int, what: str) -> np.ndarray:
    items = _id_array(series, what)
    if items.dtype.kind != "i":
        raise ValueError(f"{what} must hold integer item IDs in [0, {n_items}), got strings; "
                         "encode them first with IdEncoder")
    bad = (items < 0) | (items >= n_items)
    if bad.any():
        raise ValueError(f"{what} must lie in [0, n_items={n_items}); found {items[bad][:_SHOW].tolist()} "
                         f"at row(s) {_labels(series.index, bad)}")
    return items


def sample_negatives(positives, n_items, *, n_negatives=4, exclude=None,
                     random_state=0) -> pd.DataFrame:
    """Pair each positive interaction with items the user did not interact with.

    For implicit feedback (clicks, purchases) only positives are logged; a
    model needs negatives too. For each positive row, ``n_negatives`` items are
    drawn uniformly from the items that are neither among that user's
    positives nor in ``exclude`` for that user. Draws are independent, so a
    negative may repeat for the same user. The sampling is exact and fully
    vectorized: for each draw, a rank ``r`` among the user's allowed items is
    turned into an item ID by counting the excluded IDs below it (one
    ``searchsorted`` for all draws).

    Parameters
    ----------
    positives : pandas.DataFrame, shape (n_pos, n_columns)
        Positive pairs: ``user_id`` (any IDs) and ``item_id`` (integers in
        ``[0, n_items)``, e.g. from :class:`IdEncoder`).
    n_items : int
        Size of the item catalogue.
    n_negatives : int
        Negatives per positive row.
    exclude : pandas.DataFrame, optional
        More ``(user_id, item_id)`` pairs never to use as negatives, e.g. the
        test positives, or every logged interaction.
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    pandas.DataFrame, shape (n_pos * (1 + n_negatives), 3)
        Columns ``user_id``, ``item_id``, ``label``: first the positives
        (label 1) in input order, then the negatives (label 0), the
        ``n_negatives`` of positive row ``k`` at rows
        ``n_pos + k * n_negatives`` onward. Fresh RangeIndex.

    Raises
    ------
    ValueError
        On missing columns, NaN IDs, item IDs outside ``[0, n_items)``, or a
        user for whom every item is a positive or excluded.

    Examples
    --------
    >>> import pandas as pd
    >>> pos = pd.DataFrame({"user_id": [0, 0, 1], "item_id": [0, 1, 2]})
    >>> out = sample_negatives(pos, n_items=4, n_negatives=2, random_state=0)
    >>> len(out), out["label"].tolist()
    (9, [1, 1, 1, 0, 0, 0, 0, 0, 0])
    >>> neg = out[out["label"] == 0]
    >>> set(neg.loc[neg["user_id"] == 0, "item_id"]) <= {2, 3}
    True
    """
    users, _ = _check_interactions(positives, "positives")
    n_items = check_positive_int(n_items, "n_items")
    n_negatives = check_positive_int(n_negatives, "n_negatives")
    rng = check_random_state(random_state)
    items = _item_codes(positives[schema.ITEM], n_items, f"column {schema.ITEM!r} of positives")

    ex_users, ex_items = users, items
    if exclude is not None:
        check_dataframe(exclude, "exclude", (schema.USER, schema.ITEM), allow_empty=True)
        if len(exclude):
            eu = _id_array(exclude[schema.USER], f"column {schema.USER!r} of exclude")
            ei = _item_codes(exclude[schema.ITEM], n_items, f"column {schema.ITEM!r} of exclude")
            _same_kind(users, eu, f"column {schema.USER!r} of positives",
                       f"column {schema.USER!r} of exclude")
            ex_users, ex_items = np.concatenate([users, eu]), np.concatenate([items, ei])

    distinct_users, user_index = np.unique(users, return_inverse=True)
    n_users = len(distinct_users)
    # Exclusions, as distinct (user index, item) keys sorted by user then item.
    loc = np.minimum(np.searchsorted(distinct_users, ex_users), n_users - 1)
    relevant = distinct_users[loc] == ex_users  # exclusions of users without positives do not matter
    keys = np.unique(loc[relevant].astype(np.int64) * n_items + ex_items[relevant])
    key_user, key_item = keys // n_items, keys % n_items
    n_allowed = n_items - np.bincount(key_user, minlength=n_users)
    if (n_allowed == 0).any():
        full = distinct_users[n_allowed == 0]
        raise ValueError(f"{len(full)} user(s) have every one of the {n_items} items as a positive or "
                         f"excluded pair, so no negative can be drawn: {full[:_SHOW].tolist()}")
    # The r-th allowed item of a user is r + #(excluded items e_j with e_j - j <= r), where j is the
    # rank of e_j among that user's excluded items: e_j - j counts the allowed items below e_j.
    first_key = np.searchsorted(key_user, np.arange(n_users), side="left")
    allowed_below = key_item - (np.arange(len(keys)) - first_key[key_user])
    block = n_items + 1  # allowed_below lies in [0, n_items], so user blocks never overlap
    sorted_gaps = key_user * block + allowed_below
    draw_user = np.repeat(user_index, n_negatives)
    rank = rng.integers(0, n_allowed[draw_user])
    n_skipped = np.searchsorted(sorted_gaps, draw_user * block + rank, side="right") - first_key[draw_user]
    negatives = rank + n_skipped

    n_pos = len(users)
    return pd.DataFrame({
        schema.USER: np.concatenate([users, np.repeat(users, n_negatives)]),
        schema.ITEM: np.concatenate([items, negatives]).astype(np.int64),
        LABEL: np.concatenate([np.ones(n_pos, dtype=np.int64),
                               np.zeros(n_pos * n_negatives, dtype=np.int64)]),
    })
