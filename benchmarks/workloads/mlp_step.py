"""One training step of a ReLU MLP (issue 6).

MLP 64-256-256-10 (batch 128) and 784-1024-1024-10 (batch 256), in float64 and float32 (only
the small one with ``--quick``).  A step is: forward pass, mean softmax cross-entropy over the
batch, gradient of every weight and bias, plain SGD update (lr 0.01).  All sides start from the
same weights (torch's layout, ``W`` of shape ``(out, in)``) and see the same batch; each step
returns the loss before its update, and the first two losses are checked against the
hand-written NumPy backprop, so the second one checks the update.

Sides: hand-written NumPy backprop (the limit), ``ad.nn`` (``Sequential`` of ``Linear``/``ReLU``,
``ad.nn.functional.cross_entropy``, ``ad.optim.SGD``, ``backward()``), ``ad.value_and_grad`` on
plain NumPy code (core only), autograd, PyTorch (``nn.Sequential``, ``F.cross_entropy``,
``optim.SGD``), JAX (the whole step jitted).  Targets: within 1.2x of NumPy for
784-1024-1024-10 and 1.5x for 64-256-256-10.
"""

from functools import cache

import numpy as np

from ..anchors import autodiff_feature, import_jax
from ..harness import Benchmark, Ratio, Side

NAME = "mlp_step"
LARGE_ARRAYS = True  # weights and activations up to 8 MB
ISOLATION = "workload"  # BLAS-heavy: one OpenBLAS pool for all sides

LR = 0.01
NUMPY = "hand-written NumPy backprop"
AD_NN = "ad.nn + ad.optim.SGD"
AD_CORE = "ad.value_and_grad (NumPy code)"


def initial_weights(sizes, dtype, seed=1):
    """``[W1, b1, W2, b2, ...]`` drawn like torch's ``nn.Linear``: U(-1/sqrt(in), 1/sqrt(in))."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype))
        params.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
    return params


def numpy_gradients(params, X, labels):
    """Loss and gradients of the mean cross-entropy of a ReLU MLP, by hand (backprop)."""
    rows = np.arange(len(labels))
    inputs, pre_activations = [X], []
    h = X
    for k in range(0, len(params) - 2, 2):
        z = h @ params[k].T
        z += params[k + 1]
        pre_activations.append(z)
        h = np.maximum(z, 0)
        inputs.append(h)
    logits = h @ params[-2].T
    logits += params[-1]
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    total = exp.sum(axis=1)
    loss = np.mean(np.log(total) - logits[rows, labels])
    delta = exp / total[:, None]
    delta[rows, labels] -= 1
    delta /= len(labels)
    grads = [None] * len(params)
    for k in range(len(params) - 2, -1, -2):
        grads[k], grads[k + 1] = delta.T @ inputs[k // 2], delta.sum(axis=0)
        if k:
            delta = delta @ params[k]
            delta *= pre_activations[k // 2 - 1] > 0
    return loss, grads


def _numpy_step(params, X, labels):
    def step():
        loss, grads = numpy_gradients(params, X, labels)
        for p, g in zip(params, grads):
            g *= LR
            p -= g
        return loss

    return step


def mlp_loss(logsumexp):
    """The same network and loss written for ``np``-like code with a given ``logsumexp``."""

    def loss(params, X, labels):
        rows = np.arange(len(labels))
        h = X
        for k in range(0, len(params) - 2, 2):
            h = np.maximum(h @ params[k].T + params[k + 1], 0.0)
        logits = h @ params[-2].T + params[-1]
        return np.mean(logsumexp(logits, axis=1) - logits[rows, labels])

    return loss


def autograd_mlp_loss(logsumexp):
    """:func:`mlp_loss` for autograd, whose boxes need ``autograd.numpy`` functions."""
    import autograd.numpy as anp

    def loss(params, X, labels):
        rows = np.arange(len(labels))
        h = X
        for k in range(0, len(params) - 2, 2):
            h = anp.maximum(anp.dot(h, params[k].T) + params[k + 1], 0.0)
        logits = anp.dot(h, params[-2].T) + params[-1]
        return anp.mean(logsumexp(logits, axis=1) - logits[rows, labels])

    return loss


def _sides(sizes, batch, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], batch)

    @cache
    def expect():
        step = _numpy_step(initial_weights(sizes, dtype), X, labels)
        return step(), step()

    def numpy_side():
        return _numpy_step(initial_weights(sizes, dtype), X, labels)

    def ad_core():
        import autodiff as ad

        value_and_grad = ad.value_and_grad(mlp_loss(ad.logsumexp))
        params = initial_weights(sizes, dtype)

        def step():
            loss, grads = value_and_grad(params, X, labels)
            params[:] = [p - LR * g for p, g in zip(params, grads)]
            return loss

        return step

    def ad_nn():
        nn = autodiff_feature("nn")
        cross_entropy = autodiff_feature("nn.functional.cross_entropy")
        sgd = autodiff_feature("optim.SGD")
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out, dtype=dtype), nn.ReLU()]
        model = nn.Sequential(*layers[:-1])
        linear = [layer for layer in layers if isinstance(layer, nn.Linear)]
        weights = initial_weights(sizes, dtype)
        for layer, W, b in zip(linear, weights[0::2], weights[1::2]):
            layer.weight.value, layer.bias.value = W, b
        optimizer = sgd(model.parameters(), lr=LR)

        def step():
            optimizer.zero_grad()
            loss = cross_entropy(model(X), labels)
            loss.backward()
            optimizer.step()
            return loss.value

        return step

    def autograd_side():
        import autograd
        from autograd.scipy.special import logsumexp

        value_and_grad = autograd.value_and_grad(autograd_mlp_loss(logsumexp))
        params = initial_weights(sizes, dtype)

        def step():
            loss, grads = value_and_grad(params, X, labels)
            params[:] = [p - LR * g for p, g in zip(params, grads)]
            return loss

        return step

    def torch_side():
        import torch

        torch_dtype = getattr(torch, np.dtype(dtype).name)
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(fan_in, fan_out, dtype=torch_dtype), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1])
        weights = initial_weights(sizes, dtype)
        with torch.no_grad():
            for layer, W, b in zip(model[0::2], weights[0::2], weights[1::2]):
                layer.weight.copy_(torch.from_numpy(W))
                layer.bias.copy_(torch.from_numpy(b))
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(labels)

        def step():
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(Xt), yt)
            loss.backward()
            optimizer.step()
            return loss.item()

        return step

    def jax_side():
        jax = import_jax()
        jnp = jax.numpy

        def loss(params, X, labels):
            h = X
            for k in range(0, len(params) - 2, 2):
                h = jax.nn.relu(h @ params[k].T + params[k + 1])
            logits = h @ params[-2].T + params[-1]
            picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
            return jnp.mean(jax.scipy.special.logsumexp(logits, axis=1) - picked)

        @jax.jit
        def update(params, X, labels):
            value, grads = jax.value_and_grad(loss)(params, X, labels)
            return [p - LR * g for p, g in zip(params, grads)], value

        state = [[jnp.asarray(p) for p in initial_weights(sizes, dtype)]]
        Xj, yj = jnp.asarray(X), jnp.asarray(labels)

        def step():
            state[0], value = update(state[0], Xj, yj)
            return value.block_until_ready()

        return step

    return [
        Side(NUMPY, "numpy", numpy_side, expect, checked_calls=2),
        Side(AD_NN, "autodiff", ad_nn, expect, checked_calls=2),
        Side(AD_CORE, "autodiff", ad_core, expect, checked_calls=2),
        Side("autograd.value_and_grad", "autograd", autograd_side, expect, checked_calls=2),
        Side("torch nn + optim.SGD", "torch", torch_side, expect, checked_calls=2),
        Side("JAX value_and_grad + update (jit)", "jax", jax_side, expect, checked_calls=2),
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    configurations = [((64, 256, 256, 10), 128, 1.5)]
    if not quick:
        configurations.append(((784, 1024, 1024, 10), 256, 1.2))
    found = []
    for sizes, batch, target in configurations:
        for dtype in (np.float64, np.float32):
            name = "-".join(map(str, sizes))
            found.append(Benchmark(
                f"MLP step {name}, batch {batch}, {np.dtype(dtype).name}", "6",
                "forward, cross-entropy, backward and SGD update of a ReLU MLP", NUMPY,
                tuple(_sides(sizes, batch, dtype)),
                ratios=(Ratio(AD_NN, NUMPY, target, source="issue 6"),
                        Ratio(AD_CORE, NUMPY, target, source="issue 6"),
                        Ratio(AD_NN, "torch nn + optim.SGD")),
                rtol=1e-9 if dtype == np.float64 else 1e-4,
            ))
    return found
