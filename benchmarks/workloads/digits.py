"""Training an MLP on the UCI digits (issue 6).

MLP 64-128-10 (ReLU), Adam (lr 1e-3, torch's defaults otherwise), batch 64, 30 epochs (1 with
``--quick``) on a stratified 80 % split of the 1797 digits shipped with ``ad.nn.data``,
standardised with the training set's statistics.  Every side starts from the same weights and
visits the same mini-batches in the same order; one call is the whole training run plus the
test accuracy, which is reported (and checked to within 2 points of the NumPy side's).

Sides: hand-written NumPy backprop and Adam (the limit), ``ad.nn`` with ``ad.optim.Adam``,
``ad.value_and_grad`` on NumPy code with the NumPy Adam, autograd with the NumPy Adam, PyTorch
(``nn.Sequential``, ``optim.Adam``), JAX (a jitted step holding its own Adam).  Target: within
2x of hand-written NumPy.  Compiled steps (issue 12): ``ad.nn.fit`` (its default compiled step,
``ad.optim.Adam``) and ``ad.jit(ad.grad)`` of the NumPy network with ``cross_entropy`` (the
labels stay data; ``logits[rows, labels]`` would be an index read by Python, guarded, so the
step would record again on every batch) with the NumPy Adam; target <= 1.2x hand-written NumPy.
"""

from functools import cache

import numpy as np

from ..anchors import autodiff_feature, import_jax
from ..harness import Benchmark, Ratio, Side
from .mlp_step import autograd_mlp_loss, initial_weights, mlp_loss, numpy_gradients

NAME = "digits"
LARGE_ARRAYS = False  # per step at most 64 x 128 float64 (64 kB), below the 128 kB threshold
ISOLATION = "workload"  # BLAS-heavy: one OpenBLAS pool for all sides

SIZES = (64, 128, 10)
BATCH = 64
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8
NUMPY = "hand-written NumPy backprop + Adam"
AD_NN = "ad.nn + ad.optim.Adam"
AD_FIT = "ad.nn.fit (compiled step) + ad.optim.Adam"
AD_JIT = "ad.jit(ad.grad) (NumPy code, cross_entropy) + NumPy Adam"


@cache
def _dataset(epochs, batch=BATCH):
    """Standardised train/test arrays and the mini-batch index arrays of every epoch."""
    data = autodiff_feature("nn.data")
    X, y = data.load_digits()
    (X_train, y_train), _, (X_test, y_test) = data.train_val_test_split(
        X, y, val_fraction=0.0, test_fraction=0.2, rng=0)
    mean, scale = X_train.mean(axis=0), X_train.std(axis=0)
    scale[scale == 0] = 1.0
    rng = np.random.default_rng(0)
    batches = [order[start:start + batch]
               for order in (rng.permutation(len(y_train)) for _ in range(epochs))
               for start in range(0, len(y_train), batch)]
    return (X_train - mean) / scale, y_train, (X_test - mean) / scale, y_test, batches


class NumpyAdam:
    """torch.optim.Adam's update on a list of arrays, in place."""

    def __init__(self, params, lr=LR):
        self.params, self.lr = params, lr
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        (b1, b2), t = BETAS, self.t
        step_size = self.lr / (1 - b1 ** t)
        root_correction = np.sqrt(1 - b2 ** t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= step_size * m / (np.sqrt(v) / root_correction + EPS)


def _accuracy(logits, labels) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def _numpy_logits(params, X):
    h = np.maximum(X @ params[0].T + params[1], 0.0)
    return h @ params[2].T + params[3]


def _with_numpy_adam(gradients, epochs):
    """A training run: ``gradients(params, X, y) -> grads`` plus the NumPy Adam."""
    X, y, X_test, y_test, batches = _dataset(epochs)

    def train():
        params = initial_weights(SIZES, np.float64)
        adam = NumpyAdam(params)
        for rows in batches:
            adam.step(gradients(params, X[rows], y[rows]))
        return _accuracy(_numpy_logits(params, X_test), y_test)

    return train


def _ad_nn_model(nn, adam):
    """``ad.nn``'s MLP from the shared initial weights, and its Adam."""
    first, second = nn.Linear(*SIZES[:2]), nn.Linear(*SIZES[1:])
    W1, b1, W2, b2 = initial_weights(SIZES, np.float64)
    first.weight.value, first.bias.value = W1, b1
    second.weight.value, second.bias.value = W2, b2
    model = nn.Sequential(first, nn.ReLU(), second)
    return model, adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)


def _ad_nn_weights(model):
    first, second = model[0], model[2]
    return [first.weight.value, first.bias.value, second.weight.value, second.bias.value]


def _sides(epochs):
    expect = cache(lambda: _with_numpy_adam(lambda *a: numpy_gradients(*a)[1], epochs)())

    def numpy_side():
        return _with_numpy_adam(lambda *a: numpy_gradients(*a)[1], epochs)

    def ad_core():
        import autodiff as ad

        gradient = ad.grad(mlp_loss(ad.logsumexp))
        return _with_numpy_adam(gradient, epochs)

    def ad_jit():
        import autodiff as ad

        cross_entropy = autodiff_feature("nn.functional.cross_entropy")

        def loss(params, X, labels):  # mlp_loss's network; its logits[rows, labels] would be
            h = np.maximum(X @ params[0].T + params[1], 0.0)  # a guarded index (a record per
            return cross_entropy(h @ params[2].T + params[3], labels)  # batch) under ad.jit

        return _with_numpy_adam(ad.jit(ad.grad(loss)), epochs)

    def ad_fit():
        nn = autodiff_feature("nn")
        fit = autodiff_feature("nn.fit")
        cross_entropy = autodiff_feature("nn.functional.cross_entropy")
        adam = autodiff_feature("optim.Adam")
        X, y, X_test, y_test, batches = _dataset(epochs)
        loader = [(X[rows], y[rows]) for rows in batches]  # every epoch's batches, in order

        def train():
            model, optimizer = _ad_nn_model(nn, adam)
            fit(model, cross_entropy, optimizer, loader, epochs=1, progress=False)
            return _accuracy(_numpy_logits(_ad_nn_weights(model), X_test), y_test)

        return train

    def autograd_side():
        import autograd
        from autograd.scipy.special import logsumexp

        return _with_numpy_adam(autograd.grad(autograd_mlp_loss(logsumexp)), epochs)

    def ad_nn():
        nn = autodiff_feature("nn")
        cross_entropy = autodiff_feature("nn.functional.cross_entropy")
        adam = autodiff_feature("optim.Adam")
        X, y, X_test, y_test, batches = _dataset(epochs)

        def train():
            model, optimizer = _ad_nn_model(nn, adam)
            for rows in batches:
                optimizer.zero_grad()
                cross_entropy(model(X[rows]), y[rows]).backward()
                optimizer.step()
            return _accuracy(_numpy_logits(_ad_nn_weights(model), X_test), y_test)

        return train

    def torch_side():
        import torch

        X, y, X_test, y_test, batches = _dataset(epochs)
        Xt, yt, Xt_test = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(X_test)
        index = [torch.from_numpy(rows) for rows in batches]

        def train():
            model = torch.nn.Sequential(
                torch.nn.Linear(*SIZES[:2], dtype=torch.float64), torch.nn.ReLU(),
                torch.nn.Linear(*SIZES[1:], dtype=torch.float64))
            with torch.no_grad():
                for parameter, value in zip(model.parameters(),
                                            initial_weights(SIZES, np.float64)):
                    parameter.copy_(torch.from_numpy(value))
            optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)
            for rows in index:
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(Xt[rows]), yt[rows]).backward()
                optimizer.step()
            with torch.no_grad():
                return _accuracy(model(Xt_test).numpy(), y_test)

        return train

    def jax_side():
        jax = import_jax()
        jnp = jax.numpy
        X, y, X_test, y_test, batches = _dataset(epochs)

        def loss(params, X, labels):
            h = jax.nn.relu(X @ params[0].T + params[1])
            logits = h @ params[2].T + params[3]
            picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
            return jnp.mean(jax.scipy.special.logsumexp(logits, axis=1) - picked)

        @jax.jit
        def step(params, m, v, t, X, labels):
            grads = jax.grad(loss)(params, X, labels)
            (b1, b2) = BETAS
            m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
            v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
            step_size = LR / (1 - b1 ** t)
            root_correction = jnp.sqrt(1 - b2 ** t)
            params = [p - step_size * mi / (jnp.sqrt(vi) / root_correction + EPS)
                      for p, mi, vi in zip(params, m, v)]
            return params, m, v

        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        index = [jnp.asarray(rows) for rows in batches]

        def train():
            params = [jnp.asarray(p) for p in initial_weights(SIZES, np.float64)]
            m = [jnp.zeros_like(p) for p in params]
            v = [jnp.zeros_like(p) for p in params]
            for t, rows in enumerate(index, start=1):
                params, m, v = step(params, m, v, float(t), Xj[rows], yj[rows])
            return _accuracy(_numpy_logits([np.asarray(p) for p in params], X_test), y_test)

        return train

    def info(accuracy):
        return {"test accuracy": accuracy}

    return [
        Side(NUMPY, "numpy", numpy_side, expect, info=info),
        Side(AD_NN, "autodiff", ad_nn, expect, info=info),
        Side("ad.grad (NumPy code) + NumPy Adam", "autodiff", ad_core, expect, info=info),
        Side(AD_FIT, "autodiff", ad_fit, expect, info=info),
        Side(AD_JIT, "autodiff", ad_jit, expect, info=info),
        Side("autograd.grad + NumPy Adam", "autograd", autograd_side, expect, info=info),
        Side("torch nn + optim.Adam", "torch", torch_side, expect, info=info),
        Side("JAX grad + Adam (jit step)", "jax", jax_side, expect, info=info),
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    epochs = 1 if quick else 30
    return [Benchmark(
        f"digits MLP 64-128-10, Adam, batch {BATCH}, {epochs} epochs", "6",
        "a whole training run and the test accuracy", NUMPY, tuple(_sides(epochs)),
        ratios=(Ratio(AD_NN, NUMPY, 2.0, source="issue 6"),
                Ratio("ad.grad (NumPy code) + NumPy Adam", NUMPY, 2.0, source="issue 6"),
                Ratio(AD_FIT, NUMPY, 1.2, source="issue 12"),
                Ratio(AD_JIT, NUMPY, 1.2, source="issue 12"),
                Ratio(AD_NN, "torch nn + optim.Adam")),
        rtol=0.0, atol=0.02,
    )]
