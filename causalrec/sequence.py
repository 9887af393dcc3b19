"""Sequence recommendation: a small SASRec-style transformer on :func:`~causalrec.train.fit_torch` (ch. 06b).

The shop's histories are its clicks day by day, same-day clicks by item id (:func:`histories`);
that order carries the users' taste and the logging policy, no sequential signal of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn

from . import schema
from ._checks import check_dataframe, check_finite_1d, check_id_column, check_positive_int, seed_from
from .train import fit_torch

__all__ = ["histories", "causal_mask", "attention", "SASRec", "SequentialRecommender", "next_item_metrics"]


def histories(data, *, order_by=(schema.DAY,), values=schema.ITEM) -> pd.Series:
    """Each user's ``values`` (items by default), oldest first: a Series ``user_id -> array``.
    >>> df = pd.DataFrame({"user_id": [0, 0, 0], "item_id": [7, 3, 5], "day": [2, 1, 1]})
    >>> histories(df).loc[0].tolist()  # day 1 first, its tie broken by item id
    [3, 5, 7]
    """
    order_by = [order_by] if isinstance(order_by, str) else list(order_by)
    data = check_dataframe(data, "data", [schema.USER, schema.ITEM, *order_by, values])
    for column in (schema.USER, schema.ITEM):
        check_id_column(data, column, "data")
    data = data.sort_values([schema.USER, *order_by, schema.ITEM], kind="stable")
    return data.groupby(schema.USER, sort=True)[values].agg(lambda s: s.to_numpy())


def causal_mask(n: int) -> torch.Tensor:
    """Boolean (n, n) mask, True where query ``t`` may look at key ``s``, i.e. ``s <= t``."""
    return torch.ones(n, n, dtype=torch.bool).tril()


def attention(q, k, v, mask=None):
    """``softmax(q k^T / sqrt(d)) v`` over the last two axes; ``mask`` is True where allowed.
    Written out to be read; torch's ``scaled_dot_product_attention`` agrees (tests)."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    scores = scores if mask is None else scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class _Block(nn.Module):
    """Pre-norm transformer block: causal multi-head self-attention, then a feed-forward net."""

    def __init__(self, dim, n_heads, dropout):
        super().__init__()
        self.n_heads, self.norm1, self.norm2 = n_heads, nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        heads = attention(q, k, v, mask).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.out(heads))
        return x + self.drop(self.ffn(self.norm2(x)))


class SASRec(nn.Module):
    """SASRec (Kang and McAuley, 2018), pre-norm; left pads are zeroed and masked as keys.
    ``forward``: (batch, length <= max_len) item ids + 1, 0 pads -> (batch, length, dim); ``logits``: item dots."""

    def __init__(self, n_items, dim=32, n_blocks=2, n_heads=1, max_len=50, dropout=0.2):
        super().__init__()
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.positions = nn.Embedding(max_len, dim)  # position -1 is always the newest item
        self.blocks = nn.ModuleList(_Block(dim, n_heads, dropout) for _ in range(n_blocks))
        self.norm, self.drop = nn.LayerNorm(dim), nn.Dropout(dropout)
        for table in (self.items, self.positions):  # small vectors, so the first logits are near 0
            nn.init.normal_(table.weight, std=dim ** -0.5)

    def forward(self, tokens):
        n, keep = tokens.shape[1], (tokens > 0).unsqueeze(-1)
        # a query sees past real items; a pad sees only itself (no empty row); (batch, 1 head axis, n, n)
        mask = (causal_mask(n) & (keep.transpose(1, 2) | torch.eye(n, dtype=torch.bool))).unsqueeze(1)
        x = self.drop(self.items(tokens) + self.positions.weight[-n:]) * keep
        for block in self.blocks:
            x = block(x, mask) * keep
        return self.norm(x)

    def logits(self, hidden):
        return hidden @ self.items.weight[1:].T


def _windows(sequences, weights, max_len):
    """Rows of ``max_len`` (input, next item, weight) steps cut from each history, newest last."""
    rows = [(seq[s:e] + 1, seq[s + 1:e + 1], w[s + 1:e + 1]) for seq, w in zip(sequences, weights)
            for e in range(len(seq) - 1, 0, -max_len) for s in [max(0, e - max_len)]]
    out = np.zeros((3, len(rows), max_len))
    for r, (x, y, w) in enumerate(rows):
        out[0, r, -len(x):], out[1, r, -len(y):], out[2, r, -len(w):] = x, y, w
    return {"tokens": torch.as_tensor(out[0], dtype=torch.long),
            "targets": torch.as_tensor(out[1], dtype=torch.long), "weights": torch.as_tensor(out[2]).float()}


def _loss(module, batch):
    """Weighted softmax cross-entropy of the next item over all items, mean over real positions."""
    logits = module.logits(module(batch["tokens"])).flatten(0, 1)
    ce = nn.functional.cross_entropy(logits, batch["targets"].flatten(), reduction="none")
    real = (batch["tokens"] > 0).flatten()
    return (ce * batch["weights"].flatten())[real].sum() / real.sum().clamp(min=1)


class SequentialRecommender(BaseEstimator):
    """Next-item recommender over ordered histories (sklearn's estimator contract):
    ``dim, n_blocks, n_heads, max_len, dropout`` shape the :class:`SASRec`; ``epochs, batch_size,
    lr, weight_decay, patience, verbose, n_threads`` go to :func:`fit_torch`; ``random_state``
    seeds the weights and the batch order.
    >>> cycle = pd.DataFrame({"user_id": np.repeat(np.arange(8), 6), "day": np.tile(np.arange(6), 8)})
    >>> cycle["item_id"] = (cycle["user_id"] + cycle["day"]) % 4   # next item = previous + 1
    >>> model = SequentialRecommender(dim=16, epochs=40, lr=0.02, dropout=0.0).fit(cycle)
    >>> model.recommend([0], k=1, exclude_seen=False)["item_id"].tolist()  # user 0 ended on item 1
    [2]
    """

    def __init__(self, dim=32, n_blocks=2, n_heads=1, max_len=50, dropout=0.2, epochs=20, batch_size=128,
                 lr=1e-3, weight_decay=0.0, patience=None, random_state=0, verbose=False, n_threads=None):
        self.dim, self.n_blocks, self.n_heads, self.max_len, self.dropout = dim, n_blocks, n_heads, max_len, dropout
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.patience, self.random_state, self.verbose, self.n_threads = patience, random_state, verbose, n_threads

    def fit(self, data, *, order_by=(schema.DAY,), n_users=None, n_items=None, sample_weight=None,
            validation=None):
        """Learn each row's item (``data``: ``user_id, item_id, *order_by``) from the user's earlier rows.
        ``sample_weight`` (per row, e.g. inverse propensities) multiplies its loss; with ``validation``
        (each user's next item; an optional ``weight`` column weights its NDCG@10, e.g. by inverse
        propensities) and ``patience``, fit keeps the epoch of best validation NDCG@10."""
        data = check_dataframe(data, "data", [schema.USER, schema.ITEM])
        weight = np.ones(len(data)) if sample_weight is None else check_finite_1d(sample_weight, "sample_weight")
        if len(weight) != len(data) or (weight < 0).any():
            raise ValueError(f"sample_weight needs {len(data)} non-negative numbers (one per row), got {len(weight)}")
        self.n_users_ = int(data[schema.USER].max() + 1 if n_users is None else n_users)
        self.n_items_ = int(data[schema.ITEM].max() + 1 if n_items is None else n_items)
        for column, n in ((schema.USER, self.n_users_), (schema.ITEM, self.n_items_)):
            if data[column].max() >= n:
                raise ValueError(f"data[{column!r}] holds ids >= {n} (n_users / n_items)")
        max_len = check_positive_int(self.max_len, "max_len")
        self.sequences_ = histories(data, order_by=order_by)
        weights = histories(data.assign(_weight=weight), order_by=order_by, values="_weight")
        self.seen_ = np.zeros((self.n_users_, self.n_items_), dtype=bool)  # items in each user's history
        self.seen_[data[schema.USER], data[schema.ITEM]] = True
        torch.manual_seed(seed_from(self.random_state))
        self.model_ = SASRec(self.n_items_, self.dim, self.n_blocks, self.n_heads, max_len, self.dropout)
        validate = None if validation is None else self._validator(validation)
        self.history_ = fit_torch(self.model_, _loss, _windows(self.sequences_, weights, max_len),
                                  epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                                  weight_decay=self.weight_decay, random_state=self.random_state,
                                  validate=validate, patience=self.patience if validate else None,
                                  verbose=self.verbose, n_threads=self.n_threads)
        self.n_params_ = sum(p.numel() for p in self.model_.parameters())
        return self

    def _validator(self, validation):
        pair = [schema.USER, schema.ITEM]
        users, items = check_dataframe(validation, "validation", pair)[pair].to_numpy().T
        weight = check_finite_1d(validation["weight"], "validation['weight']") if "weight" in validation else None
        return lambda module: -next_item_metrics(self.score_items(users), items, self.seen_[users],
                                                 weights=weight)["ndcg"]

    @torch.no_grad()
    def score_items(self, users, histories=None) -> np.ndarray:
        """Next-item logits, (len(users), n_items_), after the fitted or the given ``histories``."""
        check_is_fitted(self, "model_")
        source = self.sequences_ if histories is None else histories
        tokens = np.zeros((len(users), self.max_len), dtype=np.int64)
        for r, u in enumerate(np.asarray(users, dtype=int)):
            seq = np.asarray(source.get(u, []), dtype=np.int64)[-self.max_len:]
            tokens[r, self.max_len - len(seq):] = seq + 1
        self.model_.eval()
        return self.model_.logits(self.model_(torch.from_numpy(tokens))[:, -1]).double().numpy()

    def predict(self, users, items) -> np.ndarray:
        """Scores of the pairs ``(users[k], items[k])``, as in :meth:`score_items`."""
        return self.score_items(users)[np.arange(len(users)), np.asarray(items, dtype=int)]

    def recommend(self, users, k=10, exclude_seen=True) -> pd.DataFrame:
        """Top-``k`` next items per user, best first: ``user_id, item_id, score, rank``."""
        users, scores = np.asarray(users, dtype=int), self.score_items(users)
        if exclude_seen:
            scores[self.seen_[users]] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :check_positive_int(k, "k")]
        return pd.DataFrame({schema.USER: np.repeat(users, top.shape[1]), schema.ITEM: top.ravel(),
                             schema.SCORE: np.take_along_axis(scores, top, 1).ravel(),
                             schema.RANK: np.tile(np.arange(1, top.shape[1] + 1), len(users))})


def next_item_metrics(scores, targets, exclude=None, k=10, weights=None) -> dict:
    """HR@k and NDCG@k of one next item per row of ``scores`` (n, n_items), ranked among all
    items but ``exclude`` (bool, n x n_items); ties count against the target. With one relevant
    item, NDCG@k is ``1 / log2(rank + 1)`` if ``rank <= k``, else 0; rows averaged with ``weights``.
    >>> next_item_metrics(np.array([[0.9, 0.1, 0.5]]), np.array([2]))  # rank 2
    {'hit_rate': 1.0, 'ndcg': 0.631}
    """
    scores = np.where(exclude, -np.inf, scores) if exclude is not None else np.asarray(scores)
    rank = (scores >= scores[np.arange(len(scores)), np.asarray(targets)][:, None]).sum(axis=1)
    return {"hit_rate": float(np.average(rank <= k, weights=weights)),
            "ndcg": float(np.average(np.where(rank <= k, 1 / np.log2(rank + 1), 0), weights=weights))}
