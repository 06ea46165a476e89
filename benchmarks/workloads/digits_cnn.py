"""Training a small CNN on the UCI digits until 98 % test accuracy (issue 11).

The network is ``ad.nn.models.digits_cnn`` (``autodiff train --model cnn``) without its dropout,
so that every side computes the same function: conv 1->16 3x3 (padding 1), batch norm, ReLU,
2x2 max pooling, conv 16->32 3x3 (padding 1), batch norm, ReLU, 2x2 max pooling, dense 128-10.
Adam (lr 3e-3, torch's defaults otherwise; the command's default), batch 32, on the stratified
80 % split of the 1797 digits (``train_val_test_split(..., test_fraction=0.2, rng=0)``),
standardised with the training set's statistics.  Every side starts from the same weights
(torch's default initialisation, drawn once), visits the same mini-batches in the same order,
and after every epoch measures the test accuracy in evaluation mode (batch norm's running
statistics); one call trains until that accuracy first reaches 98 % (90 % with ``--quick``) and
returns the accuracies of the epochs run, checked against the NumPy side's (the same epoch
count, each accuracy within one test image).  The time is the wall time of the whole run, the
evaluations included; the notes give the epochs needed.

Sides: hand-written NumPy (im2col and col2im, pooling and the cross-entropy of the ``lenet``
workload, batch normalisation's forward and backward pass written out: Ioffe and Szegedy,
"Batch Normalization", ICML 2015, Algorithm 1 and section 3; the limit), ``ad.nn`` (the
``digits_cnn`` module, ``loss.backward()``, ``ad.optim.Adam``; batch norm's running statistics
keep ``ad.nn.fit`` on the same eager loop) and PyTorch eager.  The issue names no target for
this row; the ratios are reported.
"""

import math
from functools import cache

import numpy as np

from ..anchors import autodiff_feature
from ..harness import Benchmark, Ratio, Side
from . import lenet
from .digits import BETAS, EPS, NumpyAdam, _accuracy, _dataset

NAME = "digits_cnn"
LARGE_ARRAYS = True  # the test set's im2col matrix is 6.6 MB
ISOLATION = "workload"  # BLAS-heavy: one OpenBLAS pool for all sides

BATCH = 32
LR = 3e-3
MAX_EPOCHS = 30
BN_EPS, BN_MOMENTUM = 1e-5, 0.1  # torch's and ad.nn's defaults
CHANNELS = (16, 32)
WEIGHT_SHAPES = [(16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (10, 32 * 2 * 2), (10,)]
NUMPY = "hand-written NumPy im2col + Adam"
AD_NN = "ad.nn (digits_cnn) + ad.optim.Adam"
TORCH = "torch nn + optim.Adam"


def initial_weights():
    """``[conv1 W, b, bn1 gamma, beta, conv2 W, b, bn2 gamma, beta, dense W, b]``: the order of
    ``digits_cnn``'s (and the torch model's) parameters."""
    W1, b1, W2, b2, W3, b3 = lenet.initial_weights(np.float64, shapes=WEIGHT_SHAPES)
    return [W1, b1, np.ones(16), np.zeros(16), W2, b2, np.ones(32), np.zeros(32), W3, b3]


@cache
def _data(epochs):
    """Images ``(N, 1, 8, 8)``, labels, test images and labels, and each epoch's batches."""
    X, y, X_test, y_test, batches = _dataset(epochs, BATCH)
    per_epoch = math.ceil(len(y) / BATCH)
    epochs_batches = [batches[start:start + per_epoch]
                      for start in range(0, len(batches), per_epoch)]
    return X.reshape(-1, 1, 8, 8), y, X_test.reshape(-1, 1, 8, 8), y_test, epochs_batches


# ----------------------------------------------------------------------------------------------
# the hand-written NumPy network
# ----------------------------------------------------------------------------------------------


def _channels(v):
    return v[:, None, None]


def _batch_norm(z, gamma, beta, running):
    """Training mode: the batch's mean and biased variance per channel normalise ``z``; the
    running statistics are updated in place (unbiased variance, as torch)."""
    mean, var = z.mean(axis=(0, 2, 3)), z.var(axis=(0, 2, 3))
    inverse = 1.0 / np.sqrt(var + BN_EPS)
    normalised = (z - _channels(mean)) * _channels(inverse)
    count = z.size // z.shape[1]
    running_mean, running_var = running
    running_mean *= 1.0 - BN_MOMENTUM
    running_mean += BN_MOMENTUM * mean
    running_var *= 1.0 - BN_MOMENTUM
    running_var += BN_MOMENTUM * var * (count / (count - 1))
    return normalised * _channels(gamma) + _channels(beta), (normalised, inverse)


def _batch_norm_backward(dy, gamma, cached):
    """``dz = (1/m) σ⁻¹ (m dx̂ - Σ dx̂ - x̂ Σ dx̂ x̂)`` with ``dx̂ = γ dy`` (sums over the batch
    and the positions of each channel), and the gradients of ``γ`` and ``β``."""
    normalised, inverse = cached
    dgamma, dbeta = (dy * normalised).sum(axis=(0, 2, 3)), dy.sum(axis=(0, 2, 3))
    dnormalised = dy * _channels(gamma)
    count = dy.size // dy.shape[1]
    dz = _channels(inverse / count) * (count * dnormalised - _channels(dbeta * gamma)
                                       - normalised * _channels(dgamma * gamma))
    return dz, dgamma, dbeta


def _block(x, W, b, gamma, beta, running, training):
    """Convolution (padding 1), batch norm, ReLU, 2x2 max pooling; the output and what the
    backward pass needs."""
    z, columns, hw = lenet._conv(x, W, b, 1)
    if training:
        y, norm = _batch_norm(z, gamma, beta, running)
    else:
        mean, var = running
        y, norm = (z - _channels(mean)) / _channels(np.sqrt(var + BN_EPS)) * _channels(gamma) \
            + _channels(beta), None
    pooled, corners = lenet._pool(np.maximum(y, 0.0))
    return pooled, (x.shape, columns, hw, norm, y, corners, pooled)


def _block_backward(dpooled, W, gamma, cached, need_dx):
    x_shape, columns, hw, norm, y, corners, pooled = cached
    d = lenet._pool_backward(dpooled, corners, pooled) * (y > 0)
    d, dgamma, dbeta = _batch_norm_backward(d, gamma, norm)
    dx, dW, db = lenet._conv_backward(d, x_shape, W, columns, 1, hw, need_dx)
    return dx, [dW, db, dgamma, dbeta]


def numpy_logits(params, running, X, training=False):
    """Logits of the network, and what its backward pass needs."""
    W1, b1, g1, be1, W2, b2, g2, be2, W3, b3 = params
    p1, cached1 = _block(X, W1, b1, g1, be1, running[0], training)
    p2, cached2 = _block(p1, W2, b2, g2, be2, running[1], training)
    features = p2.reshape(len(X), -1)
    return features @ W3.T + b3, (cached1, cached2, features, p2.shape)


def numpy_gradients(params, running, X, labels):
    """Gradients of the mean cross-entropy on a training batch (running statistics updated)."""
    logits, (cached1, cached2, features, p2_shape) = numpy_logits(params, running, X, True)
    d = lenet.cross_entropy_gradient(logits, labels)
    W3 = params[8]
    dp1, grads2 = _block_backward((d @ W3).reshape(p2_shape), params[4], params[6], cached2, True)
    _, grads1 = _block_backward(dp1, params[0], params[2], cached1, False)
    return grads1 + grads2 + [d.T @ features, d.sum(0)]


# ----------------------------------------------------------------------------------------------
# the sides
# ----------------------------------------------------------------------------------------------


def _until(target, train_epoch, test_accuracy):
    """Run epochs until the test accuracy first reaches ``target``; the accuracies."""
    accuracies = []
    for epoch in range(MAX_EPOCHS):
        train_epoch(epoch)
        accuracies.append(test_accuracy())
        if accuracies[-1] >= target:
            return np.array(accuracies)
    raise RuntimeError(f"the test accuracy did not reach {target:.0%} in {MAX_EPOCHS} epochs "
                       f"(best {max(accuracies):.4f})")


def _sides(target):
    X, y, X_test, y_test, epochs_batches = _data(MAX_EPOCHS)

    def numpy_side():
        def train():
            params = initial_weights()
            running = [[np.zeros(c), np.ones(c)] for c in CHANNELS]
            adam = NumpyAdam(params, lr=LR)

            def train_epoch(epoch):
                for rows in epochs_batches[epoch]:
                    adam.step(numpy_gradients(params, running, X[rows], y[rows]))

            return _until(target, train_epoch,
                          lambda: _accuracy(numpy_logits(params, running, X_test)[0], y_test))

        return train

    expect = cache(lambda: numpy_side()())

    def ad_nn():
        models = autodiff_feature("nn.models")
        evaluate = autodiff_feature("nn.evaluate")
        cross_entropy = autodiff_feature("nn.functional.cross_entropy")
        adam = autodiff_feature("optim.Adam")

        def train():
            model = models.digits_cnn(rng=0, dropout=0.0)
            for parameter, value in zip(model.parameters(), initial_weights()):
                parameter.value = value
            optimizer = adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)

            def train_epoch(epoch):
                for rows in epochs_batches[epoch]:
                    optimizer.zero_grad()
                    cross_entropy(model(X[rows]), y[rows]).backward()
                    optimizer.step()

            return _until(target, train_epoch, lambda: evaluate(model, X_test, y_test)[1])

        return train

    def torch_side():
        import torch

        nn = torch.nn
        Xt, yt, Xt_test = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(X_test)
        index = [[torch.from_numpy(rows) for rows in batches] for batches in epochs_batches]

        def train():
            model = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(128, 10)).to(torch.float64)
            with torch.no_grad():
                for parameter, value in zip(model.parameters(), initial_weights()):
                    parameter.copy_(torch.from_numpy(value))
            optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)

            def train_epoch(epoch):
                model.train()
                for rows in index[epoch]:
                    optimizer.zero_grad()
                    nn.functional.cross_entropy(model(Xt[rows]), yt[rows]).backward()
                    optimizer.step()

            def test_accuracy():
                model.eval()
                with torch.no_grad():
                    return _accuracy(model(Xt_test).numpy(), y_test)

            return _until(target, train_epoch, test_accuracy)

        return train

    def info(accuracies):
        return {"epochs": len(accuracies), "test accuracy": float(accuracies[-1])}

    return [
        Side(NUMPY, "numpy", numpy_side, expect, info=info),
        Side(AD_NN, "autodiff", ad_nn, expect, info=info),
        Side(TORCH, "torch", torch_side, expect, info=info),
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    target = 0.9 if quick else 0.98
    return [Benchmark(
        f"digits CNN (digits_cnn without dropout), Adam, batch {BATCH}: time to "
        f"{target:.0%} test accuracy", "11",
        "training epochs until the test accuracy first reaches the target, evaluations "
        "included", NUMPY, tuple(_sides(target)),
        ratios=(Ratio(AD_NN, NUMPY, source="issue 11"), Ratio(AD_NN, TORCH, source="issue 11")),
        rtol=0.0, atol=1.5 / 360,  # each epoch's accuracy within one of the 360 test images
    )]
