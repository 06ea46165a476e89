"""Normalisation, dropout, embedding, containers, loss modules and module buffers (issue 11)."""

import numpy as np
import pytest

import autodiff as ad
from autodiff.testing import check_grads

RNG = np.random.default_rng(3)


def naive_batch_norm_step(x, running_mean, running_var, momentum, eps=1e-5):
    """Ioffe and Szegedy's Algorithm 1 per channel, and torch's running update (unbiased)."""
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // x.shape[1]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    return y, new_mean, new_var


@pytest.mark.parametrize("layer, shape", [(ad.nn.BatchNorm2d, (4, 3, 5, 5)),
                                          (ad.nn.BatchNorm1d, (6, 3)),
                                          (ad.nn.BatchNorm1d, (6, 3, 4))])
def test_batch_norm_train_and_eval_against_naive(layer, shape):
    bn = layer(3)
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = RNG.normal(2.0, 3.0, size=shape)
        expected, mean, var = naive_batch_norm_step(x, mean, var, 0.1)
        np.testing.assert_allclose(bn(x).value, expected, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean, mean)
    np.testing.assert_allclose(bn.running_var, var)
    assert int(bn.num_batches_tracked) == 3
    bn.eval()
    x = RNG.normal(size=shape)
    stats = (1, -1) + (1,) * (len(shape) - 2)
    np.testing.assert_allclose(bn(x).value, (x - mean.reshape(stats)) / np.sqrt(var.reshape(stats)
                                                                          + 1e-5))
    assert int(bn.num_batches_tracked) == 3  # eval never updates


def test_batch_norm_cumulative_average_with_momentum_none():
    bn = ad.nn.BatchNorm1d(2, momentum=None)
    batches = [RNG.normal(size=(5, 2)) for _ in range(4)]
    for x in batches:
        bn(x)
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean(axis=0) for x in batches], 0))


def test_running_statistics_never_update_inside_transforms():
    bn = ad.nn.BatchNorm2d(2)
    model = ad.nn.Sequential(ad.nn.Conv2d(1, 2, 3, rng=0), bn)
    x = RNG.normal(size=(3, 1, 5, 5))
    params = {name: p.value for name, p in model.named_parameters()}
    loss = lambda p: np.sum(ad.nn.functional_call(model, p, x) ** 2)  # noqa: E731
    ad.grad(loss)(params)
    ad.hvp(loss, params, params)
    ad.jacfwd(lambda v: bn(v), chunk_size=7)(RNG.normal(size=(3, 2, 2, 2)))
    check_grads(lambda v: bn(v), RNG.normal(size=(3, 2, 2, 2)), order=1)
    assert int(bn.num_batches_tracked) == 0
    np.testing.assert_array_equal(bn.running_mean, np.zeros(2))
    model(x)  # one plain call: one update
    assert int(bn.num_batches_tracked) == 1


def test_batch_norm_statistics_come_from_primals_of_a_tape_value():
    bn = ad.nn.BatchNorm1d(2)
    x = ad.Var(RNG.normal(size=(4, 2)))
    np.sum(bn(x) ** 3).backward()
    assert type(bn.running_mean) is np.ndarray and x.grad.shape == (4, 2)


def composed_batch_norm(x, weight, bias, eps=1e-5):
    """Batch normalisation written with NumPy calls on traced values (the nine-node graph the
    fused primitive replaces): an independent route to its value and derivatives."""
    axes = (0,) + tuple(range(2, np.ndim(x)))
    shape = (1, -1) + (1,) * (np.ndim(x) - 2)
    centred = x - np.mean(x, axis=axes, keepdims=True)
    scale = 1.0 / np.sqrt(np.mean(centred ** 2, axis=axes, keepdims=True) + eps)
    return centred * scale * np.reshape(weight, shape) + np.reshape(bias, shape)


@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (7, 3), (5, 3, 4)])
@pytest.mark.parametrize("wanted", [(0, 1, 2), (0,), (1, 2)])
def test_fused_batch_norm_gradients_equal_the_composed_graph(shape, wanted):
    # ad.grad's cotangent is a plain array: the in-place VJP on arrays; jacrev pulls a batch of
    # cotangents: the rule written with primitives.  Both against the composed graph's.
    from autodiff.rules.normalization import batch_norm
    x = RNG.normal(3.0, 2.0, size=shape)
    weight, bias = RNG.normal(size=3), RNG.normal(size=3)
    probe = RNG.normal(size=shape)

    def loss(fn):
        return lambda *args: np.sum(np.tanh(fn(*args)) * probe)

    fused = ad.grad(loss(batch_norm), argnums=wanted)(x, weight, bias)
    composed = ad.grad(loss(composed_batch_norm), argnums=wanted)(x, weight, bias)
    for ours, reference in zip(fused, composed):
        np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-12)
    jac = ad.jacrev(batch_norm, argnums=wanted)(x, weight, bias)
    jac_composed = ad.jacrev(composed_batch_norm, argnums=wanted)(x, weight, bias)
    for ours, reference in zip(jac, jac_composed):
        np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-12)


def test_fused_batch_norm_second_order_and_float32():
    from autodiff.rules.normalization import batch_norm
    x, weight, bias = RNG.normal(size=(5, 2, 3)), RNG.normal(size=2), RNG.normal(size=2)
    v = RNG.normal(size=x.shape)
    f = lambda z: np.sum(batch_norm(z, weight, bias) ** 3)  # noqa: E731
    g = lambda z: np.sum(composed_batch_norm(z, weight, bias) ** 3)  # noqa: E731
    np.testing.assert_allclose(ad.hvp(f, x, v), ad.hvp(g, x, v), rtol=1e-9, atol=1e-10)
    x32 = x.astype(np.float32)
    y = batch_norm(x32, weight.astype(np.float32), bias.astype(np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, composed_batch_norm(x, weight, bias), atol=1e-5)
    grads = ad.grad(lambda z: np.sum(batch_norm(z) * v.astype(np.float32)))(x32)
    assert grads.dtype == np.float32


def test_batch_norm_layer_hands_its_statistics_to_the_primitive():
    # the running update's statistics are the primitive's: the layer's output and gradients
    # equal the functional form without running statistics, bit for bit
    bn = ad.nn.BatchNorm2d(3)
    bn.weight.value, bn.bias.value = RNG.normal(size=3), RNG.normal(size=3)
    x = RNG.normal(1.0, 2.0, size=(4, 3, 3, 3))
    probe = RNG.normal(size=x.shape)
    xv = ad.Var(x)
    np.sum(bn(xv) * probe).backward()
    expected = ad.grad(lambda z, w, b: np.sum(ad.nn.functional.batch_norm(
        z, weight=w, bias=b, training=True) * probe), argnums=(0, 1, 2))(
        x, bn.weight.value, bn.bias.value)
    for ours, reference in zip((xv.grad, bn.weight.grad, bn.bias.grad), expected):
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-14)
    assert int(bn.num_batches_tracked) == 1


def test_eval_batch_norm_differentiates_through_traced_running_statistics():
    # functional_call may hand the buffers in as traced values (a state_dict under a
    # transform): eval mode's affine map is written with primitives on them
    bn = ad.nn.BatchNorm2d(3).eval()
    bn.weight.value, bn.bias.value = RNG.normal(size=3), RNG.normal(size=3)
    mean, var = RNG.normal(size=3), RNG.uniform(0.5, 2.0, 3)
    x = RNG.normal(size=(2, 3, 2, 2))
    check_grads(lambda m, v: ad.nn.functional_call(bn, {"running_mean": m, "running_var": v}, x),
                (mean, var), order=2)
    y = ad.nn.functional_call(bn, {"running_mean": mean, "running_var": var}, x)
    expected = ((x - mean.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5)
                * bn.weight.value.reshape(1, 3, 1, 1) + bn.bias.value.reshape(1, 3, 1, 1))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make, shape", [
    (lambda: ad.nn.BatchNorm2d(2), (3, 2, 2, 2)),
    (lambda: ad.nn.BatchNorm1d(3), (4, 3)),
    (lambda: ad.nn.BatchNorm1d(3).eval(), (4, 3)),
    (lambda: ad.nn.LayerNorm((2, 3)), (2, 2, 3)),
    (lambda: ad.nn.Dropout(0.3, rng=0), (3, 4)),
], ids=["bn2d", "bn1d", "bn1d-eval", "layernorm", "dropout"])
def test_layers_check_grads_order_two(make, shape):
    layer = make()
    for p in layer.parameters():  # not the trivial ones and zeros
        p.value = RNG.normal(size=p.value.shape)
    x = RNG.normal(size=shape)
    params = {name: p.value for name, p in layer.named_parameters()}
    if params:
        check_grads(lambda x_, p: ad.nn.functional_call(layer, p, x_), (x, params), order=2)
    else:
        check_grads(layer, x, order=2)


def test_batch_norm_and_layer_norm_equal_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs, shape in [(ad.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3), (4, 3, 5, 5)),
                                (ad.nn.BatchNorm1d(3, momentum=None),
                                 torch.nn.BatchNorm1d(3, momentum=None), (6, 3))]:
        theirs = theirs.double()
        ours.weight.value, ours.bias.value = RNG.normal(size=3), RNG.normal(size=3)
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(ours.weight.value))
            theirs.bias.copy_(torch.tensor(ours.bias.value))
        for _ in range(3):
            x = RNG.normal(1.0, 2.0, size=shape)
            np.testing.assert_allclose(ours(x).value,
                                       theirs(torch.tensor(x)).detach().numpy(), atol=1e-12)
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy())
        ours.eval(), theirs.eval()
        x = RNG.normal(size=shape)
        np.testing.assert_allclose(ours(x).value, theirs(torch.tensor(x)).detach().numpy(),
                                   atol=1e-12)
    ln, tln = ad.nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4)).double()
    x = RNG.normal(size=(2, 3, 4))
    np.testing.assert_allclose(ln(x).value, tln(torch.tensor(x)).detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: ad.nn.BatchNorm2d(3)(np.zeros((2, 4, 3, 3))), r"BatchNorm2d\(3\) expects input"),
    (lambda: ad.nn.BatchNorm2d(3)(np.zeros((2, 3, 3))), r"\(N, C, H, W\)"),
    (lambda: ad.nn.BatchNorm1d(3)(np.zeros((1, 3))), "more than 1 value per channel"),
    (lambda: ad.nn.LayerNorm(4)(np.zeros((2, 3))), r"LayerNorm\(4,\) expects input"),
    (lambda: ad.nn.Dropout(1.0), "dropout probability"),
    (lambda: ad.nn.Dropout(-0.1), "dropout probability"),
    (lambda: ad.nn.BatchNorm1d(0), "num_features"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_state_dict_save_load_and_to_include_buffers(tmp_path):
    model = ad.nn.Sequential(ad.nn.Linear(3, 2, rng=0), ad.nn.BatchNorm1d(2))
    model(RNG.normal(size=(5, 3)))
    state = model.state_dict()
    assert {"1.running_mean", "1.running_var", "1.num_batches_tracked"} <= set(state)
    ad.nn.save(model, tmp_path / "m.npz")
    copy = ad.nn.Sequential(ad.nn.Linear(3, 2, rng=1), ad.nn.BatchNorm1d(2))
    ad.nn.load(copy, tmp_path / "m.npz")
    np.testing.assert_array_equal(copy[1].running_var, model[1].running_var)
    assert int(copy[1].num_batches_tracked) == 1
    copy.to(np.float32)
    assert copy[1].running_mean.dtype == np.float32
    assert copy[1].num_batches_tracked.dtype == np.int64
    with pytest.raises(ValueError, match="buffer has shape"):
        copy.load_state_dict({**state, "1.running_mean": np.zeros(3)})


def test_fit_restores_the_best_state_with_buffers():
    X = RNG.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = ad.nn.Sequential(ad.nn.Linear(3, 4, rng=0), ad.nn.BatchNorm1d(4), ad.nn.ReLU(),
                             ad.nn.Linear(4, 2, rng=1))
    optimizer = ad.optim.SGD(model.parameters(), lr=5.0)  # diverges: the best epoch is early
    loader = ad.nn.DataLoader(X, y, batch_size=10, rng=0)
    history = ad.nn.fit(model, ad.nn.functional.cross_entropy, optimizer, loader,
                        val_data=(X, y), epochs=6, early_stopping_patience=2, progress=False)
    assert int(model[1].num_batches_tracked) == 4 * (history.best_epoch + 1)


# ----------------------------------------------------------------------------------------------
# dropout
# ----------------------------------------------------------------------------------------------


def test_dropout_inverted_scaling_seeded_and_identity_in_eval():
    x = np.ones((200, 50))
    a, b = ad.nn.Dropout(0.25, rng=4)(x), ad.nn.Dropout(0.25, rng=4)(x)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 1 / 0.75}
    assert abs((a == 0).mean() - 0.25) < 0.02
    drop = ad.nn.Dropout(0.25, rng=4)
    assert not np.array_equal(drop(x), drop(x))  # one new mask per plain call
    np.testing.assert_array_equal(drop.eval()(x), x)


def test_dropout_mask_is_held_inside_a_transform_call():
    drop = ad.nn.Dropout(0.5, rng=0)
    x = RNG.normal(size=(6, 5))
    jacobian = ad.jacfwd(drop, chunk_size=4)(x)  # eight passes over the function
    first_draw = 2.0 * (np.random.default_rng(0).random((6, 5)) >= 0.5)
    np.testing.assert_array_equal(jacobian.reshape(30, 30), np.diag(first_draw.ravel()))
    with ad.nn.hold_module_state():
        held = drop(x)
        np.testing.assert_array_equal(drop(x), held)
    assert not np.array_equal(held, x * first_draw)  # a new scope, a new mask


# ----------------------------------------------------------------------------------------------
# embedding, containers, losses
# ----------------------------------------------------------------------------------------------


def test_embedding_lookup_gradient_and_padding():
    table = ad.nn.Embedding(5, 3, padding_idx=0, rng=0)
    np.testing.assert_array_equal(table.weight.value[0], np.zeros(3))
    ids = np.array([[0, 2], [2, 4]])
    out = table(ids)
    np.testing.assert_array_equal(out.value, table.weight.value[ids])
    np.sum(out * 2.0).backward()
    np.testing.assert_array_equal(table.weight.grad[:, 0], [0.0, 0.0, 4.0, 0.0, 2.0])
    with pytest.raises(IndexError, match="ids must lie in 0 .. 4"):
        table(np.array([5]))
    plain = ad.nn.Embedding(5, 3, rng=0)  # (the padding row's gradient is zero on purpose)
    check_grads(lambda w: ad.nn.functional_call(plain, {"weight": w}, ids),
                RNG.normal(size=(5, 3)), order=2)


def test_module_list_and_dict_register_their_members():
    layers = ad.nn.ModuleList([ad.nn.Linear(2, 2, rng=i) for i in range(2)])
    layers.append(ad.nn.Linear(2, 1, rng=3))
    heads = ad.nn.ModuleDict({"a": ad.nn.Linear(1, 1, rng=0)})
    heads["b"] = ad.nn.Tanh()
    holder = ad.nn.Sequential(ad.nn.Identity())
    holder.blocks, holder.heads = layers, heads
    names = [name for name, _ in holder.named_parameters()]
    assert names == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
                     "blocks.2.weight", "blocks.2.bias", "heads.a.weight", "heads.a.bias"]
    assert len(layers) == 3 and len(layers[1:]) == 2 and list(heads) == ["a", "b"]
    del layers[0]
    assert [name for name, _ in layers.named_parameters()][0] == "0.weight"
    with pytest.raises(KeyError, match="attribute"):
        heads["train"] = ad.nn.Tanh()
    with pytest.raises(TypeError, match="holds modules"):
        layers.append(3)


def test_loss_modules_equal_torch():
    torch = pytest.importorskip("torch")
    logits, labels = RNG.normal(size=(5, 4)), RNG.integers(0, 4, 5)
    weight = RNG.uniform(0.5, 2.0, 4)
    for reduction in ("mean", "sum", "none"):
        for w in (None, weight):
            for smoothing in (0.0, 0.2):
                ours = ad.nn.CrossEntropyLoss(w, reduction, smoothing)(logits, labels)
                theirs = torch.nn.CrossEntropyLoss(
                    None if w is None else torch.tensor(w), reduction=reduction,
                    label_smoothing=smoothing)(torch.tensor(logits), torch.tensor(labels))
                np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)
            log_p = ad.nn.functional.log_softmax(logits)
            theirs = torch.nn.NLLLoss(None if w is None else torch.tensor(w),
                                      reduction=reduction)(torch.tensor(log_p),
                                                           torch.tensor(labels))
            np.testing.assert_allclose(ad.nn.NLLLoss(w, reduction)(log_p, labels),
                                       theirs.numpy(), rtol=1e-12)


def test_weighted_smoothed_cross_entropy_by_hand_and_gradients():
    logits, labels = RNG.normal(size=(3, 4)), np.array([0, 3, 3])
    weight = np.array([1.0, 2.0, 0.5, 3.0])
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    eps = 0.1
    per_sample = ((1 - eps) * -weight[labels] * log_p[np.arange(3), labels]
                  + eps / 4 * -(weight * log_p).sum(axis=1))
    loss = ad.nn.CrossEntropyLoss(weight, label_smoothing=eps)
    np.testing.assert_allclose(loss(logits, labels), per_sample.sum() / weight[labels].sum())
    check_grads(lambda z: loss(z, labels), logits, order=2)
    assert np.isclose(ad.nn.MSELoss("sum")(np.ones(3), np.zeros(3)), 3.0)
    assert "weight" in loss.state_dict()
