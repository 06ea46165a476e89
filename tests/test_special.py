"""SciPy's special functions on traced values (issue 9, item 2); skipped without SciPy.

The table test checks every declared function against SymPy (value, first and second
derivatives, float32); here: SciPy's exact values through SciPy's own ufuncs, the stable
branches (``log_ndtr`` far in the left tail, ``xlogy`` at ``x = 0``), ``logsumexp``'s
weights, and SciPy's Python-level ``logsumexp`` / ``softmax`` / ``log_softmax`` on traced values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

sc = pytest.importorskip("scipy.special")

import autodiff as ad  # noqa: E402
from autodiff.testing import check_grads  # noqa: E402

_UNARY = {
    "gammaln": (sc.gammaln, [0.3, 1.0, 4.5]),
    "digamma": (sc.digamma, [0.3, 1.0, 4.5]),
    "psi": (sc.psi, [0.7, 2.0]),
    "gamma": (sc.gamma, [0.4, 2.5]),
    "erf": (sc.erf, [-1.0, 0.2, 2.0]),
    "erfc": (sc.erfc, [-1.0, 0.2, 2.0]),
    "erfinv": (sc.erfinv, [-0.5, 0.1, 0.8]),
    "erfcinv": (sc.erfcinv, [0.3, 1.0, 1.6]),
    "erfcx": (sc.erfcx, [-1.0, 0.5, 8.0]),
    "expit": (sc.expit, [-3.0, 0.0, 2.0]),
    "logit": (sc.logit, [0.1, 0.5, 0.9]),
    "ndtr": (sc.ndtr, [-2.0, 0.0, 1.5]),
    "ndtri": (sc.ndtri, [0.05, 0.5, 0.9]),
    "log_ndtr": (sc.log_ndtr, [-30.0, -2.0, 0.5, 4.0]),
    "i0": (sc.i0, [-2.0, 0.5, 3.0]),
    "i1": (sc.i1, [-2.0, 0.5, 3.0]),
    "i0e": (sc.i0e, [-2.0, 0.5, 3.0]),
    "i1e": (sc.i1e, [-2.0, 0.5, 3.0]),
    "entr": (sc.entr, [0.2, 1.0, 3.0]),
    "numpy-i0": (np.i0, [-1.0, 0.5, 2.0]),
}
_BINARY = {
    "xlogy": (sc.xlogy, [-1.0, 0.5, 2.0], [0.5, 1.5, 3.0]),
    "xlog1py": (sc.xlog1py, [-1.0, 0.5, 2.0], [-0.5, 1.5, 3.0]),
    "beta": (sc.beta, [0.5, 1.5, 3.0], [0.7, 2.0, 1.2]),
    "betaln": (sc.betaln, [0.5, 1.5, 3.0], [0.7, 2.0, 1.2]),
    "rel_entr": (sc.rel_entr, [0.5, 1.5, 3.0], [0.7, 2.0, 1.2]),
    "kl_div": (sc.kl_div, [0.5, 1.5, 3.0], [0.7, 2.0, 1.2]),
}


@pytest.mark.parametrize("name", sorted(_UNARY))
def test_unary_value_is_scipys_and_derivatives_are_exact(name):
    fn, points = _UNARY[name]
    x = np.array(points)
    value, _ = ad.jvp(fn, x, np.ones_like(x))
    if name == "erf":  # answered by ad.erf (the elementwise family's, math.erf): within 1 ulp
        np.testing.assert_allclose(value, fn(x), rtol=3e-16)
    else:
        np.testing.assert_array_equal(value, fn(x))
    check_grads(fn, (x,), order=2)


@pytest.mark.parametrize("name", sorted(_BINARY))
def test_binary_value_is_scipys_and_derivatives_are_exact(name):
    fn, a, b = _BINARY[name]
    a, b = np.array(a), np.array(b)
    value, _ = ad.jvp(fn, (a, b), (np.ones(3), np.ones(3)))
    np.testing.assert_array_equal(value, fn(a, b))
    check_grads(fn, (a, b), order=2)


def test_log_ndtr_slope_in_the_far_left_tail():
    """phi/Phi ~ -x for x -> -inf: finite where phi and Phi both underflow."""
    for x in (-40.0, -1e3):
        slope = ad.derivative(sc.log_ndtr, x)
        assert math.isfinite(slope) and slope == pytest.approx(-x, rel=1e-3)


def test_xlogy_at_zero_has_zero_y_derivative():
    grads = ad.grad(lambda x, y: sc.xlogy(x, y), argnums=(0, 1))(0.0, 0.0)
    assert grads[1] == 0.0
    grads = ad.grad(lambda x, y: sc.xlogy(x, y), argnums=(0, 1))(0.0, 2.0)
    assert grads == (math.log(2.0), 0.0)


def test_digamma_second_derivative_is_tetragamma():
    assert ad.derivative(sc.digamma, 1.5, order=2) == pytest.approx(sc.polygamma(2, 1.5),
                                                                    rel=1e-14)


def test_logsumexp_with_weights():
    a = np.array([[0.5, -1.0, 2.0], [3.0, 0.1, -0.4]])
    b = np.array([0.2, 1.0, 3.0])
    value = ad.logsumexp(a, axis=1, b=b)
    np.testing.assert_allclose(value, sc.logsumexp(a, axis=1, b=b), rtol=1e-15)
    check_grads(lambda u, w: ad.logsumexp(u, axis=1, b=w), (a, b), order=2)
    with pytest.raises(TypeError, match="return_sign"):
        ad.grad(lambda u: ad.logsumexp(u, return_sign=True))(a)


def test_float32_stays_float32():
    x = np.array([0.5, 2.0], dtype=np.float32)
    value, tangent = ad.jvp(sc.gammaln, x, np.ones(2, np.float32))
    assert value.dtype == tangent.dtype == np.float32


_SCIPY_PYTHON_FUNCTIONS = {
    "logsumexp": lambda a: sc.logsumexp(a),
    "logsumexp axis b keepdims": lambda a: sc.logsumexp(
        a, axis=1, b=np.array([0.2, 1.0, 3.0]), keepdims=True
    ),
    "softmax": lambda a: sc.softmax(a, axis=0),
    "softmax all axes": lambda a: sc.softmax(a),
    "log_softmax": lambda a: sc.log_softmax(a, axis=-1),
}


@pytest.mark.parametrize("name", sorted(_SCIPY_PYTHON_FUNCTIONS))
def test_scipys_python_functions_differentiate(name):
    """scipy.special.logsumexp / softmax / log_softmax are Python functions (no NumPy
    protocol reaches them): import autodiff wraps them, traced calls take our rules."""
    f = _SCIPY_PYTHON_FUNCTIONS[name]
    a = np.array([[0.5, -1.0, 2.0], [3.0, 0.1, -0.4]])
    expected = f(a)  # SciPy's own function on plain arrays
    value, _ = ad.jvp(f, a, np.ones_like(a))
    np.testing.assert_allclose(value, expected, rtol=1e-14)
    check_grads(f, a, order=2)
    np.testing.assert_array_equal(ad.jit(ad.jacrev(f))(a + 1.0), ad.jacrev(f)(a + 1.0))


def test_scipys_python_functions_stay_scipys_on_plain_input():
    for name in ("logsumexp", "softmax", "log_softmax"):
        wrapped = getattr(sc, name)
        original = wrapped.autodiff_wraps
        assert wrapped.__doc__ == original.__doc__ and wrapped.__name__ == name
    a = np.array([1.0, 1000.0])
    assert sc.logsumexp(a) == sc.logsumexp.autodiff_wraps(a)
    assert sc.logsumexp(a, b=np.array([1.0, -1.0]), return_sign=True)[1] == -1.0
    with pytest.raises(TypeError, match="return_sign"):
        ad.grad(lambda u: sc.logsumexp(u, return_sign=True))(a)
