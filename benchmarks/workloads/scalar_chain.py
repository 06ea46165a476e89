"""A long scalar chain ``y <- sin(y)/2 + y/2``, written with ``np.sin`` (issue 3).

The gradient with respect to the start ``y0 = 0.5`` after 1e5 steps (3e3 with ``--quick``):
a tape of 3e5 scalar nodes, so both the per-operation overhead and the depth of the graph
matter.  The limit is the float loop (value only); target: within 150x of it.

micrograd has no ``sin``; the side adds one in micrograd's own style (a node whose closure
accumulates ``cos(y) * out.grad``).  Its backward pass is recursive: at the default recursion
limit it raises ``RecursionError`` (reported as such); the timed side raises the limit to 1e6
and runs in a thread with a 1 GiB stack.  Eager JAX takes ~1 ms per step here, minutes per
call: it runs only with ``--slow``.
"""

import math
import sys
import threading

import numpy as np

from .. import problems
from ..anchors import import_jax
from ..harness import Benchmark, Ratio, Side

NAME = "scalar_chain"
LARGE_ARRAYS = False  # scalars only
ISOLATION = "workload"  # scalars only

FLOATS = "loop on floats, np.sin (value only)"
START = 0.5


def _micrograd_sin(y):
    from micrograd.engine import Value

    out = Value(math.sin(y.data), (y,), "sin")

    def _backward():
        y.grad += math.cos(y.data) * out.grad

    out._backward = _backward
    return out


def _micrograd_gradient(steps):
    from micrograd.engine import Value

    start = Value(START)
    problems.chain(start, steps, _micrograd_sin).backward()
    return start.grad


def _with_deep_recursion(work):
    """Run ``work()`` with the recursion limit at 1e6, in a thread with a 1 GiB stack."""
    outcome = {}

    def target():
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed back to the caller's thread
            outcome["error"] = error

    limit = sys.getrecursionlimit()
    old_stack = threading.stack_size(2 ** 30)
    sys.setrecursionlimit(10 ** 6)
    try:
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    finally:
        sys.setrecursionlimit(limit)
        threading.stack_size(old_stack)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _sides(steps):
    def expect():
        return problems.chain_derivative(START, steps)

    def floats():
        return lambda: problems.chain(START, steps, np.sin)

    def ad_grad():
        import autodiff as ad

        return lambda: ad.grad(lambda y: problems.chain(y, steps, np.sin))(START)

    def micrograd_default_limit():
        return lambda: _micrograd_gradient(steps)

    def micrograd_raised_limit():
        return lambda: _with_deep_recursion(lambda: _micrograd_gradient(steps))

    def torch_backward():
        import torch

        def gradient():
            start = torch.tensor(START, dtype=torch.float64, requires_grad=True)
            problems.chain(start, steps, torch.sin).backward()
            return start.grad

        return gradient

    def autograd_grad():
        import autograd
        import autograd.numpy as anp

        return lambda: autograd.grad(lambda y: problems.chain(y, steps, anp.sin))(START)

    def jax_grad():
        jax = import_jax()
        return lambda: jax.grad(lambda y: problems.chain(y, steps, jax.numpy.sin))(START)

    return [
        Side(FLOATS, "python", floats),
        Side("ad.grad", "autodiff", ad_grad, expect),
        Side("micrograd (default recursion limit)", "micrograd", micrograd_default_limit,
             expect),
        Side("micrograd (recursion limit 1e6)", "micrograd", micrograd_raised_limit, expect,
             note="sys.setrecursionlimit(10**6), 1 GiB thread stack"),
        Side("torch 0-d tensor + backward()", "torch", torch_backward, expect),
        Side("autograd.grad", "autograd", autograd_grad, expect),
        Side("JAX grad (eager)", "jax", jax_grad, expect, slow=True),
    ]


def benchmarks(quick: bool) -> list[Benchmark]:
    steps = 3_000 if quick else 100_000
    return [Benchmark(
        f"scalar chain, {steps:.0e} steps: grad", "3",
        "gradient through y <- sin(y)/2 + y/2 with respect to its start", FLOATS,
        tuple(_sides(steps)),
        ratios=(Ratio("ad.grad", FLOATS, 150.0, source="issue 3"),
                Ratio("ad.grad", "torch 0-d tensor + backward()"),
                Ratio("ad.grad", "micrograd (recursion limit 1e6)")),
        rtol=1e-9,
    )]
