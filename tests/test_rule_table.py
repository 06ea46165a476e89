"""One parametrised test over the whole rule table (STYLE.md, item 8).

Every primitive in ``REGISTRY`` declares its test domain where it is declared (read by
``tests/rule_domains.py``); the tests below run over all of them:

* elementwise primitives: value and JVP against SymPy at hypothesis-drawn points of the safe
  domain (scalar fast path, 0-d and 1-d arrays, one or all operands traced), every VJP against
  the JVP through the exact identity ``<u, J v> = <J^T u, v>``, reverse mode end to end through
  ``ad.grad`` and ``Var.backward``, ``Dual`` and ``Var`` agreeing, second derivatives and
  Hessians (the rules differentiate again), values outside the domain, float32;
* array primitives: central differences, the same identity, ``jacfwd == jacrev``;
* the derivatives at kinks of API.md's table, asserted exactly.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rule_domains import (
    ARRAY_CASES,
    NUMPY_CASES,
    ELEMENTWISE_SPECS,
    IMPORT_FAILURES,
    array_cases,
    assert_close_relative,
    central_jacobian,
    elementwise_spec,
    error_ratio,
    exact_partials,
    exact_rule,
    missing_declarations,
    pairing,
    registered_elementwise,
    sample_elementwise,
    sample_inputs,
)

import autodiff as ad
from autodiff.numpy_api import UFUNCS
from autodiff.rules.elementwise import Elementwise
from autodiff.rules.primitive import REGISTRY

ELEMENTWISE = registered_elementwise()
RTOL = 1e-12
ATOL = 1e-13  # only matters where the exact derivative is 0 (cos at 0, sigmoid'' at 0, ...)
HYPOTHESIS = settings(max_examples=12, deadline=None)

# NumPy's own function for each elementwise primitive that has one (the value to reproduce).
NUMPY_UFUNC = {}
for _ufunc, _rule in UFUNCS.items():
    NUMPY_UFUNC.setdefault(getattr(_rule, "name", None), _ufunc)
NUMPY_FUNCTIONS = {"clip": np.clip, "rint": np.round}
OPERATORS = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": operator.truediv,
    "power": operator.pow,
    "negative": operator.neg,
    "absolute": abs,
}


def entry_points(name):
    """The ways users reach a primitive: itself, NumPy's ufunc or function, a Python operator.

    On float ``Dual``/``Var`` values the ufuncs and operators take a scalar fast path of their
    own, so each is checked separately.
    """
    points = [REGISTRY[name]]
    for table in (NUMPY_UFUNC, NUMPY_FUNCTIONS, OPERATORS):
        if name in table:
            points.append(table[name])
    return points


# ----------------------------------------------------------------------------------------------
# the declarations cover the registry
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_primitive_has_a_test_declaration(name):
    if isinstance(REGISTRY[name], Elementwise):
        elementwise_spec(name)
    else:
        array_cases(name)


def test_every_module_of_the_package_imports():
    """A module that cannot be imported could hide primitives from the table test."""
    assert IMPORT_FAILURES == {}


def test_no_primitive_registered_after_collection_is_undeclared():
    assert missing_declarations() == []


# ----------------------------------------------------------------------------------------------
# drawing points
# ----------------------------------------------------------------------------------------------


def _strategy(intervals):
    return st.one_of(
        *[st.floats(lo, hi, allow_nan=False, allow_infinity=False) for lo, hi in intervals]
    )


def _point_strategy(spec):
    """One point (a tuple of floats) of the safe domain, away from the declared kinks."""
    point = st.tuples(*[_strategy(intervals) for intervals in spec.domain])
    if spec.valid is None:
        return point
    return point.filter(lambda p: bool(spec.valid(*p)))


def draw_args(data, spec, size=None):
    """Arguments in the spec's safe domain: Python floats, or float64 arrays of ``size``."""
    if size is None:
        return list(data.draw(_point_strategy(spec)))
    points = data.draw(st.lists(_point_strategy(spec), min_size=size, max_size=size))
    return [np.array(column) for column in zip(*points)]


def one_hot(i, arity, value=1.0):
    return tuple(value if j == i else (0.0 * value) for j in range(arity))


# ----------------------------------------------------------------------------------------------
# elementwise: forward mode against SymPy
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ELEMENTWISE)
@HYPOTHESIS
@given(data=st.data())
def test_value_and_jvp_match_sympy(name, data):
    """Scalar fast path (float in, float out), general path (0-d arrays), constants mixed in."""
    spec, exact = elementwise_spec(name), exact_rule(name)
    args = draw_args(data, spec)
    n = spec.arity
    zero_d = tuple(np.array(a) for a in args)
    for fn in entry_points(name):
        what = f"{name} via {getattr(fn, '__name__', fn)}"
        value = fn(*args)
        assert_close_relative(value, exact.at(args), 1e-13, 1e-300, f"{what}: value")
        for i in range(n):
            want = exact.partial(i, args)
            value, fast = ad.jvp(fn, tuple(args), one_hot(i, n))
            assert type(value) is float and type(fast) is float, f"{what}: no scalar fast path"
            general_value, general = ad.jvp(fn, zero_d, tuple(map(np.array, one_hot(i, n))))
            _, alone = ad.jvp(lambda t: fn(*args[:i], t, *args[i + 1:]), args[i], 1.0)
            assert_close_relative(general_value, value, 1e-13, 1e-300, f"{what}: 0-d value")
            assert_close_relative(fast, want, RTOL, ATOL, f"{what}: d/dx{i}, scalar fast path")
            assert_close_relative(general, want, RTOL, ATOL, f"{what}: d/dx{i}, 0-d arrays")
            assert_close_relative(alone, want, RTOL, ATOL, f"{what}: d/dx{i}, others constant")


@pytest.mark.parametrize("name", ELEMENTWISE)
@HYPOTHESIS
@given(data=st.data())
def test_jvp_on_vectors_matches_sympy(name, data):
    spec, prim = elementwise_spec(name), REGISTRY[name]
    arrays = draw_args(data, spec, size=3)
    v = np.array(data.draw(st.lists(st.floats(-2, 2), min_size=3, max_size=3)))
    for i in range(spec.arity):
        _, tangent = ad.jvp(prim, tuple(arrays), one_hot(i, spec.arity, v))
        want = exact_partials(name, i, arrays) * v
        assert_close_relative(tangent, want, RTOL, ATOL, f"{name} d/dx{i} on a vector")


# ----------------------------------------------------------------------------------------------
# elementwise: reverse mode
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize(
    "shapes", [((3, 4),) * 3, ((3, 4), (4,), ()), ((3, 1), (1, 4), (3, 4))], ids=str
)
def test_vjp_is_the_transpose_of_jvp(name, shapes):
    """``<u, J v> == <J^T u, v>`` exactly (no step size), broadcasting operands included."""
    spec, prim = elementwise_spec(name), REGISTRY[name]
    rng = np.random.default_rng(len(name))
    args = sample_elementwise(spec, shapes[: spec.arity], rng)
    vs = tuple(rng.normal(size=np.shape(a)) for a in args)
    out, tangent = ad.jvp(prim, args, vs)
    _, pullback = ad.vjp(prim, args)
    u = rng.normal(size=np.shape(out))
    cotangents = pullback(u)
    lhs, scale = pairing([u], [tangent])
    rhs, _ = pairing(cotangents, vs)
    assert abs(lhs - rhs) <= 1e-12 * scale, f"{name}: <u, Jv> = {lhs} but <J^T u, v> = {rhs}"


@pytest.mark.parametrize("name", ELEMENTWISE)
@HYPOTHESIS
@given(data=st.data())
def test_reverse_mode_matches_sympy_and_forward(name, data):
    spec, prim, exact = elementwise_spec(name), REGISTRY[name], exact_rule(name)
    n = spec.arity
    args = draw_args(data, spec)
    for fn in entry_points(name):  # float Vars: the scalar fast path of each entry point
        what = f"{name} via {getattr(fn, '__name__', fn)}"
        grads = ad.grad(fn, argnums=tuple(range(n)))(*args)
        leaves = [ad.Var(a) for a in args]
        out = fn(*leaves)
        if isinstance(out, ad.Var):  # a plain float when the derivative is zero
            out.backward()
        for i in range(n):
            want = exact.partial(i, args)
            assert type(grads[i]) is float
            assert_close_relative(grads[i], want, RTOL, ATOL, f"{what}: grad, argument {i}")
            got = 0.0 if leaves[i].grad is None else leaves[i].grad
            assert_close_relative(got, want, RTOL, ATOL, f"{what}: Var.backward, argument {i}")
    arrays = draw_args(data, spec, size=3)
    array_leaves = [ad.Var(a) for a in arrays]
    prim(*array_leaves).backward(gradient=np.ones(3))
    for i in range(n):
        want_array = exact_partials(name, i, arrays)
        got = array_leaves[i].grad
        assert isinstance(got, np.ndarray) and got.shape == (3,)
        assert_close_relative(got, want_array, RTOL, ATOL, f"{name} Var.backward on arrays")
        _, dual = ad.jvp(prim, tuple(arrays), one_hot(i, n, np.ones(3)))
        np.testing.assert_allclose(dual, got, rtol=1e-15, err_msg=f"{name}: Dual vs Var")


# ----------------------------------------------------------------------------------------------
# elementwise: second order (the rules are written in primitives, so they differentiate again)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ELEMENTWISE)
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_second_derivatives_match_sympy(name, data):
    spec, prim, exact = elementwise_spec(name), REGISTRY[name], exact_rule(name)
    n = spec.arity
    args = draw_args(data, spec)
    for fn, i in ((fn, i) for fn in entry_points(name) for i in range(n)):
        second = ad.derivative(lambda t: fn(*args[:i], t, *args[i + 1:]), args[i], order=2)
        want = exact.second_partial(i, i, args)
        what = f"{name} via {getattr(fn, '__name__', fn)}: d2/dx{i}2 (forward over forward)"
        assert_close_relative(second, want, 1e-11, 1e-12, what)

    def f(z):
        return prim(*[z[k] for k in range(n)])

    z = np.array(args)
    forward_over_reverse = ad.jacfwd(ad.grad(f))(z)
    reverse_over_reverse = ad.jacrev(ad.grad(f))(z)
    want = np.array([[exact.second_partial(i, j, args) for j in range(n)] for i in range(n)])
    assert_close_relative(forward_over_reverse, want, 1e-11, 1e-12, f"{name} Hessian")
    assert_close_relative(
        reverse_over_reverse, forward_over_reverse, 1e-12, 1e-13, f"{name} jacrev(grad)"
    )


# ----------------------------------------------------------------------------------------------
# elementwise: outside the domain, and float32
# ----------------------------------------------------------------------------------------------

OUTSIDE = [
    pytest.param(name, point, id=f"{name}{point}")
    for name, spec in sorted(ELEMENTWISE_SPECS.items())
    for point in spec.outside
]


@pytest.mark.parametrize("name, point", OUTSIDE)
@pytest.mark.parametrize("kind", ["float", "0-d", "vector"])
def test_outside_the_domain_value_and_derivatives_are_nan(name, point, kind):
    """NumPy's value (nan), with NumPy's RuntimeWarning where NumPy warns (SciPy's functions
    return their nan silently), and never a finite derivative."""
    prim = REGISTRY[name]
    args = {
        "float": list(point),
        "0-d": [np.array(p) for p in point],
        "vector": [np.array([p, p]) for p in point],
    }[kind]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        numpy_value = NUMPY_UFUNC[name](*[np.float64(p) for p in point])
    assert np.isnan(numpy_value)
    numpy_warns = any(issubclass(w.category, RuntimeWarning) for w in caught)
    n = len(point)
    for fn, i in ((fn, i) for fn in entry_points(name) for i in range(n)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value, tangent = ad.jvp(fn, tuple(args), one_hot(i, n, np.ones_like(args[0])))
        assert not numpy_warns or any(issubclass(w.category, RuntimeWarning) for w in caught), (
            f"{name}{point}: NumPy warns, the traced call does not"
        )
        assert np.all(np.isnan(value))
        assert not np.any(np.isfinite(tangent)), f"{name}{point}: finite d/dx{i} = {tangent}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        grads = ad.grad(lambda *xs: np.sum(prim(*xs)), argnums=tuple(range(n)))(*args)
        second = ad.derivative(lambda t: prim(t, *args[1:]), point[0] * 1.0, order=2)
    assert not np.any([np.isfinite(g) for g in grads]), f"{name}{point}: finite gradient {grads}"
    assert not np.any(np.isfinite(second)), f"{name}{point}: finite second derivative {second}"


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("shape", [(), (3,)], ids=["0-d", "vector"])
def test_float32_stays_float32(name, shape):
    spec, prim = elementwise_spec(name), REGISTRY[name]
    rng = np.random.default_rng(0)
    args = tuple(a.astype(np.float32) for a in sample_elementwise(spec, (shape,) * 3, rng))
    n = spec.arity
    for i in range(n):
        out, tangent = ad.jvp(prim, args, one_hot(i, n, np.ones(shape, np.float32)))
        assert out.dtype == np.float32 and np.result_type(tangent) == np.float32
        assert np.shape(tangent) == shape
    grads = ad.grad(lambda *xs: np.sum(prim(*xs)), argnums=tuple(range(n)))(*args)
    assert [np.result_type(g) for g in grads] == [np.float32] * n
    assert [np.shape(g) for g in grads] == [shape] * n


# ----------------------------------------------------------------------------------------------
# array primitives: central differences, the transpose identity, jacfwd == jacrev
# ----------------------------------------------------------------------------------------------

CASES = [pytest.param(case, id=case.id) for case in ARRAY_CASES + NUMPY_CASES]


def _function(case):
    prim = REGISTRY.get(case.primitive)
    return lambda *xs: case.call(prim, *xs)


@pytest.mark.parametrize("case", CASES)
def test_array_rule_against_central_differences(case):
    f = _function(case)
    inputs = sample_inputs(case, np.random.default_rng(1))
    argnums = tuple(range(len(inputs)))
    forward = ad.jacfwd(f, argnums=argnums)(*inputs)
    reverse = ad.jacrev(f, argnums=argnums)(*inputs)
    differences = central_jacobian(f, inputs)
    for i, (fd, jf, jr) in enumerate(zip(differences, forward, reverse)):
        assert np.shape(jf) == np.shape(fd) == np.shape(jr), f"Jacobian block {i} shape"
        assert error_ratio(fd, jf) < 1e-6, f"jacfwd vs central differences, input {i}"
        assert error_ratio(fd, jr) < 1e-6, f"jacrev vs central differences, input {i}"
        assert error_ratio(jf, jr) < 1e-12, f"jacfwd vs jacrev, input {i}"


@pytest.mark.parametrize("case", CASES)
def test_array_vjp_is_the_transpose_of_jvp(case):
    f = _function(case)
    rng = np.random.default_rng(2)
    inputs = tuple(sample_inputs(case, rng))
    vs = tuple(rng.normal(size=np.shape(x)) for x in inputs)
    out, tangent = ad.jvp(f, inputs, vs)
    np.testing.assert_allclose(out, f(*inputs), rtol=1e-14, atol=1e-300)
    value, pullback = ad.vjp(f, inputs)
    np.testing.assert_array_equal(value, out)
    u = rng.normal(size=np.shape(out))
    lhs, scale = pairing([u], [tangent])
    rhs, _ = pairing(pullback(u), vs)
    assert abs(lhs - rhs) <= 1e-12 * scale, f"<u, Jv> = {lhs} but <J^T u, v> = {rhs}"


# ----------------------------------------------------------------------------------------------
# kinks: API.md's table, asserted exactly at the kink itself
# ----------------------------------------------------------------------------------------------


def _both_modes(f, x):
    """Derivative of f at x by jvp (tangent ones) and by the pullback of ones."""
    ones = 1.0 if isinstance(x, float) else np.ones_like(x)
    _, forward = ad.jvp(f, x, ones)
    out, pullback = ad.vjp(f, x)
    reverse = pullback(1.0 if isinstance(out, float) else np.ones_like(out))
    return forward, reverse


@pytest.mark.parametrize("x", [0.0, -0.0, np.zeros(3)], ids=["0.0", "-0.0", "array"])
def test_abs_derivative_at_zero_is_zero(x):
    forward, reverse = _both_modes(np.abs, x)
    assert np.all(forward == 0) and np.all(reverse == 0)
    assert ad.derivative(np.abs, 0.0) == 0.0


@pytest.mark.parametrize("fn", [np.maximum, np.minimum])
@pytest.mark.parametrize("x", [1.5, np.array([-1.0, 0.0, 2.0])], ids=["float", "array"])
def test_maximum_minimum_ties_split_evenly(fn, x):
    grads = ad.grad(lambda a, b: np.sum(fn(a, b)), argnums=(0, 1))(x, x)
    assert np.all(grads[0] == 0.5) and np.all(grads[1] == 0.5)
    for i in range(2):
        _, tangent = ad.jvp(fn, (x, x), one_hot(i, 2, np.ones_like(x)))
        assert np.all(tangent == 0.5)
    _, both = ad.jvp(fn, (x, x), (np.ones_like(x), np.ones_like(x)))
    assert np.all(both == 1.0)


@pytest.mark.parametrize(
    "reduction, x, axis, expected",
    [
        (np.max, np.array([1.0, 3.0, 3.0]), None, [0.0, 0.5, 0.5]),
        (np.min, np.array([2.0, 2.0, 2.0, 5.0]), None, [1 / 3, 1 / 3, 1 / 3, 0.0]),
        (np.max, np.array([[1.0, 1.0], [2.0, 0.0]]), 1, [[0.5, 0.5], [1.0, 0.0]]),
        (np.min, np.array([[1.0, 4.0], [1.0, 0.0]]), 0, [[0.5, 0.0], [0.5, 1.0]]),
    ],
)
def test_max_min_reduction_ties_split_evenly(reduction, x, axis, expected):
    gradient = ad.grad(lambda v: np.sum(reduction(v, axis=axis)))(x)
    np.testing.assert_array_equal(gradient, expected)
    jacobian = ad.jacfwd(lambda v: reduction(v, axis=axis))(x)
    np.testing.assert_array_equal(np.sum(jacobian.reshape(-1, x.size), axis=0), np.ravel(expected))


@pytest.mark.parametrize(
    "x, expected", [(-1.0, 1.0), (2.0, 1.0), (0.5, 1.0), (-1.5, 0.0), (2.5, 0.0)]
)
def test_clip_derivative_is_one_on_the_closed_interval(x, expected):
    f = lambda v: np.clip(v, -1.0, 2.0)  # noqa: E731
    forward, reverse = _both_modes(f, x)
    assert forward == reverse == expected
    forward, reverse = _both_modes(f, np.array([x, x]))
    assert np.all(forward == expected) and np.all(reverse == expected)


@pytest.mark.parametrize("x, expected", [(-1.0, (1.0, 0.0, 0.0)), (2.0, (1.0, 0.0, 0.0)),
                                         (-3.0, (0.0, 1.0, 0.0)), (3.0, (0.0, 0.0, 1.0))])
def test_clip_bounds_carry_the_derivative_only_when_active(x, expected):
    grads = ad.grad(REGISTRY["clip"], argnums=(0, 1, 2))(x, -1.0, 2.0)
    assert grads == expected


@pytest.mark.parametrize("x", [0.0, 1.5, 5.0])
def test_clip_with_crossed_bounds_follows_the_upper_bound(x):
    """NumPy's clip with ``lo > hi`` returns ``hi`` for every x: only ``hi`` has a derivative."""
    assert REGISTRY["clip"](x, 2.0, 1.0) == 1.0
    assert ad.grad(REGISTRY["clip"], argnums=(0, 1, 2))(x, 2.0, 1.0) == (0.0, 0.0, 1.0)
    arrays = (np.array([x, x]), np.array([2.0, 2.0]), np.array([1.0, 1.0]))
    grads = ad.grad(lambda *v: np.sum(np.clip(*v)), argnums=(0, 1, 2))(*arrays)
    np.testing.assert_array_equal(np.stack(grads), [[0, 0], [0, 0], [1, 1]])


def test_sqrt_derivative_at_zero_is_inf():
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        forward, reverse = _both_modes(np.sqrt, 0.0)
        forward_array, reverse_array = _both_modes(np.sqrt, np.zeros(2))
    assert forward == reverse == np.inf
    assert np.all(forward_array == np.inf) and np.all(reverse_array == np.inf)


@pytest.mark.parametrize("fn", [np.sign, np.floor, np.ceil, np.rint, np.trunc, np.round])
@pytest.mark.parametrize("x", [0.0, 1.0, 0.5, -2.5, np.array([0.0, 1.0, 0.5, -2.5])],
                         ids=["0", "1", "0.5", "-2.5", "array"])
def test_piecewise_constant_derivative_is_zero(fn, x):
    forward, reverse = _both_modes(fn, x)
    assert np.all(forward == 0) and np.all(reverse == 0)
    assert np.shape(forward) == np.shape(reverse) == np.shape(x)


@pytest.mark.parametrize(
    "fn, x",
    [
        pytest.param(fn, x, id=f"{fn.__name__}-{kind}")
        for fn in (np.sign, np.floor, np.ceil, np.rint, np.trunc, np.round)
        for kind, x in (("float", 0.5), ("array", np.array([0.0, 1.0, 0.5, -2.5])))
    ],
)
def test_piecewise_constant_of_a_var_gives_a_zero_grad(fn, x):
    leaf = ad.Var(x)
    fn(leaf).backward(None if isinstance(x, float) else np.ones_like(x))
    assert leaf.grad is not None and np.all(leaf.grad == 0), "a zero derivative is a zero .grad"


@pytest.mark.parametrize("x", [0.0, -3.0], ids=["zero", "negative"])
def test_power_with_constant_exponent_needs_no_logarithm(x):
    """``x ** c``: the exponent is a constant, so ``log(x)`` (nan/-inf) never enters."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forward, reverse = _both_modes(lambda v: v**2.0, x)
        cube = ad.derivative(lambda v: v**3.0, x, order=2)
    assert forward == reverse == 2 * x
    assert cube == 6 * x


def test_power_at_zero_base_traced_exponent_is_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grads = ad.grad(REGISTRY["power"], argnums=(0, 1))(0.0, 2.0)
        array_grads = ad.grad(lambda a, b: np.sum(a**b), argnums=(0, 1))(np.zeros(2), 2 * np.ones(2))
    assert grads == (0.0, 0.0)
    assert np.all(array_grads[0] == 0) and np.all(array_grads[1] == 0)


def test_hypot_at_the_origin_is_zero():
    assert ad.grad(np.hypot, argnums=(0, 1))(0.0, 0.0) == (0.0, 0.0)


@pytest.mark.parametrize("x", [0.0, np.zeros(3)], ids=["float", "array"])
def test_relu_kinks(x):
    """``relu'(0) = 0`` and ``leaky_relu'(0) = alpha`` (API.md's table)."""
    from autodiff.nn import functional

    forward, reverse = _both_modes(functional.relu, x)
    assert np.all(forward == 0) and np.all(reverse == 0)
    forward, reverse = _both_modes(lambda v: functional.leaky_relu(v, negative_slope=0.2), x)
    assert np.all(forward == 0.2) and np.all(reverse == 0.2)
