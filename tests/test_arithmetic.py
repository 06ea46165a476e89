"""NumPy's arithmetic on traced values (issue 9): the bugs of item 5 and the entry points of item 1.

Each entry point is compared with NumPy itself (value, shape, dtype) on traced inputs, and its
derivatives with central differences; the table test (tests/test_rule_table.py) sweeps the
declared cases and SymPy references as well.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
from autodiff.testing import check_grads

# ----------------------------------------------------------------------------------------------
# item 5: x**0 and x**1 at 0, complex intermediates
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("c, order, expected", [
    (0.0, 1, 0.0), (0, 1, 0.0), (1.0, 2, 0.0), (1, 3, 0.0), (2.0, 2, 2.0), (3.0, 3, 6.0),
    (3.0, 4, 0.0), (4, 4, 24.0), (0.5, 1, math.inf),
])
def test_power_at_zero_is_exact_at_every_order(c, order, expected):
    """API.md: ``x**c`` at 0 is 0 for c = 0, 1 for c = 1, ``c 0**(c-1)`` otherwise, every order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert ad.derivative(lambda x: x**c, 0.0, order=order) == expected


def test_polynomial_with_array_exponents_at_zero_has_exact_hessian():
    exponents = np.array([0.0, 1.0, 2.0, 3.0])
    f = lambda x: np.sum(x**exponents)  # noqa: E731
    np.testing.assert_array_equal(ad.grad(f)(np.zeros(4)), [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(ad.hessian(f)(np.zeros(4)), np.diag([0.0, 0.0, 2.0, 0.0]))


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.abs(x + 1j)),
    lambda x: np.sum(np.abs(x * np.exp(1j))),
    lambda x: np.sum(np.real(x + np.array([1j, 2j]))),
], ids=["plus-1j", "times-phase", "complex-array"])
@pytest.mark.parametrize("x", [0.5, np.array([0.5, 1.0])], ids=["float", "array"])
def test_complex_intermediate_raises(f, x):
    """Was ``grad(lambda x: np.sum(np.abs(x + 1j)))(0.5) == 0.447+0.894j``."""
    for transform in (ad.grad, lambda g: (lambda v: ad.jvp(g, v, v))):
        with pytest.raises(TypeError, match="complex"):
            transform(f)(x)


def test_complex_constants_outside_transforms_stay_numpy():
    assert np.abs(np.float64(0.5) + 1j) == pytest.approx(math.hypot(0.5, 1.0))


# ----------------------------------------------------------------------------------------------
# fmax / fmin: NumPy's nan handling
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [np.fmax, np.fmin])
def test_fmax_fmin_nan_argument_loses(fn):
    a = np.array([1.0, np.nan, 2.0, np.nan])
    b = np.array([np.nan, 3.0, 2.0, 0.5])
    value, da = ad.jvp(lambda u: fn(u, b), a, np.ones(4))
    np.testing.assert_array_equal(value, fn(a, b))
    np.testing.assert_array_equal(da[[0, 1, 2]], [1.0, 0.0, 0.5])
    grads = ad.grad(lambda u, v: np.sum(fn(u, v)), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(grads[0][:3], [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(grads[1][1:], [1.0, 0.5, 1.0])


def test_fmax_is_not_maximum():
    """Was mapped to ``maximum``, whose nan propagates."""
    assert ad.grad(lambda x: np.fmax(x, np.nan))(2.0) == 1.0
    assert ad.derivative(lambda x: np.fmax(x, 1.0), 2.0) == 1.0


# ----------------------------------------------------------------------------------------------
# remainders, floor division, the Python operators
# ----------------------------------------------------------------------------------------------


def test_mod_and_floor_divide_derivatives():
    a, b = 7.3, 2.0
    assert ad.grad(lambda x, y: x % y, argnums=(0, 1))(a, b) == (1.0, -3.0)
    assert ad.grad(lambda x, y: np.fmod(x, y), argnums=(0, 1))(-a, b) == (1.0, 3.0)
    assert ad.grad(lambda x, y: x // y, argnums=(0, 1))(a, b) == (0.0, 0.0)
    quotient, remainder = ad.jvp(lambda x: divmod(x, b), a, 1.0)[1]
    assert (quotient, remainder) == (0.0, 1.0)
    x = np.array([7.3, -2.5, 0.4])
    np.testing.assert_array_equal(ad.jvp(lambda v: np.floor_divide(v, 2.0), x, x)[0], x // 2.0)
    np.testing.assert_array_equal(ad.jvp(lambda v: np.divmod(v, 2.0)[1], x, x)[0], x % 2.0)


# ----------------------------------------------------------------------------------------------
# entry points against NumPy: value, shape, dtype; derivatives against central differences
# ----------------------------------------------------------------------------------------------

_A = np.array([0.3, 1.2, -0.7, 2.0, 0.1, -1.4])
_K = np.array([0.5, -1.0, 2.0])
_M = np.array([[1.0, 2.0, 3.5, 4.0], [0.5, -1.0, 2.0, 1.0], [3.0, 1.0, 0.2, 2.0]])

ENTRY_POINTS = {
    "cumprod": (lambda v: np.cumprod(v, axis=1), _M),
    "cumprod-flat-zeros": (lambda v: np.cumprod(v * np.array([1.0, 0.0, 1.0, 1.0])), _M),
    "cumprod-two-zeros": (lambda v: np.cumprod(v * np.array([0.0, 1.0, 0.0, 1.0]), axis=1), _M),
    "diff-n2": (lambda v: np.diff(v, n=2, axis=1), _M),
    "diff-prepend": (lambda v: np.diff(v, axis=0, prepend=0.5, append=v[:1]), _M),
    "ediff1d": (lambda v: np.ediff1d(v, to_begin=[1.0, 2.0], to_end=-1.0), _M),
    "gradient-uniform": (lambda v: np.gradient(v, 0.5, axis=1), _M),
    "gradient-edge2": (lambda v: np.gradient(v, edge_order=2)[1], _M),
    "gradient-coords": (lambda v: np.gradient(v, [0.0, 0.3, 1.0], edge_order=2, axis=0), _M),
    # float32 values keep their dtype whatever the coordinates' (NumPy stores the float64
    # result in a float32 array); equal steps and integer coordinates are NumPy's uniform spacing
    "gradient-coords-float32": (lambda v: np.gradient(v, [0.0, 0.3, 1.0], edge_order=2, axis=0),
                                _M.astype(np.float32)),
    "gradient-float64-step-float32": (lambda v: np.gradient(v, np.float64(0.3), axis=1),
                                      _M.astype(np.float32)),
    "gradient-integer-coords": (lambda v: np.gradient(v, [0, 3, 6, 9], axis=1), _M),
    "gradient-step-edge2": (lambda v: np.gradient(v, 0.3, edge_order=2, axis=1), _M),
    "ediff1d-float64-ends-float32": (lambda v: np.ediff1d(v, to_begin=np.array([0.1, 0.2]),
                                                          to_end=-1.3), _M.astype(np.float32)),
    "interp-values": (lambda v: np.interp([-1.0, 0.2, 1.0, 1.7, 9.0], [0.0, 1.0, 1.5, 2.0, 2.5,
                                                                       4.0], v), _A),
    "interp-points": (lambda v: np.interp(v, [-1.0, 0.0, 1.5], _K, left=-3.0), _A),
    "interp-period": (lambda v: np.interp(v, [0.2, 1.0, 2.5], _K, period=3.0), _A),
    "polyval": (lambda v: np.polyval(v, np.array([0.5, -1.2])), _A),
    "sinc": (lambda v: np.sinc(v), _A),
    "logaddexp2": (lambda v: np.logaddexp2(v, 0.3), _A),
    "degrees": (lambda v: np.rad2deg(np.radians(v) * 2.0), _A),
    "copysign": (lambda v: np.copysign(v, -1.0), _A),
    "nan_to_num": (lambda v: np.nan_to_num(v + np.array([0.0, np.inf, 0.0, np.nan, -np.inf,
                                                         0.0]), posinf=7.0), _A),
    "real": (lambda v: np.real(v) * 2.0, _A),
    "float_power": (lambda v: np.float_power(v * v, 1.5), _A.astype(np.float32)),
    "heaviside": (lambda v: np.heaviside(v, 0.5) * v, _A),
}
ENTRY_POINTS.update({
    f"{name}-{mode}": (lambda v, fn=fn, mode=mode, n=n: fn(v[:n], _K, mode=mode), _A)
    for name, fn in (("convolve", np.convolve), ("correlate", np.correlate))
    for mode in ("full", "same", "valid")
    for n in (6,)
})
ENTRY_POINTS.update({
    f"correlate-short-{mode}": (lambda v, mode=mode: np.correlate(v[:2], _K, mode=mode), _A)
    for mode in ("full", "same", "valid")
})


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_point_matches_numpy_and_differentiates(name):
    f, x = ENTRY_POINTS[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        want = f(x)
        got, _ = ad.jvp(f, x, np.ones_like(x))
    assert np.shape(got) == np.shape(want) and np.result_type(got) == np.result_type(want)
    np.testing.assert_array_equal(got, want)
    if x.dtype == np.float64:
        with np.errstate(divide="ignore", invalid="ignore"):
            check_grads(f, (x,), order=2)


def test_gradient_of_constant_integer_values_in_traced_coordinates():
    """A list of integers is NumPy's float64 array; the derivative is in the coordinates."""
    values, coordinates = [1, 2, 4, 7], np.array([0.0, 0.4, 1.0, 1.7])
    f = lambda c: np.gradient(values, c, edge_order=2)  # noqa: E731
    value, _ = ad.jvp(f, coordinates, np.ones(4))
    assert value.dtype == np.float64
    np.testing.assert_array_equal(value, np.gradient(values, coordinates, edge_order=2))
    check_grads(f, (coordinates,), order=2)


def test_ediff1d_ends_must_cast_to_the_array_dtype():
    """NumPy: the result has ``ary``'s dtype; float ends of an integer array are refused."""
    with pytest.raises(TypeError, match="dtype of `to_end` must be compatible"):
        np.ediff1d(np.arange(4), to_end=np.array([0.5]))
    with pytest.raises(TypeError, match="dtype of `to_end` must be compatible"):
        ad.grad(lambda e: np.sum(np.ediff1d(np.arange(4), to_end=e)))(np.array([0.5]))


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 7), m=st.integers(1, 7), mode=st.sampled_from(["full", "same", "valid"]),
    seed=st.integers(0, 2**16),
)
def test_convolve_and_correlate_any_lengths(n, m, mode, seed):
    rng = np.random.default_rng(seed)
    a, v = rng.normal(size=n), rng.normal(size=m)
    for fn in (np.convolve, np.correlate):
        value, tangent = ad.jvp(lambda p, q: fn(p, q, mode=mode), (a, v), (a, v))
        np.testing.assert_allclose(value, fn(a, v, mode=mode), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(tangent, 2 * fn(a, v, mode=mode), rtol=1e-12, atol=1e-13)


def test_interp_derivative_in_query_points_is_the_interval_slope():
    xp, fp = [0.0, 1.0, 3.0], [0.0, 2.0, 3.0]
    slopes = ad.jacfwd(lambda x: np.interp(x, xp, fp))(np.array([-1.0, 0.0, 0.5, 1.0, 3.0, 4.0]))
    np.testing.assert_array_equal(np.diag(slopes), [0.0, 2.0, 2.0, 0.5, 0.5, 0.0])


def test_cumprod_with_zeros_is_exact_to_second_order():
    x = np.array([2.0, 0.0, 3.0, 0.0, 0.5])
    f = lambda v: np.sum(np.cumprod(v))  # noqa: E731
    hessian = ad.hessian(f)(x)
    expected = np.zeros((5, 5))
    expected[0, 1] = expected[1, 0] = 1.0 + 3.0  # x1 x0 + x0 x1 x2 terms (x3 = 0)
    expected[1, 2] = expected[2, 1] = 2.0
    expected[1, 3] = expected[3, 1] = 2.0 * 3.0 + 2.0 * 3.0 * 0.5
    expected[3, 4] = expected[4, 3] = 0.0
    np.testing.assert_allclose(hessian, expected, rtol=1e-15)


def test_sinc_at_zero():
    assert ad.derivative(np.sinc, 0.0) == 0.0
    assert ad.derivative(np.sinc, 0.0, order=2) == pytest.approx(-math.pi**2 / 3, rel=1e-14)


def test_astype_casts_value_and_derivative():
    x = np.array([1.0, 2.0])
    value, tangent = ad.jvp(lambda v: v.astype(np.float32) * 2, x, np.ones(2))
    assert value.dtype == np.float32 and tangent.dtype == np.float32
    grad = ad.grad(lambda v: np.sum(v.astype(np.float32)))(x)
    assert grad.dtype == np.float64
    with pytest.raises(TypeError, match="floating"):
        ad.grad(lambda v: np.sum(v.astype(np.int64)))(x)
