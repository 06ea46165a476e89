"""The forward chain rule's running sum ``sum_i d_i * t_i`` (issue 13, item 2).

``Elementwise``'s JVP subtracts a ``MINUS_ONE`` term (one pass, where ``t0 + (-t1)`` took two)
and adds each further term into an array it made itself (``out=``).  Both must give the bits of
the unfused sum, leave every operand untouched (a tangent passed through a ``ONE`` partial is
the caller's array), and fall back to primitives when shapes or dtypes differ or when the sum
is traced (nested transforms).
"""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.rules import elementwise as ew

RNG = np.random.default_rng(13)


def unfused_tangent(fn, a, b, ta, tb):
    """``d_a * ta + d_b * tb`` by plain NumPy, in the rule's order, every product explicit."""
    a, b, ta, tb = (np.asarray(v) for v in (a, b, ta, tb))
    if fn is np.add:
        return ta + tb
    if fn is np.subtract:
        return ta + (-tb)
    if fn is np.multiply:
        return b * ta + a * tb
    if fn is np.divide:
        return (1.0 / b) * ta + (-((a / b) / b)) * tb
    raise AssertionError(fn)


@pytest.mark.parametrize("fn", [np.add, np.subtract, np.multiply, np.divide])
@pytest.mark.parametrize(
    "shape_a, shape_b, dtype",
    [
        ((7,), (7,), np.float64),  # in place into the first product
        ((3, 4), (3, 4), np.float32),
        ((3, 1), (1, 4), np.float64),  # broadcasting: the primitives' path
        ((5,), (), np.float64),
    ],
)
def test_binary_jvp_equals_the_unfused_sum_bit_for_bit(fn, shape_a, shape_b, dtype):
    a = RNG.uniform(0.5, 2.0, shape_a).astype(dtype)
    b = RNG.uniform(0.5, 2.0, shape_b).astype(dtype)
    ta = RNG.normal(size=shape_a).astype(dtype)
    tb = RNG.normal(size=shape_b).astype(dtype)
    saved = [v.copy() for v in (a, b, ta, tb)]
    _, tangent = ad.jvp(lambda x, y: fn(x, y), (a, b), (ta, tb))
    expected = np.broadcast_to(unfused_tangent(fn, a, b, ta, tb), np.broadcast_shapes(
        shape_a, shape_b))
    assert tangent.dtype == expected.dtype
    np.testing.assert_array_equal(tangent, expected, strict=False)
    for before, after in zip(saved, (a, b, ta, tb)):
        np.testing.assert_array_equal(before, after)


def test_a_tangent_passed_through_a_unit_partial_is_never_written():
    """``x + y`` then ``- z``: the first term is the caller's tangent itself (ONE), so the
    subtraction must make a new array, not write into it."""
    ta, tb = RNG.normal(size=6), RNG.normal(size=6)
    kept = ta.copy()
    out = ew.add._jvp((np.ones(6), np.ones(6)), (ta, tb), np.ones(6) * 2)
    assert out is not ta and out is not tb
    np.testing.assert_array_equal(ta, kept)
    out = ew.subtract._jvp((np.ones(6), np.ones(6)), (ta, tb), np.zeros(6))
    np.testing.assert_array_equal(out, ta - tb)
    np.testing.assert_array_equal(ta, kept)


def test_the_same_tangent_in_both_slots():
    """``x * x`` and ``x - x``: both slots hold one tangent object, which stays intact."""
    x, t = RNG.normal(size=5), RNG.normal(size=5)
    kept = t.copy()
    np.testing.assert_array_equal(ad.jvp(lambda x: x * x, x, t)[1], x * t + x * t)
    np.testing.assert_array_equal(ad.jvp(lambda x: x - x, x, t)[1], np.zeros(5))
    np.testing.assert_array_equal(t, kept)


def test_batched_tangents_sum_in_place_with_the_batch_axes():
    x, y = RNG.normal(size=4), RNG.normal(size=4)
    directions = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    jac = ad.jacfwd(lambda p: p[0] * p[1] - np.sin(p[0]))((x, y))
    np.testing.assert_array_equal(jac[0], np.diag(y - np.cos(x)))
    np.testing.assert_array_equal(jac[1], np.diag(x))
    _, tangent = ad.make_jvp(lambda a, b: a * b, (x, y), directions, batch=(3,))
    np.testing.assert_array_equal(tangent, y * directions[0] + x * directions[1])


def test_nested_sums_stay_differentiable():
    """Forward over forward and forward over reverse through the fused sums: the second
    derivatives of ``x*y - y`` and ``x*y*x`` are exact."""
    f = lambda p: p[0] * p[1] * p[0] - p[1]  # noqa: E731
    p = np.array([0.3, -1.7])
    expected = np.array([[2 * p[1], 2 * p[0]], [2 * p[0], 0.0]])
    np.testing.assert_array_equal(ad.hessian(f)(p), expected)
    np.testing.assert_array_equal(ad.jacfwd(ad.jacfwd(f))(p), expected)
    np.testing.assert_array_equal(ad.hvp(f, p, np.array([1.0, 0.0])), expected[0])


def count_calls(monkeypatch, *prims):
    counts = {prim.name: 0 for prim in prims}
    for prim in prims:
        def counted(*args, _impl=prim.impl, _name=prim.name):
            counts[_name] += 1
            return _impl(*args)
        monkeypatch.setattr(prim, "impl", counted)
    return counts


def test_a_difference_of_tangents_is_one_subtraction(monkeypatch):
    x, y, tx, ty = (RNG.normal(size=8) for _ in range(4))
    counts = count_calls(monkeypatch, ew.add, ew.negative, ew.subtract)
    _, tangent = ad.jvp(lambda a, b: a - b, (x, y), (tx, ty))
    assert counts == {"add": 0, "negative": 0, "subtract": 2}  # the value and the tangent
    np.testing.assert_array_equal(tangent, tx - ty)


def test_a_product_rule_sums_into_its_own_product(monkeypatch):
    x, y, tx, ty = (RNG.normal(size=8) for _ in range(4))
    counts = count_calls(monkeypatch, ew.add, ew.multiply)
    _, tangent = ad.jvp(lambda a, b: a * b, (x, y), (tx, ty))
    assert counts == {"add": 0, "multiply": 3}  # x*y, y*tx, x*ty; the sum in place
    np.testing.assert_array_equal(tangent, y * tx + x * ty)
