"""Gradient of the vectorised Rosenbrock function at n = 1e5 (issue 3).

``f(x) = sum(100 (x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)`` written with each library's array
operations.  The limit is SciPy's analytic ``rosen_der``; target: ``ad.grad`` within 2x of it;
``ad.jit(ad.grad)`` (compiled replay, issue 12) beside it.
Arrays of 1e5 float64 (800 kB) sit above glibc's default mmap threshold, so this is the
workload where the tuned allocator pass differs most.
"""

from functools import cache

import numpy as np

from .. import problems
from ..anchors import import_jax
from ..harness import Benchmark, Ratio, Side

NAME = "rosenbrock_grad"
LARGE_ARRAYS = True  # n = 1e5: 800 kB arrays
ISOLATION = "library"  # elementwise on 800 kB arrays: allocator history matters

ANALYTIC = "scipy.optimize.rosen_der (analytic)"


def point(n):
    return np.random.default_rng(0).uniform(-1.0, 1.0, n)


def gradient_sides(n, x):
    """The gradient sides, shared with the Hessian-vector benchmark (own-gradient ratios)."""
    expect = cache(lambda: problems.rosenbrock_grad(x))

    def analytic():
        from scipy.optimize import rosen_der

        return lambda: rosen_der(x)

    def ad_grad():
        import autodiff as ad

        transform = ad.grad(problems.rosenbrock(np))
        return lambda: transform(x)

    def ad_jit_grad():
        import autodiff as ad

        transform = ad.jit(ad.grad(problems.rosenbrock(np)))
        return lambda: transform(x)  # the warm-up records it; the timed calls replay it

    def autograd_grad():
        import autograd
        import autograd.numpy as anp

        transform = autograd.grad(problems.rosenbrock(anp))
        return lambda: transform(x)

    def jax_grad(jit):
        def build():
            jax = import_jax()
            transform = jax.grad(problems.rosenbrock(jax.numpy))
            transform = jax.jit(transform) if jit else transform
            xj = jax.numpy.asarray(x)
            return lambda: transform(xj).block_until_ready()

        return build

    def torch_backward():
        import torch

        f = problems.rosenbrock(torch)
        xt = torch.from_numpy(x).requires_grad_(True)
        return lambda: torch.autograd.grad(f(xt), xt)[0]

    def torch_func_grad():
        import torch

        transform = torch.func.grad(problems.rosenbrock(torch))
        xt = torch.from_numpy(x)
        return lambda: transform(xt)

    return [
        Side(ANALYTIC, "scipy", analytic, expect),
        Side("ad.grad", "autodiff", ad_grad, expect),
        Side("ad.jit(ad.grad)", "autodiff", ad_jit_grad, expect),
        Side("autograd.grad", "autograd", autograd_grad, expect),
        Side("JAX grad (eager)", "jax", jax_grad(False), expect),
        Side("JAX grad (jit)", "jax", jax_grad(True), expect),
        Side("torch backward (autograd.grad)", "torch", torch_backward, expect),
        Side("torch.func.grad", "torch", torch_func_grad, expect),
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    n = 10_000 if quick else 100_000
    return [Benchmark(
        f"rosenbrock vectorised, n={n:.0e}: grad", "3",
        "gradient of vectorised Rosenbrock vs the analytic formula", ANALYTIC,
        tuple(gradient_sides(n, point(n))),
        ratios=(Ratio("ad.grad", ANALYTIC, 2.0, source="issue 3"),
                Ratio("ad.jit(ad.grad)", ANALYTIC, source="issue 12 (compiled)")),
        rtol=1e-10,
    )]
