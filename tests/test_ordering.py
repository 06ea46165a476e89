"""Sorting and selection by position on traced values: ``sort``, ``take``, ``take_along_axis``,
``put_along_axis``, ``np.add.at``, ``select``, ``choose``, ``compress``, ``extract``, ``diag``,
``diagonal``, ``diagflat``, ``tril``, ``triu``.

The rule table sweeps the declared cases (central differences, the transpose identity, batched
directions, float32, second order) and the differential fuzzer their values against NumPy.
Here: NumPy's values, shapes and dtypes for hypothesis-drawn arguments and keywords, API.md's
tie convention for ``sort``, the in-place semantics of ``put_along_axis`` and ``np.add.at``,
refused keywords and bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad

SETTINGS = settings(max_examples=25, deadline=None)


def assert_numpys(f, *inputs):
    """``f`` on Dual inputs gives NumPy's value, shape and dtype (tangent too), and its
    reverse-mode pullback of ones agrees with forward mode through <u, Jv> = <J^T u, v>."""
    expected = f(*inputs)
    tangents = tuple(np.ones_like(x) for x in inputs)
    value, tangent = ad.jvp(f, tuple(inputs), tangents)
    np.testing.assert_array_equal(value, expected)
    assert np.shape(value) == np.shape(expected) == np.shape(tangent)
    assert np.result_type(value) == np.result_type(expected) == np.result_type(tangent)
    _, pullback = ad.vjp(f, tuple(inputs))
    u = np.ones(np.shape(expected), np.result_type(expected))
    pulled = pullback(u)
    # both sides sum rounded entries: a cancelling float32 sum is off by a few of its ulps
    rounding = 8 * np.finfo(np.result_type(expected)).eps * np.sum(np.abs(tangent))
    np.testing.assert_allclose(sum(np.sum(c) for c in pulled), np.sum(tangent), rtol=1e-6,
                               atol=rounding)


@st.composite
def arrays(draw, min_dims=1, max_dims=3, ties=False):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=min_dims, max_size=max_dims)))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    values = np.random.default_rng(draw(st.integers(0, 2**16))).normal(size=shape)
    if ties:
        values = np.round(values)  # many exact ties
    return values.astype(dtype)


def an_axis(x):
    return st.integers(-x.ndim, x.ndim - 1)


# ----------------------------------------------------------------------------------------------
# sort: NumPy's values; over ties the derivative follows the stable sort's element
# ----------------------------------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_sort_is_numpys(data):
    x = data.draw(arrays(ties=True))
    axis = data.draw(st.one_of(st.none(), an_axis(x)))
    kind = data.draw(st.sampled_from([None, "quicksort", "mergesort", "heapsort", "stable"]))
    assert_numpys(lambda x: np.sort(x, axis=axis, kind=kind), x)


@pytest.mark.parametrize("mode", ["jvp", "vjp"])
def test_sort_derivative_over_ties_follows_the_stable_order(mode):
    x = np.array([1.0, 1.0, 0.0, 1.0])
    # the stable order is [2, 0, 1, 3]: sorted position 1 holds x[0], position 3 holds x[3]
    weights = np.array([0.0, 10.0, 0.0, 1000.0])
    expected = np.array([10.0, 0.0, 0.0, 1000.0])
    if mode == "jvp":
        derivative = ad.jacfwd(lambda x: np.sort(x) @ weights)(x)
    else:
        derivative = ad.grad(lambda x: np.sort(x) @ weights)(x)
    np.testing.assert_array_equal(derivative, expected)


def test_sort_puts_nan_last_and_its_derivative_follows():
    x = np.array([np.nan, 2.0, -1.0])
    jacobian = ad.jacrev(np.sort)(x)
    np.testing.assert_array_equal(np.sort(x), ad.jvp(np.sort, x, np.ones(3))[0])
    np.testing.assert_array_equal(jacobian, np.eye(3)[[2, 1, 0]])


def test_sort_refuses_order_and_checks_kind():
    x = ad.Dual(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="order"):
        np.sort(x, order="f")
    with pytest.raises(ValueError, match="sort kind"):
        np.sort(x, kind="bubble")


def test_sort_hessian_of_a_trimmed_mean():
    """Second order through the gathers: the trimmed mean of squares is a sum of squares."""
    x = np.array([0.3, -2.0, 1.5, 0.7, -0.1])
    v = np.arange(5.0)

    def trimmed(x):
        return np.mean(np.sort(x**2)[1:-1])

    kept = np.isin(np.arange(5), np.argsort(x**2, kind="stable")[1:-1])
    np.testing.assert_allclose(ad.hvp(trimmed, x, v), 2 * kept * v / 3, rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# gathers by position
# ----------------------------------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_take_is_numpys(data):
    x = data.draw(arrays())
    axis = data.draw(st.one_of(st.none(), an_axis(x)))
    size = x.size if axis is None else x.shape[axis]
    mode = data.draw(st.sampled_from(["raise", "wrap", "clip"]))
    bound = size if mode == "raise" else 3 * size
    indices = data.draw(st.one_of(
        st.integers(-bound, bound - 1),
        st.lists(st.integers(-bound, bound - 1), max_size=5)))
    assert_numpys(lambda x: np.take(x, indices, axis=axis, mode=mode), x)


@SETTINGS
@given(st.data())
def test_take_along_axis_of_argsort_is_numpys(data):
    x = data.draw(arrays(ties=True))
    axis = data.draw(an_axis(x))
    order = np.argsort(x, axis=axis)
    assert_numpys(lambda x: np.take_along_axis(x, order, axis=axis), x)
    # argmax along an axis, kept as a length-1 axis: the selected maxima
    top = np.expand_dims(np.argmax(x, axis=axis), axis)
    assert_numpys(lambda x: np.take_along_axis(x, top, axis), x)


def test_take_errors_are_numpys():
    x = ad.Dual(np.arange(3.0), np.ones(3))
    with pytest.raises(IndexError):
        np.take(x, [3])
    with pytest.raises(ValueError, match="clipmode"):
        np.take(x, [0], mode="bogus")
    with pytest.raises(TypeError, match="integers"):
        np.take(x, [0.5])
    with pytest.raises(TypeError, match="out"):
        np.take(x, [0], out=np.empty(1))
    with pytest.raises(ValueError, match="same number of dimensions"):
        np.take_along_axis(x, np.array([[0]]), axis=0)


def test_put_along_axis_writes_in_place_and_the_derivative_follows_the_written_values():
    indices = np.array([[1], [0], [1]])

    def f(x, v):
        y = x.copy()
        result = np.put_along_axis(y, indices, v, axis=1)
        assert result is None
        return y

    x, v = np.arange(6.0).reshape(3, 2), np.array([[10.0], [20.0], [30.0]])
    expected = x.copy()
    np.put_along_axis(expected, indices, v, axis=1)
    np.testing.assert_array_equal(ad.jvp(f, (x, v), (np.ones_like(x), np.ones_like(v)))[0],
                                  expected)
    d_x, d_v = ad.jacrev(f, argnums=(0, 1))(x, v)
    written = np.zeros((3, 2), bool)
    written[[0, 1, 2], [1, 0, 1]] = True
    np.testing.assert_array_equal(np.einsum("ijij->ij", d_x), ~written)
    np.testing.assert_array_equal(d_v.sum(axis=(2, 3)), written)


def test_put_along_axis_into_a_plain_array_names_the_fix():
    with pytest.raises(TypeError, match="zeros_like"):
        ad.grad(lambda v: np.put_along_axis(np.zeros(3), np.array([0]), v, axis=0))(np.ones(1))


def test_add_at_accumulates_repeated_positions_in_place():
    def f(x):
        a = np.zeros_like(x)
        np.add.at(a, [0, 2, 2], x[:3] ** 2)
        np.subtract.at(a, (np.array([3]),), x[0])
        return a

    x = np.array([1.0, 2.0, 3.0, 4.0])
    expected = np.array([[2, 0, 0, 0], [0, 0, 0, 0], [0, 4, 6, 0], [-1, 0, 0, 0]], float)
    np.testing.assert_array_equal(f(x), [1.0, 0.0, 13.0, -1.0])
    np.testing.assert_array_equal(ad.jvp(f, x, np.ones(4))[0], f(x))
    np.testing.assert_array_equal(ad.jacfwd(f)(x), expected)
    np.testing.assert_array_equal(ad.jacrev(f)(x), expected)


def test_ufunc_at_refusals_name_the_cause():
    with pytest.raises(TypeError, match="plain NumPy array"):
        ad.grad(lambda x: np.add.at(np.zeros(3), [0], x))(1.0)
    with pytest.raises(TypeError, match="multiply.at"):
        ad.grad(lambda x: np.multiply.at(x.copy(), [0], 2.0))(np.ones(2))


# ----------------------------------------------------------------------------------------------
# selection
# ----------------------------------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_select_and_choose_are_numpys(data):
    x = data.draw(arrays(min_dims=2, max_dims=2))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    conditions = [rng.random(x.shape) < 0.4, rng.random(x.shape[-1:]) < 0.5]
    default = data.draw(st.sampled_from([0, -1.5, np.float32(2)]))
    assert_numpys(lambda x: np.select(conditions, [x, x[0] ** 2], default), x)
    mode = data.draw(st.sampled_from(["raise", "wrap", "clip"]))
    chosen = rng.integers(-2 if mode != "raise" else 0, 3 if mode == "raise" else 5, x.shape)
    assert_numpys(lambda x: np.choose(chosen, [x, 2 * x, x[:1] - 1], mode=mode), x)


def test_select_keeps_the_nan_value_of_an_unpicked_choice_out():
    x = np.array([-1.0, 4.0])

    def f(x):
        with np.errstate(invalid="ignore"):
            return np.sum(np.select([x > 0], [np.log(x)], 0.0))

    value, gradient = ad.value_and_grad(f)(x)
    assert value == np.log(4.0)  # log(-1) = nan is not picked
    assert gradient[1] == 0.25  # (at x = -1 log's derivative is nan, as everywhere outside)


def test_selection_errors_are_numpys():
    x = ad.Dual(np.arange(3.0), np.ones(3))
    with pytest.raises(ValueError, match="same length"):
        np.select([x > 0], [x, x])
    with pytest.raises(TypeError, match="boolean"):
        np.select([np.ones(3)], [x])
    with pytest.raises(ValueError, match="invalid entry"):
        np.choose(np.array([0, 3, 1]), [x, x])
    with pytest.raises(TypeError, match="out"):
        np.choose(np.array([0, 1, 1]), [x, x], out=np.empty(3))


@SETTINGS
@given(st.data())
def test_compress_and_extract_are_numpys(data):
    x = data.draw(arrays())
    axis = data.draw(st.one_of(st.none(), an_axis(x)))
    size = x.size if axis is None else x.shape[axis]
    condition = data.draw(st.lists(st.booleans(), max_size=size))
    assert_numpys(lambda x: np.compress(condition, x, axis=axis), x)
    assert_numpys(lambda x: np.extract(x > 0, x), x)


def test_compress_refuses_out_and_a_2d_condition():
    x = ad.Dual(np.arange(3.0), np.ones(3))
    with pytest.raises(TypeError, match="out"):
        np.compress([True], x, out=np.empty(1))
    with pytest.raises(ValueError, match="1-d"):
        np.compress([[True]], x)


# ----------------------------------------------------------------------------------------------
# diagonals and triangles
# ----------------------------------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_diagonals_and_triangles_are_numpys(data):
    x = data.draw(arrays(min_dims=2, max_dims=3))
    k = data.draw(st.integers(-4, 4))
    axis1, axis2 = data.draw(st.lists(an_axis(x), min_size=2, max_size=2).filter(
        lambda a: a[0] % x.ndim != a[1] % x.ndim))
    assert_numpys(lambda x: np.diagonal(x, k, axis1, axis2), x)
    assert_numpys(lambda x: np.tril(x, k), x)
    assert_numpys(lambda x: np.triu(x, k), x)
    assert_numpys(lambda x: np.diagflat(x, k), x)
    assert_numpys(lambda x: np.diag(x[0, 0] if x.ndim == 3 else x, k), x)


def test_tril_drops_a_nan_above_the_diagonal_as_numpy():
    x = np.array([[1.0, np.nan], [2.0, 3.0]])
    value, tangent = ad.jvp(np.tril, x, np.ones_like(x))
    np.testing.assert_array_equal(value, np.tril(x))
    np.testing.assert_array_equal(tangent, [[1.0, 0.0], [1.0, 1.0]])


def test_diagonal_errors_are_numpys():
    x = ad.Dual(np.ones((2, 2, 2)), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="1- or 2-d"):
        np.diag(x)
    with pytest.raises(ValueError, match="cannot be the same"):
        np.diagonal(x, 0, 1, -2)


@SETTINGS
@given(st.data())
def test_unique_is_numpys_and_its_derivative_follows_the_first_occurrence(data):
    x = data.draw(arrays(ties=True, max_dims=2))
    axis = data.draw(st.one_of(st.none(), an_axis(x)))
    flags = data.draw(st.lists(st.booleans(), min_size=3, max_size=3))
    expected = np.unique(x, *flags, axis=axis)
    traced = ad.Dual(x, np.ones_like(x))
    value = np.unique(traced, *flags, axis=axis)
    if any(flags):  # the indices, inverse and counts are NumPy's own
        for got, want in zip(value[1:], expected[1:]):
            np.testing.assert_array_equal(got, want)
        expected, value = expected[0], value[0]
    np.testing.assert_array_equal(value.primal, expected)
    assert value.primal.dtype == expected.dtype
    first = np.unique(x, return_index=True, axis=axis)[1]
    jacobian = ad.jacrev(lambda x: np.unique(x, axis=axis))(x)
    np.testing.assert_array_equal(
        jacobian, ad.jacrev(lambda x: np.take(x, first, axis=axis))(x))


@pytest.mark.parametrize("index", [
    (slice(None), np.array([1, 0, 1])),  # an index array after a slice (take along axis 1)
    (Ellipsis, np.array([0, 1]), np.array([1, 2])),  # diagonal's gather
    (np.array([-1, 0, -1]),),  # negative positions (take with negative indices)
], ids=["slice-array", "ellipsis-arrays", "negative"])
def test_sparse_getitem_cotangents_of_mixed_and_negative_indices(index):
    """Regression: these cotangents recursed forever (mixed index) or were refused by
    ``ravel_multi_index`` (negative positions) in the reverse sweep."""
    x = np.arange(12.0).reshape(3, 4)
    expected = np.zeros_like(x)
    np.add.at(expected, index, 1.0)
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(x[index]))(x), expected)
