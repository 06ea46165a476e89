"""NumPy's arithmetic on traced values: running products, differences, convolution,
interpolation, polynomials, and the casts and remainders NumPy spells as functions.

Each entry point follows NumPy's own steps with primitives, so the value is NumPy's and every
derivative is exact (of any order).  Argument errors are NumPy's: where an entry point's checks
are not part of its computation, NumPy itself is first run on the primal values.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from ..rules import arithmetic as rules_arithmetic
from ..rules import elementwise as ew
from ..rules import indexing, shapes
from ..rules.primitive import (
    Case,
    Traced,
    call_with,
    data_value,
    dtype_of,
    implements,
    ndim_of,
    on_data,
    primal_value,
    shape_of,
)
from .products import matmul
from .protocol import refuse_keywords
from .shapes import ravel

__all__ = [
    "astype", "cumprod", "diff", "ediff1d", "gradient", "convolve", "correlate", "interp",
    "polyval", "nan_to_num", "real", "float_power", "divmod_",
]

_NO_VALUE = np._NoValue


def _primals(values):
    return [primal_value(v) for v in values]


def astype(x, dtype, function="astype"):
    """``x`` cast to a floating ``dtype`` (its derivative cast alike); other dtypes are refused:
    an integer or complex result has no derivative here."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        if isinstance(x, Traced) and x._staged:  # ad.jit's data (no derivative): NumPy's cast
            return on_data(_cast, x, dtype)
        raise TypeError(
            f"{function}(dtype={dtype}) of a traced value is not supported: only floating dtypes "
            "carry a derivative (take ad.stop_gradient(x) first for an integer or bool result)"
        )
    if isinstance(x, Traced) and dtype_of(x) == dtype:
        return x
    return rules_arithmetic.astype(x, dtype=dtype)


def _cast(x, dtype):
    """NumPy's cast of a plain value (an array stays an array, a NumPy scalar a scalar)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return x.astype(dtype)
    return np.asarray(x).astype(dtype)[()]


def _along(axis, ndim, index):
    """An index selecting ``index`` along ``axis`` of an ``ndim``-dimensional array."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def _slice(x, axis, start=None, stop=None, step=None):
    return indexing.getitem(x, index=_along(axis, ndim_of(x), slice(start, stop, step)))


# ----------------------------------------------------------------------------------------------
# running products and differences
# ----------------------------------------------------------------------------------------------


@implements(np.cumprod, cases=(
    Case("flat", ((3, 4),), call_with()),
    Case("axis=1-zeros", ((3, 4),), call_with(axis=1), "zeros"),
))
def cumprod(a, axis=None, dtype=None, out=None):
    """Running product along ``axis`` (flattened when None); exact where factors are zero."""
    refuse_keywords("cumprod", out=(out, None))
    if dtype is not None:
        a = astype(a, dtype, "cumprod")
    if axis is None:
        return rules_arithmetic.cumprod(ravel(a), axis=0)
    ndim = ndim_of(a)  # NumPy's range check; a 0-d array counts as 1-d
    axis = normalize_axis_index(int(axis), max(ndim, 1))
    return rules_arithmetic.cumprod(a if ndim else ravel(a), axis=axis)


def _edge_block(value, like, axis):
    """``prepend``/``append`` of ``np.diff``: a scalar is broadcast to one slice along ``axis``."""
    if ndim_of(value) == ndim_of(like):
        return value
    shape = list(shape_of(like))
    shape[axis] = 1
    if isinstance(value, Traced):
        return shapes.broadcast_to(value, shape=tuple(shape))
    return np.broadcast_to(value, tuple(shape))


@implements(np.diff, cases=(
    Case("vector", ((5,),), call_with()),
    Case("n=2-axis=0", ((4, 3),), call_with(n=2, axis=0)),
    Case("prepend-append", ((3, 4), (3, 1)), lambda fn, x, p: fn(x, prepend=p, append=0.5)),
))
def diff(a, n=1, axis=-1, prepend=_NO_VALUE, append=_NO_VALUE):
    """The ``n``-th forward difference along ``axis``: ``a[1:] - a[:-1]``, ``n`` times."""
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    ndim = ndim_of(a)
    if ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = normalize_axis_index(int(axis), ndim)
    parts = [a]
    if prepend is not _NO_VALUE:
        parts.insert(0, _edge_block(prepend, a, axis))
    if append is not _NO_VALUE:
        parts.append(_edge_block(append, a, axis))
    if len(parts) > 1:
        a = shapes.concatenate(*parts, axis=axis)
    for _ in range(n):
        a = ew.subtract(_slice(a, axis, 1), _slice(a, axis, None, -1))
    return a


@implements(np.ediff1d, cases=(
    Case("matrix", ((3, 2),), call_with()),
    Case("ends", ((4,), (2,)), lambda fn, x, e: fn(x, to_end=e, to_begin=-1.0)),
))
def ediff1d(ary, to_end=None, to_begin=None):
    """Differences of the flattened array, with ``to_begin`` and ``to_end`` attached.

    As in NumPy the result has ``ary``'s dtype: the ends are cast to it (a float64 ``to_end``
    of a float32 array is rounded to float32), and must cast under the ``same_kind`` rule.
    """
    flat = ravel(ary)
    dtype = dtype_of(flat)
    parts = [ew.subtract(_slice(flat, 0, 1), _slice(flat, 0, None, -1))]
    if to_begin is not None:
        parts.insert(0, _end_in(to_begin, dtype, "to_begin"))
    if to_end is not None:
        parts.append(_end_in(to_end, dtype, "to_end"))
    return parts[0] if len(parts) == 1 else shapes.concatenate(*parts, axis=0)


def _end_in(value, dtype, name):
    """``to_begin`` / ``to_end`` of ``ediff1d``, flattened and cast to ``ary``'s ``dtype``."""
    if not np.can_cast(np.asanyarray(primal_value(value)).dtype, dtype, casting="same_kind"):
        raise TypeError(f"dtype of `{name}` must be compatible with input `ary` under the "
                        "`same_kind` rule.")
    value = ravel(value)
    return value if dtype_of(value) == dtype else astype(value, dtype, "ediff1d")


# ----------------------------------------------------------------------------------------------
# np.gradient: second-order central differences, first- or second-order edges
# ----------------------------------------------------------------------------------------------


def _along_axis(coefficient, axis, ndim):
    """A 1-d coefficient array shaped to broadcast along ``axis``."""
    if np.ndim(primal_value(coefficient)) == 0:
        return coefficient
    shape = [1] * ndim
    shape[axis] = -1
    if isinstance(coefficient, Traced):
        return shapes.reshape(coefficient, shape=tuple(
            shape_of(coefficient)[0] if s == -1 else 1 for s in shape
        ))
    return np.reshape(coefficient, shape)


def _combination(terms, axis, ndim):
    """``sum_k c_k f_k`` with each coefficient broadcast along ``axis``."""
    total = None
    for c, f in terms:
        term = ew.multiply(_along_axis(c, axis, ndim), f)
        total = term if total is None else ew.add(total, term)
    return total


def _gradient_along(f, spacing, axis, edge_order):
    """NumPy's ``np.gradient`` along one axis (uniform ``spacing`` or coordinates)."""
    ndim = ndim_of(f)
    n = shape_of(f)[axis]

    def at(start, stop=None):
        return _slice(f, axis, start, stop)

    uniform = np.ndim(primal_value(spacing)) == 0
    if uniform:
        h = spacing
        interior = ew.divide(ew.subtract(at(2, None), at(None, -2)), ew.multiply(2.0, h))
        if edge_order == 1:
            first = ew.divide(ew.subtract(at(1, 2), at(0, 1)), h)
            last = ew.divide(ew.subtract(at(n - 1, n), at(n - 2, n - 1)), h)
        else:  # NumPy's coefficients -1.5/h, 2/h, -0.5/h (the same roundings)
            first = _combination(((ew.divide(-1.5, h), at(0, 1)), (ew.divide(2.0, h), at(1, 2)),
                                  (ew.divide(-0.5, h), at(2, 3))), axis, ndim)
            last = _combination(((ew.divide(0.5, h), at(n - 3, n - 2)),
                                 (ew.divide(-2.0, h), at(n - 2, n - 1)),
                                 (ew.divide(1.5, h), at(n - 1, n))), axis, ndim)
        return shapes.concatenate(first, interior, last, axis=axis)
    dx = diff(spacing)
    dx1 = indexing.getitem(dx, index=slice(None, -1))
    dx2 = indexing.getitem(dx, index=slice(1, None))
    total = ew.add(dx1, dx2)
    a = ew.negative(ew.divide(dx2, ew.multiply(dx1, total)))
    b = ew.divide(ew.subtract(dx2, dx1), ew.multiply(dx1, dx2))
    c = ew.divide(dx1, ew.multiply(dx2, total))
    interior = _combination(((a, at(None, -2)), (b, at(1, -1)), (c, at(2, None))), axis, ndim)

    def step(k):
        return indexing.getitem(dx, index=slice(k, k + 1) if k != -1 else slice(-1, None))

    if edge_order == 1:
        first = ew.divide(ew.subtract(at(1, 2), at(0, 1)), _along_axis(step(0), axis, ndim))
        last = ew.divide(
            ew.subtract(at(n - 1, n), at(n - 2, n - 1)), _along_axis(step(-1), axis, ndim)
        )
    else:
        h1, h2 = step(0), step(1)
        both = ew.add(h1, h2)
        first = _combination((
            (ew.negative(ew.divide(ew.add(ew.multiply(2.0, h1), h2), ew.multiply(h1, both))),
             at(0, 1)),
            (ew.divide(both, ew.multiply(h1, h2)), at(1, 2)),
            (ew.negative(ew.divide(h1, ew.multiply(h2, both))), at(2, 3)),
        ), axis, ndim)
        h1, h2 = indexing.getitem(dx, index=slice(-2, -1)), step(-1)
        both = ew.add(h1, h2)
        last = _combination((
            (ew.divide(h2, ew.multiply(h1, both)), at(n - 3, n - 2)),
            (ew.negative(ew.divide(both, ew.multiply(h1, h2))), at(n - 2, n - 1)),
            (ew.divide(ew.add(ew.multiply(2.0, h2), h1), ew.multiply(h2, both)), at(n - 1, n)),
        ), axis, ndim)
    return shapes.concatenate(first, interior, last, axis=axis)


@implements(np.gradient, cases=(
    Case("vector", ((6,),), call_with()),
    Case("spacing-edge2", ((5,),), lambda fn, f: fn(f, 0.5, edge_order=2)),
    Case("coordinates-axis0", ((5, 3),), lambda fn, f: fn(f, [0.0, 0.4, 1.0, 1.7, 2.0],
                                                          axis=0)),
    Case("coordinates-edge2", ((5,),), lambda fn, f: fn(f, [0.0, 0.4, 1.0, 1.7, 2.0],
                                                        edge_order=2)),
    Case("matrix-sum", ((4, 3),), lambda fn, f: fn(f)[0] + 2.0 * fn(f)[1]),
))
def gradient(f, *varargs, axis=None, edge_order=1):
    """NumPy's ``np.gradient``: a tuple of arrays for several axes, one array for one.

    NumPy's steps: integer coordinates become float64; constant coordinates with equal steps
    are a uniform spacing (their first step); each result is computed in the promoted dtype and
    stored in ``f``'s floating dtype (float64 for integer ``f``), so float32 ``f`` gives float32
    even with float64 coordinates.  Traced coordinates keep the general formula, whose
    derivative in every coordinate is the derivative of the differentiated function.
    """
    np.gradient(primal_value(f), *_primals(varargs), axis=axis, edge_order=edge_order)
    ndim = ndim_of(f)
    axes = tuple(range(ndim)) if axis is None else tuple(
        normalize_axis_index(int(a), ndim) for a in (axis if np.ndim(axis) else (axis,))
    )
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(primal_value(varargs[0])) == 0:
        spacings = [varargs[0]] * len(axes)
    else:
        spacings = list(varargs)
    spacings = [_constant_spacing(s) for s in spacings]
    if not isinstance(f, Traced):  # constant values, traced coordinates; integers: float64
        f = np.asanyarray(f)
        f = f if np.issubdtype(f.dtype, np.inexact) else f.astype(np.float64)
    dtype = dtype_of(f)
    results = tuple(
        _stored_in(_gradient_along(f, s, a, edge_order), dtype) for s, a in zip(spacings, axes)
    )
    return results[0] if len(results) == 1 else results


def _constant_spacing(spacing):
    """NumPy's spacing of constant 1-d coordinates: float64 when integer, and the first step
    when every step is equal; traced coordinates and scalars are left as they are."""
    if isinstance(spacing, Traced) or np.ndim(spacing) == 0:
        return spacing
    spacing = np.asanyarray(spacing)
    if np.issubdtype(spacing.dtype, np.integer):
        spacing = spacing.astype(np.float64)
    steps = np.diff(spacing)
    return steps[0] if (steps == steps[0]).all() else spacing


def _stored_in(result, dtype):
    """``result`` in ``dtype``, as NumPy's ``np.gradient`` stores it into its output array."""
    return result if dtype_of(result) == dtype else astype(result, dtype, "gradient")


# ----------------------------------------------------------------------------------------------
# convolution and correlation of 1-d sequences
# ----------------------------------------------------------------------------------------------


def _full_convolution(a, v):
    """``out[k] = sum_j a[j] v[k - j]`` as one gather of sliding windows and one product."""
    n, m = shape_of(a)[0], shape_of(v)[0]
    zero = np.zeros(m - 1, dtype=np.result_type(dtype_of(a), dtype_of(v)))
    padded = shapes.concatenate(zero, a, zero, axis=0) if m > 1 else a
    windows = indexing.getitem(padded, index=np.arange(n + m - 1)[:, None] + np.arange(m))
    return matmul(windows, indexing.getitem(v, index=slice(None, None, -1)))


def _mode_slice(full, n, m, mode, same_start):
    if mode == "full":
        return full
    if mode == "same":
        return indexing.getitem(full, index=slice(same_start, same_start + max(n, m)))
    return indexing.getitem(full, index=slice(min(n, m) - 1, max(n, m)))


def _check_1d(function, a, v, mode):
    getattr(np, function)(primal_value(a), primal_value(v), mode=mode)  # NumPy's own errors
    return ravel(a), ravel(v)


@implements(np.convolve, cases=(
    Case("full", ((5,), (3,)), call_with()),
    Case("same-long-kernel", ((3,), (4,)), call_with(mode="same")),
    Case("valid", ((6,), (3,)), call_with(mode="valid")),
))
def convolve(a, v, mode="full"):
    """Discrete linear convolution (NumPy's modes ``full``, ``same``, ``valid``)."""
    a, v = _check_1d("convolve", a, v, mode)
    n, m = shape_of(a)[0], shape_of(v)[0]
    return _mode_slice(_full_convolution(a, v), n, m, mode, (min(n, m) - 1) // 2)


@implements(np.correlate, cases=(
    Case("valid", ((5,), (3,)), call_with()),
    Case("same-long-kernel", ((2,), (5,)), call_with(mode="same")),
    Case("full", ((4,), (3,)), call_with(mode="full")),
))
def correlate(a, v, mode="valid"):
    """Cross-correlation ``c[k] = sum_n a[n + k] v[n]`` (real values), NumPy's modes."""
    a, v = _check_1d("correlate", a, v, mode)
    n, m = shape_of(a)[0], shape_of(v)[0]
    full = _full_convolution(a, indexing.getitem(v, index=slice(None, None, -1)))
    return _mode_slice(full, n, m, mode, (m - 1) // 2 if n >= m else n // 2)


# ----------------------------------------------------------------------------------------------
# interpolation and polynomials
# ----------------------------------------------------------------------------------------------


def _as_float64(value):
    if isinstance(value, Traced):
        return astype(value, np.float64, "interp")
    return np.asarray(value, dtype=np.float64)


def _periodic(x, xp, fp, period):
    """NumPy's periodic extension: ``x`` and ``xp`` reduced modulo the period, ``xp`` sorted
    and extended by one point at each end."""
    period = abs(period)
    x = rules_arithmetic.mod(x, period)
    xp = rules_arithmetic.mod(xp, period)
    order = np.argsort(_data_array(xp), kind="stable")  # (under ad.jit: recorded positions)
    xp = indexing.getitem(xp, index=order)
    fp = indexing.getitem(fp, index=order)
    xp = shapes.concatenate(
        ew.subtract(indexing.getitem(xp, index=slice(-1, None)), period), xp,
        ew.add(indexing.getitem(xp, index=slice(0, 1)), period), axis=0,
    )
    fp = shapes.concatenate(
        indexing.getitem(fp, index=slice(-1, None)), fp, indexing.getitem(fp, index=slice(0, 1)),
        axis=0,
    )
    return x, xp, fp


@implements(np.interp, cases=(
    Case("values-and-points", ((4,), (5,)),
         lambda fn, x, fp: fn(np.tanh(x) * 1.5 + 2.0, [0.0, 1.0, 2.5, 3.0, 4.5], fp)),
    Case("outside-left-right", ((5,), (3,)),
         lambda fn, x, fp: fn(x * 3.0, [-1.0, 0.5, 2.0], fp, left=-2.0, right=fp[0] * 2.0)),
    Case("period", ((4,), (3,)),
         lambda fn, x, fp: fn(x * 4.0 + 0.05, [0.3, 1.2, 2.2], fp, period=3.0)),
))
def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation, differentiable in ``x``, ``fp`` (and ``xp``).

    On each interval the value is NumPy's ``slope * (x - xp[j]) + fp[j]``; at a knot the
    derivative in ``x`` is the slope of the interval on its right (NumPy's interval), at the last
    knot the one on its left; outside ``[xp[0], xp[-1]]`` it is 0 (``left``/``right``).
    """
    x_value = primal_value(x)
    np.interp(
        x_value, primal_value(xp), primal_value(fp), _primal_or_none(left),
        _primal_or_none(right), period,
    )  # NumPy's own argument errors
    x, xp, fp = _as_float64(x), _as_float64(xp), _as_float64(fp)
    if period is not None:
        x, xp, fp = _periodic(x, xp, fp, period)
    xp_value = _data_array(xp)  # the interval search is a recorded step under ad.jit
    n = xp_value.shape[0]
    x_value = _data_array(x)
    if n == 1:
        y = shapes.broadcast_to(indexing.getitem(fp, index=0), shape=x_value.shape) if isinstance(
            fp, Traced) else np.broadcast_to(np.asarray(fp)[0], x_value.shape)
    else:
        j = np.clip(np.searchsorted(xp_value, x_value, side="right") - 1, 0, n - 2)
        anchor = np.where(x_value == xp_value[-1], n - 1, j)
        x0, x1 = indexing.getitem(xp, index=j), indexing.getitem(xp, index=j + 1)
        f0, f1 = indexing.getitem(fp, index=j), indexing.getitem(fp, index=j + 1)
        slope = ew.divide(ew.subtract(f1, f0), ew.subtract(x1, x0))
        y = ew.add(
            ew.multiply(slope, ew.subtract(x, indexing.getitem(xp, index=anchor))),
            indexing.getitem(fp, index=anchor),
        )
    below, above = x_value < xp_value[0], x_value > xp_value[-1]
    if np.any(below):
        y = indexing.where(below, indexing.getitem(fp, index=0) if left is None else left, y)
    if np.any(above):
        y = indexing.where(above, indexing.getitem(fp, index=-1) if right is None else right, y)
    return y


def _data_array(value):
    """The primal values as an array, or ad.jit's recorded value (NumPy on it is recorded)."""
    value = data_value(value)
    return value if isinstance(value, Traced) else np.asarray(value)


def _primal_or_none(value):
    return None if value is None else primal_value(value)


@implements(np.polyval, cases=(
    Case("vector", ((3,), (4,)), call_with()),
    Case("scalar-x", ((4,), ()), call_with()),
))
def polyval(p, x):
    """``p[0] x^(n-1) + ... + p[n-1]`` by Horner's rule, NumPy's own steps."""
    n = shape_of(p)[0]
    y = np.zeros(shape_of(x), dtype=np.result_type(dtype_of(p), dtype_of(x)))
    for k in range(n):
        y = ew.add(ew.multiply(y, x), indexing.getitem(p, index=k))
    return y


# ----------------------------------------------------------------------------------------------
# replacements, casts and the functions NumPy spells for real and complex values
# ----------------------------------------------------------------------------------------------


@implements(np.nan_to_num, cases=(
    Case("finite", ((3, 4),), call_with()),
    Case("replaced", ((4,),), lambda fn, x: fn(x + np.array([0.0, np.nan, np.inf, -np.inf]))),
))
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """Finite entries pass through (derivative 1); replaced ones are constants (derivative 0)."""
    if not copy:
        raise TypeError(
            "np.nan_to_num(copy=False) would write into a traced value in place; "
            "use the returned value (copy=True)"
        )
    value = data_value(x)  # under ad.jit: the mask and the fill are recorded, the branch guarded
    replaced = ~np.isfinite(value)
    if not np.any(replaced):
        return x
    filled = np.nan_to_num(value, copy=True, nan=nan, posinf=posinf, neginf=neginf)
    return indexing.where(replaced, filled, x)


@implements(np.real, cases=(Case("matrix", ((3, 4),), call_with()),))
def real(val):
    """The real part of a real value is the value (complex values never get this far)."""
    return val


@implements(np.float_power, cases=(
    Case("base", ((3,),), lambda fn, a: fn(a, 3.0), "positive"),
    Case("both", ((3,), (3,)), call_with(), "positive"),
))
def float_power(x1, x2):
    """``x1 ** x2`` computed in float64, NumPy's result dtype."""
    return ew.power(_as_float64(x1), _as_float64(x2))


@implements(np.divmod, cases=(
    Case("both", ((4,), (4,)), lambda fn, a, b: fn(a * 3.0, b)[1] + fn(a * 3.0, b)[0],
         "positive"),
))
def divmod_(x1, x2):
    """``(x1 // x2, x1 % x2)``: the quotient has derivative 0, the remainder NumPy's ``mod``."""
    return rules_arithmetic.floor_divide(x1, x2), rules_arithmetic.mod(x1, x2)
