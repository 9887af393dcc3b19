"""Variable importance for a trained model, and the simulator's answer to "what causes what".

The source article suggests reading a trained network's *variable importance*
(gradients, node importance) as the basis of causal reasoning. This module
gives the three standard importance measures, grouped by **input block** (a
user ID embedding, an item image, a text vector, the price, the popularity,
...), and the tool that shows why they are not causal effects: an
intervention on the simulator's structural equations.

- :class:`FeatureNet`: a small, documented MLP over named input blocks. ID
  blocks go through an embedding table; numeric blocks (pixels, TF-IDF,
  price, log popularity, exposure) are used as they are. Unlike
  :class:`causalrec.models.MultimodalRecommender` it takes numeric side
  features, which is what an importance-versus-causation study needs.
  :func:`train_feature_net` fits it (seeded Adam, binary cross-entropy);
  :func:`shop_inputs` builds its inputs from a simulated shop.
- :func:`gradient_saliency`: the size of the gradient of the output logit with
  respect to each input (optionally gradient x input).
- :func:`integrated_gradients`: the gradient averaged along the straight path
  from a baseline to the input, times (input - baseline). Its attributions
  add up to ``f(x) - f(baseline)`` (*completeness*); the result reports the gap.
- :func:`permutation_importance`: how much a score (AUC by default) drops when
  one block's rows are shuffled, over ``n_repeats`` seeded shuffles.
- :func:`model_contrast`: what the *model* predicts when one input is set to
  two values (an intervention on the model, not on the world).
- :func:`intervene`: the true relevance, expected exposure and expected
  purchase of every logged pair when item popularity or price is *set* to new
  values in the simulator (``do(popularity)``, ``do(price)``).

All importance functions return an :class:`Importance`: ``importances``
(blocks x repeats, or blocks x samples for the gradient methods),
``importances_mean`` and ``importances_std`` as in scikit-learn's
``permutation_importance``, plus :meth:`Importance.to_frame` and
:meth:`Importance.plot`.

For gradient methods an ID block is attributed through its *embedding vector*
(the gradient with respect to the looked-up row), since an integer ID has no
gradient. The baseline of integrated gradients is, by default, zero in that
embedded space: the zero embedding for IDs, 0 for standardized numeric inputs
(their mean) and 0 for a 0/1 input.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import schema
from ._checks import check_positive_int, check_random_state, seed_from

__all__ = ["FeatureNet", "Importance", "shop_inputs", "train_feature_net", "predict_proba",
           "gradient_saliency", "integrated_gradients", "permutation_importance", "model_contrast",
           "intervene", "SHOP_BLOCKS"]

#: The blocks :func:`shop_inputs` can build, in the order it builds them.
SHOP_BLOCKS = ("user", "item", "image", "text", "price", "popularity", "exposed")


# =========================================================================== model
def _check_widths(mapping, name: str) -> dict[str, int]:
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{name} must be a dict of block name -> int, got {type(mapping).__name__}")
    out = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{name} keys must be non-empty strings, got {key!r}")
        out[key] = check_positive_int(value, f"{name}[{key!r}]")
    return out


class FeatureNet(nn.Module):
    """An MLP over named input blocks, returning one logit per row.

    Each ID block ``name`` (in ``id_sizes``) is an embedding table of
    ``id_sizes[name]`` rows and ``dim`` columns; each numeric block (in
    ``widths``) is a float input of ``widths[name]`` columns. The embedded
    blocks are concatenated, shape (B, sum of widths), in the order
    ``id_sizes`` then ``widths``, and pass through ``hidden`` ReLU layers and a
    final linear layer. With ``hidden=()`` the model is linear in its numeric
    inputs (logistic regression).

    Parameters
    ----------
    widths : dict of str to int
        Numeric blocks and their number of columns.
    id_sizes : dict of str to int, optional
        ID blocks and their number of distinct IDs (``0 .. n - 1``).
    dim : int
        Embedding length of every ID block.
    hidden : sequence of int
        Hidden layer sizes (may be empty).
    init_std : float
        Standard deviation of the embeddings' normal initialisation (seed with
        :func:`torch.manual_seed`).

    Attributes
    ----------
    block_names : tuple of str
        Every block, ID blocks first.
    block_widths : dict of str to int
        Columns of each block *after* embedding (``dim`` for ID blocks).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = FeatureNet({"price": 1, "image": 4}, id_sizes={"user": 3}, dim=2, hidden=(5,))
    >>> net.block_names, net.block_widths["user"]
    (('user', 'price', 'image'), 2)
    >>> net({"user": [0, 2], "price": [0.5, -1.0], "image": torch.zeros(2, 4)}).shape
    torch.Size([2])
    """

    def __init__(self, widths: Mapping[str, int], *, id_sizes: Mapping[str, int] | None = None,
                 dim: int = 8, hidden=(32, 16), init_std: float = 0.1):
        super().__init__()
        widths = _check_widths(widths, "widths")
        id_sizes = _check_widths(id_sizes, "id_sizes")
        both = sorted(set(widths) & set(id_sizes))
        if both:
            raise ValueError(f"block(s) {both} are both numeric (widths) and ID blocks (id_sizes)")
        if not widths and not id_sizes:
            raise ValueError("FeatureNet needs at least one input block (widths or id_sizes)")
        self.dim = check_positive_int(dim, "dim")
        hidden = tuple(check_positive_int(h, f"hidden[{k}]") for k, h in enumerate(hidden))
        if not isinstance(init_std, numbers.Real) or not init_std > 0:
            raise ValueError(f"init_std must be a positive number, got {init_std!r}")
        self.id_sizes = id_sizes
        self.widths = widths
        self.embeddings = nn.ModuleDict({name: nn.Embedding(n, self.dim) for name, n in id_sizes.items()})
        for table in self.embeddings.values():
            nn.init.normal_(table.weight, std=float(init_std))
        self.block_names = tuple(id_sizes) + tuple(widths)
        self.block_widths = {**{name: self.dim for name in id_sizes}, **widths}
        sizes = (sum(self.block_widths.values()), *hidden)
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], 1))
        self.mlp = nn.Sequential(*layers)

    def check_inputs(self, inputs) -> tuple[dict[str, torch.Tensor], int]:
        """Validate ``inputs`` (a dict of block -> array); return tensors and the row count.

        ID blocks become int64 tensors of shape (n,); numeric blocks float32
        tensors of shape (n, width) (a 1-D array is accepted for a width-1 block).
        """
        if not isinstance(inputs, Mapping):
            raise TypeError(f"inputs must be a dict of block name -> array, got {type(inputs).__name__}")
        unknown = sorted(set(inputs) - set(self.block_names))
        if unknown:
            raise ValueError(f"unknown input block(s) {unknown}; this model's blocks are {list(self.block_names)}")
        missing = [name for name in self.block_names if name not in inputs]
        if missing:
            raise ValueError(f"inputs lack block(s) {missing}; this model's blocks are {list(self.block_names)}")
        out, n = {}, None
        for name in self.block_names:
            value = inputs[name]
            x = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.array(value))
            if name in self.id_sizes:
                if x.dim() != 1 or x.is_floating_point() or x.dtype == torch.bool:
                    raise ValueError(f"ID block {name!r} must be a 1-D array of integer IDs, got shape "
                                     f"{tuple(x.shape)} and dtype {x.dtype}")
                x = x.long()
                if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.id_sizes[name]):
                    raise ValueError(f"ID block {name!r} holds IDs outside [0, {self.id_sizes[name]})")
            else:
                width = self.widths[name]
                if x.dim() == 1 and width == 1:
                    x = x[:, None]
                if x.dim() != 2 or x.shape[1] != width:
                    raise ValueError(f"block {name!r} must have shape (n, {width}), got {tuple(x.shape)}")
                x = x.float()
                if not bool(torch.isfinite(x).all()):
                    raise ValueError(f"block {name!r} holds NaN or infinite values")
            if n is None:
                n = len(x)
            elif len(x) != n:
                raise ValueError(f"every block needs the same number of rows; {name!r} has {len(x)}, "
                                 f"{self.block_names[0]!r} has {n}")
            out[name] = x
        return out, int(n)

    def embed(self, inputs) -> dict[str, torch.Tensor]:
        """The blocks as float tensors of shape (n, block_widths[name]); IDs looked up."""
        tensors, _ = self.check_inputs(inputs)
        return {name: (self.embeddings[name](x) if name in self.id_sizes else x) for name, x in tensors.items()}

    def forward_embedded(self, embedded: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits, shape (n,), from already embedded blocks (the output of :meth:`embed`)."""
        return self.mlp(torch.cat([embedded[name] for name in self.block_names], dim=1)).squeeze(1)

    def forward(self, inputs) -> torch.Tensor:
        """Logits of shape (n,) for ``inputs``, a dict of block name -> array (see :meth:`check_inputs`)."""
        return self.forward_embedded(self.embed(inputs))


def _check_model(model) -> None:
    for attribute in ("embed", "forward_embedded", "block_names", "check_inputs"):
        if not hasattr(model, attribute):
            raise TypeError(f"model must be a FeatureNet (or offer embed, forward_embedded, block_names and "
                            f"check_inputs); {type(model).__name__} has no {attribute!r}")


def _check_blocks(model, blocks) -> tuple[str, ...]:
    if blocks is None:
        return tuple(model.block_names)
    if isinstance(blocks, str):
        blocks = (blocks,)
    blocks = tuple(blocks)
    unknown = [b for b in blocks if b not in model.block_names]
    if unknown:
        raise ValueError(f"unknown feature block(s) {unknown}; the model's blocks are {list(model.block_names)}")
    if not blocks or len(set(blocks)) != len(blocks):
        raise ValueError(f"blocks must name each block at most once and at least one, got {list(blocks)}")
    return blocks


# =========================================================================== inputs and training
def shop_inputs(world, data=None, *, blocks=SHOP_BLOCKS) -> dict[str, np.ndarray]:
    """Model inputs for the pairs of ``data`` (default: the world's logged interactions).

    Parameters
    ----------
    world : causalrec.data.simulate.ShopWorld
    data : pandas.DataFrame, optional
        Rows with ``user_id`` and ``item_id`` (and ``exposed`` when that block
        is asked for). Default: ``world.interactions``.
    blocks : sequence of str
        Which of :data:`SHOP_BLOCKS` to build:

        - ``"user"``, ``"item"``: integer IDs, shape (n,);
        - ``"image"``: the item's pixels standardized over the catalogue, shape (n, H * W);
        - ``"text"``: the item description's TF-IDF vector, shape (n, vocabulary size);
        - ``"price"``: the item's log price, standardized over the catalogue, shape (n, 1);
        - ``"popularity"``: the item's ``log(1 + popularity)``, standardized, shape (n, 1);
        - ``"exposed"``: 0/1, whether the pair was shown, shape (n, 1).

    Returns
    -------
    dict of str to numpy.ndarray
        One entry per block, rows aligned with ``data``.

    Examples
    --------
    >>> import causalrec as cr
    >>> world = cr.simulate_shop(n_users=20, n_items=12, random_state=0)
    >>> x = shop_inputs(world, blocks=("user", "price", "popularity"))
    >>> x["user"].shape == (len(world.interactions),), x["price"].shape[1]
    (True, 1)
    """
    from ._checks import check_dataframe
    from .prep import TextVectorizer, normalize_images

    if isinstance(blocks, str):
        blocks = (blocks,)
    unknown = [b for b in blocks if b not in SHOP_BLOCKS]
    if unknown:
        raise ValueError(f"unknown feature block(s) {unknown}; shop_inputs builds {list(SHOP_BLOCKS)}")
    data = world.interactions if data is None else data
    required = [schema.USER, schema.ITEM] + ([schema.EXPOSED] if "exposed" in blocks else [])
    check_dataframe(data, "data", required)
    items = data[schema.ITEM].to_numpy(dtype=np.int64)
    if items.size and (items.min() < 0 or items.max() >= world.n_items):
        raise ValueError(f"data holds item IDs outside [0, {world.n_items})")

    def standardized(values):
        values = np.asarray(values, dtype=np.float64)
        return ((values - values.mean()) / values.std()).astype(np.float32)[items, None]

    out = {}
    for name in blocks:
        if name == "user":
            out[name] = data[schema.USER].to_numpy(dtype=np.int64)
        elif name == "item":
            out[name] = items
        elif name == "image":
            pixels = normalize_images(world.images).images.reshape(world.n_items, -1)
            out[name] = pixels[items]
        elif name == "text":
            text = TextVectorizer(kind="tfidf").fit_transform(world.items[schema.DESCRIPTION])
            out[name] = np.asarray(text, dtype=np.float32)[items]
        elif name == "price":
            out[name] = standardized(np.log(world.items[schema.PRICE].to_numpy()))
        elif name == "popularity":
            out[name] = standardized(np.log1p(world.items[schema.POPULARITY].to_numpy()))
        else:
            out[name] = data[schema.EXPOSED].to_numpy(dtype=np.float32)[:, None]
    return out


def _rows(inputs: Mapping, index) -> dict:
    return {name: np.asarray(value)[index] for name, value in inputs.items()}


def train_feature_net(inputs, target, *, id_sizes=None, dim: int = 8, hidden=(32, 16), epochs: int = 5,
                      batch_size: int = 512, lr: float = 0.01, weight_decay: float = 1e-5,
                      random_state=0, verbose: bool = False, n_threads: int | None = 1) -> FeatureNet:
    """Fit a :class:`FeatureNet` to a 0/1 target with Adam and binary cross-entropy.

    Parameters
    ----------
    inputs : dict of str to array
        Blocks as :func:`shop_inputs` returns them; arrays of integers of
        shape (n,) are ID blocks unless ``id_sizes`` says otherwise.
    target : array-like of 0/1, shape (n,)
    id_sizes : dict of str to int, optional
        Number of IDs per ID block; default: the largest ID + 1 of every
        integer 1-D block.
    dim, hidden
        Of :class:`FeatureNet`.
    epochs, batch_size : int
    lr, weight_decay : float
        Adam's learning rate and L2 penalty.
    random_state : int, numpy Generator or None
        Seeds the initialisation and the shuffling (the global torch random
        state is left as it was): the same seed gives the same weights.
    verbose : bool
        Show a progress bar.
    n_threads : int or None
        Torch threads while training (restored afterwards).

    Returns
    -------
    FeatureNet
        In eval mode, with ``train_loss_`` (list of float, one per epoch).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 2)).astype("float32")
    >>> net = train_feature_net({"a": x[:, :1], "b": x[:, 1:]}, (x[:, 0] > 0).astype(int),
    ...                         hidden=(), epochs=30, batch_size=50, lr=0.1)
    >>> bool(net.train_loss_[-1] < net.train_loss_[0])
    True
    """
    from ._checks import progress_bar
    from ._checks import check_binary

    if not isinstance(inputs, Mapping) or not inputs:
        raise ValueError("inputs must be a non-empty dict of block name -> array")
    y = check_binary(np.asarray(target), "target").astype(np.float32)
    arrays = {name: np.asarray(value) for name, value in inputs.items()}
    if id_sizes is None:
        id_sizes = {name: int(a.max()) + 1 for name, a in arrays.items()
                    if a.ndim == 1 and np.issubdtype(a.dtype, np.integer) and a.size}
    widths = {name: (1 if a.ndim == 1 else int(a.shape[1])) for name, a in arrays.items() if name not in id_sizes}
    for name, a in arrays.items():
        if len(a) != len(y):
            raise ValueError(f"block {name!r} has {len(a)} rows but target has {len(y)}")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = seed_from(random_state)
    threads_before = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(check_positive_int(n_threads, "n_threads"))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = FeatureNet(widths, id_sizes=id_sizes, dim=dim, hidden=hidden)
        tensors, n = net.check_inputs(arrays)
        targets = torch.from_numpy(y)
        optimizer = torch.optim.Adam(net.parameters(), lr=float(lr), weight_decay=float(weight_decay))
        generator = torch.Generator().manual_seed(seed)
        losses = []
        net.train()
        for _ in progress_bar(range(epochs), disable=not verbose, desc="training FeatureNet", unit="epoch"):
            order = torch.randperm(n, generator=generator)
            total = 0.0
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                batch = {name: x[rows] for name, x in tensors.items()}
                loss = nn.functional.binary_cross_entropy_with_logits(net(batch), targets[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(rows)
            losses.append(total / n)
    finally:
        torch.set_num_threads(threads_before)
    net.eval()
    net.train_loss_ = losses
    return net


@torch.no_grad()
def predict_proba(model, inputs, *, batch_size: int = 65_536) -> np.ndarray:
    """``sigmoid(model(inputs))`` as a float64 array of shape (n,), computed in batches."""
    _check_model(model)
    tensors, n = model.check_inputs(inputs)
    batch_size = check_positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    try:
        parts = [torch.sigmoid(model({k: v[s:s + batch_size] for k, v in tensors.items()}))
                 for s in range(0, n, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts).double().numpy() if parts else np.empty(0)


# =========================================================================== results
@dataclass(frozen=True)
class Importance:
    """Importance of each input block, from one method.

    Attributes
    ----------
    method : str
        ``"gradient_saliency"``, ``"integrated_gradients"`` or ``"permutation"``.
    blocks : tuple of str
        The blocks, in the order of the rows of :attr:`importances`.
    importances : numpy.ndarray, shape (n_blocks, n_repeats) or (n_blocks, n_samples)
        Permutation: the score drop of each repeat. Gradient methods: each
        sample's block importance (the sum over the block's columns of
        ``|gradient|`` (or ``|gradient x input|``) for saliency, the absolute
        value of the block's summed attribution for integrated gradients).
    attributions : dict of str to numpy.ndarray (n_samples, width), optional
        Gradient methods: the signed per-column values (gradients, or
        integrated-gradient attributions).
    baseline_score : float, optional
        Permutation: the score on the unshuffled data.
    convergence_delta : numpy.ndarray, shape (n_samples,), optional
        Integrated gradients: sum of attributions minus ``f(x) - f(baseline)``
        (zero for exact completeness).
    output_difference : numpy.ndarray, shape (n_samples,), optional
        Integrated gradients: ``f(x) - f(baseline)``, in logits.
    """

    method: str
    blocks: tuple
    importances: np.ndarray
    attributions: dict | None = None
    baseline_score: float | None = None
    convergence_delta: np.ndarray | None = None
    output_difference: np.ndarray | None = None
    scoring: str | None = field(default=None)

    @property
    def importances_mean(self) -> pd.Series:
        """Mean importance of each block (over repeats or samples), indexed by block."""
        return pd.Series(self.importances.mean(axis=1), index=list(self.blocks), name="importance")

    @property
    def importances_std(self) -> pd.Series:
        """Standard deviation of each block's importance (over repeats or samples)."""
        return pd.Series(self.importances.std(axis=1), index=list(self.blocks), name="std")

    def to_frame(self) -> pd.DataFrame:
        """A table with columns ``importance``, ``std`` and ``rank`` (1 = most important), sorted by rank."""
        frame = pd.DataFrame({"importance": self.importances_mean, "std": self.importances_std})
        frame["rank"] = frame["importance"].rank(ascending=False, method="min").astype(int)
        frame.index.name = "block"
        return frame.sort_values("rank")

    def plot(self, ax=None, *, title=None, xlabel=None, color=None):
        """Horizontal bars of the mean importance per block with one-std error bars; returns the Axes."""
        from .plots import PALETTE, _axes

        ax = _axes(ax, (6, 0.45 * len(self.blocks) + 1.2))
        frame = self.to_frame().iloc[::-1]
        ax.barh(frame.index, frame["importance"], xerr=frame["std"], color=color or PALETTE[0],
                ecolor=PALETTE[3], capsize=3)
        ax.axvline(0, color=PALETTE[3], lw=0.8)
        default_x = {"gradient_saliency": "mean |gradient| summed over the block (logit per input unit)",
                     "integrated_gradients": "mean |attribution| of the block (logit)",
                     "permutation": f"drop in {self.scoring or 'score'} when the block is shuffled"}
        ax.set_xlabel(xlabel or default_x.get(self.method, "importance"))
        ax.set_ylabel("input block")
        ax.set_title(title or self.method.replace("_", " "))
        return ax


# =========================================================================== gradient methods
def _embedded_leaves(model, inputs, blocks):
    with torch.no_grad():
        embedded = {k: v.detach() for k, v in model.embed(inputs).items()}
    return embedded


def gradient_saliency(model, inputs, *, blocks=None, times_input: bool = False) -> Importance:
    """Gradient of the output logit with respect to each input, grouped by block.

    Parameters
    ----------
    model : FeatureNet
    inputs : dict of str to array
        One entry per model block, ``n`` rows (see :meth:`FeatureNet.check_inputs`).
    blocks : sequence of str, optional
        Blocks to attribute (default: all). Unknown names raise ValueError.
    times_input : bool
        Use ``gradient x input`` instead of the gradient alone.

    Returns
    -------
    Importance
        ``attributions[block]``: the signed gradient (or gradient x input),
        shape (n, width); ``importances``: per sample, the block's sum of
        absolute values, shape (n_blocks, n).

    Examples
    --------
    For a linear model the gradient is the weight vector, for every row:

    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = FeatureNet({"x": 2}, hidden=())
    >>> result = gradient_saliency(net, {"x": torch.randn(3, 2)})
    >>> import numpy as np
    >>> bool(np.allclose(result.attributions["x"], net.mlp[0].weight.detach().numpy()))
    True
    """
    _check_model(model)
    blocks = _check_blocks(model, blocks)
    embedded = _embedded_leaves(model, inputs, blocks)
    leaves = {name: embedded[name].clone().requires_grad_(True) for name in blocks}
    output = model.forward_embedded({**embedded, **leaves})
    grads = torch.autograd.grad(output.sum(), [leaves[b] for b in blocks])
    attributions, per_sample = {}, []
    for name, grad in zip(blocks, grads):
        value = grad * embedded[name] if times_input else grad
        value = value.detach().double().numpy()
        attributions[name] = value
        per_sample.append(np.abs(value).sum(axis=1))
    return Importance("gradient_saliency", blocks, np.vstack(per_sample), attributions=attributions)


def integrated_gradients(model, inputs, *, baseline=None, blocks=None, n_steps: int = 64) -> Importance:
    r"""Integrated gradients: the path integral of the gradient from a baseline to each input.

    For block columns :math:`x_j` and baseline :math:`b_j`,

    .. math:: \mathrm{IG}_j(x) = (x_j - b_j) \int_0^1
              \frac{\partial f(b + \alpha (x - b))}{\partial x_j}\, d\alpha,

    approximated with the midpoint rule over ``n_steps`` points. The blocks
    not in ``blocks`` stay at their input values along the path. The
    attributions add up to :math:`f(x) - f(b)` (completeness); the gap left by
    the approximation is :attr:`Importance.convergence_delta`.

    Parameters
    ----------
    model : FeatureNet
    inputs : dict of str to array
        One entry per model block, ``n`` rows.
    baseline : dict of str to array, optional
        Per block, in the *embedded* space: shape (width,) or (n, width).
        Blocks not given (and the default) use zeros: the zero embedding for
        ID blocks, 0 for numeric blocks.
    blocks : sequence of str, optional
        Blocks to attribute (default: all).
    n_steps : int
        Points on the path.

    Returns
    -------
    Importance
        ``attributions[block]``: shape (n, width), signed;
        ``importances``: per sample, ``|sum of the block's attributions|``;
        ``output_difference`` and ``convergence_delta``, shape (n,).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = FeatureNet({"a": 2, "b": 1}, hidden=(4,))
    >>> ig = integrated_gradients(net, {"a": torch.randn(5, 2), "b": torch.randn(5, 1)}, n_steps=256)
    >>> bool(abs(ig.convergence_delta).max() < 1e-3)
    True
    """
    _check_model(model)
    blocks = _check_blocks(model, blocks)
    n_steps = check_positive_int(n_steps, "n_steps")
    embedded = _embedded_leaves(model, inputs, blocks)
    n = len(next(iter(embedded.values())))
    base = {}
    baseline = {} if baseline is None else baseline
    if not isinstance(baseline, Mapping):
        raise TypeError(f"baseline must be a dict of block name -> array, got {type(baseline).__name__}")
    unknown = sorted(set(baseline) - set(blocks))
    if unknown:
        raise ValueError(f"baseline names block(s) {unknown} that are not attributed; blocks: {list(blocks)}")
    for name in blocks:
        width = embedded[name].shape[1]
        if name in baseline:
            b = torch.as_tensor(np.asarray(baseline[name]), dtype=torch.float32)
            if b.shape == (width,):
                b = b.expand(n, width)
            if tuple(b.shape) != (n, width):
                raise ValueError(f"baseline[{name!r}] must have shape ({width},) or ({n}, {width}), "
                                 f"got {tuple(b.shape)}")
            base[name] = b
        else:
            base[name] = torch.zeros(n, width)
    total = {name: torch.zeros(n, embedded[name].shape[1]) for name in blocks}
    for k in range(n_steps):
        alpha = (k + 0.5) / n_steps
        leaves = {name: (base[name] + alpha * (embedded[name] - base[name])).requires_grad_(True)
                  for name in blocks}
        output = model.forward_embedded({**embedded, **leaves})
        grads = torch.autograd.grad(output.sum(), [leaves[b] for b in blocks])
        for name, grad in zip(blocks, grads):
            total[name] += grad
    with torch.no_grad():
        f_x = model.forward_embedded(embedded)
        f_b = model.forward_embedded({**embedded, **base})
    attributions = {name: ((embedded[name] - base[name]) * total[name] / n_steps).double().numpy()
                    for name in blocks}
    summed = np.vstack([attributions[name].sum(axis=1) for name in blocks])
    difference = (f_x - f_b).double().numpy()
    return Importance("integrated_gradients", blocks, np.abs(summed), attributions=attributions,
                      convergence_delta=summed.sum(axis=0) - difference, output_difference=difference)


# =========================================================================== permutation
def _scorer(scoring) -> tuple[str, Callable]:
    if callable(scoring):
        return getattr(scoring, "__name__", "score"), scoring
    if scoring == "auc":
        from .metrics import auc

        return "AUC", lambda y, p: auc(y, p)
    if scoring == "log_loss":
        def neg_log_loss(y, p):
            p = np.clip(p, 1e-7, 1 - 1e-7)
            return float(np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
        return "log-likelihood", neg_log_loss
    raise ValueError(f"scoring must be 'auc', 'log_loss' or a callable score(y, p) (higher is better), "
                     f"got {scoring!r}")


def permutation_importance(model, inputs, target, *, blocks=None, n_repeats: int = 5, scoring="auc",
                           random_state=0) -> Importance:
    """Drop in a score when one block's rows are shuffled, repeated ``n_repeats`` times.

    A block is shuffled as a whole (all its columns move together; an ID
    block's IDs are permuted), which breaks its link with the target and with
    the other blocks while keeping its distribution.

    Parameters
    ----------
    model : FeatureNet
    inputs : dict of str to array
        One entry per model block, ``n`` rows (use held-out rows).
    target : array-like of 0/1, shape (n,)
    blocks : sequence of str, optional
        Blocks to shuffle (default: all).
    n_repeats : int
        Shuffles per block.
    scoring : {"auc", "log_loss"} or callable
        ``"auc"`` (:func:`causalrec.metrics.auc`), ``"log_loss"`` (mean
        log-likelihood, so that higher is better) or ``score(y, p)``, higher is better.
    random_state : int, numpy Generator or None
        Seeds the shuffles: the same seed gives the same result.

    Returns
    -------
    Importance
        ``importances``: baseline score minus shuffled score, shape
        (n_blocks, n_repeats); ``baseline_score``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> _ = torch.manual_seed(0)
    >>> net = FeatureNet({"signal": 1, "noise": 1}, hidden=())
    >>> with torch.no_grad():
    ...     _ = net.mlp[0].weight.copy_(torch.tensor([[3.0, 0.0]]))
    >>> x = np.random.default_rng(0).normal(size=(500, 2)).astype("float32")
    >>> y = (x[:, 0] > 0).astype(int)
    >>> result = permutation_importance(net, {"signal": x[:, :1], "noise": x[:, 1:]}, y, n_repeats=3)
    >>> result.importances_mean.round(2).to_dict()
    {'signal': 0.5, 'noise': 0.0}
    """
    _check_model(model)
    blocks = _check_blocks(model, blocks)
    n_repeats = check_positive_int(n_repeats, "n_repeats")
    name, score = _scorer(scoring)
    tensors, n = model.check_inputs(inputs)
    from ._checks import check_binary

    y = check_binary(np.asarray(target), "target")
    if y.shape != (n,):
        raise ValueError(f"target must have shape ({n},) (one value per input row), got {y.shape}")
    rng = check_random_state(random_state)
    base = float(score(y, predict_proba(model, tensors)))
    drops = np.empty((len(blocks), n_repeats))
    for b, block in enumerate(blocks):
        for r in range(n_repeats):
            order = torch.from_numpy(rng.permutation(n))
            shuffled = {**tensors, block: tensors[block][order]}
            drops[b, r] = base - float(score(y, predict_proba(model, shuffled)))
    return Importance("permutation", blocks, drops, baseline_score=base, scoring=name)


def model_contrast(model, inputs, block: str, low, high) -> float:
    """Mean change of the model's predicted probability when ``block`` is set from ``low`` to ``high``.

    Every row keeps its other inputs; only ``block`` is overwritten. This is an
    intervention on the *model*: it says what the model would predict, not what
    would happen in the world.

    Parameters
    ----------
    model : FeatureNet
    inputs : dict of str to array, ``n`` rows
    block : str
        A numeric block of the model.
    low, high : float or array-like of shape (width,) or (n, width)
        The two values given to every row.

    Returns
    -------
    float
        ``mean(p(high)) - mean(p(low))``.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = FeatureNet({"x": 1, "z": 1}, hidden=())
    >>> contrast = model_contrast(net, {"x": torch.zeros(4, 1), "z": torch.zeros(4, 1)}, "x", 0.0, 0.0)
    >>> contrast
    0.0
    """
    _check_model(model)
    (block,) = _check_blocks(model, block)
    if block not in getattr(model, "widths", {block: None}):
        raise ValueError(f"block {block!r} is an ID block; model_contrast sets numeric blocks")
    tensors, n = model.check_inputs(inputs)
    width = tensors[block].shape[1]

    def filled(value):
        v = torch.as_tensor(np.asarray(value, dtype=np.float32))
        if v.dim() == 0:
            v = v.expand(width)
        if v.dim() == 1:
            v = v.expand(n, width)
        if tuple(v.shape) != (n, width):
            raise ValueError(f"values for {block!r} must be a number or have shape ({width},) or "
                             f"({n}, {width}), got {tuple(v.shape)}")
        return {**tensors, block: v}

    return float(predict_proba(model, filled(high)).mean() - predict_proba(model, filled(low)).mean())


# =========================================================================== the simulator's answer
def intervene(world, *, popularity=None, price=None) -> pd.DataFrame:
    """Expected outcomes of every logged pair when item popularity or price is *set* to new values.

    Applies ``do(popularity := ...)`` and/or ``do(price := ...)`` to the
    structural equations of :mod:`causalrec.data.simulate` (steps 3 to 5 of its
    docstring) for the logged candidate pairs. Everything not downstream of
    the intervened variable is held fixed: the latent taste, attributes and
    quality, the production model's error (so ``policy_score`` moves only with
    the relevance logit), the user's group and the slot an item takes if shown.
    The constants of the equations come from the original catalogue: the mean
    log price, the mean and standard deviation of log popularity, and the
    popularity distribution that defines an item's popularity percentile.

    Parameters
    ----------
    world : causalrec.data.simulate.ShopWorld
    popularity : array-like of non-negative numbers, shape (n_items,), optional
        The new popularity (past sales) of each item; default: unchanged.
    price : array-like of positive numbers, shape (n_items,), optional
        The new price of each item; default: unchanged.

    Returns
    -------
    pandas.DataFrame, one row per logged pair (same order as ``world.interactions``)
        ``relevance`` (true click probability when examined),
        ``exposure_probability`` and ``purchase_probability`` (expected, under
        the logging policy) and ``effect`` (true effect of exposure on purchase).

    Examples
    --------
    Without an intervention the simulator's own numbers come back; setting
    popularity leaves relevance exactly as it was, and changes exposure:

    >>> import numpy as np, causalrec as cr
    >>> world = cr.simulate_shop(n_users=30, n_items=20, random_state=0)
    >>> same = intervene(world)
    >>> bool(np.allclose(same["exposure_probability"], world.truth.propensity))
    True
    >>> flipped = intervene(world, popularity=world.items["popularity"].to_numpy()[::-1])
    >>> bool((flipped["relevance"] == same["relevance"]).all())
    True
    >>> bool((flipped["exposure_probability"] != same["exposure_probability"]).any())
    True
    """
    truth, params = world.truth, world.truth.params
    old_pop = world.items[schema.POPULARITY].to_numpy(dtype=np.float64)
    old_price = world.items[schema.PRICE].to_numpy(dtype=np.float64)
    new_pop = old_pop if popularity is None else _item_values(popularity, world.n_items, "popularity", 0.0)
    new_price = old_price if price is None else _item_values(price, world.n_items, "price", None)
    log = world.interactions
    users = log[schema.USER].to_numpy()
    items = log[schema.ITEM].to_numpy()
    kappa = np.asarray(params["kappa"], dtype=float)[world.users[schema.GROUP].to_numpy()[users]]

    old_log_pop = np.log1p(old_pop)
    mean, spread = old_log_pop.mean(), old_log_pop.std()
    old_pct = (np.argsort(np.argsort(old_pop, kind="stable"), kind="stable") + 0.5) / len(old_pop)
    ranked = np.sort(old_pop)
    # a changed popularity takes its percentile in the original distribution (ties: the middle)
    new_pct = np.where(new_pop == old_pop, old_pct,
                       (np.searchsorted(ranked, new_pop, "left") + np.searchsorted(ranked, new_pop, "right"))
                       / (2 * len(old_pop)))
    z = ((np.log1p(new_pop) - mean) / spread)[items]

    rho_old = truth.relevance_for(users, items)
    shifted = replace(truth, log_price_centered=truth.log_price_centered + np.log(new_price / old_price))
    rho = shifted.relevance_for(users, items)
    organic_old = np.clip(params["organic_rate"] * rho_old * (0.5 + old_pct[items]), 0.0, 1.0)
    # the slot's examination probability, recovered from the true effect in the original world
    examine = truth.effect / np.maximum((1.0 - organic_old) * rho_old * kappa, 1e-300)
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    score = log[schema.POLICY_SCORE].to_numpy() + logit(rho) - logit(rho_old)
    exposure = 1.0 / (1.0 + np.exp(-(params["alpha0"] + params["alpha1"] * score + params["alpha2"] * z)))
    organic = np.clip(params["organic_rate"] * rho * (0.5 + new_pct[items]), 0.0, 1.0)
    effect = (1.0 - organic) * examine * rho * kappa
    return pd.DataFrame({"relevance": rho, "exposure_probability": exposure,
                         "purchase_probability": organic + exposure * effect, "effect": effect})


def _item_values(values, n_items: int, name: str, minimum) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n_items,):
        raise ValueError(f"{name} must have shape ({n_items},) (one value per item), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    if minimum is None and (arr <= 0).any():
        raise ValueError(f"{name} must be positive; {int((arr <= 0).sum())} value(s) are not")
    if minimum is not None and (arr < minimum).any():
        raise ValueError(f"{name} must be >= {minimum}; {int((arr < minimum).sum())} value(s) are not")
    return arr
