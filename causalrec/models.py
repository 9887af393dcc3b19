"""Recommender networks as plain :class:`torch.nn.Module` s (forward passes only).

Three models, from the simplest to the source article's design done right:

- :class:`MatrixFactorization`: a user vector, an item vector, their dot
  product plus biases. The baseline every deep model must beat.
- :class:`NeuMF`: neural collaborative filtering, a GMF branch (element-wise
  product of embeddings) next to an MLP branch (concatenated embeddings
  through hidden layers), joined by one output layer.
- :class:`MultimodalRecommender`: user and item ID embeddings, a small CNN over
  each item's grayscale image and a text tower over its TF-IDF vector, fused
  by concatenating **2-D** ``(batch, features)`` tensors and an MLP, with two
  heads: *interest* (a score per (user, item) pair; a softmax over a user's
  candidate items turns the scores into a distribution) and *purchase* (a
  logit; the sigmoid of it is the purchase probability).

The article's own network concatenates a 2-D ID embedding with a 4-D
convolution output and flattens the image features with a hard-coded
``hidden_dim * 7 * 7``; neither runs. Here the CNN ends in an adaptive average
pool, so the image features have ``channels[-1] * pooled_size**2`` columns
whatever the image size, and every tensor is flattened to 2-D before the
concatenation.

Conventions
-----------
* IDs are integers ``0 .. n - 1`` (see :class:`causalrec.prep.IdEncoder`),
  given as 1-D tensors (or anything :func:`torch.as_tensor` accepts) of shape (B,).
* Every model returns **raw scores** (logits): apply ``torch.sigmoid`` for a
  probability, or train with a loss that expects logits
  (:mod:`causalrec.recommenders`).
* ``score_all(users)`` scores every catalogue item for each user, shape
  ``(B, n_items)``, for fast top-k lists.
* Bad input (a wrong shape or dtype, an ID out of range) raises
  :class:`ValueError` naming the argument, shape or ID.

Training loops, losses and the estimator that chapters use live in
:mod:`causalrec.recommenders`.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

__all__ = ["MatrixFactorization", "NeuMF", "MultimodalRecommender", "TwoHeads", "ImageTower",
           "TextTower"]

_SHOW = 5  # how many offending IDs an error message lists


# --------------------------------------------------------------------------- checks
def _check_size(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_sizes(values, name: str) -> tuple[int, ...]:
    if isinstance(values, (numbers.Integral, np.integer)) and not isinstance(values, bool):
        values = (values,)
    try:
        sizes = tuple(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of positive integers, got {values!r}") from None
    if not sizes:
        raise ValueError(f"{name} must hold at least one layer size, got {values!r}")
    return tuple(_check_size(v, f"{name}[{k}]") for k, v in enumerate(sizes))


def _as_ids(values, name: str, n: int) -> torch.Tensor:
    """``values`` as a 1-D int64 tensor of IDs in ``[0, n)``, or a ValueError naming the bad IDs."""
    ids = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    if ids.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of IDs, got shape {tuple(ids.shape)}")
    if ids.dtype == torch.bool or ids.is_floating_point() or ids.is_complex():
        raise ValueError(f"{name} must hold integer IDs, got dtype {ids.dtype}")
    if ids.dtype != torch.int64:
        ids = ids.long()
    if ids.numel():
        low, high = torch.aminmax(ids)
        if low < 0 or high >= n:
            bad = ids[(ids < 0) | (ids >= n)].unique()[:_SHOW].tolist()
            raise ValueError(f"{name} holds ID(s) {bad} outside [0, {n})")
    return ids


def _as_features(values, name: str, shape: tuple, what: str) -> torch.Tensor:
    """A float32 tensor whose shape matches ``shape`` (``None`` entries match anything)."""
    x = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    if not x.is_floating_point():
        if x.dtype == torch.bool or x.is_complex():
            raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
        x = x.float()
    elif x.dtype != torch.float32:
        x = x.float()
    if x.dim() != len(shape) or any(s is not None and s != t for s, t in zip(shape, x.shape)):
        expected = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {expected} ({what}), got {tuple(x.shape)}")
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        raise ValueError(f"{name} holds {int((~finite).sum())} NaN or infinite value(s)")
    return x


def _same_length(users: torch.Tensor, other: torch.Tensor, name: str) -> None:
    if len(users) != len(other):
        raise ValueError(f"users and {name} must have the same length, got {len(users)} and {len(other)}")


class _PairScorer(nn.Module):
    """Shared ID checks and a generic, chunked :meth:`score_all`."""

    n_users: int
    n_items: int

    def _check_pairs(self, users, items) -> tuple[torch.Tensor, torch.Tensor]:
        users = _as_ids(users, "users", self.n_users)
        items = _as_ids(items, "items", self.n_items)
        _same_length(users, items, "items")
        return users, items

    def score_all(self, users, *, max_pairs: int = 262_144) -> torch.Tensor:
        """Scores of every catalogue item for each user.

        Parameters
        ----------
        users : 1-D tensor of int, shape (B,)
        max_pairs : int
            Pairs scored per forward pass (bounds memory; the result does not
            depend on it).

        Returns
        -------
        torch.Tensor of float32, shape (B, n_items)
            Row ``b`` holds ``forward(users[b], item)`` for every item.
        """
        users = _as_ids(users, "users", self.n_users)
        all_items = torch.arange(self.n_items)
        rows = []
        step = max(1, int(max_pairs) // self.n_items)                    # users per forward pass
        for start in range(0, len(users), step):
            chunk = users[start:start + step]
            pairs_u = chunk.repeat_interleave(self.n_items)
            pairs_i = all_items.repeat(len(chunk))
            rows.append(self(pairs_u, pairs_i).reshape(len(chunk), self.n_items))
        if not rows:
            return torch.empty(0, self.n_items)
        return torch.cat(rows)


# --------------------------------------------------------------------------- MF
class MatrixFactorization(_PairScorer):
    r"""Matrix factorization with user, item and global biases.

    .. math::  \hat s_{ui} = p_u \cdot q_i + b_u + c_i + g

    Parameters
    ----------
    n_users, n_items : int
        Sizes of the ID tables.
    dim : int
        Length of the user and item vectors :math:`p_u, q_i`.
    init_std : float
        Standard deviation of the normal initialisation of the vectors
        (the biases start at zero). Seed with :func:`torch.manual_seed`.

    Attributes
    ----------
    user_embedding, item_embedding : torch.nn.Embedding, weights (n_users, dim), (n_items, dim)
    user_bias, item_bias : torch.nn.Parameter, shapes (n_users,), (n_items,)
    global_bias : torch.nn.Parameter, shape ()

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> mf = MatrixFactorization(n_users=3, n_items=4, dim=2)
    >>> mf(torch.tensor([0, 2]), torch.tensor([1, 3])).shape
    torch.Size([2])
    >>> mf.score_all(torch.tensor([0, 1, 2])).shape
    torch.Size([3, 4])
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 32, *, init_std: float = 0.1):
        super().__init__()
        self.n_users = _check_size(n_users, "n_users")
        self.n_items = _check_size(n_items, "n_items")
        self.dim = _check_size(dim, "dim")
        if not isinstance(init_std, numbers.Real) or not init_std > 0:
            raise ValueError(f"init_std must be a positive number, got {init_std!r}")
        self.user_embedding = nn.Embedding(self.n_users, self.dim)
        self.item_embedding = nn.Embedding(self.n_items, self.dim)
        self.user_bias = nn.Parameter(torch.zeros(self.n_users))
        self.item_bias = nn.Parameter(torch.zeros(self.n_items))
        self.global_bias = nn.Parameter(torch.zeros(()))
        nn.init.normal_(self.user_embedding.weight, std=float(init_std))
        nn.init.normal_(self.item_embedding.weight, std=float(init_std))

    def forward(self, users, items) -> torch.Tensor:
        """Scores of the pairs ``(users[b], items[b])``.

        Parameters
        ----------
        users, items : 1-D tensors of int, shape (B,)

        Returns
        -------
        torch.Tensor of float32, shape (B,)
        """
        users, items = self._check_pairs(users, items)
        dot = (self.user_embedding(users) * self.item_embedding(items)).sum(dim=1)
        return dot + self.user_bias[users] + self.item_bias[items] + self.global_bias

    def score_all(self, users, *, max_pairs: int = 262_144) -> torch.Tensor:
        """Scores of every item for each user, as one matrix product.

        Parameters
        ----------
        users : 1-D tensor of int, shape (B,)
        max_pairs : int
            Unused (kept for the common signature).

        Returns
        -------
        torch.Tensor of float32, shape (B, n_items)
        """
        users = _as_ids(users, "users", self.n_users)
        scores = self.user_embedding(users) @ self.item_embedding.weight.T
        return scores + self.user_bias[users, None] + self.item_bias[None, :] + self.global_bias


# --------------------------------------------------------------------------- NeuMF
def _mlp(sizes: tuple[int, ...], dropout: float = 0.0) -> nn.Sequential:
    """Linear -> ReLU (-> Dropout) for each consecutive pair of ``sizes``."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def _check_dropout(dropout) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    return float(dropout)


class NeuMF(_PairScorer):
    """Neural matrix factorization: a GMF branch and an MLP branch, fused.

    The GMF branch multiplies a user and an item vector element-wise (matrix
    factorization with a learned weighting of the dimensions); the MLP branch
    concatenates two *other* embeddings, shape (B, 2 * dim), and passes them
    through ``hidden`` ReLU layers. The two outputs are concatenated, shape
    (B, dim + hidden[-1]), and one linear layer gives the score.

    Parameters
    ----------
    n_users, n_items : int
    dim : int
        Embedding length in each branch.
    hidden : sequence of int
        Sizes of the MLP branch's hidden layers.
    dropout : float
        Dropout after each hidden layer (active only in training mode).
    init_std : float
        Standard deviation of the embeddings' normal initialisation.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = NeuMF(n_users=5, n_items=7, dim=4, hidden=(8, 4))
    >>> model(torch.tensor([0, 4]), torch.tensor([6, 1])).shape
    torch.Size([2])
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 32, *, hidden=(64, 32, 16),
                 dropout: float = 0.0, init_std: float = 0.1):
        super().__init__()
        self.n_users = _check_size(n_users, "n_users")
        self.n_items = _check_size(n_items, "n_items")
        self.dim = _check_size(dim, "dim")
        self.hidden = _check_sizes(hidden, "hidden")
        dropout = _check_dropout(dropout)
        if not isinstance(init_std, numbers.Real) or not init_std > 0:
            raise ValueError(f"init_std must be a positive number, got {init_std!r}")
        self.gmf_user = nn.Embedding(self.n_users, self.dim)
        self.gmf_item = nn.Embedding(self.n_items, self.dim)
        self.mlp_user = nn.Embedding(self.n_users, self.dim)
        self.mlp_item = nn.Embedding(self.n_items, self.dim)
        for table in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            nn.init.normal_(table.weight, std=float(init_std))
        self.mlp = _mlp((2 * self.dim, *self.hidden), dropout)
        self.output = nn.Linear(self.dim + self.hidden[-1], 1)

    def forward(self, users, items) -> torch.Tensor:
        """Scores (logits) of the pairs ``(users[b], items[b])``, shape (B,)."""
        users, items = self._check_pairs(users, items)
        gmf = self.gmf_user(users) * self.gmf_item(items)                              # (B, dim)
        mlp = self.mlp(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=1))  # (B, hidden[-1])
        return self.output(torch.cat([gmf, mlp], dim=1)).squeeze(1)


# --------------------------------------------------------------------------- multimodal
class TwoHeads(NamedTuple):
    """The outputs of :class:`MultimodalRecommender`, both logits of shape (B,).

    Attributes
    ----------
    interest : torch.Tensor, shape (B,)
        Interest score of each pair; a softmax over one user's candidate items
        gives the distribution of their interest.
    purchase : torch.Tensor, shape (B,)
        Purchase logit; ``torch.sigmoid`` of it is the purchase probability.
    """

    interest: torch.Tensor
    purchase: torch.Tensor


class ImageTower(nn.Module):
    """A small CNN: conv -> ReLU -> max-pool -> conv -> ReLU -> adaptive average pool -> flatten.

    Parameters
    ----------
    channels : (int, int)
        Output channels of the two 3x3 convolutions (padding 1, so the size is
        kept; the 2x2 max-pool halves it).
    pooled_size : int
        Side of the adaptive average pool's output. The flattened features
        have ``channels[1] * pooled_size**2`` columns for any image size of at
        least ``2 * pooled_size`` pixels; a ``pooled_size`` above 1 keeps
        *where* a pattern is (e.g. which quadrant is bright).

    Shapes: input (N, 1, H, W), output (N, :attr:`out_features`).

    Examples
    --------
    >>> import torch
    >>> tower = ImageTower(channels=(4, 8), pooled_size=2)
    >>> tower(torch.zeros(3, 1, 16, 16)).shape, tower(torch.zeros(3, 1, 28, 20)).shape
    (torch.Size([3, 32]), torch.Size([3, 32]))
    """

    def __init__(self, channels=(8, 16), pooled_size: int = 2):
        super().__init__()
        channels = _check_sizes(channels, "channels")
        if len(channels) != 2:
            raise ValueError(f"channels must hold two sizes (one per convolution), got {channels}")
        self.pooled_size = _check_size(pooled_size, "pooled_size")
        self.layers = nn.Sequential(
            nn.Conv2d(1, channels[0], kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels[0], channels[1], kernel_size=3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(self.pooled_size), nn.Flatten(),
        )
        self.out_features = channels[1] * self.pooled_size ** 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Image features, shape (N, out_features), from images of shape (N, 1, H, W)."""
        return self.layers(images)


class TextTower(nn.Module):
    """One hidden layer over a bag-of-words or TF-IDF vector: Linear -> ReLU.

    Shapes: input (N, vocabulary_size), output (N, hidden).

    Examples
    --------
    >>> import torch
    >>> TextTower(vocabulary_size=10, hidden=4)(torch.zeros(2, 10)).shape
    torch.Size([2, 4])
    """

    def __init__(self, vocabulary_size: int, hidden: int = 32):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(_check_size(vocabulary_size, "vocabulary_size"),
                                              _check_size(hidden, "text_hidden")), nn.ReLU())
        self.out_features = int(hidden)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        """Text features, shape (N, hidden)."""
        return self.layers(text)


class MultimodalRecommender(nn.Module):
    """ID embeddings, an image CNN and a text tower, fused by an MLP with two heads.

    **Item tower.** An item is described by up to three parts, each a 2-D
    tensor: its ID embedding (B, dim), the CNN features of its image
    (B, :attr:`ImageTower.out_features`) and the text tower's features of its
    TF-IDF vector (B, text_hidden). They are concatenated and projected to the
    item vector ``v`` (B, dim).

    **Fusion.** With the user's ID embedding ``u`` (B, dim), the MLP input is
    ``[u, v, u * v]`` (B, 3 * dim): the element-wise product hands the MLP the
    user-item match that a plain concatenation would make it learn the hard
    way. ``hidden`` ReLU layers give ``h``; two linear heads on ``h`` give the
    interest score and the purchase logit (:class:`TwoHeads`).

    **Item content is part of the model.** The catalogue's images and text
    vectors are registered as buffers (saved in the state dict), so
    ``forward(users, items)`` needs IDs only. To score items *outside* the
    catalogue (cold start), pass their content as ``images=`` / ``text=``; with
    ``use_item_ids=False`` the model has no item ID embedding at all and every
    item is described by its content alone, so ``items`` may then be omitted.

    Parameters
    ----------
    n_users, n_items : int
        Sizes of the user ID table and of the catalogue.
    images : tensor or array of float, shape (n_items, 1, H, W), optional
        The catalogue's images, standardized (see
        :func:`causalrec.prep.normalize_images`); ``H, W >= 2 * pooled_size``.
        None: no image tower.
    text : tensor or array of float, shape (n_items, vocabulary_size), optional
        The catalogue's text vectors (TF-IDF or counts, see
        :class:`causalrec.prep.TextVectorizer`). None: no text tower.
    dim : int
        Length of the user and item vectors.
    use_item_ids : bool
        Include the item ID embedding in the item tower.
    channels, pooled_size
        Of the :class:`ImageTower`.
    text_hidden : int
        Width of the :class:`TextTower`.
    hidden : sequence of int
        Hidden layer sizes of the fusion MLP.
    dropout : float
        Dropout after each fusion layer (training mode only).
    init_std : float
        Standard deviation of the ID embeddings' normal initialisation.

    Attributes
    ----------
    item_images : buffer, shape (n_items, 1, H, W)  (when ``images`` was given)
    item_text : buffer, shape (n_items, vocabulary_size)  (when ``text`` was given)

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = MultimodalRecommender(n_users=4, n_items=6, images=torch.rand(6, 1, 16, 16),
    ...                               text=torch.rand(6, 12), dim=8)
    >>> out = model(torch.tensor([0, 3]), torch.tensor([5, 2]))
    >>> out.interest.shape, out.purchase.shape
    (torch.Size([2]), torch.Size([2]))
    >>> model.score_all(torch.tensor([1]), head="purchase").shape
    torch.Size([1, 6])

    A new item, not in the catalogue, scored from its content alone:

    >>> cold = MultimodalRecommender(n_users=4, n_items=6, images=torch.rand(6, 1, 16, 16),
    ...                              dim=8, use_item_ids=False)
    >>> cold(torch.tensor([0]), images=torch.rand(1, 1, 16, 16)).purchase.shape
    torch.Size([1])
    """

    HEADS = TwoHeads._fields

    def __init__(self, n_users: int, n_items: int, *, images=None, text=None, dim: int = 32,
                 use_item_ids: bool = True, channels=(8, 16), pooled_size: int = 2,
                 text_hidden: int = 32, hidden=(64, 32), dropout: float = 0.0,
                 init_std: float = 0.1):
        super().__init__()
        self.n_users = _check_size(n_users, "n_users")
        self.n_items = _check_size(n_items, "n_items")
        self.dim = _check_size(dim, "dim")
        self.hidden = _check_sizes(hidden, "hidden")
        self.use_item_ids = bool(use_item_ids)
        dropout = _check_dropout(dropout)
        if not isinstance(init_std, numbers.Real) or not init_std > 0:
            raise ValueError(f"init_std must be a positive number, got {init_std!r}")
        if images is None and text is None and not self.use_item_ids:
            raise ValueError("MultimodalRecommender needs some description of an item: pass images, "
                             "text, or use_item_ids=True")
        self.user_embedding = nn.Embedding(self.n_users, self.dim)
        nn.init.normal_(self.user_embedding.weight, std=float(init_std))
        parts = 0
        self.item_embedding = None
        if self.use_item_ids:
            self.item_embedding = nn.Embedding(self.n_items, self.dim)
            nn.init.normal_(self.item_embedding.weight, std=float(init_std))
            parts += self.dim
        self.image_tower = None
        self.image_shape = None
        if images is not None:
            images = _as_features(images, "images", (self.n_items, 1, None, None),
                                  "n_items, 1 channel, height, width")
            self.image_tower = ImageTower(channels, pooled_size)
            side = 2 * self.image_tower.pooled_size
            if images.shape[2] < side or images.shape[3] < side:
                raise ValueError(f"images of {images.shape[2]}x{images.shape[3]} pixels are too small for "
                                 f"pooled_size={pooled_size}: they need at least {side}x{side}")
            self.register_buffer("item_images", images.detach().clone().contiguous())
            self.image_shape = tuple(images.shape[1:])
            parts += self.image_tower.out_features
        self.text_tower = None
        self.text_size = None
        if text is not None:
            text = _as_features(text, "text", (self.n_items, None), "n_items, vocabulary size")
            self.text_tower = TextTower(text.shape[1], text_hidden)
            self.register_buffer("item_text", text.detach().clone().contiguous())
            self.text_size = int(text.shape[1])
            parts += self.text_tower.out_features
        self.item_projection = nn.Linear(parts, self.dim)
        self.fusion = _mlp((3 * self.dim, *self.hidden), dropout)
        self.interest_head = nn.Linear(self.hidden[-1], 1)
        self.purchase_head = nn.Linear(self.hidden[-1], 1)

    # ----------------------------------------------------------------- item tower
    def _content_features(self, items, images, text) -> list[torch.Tensor]:
        """The content parts of the item tower, each (B, features)."""
        parts = []
        # With a batch at least as long as the catalogue, running the towers once over
        # the whole catalogue and then indexing is cheaper than once per row.
        whole_catalogue = items is not None and items.numel() >= self.n_items
        if self.image_tower is not None:
            if images is not None:
                parts.append(self.image_tower(images))
            elif whole_catalogue:
                parts.append(self.image_tower(self.item_images)[items])
            else:
                parts.append(self.image_tower(self.item_images[items]))
        if self.text_tower is not None:
            if text is not None:
                parts.append(self.text_tower(text))
            elif whole_catalogue:
                parts.append(self.text_tower(self.item_text)[items])
            else:
                parts.append(self.text_tower(self.item_text[items]))
        return parts

    def _check_item_inputs(self, n: int, items, images, text):
        """Check the item-side inputs of a batch of ``n`` rows."""
        if items is not None:
            items = _as_ids(items, "items", self.n_items)
            if len(items) != n:
                raise ValueError(f"users and items must have the same length, got {n} and {len(items)}")
        elif self.use_item_ids:
            raise ValueError("items is required: this model uses item ID embeddings "
                             "(build it with use_item_ids=False to score items by content alone)")
        if images is not None:
            if self.image_tower is None:
                raise ValueError("images were given, but this model has no image tower "
                                 "(it was built without catalogue images)")
            images = _as_features(images, "images", (n, *self.image_shape),
                                  "one image per row of users")
        elif items is None and self.image_tower is not None:
            raise ValueError("images are required when items is None (the model has an image tower)")
        if text is not None:
            if self.text_tower is None:
                raise ValueError("text was given, but this model has no text tower "
                                 "(it was built without catalogue text)")
            text = _as_features(text, "text", (n, self.text_size), "one text vector per row of users")
        elif items is None and self.text_tower is not None:
            raise ValueError("text is required when items is None (the model has a text tower)")
        return items, images, text

    def item_vectors(self, items=None, *, images=None, text=None) -> torch.Tensor:
        """The item tower's output ``v``, shape (B, dim).

        Parameters
        ----------
        items : 1-D tensor of int, shape (B,), optional
            Catalogue IDs. Required when the model uses item IDs; also where
            the catalogue's content comes from when ``images``/``text`` are None.
        images : tensor, shape (B, 1, H, W), optional
            Content that replaces the catalogue images for these rows (new
            items, or edited images when probing what the CNN looks at).
        text : tensor, shape (B, vocabulary_size), optional
            Content that replaces the catalogue text vectors for these rows.
        """
        if items is None and images is None and text is None:
            return self._all_item_vectors()
        n = len(items) if items is not None else (len(images) if images is not None else len(text))
        items, images, text = self._check_item_inputs(n, items, images, text)
        return self._item_vectors(items, images, text)

    def _item_vectors(self, items, images, text) -> torch.Tensor:
        parts = [] if self.item_embedding is None else [self.item_embedding(items)]
        parts += self._content_features(items, images, text)
        return self.item_projection(torch.cat(parts, dim=1))

    def _all_item_vectors(self) -> torch.Tensor:
        parts = [] if self.item_embedding is None else [self.item_embedding.weight]
        if self.image_tower is not None:
            parts.append(self.image_tower(self.item_images))
        if self.text_tower is not None:
            parts.append(self.text_tower(self.item_text))
        return self.item_projection(torch.cat(parts, dim=1))

    # ----------------------------------------------------------------- fusion
    def _heads(self, user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> TwoHeads:
        fused = torch.cat([user_vectors, item_vectors, user_vectors * item_vectors], dim=1)  # (B, 3 dim)
        h = self.fusion(fused)
        return TwoHeads(self.interest_head(h).squeeze(1), self.purchase_head(h).squeeze(1))

    def forward(self, users, items=None, images=None, text=None) -> TwoHeads:
        """Interest scores and purchase logits of the pairs ``(users[b], items[b])``.

        Parameters
        ----------
        users : 1-D tensor of int, shape (B,)
        items : 1-D tensor of int, shape (B,), optional
            Catalogue item IDs; may be None only for a model built with
            ``use_item_ids=False``, and then ``images``/``text`` describe the items.
        images : tensor of float, shape (B, 1, H, W), optional
            Replaces the catalogue images of these rows (cold-start items).
        text : tensor of float, shape (B, vocabulary_size), optional
            Replaces the catalogue text vectors of these rows.

        Returns
        -------
        TwoHeads
            ``interest`` and ``purchase``, both float32 of shape (B,).
        """
        users = _as_ids(users, "users", self.n_users)
        items, images, text = self._check_item_inputs(len(users), items, images, text)
        return self._heads(self.user_embedding(users), self._item_vectors(items, images, text))

    def score_all(self, users, *, head: str = "interest", max_pairs: int = 262_144) -> torch.Tensor:
        """One head's scores of every catalogue item for each user.

        The item tower runs once for the whole catalogue; the fusion MLP runs
        on ``max_pairs`` (user, item) rows at a time.

        Parameters
        ----------
        users : 1-D tensor of int, shape (B,)
        head : {"interest", "purchase"}
        max_pairs : int
            Bounds memory; the result does not depend on it.

        Returns
        -------
        torch.Tensor of float32, shape (B, n_items)
            For ``head="interest"``, ``torch.softmax(scores, dim=1)`` is each
            user's interest distribution over the catalogue.
        """
        if head not in self.HEADS:
            raise ValueError(f"head must be one of {self.HEADS}, got {head!r}")
        users = _as_ids(users, "users", self.n_users)
        items = self._all_item_vectors()                                   # (n_items, dim)
        step = max(1, int(max_pairs) // self.n_items)
        rows = []
        for start in range(0, len(users), step):
            u = self.user_embedding(users[start:start + step])              # (b, dim)
            b = len(u)
            out = self._heads(u.repeat_interleave(self.n_items, dim=0), items.repeat(b, 1))
            rows.append(getattr(out, head).reshape(b, self.n_items))
        if not rows:
            return torch.empty(0, self.n_items)
        return torch.cat(rows)
