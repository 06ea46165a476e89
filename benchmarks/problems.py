"""Test functions, written once for every library, and their analytic derivatives in NumPy.

A function of a vector is written against a namespace ``xp`` that provides ``sum`` (NumPy,
``autograd.numpy``, ``jax.numpy``, ``torch``), so every side evaluates the same expression.
The analytic derivatives are the expected values the harness checks sides against, and what
``scipy.optimize.minimize`` is given in the optimizer benchmark.

Sources: Rosenbrock, Beale, Wood and the extended Powell singular function as in Moré, Garbow
and Hillstrom, "Testing unconstrained optimization software", ACM TOMS 7 (1981); Rosenbrock in
SciPy's chained form ``sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = [
    "Problem",
    "optimization_problems",
    "chain",
    "chain_derivative",
    "rosenbrock_loop",
    "rk4_flow",
    "lorenz",
    "rosenbrock",
    "rosenbrock_grad",
    "rosenbrock_hessp",
    "rosenbrock_hess",
]


# ----------------------------------------------------------------------------------------------
# scalar programs: Python loops over scalars
# ----------------------------------------------------------------------------------------------


def rosenbrock_loop(x):
    """``sum_{i<99} 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2`` over a sequence of 100 scalars."""
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def rk4_flow(rhs, steps: int, dt: float):
    """The classical fourth-order Runge-Kutta flow map of ``u' = rhs(u)`` over ``steps``."""

    def flow(u):
        for _ in range(steps):
            k1 = rhs(u)
            k2 = rhs(u + dt / 2 * k1)
            k3 = rhs(u + dt / 2 * k2)
            k4 = rhs(u + dt * k3)
            u = u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return u

    return flow


def lorenz(u, s=10.0, r=28.0, b=8.0 / 3.0, build=np.array):
    """The Lorenz system's right-hand side, its result built by ``build`` (``np.array`` as
    users write it, or ``np.stack``)."""
    x, y, z = u
    return build([s * (y - x), x * (r - z) - y, x * y - b * z])


def chain(y, steps: int, sin):
    """``steps`` iterations of ``y <- sin(y)/2 + y/2`` (a contraction towards 0)."""
    for _ in range(steps):
        y = sin(y) / 2.0 + y / 2.0
    return y


def chain_derivative(y0: float, steps: int) -> float:
    """``d chain(y0) / d y0 = prod_k (cos(y_k) + 1) / 2``, on floats."""
    y, derivative = y0, 1.0
    for _ in range(steps):
        derivative *= (math.cos(y) + 1.0) / 2.0
        y = math.sin(y) / 2.0 + y / 2.0
    return derivative


# ----------------------------------------------------------------------------------------------
# vector problems
# ----------------------------------------------------------------------------------------------


def rosenbrock(xp):
    """Vectorised Rosenbrock for namespace ``xp``."""

    def f(x):
        return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return f


def rosenbrock_grad(x):
    g = np.zeros_like(x)
    inner = x[1:] - x[:-1] ** 2
    g[:-1] = -400.0 * x[:-1] * inner - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * inner
    return g


def rosenbrock_hessp(x, v):
    hv = np.zeros_like(x)
    diagonal = np.zeros_like(x)
    diagonal[:-1] = 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diagonal[1:] += 200.0
    off = -400.0 * x[:-1]
    hv += diagonal * v
    hv[:-1] += off * v[1:]
    hv[1:] += off * v[:-1]
    return hv


def rosenbrock_hess(x):
    n = len(x)
    return np.column_stack([rosenbrock_hessp(x, np.eye(n)[i]) for i in range(n)])


def _beale(xp):
    def f(x):
        a, b = x[0], x[1]
        return ((1.5 - a + a * b) ** 2 + (2.25 - a + a * b ** 2) ** 2
                + (2.625 - a + a * b ** 3) ** 2)

    return f


_BEALE_C = (1.5, 2.25, 2.625)


def _beale_parts(x):
    """Residuals ``t_i = c_i + a (b^i - 1)``, their gradients and Hessians, i = 1, 2, 3."""
    a, b = x
    for i, c in enumerate(_BEALE_C, start=1):
        t = c + a * (b ** i - 1.0)
        gradient = np.array([b ** i - 1.0, i * a * b ** (i - 1)])
        hessian = np.array([[0.0, i * b ** (i - 1)],
                            [i * b ** (i - 1), i * (i - 1) * a * b ** (i - 2) if i > 1 else 0.0]])
        yield t, gradient, hessian


def _beale_grad(x):
    return sum(2.0 * t * g for t, g, _ in _beale_parts(x))


def _beale_hess(x):
    return sum(2.0 * (np.outer(g, g) + t * h) for t, g, h in _beale_parts(x))


def _wood(xp):
    def f(x):
        return (100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2
                + 90.0 * (x[3] - x[2] ** 2) ** 2 + (1.0 - x[2]) ** 2
                + 10.1 * ((x[1] - 1.0) ** 2 + (x[3] - 1.0) ** 2)
                + 19.8 * (x[1] - 1.0) * (x[3] - 1.0))

    return f


def _wood_grad(x):
    x1, x2, x3, x4 = x
    return np.array([
        -400.0 * x1 * (x2 - x1 ** 2) - 2.0 * (1.0 - x1),
        200.0 * (x2 - x1 ** 2) + 20.2 * (x2 - 1.0) + 19.8 * (x4 - 1.0),
        -360.0 * x3 * (x4 - x3 ** 2) - 2.0 * (1.0 - x3),
        180.0 * (x4 - x3 ** 2) + 20.2 * (x4 - 1.0) + 19.8 * (x2 - 1.0),
    ])


def _wood_hess(x):
    x1, x2, x3, x4 = x
    return np.array([
        [1200.0 * x1 ** 2 - 400.0 * x2 + 2.0, -400.0 * x1, 0.0, 0.0],
        [-400.0 * x1, 220.2, 0.0, 19.8],
        [0.0, 0.0, 1080.0 * x3 ** 2 - 360.0 * x4 + 2.0, -360.0 * x3],
        [0.0, 19.8, -360.0 * x3, 200.2],
    ])


def _powell(xp):
    """Extended Powell singular: blocks ``(x1, x2, x3, x4)`` of 4 consecutive entries."""

    def f(x):
        x1, x2, x3, x4 = x[0::4], x[1::4], x[2::4], x[3::4]
        return xp.sum((x1 + 10.0 * x2) ** 2 + 5.0 * (x3 - x4) ** 2 + (x2 - 2.0 * x3) ** 4
                      + 10.0 * (x1 - x4) ** 4)

    return f


def _powell_grad(x):
    x1, x2, x3, x4 = x[0::4], x[1::4], x[2::4], x[3::4]
    a, b = x2 - 2.0 * x3, x1 - x4
    g = np.empty_like(x)
    g[0::4] = 2.0 * (x1 + 10.0 * x2) + 40.0 * b ** 3
    g[1::4] = 20.0 * (x1 + 10.0 * x2) + 4.0 * a ** 3
    g[2::4] = 10.0 * (x3 - x4) - 8.0 * a ** 3
    g[3::4] = -10.0 * (x3 - x4) - 40.0 * b ** 3
    return g


def _powell_hess(x):
    n = len(x)
    h = np.zeros((n, n))
    for k in range(0, n, 4):
        a, b = x[k + 1] - 2.0 * x[k + 2], x[k] - x[k + 3]
        h[k:k + 4, k:k + 4] = [
            [2.0 + 120.0 * b ** 2, 20.0, 0.0, -120.0 * b ** 2],
            [20.0, 200.0 + 12.0 * a ** 2, -24.0 * a ** 2, 0.0],
            [0.0, -24.0 * a ** 2, 10.0 + 48.0 * a ** 2, -10.0],
            [-120.0 * b ** 2, 0.0, -10.0, 10.0 + 120.0 * b ** 2],
        ]
    return h


def _quadratic_data(n: int, condition: float):
    """``A = Q diag(logspace(0, log10 cond, n)) Q^T`` (seeded), ``b = A 1``: minimum at 1."""
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))
    a = (q * np.logspace(0.0, np.log10(condition), n)) @ q.T
    a = (a + a.T) / 2.0
    return a, a @ np.ones(n)


@dataclass(frozen=True)
class Problem:
    """An unconstrained test problem: ``make(xp)`` gives ``f``; analytic derivatives in NumPy.

    ``hess`` is dense; ``hessp`` defaults to ``hess(x) @ v``.
    """

    name: str
    x0: np.ndarray
    make: Callable
    grad: Callable
    hess: Callable
    hessp_fn: Callable | None = None
    minimum: float = 0.0

    def hessp(self, x, v):
        return self.hessp_fn(x, v) if self.hessp_fn is not None else self.hess(x) @ v


def _rosenbrock_problem(n: int) -> Problem:
    x0 = np.ones(n)
    x0[::2] = -1.2
    return Problem(f"Rosenbrock n={n}", x0, rosenbrock, rosenbrock_grad, rosenbrock_hess,
                   rosenbrock_hessp)


def _quadratic_problem(n: int, condition: float) -> Problem:
    a, b = _quadratic_data(n, condition)

    def make(xp):
        def f(x):
            return 0.5 * xp.sum(x * (a @ x)) - xp.sum(b * x)

        return f

    minimum = -0.5 * float(b @ np.ones(n))
    return Problem(f"quadratic n={n} cond={condition:.0e}", np.zeros(n), make,
                   lambda x: a @ x - b, lambda x: a, lambda x, v: a @ v, minimum)


def optimization_problems(quick: bool) -> list[Problem]:
    """The optimizer benchmark's problems (Rosenbrock at n = 20 instead of 1000 if ``quick``)."""
    n_powell = 100
    return [
        _rosenbrock_problem(20 if quick else 1000),
        Problem("Beale", np.array([1.0, 1.0]), _beale, _beale_grad, _beale_hess),
        Problem("Wood", np.array([-3.0, -1.0, -3.0, -1.0]), _wood, _wood_grad, _wood_hess),
        Problem(f"extended Powell n={n_powell}", np.tile([3.0, -1.0, 0.0, 1.0], n_powell // 4),
                _powell, _powell_grad, _powell_hess),
        _quadratic_problem(100, 1e4),
    ]
