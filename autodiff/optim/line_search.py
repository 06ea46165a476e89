"""A line search meeting the strong Wolfe conditions (Nocedal & Wright, alg. 3.5 and 3.6).

Along a descent direction ``p`` from ``x`` let ``φ(α) = f(x + α p)``, so ``φ'(α) = ∇f(x + α p)ᵀp``
and ``φ'(0) < 0``. A step ``α > 0`` satisfies the *strong Wolfe conditions* when

    φ(α) <= φ(0) + c₁ α φ'(0)          (sufficient decrease)
    |φ'(α)| <= c₂ |φ'(0)|              (curvature: the slope has flattened)

with ``0 < c₁ < c₂ < 1``. The search tries growing steps ``α₀, 2α₀, 4α₀, …`` until one of them
meets both conditions or a bracket ``[α_lo, α_hi]`` containing such steps is known (the decrease
failed, or the slope turned non-negative); ``zoom`` then shrinks the bracket, placing each trial
at the minimiser of the cubic through ``φ`` and ``φ'`` at both ends (or of a quadratic, or the
midpoint, when the cubic is unusable or lands within 10% of an end). ``α_lo`` always holds the
lowest value with sufficient decrease seen so far.

Non-finite values (``f`` overflowing, a ``log`` of a negative number) count as a failed
decrease: the search backs off towards ``α_lo`` instead of raising.

Close to a minimum the change ``φ(α) - φ(0)`` can sink below the rounding error of ``f``
itself, and a test on values alone then rejects every step. When the measured change is
within ``1000 ε |φ(0)|`` the search uses the trapezoidal estimate from the slopes,

    φ(α) - φ(0) ≈ ½ α (φ'(0) + φ'(α)),

which is exact for quadratic ``φ`` (this is the idea behind Hager & Zhang's approximate Wolfe
conditions): gradients keep their relative accuracy where values lose theirs.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["LineSearchFailure", "LineSearchResult", "strong_wolfe"]


class LineSearchFailure(Exception):
    """No acceptable step was found; the message says why."""


@dataclass(frozen=True)
class LineSearchResult:
    """The accepted step ``α``, the new point ``x + α p`` with its value and gradient, and
    whether it meets the strong Wolfe conditions (``wolfe``) or only sufficient decrease."""

    step: float
    x: np.ndarray
    fun: float
    grad: np.ndarray
    wolfe: bool


class _Trial(NamedTuple):  # a tuple: built several times per search, cheaply
    step: float
    x: np.ndarray
    fun: float
    grad: np.ndarray
    slope: float
    change: float  # φ(α) - φ(0), measured or (at rounding level) estimated from the slopes

    @property
    def finite(self):
        return math.isfinite(self.fun) and math.isfinite(self.slope)


_EPS = np.finfo(float).eps


def _cubic_minimiser(a, b):
    """Minimiser of the cubic through ``(φ, φ')`` at the trials ``a`` and ``b`` (N&W eq. 3.59),
    or None when that cubic has no minimiser."""
    d1 = a.slope + b.slope - 3.0 * (a.change - b.change) / (a.step - b.step)
    radicand = d1 * d1 - a.slope * b.slope
    if not radicand >= 0.0:
        return None
    d2 = np.copysign(np.sqrt(radicand), b.step - a.step)
    denominator = b.slope - a.slope + 2.0 * d2
    if denominator == 0.0:
        return None
    return b.step - (b.step - a.step) * (b.slope + d2 - d1) / denominator


def _quadratic_minimiser(a, b):
    """Minimiser of the quadratic through ``φ(a), φ'(a), φ(b)``, or None."""
    width = b.step - a.step
    curvature = b.change - a.change - a.slope * width
    if not curvature > 0.0:
        return None
    return a.step - a.slope * width * width / (2.0 * curvature)


def _interpolate(lo, hi):
    """A trial step inside the bracket, at least 10% of its width away from both ends."""
    left, right = sorted((lo.step, hi.step))
    margin = 0.1 * (right - left)
    candidates = []
    if hi.finite:
        candidates.append(_cubic_minimiser(lo, hi))
    if np.isfinite(hi.change):
        candidates.append(_quadratic_minimiser(lo, hi))
    for candidate in candidates:
        if candidate is not None and np.isfinite(candidate) and \
                left + margin <= candidate <= right - margin:
            return float(candidate)
    return 0.5 * (left + right)


def strong_wolfe(objective, x, fun, grad, direction, initial_step=1.0, c1=1e-4, c2=0.9,
                 max_evaluations=50):
    """Find a step along ``direction`` meeting the strong Wolfe conditions.

    Parameters
    ----------
    objective
        An :class:`~autodiff.optim.objective.Objective` (uses ``value_and_grad``).
    x, fun, grad
        The current point, ``f(x)`` and ``∇f(x)``.
    direction
        A descent direction ``p`` (``∇f(x)ᵀp < 0``).
    initial_step
        The first trial ``α₀`` (1 for Newton-like directions).
    c1, c2
        The constants of the conditions; ``c2 = 0.9`` suits Newton and quasi-Newton
        directions, ``c2 = 0.1`` nonlinear conjugate gradients.
    max_evaluations
        The most ``value_and_grad`` calls to spend.

    Returns
    -------
    LineSearchResult
        When the budget runs out, or the bracket shrinks below what float64 can resolve, the
        best step with sufficient decrease found so far is returned with ``wolfe=False``; when
        there is none, :class:`LineSearchFailure` is raised.
    """
    slope0 = float(grad.dot(direction))
    if not slope0 < 0.0:
        raise LineSearchFailure(f"the search direction is not a descent direction "
                                f"(∇fᵀp = {slope0:.3g})")
    origin = _Trial(0.0, x, fun, grad, slope0, 0.0)
    resolution = 1e3 * _EPS * abs(fun)
    evaluations = 0

    def evaluate(step):
        nonlocal evaluations
        evaluations += 1
        point = x + step * direction
        value, gradient = objective.value_and_grad(point)
        slope = float(gradient.dot(direction))
        change = value - fun
        if abs(change) <= resolution and math.isfinite(slope):
            change = 0.5 * step * (slope0 + slope)
        return _Trial(step, point, value, gradient, slope, change)

    def sufficient_decrease(trial):
        return trial.finite and trial.change <= c1 * trial.step * slope0

    def flat_enough(trial):
        return abs(trial.slope) <= -c2 * slope0

    def accept(trial, wolfe):
        return LineSearchResult(trial.step, trial.x, trial.fun, trial.grad, wolfe)

    def zoom(lo, hi):
        scale = max(np.abs(x).max(), 1.0) / np.abs(direction).max()  # of the steps, in x
        while evaluations < max_evaluations:
            if abs(hi.step - lo.step) <= _EPS * scale:
                break  # the trial points no longer differ in float64
            trial = evaluate(_interpolate(lo, hi))
            if not sufficient_decrease(trial) or trial.change >= lo.change:
                hi = trial
                continue
            if flat_enough(trial):
                return accept(trial, wolfe=True)
            if trial.slope * (hi.step - lo.step) >= 0.0:
                hi = lo
            lo = trial
        if lo.step > 0.0:
            return accept(lo, wolfe=False)
        raise LineSearchFailure(
            f"the line search found no decrease of f along the search direction in "
            f"{evaluations} evaluations (f may be noisy, its gradient wrong, or the tolerance "
            "finer than float64 can resolve)"
        )

    previous = origin
    step = float(initial_step)
    while evaluations < max_evaluations:
        trial = evaluate(step)
        if not sufficient_decrease(trial) or (previous.step > 0.0 and
                                              trial.change >= previous.change):
            return zoom(previous, trial)
        if flat_enough(trial):
            return accept(trial, wolfe=True)
        if trial.slope >= 0.0:
            return zoom(trial, previous)
        previous = trial
        step = 2.0 * step
    return accept(previous, wolfe=False)
