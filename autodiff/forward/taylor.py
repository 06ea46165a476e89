"""Taylor mode: truncated Taylor polynomials pushed through the primitives.

A :class:`Taylor` value stands for the polynomial ``x(t) = x_0 + x_1 t + ... + x_K t^K`` truncated
at order ``K``; its ``coefficients`` array has a leading *order axis*: shape ``(K + 1,) + shape``.
Applying ``f`` gives the coefficients of ``f(x(t))``, and for ``x(t) = x + t`` these are
``y_k = f^(k)(x) / k!``.  Every primitive declares how its output coefficients follow from its
inputs' (the ``taylor`` slot of the rule table); the recurrences are the standard ones of
Griewank & Walther, *Evaluating Derivatives*, ch. 13, each ``O(K^2)`` per operation, against the
``O(2^K)`` of ``K`` nested dual numbers.

Notation: ``x' = sum_k k x_k t^(k-1)`` is the derivative series, ``[a b]_k = sum_j a_j b_(k-j)``
the Cauchy product.  Three patterns cover the table:

* **Linear or locally linear** primitives (``add``, ``reshape``, ``sum``, ``getitem``, ``where``,
  ``maximum``, ``abs``, ...): every coefficient goes through the first-order rule, because
  ``L(sum_k c_k t^k) = sum_k L(c_k) t^k``.  The JVP rule is reused with the order axis as its
  batch axis.
* **Products and quotients**: ``[a b]_k`` directly; ``c = a / b`` from ``b c = a``:
  ``c_k = (a_k - sum_(j>=1) b_j c_(k-j)) / b_0``.
* **Functions with a first-order ODE**: ``y' = g x'`` gives ``y_k = (1/k) [x' g]_(k-1)``.  Where
  ``g`` depends on ``y`` (``exp``: g = y; ``tan``: g = 1 + y^2; ``sin``/``cos`` together) the
  coefficients come one order at a time; where ``g`` depends on ``x`` only (``arctan``:
  g = 1/(1 + x^2); ``arcsin``: g = (1 - x^2)^(-1/2); ``erf``; ...) ``y`` is the integral of the
  series ``x' g``.  ``x^r`` (constant r) solves ``x y' = r x' y``:
  ``y_k = sum_(j=1..k) ((r + 1) j - k) x_j y_(k-j) / (k x_0)``.

Rules are written with primitives, so Taylor values nest with every other transform (a gradient
of a Taylor coefficient, Taylor mode inside ``jacfwd``, Taylor over Taylor).  A primitive without a
Taylor rule raises :class:`MissingTaylorRuleError` naming it.
"""

from __future__ import annotations

import math

import numpy as np

from ..levels import Level
from ..pytree import flatten, tree_map, unflatten
from ..rules import elementwise as ew
from ..rules import structure as st
from ..rules.primitive import REGISTRY, Traced, bind, dtype_of, primal_value, shape_of
from ..tracer import ArrayLike
from ..values import as_float_value

__all__ = [
    "Taylor",
    "TaylorLevel",
    "MissingTaylorRuleError",
    "taylor",
    "derivative_by_taylor",
    "first_order_rule",
]


class MissingTaylorRuleError(TypeError):
    """Taylor mode reached a primitive that declares no Taylor rule."""


class TaylorLevel(Level):
    """Taylor-mode interpretation: output coefficients from the primitive's Taylor rule.

    A rule is called as ``rule(primals, series, order, **params)``: ``primals[i]`` is input
    ``i``'s value (its order-0 coefficient), ``series[i]`` its coefficient array of shape
    ``(order + 1,) + shape`` or ``None`` for an input that is a constant at this level.  It returns
    the output's coefficient array, or ``None`` when the output is locally constant (``floor``).
    """

    kind = "Taylor"
    __slots__ = ("order",)

    def __init__(self, order: int):
        super().__init__()
        self.order = order

    def process(self, prim, args, params):
        if not self.active:
            raise self.escaped("Taylor value")
        primals, series = [], []
        for arg in args:
            if type(arg) is Taylor and arg._level is self:
                primals.append(arg._primal_)
                series.append(arg.coefficients)
            else:
                primals.append(arg)
                series.append(None)
        rule = prim.taylor
        if rule is None:
            raise MissingTaylorRuleError(
                f"primitive {prim.name!r} has no Taylor-mode rule, so ad.taylor cannot push a "
                "truncated Taylor polynomial through it; use nested derivatives (ad.derivative "
                "does so by itself for such functions) or declare its rule in the `taylor` slot"
            )
        coefficients = rule(primals, series, self.order, **params)
        if coefficients is None:
            return bind(prim, *primals, **params)
        return Taylor._make(coefficients, self)


class Taylor(ArrayLike):
    """A truncated Taylor polynomial: ``coefficients[k]`` multiplies ``t^k``.

    NumPy code runs on it like on a ``Dual``; the order-0 coefficient is the value.  Made by
    :func:`taylor`.
    """

    __slots__ = ("_primal_", "coefficients")

    @classmethod
    def _make(cls, coefficients, level):
        value = object.__new__(cls)
        value.coefficients = coefficients
        value._primal_ = st.getitem(coefficients, 0)
        value._level = level
        return value

    @property
    def primal(self):
        return self._primal_

    @property
    def order(self) -> int:
        return shape_of(self.coefficients)[0] - 1

    def __repr__(self) -> str:
        return f"Taylor(coefficients={self.coefficients!r})"


# ----------------------------------------------------------------------------------------------
# series algebra on coefficient arrays (leading order axis), written with primitives
# ----------------------------------------------------------------------------------------------


def _length(a) -> int:
    return shape_of(a)[0]


def _coefficient(a, k):
    return st.getitem(a, k)


def _head(a, n):
    """Coefficients ``0 .. n-1``."""
    return st.getitem(a, slice(0, n))


def _tail(a):
    """Coefficients ``1 ..``: ``(a - a_0) / t``."""
    return st.getitem(a, slice(1, None))


def _leading(value):
    """``value`` with a leading order axis of length 1."""
    return st.reshape(value, (1,) + shape_of(value))


def _append(a, value):
    return st.concatenate(a, _leading(value), axis=0)


def _with_value(a, value):
    """``a`` with its order-0 coefficient replaced by ``value`` (an exactly computed one)."""
    if _length(a) == 1:
        return _leading(value)
    return st.concatenate(_leading(value), _tail(a), axis=0)


def _shift(a, constant):
    """The series ``a + constant``: only the order-0 coefficient moves."""
    return _with_value(a, ew.add(_coefficient(a, 0), constant))


def _order_weights(a, start: int, stop: int):
    """``[start, ..., stop - 1]`` shaped to multiply coefficients ``start .. stop - 1`` of ``a``."""
    value_ndim = len(shape_of(a)) - 1
    weights = np.arange(start, stop, dtype=dtype_of(a))
    return weights.reshape((stop - start,) + (1,) * value_ndim)


def _convolution_at(a, b, k: int):
    """``[a b]_k = sum_(i=0..k) a_i b_(k-i)``: coefficient ``k`` of the product."""
    return st.reduce_sum(
        ew.multiply(_head(a, k + 1), st.getitem(b, slice(k, None, -1))), axis=0
    )


def _series(coefficients):
    """A coefficient array from a list of equally shaped coefficients."""
    return st.concatenate(*[_leading(c) for c in coefficients], axis=0)


def _multiply(a, b):
    """The Cauchy product, truncated to the shorter length."""
    n = min(_length(a), _length(b))
    return _series([_convolution_at(a, b, k) for k in range(n)])


def _divide(a, b, n: int):
    """``n`` coefficients of ``a / b``, from ``b c = a``; ``a`` may be shorter (zeros beyond)."""
    b0 = _coefficient(b, 0)
    c = _leading(ew.divide(_coefficient(a, 0), b0))
    b_tail = _tail(b)
    for k in range(1, n):
        carried = _convolution_at(b_tail, c, k - 1)  # sum_(j=1..k) b_j c_(k-j)
        numerator = (
            ew.subtract(_coefficient(a, k), carried) if k < _length(a) else ew.negative(carried)
        )
        c = _append(c, ew.divide(numerator, b0))
    return c


def _derivative(a):
    """The derivative series ``a'``: coefficients ``(k + 1) a_(k+1)`` (one shorter)."""
    n = _length(a)
    return ew.multiply(_tail(a), _order_weights(a, 1, n))


def _integral(value, h):
    """``y`` with ``y_0 = value`` and ``y' = h``: ``y_k = h_(k-1) / k`` (one longer)."""
    n = _length(h)
    value = st.broadcast_to(value, shape_of(h)[1:]) if shape_of(value) != shape_of(h)[1:] else value
    if n == 0:
        return _leading(value)
    return st.concatenate(_leading(value), ew.divide(h, _order_weights(h, 1, n + 1)), axis=0)


def _integral_of(value, x, g):
    """``y = value + integral of g dx``, i.e. ``y' = g x'``, for a ``g`` independent of ``y``."""
    return _integral(value, _multiply(_derivative(x), g))


def _exp(x, value=None):
    """``y = exp(x)``: ``y' = y x'``, so ``y_k = (1/k) [x' y]_(k-1)``."""
    value = ew.exp(_coefficient(x, 0)) if value is None else value
    dx = _derivative(x)
    y = _leading(value)
    for k in range(1, _length(x)):
        y = _append(y, ew.divide(_convolution_at(dx, y, k - 1), float(k)))
    return y


def _log(x, value, scale=1.0):
    """``y = log(x) * scale``: ``y' = scale x' / x``."""
    h = _divide(_derivative(x), x, _length(x) - 1)
    return _integral(value, h if scale == 1.0 else ew.multiply(h, scale))


def _sin_cos(x, sign: float = -1.0):
    """``(s, c)`` with ``s' = c x'`` and ``c' = sign s x'``: sin/cos (-1), sinh/cosh (+1)."""
    x0 = _coefficient(x, 0)
    if sign < 0:
        s, c = _leading(ew.sin(x0)), _leading(ew.cos(x0))
    else:
        s, c = _leading(ew.sinh(x0)), _leading(ew.cosh(x0))
    dx = _derivative(x)
    for k in range(1, _length(x)):
        s_k = ew.divide(_convolution_at(dx, c, k - 1), float(k))
        c_k = ew.divide(_convolution_at(dx, s, k - 1), sign * k)
        s, c = _append(s, s_k), _append(c, c_k)
    return s, c


def _tan_like(x, value, sign: float):
    """``y' = (1 + sign y^2) x'``: tan (+1) and tanh (-1), with ``g = 1 + sign y^2`` built along."""
    dx = _derivative(x)
    y = _leading(value)
    g = _leading(ew.add(1.0, ew.multiply(sign, ew.square(value))))
    n = _length(x)
    for k in range(1, n):
        y = _append(y, ew.divide(_convolution_at(dx, g, k - 1), float(k)))
        if k < n - 1:
            g = _append(g, ew.multiply(sign, _convolution_at(y, y, k)))
    return y


def _sqrt(x, value):
    """``y = sqrt(x)`` from ``y^2 = x``: ``y_k = (x_k - sum_(j=1..k-1) y_j y_(k-j)) / (2 y_0)``."""
    twice = ew.multiply(2.0, value)
    y = _leading(value)
    for k in range(1, _length(x)):
        x_k = _coefficient(x, k)
        if k >= 2:
            y_tail = _tail(y)
            x_k = ew.subtract(x_k, _convolution_at(y_tail, y_tail, k - 2))
        y = _append(y, ew.divide(x_k, twice))
    return y


def _power(x, r, value):
    """``y = x^r`` for a constant ``r`` from ``x y' = r x' y`` (needs ``x_0 != 0``)::

        y_k = ((r + 1) sum_(j=1..k) j x_j y_(k-j) - k sum_(j=1..k) x_j y_(k-j)) / (k x_0)
    """
    x0 = _coefficient(x, 0)
    dx, x_tail = _derivative(x), _tail(x)
    r_plus_one = ew.add(r, 1.0)
    y = _leading(value)
    for k in range(1, _length(x)):
        weighted = ew.multiply(r_plus_one, _convolution_at(dx, y, k - 1))
        plain = ew.multiply(float(k), _convolution_at(x_tail, y, k - 1))
        y = _append(y, ew.divide(ew.subtract(weighted, plain), ew.multiply(float(k), x0)))
    return y


def _integer_power(x, n: int):
    """``x^n`` for an integer ``n`` by repeated squaring: exact at ``x_0 = 0`` too."""
    result, base, m = None, x, abs(n)
    while m:
        if m & 1:
            result = base if result is None else _multiply(result, base)
        m >>= 1
        if m:
            base = _multiply(base, base)
    if n < 0:
        return _divide(np.ones((1,) + shape_of(x)[1:], dtype_of(x)), result, _length(x))
    return result


def _square(x):
    return _multiply(x, x)


def _sigmoid(x):
    """``s = sigmoid(x)`` from ``s' = s (1 - s) x'``, with ``g = s - s^2`` built along.

    ``1 - s`` cancels where ``s`` is near 1, so for ``x_0 > 0`` the series is computed for
    ``w = -x`` (where ``s(w) <= 1/2``) and mapped back with ``sigmoid(x) = 1 - sigmoid(-x)``.
    """
    x0 = _coefficient(x, 0)
    flip = np.where(np.asarray(primal_value(x0)) > 0, -1.0, 1.0).astype(dtype_of(x))
    w = ew.multiply(x, flip)
    dw = _derivative(w)
    s0 = ew.sigmoid(_coefficient(w, 0))
    s = _leading(s0)
    g = _leading(ew.subtract(s0, ew.square(s0)))
    n = _length(x)
    for k in range(1, n):
        s = _append(s, ew.divide(_convolution_at(dw, g, k - 1), float(k)))
        if k < n - 1:
            g = _append(g, ew.subtract(_coefficient(s, k), _convolution_at(s, s, k)))
    return _with_value(ew.multiply(s, flip), ew.sigmoid(x0))


# ----------------------------------------------------------------------------------------------
# shapes: aligning operands of a broadcasting primitive
# ----------------------------------------------------------------------------------------------


def _out_shape(primals) -> tuple:
    return np.broadcast_shapes(*[shape_of(p) for p in primals])


def _align(a, ndim: int):
    """Unit axes after the order axis, so ``a``'s value part broadcasts against ``ndim`` axes."""
    shape = shape_of(a)
    missing = ndim - (len(shape) - 1)
    if missing <= 0:
        return a
    return st.reshape(a, shape[:1] + (1,) * missing + shape[1:])


def _full(primal, series, order: int, ndim: int):
    """A coefficient array for an operand: its series, or ``[value, 0, ..., 0]`` for a constant."""
    if series is None:
        shape = shape_of(primal)
        zeros = np.zeros((order,) + shape, dtype=dtype_of(primal))
        series = st.concatenate(_leading(primal), zeros, axis=0) if order else _leading(primal)
    return _align(series, ndim)


def _to_shape(a, shape: tuple):
    """Broadcast the coefficients of ``a`` to ``shape`` (value part)."""
    target = shape_of(a)[:1] + tuple(shape)
    return a if shape_of(a) == target else st.broadcast_to(_align(a, len(shape)), target)


# ----------------------------------------------------------------------------------------------
# the rules
# ----------------------------------------------------------------------------------------------

_RULES: dict = {}


def _rule(*names):
    def register(fn):
        for name in names:
            _RULES[name] = fn
        return fn

    return register


def first_order_rule(prim):
    """Coefficients ``1..K`` through the JVP rule, the order axis as its batch axis.

    Exact for linear primitives (``L(sum c_k t^k) = sum L(c_k) t^k``) and for the locally
    linear selections (``maximum``, ``abs``, ``clip``, ``max``/``min`` reductions) away from
    their kinks; at a kink the first-order convention of API.md's table applies to every order.
    Rule authors can declare such a primitive's rule as ``prim.taylor = first_order_rule(prim)``.
    """

    def rule(primals, series, order, **params):
        out = bind(prim, *primals, **params)
        if order == 0:
            return _leading(out)
        tangents = [None if s is None else _tail(s) for s in series]
        higher = prim.jvp(primals, tangents, out, **params)
        if higher is None:
            higher = np.zeros((order,) + shape_of(out), dtype=dtype_of(out))
        return st.concatenate(_leading(out), higher, axis=0)

    rule.__name__ = f"{prim.name}_taylor"
    return rule


def _locally_constant(primals, series, order, **params):
    """``sign``, ``floor``, ...: constant between jumps, so the output has no higher terms."""
    return None


def _unary(name):
    """Decorator: a unary rule ``body(x, value, order)`` with ``value = prim(x_0)`` exactly."""

    def register(body):
        prim = REGISTRY[name]

        def rule(primals, series, order):
            (x,) = series
            return body(x, bind(prim, primals[0]), order)

        rule.__name__ = f"{name}_taylor"
        _RULES[name] = rule
        return body

    return register


@_unary("exp")
def _exp_rule(x, value, order):
    return _exp(x, value)


@_unary("expm1")
def _expm1_rule(x, value, order):
    return _with_value(_exp(x), value)


@_unary("exp2")
def _exp2_rule(x, value, order):
    return _exp(ew.multiply(x, math.log(2.0)), value)


@_unary("log")
def _log_rule(x, value, order):
    return _log(x, value)


@_unary("log2")
def _log2_rule(x, value, order):
    return _log(x, value, 1.0 / math.log(2.0))


@_unary("log10")
def _log10_rule(x, value, order):
    return _log(x, value, 1.0 / math.log(10.0))


@_unary("log1p")
def _log1p_rule(x, value, order):
    return _log(_shift(x, 1.0), value)


@_unary("sqrt")
def _sqrt_rule(x, value, order):
    return _sqrt(x, value)


@_unary("cbrt")
def _cbrt_rule(x, value, order):
    return _power(x, 1.0 / 3.0, value)


@_unary("reciprocal")
def _reciprocal_rule(x, value, order):
    one = np.ones((1,) + shape_of(x)[1:], dtype_of(x))
    return _with_value(_divide(one, x, order + 1), value)


@_unary("square")
def _square_rule(x, value, order):
    return _with_value(_square(x), value)


@_unary("sin")
def _sin_rule(x, value, order):
    return _sin_cos(x, -1.0)[0]


@_unary("cos")
def _cos_rule(x, value, order):
    return _sin_cos(x, -1.0)[1]


@_unary("sinh")
def _sinh_rule(x, value, order):
    return _sin_cos(x, 1.0)[0]


@_unary("cosh")
def _cosh_rule(x, value, order):
    return _sin_cos(x, 1.0)[1]


@_unary("tan")
def _tan_rule(x, value, order):
    return _tan_like(x, value, 1.0)


@_unary("tanh")
def _tanh_rule(x, value, order):
    return _tan_like(x, value, -1.0)


def _inverse_square_root_of(u):
    """``u^(-1/2)``, the derivative of arcsin, arcsinh and arccosh."""
    return _power(u, -0.5, ew.reciprocal(ew.sqrt(_coefficient(u, 0))))


@_unary("arcsin")
def _arcsin_rule(x, value, order):
    """``arcsin' = (1 - x^2)^(-1/2)``."""
    return _integral_of(value, x, _inverse_square_root_of(_shift(ew.negative(_square(x)), 1.0)))


@_unary("arccos")
def _arccos_rule(x, value, order):
    """``arccos' = -(1 - x^2)^(-1/2)``."""
    g = _inverse_square_root_of(_shift(ew.negative(_square(x)), 1.0))
    return _integral_of(value, x, ew.negative(g))


@_unary("arctan")
def _arctan_rule(x, value, order):
    """``arctan' = 1 / (1 + x^2)``."""
    one = np.ones((1,) + shape_of(x)[1:], dtype_of(x))
    return _integral_of(value, x, _divide(one, _shift(_square(x), 1.0), order))


@_unary("arcsinh")
def _arcsinh_rule(x, value, order):
    """``arcsinh' = (x^2 + 1)^(-1/2)``."""
    return _integral_of(value, x, _inverse_square_root_of(_shift(_square(x), 1.0)))


@_unary("arccosh")
def _arccosh_rule(x, value, order):
    """``arccosh' = (x^2 - 1)^(-1/2)``."""
    return _integral_of(value, x, _inverse_square_root_of(_shift(_square(x), -1.0)))


@_unary("arctanh")
def _arctanh_rule(x, value, order):
    """``arctanh' = 1 / (1 - x^2)``."""
    one = np.ones((1,) + shape_of(x)[1:], dtype_of(x))
    return _integral_of(
        value, x, _divide(one, _shift(ew.negative(_square(x)), 1.0), order)
    )


@_unary("sigmoid")
def _sigmoid_rule(x, value, order):
    return _sigmoid(x)


@_unary("softplus")
def _softplus_rule(x, value, order):
    """``softplus' = sigmoid``."""
    return _integral_of(value, x, _sigmoid(x))


@_unary("erf")
def _erf_rule(x, value, order):
    """``erf' = 2/sqrt(pi) exp(-x^2)``."""
    g = _exp(ew.negative(_square(x)))
    return _integral_of(value, x, ew.multiply(g, 2.0 / math.sqrt(math.pi)))


# -- binary elementwise: products, quotients, powers -------------------------------------------

_scale_rule = first_order_rule(REGISTRY["multiply"])
_divide_by_constant_rule = first_order_rule(REGISTRY["divide"])


@_rule("multiply")
def _multiply_rule(primals, series, order):
    if series[0] is None or series[1] is None:  # scaling by a constant: linear
        return _scale_rule(primals, series, order)
    shape = _out_shape(primals)
    a, b = (_align(s, len(shape)) for s in series)
    return _with_value(_to_shape(_multiply(a, b), shape), ew.multiply(*primals))


@_rule("divide")
def _divide_rule(primals, series, order):
    if series[1] is None:  # division by a constant: linear
        return _divide_by_constant_rule(primals, series, order)
    shape = _out_shape(primals)
    a = _leading(primals[0]) if series[0] is None else series[0]
    quotient = _divide(_align(a, len(shape)), _align(series[1], len(shape)), order + 1)
    return _with_value(_to_shape(quotient, shape), ew.divide(*primals))


@_rule("power")
def _power_rule(primals, series, order):
    """``x^r`` by its recurrence (repeated squaring for an integer constant ``r``, exact at
    ``x_0 = 0``); a varying exponent as ``exp(b log a)`` (needs ``a > 0``)."""
    a, b = primals
    shape = _out_shape(primals)
    value = ew.power(a, b)
    if series[1] is None:
        x = _to_shape(series[0], shape)
        if not isinstance(b, Traced) and np.ndim(b) == 0 and float(b).is_integer():
            if b == 0:
                return None
            if abs(b) <= 1024:
                return _with_value(_integer_power(x, int(b)), value)
        return _power(x, b, value)
    if series[0] is None:
        exponent_series = ew.multiply(_align(series[1], len(shape)), ew.log(a))
    else:
        log_a = _log(series[0], ew.log(a))
        exponent_series = _multiply(_align(series[1], len(shape)), _align(log_a, len(shape)))
    return _exp(_to_shape(exponent_series, shape), st.broadcast_to(value, shape))


@_rule("arctan2")
def _arctan2_rule(primals, series, order):
    """``y' = (b a' - a b') / (a^2 + b^2)``."""
    shape = _out_shape(primals)
    a, b = (_full(p, s, order, len(shape)) for p, s in zip(primals, series))
    numerator = ew.subtract(_multiply(b, _derivative(a)), _multiply(a, _derivative(b)))
    denominator = ew.add(_square(a), _square(b))
    h = _to_shape(_divide(numerator, denominator, order), shape)
    return _integral(ew.arctan2(*primals), h)


@_rule("hypot")
def _hypot_rule(primals, series, order):
    """``sqrt(a^2 + b^2)``; at the origin (a kink, like ``abs``) the higher terms are 0."""
    shape = _out_shape(primals)
    a, b = (_full(p, s, order, len(shape)) for p, s in zip(primals, series))
    value = st.broadcast_to(ew.hypot(*primals), shape) if shape else ew.hypot(*primals)
    at_origin = np.asarray(primal_value(value) == 0)
    if not np.any(at_origin):
        return _to_shape(_sqrt(ew.add(_square(a), _square(b)), value), shape)
    safe_value = st.where(at_origin, np.ones((), dtype_of(value)), value)
    result = _to_shape(_sqrt(ew.add(_square(a), _square(b)), safe_value), shape)
    zero = np.zeros((), dtype_of(value))
    return st.where(np.broadcast_to(at_origin, shape_of(result)), zero, result)


@_rule("logaddexp")
def _logaddexp_rule(primals, series, order):
    """``logaddexp(a, b) = b + softplus(a - b)``: the higher terms from the sigmoid series,
    which stays accurate where the exponentials would under- or overflow."""
    shape = _out_shape(primals)
    a, b = (_to_shape(_full(p, s, order, len(shape)), shape) for p, s in zip(primals, series))
    difference = ew.subtract(a, b)
    softplus = _integral_of(0.0, difference, _sigmoid(difference))
    return _with_value(ew.add(b, softplus), ew.logaddexp(*primals))


# -- linear and locally linear primitives: the first-order rule on every coefficient ---------

for _name in (
    "add", "subtract", "negative", "absolute", "maximum", "minimum", "clip",
    "reshape", "transpose", "broadcast_to", "unbroadcast", "sum", "cumsum", "concatenate",
    "getitem", "scatter_add", "where", "max", "min",
):
    _RULES[_name] = first_order_rule(REGISTRY[_name])

for _name in ("sign", "floor", "ceil", "rint", "trunc"):
    _RULES[_name] = _locally_constant


# -- products and reductions of arrays ---------------------------------------------------------


@_rule("matmul")
def _matmul_rule(primals, series, order):
    """``[A B]_k = sum_j A_j @ B_(k-j)``: ``O(K^2)`` matrix products."""
    if series[0] is None or series[1] is None:  # a constant factor: linear
        return _matmul_by_constant_rule(primals, series, order)
    a, b = series
    coefficients = []
    for k in range(order + 1):
        total = None
        for j in range(k + 1):
            term = st.matmul(_coefficient(a, j), _coefficient(b, k - j))
            total = term if total is None else ew.add(total, term)
        coefficients.append(total)
    return _series(coefficients)


_matmul_by_constant_rule = first_order_rule(REGISTRY["matmul"])


@_rule("prod")
def _prod_rule(primals, series, order, axis=None, keepdims=False):
    """Cauchy products of pairs along the reduced axes, halving them each round."""
    (x,) = series
    value = st.reduce_prod(primals[0], axis=axis, keepdims=keepdims)
    ndim = len(shape_of(x)) - 1
    axes = st.normalize_axes(axis, ndim)
    kept = tuple(i for i in range(ndim) if i not in axes)
    moved = st.transpose(x, (0,) + tuple(1 + i for i in kept + axes))
    kept_shape = tuple(shape_of(x)[1 + i] for i in kept)
    factors = st.reshape(moved, shape_of(x)[:1] + kept_shape + (-1,))
    count = shape_of(factors)[-1]
    if count == 0:
        return None  # the empty product is the constant 1
    while count > 1:
        last = (Ellipsis, slice(count - 1, count))
        pairs = _multiply(
            st.getitem(factors, (Ellipsis, slice(0, count - 1, 2))),
            st.getitem(factors, (Ellipsis, slice(1, count, 2))),
        )
        factors = st.concatenate(pairs, st.getitem(factors, last), axis=-1) if count % 2 else pairs
        count = shape_of(factors)[-1]
    product = st.reshape(factors, shape_of(x)[:1] + shape_of(value))
    return _with_value(product, value)


@_rule("logsumexp")
def _logsumexp_rule(primals, series, order, axis=None, keepdims=False):
    """``y = y_0 + log(sum(exp(x - y_0)))``, the shift making every exponential at most 1."""
    (x,) = series
    value = st.logsumexp(primals[0], axis=axis, keepdims=keepdims)
    ndim = len(shape_of(x)) - 1
    axes = st.normalize_axes(axis, ndim)
    kept = tuple(1 if i in axes else s for i, s in enumerate(shape_of(x)[1:]))
    shifted = _shift(x, ew.negative(st.reshape(value, kept)))
    total = st.reduce_sum(_exp(shifted), axis=tuple(a + 1 for a in axes), keepdims=keepdims)
    return _log(total, value)


for _name, _fn in _RULES.items():
    REGISTRY[_name].taylor = _fn


# ----------------------------------------------------------------------------------------------
# the transform
# ----------------------------------------------------------------------------------------------


def _check_order(order) -> int:
    if isinstance(order, bool) or int(order) != order or order < 0:
        raise ValueError(f"order must be a non-negative integer, got {order!r}")
    return int(order)


def _input_series(x, direction, order: int):
    """``[x, direction, 0, ..., 0]``: the input polynomial ``x + direction t``."""
    shape, dtype = shape_of(x), dtype_of(x)
    if not isinstance(x, Traced) and not isinstance(direction, Traced):
        coefficients = np.zeros((order + 1,) + shape, dtype)
        coefficients[0] = x
        if order:
            coefficients[1] = direction
        return coefficients
    parts = [_leading(x)]
    if order:
        parts.append(_leading(direction))
    if order > 1:
        parts.append(np.zeros((order - 1,) + shape, dtype))
    return st.concatenate(*parts, axis=0)


def _output_series(leaf, level, order: int):
    if isinstance(leaf, Traced):
        owner = leaf._level
        if owner is level:
            return leaf.coefficients
        if not owner.active or owner.id > level.id:
            raise owner.escaped(type(leaf).__name__)
    else:
        leaf = as_float_value(leaf, "taylor output") if not isinstance(leaf, float) else leaf
    return _full(leaf, None, order, len(shape_of(leaf)))


def taylor(f, x, order: int, direction=None):
    """Taylor coefficients ``[f(x), f'(x), f''(x)/2!, ..., f^(order)(x)/order!]``.

    One pass of truncated Taylor polynomials through ``f`` (``O(order^2)`` per operation).  ``x``
    is a float or a floating array; for an array, the coefficients are those of
    ``t -> f(x + direction t)`` with ``direction`` all ones by default, so an elementwise ``f``
    gets each element's own derivatives.  Each entry has ``f(x)``'s structure (pytrees allowed).

    Example
    -------
    >>> import numpy as np, autodiff as ad
    >>> [round(c, 6) for c in ad.taylor(np.exp, 0.0, 4)]
    [1.0, 1.0, 0.5, 0.166667, 0.041667]
    """
    order = _check_order(order)
    if not isinstance(x, Traced):
        x = as_float_value(x, "taylor input")
    if direction is None:
        direction = 1.0 if type(x) is float else np.ones(shape_of(x), dtype_of(x))
    elif not isinstance(direction, Traced):
        direction = as_float_value(direction, "taylor direction", dtype_of(x))
    if shape_of(direction) != shape_of(x):
        raise ValueError(
            f"direction has shape {shape_of(direction)}, expected the input's {shape_of(x)}"
        )
    level = TaylorLevel(order)
    try:
        out = f(Taylor._make(_input_series(x, direction, order), level))
        leaves, treedef = flatten(out)
        per_leaf = [_output_series(leaf, level, order) for leaf in leaves]
    finally:
        level.close()
    python_float = type(x) is float
    return [
        unflatten(treedef, [_entry(c, k, python_float) for c in per_leaf])
        for k in range(order + 1)
    ]


def _entry(coefficients, k: int, python_float: bool):
    value = st.getitem(coefficients, k)
    if isinstance(value, Traced):
        return value
    if python_float and np.ndim(value) == 0 and np.result_type(value) == np.float64:
        return float(value)
    return np.array(value)


def derivative_by_taylor(f, x, order: int):
    """``f^(order)(x) = order! * (coefficient order)`` for ``f: R -> R`` (or ``R -> R^m``)."""
    order = _check_order(order)
    if shape_of(x) != ():
        raise ValueError(f"derivative needs a scalar input, got shape {shape_of(x)}")
    scale = float(math.factorial(order))
    return tree_map(lambda c: c * scale, taylor(f, x, order)[order])
