"""Importance per input block (a user ID, an image, the price, ...) of a trained :class:`FeatureNet`;
:func:`intervene` on the simulator's equations gives the causal answer that importance is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import nn

from . import schema
from ._checks import check_binary, check_dataframe, check_ids, check_positive_int, check_random_state, seed_from
from .data.simulate import run_policy
from .metrics import auc
from .train import fit_torch

SHOP_BLOCKS = ("user", "item", "image", "text", "price", "popularity", "exposed")  #: what shop_inputs builds
_TARGET = "__target__"  # the target's key in the batches of train_feature_net


class FeatureNet(nn.Module):
    """An MLP over named input blocks, one logit per row: ID blocks (``id_sizes``) embedded in ``dim``
    columns, numeric blocks (``widths``) as they are. ``forward`` checks nothing (see :func:`check_inputs`).

    >>> _ = torch.manual_seed(0)
    >>> net = FeatureNet({"price": 1, "image": 4}, id_sizes={"user": 3}, dim=2, hidden=(5,))
    >>> net.block_names, net.block_widths["user"]
    (('user', 'price', 'image'), 2)
    >>> net(check_inputs(net, {"user": [0, 2], "price": [0.5, -1.0], "image": np.zeros((2, 4))})).shape
    torch.Size([2])
    """

    def __init__(self, widths: Mapping[str, int], *, id_sizes: Mapping[str, int] | None = None, dim: int = 8,
                 hidden=(32, 16), init_std: float = 0.1):
        super().__init__()
        id_sizes = dict(id_sizes or {})
        for name, size in {**widths, **id_sizes}.items():
            check_positive_int(size, f"the size of block {name!r}")
        if set(widths) & set(id_sizes) or not (widths or id_sizes):
            raise ValueError(f"every block must be either numeric (widths) or an ID block (id_sizes), and there "
                             f"must be one; got widths={dict(widths)}, id_sizes={id_sizes}")
        self.widths, self.id_sizes, self.dim = dict(widths), id_sizes, check_positive_int(dim, "dim")
        self.embeddings = nn.ModuleDict({name: nn.Embedding(n, dim) for name, n in id_sizes.items()})
        for table in self.embeddings.values():
            nn.init.normal_(table.weight, std=float(init_std))
        self.block_names = tuple(id_sizes) + tuple(widths)
        self.block_widths = {**{name: dim for name in id_sizes}, **self.widths}
        sizes = (sum(self.block_widths.values()), *(check_positive_int(h, "hidden") for h in hidden))
        layers = [layer for n_in, n_out in zip(sizes[:-1], sizes[1:]) for layer in (nn.Linear(n_in, n_out), nn.ReLU())]
        self.mlp = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def embed(self, x: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every block as a float tensor of shape (n, block_widths[name]); IDs looked up."""
        return {name: self.embeddings[name](x[name]) if name in self.id_sizes else x[name] for name in self.block_names}

    def forward_embedded(self, embedded: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits, shape (n,), from the output of :meth:`embed`."""
        return self.mlp(torch.cat([embedded[name] for name in self.block_names], dim=1)).squeeze(1)

    def forward(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.forward_embedded(self.embed(x))


def check_inputs(model: FeatureNet, inputs) -> dict[str, torch.Tensor]:
    """``inputs`` (block -> array) checked against ``model``: int64 IDs (n,), float32 blocks (n, width)."""
    if not isinstance(model, FeatureNet):
        raise TypeError(f"model must be a FeatureNet, got {type(model).__name__}")
    if not isinstance(inputs, Mapping) or set(inputs) != set(model.block_names):
        raise ValueError(f"inputs must be a dict of exactly the blocks {list(model.block_names)}, got "
                         f"{sorted(inputs) if isinstance(inputs, Mapping) else type(inputs).__name__}")
    out = {}
    for name in model.block_names:
        x = inputs[name] if isinstance(inputs[name], torch.Tensor) else torch.as_tensor(np.asarray(inputs[name]))
        if name in model.id_sizes:
            if x.dim() != 1 or x.is_floating_point() or x.dtype == torch.bool:
                raise ValueError(f"ID block {name!r} must be 1-D integer IDs, got shape {tuple(x.shape)}, {x.dtype}")
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= model.id_sizes[name]):
                raise ValueError(f"ID block {name!r} holds IDs outside [0, {model.id_sizes[name]})")
            x = x.long()
        else:
            x = (x[:, None] if x.dim() == 1 else x).float()
            if x.dim() != 2 or x.shape[1] != model.widths[name]:
                raise ValueError(f"block {name!r} must have shape (n, {model.widths[name]}), got {tuple(x.shape)}")
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"block {name!r} holds NaN or infinite values")
        out[name] = x
    if len({len(x) for x in out.values()}) > 1:
        raise ValueError(f"every block needs the same number of rows, got { {k: len(x) for k, x in out.items()} }")
    return out


def _blocks(names: tuple[str, ...], blocks) -> tuple[str, ...]:
    blocks = names if blocks is None else (blocks,) if isinstance(blocks, str) else tuple(blocks)
    unknown = [b for b in blocks if b not in names]
    if unknown or not blocks or len(set(blocks)) != len(blocks):
        raise ValueError(f"blocks must name distinct blocks of {list(names)}; got {list(blocks)} (unknown: {unknown})")
    return blocks


def shop_inputs(world, data=None, *, blocks=SHOP_BLOCKS) -> dict[str, np.ndarray]:
    """Inputs for the pairs of ``data`` (default ``world.interactions``); item features standardized
    over the catalogue.

    >>> import causalrec as cr
    >>> world = cr.simulate_shop(n_users=20, n_items=12, random_state=0)
    >>> x = shop_inputs(world, blocks=("user", "price"))
    >>> x["user"].shape == (len(world.interactions),), x["price"].shape[1]
    (True, 1)
    """
    blocks = _blocks(SHOP_BLOCKS, blocks)
    data = world.interactions if data is None else data
    check_dataframe(data, "data", [schema.USER, schema.ITEM] + ([schema.EXPOSED] if "exposed" in blocks else []))
    items = check_ids(data[schema.ITEM], f"data[{schema.ITEM!r}]", world.n_items)

    def standardized(values):
        values = np.asarray(values, dtype=np.float64)
        return ((values - values.mean()) / values.std()).astype(np.float32)[items]

    build = {
        "user": lambda: data[schema.USER].to_numpy(dtype=np.int64),
        "item": lambda: items,
        "image": lambda: standardized(world.images).reshape(len(items), -1),
        "text": lambda: TfidfVectorizer(dtype=np.float32).fit_transform(list(world.items[schema.DESCRIPTION])).toarray()[items],
        "price": lambda: standardized(np.log(world.items[schema.PRICE].to_numpy()))[:, None],
        "popularity": lambda: standardized(np.log1p(world.items[schema.POPULARITY].to_numpy()))[:, None],
        "exposed": lambda: data[schema.EXPOSED].to_numpy(dtype=np.float32)[:, None],
    }
    return {name: build[name]() for name in blocks}


def train_feature_net(inputs, target, *, id_sizes=None, dim: int = 8, hidden=(32, 16), epochs: int = 5,
                      batch_size: int = 512, lr: float = 0.01, weight_decay: float = 1e-5, random_state=0,
                      verbose: bool = False, n_threads: int | None = 1) -> FeatureNet:
    """A :class:`FeatureNet` fitted to a 0/1 ``target`` by :func:`fit_torch`, with ``history_``;
    1-D integer blocks are ID blocks unless ``id_sizes`` says otherwise.

    >>> x = np.random.default_rng(0).normal(size=(200, 2)).astype("float32")
    >>> net = train_feature_net({"a": x[:, :1], "b": x[:, 1:]}, x[:, 0] > 0, hidden=(), epochs=30,
    ...                         batch_size=50, lr=0.1)
    >>> bool(net.history_["loss"].iloc[-1] < net.history_["loss"].iloc[0])
    True
    """
    y = check_binary(np.asarray(target), "target").astype(np.float32)
    arrays = {name: np.asarray(value) for name, value in inputs.items()}
    if id_sizes is None:
        id_sizes = {name: int(a.max()) + 1 for name, a in arrays.items()
                    if a.ndim == 1 and np.issubdtype(a.dtype, np.integer) and a.size}
    widths = {name: 1 if a.ndim == 1 else int(a.shape[1]) for name, a in arrays.items() if name not in id_sizes}
    seed = seed_from(random_state)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FeatureNet(widths, id_sizes=id_sizes, dim=dim, hidden=hidden)
    data = {**check_inputs(net, arrays), _TARGET: torch.from_numpy(y)}  # fit_torch checks the row counts

    def loss(module, batch):
        return nn.functional.binary_cross_entropy_with_logits(module(batch), batch[_TARGET])

    net.history_ = fit_torch(net, loss, data, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                             random_state=seed, verbose=verbose, n_threads=n_threads)
    return net


@torch.no_grad()
def _proba(model: FeatureNet, x: Mapping[str, torch.Tensor]) -> np.ndarray:
    return torch.sigmoid(model.eval()(x)).double().numpy()


def predict_proba(model: FeatureNet, inputs) -> np.ndarray:
    """``sigmoid(model(inputs))``, float64 of shape (n,); the model is left in eval mode."""
    return _proba(model, check_inputs(model, inputs))


@dataclass(frozen=True)
class Importance:
    """``importances``: one row per block, of score drops per repeat or of each sample's importance."""

    method: str
    blocks: tuple
    importances: np.ndarray
    attributions: dict | None = None
    baseline_score: float | None = None
    scoring: str | None = None
    convergence_delta: np.ndarray | None = None
    output_difference: np.ndarray | None = None

    @property
    def importances_mean(self) -> pd.Series:
        return pd.Series(self.importances.mean(axis=1), index=list(self.blocks), name="importance")

    @property
    def importances_std(self) -> pd.Series:
        return pd.Series(self.importances.std(axis=1), index=list(self.blocks), name="std")

    def to_frame(self) -> pd.DataFrame:
        """Columns ``importance, std, rank`` (1 = most important), indexed by block, sorted by rank."""
        frame = pd.DataFrame({"importance": self.importances_mean, "std": self.importances_std}).rename_axis("block")
        return frame.assign(rank=frame["importance"].rank(ascending=False, method="min").astype(int)).sort_values("rank")


@torch.no_grad()
def _embedded(model: FeatureNet, inputs) -> dict[str, torch.Tensor]:
    x = check_inputs(model, inputs)  # before model.embed is looked up: a clear error for a non-FeatureNet
    return model.embed(x)


def gradient_saliency(model: FeatureNet, inputs, *, blocks=None, times_input: bool = False) -> Importance:
    """The gradient of the logit (or gradient x input), summed in absolute value per block. Linear model:

    >>> _ = torch.manual_seed(0)
    >>> net = FeatureNet({"x": 2}, hidden=())
    >>> result = gradient_saliency(net, {"x": torch.randn(3, 2)})
    >>> bool(np.allclose(result.attributions["x"], net.mlp[0].weight.detach().numpy()))
    True
    """
    embedded = _embedded(model, inputs)
    blocks = _blocks(model.block_names, blocks)
    leaves = {name: embedded[name].clone().requires_grad_(True) for name in blocks}
    grads = torch.autograd.grad(model.forward_embedded({**embedded, **leaves}).sum(), [leaves[b] for b in blocks])
    attributions = {name: (g * embedded[name] if times_input else g).double().numpy() for name, g in zip(blocks, grads)}
    per_sample = np.vstack([np.abs(attributions[name]).sum(axis=1) for name in blocks])
    return Importance("gradient_saliency", blocks, per_sample, attributions=attributions)


def integrated_gradients(model: FeatureNet, inputs, *, baseline=None, blocks=None, n_steps: int = 64) -> Importance:
    r"""Integrated gradients :math:`(x_j - b_j)\int_0^1 \partial_j f(b + \alpha(x - b))\,d\alpha`
    for ``baseline`` points of the embedded space (default 0); they add up to ``f(x) - f(baseline)``.

    >>> _ = torch.manual_seed(0)
    >>> net = FeatureNet({"a": 2, "b": 1}, hidden=(4,))
    >>> ig = integrated_gradients(net, {"a": torch.randn(5, 2), "b": torch.randn(5, 1)}, n_steps=256)
    >>> bool(abs(ig.convergence_delta).max() < 1e-3)
    True
    """
    embedded = _embedded(model, inputs)
    blocks = _blocks(model.block_names, blocks)
    n_steps = check_positive_int(n_steps, "n_steps")
    baseline = dict(baseline or {})
    if set(baseline) - set(blocks):
        raise ValueError(f"baseline names blocks {sorted(set(baseline) - set(blocks))} that are not in {list(blocks)}")
    base = {}
    for name in blocks:
        n, width = embedded[name].shape
        b = torch.as_tensor(np.asarray(baseline.get(name, np.zeros(width))), dtype=torch.float32)
        if tuple(b.shape) not in ((width,), (n, width)):
            raise ValueError(f"baseline[{name!r}] must have shape ({width},) or ({n}, {width}), got {tuple(b.shape)}")
        base[name] = b.expand(n, width)
    total = {name: torch.zeros_like(embedded[name]) for name in blocks}
    for k in range(n_steps):
        alpha = (k + 0.5) / n_steps
        leaves = {name: (base[name] + alpha * (embedded[name] - base[name])).requires_grad_(True) for name in blocks}
        grads = torch.autograd.grad(model.forward_embedded({**embedded, **leaves}).sum(), [leaves[b] for b in blocks])
        for name, grad in zip(blocks, grads):
            total[name] += grad
    with torch.no_grad():
        difference = (model.forward_embedded(embedded) - model.forward_embedded({**embedded, **base})).double().numpy()
    attributions = {name: ((embedded[name] - base[name]) * total[name] / n_steps).double().numpy() for name in blocks}
    summed = np.vstack([attributions[name].sum(axis=1) for name in blocks])
    return Importance("integrated_gradients", blocks, np.abs(summed), attributions=attributions,
                      convergence_delta=summed.sum(axis=0) - difference, output_difference=difference)


def permutation_importance(model, inputs, target, *, blocks=None, n_repeats: int = 5, random_state=0) -> Importance:
    """The drop in AUC when one block is shuffled; ``model``: a FeatureNet or any ``predict(inputs) -> n scores``.

    >>> x = np.random.default_rng(0).normal(size=(500, 2))
    >>> result = permutation_importance(lambda d: 3 * d["signal"], {"signal": x[:, 0], "noise": x[:, 1]},
    ...                                 x[:, 0] > 0, n_repeats=3)
    >>> result.importances_mean.round(2).to_dict()
    {'signal': 0.5, 'noise': 0.0}
    """
    if isinstance(model, FeatureNet):
        x, predict = check_inputs(model, inputs), lambda v: _proba(model, v)
    elif callable(model) and isinstance(inputs, Mapping) and inputs:
        x = dict(inputs)  # arrays or tensors, passed to model as given
        @torch.no_grad()
        def predict(v):
            return np.asarray(model(v), dtype=float).ravel()
        if len({len(v) for v in x.values()}) > 1:
            raise ValueError(f"every block of inputs needs the same rows, got { {k: len(v) for k, v in x.items()} }")
    else:
        raise TypeError(f"model must be a FeatureNet or a callable predict(inputs) over a dict of inputs, "
                        f"got {type(model).__name__} and {type(inputs).__name__}")
    blocks = _blocks(tuple(x), blocks)
    n_repeats = check_positive_int(n_repeats, "n_repeats")
    y = check_binary(np.asarray(target), "target")
    n = len(next(iter(x.values())))
    if y.shape != (n,):
        raise ValueError(f"target must have shape ({n},), one value per input row; got {y.shape}")
    rng = check_random_state(random_state)
    base = auc(y, predict(x))
    drops = np.empty((len(blocks), n_repeats))
    for b, block in enumerate(blocks):
        for r in range(n_repeats):
            shuffled = {**x, block: x[block][rng.permutation(n)]}
            drops[b, r] = base - auc(y, predict(shuffled))
    return Importance("permutation", blocks, drops, baseline_score=base, scoring="AUC")


def model_contrast(model: FeatureNet, inputs, block: str, low, high) -> float:
    """Mean change of the predicted probability when ``block`` is set from ``low`` to ``high``: what
    the *model* would predict, not what would happen."""
    x = check_inputs(model, inputs)
    if block not in model.widths:
        raise ValueError(f"block {block!r} must be a numeric block of the model, one of {list(model.widths)}")
    n, width = x[block].shape

    def filled(value):
        v = torch.as_tensor(np.asarray(value, dtype=np.float32))
        if v.dim() > 2 or tuple(v.shape) not in ((), (width,), (n, width)):
            raise ValueError(f"values for {block!r} must be a number or have shape ({width},) or ({n}, {width}), "
                             f"got {tuple(v.shape)}")
        return {**x, block: v.expand(n, width)}

    return float(_proba(model, filled(high)).mean() - _proba(model, filled(low)).mean())


def intervene(world, *, popularity=None, price=None) -> pd.DataFrame:
    """``do(popularity := ...)`` and/or ``do(price := ...)`` (one value per item) in the simulator's
    equations (:func:`~causalrec.data.simulate.run_policy` with the logging policy): each logged pair's
    probabilities and true ``effect``; all not downstream held fixed.

    >>> import causalrec as cr
    >>> world = cr.simulate_shop(n_users=30, n_items=20, random_state=0)
    >>> same = intervene(world)
    >>> bool(np.allclose(same["exposure_probability"], world.truth.propensity))
    True
    >>> flipped = intervene(world, popularity=world.items["popularity"].to_numpy()[::-1])
    >>> bool((flipped["relevance"] == same["relevance"]).all())
    True
    """
    run = run_policy(world, popularity=popularity, price=price).rename(columns={"show_probability": "exposure_probability"})
    return run[["relevance", "exposure_probability", "purchase_probability", "effect"]]
