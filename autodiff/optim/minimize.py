"""``minimize``: one entry point for the solvers on plain functions.

Every solver is a generator over the flat objective (see :mod:`.objective`) that yields one
:class:`~autodiff.optim.objective.Iterate` per iteration and *returns* a message when it can go
no further. This module owns what they share: the pytree of ``x0``, the checks at the start,
the stopping test ``‖∇f(x)‖_∞ <= tol``, ``maxiter``, the callback, the progress bar, and the
result.
"""

import functools
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..flat import is_number_list, ravel_pytree
from ..validation import nonnegative_int, positive_float
from .ad_objective import autodiff_objective
from .lbfgs import lbfgs
from .newton import newton, newton_cg
from .nonlinear_cg import gradient_descent, nonlinear_cg
from .objective import Iterate, Objective
from .trust_region import trust_ncg

__all__ = ["METHODS", "SCIPY_NAMES", "OptimizeResult", "minimize"]

METHODS = {
    "newton-cg": newton_cg,
    "trust-ncg": trust_ncg,
    "newton": newton,
    "lbfgs": lbfgs,
    "cg": nonlinear_cg,
    "gd": gradient_descent,
}

#: ``scipy.optimize.minimize``'s names (compared case-insensitively, like ours) for the methods
#: above: ``"CG"``, ``"Newton-CG"`` and ``"trust-ncg"`` are ours already; ``"L-BFGS-B"``
#: without bounds is L-BFGS, and ``"BFGS"`` runs as L-BFGS too, which the result's message says.
SCIPY_NAMES = {"l-bfgs-b": "lbfgs", "bfgs": "lbfgs"}


@dataclass
class OptimizeResult:
    """The outcome of :func:`minimize`.

    ``x`` (in the structure of ``x0``), ``fun = f(x)``, ``grad = ∇f(x)`` (same structure; also
    ``jac``), ``nit`` iterations, ``nfev`` / ``ngev`` / ``nhvp`` / ``nhev`` evaluations of
    ``f``, gradients, Hessian-vector products and dense Hessians, ``success``, ``message``
    (why it stopped) and ``method``.
    """

    x: Any
    fun: float
    grad: Any
    nit: int
    nfev: int
    ngev: int
    nhvp: int
    nhev: int
    success: bool
    message: str
    method: str

    @property
    def jac(self):
        """Alias of ``grad`` (SciPy's name)."""
        return self.grad

    def __repr__(self):
        def show(value):
            if isinstance(value, np.ndarray):
                return np.array2string(value, threshold=8)
            return repr(value)

        names = ("success", "message", "method", "fun", "x", "grad", "nit", "nfev", "ngev",
                 "nhvp", "nhev")
        lines = [f"{name:>8}: {show(getattr(self, name))}" for name in names]
        return "OptimizeResult(\n" + "\n".join(lines) + "\n)"


def _method_name(method, options):
    """Our name for ``method`` (ours or SciPy's, any case); SciPy's ``bounds`` are refused."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a string such as 'newton-cg', got "
                        f"{type(method).__name__}")
    if options.pop("bounds", None) is not None:
        raise ValueError(f"method {method!r}: bounds are not supported; minimize solves "
                         "unconstrained problems (use scipy.optimize.minimize with "
                         "ad.optim.scipy_callables for bound constraints)")
    name = SCIPY_NAMES.get(method.lower(), method.lower())
    if name not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)} "
                         "(or SciPy's names CG, Newton-CG, trust-ncg, L-BFGS-B, BFGS)")
    return name


@functools.cache
def _keyword_options(solver) -> tuple:
    """The names of ``solver``'s keyword-only parameters: its options (read once per solver)."""
    return tuple(name for name, parameter in inspect.signature(solver).parameters.items()
                 if parameter.kind is inspect.Parameter.KEYWORD_ONLY)


def _method_options(method, options):
    """The solver for ``method`` (our name), after checking the names of its ``options``."""
    solver = METHODS[method]
    accepted = list(_keyword_options(solver))
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        valid = ", ".join(accepted + ["progress"])
        raise TypeError(f"method {method!r} has no option {unknown[0]!r}; its options are: "
                        f"{valid}")
    return solver


def _start(objective, x0):
    """``Iterate`` at ``x0``, after checking that ``f`` and ``∇f`` are finite there."""
    f0, g0 = objective.value_and_grad(x0)
    if not np.isfinite(f0):
        raise ValueError(f"f(x0) = {f0} is not finite; start from a point where f is defined")
    if not np.isfinite(g0).all():
        bad = np.flatnonzero(~np.isfinite(g0))
        raise ValueError(
            f"the gradient of f at x0 has {bad.size} non-finite entries (the first at flat "
            f"index {bad[0]}: {g0[bad[0]]}); start from a point where f is differentiable"
        )
    return Iterate(x0, f0, g0)


def _flat_problem(f, x0, jit_derivatives=True):
    """``(objective, x0 as a flat vector, unravel)`` for a function of a pytree or an
    :class:`Objective` (which works on 1-D vectors already)."""
    if isinstance(f, Objective):
        if np.iscomplexobj(x0):
            raise TypeError("x0 is complex; minimisation needs real values")
        flat = np.array(x0, dtype=np.float64)
        if flat.ndim != 1:
            raise ValueError(f"an Objective works on 1-D vectors; x0 has shape {flat.shape}")
        return f, flat, np.copy
    if not callable(f):
        raise TypeError(f"f must be a callable or an Objective, got {type(f).__name__}")
    if is_number_list(x0):  # SciPy's convention: x0 = [1.0, 2.0] is a vector
        x0 = np.array(x0, dtype=np.float64)
    flat, spec = ravel_pytree(x0, "x0", np.float64)
    return autodiff_objective(f, spec, jit_derivatives), flat, spec.unravel


def minimize(f, x0, method="newton-cg", tol=1e-5, maxiter=None, callback=None, **options):
    """Minimise a scalar function of a pytree of floats.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar`` on a pytree shaped like ``x0``; differentiated by autodiff. An
        :class:`~autodiff.optim.objective.Objective` (analytic derivatives on 1-D vectors) is
        accepted too.
    x0 : pytree
        The starting point: a float, an array, or nested dict/list/tuple of them; a flat list
        of numbers is an array, as in SciPy. The solvers work on the leaves raveled into one
        float64 vector (:mod:`autodiff.flat`); ``result.x`` comes back in the same structure,
        with float64 leaves.
    method : str
        ``"newton-cg"`` (truncated Newton, Hessian-vector products, the default),
        ``"trust-ncg"`` (Steihaug–Toint trust region), ``"newton"`` (dense, modified Hessian:
        small problems), ``"lbfgs"`` (limited-memory BFGS), ``"cg"`` (nonlinear conjugate
        gradients, ``beta="pr+"`` or ``beta="hessian"``), ``"gd"`` (gradient descent).
        Case does not matter, and SciPy's names work: ``"Newton-CG"``, ``"trust-ncg"``,
        ``"CG"``, ``"L-BFGS-B"`` (without ``bounds``) and ``"BFGS"`` (runs L-BFGS; the
        message says so).
    tol : float
        Stop, successfully, once ``‖∇f(x)‖_∞ <= tol``.
    maxiter : int
        The most iterations (default ``max(1000, 200 n)``); ``0`` evaluates ``f`` and its
        gradient at ``x0`` and returns them.
    callback : callable
        ``callback(intermediate_result)`` after every iteration, with an
        :class:`OptimizeResult` for the current iterate; returning ``True`` stops the solver.
    **options
        ``progress=True`` shows a tqdm progress bar; ``jit=False`` differentiates ``f``
        eagerly instead of compiling its gradient and Hessian-vector products with
        :func:`autodiff.jit` (which falls back to eager, with a warning, when ``f`` cannot be
        recorded; the recordings are kept per function, so minimising the same ``f`` again
        replays them, after checking ``f(x0)`` against a plain call of ``f``: see
        :mod:`autodiff.optim.ad_objective`); the method's own options are described
        in its docstring (``newton_cg``, ``trust_ncg``, ``lbfgs``, ``nonlinear_cg``, …).

    Returns
    -------
    OptimizeResult
        ``success`` is True only when the gradient test passed; otherwise ``message`` says
        what stopped the solver (``maxiter``, a line search that found no decrease, non-finite
        Hessian products, the callback).

    Raises ``ValueError`` when ``f`` or its gradient is not finite at ``x0``; non-finite values
    met later make the line search (or the trust region) back off.

    Example
    -------
    >>> result = minimize(lambda p: (p["x"] - 1.0) ** 2 + 4.0 * p["y"] ** 2,
    ...                   {"x": 3.0, "y": -2.0}, method="newton")
    >>> result.x, result.nit
    ({'x': 1.0, 'y': 0.0}, 1)
    """
    progress = bool(options.pop("progress", False))
    jit_derivatives = bool(options.pop("jit", True))
    requested, method = method, _method_name(method, options)
    solver = _method_options(method, options)
    tol = positive_float(tol, "tol")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    objective, x_flat, unravel = _flat_problem(f, x0, jit_derivatives)
    if x_flat.size == 0:
        raise ValueError("x0 has no entries to optimise")
    if not np.all(np.isfinite(x_flat)):
        raise ValueError("x0 has non-finite entries (nan or inf)")
    maxiter = max(1000, 200 * x_flat.size) if maxiter is None else \
        nonnegative_int(maxiter, "maxiter")
    note = "" if requested.lower() != "bfgs" else \
        " (method 'BFGS' ran as limited-memory BFGS, 'lbfgs')"

    counts_before = objective.counts()
    current = _start(objective, x_flat)

    def result(iterate, nit, success, message):
        counts = {name: value - counts_before[name]
                  for name, value in objective.counts().items()}
        return OptimizeResult(x=unravel(iterate.x), fun=iterate.fun, grad=unravel(iterate.grad),
                              nit=nit, success=success, message=message + note, method=method,
                              **counts)

    steps = solver(objective, current, **options)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=maxiter, desc=f"minimize[{method}]", unit="it")
    nit = 0
    try:
        while True:
            gradient_norm = float(np.abs(current.grad).max())
            if gradient_norm <= tol:
                success, message = True, f"converged: ‖∇f‖∞ = {gradient_norm:.2e} <= tol"
                break
            if nit >= maxiter:
                success, message = False, f"reached maxiter = {maxiter} with ‖∇f‖∞ = " \
                    f"{gradient_norm:.2e} > tol"
                break
            try:
                following = next(steps)
            except StopIteration as stop:
                success, message = False, f"{stop.value}; stopped with ‖∇f‖∞ = " \
                    f"{gradient_norm:.2e} > tol"
                break
            nit += 1
            unchanged = following.x.shape == current.x.shape and bool(
                (following.x == current.x).all())  # np.array_equal, without its conversions
            current = following
            if bar is not None:
                bar.set_postfix(f=f"{current.fun:.6g}",
                                grad=f"{np.max(np.abs(current.grad)):.2e}", refresh=False)
                bar.update()
            if unchanged:
                success, message = False, "the step no longer changes x in float64; " \
                    f"stopped with ‖∇f‖∞ = {gradient_norm:.2e} > tol"
                break
            if callback is not None and callback(result(current, nit, False, "in progress")):
                success, message = False, "stopped by the callback"
                break
    finally:
        steps.close()
        if bar is not None:
            bar.close()
    return result(current, nit, success, message)
