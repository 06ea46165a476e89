"""Regressions found by the differential fuzzer (tests/test_differential_fuzz.py)."""

import warnings

import numpy as np
import pytest

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
