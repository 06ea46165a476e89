"""Convolution and pooling (issue 11): values against naive loops (always) and PyTorch (when
installed), derivatives of order 2 in both modes, ties, bad input."""

import itertools

import numpy as np
import pytest

import autodiff as ad
from autodiff.rules.convolution import col2im, im2col
from autodiff.testing import check_grads

F = ad.nn.functional
RNG = np.random.default_rng(7)


# ----------------------------------------------------------------------------------------------
# naive references: one output entry at a time
# ----------------------------------------------------------------------------------------------


def naive_pad(x, pad, mode):
    """``x`` (N, C, *S) padded by ``pad`` per spatial axis, as torch's padding modes."""
    numpy_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
                  "circular": "wrap"}[mode]
    return np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in pad), mode=numpy_mode)


def naive_conv(x, w, b, stride, pad, dilation, groups, mode="zeros"):
    """Cross-correlation by loops over every output entry (1-D or 2-D)."""
    d = w.ndim - 2
    xp = naive_pad(x, pad, mode)
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    kernel = w.shape[2:]
    out_size = [(xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                for i in range(d)]
    y = np.zeros((n, o, *out_size))
    per_group = o // groups
    for sample, out_channel in itertools.product(range(n), range(o)):
        group = out_channel // per_group
        for position in itertools.product(*(range(s) for s in out_size)):
            total = 0.0 if b is None else b[out_channel]
            for channel in range(cg):
                for tap in itertools.product(*(range(k) for k in kernel)):
                    source = tuple(position[i] * stride[i] + tap[i] * dilation[i]
                                   for i in range(d))
                    total += (w[(out_channel, channel) + tap]
                              * xp[(sample, group * cg + channel) + source])
            y[(sample, out_channel) + position] = total
    return y


def naive_pool(x, kernel, stride, pad, reduce, fill):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    out = [(xp.shape[2 + i] - kernel) // stride + 1 for i in range(2)]
    y = np.zeros(x.shape[:2] + tuple(out))
    for i, j in itertools.product(range(out[0]), range(out[1])):
        window = xp[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
        y[:, :, i, j] = reduce(window, axis=(2, 3))
    return y


CONV2D_CASES = {
    # name: (in, out, kernel, stride, padding, dilation, groups, padding_mode, spatial)
    "plain": (3, 4, 3, 1, 0, 1, 1, "zeros", (7, 6)),
    "strided-padded": (2, 3, (3, 2), (2, 1), (1, 2), 1, 1, "zeros", (8, 7)),
    "dilated": (2, 2, 3, 1, 2, (2, 1), 1, "zeros", (7, 7)),
    "groups": (4, 6, 3, 1, 1, 1, 2, "zeros", (6, 5)),
    "depthwise": (3, 3, 3, 2, 1, 1, 3, "zeros", (7, 7)),
    "same": (2, 3, 4, 1, "same", 2, 1, "zeros", (7, 6)),
    "reflect": (2, 3, 3, 1, 2, 1, 1, "reflect", (5, 6)),
    "replicate": (2, 2, 3, 2, 1, 1, 1, "replicate", (6, 5)),
    "circular": (2, 2, 3, 1, (2, 1), 1, 1, "circular", (5, 5)),
}


def make_conv2d(name, rng=0):
    cin, cout, k, s, p, d, g, mode, spatial = CONV2D_CASES[name]
    layer = ad.nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g,
                         padding_mode=mode, rng=rng)
    return layer, RNG.normal(size=(2, cin) + spatial)


def _pair_padding(layer):
    if layer.padding != "same":
        return layer.padding
    totals = [r * (k - 1) for k, r in zip(layer.kernel_size, layer.dilation)]
    assert all(t % 2 == 0 for t in totals)  # symmetric cases only in this table
    return tuple(t // 2 for t in totals)


@pytest.mark.parametrize("name", sorted(CONV2D_CASES))
def test_conv2d_equals_naive_loops(name):
    layer, x = make_conv2d(name)
    expected = naive_conv(x, layer.weight.value, layer.bias.value, layer.stride,
                          _pair_padding(layer), layer.dilation, layer.groups, layer.padding_mode)
    np.testing.assert_allclose(layer(x).value, expected, rtol=1e-12, atol=1e-12)


def test_conv1d_equals_naive_loops():
    layer = ad.nn.Conv1d(4, 2, 3, stride=2, padding=2, dilation=2, groups=2, rng=3)
    x = RNG.normal(size=(3, 4, 11))
    expected = naive_conv(x, layer.weight.value, layer.bias.value, (2,), (2,), (2,), 2)
    np.testing.assert_allclose(layer(x).value, expected, rtol=1e-12, atol=1e-12)


def test_unbatched_input_and_no_bias():
    layer = ad.nn.Conv2d(2, 3, 3, bias=False, rng=0)
    x = RNG.normal(size=(2, 5, 5))
    np.testing.assert_allclose(layer(x).value, layer(x[None]).value[0])
    assert layer.bias is None


@pytest.mark.parametrize("name", ["strided-padded", "dilated", "groups", "reflect", "circular"])
def test_conv2d_check_grads_order_two(name):
    layer, x = make_conv2d(name)
    params = {key: p.value for key, p in layer.named_parameters()}
    check_grads(lambda x_, p: ad.nn.functional_call(layer, p, x_), (x, params), order=2)


def test_conv1d_check_grads_order_two():
    layer = ad.nn.Conv1d(2, 4, 3, padding=1, groups=2, padding_mode="reflect", rng=1)
    params = {key: p.value for key, p in layer.named_parameters()}
    x = RNG.normal(size=(2, 2, 6))
    check_grads(lambda x_, p: ad.nn.functional_call(layer, p, x_), (x, params), order=2)


def test_conv_hessian_forward_and_reverse_agree():
    x = RNG.normal(size=(2, 2, 5, 5))

    def loss(w):
        return np.sum(np.tanh(F.conv2d(x, w, padding=1, stride=2)) ** 2)

    w = RNG.normal(size=(3, 2, 3, 3))
    np.testing.assert_allclose(ad.hessian(loss)(w), ad.jacrev(ad.grad(loss))(w), atol=1e-12)


def test_im2col_and_col2im_are_transposes():
    params = dict(kernel=(2, 3), stride=(2, 1), dilation=(1, 2), padding=((1, 0), (2, 2)))
    x = RNG.normal(size=(2, 3, 6, 5))
    columns = im2col(x, **params)
    u = RNG.normal(size=columns.shape)
    assert np.isclose(np.sum(u * columns), np.sum(col2im(u, (6, 5), **params) * x))


def test_col2im_follows_the_memory_order_of_its_input():
    """Channels-before-samples columns (a transposed product's layout) add into an array of
    that layout: the same values as from C-order columns, and no transposing pass."""
    params = dict(kernel=(3, 3), stride=(1, 1), dilation=(1, 1), padding=((1, 1), (1, 1)))
    u = RNG.normal(size=(4, 2, 5, 6, 3, 3))
    transposed = np.ascontiguousarray(u.transpose(1, 4, 5, 0, 2, 3)).transpose(3, 0, 4, 5, 1, 2)
    out = col2im(transposed, (5, 6), **params)
    np.testing.assert_array_equal(out, col2im(u, (5, 6), **params))
    assert out.strides[1] > out.strides[0]  # channels outermost in memory, as the input


def test_a_cnn_step_copies_no_array_for_the_tape(monkeypatch):
    """The unfolded input of a constant image batch, the transposing reshape copies and ReLU's
    output are arrays of their own that the tape freezes and shares: kept_for_backward never
    copies (it used to copy the unfolded input of the first layer, the input of every
    pooling layer and the flattened features, about 40 % more memory per LeNet-5 step)."""
    from autodiff.reverse import var

    copied = []
    kept = var.kept_for_backward

    def counting(value):
        result = kept(value)
        if result is not value:
            copied.append(value.shape)
        return result

    monkeypatch.setattr(var, "kept_for_backward", counting)
    model = ad.nn.Sequential(ad.nn.Conv2d(1, 4, 3, padding=1, rng=0), ad.nn.ReLU(),
                             ad.nn.MaxPool2d(2), ad.nn.Conv2d(4, 6, 3, rng=1), ad.nn.ReLU(),
                             ad.nn.MaxPool2d(2), ad.nn.Flatten(), ad.nn.Linear(24, 10, rng=2))
    x = RNG.normal(size=(8, 1, 12, 12))
    F.cross_entropy(model(x), np.arange(8)).backward()
    assert copied == []
    assert x.flags.writeable  # the caller's array is not frozen


def test_reshape_copies_into_an_array_of_its_own():
    from autodiff.rules.shapes import reshape

    x = np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1)
    for shape in [(-1,), (2, -1, 3), (24,)]:
        out = reshape(x, shape)
        np.testing.assert_array_equal(out, np.reshape(x, shape))
        assert out.flags.owndata and not np.shares_memory(out, x)
    view = reshape(x, (4, 6))  # merges axes of one stride pattern: still a view
    assert np.shares_memory(view, x)


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------


def test_max_pool_overlapping_equals_naive():
    x = RNG.normal(size=(2, 3, 7, 6))
    np.testing.assert_allclose(F.max_pool2d(x, 3, stride=2, padding=1),
                               naive_pool(x, 3, 2, 1, np.max, -np.inf))


def test_avg_pool_overlapping_equals_naive():
    x = RNG.normal(size=(2, 3, 7, 6))
    np.testing.assert_allclose(F.avg_pool2d(x, 3, stride=2, padding=1),
                               naive_pool(x, 3, 2, 1, np.mean, 0.0))


def test_adaptive_avg_pool_bins():
    x = RNG.normal(size=(1, 2, 5, 7))
    y = F.adaptive_avg_pool2d(x, (2, 3))
    # torch's bins: rows [0, 3), [2, 5); columns [0, 3), [2, 5), [4, 7)
    assert np.isclose(y[0, 1, 1, 2], x[0, 1, 2:5, 4:7].mean())
    assert np.isclose(y[0, 0, 0, 1], x[0, 0, 0:3, 2:5].mean())
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1)[..., 0, 0], x.mean(axis=(2, 3)))


def test_max_pool_ties_split_the_gradient_evenly():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 1, 1] = -1.0  # three tied maxima (0) and one smaller entry
    g = ad.grad(lambda v: np.sum(F.max_pool2d(v, 2)))(x)
    np.testing.assert_allclose(g[0, 0], [[1 / 3, 1 / 3], [1 / 3, 0.0]])


def test_max_pool_ties_split_evenly_in_forward_mode_too():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 1, 1] = -1.0
    _, tangent = ad.jvp(lambda v: F.max_pool2d(v, 2), x, np.ones_like(x) * [[1.0, 2.0], [3.0, 9.0]])
    np.testing.assert_allclose(tangent[0, 0], [[(1.0 + 2.0 + 3.0) / 3]])


def test_float32_stays_float32_through_conv_and_pool():
    x = RNG.normal(size=(2, 1, 8, 8)).astype(np.float32)
    w = RNG.normal(size=(3, 1, 3, 3)).astype(np.float32)
    b = np.zeros(3, np.float32)

    def loss(x, w, b):
        return np.sum(F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=1)), 2))

    assert F.max_pool2d(F.conv2d(x, w, b), 2).dtype == np.float32
    assert all(g.dtype == np.float32 for g in ad.grad(loss, argnums=(0, 1, 2))(x, w, b))


@pytest.mark.parametrize("settings", [
    dict(kernel_size=2), dict(kernel_size=(2, 3), stride=(3, 2)), dict(kernel_size=(1, 3)),
    dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1, dilation=2),
], ids=["tiled", "tiled-ragged", "tiled-rectangular", "overlapping-padded", "dilated"])
def test_max_pool_gradient_on_arrays_equals_the_weights_rule(settings):
    # ad.grad's plain cotangent takes the in-place VJP (per-offset hits, g / count written or
    # added back); jacrev's batched cotangents take the rule with the tie weights.  Ties drawn
    # on purpose (integer values), a layout with channels outside (a convolution's output).
    x = RNG.integers(0, 3, size=(3, 2, 7, 6)).astype(float).transpose(1, 0, 2, 3)
    probe = RNG.normal(size=F.max_pool2d(x, **settings).shape)
    fast = ad.grad(lambda v: np.sum(F.max_pool2d(v, **settings) * probe))(x)
    jacobian = ad.jacrev(lambda v: F.max_pool2d(v, **settings))(x)
    rule = np.tensordot(probe, jacobian, axes=probe.ndim)
    np.testing.assert_allclose(fast, rule, rtol=1e-14, atol=1e-15)


def test_max_pool_overlap_collects_from_each_window():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    g = ad.grad(lambda v: np.sum(F.max_pool2d(v, 2, stride=1)))(x)
    expected = np.zeros((4, 4))
    expected[1:, 1:] = 1.0  # each window's max is its bottom-right entry
    np.testing.assert_allclose(g[0, 0], expected)


@pytest.mark.parametrize("pool", [
    lambda v: F.max_pool2d(v, 3, stride=2, padding=1),
    lambda v: F.max_pool2d(v, 2, stride=1, dilation=2),
    lambda v: F.avg_pool2d(v, 3, stride=2, padding=1, count_include_pad=False),
    lambda v: F.adaptive_avg_pool2d(v, (4, 3)),
], ids=["max", "max-dilated", "avg", "adaptive"])
def test_pooling_check_grads_order_two(pool):
    x = RNG.permutation(72).reshape(2, 2, 6, 3).astype(float) / 10  # no ties
    check_grads(pool, x, order=2)


def test_pooling_layers():
    x = RNG.normal(size=(2, 3, 6, 6))
    np.testing.assert_allclose(ad.nn.MaxPool2d(2)(x), F.max_pool2d(x, 2))
    np.testing.assert_allclose(ad.nn.AvgPool2d(3, stride=1)(x), F.avg_pool2d(x, 3, 1))
    np.testing.assert_allclose(ad.nn.AdaptiveAvgPool2d(1)(x), F.adaptive_avg_pool2d(x, 1))


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, message", [
    (lambda: ad.nn.Conv2d(3, 4, 3)(np.zeros((3, 5))), "Conv2d expects input of shape"),
    (lambda: ad.nn.Conv2d(3, 4, 3)(np.zeros((2, 2, 5, 5))), "expects 3 input channels"),
    (lambda: ad.nn.Conv2d(1, 1, 5)(np.zeros((1, 1, 4, 6))), "larger than the padded input"),
    (lambda: ad.nn.Conv2d(1, 1, 3, stride=0), "stride must be a positive integer"),
    (lambda: ad.nn.Conv2d(1, 1, 3, stride=(1, -2)), "stride must be a positive integer"),
    (lambda: ad.nn.Conv2d(1, 1, 3, stride=2, padding="same"), "not supported for strided"),
    (lambda: ad.nn.Conv2d(2, 3, 3, groups=2), "divisible by groups"),
    (lambda: ad.nn.Conv2d(1, 1, 3, padding=-1), "padding must be a non-negative"),
    (lambda: ad.nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(np.zeros((1, 1, 3, 3))),
     "too large for padding_mode='reflect'"),
    (lambda: ad.nn.Conv1d(2, 2, 3)(np.zeros((1, 2, 4, 4))), "Conv1d expects input of shape"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 2, 2)), 3), "larger than the padded input"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 4, 4)), 2, stride=0), "stride must be a positive"),
    (lambda: F.avg_pool2d(np.zeros((1, 4, 4)), 3, padding=2), "at most half the kernel"),
    (lambda: ad.nn.MaxPool2d(2)(np.zeros((4, 4))), "max_pool2d expects input of shape"),
])
def test_bad_input_is_a_value_error_naming_layer_and_shape(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------------------------
# PyTorch, same weights (values and gradients)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONV2D_CASES))
def test_conv2d_equals_torch(name):
    torch = pytest.importorskip("torch")
    layer, x = make_conv2d(name)
    cin, cout, k, s, p, d, g, mode, _ = CONV2D_CASES[name]
    reference = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g,
                                padding_mode=mode).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.weight.value))
        reference.bias.copy_(torch.tensor(layer.bias.value))
    xt = torch.from_numpy(x).requires_grad_()
    yt = reference(xt)
    u = RNG.normal(size=tuple(yt.shape))
    (yt * torch.from_numpy(u)).sum().backward()
    xv = ad.Var(x)
    y = layer(xv)
    np.testing.assert_allclose(y.value, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.sum(y * u).backward()
    np.testing.assert_allclose(xv.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, reference.weight.grad.numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, reference.bias.grad.numpy(), rtol=1e-10)


def test_conv1d_equals_torch():
    torch = pytest.importorskip("torch")
    layer = ad.nn.Conv1d(4, 2, 3, stride=2, padding=2, dilation=2, groups=2, rng=3)
    reference = torch.nn.Conv1d(4, 2, 3, stride=2, padding=2, dilation=2, groups=2).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.weight.value))
        reference.bias.copy_(torch.tensor(layer.bias.value))
    x = RNG.normal(size=(3, 4, 11))
    np.testing.assert_allclose(layer(x).value, reference(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ours, theirs", [
    (lambda v: F.max_pool2d(v, 3, 2, 1), lambda t, TF: TF.max_pool2d(t, 3, 2, 1)),
    (lambda v: F.max_pool2d(v, 2, 1, 0, 2), lambda t, TF: TF.max_pool2d(t, 2, 1, 0, 2)),
    (lambda v: F.avg_pool2d(v, 3, 2, 1), lambda t, TF: TF.avg_pool2d(t, 3, 2, 1)),
    (lambda v: F.avg_pool2d(v, 3, 2, 1, count_include_pad=False),
     lambda t, TF: TF.avg_pool2d(t, 3, 2, 1, count_include_pad=False)),
    (lambda v: F.adaptive_avg_pool2d(v, (4, 3)), lambda t, TF: TF.adaptive_avg_pool2d(t, (4, 3))),
], ids=["max", "max-dilated", "avg", "avg-no-pad-count", "adaptive"])
def test_pooling_equals_torch(ours, theirs):
    torch = pytest.importorskip("torch")
    x = RNG.permutation(2 * 3 * 9 * 8).reshape(2, 3, 9, 8) / 7.0  # tie-free
    xt = torch.from_numpy(x).requires_grad_()
    yt = theirs(xt, torch.nn.functional)
    u = RNG.normal(size=tuple(yt.shape))
    (yt * torch.from_numpy(u)).sum().backward()
    value, pullback = ad.vjp(ours, x)
    np.testing.assert_allclose(value, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(pullback(u), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
