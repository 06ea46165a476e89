"""Custom primitives (``ad.custom``): declared once, they work in every mode and every nesting.

The running example is a numerically stable sigmoid block with the known derivative
sigma' = sigma (1 - sigma) (Goodfellow, Bengio and Courville, *Deep Learning*, 2016, sec. 3.10),
declared four ways: both rules, VJP only, JVP only (the missing rule is derived, so no mode is
blocked), and elementwise partials.
"""

import math

import numpy as np
import pytest

import autodiff as ad
from autodiff import custom
from autodiff.rules.primitive import REGISTRY


@pytest.fixture(autouse=True)
def leave_the_table_as_found():
    """Every primitive a test declares is unregistered afterwards."""
    before = set(REGISTRY)
    yield
    for name in set(REGISTRY) - before:
        custom.unregister(name)


def stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow: e^-|x| only (Goodfellow et al. 2016, sec. 4.1)."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def sigmoid_jvp(primals, tangents, out):
    return out * (1 - out) * tangents[0]


def sigmoid_vjp(cotangent, primals, out):
    return cotangent * out * (1 - out)


DECLARATIONS = {
    "both rules": lambda name: custom.primitive(
        name, stable_sigmoid, jvp=sigmoid_jvp, vjp=sigmoid_vjp
    ),
    "vjp only": lambda name: custom.primitive(name, stable_sigmoid, vjp=sigmoid_vjp),
    "jvp only": lambda name: custom.primitive(name, stable_sigmoid, jvp=sigmoid_jvp),
    "vectorized rules": lambda name: custom.primitive(
        name, stable_sigmoid, jvp=sigmoid_jvp, vjp=sigmoid_vjp, vectorized=True
    ),
    "elementwise partials": lambda name: custom.elementwise(
        name, stable_sigmoid, partials=[lambda x, y: y * (1 - y)]
    ),
}


@pytest.fixture(params=sorted(DECLARATIONS))
def sigmoid(request):
    return DECLARATIONS[request.param]("test_sigmoid")


def s(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))


def ds(x):
    return s(x) * (1 - s(x))


def d2s(x):
    return ds(x) * (1 - 2 * s(x))


def d3s(x):
    return ds(x) * (1 - 6 * s(x) + 6 * s(x) ** 2)


X = np.array([-3.0, -0.5, 0.25, 2.0])
V = np.array([0.5, -1.0, 2.0, 0.75])


def loss(sig):
    return lambda x: np.sum(sig(x) ** 2)


def loss_gradient(x):
    return 2 * s(x) * ds(x)


def loss_hessian_diagonal(x):
    return 2 * ds(x) ** 2 + 2 * s(x) * d2s(x)


@pytest.mark.parametrize(
    "transform, reference",
    [
        ("jvp", lambda: ds(X) * V),
        ("grad", lambda: loss_gradient(X)),
        ("grad(grad)", lambda: d2s(0.7)),
        ("hvp", lambda: loss_hessian_diagonal(X) * V),
        ("jacfwd", lambda: np.diag(ds(X))),
        ("jacrev", lambda: np.diag(ds(X))),
        ("hessian", lambda: np.diag(loss_hessian_diagonal(X))),
        ("jacfwd(grad)", lambda: np.diag(loss_hessian_diagonal(X))),
        ("derivative order 3", lambda: d3s(0.7)),
        ("grad of jvp", lambda: d2s(0.7)),
    ],
)
def test_custom_sigmoid_in_every_transform(sigmoid, transform, reference):
    compute = {
        "jvp": lambda: ad.jvp(sigmoid, X, V)[1],
        "grad": lambda: ad.grad(loss(sigmoid))(X),
        "grad(grad)": lambda: ad.grad(ad.grad(sigmoid))(0.7),
        "hvp": lambda: ad.hvp(loss(sigmoid), X, V),
        "jacfwd": lambda: ad.jacfwd(sigmoid)(X),
        "jacrev": lambda: ad.jacrev(sigmoid)(X),
        "hessian": lambda: ad.hessian(loss(sigmoid))(X),
        "jacfwd(grad)": lambda: ad.jacfwd(ad.grad(loss(sigmoid)))(X),
        "derivative order 3": lambda: ad.derivative(sigmoid, 0.7, order=3),
        "grad of jvp": lambda: ad.grad(lambda x: ad.jvp(sigmoid, x, 1.0)[1])(0.7),
    }[transform]
    np.testing.assert_allclose(compute(), reference(), rtol=1e-12, atol=1e-15)


def test_custom_sigmoid_passes_check_grads(sigmoid):
    ad.testing.check_grads(sigmoid, X, order=2)
    ad.testing.check_grads(loss(sigmoid), X, order=2)


@pytest.mark.parametrize("x", [-800.0, 800.0])
def test_custom_sigmoid_is_stable_far_out(sigmoid, x):
    value, slope = ad.jvp(sigmoid, x, 1.0)
    assert np.isfinite(value) and np.isfinite(slope)
    assert slope == pytest.approx(0.0, abs=1e-300)
    assert ad.grad(ad.grad(sigmoid))(x) == pytest.approx(0.0, abs=1e-300)


def test_custom_sigmoid_on_hand_built_dual_and_var(sigmoid):
    dual = sigmoid(ad.Dual(1.0, 1.0))
    assert float(dual.primal) == pytest.approx(0.7310585786300049)
    assert float(dual.tangent) == pytest.approx(0.19661193324148185)  # sigma'(1) = 0.20
    leaf = ad.Var(1.0)
    sigmoid(leaf).backward()
    assert float(leaf.grad) == pytest.approx(0.19661193324148185)


def test_custom_sigmoid_keeps_float32(sigmoid):
    x = X.astype(np.float32)
    assert ad.grad(loss(sigmoid))(x).dtype == np.float32
    assert ad.jvp(sigmoid, x, V.astype(np.float32))[1].dtype == np.float32
    assert ad.jacrev(sigmoid)(x).dtype == np.float32


# ----------------------------------------------------------------------------------------------
# a general, non-elementwise primitive with several inputs and a parameter
# ----------------------------------------------------------------------------------------------


def quadratic_form_jvp(primals, tangents, out, scale=1.0):
    """d(s x^T A x) = s (x^T dA x + dx^T A x + x^T A dx)."""
    a, x = primals
    ta, tx = tangents
    return scale * (x @ ta @ x + tx @ a @ x + x @ a @ tx)


def quadratic_form_vjp(g, primals, out, scale=1.0):
    a, x = primals
    return scale * g * np.outer(x, x), scale * g * (a @ x + a.T @ x)


QUADRATIC_DECLARATIONS = {
    "both": dict(jvp=quadratic_form_jvp, vjp=quadratic_form_vjp),
    "jvp only": dict(jvp=quadratic_form_jvp),
    "vjp only": dict(vjp=quadratic_form_vjp),
}

A = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -0.7], [1.1, 0.2, 0.9]])
XQ = np.array([0.4, -1.2, 0.8])


@pytest.fixture(params=sorted(QUADRATIC_DECLARATIONS))
def quadratic_form(request):
    return custom.primitive(
        "test_quadratic_form",
        lambda a, x, scale=1.0: scale * (x @ a @ x),
        **QUADRATIC_DECLARATIONS[request.param],
    )


def reference_quadratic_form(a, x):
    return 3.0 * (x @ a @ x)


@pytest.mark.parametrize(
    "transform",
    [
        lambda f: ad.grad(f, argnums=(0, 1))(A, XQ),
        lambda f: ad.jacfwd(f, argnums=(0, 1))(A, XQ),
        lambda f: ad.hessian(f, argnums=1)(A, XQ),
        lambda f: ad.jacrev(ad.grad(f, argnums=1), argnums=0)(A, XQ),
        lambda f: ad.hvp(f, (A, XQ), (np.ones((3, 3)), np.array([1.0, 0.0, -1.0]))),
    ],
    ids=["grad", "jacfwd", "hessian", "jacrev(grad)", "hvp"],
)
def test_multi_input_primitive_with_params_matches_composite(quadratic_form, transform):
    declared = transform(lambda a, x: quadratic_form(a, x, scale=3.0))
    composite = transform(reference_quadratic_form)
    for got, want in zip(ad.pytree.flatten(declared)[0], ad.pytree.flatten(composite)[0]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_multi_input_primitive_passes_check_grads(quadratic_form):
    ad.testing.check_grads(lambda a, x: quadratic_form(a, x, scale=3.0), (A, XQ), order=2)


def test_decorator_form_and_params_by_keyword():
    @custom.primitive(
        "test_scale",
        jvp=lambda primals, tangents, out, factor: factor * tangents[0],
        vjp=lambda g, primals, out, factor: factor * g,
        vectorized=True,
    )
    def scale(x, *, factor):
        return factor * x

    assert isinstance(scale, custom.CustomPrimitive)
    assert ad.grad(lambda x: np.sum(scale(x, factor=4.0)))(np.ones(2)).tolist() == [4.0, 4.0]
    np.testing.assert_array_equal(ad.jacfwd(lambda x: scale(x, factor=-2.0))(np.ones(3)),
                                  -2.0 * np.eye(3))


def test_constant_inputs_get_zero_tangents_or_none():
    seen = []

    def record(primals, tangents, out):
        seen.append([None if t is None else float(t) for t in tangents])
        return sum(t for t in tangents if t is not None)

    for materialize in (True, False):
        prim = custom.primitive(
            f"test_add_{materialize}", lambda a, b: a + b, jvp=record,
            materialize_zeros=materialize,
        )
        assert ad.jvp(lambda a: prim(a, 5.0), 1.0, 1.0)[1] == 1.0
    assert seen == [[1.0, 0.0], [1.0, None]]


def test_zero_derivative_elementwise_gives_symbolic_zero():
    step = custom.elementwise("test_step", lambda x: np.floor(x), partials=[], arity=1)
    assert ad.derivative(step, 1.5) == 0.0
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(step(x) * x))(X), np.floor(X))


def test_elementwise_binary_broadcasts_in_both_modes():
    mul_add = custom.elementwise(
        "test_mul_add", lambda a, b: a * b + a,
        partials=[lambda a, b, y: b + 1, lambda a, b, y: a],
    )
    a, b = np.array([[1.0], [2.0]]), np.array([0.5, -1.0, 3.0])
    ad.testing.check_grads(mul_add, (a, b), order=2)
    grads = ad.grad(lambda a, b: np.sum(mul_add(a, b)), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(grads[0], np.sum(b + 1) * np.ones((2, 1)))
    np.testing.assert_allclose(grads[1], np.full(3, 3.0))


def test_rule_outside_primitives_fails_loudly_when_nested():
    bad = custom.primitive(
        "test_math_exp",
        np.exp,
        jvp=lambda primals, tangents, out: math.exp(primals[0]) * tangents[0],
    )
    assert ad.derivative(bad, 0.0) == 1.0  # first order: the rule sees plain floats
    with pytest.raises(TypeError, match="float\\(\\) of a traced Dual would silently drop"):
        ad.derivative(bad, 0.0, order=2)


def test_replace_and_unregister():
    first = custom.primitive("test_replaceable", np.sin, jvp=sigmoid_jvp)
    with pytest.raises(ValueError, match="custom primitive named 'test_replaceable' is already"):
        custom.primitive("test_replaceable", np.cos, jvp=sigmoid_jvp)
    second = custom.primitive(
        "test_replaceable", np.cos, jvp=lambda p, t, out: -np.sin(p[0]) * t[0], replace=True
    )
    assert REGISTRY["test_replaceable"] is second and second is not first
    assert ad.derivative(second, 0.5) == pytest.approx(-math.sin(0.5))
    with pytest.raises(ValueError, match="it was already replaced by a newer declaration"):
        custom.unregister(first)
    custom.unregister(second)
    assert "test_replaceable" not in REGISTRY
    with pytest.raises(ValueError, match="no primitive of that name is registered"):
        custom.unregister("test_replaceable")
    with pytest.raises(ValueError, match="cannot unregister 'sin': it is a built-in primitive"):
        custom.unregister("sin")


def _valid_jvp(primals, tangents, out):
    return tangents[0]


@pytest.mark.parametrize(
    "declare, error, message",
    [
        (lambda: custom.primitive("", np.sin, jvp=_valid_jvp), TypeError,
         "name must be a non-empty string"),
        (lambda: custom.primitive("sin", np.sin, jvp=_valid_jvp), ValueError,
         "a built-in primitive named 'sin' already exists"),
        (lambda: custom.primitive("test_bad", 3.0, jvp=_valid_jvp), TypeError,
         "impl of primitive 'test_bad' must be callable"),
        (lambda: custom.primitive("test_bad", np.sin), TypeError,
         "needs a jvp rule, a vjp rule, or both"),
        (lambda: custom.primitive("test_bad", np.sin, jvp="cos"), TypeError,
         "the jvp rule of primitive 'test_bad' must be callable"),
        (lambda: custom.primitive("test_bad", np.sin, jvp=lambda t: t), TypeError,
         r"the jvp rule of primitive 'test_bad' must accept \(primals, tangents, out"),
        (lambda: custom.primitive("test_bad", np.sin, vjp=lambda g, x: g), TypeError,
         r"the vjp rule of primitive 'test_bad' must accept \(cotangent, primals, out"),
        (lambda: custom.elementwise("test_bad", np.add, partials=[_valid_jvp], arity=2),
         ValueError, "has 2 input\\(s\\) but 1 partial\\(s\\)"),
        (lambda: custom.elementwise("test_bad", lambda a, b: a + b, partials=[_valid_jvp]),
         TypeError, "impl of primitive 'test_bad' must accept 1 input"),
        (lambda: custom.elementwise("test_bad", np.sin, partials=[lambda x: x]), TypeError,
         r"partials\[0\] of primitive 'test_bad' must accept \(x0, out\)"),
        (lambda: custom.elementwise("test_bad", np.sin, partials=[]), ValueError,
         "needs arity"),
        (lambda: custom.elementwise("test_bad", np.sin, partials=np.cos), TypeError,
         "must be a list of functions"),
        (lambda: custom.elementwise("test_bad", np.sin, partials=["cos"]), TypeError,
         r"partials\[0\] of primitive 'test_bad' must be callable"),
    ],
)
def test_invalid_declarations_are_refused(declare, error, message):
    with pytest.raises(error, match=message):
        declare()
    assert "test_bad" not in REGISTRY


@pytest.mark.parametrize(
    "rules, call, message",
    [
        (dict(jvp=lambda p, t, out: np.sum(t[0])), lambda f: ad.jvp(f, X, V),
         r"jvp rule of primitive 'test_shapes' returned a tangent of shape \(\); the "
         r"output's tangent must have shape \(4,\)"),
        (dict(vjp=lambda g, p, out: np.sum(g)), lambda f: ad.grad(lambda x: np.sum(f(x)))(X),
         r"vjp rule of primitive 'test_shapes' returned a cotangent of shape \(\) for input 0, "
         r"which needs shape \(4,\)"),
        (dict(vjp=lambda g, p, out: (g, g)), lambda f: ad.grad(lambda x: np.sum(f(x)))(X),
         "must return one cotangent per input \\(1, None for a zero\\)"),
    ],
)
def test_rules_returning_wrong_shapes_are_named(rules, call, message):
    prim = custom.primitive("test_shapes", np.sin, **rules)
    with pytest.raises(ValueError, match=message):
        call(prim)


def test_wrong_number_of_inputs_is_named():
    prim = custom.primitive("test_arity", lambda a, b, k=1: a * b * k, jvp=_valid_jvp)
    with pytest.raises(TypeError, match="'test_arity' takes 2 array input\\(s\\), got 3"):
        prim(1.0, 2.0, 3.0)
    step = custom.elementwise("test_arity_ew", np.floor, partials=[], arity=1)
    with pytest.raises(TypeError, match="'test_arity_ew' takes 1 input\\(s\\), got 2"):
        step(1.0, 2.0)


@pytest.mark.parametrize(
    "impl, message",
    [
        (lambda x: (x, 2 * x), "returned a tuple; a primitive has one output"),
        (lambda x: np.floor(x).astype(int), "returned dtype int64; its output must be floating"),
    ],
    ids=["two outputs", "integer output"],
)
def test_impl_must_return_one_floating_output(impl, message):
    prim = custom.primitive("test_outputs", impl, jvp=_valid_jvp)
    with pytest.raises(TypeError, match=f"impl of primitive 'test_outputs' {message}"):
        prim(np.ones(2))
