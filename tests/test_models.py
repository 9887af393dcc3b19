"""The networks of causalrec.models: hand computations, shapes, content handling, constructor checks."""

import numpy as np
import pytest
import torch

from causalrec.models import ImageTower, MatrixFactorization, MultimodalRecommender, NeuMF, TwoHeads

N_USERS, N_ITEMS = 5, 7


def _multimodal(seed=0, **kwargs):
    torch.manual_seed(seed)
    images = torch.rand(N_ITEMS, 1, 16, 16)
    text = torch.rand(N_ITEMS, 11)
    options = dict(images=images, text=text, dim=6, hidden=(12, 8))
    options.update(kwargs)
    return MultimodalRecommender(N_USERS, N_ITEMS, **options)


def _models():
    torch.manual_seed(0)
    return {
        "mf": MatrixFactorization(N_USERS, N_ITEMS, dim=4),
        "neumf": NeuMF(N_USERS, N_ITEMS, dim=4, hidden=(8, 4)),
        "multimodal": _multimodal(),
        "multimodal-images-only": _multimodal(text=None),
        "multimodal-content-only": _multimodal(use_item_ids=False),
    }


def _scores(out, head="interest"):
    return getattr(out, head) if isinstance(out, TwoHeads) else out


# --------------------------------------------------------------------------- MF
def test_mf_forward_equals_hand_computation():
    torch.manual_seed(1)
    mf = MatrixFactorization(N_USERS, N_ITEMS, dim=3)
    with torch.no_grad():
        mf.user_bias.copy_(torch.arange(N_USERS, dtype=torch.float32) / 10)
        mf.item_bias.copy_(-torch.arange(N_ITEMS, dtype=torch.float32) / 5)
        mf.global_bias.fill_(0.25)
    users, items = torch.tensor([0, 4, 2, 2]), torch.tensor([6, 0, 3, 3])
    p, q = mf.user_embedding.weight.detach().numpy(), mf.item_embedding.weight.detach().numpy()
    expected = [float(p[u] @ q[i]) + u / 10 - i / 5 + 0.25 for u, i in zip(users.tolist(), items.tolist())]
    np.testing.assert_allclose(mf(users, items).detach().numpy(), expected, rtol=1e-6, atol=1e-6)
    # score_all is the same computation for every item
    full = mf.score_all(users).detach().numpy()
    np.testing.assert_allclose(full[np.arange(4), items.numpy()], expected, rtol=1e-6, atol=1e-6)


def test_mf_initialisation_is_seeded():
    torch.manual_seed(3)
    a = MatrixFactorization(N_USERS, N_ITEMS, dim=4)
    torch.manual_seed(3)
    b = MatrixFactorization(N_USERS, N_ITEMS, dim=4)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    assert float(a.user_bias.detach().abs().sum()) == 0.0               # biases start at zero


def test_neumf_forward_equals_its_branches():
    torch.manual_seed(0)
    model = NeuMF(N_USERS, N_ITEMS, dim=4, hidden=(8, 3))
    users, items = torch.tensor([1, 3]), torch.tensor([2, 6])
    gmf = model.gmf_user.weight[users] * model.gmf_item.weight[items]
    x = torch.cat([model.mlp_user.weight[users], model.mlp_item.weight[items]], dim=1)
    for layer in model.mlp:
        x = layer(x)
    expected = model.output(torch.cat([gmf, x], dim=1)).squeeze(1)
    assert model.output.in_features == 4 + 3
    torch.testing.assert_close(model(users, items), expected)


# --------------------------------------------------------------------------- all models
@pytest.mark.parametrize("name", list(_models()))
def test_shapes_and_score_all_match_forward(name):
    model = _models()[name].eval()
    users = torch.tensor([0, 4, 2])
    items = torch.tensor([6, 0, 3])
    out = model(users, items)
    if isinstance(out, TwoHeads):
        assert out.interest.shape == out.purchase.shape == (3,)
    else:
        assert out.shape == (3,)
    with torch.no_grad():
        full = model.score_all(users)
        assert full.shape == (3, N_ITEMS)
        for b in range(3):                                            # each row = forward on (user, every item)
            row = _scores(model(users[b].repeat(N_ITEMS), torch.arange(N_ITEMS)))
            torch.testing.assert_close(full[b], row, rtol=1e-5, atol=1e-6)
        # the result does not depend on how many pairs are scored at once
        torch.testing.assert_close(model.score_all(users, max_pairs=N_ITEMS), full, rtol=1e-5, atol=1e-6)
    assert model.score_all(torch.tensor([], dtype=torch.int64)).shape == (0, N_ITEMS)


@pytest.mark.parametrize("name", list(_models()))
def test_every_parameter_gets_a_gradient(name):
    model = _models()[name]
    users, items = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2]), torch.tensor([0, 1, 2, 3, 4, 5, 6, 0])
    out = model(users, items)
    total = out.interest.sum() + out.purchase.sum() if isinstance(out, TwoHeads) else out.sum()
    total.backward()
    for key, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), key


# --------------------------------------------------------------------------- multimodal
def test_multimodal_has_two_heads_and_content_buffers():
    model = _multimodal()
    out = model(torch.tensor([0, 1]), torch.tensor([2, 3]))
    assert isinstance(out, TwoHeads)
    assert not torch.equal(out.interest, out.purchase)               # two different heads
    state = model.state_dict()
    assert state["item_images"].shape == (N_ITEMS, 1, 16, 16)
    assert state["item_text"].shape == (N_ITEMS, 11)
    assert "item_images" not in dict(model.named_parameters())        # content is data, not trained


def test_image_tower_has_no_hard_coded_size():
    tower = ImageTower(channels=(4, 8), pooled_size=2)
    for size in [(16, 16), (28, 28), (9, 13)]:
        assert tower(torch.rand(2, 1, *size)).shape == (2, 8 * 2 * 2)
    torch.manual_seed(0)
    for size in (16, 28):                                             # the whole model too
        model = MultimodalRecommender(N_USERS, N_ITEMS, images=torch.rand(N_ITEMS, 1, size, size), dim=4)
        assert model(torch.tensor([0]), torch.tensor([1])).purchase.shape == (1,)


def test_catalogue_path_equals_explicit_content():
    model = _multimodal().eval()
    users, items = torch.tensor([0, 1, 4, 2]), torch.tensor([3, 3, 6, 0])
    imgs, txt = model.item_images[items], model.item_text[items]
    with torch.no_grad():
        from_ids = model(users, items)
        explicit = model(users, items, images=imgs, text=txt)
    torch.testing.assert_close(explicit.interest, from_ids.interest)
    torch.testing.assert_close(explicit.purchase, from_ids.purchase)


def test_a_batch_scores_each_pair_as_it_would_alone():
    # the towers encode a batch's distinct items once; no row may depend on the rest of its batch
    model = _multimodal().eval()
    users = torch.arange(20) % N_USERS
    items = (torch.arange(20) * 3) % N_ITEMS
    with torch.no_grad():
        big = model(users, items).purchase
        small = torch.cat([model(users[k:k + 2], items[k:k + 2]).purchase for k in range(0, 20, 2)])
    torch.testing.assert_close(big, small, rtol=1e-5, atol=1e-6)


def test_content_only_model_scores_new_items():
    model = _multimodal(use_item_ids=False).eval()
    assert model.item_embedding is None
    new_images, new_text = torch.rand(2, 1, 16, 16), torch.rand(2, 11)
    with torch.no_grad():
        out = model(torch.tensor([0, 1]), images=new_images, text=new_text)
        # a catalogue item given as "new" content scores exactly like the catalogue item
        as_new = model(torch.tensor([3]), images=model.item_images[[5]], text=model.item_text[[5]])
        as_known = model(torch.tensor([3]), torch.tensor([5]))
    assert out.purchase.shape == (2,)
    torch.testing.assert_close(as_new.purchase, as_known.purchase)
    assert model.item_vectors(images=new_images, text=new_text).shape == (2, 6)
    assert model.item_vectors().shape == (N_ITEMS, 6)


def test_gradient_reaches_the_input_images():
    # what the book's variable-importance chapter needs: d score / d pixel
    model = _multimodal().eval()
    items = torch.tensor([1, 2])
    images = model.item_images[items].clone().requires_grad_(True)
    model(torch.tensor([0, 0]), items, images=images).purchase.sum().backward()
    assert images.grad.shape == (2, 1, 16, 16) and images.grad.abs().sum() > 0


def test_interest_softmax_over_candidates():
    model = _multimodal().eval()
    with torch.no_grad():
        distribution = torch.softmax(model.score_all(torch.tensor([0, 3])), dim=1)
    torch.testing.assert_close(distribution.sum(dim=1), torch.ones(2))


@pytest.mark.parametrize("build, argument", [
    (lambda: MatrixFactorization(0, 3), "n_users"),
    (lambda: MatrixFactorization(2, 3, dim=2.5), "dim"),
    (lambda: NeuMF(2, 3, init_std=0), "init_std"),
    (lambda: NeuMF(2, 3, dropout=1.0), "dropout"),
    (lambda: NeuMF(2, 3, hidden=(4, 0)), "hidden"),
    (lambda: MultimodalRecommender(N_USERS, N_ITEMS, images=torch.rand(N_ITEMS, 16, 16)), "images"),
    (lambda: MultimodalRecommender(N_USERS, N_ITEMS, images=torch.rand(6, 1, 16, 16)), "images"),
    (lambda: MultimodalRecommender(N_USERS, N_ITEMS, images=torch.rand(N_ITEMS, 1, 3, 3)), "pooled_size"),
    (lambda: MultimodalRecommender(N_USERS, N_ITEMS, text=torch.rand(N_ITEMS)), "text"),
    (lambda: MultimodalRecommender(N_USERS, N_ITEMS, text=torch.full((N_ITEMS, 3), float("nan"))), "text"),
    (lambda: MultimodalRecommender(N_USERS, N_ITEMS, use_item_ids=False), "use_item_ids"),
    (lambda: ImageTower(channels=(4, 8, 16)), "channels"),
    (lambda: _multimodal().score_all(torch.tensor([0]), head="click"), "head"),
])
def test_bad_constructor_arguments_are_named(build, argument):
    with pytest.raises((ValueError, TypeError), match=argument):
        build()


def test_encoding_distinct_items_once_gives_the_per_row_gradients():
    # the speed-up of the multimodal model (each distinct item of a batch through the CNN once)
    # must not change what training sees: the same loss and the same gradients as encoding every row
    users, items = torch.tensor([0, 1, 2, 3, 4, 0, 1]), torch.tensor([3, 3, 6, 0, 3, 6, 1])
    grads = []
    for per_row in (False, True):
        model = _multimodal()
        content = dict(images=model.item_images[items], text=model.item_text[items]) if per_row else {}
        out = model(users, items, **content)
        (out.purchase.sum() + out.interest.sum()).backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters()})
    for key, value in grads[0].items():
        torch.testing.assert_close(value, grads[1][key], rtol=1e-5, atol=1e-6, msg=key)
