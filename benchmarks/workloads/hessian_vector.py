"""Hessian-vector products of vectorised Rosenbrock (issue 4).

At n = 1e3 and 1e5 (1e4 with ``--quick``): ``H v`` by each library's idiom -- ``ad.hvp``
(forward over reverse), autograd's ``hessian_tensor_product``, JAX ``jvp`` of ``grad`` (eager
and jitted), ``torch.func.jvp`` of ``torch.func.grad`` and double backward -- against SciPy's
analytic ``rosen_hess_prod`` (the limit).  Each library's gradient is timed beside it, so every
product is also a ratio to its own gradient.  Targets at n = 1e5: within 4x of the analytic
product and within 3x of our own gradient; faster than autograd and eager JAX is the floor.

``ad.jit`` of the product (compiled replay, issue 12: within 2x of the analytic product at
n = 1e3 and 3x at 1e5) is timed beside it, and so is its first call (a new ``ad.jit`` per call:
recording, code generation and one run; issue 12: within 5x of one eager ``ad.hvp`` at n = 1e3).

A second benchmark compares 20 products at one point through ``ad.hvp_operator`` (linearise
``grad f`` once, replay the linear program) with 20 ``ad.hvp`` calls.
"""

from functools import cache

import numpy as np

from .. import problems
from ..anchors import autodiff_feature, import_jax
from ..harness import Benchmark, Ratio, Side
from .rosenbrock_grad import ANALYTIC, gradient_sides, point

NAME = "hessian_vector"
LARGE_ARRAYS = True  # n = 1e5: 800 kB arrays
ISOLATION = "library"  # elementwise on 800 kB arrays: allocator history matters

ANALYTIC_HVP = "scipy.optimize.rosen_hess_prod (analytic)"
PRODUCTS = 20
JIT_FIRST_CALL = "ad.jit(hvp), first call (record + compile)"

#: (hvp side, its own gradient side)
PAIRS = (
    (ANALYTIC_HVP, ANALYTIC),
    ("ad.hvp", "ad.grad"),
    ("ad.jit(hvp)", "ad.jit(ad.grad)"),
    ("autograd hessian_tensor_product", "autograd.grad"),
    ("JAX jvp(grad) (eager)", "JAX grad (eager)"),
    ("JAX jvp(grad) (jit)", "JAX grad (jit)"),
    ("torch.func.jvp(torch.func.grad)", "torch.func.grad"),
    ("torch double backward", "torch backward (autograd.grad)"),
)


def _direction(n):
    return np.random.default_rng(1).standard_normal(n)


def _hvp_sides(x, v):
    expect = cache(lambda: problems.rosenbrock_hessp(x, v))

    def analytic():
        from scipy.optimize import rosen_hess_prod

        return lambda: rosen_hess_prod(x, v)

    def ad_hvp():
        import autodiff as ad

        f = problems.rosenbrock(np)
        return lambda: ad.hvp(f, x, v)

    def ad_jit_hvp():
        import autodiff as ad

        f = problems.rosenbrock(np)
        product = ad.jit(lambda x, v: ad.hvp(f, x, v))
        return lambda: product(x, v)  # the warm-up records it; the timed calls replay it

    def ad_jit_hvp_first_call():
        import autodiff as ad

        f = problems.rosenbrock(np)
        # a new ad.jit each call: every call records, compiles and runs once
        return lambda: ad.jit(lambda x, v: ad.hvp(f, x, v))(x, v)

    def autograd_hvp():
        import autograd
        import autograd.numpy as anp

        transform = autograd.hessian_tensor_product(problems.rosenbrock(anp))
        return lambda: transform(x, v)

    def jax_hvp(jit):
        def build():
            jax = import_jax()
            gradient = jax.grad(problems.rosenbrock(jax.numpy))

            def product(x, v):
                return jax.jvp(gradient, (x,), (v,))[1]

            product = jax.jit(product) if jit else product
            xj, vj = jax.numpy.asarray(x), jax.numpy.asarray(v)
            return lambda: product(xj, vj).block_until_ready()

        return build

    def torch_func_hvp():
        import torch

        gradient = torch.func.grad(problems.rosenbrock(torch))
        xt, vt = torch.from_numpy(x), torch.from_numpy(v)
        return lambda: torch.func.jvp(gradient, (xt,), (vt,))[1]

    def torch_double_backward():
        import torch

        f = problems.rosenbrock(torch)
        xt, vt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(v)

        def product():
            (g,) = torch.autograd.grad(f(xt), xt, create_graph=True)
            return torch.autograd.grad(g, xt, grad_outputs=vt)[0]

        return product

    return [
        Side(ANALYTIC_HVP, "scipy", analytic, expect),
        Side("ad.hvp", "autodiff", ad_hvp, expect),
        Side("ad.jit(hvp)", "autodiff", ad_jit_hvp, expect),
        Side(JIT_FIRST_CALL, "autodiff", ad_jit_hvp_first_call, expect),
        Side("autograd hessian_tensor_product", "autograd", autograd_hvp, expect),
        Side("JAX jvp(grad) (eager)", "jax", jax_hvp(False), expect),
        Side("JAX jvp(grad) (jit)", "jax", jax_hvp(True), expect),
        Side("torch.func.jvp(torch.func.grad)", "torch", torch_func_hvp, expect),
        Side("torch double backward", "torch", torch_double_backward, expect),
    ]


def _products_sides(x):
    directions = np.random.default_rng(2).standard_normal((PRODUCTS, len(x)))
    expect = cache(lambda: np.stack([problems.rosenbrock_hessp(x, d) for d in directions]))
    f = problems.rosenbrock(np)

    def analytic():
        from scipy.optimize import rosen_hess_prod

        return lambda: [rosen_hess_prod(x, d) for d in directions]

    def repeated_hvp():
        import autodiff as ad

        return lambda: [ad.hvp(f, x, d) for d in directions]

    def operator():
        hvp_operator = autodiff_feature("hvp_operator")

        def products():
            hessian = hvp_operator(f, x)
            return [hessian(d) for d in directions]

        return products

    return [
        Side(f"{PRODUCTS} x rosen_hess_prod (analytic)", "scipy", analytic, expect),
        Side(f"{PRODUCTS} x ad.hvp", "autodiff", repeated_hvp, expect),
        Side(f"ad.hvp_operator + {PRODUCTS} products", "autodiff", operator, expect),
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    found = []
    for n in (1_000, 10_000 if quick else 100_000):
        x, v = point(n), _direction(n)
        targets = ()
        if n == 100_000:
            targets = (
                Ratio("ad.hvp", ANALYTIC_HVP, 4.0, source="issue 4"),
                Ratio("ad.hvp", "ad.grad", 3.0, source="issue 4"),
                Ratio("ad.hvp", "autograd hessian_tensor_product", 1.0, source="issue 4 (floor)"),
                Ratio("ad.hvp", "JAX jvp(grad) (eager)", 1.0, source="issue 4 (floor)"),
            )
        targets += (Ratio("ad.jit(hvp)", ANALYTIC_HVP, 2.0 if n == 1_000 else 3.0,
                          source="issue 12"),)
        if n == 1_000:
            targets += (Ratio(JIT_FIRST_CALL, "ad.hvp", 5.0, source="issue 12"),)
        own_gradient = tuple(Ratio(hvp, grad, source="own gradient") for hvp, grad in PAIRS)
        found.append(Benchmark(
            f"hvp rosenbrock, n={n:.0e}", "4",
            "Hessian-vector product beside each library's gradient", ANALYTIC_HVP,
            tuple(_hvp_sides(x, v)) + tuple(gradient_sides(n, x)),
            ratios=targets + own_gradient, rtol=1e-10,
        ))
        found.append(Benchmark(
            f"{PRODUCTS} hvps at one point, n={n:.0e}", "4",
            f"{PRODUCTS} products through hvp_operator vs {PRODUCTS} hvp calls",
            f"{PRODUCTS} x rosen_hess_prod (analytic)", tuple(_products_sides(x)),
            ratios=(Ratio(f"ad.hvp_operator + {PRODUCTS} products", f"{PRODUCTS} x ad.hvp", 1.0,
                          source="issue 4 (clearly less)"),),
            rtol=1e-10,
        ))
    return found
