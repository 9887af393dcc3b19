"""Recommender networks as plain :class:`torch.nn.Module` s: IDs are int64 tensors (B,) in ``0 .. n - 1``,
outputs raw scores (logits), ``score_all(users)`` scores the catalogue, (B, n_items). Sizes are checked
when a model is built, inputs where they enter the package (:mod:`causalrec.recommenders`), never in
``forward``. The source article joins a 2-D embedding with a 4-D convolution output, which cannot run;
here the CNN ends in an adaptive pool, so every part is 2-D, of fixed width, before the concatenation.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ._checks import check_fraction, check_positive_int

__all__ = ["MatrixFactorization", "NeuMF", "MultimodalRecommender", "TwoHeads", "ImageTower"]


def _sizes(values, name: str) -> tuple[int, ...]:
    if not (values := (values,) if isinstance(values, (numbers.Integral, np.integer)) else tuple(values)):
        raise ValueError(f"{name} must hold at least one layer size")
    return tuple(check_positive_int(v, f"{name}[{k}]") for k, v in enumerate(values))


def _mlp(sizes: tuple[int, ...], dropout: float = 0.0) -> nn.Sequential:
    """Linear -> ReLU (-> Dropout) for each consecutive pair of ``sizes``."""
    dropout = check_fraction(dropout, "dropout", inclusive=(True, False))
    return nn.Sequential(*[layer for n_in, n_out in zip(sizes[:-1], sizes[1:]) for layer in
                           [nn.Linear(n_in, n_out), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])])


class _Scorer(nn.Module):
    """Checked sizes, ID embedding tables and a generic :meth:`score_all` for (user, item) scorers."""

    def __init__(self, n_users: int, n_items: int, dim: int):
        super().__init__()
        self.n_users, self.n_items = check_positive_int(n_users, "n_users"), check_positive_int(n_items, "n_items")
        self.dim = check_positive_int(dim, "dim")

    def _tables(self, init_std: float, *names: str) -> None:
        """An embedding per name (a user table if the name holds "user", else an item table), then
        each table's weights drawn, in the same order, from N(0, ``init_std``^2)."""
        std = check_fraction(init_std, "init_std", high=np.inf, inclusive=(False, True))
        for name in names:
            setattr(self, name, nn.Embedding(self.n_users if "user" in name else self.n_items, self.dim))
        for name in names:
            nn.init.normal_(getattr(self, name).weight, std=std)

    def score_all(self, users, *, max_pairs: int = 262_144) -> torch.Tensor:
        """Scores of every catalogue item for each user, shape (B, n_items), ``max_pairs`` at a time."""
        step = max(1, int(max_pairs) // self.n_items)
        items = torch.arange(self.n_items)
        rows = [self(chunk.repeat_interleave(self.n_items), items.repeat(len(chunk))).reshape(-1, self.n_items)
                for chunk in users.split(step)]
        return torch.cat(rows) if rows else torch.empty(0, self.n_items)


class MatrixFactorization(_Scorer):
    r"""Matrix factorization with biases, :math:`\hat s_{ui} = p_u \cdot q_i + b_u + c_i + g`. The vectors start
    normal with standard deviation ``init_std``, the biases at 0.
    >>> _ = torch.manual_seed(0)
    >>> mf = MatrixFactorization(n_users=3, n_items=4, dim=2)
    >>> mf(torch.tensor([0, 2]), torch.tensor([1, 3])).shape, mf.score_all(torch.tensor([0, 1])).shape
    (torch.Size([2]), torch.Size([2, 4]))
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 32, *, init_std: float = 0.1):
        super().__init__(n_users, n_items, dim)
        self._tables(init_std, "user_embedding", "item_embedding")
        self.user_bias = nn.Parameter(torch.zeros(self.n_users))
        self.item_bias = nn.Parameter(torch.zeros(self.n_items))
        self.global_bias = nn.Parameter(torch.zeros(()))

    def forward(self, users, items) -> torch.Tensor:
        """Scores of the pairs ``(users[b], items[b])``, shape (B,)."""
        dot = (self.user_embedding(users) * self.item_embedding(items)).sum(dim=1)
        return dot + self.user_bias[users] + self.item_bias[items] + self.global_bias

    def score_all(self, users, *, max_pairs: int = 262_144) -> torch.Tensor:
        """Scores of every item for each user as one matrix product, shape (B, n_items)."""
        scores = self.user_embedding(users) @ self.item_embedding.weight.T
        return scores + self.user_bias[users, None] + self.item_bias[None, :] + self.global_bias


class NeuMF(_Scorer):
    """Neural matrix factorization: a GMF branch (element-wise product) beside an MLP, fused by one linear layer.
    >>> _ = torch.manual_seed(0)
    >>> NeuMF(n_users=5, n_items=7, dim=4, hidden=(8, 4))(torch.tensor([0, 4]), torch.tensor([6, 1])).shape
    torch.Size([2])
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 32, *, hidden=(64, 32, 16),
                 dropout: float = 0.0, init_std: float = 0.1):
        super().__init__(n_users, n_items, dim)
        self.hidden = _sizes(hidden, "hidden")
        self._tables(init_std, "gmf_user", "gmf_item", "mlp_user", "mlp_item")
        self.mlp = _mlp((2 * self.dim, *self.hidden), dropout)
        self.output = nn.Linear(self.dim + self.hidden[-1], 1)

    def forward(self, users, items) -> torch.Tensor:
        """Scores (logits) of the pairs ``(users[b], items[b])``, shape (B,)."""
        gmf = self.gmf_user(users) * self.gmf_item(items)
        mlp = self.mlp(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=1))
        return self.output(torch.cat([gmf, mlp], dim=1)).squeeze(1)


class TwoHeads(NamedTuple):
    """The outputs of :class:`MultimodalRecommender`: ``interest`` scores and ``purchase`` logits, (B,) each."""
    interest: torch.Tensor
    purchase: torch.Tensor


class ImageTower(nn.Module):
    """Two 3x3 convolutions, then an adaptive average pool: (N, 1, H, W) -> (N, ``out_features``) for any size. A
    ``pooled_size`` above 1 keeps *where* a pattern is.
    >>> tower = ImageTower(channels=(4, 8), pooled_size=2)
    >>> tower(torch.zeros(3, 1, 16, 16)).shape, tower(torch.zeros(3, 1, 28, 20)).shape
    (torch.Size([3, 32]), torch.Size([3, 32]))
    """

    def __init__(self, channels=(8, 16), pooled_size: int = 2):
        super().__init__()
        channels = _sizes(channels, "channels")
        if len(channels) != 2:
            raise ValueError(f"channels must hold two sizes (one per convolution), got {channels}")
        self.pooled_size = check_positive_int(pooled_size, "pooled_size")
        self.layers = nn.Sequential(nn.Conv2d(1, channels[0], kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Conv2d(channels[0], channels[1], kernel_size=3, padding=1), nn.ReLU(),
                                    nn.AdaptiveAvgPool2d(self.pooled_size), nn.Flatten())
        self.out_features = channels[1] * self.pooled_size ** 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


def _content(values, name: str, n_items: int, ndim: int) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    if x.dim() != ndim or len(x) != n_items or (ndim == 4 and x.shape[1] != 1):
        raise ValueError(f"{name} must have shape (n_items={n_items}, {'1, H, W' if ndim == 4 else 'features'})"
                         f", got {tuple(x.shape)}")
    x = x.detach().float().clone().contiguous()
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


class MultimodalRecommender(_Scorer):
    """ID embeddings, an image CNN and a text tower, fused by an MLP with two heads. The item vector ``v`` projects
    the item's ID embedding, image and text features; the MLP reads ``[u, v, u * v]`` and two heads give the
    interest score and purchase logit. The catalogue's content is kept as buffers, so ``forward`` needs IDs
    only; new items (cold start) are scored from ``images=`` / ``text=``, without IDs if ``use_item_ids=False``.
    ``images``: float (n_items, 1, H, W), standardized (:func:`causalrec.prep.normalize_images`); ``text``:
    float (n_items, vocabulary_size), e.g. TF-IDF; both optional.
    >>> _ = torch.manual_seed(0)
    >>> model = MultimodalRecommender(n_users=4, n_items=6, images=torch.rand(6, 1, 16, 16), dim=8)
    >>> model.score_all(torch.tensor([1]), head="purchase").shape
    torch.Size([1, 6])
    >>> cold = MultimodalRecommender(4, 6, images=torch.rand(6, 1, 16, 16), dim=8, use_item_ids=False)
    >>> cold(torch.tensor([0]), images=torch.rand(1, 1, 16, 16)).purchase.shape
    torch.Size([1])
    """

    HEADS = TwoHeads._fields

    def __init__(self, n_users: int, n_items: int, *, images=None, text=None, dim: int = 32,
                 use_item_ids: bool = True, channels=(8, 16), pooled_size: int = 2,
                 text_hidden: int = 32, hidden=(64, 32), dropout: float = 0.0, init_std: float = 0.1):
        super().__init__(n_users, n_items, dim)
        self.hidden = _sizes(hidden, "hidden")
        self.use_item_ids = bool(use_item_ids)
        if images is None and text is None and not self.use_item_ids:
            raise ValueError("MultimodalRecommender needs some description of an item: pass images, "
                             "text, or use_item_ids=True")
        self._tables(init_std, "user_embedding")
        self.item_embedding = None
        if self.use_item_ids:
            self._tables(init_std, "item_embedding")
        parts = self.dim if self.use_item_ids else 0
        self.image_tower = self.text_tower = None
        if images is not None:
            images = _content(images, "images", self.n_items, 4)
            self.image_tower = ImageTower(channels, pooled_size)
            side = 2 * self.image_tower.pooled_size
            if min(images.shape[2:]) < side:
                raise ValueError(f"images of {images.shape[2]}x{images.shape[3]} pixels are too small for "
                                 f"pooled_size={pooled_size}: they need at least {side}x{side}")
            self.register_buffer("item_images", images)
            parts += self.image_tower.out_features
        if text is not None:
            text = _content(text, "text", self.n_items, 2)
            text_hidden = check_positive_int(text_hidden, "text_hidden")
            self.text_tower = nn.Sequential(nn.Linear(text.shape[1], text_hidden), nn.ReLU())  # (N, vocab) -> (N, hidden)
            self.register_buffer("item_text", text)
            parts += text_hidden
        self.item_projection = nn.Linear(parts, self.dim)
        self.fusion = _mlp((3 * self.dim, *self.hidden), dropout)
        self.interest_head = nn.Linear(self.hidden[-1], 1)
        self.purchase_head = nn.Linear(self.hidden[-1], 1)

    def item_vectors(self, items=None, *, images=None, text=None) -> torch.Tensor:
        """The item vectors ``v`` (B, dim), from the catalogue or the given ``images``/``text``."""
        if items is None and images is None and text is None:
            items = torch.arange(self.n_items)
        distinct, inverse = (None, None) if items is None else torch.unique(items, return_inverse=True)
        parts = [] if self.item_embedding is None else [self.item_embedding(items)]
        for tower, given, catalogue in ((self.image_tower, images, "item_images"),
                                        (self.text_tower, text, "item_text")):
            if tower is None:
                continue
            if given is None and items is None:
                raise ValueError(f"{catalogue[5:]} is required when items is None")
            # encode each distinct item of the batch once, then spread the rows back
            parts.append(tower(given) if given is not None else tower(getattr(self, catalogue)[distinct])[inverse])
        return self.item_projection(torch.cat(parts, dim=1))

    def _heads(self, u: torch.Tensor, v: torch.Tensor) -> TwoHeads:
        h = self.fusion(torch.cat([u, v, u * v], dim=1))
        return TwoHeads(self.interest_head(h).squeeze(1), self.purchase_head(h).squeeze(1))

    def forward(self, users, items=None, images=None, text=None) -> TwoHeads:
        """Interest scores and purchase logits of the pairs ``(users[b], items[b])``, (B,) each."""
        return self._heads(self.user_embedding(users), self.item_vectors(items, images=images, text=text))

    def score_all(self, users, *, head: str = "interest", max_pairs: int = 262_144) -> torch.Tensor:
        """One head's scores of every catalogue item for each user, shape (B, n_items)."""
        if head not in self.HEADS:
            raise ValueError(f"head must be one of {self.HEADS}, got {head!r}")
        items = self.item_vectors()
        rows = []
        for chunk in users.split(max(1, int(max_pairs) // self.n_items)):
            u = self.user_embedding(chunk)
            out = self._heads(u.repeat_interleave(self.n_items, dim=0), items.repeat(len(u), 1))
            rows.append(getattr(out, head).reshape(len(u), self.n_items))
        return torch.cat(rows) if rows else torch.empty(0, self.n_items)
