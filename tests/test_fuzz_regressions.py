"""Regressions found by the differential fuzzer (tests/test_differential_fuzz.py)."""

import warnings

import numpy as np
import pytest
import scipy.special as sc

import autodiff as ad


@pytest.mark.parametrize("x", [-8.0, np.array([-8.0, -1.4e296])], ids=["float", "array"])
def test_power_base_derivative_is_nan_where_the_value_is(x):
    """``(-8)**1e-300`` is nan in NumPy, but ``b a^(b-1)`` was finite: ``1e-300 - 1`` rounds to
    the integer ``-1``, so the power inside the partial was defined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value, forward = ad.jvp(lambda a: a**1e-300, x, np.ones_like(x) if np.ndim(x) else 1.0)
        reverse = ad.grad(lambda a: np.sum(a**1e-300))(x)
        second = ad.derivative(lambda a: a**1e-300, -8.0, order=2)
    assert np.all(np.isnan(value))
    assert np.all(np.isnan(forward)) and np.all(np.isnan(reverse)) and np.isnan(second)


def test_power_base_derivative_unchanged_where_defined():
    assert ad.grad(lambda a: a**3.0)(-2.0) == 12.0
    assert ad.derivative(lambda a: a**3.0, 0.0, order=3) == 6.0
    np.testing.assert_array_equal(ad.grad(lambda a: np.sum(a**0.5))(np.array([4.0])), [0.25])


@pytest.mark.parametrize("fn", [np.fmod, np.remainder, np.floor_divide],
                         ids=lambda fn: fn.__name__)
@pytest.mark.parametrize("x", [0.0, np.array([0.0, 1.0, 3.0])], ids=["float", "array"])
def test_remainders_derivatives_are_nan_where_the_value_is(fn, x):
    """``fmod(0, 0)`` is nan, but ``d/da`` was the constant 1 (0 for ``0 // 0``); nan at every
    order where the value is, the numbers unchanged elsewhere."""
    y = np.array([0.0, 2.0, 0.0]) if np.ndim(x) else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = fn(x, y)
        for argnum in (0, 1):
            along = (lambda t: fn(t, y)) if argnum == 0 else (lambda t: fn(x, t))
            at = (x, y)[argnum]
            _, forward = ad.jvp(along, at, np.ones_like(at) if np.ndim(at) else 1.0)
            reverse = ad.grad(lambda t: np.sum(along(t)))(at)
            np.testing.assert_array_equal(np.isnan(forward), np.isnan(expected))
            np.testing.assert_array_equal(np.isnan(reverse), np.isnan(expected))
        second = ad.derivative(lambda t: fn(t, 0.0), 0.0, order=2)
    assert np.isnan(second)
    assert ad.grad(lambda a: fn(a, 2.0))(1.0) == (0.0 if fn is np.floor_divide else 1.0)


@pytest.mark.parametrize(
    "fn, point, argnum",
    [(sc.logit, (1.9e22,), 0), (sc.xlogy, (1.6e-243, -5e-324), 1),
     (sc.xlog1py, (-1.0, -5.6e287), 1)],
    ids=["logit", "xlogy", "xlog1py"],
)
def test_scipy_derivatives_are_nan_where_the_value_is(fn, point, argnum):
    """SciPy's nan outside the domain; the formulas ``1/(x(1 - x))`` and ``x/y`` were finite
    there (-2.8e-45, -3.3e80)."""
    assert np.isnan(fn(*point))
    for args in (point, tuple(np.array([p]) for p in point)):
        gradient = ad.grad(lambda *xs: np.sum(fn(*xs)), argnums=argnum)(*args)
        assert np.all(np.isnan(gradient))


def test_scipy_erf_on_traced_arrays_is_scipys_value():
    x = np.array([0.15, -1.0, 1.55158914])
    np.testing.assert_array_equal(ad.jvp(sc.erf, x, np.ones(3))[0], sc.erf(x))


@pytest.mark.parametrize("fn", [np.logaddexp, np.maximum, sc.beta], ids=lambda fn: fn.__name__)
def test_casting_no_with_mixed_precision_raises_as_numpy(fn):
    """NumPy refuses ``casting='no'`` for a float32 and a float64 operand (the float64 loop
    would cast one); the traced call computed a value."""
    a, b = np.array([0.5, 1.5], np.float32), np.array([1.0, 2.0])
    with pytest.raises(TypeError, match="casting"):
        fn(a, b, casting="no")
    for transform in (lambda f: ad.jvp(f, (a, b), (a, b)), lambda f: ad.vjp(f, (a, b))):
        with pytest.raises(TypeError, match="casting"):
            transform(lambda x, y: fn(x, y, casting="no"))
    value = ad.jvp(lambda x, y: fn(x, y, casting="safe"), (a, b), (a, b))[0]
    np.testing.assert_array_equal(value, fn(a, b, casting="safe"))


@pytest.mark.parametrize("exponent", [1, 1.0, 2, 3.0, -2, 0.5, np.array(2.0)])
def test_power_of_nan_has_a_nan_derivative_for_every_constant_exponent(exponent):
    """Integral exponents other than 1 skip the domain test (the partial b a^(b-1) is nan
    where a is); 1 and non-integral exponents take it."""
    x = np.array([np.nan, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected_at_two = np.asarray(exponent) * 2.0 ** (np.asarray(exponent) - 1)
        for derivative in (
            ad.grad(lambda v: np.sum(v ** exponent))(x),
            ad.jvp(lambda v: v ** exponent, x, np.ones(2))[1],
        ):
            assert np.isnan(derivative[0])
            np.testing.assert_allclose(derivative[1], expected_at_two, rtol=1e-15)
