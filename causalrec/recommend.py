"""Turn scores into top-k lists, and four baseline recommenders.

Every recommender in the book ends the same way: a score for each (user, item)
pair, the items a user already has removed, and the ``k`` best of the rest
listed in order. :func:`top_k` does that for a matrix of scores and
:func:`recommend` does it for any scoring function, a batch of users at a
time, returning a tidy DataFrame.

The baselines follow the scikit-learn estimator contract (``__init__`` only
stores hyperparameters, ``fit`` returns ``self``, learned attributes end in
``_``) and share one interface: ``score_items(user_ids)`` gives a
``(len(user_ids), n_items)`` score matrix and ``recommend(users, k)`` the
top-k table. User and item IDs are the integers ``0 .. n - 1``, as in
:func:`causalrec.load_default`.

- :class:`PopularityRecommender`: the same list for everyone, most-liked first.
- :class:`RandomRecommender`: a fair coin for every item (the floor to beat).
- :class:`ContentBasedRecommender`: items that *look like* what the user liked
  (cosine similarity between item features and the user's profile).
- :class:`ItemKNNRecommender`: items liked by the *same people* as what the user
  liked (collaborative filtering, item-item cosine similarity).

**Positive interactions.** The baselines learn from the rows of a log whose
``positive`` column is at least ``positive_threshold``. The default is a click
(:data:`causalrec.schema.CLICKED`): in the simulated shop a click needs the
item to be shown *and* liked, while purchases also include organic buying that
follows popularity, which dilutes the taste signal. Pass
``positive=schema.PURCHASED`` (or ``schema.RATING`` with
``positive_threshold=4``) to learn from something else.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import normalize
from tqdm import tqdm

from . import schema
from ._validation import (check_dataframe, check_id_column, check_numeric_column,
                          check_positive_int, check_random_state, seed_from)

__all__ = ["TopK", "top_k", "recommend", "PopularityRecommender", "RandomRecommender",
           "ContentBasedRecommender", "ItemKNNRecommender"]


class TopK(NamedTuple):
    """The result of :func:`top_k`: best items per row, best first.

    Attributes
    ----------
    indices : numpy.ndarray of int64, shape (n_rows, k)
        Column positions (or item IDs when ``item_ids`` was given); ``-1`` marks
        an empty slot in a row that had fewer than ``k`` eligible items.
    scores : numpy.ndarray of float64, shape (n_rows, k)
        The matching scores; ``-inf`` in empty slots.
    """

    indices: np.ndarray
    scores: np.ndarray


# --------------------------------------------------------------------------- helpers
def _to_numpy(values):
    """A numpy view of a numpy array, list or torch tensor (torch is never imported)."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _score_matrix(scores, name: str) -> np.ndarray:
    arr = _to_numpy(scores)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_rows, n_items), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}; it needs at least one row and one item")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    nan = np.isnan(arr)
    if nan.any():
        row, col = np.argwhere(nan)[0]
        raise ValueError(f"{name} holds {int(nan.sum())} NaN value(s), the first at row {row}, "
                         f"column {col}; a score must be a number (use -inf to rule an item out)")
    return arr


def _id_array(values, name: str, *, unique: bool = False) -> np.ndarray:
    """A 1-D int64 array of non-negative IDs (``unique`` forbids repeats)."""
    arr = _to_numpy(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: give at least one ID")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold integer IDs, got dtype {arr.dtype}; encode other IDs "
                         "first with causalrec.preprocessing.IdEncoder")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer IDs; found non-integer values such as "
                             f"{arr[~np.isfinite(arr) | (arr != np.round(arr))][:3].tolist()}")
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise ValueError(f"{name} must be non-negative IDs; found {arr[arr < 0][:3].tolist()}")
    if unique:
        values_, counts = np.unique(arr, return_counts=True)
        if np.any(counts > 1):
            raise ValueError(f"{name} holds repeated IDs such as {values_[counts > 1][:3].tolist()}")
    return arr


def _exclusion_mask(exclude, shape) -> np.ndarray | None:
    """Turn ``exclude`` (bool mask, sparse matrix or (rows, cols) pairs) into a bool mask."""
    if exclude is None:
        return None
    n_rows, n_items = shape
    if sp.issparse(exclude):
        if exclude.shape != shape:
            raise ValueError(f"exclude has shape {exclude.shape}, but scores have shape {shape}")
        coo = sp.coo_array(exclude)
        mask = np.zeros(shape, dtype=bool)
        mask[coo.row, coo.col] = coo.data != 0
        return mask
    if isinstance(exclude, tuple):
        if len(exclude) != 2:
            raise ValueError(f"exclude as index pairs must be a tuple (rows, columns), got {len(exclude)} parts")
        rows, cols = (np.asarray(_to_numpy(part)).reshape(-1) for part in exclude)
        if rows.shape != cols.shape:
            raise ValueError(f"exclude rows and columns differ in length: {rows.size} and {cols.size}")
        mask = np.zeros(shape, dtype=bool)
        if rows.size == 0:
            return mask
        for part, name, bound in ((rows, "rows", n_rows), (cols, "columns", n_items)):
            if not np.issubdtype(part.dtype, np.integer):
                raise ValueError(f"exclude {name} must be integers, got dtype {part.dtype}")
            if part.min() < 0 or part.max() >= bound:
                raise ValueError(f"exclude {name} must lie in [0, {bound}), got range [{part.min()}, {part.max()}]")
        mask[rows, cols] = True
        return mask
    arr = _to_numpy(exclude)
    if arr.dtype != bool:
        raise TypeError("exclude must be a boolean mask, a scipy sparse matrix or a tuple "
                        f"(rows, columns) of index pairs; got an array of dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"exclude has shape {arr.shape}, but scores have shape {shape}")
    return arr


# --------------------------------------------------------------------------- top_k
def top_k(scores, k, *, exclude=None, item_ids=None) -> TopK:
    """The ``k`` highest-scoring items of every row, best first.

    Fully vectorised: a partition finds each row's k-th best score, and only
    the chosen ``k`` entries are sorted (stably). Equal scores are ordered by
    the lower item ID, so the result never depends on the sort algorithm.

    Parameters
    ----------
    scores : array-like or torch.Tensor, shape (n_rows, n_items)
        Scores, higher is better. NaN is an error; ``-inf`` means "never
        recommend" (like ``exclude``).
    k : int
        How many items per row, ``1 <= k <= n_items``.
    exclude : bool array of shape (n_rows, n_items), scipy sparse matrix, or tuple (rows, columns), optional
        Entries that must not be returned (e.g. items already seen): ``True``
        cells, non-zero sparse entries, or the listed (row, column) positions.
    item_ids : array-like of int, shape (n_items,), optional
        The item ID of each column. Returned ``indices`` are then IDs, and ties
        are broken by the lower ID. Default: the column positions.

    Returns
    -------
    TopK
        ``indices`` (int64) and ``scores`` (float64), both shape (n_rows, k). A
        row with fewer than ``k`` eligible items is padded with index ``-1`` and
        score ``-inf`` at its end.

    Raises
    ------
    ValueError
        If ``scores`` is empty or holds NaN, if ``k <= 0`` or ``k > n_items``, or
        if a shape does not match.

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.array([[0.1, 0.9, 0.5, 0.9],
    ...                    [0.3, 0.2, 0.8, 0.1]])
    >>> top_k(scores, 2).indices          # the tie 0.9/0.9 goes to item 1 first
    array([[1, 3],
           [2, 0]])
    >>> top_k(scores, 2, exclude=(np.array([0]), np.array([1]))).indices
    array([[3, 2],
           [2, 0]])
    >>> top_k(scores, 2, item_ids=[40, 30, 20, 10]).indices
    array([[10, 30],
           [20, 40]])
    """
    work = _score_matrix(scores, "scores")
    n_rows, n_items = work.shape
    if isinstance(k, bool) or not isinstance(k, (numbers.Integral, np.integer)):
        raise TypeError(f"k must be an integer, got {k!r}")
    if k <= 0:
        raise ValueError(f"k must be at least 1, got {k}")
    if k > n_items:
        raise ValueError(f"k={k} is larger than the number of items ({n_items} columns of scores)")
    k = int(k)
    mask = _exclusion_mask(exclude, work.shape)
    ids = None
    if item_ids is not None:
        ids = _id_array(item_ids, "item_ids", unique=True)
        if ids.shape != (n_items,):
            raise ValueError(f"item_ids must have one ID per column ({n_items}), got shape {ids.shape}")
    if mask is not None:
        work = np.where(mask, -np.inf, work)
    if ids is not None and np.any(np.diff(ids) < 0):
        # put columns in ID order so that "lower column" means "lower ID" below
        order = np.argsort(ids, kind="stable")
        work, ids = work[:, order], ids[order]

    kth = -np.partition(-work, k - 1, axis=1)[:, k - 1]           # k-th best score per row
    chosen = work > kth[:, None]
    ties = work == kth[:, None]
    need = k - chosen.sum(axis=1)
    ambiguous = ties.sum(axis=1) > need                            # more tied items than free slots
    if ambiguous.any():
        sub = ties[ambiguous]
        sub &= np.cumsum(sub, axis=1, dtype=np.int64) <= need[ambiguous, None]  # lowest columns win
        ties[ambiguous] = sub
    chosen |= ties
    cols = np.nonzero(chosen)[1].reshape(n_rows, k)                # ascending column within row
    vals = np.take_along_axis(work, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")               # stable: ties keep column order
    cols = np.take_along_axis(cols, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    indices = ids[cols] if ids is not None else cols.astype(np.int64)
    indices = np.where(np.isneginf(vals), -1, indices)
    return TopK(indices, vals)


# --------------------------------------------------------------------------- recommend
def _seen_positions(seen, users: np.ndarray, n_items: int):
    """Seen pairs as (position of the user in ``users``, item), sorted by position."""
    check_dataframe(seen, "seen", [schema.USER, schema.ITEM], allow_empty=True)
    for column in (schema.USER, schema.ITEM):
        check_id_column(seen, column, "seen")
    if len(seen) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    items = _id_array(seen[schema.ITEM].to_numpy(), f"seen[{schema.ITEM!r}]")
    if items.max() >= n_items:
        raise ValueError(f"seen holds item ID(s) {np.unique(items[items >= n_items])[:5].tolist()} "
                         f"outside [0, {n_items}) (n_items={n_items})")
    position = pd.Index(users).get_indexer(_id_array(seen[schema.USER].to_numpy(), f"seen[{schema.USER!r}]"))
    keep = position >= 0                                           # pairs of other users do not matter here
    order = np.argsort(position[keep], kind="stable")
    return position[keep][order], items[keep][order]


def recommend(scorer, users, n_items, k=10, *, seen=None, batch_size=1024, verbose=False) -> pd.DataFrame:
    """Top-``k`` items for each user from any scoring function, batch by batch.

    Parameters
    ----------
    scorer : callable
        ``scorer(user_ids)`` takes an int array of shape (b,) and returns scores
        of shape (b, n_items) (numpy or torch), higher is better.
    users : array-like of int, shape (n_users,)
        The users to recommend for (distinct IDs).
    n_items : int
        Number of items; item IDs are ``0 .. n_items - 1`` (the score columns).
    k : int
        Length of each list, ``1 <= k <= n_items``.
    seen : pandas.DataFrame, optional
        Pairs to leave out, columns ``user_id, item_id`` (e.g. past purchases).
        Rows of users not in ``users`` are ignored.
    batch_size : int
        Users scored per call of ``scorer``; bounds memory at
        ``batch_size * n_items`` floats. The result does not depend on it.
    verbose : bool
        Show a progress bar over batches.

    Returns
    -------
    pandas.DataFrame
        Columns ``user_id, item_id, score, rank`` (rank 1 is best), ordered by
        the order of ``users`` and then rank. A user with fewer than ``k``
        unseen items gets only as many rows as there are unseen items (none if
        every item is seen).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> table = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.8]])
    >>> seen = pd.DataFrame({"user_id": [0], "item_id": [1]})
    >>> recommend(lambda u: table[u], [0, 1], n_items=3, k=2, seen=seen)
       user_id  item_id  score  rank
    0        0        2    0.5     1
    1        0        0    0.1     2
    2        1        2    0.8     1
    3        1        0    0.3     2
    """
    if not callable(scorer):
        raise TypeError(f"scorer must be callable (user_ids -> scores), got {type(scorer).__name__}")
    users = _id_array(users, "users", unique=True)
    n_items = check_positive_int(n_items, "n_items")
    k = check_positive_int(k, "k")
    if k > n_items:
        raise ValueError(f"k={k} is larger than n_items={n_items}")
    batch_size = check_positive_int(batch_size, "batch_size")
    if seen is not None:
        seen_pos, seen_items = _seen_positions(seen, users, n_items)
    frames = []
    starts = range(0, len(users), batch_size)
    for start in tqdm(starts, disable=not verbose, desc="recommending", unit="batch"):
        batch = users[start:start + batch_size]
        scores = _to_numpy(scorer(batch))
        if scores.shape != (len(batch), n_items):
            raise ValueError(f"scorer returned shape {scores.shape} for {len(batch)} users; "
                             f"expected ({len(batch)}, {n_items})")
        if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
            bad = batch[np.isnan(scores).any(axis=1)]
            raise ValueError(f"scorer returned NaN scores for user(s) {bad[:5].tolist()}")
        exclude = None
        if seen is not None:
            lo, hi = np.searchsorted(seen_pos, [start, start + len(batch)])
            exclude = (seen_pos[lo:hi] - start, seen_items[lo:hi])
        best = top_k(scores, k, exclude=exclude)
        rows, slots = np.nonzero(best.indices >= 0)                   # row-major: user, then rank
        frames.append(pd.DataFrame({
            schema.USER: batch[rows],
            schema.ITEM: best.indices[rows, slots],
            schema.SCORE: best.scores[rows, slots],
            schema.RANK: (slots + 1).astype(np.int64),
        }))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- baselines
class _InteractionRecommender(BaseEstimator):
    """Shared fitting of the positive user-item matrix, scoring checks and ``recommend``."""

    def _fit_interactions(self, interactions, n_users, n_items):
        positive = self.positive
        check_dataframe(interactions, "interactions", [schema.USER, schema.ITEM, positive])
        for column in (schema.USER, schema.ITEM):
            check_id_column(interactions, column, "interactions")
        check_numeric_column(interactions, positive, "interactions", allow_nan=True)
        if isinstance(self.positive_threshold, bool) or not isinstance(self.positive_threshold, numbers.Real):
            raise TypeError(f"positive_threshold must be a number, got {self.positive_threshold!r}")
        users = _id_array(interactions[schema.USER].to_numpy(), f"interactions[{schema.USER!r}]")
        items = _id_array(interactions[schema.ITEM].to_numpy(), f"interactions[{schema.ITEM!r}]")
        n_users = self._check_size(n_users, users, "n_users", schema.USER)
        n_items = self._check_size(n_items, items, "n_items", schema.ITEM)
        is_positive = (interactions[positive].to_numpy(dtype=float) >= self.positive_threshold)
        if not is_positive.any():
            raise ValueError(f"interactions have no positive rows: column {positive!r} is never "
                             f">= {self.positive_threshold}")
        matrix = sp.csr_array((np.ones(int(is_positive.sum())), (users[is_positive], items[is_positive])),
                              shape=(n_users, n_items))
        matrix.sum_duplicates()
        matrix.data[:] = 1.0                                       # a pair is positive or not
        self.n_users_, self.n_items_ = n_users, n_items
        self.user_item_ = matrix
        return matrix

    @staticmethod
    def _check_size(given, ids, name, column):
        needed = int(ids.max()) + 1
        if given is None:
            return needed
        given = check_positive_int(given, name)
        if needed > given:
            raise ValueError(f"interactions[{column!r}] holds ID {needed - 1}, outside [0, {given}) ({name}={given})")
        return given

    def _check_fitted(self):
        if not hasattr(self, "user_item_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(interactions, ...) first")

    def _check_users(self, user_ids) -> np.ndarray:
        self._check_fitted()
        users = _id_array(user_ids, "user_ids")
        unknown = users >= self.n_users_
        if unknown.any():
            raise ValueError(f"unknown user ID(s) {np.unique(users[unknown])[:5].tolist()}: the model was "
                             f"fitted on users 0..{self.n_users_ - 1}")
        return users

    def seen_pairs(self) -> pd.DataFrame:
        """The positive (user, item) pairs learned in ``fit``, as a DataFrame."""
        self._check_fitted()
        coo = sp.coo_array(self.user_item_)
        order = np.lexsort((coo.col, coo.row))
        return pd.DataFrame({schema.USER: coo.row[order].astype(np.int64),
                             schema.ITEM: coo.col[order].astype(np.int64)})

    def score_pairs(self, user_ids, item_ids, *, batch_size=1024) -> np.ndarray:
        """Scores of the pairs ``(user_ids[j], item_ids[j])``, shape (n,).

        Handy for evaluating on a table of pairs such as the randomized slice;
        users are scored ``batch_size`` at a time.
        """
        self._check_fitted()
        users = self._check_users(user_ids)
        items = _id_array(item_ids, "item_ids")
        if items.shape != users.shape:
            raise ValueError(f"user_ids and item_ids differ in length: {users.size} and {items.size}")
        if items.max() >= self.n_items_:
            raise ValueError(f"unknown item ID(s) {np.unique(items[items >= self.n_items_])[:5].tolist()}: "
                             f"the model was fitted on items 0..{self.n_items_ - 1}")
        batch_size = check_positive_int(batch_size, "batch_size")
        distinct, row = np.unique(users, return_inverse=True)
        out = np.empty(users.size, dtype=np.float64)
        for start in range(0, distinct.size, batch_size):
            scores = self.score_items(distinct[start:start + batch_size])
            here = (row >= start) & (row < start + batch_size)
            out[here] = scores[row[here] - start, items[here]]
        return out

    def recommend(self, users, k=10, exclude_seen=True, *, batch_size=1024, verbose=False) -> pd.DataFrame:
        """Top-``k`` items per user, leaving out their past positives when ``exclude_seen``.

        Returns the DataFrame of :func:`recommend` (``user_id, item_id, score, rank``).
        """
        self._check_fitted()
        seen = self.seen_pairs() if exclude_seen else None
        return recommend(self.score_items, users, self.n_items_, k, seen=seen,
                         batch_size=batch_size, verbose=verbose)


class PopularityRecommender(_InteractionRecommender):
    """Recommend what most users liked: one list, the same for everybody.

    Parameters
    ----------
    positive : str
        Column of the log that marks a positive interaction (default
        ``"clicked"``; ``"purchased"``, ``"exposed"`` or any numeric column work).
    positive_threshold : float
        A row counts when ``positive >= positive_threshold``.

    Attributes
    ----------
    popularity_ : numpy.ndarray of float, shape (n_items,)
        Number of distinct users with a positive interaction, per item.
    user_item_ : scipy.sparse.csr_array, shape (n_users, n_items)
        1 where the user had a positive interaction with the item.
    n_users_, n_items_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": [0, 1, 1, 2], "item_id": [2, 2, 0, 1],
    ...                     "clicked": [1, 1, 1, 0]})
    >>> model = PopularityRecommender().fit(log, n_items=4)
    >>> model.popularity_
    array([1., 0., 2., 0.])
    >>> model.recommend([0], k=2)["item_id"].tolist()    # item 2 is already clicked by user 0
    [0, 1]
    """

    def __init__(self, positive=schema.CLICKED, positive_threshold=1.0):
        self.positive = positive
        self.positive_threshold = positive_threshold

    def fit(self, interactions, *, n_users=None, n_items=None):
        """Count positive users per item.

        Parameters
        ----------
        interactions : pandas.DataFrame
            Columns ``user_id, item_id`` and the ``positive`` column.
        n_users, n_items : int, optional
            Sizes of the world (default: largest ID + 1).

        Returns
        -------
        self
        """
        matrix = self._fit_interactions(interactions, n_users, n_items)
        self.popularity_ = np.asarray(matrix.sum(axis=0), dtype=float).ravel()
        return self

    def score_items(self, user_ids) -> np.ndarray:
        """Scores of shape (len(user_ids), n_items): every row is ``popularity_``."""
        users = self._check_users(user_ids)
        return np.broadcast_to(self.popularity_, (len(users), self.n_items_)).copy()


class RandomRecommender(_InteractionRecommender):
    """Uniform random scores: the baseline every model must beat.

    A user's scores depend only on ``random_state`` and the user ID, so they do
    not change with batching or with the order in which users are asked for.

    Parameters
    ----------
    random_state : int, numpy.random.Generator or None
        Seed; the same seed gives the same recommendations.
    positive, positive_threshold
        As in :class:`PopularityRecommender`; only used to know what each user
        has already seen.

    Attributes
    ----------
    seed_ : int
    user_item_ : scipy.sparse.csr_array, shape (n_users, n_items)
    n_users_, n_items_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": [0, 1], "item_id": [0, 1], "clicked": [1, 1]})
    >>> model = RandomRecommender(random_state=0).fit(log, n_items=5)
    >>> model.score_items([0, 1]).shape
    (2, 5)
    >>> bool((model.score_items([1]) == model.score_items([0, 1])[1]).all())
    True
    """

    def __init__(self, random_state=None, positive=schema.CLICKED, positive_threshold=1.0):
        self.random_state = random_state
        self.positive = positive
        self.positive_threshold = positive_threshold

    def fit(self, interactions, *, n_users=None, n_items=None):
        """Record the sizes, the seen pairs and one seed. Returns ``self``."""
        check_random_state(self.random_state)                    # fail early on a bad seed
        self._fit_interactions(interactions, n_users, n_items)
        self.seed_ = seed_from(self.random_state)
        return self

    def score_items(self, user_ids) -> np.ndarray:
        """Uniform scores in [0, 1), shape (len(user_ids), n_items)."""
        users = self._check_users(user_ids)
        # one small generator per user (a loop over the batch's users, not over items)
        return np.stack([np.random.default_rng([self.seed_, int(u)]).random(self.n_items_) for u in users])


class ContentBasedRecommender(_InteractionRecommender):
    """Recommend items whose features resemble those of the items a user liked.

    Each item is a feature vector (TF-IDF of its description, its image pixels,
    or both side by side), scaled to unit length. A user's profile is the mean
    of the vectors of the items they interacted with positively, and an item's
    score is its cosine similarity to that profile. Users with no positive
    interaction get all-zero scores (the cold-start problem, chapter 12).

    Features are used as given: centre dense features such as pixels first
    (subtract the mean image), otherwise every image looks alike to a cosine.

    Parameters
    ----------
    positive, positive_threshold
        As in :class:`PopularityRecommender`.

    Attributes
    ----------
    item_features_ : numpy.ndarray or scipy.sparse.csr_array, shape (n_items, n_features)
        The L2-normalised item features.
    user_profiles_ : numpy.ndarray or scipy.sparse.csr_array, shape (n_users, n_features)
        Mean normalised feature vector of each user's positive items.
    user_item_ : scipy.sparse.csr_array, shape (n_users, n_items)
    n_users_, n_items_ : int

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])   # items 0 and 1 alike
    >>> log = pd.DataFrame({"user_id": [0], "item_id": [0], "clicked": [1]})
    >>> model = ContentBasedRecommender().fit(log, features)
    >>> model.score_items([0]).round(2)
    array([[1.  , 0.99, 0.  ]])
    >>> model.recommend([0], k=1)["item_id"].tolist()
    [1]
    """

    def __init__(self, positive=schema.CLICKED, positive_threshold=1.0):
        self.positive = positive
        self.positive_threshold = positive_threshold

    def fit(self, interactions, item_features, *, n_users=None):
        """Build the user profiles.

        Parameters
        ----------
        interactions : pandas.DataFrame
            Columns ``user_id, item_id`` and the ``positive`` column.
        item_features : array-like, scipy sparse matrix or torch.Tensor, shape (n_items, n_features)
            Row ``i`` describes item ``i``.
        n_users : int, optional
            Number of users (default: largest user ID + 1).

        Returns
        -------
        self
        """
        features = self._check_features(item_features)
        matrix = self._fit_interactions(interactions, n_users, features.shape[0])
        features = normalize(features)
        counts = np.asarray(matrix.sum(axis=1), dtype=float).ravel()
        inverse = sp.diags_array(np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0))
        profiles = inverse @ (matrix @ features)
        self.item_features_ = features
        self.user_profiles_ = sp.csr_array(profiles) if sp.issparse(profiles) else np.asarray(profiles)
        return self

    @staticmethod
    def _check_features(item_features):
        if sp.issparse(item_features):
            features = sp.csr_array(item_features, dtype=np.float64)
            values = features.data
        else:
            features = _to_numpy(item_features)
            if features.ndim != 2:
                raise ValueError(f"item_features must be 2-D (n_items, n_features), got shape {features.shape}")
            if not (np.issubdtype(features.dtype, np.number) or features.dtype == bool):
                raise ValueError(f"item_features must be numeric, got dtype {features.dtype}")
            features = features.astype(np.float64)
            values = features
        if features.shape[0] == 0 or features.shape[1] == 0:
            raise ValueError(f"item_features is empty: shape {features.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError("item_features holds NaN or infinite values")
        return features

    def score_items(self, user_ids) -> np.ndarray:
        """Cosine similarity of each user's profile to every item, shape (len(user_ids), n_items)."""
        users = self._check_users(user_ids)
        profiles = normalize(self.user_profiles_[users])
        scores = profiles @ self.item_features_.T
        return scores.toarray() if sp.issparse(scores) else np.asarray(scores, dtype=float)


class ItemKNNRecommender(_InteractionRecommender):
    """Item-based collaborative filtering: "people who liked this also liked".

    Two items are similar when the same users liked both: the cosine between
    their columns of the user-item matrix. An item's score for a user is the
    sum of its similarities to the items the user liked. With ``n_neighbors``,
    each item keeps only its ``n_neighbors`` most similar items (a sparser,
    often sharper model). Users with no positive interaction get all-zero
    scores.

    Parameters
    ----------
    n_neighbors : int or None
        Neighbours kept per item; ``None`` keeps all.
    positive, positive_threshold
        As in :class:`PopularityRecommender`.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_array, shape (n_items, n_items)
        Row ``i`` holds item ``i``'s neighbours and their cosine similarities
        (zero diagonal).
    user_item_ : scipy.sparse.csr_array, shape (n_users, n_items)
    n_users_, n_items_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": [0, 0, 1, 1, 2], "item_id": [0, 1, 0, 1, 2],
    ...                     "clicked": [1, 1, 1, 1, 1]})
    >>> model = ItemKNNRecommender().fit(log, n_users=4)
    >>> model.similarity_.toarray()
    array([[0., 1., 0.],
           [1., 0., 0.],
           [0., 0., 0.]])
    >>> log_new = pd.concat([log, pd.DataFrame({"user_id": [3], "item_id": [0], "clicked": [1]})])
    >>> ItemKNNRecommender().fit(log_new).recommend([3], k=1)["item_id"].tolist()
    [1]
    """

    def __init__(self, n_neighbors=None, positive=schema.CLICKED, positive_threshold=1.0):
        self.n_neighbors = n_neighbors
        self.positive = positive
        self.positive_threshold = positive_threshold

    def fit(self, interactions, *, n_users=None, n_items=None):
        """Compute the item-item cosine similarities.

        Parameters
        ----------
        interactions : pandas.DataFrame
            Columns ``user_id, item_id`` and the ``positive`` column.
        n_users, n_items : int, optional
            Sizes of the world (default: largest ID + 1).

        Returns
        -------
        self
        """
        if self.n_neighbors is not None:
            check_positive_int(self.n_neighbors, "n_neighbors")
        matrix = self._fit_interactions(interactions, n_users, n_items)
        columns = normalize(matrix, axis=0)                         # unit-length item columns
        similarity = sp.csr_array(columns.T @ columns)
        similarity.setdiag(0.0)
        similarity.eliminate_zeros()
        if self.n_neighbors is not None and self.n_neighbors < self.n_items_ - 1:
            similarity = self._keep_neighbors(similarity, self.n_neighbors)
        self.similarity_ = similarity
        return self

    @staticmethod
    def _keep_neighbors(similarity, n_neighbors, chunk=1024):
        rows, cols, vals = [], [], []
        for start in range(0, similarity.shape[0], chunk):          # chunks of items bound the memory
            dense = similarity[start:start + chunk].toarray()
            best = top_k(dense, n_neighbors)
            keep = best.scores > 0
            rows.append(np.nonzero(keep)[0] + start)
            cols.append(best.indices[keep])
            vals.append(best.scores[keep])
        return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=similarity.shape)

    def score_items(self, user_ids) -> np.ndarray:
        """Sum of similarities to each user's liked items, shape (len(user_ids), n_items)."""
        users = self._check_users(user_ids)
        return (self.user_item_[users] @ self.similarity_).toarray()
