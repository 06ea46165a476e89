"""Nonlinear conjugate gradients (``"cg"``) and gradient descent (``"gd"``).

Nonlinear CG moves along ``x_{k+1} = x_k + α_k q_k`` with the direction

    q_{k+1} = -∇f(x_{k+1}) + β_{k+1} q_k,

where ``β`` makes the new direction (nearly) conjugate to the old one. Two choices of ``β``:

* ``beta="pr+"`` (Polak–Ribière+, the default)::

      β = max(0, ∇f_{k+1}ᵀ(∇f_{k+1} - ∇f_k) / ∇f_kᵀ∇f_k)

  The clipping at 0 restarts with steepest descent when PR would turn away from it; a restart
  also happens every ``restart`` iterations (default ``n``). (Powell's extra restart test,
  Nocedal & Wright eq. 5.52, is left out: on the test problems it doubled the iterations.)

* ``beta="hessian"``: Aggarwal (*Neural Networks and Deep Learning*, 2018, sec. 3.5.6.1), with ``H = ∇²f(x_{k+1})`` (Daniel's method)::

      q_{k+1} = -∇f_{k+1} + (q_kᵀ H ∇f_{k+1} / q_kᵀ H q_k) q_k

  which is exactly ``H``-conjugate to ``q_k``. The Hessian is only applied to vectors
  (Aggarwal's sec. 3.5.6.1: two products per step, ``H q_k`` and ``H ∇f_{k+1}``, at one
  linearisation). The same products give the curvature along the new direction,
  ``q_{k+1}ᵀH q_{k+1}``, so the line search starts from the step that minimises the quadratic
  model along ``q_{k+1}``,
  ``α = -∇fᵀq / qᵀH q``: Aggarwal's "optimal step-sizes" (sec. 3.5.6.1). On a quadratic ``½xᵀAx - bᵀx`` this is
  linear CG and ends in at most ``n`` steps (two on the elliptical bowl ``x² + 4y²``).

The line search enforces the strong Wolfe conditions with ``c₂ = 0.1``, as nonlinear CG needs
for its directions to stay descent directions; one that is not is replaced by ``-∇f``.
"""

import numpy as np

from .line_search import LineSearchFailure, strong_wolfe
from .objective import Iterate
from ..validation import positive_int

__all__ = ["gradient_descent", "nonlinear_cg"]

_BETAS = ("pr+", "hessian")


def _model_step(gradient, direction, curvature):
    """``-∇fᵀq / qᵀHq`` when the curvature along q is positive, else None."""
    if curvature > 0.0 and np.isfinite(curvature):
        return float(-(gradient @ direction) / curvature)
    return None


def _hessian_beta_direction(hessian, g_new, q, conjugate):
    """Aggarwal's (2018, sec. 3.5.6.1) Hessian-based beta at the new point: ``(q_new, q_newᵀH q_new)``.

    Two products, ``H ∇f`` and ``H q``; they also give ``H q_new = -H ∇f + β H q`` and so the
    curvature along the new direction without a third. Steepest descent (``β = 0``) when
    ``conjugate`` is False or the curvature along ``q`` is not positive.
    """
    hg = hessian(g_new)
    q_new, hq_new = -g_new, -hg
    if conjugate:
        hq = hessian(q)
        q_curvature = float(q @ hq)
        if q_curvature > 0.0:
            b = float(g_new @ hq) / q_curvature
            q_new, hq_new = -g_new + b * q, -hg + b * hq
    return q_new, float(q_new @ hq_new)


def nonlinear_cg(objective, start, *, beta="pr+", restart=None):
    """Nonlinear conjugate gradients with ``beta="pr+"`` or ``beta="hessian"`` (see module).

    Options: ``beta``; ``restart``, the number of iterations after which the direction is reset
    to ``-∇f`` (default ``n``).
    """
    if beta not in _BETAS:
        raise ValueError(f"beta must be one of {', '.join(map(repr, _BETAS))}, got {beta!r}")
    x, f, g = start
    restart = x.size if restart is None else positive_int(restart, "restart")
    use_hessian = beta == "hessian"
    q = -g
    since_restart = 0
    initial_step = min(1.0, 1.0 / np.linalg.norm(g))
    if use_hessian:
        curvature = objective.hvp_operator(x).curvature(q)
        initial_step = _model_step(g, q, curvature) or initial_step
    while True:
        try:
            step = strong_wolfe(objective, x, f, g, q, initial_step=initial_step, c2=0.1)
        except LineSearchFailure as failure:
            return str(failure)
        x_new, f_new, g_new = step.x, step.fun, step.grad
        yield Iterate(x_new, f_new, g_new)
        since_restart += 1
        conjugate = since_restart < restart
        if use_hessian:
            q_new, curvature = _hessian_beta_direction(objective.hvp_operator(x_new), g_new, q,
                                                       conjugate)
        else:
            b = max(0.0, float(g_new @ (g_new - g)) / float(g @ g)) if conjugate else 0.0
            q_new = -g_new + b * q
        if not g_new @ q_new < 0.0:  # rounding spoilt the descent property: restart
            q_new = -g_new
            curvature = None
        if np.array_equal(q_new, -g_new):
            since_restart = 0
        # the next search starts from the step with the same first-order change as this one
        # (Nocedal & Wright eq. 3.60), or from the model minimiser when the Hessian is known
        initial_step = step.step * float(g @ q) / float(g_new @ q_new)
        if use_hessian and curvature is not None:
            initial_step = _model_step(g_new, q_new, curvature) or initial_step
        x, f, g, q = x_new, f_new, g_new, q_new


def gradient_descent(objective, start):
    """Steepest descent ``x ← x - α ∇f(x)`` with a strong-Wolfe line search (``c₂ = 0.9``).

    The first trial step is ``min(1, 1/‖∇f‖)``, later ones keep the first-order change of the
    previous step, ``α₀ = α_{k-1} ‖∇f_{k-1}‖² / ‖∇f_k‖²`` (Nocedal & Wright eq. 3.60). Its
    convergence is linear with rate ``((κ - 1)/(κ + 1))²`` for condition number ``κ``: use it on
    well-conditioned problems.
    """
    x, f, g = start
    initial_step = min(1.0, 1.0 / np.linalg.norm(g))
    while True:
        try:
            step = strong_wolfe(objective, x, f, g, -g, initial_step=initial_step, c2=0.9)
        except LineSearchFailure as failure:
            return str(failure)
        previous_squared_norm = float(g @ g)
        x, f, g = step.x, step.fun, step.grad
        yield Iterate(x, f, g)
        initial_step = step.step * previous_squared_norm / float(g @ g)
