"""The (preconditioned) linear conjugate-gradient method for ``A x = b``.

For a symmetric positive definite ``A``, CG minimises the quadratic
``q(x) = ½ xᵀA x - bᵀx`` over growing Krylov subspaces. With residual ``r = b - A x``,
preconditioned residual ``z = M r`` (``M ≈ A⁻¹``, symmetric positive definite) and search
direction ``p`` (Nocedal & Wright, *Numerical Optimization*, alg. 5.3)::

    α_k     = r_kᵀz_k / p_kᵀA p_k
    x_{k+1} = x_k + α_k p_k
    r_{k+1} = r_k - α_k A p_k
    β_k     = r_{k+1}ᵀz_{k+1} / r_kᵀz_k
    p_{k+1} = z_{k+1} + β_k p_k

The directions are A-conjugate, ``p_iᵀA p_j = 0`` for ``i != j`` (Aggarwal 2018, sec. 3.5.6.1: "thou shalt not
worsen with respect to previous directions"), so in exact arithmetic CG reaches the solution in
at most ``n`` steps. It stops when ``‖r‖ <= tol ‖b‖``.

``A`` is only ever applied to vectors, so a Hessian-vector product ``v -> ∇²f(x) v`` serves as
``A`` without forming the Hessian. When ``A`` is not positive definite CG meets a direction with
``pᵀA p <= 0``; it stops there and reports it (``negative_curvature``), returning the last iterate
and that direction, which is what truncated-Newton and trust-region solvers need.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from ..flat import flat_spec, is_number_list
from ..second_order import HvpOperator

__all__ = ["CGInfo", "conjugate_gradient"]


@dataclass(frozen=True)
class CGInfo:
    """How a conjugate-gradient solve ended.

    ``iterations``: matrix-vector products used after the initial residual;
    ``residual_norm``: ``‖b - A x‖`` of the returned ``x`` (from the recurrence);
    ``converged``: whether ``‖b - A x‖ <= tol ‖b‖``;
    ``negative_curvature``: whether a direction with ``pᵀA p <= 0`` stopped the iteration, in
    which case ``direction`` holds that ``p`` (shaped like ``b``) and ``curvature`` the value
    ``pᵀA p`` (otherwise both are ``None``);
    ``status``: one word for that reason: ``"converged"``, ``"negative curvature"``,
    ``"maxiter"`` or ``"non-finite"`` (``matvec`` returned nan or inf);
    ``message``: the reason in words.
    """

    iterations: int
    residual_norm: float
    converged: bool
    negative_curvature: bool
    direction: object
    curvature: float | None
    status: str
    message: str


class _FlatLayout:
    """``b`` is a 1-D vector (or a list of numbers) of length ``n``: CG's vectors are ``b``'s
    own shape."""

    def __init__(self, n):
        self.n = n

    def flatten(self, vector, what):
        if np.iscomplexobj(vector):
            raise TypeError(f"{what} is complex; conjugate_gradient solves real systems")
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (self.n,):
            raise ValueError(f"{what} has shape {vector.shape}, b has shape ({self.n},)")
        return vector

    def restore(self, vector):
        return vector

    def linear_map(self, operator, name):
        """``v -> operator v`` on flat vectors, for a callable, a ``.matvec`` or an array."""
        n = self.n
        if isinstance(operator, HvpOperator):
            if operator.dtype == np.float64 and operator.shape == (n, n):
                return operator.matvec  # its products are float64 (n,): nothing to check
            apply = operator.matvec  # where its __call__ sends a flat vector
        elif callable(operator):
            apply = operator
        elif hasattr(operator, "matvec"):
            apply = operator.matvec
        elif _is_matrix(operator):
            if tuple(operator.shape) != (n, n):
                raise ValueError(f"{name} has shape {tuple(operator.shape)}; b needs ({n}, {n})")

            def apply(v):
                return operator @ v
        else:
            raise TypeError(_not_an_operator(name, operator))

        def checked(v):
            result = apply(v)
            if type(result) is np.ndarray and result.dtype == np.float64 \
                    and result.shape == (n,):
                return result  # what flatten would return, without its checks
            result = np.asarray(result)
            if result.shape != (n,):
                raise ValueError(f"{name} returned shape {result.shape} for a vector of "
                                 f"shape ({n},)")
            return self.flatten(result, f"the result of {name}")

        return checked


class _TreeLayout:
    """``b`` is a pytree (or an array of any other shape): the operators map trees of ``b``'s
    structure to such trees, and CG runs on their float64 raveling (:mod:`autodiff.flat`)."""

    def __init__(self, b):
        self.spec = flat_spec(b, "b")
        self.n = self.spec.size

    def flatten(self, tree, what):
        return self.spec.ravel(tree, what).astype(np.float64, copy=False)

    def restore(self, vector):
        return self.spec.unravel(vector)

    def linear_map(self, operator, name):
        """``v -> operator v`` on the raveling, for a callable on trees shaped like ``b``."""
        if not callable(operator):
            if _is_matrix(operator) or hasattr(operator, "matvec"):
                raise ValueError(
                    f"{name} works on flat vectors, so b must be a 1-D vector; got b of "
                    f"structure {self.spec.treedef!r} (pass a callable on such trees, or "
                    "ravel b)"
                )
            raise TypeError(_not_an_operator(name, operator))

        def checked(v):
            return self.flatten(operator(self.spec.unravel(v)), f"the result of {name}")

        return checked


def _is_matrix(operator):
    return hasattr(operator, "shape") and hasattr(operator, "__matmul__")


def _not_an_operator(name, operator):
    return (f"{name} must be a callable v -> A v, an object with .matvec, or an (n, n) array; "
            f"got {type(operator).__name__}")


def _layout(b):
    if isinstance(b, np.ndarray) and b.ndim == 1 or is_number_list(b):
        if np.iscomplexobj(b):
            raise TypeError("b is complex; conjugate_gradient solves real systems")
        return _FlatLayout(np.asarray(b).size)
    return _TreeLayout(b)


def euclidean_norm(v) -> float:
    """``‖v‖₂`` of a flat float64 vector as ``np.linalg.norm`` computes it, ``√(vᵀv)`` (the
    same bits), without its conversions (0.36 vs 0.93 us at n = 1000)."""
    return math.sqrt(v.dot(v))


def _check_inputs(layout, b, x0, tol, maxiter):
    b = layout.flatten(b, "b")
    b_norm = euclidean_norm(b)  # nan or inf when an entry of b is (or when ‖b‖ overflows)
    if not math.isfinite(b_norm) and not np.isfinite(b).all():
        raise ValueError("b has non-finite entries (nan or inf)")
    if x0 is not None:
        x0 = layout.flatten(x0, "x0")
        if not np.isfinite(x0).all():
            raise ValueError("x0 has non-finite entries (nan or inf)")
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol}")
    if maxiter is None:
        maxiter = 10 * b.size
    elif isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 0:
        raise ValueError(f"maxiter must be a non-negative integer, got {maxiter!r}")
    return b, b_norm, x0, float(tol), int(maxiter)


def conjugate_gradient(matvec, b, x0=None, tol=1e-10, maxiter=None, M=None):
    """Solve ``A x = b`` for symmetric positive definite ``A`` by (preconditioned) CG.

    Parameters
    ----------
    matvec : callable ``v -> A v``, an object with ``.matvec`` (``scipy.sparse.linalg``
        ``LinearOperator``, ``ad.hvp_operator``), or an ``(n, n)`` array.
    b : finite right-hand side: a 1-D array (or a list of numbers) of length ``n``, or any
        pytree (a dict of arrays, an array of any shape); then ``matvec`` and ``M`` are
        callables mapping trees shaped like ``b`` to such trees (``ad.hvp_operator(f, x)``
        with ``b`` shaped like ``x``), and ``x`` and ``info.direction`` come back shaped like
        ``b``, each leaf in its dtype (the iteration runs in float64 on their raveling).
    x0 : starting guess shaped like ``b`` (default zeros).
    tol : relative tolerance; stop when ``‖b - A x‖ <= tol ‖b‖``.
    maxiter : maximum number of iterations (default ``10 n``).
    M : preconditioner ``r -> M r`` approximating ``A⁻¹`` (symmetric positive definite), in any
        of the forms ``matvec`` accepts.

    Returns
    -------
    x : ndarray, shape ``(n,)``, or a pytree shaped like ``b``
    info : :class:`CGInfo` with ``iterations``, ``residual_norm``, ``converged``,
        ``negative_curvature`` (and ``direction``, ``message``).

    Example
    -------
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> x, info = conjugate_gradient(lambda v: A @ v, np.array([1.0, 2.0]))
    >>> info.iterations, np.allclose(A @ x, [1.0, 2.0])
    (2, True)
    """
    layout = _layout(b)
    b, b_norm, x0, tol, maxiter = _check_inputs(layout, b, x0, tol, maxiter)
    apply_m = None if M is None else layout.linear_map(M, "M")
    x, info = _solve(layout.linear_map(matvec, "matvec"), b, b_norm, x0, tol, maxiter,
                     apply_m)
    if info.direction is not None:
        info = replace(info, direction=layout.restore(info.direction))
    return layout.restore(x), info


def solve_flat(matvec, b, b_norm, tol, maxiter):
    """:func:`conjugate_gradient` from ``x0 = 0`` without a preconditioner, for a solver's
    inner loop that holds what the public function checks: ``b`` a finite float64 vector,
    ``b_norm = ‖b‖`` (computed as :func:`euclidean_norm` does), ``tol`` a finite float >= 0
    and ``maxiter`` an int.  The same iterations on the same vectors (so the same ``x`` and
    ``info``), without converting and re-checking ``b`` (about 3 us of a 1000-d Newton-CG
    step's inner solve).  ``x`` and ``info.direction`` are flat vectors.
    """
    apply_a = _FlatLayout(b.size).linear_map(matvec, "matvec")
    return _solve(apply_a, b, b_norm, None, tol, maxiter, None)


def _solve(apply_a, b, b_norm, x0, tol, maxiter, apply_m):
    """Nocedal & Wright's alg. 5.3 on flat float64 vectors (see the module docstring);
    ``b_norm`` is ``np.linalg.norm(b)``.  Inner products are ``ndarray.dot``: for vectors it
    calls the dot loop ``@`` calls (BLAS ``ddot``), without matmul's dispatch (0.30 vs 0.67 us
    at n = 1000).  The curvature ``pᵀA p`` is ``np.vdot``, the same ``ddot`` (the same bits)
    without the floating-point status test after it: an inf entry of ``A p`` (0 · inf) is
    reported by the status, not by NumPy's "invalid value encountered in dot" as well.

    ``x`` and ``r`` are updated in place through one scratch vector (two arrays fewer per
    iteration; the same operations, so the same bits): the solver owns them, as it hands
    neither to ``A`` (a matvec may keep its argument), nor ``r`` to ``M`` when there is one.
    ``p`` goes to ``A`` and is a new array each iteration."""
    n = b.size

    def finish(x, iterations, residual_norm, status, message, direction=None, curvature=None):
        info = CGInfo(iterations=iterations, residual_norm=float(residual_norm),
                      converged=status == "converged", negative_curvature=direction is not None,
                      direction=direction, curvature=curvature, status=status,
                      message=message)
        return x, info

    if b_norm == 0.0:
        return finish(np.zeros(n), 0, 0.0, "converged", "b = 0, so x = 0")
    threshold = tol * b_norm
    if x0 is None:
        x, r, r_norm = np.zeros(n), b.copy(), b_norm
    else:
        x = x0.copy()
        r = b - apply_a(x0)
        if not np.all(np.isfinite(r)):
            return finish(x, 0, np.inf, "non-finite", "matvec returned non-finite values at x0")
        r_norm = euclidean_norm(r)
    if r_norm <= threshold:
        return finish(x, 0, r_norm, "converged", "x0 already meets the tolerance")

    z = r if apply_m is None else apply_m(r)
    rz = float(r.dot(z))
    if not rz > 0.0:
        raise ValueError(f"the preconditioner M is not positive definite (rᵀM r = {rz:.3g})")
    p = z.copy()
    scratch = np.empty(n)
    for k in range(maxiter):
        ap = apply_a(p)
        curvature = float(np.vdot(p, ap))
        # a nan or inf in A p makes pᵀA p nan or inf: the full test only runs then
        if not math.isfinite(curvature) and not np.isfinite(ap).all():
            return finish(x, k, r_norm, "non-finite",
                          f"matvec returned non-finite values at iteration {k}")
        if curvature <= 0.0:
            return finish(x, k, r_norm, "negative curvature",
                          f"non-positive curvature pᵀA p = {curvature:.3g} at iteration {k}",
                          direction=p, curvature=curvature)
        # the step as a 0-d float64 array: NumPy converts a Python float on every product
        # (0.5 vs 0.36 us at n = 1000), and both multiply float64 by float64, the same bits
        alpha = np.array(rz / curvature)
        np.add(x, np.multiply(alpha, p, scratch), x)  # x + α p
        if apply_m is None:
            np.subtract(r, np.multiply(alpha, ap, scratch), r)  # r - α A p
        else:
            r = r - alpha * ap
        rr = float(r.dot(r))
        r_norm = math.sqrt(rr)  # np.linalg.norm's own formula for a vector, without its checks
        if r_norm <= threshold:
            return finish(x, k + 1, r_norm, "converged", "converged")
        if apply_m is None:
            z, rz_next = r, rr
        else:
            z = apply_m(r)
            rz_next = float(r.dot(z))
            if not rz_next > 0.0:
                raise ValueError(
                    f"the preconditioner M is not positive definite (rᵀM r = {rz_next:.3g})"
                )
        p = np.array(rz_next / rz) * p
        p += z  # z + β p, in the new array
        rz = rz_next
    return finish(x, maxiter, r_norm, "maxiter",
                  f"reached maxiter = {maxiter} before the tolerance")
