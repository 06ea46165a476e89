"""Regression tests for rules that once returned a wrong finite number (cancellation,
underflow, ``-inf - -inf``): each now matches the exact value."""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad


@pytest.mark.parametrize("mode", [ad.grad, lambda f: ad.jacfwd(f)])
def test_cumsum_gradient_has_no_cancellation(mode):
    w = np.array([1e8, 1e-8, 1e-8])
    gradient = mode(lambda x: np.sum(w * np.cumsum(x)))(np.ones(3))
    np.testing.assert_allclose(gradient, [1e8 + 2e-8, 2e-8, 1e-8], rtol=1e-15)


def test_cumsum_gradient_in_float32_is_a_reversed_running_sum():
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, 1000).astype(np.float32)
    w[0] = 1e6
    gradient = ad.grad(lambda x: np.sum(w * np.cumsum(x)))(np.ones(1000, np.float32))
    exact = np.cumsum(w.astype(np.float64)[::-1])[::-1]
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, exact, rtol=1e-5)


def test_prod_gradient_does_not_underflow():
    x = np.array([1e-200, 1e-200, 1e10])
    np.testing.assert_array_equal(ad.grad(np.prod)(x), [1e-190, 1e-190, 0.0])
    np.testing.assert_array_equal(ad.jacfwd(np.prod)(x), [1e-190, 1e-190, 0.0])


@pytest.mark.parametrize(
    "x, gradient, hessian",
    [
        ([0.0, 2.0, 3.0], [6.0, 0.0, 0.0], [[0, 3, 2], [3, 0, 0], [2, 0, 0]]),
        ([0.0, 0.0, 3.0], [0.0, 0.0, 0.0], [[0, 3, 0], [3, 0, 0], [0, 0, 0]]),
    ],
)
def test_prod_with_zeros_is_exact_at_every_order(x, gradient, hessian):
    x = np.array(x)
    np.testing.assert_array_equal(ad.grad(np.prod)(x), gradient)
    np.testing.assert_array_equal(ad.hessian(np.prod)(x), hessian)


def test_logaddexp_with_an_absent_term_is_the_identity():
    f = lambda x: np.logaddexp(x, -np.inf)  # noqa: E731
    assert ad.grad(f)(-np.inf) == 1.0
    assert ad.jvp(f, -np.inf, 1.0)[1] == 1.0
    assert ad.grad(f)(2.0) == 1.0
    g = ad.grad(lambda a: np.sum(np.logaddexp(a, np.array([-np.inf, 0.0]))))
    np.testing.assert_allclose(g(np.array([-np.inf, 1.0])), [1.0, 1 / (1 + np.exp(-1.0))])
