"""Statistics on traced values: ``var``, ``std``, ``average``, ``median``, ``quantile``,
``percentile``, ``nansum``, ``nanmean``, ``nanmax``, ``nanmin``, ``cov``, ``corrcoef`` and the
``.var()`` / ``.std()`` methods.

The rule table sweeps the declared cases (central differences, the transpose identity, batched
directions, float32, second order).  Here: NumPy's values, shapes and dtypes for
hypothesis-drawn arguments and keywords, API.md's tie convention for order statistics, nan
handling, keywords and bad input.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad

SETTINGS = settings(max_examples=30, deadline=None)
QUANTILE_METHODS = [
    "inverted_cdf", "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
    "hazen", "weibull", "linear", "median_unbiased", "normal_unbiased", "lower", "higher",
    "midpoint", "nearest",
]


def traced_value(f, *inputs):
    """``f`` on Dual inputs (tangents of ones): its value, and its tangent's shape and dtype."""
    value, tangent = ad.jvp(f, tuple(inputs), tuple(np.ones_like(x) for x in inputs))
    assert np.shape(tangent) == np.shape(value)
    assert np.result_type(tangent) == np.result_type(value)
    return value


def assert_same_as_numpy(f, *inputs, exact=True):
    with warnings.catch_warnings(record=True) as expected_warnings:
        warnings.simplefilter("always")
        expected = f(*inputs)
    with warnings.catch_warnings(record=True) as traced_warnings:
        warnings.simplefilter("always")
        value = traced_value(f, *inputs)
    if exact:
        np.testing.assert_array_equal(value, expected)
    else:
        # a different summation order: a few ulps of the result's precision
        single = np.result_type(expected) == np.float32
        np.testing.assert_allclose(value, expected, rtol=1e-6 if single else 1e-13,
                                   atol=1e-7 if single else 1e-14)
    assert np.shape(value) == np.shape(expected)
    assert np.result_type(value) == np.result_type(expected)
    assert {w.category for w in traced_warnings} >= {w.category for w in expected_warnings}


@st.composite
def arrays(draw, min_dims=1, max_dims=3, ties=False):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=min_dims, max_size=max_dims)))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = rng.normal(size=shape)
    if ties:
        values = np.round(values * 2) / 2  # many exact ties
    return values.astype(dtype)


@st.composite
def axis_for(draw, x):
    n = x.ndim
    return draw(st.one_of(
        st.none(), st.integers(-n, n - 1),
        st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True).map(tuple),
    ))


@SETTINGS
@given(st.data())
def test_var_and_std_are_numpys(data):
    x = data.draw(arrays())
    axis = data.draw(axis_for(x))
    ddof = data.draw(st.sampled_from([0, 1]))
    keepdims = data.draw(st.booleans())
    for fn in (np.var, np.std):
        assert_same_as_numpy(lambda v: fn(v, axis=axis, ddof=ddof, keepdims=keepdims), x)


@SETTINGS
@given(st.data())
def test_var_with_where_is_numpys(data):
    x = data.draw(arrays(min_dims=2, max_dims=2))
    mask = np.random.default_rng(data.draw(st.integers(0, 99))).random(x.shape) < 0.7
    mask[:, 0] = True
    assert_same_as_numpy(lambda v: np.var(v, axis=1, where=mask), x, exact=False)


@SETTINGS
@given(st.data())
def test_order_statistics_are_numpys(data):
    x = data.draw(arrays(ties=data.draw(st.booleans())))
    axis = data.draw(axis_for(x))
    keepdims = data.draw(st.booleans())
    q = data.draw(st.one_of(st.floats(0, 1), st.lists(st.floats(0, 1), min_size=1, max_size=3)))
    method = data.draw(st.sampled_from(QUANTILE_METHODS))
    assert_same_as_numpy(lambda v: np.median(v, axis=axis, keepdims=keepdims), x)
    assert_same_as_numpy(
        lambda v: np.quantile(v, q, axis=axis, method=method, keepdims=keepdims), x)
    percent = (np.asarray(q) * 100).tolist()
    assert_same_as_numpy(lambda v: np.percentile(v, percent, axis=axis, method=method), x)


@SETTINGS
@given(st.data())
def test_nan_reductions_are_numpys(data):
    x = data.draw(arrays(min_dims=1, max_dims=2)).astype(np.float64)
    nans = np.random.default_rng(data.draw(st.integers(0, 99))).random(x.shape) < 0.3
    axis = data.draw(st.sampled_from([None, 0, -1]))
    keepdims = data.draw(st.booleans())
    for fn in (np.nansum, np.nanmean, np.nanmax, np.nanmin):
        assert_same_as_numpy(
            lambda v: fn(np.where(nans, np.nan, v), axis=axis, keepdims=keepdims), x)


@SETTINGS
@given(st.data())
def test_average_is_numpys(data):
    x = data.draw(arrays(min_dims=2, max_dims=2))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    axis = data.draw(st.sampled_from([None, 0, 1]))
    weights = rng.uniform(0.5, 2.0, x.shape if axis is None else (x.shape[axis],))
    returned = data.draw(st.booleans())
    keepdims = data.draw(st.booleans())
    assert_same_as_numpy(lambda v: np.average(v, axis=axis, keepdims=keepdims), x)

    def weighted(v, w):
        result = np.average(v, axis=axis, weights=w, returned=returned, keepdims=keepdims)
        return result[0] + result[1] if returned else result

    assert_same_as_numpy(weighted, x, weights.astype(x.dtype))


@SETTINGS
@given(st.data())
def test_cov_and_corrcoef_are_numpys(data):
    x = data.draw(arrays(min_dims=1, max_dims=2))
    rowvar = data.draw(st.booleans())
    bias = data.draw(st.booleans())
    samples = x.shape[-1 if rowvar or x.ndim == 1 else 0]
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    fweights = data.draw(st.sampled_from([None, rng.integers(1, 4, samples)]))
    aweights = data.draw(st.sampled_from([None, rng.uniform(0.5, 2, samples)]))
    with np.errstate(divide="ignore", invalid="ignore"):
        assert_same_as_numpy(lambda v: np.cov(v, rowvar=rowvar, bias=bias, fweights=fweights,
                                               aweights=aweights), x, exact=False)
        assert_same_as_numpy(lambda v: np.corrcoef(v, rowvar=rowvar), x, exact=False)


# ----------------------------------------------------------------------------------------------
# API.md's convention at ties, nan handling
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("x, expected", [
    ([2.0, 1.0, 2.0], [1.0, 0.0, 0.0]),  # stable sort: 1 (index 1), 2 (index 0), 2 (index 2)
    ([2.0, 2.0, 1.0, 3.0], [0.5, 0.5, 0.0, 0.0]),  # even count: the two middle ones, averaged
    ([1.0, 1.0, 1.0, 1.0], [0.0, 0.5, 0.5, 0.0]),
])
def test_median_derivative_follows_the_stable_sort_over_ties(x, expected):
    x = np.array(x)
    np.testing.assert_array_equal(ad.grad(np.median)(x), expected)
    np.testing.assert_array_equal(ad.jacfwd(np.median)(x), expected)


def test_quantile_weights_the_two_neighbours():
    x = np.array([4.0, 1.0, 3.0, 2.0])  # sorted 1, 2, 3, 4: q=0.25 sits at 0.75 of the way 1->2
    np.testing.assert_allclose(ad.grad(lambda v: np.quantile(v, 0.25))(x), [0, 0.25, 0, 0.75])
    np.testing.assert_allclose(ad.grad(lambda v: np.percentile(v, 25, method="lower"))(x),
                               [0, 1, 0, 0])


def test_nan_entries_get_no_derivative_and_nan_slices_stay_nan():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])
    with pytest.warns(RuntimeWarning, match="Mean of empty slice"):
        value = np.nanmean(ad.Dual(x, np.ones_like(x)), axis=1)
    np.testing.assert_array_equal(value.primal, [2.0, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gradient = ad.grad(lambda v: np.nanmean(v, axis=1)[0])(x)
        np.testing.assert_array_equal(gradient, [[0.5, 0, 0.5], [0, 0, 0]])
        with pytest.warns(RuntimeWarning, match="All-NaN"):
            assert np.isnan(np.nanmax(ad.Dual(x, x), axis=1).primal[1])
    np.testing.assert_array_equal(ad.grad(lambda v: np.nansum(v))(x), [[1, 0, 1], [0, 0, 0]])
    assert np.isnan(ad.jvp(np.median, x[0], np.ones(3))[0])


def test_var_at_too_few_degrees_of_freedom_warns_as_numpy():
    x = np.array([1.0, 2.0])
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"), \
            np.errstate(divide="ignore", invalid="ignore"):
        assert np.var(ad.Dual(x, x), ddof=2).primal == np.inf


def test_var_and_std_methods_on_traced_values():
    x = np.random.default_rng(9).normal(size=(3, 4))
    np.testing.assert_array_equal(ad.Dual(x, x).var(1, ddof=1).primal, x.var(1, ddof=1))
    np.testing.assert_array_equal(ad.Dual(x, x).std(axis=0, keepdims=True).primal,
                                  x.std(axis=0, keepdims=True))
    v = ad.Var(x)
    v.std().backward()
    np.testing.assert_allclose(v.grad, (x - x.mean()) / (x.size * x.std()), rtol=1e-12)
    ad.testing.check_grads(lambda a: a.var(axis=1, ddof=1), (x,))


def test_var_taylor_coefficients_are_exact():
    x = np.array([0.5, -1.0, 2.0, 0.25])
    # var(s x) = s^2 var(x): coefficients [var s0^2, 2 var s0, var, 0]
    coefficients = ad.taylor(lambda s: np.var(s * x), 1.5, 3)
    np.testing.assert_allclose(coefficients, [2.25 * x.var(), 3 * x.var(), x.var(), 0.0],
                               rtol=1e-13, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# keywords and bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, keyword", [
    (lambda x: np.var(x, out=np.zeros(())), "out"),
    (lambda x: np.std(x, dtype=np.float32), "dtype"),
    (lambda x: np.median(x, out=np.zeros(())), "out"),
    (lambda x: np.quantile(x, 0.5, weights=np.ones(4)), "weights"),
    (lambda x: np.percentile(x, 50, interpolation="linear"), "interpolation"),
    (lambda x: np.nansum(x, initial=1.0), "initial"),
    (lambda x: np.nanmax(x, where=np.ones(4, bool)), "where"),
    (lambda x: np.nanmean(x, dtype=np.float64), "dtype"),
    (lambda x: np.cov(x, dtype=np.float64), "dtype"),
    (lambda x: np.einsum("i->", x, out=np.zeros(())), "out"),
])
def test_keywords_that_cannot_be_honoured_are_refused_by_name(call, keyword):
    x = ad.Dual(np.arange(4.0), np.ones(4))
    with pytest.raises(TypeError, match=keyword):
        call(x)


@pytest.mark.parametrize("call, error, match", [
    (lambda x: np.quantile(x, 1.5), ValueError, r"range \[0, 1\]"),
    (lambda x: np.percentile(x, -1), ValueError, r"range \[0, 100\]"),
    (lambda x: np.quantile(x, 0.5, method="bogus"), ValueError, "not a valid method"),
    (lambda x: np.quantile(x, np.full((1, 1, 1), 0.5)), ValueError, "scalar or 1d"),
    (lambda x: np.quantile(x, x[0] * 0), TypeError, "with respect to q"),
    (lambda x: np.average(x, weights=np.zeros(4)), ZeroDivisionError, "sum to zero"),
    (lambda x: np.average(x.reshape(2, 2), weights=np.ones(2)), TypeError, "Axis must be"),
    (lambda x: np.average(x.reshape(2, 2), axis=0, weights=np.ones(3)), ValueError, "consistent"),
    (lambda x: np.var(x, ddof=1, correction=1), ValueError, "simultaneously"),
    (lambda x: np.cov(x, ddof=0.5), ValueError, "ddof must be integer"),
    (lambda x: np.cov(x, aweights=x), TypeError, "aweights"),
    (lambda x: np.cov(x, fweights=[1, 2, 1.5, 1]), TypeError, "fweights must be integer"),
    (lambda x: np.cov(x, fweights=[1, 2]), RuntimeError, "incompatible numbers"),
    (lambda x: np.cov(x.reshape(1, 1, 4)), ValueError, "more than 2 dimensions"),
])
def test_bad_statistics_input_names_the_cause(call, error, match):
    x = ad.Dual(np.arange(4.0), np.ones(4))
    with pytest.raises(error, match=match):
        call(x)
