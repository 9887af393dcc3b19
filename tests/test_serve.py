"""causalrec.serve: int8 quantization, magnitude pruning, measurements, the streaming update.

No test here is timed: latency targets are measured by benchmarks/bench_serving.py.
"""

import numpy as np
import pandas as pd
import pytest
import torch

import causalrec as cr
from causalrec import schema
from causalrec.serve import (MIN_P95_REQUESTS, Int8Embedding, compression_report, incremental_update,
                             model_size_bytes, prune, quantize, randomized_ndcg, serving_latency, sparsity)
from causalrec.models import MatrixFactorization, MultimodalRecommender, NeuMF
from causalrec.recommenders import DEFAULT_TARGET, Recommender


@pytest.fixture(scope="module")
def world():
    return cr.load_default()


@pytest.fixture(scope="module")
def fitted(world):
    """A small NeuMF trained on days 0-20 of the default world (a few seconds)."""
    old = world.interactions[world.interactions[schema.DAY] <= 20]
    return Recommender("neumf", dim=16, epochs=3, batch_size=2048, validation_fraction=0, random_state=0,
                       verbose=False).fit(old, items=world.items)


def _neumf(seed=0, **kwargs):
    torch.manual_seed(seed)
    return NeuMF(200, 50, dim=16, hidden=(32, 16, 8), **kwargs)


def _slice(n_users=200, n_items=50):
    """A small randomized slice: every user rates five items, two of them relevant."""
    users = np.repeat(np.arange(n_users), 5)
    return pd.DataFrame({schema.USER: users, schema.ITEM: (users * 7 + np.tile(np.arange(5), n_users)) % n_items,
                         schema.RATING: np.tile([5, 1, 4, 2, 3], n_users)})


# --------------------------------------------------------------------------- quantization
def test_int8_embedding_error_bounded_by_half_a_step():
    weight = torch.randn(40, 8, generator=torch.Generator().manual_seed(1))
    table = Int8Embedding(weight)
    assert table.codes.dtype == torch.int8 and table.codes.abs().max() == 127
    error = (table.weight - weight).abs()
    assert (error <= table.scales[:, None] / 2 + 1e-7).all()
    ids = torch.tensor([3, 3, 39])
    assert torch.equal(table(ids), table.weight[ids])


def test_int8_embedding_all_zero_row_and_bad_input():
    table = Int8Embedding(torch.zeros(2, 3))
    assert torch.equal(table.weight, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="2-D float tensor"):
        Int8Embedding(torch.zeros(3))


@pytest.mark.parametrize("build", [lambda: MatrixFactorization(200, 50, dim=16), _neumf])
def test_quantized_model_smaller_and_close(build):
    torch.manual_seed(0)
    model = build()
    small = quantize(model)
    assert model_size_bytes(small) < model_size_bytes(model) / 2
    users, items = torch.arange(200).repeat(5), torch.arange(50).repeat(20)
    with torch.no_grad():
        exact, approx = model(users, items), small(users, items)
        assert np.corrcoef(exact.numpy(), approx.numpy())[0, 1] > 0.99
        assert torch.allclose(model.score_all(torch.arange(5)), small.score_all(torch.arange(5)), atol=0.05)
    # the original is untouched
    assert isinstance(model.gmf_item if isinstance(model, NeuMF) else model.item_embedding, torch.nn.Embedding)


def test_quantize_multimodal_keeps_both_heads():
    torch.manual_seed(0)
    model = MultimodalRecommender(30, 12, images=torch.rand(12, 1, 8, 8), text=torch.rand(12, 5), dim=8)
    small = quantize(model)
    with torch.no_grad():
        a, b = model(torch.arange(12), torch.arange(12)), small(torch.arange(12), torch.arange(12))
    assert np.corrcoef(a.purchase.numpy(), b.purchase.numpy())[0, 1] > 0.99
    assert model_size_bytes(small) < model_size_bytes(model)
    latency = serving_latency(small, users_per_request=(2,), k=3, min_run_time=0.01, repeats=2)
    assert latency.loc[2, "p50_ms"] > 0


def test_quantized_recommender_predictions_close(world, fitted):
    small = quantize(fitted)
    test = world.randomized
    exact = fitted.predict(test[schema.USER], test[schema.ITEM])
    approx = small.predict(test[schema.USER], test[schema.ITEM])
    assert np.corrcoef(exact, approx)[0, 1] > 0.99
    assert np.abs(exact - approx).max() < 0.05                     # probabilities
    assert small.recommend([0, 1], k=5).shape == (10, 4)
    assert fitted.model_ is not small.model_
    assert abs(randomized_ndcg(small, test) - randomized_ndcg(fitted, test)) < 0.02


# --------------------------------------------------------------------------- pruning
@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("share", [0.0, 0.3, 0.9])
def test_prune_reaches_sparsity_and_keeps_shapes(scope, share):
    model = _neumf()
    pruned = prune(model, share, scope=scope)
    assert sparsity(pruned) == pytest.approx(share, abs=1e-4)
    before, after = model.state_dict(), pruned.state_dict()
    assert list(before) == list(after)                          # permanent: no masks or *_orig keys
    assert all(before[k].shape == after[k].shape for k in before)
    if scope == "layer":
        for module in (pruned.gmf_user, pruned.mlp[0], pruned.output):
            n = module.weight.numel()
            assert int((module.weight == 0).sum()) == round(share * n)
    assert sparsity(model) == 0.0                                # the original is untouched


def test_prune_global_removes_smallest_magnitudes():
    model = _neumf()
    pruned = prune(model, 0.5)
    kept = torch.cat([m.weight.abs().flatten() for m in (pruned.gmf_user, pruned.mlp[0])])
    removed_from = torch.cat([m.weight.abs().flatten() for m in (model.gmf_user, model.mlp[0])])
    threshold = removed_from[kept.view(-1) == 0].max()
    assert kept[kept > 0].min() >= threshold


BAD_INPUTS = [
    *[(lambda share=share: prune(_neumf(), share), "sparsity") for share in (-0.1, 1.0, "half", True, float("nan"))],
    (lambda: quantize(torch.nn.Linear(3, 2)), "model"),
    (lambda: model_size_bytes("mf"), "model"),
    (lambda: prune(_neumf(), 0.5, scope="row"), "scope"),
    (lambda: serving_latency(_neumf(), users_per_request=(0,)), "users_per_request"),
    (lambda: serving_latency(_neumf(), k=0), "k"),
    (lambda: randomized_ndcg(_neumf(), pd.DataFrame({schema.USER: [0], schema.ITEM: [0]})), "rating"),
    (lambda: compression_report({}, pd.DataFrame()), "models"),
    *[(lambda kw=kw: compression_report({"x": _neumf()}, _slice(), **kw), name)
      for kw, name in [({"rounds": 0}, "rounds"), ({"requests": 0}, "requests"), ({"requests": 2.5}, "requests"),
                       ({"users_per_request": (0,)}, "users_per_request"), ({"k": 0}, "k")]],
    (lambda: compression_report({"x": "mf"}, _slice()), "model"),
    (lambda: compression_report({"x": _neumf()}, _slice().drop(columns=schema.RATING)), "rating"),
    (lambda: prune(Recommender(), 0.5), "not fitted"),
]


@pytest.mark.parametrize("call, name", BAD_INPUTS)
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()


# --------------------------------------------------------------------------- measurements
def test_size_counts_state_dict_bytes():
    model = MatrixFactorization(1000, 300, dim=32)
    floats = 1300 * 32 + 1300 + 1
    assert 4 * floats < model_size_bytes(model) < 4 * floats + 10_000


def test_latency_and_report_shapes(world, fitted):
    latency = serving_latency(fitted, users_per_request=(1, 3), min_run_time=0.02, repeats=3)
    assert latency.index.tolist() == [1, 3]
    assert (latency["p50_ms"] > 0).all() and (latency["n_timed"] >= 3).all()
    assert (latency["p95_low_ms"] <= latency["p95_ms"]).all() and (latency["p95_ms"] <= latency["p95_high_ms"]).all()
    with pytest.warns(UserWarning, match="too few"):
        table = compression_report({"float32": fitted, "int8": quantize(fitted), "pruned": prune(fitted, 0.5)},
                                   world.randomized, rounds=2, requests=3)
    assert table.index.tolist() == ["float32", "int8", "pruned"]
    assert table.loc["float32", "size_ratio"] == 1.0 and table.loc["int8", "size_ratio"] > 2
    assert table.loc["float32", "ndcg_change"] == 0.0
    assert abs(table.loc["int8", "ndcg_change"]) < 0.02
    assert table.loc["pruned", "sparsity"] == pytest.approx(0.5, abs=1e-4)


class _LoggedMF(MatrixFactorization):
    """An MF that notes, in a shared log, which model scored which users (to watch the report's timing order)."""

    def __init__(self, tag, log):
        torch.manual_seed(0)
        super().__init__(200, 50, dim=8)
        self.tag, self.log = tag, log

    def score_all(self, users, **kwargs):
        self.log.append((self.tag, tuple(users.tolist())))
        return super().score_all(users, **kwargs)


def _runs(names):
    """Collapse consecutive repeats: ['a', 'a', 'b', 'a'] -> ['a', 'b', 'a']."""
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def test_report_times_models_in_turns_with_seeded_orders():
    log = []
    models = {tag: _LoggedMF(tag, log) for tag in "xyz"}
    with pytest.warns(UserWarning, match="too few"):
        table = compression_report(models, _slice(), users_per_request=(1, 3), rounds=6, requests=4, random_state=7)
    orders = table.attrs["round_orders"]
    assert len(orders) == 6 and all(sorted(order) == ["x", "y", "z"] for order in orders)
    assert len({tuple(order) for order in orders}) > 1                      # the order changes between rounds
    # the calls really happened round by round, in each round's order (runs of one model, in that order)
    assert _runs([tag for tag, _ in log]) == _runs([name for order in orders for name in order])
    # every model got the same requests, for the same users, in every round
    calls = {tag: [users for t, users in log if t == tag] for tag in "xyz"}
    assert calls["x"] == calls["y"] == calls["z"] and len(calls["x"]) % 6 == 0
    assert {len(users) for users in calls["x"]} == {1, 3}
    for name in "xyz":
        assert {b: np.shape(times) for b, times in table.attrs["times_ms"][name].items()} == {1: (6, 4), 3: (6, 4)}
    # p95 refused with 4 requests a round; the p50 is there, inside its interval across rounds
    assert table.filter(like="p95").isna().all().all()
    assert ((table["p50_low_ms_1"] <= table["p50_ms_1"]) & (table["p50_ms_1"] <= table["p50_high_ms_1"])).all()
    # the orders are seeded: the same seed repeats them, another seed changes them
    again = compression_report(models, _slice(), users_per_request=1, rounds=6, requests=50, random_state=7)
    other = compression_report(models, _slice(), users_per_request=1, rounds=6, requests=50, random_state=8)
    assert again.attrs["round_orders"] == orders != other.attrs["round_orders"]
    # attrs hold lists, not arrays: pandas compares the attrs of joined tables, and arrays would raise
    assert again.join(other.filter(like="_ms_").add_suffix(" (seed 8)")).shape == (3, 2 * again.shape[1] - 5)


def test_report_identical_models_get_overlapping_intervals():
    """The same network under two names: timed in turns, each round's p50 and p95 of the two are exchangeable,
    so their ranges over 9 rounds are disjoint with probability 2 / C(18, 9) = 4e-5 (not a timing threshold)."""
    model = _neumf()
    table = compression_report({"a": model, "a again": model}, _slice(), rounds=9, requests=MIN_P95_REQUESTS)
    for q in ("p50", "p95"):
        low, median, high = (table[f"{q}{part}_ms_1"] for part in ("_low", "", "_high"))
        assert (low <= median).all() and (median <= high).all()
        assert low.max() <= high.min(), q                                   # the two intervals overlap
    assert (table["p95_ms_1"] >= table["p50_ms_1"]).all()
    assert table.loc["a", "ndcg@10"] == table.loc["a again", "ndcg@10"]


def test_randomized_ndcg_perfect_and_reversed():
    torch.manual_seed(0)
    model = MatrixFactorization(2, 3, dim=2)
    with torch.no_grad():
        model.user_embedding.weight.zero_()
        model.item_bias.copy_(torch.tensor([2.0, 1.0, 0.0]))
    slice_ = pd.DataFrame({schema.USER: [0, 0, 0, 1, 1, 1], schema.ITEM: [0, 1, 2, 0, 1, 2],
                           schema.RATING: [5, 1, 1, 1, 1, 5]})
    value = randomized_ndcg(model, slice_, k=3)
    assert value == pytest.approx((1.0 + 0.5) / 2)                 # user 1's relevant item is ranked 3rd


# --------------------------------------------------------------------------- streaming update
def test_incremental_update_lowers_loss_on_new_events(world, fitted):
    new = world.interactions[world.interactions[schema.DAY].between(21, 23)]
    weights_before = {k: v.clone() for k, v in fitted.model_.state_dict().items()}
    result = incremental_update(fitted, new, epochs=1, lr=3e-3)
    assert result.loss_after < result.loss_before
    assert result.n_events == len(new) and result.seconds > 0
    # warm start: the update moves the weights a little, and leaves the original alone
    after = result.recommender.model_.state_dict()
    assert all(torch.equal(v, fitted.model_.state_dict()[k]) for k, v in weights_before.items())
    drift = max(float((after[k] - v).abs().max()) for k, v in weights_before.items())
    assert 0 < drift < 0.1
    # the new events now count as seen
    seen = result.recommender.seen_
    assert len(seen) >= len(fitted.seen_)
    bought = new.iloc[0]
    assert ((seen[schema.USER] == bought[schema.USER]) & (seen[schema.ITEM] == bought[schema.ITEM])).any()


def test_incremental_update_is_seeded(world, fitted):
    new = world.interactions[world.interactions[schema.DAY] == 21]
    a = incremental_update(fitted, new, lr=1e-3, random_state=3).recommender
    b = incremental_update(fitted, new, lr=1e-3, random_state=3).recommender
    for key, value in a.model_.state_dict().items():
        assert torch.equal(value, b.model_.state_dict()[key])


def test_incremental_update_bad_inputs(world, fitted):
    new = world.interactions[world.interactions[schema.DAY] == 21]
    for call, name in [(lambda: incremental_update(fitted.model_, new), "recommender"),
                       (lambda: incremental_update(fitted, new, lr=0), "lr"),
                       (lambda: incremental_update(fitted, new.assign(user_id=5000)), "user_id"),
                       (lambda: incremental_update(fitted, new.drop(columns=DEFAULT_TARGET)), DEFAULT_TARGET),
                       (lambda: incremental_update(quantize(fitted), new), "float parameters")]:
        with pytest.raises((ValueError, TypeError), match=name):
            call()


def test_event_loss_matches_update_and_bad_inputs(world, fitted):
    new = world.interactions[world.interactions[schema.DAY] == 22]
    result = incremental_update(fitted, new, lr=1e-3, random_state=5)
    assert cr.serve.event_loss(fitted, new, random_state=5) == pytest.approx(result.loss_before)
    assert cr.serve.event_loss(result.recommender, new) == pytest.approx(result.loss_after)
    # a quantized recommender can be evaluated, and its loss is close to the float one
    assert cr.serve.event_loss(quantize(fitted), new) == pytest.approx(result.loss_before, abs=0.01)
    with pytest.raises(TypeError, match="recommender"):
        cr.serve.event_loss(fitted.model_, new)
    with pytest.raises(ValueError, match=DEFAULT_TARGET):
        cr.serve.event_loss(fitted, new.assign(**{DEFAULT_TARGET: np.nan}))


def test_ranking_loss_update(world):
    old = world.interactions[world.interactions[schema.DAY] <= 20]
    new = world.interactions[world.interactions[schema.DAY] == 21]
    rec = Recommender("mf", dim=8, loss="bpr", epochs=2, validation_fraction=0, random_state=0,
                      verbose=False).fit(old, target=schema.CLICKED)
    result = incremental_update(rec, new, target=schema.CLICKED, epochs=2, lr=1e-2)
    assert result.loss_after < result.loss_before
