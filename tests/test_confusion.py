"""Perturbation confusion (Siskind & Pearlmutter): nested transforms never mix their
perturbations, escaped tracers are refused, and high-order derivatives match SymPy."""

import numpy as np
import pytest
import sympy as sp

import autodiff as ad

# ----------------------------------------------------------------------------------------------
# the classic case, in every pairing of forward and reverse differentiation operators
# ----------------------------------------------------------------------------------------------


def forward_derivative(f):
    return lambda x: ad.derivative(f, x)


def reverse_derivative(f):
    return ad.grad(f)


def jvp_derivative(f):
    return lambda x: ad.jvp(f, x, 1.0)[1]


def jacrev_derivative(f):
    return ad.jacrev(f)


OPERATORS = {
    "derivative": forward_derivative,
    "grad": reverse_derivative,
    "jvp": jvp_derivative,
    "jacrev": jacrev_derivative,
}


def test_the_classic_example_from_the_api():
    assert ad.derivative(lambda x: x * ad.derivative(lambda y: x + y, 1.0), 1.0) == 1.0


@pytest.mark.parametrize("outer", sorted(OPERATORS))
@pytest.mark.parametrize("inner", sorted(OPERATORS))
def test_classic_confusion_any_pairing(outer, inner):
    """d/dx [x * d/dy (x + y)] = d/dx [x] = 1 (a confused system says 2)."""
    D_outer, D_inner = OPERATORS[outer], OPERATORS[inner]
    assert D_outer(lambda x: x * D_inner(lambda y: x + y)(1.0))(1.0) == 1.0


@pytest.mark.parametrize("outer", sorted(OPERATORS))
@pytest.mark.parametrize("inner", sorted(OPERATORS))
def test_closed_over_variable_in_the_inner_derivative(outer, inner):
    """d/dx [x * d/dy (x y^2) at y = x] = d/dx [2 x^3] = 6 x^2."""
    D_outer, D_inner = OPERATORS[outer], OPERATORS[inner]
    result = D_outer(lambda x: x * D_inner(lambda y: x * y ** 2)(x))(1.5)
    assert result == pytest.approx(6 * 1.5 ** 2, rel=1e-14)


def test_nested_derivative_of_higher_order_closing_over_x():
    """d/dx [x * d^2/dy^2 (x y^3) at y = x] = d/dx [6 x^3] = 18 x^2."""
    value = ad.derivative(lambda x: x * ad.derivative(lambda y: x * y ** 3, x, order=2), 1.5)
    assert value == pytest.approx(18 * 1.5 ** 2, rel=1e-14)


# ----------------------------------------------------------------------------------------------
# vector transforms nested in each other
# ----------------------------------------------------------------------------------------------

X = np.array([0.3, -1.1, 0.8])
V = np.array([1.0, 2.0, -0.5])


def test_nested_jvp_inside_jacfwd():
    """g(x) = J_y[x * sin(y)](x) v = x cos(x) v; its Jacobian is diag((cos x - x sin x) v)."""
    jacobian = ad.jacfwd(lambda x: ad.jvp(lambda y: x * np.sin(y), x, V)[1])(X)
    np.testing.assert_allclose(jacobian, np.diag((np.cos(X) - X * np.sin(X)) * V), rtol=1e-14)


@pytest.mark.parametrize("outer", [ad.jacfwd, ad.jacrev])
@pytest.mark.parametrize("inner", [ad.jacfwd, ad.jacrev])
def test_jacobian_of_a_jacobian_closing_over_x(outer, inner):
    """J_y sin(x * y) at y = x is diag(x cos(x^2)); its derivative in x is a diagonal 3-tensor."""
    result = outer(lambda x: inner(lambda y: np.sin(x * y))(x))(X)
    expected = np.zeros((3, 3, 3))
    for i in range(3):
        expected[i, i, i] = np.cos(X[i] ** 2) - 2 * X[i] ** 2 * np.sin(X[i] ** 2)
    np.testing.assert_allclose(result, expected, rtol=1e-13, atol=1e-15)


def test_grad_inside_jvp():
    """d/dx [grad_y (x y^2) at y = x] = d/dx [2 x^2] = 4 x."""
    assert ad.jvp(lambda x: ad.grad(lambda y: x * y ** 2)(x), 1.5, 1.0)[1] == 6.0


def test_jvp_inside_grad():
    """grad_x [d/dy (x y^2) at y = x, direction 1] = grad_x [2 x^2] = 4 x."""
    assert ad.grad(lambda x: ad.jvp(lambda y: x * y ** 2, x, 1.0)[1])(1.5) == 6.0


def test_hvp_inside_grad_inside_jvp():
    """Three levels: f(x) = sum(x^4) has H v = 12 x^2 v; grad of <H v, v> is 24 x v^2."""
    def directional(t):
        x = X + t * V
        return ad.grad(lambda x: np.sum(ad.hvp(lambda z: np.sum(z ** 4), x, V) * V))(x)

    np.testing.assert_allclose(ad.jvp(directional, 0.0, 1.0)[1], 24 * V ** 3, rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# escaped tracers
# ----------------------------------------------------------------------------------------------

ESCAPED_MESSAGE = (
    r"a {kind} of {mode} level #\d+ was used after the transform that created it returned "
    r"\(it escaped through a closure, a generator or saved state\)"
)

_escaped_global = None


def _leak_through_closure(transform):
    box = []
    transform(lambda x: box.append(x) or x * 1.0)
    return box[0]


def _leak_through_generator(transform):
    generators = []

    def multiples(x):
        for k in range(3):
            yield x * k

    transform(lambda x: generators.append(multiples(x)) or x * 1.0)
    return generators[0]


def _leak_through_global(transform):
    def f(x):
        global _escaped_global
        _escaped_global = np.sin(x)
        return x * 1.0

    transform(f)
    return _escaped_global


TRANSFORMS = {
    "Dual": lambda f: ad.jvp(f, 1.0, 1.0),
    "Var": lambda f: ad.grad(f)(1.0),
}
MODES = {"Dual": "forward", "Var": "reverse"}


@pytest.mark.parametrize("kind", sorted(TRANSFORMS))
@pytest.mark.parametrize(
    "use",
    [
        lambda leaked: leaked * 2.0,
        lambda leaked: np.exp(leaked),
        lambda leaked: np.sum(leaked),
        lambda leaked: ad.grad(lambda y: leaked * y)(2.0),
        lambda leaked: ad.jvp(lambda y: y + leaked, 2.0, 1.0),
        lambda leaked: ad.jvp(lambda y: leaked, 2.0, 1.0),
    ],
    ids=["operator", "ufunc", "numpy function", "inside a new grad", "inside a new jvp",
         "returned from a new jvp"],
)
@pytest.mark.parametrize("leak", [_leak_through_closure, _leak_through_global])
def test_escaped_tracer_raises_naming_the_cause(kind, use, leak):
    leaked = leak(TRANSFORMS[kind])
    with pytest.raises(ad.EscapedTracerError, match=ESCAPED_MESSAGE.format(
            kind=kind, mode=MODES[kind])):
        use(leaked)


@pytest.mark.parametrize("op", [lambda a: a * 2.0, lambda a: 1.0 - a, lambda a: a + a,
                                lambda a: a ** 2])
def test_array_var_operators_go_to_their_level(op):
    """An operator on array Vars calls the Vars' level directly (what bind would pick): an
    escaped one still raises, no_grad still records nothing, a live one records."""
    leaked = []
    ad.grad(lambda x: (leaked.append(x), np.sum(x))[1])(np.ones(3))
    with pytest.raises(ad.EscapedTracerError, match=ESCAPED_MESSAGE.format(
            kind="Var", mode="reverse")):
        op(leaked[0])
    x = ad.Var(np.arange(3.0))
    with ad.no_grad():
        assert type(op(x)) is np.ndarray
    y = op(x)
    assert type(y) is ad.Var and not y.is_leaf
    np.testing.assert_array_equal(y.value, op(np.arange(3.0)))


@pytest.mark.parametrize("kind", sorted(TRANSFORMS))
def test_escaped_tracer_in_a_generator_raises_when_consumed(kind):
    generator = _leak_through_generator(TRANSFORMS[kind])
    with pytest.raises(ad.EscapedTracerError, match=ESCAPED_MESSAGE.format(
            kind=kind, mode=MODES[kind])):
        list(generator)


@pytest.mark.parametrize("kind", sorted(TRANSFORMS))
def test_stop_gradient_keeps_an_escaped_value_on_purpose(kind):
    leaked = _leak_through_closure(TRANSFORMS[kind])
    assert ad.stop_gradient(leaked) == 1.0
    assert ad.grad(lambda y: ad.stop_gradient(leaked) * y)(2.0) == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: ad.grad(lambda x: lambda y: x * y)(1.0),
        lambda: ad.jvp(lambda x: (x, lambda y: x * y), 1.0, 1.0),
        lambda: ad.vjp(lambda x: {"f": lambda: x}, 1.0),
        lambda: ad.jacfwd(lambda x: [x, np.sin])(np.ones(2)),
    ],
    ids=["grad", "jvp in a tuple", "vjp in a dict", "jacfwd in a list"],
)
def test_returning_a_callable_from_a_transform_is_refused(call):
    with pytest.raises(TypeError, match="the function returned a callable from inside a "
                                        "transform"):
        call()


# ----------------------------------------------------------------------------------------------
# derivatives up to order 6 of nested compositions against SymPy
# ----------------------------------------------------------------------------------------------

t = sp.Symbol("t")

COMPOSITIONS = [
    (lambda x: np.sin(np.exp(x)), sp.sin(sp.exp(t))),
    (lambda x: np.log1p(x ** 2) * np.cos(x), sp.log(1 + t ** 2) * sp.cos(t)),
    (lambda x: np.tanh(np.sin(x)) ** 2, sp.tanh(sp.sin(t)) ** 2),
    (lambda x: np.exp(-x ** 2 / 2) * x ** 3, sp.exp(-t ** 2 / 2) * t ** 3),
    (lambda x: np.sqrt(1 + x ** 2) / (2 + np.sin(x)), sp.sqrt(1 + t ** 2) / (2 + sp.sin(t))),
    (lambda x: np.arctan(x ** 3) - np.cosh(x / 3), sp.atan(t ** 3) - sp.cosh(t / 3)),
    (lambda x: x ** x, t ** t),
    (lambda x: ad.sigmoid(np.log(x) * 2.0), 1 / (1 + sp.exp(-2 * sp.log(t)))),
]


@pytest.mark.parametrize("order", range(7))
@pytest.mark.parametrize("index", range(len(COMPOSITIONS)))
def test_derivative_up_to_order_6_matches_sympy(index, order):
    f, expression = COMPOSITIONS[index]
    x = 0.7
    exact = float(sp.diff(expression, t, order).subs(t, x).evalf(30))
    assert ad.derivative(f, x, order=order) == pytest.approx(exact, rel=1e-11, abs=1e-11)
