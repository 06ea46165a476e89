"""Taylor-series algebra and the Taylor rules of the rule table.

Coefficient arrays carry a leading *order axis*: ``a[k]`` multiplies ``t^k`` (see
:mod:`autodiff.forward.taylor` for the transform).  Everything here is written with primitives,
so a Taylor rule applied to traced values is itself traced.  The recurrences are the standard
ones of Griewank & Walther, *Evaluating Derivatives* (2nd ed., 2008), ch. 13; each costs
``O(K^2)`` per operation.

A primitive's declaration names its rule in its ``taylor`` slot: a function of this module
(``taylor=series.power``), a unary body wrapped by :func:`unary` (``taylor=series.exp``), or one
of the markers ``FIRST_ORDER`` (linear and locally linear primitives: :func:`first_order_rule`),
``FROM_JVP`` (any other primitive, from its own JVP: :func:`from_jvp_rule`),
``LOCALLY_CONSTANT`` or ``NO_TAYLOR``.

Primitives are reached through :data:`ops` (looked up by name when a rule runs): this module is
imported while the primitive modules are still declaring, so it cannot import them.
"""

from __future__ import annotations

import math

import numpy as np

from .primitive import REGISTRY, Traced, bind, dtype_of, normalize_axes, primal_value, shape_of


class _Primitives:
    """``ops.multiply(a, b)``: the registered primitive of that name, looked up when called."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return REGISTRY[name]
        except KeyError:
            raise AttributeError(name) from None


ops = _Primitives()


# ----------------------------------------------------------------------------------------------
# series algebra on coefficient arrays (leading order axis), written with primitives
# ----------------------------------------------------------------------------------------------


def _length(a) -> int:
    return shape_of(a)[0]


def _coefficient(a, k):
    return ops.getitem(a, k)


def _head(a, n):
    """Coefficients ``0 .. n-1``."""
    return ops.getitem(a, slice(0, n))


def _tail(a):
    """Coefficients ``1 ..``: ``(a - a_0) / t``."""
    return ops.getitem(a, slice(1, None))


def leading(value):
    """``value`` with a leading order axis of length 1."""
    return ops.reshape(value, (1,) + shape_of(value))


def _append(a, value):
    return ops.concatenate(a, leading(value), axis=0)


def _with_value(a, value):
    """``a`` with its order-0 coefficient replaced by ``value`` (an exactly computed one)."""
    if _length(a) == 1:
        return leading(value)
    return ops.concatenate(leading(value), _tail(a), axis=0)


def _shift(a, constant):
    """The series ``a + constant``: only the order-0 coefficient moves."""
    return _with_value(a, ops.add(_coefficient(a, 0), constant))


def _order_weights(a, start: int, stop: int):
    """``[start, ..., stop - 1]`` shaped to multiply coefficients ``start .. stop - 1`` of ``a``."""
    value_ndim = len(shape_of(a)) - 1
    weights = np.arange(start, stop, dtype=dtype_of(a))
    return weights.reshape((stop - start,) + (1,) * value_ndim)


def _convolution_at(a, b, k: int):
    """``[a b]_k = sum_(i=0..k) a_i b_(k-i)``: coefficient ``k`` of the product."""
    return ops.sum(
        ops.multiply(_head(a, k + 1), ops.getitem(b, slice(k, None, -1))), axis=0
    )


def _series(coefficients):
    """A coefficient array from a list of equally shaped coefficients."""
    return ops.concatenate(*[leading(c) for c in coefficients], axis=0)


def _multiply(a, b):
    """The Cauchy product, truncated to the shorter length."""
    n = min(_length(a), _length(b))
    return _series([_convolution_at(a, b, k) for k in range(n)])


def _divide(a, b, n: int):
    """``n`` coefficients of ``a / b``, from ``b c = a``; ``a`` may be shorter (zeros beyond)."""
    b0 = _coefficient(b, 0)
    c = leading(ops.divide(_coefficient(a, 0), b0))
    b_tail = _tail(b)
    for k in range(1, n):
        carried = _convolution_at(b_tail, c, k - 1)  # sum_(j=1..k) b_j c_(k-j)
        numerator = (
            ops.subtract(_coefficient(a, k), carried) if k < _length(a) else ops.negative(carried)
        )
        c = _append(c, ops.divide(numerator, b0))
    return c


def _derivative(a):
    """The derivative series ``a'``: coefficients ``(k + 1) a_(k+1)`` (one shorter)."""
    n = _length(a)
    return ops.multiply(_tail(a), _order_weights(a, 1, n))


def _integral(value, h):
    """``y`` with ``y_0 = value`` and ``y' = h``: ``y_k = h_(k-1) / k`` (one longer)."""
    n = _length(h)
    value = ops.broadcast_to(value, shape_of(h)[1:]) if shape_of(value) != shape_of(h)[1:] else value
    if n == 0:
        return leading(value)
    return ops.concatenate(leading(value), ops.divide(h, _order_weights(h, 1, n + 1)), axis=0)


def _integral_of(value, x, g):
    """``y = value + integral of g dx``, i.e. ``y' = g x'``, for a ``g`` independent of ``y``."""
    return _integral(value, _multiply(_derivative(x), g))


def _exp(x, value=None):
    """``y = exp(x)``: ``y' = y x'``, so ``y_k = (1/k) [x' y]_(k-1)``."""
    value = ops.exp(_coefficient(x, 0)) if value is None else value
    dx = _derivative(x)
    y = leading(value)
    for k in range(1, _length(x)):
        y = _append(y, ops.divide(_convolution_at(dx, y, k - 1), float(k)))
    return y


def _log(x, value, scale=1.0):
    """``y = log(x) * scale``: ``y' = scale x' / x``."""
    h = _divide(_derivative(x), x, _length(x) - 1)
    return _integral(value, h if scale == 1.0 else ops.multiply(h, scale))


def _sin_cos(x, sign: float = -1.0):
    """``(s, c)`` with ``s' = c x'`` and ``c' = sign s x'``: sin/cos (-1), sinh/cosh (+1)."""
    x0 = _coefficient(x, 0)
    if sign < 0:
        s, c = leading(ops.sin(x0)), leading(ops.cos(x0))
    else:
        s, c = leading(ops.sinh(x0)), leading(ops.cosh(x0))
    dx = _derivative(x)
    for k in range(1, _length(x)):
        s_k = ops.divide(_convolution_at(dx, c, k - 1), float(k))
        c_k = ops.divide(_convolution_at(dx, s, k - 1), sign * k)
        s, c = _append(s, s_k), _append(c, c_k)
    return s, c


def _tan_like(x, value, sign: float):
    """``y' = (1 + sign y^2) x'``: tan (+1) and tanh (-1), with ``g = 1 + sign y^2`` built along."""
    dx = _derivative(x)
    y = leading(value)
    g = leading(ops.add(1.0, ops.multiply(sign, ops.square(value))))
    n = _length(x)
    for k in range(1, n):
        y = _append(y, ops.divide(_convolution_at(dx, g, k - 1), float(k)))
        if k < n - 1:
            g = _append(g, ops.multiply(sign, _convolution_at(y, y, k)))
    return y


def _sqrt(x, value):
    """``y = sqrt(x)`` from ``y^2 = x``: ``y_k = (x_k - sum_(j=1..k-1) y_j y_(k-j)) / (2 y_0)``."""
    twice = ops.multiply(2.0, value)
    y = leading(value)
    for k in range(1, _length(x)):
        x_k = _coefficient(x, k)
        if k >= 2:
            y_tail = _tail(y)
            x_k = ops.subtract(x_k, _convolution_at(y_tail, y_tail, k - 2))
        y = _append(y, ops.divide(x_k, twice))
    return y


def _power(x, r, value):
    """``y = x^r`` for a constant ``r`` from ``x y' = r x' y`` (needs ``x_0 != 0``)::

        y_k = ((r + 1) sum_(j=1..k) j x_j y_(k-j) - k sum_(j=1..k) x_j y_(k-j)) / (k x_0)
    """
    x0 = _coefficient(x, 0)
    dx, x_tail = _derivative(x), _tail(x)
    r_plus_one = ops.add(r, 1.0)
    y = leading(value)
    for k in range(1, _length(x)):
        weighted = ops.multiply(r_plus_one, _convolution_at(dx, y, k - 1))
        plain = ops.multiply(float(k), _convolution_at(x_tail, y, k - 1))
        y = _append(y, ops.divide(ops.subtract(weighted, plain), ops.multiply(float(k), x0)))
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


def _sigmoid(x, value=None):
    """``s = sigmoid(x)`` from ``s' = s (1 - s) x'``, with ``g = s - s^2`` built along; the
    order-0 coefficient is ``value`` when given (``scipy.special.expit``'s own).

    ``1 - s`` cancels where ``s`` is near 1, so for ``x_0 > 0`` the series is computed for
    ``w = -x`` (where ``s(w) <= 1/2``) and mapped back with ``sigmoid(x) = 1 - sigmoid(-x)``.
    """
    x0 = _coefficient(x, 0)
    flip = np.where(np.asarray(primal_value(x0)) > 0, -1.0, 1.0).astype(dtype_of(x))
    w = ops.multiply(x, flip)
    dw = _derivative(w)
    s0 = ops.sigmoid(_coefficient(w, 0))
    s = leading(s0)
    g = leading(ops.subtract(s0, ops.square(s0)))
    n = _length(x)
    for k in range(1, n):
        s = _append(s, ops.divide(_convolution_at(dw, g, k - 1), float(k)))
        if k < n - 1:
            g = _append(g, ops.subtract(_coefficient(s, k), _convolution_at(s, s, k)))
    return _with_value(ops.multiply(s, flip), ops.sigmoid(x0) if value is None else value)


# ----------------------------------------------------------------------------------------------
# shapes: aligning operands of a broadcasting primitive
# ----------------------------------------------------------------------------------------------


def _out_shape(primals) -> tuple:
    return np.broadcast_shapes(*[shape_of(p) for p in primals])


def _out_dtype(primals):
    """NumPy's result dtype: Python scalars are weak (``float32 + 0.5`` is float32)."""
    return np.result_type(*[primal_value(p) for p in primals])


def _align(a, ndim: int):
    """Unit axes after the order axis, so ``a``'s value part broadcasts against ``ndim`` axes."""
    shape = shape_of(a)
    missing = ndim - (len(shape) - 1)
    if missing <= 0:
        return a
    return ops.reshape(a, shape[:1] + (1,) * missing + shape[1:])


def full_series(primal, series, order: int, ndim: int, dtype=None):
    """A coefficient array for an operand: its series, or ``[value, 0, ..., 0]`` for a constant
    (in ``dtype`` when given: a Python float next to float32 operands is float32, as in NumPy)."""
    if series is None:
        shape = shape_of(primal)
        if dtype is not None and not isinstance(primal, Traced):
            primal = np.asarray(primal, dtype)
        zeros = np.zeros((order,) + shape, dtype=dtype_of(primal))
        series = ops.concatenate(leading(primal), zeros, axis=0) if order else leading(primal)
    return _align(series, ndim)


def _to_shape(a, shape: tuple):
    """Broadcast the coefficients of ``a`` to ``shape`` (value part)."""
    target = shape_of(a)[:1] + tuple(shape)
    return a if shape_of(a) == target else ops.broadcast_to(_align(a, len(shape)), target)


# ----------------------------------------------------------------------------------------------
# the rules
# ----------------------------------------------------------------------------------------------

class _PerPrimitive:
    """A Taylor declaration completed with its primitive when the primitive is declared."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make

    def for_primitive(self, prim):
        return self.make(prim)


def _first_order(prim, primals, series, order, params):
    """Coefficients ``1..K`` through ``prim``'s JVP rule, the order axis as its batch axis."""
    out = bind(prim, *primals, **params)
    if order == 0:
        return leading(out)
    tangents = [None if s is None else _tail(s) for s in series]
    higher = prim.jvp(primals, tangents, out, **params)
    if higher is None:
        higher = np.zeros((order,) + shape_of(out), dtype=dtype_of(out))
    return ops.concatenate(leading(out), higher, axis=0)


def first_order_rule(prim):
    """The Taylor rule of a linear or locally linear primitive (``taylor=FIRST_ORDER``).

    Exact for linear primitives (``L(sum c_k t^k) = sum L(c_k) t^k``) and for the locally
    linear selections (``maximum``, ``abs``, ``clip``, ``max``/``min`` reductions) away from
    their kinks; at a kink the first-order convention of API.md's table applies to every order.
    """

    def rule(primals, series, order, **params):
        return _first_order(prim, primals, series, order, params)

    rule.__name__ = f"{prim.name}_taylor"
    return rule


#: ``taylor=FIRST_ORDER``: the declaring primitive's :func:`first_order_rule`.
FIRST_ORDER = _PerPrimitive(first_order_rule)


def LOCALLY_CONSTANT(primals, series, order, **params):  # noqa: N802 - a marker's name
    """``taylor=LOCALLY_CONSTANT`` (``sign``, ``floor``, ...): constant between jumps, so the
    output has no higher terms."""
    return None


def from_jvp_rule(prim):
    """The Taylor rule of any primitive from its own derivative rule (``taylor=FROM_JVP``).

    For ``y(t) = f(x_1(t), ..., x_n(t))`` the chain rule is a first-order ODE in ``t``::

        y' = J(x(t)) x'(t) = sum_i d_i f(x(t)) x_i'(t),   so
        y_k = (1/k) sum_i sum_(j=1..k) j x_(i,j) [d_i f(x(t))]_(k-j),

    the recurrence of Griewank & Walther, *Evaluating Derivatives* (2nd ed., 2008), ch. 13, with
    the series of the partials ``d_i f(x(t))`` to order ``K - 1`` taken by Taylor mode itself:
    ``prim.jvp`` (for an elementwise primitive, the sum over its declared partials times the
    tangents) is evaluated on Taylor values ``x(t)`` and ``x'(t)`` of order ``K - 1``, and ``y``
    is the integral of the result.  A partial that reads the output (``expit' = y (1 - y)``,
    ``erfinv' = sqrt(pi)/2 exp(y^2)``) is evaluated by fixed-point (Picard) iteration: with
    ``y`` right to order ``m``, the partial's series is right to order ``m`` and its integral
    gives ``y`` right to order ``m + 1``, so ``K`` evaluations; a partial of the inputs only
    (``digamma' = polygamma(1, .)``) takes one.  Parts of the partial that do not read the
    output (``i0(x)`` in ``i1' = i0(x) - i1(x)/x``) are computed once and reused by the
    :class:`~autodiff.forward.taylor.ReevaluatingTaylorLevel`, so chains of partials of partials
    (``digamma -> polygamma(1) -> polygamma(2) -> ...``, ``i1 -> i0 -> i1 -> ...``) cost a
    polynomial in ``K``: one nested level per order, each ``O(K)`` series operations of
    ``O(K^2)``.  Not so for a JVP that applies such an iterating primitive to the output itself
    (``dX = A^{-1} (dB - dA X)`` of a triangular solve): every evaluation would open an iteration
    one order lower, ``K!`` in all; such a primitive declares a closed rule (``solve`` and
    ``solve_triangular`` solve order by order), and those calling it (``cholesky``, ``qr``)
    stay polynomial.
    """

    def rule(primals, series, order, **params):
        return _from_jvp(prim, primals, series, order, params)

    rule.__name__ = f"{prim.name}_taylor"
    return rule


def _from_jvp(prim, primals, series, order, params):
    from ..forward.taylor import ReevaluatingTaylorLevel  # Taylor mode imports this module

    value = bind(prim, *primals, **params)
    if order == 0:
        return leading(value)
    shape = shape_of(value)
    level = ReevaluatingTaylorLevel(order - 1)
    try:
        inputs = [p if s is None else level.fixed(_head(s, order)) for p, s in zip(primals, series)]
        rates = [None if s is None else level.fixed(_derivative(s)) for s in series]
        guess = full_series(value, None, order - 1, len(shape))  # y = y_0 + O(t)
        for _ in range(order):
            slope = prim.jvp(inputs, rates, level.varying(guess), **params)
            if slope is None:
                return None  # locally constant
            y = _integral(value, _to_shape(level.coefficients(slope), shape))
            if not level.varies(slope):
                break  # the partials do not read the output: y is exact to order K
            guess = _head(y, order)
    finally:
        level.close()
    return y


#: ``taylor=FROM_JVP``: the declaring primitive's :func:`from_jvp_rule`.
FROM_JVP = _PerPrimitive(from_jvp_rule)


def from_jvp_away_from_zero(radius: float, near_zero):
    """``FROM_JVP`` for a unary primitive whose partial divides by ``x`` (``sinc' = (cos(pi x) -
    sinc(x)) / x``, ``i1' = i0(x) - i1(x)/x``): the series of ``y / x`` amplifies rounding by
    ``|x_1 / x_0|`` per order, without bound as ``x_0 -> 0`` (and the partial's limit at 0 is a
    constant, which has no higher terms).  Where ``|x_0| < radius`` the coefficients are
    ``near_zero(x, order)`` instead, from the function's power series at 0; each branch sees a
    harmless stand-in for the other's elements (the double-``where``)."""

    def make(prim):
        far = from_jvp_rule(prim)

        def rule(primals, series, order):
            (x,) = series
            near = np.abs(np.asarray(primal_value(primals[0]))) < radius
            value = bind(prim, primals[0])
            if not np.any(near):
                return far(primals, series, order)
            if np.all(near):
                return _with_value(near_zero(x, order), value)
            stand_in = np.zeros(shape_of(x), dtype_of(x))
            stand_in[0] = radius
            mask = np.broadcast_to(near, shape_of(x))
            x_far = ops.where(mask, stand_in, x)
            far_series = far([_coefficient(x_far, 0)], [x_far], order)
            near_series = near_zero(ops.where(mask, x, np.zeros_like(stand_in)), order)
            return _with_value(ops.where(mask, near_series, far_series), value)

        rule.__name__ = f"{prim.name}_taylor"
        return rule

    return _PerPrimitive(make)


def _power_series(v, coefficients):
    """``sum_n coefficients[n] v^n`` for a series ``v`` (Horner: one Cauchy product a term)."""
    total = _shift(ops.multiply(v, coefficients[-1]), coefficients[-2])
    for c in reversed(coefficients[:-2]):
        total = _shift(_multiply(total, v), c)
    return total


def _terms(order: int) -> int:
    """Power-series terms in ``v = x^2`` for coefficients to ``order``, ``|v_0| <= 1``: the tail
    beyond ``order/2 + 14`` terms is below ``1/28!`` relative."""
    return order // 2 + 14


def sinc_near_zero(x, order):
    """``sinc(x) = sum_n (-1)^n (pi x)^(2n) / (2n + 1)!`` (``|pi x_0| < pi/2``: the terms
    alternate, their sum of moduli ``sinh(pi x)/(pi x)`` at most 1.5 times the value)."""
    u = ops.multiply(x, math.pi)
    coefficients = [(-1.0) ** n / math.factorial(2 * n + 1) for n in range(_terms(order))]
    return _power_series(_square(u), coefficients)


def i1_near_zero(x, order):
    """``I_1(x) = (x/2) sum_m (x^2/4)^m / (m! (m + 1)!)`` (Abramowitz & Stegun 9.6.10), all
    terms positive."""
    half = ops.multiply(x, 0.5)
    coefficients = [1.0 / (math.factorial(m) * math.factorial(m + 1)) for m in range(_terms(order))]
    return _multiply(half, _power_series(_square(half), coefficients))


def i1e_near_zero(x, order):
    """``i1e(x) = I_1(x) e^{-|x|}``, ``|x| = sign(x_0) x`` (``abs'(0) = 0``, as API.md)."""
    flip = np.sign(np.asarray(primal_value(_coefficient(x, 0)))).astype(dtype_of(x))
    return _multiply(i1_near_zero(x, order), _exp(ops.multiply(x, -flip)))


def unary(body):
    """A unary rule ``body(x, value, order)``, ``value = prim(x_0)`` computed exactly."""

    def make(prim):
        def rule(primals, series, order):
            (x,) = series
            return body(x, bind(prim, primals[0]), order)

        rule.__name__ = f"{prim.name}_taylor"
        return rule

    return _PerPrimitive(make)


@unary
def exp(x, value, order):
    return _exp(x, value)


@unary
def expm1(x, value, order):
    return _with_value(_exp(x), value)


@unary
def exp2(x, value, order):
    return _exp(ops.multiply(x, math.log(2.0)), value)


@unary
def log(x, value, order):
    return _log(x, value)


@unary
def log2(x, value, order):
    return _log(x, value, 1.0 / math.log(2.0))


@unary
def log10(x, value, order):
    return _log(x, value, 1.0 / math.log(10.0))


@unary
def log1p(x, value, order):
    return _log(_shift(x, 1.0), value)


@unary
def sqrt(x, value, order):
    return _sqrt(x, value)


@unary
def cbrt(x, value, order):
    return _power(x, 1.0 / 3.0, value)


@unary
def reciprocal(x, value, order):
    one = np.ones((1,) + shape_of(x)[1:], dtype_of(x))
    return _with_value(_divide(one, x, order + 1), value)


@unary
def square(x, value, order):
    return _with_value(_square(x), value)


@unary
def sin(x, value, order):
    return _sin_cos(x, -1.0)[0]


@unary
def cos(x, value, order):
    return _sin_cos(x, -1.0)[1]


@unary
def sinh(x, value, order):
    return _sin_cos(x, 1.0)[0]


@unary
def cosh(x, value, order):
    return _sin_cos(x, 1.0)[1]


@unary
def tan(x, value, order):
    return _tan_like(x, value, 1.0)


@unary
def tanh(x, value, order):
    return _tan_like(x, value, -1.0)


def _inverse_square_root_of(u):
    """``u^(-1/2)``, the derivative of arcsin, arcsinh and arccosh."""
    return _power(u, -0.5, ops.reciprocal(ops.sqrt(_coefficient(u, 0))))


@unary
def arcsin(x, value, order):
    """``arcsin' = (1 - x^2)^(-1/2)``."""
    return _integral_of(value, x, _inverse_square_root_of(_shift(ops.negative(_square(x)), 1.0)))


@unary
def arccos(x, value, order):
    """``arccos' = -(1 - x^2)^(-1/2)``."""
    g = _inverse_square_root_of(_shift(ops.negative(_square(x)), 1.0))
    return _integral_of(value, x, ops.negative(g))


@unary
def arctan(x, value, order):
    """``arctan' = 1 / (1 + x^2)``."""
    one = np.ones((1,) + shape_of(x)[1:], dtype_of(x))
    return _integral_of(value, x, _divide(one, _shift(_square(x), 1.0), order))


@unary
def arcsinh(x, value, order):
    """``arcsinh' = (x^2 + 1)^(-1/2)``."""
    return _integral_of(value, x, _inverse_square_root_of(_shift(_square(x), 1.0)))


@unary
def arccosh(x, value, order):
    """``arccosh' = (x^2 - 1)^(-1/2)``."""
    return _integral_of(value, x, _inverse_square_root_of(_shift(_square(x), -1.0)))


@unary
def arctanh(x, value, order):
    """``arctanh' = 1 / (1 - x^2)``."""
    one = np.ones((1,) + shape_of(x)[1:], dtype_of(x))
    return _integral_of(
        value, x, _divide(one, _shift(ops.negative(_square(x)), 1.0), order)
    )


@unary
def sigmoid(x, value, order):
    return _sigmoid(x, value)


@unary
def softplus(x, value, order):
    """``softplus' = sigmoid``."""
    return _integral_of(value, x, _sigmoid(x))


@unary
def erf(x, value, order):
    """``erf' = 2/sqrt(pi) exp(-x^2)``."""
    g = _exp(ops.negative(_square(x)))
    return _integral_of(value, x, ops.multiply(g, 2.0 / math.sqrt(math.pi)))


# -- binary elementwise: products, quotients, powers -------------------------------------------



def multiply(primals, series, order):
    if series[0] is None or series[1] is None:  # scaling by a constant: linear
        return _first_order(REGISTRY["multiply"], primals, series, order, {})
    shape = _out_shape(primals)
    a, b = (_align(s, len(shape)) for s in series)
    return _with_value(_to_shape(_multiply(a, b), shape), ops.multiply(*primals))


def divide(primals, series, order):
    if series[1] is None:  # division by a constant: linear
        return _first_order(REGISTRY["divide"], primals, series, order, {})
    shape = _out_shape(primals)
    a = full_series(primals[0], None, 0, 0, _out_dtype(primals)) if series[0] is None else series[0]
    quotient = _divide(_align(a, len(shape)), _align(series[1], len(shape)), order + 1)
    return _with_value(_to_shape(quotient, shape), ops.divide(*primals))


def power(primals, series, order):
    """``x^r`` by its recurrence (repeated squaring for an integer constant ``r``, exact at
    ``x_0 = 0``); a varying exponent as ``exp(b log a)`` (needs ``a > 0``)."""
    a, b = primals
    shape = _out_shape(primals)
    value = ops.power(a, b)
    if series[1] is None:
        x = _to_shape(series[0], shape)
        if not isinstance(b, Traced) and np.ndim(b) == 0 and float(b).is_integer():
            if b == 0:
                return None
            if abs(b) <= 1024:
                return _with_value(_integer_power(x, int(b)), value)
        return _power(x, b, value)
    if series[0] is None:
        exponent_series = ops.multiply(_align(series[1], len(shape)), ops.log(a))
    else:
        log_a = _log(series[0], ops.log(a))
        exponent_series = _multiply(_align(series[1], len(shape)), _align(log_a, len(shape)))
    return _exp(_to_shape(exponent_series, shape), ops.broadcast_to(value, shape))


def arctan2(primals, series, order):
    """``y' = (b a' - a b') / (a^2 + b^2)``."""
    shape, dtype = _out_shape(primals), _out_dtype(primals)
    a, b = (full_series(p, s, order, len(shape), dtype) for p, s in zip(primals, series))
    numerator = ops.subtract(_multiply(b, _derivative(a)), _multiply(a, _derivative(b)))
    denominator = ops.add(_square(a), _square(b))
    h = _to_shape(_divide(numerator, denominator, order), shape)
    return _integral(ops.arctan2(*primals), h)


def hypot(primals, series, order):
    """``sqrt(a^2 + b^2)``; at the origin (a kink, like ``abs``) the higher terms are 0."""
    shape, dtype = _out_shape(primals), _out_dtype(primals)
    a, b = (full_series(p, s, order, len(shape), dtype) for p, s in zip(primals, series))
    value = ops.broadcast_to(ops.hypot(*primals), shape) if shape else ops.hypot(*primals)
    at_origin = np.asarray(primal_value(value) == 0)
    if not np.any(at_origin):
        return _to_shape(_sqrt(ops.add(_square(a), _square(b)), value), shape)
    safe_value = ops.where(at_origin, np.ones((), dtype_of(value)), value)
    result = _to_shape(_sqrt(ops.add(_square(a), _square(b)), safe_value), shape)
    zero = np.zeros((), dtype_of(value))
    return ops.where(np.broadcast_to(at_origin, shape_of(result)), zero, result)


def logaddexp(primals, series, order):
    """``logaddexp(a, b) = b + softplus(a - b)``: the higher terms from the sigmoid series,
    which stays accurate where the exponentials would under- or overflow."""
    return _logaddexp(primals, series, order, ops.logaddexp(*primals), 1.0)


def logaddexp2(primals, series, order):
    """``logaddexp2(a, b) = b + softplus((a - b) ln 2) / ln 2``, whose derivative is
    ``b' + sigmoid((a - b) ln 2) (a - b)'``."""
    return _logaddexp(primals, series, order, ops.logaddexp2(*primals), math.log(2.0))


def _logaddexp(primals, series, order, value, log_base):
    shape, dtype = _out_shape(primals), _out_dtype(primals)
    a, b = (_to_shape(full_series(p, s, order, len(shape), dtype), shape) for p, s in zip(primals, series))
    difference = ops.subtract(a, b)
    scaled = difference if log_base == 1.0 else ops.multiply(difference, log_base)
    softplus = _integral_of(np.zeros((), dtype), difference, _sigmoid(scaled))
    return _with_value(ops.add(b, softplus), value)


# -- linear and locally linear primitives: the first-order rule on every coefficient ---------

# -- products and reductions of arrays ---------------------------------------------------------


def matmul(primals, series, order):
    """``[A B]_k = sum_j A_j @ B_(k-j)``: ``O(K^2)`` matrix products."""
    if series[0] is None or series[1] is None:  # a constant factor: linear
        return _first_order(REGISTRY["matmul"], primals, series, order, {})
    a, b = series
    coefficients = []
    for k in range(order + 1):
        total = None
        for j in range(k + 1):
            term = ops.matmul(_coefficient(a, j), _coefficient(b, k - j))
            total = term if total is None else ops.add(total, term)
        coefficients.append(total)
    return _series(coefficients)


def prod(primals, series, order, axis=None, keepdims=False):
    """Cauchy products of pairs along the reduced axes, halving them each round."""
    (x,) = series
    value = ops.prod(primals[0], axis=axis, keepdims=keepdims)
    ndim = len(shape_of(x)) - 1
    axes = normalize_axes(axis, ndim)
    kept = tuple(i for i in range(ndim) if i not in axes)
    moved = ops.transpose(x, (0,) + tuple(1 + i for i in kept + axes))
    kept_shape = tuple(shape_of(x)[1 + i] for i in kept)
    factors = ops.reshape(moved, shape_of(x)[:1] + kept_shape + (-1,))
    count = shape_of(factors)[-1]
    if count == 0:
        return None  # the empty product is the constant 1
    while count > 1:
        last = (Ellipsis, slice(count - 1, count))
        pairs = _multiply(
            ops.getitem(factors, (Ellipsis, slice(0, count - 1, 2))),
            ops.getitem(factors, (Ellipsis, slice(1, count, 2))),
        )
        factors = ops.concatenate(pairs, ops.getitem(factors, last), axis=-1) if count % 2 else pairs
        count = shape_of(factors)[-1]
    product = ops.reshape(factors, shape_of(x)[:1] + shape_of(value))
    return _with_value(product, value)


def logsumexp(primals, series, order, axis=None, keepdims=False):
    """``y = y_0 + log(sum(exp(x - y_0)))``, the shift making every exponential at most 1."""
    (x,) = series
    value = ops.logsumexp(primals[0], axis=axis, keepdims=keepdims)
    ndim = len(shape_of(x)) - 1
    axes = normalize_axes(axis, ndim)
    kept = tuple(1 if i in axes else s for i, s in enumerate(shape_of(x)[1:]))
    shifted = _shift(x, ops.negative(ops.reshape(value, kept)))
    total = ops.sum(_exp(shifted), axis=tuple(a + 1 for a in axes), keepdims=keepdims)
    return _log(total, value)
