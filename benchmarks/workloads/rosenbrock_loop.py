"""The 100-term scalar Rosenbrock loop over a list of 100 floats (issues 2 and 3).

``sum_{i<99} 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2`` written as a Python loop over scalars: the
per-operation overhead of each library, nothing else.  The limit is the same loop on plain
floats (value only).  Issue 2 times the directional derivative with scalar ``Dual`` s (target
<= 30x the float loop); issue 3 the gradient (target: no slower than micrograd, aim for 2x
faster); issue 13 the gradient with ``x`` an ndarray indexed ``x[i]`` in the loop (targets:
<= 1.3x the loop on ``Var`` leaves, <= micrograd); issue 12 the compiled gradient,
``ad.jit(ad.grad(f))`` replaying its recording (target: <= 3x the float loop), beside JAX's
``jit``.
"""

import numpy as np

from .. import problems
from ..anchors import import_jax
from ..harness import Benchmark, Ratio, Side

NAME = "rosenbrock_loop"
LARGE_ARRAYS = False  # scalars only
ISOLATION = "workload"  # scalars only

FLOATS = "loop on floats (value only)"
AD_GRAD_NDARRAY = "ad.grad (x an ndarray, x[i] in the loop)"
AD_JIT_GRAD = "ad.jit(ad.grad) (list of 100 floats)"
JAX_JIT_GRAD = "JAX grad (jit)"


def _point():
    rng = np.random.default_rng(0)
    return [float(v) for v in rng.uniform(-1.0, 1.0, 100)], [float(v) for v in
                                                              rng.standard_normal(100)]


def _float_loop():
    x, _ = _point()
    return lambda: problems.rosenbrock_loop(x)


# ----------------------------------------------------------------------------------------------
# directional derivative (forward mode)
# ----------------------------------------------------------------------------------------------


def _jvp_sides():
    x, v = _point()
    f = problems.rosenbrock_loop

    def expect():
        return float(problems.rosenbrock_grad(np.array(x)) @ np.array(v))

    def ad_jvp():
        import autodiff as ad

        return lambda: ad.jvp(f, x, v)[1]

    def ad_duals():
        import autodiff as ad

        def directional():
            return f([ad.Dual(xi, vi) for xi, vi in zip(x, v)]).tangent

        return directional

    def torch_jvp():
        import torch

        xt = [torch.tensor(xi, dtype=torch.float64) for xi in x]
        vt = [torch.tensor(vi, dtype=torch.float64) for vi in v]
        return lambda: torch.func.jvp(f, (xt,), (vt,))[1]

    def jax_jvp():
        jax = import_jax()
        return lambda: jax.jvp(f, (x,), (v,))[1].block_until_ready()

    return [
        Side(FLOATS, "python", _float_loop),
        Side("ad.jvp (list of 100 floats)", "autodiff", ad_jvp, expect),
        Side("ad.Dual objects by hand", "autodiff", ad_duals, expect),
        Side("torch.func.jvp (100 0-d tensors)", "torch", torch_jvp, expect),
        Side("JAX jvp (eager)", "jax", jax_jvp, expect),
    ]


# ----------------------------------------------------------------------------------------------
# gradient (reverse mode)
# ----------------------------------------------------------------------------------------------


def _grad_sides():
    x, _ = _point()
    f = problems.rosenbrock_loop

    def expect():
        return problems.rosenbrock_grad(np.array(x))

    def ad_grad():
        import autodiff as ad

        return lambda: ad.grad(f)(x)

    def ad_vars():
        import autodiff as ad

        def gradient():
            leaves = [ad.Var(xi) for xi in x]
            f(leaves).backward()
            return [leaf.grad for leaf in leaves]

        return gradient

    def micrograd():
        from micrograd.engine import Value

        def gradient():
            leaves = [Value(xi) for xi in x]
            f(leaves).backward()
            return [leaf.grad for leaf in leaves]

        return gradient

    def torch_scalars():
        import torch

        def gradient():
            leaves = [torch.tensor(xi, dtype=torch.float64, requires_grad=True) for xi in x]
            f(leaves).backward()
            return [leaf.grad for leaf in leaves]

        return gradient

    def autograd_grad():
        import autograd

        transform = autograd.grad(f)
        return lambda: transform(x)

    def jax_grad(jit):
        def build():
            jax = import_jax()
            transform = jax.jit(jax.grad(f)) if jit else jax.grad(f)
            return lambda: jax.block_until_ready(transform(x))

        return build

    def ad_jit_grad():
        import autodiff as ad

        transform = ad.jit(ad.grad(f))
        return lambda: transform(x)  # the warm-up records it; the timed calls replay it

    def ad_grad_ndarray():
        import autodiff as ad

        x_array = np.array(x)
        return lambda: ad.grad(f)(x_array)

    return [
        Side(FLOATS, "python", _float_loop),
        Side("ad.grad (list of 100 floats)", "autodiff", ad_grad, expect),
        Side(AD_GRAD_NDARRAY, "autodiff", ad_grad_ndarray, expect),
        Side("ad.Var leaves + backward()", "autodiff", ad_vars, expect),
        Side("micrograd Values", "micrograd", micrograd, expect),
        Side("torch 0-d tensors + backward()", "torch", torch_scalars, expect),
        Side("autograd.grad", "autograd", autograd_grad, expect),
        Side("JAX grad (eager)", "jax", jax_grad(False), expect),
        Side(AD_JIT_GRAD, "autodiff", ad_jit_grad, expect),
        Side(JAX_JIT_GRAD, "jax", jax_grad(True), expect),
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    return [
        Benchmark(
            "rosenbrock loop, 100 scalars: jvp", "2",
            "directional derivative of the scalar loop with scalar duals", FLOATS,
            tuple(_jvp_sides()),
            ratios=(Ratio("ad.jvp (list of 100 floats)", FLOATS, 30.0, source="issue 2"),
                    Ratio("ad.Dual objects by hand", FLOATS, 30.0, source="issue 2")),
        ),
        Benchmark(
            "rosenbrock loop, 100 scalars: grad", "3",
            "gradient of the scalar loop on a tape of scalars", FLOATS, tuple(_grad_sides()),
            ratios=(
                Ratio("ad.grad (list of 100 floats)", "micrograd Values", 1.0, source="issue 3"),
                Ratio("ad.grad (list of 100 floats)", "micrograd Values", 0.5,
                      source="issue 3 (aim)"),
                Ratio("ad.grad (list of 100 floats)", FLOATS),
                Ratio(AD_GRAD_NDARRAY, "ad.Var leaves + backward()", 1.3, source="issue 13"),
                Ratio(AD_GRAD_NDARRAY, "micrograd Values", 1.0, source="issue 13"),
                Ratio(AD_JIT_GRAD, FLOATS, 3.0, source="issue 12"),
                Ratio(JAX_JIT_GRAD, FLOATS),
            ),
        ),
    ]
