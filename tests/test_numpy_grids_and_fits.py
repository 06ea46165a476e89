"""Grids, quadrature, polynomial fits and diagonal writes on traced values (issue 9).

``np.linspace`` / ``logspace`` / ``geomspace`` / ``meshgrid`` (autodiff.numpy_api.grids),
``np.trapezoid`` (.integration), ``np.vander`` / ``np.polyfit`` (.polynomials) and
``np.fill_diagonal`` (.diagonals): NumPy's bits, shapes and dtypes on traced inputs, central
differences at orders 1 and 2 in both modes, forward = reverse, an HVP, ad.jit bit for bit
(also on new values and across the data-dependent branches), float32, and bad input.  The table
test and the differential fuzzer sweep the declared cases as well.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.polynomial.polynomial as P
import pytest

import autodiff as ad
from autodiff.testing import check_grads, check_hvp

RNG = np.random.default_rng(7)
X = np.sort(RNG.uniform(-1.0, 2.0, size=9))
Y = RNG.normal(size=9)


def _traced_values(f, *xs):
    """``f``'s value inside jvp and inside vjp."""
    forward, _ = ad.jvp(f, xs, tuple(np.ones_like(x) for x in xs))
    reverse, _ = ad.vjp(f, xs)
    return forward, reverse


def _leaves(value):
    return [v for item in value for v in _leaves(item)] if isinstance(value, (tuple, list)) \
        else [value]


def _assert_bits(actual, expected):
    actual, expected = _leaves(actual), _leaves(expected)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        a, e = np.asarray(a), np.asarray(e)
        assert a.dtype == e.dtype and a.shape == e.shape, (a.dtype, a.shape, e.dtype, e.shape)
        np.testing.assert_array_equal(a, e)


# ----------------------------------------------------------------------------------------------
# values: NumPy's bits, shapes and dtypes on traced inputs
# ----------------------------------------------------------------------------------------------

F32 = np.float32
VALUE_CASES = {
    "linspace": (lambda a, b: np.linspace(a, b, 11), (0.3, 2.7)),
    "linspace-arrays-axis": (lambda a, b: np.linspace(a, b, 7, endpoint=False, axis=-1),
                             (RNG.normal(size=3), RNG.normal(size=(2, 3)))),
    "linspace-equal-ends": (lambda a, b: np.linspace(a, a, 7) + b, (0.3, 2.7)),
    "linspace-retstep": (lambda a, b: np.linspace(a, b, 6, retstep=True), (0.3, 2.7)),
    "linspace-one": (lambda a, b: np.linspace(a, b, 1, retstep=True)[0], (0.3, 2.7)),
    "linspace-dtype=float32": (lambda a, b: np.linspace(a, b, 9, dtype=F32), (0.3, 2.7)),
    "linspace-float32": (lambda a, b: np.linspace(a, b, 9),
                         (np.full(2, 0.3, F32), np.full(2, 2.7, F32))),
    "logspace": (lambda a, b: np.logspace(a, b, 9), (0.3, 2.7)),
    "logspace-array-base": (lambda a, b: np.logspace(a, b, 5, base=[2.0, 3.0], axis=-1),
                            (0.3, 2.7)),
    "logspace-traced-base": (lambda a, b: np.logspace(0.5, 1.5, 4, base=a + b), (1.5, 0.5)),
    "geomspace": (lambda a, b: np.geomspace(a, b, 9), (0.3, 2.7)),
    "geomspace-negative": (lambda a, b: np.geomspace(-a, -b, 9, endpoint=False), (0.3, 2.7)),
    "geomspace-float32": (lambda a, b: np.geomspace(a, b, 4),
                          (np.full(2, 0.3, F32), np.full(2, 2.7, F32))),
    "meshgrid-xy": (lambda a, b: np.meshgrid(a, b), (RNG.normal(size=3), RNG.normal(size=4))),
    "meshgrid-ij-sparse": (lambda a, b: np.meshgrid(a, b, b, indexing="ij", sparse=True),
                           (RNG.normal(size=3), RNG.normal(size=4))),
    "trapezoid": (lambda y, x: np.trapezoid(y, x), (Y, X)),
    "trapezoid-axis0": (lambda y, x: np.trapezoid(y, x, axis=0), (RNG.normal(size=(9, 3)), X)),
    "trapezoid-x-matrix-y-vector": (lambda y, x: np.trapezoid(y, x),
                                    (Y[:5], RNG.normal(size=(2, 5)))),
    "trapezoid-dx-float32": (lambda y, h: np.trapezoid(y, dx=h), (Y.astype(F32), F32(0.25))),
    "vander": (lambda x, _: np.vander(x, 5), (X, Y)),
    "polyfit": (lambda x, y: np.polyfit(x, y, 3), (X, Y)),
    "polyfit-weights": (lambda x, y: np.polyfit(x, y, 2, w=x ** 2 + 1.0), (X, Y)),
    "polyfit-float32": (lambda x, y: np.polyfit(x, y, 2), (X.astype(F32), Y.astype(F32))),
    "polyfit-full": (lambda x, y: np.polyfit(x, y, 2, full=True)[::4][0], (X, Y)),
}


@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_value_is_numpys_to_the_bit(name):
    f, xs = VALUE_CASES[name]
    xs = tuple(np.asarray(x) if np.ndim(x) else x for x in xs)
    expected = f(*xs)
    for traced in _traced_values(f, *xs):
        assert type(traced) is type(expected) or not isinstance(expected, (tuple, list))
        _assert_bits(traced, expected)


def test_polyfit_covariance_matches_numpy():
    """``cov=True`` scales by LAPACK's residuals in NumPy; ours are summed squares: to 1e-14."""
    for traced in _traced_values(lambda x, y: np.polyfit(x, y, 2, cov=True), X, Y):
        for mine, numpys in zip(traced, np.polyfit(X, Y, 2, cov=True)):
            np.testing.assert_allclose(mine, numpys, rtol=1e-13, atol=1e-16)


def test_float32_derivatives_stay_float32():
    a, b = np.full(3, 0.5, F32), np.full(3, 2.0, F32)
    _, tangent = ad.jvp(lambda a, b: np.linspace(a, b, 5), (a, b), (np.ones_like(a), a))
    assert tangent.dtype == F32
    g = ad.grad(lambda y: np.trapezoid(y ** 2, dx=0.5))(np.linspace(0, 1, 5, dtype=F32))
    assert g.dtype == F32
    # NumPy's geomspace works in float64 for float32 end points; the gradient is float32 again
    g = ad.grad(lambda a: np.sum(np.geomspace(a, 2 * a, 4)))(a)
    assert g.dtype == F32
    np.testing.assert_allclose(g, np.sum(np.geomspace(1.0, 2.0, 4)), rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# derivatives: central differences (orders 1, 2, both modes), forward = reverse, HVP
# ----------------------------------------------------------------------------------------------


def _fill(p):
    a = np.outer(p, p[::-1])
    np.fill_diagonal(a, np.sin(p[:3]))
    return np.sum(a ** 3)


SCALAR_FUNCTIONS = {
    "linspace": lambda p: np.sum(np.sin(np.linspace(p[0], p[1], 11)) ** 2),
    "linspace-retstep": lambda p: np.linspace(p[0], p[1], 11, retstep=True)[1] ** 2
    * np.sum(np.linspace(p[0], p[1], 11, endpoint=False, axis=0)),
    "linspace-arrays": lambda p: np.sum(np.cos(np.linspace(p[:3], p[3:6], 4, axis=1))),
    "logspace": lambda p: np.sum(np.logspace(p[0], p[1], 7, base=p[2] + 2.0)),
    "geomspace": lambda p: np.sum(np.geomspace(-p[0] - 2.0, -p[1] - 3.0, 7) ** 2),
    "meshgrid": lambda p: np.sum(np.exp(np.meshgrid(p[:4], 2 * p[4:7])[0]
                                        * np.meshgrid(p[:4], p[4:7], indexing="ij")[1].T)),
    "trapezoid-y-and-x": lambda p: np.trapezoid(np.sin(p) ** 2, np.cumsum(np.exp(p))),
    "trapezoid-dx": lambda p: np.trapezoid(np.outer(p[:4], p[4:]), dx=p[0], axis=0) @ p[4:],
    "polyfit": lambda p: np.sum(np.polyfit(X + 0.1 * p[:9], Y * p[:9], 3) ** 2),
    "polyfit-weights-cov": lambda p: np.sum(np.polyfit(X, Y, 2, w=p[:9], cov=True)[1]),
    "polynomial.polyval": lambda p: np.sum(P.polyval(p[:3], p[3:7]) ** 2),
    "fill_diagonal": _fill,
}
P0 = np.abs(RNG.normal(size=12)) + 0.5
P1 = np.abs(RNG.normal(size=12)) + 0.5


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS))
def test_central_differences_both_modes_order_two(name):
    """``check_grads``: central differences at orders 1 and 2, and <u, Jv> = <J^T u, v>."""
    check_grads(SCALAR_FUNCTIONS[name], P0, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS))
def test_forward_equals_reverse_and_hvp_matches_differenced_gradients(name):
    f = SCALAR_FUNCTIONS[name]
    forward = ad.jacfwd(f)(P0)
    reverse = ad.grad(f)(P0)
    np.testing.assert_allclose(forward, reverse, rtol=1e-12, atol=1e-14 * np.abs(reverse).max())
    check_hvp(f, P0, P1)


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS))
def test_jit_replays_bit_for_bit(name):
    f = SCALAR_FUNCTIONS[name]
    compiled, compiled_grad = ad.jit(f), ad.jit(ad.grad(f))
    for p in (P0, P1, P0 * 1.1):  # the recorded point, then replays at new values
        assert compiled(p) == f(p)
        np.testing.assert_array_equal(compiled_grad(p), ad.grad(f)(p))


def test_linspace_of_equal_ends_takes_numpys_zero_step_branch_under_jit():
    """NumPy scales ``arange / div`` by ``stop - start`` when a step is 0 (gh-5437); the test is
    a guard in ad.jit, so a replay at equal end points records again instead of reusing it."""
    def f(p):
        samples, step = np.linspace(p[0], p[1], 5, retstep=True)
        return np.sum(samples * np.arange(1.0, 6.0)) * p[0] + step

    g, compiled = ad.grad(f), ad.jit(ad.grad(f))
    for p in (np.array([0.5, 2.0]), np.array([0.7, 0.7]), np.array([0.1, -3.0])):
        np.testing.assert_array_equal(compiled(p), g(p))
    # d/da of sum_k (a + k (b - a)/4) * p_k ... at a = b: the weights (1 - k/4), (k/4)
    np.testing.assert_allclose(ad.jacfwd(lambda p: np.linspace(p[0], p[1], 5))(
        np.array([0.7, 0.7])), np.stack([1 - np.arange(5) / 4, np.arange(5) / 4], axis=1))


def test_second_derivative_of_trapezoid_in_x_is_exact():
    """``trapezoid(y, x)`` is bilinear: its Hessian in ``x`` alone is zero, in ``(y, x)`` not."""
    y = np.sin(X)
    np.testing.assert_array_equal(ad.hessian(lambda x: np.trapezoid(y, x))(X), 0.0)
    mixed = ad.jacfwd(ad.grad(lambda y, x: np.trapezoid(y, x), argnums=1), argnums=0)(y, X)
    expected = np.zeros((9, 9))
    expected[np.arange(1, 9), np.arange(8)] = 0.5  # d/dx_k: (y_{k-1} - y_{k+1}) / 2 inside
    expected[np.arange(8), np.arange(1, 9)] = -0.5
    expected[0, 0], expected[8, 8] = -0.5, 0.5
    np.testing.assert_array_equal(mixed, expected)


# ----------------------------------------------------------------------------------------------
# fill_diagonal and meshgrid: NumPy's in-place and aliasing semantics
# ----------------------------------------------------------------------------------------------


def test_fill_diagonal_writes_in_place_and_the_overwritten_diagonal_gets_no_derivative():
    def f(m, v):
        m = m.copy()
        before = np.sum(m)  # read before the write: sees the old diagonal
        np.fill_diagonal(m, v)
        return np.sum(m) + 2.0 * before

    m, v = RNG.normal(size=(3, 3)), 0.5
    dm, dv = ad.grad(f, argnums=(0, 1))(m, v)
    np.testing.assert_array_equal(dm, 3.0 - np.eye(3))
    assert dv == 3.0


@pytest.mark.parametrize("shape, val, wrap", [
    ((7, 3), [1.0, 2.0], True), ((7, 3), [1.0, 2.0], False), ((3, 3, 3), [4.0], False),
    ((2, 5), [1.0, 2.0, 3.0], False),
])
def test_fill_diagonal_positions_cycling_and_wrap_are_numpys(shape, val, wrap):
    def f(a, v):
        a = a.copy()
        np.fill_diagonal(a, v, wrap=wrap)
        return a

    a, v = RNG.normal(size=shape), np.asarray(val)
    expected = f(a, v)
    for traced in _traced_values(f, a, v):
        _assert_bits(traced, expected)
    written = np.zeros(shape)
    np.fill_diagonal(written, 1.0, wrap=wrap)
    d_a, d_v = ad.jacrev(f, argnums=(0, 1))(a, v)
    # a written entry is one val entry (derivative 1 in it), the others keep a's own
    np.testing.assert_array_equal(np.sum(d_v, axis=-1), written)
    np.testing.assert_array_equal(d_a.reshape(a.size, a.size),
                                  np.diag(1.0 - written.reshape(-1)))


def test_fill_diagonal_through_a_view_reaches_its_base():
    def f(x):
        base = np.zeros_like(np.outer(x, x))
        np.fill_diagonal(base[1:, 1:], x[:2])
        return base

    x = np.array([1.0, 2.0, 3.0])
    expected = np.zeros((3, 3))
    np.fill_diagonal(expected[1:, 1:], x[:2])
    value, jac = ad.jvp(f, x, np.ones(3))
    _assert_bits(value, expected)
    np.testing.assert_array_equal(jac, np.diag([0.0, 1.0, 1.0]))


def test_fill_diagonal_of_a_plain_array_with_a_traced_value_says_what_to_write():
    def f(t):
        a = np.zeros((3, 3))
        np.fill_diagonal(a, t)
        return np.sum(a)

    with pytest.raises(ValueError) as raised:
        ad.grad(f)(1.5)
    cause = raised.value.__cause__
    assert isinstance(cause, TypeError)
    assert "np.zeros_like(x)" in str(cause) and "fill_diagonal" in str(cause)


def test_fill_diagonal_into_a_transform_input_is_refused():
    def f(m):
        np.fill_diagonal(m, 1.0)
        return np.sum(m)

    with pytest.raises(TypeError, match="copy"):
        ad.grad(f)(np.ones((2, 2)))


def test_meshgrid_without_copy_keeps_numpys_aliasing():
    def sparse_view(x, y):
        x = x.copy()
        gx, _ = np.meshgrid(x, y, sparse=True, copy=False)
        gx[0, 1] = 10.0 * y[0]  # a view: lands in x
        return x

    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.5, 4.0])
    expected = sparse_view(x, y)
    value, tangent = ad.jvp(sparse_view, (x, y), (np.zeros(3), np.ones(2)))
    _assert_bits(value, expected)
    np.testing.assert_array_equal(tangent, [0.0, 10.0, 0.0])

    def dense_view(x, y):
        gx, _ = np.meshgrid(x, y, copy=False)
        gx[0, 0] = 1.0

    # NumPy 2 writes through every aliased row, with a DeprecationWarning (read-only to come)
    with pytest.raises(ValueError, match="read-only"):
        ad.jvp(lambda x: dense_view(x.copy(), y), x, x)

    def dense_sees_base(x):
        x = x.copy()
        gx, _ = np.meshgrid(x, y, copy=False)
        x[2] = 7.0
        return gx

    _assert_bits(ad.jvp(dense_sees_base, x, x)[0], dense_sees_base(x))


def test_meshgrid_returns_numpys_containers():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    for keywords in ({}, {"sparse": True}, {"copy": False}, {"sparse": True, "copy": False}):
        out = ad.jvp(lambda a: np.meshgrid(a, y, **keywords), x, x)[0]
        assert type(out) is type(np.meshgrid(x, y, **keywords))


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, match", [
    (lambda t: np.linspace(t, 2 * t, 5, dtype=int), TypeError, "dtype=int64"),
    (lambda t: np.logspace(t, 2 * t, 5, dtype=np.int32), TypeError, "int32"),
    (lambda t: np.geomspace(t, 2 * t, 5, dtype=int), TypeError, "dtype=int64"),
    (lambda t: np.linspace(t, 2 * t, -1), ValueError, "non-negative"),
    (lambda t: np.geomspace(t - t, t, 3), ValueError, "cannot include zero"),
    (lambda t: np.meshgrid(t, t, indexing="yx"), ValueError, "indexing"),
    (lambda t: np.trapezoid(np.stack([t, t]), axis=3), IndexError, "out of range"),
    (lambda t: np.trapezoid(np.stack([t, t, t]), x=[0.0, 1.0, 2.0, 4.0]), ValueError,
     "broadcast"),
    (lambda t: np.polyfit(np.stack([t, t]), np.stack([t, t]), -1), ValueError, "deg"),
    (lambda t: np.polyfit(np.stack([t, t]), np.stack([t, t, t]), 1), TypeError, "same length"),
    (lambda t: np.polyfit(np.stack([t, t]), np.stack([t, t]), 1, w=[[1.0]]), TypeError, "1-d"),
    (lambda t: np.vander(np.ones((2, 2)) * t), ValueError, "one-dimensional"),
    (lambda t: np.fill_diagonal(np.stack([t, t]).copy(), t), ValueError, "at least 2-d"),
    (lambda t: np.fill_diagonal(np.ones((2, 3, 2)) * t, t), ValueError, "equal length"),
], ids=lambda v: getattr(v, "__name__", str(v))[:20])
def test_bad_input_raises_numpys_error_or_names_the_refusal(call, error, match):
    for transform in (lambda f: ad.grad(lambda t: np.sum(f(t))), lambda f: ad.jacfwd(f)):
        with pytest.raises(error, match=match):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                transform(call)(1.5)


def test_rank_deficient_polyfit_warns_as_numpy_does():
    x = np.array([1.0, 1.0, 1.0, 2.0])
    with pytest.warns(np.exceptions.RankWarning):
        np.polyfit(x, Y[:4], 3)
    with pytest.warns(np.exceptions.RankWarning):
        ad.jacrev(lambda y: np.polyfit(x, y, 3))(Y[:4])
