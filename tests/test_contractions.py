"""Contractions on traced values: ``einsum``, ``tensordot``, ``kron``, ``cross``, ``vdot``,
``inner``.

The rule table (tests/test_rule_table.py, tests/test_shapes_and_batching.py) already sweeps the
declared cases: central differences, ``<u, Jv> = <J^T u, v>``, batched directions, float32 and
second order.  Here: NumPy's exact values, shapes and dtypes for hypothesis-drawn operands, the
Taylor rule, keywords, bad input, and the ``inner`` regression.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autodiff as ad
from autodiff.rules.contractions import parse_subscripts

SETTINGS = settings(max_examples=25, deadline=None)

# subscripts and operand shapes NumPy accepts; sizes are drawn per index below
EINSUM_SPECS = [
    ("ij,jk->ik", ("ij", "jk")),
    ("ij,jk", ("ij", "jk")),
    ("ii->i", ("ii",)),
    ("ii", ("ii",)),
    ("ij->", ("ij",)),
    ("ji", ("ij",)),
    ("i,i", ("i", "i")),
    ("i,j->ij", ("i", "j")),
    ("iij,j->i", ("iij", "j")),
    ("ijk,jil->kl", ("ijk", "jil")),
    ("ij,jk,kl->il", ("ij", "jk", "kl")),
    ("bqd,bkd->bqk", ("bqd", "bkd")),
    ("...ij,...jk->...ik", ("bij", "bjk")),
    ("...j,j", ("abj", "j")),
    ("i...i", ("iai",)),
]


@st.composite
def einsum_calls(draw):
    subscripts, layout = draw(st.sampled_from(EINSUM_SPECS))
    sizes = {c: draw(st.integers(1, 4)) for c in set("".join(layout))}
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    operands = [rng.normal(size=tuple(sizes[c] for c in part)).astype(dtype) for part in layout]
    optimize = draw(st.sampled_from([False, True, "greedy", "optimal"]))
    return subscripts, operands, optimize


@SETTINGS
@given(einsum_calls())
def test_einsum_value_shape_and_dtype_are_numpys(call):
    subscripts, operands, optimize = call
    expected = np.einsum(subscripts, *operands, optimize=optimize)
    tangents = [np.ones_like(x) for x in operands]
    value, tangent = ad.jvp(
        lambda *xs: np.einsum(subscripts, *xs, optimize=optimize), tuple(operands), tuple(tangents)
    )
    np.testing.assert_array_equal(value, expected)
    assert np.shape(value) == np.shape(expected) == np.shape(tangent)
    assert np.result_type(value) == np.result_type(expected) == np.result_type(tangent)


@SETTINGS
@given(einsum_calls())
def test_einsum_gradient_matches_central_differences(call):
    subscripts, operands, optimize = call
    operands = [x.astype(np.float64) for x in operands]
    weights = np.random.default_rng(0).normal(size=np.shape(np.einsum(subscripts, *operands)))
    argnums = tuple(range(len(operands)))

    def loss(*xs):
        return np.sum(weights * np.einsum(subscripts, *xs, optimize=optimize))

    grads = ad.grad(loss, argnums=argnums)(*operands)
    for k, x in enumerate(operands):
        numeric = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            step = np.zeros_like(x)
            step[index] = 1e-6
            plus, minus = list(operands), list(operands)
            plus[k], minus[k] = x + step, x - step
            numeric[index] = (loss(*plus) - loss(*minus)) / 2e-6
        np.testing.assert_allclose(grads[k], numeric, rtol=1e-6, atol=1e-8)


def test_einsum_taylor_coefficients_match_nested_derivatives():
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(2,))

    def f(s):
        return np.einsum("ij,jk,k->i", np.sin(a * s), b * s + b, np.exp(c * s))

    def nested(h, k):
        for _ in range(k):
            h = (lambda g: lambda y: ad.jvp(g, y, 1.0)[1])(h)
        return h

    coefficients = ad.taylor(f, 0.4, 4)
    for k, coefficient in enumerate(coefficients):
        np.testing.assert_allclose(
            np.asarray(coefficient) * math.factorial(k), nested(f, k)(0.4), rtol=1e-11, atol=1e-12
        )


def test_einsum_with_one_varying_operand_taylor_is_linear():
    a = np.arange(6.0).reshape(2, 3)
    coefficients = ad.taylor(lambda s: np.einsum("ij,j->i", a, (s * np.ones(3)) ** 2), 1.5, 3)
    np.testing.assert_allclose(coefficients[0], a.sum(axis=1) * 2.25)
    np.testing.assert_allclose(coefficients[1], a.sum(axis=1) * 3.0)
    np.testing.assert_allclose(coefficients[2], a.sum(axis=1))
    np.testing.assert_allclose(coefficients[3], 0.0)


def test_diagonal_cotangent_is_scattered_onto_the_diagonal():
    x = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(ad.grad(lambda m: np.einsum("ii", m))(x), np.eye(3))
    jacobian = ad.jacrev(lambda m: np.einsum("ii->i", m))(x)
    expected = np.zeros((3, 3, 3))
    for i in range(3):
        expected[i, i, i] = 1.0
    np.testing.assert_array_equal(jacobian, expected)


def test_index_summed_only_within_one_operand_is_broadcast_back():
    x, v = np.ones((3, 4)), np.arange(4.0)
    np.testing.assert_array_equal(ad.grad(lambda m: np.einsum("ij,j->", m, v))(x),
                                  np.broadcast_to(v, (3, 4)))


def test_sublist_form_follows_numpys_labels_and_implicit_order():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    for call in [
        lambda x, y: np.einsum(x, [0, 1], y, [1, 2]),
        lambda x, y: np.einsum(x, [30, 1], y, [1, 2]),
        lambda x, y: np.einsum(x, [0, Ellipsis], y, [Ellipsis, 2], [2, Ellipsis, 0]),
    ]:
        expected = call(a, b)
        value, _ = ad.jvp(call, (a, b), (a, b))
        np.testing.assert_array_equal(value, expected)


def test_parsed_subscripts_write_out_ellipsis_and_implicit_output():
    parsed = parse_subscripts("...ij,jk", (3, 2))
    assert len(parsed.inputs[0]) == 3 and parsed.inputs[1] == "jk"
    assert parsed.output == parsed.inputs[0][0] + "ik"
    assert parse_subscripts("Ba", (2,)).output == "Ba"
    assert parse_subscripts("aB", (2,)).output == "Ba"


@pytest.mark.parametrize("keyword, value", [
    ("out", np.zeros(3)), ("dtype", np.float32), ("order", "C"), ("casting", "unsafe"),
])
def test_einsum_refuses_keywords_it_cannot_honour(keyword, value):
    x = ad.Dual(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match=keyword):
        np.einsum("i,i->i", x, x, **{keyword: value})


@pytest.mark.parametrize("subscripts, shapes, match", [
    ("ij,jk->ik", [(2, 3)], "operands"),
    ("ij", [(2, 3, 4)], "more dimensions than subscripts"),
    ("i1->i", [(2, 2)], "invalid subscript"),
    ("ij,jk->ik", [(2, 3), (4, 2)], "shape"),
])
def test_bad_einsum_input_raises_value_error(subscripts, shapes, match):
    operands = [ad.Dual(np.ones(s), np.ones(s)) for s in shapes]
    with pytest.raises(ValueError, match=match):
        np.einsum(subscripts, *operands)


def test_inner_of_a_scalar_is_the_scaled_array_not_its_transpose():
    """Regression: np.inner(scalar, M) returned M.T (value and derivatives transposed)."""
    m = np.arange(12.0).reshape(3, 4)
    value, tangent = ad.jvp(lambda s: np.inner(s, m), 2.0, 1.0)
    np.testing.assert_array_equal(value, np.inner(2.0, m))
    np.testing.assert_array_equal(tangent, m)
    np.testing.assert_array_equal(ad.grad(lambda a: np.sum(np.inner(2.0, a) * m))(m), 2.0 * m)


@pytest.mark.parametrize("shapes", [((), (3, 4)), ((4,), (4,)), ((2, 3, 4), (5, 4)),
                                    ((4,), (2, 3, 4)), ((3, 4), ())])
def test_inner_matches_numpy_for_every_rank(shapes):
    """NumPy sums N-D operands element by element (one BLAS dot per entry); ours is one
    matrix product, so the last bit may differ there."""
    rng = np.random.default_rng(5)
    a, b = (rng.normal(size=s) for s in shapes)
    value, _ = ad.jvp(np.inner, (a, b), (a, b))
    np.testing.assert_allclose(value, np.inner(a, b), rtol=1e-14, atol=1e-15)
    assert np.shape(value) == np.shape(np.inner(a, b))


@pytest.mark.parametrize("a_shape, b_shape, kwargs", [
    ((3,), (3,), {}), ((4, 3), (3,), {}), ((3, 4), (3, 4), {"axis": 0}),
    ((3, 2), (2, 3), {"axisa": 0, "axisb": 1, "axisc": 0}), ((2, 3), (3,), {"axisc": 0}),
])
def test_cross_values_are_numpys(a_shape, b_shape, kwargs):
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
    value, _ = ad.jvp(lambda x, y: np.cross(x, y, **kwargs), (a, b), (a, b))
    np.testing.assert_array_equal(value, np.cross(a, b, **kwargs))


@pytest.mark.parametrize("a_shape, b_shape", [((2,), (2,)), ((2,), (3,)), ((4, 3), (4, 2))])
def test_cross_of_2_vectors_warns_as_numpy_and_differentiates(a_shape, b_shape):
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
    with pytest.warns(DeprecationWarning):
        expected = np.cross(a, b)
    with pytest.warns(DeprecationWarning):
        ad.testing.check_grads(lambda x, y: np.cross(x, y), (a, b))
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(ad.jvp(np.cross, (a, b), (a, b))[0], expected)


@pytest.mark.parametrize("call, error", [
    (lambda x: np.cross(x, x[:, :1]), ValueError),
    (lambda x: np.tensordot(x, x, axes=([0], [0, 1])), ValueError),
    (lambda x: np.tensordot(x, x, axes=([0, 0], [0, 1])), ValueError),
    (lambda x: np.vdot(x, x[0]), ValueError),
    (lambda x: np.inner(x, x[:, :2]), ValueError),
])
def test_bad_contraction_input_raises(call, error):
    x = ad.Dual(np.ones((3, 3)), np.ones((3, 3)))
    with pytest.raises(error):
        call(x)


@pytest.mark.parametrize("call", [
    lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 2])),
    lambda a, b: np.kron(a, b),
    lambda a, b: np.vdot(a, b),
])
def test_other_contractions_are_numpys_to_the_last_bit(call):
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(3, 2, 4)), rng.normal(size=(2, 4, 3))
    value, _ = ad.jvp(call, (a, b), (a, b))
    np.testing.assert_array_equal(value, call(a, b))
