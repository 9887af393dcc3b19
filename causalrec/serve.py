"""Real-time serving: make a trained model smaller and faster, measure it, keep it fresh.

Three tools, each usable alone, for the models of :mod:`causalrec.models`
(:class:`~causalrec.models.MatrixFactorization`, :class:`~causalrec.models.NeuMF`,
:class:`~causalrec.models.MultimodalRecommender`) or a fitted
:class:`~causalrec.recommenders.Recommender` holding one:

1. **Compression.** :func:`quantize` stores weights as 8-bit integers:

   - every ``nn.Linear`` is replaced by torch's *dynamic* int8 version
     (:func:`torch.ao.quantization.quantize_dynamic`: int8 weights, activations
     quantized on the fly per batch);
   - every ``nn.Embedding`` by :class:`Int8Embedding`, our own *weight-only*
     per-row int8 table: row ``r`` is stored as int8 codes ``q_r`` and one
     float32 scale ``s_r = max|w_r| / 127`` and read back as ``q_r * s_r``.
     We do not use torch's ``float_qparams_weight_only_qconfig`` path because
     its quantized embedding exposes ``weight`` as a *method* returning a
     quantized tensor, which breaks code that reads ``embedding.weight`` as a
     float matrix (``MatrixFactorization.score_all`` multiplies by
     ``item_embedding.weight.T``). :class:`Int8Embedding` keeps that contract.

   :func:`prune` sets the smallest-magnitude weights to zero with
   :mod:`torch.nn.utils.prune` (over all layers together, or layer by layer)
   and makes the pruning permanent.

2. **Measurement.** :func:`model_size_bytes` (the saved state dict, in bytes),
   :func:`serving_latency` (p50 and p95 milliseconds per request of scoring
   the whole catalogue and taking the top k), :func:`randomized_ndcg` (NDCG@k
   on the randomized slice) and :func:`compression_report`, which puts them in
   one table.

3. **Freshness.** :func:`incremental_update` warm-starts a fitted recommender
   on a batch of new events (one epoch, a small learning rate) and reports the
   loss on those events before and after, and the time it took.
"""

from __future__ import annotations

import copy
import io
import numbers
import time
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import schema
from ._checks import check_dataframe, check_positive_int, check_random_state, seed_from
from .models import MatrixFactorization, MultimodalRecommender, NeuMF

__all__ = ["SUPPORTED_MODELS", "Int8Embedding", "quantize", "prune", "sparsity", "model_size_bytes",
           "serving_latency", "randomized_ndcg", "compression_report", "UpdateResult",
           "event_loss", "incremental_update"]

#: The model classes the functions of this module accept.
SUPPORTED_MODELS = (MatrixFactorization, NeuMF, MultimodalRecommender)
_PRUNABLE = (nn.Linear, nn.Embedding, nn.Conv2d)


# =========================================================================== inputs
def _network(model) -> nn.Module:
    """The ``nn.Module`` inside ``model`` (a supported module or a fitted Recommender)."""
    from .recommenders import Recommender

    if isinstance(model, Recommender):
        if not hasattr(model, "model_"):
            raise ValueError("the Recommender is not fitted yet; call fit(interactions, ...) first")
        model = model.model_
    if not isinstance(model, SUPPORTED_MODELS):
        names = ", ".join(cls.__name__ for cls in SUPPORTED_MODELS)
        raise ValueError(f"model must be one of {names} or a fitted causalrec.recommenders.Recommender, "
                         f"got {type(model).__name__}")
    return model


def _with_network(model, network: nn.Module):
    """``network`` in place of ``model``'s: a copy of a Recommender, or the network itself."""
    from .recommenders import Recommender

    if isinstance(model, Recommender):
        estimator = copy.copy(model)                    # shares the read-only seen pairs and history
        estimator.model_ = network
        return estimator
    return network


# =========================================================================== quantization
class Int8Embedding(nn.Module):
    """A weight-only int8 embedding table with one float32 scale per row.

    Row ``r`` of the float table ``w`` is stored as ``q_r = round(w_r / s_r)``
    (int8, in [-127, 127]) with ``s_r = max|w_r| / 127`` (symmetric, per-row),
    and read back as ``q_r * s_r``. The error per entry is at most ``s_r / 2``.
    Storage: ``dim + 4`` bytes per row instead of ``4 * dim``.

    Parameters
    ----------
    weight : torch.Tensor of float, shape (num_embeddings, embedding_dim)

    Attributes
    ----------
    codes : torch.Tensor of int8, shape (num_embeddings, embedding_dim)
    scales : torch.Tensor of float32, shape (num_embeddings,)
    weight : torch.Tensor of float32, shape (num_embeddings, embedding_dim)
        The dequantized table (computed on access; not a parameter).

    Examples
    --------
    >>> import torch
    >>> table = Int8Embedding(torch.tensor([[0.5, -1.0], [0.1, -0.4]]))
    >>> table.codes
    tensor([[  64, -127],
            [  32, -127]], dtype=torch.int8)
    >>> table(torch.tensor([1])).shape
    torch.Size([1, 2])
    >>> bool((table.weight - torch.tensor([[0.5, -1.0], [0.1, -0.4]])).abs().max() < 0.004)
    True
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or not weight.is_floating_point():
            raise ValueError(f"weight must be a 2-D float tensor (num_embeddings, embedding_dim), got "
                             f"{type(weight).__name__} of shape {tuple(getattr(weight, 'shape', ()))}")
        w = weight.detach().float()
        scales = w.abs().amax(dim=1) / 127.0
        scales = torch.where(scales > 0, scales, torch.ones_like(scales))     # an all-zero row stays zero
        codes = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("codes", codes.contiguous())
        self.register_buffer("scales", scales.contiguous())
        self.num_embeddings, self.embedding_dim = w.shape

    @property
    def weight(self) -> torch.Tensor:
        return self.codes.float() * self.scales[:, None]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Dequantized rows ``ids``: shape ``ids.shape + (embedding_dim,)``."""
        return self.codes[ids].float() * self.scales[ids].unsqueeze(-1)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, int8 per-row"


def _replace_embeddings(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Embedding):
            setattr(module, name, Int8Embedding(child.weight))
        else:
            _replace_embeddings(child)


def quantize(model, *, linear: bool = True, embeddings: bool = True):
    """An int8 copy of a trained model (the original is left untouched).

    ``nn.Linear`` layers get torch's dynamic int8 quantization
    (:func:`torch.ao.quantization.quantize_dynamic`, ``dtype=torch.qint8``);
    ``nn.Embedding`` tables become :class:`Int8Embedding` (per-row int8 with
    float32 scales). Biases, the scalar bias parameters of MF, convolutions
    and buffers (a multimodal model's images and text) stay float32.

    Parameters
    ----------
    model : MatrixFactorization, NeuMF, MultimodalRecommender or fitted Recommender
    linear, embeddings : bool
        Which kinds of layer to quantize.

    Returns
    -------
    The same kind of object as ``model``: a quantized network, or a shallow
    copy of the Recommender whose ``model_`` is the quantized network (its
    ``predict``, ``score_items`` and ``recommend`` work as before; it cannot be
    saved with ``Recommender.save``, whose loader expects float weights).

    Raises
    ------
    ValueError
        For an unsupported model, an unfitted Recommender, or nothing to quantize.

    Examples
    --------
    >>> import torch
    >>> from causalrec.models import NeuMF
    >>> _ = torch.manual_seed(0)
    >>> net = NeuMF(1000, 300, dim=32)
    >>> small = quantize(net)
    >>> type(small.gmf_item).__name__, type(small.output).__name__
    ('Int8Embedding', 'Linear')
    >>> model_size_bytes(small) < model_size_bytes(net) / 2
    True
    >>> small(torch.tensor([0, 1]), torch.tensor([2, 3])).shape
    torch.Size([2])
    """
    network = _network(model)
    if not isinstance(linear, (bool, np.bool_)) or not isinstance(embeddings, (bool, np.bool_)):
        raise TypeError(f"linear and embeddings must be True or False, got {linear!r} and {embeddings!r}")
    if not (linear or embeddings):
        raise ValueError("nothing to quantize: linear and embeddings are both False")
    copied = copy.deepcopy(network).eval()
    if embeddings:
        _replace_embeddings(copied)
    if linear and any(isinstance(m, nn.Linear) for m in copied.modules()):
        with warnings.catch_warnings():                 # torch.ao.quantization announces its move to torchao
            warnings.simplefilter("ignore")
            copied = torch.ao.quantization.quantize_dynamic(copied, {nn.Linear}, dtype=torch.qint8)
    return _with_network(model, copied.eval())


# =========================================================================== pruning
def _prunable(network: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in network.modules()
            if isinstance(m, _PRUNABLE) and isinstance(getattr(m, "weight", None), nn.Parameter)]


def prune(model, sparsity, *, scope: str = "global"):
    """A copy of a trained model with a share ``sparsity`` of its weights set to zero.

    Magnitude pruning with :mod:`torch.nn.utils.prune`: the weights of every
    ``nn.Linear``, ``nn.Embedding`` and ``nn.Conv2d`` with the smallest
    absolute values become exactly 0, and :func:`torch.nn.utils.prune.remove`
    makes this permanent (no masks remain; the state dict has the usual keys).
    Biases are not pruned.

    Parameters
    ----------
    model : MatrixFactorization, NeuMF, MultimodalRecommender or fitted Recommender
    sparsity : float in [0, 1)
        Share of the prunable weights to zero: ``round(sparsity * n)`` of the
        ``n`` weights over all layers (``scope="global"``, so layers with small
        weights lose more), or of each layer's weights (``scope="layer"``).
    scope : {"global", "layer"}

    Returns
    -------
    The same kind of object as ``model`` (see :func:`quantize`), with the same
    parameter shapes. Its state dict is as large as before: zeros saved densely
    take as many bytes as any other number.

    Examples
    --------
    >>> import torch
    >>> from causalrec.models import MatrixFactorization
    >>> _ = torch.manual_seed(0)
    >>> mf = MatrixFactorization(10, 6, dim=4)
    >>> round(sparsity(prune(mf, 0.75)), 3)
    0.75
    >>> prune(mf, 0.5).item_embedding.weight.shape
    torch.Size([6, 4])
    """
    network = _network(model)
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real) or not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be a number in [0, 1), the share of weights set to zero, got {sparsity!r}")
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    copied = copy.deepcopy(network).eval()
    targets = _prunable(copied)
    if not targets:
        raise ValueError(f"{type(network).__name__} has no Linear, Embedding or Conv2d weights to prune")
    from torch.nn.utils import prune as torch_prune

    amount = float(sparsity)
    if scope == "global":
        total = sum(module.weight.numel() for module, _ in targets)
        torch_prune.global_unstructured(targets, pruning_method=torch_prune.L1Unstructured,
                                        amount=int(round(amount * total)))
    else:
        for module, name in targets:
            torch_prune.l1_unstructured(module, name, amount=int(round(amount * module.weight.numel())))
    for module, name in targets:
        torch_prune.remove(module, name)
    # remove() re-registers each weight after its bias; load into a clean copy to keep the key order
    final = copy.deepcopy(network).eval()
    final.load_state_dict(copied.state_dict())
    return _with_network(model, final)


def sparsity(model) -> float:
    """Share of exactly-zero entries among the prunable weights (see :func:`prune`).

    Examples
    --------
    >>> import torch
    >>> from causalrec.models import MatrixFactorization
    >>> sparsity(MatrixFactorization(3, 2, dim=2))
    0.0
    """
    network = _network(model)
    targets = _prunable(network)
    total = sum(m.weight.numel() for m, _ in targets)
    zeros = sum(int((m.weight == 0).sum()) for m, _ in targets)
    return zeros / total if total else 0.0


# =========================================================================== measurement
def model_size_bytes(model) -> int:
    """Bytes of the model's state dict saved with :func:`torch.save` (into memory, not to disk).

    This is what a model file would weigh: parameters and buffers (for a
    multimodal model, also the catalogue's images and text), plus a few
    kilobytes of file structure.

    Examples
    --------
    >>> from causalrec.models import MatrixFactorization
    >>> model_size_bytes(MatrixFactorization(1000, 300, dim=32)) > 4 * 1300 * 32
    True
    """
    network = _network(model)
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def _score_all(network: nn.Module, users: torch.Tensor, head) -> torch.Tensor:
    if isinstance(network, MultimodalRecommender):
        return network.score_all(users, head=head)
    return network.score_all(users)


def _head(model, network):
    from .recommenders import Recommender

    if isinstance(model, Recommender):
        return model.head_
    return "purchase" if isinstance(network, MultimodalRecommender) else None


def _percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.asarray(times) * 1000.0
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def serving_latency(model, *, users_per_request=(1, 100), k: int = 10, n_requests: int = 100,
                    n_threads: int | None = 1, random_state=0) -> pd.DataFrame:
    """Milliseconds per request of scoring every item for some users and taking their top ``k``.

    One request: ``score_all(users)`` under :func:`torch.inference_mode`
    (shape (B, n_items)), then :func:`causalrec.ranking.top_k` on the
    scores. The requested users are drawn at random (seeded) for each request;
    three untimed requests warm up first. Latency depends on the machine and
    its load: compare models measured in the same process.

    Parameters
    ----------
    model : MatrixFactorization, NeuMF, MultimodalRecommender or fitted Recommender
    users_per_request : sequence of int
        Request sizes B to measure.
    k : int
        Length of each top-k list.
    n_requests : int
        Timed requests per size.
    n_threads : int or None
        Torch threads while measuring (restored afterwards); None keeps the setting.
    random_state : int, numpy Generator or None

    Returns
    -------
    pandas.DataFrame
        Index ``users_per_request``; columns ``p50_ms`` and ``p95_ms``.

    Examples
    --------
    >>> from causalrec.models import MatrixFactorization
    >>> table = serving_latency(MatrixFactorization(50, 20, dim=4), users_per_request=(1, 5), k=3, n_requests=5)
    >>> table.columns.tolist(), table.index.tolist()
    (['p50_ms', 'p95_ms'], [1, 5])
    """
    from .ranking import top_k

    network = _network(model)
    sizes = [check_positive_int(b, "users_per_request") for b in np.atleast_1d(users_per_request).tolist()]
    if not sizes:
        raise ValueError("users_per_request must hold at least one request size")
    for b in sizes:
        if b > network.n_users:
            raise ValueError(f"users_per_request={b} is larger than the number of users ({network.n_users})")
    k = check_positive_int(k, "k")
    if k > network.n_items:
        raise ValueError(f"k={k} is larger than the number of items ({network.n_items})")
    n_requests = check_positive_int(n_requests, "n_requests")
    rng = check_random_state(random_state)
    head = _head(model, network)
    threads_before = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(check_positive_int(n_threads, "n_threads"))
    network.eval()
    rows = []
    try:
        with torch.inference_mode():
            for b in sizes:
                times = []
                for r in range(n_requests + 3):
                    users = torch.from_numpy(rng.choice(network.n_users, size=b, replace=False))
                    start = time.perf_counter()
                    top_k(_score_all(network, users, head).numpy(), k)
                    if r >= 3:
                        times.append(time.perf_counter() - start)
                p50, p95 = _percentiles(times)
                rows.append({"users_per_request": b, "p50_ms": p50, "p95_ms": p95})
    finally:
        torch.set_num_threads(threads_before)
    return pd.DataFrame(rows).set_index("users_per_request")


def _check_randomized(randomized, relevant_rating) -> pd.DataFrame:
    check_dataframe(randomized, "randomized", [schema.USER, schema.ITEM, schema.RATING])
    if randomized[schema.RATING].isna().any():
        raise ValueError(f"randomized[{schema.RATING!r}] holds missing ratings; the randomized slice "
                         "has a rating on every row")
    if isinstance(relevant_rating, bool) or not isinstance(relevant_rating, numbers.Real):
        raise ValueError(f"relevant_rating must be a number, got {relevant_rating!r}")
    return randomized


@torch.inference_mode()
def _pair_scores(model, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    network = _network(model)
    if users.max(initial=-1) >= network.n_users or items.max(initial=-1) >= network.n_items:
        raise ValueError(f"randomized holds user or item IDs outside the model's {network.n_users} users "
                         f"and {network.n_items} items")
    network.eval()
    out = network(torch.from_numpy(users), torch.from_numpy(items))
    head = _head(model, network)
    if head is not None:
        out = getattr(out, head)
    return out.double().numpy()


def randomized_ndcg(model, randomized, *, k: int = 10, relevant_rating=4) -> float:
    """NDCG@k of the model's ranking of each user's randomized items.

    Each user's rows of the randomized slice (items drawn at random, every one
    rated) are ranked by the model's score; an item is relevant when its
    rating is at least ``relevant_rating`` (binary gain). Unbiased by the
    logging policy, and sensitive to any change in the *order* of scores,
    which is what compression may disturb.

    Parameters
    ----------
    model : MatrixFactorization, NeuMF, MultimodalRecommender or fitted Recommender
    randomized : pandas.DataFrame
        ``user_id``, ``item_id``, ``rating`` (e.g. ``world.randomized``).
    k : int
    relevant_rating : float

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> import pandas as pd, torch
    >>> from causalrec.models import MatrixFactorization
    >>> _ = torch.manual_seed(0)
    >>> slice_ = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 0, 1], "rating": [5, 1, 2, 4]})
    >>> 0 <= randomized_ndcg(MatrixFactorization(2, 2, dim=2), slice_, k=2) <= 1
    True
    """
    from .metrics import ndcg_at_k

    randomized = _check_randomized(randomized, relevant_rating)
    k = check_positive_int(k, "k")
    users = np.array(randomized[schema.USER], dtype=np.int64)       # a writable copy for torch
    items = np.array(randomized[schema.ITEM], dtype=np.int64)
    recs = pd.DataFrame({schema.USER: users, schema.ITEM: items, "score": _pair_scores(model, users, items)})
    relevant = randomized.loc[randomized[schema.RATING] >= relevant_rating, [schema.USER, schema.ITEM]]
    return float(ndcg_at_k(recs, relevant, k=k))


def compression_report(models: dict, randomized, *, k: int = 10, users_per_request=(1, 100),
                       n_requests: int = 100, n_threads: int | None = 1, random_state=0) -> pd.DataFrame:
    """Size, ranking quality and latency of several versions of a model, one row each.

    Parameters
    ----------
    models : dict of str -> model
        Name -> model (or fitted Recommender). The **first** entry is the
        reference (usually the float32 model) for ``size_ratio`` and ``ndcg_change``.
    randomized : pandas.DataFrame
        The randomized slice, for :func:`randomized_ndcg`.
    k, users_per_request, n_requests, n_threads, random_state
        As in :func:`randomized_ndcg` and :func:`serving_latency` (every model
        sees the same seeded requests).

    Returns
    -------
    pandas.DataFrame
        Index: the names. Columns: ``size_kb`` (kilobytes, 1 kB = 1,000 bytes),
        ``size_ratio`` (reference size / this size: 2 means half as large),
        ``sparsity``, ``ndcg@k``, ``ndcg_change`` (relative to the reference:
        -0.01 is 1% lower), and ``p50_ms_B``, ``p95_ms_B`` for each request
        size B (milliseconds per request).

    Examples
    --------
    >>> import pandas as pd, torch
    >>> from causalrec.models import MatrixFactorization
    >>> _ = torch.manual_seed(0)
    >>> mf = MatrixFactorization(30, 8, dim=4)
    >>> slice_ = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 0, 1], "rating": [5, 1, 2, 4]})
    >>> table = compression_report({"float32": mf, "int8": quantize(mf)}, slice_, k=2,
    ...                            users_per_request=(1,), n_requests=3)
    >>> table.columns.tolist()
    ['size_kb', 'size_ratio', 'sparsity', 'ndcg@2', 'ndcg_change', 'p50_ms_1', 'p95_ms_1']
    """
    if not isinstance(models, dict) or not models:
        raise ValueError(f"models must be a non-empty dict of name -> model, got {type(models).__name__}")
    seed = seed_from(random_state)
    rows = {}
    for name, model in models.items():
        size = model_size_bytes(model)
        row = {"size_kb": size / 1000, "sparsity": sparsity(model),
               f"ndcg@{k}": randomized_ndcg(model, randomized, k=k)}
        latency = serving_latency(model, users_per_request=users_per_request, k=k, n_requests=n_requests,
                                  n_threads=n_threads, random_state=seed)
        for b, values in latency.iterrows():
            row[f"p50_ms_{b}"] = values["p50_ms"]
            row[f"p95_ms_{b}"] = values["p95_ms"]
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    reference = table.iloc[0]
    table.insert(1, "size_ratio", reference["size_kb"] / table["size_kb"])
    ndcg = table[f"ndcg@{k}"]
    table.insert(table.columns.get_loc(f"ndcg@{k}") + 1, "ndcg_change",
                 (ndcg - ndcg.iloc[0]) / ndcg.iloc[0] if ndcg.iloc[0] > 0 else np.nan)
    return table


# =========================================================================== freshness
class UpdateResult(NamedTuple):
    """What :func:`incremental_update` returns.

    Attributes
    ----------
    recommender : Recommender
        The updated estimator (a copy unless ``inplace=True``).
    loss_before, loss_after : float
        The training loss (as used in fit) on the new events, before and after the update.
    seconds : float
        Wall time of the update itself (the training epochs).
    n_events : int
        Rows of the new events used.
    """

    recommender: object
    loss_before: float
    loss_after: float
    seconds: float
    n_events: int


@torch.no_grad()
def _loss_on(network, data, loss: str, head, seed: int) -> float:
    from .recommenders import _LOSS_FUNCTIONS, LOSSES

    network.eval()
    out = network(data.users, data.items)
    scores = out if head is None else getattr(out, head)
    loss_fn = _LOSS_FUNCTIONS[loss]
    if LOSSES[loss] == "pointwise":
        return float(loss_fn(scores, data.target, data.weight))
    positive = data.target == 1
    if not positive.any():
        raise ValueError(f"loss={loss!r} needs positive rows (target 1) among the new events; there are none")
    users, items = data.users[positive], data.items[positive]
    generator = torch.Generator().manual_seed(seed)              # fixed negatives: before/after comparable
    negatives = torch.randint(network.n_items, (len(users), 4), generator=generator)
    neg_out = network(users.repeat_interleave(4), negatives.reshape(-1))
    neg_scores = neg_out if head is None else getattr(neg_out, head)
    pos_scores = scores[positive]
    weight = None if data.weight is None else data.weight[positive]
    return float(loss_fn(pos_scores, neg_scores.reshape(-1, 4), weight))


def _target_for(recommender, target):
    if target is None:
        return schema.RATING if recommender._fitted_loss == "mse" else schema.PURCHASED
    return target


def _event_data(recommender, interactions, target, name: str):
    from .recommenders import TrainingData

    check_dataframe(interactions, name, [schema.USER, schema.ITEM, target])
    if interactions[target].isna().any():
        raise ValueError(f"{name}[{target!r}] holds missing values; filter the rows first")
    users = recommender._check_known(interactions[schema.USER].to_numpy(), f"{name}['user_id']",
                                     recommender.n_users_, "user")
    items = recommender._check_known(interactions[schema.ITEM].to_numpy(), f"{name}['item_id']",
                                     recommender.n_items_, "item")
    return TrainingData.from_arrays(users, items, interactions[target].to_numpy(dtype=np.float64))


def _check_recommender(recommender):
    from .recommenders import Recommender

    if not isinstance(recommender, Recommender):
        raise ValueError(f"recommender must be a causalrec.recommenders.Recommender, got {type(recommender).__name__}")
    if not hasattr(recommender, "model_"):
        raise ValueError("the Recommender is not fitted yet; call fit(interactions, ...) first")
    _network(recommender)


def event_loss(recommender, interactions, *, target=None, random_state=0) -> float:
    """The recommender's training loss (its fit's loss function) on some events, in eval mode.

    For the ranking losses (``bpr``, ``softmax``) each positive row is compared
    with 4 items drawn uniformly at random (seeded, so two calls with the same
    seed are comparable; a drawn item may occasionally be a positive).

    Parameters
    ----------
    recommender : causalrec.recommenders.Recommender
        Fitted (float or quantized).
    interactions : pandas.DataFrame
        ``user_id``, ``item_id`` and ``target``.
    target : str, optional
        Default ``"rating"`` for ``loss="mse"``, else ``"purchased"``.
    random_state : int, numpy Generator or None

    Returns
    -------
    float
        The mean loss per row (e.g. binary cross-entropy in nats for ``bce``).

    Examples
    --------
    >>> import pandas as pd
    >>> from causalrec.recommenders import Recommender
    >>> log = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 0, 1], "purchased": [1, 0, 0, 1]})
    >>> rec = Recommender("mf", dim=2, epochs=1, lr=1e-6, validation_fraction=0, verbose=False).fit(log)
    >>> round(event_loss(rec, log), 2)            # an untrained model: about log 2
    0.69
    """
    _check_recommender(recommender)
    data = _event_data(recommender, interactions, _target_for(recommender, target), "interactions")
    return _loss_on(recommender.model_, data, recommender._fitted_loss, recommender.head_,
                    seed_from(random_state))


def incremental_update(recommender, new_interactions, *, target=None, epochs: int = 1, lr: float = 1e-3,
                       batch_size: int | None = None, inplace: bool = False, random_state=0) -> UpdateResult:
    """Warm-start a fitted recommender on new events (a streaming update).

    The network keeps its trained weights and takes ``epochs`` passes of Adam
    (a fresh optimizer, a small learning rate, the fit's loss and weight decay)
    over the new rows only, through :func:`causalrec.recommenders.train_model`,
    which trains any model in place and therefore needs no warm-start hook.
    The new (user, item) pairs join the estimator's seen pairs, so
    ``recommend`` stops suggesting what was just bought. New users or items
    (cold start) are an error: the ID tables have a fixed size.

    Parameters
    ----------
    recommender : causalrec.recommenders.Recommender
        Fitted; its loss decides the kind of update.
    new_interactions : pandas.DataFrame
        ``user_id``, ``item_id`` and the ``target`` column, e.g. one new day of the log.
    target : str, optional
        The outcome column; default ``"rating"`` for ``loss="mse"``, else ``"purchased"``
        (``Recommender.fit``'s default).
    epochs : int
    lr : float
        Adam's step size; keep it well below the one used in fit so that a day
        of events adjusts the model rather than overwriting it.
    batch_size : int, optional
        Default: the recommender's.
    inplace : bool
        Update ``recommender`` itself instead of a copy.
    random_state : int, numpy Generator or None
        Seeds the shuffling (and, as in :func:`event_loss`, the fixed negatives of the ranking losses
        before/after loss).

    Returns
    -------
    UpdateResult

    Examples
    --------
    >>> import pandas as pd
    >>> from causalrec.recommenders import Recommender
    >>> old = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 0, 1], "purchased": [1, 0, 0, 1]})
    >>> rec = Recommender("mf", dim=2, epochs=2, validation_fraction=0, verbose=False).fit(old)
    >>> new = pd.DataFrame({"user_id": [0, 1], "item_id": [1, 0], "purchased": [1, 1]})
    >>> result = incremental_update(rec, new, epochs=20, lr=0.05)
    >>> result.loss_after < result.loss_before
    True
    """
    from .recommenders import train_model

    _check_recommender(recommender)
    if not any(p.is_floating_point() for p in recommender.model_.parameters()):
        raise ValueError("the recommender's model has no float parameters to train (is it quantized?)")
    loss = recommender._fitted_loss
    target = _target_for(recommender, target)
    data = _event_data(recommender, new_interactions, target, "new_interactions")
    epochs = check_positive_int(epochs, "epochs")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite positive number, got {lr!r}")
    batch_size = recommender.batch_size if batch_size is None else check_positive_int(batch_size, "batch_size")
    if not isinstance(inplace, (bool, np.bool_)):
        raise TypeError(f"inplace must be True or False, got {inplace!r}")
    users, items = data.users.numpy(), data.items.numpy()
    seed = seed_from(random_state)

    updated = recommender if inplace else copy.deepcopy(recommender)
    network, head = updated.model_, updated.head_
    before = _loss_on(network, data, loss, head, seed)
    start = time.perf_counter()
    train_model(network, data, loss=loss, head=head, epochs=epochs, batch_size=batch_size, lr=float(lr),
                weight_decay=recommender.weight_decay, n_negatives=recommender.n_negatives, patience=None,
                random_state=seed, verbose=False, n_threads=recommender.n_threads)
    seconds = time.perf_counter() - start
    after = _loss_on(network, data, loss, head, seed)
    n_items = updated.n_items_
    keys = np.union1d(updated._seen[0] * n_items + updated._seen[1], users * n_items + items)
    updated._seen = (keys // n_items, keys % n_items)
    return UpdateResult(updated, before, after, seconds, len(data))
