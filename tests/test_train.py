"""causalrec.train: the losses against hand computations and torch, negative sampling, and fit_torch."""

import math

import pytest
import torch

from causalrec.train import (LOSS_FUNCTIONS, NegativeSampler, bce_loss, bpr_loss, fit_torch, mse_loss,
                             pair_loss, softmax_loss, weighted_mean)

S = torch.tensor([0.5, -1.0, 2.0])
Y = torch.tensor([1.0, 0.0, 0.0])
W = torch.tensor([1.0, 2.0, 0.5])
NEG = torch.tensor([[0.0, 1.0], [-2.0, -1.0], [3.0, 2.0]])


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def _weighted(values, w):
    return sum(a * b for a, b in zip(w, values)) / sum(w)


def test_losses_equal_hand_computations_and_torch():
    s, y, neg, w = S.tolist(), Y.tolist(), NEG.tolist(), W.tolist()
    by_hand = {
        "mse": [(a - b) ** 2 for a, b in zip(s, y)],
        "bce": [-(t * math.log(_sigmoid(a)) + (1 - t) * math.log(1 - _sigmoid(a))) for a, t in zip(s, y)],
        "bpr": [-sum(math.log(_sigmoid(p - n)) for n in row) / len(row) for p, row in zip(s, neg)],
        "softmax": [-math.log(math.exp(p) / (math.exp(p) + sum(math.exp(n) for n in row))) for p, row in zip(s, neg)],
    }
    for name, values in by_hand.items():
        second = Y if name in ("mse", "bce") else NEG
        assert LOSS_FUNCTIONS[name](S, second).item() == pytest.approx(sum(values) / 3, rel=1e-6), name
        assert LOSS_FUNCTIONS[name](S, second, W).item() == pytest.approx(_weighted(values, w), rel=1e-6), name
    assert bce_loss(S, Y).item() == pytest.approx(torch.nn.functional.binary_cross_entropy_with_logits(S, Y).item())
    ce = torch.nn.functional.cross_entropy(torch.cat([S[:, None], NEG], dim=1), torch.zeros(3, dtype=torch.long))
    assert softmax_loss(S, NEG).item() == pytest.approx(ce.item(), rel=1e-6)
    assert bpr_loss(S, NEG[:, 0]).item() == pytest.approx(bpr_loss(S, NEG[:, :1]).item())
    assert weighted_mean(S, torch.zeros(3)).item() == 0.0             # no influence, not NaN


def test_bad_loss_inputs_name_the_argument():
    with pytest.raises(ValueError, match="targets"):
        bce_loss(S, Y[:2])
    with pytest.raises(ValueError, match="predictions"):
        mse_loss(S[:, None], Y)
    with pytest.raises(ValueError, match="negative_scores"):
        softmax_loss(S, NEG[:2])
    with pytest.raises(ValueError, match="negative_scores"):
        softmax_loss(S, NEG[:, 0])
    with pytest.raises(TypeError, match="predictions"):
        mse_loss([1.0], Y)
    with pytest.raises(ValueError, match="loss"):
        pair_loss("hinge")


def test_sampled_negatives_are_uniform_over_the_items_not_liked():
    n_items = 6
    liked = {0: [0, 1, 2, 3, 4], 1: [5], 2: [], 3: [1, 3, 4]}
    users = torch.tensor([u for u, items in liked.items() for _ in items])
    items = torch.tensor([i for items in liked.values() for i in items])
    sampler = NegativeSampler(users, items, n_users=4, n_items=n_items)
    who = torch.arange(4).repeat(3000)
    negatives = sampler.draw(who, 2, torch.Generator().manual_seed(0))
    for user, items in liked.items():
        drawn = negatives[who == user].flatten()
        allowed = sorted(set(range(n_items)) - set(items))
        assert sorted(drawn.unique().tolist()) == allowed             # never a liked item, every other one
        share = torch.bincount(drawn, minlength=n_items)[allowed].float() / len(drawn)
        assert torch.allclose(share, torch.full_like(share, 1 / len(allowed)), atol=0.02)
    assert NegativeSampler(torch.zeros(6, dtype=torch.long), torch.arange(6), 2, 6).full_users == [0]


def _line_data(n=64):
    x = torch.linspace(-1, 1, n).reshape(-1, 1)
    return {"x": x, "y": 3 * x - 1 + 0.1 * torch.sin(7 * x)}


def _squared(module, batch):
    return ((module(batch["x"]) - batch["y"]) ** 2).mean()


def test_fit_torch_equals_a_hand_written_loop_with_the_same_batches():
    data = _line_data()
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    theirs.load_state_dict(ours.state_dict())
    history = fit_torch(ours, _squared, data, epochs=5, batch_size=16, lr=0.05, random_state=3,
                        optimizer=torch.optim.Adam(ours.parameters(), lr=0.05))
    optimizer, generator = torch.optim.Adam(theirs.parameters(), lr=0.05), torch.Generator().manual_seed(3)
    for _ in range(5):
        order = torch.randperm(64, generator=generator)
        for start in range(0, 64, 16):
            index = order[start:start + 16]
            optimizer.zero_grad()
            _squared(theirs, {"x": data["x"][index], "y": data["y"][index]}).backward()
            optimizer.step()
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value)
    assert list(history.columns) == ["epoch", "loss", "seconds"] and history["epoch"].tolist() == [1, 2, 3, 4, 5]


def test_fit_torch_is_seeded_and_leaves_the_global_rng_alone():
    data = _line_data()

    def run(seed):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
        state = torch.random.get_rng_state()
        fit_torch(model, _squared, data, epochs=3, batch_size=8, random_state=seed)
        assert torch.equal(torch.random.get_rng_state(), state)          # dropout drew from a fork
        return torch.cat([p.detach().ravel() for p in model.parameters()])

    first = run(1)
    assert torch.equal(first, run(1)) and not torch.equal(first, run(2))


def test_full_batch_is_plain_gradient_descent():
    data = _line_data()
    model = torch.nn.Linear(1, 1)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    fit_torch(model, _squared, data, epochs=3, batch_size=None, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    by_hand = torch.nn.Linear(1, 1)
    by_hand.load_state_dict(start)
    for _ in range(3):
        by_hand.zero_grad()
        _squared(by_hand, data).backward()
        with torch.no_grad():
            for p in by_hand.parameters():
                p -= 0.1 * p.grad
    torch.testing.assert_close(model.weight, by_hand.weight)


def test_patience_stops_and_restores_the_best_weights():
    data = _line_data()
    model = torch.nn.Linear(1, 1)
    seen = []

    def validate(module):                         # best after epoch 2, worse ever after
        seen.append(module.weight.item())
        return [3.0, 1.0, 2.0, 2.5, 2.6, 2.7, 2.8][len(seen) - 1]

    history = fit_torch(model, _squared, data, epochs=7, batch_size=16, lr=0.05, validate=validate, patience=2)
    assert history["epoch"].tolist() == [1, 2, 3, 4]                      # 2 epochs without improvement
    assert model.weight.item() == pytest.approx(seen[1])                  # epoch 2's weights are back
    assert history["validation"].tolist() == [3.0, 1.0, 2.0, 2.5]
    assert not model.training


def test_bad_data_is_named():
    model = torch.nn.Linear(1, 1)
    with pytest.raises(ValueError, match="same first dimension"):
        fit_torch(model, _squared, {"x": torch.zeros(4, 1), "y": torch.zeros(3, 1)})
    with pytest.raises(ValueError, match="no rows"):
        fit_torch(model, _squared, {"x": torch.zeros(0, 1), "y": torch.zeros(0, 1)})
    with pytest.raises(ValueError, match="data"):
        fit_torch(model, _squared, [torch.zeros(4, 1)])
    with pytest.raises(ValueError, match="batch_size"):
        fit_torch(model, _squared, _line_data(), batch_size=0)
    with pytest.raises(ValueError, match="epochs"):
        fit_torch(model, _squared, _line_data(), epochs=0)
    with pytest.raises(ValueError, match="patience"):
        fit_torch(model, _squared, _line_data(), patience=2)
