"""Gradient of a Gaussian-process negative log likelihood, n = 400 points (issue 9).

The RBF kernel ``K = s^2 exp(-|x_i - x_j|^2 / (2 l^2)) + sigma^2 I`` with three
hyperparameters ``theta = log(l, s^2, sigma^2)``, and Rasmussen & Williams' Algorithm 2.1
(*Gaussian Processes for Machine Learning*, 2006): ``L = cholesky(K)``, ``z = L^{-1} y``,
``NLL = z.z / 2 + sum(log diag L) + n log(2 pi) / 2``, written once with each library's
``linalg.cholesky`` / ``linalg.solve``.  The limit is the hand-written gradient of eq. 5.9,
``1/2 tr((alpha alpha^T - K^{-1}) dK/dtheta)``, with SciPy's ``cho_factor`` / ``cho_solve``.
Target: ``ad.grad`` within 2x of it.
"""

from functools import cache

import numpy as np

from ..anchors import import_jax
from ..harness import Benchmark, Ratio, Side

NAME = "gp_likelihood"
LARGE_ARRAYS = True  # 400 x 400 float64 kernels: 1.3 MB
ISOLATION = "workload"  # BLAS-heavy: all sides in one process (see the README)

HAND = "hand NumPy/SciPy gradient (cho_factor, eq. 5.9)"


def _data(n):
    rng = np.random.default_rng(0)
    x = rng.uniform(-3.0, 3.0, size=(n, 2))
    y = np.sin(x[:, 0]) * np.cos(x[:, 1]) + 0.1 * rng.standard_normal(n)
    squared = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return np.log(np.array([1.0, 1.0, 0.1])), squared, y


def negative_log_likelihood(xp, eye):
    """The likelihood in the array namespace ``xp`` (NumPy, autograd.numpy, jax.numpy, torch)."""

    def nll(theta, squared, y):
        n = y.shape[0]
        lengthscale, signal, noise = xp.exp(theta[0]), xp.exp(theta[1]), xp.exp(theta[2])
        kernel = signal * xp.exp(-0.5 * squared / lengthscale**2) + noise * eye
        factor = xp.linalg.cholesky(kernel)
        z = xp.linalg.solve(factor, y)
        steps = np.arange(n)
        return 0.5 * xp.sum(z * z) + xp.sum(xp.log(factor[steps, steps])) + 0.5 * n * np.log(
            2 * np.pi)

    return nll


def hand_gradient(theta, squared, y):
    """Rasmussen & Williams, eq. 5.9, with one Cholesky factorisation."""
    from scipy.linalg import cho_factor, cho_solve

    lengthscale, signal, noise = np.exp(theta)
    rbf = signal * np.exp(-0.5 * squared / lengthscale**2)
    kernel = rbf + noise * np.eye(len(y))
    factor = cho_factor(kernel, lower=True)
    alpha = cho_solve(factor, y)
    inner = np.outer(alpha, alpha) - cho_solve(factor, np.eye(len(y)))
    return -0.5 * np.array([
        np.sum(inner * rbf * squared) / lengthscale**2,  # dK/dlog l
        np.sum(inner * rbf),  # dK/dlog s^2
        noise * np.trace(inner),  # dK/dlog sigma^2
    ])


def _sides(theta, squared, y):
    expect = cache(lambda: hand_gradient(theta, squared, y))
    n = len(y)

    def hand():
        return lambda: hand_gradient(theta, squared, y)

    def ad_grad():
        import autodiff as ad

        transform = ad.grad(negative_log_likelihood(np, np.eye(n)))
        return lambda: transform(theta, squared, y)

    def autograd_grad():
        import autograd
        import autograd.numpy as anp

        transform = autograd.grad(negative_log_likelihood(anp, np.eye(n)))
        return lambda: transform(theta, squared, y)

    def jax_grad(jit):
        def build():
            jax = import_jax()
            jnp = jax.numpy
            transform = jax.grad(negative_log_likelihood(jnp, jnp.eye(n)))
            transform = jax.jit(transform) if jit else transform
            args = tuple(jnp.asarray(a) for a in (theta, squared, y))
            return lambda: transform(*args).block_until_ready()

        return build

    def torch_backward():
        import torch

        nll = negative_log_likelihood(torch, torch.eye(n, dtype=torch.float64))
        theta_t = torch.from_numpy(theta.copy()).requires_grad_(True)
        squared_t, y_t = torch.from_numpy(squared), torch.from_numpy(y)
        return lambda: torch.autograd.grad(nll(theta_t, squared_t, y_t), theta_t)[0]

    return (
        Side(HAND, "scipy", hand, expect),
        Side("ad.grad", "autodiff", ad_grad, expect),
        Side("autograd.grad", "autograd", autograd_grad, expect),
        Side("JAX grad (eager)", "jax", jax_grad(False), expect),
        Side("JAX grad (jit)", "jax", jax_grad(True), expect),
        Side("torch backward (autograd.grad)", "torch", torch_backward, expect),
    )


def benchmarks(quick: bool) -> list[Benchmark]:
    n = 100 if quick else 400
    return [Benchmark(
        f"GP negative log likelihood, n={n}, 3 hyperparameters: grad", "9",
        "gradient of a Cholesky-based GP likelihood vs the hand-written eq. 5.9", HAND,
        _sides(*_data(n)),
        ratios=(Ratio("ad.grad", HAND, 2.0, source="issue 9"),),
        rtol=1e-8,
    )]
