"""Losses, negative sampling and :func:`fit_torch`, the one loop every torch model trains with. A step is chapter
03's five lines (batch, ``zero_grad``, loss, ``backward``, ``step``); batches index whole tensors with a seeded
permutation. Losses are ``sum(w * loss) / sum(w)`` with ``sample_weight`` (inverse propensities give IPS), else
the mean."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ._checks import SHOW, check_binary, check_finite_1d, check_ids, check_positive_int, progress_bar, seed_from, torch_threads
from .metrics import auc

__all__ = ["LOSSES", "LOSS_FUNCTIONS", "weighted_mean", "mse_loss", "bce_loss", "bpr_loss",
           "softmax_loss", "check_loss", "select_head", "NegativeSampler", "pair_loss", "fit_torch", "check_ids",
           "TrainingData", "TrainingResult", "train_model", "validation_metrics"]

#: Loss name -> kind. Ranking losses learn from rows with target 1 against sampled negatives.
LOSSES = {"mse": "pointwise", "bce": "pointwise", "bpr": "pairwise", "softmax": "listwise"}


def _check_pair(a, b, name_a, name_b, same_shape=True, matrix=False):
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"{name_a} and {name_b} must be torch tensors")
    if a.dim() != 1 or (b.shape != a.shape if same_shape else b.shape[:1] != a.shape) or (matrix and b.dim() != 2):
        raise ValueError(f"{name_a} must be 1-D and {name_b} must have {len(a)} rows{' (B, n)' * matrix}; got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")


def weighted_mean(per_sample: torch.Tensor, sample_weight=None) -> torch.Tensor:
    """``sum(w * loss) / sum(w)`` (0 when every weight is 0), or the plain mean.
    >>> weighted_mean(torch.tensor([1.0, 3.0]), torch.tensor([3.0, 1.0]))
    tensor(1.5000)
    """
    if sample_weight is None:
        return per_sample.mean()
    return (sample_weight * per_sample).sum() / sample_weight.sum().clamp_min(1e-12)


def mse_loss(predictions, targets, sample_weight=None) -> torch.Tensor:
    """Mean squared error of two tensors of shape (B,).
    >>> mse_loss(torch.tensor([3.0, 4.0]), torch.tensor([4.0, 4.0]))
    tensor(0.5000)
    """
    _check_pair(predictions, targets, "predictions", "targets")
    return weighted_mean((predictions - targets.to(predictions.dtype)) ** 2, sample_weight)


def bce_loss(logits, targets, sample_weight=None) -> torch.Tensor:
    """Binary cross-entropy computed from logits (the sigmoid is built in, never underflows).
    >>> round(float(bce_loss(torch.tensor([0.0]), torch.tensor([1.0]))), 4)   # log 2
    0.6931
    """
    _check_pair(logits, targets, "logits", "targets")
    return weighted_mean(F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none"),
                         sample_weight)


def bpr_loss(positive_scores, negative_scores, sample_weight=None) -> torch.Tensor:
    """``-log sigmoid(s_pos - s_neg)``, averaged over each row's negatives (shape (B, n) or (B,)).
    >>> round(float(bpr_loss(torch.tensor([2.0]), torch.tensor([[2.0, 2.0]]))), 4)   # log 2
    0.6931
    """
    _check_pair(positive_scores, negative_scores, "positive_scores", "negative_scores", False)
    neg = negative_scores if negative_scores.dim() == 2 else negative_scores[:, None]
    return weighted_mean(-F.logsigmoid(positive_scores[:, None] - neg).mean(dim=1), sample_weight)


def softmax_loss(positive_scores, negative_scores, sample_weight=None) -> torch.Tensor:
    """Minus the log softmax probability of the positive among itself and its negatives (B, n).
    >>> round(float(softmax_loss(torch.tensor([1.0]), torch.tensor([[1.0, 1.0, 1.0]]))), 4)  # log 4
    1.3863
    """
    _check_pair(positive_scores, negative_scores, "positive_scores", "negative_scores", False, matrix=True)
    logits = torch.cat([positive_scores[:, None], negative_scores], dim=1)
    return weighted_mean(torch.logsumexp(logits, dim=1) - positive_scores, sample_weight)


#: Loss name -> function ``(scores, targets or negative scores, sample_weight) -> scalar``.
LOSS_FUNCTIONS = {"mse": mse_loss, "bce": bce_loss, "bpr": bpr_loss, "softmax": softmax_loss}


def check_loss(loss) -> str:
    """Return ``loss`` if it names a loss of :data:`LOSSES`, else raise naming it."""
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    return loss


def select_head(output, head):
    """``output`` itself, or its field ``head`` for a two-headed model's output."""
    return output if head is None else getattr(output, head)


class NegativeSampler:
    """Exact uniform draws of items outside a user's known positives, without rejection: the
    ``r``-th allowed item is ``r`` plus the number of positives ``e_j`` with ``e_j - j <= r``.
    >>> sampler = NegativeSampler(torch.tensor([0, 0]), torch.tensor([0, 2]), n_users=1, n_items=4)
    >>> sorted(set(sampler.draw(torch.zeros(50, dtype=torch.long), 1, torch.Generator()).ravel().tolist()))
    [1, 3]
    """

    def __init__(self, users, items, n_users: int, n_items: int):
        keys = torch.unique(users * n_items + items)                # sorted by user, then item
        key_user, key_item = keys // n_items, keys % n_items
        counts = torch.bincount(key_user, minlength=n_users)
        self.first = torch.cumsum(counts, 0) - counts
        self.n_allowed = n_items - counts
        self.block = n_items + 1                                    # keeps users' ranges apart
        self.sorted_gaps = key_user * self.block + (key_item - (torch.arange(len(keys)) - self.first[key_user]))
        self.full_users = torch.nonzero(self.n_allowed == 0).ravel()[:SHOW].tolist()

    def draw(self, users, n_negatives: int, generator: torch.Generator) -> torch.Tensor:
        """Negatives of shape (len(users), n_negatives), uniform over each user's allowed items."""
        allowed = self.n_allowed[users][:, None]
        uniform = torch.rand((len(users), n_negatives), generator=generator, dtype=torch.float64)
        rank = torch.minimum((uniform * allowed).long(), allowed - 1)
        where = users[:, None] * self.block + rank
        return rank + torch.searchsorted(self.sorted_gaps, where, right=True) - self.first[users][:, None]


def pair_loss(loss: str, *, head=None, n_negatives=4, sampler=None, generator=None):
    """The ``loss_fn(module, batch)`` of :func:`fit_torch` for (user, item) rows. ``batch``: ``users``, ``items``,
    ``target``, optional ``weight``; ranking losses use its ``negatives`` (B, n), else ``n_negatives`` drawn per
    step by ``sampler`` and ``generator``."""
    function = LOSS_FUNCTIONS[check_loss(loss)]
    if LOSSES[loss] == "pointwise":
        def loss_fn(module, batch):
            scores = select_head(module(batch["users"], batch["items"]), head)
            return function(scores, batch["target"], batch.get("weight"))
        return loss_fn

    def ranking_loss_fn(module, batch):
        users, items = batch["users"], batch["items"]
        negatives = batch["negatives"] if "negatives" in batch else sampler.draw(users, n_negatives, generator)
        b, n = negatives.shape
        scores = select_head(module(torch.cat([users, users.repeat_interleave(n)]),
                                    torch.cat([items, negatives.reshape(-1)])), head)
        return function(scores[:b], scores[b:].reshape(b, n), batch.get("weight"))
    return ranking_loss_fn


def fit_torch(module, loss_fn, data, *, epochs=10, batch_size=1024, lr=1e-2, weight_decay=0.0,
              optimizer=None, random_state=0, validate=None, patience=None, verbose=False,
              n_threads=None) -> pd.DataFrame:
    """Train ``module`` by minimising ``loss_fn(module, batch)`` over mini-batches of ``data``. ``data``: name ->
    tensor, same first dimension ``n``; a batch is ``{name: tensor[index]}`` (``batch_size=None``: all rows).
    ``optimizer`` None: Adam (fused where possible). ``random_state`` seeds the batch order and, inside the
    loop, torch (dropout). ``validate(module) -> float`` (lower is better) runs after each epoch without
    gradients; the best epoch's weights are restored; ``patience`` stops after that many epochs without
    improvement. Returns a row per epoch: ``epoch``, ``loss``, ``seconds``, ``validation``.
    >>> x = torch.linspace(-1, 1, 64).reshape(-1, 1)
    >>> line = torch.nn.Linear(1, 1)
    >>> history = fit_torch(line, lambda m, b: ((m(b["x"]) - 3 * b["x"]) ** 2).mean(),
    ...                     {"x": x}, epochs=200, batch_size=16, lr=0.05)
    >>> round(line.weight.item(), 2)
    3.0
    """
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError("data must be a non-empty dict of name -> torch.Tensor")
    sizes = {name: len(value) for name, value in data.items()}
    n = next(iter(sizes.values()))
    if len(set(sizes.values())) > 1 or n == 0:
        raise ValueError(f"data has no rows or tensors of different first dimensions (need the same "
                         f"first dimension): {sizes}")
    epochs = check_positive_int(epochs, "epochs")
    step = n if batch_size is None else check_positive_int(batch_size, "batch_size")
    if patience is not None and (check_positive_int(patience, "patience") and validate is None):
        raise ValueError("patience needs a validate function")
    if optimizer is None:
        try:                                   # one fused kernel per step: much less Python per batch
            optimizer = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, TypeError, ValueError):
            optimizer = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    seed = seed_from(random_state)
    generator = torch.Generator().manual_seed(seed)
    rows, best, best_state, waited = [], np.inf, None, 0
    with torch_threads(n_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in progress_bar(range(1, epochs + 1), disable=not verbose, desc="epochs"):
            start, total = time.perf_counter(), torch.zeros(())
            module.train()
            order = None if batch_size is None else torch.randperm(n, generator=generator)
            for first in range(0, n, step):
                batch = data if order is None else {k: v[order[first:first + step]] for k, v in data.items()}
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(module, batch)
                loss.backward()
                optimizer.step()
                total += loss.detach() * min(step, n - first)        # no sync with the CPU per step
            row = {"epoch": epoch, "loss": float(total) / n, "seconds": time.perf_counter() - start}
            if validate is not None:
                module.eval()
                with torch.no_grad():
                    row["validation"] = float(validate(module))
                if row["validation"] < best:
                    best, waited, best_state = row["validation"], 0, copy.deepcopy(module.state_dict())
                else:
                    waited += 1
            rows.append(row)
            if patience is not None and waited >= patience:
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class TrainingData:
    """Aligned training rows: ``users``, ``items`` (int64), ``target``, ``weight`` (float32 or None).
    >>> TrainingData.from_arrays([0, 1], [2, 0], [1, 0]).target.tolist()
    [1.0, 0.0]
    """
    users: torch.Tensor
    items: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor | None = None

    @classmethod
    def from_arrays(cls, users, items, target, sample_weight=None) -> TrainingData:
        """Check 1-D arrays (numpy, lists or tensors) and wrap them as tensors."""
        u, i, y = check_ids(users, "users"), check_ids(items, "items"), check_finite_1d(target, "target")
        w = None if sample_weight is None else check_finite_1d(sample_weight, "sample_weight")
        if not len(u) == len(i) == len(y) == len(y if w is None else w):
            raise ValueError(f"users, items, target and sample_weight must have the same length, got "
                             f"{[len(v) for v in (u, i, y, [] if w is None else w)]}")
        if w is not None and ((w < 0).any() or w.sum() <= 0):
            raise ValueError("sample_weight must be non-negative with a positive sum")
        w = None if w is None else torch.from_numpy(w.astype(np.float32))
        return cls(torch.from_numpy(u), torch.from_numpy(i), torch.from_numpy(y.astype(np.float32)), w)

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, index) -> TrainingData:
        """The rows at ``index`` (positions or a boolean mask)."""
        return TrainingData(self.users[index], self.items[index], self.target[index],
                            None if self.weight is None else self.weight[index])

    def tensors(self) -> dict:
        """The rows as the ``data`` dict of :func:`~causalrec.train.fit_torch`."""
        return {name: value for name, value in vars(self).items() if value is not None}


class TrainingResult(NamedTuple):
    """``history`` (by ``epoch``: ``train_loss``, ``seconds``, ``val_*``), ``best_epoch``, ``stopped_early``."""
    history: pd.DataFrame
    best_epoch: int
    stopped_early: bool


@torch.no_grad()
def validation_metrics(model, data, loss: str, head=None, negatives=None) -> dict:
    """Validation loss (with fixed negatives for ranking losses) and AUC (bce) or RMSE (mse)."""
    batch = data.tensors() if negatives is None else {**data.tensors(), "negatives": negatives}
    value = float(pair_loss(loss, head=head)(model, batch))
    if loss == "mse":
        return {"val_loss": value, "val_rmse": value ** 0.5}
    if loss != "bce" or len(np.unique(data.target.numpy())) < 2:
        return {"val_loss": value}
    scores = select_head(model(data.users, data.items), head).numpy()
    return {"val_loss": value, "val_auc": auc(data.target.numpy(), scores,
                                              sample_weight=None if data.weight is None else data.weight.numpy())}


def train_model(model, train: TrainingData, *, validation: TrainingData | None = None, loss="bce", head=None,
                epochs=20, batch_size=1024, lr=0.01, weight_decay=0.0, n_negatives=4, patience=3,
                random_state=0, verbose=True, n_threads=1) -> TrainingResult:
    """Train a (user, item) scoring ``model`` in place with :func:`~causalrec.train.fit_torch`. Ranking losses
    (``bpr``, ``softmax``) use the target-1 rows, each with ``n_negatives`` non-positive items drawn per step
    (validation's drawn once). With ``validation``, stop after ``patience`` epochs without a lower loss, keeping
    the best weights. ``head``: a two-headed model's output (default ``purchase`` pointwise, ``interest`` for
    ranking).
    >>> from causalrec.models import MatrixFactorization
    >>> data = TrainingData.from_arrays([0, 0, 1, 1], [0, 1, 0, 1], [1, 0, 0, 1])
    >>> _ = torch.manual_seed(0)
    >>> result = train_model(MatrixFactorization(2, 2, dim=2), data, epochs=50, batch_size=4, lr=0.1, verbose=False)
    >>> bool(result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0])
    True
    """
    kind = LOSSES[check_loss(loss)]
    heads = getattr(model, "HEADS", None)
    head = head if head is not None or heads is None else ("purchase" if kind == "pointwise" else "interest")
    if head is not None and head not in (heads or ()):
        raise ValueError(f"head must be one of {heads} for {type(model).__name__}, got {head!r}")
    validation = validation if validation is not None and len(validation) else None
    for data, what in [(train, "train")] + ([] if validation is None else [(validation, "validation")]):
        if not isinstance(data, TrainingData) or len(data) == 0:
            raise ValueError(f"{what} must be a non-empty TrainingData (see TrainingData.from_arrays)")
        check_ids(data.users, f"{what}.users", model.n_users, "user")
        check_ids(data.items, f"{what}.items", model.n_items, "item")
        if loss != "mse":
            check_binary(data.target.numpy(), f"the {what} target (loss={loss!r} needs 0/1)")
    seed = seed_from(random_state)
    sampler = generator = negatives = None
    if kind != "pointwise":
        train = train.subset(train.target == 1)
        validation = None if validation is None else validation.subset(validation.target == 1)
        validation = validation if validation is not None and len(validation) else None
        if len(train) == 0:
            raise ValueError(f"loss={loss!r} learns from positive rows (target 1), and train has none")
        known = [train] + ([validation] if validation is not None else [])
        sampler = NegativeSampler(torch.cat([d.users for d in known]), torch.cat([d.items for d in known]),
                                  model.n_users, model.n_items)
        if sampler.full_users:
            raise ValueError(f"user(s) {sampler.full_users} have every item as a positive: no negative to draw")
        generator = torch.Generator().manual_seed(seed + 2)
        if validation is not None:
            negatives = sampler.draw(validation.users, n_negatives, torch.Generator().manual_seed(seed + 1))
    metrics = []

    def validate(module):
        metrics.append(validation_metrics(module, validation, loss, head, negatives))
        return metrics[-1]["val_loss"]
    history = fit_torch(model, pair_loss(loss, head=head, n_negatives=check_positive_int(n_negatives, "n_negatives"),
                                         sampler=sampler, generator=generator),
                        train.tensors(), epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                        random_state=seed, validate=None if validation is None else validate,
                        patience=None if validation is None else patience, verbose=verbose, n_threads=n_threads)
    history = history.drop(columns="validation", errors="ignore").rename(columns={"loss": "train_loss"})
    history = pd.concat([history, pd.DataFrame(metrics)], axis=1).set_index("epoch")
    best = int(history["val_loss"].idxmin()) if validation is not None else int(history.index[-1])
    return TrainingResult(history, best, len(history) < epochs)
