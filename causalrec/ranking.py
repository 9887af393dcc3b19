"""Top-k lists, re-ranking and cold start (chapter 12); IDs are integers ``0 .. n - 1``."""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from . import schema
from ._checks import (check_binary, check_dataframe, check_fraction, check_ids, check_numeric_column,
                      check_positive_int, check_random_state, progress_bar)

__all__ = ["TopK", "top_k", "recommend", "topk_frame", "rerank_mmr", "rerank_exposure", "ColdStartSplit",
           "cold_start_split", "first_interactions", "fill_item_embeddings", "fold_in_users"]


class TopK(NamedTuple):
    """Best items per row, best first, (n_rows, k): ``indices`` (-1 if empty), ``scores`` (-inf if empty)."""
    indices: np.ndarray
    scores: np.ndarray


def _numpy(values):
    if hasattr(values, "detach"):                                   # a torch tensor (torch not imported)
        values = values.detach().cpu().numpy()
    return values.toarray() if sp.issparse(values) else np.asarray(values)


def _scores(scores, k, name="scores"):
    arr = _numpy(scores)
    if arr.ndim != 2 or 0 in arr.shape or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be a non-empty numeric 2-D array (n_rows, n_items), got shape "
                         f"{arr.shape}, dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if np.isnan(arr).any():
        row, col = np.argwhere(np.isnan(arr))[0]
        raise ValueError(f"{name} holds NaN, the first at row {row}, column {col} (use -inf to rule an item out)")
    k = check_positive_int(k, "k")
    if k > arr.shape[1]:
        raise ValueError(f"k={k} is larger than the number of items ({arr.shape[1]} columns of {name})")
    return arr, k


def _excluded(scores: np.ndarray, exclude) -> np.ndarray:
    if exclude is None:
        return scores
    if isinstance(exclude, tuple):
        rows, cols = (_numpy(part).reshape(-1) for part in exclude)
        mask = np.zeros(scores.size, dtype=bool)
        try:                                                       # refuses negative, too large or float positions
            mask[np.ravel_multi_index((rows, cols), scores.shape)] = True
        except (TypeError, ValueError):
            raise ValueError(f"exclude must be (rows, columns) of integer positions within {scores.shape}") from None
        mask = mask.reshape(scores.shape)
    else:
        mask = _numpy(exclude) != 0 if sp.issparse(exclude) else _numpy(exclude)
        if mask.dtype != bool:
            raise TypeError(f"exclude must be a boolean mask, a sparse matrix or (rows, columns), got dtype {mask.dtype}")
        if mask.shape != scores.shape:
            raise ValueError(f"exclude has shape {mask.shape}, but scores have shape {scores.shape}")
    return np.where(mask, -np.inf, scores)


def top_k(scores, k, *, exclude=None, item_ids=None) -> TopK:
    """The ``k`` highest-scoring items of every row, best first; ties go to the lower item ID. ``-inf`` or
    ``exclude`` (mask, sparse or (rows, columns)): never; short rows padded with ``-1``.
    >>> scores = np.array([[0.1, 0.9, 0.5, 0.9], [0.3, 0.2, 0.8, 0.1]])
    >>> top_k(scores, 2).indices          # the tie 0.9/0.9 goes to item 1 first
    array([[1, 3],
           [2, 0]])
    """
    work, k = _scores(scores, k)
    work = _excluded(work, exclude)
    n_rows, n_items = work.shape
    ids = None
    if item_ids is not None:
        ids = check_ids(np.atleast_1d(_numpy(item_ids)), "item_ids", unique=True, allow_empty=False)
        if ids.shape != (n_items,):
            raise ValueError(f"item_ids must have one ID per column ({n_items}), got shape {ids.shape}")
        order = np.argsort(ids, kind="stable")                     # columns in ID order: lower column = lower ID
        work, ids = work[:, order], ids[order]
    kth = -np.partition(-work, k - 1, axis=1)[:, k - 1]
    chosen, ties = work > kth[:, None], work == kth[:, None]
    ties &= np.cumsum(ties, axis=1) <= (k - chosen.sum(axis=1))[:, None]   # free slots: lowest columns win
    cols = np.nonzero(chosen | ties)[1].reshape(n_rows, k)
    vals = np.take_along_axis(work, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    cols, vals = np.take_along_axis(cols, order, axis=1), np.take_along_axis(vals, order, axis=1)
    indices = ids[cols] if ids is not None else cols.astype(np.int64)
    return TopK(np.where(np.isneginf(vals), -1, indices), vals)


def topk_frame(result, users) -> pd.DataFrame:
    """A :class:`TopK` (a row per user, item IDs) as a ``user_id, item_id, score, rank`` table.
    >>> topk_frame(top_k(np.array([[0.1, 0.9, 0.5]]), 2), [7])
       user_id  item_id  score  rank
    0        7        1    0.9     1
    1        7        2    0.5     2
    """
    if not isinstance(result, TopK):
        raise TypeError(f"result must be a TopK, got {type(result).__name__}")
    users = check_ids(np.atleast_1d(_numpy(users)), "users", allow_empty=False)
    if len(users) != len(result.indices):
        raise ValueError(f"users has {len(users)} entries but result has {len(result.indices)} rows")
    rows, slots = np.nonzero(result.indices >= 0)
    return pd.DataFrame({schema.USER: users[rows], schema.ITEM: result.indices[rows, slots],
                         schema.SCORE: result.scores[rows, slots], schema.RANK: (slots + 1).astype(np.int64)})


def recommend(scorer, users, n_items, k=10, *, seen=None, batch_size=1024, verbose=False) -> pd.DataFrame:
    """Top-``k`` items per user from ``scorer(user_ids) -> (b, n_items)``, without the ``seen`` pairs.
    >>> table = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.8]])
    >>> recommend(lambda u: table[u], [0, 1], n_items=3, k=1, seen=pd.DataFrame({"user_id": [1], "item_id": [2]}))
       user_id  item_id  score  rank
    0        0        1    0.9     1
    1        1        0    0.3     1
    """
    if not callable(scorer):
        raise TypeError(f"scorer must be callable (user_ids -> scores), got {type(scorer).__name__}")
    users = check_ids(np.atleast_1d(_numpy(users)), "users", unique=True, allow_empty=False)
    n_items, batch_size = check_positive_int(n_items, "n_items"), check_positive_int(batch_size, "batch_size")
    position = items = np.empty(0, np.int64)
    if seen is not None and len(check_dataframe(seen, "seen", [schema.USER, schema.ITEM], allow_empty=True)):
        items = check_ids(seen[schema.ITEM].to_numpy(), f"seen[{schema.ITEM!r}]", n_items)
        position = pd.Index(users).get_indexer(check_ids(seen[schema.USER].to_numpy(), f"seen[{schema.USER!r}]"))
        keep = position >= 0                                       # other users' pairs do not matter here
        order = np.argsort(position[keep], kind="stable")
        position, items = position[keep][order], items[keep][order]
    frames = []
    for start in progress_bar(range(0, len(users), batch_size), disable=not verbose, desc="recommending"):
        batch = users[start:start + batch_size]
        scores = _numpy(scorer(batch))
        if scores.shape != (len(batch), n_items):
            raise ValueError(f"scorer returned shape {scores.shape} for {len(batch)} users; "
                             f"expected ({len(batch)}, {n_items})")
        lo, hi = np.searchsorted(position, [start, start + len(batch)])
        frames.append(topk_frame(top_k(scores, k, exclude=(position[lo:hi] - start, items[lo:hi])), batch))
    return pd.concat(frames, ignore_index=True)


def rerank_mmr(scores, item_vectors, k, *, lambda_=0.5, n_candidates=None, exclude=None) -> TopK:
    r"""Diversify each list by maximal marginal relevance (Carbonell and Goldstein, 1998). Slot by slot, take the
    candidate maximising :math:`\lambda \tilde s_{ui} - (1 - \lambda) \max_{j \in L_u} \cos(x_i, x_j)`, scores
    rescaled to [0, 1] over the ``n_candidates`` best.
    >>> vectors = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])   # items 0 and 1 alike
    >>> rerank_mmr(np.array([[0.9, 0.8, 0.3]]), vectors, 2, lambda_=0.5).indices
    array([[0, 2]])
    """
    work, k = _scores(scores, k)
    n_rows, n_items = work.shape
    lam = check_fraction(lambda_, "lambda_")
    n_candidates = n_items if n_candidates is None else check_positive_int(n_candidates, "n_candidates")
    if not k <= n_candidates <= n_items:
        raise ValueError(f"n_candidates must lie in [k={k}, n_items={n_items}], got {n_candidates}")
    vectors = _numpy(item_vectors)
    if vectors.shape[:1] != (n_items,) or vectors.ndim != 2 or not np.isfinite(vectors).all():
        raise ValueError(f"item_vectors must be finite, of shape (n_items={n_items}, n_features), got {vectors.shape}")
    vectors = normalize(vectors.astype(np.float64))                # unit rows: dot product = cosine
    cand, cand_scores = top_k(work, n_candidates, exclude=exclude)
    valid = cand >= 0
    low = np.where(valid.any(1), np.min(np.where(valid, cand_scores, np.inf), axis=1), 0.0)
    high = np.where(valid.any(1), np.max(np.where(valid, cand_scores, -np.inf), axis=1), 0.0)
    relevance = np.where(valid, (cand_scores - low[:, None]) / np.where(high > low, high - low, 1.0)[:, None], 0.0)
    cand_vectors = vectors[np.where(valid, cand, 0)]               # (n_rows, n_candidates, n_features)
    max_sim, available, rows = np.full(cand.shape, -np.inf), valid.copy(), np.arange(n_rows)
    chosen, chosen_scores = np.full((n_rows, k), -1, dtype=np.int64), np.full((n_rows, k), -np.inf)
    for slot in range(k):
        value = lam * relevance - (1.0 - lam) * np.where(np.isneginf(max_sim), 0.0, max_sim)
        best = np.argmax(np.where(available, value, -np.inf), axis=1)   # first maximum: pool order breaks ties
        ok = available[rows, best]
        chosen[ok, slot], chosen_scores[ok, slot] = cand[rows[ok], best[ok]], cand_scores[rows[ok], best[ok]]
        available[rows[ok], best[ok]] = False
        sim = np.einsum("rcf,rf->rc", cand_vectors, cand_vectors[rows, best])
        max_sim = np.where(ok[:, None], np.maximum(max_sim, sim), max_sim)
    return TopK(chosen, chosen_scores)


def rerank_exposure(scores, protected, k, *, min_share, exclude=None) -> TopK:
    r"""Re-rank so that ``protected`` items get at least ``min_share`` of each list's exposure. Slot :math:`p` is
    worth :math:`1 / \log_2(p + 1)`; greedy: the best protected item only when the target would otherwise become
    unreachable (after Singh and Joachims, 2018).
    >>> scores, tail = np.array([[0.9, 0.8, 0.7, 0.2, 0.1]]), np.array([0, 0, 0, 1, 1], bool)
    >>> rerank_exposure(scores, tail, 3, min_share=0.2).indices   # the last slot is worth 0.23
    array([[0, 1, 3]])
    """
    work, k = _scores(scores, k)
    n_rows, n_items = work.shape
    share = check_fraction(min_share, "min_share")
    group = _numpy(protected)
    if group.dtype != bool or group.shape != (n_items,):
        raise ValueError(f"protected must be a boolean array with one entry per item ({n_items}), got "
                         f"shape {group.shape}, dtype {group.dtype}")
    work = _excluded(work, exclude)
    best_in, best_out = top_k(np.where(group, work, -np.inf), k), top_k(np.where(group, -np.inf, work), k)
    weights = 1.0 / np.log2(np.arange(2, k + 2))
    after = weights.sum() - np.cumsum(weights)                    # exposure of the slots after p
    target = share * weights.sum() - 1e-12
    rows = np.arange(n_rows)
    i_in, i_out, gained = np.zeros(n_rows, np.int64), np.zeros(n_rows, np.int64), np.zeros(n_rows)
    chosen, chosen_scores = np.full((n_rows, k), -1, dtype=np.int64), np.full((n_rows, k), -np.inf)
    for slot in range(k):
        head_in, head_out = best_in.indices[rows, np.minimum(i_in, k - 1)], best_out.indices[rows, np.minimum(i_out, k - 1)]
        has_in, has_out = (i_in < k) & (head_in >= 0), (i_out < k) & (head_out >= 0)
        s_in = np.where(has_in, best_in.scores[rows, np.minimum(i_in, k - 1)], -np.inf)
        s_out = np.where(has_out, best_out.scores[rows, np.minimum(i_out, k - 1)], -np.inf)
        prefer_in = (s_in > s_out) | ((s_in == s_out) & (head_in < head_out))
        take_in = has_in & (~has_out | prefer_in | (gained + after[slot] < target))
        take_out = has_out & ~take_in
        chosen[take_in, slot], chosen_scores[take_in, slot] = head_in[take_in], s_in[take_in]
        chosen[take_out, slot], chosen_scores[take_out, slot] = head_out[take_out], s_out[take_out]
        gained += np.where(take_in, weights[slot], 0.0)
        i_in, i_out = i_in + take_in, i_out + take_out
    order = np.argsort(chosen < 0, axis=1, kind="stable")         # gaps of short rows to the end
    return TopK(np.take_along_axis(chosen, order, axis=1), np.take_along_axis(chosen_scores, order, axis=1))


class ColdStartSplit(NamedTuple):
    """``train`` (warm users and items), the rows of cold users, cold items, both; sorted cold IDs."""
    train: pd.DataFrame
    cold_user_rows: pd.DataFrame
    cold_item_rows: pd.DataFrame
    cold_both_rows: pd.DataFrame
    cold_users: np.ndarray
    cold_items: np.ndarray


def cold_start_split(interactions, *, cold_user_share=0.1, cold_item_share=0.1, random_state=0) -> ColdStartSplit:
    """Hold out a random share of users and of items *entirely*, to test cold start.
    >>> log = pd.DataFrame({"user_id": [0, 0, 1, 1, 2, 2, 3, 3], "item_id": [0, 1, 1, 2, 2, 3, 3, 0]})
    >>> split = cold_start_split(log, cold_user_share=0.25, cold_item_share=0.25)
    >>> len(split.cold_users), bool(split.train["user_id"].isin(split.cold_users).any())
    (1, False)
    """
    check_dataframe(interactions, "interactions", ids=(schema.USER, schema.ITEM))
    shares = [check_fraction(s, name, inclusive=(True, False)) for s, name in
              ((cold_user_share, "cold_user_share"), (cold_item_share, "cold_item_share"))]
    rng = check_random_state(random_state)
    cold = []
    for column, share in zip((schema.USER, schema.ITEM), shares):
        ids = np.unique(interactions[column].to_numpy())
        n = int(round(share * len(ids)))
        if n >= len(ids):
            raise ValueError(f"holding out {n} of {len(ids)} {column}s leaves nothing to train on; "
                             f"lower cold_{column[:4]}_share")
        cold.append(np.sort(rng.choice(ids, size=n, replace=False)).astype(np.int64))
    user_cold = interactions[schema.USER].isin(cold[0]).to_numpy()
    item_cold = interactions[schema.ITEM].isin(cold[1]).to_numpy()
    return ColdStartSplit(interactions.loc[~user_cold & ~item_cold], interactions.loc[user_cold & ~item_cold],
                          interactions.loc[~user_cold & item_cold], interactions.loc[user_cold & item_cold], *cold)


def first_interactions(interactions, n, *, order_by=schema.DAY):
    """Split each user's rows into their first ``n`` (by ``order_by``, then row order) and the rest.
    >>> log = pd.DataFrame({"user_id": [5, 5, 5, 6], "item_id": [1, 2, 3, 1], "day": [2, 0, 1, 0]})
    >>> [part["item_id"].tolist() for part in first_interactions(log, 2)]
    [[2, 3, 1], [1]]
    """
    check_dataframe(interactions, "interactions", [schema.ITEM, order_by], ids=(schema.USER,))
    check_numeric_column(interactions, order_by, "interactions")
    n = check_positive_int(n, "n", minimum=0)
    order = np.argsort(interactions[order_by].to_numpy(), kind="stable")
    users = interactions[schema.USER].iloc[order]
    is_first = np.zeros(len(order), dtype=bool)
    is_first[order] = users.groupby(users.to_numpy()).cumcount().to_numpy() < n
    return interactions.loc[is_first], interactions.loc[~is_first]


def _id_tables(model, side: str, n: int):
    """The (module, attribute) pairs holding one row per user or item: ID embeddings and biases."""
    out = [(module, "weight") for name, module in model.named_modules()
           if type(module).__name__ == "Embedding" and side in name and module.num_embeddings == n]
    return out + ([(model, f"{side}_bias")] if f"{side}_bias" in dict(model.named_parameters()) else [])


def fill_item_embeddings(estimator, items):
    """A copy of a fitted recommender whose never-trained ``items`` get the others' mean ID parameters."""
    import torch
    check_is_fitted(estimator, "model_")
    cold = check_ids(np.atleast_1d(_numpy(items)), "items (fit with items=<the whole catalogue>)",
                     estimator.n_items_, unique=True, allow_empty=False)
    out = copy.deepcopy(estimator)
    warm = torch.from_numpy(np.setdiff1d(np.arange(out.n_items_), cold))
    with torch.no_grad():
        for owner, attr in _id_tables(out.model_, "item", out.n_items_):
            table = getattr(owner, attr)
            table[torch.from_numpy(cold)] = table[warm].mean(dim=0) if len(warm) else 0.0
    return out


def fold_in_users(estimator, interactions, *, target=schema.CLICKED, steps=100, lr=0.05, l2=0.1, n_threads=1):
    """A copy of a fitted recommender with vectors learned, from zero, for the users of ``interactions``
    (``steps`` full-batch Adam steps on the fit's loss plus ``l2`` penalty; other parameters frozen)."""
    import torch

    from .train import bce_loss, fit_torch, mse_loss, select_head
    check_is_fitted(estimator, "model_")
    if estimator.loss_ not in ("bce", "mse"):
        raise ValueError(f"fold_in_users needs a model fitted with loss='bce' or 'mse', got {estimator.loss_!r}")
    check_dataframe(interactions, "interactions", [schema.USER, schema.ITEM, target])
    check_numeric_column(interactions, target, "interactions")
    steps = check_positive_int(steps, "steps")
    lr, l2 = check_fraction(lr, "lr", high=np.inf, inclusive=(False, True)), check_fraction(l2, "l2", high=np.inf)
    users = check_ids(interactions[schema.USER].to_numpy(), f"interactions[{schema.USER!r}]")
    items = check_ids(interactions[schema.ITEM].to_numpy(), f"interactions[{schema.ITEM!r}]", estimator.n_items_)
    if estimator.loss_ == "bce":
        check_binary(interactions[target], f"interactions[{target!r}] (for a model fitted with loss='bce')")
    y = interactions[target].to_numpy(dtype=np.float32)
    out = copy.deepcopy(estimator)
    model, n_old = out.model_, out.n_users_
    n_users = max(n_old, int(users.max()) + 1)
    parts = _id_tables(model, "user", n_old)
    new = torch.from_numpy(np.unique(users))
    with torch.no_grad():
        for owner, attr in parts:                                  # grow the tables, zero the new users
            old = getattr(owner, attr)
            grown = torch.cat([old, old.new_zeros((n_users - n_old, *old.shape[1:]))])
            grown[new] = 0.0
            setattr(owner, attr, torch.nn.Parameter(grown))
            if attr == "weight":
                owner.num_embeddings = n_users
    model.n_users = out.n_users_ = n_users
    params = [getattr(owner, attr) for owner, attr in parts]
    frozen = [p.requires_grad_(False) for p in model.parameters() if p.requires_grad]
    for p in params:  # the loss reads only the new users' rows: no other row gets a gradient, none moves
        p.requires_grad_(True)
    loss = bce_loss if out.loss_ == "bce" else mse_loss

    def loss_fn(module, batch):
        scores = select_head(module(batch["users"], batch["items"]), out.head_)
        penalty = sum((p[new] ** 2).sum() for p in params) / len(batch["target"])
        return loss(scores, batch["target"]) + l2 * penalty
    try:
        fit_torch(model, loss_fn, {"users": torch.from_numpy(users), "items": torch.from_numpy(items),
                                   "target": torch.from_numpy(y)},
                  epochs=steps, batch_size=None, optimizer=torch.optim.Adam(params, lr=lr), n_threads=n_threads)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return out
