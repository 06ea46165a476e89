"""SciPy's special functions (``scipy.special``): each ufunc declared once, with its partials.

This module needs SciPy (an optional dependency): :mod:`autodiff.rules` imports it only when
``import scipy.special`` succeeds, and nothing else depends on it.  The values are SciPy's own;
the partials are written with primitives (mostly the ones declared here), so every function
differentiates again.  The derivatives are the classical ones (Abramowitz & Stegun, *Handbook of
Mathematical Functions*, 1964: 6.3 for the polygamma functions, 7.1 for the error functions,
9.6 for the modified Bessel functions; the NIST *Digital Library of Mathematical Functions*,
5.15, 7.10, 10.29):

* ``gammaln' = digamma``, ``digamma' = polygamma(1, .)``, ``polygamma(n, .)' = polygamma(n + 1,
  .)``, ``gamma' = gamma * digamma``, ``beta`` and ``betaln`` through ``digamma``;
* ``erfc' = -2/sqrt(pi) e^{-x^2}``, ``erfinv' = sqrt(pi)/2 e^{erfinv(x)^2}``, ``erfcx' = 2x
  erfcx(x) - 2/sqrt(pi)``;
* ``ndtr' = phi``, ``ndtri' = 1/phi(ndtri(x))``, ``log_ndtr' = phi/Phi``, taken as
  ``sqrt(2/pi) / erfcx(-x/sqrt(2))`` for ``x < 0`` (no underflow of ``phi`` and ``Phi``) and
  ``phi(x) e^{-log_ndtr(x)}`` otherwise;
* ``i0' = i1``, ``i1' = i0 - i1/x`` (``1/2`` at 0); the scaled ``i0e = i0 e^{-|x|}`` and ``i1e``
  add ``-sign(x)`` times themselves;
* ``xlogy``: ``d/dx = log y``, ``d/dy = x/y``, which is 0 where ``x = 0`` (as the value);
  ``xlog1py`` alike with ``log1p``; ``entr = -x log x``, ``rel_entr = x log(x/y)``, ``kl_div =
  x log(x/y) - x + y``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

from . import elementwise as ew
from . import indexing, series
from .elementwise import Elementwise
from .primitive import (
    Case,
    Domain,
    ParametrizedPrimitive,
    _answer_for,
    both_signs,
    call_with,
    data_value,
)

__all__ = [
    "gammaln", "digamma", "polygamma", "gamma", "beta", "betaln", "erfc", "erfinv", "erfcinv",
    "erfcx", "expit", "logit", "xlogy", "xlog1py", "ndtr", "ndtri", "log_ndtr", "i0", "i1",
    "i0e", "i1e", "entr", "rel_entr", "kl_div",
]

_POSITIVE = (((0.1, 10.0),),)
_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _special(name, ufunc, partials, domain, *, numpy=None, taylor=series.FROM_JVP):
    """SciPy's ufunc with its partials, each ``nan`` where SciPy's value is (outside the domain:
    ``logit(2)``, ``xlogy(1, -1)``), where the formulas (``1/(x(1 - x))``, ``x/y``) are finite."""
    partials = tuple(ew._nan_outside_domain(partial) for partial in partials)
    return Elementwise(
        name, ew._float_preserving(ufunc), partials, len(partials), taylor=taylor, domain=domain,
        numpy=(ufunc,) if numpy is None else numpy,
    )


def _where_safe(condition, safe, x):
    """``x`` with ``safe`` substituted where ``condition`` holds (the double-``where`` trick)."""
    return indexing.where(condition, safe, x) if np.any(condition) else x


def _zero_where(condition, value):
    """``value``, replaced by 0 where ``condition`` holds (a branch whose formula is 0/0)."""
    if type(value) is float and np.ndim(condition) == 0:  # (a recorded one: its bool guarded)
        return 0.0 if condition else value
    return indexing.where(condition, 0.0, value) if np.any(condition) else value


# ----------------------------------------------------------------------------------------------
# gamma and its relatives
# ----------------------------------------------------------------------------------------------


def _polygamma_impl(x, n):
    """SciPy's ``polygamma(n, x)`` in ``x``'s precision (SciPy computes it in float64)."""
    value = sc.polygamma(n, x)
    if type(x) is float:
        return float(value)
    return np.asarray(value, dtype=np.result_type(x, np.float32))[()]


def _polygamma_jvp(primals, tangents, out, n):
    return ew.multiply(polygamma(primals[0], n=n + 1), tangents[0])


def _polygamma_vjp(g, primals, out, wanted, n):
    return [ew.multiply(polygamma(primals[0], n=n + 1), g)]


# ``polygamma(n, x)`` with a static integer order n: one primitive, its order a parameter
polygamma = ParametrizedPrimitive(
    "polygamma", _polygamma_impl, _polygamma_jvp, _polygamma_vjp,
    taylor=series.FROM_JVP, n_operands=1, param_names=("n",),
    cases=(
        Case("n=1", ((4,),), call_with(n=1), "positive"),
        Case("n=2-matrix", ((2, 3),), call_with(n=2), "positive"),
    ),
)

digamma = _special(
    "digamma", sc.digamma, (lambda x, y: polygamma(x, n=1),),
    Domain("x -> digamma(x)", _POSITIVE), numpy=(sc.digamma,),
)
gammaln = _special(
    "gammaln", sc.gammaln, (lambda x, y: digamma(x),),
    # away from its zeros at 1 and 2, where only its absolute accuracy is SciPy's
    Domain("x -> loggamma(x)", (((0.1, 30.0),),),
           valid=lambda x: (np.abs(np.asarray(x) - 1) > 0.05) & (np.abs(np.asarray(x) - 2) > 0.05)),
)
gamma = _special(
    "gamma", sc.gamma, (lambda x, y: ew.multiply(y, digamma(x)),),
    Domain("x -> gamma(x)", _POSITIVE),
)


def _beta_partial(which, scale_by_value):
    """d betaln(a, b)/da = digamma(a) - digamma(a + b); ``beta`` multiplies by its value."""

    def partial(a, b, y):
        mine = (a, b)[which]
        d = ew.subtract(digamma(mine), digamma(ew.add(a, b)))
        return ew.multiply(y, d) if scale_by_value else d

    return partial


_BETA_DOMAIN = (((0.2, 10.0),), ((0.2, 10.0),))
beta = _special(
    "beta", sc.beta, (_beta_partial(0, True), _beta_partial(1, True)),
    Domain("a, b -> beta(a, b)", _BETA_DOMAIN),
)
betaln = _special(
    "betaln", sc.betaln, (_beta_partial(0, False), _beta_partial(1, False)),
    # away from its zeros (B(a, b) = 1, as at a = b = 1), where only its absolute accuracy is
    # SciPy's
    Domain("a, b -> log(beta(a, b))", _BETA_DOMAIN,
           valid=lambda a, b: np.abs(sc.betaln(a, b)) > 0.05),
)

# ----------------------------------------------------------------------------------------------
# error functions and the normal distribution
# ----------------------------------------------------------------------------------------------


def _gaussian(x, scale):
    """``scale * e^{-x^2}``."""
    return ew.multiply(scale, ew.exp(ew.negative(ew.square(x))))


erfc = _special(
    "erfc", sc.erfc, (lambda x, y: _gaussian(x, -2.0 / _SQRT_PI),),
    Domain("x -> erfc(x)", (((-5.0, 5.0),),)),
)
erfinv = _special(
    "erfinv", sc.erfinv, (lambda x, y: ew.multiply(_SQRT_PI / 2, ew.exp(ew.square(y))),),
    Domain("x -> erfinv(x)", (((-0.9, 0.9),),), outside=((2.0,),)),
)
erfcinv = _special(
    "erfcinv", sc.erfcinv, (lambda x, y: ew.multiply(-_SQRT_PI / 2, ew.exp(ew.square(y))),),
    Domain("x -> erfinv(1 - x)", (((0.1, 1.9),),)),
)
erfcx = _special(
    "erfcx", sc.erfcx,
    (lambda x, y: ew.subtract(ew.multiply(ew.multiply(2.0, x), y), 2.0 / _SQRT_PI),),
    Domain("x -> exp(x**2)*erfc(x)", (((-3.0, 10.0),),)),
)


def _normal_density(x):
    """phi(x) = e^{-x^2/2} / sqrt(2 pi)."""
    return ew.divide(ew.exp(ew.multiply(-0.5, ew.square(x))), _SQRT_2PI)


ndtr = _special(
    "ndtr", sc.ndtr, (lambda x, y: _normal_density(x),),
    Domain("x -> erfc(-x/sqrt(2))/2", (((-10.0, 10.0),),)),
)
ndtri = _special(
    "ndtri", sc.ndtri,
    (lambda x, y: ew.multiply(_SQRT_2PI, ew.exp(ew.multiply(0.5, ew.square(y)))),),
    Domain("x -> sqrt(2)*erfinv(2*x - 1)", (((0.01, 0.99),),), outside=((2.0,),)),
)


def _log_ndtr_slope(x, y):
    """phi(x)/Phi(x): ``sqrt(2/pi) / erfcx(-x/sqrt(2))`` for ``x < 0`` (both tiny there, their
    ratio is not), ``e^{-x^2/2 - log_ndtr(x)} / sqrt(2 pi)`` otherwise."""
    negative = data_value(x) < 0  # under ad.jit: a recorded mask, a scalar's branch guarded
    if type(negative) is bool or np.ndim(negative) == 0:
        if negative:
            return ew.divide(_SQRT_2_OVER_PI, erfcx(ew.multiply(-1 / math.sqrt(2.0), x)))
        return ew.divide(ew.exp(ew.subtract(ew.multiply(-0.5, ew.square(x)), y)), _SQRT_2PI)
    left_x = _where_safe(~negative, -1.0, x)
    right_x = _where_safe(negative, 0.0, x)
    right_y = _where_safe(negative, 0.0, y)
    left = ew.divide(_SQRT_2_OVER_PI, erfcx(ew.multiply(-1 / math.sqrt(2.0), left_x)))
    right = ew.divide(
        ew.exp(ew.subtract(ew.multiply(-0.5, ew.square(right_x)), right_y)), _SQRT_2PI
    )
    return indexing.where(negative, left, right)


log_ndtr = _special(
    "log_ndtr", sc.log_ndtr, (_log_ndtr_slope,),
    Domain("x -> log(erfc(-x/sqrt(2))/2)", (((-8.0, 5.0),),)),
)

# ----------------------------------------------------------------------------------------------
# logistic functions
# ----------------------------------------------------------------------------------------------

# expit' = y (1 - y): 1 - y cancels for x >> 0, so the test domain stops at 5 (as sigmoid's)
expit = _special(
    "expit", sc.expit, (lambda x, y: ew.multiply(y, ew.subtract(1.0, y)),),
    Domain("x -> 1/(1 + exp(-x))", (((-20.0, 5.0),),)), taylor=series.sigmoid,
)
logit = _special(
    "logit", sc.logit,
    (lambda x, y: ew.reciprocal(ew.multiply(x, ew.subtract(1.0, x))),),
    Domain("x -> log(x/(1 - x))", (((0.02, 0.98),),), outside=((2.0,), (-1.0,))),
)

# ----------------------------------------------------------------------------------------------
# modified Bessel functions
# ----------------------------------------------------------------------------------------------


def _i1_slope(x, y, scaled_i0):
    """``i1' = i0 - i1/x``, with the limit 1/2 at 0 (``i1(x) ~ x/2``)."""
    at_zero = data_value(x) == 0  # under ad.jit: a recorded mask, its branches guarded
    safe_x = _where_safe(at_zero, 1.0, x)
    safe_y = _where_safe(at_zero, 0.5, y)
    slope = ew.subtract(scaled_i0(x), ew.divide(safe_y, safe_x))
    if type(at_zero) is bool or np.ndim(at_zero) == 0:
        return 0.5 if at_zero else slope
    return indexing.where(at_zero, 0.5, slope) if np.any(at_zero) else slope


i0 = _special(
    "i0", sc.i0, (lambda x, y: i1(x),),
    Domain("x -> besseli(0, x)", (both_signs(0.01, 10.0),)), numpy=(sc.i0, np.i0),
)
i1 = _special(
    "i1", sc.i1, (lambda x, y: _i1_slope(x, y, i0),),
    Domain("x -> besseli(1, x)", (both_signs(0.01, 10.0),)),
    taylor=series.from_jvp_away_from_zero(2.0, series.i1_near_zero),
)
i0e = _special(
    "i0e", sc.i0e, (lambda x, y: ew.subtract(i1e(x), ew.multiply(ew.sign(x), y)),),
    Domain("x -> besseli(0, x)*exp(-Abs(x))", (both_signs(0.01, 20.0),)),
)
i1e = _special(
    "i1e", sc.i1e,
    (lambda x, y: ew.subtract(_i1_slope(x, y, i0e), ew.multiply(ew.sign(x), y)),),
    Domain("x -> besseli(1, x)*exp(-Abs(x))", (both_signs(0.01, 20.0),)),
    taylor=series.from_jvp_away_from_zero(2.0, series.i1e_near_zero),
)

# ----------------------------------------------------------------------------------------------
# x log y and the entropies
# ----------------------------------------------------------------------------------------------


def _at_zero(x):
    """Where ``x`` is 0 (under ``ad.jit`` a recorded mask, recomputed by every replay)."""
    return data_value(x) == 0


def _times_log_partials(log_fn, shift):
    """``x log_fn(y)``: ``d/dx = log_fn(y)``, ``d/dy = x / (y + shift)``, 0 where ``x = 0``."""

    def d_x(x, y, out):
        return log_fn(y)

    def d_y(x, y, out):
        denominator = ew.add(y, shift) if shift else y
        # 0/0 only where x = 0 and y + shift = 0; elsewhere x/(y + shift) is already 0 at x = 0
        zero = _at_zero(x) & (data_value(denominator) == 0)
        return _zero_where(zero, ew.divide(x, _where_safe(zero, 1.0, denominator)))

    return d_x, d_y


_XLOGY_DOMAIN = (((-5.0, 5.0),), ((0.1, 10.0),))
xlogy = _special(
    "xlogy", sc.xlogy, _times_log_partials(ew.log, 0.0),
    Domain("a, b -> a*log(b)", _XLOGY_DOMAIN, outside=((1.0, -1.0),)),
)
xlog1py = _special(
    "xlog1py", sc.xlog1py, _times_log_partials(ew.log1p, 1.0),
    Domain("a, b -> a*Log1p(b)", (((-5.0, 5.0),), ((-0.9, 10.0),)), outside=((1.0, -2.0),)),
)
entr = _special(
    "entr", sc.entr, (lambda x, y: ew.negative(ew.add(ew.log(x), 1.0)),),
    Domain("x -> -x*log(x)", (((0.01, 10.0),),)),
)
_ENTROPY_DOMAIN = (((0.1, 10.0),), ((0.1, 10.0),))
rel_entr = _special(
    "rel_entr", sc.rel_entr,
    (
        lambda x, y, out: ew.add(ew.log(ew.divide(x, y)), 1.0),
        lambda x, y, out: ew.negative(ew.divide(x, y)),
    ),
    Domain("a, b -> a*log(a/b)", _ENTROPY_DOMAIN),
)
kl_div = _special(
    "kl_div", sc.kl_div,
    (
        lambda x, y, out: ew.log(ew.divide(x, y)),
        lambda x, y, out: ew.subtract(1.0, ew.divide(x, y)),
    ),
    # a and b apart (|log(a/b)| > 0.28): near a = b SciPy's a log(a/b) - a + b cancels (1e-13
    # relative error at |log(a/b)| = 0.06, below 1e-14 beyond 0.2)
    Domain("a, b -> a*log(a/b) - a + b", (((0.1, 1.0), (4.0, 10.0)), ((1.5, 3.0),))),
)

# SciPy's erf is the error function declared with the elementwise family (``ad.erf``)
_answer_for((sc.erf,), ew.erf)
