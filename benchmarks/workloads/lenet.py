"""One training step of LeNet-5 on 28x28 images (issue 11).

LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: conv 1->6 5x5 (padding 2), pool 2,
conv 6->16 5x5, pool 2, dense 400-120-84-10; batch 64 of 1x28x28 images, float64 and float32.
A step is: forward pass, mean softmax cross-entropy, every gradient, plain SGD update (lr 0.01).
All sides start from the same weights (torch's layouts) and see the same batch; the first two
losses are checked against the hand-written NumPy version (the second one checks the update).

Sides: hand-written NumPy (im2col with ``sliding_window_view`` copied once to ``(C k k, N ho
wo)`` + one matrix product per convolution, col2im by one strided add per kernel offset, max
pooling as the maximum of the four strided corner views: the limit), ``ad.nn`` (``Conv2d``,
``MaxPool2d``, ``Linear``, ``ad.optim.SGD``, ``backward()``) and PyTorch eager.  HIPS autograd has
no convolution of torch's semantics (its ``scipy.signal.convolve`` is a different, much slower
operation), so it has no side here.  Targets (issue 11): within 1.3x of the hand-written NumPy
step and within 2x of PyTorch eager.
"""

from functools import cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..anchors import autodiff_feature
from ..harness import Benchmark, Ratio, Side

NAME = "lenet"
LARGE_ARRAYS = True  # im2col matrices of a few MB
ISOLATION = "workload"  # BLAS-heavy: one OpenBLAS pool for all sides

LR = 0.01
BATCH = 64
NUMPY = "hand-written NumPy im2col"
AD_NN = "ad.nn + ad.optim.SGD"
TORCH = "torch nn + optim.SGD"
SHAPES = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,),
          (10, 84), (10,)]


def initial_weights(dtype, seed=1, shapes=SHAPES):
    """The weights and biases of ``shapes`` (LeNet-5's ten by default), drawn like torch's
    defaults for convolutions and dense layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    params = []
    for weight, bias in zip(shapes[0::2], shapes[1::2]):
        bound = 1.0 / np.sqrt(np.prod(weight[1:]))
        params.append(rng.uniform(-bound, bound, weight).astype(dtype))
        params.append(rng.uniform(-bound, bound, bias).astype(dtype))
    return params


# ----------------------------------------------------------------------------------------------
# the hand-written NumPy step
# ----------------------------------------------------------------------------------------------


def _im2col(x, k, pad):
    """``(C k k, N ho wo)`` columns: the copy reads whole input rows."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(x, (k, k), axis=(2, 3))
    n, c, ho, wo = windows.shape[:4]
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * k * k, n * ho * wo), (ho, wo)


def _col2im(columns, x_shape, k, pad, out_hw):
    """The transpose of ``_im2col``: one strided add per kernel offset."""
    n, c, h, w = x_shape
    ho, wo = out_hw
    blocks = columns.reshape(c, k, k, n, ho, wo)
    dx = np.zeros((c, n, h + 2 * pad, w + 2 * pad), columns.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + ho, j:j + wo] += blocks[:, i, j]
    return dx[:, :, pad:pad + h, pad:pad + w].transpose(1, 0, 2, 3)


def _conv(x, W, b, pad):
    out_channels, _, k, _ = W.shape
    columns, (ho, wo) = _im2col(x, k, pad)
    y = W.reshape(out_channels, -1) @ columns
    y += b[:, None]
    return y.reshape(out_channels, len(x), ho, wo).transpose(1, 0, 2, 3), columns, (ho, wo)


def _conv_backward(dy, x_shape, W, columns, pad, out_hw, need_dx):
    out_channels, _, k, _ = W.shape
    rows = dy.transpose(1, 0, 2, 3).reshape(out_channels, -1)
    dW, db = (rows @ columns.T).reshape(W.shape), rows.sum(axis=1)
    dx = _col2im(W.reshape(out_channels, -1).T @ rows, x_shape, k, pad, out_hw) \
        if need_dx else None
    return dx, dW, db


_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))


def _pool(x):
    """2x2 max pooling as the maximum of the four strided corner views."""
    corners = [x[:, :, i::2, j::2] for i, j in _CORNERS]
    return np.maximum(np.maximum(corners[0], corners[1]),
                      np.maximum(corners[2], corners[3])), corners


def _pool_backward(dout, corners, out):
    hits = [(corner == out).astype(dout.dtype) for corner in corners]
    share = dout / (hits[0] + hits[1] + hits[2] + hits[3])  # ties share evenly, as ad.nn
    n, c, h, w = out.shape
    dx = np.empty((n, c, 2 * h, 2 * w), dout.dtype)
    for (i, j), hit in zip(_CORNERS, hits):
        dx[:, :, i::2, j::2] = hit * share
    return dx


def cross_entropy_gradient(logits, labels, with_loss=False):
    """The gradient of the mean softmax cross-entropy with respect to the logits (``logits`` is
    overwritten), and the loss itself with ``with_loss``."""
    rows = np.arange(len(labels))
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    total = exp.sum(axis=1)
    d = exp / total[:, None]
    d[rows, labels] -= 1
    d /= len(labels)
    if with_loss:
        return np.mean(np.log(total) - logits[rows, labels]), d
    return d


def numpy_gradients(params, X, labels):
    """Loss and gradients of LeNet-5's mean cross-entropy, by hand."""
    W1, b1, W2, b2, W3, b3, W4, b4, W5, b5 = params
    z1, columns1, hw1 = _conv(X, W1, b1, 2)
    p1, corners1 = _pool(np.maximum(z1, 0))
    z2, columns2, hw2 = _conv(p1, W2, b2, 0)
    p2, corners2 = _pool(np.maximum(z2, 0))
    f = p2.reshape(len(X), -1)
    z3 = f @ W3.T + b3
    a3 = np.maximum(z3, 0)
    z4 = a3 @ W4.T + b4
    a4 = np.maximum(z4, 0)
    loss, d = cross_entropy_gradient(a4 @ W5.T + b5, labels, with_loss=True)
    gW5, gb5 = d.T @ a4, d.sum(0)
    d = (d @ W5) * (z4 > 0)
    gW4, gb4 = d.T @ a3, d.sum(0)
    d = (d @ W4) * (z3 > 0)
    gW3, gb3 = d.T @ f, d.sum(0)
    d = _pool_backward((d @ W3).reshape(p2.shape), corners2, p2) * (z2 > 0)
    d, gW2, gb2 = _conv_backward(d, p1.shape, W2, columns2, 0, hw2, True)
    d = _pool_backward(d, corners1, p1) * (z1 > 0)
    _, gW1, gb1 = _conv_backward(d, X.shape, W1, columns1, 2, hw1, False)
    return loss, [gW1, gb1, gW2, gb2, gW3, gb3, gW4, gb4, gW5, gb5]


def _numpy_step(params, X, labels):
    def step():
        loss, grads = numpy_gradients(params, X, labels)
        for p, g in zip(params, grads):
            g *= LR
            p -= g
        return loss

    return step


# ----------------------------------------------------------------------------------------------
# the sides
# ----------------------------------------------------------------------------------------------


def _sides(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, 1, 28, 28)).astype(dtype)
    labels = rng.integers(0, 10, BATCH)

    @cache
    def expect():
        step = _numpy_step(initial_weights(dtype), X, labels)
        return step(), step()

    def numpy_side():
        return _numpy_step(initial_weights(dtype), X, labels)

    def ad_nn():
        nn = autodiff_feature("nn")
        conv = autodiff_feature("nn.Conv2d")
        cross_entropy = autodiff_feature("nn.functional.cross_entropy")
        sgd = autodiff_feature("optim.SGD")
        model = nn.Sequential(
            conv(1, 6, 5, padding=2, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
            conv(6, 16, 5, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120, dtype=dtype), nn.ReLU(), nn.Linear(120, 84, dtype=dtype),
            nn.ReLU(), nn.Linear(84, 10, dtype=dtype))
        for parameter, value in zip(model.parameters(), initial_weights(dtype)):
            parameter.value = value
        optimizer = sgd(model.parameters(), lr=LR)

        def step():
            optimizer.zero_grad()
            loss = cross_entropy(model(X), labels)
            loss.backward()
            optimizer.step()
            return loss.value

        return step

    def torch_side():
        import torch

        nn = torch.nn
        torch_dtype = getattr(torch, np.dtype(dtype).name)
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)).to(torch_dtype)
        with torch.no_grad():
            for parameter, value in zip(model.parameters(), initial_weights(dtype)):
                parameter.copy_(torch.from_numpy(value))
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(labels)

        def step():
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(Xt), yt)
            loss.backward()
            optimizer.step()
            return loss.item()

        return step

    return [
        Side(NUMPY, "numpy", numpy_side, expect, checked_calls=2),
        Side(AD_NN, "autodiff", ad_nn, expect, checked_calls=2),
        Side(TORCH, "torch", torch_side, expect, checked_calls=2),
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    dtypes = (np.float64,) if quick else (np.float64, np.float32)
    return [
        Benchmark(
            f"LeNet-5 step, batch {BATCH}, 1x28x28, {np.dtype(dtype).name}", "11",
            "forward, cross-entropy, backward and SGD update of LeNet-5", NUMPY,
            tuple(_sides(dtype)),
            ratios=(Ratio(AD_NN, NUMPY, 1.3, source="issue 11"),
                    Ratio(AD_NN, TORCH, 2.0, source="issue 11")),
            rtol=1e-9 if dtype == np.float64 else 1e-4,
        )
        for dtype in dtypes
    ]
