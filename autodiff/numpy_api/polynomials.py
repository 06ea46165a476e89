"""Polynomial fits on traced values: ``np.vander`` and ``np.polyfit``.

``polyfit`` follows NumPy's steps (``numpy/lib/_polynomial_impl.py``): the Vandermonde matrix
``V`` of ``x`` (optionally rows weighted by ``w``), its columns scaled to unit norm, the least
squares problem ``min ||V' c' - y||`` solved by ``np.linalg.lstsq`` and the scaling undone::

    V_kj  = x_k ** (deg - j)                  (running products, NumPy's bits)
    s_j   = sqrt(sum_k (w_k V_kj) ** 2)
    c'    = lstsq(w V / s, w y),   c = c' / s

Every step is a primitive, and the least squares step is the ``lstsq`` primitive (its
derivative, for full column rank, differentiates the normal equations: Golub & Pereyra 1973;
rank-deficient fits go through ``pinv``), so ``c`` is differentiable in ``x``, ``y`` and ``w``
at any order.  ``full=True`` (residuals, rank, singular values, ``rcond``) and ``cov=True`` /
``cov="unscaled"`` (``(V'^T V')^{-1} / (s s^T)``, times ``residuals / (n - deg - 1)``) are
NumPy's, and differentiable too.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..rules import arithmetic as rules_arithmetic
from ..rules import elementwise as ew
from ..rules import indexing
from ..rules import linalg as rules_linalg
from ..rules import reductions
from ..rules import shapes as rules_shape
from ..rules.primitive import (
    Case,
    Traced,
    call_with,
    dtype_of,
    implements,
    ndim_of,
    shape_of,
)
from .arithmetic import astype
from .linalg import lstsq
from .products import dot, outer

__all__ = ["vander", "polyfit"]


def _as_array(value):
    return value if isinstance(value, Traced) else np.asarray(value)


@implements(np.vander, cases=(
    Case("square", ((4,),), call_with()),
    Case("N=3-increasing", ((5,),), call_with(N=3, increasing=True)),
))
def vander(x, N=None, increasing=False):
    """Columns ``1, x, x*x, (x*x)*x, ...`` (reversed unless ``increasing``): NumPy's running
    products, so the same bits; the dtype is ``promote_types(x.dtype, int)`` (float64 for
    float32 ``x``), as NumPy's."""
    x = _as_array(x)
    if ndim_of(x) != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n = shape_of(x)[0]
    if N is None:
        N = n
    dtype = np.promote_types(dtype_of(x), int)
    if dtype.kind != "f":
        raise TypeError(f"np.vander of a traced value needs a floating dtype, got {dtype}")
    if isinstance(x, Traced) and dtype_of(x) != dtype:
        x = astype(x, dtype, "vander")
    columns = [np.ones((n, 1), dtype=dtype)] if N > 0 else [np.empty((n, 0), dtype=dtype)]
    if N > 1:
        repeated = rules_shape.broadcast_to(rules_shape.reshape(x, shape=(n, 1)),
                                            shape=(n, N - 1))
        columns.append(rules_arithmetic.cumprod(repeated, axis=1))
    v = rules_shape.concatenate(*columns, axis=1) if len(columns) > 1 else columns[0]
    return v if increasing else indexing.getitem(v, index=(slice(None), slice(None, None, -1)))


def _column(v):
    """``v[:, np.newaxis]``."""
    return rules_shape.reshape(v, shape=(shape_of(v)[0], 1))


def _apart(x):
    """Test abscissae ``0.5 k + 0.2 tanh(x_k)``: distinct, within ``[-0.2, 0.5 n]``, whatever the
    drawn ``x`` (scaled by 1e3, or holding an inf), so the fit stays well conditioned.  (The
    ``lstsq`` derivative solves the normal equations: its rounding grows as ``cond(V)^2 eps``,
    and the differential tests compare the two modes to 1e-12.)"""
    return 0.5 * np.arange(shape_of(x)[0]) + 0.2 * np.tanh(x)


def _bounded(w):
    """Test weights in ``[0.5, 1.5]``."""
    return 1.0 + 0.5 * np.tanh(w)


@implements(np.polyfit, cases=(
    Case("line", ((6,), (6,)), lambda fn, x, y: fn(_apart(x), y, 1)),
    Case("cubic-weights", ((7,), (7,), (7,)),
         lambda fn, x, y, w: fn(_apart(x), y, 3, w=_bounded(w))),
    Case("columns", ((5,), (5, 2)), lambda fn, x, y: fn(_apart(x), y, 2)),
    Case("full", ((6,), (6,)), lambda fn, x, y: fn(_apart(x), y, 2, full=True)[1]
         + fn(_apart(x), y, 2, full=True)[3][0]),
    Case("cov", ((6,), (6,)), lambda fn, x, y: fn(_apart(x), y, 2, cov=True)[1]),
    Case("cov-unscaled-columns", ((5,), (5, 2)),
         lambda fn, x, y: fn(_apart(x), y, 1, cov="unscaled")[1]),
    Case("constant-x", ((5,),), lambda fn, y: fn(np.arange(5.0), y, 2)),
))
def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """Least squares polynomial fit, highest power first, NumPy's value and warnings.

    A fit whose Vandermonde matrix loses rank warns ``RankWarning`` (as NumPy) and goes
    through the pseudo-inverse, whose derivative holds where the rank stays constant.
    """
    order = int(deg) + 1
    x = ew.add(x, 0.0) if not isinstance(x, Traced) else x  # integers become float64
    y = ew.add(y, 0.0) if not isinstance(y, Traced) else y
    if deg < 0:
        raise ValueError("expected deg >= 0")
    if ndim_of(x) != 1:
        raise TypeError("expected 1D vector for x")
    if shape_of(x)[0] == 0:
        raise TypeError("expected non-empty vector for x")
    if ndim_of(y) < 1 or ndim_of(y) > 2:
        raise TypeError("expected 1D or 2D array for y")
    n = shape_of(x)[0]
    if n != shape_of(y)[0]:
        raise TypeError("expected x and y to have same length")
    if rcond is None:
        rcond = n * np.finfo(dtype_of(x)).eps
    lhs = vander(x, order)
    rhs = y
    if w is not None:
        w = ew.add(w, 0.0) if not isinstance(w, Traced) else w
        if ndim_of(w) != 1:
            raise TypeError("expected a 1-d array for weights")
        if shape_of(w)[0] != shape_of(y)[0]:
            raise TypeError("expected w and y to have the same length")
        lhs = ew.multiply(lhs, _column(w))
        rhs = ew.multiply(rhs, _column(w) if ndim_of(rhs) == 2 else w)
    scale = ew.sqrt(reductions.reduce_sum(ew.multiply(lhs, lhs), axis=0))
    lhs = ew.divide(lhs, scale)
    c, resids, rank, s = lstsq(lhs, rhs, rcond)
    c = ew.divide(c, _column(scale)) if ndim_of(c) == 2 else ew.divide(c, scale)
    if rank != order and not full:
        warnings.warn("Polyfit may be poorly conditioned", np.exceptions.RankWarning,
                      stacklevel=2)
    if full:
        return c, resids, rank, s, rcond
    if not cov:
        return c
    gram = dot(rules_shape.transpose(lhs, (1, 0)), lhs)
    vbase = ew.divide(rules_linalg.inv(gram), outer(scale, scale))
    if cov == "unscaled":
        fac = 1
    else:
        if n <= order:
            raise ValueError("the number of data points must exceed order to scale the "
                             "covariance matrix")
        fac = ew.divide(resids, n - order)
    if ndim_of(y) == 1:
        return c, ew.multiply(vbase, fac)
    return c, ew.multiply(rules_shape.reshape(vbase, shape=shape_of(vbase) + (1,)), fac)
