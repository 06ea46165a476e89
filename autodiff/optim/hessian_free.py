r"""Martens' Hessian-free optimizer: truncated Newton on damped Gauss-Newton curvature.

Martens 2010 ("Deep learning via Hessian-free optimization", ICML) trains networks by
minimising, at each step, the local quadratic model of the mini-batch objective ``f`` around
the parameters ``θ``::

    q(d) = f(θ) + gᵀd + ½ dᵀ(G + λI) d,        g = ∇f(θ),   G = Jᵀ H_L J   (Gauss-Newton)

with linear conjugate gradients, which only need products ``G v`` (one forward-mode and one
reverse-mode pass: :mod:`autodiff.optim.gauss_newton`), never ``G`` itself. ``G`` is positive
semidefinite for convex losses of the outputs, so the model has no saddle to fall towards. The
ingredients, with the paper's section numbers:

* **CG, truncated by progress (§4.4).** CG stops at iteration ``i > k = max(10, 0.1 i)``
  once ``q`` (measured from ``q(0)``, so ``φ_i = q(d_i) - f(θ) < 0``) decreased by less than
  ``k ε`` relatively over the last ``k`` iterations: ``(φ_i - φ_{i-k}) / φ_i < k ε``
  (``ε = cg_tol = 5e-4``), or after ``cg_max_iter`` iterations.
* **Warm start (§4.5).** CG starts from the previous step's final CG iterate times
  ``warm_start_decay`` (``ζ = 0.95``), not from 0: the directions of slow curvature, which CG
  finds last, carry over between steps.
* **CG-iterate backtracking (§4.6).** The iterates at iterations ``⌈1.3^j⌉`` (and the last)
  are kept; walking back from the last one, the iterate with the lowest mini-batch objective
  ``f(θ + d)`` before it rises again is the step.
* **Levenberg-Marquardt damping (§4.1).** With the reduction ratio
  ``ρ = (f(θ + d) - f(θ)) / (q(d) - q(0))``, ``λ ← 3/2 λ`` when ``ρ < 1/4`` (the model
  over-promised: trust it less) and ``λ ← 2/3 λ`` when ``ρ > 3/4``.
* **Curvature on a smaller mini-batch (§4.3).** The gradient, the reduction ratio and the
  backtracking use the closure's batch; ``G`` may come from a smaller one
  (``step(closure, curvature_closure)``), a new subset at every step: a CG iteration then costs
  a pass over that subset only, while ``G`` stays an unbiased estimate of the batch's (both
  losses must be means over their examples, in the same units). Martens takes the gradient on
  the whole training set and the curvature on one of a few chunks of it, and finds the
  curvature far less sensitive to the batch size than the gradient.
* **Preconditioning (§4.7, optional).** ``M = [diag(Σ_i ∇f_i ⊙ ∇f_i) + λI]^α`` with
  ``α = 0.75``, from per-example gradients. Here ``∇f_i`` is the gradient of example ``i``'s
  share of a mean loss scaled to the mean's units, so that the diagonal is the empirical
  Fisher diagonal ``(1/N) Σ_i ∇ℓ_i ⊙ ∇ℓ_i``, comparable to ``G``'s; "example ``i``" is row
  ``i`` of the outputs (the leading axis) of the curvature mini-batch. Each example costs one
  reverse pass (batched in sweeps of 32), so ``preconditioner_samples`` may estimate the sum
  from evenly spaced rows.
* **Weight decay (optional).** ``weight_decay = w`` adds ``½ w ‖θ‖²`` to the objective: ``w θ``
  to the gradient, ``w I`` to the curvature (exactly, it is quadratic) and to the
  preconditioner, as Martens' experiments do (his "weight-cost"). The loss ``step`` returns is
  the closure's, without the penalty.
* **Line search (Martens and Sutskever 2012, "Training deep and recurrent networks with
  Hessian-free optimization", §8.8).** The step ``θ ← θ + η d`` starts at ``η = lr`` and
  shrinks by 0.8 until ``f(θ + η d) <= f(θ) + 0.01 η gᵀd`` (at most 60 times; otherwise no
  step is taken).

``step(closure)`` follows torch.optim's closure convention adapted to curvature products:
``closure()`` returns ``(outputs, loss_fn)`` for the current mini-batch, with ``outputs``
computed by the model from its parameters and ``loss_fn(outputs)`` the scalar loss. The step
re-runs the closure with the parameters substituted by plain or traced values (the mechanism of
``ad.nn.functional_call``), so the closure must compute the same function every time it is
called within a step (same batch; likewise the optional ``curvature_closure``); dropout masks
and batch-norm statistics are held fixed for the whole step (``ad.levels.hold_module_state``). The closure need not zero gradients or call
``backward``: the step computes what it needs itself and leaves ``.grad`` alone.

Example:

>>> import numpy as np, autodiff as ad
>>> F = ad.nn.functional
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(64, 3)); y = X @ np.array([1.0, -2.0, 0.5])
>>> model = ad.nn.Linear(3, 1, rng=0)
>>> optimizer = ad.optim.HessianFree(model.parameters(), damping=1e-3)
>>> closure = lambda: (model(X)[:, 0], lambda out: F.mse_loss(out, y))
>>> losses = [optimizer.step(closure) for _ in range(3)]
>>> losses[-1] < 1e-12          # a linear least-squares problem: G is its exact Hessian
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import validation
from ..levels import hold_module_state
from ..pytree import flatten, unflatten
from ..rules.primitive import primal_value, shape_of
from ..transforms import value_and_grad
from .first_order import Optimizer
from .gauss_newton import gauss_newton_operator

__all__ = ["HessianFree", "HessianFreeStep"]

_BACKTRACK_GROWTH = 1.3  # CG iterates kept at iterations ceil(1.3^j) (Martens 2010, §4.6)
_LM_BOOST, _LM_DROP = 1.5, 2.0 / 3.0  # Levenberg-Marquardt factors (Martens 2010, §4.1)
_ARMIJO, _SHRINK, _MAX_SHRINKS = 1e-2, 0.8, 60  # line search (Martens and Sutskever 2012, §8.8)
_PRECONDITIONER_SWEEP = 32  # per-example gradients computed 32 at a time


@dataclass(frozen=True)
class HessianFreeStep:
    """What the last :meth:`HessianFree.step` did.

    ``loss``: the closure's loss before the step; ``new_loss``: after it (equal to ``loss``
    when no step was taken); ``cg_iterations``: CG iterations run; ``chosen_iteration``: the
    CG iterate taken after backtracking; ``rho``: the reduction ratio; ``damping``: ``λ`` after
    its update; ``rate``: the line-search step ``η`` (0 when no decrease was found);
    ``curvature_products``: Gauss-Newton products used.
    """

    loss: float
    new_loss: float
    cg_iterations: int
    chosen_iteration: int
    rho: float
    damping: float
    rate: float
    curvature_products: int


# ----------------------------------------------------------------------------------------------
# Lists of arrays (one per parameter) as vectors
# ----------------------------------------------------------------------------------------------


def _dot(a, b) -> float:
    return float(sum(np.vdot(x, y) for x, y in zip(a, b)))


def _combine(alpha, a, beta, b):
    """``alpha a + beta b`` leaf by leaf (dtypes kept)."""
    return [(alpha * x + beta * y).astype(x.dtype, copy=False) for x, y in zip(a, b)]


def _scaled(alpha, a):
    return [(alpha * x).astype(x.dtype, copy=False) for x in a]


# ----------------------------------------------------------------------------------------------
# Conjugate gradients with Martens' stopping rule and saved iterates
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Iterate:
    iteration: int
    x: list
    phi: float  # q(x) - q(0) = gᵀx + ½ xᵀ(G + λI) x


def _backtracking_iterations(max_iter):
    """The iterations ``⌈1.3^j⌉`` at which CG keeps its iterate (Martens 2010, §4.6)."""
    kept, power = set(), 1.0
    while power <= max_iter:
        kept.add(math.ceil(power))
        power *= _BACKTRACK_GROWTH
    return kept


def _truncated_cg(apply_a, b, x0, inverse_m, max_iter, tol):
    """Preconditioned CG on ``A x = b`` from ``x0`` (Nocedal and Wright, *Numerical
    Optimization*, alg. 5.3), tracking ``φ(x) = ½ xᵀA x - bᵀx = -½ xᵀ(b + r)`` for Martens'
    relative-progress test (2010, §4.4). Returns the saved iterates (oldest first; the last is
    the final one) and the number of iterations."""
    kept = _backtracking_iterations(max_iter)
    x = x0
    r = _combine(1.0, b, -1.0, apply_a(x0)) if _dot(x0, x0) > 0.0 else list(b)
    z = inverse_m(r)
    rz = _dot(r, z)
    p = z
    phis = [-0.5 * _dot(x, _combine(1.0, b, 1.0, r))]
    saved = []
    iteration = 0
    while iteration < max_iter and rz > 0.0:
        ap = apply_a(p)
        curvature = _dot(p, ap)
        if not curvature > 0.0:  # only rounding can do this with damping > 0
            break
        alpha = rz / curvature
        x = _combine(1.0, x, alpha, p)
        r = _combine(1.0, r, -alpha, ap)
        iteration += 1
        phi = -0.5 * _dot(x, _combine(1.0, b, 1.0, r))
        phis.append(phi)
        if iteration in kept:
            saved.append(_Iterate(iteration, x, phi))
        window = max(10, math.ceil(0.1 * iteration))
        if iteration > window and phi < 0.0 and \
                (phi - phis[iteration - window]) / phi < window * tol:
            break
        z = inverse_m(r)
        rz_next = _dot(r, z)
        p = _combine(1.0, z, rz_next / rz, p)
        rz = rz_next
    if not saved or saved[-1].iteration != iteration:
        saved.append(_Iterate(iteration, x, phis[-1]))
    return saved, iteration


# ----------------------------------------------------------------------------------------------
# The optimizer
# ----------------------------------------------------------------------------------------------


def _closure_result(result):
    """``(outputs, loss_fn)`` from a closure's return value, checked."""
    if not (isinstance(result, tuple) and len(result) == 2 and callable(result[1])):
        raise TypeError(
            "the closure of HessianFree.step must return (outputs, loss_fn): the model's outputs "
            "for the mini-batch and a function outputs -> scalar loss, got "
            f"{type(result).__name__}"
        )
    return result


def _closure_loss(result):
    outputs, loss_fn = result
    return loss_fn(outputs)


class HessianFree(Optimizer):
    r"""Hessian-free optimization (Martens 2010) with torch.optim's conventions.

    ``HessianFree(params, lr=1.0, damping=1.0, cg_max_iter=250, cg_tol=5e-4,
    warm_start_decay=0.95, adapt_damping=True, weight_decay=0, preconditioner=False,
    preconditioner_exponent=0.75, preconditioner_samples=None)``

    Each :meth:`step` solves ``(G + λI) d = -g`` approximately by truncated, warm-started CG on
    the mini-batch's Gauss-Newton matrix (or that of a smaller curvature mini-batch,
    ``step(closure, curvature_closure)``), backtracks over the CG iterates, adapts ``λ`` from the
    reduction ratio and takes ``θ ← θ + η d`` after a line search starting at ``η = lr`` (the
    module docstring gives every rule and its source). ``param_groups[0]["damping"]`` holds the
    current ``λ`` (adapted in place, saved by ``state_dict``); ``state[id(p)]["direction"]`` the
    last CG solution, the next warm start. :attr:`last_step` reports what the last step did.
    All parameters form one group (the method couples them; as torch's LBFGS, no per-group
    options).

    ``damping`` must be > 0; ``cg_tol`` is Martens' ``ε``; ``preconditioner_samples``
    (default: every example) bounds the number of per-example gradients the preconditioner
    uses.
    """

    def __init__(self, params, lr=1.0, damping=1.0, cg_max_iter=250, cg_tol=5e-4,
                 warm_start_decay=0.95, adapt_damping=True, weight_decay=0, preconditioner=False,
                 preconditioner_exponent=0.75, preconditioner_samples=None):
        defaults = {"lr": lr, "damping": damping, "cg_max_iter": cg_max_iter, "cg_tol": cg_tol,
                    "warm_start_decay": warm_start_decay, "adapt_damping": adapt_damping,
                    "weight_decay": weight_decay,
                    "preconditioner": preconditioner,
                    "preconditioner_exponent": preconditioner_exponent,
                    "preconditioner_samples": preconditioner_samples}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("HessianFree doesn't support per-parameter options (parameter "
                             "groups): pass one list of parameters")
        self.last_step = None

    def _check_hyperparameters(self, group):
        group["lr"] = validation.positive_float(group["lr"], "lr", "learning rate")
        group["damping"] = validation.positive_float(group["damping"], "damping",
                                                     "damping value")
        group["cg_max_iter"] = validation.positive_int(group["cg_max_iter"], "cg_max_iter")
        group["cg_tol"] = validation.positive_float(group["cg_tol"], "cg_tol")
        group["warm_start_decay"] = validation.probability(group["warm_start_decay"],
                                                          "warm_start_decay")
        group["adapt_damping"] = validation.flag(group["adapt_damping"], "adapt_damping")
        group["weight_decay"] = validation.nonnegative(group["weight_decay"], "weight_decay",
                                                       "weight_decay value")
        group["preconditioner"] = validation.flag(group["preconditioner"], "preconditioner")
        group["preconditioner_exponent"] = validation.probability(
            group["preconditioner_exponent"], "preconditioner_exponent")
        if group["preconditioner_samples"] is not None:
            group["preconditioner_samples"] = validation.positive_int(
                group["preconditioner_samples"], "preconditioner_samples")

    def _initial_state(self, value, group):
        return {"step": 0, "direction": None}

    def step(self, closure=None, curvature_closure=None):
        """One Hessian-free step on the closure's mini-batch; returns the loss before it.

        ``curvature_closure``, if given, returns ``(outputs, loss_fn)`` like ``closure`` for the
        mini-batch on which the Gauss-Newton products are taken (usually a subset of the
        closure's, drawn anew for each step: Martens 2010, §4.3); the gradient, the reduction
        ratio, the backtracking and the line search use ``closure``'s batch.
        """
        for name, given in (("closure", closure), ("curvature_closure", curvature_closure)):
            if not callable(given) and (name == "closure" or given is not None):
                raise TypeError(
                    f"HessianFree.step needs {name} to be a function returning (outputs, "
                    f"loss_fn) for a mini-batch, got {type(given).__name__}"
                )
        group = self.param_groups[0]
        params = group["params"]
        with hold_module_state():
            return self._step(closure, curvature_closure, group, params)

    def _step(self, closure, curvature_closure, group, params):
        from ..nn.module import substituted_parameters  # ad.nn imports ad.optim

        def run(values, function=closure):
            with substituted_parameters(params, values):
                return _closure_result(function())

        decay = group["weight_decay"]

        def objective(values):
            outputs, loss_fn = run(values)
            return float(primal_value(loss_fn(outputs))) + 0.5 * decay * _dot(values, values)

        theta = [p.value for p in params]
        if curvature_closure is None:
            _, loss_fn = run(theta)
            curvature = gauss_newton_operator(lambda values: run(values)[0], loss_fn, theta)
            loss, loss_gradient = curvature.loss, curvature.gradient
        else:
            loss, loss_gradient = value_and_grad(lambda values: _closure_loss(run(values)))(theta)
            loss = float(primal_value(loss))
            _, loss_fn = run(theta, curvature_closure)
            curvature = gauss_newton_operator(
                lambda values: run(values, curvature_closure)[0], loss_fn, theta)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"the closure's loss is {loss} before the Hessian-free step; lower lr or raise "
                "damping, and check the data"
            )
        gradient = [np.asarray(g + decay * t, dtype=t.dtype)
                    for g, t in zip(loss_gradient, theta)]
        damping = group["damping"]
        objective_before = loss + 0.5 * decay * _dot(theta, theta)

        def apply_a(v):
            return _combine(1.0, curvature(v), damping + decay, v)

        inverse_m = self._inverse_preconditioner(curvature, theta, group) \
            if group["preconditioner"] else (lambda r: r)
        states = [self.state.setdefault(id(p), self._initial_state(p.value, group))
                  for p in params]
        start = [np.zeros_like(t) if s["direction"] is None
                 else (group["warm_start_decay"] * s["direction"]).astype(t.dtype)
                 for s, t in zip(states, theta)]
        saved, iterations = _truncated_cg(apply_a, _scaled(-1.0, gradient), start, inverse_m,
                                          group["cg_max_iter"], group["cg_tol"])

        # CG-iterate backtracking: from the last iterate back while f keeps decreasing
        chosen, chosen_loss = saved[-1], objective(_combine(1.0, theta, 1.0, saved[-1].x))
        for candidate in reversed(saved[:-1]):
            candidate_loss = objective(_combine(1.0, theta, 1.0, candidate.x))
            if not candidate_loss < chosen_loss:
                break
            chosen, chosen_loss = candidate, candidate_loss

        rho = (chosen_loss - objective_before) / chosen.phi if chosen.phi < 0.0 and \
            math.isfinite(chosen_loss) else -math.inf
        if group["adapt_damping"]:
            if rho < 0.25:
                group["damping"] = damping * _LM_BOOST
            elif rho > 0.75:
                group["damping"] = damping * _LM_DROP

        rate, new_objective = self._line_search(objective, theta, chosen, chosen_loss,
                                                objective_before, _dot(gradient, chosen.x),
                                                group["lr"])
        updated = _combine(1.0, theta, rate, chosen.x)
        new_loss = new_objective - 0.5 * decay * _dot(updated, updated)
        for p, s, value, final in zip(params, states, updated, saved[-1].x):
            s["step"] += 1
            s["direction"] = final
            p.value = value
        self.last_step = HessianFreeStep(loss, new_loss, iterations, chosen.iteration, rho,
                                         group["damping"], rate, curvature.count)
        return loss

    @staticmethod
    def _line_search(objective, theta, chosen, chosen_loss, loss, slope, lr):
        """``(η, f(θ + η d))``: Armijo backtracking from ``η = lr``; ``(0, f(θ))`` if it fails."""
        rate = lr
        trial = chosen_loss if lr == 1.0 else objective(_combine(1.0, theta, lr, chosen.x))
        for _ in range(_MAX_SHRINKS):
            if trial <= loss + _ARMIJO * rate * slope:  # false for nan
                return rate, trial
            rate *= _SHRINK
            trial = objective(_combine(1.0, theta, rate, chosen.x))
        return 0.0, loss

    @staticmethod
    def _inverse_preconditioner(curvature, theta, group):
        """``r -> r / M`` for Martens' ``M = [diag(Σ_i ∇f_i ⊙ ∇f_i) + λI]^α`` (§4.7)."""
        out_leaves, out_def = flatten(curvature.output_gradient)
        sizes = {shape_of(leaf)[0] if shape_of(leaf) else None for leaf in out_leaves}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(
                "the preconditioner needs per-example gradients: every output of the closure "
                "must have the examples along its first axis (one common length)"
            )
        n = sizes.pop()
        samples = n if group["preconditioner_samples"] is None else \
            min(n, group["preconditioner_samples"])
        rows = np.unique(np.linspace(0, n - 1, samples).round().astype(int))
        squares = [np.zeros_like(t) for t in theta]
        for start in range(0, len(rows), _PRECONDITIONER_SWEEP):
            chunk = rows[start:start + _PRECONDITIONER_SWEEP]
            seeds = []
            for leaf in out_leaves:
                seed = np.zeros((len(chunk),) + shape_of(leaf), dtype=np.asarray(leaf).dtype)
                seed[np.arange(len(chunk)), chunk] = np.asarray(leaf)[chunk]
                seeds.append(seed)
            per_example = curvature.transpose(unflatten(out_def, seeds), batch=(len(chunk),))
            for total, g in zip(squares, per_example):
                total += np.sum(np.square(g), axis=0)
        # per-example gradients of a mean loss carry 1/N: N (n / samples) Σ = (1/N) Σ ∇ℓ_i²
        scale = n * n / len(rows)
        exponent = group["preconditioner_exponent"]
        shift = group["damping"] + group["weight_decay"]
        diagonal = [(scale * s + shift) ** exponent for s in squares]
        return lambda r: [(x / m).astype(x.dtype, copy=False) for x, m in zip(r, diagonal)]
