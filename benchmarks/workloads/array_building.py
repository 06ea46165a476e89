"""The Lorenz RK4 flow Jacobian with an ``np.array`` right-hand side (issue 9).

``jacfwd`` of 100 RK4 steps of the Lorenz system, the right-hand side written as users write it,
``np.array([s*(y-x), x*(r-z)-y, x*y-b*z])`` (NumPy builds an object array of traced scalars that
the first operation lifts into one ``pack``), against the same code written with ``np.stack``.
Target: the ``np.array`` spelling within 1.5x of the ``np.stack`` one.  The limit is the flow
itself on floats (value only).
"""

import numpy as np

from .. import problems
from ..harness import Benchmark, Ratio, Side

NAME = "array_building"
LARGE_ARRAYS = False  # 3-vectors and 3 x 3 Jacobians
ISOLATION = "workload"

STEPS, DT = 100, 0.01
START = np.array([1.0, 1.0, 1.0])

FLOW = "RK4 flow on floats (value only)"
WITH_ARRAY = "ad.jacfwd, np.array right-hand side"
WITH_STACK = "ad.jacfwd, np.stack right-hand side"


def rhs_array(u):
    return problems.lorenz(u, build=np.array)


def rhs_stack(u):
    return problems.lorenz(u, build=np.stack)


def flow(rhs, steps):
    return problems.rk4_flow(rhs, steps, DT)


def _jacobian_by_differences(steps):
    """The reference: central differences of the float flow (agreement to ~1e-6)."""
    h = 1e-6
    f = flow(rhs_stack, steps)
    columns = [(f(START + h * e) - f(START - h * e)) / (2 * h) for e in np.eye(3)]
    return np.stack(columns, axis=1)


def benchmarks(quick: bool) -> list[Benchmark]:
    steps = 20 if quick else STEPS

    def floats():
        f = flow(rhs_stack, steps)
        return lambda: f(START)

    def with_array():
        import autodiff as ad

        jacobian = ad.jacfwd(flow(rhs_array, steps))
        return lambda: jacobian(START)

    def with_stack():
        import autodiff as ad

        jacobian = ad.jacfwd(flow(rhs_stack, steps))
        return lambda: jacobian(START)

    def expect():
        return _jacobian_by_differences(steps)

    return [
        Benchmark(
            f"Lorenz RK4 flow Jacobian, {steps} steps", "9",
            "jacfwd of an RK4 flow whose right-hand side builds its result with np.array vs "
            "np.stack", FLOW,
            (
                Side(FLOW, "python", floats),
                Side(WITH_ARRAY, "autodiff", with_array, expect),
                Side(WITH_STACK, "autodiff", with_stack, expect),
            ),
            ratios=(Ratio(WITH_ARRAY, WITH_STACK, 1.5, source="issue 9"),),
            rtol=1e-5,
            atol=1e-6,
        ),
    ]
