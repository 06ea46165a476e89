"""``np.linalg`` on traced values: what the rule table's sweep does not say by itself.

The table test (``tests/test_rule_table.py``, ``tests/test_shapes_and_batching.py``) runs every
declared case of the primitives and entry points: central differences, the transpose identity,
batched directions, second order.  Here: NumPy's values, shapes, dtypes and result types on
traced inputs for hypothesis-drawn arguments and keywords; the conventions of API.md's kink
table (norms at 0, repeated eigen/singular values); the triangle the symmetric routines read;
Taylor rules; refused keywords and bad input.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
from autodiff.testing import check_grads

HYPOTHESIS = settings(max_examples=25, deadline=None)


def _matrix(rng, shape, kind="normal"):
    values = rng.normal(size=shape)
    if kind == "spd":
        return values @ np.swapaxes(values, -1, -2) / shape[-1] + np.eye(shape[-1])
    if kind == "wellconditioned":
        return 2.0 * np.eye(shape[-1]) + 0.5 * values
    return values


def _traced_value(f, *inputs):
    """``f`` on ``Dual`` inputs (forward mode) and on ``Var`` inputs (reverse mode): the values."""
    forward, _ = ad.jvp(lambda *xs: f(*xs), inputs, tuple(np.ones_like(x) for x in inputs))
    reverse, _ = ad.vjp(lambda *xs: f(*xs), inputs)
    return forward, reverse


def _assert_same_as_numpy(got, want):
    got_leaves, want_leaves = _leaves(got), _leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        g = ad.stop_gradient(g)
        assert np.shape(g) == np.shape(w) and np.result_type(g) == np.result_type(w)
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def _leaves(value):
    if isinstance(value, tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


# ----------------------------------------------------------------------------------------------
# differential tests against NumPy: values, shapes, dtypes, result types
# ----------------------------------------------------------------------------------------------

_STACKS = st.sampled_from([(), (2,), (2, 1)])


@HYPOTHESIS
@given(stack=_STACKS, n=st.integers(1, 4), k=st.integers(1, 3), vector=st.booleans(),
       seed=st.integers(0, 2**16))
def test_solve_inv_det_slogdet_match_numpy(stack, n, k, vector, seed):
    rng = np.random.default_rng(seed)
    a = _matrix(rng, stack + (n, n), "wellconditioned")
    b = rng.normal(size=(n,) if vector else stack + (n, k))
    for f in (np.linalg.solve,):
        for got in _traced_value(f, a, b):
            _assert_same_as_numpy(got, f(a, b))
    for f in (np.linalg.inv, np.linalg.det, lambda m: tuple(np.linalg.slogdet(m))):
        for got in _traced_value(f, a):
            _assert_same_as_numpy(got, f(a))


@HYPOTHESIS
@given(stack=_STACKS, n=st.integers(1, 4), uplo=st.sampled_from(["L", "U"]),
       upper=st.booleans(), seed=st.integers(0, 2**16))
def test_symmetric_routines_match_numpy(stack, n, uplo, upper, seed):
    rng = np.random.default_rng(seed)
    spd = _matrix(rng, stack + (n, n), "spd")
    noise = rng.normal(size=(n, n))

    def reading(lower):  # the triangle not read holds anything
        return spd + (np.triu(noise, 1) if lower else np.tril(noise, -1))

    for f, lower in ((lambda m: np.linalg.cholesky(m, upper=upper), not upper),
                     (lambda m: np.linalg.eigvalsh(m, UPLO=uplo), uplo == "L")):
        for got in _traced_value(f, reading(lower)):
            _assert_same_as_numpy(got, f(reading(lower)))
    a = reading(uplo == "L")
    for got in _traced_value(lambda m: np.linalg.eigh(m, UPLO=uplo), a):
        w, v = np.linalg.eigh(a, UPLO=uplo)
        assert type(got).__name__ == "EighResult"
        np.testing.assert_allclose(ad.stop_gradient(got.eigenvalues), w, rtol=1e-12, atol=1e-12)
        # eigenvectors are determined up to sign
        np.testing.assert_allclose(np.abs(ad.stop_gradient(got.eigenvectors)), np.abs(v),
                                   atol=1e-10)


@HYPOTHESIS
@given(stack=_STACKS, m=st.integers(1, 4), n=st.integers(1, 4), full=st.booleans(),
       mode=st.sampled_from(["reduced", "complete", "r"]), seed=st.integers(0, 2**16))
def test_svd_qr_pinv_match_numpy(stack, m, n, full, mode, seed):
    rng = np.random.default_rng(seed)
    a = _matrix(rng, stack + (m, n))
    for f in (lambda x: tuple(np.linalg.svd(x, full_matrices=full)),
              lambda x: np.linalg.svd(x, compute_uv=False),
              lambda x: np.linalg.qr(x, mode=mode) if mode == "r" else tuple(
                  np.linalg.qr(x, mode=mode)),
              np.linalg.pinv, np.linalg.svdvals):
        for got in _traced_value(f, a):
            _assert_same_as_numpy(got, f(a))


_VECTOR_ORDS = [None, 2, 1, 0, np.inf, -np.inf, 3, 0.5, -1]
_MATRIX_ORDS = [None, "fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf]


@HYPOTHESIS
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_norm_matches_numpy_for_drawn_orders_axes_and_keepdims(data, seed):
    rng = np.random.default_rng(seed)
    shape = data.draw(st.sampled_from([(5,), (3, 4), (2, 3, 4)]))
    x = rng.normal(size=shape)
    keepdims = data.draw(st.booleans())
    if len(shape) == 1 or data.draw(st.booleans()):
        axis = data.draw(st.sampled_from([None] + list(range(-len(shape), len(shape)))))
        ord_ = data.draw(st.sampled_from(_VECTOR_ORDS if axis is not None or len(shape) == 1
                                         else [None]))
    else:
        axis = data.draw(st.permutations(range(len(shape))))[:2]
        axis = tuple(axis) if len(shape) > 2 or data.draw(st.booleans()) else None
        ord_ = data.draw(st.sampled_from(_MATRIX_ORDS))
        if axis is None and len(shape) > 2:
            ord_ = None

    def f(v):
        return np.linalg.norm(v, ord=ord_, axis=axis, keepdims=keepdims)

    for got in _traced_value(f, x):
        _assert_same_as_numpy(got, f(x))


@pytest.mark.parametrize("f", [
    lambda a: np.linalg.matrix_power(a, 0),
    lambda a: np.linalg.matrix_power(a, 1),
    lambda a: np.linalg.matrix_power(a, 6),
    lambda a: np.linalg.matrix_power(a, -3),
    lambda a: np.linalg.multi_dot([a[0], a[1], a[2, :, :2], a[0, :2]]),
    lambda a: np.trace(a),
    lambda a: np.trace(a, offset=-1, axis1=1, axis2=2),
    lambda a: np.linalg.trace(a, offset=1),
    lambda a: np.linalg.cond(a),
    lambda a: np.linalg.cond(a, -2),
    lambda a: np.linalg.cond(a, np.inf),
    lambda a: np.linalg.vector_norm(a, axis=(0, 2), ord=3),
    lambda a: np.linalg.matrix_norm(a, ord=-2, keepdims=True),
    lambda a: np.linalg.matrix_transpose(a),
], ids=["power-0", "power-1", "power-6", "power-minus-3", "multi-dot", "trace", "trace-axes",
        "linalg-trace", "cond", "cond-minus-2", "cond-inf", "vector-norm", "matrix-norm",
        "matrix-transpose"])
def test_products_traces_and_conditions_match_numpy(f):
    a = _matrix(np.random.default_rng(3), (3, 3, 3), "wellconditioned")
    for got in _traced_value(f, a):
        _assert_same_as_numpy(got, f(a))


@pytest.mark.parametrize("shape, rcond", [((6, 3), None), ((3, 5), None), ((6, 3), 0.5)])
@pytest.mark.parametrize("vector", [True, False])
def test_lstsq_returns_numpys_tuple(shape, rcond, vector):
    rng = np.random.default_rng(4)
    a = rng.normal(size=shape)
    b = rng.normal(size=shape[:1] if vector else shape[:1] + (2,))
    want = np.linalg.lstsq(a, b, rcond=rcond)
    for got in _traced_value(lambda x, y: np.linalg.lstsq(x, y, rcond=rcond), a, b):
        assert got[2] == want[2]
        _assert_same_as_numpy((got[0], got[1], got[3]), (want[0], want[1], want[3]))


def test_matrix_rank_runs_on_primal_values():
    a = np.outer([1.0, 2.0, 3.0], [1.0, 0.0, -1.0])
    assert ad.grad(lambda x: np.linalg.matrix_rank(x) * np.sum(x))(a)[0, 0] == 1.0


def test_float32_stays_float32():
    a = np.eye(3, dtype=np.float32) * 2 + 0.1
    b = np.ones(3, dtype=np.float32)
    value, gradient = ad.value_and_grad(lambda m: np.sum(np.linalg.solve(m, b)))(a)
    assert np.result_type(value) == np.float32 and gradient.dtype == np.float32


def test_triangular_systems_are_solved_by_substitution_with_numpys_values():
    rng = np.random.default_rng(5)
    lower = np.tril(rng.normal(size=(20, 20))) + 5 * np.eye(20)
    b = rng.normal(size=(20, 3))
    for a in (lower, lower.T):
        got = ad.jvp(lambda m: np.linalg.solve(m, b), a, np.ones_like(a))[0]
        np.testing.assert_allclose(got, np.linalg.solve(a, b), rtol=1e-12)
        check_grads(lambda m: np.linalg.solve(m, b), a, order=1)


def test_singular_triangular_system_raises_like_numpy():
    a = np.tril(np.ones((10, 10)))
    a[4, 4] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match="Singular"):
        ad.grad(lambda m: np.sum(np.linalg.solve(m, np.ones((10, 1)))))(a)


# ----------------------------------------------------------------------------------------------
# the triangle read by the symmetric routines
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("f, lower", [
    (lambda m: np.linalg.cholesky(m), True),
    (lambda m: np.linalg.cholesky(m, upper=True), False),
    (lambda m: np.linalg.eigvalsh(m), True),
    (lambda m: np.linalg.eigh(m, UPLO="U")[1], False),
    (lambda m: np.linalg.svd(m, hermitian=True, compute_uv=False), True),
    (lambda m: np.linalg.pinv(m, hermitian=True), True),
])
def test_the_triangle_not_read_has_zero_derivative(f, lower):
    a = _matrix(np.random.default_rng(6), (4, 4), "spd")
    weights = np.random.default_rng(7).normal(size=np.shape(f(a)))
    gradient = ad.grad(lambda m: np.sum(weights * f(m)))(a)
    unread = np.triu(gradient, 1) if lower else np.tril(gradient, -1)
    assert np.all(unread == 0) and np.any(gradient != 0)


# ----------------------------------------------------------------------------------------------
# kinks: norms at 0, repeated eigenvalues and singular values (API.md)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [
    lambda x: np.linalg.norm(x),
    lambda x: np.linalg.norm(x, ord="fro"),
    lambda x: np.linalg.norm(x, axis=1),
    lambda x: np.linalg.norm(x, ord=3, axis=0, keepdims=True),
    lambda x: np.linalg.vector_norm(x, ord=3, axis=(0, 1)),
], ids=["2", "fro", "rows", "p=3", "vector-norm-3"])
def test_norms_at_zero_have_derivative_zero_at_every_order(f):
    x = np.zeros((2, 3))
    x_partial = np.array([[0.0, 0.0, 0.0], [3.0, -4.0, 0.0]])  # one zero row / column
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for point in (x, x_partial):
            jacobian = ad.jacrev(f)(point)
            hessian = ad.jacfwd(ad.jacrev(f))(point)
            assert np.all(np.isfinite(jacobian)) and np.all(np.isfinite(hessian))
        assert np.all(ad.jacrev(f)(x) == 0) and np.all(ad.jacfwd(f)(x) == 0)
        assert np.all(ad.hessian(lambda v: np.sum(f(v)))(x) == 0)
    # away from the zero slices, the usual derivative: x / |x| for the 2-norm of a row
    np.testing.assert_allclose(ad.grad(lambda v: np.linalg.norm(v[1]))(x_partial)[1],
                               [0.6, -0.8, 0.0])


def test_repeated_eigenvalues_values_exact_vectors_nan_with_a_warning():
    a = np.diag([1.0, 2.0, 2.0, 5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values_gradient = ad.grad(lambda m: np.sum(np.linalg.eigvalsh(m) ** 2))(a)
        only_values = ad.grad(lambda m: np.sum(np.linalg.eigh(m)[0] ** 2))(a)
    np.testing.assert_allclose(values_gradient, np.diag([2.0, 4.0, 4.0, 10.0]), atol=1e-12)
    np.testing.assert_allclose(only_values, values_gradient, atol=1e-12)
    with pytest.warns(RuntimeWarning, match="repeated"):
        vectors_gradient = ad.grad(lambda m: np.sum(np.linalg.eigh(m)[1][:, 1]))(a)
    assert np.all(np.isnan(vectors_gradient))
    with pytest.warns(RuntimeWarning, match="repeated"):
        _, tangent = ad.jvp(lambda m: np.linalg.eigh(m)[1], a, np.ones_like(a))
    assert np.any(np.isnan(tangent)) and not np.any(np.isfinite(tangent[:, 1:3]))


def test_repeated_singular_values_values_exact_vectors_nan_with_a_warning():
    rotation, _ = np.linalg.qr(np.random.default_rng(8).normal(size=(3, 3)))
    a = rotation @ np.diag([3.0, 1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nuclear = ad.grad(lambda m: np.linalg.norm(m, "nuc"))(a)
    np.testing.assert_allclose(nuclear, rotation, atol=1e-12)  # U V^T
    with pytest.warns(RuntimeWarning, match="repeated"):
        vectors_gradient = ad.grad(lambda m: np.sum(np.linalg.svd(m)[0]))(a)
    assert np.all(np.isnan(vectors_gradient))


def test_spectral_norm_gradient_is_the_top_singular_pair():
    a = np.random.default_rng(9).normal(size=(4, 3))
    u, s, vh = np.linalg.svd(a)
    np.testing.assert_allclose(ad.grad(lambda m: np.linalg.norm(m, 2))(a),
                               np.outer(u[:, 0], vh[0]), atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Taylor rules: exact series of (A0 + t A1)^{-1}
# ----------------------------------------------------------------------------------------------


def test_inverse_and_solve_taylor_series_are_the_neumann_series():
    rng = np.random.default_rng(10)
    a0 = _matrix(rng, (3, 3), "wellconditioned")
    a1 = rng.normal(size=(3, 3))
    b = rng.normal(size=3)
    order = 4
    inverse = np.linalg.inv(a0)
    step = -inverse @ a1
    want = [np.linalg.matrix_power(step, k) @ inverse for k in range(order + 1)]
    got = ad.taylor(lambda t: np.linalg.inv(a0 + t * a1), 0.0, order)
    np.testing.assert_allclose(np.array(got), np.array(want), atol=1e-12)
    got_solve = ad.taylor(lambda t: np.linalg.solve(a0 + t * a1, b + t * b), 0.0, order)
    want_solve = [w @ b + (want[k - 1] @ b if k else 0) for k, w in enumerate(want)]
    np.testing.assert_allclose(np.array(got_solve), np.array(want_solve), atol=1e-12)


def test_decompositions_have_taylor_coefficients():
    """cholesky's Taylor rule comes from its JVP (series.FROM_JVP): ``L(t) L(t)^T = a + t I``
    holds coefficient by coefficient."""
    a = _matrix(np.random.default_rng(11), (3, 3), "spd")
    coefficients = ad.taylor(lambda t: np.linalg.cholesky(a + t * np.eye(3)), 0.0, 3)
    for k in range(4):
        product = sum(coefficients[j] @ coefficients[k - j].T for j in range(k + 1))
        np.testing.assert_allclose(product, [a, np.eye(3), 0, 0][k], atol=1e-13)


# ----------------------------------------------------------------------------------------------
# keywords and bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, match", [
    (lambda a: np.linalg.qr(a, mode="raw"), "raw"),
    (lambda a: np.trace(a, dtype=np.float32), "dtype"),
    (lambda a: np.trace(a, out=np.zeros(())), "out"),
    (lambda a: np.linalg.multi_dot([a, a], out=np.zeros((3, 3))), "out"),
    (lambda a: np.linalg.norm(a, bogus=1), "bogus"),
    (lambda a: np.linalg.solve(a, a, assume_a="pos"), "assume_a"),
])
def test_unsupported_keywords_are_refused_by_name(call, match):
    a = np.eye(3) * 2
    with pytest.raises(TypeError, match=match):
        ad.grad(lambda m: np.sum(call(m)))(a)


@pytest.mark.parametrize("call, error", [
    (lambda a: np.linalg.inv(a[:, :2]), np.linalg.LinAlgError),
    (lambda a: np.linalg.cholesky(a - 10 * np.eye(3)), np.linalg.LinAlgError),
    (lambda a: np.linalg.norm(a, ord="nuc", axis=0), ValueError),
    (lambda a: np.linalg.norm(a, axis=(0, 0)), ValueError),
    (lambda a: np.linalg.eigh(a, UPLO="X"), ValueError),
    (lambda a: np.linalg.matrix_power(a, 1.5), TypeError),
    (lambda a: np.linalg.multi_dot([a]), ValueError),
])
def test_bad_input_raises_numpys_error(call, error):
    a = np.eye(3) * 2
    with pytest.raises(error):
        call(a)
    with pytest.raises(error):
        ad.grad(lambda m: np.sum(call(m)))(a)


def test_eigenvalues_of_non_symmetric_matrices_are_refused_by_name():
    with pytest.raises(TypeError, match="eigvals"):
        ad.grad(lambda m: np.sum(np.linalg.eigvals(m)))(np.eye(2))
