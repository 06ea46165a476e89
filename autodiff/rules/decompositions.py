"""Matrix decompositions: Cholesky, the symmetric eigenproblem, the SVD and QR.

A decomposition has several outputs, a primitive one: each primitive here returns its factors
*packed* into one array (every factor flattened over its matrix / vector axes and concatenated
along the last axis, stack axes kept in front); :func:`unpack` cuts them apart again with
``getitem`` and ``reshape``, so the entry points of :mod:`autodiff.numpy_api.linalg` return
NumPy's tuples and derivatives flow through the pieces the program uses.

Conventions (API.md's kink table):

* ``cholesky`` and ``eigh`` read one triangle of their input, as LAPACK does: the derivative
  with respect to the other triangle is 0.
* Repeated eigenvalues (``eigh``) or singular values (``svd``), and zero singular values where
  the thin factors need ``S^{-1}``: the values and their derivatives stay exact (``eigvalsh``,
  ``svdvals`` have rules of their own that never divide by a gap), the derivatives of the
  vectors are ``nan`` with a ``RuntimeWarning``.  Two values count as repeated when they are
  within ``n eps max|lambda|``: the accuracy LAPACK guarantees for them, so their order, and
  the vectors, are not determined by the data there.
* ``svd(full_matrices=True)`` and ``qr(mode='complete')`` of a non-square matrix return a basis
  of the orthogonal complement that NumPy chooses freely; its derivative is the one that keeps
  it orthogonal to the moving thin factor without rotating within the complement
  (``dU_perp = -U dU^T U_perp``).  Gauge-invariant uses (projectors ``U_perp U_perp^T``) are
  exact; individual complement columns follow LAPACK only to first order in that gauge.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import elementwise as ew
from . import indexing, reductions, series, shapes
from .linalg import (
    diagonal,
    diagonal_matrix,
    matmul,
    solve_triangular,
    swap_last,
    symmetric_from_triangle,
    symmetric_from_triangle_transpose,
    triangle,
    triangle_mask,
    triangular_matmul,
)
from .primitive import (
    Case,
    ParametrizedPrimitive,
    Traced,
    call_with,
    dtype_of,
    ndim_of,
    primal_value,
    shape_of,
)

__all__ = ["cholesky", "eigh", "eigvalsh", "svd", "svdvals", "qr", "unpack", "pack"]


# ----------------------------------------------------------------------------------------------
# several factors in one array
# ----------------------------------------------------------------------------------------------


def pack(parts, core_ndims):
    """The ``parts`` as one array: each flattened over its last ``core_ndims`` axes, then joined
    along the last axis (leading axes, stack and batch, are shared)."""
    flat = []
    for part, core in zip(parts, core_ndims):
        shape = shape_of(part)
        flat.append(shapes.reshape(part, shape[: len(shape) - core] + (-1,)))
    return shapes.concatenate(*flat, axis=len(shape_of(flat[0])) - 1)


def unpack(packed, core_shapes):
    """The factors of a :func:`pack`-ed array, given each one's matrix / vector shape."""
    lead = shape_of(packed)[:-1]
    parts = []
    start = 0
    for core in core_shapes:
        size = math.prod(core)
        piece = indexing.getitem(packed, index=(Ellipsis, slice(start, start + size)))
        parts.append(shapes.reshape(piece, lead + tuple(core)))
        start += size
    return parts


def _is_zero(x) -> bool:
    """A cotangent known to be exactly zero (a factor the program never used)."""
    return not isinstance(x, Traced) and not np.any(x)


def _tie_warning(name: str) -> None:
    warnings.warn(
        f"{name}: repeated (or, for the thin SVD, zero) values: the derivatives of the "
        "vectors are not defined there and are returned as nan (the values' derivatives are "
        "exact; eigvalsh / svdvals never need the vectors' derivatives)",
        RuntimeWarning,
        stacklevel=4,
    )


def _inverse_gaps(values, squared: bool, name: str):
    """``F_ij = 1 / (v_j - v_i)`` (or ``1 / (v_j^2 - v_i^2)``) off the diagonal, 0 on it.

    Written with primitives on the traced values (second derivatives need ``dF``).  Gaps within
    ``n eps max|v|`` are ties: ``nan`` there, with a warning.
    """
    v = primal_value(values)
    n = v.shape[-1]
    scale = np.max(np.abs(v), axis=-1, keepdims=True)[..., None]
    tolerance = n * np.finfo(v.dtype).eps * scale
    off_diagonal = ~np.eye(n, dtype=bool)
    tied = off_diagonal & (np.abs(v[..., None, :] - v[..., :, None]) <= tolerance)
    separated = off_diagonal & ~tied
    lead = shape_of(values)[:-1]
    row = shapes.reshape(values, lead + (1, n))
    column = shapes.reshape(values, lead + (n, 1))
    if squared:
        row, column = ew.square(row), ew.square(column)
    gaps = indexing.where(separated, ew.subtract(row, column), 1.0)
    inverse = indexing.where(separated, ew.reciprocal(gaps), 0.0)
    if np.any(tied):
        _tie_warning(name)
        inverse = indexing.where(tied, np.nan, inverse)
    return inverse


def _complement_tangent(q, dq, q_perp):
    """``dQ_perp = -Q dQ^T Q_perp``: the complement kept orthogonal to ``[Q, Q_perp]``'s thin
    part without rotating within itself."""
    return ew.negative(matmul(q, matmul(swap_last(dq), q_perp)))


def _complement_cotangent(q_bar, q_perp_bar, q, q_perp):
    """The transpose of :func:`_complement_tangent`, added to the thin factor's cotangent."""
    return ew.subtract(q_bar, matmul(q_perp, matmul(swap_last(q_perp_bar), q)))


# ----------------------------------------------------------------------------------------------
# Cholesky: Murray, "Differentiation of the Cholesky decomposition" (2016), eqs. 8 and 10
# ----------------------------------------------------------------------------------------------


def _phi(x):
    """Murray's ``Phi``: the lower triangle with the diagonal halved (self-adjoint)."""
    return ew.multiply(x, triangle_mask(shape_of(x)[-1], True, 0, dtype_of(x), 0.5))


def _cholesky_jvp(primals, tangents, out):
    """``dL = L Phi(L^{-1} dA L^{-T})``, ``dA`` the symmetric matrix of ``dA``'s lower triangle."""
    (t,) = tangents
    lower = out
    left = solve_triangular(lower, symmetric_from_triangle(t, True), lower=True)
    middle = swap_last(solve_triangular(lower, swap_last(left), lower=True))
    return matmul(lower, _phi(middle))


def _cholesky_vjp(g, primals, out, wanted):
    """``A_bar = tril-part of L^{-T} Phi(L^T L_bar) L^{-1}`` (two triangular solves, one
    product)."""
    upper = swap_last(out)
    inner = _phi(triangular_matmul(upper, g, lower=False))
    left = solve_triangular(upper, inner, lower=False)
    full = swap_last(solve_triangular(upper, swap_last(left), lower=False))
    return [symmetric_from_triangle_transpose(full, True)]


cholesky = ParametrizedPrimitive(
    "cholesky",
    lambda a: np.linalg.cholesky(a),
    _cholesky_jvp,
    _cholesky_vjp,
    taylor=series.FROM_JVP,
    n_operands=1,
    param_names=(),
    cases=(
        Case("matrix", ((4, 4),), call_with(), "spd"),
        Case("stacked", ((2, 3, 3),), call_with(), "spd"),
    ),
)

# ----------------------------------------------------------------------------------------------
# symmetric eigenproblem: Giles (2008), sec. 3.1; values alone need no gaps
# ----------------------------------------------------------------------------------------------


def _eigh_impl(a, UPLO="L"):  # noqa: N803 - NumPy's keyword
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return pack((w, v), (1, 2))


def eigh_factors(packed, a):
    """``(w, V)`` from :data:`eigh`'s packed output."""
    n = shape_of(a)[-1]
    return unpack(packed, ((n,), (n, n)))


def _eigh_jvp(primals, tangents, out, UPLO="L"):  # noqa: N803
    """``dw = diag(V^T dA V)``, ``dV = V (F o (V^T dA V))``, ``F_ij = 1/(w_j - w_i)``."""
    (a,), (t,) = primals, tangents
    w, v = eigh_factors(out, a)
    projected = matmul(swap_last(v), matmul(symmetric_from_triangle(t, UPLO == "L"), v))
    dv = matmul(v, ew.multiply(_inverse_gaps(w, False, "eigh"), projected))
    return pack((diagonal(projected), dv), (1, 2))


def _eigh_vjp(g, primals, out, wanted, UPLO="L"):  # noqa: N803
    """``A_bar = V (diag(w_bar) + F o (V^T V_bar)) V^T``, folded onto the triangle read."""
    (a,) = primals
    w, v = eigh_factors(out, a)
    w_bar, v_bar = eigh_factors(g, a)
    middle = diagonal_matrix(w_bar)
    if not _is_zero(v_bar):
        rotated = matmul(swap_last(v), v_bar)
        middle = ew.add(middle, ew.multiply(_inverse_gaps(w, False, "eigh"), rotated))
    full = matmul(v, matmul(middle, swap_last(v)))
    return [symmetric_from_triangle_transpose(full, UPLO == "L")]


eigh = ParametrizedPrimitive(
    "eigh",
    _eigh_impl,
    _eigh_jvp,
    _eigh_vjp,
    taylor=series.FROM_JVP,
    n_operands=1,
    param_names=("UPLO",),
    cases=(
        Case("lower", ((4, 4),), call_with(UPLO="L"), "spd"),
        Case("upper", ((3, 3),), call_with(UPLO="U"), "spd"),
        Case("stacked", ((2, 3, 3),), call_with(), "spd"),
    ),
)


def _eigvalsh_vectors(a, UPLO):  # noqa: N803
    return eigh_factors(eigh(a, UPLO=UPLO), a)[1]


def _eigvalsh_jvp(primals, tangents, out, UPLO="L"):  # noqa: N803
    """``dw_k = v_k^T dA v_k`` (no eigenvalue gaps: exact for repeated values too)."""
    (a,), (t,) = primals, tangents
    v = _eigvalsh_vectors(a, UPLO)
    moved = matmul(symmetric_from_triangle(t, UPLO == "L"), v)
    return reductions.reduce_sum(ew.multiply(v, moved), axis=-2)


def _eigvalsh_vjp(g, primals, out, wanted, UPLO="L"):  # noqa: N803
    """``A_bar = V diag(w_bar) V^T``, folded onto the triangle read."""
    (a,) = primals
    v = _eigvalsh_vectors(a, UPLO)
    scaled = ew.multiply(v, shapes.reshape(g, shape_of(g)[:-1] + (1, shape_of(g)[-1])))
    return [symmetric_from_triangle_transpose(matmul(scaled, swap_last(v)), UPLO == "L")]


eigvalsh = ParametrizedPrimitive(
    "eigvalsh",
    lambda a, UPLO="L": np.linalg.eigvalsh(a, UPLO=UPLO),
    _eigvalsh_jvp,
    _eigvalsh_vjp,
    taylor=series.FROM_JVP,
    n_operands=1,
    param_names=("UPLO",),
    cases=(
        Case("lower", ((4, 4),), call_with(UPLO="L"), "spd"),
        Case("upper", ((3, 3),), call_with(UPLO="U"), "spd"),
        Case("stacked", ((2, 3, 3),), call_with(), "spd"),
    ),
)

# ----------------------------------------------------------------------------------------------
# SVD: Townsend, "Differentiating the singular value decomposition" (2016)
# ----------------------------------------------------------------------------------------------


def _svd_impl(a, full_matrices=False, hermitian=False):
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices, hermitian=hermitian)
    return pack((u, s, vh), (2, 1, 2))


def svd_factors(packed, a, full_matrices=False):
    """``(U, S, Vh)`` from :data:`svd`'s packed output."""
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    u_cols, v_rows = (m, n) if full_matrices else (k, k)
    return unpack(packed, ((m, u_cols), (k,), (v_rows, n)))


def _thin(u, s, vh):
    """The thin factors ``U (m, k)``, ``S``, ``V (n, k)`` and the complements (or ``None``)."""
    k = shape_of(s)[-1]
    u_thin = indexing.getitem(u, index=(Ellipsis, slice(0, k)))
    v_full = swap_last(vh)
    v_thin = indexing.getitem(v_full, index=(Ellipsis, slice(0, k)))
    u_perp = None if shape_of(u)[-1] == k else indexing.getitem(u, index=(Ellipsis, slice(k, None)))
    v_perp = None if shape_of(vh)[-2] == k else indexing.getitem(
        v_full, index=(Ellipsis, slice(k, None)))
    return u_thin, v_thin, u_perp, v_perp


def _reciprocal_values(s):
    """``1 / s`` for the terms that leave the span of the thin factors (nan at s = 0)."""
    if np.any(primal_value(s) == 0):
        _tie_warning("svd")
    return ew.reciprocal(s)


def _row(v):
    """``(..., k)`` as ``(..., 1, k)``: scales columns when multiplied."""
    shape = shape_of(v)
    return shapes.reshape(v, shape[:-1] + (1, shape[-1]))


def _svd_jvp(primals, tangents, out, full_matrices=False, hermitian=False):
    """Townsend (2016), eqs. for ``dU``, ``dS``, ``dV`` with ``F_ij = 1/(s_j^2 - s_i^2)``:
    ``dP = U^T dA V``, ``dS = diag(dP)``, ``dU = U (F o (dP S + S dP^T)) + (I - U U^T) dA V
    S^{-1}``, ``dV = V (F o (S dP + dP^T S)) + (I - V V^T) dA^T U S^{-1}``."""
    (a,), (t,) = primals, tangents
    u_full, s, vh_full = svd_factors(out, a, full_matrices)
    u, v, u_perp, v_perp = _thin(u_full, s, vh_full)
    m, n = shape_of(a)[-2:]
    dp = matmul(swap_last(u), matmul(t, v))
    gaps = _inverse_gaps(s, True, "svd")
    s_row = _row(s)
    dp_s = ew.multiply(dp, s_row)  # dP S
    s_dp = swap_last(ew.multiply(swap_last(dp), s_row))  # S dP
    du = matmul(u, ew.multiply(gaps, ew.add(dp_s, swap_last(dp_s))))
    dv = matmul(v, ew.multiply(gaps, ew.add(s_dp, swap_last(s_dp))))
    if m > n:
        leaving = ew.subtract(matmul(t, v), matmul(u, dp))  # (I - U U^T) dA V
        du = ew.add(du, ew.multiply(leaving, _row(_reciprocal_values(s))))
    if n > m:
        leaving = ew.subtract(matmul(swap_last(t), u), matmul(v, swap_last(dp)))
        dv = ew.add(dv, ew.multiply(leaving, _row(_reciprocal_values(s))))
    if u_perp is not None:
        du = shapes.concatenate(du, _complement_tangent(u, du, u_perp), axis=ndim_of(du) - 1)
    if v_perp is not None:
        dv = shapes.concatenate(dv, _complement_tangent(v, dv, v_perp), axis=ndim_of(dv) - 1)
    return pack((du, diagonal(dp), swap_last(dv)), (2, 1, 2))


def _svd_vjp(g, primals, out, wanted, full_matrices=False, hermitian=False):
    """Townsend (2016): ``A_bar = U [(F o (U^T U_bar - U_bar^T U)) S + diag(S_bar) + S (F o (V^T
    V_bar - V_bar^T V))] V^T + (I - U U^T) U_bar S^{-1} V^T + U S^{-1} V_bar^T (I - V V^T)``."""
    (a,) = primals
    u_full, s, vh_full = svd_factors(out, a, full_matrices)
    u, v, u_perp, v_perp = _thin(u_full, s, vh_full)
    u_bar_full, s_bar, vh_bar_full = svd_factors(g, a, full_matrices)
    u_bar, v_bar, u_perp_bar, v_perp_bar = _thin(u_bar_full, s_bar, vh_bar_full)
    if u_perp is not None and not _is_zero(u_perp_bar):
        u_bar = _complement_cotangent(u_bar, u_perp_bar, u, u_perp)
    if v_perp is not None and not _is_zero(v_perp_bar):
        v_bar = _complement_cotangent(v_bar, v_perp_bar, v, v_perp)
    m, n = shape_of(a)[-2:]
    middle = diagonal_matrix(s_bar)
    s_row = _row(s)
    if not _is_zero(u_bar):
        gaps = _inverse_gaps(s, True, "svd")
        rotated = matmul(swap_last(u), u_bar)
        skew = ew.multiply(gaps, ew.subtract(rotated, swap_last(rotated)))
        middle = ew.add(middle, ew.multiply(skew, s_row))  # (...) S
    if not _is_zero(v_bar):
        gaps = _inverse_gaps(s, True, "svd")
        rotated = matmul(swap_last(v), v_bar)
        skew = ew.multiply(gaps, ew.subtract(rotated, swap_last(rotated)))
        middle = ew.add(middle, swap_last(ew.multiply(swap_last(skew), s_row)))  # S (...)
    a_bar = matmul(u, matmul(middle, swap_last(v)))
    if m > n and not _is_zero(u_bar):
        leaving = ew.subtract(u_bar, matmul(u, matmul(swap_last(u), u_bar)))
        scaled = ew.multiply(leaving, _row(_reciprocal_values(s)))
        a_bar = ew.add(a_bar, matmul(scaled, swap_last(v)))
    if n > m and not _is_zero(v_bar):
        leaving = ew.subtract(v_bar, matmul(v, matmul(swap_last(v), v_bar)))
        scaled = ew.multiply(leaving, _row(_reciprocal_values(s)))
        a_bar = ew.add(a_bar, matmul(u, swap_last(scaled)))
    return [a_bar]


def _complement_projectors(fn, a):
    """Test call of a full SVD: the thin factors, and each complement through its projector
    ``U_perp U_perp^T`` (a basis of the complement is NumPy's free choice)."""
    u_full, s, vh_full = svd_factors(fn(a, full_matrices=True), a, True)
    u, v, u_perp, v_perp = _thin(u_full, s, vh_full)
    parts = [u, s, v]
    for perp in (u_perp, v_perp):
        if perp is not None:
            parts.append(matmul(perp, swap_last(perp)))
    return pack(parts, [2, 1, 2] + [2] * (len(parts) - 3))


svd = ParametrizedPrimitive(
    "svd",
    _svd_impl,
    _svd_jvp,
    _svd_vjp,
    taylor=series.FROM_JVP,
    n_operands=1,
    param_names=("full_matrices", "hermitian"),
    cases=(
        Case("square", ((3, 3),), call_with()),
        Case("tall", ((4, 3),), call_with()),
        Case("wide", ((2, 4),), call_with()),
        Case("stacked", ((2, 4, 3),), call_with()),
        Case("full-tall", ((4, 2),), _complement_projectors),
        Case("full-wide", ((2, 4),), _complement_projectors),
        Case("full-square", ((3, 3),), call_with(full_matrices=True)),
    ),
)


def _svd_vectors(a):
    u_full, s, vh = svd_factors(svd(a), a)
    return u_full, vh


def _svdvals_jvp(primals, tangents, out):
    """``ds_k = u_k^T dA v_k`` (Townsend 2016; no gaps: exact for repeated values)."""
    (a,), (t,) = primals, tangents
    u, vh = _svd_vectors(a)
    return reductions.reduce_sum(ew.multiply(u, matmul(t, swap_last(vh))), axis=-2)


def _svdvals_vjp(g, primals, out, wanted):
    """``A_bar = U diag(s_bar) V^T``."""
    u, vh = _svd_vectors(primals[0])
    return [matmul(ew.multiply(u, _row(g)), vh)]


svdvals = ParametrizedPrimitive(
    "svdvals",
    lambda a: np.linalg.svd(a, compute_uv=False),
    _svdvals_jvp,
    _svdvals_vjp,
    taylor=series.FROM_JVP,
    n_operands=1,
    param_names=(),
    cases=(
        Case("tall", ((4, 3),), call_with()),
        Case("wide", ((2, 4),), call_with()),
        Case("stacked", ((2, 3, 3),), call_with()),
    ),
)

# ----------------------------------------------------------------------------------------------
# QR: Walter & Lehmann (2018), sec. 3.3, forward; its transpose is the reverse rule of Roberts &
# Roberts (2020) / Liao et al. (2019).  Wide matrices split as A = [X Y] = Q [U V].
# ----------------------------------------------------------------------------------------------


def _qr_impl(a, mode="reduced"):
    q, r = np.linalg.qr(a, mode=mode)
    return pack((q, r), (2, 2))


def qr_factors(packed, a, mode="reduced"):
    """``(Q, R)`` from :data:`qr`'s packed output."""
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    if mode == "complete":
        return unpack(packed, ((m, m), (m, n)))
    return unpack(packed, ((m, k), (k, n)))


def _times_inverse_upper(x, r):
    """``x R^{-1}`` for an upper-triangular ``R`` (one triangular solve)."""
    return swap_last(solve_triangular(swap_last(r), swap_last(x), lower=True))


def _times_inverse_upper_transpose(x, r):
    """``x R^{-T}``."""
    return swap_last(solve_triangular(r, swap_last(x), lower=False))


def _tall_qr_jvp(q, r, t):
    """``C = Q^T dA R^{-1}``, ``Omega = tril(C, -1) - tril(C, -1)^T`` (skew: ``Q^T dQ``),
    ``dR = (C - Omega) R``, ``dQ = Q Omega + dA R^{-1} - Q C``."""
    t_r = _times_inverse_upper(t, r)
    c = matmul(swap_last(q), t_r)
    lower = triangle(c, True, -1)
    omega = ew.subtract(lower, swap_last(lower))
    dr = matmul(ew.subtract(c, omega), r)
    dq = ew.add(matmul(q, ew.subtract(omega, c)), t_r)
    return dq, dr


def _tall_qr_vjp(q, r, q_bar, r_bar):
    """The transpose of :func:`_tall_qr_jvp`: with ``M = R_bar R^T - Q^T Q_bar``,
    ``A_bar = (Q_bar + Q (triu(M) + tril(M^T, -1))) R^{-T}``."""
    m = ew.subtract(matmul(r_bar, swap_last(r)), matmul(swap_last(q), q_bar))
    copied = ew.add(triangle(m, False), triangle(swap_last(m), True, -1))
    return _times_inverse_upper_transpose(ew.add(q_bar, matmul(q, copied)), r)


def _columns(x, start, stop=None):
    return indexing.getitem(x, index=(Ellipsis, slice(start, stop)))


def _rows(x, start, stop=None):
    return indexing.getitem(x, index=(Ellipsis, slice(start, stop), slice(None)))


def _qr_jvp(primals, tangents, out, mode="reduced"):
    (a,), (t,) = primals, tangents
    q, r = qr_factors(out, a, mode)
    m, n = shape_of(a)[-2:]
    last = ndim_of(t) - 1
    if m < n:  # A = [X Y]: X = Q U is square, V = Q^T Y
        u = _columns(r, 0, m)
        dq, du = _tall_qr_jvp(q, u, _columns(t, 0, m))
        dv = ew.add(matmul(swap_last(dq), _columns(a, m)), matmul(swap_last(q), _columns(t, m)))
        return pack((dq, shapes.concatenate(du, dv, axis=last)), (2, 2))
    if mode == "complete" and m > n:
        q1, q2, r1 = _columns(q, 0, n), _columns(q, n), _rows(r, 0, n)
        dq1, dr1 = _tall_qr_jvp(q1, r1, t)
        dq = shapes.concatenate(dq1, _complement_tangent(q1, dq1, q2), axis=last)
        zero_rows = np.zeros(shape_of(dr1)[:-2] + (m - n, n), dtype=dtype_of(dr1))
        return pack((dq, shapes.concatenate(dr1, zero_rows, axis=last - 1)), (2, 2))
    return pack(_tall_qr_jvp(q, r, t), (2, 2))


def _qr_vjp(g, primals, out, wanted, mode="reduced"):
    (a,) = primals
    q, r = qr_factors(out, a, mode)
    q_bar, r_bar = qr_factors(g, a, mode)
    m, n = shape_of(a)[-2:]
    if m < n:
        u, v_bar = _columns(r, 0, m), _columns(r_bar, m)
        y_bar = matmul(q, v_bar)
        q_bar = ew.add(q_bar, matmul(_columns(a, m), swap_last(v_bar)))
        x_bar = _tall_qr_vjp(q, u, q_bar, _columns(r_bar, 0, m))
        return [shapes.concatenate(x_bar, y_bar, axis=ndim_of(x_bar) - 1)]
    if mode == "complete" and m > n:
        q1, q2 = _columns(q, 0, n), _columns(q, n)
        q1_bar = _complement_cotangent(_columns(q_bar, 0, n), _columns(q_bar, n), q1, q2)
        return [_tall_qr_vjp(q1, _rows(r, 0, n), q1_bar, _rows(r_bar, 0, n))]
    return [_tall_qr_vjp(q, r, q_bar, r_bar)]


def _complete_qr_projector(fn, a):
    """Test call of a complete QR of a tall matrix: the thin factors, the complement through
    its projector."""
    n = shape_of(a)[-1]
    q, r = qr_factors(fn(a, mode="complete"), a, "complete")
    q2 = _columns(q, n)
    return pack((_columns(q, 0, n), r, matmul(q2, swap_last(q2))), (2, 2, 2))


qr = ParametrizedPrimitive(
    "qr",
    _qr_impl,
    _qr_jvp,
    _qr_vjp,
    taylor=series.FROM_JVP,
    n_operands=1,
    param_names=("mode",),
    cases=(
        Case("square", ((3, 3),), call_with()),
        Case("tall", ((5, 3),), call_with()),
        Case("wide", ((2, 4),), call_with()),
        Case("stacked", ((2, 4, 3),), call_with()),
        Case("complete-tall", ((4, 2),), _complete_qr_projector),
        Case("complete-wide", ((2, 3),), call_with(mode="complete")),
    ),
)
