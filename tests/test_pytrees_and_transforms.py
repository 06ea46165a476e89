"""Pytrees through every transform, Jacobian block shapes, chunking and dtypes (API.md
"Values, pytrees, dtypes")."""

from collections import namedtuple

import numpy as np
import pytest

import autodiff as ad
from autodiff.pytree import flatten


def assert_tree_allclose(got, want, rtol=1e-13, atol=1e-14):
    got_leaves, got_def = flatten(got)
    want_leaves, want_def = flatten(want)
    assert got_def == want_def, f"structure {got_def!r} != {want_def!r}"
    for g, w in zip(got_leaves, want_leaves):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------
# pytree inputs and outputs
# ----------------------------------------------------------------------------------------------

PARAMS = {"w": np.array([[1.0, -2.0], [0.5, 3.0]]), "b": 0.25, "frozen": None,
          "layers": [np.array([0.3, -0.7]), (1.5, np.array([2.0]))]}
DIRECTION = {"w": np.array([[0.1, 0.2], [-0.3, 0.4]]), "b": -1.0, "frozen": None,
             "layers": [np.array([1.0, 1.0]), (0.5, np.array([-2.0]))]}


def model(p):
    hidden = np.tanh(p["w"] @ p["layers"][0] + p["b"])
    scale, offset = p["layers"][1]
    return {"out": [hidden * scale, (np.sum(hidden) + offset[0], None)], "none": None}


def model_tangent(p, d):
    """The JVP of ``model`` written out by hand."""
    pre = p["w"] @ p["layers"][0] + p["b"]
    d_pre = d["w"] @ p["layers"][0] + p["w"] @ d["layers"][0] + d["b"]
    d_hidden = (1 - np.tanh(pre) ** 2) * d_pre
    scale, _ = p["layers"][1]
    d_scale, d_offset = d["layers"][1]
    return {"out": [d_hidden * scale + np.tanh(pre) * d_scale,
                    (np.sum(d_hidden) + d_offset[0], None)], "none": None}


def test_jvp_on_pytrees():
    value, tangent = ad.jvp(model, PARAMS, DIRECTION)
    assert_tree_allclose(value, model(PARAMS))
    assert_tree_allclose(tangent, model_tangent(PARAMS, DIRECTION))


def test_vjp_on_pytrees_is_the_transpose_of_jvp():
    value, pullback = ad.vjp(model, PARAMS)
    assert_tree_allclose(value, model(PARAMS))
    cotangent = {"out": [np.array([1.0, -0.5]), (2.0, None)], "none": None}
    pulled = pullback(cotangent)
    assert flatten(pulled)[1] == flatten(PARAMS)[1]  # None subtrees stay None
    _, tangent = ad.jvp(model, PARAMS, DIRECTION)

    def inner(a, b):
        return sum(float(np.sum(np.multiply(x, y)))
                   for x, y in zip(flatten(a)[0], flatten(b)[0]))

    assert inner(cotangent, tangent) == pytest.approx(inner(pulled, DIRECTION), rel=1e-13)


def test_pullback_can_be_called_many_times():
    _, pullback = ad.vjp(lambda x: np.sin(x) * 2.0, np.array([0.1, 0.2]))
    first = pullback(np.ones(2))
    second = pullback(np.ones(2))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(pullback(np.array([1.0, 0.0])), [2 * np.cos(0.1), 0.0])


def test_grad_keeps_the_argument_structure():
    gradient = ad.grad(lambda p: np.sum(model(p)["out"][0]) + model(p)["out"][1][0])(PARAMS)
    assert flatten(gradient)[1] == flatten(PARAMS)[1]
    assert gradient["frozen"] is None
    ad.testing.check_grads(lambda p: np.sum(model(p)["out"][0]), (PARAMS,), order=1)


def test_namedtuple_arguments_are_preserved():
    Point = namedtuple("Point", "x y")
    gradient = ad.grad(lambda p: np.sum(p.x ** 2) * p.y)(Point(np.array([1.0, 2.0]), 3.0))
    assert isinstance(gradient, Point)
    np.testing.assert_array_equal(gradient.x, [6.0, 12.0])
    assert float(gradient.y) == 5.0


@pytest.mark.parametrize(
    "argnums, expected",
    [
        (0, 6.0),
        (2, 1.0),
        (-1, 1.0),
        ((0, 2), (6.0, 1.0)),
        ((2, 0), (1.0, 6.0)),
        ((1,), (1.0,)),
    ],
)
def test_grad_argnums(argnums, expected):
    def f(a, b, c):
        return a * c + b

    assert ad.grad(f, argnums=argnums)(1.0, 5.0, 6.0) == expected


def test_non_differentiated_arguments_may_be_anything():
    assert ad.grad(lambda x, n, label: x ** n, argnums=0)(2.0, 3, "cube") == 12.0


@pytest.mark.parametrize("transform", ["grad", "value_and_grad"])
def test_has_aux_returns_plain_aux(transform):
    def f(x):
        return np.sum(x ** 2), {"double": x * 2.0, "norm": [np.sqrt(np.sum(x ** 2))]}

    x = np.array([3.0, 4.0])
    if transform == "grad":
        gradient, aux = ad.grad(f, has_aux=True)(x)
    else:
        (value, aux), gradient = ad.value_and_grad(f, has_aux=True)(x)
        assert value == 25.0
    np.testing.assert_array_equal(gradient, [6.0, 8.0])
    np.testing.assert_array_equal(aux["double"], [6.0, 8.0])
    assert aux["norm"][0] == 5.0
    assert not any(isinstance(leaf, ad.rules.Traced) for leaf in flatten(aux)[0])


def test_has_aux_with_argnums_tuple():
    gradient, aux = ad.grad(lambda a, b: (a * b, a + b), argnums=(0, 1), has_aux=True)(2.0, 3.0)
    assert gradient == (3.0, 2.0) and aux == 5.0


# ----------------------------------------------------------------------------------------------
# Jacobians: blocks of shape out.shape + in.shape, both modes equal, chunking invisible
# ----------------------------------------------------------------------------------------------

A = np.arange(12.0).reshape(4, 3) / 10

JACOBIAN_CASES = {
    "scalar -> scalar": (lambda x: np.sin(x) * x, 0.7),
    "scalar -> vector": (lambda x: np.array([1.0, 2.0, 3.0]) * np.exp(x), 0.3),
    "vector -> scalar": (lambda x: np.sum(np.tanh(x) ** 2), np.array([0.1, -0.5, 0.9])),
    "vector -> vector": (lambda x: np.tanh(A @ x), np.array([0.1, -0.5, 0.9])),
    "matrix -> matrix": (lambda m: np.sin(m) @ m.T, A),
    "tuple -> dict": (
        lambda v, s: {"scaled": v * s, "total": np.sum(v ** 2) * s},
        (np.array([1.0, -2.0]), 1.5),
    ),
    "dict -> list": (
        lambda p: [p["w"] @ p["x"], np.sum(p["w"])],
        ({"w": A, "x": np.array([0.5, -1.0, 2.0])},),
    ),
}


def _args(case):
    f, x = JACOBIAN_CASES[case]
    return f, (x if isinstance(x, tuple) else (x,))


def _argnums(args):
    return tuple(range(len(args))) if len(args) > 1 else 0


def _numeric_block(f, args, out_index, in_index, h=1e-6):
    """d (output leaf out_index) / d (input leaf in_index of the argument tuple), by central
    differences."""
    leaves, treedef = flatten(args)
    x = np.asarray(leaves[in_index], dtype=float)

    def evaluate(value):
        changed = list(leaves)
        changed[in_index] = value
        return np.asarray(flatten(f(*ad.pytree.unflatten(treedef, changed)))[0][out_index])

    block = np.zeros(np.shape(evaluate(x)) + x.shape)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        block[(Ellipsis,) + idx] = (evaluate(up) - evaluate(down)) / (2 * h)
    return block


@pytest.mark.parametrize("case", sorted(JACOBIAN_CASES))
def test_jacobian_is_an_output_tree_of_input_trees(case):
    f, args = _args(case)
    forward = ad.jacfwd(f, argnums=_argnums(args))(*args)
    reverse = ad.jacrev(f, argnums=_argnums(args))(*args)
    assert_tree_allclose(forward, reverse)
    out_leaves, out_def = flatten(f(*args))
    chosen = args if len(args) > 1 else args[0]
    in_leaves = flatten(chosen)[0]
    expected_structure = flatten(ad.pytree.unflatten(out_def, [chosen] * len(out_leaves)))[1]
    blocks, structure = flatten(forward)
    assert structure == expected_structure
    for o, out in enumerate(out_leaves):
        for i, leaf in enumerate(in_leaves):
            assert np.shape(blocks[o * len(in_leaves) + i]) == np.shape(out) + np.shape(leaf)


@pytest.mark.parametrize("case", sorted(JACOBIAN_CASES))
def test_jacobian_blocks_match_central_differences(case):
    f, args = _args(case)
    blocks = flatten(ad.jacrev(f, argnums=tuple(range(len(args))))(*args))[0]
    n_outputs = len(flatten(f(*args))[0])
    n_inputs = len(flatten(args)[0])
    assert len(blocks) == n_outputs * n_inputs
    for o in range(n_outputs):
        for i in range(n_inputs):
            np.testing.assert_allclose(blocks[o * n_inputs + i], _numeric_block(f, args, o, i),
                                       rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("case", sorted(JACOBIAN_CASES))
@pytest.mark.parametrize("transform", [ad.jacfwd, ad.jacrev])
@pytest.mark.parametrize("chunk_size", [1, 2, 5])
def test_chunk_size_gives_identical_results(case, transform, chunk_size):
    f, args = _args(case)
    whole = transform(f, argnums=_argnums(args))(*args)
    chunked = transform(f, argnums=_argnums(args), chunk_size=chunk_size)(*args)
    assert_tree_allclose(chunked, whole, rtol=1e-15, atol=0)


def test_hessian_of_a_pytree_argument():
    def f(p):
        return np.sum(p["a"] ** 2) * p["b"]

    hessian = ad.hessian(f)({"a": np.array([1.0, -1.0]), "b": 2.0})
    np.testing.assert_array_equal(hessian["a"]["a"], 4.0 * np.eye(2))
    np.testing.assert_array_equal(hessian["a"]["b"], [2.0, -2.0])
    np.testing.assert_array_equal(hessian["b"]["a"], [2.0, -2.0])
    assert float(hessian["b"]["b"]) == 0.0
    assert np.shape(hessian["a"]["a"]) == (2, 2) and np.shape(hessian["b"]["b"]) == ()


def test_hvp_on_pytrees_matches_the_hessian():
    def f(p):
        return np.sum(p["a"] ** 3) * p["b"]

    x = {"a": np.array([1.0, 2.0]), "b": 2.0}
    v = {"a": np.array([1.0, -1.0]), "b": 0.5}
    product = ad.hvp(f, x, v)
    hessian = ad.hessian(f)(x)
    expected_a = hessian["a"]["a"] @ v["a"] + hessian["a"]["b"] * v["b"]
    expected_b = hessian["b"]["a"] @ v["a"] + hessian["b"]["b"] * v["b"]
    np.testing.assert_allclose(product["a"], expected_a, rtol=1e-14)
    assert float(product["b"]) == pytest.approx(float(expected_b), rel=1e-14)
    ad.testing.check_hvp(f, x, v)


# ----------------------------------------------------------------------------------------------
# float32 stays float32
# ----------------------------------------------------------------------------------------------

X32 = np.array([0.5, -1.0, 2.0], dtype=np.float32)


def loss32(x):
    return np.sum(np.tanh(x) * 2.0 + x ** 2 / 3.0)


FLOAT32_RESULTS = {
    "jvp": lambda: ad.jvp(lambda x: np.sin(x) * 2.0, X32, X32),
    "vjp": lambda: ad.vjp(lambda x: np.sin(x) * 2.0, X32)[1](np.ones(3, np.float32)),
    "grad": lambda: ad.grad(loss32)(X32),
    "value_and_grad": lambda: ad.value_and_grad(loss32)(X32),
    "jacfwd": lambda: ad.jacfwd(lambda x: np.exp(x) / 2.0)(X32),
    "jacrev": lambda: ad.jacrev(lambda x: np.exp(x) / 2.0)(X32),
    "hessian": lambda: ad.hessian(loss32)(X32),
    "hvp": lambda: ad.hvp(loss32, X32, X32),
    "Dual": lambda: (lambda d: (d.primal, d.tangent))(np.cos(ad.Dual(X32, X32)) * 3.0),
    "constant cast": lambda: ad.grad(lambda x: np.sum(x * np.float64(2.0)))(X32),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_RESULTS))
def test_float32_stays_float32(name):
    for leaf in flatten(FLOAT32_RESULTS[name]())[0]:
        assert np.result_type(leaf) == np.float32, (name, leaf)


def test_mixed_precision_pytree_keeps_each_leaf_dtype():
    x = {"single": X32, "double": X32.astype(np.float64)}
    gradient = ad.grad(lambda p: np.sum(p["single"] ** 2) + np.sum(p["double"] ** 2))(x)
    assert gradient["single"].dtype == np.float32
    assert gradient["double"].dtype == np.float64
