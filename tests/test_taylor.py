"""Taylor mode: ``ad.taylor`` and ``ad.derivative`` at high order.

References are independent of the Taylor rules: SymPy's Taylor coefficients for compositions and
for ``ad.derivative``; for every elementwise primitive, its SymPy declaration from
``rule_domains.py`` evaluated by mpmath at 50 digits and differentiated by ``mpmath.taylor``; for
array primitives, nested dual numbers (the JVP rules).
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import pytest
import scipy.special as sc
import sympy as sp
from rule_domains import ELEMENTWISE_SPECS

import autodiff as ad
from autodiff import custom
from autodiff.forward.taylor import MissingTaylorRuleError
from autodiff.levels import EscapedTracerError
from autodiff.rules import elementwise as ew
from autodiff.rules.elementwise import ELEMENTWISE
from autodiff.rules.primitive import REGISTRY

X = sp.Symbol("x", real=True)


@functools.cache
def sympy_taylor_coefficients(expr, x0, order: int) -> tuple:
    """SymPy's Taylor coefficients ``f^(k)(x0) / k!`` of ``expr`` in ``X``.

    At ``x0 = 0`` from ``sp.series``; elsewhere from ``sp.diff`` (``series`` around a point other
    than 0 returns the same numbers, but takes minutes for some of these compositions).
    """
    if x0 == 0:
        polynomial = sp.series(expr, X, 0, order + 1).removeO()
        return tuple(float(polynomial.coeff(X, k)) for k in range(order + 1))
    coefficients, derivative = [], expr
    with mpmath.workdps(40):
        for k in range(order + 1):
            value = sp.lambdify(X, derivative, "mpmath")(mpmath.mpf(x0))
            coefficients.append(float(value / mpmath.factorial(k)))
            derivative = sp.diff(derivative, X)
    return tuple(coefficients)


def assert_coefficients(actual, expected, rtol=1e-12):
    """Each coefficient to ``rtol`` relative, or to ``rtol`` times the largest one."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# ----------------------------------------------------------------------------------------------
# compositions against SymPy, to order 12
# ----------------------------------------------------------------------------------------------

COMPOSITIONS = {
    "exp(sin x)": (lambda x: np.exp(np.sin(x)), sp.exp(sp.sin(X)), 0.3),
    "log(1+x^2) atan x": (
        lambda x: np.log(1 + x**2) * np.arctan(x), sp.log(1 + X**2) * sp.atan(X), 0.0
    ),
    "x^x": (lambda x: x**x, X**X, 1.3),
    "tanh(cos x)": (lambda x: np.tanh(np.cos(x)), sp.tanh(sp.cos(X)), 0.0),
    "sqrt(1+x^2)/(2+sin x)": (
        lambda x: np.sqrt(1 + x**2) / (2 + np.sin(x)), sp.sqrt(1 + X**2) / (2 + sp.sin(X)), 0.0
    ),
    "arcsin(x/2) exp(-x^2)": (
        lambda x: np.arcsin(x / 2) * np.exp(-(x**2)), sp.asin(X / 2) * sp.exp(-(X**2)), 0.0
    ),
    "1/(1+x) + cosh(x)^3": (lambda x: 1 / (1 + x) + np.cosh(x) ** 3, 1 / (1 + X) + sp.cosh(X) ** 3, 0.0),
}


@pytest.mark.parametrize("name", sorted(COMPOSITIONS))
def test_compositions_match_sympy_to_order_12(name):
    f, expr, x0 = COMPOSITIONS[name]
    expected = sympy_taylor_coefficients(expr, x0, 12)
    assert_coefficients(ad.taylor(f, x0, 12), expected, rtol=1e-12)


def test_thirtieth_derivative_of_one_over_one_plus_x():
    x0 = 0.5
    exact = math.factorial(30) / (1 + x0) ** 31  # (-1)^30 = 1
    assert ad.derivative(lambda x: 1 / (1 + x), x0, order=30) == pytest.approx(exact, rel=1e-13)
    coefficient = ad.taylor(lambda x: 1 / (1 + x), x0, 30)[30]
    assert coefficient == pytest.approx(1 / (1 + x0) ** 31, rel=1e-13)
    assert ad.derivative(lambda x: 1 / (1 + x), x0, order=29) < 0  # odd orders are negative


# ----------------------------------------------------------------------------------------------
# every elementwise primitive against its SymPy declaration
# ----------------------------------------------------------------------------------------------

_MPMATH_MODULES = [{"Expm1": mpmath.expm1, "Log1p": mpmath.log1p, "sign": mpmath.sign}, "mpmath"]
_DIRECTIONS = (1.0, 0.7, -0.4)
_FRACTIONS = (0.37, 0.71, 0.53, 0.19, 0.88)


def _point(spec, interval_index):
    """A point of the declared safe domain that passes the declaration's ``valid`` check."""
    for fraction in _FRACTIONS:
        point = []
        for i, intervals in enumerate(spec.domain):
            lo, hi = intervals[interval_index % len(intervals)]
            point.append(lo + (hi - lo) * ((fraction + 0.11 * i) % 1.0))
        if spec.valid is None or np.all(spec.valid(*point)):
            return point
    raise AssertionError("no valid point found")


@pytest.mark.parametrize("interval_index", [0, 1])
@pytest.mark.parametrize("name", sorted(ELEMENTWISE_SPECS))
def test_every_elementwise_rule_against_its_declaration(name, interval_index):
    spec = ELEMENTWISE_SPECS[name]
    prim = ELEMENTWISE[name]
    point = _point(spec, interval_index)
    directions = _DIRECTIONS[: len(point)]
    symbols = sp.symbols(f"a0:{len(point)}", real=True)
    exact = sp.lambdify(symbols, spec.sympy(*symbols), modules=_MPMATH_MODULES)
    order = 8
    with mpmath.workdps(50):
        p = [mpmath.mpf(v) for v in point]
        d = [mpmath.mpf(v) for v in directions]
        expected = mpmath.taylor(lambda t: exact(*[a + b * t for a, b in zip(p, d)]), 0, order)
        expected = [float(c) for c in expected]
    actual = ad.taylor(
        lambda t: prim(*[a + b * t for a, b in zip(point, directions)]), 0.0, order
    )
    assert_coefficients(actual, expected, rtol=1e-11)


def test_every_elementwise_primitive_declares_a_taylor_rule():
    missing = sorted(name for name, prim in ELEMENTWISE.items() if prim.taylor is None)
    assert not missing, f"elementwise primitives without a Taylor rule: {missing}"


@pytest.mark.parametrize(
    "f",
    [np.sin, np.exp, np.tanh, np.arctan, lambda x: x**3, lambda x: x / (1 + x**2), np.abs],
    ids=["sin", "exp", "tanh", "arctan", "cube", "rational", "abs"],
)
def test_array_inputs_work_elementwise(f):
    """Each element's coefficients are, bit for bit, those of that element alone.

    The element alone is a one-element array, so both go through NumPy's kernels: a Python float
    takes ``math``'s (the scalar fast path), and ``math.tanh(-1.5)`` is correctly rounded where
    ``np.tanh(-1.5)`` is one ulp off.  The recurrences start from that value, so the float path
    gives the coefficients at a point 6e-16 away; coefficient 5 of tanh at -1.5 is small
    (-0.00266) next to its slope ``6 c_6 = -0.043`` and moves by 1.1e-14 relative.
    """
    x = np.array([[-1.5, -0.2, 0.0], [0.4, 1.0, 2.5]])
    coefficients = ad.taylor(f, x, 6)
    for index in np.ndindex(x.shape):
        alone = ad.taylor(f, x[index].reshape(1), 6)
        np.testing.assert_array_equal([c[index] for c in coefficients], [c[0] for c in alone])
        as_float = ad.taylor(f, float(x[index]), 6)  # math's value: a few ulp, amplified
        np.testing.assert_allclose([c[index] for c in coefficients], as_float, rtol=1e-13)


# ----------------------------------------------------------------------------------------------
# the rule from the derivative rule (series.FROM_JVP): cost, arrays, float32, near zero
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f, x0",
    [(sc.digamma, 1.3), (sc.gamma, 1.3), (sc.i1, 2.7), (sc.erfinv, 0.3),
     (lambda s: np.linalg.cholesky(_SPD + s * (_M + _M.T)), 0.3)],
    ids=["digamma", "gamma", "i1", "erfinv", "cholesky"],
)
def test_rule_from_the_jvp_costs_a_polynomial_in_the_order(evaluations, f, x0):
    """digamma's partials are polygamma(1), polygamma(2), ... (one nested level per order);
    gamma's and erfinv's read the output (fixed-point iteration); i1's reads the output and i0,
    whose partial is i1 again; cholesky's JVP solves with its output (a closed rule, so no
    nested iteration).  Exponential growth would be 2^8 = 256x from order 8 to 16."""
    cost = {k: evaluations(lambda k=k: ad.taylor(f, x0, k)) for k in (8, 16)}
    assert cost[16]["calls"] <= 8 * cost[8]["calls"]  # at most cubic in the order
    assert cost[16]["elements"] <= 16 * cost[8]["elements"]  # at most quartic


_FROM_JVP_ARRAYS = {
    "gamma": (sc.gamma, np.array([[0.3, 1.0, 2.5], [4.0, 0.7, 1.9]])),
    "erfinv": (sc.erfinv, np.array([[-0.8, -0.2, 0.0], [0.1, 0.5, 0.9]])),
    "log_ndtr": (sc.log_ndtr, np.array([[-6.0, -1.0, -0.1], [0.0, 0.5, 3.0]])),
    "i1e": (sc.i1e, np.array([[-6.0, -1.0, 0.3], [1e-4, 2.5, 9.0]])),
    "sinc": (np.sinc, np.array([[-2.3, -0.4, 0.0], [1e-4, 0.6, 3.2]])),
    "xlogy": (lambda x: sc.xlogy(x, 1.5 + x), np.array([[-0.9, 0.0, 0.3], [1.0, 2.0, 4.0]])),
}


@pytest.mark.parametrize("name", sorted(_FROM_JVP_ARRAYS))
def test_rule_from_the_jvp_on_arrays_and_float32(name):
    """Mixed branches in one array (log_ndtr's sign, i1e's and sinc's power series near 0):
    each element as alone, to rounding order (NumPy sums a contiguous run of eight or more
    terms pairwise, a strided one in sequence); float32 stays float32."""
    f, x = _FROM_JVP_ARRAYS[name]
    coefficients = np.array(ad.taylor(f, x, 8))
    for index in np.ndindex(x.shape):
        alone = np.array(ad.taylor(f, float(x[index]), 8))
        column = coefficients[(slice(None),) + index]
        np.testing.assert_allclose(column, alone, rtol=1e-14, atol=1e-14 * np.max(np.abs(alone)))
    single = ad.taylor(f, x.astype(np.float32), 8)
    assert all(c.dtype == np.float32 for c in single)
    scale = np.max(np.abs(coefficients), axis=0)
    assert np.all(np.abs(np.array(single) - coefficients) <= 1e-4 * scale)


def test_custom_elementwise_primitives_get_the_rule_from_their_partials():
    """``x / (1 + |x|)`` is ``1 - 1/(1 + x)`` for ``x > 0``: ``c_k = -(-1)^k / 1.5^(k+1)``."""
    softsign = custom.elementwise(
        "test_taylor_softsign", lambda x: x / (1 + np.abs(x)),
        partials=[lambda x, y: 1 / (1 + np.abs(x)) ** 2],
    )
    try:
        expected = [1 / 3] + [-((-1) ** k) / 1.5 ** (k + 1) for k in range(1, 9)]
        assert_coefficients(ad.taylor(softsign, 0.5, 8), expected, rtol=1e-14)
    finally:
        custom.unregister(softsign)


_NEAR_ZERO = {
    "sinc": (np.sinc, lambda x: mpmath.sinc(mpmath.pi * x)),
    "i1": (sc.i1, lambda x: mpmath.besseli(1, x)),
    "i1e": (sc.i1e, lambda x: mpmath.besseli(1, x) * mpmath.exp(-abs(x))),
}


@pytest.mark.parametrize("x0", [0.0, 1e-4, 0.3, 0.6, 2.5])
@pytest.mark.parametrize("name", sorted(_NEAR_ZERO))
def test_partials_dividing_by_x_use_the_power_series_near_zero(name, x0):
    """``sinc' = (cos(pi x) - sinc x)/x`` and ``i1' = i0 - i1/x`` lose a factor ``1/x_0`` per
    order near 0 (and are a constant at 0): there the power series gives the coefficients."""
    f, exact = _NEAR_ZERO[name]
    if name == "i1e" and x0 == 0.0:
        x0 = -1e-4  # e^{-|x|} has a kink at 0
    with mpmath.workdps(50):
        expected = [float(c) for c in mpmath.taylor(exact, mpmath.mpf(x0), 14)]
    assert_coefficients(ad.taylor(f, x0, 14), expected, rtol=1e-13)


@pytest.mark.parametrize("f, x0", [(sc.digamma, 1.3), (sc.erfinv, 0.4)], ids=["digamma", "erfinv"])
def test_gradient_of_a_coefficient_from_the_jvp_rule(f, x0):
    slope = ad.grad(lambda x: ad.taylor(f, x, 4)[4])(x0)
    assert slope == pytest.approx(5 * ad.taylor(f, x0, 5)[5], rel=1e-12)


# ----------------------------------------------------------------------------------------------
# array primitives against nested duals
# ----------------------------------------------------------------------------------------------

_RNG = np.random.default_rng(7)
_A = _RNG.normal(size=(3, 4))
_B = _RNG.normal(size=(4, 2))
_V = _RNG.normal(size=4)
_M = _RNG.normal(size=(4, 4))
_SPD = _M @ _M.T + 4 * np.eye(4)

ARRAY_PROGRAMS = {
    "sum": lambda s: np.sum(np.sin(_A * s), axis=0),
    "sum keepdims": lambda s: np.sum(np.exp(_A * s), axis=1, keepdims=True),
    "reshape, transpose": lambda s: np.cos(_A * s).reshape(4, 3).T,
    "getitem": lambda s: np.tanh(_A * s)[1:, ::-1][:, np.array([0, 2, 2, 1])],
    "bool mask": lambda s: np.exp(_A * s)[_A > 0],
    "matmul, both varying": lambda s: np.sin(_A * s) @ np.cos(_B * s),
    "matmul, constant factor": lambda s: _A @ np.exp(_V * s),
    "matrix-vector": lambda s: np.exp(_A * s) @ np.sin(_V * s),
    "vector-vector": lambda s: np.exp(_V * s) @ np.sin(_V * s + 1),
    "prod": lambda s: np.prod(1 + _A * s, axis=1),
    "prod all": lambda s: np.prod(np.cos(_A * s + 0.1)),
    "cumsum": lambda s: np.cumsum(np.sin(_A * s), axis=1),
    "concatenate": lambda s: np.concatenate([np.sin(_A * s), _A, np.exp(_A * s)], axis=0),
    "stack": lambda s: ad.stack([np.sin(s), s**2, 1.0 + 0 * s]),
    "where": lambda s: np.where(_A > 0, np.sin(_A * s), np.exp(s) * 2),
    "max": lambda s: np.max(np.sin(_A * s + _A), axis=1),
    "min": lambda s: np.min(np.sin(_A * s + _A)),
    "logsumexp": lambda s: ad.logsumexp(_A * s + _A, axis=1),
    "broadcast_to": lambda s: np.broadcast_to(np.sin(_V * s), (3, 4)) * _A,
    "mean": lambda s: np.mean(np.exp(_A * s)),
    "integer power": lambda s: (s * _V) ** 3,
    "array exponent": lambda s: np.exp(s * _V) ** np.array([0.5, 2.0, -1.5, 3.0]),
    "varying exponent": lambda s: (2 + np.sin(s)) ** (_V * s),
    "constant base": lambda s: 2.0 ** (_V * s),
    "grad inside": lambda s: ad.grad(lambda w: np.sum(np.sin(w * s) ** 2))(_V),
    "kinks away": lambda s: np.abs(np.sin(_A * s) - 0.3) + np.maximum(_A * s, 0.2)
    + np.clip(_A * s, -0.5, 0.5),
    # series.FROM_JVP on array primitives: their JVPs evaluated on Taylor values
    "cumprod": lambda s: np.cumprod(np.sin(_A * s) + 1.5, axis=1),
    "cumprod, a zero factor": lambda s: np.cumprod(ad.stack([1.5 + s, s - 0.37, 2 * s, np.cos(s)])),
    "det": lambda s: np.linalg.det(_SPD + s * _M),
    "slogdet": lambda s: np.linalg.slogdet(_SPD + s * _M)[1],
    "inv": lambda s: np.linalg.inv(_SPD + s * _M),
    "solve": lambda s: np.linalg.solve(_SPD + s * _M, np.sin(_B * s)),
    "lstsq": lambda s: np.linalg.lstsq(_A.T + s * _A.T[::-1], _V * s, rcond=None)[0],
    "pinv": lambda s: np.linalg.pinv(_A + s * _A[::-1]),
    "cholesky": lambda s: np.linalg.cholesky(_SPD + s * (_M + _M.T)),
    "eigh": lambda s: np.linalg.eigh(_SPD + s * (_M + _M.T))[1] ** 2,
    "eigvalsh": lambda s: np.linalg.eigvalsh(_SPD + s * (_M + _M.T)),
    "svd": lambda s: np.abs(np.linalg.svd(_A + s * _A[::-1], full_matrices=False)[2]),
    "svdvals": lambda s: np.linalg.svd(_A + s * _A[::-1], compute_uv=False),
    "qr": lambda s: np.linalg.qr(_SPD + s * _M)[1],
    "solve_triangular": lambda s: REGISTRY["solve_triangular"](
        np.tril(_SPD) + s * np.tril(_M), np.sin(_B * s), lower=True
    ),
    "triangular_matmul": lambda s: REGISTRY["triangular_matmul"](
        np.triu(_SPD) + s * np.triu(_M), np.sin(_B * s), lower=False
    ),
    "linear": lambda s: REGISTRY["linear"](np.sin(_A * s), _B.T + s, _V[:2] * s),
    "cross_entropy": lambda s: REGISTRY["cross_entropy"](
        _A * s + _A, labels=np.array([0, 3, 1]), reduction="mean"
    ),
}


def _nested_derivative(f, x, k):
    g = f
    for _ in range(k):
        g = (lambda h: lambda y: ad.jvp(h, y, 1.0)[1])(g)
    return g(x)


@pytest.mark.parametrize("name", sorted(ARRAY_PROGRAMS))
def test_array_primitives_against_nested_duals(name):
    f = ARRAY_PROGRAMS[name]
    x0 = 0.37
    coefficients = ad.taylor(f, x0, 4)
    for k, coefficient in enumerate(coefficients):
        expected = np.asarray(_nested_derivative(f, x0, k), dtype=float)
        scale = np.max(np.abs(expected))
        np.testing.assert_allclose(
            np.asarray(coefficient) * math.factorial(k), expected, rtol=1e-11, atol=1e-12 * scale
        )


def test_integer_power_is_exact_at_zero():
    assert ad.taylor(lambda x: x**3, 0.0, 5) == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert ad.derivative(lambda x: (x + 1) ** 7, -1.0, order=7) == math.factorial(7)


@pytest.mark.parametrize(
    "f, expected",
    [
        (np.abs, [0.0, 0.0, 0.0]),  # abs'(0) = 0 at the kink
        (lambda x: np.maximum(x, 0.0), [0.0, 0.5, 0.0]),  # a tie splits evenly
        (np.floor, [0.0, 0.0, 0.0]),  # locally constant
    ],
    ids=["abs", "maximum tie", "floor"],
)
def test_kinks_follow_the_first_order_table(f, expected):
    assert ad.taylor(f, 0.0, 2) == expected


# ----------------------------------------------------------------------------------------------
# cost: quadratic in the order, not exponential
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def evaluations(monkeypatch):
    """Counts every primitive evaluation on plain values (every ``impl`` call) and the number of
    array elements they produce."""
    counts = {"calls": 0, "elements": 0}

    def counting(impl):
        def counted(*args, **params):
            out = impl(*args, **params)
            counts["calls"] += 1
            counts["elements"] += int(np.size(out))
            return out

        return counted

    for prim in REGISTRY.values():
        monkeypatch.setattr(prim, "impl", counting(prim.impl))

    def measure(fn):
        counts.update(calls=0, elements=0)
        fn()
        return dict(counts)

    return measure


def test_taylor_mode_cost_is_quadratic_and_nested_duals_exponential(evaluations):
    def f(x):
        return np.exp(np.sin(x)) * x / (1 + x**2)

    taylor = {k: evaluations(lambda k=k: ad.taylor(f, 0.3, k)) for k in (4, 8, 16, 32)}
    for k in (4, 8, 16):
        # doubling the order: at most 4x the coefficient work (quadratic), 2x the kernel calls
        assert taylor[2 * k]["elements"] <= 4 * taylor[k]["elements"]
        assert taylor[2 * k]["calls"] <= 2 * taylor[k]["calls"]
        assert taylor[2 * k]["elements"] >= 2 * taylor[k]["elements"]  # and it does real work
    nested = {k: evaluations(lambda k=k: _nested_derivative(f, 0.3, k)) for k in range(2, 8)}
    for k in range(2, 7):
        assert nested[k + 1]["calls"] >= 2 * nested[k]["calls"]  # at least doubling per order
    assert nested[7]["calls"] > 5 * taylor[8]["calls"]


# ----------------------------------------------------------------------------------------------
# ad.derivative: nested duals at low order, Taylor mode at high order
# ----------------------------------------------------------------------------------------------

DERIVATIVE_CASES = {
    "sin(x) exp(x)": (lambda x: np.sin(x) * np.exp(x), sp.sin(X) * sp.exp(X), 0.7),
    "1/(1+x^2)": (lambda x: 1 / (1 + x**2), 1 / (1 + X**2), 0.4),
    "log(2+x) x^3": (lambda x: np.log(2 + x) * x**3, sp.log(2 + X) * X**3, 0.9),
    "sqrt(x) exp(-x)": (lambda x: np.sqrt(x) * np.exp(-x), sp.sqrt(X) * sp.exp(-X), 1.2),
}


@pytest.mark.parametrize("order", range(11))
@pytest.mark.parametrize("name", sorted(DERIVATIVE_CASES))
def test_derivative_matches_sympy_up_to_order_10(name, order):
    f, expr, x0 = DERIVATIVE_CASES[name]
    expected = sympy_taylor_coefficients(expr, x0, 10)[order] * math.factorial(order)
    assert ad.derivative(f, x0, order=order) == pytest.approx(expected, rel=1e-11, abs=1e-12)


def test_derivative_of_vector_valued_function_at_high_order():
    weights = np.array([1.0, -2.0, 0.5])
    result = ad.derivative(lambda x: weights * np.sin(x), 0.3, order=9)
    np.testing.assert_allclose(result, weights * np.cos(0.3), rtol=1e-13)  # sin^(9) = cos


def test_derivative_falls_back_to_nested_duals_without_a_taylor_rule(monkeypatch):
    monkeypatch.setattr(ew.sin, "taylor", None)
    with pytest.raises(MissingTaylorRuleError, match="'sin'"):
        ad.taylor(np.sin, 0.2, 5)
    assert issubclass(MissingTaylorRuleError, TypeError)
    with pytest.warns(RuntimeWarning, match="evaluates f a second time.*'sin'"):
        assert ad.derivative(np.sin, 0.2, order=6) == pytest.approx(-math.sin(0.2), rel=1e-13)


# ----------------------------------------------------------------------------------------------
# nesting, structure, dtypes, errors
# ----------------------------------------------------------------------------------------------


def test_nested_taylor_levels_do_not_confuse_perturbations():
    # inner: d^5/dy^5 exp(x y) at y = 0 is x^5; outer: d^6/dx^6 (x^5 * x) = 6! = 720
    def inner(x):
        return ad.derivative(lambda y: np.exp(x * y), 0.0, order=5)

    assert ad.derivative(lambda x: inner(x) * x, 1.3, order=6) == pytest.approx(720.0, rel=1e-10)


def test_gradient_of_a_taylor_coefficient():
    # d/dx [f^(k)(x) / k!] = (k + 1) * f^(k+1)(x) / (k + 1)!
    def f(x):
        return np.exp(np.sin(x))

    slope = ad.grad(lambda x: ad.taylor(f, x, 4)[4])(0.6)
    assert slope == pytest.approx(5 * ad.taylor(f, 0.6, 5)[5], rel=1e-12)
    tangent = ad.jvp(lambda x: ad.taylor(f, x, 3)[3], 0.6, 1.0)[1]
    assert tangent == pytest.approx(4 * ad.taylor(f, 0.6, 4)[4], rel=1e-12)


def test_direction_and_pytree_output():
    x = np.array([0.3, -0.8])
    v = np.array([1.0, 2.0])
    out = ad.taylor(lambda z: {"sum": np.sum(np.sin(z)), "z": z}, x, 3, direction=v)
    expected = [np.sum(np.sin(x)), np.sum(np.cos(x) * v), -np.sum(np.sin(x) * v**2) / 2,
                -np.sum(np.cos(x) * v**3) / 6]
    np.testing.assert_allclose([c["sum"] for c in out], expected, rtol=1e-14)
    np.testing.assert_allclose(out[1]["z"], v)
    np.testing.assert_allclose(out[2]["z"], 0.0)


@pytest.mark.parametrize(
    "f",
    [lambda x: np.logaddexp(x, 0.5), lambda x: np.logaddexp2(x, 0.5), lambda x: np.arctan2(x, 0.5),
     lambda x: np.hypot(x, 0.5), lambda x: 2.0 / x, sc.log_ndtr],
    ids=["logaddexp", "logaddexp2", "arctan2", "hypot", "divide", "log_ndtr"],
)
def test_python_float_operands_keep_float32(f):
    """A Python float next to float32 values is float32, as in NumPy (its constant series too)."""
    assert all(c.dtype == np.float32 for c in ad.taylor(f, np.array([0.5, -2.0], np.float32), 3))


def test_float32_stays_float32_and_constants_are_padded():
    coefficients = ad.taylor(np.exp, np.array([0.5], dtype=np.float32), 3)
    assert all(c.dtype == np.float32 for c in coefficients)
    assert ad.taylor(lambda x: 2.0, 1.0, 2) == [2.0, 0.0, 0.0]
    assert ad.taylor(np.sin, 0.5, 0) == [math.sin(0.5)]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: ad.taylor(np.sin, 1.0, -1), ValueError, "non-negative integer"),
        (lambda: ad.taylor(np.sin, 1.0, 2.5), ValueError, "non-negative integer"),
        (lambda: ad.taylor(np.sin, np.array([1, 2]), 3), TypeError, "floating"),
        (lambda: ad.taylor(np.sin, 1.0 + 2.0j, 3), TypeError, "complex"),
        (lambda: ad.taylor(np.sin, np.ones(2), 3, direction=np.ones(3)), ValueError, "shape"),
        (lambda: ad.derivative(np.sin, np.ones(2), order=5), ValueError, "scalar input"),
    ],
    ids=["negative order", "fractional order", "integer input", "complex", "direction",
         "vector input"],
)
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_escaped_taylor_value_raises():
    kept = []

    def f(x):
        kept.append(x)
        return np.sin(x)

    ad.taylor(f, 0.5, 3)
    with pytest.raises(EscapedTracerError):
        np.sin(kept[0])

