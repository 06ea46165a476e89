"""NumPy's remaining arithmetic: remainders, nan-aware extrema, angles, signs, casts, cumprod.

Elementwise primitives declare their partials (see :mod:`.elementwise`); piecewise ones decide
their kinks here, once:

* ``mod`` / ``remainder``: ``a - b floor(a/b)``, so ``d/da = 1`` and ``d/db = -floor(a/b)``;
  ``fmod`` (C's remainder, the sign of ``a``) has ``d/db = -trunc(a/b)``; ``floor_divide``
  (``//``) is locally constant: derivative zero.  At the jumps (``a/b`` an integer) the one-sided
  value NumPy returns is used, as ``floor`` does.
* ``fmax`` / ``fmin``: NumPy's ``nan`` handling -- where one argument is ``nan`` the other wins,
  and so does its derivative; ties split evenly, as ``maximum`` (API.md's kink table).
* ``heaviside``: derivative zero in both arguments (the jump at 0 has none).
* ``copysign(a, b) = |a| sign(b)``: ``d/da = sign(a) sign(b)``, ``d/db = 0``.

``astype`` is the cast behind ``x.astype(np.float32)``, ``dtype=`` keywords and
``np.float_power`` (float64, as NumPy): its tangent and cotangent are cast the same way.
``cumprod`` stays exact where factors are zero, at every order.
"""

from __future__ import annotations

import math

import numpy as np

from . import indexing, series, shapes
from . import elementwise as ew
from .elementwise import Elementwise
from .reductions import cumsum
from .primitive import (
    ONE,
    Case,
    Domain,
    ParametrizedPrimitive,
    batch_ndim,
    call_with,
    data_value,
    dtype_of,
    on_data,
    shape_of,
)
from .series import FIRST_ORDER, LOCALLY_CONSTANT

__all__ = [
    "fmax", "fmin", "mod", "fmod", "floor_divide", "logaddexp2", "deg2rad", "rad2deg",
    "heaviside", "copysign", "sinc", "conjugate", "astype", "cumprod",
]

_WIDE = ((-10.0, 10.0),)
_AWAY_FROM_ZERO = ((-10.0, -0.1), (0.1, 10.0))


def _quotient_away_from_integers(a, b):
    """Test points whose quotient ``a/b`` is at least 1e-3 from an integer (the jumps)."""
    q = np.asarray(a) / np.asarray(b)
    return np.abs(q - np.round(q)) > 1e-3


def _constant_of(fn, *operands):
    """A non-differentiable array (or float) computed from primal values, in the operands' dtype
    (under ``ad.jit`` a recorded step, recomputed by every replay: ``-floor(a / b)``, the
    partial of ``mod`` in ``b``, changes with every input)."""
    return on_data(_constant_value, fn, *operands)


def _constant_value(fn, *values):
    result = fn(*values)
    if all(type(v) is float for v in values):
        return float(result)
    return np.asarray(result, dtype=np.result_type(*values, np.float32))[()]


def _binary(name, ufunc, partials, *, taylor, domain, numpy=None):
    return Elementwise(
        name, ew._float_preserving(ufunc), partials, 2, taylor=taylor, domain=domain,
        numpy=(ufunc,) if numpy is None else numpy,
    )


def _unary(name, ufunc, partial, *, taylor, domain, numpy=None):
    return Elementwise(
        name, ew._float_preserving(ufunc), () if partial is None else (partial,), 1, taylor=taylor,
        domain=domain, numpy=(ufunc,) if numpy is None else numpy,
    )


# ----------------------------------------------------------------------------------------------
# nan-aware extrema
# ----------------------------------------------------------------------------------------------


def _nan_aware_weight(mine, other, pick_greater: bool):
    """``maximum``'s tie-splitting weight, with NumPy's ``fmax`` rule: a ``nan`` loses.

    Where ``other`` is ``nan`` (and ``mine`` is not) ``mine`` is the value: weight 1; where
    ``mine`` is ``nan`` and ``other`` is not: weight 0.
    """
    weight = ew._selection_weight(mine, other, pick_greater)
    m, o = data_value(mine), data_value(other)  # under ad.jit: recorded, the branches guarded
    mine_nan, other_nan = np.isnan(m), np.isnan(o)
    if not (np.any(mine_nan) or np.any(other_nan)):
        return weight
    if type(weight) is float:
        return 1.0 if other_nan and not mine_nan else (0.0 if mine_nan and not other_nan else weight)
    weight = np.where(other_nan & ~mine_nan, 1.0, np.where(mine_nan & ~other_nan, 0.0, weight))
    return weight.astype(np.result_type(m, o), copy=False)


fmax = _binary(
    "fmax", np.fmax,
    (lambda a, b, y: _nan_aware_weight(a, b, True), lambda a, b, y: _nan_aware_weight(b, a, True)),
    taylor=FIRST_ORDER,
    domain=Domain("a, b -> Max(a, b)", (_WIDE, _WIDE), valid=ew._untied),
)
fmin = _binary(
    "fmin", np.fmin,
    (lambda a, b, y: _nan_aware_weight(a, b, False), lambda a, b, y: _nan_aware_weight(b, a, False)),
    taylor=FIRST_ORDER,
    domain=Domain("a, b -> Min(a, b)", (_WIDE, _WIDE), valid=ew._untied),
)

# ----------------------------------------------------------------------------------------------
# remainders and the floor quotient
# ----------------------------------------------------------------------------------------------

_REMAINDER_DOMAIN = (_WIDE, _AWAY_FROM_ZERO)


def _truncated_quotient(a, b):
    return np.trunc(np.divide(a, b))


def _sign_of_second(a, b):
    return np.copysign(np.ones_like(a * b), b)


def _zero_like_both(a, b):
    return np.zeros_like(a * b)


def _zero_partial(a, b, y):
    """A partial that is zero wherever the function is differentiable (an explicit zero: the
    scalar fast paths of binary primitives multiply two partials)."""
    return _constant_of(_zero_like_both, a, b)


def _undefined_where_nan(*partials):
    """The partials, ``nan`` where the value is: ``remainder``, ``fmod`` and ``floor_divide`` are
    ``nan`` at ``b = 0`` (``0 // 0``, ``fmod(1, 0)``), where ``d/da = 1`` or ``0`` is not."""
    return tuple(ew._nan_outside_domain(partial) for partial in partials)


mod = _binary(
    "remainder", np.remainder,
    _undefined_where_nan(
        lambda a, b, y: ONE, lambda a, b, y: ew.negative(_constant_of(np.floor_divide, a, b))
    ),
    taylor=FIRST_ORDER,
    domain=Domain(
        "a, b -> a - b*floor(a/b)", _REMAINDER_DOMAIN, valid=_quotient_away_from_integers,
        outside=((1.0, 0.0), (0.0, 0.0)),
    ),
)
fmod = _binary(
    "fmod", np.fmod,
    _undefined_where_nan(
        lambda a, b, y: ONE, lambda a, b, y: ew.negative(_constant_of(_truncated_quotient, a, b))
    ),
    taylor=FIRST_ORDER,
    domain=Domain(
        "a, b -> a - b*sign(a)*sign(b)*floor(Abs(a)/Abs(b))", _REMAINDER_DOMAIN,
        valid=_quotient_away_from_integers, outside=((1.0, 0.0), (0.0, 0.0)),
    ),
)
floor_divide = _binary(  # zero derivative wherever differentiable (as floor)
    "floor_divide", np.floor_divide, _undefined_where_nan(_zero_partial, _zero_partial),
    taylor=LOCALLY_CONSTANT,
    domain=Domain(
        "a, b -> floor(a/b)", _REMAINDER_DOMAIN, valid=_quotient_away_from_integers,
        outside=((0.0, 0.0),),
    ),
)

# ----------------------------------------------------------------------------------------------
# logarithms base 2, angles, steps and signs
# ----------------------------------------------------------------------------------------------

logaddexp2 = _binary(
    "logaddexp2", np.logaddexp2,
    (ew._logaddexp_partial(0, ew.exp2), ew._logaddexp_partial(1, ew.exp2)),
    taylor=series.logaddexp2,
    domain=Domain(
        "a, b -> log(2**a + 2**b, 2)", (((-30.0, 30.0),), ((-30.0, 30.0),))
    ),
)
_DEGREE = math.pi / 180.0
deg2rad = _unary(
    "deg2rad", np.deg2rad, lambda x, y: _DEGREE,
    taylor=FIRST_ORDER, domain=Domain("x -> x*pi/180", (((-720.0, 720.0),),)),
    numpy=(np.deg2rad, np.radians),
)
rad2deg = _unary(
    "rad2deg", np.rad2deg, lambda x, y: 1.0 / _DEGREE,
    taylor=FIRST_ORDER, domain=Domain("x -> x*180/pi", (_WIDE,)),
    numpy=(np.rad2deg, np.degrees),
)
heaviside = _binary(
    "heaviside", np.heaviside, (_zero_partial, _zero_partial),
    taylor=LOCALLY_CONSTANT,
    domain=Domain("a, b -> Heaviside(a)", (_AWAY_FROM_ZERO, ((0.0, 1.0),))),
)
copysign = _binary(
    "copysign", np.copysign,
    (
        lambda a, b, y: ew.multiply(ew.sign(a), _constant_of(_sign_of_second, a, b)),
        _zero_partial,
    ),
    taylor=FIRST_ORDER,
    domain=Domain("a, b -> Abs(a)*sign(b)", (_AWAY_FROM_ZERO, _AWAY_FROM_ZERO)),
)
# the complex conjugate of a real value is the value (complex values never reach a rule)
conjugate = _unary(
    "conjugate", np.conjugate, lambda x, y: ONE,
    taylor=FIRST_ORDER, domain=Domain("x -> x", (_WIDE,)), numpy=(np.conjugate,),
)


# sinc(x) = sin(pi x)/(pi x), 1 at 0.  Near 0 its derivative is the Taylor polynomial
# sum_k (-1)^k 2k pi^2k x^(2k-1) / (2k+1)!  (k = 1..4: exact to ~1e-20 for |x| < 1e-3), written
# with primitives, so every derivative at 0 is right (sinc''(0) = -pi^2/3); elsewhere
# (cos(pi x) - sinc(x)) / x.
_SINC_NEAR_ZERO = 1e-3
_SINC_SLOPE_TERMS = tuple(
    ((-1) ** k * 2 * k * math.pi ** (2 * k) / math.factorial(2 * k + 1), 2 * k - 1)
    for k in range(1, 5)
)


def _sinc_slope(x, y):
    near = np.abs(data_value(x)) < _SINC_NEAR_ZERO  # under ad.jit: recorded, branches guarded
    polynomial = None
    for coefficient, power in _SINC_SLOPE_TERMS:
        term = ew.multiply(coefficient, ew.power(x, float(power)))
        polynomial = term if polynomial is None else ew.add(polynomial, term)
    if np.all(near):
        return polynomial
    safe_x = indexing.where(near, 1.0, x) if np.any(near) else x
    formula = ew.divide(ew.subtract(ew.cos(ew.multiply(math.pi, safe_x)), y), safe_x)
    if not np.any(near):
        return formula
    return indexing.where(near, polynomial, formula)


sinc = Elementwise(
    "sinc", ew._float_preserving(np.sinc), (_sinc_slope,), 1,
    taylor=series.from_jvp_away_from_zero(0.5, series.sinc_near_zero),
    # away from the integers, where the value is 0 and NumPy's only absolutely accurate
    domain=Domain(
        "x -> sin(pi*x)/(pi*x)", (((-5.0, -0.01), (0.01, 5.0)),),
        valid=lambda x: np.abs(np.asarray(x) - np.round(x)) > 0.05,
    ),
    numpy=(np.sinc,),
)


# ----------------------------------------------------------------------------------------------
# casts
# ----------------------------------------------------------------------------------------------


def _astype_impl(x, dtype, order="K"):
    """``x.astype(dtype, order=order)``: ``order="C"`` also lays a transposed view out in C
    order (a gradient handed to the user, :func:`autodiff.transforms._in_dtype_of`)."""
    return np.asarray(x).astype(dtype, order=order)[()] if type(x) is not float else (
        x if np.dtype(dtype) == np.float64 else np.asarray(x, dtype=dtype)[()]
    )


def _astype_jvp(primals, tangents, out, dtype, order="K"):
    return astype(tangents[0], dtype=dtype, order=order)


def _astype_vjp(g, primals, out, wanted, dtype, order="K"):
    return [astype(g, dtype=dtype_of(primals[0]))]


astype = ParametrizedPrimitive(
    "astype", _astype_impl, _astype_jvp, _astype_vjp,
    taylor=FIRST_ORDER, n_operands=1, param_names=("dtype", "order"),
    # (float32 results are checked in tests/test_arithmetic.py: central differences need float64)
    cases=(Case("to-float64", ((3, 4),), call_with(dtype=np.float64)),),
)


# ----------------------------------------------------------------------------------------------
# cumprod: exact where factors are zero
# ----------------------------------------------------------------------------------------------


def _moved(x, axis):
    """The slices of ``x`` along ``axis``, as a list (for the running recursions)."""
    n = shape_of(x)[axis]
    return [
        indexing.getitem(x, index=(slice(None),) * axis + (slice(k, k + 1),)) for k in range(n)
    ]


def _divisions_are_exact(x, out) -> bool:
    """No zero factor, and every running product a normal number: ``y_k / x_j`` is exact (a
    branch on values: under ``ad.jit`` a recorded test and its guard)."""
    return bool(on_data(_exact_divisions, x, out))


def _exact_divisions(x, out):
    xv, yv = np.asarray(x), np.abs(np.asarray(out))
    return np.all(xv != 0) and np.all(yv >= np.finfo(yv.dtype).tiny) and np.all(np.isfinite(yv))


def _cumprod_jvp(primals, tangents, out, axis):
    """``dy_k = sum_{j<=k} (prod_{i<=k, i!=j} x_i) dx_j``.

    Without zeros this is ``y * cumsum(dx / x)``; otherwise the product rule runs along the
    axis, ``dy_k = dy_{k-1} x_k + y_{k-1} dx_k`` (every order exact, ``O(n)`` primitives).
    """
    (x,), (t,) = primals, tangents
    n_batch = batch_ndim(t, x)
    axis_t = axis + n_batch
    if _divisions_are_exact(x, out):
        return ew.multiply(out, cumsum(ew.divide(t, x), axis_t))
    xs, ys, ts = _moved(x, axis), _moved(out, axis), _moved(t, axis_t)
    parts = [ts[0]]
    for k in range(1, len(xs)):
        parts.append(ew.add(ew.multiply(parts[-1], xs[k]), ew.multiply(ys[k - 1], ts[k])))
    return shapes.concatenate(*parts, axis=axis_t)


def _cumprod_vjp(g, primals, out, wanted, axis):
    """``x̄_j = sum_{k>=j} ȳ_k prod_{i<=k, i!=j} x_i``: without zeros
    ``reverse_cumsum(ȳ y) / x``; otherwise ``x̄_j = y_{j-1} s_j`` with the running sum from the
    end ``s_j = ȳ_j + x_{j+1} s_{j+1}`` (the transpose of the JVP's recursion)."""
    (x,) = primals
    n_batch = batch_ndim(g, out)
    axis_g = axis + n_batch
    if _divisions_are_exact(x, out):
        reverse = (slice(None),) * axis_g + (slice(None, None, -1),)
        flipped = indexing.getitem(ew.multiply(g, out), index=reverse)
        return [ew.divide(indexing.getitem(cumsum(flipped, axis_g), index=reverse), x)]
    xs, ys, gs = _moved(x, axis), _moved(out, axis), _moved(g, axis_g)
    n = len(xs)
    sums = [gs[n - 1]]
    for j in range(n - 2, -1, -1):
        sums.append(ew.add(gs[j], ew.multiply(xs[j + 1], sums[-1])))
    sums.reverse()
    parts = [sums[0]] + [ew.multiply(ys[j - 1], sums[j]) for j in range(1, n)]
    return [shapes.concatenate(*parts, axis=axis_g)]


cumprod = ParametrizedPrimitive(
    "cumprod",
    lambda x, axis: np.cumprod(x, axis=axis),
    _cumprod_jvp,
    _cumprod_vjp,
    taylor=series.FROM_JVP,
    n_operands=1,
    param_names=("axis",),
    cases=(
        Case("vector", ((5,),), call_with(axis=0)),
        Case("axis=0", ((3, 4),), call_with(axis=0)),
        Case("axis=1", ((3, 4),), call_with(axis=1)),
        Case("zeros-axis=1", ((3, 4),), call_with(axis=1), "zeros"),
        Case("zeros-vector", ((6,),), call_with(axis=0), "zeros"),
    ),
)
