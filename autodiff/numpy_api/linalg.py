"""``np.linalg`` (and ``np.trace``) on traced values, written with the linear-algebra primitives.

The primitives (:mod:`autodiff.rules.linalg`: ``solve``, ``inv``, ``det``, ``logabsdet``,
``lstsq``, ``pinv``; :mod:`autodiff.rules.decompositions`: ``cholesky``, ``eigh``,
``eigvalsh``, ``svd``, ``svdvals``, ``qr``) carry the derivative rules and their sources; the
functions here give them NumPy's signatures, keywords and result types, and build the rest from
them: ``slogdet`` (the sign on primal values), ``norm`` and its NumPy 2 spellings, ``cond``,
``matrix_power``, ``multi_dot``, ``trace``.  Stacked matrices broadcast as in NumPy.

Kinks (API.md): the vector 2-norm, Frobenius and every other vector ``p``-norm have derivative
0 at 0; the spectral and nuclear norms follow the singular values (``svdvals``: exact for
repeated values).  ``matrix_rank`` is integer-valued and runs on primal values.
"""

from __future__ import annotations

import builtins
import math

import numpy as np
from numpy.linalg._linalg import EighResult, QRResult, SlogdetResult, SVDResult

from ..rules import decompositions as rules_decompositions
from ..rules import elementwise as ew
from ..rules import indexing as rules_indexing
from ..rules import linalg as rules_linalg
from ..rules import reductions as rules_reductions
from ..rules import shapes as rules_shape
from ..rules.primitive import (
    Case,
    call_with,
    data_value,
    dtype_of,
    implements,
    ndim_of,
    normalize_axes,
    on_primals,
    shape_of,
)
from .diagonals import diagonal

__all__ = [
    "solve",
    "slogdet",
    "cholesky",
    "eigh",
    "eigvalsh",
    "svd",
    "svdvals",
    "qr",
    "lstsq",
    "pinv",
    "norm",
    "vector_norm",
    "matrix_norm",
    "cond",
    "matrix_power",
    "multi_dot",
    "trace",
    "matrix_transpose",
]

_UNSET = object()


def _as_columns(b):
    """A vector right-hand side as one column (NumPy 2: ``b`` is a vector iff ``b.ndim == 1``)."""
    return rules_shape.reshape(b, shape_of(b) + (1,))


def _first_column(x):
    return rules_shape.reshape(x, shape_of(x)[:-1])


# ----------------------------------------------------------------------------------------------
# linear systems and determinants
# ----------------------------------------------------------------------------------------------


@implements(np.linalg.solve, cases=(
    Case("vector", ((3, 3), (3,)), call_with(), "wellconditioned"),
    Case("stacked-vector", ((2, 3, 3), (3,)), call_with(), "wellconditioned"),
    Case("matrix", ((3, 3), (3, 2)), call_with(), "wellconditioned"),
))
def solve(a, b):
    """``x = A^{-1} b`` (Giles 2008, sec. 3.4): ``b`` is a vector when 1-D, else a stack of
    matrices ``(..., n, k)``, broadcast against ``a``'s stack."""
    if ndim_of(b) == 1:
        return _first_column(rules_linalg.solve(a, _as_columns(b)))
    return rules_linalg.solve(a, b)


@implements(np.linalg.slogdet, cases=(
    Case("logabsdet", ((3, 3),), lambda fn, a: fn(a)[1], "wellconditioned"),
    Case("times-sign", ((2, 3, 3),), lambda fn, a: fn(a).sign * fn(a).logabsdet,
         "wellconditioned"),
))
def slogdet(a):
    """``(sign, log|det A|)``: the sign is piecewise constant (computed on primal values), the
    logarithm differentiates as ``tr(A^{-1} dA)`` (Giles 2008, sec. 3.4)."""
    sign = np.linalg.slogdet(data_value(a))[0]  # under ad.jit: a recorded step
    return SlogdetResult(sign, rules_linalg.logabsdet(a))


# ----------------------------------------------------------------------------------------------
# decompositions
# ----------------------------------------------------------------------------------------------


@implements(np.linalg.cholesky, cases=(
    Case("lower", ((3, 3),), call_with(), "spd"),
    Case("upper", ((2, 3, 3),), call_with(upper=True), "spd"),
))
def cholesky(a, /, *, upper=False):
    """Lower factor ``L L^T = A`` from ``A``'s lower triangle (Murray 2016); ``upper=True``
    gives ``L^T`` from the upper triangle, as LAPACK's ``potrf('U')`` reads it."""
    if upper:
        return rules_linalg.swap_last(rules_decompositions.cholesky(rules_linalg.swap_last(a)))
    return rules_decompositions.cholesky(a)


def _check_uplo(UPLO):  # noqa: N803 - NumPy's keyword
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")


@implements(np.linalg.eigh, cases=(
    Case("values", ((3, 3),), lambda fn, a: fn(a)[0], "spd"),
    Case("vectors-upper", ((3, 3),), lambda fn, a: fn(a, UPLO="U").eigenvectors, "spd"),
    Case("square-from-factors", ((2, 3, 3),),
         lambda fn, a: (lambda r: (r[1] * r[0][..., None, :] ** 2) @ np.swapaxes(r[1], -1, -2))(
             fn(a)), "spd"),
))
def eigh(a, UPLO="L"):  # noqa: N803
    """``A = V diag(w) V^T`` from one triangle of ``A`` (Giles 2008, sec. 3.1); repeated
    eigenvalues: exact values, ``nan`` vector derivatives with a warning."""
    _check_uplo(UPLO)
    w, v = rules_decompositions.eigh_factors(rules_decompositions.eigh(a, UPLO=UPLO), a)
    return EighResult(w, v)


@implements(np.linalg.eigvalsh, cases=(
    Case("lower", ((3, 3),), call_with(), "spd"),
    Case("stacked-upper", ((2, 3, 3),), call_with(UPLO="U"), "spd"),
))
def eigvalsh(a, UPLO="L"):  # noqa: N803
    """Eigenvalues only: ``dw_k = v_k^T dA v_k``, exact also for repeated eigenvalues."""
    _check_uplo(UPLO)
    return rules_decompositions.eigvalsh(a, UPLO=UPLO)


def _hermitian_input(a):
    """What NumPy's ``hermitian=True`` paths read: the symmetric matrix of the lower triangle."""
    return rules_linalg.symmetric_from_triangle(a, True)


@implements(np.linalg.svd, cases=(
    Case("values", ((4, 3),), call_with(compute_uv=False)),
    Case("thin-vectors", ((4, 3),), lambda fn, a: fn(a, full_matrices=False).U),
    Case("gram-from-factors", ((2, 3, 4),),
         lambda fn, a: (lambda r: (r.U * r.S[..., None, :] ** 2) @ np.swapaxes(r.U, -1, -2))(
             fn(a, full_matrices=False))),
    Case("hermitian", ((3, 3),), lambda fn, a: fn(a, hermitian=True).S, "spd"),
))
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """``A = U diag(S) Vh`` (Townsend 2016); ``compute_uv=False`` gives the singular values,
    whose derivative ``u_k^T dA v_k`` is exact also for repeated values."""
    if hermitian:
        a = _hermitian_input(a)
    if not compute_uv:
        return rules_decompositions.svdvals(a)
    packed = rules_decompositions.svd(a, full_matrices=bool(full_matrices),
                                      hermitian=bool(hermitian))
    return SVDResult(*rules_decompositions.svd_factors(packed, a, bool(full_matrices)))


@implements(np.linalg.svdvals, cases=(Case("tall", ((4, 3),), call_with()),))
def svdvals(x, /):
    return rules_decompositions.svdvals(x)


@implements(np.linalg.qr, cases=(
    Case("R", ((4, 3),), call_with(mode="r")),
    Case("Q", ((4, 3),), lambda fn, a: fn(a).Q),
    Case("wide-Q", ((2, 3),), lambda fn, a: fn(a).Q),
))
def qr(a, mode="reduced"):
    """``A = Q R`` (Walter & Lehmann 2018; reverse: Roberts & Roberts 2020): modes ``reduced``,
    ``complete`` and ``r``; ``raw`` (Householder reflectors) is refused."""
    if mode not in ("reduced", "complete", "r"):
        raise TypeError(
            f"qr(mode={mode!r}) is not supported on traced values: use 'reduced', 'complete' "
            "or 'r'" if mode == "raw" else f"Unrecognized mode {mode!r}"
        )
    core_mode = "complete" if mode == "complete" else "reduced"
    q, r = rules_decompositions.qr_factors(rules_decompositions.qr(a, mode=core_mode), a,
                                           core_mode)
    return r if mode == "r" else QRResult(q, r)


# ----------------------------------------------------------------------------------------------
# least squares and the pseudo-inverse
# ----------------------------------------------------------------------------------------------


@implements(np.linalg.pinv, cases=(
    Case("tall", ((4, 3),), call_with()),
    Case("rtol", ((3, 4),), call_with(rtol=1e-12)),
    Case("hermitian", ((3, 3),), call_with(hermitian=True), "spd"),
))
def pinv(a, rcond=None, hermitian=False, *, rtol=_UNSET):
    """Moore-Penrose pseudo-inverse; its derivative is Golub & Pereyra's (1973), valid where
    the rank (the singular values above ``rcond * s_max``) does not change."""
    if rcond is None:
        if rtol is _UNSET:
            rcond = 1e-15
        elif rtol is None:
            rcond = builtins.max(shape_of(a)[-2:]) * np.finfo(dtype_of(a)).eps
        else:
            rcond = rtol
    elif rtol is not _UNSET:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    if hermitian:
        a = _hermitian_input(a)
    return rules_linalg.pinv(a, rcond=rcond, hermitian=bool(hermitian))


@implements(np.linalg.lstsq, cases=(
    Case("x", ((5, 3), (5,)), lambda fn, a, b: fn(a, b)[0]),
    Case("residuals", ((5, 3), (5, 2)), lambda fn, a, b: fn(a, b)[1]),
    Case("singular-values", ((4, 3), (4,)), lambda fn, a, b: fn(a, b)[3]),
    Case("underdetermined", ((2, 4), (2,)), lambda fn, a, b: fn(a, b)[0]),
))
def lstsq(a, b, rcond=None):
    """``(x, residuals, rank, sv)`` as NumPy returns them.

    Full column rank: ``x`` through the normal equations (the ``lstsq`` primitive); otherwise
    ``x = pinv(A) b`` with the same cutoff (Golub & Pereyra 1973).  ``residuals`` (the squared
    residual norms, when the rank is full and ``m > n``) and ``sv`` (``svdvals``) are
    differentiable; ``rank`` is an integer.
    """
    # under ad.jit the rank is recorded and its tests below are guards (it picks the formula)
    _, _, rank, _ = np.linalg.lstsq(data_value(a), data_value(b), rcond=rcond)
    m, n = shape_of(a)
    vector = ndim_of(b) == 1
    columns = _as_columns(b) if vector else b
    if rank == n:
        x = rules_linalg.lstsq(a, columns, rcond=rcond)
    else:
        cutoff = np.finfo(dtype_of(a)).eps * builtins.max(m, n) if rcond is None else rcond
        x = rules_linalg.matmul(rules_linalg.pinv(a, rcond=cutoff, hermitian=False), columns)
    if rank == n and m > n:
        misfit = ew.subtract(columns, rules_linalg.matmul(a, x))
        residuals = rules_reductions.reduce_sum(ew.square(misfit), axis=0)
    else:
        residuals = np.empty((0,), dtype=dtype_of(a))
    return (_first_column(x) if vector else x), residuals, rank, rules_decompositions.svdvals(a)


# ----------------------------------------------------------------------------------------------
# norms
# ----------------------------------------------------------------------------------------------


def _zero_safe(norm_of, x, axes, keepdims):
    """``norm_of(x)`` with derivative 0 where the reduced slice is all zeros (API.md's kink
    table): such slices are replaced by ones before, and their value 0 restored after, with
    ``where`` (the double-``where`` that keeps ``0/0`` out of every order)."""
    zero = np.all(data_value(x) == 0, axis=axes, keepdims=True)  # ad.jit: recorded, guarded
    if not np.any(zero):
        return norm_of(x)
    safe = rules_indexing.where(zero, 1.0, x)
    at_zero = zero if keepdims else np.squeeze(zero, axis=axes)
    return rules_indexing.where(at_zero, 0.0, norm_of(safe))


def _vector_norm(x, ord, axes, keepdims):  # noqa: A002 - NumPy's keyword
    """NumPy's vector norms over ``axes`` (a tuple)."""
    if ord == np.inf:
        return rules_reductions.reduce_max(ew.absolute(x), axis=axes, keepdims=keepdims)
    if ord == -np.inf:
        return rules_reductions.reduce_min(ew.absolute(x), axis=axes, keepdims=keepdims)
    if ord == 0:  # the number of non-zero entries: piecewise constant
        counts = np.sum(data_value(x) != 0, axis=axes, keepdims=keepdims)  # (ad.jit: recorded)
        return counts.astype(dtype_of(x))
    if ord == 1:
        return rules_reductions.reduce_sum(ew.absolute(x), axis=axes, keepdims=keepdims)
    if ord is None or ord == 2:
        def euclidean(v):
            return ew.sqrt(rules_reductions.reduce_sum(ew.square(v), axis=axes, keepdims=keepdims))

        return _zero_safe(euclidean, x, axes, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")

    def power_norm(v):
        powered = ew.power(ew.absolute(v), float(ord))
        total = rules_reductions.reduce_sum(powered, axis=axes, keepdims=keepdims)
        return ew.power(total, 1.0 / float(ord))

    return _zero_safe(power_norm, x, axes, keepdims)


def _matrix_norm(x, ord, row, col, keepdims):  # noqa: A002
    """NumPy's matrix norms over the axes ``row``, ``col`` (non-negative, distinct)."""
    if ord in (None, "fro", "f"):
        return _vector_norm(x, 2, (builtins.min(row, col), builtins.max(row, col)), keepdims)
    if ord in (2, -2, "nuc"):
        n = ndim_of(x)
        moved = rules_shape.transpose(
            x, tuple(i for i in range(n) if i not in (row, col)) + (row, col))
        values = rules_decompositions.svdvals(moved)
        reduce = {2: rules_reductions.reduce_max, -2: rules_reductions.reduce_min,
                  "nuc": rules_reductions.reduce_sum}[ord]
        result = reduce(values, axis=-1)
    elif ord in (1, -1, np.inf, -np.inf):
        summed_axis, extreme_axis = (row, col) if ord in (1, -1) else (col, row)
        sums = rules_reductions.reduce_sum(ew.absolute(x), axis=summed_axis)
        reduce = rules_reductions.reduce_max if ord > 0 else rules_reductions.reduce_min
        result = reduce(sums, axis=extreme_axis - (extreme_axis > summed_axis))
    else:
        raise ValueError("Invalid norm order for matrices.")
    if keepdims:
        shape = list(shape_of(x))
        shape[row] = shape[col] = 1
        result = rules_shape.reshape(result, tuple(shape))
    return result


@implements(np.linalg.norm, cases=(
    Case("vector-2", ((5,),), call_with()),
    Case("vector-1", ((5,),), call_with(ord=1), "nonzero"),
    Case("vector-inf", ((5,),), call_with(ord=np.inf), "separated"),
    Case("vector-minus-inf", ((5,),), call_with(ord=-np.inf), "separated"),
    Case("vector-3", ((5,),), call_with(ord=3), "nonzero"),
    Case("vector-half", ((4,),), call_with(ord=0.5), "nonzero"),
    Case("rows-keepdims", ((3, 4),), call_with(axis=1, keepdims=True)),
    Case("fro", ((3, 4),), call_with(ord="fro")),
    Case("nuc", ((3, 4),), call_with(ord="nuc")),
    Case("spectral", ((4, 3),), call_with(ord=2)),
    Case("smallest-singular", ((4, 3),), call_with(ord=-2)),
    Case("matrix-1", ((3, 4),), call_with(ord=1), "separated"),
    Case("matrix-minus-1", ((3, 4),), call_with(ord=-1), "separated"),
    Case("matrix-inf", ((3, 4),), call_with(ord=np.inf), "separated"),
    Case("matrix-minus-inf", ((3, 4),), call_with(ord=-np.inf), "separated"),
    Case("stacked-axes", ((2, 3, 4),), call_with(ord=2, axis=(2, 0), keepdims=True)),
    Case("all-3d", ((2, 3, 2),), call_with()),
))
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """NumPy's ``norm``: vector norms (``None``/2, 1, ``inf``, ``-inf``, 0, any ``p``) over one
    axis, matrix norms (``fro``, ``nuc``, 2, -2, 1, -1, ``inf``, ``-inf``) over two."""
    n = ndim_of(x)
    if axis is None:
        if ord is None or (ord in ("f", "fro") and n == 2) or (ord == 2 and n == 1):
            return _vector_norm(x, 2, tuple(range(n)), keepdims)
        axis = tuple(range(n))
    elif not isinstance(axis, tuple):
        try:
            axis = (int(axis),)
        except (TypeError, ValueError) as error:
            raise TypeError("'axis' must be None, an integer or a tuple of integers") from error
    if len(axis) == 1:
        return _vector_norm(x, ord, normalize_axes(axis, n), keepdims)
    if len(axis) == 2:
        row, col = (int(a) for a in axis)
        if not (-n <= row < n and -n <= col < n):
            raise np.exceptions.AxisError(row if not -n <= row < n else col, n)
        row, col = row % n, col % n
        if row == col:
            raise ValueError("Duplicate axes given.")
        return _matrix_norm(x, ord, row, col, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


@implements(np.linalg.vector_norm, cases=(
    Case("all", ((3, 4),), call_with()),
    Case("two-axes-3", ((2, 3, 2),), call_with(axis=(0, 2), ord=3, keepdims=True), "nonzero"),
))
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002
    """The array API's ``vector_norm``: a vector norm over any number of axes (all: flattened)."""
    n = ndim_of(x)
    axes = normalize_axes(axis, n)
    if len(axes) <= 1:
        return _vector_norm(x, ord, axes, keepdims)
    others = tuple(i for i in range(n) if i not in axes)
    moved = rules_shape.transpose(x, others + axes)
    flat = rules_shape.reshape(moved, tuple(shape_of(x)[i] for i in others) + (-1,))
    result = _vector_norm(flat, ord, (len(others),), False)
    if keepdims:
        result = rules_shape.reshape(
            result, tuple(1 if i in axes else s for i, s in enumerate(shape_of(x))))
    return result


@implements(np.linalg.matrix_norm, cases=(Case("nuc", ((2, 3, 4),), call_with(ord="nuc")),))
def matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002
    n = ndim_of(x)
    return _matrix_norm(x, ord, n - 2, n - 1, keepdims)


@implements(np.linalg.cond, cases=(
    Case("2-norm", ((3, 3),), call_with(), "wellconditioned"),
    Case("minus-2", ((3, 3),), call_with(p=-2), "wellconditioned"),
    Case("fro", ((2, 3, 3),), call_with(p="fro"), "wellconditioned"),
))
def cond(x, p=None):
    """The condition number: ``s_max / s_min`` (``p`` None, 2; inverted for -2), otherwise
    ``norm(A, p) norm(A^{-1}, p)``, as NumPy computes it."""
    if p in (None, 2, -2):
        values = rules_decompositions.svdvals(x)
        largest = rules_indexing.getitem(values, index=(Ellipsis, 0))
        smallest = rules_indexing.getitem(values, index=(Ellipsis, -1))
        return ew.divide(smallest, largest) if p == -2 else ew.divide(largest, smallest)
    return ew.multiply(matrix_norm(x, ord=p), matrix_norm(rules_linalg.inv(x), ord=p))


on_primals(np.linalg.matrix_rank)


# ----------------------------------------------------------------------------------------------
# products and traces
# ----------------------------------------------------------------------------------------------


@implements(np.linalg.matrix_power, cases=(
    Case("cube", ((3, 3),), lambda fn, a: fn(a, 3)),
    Case("fifth-stacked", ((2, 3, 3),), lambda fn, a: fn(a, 5)),
    Case("inverse-square", ((3, 3),), lambda fn, a: fn(a, -2), "wellconditioned"),
))
def matrix_power(a, n):
    """``A^n`` by repeated squaring (NumPy's order of products); ``n < 0`` through ``inv``;
    ``n = 0`` is the identity (a constant)."""
    try:
        n = int(np.asarray(n).__index__()) if not isinstance(n, int) else n
    except TypeError as error:
        raise TypeError("exponent must be an integer") from error
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    if n == 0:
        return np.broadcast_to(np.eye(shape[-1], dtype=dtype_of(a)), shape).copy()
    if n < 0:
        a, n = rules_linalg.inv(a), -n
    result = None
    power = a
    while True:
        if n & 1:
            result = power if result is None else rules_linalg.matmul(result, power)
        n >>= 1
        if not n:
            return result
        power = rules_linalg.matmul(power, power)


def _chain_order(dimensions):
    """The optimal parenthesisation of a matrix chain (Cormen et al., *Introduction to
    Algorithms*, sec. 15.2): ``split[i][j]`` is where the product ``A_i .. A_j`` splits."""
    count = len(dimensions) - 1
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                trial = (cost[i][k] + cost[k + 1][j]
                         + dimensions[i] * dimensions[k + 1] * dimensions[j + 1])
                if trial < cost[i][j]:
                    cost[i][j], split[i][j] = trial, k
    return split


def _chain_product(arrays, split, i, j):
    if i == j:
        return arrays[i]
    k = split[i][j]
    return rules_linalg.matmul(_chain_product(arrays, split, i, k),
                               _chain_product(arrays, split, k + 1, j))


@implements(np.linalg.multi_dot, cases=(
    Case("three", ((2, 5), (5, 3), (3, 4)), lambda fn, *xs: fn(list(xs))),
    Case("vector-ends", ((3,), (3, 4), (4, 2), (2,)), lambda fn, *xs: fn(list(xs))),
))
def multi_dot(arrays, *, out=None):
    """The product of a chain of matrices in the cheapest order (a first / last 1-D array is
    a row / column vector, as in NumPy)."""
    if out is not None:
        raise TypeError("multi_dot(out=...) would write in place; traced values are immutable")
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    first_vector, last_vector = ndim_of(arrays[0]) == 1, ndim_of(arrays[-1]) == 1
    if first_vector:
        arrays[0] = rules_shape.reshape(arrays[0], (1,) + shape_of(arrays[0]))
    if last_vector:
        arrays[-1] = rules_shape.reshape(arrays[-1], shape_of(arrays[-1]) + (1,))
    for x in arrays:
        if ndim_of(x) != 2:
            raise np.linalg.LinAlgError(
                f"{ndim_of(x)}-dimensional array given. Array must be two-dimensional")
    dimensions = [shape_of(x)[0] for x in arrays] + [shape_of(arrays[-1])[1]]
    result = _chain_product(arrays, _chain_order(dimensions), 0, len(arrays) - 1)
    if first_vector and last_vector:
        return rules_shape.reshape(result, ())
    if first_vector or last_vector:
        return rules_shape.reshape(result, (-1,))
    return result


@implements(np.trace, cases=(
    Case("matrix", ((3, 4),), call_with()),
    Case("offset-axes", ((2, 3, 4),), call_with(offset=1, axis1=2, axis2=0)),
    Case("negative-offset", ((4, 3),), call_with(offset=-2)),
))
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """The sum along a diagonal of the ``axis1``, ``axis2`` planes (linear: exact at every
    order)."""
    if dtype is not None or out is not None:
        raise TypeError(
            f"trace({'dtype' if dtype is not None else 'out'}=...) is not supported on traced "
            "values: cast the input, or use the returned value")
    return rules_reductions.reduce_sum(diagonal(a, offset, axis1, axis2), axis=-1)


@implements(np.linalg.trace, cases=(Case("offset", ((2, 3, 3),), call_with(offset=-1)),))
def linalg_trace(x, /, *, offset=0, dtype=None):
    """The array API's ``trace``: over the last two axes."""
    return trace(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)


@implements(np.linalg.matrix_transpose, cases=(Case("stacked", ((2, 3, 4),), call_with()),))
def matrix_transpose(x, /):
    if ndim_of(x) < 2:
        raise ValueError("Input array must be at least 2-dimensional")
    return rules_linalg.swap_last(x)
