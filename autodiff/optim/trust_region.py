"""Trust-region Newton-CG (``"trust-ncg"``): Steihaug–Toint CG inside a ball of radius Δ.

Each iteration approximately minimises the quadratic model

    m(p) = ∇f(x)ᵀp + ½ pᵀ H p,    H = ∇²f(x),    subject to ‖p‖ <= Δ,

then compares the actual reduction with the predicted one,

    ρ = (f(x) - f(x + p)) / (-m(p)),

accepting the step when ``ρ > η`` and adapting the radius: ``Δ ← ¼‖p‖`` when ``ρ < ¼`` (the model
was poor), ``Δ ← min(2Δ, Δ_max)`` when ``ρ > ¾`` and the step reached the boundary
(Nocedal & Wright alg. 4.1). No line search is needed, and negative curvature is used rather
than avoided: it pushes the step to the boundary.
"""

import numbers

import numpy as np

from .objective import Iterate
from ..validation import positive_float, positive_int

__all__ = ["steihaug_cg", "trust_ncg"]


def _to_boundary(z, d, radius):
    """Both roots ``τ₋ <= τ₊`` of ``‖z + τ d‖ = Δ`` (``‖z‖ <= Δ``, so ``τ₋ <= 0 <= τ₊``)."""
    a = d @ d
    b = 2.0 * (z @ d)
    c = z @ z - radius * radius
    root = np.sqrt(max(b * b - 4.0 * a * c, 0.0))
    # the numerically stable pair of roots (no cancellation between b and root)
    q = -0.5 * (b + np.copysign(root, b))
    if q == 0.0:
        return 0.0, 0.0
    return tuple(sorted((q / a, c / q)))


def steihaug_cg(hessian, gradient, radius, tol, maxiter):
    """Steihaug–Toint CG (Nocedal & Wright alg. 7.2): approximately minimise ``m(p)`` in the ball.

    CG on ``H p = -g`` from ``p = 0``, with residual ``r = H p + g``, stops when

    * ``‖r‖ <= tol ‖g‖``: an interior approximate Newton step;
    * a direction ``d`` has ``dᵀH d <= 0``: follow it to the boundary (the root ``τ`` giving
      the lower model value);
    * the next iterate would leave the ball: stop on the boundary along ``d``.

    Returns ``(p, model_value, on_boundary)`` with ``model_value = m(p) <= 0``, computed from
    the tracked residual: ``m(p) = gᵀp + ½ pᵀ(r - g)`` since ``H p = r - g``; ``model_value``
    is nan when a product was not finite.
    """
    z = np.zeros_like(gradient)
    r = gradient.copy()
    d = -r
    threshold = tol * np.linalg.norm(gradient)

    def model(p, residual):
        return float(gradient @ p + 0.5 * (p @ (residual - gradient)))

    for _ in range(maxiter):
        hd = hessian(d)
        curvature = float(d @ hd)
        if not np.isfinite(curvature):
            return z, np.nan, False
        if curvature <= 0.0:
            taus = _to_boundary(z, d, radius)
            candidates = [z + tau * d for tau in taus]
            residuals = [r + tau * hd for tau in taus]
            values = [model(p, res) for p, res in zip(candidates, residuals)]
            best = int(np.argmin(values))
            return candidates[best], values[best], True
        rr = float(r @ r)
        alpha = rr / curvature
        z_next = z + alpha * d
        if np.linalg.norm(z_next) >= radius:
            tau = _to_boundary(z, d, radius)[1]
            p, residual = z + tau * d, r + tau * hd
            return p, model(p, residual), True
        z = z_next
        r = r + alpha * hd
        if np.linalg.norm(r) <= threshold:
            break
        d = -r + (float(r @ r) / rr) * d
    return z, model(z, r), False


def trust_ncg(objective, start, *, initial_radius=1.0, max_radius=1000.0, eta=0.15,
              cg_maxiter=None):
    """Trust-region Newton-CG with Steihaug–Toint inner iterations.

    The inner CG tolerance follows the same forcing sequence as ``newton-cg``,
    ``η_k = min(0.5, √‖∇f‖)``. One Hessian operator serves all the trial steps at a point;
    a rejected step costs one function-and-gradient evaluation and no new linearisation.
    When the actual and predicted reductions agree to rounding (both at the level of
    ``10 ε |f|``), ``ρ = 1``: the model cannot be judged more finely in float64.

    Options: ``initial_radius`` (Δ₀ = 1), ``max_radius`` (Δ_max = 1000), ``eta`` (acceptance
    threshold η = 0.15, in [0, ¼)), ``cg_maxiter`` (default ``20 n``).
    """
    radius = positive_float(initial_radius, "initial_radius")
    max_radius = positive_float(max_radius, "max_radius")
    if radius > max_radius:
        raise ValueError(f"initial_radius = {radius} exceeds max_radius = {max_radius}")
    if isinstance(eta, bool) or not isinstance(eta, numbers.Real) or not 0.0 <= eta < 0.25:
        raise ValueError(f"eta must lie in [0, 0.25), got {eta!r}")
    x, f, g = start
    cg_maxiter = 20 * x.size if cg_maxiter is None else positive_int(cg_maxiter, "cg_maxiter")
    while True:
        hessian = objective.hvp_operator(x)
        forcing = min(0.5, np.sqrt(np.linalg.norm(g)))
        while True:
            p, model_value, on_boundary = steihaug_cg(hessian, g, radius, forcing, cg_maxiter)
            if not np.isfinite(model_value):
                return "a Hessian-vector product returned non-finite values"
            predicted = -model_value
            if not predicted > 0.0:
                return ("the quadratic model predicts no decrease: the gradient is at the "
                        "rounding level of the Hessian products")
            trial = x + p
            f_trial, g_trial = objective.value_and_grad(trial)
            actual = f - f_trial
            if not (np.isfinite(f_trial) and np.all(np.isfinite(g_trial))):
                ratio = -np.inf
            elif abs(actual - predicted) <= 10.0 * np.finfo(float).eps * max(abs(f), 1.0):
                ratio = 1.0
            else:
                ratio = actual / predicted
            if ratio < 0.25:
                radius = 0.25 * np.linalg.norm(p)
            elif ratio > 0.75 and on_boundary:
                radius = min(2.0 * radius, max_radius)
            if ratio > eta:
                break
            if radius <= np.finfo(float).eps * max(np.linalg.norm(x), 1.0):
                return "the trust region shrank below float64 resolution without a decrease of f"
        x, f, g = trial, f_trial, g_trial
        yield Iterate(x, f, g)
