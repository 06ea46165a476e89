"""Test problems for the solvers in ``autodiff.optim``, with analytic derivatives.

The standard unconstrained test set (Moré, Garbow & Hillstrom, "Testing unconstrained
optimization software", 1981) with its standard starting points, plus an ill-conditioned convex
quadratic and the elliptical bowl ``x² + 4y²`` of Aggarwal (*Neural Networks and Deep Learning*,
2018, sec. 3.4). Every problem is an
``autodiff.optim.Objective`` built from hand-written gradients and Hessian(-vector) products, so
the solvers are tested independently of the autodiff core.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import rosen, rosen_der, rosen_hess, rosen_hess_prod

from autodiff.optim import Objective


@dataclass(frozen=True)
class Problem:
    """An objective, its standard start, its minimiser and minimum, and how close is "there"."""

    name: str
    objective: Objective
    x0: np.ndarray
    x_star: np.ndarray
    f_star: float
    x_tol: float = 1e-4
    f_tol: float = 1e-8

    def reached(self, result):
        """Whether ``result`` is at the known minimum (to this problem's tolerances)."""
        return (abs(result.fun - self.f_star) <= self.f_tol * max(1.0, abs(self.f_star))
                and np.max(np.abs(result.x - self.x_star)) <= self.x_tol)


# Extended Rosenbrock: n/2 independent copies of 100 (x₂ - x₁²)² + (1 - x₁)².

def extended_rosenbrock(x):
    a, b = x[0::2], x[1::2]
    return float(np.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2))


def extended_rosenbrock_grad(x):
    a, b = x[0::2], x[1::2]
    g = np.empty_like(x)
    g[0::2] = -400.0 * a * (b - a**2) - 2.0 * (1.0 - a)
    g[1::2] = 200.0 * (b - a**2)
    return g


def extended_rosenbrock_hessp(x, p):
    a, b = x[0::2], x[1::2]
    pa, pb = p[0::2], p[1::2]
    h_aa = 1200.0 * a**2 - 400.0 * b + 2.0
    h_ab = -400.0 * a
    out = np.empty_like(x)
    out[0::2] = h_aa * pa + h_ab * pb
    out[1::2] = h_ab * pa + 200.0 * pb
    return out


# Beale: three squared residuals yᵢ - x₁(1 - x₂ⁱ), y = (1.5, 2.25, 2.625).

_BEALE_Y = np.array([1.5, 2.25, 2.625])


def _beale_parts(x):
    x1, x2 = x
    powers = np.arange(1, 4)
    residuals = _BEALE_Y - x1 * (1.0 - x2**powers)
    jacobian = np.column_stack([x2**powers - 1.0, powers * x1 * x2 ** (powers - 1)])
    return residuals, jacobian


def beale(x):
    residuals, _ = _beale_parts(x)
    return float(residuals @ residuals)


def beale_grad(x):
    residuals, jacobian = _beale_parts(x)
    return 2.0 * jacobian.T @ residuals


def beale_hessian(x):
    x1, x2 = x
    residuals, jacobian = _beale_parts(x)
    second = np.zeros((2, 2))
    for power, residual in zip(range(1, 4), residuals):
        cross = power * x2 ** (power - 1)
        second += residual * np.array([[0.0, cross],
                                       [cross, power * (power - 1) * x1 * x2 ** max(power - 2, 0)]])
    return 2.0 * (jacobian.T @ jacobian + second)


# Wood (Colville): four variables, a saddle region near (-1, 1, -1, 1) on the way.

def wood(x):
    x1, x2, x3, x4 = x
    return float(100 * (x1**2 - x2) ** 2 + (x1 - 1) ** 2 + (x3 - 1) ** 2
                 + 90 * (x3**2 - x4) ** 2 + 10.1 * ((x2 - 1) ** 2 + (x4 - 1) ** 2)
                 + 19.8 * (x2 - 1) * (x4 - 1))


def wood_grad(x):
    x1, x2, x3, x4 = x
    return np.array([
        400 * x1 * (x1**2 - x2) + 2 * (x1 - 1),
        -200 * (x1**2 - x2) + 20.2 * (x2 - 1) + 19.8 * (x4 - 1),
        2 * (x3 - 1) + 360 * x3 * (x3**2 - x4),
        -180 * (x3**2 - x4) + 20.2 * (x4 - 1) + 19.8 * (x2 - 1),
    ])


def wood_hessian(x):
    x1, x2, x3, x4 = x
    return np.array([
        [1200 * x1**2 - 400 * x2 + 2, -400 * x1, 0.0, 0.0],
        [-400 * x1, 220.2, 0.0, 19.8],
        [0.0, 0.0, 1080 * x3**2 - 360 * x4 + 2, -360 * x3],
        [0.0, 19.8, -360 * x3, 200.2],
    ])


# Extended Powell singular: the Hessian at the minimiser 0 is singular (quartic terms), so
# Newton converges only linearly and "at the minimum" means within the quartic's flat bottom.

def powell(x):
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return float(np.sum((a + 10 * b) ** 2 + 5 * (c - d) ** 2 + (b - 2 * c) ** 4
                        + 10 * (a - d) ** 4))


def powell_grad(x):
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    g = np.empty_like(x)
    g[0::4] = 2 * (a + 10 * b) + 40 * (a - d) ** 3
    g[1::4] = 20 * (a + 10 * b) + 4 * (b - 2 * c) ** 3
    g[2::4] = 10 * (c - d) - 8 * (b - 2 * c) ** 3
    g[3::4] = -10 * (c - d) - 40 * (a - d) ** 3
    return g


def powell_hessp(x, p):
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    pa, pb, pc, pd = p[0::4], p[1::4], p[2::4], p[3::4]
    u = 12 * (b - 2 * c) ** 2
    v = 120 * (a - d) ** 2
    out = np.empty_like(x)
    out[0::4] = 2 * (pa + 10 * pb) + v * (pa - pd)
    out[1::4] = 20 * (pa + 10 * pb) + u * (pb - 2 * pc)
    out[2::4] = 10 * (pc - pd) - 2 * u * (pb - 2 * pc)
    out[3::4] = -10 * (pc - pd) - v * (pa - pd)
    return out


def spd_matrix(n, condition, seed):
    """A random symmetric positive definite matrix with log-spaced eigenvalues in [1, cond]."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    matrix = (q * np.logspace(0.0, np.log10(condition), n)) @ q.T
    return 0.5 * (matrix + matrix.T)


def quadratic_problem(n, condition, seed=0, name=None):
    """``½ xᵀA x - bᵀx`` with ``cond(A) = condition``, from ``x0 = 0``."""
    matrix = spd_matrix(n, condition, seed)
    b = np.random.default_rng(seed + 1).standard_normal(n)
    x_star = np.linalg.solve(matrix, b)
    objective = Objective(lambda x: 0.5 * x @ matrix @ x - b @ x, lambda x: matrix @ x - b,
                          hessp=lambda x, p: matrix @ p, hessian=lambda x: matrix)
    return Problem(name or f"quadratic-cond{condition:g}", objective, np.zeros(n), x_star,
                   float(-0.5 * b @ x_star))


def bowl_problem():
    """Aggarwal's elliptical bowl ``L = x² + 4y²``."""
    scales = np.array([1.0, 4.0])
    objective = Objective(lambda w: float(scales @ w**2), lambda w: 2.0 * scales * w,
                          hessp=lambda w, p: 2.0 * scales * p,
                          hessian=lambda w: np.diag(2.0 * scales))
    return Problem("bowl", objective, np.array([3.0, 1.0]), np.zeros(2), 0.0)


def chained_rosenbrock_problem(n):
    """SciPy's ``rosen``: ``Σ 100 (x_{i+1} - x_i²)² + (1 - x_i)²`` over consecutive pairs."""
    objective = Objective(rosen, rosen_der, hessp=rosen_hess_prod, hessian=rosen_hess)
    return Problem(f"chained-rosenbrock-{n}", objective, np.tile([-1.2, 1.0], n // 2),
                   np.ones(n), 0.0)


def extended_rosenbrock_problem(n):
    objective = Objective(extended_rosenbrock, extended_rosenbrock_grad,
                          hessp=extended_rosenbrock_hessp)
    return Problem(f"extended-rosenbrock-{n}", objective, np.tile([-1.2, 1.0], n // 2),
                   np.ones(n), 0.0)


def standard_problems():
    """The problems every second-order, quasi-Newton and nonlinear-CG method must solve."""
    return [
        extended_rosenbrock_problem(100),
        extended_rosenbrock_problem(1000),
        Problem("beale", Objective(beale, beale_grad, hessian=beale_hessian),
                np.array([1.0, 1.0]), np.array([3.0, 0.5]), 0.0),
        Problem("wood", Objective(wood, wood_grad, hessian=wood_hessian),
                np.array([-3.0, -1.0, -3.0, -1.0]), np.ones(4), 0.0),
        Problem("powell-singular-20", Objective(powell, powell_grad, hessp=powell_hessp),
                np.tile([3.0, -1.0, 0.0, 1.0], 5), np.zeros(20), 0.0, x_tol=2e-2, f_tol=1e-6),
        quadratic_problem(100, 1e4),
    ]
