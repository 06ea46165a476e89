"""Arrays built from traced values, writes into traced arrays, and sparse indexing cotangents.

* ``np.array([...])`` of traced values (issue 9 item 2): NumPy builds an object array; the first
  operation, the level's ``process`` or the transform's boundary lifts it into one ``pack``.
* ``y[index] = v``, ``y += t``, ``x.copy()``, ``np.zeros_like(x)`` (issue 9 item 3): NumPy's
  semantics, the derivative flowing through the written values; views share writes.
* ``x[i]`` cotangents are index-and-values, added into one buffer per base (issue 13 item 1):
  the same numbers as the dense scatter they replace, to the last bit.
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff.rules import indexing
from autodiff.testing import check_grads, check_hvp

X = np.array([0.5, -1.2, 2.0, 0.3])

# ----------------------------------------------------------------------------------------------
# np.array of traced values
# ----------------------------------------------------------------------------------------------

BUILDERS = {
    "flat": lambda x: np.array([x[0] * x[1], np.sin(x[2]), 3.0]),
    "nested": lambda x: np.array([[x[0], 1.0], [x[1] ** 2, x[3]]]),
    "asarray": lambda x: np.asarray([x[0], x[2] * x[3]]),
    "array-entries": lambda x: np.array([x, 2.0 * x]),
    "mixed-constant-row": lambda x: np.array([x[:2], [1.0, 2.0]]),
    "concatenate-inner-list": lambda x: np.concatenate([x, [x[0] * 3.0]]),
    "r_": lambda x: np.r_[x, x[0] * 3.0],
    "c_": lambda x: np.c_[x, x ** 2],
    "sum-of-list": lambda x: np.sum([x[0] * x[1], x[2]]),
    "ufunc-of-object-array": lambda x: np.exp(np.array([x[0], x[1] * x[2]])),
    "object-array-arithmetic": lambda x: 2.0 * np.array([x[0], x[1]]) + 1.0,
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_np_array_spellings_differentiate(name):
    f = BUILDERS[name]
    check_grads(f, X, modes=("fwd", "rev"), order=2)
    check_hvp(lambda x: np.sum(f(x) ** 2), X, np.linspace(1.0, -1.0, 4))


@pytest.mark.parametrize("name", ["flat", "nested", "array-entries"])
def test_np_array_value_shape_and_dtype_match_numpy(name):
    expected = BUILDERS[name](X)
    value, _ = ad.jvp(BUILDERS[name], X, np.ones(4))
    assert value.shape == expected.shape and value.dtype == expected.dtype
    np.testing.assert_array_equal(value, expected)


@pytest.mark.parametrize(
    "transform",
    [
        lambda f: ad.jacfwd(f)(X),
        lambda f: ad.jacrev(f)(X),
        lambda f: ad.hessian(lambda x: np.sum(f(x) ** 3))(X),
        lambda f: ad.linearize(f, X)[1](np.ones(4)),
        lambda f: ad.derivative(lambda t: f(X * t), 1.0, order=3),
        lambda f: ad.taylor(lambda t: f(X * t), 1.0, 4),
        lambda f: ad.jacfwd(lambda x: ad.grad(lambda y: np.sum(f(y * x)))(x))(X),
        lambda f: ad.jacrev(lambda x: ad.jvp(f, (x,), (x,))[1])(X),
    ],
    ids=["jacfwd", "jacrev", "hessian", "linearize", "derivative-3", "taylor-4",
         "jacfwd-of-grad", "jacrev-of-jvp"],
)
def test_np_array_in_every_transform_and_nesting(transform):
    """The np.array right-hand side and its np.stack spelling give the same numbers."""

    def with_array(x):
        return np.array([x[0] * x[1], np.sin(x[2]) * x[3], x[0]])

    def with_stack(x):
        return np.stack([x[0] * x[1], np.sin(x[2]) * x[3], x[0]])

    expected = transform(with_stack)
    computed = transform(with_array)
    for e, c in zip(np.atleast_1d(expected), np.atleast_1d(computed)):
        np.testing.assert_allclose(c, e, rtol=1e-14, atol=1e-300)


def test_object_array_meeting_a_traced_value_is_lifted_in_the_level():
    """Regression (clarifications): ``y + objarr`` inside jvp gave [1, 1] instead of [3, 4]."""

    def f(y):
        return y + np.array([y, 2.0 * y])

    value, tangent = ad.jvp(f, 1.0, 1.0)
    np.testing.assert_array_equal(value, [2.0, 3.0])
    np.testing.assert_array_equal(tangent, [2.0, 3.0])
    np.testing.assert_array_equal(ad.jacrev(lambda v: v + np.array([v[0], v[1]]) * v)(
        np.array([1.0, 2.0])), [[3.0, 0.0], [0.0, 5.0]])


def test_np_array_with_float_dtype_names_the_spelling_that_works():
    with pytest.raises(ValueError) as info:
        ad.grad(lambda x: np.sum(np.array([x, 2 * x], dtype=float)))(1.0)
    assert "np.array([...]) without dtype" in str(info.value.__cause__)


def test_ragged_nest_of_traced_values_is_refused_like_numpy():
    with pytest.raises(ValueError, match="inhomogeneous"):
        ad.jvp(lambda x: x[0] + np.array([x, x[0]], dtype=object), X, np.ones(4))


# ----------------------------------------------------------------------------------------------
# writes: NumPy's values, derivatives through the written values
# ----------------------------------------------------------------------------------------------

WRITES = {
    "int": lambda y, x: y.__setitem__(1, x[0] * x[3]),
    "negative-int": lambda y, x: y.__setitem__(-1, np.sin(x[1])),
    "slice": lambda y, x: y.__setitem__(slice(1, 3), x[:2] ** 2),
    "mask": lambda y, x: y.__setitem__(x > 0.4, 7.0 * x[0]),
    "int-array": lambda y, x: y.__setitem__(np.array([3, 0]), x[1:3] * x[0]),
    "repeated-int-array": lambda y, x: y.__setitem__(np.array([2, 2, 0]), x[:3] ** 3),
    "ellipsis": lambda y, x: y.__setitem__(Ellipsis, x[::-1] * x),
    "broadcast-scalar": lambda y, x: y.__setitem__(slice(None, None, 2), x[2]),
}


def _written(write):
    def f(x):
        y = np.zeros_like(x) + x * x
        write(y, x)
        return y * x

    return f


@pytest.mark.parametrize("name", sorted(WRITES))
def test_write_value_matches_numpy_and_differentiates(name):
    f = _written(WRITES[name])
    expected = f(X.copy())
    value, _ = ad.jvp(f, X, np.ones(4))
    np.testing.assert_array_equal(value, expected)
    check_grads(f, X, modes=("fwd", "rev"), order=2)
    check_hvp(lambda x: np.sum(f(x) ** 2), X, np.linspace(-1.0, 1.0, 4))


def test_matrix_writes_with_views():
    def f(x):
        m = np.outer(x, x[::-1]).copy()
        row = m[1]  # a view of m
        m[:, 0] = x  # seen by row
        row *= 2.0  # written into m
        m[2:, 1:3] += np.sin(x[:2])
        return m, row

    m, row = f(X.copy())
    (value_m, value_row), _ = ad.jvp(f, X, np.ones(4))
    np.testing.assert_array_equal(value_m, m)
    np.testing.assert_array_equal(value_row, row)
    check_grads(f, X, modes=("fwd", "rev"), order=2)


def test_transposed_and_reshaped_views_share_writes():
    def f(x):
        m = x.reshape(2, 2).copy()
        t = m.T
        flat = m.ravel()
        t[0, 1] = 10.0 * x[0]  # m[1, 0]
        flat[3] = x[1] ** 2  # m[1, 1]
        return m, t, flat

    expected = f(X.copy())
    for got, want in zip(ad.jvp(f, X, np.ones(4))[0], expected):
        np.testing.assert_array_equal(got, want)
    check_grads(f, X, modes=("fwd", "rev"), order=2)


def test_copy_is_not_a_view():
    def f(x):
        y = x * 1.0
        z = y.copy()
        z[0] = 100.0
        return y, z

    (y, z), (ty, tz) = ad.jvp(f, X, np.ones(4))
    assert y[0] == X[0] and z[0] == 100.0 and ty[0] == 1.0 and tz[0] == 0.0


@pytest.mark.parametrize("like", [np.zeros_like, np.ones_like, np.empty_like])
def test_like_constructors_take_traced_writes(like):
    def f(x):
        y = like(x)
        y[0] = x[3]
        y[1:] = x[:-1] * x[1:]
        return y

    value, _ = ad.jvp(f, X, np.ones(4))
    assert value.dtype == X.dtype and value.shape == X.shape
    check_grads(f, X, modes=("fwd", "rev"), order=2)


def test_full_like_keeps_the_derivative_of_a_traced_fill():
    """Regression (issue 9 item 5): np.full_like(x, t) dropped t's derivative."""
    grad = ad.grad(lambda x: np.sum(np.full_like(x, x[0] * 2.0) ** 2))(X)
    np.testing.assert_allclose(grad, [8 * 4 * X[0], 0.0, 0.0, 0.0])


def test_float32_writes_stay_float32():
    x32 = X.astype(np.float32)

    def f(x):
        y = np.zeros_like(x)
        y[1:] = x[:-1] * 2.0
        return y

    value, tangent = ad.jvp(f, x32, np.ones(4, np.float32))
    assert value.dtype == np.float32 and tangent.dtype == np.float32


def test_write_of_an_inner_transform_value_into_an_outer_array_is_refused():
    def outer(x):
        buffer = np.zeros_like(x)

        def inner(y):
            buffer[0] = y[0]
            return np.sum(y)

        return ad.grad(inner)(x)

    with pytest.raises(TypeError, match="inner transform"):
        ad.jvp(outer, X, np.ones(4))


def test_gradient_of_a_value_read_before_it_was_overwritten():
    """Nodes recorded before a write keep the version they read."""

    def f(x):
        y = x * 1.0
        before = np.sum(y ** 2)
        y[0] = 5.0 * x[1]
        return before + np.sum(y)

    expected = 2 * X + np.array([0.0, 6.0, 1.0, 1.0])
    np.testing.assert_allclose(ad.grad(f)(X), expected, rtol=1e-15)
    check_grads(f, X, modes=("fwd", "rev"), order=2)


# ----------------------------------------------------------------------------------------------
# sparse indexing cotangents: the same numbers as the dense scatter
# ----------------------------------------------------------------------------------------------


def _rosenbrock_loop(x):
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
               for i in range(len(x) - 1))


INDEXED = {
    "x[i] loop": (_rosenbrock_loop, np.linspace(-1.0, 1.5, 12)),
    "x[i, j] loop": (lambda m: sum(m[i, j] * m[j, i] ** 2 for i in range(3) for j in range(3)),
                     np.arange(9.0).reshape(3, 3) / 7.0),
    "slices": (lambda x: np.sum(x[1:] * x[:-1]) + np.sum(x[::2] ** 3), np.linspace(0.1, 1, 7)),
    "integer arrays, repeated": (lambda x: np.sum(np.sin(x[np.array([0, 3, 3, 1, 0])]) * x[2]),
                                 np.linspace(0.2, 1.4, 5)),
    "row of a matrix": (lambda m: sum(np.sum(m[i] ** 2) * m[i, 0] for i in range(3)),
                        np.arange(6.0).reshape(3, 2) / 5.0),
}


@pytest.fixture
def dense_indexing_cotangents(monkeypatch):
    """The sweep as it was before sparse cotangents: getitem's dense scatter-add VJP."""
    monkeypatch.setattr(indexing.getitem, "sparse_vjp", None)


def _derivatives(f, x):
    return [
        ad.grad(lambda y: f(y))(x),
        ad.jacrev(lambda y: f(y) * y)(x),
        ad.hvp(f, x, np.ones_like(x)),
        ad.hessian(f)(x),
        ad.jacrev(ad.grad(f))(x),
    ]


@pytest.mark.parametrize("name", sorted(INDEXED))
def test_sparse_cotangents_give_the_dense_numbers_to_the_last_bit(name, request):
    f, x = INDEXED[name]
    sparse = _derivatives(f, x)
    request.getfixturevalue("dense_indexing_cotangents")
    dense = _derivatives(f, x)
    for s, d in zip(sparse, dense):
        np.testing.assert_array_equal(s, d)


def test_scalar_loop_over_an_ndarray_equals_the_loop_over_floats_bit_for_bit():
    x = np.random.default_rng(0).uniform(-1.0, 1.0, 30)
    over_array = ad.grad(_rosenbrock_loop)(x)
    over_floats = np.array(ad.grad(_rosenbrock_loop)([float(v) for v in x]))
    np.testing.assert_array_equal(over_array, over_floats)


def test_scalar_loop_keeps_one_cotangent_array_per_base():
    """The sweep adds every x[i] into one buffer: no per-use dense arrays."""
    calls = []
    dense = indexing.SparseCotangent.dense

    def counting_dense(self):
        calls.append(self.shape)
        return dense(self)

    x = np.linspace(-1.0, 1.0, 50)
    indexing.SparseCotangent.dense = counting_dense
    try:
        ad.grad(_rosenbrock_loop)(x)
    finally:
        indexing.SparseCotangent.dense = dense
    assert calls == [(50,)]


def test_scalar_index_fast_path_keeps_the_checks_of_the_general_path():
    """x[i] of a float64 vector takes Var.__getitem__'s own node and the sweep's inline add;
    escaped values, released tapes, no_grad, bounds and negative indices behave as on the
    general path."""
    leaked = []
    ad.grad(lambda x: (leaked.append(x), x[0] * 2.0)[1])(np.ones(3))
    with pytest.raises(ad.EscapedTracerError):
        leaked[0][1]

    v = ad.Var(np.array([1.0, 2.0, 3.0]))
    read = v[-1]
    y = read * v[1]
    y.backward()
    np.testing.assert_array_equal(v.grad, [0.0, 3.0, 2.0])
    with pytest.raises(RuntimeError, match="backward through a released tape: the 'getitem'"):
        (read * 4.0).backward()
    with ad.no_grad():
        assert type(v[1]) is float and v[1] == 2.0
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        v[3]
    with pytest.raises(IndexError, match="index -4 is out of bounds for axis 0 with size 3"):
        ad.grad(lambda x: x[-4])(np.ones(3))


def test_copyto_writes_into_a_traced_array_and_names_the_way_for_a_plain_one():
    def f(x):
        y = np.zeros_like(x)
        np.copyto(y, np.sin(x), where=x > 0.4)
        return y

    np.testing.assert_array_equal(ad.jvp(f, X, np.ones(4))[0], np.where(X > 0.4, np.sin(X), 0))
    check_grads(f, X, modes=("fwd", "rev"), order=2)
    with pytest.raises(TypeError, match=r"np.full_like\(x, t\) or np.zeros_like\(x\)"):
        ad.grad(lambda t: np.sum(np.full_like(np.zeros(3), t)))(1.0)
