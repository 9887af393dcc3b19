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

**Cold start and re-ranking** (chapter 12). :func:`cold_start_split` holds
whole users and items out of training; :func:`first_interactions` gives a new
user's first rows; :func:`fill_item_embeddings` blanks the untrained ID
parameters of new items so that only their content (images, text) tells them
apart; :func:`fold_in_users` learns vectors for new users from a few rows with
the rest of the network frozen. :func:`rerank_mmr` diversifies lists by
maximal marginal relevance and :func:`rerank_exposure` guarantees a group of
items a minimum share of the position-weighted exposure; :func:`topk_frame`
turns their results into a table.

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
from ._checks import (check_dataframe, check_id_column, check_numeric_column,
                          check_positive_int, check_random_state, seed_from)

__all__ = ["TopK", "top_k", "recommend", "PopularityRecommender", "RandomRecommender",
           "ContentBasedRecommender", "ItemKNNRecommender", "ColdStartSplit", "cold_start_split",
           "first_interactions", "fill_item_embeddings", "fold_in_users", "topk_frame", "rerank_mmr",
           "rerank_exposure"]


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
                         "first with causalrec.prep.IdEncoder")
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


# --------------------------------------------------------------------------- cold start
class ColdStartSplit(NamedTuple):
    """The result of :func:`cold_start_split`: a training log and the held-out cold rows.

    Attributes
    ----------
    train : pandas.DataFrame
        Rows whose user and item are both warm: the only rows a model may learn from.
    cold_user_rows : pandas.DataFrame
        Rows of cold users with warm items (evaluate new users here).
    cold_item_rows : pandas.DataFrame
        Rows of warm users with cold items (evaluate new items here).
    cold_both_rows : pandas.DataFrame
        Rows whose user and item are both cold (kept, so that nothing is
        dropped silently; usually left out of both evaluations).
    cold_users, cold_items : numpy.ndarray of int64
        The held-out IDs, sorted.
    """

    train: pd.DataFrame
    cold_user_rows: pd.DataFrame
    cold_item_rows: pd.DataFrame
    cold_both_rows: pd.DataFrame
    cold_users: np.ndarray
    cold_items: np.ndarray


def _check_share(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def cold_start_split(interactions, *, cold_user_share=0.1, cold_item_share=0.1,
                     random_state=0) -> ColdStartSplit:
    """Hold out a random share of users and of items *entirely*, to test cold start.

    A usual random split keeps every user and item in the training data; it
    cannot tell whether a model handles a user or an item it has never seen.
    Here every row of a held-out (cold) user or item leaves the training log,
    so a model trained on ``train`` has never seen them.

    Parameters
    ----------
    interactions : pandas.DataFrame
        A log with columns ``user_id, item_id`` (and any others, kept).
    cold_user_share, cold_item_share : float in [0, 1)
        Share of the distinct users (items) of the log to hold out, rounded to
        the nearest count; 0 holds out none.
    random_state : int, numpy.random.Generator or None
        Seed of the draw.

    Returns
    -------
    ColdStartSplit
        ``train``, ``cold_user_rows``, ``cold_item_rows``, ``cold_both_rows``
        (together exactly the rows of ``interactions``, each in the log's
        order) and the sorted ``cold_users`` and ``cold_items``.

    Raises
    ------
    ValueError
        If a share is outside [0, 1), or no warm user or item would be left.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": [0, 0, 1, 1, 2, 2, 3, 3],
    ...                     "item_id": [0, 1, 1, 2, 2, 3, 3, 0]})
    >>> split = cold_start_split(log, cold_user_share=0.25, cold_item_share=0.25, random_state=0)
    >>> len(split.cold_users), len(split.cold_items)
    (1, 1)
    >>> sum(len(part) for part in split[:4]) == len(log)
    True
    >>> bool(split.train["user_id"].isin(split.cold_users).any())
    False
    """
    check_dataframe(interactions, "interactions", [schema.USER, schema.ITEM])
    for column in (schema.USER, schema.ITEM):
        check_id_column(interactions, column, "interactions")
    user_share = _check_share(cold_user_share, "cold_user_share")
    item_share = _check_share(cold_item_share, "cold_item_share")
    rng = check_random_state(random_state)
    users = np.unique(interactions[schema.USER].to_numpy())
    items = np.unique(interactions[schema.ITEM].to_numpy())
    n_cold_users, n_cold_items = int(round(user_share * len(users))), int(round(item_share * len(items)))
    if n_cold_users >= len(users) or n_cold_items >= len(items):
        raise ValueError(f"holding out {n_cold_users} of {len(users)} users and {n_cold_items} of "
                         f"{len(items)} items leaves nothing to train on; lower cold_user_share or cold_item_share")
    cold_users = np.sort(rng.choice(users, size=n_cold_users, replace=False))
    cold_items = np.sort(rng.choice(items, size=n_cold_items, replace=False))
    user_cold = interactions[schema.USER].isin(cold_users).to_numpy()
    item_cold = interactions[schema.ITEM].isin(cold_items).to_numpy()
    return ColdStartSplit(
        train=interactions.loc[~user_cold & ~item_cold],
        cold_user_rows=interactions.loc[user_cold & ~item_cold],
        cold_item_rows=interactions.loc[~user_cold & item_cold],
        cold_both_rows=interactions.loc[user_cold & item_cold],
        cold_users=np.asarray(cold_users, dtype=np.int64) if n_cold_users else np.empty(0, np.int64),
        cold_items=np.asarray(cold_items, dtype=np.int64) if n_cold_items else np.empty(0, np.int64),
    )


def first_interactions(interactions, n, *, order_by=schema.DAY):
    """Split each user's rows into their first ``n`` and the rest.

    A new user reveals their taste a few interactions at a time; this gives
    the first ``n`` to learn from and keeps the rest for evaluation.

    Parameters
    ----------
    interactions : pandas.DataFrame
        Columns ``user_id, item_id`` and ``order_by``.
    n : int
        Rows per user to put first (0 puts every row in the rest). A user with
        fewer rows has all of them in the first part.
    order_by : str
        Column that orders a user's rows in time (default ``day``); rows of
        the same value keep their order in the frame.

    Returns
    -------
    (first, rest) : tuple of pandas.DataFrame
        Together exactly the rows of ``interactions``, each in the log's order.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": [5, 5, 5, 6], "item_id": [1, 2, 3, 1], "day": [2, 0, 1, 0]})
    >>> first, rest = first_interactions(log, 2)
    >>> first["item_id"].tolist(), rest["item_id"].tolist()
    ([2, 3, 1], [1])
    """
    check_dataframe(interactions, "interactions", [schema.USER, schema.ITEM, order_by])
    check_id_column(interactions, schema.USER, "interactions")
    check_numeric_column(interactions, order_by, "interactions")
    n = check_positive_int(n, "n", minimum=0)
    order = np.lexsort((np.arange(len(interactions)), interactions[order_by].to_numpy(),
                        interactions[schema.USER].to_numpy()))
    users_sorted = interactions[schema.USER].to_numpy()[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = users_sorted[1:] != users_sorted[:-1]
    first_row = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    is_first = np.zeros(len(order), dtype=bool)
    is_first[order] = (np.arange(len(order)) - first_row) < n
    return interactions.loc[is_first], interactions.loc[~is_first]


def _check_fitted_estimator(estimator, name: str = "estimator"):
    if not hasattr(estimator, "model_") or not hasattr(estimator, "n_items_"):
        raise TypeError(f"{name} must be a fitted causalrec.recommenders.Recommender (call fit first), "
                        f"got {type(estimator).__name__}")


def _item_side(model, n_items: int):
    """The item ID tables of a model: (name, tensor) pairs with one row per item."""
    import torch

    out = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Embedding) and "item" in name and module.num_embeddings == n_items:
            out.append((name, module.weight))
    for name, param in model.named_parameters(recurse=False):
        if name == "item_bias":
            out.append((name, param))
    return out


def fill_item_embeddings(estimator, items, *, fill="mean"):
    """A copy of a fitted model whose ID parameters of ``items`` are replaced.

    A new item has an ID embedding that training never touched: a random
    start, shrunk by weight decay. Its score is then noise. This replaces
    every item-ID parameter of ``items`` (embedding rows, item biases) by the
    mean over the other items (``fill="mean"``: "an average item") or by zero,
    so that what is left to tell new items apart is their content. An ID-only
    model (MF, NeuMF) then gives every new item the same score for a user: it
    has nothing to tell them apart with. A multimodal model still ranks them
    by their images and text.

    Parameters
    ----------
    estimator : causalrec.recommenders.Recommender
        Fitted; it is not modified.
    items : array-like of int
        Item IDs (in the catalogue, ``< estimator.n_items_``) whose ID
        parameters to replace, typically the cold items of :func:`cold_start_split`.
    fill : {"mean", "zero"}
        The replacement value.

    Returns
    -------
    causalrec.recommenders.Recommender
        A deep copy with the replaced parameters.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from causalrec.recommenders import Recommender
    >>> log = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 1, 2], "purchased": [1, 0, 1, 0]})
    >>> rec = Recommender("mf", dim=4, epochs=2, validation_fraction=0, verbose=False).fit(log, items=pd.DataFrame({"item_id": [0, 1, 2, 3, 4]}))
    >>> blank = fill_item_embeddings(rec, [3, 4])
    >>> scores = blank.score_items([0])[0]
    >>> bool(scores[3] == scores[4]), bool(rec.score_items([0])[0][3] == rec.score_items([0])[0][4])
    (True, False)
    """
    import copy

    import torch

    _check_fitted_estimator(estimator)
    if fill not in ("mean", "zero"):
        raise ValueError(f"fill must be 'mean' or 'zero', got {fill!r}")
    cold = _id_array(items, "items", unique=True)
    if cold.max() >= estimator.n_items_:
        raise ValueError(f"items holds ID(s) {cold[cold >= estimator.n_items_][:5].tolist()} outside the "
                         f"catalogue [0, {estimator.n_items_}); fit with items=<the whole catalogue>")
    out = copy.deepcopy(estimator)
    warm = np.setdiff1d(np.arange(out.n_items_), cold)
    with torch.no_grad():
        for _, table in _item_side(out.model_, out.n_items_):
            if fill == "mean" and warm.size:
                table[torch.from_numpy(cold)] = table[torch.from_numpy(warm)].mean(dim=0)
            else:
                table[torch.from_numpy(cold)] = 0.0
    return out


def _user_side(model, n_users: int):
    import torch

    out = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Embedding) and "user" in name and module.num_embeddings == n_users:
            out.append((module, "weight"))
    if isinstance(getattr(model, "user_bias", None), torch.nn.Parameter):
        out.append((model, "user_bias"))
    return out


def fold_in_users(estimator, interactions, *, target=schema.CLICKED, steps=100, lr=0.05, l2=0.1,
                  n_threads=1):
    """A copy of a fitted model that has learned vectors for new users from a few rows.

    "Folding in" a user: every weight of the trained network stays frozen;
    only the users of ``interactions`` get their ID parameters (embedding rows,
    user bias) learned afresh from those rows. They start at zero, where a
    user is "nobody in particular" and an MF model ranks items by their bias,
    a popularity-like order; each row then pulls the user's vector towards
    what they clicked and away from what they ignored. The loss is the
    model's own (binary cross-entropy for ``loss="bce"``, squared error for
    ``"mse"``) plus ``l2`` times the squared norm of the new parameters, a
    prior that keeps a user with one or two rows near the start. Full-batch
    Adam, no randomness: the same input gives the same model.

    Users with IDs beyond the model's table get new rows; the table grows.

    Parameters
    ----------
    estimator : causalrec.recommenders.Recommender
        Fitted with ``loss="bce"`` or ``"mse"``; it is not modified.
    interactions : pandas.DataFrame
        Columns ``user_id, item_id`` and ``target``: the new users' first rows.
        Items must be in the model's catalogue.
    target : str
        The column to learn (0/1 for ``bce``).
    steps : int
        Adam steps.
    lr : float
        Adam's learning rate.
    l2 : float
        Weight of the squared norm of each new user's parameters (per row of
        the mean loss), >= 0.
    n_threads : int or None
        Torch threads while folding in (None keeps torch's setting).

    Returns
    -------
    causalrec.recommenders.Recommender
        A deep copy; rows of users not in ``interactions`` are unchanged.

    Examples
    --------
    >>> import pandas as pd
    >>> from causalrec.recommenders import Recommender
    >>> log = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 0, 1], "clicked": [1, 0, 0, 1]})
    >>> rec = Recommender("mf", dim=4, epochs=30, lr=0.05, validation_fraction=0, verbose=False).fit(log, target="clicked")
    >>> new = pd.DataFrame({"user_id": [2, 2], "item_id": [0, 1], "clicked": [1, 0]})
    >>> folded = fold_in_users(rec, new)
    >>> folded.n_users_
    3
    >>> scores = folded.score_items([2])[0]
    >>> bool(scores[0] > scores[1])
    True
    """
    import copy

    import torch

    from .recommenders import bce_loss, mse_loss

    _check_fitted_estimator(estimator)
    if estimator.loss not in ("bce", "mse"):
        raise ValueError(f"fold_in_users needs a model fitted with loss='bce' or 'mse' (a loss per row), "
                         f"got loss={estimator.loss!r}")
    check_dataframe(interactions, "interactions", [schema.USER, schema.ITEM, target])
    for column in (schema.USER, schema.ITEM):
        check_id_column(interactions, column, "interactions")
    check_numeric_column(interactions, target, "interactions")
    steps = check_positive_int(steps, "steps")
    for value, name in ((lr, "lr"), (l2, "l2")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    users = _id_array(interactions[schema.USER].to_numpy(), f"interactions[{schema.USER!r}]")
    items = _id_array(interactions[schema.ITEM].to_numpy(), f"interactions[{schema.ITEM!r}]")
    if items.max() >= estimator.n_items_:
        raise ValueError(f"interactions hold item ID(s) {np.unique(items[items >= estimator.n_items_])[:5].tolist()} "
                         f"outside the model's catalogue [0, {estimator.n_items_})")
    y = interactions[target].to_numpy(dtype=np.float64)
    if estimator.loss == "bce" and not np.isin(y, (0, 1)).all():
        raise ValueError(f"interactions[{target!r}] must be 0/1 for a model fitted with loss='bce'")

    out = copy.deepcopy(estimator)
    model = out.model_
    n_users = max(out.n_users_, int(users.max()) + 1)
    parts = _user_side(model, out.n_users_)
    if not parts:
        raise ValueError(f"the model {type(model).__name__} has no user ID table to fold users into")
    new_users = np.unique(users)
    index = torch.from_numpy(new_users)
    with torch.no_grad():
        for owner, attr in parts:                            # grow the tables, zero the new users
            old = getattr(owner, attr)
            if n_users > out.n_users_:
                grown = torch.zeros((n_users, *old.shape[1:]), dtype=old.dtype)
                grown[:out.n_users_] = old
                if isinstance(owner, torch.nn.Embedding):
                    owner.num_embeddings = n_users
                    owner.weight = torch.nn.Parameter(grown)
                else:
                    setattr(owner, attr, torch.nn.Parameter(grown))
            getattr(owner, attr)[index] = 0.0
    if hasattr(model, "n_users"):
        model.n_users = n_users
    out.n_users_ = n_users
    if isinstance(getattr(out, "_config", None), dict):
        out._config = {**out._config, "n_users": n_users}

    params = [getattr(owner, attr) for owner, attr in parts]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    rows = torch.zeros(n_users, dtype=torch.bool)
    rows[index] = True
    u, i = torch.from_numpy(users), torch.from_numpy(items)
    y_t = torch.from_numpy(y).float()
    old_threads = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(check_positive_int(n_threads, "n_threads"))
    try:
        model.eval()
        optimizer = torch.optim.Adam(params, lr=float(lr))
        for _ in range(steps):
            optimizer.zero_grad()
            output = model(u, i)
            if out.head_ is not None:
                output = getattr(output, out.head_)
            loss = bce_loss(output, y_t) if out.loss == "bce" else mse_loss(output, y_t)
            penalty = sum((p[index] ** 2).sum() for p in params) / len(y_t)
            (loss + float(l2) * penalty).backward()
            for p in params:                                 # only the new users move
                p.grad[~rows] = 0.0
            optimizer.step()
    finally:
        torch.set_num_threads(old_threads)
        for p in model.parameters():
            p.requires_grad_(True)
        model.eval()
    return out


# --------------------------------------------------------------------------- re-ranking
def topk_frame(result, users) -> pd.DataFrame:
    """A :class:`TopK` (one row per user) as a tidy ``user_id, item_id, score, rank`` table.

    Parameters
    ----------
    result : TopK
        From :func:`top_k`, :func:`rerank_mmr` or :func:`rerank_exposure`;
        indices are item IDs, ``-1`` slots are dropped.
    users : array-like of int, shape (n_rows,)
        The user of each row.

    Returns
    -------
    pandas.DataFrame
        As :func:`recommend` returns it.

    Examples
    --------
    >>> import numpy as np
    >>> topk_frame(top_k(np.array([[0.1, 0.9, 0.5]]), 2), [7])
       user_id  item_id  score  rank
    0        7        1    0.9     1
    1        7        2    0.5     2
    """
    if not isinstance(result, TopK):
        raise TypeError(f"result must be a TopK, got {type(result).__name__}")
    users = _id_array(users, "users")
    if users.shape[0] != result.indices.shape[0]:
        raise ValueError(f"users has {users.shape[0]} entries but result has {result.indices.shape[0]} rows")
    rows, slots = np.nonzero(result.indices >= 0)
    return pd.DataFrame({schema.USER: users[rows], schema.ITEM: result.indices[rows, slots],
                         schema.SCORE: result.scores[rows, slots],
                         schema.RANK: (slots + 1).astype(np.int64)})


def _item_matrix(item_vectors, n_items: int) -> np.ndarray:
    arr = _to_numpy(item_vectors)
    if sp.issparse(item_vectors):
        arr = item_vectors.toarray()
    if arr.ndim != 2 or arr.shape[0] != n_items:
        raise ValueError(f"item_vectors must have shape (n_items={n_items}, n_features), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"item_vectors must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("item_vectors holds NaN or infinite values")
    return normalize(arr)                                         # unit rows: dot product = cosine


def _scores_and_k(scores, k):
    """The re-rankers' shared checks: a 2-D score matrix and a list length it can fill."""
    work = _score_matrix(scores, "scores")
    k = check_positive_int(k, "k")
    if k > work.shape[1]:
        raise ValueError(f"k={k} is larger than the number of items ({work.shape[1]} columns of scores)")
    return work, k


def rerank_mmr(scores, item_vectors, k, *, lambda_=0.5, n_candidates=None, exclude=None) -> TopK:
    r"""Diversify each list by maximal marginal relevance (Carbonell and Goldstein, 1998).

    The list is built one slot at a time. Each slot takes the candidate that
    maximises

    .. math::  \lambda \, \tilde s_{ui} - (1 - \lambda) \max_{j \in L_u} \cos(x_i, x_j),

    where :math:`\tilde s_{ui}` is the score rescaled to [0, 1] over the
    user's candidates, :math:`L_u` the items already listed and :math:`x_i`
    the item vectors. ``lambda_ = 1`` is the plain top-k; lower values trade
    relevance for items unlike those already in the list. Vectorised over
    users: the loop runs over the ``k`` slots only.

    Parameters
    ----------
    scores : array-like or torch.Tensor, shape (n_rows, n_items)
        Relevance scores, higher is better (``-inf``: never recommend).
    item_vectors : array-like, shape (n_items, n_features)
        One vector per column of ``scores`` (item embeddings, TF-IDF, pixels);
        cosine similarity is taken between them. An all-zero vector is
        similar to nothing.
    k : int
        Length of each list.
    lambda_ : float in [0, 1]
        Weight of relevance against novelty within the list.
    n_candidates : int, optional
        Re-rank only each row's ``n_candidates`` best-scored items (at least
        ``k``; default: all items). Bounds the work at ``n_rows * n_candidates``.
    exclude : as in :func:`top_k`, optional
        Entries never to recommend.

    Returns
    -------
    TopK
        Item positions and their original scores, shape (n_rows, k), in list
        order; ``-1`` / ``-inf`` pad rows with fewer than ``k`` eligible items.

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.array([[0.9, 0.8, 0.3]])
    >>> vectors = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])   # items 0 and 1 alike
    >>> rerank_mmr(scores, vectors, 2, lambda_=1.0).indices
    array([[0, 1]])
    >>> rerank_mmr(scores, vectors, 2, lambda_=0.5).indices
    array([[0, 2]])
    """
    work, k = _scores_and_k(scores, k)
    n_rows, n_items = work.shape
    if isinstance(lambda_, bool) or not isinstance(lambda_, numbers.Real) or not 0 <= lambda_ <= 1:
        raise ValueError(f"lambda_ must be a number in [0, 1], got {lambda_!r}")
    n_candidates = n_items if n_candidates is None else check_positive_int(n_candidates, "n_candidates")
    if not k <= n_candidates <= n_items:
        raise ValueError(f"n_candidates must lie in [k={k}, n_items={n_items}], got {n_candidates}")
    vectors = _item_matrix(item_vectors, n_items)
    pool = top_k(work, n_candidates, exclude=exclude)           # best first, ties by lower ID
    cand, cand_scores = pool.indices, pool.scores
    valid = cand >= 0
    finite = np.where(valid, cand_scores, np.nan)
    low, high = np.nanmin(np.where(valid.any(1, keepdims=True), finite, 0.0), axis=1), \
        np.nanmax(np.where(valid.any(1, keepdims=True), finite, 0.0), axis=1)
    span = np.where(high > low, high - low, 1.0)
    relevance = np.where(valid, (cand_scores - low[:, None]) / span[:, None], 0.0)
    cand_vectors = vectors[np.where(valid, cand, 0)]             # (n_rows, n_candidates, n_features)
    max_sim = np.full(cand.shape, -np.inf)
    available = valid.copy()
    rows = np.arange(n_rows)
    chosen = np.full((n_rows, k), -1, dtype=np.int64)
    chosen_scores = np.full((n_rows, k), -np.inf)
    lam = float(lambda_)
    for slot in range(k):
        penalty = np.where(np.isneginf(max_sim), 0.0, max_sim)  # the first slot has nothing to resemble
        value = lam * relevance - (1.0 - lam) * penalty
        value = np.where(available, value, -np.inf)
        best = np.argmax(value, axis=1)                          # first maximum: pool order breaks ties
        ok = available[rows, best]
        chosen[ok, slot] = cand[rows[ok], best[ok]]
        chosen_scores[ok, slot] = cand_scores[rows[ok], best[ok]]
        available[rows[ok], best[ok]] = False
        picked = cand_vectors[rows, best]                         # (n_rows, n_features)
        sim = np.einsum("rcf,rf->rc", cand_vectors, picked)
        max_sim = np.where(ok[:, None], np.maximum(max_sim, sim), max_sim)
    return TopK(chosen, chosen_scores)


def rerank_exposure(scores, protected, k, *, min_share, exclude=None) -> TopK:
    r"""Re-rank so that a protected group of items gets at least ``min_share`` of each list's exposure.

    Exposure is position-weighted: slot :math:`p` of a list is worth
    :math:`w_p = 1 / \log_2(p + 1)`, the discount of NDCG, because people look
    at the top of a list more (see :func:`causalrec.metrics.exposure_by_group`).
    Each list is filled top-down with the best-scored remaining item, except
    when doing so would make the target unreachable: then the best protected
    item takes the slot. Protected items are therefore placed as low as the
    target allows, which costs the least ranking quality for a guaranteed
    share (a greedy form of the constraints of Singh and Joachims, 2018).
    ``min_share = 0`` is the plain top-k. A row with too few eligible
    protected items gets all of them.

    Parameters
    ----------
    scores : array-like or torch.Tensor, shape (n_rows, n_items)
        Scores, higher is better (``-inf``: never recommend).
    protected : array-like of bool, shape (n_items,)
        ``True`` for the items whose exposure is guaranteed (e.g. the long tail).
    k : int
        Length of each list.
    min_share : float in [0, 1]
        The least share of a list's position-weighted exposure that goes to
        protected items.
    exclude : as in :func:`top_k`, optional
        Entries never to recommend.

    Returns
    -------
    TopK
        Item positions and their scores, shape (n_rows, k), in list order.

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.array([[0.9, 0.8, 0.7, 0.2, 0.1]])
    >>> tail = np.array([False, False, False, True, True])
    >>> rerank_exposure(scores, tail, 3, min_share=0.0).indices
    array([[0, 1, 2]])
    >>> rerank_exposure(scores, tail, 3, min_share=0.2).indices   # the last slot is worth 0.23
    array([[0, 1, 3]])
    """
    work, k = _scores_and_k(scores, k)
    n_rows, n_items = work.shape
    if isinstance(min_share, bool) or not isinstance(min_share, numbers.Real) or not 0 <= min_share <= 1:
        raise ValueError(f"min_share must be a number in [0, 1], got {min_share!r}")
    group = _to_numpy(protected)
    if group.dtype != bool:
        raise TypeError(f"protected must be a boolean array (True for protected items), got dtype {group.dtype}")
    if group.shape != (n_items,):
        raise ValueError(f"protected must have one entry per item ({n_items}), got shape {group.shape}")
    mask = _exclusion_mask(exclude, work.shape)
    if mask is not None:
        work = np.where(mask, -np.inf, work)
    best_in = top_k(np.where(group[None, :], work, -np.inf), k)
    best_out = top_k(np.where(group[None, :], -np.inf, work), k)
    weights = 1.0 / np.log2(np.arange(2, k + 2))
    after = weights.sum() - np.cumsum(weights)                   # exposure of the slots after p
    target = float(min_share) * weights.sum() - 1e-12
    rows = np.arange(n_rows)
    i_in = np.zeros(n_rows, dtype=np.int64)
    i_out = np.zeros(n_rows, dtype=np.int64)
    gained = np.zeros(n_rows)
    chosen = np.full((n_rows, k), -1, dtype=np.int64)
    chosen_scores = np.full((n_rows, k), -np.inf)
    for slot in range(k):
        head_in = best_in.indices[rows, np.minimum(i_in, k - 1)]
        head_out = best_out.indices[rows, np.minimum(i_out, k - 1)]
        has_in = (i_in < k) & (head_in >= 0)
        has_out = (i_out < k) & (head_out >= 0)
        s_in = np.where(has_in, best_in.scores[rows, np.minimum(i_in, k - 1)], -np.inf)
        s_out = np.where(has_out, best_out.scores[rows, np.minimum(i_out, k - 1)], -np.inf)
        prefer_in = (s_in > s_out) | ((s_in == s_out) & (head_in < head_out))
        must_in = gained + after[slot] < target
        take_in = has_in & (~has_out | prefer_in | must_in)
        take_out = has_out & ~take_in
        chosen[take_in, slot] = head_in[take_in]
        chosen_scores[take_in, slot] = s_in[take_in]
        chosen[take_out, slot] = head_out[take_out]
        chosen_scores[take_out, slot] = s_out[take_out]
        gained += np.where(take_in, weights[slot], 0.0)
        i_in += take_in
        i_out += take_out
    # rows that ran out of items leave gaps; move the filled slots to the front
    order = np.argsort(chosen < 0, axis=1, kind="stable")
    return TopK(np.take_along_axis(chosen, order, axis=1), np.take_along_axis(chosen_scores, order, axis=1))
