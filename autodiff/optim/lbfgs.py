"""Limited-memory BFGS (``"lbfgs"``), Nocedal & Wright alg. 7.4 and 7.5.

BFGS keeps an approximation ``B_k⁻¹ ≈ ∇²f(x_k)⁻¹`` built from the steps ``s_i = x_{i+1} - x_i``
and gradient changes ``y_i = ∇f(x_{i+1}) - ∇f(x_i)``, so that ``B_{k+1} s_k = y_k`` (the secant
equation). L-BFGS stores only the last ``m`` pairs and applies the inverse approximation to the
gradient by the *two-loop recursion*::

    q ← ∇f
    for i = k-1, …, k-m:   a_i = ρ_i s_iᵀq;  q ← q - a_i y_i         (ρ_i = 1 / y_iᵀs_i)
    r ← γ q,   γ = s_{k-1}ᵀy_{k-1} / y_{k-1}ᵀy_{k-1}                  (the initial scaling)
    for i = k-m, …, k-1:   b = ρ_i y_iᵀr;  r ← r + (a_i - b) s_i
    p = -r

The strong-Wolfe line search guarantees ``y_kᵀs_k > 0`` in exact arithmetic, which keeps the
approximation positive definite; a pair that fails it numerically is skipped.
"""

from collections import deque

import numpy as np

from .line_search import LineSearchFailure, strong_wolfe
from .objective import Iterate
from ..validation import positive_int

__all__ = ["lbfgs", "two_loop_direction"]


def two_loop_direction(gradient, pairs):
    """``-B⁻¹ ∇f`` by the two-loop recursion over ``pairs = [(s, y, ρ), …]``, oldest first."""
    q = gradient.copy()
    coefficients = []
    for s, y, rho in reversed(pairs):
        a = rho * (s @ q)
        q -= a * y
        coefficients.append(a)
    s, y, _ = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y, rho), a in zip(pairs, reversed(coefficients)):
        b = rho * (y @ r)
        r += (a - b) * s
    return -r


def lbfgs(objective, start, *, memory=10):
    """L-BFGS with a strong-Wolfe line search (``c₂ = 0.9``, unit step tried first).

    The first step is steepest descent with trial length ``min(1, 1/‖∇f‖)``. A direction that is
    not a descent direction (rounding) clears the memory and restarts from ``-∇f``.

    Options: ``memory`` (m = 10), the number of ``(s, y)`` pairs kept.
    """
    memory = positive_int(memory, "memory")
    x, f, g = start
    pairs = deque(maxlen=memory)
    p = -g
    initial_step = min(1.0, 1.0 / np.linalg.norm(g))
    while True:
        try:
            step = strong_wolfe(objective, x, f, g, p, initial_step=initial_step, c2=0.9)
        except LineSearchFailure as failure:
            return str(failure)
        s, y = step.x - x, step.grad - g
        sy = float(s @ y)
        if sy > np.finfo(float).eps * np.linalg.norm(s) * np.linalg.norm(y):
            pairs.append((s, y, 1.0 / sy))
        x, f, g = step.x, step.fun, step.grad
        yield Iterate(x, f, g)
        if pairs:
            p = two_loop_direction(g, list(pairs))
            initial_step = 1.0
        if not pairs or not g @ p < 0.0:
            pairs.clear()
            p = -g
            initial_step = min(1.0, 1.0 / np.linalg.norm(g))
