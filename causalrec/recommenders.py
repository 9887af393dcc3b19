"""Training: losses, the batch loop with early stopping, model files, and the estimator.

Three layers, each usable alone:

1. **Losses** on tensors, each the (weighted) mean of a per-sample loss:

   - pointwise :func:`mse_loss` (ratings) and :func:`bce_loss` (0/1 outcomes,
     on logits: binary cross-entropy with the sigmoid built in);
   - pairwise :func:`bpr_loss`: a positive item should outscore each sampled
     negative, ``-log sigmoid(s_pos - s_neg)``;
   - listwise :func:`softmax_loss`: cross-entropy of a softmax over the
     positive and its ``n`` sampled negatives, ``-log softmax(...)[positive]``.

   With ``sample_weight`` every one of them is
   ``sum(w_k * loss_k) / sum(w_k)``: a sample of weight 0 has no influence,
   and inverse-propensity weights give the IPS estimate of the loss.

2. **The loop**, :func:`train_model`: Adam, mini-batches taken by slicing a
   fresh permutation of the data each epoch (no per-sample Python
   ``Dataset``), early stopping on a validation set with the best weights
   restored, a per-epoch progress bar, and a :class:`TrainingResult` holding
   the history. Everything random (initialisation, shuffling, negative
   sampling, dropout) follows ``random_state``: the same seed gives the same
   weights. :func:`save_model` and :func:`load_model` write and read state
   dicts (read with ``torch.load(..., weights_only=True)``), naming any
   parameter whose name or shape does not match.

3. **The estimator** chapters use, :class:`Recommender`: scikit-learn style,
   from a DataFrame of interactions to ``predict``, ``score_items`` and
   ``recommend``.
"""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from ._checks import progress_bar

from . import schema
from ._checks import (check_binary, check_dataframe, check_fraction, check_id_column,
                          check_numeric_column, check_positive_int, seed_from)
from .metrics import auc as _auc
from .models import MatrixFactorization, MultimodalRecommender, NeuMF, TwoHeads

__all__ = ["LOSSES", "MODELS", "weighted_mean", "mse_loss", "bce_loss", "bpr_loss", "softmax_loss",
           "TrainingData", "TrainingResult", "train_model", "save_model", "load_model", "Recommender"]

#: Loss name -> kind. Pointwise losses score the logged rows as they are; the
#: ranking losses (pairwise, listwise) take the rows with target 1 as positives
#: and compare each with ``n_negatives`` items drawn at random.
LOSSES = {"mse": "pointwise", "bce": "pointwise", "bpr": "pairwise", "softmax": "listwise"}

_SHOW = 5
_FILE_FORMAT_MODEL = "causalrec.model"
_FILE_FORMAT_RECOMMENDER = "causalrec.Recommender"


# =========================================================================== losses
def _check_loss_inputs(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str,
                       sample_weight) -> torch.Tensor | None:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"{name_a} and {name_b} must be torch tensors, got "
                        f"{type(a).__name__} and {type(b).__name__}")
    if a.dim() != 1:
        raise ValueError(f"{name_a} must be 1-D (one value per sample), got shape {tuple(a.shape)}")
    if b.shape[:1] != a.shape:
        raise ValueError(f"{name_b} must have {len(a)} rows like {name_a}, got shape {tuple(b.shape)}")
    if sample_weight is None:
        return None
    w = torch.as_tensor(sample_weight, dtype=a.dtype)
    if w.shape != a.shape:
        raise ValueError(f"sample_weight must have shape {tuple(a.shape)}, got {tuple(w.shape)}")
    return w


def weighted_mean(per_sample: torch.Tensor, sample_weight=None) -> torch.Tensor:
    """``sum(w * loss) / sum(w)``, or the plain mean without weights (a scalar tensor).

    A batch whose weights are all zero gives 0 (no influence), not NaN.

    Examples
    --------
    >>> import torch
    >>> weighted_mean(torch.tensor([1.0, 3.0]))
    tensor(2.)
    >>> weighted_mean(torch.tensor([1.0, 3.0]), torch.tensor([3.0, 1.0]))
    tensor(1.5000)
    """
    if sample_weight is None:
        return per_sample.mean()
    return (sample_weight * per_sample).sum() / sample_weight.sum().clamp_min(1e-12)


def mse_loss(predictions: torch.Tensor, targets: torch.Tensor, sample_weight=None) -> torch.Tensor:
    """Mean squared error, ``mean((prediction - target)**2)`` (weighted when asked).

    Parameters
    ----------
    predictions, targets : torch.Tensor of float, shape (B,)
    sample_weight : torch.Tensor of float, shape (B,), optional
        Non-negative weights.

    Returns
    -------
    torch.Tensor, a scalar.

    Examples
    --------
    >>> import torch
    >>> mse_loss(torch.tensor([3.0, 4.0]), torch.tensor([4.0, 4.0]))
    tensor(0.5000)
    """
    w = _check_loss_inputs(predictions, targets, "predictions", "targets", sample_weight)
    if targets.shape != predictions.shape:
        raise ValueError(f"targets must have shape {tuple(predictions.shape)}, got {tuple(targets.shape)}")
    return weighted_mean((predictions - targets.to(predictions.dtype)) ** 2, w)


def bce_loss(logits: torch.Tensor, targets: torch.Tensor, sample_weight=None) -> torch.Tensor:
    """Binary cross-entropy on logits: ``-[y log sigmoid(s) + (1 - y) log(1 - sigmoid(s))]``.

    Computed from the logits directly (``log sigmoid`` never underflows), so a
    model returns raw scores and never applies the sigmoid itself.

    Parameters
    ----------
    logits : torch.Tensor of float, shape (B,)
    targets : torch.Tensor, shape (B,), values in [0, 1]
    sample_weight : torch.Tensor of float, shape (B,), optional

    Returns
    -------
    torch.Tensor, a scalar.

    Examples
    --------
    >>> import torch
    >>> round(float(bce_loss(torch.tensor([0.0]), torch.tensor([1.0]))), 4)   # log 2
    0.6931
    """
    w = _check_loss_inputs(logits, targets, "logits", "targets", sample_weight)
    if targets.shape != logits.shape:
        raise ValueError(f"targets must have shape {tuple(logits.shape)}, got {tuple(targets.shape)}")
    per_sample = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, targets.to(logits.dtype), reduction="none")
    return weighted_mean(per_sample, w)


def bpr_loss(positive_scores: torch.Tensor, negative_scores: torch.Tensor, sample_weight=None) -> torch.Tensor:
    """Bayesian personalized ranking: ``-log sigmoid(s_pos - s_neg)``, averaged over the negatives.

    Parameters
    ----------
    positive_scores : torch.Tensor of float, shape (B,)
        Score of each row's positive item.
    negative_scores : torch.Tensor of float, shape (B, n) or (B,)
        Scores of the row's ``n`` sampled negatives (the same user).
    sample_weight : torch.Tensor of float, shape (B,), optional
        One weight per positive row.

    Returns
    -------
    torch.Tensor, a scalar.

    Examples
    --------
    >>> import torch
    >>> round(float(bpr_loss(torch.tensor([2.0]), torch.tensor([[2.0, 2.0]]))), 4)   # log 2
    0.6931
    """
    w = _check_loss_inputs(positive_scores, negative_scores, "positive_scores", "negative_scores",
                           sample_weight)
    neg = negative_scores if negative_scores.dim() == 2 else negative_scores[:, None]
    if neg.dim() != 2:
        raise ValueError(f"negative_scores must have shape (B,) or (B, n), got {tuple(negative_scores.shape)}")
    margin = positive_scores[:, None] - neg
    per_sample = -torch.nn.functional.logsigmoid(margin).mean(dim=1)
    return weighted_mean(per_sample, w)


def softmax_loss(positive_scores: torch.Tensor, negative_scores: torch.Tensor, sample_weight=None) -> torch.Tensor:
    """Softmax cross-entropy of the positive among itself and ``n`` sampled negatives.

    Per row: ``logsumexp([s_pos, s_neg_1, ..., s_neg_n]) - s_pos``, i.e. minus
    the log of the positive's softmax probability (a sampled version of the
    full softmax over the catalogue).

    Parameters
    ----------
    positive_scores : torch.Tensor of float, shape (B,)
    negative_scores : torch.Tensor of float, shape (B, n)
    sample_weight : torch.Tensor of float, shape (B,), optional

    Returns
    -------
    torch.Tensor, a scalar.

    Examples
    --------
    >>> import torch
    >>> round(float(softmax_loss(torch.tensor([1.0]), torch.tensor([[1.0, 1.0, 1.0]]))), 4)  # log 4
    1.3863
    """
    w = _check_loss_inputs(positive_scores, negative_scores, "positive_scores", "negative_scores",
                           sample_weight)
    if negative_scores.dim() != 2:
        raise ValueError(f"negative_scores must have shape (B, n), got {tuple(negative_scores.shape)}")
    logits = torch.cat([positive_scores[:, None], negative_scores], dim=1)
    per_sample = torch.logsumexp(logits, dim=1) - positive_scores
    return weighted_mean(per_sample, w)


_LOSS_FUNCTIONS = {"mse": mse_loss, "bce": bce_loss, "bpr": bpr_loss, "softmax": softmax_loss}


def _check_loss_name(loss) -> str:
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    return loss


# =========================================================================== data
def _ids_from(values, name: str) -> np.ndarray:
    arr = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold integer IDs, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.integer):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise ValueError(f"{name} must hold integer IDs; found {arr[bad][:_SHOW].tolist()}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must hold non-negative IDs; found {np.unique(arr[arr < 0])[:_SHOW].tolist()}")
    return arr


def _floats_from(values, name: str, n: int) -> np.ndarray:
    arr = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one value per row, got {arr.shape}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} holds {int(bad.sum())} NaN or infinite value(s), the first at row "
                         f"{int(np.argmax(bad))}")
    return arr


def _check_weights(values, n: int) -> np.ndarray:
    w = _floats_from(values, "sample_weight", n)
    if (w < 0).any():
        raise ValueError(f"sample_weight must be non-negative; found {w[w < 0][:_SHOW].tolist()}")
    if n and w.sum() <= 0:
        raise ValueError("sample_weight sums to 0: at least one row needs a positive weight")
    return w


@dataclass(frozen=True)
class TrainingData:
    """Aligned tensors of training rows, shape (n,) each; ``len()`` is the number of rows.

    Build it with :meth:`from_arrays`, which validates and converts.

    Attributes
    ----------
    users, items : torch.Tensor of int64
    target : torch.Tensor of float32
        The outcome (0/1 for ``bce`` and the ranking losses, any number for ``mse``).
    weight : torch.Tensor of float32 or None
        Per-row sample weights.
    """

    users: torch.Tensor
    items: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor | None = None

    @classmethod
    def from_arrays(cls, users, items, target, sample_weight=None) -> TrainingData:
        """Validate 1-D arrays (numpy, lists or tensors) and wrap them as tensors.

        Examples
        --------
        >>> data = TrainingData.from_arrays([0, 1], [2, 0], [1, 0])
        >>> data.users.dtype, data.target.tolist()
        (torch.int64, [1.0, 0.0])
        """
        u = _ids_from(users, "users")
        i = _ids_from(items, "items")
        if len(u) != len(i):
            raise ValueError(f"users and items must have the same length, got {len(u)} and {len(i)}")
        y = _floats_from(target, "target", len(u))
        w = None
        if sample_weight is not None:
            w = torch.from_numpy(_check_weights(sample_weight, len(u)).astype(np.float32))
        return cls(torch.from_numpy(u), torch.from_numpy(i), torch.from_numpy(y.astype(np.float32)), w)

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, index) -> TrainingData:
        """The rows at ``index`` (a tensor of positions or a boolean mask)."""
        return TrainingData(self.users[index], self.items[index], self.target[index],
                            None if self.weight is None else self.weight[index])


class TrainingResult(NamedTuple):
    """What :func:`train_model` returns.

    Attributes
    ----------
    history : pandas.DataFrame
        One row per epoch run (index ``epoch``, from 1): ``train_loss`` (the
        weighted mean loss over the epoch's batches) and, with validation
        data, ``val_loss`` and one readable metric: ``val_auc`` (bce),
        ``val_rmse`` (mse) or ``val_sampled_auc`` (the share of sampled
        negatives a positive outscores, bpr and softmax).
    best_epoch : int
        The epoch whose weights the model holds at the end (the lowest
        ``val_loss``; the last epoch without validation data).
    stopped_early : bool
        Whether training ended before ``epochs`` because ``val_loss`` had not
        improved for ``patience`` epochs.
    """

    history: pd.DataFrame
    best_epoch: int
    stopped_early: bool


# =========================================================================== the loop
def _select(output, head: str | None) -> torch.Tensor:
    if isinstance(output, TwoHeads):
        return getattr(output, head)
    return output


def _default_head(model, loss: str, head: str | None) -> str | None:
    heads = getattr(model, "HEADS", None)
    if heads is None:
        if head is not None:
            raise ValueError(f"head={head!r} was given, but {type(model).__name__} has a single output")
        return None
    if head is None:
        return "purchase" if LOSSES[loss] == "pointwise" else "interest"
    if head not in heads:
        raise ValueError(f"head must be one of {heads}, got {head!r}")
    return head


def _pair_keys(users: torch.Tensor, items: torch.Tensor, n_items: int) -> torch.Tensor:
    return users * n_items + items


class _NegativeSampler:
    """Exact uniform draws of items that are not among a user's known positives.

    The ``r``-th allowed item of a user (0-based) is ``r`` plus the number of
    the user's positives ``e_0 < e_1 < ...`` with ``e_j - j <= r`` (``e_j - j``
    counts the allowed items below ``e_j``), so one ``searchsorted`` over all
    positives turns uniform ranks into items, with no rejection loop.
    """

    def __init__(self, positive_keys: torch.Tensor, n_users: int, n_items: int):
        keys = torch.unique(positive_keys)                          # sorted by user, then item
        key_user, key_item = keys // n_items, keys % n_items
        counts = torch.bincount(key_user, minlength=n_users)
        self.n_items = n_items
        self.first = torch.cumsum(counts, 0) - counts
        self.n_allowed = n_items - counts
        rank_in_user = torch.arange(len(keys)) - self.first[key_user]
        self.block = n_items + 1                                    # keeps users' ranges apart
        self.sorted_gaps = key_user * self.block + (key_item - rank_in_user)

    def check_users(self, users: torch.Tensor) -> None:
        full = users[self.n_allowed[users] == 0].unique()
        if len(full):
            raise ValueError(f"user(s) {full[:_SHOW].tolist()} have every one of the {self.n_items} items as a "
                             "positive, so no negative can be drawn for them")

    def draw(self, users: torch.Tensor, n_negatives: int, generator: torch.Generator) -> torch.Tensor:
        """Negatives of shape (len(users), n_negatives), each uniform over the user's allowed items."""
        allowed = self.n_allowed[users][:, None]
        uniform = torch.rand((len(users), n_negatives), generator=generator, dtype=torch.float64)
        rank = torch.minimum((uniform * allowed).long(), allowed - 1)
        where = users[:, None] * self.block + rank
        skipped = torch.searchsorted(self.sorted_gaps, where, right=True) - self.first[users][:, None]
        return rank + skipped


def _binary_target(target: torch.Tensor, loss: str, what: str) -> None:
    bad = (target != 0) & (target != 1)
    if bool(bad.any()):
        example = target[bad].unique()[:_SHOW].tolist()
        raise ValueError(f"loss={loss!r} needs a 0/1 target; {what} holds other values such as {example} "
                         "(turn ratings into labels first, e.g. causalrec.prep.binarize_ratings)")


def _check_range(data: TrainingData, model, what: str) -> None:
    for ids, n, name in ((data.users, model.n_users, "user"), (data.items, model.n_items, "item")):
        if len(ids) and int(ids.max()) >= n:
            bad = ids[ids >= n].unique()[:_SHOW].tolist()
            raise ValueError(f"{what} holds {name} ID(s) {bad} outside the model's [0, {n})")


@torch.no_grad()
def _evaluate(model, data: TrainingData, loss: str, head, negatives, batch_size: int) -> dict:
    """Validation loss and metric, in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    try:
        kind = LOSSES[loss]
        if kind == "pointwise":
            scores = torch.cat([_select(model(data.users[s:s + batch_size], data.items[s:s + batch_size]), head)
                                for s in range(0, len(data), batch_size)])
            value = float(_LOSS_FUNCTIONS[loss](scores, data.target, data.weight))
            if loss == "mse":
                return {"val_loss": value, "val_rmse": math.sqrt(value)}
            w = None if data.weight is None else data.weight.numpy()
            try:
                auc = _auc(data.target.numpy(), scores.numpy(), sample_weight=w)
            except ValueError:                                     # one class only: AUC undefined
                auc = float("nan")
            return {"val_loss": value, "val_auc": auc}
        n_neg = negatives.shape[1]
        pos, neg = [], []
        for s in range(0, len(data), batch_size):
            u, i, ng = data.users[s:s + batch_size], data.items[s:s + batch_size], negatives[s:s + batch_size]
            out = _select(model(torch.cat([u, u.repeat_interleave(n_neg)]), torch.cat([i, ng.reshape(-1)])), head)
            pos.append(out[:len(u)])
            neg.append(out[len(u):].reshape(len(u), n_neg))
        pos, neg = torch.cat(pos), torch.cat(neg)
        value = float(_LOSS_FUNCTIONS[loss](pos, neg, data.weight))
        wins = ((pos[:, None] > neg).float() + 0.5 * (pos[:, None] == neg).float()).mean(dim=1)
        return {"val_loss": value, "val_sampled_auc": float(weighted_mean(wins, data.weight))}
    finally:
        model.train(was_training)


def train_model(model: torch.nn.Module, train: TrainingData, *, validation: TrainingData | None = None,
                loss: str = "bce", head: str | None = None, epochs: int = 20, batch_size: int = 1024,
                lr: float = 0.01, weight_decay: float = 0.0, n_negatives: int = 4,
                patience: int | None = 3, random_state=0, verbose: bool = True,
                n_threads: int | None = 1) -> TrainingResult:
    """Train ``model`` in place with Adam and mini-batches; return the history.

    Each epoch shuffles the rows with a seeded :class:`torch.Generator` and
    takes batches as slices of the shuffled tensors. For the ranking losses
    (``bpr``, ``softmax``) only rows with target 1 are used, each with
    ``n_negatives`` items drawn afresh every epoch, uniformly among the items
    that are not the user's known positives (in ``train`` or ``validation``).
    The optimizer is Adam (torch's fused CPU kernel where available). With
    ``validation`` the loss is evaluated after every
    epoch; training stops after ``patience`` epochs without improvement, and
    the weights of the best epoch are restored in any case.

    Parameters
    ----------
    model : torch.nn.Module
        One of :mod:`causalrec.models` (anything with ``n_users``, ``n_items``
        and ``forward(users, items)`` returning scores of shape (B,) or a
        :class:`~causalrec.models.TwoHeads`).
    train : TrainingData
    validation : TrainingData, optional
        Held-out rows for early stopping. Its negatives (ranking losses) are
        drawn once, so the validation loss is comparable across epochs.
    loss : {"bce", "mse", "bpr", "softmax"}
    head : {"interest", "purchase"}, optional
        Which output of a two-headed model to train. Default: ``"purchase"``
        for the pointwise losses, ``"interest"`` for the ranking losses.
    epochs, batch_size : int
    lr, weight_decay : float
        Adam's learning rate and L2 penalty.
    n_negatives : int
        Sampled negatives per positive (ranking losses only).
    patience : int or None
        Epochs without a lower validation loss before stopping; None: never stop early.
    random_state : int, numpy Generator or None
        Seeds shuffling, negative sampling and dropout. The global torch
        random state is left as it was.
    verbose : bool
        Show a progress bar (one update per epoch).
    n_threads : int or None
        Torch threads while training (restored afterwards); None keeps
        :func:`torch.get_num_threads`. The default, 1, is usually fastest for
        these small models: the tensors of one batch are too small to gain from
        splitting, and on a busy machine waiting threads can slow every step
        tenfold.

    Returns
    -------
    TrainingResult

    Examples
    --------
    >>> import torch
    >>> from causalrec.models import MatrixFactorization
    >>> data = TrainingData.from_arrays([0, 0, 1, 1], [0, 1, 0, 1], [1, 0, 0, 1])
    >>> _ = torch.manual_seed(0)
    >>> mf = MatrixFactorization(2, 2, dim=2)
    >>> result = train_model(mf, data, loss="bce", epochs=50, batch_size=4, lr=0.1, verbose=False)
    >>> bool(result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0])
    True
    """
    loss = _check_loss_name(loss)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for data, what in ((train, "train"), (validation, "validation")):
        if data is not None and not isinstance(data, TrainingData):
            raise TypeError(f"{what} must be a TrainingData (see TrainingData.from_arrays), got {type(data).__name__}")
    if len(train) == 0:
        raise ValueError("train is empty: it needs at least one row")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    n_negatives = check_positive_int(n_negatives, "n_negatives")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
    for value, name in ((lr, "lr"), (weight_decay, "weight_decay")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    head = _default_head(model, loss, head)
    _check_range(train, model, "train")
    if validation is not None:
        _check_range(validation, model, "validation")
        if len(validation) == 0:
            validation = None
    seed = seed_from(random_state)
    kind = LOSSES[loss]
    n_items = model.n_items

    if kind == "pointwise":
        if loss == "bce":
            _binary_target(train.target, loss, "the train target")
            if validation is not None:
                _binary_target(validation.target, loss, "the validation target")
        rows, sampler = train, None
    else:
        _binary_target(train.target, loss, "the train target")
        rows = train.subset(train.target == 1)
        if len(rows) == 0:
            raise ValueError(f"loss={loss!r} learns from positive rows (target 1), and train has none")
        keys = [_pair_keys(rows.users, rows.items, n_items)]
        if validation is not None:
            _binary_target(validation.target, loss, "the validation target")
            validation = validation.subset(validation.target == 1)
            keys.append(_pair_keys(validation.users, validation.items, n_items))
            if len(validation) == 0:
                validation = None
        sampler = _NegativeSampler(torch.cat(keys), model.n_users, n_items)
        sampler.check_users(rows.users)
        if validation is not None:
            sampler.check_users(validation.users)

    generator = torch.Generator().manual_seed(seed)
    val_negatives = None
    if validation is not None and kind != "pointwise":
        val_negatives = sampler.draw(validation.users, n_negatives, torch.Generator().manual_seed(seed + 1))

    optimizer = _adam(list(model.parameters()), float(lr), float(weight_decay))
    threads_before = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(check_positive_int(n_threads, "n_threads"))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)                                # dropout, if any
            model.train()
            records, best_epoch, best_state, stopped_early = _epochs(
                model, rows, validation, val_negatives, loss, head, kind, epochs, batch_size, n_negatives,
                patience, optimizer, generator, sampler, verbose)
    finally:
        torch.set_num_threads(threads_before)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame.from_records(records).set_index("epoch")
    return TrainingResult(history, best_epoch, stopped_early)


def _adam(parameters: list, lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam, as one fused kernel per step where torch offers it (much less Python per batch)."""
    try:
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):                   # older torch: no fused CPU Adam
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)


def _epochs(model, rows, validation, val_negatives, loss, head, kind, epochs, batch_size, n_negatives,
            patience, optimizer, generator, sampler, verbose):
    """The epoch loop of :func:`train_model` (arguments already checked)."""
    loss_fn = _LOSS_FUNCTIONS[loss]
    records: list[dict] = []
    best_loss, best_epoch, best_state, stale = math.inf, 0, None, 0
    stopped_early = False
    n = len(rows)
    weighted = rows.weight is not None
    bar = progress_bar(range(1, epochs + 1), disable=not verbose, desc=f"training {type(model).__name__}",
               unit="epoch", leave=True)
    for epoch in bar:
        order = torch.randperm(n, generator=generator)
        users, items = rows.users[order], rows.items[order]
        target = rows.target[order]
        weight = rows.weight[order] if weighted else None
        if kind != "pointwise":
            negatives = sampler.draw(users, n_negatives, generator)
        total = torch.zeros(())
        for start in range(0, n, batch_size):
            stop = start + batch_size
            u, i = users[start:stop], items[start:stop]
            w = weight[start:stop] if weighted else None
            if kind == "pointwise":
                batch_loss = loss_fn(_select(model(u, i), head), target[start:stop], w)
            else:
                neg = negatives[start:stop]
                b = len(u)
                scores = _select(model(torch.cat([u, u.repeat_interleave(n_negatives)]),
                                       torch.cat([i, neg.reshape(-1)])), head)
                batch_loss = loss_fn(scores[:b], scores[b:].reshape(b, n_negatives), w)
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            optimizer.step()
            # the epoch's loss is the weighted mean over rows, accumulated without a sync
            total += batch_loss.detach() * (w.sum() if weighted else len(u))
        record = {"epoch": epoch,
                  "train_loss": float(total) / float(rows.weight.sum() if weighted else n)}
        if validation is not None:
            record.update(_evaluate(model, validation, loss, head, val_negatives, max(batch_size, 8192)))
        records.append(record)
        if validation is None:
            best_epoch = epoch
        elif record["val_loss"] < best_loss:
            best_loss, best_epoch, stale = record["val_loss"], epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "epoch"}, refresh=False)
        if patience is not None and validation is not None and stale >= patience:
            stopped_early = epoch < epochs
            break
    bar.close()
    return records, best_epoch, best_state, stopped_early


# =========================================================================== files
def _read(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # an unpickling error, a non-torch file, a pickled object
        raise ValueError(f"could not read {str(path)!r} as a saved state dict "
                         f"(torch.load with weights_only=True failed: {err})") from None


def _check_state_dict(model: torch.nn.Module, state: dict, source: str) -> None:
    """Raise a ValueError naming the first parameters whose names or shapes differ."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing from the file: {missing[:_SHOW]}")
        if unexpected:
            parts.append(f"in the file but not in the model: {unexpected[:_SHOW]}")
        raise ValueError(f"{source} does not fit this {type(model).__name__}: parameter names differ ("
                         + "; ".join(parts) + ")")
    wrong = []
    for key, tensor in expected.items():
        got = state[key]
        if not isinstance(got, torch.Tensor):
            raise ValueError(f"{source}: entry {key!r} is a {type(got).__name__}, not a tensor")
        if got.shape != tensor.shape:
            wrong.append(f"parameter {key!r} has shape {tuple(got.shape)} in the file but "
                         f"{tuple(tensor.shape)} in the model")
    if wrong:
        raise ValueError(f"{source} does not fit this {type(model).__name__}: " + "; ".join(wrong))


def save_model(model: torch.nn.Module, path) -> None:
    """Write ``model``'s state dict (and its class name) to ``path``.

    Examples
    --------
    >>> import tempfile, os, torch
    >>> from causalrec.models import MatrixFactorization
    >>> model = MatrixFactorization(3, 4, dim=2)
    >>> path = os.path.join(tempfile.mkdtemp(), "mf.pt")
    >>> save_model(model, path)
    >>> fresh = load_model(MatrixFactorization(3, 4, dim=2), path)
    >>> torch.equal(fresh.user_embedding.weight, model.user_embedding.weight)
    True
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    torch.save({"format": _FILE_FORMAT_MODEL, "model_class": type(model).__name__,
                "state_dict": model.state_dict()}, path)


def load_model(model: torch.nn.Module, path) -> torch.nn.Module:
    """Load a state dict written by :func:`save_model` (or a bare ``torch.save(model.state_dict())``).

    The file is read with ``torch.load(..., weights_only=True)``: tensors and
    plain containers only, never arbitrary objects.

    Parameters
    ----------
    model : torch.nn.Module
        A model of the same class and sizes as the saved one; its weights are
        replaced in place.
    path : str or path-like

    Returns
    -------
    The same ``model``, in eval mode.

    Raises
    ------
    ValueError
        If the file holds another class of model, parameters of other names,
        or a parameter of another shape (the message names it).
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    content = _read(path)
    source = f"the file {str(path)!r}"
    if isinstance(content, dict) and content.get("format") == _FILE_FORMAT_MODEL:
        saved_class = content.get("model_class")
        if saved_class != type(model).__name__:
            raise ValueError(f"{source} holds a {saved_class}, not a {type(model).__name__}")
        state = content["state_dict"]
    elif isinstance(content, dict) and content.get("format") == _FILE_FORMAT_RECOMMENDER:
        raise ValueError(f"{source} holds a whole Recommender; read it with Recommender.load(path)")
    elif isinstance(content, dict) and all(isinstance(v, torch.Tensor) for v in content.values()):
        state = content
    else:
        raise ValueError(f"{source} does not hold a state dict (got {type(content).__name__})")
    _check_state_dict(model, state, source)
    model.load_state_dict(state)
    return model.eval()


# =========================================================================== estimator
def _mf(n_users, n_items, *, dim, images, text, use_item_ids):
    return MatrixFactorization(n_users, n_items, dim)


def _neumf(n_users, n_items, *, dim, images, text, use_item_ids):
    return NeuMF(n_users, n_items, dim, hidden=(2 * dim, dim, max(1, dim // 2)))


def _multimodal(n_users, n_items, *, dim, images, text, use_item_ids):
    return MultimodalRecommender(n_users, n_items, images=images, text=text, dim=dim,
                                 use_item_ids=use_item_ids)


#: The models :class:`Recommender` can build: name -> constructor.
MODELS = {"mf": _mf, "neumf": _neumf, "multimodal": _multimodal}


class Recommender(BaseEstimator):
    """A recommender estimator over :mod:`causalrec.models`, in the scikit-learn style.

    ``__init__`` only stores the hyperparameters; :meth:`fit` validates them,
    builds the network, trains it with :func:`train_model` and returns
    ``self``. User and item IDs are the integers ``0 .. n - 1``.

    Parameters
    ----------
    model : {"mf", "neumf", "multimodal"}
        :class:`~causalrec.models.MatrixFactorization`,
        :class:`~causalrec.models.NeuMF` (hidden layers ``2*dim, dim, dim//2``)
        or :class:`~causalrec.models.MultimodalRecommender` (ID embeddings plus
        the item images and text given to :meth:`fit`).
    dim : int
        Embedding length.
    loss : {"bce", "mse", "bpr", "softmax"}
        See :data:`LOSSES`. ``bce``, ``bpr`` and ``softmax`` need a 0/1 target.
        A multimodal model trains its purchase head with ``bce``/``mse`` and
        its interest head with ``bpr``/``softmax``.
    epochs, batch_size : int
    lr, weight_decay : float
        Adam's learning rate and L2 penalty. The small default penalty matters
        for sparse logs: on the default world, MF trained on clicks ranks the
        randomized slice much better with it than without.
    n_negatives : int
        Sampled negatives per positive row (``bpr`` and ``softmax`` only).
    patience : int or None
        Early stopping patience, in epochs (None: never stop early). NeuMF's
        validation loss can stall for a few epochs before it improves again;
        give it ``patience=5`` or a smaller ``lr``.
    validation_fraction : float in [0, 1)
        Share of the rows held out (at random) for early stopping; 0 trains on
        everything for ``epochs`` epochs.
    use_item_ids : bool
        ``False`` describes items by content alone (multimodal only).
    random_state : int, numpy Generator or None
        Seeds the initialisation, the validation split, shuffling and negative
        sampling: the same seed gives the same model.
    verbose : bool
        Show a progress bar during fit.
    n_threads : int or None
        Torch threads during fit (see :func:`train_model`); None keeps torch's setting.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network (in eval mode).
    history_ : pandas.DataFrame
        Per-epoch ``train_loss`` and validation metrics (:class:`TrainingResult`).
    best_epoch_ : int
        The epoch whose weights ``model_`` holds.
    n_users_, n_items_ : int
        Sizes of the ID tables.
    image_normalization_ : tuple (mean, std) or None
        The statistics used to standardize the images (multimodal).
    head_ : str or None
        The output of a two-headed model that was trained and is used for
        scoring (``"purchase"`` for bce/mse, ``"interest"`` for bpr/softmax);
        None for single-output models.

    Notes
    -----
    **Cold start.** :meth:`predict`, :meth:`score_items` and :meth:`recommend`
    refuse user and item IDs that were not in the training data (or
    catalogue) with a ValueError. A multimodal model can still score a new
    item from its content: call ``model_`` directly with ``images=``
    (standardized with :attr:`image_normalization_`) and ``text=`` (from a
    ``TextVectorizer(kind="tfidf")`` fitted on the catalogue's descriptions,
    which reproduces the vectors used in fit), best with a model fitted with
    ``use_item_ids=False``.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": [0, 0, 1, 1, 2, 2], "item_id": [0, 1, 1, 2, 0, 2],
    ...                     "purchased": [1, 0, 1, 0, 0, 1]})
    >>> rec = Recommender("mf", dim=4, epochs=5, validation_fraction=0, verbose=False).fit(log)
    >>> rec.predict([0, 2], [0, 2]).shape
    (2,)
    >>> rec.recommend([0], k=1).columns.tolist()
    ['user_id', 'item_id', 'score', 'rank']
    """

    def __init__(self, model="mf", dim=32, loss="bce", epochs=20, batch_size=1024, lr=0.01,
                 weight_decay=1e-4, n_negatives=4, patience=3, validation_fraction=0.1,
                 use_item_ids=True, random_state=0, verbose=True, n_threads=1):
        self.model = model
        self.dim = dim
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_negatives = n_negatives
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.use_item_ids = use_item_ids
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads

    # ----------------------------------------------------------------- checks
    def _check_params(self) -> None:
        if not isinstance(self.model, str) or self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        _check_loss_name(self.loss)
        check_positive_int(self.dim, "dim")
        check_fraction(self.validation_fraction, "validation_fraction", inclusive=(True, False))
        if not isinstance(self.use_item_ids, (bool, np.bool_)):
            raise TypeError(f"use_item_ids must be True or False, got {self.use_item_ids!r}")
        if not self.use_item_ids and self.model != "multimodal":
            raise ValueError(f"use_item_ids=False (items described by content alone) needs "
                             f"model='multimodal', got model={self.model!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(interactions, ...) first")

    def _content(self, items, images, text, n_items_seen: int):
        """Resolve the catalogue size and the item content arrays."""
        sizes = {}
        descriptions = None
        if items is not None:
            check_dataframe(items, "items", [schema.ITEM])
            ids = _ids_from(items[schema.ITEM].to_numpy(), f"items[{schema.ITEM!r}]")
            if not np.array_equal(ids, np.arange(len(ids))):
                raise ValueError(f"items[{schema.ITEM!r}] must be 0, 1, ..., n_items - 1 in order (row i "
                                 "describes item i), e.g. from IdEncoder; sort or re-encode it first")
            sizes["items"] = len(items)
            if schema.DESCRIPTION in items.columns:
                descriptions = items[schema.DESCRIPTION]
        if images is not None:
            images = np.asarray(images)
            if images.ndim not in (3, 4):
                raise ValueError(f"images must have shape (n_items, H, W) or (n_items, 1, H, W), got {images.shape}")
            sizes["images"] = len(images)
        text_is_strings = False
        if text is not None:
            if sp.issparse(text):
                text = text.toarray()
            as_array = np.asarray(text)
            text_is_strings = as_array.dtype.kind in "OUS"
            if not text_is_strings:
                if as_array.ndim != 2 or not np.issubdtype(as_array.dtype, np.number):
                    raise ValueError(f"text must be strings (one per item) or numeric vectors of shape "
                                     f"(n_items, vocabulary_size), got shape {as_array.shape}")
                text = as_array
            sizes["text"] = len(as_array)
        if len(set(sizes.values())) > 1:
            raise ValueError(f"the catalogue sizes disagree: {sizes} (rows of items, images, text)")
        n_items = next(iter(sizes.values())) if sizes else n_items_seen
        if n_items_seen > n_items:
            raise ValueError(f"interactions hold item ID(s) up to {n_items_seen - 1}, but the catalogue "
                             f"has {n_items} items ({', '.join(sizes)})")
        if self.model != "multimodal":
            given = [name for name, value in (("images", images), ("text", text)) if value is not None]
            if given:
                raise ValueError(f"{' and '.join(given)} can only be used by model='multimodal', "
                                 f"not model={self.model!r}")
            return n_items, None, None, None
        from .prep import TextVectorizer, normalize_images

        image_stats = None
        if images is not None:
            images, mean, std = normalize_images(images)
            image_stats = (float(mean), float(std))
        if text is None and descriptions is not None:
            text, text_is_strings = descriptions, True
        if text is not None and text_is_strings:
            text = TextVectorizer(kind="tfidf").fit_transform(text)
        if text is not None:
            text = np.asarray(text, dtype=np.float32)
            if not np.isfinite(text).all():
                raise ValueError("text vectors hold NaN or infinite values")
        if images is None and text is None and not self.use_item_ids:
            raise ValueError("use_item_ids=False needs item content: pass images, text, or items with a "
                             f"{schema.DESCRIPTION!r} column")
        return n_items, images, text, image_stats

    # ----------------------------------------------------------------- fit
    def fit(self, interactions, *, target=schema.PURCHASED, sample_weight=None, items=None,
            images=None, text=None):
        """Train on a log of interactions.

        Parameters
        ----------
        interactions : pandas.DataFrame
            Columns ``user_id``, ``item_id`` (integer IDs from 0) and ``target``.
        target : str
            The column to learn: a 0/1 outcome (``purchased``, ``clicked``) for
            ``bce``/``bpr``/``softmax``, a number (``rating``) for ``mse``.
            Missing values are an error (filter the rows first, e.g.
            ``df.dropna(subset=["rating"])``).
        sample_weight : array-like of float, shape (n_rows,), optional
            Non-negative per-row weights (e.g. inverse propensities); the loss
            is their weighted mean.
        items : pandas.DataFrame, optional
            The catalogue, one row per item with ``item_id = 0 .. n_items - 1``
            in order; fixes ``n_items_`` (items without interactions included).
            For the multimodal model its ``description`` column becomes the
            text input (TF-IDF) unless ``text`` is given.
        images : array of float in [0, 1], shape (n_items, H, W), optional
            Item images (multimodal only), standardized with
            :func:`causalrec.prep.normalize_images`.
        text : sequence of str (n_items,) or array of float (n_items, vocabulary_size), optional
            Item texts (vectorized with TF-IDF) or ready-made text vectors
            (multimodal only).

        Returns
        -------
        self
        """
        self._check_params()
        check_dataframe(interactions, "interactions", [schema.USER, schema.ITEM, target])
        for column in (schema.USER, schema.ITEM):
            check_id_column(interactions, column, "interactions")
        check_numeric_column(interactions, target, "interactions")
        users = _ids_from(interactions[schema.USER].to_numpy(), f"interactions[{schema.USER!r}]")
        item_ids = _ids_from(interactions[schema.ITEM].to_numpy(), f"interactions[{schema.ITEM!r}]")
        y = interactions[target].to_numpy(dtype=np.float64)
        if self.loss != "mse":
            check_binary(y, f"interactions[{target!r}] (loss={self.loss!r} needs 0/1)")
        weights = None if sample_weight is None else _check_weights(sample_weight, len(interactions))
        n_items, images, text, image_stats = self._content(items, images, text, int(item_ids.max()) + 1)
        n_users = int(users.max()) + 1

        seed = seed_from(self.random_state)
        data = TrainingData.from_arrays(users, item_ids, y, weights)
        n_val = int(round(self.validation_fraction * len(data)))
        if self.validation_fraction > 0 and not 1 <= n_val < len(data):
            raise ValueError(f"validation_fraction={self.validation_fraction} of {len(data)} rows leaves "
                             f"{n_val} validation and {len(data) - n_val} training rows; both need at least one")
        order = torch.from_numpy(np.random.default_rng(seed).permutation(len(data)))
        train, validation = data.subset(order[n_val:]), (data.subset(order[:n_val]) if n_val else None)

        config = dict(n_users=n_users, n_items=n_items, dim=int(self.dim),
                      use_item_ids=bool(self.use_item_ids),
                      image_shape=None if images is None else list(images.shape[1:]),
                      text_size=None if text is None else int(text.shape[1]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self._build(config, images, text)
        result = train_model(model, train, validation=validation, loss=self.loss, epochs=self.epochs,
                             batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                             n_negatives=self.n_negatives, patience=self.patience, random_state=seed,
                             verbose=self.verbose, n_threads=self.n_threads)
        self.model_ = model
        self.head_ = _default_head(model, self.loss, None)
        self._fitted_loss = self.loss
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.n_users_, self.n_items_ = n_users, n_items
        self.image_normalization_ = image_stats
        self._config = config
        keys = np.unique(users * n_items + item_ids)
        self._seen = (keys // n_items, keys % n_items)
        return self

    def _build(self, config, images=None, text=None) -> torch.nn.Module:
        if self.model == "multimodal":
            if images is None and config["image_shape"] is not None:
                images = torch.zeros(config["n_items"], *config["image_shape"])
            if text is None and config["text_size"] is not None:
                text = torch.zeros(config["n_items"], config["text_size"])
        return MODELS[self.model](config["n_users"], config["n_items"], dim=config["dim"],
                                  images=None if images is None else torch.as_tensor(images),
                                  text=None if text is None else torch.as_tensor(text),
                                  use_item_ids=config["use_item_ids"])

    # ----------------------------------------------------------------- predict
    def _check_known(self, ids, name: str, n: int, kind: str) -> np.ndarray:
        arr = _ids_from(ids, name)
        unknown = arr >= n
        if unknown.any():
            raise ValueError(f"unknown {kind} ID(s) {np.unique(arr[unknown])[:_SHOW].tolist()} in {name}: the model "
                             f"was fitted on {kind}s 0..{n - 1} and cannot score new {kind}s (cold start)")
        return arr

    def _transform(self, scores: torch.Tensor) -> np.ndarray:
        if self._fitted_loss == "bce":
            scores = torch.sigmoid(scores)
        return scores.double().numpy()

    @torch.no_grad()
    def predict(self, users, items) -> np.ndarray:
        """Scores of the pairs ``(users[k], items[k])``.

        Parameters
        ----------
        users, items : array-like of int, shape (n,)

        Returns
        -------
        numpy.ndarray of float64, shape (n,)
            On the loss's scale: a probability for ``bce``, the target's scale
            for ``mse``, an unnormalized score (logit) for ``bpr`` and ``softmax``.
        """
        self._check_fitted()
        u = self._check_known(users, "users", self.n_users_, "user")
        i = self._check_known(items, "items", self.n_items_, "item")
        if len(u) != len(i):
            raise ValueError(f"users and items must have the same length, got {len(u)} and {len(i)}")
        u, i = torch.from_numpy(u), torch.from_numpy(i)
        self.model_.eval()
        step = 65_536
        out = [_select(self.model_(u[s:s + step], i[s:s + step]), self.head_) for s in range(0, len(u), step)]
        return self._transform(torch.cat(out)) if out else np.empty(0)

    @torch.no_grad()
    def score_items(self, users) -> np.ndarray:
        """Scores of every item for each user, shape (len(users), n_items_), as in :meth:`predict`."""
        self._check_fitted()
        u = torch.from_numpy(self._check_known(users, "users", self.n_users_, "user"))
        self.model_.eval()
        if self.head_ is None:
            scores = self.model_.score_all(u)
        else:
            scores = self.model_.score_all(u, head=self.head_)
        return self._transform(scores)

    def seen_pairs(self) -> pd.DataFrame:
        """The distinct (user, item) pairs of the interactions given to :meth:`fit`."""
        self._check_fitted()
        return pd.DataFrame({schema.USER: self._seen[0], schema.ITEM: self._seen[1]})

    def recommend(self, users, k=10, exclude_seen=True, *, batch_size=1024) -> pd.DataFrame:
        """Top-``k`` items per user, best first.

        Parameters
        ----------
        users : array-like of int, shape (n_users,)
            Distinct, known user IDs.
        k : int
        exclude_seen : bool
            Leave out every (user, item) pair present in the interactions given
            to :meth:`fit` (see :meth:`seen_pairs`).

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, score, rank`` (see :func:`causalrec.ranking.recommend`).
        """
        from .ranking import recommend

        self._check_fitted()
        self._check_known(users, "users", self.n_users_, "user")
        seen = self.seen_pairs() if exclude_seen else None
        return recommend(self.score_items, users, self.n_items_, k, seen=seen, batch_size=batch_size)

    # ----------------------------------------------------------------- files
    def save(self, path) -> None:
        """Write the fitted estimator (hyperparameters, weights, item content, history) to ``path``.

        Only tensors, numbers, strings and plain containers are written, so
        :meth:`load` can read the file with ``weights_only=True``.
        """
        self._check_fitted()
        params = self.get_params()
        if not isinstance(params["random_state"], (int, type(None))):
            params["random_state"] = None                          # a Generator cannot be stored safely
        history = {column: self.history_[column].tolist() for column in self.history_.columns}
        torch.save({
            "format": _FILE_FORMAT_RECOMMENDER, "version": 1, "params": params, "config": self._config,
            "state_dict": self.model_.state_dict(),
            "history": history, "epochs_run": self.history_.index.tolist(), "best_epoch": self.best_epoch_,
            "image_normalization": None if self.image_normalization_ is None else list(self.image_normalization_),
            "seen": torch.from_numpy(np.stack(self._seen)),
        }, path)

    @classmethod
    def load(cls, path) -> Recommender:
        """Read a file written by :meth:`save`; returns a new, fitted estimator.

        Raises
        ------
        ValueError
            If the file is not a saved Recommender, or its weights do not fit
            the model its hyperparameters describe (the message names the
            parameter).
        """
        content = _read(path)
        source = f"the file {str(path)!r}"
        if not isinstance(content, dict) or content.get("format") != _FILE_FORMAT_RECOMMENDER:
            hint = (" (it holds a single model's state dict: use causalrec.recommenders.load_model(model, path))"
                    if isinstance(content, dict) else "")
            raise ValueError(f"{source} is not a saved Recommender{hint}")
        estimator = cls(**content["params"])
        estimator._check_params()
        config = content["config"]
        model = estimator._build(config)
        _check_state_dict(model, content["state_dict"], source)
        model.load_state_dict(content["state_dict"])
        estimator.model_ = model.eval()
        estimator.head_ = _default_head(model, estimator.loss, None)
        estimator._fitted_loss = estimator.loss
        estimator.history_ = pd.DataFrame(content["history"], index=pd.Index(content["epochs_run"], name="epoch"))
        estimator.best_epoch_ = int(content["best_epoch"])
        estimator.n_users_, estimator.n_items_ = int(config["n_users"]), int(config["n_items"])
        norm = content["image_normalization"]
        estimator.image_normalization_ = None if norm is None else tuple(norm)
        estimator._config = config
        seen = content["seen"].numpy()
        estimator._seen = (seen[0], seen[1])
        return estimator
