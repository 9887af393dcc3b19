"""Serving (chapter 13): compress a trained model, measure it, keep it fresh. Functions take a network of
:mod:`causalrec.models` or a fitted Recommender and return the same kind."""

from __future__ import annotations

import copy
import io
import time
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.utils.benchmark as benchmark
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn.utils import prune as torch_prune

from . import schema
from ._checks import check_dataframe, check_fraction, check_positive_int, seed_from
from .metrics import evaluate_ranking
from .models import MatrixFactorization, MultimodalRecommender, NeuMF
from .ranking import top_k
from .recommenders import Recommender
from .train import select_head

__all__ = ["SUPPORTED_MODELS", "MIN_P95_REQUESTS", "Int8Embedding", "quantize", "prune", "sparsity",
           "model_size_bytes", "serving_latency", "randomized_ndcg", "compression_report", "UpdateResult",
           "event_loss", "incremental_update"]

SUPPORTED_MODELS = (MatrixFactorization, NeuMF, MultimodalRecommender)
MIN_P95_REQUESTS = 50   # per round in compression_report; with fewer, a round's p95 is its slowest request or two


def _network(model) -> nn.Module:
    if isinstance(model, Recommender):
        check_is_fitted(model)
        model = model.model_
    if not isinstance(model, SUPPORTED_MODELS):
        raise ValueError(f"model must be one of {[c.__name__ for c in SUPPORTED_MODELS]} or a fitted "
                         f"Recommender, got {type(model).__name__}")
    return model


def _with_network(model, network: nn.Module):
    if not isinstance(model, Recommender):
        return network
    model = copy.copy(model)
    model.model_ = network
    return model


def _head(model):   # a fitted Recommender has its head_; a bare network is scored by its default head
    return getattr(model, "head_", "purchase" if isinstance(model, MultimodalRecommender) else None)


class Int8Embedding(nn.Module):
    """An int8 embedding table: row ``w`` stored as ``round(w / s)``, ``s = max|w| / 127`` (error <= ``s / 2``).
    Unlike torch's quantized embedding, ``weight`` stays a float matrix, which ``score_all`` uses.
    >>> Int8Embedding(torch.tensor([[0.5, -1.0], [0.1, -0.4]])).codes.tolist()
    [[64, -127], [32, -127]]
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or not weight.is_floating_point():
            raise ValueError(f"weight must be a 2-D float tensor (num_embeddings, embedding_dim), got "
                             f"{type(weight).__name__} of shape {tuple(getattr(weight, 'shape', ()))}")
        w = weight.detach().float()
        scales = w.abs().amax(dim=1) / 127.0
        scales = torch.where(scales > 0, scales, torch.ones_like(scales))      # an all-zero row stays zero
        self.register_buffer("codes", torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales)
        self.num_embeddings, self.embedding_dim = w.shape

    @property
    def weight(self) -> torch.Tensor:
        return self.codes.float() * self.scales[:, None]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.codes[ids].float() * self.scales[ids].unsqueeze(-1)


def _replace_embeddings(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Embedding):
            setattr(module, name, Int8Embedding(child.weight))
        else:
            _replace_embeddings(child)


def quantize(model):
    """An int8 copy: ``nn.Linear`` by :func:`torch.ao.quantization.quantize_dynamic`, ``nn.Embedding`` by
    :class:`Int8Embedding`. Biases, convolutions and buffers stay float32; ``model`` is untouched.
    >>> net = NeuMF(1000, 300, dim=32)
    >>> small = quantize(net)
    >>> type(small.gmf_item).__name__, model_size_bytes(small) < model_size_bytes(net) / 2
    ('Int8Embedding', True)
    """
    copied = copy.deepcopy(_network(model)).eval()
    _replace_embeddings(copied)
    if any(isinstance(m, nn.Linear) for m in copied.modules()):
        with warnings.catch_warnings():                   # torch.ao.quantization announces its move to torchao
            warnings.simplefilter("ignore")
            copied = torch.ao.quantization.quantize_dynamic(copied, {nn.Linear}, dtype=torch.qint8)
    return _with_network(model, copied.eval())


def _prunable(network: nn.Module) -> list:
    return [(m, "weight") for m in network.modules()
            if isinstance(m, (nn.Linear, nn.Embedding, nn.Conv2d)) and isinstance(m.weight, nn.Parameter)]


def prune(model, sparsity, *, scope: str = "global"):
    """A copy with the smallest share ``sparsity`` of its Linear, Embedding and Conv2d weights set to 0,
    over all layers (``scope="global"``) or per ``"layer"``; stored densely, so the file does not shrink.
    >>> mf = MatrixFactorization(10, 6, dim=4)
    >>> sparsity(prune(mf, 0.75))
    0.75
    """
    network, amount = _network(model), check_fraction(sparsity, "sparsity", inclusive=(True, False))
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    copied = copy.deepcopy(network).eval()
    targets = _prunable(copied)
    if scope == "global":
        total = sum(m.weight.numel() for m, _ in targets)
        torch_prune.global_unstructured(targets, pruning_method=torch_prune.L1Unstructured,
                                        amount=int(round(amount * total)))
    for module, name in targets:
        if scope == "layer":
            torch_prune.l1_unstructured(module, name, amount=int(round(amount * module.weight.numel())))
        torch_prune.remove(module, name)
    final = copy.deepcopy(network).eval()                 # keeps the usual key order of the state dict
    final.load_state_dict(copied.state_dict())
    return _with_network(model, final)


def sparsity(model) -> float:
    """Share of exact zeros among the prunable weights (see :func:`prune`)."""
    weights = [m.weight for m, _ in _prunable(_network(model))]
    return sum(int((w == 0).sum()) for w in weights) / max(sum(w.numel() for w in weights), 1)


def model_size_bytes(model) -> int:
    """Bytes of the state dict written by :func:`torch.save` (what a model file weighs).
    >>> model_size_bytes(MatrixFactorization(1000, 300, dim=32)) > 4 * 1300 * 32
    True
    """
    buffer = io.BytesIO()
    torch.save(_network(model).state_dict(), buffer)
    return buffer.getbuffer().nbytes


def _request_timer(model, users: int, k: int, n_threads: int, seed: int) -> benchmark.Timer:
    """Times one request: score every item for ``users`` random users (drawn from ``seed``), take the top ``k``."""
    network, head, users = _network(model).eval(), _head(model), check_positive_int(users, "users_per_request")
    generator = torch.Generator().manual_seed(seed)

    def request():
        with torch.inference_mode():
            ids = torch.randint(network.n_users, (users,), generator=generator)
            top_k((network.score_all(ids) if head is None else network.score_all(ids, head=head)).numpy(), k)
    return benchmark.Timer("request()", globals={"request": request}, num_threads=n_threads)


def serving_latency(model, *, users_per_request=(1, 100), k: int = 10, min_run_time: float = 0.1,
                    repeats: int = 5, n_threads: int = 1, random_state=0) -> pd.DataFrame:
    """Milliseconds per request scoring every item for ``B`` random users and taking their top ``k``:
    the median over ``repeats`` rounds of p50 and p95, and the rounds' lowest and highest p95."""
    k, repeats, rows = check_positive_int(k, "k"), check_positive_int(repeats, "repeats"), []
    for b in np.atleast_1d(users_per_request).tolist():
        timer, rounds = _request_timer(model, b, k, n_threads, seed_from(random_state)), []
        for _ in range(repeats):
            times = []
            while sum(times) < 1e3 * min_run_time or len(times) < 3:
                times.append(timer.timeit(1).times[0] * 1e3)
            rounds.append(times)
        p95 = [np.percentile(times, 95) for times in rounds]
        rows.append({"users_per_request": b, "p50_ms": np.median([np.median(times) for times in rounds]),
                     "p95_ms": np.median(p95), "p95_low_ms": min(p95), "p95_high_ms": max(p95),
                     "n_timed": sum(map(len, rounds))})
    return pd.DataFrame(rows).set_index("users_per_request")


def randomized_ndcg(model, randomized, *, k: int = 10, relevant_rating=4) -> float:
    """NDCG@k of the model's order of each user's randomized items (relevant: rating >= ``relevant_rating``),
    unbiased by the logging policy since those items were drawn at random."""
    check_dataframe(randomized, "randomized", [schema.USER, schema.ITEM, schema.RATING])
    users, items = (np.array(randomized[c], dtype=np.int64) for c in (schema.USER, schema.ITEM))
    if isinstance(model, Recommender):
        scores = model.predict(users, items)
    else:
        with torch.inference_mode():
            out = _network(model).eval()(torch.from_numpy(users), torch.from_numpy(items))
            scores = select_head(out, _head(model)).double().numpy()
    recs = randomized[[schema.USER, schema.ITEM]].assign(**{schema.SCORE: scores})
    return evaluate_ranking(recs, randomized, k, relevance_col=schema.RATING, threshold=relevant_rating)["ndcg_at_k"]


def compression_report(models: dict, randomized, *, k: int = 10, users_per_request=(1,), rounds: int = 7,
                       requests: int = 50, n_threads: int = 1, random_state=0) -> pd.DataFrame:
    """Size, ranking quality and latency of each of ``models`` (name -> model), one row each; the first is the
    reference of ``size_ratio`` and ``ndcg_change``. Latency is timed in turns (a busy spell of a shared machine hits
    every model): ``rounds`` rounds, each in a fresh order drawn from ``random_state``, in which every model serves
    ``requests`` timed requests per size B, the same users for each (torch.utils.benchmark runs two untimed before
    each). ``p50_ms_B``, ``p95_ms_B``: medians over rounds of a round's percentile; ``*_low_ms_B``, ``*_high_ms_B``:
    lowest and highest round. p95 is NaN, with a warning, if ``requests < MIN_P95_REQUESTS``.
    ``attrs``: ``round_orders`` (names per round), ``times_ms[name][B]`` (per round, a list of ms)."""
    if not isinstance(models, dict) or not models:
        raise ValueError(f"models must be a non-empty dict of name -> model, got {type(models).__name__}")
    k, rounds, requests = (check_positive_int(v, n) for v, n in ((k, "k"), (rounds, "rounds"), (requests, "requests")))
    rows = {name: {"size_kb": model_size_bytes(model) / 1000, "sparsity": sparsity(model),
                   f"ndcg@{k}": randomized_ndcg(model, randomized, k=k)} for name, model in models.items()}
    seed, sizes, names = seed_from(random_state), np.atleast_1d(users_per_request).tolist(), list(models)
    timers = {(name, b): _request_timer(models[name], b, k, n_threads, seed) for name in names for b in sizes}
    orders = [[names[i] for i in np.random.default_rng([seed, r]).permutation(len(names))] for r in range(rounds)]
    timed = [((name, b), [timers[name, b].timeit(1).times[0] * 1e3 for _ in range(requests)])
             for order in orders for name in order for b in sizes]      # in turns: round by round, in its order
    times_ms = {n: {b: [ms for key, ms in timed if key == (n, b)] for b in sizes} for n in names}
    if not (enough := requests >= MIN_P95_REQUESTS):
        warnings.warn(f"p95 is NaN: {requests} requests a round are too few (need {MIN_P95_REQUESTS})", stacklevel=2)
    for (name, b), q in ((key, q) for key in timers for q in (50, 95)):
        per_round = np.percentile(times_ms[name][b], q, axis=1) if q == 50 or enough else np.full(rounds, np.nan)
        rows[name].update({f"p{q}_ms_{b}": np.median(per_round), f"p{q}_low_ms_{b}": per_round.min(),
                           f"p{q}_high_ms_{b}": per_round.max()})
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(1, "size_ratio", table["size_kb"].iloc[0] / table["size_kb"])
    table.insert(4, "ndcg_change", table[f"ndcg@{k}"] / table[f"ndcg@{k}"].iloc[0] - 1)
    table.attrs.update(round_orders=orders, times_ms=times_ms)
    return table


class UpdateResult(NamedTuple):
    """:func:`incremental_update`'s result; losses on the new events, wall time in seconds."""
    recommender: object
    loss_before: float
    loss_after: float
    seconds: float
    n_events: int


def _recommender(recommender) -> Recommender:
    if not isinstance(recommender, Recommender):
        raise TypeError(f"recommender must be a fitted causalrec Recommender, got {type(recommender).__name__}")
    check_is_fitted(recommender)
    return recommender


def event_loss(recommender, interactions, *, target=None, random_state=0) -> float:
    """The fit's loss on some events (:meth:`Recommender.loss_on`); negatives drawn from ``random_state``."""
    return _recommender(recommender).loss_on(interactions, target=target, random_state=random_state)


def incremental_update(recommender, new_interactions, *, target=None, epochs: int = 1, lr: float = 1e-3,
                       inplace: bool = False, random_state=0) -> UpdateResult:
    """Warm-start a fitted recommender (a copy unless ``inplace``) on new events only, by
    :meth:`Recommender.partial_fit`: ``epochs`` passes of a fresh Adam with a small ``lr``.
    >>> old = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 0, 1], "clicked": [1, 0, 0, 1]})
    >>> rec = Recommender("mf", dim=2, epochs=2, validation_fraction=0, verbose=False).fit(old)
    >>> new = pd.DataFrame({"user_id": [0, 1], "item_id": [1, 0], "clicked": [1, 1]})
    >>> result = incremental_update(rec, new, epochs=20, lr=0.05)
    >>> result.loss_after < result.loss_before
    True
    """
    _recommender(recommender)
    lr = check_fraction(lr, "lr", low=0.0, high=np.inf, inclusive=(False, False))
    if not any(p.is_floating_point() for p in recommender.model_.parameters()):
        raise ValueError("the recommender's network has no float parameters to train (is it quantized?)")
    updated, seed = recommender if inplace else copy.deepcopy(recommender), seed_from(random_state)
    before = updated.loss_on(new_interactions, target=target, random_state=seed)
    start = time.perf_counter()
    updated.partial_fit(new_interactions, target=target, epochs=epochs, lr=lr, random_state=seed)
    seconds = time.perf_counter() - start
    after = updated.loss_on(new_interactions, target=target, random_state=seed)
    return UpdateResult(updated, before, after, seconds, len(new_interactions))
