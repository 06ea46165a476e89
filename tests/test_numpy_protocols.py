"""Ordinary NumPy code on Dual and Var values, through NumPy's protocols.

Each differentiable call is run three ways and must agree: on a hand-built ``Dual`` (its tangent
is ``J v``), on a hand-built ``Var`` (``backward(u)`` gives ``J^T u``), and through the transforms
(``ad.testing.check_grads`` against central differences and the exact identity).
"""

import numpy as np
import pytest

import autodiff as ad
import autodiff.tracer

RNG = np.random.default_rng(7)
X = np.array([[0.7, -1.3, 2.1], [-0.4, 1.9, 0.2]])
V = RNG.standard_normal(X.shape)

DIFFERENTIABLE = {
    "np.float64 * x": lambda x: np.float64(2.5) * x,
    "x * np.float64": lambda x: x * np.float64(2.5),
    "np.float32 + x": lambda x: np.float32(0.5) + x,
    "ndarray * x": lambda x: np.arange(1.0, 4.0) * x,
    "ndarray - x (broadcast)": lambda x: np.ones((4, 2, 3)) - x,
    "ndarray @ x": lambda x: np.arange(6.0).reshape(3, 2) @ x,
    "x @ ndarray": lambda x: x @ np.arange(6.0).reshape(3, 2),
    "ndarray ** x": lambda x: np.full(3, 1.5) ** x,
    "np.sum": lambda x: np.sum(x),
    "np.sum axis": lambda x: np.sum(x, axis=1),
    "np.mean axis keepdims": lambda x: np.mean(x, axis=0, keepdims=True),
    "np.add.reduce": lambda x: np.add.reduce(x, axis=1),
    "np.maximum.reduce": lambda x: np.maximum.reduce(x, axis=0),
    "np.where": lambda x: np.where(x > 0, x ** 2, -x),
    "np.where with constant": lambda x: np.where(x > 0.5, x, 0.0),
    "np.maximum": lambda x: np.maximum(x, 0.1),
    "np.minimum of two traced": lambda x: np.minimum(x, x[::-1]),
    "np.abs": lambda x: np.abs(x),
    "np.clip": lambda x: np.clip(x, -1.0, 1.0),
    "basic index": lambda x: x[1],
    "slice with step": lambda x: x[:, ::-2],
    "integer array index": lambda x: x[[1, 0, 1], [2, 2, 0]],
    "bool mask": lambda x: x[x > 0],
    "ellipsis and newaxis": lambda x: x[..., None, 1],
    "iteration": lambda x: ad.stack([row * i for i, row in enumerate(x, start=1)]),
    "ndarray methods": lambda x: x.T.reshape(3, 2).sum(axis=1) * x.max() + x.mean(),
}


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_numpy_call_on_dual_var_and_transforms_agree(name):
    f = DIFFERENTIABLE[name]
    expected_value, expected_tangent = ad.jvp(f, X, V)
    dual = f(ad.Dual(X, V))
    assert isinstance(dual, ad.Dual)
    np.testing.assert_allclose(dual.primal, expected_value, rtol=1e-15)
    np.testing.assert_allclose(dual.tangent, expected_tangent, rtol=1e-14, atol=1e-15)

    leaf = ad.Var(X)
    out = f(leaf)
    assert isinstance(out, ad.Var)
    u = RNG.standard_normal(np.shape(out.value))
    out.backward(u)
    _, pullback = ad.vjp(f, X)
    np.testing.assert_allclose(leaf.grad, pullback(u), rtol=1e-14, atol=1e-15)

    ad.testing.check_grads(f, X, order=1)


@pytest.mark.parametrize("kind", ["Dual", "Var"])
def test_numpy_scalar_on_the_left_keeps_the_derivative(kind):
    """``np.float64(2.0) * d``: NumPy asks the traced operand, never makes an object array."""
    value = ad.Dual(3.0, 1.0) if kind == "Dual" else ad.Var(3.0)
    out = np.float64(2.0) * value
    assert type(out).__name__ == kind
    if kind == "Dual":
        assert (float(out.primal), float(out.tangent)) == (6.0, 2.0)
    else:
        out.backward()
        assert value.grad == 2.0


def test_np_array_and_ad_array_of_traced_scalars_build_the_same_array():
    d1, d2 = ad.Dual(1.0, 1.0), ad.Dual(2.0, 0.0)
    for built in (ad.array([[d1, 1.0], [3.0, d2]]), ad.array(np.array([[d1, 1.0], [3.0, d2]]))):
        np.testing.assert_array_equal(built.primal, [[1.0, 1.0], [3.0, 2.0]])
        np.testing.assert_array_equal(built.tangent, [[1.0, 0.0], [0.0, 0.0]])


# ----------------------------------------------------------------------------------------------
# integer- and bool-valued functions run on primals
# ----------------------------------------------------------------------------------------------

ON_PRIMALS = {
    "x > 0": lambda x: x > 0,
    "x <= 0.2": lambda x: x <= 0.2,
    "x == x[::-1]": lambda x: x == x[::-1],
    "x != 0.7": lambda x: x != 0.7,
    "ndarray < x": lambda x: np.zeros(3) < x,
    "np.greater": lambda x: np.greater(x, 0.5),
    "np.argmax": lambda x: np.argmax(x),
    "np.argmin axis": lambda x: np.argmin(x, axis=1),
    "np.argsort": lambda x: np.argsort(x, axis=1),
    "np.isfinite": lambda x: np.isfinite(x),
    "np.isnan": lambda x: np.isnan(x),
    "np.signbit": lambda x: np.signbit(x),
    "np.shape": lambda x: np.shape(x),
    "np.ndim": lambda x: np.ndim(x),
    "np.size": lambda x: np.size(x),
    "np.count_nonzero": lambda x: np.count_nonzero(x > 0),
    "np.any": lambda x: np.any(x > 2),
    "np.nonzero": lambda x: np.nonzero(x > 0),
    "attributes": lambda x: (x.shape, x.ndim, x.size, x.dtype, len(x)),
}


@pytest.mark.parametrize("kind", ["Dual", "Var"])
@pytest.mark.parametrize("name", sorted(ON_PRIMALS))
def test_integer_and_bool_functions_run_on_primals(kind, name):
    f = ON_PRIMALS[name]
    traced = ad.Dual(X, V) if kind == "Dual" else ad.Var(X)
    result = f(traced)
    expected = f(X)
    for got, want in zip(ad.pytree.flatten(result)[0], ad.pytree.flatten(expected)[0]):
        assert not isinstance(got, ad.rules.Traced)
        np.testing.assert_array_equal(got, want)


def test_integer_results_work_inside_transforms():
    """argmax picks an index on primals; the gradient flows through the selected element."""
    gradient = ad.grad(lambda x: x[np.argmax(x)] ** 2)(np.array([1.0, 3.0, 2.0]))
    np.testing.assert_array_equal(gradient, [0.0, 6.0, 0.0])


# ----------------------------------------------------------------------------------------------
# comparison semantics (decided once, in autodiff/tracer.py)
# ----------------------------------------------------------------------------------------------


def test_comparison_semantics_are_documented_in_the_tracer_module():
    doc = autodiff.tracer.__doc__
    assert "Comparisons" in doc and "primal values only" in doc
    assert "__hash__" in doc and "identity" in doc


@pytest.mark.parametrize("kind", ["Dual", "Var"])
def test_comparisons_look_at_primals_only(kind):
    def make(value, slope):
        return ad.Dual(value, slope) if kind == "Dual" else ad.Var(value)

    a, b = make(1.0, 1.0), make(1.0, 5.0)
    assert a == b  # equal primals, different tangents
    assert not (a != b) and not (a < b) and a <= b and a >= b
    assert make(2.0, 0.0) > a
    assert bool(make(0.5, 1.0)) and not bool(make(0.0, 1.0))
    assert len({a, b}) == 2  # hashing is by identity, so equal values stay distinct keys


def test_python_max_and_sorted_select_by_primal_and_keep_derivatives():
    x = ad.Dual(np.array([3.0, -1.0, 2.0]), np.array([10.0, 20.0, 30.0]))
    largest = max(x[0], x[1], x[2])
    assert (float(largest.primal), float(largest.tangent)) == (3.0, 10.0)
    ordered = sorted(x)
    assert [float(d.tangent) for d in ordered] == [20.0, 30.0, 10.0]


def test_branching_on_a_comparison_follows_the_primal():
    def relu_by_branch(x):
        return x if x > 0 else 0.0 * x

    assert ad.derivative(relu_by_branch, 2.0) == 1.0
    assert ad.derivative(relu_by_branch, -2.0) == 0.0
    assert ad.grad(relu_by_branch)(2.0) == 1.0
