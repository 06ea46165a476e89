"""Linear algebra primitives: the matrix product, linear systems, determinants, least squares.

* ``matmul`` (NumPy's semantics): ``dC = dA B + A dB``, ``A_bar = C_bar B^T``, ``B_bar = A^T
  C_bar`` (Giles, "Collected matrix derivative results for forward and reverse mode algorithmic
  differentiation", 2008, sec. 3.2), vectors promoted to matrices as ``matmul`` does and
  leading batch axes folded into one BLAS call where possible.
* ``solve``, ``solve_triangular`` (reads one triangle, as LAPACK's trsm), ``inv``: Giles 2008,
  secs. 3.3-3.4; Taylor rules from ``A X = B`` order by order.
* ``det``, ``logabsdet`` (``slogdet``'s second output): ``d log|det A| = tr(A^{-1} dA)``.
* ``lstsq`` (full column rank, through the normal equations) and ``pinv`` (Golub & Pereyra,
  "The differentiation of pseudo-inverses and nonlinear least squares problems", 1973).

Right-hand sides are matrices ``(..., n, k)`` (the NumPy entry points lift vectors); stack axes
broadcast as in NumPy.  The decompositions (Cholesky, eigh, SVD, QR) are in
:mod:`.decompositions`.
"""

from __future__ import annotations

import functools

import numpy as np

from . import elementwise as ew
from . import indexing, reductions, series, shapes
from .primitive import (
    Case,
    ParametrizedPrimitive,
    Primitive,
    batch_ndim,
    call_with,
    dtype_of,
    ndim_of,
    shape_of,
)

__all__ = [
    "matmul",
    "swap_last",
    "solve",
    "solve_triangular",
    "triangular_matmul",
    "triangle_mask",
    "inv",
    "det",
    "logabsdet",
    "lstsq",
    "pinv",
    "triangle",
    "diagonal",
    "diagonal_matrix",
    "symmetric_from_triangle",
    "symmetric_from_triangle_transpose",
]


def swap_last(x):
    """The transpose of the last two axes (of each stacked matrix)."""
    n = ndim_of(x)
    return shapes.transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _fold_right(x, m):
    """``x @ m`` for ``x`` of shape ``(..., r)`` and a matrix ``m``: one matrix product.

    The leading axes of ``x`` (batch and stack axes) are folded into its rows, so NumPy runs a
    single GEMM instead of one small product per leading index.
    """
    shape = shape_of(x)
    if len(shape) <= 2:
        return matmul(x, m)
    product = matmul(shapes.reshape(x, (-1, shape[-1])), m)
    return shapes.reshape(product, shape[:-1] + shape_of(m)[-1:])


def _fold_left(m, x):
    """``m @ x`` for a matrix ``m`` and ``x`` of shape ``(..., c, s)``: one matrix product."""
    if ndim_of(x) <= 2:
        return matmul(m, x)
    return swap_last(_fold_right(swap_last(x), swap_last(m)))


def _matmul_left_term(ta, a, b):
    """``ta @ b`` for a (batched) tangent ``ta`` of ``a``, batch axes kept leading."""
    a_nd, b_nd = ndim_of(a), ndim_of(b)
    if a_nd == 1 and b_nd == 1:
        return reductions.reduce_sum(ew.multiply(ta, b), axis=-1)
    if b_nd == 2:
        return _fold_right(ta, b)
    shape = shape_of(ta)
    n_batch = len(shape) - a_nd
    if a_nd == 1:  # a row vector: lift to (1, m), padded to b's stacking rank
        lifted = shapes.reshape(ta, shape[:n_batch] + (1,) * (b_nd - 2) + (1, shape[-1]))
        product = matmul(lifted, b)
        return shapes.reshape(product, shape_of(product)[:-2] + shape_of(product)[-1:])
    padded = shapes.reshape(ta, shape[:n_batch] + (1,) * max(0, b_nd - a_nd) + shape[n_batch:])
    return matmul(padded, b)


def _matmul_right_term(a, tb, b):
    """``a @ tb`` for a (batched) tangent ``tb`` of ``b``, batch axes kept leading."""
    a_nd, b_nd = ndim_of(a), ndim_of(b)
    if a_nd == 1 and b_nd == 1:
        return reductions.reduce_sum(ew.multiply(a, tb), axis=-1)
    if a_nd == 2:
        return _fold_right(tb, swap_last(a)) if b_nd == 1 else _fold_left(a, tb)
    shape = shape_of(tb)
    n_batch = len(shape) - b_nd
    if b_nd == 1:  # a column vector: lift to (m, 1), padded to a's stacking rank
        lifted = shapes.reshape(tb, shape[:n_batch] + (1,) * (a_nd - 2) + (shape[-1], 1))
        product = matmul(a, lifted)
        return shapes.reshape(product, shape_of(product)[:-1])
    padded = shapes.reshape(tb, shape[:n_batch] + (1,) * max(0, a_nd - b_nd) + shape[n_batch:])
    return matmul(a, padded)


def _matmul_jvp(primals, tangents, out):
    a, b = primals
    ta, tb = tangents
    left = None if ta is None else _matmul_left_term(ta, a, b)
    right = None if tb is None else _matmul_right_term(a, tb, b)
    if left is None or right is None:
        return right if left is None else left
    return ew.add(left, right)


def _matrix_vector_vjp(g, a, b, wanted):
    """Cotangents of ``a @ b`` for one 2-D and one 1-D operand: a product and an outer product.

    ``A @ x``: ``A_bar = g x^T`` and ``x_bar = g A`` (``g`` has the batch axes leading).
    ``x @ A``: ``x_bar = g A^T`` and ``A_bar = x g^T``.
    """
    a_matrix = ndim_of(a) == 2
    matrix, vector = (a, b) if a_matrix else (b, a)
    g_shape = shape_of(g)
    results = []
    for i in wanted:
        if (i == 0) == a_matrix:  # the matrix operand: an outer product
            g_col = shapes.reshape(g, g_shape + (1,))
            vector_row = shapes.reshape(vector, (1,) + shape_of(vector))
            results.append(
                ew.multiply(g_col, vector_row)
                if a_matrix
                else ew.multiply(swap_last(g_col), shapes.reshape(vector, shape_of(vector) + (1,)))
            )
        else:  # the vector operand: one product with the matrix
            results.append(matmul(g, matrix) if a_matrix else matmul(g, swap_last(matrix)))
    return results


def _matmul_vjp(g, primals, out, wanted):
    """a_bar = g @ b^T and b_bar = a^T @ g, on vectors promoted to matrices as matmul does."""
    a, b = primals
    a_shape, b_shape = shape_of(a), shape_of(b)
    if sorted((len(a_shape), len(b_shape))) == [1, 2]:
        return _matrix_vector_vjp(g, a, b, wanted)
    a_m = shapes.reshape(a, (1,) + a_shape) if len(a_shape) == 1 else a
    b_m = shapes.reshape(b, b_shape + (1,)) if len(b_shape) == 1 else b
    am_shape, bm_shape = shape_of(a_m), shape_of(b_m)
    n_batch = batch_ndim(g, out)
    batch = shape_of(g)[:n_batch]
    stack = np.broadcast_shapes(am_shape[:-2], bm_shape[:-2])
    g_m = shapes.reshape(g, batch + stack + (am_shape[-2], bm_shape[-1]))
    results = []
    for i in wanted:
        if i == 0:
            b_t = swap_last(b_m)
            ga = _fold_right(g_m, b_t) if len(bm_shape) == 2 else matmul(g_m, b_t)
            ga = shapes.unbroadcast(ga, am_shape, n_batch)
            results.append(shapes.reshape(ga, batch + a_shape))
        else:
            a_t = swap_last(a_m)
            gb = _fold_left(a_t, g_m) if len(am_shape) == 2 else matmul(a_t, g_m)
            gb = shapes.unbroadcast(gb, bm_shape, n_batch)
            results.append(shapes.reshape(gb, batch + b_shape))
    return results


matmul = Primitive(
    "matmul",
    np.matmul,
    _matmul_jvp,
    _matmul_vjp,
    taylor=series.matmul,
    cases=(
        Case("1d@1d", ((4,), (4,)), call_with()),
        Case("1d@2d", ((3,), (3, 4)), call_with()),
        Case("2d@1d", ((3, 4), (4,)), call_with()),
        Case("2d@2d", ((3, 4), (4, 2)), call_with()),
        Case("(1,n)@2d", ((1, 3), (3, 4)), call_with()),
        Case("3d@2d", ((2, 3, 4), (4, 3)), call_with()),
        Case("2d@3d", ((3, 4), (2, 4, 3)), call_with()),
        Case("3d@3d", ((2, 3, 4), (2, 4, 2)), call_with()),
        Case("stack-broadcast", ((1, 3, 4), (2, 4, 2)), call_with()),
        Case("1d@3d", ((4,), (2, 4, 3)), call_with()),
        Case("3d@1d", ((2, 3, 4), (4,)), call_with()),
    ),
)


# ----------------------------------------------------------------------------------------------
# helpers on the last two axes, written with primitives (so the rules differentiate again)
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def triangle_mask(n: int, lower: bool, k: int, dtype, diagonal_weight: float = 1.0):
    """The constant (read-only) mask of ``np.tril(., k)`` (lower) or ``np.triu(., k)``, its
    diagonal weighted by ``diagonal_weight`` (1/2 for Murray's ``Phi``)."""
    ones = np.ones((n, n), dtype=dtype)
    mask = np.tril(ones, k) if lower else np.triu(ones, k)
    if k == 0:
        np.fill_diagonal(mask, diagonal_weight)
    mask.flags.writeable = False
    return mask


def triangle(x, lower: bool, k: int = 0):
    """``np.tril(x, k)`` / ``np.triu(x, k)`` over the last two axes (a masked copy)."""
    return ew.multiply(x, triangle_mask(shape_of(x)[-1], lower, k, dtype_of(x)))


def diagonal(x):
    """The diagonal of the last two axes: shape ``(..., n)``."""
    n = shape_of(x)[-1]
    steps = np.arange(n)
    return indexing.getitem(x, index=(Ellipsis, steps, steps))


def diagonal_matrix(v):
    """The matrix with ``v`` (shape ``(..., n)``) on its diagonal: ``(..., n, n)``."""
    shape = shape_of(v)
    return ew.multiply(shapes.reshape(v, shape[:-1] + (1, shape[-1])),
                       np.eye(shape[-1], dtype=dtype_of(v)))


def symmetric_from_triangle(x, lower: bool):
    """The symmetric matrix whose ``lower`` (or upper) triangle is ``x``'s.

    LAPACK's symmetric routines (``potrf``, ``syevd``) read one triangle of their input and
    never the other; this is the matrix they see, so the derivative of ``cholesky(A)`` or
    ``eigh(A)`` with respect to the other triangle is exactly 0, as NumPy's values say.
    """
    return ew.add(triangle(x, lower), swap_last(triangle(x, lower, -1 if lower else 1)))


def symmetric_from_triangle_transpose(m, lower: bool):
    """Adjoint of :func:`symmetric_from_triangle`: ``tril(M) + tril(M^T, -1)`` (lower)."""
    return ew.add(triangle(m, lower), triangle(swap_last(m), lower, -1 if lower else 1))


def _last_two_sum(x):
    return reductions.reduce_sum(x, axis=(-2, -1))


def _as_matrix_cotangent(g):
    """A cotangent of a value over the stack axes, as ``(..., 1, 1)`` (broadcasts on matrices)."""
    return shapes.reshape(g, shape_of(g) + (1, 1))


# ----------------------------------------------------------------------------------------------
# linear systems: solve, triangular solve, inverse (Giles 2008, sec. 3.3-3.4)
# ----------------------------------------------------------------------------------------------

try:  # SciPy is optional: with it, triangular systems cost O(n^2 k) instead of an LU
    from scipy.linalg import solve_triangular as _scipy_solve_triangular
except ImportError:  # pragma: no cover - exercised only without SciPy
    _scipy_solve_triangular = None


def _triangular_solve_values(a, b, lower=True):
    """``tri(a)^{-1} b`` reading only ``a``'s ``lower`` (or upper) triangle, as LAPACK's trsm.

    A 2-D ``a`` with a stack of right-hand sides is one trsm call (the stack folded into
    columns); stacked ``a`` falls back on NumPy's solve of the masked triangle.
    """
    a, b = np.asarray(a), np.asarray(b)
    if _scipy_solve_triangular is None or a.ndim != 2:
        return np.linalg.solve(np.tril(a) if lower else np.triu(a), b)
    if b.ndim == 2:
        return _scipy_solve_triangular(a, b, lower=lower, check_finite=False)
    columns = np.moveaxis(b, -2, 0)
    x = _scipy_solve_triangular(a, columns.reshape(a.shape[0], -1), lower=lower,
                                check_finite=False)
    return np.moveaxis(x.reshape(columns.shape), 0, -2)


@functools.lru_cache(maxsize=16)
def _strict_upper_positions(n: int):
    """Flat (C-order) positions of the strict upper triangle of an ``n x n`` matrix."""
    rows, columns = np.triu_indices(n, 1)
    return rows * n + columns, columns * n + rows


def _triangle_of(a):
    """``"lower"`` / ``"upper"`` when the 2-D ``a`` is exactly triangular, else ``None``."""
    if a.ndim != 2 or a.shape[0] < 8 or _scipy_solve_triangular is None:
        return None
    n = a.shape[0]
    upper_part, lower_part = _strict_upper_positions(n)
    if a.flags.f_contiguous and not a.flags.c_contiguous:  # a transposed view: no copy
        flat, upper_part, lower_part = a.T.ravel(), lower_part, upper_part
    else:
        flat = a.ravel()
    if a[0, n - 1] == 0 and not np.any(flat.take(upper_part)):
        return "lower"
    if a[n - 1, 0] == 0 and not np.any(flat.take(lower_part)):
        return "upper"
    return None


def _solve_impl(a, b):
    """NumPy's ``solve`` for a matrix right-hand side ``(..., n, k)``; a triangular ``a``
    (a Cholesky or QR factor) is solved by substitution, O(n^2) per column instead of an LU."""
    a, b = np.asarray(a), np.asarray(b)
    kind = _triangle_of(a)
    if kind is not None and b.ndim >= 2:
        if np.any(np.diagonal(a) == 0):
            raise np.linalg.LinAlgError("Singular matrix")
        return _triangular_solve_values(a, b, kind == "lower")
    return np.linalg.solve(a, b)


def _lifted(t, x, target_ndim):
    """Tangent ``t`` of ``x`` with unit stack axes so its value part has ``target_ndim`` axes."""
    return shapes.pad_to(t, ndim_of(x), target_ndim)


def _linear_system_rules(name, solve_again, coefficients, transposed):
    """JVP and VJP of ``x = A^{-1} b`` (Giles 2008, sec. 3.4): ``dx = A^{-1} (db - dA x)``;
    ``b_bar = A^{-T} x_bar``, ``A_bar = -b_bar x^T``, summed over broadcast stack axes.

    ``solve_again(a, rhs, **params)`` is the primitive itself, ``coefficients(m, **params)``
    the part of a matrix the solver reads (all of it, or one triangle), ``transposed(params)``
    the parameters that solve with ``A^T``.
    """

    def jvp(primals, tangents, out, **params):
        a, b = primals
        ta, tb = tangents
        out_ndim = ndim_of(out)
        rhs = None if tb is None else _lifted(tb, b, out_ndim)
        if ta is not None:
            correction = matmul(coefficients(_lifted(ta, a, out_ndim), **params), out)
            rhs = ew.negative(correction) if rhs is None else ew.subtract(rhs, correction)
        return solve_again(a, rhs, **params)

    def vjp(g, primals, out, wanted, **params):
        a, b = primals
        n_batch = batch_ndim(g, out)
        b_bar = solve_again(swap_last(a), g, **transposed(params))
        results = []
        for i in wanted:
            if i == 0:
                a_bar = coefficients(ew.negative(matmul(b_bar, swap_last(out))), **params)
                results.append(shapes.unbroadcast(a_bar, shape_of(a), n_batch))
            else:
                results.append(shapes.unbroadcast(b_bar, shape_of(b), n_batch))
        return results

    jvp.__name__, vjp.__name__ = f"{name}_jvp", f"{name}_vjp"
    return jvp, vjp


def _linear_system_taylor(solve_again, coefficients):
    """The Taylor rule of ``x = A^{-1} b``, order by order from ``A X = B``:
    ``X_k = A_0^{-1} (B_k - sum_{j>=1} A_j X_{k-j})``, one solve with ``A_0`` per order
    (``solve_again`` and ``coefficients`` as for :func:`_linear_system_rules`)."""

    def rule(primals, series_, order, **params):
        a, b = primals
        a_series, b_series = series_
        x = [solve_again(a, b, **params)]
        for k in range(1, order + 1):
            rhs = None if b_series is None else indexing.getitem(b_series, index=k)
            if a_series is not None:
                for j in range(1, k + 1):
                    a_j = coefficients(indexing.getitem(a_series, index=j), **params)
                    term = matmul(a_j, x[k - j])
                    rhs = ew.negative(term) if rhs is None else ew.subtract(rhs, term)
            x.append(solve_again(a, rhs, **params) if rhs is not None else ew.multiply(x[0], 0.0))
        return shapes.concatenate(*[series.leading(c) for c in x], axis=0)

    return rule


solve = Primitive(
    "solve",
    _solve_impl,
    *_linear_system_rules("solve", lambda a, b: solve(a, b), lambda m: m, lambda params: params),
    taylor=_linear_system_taylor(lambda a, b: solve(a, b), lambda m: m),
    cases=(
        Case("matrix", ((3, 3), (3, 2)), call_with(), "wellconditioned"),
        Case("column", ((4, 4), (4, 1)), call_with(), "wellconditioned"),
        Case("stacked", ((2, 3, 3), (2, 3, 2)), call_with(), "wellconditioned"),
        Case("stack-broadcast", ((3, 3), (2, 3, 1)), call_with(), "wellconditioned"),
        Case("matrix-broadcast", ((2, 3, 3), (3, 2)), call_with(), "wellconditioned"),
        Case("triangular", ((9, 9), (9, 2)), lambda fn, a, b: fn(triangle(a, True), b),
             "wellconditioned"),
    ),
)


solve_triangular = ParametrizedPrimitive(
    "solve_triangular",
    _triangular_solve_values,
    *_linear_system_rules(
        "solve_triangular",
        lambda a, b, lower=True: solve_triangular(a, b, lower=lower),
        lambda m, lower=True: triangle(m, lower),
        lambda params: {"lower": not params.get("lower", True)},
    ),
    taylor=_linear_system_taylor(
        lambda a, b, lower=True: solve_triangular(a, b, lower=lower),
        lambda m, lower=True: triangle(m, lower),
    ),
    n_operands=2,
    param_names=("lower",),
    cases=(
        Case("lower", ((3, 3), (3, 2)), call_with(lower=True), "wellconditioned"),
        Case("upper", ((3, 3), (3, 2)), call_with(lower=False), "wellconditioned"),
        Case("stacked-rhs", ((3, 3), (2, 3, 2)), call_with(lower=True), "wellconditioned"),
        Case("stacked", ((2, 3, 3), (2, 3, 1)), call_with(lower=False), "wellconditioned"),
    ),
)


try:
    from scipy.linalg.blas import dtrmm as _dtrmm, strmm as _strmm
except ImportError:  # pragma: no cover - exercised only without SciPy
    _dtrmm = _strmm = None


def _triangular_matmul_values(a, b, lower=True):
    """``tri(a) @ b`` reading one triangle of ``a``: BLAS ``trmm`` (half a GEMM's work) for a 2-D
    ``a`` and ``b`` when SciPy is there, else a masked ``matmul``."""
    a, b = np.asarray(a), np.asarray(b)
    routine = {np.float64: _dtrmm, np.float32: _strmm}.get(np.result_type(a, b).type)
    if routine is None or a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype:
        return np.matmul(np.tril(a) if lower else np.triu(a), b)
    if a.flags.f_contiguous:
        return routine(1.0, a, b, lower=int(lower))
    # a C-ordered a is the Fortran-ordered a.T: trmm with op(a.T) = a.T^T
    return routine(1.0, a.T, b, lower=int(not lower), trans_a=1)


def _triangular_matmul_jvp(primals, tangents, out, lower=True):
    """``d(tri(A) B) = tri(dA) B + tri(A) dB``."""
    a, b = primals
    ta, tb = tangents
    out_ndim = ndim_of(out)
    total = None if tb is None else triangular_matmul(a, _lifted(tb, b, out_ndim), lower=lower)
    if ta is not None:
        term = matmul(triangle(_lifted(ta, a, out_ndim), lower), b)
        total = term if total is None else ew.add(total, term)
    return total


def _triangular_matmul_vjp(g, primals, out, wanted, lower=True):
    """``A_bar = tri(G B^T)``, ``B_bar = tri(A)^T G``."""
    a, b = primals
    n_batch = batch_ndim(g, out)
    results = []
    for i in wanted:
        if i == 0:
            a_bar = triangle(matmul(g, swap_last(b)), lower)
            results.append(shapes.unbroadcast(a_bar, shape_of(a), n_batch))
        else:
            b_bar = triangular_matmul(swap_last(a), g, lower=not lower)
            results.append(shapes.unbroadcast(b_bar, shape_of(b), n_batch))
    return results


triangular_matmul = ParametrizedPrimitive(
    "triangular_matmul",
    _triangular_matmul_values,
    _triangular_matmul_jvp,
    _triangular_matmul_vjp,
    taylor=series.FROM_JVP,
    n_operands=2,
    param_names=("lower",),
    cases=(
        Case("lower", ((3, 3), (3, 2)), call_with(lower=True)),
        Case("upper-transposed", ((3, 3), (3, 3)), lambda fn, a, b: fn(a.T, b, lower=False)),
        Case("stacked-rhs", ((3, 3), (2, 3, 2)), call_with(lower=True)),
    ),
)


def _inv_jvp(primals, tangents, out):
    """``dC = -C dA C`` (Giles 2008, sec. 3.3)."""
    (t,) = tangents
    return ew.negative(matmul(out, matmul(t, out)))


def _inv_vjp(g, primals, out, wanted):
    """``A_bar = -C^T C_bar C^T``."""
    c_t = swap_last(out)
    return [ew.negative(matmul(c_t, matmul(g, c_t)))]


def _inv_taylor(primals, coefficients, order):
    """``A C = I`` order by order: ``C_k = -C_0 sum_{j>=1} A_j C_{k-j}``."""
    (a_series,) = coefficients
    c = [inv(primals[0])]
    for k in range(1, order + 1):
        total = None
        for j in range(1, k + 1):
            term = matmul(indexing.getitem(a_series, index=j), c[k - j])
            total = term if total is None else ew.add(total, term)
        c.append(ew.negative(matmul(c[0], total)))
    return shapes.concatenate(*[series.leading(x) for x in c], axis=0)


inv = Primitive(
    "inv",
    np.linalg.inv,
    _inv_jvp,
    _inv_vjp,
    taylor=_inv_taylor,
    numpy=(np.linalg.inv,),
    cases=(
        Case("matrix", ((3, 3),), call_with(), "wellconditioned"),
        Case("stacked", ((2, 3, 3),), call_with(), "wellconditioned"),
    ),
)

# ----------------------------------------------------------------------------------------------
# determinants: d log|det A| = tr(A^{-1} dA), A_bar = (log|det A|)_bar A^{-T} (Giles 2008, 3.4)
# ----------------------------------------------------------------------------------------------


def _logdet_jvp(primals, tangents, out):
    (a,), (t,) = primals, tangents
    return _last_two_sum(ew.multiply(swap_last(inv(a)), t))


def _logdet_vjp(g, primals, out, wanted):
    return [ew.multiply(_as_matrix_cotangent(g), swap_last(inv(primals[0])))]


logabsdet = Primitive(
    "logabsdet",
    lambda a: np.linalg.slogdet(a)[1],
    _logdet_jvp,
    _logdet_vjp,
    taylor=series.FROM_JVP,
    cases=(
        Case("matrix", ((3, 3),), call_with(), "wellconditioned"),
        Case("stacked", ((2, 3, 3),), call_with(), "wellconditioned"),
        Case("negative-det", ((3, 3),), lambda fn, a: fn(a[::-1]), "wellconditioned"),
    ),
)


def _det_jvp(primals, tangents, out):
    """``d det A = det A tr(A^{-1} dA)``."""
    return ew.multiply(out, _logdet_jvp(primals, tangents, out))


def _det_vjp(g, primals, out, wanted):
    """``A_bar = det_bar det A A^{-T}``; at a singular ``A`` the inverse (and this) raises."""
    return _logdet_vjp(ew.multiply(g, out), primals, out, wanted)


det = Primitive(
    "det",
    np.linalg.det,
    _det_jvp,
    _det_vjp,
    taylor=series.FROM_JVP,
    numpy=(np.linalg.det,),
    cases=(
        Case("matrix", ((3, 3),), call_with(), "wellconditioned"),
        Case("stacked", ((2, 3, 3),), call_with(), "wellconditioned"),
    ),
)

# ----------------------------------------------------------------------------------------------
# least squares and the pseudo-inverse
# ----------------------------------------------------------------------------------------------


def _lstsq_jvp(primals, tangents, out, rcond=None):
    """Full column rank: ``x = (A^T A)^{-1} A^T b``, so (differentiating the normal equations)
    ``dx = (A^T A)^{-1} (dA^T r + A^T (db - dA x))`` with the residual ``r = b - A x``
    (Golub & Pereyra 1973, the full-rank case)."""
    a, b = primals
    ta, tb = tangents
    gram = matmul(swap_last(a), a)
    rhs_data = tb
    total = None
    if ta is not None:
        residual = ew.subtract(b, matmul(a, out))
        total = matmul(swap_last(ta), residual)
        moved = matmul(ta, out)
        rhs_data = ew.negative(moved) if rhs_data is None else ew.subtract(rhs_data, moved)
    projected = matmul(swap_last(a), rhs_data)
    total = projected if total is None else ew.add(total, projected)
    return solve(gram, total)


def _lstsq_vjp(g, primals, out, wanted, rcond=None):
    """With ``z = (A^T A)^{-1} x_bar``: ``b_bar = A z`` and ``A_bar = r z^T - A z x^T``."""
    a, b = primals
    z = solve(matmul(swap_last(a), a), g)
    a_z = matmul(a, z)
    results = []
    for i in wanted:
        if i == 0:
            residual = ew.subtract(b, matmul(a, out))
            results.append(ew.subtract(matmul(residual, swap_last(z)),
                                       matmul(a_z, swap_last(out))))
        else:
            results.append(a_z)
    return results


lstsq = ParametrizedPrimitive(
    "lstsq",
    lambda a, b, rcond=None: np.linalg.lstsq(a, b, rcond=rcond)[0],
    _lstsq_jvp,
    _lstsq_vjp,
    taylor=series.FROM_JVP,
    n_operands=2,
    param_names=("rcond",),
    cases=(
        Case("tall", ((5, 3), (5, 2)), call_with(rcond=None)),
        Case("square", ((3, 3), (3, 1)), call_with(rcond=None), "wellconditioned"),
    ),
)


def _pinv_jvp(primals, tangents, out, rcond=1e-15, hermitian=False):
    """Golub & Pereyra (1973), Theorem 4.3, where the rank is locally constant:
    ``dA+ = -A+ dA A+ + A+ A+^T dA^T (I - A A+) + (I - A+ A) dA^T A+^T A+``."""
    (a,), (t,) = primals, tangents
    p = out
    t_t = swap_last(t)
    first = ew.negative(matmul(p, matmul(t, p)))
    second = matmul(matmul(p, swap_last(p)), matmul(t_t, _residual_projector(a, p)))
    third = matmul(_residual_projector(p, a), matmul(t_t, matmul(swap_last(p), p)))
    return ew.add(first, ew.add(second, third))


def _pinv_vjp(g, primals, out, wanted, rcond=1e-15, hermitian=False):
    """The transpose: ``A_bar = -A+^T G A+^T + (I - A A+) G^T A+ A+^T + A+^T A+ G^T (I - A+ A)``."""
    (a,) = primals
    p, p_t, g_t = out, swap_last(out), swap_last(g)
    first = ew.negative(matmul(p_t, matmul(g, p_t)))
    second = matmul(_residual_projector(a, p), matmul(g_t, matmul(p, p_t)))
    third = matmul(matmul(p_t, p), matmul(g_t, _residual_projector(p, a)))
    return [ew.add(first, ew.add(second, third))]


def _residual_projector(x, y):
    """``I - x y`` (the projector onto the complement of the range of ``x``, for a pseudo-inverse
    pair)."""
    product = matmul(x, y)
    return ew.subtract(np.eye(shape_of(product)[-1], dtype=dtype_of(product)), product)


pinv = ParametrizedPrimitive(
    "pinv",
    lambda a, rcond=1e-15, hermitian=False: np.linalg.pinv(a, rcond=rcond, hermitian=hermitian),
    _pinv_jvp,
    _pinv_vjp,
    taylor=series.FROM_JVP,
    n_operands=1,
    param_names=("rcond", "hermitian"),
    cases=(
        Case("tall", ((4, 3),), call_with(rcond=1e-15)),
        Case("wide", ((2, 4),), call_with(rcond=1e-15)),
        Case("stacked", ((2, 4, 3),), call_with(rcond=1e-15)),
        Case("rank-2-of-4x3", ((4, 2), (2, 3)), lambda fn, b, c: fn(b @ c, rcond=1e-10)),
    ),
)
